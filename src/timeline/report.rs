//! What a timeline found, and its reading: outage windows per lane and per endpoint,
//! address changes, the text rendering.

use serde::Serialize;

/// One step as it happened on the clock.
#[derive(Debug, Clone, Serialize)]
pub struct StepEvent {
    pub step: usize,
    pub id: Option<String>,
    pub at_s: f64,
    pub op: &'static str,
    pub note: Option<String>,
    /// `applied`, or `refused: CODE` (a refused step changes nothing).
    pub outcome: String,
}

impl StepEvent {
    /// The step as reports name it: its id, else `step N`.
    pub fn label(&self) -> String {
        match &self.id {
            Some(id) => id.clone(),
            None => format!("step {}", self.step),
        }
    }
}

/// How a connection ended.
#[derive(Debug, Clone, Serialize)]
pub struct Break {
    /// When its first packet was lost (or when it failed, if none was).
    pub at_s: f64,
    /// When the client noticed (the reset arrived, the keep-alive went unanswered).
    pub noticed_s: f64,
    /// `reset` (a RST reached the client), `blackholed` (its packets stopped arriving:
    /// `reason` is the drop reason of the first lost one), `retranslated` (a change
    /// made it leave with another address), `refused`, `timed_out` (never connected).
    pub how: String,
    pub reason: Option<String>,
    /// The step whose change ended it, when a change did.
    pub step: Option<String>,
    pub detail: String,
}

/// What a step did to a connection alive across it.
#[derive(Debug, Clone, Serialize)]
pub struct StepEffect {
    pub step: String,
    pub at_s: f64,
    /// `survived`, `stalled` (packets lost after it, then the connection recovered)
    /// or `ended`.
    pub effect: String,
}

/// One connection (a session's, or one probe attempt).
#[derive(Debug, Clone, Serialize)]
pub struct Connection {
    pub n: usize,
    pub started_s: f64,
    pub established_s: Option<f64>,
    /// The client's socket, and the peer address the server saw.
    pub client: String,
    pub server_saw: Option<String>,
    /// http: the address the "what is my IP" server reported.
    pub address: Option<String>,
    /// ssh: the ENI the server received the connection by.
    pub server_eni: Option<String>,
    /// Completed its exchange (a probe) or was still working at the end (a session).
    pub ok: bool,
    pub ended_s: Option<f64>,
    #[serde(rename = "break")]
    pub broke: Option<Break>,
    /// Sessions: stretches where packets were lost but the connection recovered
    /// (from the first lost packet to the answer that came through).
    pub stalls: Vec<Window>,
    pub steps: Vec<StepEffect>,
}

/// A closed or open interval of virtual time.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Window {
    pub from_s: f64,
    /// None: still out at the end.
    pub to_s: Option<f64>,
    /// The drop reason (or how) of the first failure in the window.
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct AddressChange {
    pub lane: String,
    pub who: String,
    pub at_s: f64,
    pub from: String,
    pub to: String,
    /// The last applied step at or before the change.
    pub step: Option<String>,
}

/// Per-disposition counts of a replayed capture.
#[derive(Debug, Clone, Serialize, Default)]
pub struct ReplayCounts {
    pub frames: usize,
    pub delivered: usize,
    pub to_internet: usize,
    pub dropped: Vec<(String, usize)>,
}

/// One [[traffic]] entry over the whole run.
#[derive(Debug, Clone, Serialize)]
pub struct Lane {
    pub name: String,
    pub kind: &'static str,
    pub from: String,
    pub to: Option<String>,
    pub service: Option<&'static str>,
    pub connections: Vec<Connection>,
    pub outages: Vec<Window>,
    pub replay: Option<ReplayCounts>,
}

