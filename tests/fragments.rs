//! IPv4 fragments through the NAT paths (virtual reassembly, `pipeline::frag`): every
//! fragment of a datagram is translated like its first, in or out of order; held
//! fragments are bounded and time out; each drop is counted.
//!
//! Each test reassembles what came out and checks the reassembled datagram's checksums
//! by full recomputation: that is what the receiving host would verify.

use std::net::Ipv4Addr;

use proptest::prelude::Strategy;
use vpcsim::pipeline::{DataplaneConfig, Disposition, DropReason, FragLimits, Ingress, Trace};
use vpcsim::time::SimTime;
use vpcsim::wire::{self, checksum, ProbeL4, TcpFlags, L4};

mod support;
use support::{Net, SERVER};

const TOPOLOGY: &str = concat!(
    support::scenario!("fragments"),
    support::vpc_1!(),
    r#"[[security_groups]]
id = "sg-open"
vpc = "vpc-1"
rules = [
  { direction = "ingress", protocol = "tcp", ports = "22/22", cidr = "0.0.0.0/0" },
  { direction = "ingress", protocol = "udp", ports = "53/53", cidr = "0.0.0.0/0" },
]

"#,
    support::instance!("i-eip", "10.0.1.10"),
    support::instance!("i-snat", "10.0.1.12"),
    support::instance!("i-dnat", "10.0.1.20"),
    support::ngw_1!("eip-ngw1"),
    support::eip!("eip-inst", "47.1.1.10", "EcsInstance", "i-eip"),
);

const SNAT_EIP: Ipv4Addr = Ipv4Addr::new(47, 1, 2, 1);

fn net_with(limits: FragLimits) -> Net {
    Net::over(
        &support::cloud(TOPOLOGY, "fragments.toml"),
        DataplaneConfig {
            conntrack_capacity: 1024,
            fragments: limits,
            ..Default::default()
        },
    )
}

fn net() -> Net {
    net_with(FragLimits::default())
}

impl Net {
    /// Sends one frame; returns its disposition, the frame, and what it released.
    fn send(&mut self, at: Ingress, f: &[u8], t: u64) -> (Disposition, Vec<u8>, Vec<Vec<u8>>) {
        let mut buf = f.to_vec();
        vpcsim::pipeline::stamp_sender_mac(&self.t, at, &mut buf);
        let mut tr = Trace::default();
        let out = self
            .dp
            .process(&mut buf, at, SimTime::from_secs(t), Some(&mut tr));
        let rel = out
            .released
            .iter()
            .map(|(b, d)| {
                assert_eq!(*d, out.disposition, "released fragments follow the first");
                b.clone()
            })
            .collect();
        (out.disposition, buf, rel)
    }
}

fn datagram(src: Ipv4Addr, dst: Ipv4Addr, l4: ProbeL4, len: usize, ident: u16) -> Vec<u8> {
    let payload: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
    support::frame(src, dst, l4)
        .ident(ident)
        .payload(payload)
        .build()
}

fn udp(sport: u16, dport: u16) -> ProbeL4 {
    ProbeL4::Udp { sport, dport }
}

fn syn(sport: u16, dport: u16) -> ProbeL4 {
    ProbeL4::Tcp {
        sport,
        dport,
        flags: TcpFlags::SYN,
        seq: 1,
        ack: 0,
    }
}

/// Splits a frame's IPv4 payload into fragments of `chunk` bytes (a multiple of 8).
fn fragment(frame: &[u8], chunk: usize) -> Vec<Vec<u8>> {
    assert_eq!(chunk % 8, 0);
    let payload = &frame[34..];
    let n = payload.len().div_ceil(chunk);
    (0..n)
        .map(|i| {
            let part = &payload[i * chunk..((i + 1) * chunk).min(payload.len())];
            let mut f = frame[..34].to_vec();
            f.extend_from_slice(part);
            let total = (20 + part.len()) as u16;
            f[16..18].copy_from_slice(&total.to_be_bytes());
            let mf = if i + 1 < n { 0x2000 } else { 0 };
            let off = ((i * chunk) / 8) as u16 | mf;
            f[20..22].copy_from_slice(&off.to_be_bytes());
            f[24..26].copy_from_slice(&[0, 0]);
            let c = checksum::checksum(&f[14..34]);
            f[24..26].copy_from_slice(&c.to_be_bytes());
            f
        })
        .collect()
}

