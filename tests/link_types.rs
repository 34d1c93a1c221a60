//! Every capture link type a user has replays like its Ethernet twin: each case of the
//! regression suite (`pcaps/`) is rewritten, input by input, as a Linux cooked v1/v2 or
//! raw-IP capture (the bytes written here, after tcpdump.org's link-layer header types
//! <https://www.tcpdump.org/linktypes.html>), replayed, and compared with the Ethernet
//! replay: the same output frames and the same summary. A pcapng keeps each
//! interface's link type; what cannot be replayed is a counted drop named by record
//! number (from 1, as Wireshark counts) and interface, and nothing after it is lost.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use vpcsim::compile::Tables;
use vpcsim::pcapio::{CaptureReader, Payload};
use vpcsim::pipeline::{Ingress, INTERNET_MAC, VROUTER_MAC};
use vpcsim::replay::{self, ReplaySummary};

mod support;
use support::{suite, Case};

fn dir() -> PathBuf {
    support::pcaps_dir()
}

/// (timestamp ns, frame) per record.
type Records = Vec<(u64, Vec<u8>)>;

/// (timestamp ns, Ethernet frame) of every record of a suite input.
fn records(path: &Path) -> Records {
    CaptureReader::open(path)
        .unwrap()
        .map(|r| r.unwrap())
        .map(|r| (r.ts_nanos, r.data))
        .collect()
}

const PACKET_OUTGOING: u16 = 4;
const ARPHRD_ETHER: u16 = 1;

/// LINKTYPE_LINUX_SLL (113), 16 bytes: packet type, ARPHRD_ type, link-layer address
/// length, link-layer address (8, padded), protocol type — all big-endian.
fn sll(eth: &[u8]) -> Vec<u8> {
    let mut h = vec![];
    h.extend_from_slice(&PACKET_OUTGOING.to_be_bytes());
    h.extend_from_slice(&ARPHRD_ETHER.to_be_bytes());
    h.extend_from_slice(&6u16.to_be_bytes());
    h.extend_from_slice(&eth[6..12]);
    h.extend_from_slice(&[0, 0]);
    h.extend_from_slice(&eth[12..14]);
    h.extend_from_slice(&eth[14..]);
    h
}

/// LINKTYPE_LINUX_SLL2 (276), 20 bytes: protocol type, reserved, interface index (4),
/// ARPHRD_ type, packet type (1), link-layer address length (1), address (8, padded).
fn sll2(eth: &[u8]) -> Vec<u8> {
    let mut h = vec![];
    h.extend_from_slice(&eth[12..14]);
    h.extend_from_slice(&[0, 0]);
    h.extend_from_slice(&2u32.to_be_bytes());
    h.extend_from_slice(&ARPHRD_ETHER.to_be_bytes());
    h.push(PACKET_OUTGOING as u8);
    h.push(6);
    h.extend_from_slice(&eth[6..12]);
    h.extend_from_slice(&[0, 0]);
    h.extend_from_slice(&eth[14..]);
    h
}

/// LINKTYPE_RAW (101) and LINKTYPE_IPV4 (228): the IP packet, no link-layer header.
fn raw(eth: &[u8]) -> Vec<u8> {
    eth[14..].to_vec()
}

fn convert(link_type: u32, eth: &[u8]) -> Vec<u8> {
    match link_type {
        1 => eth.to_vec(),
        113 => sll(eth),
        276 => sll2(eth),
        101 | 228 => raw(eth),
        _ => unreachable!(),
    }
}

/// A classic pcap (little-endian, nanosecond magic a1b23c4d).
fn pcap(link_type: u32, recs: &[(u64, Vec<u8>)]) -> Vec<u8> {
    let mut b = vec![];
    b.extend_from_slice(&0xA1B2_3C4Du32.to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&4u16.to_le_bytes());
    b.extend_from_slice(&[0; 8]);
    b.extend_from_slice(&65535u32.to_le_bytes());
    b.extend_from_slice(&link_type.to_le_bytes());
    for (ts, data) in recs {
        b.extend_from_slice(&((ts / 1_000_000_000) as u32).to_le_bytes());
        b.extend_from_slice(&((ts % 1_000_000_000) as u32).to_le_bytes());
        b.extend_from_slice(&(data.len() as u32).to_le_bytes());
        b.extend_from_slice(&(data.len() as u32).to_le_bytes());
        b.extend_from_slice(data);
    }
    b
}

