//! `vpcsim bench`: throughput of the multi-core engine on synthetic traffic, checked
//! against the single-threaded pipeline.
//!
//! One measurement ("point") = generate traffic (untimed) → new-flow phase (every flow's
//! first packet: slow path + install) → established phase (`--packets` packets of the
//! flows, both directions) → the floor (copy + parse + one fixed rewrite, one thread) →
//! verification: a second engine run with per-flow digests, compared with the same
//! packets through the same per-worker data planes on one thread. Any difference exits 1.

use std::collections::BTreeMap;
use std::path::{Path as FsPath, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

mod sweep;
pub use sweep::{plot_title, to_csv, to_svg};

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::compile::Tables;
use crate::engine::{self, Engine, EngineConfig, Mix, Steering, Traffic, TrafficSpec};
use crate::pipeline::{DataplaneConfig, DropReason};
use crate::scenario::Scenario;
use crate::time::SimTime;
use crate::wire::{self, CompiledRewrite, Rewrite};

#[derive(clap::Args, Debug, Clone)]
pub struct BenchArgs {
    /// Scenario file (default: the built-in scenario after all its steps).
    pub file: Option<PathBuf>,
    /// Use the engine's benchmark topology (every path, including DNAT) instead of FILE.
    #[arg(long, conflicts_with = "file")]
    pub bench_topology: bool,
    /// Concurrent flows (k and M suffixes allowed).
    #[arg(long, default_value = "4k")]
    pub flows: String,
    /// Packets in the established phase (k and M suffixes allowed).
    #[arg(long, default_value = "4M")]
    pub packets: String,
    /// Worker threads.
    #[arg(long, default_value_t = 1)]
    pub threads: u16,
    /// Path weights: eip-egress, eip-ingress, snat, dnat, east-west, drop (e.g.
    /// `snat=3,eip-egress=2`). Paths the topology lacks are reported and left out.
    #[arg(long)]
    pub mix: Option<String>,
    /// Ethernet frame length in bytes.
    #[arg(long, default_value_t = 64)]
    pub size: usize,
    /// One JSON document instead of text.
    #[arg(long)]
    pub json: bool,
    /// Sweep parameters: `flows=1k,10k,100k,1M` and/or `threads=1,2` (repeatable);
    /// writes OUT.csv and OUT.svg.
    #[arg(long)]
    pub sweep: Vec<String>,
    /// File prefix for --sweep output.
    #[arg(long, default_value = "bench-sweep")]
    pub out: PathBuf,
    /// Skip the single-threaded comparison (not recommended).
    #[arg(long)]
    pub no_verify: bool,
    /// Measure each figure this many times (fresh engine each time) and report the
    /// minimum, median and maximum.
    #[arg(long, default_value_t = 5)]
    pub repeat: usize,
    /// First packets timed per repeat at least (k and M suffixes allowed): below this
    /// many flows the new-flow phase is run again on fresh engines until it is reached.
    #[arg(long, default_value = "1M")]
    pub new_flows: String,
}

/// The spread of one figure over the repeats.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Spread {
    pub min: f64,
    pub median: f64,
    pub max: f64,
    /// Every repeat's value, in the order measured.
    pub runs: Vec<f64>,
}

impl Spread {
    pub fn of(runs: Vec<f64>) -> Spread {
        let mut v = runs.clone();
        v.sort_by(f64::total_cmp);
        let median = match v.len() {
            0 => 0.0,
            n if n % 2 == 1 => v[n / 2],
            n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
        };
        Spread {
            min: v.first().copied().unwrap_or(0.0),
            median,
            max: v.last().copied().unwrap_or(0.0),
            runs,
        }
    }
}

/// Parses `4096`, `4k`, `1M`.
pub fn count(s: &str) -> Result<usize, String> {
    let s = s.trim();
    let (num, mul) = match s.chars().last() {
        Some('k' | 'K') => (&s[..s.len() - 1], 1_000),
        Some('m' | 'M') => (&s[..s.len() - 1], 1_000_000),
        _ => (s, 1),
    };
    num.parse::<f64>()
        .ok()
        .filter(|v| *v >= 0.0)
        .map(|v| (v * mul as f64).round() as usize)
        .ok_or_else(|| format!("`{s}` is not a count (examples: 4096, 4k, 1M)"))
}

