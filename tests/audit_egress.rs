//! Black-box checks of SEMANTICS.md §3 "Egress to the Internet" and "Ingress from the
//! Internet": which SNAT entry wins (VSwitch, CIDR, ECS /32, ENI), EIP on a secondary
//! private IP beside SNAT, route-table longest prefix, DNAT port ranges and protocols.

mod audit_support;
use audit_support::*;
use vpcsim::pipeline::Ingress;

const TOPO: &str = r#"
[scenario]
name = "audit-egress"

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

[[vswitches]]
id = "vsw-c"
vpc = "vpc-1"
zone = "z-a"
cidr = "10.0.3.0/24"
route_table = "vtb-c"

[[vswitches]]
id = "vsw-d"
vpc = "vpc-1"
zone = "z-a"
cidr = "10.0.4.0/24"
route_table = "vtb-d"

[[route_tables]]
id = "vtb-c"
vpc = "vpc-1"
routes = [
  { destination = "0.0.0.0/0", next_hop_type = "NatGateway", next_hop_id = "ngw-1" },
  { destination = "203.0.113.0/24", next_hop_type = "Instance", next_hop_id = "i-fw" },
  { destination = "192.0.2.0/24", next_hop_type = "VpnGateway", next_hop_id = "vpn-1", unmodelled = true },
]

[[route_tables]]
id = "vtb-d"
vpc = "vpc-1"
routes = [ { destination = "203.0.113.0/25", next_hop_type = "NatGateway", next_hop_id = "ngw-1" } ]

[[security_groups]]
id = "sg-1"
vpc = "vpc-1"
rules = [
  { direction = "ingress", protocol = "tcp", ports = "1/65535", cidr = "0.0.0.0/0" },
  { direction = "ingress", protocol = "udp", ports = "1/65535", cidr = "0.0.0.0/0" },
  { direction = "ingress", protocol = "icmp", cidr = "0.0.0.0/0" },
]

[[instances]]
id = "i-a"
vswitch = "vsw-a"
private_ip = "10.0.1.10"
security_groups = ["sg-1"]

[[instances]]
id = "i-a2"
vswitch = "vsw-a"
private_ip = "10.0.1.200"
security_groups = ["sg-1"]

[[instances]]
id = "i-b"
vswitch = "vsw-b"
private_ip = "10.0.2.10"
security_groups = ["sg-1"]

[[instances]]
id = "i-b13"
vswitch = "vsw-b"
private_ip = "10.0.2.13"
security_groups = ["sg-1"]

[[instances]]
id = "i-s"
vswitch = "vsw-a"
instance_type = "ecs.g6.xlarge"
private_ip = "10.0.1.20"
security_groups = ["sg-1"]
guest = { policy_routes = true }

[[instances]]
id = "i-s2"
vswitch = "vsw-a"
instance_type = "ecs.g6.xlarge"
private_ip = "10.0.1.21"
security_groups = ["sg-1"]
guest = { policy_routes = false }

[[enis]]
id = "eni-s"
vswitch = "vsw-b"
primary_ip = "10.0.2.50"
secondary_ips = ["10.0.2.51", "10.0.2.52"]
security_groups = ["sg-1"]
instance = "i-s"

[[enis]]
id = "eni-s2"
vswitch = "vsw-b"
primary_ip = "10.0.2.60"
security_groups = ["sg-1"]
instance = "i-s2"

[[instances]]
id = "i-fw"
vswitch = "vsw-a"
private_ip = "10.0.1.30"
security_groups = ["sg-1"]

[[instances]]
id = "i-c"
vswitch = "vsw-c"
private_ip = "10.0.3.10"
security_groups = ["sg-1"]

[[instances]]
id = "i-d"
vswitch = "vsw-d"
private_ip = "10.0.4.10"
security_groups = ["sg-1"]

[[instances]]
id = "i-web"
vswitch = "vsw-b"
private_ip = "10.0.2.20"
security_groups = ["sg-1"]