fn block(kind: u32, body: &[u8]) -> Vec<u8> {
    let mut body = body.to_vec();
    while !body.len().is_multiple_of(4) {
        body.push(0);
    }
    let len = (body.len() + 12) as u32;
    let mut b = kind.to_le_bytes().to_vec();
    b.extend_from_slice(&len.to_le_bytes());
    b.extend_from_slice(&body);
    b.extend_from_slice(&len.to_le_bytes());
    b
}

/// A pcapng (little-endian): one interface per link type given (IDB with if_tsresol 9),
/// then each packet as an EPB on its interface.
fn pcapng(interfaces: &[u32], packets: &[(u32, u64, Vec<u8>)]) -> Vec<u8> {
    let mut shb = 0x1A2B_3C4Du32.to_le_bytes().to_vec();
    shb.extend_from_slice(&1u16.to_le_bytes());
    shb.extend_from_slice(&0u16.to_le_bytes());
    shb.extend_from_slice(&u64::MAX.to_le_bytes());
    let mut f = block(0x0A0D_0D0A, &shb);
    for lt in interfaces {
        let mut idb = (*lt as u16).to_le_bytes().to_vec();
        idb.extend_from_slice(&0u16.to_le_bytes());
        idb.extend_from_slice(&0u32.to_le_bytes());
        idb.extend_from_slice(&[9, 0, 1, 0, 9, 0, 0, 0]); // if_tsresol = 9 (ns)
        idb.extend_from_slice(&[0, 0, 0, 0]); // opt_endofopt
        f.extend(block(1, &idb));
    }
    for (iface, ts, data) in packets {
        let mut epb = iface.to_le_bytes().to_vec();
        epb.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
        epb.extend_from_slice(&(*ts as u32).to_le_bytes());
        epb.extend_from_slice(&(data.len() as u32).to_le_bytes());
        epb.extend_from_slice(&(data.len() as u32).to_le_bytes());
        epb.extend_from_slice(data);
        f.extend(block(6, &epb));
    }
    f
}

fn tables(c: &Case) -> Arc<Tables> {
    let sc = vpcsim::scenario::Scenario::load(Some(&dir().join(&c.scenario))).unwrap();
    Tables::compile(&sc.state_after(c.after_step.unwrap_or(sc.steps.len())), 1)
}

/// Replays in-memory captures (bytes, endpoint); returns the output packets and summary.
fn replay_bytes(t: &Arc<Tables>, inputs: Vec<(Vec<u8>, &str)>) -> (Vec<Vec<u8>>, ReplaySummary) {
    let inputs = inputs
        .into_iter()
        .map(|(b, at)| {
            (
                replay::parse_at(at, t).unwrap(),
                CaptureReader::from_bytes(b).unwrap(),
            )
        })
        .collect();
    let (s, out) = support::replay_inputs(t, inputs);
    assert!(s.error.is_none(), "{:?}", s.error);
    (support::packets(out), s)
}

#[test]
fn linux_cooked_and_raw_ip_captures_replay_exactly_like_their_ethernet_twin() {
    let suite = suite();
    assert!(suite.case.len() >= 11);
    for c in &suite.case {
        let t = tables(c);
        let inputs: Vec<(Records, &str)> = c
            .input
            .iter()
            .map(|i| (records(&dir().join(&i.pcap)), i.at.as_str()))
            .collect();
        let as_type = |lt: u32| -> Vec<(Vec<u8>, &str)> {
            inputs
                .iter()
                .map(|(recs, at)| {
                    let conv: Vec<(u64, Vec<u8>)> =
                        recs.iter().map(|(ts, f)| (*ts, convert(lt, f))).collect();
                    (pcap(lt, &conv), *at)
                })
                .collect()
        };
        let (twin, twin_summary) = replay_bytes(&t, as_type(1));
        assert!(twin_summary.injected > 0, "{}", c.name);
        // Raw-IP link types carry IP packets only: a case with ARP has no raw-IP twin.
        let ip_only = inputs
            .iter()
            .all(|(recs, _)| recs.iter().all(|(_, f)| f.get(12..14) == Some(&[8, 0])));
        let raw: &[u32] = if ip_only { &[101, 228] } else { &[] };
        for &lt in [113, 276].iter().chain(raw) {
            let (out, s) = replay_bytes(&t, as_type(lt));
            assert_eq!(
                replay::compare(&out, &twin),
                None,
                "{}: link type {lt}",
                c.name
            );
            assert_eq!(s, twin_summary, "{}: link type {lt}", c.name);
        }
        // The same in pcapng, one interface of that link type per input.
        for &lt in [113, 276].iter().chain(raw.iter().filter(|&&l| l == 228)) {
            let ng: Vec<(Vec<u8>, &str)> = inputs
                .iter()
                .map(|(recs, at)| {
                    let p: Vec<(u32, u64, Vec<u8>)> = recs
                        .iter()
                        .map(|(ts, f)| (0, *ts, convert(lt, f)))
                        .collect();
                    (pcapng(&[lt], &p), *at)
                })
                .collect();
            let (out, s) = replay_bytes(&t, ng);
            assert_eq!(out, twin, "{}: pcapng link type {lt}", c.name);
            assert_eq!(s, twin_summary, "{}: pcapng link type {lt}", c.name);
        }
    }
}