#[derive(Debug, Clone, Serialize)]
pub struct Point {
    pub scenario: String,
    /// Repeats behind each spread. `mpps`, `new_flows_per_second` and
    /// `established_over_floor` are the medians of their spreads; the other single-value
    /// figures come from the repeat whose established Mpps is the median.
    pub repeat: usize,
    pub mpps_spread: Spread,
    pub new_flows_per_second_spread: Spread,
    pub established_over_floor_spread: Spread,
    /// First packets timed per repeat (new flows × rounds on fresh engines).
    pub new_flows_timed: usize,
    pub threads: u16,
    pub flows: usize,
    pub frame_len: usize,
    pub flows_by_path: BTreeMap<String, usize>,
    pub unavailable_paths: Vec<String>,
    pub new_flows: usize,
    pub new_flow_seconds: f64,
    pub new_flows_per_second: f64,
    pub new_flows_per_second_per_thread: f64,
    pub packets: u64,
    pub established_seconds: f64,
    pub mpps: f64,
    pub mpps_per_thread: f64,
    /// Wall time per packet.
    pub ns_per_packet: f64,
    /// Core time per packet (wall × threads / packets).
    pub ns_per_packet_per_core: f64,
    pub floor_ns_per_packet: f64,
    pub established_over_floor: f64,
    pub bytes_per_connection: f64,
    pub connections: usize,
    pub delivered: u64,
    pub to_internet: u64,
    /// Established-phase drops by reason (reasons with none left out).
    pub dropped: BTreeMap<String, u64>,
    pub fast_path: u64,
    pub slow_path: u64,
    pub flows_created: u64,
    pub verified: Option<bool>,
    pub verify_detail: String,
}

fn tables_of(
    args: &BenchArgs,
    out: &super::Out<'_>,
) -> Result<(String, super::json::After, Arc<Tables>), ExitCode> {
    let sc = if args.bench_topology {
        Scenario::parse(engine::BENCH_SCENARIO, "engine/bench.toml")
            .map_err(|e| out.fail(super::json::ErrorDoc::scenario(&e)))?
    } else {
        out.load(args.file.as_deref())?
    };
    let n = sc.steps.len();
    let cloud = sc.state_after(n);
    Ok((
        sc.name.clone(),
        super::after(&sc, n),
        Tables::compile(&cloud, 1),
    ))
}

fn bar(hidden: bool, len: u64, msg: String) -> ProgressBar {
    if hidden {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template(
            "{msg:32} [{bar:30}] {human_pos}/{human_len} {rate} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .with_key(
            "rate",
            |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{}/s", human_rate(s.per_sec()));
            },
        )
        .progress_chars("=> "),
    );
    pb.set_message(msg);
    pb
}

/// `3.93M`, `412k`, `87`: rates rounded to three significant digits.
fn human_rate(r: f64) -> String {
    if r >= 1e6 {
        format!("{:.2}M", r / 1e6)
    } else if r >= 1e3 {
        format!("{:.0}k", r / 1e3)
    } else {
        format!("{r:.0}")
    }
}

/// The paths this topology can carry (a small trial generation with every path).
fn available_paths(tables: &Arc<Tables>) -> (Vec<&'static str>, Vec<&'static str>) {
    let base = DataplaneConfig {
        conntrack_capacity: 4096,
        ..Default::default()
    };
    let steering = Steering::new(tables, 1);
    let t = Traffic::generate(
        tables,
        &base,
        &steering,
        &TrafficSpec {
            flows: 64,
            packets: 0,
            mix: Mix::default(),
            frame_len: 64,
        },
    );
    let missing: Vec<&'static str> = t.unavailable.iter().map(|p| p.name()).collect();
    let have = crate::engine::Path::ALL
        .iter()
        .map(|p| p.name())
        .filter(|n| !missing.contains(n))
        .collect();
    (have, missing)
}

/// The floor: copy + parse + one fixed precompiled rewrite per packet, one thread.
pub fn floor_ns(traffic: &Traffic, max_packets: usize) -> f64 {
    let order = &traffic.established[..traffic.established.len().min(max_packets)];
    if order.is_empty() {
        return 0.0;
    }
    let f0 = traffic.frame(order[0]);
    let Ok(i0) = wire::parse(f0) else {
        return 0.0;
    };
    let rw = CompiledRewrite::compile(
        &i0,
        &Rewrite {
            src: Some(std::net::Ipv4Addr::new(47, 96, 0, 1)),
            sport: Some(40000),
            ..Default::default()
        },
    );
    let mut buf = vec![0u8; 2048];
    let mut sink = 0u64;
    let start = Instant::now();
    for &i in order {
        let f = traffic.frame(i);
        let b = &mut buf[..f.len()];
        b.copy_from_slice(f);
        if let Ok(info) = wire::parse(b) {
            rw.apply(b, info.l4_offset, info.proto);
            sink = sink.wrapping_add(u64::from(b[26]));
        }
    }
    let el = start.elapsed();
    std::hint::black_box(sink);
    el.as_nanos() as f64 / order.len() as f64
}

