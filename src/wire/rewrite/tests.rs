use super::*;
use crate::wire::build::test_support::*;
use crate::wire::build::{build, checksums_valid, icmp_error, icmp_error_limited};
use crate::wire::build::{IcmpErrorKind, ProbeL4, ProbeSpec};
use crate::wire::frame::{parse, TcpFlags};
use proptest::prelude::*;

fn full_rewrite() -> Rewrite {
    Rewrite {
        src: Some(Ipv4Addr::new(47, 96, 1, 2)),
        dst: Some(Ipv4Addr::new(192, 168, 9, 9)),
        sport: Some(61000),
        dport: Some(8080),
    }
}

fn check(frame: &[u8]) {
    checksums_valid(frame).unwrap();
    etherparse_agrees(frame).unwrap();
}

#[test]
fn snat_of_tcp_keeps_checksums_valid_and_reports_new_view() {
    let mut f = tcp_frame(b"hello world");
    let info = parse(&f).unwrap();
    let out = apply(&mut f, &info, &full_rewrite());
    check(&f);
    assert_eq!(parse(&f).unwrap(), out);
    assert_eq!(out.ports(), (61000, 8080));
    assert_eq!(out.src, Ipv4Addr::new(47, 96, 1, 2));
}

#[test]
fn udp_checksum_zero_stays_zero() {
    let mut f = udp_frame(b"no checksum");
    f[40] = 0;
    f[41] = 0;
    let info = parse(&f).unwrap();
    apply(&mut f, &info, &full_rewrite());
    assert_eq!(&f[40..42], &[0, 0]);
    check(&f);
    let mut g = udp_frame(b"no checksum");
    g[40] = 0;
    g[41] = 0;
    CompiledRewrite::compile(&info, &full_rewrite()).apply(&mut g, 34, proto::UDP);
    assert_eq!(f, g);
}

#[test]
fn swapping_src_and_dst_writes_both_although_the_delta_is_zero() {
    let mut f = tcp_frame(b"x");
    let info = parse(&f).unwrap();
    let rw = Rewrite {
        src: Some(info.dst),
        dst: Some(info.src),
        ..Rewrite::default()
    };
    let mut g = f.clone();
    let out = apply(&mut f, &info, &rw);
    assert_eq!((out.src, out.dst), (info.dst, info.src));
    assert_eq!(parse(&f).unwrap(), out);
    check(&f);
    CompiledRewrite::compile(&info, &rw).apply(&mut g, 34, proto::TCP);
    assert_eq!(f, g);
}

#[test]
fn echo_request_takes_sport_and_reply_takes_dport_as_identifier() {
    let rw = Rewrite {
        sport: Some(1),
        dport: Some(2),
        ..Rewrite::default()
    };
    for (request, want) in [(true, 1), (false, 2)] {
        let mut f = echo_frame(request);
        let info = parse(&f).unwrap();
        let out = apply(&mut f, &info, &rw);
        assert_eq!(out.ports(), (want, want));
        check(&f);
    }
    // Either field alone sets the identifier.
    let mut f = echo_frame(false);
    let info = parse(&f).unwrap();
    let out = apply(
        &mut f,
        &info,
        &Rewrite {
            sport: Some(5),
            ..Rewrite::default()
        },
    );
    assert_eq!(out.ports(), (5, 5));
    check(&f);
}

#[test]
fn non_first_fragment_gets_only_its_ip_header_rewritten() {
    let mut f = tcp_frame(&[1u8; 16]);
    f[20..22].copy_from_slice(&0x0002u16.to_be_bytes());
    fix_ip_checksum(&mut f);
    let orig = f.clone();
    let info = parse(&f).unwrap();
    let mut g = f.clone();
    apply(&mut f, &info, &full_rewrite());
    assert_eq!(&f[34..], &orig[34..], "L4 bytes untouched");
    assert_eq!(&f[26..34], &[47, 96, 1, 2, 192, 168, 9, 9]);
    checksums_valid(&f).unwrap();
    CompiledRewrite::compile(&info, &full_rewrite()).apply(&mut g, 34, proto::TCP);
    assert_eq!(f, g);
}

#[test]
fn gre_gets_only_its_ip_header_rewritten() {
    let mut f = udp_frame(b"payload!");
    f[23] = proto::GRE;
    fix_ip_checksum(&mut f);
    let orig = f.clone();
    let info = parse(&f).unwrap();
    let out = apply(&mut f, &info, &full_rewrite());
    assert_eq!(&f[34..], &orig[34..]);
    assert_eq!(out.ports(), (0, 0));
    checksums_valid(&f).unwrap();
}

