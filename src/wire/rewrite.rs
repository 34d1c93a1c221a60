//! In-place NAT rewrites with RFC 1624 incremental checksum updates.
//!
//! All writes go through bounds-checked helpers: on a frame accepted by
//! [`parse`](super::frame::parse) every offset used here is in range, and on
//! any other buffer a rewrite degrades to a partial no-op instead of panicking.

use std::net::Ipv4Addr;

use super::checksum::Delta;
use super::frame::{be16, icmp_type, proto, FrameInfo, IP_OFFSET, L4, L4_OFFSET};

/// Offsets inside the IPv4 header.
const IP_TTL: usize = IP_OFFSET + 8;
const IP_CSUM: usize = IP_OFFSET + 10;
const IP_SRC: usize = IP_OFFSET + 12;
const IP_DST: usize = IP_OFFSET + 16;
const IP_FRAG: usize = IP_OFFSET + 6;

/// Offset of the checksum inside the TCP and UDP headers.
const TCP_CSUM: usize = 16;
const UDP_CSUM: usize = 6;
/// Offsets inside an ICMP echo message.
const ICMP_CSUM: usize = 2;
const ICMP_IDENT: usize = 4;

/// Which header fields to change. `None` keeps the current value.
///
/// For ICMP echo, the port fields stand for the echo identifier: a request
/// takes `sport` (falling back to `dport`), a reply takes `dport` (falling
/// back to `sport`). This matches a NAT that maps the identifier like a source
/// port on the way out and like a destination port on the way back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rewrite {
    pub src: Option<Ipv4Addr>,
    pub dst: Option<Ipv4Addr>,
    pub sport: Option<u16>,
    pub dport: Option<u16>,
}

impl Rewrite {
    /// True if the rewrite changes nothing.
    pub fn is_noop(&self) -> bool {
        *self == Rewrite::default()
    }

    fn echo_ident(&self, request: bool) -> Option<u16> {
        if request {
            self.sport.or(self.dport)
        } else {
            self.dport.or(self.sport)
        }
    }
}

#[inline]
fn get16(frame: &[u8], at: usize) -> Option<u16> {
    be16(frame, at)
}

#[inline]
fn put16(frame: &mut [u8], at: usize, value: u16) {
    if let Some(dst) = at.checked_add(2).and_then(|end| frame.get_mut(at..end)) {
        dst.copy_from_slice(&value.to_be_bytes());
    }
}

#[inline]
fn put32(frame: &mut [u8], at: usize, value: u32) {
    if let Some(dst) = at.checked_add(4).and_then(|end| frame.get_mut(at..end)) {
        dst.copy_from_slice(&value.to_be_bytes());
    }
}

/// Adds `delta` to the checksum stored at `at`.
#[inline]
fn patch(frame: &mut [u8], at: usize, delta: Delta) {
    if let Some(c) = get16(frame, at) {
        put16(frame, at, delta.apply(c));
    }
}

/// Adds `delta` to a UDP checksum at `at`, keeping "no checksum" (0) as 0 and
/// sending a computed 0 as 0xFFFF (RFC 768).
#[inline]
fn patch_udp(frame: &mut [u8], at: usize, delta: Delta) {
    if let Some(c) = get16(frame, at) {
        if c != 0 {
            let n = delta.apply(c);
            put16(frame, at, if n == 0 { 0xFFFF } else { n });
        }
    }
}

fn addr_delta(old_src: Ipv4Addr, new_src: Ipv4Addr, old_dst: Ipv4Addr, new_dst: Ipv4Addr) -> Delta {
    Delta::of_words(addr_words(old_src, new_src, old_dst, new_dst))
}

