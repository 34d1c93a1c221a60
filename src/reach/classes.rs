//! Equivalence classes of traffic, derived from the compiled tables.
//!
//! A packet's fate depends on its protocol, its destination port, its source and
//! destination addresses — and only through the boundaries the tables draw on them:
//! security-group port ranges and peer CIDRs (and group members), DNAT external ports and
//! port runs (with the receiving group's ranges seen through the DNAT offset), route
//! prefixes, SNAT source prefixes, VPC CIDRs and subnets, the scenario's public
//! addresses. Between two boundaries every packet meets the same rules, so one probe per
//! class answers for the whole class. The boundaries of one question are gathered from
//! the parts of the tables it can touch (its [`Scope`]); adding a dimension (say, a rule's
//! other-side CIDR) is one more `cut` in [`rule_cuts`].

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::Serialize;

use crate::compile::{sg::PeerT, sg::RuleT, EniIdx, PublicOwner, Tables};
use crate::model::Direction;

/// One past the largest port.
pub const PORT_END: u64 = 1 << 16;
/// One past the largest IPv4 address.
pub const ADDR_END: u64 = 1 << 32;

/// The boundaries of one dimension: each class starts at a cut and runs to the next.
#[derive(Debug, Clone)]
pub struct Cuts {
    end: u64,
    starts: BTreeSet<u64>,
    /// Addresses outside the question (sorted, merged): a boundary is drawn where the
    /// open addresses change sides, so a region inside a hole draws none.
    holes: Vec<(u64, u64)>,
}

impl Cuts {
    pub fn new(end: u64) -> Cuts {
        Cuts::with_holes(end, vec![])
    }

    pub fn with_holes(end: u64, holes: Vec<(u64, u64)>) -> Cuts {
        Cuts {
            end,
            starts: BTreeSet::from([0]),
            holes,
        }
    }

    /// The first address at or after `x` outside every hole.
    fn open(&self, x: u64) -> u64 {
        let i = self.holes.partition_point(|h| h.1 < x);
        match self.holes.get(i) {
            Some(&(a, b)) if a <= x => b + 1,
            _ => x,
        }
    }

    /// Marks `lo..=hi` as a region the tables treat apart.
    pub fn range(&mut self, lo: u64, hi: u64) {
        let (a, b) = (self.open(lo), self.open(hi + 1));
        if a >= b {
            return; // nothing open inside
        }
        if a < self.end {
            self.starts.insert(a);
        }
        if b < self.end {
            self.starts.insert(b);
        }
    }

    pub fn cidr(&mut self, net: Ipv4Net) {
        self.range(
            u64::from(u32::from(net.network())),
            u64::from(u32::from(net.broadcast())),
        );
    }

    pub fn addr(&mut self, a: u32) {
        self.range(u64::from(a), u64::from(a));
    }

    /// The classes, as inclusive ranges in order.
    pub fn classes(&self) -> Vec<(u64, u64)> {
        let v: Vec<u64> = self.starts.iter().copied().collect();
        v.iter()
            .enumerate()
            .map(|(i, &lo)| (lo, v.get(i + 1).map_or(self.end - 1, |n| n - 1)))
            .collect()
    }
}

/// Protocol classes: the tables tell TCP, UDP, ICMP and GRE apart (security-group
/// protocols, DNAT protocols); every other IP protocol is treated alike. ICMP stands for
/// echo requests: other ICMP messages do not open connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProtoClass {
    Tcp,
    Udp,
    Icmp,
    Gre,
    Other,
}

/// The protocol an `other` probe carries (ESP): any number but 1, 6, 17 and 47 is alike.
pub const OTHER_PROTOCOL: u8 = 50;

impl ProtoClass {
    pub const ALL: [ProtoClass; 5] = [
        ProtoClass::Tcp,
        ProtoClass::Udp,
        ProtoClass::Icmp,
        ProtoClass::Gre,
        ProtoClass::Other,
    ];

    /// The IP protocol number the class's probe carries.
    pub fn number(self) -> u8 {
        match self {
            ProtoClass::Tcp => 6,
            ProtoClass::Udp => 17,
            ProtoClass::Icmp => 1,
            ProtoClass::Gre => 47,
            ProtoClass::Other => OTHER_PROTOCOL,
        }
    }

