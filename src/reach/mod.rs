//! Questions about the whole VPC: what reaches what (`vpcsim reach`), what the Internet
//! reaches (`vpcsim exposure`) and what a change alters (`vpcsim diff`).
//!
//! Each is answered with real packets, and completely: the traffic of a question is cut
//! into equivalence classes from the compiled tables ([`classes`]), one probe per class
//! goes through a fresh data plane with its reply ([`probe`]), and the answers are merged
//! back into ranges ([`rows`]). Invariant: every packet of a class gets the class's
//! answer (property-tested in `tests/reach.rs`), so the result is exact, not sampled.

pub mod classes;
pub mod diff;
pub mod exposure;
pub mod probe;
pub mod rows;
pub mod scale;

use std::net::Ipv4Addr;
use std::sync::Arc;

use classes::{
    destination_cuts, dnat_runs, internet_holes, port_cuts, representative, source_cuts, subtract,
    ProtoClass, Scope,
};
use probe::{Answer, Packet, Sender, CLASS_SPORT};

use crate::compile::{EniIdx, PublicOwner, Tables};

/// The Internet client class probes prefer (TEST-NET-2), when its class holds it.
pub const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);
/// The Internet server class probes prefer (TEST-NET-3), when its class holds it.
pub const SERVER: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 80);

/// One end of a question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Internet,
    Instance(u16),
    Eni(EniIdx),
}

impl Side {
    /// `internet`, an instance id or an ENI id.
    pub fn parse(s: &str, t: &Tables) -> Result<Side, String> {
        if s == "internet" {
            return Ok(Side::Internet);
        }
        if let Some(i) = t.instance_index.get(s) {
            return Ok(Side::Instance(*i));
        }
        if let Some(e) = t.eni_index.get(s) {
            return Ok(Side::Eni(*e));
        }
        Err(format!(
            "`{s}` is neither `internet`, an instance id nor an ENI id of the scenario"
        ))
    }

    pub fn label(&self, t: &Tables) -> String {
        match self {
            Side::Internet => "internet".into(),
            Side::Instance(i) => t.instances[*i as usize].id.clone(),
            Side::Eni(e) => t.eni(*e).id.clone(),
        }
    }

    fn enis(&self, t: &Tables) -> Vec<EniIdx> {
        match self {
            Side::Internet => vec![],
            Side::Instance(i) => t.instances[*i as usize].devices.clone(),
            Side::Eni(e) => vec![*e],
        }
    }

    /// Every endpoint of the scenario: the Internet and each instance. (A detached ENI
    /// sends and receives nothing; name it with --from/--to to see so.)
    pub fn all(t: &Tables) -> Vec<Side> {
        let mut v = vec![Side::Internet];
        v.extend((0..t.instances.len() as u16).map(Side::Instance));
        v
    }
}

/// The addresses an ENI sends from: its private IPs (unless cut-through) and the public
/// addresses its guest holds.
pub fn addresses(t: &Tables, e: EniIdx) -> Vec<Ipv4Addr> {
    let eni = t.eni(e);
    let mut v = if eni.cut_through {
        vec![]
    } else {
        eni.private_ips.clone()
    };
    v.extend(eni.visible_public.iter().copied());
    v
}

/// One class and its answer.
#[derive(Debug, Clone)]
pub struct Cell {
    pub from: String,
    /// Source addresses: inclusive ranges.
    pub src: Vec<(u64, u64)>,
    pub to: String,
    pub dst: Vec<(u64, u64)>,
    pub proto: ProtoClass,
    /// Destination ports (0..=0 for protocols without ports).
    pub ports: (u16, u16),
    pub answer: Answer,
    /// The packet that answered for the class.
    pub probe: Packet,
}

/// The classes of one question, each with its answer.
#[derive(Debug, Clone, Default)]
pub struct Survey {
    pub cells: Vec<Cell>,
    /// Probes sent (one per class).
    pub probes: usize,
}

fn port_classes(t: &Tables, scope: &Scope, pc: ProtoClass) -> Vec<(u64, u64)> {
    if pc.has_ports() {
        port_cuts(t, scope, pc.number()).classes()
    } else {
        vec![(0, 0)]
    }
}

