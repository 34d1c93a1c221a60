//! Probes: real frames sent through a fresh data plane to answer "where does this go,
//! with which address, and why" — for `vpcsim trace`, `vpcsim egress` and the
//! connectivity checks of scenario files.

use std::net::Ipv4Addr;
use std::sync::Arc;

use serde::Serialize;

mod check;
mod egress;

pub use check::connectivity_check;
pub use egress::{
    egress_table, egress_table_on, ingress_paths, probe_ingress, EgressRow, IngressEntry,
    IngressPath, PortPlan, EGRESS_PROBE_TARGET, ENI_NOT_ATTACHED, INGRESS_PROBE_CLIENT,
};

use crate::compile::Tables;
use crate::model::Cloud;
use crate::pipeline::{
    guest, Dataplane, DataplaneConfig, Disposition, Ingress, Trace, INTERNET_MAC, VROUTER_MAC,
};
use crate::time::SimTime;
use crate::wire::{self, ProbeL4, ProbeSpec, TcpFlags, L4};

/// Where a probe starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Instance(String),
    Eni(String),
    Internet(Ipv4Addr),
}

impl Endpoint {
    /// `i-xxx`, `eni-xxx` (any id the scenario defines) or `internet:IP`.
    pub fn parse(s: &str, t: &Tables) -> Result<Endpoint, String> {
        if let Some(ip) = s.strip_prefix("internet:") {
            return ip.parse().map(Endpoint::Internet).map_err(|_| format!("`{s}`: `internet:` must be followed by an IPv4 address, e.g. internet:198.51.100.7"));
        }
        if t.instance_index.contains_key(s) {
            return Ok(Endpoint::Instance(s.to_string()));
        }
        if t.eni_index.contains_key(s) {
            return Ok(Endpoint::Eni(s.to_string()));
        }
        Err(format!(
            "endpoint `{s}` is neither an instance id, an ENI id, nor internet:IP"
        ))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Tcp,
    Udp,
    Icmp,
}

impl Proto {
    pub fn parse(s: &str) -> Result<Proto, String> {
        match s {
            "tcp" => Ok(Proto::Tcp),
            "udp" => Ok(Proto::Udp),
            "icmp" => Ok(Proto::Icmp),
            o => Err(format!("protocol `{o}`: use tcp, udp or icmp")),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ProbeRequest {
    pub from: Endpoint,
    pub to: Ipv4Addr,
    pub port: u16,
    pub proto: Proto,
    /// Source address override (default: the sender's primary address).
    pub src: Option<Ipv4Addr>,
    pub ttl: u8,
}

/// What happened to one probe packet.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeResult {
    pub sent: String,
    /// delivered, internet or dropped.
    pub disposition: &'static str,
    pub eni: Option<String>,
    pub instance: Option<String>,
    pub reason: Option<&'static str>,
    /// The packet as it left the simulated network (or reached the ENI).
    pub received: Option<String>,
    /// The source address the receiver sees.
    pub source_seen: Option<Ipv4Addr>,
    pub destination_seen: Option<Ipv4Addr>,
    pub hops: Vec<crate::pipeline::trace::Hop>,
    pub generated: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply: Option<Box<ProbeResult>>,
    #[serde(skip)]
    pub frame_in: Vec<u8>,
    #[serde(skip)]
    pub frame_out: Vec<u8>,
    #[serde(skip)]
    outcome: Option<Disposition>,
    /// The pass through the data plane, for `--capture`.
    #[serde(skip)]
    pub pass: Option<crate::capture::Pass>,
    #[serde(skip)]
    reply_to: Option<Endpoint>,
}

impl ProbeResult {
    pub fn trace_lines(&self) -> Vec<String> {
        Trace {
            hops: self.hops.clone(),
        }
        .lines()
    }
}

/// A data plane for probes: one per question, so probes never share state by accident.
pub fn dataplane(cloud: &Cloud) -> Dataplane {
    Dataplane::new(
        Tables::compile(cloud, 1),
        DataplaneConfig {
            conntrack_capacity: 4096,
            ..Default::default()
        },
    )
}

fn sender(t: &Tables, req: &ProbeRequest) -> Result<(Ingress, Ipv4Addr, [u8; 6]), String> {
    match &req.from {
        Endpoint::Internet(ip) => Ok((Ingress::Internet, req.src.unwrap_or(*ip), INTERNET_MAC)),
        Endpoint::Instance(id) => {
            let i = *t
                .instance_index
                .get(id)
                .ok_or_else(|| format!("no instance `{id}`"))?;
            let inst = &t.instances[i as usize];
            let src = match req.src {
                Some(s) => s,
                None => guest::default_source(t, inst).ok_or_else(|| {
                    format!("instance {id} has no network interface (classic network?)")
                })?,
            };
            let mac = inst
                .devices
                .first()
                .map(|e| t.eni(*e).mac)
                .unwrap_or(INTERNET_MAC);
            Ok((Ingress::Guest(i), src, mac))
        }
        Endpoint::Eni(id) => {
            let e = *t
                .eni_index
                .get(id)
                .ok_or_else(|| format!("no ENI `{id}`"))?;
            let eni = t.eni(e);
            let src = req
                .src
                .or_else(|| {
                    eni.visible_public
                        .first()
                        .copied()
                        .filter(|_| eni.cut_through)
                })
                .unwrap_or(eni.private_ips[0]);
            Ok((Ingress::Eni(e), src, eni.mac))
        }
    }
}

const PROBE_SPORT: u16 = 40000;
const PROBE_ICMP_IDENT: u16 = 0x5653;

/// Sends one probe through `dp` (tables from `dp`), optionally with its reply.
pub fn send(
    dp: &mut Dataplane,
    req: &ProbeRequest,
    with_reply: bool,
    now: SimTime,
) -> Result<ProbeResult, String> {
    let t = Arc::clone(dp.tables());
    let (ingress, src, mac) = sender(&t, req)?;
    let l4 = match req.proto {
        Proto::Tcp => ProbeL4::Tcp {
            sport: PROBE_SPORT,
            dport: req.port,
            flags: TcpFlags::SYN,
            seq: 1000,
            ack: 0,
        },
        Proto::Udp => ProbeL4::Udp {
            sport: PROBE_SPORT,
            dport: req.port,
        },
        Proto::Icmp => ProbeL4::IcmpEcho {
            request: true,
            ident: PROBE_ICMP_IDENT,
            seq: 1,
        },
    };
    let frame = wire::build(&ProbeSpec {
        src_mac: mac,
        dst_mac: VROUTER_MAC,
        src,
        dst: req.to,
        ttl: req.ttl,
        ident: 1,
        l4,
        payload: Vec::new(),
    });
    let mut r = inject(dp, &t, frame, ingress, now);
    if with_reply {
        if let Some(reply) = build_reply(&t, &r) {
            let (frame, at) = reply;
            r.reply = Some(Box::new(inject(dp, &t, frame, at, now)));
        }
    }
    Ok(r)
}

/// Injects a frame and records the outcome.
pub fn inject(
    dp: &mut Dataplane,
    t: &Tables,
    frame: Vec<u8>,
    at: Ingress,
    now: SimTime,
) -> ProbeResult {
    let sent = wire::parse(&frame)
        .map(|i| crate::pipeline::summary(&i))
        .unwrap_or_else(|e| format!("malformed frame: {e}"));
    let mut buf = frame.clone();
    let mut trace = Trace::default();
    let out = dp.process(&mut buf, at, now, Some(&mut trace));
    let after = wire::parse(&buf).ok();
    let (disposition, eni, instance, reason, reply_to) = match out.disposition {
        Disposition::Delivered { eni } => {
            let e = t.eni(eni);
            let inst = e.instance.map(|i| t.instances[i as usize].id.clone());
            let back = match &inst {
                Some(i) => Endpoint::Instance(i.clone()),
                None => Endpoint::Eni(e.id.clone()),
            };
            ("delivered", Some(e.id.clone()), inst, None, Some(back))
        }
        Disposition::Internet => (
            "internet",
            None,
            None,
            None,
            after.map(|a| Endpoint::Internet(a.dst)),
        ),
        Disposition::Dropped(r) => ("dropped", None, None, Some(r.name()), None),
        Disposition::Held => ("held", None, None, None, None),
    };
    let delivered = !matches!(out.disposition, Disposition::Dropped(_));
    let pass = crate::capture::Pass {
        tables: Arc::clone(dp.tables()),
        at,
        before: frame.clone(),
        outcome: out.clone(),
        after: buf.clone(),
        ts_nanos: now.as_nanos(),
    };
    ProbeResult {
        sent,
        disposition,
        eni,
        instance,
        reason,
        received: after
            .filter(|_| delivered)
            .map(|a| crate::pipeline::summary(&a)),
        source_seen: after.filter(|_| delivered).map(|a| a.src),
        destination_seen: after.filter(|_| delivered).map(|a| a.dst),
        hops: trace.hops,
        generated: out
            .generated
            .iter()
            .filter_map(|(f, _)| wire::parse(f).ok())
            .map(|i| crate::pipeline::summary(&i))
            .collect(),
        reply: None,
        frame_in: frame,
        frame_out: buf,
        outcome: Some(out.disposition),
        pass: Some(pass),
        reply_to,
    }
}

/// The receiver's answer to a delivered probe: addresses and ports swapped, a SYN-ACK
/// for TCP, an echo reply for ICMP, sent by the receiving guest (its routing applies).
/// The L4 header of the receiver's answer to `got`: ports swapped; a SYN-ACK (with
/// sequence number `seq`) for TCP, an echo reply for an echo request.
pub fn reply_l4(got: &wire::FrameInfo, seq: u32) -> Option<ProbeL4> {
    Some(match got.l4 {
        L4::Tcp {
            sport,
            dport,
            seq: theirs,
            ..
        } => ProbeL4::Tcp {
            sport: dport,
            dport: sport,
            flags: TcpFlags::SYN | TcpFlags::ACK,
            seq,
            ack: theirs.wrapping_add(1),
        },
        L4::Udp { sport, dport } => ProbeL4::Udp {
            sport: dport,
            dport: sport,
        },
        L4::IcmpEcho { ident, seq, .. } => ProbeL4::IcmpEcho {
            request: false,
            ident,
            seq,
        },
        _ => return None,
    })
}

fn build_reply(t: &Tables, r: &ProbeResult) -> Option<(Vec<u8>, Ingress)> {
    let got = wire::parse(&r.frame_out).ok()?;
    let at = match r.reply_to.as_ref()? {
        Endpoint::Internet(_) => Ingress::Internet,
        Endpoint::Instance(i) => Ingress::Guest(*t.instance_index.get(i)?),
        Endpoint::Eni(e) => Ingress::Eni(*t.eni_index.get(e)?),
    };
    let l4 = reply_l4(&got, 5000)?;
    let mac = match r.outcome? {
        Disposition::Delivered { eni } => t.eni(eni).mac,
        _ => INTERNET_MAC,
    };
    let frame = wire::build(&ProbeSpec {
        src_mac: mac,
        dst_mac: VROUTER_MAC,
        src: got.dst,
        dst: got.src,
        ttl: 64,
        ident: 2,
        l4,
        payload: Vec::new(),
    });
    Some((frame, at))
}

fn parse_to(s: &str, proto: Proto) -> Result<(Ipv4Addr, u16), String> {
    let (ip, port) = match s.rsplit_once(':') {
        Some((ip, p)) => (
            ip,
            Some(
                p.parse::<u16>()
                    .map_err(|_| format!("`{s}`: the port must be 1-65535"))?,
            ),
        ),
        None => (s, None),
    };
    let ip = ip
        .parse()
        .map_err(|_| format!("`{s}`: expected IP or IP:PORT"))?;
    let port = match (proto, port) {
        (Proto::Icmp, _) => 0,
        (_, Some(p)) => p,
        (_, None) => return Err(format!("`{s}`: tcp and udp probes need a port (IP:PORT)")),
    };
    Ok((ip, port))
}

pub fn request(
    t: &Tables,
    from: &str,
    to: &str,
    proto: &str,
    src: Option<Ipv4Addr>,
) -> Result<ProbeRequest, String> {
    let proto = Proto::parse(proto)?;
    // `to` first: its error is the one a request with two mistakes gets.
    parse_to(to, proto)?;
    request_from(Endpoint::parse(from, t)?, to, proto, src)
}

/// As [`request`], from an endpoint already resolved (a server that answers many
/// questions about the same senders keeps them).
pub fn request_from(
    from: Endpoint,
    to: &str,
    proto: Proto,
    src: Option<Ipv4Addr>,
) -> Result<ProbeRequest, String> {
    let (to, port) = parse_to(to, proto)?;
    Ok(ProbeRequest {
        from,
        to,
        port,
        proto,
        src,
        ttl: 64,
    })
}
