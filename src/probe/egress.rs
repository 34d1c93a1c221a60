//! `vpcsim egress`: for every ENI address, the public address its Internet traffic leaves
//! with and the public addresses that reach it — each found by sending probes.
//!
//! Egress probes are sent by the guest OS of the ENI's instance (its routing and policy
//! routes apply, as `trace --from INSTANCE`). An ingress path (an EIP, a static public IP,
//! a cut-through or multi-EIP address, each DNAT entry of each NAT gateway and protocol)
//! counts as reachable only when the receiver's reply (SYN-ACK, UDP answer, echo reply)
//! gets back to the Internet client from the address it knocked on.

use std::net::Ipv4Addr;
use std::sync::Arc;

use serde::Serialize;

use super::{send, Endpoint, ProbeRequest, ProbeResult, Proto};
use crate::compile::{EniIdx, PublicOwner, Tables, Via};
use crate::model::{Cloud, Direction, ForwardProtocol, PortSpec, SgProtocol};
use crate::pipeline::{Dataplane, DataplaneConfig};
use crate::time::SimTime;

/// One row of `vpcsim egress`.
#[derive(Debug, Clone, Serialize)]
pub struct EgressRow {
    pub instance: Option<String>,
    pub eni: String,
    pub device: Option<String>,
    pub private_ip: Option<Ipv4Addr>,
    /// The address an Internet server sees; null when traffic does not get out.
    pub egress_ip: Option<Ipv4Addr>,
    pub via: &'static str,
    pub reason: Option<String>,
    /// Ways in from the Internet whose probe reached this address and whose reply got
    /// back out.
    pub ingress: Vec<IngressEntry>,
    /// Ways in that map here but whose probe, or its reply, was dropped — with why.
    pub ingress_blocked: Vec<IngressEntry>,
}

/// One way in from the Internet and what happened to its probe.
#[derive(Debug, Clone, Serialize)]
pub struct IngressEntry {
    pub public_ip: Ipv4Addr,
    /// tcp, udp or icmp.
    pub proto: &'static str,
    /// The external port or range (`8000-8010`) the probe stands for; null for icmp.
    pub ports: Option<String>,
    /// eip, static_public_ip, cut_through, multi_eip, dnat or dnat_ip_mapping.
    pub via: &'static str,
    /// The EIP, instance or DNAT entry that maps it.
    pub resource: String,
    /// For a blocked path: `probe` (the request did not arrive) or `reply` (the
    /// receiver's answer did not get back out).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dropped: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Where it mapped to by configuration, and where the probe actually arrived.
    #[serde(skip)]
    pub owner: Option<(EniIdx, Ipv4Addr)>,
    #[serde(skip)]
    pub landed: Option<(String, Ipv4Addr)>,
    #[serde(skip)]
    pub trace: Vec<String>,
}

impl IngressEntry {
    /// `47.96.10.20 tcp/22`, `47.96.100.1 udp/5000-5010`, `47.96.10.20 icmp`.
    pub fn label(&self) -> String {
        match &self.ports {
            Some(p) => format!("{} {}/{p}", self.public_ip, self.proto),
            None => format!("{} {}", self.public_ip, self.proto),
        }
    }

    /// Delivered to the guest (whatever happened to the reply).
    pub fn delivered(&self) -> bool {
        self.landed.is_some()
    }
}

/// The Internet server egress probes are sent to (TEST-NET-3, documentation range).
pub const EGRESS_PROBE_TARGET: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 80);
/// The Internet client ingress probes come from (TEST-NET-2).
pub const INGRESS_PROBE_CLIENT: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);
/// Said for an ENI attached to no instance: nothing sends from it and nothing it
/// receives is answered (issue 11; the same name as the pipeline's drop reason for it).
pub const ENI_NOT_ATTACHED: &str = "eni_not_attached";

/// A way in from the Internet, from the configuration, before it is probed.
#[derive(Debug, Clone)]
pub struct IngressPath {
    pub public_ip: Ipv4Addr,
    pub proto: Proto,
    /// External ports the probe stands for (the probe knocks on the first); (0, 0) for icmp.
    pub ports: (u16, u16),
    pub via: &'static str,
    pub resource: String,
    /// The ENI and private address it maps to; None when no ENI holds the address.
    pub owner: Option<(EniIdx, Ipv4Addr)>,
    /// The DNAT internal address when `owner` is None.
    pub internal_ip: Ipv4Addr,
}

/// Which ports the 1:1 and IP-mapping paths are probed on.
#[derive(Debug, Clone)]
pub enum PortPlan {
    /// One TCP probe on this port (the egress table's `--ingress-port`); DNAT port
    /// entries on their own ports, one probe per entry and protocol (per piece of the
    /// range when the security group treats parts of it differently).
    One(u16),
    /// Every port: one probe per class of ports the receiving ENI's security groups
    /// treat alike, restricted to these protocols and external ports.
    Classes {
        protos: Vec<Proto>,
        ports: Option<(u16, u16)>,
    },
}

