//! The Internet-to-everything view: per instance, ENI and private IP, every public
//! address, protocol and port range whose packets get in, from which sources, through
//! which EIP or DNAT entry, and the security-group rule that admits them.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

use serde::Serialize;

use super::classes::{internet_holes, ProtoClass};
use super::probe::ReplyAnswer;
use super::rows::{ports_label, rows, Row};
use super::Survey;
use crate::compile::Tables;

/// What reaches one private IP (or public address a guest holds).
#[derive(Debug, Clone, Serialize)]
pub struct Exposed {
    pub instance: Option<String>,
    pub eni: String,
    pub device: Option<String>,
    /// The address the packets arrive with.
    pub address: Ipv4Addr,
    pub entries: Vec<Entry>,
}

/// One way in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// The public address the Internet sends to.
    pub public: Ipv4Addr,
    pub protocol: ProtoClass,
    /// External ports (null for protocols without ports).
    pub ports: Option<String>,
    /// The ports they arrive on, when a DNAT entry maps them to others.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub internal_ports: Option<String>,
    /// The Internet sources that get in: `internet`, `internet except …` or CIDRs.
    pub sources: String,
    /// The EIP, static public IP or DNAT entry: `eip eip-web`, `dnat fwd-1`.
    pub via: Vec<String>,
    /// The security-group rule that admits them, as the trace names it.
    pub rule: Option<String>,
    /// What the receiver's reply does (`returned`, or dropped with a reason).
    pub reply: Option<ReplyAnswer>,
    #[serde(skip)]
    pub port_ranges: Vec<(u16, u16)>,
    #[serde(skip)]
    pub src: Vec<(u64, u64)>,
}

/// The exposure of a configuration, with the number of probes it took.
#[derive(Debug, Clone, Serialize)]
pub struct Exposure {
    pub exposed: Vec<Exposed>,
    /// Public addresses of the scenario probed.
    pub public_addresses: usize,
    /// Probes sent: one per class of traffic.
    pub probes: usize,
    /// Classes per outcome of the classes that did not get in.
    pub blocked: BTreeMap<String, usize>,
    /// What the answer does not cover (e.g. [`super::source_port_note`]).
    pub notes: Vec<String>,
}

/// Probes every class of Internet traffic to every public address of the scenario.
pub fn exposure(t: &Arc<Tables>) -> Exposure {
    let mut s = Survey::default();
    let mut addrs: Vec<Ipv4Addr> = t.public.keys().map(|a| Ipv4Addr::from(*a)).collect();
    addrs.sort();
    for a in &addrs {
        s.internet_to(t, *a, &a.to_string(), None);
    }
    let mut blocked: BTreeMap<String, usize> = BTreeMap::new();
    for c in s.cells.iter().filter(|c| c.answer.outcome != "delivered") {
        *blocked
            .entry(c.answer.reason.unwrap_or(c.answer.outcome).to_string())
            .or_default() += 1;
    }
    let cells: Vec<_> = s
        .cells
        .into_iter()
        .filter(|c| c.answer.outcome == "delivered")
        .collect();
    let holes = internet_holes(t);
    let mut per: BTreeMap<(String, Ipv4Addr), Vec<Row>> = BTreeMap::new();
    for r in rows(&cells, &holes) {
        let public = Ipv4Addr::from(r.dst.first().map_or(0, |d| d.0) as u32);
        let address = match r.answer.destination_seen.as_deref() {
            Some("unchanged") | None => public,
            Some(x) => x.parse().unwrap_or(public),
        };
        per.entry((r.answer.eni.clone().unwrap_or_default(), address))
            .or_default()
            .push(r);
    }
    let exposed = per
        .into_iter()
        .map(|((eni, address), rs)| {
            let e = t.eni_index.get(&eni).map(|i| t.eni(*i));
            Exposed {
                instance: rs.first().and_then(|r| r.answer.instance.clone()),
                device: e.filter(|e| e.instance.is_some()).map(|e| e.device_name()),
                eni,
                address,
                entries: rs.into_iter().map(entry).collect(),
            }
        })
        .collect();
    Exposure {
        exposed,
        public_addresses: addrs.len(),
        probes: s.probes,
        blocked,
        notes: super::source_port_note(t).into_iter().collect(),
    }
}

fn entry(r: Row) -> Entry {
    let shift = r.answer.port_shift;
    let internal = (shift != 0).then(|| {
        let v: Vec<(u16, u16)> = r
            .port_ranges
            .iter()
            .map(|(a, b)| {
                (
                    (i32::from(*a) + shift) as u16,
                    (i32::from(*b) + shift) as u16,
                )
            })
            .collect();
        ports_label(&v)
    });
    Entry {
        public: Ipv4Addr::from(r.dst.first().map_or(0, |d| d.0) as u32),
        protocol: r.protocol,
        ports: r.ports,
        internal_ports: internal,
        sources: r.source,
        via: r.answer.via,
        rule: r.answer.rule,
        reply: r.answer.reply,
        port_ranges: r.port_ranges,
        src: r.src,
    }
}

impl Entry {
    /// `47.96.10.20 tcp/22`, as `[[expect_change]]` names an exposure.
    pub fn name(&self) -> String {
        match &self.ports {
            Some(p) => format!("{} {}/{p}", self.public, self.protocol.name()),
            None => format!("{} {}", self.public, self.protocol.name()),
        }
    }
}
