//! The end of the slow path once a stage let the packet leave: the TTL and MTU checks,
//! then one connection installed with an action per direction, then the rewrite.

use std::net::Ipv4Addr;

use super::chain::{Ctx, Verdict};
use super::{Dataplane, DropReason, FlowAction, Outcome, SnatBinding, TraceRef};
use crate::compile::INTERNET_PORT;
use crate::flow::{FlowKey, InsertError};
use crate::model::JUMBO_MTU;
use crate::time::SimTime;
use crate::wire::{self, CompiledRewrite, FrameInfo, Rewrite, L4};

pub(super) fn tcp_flags(info: &FrameInfo) -> u8 {
    match info.l4 {
        L4::Tcp { flags, .. } => flags.0,
        _ => 0,
    }
}

/// A FrameInfo standing for a packet of the given tuple, to precompile a rewrite for a
/// direction no packet has taken yet.
pub(super) fn synthetic_info(
    proto: u8,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    dport: u16,
    echo_request: bool,
) -> FrameInfo {
    let l4 = match proto {
        wire::proto::TCP => L4::Tcp {
            sport,
            dport,
            flags: wire::TcpFlags(0),
            seq: 0,
            ack: 0,
        },
        wire::proto::UDP => L4::Udp { sport, dport },
        wire::proto::ICMP => L4::IcmpEcho {
            request: echo_request,
            ident: sport,
            seq: 0,
        },
        _ => L4::Other,
    };
    FrameInfo {
        src,
        dst,
        proto,
        ttl: 64,
        ident: 0,
        dont_fragment: false,
        more_fragments: false,
        frag_offset: 0,
        total_len: 0,
        l4_offset: wire::frame::L4_OFFSET,
        l4,
    }
}

/// The hop of the stage that let the packet leave, showing the packet as it leaves
/// (translated, TTL decremented) when the stage rewrites it.
pub(super) fn log_rewrite(
    t: &mut super::Trace,
    stage: &'static str,
    resource: String,
    detail: String,
    info: &FrameInfo,
    rw: &Rewrite,
    hops: u8,
) {
    if rw.is_noop() {
        t.push(stage, resource, detail);
        return;
    }
    let mut after = *info;
    after.src = rw.src.unwrap_or(info.src);
    after.dst = rw.dst.unwrap_or(info.dst);
    after.l4 = match info.l4 {
        L4::Tcp {
            sport,
            dport,
            flags,
            seq,
            ack,
        } => L4::Tcp {
            sport: rw.sport.unwrap_or(sport),
            dport: rw.dport.unwrap_or(dport),
            flags,
            seq,
            ack,
        },
        L4::Udp { sport, dport } => L4::Udp {
            sport: rw.sport.unwrap_or(sport),
            dport: rw.dport.unwrap_or(dport),
        },
        L4::IcmpEcho {
            request,
            ident,
            seq,
        } => L4::IcmpEcho {
            request,
            ident: rw.sport.or(rw.dport).unwrap_or(ident),
            seq,
        },
        other => other,
    };
    after.ttl = info.ttl.saturating_sub(hops);
    t.rewrite(stage, resource, detail, info, &after);
}

impl Dataplane {
    /// The routers' limits on a packet about to leave by `out`: its TTL must outlive
    /// the routed hops, and a DF packet must fit the path MTU. Either failure is
    /// answered with an ICMP error, before any state is created (no connection, no
    /// SNAT port kept), as a router refuses a packet before forwarding it.
    pub(super) fn limits(&mut self, frame: &[u8], cx: &mut Ctx<'_>, out: u16) -> Verdict {
        let (info, port) = (cx.info, cx.key.port);
        if info.ttl <= cx.hops {
            // Hop 0 is the VPC router (or, from the Internet, the public address's edge);
            // hop 1 of an SNAT path is the NAT gateway, which answers from its EIP.
            let hop = info.ttl.saturating_sub(1);
            let src = cx.rw.src;
            return Verdict::Reply(Box::new(self.ttl_exceeded(
                frame,
                info,
                port,
                hop,
                src,
                &mut cx.trace,
            )));
        }
        let mtu = self.path_mtu(port, out);
        if info.total_len > mtu && info.dont_fragment {
            return Verdict::Reply(Box::new(self.frag_needed(
                frame,
                info,
                port,
                mtu,
                &mut cx.trace,
            )));
        }
        Verdict::Continue
    }

