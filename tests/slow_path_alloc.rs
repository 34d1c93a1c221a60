//! Issue 16, part 4: the slow path of a new TCP/UDP flow that passes allocates nothing.
//!
//! A counting global allocator wraps `System`; the first packets of every path of the
//! engine's benchmark topology (EIP egress, EIP ingress, SNAT, DNAT, east-west), as TCP
//! and as UDP, go through a warmed `Dataplane::process`. Warm-up sends them all once and
//! expires every connection, so the flow table, the SNAT allocator's maps and the
//! per-connection side tables have grown to their size; the second round (every flow new
//! again) must then not allocate at all.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use vpcsim::compile::Tables;
use vpcsim::engine::{Mix, Path, Steering, Traffic, TrafficSpec, BENCH_SCENARIO};
use vpcsim::pipeline::{Dataplane, DataplaneConfig, Disposition};
use vpcsim::scenario::Scenario;
use vpcsim::time::SimTime;
use vpcsim::wire::{self, ProbeL4, ProbeSpec, L4};

/// Counts allocations (and reallocations) made by a thread while it is armed.
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    // Const-initialised, no destructor: safe to touch from inside the allocator.
    static ARMED: Cell<bool> = const { Cell::new(false) };
}

fn note() {
    if ARMED.with(|a| a.get()) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations `f` makes on this thread.
fn allocations_of<R>(f: impl FnOnce() -> R) -> (R, u64) {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    ARMED.with(|a| a.set(true));
    let r = f();
    ARMED.with(|a| a.set(false));
    (r, ALLOCATIONS.load(Ordering::Relaxed) - before)
}

/// The same packet as UDP (same addresses, ports, MACs and length class).
fn as_udp(frame: &[u8]) -> Option<Vec<u8>> {
    let info = wire::parse(frame).ok()?;
    let L4::Tcp { sport, dport, .. } = info.l4 else {
        return None;
    };
    let mac = |r: std::ops::Range<usize>| -> [u8; 6] { frame[r].try_into().unwrap_or([0; 6]) };
    Some(wire::build(&ProbeSpec {
        src_mac: mac(6..12),
        dst_mac: mac(0..6),
        src: info.src,
        dst: info.dst,
        ttl: info.ttl,
        ident: 1,
        l4: ProbeL4::Udp { sport, dport },
        payload: vec![0; 18],
    }))
}

#[test]
fn a_new_flow_that_passes_allocates_nothing_on_the_slow_path() {
    let sc = Scenario::parse(BENCH_SCENARIO, "engine/bench.toml").expect("bench scenario");
    let tables: Arc<Tables> = Tables::compile(&sc.state_after(sc.steps.len()), 1);
    let config = DataplaneConfig {
        conntrack_capacity: 1 << 14,
        hash_seed: Some([1, 2, 3]),
        ..Default::default()
    };
    let spec = TrafficSpec {
        flows: 2_000,
        packets: 0,
        mix: Mix::parse("eip-egress=1,eip-ingress=1,snat=1,dnat=1,east-west=1").expect("mix"),
        frame_len: 64,
    };
    let traffic = Traffic::generate(&tables, &config, &Steering::new(&tables, 1), &spec);
    // (path, protocol, frame, ingress) of every first packet, TCP and its UDP twin.
    let mut firsts = Vec::new();
    for f in &traffic.flows {
        let p = traffic.packets[f.first as usize];
        let tcp = traffic.frame(f.first).to_vec();
        if let Some(udp) = as_udp(&tcp) {
            firsts.push((f.path, "udp", udp, p.ingress));
        }
        firsts.push((f.path, "tcp", tcp, p.ingress));
    }
    let mut dp = Dataplane::new(Arc::clone(&tables), config);
    let mut buf = vec![0u8; 2048];
    let mut send = |dp: &mut Dataplane, frame: &[u8], at| {
        let b = &mut buf[..frame.len()];
        b.copy_from_slice(frame);
        dp.process(b, at, SimTime::ZERO, None).disposition
    };
    // Warm-up: every flow once, then every connection expired.
    let warm: Vec<Disposition> = firsts
        .iter()
        .map(|(_, _, f, at)| send(&mut dp, f, *at))
        .collect();
    dp.expire(SimTime::from_secs(100_000));
    assert_eq!(dp.connections(), 0);

    let mut passed: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    let mut allocating: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    for ((path, proto, f, at), before) in firsts.iter().zip(&warm) {
        let (d, n) = allocations_of(|| send(&mut dp, f, *at));
        assert_eq!(
            d,
            *before,
            "{} {proto}: the same answer as in warm-up",
            path.name()
        );
        if matches!(d, Disposition::Internet | Disposition::Delivered { .. }) {
            *passed.entry((path.name(), *proto)).or_default() += 1;
            if n > 0 {
                *allocating.entry((path.name(), *proto)).or_default() += n;
            }
        }
    }
    // Every path passes new TCP flows, and UDP too except DNAT (the topology's DNAT
    // entry is TCP only): the assertion below covers them all.
    for path in [
        Path::EipEgress,
        Path::EipIngress,
        Path::Snat,
        Path::Dnat,
        Path::EastWest,
    ] {
        assert!(
            passed.get(&(path.name(), "tcp")).copied().unwrap_or(0) > 100,
            "{passed:?}"
        );
        if path != Path::Dnat {
            assert!(
                passed.get(&(path.name(), "udp")).copied().unwrap_or(0) > 100,
                "{passed:?}"
            );
        }
    }
    assert!(
        allocating.is_empty(),
        "allocations on the slow path per (path, protocol): {allocating:?}; new flows that passed: {passed:?}"
    );
    assert_eq!(dp.connections() as u64, passed.values().sum::<u64>());
}

#[test]
fn hash_seed_in_the_config_makes_the_flow_table_hash_reproducible() {
    let sc = Scenario::parse(BENCH_SCENARIO, "engine/bench.toml").expect("bench scenario");
    let tables: Arc<Tables> = Tables::compile(&sc.state_after(sc.steps.len()), 1);
    let dp = |seed| {
        Dataplane::new(
            Arc::clone(&tables),
            DataplaneConfig {
                conntrack_capacity: 1024,
                hash_seed: seed,
                ..Default::default()
            },
        )
    };
    let key = vpcsim::flow::FlowKey {
        src: 0x0a00_0105,
        dst: 0xc612_0007,
        sport: 40_000,
        dport: 443,
        port: 1,
        proto: 6,
    };
    let h = |d: &Dataplane| d.conntrack().hash(&key);
    let (a, b) = (dp(Some([1, 2, 3])), dp(Some([1, 2, 3])));
    assert_eq!(h(&a), h(&b), "the same seed, the same hash");
    assert_ne!(h(&a), h(&dp(Some([4, 5, 6]))), "another seed, another hash");
    // None (the default) draws the secrets from the OS: two tables differ.
    assert_ne!(h(&dp(None)), h(&dp(None)));
}
