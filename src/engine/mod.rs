//! The multi-core engine: N worker threads, each owning a [`Dataplane`] (its own
//! connection table and SNAT port slice), sharing one read-only `Arc<Tables>`.
//!
//! # Data path
//!
//! Input is a pre-built [`Traffic`] (frames in one read-only arena, shared by `Arc`).
//! Before timing starts, [`Steering`] assigns every packet to a worker — the role a NIC's
//! RSS hash plays — giving one ordered index list per worker. The dispatcher then moves
//! the work over one **bounded** `crossbeam-channel` per worker in batches of
//! [`EngineConfig::batch`] packet indices (a full queue blocks the dispatcher:
//! back-pressure). A worker copies the frames of 64 indices at a time from the arena into
//! its reused [`Batch`] (the "DMA into mbufs"; this copy is counted in every figure),
//! runs [`Dataplane::process_batch`] on them in place, and optionally folds each result
//! into a per-flow digest for verification. Nothing on the per-packet path allocates,
//! takes a lock or touches memory
//! another worker writes; counters are per worker and merged at the end ([`RunReport`]).
//!
//! # Steering
//!
//! Both directions of a connection must reach the worker that holds its state. See
//! [`Steering::steer`] for the function and the reasoning per path; `tests/engine.rs`
//! checks it on every path.

pub mod traffic;

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender};

use crate::compile::{PublicOwner, Tables};
use crate::pipeline::{Batch, Counters, Dataplane, DataplaneConfig, Disposition, Ingress};
use crate::time::SimTime;
use crate::wire::{self, L4};
pub use traffic::{Mix, Path, Traffic, TrafficSpec};

/// The engine's benchmark topology: every forwarding path (EIP 1:1 both ways, SNAT,
/// DNAT, east-west, an SG-denied port).
pub const BENCH_SCENARIO: &str = include_str!("bench.toml");

/// How a destination address of the scenario is treated by the steering function.
#[derive(Debug, Clone, Copy)]
enum Public {
    /// EIP / static public IP 1:1: steer as its private address.
    OneToOne(u32),
    /// An address of a NAT gateway (SNAT and/or DNAT).
    NatGateway,
    /// Cut-through, multi-EIP or unmodelled: no translation, natural hash.
    Plain,
}

/// The flow-steering function: which worker a packet goes to.
#[derive(Debug, Clone)]
pub struct Steering {
    workers: u16,
    public: HashMap<u32, Public>,
    /// DNAT port mappings: (external ip, proto, external port) → (internal ip, port).
    dnat_ports: HashMap<(u32, u8, u16), (u32, u16)>,
    /// Internal addresses of DNAT IP mappings (all ports keep their numbers).
    ip_mapped: HashSet<u32>,
    /// VPC CIDRs as (network, mask).
    vpcs: Vec<(u32, u32)>,
}

#[inline]
fn mix64(a: u64, b: u64) -> u64 {
    let p = (a as u128).wrapping_mul(b as u128);
    (p as u64) ^ ((p >> 64) as u64)
}

impl Steering {
    pub fn new(tables: &Tables, workers: u16) -> Steering {
        let workers = workers.max(1);
        let mut public = HashMap::new();
        for (ip, owner) in &tables.public {
            let p = match owner {
                PublicOwner::Nat1to1 { private_ip, .. } => Public::OneToOne(u32::from(*private_ip)),
                PublicOwner::NatGateway { .. } => Public::NatGateway,
                _ => Public::Plain,
            };
            public.insert(*ip, p);
        }
        let mut dnat_ports = HashMap::new();
        let mut ip_mapped = HashSet::new();
        for g in &tables.nat_gateways {
            for (&(ip, proto, port), d) in &g.dnat_ports {
                let iport = d.internal_port.unwrap_or(port);
                dnat_ports.insert((ip, proto, port), (u32::from(d.internal_ip), iport));
            }
            for d in g.dnat_ips.values() {
                ip_mapped.insert(u32::from(d.internal_ip));
            }
        }
        let vpcs = tables
            .vpcs
            .iter()
            .map(|(_, n)| (u32::from(n.network()), u32::from(n.netmask())))
            .collect();
        Steering {
            workers,
            public,
            dnat_ports,
            ip_mapped,
            vpcs,
        }
    }

