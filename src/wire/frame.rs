//! Parsing an Ethernet II + IPv4 + L4 frame into a [`FrameInfo`] view.
//!
//! [`parse`] validates everything the rest of the simulator relies on (header
//! lengths, IPv4 header checksum, L4 header presence), so code holding a
//! `FrameInfo` may address the frame's header fields at fixed offsets without
//! further bounds failures.

use std::fmt;
use std::net::Ipv4Addr;

use super::checksum::{fold, sum16};

/// Length of an Ethernet II header (no VLAN tag).
pub const ETH_LEN: usize = 14;
/// Length of an IPv4 header without options (the only kind the VPC accepts).
pub const IPV4_LEN: usize = 20;
/// Frame offset of the IPv4 header.
pub const IP_OFFSET: usize = ETH_LEN;
/// Frame offset of the L4 header.
pub const L4_OFFSET: usize = ETH_LEN + IPV4_LEN;
/// EtherType of IPv4.
pub const ETHERTYPE_IPV4: u16 = 0x0800;

/// Why a frame was refused by [`parse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Fewer than 14 bytes: not even an Ethernet header.
    #[error("frame of {len} bytes is too short for an Ethernet header (14 bytes)")]
    TruncatedEthernet { len: usize },
    /// The EtherType is not IPv4 (IPv6, ARP, a VLAN tag, ...).
    #[error("frame carries EtherType {ethertype:#06x}, not IPv4 (0x0800)")]
    NotIpv4 { ethertype: u16 },
    /// Fewer than 20 bytes after the Ethernet header.
    #[error(
        "only {len} bytes follow the Ethernet header, too short for an IPv4 header (20 bytes)"
    )]
    TruncatedIpv4 { len: usize },
    /// The IP version nibble is not 4.
    #[error("IP version is {version}, expected 4")]
    BadIpVersion { version: u8 },
    /// IHL below 5 (a header shorter than 20 bytes), or a header longer than the packet's
    /// total length: either way not a header that can be read.
    #[error(
        "IPv4 header length field is {ihl} (x4 = {} bytes): it must be at least 5 (20 bytes) \
         and fit in the packet's total length of {total_len} bytes",
        usize::from(*ihl) * 4
    )]
    BadIhl { ihl: u8, total_len: u16 },
    /// A valid IHL above 5: the packet has IP options, which the VPC refuses.
    #[error(
        "IPv4 packet carries options (header length {ihl} x4 bytes); IP options are not accepted"
    )]
    Ipv4Options { ihl: u8 },
    /// Total length below 20 or beyond the bytes present.
    #[error("IPv4 total length {total_len} is invalid: it must be at least 20 and at most the {available} bytes present")]
    BadTotalLength { total_len: u16, available: usize },
    /// IPv4 header checksum does not verify.
    #[error("IPv4 header checksum is {found:#06x} but the header sums to {expected:#06x}")]
    BadIpChecksum { found: u16, expected: u16 },
    /// The L4 header does not fit in the IPv4 payload.
    #[error("IP protocol {proto} header needs {needed} bytes but only {available} are present")]
    TruncatedL4 {
        proto: u8,
        needed: usize,
        available: usize,
    },
    /// TCP data offset below 5 (a header shorter than 20 bytes).
    #[error("TCP data offset is {offset} (x4 bytes), below the minimum of 5")]
    BadTcpDataOffset { offset: u8 },
}

impl WireError {
    /// Every name [`WireError::name`] gives, in [`WireError::index`] order (for counters
    /// and for checking that each is documented).
    pub const NAMES: [&'static str; 10] = [
        "truncated_ethernet",
        "not_ipv4",
        "truncated_ipv4",
        "ipv4_bad_version",
        "ipv4_bad_ihl",
        "ipv4_options",
        "ipv4_bad_total_length",
        "ipv4_bad_checksum",
        "truncated_l4",
        "tcp_bad_data_offset",
    ];

    /// Position of this error's name in [`WireError::NAMES`].
    pub fn index(&self) -> usize {
        match self {
            WireError::TruncatedEthernet { .. } => 0,
            WireError::NotIpv4 { .. } => 1,
            WireError::TruncatedIpv4 { .. } => 2,
            WireError::BadIpVersion { .. } => 3,
            WireError::BadIhl { .. } => 4,
            WireError::Ipv4Options { .. } => 5,
            WireError::BadTotalLength { .. } => 6,
            WireError::BadIpChecksum { .. } => 7,
            WireError::TruncatedL4 { .. } => 8,
            WireError::BadTcpDataOffset { .. } => 9,
        }
    }

