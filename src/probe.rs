//! Probes: real frames sent through a fresh data plane to answer "where does this go,
//! with which address, and why" — for `vpcsim trace`, `vpcsim egress` and the
//! connectivity checks of scenario files.

use std::net::Ipv4Addr;
use std::sync::Arc;

use serde::Serialize;

use crate::compile::{Tables, Via};
use crate::model::Cloud;
use crate::pipeline::{
    guest, Dataplane, DataplaneConfig, Disposition, Ingress, Trace, INTERNET_MAC, VROUTER_MAC,
};
use crate::scenario::format::CheckSpec;
use crate::scenario::CheckReport;
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
    };
    let delivered = !matches!(out.disposition, Disposition::Dropped(_));
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
        reply_to,
    }
}

/// The receiver's answer to a delivered probe: addresses and ports swapped, a SYN-ACK
/// for TCP, an echo reply for ICMP, sent by the receiving guest (its routing applies).
fn build_reply(t: &Tables, r: &ProbeResult) -> Option<(Vec<u8>, Ingress)> {
    let got = wire::parse(&r.frame_out).ok()?;
    let at = match r.reply_to.as_ref()? {
        Endpoint::Internet(_) => Ingress::Internet,
        Endpoint::Instance(i) => Ingress::Guest(*t.instance_index.get(i)?),
        Endpoint::Eni(e) => Ingress::Eni(*t.eni_index.get(e)?),
    };
    let l4 = match got.l4 {
        L4::Tcp {
            sport, dport, seq, ..
        } => ProbeL4::Tcp {
            sport: dport,
            dport: sport,
            flags: TcpFlags::SYN | TcpFlags::ACK,
            seq: 5000,
            ack: seq.wrapping_add(1),
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
    };
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
    let (to, port) = parse_to(to, proto)?;
    Ok(ProbeRequest {
        from: Endpoint::parse(from, t)?,
        to,
        port,
        proto,
        src,
        ttl: 64,
    })
}

/// Evaluates a connectivity check of a scenario file.
pub fn connectivity_check(cloud: &Cloud, c: &CheckSpec) -> CheckReport {
    let mut dp = dataplane(cloud);
    let t = Arc::clone(dp.tables());
    let mut report = CheckReport {
        name: c.name.clone(),
        after_step: 0,
        pass: false,
        expected: String::new(),
        observed: String::new(),
        trace: vec![],
        line: 0,
    };
    let want_reply = c.expect_reply || c.expect_reply_reason.is_some();
    let req = request(
        &t,
        c.from.as_deref().unwrap_or_default(),
        c.to.as_deref().unwrap_or_default(),
        c.proto.as_deref().unwrap_or("tcp"),
        c.src,
    );
    let r = match req.and_then(|req| send(&mut dp, &req, want_reply, SimTime::ZERO)) {
        Ok(r) => r,
        Err(e) => {
            report.observed = e;
            return report;
        }
    };
    let mut expected = vec![c.expect.clone().unwrap_or_default()];
    let mut observed = vec![r.disposition.to_string()];
    let mut pass = Some(r.disposition) == c.expect.as_deref();
    if let Some(s) = c.expect_source {
        expected.push(format!("source {s}"));
        observed.push(
            r.source_seen
                .map_or("no source".into(), |x| format!("source {x}")),
        );
        pass &= r.source_seen == Some(s);
    }
    if let Some(e) = &c.expect_eni {
        expected.push(format!("at {e}"));
        observed.push(format!("at {}", r.eni.as_deref().unwrap_or("-")));
        pass &= r.eni.as_deref() == Some(e.as_str());
    }
    if let Some(reason) = &c.expect_reason {
        expected.push(format!("reason {reason}"));
        observed.push(format!("reason {}", r.reason.unwrap_or("-")));
        pass &= r.reason == Some(reason.as_str());
    }
    if let Some(reason) = r.reason {
        if c.expect_reason.is_none() {
            observed.push(format!("reason {reason}"));
        }
    }
    let mut lines = r.trace_lines();
    if want_reply {
        let rep = r.reply.as_deref();
        let rdisp = rep.map_or("not sent", |x| x.disposition);
        if c.expect_reply {
            let back_ok = rep.is_some_and(|x| {
                x.disposition != "dropped"
                    && x.destination_seen == wire::parse(&r.frame_in).ok().map(|i| i.src)
            });
            expected.push("reply returns to the sender".into());
            observed.push(match rep {
                Some(x) if back_ok => format!(
                    "reply returns from {}",
                    x.source_seen.map_or("?".into(), |s| s.to_string())
                ),
                Some(x) => format!(
                    "reply {} ({})",
                    x.disposition,
                    x.reason.unwrap_or("wrong destination")
                ),
                None => "reply not sent".into(),
            });
            pass &= back_ok;
        }
        if let Some(reason) = &c.expect_reply_reason {
            expected.push(format!("reply dropped: {reason}"));
            observed.push(format!(
                "reply {rdisp}{}",
                rep.and_then(|x| x.reason)
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            ));
            pass &= rep.and_then(|x| x.reason) == Some(reason.as_str());
        }
        if let Some(x) = rep {
            lines.push("--- reply ---".into());
            lines.extend(x.trace_lines());
        }
    }
    report.pass = pass;
    report.expected = expected.join(", ");
    report.observed = observed.join(", ");
    report.trace = lines;
    report
}

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
    /// Public addresses whose probe from the Internet reached this private IP.
    pub ingress: Vec<String>,
    /// Public addresses that map here but whose probe was dropped, with why.
    pub ingress_blocked: Vec<String>,
}

