//! `vpcsim timeline`: the scenario on one virtual clock, with traffic flowing.
//!
//! One long-lived [`Dataplane`] carries everything. Steps happen at their times (`at`,
//! or 1 s after the previous one): each applied step compiles new tables with
//! `Tables::compile_after` (ENI ports keep their meaning) and swaps them in; what
//! becomes of established connections is the scenario's `[flow_semantics] on_change`
//! (default: revalidate, SEMANTICS.md §5; see `pipeline::revalidate`). Meanwhile the
//! `[[traffic]]` entries run on smoltcp hosts (`hosts`): long-lived sessions with
//! keep-alives, periodic probes (a new connection every `every`), replayed captures.
//! The run records every connection: when it started, the steps it lived through, when
//! and why it broke; [`report`] turns that into outage windows per lane and endpoint,
//! and address changes. Deterministic: the same scenario gives the same timeline.
//!
//! An edge: it uses the scenario, hosts, replay and pcap modules; nothing uses it but
//! the CLI.

pub mod report;
pub mod svg;
mod traffic;

use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::Arc;

use smoltcp::iface::SocketHandle;
use smoltcp::socket::tcp;
use smoltcp::wire::{IpAddress, IpCidr, IpEndpoint};

use crate::compile::Tables;
use crate::hosts::session::{parse_addr_port, Client, Service};
use crate::hosts::{HostKind, Network};
use crate::pipeline::{Dataplane, DataplaneConfig, Disposition, Ingress};
use crate::scenario::format::{parse_time, TrafficKind, TrafficSpec};
use crate::scenario::Scenario;
use crate::time::SimTime;

pub use report::Timeline;
use report::{Connection, Lane, ReplayCounts, StepEffect, StepEvent};

/// How long the timeline runs after the last step.
pub const TAIL_SECS: u64 = 3;
const SEC: u64 = 1_000_000_000;
const FIRST_CLIENT_PORT: u16 = 40001;
/// Idle listening sockets kept per service: several SYNs may arrive in one instant.
const LISTENERS: usize = 4;

/// The timeline and every pass through the data plane (for `--capture`).
pub struct Run {
    pub timeline: Timeline,
    pub passes: Vec<crate::capture::Pass>,
}

/// A problem with the scenario's traffic found while setting up (exit 2).
#[derive(Debug, Clone)]
pub struct TimelineError(pub String);

impl std::fmt::Display for TimelineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn t_of(s: &Option<String>, default: SimTime) -> SimTime {
    s.as_deref()
        .and_then(|v| parse_time(v).ok())
        .unwrap_or(default)
}

fn f(t: SimTime) -> f64 {
    (t.as_secs_f64() * 1000.0).round() / 1000.0
}

/// A replayed frame: when, where it enters, its bytes.
type Frame = (SimTime, Ingress, Vec<u8>);

/// A client's connection in flight.
struct Live {
    lane: usize,
    idx: usize,
    host: usize,
    handle: SocketHandle,
    /// Packets of this connection: the client's socket and, once known, the address
    /// the server sees (after translation).
    ends: Vec<(Ipv4Addr, u16)>,
    started: SimTime,
    established: Option<SimTime>,
    deadline: SimTime,
    got: Vec<u8>,
    /// Bytes of keep-alive echo still expected, and since when.
    awaiting: usize,
    awaiting_since: Option<SimTime>,
    next_keepalive: SimTime,
    closing: bool,
    /// First packet of this connection the VPC dropped: when, why, and the change
    /// that ended it (flow_ended_by_change).
    first_drop: Option<(SimTime, String, Option<String>)>,
}

/// A listening or accepted server socket.
struct Srv {
    host: usize,
    port: u16,
    service: Service,
    handle: SocketHandle,
    greeted: bool,
    request: Vec<u8>,
    done: bool,
}

struct Traffic {
    kind: TrafficKind,
    service: Option<Service>,
    client: Option<usize>,
    src: Ipv4Addr,
    server: Option<(Ipv4Addr, u16)>,
    until: SimTime,
    every: SimTime,
    reconnect: bool,
    next: SimTime,
    /// A session's connection is open (or being opened).
    active: bool,
}

