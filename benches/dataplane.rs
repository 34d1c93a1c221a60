//! Data-plane micro and end-to-end benchmarks (see BENCHMARKS.md).
//!
//! Run: `cargo bench --bench dataplane` (short measurement times; add `-- --quick` for
//! a faster pass, or a filter such as `-- e2e`). Every per-packet benchmark copies a
//! pre-built frame into a reused buffer before working on it (the copy is counted), so
//! rewrites never compound.

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ipnet::Ipv4Net;
use vpcsim::compile::sg::{PeerT, RuleT, SgSet};
use vpcsim::compile::{Lpm, Tables};
use vpcsim::engine::{Mix, Path, Steering, Traffic, TrafficSpec, BENCH_SCENARIO};
use vpcsim::flow::{ConnTable, FlowKey, SnatPorts, Timeouts};
use vpcsim::model::{Direction, SecurityGroupType, SgPolicy, SgProtocol};
use vpcsim::pipeline::{Batch, Dataplane, DataplaneConfig, FlowAction, SnatBinding};
use vpcsim::scenario::Scenario;
use vpcsim::time::SimTime;
use vpcsim::wire::{self, CompiledRewrite, ProbeL4, ProbeSpec, Rewrite, TcpFlags};

fn tcp_frame(i: u32) -> Vec<u8> {
    wire::build(&ProbeSpec {
        src_mac: [2, 0, 0, 0, 0, 1],
        dst_mac: [2, 0, 0, 0, 0, 2],
        src: Ipv4Addr::from(0x0a00_0100 + (i & 0xff)),
        dst: Ipv4Addr::from(0xcb00_7100 + (i >> 8 & 0xff)),
        ttl: 64,
        ident: 1,
        l4: ProbeL4::Tcp {
            sport: 1024 + (i % 60000) as u16,
            dport: 443,
            flags: TcpFlags::ACK,
            seq: 1,
            ack: 1,
        },
        payload: vec![0; 10],
    })
}

fn wire_benches(c: &mut Criterion) {
    let frame = tcp_frame(7);
    let info = wire::parse(&frame).unwrap();
    let rw = CompiledRewrite::compile(
        &info,
        &Rewrite {
            src: Some(Ipv4Addr::new(47, 96, 0, 1)),
            sport: Some(40000),
            ..Default::default()
        },
    );
    let mut g = c.benchmark_group("wire");
    g.throughput(Throughput::Elements(1));
    g.bench_function("parse", |b| b.iter(|| wire::parse(black_box(&frame))));
    let mut buf = frame.clone();
    g.bench_function("rewrite_in_place_with_checksums", |b| {
        b.iter(|| {
            buf.copy_from_slice(&frame);
            rw.apply(black_box(&mut buf), info.l4_offset, info.proto);
        })
    });
    // The floor: what any NAT must do per packet (copy, parse, one precompiled rewrite).
    g.bench_function("floor_copy_parse_rewrite", |b| {
        b.iter(|| {
            buf.copy_from_slice(black_box(&frame));
            if let Ok(i) = wire::parse(&buf) {
                rw.apply(&mut buf, i.l4_offset, i.proto);
            }
        })
    });
    g.finish();
}

fn key(i: u32) -> FlowKey {
    FlowKey {
        src: 0x0a00_0000 ^ i.wrapping_mul(0x9e37_79b9),
        dst: 0xc0a8_0001 + (i & 0xff),
        sport: (i >> 8) as u16 | 1024,
        dport: 443,
        port: 1,
        proto: 6,
    }
}