/// One repeat's raw figures.
struct Repeat {
    new_flows_timed: usize,
    new_s: f64,
    r_new: engine::RunReport,
    r_est: engine::RunReport,
    floor: f64,
}

/// Runs one measurement: `repeat` times (fresh engines each time) new flows (at least
/// `min_new_flows` first packets, in rounds on fresh engines), established packets and
/// the floor; then one untimed verification.
#[allow(clippy::too_many_arguments)]
pub fn measure(
    name: &str,
    tables: &Arc<Tables>,
    spec: &TrafficSpec,
    threads: u16,
    verify: bool,
    quiet: bool,
    repeat: usize,
    min_new_flows: usize,
) -> Point {
    let threads = threads.max(1);
    let repeat = repeat.max(1);
    let base = DataplaneConfig {
        conntrack_capacity: (spec.flows + spec.flows / 4 + 1024).min((1 << 30) - 1),
        ..Default::default()
    };
    let steering = Steering::new(tables, threads);
    let pb = bar(quiet, spec.flows as u64, "generating flows".into());
    let traffic = Arc::new(Traffic::generate_with_progress(
        tables,
        &base,
        &steering,
        spec,
        &mut |done, _| pb.set_position(done as u64),
    ));
    pb.finish_and_clear();
    let cfg = EngineConfig {
        workers: threads,
        dataplane: base.clone(),
        ..Default::default()
    };
    let new_lists = engine::plan(&steering, &traffic, &traffic.new_flows);
    let est_lists = engine::plan(&steering, &traffic, &traffic.established);
    let now = SimTime::ZERO;
    let per_round = traffic.new_flows.len().max(1);
    let rounds = min_new_flows.div_ceil(per_round).max(1);
    let mut reps = Vec::with_capacity(repeat);
    for r in 0..repeat {
        let pb = bar(
            quiet,
            (rounds * traffic.new_flows.len()) as u64,
            format!("[{}/{repeat}] new flows", r + 1),
        );
        // Every round but the last on a throw-away engine; the last one's tables carry
        // the established phase. Only the runs are timed, not engine start-up.
        let mut new_s = 0.0;
        let mut eng = None;
        for k in 0..rounds {
            let e = Engine::new(Arc::clone(tables), cfg.clone());
            let done = (k * traffic.new_flows.len()) as u64;
            let rep = e.run(&traffic, &new_lists, now, |n| pb.set_position(done + n));
            new_s += rep.elapsed.as_secs_f64();
            eng = Some((e, rep));
        }
        pb.finish_and_clear();
        let Some((eng, r_new)) = eng else {
            continue;
        };
        let pb = bar(
            quiet,
            traffic.established.len() as u64,
            format!("[{}/{repeat}] established", r + 1),
        );
        let r_est = eng.run(&traffic, &est_lists, now, |n| pb.set_position(n));
        pb.finish_and_clear();
        drop(eng);
        let floor = floor_ns(&traffic, 4 << 20);
        reps.push(Repeat {
            new_flows_timed: rounds * traffic.new_flows.len(),
            new_s,
            r_new,
            r_est,
            floor,
        });
    }
    let (verified, verify_detail) = if verify {
        let pb = bar(quiet, 0, "verifying against one thread".into());
        pb.tick();
        let v = check(
            tables, &base, &steering, &traffic, &cfg, &new_lists, &est_lists,
        );
        pb.finish_and_clear();
        match v {
            Ok(n) => (
                Some(true),
                format!("{n} flows: same disposition and output bytes"),
            ),
            Err(e) => (Some(false), e),
        }
    } else {
        (None, "not checked".into())
    };
    let ns_of = |r: &Repeat| r.r_est.elapsed.as_secs_f64() * 1e9 / r.r_est.packets.max(1) as f64;
    let mpps_spread: Spread = Spread::of(reps.iter().map(|r| r.r_est.mpps()).collect());
    let new_spread = Spread::of(
        reps.iter()
            .map(|r| r.new_flows_timed as f64 / r.new_s.max(1e-12))
            .collect(),
    );
    let ratio_spread = Spread::of(
        reps.iter()
            .map(|r| ns_of(r) * f64::from(threads) / r.floor.max(1e-9))
            .collect(),
    );
    // The single-value fields describe the repeat with the median Mpps.
    let mut order: Vec<usize> = (0..reps.len()).collect();
    order.sort_by(|&a, &b| reps[a].r_est.mpps().total_cmp(&reps[b].r_est.mpps()));
    let Some(mid) = order.get(order.len() / 2).map(|&i| &reps[i]) else {
        // repeat >= 1 and every repeat runs at least one round.
        unreachable!("bench: no repeat measured")
    };
    let (r_new, r_est, floor) = (&mid.r_new, &mid.r_est, mid.floor);
    let c = &r_est.counters;
    let est_s = r_est.elapsed.as_secs_f64();
    let new_s = mid.new_s;
    let ns = ns_of(mid);
    let connections = r_est.workers.iter().map(|w| w.connections).sum();
    let (mpps_med, new_med, ratio_med) =
        (mpps_spread.median, new_spread.median, ratio_spread.median);
    Point {
        scenario: name.to_string(),
        repeat: reps.len(),
        mpps_spread,
        new_flows_per_second_spread: new_spread,
        established_over_floor_spread: ratio_spread,
        new_flows_timed: mid.new_flows_timed,
        threads,
        flows: traffic.flows.len(),
        frame_len: traffic.frame_len,
        flows_by_path: traffic
            .flows_by_path()
            .into_iter()
            .map(|(p, n)| (p.name().to_string(), n))
            .collect(),
        unavailable_paths: traffic
            .unavailable
            .iter()
            .map(|p| p.name().into())
            .collect(),
        new_flows: traffic.new_flows.len(),
        new_flow_seconds: new_s,
        new_flows_per_second: new_med,
        new_flows_per_second_per_thread: new_med / f64::from(threads),
        packets: r_est.packets,
        established_seconds: est_s,
        mpps: mpps_med,
        mpps_per_thread: mpps_med / f64::from(threads),
        ns_per_packet: ns,
        ns_per_packet_per_core: ns * f64::from(threads),
        floor_ns_per_packet: floor,
        established_over_floor: ratio_med,
        bytes_per_connection: r_est
            .workers
            .first()
            .map_or(0.0, |w| w.bytes_per_connection),
        connections,
        // The established phase's own counts (the run reports are cumulative).
        delivered: c.delivered - r_new.counters.delivered,
        to_internet: c.to_internet - r_new.counters.to_internet,
        dropped: DropReason::ALL
            .iter()
            .map(|r| {
                (
                    r.name().to_string(),
                    c.dropped_by(*r) - r_new.counters.dropped_by(*r),
                )
            })
            .filter(|(_, n)| *n > 0)
            .collect(),
        fast_path: c.fast_path - r_new.counters.fast_path,
        slow_path: c.slow_path - r_new.counters.slow_path,
        flows_created: r_new.counters.flows_created,
        verified,
        verify_detail,
    }
}

