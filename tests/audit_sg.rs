//! Black-box checks of the security-group rules of SEMANTICS.md §3 (priority, drop before
//! accept, five-tuple rules, group references, defaults, statefulness), written from the
//! documents, not from the code: real frames through the public `Dataplane`.

mod audit_support;
use audit_support::*;

const BASE: &str = r#"
[scenario]
name = "audit-sg"

[[vpcs]]
id = "vpc-1"
cidr = "10.0.0.0/16"

[[vswitches]]
id = "vsw-a"
vpc = "vpc-1"
zone = "z-a"
cidr = "10.0.1.0/24"

[[nat_gateways]]
id = "ngw-1"
vpc = "vpc-1"
vswitch = "vsw-a"
snat = [ { source_cidr = "10.0.0.0/16", snat_ips = ["47.1.2.1"] } ]

[[eips]]
id = "eip-ngw"
address = "47.1.2.1"
bind = { type = "Nat", id = "ngw-1" }

[[eips]]
id = "eip-srv"
address = "47.1.1.10"
bind = { type = "EcsInstance", id = "i-srv" }

[[instances]]
id = "i-cli"
vswitch = "vsw-a"
private_ip = "10.0.1.20"
security_groups = ["sg-cli"]

[[instances]]
id = "i-other"
vswitch = "vsw-a"
private_ip = "10.0.1.21"
security_groups = ["sg-other"]

[[security_groups]]
id = "sg-cli"
vpc = "vpc-1"

[[security_groups]]
id = "sg-other"
vpc = "vpc-1"
"#;

/// `i-srv` (10.0.1.10, EIP 47.1.1.10, secondary IP 10.0.1.11 on eth0) in the groups
/// given, whose rules are given.
fn net(groups: &str, srv_groups: &str) -> Net {
    let toml = format!(
        "{BASE}\n{groups}\n[[instances]]\nid = \"i-srv\"\nvswitch = \"vsw-a\"\nprivate_ip = \"10.0.1.10\"\nsecurity_groups = {srv_groups}\n\n[[enis]]\nid = \"eni-srv2\"\nvswitch = \"vsw-a\"\nprimary_ip = \"10.0.1.30\"\nsecurity_groups = [\"sg-eni\"]\ninstance = \"i-srv\"\n\n[[security_groups]]\nid = \"sg-eni\"\nvpc = \"vpc-1\"\n"
    );
    Net::new(&toml, None)
}

fn syn_in(n: &mut Net, dport: u16) -> Sent {
    n.send(
        vpcsim::pipeline::Ingress::Internet,
        tcp(CLIENT, 40000, "47.1.1.10", dport, SYN),
        0,
    )
}

#[test]
fn sg_priority_1_is_highest_a_priority_2_drop_loses_to_a_priority_1_accept() {
    // §3 security groups: priority 1–100, 1 highest; first match decides.
    let mut n = net(
        r#"[[security_groups]]
id = "sg-a"
vpc = "vpc-1"
rules = [
  { direction = "ingress", protocol = "tcp", ports = "22/22", cidr = "0.0.0.0/0", policy = "drop", priority = 2 },
  { direction = "ingress", protocol = "tcp", ports = "22/22", cidr = "198.51.100.0/24", policy = "accept", priority = 1 },
]"#,
        r#"["sg-a"]"#,
    );
    let s = syn_in(&mut n, 22);
    assert_eq!(
        n.delivered_to(&s).as_deref(),
        Some("i-srv-eth0"),
        "{:?}",
        s.trace
    );
}

#[test]
fn sg_priority_is_numeric_10_after_9() {
    // §3: ordered by priority (a number 1–100), not by text or by order in the file.
    let mut n = net(
        r#"[[security_groups]]
id = "sg-a"
vpc = "vpc-1"
rules = [
  { direction = "ingress", protocol = "tcp", ports = "1/65535", cidr = "0.0.0.0/0", policy = "drop", priority = 10 },
  { direction = "ingress", protocol = "tcp", ports = "22/22", cidr = "0.0.0.0/0", policy = "accept", priority = 9 },
  { direction = "ingress", protocol = "tcp", ports = "80/80", cidr = "0.0.0.0/0", policy = "accept", priority = 100 },
]"#,
        r#"["sg-a"]"#,
    );
    let s = syn_in(&mut n, 22);
    assert!(n.delivered_to(&s).is_some(), "{:?}", s.trace);
    let s = syn_in(&mut n, 80);
    assert_eq!(
        s.reason(),
        Some("sg_ingress_denied"),
        "drop at 10 beats accept at 100"
    );
}

