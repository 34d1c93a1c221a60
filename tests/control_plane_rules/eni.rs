//! ENI operations: CreateNetworkInterface, Attach/Detach/DeleteNetworkInterface, AssignPrivateIpAddresses.

use super::*;

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
    let m = refused(&mut c, mk("192.168.2.50"), "InvalidVSwitchId.IpInvalid");
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