/// Reassembles fragments (any order) into one frame, as the receiving host would; all
/// must agree on addresses, protocol and id, and the IPv4 header checksums must hold.
fn reassemble(frags: &[Vec<u8>]) -> Vec<u8> {
    let mut sorted: Vec<(wire::FrameInfo, &Vec<u8>)> = frags
        .iter()
        .map(|f| (wire::parse(f).expect("fragment parses"), f))
        .collect();
    sorted.sort_by_key(|(i, _)| i.frag_offset);
    let (first, head) = sorted[0];
    assert_eq!(first.frag_offset, 0, "the first fragment is there");
    let mut payload = Vec::new();
    for (i, f) in &sorted {
        assert_eq!(
            (i.src, i.dst, i.proto, i.ident),
            (first.src, first.dst, first.proto, first.ident),
            "every fragment of the datagram is translated alike"
        );
        assert_eq!(f[..12], head[..12], "same MACs");
        assert_eq!(i.ttl, first.ttl, "same TTL cost");
        assert_eq!(usize::from(i.frag_offset) * 8, payload.len(), "no gap");
        payload.extend_from_slice(&f[34..i.ip_end()]);
    }
    let mut out = head[..34].to_vec();
    out.extend_from_slice(&payload);
    let total = (20 + payload.len()) as u16;
    out[16..18].copy_from_slice(&total.to_be_bytes());
    out[20..22].copy_from_slice(&[0, 0]);
    out[24..26].copy_from_slice(&[0, 0]);
    let c = checksum::checksum(&out[14..34]);
    out[24..26].copy_from_slice(&c.to_be_bytes());
    wire::checksums_valid(&out).unwrap_or_else(|e| panic!("reassembled datagram: {e}"));
    out
}

fn ports(f: &[u8]) -> (Ipv4Addr, u16, Ipv4Addr, u16) {
    let i = wire::parse(f).unwrap();
    let (s, d) = i.ports();
    (i.src, s, i.dst, d)
}

#[test]
fn snat_fragments_in_order_share_the_first_fragments_translation() {
    let mut n = net();
    let at = n.guest("i-snat");
    let d = datagram(Ipv4Addr::new(10, 0, 1, 12), SERVER, udp(5000, 53), 300, 77);
    let frags = fragment(&d, 104);
    assert_eq!(frags.len(), 3);
    let mut out = Vec::new();
    for f in &frags {
        let (disp, buf, rel) = n.send(at, f, 1);
        assert_eq!(disp, Disposition::Internet);
        assert!(rel.is_empty());
        out.push(buf);
    }
    let whole = reassemble(&out);
    let (src, sport, dst, dport) = ports(&whole);
    assert_eq!((src, dst, dport), (SNAT_EIP, SERVER, 53));
    assert_ne!(sport, 0);
    // The same datagram unfragmented would have left identically (same flow).
    let (disp, single, _) = n.send(at, &d, 2);
    assert_eq!(disp, Disposition::Internet);
    assert_eq!(ports(&single), ports(&whole));
    assert_eq!(
        single[34..],
        whole[34..],
        "same bytes as the unfragmented datagram"
    );

    // The reply, fragmented, comes back to the instance's own address and port.
    let reply = datagram(SERVER, SNAT_EIP, udp(53, sport), 200, 9);
    let mut back = Vec::new();
    for f in fragment(&reply, 64) {
        let (disp, buf, _) = n.send(Ingress::Internet, &f, 3);
        assert!(matches!(disp, Disposition::Delivered { .. }), "{disp:?}");
        back.push(buf);
    }
    let whole = reassemble(&back);
    assert_eq!(
        ports(&whole),
        (SERVER, 53, Ipv4Addr::new(10, 0, 1, 12), 5000)
    );
}

