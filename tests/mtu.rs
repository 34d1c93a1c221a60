//! SEMANTICS.md §5 MTU: one test per path (EIP, SNAT, DNAT, east-west, jumbo frames),
//! each asserting the ICMP fragmentation-needed a too-big DF packet gets (type 3 code 4,
//! next-hop MTU, from the right hop, to the sender) or the fragments a non-DF packet
//! leaves as (translated, each within the MTU, valid checksums, covering the datagram).

use std::net::Ipv4Addr;

use vpcsim::pipeline::{
    stamp_sender_mac, DataplaneConfig, Disposition, DropReason, Ingress, Outcome, Trace,
    VROUTER_MAC,
};
use vpcsim::time::SimTime;
use vpcsim::wire::{self, ProbeL4, TcpFlags, L4};

mod support;
use support::{cloud, frame, ip, tcp_l4, Net, CLIENT, SERVER};

const TOPOLOGY: &str = concat!(
    support::scenario!("mtu"),
    support::jumbo_instance_type!("ecs.g7.large"),
    support::vpc_1!(),
    r#"[[security_groups]]
id = "sg-open"
vpc = "vpc-1"
rules = [
  { direction = "ingress", protocol = "tcp", ports = "1/65535", cidr = "0.0.0.0/0" },
  { direction = "ingress", protocol = "udp", ports = "1/65535", cidr = "0.0.0.0/0" },
  { direction = "ingress", protocol = "icmp", cidr = "0.0.0.0/0" },
]

"#,
    support::instance!("i-eip", "10.0.1.10"),
    support::instance!("i-snat", "10.0.1.12"),
    support::instance!("i-dnat", "10.0.1.20"),
    r#"[[instances]]
id = "i-jumbo1"
vswitch = "vsw-a"
instance_type = "ecs.g7.large"
private_ip = "10.0.1.30"
security_groups = ["sg-open"]

[[instances]]
id = "i-jumbo2"
vswitch = "vsw-a"
instance_type = "ecs.g7.large"
private_ip = "10.0.1.31"
security_groups = ["sg-open"]

[[instances]]
id = "i-stopped"
vswitch = "vsw-a"
private_ip = "10.0.1.40"
status = "Stopped"
security_groups = ["sg-open"]

[[enis]]
id = "eni-idle"
vswitch = "vsw-a"
primary_ip = "10.0.1.50"
security_groups = ["sg-open"]

"#,
    support::ngw_1!("eip-ngw"),
    support::eip!("eip-inst", "47.1.1.10", "EcsInstance", "i-eip"),
    support::eip!("eip-jumbo", "47.1.1.30", "EcsInstance", "i-jumbo1"),
);

impl Net {
    fn new() -> Net {
        Net::over(&cloud(TOPOLOGY, "mtu.toml"), DataplaneConfig::default())
    }

    /// Sends a frame (with the sender's MAC), traced or not (untraced packets of an
    /// established flow take the fast path).
    fn send(&mut self, at: Ingress, mut f: Vec<u8>, traced: bool) -> (Outcome, Vec<u8>) {
        stamp_sender_mac(&self.t, at, &mut f);
        let mut trace = Trace::default();
        let out = self.dp.process(
            &mut f,
            at,
            SimTime::from_secs(1),
            traced.then_some(&mut trace),
        );
        (out, f)
    }
}

/// A UDP datagram of `total` IPv4 bytes, DF as given.
fn udp(src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16, total: usize, df: bool) -> Vec<u8> {
    let mut f = frame(src, dst, ProbeL4::Udp { sport, dport })
        .macs([2, 0, 0, 0, 0, 1], VROUTER_MAC)
        .ident(0x4242)
        .payload(
            (0..total - 28)
                .map(|i| (i * 13 + 1) as u8)
                .collect::<Vec<u8>>(),
        )
        .build();
    wire::set_dont_fragment(&mut f, df);
    f
}

