//! What a change alters: egress addresses, exposure and reach, compared between two
//! points (two steps of a scenario, two files, a dump and the same dump after steps).
//! Each change names the steps that caused it — found by evaluating after every step in
//! between — and is checked against the scenario's `[[expect_change]]` entries.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use super::classes::{internet_holes, ProtoClass};
use super::exposure::exposure;
use super::rows::{ports_label, set_label};
use super::{survey_all, Side};
use crate::check::ExpectChangeSpec;
use crate::compile::Tables;
use crate::model::{Cloud, Operation};

/// One configuration to compare, and the step that led to it.
#[derive(Debug, Clone)]
pub struct Point {
    /// The step applied last (1-based), when the point is a step of a scenario.
    pub step: Option<usize>,
    pub cause: Option<Cause>,
    pub cloud: Cloud,
}

/// A step that changed something.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Cause {
    /// 1-based step number (null: the difference between two files).
    pub step: Option<usize>,
    pub op: String,
    /// The resources the step names (its `…Id` parameters).
    pub resources: Vec<String>,
    pub line: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Cause {
    pub fn of_step(step: usize, op: &Operation, line: usize, note: Option<String>) -> Cause {
        // The `…_id` parameters, read from the operation's debug form (`name: "x"` or
        // `name: Some("x")`), in order.
        let text = format!("{op:?}");
        let mut resources: Vec<String> = vec![];
        for (i, _) in text.match_indices("_id: ") {
            let rest = &text[i + 5..];
            let rest = rest.strip_prefix("Some(").unwrap_or(rest);
            if let Some(v) = rest.strip_prefix('"').and_then(|r| r.split('"').next()) {
                if !resources.iter().any(|x| x == v) {
                    resources.push(v.to_string());
                }
            }
        }
        Cause {
            step: Some(step),
            op: op.name().to_string(),
            resources,
            line,
            note,
        }
    }
}

type Segments<V> = Vec<(u16, u16, V)>;

/// What one configuration looks like from outside: the keys diffs compare.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// (instance, ENI, address) → egress (address, via, reason).
    pub egress: BTreeMap<(String, String, String), Value>,
    /// (public address, protocol) → ports → the ways in.
    pub exposure: BTreeMap<(Ipv4Addr, ProtoClass), Segments<Value>>,
    /// (from, source, to, destination, protocol) → ports → answer.
    pub reach: BTreeMap<(String, String, String, String, ProtoClass), Segments<Value>>,
    pub probes: usize,
    /// What this snapshot leaves out, if anything.
    pub note: Option<String>,
}

/// Up to this many instances, `diff` compares reach between every pair of them.
pub const REACH_PAIRS_UP_TO: usize = 40;

/// Cuts overlapping (lo, hi, value) pieces into disjoint segments, each with the sorted
/// values that cover it.
fn segments(pieces: Vec<(u16, u16, Value)>) -> Segments<Value> {
    let mut cuts: BTreeSet<u32> = BTreeSet::new();
    for (a, b, _) in &pieces {
        cuts.insert(u32::from(*a));
        cuts.insert(u32::from(*b) + 1);
    }
    let cuts: Vec<u32> = cuts.into_iter().collect();
    let mut out: Segments<Value> = vec![];
    for w in cuts.windows(2) {
        let (lo, hi) = (w[0], w[1] - 1);
        let mut vals: Vec<String> = pieces
            .iter()
            .filter(|(a, b, _)| u32::from(*a) <= lo && hi <= u32::from(*b))
            .map(|(_, _, v)| v.to_string())
            .collect();
        if vals.is_empty() {
            continue;
        }
        vals.sort();
        let v = if vals.len() == 1 {
            pieces
                .iter()
                .find(|(a, b, _)| u32::from(*a) <= lo && hi <= u32::from(*b))
                .map(|x| x.2.clone())
                .unwrap_or(Value::Null)
        } else {
            Value::Array(
                vals.iter()
                    .filter_map(|s| serde_json::from_str(s).ok())
                    .collect(),
            )
        };
        out.push((lo as u16, hi as u16, v));
    }
    out
}

fn value_at(segs: Option<&Segments<Value>>, port: u16) -> Value {
    segs.and_then(|s| s.iter().find(|(a, b, _)| (*a..=*b).contains(&port)))
        .map_or(Value::Null, |x| x.2.clone())
}

