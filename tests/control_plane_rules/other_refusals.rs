//! Every other refusal, its code and the "own code" note; docs/RULES.md kept in step.

use super::*;

// =====================================================================================
// Every other refusal: its code, and whether the message says the code is vpcsim's own
// =====================================================================================

/// One refusal: the state it starts from (steps on the shared topology), the call, the
/// code, and whether the code is vpcsim's own (SEMANTICS.md §4 has none for it).
struct Case {
    name: &'static str,
    steps: Vec<Operation>,
    op: Operation,
    code: &'static str,
    own: bool,
}

fn route(dest: &str, hop_type: &str, hop: &str) -> Operation {
    Operation::CreateRouteEntry {
        route_table_id: "vtb-vpc-a".into(),
        destination_cidr_block: dest.parse().unwrap(),
        next_hop_type: hop_type.into(),
        next_hop_id: hop.into(),
        route_entry_id: None,
    }
}

fn rule(sg: &str, f: impl FnOnce(&mut vpcsim::model::ops::RulePermission)) -> Operation {
    let Operation::AuthorizeSecurityGroup(mut p) =
        ingress_rule(sg, Peer::Cidr("10.0.0.0/8"), "22/22", None)
    else {
        unreachable!()
    };
    f(&mut p);
    Operation::AuthorizeSecurityGroup(p)
}