fn tcp(src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16, flags: u8, total: usize) -> Vec<u8> {
    frame(src, dst, tcp_l4(sport, dport, flags))
        .macs([2, 0, 0, 0, 0, 1], VROUTER_MAC)
        .payload(vec![0x5a; total - 40])
        .build()
}

/// The ICMP fragmentation-needed of a drop: (from, to, next-hop MTU, where it goes),
/// after checking it is type 3 code 4 with valid checksums, quoting the original.
fn frag_needed(out: &Outcome, original: &[u8]) -> (Ipv4Addr, Ipv4Addr, u16, Disposition) {
    assert_eq!(
        out.disposition,
        Disposition::Dropped(DropReason::MtuExceeded)
    );
    assert!(out.fragments.is_empty(), "nothing is forwarded");
    assert_eq!(out.generated.len(), 1, "one ICMP error");
    let (icmp, to) = &out.generated[0];
    wire::checksums_valid(icmp).unwrap();
    let i = wire::parse(icmp).unwrap();
    let L4::IcmpError {
        icmp_type,
        code,
        inner,
    } = i.l4
    else {
        panic!("not an ICMP error: {:?}", i.l4);
    };
    assert_eq!((icmp_type, code), (3, 4), "fragmentation needed");
    let o = wire::parse(original).unwrap();
    assert_eq!(
        (inner.src, inner.dst),
        (o.src, o.dst),
        "quotes the packet as its sender sent it"
    );
    let mtu = u16::from_be_bytes([icmp[40], icmp[41]]);
    (i.src, i.dst, mtu, *to)
}

/// Checks fragments: each within `mtu`, valid IPv4 checksum, same id, offsets
/// contiguous, MF on all but the last, and the payloads rebuild the datagram `whole`
/// (as translated); returns the first fragment's parse.
fn check_fragments(frags: &[Vec<u8>], mtu: u16, whole_payload_len: usize) -> wire::FrameInfo {
    assert!(frags.len() >= 2, "{} fragments", frags.len());
    let mut next = 0usize;
    let first = wire::parse(&frags[0]).unwrap();
    for (k, f) in frags.iter().enumerate() {
        let i = wire::parse(f).unwrap();
        assert!(i.total_len <= mtu, "fragment {k}: {} > {mtu}", i.total_len);
        wire::checksums_valid(f).unwrap_or_else(|e| panic!("fragment {k}: {e}"));
        assert_eq!((i.src, i.dst, i.ident), (first.src, first.dst, first.ident));
        assert_eq!(usize::from(i.frag_offset) * 8, next, "fragment {k} offset");
        assert_eq!(i.more_fragments, k + 1 < frags.len());
        next += usize::from(i.total_len) - 20;
    }
    assert_eq!(next, whole_payload_len, "the fragments cover the datagram");
    first
}

/// Reassembles fragments' payloads and verifies the L4 checksum of the whole datagram.
fn reassembled_udp_checksum_ok(frags: &[Vec<u8>]) {
    let first = wire::parse(&frags[0]).unwrap();
    let mut payload = vec![];
    for f in frags {
        payload.extend_from_slice(&f[34..]);
    }
    let mut whole = frags[0][..34].to_vec();
    whole.extend_from_slice(&payload);
    let len = (20 + payload.len()) as u16;
    whole[16..18].copy_from_slice(&len.to_be_bytes());
    whole[20..22].copy_from_slice(&[0, 0]);
    whole[24..26].copy_from_slice(&[0, 0]);
    let c = wire::checksum::checksum(&whole[14..34]);
    whole[24..26].copy_from_slice(&c.to_be_bytes());
    wire::checksums_valid(&whole).unwrap_or_else(|e| panic!("reassembled: {e}"));
    assert_eq!(wire::parse(&whole).unwrap().src, first.src);
}