impl Snapshot {
    pub fn of(cloud: &Cloud) -> Snapshot {
        let t: Arc<Tables> = Tables::compile(cloud, 1);
        let mut s = Snapshot::default();
        for r in crate::probe::egress_table(cloud, 22) {
            let addr = r
                .private_ip
                .map(|a| a.to_string())
                .unwrap_or_else(|| r.device.clone().unwrap_or_default());
            s.egress.insert(
                (r.instance.clone().unwrap_or_default(), r.eni.clone(), addr),
                serde_json::json!({"egress_ip": r.egress_ip, "via": r.via, "reason": r.reason}),
            );
        }
        let x = exposure(&t);
        s.probes += x.probes;
        let mut exp: BTreeMap<(Ipv4Addr, ProtoClass), Segments<Value>> = BTreeMap::new();
        for e in &x.exposed {
            for en in &e.entries {
                let v = serde_json::json!({
                    "instance": e.instance, "eni": e.eni, "address": e.address,
                    "internal_ports": en.internal_ports, "sources": en.sources,
                    "via": en.via, "rule": en.rule, "reply": en.reply,
                });
                for (a, b) in &en.port_ranges {
                    exp.entry((en.public, en.protocol))
                        .or_default()
                        .push((*a, *b, v.clone()));
                }
            }
        }
        s.exposure = exp.into_iter().map(|(k, v)| (k, segments(v))).collect();
        // Reach from the inside; what the Internet reaches is the exposure.
        let froms: Vec<Side> = Side::all(&t)
            .into_iter()
            .filter(|x| *x != Side::Internet)
            .collect();
        // Reach between every pair of instances grows with their square: beyond
        // REACH_PAIRS_UP_TO instances only reach to the Internet is compared, and the
        // report says so.
        let tos = if t.instances.len() > REACH_PAIRS_UP_TO {
            s.note = Some(format!(
                "{} instances: reach between instances is not compared (only to the Internet); ask `vpcsim reach --from A --to B` for a pair",
                t.instances.len()
            ));
            vec![Side::Internet]
        } else {
            Side::all(&t)
        };
        let sv = survey_all(&t, &froms, &tos);
        s.probes += sv.probes;
        // Keyed by each class's own source and destination (not the merged sets, whose
        // shape changes whenever anything does); compared without the resource ids on
        // the way (`via`), which the egress and exposure changes name.
        let holes = internet_holes(&t);
        let mut reach: BTreeMap<_, Vec<(u16, u16, Value)>> = BTreeMap::new();
        for c in &sv.cells {
            let mut a = c.answer.clone();
            a.via.clear();
            if a.outcome == "dropped" {
                a.instance = None;
                a.eni = None;
            }
            let v = serde_json::to_value(&a).unwrap_or(Value::Null);
            reach
                .entry((
                    c.from.clone(),
                    set_label(&c.src, &holes),
                    c.to.clone(),
                    set_label(&c.dst, &holes),
                    c.proto,
                ))
                .or_default()
                .push((c.ports.0, c.ports.1, v));
        }
        s.reach = reach.into_iter().map(|(k, v)| (k, segments(v))).collect();
        s
    }
}

/// One difference.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    /// egress, exposure or reach.
    pub kind: &'static str,
    /// What changed: `i-web eni-web1 192.168.1.100`, `47.96.10.20 tcp/22`,
    /// `i-web 192.168.1.10 -> internet (internet) tcp/0-65535`.
    pub what: String,
    /// opened (absent before), closed (absent after), moved (another receiver) or changed.
    pub change: &'static str,
    pub before: Value,
    pub after: Value,
    /// The steps that changed it, in order (a transient change shows as more than one).
    pub steps: Vec<Cause>,
    /// A `[[expect_change]]` entry covers it.
    pub expected: bool,
    #[serde(skip)]
    keys: Vec<Key>,
}

#[derive(Debug, Clone)]
enum Key {
    Egress((String, String, String)),
    Exposure((Ipv4Addr, ProtoClass), u16, u16),
    Reach((String, String, String, String, ProtoClass), u16, u16),
}

impl Key {
    fn value(&self, s: &Snapshot) -> Value {
        match self {
            Key::Egress(k) => s.egress.get(k).cloned().unwrap_or(Value::Null),
            Key::Exposure(k, lo, _) => value_at(s.exposure.get(k), *lo),
            Key::Reach(k, lo, _) => value_at(s.reach.get(k), *lo),
        }
    }
}

fn kind_of(before: &Value, after: &Value, place: &str) -> &'static str {
    match (before.is_null(), after.is_null()) {
        (true, _) => "opened",
        (_, true) => "closed",
        _ if before.get(place) != after.get(place) => "moved",
        _ => "changed",
    }
}