    pub fn of(n: u8) -> ProtoClass {
        match n {
            6 => ProtoClass::Tcp,
            17 => ProtoClass::Udp,
            1 => ProtoClass::Icmp,
            47 => ProtoClass::Gre,
            _ => ProtoClass::Other,
        }
    }

    pub fn has_ports(self) -> bool {
        matches!(self, ProtoClass::Tcp | ProtoClass::Udp)
    }

    pub fn name(self) -> &'static str {
        match self {
            ProtoClass::Tcp => "tcp",
            ProtoClass::Udp => "udp",
            ProtoClass::Icmp => "icmp",
            ProtoClass::Gre => "gre",
            ProtoClass::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<ProtoClass> {
        ProtoClass::ALL.into_iter().find(|p| p.name() == s)
    }
}

/// A run of consecutive DNAT external ports of one entry with one offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnatRun {
    pub id: String,
    pub proto: u8,
    pub lo: u16,
    pub hi: u16,
    /// Internal port − external port.
    pub shift: i32,
    pub target: Option<EniIdx>,
}

/// The DNAT port runs of public address `a` (empty unless a NAT gateway holds it).
pub fn dnat_runs(t: &Tables, a: Ipv4Addr) -> Vec<DnatRun> {
    let Some(PublicOwner::NatGateway { gw }) = t.public.get(&u32::from(a)) else {
        return vec![];
    };
    let g = &t.nat_gateways[*gw as usize];
    let mut ports: Vec<(u8, u16, &crate::compile::DnatT)> = g
        .dnat_ports
        .iter()
        .filter(|((ip, _, _), _)| *ip == u32::from(a))
        .map(|((_, p, port), d)| (*p, *port, d))
        .collect();
    ports.sort_by_key(|(p, port, _)| (*p, *port));
    let mut runs: Vec<DnatRun> = vec![];
    for (proto, port, d) in ports {
        let shift = i32::from(d.internal_port.unwrap_or(port)) - i32::from(port);
        let target = t.private.get(&(g.vpc, u32::from(d.internal_ip))).copied();
        match runs.last_mut() {
            Some(r)
                if r.proto == proto
                    && r.id == d.id
                    && r.shift == shift
                    && u32::from(r.hi) + 1 == u32::from(port) =>
            {
                r.hi = port
            }
            _ => runs.push(DnatRun {
                id: d.id.clone(),
                proto,
                lo: port,
                hi: port,
                shift,
                target,
            }),
        }
    }
    runs
}

/// The parts of the tables one question can touch.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// ENIs that may send the packet (their egress rules and route tables).
    pub senders: Vec<EniIdx>,
    /// ENIs that may receive it (their ingress rules).
    pub receivers: Vec<EniIdx>,
    /// DNAT runs that may translate it.
    pub dnat: Vec<DnatRun>,
}

impl Scope {
    /// Who may receive traffic for public address `a`: its 1:1 or visible ENI, or the
    /// targets of its NAT gateway's DNAT entries (port runs and IP mapping).
    pub fn for_public(t: &Tables, a: Ipv4Addr) -> Scope {
        let mut s = Scope::default();
        match t.public.get(&u32::from(a)) {
            Some(PublicOwner::Nat1to1 { eni, .. } | PublicOwner::Visible { eni, .. }) => {
                s.receivers.push(*eni)
            }
            Some(PublicOwner::NatGateway { gw }) => {
                let g = &t.nat_gateways[*gw as usize];
                s.dnat = dnat_runs(t, a);
                s.receivers.extend(s.dnat.iter().filter_map(|r| r.target));
                if let Some(d) = g.dnat_ips.get(&u32::from(a)) {
                    s.receivers
                        .extend(t.private.get(&(g.vpc, u32::from(d.internal_ip))).copied());
                }
            }
            _ => {}
        }
        s.receivers.sort_unstable();
        s.receivers.dedup();
        s
    }
}

