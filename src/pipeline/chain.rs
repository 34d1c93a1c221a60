//! The slow path as a chain of stages (SEMANTICS.md §3), as oxide's `opte` layers are:
//! one list, walked forward for a packet an instance sends and in reverse for a packet
//! that arrives. Each stage takes the packet's context and answers with a [`Verdict`];
//! the runner names the hop after the stage, counts the drop and finishes the packet
//! (TTL, MTU, install, rewrite) when a stage lets it leave.
//!
//! ```text
//!   egress ──►  eni ─ sg ─ receiver ─ eip ─ route ─ natgw ─ edge
//!   ingress ◄── eni ─ sg ─ receiver ─ eip ─ route ─ natgw ─ edge ◄── Internet
//! ```
//! A packet the route table delivers inside the VPC turns round at `route` and walks
//! the ingress side down to the receiving ENI, so both sides of an east-west flow are
//! judged by the same stages as traffic from the Internet.

use crate::compile::{EniIdx, EniT, PublicOwner, Tables};
use crate::flow::FlowKey;
use crate::time::SimTime;
use crate::wire::{FrameInfo, Rewrite};

use super::{eip, eni, natgw, route, sg, Dataplane, DropReason, Outcome};
use super::{SnatBinding, TraceRef};

/// What a stage decided about a packet.
pub(super) enum Verdict {
    /// The next stage decides.
    Continue,
    /// Dropped for this reason (the runner counts it).
    Drop(DropReason),
    /// Leaves by this port with the context's rewrite: the runner records `note`
    /// (resource, detail) as this stage's hop, showing the rewrite, then finishes.
    Deliver { out: u16, note: Note },
    /// Answered by the network (an ICMP error sent back, the packet dropped); the
    /// routers' limits (TTL, MTU) answer so. Boxed, as the note is: a verdict is moved
    /// out of every stage, so it stays two words (the rare answers pay the box).
    Reply(Box<Outcome>),
    /// The route table delivers inside the VPC: walk the ingress side from here.
    Turn,
}

/// The hop text (resource, detail) of a stage that lets a packet leave: only when
/// tracing.
pub(super) type Note = Option<Box<(String, String)>>;

/// The packet's context as it goes down the chain: what it is, what the stages so far
/// decided (where it goes, how it is rewritten, the routed hops it crosses).
pub(super) struct Ctx<'a> {
    pub tables: &'a Tables,
    pub info: &'a FrameInfo,
    pub key: FlowKey,
    /// The ENI that sent it (egress), once the `eni` stage accepted it.
    pub sender: Option<&'a EniT>,
    /// The sender's index (egress).
    pub from: Option<EniIdx>,
    /// Who holds the destination public address (ingress), from the `edge` stage.
    pub owner: Option<&'a PublicOwner>,
    /// The NAT gateway the route table chose (egress).
    pub nat_gateway: Option<u16>,
    /// The receiving ENI.
    pub dest: Option<EniIdx>,
    pub rw: Rewrite,
    /// Routed hops that decrement the TTL.
    pub hops: u8,
    pub meta: SnatBinding,
    pub trace: TraceRef<'a>,
    /// The name the running stage's hops take.
    pub stage: &'static str,
}

impl Ctx<'_> {
    #[inline]
    pub fn tracing(&self) -> bool {
        self.trace.is_some()
    }

    /// Records a hop under the running stage's name.
    pub fn hop(&mut self, resource: impl Into<String>, detail: impl Into<String>) {
        self.hop_as(self.stage, resource, detail);
    }

    /// Records a hop under another stage's name (where the cloud's own vocabulary
    /// names the check after a different resource than the stage that makes it).
    pub fn hop_as(
        &mut self,
        stage: &'static str,
        resource: impl Into<String>,
        detail: impl Into<String>,
    ) {
        if let Some(t) = self.trace.as_deref_mut() {
            t.push(stage, resource, detail);
        }
    }
}

/// A hop of the running stage, its text formatted only when tracing.
macro_rules! note {
    ($cx:expr, $res:expr, $($fmt:tt)*) => {
        if $cx.tracing() {
            $cx.hop($res, format!($($fmt)*));
        }
    };
}
pub(super) use note;

