//! Fuzzing harnesses: one function per untrusted input vpcsim takes (a frame, a frame
//! through the whole pipeline, a capture file, a scenario file).
//!
//! They live in the library, not in `fuzz/`, so that `tests/fuzz_corpus.rs` replays the
//! committed corpus through exactly the code the fuzzer ran, on every `cargo test`, with
//! stable Rust. Each harness must never panic; besides "no panic" they assert a few
//! invariants, so the fuzzer also finds wrong answers, not only crashes:
//!
//! * a frame that parses has in-bounds offsets, and rewriting it keeps it parseable;
//! * a frame the pipeline forwards still parses, and if its checksums were valid on the
//!   way in they are valid on the way out (incremental updates never corrupt them);
//! * a capture reader ends after at most one error;
//! * a scenario that parses builds compilable tables.
//!
//! Scenario 0 (selector bits 5-6 = 0) is the built-in default; 1 is `pcaps/topology.toml`.
//!
//! See docs/FUZZING.md for how to run a session.

use std::sync::{Arc, OnceLock};

use crate::compile::Tables;
use crate::pcapio::CaptureReader;
use crate::pipeline::{Dataplane, DataplaneConfig, Disposition, FragLimits, Ingress};
use crate::scenario::Scenario;
use crate::time::SimTime;
use crate::wire::{self, Rewrite};

/// The scenarios [`pipeline`] can pick, each in its state after all its steps: the
/// built-in default, and the topology of the pcap regression suite (`pcaps/`, every
/// path of SEMANTICS.md §3). Add new `pcaps/*.toml` scenarios here.
fn scenarios() -> &'static [Arc<Tables>] {
    static TABLES: OnceLock<Vec<Arc<Tables>>> = OnceLock::new();
    TABLES.get_or_init(|| {
        let sources: &[(&str, &str)] = &[
            (
                crate::scenario::DEFAULT_SCENARIO,
                crate::scenario::DEFAULT_NAME,
            ),
            (
                include_str!("../pcaps/topology.toml"),
                "pcaps/topology.toml",
            ),
        ];
        sources
            .iter()
            .map(|(src, name)| {
                let sc = Scenario::parse(src, name).expect("built-in scenario parses");
                Tables::compile(&sc.state_after(sc.steps.len()), 1)
            })
            .collect()
    })
}

/// The ingresses of a table set: the Internet, each instance's guest, each ENI.
fn ingresses(t: &Tables) -> usize {
    1 + t.instances.len() + t.enis.len()
}

fn ingress(t: &Tables, k: usize) -> Ingress {
    let k = k % ingresses(t);
    if k == 0 {
        Ingress::Internet
    } else if k <= t.instances.len() {
        Ingress::Guest((k - 1) as u16)
    } else {
        Ingress::Eni((k - 1 - t.instances.len()) as u16)
    }
}

/// Makes a mutated frame's checksums right again (IPv4 header, and TCP/UDP/ICMP of a
/// whole datagram), so the fuzzer gets past `parse`'s checksum check instead of spending
/// its time on frames every router drops.
pub fn fix_checksums(f: &mut [u8]) {
    use crate::wire::checksum::{checksum, fold, sum16};
    if f.len() < 34 || f[12..14] != [0x08, 0x00] {
        return;
    }
    let ihl = usize::from(f[14] & 0x0f) * 4;
    if ihl < 20 || f.len() < 14 + ihl {
        return;
    }
    f[24] = 0;
    f[25] = 0;
    let c = checksum(&f[14..14 + ihl]);
    f[24..26].copy_from_slice(&c.to_be_bytes());
    let total = usize::from(u16::from_be_bytes([f[16], f[17]]));
    let frag = u16::from_be_bytes([f[20], f[21]]);
    if frag & 0x3fff != 0 || total < ihl || 14 + total > f.len() {
        return;
    }
    let (l4s, end) = (14 + ihl, 14 + total);
    let proto = f[23];
    let at = match proto {
        6 => 16,
        17 => 6,
        1 => 2,
        _ => return,
    };
    if end < l4s + at + 2 {
        return;
    }
    f[l4s + at] = 0;
    f[l4s + at + 1] = 0;
    let l4_len = (end - l4s) as u32;
    let mut sum = sum16(&f[l4s..end]);
    if proto != 1 {
        sum += sum16(&f[26..34]) + u32::from(proto) + l4_len;
    }
    let c = !fold(sum);
    let c = if proto == 17 && c == 0 { 0xffff } else { c };
    f[l4s + at..l4s + at + 2].copy_from_slice(&c.to_be_bytes());
}

/// One frame through `wire`: parse, and when it parses, every rewrite and accessor;
/// then the same with its checksums fixed.
pub fn frame(data: &[u8]) {
    frame_once(data);
    let mut fixed = data.to_vec();
    fix_checksums(&mut fixed);
    frame_once(&fixed);
}

fn frame_once(data: &[u8]) {
    let Ok(info) = wire::parse(data) else {
        return;
    };
    assert!(info.l4_offset <= data.len(), "L4 offset past the frame");
    assert!(info.ip_end() <= data.len(), "IPv4 end past the frame");
    let _ = wire::checksums_valid(data);
    let mut buf = data.to_vec();
    let rw = Rewrite {
        src: Some([192, 0, 2, 1].into()),
        dst: Some([198, 51, 100, 2].into()),
        sport: Some(4242),
        dport: Some(80),
    };
    let before = wire::checksums_valid(data).is_ok();
    let i2 = wire::apply(&mut buf, &info, &rw);
    let i3 = wire::apply_inner(&mut buf, &i2, &rw);
    let _ = wire::decrement_ttl(&mut buf, &i3);
    let again = wire::parse(&buf);
    assert!(
        again.is_ok() || info.ttl <= 1,
        "a rewrite made a parseable frame unparseable: {again:?}"
    );
    let mut buf2 = data.to_vec();
    let c = wire::CompiledRewrite::compile(&info, &rw);
    c.apply(&mut buf2, info.l4_offset, info.proto);
    if before && !info.is_fragment() {
        let mut buf3 = data.to_vec();
        let _ = wire::apply(&mut buf3, &info, &rw);
        if let Err(e) = wire::checksums_valid(&buf3) {
            panic!("rewrite broke a valid checksum: {e}");
        }
    }
}