/// Segment-wise difference of two port maps: (lo, hi, before, after), merged.
fn diff_segments(
    a: Option<&Segments<Value>>,
    b: Option<&Segments<Value>>,
) -> Vec<(u16, u16, Value, Value)> {
    let mut cuts: BTreeSet<u32> = BTreeSet::new();
    for (lo, hi, _) in a.into_iter().flatten().chain(b.into_iter().flatten()) {
        cuts.insert(u32::from(*lo));
        cuts.insert(u32::from(*hi) + 1);
    }
    let cuts: Vec<u32> = cuts.into_iter().collect();
    let mut out: Vec<(u16, u16, Value, Value)> = vec![];
    for w in cuts.windows(2) {
        let (lo, hi) = (w[0] as u16, (w[1] - 1) as u16);
        let (x, y) = (value_at(a, lo), value_at(b, lo));
        if x == y {
            continue;
        }
        match out.last_mut() {
            Some(l) if u32::from(l.1) + 1 == u32::from(lo) && l.2 == x && l.3 == y => l.1 = hi,
            _ => out.push((lo, hi, x, y)),
        }
    }
    out
}

fn ports_text(p: ProtoClass, lo: u16, hi: u16) -> String {
    if p.has_ports() {
        format!("{}/{}", p.name(), ports_label(&[(lo, hi)]))
    } else {
        p.name().to_string()
    }
}

/// The changes between the first and the last point.
pub fn changes(points: &[Point]) -> (Vec<Change>, usize, Vec<String>) {
    let snaps: Vec<Snapshot> = points.iter().map(|p| Snapshot::of(&p.cloud)).collect();
    let probes = snaps.iter().map(|s| s.probes).sum();
    let mut notes: Vec<String> = snaps.iter().filter_map(|s| s.note.clone()).collect();
    notes.dedup();
    let (Some(first), Some(last)) = (snaps.first(), snaps.last()) else {
        return (vec![], probes, notes);
    };
    let mut out = vec![];
    let keys: BTreeSet<_> = first
        .egress
        .keys()
        .chain(last.egress.keys())
        .cloned()
        .collect();
    for k in keys {
        let (b, a) = (
            first.egress.get(&k).cloned().unwrap_or(Value::Null),
            last.egress.get(&k).cloned().unwrap_or(Value::Null),
        );
        if a != b {
            let change = kind_of(&b, &a, "egress_ip");
            let change = if change == "moved" { "changed" } else { change };
            out.push(Change {
                kind: "egress",
                what: format!("{} {} {}", k.0, k.1, k.2).trim().to_string(),
                change,
                before: b,
                after: a,
                steps: vec![],
                expected: false,
                keys: vec![Key::Egress(k)],
            });
        }
    }
    let keys: BTreeSet<_> = first
        .exposure
        .keys()
        .chain(last.exposure.keys())
        .copied()
        .collect();
    for k in keys {
        for (lo, hi, b, a) in diff_segments(first.exposure.get(&k), last.exposure.get(&k)) {
            out.push(Change {
                kind: "exposure",
                what: format!("{} {}", k.0, ports_text(k.1, lo, hi)),
                change: kind_of(&b, &a, "address"),
                before: b,
                after: a,
                steps: vec![],
                expected: false,
                keys: vec![Key::Exposure(k, lo, hi)],
            });
        }
    }
    // Reach: one change per (from, to) pair and (before, after), over protocols and ports.
    let keys: BTreeSet<_> = first
        .reach
        .keys()
        .chain(last.reach.keys())
        .cloned()
        .collect();
    let mut reach: Vec<(String, Vec<String>, Change)> = vec![];
    for k in keys {
        for (lo, hi, b, a) in diff_segments(first.reach.get(&k), last.reach.get(&k)) {
            let head = format!("{} {} -> {} {}", k.0, k.1, k.2, k.3);
            let key = Key::Reach(k.clone(), lo, hi);
            let ports = ports_text(k.4, lo, hi);
            match reach
                .iter_mut()
                .find(|(h, _, c)| *h == head && c.before == b && c.after == a)
            {
                Some((_, p, c)) => {
                    p.push(ports);
                    c.keys.push(key);
                }
                None => reach.push((
                    head,
                    vec![ports],
                    Change {
                        kind: "reach",
                        what: String::new(),
                        change: kind_of(&b, &a, "eni"),
                        before: b,
                        after: a,
                        steps: vec![],
                        expected: false,
                        keys: vec![key],
                    },
                )),
            }
        }
    }
    for (head, ports, mut c) in reach {
        c.what = format!("{head} {}", ports.join(" "));
        out.push(c);
    }
    for c in &mut out {
        for (i, w) in snaps.windows(2).enumerate() {
            if c.keys.iter().any(|k| k.value(&w[0]) != k.value(&w[1])) {
                c.steps.extend(points[i + 1].cause.clone());
            }
        }
    }
    (out, probes, notes)
}

/// An `[[expect_change]]` entry with whether any change matched it.
#[derive(Debug, Clone, Serialize)]
pub struct Expectation {
    pub line: usize,
    pub entry: ExpectChangeSpec,
    pub matched: usize,
}