/// Every way in from the Internet, as configured (EIPs, static public IPs, cut-through
/// and multi-EIP addresses, every DNAT entry of every NAT gateway).
pub fn ingress_paths(cloud: &Cloud, t: &Tables, plan: &PortPlan) -> Vec<IngressPath> {
    let mut out = vec![];
    let one_to_one_protos: Vec<Proto> = match plan {
        PortPlan::One(_) => vec![Proto::Tcp],
        PortPlan::Classes { protos, .. } => protos.clone(),
    };
    let mut publics: Vec<(&u32, &PublicOwner)> = t.public.iter().collect();
    publics.sort_by_key(|(a, _)| **a);
    for (&a, owner) in publics {
        let a = Ipv4Addr::from(a);
        let (eni, private_ip, via, resource) = match owner {
            PublicOwner::Nat1to1 {
                eni,
                private_ip,
                via,
                resource,
            } => (*eni, *private_ip, via_name(*via), resource.clone()),
            PublicOwner::Visible { eni, via, resource } => {
                (*eni, a, via_name(*via), resource.clone())
            }
            _ => continue,
        };
        for &proto in &one_to_one_protos {
            for ports in port_pieces(t, Some(eni), proto, plan, (1, 65535), 0) {
                out.push(IngressPath {
                    public_ip: a,
                    proto,
                    ports,
                    via,
                    resource: resource.clone(),
                    owner: Some((eni, private_ip)),
                    internal_ip: private_ip,
                });
            }
        }
    }
    for g in cloud.nat_gateways.values() {
        let Some(gi) = t.nat_gateways.iter().position(|x| x.id == g.id) else {
            continue;
        };
        let vpc = t.nat_gateways[gi].vpc;
        for f in &g.forward_entries {
            let owner = t
                .private
                .get(&(vpc, u32::from(f.internal_ip)))
                .map(|&e| (e, f.internal_ip));
            let eni = owner.map(|o| o.0);
            if f.is_ip_mapping() {
                // Protocol Any: both TCP and UDP reach the internal address.
                let protos: &[Proto] = match plan {
                    PortPlan::One(_) => &[Proto::Tcp, Proto::Udp],
                    PortPlan::Classes { protos, .. } => protos,
                };
                for &proto in protos {
                    for ports in port_pieces(t, eni, proto, plan, (1, 65535), 0) {
                        out.push(IngressPath {
                            public_ip: f.external_ip,
                            proto,
                            ports,
                            via: "dnat_ip_mapping",
                            resource: f.id.clone(),
                            owner,
                            internal_ip: f.internal_ip,
                        });
                    }
                }
                continue;
            }
            let (PortSpec::Range(ea, eb), PortSpec::Range(ia, _)) =
                (f.external_port, f.internal_port)
            else {
                continue;
            };
            let protos: &[Proto] = match f.protocol {
                ForwardProtocol::Tcp => &[Proto::Tcp],
                ForwardProtocol::Udp => &[Proto::Udp],
                ForwardProtocol::Any => &[Proto::Tcp, Proto::Udp],
            };
            // Internal port = external port + offset.
            let offset = i32::from(ia) - i32::from(ea);
            for &proto in protos {
                if let PortPlan::Classes { protos, .. } = plan {
                    if !protos.contains(&proto) {
                        continue;
                    }
                }
                for ports in port_pieces(t, eni, proto, plan, (ea, eb), offset) {
                    out.push(IngressPath {
                        public_ip: f.external_ip,
                        proto,
                        ports,
                        via: "dnat",
                        resource: f.id.clone(),
                        owner,
                        internal_ip: f.internal_ip,
                    });
                }
            }
        }
    }
    out
}