/// The caveat a whole-VPC answer carries when some security-group rule matches only
/// some source ports: every probe comes from client source port [`CLASS_SPORT`], and
/// classes are not divided by source port, so traffic from other source ports may be
/// answered differently. `None` when no rule of the scenario restricts source ports.
pub fn source_port_note(t: &Tables) -> Option<String> {
    let mut rules: Vec<String> = t
        .enis
        .iter()
        .flat_map(|e| e.sg.rules.iter())
        .filter(|r| r.restricts_source_ports())
        .map(|r| format!("{}: {}", r.group, r.text))
        .collect();
    rules.sort();
    rules.dedup();
    if rules.is_empty() {
        return None;
    }
    let shown: Vec<&str> = rules.iter().take(3).map(String::as_str).collect();
    Some(format!(
        "{} security-group rule(s) match only some source ports ({}{}): these answers are for client source port {CLASS_SPORT} only, since vpcsim does not divide traffic by source port [not modelled]; replay a capture from another source port (`vpcsim replay`) to check it",
        rules.len(),
        shown.join("; "),
        if rules.len() > 3 { "; …" } else { "" }
    ))
}

fn a64(a: Ipv4Addr) -> u64 {
    u64::from(u32::from(a))
}

impl Survey {
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        t: &Arc<Tables>,
        from: &str,
        to: &str,
        p: Packet,
        src: Vec<(u64, u64)>,
        dst: Vec<(u64, u64)>,
        ports: (u64, u64),
    ) {
        let answer = probe::send(t, &p);
        self.probes += 1;
        self.cells.push(Cell {
            from: from.to_string(),
            src,
            to: to.to_string(),
            dst,
            proto: ProtoClass::of(p.proto),
            ports: (ports.0 as u16, ports.1 as u16),
            answer,
            probe: p,
        });
    }

    /// Every class of traffic from the Internet to public address `a`, restricted to the
    /// ports that lead to `only` (the ENIs of a side) when given.
    pub fn internet_to(&mut self, t: &Arc<Tables>, a: Ipv4Addr, to: &str, only: Option<&[EniIdx]>) {
        let holes = internet_holes(t);
        let scope = Scope::for_public(t, a);
        let leads = lead_filter(t, a, only);
        for pc in ProtoClass::ALL {
            let proto = pc.number();
            for (plo, phi) in port_classes(t, &scope, pc) {
                if !leads(proto, plo as u16) {
                    continue;
                }
                for (slo, shi) in source_cuts(t, &scope, proto, plo, phi).classes() {
                    let pieces = subtract(slo, shi, &holes);
                    let Some(rep) = representative(&pieces, a64(CLIENT)) else {
                        continue;
                    };
                    let p = Packet {
                        from: Sender::Internet,
                        src: Ipv4Addr::from(rep as u32),
                        dst: a,
                        proto,
                        sport: CLASS_SPORT,
                        dport: plo as u16,
                    };
                    self.push(
                        t,
                        "internet",
                        to,
                        p,
                        pieces,
                        vec![(a64(a), a64(a))],
                        (plo, phi),
                    );
                }
            }
        }
    }

    /// Every class from address `src` of a side to address `d` (private or public).
    #[allow(clippy::too_many_arguments)]
    fn inside_to(
        &mut self,
        t: &Arc<Tables>,
        sender: Sender,
        senders: &[EniIdx],
        from: &str,
        src: Ipv4Addr,
        d: Ipv4Addr,
        to: &str,
        only: Option<&[EniIdx]>,
    ) {
        let mut scope = if t.public.contains_key(&u32::from(d)) {
            Scope::for_public(t, d)
        } else {
            let mut s = Scope::default();
            s.receivers.extend(
                t.enis
                    .iter()
                    .position(|e| e.private_ips.contains(&d))
                    .map(|i| i as EniIdx),
            );
            s
        };
        scope.senders = senders.to_vec();
        let leads = lead_filter(t, d, only);
        for pc in ProtoClass::ALL {
            let proto = pc.number();
            for (plo, phi) in port_classes(t, &scope, pc) {
                if !leads(proto, plo as u16) {
                    continue;
                }
                let p = Packet {
                    from: sender,
                    src,
                    dst: d,
                    proto,
                    sport: CLASS_SPORT,
                    dport: plo as u16,
                };
                self.push(
                    t,
                    from,
                    to,
                    p,
                    vec![(a64(src), a64(src))],
                    vec![(a64(d), a64(d))],
                    (plo, phi),
                );
            }
        }
    }

    /// Every class from address `src` of a side to the Internet.
    fn inside_to_internet(
        &mut self,
        t: &Arc<Tables>,
        sender: Sender,
        senders: &[EniIdx],
        from: &str,
        src: Ipv4Addr,
    ) {
        let holes = internet_holes(t);
        let scope = Scope {
            senders: senders.to_vec(),
            ..Default::default()
        };
        for pc in ProtoClass::ALL {
            let proto = pc.number();
            let dsts = destination_cuts(t, &scope, proto).classes();
            for (plo, phi) in port_classes(t, &scope, pc) {
                for &(dlo, dhi) in &dsts {
                    let pieces = subtract(dlo, dhi, &holes);
                    let Some(rep) = representative(&pieces, a64(SERVER)) else {
                        continue;
                    };
                    let p = Packet {
                        from: sender,
                        src,
                        dst: Ipv4Addr::from(rep as u32),
                        proto,
                        sport: CLASS_SPORT,
                        dport: plo as u16,
                    };
                    self.push(
                        t,
                        from,
                        "internet",
                        p,
                        vec![(a64(src), a64(src))],
                        pieces,
                        (plo, phi),
                    );
                }
            }
        }
    }
}

