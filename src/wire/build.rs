//! Synthetic frames: probes, ICMP errors, and a full checksum verifier.
//!
//! These are used by tests everywhere and by the simulator to originate
//! packets (probes, ICMP Time Exceeded / Destination Unreachable). They are
//! not on the forwarding fast path.

use std::net::Ipv4Addr;

use etherparse::{IpHeaders, Ipv4Header, PacketBuilder, TcpHeader};

use super::checksum::{fold, sum16};
use super::frame::{be16, icmp_type, parse, proto, FrameInfo, TcpFlags, ETH_LEN, IPV4_LEN, L4};

/// The L4 part of a probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeL4 {
    Tcp {
        sport: u16,
        dport: u16,
        flags: TcpFlags,
        seq: u32,
        ack: u32,
    },
    Udp {
        sport: u16,
        dport: u16,
    },
    IcmpEcho {
        request: bool,
        ident: u16,
        seq: u16,
    },
}

/// Everything needed to build a probe frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeSpec {
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub ttl: u8,
    pub ident: u16,
    pub l4: ProbeL4,
    pub payload: Vec<u8>,
}

/// Largest payload that still fits in one IPv4 packet with a 20-byte L4
/// header; longer payloads are truncated by [`build`].
pub const MAX_PROBE_PAYLOAD: usize = u16::MAX as usize - IPV4_LEN - 20;

/// Builds an Ethernet II + IPv4 (DF set, no options) + TCP/UDP/ICMP echo frame
/// with valid checksums everywhere. The TCP window is 65535; the ACK number is
/// written as given even without the ACK flag. A payload longer than
/// [`MAX_PROBE_PAYLOAD`] is truncated.
pub fn build(spec: &ProbeSpec) -> Vec<u8> {
    let payload = spec
        .payload
        .get(..spec.payload.len().min(MAX_PROBE_PAYLOAD))
        .unwrap_or_default();
    let ip = Ipv4Header {
        time_to_live: spec.ttl,
        identification: spec.ident,
        dont_fragment: true,
        source: spec.src.octets(),
        destination: spec.dst.octets(),
        ..Default::default()
    };
    let base = PacketBuilder::ethernet2(spec.src_mac, spec.dst_mac)
        .ip(IpHeaders::Ipv4(ip, Default::default()));
    let mut out = Vec::new();
    let written = match spec.l4 {
        ProbeL4::Tcp {
            sport,
            dport,
            flags,
            seq,
            ack,
        } => {
            let mut tcp = TcpHeader::new(sport, dport, seq, u16::MAX);
            tcp.acknowledgment_number = ack;
            tcp.fin = flags.has(TcpFlags::FIN);
            tcp.syn = flags.has(TcpFlags::SYN);
            tcp.rst = flags.has(TcpFlags::RST);
            tcp.psh = flags.has(TcpFlags::PSH);
            tcp.ack = flags.has(TcpFlags::ACK);
            tcp.urg = flags.has(TcpFlags::URG);
            base.tcp_header(tcp).write(&mut out, payload).is_ok()
        }
        ProbeL4::Udp { sport, dport } => base.udp(sport, dport).write(&mut out, payload).is_ok(),
        ProbeL4::IcmpEcho {
            request: true,
            ident,
            seq,
        } => base
            .icmpv4_echo_request(ident, seq)
            .write(&mut out, payload)
            .is_ok(),
        ProbeL4::IcmpEcho {
            request: false,
            ident,
            seq,
        } => base
            .icmpv4_echo_reply(ident, seq)
            .write(&mut out, payload)
            .is_ok(),
    };
    debug_assert!(written, "payload was clamped, so the builder cannot fail");
    out
}

