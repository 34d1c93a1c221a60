//! Black-box checks of the control-plane refusals of SEMANTICS.md §2 and §4, through
//! `vpcsim validate --json` on scenario steps, as a user would write them.

mod audit_support;
use audit_support::*;

const BASE: &str = r#"
[scenario]
name = "audit-cp"

[[vpcs]]
id = "vpc-1"
cidr = "10.0.0.0/16"

[[vswitches]]
id = "vsw-a"
vpc = "vpc-1"
zone = "z-a"
cidr = "10.0.1.0/24"

[[vswitches]]
id = "vsw-b"
vpc = "vpc-1"
zone = "z-a"
cidr = "10.0.2.0/24"

[[security_groups]]
id = "sg-a"
vpc = "vpc-1"

[[security_groups]]
id = "sg-b"
vpc = "vpc-1"

[[instances]]
id = "i-a"
vswitch = "vsw-a"
private_ip = "10.0.1.10"
security_groups = ["sg-a"]

[[enis]]
id = "eni-1"
vswitch = "vsw-a"
primary_ip = "10.0.1.50"
security_groups = ["sg-a"]

[[nat_gateways]]
id = "ngw-1"
vpc = "vpc-1"
vswitch = "vsw-a"

[[eips]]
id = "e1"
address = "47.1.2.1"
bind = { type = "Nat", id = "ngw-1" }

[[eips]]
id = "e2"
address = "47.1.2.2"
bind = { type = "Nat", id = "ngw-1" }
"#;