[[nat_gateways]]
id = "ngw-1"
vpc = "vpc-1"
vswitch = "vsw-a"
snat = [
  { id = "snat-vpc", source_cidr = "10.0.0.0/16", snat_ips = ["47.1.2.1"] },
  { id = "snat-vsw-b", source_vswitch = "vsw-b", snat_ips = ["47.1.2.2"] },
  { id = "snat-host", source_cidr = "10.0.2.13/32", snat_ips = ["47.1.2.3"] },
  { id = "snat-eni", source_eni = "eni-s", snat_ips = ["47.1.2.4"] },
  { id = "snat-half", source_cidr = "10.0.1.128/25", snat_ips = ["47.1.2.5"] },
  { id = "snat-c", source_vswitch = "vsw-c", snat_ips = ["47.1.2.6", "47.1.2.7", "47.1.2.8"], eip_affinity = true },
]
dnat = [
  { id = "dnat-range", external_ip = "47.1.2.9", external_port = "9000/9010", internal_ip = "10.0.2.20", internal_port = "8000/8010", protocol = "TCP" },
  { id = "dnat-udp", external_ip = "47.1.2.9", external_port = "5353", internal_ip = "10.0.2.10", internal_port = "53", protocol = "UDP" },
  { id = "dnat-tcp", external_ip = "47.1.2.9", external_port = "5353", internal_ip = "10.0.2.20", internal_port = "5353", protocol = "TCP" },
]

[[eips]]
id = "e1"
address = "47.1.2.1"
bind = { type = "Nat", id = "ngw-1" }
[[eips]]
id = "e2"
address = "47.1.2.2"
bind = { type = "Nat", id = "ngw-1" }
[[eips]]
id = "e3"
address = "47.1.2.3"
bind = { type = "Nat", id = "ngw-1" }
[[eips]]
id = "e4"
address = "47.1.2.4"
bind = { type = "Nat", id = "ngw-1" }
[[eips]]
id = "e5"
address = "47.1.2.5"
bind = { type = "Nat", id = "ngw-1" }
[[eips]]
id = "e6"
address = "47.1.2.6"
bind = { type = "Nat", id = "ngw-1" }
[[eips]]
id = "e7"
address = "47.1.2.7"
bind = { type = "Nat", id = "ngw-1" }
[[eips]]
id = "e8"
address = "47.1.2.8"
bind = { type = "Nat", id = "ngw-1" }
[[eips]]
id = "e9"
address = "47.1.2.9"
bind = { type = "Nat", id = "ngw-1" }

[[eips]]
id = "eip-sec"
address = "47.1.1.51"
bind = { type = "NetworkInterface", id = "eni-s", mode = "NAT", private_ip = "10.0.2.51" }
"#;

fn net() -> Net {
    Net::new(TOPO, None)
}

/// The public source an Internet server sees for a SYN the guest of `inst` sends from
/// `src`.
fn leaves_with(n: &mut Net, inst: &str, src: &str, sport: u16) -> Sent {
    n.send(n.guest(inst), tcp(src, sport, SERVER, 443, SYN), 0)
}

#[test]
fn snat_vswitch_entry_beats_the_vpc_cidr_entry() {
    // §3 rule 3: longest matching prefix, VSwitch > VPC.
    let mut n = net();
    let s = leaves_with(&mut n, "i-b", "10.0.2.10", 40000);
    assert!(s.is_internet(), "{:?}", s.trace);
    assert_eq!(s.src(), ip("47.1.2.2"), "{:?}", s.trace);
}

#[test]
fn snat_ecs_ip_entry_beats_the_vswitch_entry() {
    // §3 rule 3: instance /32 > VSwitch.
    let mut n = net();
    let s = leaves_with(&mut n, "i-b13", "10.0.2.13", 40000);
    assert_eq!(s.src(), ip("47.1.2.3"), "{:?}", s.trace);
}

#[test]
fn snat_custom_cidr_entry_inside_a_vswitch_beats_the_vpc_entry() {
    // §1: SourceCIDR may be any CIDR; the longest prefix covering the source wins.
    let mut n = net();
    assert_eq!(
        leaves_with(&mut n, "i-a2", "10.0.1.200", 40000).src(),
        ip("47.1.2.5")
    );
    assert_eq!(
        leaves_with(&mut n, "i-a", "10.0.1.10", 40000).src(),
        ip("47.1.2.1")
    );
}