    pub fn workers(&self) -> u16 {
        self.workers
    }

    fn in_vpc(&self, ip: u32) -> bool {
        self.vpcs.iter().any(|(n, m)| ip & m == *n)
    }

    #[inline]
    fn by_port(&self, port: u16) -> u16 {
        port % self.workers
    }

    /// The worker for a frame entering at `at`.
    ///
    /// The packet's tuple `(src, sport, dst, dport, proto)` is taken from its headers (an
    /// ICMP error uses the tuple of the flow it is about: its embedded header reversed).
    /// Then, in order:
    /// 1. **Source is the internal address of a DNAT IP mapping**, destination outside
    ///    every VPC: `sport % workers`. The external side of an IP mapping keeps port
    ///    numbers, so this is the port rule 2 applies to the other direction.
    /// 2. **Destination is a NAT gateway address** (SNAT EIP or DNAT EIP):
    ///    * a DNAT *port* mapping matches `(dst, proto, dport)`: the destination becomes
    ///      the internal `(ip, port)` and the packet is hashed as in 4 — the private-side
    ///      tuple, which is what the reply carries;
    ///    * otherwise `dport % workers`. This is SNAT return traffic: each worker only
    ///      allocates SNAT ports `p` with `p % workers == worker` (`DataplaneConfig`), so
    ///      the port names the worker that holds the connection, however its first
    ///      packet was steered. It also covers DNAT IP mappings (ports unchanged, rule 1
    ///      for the replies) and hairpinned replies towards a SNAT address.
    /// 3. **EIP / static public IP 1:1**: a destination (or source) that is such an
    ///    address is replaced by its private address, so the Internet side and the VPC
    ///    side of the same connection hash alike.
    /// 4. **Everything else** (east-west, egress, cut-through): a hash of the *sorted*
    ///    pair `{(src, sport), (dst, dport)}` and the protocol: symmetric, so a reply
    ///    (addresses and ports swapped) lands on the same worker.
    ///
    /// Assumption (documented, not enforced by the pipeline): a SNAT port is never one a
    /// DNAT port mapping of the same EIP forwards, as on the real gateway. Frames that do
    /// not parse go to worker 0 (they are dropped wherever they go).
    ///
    /// **IPv4 fragments** (first or not) are steered with both ports taken as 0, since
    /// only the first carries them: every fragment of a datagram reaches the same worker,
    /// which is what virtual reassembly (`pipeline::frag`) needs. Limitation: that worker
    /// may not be the one holding the connection of the datagram's flow (the RSS
    /// 2-tuple/4-tuple problem of real NICs); the fragments are then judged as a new
    /// connection there — SNAT return fragments, steered by port, reach worker 0.
    #[inline]
    pub fn steer(&self, frame: &[u8], at: Ingress) -> u16 {
        if self.workers == 1 {
            return 0;
        }
        let Ok(info) = wire::parse(frame) else {
            return 0;
        };
        let (mut src, mut dst) = (u32::from(info.src), u32::from(info.dst));
        let (mut sport, mut dport, mut proto) = (0u16, 0u16, info.proto);
        match info.l4 {
            L4::Tcp {
                sport: s, dport: d, ..
            }
            | L4::Udp { sport: s, dport: d } => (sport, dport) = (s, d),
            L4::IcmpEcho { ident, .. } => (sport, dport) = (ident, ident),
            L4::IcmpError { inner, .. } => {
                (src, dst) = (u32::from(inner.dst), u32::from(inner.src));
                (sport, dport) = if inner.proto == wire::proto::ICMP {
                    (inner.sport, inner.sport)
                } else {
                    (inner.dport, inner.sport)
                };
                proto = inner.proto;
            }
            _ => {}
        }
        if info.is_fragment() {
            (sport, dport) = (0, 0);
        }
        self.steer_tuple(src, sport, dst, dport, proto, at == Ingress::Internet)
    }

