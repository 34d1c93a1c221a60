//! EIP operations: ConvertNatPublicIpToEip, AssociateEipAddress (every target and ENI mode).

use super::*;

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
        "OperationDenied",
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
        "IncorrectEipStatus",
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
        "EIP_CAN_NOT_ASSOCIATE_WITH_PUBLIC_IP",
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
        "InvalidAssociation.Duplicated",
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
        "Forbindden",
    );
    mentions(&m, "unassociate the EIP");
    ok(&mut c, unassociate("eip-x", "i-1"));
    ok(
        &mut c,
        dnat("ngw", "47.96.100.1", "2222", "192.168.1.10", "22"),
    );
}

pub(crate) fn many_eips(prefix: &str, n: usize, third: u8, charge: &str) -> String {
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
        "QuotaExceeded.NumberOfEip",
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
        "QuotaExceeded.NumberOfTrafficEip",
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
        "Forbidden.EipCanNotBindGatgw",
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
    ok(&mut c, create_eni("eni-ct", "vsw-h", "sg-a"));
    ok(&mut c, attach("eni-ct", "i-1"));
    let m = refused(
        &mut c,
        associate_eni("eip-x", "eni-ct", EniMode::CutThrough, None),
        "Eni.Attached",
    );
    mentions(&m, "detach");
    ok(&mut c, detach("eni-ct", "i-1"));
    ok(
        &mut c,
        associate_eni("eip-x", "eni-ct", EniMode::CutThrough, None),
    );
    let b = c.eips["eip-x"].binding.clone().unwrap();
    assert_eq!(b.mode, EniMode::CutThrough);
    assert_eq!(b.private_ip, None, "the EIP replaces the ENI's private IP");
    // Then it is attached again.
    ok(&mut c, attach("eni-ct", "i-1"));
}

#[test]
fn eni_cut_through_mode_one_eip_per_eni() {
    let mut c = cloud(&format!("{TARGETS}{EIP_X}"));
    ok(&mut c, create_eni("eni-ct", "vsw-h", "sg-a"));
    ok(
        &mut c,
        associate_eni("eip-x", "eni-ct", EniMode::CutThrough, None),
    );
    let m = refused(
        &mut c,
        associate_eni("eip-y", "eni-ct", EniMode::CutThrough, None),
        "InvalidAssociation.Duplicated",
    );
    mentions(&m, "one EIP per ENI");
    ok(&mut c, unassociate("eip-x", "eni-ct"));
    ok(
        &mut c,
        associate_eni("eip-y", "eni-ct", EniMode::CutThrough, None),
    );
}

#[test]
fn eni_cut_through_mode_refused_on_eni_with_secondary_private_ips() {
    // eni-s has the secondary private IP 192.168.1.101.
    let mut c = cloud(&format!("{TARGETS}{EIP_X}"));
    ok(&mut c, detach("eni-s", "i-2"));
    let m = refused(
        &mut c,
        associate_eni("eip-x", "eni-s", EniMode::CutThrough, None),
        "Eni.HasSubIp",
    );
    mentions(&m, "192.168.1.101");
    // Positive controls: the same ENI takes the EIP in NAT mode, and a detached ENI
    // without secondary private IPs takes it cut-through.
    ok(&mut c, create_eni("eni-ct", "vsw-h", "sg-a"));
    ok(
        &mut c,
        associate_eni("eip-x", "eni-ct", EniMode::CutThrough, None),
    );
    ok(&mut c, associate_eni("eip-y", "eni-s", EniMode::Nat, None));
}

#[test]
fn cut_through_eni_takes_no_secondary_private_ips() {
    let mut c = cloud(&format!("{TARGETS}{EIP_X}"));
    ok(&mut c, create_eni("eni-ct", "vsw-h", "sg-a"));
    ok(
        &mut c,
        associate_eni("eip-x", "eni-ct", EniMode::CutThrough, None),
    );
    let m = refused(
        &mut c,
        assign_ips("eni-ct", 1),
        "InvalidOperation.EniCutThrough",
    );
    assert!(
        m.ends_with(vpcsim::model::error::OWN_CODE_NOTE),
        "a code vpcsim invents says so: {m}"
    );
    ok(&mut c, unassociate("eip-x", "eni-ct"));
    ok(&mut c, assign_ips("eni-ct", 1));
}

#[test]
fn eni_one_binding_mode_per_eni() {
    // NAT-mode EIP first, then cut-through on the same (detached) ENI: Mode.Conflict,
    // not "already has an EIP".
    let mut c = cloud(&format!("{TARGETS}{EIP_X}"));
    ok(&mut c, create_eni("eni-ct", "vsw-h", "sg-a"));
    ok(&mut c, associate_eni("eip-x", "eni-ct", EniMode::Nat, None));
    let m = refused(
        &mut c,
        associate_eni("eip-y", "eni-ct", EniMode::CutThrough, None),
        "Mode.Conflict",
    );
    mentions(&m, "one mode");
    refused(
        &mut c,
        associate_eni("eip-y", "eni-ct", EniMode::MultiEip, None),
        "Mode.Conflict",
    );
    ok(&mut c, unassociate("eip-x", "eni-ct"));
    ok(
        &mut c,
        associate_eni("eip-y", "eni-ct", EniMode::CutThrough, None),
    );
}

#[test]
fn cut_through_state_view_shows_the_eip_as_the_eni_address() {
    let mut c = cloud(&format!("{TARGETS}{EIP_X}"));
    ok(&mut c, create_eni("eni-ct", "vsw-h", "sg-a"));
    let before = vpcsim::scenario::run::describe(&c, "eni-ct").unwrap();
    let private = before["primary_ip"].clone();
    assert_ne!(private, serde_json::json!("47.96.200.1"));
    let changes = ok(
        &mut c,
        associate_eni("eip-x", "eni-ct", EniMode::CutThrough, None),
    );
    // What the step changed names the ENI's new address ...
    assert!(
        changes
            .iter()
            .any(|l| l.starts_with("eni-ct: ") && l.contains("47.96.200.1")),
        "{changes:?}"
    );
    // ... and the state view shows it, with the replaced private IP beside it.
    let v = vpcsim::scenario::run::describe(&c, "eni-ct").unwrap();
    assert_eq!(v["primary_ip"], serde_json::json!("47.96.200.1"));
    assert_eq!(v["cut_through_eip"], serde_json::json!("eip-x"));
    assert_eq!(v["replaced_private_ip"], private);
    // Unbinding gives the private IP back, in the view and in the changes.
    let changes = ok(&mut c, unassociate("eip-x", "eni-ct"));
    assert!(
        changes.iter().any(|l| l.starts_with("eni-ct: ")),
        "{changes:?}"
    );
    let v = vpcsim::scenario::run::describe(&c, "eni-ct").unwrap();
    assert_eq!(v["primary_ip"], private);
    assert!(v.get("cut_through_eip").is_none());
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
        "Mode.Conflict",
    );
}

/// ReleaseEipAddress: only an EIP bound to nothing (Available) is released.
#[test]
fn release_eip_refused_while_bound() {
    let mut c = cloud(EIP_X);
    ok(&mut c, associate("eip-x", "i-1", EipTarget::EcsInstance));
    let release = || Operation::ReleaseEipAddress {
        allocation_id: "eip-x".into(),
    };
    let m = refused(&mut c, release(), "IncorrectEipStatus");
    mentions(&m, "i-1");
    ok(&mut c, unassociate("eip-x", "i-1"));
    ok(&mut c, release());
    assert!(!c.eips.contains_key("eip-x"));
}
