//! Black-box checks of SEMANTICS.md §5 MTU (1500 / 8500 jumbo, DF, frag-needed with the
//! next-hop MTU) at the exact boundaries, and of ICMP errors from the Internet about
//! 1:1 EIP and DNAT port-mapped sessions (RFC 5508: quoted header translated back).

mod audit_support;
use audit_support::*;
use vpcsim::pipeline::Ingress;
use vpcsim::wire::{self, ProbeL4, ProbeSpec, L4};

const TOPO: &str = r#"
[scenario]
name = "audit-mtu"

[[instance_types]]
name = "ecs.jumbo"
max_enis = 4
max_private_ips_per_eni = 10
jumbo_frames = true

[[vpcs]]
id = "vpc-1"
cidr = "10.0.0.0/16"

[[vswitches]]
id = "vsw-a"
vpc = "vpc-1"
zone = "z-a"
cidr = "10.0.1.0/24"

[[security_groups]]
id = "sg-1"
vpc = "vpc-1"
rules = [
  { direction = "ingress", protocol = "tcp", ports = "1/65535", cidr = "0.0.0.0/0" },
  { direction = "ingress", protocol = "udp", ports = "1/65535", cidr = "0.0.0.0/0" },
]

[[instances]]
id = "i-a"
vswitch = "vsw-a"
private_ip = "10.0.1.10"
security_groups = ["sg-1"]

[[instances]]
id = "i-j1"
vswitch = "vsw-a"
instance_type = "ecs.jumbo"
private_ip = "10.0.1.20"
security_groups = ["sg-1"]

[[instances]]
id = "i-j2"
vswitch = "vsw-a"
instance_type = "ecs.jumbo"
private_ip = "10.0.1.21"
security_groups = ["sg-1"]

[[instances]]
id = "i-dnat"
vswitch = "vsw-a"
private_ip = "10.0.1.30"
security_groups = ["sg-1"]

[[nat_gateways]]
id = "ngw-1"
vpc = "vpc-1"
vswitch = "vsw-a"
snat = [ { source_cidr = "10.0.0.0/16", snat_ips = ["47.1.2.1"] } ]
dnat = [ { external_ip = "47.1.2.2", external_port = "2222", internal_ip = "10.0.1.30", internal_port = "22", protocol = "TCP" } ]

[[eips]]
id = "e-ngw1"
address = "47.1.2.1"
bind = { type = "Nat", id = "ngw-1" }

[[eips]]
id = "e-ngw2"
address = "47.1.2.2"
bind = { type = "Nat", id = "ngw-1" }

[[eips]]
id = "e-a"
address = "47.1.1.10"
bind = { type = "EcsInstance", id = "i-a" }
"#;

fn udp_sized(src: &str, dst: &str, total: usize, df: bool) -> Vec<u8> {
    let mut f = wire::build(&ProbeSpec {
        src_mac: [2, 0, 0, 0, 0, 1],
        dst_mac: [0xee, 0xff, 0xff, 0xff, 0xff, 0xff],
        src: ip(src),
        dst: ip(dst),
        ttl: 64,
        ident: 0x4242,
        l4: ProbeL4::Udp {
            sport: 40000,
            dport: 9000,
        },
        payload: vec![0x5a; total - 28],
    });
    wire::set_dont_fragment(&mut f, df);
    f
}

/// The next-hop MTU of the frag-needed a drop generated.
fn frag_needed_mtu(s: &Sent) -> u16 {
    assert_eq!(s.reason(), Some("mtu_exceeded"), "{:?}", s.trace);
    assert_eq!(s.out.generated.len(), 1, "one ICMP error");
    let icmp = &s.out.generated[0].0;
    wire::checksums_valid(icmp).unwrap();
    let i = wire::parse(icmp).unwrap();
    let L4::IcmpError {
        icmp_type, code, ..
    } = i.l4
    else {
        panic!("{i:?}")
    };
    assert_eq!((icmp_type, code), (3, 4));
    // RFC 1191: the next-hop MTU is bytes 6..8 of the ICMP header.
    let off = i.l4_offset;
    u16::from_be_bytes([icmp[off + 6], icmp[off + 7]])
}

#[test]
fn mtu_1500_exactly_passes_and_1501_with_df_gets_frag_needed_1500() {
    // §5 MTU: ENI MTU 1500; larger with DF → ICMP 3/4 with the next-hop MTU.
    let mut n = Net::new(TOPO, None);
    let s = n.send(
        n.guest("i-a"),
        udp_sized("10.0.1.10", SERVER, 1500, true),
        0,
    );
    assert!(s.is_internet(), "{:?}", s.trace);
    assert_eq!(s.src(), ip("47.1.1.10"));
    let s = n.send(
        n.guest("i-a"),
        udp_sized("10.0.1.10", SERVER, 1501, true),
        0,
    );
    assert_eq!(frag_needed_mtu(&s), 1500);
    assert_eq!(s.out.generated[0].1, n.delivered_to_eni("i-a-eth0"));
}