    /// [`Steering::steer`] on an already extracted tuple.
    pub fn steer_tuple(
        &self,
        mut src: u32,
        sport: u16,
        mut dst: u32,
        mut dport: u16,
        proto: u8,
        from_internet: bool,
    ) -> u16 {
        if self.workers == 1 {
            return 0;
        }
        if !from_internet && self.ip_mapped.contains(&src) && !self.in_vpc(dst) {
            return self.by_port(sport);
        }
        match self.public.get(&dst) {
            Some(Public::NatGateway) => match self.dnat_ports.get(&(dst, proto, dport)) {
                Some(&(ip, port)) => (dst, dport) = (ip, port),
                None => return self.by_port(dport),
            },
            Some(Public::OneToOne(p)) => dst = *p,
            _ => {}
        }
        if let Some(Public::OneToOne(p)) = self.public.get(&src) {
            src = *p;
        }
        let a = (u64::from(src) << 16) | u64::from(sport);
        let b = (u64::from(dst) << 16) | u64::from(dport);
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        let h = mix64(
            mix64(lo ^ 0x243f_6a88_85a3_08d3, hi ^ 0x1319_8a2e_0370_7344),
            0xa409_3822_299f_31d0 ^ u64::from(proto),
        );
        (((h >> 32) * u64::from(self.workers)) >> 32) as u16
    }
}

/// Engine parameters.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub workers: u16,
    /// Packets per batch sent to a worker.
    pub batch: usize,
    /// Batches a worker's queue holds before the dispatcher blocks.
    pub queue_depth: usize,
    /// Per-worker data plane configuration (`worker`/`workers` are set by the engine).
    pub dataplane: DataplaneConfig,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            workers: 1,
            // Big enough that a worker wakes the dispatcher rarely: a wake-up is a
            // system call on the worker's core (8 % of its time at 256 per batch).
            batch: 4096,
            queue_depth: 8,
            dataplane: DataplaneConfig::default(),
        }
    }
}

enum Job {
    Run {
        traffic: Arc<Traffic>,
        list: Arc<Vec<u32>>,
        start: usize,
        end: usize,
        now: SimTime,
    },
    Report(Sender<WorkerReport>),
    /// Start (or stop) folding results into per-flow digests.
    Verify(bool),
}

/// What one worker did since it started.
#[derive(Debug, Clone, Default)]
pub struct WorkerReport {
    pub worker: u16,
    pub packets: u64,
    pub counters: Counters,
    pub connections: usize,
    pub bytes_per_connection: f64,
    /// Per-flow digests, (flow, digest), when verification was on.
    pub digests: Vec<(u32, u64)>,
}

/// The merged result of one [`Engine::run`].
#[derive(Debug, Clone, Default)]
pub struct RunReport {
    pub packets: u64,
    pub elapsed: Duration,
    pub counters: Counters,
    pub workers: Vec<WorkerReport>,
}

impl RunReport {
    pub fn mpps(&self) -> f64 {
        self.packets as f64 / self.elapsed.as_secs_f64().max(1e-12) / 1e6
    }
}

/// Folds one packet's result into a flow digest: the disposition and the output bytes.
#[inline]
pub fn digest(acc: u64, d: Disposition, frame: &[u8]) -> u64 {
    let code: u64 = match d {
        Disposition::Delivered { eni } => 1 + (u64::from(eni) << 8),
        Disposition::Internet => 2,
        Disposition::Dropped(r) => 3 + ((r.index() as u64) << 8),
        Disposition::Held => 4,
    };
    let mut h = mix64(acc ^ code, 0x9e37_79b9_7f4a_7c15);
    for c in frame.chunks(8) {
        let mut w = [0u8; 8];
        w[..c.len()].copy_from_slice(c);
        h = mix64(h ^ u64::from_le_bytes(w), 0xff51_afd7_ed55_8ccd);
    }
    h
}

struct Worker {
    dp: Dataplane,
    /// The frames of one `process_batch` call, copied in (a NIC's DMA into mbufs).
    batch: Batch,
    packets: u64,
    verify: bool,
    digests: HashMap<u32, u64>,
}

/// Frames per `process_batch` call.
const WORKER_BATCH: usize = 64;

impl Worker {
    #[inline]
    fn run(&mut self, t: &Traffic, idx: &[u32], now: SimTime) {
        for chunk in idx.chunks(WORKER_BATCH) {
            self.batch.clear();
            for &i in chunk {
                let p = &t.packets[i as usize];
                let (off, len) = (p.off as usize, p.len as usize);
                self.batch.push(&t.arena[off..off + len], p.ingress, now);
            }
            self.dp.process_batch(&mut self.batch);
            if self.verify {
                for (j, &i) in chunk.iter().enumerate() {
                    let d = self.digests.entry(t.packets[i as usize].flow).or_insert(0);
                    *d = digest(*d, self.batch.disposition(j), self.batch.frame(j));
                }
            }
        }
        self.packets += idx.len() as u64;
    }
}

