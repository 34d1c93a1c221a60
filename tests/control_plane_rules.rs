//! One test per control-plane rule of SEMANTICS.md §2 (see docs/RULES.md for the map
//! from rule to error code to test). Each test shows the refusal with its exact error
//! code and a positive control: the same call with the violating condition removed
//! succeeds, so deleting the rule from `Cloud::apply` makes the test fail.

use std::net::Ipv4Addr;

use vpcsim::compile::Tables;
use vpcsim::model::*;
use vpcsim::scenario::Scenario;

/// Two VPCs, two zones, basic and enterprise groups, a few instances. Tests append
/// their own tables (`extra`).
const BASE: &str = r#"
[scenario]
name = "rules"
region = "cn-hangzhou"

[[vpcs]]
id = "vpc-a"
cidr = "192.168.0.0/16"

[[vpcs]]
id = "vpc-b"
cidr = "10.0.0.0/16"

[[vswitches]]
id = "vsw-h"
vpc = "vpc-a"
zone = "cn-hangzhou-h"
cidr = "192.168.1.0/24"

[[vswitches]]
id = "vsw-h2"
vpc = "vpc-a"
zone = "cn-hangzhou-h"
cidr = "192.168.3.0/24"

[[vswitches]]
id = "vsw-i"
vpc = "vpc-a"
zone = "cn-hangzhou-i"
cidr = "192.168.2.0/24"

[[vswitches]]
id = "vsw-b"
vpc = "vpc-b"
zone = "cn-hangzhou-h"
cidr = "10.0.1.0/24"

[[security_groups]]
id = "sg-a"
vpc = "vpc-a"

[[security_groups]]
id = "sg-a2"
vpc = "vpc-a"

[[security_groups]]
id = "sg-ent"
vpc = "vpc-a"
type = "enterprise"

[[security_groups]]
id = "sg-b"
vpc = "vpc-b"

[[instances]]
id = "i-1"
vswitch = "vsw-h"
private_ip = "192.168.1.10"
security_groups = ["sg-a"]

[[instances]]
id = "i-2"
vswitch = "vsw-h"
private_ip = "192.168.1.20"
security_groups = ["sg-a"]

[[instances]]
id = "i-b"
vswitch = "vsw-b"
private_ip = "10.0.1.10"
security_groups = ["sg-b"]
"#;

fn scenario(extra: &str) -> Scenario {
    let src = format!("{BASE}\n{extra}");
    match Scenario::parse(&src, "test.toml") {
        Ok(s) => s,
        Err(e) => panic!("test topology does not build: {e}"),
    }
}

fn cloud(extra: &str) -> Cloud {
    scenario(extra).initial
}

/// Applies `op` and requires it to be refused with `code`; returns the message.
#[track_caller]
fn refused(c: &mut Cloud, op: Operation, code: &str) -> String {
    let before = format!("{:?}", serde_json::to_value(&*c).unwrap());
    match c.apply(&op) {
        Ok(ch) => panic!(
            "{} should be refused with {code}, but succeeded: {ch:?}",
            op.name()
        ),
        Err(e) => {
            assert_eq!(e.code, code, "wrong code for {}: {}", op.name(), e.message);
            assert!(!e.message.is_empty());
            let after = format!("{:?}", serde_json::to_value(&*c).unwrap());
            assert_eq!(before, after, "a refused call must change nothing");
            e.message
        }
    }
}

#[track_caller]
fn ok(c: &mut Cloud, op: Operation) -> Vec<String> {
    match c.apply(&op) {
        Ok(ch) => ch,
        Err(e) => panic!("{} should succeed: {e}", op.name()),
    }
}

#[track_caller]
fn mentions(msg: &str, needle: &str) {
    assert!(
        msg.contains(needle),
        "message `{msg}` should mention `{needle}`"
    );
}

// ----- operation builders -----

fn create_eni(id: &str, vsw: &str, sg: &str) -> Operation {
    Operation::CreateNetworkInterface {
        vswitch_id: vsw.into(),
        security_group_id: sg.into(),
        primary_ip_address: None,
        network_interface_name: None,
        description: None,
        network_interface_id: Some(id.into()),
    }
}

fn attach(eni: &str, inst: &str) -> Operation {
    Operation::AttachNetworkInterface {
        network_interface_id: eni.into(),
        instance_id: inst.into(),
    }
}

fn detach(eni: &str, inst: &str) -> Operation {
    Operation::DetachNetworkInterface {
        network_interface_id: eni.into(),
        instance_id: inst.into(),
    }
}

fn delete_eni(eni: &str) -> Operation {
    Operation::DeleteNetworkInterface {
        network_interface_id: eni.into(),
    }
}

fn assign_ips(eni: &str, n: u32) -> Operation {
    Operation::AssignPrivateIpAddresses {
        network_interface_id: eni.into(),
        private_ip_address: vec![],
        secondary_private_ip_address_count: Some(n),
    }
}

fn convert(inst: &str) -> Operation {
    Operation::ConvertNatPublicIpToEip {
        instance_id: inst.into(),
        allocation_id: Some(format!("eip-conv-{inst}")),
    }
}

fn associate(eip: &str, target: &str, ty: EipTarget) -> Operation {
    Operation::AssociateEipAddress {
        allocation_id: eip.into(),
        instance_id: target.into(),
        instance_type: Some(ty),
        mode: None,
        private_ip_address: None,
    }
}

fn associate_eni(eip: &str, eni: &str, mode: EniMode, ip: Option<&str>) -> Operation {
    Operation::AssociateEipAddress {
        allocation_id: eip.into(),
        instance_id: eni.into(),
        instance_type: Some(EipTarget::NetworkInterface),
        mode: Some(mode),
        private_ip_address: ip.map(|i| i.parse().unwrap()),
    }
}

fn unassociate(eip: &str, target: &str) -> Operation {
    Operation::UnassociateEipAddress {
        allocation_id: eip.into(),
        instance_id: target.into(),
        instance_type: None,
    }
}

fn dnat(gw: &str, ext: &str, ext_port: &str, int: &str, int_port: &str) -> Operation {
    Operation::CreateForwardEntry {
        forward_table_id: gw.into(),
        external_ip: ext.parse().unwrap(),
        external_port: ext_port.into(),
        internal_ip: int.parse().unwrap(),
        internal_port: int_port.into(),
        ip_protocol: ForwardProtocol::Tcp,
        forward_entry_id: None,
    }
}

