//! `vpcsim serve`: the in-process time of one trace request, the number to compare with
//! the ovn-trace daemon's ~0.13 ms per question over its socket.
//!
//! Run: `cargo bench --bench serve` (add `-- --quick` for a short run). The whole line
//! as `vpcsim serve` answers it (typed answer written straight to bytes), the whole line
//! through a `Value`, the request already parsed, the probe alone (the server's data
//! plane reset, one SYN through it), the probe on a new data plane with its sender
//! resolved again (what each question cost before the data plane was reused), and the
//! request parse alone.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use vpcsim::cli::serve::{parse_request, Server};
use vpcsim::scenario::Scenario;

const LINE: &[u8] = br#"{"id":1,"op":"trace","from":"i-web","to":"203.0.113.80:443"}"#;

fn serve(c: &mut Criterion) {
    let sc = Scenario::load(None).expect("built-in scenario");
    let n = sc.steps.len();
    let mut server = Server::new(sc, n);
    let mut g = c.benchmark_group("serve_trace");
    g.bench_function("line_to_json_text", |b| {
        b.iter(|| {
            let doc = server.handle_line(black_box(LINE));
            black_box(serde_json::to_string(&doc).unwrap_or_default())
        })
    });
    let mut out = Vec::with_capacity(4096);
    g.bench_function("line_to_bytes_typed", |b| {
        b.iter(|| {
            out.clear();
            let _ = server.answer_line(black_box(LINE), &mut out);
            black_box(out.len())
        })
    });
    let req = parse_request(LINE).1.expect("a valid request");
    g.bench_function("parsed_request_to_document", |b| {
        b.iter(|| black_box(server.handle(black_box(&req))))
    });
    g.bench_function("probe_only", |b| {
        b.iter(|| black_box(server.probe_only(black_box("i-web"), black_box("203.0.113.80:443"))))
    });
    g.bench_function("probe_only_fresh_dataplane", |b| {
        b.iter(|| {
            black_box(server.probe_only_fresh(black_box("i-web"), black_box("203.0.113.80:443")))
        })
    });
    g.bench_function("parse_only", |b| {
        b.iter(|| black_box(parse_request(black_box(LINE))))
    });
    g.finish();
}

criterion_group!(benches, serve);
criterion_main!(benches);
