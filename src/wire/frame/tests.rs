//! Unit tests of [`super::parse`] and the accessors: each rejection by name, and the
//! no-panic contract exercised on every frame that parses.

use super::*;
use crate::wire::build::test_support::*;
use crate::wire::build::{icmp_error_limited, IcmpErrorKind};
use crate::wire::rewrite::{apply, apply_inner, decrement_ttl, CompiledRewrite};
use proptest::prelude::*;

fn set_total_len(f: &mut [u8], n: u16) {
    f[16..18].copy_from_slice(&n.to_be_bytes());
    fix_ip_checksum(f);
}

#[test]
fn frame_shorter_than_ethernet_header_is_truncated_ethernet() {
    assert_eq!(
        parse(&[0u8; 13]),
        Err(WireError::TruncatedEthernet { len: 13 })
    );
    assert_eq!(parse(&[]), Err(WireError::TruncatedEthernet { len: 0 }));
}

#[test]
fn ipv6_ethertype_is_not_ipv4() {
    let mut f = udp_frame(b"x");
    f[12..14].copy_from_slice(&[0x86, 0xDD]);
    assert_eq!(parse(&f), Err(WireError::NotIpv4 { ethertype: 0x86DD }));
}

#[test]
fn vlan_tagged_frame_is_not_ipv4() {
    let mut f = udp_frame(b"x");
    f.splice(12..12, [0x81, 0x00, 0x00, 0x0a]);
    assert_eq!(parse(&f), Err(WireError::NotIpv4 { ethertype: 0x8100 }));
}

#[test]
fn fewer_than_20_ip_bytes_is_truncated_ipv4() {
    let f = udp_frame(b"");
    assert_eq!(parse(&f[..33]), Err(WireError::TruncatedIpv4 { len: 19 }));
}

#[test]
fn ip_version_6_in_ipv4_ethertype_is_bad_version() {
    let mut f = udp_frame(b"");
    f[14] = 0x65;
    assert_eq!(parse(&f), Err(WireError::BadIpVersion { version: 6 }));
}

#[test]
fn ihl_below_5_is_bad_ihl() {
    let mut f = udp_frame(b"");
    f[14] = 0x44;
    assert_eq!(
        parse(&f),
        Err(WireError::BadIhl {
            ihl: 4,
            total_len: 28
        })
    );
}

#[test]
fn ihl_longer_than_the_packet_is_bad_ihl_not_ip_options() {
    // IHL 15 = 60 bytes of header in a 28-byte packet: unreadable, not "options".
    let mut f = udp_frame(b"");
    f[14] = 0x4f;
    fix_ip_checksum(&mut f);
    let e = parse(&f).unwrap_err();
    assert_eq!(
        e,
        WireError::BadIhl {
            ihl: 15,
            total_len: 28
        }
    );
    assert_eq!(e.name(), "ipv4_bad_ihl");
    assert!(e.to_string().contains("60 bytes"), "{e}");
}

#[test]
fn ihl_above_5_is_refused_as_ip_options() {
    let mut f = udp_frame(b"12345678");
    f[14] = 0x46;
    fix_ip_checksum(&mut f);
    assert_eq!(parse(&f), Err(WireError::Ipv4Options { ihl: 6 }));
}

#[test]
fn total_length_below_20_is_bad_total_length() {
    let mut f = udp_frame(b"");
    set_total_len(&mut f, 19);
    assert_eq!(
        parse(&f),
        Err(WireError::BadTotalLength {
            total_len: 19,
            available: 28
        })
    );
}

#[test]
fn total_length_beyond_frame_is_bad_total_length() {
    let f = udp_frame(b"abcd");
    assert_eq!(
        parse(&f[..f.len() - 1]),
        Err(WireError::BadTotalLength {
            total_len: 32,
            available: 31
        })
    );
}

#[test]
fn ethernet_padding_after_total_length_is_ignored() {
    let mut f = udp_frame(b"");
    let before = parse(&f).unwrap();
    f.extend_from_slice(&[0u8; 18]); // pad to the 60-byte Ethernet minimum
    assert_eq!(parse(&f), Ok(before));
    assert_eq!(before.ip_end(), 42);
}

#[test]
fn corrupted_ip_checksum_reports_found_and_expected() {
    let mut f = udp_frame(b"");
    let good = u16::from_be_bytes([f[24], f[25]]);
    f[24] ^= 0x10;
    let found = u16::from_be_bytes([f[24], f[25]]);
    assert_eq!(
        parse(&f),
        Err(WireError::BadIpChecksum {
            found,
            expected: good
        })
    );
    f[24] ^= 0x10;
    f[30] ^= 0x01; // change the destination address instead
    assert!(matches!(parse(&f), Err(WireError::BadIpChecksum { .. })));
}

#[test]
fn udp_shorter_than_8_bytes_is_truncated_l4() {
    let mut f = udp_frame(b"");
    set_total_len(&mut f, 24);
    assert_eq!(
        parse(&f),
        Err(WireError::TruncatedL4 {
            proto: 17,
            needed: 8,
            available: 4
        })
    );
}

