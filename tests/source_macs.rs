//! Source MACs of real captures (issue 11 part 2, issue 12 part 4): a capture taken on a
//! real instance carries its real MAC. Replayed against a scenario whose ENI MAC vpcsim
//! generated, the frames are stamped with the generated MAC and the summary says so
//! ([decision]); against a MAC the scenario (or an import) set, a foreign source MAC
//! drops as `eni_source_mac`. Imports carry the dump's `MacAddress` per ENI.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;

use vpcsim::compile::Tables;
use vpcsim::import::load_scenario_from_dir;
use vpcsim::pcapio::CaptureReader;
use vpcsim::pipeline::VROUTER_MAC;
use vpcsim::replay::{self, ReplaySummary};
use vpcsim::scenario::Scenario;
use vpcsim::wire::{self, ProbeL4, ProbeSpec, TcpFlags};

mod support;

/// A MAC no scenario here gives any ENI, as a real instance's capture would carry.
const REAL_MAC: [u8; 6] = [0x00, 0x16, 0x3e, 0xaa, 0xbb, 0xcc];

fn pcaps() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("pcaps")
}

fn topology() -> String {
    std::fs::read_to_string(pcaps().join("topology.toml")).unwrap()
}

/// i-web's capture (Ethernet), every frame's source MAC replaced by `mac`.
fn frames_with(mac: [u8; 6]) -> Vec<Vec<u8>> {
    CaptureReader::open(&pcaps().join("eip-egress.in.i-web.pcap"))
        .unwrap()
        .map(|r| {
            let mut f = r.unwrap().data;
            f[6..12].copy_from_slice(&mac);
            f
        })
        .collect()
}

/// Replays `frames` at `at` against `sc` (initial state); the summary and what left.
fn run(sc: &Scenario, at: &str, frames: &[Vec<u8>]) -> (ReplaySummary, Vec<Vec<u8>>) {
    let t = Tables::compile(&sc.state_after(0), 1);
    let reader = CaptureReader::from_bytes(support::ethernet_pcap(frames)).unwrap();
    let at = replay::parse_at(at, &t).unwrap();
    let (s, out) = support::replay_inputs(&t, vec![(at, reader)]);
    (s, support::packets(out))
}

fn eni_source_mac_drops(s: &ReplaySummary) -> u64 {
    s.drop_reasons.get("eni_source_mac").copied().unwrap_or(0)
}

#[test]
fn replay_of_a_real_capture_against_a_generated_mac_stamps_it_and_says_so() {
    let sc = Scenario::parse(&topology(), "topology.toml").unwrap();
    let t = Tables::compile(&sc.state_after(0), 1);
    let eth0 = t.eni(t.instances[usize::from(t.instance_index["i-web"])].devices[0]);
    assert!(!eth0.mac_explicit, "topology.toml gives i-web no MAC");
    // The same capture with the scenario's MAC and with the real instance's MAC.
    let (own, own_out) = run(&sc, "i-web", &frames_with(eth0.mac));
    let (real, real_out) = run(&sc, "i-web", &frames_with(REAL_MAC));
    assert_eq!(own.source_mac_rewritten, 0);
    assert!(own.internet > 0, "{own:?}");
    assert_eq!(eni_source_mac_drops(&real), 0, "{real:?}");
    assert_eq!(real.source_mac_rewritten, real.injected);
    assert_eq!(
        (real.internet, real.delivered),
        (own.internet, own.delivered)
    );
    assert_eq!(real.egress_sources, own.egress_sources);
    assert_eq!(
        real_out, own_out,
        "the stamped replay leaves exactly as the other"
    );
    // One note, naming the ENI, the capture's MAC and how to check source MACs instead.
    assert_eq!(
        real.source_mac_notes.len(),
        1,
        "{:?}",
        real.source_mac_notes
    );
    let note = &real.source_mac_notes[0];
    assert!(note.contains(&eth0.id), "{note}");
    assert!(note.contains("set mac = \"00:16:3e:aa:bb:cc\""), "{note}");
    assert!(note.contains("[decision]"), "{note}");
}

