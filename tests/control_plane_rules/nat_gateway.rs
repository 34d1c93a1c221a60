//! NAT gateway operations: DNAT and SNAT entries, the default route, DNAT versus EIP.

use super::*;
use crate::eip::many_eips;

// =====================================================================================
// DNAT entries
// =====================================================================================

#[test]
fn forward_entry_external_ip_port_protocol_unique() {
    let mut c = cloud(NGW);
    ok(
        &mut c,
        dnat("ngw", "47.96.100.1", "80", "192.168.1.10", "80"),
    );
    let m = refused(
        &mut c,
        dnat("ngw", "47.96.100.1", "80", "192.168.1.20", "80"),
        "Forbidden.ForwardEntryExternalPortUsed",
    );
    mentions(&m, "unique");
    ok(
        &mut c,
        dnat("ngw", "47.96.100.1", "81", "192.168.1.20", "80"),
    );
}

#[test]
fn forward_entry_protocol_internal_ip_port_unique() {
    let mut c = cloud(NGW);
    ok(
        &mut c,
        dnat("ngw", "47.96.100.1", "80", "192.168.1.10", "80"),
    );
    let m = refused(
        &mut c,
        dnat("ngw", "47.96.100.1", "8080", "192.168.1.10", "80"),
        "Forbidden.ForwardEntryInternalPortUsed",
    );
    mentions(&m, "unique");
    ok(
        &mut c,
        dnat("ngw", "47.96.100.1", "8080", "192.168.1.10", "8080"),
    );
}

#[test]
fn forward_entry_internal_ip_inside_vpc_cidr() {
    let mut c = cloud(NGW);
    let m = refused(
        &mut c,
        dnat("ngw", "47.96.100.1", "80", "10.0.1.10", "80"),
        "Forbidden.InternalIpOutOfVpcCIDR",
    );
    mentions(&m, "192.168.0.0/16");
    ok(
        &mut c,
        dnat("ngw", "47.96.100.1", "80", "192.168.1.10", "80"),
    );
}

#[test]
fn forward_entry_external_ip_must_be_eip_of_the_gateway() {
    let mut c = cloud(&format!("{NGW}{EIP_X}"));
    let m = refused(
        &mut c,
        dnat("ngw", "47.96.200.1", "80", "192.168.1.10", "80"),
        "InvalidIp.NotInNatgw",
    );
    mentions(&m, "associate");
    ok(&mut c, associate("eip-x", "ngw", EipTarget::Nat));
    ok(
        &mut c,
        dnat("ngw", "47.96.200.1", "80", "192.168.1.10", "80"),
    );
}

// =====================================================================================
// SNAT entries
// =====================================================================================

#[test]
fn snat_source_vswitch_and_source_cidr_are_exclusive() {
    let mut c = cloud(NGW);
    let both = Operation::CreateSnatEntry {
        snat_table_id: "ngw".into(),
        source_vswitch_id: Some("vsw-h".into()),
        source_cidr: Some("192.168.1.0/24".parse().unwrap()),
        network_interface_id: None,
        snat_ip: "47.96.100.1".into(),
        eip_affinity: false,
        snat_entry_id: None,
    };
    let m = refused(&mut c, both, "INVALID_PARAMETER");
    mentions(&m, "exactly one");
    ok(&mut c, snat_vsw("ngw", "vsw-h", "47.96.100.1"));
}

#[test]
fn snat_vswitch_in_at_most_one_entry() {
    let mut c = cloud(NGW);
    ok(&mut c, snat_vsw("ngw", "vsw-h", "47.96.100.1"));
    let m = refused(
        &mut c,
        snat_vsw("ngw", "vsw-h", "47.96.100.1"),
        "Forbidden.SourceVSwitchId.Duplicated",
    );
    mentions(&m, "at most one entry");
    ok(&mut c, snat_vsw("ngw", "vsw-h2", "47.96.100.1"));
}