    /// Stable snake_case name, for counters and JSON output (the part after
    /// `malformed_frame.` in a drop reason).
    pub fn name(&self) -> &'static str {
        Self::NAMES[self.index()]
    }
}

/// IP protocol numbers the simulator distinguishes.
pub mod proto {
    pub const ICMP: u8 = 1;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const GRE: u8 = 47;
}

/// ICMP types the simulator distinguishes.
pub mod icmp_type {
    pub const ECHO_REPLY: u8 = 0;
    pub const DEST_UNREACHABLE: u8 = 3;
    pub const SOURCE_QUENCH: u8 = 4;
    pub const REDIRECT: u8 = 5;
    pub const ECHO_REQUEST: u8 = 8;
    pub const TIME_EXCEEDED: u8 = 11;
    pub const PARAMETER_PROBLEM: u8 = 12;

    /// True for the ICMP error message types (RFC 1812 4.3.2.7: never answer
    /// these with another ICMP error).
    pub fn is_error(t: u8) -> bool {
        matches!(
            t,
            DEST_UNREACHABLE | SOURCE_QUENCH | REDIRECT | TIME_EXCEEDED | PARAMETER_PROBLEM
        )
    }
}

/// The TCP flags byte (byte 13 of the TCP header).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    pub const FIN: TcpFlags = TcpFlags(0x01);
    pub const SYN: TcpFlags = TcpFlags(0x02);
    pub const RST: TcpFlags = TcpFlags(0x04);
    pub const PSH: TcpFlags = TcpFlags(0x08);
    pub const ACK: TcpFlags = TcpFlags(0x10);
    pub const URG: TcpFlags = TcpFlags(0x20);

    /// True if every flag of `other` is set in `self`.
    pub fn has(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0 && other.0 != 0
    }
}

impl std::ops::BitOr for TcpFlags {
    type Output = TcpFlags;
    fn bitor(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | rhs.0)
    }
}

impl fmt::Display for TcpFlags {
    /// Letters in the order S F R P A U, e.g. `SA`, `S`, `FA`, `R`, `PA`;
    /// `-` when no flag is set.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let letters = [
            (TcpFlags::SYN, 'S'),
            (TcpFlags::FIN, 'F'),
            (TcpFlags::RST, 'R'),
            (TcpFlags::PSH, 'P'),
            (TcpFlags::ACK, 'A'),
            (TcpFlags::URG, 'U'),
        ];
        let mut any = false;
        for (flag, c) in letters {
            if self.has(flag) {
                write!(f, "{c}")?;
                any = true;
            }
        }
        if !any {
            write!(f, "-")?;
        }
        Ok(())
    }
}

/// The L4 view of a parsed frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L4 {
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
    /// ICMP echo request (type 8, `request: true`) or reply (type 0).
    IcmpEcho {
        request: bool,
        ident: u16,
        seq: u16,
    },
    /// ICMP error (types 3, 11, 12) carrying an embedded datagram that is
    /// long enough to identify its flow.
    IcmpError {
        icmp_type: u8,
        code: u8,
        inner: Inner,
    },
    /// Any other ICMP message, including errors whose embedded datagram is too
    /// short to use.
    IcmpOther {
        icmp_type: u8,
        code: u8,
    },
    /// A non-first fragment: no L4 header.
    Fragment,
    /// Any other IP protocol (e.g. GRE): forwarded with ports 0.
    Other,
}

/// The datagram embedded in an ICMP error (the packet that caused it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inner {
    /// Frame offset of the embedded IPv4 header.
    pub offset: usize,
    /// Length of the embedded IPv4 header in bytes (IHL x 4; options allowed).
    pub ihl_len: usize,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub proto: u8,
    /// Embedded TCP/UDP ports; for an embedded ICMP echo the identifier in
    /// both; 0 when `has_ports` is false.
    pub sport: u16,
    pub dport: u16,
    /// True for embedded TCP, UDP and ICMP echo that is not a non-first
    /// fragment (at least 8 L4 bytes are guaranteed present).
    pub has_ports: bool,
}