#[test]
fn mtu_eip_a_9000_byte_df_packet_gets_frag_needed_1500_and_nothing_leaves() {
    let mut n = Net::new();
    let f = udp(ip("10.0.1.10"), SERVER, 5000, 9999, 9000, true);
    let (out, _) = n.send(n.guest("i-eip"), f.clone(), true);
    let (from, to, mtu, back) = frag_needed(&out, &f);
    assert_eq!(mtu, 1500);
    assert_eq!((from, to), (ip("10.0.1.253"), ip("10.0.1.10")));
    assert_eq!(n.eni_of(back), Some("i-eip-eth0"));
    assert_eq!(n.dp.counters.to_internet, 0);
    assert_eq!(n.dp.counters.dropped_by(DropReason::MtuExceeded), 1);
}

#[test]
fn mtu_eip_without_df_leaves_as_valid_fragments_translated_to_the_eip() {
    let mut n = Net::new();
    let f = udp(ip("10.0.1.10"), SERVER, 5000, 9999, 9000, false);
    let (out, _) = n.send(n.guest("i-eip"), f, true);
    assert_eq!(out.disposition, Disposition::Internet);
    let first = check_fragments(&out.fragments, 1500, 8980);
    assert_eq!((first.src, first.dst), (ip("47.1.1.10"), SERVER));
    assert_eq!(first.ttl, 63);
    reassembled_udp_checksum_ok(&out.fragments);
}

#[test]
fn mtu_snat_too_big_df_gets_frag_needed_and_without_df_fragments_carry_the_nat_eip() {
    let mut n = Net::new();
    let f = udp(ip("10.0.1.12"), SERVER, 5001, 9999, 4000, true);
    let (out, _) = n.send(n.guest("i-snat"), f.clone(), true);
    let (from, to, mtu, back) = frag_needed(&out, &f);
    assert_eq!((from, to, mtu), (ip("10.0.1.253"), ip("10.0.1.12"), 1500));
    assert_eq!(n.eni_of(back), Some("i-snat-eth0"));
    assert_eq!(n.dp.connections(), 0, "a refused packet creates no session");
    let f = udp(ip("10.0.1.12"), SERVER, 5001, 9999, 4000, false);
    let (out, _) = n.send(n.guest("i-snat"), f, true);
    assert_eq!(out.disposition, Disposition::Internet);
    let first = check_fragments(&out.fragments, 1500, 3980);
    assert_eq!((first.src, first.dst), (ip("47.1.2.1"), SERVER));
    let L4::Udp { sport, dport } = first.l4 else {
        panic!("{:?}", first.l4)
    };
    assert_eq!(dport, 9999);
    assert_ne!(sport, 0);
    reassembled_udp_checksum_ok(&out.fragments);
}

#[test]
fn mtu_dnat_from_the_internet_too_big_gets_frag_needed_from_the_public_address() {
    let mut n = Net::new();
    let f = tcp(CLIENT, 40000, ip("47.1.2.1"), 2222, TcpFlags::SYN.0, 3000);
    let mut df = f.clone();
    wire::set_dont_fragment(&mut df, true);
    let (out, _) = n.send(Ingress::Internet, df.clone(), true);
    let (from, to, mtu, back) = frag_needed(&out, &df);
    assert_eq!((from, to, mtu), (ip("47.1.2.1"), CLIENT, 1500));
    assert_eq!(back, Disposition::Internet);
    let mut nodf = f;
    wire::set_dont_fragment(&mut nodf, false);
    let (out, _) = n.send(Ingress::Internet, nodf, true);
    assert_eq!(n.eni_of(out.disposition), Some("i-dnat-eth0"));
    let first = check_fragments(&out.fragments, 1500, 2980);
    assert_eq!((first.src, first.dst), (CLIENT, ip("10.0.1.20")));
    assert!(matches!(first.l4, L4::Tcp { dport: 22, .. }));
}