struct Sim<'a> {
    sc: &'a Scenario,
    net: Network,
    cloud: crate::model::Cloud,
    traffic: Vec<Traffic>,
    lanes: Vec<Lane>,
    live: Vec<Live>,
    servers: Vec<Srv>,
    /// Every (host, port, service) that listens: kept at `LISTENERS` idle listeners.
    services: Vec<(usize, u16, Service)>,
    steps: Vec<StepEvent>,
    /// Epoch → the step that compiled it.
    epoch_step: Vec<(u64, String)>,
    seen_passes: usize,
    /// The next ephemeral port of each client host.
    ports: Vec<(usize, u16)>,
    /// Replay lanes and their frames still to inject.
    replays: Vec<(usize, Vec<Frame>)>,
}

/// Runs `sc` on one clock. `base` resolves relative capture paths of replay traffic.
pub fn run(sc: &Scenario, base: Option<&Path>) -> Result<Run, TimelineError> {
    let times = sc.step_times();
    let last = times.last().copied().unwrap_or(SimTime::ZERO);
    let end = SimTime(last.0 + TAIL_SECS * SEC);
    let tables = Tables::compile(&sc.initial, 1);
    let dp = Dataplane::new(
        Arc::clone(&tables),
        DataplaneConfig {
            conntrack_capacity: 1 << 14,
            on_change: sc.on_change,
            ..Default::default()
        },
    );
    let mut sim = Sim {
        sc,
        net: Network::new(dp),
        cloud: sc.initial.clone(),
        traffic: vec![],
        lanes: vec![],
        live: vec![],
        servers: vec![],
        services: vec![],
        steps: vec![],
        epoch_step: vec![],
        seen_passes: 0,
        ports: vec![],
        replays: vec![],
    };
    sim.setup(base, end)?;
    let mut next_step = 0;
    loop {
        while next_step < sc.steps.len() && times[next_step] <= sim.net.now {
            sim.apply_step(next_step, times[next_step]);
            next_step += 1;
        }
        sim.inject_replays();
        sim.start_due();
        sim.net.settle();
        sim.scan_passes();
        sim.serve();
        sim.clients();
        sim.net.settle();
        sim.scan_passes();
        if sim.net.now >= end {
            break;
        }
        let limit = sim.next_event(times.get(next_step).copied(), end);
        sim.net.advance(limit);
    }
    sim.finish(end);
    let Sim {
        lanes, steps, net, ..
    } = sim;
    let mut lanes = lanes;
    for l in &mut lanes {
        l.outages = report::lane_outages(l);
    }
    let endpoints = report::endpoints(&lanes);
    let address_changes = report::address_changes(&lanes, &steps);
    let mut timeline = Timeline {
        on_change: sc.on_change.name(),
        end_s: f(end),
        steps,
        lanes,
        endpoints,
        address_changes,
        summary: vec![],
    };
    timeline.summary = report::summary(&timeline);
    Ok(Run {
        timeline,
        passes: net.passes,
    })
}

/// The addresses a guest sees on its devices (as `Network::add_guest` gives them).
fn guest_cidrs(t: &Tables, i: u16) -> Vec<IpCidr> {
    let inst = &t.instances[i as usize];
    let mut cidrs = vec![];
    for &e in &inst.devices {
        let eni = t.eni(e);
        if !eni.cut_through {
            for ip in &eni.private_ips {
                cidrs.push(IpCidr::new((*ip).into(), eni.subnet.prefix_len()));
            }
        }
        for ip in &eni.visible_public {
            cidrs.push(IpCidr::new((*ip).into(), 32));
        }
    }
    cidrs
}

fn tcp_socket() -> tcp::Socket<'static> {
    let mut s = tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0; 8192]),
        tcp::SocketBuffer::new(vec![0; 8192]),
    );
    s.set_nagle_enabled(false);
    s
}