#[test]
fn replay_at_an_eni_with_a_generated_mac_stamps_it_too() {
    let sc = Scenario::parse(&topology(), "topology.toml").unwrap();
    let t = Tables::compile(&sc.state_after(0), 1);
    let eth0 = t.eni(t.instances[usize::from(t.instance_index["i-web"])].devices[0]);
    let (s, _) = run(&sc, &eth0.id.clone(), &frames_with(REAL_MAC));
    assert_eq!(eni_source_mac_drops(&s), 0, "{s:?}");
    assert_eq!(s.source_mac_rewritten, s.injected);
    assert!(s.internet > 0, "{s:?}");
}

#[test]
fn replay_against_a_mac_the_scenario_set_drops_foreign_source_macs() {
    let text = topology().replacen(
        "id = \"i-web\"\n",
        "id = \"i-web\"\nmac = \"00:16:3e:01:02:03\"\n",
        1,
    );
    let sc = Scenario::parse(&text, "topology.toml").unwrap();
    let t = Tables::compile(&sc.state_after(0), 1);
    let eth0 = t.eni(t.instances[usize::from(t.instance_index["i-web"])].devices[0]);
    assert!(eth0.mac_explicit);
    assert_eq!(eth0.mac, [0x00, 0x16, 0x3e, 0x01, 0x02, 0x03]);
    let (s, out) = run(&sc, "i-web", &frames_with(REAL_MAC));
    assert_eq!(s.source_mac_rewritten, 0);
    assert!(s.source_mac_notes.is_empty());
    assert_eq!(eni_source_mac_drops(&s), s.injected, "{s:?}");
    assert!(out.is_empty());
    // With the MAC it set, the capture goes through.
    let (s, _) = run(&sc, "i-web", &frames_with(eth0.mac));
    assert_eq!(eni_source_mac_drops(&s), 0, "{s:?}");
    assert!(s.internet > 0);
}