/// Per endpoint (service and address): when new connections failed, and the
/// connections that broke.
#[derive(Debug, Clone, Serialize)]
pub struct EndpointReport {
    pub endpoint: String,
    pub outages: Vec<Window>,
    pub broken: Vec<BrokenConn>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BrokenConn {
    pub lane: String,
    pub n: usize,
    pub at_s: f64,
    pub how: String,
    pub reason: Option<String>,
    pub step: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Timeline {
    pub on_change: &'static str,
    pub end_s: f64,
    pub steps: Vec<StepEvent>,
    pub lanes: Vec<Lane>,
    pub endpoints: Vec<EndpointReport>,
    pub address_changes: Vec<AddressChange>,
    /// The outage summary, one line each.
    pub summary: Vec<String>,
}

pub(super) fn secs(t: f64) -> String {
    format!("{t:.1} s")
}

/// Probe lanes: out from the first failed attempt to the next successful one. Session
/// lanes: out from each break to the next connection that works.
pub(super) fn lane_outages(l: &Lane) -> Vec<Window> {
    let mut out: Vec<Window> = vec![];
    let mut open: Option<Window> = None;
    for c in &l.connections {
        if c.ok || c.established_s.is_some() && l.kind == "session" {
            if let Some(mut w) = open.take() {
                w.to_s = Some(c.established_s.unwrap_or(c.started_s));
                out.push(w);
            }
        }
        let failed = if l.kind == "probe" {
            !c.ok
        } else {
            c.broke.is_some()
        };
        if failed && open.is_none() {
            let b = c.broke.as_ref();
            let from = if l.kind == "probe" {
                c.started_s
            } else {
                b.map_or(c.started_s, |b| b.at_s)
            };
            let reason = b.map_or("failed".into(), |b| {
                b.reason.clone().unwrap_or_else(|| b.how.clone())
            });
            open = Some(Window {
                from_s: from,
                to_s: None,
                reason,
            });
        }
    }
    out.extend(open);
    // A session that stalled and recovered was out too.
    if l.kind == "session" {
        out.extend(l.connections.iter().flat_map(|c| c.stalls.iter().cloned()));
        out.sort_by(|a, b| a.from_s.total_cmp(&b.from_s));
    }
    out
}

/// Endpoint reports: reachability from the probe lanes to it (sessions' reconnects when
/// no probe watches it), and every broken session connection.
pub(super) fn endpoints(lanes: &[Lane]) -> Vec<EndpointReport> {
    let mut names: Vec<String> = vec![];
    for l in lanes {
        if let (Some(to), Some(s)) = (&l.to, l.service) {
            let n = format!("{s} to {to}");
            if !names.contains(&n) {
                names.push(n);
            }
        }
    }
    names
        .into_iter()
        .map(|name| {
            let mine: Vec<&Lane> = lanes
                .iter()
                .filter(|l| {
                    matches!((&l.to, l.service), (Some(to), Some(s)) if format!("{s} to {to}") == name)
                })
                .collect();
            let probes: Vec<&&Lane> = mine.iter().filter(|l| l.kind == "probe").collect();
            let mut outages: Vec<Window> = if probes.is_empty() {
                mine.iter().flat_map(|l| l.outages.clone()).collect()
            } else {
                probes.iter().flat_map(|l| l.outages.clone()).collect()
            };
            outages.sort_by(|a, b| a.from_s.total_cmp(&b.from_s));
            let broken = mine
                .iter()
                .filter(|l| l.kind == "session")
                .flat_map(|l| {
                    l.connections.iter().filter_map(|c| {
                        let b = c.broke.as_ref()?;
                        c.established_s?;
                        Some(BrokenConn {
                            lane: l.name.clone(),
                            n: c.n,
                            at_s: b.at_s,
                            how: b.how.clone(),
                            reason: b.reason.clone(),
                            step: b.step.clone(),
                        })
                    })
                })
                .collect();
            EndpointReport {
                endpoint: name,
                outages,
                broken,
            }
        })
        .collect()
}

/// Successive http answers that report a different address.
pub(super) fn address_changes(lanes: &[Lane], steps: &[StepEvent]) -> Vec<AddressChange> {
    let mut out = vec![];
    for l in lanes {
        let mut last: Option<&str> = None;
        for c in &l.connections {
            let Some(a) = c.address.as_deref() else {
                continue;
            };
            if let Some(prev) = last {
                if prev != a {
                    out.push(AddressChange {
                        lane: l.name.clone(),
                        who: l.from.clone(),
                        at_s: c.started_s,
                        from: prev.to_string(),
                        to: a.to_string(),
                        step: step_at(steps, c.started_s),
                    });
                }
            }
            last = Some(a);
        }
    }
    out
}

/// The last applied step at or before `t`.
pub(super) fn step_at(steps: &[StepEvent], t: f64) -> Option<String> {
    steps
        .iter()
        .rev()
        .find(|s| s.outcome == "applied" && s.at_s <= t + 1e-9)
        .map(StepEvent::label)
}

fn window_text(w: &Window) -> String {
    match w.to_s {
        Some(to) => format!("from {} to {} ({})", secs(w.from_s), secs(to), w.reason),
        None => format!("from {} to the end ({})", secs(w.from_s), w.reason),
    }
}

pub(super) fn summary(t: &Timeline) -> Vec<String> {
    let mut out = vec![];
    for e in &t.endpoints {
        let mut by: Vec<String> = vec![];
        for b in &e.broken {
            let s = b.step.clone().unwrap_or_else(|| b.how.clone());
            if !by.contains(&s) {
                by.push(s);
            }
        }
        let conns = match e.broken.len() {
            0 => String::new(),
            1 => format!(", 1 connection broken ({})", by.join(", ")),
            n => format!(", {n} connections broken ({})", by.join(", ")),
        };
        if e.outages.is_empty() {
            out.push(format!("{} reachable throughout{conns}", e.endpoint));
        } else {
            let ws: Vec<String> = e.outages.iter().map(window_text).collect();
            out.push(format!(
                "{} unreachable {}{conns}",
                e.endpoint,
                ws.join("; ")
            ));
        }
    }
    for a in &t.address_changes {
        out.push(format!(
            "{}'s egress address changes from {} to {} at {}{}",
            a.who,
            a.from,
            a.to,
            secs(a.at_s),
            a.step.as_ref().map_or(String::new(), |s| format!(" ({s})"))
        ));
    }
    out
}

/// The full text report of `vpcsim timeline`.
pub fn render(t: &Timeline, scenario: &str) -> String {
    let mut s = String::new();
    let mut line = |l: String| {
        s.push_str(&l);
        s.push('\n');
    };
    line(format!(
        "Timeline of {scenario}: {} on one virtual clock, connections across changes: {}",
        secs(t.end_s),
        t.on_change
    ));
    line(String::new());
    line("Steps:".into());
    for st in &t.steps {
        line(format!(
            "  {:>6}  {:<3} {:<36} {}",
            secs(st.at_s),
            st.step,
            st.label(),
            st.outcome
        ));
    }
    for l in &t.lanes {
        line(String::new());
        let what = match (&l.to, l.service) {
            (Some(to), Some(sv)) => format!("{} {sv} from {} to {to}", l.kind, l.from),
            _ => format!("{} at {}", l.kind, l.from),
        };
        line(format!("{} — {what}", l.name));
        if let Some(r) = &l.replay {
            let drops: Vec<String> = r.dropped.iter().map(|(n, c)| format!("{n} {c}")).collect();
            line(format!(
                "  {} frames: {} delivered, {} to the Internet, dropped: {}",
                r.frames,
                r.delivered,
                r.to_internet,
                if drops.is_empty() {
                    "none".into()
                } else {
                    drops.join(", ")
                }
            ));
        }
        for c in &l.connections {
            if l.kind == "probe" && c.ok && l.connections.len() > 8 {
                continue;
            }
            let mut d = format!("  #{:<3} {:>6}  {}", c.n, secs(c.started_s), c.client);
            if let Some(a) = &c.address {
                d.push_str(&format!("  sees {a}"));
            }
            if let Some(e) = &c.server_eni {
                d.push_str(&format!("  via {e}"));
            }
            match &c.broke {
                None if c.ok => d.push_str("  ok"),
                None => d.push_str("  open at the end"),
                Some(b) => d.push_str(&format!(
                    "  broken at {} ({} at {}){}{}",
                    secs(b.at_s),
                    b.how,
                    secs(b.noticed_s),
                    b.reason
                        .as_ref()
                        .map_or(String::new(), |r| format!(": {r}")),
                    b.step.as_ref().map_or(String::new(), |s| format!(" ({s})"))
                )),
            }
            line(d);
            for w in &c.stalls {
                line(format!("        stalled {}", window_text(w)));
            }
            for e in &c.steps {
                line(format!(
                    "        {} {} at {}",
                    e.effect,
                    e.step,
                    secs(e.at_s)
                ));
            }
        }
        if l.kind == "probe" && l.connections.len() > 8 {
            let ok = l.connections.iter().filter(|c| c.ok).count();
            line(format!(
                "  ({ok} of {} attempts succeeded; successful ones not listed)",
                l.connections.len()
            ));
        }
        // The addresses the "what is my IP" server reported, run by run.
        let mut runs: Vec<(String, f64, f64)> = vec![];
        for c in &l.connections {
            let Some(a) = &c.address else { continue };
            match runs.last_mut() {
                Some((prev, _, last)) if prev == a => *last = c.started_s,
                _ => runs.push((a.clone(), c.started_s, c.started_s)),
            }
        }
        for (a, from, to) in &runs {
            line(format!("  sees {a} from {} to {}", secs(*from), secs(*to)));
        }
        for w in &l.outages {
            line(format!("  out {}", window_text(w)));
        }
    }
    line(String::new());
    line("Summary:".into());
    for l in &t.summary {
        line(format!("  {l}"));
    }
    s
}
