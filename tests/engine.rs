//! The multi-core engine: same answers as one thread, both directions of every flow on
//! one worker, counters that add up. No timing assertions.

use std::sync::Arc;

use vpcsim::compile::Tables;
use vpcsim::engine::{
    self, plan, Engine, EngineConfig, Mix, Path, Steering, Traffic, TrafficSpec, BENCH_SCENARIO,
};
use vpcsim::pipeline::{Counters, DataplaneConfig, Disposition, Ingress};
use vpcsim::scenario::Scenario;
use vpcsim::time::SimTime;
use vpcsim::wire;

fn tables(src: Option<&str>) -> Arc<Tables> {
    let sc = match src {
        Some(s) => Scenario::parse(s, "test.toml").expect("scenario"),
        None => Scenario::load(None).expect("built-in scenario"),
    };
    Tables::compile(&sc.state_after(sc.steps.len()), 1)
}

fn base() -> DataplaneConfig {
    DataplaneConfig {
        conntrack_capacity: 8192,
        ..Default::default()
    }
}

fn spec(flows: usize, packets: usize) -> TrafficSpec {
    TrafficSpec {
        flows,
        packets,
        mix: Mix::default(),
        frame_len: 80,
    }
}

/// Runs both phases on `workers` threads with digests; returns (digests, counters).
fn run_engine(
    t: &Arc<Tables>,
    traffic: &Arc<Traffic>,
    workers: u16,
) -> (Vec<(u32, u64)>, Counters, Vec<engine::WorkerReport>) {
    let eng = Engine::new(
        Arc::clone(t),
        EngineConfig {
            workers,
            batch: 7,
            queue_depth: 2,
            dataplane: base(),
        },
    );
    eng.set_verify(true);
    let a = eng.plan(traffic, &traffic.new_flows);
    let b = eng.plan(traffic, &traffic.established);
    eng.run(traffic, &a, SimTime::ZERO, |_| {});
    let r = eng.run(traffic, &b, SimTime::ZERO, |_| {});
    let d = engine::merge_digests(&r.workers).expect("each flow on one worker");
    (d, r.counters, r.workers)
}

#[test]
fn multi_threaded_equals_single_threaded_per_flow() {
    for (src, workers) in [
        (Some(BENCH_SCENARIO), 2u16),
        (Some(BENCH_SCENARIO), 3),
        (None, 2),
    ] {
        let t = tables(src);
        let st = Steering::new(&t, workers);
        let traffic = Arc::new(Traffic::generate(&t, &base(), &st, &spec(600, 3000)));
        assert!(traffic.flows.len() >= 500);
        let (got, counters, _) = run_engine(&t, &traffic, workers);
        let (want, ref_counters) = engine::reference(
            &t,
            &base(),
            &st,
            &traffic,
            &[
                (&traffic.new_flows, SimTime::ZERO),
                (&traffic.established, SimTime::ZERO),
            ],
        );
        assert_eq!(engine::compare_digests(&got, &want), Vec::<u32>::new());
        assert_eq!(got.len(), traffic.flows.len());
        assert_eq!(counters, ref_counters, "merged counters");
    }
}

#[test]
fn every_path_is_generated_and_replies_are_never_lost() {
    let t = tables(Some(BENCH_SCENARIO));
    for workers in [1u16, 2, 4] {
        let st = Steering::new(&t, workers);
        let traffic = Traffic::generate(&t, &base(), &st, &spec(1200, 2400));
        let paths: Vec<Path> = traffic.flows_by_path().iter().map(|x| x.0).collect();
        assert_eq!(paths, Path::ALL.to_vec(), "{workers} workers");
        for f in &traffic.flows {
            let ok = match f.path {
                Path::Drop => matches!(f.disposition, Disposition::Dropped(_)),
                _ => !matches!(f.disposition, Disposition::Dropped(_)) && f.reply.is_some(),
            };
            assert!(ok, "{:?} flow became {:?}", f.path, f.disposition);
        }
    }
}