fn other_refusals() -> Vec<Case> {
    let snat_eni = |eni: &str| Operation::CreateSnatEntry {
        snat_table_id: "ngw".into(),
        source_vswitch_id: None,
        source_cidr: None,
        network_interface_id: Some(eni.into()),
        snat_ip: "47.96.100.1".into(),
        eip_affinity: false,
        snat_entry_id: None,
    };
    let dnat_any_ports = Operation::CreateForwardEntry {
        forward_table_id: "ngw".into(),
        external_ip: "47.96.100.1".parse().unwrap(),
        external_port: "Any".into(),
        internal_ip: "192.168.1.10".parse().unwrap(),
        internal_port: "Any".into(),
        ip_protocol: ForwardProtocol::Tcp,
        forward_entry_id: None,
    };
    let revoke = |sg: &str| {
        let Operation::AuthorizeSecurityGroup(p) =
            ingress_rule(sg, Peer::Cidr("10.0.0.0/8"), "22/22", None)
        else {
            unreachable!()
        };
        Operation::RevokeSecurityGroup(p)
    };
    vec![
        // ----- ENI -----
        Case {
            name: "assign: private IP outside the VSwitch",
            steps: vec![],
            op: Operation::AssignPrivateIpAddresses {
                network_interface_id: "i-1-eth0".into(),
                private_ip_address: vec!["192.168.2.9".parse().unwrap()],
                secondary_private_ip_address_count: None,
            },
            code: "InvalidVSwitchId.IpInvalid",
            own: false,
        },
        Case {
            name: "delete: an ENI with an EIP bound",
            steps: vec![
                create_eni("eni-d", "vsw-h", "sg-a"),
                associate_eni("eip-x", "eni-d", EniMode::Nat, None),
            ],
            op: delete_eni("eni-d"),
            code: "InvalidOperation.EipBound",
            own: true,
        },
        Case {
            name: "create: an id already in use (vpcsim's ids)",
            steps: vec![],
            op: create_eni("i-1-eth0", "vsw-h", "sg-a"),
            code: "InvalidParameter.IdInUse",
            own: true,
        },
        // ----- EIP -----
        Case {
            name: "convert: no static public IP",
            steps: vec![],
            op: convert("i-1"),
            code: "InvalidInstance.NoPublicIp",
            own: true,
        },
        Case {
            name: "allocate: an address already allocated",
            steps: vec![],
            op: Operation::AllocateEipAddress {
                internet_charge_type: None,
                resource_group_id: None,
                ip_address: Some("47.96.200.1".parse().unwrap()),
                allocation_id: None,
            },
            code: "InvalidIpAddress.AlreadyAllocated",
            own: true,
        },
        Case {
            name: "unassociate: the EIP is not bound",
            steps: vec![],
            op: unassociate("eip-x", "i-1"),
            code: "IncorrectEipStatus",
            own: false,
        },
        Case {
            name: "unassociate: bound to another resource",
            steps: vec![associate("eip-x", "i-1", EipTarget::EcsInstance)],
            op: unassociate("eip-x", "i-2"),
            code: "InvalidAssociation.NotFound",
            own: true,
        },
        Case {
            name: "unassociate: NAT gateway EIP used by SNAT",
            steps: vec![snat_vsw("ngw", "vsw-h", "47.96.100.1")],
            op: unassociate("eip-ngw", "ngw"),
            code: "DependencyViolation.SnatEntry",
            own: true,
        },
        Case {
            name: "unassociate: NAT gateway EIP used by DNAT",
            steps: vec![dnat("ngw", "47.96.100.1", "80", "192.168.1.10", "80")],
            op: unassociate("eip-ngw", "ngw"),
            code: "DependencyViolation.ForwardEntry",
            own: true,
        },
        Case {
            name: "unassociate: cut-through EIP from an attached ENI",
            steps: vec![
                create_eni("eni-ct", "vsw-h", "sg-a"),
                associate_eni("eip-x", "eni-ct", EniMode::CutThrough, None),
                attach("eni-ct", "i-1"),
            ],
            op: unassociate("eip-x", "eni-ct"),
            code: "Eni.Attached",
            own: true,
        },
        // ----- NAT gateway -----
        Case {
            name: "NAT gateway: VSwitch of another VPC",
            steps: vec![],
            op: Operation::CreateNatGateway {
                vpc_id: "vpc-a".into(),
                vswitch_id: "vsw-b".into(),
                nat_gateway_id: None,
                legacy_bandwidth_plan: false,
            },
            code: "InvalidVSwitchId.VpcMismatch",
            own: true,
        },
        Case {
            name: "SNAT: no source",
            steps: vec![],
            op: Operation::CreateSnatEntry {
                snat_table_id: "ngw".into(),
                source_vswitch_id: None,
                source_cidr: None,
                network_interface_id: None,
                snat_ip: "47.96.100.1".into(),
                eip_affinity: false,
                snat_entry_id: None,
            },
            code: "MissingParameter",
            own: false,
        },
        Case {
            name: "SNAT: empty SnatIp",
            steps: vec![],
            op: snat_vsw("ngw", "vsw-h", " "),
            code: "MissingParameter.SnatIp",
            own: true,
        },
        Case {
            name: "SNAT: SnatIp not an address",
            steps: vec![],
            op: snat_vsw("ngw", "vsw-h", "47.96.100.x"),
            code: "InvalidSnatIp.Malformed",
            own: false,
        },
        Case {
            name: "SNAT: SourceCIDR already in an entry",
            steps: vec![snat_cidr("ngw", "192.168.0.0/16", "47.96.100.1")],
            op: snat_cidr("ngw", "192.168.0.0/16", "47.96.100.1"),
            code: "OperationUnsupported.CidrConflict",
            own: false,
        },
        Case {
            name: "SNAT: ENI already in an entry",
            steps: vec![snat_eni("eni-s")],
            op: snat_eni("eni-s"),
            code: "Forbidden.SourceEniAlreadyUsed",
            own: true,
        },
        Case {
            name: "DNAT: malformed external port",
            steps: vec![],
            op: dnat("ngw", "47.96.100.1", "80x", "192.168.1.10", "80"),
            code: "InvalidExternalPort.Malformed",
            own: false,
        },
        Case {
            name: "DNAT: malformed internal port",
            steps: vec![],
            op: dnat("ngw", "47.96.100.1", "80", "192.168.1.10", "0"),
            code: "InvalidInternalPort.Malformed",
            own: false,
        },
        Case {
            name: "DNAT: port ranges of different lengths",
            steps: vec![],
            op: dnat("ngw", "47.96.100.1", "80/81", "192.168.1.10", "80/82"),
            code: "InvalidParameter.PortRangeMismatch",
            own: true,
        },
        Case {
            name: "DNAT: Any ports with TCP",
            steps: vec![],
            op: dnat_any_ports,
            code: "InvalidParameter.IpMapping",
            own: true,
        },
        // ----- routes -----
        Case {
            name: "route: destination already routed",
            steps: vec![route("10.9.0.0/16", "Instance", "i-1")],
            op: route("10.9.0.0/16", "Instance", "i-2"),
            code: "InvalidCidrBlock.Duplicate",
            own: true,
        },
        Case {
            name: "route: next hop in another VPC",
            steps: vec![],
            op: route("10.9.0.0/16", "Instance", "i-b"),
            code: "InvalidNextHop.VpcMismatch",
            own: true,
        },
        Case {
            name: "route: unknown next hop type",
            steps: vec![],
            op: route("10.9.0.0/16", "Router", "x"),
            code: "InvalidNextHopType",
            own: true,
        },
        Case {
            name: "route: delete a route that is not there",
            steps: vec![],
            op: Operation::DeleteRouteEntry {
                route_table_id: "vtb-vpc-a".into(),
                destination_cidr_block: "10.9.0.0/16".parse().unwrap(),
            },
            code: "InvalidRouteEntry.NotFound",
            own: true,
        },
        Case {
            name: "route: delete a VSwitch's system route",
            steps: vec![],
            op: Operation::DeleteRouteEntry {
                route_table_id: "vtb-vpc-a".into(),
                destination_cidr_block: "192.168.1.0/24".parse().unwrap(),
            },
            code: "OperationDenied.SystemRoute",
            own: true,
        },
        // ----- security groups -----
        Case {
            // DestCidrIp on ingress is a five-tuple rule (the local side); a group is not.
            name: "rule: ingress with a DestGroupId",
            steps: vec![],
            op: rule("sg-a", |p| p.dest_group_id = Some("sg-a2".into())),
            code: "InvalidParameter",
            own: true,
        },
        Case {
            name: "rule: both SourceCidrIp and SourceGroupId",
            steps: vec![],
            op: rule("sg-a", |p| p.source_group_id = Some("sg-a2".into())),
            code: "InvalidParameter",
            own: true,
        },
        Case {
            name: "rule: no peer",
            steps: vec![],
            op: rule("sg-a", |p| p.source_cidr_ip = None),
            code: "MissingParameter",
            own: false,
        },
        Case {
            name: "rule: unknown SourceGroupId",
            steps: vec![],
            op: rule("sg-a", |p| {
                p.source_cidr_ip = None;
                p.source_group_id = Some("sg-nope".into());
            }),
            code: "InvalidSourceGroupId.NotFound",
            own: false,
        },
        Case {
            name: "revoke: no such rule",
            steps: vec![],
            op: revoke("sg-a"),
            code: "InvalidSecurityGroupRule.NotFound",
            own: true,
        },
        Case {
            name: "join/leave: both InstanceId and NetworkInterfaceId",
            steps: vec![],
            op: Operation::JoinSecurityGroup {
                security_group_id: "sg-a2".into(),
                instance_id: Some("i-1".into()),
                network_interface_id: Some("i-1-eth0".into()),
            },
            code: "InvalidParameter",
            own: true,
        },
        Case {
            name: "join: already a member",
            steps: vec![],
            op: join("sg-a", "i-1"),
            code: "InvalidInstanceId.AlreadyExists",
            own: false,
        },
    ]
}