/// The four 16-bit words two addresses change, as `(old, new)`.
#[inline]
fn addr_words(os: Ipv4Addr, ns: Ipv4Addr, od: Ipv4Addr, nd: Ipv4Addr) -> [(u16, u16); 4] {
    let w = |a: Ipv4Addr| {
        let v = u32::from(a);
        ((v >> 16) as u16, v as u16)
    };
    let (os, ns, od, nd) = (w(os), w(ns), w(od), w(nd));
    [(os.0, ns.0), (os.1, ns.1), (od.0, nd.0), (od.1, nd.1)]
}

/// Rewrites the outer IPv4 addresses and L4 ports/identifier of a parsed frame
/// in place, updating the IPv4 header checksum and the TCP/UDP/ICMP-echo
/// checksum incrementally. Returns the updated view.
///
/// * A UDP checksum of 0 (none) stays 0.
/// * Non-first fragments only get their IPv4 header rewritten.
/// * ICMP errors and other ICMP messages only get their IPv4 header rewritten
///   here; use [`apply_inner`] for the embedded datagram (RFC 5508).
/// * Port fields are ignored for protocols without ports.
pub fn apply(frame: &mut [u8], info: &FrameInfo, rw: &Rewrite) -> FrameInfo {
    let mut out = *info;
    let new_src = rw.src.unwrap_or(info.src);
    let new_dst = rw.dst.unwrap_or(info.dst);
    let addr = addr_delta(info.src, new_src, info.dst, new_dst);
    // Compare values, not the delta: swapping src and dst has a zero delta.
    if (new_src, new_dst) != (info.src, info.dst) {
        put32(frame, IP_SRC, new_src.into());
        put32(frame, IP_DST, new_dst.into());
        patch(frame, IP_CSUM, addr);
    }
    out.src = new_src;
    out.dst = new_dst;
    let l4 = info.l4_offset;
    out.l4 = match info.l4 {
        L4::Tcp {
            sport,
            dport,
            flags,
            seq,
            ack,
        } => {
            let (ns, nd) = (rw.sport.unwrap_or(sport), rw.dport.unwrap_or(dport));
            let d = addr.add16(sport, ns).add16(dport, nd);
            put16(frame, l4, ns);
            put16(frame, l4.saturating_add(2), nd);
            patch(frame, l4.saturating_add(TCP_CSUM), d);
            L4::Tcp {
                sport: ns,
                dport: nd,
                flags,
                seq,
                ack,
            }
        }
        L4::Udp { sport, dport } => {
            let (ns, nd) = (rw.sport.unwrap_or(sport), rw.dport.unwrap_or(dport));
            let d = addr.add16(sport, ns).add16(dport, nd);
            put16(frame, l4, ns);
            put16(frame, l4.saturating_add(2), nd);
            patch_udp(frame, l4.saturating_add(UDP_CSUM), d);
            L4::Udp {
                sport: ns,
                dport: nd,
            }
        }
        L4::IcmpEcho {
            request,
            ident,
            seq,
        } => {
            let ni = rw.echo_ident(request).unwrap_or(ident);
            put16(frame, l4.saturating_add(ICMP_IDENT), ni);
            patch(
                frame,
                l4.saturating_add(ICMP_CSUM),
                Delta::zero().add16(ident, ni),
            );
            L4::IcmpEcho {
                request,
                ident: ni,
                seq,
            }
        }
        other => other,
    };
    out
}