/// The external port ranges to probe within `range` (external ports; internal ones are
/// `offset` higher): `range` (or, for 1:1 paths under `One`, the one port) cut at every
/// port boundary of the receiving ENI's ingress rules, so every port of a piece meets the
/// same rules and one probe answers for all of them. A DNAT entry whose range the group
/// treats alike is one probe.
fn port_pieces(
    t: &Tables,
    eni: Option<EniIdx>,
    proto: Proto,
    plan: &PortPlan,
    range: (u16, u16),
    offset: i32,
) -> Vec<(u16, u16)> {
    if proto == Proto::Icmp {
        return vec![(0, 0)];
    }
    let (lo, hi) = match plan {
        PortPlan::One(p) if range == (1, 65535) => return vec![(*p, *p)],
        // A DNAT port range: one probe, unless the group treats parts of it apart.
        PortPlan::One(_) => range,
        PortPlan::Classes {
            ports: Some((a, b)),
            ..
        } => (range.0.max(*a), range.1.min(*b)),
        PortPlan::Classes { ports: None, .. } => range,
    };
    if lo > hi {
        return vec![];
    }
    let mut cuts: Vec<i32> = vec![];
    if let Some(e) = eni {
        for r in &t.eni(e).sg.rules {
            let applies = r.direction == Direction::Ingress
                && match r.protocol {
                    SgProtocol::Tcp => proto == Proto::Tcp,
                    SgProtocol::Udp => proto == Proto::Udp,
                    SgProtocol::All => true,
                    _ => false,
                };
            if let (true, Some((a, b))) = (applies, r.ports) {
                // In external ports: the first port of the rule and the one after it.
                cuts.push(i32::from(a) - offset);
                cuts.push(i32::from(b) + 1 - offset);
            }
        }
    }
    cuts.retain(|c| *c > i32::from(lo) && *c <= i32::from(hi));
    cuts.sort_unstable();
    cuts.dedup();
    let mut pieces = vec![];
    let mut start = i32::from(lo);
    for c in cuts.into_iter().chain(std::iter::once(i32::from(hi) + 1)) {
        // Both ends lie within lo..=hi, so they fit a u16.
        pieces.push((start as u16, (c - 1) as u16));
        start = c;
    }
    pieces
}

fn proto_name(p: Proto) -> &'static str {
    match p {
        Proto::Tcp => "tcp",
        Proto::Udp => "udp",
        Proto::Icmp => "icmp",
    }
}

fn fresh(t: &Arc<Tables>) -> Dataplane {
    Dataplane::new(
        Arc::clone(t),
        DataplaneConfig {
            conntrack_capacity: 64,
            ..Default::default()
        },
    )
}

/// Probes one way in from `client`: the request, then the receiver's reply.
pub fn probe_ingress(t: &Arc<Tables>, p: &IngressPath, client: Ipv4Addr) -> IngressEntry {
    let mut e = IngressEntry {
        public_ip: p.public_ip,
        proto: proto_name(p.proto),
        ports: (p.proto != Proto::Icmp).then(|| {
            if p.ports.0 == p.ports.1 {
                p.ports.0.to_string()
            } else {
                format!("{}-{}", p.ports.0, p.ports.1)
            }
        }),
        via: p.via,
        resource: p.resource.clone(),
        dropped: None,
        reason: None,
        owner: p.owner,
        landed: None,
        trace: vec![],
    };
    // An ENI attached to no instance has no guest to receive or answer.
    if let Some((eni, _)) = p.owner {
        if t.eni(eni).instance.is_none() {
            e.dropped = Some("probe");
            e.reason = Some(ENI_NOT_ATTACHED.into());
            return e;
        }
    }
    let req = ProbeRequest {
        from: Endpoint::Internet(client),
        to: p.public_ip,
        port: p.ports.0,
        proto: p.proto,
        src: None,
        ttl: 64,
    };
    let r = match send(&mut fresh(t), &req, true, SimTime::ZERO) {
        Ok(r) => r,
        Err(m) => {
            e.dropped = Some("probe");
            e.reason = Some(m);
            return e;
        }
    };
    e.trace = r.trace_lines();
    if let Some(x) = &r.reply {
        e.trace.push("--- reply ---".into());
        e.trace.extend(x.trace_lines());
    }
    match (&r.eni, r.destination_seen) {
        (Some(eni), Some(d)) if r.disposition == "delivered" => {
            e.landed = Some((eni.clone(), d));
        }
        _ => {
            e.dropped = Some("probe");
            e.reason = Some(r.reason.unwrap_or(r.disposition).to_string());
            return e;
        }
    }
    match reply_verdict(&r, client, p.public_ip) {
        Ok(()) => {}
        Err(reason) => {
            e.dropped = Some("reply");
            e.reason = Some(reason);
        }
    }
    e
}

/// The reply got back to `client` from `public`, or why not.
fn reply_verdict(r: &ProbeResult, client: Ipv4Addr, public: Ipv4Addr) -> Result<(), String> {
    let Some(x) = r.reply.as_deref() else {
        return Err("reply_not_sent".into());
    };
    if x.disposition != "internet" {
        return Err(x.reason.unwrap_or(x.disposition).to_string());
    }
    if x.destination_seen != Some(client) || x.source_seen != Some(public) {
        // It leaves, but from another address: the client's stack discards it.
        return Err("reply_wrong_source".into());
    }
    Ok(())
}

/// For every ENI address: the public address egress leaves with (sent by the guest) and
/// the ways in from the Internet that reach it (reply included) or are blocked.
pub fn egress_table(cloud: &Cloud, ingress_port: u16) -> Vec<EgressRow> {
    egress_table_on(cloud, &Tables::compile(cloud, 1), ingress_port)
}