fn snat_cidr(gw: &str, cidr: &str, ips: &str) -> Operation {
    Operation::CreateSnatEntry {
        snat_table_id: gw.into(),
        source_vswitch_id: None,
        source_cidr: Some(cidr.parse().unwrap()),
        network_interface_id: None,
        snat_ip: ips.into(),
        eip_affinity: false,
        snat_entry_id: None,
    }
}

fn snat_vsw(gw: &str, vsw: &str, ips: &str) -> Operation {
    Operation::CreateSnatEntry {
        snat_table_id: gw.into(),
        source_vswitch_id: Some(vsw.into()),
        source_cidr: None,
        network_interface_id: None,
        snat_ip: ips.into(),
        eip_affinity: false,
        snat_entry_id: None,
    }
}

fn join(sg: &str, inst: &str) -> Operation {
    Operation::JoinSecurityGroup {
        security_group_id: sg.into(),
        instance_id: Some(inst.into()),
        network_interface_id: None,
    }
}

fn leave(sg: &str, inst: &str) -> Operation {
    Operation::LeaveSecurityGroup {
        security_group_id: sg.into(),
        instance_id: Some(inst.into()),
        network_interface_id: None,
    }
}

fn create_sg(id: &str, vpc: &str, ty: SecurityGroupType) -> Operation {
    Operation::CreateSecurityGroup {
        vpc_id: vpc.into(),
        security_group_type: Some(ty),
        security_group_name: None,
        security_group_id: Some(id.into()),
    }
}

fn eip_toml(id: &str, addr: &str, charge: &str) -> String {
    format!("[[eips]]\nid = \"{id}\"\naddress = \"{addr}\"\ncharge = \"{charge}\"\n")
}

/// A NAT gateway `ngw` in vpc-a with EIP `eip-ngw` (47.96.100.1) bound.
const NGW: &str = r#"
[[nat_gateways]]
id = "ngw"
vpc = "vpc-a"
vswitch = "vsw-h"

[[eips]]
id = "eip-ngw"
address = "47.96.100.1"
charge = "PayByBandwidth"
bind = { type = "Nat", id = "ngw" }
"#;

const EIP_X: &str = r#"
[[eips]]
id = "eip-x"
address = "47.96.200.1"

[[eips]]
id = "eip-y"
address = "47.96.200.2"
"#;

// =====================================================================================
// ENI: create
// =====================================================================================

#[test]
fn create_eni_primary_ip_must_be_inside_vswitch_and_free() {
    let mut c = cloud("");
    let mk = |ip: &str| Operation::CreateNetworkInterface {
        vswitch_id: "vsw-h".into(),
        security_group_id: "sg-a".into(),
        primary_ip_address: Some(ip.parse().unwrap()),
        network_interface_name: Some("n".into()),
        description: Some("d".into()),
        network_interface_id: Some("eni-x".into()),
    };
    let m = refused(
        &mut c,
        mk("192.168.2.50"),
        "InvalidPrimaryIpAddress.Malformed",
    );
    mentions(&m, "inside");
    refused(
        &mut c,
        mk("192.168.1.10"),
        "InvalidPrivateIpAddress.Duplicated",
    );
    ok(&mut c, mk("192.168.1.50"));
    let e = &c.enis["eni-x"];
    assert_eq!(e.primary_ip, Ipv4Addr::new(192, 168, 1, 50));
    assert_eq!(e.kind, EniType::Secondary);
    assert_eq!(e.status, EniStatus::Available);
    assert_eq!(e.name, "n");
    assert_eq!(e.description, "d");
    assert_eq!(e.security_groups, vec!["sg-a".to_string()]);
}

#[test]
fn create_eni_without_primary_ip_gets_a_free_one() {
    let mut c = cloud("");
    ok(&mut c, create_eni("eni-x", "vsw-h", "sg-a"));
    let ip = c.enis["eni-x"].primary_ip;
    let vsw: ipnet::Ipv4Net = "192.168.1.0/24".parse().unwrap();
    assert!(vsw.contains(&ip));
    assert!(ip != Ipv4Addr::new(192, 168, 1, 10) && ip != Ipv4Addr::new(192, 168, 1, 20));
}

#[test]
fn create_eni_security_group_must_be_in_the_vswitch_vpc() {
    let mut c = cloud("");
    refused(
        &mut c,
        create_eni("eni-x", "vsw-h", "sg-b"),
        "InvalidSecurityGroupId.VpcMismatch",
    );
    ok(&mut c, create_eni("eni-x", "vsw-h", "sg-a"));
}

// =====================================================================================
// ENI: attach
// =====================================================================================

#[test]
fn attach_eni_refused_for_primary_eni() {
    let mut c = cloud("");
    let m = refused(
        &mut c,
        attach("i-1-eth0", "i-2"),
        "InvalidOperation.InvalidEniType",
    );
    mentions(&m, "secondary");
    ok(&mut c, create_eni("eni-x", "vsw-h", "sg-a"));
    ok(&mut c, attach("eni-x", "i-2"));
}

#[test]
fn attach_eni_refused_when_eni_not_available() {
    // An ENI is on one instance at a time: attached (InUse) it cannot be attached again.
    let mut c =
        cloud("[[instances]]\nid = \"i-3\"\nvswitch = \"vsw-h\"\nsecurity_groups = [\"sg-a\"]\n");
    ok(&mut c, create_eni("eni-x", "vsw-h", "sg-a"));
    ok(&mut c, attach("eni-x", "i-1"));
    let m = refused(
        &mut c,
        attach("eni-x", "i-3"),
        "InvalidOperation.InvalidEniState",
    );
    mentions(&m, "detach");
    ok(&mut c, detach("eni-x", "i-1"));
    ok(&mut c, attach("eni-x", "i-3"));
    assert_eq!(c.enis["eni-x"].instance.as_deref(), Some("i-3"));
}