#[test]
fn sg_drop_before_accept_at_equal_priority_across_two_groups() {
    // §3: the rules of all the ENI's groups are merged; drop before accept at equal
    // priority, whichever group comes first on the ENI.
    for order in [r#"["sg-a", "sg-b"]"#, r#"["sg-b", "sg-a"]"#] {
        let mut n = net(
            r#"[[security_groups]]
id = "sg-a"
vpc = "vpc-1"
rules = [ { direction = "ingress", protocol = "tcp", ports = "22/22", cidr = "0.0.0.0/0", policy = "accept", priority = 50 } ]

[[security_groups]]
id = "sg-b"
vpc = "vpc-1"
rules = [ { direction = "ingress", protocol = "all", cidr = "198.51.100.7/32", policy = "drop", priority = 50 } ]"#,
            order,
        );
        let s = syn_in(&mut n, 22);
        assert_eq!(
            s.reason(),
            Some("sg_ingress_denied"),
            "{order}: {:?}",
            s.trace
        );
    }
}

#[test]
fn sg_port_range_bounds_are_inclusive() {
    // §3: port range a/b.
    let mut n = net(
        r#"[[security_groups]]
id = "sg-a"
vpc = "vpc-1"
rules = [ { direction = "ingress", protocol = "tcp", ports = "8000/8080", cidr = "0.0.0.0/0" } ]"#,
        r#"["sg-a"]"#,
    );
    for (p, ok) in [(7999, false), (8000, true), (8080, true), (8081, false)] {
        let s = syn_in(&mut n, p);
        assert_eq!(n.delivered_to(&s).is_some(), ok, "port {p}: {:?}", s.trace);
    }
}

#[test]
fn sg_udp_rule_does_not_admit_tcp_and_all_admits_every_protocol() {
    // §3: protocol tcp, udp, icmp, gre, all.
    let mut n = net(
        r#"[[security_groups]]
id = "sg-a"
vpc = "vpc-1"
rules = [
  { direction = "ingress", protocol = "udp", ports = "53/53", cidr = "0.0.0.0/0" },
  { direction = "ingress", protocol = "all", cidr = "198.51.100.0/24", priority = 2 },
]"#,
        r#"["sg-a"]"#,
    );
    let s = n.send(
        vpcsim::pipeline::Ingress::Internet,
        tcp("198.51.200.1", 40000, "47.1.1.10", 53, SYN),
        0,
    );
    assert_eq!(
        s.reason(),
        Some("sg_ingress_denied"),
        "a UDP rule admits no TCP"
    );
    let s = n.send(
        vpcsim::pipeline::Ingress::Internet,
        udp("198.51.200.1", 40000, "47.1.1.10", 53),
        0,
    );
    assert!(n.delivered_to(&s).is_some(), "{:?}", s.trace);
    let s = n.send(
        vpcsim::pipeline::Ingress::Internet,
        echo(CLIENT, "47.1.1.10", true, 5),
        0,
    );
    assert!(
        n.delivered_to(&s).is_some(),
        "all covers icmp: {:?}",
        s.trace
    );
}