/// Multi-threaded digests (a fresh engine, both phases) against the single-threaded
/// reference. Ok(number of flows compared).
fn check(
    tables: &Arc<Tables>,
    base: &DataplaneConfig,
    steering: &Steering,
    traffic: &Arc<Traffic>,
    cfg: &EngineConfig,
    new_lists: &[Arc<Vec<u32>>],
    est_lists: &[Arc<Vec<u32>>],
) -> Result<usize, String> {
    let eng = Engine::new(Arc::clone(tables), cfg.clone());
    eng.set_verify(true);
    let now = SimTime::ZERO;
    eng.run(traffic, new_lists, now, |_| {});
    let r = eng.run(traffic, est_lists, now, |_| {});
    let got = engine::merge_digests(&r.workers)?;
    let (want, counters) = engine::reference(
        tables,
        base,
        steering,
        traffic,
        &[(&traffic.new_flows, now), (&traffic.established, now)],
    );
    let bad = engine::compare_digests(&got, &want);
    if !bad.is_empty() {
        return Err(format!(
            "{} flow(s) differ from the single-threaded pipeline, first: {:?}",
            bad.len(),
            bad
        ));
    }
    if counters != r.counters {
        return Err(format!(
            "merged counters differ: threads {:?} vs one thread {:?}",
            r.counters, counters
        ));
    }
    Ok(want.len())
}