#[test]
fn mtu_jumbo_8500_exactly_passes_between_jumbo_instances_and_8501_does_not() {
    // §5: families with jumbo frames take 8500.
    let mut n = Net::new(TOPO, None);
    let s = n.send(
        n.guest("i-j1"),
        udp_sized("10.0.1.20", "10.0.1.21", 8500, true),
        0,
    );
    assert_eq!(
        n.delivered_to(&s).as_deref(),
        Some("i-j2-eth0"),
        "{:?}",
        s.trace
    );
    let s = n.send(
        n.guest("i-j1"),
        udp_sized("10.0.1.20", "10.0.1.21", 8501, true),
        0,
    );
    assert_eq!(frag_needed_mtu(&s), 8500);
    // A jumbo sender to a 1500 receiver: the receiving ENI's MTU is the path's.
    let s = n.send(
        n.guest("i-j1"),
        udp_sized("10.0.1.20", "10.0.1.10", 1501, true),
        0,
    );
    assert_eq!(frag_needed_mtu(&s), 1500);
    // ... and to the Internet through SNAT, 1500 at the NAT gateway.
    let s = n.send(
        n.guest("i-j1"),
        udp_sized("10.0.1.20", SERVER, 1600, true),
        0,
    );
    assert_eq!(frag_needed_mtu(&s), 1500);
}

#[test]
fn mtu_without_df_a_jumbo_packet_to_the_internet_leaves_as_valid_translated_fragments() {
    // §5: without DF it is fragmented (RFC 791), each fragment with valid checksums.
    let mut n = Net::new(TOPO, None);
    let s = n.send(
        n.guest("i-j1"),
        udp_sized("10.0.1.20", SERVER, 4000, false),
        0,
    );
    assert!(s.is_internet(), "{:?}", s.trace);
    assert!(s.out.fragments.len() >= 3, "{}", s.out.fragments.len());
    let mut payload = 0;
    for f in &s.out.fragments {
        let i = wire::parse(f).unwrap();
        assert_eq!(i.src, ip("47.1.2.1"), "every fragment carries the SNAT EIP");
        assert!(f.len() - 14 <= 1500);
        wire::checksums_valid(f).unwrap();
        payload += f.len() - 14 - 20;
    }
    assert_eq!(payload, 4000 - 20, "the fragments carry the whole datagram");
}

fn icmp_error_about(out_frame: &[u8], from: &str, kind: wire::IcmpErrorKind) -> Vec<u8> {
    let oi = wire::parse(out_frame).unwrap();
    wire::icmp_error(out_frame, &oi, kind, ip(from), [2; 6], [4; 6]).unwrap()
}

#[test]
fn icmp_error_about_a_dnat_reply_reaches_the_instance_with_the_internal_port_quoted() {
    // RFC 5508 through DNAT port mapping: an Internet router's frag-needed about the
    // reply (47.1.2.2:2222 → client) goes to 10.0.1.30 quoting 10.0.1.30:22.
    let mut n = Net::new(TOPO, None);
    let s = n.send(
        Ingress::Internet,
        tcp(CLIENT, 50000, "47.1.2.2", 2222, SYN),
        0,
    );
    assert_eq!(
        n.delivered_to(&s).as_deref(),
        Some("i-dnat-eth0"),
        "{:?}",
        s.trace
    );
    let back = n.send(
        n.guest("i-dnat"),
        tcp("10.0.1.30", 22, CLIENT, 50000, SYNACK),
        0,
    );
    assert_eq!((back.src(), back.ports().0), (ip("47.1.2.2"), 2222));
    let err = icmp_error_about(
        &back.frame,
        "198.51.100.1",
        wire::IcmpErrorKind::FragmentationNeeded { mtu: 1400 },
    );
    let e = n.send(Ingress::Internet, err, 1);
    assert_eq!(
        n.delivered_to(&e).as_deref(),
        Some("i-dnat-eth0"),
        "{:?}",
        e.trace
    );
    wire::checksums_valid(&e.frame).unwrap();
    let i = e.info();
    assert_eq!(i.dst, ip("10.0.1.30"));
    let L4::IcmpError { inner, .. } = i.l4 else {
        panic!("{i:?}")
    };
    assert_eq!(
        (inner.src, inner.sport, inner.dst, inner.dport),
        (ip("10.0.1.30"), 22, ip(CLIENT), 50000)
    );
}

#[test]
fn icmp_error_about_an_eip_flow_reaches_the_instance_translated() {
    // RFC 5508 through 1:1 EIP NAT: port unreachable about 47.1.1.10 → server.
    let mut n = Net::new(TOPO, None);
    let s = n.send(n.guest("i-a"), udp("10.0.1.10", 5353, SERVER, 53), 0);
    assert_eq!(s.src(), ip("47.1.1.10"));
    let err = icmp_error_about(
        &s.frame,
        SERVER,
        wire::IcmpErrorKind::DestUnreachable { code: 3 },
    );
    let e = n.send(Ingress::Internet, err, 1);
    assert_eq!(
        n.delivered_to(&e).as_deref(),
        Some("i-a-eth0"),
        "{:?}",
        e.trace
    );
    let L4::IcmpError { inner, .. } = e.info().l4 else {
        panic!()
    };
    assert_eq!((inner.src, inner.sport), (ip("10.0.1.10"), 5353));
}

#[test]
fn icmp_error_about_no_known_flow_is_dropped_with_its_reason() {
    // An ICMP error quoting a packet the NAT gateway never sent has no flow.
    let mut n = Net::new(TOPO, None);
    let fake = udp("47.1.2.1", 33333, SERVER, 53);
    let err = icmp_error_about(
        &fake,
        SERVER,
        wire::IcmpErrorKind::DestUnreachable { code: 3 },
    );
    let e = n.send(Ingress::Internet, err, 1);
    assert_eq!(e.reason(), Some("icmp_error_no_flow"), "{:?}", e.trace);
}