#[test]
fn attach_eni_refused_when_eni_on_another_instance() {
    // Same rule as above seen from the instance's side: the ENI stays on its first owner.
    let mut c = cloud("");
    ok(&mut c, create_eni("eni-x", "vsw-h", "sg-a"));
    ok(&mut c, attach("eni-x", "i-1"));
    refused(
        &mut c,
        attach("eni-x", "i-2"),
        "InvalidOperation.InvalidEniState",
    );
    assert_eq!(c.instances["i-2"].enis.len(), 1);
    assert_eq!(c.instances["i-1"].enis, vec!["i-1-eth0", "eni-x"]);
}

#[test]
fn attach_eni_refused_when_instance_not_running_or_stopped() {
    let mut c = cloud(
        r#"
[[instances]]
id = "i-pending"
vswitch = "vsw-h"
status = "Pending"
security_groups = ["sg-a"]

[[instances]]
id = "i-stopped"
vswitch = "vsw-h"
status = "Stopped"
security_groups = ["sg-a"]
"#,
    );
    ok(&mut c, create_eni("eni-x", "vsw-h", "sg-a"));
    let m = refused(
        &mut c,
        attach("eni-x", "i-pending"),
        "InvalidOperation.InvalidEcsState",
    );
    mentions(&m, "Running or Stopped");
    ok(&mut c, attach("eni-x", "i-stopped"));
    ok(&mut c, create_eni("eni-y", "vsw-h", "sg-a"));
    ok(&mut c, attach("eni-y", "i-1")); // Running
}

#[test]
fn attach_eni_refused_on_classic_network_instance() {
    let mut c = cloud(
        "[[instances]]\nid = \"i-classic\"\nzone = \"cn-hangzhou-h\"\nsecurity_groups = [\"sg-a\"]\n",
    );
    ok(&mut c, create_eni("eni-x", "vsw-h", "sg-a"));
    let m = refused(
        &mut c,
        attach("eni-x", "i-classic"),
        "InvalidOperation.VpcMismatch",
    );
    mentions(&m, "VPC");
    ok(&mut c, attach("eni-x", "i-1"));
}

#[test]
fn attach_eni_refused_when_eni_in_another_vpc() {
    let mut c = cloud("");
    ok(&mut c, create_eni("eni-x", "vsw-h", "sg-a"));
    let m = refused(
        &mut c,
        attach("eni-x", "i-b"),
        "InvalidOperation.VpcMismatch",
    );
    mentions(&m, "same VPC");
    ok(&mut c, attach("eni-x", "i-1"));
}

#[test]
fn attach_eni_refused_when_eni_in_another_zone() {
    let mut c = cloud("");
    ok(&mut c, create_eni("eni-i", "vsw-i", "sg-a"));
    let m = refused(
        &mut c,
        attach("eni-i", "i-1"),
        "InvalidOperation.AvailabilityZoneMismatch",
    );
    mentions(&m, "same zone");
    mentions(&m, "cn-hangzhou-h");
    // Another VSwitch of the same zone is fine.
    ok(&mut c, create_eni("eni-h2", "vsw-h2", "sg-a"));
    ok(&mut c, attach("eni-h2", "i-1"));
}

#[test]
fn attach_eni_refused_on_instance_not_io_optimized() {
    let mut c = cloud(
        "[[instances]]\nid = \"i-old\"\nvswitch = \"vsw-h\"\nio_optimized = false\nsecurity_groups = [\"sg-a\"]\n",
    );
    ok(&mut c, create_eni("eni-x", "vsw-h", "sg-a"));
    let m = refused(
        &mut c,
        attach("eni-x", "i-old"),
        "InvalidOperation.InstanceNotIoOptimized",
    );
    mentions(&m, "I/O optimized");
    ok(&mut c, attach("eni-x", "i-1"));
}

#[test]
fn attach_eni_refused_beyond_instance_type_eni_count_including_primary() {
    // ecs.g6.large takes 2 ENIs including the primary; ecs.g6.xlarge 3.
    let mut c = cloud(
        "[[instances]]\nid = \"i-xl\"\nvswitch = \"vsw-h\"\ninstance_type = \"ecs.g6.xlarge\"\nsecurity_groups = [\"sg-a\"]\n",
    );
    for e in ["eni-1", "eni-2", "eni-3"] {
        ok(&mut c, create_eni(e, "vsw-h", "sg-a"));
    }
    ok(&mut c, attach("eni-1", "i-1"));
    let m = refused(
        &mut c,
        attach("eni-2", "i-1"),
        "EniPerInstanceLimitExceeded",
    );
    mentions(&m, "2");
    ok(&mut c, attach("eni-2", "i-xl"));
    ok(&mut c, attach("eni-3", "i-xl"));
    assert_eq!(c.instances["i-xl"].enis.len(), 3);
    ok(&mut c, detach("eni-1", "i-1"));
    refused(
        &mut c,
        attach("eni-1", "i-xl"),
        "EniPerInstanceLimitExceeded",
    );
}

#[test]
fn attach_eni_refused_for_unknown_eni_or_instance() {
    let mut c = cloud("");
    ok(&mut c, create_eni("eni-x", "vsw-h", "sg-a"));
    refused(&mut c, attach("eni-nope", "i-1"), "InvalidEniId.NotFound");
    refused(&mut c, attach("eni-x", "i-nope"), "InvalidEcsId.NotFound");
    ok(&mut c, attach("eni-x", "i-1"));
}

// =====================================================================================
// ENI: detach, delete, secondary IPs
// =====================================================================================

#[test]
fn detach_primary_eni_refused() {
    let mut c = cloud("");
    let m = refused(
        &mut c,
        detach("i-1-eth0", "i-1"),
        "InvalidOperation.DetachPrimaryEniNotAllowed",
    );
    mentions(&m, "primary");
    ok(&mut c, create_eni("eni-x", "vsw-h", "sg-a"));
    ok(&mut c, attach("eni-x", "i-1"));
    ok(&mut c, detach("eni-x", "i-1"));
    assert_eq!(c.enis["eni-x"].status, EniStatus::Available);
}

#[test]
fn delete_eni_only_when_available() {
    let mut c = cloud("");
    ok(&mut c, create_eni("eni-x", "vsw-h", "sg-a"));
    ok(&mut c, attach("eni-x", "i-1"));
    let m = refused(
        &mut c,
        delete_eni("eni-x"),
        "InvalidOperation.InvalidEniState",
    );
    mentions(&m, "Available");
    refused(
        &mut c,
        delete_eni("i-1-eth0"),
        "InvalidOperation.InvalidEniState",
    );
    ok(&mut c, detach("eni-x", "i-1"));
    ok(&mut c, delete_eni("eni-x"));
    assert!(!c.enis.contains_key("eni-x"));
}