#[test]
fn snat_eni_entry_covers_every_ipv4_address_of_the_eni_and_beats_its_vswitch_entry() {
    // §1: NetworkInterfaceId = the ENI's IPv4 addresses (primary and secondary). The
    // guest has policy routes, so packets from eth1's addresses leave by eth1.
    let mut n = net();
    let s = leaves_with(&mut n, "i-s", "10.0.2.50", 40000);
    assert_eq!(s.src(), ip("47.1.2.4"), "{:?}", s.trace);
    let s = leaves_with(&mut n, "i-s", "10.0.2.52", 40001);
    assert_eq!(s.src(), ip("47.1.2.4"), "secondary IP: {:?}", s.trace);
    // eth0 of the same instance is not covered by the ENI entry.
    let s = leaves_with(&mut n, "i-s", "10.0.1.20", 40002);
    assert_eq!(s.src(), ip("47.1.2.1"), "{:?}", s.trace);
}

#[test]
fn snat_never_applies_to_the_secondary_private_ip_with_a_nat_mode_eip() {
    // §3 rule 1 beats rule 3: 10.0.2.51 has an EIP (NAT mode) although the ENI entry
    // covers it.
    let mut n = net();
    let s = leaves_with(&mut n, "i-s", "10.0.2.51", 40000);
    assert_eq!(s.src(), ip("47.1.1.51"), "{:?}", s.trace);
    assert_eq!(s.ports().0, 40000, "1:1 NAT keeps the port");
}

#[test]
fn secondary_eni_address_without_policy_routes_leaves_by_eth0_and_is_dropped() {
    // §3 guest OS routing + [decision] anti-spoofing.
    let mut n = net();
    let s = leaves_with(&mut n, "i-s2", "10.0.2.60", 40000);
    assert_eq!(s.reason(), Some("eni_source_check"), "{:?}", s.trace);
}

#[test]
fn secondary_eni_reaches_its_own_subnet_through_the_connected_route_without_policy_routes() {
    // Guest routing: the connected route of eth1's subnet leaves by eth1, source eth1's
    // address, even without multi-nic-util's policy routes.
    let mut n = net();
    let s = n.send(
        n.guest("i-s2"),
        tcp("10.0.2.60", 40000, "10.0.2.10", 22, SYN),
        0,
    );
    assert_eq!(
        n.delivered_to(&s).as_deref(),
        Some("i-b-eth0"),
        "{:?}",
        s.trace
    );
    assert_eq!(s.src(), ip("10.0.2.60"));
}

#[test]
fn snat_eip_affinity_keeps_one_eip_per_source_across_destinations() {
    // §3 rule 3: with EipAffinity the same EIP for the same source.
    let mut n = net();
    let mut seen = std::collections::BTreeSet::new();
    for (k, dst) in ["8.8.8.8", "1.1.1.1", "9.9.9.9", "114.114.114.114"]
        .iter()
        .enumerate()
    {
        let s = n.send(
            n.guest("i-c"),
            tcp("10.0.3.10", 40000 + k as u16, dst, 443, SYN),
            0,
        );
        assert!(s.is_internet(), "{:?}", s.trace);
        seen.insert(s.src());
    }
    assert_eq!(seen.len(), 1, "affinity: one EIP, got {seen:?}");
    assert!(["47.1.2.6", "47.1.2.7", "47.1.2.8"]
        .map(ip)
        .contains(seen.iter().next().unwrap()));
}

#[test]
fn route_longest_prefix_a_custom_route_to_an_instance_beats_the_default_to_the_nat_gateway() {
    // §1 route tables: custom routes, longest prefix.
    let mut n = net();
    let s = n.send(n.guest("i-c"), tcp("10.0.3.10", 40000, SERVER, 443, SYN), 0);
    assert_eq!(
        n.delivered_to(&s).as_deref(),
        Some("i-fw-eth0"),
        "{:?}",
        s.trace
    );
    assert_eq!(
        (s.src(), s.dst()),
        (ip("10.0.3.10"), ip(SERVER)),
        "no translation"
    );
}

#[test]
fn route_to_an_unmodelled_next_hop_says_so() {
    // README: routes to next hops vpcsim does not forward through drop as
    // next_hop_unmodelled, never a different answer.
    let mut n = net();
    let s = n.send(
        n.guest("i-c"),
        tcp("10.0.3.10", 40000, "192.0.2.9", 443, SYN),
        0,
    );
    assert_eq!(s.reason(), Some("next_hop_unmodelled"), "{:?}", s.trace);
}