/// Rewrites the datagram embedded in an ICMP error (RFC 5508 section 4.2): its
/// source/destination addresses and ports (or echo identifier, chosen as in
/// [`Rewrite`] by the embedded message's type). Updates the embedded IPv4
/// header checksum, the embedded TCP/UDP/ICMP checksum when its bytes are
/// present (an RFC 792 error carries only 8 L4 bytes, so a TCP checksum may be
/// absent), and the outer ICMP checksum for every changed byte.
///
/// Frames that are not [`L4::IcmpError`] are returned unchanged.
pub fn apply_inner(frame: &mut [u8], info: &FrameInfo, rw: &Rewrite) -> FrameInfo {
    let L4::IcmpError {
        icmp_type: t,
        code,
        inner,
    } = info.l4
    else {
        return *info;
    };
    let end = info.ip_end().min(frame.len());
    let io = inner.offset;
    let mut icmp = Delta::zero();
    let mut ni = inner;

    // Embedded IPv4 header: addresses and its header checksum.
    ni.src = rw.src.unwrap_or(inner.src);
    ni.dst = rw.dst.unwrap_or(inner.dst);
    let addr = addr_delta(inner.src, ni.src, inner.dst, ni.dst);
    if (ni.src, ni.dst) != (inner.src, inner.dst) {
        put32(frame, io.saturating_add(12), ni.src.into());
        put32(frame, io.saturating_add(16), ni.dst.into());
        icmp = icmp.combine(addr);
        if let Some(old) = get16(frame, io.saturating_add(10)) {
            let new = addr.apply(old);
            put16(frame, io.saturating_add(10), new);
            icmp = icmp.add16(old, new);
        }
    }

    // Embedded L4 header.
    if inner.has_ports {
        let il4 = inner.l4_offset();
        match inner.proto {
            proto::TCP | proto::UDP => {
                ni.sport = rw.sport.unwrap_or(inner.sport);
                ni.dport = rw.dport.unwrap_or(inner.dport);
                put16(frame, il4, ni.sport);
                put16(frame, il4.saturating_add(2), ni.dport);
                icmp = icmp
                    .add16(inner.sport, ni.sport)
                    .add16(inner.dport, ni.dport);
                let l4d = addr
                    .add16(inner.sport, ni.sport)
                    .add16(inner.dport, ni.dport);
                let (at, udp) = if inner.proto == proto::TCP {
                    (il4.saturating_add(TCP_CSUM), false)
                } else {
                    (il4.saturating_add(UDP_CSUM), true)
                };
                if at.saturating_add(2) <= end {
                    if let Some(old) = get16(frame, at) {
                        if udp {
                            patch_udp(frame, at, l4d);
                        } else {
                            patch(frame, at, l4d);
                        }
                        let new = get16(frame, at).unwrap_or(old);
                        icmp = icmp.add16(old, new);
                    }
                }
            }
            proto::ICMP => {
                let request = frame.get(il4) == Some(&icmp_type::ECHO_REQUEST);
                let id = rw.echo_ident(request).unwrap_or(inner.sport);
                ni.sport = id;
                ni.dport = id;
                if id != inner.sport {
                    put16(frame, il4.saturating_add(ICMP_IDENT), id);
                    icmp = icmp.add16(inner.sport, id);
                    if let Some(old) = get16(frame, il4.saturating_add(ICMP_CSUM)) {
                        let new = Delta::zero().add16(inner.sport, id).apply(old);
                        put16(frame, il4.saturating_add(ICMP_CSUM), new);
                        icmp = icmp.add16(old, new);
                    }
                }
            }
            _ => {}
        }
    }

    patch(frame, info.l4_offset.saturating_add(ICMP_CSUM), icmp);
    let mut out = *info;
    out.l4 = L4::IcmpError {
        icmp_type: t,
        code,
        inner: ni,
    };
    out
}

/// Decrements the IPv4 TTL in place, updating the header checksum, and returns
/// the new TTL. Returns `None` (frame untouched) when the TTL is 0 or 1: the
/// caller drops the packet and answers with ICMP Time Exceeded.
///
/// The TTL is read from the frame, not from `info`, so repeated calls with the
/// same view stay correct.
#[inline]
pub fn decrement_ttl(frame: &mut [u8], info: &FrameInfo) -> Option<u8> {
    let _ = info;
    let word = get16(frame, IP_TTL)?;
    let [ttl, p] = word.to_be_bytes();
    if ttl <= 1 {
        return None;
    }
    let new = u16::from_be_bytes([ttl - 1, p]);
    put16(frame, IP_TTL, new);
    patch(frame, IP_CSUM, Delta::zero().add16(word, new));
    Some(ttl - 1)
}