#[test]
fn out_of_order_fragments_wait_for_the_first_and_are_released_translated() {
    let mut n = net();
    let at = n.guest("i-snat");
    let d = datagram(
        Ipv4Addr::new(10, 0, 1, 12),
        SERVER,
        syn(40000, 443),
        400,
        78,
    );
    let frags = fragment(&d, 120);
    assert_eq!(frags.len(), 4);
    let mut out = Vec::new();
    for f in frags[1..].iter().rev() {
        let (disp, _, rel) = n.send(at, f, 1);
        assert_eq!(disp, Disposition::Held);
        assert!(rel.is_empty());
    }
    assert_eq!(n.dp.counters.fragments_held, 3);
    assert!(n.dp.fragments().held_bytes() > 0);
    let (disp, first, rel) = n.send(at, &frags[0], 2);
    assert_eq!(disp, Disposition::Internet);
    assert_eq!(rel.len(), 3, "the held fragments come out with the first");
    assert_eq!(n.dp.fragments().held_bytes(), 0);
    out.push(first);
    out.extend(rel);
    let whole = reassemble(&out);
    let (src, _, dst, dport) = ports(&whole);
    assert_eq!((src, dst, dport), (SNAT_EIP, SERVER, 443));
    assert_eq!(n.dp.counters.to_internet, 4, "each fragment counted once");
}

#[test]
fn eip_inbound_fragments_reach_the_private_address() {
    let mut n = net();
    let d = datagram(SERVER, Ipv4Addr::new(47, 1, 1, 10), udp(999, 53), 250, 5);
    let frags = fragment(&d, 80);
    let mut out = Vec::new();
    // Middle, last, then first: mixed order.
    let order = [1, frags.len() - 1, 0, 2];
    for &i in &order {
        let (disp, buf, rel) = n.send(Ingress::Internet, &frags[i], 1);
        if i == 0 {
            assert!(matches!(disp, Disposition::Delivered { .. }));
            assert_eq!(rel.len(), 2);
            out.push(buf);
            out.extend(rel);
        } else if i == 2 {
            assert!(matches!(disp, Disposition::Delivered { .. }));
            out.push(buf);
        } else {
            assert_eq!(disp, Disposition::Held);
        }
    }
    let whole = reassemble(&out);
    assert_eq!(
        ports(&whole),
        (SERVER, 999, Ipv4Addr::new(10, 0, 1, 10), 53)
    );
}

#[test]
fn dnat_fragments_get_the_port_mapping_of_the_first() {
    let mut n = net();
    let d = datagram(SERVER, SNAT_EIP, syn(33000, 2222), 200, 6);
    let mut out = Vec::new();
    for f in fragment(&d, 96) {
        let (disp, buf, _) = n.send(Ingress::Internet, &f, 1);
        assert!(matches!(disp, Disposition::Delivered { .. }), "{disp:?}");
        out.push(buf);
    }
    let whole = reassemble(&out);
    assert_eq!(
        ports(&whole),
        (SERVER, 33000, Ipv4Addr::new(10, 0, 1, 20), 22)
    );
    let i = wire::parse(&whole).unwrap();
    assert!(matches!(i.l4, L4::Tcp { .. }));
}

#[test]
fn fragments_of_a_refused_datagram_are_dropped_with_its_reason() {
    let mut n = net();
    // UDP 54 is not open on the EIP's instance.
    let d = datagram(SERVER, Ipv4Addr::new(47, 1, 1, 10), udp(999, 54), 200, 8);
    let frags = fragment(&d, 64);
    let (disp, _, _) = n.send(Ingress::Internet, &frags[2], 1);
    assert_eq!(disp, Disposition::Held);
    let (disp, _, rel) = n.send(Ingress::Internet, &frags[0], 1);
    assert_eq!(disp, Disposition::Dropped(DropReason::SgIngressDenied));
    assert!(rel.is_empty(), "nothing released for a refused datagram");
    let (disp, _, _) = n.send(Ingress::Internet, &frags[1], 1);
    assert_eq!(disp, Disposition::Dropped(DropReason::SgIngressDenied));
    assert_eq!(n.dp.counters.dropped_by(DropReason::SgIngressDenied), 3);
}