#[test]
fn snat_ecs_ip_in_at_most_one_entry() {
    let mut c = cloud(NGW);
    ok(&mut c, snat_cidr("ngw", "192.168.1.10/32", "47.96.100.1"));
    let m = refused(
        &mut c,
        snat_cidr("ngw", "192.168.1.10/32", "47.96.100.1"),
        "OperationUnsupported.CidrConflict",
    );
    mentions(&m, "at most one entry");
    ok(&mut c, snat_cidr("ngw", "192.168.1.20/32", "47.96.100.1"));
}

#[test]
fn snat_refuses_41st_entry_per_gateway() {
    let mut c = cloud(NGW);
    for i in 0..40 {
        ok(
            &mut c,
            snat_cidr("ngw", &format!("172.16.{i}.0/24"), "47.96.100.1"),
        );
    }
    let m = refused(
        &mut c,
        snat_cidr("ngw", "172.16.40.0/24", "47.96.100.1"),
        "Forbidden.SnatEntryCountLimited",
    );
    mentions(&m, "40");
    let first = c.nat_gateways["ngw"].snat_entries[0].id.clone();
    ok(
        &mut c,
        Operation::DeleteSnatEntry {
            snat_table_id: "ngw".into(),
            snat_entry_id: first,
        },
    );
    ok(&mut c, snat_cidr("ngw", "172.16.40.0/24", "47.96.100.1"));
}