#[test]
fn sg_five_tuple_local_cidr_restricts_an_ingress_rule_to_one_address_of_the_eni() {
    // §1/§3 five-tuple rules: DestCidrIp of an ingress rule is the ENI-side address.
    // EIP traffic arrives translated to 10.0.1.10: a rule for 10.0.1.30 only does not
    // admit it; one for 10.0.1.10/32 does.
    let mut n = net(
        r#"[[security_groups]]
id = "sg-a"
vpc = "vpc-1"
rules = [
  { direction = "ingress", protocol = "tcp", ports = "22/22", cidr = "0.0.0.0/0", local_cidr = "10.0.1.30/32" },
  { direction = "ingress", protocol = "tcp", ports = "80/80", cidr = "0.0.0.0/0", local_cidr = "10.0.1.10/32" },
]"#,
        r#"["sg-a"]"#,
    );
    assert_eq!(syn_in(&mut n, 22).reason(), Some("sg_ingress_denied"));
    let s = syn_in(&mut n, 80);
    assert!(n.delivered_to(&s).is_some(), "{:?}", s.trace);
}

#[test]
fn sg_five_tuple_source_port_range() {
    // §1/§3 five-tuple rules: SourcePortRange is the packet's source port.
    let mut n = net(
        r#"[[security_groups]]
id = "sg-a"
vpc = "vpc-1"
rules = [ { direction = "ingress", protocol = "tcp", ports = "22/22", cidr = "0.0.0.0/0", source_ports = "1000/2000" } ]"#,
        r#"["sg-a"]"#,
    );
    for (sp, ok) in [(999, false), (1000, true), (2000, true), (40000, false)] {
        let s = n.send(
            vpcsim::pipeline::Ingress::Internet,
            tcp(CLIENT, sp, "47.1.1.10", 22, SYN),
            0,
        );
        assert_eq!(
            n.delivered_to(&s).is_some(),
            ok,
            "sport {sp}: {:?}",
            s.trace
        );
    }
}

#[test]
fn sg_five_tuple_egress_local_cidr_is_the_source_address() {
    // SourceCidrIp of an egress rule is the ENI-side (source) address.
    let mut n = net(
        r#"[[security_groups]]
id = "sg-a"
vpc = "vpc-1"
rules = [
  { direction = "egress", protocol = "tcp", ports = "443/443", cidr = "0.0.0.0/0", local_cidr = "10.0.1.99/32", policy = "drop" },
  { direction = "egress", protocol = "tcp", ports = "443/443", cidr = "0.0.0.0/0", local_cidr = "10.0.1.10/32", policy = "drop", priority = 2 },
]"#,
        r#"["sg-a"]"#,
    );
    let s = n.send(
        n.guest("i-srv"),
        tcp("10.0.1.10", 40000, SERVER, 443, SYN),
        0,
    );
    assert_eq!(s.reason(), Some("sg_egress_denied"), "{:?}", s.trace);
    let s = n.send(
        n.guest("i-srv"),
        tcp("10.0.1.10", 40000, SERVER, 80, SYN),
        0,
    );
    assert!(s.is_internet(), "{:?}", s.trace);
}

#[test]
fn sg_is_stateful_an_egress_drop_rule_does_not_stop_the_reply_of_an_allowed_inbound_session() {
    // §3: a session allowed one way is allowed back.
    let mut n = net(
        r#"[[security_groups]]
id = "sg-a"
vpc = "vpc-1"
rules = [
  { direction = "ingress", protocol = "tcp", ports = "22/22", cidr = "0.0.0.0/0" },
  { direction = "egress", protocol = "all", cidr = "0.0.0.0/0", policy = "drop" },
]"#,
        r#"["sg-a"]"#,
    );
    let s = syn_in(&mut n, 22);
    assert!(n.delivered_to(&s).is_some());
    let back = n.send(
        n.guest("i-srv"),
        tcp("10.0.1.10", 22, CLIENT, 40000, SYNACK),
        1,
    );
    assert!(back.is_internet(), "{:?}", back.trace);
    assert_eq!(back.src(), ip("47.1.1.10"));
    // A new outbound connection is still denied.
    let s = n.send(
        n.guest("i-srv"),
        tcp("10.0.1.10", 40001, CLIENT, 22, SYN),
        2,
    );
    assert_eq!(s.reason(), Some("sg_egress_denied"));
}

