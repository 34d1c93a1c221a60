//! Black-box checks of SEMANTICS.md §5 "Changes while traffic flows": one data plane
//! lives across the steps; established sessions are judged as the [decision] says.

mod audit_support;
use audit_support::*;
use vpcsim::pipeline::Ingress;

const TOPO: &str = r#"
[scenario]
name = "audit-changes"

[[vpcs]]
id = "vpc-1"
cidr = "10.0.0.0/16"

[[vswitches]]
id = "vsw-a"
vpc = "vpc-1"
zone = "z-a"
cidr = "10.0.1.0/24"

[[security_groups]]
id = "sg-a"
vpc = "vpc-1"
rules = [ { direction = "ingress", protocol = "tcp", ports = "22/22", cidr = "0.0.0.0/0", priority = 50 } ]

[[security_groups]]
id = "sg-deny"
vpc = "vpc-1"
rules = [ { direction = "ingress", protocol = "tcp", ports = "22/22", cidr = "0.0.0.0/0", policy = "drop", priority = 1 } ]

[[instances]]
id = "i-srv"
vswitch = "vsw-a"
private_ip = "10.0.1.10"
security_groups = ["sg-a"]

[[instances]]
id = "i-other"
vswitch = "vsw-a"
private_ip = "10.0.1.11"
security_groups = ["sg-a"]

[[eips]]
id = "eip-srv"
address = "47.1.1.10"
bind = { type = "EcsInstance", id = "i-srv" }
"#;

/// An ssh session from the Internet to the EIP, established at step 0.
fn establish(l: &mut Live) {
    let n = &mut l.net;
    let s = n.send(
        Ingress::Internet,
        tcp(CLIENT, 40000, "47.1.1.10", 22, SYN),
        0,
    );
    assert_eq!(
        n.delivered_to(&s).as_deref(),
        Some("i-srv-eth0"),
        "{:?}",
        s.trace
    );
    let b = n.send(
        n.guest("i-srv"),
        tcp("10.0.1.10", 22, CLIENT, 40000, SYNACK),
        0,
    );
    assert!(b.is_internet(), "{:?}", b.trace);
    let a = n.send(
        Ingress::Internet,
        tcp(CLIENT, 40000, "47.1.1.10", 22, ACK),
        1,
    );
    assert!(n.delivered_to(&a).is_some());
}

fn next_client_packet(l: &mut Live) -> Sent {
    l.net.send(
        Ingress::Internet,
        tcp(CLIENT, 40000, "47.1.1.10", 22, ACK),
        5,
    )
}

fn with_steps(steps: &str) -> String {
    format!("{TOPO}\n{steps}")
}

#[test]
fn adding_a_higher_priority_drop_rule_never_breaks_an_established_session() {
    // §5 [decision]: "Adding rules or joining a group never breaks a session".
    let mut l = Live::new(&with_steps(
        r#"[[steps]]
op = "AuthorizeSecurityGroup"
SecurityGroupId = "sg-a"
IpProtocol = "tcp"
PortRange = "22/22"
SourceCidrIp = "0.0.0.0/0"
Policy = "drop"
Priority = 1
"#,
    ));
    establish(&mut l);
    l.change_to(1);
    let s = next_client_packet(&mut l);
    assert!(
        l.net.delivered_to(&s).is_some(),
        "the added drop rule ended the session: {:?} {:?}",
        s.reason(),
        s.trace
    );
    // A new session is denied by the new rule.
    let s = l.net.send(
        Ingress::Internet,
        tcp(CLIENT, 40001, "47.1.1.10", 22, SYN),
        6,
    );
    assert_eq!(s.reason(), Some("sg_ingress_denied"));
}

#[test]
fn joining_a_group_with_a_drop_rule_never_breaks_an_established_session() {
    // §5 [decision]: joining a group never breaks a session.
    let mut l = Live::new(&with_steps(
        r#"[[steps]]
op = "JoinSecurityGroup"
SecurityGroupId = "sg-deny"
InstanceId = "i-srv"
"#,
    ));
    establish(&mut l);
    l.change_to(1);
    let s = next_client_packet(&mut l);
    assert!(
        l.net.delivered_to(&s).is_some(),
        "joining sg-deny ended the session: {:?} {:?}",
        s.reason(),
        s.trace
    );
}

#[test]
fn revoking_the_rule_that_admitted_a_session_ends_it_at_its_next_packet() {
    // §5 [decision]: revoking a rule drops an established session at its next packet if
    // its original direction would now be denied — whichever side sends next.
    let steps = r#"[[steps]]
op = "RevokeSecurityGroup"
SecurityGroupId = "sg-a"
IpProtocol = "tcp"
PortRange = "22/22"
SourceCidrIp = "0.0.0.0/0"
Priority = 50
"#;
    let mut l = Live::new(&with_steps(steps));
    establish(&mut l);
    l.change_to(1);
    let s = next_client_packet(&mut l);
    assert_eq!(s.reason(), Some("flow_ended_by_change"), "{:?}", s.trace);

    let mut l = Live::new(&with_steps(steps));
    establish(&mut l);
    l.change_to(1);
    let n = &mut l.net;
    let s = n.send(
        n.guest("i-srv"),
        tcp("10.0.1.10", 22, CLIENT, 40000, ACK),
        5,
    );
    assert_eq!(
        s.reason(),
        Some("flow_ended_by_change"),
        "server side: {:?}",
        s.trace
    );
}