/// The kind of ICMP error to originate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IcmpErrorKind {
    /// Type 11 code 0: TTL exceeded in transit.
    TimeExceeded,
    /// Type 3 with the given code (0 net, 1 host, 3 port, 4 frag needed,
    /// 13 administratively prohibited, ...).
    DestUnreachable { code: u8 },
    /// Type 3 code 4, fragmentation needed and DF set, carrying the next-hop MTU
    /// (RFC 1191 §4) for path MTU discovery.
    FragmentationNeeded { mtu: u16 },
}

/// Largest ICMP error datagram (RFC 1812 4.3.2.3: "as much of the original
/// datagram as possible without the length of the ICMP datagram exceeding 576
/// bytes").
pub const ICMP_ERROR_MAX_IP_LEN: usize = 576;

/// Builds an ICMP error about `original` (a frame parsed into `info`), sent
/// from `from` to the original source, TTL 64, DF clear.
///
/// Following RFC 1812 4.3.2.3, the error embeds the original IPv4 header and
/// as much of its payload as fits in a 576-byte IP datagram (at least the 8
/// bytes RFC 792 requires), so TCP checksums and sequence numbers are
/// usually present for the receiver.
///
/// Returns `None` where RFC 1812 4.3.2.7 forbids an error: about an ICMP
/// error message, about a non-first fragment, or about a packet whose source
/// is unspecified, broadcast, multicast or loopback.
pub fn icmp_error(
    original: &[u8],
    info: &FrameInfo,
    kind: IcmpErrorKind,
    from: Ipv4Addr,
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
) -> Option<Vec<u8>> {
    icmp_error_limited(
        original,
        info,
        kind,
        from,
        src_mac,
        dst_mac,
        ICMP_ERROR_MAX_IP_LEN - IPV4_LEN - 8,
    )
}

/// [`icmp_error`] embedding at most `max_embedded` bytes of the original IPv4
/// datagram (never fewer than its header + 8 bytes, when present).
pub(crate) fn icmp_error_limited(
    original: &[u8],
    info: &FrameInfo,
    kind: IcmpErrorKind,
    from: Ipv4Addr,
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    max_embedded: usize,
) -> Option<Vec<u8>> {
    match info.l4 {
        L4::Fragment | L4::IcmpError { .. } => return None,
        L4::IcmpOther { icmp_type: t, .. } if icmp_type::is_error(t) => return None,
        _ => {}
    }
    let s = info.src;
    if s.is_unspecified() || s.is_broadcast() || s.is_multicast() || s.is_loopback() {
        return None;
    }
    let datagram = original.get(ETH_LEN..info.ip_end())?;
    let keep = datagram.len().min(max_embedded.max(IPV4_LEN + 8));
    let embedded = datagram.get(..keep)?;
    let (t, code, rest) = match kind {
        IcmpErrorKind::TimeExceeded => (icmp_type::TIME_EXCEEDED, 0, [0; 4]),
        IcmpErrorKind::DestUnreachable { code } => (icmp_type::DEST_UNREACHABLE, code, [0; 4]),
        IcmpErrorKind::FragmentationNeeded { mtu } => {
            let m = mtu.to_be_bytes();
            (icmp_type::DEST_UNREACHABLE, 4, [0, 0, m[0], m[1]])
        }
    };
    let ip = Ipv4Header {
        time_to_live: 64,
        source: from.octets(),
        destination: info.src.octets(),
        ..Default::default()
    };
    let mut out = Vec::with_capacity(ETH_LEN + IPV4_LEN + 8 + embedded.len());
    PacketBuilder::ethernet2(src_mac, dst_mac)
        .ip(IpHeaders::Ipv4(ip, Default::default()))
        .icmpv4_raw(t, code, rest)
        .write(&mut out, embedded)
        .ok()?;
    Some(out)
}

fn pseudo_sum(info: &FrameInfo, l4_len: u16) -> u32 {
    sum16(&info.src.octets())
        + sum16(&info.dst.octets())
        + u32::from(info.proto)
        + u32::from(l4_len)
}

