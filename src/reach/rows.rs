//! Classes merged back into rows: ports with the same answer into port ranges, then
//! sources and destinations with the same ports and answer into address sets.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde::Serialize;

use super::classes::{cidrs, merge, subtract, ProtoClass, ADDR_END};
use super::probe::Answer;
use super::Cell;

/// One row of `vpcsim reach`: (source set, destination set, protocol, port ranges) →
/// answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    /// The sending side: `internet`, an instance or an ENI.
    pub from: String,
    /// Its source addresses: an address, CIDRs, `internet` or `internet except …`.
    pub source: String,
    pub to: String,
    pub destination: String,
    pub protocol: ProtoClass,
    /// `0-21,23-65535`; null for protocols without ports.
    pub ports: Option<String>,
    #[serde(flatten)]
    pub answer: Answer,
    #[serde(skip)]
    pub src: Vec<(u64, u64)>,
    #[serde(skip)]
    pub dst: Vec<(u64, u64)>,
    #[serde(skip)]
    pub port_ranges: Vec<(u16, u16)>,
}

fn merge_ports(v: &mut Vec<(u16, u16)>) {
    let mut w: Vec<(u64, u64)> = v
        .iter()
        .map(|(a, b)| (u64::from(*a), u64::from(*b)))
        .collect();
    merge(&mut w);
    *v = w.into_iter().map(|(a, b)| (a as u16, b as u16)).collect();
}

pub fn ports_label(v: &[(u16, u16)]) -> String {
    v.iter()
        .map(|(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn net_label(n: ipnet::Ipv4Net) -> String {
    if n.prefix_len() == 32 {
        n.addr().to_string()
    } else {
        n.to_string()
    }
}

fn list(v: &[(u64, u64)]) -> Vec<String> {
    v.iter()
        .flat_map(|(a, b)| cidrs(*a, *b))
        .map(net_label)
        .collect()
}

/// An address set as people read it: `internet` when it is the whole Internet (every
/// address but `holes`), `internet except …` when that is shorter, else its CIDRs.
pub fn set_label(v: &[(u64, u64)], holes: &[(u64, u64)]) -> String {
    let universe = subtract(0, ADDR_END - 1, holes);
    if v == universe.as_slice() {
        return "internet".into();
    }
    let inside_holes = v.iter().all(|(a, b)| subtract(*a, *b, holes).is_empty());
    let mine = list(v);
    if inside_holes || v.len() == 1 && v[0].0 == v[0].1 {
        return mine.join(",");
    }
    let complement = subtract_all(&universe, v);
    let theirs = list(&complement);
    if theirs.len() < mine.len() {
        format!("internet except {}", theirs.join(","))
    } else {
        mine.join(",")
    }
}

fn subtract_all(from: &[(u64, u64)], holes: &[(u64, u64)]) -> Vec<(u64, u64)> {
    from.iter()
        .flat_map(|(a, b)| subtract(*a, *b, holes))
        .collect()
}

/// Merges classes into rows. `holes`: addresses outside the Internet classes.
pub fn rows(cells: &[Cell], holes: &[(u64, u64)]) -> Vec<Row> {
    type K1<'a> = (
        &'a str,
        Vec<(u64, u64)>,
        &'a str,
        Vec<(u64, u64)>,
        ProtoClass,
        &'a Answer,
    );
    let mut by_ports: BTreeMap<K1, Vec<(u16, u16)>> = BTreeMap::new();
    for c in cells {
        by_ports
            .entry((
                &c.from,
                c.src.clone(),
                &c.to,
                c.dst.clone(),
                c.proto,
                &c.answer,
            ))
            .or_default()
            .push(c.ports);
    }
    type K2<'a> = (
        &'a str,
        &'a str,
        Vec<(u64, u64)>,
        ProtoClass,
        Vec<(u16, u16)>,
        &'a Answer,
    );
    let mut by_src: BTreeMap<K2, Vec<(u64, u64)>> = BTreeMap::new();
    for ((from, src, to, dst, proto, ans), mut ports) in by_ports {
        merge_ports(&mut ports);
        by_src
            .entry((from, to, dst, proto, ports, ans))
            .or_default()
            .extend(src);
    }
    type K3<'a> = (
        &'a str,
        Vec<(u64, u64)>,
        &'a str,
        ProtoClass,
        Vec<(u16, u16)>,
        &'a Answer,
    );
    let mut by_dst: BTreeMap<K3, Vec<(u64, u64)>> = BTreeMap::new();
    for ((from, to, dst, proto, ports, ans), mut src) in by_src {
        merge(&mut src);
        by_dst
            .entry((from, src, to, proto, ports, ans))
            .or_default()
            .extend(dst);
    }
    let mut out: Vec<Row> = by_dst
        .into_iter()
        .map(|((from, src, to, proto, ports, ans), mut dst)| {
            merge(&mut dst);
            Row {
                from: from.to_string(),
                source: set_label(&src, holes),
                to: to.to_string(),
                destination: set_label(&dst, holes),
                protocol: proto,
                ports: proto.has_ports().then(|| ports_label(&ports)),
                answer: ans.clone(),
                src,
                dst,
                port_ranges: ports,
            }
        })
        .collect();
    out.sort_by(|a, b| {
        (
            &a.from,
            &a.to,
            a.dst.first(),
            a.src.first(),
            a.protocol,
            a.port_ranges.first(),
        )
            .cmp(&(
                &b.from,
                &b.to,
                b.dst.first(),
                b.src.first(),
                b.protocol,
                b.port_ranges.first(),
            ))
    });
    out
}

/// One line for terminals: `tcp 0-21,23-65535: dropped sg_ingress_denied`.
pub fn line(r: &Row) -> String {
    let what = match &r.ports {
        Some(p) => format!("{} {p}", r.protocol.name()),
        None => r.protocol.name().to_string(),
    };
    format!("{what}: {}", outcome(&r.answer))
}

/// The answer in words.
pub fn outcome(a: &Answer) -> String {
    let mut s = a.outcome.to_string();
    if let Some(r) = a.reason {
        s += &format!(" {r}");
    }
    if let Some(e) = &a.eni {
        s += &format!(" at {e}");
        if let Some(i) = &a.instance {
            s += &format!(" ({i})");
        }
    }
    let mut seen = vec![];
    if let Some(x) = a.source_seen.as_deref().filter(|x| *x != "unchanged") {
        seen.push(format!("from {x}"));
    }
    if let Some(x) = a.destination_seen.as_deref().filter(|x| *x != "unchanged") {
        seen.push(format!("to {x}"));
    }
    if a.port_shift != 0 {
        seen.push(format!("port {:+}", a.port_shift));
    }
    if !seen.is_empty() {
        s += &format!(", seen {}", seen.join(" "));
    }
    if !a.via.is_empty() {
        s += &format!(" via {}", a.via.join(", "));
    }
    if let Some(r) = &a.rule {
        s += &format!(" [{r}]");
    }
    if let Some(r) = &a.reply {
        s += &format!("; reply {}", r.outcome);
        if let Some(x) = r.reason {
            s += &format!(" {x}");
        }
    }
    s
}

/// An address as a `u64` range end.
pub fn at(a: Ipv4Addr) -> u64 {
    u64::from(u32::from(a))
}