fn flow_benches(c: &mut Criterion) {
    let frame = tcp_frame(1);
    let info = wire::parse(&frame).unwrap();
    let action = FlowAction {
        deltas: CompiledRewrite::compile(&info, &Rewrite::default())
            .with_ttl_decrement(1)
            .deltas(),
        out: 0,
        hairpin: false,
        jumbo: false,
    };
    let mut g = c.benchmark_group("flow");
    g.throughput(Throughput::Elements(1));
    for n in [4096u32, 1 << 20] {
        let mut t: ConnTable<FlowAction, SnatBinding> =
            ConnTable::with_seed(n as usize, Timeouts::default(), [1, 2, 3]);
        for i in 0..n {
            let k = key(i);
            t.insert(
                k,
                action,
                k.reversed(0),
                action,
                SnatBinding::default(),
                6,
                0x10,
                SimTime::ZERO,
            )
            .unwrap();
        }
        let mut i = 0u32;
        g.bench_function(format!("lookup_hit_{n}"), |b| {
            b.iter(|| {
                i = (i.wrapping_mul(0x0019_660d).wrapping_add(1)) % n;
                black_box(t.lookup(&key(i), SimTime::ZERO))
            })
        });
        g.bench_function(format!("lookup_miss_{n}"), |b| {
            b.iter(|| {
                i = i.wrapping_add(1);
                black_box(t.lookup(&key(i | 0x8000_0000), SimTime::ZERO))
            })
        });
    }
    g.bench_function("snat_port_allocation", |b| {
        b.iter_batched(
            || SnatPorts::new(55_000, 1024..=65535, 0, 1),
            |mut s| {
                for d in 0..64u32 {
                    black_box(s.allocate(1, 6, d, 443, d * 7, |_| false));
                }
                s
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn compile_benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("compile");
    g.throughput(Throughput::Elements(1));
    // 100 rules, the matching one last.
    let mut sg = SgSet {
        kind: Some(SecurityGroupType::Enterprise),
        ..Default::default()
    };
    for r in 0..100u32 {
        sg.rules.push(RuleT {
            direction: Direction::Ingress,
            protocol: SgProtocol::Tcp,
            ports: Some((1000 + r as u16, 1000 + r as u16)),
            peer: PeerT::Cidr(0x0a00_0000 + (r << 8), 0xffff_ff00),
            local: None,
            source_ports: None,
            policy: SgPolicy::Accept,
            priority: 1 + (r % 100) as u8,
            group: "sg-bench".into(),
            text: String::new(),
        });
    }
    sg.sort();
    g.bench_function("sg_evaluate_100_rules", |b| {
        b.iter(|| {
            sg.evaluate(
                Direction::Ingress,
                6,
                black_box(0x0a00_6305),
                black_box(1099),
            )
        })
    });
    let mut lpm = Lpm::new();
    for r in 0..1000u32 {
        let len = [16u8, 20, 24, 28][(r % 4) as usize];
        let net = Ipv4Net::new(Ipv4Addr::from(0x0a00_0000 + (r << 12)), len).unwrap();
        lpm.insert(net, r);
    }
    lpm.insert("0.0.0.0/0".parse().unwrap(), 9999);
    let mut a = 0u32;
    g.bench_function("lpm_lookup_1000_routes", |b| {
        b.iter(|| {
            a = a.wrapping_add(0x0001_3001);
            black_box(lpm.lookup(0x0a00_0000 + (a & 0x03ff_ffff)))
        })
    });
    g.finish();
}

fn e2e_benches(c: &mut Criterion) {
    let sc = Scenario::parse(BENCH_SCENARIO, "bench.toml").unwrap();
    let tables: Arc<Tables> = Tables::compile(&sc.state_after(sc.steps.len()), 1);
    let base = DataplaneConfig {
        conntrack_capacity: 1 << 14,
        ..Default::default()
    };
    let st = Steering::new(&tables, 1);
    let mut g = c.benchmark_group("e2e");
    g.throughput(Throughput::Elements(1));
    for path in [Path::EipEgress, Path::Snat, Path::Dnat, Path::EastWest] {
        let traffic = Traffic::generate(
            &tables,
            &base,
            &st,
            &TrafficSpec {
                flows: 4096,
                packets: 8192,
                mix: Mix(vec![(path, 1)]),
                frame_len: 64,
            },
        );
        // Established: replay both directions of 4,096 installed flows.
        let mut dp = Dataplane::new(Arc::clone(&tables), base.clone());
        let mut buf = vec![0u8; 2048];
        for &i in &traffic.new_flows {
            let f = traffic.frame(i);
            buf[..f.len()].copy_from_slice(f);
            dp.process(
                &mut buf[..f.len()],
                traffic.packets[i as usize].ingress,
                SimTime::ZERO,
                None,
            );
        }
        let mut k = 0usize;
        g.bench_function(format!("{}_established", path.name()), |b| {
            b.iter(|| {
                let i = traffic.established[k % traffic.established.len()];
                k += 1;
                let f = traffic.frame(i);
                let b2 = &mut buf[..f.len()];
                b2.copy_from_slice(f);
                black_box(dp.process(b2, traffic.packets[i as usize].ingress, SimTime::ZERO, None))
            })
        });
        // First packet: slow path + install into a fresh table, per flow.
        g.bench_function(format!("{}_first_packet", path.name()), |b| {
            b.iter_batched_ref(
                || {
                    Dataplane::new(
                        Arc::clone(&tables),
                        DataplaneConfig {
                            conntrack_capacity: 8192,
                            ..base.clone()
                        },
                    )
                },
                |dp| {
                    for &i in traffic.new_flows.iter().take(256) {
                        let f = traffic.frame(i);
                        let b2 = &mut buf[..f.len()];
                        b2.copy_from_slice(f);
                        black_box(dp.process(
                            b2,
                            traffic.packets[i as usize].ingress,
                            SimTime::ZERO,
                            None,
                        ));
                    }
                },
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

/// The established path over all forwarding paths, one frame at a time (`process`)
/// against a batch at a time (`process_batch`), at 4,096 and 1M flows: the batch
/// prefetches its flow-table slots, which matters once the table leaves the cache.
fn batch_benches(c: &mut Criterion) {
    let sc = Scenario::parse(BENCH_SCENARIO, "bench.toml").unwrap();
    let tables: Arc<Tables> = Tables::compile(&sc.state_after(sc.steps.len()), 1);
    let st = Steering::new(&tables, 1);
    let mix = Mix(vec![
        (Path::EipEgress, 1),
        (Path::EipIngress, 1),
        (Path::Snat, 1),
        (Path::Dnat, 1),
        (Path::EastWest, 1),
    ]);
    let mut g = c.benchmark_group("batch");
    for flows in [4096usize, 1 << 20] {
        let base = DataplaneConfig {
            conntrack_capacity: (flows * 2).max(1 << 14),
            ..Default::default()
        };
        let traffic = Traffic::generate(
            &tables,
            &base,
            &st,
            &TrafficSpec {
                flows,
                packets: 1 << 16,
                mix: mix.clone(),
                frame_len: 64,
            },
        );
        let mut dp = Dataplane::new(Arc::clone(&tables), base.clone());
        let mut buf = vec![0u8; 2048];
        for &i in &traffic.new_flows {
            let f = traffic.frame(i);
            buf[..f.len()].copy_from_slice(f);
            dp.process(
                &mut buf[..f.len()],
                traffic.packets[i as usize].ingress,
                SimTime::ZERO,
                None,
            );
        }
        let est = &traffic.established;
        const N: usize = 256;
        g.throughput(Throughput::Elements(N as u64));
        let mut k = 0usize;
        g.bench_function(format!("process_x{N}_{flows}_flows"), |b| {
            b.iter(|| {
                for _ in 0..N {
                    let i = est[k % est.len()];
                    k += 1;
                    let f = traffic.frame(i);
                    let b2 = &mut buf[..f.len()];
                    b2.copy_from_slice(f);
                    black_box(dp.process(
                        b2,
                        traffic.packets[i as usize].ingress,
                        SimTime::ZERO,
                        None,
                    ));
                }
            })
        });
        let mut batch = Batch::new();
        for n in [32usize, 64, 256] {
            g.bench_function(format!("process_batch_{n}_{flows}_flows"), |b| {
                b.iter(|| {
                    for _ in 0..N / n {
                        batch.clear();
                        for _ in 0..n {
                            let i = est[k % est.len()];
                            k += 1;
                            let at = traffic.packets[i as usize].ingress;
                            batch.push(traffic.frame(i), at, SimTime::ZERO);
                        }
                        dp.process_batch(&mut batch);
                        black_box(batch.dispositions());
                    }
                })
            });
        }
    }
    g.finish();
}

fn short() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(20)
}

criterion_group! {
    name = benches;
    config = short();
    targets = wire_benches, flow_benches, compile_benches, e2e_benches, batch_benches
}
criterion_main!(benches);