#[test]
fn secondary_private_ips_limited_by_instance_type() {
    // g6.large: 6 private IPs per ENI (the primary plus 5); g6.xlarge: 10.
    let mut c = cloud(
        "[[instances]]\nid = \"i-xl\"\nvswitch = \"vsw-h\"\ninstance_type = \"ecs.g6.xlarge\"\nsecurity_groups = [\"sg-a\"]\n",
    );
    ok(&mut c, assign_ips("i-1-eth0", 5));
    let m = refused(
        &mut c,
        assign_ips("i-1-eth0", 1),
        "InvalidOperation.Ipv4CountExceeded",
    );
    mentions(&m, "6");
    ok(&mut c, assign_ips("i-xl-eth0", 9));
    refused(
        &mut c,
        assign_ips("i-xl-eth0", 1),
        "InvalidOperation.Ipv4CountExceeded",
    );
    assert_eq!(c.enis["i-1-eth0"].secondary_ips.len(), 5);
    assert_eq!(c.enis["i-xl-eth0"].secondary_ips.len(), 9);
}

// =====================================================================================
// ConvertNatPublicIpToEip
// =====================================================================================

const PUBLIC_IPS: &str = r#"
[[instances]]
id = "i-pub"
vswitch = "vsw-h"
private_ip = "192.168.1.30"
public_ip = "47.96.10.20"
charge_type = "PostPaid"
security_groups = ["sg-a"]

[[instances]]
id = "i-sub"
vswitch = "vsw-h"
private_ip = "192.168.1.40"
public_ip = "47.96.10.30"
charge_type = "PrePaid"
security_groups = ["sg-a"]
"#;

#[test]
fn payg_instance_converts_public_ip_to_eip_keeping_the_address() {
    let mut c = cloud(PUBLIC_IPS);
    ok(&mut c, convert("i-pub"));
    let e = &c.eips["eip-conv-i-pub"];
    assert_eq!(e.address, Ipv4Addr::new(47, 96, 10, 20));
    assert_eq!(e.status, EipStatus::InUse);
    let b = e.binding.as_ref().unwrap();
    assert_eq!(b.target, EipTarget::EcsInstance);
    assert_eq!(b.resource, "i-pub");
    assert_eq!(b.private_ip, Some(Ipv4Addr::new(192, 168, 1, 30)));
    assert_eq!(c.instances["i-pub"].public_ip, None);
}

#[test]
fn subscription_instance_cannot_convert_public_ip_to_eip() {
    let mut c = cloud(PUBLIC_IPS);
    let m = refused(
        &mut c,
        convert("i-sub"),
        "InvalidInstanceChargeType.NotSupported",
    );
    mentions(&m, "ModifyInstanceChargeType");
    ok(
        &mut c,
        Operation::ModifyInstanceChargeType {
            instance_id: "i-sub".into(),
            instance_charge_type: ChargeType::PostPaid,
        },
    );
    ok(&mut c, convert("i-sub"));
    assert_eq!(
        c.eips["eip-conv-i-sub"].address,
        Ipv4Addr::new(47, 96, 10, 30)
    );
}

#[test]
fn convert_public_ip_refused_unless_instance_running_or_stopped() {
    let mut c = cloud(
        r#"
[[instances]]
id = "i-pend"
vswitch = "vsw-h"
status = "Pending"
public_ip = "47.96.10.40"
security_groups = ["sg-a"]

[[instances]]
id = "i-stop"
vswitch = "vsw-h"
status = "Stopped"
public_ip = "47.96.10.41"
security_groups = ["sg-a"]
"#,
    );
    let m = refused(&mut c, convert("i-pend"), "IncorrectInstanceStatus");
    mentions(&m, "Running or Stopped");
    ok(&mut c, convert("i-stop"));
}

#[test]
fn convert_public_ip_refused_when_instance_already_has_eip() {
    let mut c = cloud(&format!(
        "{PUBLIC_IPS}\n{EIP_X}\n[[instances]]\nid = \"i-both\"\nvswitch = \"vsw-h\"\nsecurity_groups = [\"sg-a\"]\n"
    ));
    ok(&mut c, convert("i-pub"));
    // Now i-pub has an EIP: converting again is refused.
    refused(&mut c, convert("i-pub"), "IncorrectInstanceStatus");
    ok(&mut c, associate("eip-x", "i-both", EipTarget::EcsInstance));
    let m = refused(&mut c, convert("i-both"), "IncorrectInstanceStatus");
    mentions(&m, "eip-x");
}

// =====================================================================================
// AssociateEipAddress
// =====================================================================================

const TARGETS: &str = r#"
[[havips]]
id = "havip-1"
vswitch = "vsw-h"
ip = "192.168.1.200"

[[slbs]]
id = "slb-in"
address_type = "intranet"

[[slbs]]
id = "slb-pub"
address_type = "internet"

[[enis]]
id = "eni-s"
vswitch = "vsw-h"
primary_ip = "192.168.1.100"
secondary_ips = ["192.168.1.101"]
security_groups = ["sg-a"]
instance = "i-2"
"#;

#[test]
fn eip_binds_to_every_documented_target() {
    let mut c = cloud(&format!(
        "{NGW}{TARGETS}{}{}{}{}{}",
        eip_toml("e1", "47.96.200.1", "PayByTraffic"),
        eip_toml("e2", "47.96.200.2", "PayByTraffic"),
        eip_toml("e3", "47.96.200.3", "PayByTraffic"),
        eip_toml("e4", "47.96.200.4", "PayByTraffic"),
        eip_toml("e5", "47.96.200.5", "PayByTraffic"),
    ));
    ok(&mut c, associate("e1", "i-1", EipTarget::EcsInstance));
    ok(&mut c, associate("e2", "slb-in", EipTarget::SlbInstance));
    ok(&mut c, associate_eni("e3", "eni-s", EniMode::Nat, None));
    ok(&mut c, associate("e4", "ngw", EipTarget::Nat));
    ok(&mut c, associate("e5", "havip-1", EipTarget::HaVip));
    for e in ["e1", "e2", "e3", "e4", "e5"] {
        assert_eq!(c.eips[e].status, EipStatus::InUse);
    }
}

