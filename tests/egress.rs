//! `vpcsim egress` tells the truth about the guest (issue 11 part 5): egress probes are
//! sent by the guest OS, an ingress path counts only when the reply gets back out, and
//! every DNAT entry of every NAT gateway is probed (TCP and UDP, ranges as one probe).

use vpcsim::probe::{egress_table, EgressRow, IngressEntry};
use vpcsim::scenario::Scenario;

mod support;

fn builtin() -> Scenario {
    Scenario::load(None).unwrap()
}

fn after(sc: &Scenario, id: &str) -> Vec<EgressRow> {
    let n = sc.resolve(&vpcsim::check::StepRef::Id(id.into())).unwrap();
    egress_table(&sc.state_after(n), 22)
}

fn row<'a>(rows: &'a [EgressRow], ip: &str) -> &'a EgressRow {
    rows.iter()
        .find(|r| r.private_ip.map(|i| i.to_string()).as_deref() == Some(ip))
        .unwrap_or_else(|| panic!("no row for {ip}: {rows:#?}"))
}

fn labels(v: &[IngressEntry]) -> Vec<String> {
    v.iter().map(IngressEntry::label).collect()
}

/// SEMANTICS.md §3 (guest OS routing): without policy routes the guest answers eth1's
/// traffic through eth0, and the VPC drops it (source check). The EIP on the secondary
/// ENI is then not reachable, although its SYN arrives.
#[test]
fn guest_rule_eip_on_secondary_eni_without_policy_routes_is_blocked_by_the_reply() {
    let sc = builtin();
    let rows = after(&sc, "remove-policy-routes");
    let eth1 = row(&rows, "192.168.1.100");
    assert!(
        eth1.ingress.is_empty(),
        "not reachable: {:?}",
        labels(&eth1.ingress)
    );
    let b = &eth1.ingress_blocked;
    assert_eq!(labels(b), ["47.96.10.20 tcp/22"]);
    assert_eq!(b[0].dropped, Some("reply"));
    assert_eq!(b[0].reason.as_deref(), Some("eni_source_check"));
    assert_eq!(b[0].via, "eip");
    // The same address is reachable once policy routes are back.
    let rows = after(&sc, "restore-policy-routes");
    let eth1 = row(&rows, "192.168.1.100");
    assert_eq!(labels(&eth1.ingress), ["47.96.10.20 tcp/22"]);
    assert!(eth1.ingress_blocked.is_empty());
}

/// Egress is sent by the guest: without policy routes a connection from eth1's address
/// leaves by eth0 and is dropped by the source check, as `trace --from i-web` says.
#[test]
fn guest_rule_egress_from_secondary_address_follows_the_guest_routing() {
    let sc = builtin();
    let rows = after(&sc, "remove-policy-routes");
    let eth1 = row(&rows, "192.168.1.100");
    assert_eq!(eth1.egress_ip, None);
    assert_eq!(eth1.reason.as_deref(), Some("eni_source_check"));
    let rows = after(&sc, "restore-policy-routes");
    let eth1 = row(&rows, "192.168.1.100");
    assert_eq!(
        eth1.egress_ip.map(|i| i.to_string()).as_deref(),
        Some("47.96.10.20")
    );
    assert_eq!(eth1.via, "eip");
}

/// An ENI attached to no instance has no guest: it says eni_not_attached.
#[test]
fn unattached_eni_says_eni_not_attached() {
    let sc = builtin();
    let rows = after(&sc, "create-eni-zone-i");
    let r = rows.iter().find(|r| r.eni == "eni-zone-i").unwrap();
    assert_eq!(r.instance, None);
    assert_eq!(r.reason.as_deref(), Some("eni_not_attached"));
    assert_eq!(r.egress_ip, None);
}