#[test]
fn route_only_the_prefix_routed_to_the_nat_gateway_is_translated() {
    // §3 rule 3/4: the route table decides; without a route the packet is dropped.
    let mut n = net();
    let s = n.send(
        n.guest("i-d"),
        tcp("10.0.4.10", 40000, "203.0.113.5", 443, SYN),
        0,
    );
    assert_eq!(s.src(), ip("47.1.2.1"), "{:?}", s.trace);
    let s = n.send(
        n.guest("i-d"),
        tcp("10.0.4.10", 40000, "203.0.113.200", 443, SYN),
        0,
    );
    assert_eq!(s.reason(), Some("no_route"), "{:?}", s.trace);
    // The VPC has a NAT gateway: the hint says the route to it is missing, not that a
    // NAT gateway should be created.
    let t = format!("{:?}", s.trace);
    assert!(t.contains("add one to NAT gateway"), "{t}");
    assert!(!t.contains("create a NAT gateway"), "{t}");
}

#[test]
fn east_west_traffic_to_another_vswitch_is_not_translated() {
    // Local routes: private addresses stay private (no SNAT inside the VPC).
    let mut n = net();
    let s = n.send(
        n.guest("i-a"),
        tcp("10.0.1.10", 40000, "10.0.2.13", 22, SYN),
        0,
    );
    assert_eq!(n.delivered_to(&s).as_deref(), Some("i-b13-eth0"));
    assert_eq!(s.src(), ip("10.0.1.10"));
}

#[test]
fn dnat_port_range_maps_each_port_with_the_same_offset_and_back() {
    // §1: DNAT ports may be ranges a/b of equal length.
    let mut n = net();
    let s = n.send(
        Ingress::Internet,
        tcp(CLIENT, 33000, "47.1.2.9", 9005, SYN),
        0,
    );
    assert_eq!(
        n.delivered_to(&s).as_deref(),
        Some("i-web-eth0"),
        "{:?}",
        s.trace
    );
    assert_eq!((s.dst(), s.ports().1), (ip("10.0.2.20"), 8005));
    let back = n.send(
        n.guest("i-web"),
        tcp("10.0.2.20", 8005, CLIENT, 33000, SYNACK),
        1,
    );
    assert!(back.is_internet(), "{:?}", back.trace);
    assert_eq!((back.src(), back.ports().0), (ip("47.1.2.9"), 9005));
    let s = n.send(
        Ingress::Internet,
        tcp(CLIENT, 33001, "47.1.2.9", 9011, SYN),
        0,
    );
    assert_eq!(s.reason(), Some("nat_gateway_no_mapping"), "{:?}", s.trace);
}

#[test]
fn dnat_same_external_port_different_protocols_go_to_their_own_entries() {
    // §2: (ExternalIp, ExternalPort, protocol) is unique, so TCP and UDP may differ.
    let mut n = net();
    let s = n.send(Ingress::Internet, udp(CLIENT, 33000, "47.1.2.9", 5353), 0);
    assert_eq!(
        n.delivered_to(&s).as_deref(),
        Some("i-b-eth0"),
        "{:?}",
        s.trace
    );
    assert_eq!(s.ports().1, 53);
    let s = n.send(
        Ingress::Internet,
        tcp(CLIENT, 33000, "47.1.2.9", 5353, SYN),
        0,
    );
    assert_eq!(
        n.delivered_to(&s).as_deref(),
        Some("i-web-eth0"),
        "{:?}",
        s.trace
    );
    // ICMP to a port-mapping-only EIP has no mapping.
    let s = n.send(Ingress::Internet, echo(CLIENT, "47.1.2.9", true, 3), 0);
    assert_eq!(s.reason(), Some("nat_gateway_no_mapping"), "{:?}", s.trace);
}