#[test]
fn eip_refused_on_classic_network_instance() {
    let mut c = cloud(&format!(
        "{EIP_X}[[instances]]\nid = \"i-classic\"\nzone = \"cn-hangzhou-h\"\nsecurity_groups = [\"sg-a\"]\n"
    ));
    let m = refused(
        &mut c,
        associate("eip-x", "i-classic", EipTarget::EcsInstance),
        "InvalidParameter.Mismatch",
    );
    mentions(&m, "VPC");
    ok(&mut c, associate("eip-x", "i-1", EipTarget::EcsInstance));
}

#[test]
fn eip_refused_on_public_slb() {
    let mut c = cloud(&format!("{TARGETS}{EIP_X}"));
    let m = refused(
        &mut c,
        associate("eip-x", "slb-pub", EipTarget::SlbInstance),
        "InvalidParameter.SlbAddressType",
    );
    mentions(&m, "internal");
    ok(&mut c, associate("eip-x", "slb-in", EipTarget::SlbInstance));
}

#[test]
fn eip_refused_on_primary_eni_target() {
    let mut c = cloud(&format!("{TARGETS}{EIP_X}"));
    refused(
        &mut c,
        associate_eni("eip-x", "i-1-eth0", EniMode::Nat, None),
        "InvalidOperation.InvalidEniType",
    );
    ok(&mut c, associate_eni("eip-x", "eni-s", EniMode::Nat, None));
}

#[test]
fn eip_bound_to_one_resource_at_a_time() {
    let mut c = cloud(EIP_X);
    ok(&mut c, associate("eip-x", "i-1", EipTarget::EcsInstance));
    let m = refused(
        &mut c,
        associate("eip-x", "i-2", EipTarget::EcsInstance),
        "InvalidAssociation.Duplicated",
    );
    mentions(&m, "unassociate");
    ok(&mut c, unassociate("eip-x", "i-1"));
    ok(&mut c, associate("eip-x", "i-2", EipTarget::EcsInstance));
}

#[test]
fn eip_must_be_available_to_associate() {
    // An EIP in a transitional state (here Unassociating) is refused with IncorrectEipStatus.
    let mut c = cloud(EIP_X);
    c.eips.get_mut("eip-x").unwrap().status = EipStatus::Unassociating;
    refused(
        &mut c,
        associate("eip-x", "i-1", EipTarget::EcsInstance),
        "IncorrectEipStatus",
    );
    c.eips.get_mut("eip-x").unwrap().status = EipStatus::Available;
    ok(&mut c, associate("eip-x", "i-1", EipTarget::EcsInstance));
}

const BEIJING: &str = r#"
[[eips]]
id = "eip-bj"
address = "39.96.0.1"
region = "cn-beijing"

[[eips]]
id = "eip-hz"
address = "47.96.200.9"
"#;

#[test]
fn eip_refused_on_resource_in_another_region() {
    let mut c = cloud(BEIJING);
    let m = refused(
        &mut c,
        associate("eip-bj", "i-1", EipTarget::EcsInstance),
        "InvalidParameter.Mismatch",
    );
    mentions(&m, "cn-beijing");
    mentions(&m, "allocate one in cn-hangzhou");
    ok(&mut c, associate("eip-hz", "i-1", EipTarget::EcsInstance));
}

#[test]
fn eip_refused_on_any_target_in_another_region() {
    // Same region applies to every target kind, not only ECS instances.
    let mut c = cloud(&format!("{NGW}{TARGETS}{BEIJING}"));
    refused(
        &mut c,
        associate("eip-bj", "ngw", EipTarget::Nat),
        "InvalidParameter.Mismatch",
    );
    refused(
        &mut c,
        associate("eip-bj", "havip-1", EipTarget::HaVip),
        "InvalidParameter.Mismatch",
    );
    refused(
        &mut c,
        associate("eip-bj", "slb-in", EipTarget::SlbInstance),
        "InvalidParameter.Mismatch",
    );
    refused(
        &mut c,
        associate_eni("eip-bj", "eni-s", EniMode::Nat, None),
        "InvalidParameter.Mismatch",
    );
    ok(&mut c, associate("eip-hz", "havip-1", EipTarget::HaVip));
}

#[test]
fn eip_ignores_zones() {
    // i-1 is in zone h, i-z in zone i: both take an EIP of the region.
    let mut c = cloud(&format!(
        "{EIP_X}[[instances]]\nid = \"i-z\"\nvswitch = \"vsw-i\"\nsecurity_groups = [\"sg-a\"]\n"
    ));
    ok(&mut c, associate("eip-x", "i-1", EipTarget::EcsInstance));
    ok(&mut c, associate("eip-y", "i-z", EipTarget::EcsInstance));
}

#[test]
fn eip_refused_on_instance_not_running_or_stopped() {
    let mut c = cloud(&format!(
        "{EIP_X}[[instances]]\nid = \"i-pend\"\nvswitch = \"vsw-h\"\nstatus = \"Pending\"\nsecurity_groups = [\"sg-a\"]\n[[instances]]\nid = \"i-stop\"\nvswitch = \"vsw-h\"\nstatus = \"Stopped\"\nsecurity_groups = [\"sg-a\"]\n"
    ));
    let m = refused(
        &mut c,
        associate("eip-x", "i-pend", EipTarget::EcsInstance),
        "IncorrectInstanceStatus",
    );
    mentions(&m, "Running or Stopped");
    ok(&mut c, associate("eip-x", "i-stop", EipTarget::EcsInstance));
}

#[test]
fn eip_refused_on_instance_with_static_public_ip() {
    let mut c = cloud(&format!("{PUBLIC_IPS}{EIP_X}"));
    let m = refused(
        &mut c,
        associate("eip-x", "i-pub", EipTarget::EcsInstance),
        "IncorrectInstanceStatus",
    );
    mentions(&m, "ConvertNatPublicIpToEip");
    ok(&mut c, associate("eip-x", "i-1", EipTarget::EcsInstance));
}