#[test]
fn snat_refuses_65th_eip_per_entry() {
    // 64 EIPs per entry is above the 20 EIPs a gateway takes, so this gateway's EIP quota
    // is raised to let one entry actually name 64 of them.
    let mut c = cloud(&format!(
        "[quotas]\neips_per_nat_gateway = 65\npay_by_traffic_eips_per_nat_gateway = 65\n\n[[nat_gateways]]\nid = \"ngw\"\nvpc = \"vpc-a\"\nvswitch = \"vsw-h\"\n{}",
        many_eips("e", 65, 1, "PayByBandwidth")
    ));
    for i in 1..=65 {
        ok(&mut c, associate(&format!("e{i}"), "ngw", EipTarget::Nat));
    }
    let list = |n: usize| {
        (1..=n)
            .map(|i| format!("47.97.1.{i}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let m = refused(
        &mut c,
        snat_cidr("ngw", "192.168.1.0/24", &list(65)),
        "SNAT_IP_POOL_COUNT_TOO_MANY",
    );
    mentions(&m, "64");
    ok(&mut c, snat_cidr("ngw", "192.168.1.0/24", &list(64)));
    assert_eq!(c.nat_gateways["ngw"].snat_entries[0].snat_ips.len(), 64);
}

#[test]
fn snat_ip_must_be_eip_of_the_gateway() {
    let mut c = cloud(&format!("{NGW}{EIP_X}"));
    refused(
        &mut c,
        snat_vsw("ngw", "vsw-h", "47.96.200.1"),
        "InvalidSnatIp.NotFound",
    );
    ok(&mut c, snat_vsw("ngw", "vsw-h", "47.96.100.1"));
}

// =====================================================================================
// First NAT gateway and the default route
// =====================================================================================

fn ip_mapping(gw: &str, ext: &str, int: &str) -> Operation {
    Operation::CreateForwardEntry {
        forward_table_id: gw.into(),
        external_ip: ext.parse().unwrap(),
        external_port: "Any".into(),
        internal_ip: int.parse().unwrap(),
        internal_port: "Any".into(),
        ip_protocol: ForwardProtocol::Any,
        forward_entry_id: None,
    }
}

/// [decision] SEMANTICS.md §4: an EIP used for IP mapping is not also a SNAT IP (both
/// directions refused); port mapping may share it.
#[test]
fn snat_ip_used_by_ip_mapping_dnat_refused() {
    let mut c = cloud(&format!("{NGW}{EIP_X}"));
    ok(&mut c, associate("eip-x", "ngw", EipTarget::Nat));
    ok(&mut c, ip_mapping("ngw", "47.96.200.1", "192.168.1.20"));
    let m = refused(
        &mut c,
        snat_vsw("ngw", "vsw-h", "47.96.200.1"),
        "Forbidden.IpUsedInForwardTable",
    );
    mentions(&m, "IP-mapping");
    ok(&mut c, snat_vsw("ngw", "vsw-h", "47.96.100.1"));
    // Port mapping shares an EIP with SNAT.
    ok(
        &mut c,
        dnat("ngw", "47.96.100.1", "8022", "192.168.1.10", "22"),
    );
}

#[test]
fn ip_mapping_dnat_refused_on_snat_ip() {
    let mut c = cloud(&format!("{NGW}{EIP_X}"));
    ok(&mut c, associate("eip-x", "ngw", EipTarget::Nat));
    ok(&mut c, snat_vsw("ngw", "vsw-h", "47.96.100.1"));
    let m = refused(
        &mut c,
        ip_mapping("ngw", "47.96.100.1", "192.168.1.20"),
        "Forbidden.ExternalIp.UsedInSnatTable",
    );
    mentions(&m, "SNAT entry");
    ok(&mut c, ip_mapping("ngw", "47.96.200.1", "192.168.1.20"));
}

fn create_ngw(id: &str) -> Operation {
    Operation::CreateNatGateway {
        vpc_id: "vpc-a".into(),
        vswitch_id: "vsw-h".into(),
        nat_gateway_id: Some(id.into()),
        legacy_bandwidth_plan: false,
    }
}

fn default_route(c: &Cloud) -> Option<NextHop> {
    let zero: ipnet::Ipv4Net = "0.0.0.0/0".parse().unwrap();
    c.route_tables["vtb-vpc-a"]
        .entries
        .iter()
        .find(|e| e.destination == zero)
        .map(|e| e.next_hop.clone())
}

#[test]
fn first_nat_gateway_adds_default_route_unless_one_exists() {
    // No 0.0.0.0/0 yet: the first gateway adds one to itself; a second does not replace it.
    let mut c = cloud("");
    assert_eq!(default_route(&c), None);
    ok(&mut c, create_ngw("ngw-1"));
    assert_eq!(default_route(&c), Some(NextHop::NatGateway("ngw-1".into())));
    ok(&mut c, create_ngw("ngw-2"));
    assert_eq!(default_route(&c), Some(NextHop::NatGateway("ngw-1".into())));

    // A 0.0.0.0/0 route already there: the gateway leaves it alone.
    let mut c = cloud("");
    ok(
        &mut c,
        Operation::CreateRouteEntry {
            route_table_id: "vtb-vpc-a".into(),
            destination_cidr_block: "0.0.0.0/0".parse().unwrap(),
            next_hop_type: "Instance".into(),
            next_hop_id: "i-1".into(),
            route_entry_id: None,
        },
    );
    ok(&mut c, create_ngw("ngw-1"));
    assert_eq!(default_route(&c), Some(NextHop::Instance("i-1".into())));
}

#[test]
fn dnat_and_eip_can_coexist_through_another_private_ip() {
    // The "both exist anyway" path of SEMANTICS.md §2: a DNAT entry to a secondary private
    // IP of an instance that has an EIP is accepted (which address wins for the
    // instance's Internet traffic is a data-plane rule).
    let mut c = cloud(&format!("{NGW}{EIP_X}"));
    ok(
        &mut c,
        Operation::AssignPrivateIpAddresses {
            network_interface_id: "i-1-eth0".into(),
            private_ip_address: vec!["192.168.1.11".parse().unwrap()],
            secondary_private_ip_address_count: None,
        },
    );
    ok(&mut c, associate("eip-x", "i-1", EipTarget::EcsInstance));
    refused(
        &mut c,
        dnat("ngw", "47.96.100.1", "2222", "192.168.1.10", "22"),
        "Forbindden",
    );
    ok(
        &mut c,
        dnat("ngw", "47.96.100.1", "2222", "192.168.1.11", "22"),
    );
}