/// What a [`CompiledRewrite`] does to the L4 header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum L4Kind {
    None,
    Tcp,
    Udp,
    Echo,
}

/// A [`Rewrite`] precompiled for one flow: the new field values and the
/// checksum deltas, so every packet of the flow is rewritten with a few stores
/// and two checksum additions, without reading old addresses or ports.
///
/// Compile it from the first packet of the flow; all later packets of the flow
/// must carry the same addresses and ports (or echo identifier) — that is what
/// makes them the same flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompiledRewrite {
    src: [u8; 4],
    dst: [u8; 4],
    sport: u16,
    dport: u16,
    ip_delta: u16,
    l4_delta: u16,
    write_addrs: bool,
    write_sport: bool,
    write_dport: bool,
    kind: L4Kind,
    /// Routed hops: the TTL is decremented by this much, its checksum change folded
    /// into `ip_delta` (decrementing the TTL byte by h changes the ones' complement sum
    /// by the constant -(h << 8), whatever the TTL was).
    ttl_dec: u8,
}

/// A [`CompiledRewrite`] without its target tuple: the checksum deltas, the TTL
/// decrement and which fields to write, in 6 bytes. A flow table stores this when it can
/// supply the target tuple itself (a connection's other direction's key, reversed, is
/// exactly the tuple this direction is rewritten to); [`CompiledRewrite::with_target`]
/// puts the two back together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RewriteDeltas {
    ip_delta: u16,
    l4_delta: u16,
    /// write_addrs 1, write_sport 2, write_dport 4, L4 kind << 3.
    bits: u8,
    ttl_dec: u8,
}

impl RewriteDeltas {
    /// How many hops the TTL is decremented by.
    #[inline]
    pub fn ttl_decrement(&self) -> u8 {
        self.ttl_dec
    }

    /// The established path's rewrite: the same bytes as
    /// `CompiledRewrite::with_target(self, src, dst, sport, dport).apply(frame, L4_OFFSET, proto)`
    /// (property-tested), for a frame [`fast_tuple`](super::frame::fast_tuple) accepted —
    /// IPv4 without options, not a fragment, TCP or UDP. No rewrite is built and every
    /// checksum is patched without a branch (a zero delta changes nothing). Anything
    /// else (a protocol other than the compiled one, a frame too short) takes the
    /// general rewrite.
    #[inline(always)]
    pub fn apply_fast(&self, frame: &mut [u8], proto: u8, target: (u32, u32, u16, u16)) {
        let (src, dst, sport, dport) = target;
        let (csum_at, udp) = match (self.bits >> 3, proto) {
            (1, proto::TCP) => (L4_OFFSET + TCP_CSUM, false),
            (2, proto::UDP) => (L4_OFFSET + UDP_CSUM, true),
            _ => return self.apply_general(frame, proto, target),
        };
        let Some(f) = frame.get_mut(..csum_at + 2) else {
            return self.apply_general(frame, proto, target);
        };
        if self.bits & 1 != 0 {
            f[IP_SRC..IP_SRC + 4].copy_from_slice(&src.to_be_bytes());
            f[IP_DST..IP_DST + 4].copy_from_slice(&dst.to_be_bytes());
        }
        f[IP_TTL] = f[IP_TTL].wrapping_sub(self.ttl_dec);
        let ip = u16::from_be_bytes([f[IP_CSUM], f[IP_CSUM + 1]]);
        let ip = Delta::from_folded(self.ip_delta).apply(ip);
        f[IP_CSUM..IP_CSUM + 2].copy_from_slice(&ip.to_be_bytes());
        if self.bits & 2 != 0 {
            f[L4_OFFSET..L4_OFFSET + 2].copy_from_slice(&sport.to_be_bytes());
        }
        if self.bits & 4 != 0 {
            f[L4_OFFSET + 2..L4_OFFSET + 4].copy_from_slice(&dport.to_be_bytes());
        }
        let c = u16::from_be_bytes([f[csum_at], f[csum_at + 1]]);
        let n = Delta::from_folded(self.l4_delta).apply(c);
        // UDP: "no checksum" (0) stays 0, a computed 0 is sent as 0xFFFF (RFC 768).
        let n = match (udp, c, n) {
            (true, 0, _) => 0,
            (true, _, 0) => 0xFFFF,
            _ => n,
        };
        f[csum_at..csum_at + 2].copy_from_slice(&n.to_be_bytes());
    }