#[test]
fn mtu_east_west_between_1500_enis_refuses_a_jumbo_df_frame() {
    let mut n = Net::new();
    let f = udp(ip("10.0.1.10"), ip("10.0.1.12"), 5002, 53, 9000, true);
    let (out, _) = n.send(n.guest("i-eip"), f.clone(), true);
    let (from, to, mtu, _) = frag_needed(&out, &f);
    assert_eq!((from, to, mtu), (ip("10.0.1.253"), ip("10.0.1.10"), 1500));
    let f = udp(ip("10.0.1.10"), ip("10.0.1.12"), 5002, 53, 1500, true);
    let (out, _) = n.send(n.guest("i-eip"), f, true);
    assert_eq!(n.eni_of(out.disposition), Some("i-snat-eth0"), "1500 fits");
}

#[test]
fn mtu_jumbo_8500_between_two_jumbo_instances_is_delivered_but_not_to_the_internet() {
    let mut n = Net::new();
    let f = udp(ip("10.0.1.30"), ip("10.0.1.31"), 5003, 53, 8500, true);
    let (out, buf) = n.send(n.guest("i-jumbo1"), f, true);
    assert_eq!(n.eni_of(out.disposition), Some("i-jumbo2-eth0"));
    assert!(out.fragments.is_empty());
    assert_eq!(wire::parse(&buf).unwrap().total_len, 8500);
    // One byte more than the jumbo MTU.
    let f = udp(ip("10.0.1.30"), ip("10.0.1.31"), 5004, 53, 8501, true);
    let (out, _) = n.send(n.guest("i-jumbo1"), f.clone(), true);
    assert_eq!(frag_needed(&out, &f).2, 8500);
    // To a 1500 instance: the receiving ENI's MTU.
    let f = udp(ip("10.0.1.30"), ip("10.0.1.10"), 5005, 53, 8500, true);
    let (out, _) = n.send(n.guest("i-jumbo1"), f.clone(), true);
    assert_eq!(frag_needed(&out, &f).2, 1500);
    // To the Internet through its EIP: the Internet edge's 1500.
    let f = udp(ip("10.0.1.30"), SERVER, 5006, 9999, 8500, true);
    let (out, _) = n.send(n.guest("i-jumbo1"), f.clone(), true);
    let (from, to, mtu, _) = frag_needed(&out, &f);
    assert_eq!((from, to, mtu), (ip("10.0.1.253"), ip("10.0.1.30"), 1500));
}

#[test]
fn mtu_the_established_fast_path_enforces_the_path_mtu_like_the_slow_path() {
    let mut n = Net::new();
    let at = n.eni("i-eip-eth0");
    let (out, _) = n.send(
        at,
        tcp(ip("10.0.1.10"), 41000, SERVER, 443, TcpFlags::SYN.0, 60),
        false,
    );
    assert_eq!(out.disposition, Disposition::Internet);
    let reply = tcp(
        SERVER,
        443,
        ip("47.1.1.10"),
        41000,
        TcpFlags::SYN.0 | TcpFlags::ACK.0,
        60,
    );
    let (out, _) = n.send(Ingress::Internet, reply, false);
    assert!(matches!(out.disposition, Disposition::Delivered { .. }));
    for traced in [false, true] {
        let fast_before = n.dp.counters.fast_path;
        // A 1500-byte segment of the flow: fits.
        let ok = tcp(ip("10.0.1.10"), 41000, SERVER, 443, TcpFlags::ACK.0, 1500);
        let (out, _) = n.send(at, ok, traced);
        assert_eq!(out.disposition, Disposition::Internet, "traced {traced}");
        // 4000 bytes with DF (as TCP sends): frag-needed, whichever path.
        let big = tcp(ip("10.0.1.10"), 41000, SERVER, 443, TcpFlags::ACK.0, 4000);
        let (out, _) = n.send(at, big.clone(), traced);
        let (from, to, mtu, _) = frag_needed(&out, &big);
        assert_eq!((from, to, mtu), (ip("10.0.1.253"), ip("10.0.1.10"), 1500));
        // Without DF: fragments, translated like the flow.
        let mut nodf = big;
        wire::set_dont_fragment(&mut nodf, false);
        let (out, _) = n.send(at, nodf, traced);
        assert_eq!(out.disposition, Disposition::Internet);
        let first = check_fragments(&out.fragments, 1500, 3980);
        assert_eq!(first.src, ip("47.1.1.10"));
        // Both answers come from the flow table, by the fast path only when untraced.
        let fast = n.dp.counters.fast_path - fast_before;
        assert_eq!(
            fast, 3,
            "traced {traced}: all three are packets of the flow"
        );
    }
}

