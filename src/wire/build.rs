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
    let (t, code) = match kind {
        IcmpErrorKind::TimeExceeded => (icmp_type::TIME_EXCEEDED, 0),
        IcmpErrorKind::DestUnreachable { code } => (icmp_type::DEST_UNREACHABLE, code),
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
        .icmpv4_raw(t, code, [0; 4])
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
                    .get(inner.offset..inner.offset + inner.ihl_len)
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