#[test]
fn sg_basic_group_reference_admits_members_of_the_named_group_only() {
    // §3: peer = a security group, in basic groups.
    let mut n = net(
        r#"[[security_groups]]
id = "sg-a"
vpc = "vpc-1"
rules = [ { direction = "ingress", protocol = "tcp", ports = "3306/3306", group = "sg-cli" } ]"#,
        r#"["sg-a"]"#,
    );
    let s = n.send(
        n.guest("i-cli"),
        tcp("10.0.1.20", 40000, "10.0.1.10", 3306, SYN),
        0,
    );
    assert_eq!(
        n.delivered_to(&s).as_deref(),
        Some("i-srv-eth0"),
        "{:?}",
        s.trace
    );
    let s = n.send(
        n.guest("i-other"),
        tcp("10.0.1.21", 40000, "10.0.1.10", 3306, SYN),
        0,
    );
    assert_eq!(s.reason(), Some("sg_ingress_denied"), "{:?}", s.trace);
}

#[test]
fn sg_basic_default_admits_members_and_inner_access_off_isolates_them() {
    // §3: basic groups admit inbound from members of the same group; the intra-group
    // policy may be set to isolate.
    let mut n = net("", r#"["sg-cli"]"#);
    let s = n.send(
        n.guest("i-cli"),
        tcp("10.0.1.20", 40000, "10.0.1.10", 5432, SYN),
        0,
    );
    assert!(n.delivered_to(&s).is_some(), "{:?}", s.trace);
    let s = n.send(
        n.guest("i-other"),
        tcp("10.0.1.21", 40000, "10.0.1.10", 5432, SYN),
        0,
    );
    assert_eq!(s.reason(), Some("sg_ingress_denied"));

    let toml = BASE.replace(
        "[[security_groups]]\nid = \"sg-cli\"\nvpc = \"vpc-1\"\n",
        "[[security_groups]]\nid = \"sg-cli\"\nvpc = \"vpc-1\"\ninner_access = false\n",
    );
    let toml = format!("{toml}\n[[instances]]\nid = \"i-srv\"\nvswitch = \"vsw-a\"\nprivate_ip = \"10.0.1.10\"\nsecurity_groups = [\"sg-cli\"]\n");
    let mut n = Net::new(&toml, None);
    let s = n.send(
        n.guest("i-cli"),
        tcp("10.0.1.20", 40000, "10.0.1.10", 5432, SYN),
        0,
    );
    assert_eq!(s.reason(), Some("sg_ingress_denied"), "{:?}", s.trace);
}

#[test]
fn sg_each_eni_is_judged_by_its_own_groups() {
    // §1: an ENI has 1..N security groups of its own; eth1's groups decide for traffic
    // to eth1, not eth0's.
    let mut n = net(
        r#"[[security_groups]]
id = "sg-a"
vpc = "vpc-1"
rules = [ { direction = "ingress", protocol = "tcp", ports = "22/22", cidr = "0.0.0.0/0" } ]"#,
        r#"["sg-a"]"#,
    );
    let s = n.send(
        n.guest("i-cli"),
        tcp("10.0.1.20", 40000, "10.0.1.10", 22, SYN),
        0,
    );
    assert!(n.delivered_to(&s).is_some());
    let s = n.send(
        n.guest("i-cli"),
        tcp("10.0.1.20", 40000, "10.0.1.30", 22, SYN),
        0,
    );
    assert_eq!(s.reason(), Some("sg_ingress_denied"), "{:?}", s.trace);
}

#[test]
fn sg_hairpin_to_an_eip_is_judged_by_the_public_source_address() {
    // §3: traffic to an EIP from inside the VPC reaches it from the sender's public
    // address (the SNAT EIP), so a rule naming the sender's private address does not
    // admit it, and one naming the SNAT EIP does.
    let mut n = net(
        r#"[[security_groups]]
id = "sg-a"
vpc = "vpc-1"
rules = [
  { direction = "ingress", protocol = "tcp", ports = "22/22", cidr = "10.0.1.20/32" },
  { direction = "ingress", protocol = "tcp", ports = "80/80", cidr = "47.1.2.1/32" },
]"#,
        r#"["sg-a"]"#,
    );
    let s = n.send(
        n.guest("i-cli"),
        tcp("10.0.1.20", 40000, "47.1.1.10", 22, SYN),
        0,
    );
    assert_eq!(s.reason(), Some("sg_ingress_denied"), "{:?}", s.trace);
    let s = n.send(
        n.guest("i-cli"),
        tcp("10.0.1.20", 40001, "47.1.1.10", 80, SYN),
        0,
    );
    assert_eq!(
        n.delivered_to(&s).as_deref(),
        Some("i-srv-eth0"),
        "{:?}",
        s.trace
    );
    assert_eq!(s.src(), ip("47.1.2.1"));
}

#[test]
fn sg_enterprise_group_refuses_a_group_reference() {
    // §3: enterprise groups take no group references (AuthorizeSecurityGroup).
    let toml = format!(
        "{BASE}\n[[security_groups]]\nid = \"sg-ent\"\nvpc = \"vpc-1\"\ntype = \"enterprise\"\nrules = [ {{ direction = \"ingress\", protocol = \"tcp\", ports = \"22/22\", group = \"sg-cli\" }} ]\n"
    );
    let e = vpcsim::scenario::Scenario::parse(&toml, "audit.toml");
    assert!(
        e.is_err(),
        "an enterprise group with a group reference was accepted"
    );
}

#[test]
fn sg_egress_rule_with_a_destination_group_applies_to_that_groups_members_only() {
    // §3: peer = a security group (DestGroupId on an egress rule), basic groups.
    let mut n = net(
        r#"[[security_groups]]
id = "sg-a"
vpc = "vpc-1"
rules = [ { direction = "egress", protocol = "tcp", ports = "5432/5432", group = "sg-other", policy = "drop" } ]"#,
        r#"["sg-a"]"#,
    );
    // i-other (sg-other) admits nothing by default from sg-a members, so judge the
    // egress side only: the drop names the rule for i-other, and i-cli is not affected.
    let s = n.send(
        n.guest("i-srv"),
        tcp("10.0.1.10", 40000, "10.0.1.21", 5432, SYN),
        0,
    );
    assert_eq!(s.reason(), Some("sg_egress_denied"), "{:?}", s.trace);
    let s = n.send(
        n.guest("i-srv"),
        tcp("10.0.1.10", 40000, "10.0.1.20", 5432, SYN),
        0,
    );
    assert_ne!(s.reason(), Some("sg_egress_denied"), "{:?}", s.trace);
}

#[test]
fn sg_established_session_lives_910_seconds_after_its_last_packet_and_no_longer() {
    // §3: stateful, session lifetime up to 910 s. An enterprise group denies outbound,
    // so the server's packet gets out only as part of the session.
    let toml = format!(
        "{BASE}\n[[security_groups]]\nid = \"sg-ent\"\nvpc = \"vpc-1\"\ntype = \"enterprise\"\nrules = [ {{ direction = \"ingress\", protocol = \"tcp\", ports = \"22/22\", cidr = \"0.0.0.0/0\" }} ]\n\n[[instances]]\nid = \"i-srv\"\nvswitch = \"vsw-a\"\nprivate_ip = \"10.0.1.10\"\nsecurity_groups = [\"sg-ent\"]\n"
    );
    for (idle, alive) in [(900u64, true), (910, true), (912, false)] {
        let mut n = Net::new(&toml, None);
        let s = syn_in(&mut n, 22);
        assert!(n.delivered_to(&s).is_some(), "{:?}", s.trace);
        let b = n.send(
            n.guest("i-srv"),
            tcp("10.0.1.10", 22, CLIENT, 40000, SYNACK),
            0,
        );
        assert!(b.is_internet());
        let a = n.send(
            vpcsim::pipeline::Ingress::Internet,
            tcp(CLIENT, 40000, "47.1.1.10", 22, ACK),
            1,
        );
        assert!(n.delivered_to(&a).is_some());
        let late = n.send(
            n.guest("i-srv"),
            tcp("10.0.1.10", 22, CLIENT, 40000, ACK),
            1 + idle,
        );
        assert_eq!(
            late.is_internet(),
            alive,
            "idle {idle} s: {:?} {:?}",
            late.reason(),
            late.trace
        );
    }
}
