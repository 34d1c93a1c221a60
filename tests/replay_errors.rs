//! Bad captures: a clear error (exit 2, record and offset named) or a counted per-packet
//! drop — never a panic — and the output written so far stays a valid capture.

use std::path::{Path, PathBuf};
use std::process::Command;

use vpcsim::compile::Tables;
use vpcsim::pcapio::{CaptureReader, PcapError};
use vpcsim::pipeline::Ingress;
use vpcsim::replay::{self, ReplaySummary};

mod support;
use support::pcap;

fn pcaps() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("pcaps")
}

fn good_frames() -> Vec<Vec<u8>> {
    CaptureReader::open(&pcaps().join("eip-egress.in.i-web.pcap"))
        .unwrap()
        .map(|r| r.unwrap().data)
        .collect()
}

fn whole(frames: &[Vec<u8>]) -> Vec<(Vec<u8>, u32)> {
    frames.iter().map(|f| (f.clone(), f.len() as u32)).collect()
}

/// Replays in-memory capture bytes from i-web; returns the summary and output packets.
fn run(bytes: Vec<u8>) -> Result<(ReplaySummary, Vec<Vec<u8>>), PcapError> {
    let sc = vpcsim::scenario::Scenario::load(Some(&pcaps().join("topology.toml"))).unwrap();
    let t = Tables::compile(&sc.state_after(0), 1);
    let reader = CaptureReader::from_bytes(bytes)?;
    let at = replay::parse_at("i-web", &t).unwrap();
    assert_eq!(at, Ingress::Guest(t.instance_index["i-web"]));
    let (s, out) = support::replay_inputs(&t, vec![(at, reader)]);
    // Whatever happened, the output is a valid capture holding what was written.
    let packets = support::packets(out);
    assert_eq!(packets.len() as u64, s.written);
    Ok((s, packets))
}

#[test]
fn truncated_capture_stops_with_the_record_named_and_keeps_the_output() {
    let f = good_frames();
    let mut bytes = pcap(1, &whole(&f));
    bytes.truncate(bytes.len() - 10);
    let (s, out) = run(bytes).unwrap();
    let e = s.error.expect("an error");
    assert_eq!(e.kind, "capture");
    // Records count from 1, as Wireshark does: the second one is cut.
    assert!(e.message.contains("truncated at record 2"), "{}", e.message);
    assert_eq!((s.packets_read, out.len()), (1, 1));
}

#[test]
fn wrong_magic_is_refused_with_the_accepted_magics() {
    let e = run(b"GIF89a\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0".to_vec()).unwrap_err();
    assert!(matches!(e, PcapError::BadMagic { .. }));
    assert!(e.to_string().contains("accepted magics"));
}

#[test]
fn link_types_vpcsim_does_not_read_are_refused_by_name() {
    let f = good_frames();
    for (lt, name) in [(105, "Wi-Fi"), (0, "NULL"), (9, "PPP")] {
        let e = run(pcap(lt, &whole(&f))).unwrap_err();
        assert!(matches!(e, PcapError::UnsupportedLinkType { link_type, .. } if link_type == lt));
        assert!(e.to_string().contains(name), "{e}");
        assert!(e.to_string().contains("Linux cooked v1 (113)"), "{e}");
    }
}

#[test]
fn snap_cut_and_zero_length_records_are_counted_drops() {
    let f = good_frames();
    let records = vec![
        (f[0][..40].to_vec(), f[0].len() as u32),
        (vec![], 60),
        (f[0].clone(), f[0].len() as u32),
    ];
    let (s, out) = run(pcap(1, &records)).unwrap();
    assert!(s.error.is_none());
    assert_eq!(s.packets_read, 3);
    assert_eq!(
        (s.capture_issues.snap_cut, s.capture_issues.zero_length),
        (1, 1)
    );
    assert_eq!(s.drop_reasons.get(replay::SNAP_CUT), Some(&1));
    assert_eq!(s.drop_reasons.get(replay::ZERO_LENGTH), Some(&1));
    assert_eq!((s.internet, out.len()), (1, 1));
    assert!(
        s.capture_issues.examples[0].starts_with("record 1 (interface 0): snap length kept 40 of"),
        "{:?}",
        s.capture_issues.examples
    );
    assert!(s.capture_issues.examples[1].starts_with("record 2 (interface 0): zero-length"));
}

#[test]
fn garbage_frames_are_dropped_not_panicked_on() {
    let records: Vec<(Vec<u8>, u32)> = (0..64u8)
        .map(|k| {
            let v: Vec<u8> = (0..(k as usize * 3))
                .map(|i| (i as u8).wrapping_mul(k))
                .collect();
            let n = v.len() as u32;
            (v, n)
        })
        .collect();
    let (s, _) = run(pcap(1, &records)).unwrap();
    assert_eq!(s.packets_read, 64);
    assert!(s.error.is_none());
}

#[test]
fn cli_exits_2_on_a_truncated_capture_and_the_output_stays_valid() {
    let dir = std::env::temp_dir().join(format!("vpcsim-replay-errors-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = good_frames();
    let mut bytes = pcap(1, &whole(&f));
    bytes.truncate(bytes.len() - 10);
    let input = dir.join("cut.pcap");
    std::fs::write(&input, bytes).unwrap();
    for out_name in ["out.pcap", "out.pcapng"] {
        let out = dir.join(out_name);
        let o = Command::new(env!("CARGO_BIN_EXE_vpcsim"))
            .arg("replay")
            .arg(pcaps().join("topology.toml"))
            .arg("--pcap")
            .arg(&input)
            .args(["--at", "i-web", "--quiet", "--out"])
            .arg(&out)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(err.contains("truncated at record 2"), "{err}");
        let n = CaptureReader::open(&out)
            .unwrap()
            .filter(|r| r.is_ok())
            .count();
        assert_eq!(n, 1);
    }
    let o = Command::new(env!("CARGO_BIN_EXE_vpcsim"))
        .arg("replay")
        .arg(pcaps().join("topology.toml"))
        .arg("--pcap")
        .arg(pcaps().join("suite.toml"))
        .args(["--at", "i-web", "--out"])
        .arg(dir.join("x.pcap"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a capture file"));
    let _ = std::fs::remove_dir_all(&dir);
}
