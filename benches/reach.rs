//! `exposure` at scale (issue 14, part 5): a generated VPC of 1,000 instances, 50
//! security groups of 20 rules, a NAT gateway with 100 DNAT entries and 100 instance
//! EIPs; every class of Internet traffic to every public address, one probe each, on
//! one thread.
//!
//! Run: `cargo bench --bench reach` (BENCHMARKS.md has the figure and the class count).

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use vpcsim::compile::Tables;
use vpcsim::reach::exposure::exposure;
use vpcsim::reach::scale::generated_vpc;
use vpcsim::scenario::Scenario;

fn bench(c: &mut Criterion) {
    let src = generated_vpc(1000, 50, 20, 100);
    let sc = Scenario::parse(&src, "generated.toml").expect("the generated VPC is valid");
    let t = Tables::compile(&sc.initial, 1);
    let x = exposure(&t);
    let entries: usize = x.exposed.iter().map(|e| e.entries.len()).sum();
    eprintln!(
        "generated VPC: {} public addresses, {} probe classes sent, {} exposed addresses, {entries} ways in",
        x.public_addresses,
        x.probes,
        x.exposed.len()
    );
    let mut g = c.benchmark_group("exposure");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.bench_function("1000 instances, 50 SGs x 20 rules, 100 DNAT", |b| {
        b.iter(|| black_box(exposure(black_box(&t))))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
