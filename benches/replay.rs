//! `replay` one frame at a time against a batch at a time (issue 16 part 6): 64k 64-byte
//! UDP frames over 4,096 flows from i-web to 8.8.8.8:53 through the engine's bench
//! scenario, read from an in-memory capture, written to an in-memory capture.
//!
//!     cargo bench --bench replay

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use vpcsim::capture::Capture;
use vpcsim::compile::Tables;
use vpcsim::engine::BENCH_SCENARIO;
use vpcsim::pcapio::{CaptureReader, PcapWriter};
use vpcsim::pipeline::{Dataplane, DataplaneConfig, BATCH_MAX};
use vpcsim::replay::{self, Merge, Output};
use vpcsim::scenario::Scenario;
use vpcsim::wire::{self, ProbeL4, ProbeSpec};

const PACKETS: u64 = 1 << 16;
const FLOWS: u64 = 4096;

fn capture() -> Vec<u8> {
    let frames: Vec<Vec<u8>> = (0..FLOWS)
        .map(|f| {
            wire::build(&ProbeSpec {
                src_mac: [0x02, 0, 0, 0, 0, 1],
                dst_mac: [0xee, 0xff, 0xff, 0xff, 0xff, 0xff],
                src: Ipv4Addr::new(10, 0, 1, 10),
                dst: Ipv4Addr::new(8, 8, 8, 8),
                ttl: 64,
                ident: 0,
                l4: ProbeL4::Udp {
                    sport: 1024 + f as u16,
                    dport: 53,
                },
                payload: vec![0; 22],
            })
        })
        .collect();
    let mut w = PcapWriter::new(Vec::new()).unwrap();
    for i in 0..PACKETS {
        w.write_packet(
            1_700_000_000_000_000_000 + i * 1000,
            &frames[(i % FLOWS) as usize],
        )
        .unwrap();
    }
    w.into_inner().unwrap()
}

fn replay_benches(c: &mut Criterion) {
    let sc = Scenario::parse(BENCH_SCENARIO, "bench.toml").unwrap();
    let t: Arc<Tables> = Tables::compile(&sc.state_after(sc.steps.len()), 1);
    let at = replay::parse_at("i-web", &t).unwrap();
    let bytes = capture();
    let mut g = c.benchmark_group("replay");
    g.throughput(Throughput::Elements(PACKETS));
    for batch in [1, BATCH_MAX] {
        g.bench_function(format!("batch_{batch}"), |b| {
            b.iter_batched(
                || CaptureReader::from_bytes(bytes.clone()).unwrap(),
                |reader| {
                    let mut dp = Dataplane::new(Arc::clone(&t), DataplaneConfig::default());
                    let mut out = Output::new(Vec::with_capacity(bytes.len()), false).unwrap();
                    let s = replay::replay_batched(
                        &mut dp,
                        Merge::new(vec![(at, reader)]),
                        &mut out,
                        None::<&mut Capture<Vec<u8>>>,
                        |_| {},
                        batch,
                    );
                    assert_eq!(s.written, PACKETS);
                    black_box(out.into_inner().unwrap().len())
                },
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20);
    targets = replay_benches
}
criterion_main!(benches);