type StageFn = fn(&mut Dataplane, &mut Ctx<'_>) -> Verdict;

/// One stage: its hop names and what it does in each direction.
pub(super) struct Stage {
    pub egress_name: &'static str,
    pub egress: StageFn,
    pub ingress_name: &'static str,
    pub ingress: StageFn,
}

/// A direction in which a stage does nothing.
pub(super) fn pass(_: &mut Dataplane, _: &mut Ctx<'_>) -> Verdict {
    Verdict::Continue
}

/// The stages in egress order.
const CHAIN: [&Stage; 7] = [
    &eni::ENI,
    &sg::SG,
    &eni::RECEIVER,
    &eip::EIP,
    &route::ROUTE,
    &natgw::NATGW,
    &edge::EDGE,
];

impl Dataplane {
    /// The slow path of a packet that is no connection's yet: from an ENI (`from`)
    /// forward along the chain, from the Internet (`None`) in reverse.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn run_chain(
        &mut self,
        tables: &Tables,
        frame: &mut [u8],
        info: &FrameInfo,
        key: FlowKey,
        from: Option<EniIdx>,
        now: SimTime,
        trace: &mut TraceRef<'_>,
        depth: u8,
    ) -> Outcome {
        let mut cx = Ctx {
            tables,
            info,
            key,
            sender: None,
            from,
            owner: None,
            nat_gateway: None,
            dest: None,
            rw: Rewrite::default(),
            hops: 1,
            meta: SnatBinding::default(),
            trace: trace.as_deref_mut(),
            stage: "",
        };
        let mut egress = from.is_some();
        let mut i = if egress { 0 } else { CHAIN.len() - 1 };
        loop {
            let stage = CHAIN[i];
            let verdict = if egress {
                cx.stage = stage.egress_name;
                (stage.egress)(self, &mut cx)
            } else {
                cx.stage = stage.ingress_name;
                (stage.ingress)(self, &mut cx)
            };
            match verdict {
                Verdict::Continue => {}
                Verdict::Drop(r) => return self.drop_with(r),
                Verdict::Reply(out) => return *out,
                Verdict::Deliver { out, note } => {
                    return self.deliver_from_chain(frame, cx, out, note, now, depth)
                }
                Verdict::Turn => egress = false,
            }
            // The ends of the chain always decide (`eni` delivers, `edge` refuses).
            match (egress, i) {
                (true, n) if n + 1 < CHAIN.len() => i += 1,
                (false, n) if n > 0 => i -= 1,
                _ => return self.drop_with(DropReason::NoRoute),
            }
        }
    }

    /// A stage let the packet leave: its hop, then TTL, MTU, install and rewrite; an
    /// SNAT port allocated for a packet that did not leave is given back.
    fn deliver_from_chain(
        &mut self,
        frame: &mut [u8],
        mut cx: Ctx<'_>,
        out: u16,
        note: Note,
        now: SimTime,
        depth: u8,
    ) -> Outcome {
        if let (Some(t), Some(note)) = (cx.trace.as_deref_mut(), note) {
            let (resource, detail) = *note;
            super::finish::log_rewrite(t, cx.stage, resource, detail, cx.info, &cx.rw, cx.hops);
        }
        let meta = cx.meta;
        let (o, accounted) = match self.limits(frame, &mut cx, out) {
            Verdict::Reply(o) => (*o, false),
            _ => self.finish(
                frame,
                cx.info,
                cx.key,
                cx.rw,
                out,
                cx.hops,
                meta,
                now,
                &mut cx.trace,
                depth,
            ),
        };
        // A port the packet got but no connection holds: given back. (One a
        // connection holds comes back when it expires, even if this packet was then
        // dropped, e.g. by a hairpin loop.)
        if meta.active && !accounted {
            self.snat
                .release_port(meta.eip, meta.proto, meta.dst, meta.dport, meta.port);
        }
        o
    }
}

/// The Internet edge: who holds a public destination address.
mod edge {
    use super::{pass, Ctx, Dataplane, DropReason, Stage, Verdict};

    pub(in crate::pipeline) const EDGE: Stage = Stage {
        egress_name: "internet",
        egress: pass_to_nothing,
        ingress_name: "internet",
        ingress: owner,
    };

    /// Egress reaches the edge only by a stage that delivered it; nothing else leaves.
    fn pass_to_nothing(dp: &mut Dataplane, cx: &mut Ctx<'_>) -> Verdict {
        let _ = pass(dp, cx);
        Verdict::Drop(DropReason::NoRoute)
    }

    fn owner(_: &mut Dataplane, cx: &mut Ctx<'_>) -> Verdict {
        let dst = cx.info.dst;
        match cx.tables.public.get(&u32::from(dst)) {
            Some(o) => {
                cx.owner = Some(o);
                Verdict::Continue
            }
            None => {
                note!(cx, "edge", "no resource of this scenario holds {dst}");
                Verdict::Drop(DropReason::PublicIpUnknown)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Verdict;

    #[test]
    fn a_verdict_is_two_words_so_moving_it_out_of_every_stage_is_cheap() {
        assert!(
            std::mem::size_of::<Verdict>() <= 16,
            "{} bytes",
            std::mem::size_of::<Verdict>()
        );
    }
}