fn text(p: &Point) {
    println!(
        "scenario {} · {} thread(s) · {} flows ({}) · {}-byte frames",
        p.scenario,
        p.threads,
        p.flows,
        p.flows_by_path
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(", "),
        p.frame_len
    );
    if !p.unavailable_paths.is_empty() {
        println!(
            "  paths the topology does not offer (left out): {}",
            p.unavailable_paths.join(", ")
        );
    }
    let (m, n, o) = (
        &p.mpps_spread,
        &p.new_flows_per_second_spread,
        &p.established_over_floor_spread,
    );
    println!(
        "  established: {:.2} Mpps median of {} (min {:.2}, max {:.2}); median run: {:.2} Mpps/thread, {:.1} ns/packet wall, {:.1} ns/packet per core, {} packets in {:.3} s",
        m.median, p.repeat, m.min, m.max, p.mpps_per_thread, p.ns_per_packet, p.ns_per_packet_per_core, p.packets, p.established_seconds
    );
    println!(
        "  floor (copy + parse + fixed rewrite, 1 thread): {:.1} ns/packet; established/floor = {:.2}× median (min {:.2}, max {:.2})",
        p.floor_ns_per_packet, o.median, o.min, o.max
    );
    println!(
        "  new flows: {:.2} M/s median (min {:.2}, max {:.2}), {:.2} M/s/thread; {} first packets per repeat ({} flows × {} rounds on fresh engines) in {:.3} s",
        n.median / 1e6,
        n.min / 1e6,
        n.max / 1e6,
        p.new_flows_per_second_per_thread / 1e6,
        p.new_flows_timed,
        p.new_flows,
        p.new_flows_timed / p.new_flows.max(1),
        p.new_flow_seconds
    );
    println!(
        "  memory: {:.1} B per connection (both directions), {} connections held",
        p.bytes_per_connection, p.connections
    );
    let drops = p
        .dropped
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(", ");
    println!(
        "  established phase: delivered {}, internet {}, dropped {} ({}), fast path {}, slow path {}",
        p.delivered,
        p.to_internet,
        p.dropped.values().sum::<u64>(),
        if drops.is_empty() { "none".into() } else { drops },
        p.fast_path,
        p.slow_path
    );
    match p.verified {
        Some(true) => println!("  verified: {}", p.verify_detail),
        Some(false) => println!("  VERIFICATION FAILED: {}", p.verify_detail),
        None => println!("  verification skipped"),
    }
}

fn sweep_values(args: &BenchArgs) -> Result<(Vec<usize>, Vec<u16>), String> {
    let mut flows = vec![count(&args.flows)?];
    let mut threads = vec![args.threads];
    for s in &args.sweep {
        let (k, v) = s
            .split_once('=')
            .ok_or_else(|| format!("--sweep `{s}`: use flows=1k,10k or threads=1,2"))?;
        match k {
            "flows" => flows = v.split(',').map(count).collect::<Result<_, _>>()?,
            "threads" => {
                threads = v
                    .split(',')
                    .map(|t| {
                        t.trim()
                            .parse::<u16>()
                            .map_err(|_| format!("thread count `{t}`"))
                    })
                    .collect::<Result<_, _>>()?
            }
            o => return Err(format!("--sweep: unknown parameter `{o}` (flows, threads)")),
        }
    }
    Ok((flows, threads))
}