impl Inner {
    /// Frame offset of the embedded L4 header (saturating, so a hand-made
    /// `Inner` cannot make it overflow).
    pub fn l4_offset(&self) -> usize {
        self.offset.saturating_add(self.ihl_len)
    }
}

/// Everything the data plane needs from a frame's headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameInfo {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub proto: u8,
    pub ttl: u8,
    pub ident: u16,
    pub dont_fragment: bool,
    pub more_fragments: bool,
    /// Fragment offset in 8-byte units.
    pub frag_offset: u16,
    /// IPv4 total length (header + payload), excluding Ethernet padding.
    pub total_len: u16,
    /// Frame offset of the L4 header (always 34: options are refused).
    pub l4_offset: usize,
    pub l4: L4,
}

impl FrameInfo {
    /// True for any fragment, first or not.
    pub fn is_fragment(&self) -> bool {
        self.more_fragments || self.frag_offset != 0
    }

    /// `(sport, dport)` for TCP/UDP, `(ident, ident)` for ICMP echo, `(0, 0)`
    /// otherwise.
    pub fn ports(&self) -> (u16, u16) {
        match self.l4 {
            L4::Tcp { sport, dport, .. } | L4::Udp { sport, dport } => (sport, dport),
            L4::IcmpEcho { ident, .. } => (ident, ident),
            _ => (0, 0),
        }
    }

    /// Frame offset one past the last IPv4 byte (Ethernet padding excluded).
    pub fn ip_end(&self) -> usize {
        ETH_LEN + usize::from(self.total_len)
    }
}

#[inline]
pub(crate) fn be16(data: &[u8], at: usize) -> Option<u16> {
    match data.get(at..at.checked_add(2)?)? {
        [a, b] => Some(u16::from_be_bytes([*a, *b])),
        _ => None,
    }
}

#[inline]
pub(crate) fn be32(data: &[u8], at: usize) -> Option<u32> {
    match data.get(at..at.checked_add(4)?)? {
        [a, b, c, d] => Some(u32::from_be_bytes([*a, *b, *c, *d])),
        _ => None,
    }
}

/// The fields the established-flow fast path needs, read straight from the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FastTuple {
    pub src: u32,
    pub dst: u32,
    pub sport: u16,
    pub dport: u16,
    pub proto: u8,
    pub ttl: u8,
    /// TCP flags; 0 for UDP.
    pub tcp_flags: u8,
}

/// The common case only — Ethernet + a 20-byte IPv4 header, unfragmented, TCP or UDP —
/// with the same checks as [`parse`] but without building a [`FrameInfo`]. `None` means
/// "use `parse`". Whenever this returns `Some`, `parse` accepts the frame and agrees on
/// every field (property-tested), so the fast path never sees a frame the full parser
/// would refuse.
#[inline]
pub fn fast_tuple(f: &[u8]) -> Option<FastTuple> {
    let h: &[u8; L4_OFFSET] = f.get(..L4_OFFSET)?.try_into().ok()?;
    // IPv4, version 4 with IHL 5, no MF flag and offset 0 (fragments take the full path).
    if h[12] != 0x08 || h[13] != 0x00 || h[14] != 0x45 || h[20] & 0x3F != 0 || h[21] != 0 {
        return None;
    }
    let total = usize::from(u16::from_be_bytes([h[16], h[17]]));
    let ip: &[u8; IPV4_LEN] = h[ETH_LEN..L4_OFFSET].try_into().ok()?;
    if total < IPV4_LEN || !header_sums_to_ffff(ip) {
        return None;
    }
    let l4 = f.get(L4_OFFSET..ETH_LEN + total)?;
    let (sport, dport, tcp_flags) = match h[23] {
        proto::TCP => {
            let off = usize::from(*l4.get(12)? >> 4) * 4;
            if off < 20 || off > l4.len() {
                return None;
            }
            (be16(l4, 0)?, be16(l4, 2)?, *l4.get(13)?)
        }
        proto::UDP if l4.len() >= 8 => (be16(l4, 0)?, be16(l4, 2)?, 0),
        _ => return None,
    };
    Some(FastTuple {
        src: u32::from_be_bytes([h[26], h[27], h[28], h[29]]),
        dst: u32::from_be_bytes([h[30], h[31], h[32], h[33]]),
        sport,
        dport,
        proto: h[23],
        ttl: h[22],
        tcp_flags,
    })
}

