//! `replay` sends frames through `Dataplane::process_batch`, up to `BATCH_MAX` at a time
//! (issue 16 part 6). Whatever the batch size, the summary, the output capture and the
//! hop-by-hop capture are those of one frame at a time: on every case of the pcap suite,
//! on all of them merged into one stream with damaged records and long gaps (conntrack
//! sweeps) between them, and when the output fails part way.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use vpcsim::capture::Capture;
use vpcsim::compile::Tables;
use vpcsim::pcapio::{CaptureReader, PcapError, Record};
use vpcsim::pipeline::{Dataplane, DataplaneConfig, Ingress, BATCH_MAX};
use vpcsim::replay::{self, Merge, Output, ReplaySummary};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("pcaps")
}

/// A writer that fails once it holds `limit` bytes ("disk full").
struct FailAfter {
    limit: usize,
    buf: Vec<u8>,
}

impl Write for FailAfter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.buf.len() + data.len() > self.limit {
            return Err(io::Error::other("disk full"));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A classic Ethernet pcap of (captured bytes, original length, seconds) records.
fn pcap(records: &[(Vec<u8>, u32, u32)]) -> Vec<u8> {
    let mut b = vec![];
    b.extend_from_slice(&0xA1B2_C3D4u32.to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&4u16.to_le_bytes());
    b.extend_from_slice(&[0; 8]);
    b.extend_from_slice(&65535u32.to_le_bytes());
    b.extend_from_slice(&1u32.to_le_bytes());
    for (data, orig, secs) in records {
        b.extend_from_slice(&secs.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&(data.len() as u32).to_le_bytes());
        b.extend_from_slice(&orig.to_le_bytes());
        b.extend_from_slice(data);
    }
    b
}

/// Every input of the pcap suite as (injection point, capture bytes, time shift in s).
fn suite_inputs() -> Vec<(String, Vec<u8>, u64)> {
    let suite: toml::Value =
        toml::from_str(&std::fs::read_to_string(dir().join("suite.toml")).unwrap()).unwrap();
    let mut v = Vec::new();
    for (k, case) in suite["case"].as_array().unwrap().iter().enumerate() {
        assert_eq!(case["scenario"].as_str(), Some("topology.toml"));
        for input in case["input"].as_array().unwrap() {
            let bytes = std::fs::read(dir().join(input["pcap"].as_str().unwrap())).unwrap();
            // Cases far apart in time: the clock crosses conntrack sweeps between them.
            v.push((
                input["at"].as_str().unwrap().to_string(),
                bytes,
                150 * k as u64,
            ));
        }
    }
    v
}

/// Records that never reach the data plane, between good ones: a zero-length record and
/// one cut by the snap length.
fn damaged_input(t0: u32) -> (String, Vec<u8>, u64) {
    let good = CaptureReader::open(&dir().join("eip-egress.in.i-web.pcap"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .data;
    let records = vec![
        (good.clone(), good.len() as u32, t0),
        (vec![], 0, t0 + 1),
        (good[..30].to_vec(), good.len() as u32, t0 + 2),
        (good.clone(), good.len() as u32, t0 + 3),
    ];
    ("i-web".to_string(), pcap(&records), 0)
}

struct Run {
    summary: ReplaySummary,
    output: Vec<u8>,
    capture: Vec<u8>,
}

fn run(inputs: &[(String, Vec<u8>, u64)], batch: usize, out_limit: usize) -> Run {
    let sc = vpcsim::scenario::Scenario::load(Some(&dir().join("topology.toml"))).unwrap();
    let t = Tables::compile(&sc.state_after(sc.steps.len()), 1);
    type Shifted = Box<dyn Iterator<Item = Result<Record, PcapError>>>;
    let readers: Vec<(Ingress, Shifted)> = inputs
        .iter()
        .map(|(at, bytes, shift)| {
            let at = replay::parse_at(at, &t).unwrap();
            let shift = shift * 1_000_000_000;
            let r = CaptureReader::from_bytes(bytes.clone()).unwrap();
            let r: Shifted = Box::new(r.map(move |rec| {
                rec.map(|mut rec| {
                    rec.ts_nanos += shift;
                    rec
                })
            }));
            (at, r)
        })
        .collect();
    let mut dp = Dataplane::new(Arc::clone(&t), DataplaneConfig::default());
    let sink = FailAfter {
        limit: out_limit,
        buf: Vec::new(),
    };
    let mut out = Output::new(sink, false).unwrap();
    let mut capture = Capture::new(Vec::new()).unwrap();
    let summary = replay::replay_batched(
        &mut dp,
        Merge::new(readers),
        &mut out,
        Some(&mut capture),
        |_| {},
        batch,
    );
    let output = match out.into_inner() {
        Ok(w) => w.buf,
        Err(_) => Vec::new(),
    };
    Run {
        summary,
        output,
        capture: capture.into_inner().unwrap(),
    }
}

fn assert_same(a: &Run, b: &Run, what: &str) {
    assert_eq!(a.summary, b.summary, "{what}: summaries differ");
    assert!(a.output == b.output, "{what}: output captures differ");
    assert!(a.capture == b.capture, "{what}: hop captures differ");
}

#[test]
fn every_suite_case_replays_alike_one_frame_or_a_batch_at_a_time() {
    for input in suite_inputs() {
        let inputs = [input];
        let one = run(&inputs, 1, usize::MAX);
        assert!(one.summary.injected > 0, "{}", inputs[0].0);
        for batch in [2, 7, BATCH_MAX] {
            let many = run(&inputs, batch, usize::MAX);
            assert_same(&one, &many, &format!("{} batch {batch}", inputs[0].0));
        }
    }
}

#[test]
fn the_whole_suite_merged_with_damaged_records_and_sweeps_replays_alike() {
    let mut inputs = suite_inputs();
    inputs.push(damaged_input(1_700_000_000));
    let one = run(&inputs, 1, usize::MAX);
    let s = &one.summary;
    // The stream exercises what the batch must keep in order.
    assert!(s.injected > 30, "{s:?}");
    assert!(s.capture_issues.zero_length == 1 && s.capture_issues.snap_cut == 1);
    assert!(s.dropped > 0 && s.delivered > 0 && s.internet > 0 && s.icmp_generated > 0);
    assert!(
        s.duration_secs > 1000.0,
        "sweeps happen: {}",
        s.duration_secs
    );
    for batch in [3, 64, BATCH_MAX] {
        assert_same(
            &one,
            &run(&inputs, batch, usize::MAX),
            &format!("batch {batch}"),
        );
    }
}

#[test]
fn an_output_that_fails_part_way_stops_the_replay_at_the_same_frame_whatever_the_batch() {
    let inputs = suite_inputs();
    let whole = run(&inputs, 1, usize::MAX);
    // A pcap header is 24 bytes, each record 16 + its length: stop inside the output.
    let limit = whole.output.len() / 2;
    let one = run(&inputs, 1, limit);
    let e = one.summary.error.as_ref().expect("the output fails");
    assert_eq!(e.kind, "output");
    assert!(one.summary.packets_read < whole.summary.packets_read);
    assert!(one.summary.written < whole.summary.written);
    for batch in [5, BATCH_MAX] {
        assert_same(&one, &run(&inputs, batch, limit), &format!("batch {batch}"));
    }
}
