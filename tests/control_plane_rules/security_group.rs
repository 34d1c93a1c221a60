//! Security groups: Join/Leave, Authorize/Revoke.

use super::*;

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
    let m = refused(&mut c, join("sg-b", "i-1"), "InvalidInstanceId.Mismatch");
    mentions(&m, "same network");
    ok(&mut c, join("sg-a2", "i-1"));
}

#[test]
fn instance_groups_all_basic_or_all_enterprise() {
    let mut c = cloud("");
    let m = refused(
        &mut c,
        join("sg-ent", "i-1"),
        "InvalidOperation.MultiGroupType",
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
        "InvalidOperation.MultiGroupType",
    );
}

#[test]
fn instance_cannot_leave_its_last_security_group() {
    let mut c = cloud("");
    let m = refused(&mut c, leave("sg-a", "i-1"), "InstanceLastSecurityGroup");
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
    let rule = |sg: &str, peer: Option<&str>| match peer {
        Some(g) => ingress_rule(sg, Peer::Group(g), "22/22", None),
        None => ingress_rule(sg, Peer::Cidr("10.0.0.0/8"), "22/22", None),
    };
    let m = refused(
        &mut c,
        rule("sg-ent", Some("sg-a")),
        "InvalidParameter.EnterpriseGroupReference",
    );
    mentions(&m, "SourceCidrIp");
    ok(&mut c, rule("sg-ent", None));
    ok(&mut c, rule("sg-a", Some("sg-a2")));
}

#[test]
fn security_group_rule_cannot_reference_its_own_group() {
    let mut c = cloud("");
    let m = refused(
        &mut c,
        ingress_rule("sg-a", Peer::Group("sg-a"), "22/22", None),
        "InvalidParamter.Conflict",
    );
    mentions(&m, "its own group");
    ok(
        &mut c,
        ingress_rule("sg-a", Peer::Group("sg-a2"), "22/22", None),
    );
}

#[test]
fn security_group_rule_references_only_existing_groups_of_its_vpc() {
    let mut c = cloud("");
    refused(
        &mut c,
        ingress_rule("sg-a", Peer::Group("sg-nope"), "22/22", None),
        "InvalidSourceGroupId.NotFound",
    );
    let m = refused(
        &mut c,
        ingress_rule("sg-a", Peer::Group("sg-b"), "22/22", None),
        "InvalidSourceGroupId.Mismatch",
    );
    mentions(&m, "vpc-b");
    ok(
        &mut c,
        ingress_rule("sg-a", Peer::Group("sg-a2"), "22/22", None),
    );
}

#[test]
fn security_group_rule_priority_is_1_to_100() {
    let mut c = cloud("");
    for bad in [0, 101] {
        refused(
            &mut c,
            ingress_rule("sg-a", Peer::Cidr("10.0.0.0/8"), "22/22", Some(bad)),
            "InvalidPriority.Malformed",
        );
    }
    for good in [1, 100] {
        ok(
            &mut c,
            ingress_rule("sg-a", Peer::Cidr("10.0.0.0/8"), "22/22", Some(good)),
        );
    }
}

#[test]
fn security_group_rule_port_range_is_well_formed() {
    let mut c = cloud("");
    for bad in ["22", "0/22", "30/20", "-1/-1", "1/65536"] {
        refused(
            &mut c,
            ingress_rule("sg-a", Peer::Cidr("10.0.0.0/8"), bad, None),
            "InvalidPortRange.Malformed",
        );
    }
    ok(
        &mut c,
        ingress_rule("sg-a", Peer::Cidr("10.0.0.0/8"), "20/30", None),
    );
}

#[test]
fn join_security_group_needs_running_or_stopped_instance() {
    let mut c = cloud(
        r#"
[[instances]]
id = "i-starting"
vswitch = "vsw-h"
status = "Starting"
security_groups = ["sg-a"]
"#,
    );
    let m = refused(
        &mut c,
        join("sg-a2", "i-starting"),
        "IncorrectInstanceStatus",
    );
    mentions(&m, "Running or Stopped");
    ok(
        &mut c,
        Operation::StopInstance {
            instance_id: "i-1".into(),
        },
    );
    ok(&mut c, join("sg-a2", "i-1"));
}

#[test]
fn leave_security_group_refused_when_not_a_member() {
    let mut c = cloud("");
    ok(&mut c, join("sg-a2", "i-2"));
    let m = refused(
        &mut c,
        leave("sg-a2", "i-1"),
        "InvalidSecurityGroupAssociation.NotFound",
    );
    mentions(&m, "not in sg-a2");
    refused(
        &mut c,
        leave("sg-nope", "i-1"),
        "InvalidSecurityGroupId.NotFound",
    );
    ok(&mut c, leave("sg-a2", "i-2"));
}