/// Whether a 20-byte IPv4 header's ones' complement sum (checksum included) is 0xFFFF,
/// i.e. its checksum is right. Five 32-bit words summed at once: the per-packet cost of
/// `sum16` over ten 16-bit words shows up in profiles of the fast path.
#[inline]
fn header_sums_to_ffff(h: &[u8; IPV4_LEN]) -> bool {
    let w = |i: usize| u64::from(u32::from_be_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]));
    let mut s = w(0) + w(4) + w(8) + w(12) + w(16);
    s = (s & 0xFFFF_FFFF) + (s >> 32);
    s = (s & 0xFFFF) + (s >> 16);
    s = (s & 0xFFFF) + (s >> 16);
    s = (s & 0xFFFF) + (s >> 16);
    s == 0xFFFF
}

/// Parses and validates an Ethernet II + IPv4 frame.
///
/// Refuses VLAN-tagged frames (`NotIpv4 { ethertype: 0x8100 }`) and IP options;
/// ignores Ethernet padding after the IPv4 total length; does not verify L4
/// checksums (a router does not).
#[inline]
pub fn parse(frame: &[u8]) -> Result<FrameInfo, WireError> {
    let ethertype = be16(frame, 12).ok_or(WireError::TruncatedEthernet { len: frame.len() })?;
    if ethertype != ETHERTYPE_IPV4 {
        return Err(WireError::NotIpv4 { ethertype });
    }
    let ip_all = frame.get(ETH_LEN..).unwrap_or_default();
    let hdr: &[u8; IPV4_LEN] = ip_all
        .get(..IPV4_LEN)
        .and_then(|h| h.try_into().ok())
        .ok_or(WireError::TruncatedIpv4 { len: ip_all.len() })?;
    let version = hdr[0] >> 4;
    if version != 4 {
        return Err(WireError::BadIpVersion { version });
    }
    let ihl = hdr[0] & 0x0F;
    let total_len = u16::from_be_bytes([hdr[2], hdr[3]]);
    if ihl < 5 {
        return Err(WireError::BadIhl { ihl, total_len });
    }
    if usize::from(total_len) < IPV4_LEN || usize::from(total_len) > ip_all.len() {
        return Err(WireError::BadTotalLength {
            total_len,
            available: ip_all.len(),
        });
    }
    // Only a header that fits in the packet is "options"; a longer one is a bad IHL.
    if usize::from(ihl) * 4 > usize::from(total_len) {
        return Err(WireError::BadIhl { ihl, total_len });
    }
    if ihl > 5 {
        return Err(WireError::Ipv4Options { ihl });
    }
    if !header_sums_to_ffff(hdr) {
        let found = u16::from_be_bytes([hdr[10], hdr[11]]);
        let expected = !fold(sum16(&hdr[..10]) + sum16(&hdr[12..]));
        return Err(WireError::BadIpChecksum { found, expected });
    }
    let ident = u16::from_be_bytes([hdr[4], hdr[5]]);
    let frag = u16::from_be_bytes([hdr[6], hdr[7]]);
    let proto = hdr[9];
    let src = Ipv4Addr::new(hdr[12], hdr[13], hdr[14], hdr[15]);
    let dst = Ipv4Addr::new(hdr[16], hdr[17], hdr[18], hdr[19]);
    let frag_offset = frag & 0x1FFF;
    let l4_bytes = ip_all
        .get(IPV4_LEN..usize::from(total_len))
        .unwrap_or_default();
    let l4 = if frag_offset != 0 {
        L4::Fragment
    } else {
        parse_l4(proto, l4_bytes)?
    };
    Ok(FrameInfo {
        src,
        dst,
        proto,
        ttl: hdr[8],
        ident,
        dont_fragment: frag & 0x4000 != 0,
        more_fragments: frag & 0x2000 != 0,
        frag_offset,
        total_len,
        l4_offset: L4_OFFSET,
        l4,
    })
}

fn need(proto: u8, l4: &[u8], needed: usize) -> Result<(), WireError> {
    if l4.len() < needed {
        Err(WireError::TruncatedL4 {
            proto,
            needed,
            available: l4.len(),
        })
    } else {
        Ok(())
    }
}