#[test]
fn decrement_ttl_refuses_1_and_0_and_keeps_checksum_valid() {
    let mut s = spec(ProbeL4::Udp { sport: 1, dport: 2 }, b"");
    s.ttl = 2;
    let mut f = build(&s);
    let info = parse(&f).unwrap();
    assert_eq!(decrement_ttl(&mut f, &info), Some(1));
    check(&f);
    let before = f.clone();
    assert_eq!(decrement_ttl(&mut f, &info), None);
    assert_eq!(f, before, "frame untouched when refusing");
    s.ttl = 0;
    let mut z = build(&s);
    assert_eq!(decrement_ttl(&mut z, &info), None);
}

#[test]
fn forged_views_with_huge_offsets_do_not_panic() {
    let f = tcp_frame(b"abc");
    let mut info = parse(&f).unwrap();
    info.l4_offset = usize::MAX - 1;
    let mut g = f.clone();
    apply(&mut g, &info, &full_rewrite());
    CompiledRewrite::compile(&info, &full_rewrite()).apply(&mut g, usize::MAX, proto::TCP);
    let orig = udp_frame(b"");
    let oinfo = parse(&orig).unwrap();
    let k = IcmpErrorKind::TimeExceeded;
    let mut err = icmp_error(&orig, &oinfo, k, Ipv4Addr::new(1, 1, 1, 1), MAC_B, MAC_A).unwrap();
    let mut einfo = parse(&err).unwrap();
    if let L4::IcmpError { inner, .. } = &mut einfo.l4 {
        inner.offset = usize::MAX - 3;
        inner.ihl_len = usize::MAX;
    }
    apply_inner(&mut err, &einfo, &full_rewrite());
    apply(&mut [][..], &einfo, &full_rewrite());
    assert_eq!(decrement_ttl(&mut [][..], &einfo), None);
}

#[test]
fn compiled_rewrite_is_small_and_copy() {
    fn is_copy<T: Copy>() {}
    is_copy::<CompiledRewrite>();
    assert!(std::mem::size_of::<CompiledRewrite>() <= 24);
}

#[test]
fn compiled_rewrite_of_noop_is_noop() {
    let f = tcp_frame(b"abc");
    let info = parse(&f).unwrap();
    let c = CompiledRewrite::compile(&info, &Rewrite::default());
    assert!(c.is_noop());
    let mut g = f.clone();
    c.apply(&mut g, 34, proto::TCP);
    assert_eq!(f, g);
}

/// Reverse NAT of an ICMP error (RFC 5508): outer dst back to the private
/// host, and the embedded datagram's src/sport back as well.
fn reverse_nat_error(max_embedded: usize, l4: ProbeL4) -> Vec<u8> {
    let orig = build(&spec(l4, &[0xAB; 64]));
    let info = parse(&orig).unwrap();
    let k = IcmpErrorKind::TimeExceeded;
    let from = Ipv4Addr::new(100, 64, 0, 1);
    let mut err = icmp_error_limited(&orig, &info, k, from, MAC_B, MAC_A, max_embedded).unwrap();
    let einfo = parse(&err).unwrap();
    let private = Ipv4Addr::new(172, 16, 0, 9);
    let out = apply(
        &mut err,
        &einfo,
        &Rewrite {
            dst: Some(private),
            ..Rewrite::default()
        },
    );
    let rw = Rewrite {
        src: Some(private),
        sport: Some(1111),
        ..Rewrite::default()
    };
    let out = apply_inner(&mut err, &out, &rw);
    check(&err);
    assert_eq!(parse(&err).unwrap(), out);
    let L4::IcmpError { inner, .. } = out.l4 else {
        panic!()
    };
    assert_eq!((inner.src, inner.sport), (private, 1111));
    err
}

#[test]
fn apply_inner_on_rfc792_error_with_only_8_tcp_bytes_skips_absent_checksum() {
    let err = reverse_nat_error(
        28,
        ProbeL4::Tcp {
            sport: 2000,
            dport: 80,
            flags: TcpFlags::SYN,
            seq: 1,
            ack: 0,
        },
    );
    assert_eq!(err.len(), 14 + 20 + 8 + 28);
}