pub fn run(args: BenchArgs) -> Result<ExitCode, ExitCode> {
    let out = super::Out {
        command: "bench",
        json: args.json,
    };
    let bad = |e: String| out.bad(e);
    let (name, after, tables) = tables_of(&args, &out)?;
    let mix = match &args.mix {
        Some(m) => {
            let mix = Mix::parse(m).map_err(bad)?;
            // A mix the topology cannot serve is refused, not silently replaced.
            let (have, _) = available_paths(&tables);
            let lacking: Vec<&str> = mix
                .0
                .iter()
                .filter(|(p, w)| *w > 0 && !have.contains(&p.name()))
                .map(|(p, _)| p.name())
                .collect();
            if !lacking.is_empty() {
                return Err(bad(format!(
                    "--mix {m}: the topology of {name} has no {} path; it has: {} (--bench-topology has every path)",
                    lacking.join(", "),
                    have.join(", ")
                )));
            }
            mix
        }
        None => Mix::default(),
    };
    let packets = count(&args.packets).map_err(bad)?;
    let min_new_flows = count(&args.new_flows).map_err(bad)?;
    if args.repeat == 0 {
        return Err(bad("--repeat must be at least 1".into()));
    }
    let (flow_list, thread_list) = sweep_values(&args).map_err(bad)?;
    if thread_list.contains(&0) {
        return Err(bad("--threads must be at least 1".into()));
    }
    let mut points = Vec::new();
    for &t in &thread_list {
        for &f in &flow_list {
            let spec = TrafficSpec {
                flows: f,
                packets,
                mix: mix.clone(),
                frame_len: args.size,
            };
            let p = measure(
                &name,
                &tables,
                &spec,
                t,
                !args.no_verify,
                args.json,
                args.repeat,
                min_new_flows,
            );
            if !args.json {
                text(&p);
            }
            points.push(p);
        }
    }
    let mut files = BTreeMap::new();
    if !args.sweep.is_empty() {
        let csv = args.out.with_extension("csv");
        let svg = args.out.with_extension("svg");
        let w = std::fs::write(&csv, to_csv(&points)).and_then(|_| {
            let title = plot_title(
                &name,
                args.mix.as_deref().unwrap_or("default"),
                packets,
                args.size,
            );
            std::fs::write(&svg, to_svg(&points, &title))
        });
        if let Err(e) = w {
            return Err(out.bad(format!("cannot write {}: {e}", csv.display())));
        }
        // Said on stderr with --json too: the files land beside the caller.
        eprintln!("wrote {} and {}", show(&csv), show(&svg));
        files.insert("csv", show(&csv));
        files.insert("svg", show(&svg));
    }
    if args.json {
        super::json::print(&super::json::envelope(
            "bench",
            Some(&name),
            Some(after),
            serde_json::json!({ "points": points, "files": files }),
        ));
    }
    let failed = points.iter().any(|p| p.verified == Some(false));
    if failed {
        eprintln!("error: the multi-threaded output differs from the single-threaded pipeline");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn show(p: &FsPath) -> String {
    p.display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_reports_min_median_max_and_keeps_the_runs_in_order() {
        let s = Spread::of(vec![3.0, 1.0, 2.0]);
        assert_eq!((s.min, s.median, s.max), (1.0, 2.0, 3.0));
        assert_eq!(s.runs, vec![3.0, 1.0, 2.0]);
        let s = Spread::of(vec![4.0, 1.0, 2.0, 10.0]);
        assert_eq!((s.min, s.median, s.max), (1.0, 3.0, 10.0));
    }

    #[test]
    fn bench_repeats_each_figure_and_reports_its_spread() {
        let out = super::super::Out {
            command: "bench",
            json: true,
        };
        let (name, _, tables) = tables_of(
            &BenchArgs {
                file: None,
                bench_topology: true,
                flows: "64".into(),
                packets: "1k".into(),
                threads: 1,
                mix: None,
                size: 64,
                json: true,
                sweep: vec![],
                out: PathBuf::from("unused"),
                no_verify: false,
                repeat: 3,
                new_flows: "1k".into(),
            },
            &out,
        )
        .unwrap();
        let spec = TrafficSpec {
            flows: 64,
            packets: 1000,
            mix: Mix::default(),
            frame_len: 64,
        };
        let p = measure(&name, &tables, &spec, 1, true, true, 3, 1000);
        assert_eq!(p.repeat, 3);
        assert_eq!(p.mpps_spread.runs.len(), 3);
        assert_eq!(p.new_flows_per_second_spread.runs.len(), 3);
        assert_eq!(p.established_over_floor_spread.runs.len(), 3);
        assert_eq!(p.mpps, p.mpps_spread.median);
        assert!(p.mpps_spread.min <= p.mpps && p.mpps <= p.mpps_spread.max);
        // At least 1,000 first packets timed: 64 flows × 16 rounds on fresh engines.
        assert!(p.new_flows_timed >= 1000, "{}", p.new_flows_timed);
        assert_eq!(p.new_flows_timed % p.new_flows, 0);
        assert_eq!(p.verified, Some(true), "{}", p.verify_detail);
    }
}
