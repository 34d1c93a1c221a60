//! `Dataplane::process_batch` decides every frame exactly as `process` does frame by
//! frame (issue 16 part 2): same outcomes, same output bytes, same counters, whatever
//! the batch length and whatever mix of first packets, established packets, replies,
//! expiring TTLs and damaged frames a batch holds.

use std::sync::Arc;

use proptest::prelude::*;
use vpcsim::compile::Tables;
use vpcsim::engine::{self, Mix, Path, Steering, Traffic, TrafficSpec};
use vpcsim::pipeline::{Batch, Dataplane, DataplaneConfig, Ingress, Outcome, BATCH_MAX};
use vpcsim::scenario::Scenario;
use vpcsim::time::SimTime;

/// How a generated frame is damaged before it enters.
#[derive(Debug, Clone, Copy)]
enum Damage {
    None,
    /// TTL 1 or 2: time-exceeded at the first or second routed hop.
    Ttl(u8),
    /// One byte flipped.
    Flip(usize, u8),
    /// Cut short.
    Truncate(usize),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        6 => Just(Damage::None),
        1 => (1u8..=2).prop_map(Damage::Ttl),
        1 => (0usize..80, 1u8..=255).prop_map(|(i, x)| Damage::Flip(i, x)),
        1 => (0usize..60).prop_map(Damage::Truncate),
    ]
}

fn frames(traffic: &Traffic, order: &[u32], damages: &[Damage]) -> Vec<(Vec<u8>, Ingress)> {
    order
        .iter()
        .zip(damages.iter().cycle())
        .map(|(&i, d)| {
            let mut f = traffic.frame(i).to_vec();
            match *d {
                Damage::None => {}
                Damage::Ttl(t) => {
                    if let Some(b) = f.get_mut(22) {
                        *b = t;
                    }
                }
                Damage::Flip(i, x) => {
                    if let Some(b) = f.get_mut(i) {
                        *b ^= x;
                    }
                }
                Damage::Truncate(n) => f.truncate(n),
            }
            (f, traffic.packets[i as usize].ingress)
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn process_batch_equals_process_frame_by_frame(
        flows in 1usize..120,
        packets in 0usize..600,
        weights in proptest::collection::vec(0u32..4, 6),
        batch in 1usize..300,
        damages in proptest::collection::vec(damage(), 1..40),
        bench in any::<bool>(),
    ) {
        let src = if bench { engine::BENCH_SCENARIO } else { vpcsim::scenario::DEFAULT_SCENARIO };
        let sc = Scenario::parse(src, "batch.toml").unwrap();
        let t: Arc<Tables> = Tables::compile(&sc.state_after(sc.steps.len()), 1);
        let base = DataplaneConfig { conntrack_capacity: 4096, ..Default::default() };
        let mut mix: Vec<(Path, u32)> = Path::ALL.iter().copied().zip(weights).collect();
        if mix.iter().all(|(_, w)| *w == 0) {
            mix[0].1 = 1;
        }
        let st = Steering::new(&t, 1);
        let spec = TrafficSpec { flows, packets, mix: Mix(mix), frame_len: 64 };
        let traffic = Traffic::generate(&t, &base, &st, &spec);
        // First packets and established ones in one stream, so a batch holds both a
        // packet that installs a connection and later packets of that connection.
        let order: Vec<u32> = traffic.new_flows.iter().chain(&traffic.established).copied().collect();
        let input = frames(&traffic, &order, &damages);

        let mut one = Dataplane::new(Arc::clone(&t), base.clone());
        let mut want: Vec<(Vec<u8>, Outcome)> = Vec::new();
        for (f, at) in &input {
            let mut b = f.clone();
            let o = one.process(&mut b, *at, SimTime::from_secs(1), None);
            want.push((b, o));
        }

        let mut many = Dataplane::new(Arc::clone(&t), base);
        let mut got: Vec<(Vec<u8>, Outcome)> = Vec::new();
        let mut b = Batch::new();
        for chunk in input.chunks(batch.min(BATCH_MAX)) {
            b.clear();
            for (f, at) in chunk {
                prop_assert!(b.push(f, *at, SimTime::from_secs(1)));
            }
            many.process_batch(&mut b);
            prop_assert_eq!(b.dispositions().len(), chunk.len());
            for i in 0..chunk.len() {
                prop_assert_eq!(b.disposition(i), b.outcome(i).disposition);
                got.push((b.frame(i).to_vec(), b.outcome(i).into_owned()));
            }
        }
        prop_assert_eq!(got.len(), want.len());
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            prop_assert_eq!(g, w, "frame {} of {}", i, want.len());
        }
        prop_assert_eq!(&many.counters, &one.counters);
        prop_assert_eq!(many.connections(), one.connections());
    }
}