#[test]
fn eip_refused_on_instance_with_another_eip() {
    let mut c = cloud(EIP_X);
    ok(&mut c, associate("eip-x", "i-1", EipTarget::EcsInstance));
    let m = refused(
        &mut c,
        associate("eip-y", "i-1", EipTarget::EcsInstance),
        "IncorrectInstanceStatus",
    );
    mentions(&m, "unassociate");
    ok(&mut c, associate("eip-y", "i-2", EipTarget::EcsInstance));
}

const DNAT_TO_I1: &str = r#"
[[nat_gateways]]
id = "ngw"
vpc = "vpc-a"
vswitch = "vsw-h"
dnat = [ { id = "fwd-ssh", external_ip = "47.96.100.1", external_port = "2222", internal_ip = "192.168.1.10", internal_port = "22", protocol = "TCP" } ]

[[eips]]
id = "eip-ngw"
address = "47.96.100.1"
charge = "PayByBandwidth"
bind = { type = "Nat", id = "ngw" }
"#;

#[test]
fn eip_refused_on_instance_with_dnat_entries() {
    let mut c = cloud(&format!("{DNAT_TO_I1}{EIP_X}"));
    let m = refused(
        &mut c,
        associate("eip-x", "i-1", EipTarget::EcsInstance),
        "BIND_INSTANCE_HAVE_PORTMAP_OR_BIND_EIP",
    );
    mentions(&m, "fwd-ssh");
    mentions(&m, "delete the DNAT entries");
    ok(
        &mut c,
        Operation::DeleteForwardEntry {
            forward_table_id: "ngw".into(),
            forward_entry_id: "fwd-ssh".into(),
        },
    );
    ok(&mut c, associate("eip-x", "i-1", EipTarget::EcsInstance));
}

#[test]
fn dnat_refused_on_instance_with_eip() {
    let mut c = cloud(&format!("{NGW}{EIP_X}"));
    ok(&mut c, associate("eip-x", "i-1", EipTarget::EcsInstance));
    let m = refused(
        &mut c,
        dnat("ngw", "47.96.100.1", "2222", "192.168.1.10", "22"),
        "BIND_INSTANCE_HAVE_PORTMAP_OR_BIND_EIP",
    );
    mentions(&m, "unassociate the EIP");
    ok(&mut c, unassociate("eip-x", "i-1"));
    ok(
        &mut c,
        dnat("ngw", "47.96.100.1", "2222", "192.168.1.10", "22"),
    );
}

fn many_eips(prefix: &str, n: usize, third: u8, charge: &str) -> String {
    (1..=n)
        .map(|i| {
            eip_toml(
                &format!("{prefix}{i}"),
                &format!("47.97.{third}.{i}"),
                charge,
            )
        })
        .collect()
}

#[test]
fn nat_gateway_refuses_21st_eip() {
    let mut c = cloud(&format!(
        "[[nat_gateways]]\nid = \"ngw\"\nvpc = \"vpc-a\"\nvswitch = \"vsw-h\"\n{}",
        many_eips("bw", 21, 1, "PayByBandwidth")
    ));
    for i in 1..=20 {
        ok(&mut c, associate(&format!("bw{i}"), "ngw", EipTarget::Nat));
    }
    let m = refused(
        &mut c,
        associate("bw21", "ngw", EipTarget::Nat),
        "QuotaExceeded.EipsPerNatGateway",
    );
    mentions(&m, "20");
    ok(&mut c, unassociate("bw1", "ngw"));
    ok(&mut c, associate("bw21", "ngw", EipTarget::Nat));
    assert_eq!(c.nat_gateways["ngw"].eips.len(), 20);
}

#[test]
fn nat_gateway_refuses_11th_pay_by_traffic_eip() {
    let mut c = cloud(&format!(
        "[[nat_gateways]]\nid = \"ngw\"\nvpc = \"vpc-a\"\nvswitch = \"vsw-h\"\n{}{}",
        many_eips("tr", 11, 1, "PayByTraffic"),
        many_eips("bw", 1, 2, "PayByBandwidth"),
    ));
    for i in 1..=10 {
        ok(&mut c, associate(&format!("tr{i}"), "ngw", EipTarget::Nat));
    }
    let m = refused(
        &mut c,
        associate("tr11", "ngw", EipTarget::Nat),
        "QuotaExceeded.PayByTrafficEips",
    );
    mentions(&m, "PayByBandwidth");
    // A pay-by-bandwidth EIP is still accepted.
    ok(&mut c, associate("bw1", "ngw", EipTarget::Nat));
}

#[test]
fn havip_takes_one_eip() {
    let mut c = cloud(&format!("{TARGETS}{EIP_X}"));
    ok(&mut c, associate("eip-x", "havip-1", EipTarget::HaVip));
    refused(
        &mut c,
        associate("eip-y", "havip-1", EipTarget::HaVip),
        "InvalidAssociation.Duplicated",
    );
    ok(&mut c, unassociate("eip-x", "havip-1"));
    ok(&mut c, associate("eip-y", "havip-1", EipTarget::HaVip));
}

#[test]
fn internal_slb_takes_one_eip() {
    let mut c = cloud(&format!("{TARGETS}{EIP_X}"));
    ok(&mut c, associate("eip-x", "slb-in", EipTarget::SlbInstance));
    refused(
        &mut c,
        associate("eip-y", "slb-in", EipTarget::SlbInstance),
        "InvalidAssociation.Duplicated",
    );
    ok(&mut c, unassociate("eip-x", "slb-in"));
    ok(&mut c, associate("eip-y", "slb-in", EipTarget::SlbInstance));
}

#[test]
fn legacy_bandwidth_plan_nat_gateway_refuses_eips() {
    let mut c = cloud(&format!(
        "[[nat_gateways]]\nid = \"ngw-old\"\nvpc = \"vpc-a\"\nvswitch = \"vsw-h\"\nlegacy_bandwidth_plan = true\n[[nat_gateways]]\nid = \"ngw-new\"\nvpc = \"vpc-a\"\nvswitch = \"vsw-h\"\n{EIP_X}"
    ));
    let m = refused(
        &mut c,
        associate("eip-x", "ngw-old", EipTarget::Nat),
        "OperationDenied.NatBandwidthPlan",
    );
    mentions(&m, "2018-01-26");
    ok(&mut c, associate("eip-x", "ngw-new", EipTarget::Nat));
}