/// The cuts one security-group rule draws: on ports, and on the peer address (for
/// ingress: the source; for egress: the destination). The one place a rule's
/// dimensions are listed.
pub fn rule_cuts(r: &RuleT, ports: Option<&mut Cuts>, peers: Option<&mut Cuts>) {
    if let (Some(c), Some((a, b))) = (ports, r.ports) {
        c.range(u64::from(a), u64::from(b));
    }
    if let Some(c) = peers {
        match &r.peer {
            PeerT::Cidr(net, mask) => {
                let lo = u64::from(*net);
                c.range(lo, lo + u64::from(!*mask));
            }
            PeerT::Members(m) => m.iter().for_each(|a| c.addr(*a)),
        }
    }
}

fn rules(t: &Tables, eni: EniIdx, dir: Direction, proto: u8) -> impl Iterator<Item = &RuleT> {
    t.eni(eni)
        .sg
        .rules
        .iter()
        .filter(move |r| r.direction == dir && r.protocol.matches(proto))
}

/// Destination-port classes of `proto` within `scope`.
pub fn port_cuts(t: &Tables, scope: &Scope, proto: u8) -> Cuts {
    let mut c = Cuts::new(PORT_END);
    for &e in &scope.senders {
        rules(t, e, Direction::Egress, proto).for_each(|r| rule_cuts(r, Some(&mut c), None));
    }
    for &e in &scope.receivers {
        rules(t, e, Direction::Ingress, proto).for_each(|r| rule_cuts(r, Some(&mut c), None));
    }
    for run in scope.dnat.iter().filter(|r| r.proto == proto) {
        c.range(u64::from(run.lo), u64::from(run.hi));
        // The receiving group judges the internal port: its ranges, seen from outside.
        if let Some(e) = run.target {
            for r in rules(t, e, Direction::Ingress, proto) {
                let Some((a, b)) = r.ports else { continue };
                let lo = (i64::from(a) - i64::from(run.shift)).max(i64::from(run.lo));
                let hi = (i64::from(b) - i64::from(run.shift)).min(i64::from(run.hi));
                if lo <= hi {
                    c.range(lo as u64, hi as u64);
                }
            }
        }
    }
    c
}

/// Whether a rule can match some packet of destination ports `lo..=hi` (external),
/// given the DNAT runs of the scope.
fn rule_touches(r: &RuleT, scope: &Scope, proto: u8, lo: u64, hi: u64) -> bool {
    let Some((a, b)) = r.ports else { return true };
    let (a, b) = (i64::from(a), i64::from(b));
    let hit = |lo: i64, hi: i64| a <= hi && lo <= b;
    let mut any = hit(lo as i64, hi as i64);
    for run in scope.dnat.iter().filter(|x| x.proto == proto) {
        if u64::from(run.lo) <= hi && lo <= u64::from(run.hi) {
            let s = i64::from(run.shift);
            any |= hit(lo as i64 + s, hi as i64 + s);
        }
    }
    any
}

/// Source-address classes for packets from the Internet of `proto` to ports `lo..=hi`.
pub fn source_cuts(t: &Tables, scope: &Scope, proto: u8, lo: u64, hi: u64) -> Cuts {
    let mut c = Cuts::with_holes(ADDR_END, internet_holes(t));
    for &e in &scope.receivers {
        for r in rules(t, e, Direction::Ingress, proto) {
            if rule_touches(r, scope, proto, lo, hi) {
                rule_cuts(r, None, Some(&mut c));
            }
        }
        // Basic groups' intra-group default admits members.
        t.eni(e).sg.intra.iter().for_each(|a| c.addr(*a));
    }
    c
}

/// Destination-address classes for packets the senders of `scope` send out of the VPC:
/// their egress peers and their route tables' prefixes.
pub fn destination_cuts(t: &Tables, scope: &Scope, proto: u8) -> Cuts {
    let mut c = Cuts::with_holes(ADDR_END, internet_holes(t));
    for &e in &scope.senders {
        rules(t, e, Direction::Egress, proto).for_each(|r| rule_cuts(r, None, Some(&mut c)));
        let rt = &t.route_tables[t.eni(e).route_table as usize];
        for r in rt.routes.values() {
            c.cidr(r.destination);
        }
    }
    c
}

