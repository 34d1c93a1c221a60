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
mod tests;