    /// Installs a connection whose original direction rewrites `info` into `to`
    /// (src, dst, sport, dport) and leaves by `out`; the reply direction undoes it and
    /// returns to `in_port`. An SNAT port in `meta` is then the connection's (given back
    /// on expiry), or given back here when the connection could not be kept.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn install(
        &mut self,
        info: &FrameInfo,
        key: FlowKey,
        rw: Rewrite,
        out: u16,
        hops: u8,
        meta: SnatBinding,
        now: SimTime,
    ) -> Result<(CompiledRewrite, FlowAction), DropReason> {
        let fwd = CompiledRewrite::compile(info, &rw).with_ttl_decrement(hops);
        let (nsrc, ndst, nsport, ndport) = fwd.target();
        let (osport, odport) = (key.sport, key.dport);
        let reply_key = FlowKey {
            src: u32::from(ndst),
            dst: u32::from(nsrc),
            sport: ndport,
            dport: nsport,
            port: out,
            proto: info.proto,
        };
        let reply_info = synthetic_info(info.proto, ndst, nsrc, ndport, nsport, false);
        let back = Rewrite {
            src: (ndst != info.dst).then_some(info.dst),
            dst: (nsrc != info.src).then_some(info.src),
            sport: (ndport != odport).then_some(odport),
            dport: (nsport != osport).then_some(osport),
        };
        let rev = CompiledRewrite::compile(&reply_info, &back).with_ttl_decrement(hops);
        let public = |ip: Ipv4Addr| self.tables.public.contains_key(&u32::from(ip));
        let jumbo = self.path_mtu(key.port, out) >= JUMBO_MTU;
        let fwd_action = FlowAction {
            deltas: fwd.deltas(),
            out,
            hairpin: out == INTERNET_PORT && public(ndst),
            jumbo,
        };
        let rev_action = FlowAction {
            deltas: rev.deltas(),
            out: key.port,
            hairpin: key.port == INTERNET_PORT && public(info.src),
            jumbo,
        };
        match self.conns.insert(
            key,
            fwd_action,
            reply_key,
            rev_action,
            meta,
            info.proto,
            tcp_flags(info),
            now,
        ) {
            Ok(conn) => {
                self.epochs.installed(conn, self.tables.epoch);
                self.counters.flows_created += 1;
                Ok((fwd, fwd_action))
            }
            Err(InsertError::TableFull) => Err(DropReason::ConntrackFull),
            // A stale entry of another epoch or a key collision: forward without state,
            // and without keeping an SNAT port no connection will give back.
            Err(InsertError::KeyExists) => {
                if meta.active {
                    self.snat
                        .release_port(meta.eip, meta.proto, meta.dst, meta.dport, meta.port);
                }
                Ok((fwd, fwd_action))
            }
        }
    }

    /// TTL and MTU passed: install, then rewrite and send. The flag says whether an SNAT
    /// port in `meta` is accounted for (held by the connection, or already given back);
    /// if not, the caller gives it back.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn finish(
        &mut self,
        frame: &mut [u8],
        info: &FrameInfo,
        key: FlowKey,
        rw: Rewrite,
        out: u16,
        hops: u8,
        meta: SnatBinding,
        now: SimTime,
        trace: &mut TraceRef<'_>,
        depth: u8,
    ) -> (Outcome, bool) {
        let mtu = self.path_mtu(key.port, out);
        self.note_fragment_mtu(info, mtu);
        match self.install(info, key, rw, out, hops, meta, now) {
            Ok((rw, a)) => (
                self.apply_action(
                    frame,
                    (info.l4_offset, info.proto),
                    rw,
                    a,
                    key.port,
                    now,
                    trace,
                    depth,
                ),
                true,
            ),
            Err(r) => {
                hop!(
                    trace,
                    "flow_table",
                    "conntrack",
                    "the connection table is full of established connections: new flow refused"
                );
                (self.drop_with(r), false)
            }
        }
    }
}