#[test]
fn tcp_shorter_than_20_bytes_is_truncated_l4() {
    let mut f = tcp_frame(b"");
    set_total_len(&mut f, 39);
    assert_eq!(
        parse(&f),
        Err(WireError::TruncatedL4 {
            proto: 6,
            needed: 20,
            available: 19
        })
    );
}

#[test]
fn icmp_shorter_than_8_bytes_is_truncated_l4() {
    let mut f = echo_frame(true);
    set_total_len(&mut f, 27);
    assert_eq!(
        parse(&f),
        Err(WireError::TruncatedL4 {
            proto: 1,
            needed: 8,
            available: 7
        })
    );
}

#[test]
fn tcp_data_offset_below_5_is_bad() {
    let mut f = tcp_frame(b"");
    f[46] = 0x40;
    assert_eq!(parse(&f), Err(WireError::BadTcpDataOffset { offset: 4 }));
}

#[test]
fn tcp_data_offset_beyond_packet_is_truncated_l4() {
    let mut f = tcp_frame(&[0u8; 10]);
    f[46] = 0xF0;
    assert_eq!(
        parse(&f),
        Err(WireError::TruncatedL4 {
            proto: 6,
            needed: 60,
            available: 30
        })
    );
}

#[test]
fn non_first_fragment_parses_as_fragment_without_l4() {
    let mut f = tcp_frame(b"");
    f[20..22].copy_from_slice(&0x00B9u16.to_be_bytes()); // offset 185, DF/MF clear
    fix_ip_checksum(&mut f);
    let info = parse(&f).unwrap();
    assert_eq!(info.l4, L4::Fragment);
    assert_eq!(info.frag_offset, 185);
    assert!(info.is_fragment());
    assert_eq!(info.ports(), (0, 0));
    // Even garbage where a TCP header would be does not matter.
    f[46] = 0x00;
    assert_eq!(parse(&f).unwrap().l4, L4::Fragment);
}

#[test]
fn first_fragment_still_parses_its_l4_header() {
    let mut f = udp_frame(b"abcdefgh");
    f[20..22].copy_from_slice(&0x2000u16.to_be_bytes()); // MF, offset 0
    fix_ip_checksum(&mut f);
    let info = parse(&f).unwrap();
    assert!(info.more_fragments && !info.dont_fragment && info.is_fragment());
    assert_eq!(
        info.l4,
        L4::Udp {
            sport: 5353,
            dport: 53
        }
    );
}

#[test]
fn gre_is_other_with_zero_ports() {
    let mut f = udp_frame(b"");
    f[23] = proto::GRE;
    fix_ip_checksum(&mut f);
    let info = parse(&f).unwrap();
    assert_eq!((info.l4, info.ports()), (L4::Other, (0, 0)));
}

#[test]
fn echo_ports_are_the_identifier_twice() {
    let info = parse(&echo_frame(false)).unwrap();
    assert_eq!(
        info.l4,
        L4::IcmpEcho {
            request: false,
            ident: 777,
            seq: 3
        }
    );
    assert_eq!(info.ports(), (777, 777));
}

#[test]
fn icmp_error_with_short_embedded_datagram_is_icmp_other() {
    let orig = udp_frame(b"");
    let info = parse(&orig).unwrap();
    let k = IcmpErrorKind::TimeExceeded;
    let from = Ipv4Addr::new(1, 2, 3, 4);
    let mut err = icmp_error_limited(&orig, &info, k, from, MAC_B, MAC_A, 28).unwrap();
    assert!(matches!(parse(&err).unwrap().l4, L4::IcmpError { .. }));
    // Drop 4 of the 8 embedded UDP bytes.
    err.truncate(err.len() - 4);
    let n = (err.len() - 14) as u16;
    set_total_len(&mut err, n);
    assert_eq!(
        parse(&err).unwrap().l4,
        L4::IcmpOther {
            icmp_type: 11,
            code: 0
        }
    );
}

#[test]
fn embedded_echo_reports_identifier_as_both_ports() {
    let orig = echo_frame(true);
    let info = parse(&orig).unwrap();
    let k = IcmpErrorKind::DestUnreachable { code: 1 };
    let err =
        icmp_error_limited(&orig, &info, k, Ipv4Addr::new(1, 2, 3, 4), MAC_B, MAC_A, 28).unwrap();
    let L4::IcmpError { inner, .. } = parse(&err).unwrap().l4 else {
        panic!()
    };
    assert_eq!(
        (inner.proto, inner.sport, inner.dport, inner.has_ports),
        (1, 777, 777, true)
    );
    assert_eq!(
        (inner.offset, inner.ihl_len, inner.l4_offset()),
        (42, 20, 62)
    );
}

