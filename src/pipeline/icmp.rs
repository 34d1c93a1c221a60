//! ICMP at the VPC's routers: time-exceeded and fragmentation-needed sent back to the
//! sender, and ICMP errors about tracked flows translated with their flow (RFC 5508).

use std::net::Ipv4Addr;
use std::sync::Arc;

use super::{Dataplane, Disposition, DropReason, Ingress, Outcome, TraceRef};
use super::{INTERNET_MAC, VROUTER_MAC};
use crate::flow::FlowKey;
use crate::time::SimTime;
use crate::wire::{self, FrameInfo, Rewrite, L4};

impl Dataplane {
    /// TTL ran out at a routed hop: drop, and send an ICMP time-exceeded back to the
    /// sender from the hop's address: the VSwitch gateway for the VPC router, the
    /// translated source (the NAT gateway's EIP) for the second hop of an SNAT path, the
    /// public address for packets from the Internet.
    pub(super) fn ttl_exceeded(
        &mut self,
        frame: &[u8],
        info: &FrameInfo,
        in_port: u16,
        hop: u8,
        translated_src: Option<Ipv4Addr>,
        trace: &mut TraceRef<'_>,
    ) -> Outcome {
        self.network_error(
            frame,
            info,
            in_port,
            hop,
            translated_src,
            wire::IcmpErrorKind::TimeExceeded,
            trace,
        )
    }

    /// Drops a packet for `kind`'s reason and sends the ICMP error back to the sender.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn network_error(
        &mut self,
        frame: &[u8],
        info: &FrameInfo,
        in_port: u16,
        hop: u8,
        translated_src: Option<Ipv4Addr>,
        kind: wire::IcmpErrorKind,
        trace: &mut TraceRef<'_>,
    ) -> Outcome {
        let tables = Arc::clone(&self.tables);
        let (from, back) = match tables.eni_of_port(in_port) {
            Some(e) => {
                let router = tables.eni(e).gateway;
                let from = if hop == 0 {
                    router
                } else {
                    translated_src.unwrap_or(router)
                };
                (from, Disposition::Delivered { eni: e })
            }
            None if tables.public.contains_key(&u32::from(info.dst)) => {
                (info.dst, Disposition::Internet)
            }
            None => (Ipv4Addr::UNSPECIFIED, Disposition::Internet),
        };
        let reason = match kind {
            wire::IcmpErrorKind::FragmentationNeeded { mtu } => {
                hop!(
                    trace,
                    "mtu",
                    from.to_string(),
                    "dropped, ICMP fragmentation needed (MTU {mtu}) sent from {from}"
                );
                DropReason::MtuExceeded
            }
            _ => {
                hop!(
                    trace,
                    "ttl",
                    from.to_string(),
                    "TTL {} expires at this hop: dropped, ICMP time exceeded sent from {from}",
                    info.ttl
                );
                DropReason::TtlExceeded
            }
        };
        let mut out = self.drop_with(reason);
        if !from.is_unspecified() {
            let mac = match back {
                Disposition::Delivered { eni } => tables.eni(eni).mac,
                _ => INTERNET_MAC,
            };
            if let Some(icmp) = wire::icmp_error(frame, info, kind, from, VROUTER_MAC, mac) {
                out.generated.push((icmp, back));
            }
        }
        out
    }

    /// An ICMP error about a tracked flow (RFC 5508): the embedded header is the packet
    /// the flow sent the other way, so the reverse of its tuple finds the connection; the
    /// outer destination and the embedded source are translated back together.
    pub(super) fn icmp_error(
        &mut self,
        frame: &mut [u8],
        info: &FrameInfo,
        port: u16,
        now: SimTime,
        trace: &mut TraceRef<'_>,
        depth: u8,
    ) -> Outcome {
        let L4::IcmpError { inner, .. } = info.l4 else {
            return self.drop_with(DropReason::MalformedFrame);
        };
        let (isport, idport) = if inner.proto == wire::proto::ICMP {
            (inner.sport, inner.sport)
        } else {
            (inner.sport, inner.dport)
        };
        let key = FlowKey {
            src: u32::from(inner.dst),
            dst: u32::from(inner.src),
            sport: idport,
            dport: isport,
            port,
            proto: inner.proto,
        };
        let Some(hit) = self.conns.lookup(&key, now) else {
            hop!(
                trace,
                "flow_table",
                self.tables.port_name(port),
                "ICMP error about {} {}:{} → {}:{}: no such connection",
                inner.proto,
                inner.src,
                inner.sport,
                inner.dst,
                inner.dport
            );
            return self.drop_with(DropReason::IcmpErrorNoFlow);
        };
        let (nsrc, ndst, nsport, ndport) = hit.action.rewrite(&hit.other).target();
        // The flow's translation for packets toward the embedded packet's sender maps
        // (inner.dst, inner.src) to (nsrc, ndst): the outer destination and the embedded
        // source become ndst; the embedded ports are the flow's ports reversed.
        let outer = Rewrite {
            dst: (ndst != info.dst).then_some(ndst),
            ..Default::default()
        };
        let inner_rw = Rewrite {
            src: (ndst != inner.src).then_some(ndst),
            dst: (nsrc != inner.dst).then_some(nsrc),
            sport: (ndport != inner.sport && inner.proto != wire::proto::ICMP).then_some(ndport),
            dport: (nsport != inner.dport && inner.proto != wire::proto::ICMP).then_some(nsport),
        };
        let inner_rw = if inner.proto == wire::proto::ICMP {
            Rewrite {
                sport: (ndport != inner.sport).then_some(ndport),
                ..inner_rw
            }
        } else {
            inner_rw
        };
        let before = *info;
        let info2 = wire::apply_inner(frame, info, &inner_rw);
        let info3 = wire::apply(frame, &info2, &outer);
        if let Some(t) = trace.as_deref_mut() {
            t.rewrite(
                "icmp_error",
                self.tables.port_name(port),
                "ICMP error translated with its flow (RFC 5508)",
                &before,
                &info3,
            );
        }
        if wire::decrement_ttl(frame, &info3).is_none() {
            return self.drop_with(DropReason::TtlExceeded);
        }
        match self.tables.eni_of_port(hit.action.out) {
            Some(e) => {
                wire::set_macs(frame, VROUTER_MAC, self.tables.eni(e).mac);
                Outcome::of(Disposition::Delivered { eni: e })
            }
            None if hit.action.hairpin && depth < 2 => {
                self.process_at(frame, Ingress::Internet, now, trace, depth + 1)
            }
            None => {
                wire::set_macs(frame, VROUTER_MAC, INTERNET_MAC);
                Outcome::of(Disposition::Internet)
            }
        }
    }
}