#[test]
fn slb_in_another_resource_group_is_not_offered() {
    let mut c = cloud(
        r#"
[[slbs]]
id = "slb-rg"
address_type = "intranet"
resource_group = "rg-shop"

[[eips]]
id = "eip-default"
address = "47.96.200.1"

[[eips]]
id = "eip-shop"
address = "47.96.200.2"
resource_group = "rg-shop"
"#,
    );
    let m = refused(
        &mut c,
        associate("eip-default", "slb-rg", EipTarget::SlbInstance),
        "InvalidParameter.ResourceGroupMismatch",
    );
    mentions(&m, "rg-shop");
    ok(
        &mut c,
        associate("eip-shop", "slb-rg", EipTarget::SlbInstance),
    );
}

// ----- secondary ENI modes -----

#[test]
fn eni_nat_mode_private_ip_address_picks_a_secondary_ip() {
    let mut c = cloud(&format!("{TARGETS}{EIP_X}"));
    refused(
        &mut c,
        associate_eni("eip-x", "eni-s", EniMode::Nat, Some("192.168.1.150")),
        "InvalidPrivateIpAddress.NotFound",
    );
    ok(
        &mut c,
        associate_eni("eip-x", "eni-s", EniMode::Nat, Some("192.168.1.101")),
    );
    let b = c.eips["eip-x"].binding.clone().unwrap();
    assert_eq!(b.mode, EniMode::Nat);
    assert_eq!(b.private_ip, Some(Ipv4Addr::new(192, 168, 1, 101)));
    // Default: the primary private IP.
    ok(&mut c, associate_eni("eip-y", "eni-s", EniMode::Nat, None));
    assert_eq!(
        c.eips["eip-y"].binding.as_ref().unwrap().private_ip,
        Some(Ipv4Addr::new(192, 168, 1, 100))
    );
}

#[test]
fn eni_nat_mode_one_eip_per_private_ip() {
    let mut c = cloud(&format!("{TARGETS}{EIP_X}"));
    ok(
        &mut c,
        associate_eni("eip-x", "eni-s", EniMode::Nat, Some("192.168.1.101")),
    );
    let m = refused(
        &mut c,
        associate_eni("eip-y", "eni-s", EniMode::Nat, Some("192.168.1.101")),
        "InvalidAssociation.Duplicated",
    );
    mentions(&m, "PrivateIpAddress");
    ok(
        &mut c,
        associate_eni("eip-y", "eni-s", EniMode::Nat, Some("192.168.1.100")),
    );
}

#[test]
fn eni_cut_through_mode_needs_detached_eni() {
    let mut c = cloud(&format!("{TARGETS}{EIP_X}"));
    let m = refused(
        &mut c,
        associate_eni("eip-x", "eni-s", EniMode::CutThrough, None),
        "Eni.Attached",
    );
    mentions(&m, "detach");
    ok(&mut c, detach("eni-s", "i-2"));
    ok(
        &mut c,
        associate_eni("eip-x", "eni-s", EniMode::CutThrough, None),
    );
    let b = c.eips["eip-x"].binding.clone().unwrap();
    assert_eq!(b.mode, EniMode::CutThrough);
    assert_eq!(b.private_ip, None, "the EIP replaces the ENI's private IP");
    // Then it is attached again.
    ok(&mut c, attach("eni-s", "i-2"));
}

#[test]
fn eni_cut_through_mode_one_eip_per_eni() {
    let mut c = cloud(&format!("{TARGETS}{EIP_X}"));
    ok(&mut c, detach("eni-s", "i-2"));
    ok(
        &mut c,
        associate_eni("eip-x", "eni-s", EniMode::CutThrough, None),
    );
    let m = refused(
        &mut c,
        associate_eni("eip-y", "eni-s", EniMode::CutThrough, None),
        "InvalidAssociation.Duplicated",
    );
    mentions(&m, "one EIP per ENI");
    ok(&mut c, unassociate("eip-x", "eni-s"));
    ok(
        &mut c,
        associate_eni("eip-y", "eni-s", EniMode::CutThrough, None),
    );
}

#[test]
fn eni_multi_eip_mode_takes_several_eips() {
    let mut c = cloud(&format!(
        "{TARGETS}{EIP_X}{}",
        eip_toml("eip-z", "47.96.200.3", "PayByTraffic")
    ));
    ok(
        &mut c,
        associate_eni("eip-x", "eni-s", EniMode::MultiEip, None),
    );
    ok(
        &mut c,
        associate_eni("eip-y", "eni-s", EniMode::MultiEip, None),
    );
    assert_eq!(c.eips_of_eni("eni-s").count(), 2);
    // One ENI uses one mode.
    refused(
        &mut c,
        associate_eni("eip-z", "eni-s", EniMode::Nat, Some("192.168.1.101")),
        "InvalidParameter.Mode",
    );
}

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
    let m = refused(&mut c, both, "InvalidParameter");
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
        "Forbidden.SourceVSwitchAlreadyUsed",
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
        "Forbidden.SourceIpAlreadyUsed",
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
        "QuotaExceeded.SnatEntry",
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
        "QuotaExceeded.SnatIp",
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
        "InvalidIp.NotInNatgw",
    );
    ok(&mut c, snat_vsw("ngw", "vsw-h", "47.96.100.1"));
}

// =====================================================================================
// First NAT gateway and the default route
// =====================================================================================

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

// =====================================================================================
// Security groups
// =====================================================================================

fn six_groups() -> String {
    (1..=6)
        .map(|i| format!("[[security_groups]]\nid = \"sg-q{i}\"\nvpc = \"vpc-a\"\n"))
        .collect()
}

#[test]
fn instance_refuses_6th_security_group() {
    let mut c = cloud(&six_groups());
    // i-1 is in sg-a; four more make five.
    for i in 1..=4 {
        ok(&mut c, join(&format!("sg-q{i}"), "i-1"));
    }
    let m = refused(
        &mut c,
        join("sg-q5", "i-1"),
        "InstanceSecurityGroupLimitExceeded",
    );
    mentions(&m, "quota is 5");
    ok(&mut c, leave("sg-q1", "i-1"));
    ok(&mut c, join("sg-q5", "i-1"));
    assert_eq!(c.enis["i-1-eth0"].security_groups.len(), 5);
}