    #[cold]
    fn apply_general(&self, frame: &mut [u8], proto: u8, target: (u32, u32, u16, u16)) {
        let (src, dst, sport, dport) = target;
        CompiledRewrite::with_target(*self, src.into(), dst.into(), sport, dport)
            .apply(frame, L4_OFFSET, proto);
    }
}

impl CompiledRewrite {
    /// Precomputes `rw` for the flow of `info`.
    pub fn compile(info: &FrameInfo, rw: &Rewrite) -> CompiledRewrite {
        let new_src = rw.src.unwrap_or(info.src);
        let new_dst = rw.dst.unwrap_or(info.dst);
        let words = addr_words(info.src, new_src, info.dst, new_dst);
        let addr = Delta::of_words(words);
        let (kind, sport, dport, l4, write_sport, write_dport) = match info.l4 {
            L4::Tcp { sport, dport, .. } | L4::Udp { sport, dport } => {
                let (ns, nd) = (rw.sport.unwrap_or(sport), rw.dport.unwrap_or(dport));
                let kind = if info.proto == proto::TCP {
                    L4Kind::Tcp
                } else {
                    L4Kind::Udp
                };
                let [a, b, c, e] = words;
                let d = Delta::of_words([a, b, c, e, (sport, ns), (dport, nd)]);
                (kind, ns, nd, d, ns != sport, nd != dport)
            }
            L4::IcmpEcho { request, ident, .. } => {
                let ni = rw.echo_ident(request).unwrap_or(ident);
                let d = Delta::zero().add16(ident, ni);
                (L4Kind::Echo, ni, ni, d, ni != ident, false)
            }
            _ => (L4Kind::None, 0, 0, Delta::zero(), false, false),
        };
        CompiledRewrite {
            src: new_src.octets(),
            dst: new_dst.octets(),
            sport,
            dport,
            ip_delta: addr.folded(),
            l4_delta: l4.folded(),
            write_addrs: (new_src, new_dst) != (info.src, info.dst),
            write_sport,
            write_dport,
            kind,
            ttl_dec: 0,
        }
    }

    /// Also decrements the TTL by `hops` (the caller guarantees TTL > hops), with the
    /// checksum change folded into the same single update.
    pub fn with_ttl_decrement(mut self, hops: u8) -> CompiledRewrite {
        let d = Delta::from_folded(self.ip_delta).add16(u16::from(hops) << 8, 0);
        self.ip_delta = d.folded();
        self.ttl_dec = self.ttl_dec.saturating_add(hops);
        self
    }

    /// The part that does not depend on the target tuple.
    pub fn deltas(&self) -> RewriteDeltas {
        let kind = match self.kind {
            L4Kind::None => 0,
            L4Kind::Tcp => 1,
            L4Kind::Udp => 2,
            L4Kind::Echo => 3,
        };
        RewriteDeltas {
            ip_delta: self.ip_delta,
            l4_delta: self.l4_delta,
            bits: u8::from(self.write_addrs)
                | u8::from(self.write_sport) << 1
                | u8::from(self.write_dport) << 2
                | kind << 3,
            ttl_dec: self.ttl_dec,
        }
    }