#[test]
fn apply_inner_on_rfc1812_error_updates_embedded_tcp_udp_and_echo_checksums() {
    for l4 in [
        ProbeL4::Tcp {
            sport: 2000,
            dport: 80,
            flags: TcpFlags::SYN,
            seq: 1,
            ack: 0,
        },
        ProbeL4::Udp {
            sport: 2000,
            dport: 53,
        },
        ProbeL4::IcmpEcho {
            request: true,
            ident: 2000,
            seq: 1,
        },
    ] {
        let err = reverse_nat_error(548, l4);
        // The embedded datagram is complete here, so its L4 checksum must
        // still verify as a standalone packet.
        let inner_frame: Vec<u8> = err[..14].iter().chain(&err[42..]).copied().collect();
        check(&inner_frame);
    }
}

#[test]
fn apply_inner_ignores_frames_that_are_not_icmp_errors() {
    let mut f = tcp_frame(b"abc");
    let info = parse(&f).unwrap();
    let before = f.clone();
    assert_eq!(apply_inner(&mut f, &info, &full_rewrite()), info);
    assert_eq!(f, before);
}

fn flow_packets(base: &ProbeSpec, variants: &[(u8, u32, Vec<u8>)]) -> Vec<Vec<u8>> {
    variants
        .iter()
        .map(|(ttl, seq, payload)| {
            let mut s = base.clone();
            s.ttl = *ttl;
            s.ident = *seq as u16;
            s.payload = payload.clone();
            if let ProbeL4::Tcp { seq: q, flags, .. } = &mut s.l4 {
                *q = *seq;
                *flags = TcpFlags((*seq as u8) & 0x1F);
            }
            if let ProbeL4::IcmpEcho { seq: q, .. } = &mut s.l4 {
                *q = *seq as u16;
            }
            build(&s)
        })
        .collect()
}

