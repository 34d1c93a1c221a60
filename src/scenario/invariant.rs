//! `[[invariants]]`: checks that must hold on the initial topology and after every step.
//! The runner (`run.rs`) evaluates each one at every point and names the first step that
//! broke it.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::format::{EgressIpInvariant, Invariant, UnreachableInvariant};
use crate::check::CheckReport;
use crate::compile::{sg::PeerT, EniIdx, Tables};
use crate::model::{Cloud, Direction, PortSpec, SgPolicy};
use crate::probe::{self, Endpoint, IngressPath, PortPlan, ProbeRequest, Proto};
use crate::time::SimTime;

/// Evaluates one invariant against `cloud` (steps applied: `after`).
pub fn evaluate(cloud: &Cloud, inv: &Invariant, after: usize, line: usize) -> CheckReport {
    match inv {
        Invariant::Check(c) => super::run::evaluate(cloud, c, after, line),
        Invariant::EgressIp(e) => egress_ip(cloud, e, after, line),
        Invariant::Unreachable(u) => unreachable(cloud, u, after, line),
    }
}

fn exists(cloud: &Cloud, id: &str) -> bool {
    cloud.vswitches.contains_key(id)
        || cloud.instances.contains_key(id)
        || cloud.enis.contains_key(id)
}

/// The instances an `egress_of` names: a VSwitch's (by primary ENI), one instance, or
/// the instance of an ENI.
fn instances_of(cloud: &Cloud, what: &str) -> Result<Vec<String>, String> {
    if cloud.vswitches.contains_key(what) {
        let mut v: Vec<String> = cloud
            .instances
            .values()
            .filter(|i| {
                i.primary_eni()
                    .and_then(|e| cloud.enis.get(e))
                    .is_some_and(|e| e.vswitch == what)
            })
            .map(|i| i.id.clone())
            .collect();
        v.sort();
        return Ok(v);
    }
    if cloud.instances.contains_key(what) {
        return Ok(vec![what.to_string()]);
    }
    if let Some(e) = cloud.enis.get(what) {
        return match &e.instance {
            Some(i) => Ok(vec![i.clone()]),
            None => Err(format!(
                "ENI {what} is attached to no instance ({})",
                probe::ENI_NOT_ATTACHED
            )),
        };
    }
    Err(format!(
        "`{what}` is no VSwitch, instance or ENI of the scenario"
    ))
}

fn egress_ip(cloud: &Cloud, e: &EgressIpInvariant, after: usize, line: usize) -> CheckReport {
    let mut r = CheckReport::new(&e.name, after, line);
    r.expected = format!(
        "every instance of {} leaves with {}",
        e.egress_of, e.egress_ip
    );
    if !exists(cloud, &e.egress_of) {
        // Named by a later step (parse checks the name): nothing to hold yet.
        r.pass = true;
        r.observed = format!("{} does not exist at this point", e.egress_of);
        return r;
    }
    let insts = match instances_of(cloud, &e.egress_of) {
        Ok(v) => v,
        Err(m) => {
            r.observed = m;
            return r;
        }
    };
    let mut dp = probe::dataplane(cloud);
    let mut observed = vec![];
    let mut pass = true;
    for id in &insts {
        let req = ProbeRequest {
            from: Endpoint::Instance(id.clone()),
            to: probe::EGRESS_PROBE_TARGET,
            port: 443,
            proto: Proto::Tcp,
            src: None,
            ttl: 64,
        };
        match probe::send(&mut dp, &req, false, SimTime::ZERO) {
            Ok(p) if p.disposition == "internet" => {
                let ok = p.source_seen == Some(e.egress_ip);
                pass &= ok;
                observed.push(format!(
                    "{id} leaves with {}",
                    p.source_seen.map_or("?".into(), |s| s.to_string())
                ));
                if !ok && r.trace.is_empty() {
                    r.trace = p.trace_lines();
                }
            }
            Ok(p) => {
                pass = false;
                observed.push(format!(
                    "{id} does not get out ({})",
                    p.reason.unwrap_or(p.disposition)
                ));
                if r.trace.is_empty() {
                    r.trace = p.trace_lines();
                }
            }
            Err(m) => {
                pass = false;
                observed.push(format!("{id}: {m}"));
            }
        }
    }
    if insts.is_empty() {
        observed.push(format!("{} has no instance", e.egress_of));
    }
    r.pass = pass;
    r.observed = observed.join(", ");
    r
}

type PathFilter = Box<dyn Fn(&IngressPath) -> bool>;