/// N worker threads with their own data planes; see the module documentation.
pub struct Engine {
    tables: Arc<Tables>,
    config: EngineConfig,
    steering: Steering,
    senders: Vec<Sender<Job>>,
    handles: Vec<JoinHandle<()>>,
}

/// Per-worker data plane configuration for worker `w` of `n`.
pub fn worker_config(base: &DataplaneConfig, w: u16, n: u16) -> DataplaneConfig {
    DataplaneConfig {
        worker: w,
        workers: n,
        ..base.clone()
    }
}

impl Engine {
    pub fn new(tables: Arc<Tables>, config: EngineConfig) -> Engine {
        let n = config.workers.max(1);
        let mut senders = Vec::new();
        let mut handles = Vec::new();
        for w in 0..n {
            let (tx, rx): (Sender<Job>, Receiver<Job>) = bounded(config.queue_depth.max(1));
            let dp = Dataplane::new(Arc::clone(&tables), worker_config(&config.dataplane, w, n));
            let h = std::thread::Builder::new()
                .name(format!("vpcsim-worker-{w}"))
                .spawn(move || {
                    let mut wk = Worker {
                        dp,
                        batch: Batch::new(),
                        packets: 0,
                        verify: false,
                        digests: HashMap::new(),
                    };
                    for job in rx {
                        match job {
                            Job::Run {
                                traffic,
                                list,
                                start,
                                end,
                                now,
                            } => wk.run(&traffic, &list[start..end], now),
                            Job::Verify(on) => wk.verify = on,
                            Job::Report(tx) => {
                                let mut digests: Vec<(u32, u64)> =
                                    wk.digests.iter().map(|(k, v)| (*k, *v)).collect();
                                digests.sort_unstable();
                                let _ = tx.send(WorkerReport {
                                    worker: w,
                                    packets: wk.packets,
                                    counters: wk.dp.counters.clone(),
                                    connections: wk.dp.connections(),
                                    bytes_per_connection: wk.dp.conntrack().bytes_per_connection(),
                                    digests,
                                });
                            }
                        }
                    }
                })
                .expect("spawn worker thread");
            senders.push(tx);
            handles.push(h);
        }
        Engine {
            steering: Steering::new(&tables, n),
            tables,
            config,
            senders,
            handles,
        }
    }

    pub fn workers(&self) -> u16 {
        self.senders.len() as u16
    }

    pub fn steering(&self) -> &Steering {
        &self.steering
    }

    pub fn tables(&self) -> &Arc<Tables> {
        &self.tables
    }

    /// Splits `order` (packet indices of `traffic`) into one ordered list per worker.
    pub fn plan(&self, traffic: &Traffic, order: &[u32]) -> Vec<Arc<Vec<u32>>> {
        plan(&self.steering, traffic, order)
    }

    /// Turns per-flow digest folding on or off (for the next runs).
    pub fn set_verify(&self, on: bool) {
        for s in &self.senders {
            let _ = s.send(Job::Verify(on));
        }
    }