/// [`egress_table`] over tables the caller already compiled from `cloud` (the CLI also
/// reads them for its notes; `serve` keeps them per state).
pub fn egress_table_on(cloud: &Cloud, tables: &Arc<Tables>, ingress_port: u16) -> Vec<EgressRow> {
    let tables = Arc::clone(tables);
    let mut paths = ingress_paths(cloud, &tables, &PortPlan::One(ingress_port));
    // Stable order whatever the model's maps do: address, protocol, port.
    paths.sort_by_key(|p| (p.public_ip, p.proto as u8, p.ports));
    let ingress: Vec<IngressEntry> = paths
        .iter()
        .map(|p| probe_ingress(&tables, p, INGRESS_PROBE_CLIENT))
        .collect();
    let mut rows = vec![];
    for (ei, e) in tables.enis.iter().enumerate() {
        let ei = ei as EniIdx;
        let inst = e.instance.map(|i| tables.instances[i as usize].id.clone());
        let addrs: Vec<Ipv4Addr> = if e.cut_through {
            e.visible_public.clone()
        } else {
            e.private_ips
                .iter()
                .chain(e.visible_public.iter())
                .copied()
                .collect()
        };
        for ip in addrs {
            let (egress_ip, via, reason) = match &inst {
                None => (None, "none", Some(ENI_NOT_ATTACHED.to_string())),
                Some(id) => egress_probe(&tables, ei, id, ip),
            };
            let here = |x: &&IngressEntry| {
                x.landed
                    .as_ref()
                    .is_some_and(|(eni, d)| *eni == e.id && *d == ip)
            };
            let mapped_here = |x: &&IngressEntry| x.owner == Some((ei, ip));
            rows.push(EgressRow {
                instance: inst.clone(),
                eni: e.id.clone(),
                device: inst.as_ref().map(|_| e.device_name()),
                private_ip: (!e.cut_through && e.private_ips.contains(&ip)).then_some(ip),
                egress_ip,
                via,
                reason,
                ingress: ingress
                    .iter()
                    .filter(|x| x.dropped.is_none())
                    .filter(here)
                    .cloned()
                    .collect(),
                ingress_blocked: ingress
                    .iter()
                    .filter(|x| x.dropped.is_some())
                    .filter(|x| here(x) || (x.landed.is_none() && mapped_here(x)))
                    .cloned()
                    .collect(),
            });
        }
    }
    // DNAT entries to an address no ENI holds: a row of their own, so none is unsaid.
    for x in ingress
        .iter()
        .filter(|x| x.owner.is_none() && x.landed.is_none())
    {
        rows.push(EgressRow {
            instance: None,
            eni: "-".into(),
            device: None,
            private_ip: None,
            egress_ip: None,
            via: "none",
            reason: Some("no ENI holds this DNAT entry's internal address".into()),
            ingress: vec![],
            ingress_blocked: vec![x.clone()],
        });
    }
    rows.sort_by(|a, b| {
        (a.instance.is_none(), &a.instance, &a.device, &a.eni).cmp(&(
            b.instance.is_none(),
            &b.instance,
            &b.device,
            &b.eni,
        ))
    });
    rows
}

/// A TCP SYN to the egress target, sent by the instance's guest from `ip`.
fn egress_probe(
    t: &Arc<Tables>,
    ei: EniIdx,
    instance: &str,
    ip: Ipv4Addr,
) -> (Option<Ipv4Addr>, &'static str, Option<String>) {
    let e = t.eni(ei);
    let req = ProbeRequest {
        from: Endpoint::Instance(instance.to_string()),
        to: EGRESS_PROBE_TARGET,
        port: 443,
        proto: Proto::Tcp,
        src: Some(ip),
        ttl: 64,
    };
    match send(&mut fresh(t), &req, false, SimTime::ZERO) {
        Ok(r) if r.disposition == "internet" => {
            let seen = r.source_seen;
            let via = if e.visible_public.contains(&ip) {
                if e.cut_through {
                    Via::CutThrough
                } else {
                    Via::MultiEip
                }
            } else {
                match t.one_to_one.get(&(e.vpc, u32::from(ip))) {
                    Some(o) if Some(o.public) == seen => o.via,
                    _ => Via::Snat,
                }
            };
            (seen, via_name(via), None)
        }
        Ok(r) => (
            None,
            "none",
            Some(r.reason.unwrap_or(r.disposition).to_string()),
        ),
        Err(m) => (None, "none", Some(format!("probe could not be sent: {m}"))),
    }
}

fn via_name(v: Via) -> &'static str {
    match v {
        Via::Eip => "eip",
        Via::StaticPublicIp => "static_public_ip",
        Via::Snat => "snat",
        Via::CutThrough => "cut_through",
        Via::MultiEip => "multi_eip",
    }
}