/// Addresses no Internet class contains ([decision]): the VPC CIDRs (an Internet packet
/// never carries the VPC's own private addresses) and the scenario's public addresses
/// (traffic from or to them is traffic of the scenario's own resources, asked about by
/// naming them). Sorted, merged, inclusive.
pub fn internet_holes(t: &Tables) -> Vec<(u64, u64)> {
    let mut v: Vec<(u64, u64)> = t
        .vpcs
        .iter()
        .map(|(_, n)| {
            (
                u64::from(u32::from(n.network())),
                u64::from(u32::from(n.broadcast())),
            )
        })
        .chain(t.public.keys().map(|a| (u64::from(*a), u64::from(*a))))
        .collect();
    merge(&mut v);
    v
}

/// Sorts and merges inclusive ranges (adjacent ones too).
pub fn merge(v: &mut Vec<(u64, u64)>) {
    v.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(v.len());
    for &(lo, hi) in v.iter() {
        match out.last_mut() {
            Some(l) if lo <= l.1 + 1 => l.1 = l.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    *v = out;
}

/// `lo..=hi` minus `holes` (sorted, merged).
pub fn subtract(lo: u64, hi: u64, holes: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let mut out = vec![];
    let mut cur = lo;
    for &(a, b) in holes {
        if b < cur || a > hi {
            continue;
        }
        if a > cur {
            out.push((cur, a - 1));
        }
        cur = b + 1;
        if cur > hi {
            return out;
        }
    }
    if cur <= hi {
        out.push((cur, hi));
    }
    out
}

/// A representative of a class: `prefer` when the class holds it, else its first member.
pub fn representative(pieces: &[(u64, u64)], prefer: u64) -> Option<u64> {
    pieces
        .iter()
        .find(|(a, b)| (*a..=*b).contains(&prefer))
        .map(|_| prefer)
        .or_else(|| pieces.first().map(|p| p.0))
}

/// The fewest CIDRs covering exactly `lo..=hi`.
pub fn cidrs(lo: u64, hi: u64) -> Vec<Ipv4Net> {
    let mut out = vec![];
    let mut cur = lo;
    while cur <= hi {
        let mut len = 32u8;
        while len > 0 {
            let size = 1u64 << (33 - len);
            if !cur.is_multiple_of(size) || cur + size - 1 > hi {
                break;
            }
            len -= 1;
        }
        let net = Ipv4Net::new(Ipv4Addr::from(cur as u32), len).unwrap_or_default();
        out.push(net);
        cur += 1u64 << (32 - len);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_split_at_both_ends_of_a_range() {
        let mut c = Cuts::new(PORT_END);
        c.range(22, 22);
        c.range(80, 90);
        assert_eq!(
            c.classes(),
            vec![(0, 21), (22, 22), (23, 79), (80, 90), (91, 65535)]
        );
    }

    #[test]
    fn a_region_inside_a_hole_draws_no_boundary_and_one_across_it_none_at_its_edges() {
        let mut c = Cuts::with_holes(100, vec![(40, 59)]);
        c.range(40, 49);
        assert_eq!(c.classes(), vec![(0, 99)]);
        c.range(0, 99);
        assert_eq!(c.classes(), vec![(0, 99)]);
        c.range(30, 45);
        assert_eq!(c.classes(), vec![(0, 29), (30, 59), (60, 99)]);
    }

    #[test]
    fn cidrs_cover_exactly() {
        let n = |s: &str| s.parse::<Ipv4Net>().unwrap();
        assert_eq!(cidrs(0, ADDR_END - 1), vec![n("0.0.0.0/0")]);
        let lo = u64::from(u32::from(Ipv4Addr::new(10, 0, 0, 1)));
        let hi = u64::from(u32::from(Ipv4Addr::new(10, 0, 0, 6)));
        assert_eq!(
            cidrs(lo, hi),
            vec![
                n("10.0.0.1/32"),
                n("10.0.0.2/31"),
                n("10.0.0.4/31"),
                n("10.0.0.6/32")
            ]
        );
    }

    #[test]
    fn subtract_leaves_the_pieces_between_holes() {
        assert_eq!(subtract(0, 10, &[(3, 4), (8, 20)]), vec![(0, 2), (5, 7)]);
        assert_eq!(subtract(3, 4, &[(0, 9)]), vec![]);
    }
}