impl Sim<'_> {
    fn setup(&mut self, base: Option<&Path>, end: SimTime) -> Result<(), TimelineError> {
        let t = Arc::clone(&self.net.tables);
        // Every instance's guest runs sshd on 22.
        for i in 0..t.instances.len() as u16 {
            let h = self.net.add_guest(i);
            self.listen(h, 22, Service::Ssh);
        }
        for (_, spec) in &self.sc.traffic {
            let bad = |m: String| TimelineError(format!("traffic `{}`: {m}", spec.name));
            let start = t_of(&spec.at, SimTime::ZERO);
            let until = t_of(&spec.until, end).min(end);
            let every = t_of(&spec.every, SimTime::from_secs(1));
            let lane = Lane {
                name: spec.name.clone(),
                kind: match spec.kind {
                    TrafficKind::Session => "session",
                    TrafficKind::Probe => "probe",
                    TrafficKind::Replay => "replay",
                },
                from: spec.from.clone(),
                to: spec.to.clone(),
                service: None,
                connections: vec![],
                outages: vec![],
                replay: None,
            };
            let mut tr = Traffic {
                kind: spec.kind,
                service: None,
                client: None,
                src: Ipv4Addr::UNSPECIFIED,
                server: None,
                until,
                every,
                reconnect: spec.reconnect.unwrap_or(true),
                next: start,
                active: false,
            };
            if spec.kind == TrafficKind::Replay {
                let frames = self.load_replay(spec, base, start, &t).map_err(bad)?;
                self.replays.push((self.lanes.len(), frames));
            } else {
                let service =
                    Service::parse(spec.service.as_deref().unwrap_or_default()).map_err(bad)?;
                let (addr, port) =
                    parse_addr_port(spec.to.as_deref().unwrap_or_default()).map_err(bad)?;
                let (client, src) = match Client::parse(&spec.from).map_err(bad)? {
                    Client::Instance(id) => {
                        let i = *t
                            .instance_index
                            .get(&id)
                            .ok_or_else(|| bad(format!("no instance `{id}`")))?;
                        let src =
                            crate::pipeline::guest::default_source(&t, &t.instances[i as usize])
                                .ok_or_else(|| {
                                    bad(format!("instance {id} has no network interface"))
                                })?;
                        (self.net.add_guest(i), src)
                    }
                    Client::Internet(a) => (self.net.add_internet(a), a),
                };
                // A server address nobody in the scenario owns is a host on the
                // Internet with sshd on 22 and the "what is my IP" server on 80.
                let owned = t.public.contains_key(&u32::from(addr))
                    || t.vpcs.iter().any(|(_, c)| c.contains(&addr))
                    || self
                        .sc
                        .steps
                        .iter()
                        .any(|s| format!("{:?}", s.op).contains(&addr.to_string()));
                if !owned && self.net.host_of(HostKind::Internet(addr)).is_none() {
                    let h = self.net.add_internet(addr);
                    self.listen(h, 22, Service::Ssh);
                    self.listen(h, 80, Service::Http);
                }
                tr.service = Some(service);
                tr.client = Some(client);
                tr.src = src;
                tr.server = Some((addr, port));
            }
            let mut lane = lane;
            lane.service = tr.service.map(Service::name);
            self.lanes.push(lane);
            self.traffic.push(tr);
        }
        Ok(())
    }

    fn load_replay(
        &self,
        spec: &TrafficSpec,
        base: Option<&Path>,
        start: SimTime,
        t: &Tables,
    ) -> Result<Vec<Frame>, String> {
        let at = crate::replay::parse_at(&spec.from, t)?;
        let rel = spec.pcap.as_deref().unwrap_or_default();
        let path = match base.and_then(Path::parent) {
            Some(dir) if Path::new(rel).is_relative() => dir.join(rel),
            _ => Path::new(rel).to_path_buf(),
        };
        let reader = crate::pcapio::CaptureReader::open(&path)
            .map_err(|e| format!("pcap = \"{}\": {e}", path.display()))?;
        let mut out = vec![];
        let mut first: Option<u64> = None;
        for r in reader {
            let r = r.map_err(|e| format!("pcap = \"{}\": {e}", path.display()))?;
            let Ok(payload) = r.payload() else {
                continue;
            };
            let base_ts = *first.get_or_insert(r.ts_nanos);
            let ts = SimTime(start.0 + r.ts_nanos.saturating_sub(base_ts));
            out.push((ts, at, crate::replay::ethernet_for(t, at, payload)));
        }
        Ok(out)
    }

    fn listen(&mut self, host: usize, port: u16, service: Service) {
        if !self.services.contains(&(host, port, service)) {
            self.services.push((host, port, service));
        }
        for _ in 0..LISTENERS {
            self.listen_one(host, port, service);
        }
    }

    fn listen_one(&mut self, host: usize, port: u16, service: Service) {
        let mut s = tcp_socket();
        if s.listen(port).is_err() {
            return;
        }
        let handle = self.net.hosts[host].sockets.add(s);
        self.servers.push(Srv {
            host,
            port,
            service,
            handle,
            greeted: false,
            request: vec![],
            done: false,
        });
    }

    fn apply_step(&mut self, i: usize, at: SimTime) {
        let step = &self.sc.steps[i];
        let outcome = match self.cloud.apply(&step.op) {
            Ok(_) => {
                let epoch = i as u64 + 2;
                let t = Tables::compile_after(&self.cloud, epoch, &self.net.tables);
                self.net.dp.set_tables(Arc::clone(&t));
                self.net.tables = Arc::clone(&t);
                // The guests see their devices' addresses as they are now.
                for h in &mut self.net.hosts {
                    if let HostKind::Guest(g) = h.kind {
                        let cidrs = guest_cidrs(&t, g);
                        h.iface.update_ip_addrs(|a| {
                            a.clear();
                            for c in cidrs {
                                if a.push(c).is_err() {
                                    break;
                                }
                            }
                        });
                    }
                }
                "applied".to_string()
            }
            Err(e) => format!("refused: {}", e.code),
        };
        let ev = StepEvent {
            step: i + 1,
            id: step.id.clone(),
            at_s: f(at),
            op: step.op.name(),
            note: step.note.clone(),
            outcome,
        };
        if ev.outcome == "applied" {
            self.epoch_step.push((i as u64 + 2, ev.label()));
        }
        self.steps.push(ev);
    }

    fn inject_replays(&mut self) {
        let now = self.net.now;
        for (lane, frames) in &mut self.replays {
            let counts = self.lanes[*lane]
                .replay
                .get_or_insert_with(ReplayCounts::default);
            while frames.first().is_some_and(|(ts, _, _)| *ts <= now) {
                let (_, at, mut frame) = frames.remove(0);
                let out = self.net.dp.process(&mut frame, at, now, None);
                counts.frames += 1;
                match out.disposition {
                    Disposition::Delivered { .. } => counts.delivered += 1,
                    Disposition::Internet => counts.to_internet += 1,
                    Disposition::Dropped(r) => {
                        match counts.dropped.iter_mut().find(|(n, _)| n == r.name()) {
                            Some((_, c)) => *c += 1,
                            None => counts.dropped.push((r.name().to_string(), 1)),
                        }
                    }
                    Disposition::Held => {}
                }
            }
        }
    }

    /// Opens the connections that are due: probe ticks, sessions (re)connecting.
    fn start_due(&mut self) {
        let now = self.net.now;
        for ti in 0..self.traffic.len() {
            let tr = &self.traffic[ti];
            if tr.kind == TrafficKind::Replay || now < tr.next || now >= tr.until {
                continue;
            }
            if tr.kind == TrafficKind::Session && tr.active {
                continue;
            }
            let (Some(host), Some((addr, port))) = (tr.client, tr.server) else {
                continue;
            };
            let every = tr.every;
            let session = tr.kind == TrafficKind::Session;
            let src = tr.src;
            let sport = match self.ports.iter_mut().find(|(h, _)| *h == host) {
                Some((_, p)) => {
                    *p = p.checked_add(1).unwrap_or(FIRST_CLIENT_PORT);
                    *p
                }
                None => {
                    self.ports.push((host, FIRST_CLIENT_PORT));
                    FIRST_CLIENT_PORT
                }
            };
            let mut sock = tcp_socket();
            let remote = IpEndpoint::new(IpAddress::Ipv4(addr), port);
            let local = IpEndpoint::new(IpAddress::Ipv4(src), sport);
            let h = &mut self.net.hosts[host];
            if sock.connect(h.iface.context(), remote, local).is_err() {
                continue;
            }
            let handle = h.sockets.add(sock);
            let tr = &mut self.traffic[ti];
            tr.next = SimTime(now.0 + every.0);
            tr.active = tr.kind == TrafficKind::Session;
            let lane = &mut self.lanes[ti];
            let idx = lane.connections.len();
            lane.connections.push(Connection {
                n: idx + 1,
                started_s: f(now),
                established_s: None,
                client: format!("{src}:{sport}"),
                server_saw: None,
                address: None,
                server_eni: None,
                ok: false,
                ended_s: None,
                broke: None,
                stalls: vec![],
                steps: vec![],
            });
            // A probe has until the next one; a session's handshake at least 1 s.
            let deadline = if session {
                SimTime(now.0 + every.0.max(SEC))
            } else {
                SimTime(now.0 + every.0)
            };
            self.live.push(Live {
                lane: ti,
                idx,
                host,
                handle,
                ends: vec![(src, sport)],
                started: now,
                established: None,
                deadline,
                got: vec![],
                awaiting: 0,
                awaiting_since: None,
                next_keepalive: SimTime(now.0 + every.0),
                closing: false,
                first_drop: None,
            });
        }
    }

    /// When the loop must wake up at the latest.
    fn next_event(&self, step: Option<SimTime>, end: SimTime) -> SimTime {
        let mut t = end;
        if let Some(s) = step {
            t = t.min(s);
        }
        for tr in &self.traffic {
            if tr.kind != TrafficKind::Replay
                && tr.next < tr.until
                && !(tr.kind == TrafficKind::Session && tr.active)
            {
                t = t.min(tr.next);
            }
        }
        for (_, frames) in &self.replays {
            if let Some((ts, _, _)) = frames.first() {
                t = t.min(*ts);
            }
        }
        for c in &self.live {
            t = t.min(c.deadline.max(c.started));
            if let Some(s) = c.awaiting_since {
                t = t.min(SimTime(s.0 + SEC));
            } else if c.established.is_some() {
                t = t.min(c.next_keepalive);
            }
        }
        // Never less than one tick: the hosts' clock moves on the tick grid.
        t.max(SimTime(self.net.now.0 + crate::hosts::TICK_MICROS * 1_000))
    }

    /// Sessions still open at the end are fine; every connection gets the steps it
    /// lived through.
    fn finish(&mut self, end: SimTime) {
        for c in &self.live {
            let conn = &mut self.lanes[c.lane].connections[c.idx];
            if self.traffic[c.lane].kind == TrafficKind::Session && c.established.is_some() {
                conn.ok = conn.broke.is_none();
            }
        }
        let applied: Vec<&StepEvent> = self
            .steps
            .iter()
            .filter(|s| s.outcome == "applied")
            .collect();
        for l in &mut self.lanes {
            if l.kind != "session" {
                continue;
            }
            for c in &mut l.connections {
                let Some(up) = c.established_s else {
                    continue;
                };
                let down = c.broke.as_ref().map_or(f(end), |b| b.at_s);
                for s in &applied {
                    if s.at_s > up && s.at_s <= down + 1e-9 {
                        let ended = c
                            .broke
                            .as_ref()
                            .is_some_and(|b| b.step.as_deref() == Some(s.label().as_str()));
                        // Stalled: packets were lost after this step (and before the
                        // next change), but the connection recovered.
                        let next = applied
                            .iter()
                            .map(|n| n.at_s)
                            .find(|t| *t > s.at_s)
                            .unwrap_or(f64::INFINITY);
                        let stalled = c
                            .stalls
                            .iter()
                            .any(|w| w.from_s >= s.at_s && w.from_s < next);
                        c.steps.push(StepEffect {
                            step: s.label(),
                            at_s: s.at_s,
                            effect: if ended {
                                "ended"
                            } else if stalled {
                                "stalled"
                            } else {
                                "survived"
                            }
                            .into(),
                        });
                    }
                }
                if let Some(b) = &c.broke {
                    // A break no change explains still names the step before it.
                    if b.step.is_none() {
                        if let Some(s) = report::step_at(&self.steps, b.at_s) {
                            if let Some(e) = c.steps.iter_mut().rev().find(|e| e.step == s) {
                                e.effect = "ended".into();
                            }
                        }
                    }
                }
            }
        }
    }
}