#[test]
fn dnat_instance_with_snat_replies_from_the_dnat_address_and_starts_new_flows_by_snat() {
    // A DNAT'd session's reply leaves from the external IP:port; the same instance's own
    // new connections leave by SNAT (its VSwitch entry).
    let mut n = net();
    let s = n.send(
        Ingress::Internet,
        tcp(CLIENT, 33000, "47.1.2.9", 9000, SYN),
        0,
    );
    assert!(n.delivered_to(&s).is_some());
    let back = n.send(
        n.guest("i-web"),
        tcp("10.0.2.20", 8000, CLIENT, 33000, SYNACK),
        1,
    );
    assert_eq!(back.src(), ip("47.1.2.9"));
    let s = n.send(
        n.guest("i-web"),
        tcp("10.0.2.20", 8000, CLIENT, 33001, SYN),
        2,
    );
    assert_eq!(s.src(), ip("47.1.2.2"), "{:?}", s.trace);
}

#[test]
fn snat_return_traffic_to_the_wrong_port_is_not_delivered() {
    // §3 ingress: a NAT gateway EIP delivers only SNAT return traffic of a session (or a
    // DNAT entry); another port of the same EIP gets nothing.
    let mut n = net();
    let s = leaves_with(&mut n, "i-a", "10.0.1.10", 40000);
    let (p, _) = s.ports();
    let back = n.send(
        Ingress::Internet,
        tcp(SERVER, 443, "47.1.2.1", p, SYNACK),
        1,
    );
    assert_eq!(n.delivered_to(&back).as_deref(), Some("i-a-eth0"));
    assert_eq!(back.ports().1, 40000);
    let other = p.wrapping_add(1).max(1024);
    let stray = n.send(
        Ingress::Internet,
        tcp(SERVER, 443, "47.1.2.1", other, SYN),
        1,
    );
    assert_eq!(
        stray.reason(),
        Some("nat_gateway_no_mapping"),
        "{:?}",
        stray.trace
    );
    // from another server to the same port: no session either
    let stray = n.send(
        Ingress::Internet,
        tcp("203.0.113.81", 443, "47.1.2.1", p, SYNACK),
        1,
    );
    assert_eq!(
        stray.reason(),
        Some("nat_gateway_no_mapping"),
        "{:?}",
        stray.trace
    );
}

/// A GRE packet (IP protocol 47): a UDP-sized body with the protocol changed.
fn gre(src: &str, dst: &str) -> Vec<u8> {
    let mut f = udp(src, 0, dst, 0);
    f[14 + 9] = 47;
    f[14 + 10] = 0;
    f[14 + 11] = 0;
    let c = vpcsim::wire::checksum::checksum(&f[14..34]);
    f[14 + 10..14 + 12].copy_from_slice(&c.to_be_bytes());
    f
}

#[test]
fn snat_gre_is_carried_both_ways_or_refused_outbound_with_a_reason() {
    // SEMANTICS §3 rule 3 translates "source address and port"; GRE has no port. An
    // answer "to the Internet via SNAT" whose replies can never come back is a different
    // answer from either the cloud's refusal or a working tunnel.
    let mut n = net();
    let out = n.send(n.guest("i-a"), gre("10.0.1.10", SERVER), 0);
    if out.is_internet() {
        let eip = out.src().to_string();
        let back = n.send(Ingress::Internet, gre(SERVER, &eip), 1);
        assert_eq!(
            n.delivered_to(&back).as_deref(),
            Some("i-a-eth0"),
            "GRE left by SNAT from {eip} but its reply is {:?}: {:?}",
            back.reason(),
            back.trace
        );
    }
}

#[test]
fn snat_two_gre_flows_to_one_server_never_deliver_one_instances_reply_to_the_other() {
    // GRE has no ports to tell two sources apart behind one SNAT EIP: whatever vpcsim
    // does with the second flow, a reply must not reach the wrong instance.
    let mut n = net();
    let a = n.send(n.guest("i-a"), gre("10.0.1.10", SERVER), 0);
    let b = n.send(n.guest("i-fw"), gre("10.0.1.30", SERVER), 0);
    assert!(a.is_internet(), "{:?}", a.trace);
    if !b.is_internet() {
        assert_eq!(b.reason(), Some("snat_ports_exhausted"), "{:?}", b.trace);
    }
    if b.is_internet() && a.src() == b.src() {
        let eip = a.src().to_string();
        let back = n.send(Ingress::Internet, gre(SERVER, &eip), 1);
        panic!(
            "two GRE flows share {eip} with nothing to tell them apart; the reply went to {:?}",
            n.delivered_to(&back)
        );
    }
}
