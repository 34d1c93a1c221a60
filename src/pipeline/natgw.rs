//! The NAT gateway stage: SNAT on egress (the entry covering the source by longest
//! prefix, an EIP of the entry, a port of this worker's share), DNAT on ingress (a port
//! mapping, else an IP mapping). Replies to SNAT'd connections never get here: the flow
//! table answers them.

use super::chain::{note, Ctx, Stage, Verdict};
use super::{Dataplane, DropReason, SnatBinding};
use crate::compile::{PublicOwner, INTERNET_PORT};
use crate::flow::FlowKey;
use crate::wire::{self, Rewrite};

pub(super) const NATGW: Stage = Stage {
    egress_name: "snat",
    egress: snat,
    ingress_name: "dnat",
    ingress: dnat,
};

/// A small deterministic hash to spread sources over an entry's EIPs and ports.
fn mix(x: &[u32]) -> u32 {
    x.iter().fold(0x9e37_79b9u32, |a, v| {
        (a ^ v).wrapping_mul(0x0100_0193).rotate_left(5)
    })
}

fn snat(dp: &mut Dataplane, cx: &mut Ctx<'_>) -> Verdict {
    let Some(g) = cx.nat_gateway else {
        return Verdict::Continue;
    };
    let (tables, info) = (cx.tables, cx.info);
    let gw = &tables.nat_gateways[g as usize];
    let Some((_, entry)) = gw.snat.lookup(u32::from(info.src)) else {
        note!(cx, gw.id.clone(), "no SNAT entry covers source {}; create one (CreateSnatEntry) for its VSwitch, CIDR or ENI", info.src);
        return Verdict::Drop(DropReason::NoSnatEntry);
    };
    let (sport, dport) = info.ports();
    let eip = if entry.eips.len() == 1 || entry.affinity {
        entry.eips[(mix(&[u32::from(info.src)]) as usize) % entry.eips.len()]
    } else {
        entry.eips[(mix(&[
            u32::from(info.src),
            u32::from(sport),
            u32::from(info.dst),
            u32::from(dport),
        ]) as usize)
            % entry.eips.len()]
    };
    let icmp = info.proto == wire::proto::ICMP;
    // GRE, ESP, …: no port to rewrite, so the reply's key has none either; a second
    // flow to the same destination finds every "port" taken instead of colliding.
    let portless = !icmp && !matches!(info.proto, wire::proto::TCP | wire::proto::UDP);
    let dst_port = if icmp { 0 } else { dport };
    let conns = &dp.conns;
    let probe = |p: u16| {
        let reply = FlowKey {
            src: u32::from(info.dst),
            dst: u32::from(eip),
            sport: if icmp { p } else { dport },
            dport: if portless { 0 } else { p },
            port: INTERNET_PORT,
            proto: info.proto,
        };
        conns.contains_key(&reply)
    };
    let Some(p) = dp.snat.allocate(
        u32::from(eip),
        info.proto,
        u32::from(info.dst),
        dst_port,
        mix(&[u32::from(info.src), u32::from(sport)]),
        probe,
    ) else {
        note!(cx, entry.id.clone(), "no free port on {eip} for {}:{dport}: about {} concurrent connections per destination are used", info.dst, tables.snat_connections_per_destination);
        return Verdict::Drop(DropReason::SnatPortsExhausted);
    };
    cx.rw = Rewrite {
        src: Some(eip),
        sport: Some(p),
        dport: icmp.then_some(p),
        ..Default::default()
    };
    cx.hops = 2;
    // Given back by the runner if the packet does not leave after all.
    cx.meta = SnatBinding {
        eip: u32::from(eip),
        dst: u32::from(info.dst),
        dport: dst_port,
        port: p,
        proto: info.proto,
        active: true,
    };
    let note = cx
        .tracing()
        .then(|| {
            (
                entry.id.clone(),
                format!(
                    "SNAT entry {} ({}) on {}: source → {eip}:{p}",
                    entry.id, entry.source, gw.id
                ),
            )
        })
        .map(Box::new);
    Verdict::Deliver {
        out: INTERNET_PORT,
        note,
    }
}

fn dnat(_: &mut Dataplane, cx: &mut Ctx<'_>) -> Verdict {
    let Some(PublicOwner::NatGateway { gw }) = cx.owner else {
        return Verdict::Continue;
    };
    let (tables, info) = (cx.tables, cx.info);
    let g = &tables.nat_gateways[*gw as usize];
    let (_, dport) = info.ports();
    let d = g
        .dnat_ports
        .get(&(u32::from(info.dst), info.proto, dport))
        .or_else(|| g.dnat_ips.get(&u32::from(info.dst)));
    let Some(d) = d else {
        note!(
            cx,
            g.id.clone(),
            "{} {}:{dport}: no SNAT session and no DNAT entry (add one with CreateForwardEntry)",
            info.proto,
            info.dst
        );
        return Verdict::Drop(DropReason::NatGatewayNoMapping);
    };
    let Some(&dest) = tables.private.get(&(g.vpc, u32::from(d.internal_ip))) else {
        note!(
            cx,
            d.id.clone(),
            "DNAT target {} is held by no ENI",
            d.internal_ip
        );
        return Verdict::Drop(DropReason::NoSuchPrivateIp);
    };
    cx.rw = Rewrite {
        dst: Some(d.internal_ip),
        dport: d.internal_port,
        ..Default::default()
    };
    cx.hops = 2;
    cx.dest = Some(dest);
    let kind = if d.internal_port.is_some() {
        "port mapping"
    } else {
        "IP mapping"
    };
    note!(
        cx,
        d.id.clone(),
        "DNAT entry {} on {} ({kind}): → {}{}",
        d.id,
        g.id,
        d.internal_ip,
        d.internal_port.map(|p| format!(":{p}")).unwrap_or_default()
    );
    Verdict::Continue
}