#[test]
fn every_other_refusal_has_its_code_and_own_codes_say_so() {
    for case in other_refusals() {
        let mut c = cloud(&format!("{NGW}{EIP_X}{TARGETS}"));
        for s in &case.steps {
            if let Err(e) = c.apply(s) {
                panic!("{}: setup step {} refused: {e}", case.name, s.name());
            }
        }
        let before = format!("{:?}", serde_json::to_value(&c).unwrap());
        let Err(e) = c.apply(&case.op) else {
            panic!(
                "{}: {} should be refused with {}",
                case.name,
                case.op.name(),
                case.code
            );
        };
        assert_eq!(e.code, case.code, "{}: {}", case.name, e.message);
        assert_eq!(
            e.is_own(),
            case.own,
            "{}: the message says whether the code is vpcsim's own: {}",
            case.name,
            e.message
        );
        let after = format!("{:?}", serde_json::to_value(&c).unwrap());
        assert_eq!(
            before, after,
            "{}: a refused call changes nothing",
            case.name
        );
    }
}

/// The codes SEMANTICS.md §4 publishes never carry the "vpcsim's own" note; the
/// refusals of the rule tests above that use them are checked here once more by code.
#[test]
fn published_codes_are_not_marked_as_vpcsims_own() {
    let mut c = cloud(&format!("{TARGETS}{EIP_X}"));
    ok(&mut c, associate("eip-x", "i-1", EipTarget::EcsInstance));
    let e = c
        .apply(&associate("eip-y", "i-1", EipTarget::EcsInstance))
        .unwrap_err();
    assert_eq!(e.code, "InvalidAssociation.Duplicated");
    assert!(!e.is_own(), "{}", e.message);
    let e = c
        .apply(&associate("eip-x", "i-2", EipTarget::EcsInstance))
        .unwrap_err();
    assert_eq!(e.code, "IncorrectEipStatus");
    assert!(!e.is_own(), "{}", e.message);
}

/// docs/RULES.md maps rule → code → test: every test it names exists in
/// tests/control_plane_rules/ or tests/scenario_errors.rs, and every test of
/// tests/control_plane_rules/ is named there.
#[test]
fn rules_md_names_every_rule_test_and_only_existing_ones() {
    let root = env!("CARGO_MANIFEST_DIR");
    let rules = std::fs::read_to_string(format!("{root}/docs/RULES.md")).unwrap();
    let mut here = String::new();
    for f in std::fs::read_dir(format!("{root}/tests/control_plane_rules")).unwrap() {
        here += &std::fs::read_to_string(f.unwrap().path()).unwrap();
    }
    // Scenario-file errors, and the refusals the black-box audit added.
    let mut scen = std::fs::read_to_string(format!("{root}/tests/scenario_errors.rs")).unwrap();
    for f in ["audit_control_plane.rs", "audit_inputs.rs"] {
        scen += &std::fs::read_to_string(format!("{root}/tests/{f}")).unwrap();
    }
    let tests_in = |src: &str| -> Vec<String> {
        src.split("#[test]\nfn ")
            .skip(1)
            .filter_map(|s| s.split('(').next().map(str::to_string))
            .collect()
    };
    let (mine, theirs) = (tests_in(&here), tests_in(&scen));
    let named: Vec<String> = rules
        .lines()
        .filter(|l| l.starts_with('|'))
        .filter_map(|l| {
            l.trim_end_matches('|')
                .rsplit('|')
                .next()
                .map(str::to_string)
        })
        .flat_map(|cell| {
            cell.split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    for n in &named {
        assert!(
            mine.contains(n) || theirs.contains(n),
            "docs/RULES.md names test `{n}`, which does not exist"
        );
    }
    for t in &mine {
        assert!(named.contains(t), "test `{t}` is not in docs/RULES.md");
    }
}
