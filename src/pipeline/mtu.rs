//! MTU (SEMANTICS.md §5): every link of a path has one (an ENI 1500, or 8500 for a
//! jumbo-frame instance type; 1500 at the NAT gateway and the Internet edge). A packet
//! larger than its path's MTU is refused with ICMP fragmentation-needed when DF is set
//! (RFC 1191), else translated like its flow and split into RFC 791 fragments.

use super::{Dataplane, Disposition, DropReason, FlowAction, Outcome, TraceRef};
use crate::time::SimTime;
use crate::wire::{self, CompiledRewrite, FrameInfo};

impl Dataplane {
    /// Too big for the path with DF set: drop `mtu_exceeded`, and send ICMP
    /// fragmentation-needed with the path MTU (RFC 1191) back to the sender from the
    /// first hop (the VSwitch gateway, or the public address for packets from the
    /// Internet), the quoted header as the sender sent it.
    #[cold]
    pub(super) fn frag_needed(
        &mut self,
        frame: &[u8],
        info: &FrameInfo,
        in_port: u16,
        mtu: u16,
        trace: &mut TraceRef<'_>,
    ) -> Outcome {
        hop!(
            trace,
            "mtu",
            self.tables.port_name(in_port),
            "{}-byte IPv4 packet with DF set exceeds the path MTU {mtu}",
            info.total_len
        );
        self.network_error(
            frame,
            info,
            in_port,
            0,
            None,
            wire::IcmpErrorKind::FragmentationNeeded { mtu },
            trace,
        )
    }

    /// A first fragment on its way (never on the fast path, which takes no fragments):
    /// the rest of its datagram must fit the same path, hairpins included.
    #[inline]
    pub(super) fn note_fragment_mtu(&mut self, info: &FrameInfo, mtu: u16) {
        if info.is_fragment() {
            if let Some(p) = self.frags.pending.as_mut() {
                p.mtu = p.mtu.min(mtu);
            }
        }
    }

    /// The MTU of a path between two observation ports: the smaller link's.
    #[inline]
    pub(super) fn path_mtu(&self, in_port: u16, out_port: u16) -> u16 {
        self.tables
            .port_mtu(in_port)
            .min(self.tables.port_mtu(out_port))
    }

    /// A frame longer than its flow's path MTU (`apply_action`'s one compare said so):
    /// DF set → `frag_needed`; else translated like the flow, then fragmented.
    #[cold]
    #[allow(clippy::too_many_arguments)]
    pub(super) fn oversize(
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
        let mtu = a.mtu();
        let Ok(info) = wire::parse(frame) else {
            return self.forward(frame, l4, rw, a, now, trace, depth);
        };
        if info.total_len <= mtu {
            // Only Ethernet trailer bytes beyond the datagram.
            return self.forward(frame, l4, rw, a, now, trace, depth);
        }
        if info.dont_fragment {
            return self.frag_needed(frame, &info, in_port, mtu, trace);
        }
        let mut out = self.forward(frame, l4, rw, a, now, trace, depth);
        let leaves = matches!(
            out.disposition,
            Disposition::Delivered { .. } | Disposition::Internet
        );
        if leaves && out.fragments.is_empty() {
            // (A hairpinned packet was fragmented by its second pass already.)
            match wire::parse(frame)
                .ok()
                .and_then(|after| wire::fragment(frame, &after, mtu))
            {
                Some(f) => {
                    hop!(
                        trace,
                        "mtu",
                        self.tables.port_name(a.out),
                        "{}-byte IPv4 packet without DF exceeds the path MTU {mtu}: sent as {} fragments (RFC 791)",
                        info.total_len,
                        f.len()
                    );
                    out.fragments = f;
                }
                None => return self.drop_with(DropReason::MtuExceeded),
            }
        }
        out
    }
}
