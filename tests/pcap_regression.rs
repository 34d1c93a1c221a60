//! The pcap regression suite: every case of `pcaps/suite.toml` is replayed through its
//! scenario and its output compared byte for byte with the committed expected capture.
//! `VPCSIM_BLESS=1` rewrites the expected captures (when a change is intended).

use std::path::PathBuf;

use vpcsim::compile::Tables;
use vpcsim::pcapio::CaptureReader;
use vpcsim::replay::{self};

mod support;
use support::{packets, suite, Case};

fn dir() -> PathBuf {
    support::pcaps_dir()
}

/// Replays one case; returns the output capture's bytes and summary.
fn run_case(c: &Case) -> (Vec<u8>, replay::ReplaySummary) {
    let sc = vpcsim::scenario::Scenario::load(Some(&dir().join(&c.scenario))).unwrap();
    let cloud = sc.state_after(c.after_step.unwrap_or(sc.steps.len()));
    let t = Tables::compile(&cloud, 1);
    let inputs = c
        .input
        .iter()
        .map(|i| {
            let at = replay::parse_at(&i.at, &t).unwrap();
            (at, CaptureReader::open(&dir().join(&i.pcap)).unwrap())
        })
        .collect();
    let (s, out) = support::replay_inputs(&t, inputs);
    assert!(s.error.is_none(), "{}: {:?}", c.name, s.error);
    (out, s)
}

#[test]
fn every_case_matches_its_expected_capture() {
    let bless = std::env::var_os("VPCSIM_BLESS").is_some_and(|v| v == "1");
    let suite = suite();
    assert!(suite.case.len() >= 11, "the suite lost cases");
    let mut failures = vec![];
    for c in &suite.case {
        let (bytes, _) = run_case(c);
        let path = dir().join(&c.expected);
        if bless {
            std::fs::write(&path, &bytes).unwrap();
            continue;
        }
        let expected = match std::fs::read(&path) {
            Ok(b) => packets(b),
            Err(e) => {
                failures.push(format!(
                    "{}: {}: {e} (bless with VPCSIM_BLESS=1)",
                    c.name,
                    path.display()
                ));
                continue;
            }
        };
        if let Some(d) = replay::compare(&packets(bytes), &expected) {
            failures.push(format!("{}: {d}", c.name));
        }
    }
    assert!(
        failures.is_empty(),
        "output differs from the expected capture (if intended: VPCSIM_BLESS=1 cargo test --test pcap_regression):\n  {}",
        failures.join("\n  ")
    );
}

/// The semantics each expected capture stands for, checked independently of the bytes,
/// so a careless bless cannot enshrine a wrong translation.
#[test]
fn cases_show_the_documented_translations() {
    let suite = suite();
    let get = |name: &str| {
        let c = suite.case.iter().find(|c| c.name == name).unwrap();
        let (bytes, s) = run_case(c);
        let p: Vec<vpcsim::wire::FrameInfo> = packets(bytes)
            .iter()
            .map(|f| vpcsim::wire::parse(f).unwrap())
            .collect();
        (p, s)
    };
    let ip = |s: &str| s.parse::<std::net::Ipv4Addr>().unwrap();
    let (p, _) = get("eip-egress");
    assert_eq!(p[0].src, ip("47.96.10.20"));
    assert_eq!(p[1].dst, ip("192.168.1.10"));
    let (p, _) = get("eip-ingress");
    assert_eq!(
        (p[0].dst, p[1].src),
        (ip("192.168.1.10"), ip("47.96.10.20"))
    );
    let (p, s) = get("snat");
    assert_eq!(p[0].src, ip("47.96.100.1"));
    assert_eq!(p[1].dst, ip("192.168.1.20"));
    assert_eq!(s.egress_sources.len(), 1);
    let (p, s) = get("dnat-port");
    assert_eq!(p[0].dst, ip("192.168.1.20"));
    assert!(matches!(p[0].l4, vpcsim::wire::L4::Tcp { dport: 80, .. }));
    assert!(matches!(p[1].l4, vpcsim::wire::L4::Tcp { sport: 8080, .. }));
    assert_eq!(p[1].src, ip("47.96.100.2"));
    assert_eq!(s.dropped, 1, "no mapping for port 9090");
    let (p, _) = get("dnat-ip");
    assert_eq!(
        (p[0].dst, p[1].src),
        (ip("192.168.1.40"), ip("47.96.100.3"))
    );
    let (p, _) = get("cut-through");
    assert_eq!((p[0].dst, p[1].src), (ip("47.96.10.50"), ip("47.96.10.50")));
    let (p, s) = get("sg-drop");
    assert!(p.is_empty());
    assert_eq!(s.drop_reasons.get("sg_ingress_denied"), Some(&2));
    let (p, _) = get("hairpin");
    assert_eq!(
        (p[0].src, p[0].dst),
        (ip("47.96.100.1"), ip("192.168.1.10"))
    );
    let (p, _) = get("icmp-echo");
    assert_eq!(
        (p[0].dst, p[1].src),
        (ip("192.168.1.10"), ip("47.96.10.20"))
    );
    let (p, s) = get("icmp-errors");
    assert_eq!(s.icmp_generated, 1);
    assert!(matches!(
        p[0].l4,
        vpcsim::wire::L4::IcmpError { icmp_type: 11, .. }
    ));
    assert!(matches!(
        p[2].l4,
        vpcsim::wire::L4::IcmpError { icmp_type: 3, .. }
    ));
    assert_eq!(p[2].dst, ip("192.168.1.20"));
    let (_, s) = get("asymmetric");
    assert_eq!(
        (s.delivered, s.drop_reasons.get("eni_source_check")),
        (1, Some(&1))
    );
}

#[test]
fn a_mismatch_names_the_packet_and_field() {
    let suite = suite();
    let c = suite.case.iter().find(|c| c.name == "snat").unwrap();
    let (bytes, _) = run_case(c);
    let good = packets(bytes);
    let mut bad = good.clone();
    bad[0][26..30].copy_from_slice(&[47, 96, 10, 20]);
    assert_eq!(
        replay::compare(&good, &bad).unwrap(),
        "packet 1: ip.src 47.96.100.1 != 47.96.10.20"
    );
    assert!(replay::compare(&good[..1], &good)
        .unwrap()
        .contains("missing"));
}