#[test]
fn orphan_fragments_time_out_and_are_counted() {
    let mut n = net();
    let d = datagram(SERVER, Ipv4Addr::new(47, 1, 1, 10), udp(999, 53), 200, 11);
    let frags = fragment(&d, 64);
    for f in &frags[1..] {
        assert_eq!(n.send(Ingress::Internet, f, 0).0, Disposition::Held);
    }
    n.dp.expire(SimTime::from_secs(29));
    assert_eq!(n.dp.counters.dropped_by(DropReason::Fragment), 0);
    n.dp.expire(SimTime::from_secs(31));
    assert_eq!(
        n.dp.counters.dropped_by(DropReason::Fragment),
        (frags.len() - 1) as u64
    );
    assert_eq!(n.dp.fragments().held_bytes(), 0);
    assert_eq!(n.dp.fragments().datagrams(), 0);
    // The first fragment, late, still goes through; nothing is left to release.
    let (disp, _, rel) = n.send(Ingress::Internet, &frags[0], 32);
    assert!(matches!(disp, Disposition::Delivered { .. }));
    assert!(rel.is_empty());
    // Without expire(): a fragment arriving after the timeout also clears the old ones.
    let d2 = datagram(SERVER, Ipv4Addr::new(47, 1, 1, 10), udp(999, 53), 200, 12);
    let f2 = fragment(&d2, 64);
    assert_eq!(n.send(Ingress::Internet, &f2[1], 40).0, Disposition::Held);
    let before = n.dp.counters.dropped_by(DropReason::Fragment);
    let d3 = datagram(SERVER, Ipv4Addr::new(47, 1, 1, 10), udp(999, 53), 200, 13);
    let f3 = fragment(&d3, 64);
    assert_eq!(n.send(Ingress::Internet, &f3[1], 100).0, Disposition::Held);
    assert_eq!(n.dp.counters.dropped_by(DropReason::Fragment), before + 1);
}

#[test]
fn held_fragments_are_bounded_per_datagram_and_in_all() {
    let mut n = net_with(FragLimits {
        max_datagrams: 8,
        max_datagram_bytes: 300,
        max_held_bytes: 1000,
        ..Default::default()
    });
    // One datagram: 100-byte frames (14 + 20 + 64 + ...), the fourth is over 300 bytes.
    let d = datagram(SERVER, Ipv4Addr::new(47, 1, 1, 10), udp(999, 53), 600, 20);
    let frags = fragment(&d, 64);
    let mut held = 0;
    let mut refused = 0;
    for f in &frags[1..6] {
        match n.send(Ingress::Internet, f, 0).0 {
            Disposition::Held => held += 1,
            Disposition::Dropped(DropReason::Fragment) => refused += 1,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(held, 3, "300 bytes of 98-byte frames");
    assert!(n.dp.fragments().held_bytes() <= 300);
    // Many datagrams: never more than 8 tracked nor 1000 bytes held.
    for id in 100..200u16 {
        let d = datagram(SERVER, Ipv4Addr::new(47, 1, 1, 10), udp(999, 53), 200, id);
        let f = fragment(&d, 64);
        match n.send(Ingress::Internet, &f[1], 1).0 {
            Disposition::Held => {}
            Disposition::Dropped(DropReason::Fragment) => refused += 1,
            other => panic!("{other:?}"),
        }
        assert!(n.dp.fragments().datagrams() <= 8);
        assert!(n.dp.fragments().held_bytes() <= 1000);
    }
    // Every fragment held is still held, or was dropped (forgotten to make room) and
    // counted; the ones refused outright are counted too.
    let c = &n.dp.counters;
    let still = (n.dp.fragments().held_bytes() / 98) as u64;
    assert_eq!(c.fragments_held + refused, 105);
    assert_eq!(
        c.fragments_held,
        still + c.dropped_by(DropReason::Fragment) - refused
    );
}

#[test]
fn non_fragments_are_untouched_by_reassembly() {
    let mut n = net();
    let at = n.guest("i-snat");
    let d = datagram(Ipv4Addr::new(10, 0, 1, 12), SERVER, udp(5000, 53), 100, 1);
    for t in 0..3 {
        let (disp, _, rel) = n.send(at, &d, t);
        assert_eq!(disp, Disposition::Internet);
        assert!(rel.is_empty());
    }
    assert_eq!(n.dp.fragments().datagrams(), 0);
    assert_eq!(n.dp.counters.fast_path, 2);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 48, ..Default::default() })]

    /// Any datagram, cut into fragments of any size and sent in any order, through any
    /// of the NAT paths: what comes out (sent, plus released) reassembles into exactly
    /// the bytes the unfragmented datagram gives, with valid checksums.
    #[test]
    fn any_fragmentation_in_any_order_equals_the_unfragmented_translation(
        path in 0usize..3,
        len in 16usize..700,
        chunk8 in 1usize..40,
        tcp in proptest::prelude::any::<bool>(),
        order in proptest::sample::subsequence((0..64usize).collect::<Vec<_>>(), 64)
            .prop_shuffle(),
    ) {
        let l4 = |sport, dport| if tcp { syn(sport, dport) } else { udp(sport, dport) };
        let (at_name, d) = match path {
            0 => ("i-snat", datagram(Ipv4Addr::new(10, 0, 1, 12), SERVER, l4(5000, 53), len, 3)),
            1 => ("internet", datagram(SERVER, Ipv4Addr::new(47, 1, 1, 10), l4(999, 53), len, 4)),
            _ => ("internet", datagram(SERVER, SNAT_EIP, syn(33000, 2222), len, 5)),
        };
        // The reference: the unfragmented datagram through a fresh pipeline.
        let mut r = net();
        let at = if at_name == "internet" { Ingress::Internet } else { r.guest(at_name) };
        let (want_disp, want, _) = r.send(at, &d, 1);
        proptest::prop_assume!(!matches!(want_disp, Disposition::Dropped(_)));
        // A first fragment must hold the whole L4 header (see
        // `a_tiny_first_fragment_is_malformed_and_its_datagram_is_lost`).
        proptest::prop_assume!(chunk8 * 8 >= if tcp || path == 2 { 20 } else { 8 });
        let frags = fragment(&d, chunk8 * 8);
        let order: Vec<usize> = order.into_iter().filter(|i| *i < frags.len()).collect();
        proptest::prop_assume!(order.len() == frags.len());
        let mut n = net();
        let mut out = Vec::new();
        for i in order {
            let (disp, buf, rel) = n.send(at, &frags[i], 1);
            match disp {
                Disposition::Held => {}
                x => {
                    proptest::prop_assert_eq!(x, want_disp);
                    out.push(buf);
                }
            }
            out.extend(rel);
        }
        proptest::prop_assert_eq!(out.len(), frags.len());
        proptest::prop_assert_eq!(n.dp.fragments().held_bytes(), 0);
        let whole = reassemble(&out);
        proptest::prop_assert_eq!(&whole[..12], &want[..12]);
        proptest::prop_assert_eq!(&whole[26..], &want[26..], "addresses, L4 header and payload");
    }
}