/// Whether (protocol, external port) of address `a` leads to one of `only`'s ENIs: every
/// port of a 1:1 or visible address does; of a NAT gateway address, the ports of the DNAT
/// runs that target them (and, with an IP mapping to them, every other port).
fn lead_filter<'a>(
    t: &'a Tables,
    a: Ipv4Addr,
    only: Option<&'a [EniIdx]>,
) -> Box<dyn Fn(u8, u16) -> bool + 'a> {
    let Some(only) = only else {
        return Box::new(|_, _| true);
    };
    let Some(PublicOwner::NatGateway { gw }) = t.public.get(&u32::from(a)) else {
        return Box::new(|_, _| true);
    };
    let g = &t.nat_gateways[*gw as usize];
    let ip_map = g
        .dnat_ips
        .get(&u32::from(a))
        .and_then(|d| t.private.get(&(g.vpc, u32::from(d.internal_ip))))
        .is_some_and(|e| only.contains(e));
    let runs = dnat_runs(t, a);
    Box::new(move |proto, port| {
        match runs
            .iter()
            .find(|r| r.proto == proto && (r.lo..=r.hi).contains(&port))
        {
            Some(r) => r.target.is_some_and(|e| only.contains(&e)),
            None => ip_map,
        }
    })
}

/// The public addresses that lead to `enis` (all public addresses when None), sorted.
fn public_addresses(t: &Tables, enis: Option<&[EniIdx]>) -> Vec<Ipv4Addr> {
    let mut v: Vec<Ipv4Addr> = t
        .public
        .iter()
        .filter(|(a, o)| match (enis, o) {
            (None, _) => true,
            (Some(es), PublicOwner::Nat1to1 { eni, .. } | PublicOwner::Visible { eni, .. }) => {
                es.contains(eni)
            }
            (Some(es), PublicOwner::NatGateway { gw }) => {
                let g = &t.nat_gateways[*gw as usize];
                let hit = |ip: Ipv4Addr| {
                    t.private
                        .get(&(g.vpc, u32::from(ip)))
                        .is_some_and(|e| es.contains(e))
                };
                g.dnat_ports
                    .iter()
                    .any(|((x, _, _), d)| x == *a && hit(d.internal_ip))
                    || g.dnat_ips.get(a).is_some_and(|d| hit(d.internal_ip))
            }
            _ => false,
        })
        .map(|(a, _)| Ipv4Addr::from(*a))
        .collect();
    v.sort();
    v
}

/// Every class of traffic from `from` to `to`, each with its answer.
pub fn survey(t: &Arc<Tables>, from: Side, to: Side) -> Survey {
    let mut s = Survey::default();
    let (fl, tl) = (from.label(t), to.label(t));
    if from == to {
        return s;
    }
    let to_enis = to.enis(t);
    match from {
        Side::Internet => {
            if to == Side::Internet {
                return s;
            }
            for a in public_addresses(t, Some(&to_enis)) {
                s.internet_to(t, a, &tl, Some(&to_enis));
            }
        }
        _ => {
            let senders = from.enis(t);
            let sender = match from {
                Side::Instance(i) => Sender::Guest(i),
                Side::Eni(e) => Sender::Eni(e),
                Side::Internet => Sender::Internet,
            };
            let srcs: Vec<Ipv4Addr> = senders.iter().flat_map(|e| addresses(t, *e)).collect();
            for src in srcs {
                if to == Side::Internet {
                    s.inside_to_internet(t, sender, &senders, &fl, src);
                    continue;
                }
                let mut dsts: Vec<Ipv4Addr> = to_enis
                    .iter()
                    .filter(|e| !t.eni(**e).cut_through)
                    .flat_map(|e| t.eni(*e).private_ips.iter().copied())
                    .collect();
                dsts.extend(public_addresses(t, Some(&to_enis)));
                for d in dsts {
                    s.inside_to(t, sender, &senders, &fl, src, d, &tl, Some(&to_enis));
                }
            }
        }
    }
    s
}

/// Every pair of `froms` × `tos`.
pub fn survey_all(t: &Arc<Tables>, froms: &[Side], tos: &[Side]) -> Survey {
    let mut s = Survey::default();
    for f in froms {
        for to in tos {
            let x = survey(t, *f, *to);
            s.probes += x.probes;
            s.cells.extend(x.cells);
        }
    }
    s
}