#[test]
fn cli_replay_reports_the_rewrite_in_text_and_json() {
    let dir = std::env::temp_dir().join(format!("vpcsim-source-macs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("real.pcap");
    let frames = frames_with(REAL_MAC);
    std::fs::write(&input, support::ethernet_pcap(&frames)).unwrap();
    let cmd = |json: bool| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_vpcsim"));
        c.arg("replay")
            .arg(pcaps().join("topology.toml"))
            .arg("--pcap")
            .arg(&input)
            .args(["--at", "i-web", "--quiet", "--out"])
            .arg(dir.join("out.pcap"));
        if json {
            c.arg("--json");
        }
        c.output().unwrap()
    };
    let o = cmd(false);
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{text}");
    assert!(
        text.contains(&format!("source MAC rewritten on {} frames", frames.len())),
        "{text}"
    );
    assert!(text.contains("to check source MACs"), "{text}");
    let o = cmd(true);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let s = &v["summary"];
    assert_eq!(s["source_mac_rewritten"], frames.len() as u64, "{v}");
    assert!(s["source_mac_notes"][0]
        .as_str()
        .unwrap()
        .contains("set mac = \"00:16:3e:aa:bb:cc\""));
    assert!(s["drop_reasons"].get("eni_source_mac").is_none(), "{v}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn import_fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// `MacAddress` of every ENI in a fixture's DescribeNetworkInterfaces file.
fn dump_macs(file: &Path) -> Vec<(String, String)> {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    v["NetworkInterfaceSets"]["NetworkInterfaceSet"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["NetworkInterfaceId"].as_str().unwrap().to_string(),
                e["MacAddress"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn import_carries_each_enis_mac_address_into_the_compiled_enis() {
    for (dir, file) in [
        ("import/hangzhou", "network-interfaces.json"),
        ("import2/shanghai", "network-interfaces.json"),
    ] {
        let d = import_fixture(dir);
        let (sc, _) = load_scenario_from_dir(&d).unwrap();
        let t = Tables::compile(&sc.state_after(0), 1);
        let mut checked = 0;
        for (id, mac) in dump_macs(&d.join(file)) {
            // ENIs an import leaves out (another VPC, a managed service's) are not compiled.
            let Some(&e) = t.eni_index.get(&id) else {
                continue;
            };
            let eni = t.eni(e);
            assert_eq!(vpcsim::model::mac_string(eni.mac), mac, "{dir}: {id}");
            assert!(eni.mac_explicit, "{dir}: {id}");
            checked += 1;
        }
        assert!(checked >= 4, "{dir}: only {checked} ENIs compared");
    }
}

/// A TCP SYN from `src` (sent with `mac`) to the Internet.
fn syn(mac: [u8; 6], src: &str) -> Vec<u8> {
    wire::build(&ProbeSpec {
        src_mac: mac,
        dst_mac: VROUTER_MAC,
        src: src.parse::<Ipv4Addr>().unwrap(),
        dst: Ipv4Addr::new(203, 0, 113, 80),
        ttl: 64,
        ident: 7,
        l4: ProbeL4::Tcp {
            sport: 40000,
            dport: 443,
            flags: TcpFlags::SYN,
            seq: 1,
            ack: 0,
        },
        payload: vec![],
    })
}

#[test]
fn replay_at_an_imported_instance_with_its_real_mac_is_not_dropped() {
    let web = "i-bp1a5ij0ktfw6xakbzhb"; // eth0 eni-bp1a5ij0ktfw6xakbzhe, 00:16:3e:1f:43:65
    let (sc, _) = load_scenario_from_dir(&import_fixture("import/hangzhou")).unwrap();
    let real = [0x00, 0x16, 0x3e, 0x1f, 0x43, 0x65];
    let (s, _) = run(&sc, web, &[syn(real, "192.168.1.10")]);
    assert_eq!(eni_source_mac_drops(&s), 0, "{s:?}");
    assert_eq!(s.source_mac_rewritten, 0);
    assert_eq!(s.internet, 1, "{s:?}");
    // The imported MAC is the scenario's own: another MAC is the VSwitch's drop.
    let (s, _) = run(&sc, web, &[syn(REAL_MAC, "192.168.1.10")]);
    assert_eq!(eni_source_mac_drops(&s), 1, "{s:?}");
}

#[test]
fn import_warns_on_macs_that_disagree_or_repeat_and_never_fails_the_load() {
    let src = import_fixture("import/hangzhou");
    let dir = std::env::temp_dir().join(format!("vpcsim-import-macs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for e in std::fs::read_dir(&src).unwrap() {
        let p = e.unwrap().path();
        let mut text = std::fs::read_to_string(&p).unwrap();
        let name = p.file_name().unwrap().to_str().unwrap().to_string();
        if name == "network-interfaces.json" {
            // eni-bp1b2zc3bhj5kmjo7xcg's MAC repeats eni-bp1a5ij0ktfw6xakbzhe's.
            text = text.replace("00:16:3e:1f:8f:9f", "00:16:3e:1f:43:65");
        }
        if name == "instances-page2.json" {
            // DescribeInstances disagrees with DescribeNetworkInterfaces on eni-bp1c7r0….
            text = text.replace("00:16:3e:1f:e9:63", "00:16:3e:99:99:99");
        }
        std::fs::write(dir.join(&name), text).unwrap();
    }
    let imp = vpcsim::import::import_dir(&dir).unwrap();
    let kinds: Vec<(&str, usize)> = imp
        .warnings
        .iter()
        .map(|w| (w.kind.as_str(), w.count))
        .collect();
    assert!(kinds.contains(&("ENI MACs left out", 2)), "{kinds:?}");
    // eni-bp1c7r0… and eni-bp1b2… (whose instance still lists its own MAC).
    assert!(kinds.contains(&("ENI MACs that disagree", 2)), "{kinds:?}");
    let (sc, _) = load_scenario_from_dir(&dir).unwrap();
    let t = Tables::compile(&sc.state_after(0), 1);
    let eni = |id: &str| t.eni(t.eni_index[id]);
    for shared in ["eni-bp1a5ij0ktfw6xakbzhe", "eni-bp1b2zc3bhj5kmjo7xcg"] {
        assert!(!eni(shared).mac_explicit, "{shared}: generated instead");
    }
    let db = eni("eni-bp1c7r0jhzkxn2xzbf1h");
    assert!(db.mac_explicit);
    assert_eq!(vpcsim::model::mac_string(db.mac), "00:16:3e:1f:e9:63");
    let _ = std::fs::remove_dir_all(&dir);
}