#[test]
fn the_endpoint_supplies_the_layer_2_its_frames_would_carry() {
    let c = suite();
    let c = c.case.iter().find(|c| c.name == "eip-egress").unwrap();
    let t = tables(c);
    let frame = records(&dir().join(&c.input[0].pcap))[0].1.clone();
    let packet = Payload::Network {
        ethertype: 0x0800,
        packet: &frame[14..],
    };
    // i-web's guest sends from its eth0 to the VSwitch gateway: the Ethernet twin's header.
    let web = replay::parse_at("i-web", &t).unwrap();
    let e = replay::ethernet_for(&t, web, packet);
    assert_eq!(e, frame, "i-web: the frame the generator wrote");
    let eni = t.eni(t.instances[t.instance_index["i-web"] as usize].devices[0]);
    assert_eq!(&e[6..12], &eni.mac);
    assert_eq!(&e[..6], &VROUTER_MAC, "to ee:ff:ff:ff:ff:ff");
    let e = replay::ethernet_for(&t, Ingress::Internet, packet);
    assert_eq!((&e[6..12], &e[..6]), (&INTERNET_MAC[..], &VROUTER_MAC[..]));
    let e = replay::ethernet_for(&t, Ingress::Eni(t.eni_index[&eni.id]), packet);
    assert_eq!(&e[6..12], &eni.mac);
}

#[test]
fn a_pcapng_keeps_every_packet_of_an_ethernet_and_a_cooked_interface_and_names_the_refused() {
    // The first suite input with several packets, captured at its endpoint: interface 0
    // Ethernet, 1 Linux cooked v2, 2 Wi-Fi. Packets alternate between 0 and 1; one
    // Wi-Fi packet sits in the middle.
    let suite = suite();
    let (c, input, recs) = suite
        .case
        .iter()
        .flat_map(|c| c.input.iter().map(move |i| (c, i)))
        .map(|(c, i)| (c, i, records(&dir().join(&i.pcap))))
        .find(|(_, _, r)| r.len() >= 3)
        .expect("an input with several packets");
    let t = tables(c);
    let at = input.at.as_str();
    let (twin, twin_s) = replay_bytes(&t, vec![(pcap(1, &recs), at)]);
    let mut packets: Vec<(u32, u64, Vec<u8>)> = recs
        .iter()
        .enumerate()
        .map(|(k, (ts, f))| {
            if k % 2 == 0 {
                (0, *ts, f.clone())
            } else {
                (1, *ts, sll2(f))
            }
        })
        .collect();
    let wifi_at = 2; // 0-based position: record 3
    packets.insert(wifi_at, (2, recs[1].0, vec![0x08, 0x02, 0, 0, 1, 2, 3, 4]));
    let (out, s) = replay_bytes(&t, vec![(pcapng(&[1, 276, 105], &packets), at)]);
    assert_eq!(
        out, twin,
        "{}: every packet of interfaces 0 and 1 replayed",
        c.name
    );
    assert_eq!(s.packets_read, twin_s.packets_read + 1);
    assert_eq!(s.injected, twin_s.injected);
    assert_eq!(s.capture_issues.link, 1);
    assert_eq!(
        s.drop_reasons.get("capture_link_type_unsupported"),
        Some(&1)
    );
    let ex = &s.capture_issues.examples[0];
    assert!(
        ex.starts_with("record 3 (interface 2): link type 105 (IEEE802_11"),
        "{ex}"
    );
}