/// One frame through the whole pipeline. `data[0]` picks the ingress (bits 0-4), the
/// scenario (bits 5-6) and whether to fix the frame's checksums first (bit 7, see
/// [`fix_checksums`]); the rest is the frame. The frame is sent twice (the second copy
/// takes the fast path if the first installed a flow), then once more after every
/// timeout expired.
pub fn pipeline(data: &[u8]) {
    let Some((&sel, frame)) = data.split_first() else {
        return;
    };
    let mut owned;
    let frame = if sel & 0x80 != 0 {
        owned = frame.to_vec();
        fix_checksums(&mut owned);
        &owned[..]
    } else {
        frame
    };
    let all = scenarios();
    let tables = &all[usize::from((sel >> 5) & 3) % all.len()];
    let at = ingress(tables, usize::from(sel & 0x1f));
    let mut dp = Dataplane::new(
        Arc::clone(tables),
        DataplaneConfig {
            conntrack_capacity: 64,
            ..Default::default()
        },
    );
    let valid_in = wire::checksums_valid(frame).is_ok();
    for (n, t) in [(0u8, 0u64), (1, 1), (2, 100_000)] {
        let now = SimTime::from_secs(t);
        if n == 2 {
            dp.expire(now);
        }
        let mut buf = frame.to_vec();
        let mut trace = crate::pipeline::Trace::default();
        let out = dp.process(&mut buf, at, now, Some(&mut trace));
        let mut emitted: Vec<&[u8]> = Vec::new();
        if !matches!(out.disposition, Disposition::Dropped(_) | Disposition::Held) {
            if out.fragments.is_empty() {
                emitted.push(&buf);
            }
            emitted.extend(out.fragments.iter().map(|f| &f[..]));
        }
        for (r, d) in &out.released {
            assert!(
                !matches!(d, Disposition::Dropped(_) | Disposition::Held),
                "a released fragment marked {d:?}"
            );
            emitted.push(r);
        }
        for (g, _) in &out.generated {
            assert!(
                wire::parse(g).is_ok() || wire::parse_arp(g).is_some(),
                "a generated packet does not parse"
            );
        }
        for b in emitted {
            assert!(
                wire::parse(b).is_ok(),
                "a forwarded frame does not parse: {:?}",
                trace.lines()
            );
            if valid_in {
                if let Err(e) = wire::checksums_valid(b) {
                    panic!("checksums valid in, invalid out ({e}): {:?}", trace.lines());
                }
            }
        }
        assert!(dp.connections() <= 64, "conntrack over capacity");
        assert!(
            dp.fragments().held_bytes() <= FragLimits::default().max_held_bytes,
            "fragment buffers over their limit"
        );
    }
}

/// A capture file (pcap or pcapng): read every record; at most one error, then the end.
pub fn capture(data: &[u8]) {
    let Ok(reader) = CaptureReader::from_bytes(data.to_vec()) else {
        return;
    };
    let _ = reader.format();
    let _ = reader.snaplen();
    let mut errors = 0;
    let mut n = 0usize;
    for r in reader {
        match r {
            Ok(rec) => {
                assert_eq!(errors, 0, "a record after an error");
                assert!(
                    rec.data.len() <= data.len(),
                    "a record longer than the file"
                );
                let _ = rec.issue();
                let _ = wire::parse(&rec.data);
            }
            Err(e) => {
                let _ = e.to_string();
                errors += 1;
            }
        }
        n += 1;
        assert!(n <= data.len() + 1, "more records than bytes");
    }
    assert!(errors <= 1, "more than one error");
}

/// A scenario file: parse it; if it parses, run it and compile its tables.
pub fn scenario(data: &[u8]) {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(sc) = Scenario::parse(src, "fuzz.toml") else {
        return;
    };
    // Bound the work per input: a fuzzer can write many steps.
    if sc.steps.len() > 64 || sc.checks.len() > 64 {
        return;
    }
    let _ = Tables::compile(&sc.initial, 1);
    let _ = crate::scenario::run_scenario(&sc);
}

/// A `vpcsim serve` request line: parsed and answered against the built-in scenario.
/// Any line gets exactly one JSON object in the envelope (an answer or an error
/// document), never a panic.
pub fn serve_request(data: &[u8]) {
    static SCENARIO: OnceLock<Scenario> = OnceLock::new();
    let sc = SCENARIO.get_or_init(|| Scenario::load(None).expect("the built-in scenario loads"));
    let (_, parsed) = crate::cli::serve::parse_request(data);
    // Egress probes every address: fine, but bound the work per input to the parse
    // plus one question.
    let mut server = crate::cli::serve::Server::new(sc.clone(), sc.steps.len());
    let answer = server.handle_line(data);
    assert_eq!(answer["vpcsim"], 1, "not in the envelope: {answer}");
    assert!(
        parsed.is_ok() || answer.get("error").is_some(),
        "a request that does not parse must get an error document: {answer}"
    );
}