const DNAT: &str = concat!(
    support::scenario!("dnat"),
    support::vpc_1!("cn-hangzhou-h"),
    r#"[[security_groups]]
id = "sg-1"
vpc = "vpc-1"
type = "normal"
rules = [
  { direction = "ingress", protocol = "tcp", ports = "22/22", cidr = "0.0.0.0/0" },
  { direction = "ingress", protocol = "udp", ports = "53/53", cidr = "0.0.0.0/0" },
  { direction = "ingress", protocol = "tcp", ports = "9000/9010", cidr = "0.0.0.0/0" },
  { direction = "ingress", protocol = "tcp", ports = "101/105", cidr = "0.0.0.0/0" },
]
[[instances]]
id = "i-a"
vswitch = "vsw-a"
private_ip = "10.0.1.10"
security_groups = ["sg-1"]
[[instances]]
id = "i-b"
vswitch = "vsw-a"
private_ip = "10.0.1.11"
security_groups = ["sg-1"]
[[nat_gateways]]
id = "ngw-1"
vpc = "vpc-1"
vswitch = "vsw-a"
snat = [ { id = "snat-1", source_cidr = "10.0.0.0/16", snat_ips = ["47.1.2.1"] } ]
dnat = [
  { id = "d-ssh", external_ip = "47.1.2.1", external_port = "2222", internal_ip = "10.0.1.10", internal_port = "22", protocol = "TCP" },
  { id = "d-dns", external_ip = "47.1.2.1", external_port = "53", internal_ip = "10.0.1.10", internal_port = "53", protocol = "UDP" },
  { id = "d-web", external_ip = "47.1.2.1", external_port = "8080", internal_ip = "10.0.1.10", internal_port = "80", protocol = "TCP" },
  { id = "d-ipmap", external_ip = "47.1.2.2", internal_ip = "10.0.1.11" },
  { id = "d-range", external_ip = "47.1.2.1", external_port = "9000/9010", internal_ip = "10.0.1.10", internal_port = "9000/9010", protocol = "TCP" },
  { id = "d-1", external_ip = "47.1.2.1", external_port = "101", internal_ip = "10.0.1.10", internal_port = "101", protocol = "TCP" },
  { id = "d-2", external_ip = "47.1.2.1", external_port = "102", internal_ip = "10.0.1.10", internal_port = "102", protocol = "TCP" },
  { id = "d-3", external_ip = "47.1.2.1", external_port = "103", internal_ip = "10.0.1.10", internal_port = "103", protocol = "TCP" },
  { id = "d-4", external_ip = "47.1.2.1", external_port = "104", internal_ip = "10.0.1.10", internal_port = "104", protocol = "TCP" },
  { id = "d-5", external_ip = "47.1.2.1", external_port = "105", internal_ip = "10.0.1.10", internal_port = "105", protocol = "TCP" },
]
"#,
    support::eip!("eip-1", "47.1.2.1", "Nat", "ngw-1"),
    support::eip!("eip-2", "47.1.2.2", "Nat", "ngw-1"),
);

/// NAT gateway DNAT (SEMANTICS.md §3): every entry is a way in; one the security group
/// blocks is listed under its private IP with the reason, not left out.
#[test]
fn dnat_rule_entry_blocked_by_the_security_group_is_listed_with_its_reason() {
    let sc = Scenario::parse(DNAT, "dnat.toml").unwrap();
    let rows = egress_table(&sc.initial, 22);
    let r = row(&rows, "10.0.1.10");
    let web = r
        .ingress_blocked
        .iter()
        .find(|x| x.resource == "d-web")
        .unwrap_or_else(|| panic!("d-web missing: {:?}", labels(&r.ingress_blocked)));
    assert_eq!(web.label(), "47.1.2.1 tcp/8080");
    assert_eq!(web.dropped, Some("probe"));
    assert_eq!(web.reason.as_deref(), Some("sg_ingress_denied"));
    assert_eq!(web.via, "dnat");
}

/// Every DNAT entry is probed — more than eight, UDP too, `Any` as TCP and UDP, a port
/// range as one probe, an IP mapping (`Any`) as TCP and UDP.
#[test]
fn dnat_rule_every_entry_and_protocol_is_probed() {
    let sc = Scenario::parse(DNAT, "dnat.toml").unwrap();
    let rows = egress_table(&sc.initial, 22);
    let r = row(&rows, "10.0.1.10");
    let reached = labels(&r.ingress);
    for want in [
        "47.1.2.1 tcp/2222",
        "47.1.2.1 udp/53",
        "47.1.2.1 tcp/9000-9010",
        "47.1.2.1 tcp/101",
        "47.1.2.1 tcp/105",
    ] {
        assert!(
            reached.iter().any(|l| l == want),
            "{want} not in {reached:?}"
        );
    }
    let blocked = labels(&r.ingress_blocked);
    assert_eq!(blocked, ["47.1.2.1 tcp/8080"]);
    assert_eq!(reached.len(), 8, "9 entries map to i-a: {reached:?}");
    // The IP mapping (protocol Any) is probed as TCP and UDP; the group opens 22 for
    // TCP only.
    // A range the group opens only in part is split where the group's rules cut it,
    // so no port is said to be reachable that is not.
    let mut text = DNAT.replace("ports = \"9000/9010\"", "ports = \"9000/9004\"");
    text = text.replace("name = \"dnat\"", "name = \"dnat-split\"");
    let split = egress_table(&Scenario::parse(&text, "split.toml").unwrap().initial, 22);
    let a = row(&split, "10.0.1.10");
    assert!(labels(&a.ingress).contains(&"47.1.2.1 tcp/9000-9004".to_string()));
    let cut: Vec<_> = a
        .ingress_blocked
        .iter()
        .filter(|x| x.resource == "d-range")
        .collect();
    assert_eq!(cut.len(), 1);
    assert_eq!(cut[0].label(), "47.1.2.1 tcp/9005-9010");
    assert_eq!(cut[0].reason.as_deref(), Some("sg_ingress_denied"));
    let b = row(&rows, "10.0.1.11");
    assert_eq!(labels(&b.ingress), ["47.1.2.2 tcp/22"]);
    assert_eq!(labels(&b.ingress_blocked), ["47.1.2.2 udp/22"]);
    assert_eq!(b.ingress_blocked[0].via, "dnat_ip_mapping");
}