#[test]
fn security_group_quota_is_configurable() {
    let mut c = cloud(&format!(
        "[quotas]\nsecurity_groups_per_eni = 2\n{}",
        six_groups()
    ));
    ok(&mut c, join("sg-q1", "i-1"));
    refused(
        &mut c,
        join("sg-q2", "i-1"),
        "InstanceSecurityGroupLimitExceeded",
    );
}

#[test]
fn security_group_must_be_in_the_instance_vpc() {
    let mut c = cloud("");
    let m = refused(
        &mut c,
        join("sg-b", "i-1"),
        "InvalidSecurityGroup.NetworkTypeMismatch",
    );
    mentions(&m, "same network");
    ok(&mut c, join("sg-a2", "i-1"));
}

#[test]
fn instance_groups_all_basic_or_all_enterprise() {
    let mut c = cloud("");
    let m = refused(
        &mut c,
        join("sg-ent", "i-1"),
        "InvalidSecurityGroup.TypeMismatch",
    );
    mentions(&m, "same type");
    ok(&mut c, join("sg-a2", "i-1"));
    ok(
        &mut c,
        create_sg("sg-ent2", "vpc-a", SecurityGroupType::Enterprise),
    );
    ok(&mut c, create_eni("eni-e", "vsw-h", "sg-ent"));
    ok(
        &mut c,
        Operation::JoinSecurityGroup {
            security_group_id: "sg-ent2".into(),
            instance_id: None,
            network_interface_id: Some("eni-e".into()),
        },
    );
    refused(
        &mut c,
        Operation::JoinSecurityGroup {
            security_group_id: "sg-a2".into(),
            instance_id: None,
            network_interface_id: Some("eni-e".into()),
        },
        "InvalidSecurityGroup.TypeMismatch",
    );
}

#[test]
fn instance_cannot_leave_its_last_security_group() {
    let mut c = cloud("");
    let m = refused(
        &mut c,
        leave("sg-a", "i-1"),
        "InvalidOperation.LastSecurityGroup",
    );
    mentions(&m, "join another first");
    ok(&mut c, join("sg-a2", "i-1"));
    ok(&mut c, leave("sg-a", "i-1"));
    assert_eq!(
        c.enis["i-1-eth0"].security_groups,
        vec!["sg-a2".to_string()]
    );
}

fn ingress_allowed(c: &Cloud, eni: &str, peer: Ipv4Addr, port: u16) -> bool {
    let t = Tables::compile(c, 0);
    let idx = t.eni_index[eni];
    t.eni(idx)
        .sg
        .evaluate(Direction::Ingress, 6, u32::from(peer), port)
        .0
}

#[test]
fn joining_security_group_applies_its_rules_at_once() {
    let mut c = cloud(
        r#"
[[security_groups]]
id = "sg-ssh"
vpc = "vpc-a"
rules = [ { direction = "ingress", protocol = "tcp", ports = "22/22", cidr = "0.0.0.0/0" } ]
"#,
    );
    let internet = Ipv4Addr::new(198, 51, 100, 7);
    assert!(!ingress_allowed(&c, "i-1-eth0", internet, 22));
    ok(&mut c, join("sg-ssh", "i-1"));
    assert!(ingress_allowed(&c, "i-1-eth0", internet, 22));
}

#[test]
fn leaving_security_group_isolates_from_its_members() {
    // i-1 and i-2 share sg-a (inner access accept); i-1 also in sg-a2.
    let mut c = cloud("");
    ok(&mut c, join("sg-a2", "i-1"));
    let i2 = Ipv4Addr::new(192, 168, 1, 20);
    assert!(ingress_allowed(&c, "i-1-eth0", i2, 5000));
    ok(&mut c, leave("sg-a", "i-1"));
    assert!(!ingress_allowed(&c, "i-1-eth0", i2, 5000));
}

#[test]
fn enterprise_security_group_cannot_reference_groups() {
    let mut c = cloud("");
    let rule = |sg: &str, peer: Option<&str>| {
        Operation::AuthorizeSecurityGroup(vpcsim::model::ops::RulePermission {
            security_group_id: sg.into(),
            ip_protocol: SgProtocol::Tcp,
            port_range: "22/22".into(),
            source_cidr_ip: peer.is_none().then(|| "10.0.0.0/8".parse().unwrap()),
            source_group_id: peer.map(str::to_string),
            dest_cidr_ip: None,
            dest_group_id: None,
            source_port_range: None,
            policy: None,
            priority: None,
            description: None,
        })
    };
    let m = refused(
        &mut c,
        rule("sg-ent", Some("sg-a")),
        "InvalidParamter.Conflict",
    );
    mentions(&m, "SourceCidrIp");
    ok(&mut c, rule("sg-ent", None));
    ok(&mut c, rule("sg-a", Some("sg-a2")));
}

// =====================================================================================
// Start / Stop
// =====================================================================================

#[test]
fn start_instance_needs_stopped_instance() {
    let mut c = cloud("");
    let m = refused(
        &mut c,
        Operation::StartInstance {
            instance_id: "i-1".into(),
        },
        "IncorrectInstanceStatus",
    );
    mentions(&m, "Stopped");
    ok(
        &mut c,
        Operation::StopInstance {
            instance_id: "i-1".into(),
        },
    );
    ok(
        &mut c,
        Operation::StartInstance {
            instance_id: "i-1".into(),
        },
    );
    assert_eq!(c.instances["i-1"].status, InstanceStatus::Running);
}

#[test]
fn stop_instance_needs_running_instance() {
    let mut c = cloud("");
    ok(
        &mut c,
        Operation::StopInstance {
            instance_id: "i-1".into(),
        },
    );
    let m = refused(
        &mut c,
        Operation::StopInstance {
            instance_id: "i-1".into(),
        },
        "IncorrectInstanceStatus",
    );
    mentions(&m, "Running");
    assert_eq!(c.instances["i-1"].status, InstanceStatus::Stopped);
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
        "BIND_INSTANCE_HAVE_PORTMAP_OR_BIND_EIP",
    );
    ok(
        &mut c,
        dnat("ngw", "47.96.100.1", "2222", "192.168.1.11", "22"),
    );
}