/// The Internet server egress probes are sent to (TEST-NET-3, documentation range).
pub const EGRESS_PROBE_TARGET: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 80);
/// The Internet client ingress probes come from (TEST-NET-2).
pub const INGRESS_PROBE_CLIENT: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);

/// For every ENI address: the public address egress leaves with and the public
/// addresses that reach it, each found by sending a probe.
pub fn egress_table(cloud: &Cloud, ingress_port: u16) -> Vec<EgressRow> {
    let tables = Tables::compile(cloud, 1);
    // Ingress: probe every public address once (DNAT entries at their external port).
    #[allow(clippy::type_complexity)]
    let mut ingress: Vec<(String, Option<(String, Ipv4Addr)>, Option<String>)> = vec![];
    let mut addrs: Vec<(Ipv4Addr, u16)> = vec![];
    for (&a, owner) in &tables.public {
        match owner {
            crate::compile::PublicOwner::NatGateway { gw } => {
                let g = &tables.nat_gateways[*gw as usize];
                let mut ports: Vec<u16> = g
                    .dnat_ports
                    .keys()
                    .filter(|(ip, p, _)| *ip == a && *p == 6)
                    .map(|(_, _, port)| *port)
                    .collect();
                ports.sort();
                ports.truncate(8);
                if g.dnat_ips.contains_key(&a) {
                    ports.push(ingress_port);
                }
                addrs.extend(ports.into_iter().map(|p| (Ipv4Addr::from(a), p)));
            }
            _ => addrs.push((Ipv4Addr::from(a), ingress_port)),
        }
    }
    addrs.sort();
    for (a, port) in addrs {
        let mut dp = Dataplane::new(
            Arc::clone(&tables),
            DataplaneConfig {
                conntrack_capacity: 64,
                ..Default::default()
            },
        );
        let req = ProbeRequest {
            from: Endpoint::Internet(INGRESS_PROBE_CLIENT),
            to: a,
            port,
            proto: Proto::Tcp,
            src: None,
            ttl: 64,
        };
        let Ok(r) = send(&mut dp, &req, false, SimTime::ZERO) else {
            continue;
        };
        let label = format!("{a} tcp/{port}");
        match (r.eni, r.destination_seen, r.reason) {
            (Some(e), Some(d), _) => ingress.push((label, Some((e, d)), None)),
            (_, _, Some(reason)) => ingress.push((label, None, Some(reason.to_string()))),
            _ => {}
        }
    }
    let mut rows = vec![];
    for (ei, e) in tables.enis.iter().enumerate() {
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
            let mut dp = Dataplane::new(
                Arc::clone(&tables),
                DataplaneConfig {
                    conntrack_capacity: 64,
                    ..Default::default()
                },
            );
            let req = ProbeRequest {
                from: Endpoint::Eni(e.id.clone()),
                to: EGRESS_PROBE_TARGET,
                port: 443,
                proto: Proto::Tcp,
                src: Some(ip),
                ttl: 64,
            };
            let r = send(&mut dp, &req, false, SimTime::ZERO).ok();
            let (egress_ip, via, reason) = match r.as_ref() {
                Some(r) if r.disposition == "internet" => {
                    let seen = r.source_seen;
                    let via = if e.visible_public.contains(&ip) {
                        if e.cut_through {
                            Via::CutThrough
                        } else {
                            Via::MultiEip
                        }
                    } else {
                        match tables.one_to_one.get(&(e.vpc, u32::from(ip))) {
                            Some(o) if Some(o.public) == seen => o.via,
                            _ => Via::Snat,
                        }
                    };
                    (seen, via_name(via), None)
                }
                Some(r) => (
                    None,
                    "none",
                    Some(
                        r.reason
                            .map(str::to_string)
                            .unwrap_or_else(|| r.disposition.to_string()),
                    ),
                ),
                None => (None, "none", Some("probe could not be sent".into())),
            };
            let _ = ei;
            let here = |d: &(String, Ipv4Addr)| d.0 == e.id && d.1 == ip;
            let mapped_here = |label: &str| {
                let a: Option<Ipv4Addr> = label.split(' ').next().and_then(|x| x.parse().ok());
                a.and_then(|a| tables.public.get(&u32::from(a)))
                    .is_some_and(|o| match o {
                        crate::compile::PublicOwner::Nat1to1 {
                            eni, private_ip, ..
                        } => tables.eni(*eni).id == e.id && *private_ip == ip,
                        crate::compile::PublicOwner::Visible { eni, .. } => {
                            tables.eni(*eni).id == e.id
                        }
                        _ => false,
                    })
            };
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
                    .filter(|(_, d, _)| d.as_ref().is_some_and(here))
                    .map(|(l, _, _)| l.clone())
                    .collect(),
                ingress_blocked: ingress
                    .iter()
                    .filter(|(l, d, r)| d.is_none() && r.is_some() && mapped_here(l))
                    .map(|(l, _, r)| format!("{l}: {}", r.as_deref().unwrap_or("")))
                    .collect(),
            });
        }
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

fn via_name(v: Via) -> &'static str {
    match v {
        Via::Eip => "eip",
        Via::StaticPublicIp => "static_public_ip",
        Via::Snat => "snat",
        Via::CutThrough => "cut_through",
        Via::MultiEip => "multi_eip",
    }
}