#[test]
fn mtu_a_too_big_first_fragment_is_fragmented_again_and_its_later_fragments_follow() {
    let mut n = Net::new();
    // A 6000-byte datagram the guest already fragmented for a 4000-byte link.
    let whole = udp(ip("10.0.1.12"), SERVER, 5007, 9999, 6000, false);
    let info = wire::parse(&whole).unwrap();
    let parts = wire::fragment(&whole, &info, 4000).unwrap();
    assert_eq!(parts.len(), 2);
    let (o1, _) = n.send(n.guest("i-snat"), parts[0].clone(), true);
    assert_eq!(o1.disposition, Disposition::Internet);
    let (o2, _) = n.send(n.guest("i-snat"), parts[1].clone(), true);
    assert_eq!(o2.disposition, Disposition::Internet);
    let mut all = o1.fragments.clone();
    all.extend(o2.fragments.clone());
    let first = check_fragments(&all, 1500, 5980);
    assert_eq!(first.src, ip("47.1.2.1"));
    reassembled_udp_checksum_ok(&all);
}

// ---------- ENI attachment (issue 11: an unattached ENI is not a stopped instance) ----------

#[test]
fn an_eni_attached_to_no_instance_sends_and_receives_nothing_eni_not_attached() {
    let mut n = Net::new();
    let at = n.eni("eni-idle");
    let f = udp(ip("10.0.1.50"), ip("10.0.1.10"), 5008, 53, 100, true);
    let (out, _) = n.send(at, f, true);
    assert_eq!(
        out.disposition,
        Disposition::Dropped(DropReason::EniNotAttached)
    );
    let f = udp(ip("10.0.1.10"), ip("10.0.1.50"), 5008, 53, 100, true);
    let (out, _) = n.send(n.guest("i-eip"), f, true);
    assert_eq!(
        out.disposition,
        Disposition::Dropped(DropReason::EniNotAttached)
    );
}

#[test]
fn a_stopped_instance_is_still_instance_not_running() {
    let mut n = Net::new();
    let f = udp(ip("10.0.1.10"), ip("10.0.1.40"), 5009, 53, 100, true);
    let (out, _) = n.send(n.guest("i-eip"), f, true);
    assert_eq!(
        out.disposition,
        Disposition::Dropped(DropReason::InstanceNotRunning)
    );
}

#[test]
fn mtu_hairpin_through_the_internet_edge_is_held_to_1500() {
    let mut n = Net::new();
    // i-jumbo1 (8500) to the EIP of i-eip: out through its own EIP, back in.
    let f = udp(ip("10.0.1.30"), ip("47.1.1.10"), 5010, 53, 4000, true);
    let (out, _) = n.send(n.guest("i-jumbo1"), f.clone(), true);
    let (from, to, mtu, _) = frag_needed(&out, &f);
    assert_eq!((from, to, mtu), (ip("10.0.1.253"), ip("10.0.1.30"), 1500));
    let f = udp(ip("10.0.1.30"), ip("47.1.1.10"), 5010, 53, 4000, false);
    let (out, _) = n.send(n.guest("i-jumbo1"), f, true);
    assert_eq!(n.eni_of(out.disposition), Some("i-eip-eth0"));
    let first = check_fragments(&out.fragments, 1500, 3980);
    assert_eq!((first.src, first.dst), (ip("47.1.1.30"), ip("10.0.1.10")));
    reassembled_udp_checksum_ok(&out.fragments);
}