#[test]
fn error_names_are_distinct_snake_case_and_messages_nonempty() {
    let all = [
        WireError::TruncatedEthernet { len: 0 },
        WireError::NotIpv4 { ethertype: 0x86DD },
        WireError::TruncatedIpv4 { len: 0 },
        WireError::BadIpVersion { version: 6 },
        WireError::BadIhl {
            ihl: 4,
            total_len: 20,
        },
        WireError::Ipv4Options { ihl: 6 },
        WireError::BadTotalLength {
            total_len: 0,
            available: 0,
        },
        WireError::BadIpChecksum {
            found: 0,
            expected: 1,
        },
        WireError::TruncatedL4 {
            proto: 6,
            needed: 20,
            available: 0,
        },
        WireError::BadTcpDataOffset { offset: 0 },
    ];
    let names: std::collections::HashSet<_> = all.iter().map(|e| e.name()).collect();
    assert_eq!(names.len(), all.len());
    assert_eq!(
        all.len(),
        WireError::NAMES.len(),
        "every variant listed here"
    );
    for e in all {
        assert!(e
            .name()
            .chars()
            .all(|c| c.is_ascii_lowercase() || c == '_' || c.is_ascii_digit()));
        assert!(e.to_string().len() > 10);
    }
    assert_eq!(WireError::Ipv4Options { ihl: 6 }.name(), "ipv4_options");
    assert_eq!(
        WireError::NotIpv4 { ethertype: 0x86DD }.to_string(),
        "frame carries EtherType 0x86dd, not IPv4 (0x0800)"
    );
}

#[test]
fn tcp_flags_display_like_tcpdump_letters() {
    assert_eq!((TcpFlags::SYN | TcpFlags::ACK).to_string(), "SA");
    assert_eq!(TcpFlags::SYN.to_string(), "S");
    assert_eq!((TcpFlags::FIN | TcpFlags::ACK).to_string(), "FA");
    assert_eq!(TcpFlags::RST.to_string(), "R");
    assert_eq!(TcpFlags(0).to_string(), "-");
    assert!(TcpFlags(0x12).has(TcpFlags::ACK));
    assert!(!TcpFlags(0x12).has(TcpFlags::FIN));
}

#[test]
fn mac_accessors_read_and_write_the_ethernet_header() {
    let mut f = udp_frame(b"");
    assert_eq!((src_mac(&f), dst_mac(&f)), (MAC_A, MAC_B));
    set_macs(&mut f, [1; 6], [2; 6]);
    assert_eq!((src_mac(&f), dst_mac(&f)), ([1; 6], [2; 6]));
    assert_eq!(src_mac(&f[..5]), [0; 6]);
    set_macs(&mut f[..5], [3; 6], [3; 6]); // too short: no-op, no panic
}

/// Runs every accessor and rewrite on a frame that parsed, to check the
/// module contract that none of them panics.
fn exercise(frame: &[u8], info: &FrameInfo) {
    let rw = crate::wire::Rewrite {
        src: Some(Ipv4Addr::new(1, 2, 3, 4)),
        dst: Some(Ipv4Addr::new(5, 6, 7, 8)),
        sport: Some(9),
        dport: Some(10),
    };
    let _ = (
        info.ports(),
        info.is_fragment(),
        src_mac(frame),
        dst_mac(frame),
    );
    let mut f = frame.to_vec();
    let _ = apply(&mut f, info, &rw);
    let _ = apply_inner(&mut f, info, &rw);
    let _ = decrement_ttl(&mut f, info);
    CompiledRewrite::compile(info, &rw).apply(&mut f, info.l4_offset, info.proto);
    let _ = crate::wire::checksums_valid(frame);
}

proptest! {
    #[test]
    fn parse_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..120)) {
        if let Ok(info) = parse(&bytes) {
            exercise(&bytes, &info);
        }
    }

    #[test]
    fn parse_never_panics_on_ipv4_looking_bytes(mut bytes in proptest::collection::vec(any::<u8>(), 34..120), l4p in prop_oneof![Just(1u8), Just(6), Just(17), any::<u8>()]) {
        bytes[12] = 0x08;
        bytes[13] = 0x00;
        bytes[14] = 0x45;
        bytes[23] = l4p;
        let n = (bytes.len() - 14) as u16;
        set_total_len(&mut bytes, n);
        let info = parse(&bytes);
        let l4_problem = matches!(info, Err(WireError::TruncatedL4 { .. } | WireError::BadTcpDataOffset { .. }));
        prop_assert!(info.is_ok() || l4_problem, "{:?}", info);
        if let Ok(info) = info {
            exercise(&bytes, &info);
        }
    }

    #[test]
    fn parse_never_panics_on_single_byte_corruptions(
        f in frame(),
        err in any::<bool>(),
        pos in any::<prop::sample::Index>(),
        val in any::<u8>(),
    ) {
        let mut f = if err {
            let info = parse(&f).unwrap();
            crate::wire::icmp_error(&f, &info, IcmpErrorKind::TimeExceeded, Ipv4Addr::new(9, 9, 9, 9), MAC_B, MAC_A).unwrap()
        } else {
            f
        };
        let i = pos.index(f.len());
        f[i] = val;
        if let Ok(info) = parse(&f) {
            exercise(&f, &info);
        }
        // Also with the IP checksum repaired, so corruptions reach L4 parsing.
        fix_ip_checksum(&mut f);
        if let Ok(info) = parse(&f) {
            exercise(&f, &info);
        }
    }
}