#[test]
fn the_engine_steers_every_fragment_of_a_datagram_to_one_worker() {
    let n = net();
    for workers in 2..=5u16 {
        let st = vpcsim::engine::Steering::new(&n.t, workers);
        for (id, (src, dst, at)) in [
            (Ipv4Addr::new(10, 0, 1, 12), SERVER, n.guest("i-snat")),
            (SERVER, Ipv4Addr::new(47, 1, 1, 10), Ingress::Internet),
            (SERVER, SNAT_EIP, Ingress::Internet),
        ]
        .into_iter()
        .enumerate()
        {
            let d = datagram(src, dst, udp(1000 + id as u16, 53), 500, id as u16);
            let w: Vec<u16> = fragment(&d, 64).iter().map(|f| st.steer(f, at)).collect();
            assert!(
                w.windows(2).all(|p| p[0] == p[1]),
                "{workers} workers: {w:?}"
            );
        }
    }
}

/// RFC 1858's tiny-fragment attack: a first fragment too short for the TCP header cannot
/// be classified (ports, flags), so it is malformed; the rest of its datagram is held as
/// orphans and dropped on timeout. Nothing of the datagram gets through.
#[test]
fn a_tiny_first_fragment_is_malformed_and_its_datagram_is_lost() {
    let mut n = net();
    let d = datagram(SERVER, SNAT_EIP, syn(33000, 2222), 64, 21);
    let frags = fragment(&d, 8);
    let (disp, _, _) = n.send(Ingress::Internet, &frags[0], 1);
    assert_eq!(disp, Disposition::Dropped(DropReason::MalformedFrame));
    for f in &frags[1..] {
        assert_eq!(n.send(Ingress::Internet, f, 1).0, Disposition::Held);
    }
    n.dp.expire(SimTime::from_secs(100));
    assert_eq!(
        n.dp.counters.dropped_by(DropReason::Fragment),
        (frags.len() - 1) as u64
    );
    assert_eq!(n.dp.counters.delivered, 0);
}