    /// Rebuilds a rewrite from its deltas and its target tuple (see [`Self::target`]).
    #[inline]
    pub fn with_target(
        d: RewriteDeltas,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        sport: u16,
        dport: u16,
    ) -> CompiledRewrite {
        CompiledRewrite {
            src: src.octets(),
            dst: dst.octets(),
            sport,
            dport,
            ip_delta: d.ip_delta,
            l4_delta: d.l4_delta,
            write_addrs: d.bits & 1 != 0,
            write_sport: d.bits & 2 != 0,
            write_dport: d.bits & 4 != 0,
            kind: match d.bits >> 3 {
                1 => L4Kind::Tcp,
                2 => L4Kind::Udp,
                3 => L4Kind::Echo,
                _ => L4Kind::None,
            },
            ttl_dec: d.ttl_dec,
        }
    }

    /// The header after the rewrite: (src, dst, sport, dport); for an echo
    /// both ports are the new identifier, for port-less protocols both are 0.
    pub fn target(&self) -> (std::net::Ipv4Addr, std::net::Ipv4Addr, u16, u16) {
        (self.src.into(), self.dst.into(), self.sport, self.dport)
    }

    /// True if applying this rewrite changes nothing.
    pub fn is_noop(&self) -> bool {
        !self.write_addrs && !self.write_sport && !self.write_dport
    }

    /// Applies the rewrite to one packet of the flow. `l4_offset` and `proto`
    /// come from the packet's [`FrameInfo`]. Non-first fragments only get the
    /// IPv4 header rewritten; a packet whose protocol differs from the compiled
    /// flow's (or an ICMP non-echo message) likewise.
    #[inline]
    pub fn apply(&self, frame: &mut [u8], l4_offset: usize, proto: u8) {
        if self.write_addrs {
            if let Some(a) = frame.get_mut(IP_SRC..IP_SRC + 4) {
                a.copy_from_slice(&self.src);
            }
            if let Some(a) = frame.get_mut(IP_DST..IP_DST + 4) {
                a.copy_from_slice(&self.dst);
            }
        }
        if self.ttl_dec != 0 {
            if let Some(t) = frame.get_mut(IP_TTL) {
                *t = t.wrapping_sub(self.ttl_dec);
            }
        }
        if self.write_addrs || self.ttl_dec != 0 {
            patch(frame, IP_CSUM, Delta::from_folded(self.ip_delta));
        }
        let non_first_fragment = get16(frame, IP_FRAG).is_none_or(|f| f & 0x1FFF != 0);
        if non_first_fragment {
            return;
        }
        let delta = Delta::from_folded(self.l4_delta);
        match (self.kind, proto) {
            (L4Kind::Tcp, proto::TCP) => {
                self.write_ports(frame, l4_offset);
                patch(frame, l4_offset.saturating_add(TCP_CSUM), delta);
            }
            (L4Kind::Udp, proto::UDP) => {
                self.write_ports(frame, l4_offset);
                patch_udp(frame, l4_offset.saturating_add(UDP_CSUM), delta);
            }
            (L4Kind::Echo, proto::ICMP) => {
                let is_echo = matches!(
                    frame.get(l4_offset),
                    Some(&icmp_type::ECHO_REQUEST) | Some(&icmp_type::ECHO_REPLY)
                );
                if is_echo && self.write_sport {
                    put16(frame, l4_offset.saturating_add(ICMP_IDENT), self.sport);
                    patch(frame, l4_offset.saturating_add(ICMP_CSUM), delta);
                }
            }
            _ => {}
        }
    }

    #[inline]
    fn write_ports(&self, frame: &mut [u8], l4_offset: usize) {
        if self.write_sport {
            put16(frame, l4_offset, self.sport);
        }
        if self.write_dport {
            put16(frame, l4_offset.saturating_add(2), self.dport);
        }
    }
}

#[cfg(test)]
mod tests {
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
        let mut err =
            icmp_error(&orig, &oinfo, k, Ipv4Addr::new(1, 1, 1, 1), MAC_B, MAC_A).unwrap();
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
        let mut err =
            icmp_error_limited(&orig, &info, k, from, MAC_B, MAC_A, max_embedded).unwrap();
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
}