#[inline]
fn parse_l4(p: u8, l4: &[u8]) -> Result<L4, WireError> {
    let trunc = WireError::TruncatedL4 {
        proto: p,
        needed: 0,
        available: l4.len(),
    };
    match p {
        proto::TCP => {
            need(p, l4, 20)?;
            let offset = l4.get(12).map_or(0, |b| b >> 4);
            if offset < 5 {
                return Err(WireError::BadTcpDataOffset { offset });
            }
            need(p, l4, usize::from(offset) * 4)?;
            Ok(L4::Tcp {
                sport: be16(l4, 0).ok_or(trunc)?,
                dport: be16(l4, 2).ok_or(trunc)?,
                seq: be32(l4, 4).ok_or(trunc)?,
                ack: be32(l4, 8).ok_or(trunc)?,
                flags: TcpFlags(l4.get(13).copied().ok_or(trunc)?),
            })
        }
        proto::UDP => {
            need(p, l4, 8)?;
            Ok(L4::Udp {
                sport: be16(l4, 0).ok_or(trunc)?,
                dport: be16(l4, 2).ok_or(trunc)?,
            })
        }
        proto::ICMP => {
            need(p, l4, 8)?;
            let (t, code) = match l4 {
                [t, code, ..] => (*t, *code),
                _ => return Err(trunc),
            };
            Ok(match t {
                icmp_type::ECHO_REQUEST | icmp_type::ECHO_REPLY => L4::IcmpEcho {
                    request: t == icmp_type::ECHO_REQUEST,
                    ident: be16(l4, 4).ok_or(trunc)?,
                    seq: be16(l4, 6).ok_or(trunc)?,
                },
                icmp_type::DEST_UNREACHABLE
                | icmp_type::TIME_EXCEEDED
                | icmp_type::PARAMETER_PROBLEM => {
                    match parse_inner(l4.get(8..).unwrap_or_default()) {
                        Some(inner) => L4::IcmpError {
                            icmp_type: t,
                            code,
                            inner,
                        },
                        None => L4::IcmpOther { icmp_type: t, code },
                    }
                }
                _ => L4::IcmpOther { icmp_type: t, code },
            })
        }
        _ => Ok(L4::Other),
    }
}

/// Parses the datagram embedded in an ICMP error; `None` if it is not an IPv4
/// header followed by at least 8 bytes of its payload.
fn parse_inner(emb: &[u8]) -> Option<Inner> {
    let first = *emb.first()?;
    if first >> 4 != 4 {
        return None;
    }
    let ihl_len = usize::from(first & 0x0F) * 4;
    if ihl_len < IPV4_LEN || emb.len() < ihl_len + 8 {
        return None;
    }
    let proto = *emb.get(9)?;
    let frag_offset = be16(emb, 6)? & 0x1FFF;
    let src = Ipv4Addr::from(be32(emb, 12)?);
    let dst = Ipv4Addr::from(be32(emb, 16)?);
    let l4 = emb.get(ihl_len..)?;
    let (sport, dport, has_ports) = if frag_offset != 0 {
        (0, 0, false)
    } else {
        match proto {
            proto::TCP | proto::UDP => (be16(l4, 0)?, be16(l4, 2)?, true),
            proto::ICMP
                if matches!(
                    l4.first(),
                    Some(&icmp_type::ECHO_REQUEST) | Some(&icmp_type::ECHO_REPLY)
                ) =>
            {
                let id = be16(l4, 4)?;
                (id, id, true)
            }
            _ => (0, 0, false),
        }
    };
    Some(Inner {
        offset: L4_OFFSET + 8,
        ihl_len,
        src,
        dst,
        proto,
        sport,
        dport,
        has_ports,
    })
}

fn mac_at(frame: &[u8], at: usize) -> [u8; 6] {
    frame
        .get(at..at + 6)
        .and_then(|m| m.try_into().ok())
        .unwrap_or([0; 6])
}

/// Source MAC address (all zeros if the frame is shorter than 12 bytes).
pub fn src_mac(frame: &[u8]) -> [u8; 6] {
    mac_at(frame, 6)
}