/// The error code of each step (None = it succeeded), from `vpcsim validate --json`.
fn codes(name: &str, steps: &[&str]) -> Vec<Option<String>> {
    let dir = tmp(name);
    let mut toml = BASE.to_string();
    for s in steps {
        toml += &format!("\n[[steps]]\n{s}\n");
    }
    let f = scenario_file(&dir, "s.toml", &toml);
    let r = vpcsim(&["validate", &f, "--json"]);
    r.no_panic();
    let j = r.json();
    assert!(j.get("error").is_none(), "{j}");
    j["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["error_code"].as_str().map(str::to_string))
        .collect()
}

fn last(name: &str, steps: &[&str]) -> Option<String> {
    codes(name, steps).pop().unwrap()
}

#[test]
fn assign_private_ip_refuses_the_vswitch_reserved_addresses() {
    // §2/§4: a private IP must be usable inside the VSwitch (the first and the last
    // three addresses are the cloud's: .253 is the gateway every guest routes through).
    for ip in ["10.0.1.253", "10.0.1.0", "10.0.1.255"] {
        let step = format!(
            "op = \"AssignPrivateIpAddresses\"\nNetworkInterfaceId = \"eni-1\"\nPrivateIpAddress = [\"{ip}\"]"
        );
        assert_eq!(
            last("assign-reserved", &[&step]).as_deref(),
            Some("InvalidVSwitchId.IpInvalid"),
            "{ip}"
        );
    }
    // positive control
    assert_eq!(
        last(
            "assign-ok",
            &["op = \"AssignPrivateIpAddresses\"\nNetworkInterfaceId = \"eni-1\"\nPrivateIpAddress = [\"10.0.1.252\"]"]
        ),
        None
    );
}

#[test]
fn create_eni_refuses_a_reserved_primary_private_ip() {
    // §2 ENI create: the primary private IP must be free and inside the VSwitch; the
    // gateway .253 is never free.
    assert_eq!(
        last(
            "eni-reserved",
            &["op = \"CreateNetworkInterface\"\nVSwitchId = \"vsw-a\"\nSecurityGroupId = \"sg-a\"\nPrimaryIpAddress = \"10.0.1.253\""]
        )
        .as_deref(),
        Some("InvalidVSwitchId.IpInvalid")
    );
    assert_eq!(
        last(
            "eni-ok",
            &["op = \"CreateNetworkInterface\"\nVSwitchId = \"vsw-a\"\nSecurityGroupId = \"sg-a\"\nPrimaryIpAddress = \"10.0.1.1\""]
        ),
        None
    );
}

#[test]
fn snat_a_vswitch_is_in_at_most_one_entry_even_as_an_equal_source_cidr() {
    // §2 SNAT entries: a VSwitch or an ECS IP in at most one entry. A SourceCIDR equal
    // to a VSwitch entry's CIDR puts the VSwitch in two entries of the same prefix.
    let vsw = "op = \"CreateSnatEntry\"\nSnatTableId = \"ngw-1\"\nSourceVSwitchId = \"vsw-a\"\nSnatIp = \"47.1.2.1\"";
    let cidr = "op = \"CreateSnatEntry\"\nSnatTableId = \"ngw-1\"\nSourceCIDR = \"10.0.1.0/24\"\nSnatIp = \"47.1.2.2\"";
    assert_eq!(
        codes("snat-vsw-cidr", &[vsw, cidr]),
        vec![None, Some("OperationUnsupported.CidrConflict".into())]
    );
    assert_eq!(
        codes("snat-cidr-vsw", &[cidr, vsw]),
        vec![None, Some("OperationUnsupported.CidrConflict".into())]
    );
    // A VPC-wide entry beside a VSwitch entry is fine (longest prefix decides).
    let vpc = "op = \"CreateSnatEntry\"\nSnatTableId = \"ngw-1\"\nSourceCIDR = \"10.0.0.0/16\"\nSnatIp = \"47.1.2.2\"";
    assert_eq!(codes("snat-vsw-vpc", &[vsw, vpc]), vec![None, None]);
}

#[test]
fn snat_an_eni_ip_is_in_at_most_one_entry_across_eni_and_cidr_entries() {
    // §1/§2: NetworkInterfaceId covers the ENI's IPv4 addresses; an ECS IP is in at most
    // one entry, so a /32 of that address is refused (either order).
    let eni = "op = \"CreateSnatEntry\"\nSnatTableId = \"ngw-1\"\nNetworkInterfaceId = \"eni-1\"\nSnatIp = \"47.1.2.1\"";
    let host = "op = \"CreateSnatEntry\"\nSnatTableId = \"ngw-1\"\nSourceCIDR = \"10.0.1.50/32\"\nSnatIp = \"47.1.2.2\"";
    assert_eq!(
        codes("snat-eni-host", &[eni, host]),
        vec![None, Some("OperationUnsupported.CidrConflict".into())]
    );
    assert_eq!(
        codes("snat-host-eni", &[host, eni]),
        vec![None, Some("OperationUnsupported.CidrConflict".into())]
    );
}

#[test]
fn route_entry_cannot_lie_inside_a_vswitch_cidr_but_may_contain_one() {
    // CreateRouteEntry (VPC API reference): the destination cannot be the same as or a
    // subset of a VSwitch CIDR of the VPC; it can contain one. Nor 100.64.0.0/10.
    let route = |dest: &str| {
        format!(
            "op = \"CreateRouteEntry\"\nRouteTableId = \"vtb-vpc-1\"\nDestinationCidrBlock = \"{dest}\"\nNextHopType = \"Instance\"\nNextHopId = \"i-a\""
        )
    };
    let c = last("route-inside", &[&route("10.0.1.128/25")]);
    assert!(c.is_some(), "a route inside vsw-a was accepted");
    let c = last("route-host", &[&route("10.0.2.7/32")]);
    assert!(c.is_some(), "a /32 inside vsw-b was accepted");
    let c = last("route-shared", &[&route("100.64.1.0/24")]);
    assert!(c.is_some(), "a route inside 100.64.0.0/10 was accepted");
    assert_eq!(last("route-outside", &[&route("10.0.128.0/17")]), None);
    assert_eq!(last("route-contains", &[&route("10.0.0.0/22")]), None);
}

#[test]
fn published_codes_of_security_group_membership() {
    // §4 JoinSecurityGroup / LeaveSecurityGroup.
    let join = |g: &str| {
        format!("op = \"JoinSecurityGroup\"\nSecurityGroupId = \"{g}\"\nInstanceId = \"i-a\"")
    };
    let leave = |g: &str| {
        format!("op = \"LeaveSecurityGroup\"\nSecurityGroupId = \"{g}\"\nInstanceId = \"i-a\"")
    };
    assert_eq!(
        last("join-twice", &[&join("sg-a")]).as_deref(),
        Some("InvalidInstanceId.AlreadyExists")
    );
    assert_eq!(
        last("leave-last", &[&leave("sg-a")]).as_deref(),
        Some("InstanceLastSecurityGroup")
    );
    assert_eq!(
        last("leave-not-member", &[&leave("sg-b")]).as_deref(),
        Some("InvalidSecurityGroupAssociation.NotFound")
    );
    // Joining first makes leaving the old group possible (the documented swap).
    assert_eq!(
        codes("swap", &[&join("sg-b"), &leave("sg-a")]),
        vec![None, None]
    );
}

#[test]
fn published_codes_of_snat_and_ip_mapping_sharing_an_eip() {
    // §4 [decision]: IP mapping + SNAT on one EIP refused both ways; port mapping allowed.
    let snat = "op = \"CreateSnatEntry\"\nSnatTableId = \"ngw-1\"\nSourceCIDR = \"10.0.0.0/16\"\nSnatIp = \"47.1.2.1\"";
    let ipmap = "op = \"CreateForwardEntry\"\nForwardTableId = \"ngw-1\"\nExternalIp = \"47.1.2.1\"\nExternalPort = \"Any\"\nInternalIp = \"10.0.1.10\"\nInternalPort = \"Any\"\nIpProtocol = \"Any\"";
    let portmap = "op = \"CreateForwardEntry\"\nForwardTableId = \"ngw-1\"\nExternalIp = \"47.1.2.1\"\nExternalPort = \"80\"\nInternalIp = \"10.0.1.10\"\nInternalPort = \"80\"\nIpProtocol = \"TCP\"";
    assert_eq!(
        codes("snat-then-ipmap", &[snat, ipmap]),
        vec![None, Some("Forbidden.ExternalIp.UsedInSnatTable".into())]
    );
    assert_eq!(
        codes("ipmap-then-snat", &[ipmap, snat]),
        vec![None, Some("Forbidden.IpUsedInForwardTable".into())]
    );
    assert_eq!(
        codes("snat-then-portmap", &[snat, portmap]),
        vec![None, None]
    );
}

#[test]
fn attach_counts_private_ips_assigned_while_detached_against_the_type_limit() {
    // §2: secondary private IPs per ENI up to the instance type's limit (g6.large 6).
    // Assigning them before attaching must not get round the limit.
    let assign = "op = \"AssignPrivateIpAddresses\"\nNetworkInterfaceId = \"eni-1\"\nSecondaryPrivateIpAddressCount = 6";
    let attach =
        "op = \"AttachNetworkInterface\"\nNetworkInterfaceId = \"eni-1\"\nInstanceId = \"i-a\"";
    assert_eq!(
        codes("attach-too-many-ips", &[assign, attach]),
        vec![None, Some("InvalidOperation.Ipv4CountExceeded".into())]
    );
    let five = "op = \"AssignPrivateIpAddresses\"\nNetworkInterfaceId = \"eni-1\"\nSecondaryPrivateIpAddressCount = 5";
    assert_eq!(codes("attach-six-ips", &[five, attach]), vec![None, None]);
}