    /// Runs the planned lists to completion and returns the merged counters (cumulative
    /// since the engine started) and the wall time of this run. `progress` is called
    /// after each batch with the packets dispatched so far.
    pub fn run(
        &self,
        traffic: &Arc<Traffic>,
        lists: &[Arc<Vec<u32>>],
        now: SimTime,
        mut progress: impl FnMut(u64),
    ) -> RunReport {
        let batch = self.config.batch.max(1);
        let start = Instant::now();
        let mut pos = vec![0usize; lists.len()];
        let mut sent = 0u64;
        loop {
            let mut any = false;
            for (w, list) in lists.iter().enumerate() {
                let p = pos[w];
                if p >= list.len() {
                    continue;
                }
                any = true;
                let end = (p + batch).min(list.len());
                let _ = self.senders[w].send(Job::Run {
                    traffic: Arc::clone(traffic),
                    list: Arc::clone(list),
                    start: p,
                    end,
                    now,
                });
                sent += (end - p) as u64;
                pos[w] = end;
            }
            progress(sent);
            if !any {
                break;
            }
        }
        let (rtx, rrx) = bounded(self.senders.len());
        for s in &self.senders {
            let _ = s.send(Job::Report(rtx.clone()));
        }
        let mut workers: Vec<WorkerReport> = rrx.iter().take(self.senders.len()).collect();
        let elapsed = start.elapsed();
        workers.sort_by_key(|r| r.worker);
        let mut counters = Counters::default();
        for r in &workers {
            counters.merge(&r.counters);
        }
        RunReport {
            packets: sent,
            elapsed,
            counters,
            workers,
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.senders.clear();
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

/// Splits `order` into one ordered list per worker with `steering`.
pub fn plan(steering: &Steering, traffic: &Traffic, order: &[u32]) -> Vec<Arc<Vec<u32>>> {
    let n = steering.workers() as usize;
    let mut lists = vec![Vec::new(); n];
    // Steering depends only on the frame and its ingress: memoise per distinct frame.
    let mut memo: HashMap<u32, u16> = HashMap::new();
    for &i in order {
        let p = &traffic.packets[i as usize];
        let w = *memo
            .entry(p.off)
            .or_insert_with(|| steering.steer(traffic.frame(i), p.ingress));
        lists[w as usize].push(i);
    }
    lists.into_iter().map(Arc::new).collect()
}

/// The single-threaded reference: the same packets in the same order through the same
/// per-worker data planes (one per steering target), on the calling thread. Returns the
/// per-flow digests (sorted by flow) and the merged counters.
pub fn reference(
    tables: &Arc<Tables>,
    base: &DataplaneConfig,
    steering: &Steering,
    traffic: &Traffic,
    phases: &[(&[u32], SimTime)],
) -> (Vec<(u32, u64)>, Counters) {
    let n = steering.workers();
    let mut dps: Vec<Dataplane> = (0..n)
        .map(|w| Dataplane::new(Arc::clone(tables), worker_config(base, w, n)))
        .collect();
    let mut digests: HashMap<u32, u64> = HashMap::new();
    let mut buf = vec![0u8; 65536];
    for (order, now) in phases {
        for &i in order.iter() {
            let p = &traffic.packets[i as usize];
            let f = traffic.frame(i);
            let w = steering.steer(f, p.ingress) as usize;
            let b = &mut buf[..f.len()];
            b.copy_from_slice(f);
            let out = dps[w].process(b, p.ingress, *now, None);
            let d = digests.entry(p.flow).or_insert(0);
            *d = digest(*d, out.disposition, b);
        }
    }
    let mut counters = Counters::default();
    for dp in &dps {
        counters.merge(&dp.counters);
    }
    let mut v: Vec<(u32, u64)> = digests.into_iter().collect();
    v.sort_unstable();
    (v, counters)
}

/// Merges worker digests, checking that no flow was seen by two workers.
pub fn merge_digests(workers: &[WorkerReport]) -> Result<Vec<(u32, u64)>, String> {
    let mut all: Vec<(u32, u64)> = Vec::new();
    for w in workers {
        all.extend_from_slice(&w.digests);
    }
    all.sort_unstable();
    for pair in all.windows(2) {
        if pair[0].0 == pair[1].0 {
            return Err(format!(
                "flow {} was processed by more than one worker",
                pair[0].0
            ));
        }
    }
    Ok(all)
}

/// Compares per-flow digests; returns the first mismatching flows (at most 10).
pub fn compare_digests(got: &[(u32, u64)], want: &[(u32, u64)]) -> Vec<u32> {
    let g: HashMap<u32, u64> = got.iter().copied().collect();
    let mut bad = Vec::new();
    for (f, d) in want {
        if g.get(f) != Some(d) {
            bad.push(*f);
            if bad.len() >= 10 {
                break;
            }
        }
    }
    if bad.is_empty() && got.len() != want.len() {
        let w: HashSet<u32> = want.iter().map(|x| x.0).collect();
        bad.extend(got.iter().map(|x| x.0).filter(|f| !w.contains(f)).take(10));
    }
    bad
}

/// Formats an address for messages.
pub fn ip(v: u32) -> Ipv4Addr {
    Ipv4Addr::from(v)
}
