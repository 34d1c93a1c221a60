//! The established path: a packet of a known connection gets its cached action (MTU
//! check, rewrite with precomputed checksum deltas, MACs, output port, hairpin).

use super::{Dataplane, Disposition, DropReason, FlowAction, Ingress, Outcome, TraceRef};
use super::{INTERNET_MAC, VROUTER_MAC};
use crate::compile::INTERNET_PORT;
use crate::flow::{FlowKey, Hit};
use crate::time::SimTime;
use crate::wire::{self, CompiledRewrite};

/// An established-path candidate: the tuple read straight from the frame, at its
/// observation port.
#[derive(Debug, Clone, Copy)]
pub(super) struct FastKey {
    pub key: FlowKey,
    pub ttl: u8,
    pub tcp_flags: u8,
}

impl Dataplane {
    /// The flow key of a TCP/UDP frame entering on an ENI (with its source MAC) or from
    /// the Internet; `None` for anything the full path must see.
    #[inline(always)]
    pub(super) fn fast_key(&self, frame: &[u8], at: Ingress) -> Option<FastKey> {
        let t = wire::fast_tuple(frame)?;
        let port = self.fast_port(at, frame)?;
        Some(FastKey {
            key: FlowKey {
                src: t.src,
                dst: t.dst,
                sport: t.sport,
                dport: t.dport,
                port,
                proto: t.proto,
            },
            ttl: t.ttl,
            tcp_flags: t.tcp_flags,
        })
    }

    /// One lookup and the cached action; `None` when the packet is no established
    /// connection's (or its TTL runs out here): the full path decides.
    #[inline(always)]
    pub(super) fn try_fast(
        &mut self,
        frame: &mut [u8],
        k: &FastKey,
        now: SimTime,
        trace: &mut TraceRef<'_>,
        depth: u8,
    ) -> Option<Outcome> {
        let hit = self.conns.lookup(&k.key, now)?;
        if k.ttl <= hit.action.hops() {
            return None;
        }
        let l4 = (wire::frame::L4_OFFSET, k.key.proto);
        Some(self.use_hit(frame, l4, hit, k.key.port, k.tcp_flags, now, trace, depth))
    }

    /// A packet of an established connection: refresh it, apply its cached action.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    pub(super) fn use_hit(
        &mut self,
        frame: &mut [u8],
        l4: (usize, u8),
        hit: Hit<FlowAction>,
        in_port: u16,
        tcp_flags: u8,
        now: SimTime,
        trace: &mut TraceRef<'_>,
        depth: u8,
    ) -> Outcome {
        if let Some(ended) = self.revalidate(&hit, now, trace) {
            return ended;
        }
        self.counters.fast_path += 1;
        self.conns.observe(hit.conn, hit.dir, tcp_flags, now);
        let rw = hit.action.rewrite(&hit.other);
        self.apply_action(frame, l4, rw, hit.action, in_port, now, trace, depth)
    }

    /// The observation port of an ingress that needs no guest routing; for an ENI only
    /// when the frame carries the ENI's source MAC (else the slow path names the drop).
    #[inline]
    pub(super) fn fast_port(&self, at: Ingress, frame: &[u8]) -> Option<u16> {
        match at {
            Ingress::Internet => Some(INTERNET_PORT),
            Ingress::Eni(e) => {
                let src: [u8; 6] = frame.get(6..12)?.try_into().ok()?;
                (src == self.tables.enis.get(usize::from(e))?.mac).then_some(e + 1)
            }
            Ingress::Guest(_) => None,
        }
    }

    /// Applies a cached (or just installed) action: MTU, TTL, rewrite, MACs, hairpin.
    /// Callers guarantee TTL > hops (else `finish` answers with time-exceeded).
    #[allow(clippy::too_many_arguments)]
    #[inline]
    pub(super) fn apply_action(
        &mut self,
        frame: &mut [u8],
        l4: (usize, u8),
        rw: CompiledRewrite,
        a: FlowAction,
        in_port: u16,
        now: SimTime,
        trace: &mut TraceRef<'_>,
        depth: u8,
    ) -> Outcome {
        // One compare per packet: only frames longer than the path MTU look closer.
        if frame.len() > wire::frame::ETH_LEN + usize::from(a.mtu()) {
            return self.oversize(frame, l4, rw, a, in_port, now, trace, depth);
        }
        self.forward(frame, l4, rw, a, now, trace, depth)
    }

    /// The rewrite, MACs and output of an action, the MTU already checked.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    pub(super) fn forward(
        &mut self,
        frame: &mut [u8],
        l4: (usize, u8),
        rw: CompiledRewrite,
        a: FlowAction,
        now: SimTime,
        trace: &mut TraceRef<'_>,
        depth: u8,
    ) -> Outcome {
        rw.apply(frame, l4.0, l4.1);
        if a.hairpin && self.tables.eni_of_port(a.out).is_none() {
            if depth >= 2 {
                return self.drop_with(DropReason::HairpinLoop);
            }
            hop!(
                trace,
                "hairpin",
                "internet edge",
                "destination {} is a public address of this scenario: back in from the Internet",
                rw.target().1
            );
            return self.process_at(frame, Ingress::Internet, now, trace, depth + 1);
        }
        Outcome::of(self.leave(frame, a.out))
    }

    /// A rewritten packet leaves by output port `out`: to its ENI, or to the Internet
    /// edge (the hairpin is the caller's), with the MACs of that link.
    #[inline(always)]
    pub(super) fn leave(&self, frame: &mut [u8], out: u16) -> Disposition {
        match self.tables.eni_of_port(out) {
            Some(e) => {
                wire::set_macs(frame, VROUTER_MAC, self.tables.eni(e).mac);
                Disposition::Delivered { eni: e }
            }
            None => {
                wire::set_macs(frame, VROUTER_MAC, INTERNET_MAC);
                Disposition::Internet
            }
        }
    }
}