#[test]
fn unbinding_the_eip_ends_the_session_and_rebinding_elsewhere_does_not_revive_it() {
    // §5: unbinding an EIP ends the sessions that depend on it; rebinding the same EIP
    // elsewhere does not revive them.
    let mut l = Live::new(&with_steps(
        r#"[[steps]]
op = "UnassociateEipAddress"
AllocationId = "eip-srv"
InstanceId = "i-srv"

[[steps]]
op = "AssociateEipAddress"
AllocationId = "eip-srv"
InstanceId = "i-other"
"#,
    ));
    establish(&mut l);
    l.change_to(1);
    let s = next_client_packet(&mut l);
    assert_eq!(s.reason(), Some("flow_ended_by_change"), "{:?}", s.trace);
    l.change_to(2);
    let s = next_client_packet(&mut l);
    // The mid-stream ACK is a new flow now: it reaches i-other, not i-srv's session.
    assert_ne!(
        l.net.delivered_to(&s).as_deref(),
        Some("i-srv-eth0"),
        "{:?}",
        s.trace
    );
    let n = &mut l.net;
    let s = n.send(
        n.guest("i-srv"),
        tcp("10.0.1.10", 22, CLIENT, 40000, ACK),
        6,
    );
    assert!(
        !(s.is_internet() && s.src() == ip("47.1.1.10")),
        "i-srv's old session still leaves from the EIP: {:?}",
        s.trace
    );
}

#[test]
fn stopping_the_instance_ends_its_sessions() {
    // §5: stopping an instance ends the sessions that depend on it.
    let mut l = Live::new(&with_steps(
        r#"[[steps]]
op = "StopInstance"
InstanceId = "i-srv"
"#,
    ));
    establish(&mut l);
    l.change_to(1);
    let s = next_client_packet(&mut l);
    assert!(
        matches!(
            s.reason(),
            Some("flow_ended_by_change") | Some("instance_not_running")
        ),
        "{:?} {:?}",
        s.reason(),
        s.trace
    );
}

#[test]
fn a_drop_rule_added_earlier_still_does_not_end_the_session_at_a_later_unrelated_change() {
    // The drop rules a session was born under are the ones that count, however many
    // changes come after; revoking the rule that admitted it still ends it.
    let steps = r#"[[steps]]
op = "AuthorizeSecurityGroup"
SecurityGroupId = "sg-a"
IpProtocol = "tcp"
PortRange = "22/22"
SourceCidrIp = "0.0.0.0/0"
Policy = "drop"
Priority = 1

[[steps]]
op = "AuthorizeSecurityGroup"
SecurityGroupId = "sg-a"
IpProtocol = "tcp"
PortRange = "80/80"
SourceCidrIp = "0.0.0.0/0"

[[steps]]
op = "RevokeSecurityGroup"
SecurityGroupId = "sg-a"
IpProtocol = "tcp"
PortRange = "22/22"
SourceCidrIp = "0.0.0.0/0"
Priority = 50
"#;
    let mut l = Live::new(&with_steps(steps));
    establish(&mut l);
    l.change_to(1);
    let s = next_client_packet(&mut l);
    assert!(l.net.delivered_to(&s).is_some(), "{:?}", s.trace);
    l.change_to(2);
    let s = l.net.send(
        Ingress::Internet,
        tcp(CLIENT, 40000, "47.1.1.10", 22, ACK),
        7,
    );
    assert!(
        l.net.delivered_to(&s).is_some(),
        "after step 2: {:?}",
        s.trace
    );
    l.change_to(3);
    let s = l.net.send(
        Ingress::Internet,
        tcp(CLIENT, 40000, "47.1.1.10", 22, ACK),
        8,
    );
    assert_eq!(s.reason(), Some("flow_ended_by_change"), "{:?}", s.trace);
}

#[test]
fn revoking_an_accept_rule_in_front_of_an_old_drop_rule_ends_the_session() {
    // The drop rule was there when the session was born (behind the accept rule):
    // once the accept rule is revoked, the original direction is denied.
    let toml = TOPO.replace(
        r#"rules = [ { direction = "ingress", protocol = "tcp", ports = "22/22", cidr = "0.0.0.0/0", priority = 50 } ]"#,
        r#"rules = [ { direction = "ingress", protocol = "tcp", ports = "22/22", cidr = "0.0.0.0/0", priority = 50 }, { direction = "ingress", protocol = "all", cidr = "0.0.0.0/0", policy = "drop", priority = 60 }, { direction = "ingress", protocol = "tcp", ports = "1/100", cidr = "0.0.0.0/0", priority = 70 } ]"#,
    );
    let mut l = Live::new(&format!(
        "{toml}\n[[steps]]\nop = \"RevokeSecurityGroup\"\nSecurityGroupId = \"sg-a\"\nIpProtocol = \"tcp\"\nPortRange = \"22/22\"\nSourceCidrIp = \"0.0.0.0/0\"\nPriority = 50\n"
    ));
    establish(&mut l);
    l.change_to(1);
    let s = next_client_packet(&mut l);
    assert_eq!(s.reason(), Some("flow_ended_by_change"), "{:?}", s.trace);
}