/// Does a way in lead into the target (`*`, a VSwitch, instance or ENI id, or a CIDR)?
fn targets(cloud: &Cloud, t: &Tables, what: &str) -> Result<PathFilter, String> {
    if what == "*" {
        return Ok(Box::new(|_| true));
    }
    if let Ok(net) = what.parse::<Ipv4Net>() {
        return Ok(Box::new(move |p| net.contains(&p.internal_ip)));
    }
    if let Ok(ip) = what.parse::<Ipv4Addr>() {
        return Ok(Box::new(move |p| p.internal_ip == ip));
    }
    let enis: Vec<EniIdx> = if cloud.vswitches.contains_key(what) {
        (0..t.enis.len() as EniIdx)
            .filter(|&e| t.eni(e).vswitch == what)
            .collect()
    } else if let Some(i) = cloud.instances.get(what) {
        i.enis
            .iter()
            .filter_map(|e| t.eni_index.get(e).copied())
            .collect()
    } else if let Some(&e) = t.eni_index.get(what) {
        vec![e]
    } else {
        return Err(format!(
            "`{what}` is no VSwitch, instance or ENI of the scenario, nor a CIDR or `*`"
        ));
    };
    Ok(Box::new(move |p| {
        p.owner.is_some_and(|(e, _)| enis.contains(&e))
    }))
}

/// Internet sources to probe from: the usual client, and one address of each public
/// CIDR the receiving ENI's ingress rules accept that does not hold the client (a rule
/// open to one partner only still opens the port).
fn sources(t: &Tables, p: &IngressPath) -> Vec<Ipv4Addr> {
    let mut v = vec![probe::INGRESS_PROBE_CLIENT];
    if let Some((e, _)) = p.owner {
        for r in &t.eni(e).sg.rules {
            if r.direction != Direction::Ingress || r.policy != SgPolicy::Accept {
                continue;
            }
            if let PeerT::Cidr(net, mask) = r.peer {
                let client = u32::from(probe::INGRESS_PROBE_CLIENT);
                let first = Ipv4Addr::from(if mask == u32::MAX { net } else { net | 1 });
                if client & mask != net && !first.is_private() && !v.contains(&first) {
                    v.push(first);
                }
            }
        }
    }
    v
}

fn unreachable(cloud: &Cloud, u: &UnreachableInvariant, after: usize, line: usize) -> CheckReport {
    let mut r = CheckReport::new(&u.name, after, line);
    let protos = match u.proto.as_deref() {
        Some(p) => match Proto::parse(p) {
            Ok(p) => vec![p],
            Err(m) => {
                r.observed = m;
                return r;
            }
        },
        None => vec![Proto::Tcp, Proto::Udp, Proto::Icmp],
    };
    let ports = match u.ports.as_deref().map(PortSpec::parse) {
        None | Some(Ok(PortSpec::Any)) => None,
        Some(Ok(PortSpec::Range(a, b))) => Some((a, b)),
        Some(Err(m)) => {
            r.observed = m;
            return r;
        }
    };
    r.expected = format!(
        "no probe from the Internet is delivered to {} ({}{})",
        u.unreachable_from_internet,
        u.proto.as_deref().unwrap_or("tcp, udp, icmp"),
        u.ports
            .as_deref()
            .map(|p| format!(" {p}"))
            .unwrap_or_default()
    );
    let what = &u.unreachable_from_internet;
    let literal =
        what == "*" || what.parse::<Ipv4Net>().is_ok() || what.parse::<Ipv4Addr>().is_ok();
    if !literal && !exists(cloud, what) {
        r.pass = true;
        r.observed = format!("{what} does not exist at this point");
        return r;
    }
    let t = Tables::compile(cloud, 1);
    let hit = match targets(cloud, &t, &u.unreachable_from_internet) {
        Ok(f) => f,
        Err(m) => {
            r.observed = m;
            return r;
        }
    };
    let paths = probe::ingress_paths(cloud, &t, &PortPlan::Classes { protos, ports });
    let mut reached = vec![];
    let mut probes = 0;
    for p in paths.iter().filter(|p| hit(p)) {
        for src in sources(&t, p) {
            probes += 1;
            let e = probe::probe_ingress(&t, p, src);
            if let Some((eni, ip)) = &e.landed {
                reached.push(format!(
                    "{} from {src} reaches {eni} {ip} via {} {}{}",
                    e.label(),
                    e.via,
                    e.resource,
                    if e.dropped.is_some() {
                        " (the reply does not get back, but the request gets in)"
                    } else {
                        ""
                    }
                ));
                if r.trace.is_empty() {
                    r.trace = e.trace.clone();
                }
            }
        }
    }
    r.pass = reached.is_empty();
    let caveat = crate::reach::source_port_note(&t)
        .map(|n| format!("; {n}"))
        .unwrap_or_default();
    r.observed = if reached.is_empty() {
        format!("nothing delivered ({probes} probes, one per way in and port class){caveat}")
    } else {
        reached.join("; ")
    };
    r
}