/// Destination MAC address (all zeros if the frame is shorter than 6 bytes).
pub fn dst_mac(frame: &[u8]) -> [u8; 6] {
    mac_at(frame, 0)
}

/// Overwrites both MAC addresses (no-op on a frame shorter than 12 bytes).
#[inline]
pub fn set_macs(frame: &mut [u8], src: [u8; 6], dst: [u8; 6]) {
    if let Some(d) = frame.get_mut(0..6) {
        d.copy_from_slice(&dst);
    }
    if let Some(s) = frame.get_mut(6..12) {
        s.copy_from_slice(&src);
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod header_sum_tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn fast_tuple_agrees_with_parse(f in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80), flip in proptest::prelude::any::<bool>()) {
            // Random bytes behind a valid-looking prefix, so both accept and refuse happen.
            let mut f = f;
            if flip && f.len() >= 34 {
                f[12] = 8; f[13] = 0; f[14] = 0x45; f[20] &= 0xC0; f[21] = 0;
                let total = (f.len() - 14) as u16;
                f[16..18].copy_from_slice(&total.to_be_bytes());
                f[23] = if f[0] & 1 == 0 { 6 } else { 17 };
                if f[23] == 6 && f.len() >= 47 { f[46] = 0x50; }
                f[24] = 0; f[25] = 0;
                let c = !fold(sum16(&f[14..34]));
                f[24..26].copy_from_slice(&c.to_be_bytes());
            }
            if let Some(t) = fast_tuple(&f) {
                let i = parse(&f).expect("fast_tuple accepted what parse refuses");
                let (sport, dport, flags) = match i.l4 {
                    L4::Tcp { sport, dport, flags, .. } => (sport, dport, flags.0),
                    L4::Udp { sport, dport } => (sport, dport, 0),
                    other => panic!("fast path on {other:?}"),
                };
                proptest::prop_assert_eq!((t.src, t.dst, t.sport, t.dport, t.proto, t.ttl, t.tcp_flags), (u32::from(i.src), u32::from(i.dst), sport, dport, i.proto, i.ttl, flags));
                proptest::prop_assert!(!i.is_fragment());
            }
        }

        #[test]
        fn header_sum_agrees_with_sum16(h in proptest::array::uniform20(proptest::prelude::any::<u8>())) {
            proptest::prop_assert_eq!(header_sums_to_ffff(&h), fold(sum16(&h)) == 0xFFFF);
        }
    }
}

#[cfg(test)]
mod fast_tuple_tests {
    use super::*;
    use crate::wire::build::{build, ProbeL4, ProbeSpec};

    fn spec(l4: ProbeL4) -> Vec<u8> {
        build(&ProbeSpec {
            src_mac: [2; 6],
            dst_mac: [4; 6],
            src: Ipv4Addr::new(10, 0, 0, 1),
            dst: Ipv4Addr::new(203, 0, 113, 9),
            ttl: 9,
            ident: 1,
            l4,
            payload: vec![1, 2, 3],
        })
    }

    #[test]
    fn fast_tuple_takes_tcp_and_udp_and_leaves_the_rest_to_parse() {
        let tcp = spec(ProbeL4::Tcp {
            sport: 1000,
            dport: 443,
            flags: TcpFlags::SYN,
            seq: 1,
            ack: 0,
        });
        let t = fast_tuple(&tcp).unwrap();
        assert_eq!(
            (t.sport, t.dport, t.proto, t.ttl, t.tcp_flags),
            (1000, 443, proto::TCP, 9, TcpFlags::SYN.0)
        );
        assert!(fast_tuple(&spec(ProbeL4::Udp {
            sport: 53,
            dport: 5353
        }))
        .is_some());
        assert!(
            fast_tuple(&spec(ProbeL4::IcmpEcho {
                request: true,
                ident: 7,
                seq: 1
            }))
            .is_none(),
            "ICMP takes the full parse"
        );
        let mut frag = tcp.clone();
        frag[20] |= 0x20; // MF
        assert!(fast_tuple(&frag).is_none(), "fragments take the full parse");
        let mut bad = tcp.clone();
        bad[24] ^= 0xff;
        assert!(
            fast_tuple(&bad).is_none(),
            "a bad header checksum is parse's to report"
        );
        assert!(fast_tuple(&tcp[..40]).is_none());
    }
}