/// Verifies every checksum of a frame by full recomputation: the IPv4 header;
/// TCP and UDP with their pseudo-header (a UDP checksum of 0 means "none" and
/// passes); ICMP; and for an ICMP error also the embedded IPv4 header. L4
/// checksums of fragments are skipped (they cover the reassembled datagram).
pub fn checksums_valid(frame: &[u8]) -> Result<(), String> {
    let info = parse(frame).map_err(|e| e.to_string())?;
    if info.is_fragment() {
        return Ok(());
    }
    let l4 = frame
        .get(info.l4_offset..info.ip_end())
        .ok_or("L4 range out of bounds")?;
    let l4_len = info.total_len - IPV4_LEN as u16;
    match info.proto {
        proto::TCP => {
            let s = fold(pseudo_sum(&info, l4_len) + sum16(l4));
            if s != 0xFFFF {
                return Err(format!("TCP checksum is off by {:#06x}", !s));
            }
        }
        proto::UDP => {
            let csum = be16(l4, 6).ok_or("UDP header truncated")?;
            let udp_len = be16(l4, 4).ok_or("UDP header truncated")?;
            if udp_len < 8 || udp_len > l4_len {
                return Err(format!(
                    "UDP length {udp_len} does not fit the {l4_len}-byte IP payload"
                ));
            }
            if csum != 0 {
                let seg = l4.get(..usize::from(udp_len)).unwrap_or_default();
                let s = fold(pseudo_sum(&info, udp_len) + sum16(seg));
                if s != 0xFFFF {
                    return Err(format!("UDP checksum is off by {:#06x}", !s));
                }
            }
        }
        proto::ICMP => {
            let s = fold(sum16(l4));
            if s != 0xFFFF {
                return Err(format!("ICMP checksum is off by {:#06x}", !s));
            }
            if let L4::IcmpError { inner, .. } = info.l4 {
                let hdr = frame
                    .get(inner.offset..inner.l4_offset())
                    .ok_or("embedded IPv4 header out of bounds")?;
                let s = fold(sum16(hdr));
                if s != 0xFFFF {
                    return Err(format!(
                        "embedded IPv4 header checksum is off by {:#06x}",
                        !s
                    ));
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// Frame generators and an independent (etherparse-based) checksum oracle,
/// shared by the tests of every file in this module.
#[cfg(test)]
pub(crate) mod test_support {
    use super::*;
    use etherparse::{NetHeaders, PacketHeaders, TransportHeader};
    use proptest::prelude::*;

    pub const MAC_A: [u8; 6] = [2, 0, 0, 0, 0, 0xa];
    pub const MAC_B: [u8; 6] = [2, 0, 0, 0, 0, 0xb];

    pub fn spec(l4: ProbeL4, payload: &[u8]) -> ProbeSpec {
        ProbeSpec {
            src_mac: MAC_A,
            dst_mac: MAC_B,
            src: Ipv4Addr::new(10, 0, 1, 5),
            dst: Ipv4Addr::new(10, 0, 2, 7),
            ttl: 64,
            ident: 0x1234,
            l4,
            payload: payload.to_vec(),
        }
    }

    pub fn tcp_frame(payload: &[u8]) -> Vec<u8> {
        build(&spec(
            ProbeL4::Tcp {
                sport: 40000,
                dport: 443,
                flags: TcpFlags::SYN,
                seq: 1000,
                ack: 0,
            },
            payload,
        ))
    }

    pub fn udp_frame(payload: &[u8]) -> Vec<u8> {
        build(&spec(
            ProbeL4::Udp {
                sport: 5353,
                dport: 53,
            },
            payload,
        ))
    }

    pub fn echo_frame(request: bool) -> Vec<u8> {
        build(&spec(
            ProbeL4::IcmpEcho {
                request,
                ident: 777,
                seq: 3,
            },
            b"ping",
        ))
    }

    /// Recomputes the IPv4 header checksum in place (after a test edits it).
    pub fn fix_ip_checksum(frame: &mut [u8]) {
        frame[24] = 0;
        frame[25] = 0;
        let c = crate::wire::checksum::checksum(&frame[14..34]);
        frame[24..26].copy_from_slice(&c.to_be_bytes());
    }

    pub fn unicast() -> impl Strategy<Value = Ipv4Addr> {
        (1u32..0xDF00_0000)
            .prop_map(Ipv4Addr::from)
            .prop_filter("unicast", |a| !a.is_loopback() && !a.is_unspecified())
    }

    pub fn any_addr() -> impl Strategy<Value = Ipv4Addr> {
        any::<u32>().prop_map(Ipv4Addr::from)
    }

    pub fn probe_l4() -> impl Strategy<Value = ProbeL4> {
        prop_oneof![
            (
                any::<u16>(),
                any::<u16>(),
                any::<u8>(),
                any::<u32>(),
                any::<u32>()
            )
                .prop_map(|(sport, dport, f, seq, ack)| ProbeL4::Tcp {
                    sport,
                    dport,
                    flags: TcpFlags(f & 0x3F),
                    seq,
                    ack
                }),
            (any::<u16>(), any::<u16>()).prop_map(|(sport, dport)| ProbeL4::Udp { sport, dport }),
            (any::<bool>(), any::<u16>(), any::<u16>()).prop_map(|(request, ident, seq)| {
                ProbeL4::IcmpEcho {
                    request,
                    ident,
                    seq,
                }
            }),
        ]
    }

    pub fn probe_spec() -> impl Strategy<Value = ProbeSpec> {
        (
            unicast(),
            any_addr(),
            2u8..=255,
            any::<u16>(),
            probe_l4(),
            proptest::collection::vec(any::<u8>(), 0..200),
        )
            .prop_map(|(src, dst, ttl, ident, l4, payload)| ProbeSpec {
                src_mac: MAC_A,
                dst_mac: MAC_B,
                src,
                dst,
                ttl,
                ident,
                l4,
                payload,
            })
    }

    /// A valid frame; UDP frames sometimes carry checksum 0 ("none").
    pub fn frame() -> impl Strategy<Value = Vec<u8>> {
        (probe_spec(), any::<bool>()).prop_map(|(s, zero_udp)| {
            let mut f = build(&s);
            if zero_udp && matches!(s.l4, ProbeL4::Udp { .. }) {
                f[40] = 0;
                f[41] = 0;
            }
            f
        })
    }

    pub fn rewrite() -> impl Strategy<Value = crate::wire::Rewrite> {
        (
            proptest::option::of(any_addr()),
            proptest::option::of(any_addr()),
            proptest::option::of(any::<u16>()),
            proptest::option::of(any::<u16>()),
        )
            .prop_map(|(src, dst, sport, dport)| crate::wire::Rewrite {
                src,
                dst,
                sport,
                dport,
            })
    }

    /// Checks every stored checksum against etherparse's own recomputation
    /// (an oracle independent of `checksums_valid`). ICMP errors are skipped
    /// at L4 because etherparse re-encodes their header from typed fields.
    pub fn etherparse_agrees(frame: &[u8]) -> Result<(), String> {
        let h = PacketHeaders::from_ethernet_slice(frame).map_err(|e| e.to_string())?;
        let Some(NetHeaders::Ipv4(ip, _)) = &h.net else {
            return Err("not IPv4".into());
        };
        if ip.calc_header_checksum() != ip.header_checksum {
            return Err("IPv4 header checksum differs from recomputation".into());
        }
        let payload = h.payload.slice();
        match &h.transport {
            Some(TransportHeader::Tcp(t)) => {
                let c = t
                    .calc_checksum_ipv4(ip, payload)
                    .map_err(|e| e.to_string())?;
                if c != t.checksum {
                    return Err(format!("TCP {:#06x} != recomputed {c:#06x}", t.checksum));
                }
            }
            Some(TransportHeader::Udp(u)) if u.checksum != 0 => {
                let c = u
                    .calc_checksum_ipv4(ip, payload)
                    .map_err(|e| e.to_string())?;
                if c != u.checksum {
                    return Err(format!("UDP {:#06x} != recomputed {c:#06x}", u.checksum));
                }
            }
            Some(TransportHeader::Icmpv4(i)) => {
                let c = i.icmp_type.calc_checksum(payload);
                if c != i.checksum {
                    return Err(format!("ICMP {:#06x} != recomputed {c:#06x}", i.checksum));
                }
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn built_probes_have_valid_checksums_and_df() {
        for f in [
            tcp_frame(b"abc"),
            udp_frame(b""),
            echo_frame(true),
            echo_frame(false),
        ] {
            checksums_valid(&f).unwrap();
            etherparse_agrees(&f).unwrap();
            let info = parse(&f).unwrap();
            assert!(info.dont_fragment);
            assert_eq!(info.ttl, 64);
            assert_eq!(info.ident, 0x1234);
        }
    }

    #[test]
    fn built_tcp_probe_carries_flags_seq_and_ack() {
        let f = build(&spec(
            ProbeL4::Tcp {
                sport: 1,
                dport: 2,
                flags: TcpFlags::SYN | TcpFlags::ACK,
                seq: 7,
                ack: 9,
            },
            b"",
        ));
        assert_eq!(
            parse(&f).unwrap().l4,
            L4::Tcp {
                sport: 1,
                dport: 2,
                flags: TcpFlags(0x12),
                seq: 7,
                ack: 9
            }
        );
    }

    #[test]
    fn time_exceeded_goes_to_original_source_and_embeds_it() {
        let orig = tcp_frame(&[7u8; 1000]);
        let info = parse(&orig).unwrap();
        let from = Ipv4Addr::new(100, 64, 0, 1);
        let err = icmp_error(
            &orig,
            &info,
            IcmpErrorKind::TimeExceeded,
            from,
            MAC_B,
            MAC_A,
        )
        .unwrap();
        checksums_valid(&err).unwrap();
        etherparse_agrees(&err).unwrap();
        let e = parse(&err).unwrap();
        assert_eq!((e.src, e.dst, e.proto), (from, info.src, proto::ICMP));
        assert_eq!(
            usize::from(e.total_len),
            ICMP_ERROR_MAX_IP_LEN,
            "capped at 576 bytes"
        );
        let L4::IcmpError {
            icmp_type,
            code,
            inner,
        } = e.l4
        else {
            panic!("not an ICMP error: {:?}", e.l4)
        };
        assert_eq!((icmp_type, code), (11, 0));
        assert_eq!(
            (inner.src, inner.dst, inner.proto),
            (info.src, info.dst, proto::TCP)
        );
        assert_eq!(
            (inner.sport, inner.dport, inner.has_ports),
            (40000, 443, true)
        );
        assert_eq!(&err[inner.offset..inner.offset + 20], &orig[14..34]);
    }

    #[test]
    fn small_original_is_embedded_whole() {
        let orig = udp_frame(b"hi");
        let info = parse(&orig).unwrap();
        let err = icmp_error(
            &orig,
            &info,
            IcmpErrorKind::DestUnreachable { code: 3 },
            Ipv4Addr::new(10, 0, 2, 7),
            MAC_B,
            MAC_A,
        )
        .unwrap();
        assert_eq!(&err[42..], &orig[14..]);
        assert!(matches!(
            parse(&err).unwrap().l4,
            L4::IcmpError {
                icmp_type: 3,
                code: 3,
                ..
            }
        ));
    }

    #[test]
    fn no_icmp_error_about_an_icmp_error() {
        let orig = udp_frame(b"hi");
        let info = parse(&orig).unwrap();
        let k = IcmpErrorKind::TimeExceeded;
        let from = Ipv4Addr::new(1, 1, 1, 1);
        let err = icmp_error(&orig, &info, k, from, MAC_B, MAC_A).unwrap();
        let einfo = parse(&err).unwrap();
        assert_eq!(icmp_error(&err, &einfo, k, from, MAC_B, MAC_A), None);
    }

    #[test]
    fn no_icmp_error_about_a_non_first_fragment() {
        let mut orig = udp_frame(b"hi");
        orig[20] = 0x20; // MF + offset 0x0001 (8 bytes)
        orig[21] = 0x01;
        fix_ip_checksum(&mut orig);
        let info = parse(&orig).unwrap();
        let k = IcmpErrorKind::TimeExceeded;
        assert_eq!(
            icmp_error(&orig, &info, k, Ipv4Addr::new(1, 1, 1, 1), MAC_B, MAC_A),
            None
        );
    }

    #[test]
    fn no_icmp_error_to_a_broadcast_or_multicast_source() {
        for src in [
            Ipv4Addr::BROADCAST,
            Ipv4Addr::new(224, 0, 0, 1),
            Ipv4Addr::UNSPECIFIED,
        ] {
            let mut s = spec(ProbeL4::Udp { sport: 1, dport: 2 }, b"");
            s.src = src;
            let orig = build(&s);
            let info = parse(&orig).unwrap();
            let k = IcmpErrorKind::TimeExceeded;
            assert_eq!(
                icmp_error(&orig, &info, k, Ipv4Addr::new(1, 1, 1, 1), MAC_B, MAC_A),
                None
            );
        }
    }

    #[test]
    fn checksums_valid_accepts_udp_zero_and_rejects_corruption() {
        let mut f = udp_frame(b"data");
        f[40] = 0;
        f[41] = 0;
        checksums_valid(&f).unwrap();
        let mut t = tcp_frame(b"data");
        let last = t.len() - 1;
        t[last] ^= 0x01;
        assert!(checksums_valid(&t).unwrap_err().contains("TCP"));
        let mut e = echo_frame(true);
        e[36] ^= 0xFF;
        assert!(checksums_valid(&e).unwrap_err().contains("ICMP"));
    }

    proptest! {
        #[test]
        fn any_built_frame_parses_back_to_its_spec(s in probe_spec()) {
            let f = build(&s);
            prop_assert!(checksums_valid(&f).is_ok());
            prop_assert!(etherparse_agrees(&f).is_ok());
            let info = parse(&f).unwrap();
            prop_assert_eq!((info.src, info.dst, info.ttl, info.ident), (s.src, s.dst, s.ttl, s.ident));
            let expected = match s.l4 {
                ProbeL4::Tcp { sport, dport, flags, seq, ack } => L4::Tcp { sport, dport, flags, seq, ack },
                ProbeL4::Udp { sport, dport } => L4::Udp { sport, dport },
                ProbeL4::IcmpEcho { request, ident, seq } => L4::IcmpEcho { request, ident, seq },
            };
            prop_assert_eq!(info.l4, expected);
        }

        #[test]
        fn icmp_errors_about_any_probe_are_valid(s in probe_spec(), unreach in any::<bool>()) {
            let f = build(&s);
            let info = parse(&f).unwrap();
            let kind = if unreach { IcmpErrorKind::DestUnreachable { code: 1 } } else { IcmpErrorKind::TimeExceeded };
            let err = icmp_error(&f, &info, kind, Ipv4Addr::new(100, 64, 0, 1), MAC_B, MAC_A).unwrap();
            prop_assert!(checksums_valid(&err).is_ok());
            prop_assert!(etherparse_agrees(&err).is_ok(), "{:?}", etherparse_agrees(&err));
            let L4::IcmpError { inner, .. } = parse(&err).unwrap().l4 else { panic!("not an error") };
            prop_assert_eq!((inner.src, inner.dst, inner.has_ports), (s.src, s.dst, true));
            prop_assert_eq!((inner.sport, inner.dport), info.ports());
        }
    }
}