fn side_match(pattern: &str, label: &str) -> bool {
    pattern == "*" || pattern == label
}

/// `PROTO` or `PROTO/PORTS` against a change's protocol and port range.
fn proto_ports_match(spec: Option<&str>, p: ProtoClass, lo: u16, hi: u16) -> bool {
    let Some(spec) = spec else { return true };
    let (proto, ports) = match spec.split_once('/') {
        Some((a, b)) => (a, Some(b)),
        None => (spec, None),
    };
    if proto != p.name() {
        return false;
    }
    let Some(ports) = ports else { return true };
    let (a, b) = match ports.split_once('-') {
        Some((a, b)) => (a.parse::<u16>().ok(), b.parse::<u16>().ok()),
        None => (ports.parse::<u16>().ok(), ports.parse::<u16>().ok()),
    };
    matches!((a, b), (Some(a), Some(b)) if a <= lo && hi <= b)
}

fn field(v: &Value, f: &str) -> Option<String> {
    v.get(f).and_then(|x| x.as_str()).map(str::to_string)
}

/// Whether entry `x` declares change `c` as expected.
pub fn covers(x: &ExpectChangeSpec, c: &Change) -> bool {
    if x.change.as_deref().is_some_and(|k| k != c.change) {
        return false;
    }
    let who = |v: &Value| {
        x.instance
            .as_ref()
            .is_none_or(|i| field(v, "instance").as_ref() == Some(i))
            && x.eni
                .as_ref()
                .is_none_or(|e| field(v, "eni").as_ref() == Some(e))
    };
    c.keys.iter().all(|k| covers_key(x, c, k, &who))
}

fn covers_key(x: &ExpectChangeSpec, c: &Change, key: &Key, who: &dyn Fn(&Value) -> bool) -> bool {
    match (key, &x.egress, &x.exposure, &x.reach) {
        (Key::Egress(k), Some(want), _, _) => {
            let inst_ok = x.instance.as_ref().is_none_or(|i| *i == k.0);
            let eni_ok = x.eni.as_ref().is_none_or(|e| *e == k.1);
            let got = c.after.get("egress_ip").and_then(|v| v.as_str());
            let addr_ok = match want.as_str() {
                "*" => true,
                "none" => got.is_none(),
                w => got == Some(w),
            };
            inst_ok && eni_ok && addr_ok
        }
        (Key::Exposure(k, lo, hi), _, Some(want), _) => {
            let mut it = want.split_whitespace();
            let addr_ok = it.next().and_then(|a| a.parse::<Ipv4Addr>().ok()) == Some(k.0);
            addr_ok
                && proto_ports_match(it.next(), k.1, *lo, *hi)
                && (who(&c.before) || who(&c.after))
        }
        (Key::Reach(k, lo, hi), _, _, Some(want)) => {
            let Some((f, rest)) = want.split_once("->") else {
                return false;
            };
            let mut it = rest.split_whitespace();
            let to = it.next().unwrap_or("*");
            side_match(f.trim(), &k.0)
                && side_match(to, &k.2)
                && proto_ports_match(it.next(), k.4, *lo, *hi)
        }
        _ => false,
    }
}

/// A whole diff: the changes, the expectations and whether the change is as declared.
#[derive(Debug, Clone, Serialize)]
pub struct DiffReport {
    pub changes: Vec<Change>,
    pub expectations: Vec<Expectation>,
    /// Changes no `[[expect_change]]` entry covers.
    pub unexpected: usize,
    /// Entries no change matched (they fail the diff only when it spans the whole
    /// scenario).
    pub unmet: usize,
    pub pass: bool,
    /// Probes sent over every point evaluated.
    pub probes: usize,
    /// What was not compared, and why.
    pub notes: Vec<String>,
}

/// `whole`: the points span everything the entries were written for (the whole
/// scenario, two files, a dump and all its steps); only then does an entry no change
/// matched fail the diff.
pub fn diff(points: &[Point], expect: &[(usize, ExpectChangeSpec)], whole: bool) -> DiffReport {
    let (mut changes, probes, notes) = changes(points);
    let mut expectations: Vec<Expectation> = expect
        .iter()
        .map(|(line, e)| Expectation {
            line: *line,
            entry: e.clone(),
            matched: 0,
        })
        .collect();
    for c in &mut changes {
        for x in &mut expectations {
            if covers(&x.entry, c) {
                x.matched += 1;
                c.expected = true;
            }
        }
    }
    let unexpected = changes.iter().filter(|c| !c.expected).count();
    let unmet = expectations.iter().filter(|x| x.matched == 0).count();
    DiffReport {
        changes,
        expectations,
        unexpected,
        unmet,
        pass: unexpected == 0 && (unmet == 0 || !whole),
        probes,
        notes,
    }
}