/// Both directions of each flow are steered to one worker, and the replies are
/// forwarded there (not dropped for lack of state).
#[test]
fn steering_keeps_both_directions_on_one_worker() {
    let t = tables(Some(BENCH_SCENARIO));
    for workers in [2u16, 3, 4, 7] {
        let st = Steering::new(&t, workers);
        let traffic = Traffic::generate(&t, &base(), &st, &spec(1500, 0));
        let mut checked = [0usize; 6];
        for f in &traffic.flows {
            let Some(r) = f.reply else { continue };
            let p0 = traffic.packets[f.first as usize];
            let p1 = traffic.packets[r as usize];
            let w0 = st.steer(traffic.frame(f.first), p0.ingress);
            let w1 = st.steer(traffic.frame(r), p1.ingress);
            assert_eq!(w0, w1, "{:?} flow {:?} on {workers} workers", f.path, f);
            checked[Path::ALL.iter().position(|p| *p == f.path).unwrap()] += 1;
        }
        for (p, n) in Path::ALL.iter().zip(checked) {
            if *p != Path::Drop {
                assert!(n > 0, "no {p:?} flow checked");
            }
        }
        // Replies sent through the engine reach the connection: nothing but the drop
        // path is dropped in the established phase.
        let traffic = Arc::new(Traffic::generate(&t, &base(), &st, &spec(800, 1600)));
        let (_, c, workers_r) = run_engine(&t, &traffic, workers);
        let drops: u64 = traffic
            .flows
            .iter()
            .filter(|f| f.path == Path::Drop)
            .count() as u64;
        // Drop flows send their first packet in both phases (twice per round).
        assert!(c.total_dropped() > 0);
        let dropped_est = c.total_dropped() - drops;
        let expected_est: u64 = traffic
            .established
            .iter()
            .filter(|&&i| {
                let fl = traffic.packets[i as usize].flow;
                traffic.flows[fl as usize].path == Path::Drop
            })
            .count() as u64;
        assert_eq!(
            dropped_est, expected_est,
            "only drop-path packets are dropped"
        );
        assert!(workers_r.iter().filter(|w| w.packets > 0).count() > 1);
    }
}

#[test]
fn snat_return_steers_by_port_and_dnat_by_private_tuple() {
    let t = tables(Some(BENCH_SCENARIO));
    let st = Steering::new(&t, 4);
    let snat_eip = u32::from(std::net::Ipv4Addr::new(47, 96, 20, 1));
    let dnat_eip = u32::from(std::net::Ipv4Addr::new(47, 96, 20, 2));
    let remote = u32::from(std::net::Ipv4Addr::new(203, 0, 113, 9));
    for port in [1024u16, 1025, 1026, 1027, 40001] {
        assert_eq!(
            st.steer_tuple(remote, 443, snat_eip, port, 6, true),
            port % 4
        );
    }
    let db = u32::from(std::net::Ipv4Addr::new(10, 0, 1, 30));
    for sport in 30000..30050u16 {
        let inbound = st.steer_tuple(remote, sport, dnat_eip, 80, 6, true);
        let reply = st.steer_tuple(db, 8080, remote, sport, 6, false);
        assert_eq!(inbound, reply);
    }
    let web = u32::from(std::net::Ipv4Addr::new(10, 0, 1, 10));
    let web_eip = u32::from(std::net::Ipv4Addr::new(47, 96, 20, 10));
    for sport in 30000..30050u16 {
        assert_eq!(
            st.steer_tuple(remote, sport, web_eip, 22, 6, true),
            st.steer_tuple(web, 22, remote, sport, 6, false)
        );
    }
}

#[test]
fn counters_merge_across_workers() {
    let t = tables(Some(BENCH_SCENARIO));
    let st = Steering::new(&t, 2);
    let traffic = Arc::new(Traffic::generate(&t, &base(), &st, &spec(400, 2000)));
    let (_, merged, workers) = run_engine(&t, &traffic, 2);
    let mut sum = Counters::default();
    for w in &workers {
        sum.merge(&w.counters);
    }
    assert_eq!(sum, merged);
    let total = traffic.new_flows.len() + traffic.established.len();
    assert_eq!(
        merged.delivered + merged.to_internet + merged.total_dropped(),
        total as u64
    );
    assert_eq!(workers.iter().map(|w| w.packets).sum::<u64>(), total as u64);
    // The plan puts every packet on exactly one list.
    let lists = plan(&st, &traffic, &traffic.established);
    assert_eq!(
        lists.iter().map(|l| l.len()).sum::<usize>(),
        traffic.established.len()
    );
    let _ = (Ingress::Internet, wire::proto::TCP);
}

#[test]
fn generating_traffic_reports_progress_up_to_the_flows_made() {
    let t = tables(None);
    let st = Steering::new(&t, 1);
    let mut calls: Vec<(usize, usize)> = vec![];
    let traffic = Traffic::generate_with_progress(&t, &base(), &st, &spec(2500, 0), &mut |d, n| {
        calls.push((d, n))
    });
    assert!(calls.len() >= 2, "{calls:?}");
    assert!(calls.windows(2).all(|w| w[0].0 <= w[1].0), "{calls:?}");
    assert_eq!(calls.last(), Some(&(traffic.flows.len(), 2500)));
    // The same traffic as without a callback.
    let plain = Traffic::generate(&t, &base(), &st, &spec(2500, 0));
    assert_eq!(plain.flows.len(), traffic.flows.len());
}
