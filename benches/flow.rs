//! Connection-table hot path: lookup hit/miss at 4k and 1M flows (one at a time, and a
//! burst of 32 hashed and prefetched first, as the batch path will do), and insert.
//!
//! Run: `cargo bench --bench flow` (add `-- --quick` for a short run). Hits walk the
//! installed keys in a shuffled order so the 1M case pays its real cache misses.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use vpcsim::flow::{ConnTable, FlowKey, Timeouts};
use vpcsim::time::SimTime;

/// A 16-byte cached action, the size the engine uses.
type Action = [u32; 4];

fn key(i: u32) -> FlowKey {
    FlowKey {
        src: 0x0a00_0000 ^ i.wrapping_mul(0x9e37_79b9),
        dst: 0xc0a8_0001 + (i & 0xff),
        sport: (i >> 8) as u16 | 1024,
        dport: 443,
        port: (i & 7) as u16,
        proto: 6,
    }
}

fn shuffled(n: u32) -> Vec<FlowKey> {
    let mut v: Vec<u32> = (0..n).collect();
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for i in (1..v.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.swap(i, (x % (i as u64 + 1)) as usize);
    }
    v.into_iter().map(key).collect()
}

fn filled(n: u32) -> ConnTable<Action, u32> {
    let mut t = ConnTable::with_seed(n as usize, Timeouts::default(), [1, 2, 3]);
    for i in 0..n {
        let k = key(i);
        t.insert(
            k,
            [i; 4],
            k.reversed(100),
            [!i; 4],
            i,
            6,
            0x10,
            SimTime::ZERO,
        )
        .unwrap();
    }
    t
}

fn lookups(c: &mut Criterion) {
    for (name, n) in [("4k", 4096u32), ("1M", 1 << 20)] {
        let t = filled(n);
        eprintln!(
            "flows={name}: {:.1} bytes/connection (record {} B)",
            t.bytes_per_connection(),
            ConnTable::<Action, u32>::record_size()
        );
        let hits = shuffled(n);
        // Same tuples at an observation port nobody uses: guaranteed misses.
        let misses: Vec<FlowKey> = hits.iter().map(|k| FlowKey { port: 999, ..*k }).collect();
        let now = SimTime::from_secs(1);
        let mut g = c.benchmark_group(format!("lookup/{name}"));
        g.throughput(Throughput::Elements(1));
        let mut i = 0usize;
        g.bench_function("hit", |b| {
            b.iter(|| {
                i = if i + 1 == hits.len() { 0 } else { i + 1 };
                black_box(t.lookup(black_box(&hits[i]), now)).unwrap()
            })
        });
        let mut i = 0usize;
        g.bench_function("miss", |b| {
            b.iter(|| {
                i = if i + 1 == misses.len() { 0 } else { i + 1 };
                black_box(t.lookup(black_box(&misses[i]), now))
            })
        });
        // The batch path: hash a burst of 32 keys, prefetch their buckets, then look
        // them up, so the index misses of the burst overlap (reported per lookup).
        const BURST: usize = 32;
        g.throughput(Throughput::Elements(BURST as u64));
        let mut i = 0usize;
        g.bench_function("hit_burst32_prefetched", |b| {
            b.iter(|| {
                if i + BURST > hits.len() {
                    i = 0;
                }
                let keys = &hits[i..i + BURST];
                i += BURST;
                let mut hs = [0u64; BURST];
                for (h, k) in hs.iter_mut().zip(keys) {
                    *h = t.hash(k);
                    t.prefetch(*h);
                }
                let mut sum = 0u32;
                for (h, k) in hs.iter().zip(keys) {
                    sum = sum.wrapping_add(t.lookup_hashed(k, *h, now).unwrap().conn.index());
                }
                black_box(sum)
            })
        });
        g.finish();
    }
}

fn inserts(c: &mut Criterion) {
    let n = 1u32 << 16;
    let mut g = c.benchmark_group("insert");
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("64k_into_empty_64k_table", |b| {
        b.iter_batched_ref(
            || ConnTable::<Action, u32>::with_seed(n as usize, Timeouts::default(), [1, 2, 3]),
            |t| {
                for i in 0..n {
                    let k = key(i);
                    t.insert(
                        k,
                        [i; 4],
                        k.reversed(100),
                        [!i; 4],
                        i,
                        6,
                        0x02,
                        SimTime::ZERO,
                    )
                    .unwrap();
                }
            },
            BatchSize::LargeInput,
        )
    });
    // Steady state under a SYN flood: every insert evicts the oldest half-open entry.
    g.throughput(Throughput::Elements(1));
    let mut t = ConnTable::<Action, u32>::with_seed(4096, Timeouts::default(), [1, 2, 3]);
    let mut i = 0u32;
    g.bench_function("evicting_insert_4k_full", |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            let k = key(i);
            t.insert(
                k,
                [i; 4],
                k.reversed(100),
                [i; 4],
                i,
                6,
                0x02,
                SimTime::ZERO,
            )
            .unwrap();
        })
    });
    g.finish();
}

criterion_group!(benches, lookups, inserts);
criterion_main!(benches);