#[test]
fn cooked_records_that_cannot_be_replayed_are_counted_and_located() {
    let suite = suite();
    let c = suite.case.iter().find(|c| c.name == "eip-egress").unwrap();
    let t = tables(c);
    let recs = records(&dir().join(&c.input[0].pcap));
    let good = sll(&recs[0].1);
    // 802.2 LLC (protocol 0x0004), a cut header, then a good packet and an ARP request
    // (EtherType 0x0806: injected, the data plane judges it).
    let mut llc = good.clone();
    llc[14..16].copy_from_slice(&4u16.to_be_bytes());
    let mut arp = good[..16].to_vec();
    arp[14..16].copy_from_slice(&0x0806u16.to_be_bytes());
    arp.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
    arp.extend_from_slice(&[0; 20]);
    let bytes = pcap(
        113,
        &[
            (1, llc),
            (2, good[..10].to_vec()),
            (3, good.clone()),
            (4, arp),
        ],
    );
    let (_, s) = replay_bytes(&t, vec![(bytes, "i-web")]);
    assert_eq!((s.packets_read, s.injected), (4, 2));
    assert_eq!(s.internet, 1);
    assert_eq!(
        s.drop_reasons.get("capture_link_protocol_unsupported"),
        Some(&1)
    );
    assert_eq!(
        s.drop_reasons.get("capture_link_header_truncated"),
        Some(&1)
    );
    assert!(
        s.capture_issues.examples[0].starts_with("record 1 (interface 0): LINUX_SLL")
            && s.capture_issues.examples[0].contains("0x0004"),
        "{:?}",
        s.capture_issues.examples
    );
    assert!(
        s.capture_issues.examples[1].starts_with("record 2 (interface 0): 10 bytes"),
        "{:?}",
        s.capture_issues.examples
    );
}

#[test]
fn cli_replays_a_tcpdump_any_capture_and_reports_in_the_json_envelope() {
    let tmp = std::env::temp_dir().join(format!("vpcsim-link-types-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let suite = suite();
    let c = suite.case.iter().find(|c| c.name == "eip-egress").unwrap();
    let recs = records(&dir().join(&c.input[0].pcap));
    let conv: Vec<(u64, Vec<u8>)> = recs.iter().map(|(ts, f)| (*ts, sll2(f))).collect();
    let input = tmp.join("any.pcap");
    std::fs::write(&input, pcap(276, &conv)).unwrap();
    let run = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_vpcsim"))
            .arg("replay")
            .arg(dir().join("topology.toml"))
            .arg("--pcap")
            .arg(&input)
            .args(["--at", "i-web", "--quiet", "--out"])
            .arg(tmp.join("out.pcap"))
            .args(extra)
            .output()
            .unwrap()
    };
    let o = run(&["--json"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["vpcsim"], 1);
    assert_eq!(doc["command"], "replay");
    assert_eq!(doc["after"]["step"], 0);
    assert_eq!(doc["summary"]["packets_read"], recs.len() as u64);
    assert_eq!(doc["summary"]["internet"], recs.len() as u64);
    assert!(doc.get("error").is_none());
    // The output, compared with itself through --expect after damaging one address.
    let mut bad = CaptureReader::open(&tmp.join("out.pcap"))
        .unwrap()
        .map(|r| r.unwrap())
        .map(|r| (r.ts_nanos, r.data))
        .collect::<Vec<_>>();
    bad[0].1[26..30].copy_from_slice(&[47, 96, 10, 21]);
    vpcsim::fuzzing::fix_checksums(&mut bad[0].1);
    std::fs::write(tmp.join("expected.pcap"), pcap(1, &bad)).unwrap();
    let exp = tmp.join("expected.pcap");
    let o = run(&["--json", "--expect", exp.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let d = &doc["expect"]["first_difference"];
    assert_eq!(doc["expect"]["match"], false);
    assert_eq!(d["packet"], 1);
    assert_eq!(d["actual"]["src"], "47.96.10.20");
    assert_eq!(d["expected"]["src"], "47.96.10.21");
    assert_eq!(d["actual"]["protocol"], "tcp");
    assert!(d["actual"]["display"].as_str().unwrap().starts_with("tcp "));
    // A capture that is not one: the shared error document, exit 2.
    let o = Command::new(env!("CARGO_BIN_EXE_vpcsim"))
        .arg("replay")
        .arg(dir().join("topology.toml"))
        .arg("--pcap")
        .arg(dir().join("suite.toml"))
        .args(["--at", "i-web", "--json", "--out"])
        .arg(tmp.join("x.pcap"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["error"]["kind"], "capture");
    assert!(doc["error"]["message"]
        .as_str()
        .unwrap()
        .contains("not a capture file"));
    let _ = std::fs::remove_dir_all(&tmp);
}