proptest! {
    #[test]
    fn apply_keeps_checksums_valid_and_equal_to_recomputation(f in frame(), rw in rewrite()) {
        let mut f = f;
        let info = parse(&f).unwrap();
        let udp_zero = info.proto == proto::UDP && f[40..42] == [0, 0];
        let out = apply(&mut f, &info, &rw);
        prop_assert_eq!(checksums_valid(&f), Ok(()));
        prop_assert_eq!(etherparse_agrees(&f), Ok(()));
        prop_assert_eq!(parse(&f).unwrap(), out);
        if udp_zero {
            prop_assert_eq!(&f[40..42], &[0u8, 0][..]);
        }
        if let Some(s) = rw.src { prop_assert_eq!(out.src, s); }
        if let Some(d) = rw.dst { prop_assert_eq!(out.dst, d); }
    }

    #[test]
    fn compiled_rewrite_is_byte_identical_to_apply_for_a_whole_flow(
        base in probe_spec(),
        rw in rewrite(),
        variants in proptest::collection::vec(
            (2u8..=255, any::<u32>(), proptest::collection::vec(any::<u8>(), 0..200)), 1..12),
        udp_zero in any::<bool>(),
    ) {
        let packets = flow_packets(&base, &variants);
        let compiled = CompiledRewrite::compile(&parse(&packets[0]).unwrap(), &rw);
        for p in packets {
            let mut p = p;
            if udp_zero && matches!(base.l4, ProbeL4::Udp { .. }) {
                p[40] = 0;
                p[41] = 0;
            }
            let info = parse(&p).unwrap();
            let mut a = p.clone();
            let mut b = p;
            apply(&mut a, &info, &rw);
            compiled.apply(&mut b, info.l4_offset, info.proto);
            prop_assert_eq!(&a, &b);
            prop_assert_eq!(checksums_valid(&b), Ok(()));
        }
    }

    #[test]
    fn ttl_decrement_folded_into_the_rewrite_equals_decrementing_then_rewriting(
        f in frame(),
        rw in rewrite(),
        hops in 1u8..=2,
    ) {
        let info = parse(&f).unwrap();
        prop_assume!(info.ttl > hops);
        let mut a = f.clone();
        for _ in 0..hops {
            decrement_ttl(&mut a, &info);
        }
        apply(&mut a, &info, &rw);
        let mut b = f;
        CompiledRewrite::compile(&info, &rw).with_ttl_decrement(hops).apply(&mut b, info.l4_offset, info.proto);
        prop_assert_eq!(checksums_valid(&b), Ok(()));
        // Equal bytes, but for the two ones' complement zeros of the IP checksum.
        let (ca, cb) = (u16::from_be_bytes([a[24], a[25]]), u16::from_be_bytes([b[24], b[25]]));
        prop_assert!(ca == cb || (ca | cb == 0xFFFF && ca & cb == 0), "{ca:#x} vs {cb:#x}");
        a[24..26].copy_from_slice(&[0, 0]);
        b[24..26].copy_from_slice(&[0, 0]);
        prop_assert_eq!(a, b);
    }

    #[test]
    fn the_established_paths_rewrite_is_byte_identical_to_the_general_one(
        f in frame(),
        rw in rewrite(),
        hops in 0u8..=2,
        udp_zero in any::<bool>(),
        cut in 0usize..8,
    ) {
        let mut f = f;
        let info = parse(&f).unwrap();
        prop_assume!(info.ttl > hops);
        if udp_zero && info.proto == proto::UDP {
            f[40] = 0;
            f[41] = 0;
        }
        // Frames fast_tuple accepts (TCP/UDP, no options, no fragment); some cut
        // short after parsing, which both forms must treat alike.
        prop_assume!(crate::wire::frame::fast_tuple(&f).is_some());
        let c = CompiledRewrite::compile(&info, &rw).with_ttl_decrement(hops);
        let (s, d, sp, dp) = c.target();
        let keep = f.len().saturating_sub(cut * 6);
        let mut a = f[..keep].to_vec();
        let mut b = a.clone();
        c.apply(&mut a, info.l4_offset, info.proto);
        c.deltas().apply_fast(&mut b, info.proto, (s.into(), d.into(), sp, dp));
        prop_assert_eq!(a, b);
    }

    #[test]
    fn rewrite_deltas_with_their_target_rebuild_the_rewrite(f in frame(), rw in rewrite(), hops in 0u8..=2) {
        let info = parse(&f).unwrap();
        let c = CompiledRewrite::compile(&info, &rw).with_ttl_decrement(hops);
        let (s, d, sp, dp) = c.target();
        prop_assert_eq!(CompiledRewrite::with_target(c.deltas(), s, d, sp, dp), c);
        prop_assert_eq!(c.deltas().ttl_decrement(), hops);
    }

    #[test]
    fn apply_inner_keeps_outer_and_inner_checksums_valid(
        s in probe_spec(),
        outer in rewrite(),
        inner_rw in rewrite(),
        short in any::<bool>(),
    ) {
        let orig = build(&s);
        let info = parse(&orig).unwrap();
        let from = Ipv4Addr::new(100, 64, 0, 1);
        let k = IcmpErrorKind::DestUnreachable { code: 3 };
        let mut err = if short {
            icmp_error_limited(&orig, &info, k, from, MAC_B, MAC_A, 28).unwrap()
        } else {
            icmp_error(&orig, &info, k, from, MAC_B, MAC_A).unwrap()
        };
        let einfo = parse(&err).unwrap();
        let mid = apply(&mut err, &einfo, &outer);
        let out = apply_inner(&mut err, &mid, &inner_rw);
        prop_assert_eq!(checksums_valid(&err), Ok(()));
        prop_assert_eq!(etherparse_agrees(&err), Ok(()));
        prop_assert_eq!(parse(&err).unwrap(), out);
        let L4::IcmpError { inner, .. } = out.l4 else { panic!("not an error") };
        if let Some(a) = inner_rw.src { prop_assert_eq!(inner.src, a); }
        if let Some(a) = inner_rw.dst { prop_assert_eq!(inner.dst, a); }
        if !short {
            // Whole original embedded: it must still be a valid datagram.
            let inner_frame: Vec<u8> = err[..14].iter().chain(&err[42..]).copied().collect();
            prop_assert_eq!(checksums_valid(&inner_frame), Ok(()));
        }
    }

    #[test]
    fn decrement_ttl_keeps_checksum_valid(f in frame()) {
        let mut f = f;
        let info = parse(&f).unwrap();
        let got = decrement_ttl(&mut f, &info);
        prop_assert_eq!(got, Some(info.ttl - 1));
        prop_assert_eq!(checksums_valid(&f), Ok(()));
        prop_assert_eq!(etherparse_agrees(&f), Ok(()));
        prop_assert_eq!(parse(&f).unwrap().ttl, info.ttl - 1);
    }
}
