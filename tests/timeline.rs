//! `vpcsim timeline`: the built-in procedure with traffic flowing (issue 15's "done
//! when"), determinism, the SVG through a real renderer, time in scenario files.

use std::process::Command;

use serde_json::Value;
use vpcsim::scenario::{Scenario, DEFAULT_SCENARIO};

fn vpcsim(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_vpcsim"))
        .args(args)
        .output()
        .expect("vpcsim runs")
}

fn builtin_json() -> Value {
    let o = vpcsim(&["timeline", "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn step_at(doc: &Value, id: &str) -> f64 {
    doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("step {id}"))["at_s"]
        .as_f64()
        .unwrap()
}

fn lane<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["lanes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == name)
        .unwrap_or_else(|| panic!("lane {name}"))
}

#[test]
fn builtin_ssh_session_survives_the_convert_breaks_at_the_unbind_and_a_new_one_works_after_the_bind(
) {
    let doc = builtin_json();
    assert_eq!(doc["vpcsim"], 1);
    assert_eq!(doc["command"], "timeline");
    assert_eq!(doc["on_change"], "revalidate");
    let (unbind, bind) = (
        step_at(&doc, "unbind-eip"),
        step_at(&doc, "bind-eip-to-eni"),
    );
    let convert = step_at(&doc, "convert-public-ip");
    let conns = lane(&doc, "ssh session to the public IP")["connections"]
        .as_array()
        .unwrap();
    let first = &conns[0];
    assert!(
        first["established_s"].as_f64().unwrap() < convert,
        "open before step 1"
    );
    let effects = first["steps"].as_array().unwrap();
    let effect = |id: &str| {
        effects
            .iter()
            .find(|e| e["step"] == id)
            .map(|e| e["effect"].as_str().unwrap().to_string())
    };
    assert_eq!(effect("convert-public-ip").as_deref(), Some("survived"));
    assert_eq!(effect("attach-eni").as_deref(), Some("survived"));
    assert_eq!(effect("unbind-eip").as_deref(), Some("ended"));
    let b = &first["break"];
    assert_eq!(b["step"], "unbind-eip");
    assert_eq!(b["reason"], "flow_ended_by_change");
    assert_eq!(
        b["at_s"].as_f64().unwrap(),
        unbind,
        "its first packet after the unbind is lost"
    );
    // A new connection succeeds once the EIP is bound again (to eni-web1), not before.
    let second = conns
        .iter()
        .find(|c| c["established_s"].as_f64().is_some_and(|t| t > unbind))
        .expect("a new session");
    assert!(second["established_s"].as_f64().unwrap() >= bind);
    assert!(second["break"].is_null() && second["ok"] == true);
    // Without policy routes its replies leave by eth0 and are dropped: it stalls, and
    // recovers once the routes are back.
    let stall = &second["stalls"][0];
    assert_eq!(stall["reason"], "eni_source_check");
    let (removed, from) = (
        step_at(&doc, "remove-policy-routes"),
        stall["from_s"].as_f64().unwrap(),
    );
    assert!(from >= removed && from < removed + 1.0, "{from}");
    assert!(stall["to_s"].as_f64().unwrap() >= step_at(&doc, "restore-policy-routes"));
    let effects = second["steps"].as_array().unwrap();
    assert!(effects
        .iter()
        .any(|e| e["step"] == "remove-policy-routes" && e["effect"] == "stalled"));
}

#[test]
fn builtin_ssh_probe_is_out_from_unbind_to_bind_and_without_policy_routes_only() {
    let doc = builtin_json();
    let w = |from: &str, to: &str| (step_at(&doc, from), step_at(&doc, to));
    let expected = [
        w("unbind-eip", "bind-eip-to-eni"),
        w("remove-policy-routes", "restore-policy-routes"),
    ];
    let out = lane(&doc, "ssh probe to the public IP")["outages"]
        .as_array()
        .unwrap()
        .clone();
    let got: Vec<(f64, f64)> = out
        .iter()
        .map(|o| (o["from_s"].as_f64().unwrap(), o["to_s"].as_f64().unwrap()))
        .collect();
    assert_eq!(got, expected);
    assert_eq!(out[0]["reason"], "eip_unbound");
    assert_eq!(out[1]["reason"], "eni_source_check", "the FAQ's trap");
    // The endpoint view agrees, and counts the broken session.
    let ep = doc["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["endpoint"] == "ssh to 47.96.10.20:22")
        .unwrap();
    assert_eq!(ep["outages"].as_array().unwrap().len(), 2);
    assert_eq!(ep["broken"].as_array().unwrap().len(), 1);
}

#[test]
fn builtin_what_is_my_ip_changes_from_the_public_ip_to_the_snat_eip_at_the_unbind() {
    let doc = builtin_json();
    let changes = doc["address_changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{changes:?}");
    let c = &changes[0];
    assert_eq!(c["who"], "i-web");
    assert_eq!(c["from"], "47.96.10.20");
    assert_eq!(c["to"], "47.96.100.1");
    assert_eq!(c["at_s"].as_f64().unwrap(), step_at(&doc, "unbind-eip"));
    assert_eq!(c["step"], "unbind-eip");
    // And every request was answered: egress never stops.
    assert!(lane(&doc, "what is my IP from i-web")["outages"]
        .as_array()
        .unwrap()
        .is_empty());
}

#[test]
fn the_same_scenario_gives_the_same_timeline_byte_for_byte() {
    let dir = std::env::temp_dir().join(format!("vpcsim-timeline-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let runs: Vec<(Vec<u8>, Vec<u8>, Vec<u8>)> = (0..2)
        .map(|i| {
            let svg = dir.join(format!("{i}.svg"));
            let o = vpcsim(&["timeline", "--json", "--svg", svg.to_str().unwrap()]);
            assert!(o.status.success());
            let text = vpcsim(&["timeline"]).stdout;
            (o.stdout, std::fs::read(&svg).unwrap(), text)
        })
        .collect();
    assert_eq!(runs[0].0, runs[1].0, "JSON");
    assert_eq!(runs[0].1, runs[1].1, "SVG");
    assert_eq!(runs[0].2, runs[1].2, "text");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_svg_renders_with_rsvg_convert_and_shows_lanes_steps_outages_and_the_address_change() {
    let dir = std::env::temp_dir().join(format!("vpcsim-svg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let svg = dir.join("t.svg");
    let o = vpcsim(&["timeline", "--svg", svg.to_str().unwrap()]);
    assert!(o.status.success());
    let text = std::fs::read_to_string(&svg).unwrap();
    for lane in [
        "ssh session to the public IP",
        "ssh probe to the public IP",
        "what is my IP from i-web",
    ] {
        assert!(
            text.contains(&format!(r#"<g class="lane" data-name="{lane}">"#)),
            "lane {lane}"
        );
    }
    // Every step is a vertical line; applied ones are labelled.
    assert_eq!(text.matches(r#"<line class="step""#).count(), 11);
    assert!(text.contains("8 unbind-eip") && text.contains("9 bind-eip-to-eni"));
    // Outages in red: the session's two (broken by the unbind, stalled without policy
    // routes) and the probe's two.
    assert_eq!(text.matches(r#"class="outage""#).count(), 4);
    assert!(text.contains(">eni_source_check<") && text.contains(">eip_unbound<"));
    assert!(
        text.contains("47.96.10.20 → 47.96.100.1"),
        "address change labelled"
    );
    // A real renderer accepts it.
    let png = dir.join("t.png");
    match Command::new("rsvg-convert")
        .arg(&svg)
        .arg("-o")
        .arg(&png)
        .output()
    {
        Ok(r) => {
            assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
            let bytes = std::fs::read(&png).unwrap();
            assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
            assert!(bytes.len() > 5_000);
        }
        Err(_) if std::env::var_os("CI").is_some() => {
            panic!("rsvg-convert is missing (Debian librsvg2-bin); CI must install it")
        }
        Err(_) => eprintln!("skipped: rsvg-convert not installed (apt-get install librsvg2-bin)"),
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_default_run_prints_the_outage_summary() {
    let o = vpcsim(&[]);
    assert!(o.status.success());
    let out = String::from_utf8_lossy(&o.stdout);
    let tail = out
        .split("While traffic flows")
        .nth(1)
        .expect("the summary follows the run");
    assert!(tail.contains("ssh to 47.96.10.20:22 unreachable from 8.0 s to 9.0 s (eip_unbound)"));
    assert!(tail.contains("i-web's egress address changes from 47.96.10.20 to 47.96.100.1"));
}

fn with(extra: &str) -> Result<Scenario, String> {
    Scenario::parse(&format!("{DEFAULT_SCENARIO}\n{extra}"), "t.toml").map_err(|e| e.to_string())
}

#[test]
fn steps_happen_at_their_times_or_a_second_after_the_previous_one() {
    let src = DEFAULT_SCENARIO.replacen(
        "op = \"UnassociateEipAddress\"",
        "at = \"20.5s\"\nop = \"UnassociateEipAddress\"",
        1,
    );
    let sc = Scenario::parse(&src, "t.toml").unwrap();
    let times: Vec<f64> = sc.step_times().iter().map(|t| t.as_secs_f64()).collect();
    assert_eq!(&times[..3], &[1.0, 2.0, 3.0]);
    assert_eq!(times[7], 20.5);
    assert_eq!(times[8], 21.5);
    let r = vpcsim::timeline::run(&sc, None).unwrap().timeline;
    let probe = r
        .lanes
        .iter()
        .find(|l| l.kind == "probe" && l.service == Some("ssh"))
        .unwrap();
    // Probes start every second from 0: the first to fail is the one at 21 s, the
    // first to succeed again the one at 22 s (the bind happens at 21.5 s).
    assert_eq!(
        probe.outages[0].from_s, 21.0,
        "the outage follows the step's time"
    );
    assert_eq!(probe.outages[0].to_s, Some(22.0));
    // Going back in time is refused, with the line.
    let bad = DEFAULT_SCENARIO.replacen(
        "op = \"UnassociateEipAddress\"",
        "at = \"2s\"\nop = \"UnassociateEipAddress\"",
        1,
    );
    let e = Scenario::parse(&bad, "t.toml").unwrap_err().to_string();
    assert!(e.contains("before the previous step"), "{e}");
    let e = Scenario::parse(
        &DEFAULT_SCENARIO.replacen(
            "op = \"UnassociateEipAddress\"",
            "at = \"soon\"\nop = \"UnassociateEipAddress\"",
            1,
        ),
        "t.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("is not a time"), "{e}");
}

#[test]
fn traffic_entries_are_checked_with_a_located_error() {
    let e = with("[[traffic]]\nname = \"x\"\nkind = \"probe\"\nfrom = \"i-nope\"\nto = \"1.2.3.4:22\"\nservice = \"ssh\"\n")
        .unwrap_err();
    assert!(
        e.contains("traffic `x`") && e.contains("no such instance"),
        "{e}"
    );
    let e = with("[[traffic]]\nname = \"x\"\nkind = \"probe\"\nfrom = \"internet:1.2.3.4\"\nservice = \"ssh\"\n")
        .unwrap_err();
    assert!(e.contains("needs `to"), "{e}");
    let e =
        with("[[traffic]]\nname = \"x\"\nkind = \"replay\"\nfrom = \"internet\"\n").unwrap_err();
    assert!(e.contains("pcap"), "{e}");
    let e = with("[[traffic]]\nname = \"x\"\nkind = \"burst\"\nfrom = \"internet\"\n").unwrap_err();
    assert!(e.contains("burst"), "{e}");
    let e = with("[flow_semantics]\non_change = \"forget\"\n").unwrap_err();
    assert!(e.contains("forget"), "{e}");
}

#[test]
fn flush_mode_judges_every_next_packet_as_a_new_flow() {
    // With a flush the session's first packet after the unbind is a new flow, dropped
    // for what it meets (eip_unbound), and no change is named; with revalidation the
    // connection is ended by the unbind, and the timeline says so.
    let flushed = with("[flow_semantics]\non_change = \"flush\"\n").unwrap();
    let r = vpcsim::timeline::run(&flushed, None).unwrap().timeline;
    assert_eq!(r.on_change, "flush");
    let l = r.lanes.iter().find(|l| l.kind == "session").unwrap();
    let b = l.connections[0].broke.as_ref().unwrap();
    assert_eq!(b.reason.as_deref(), Some("eip_unbound"));
    assert_eq!(b.step, None);
    let kept = Scenario::parse(DEFAULT_SCENARIO, "t.toml").unwrap();
    let r = vpcsim::timeline::run(&kept, None).unwrap().timeline;
    let l = r.lanes.iter().find(|l| l.kind == "session").unwrap();
    let b = l.connections[0].broke.as_ref().unwrap();
    assert_eq!(b.reason.as_deref(), Some("flow_ended_by_change"));
    assert_eq!(b.step.as_deref(), Some("unbind-eip"));
    assert!(b.detail.contains("eip_unbound"), "{b:?}");
}

#[test]
fn snat_sessions_of_other_instances_survive_every_step() {
    let extra = r#"
[[traffic]]
name = "i-app ssh out"
kind = "session"
from = "i-app"
to = "203.0.113.80:22"
service = "ssh"
at = "0.5s"
reconnect = false
"#;
    let r = vpcsim::timeline::run(&with(extra).unwrap(), None)
        .unwrap()
        .timeline;
    let l = r.lanes.iter().find(|l| l.name == "i-app ssh out").unwrap();
    assert_eq!(l.connections.len(), 1);
    let c = &l.connections[0];
    assert!(c.broke.is_none() && c.ok, "{c:?}");
    assert_eq!(
        c.server_saw
            .as_deref()
            .map(|s| s.starts_with("47.96.100.1:")),
        Some(true)
    );
    let applied = r.steps.iter().filter(|s| s.outcome == "applied").count();
    assert_eq!(c.steps.len(), applied, "lived through every applied step");
    assert!(c.steps.iter().all(|s| s.effect == "survived"));
}

#[test]
fn a_replayed_capture_runs_on_the_same_clock() {
    let dir = std::env::temp_dir().join(format!("vpcsim-replay-tl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // Three SYNs from the Internet to ssh on the public IP, 0.5 s apart, starting at 7.5 s.
    let mut w = vpcsim::replay::Output::create(&dir.join("in.pcap")).unwrap();
    for i in 0..3u64 {
        let f = vpcsim::wire::build(&vpcsim::wire::ProbeSpec {
            src_mac: vpcsim::pipeline::INTERNET_MAC,
            dst_mac: vpcsim::pipeline::VROUTER_MAC,
            src: "198.51.100.9".parse().unwrap(),
            dst: "47.96.10.20".parse().unwrap(),
            ttl: 64,
            ident: 1,
            l4: vpcsim::wire::ProbeL4::Tcp {
                sport: 50000 + i as u16,
                dport: 22,
                flags: vpcsim::wire::TcpFlags::SYN,
                seq: 1,
                ack: 0,
            },
            payload: vec![],
        });
        w.write(1_700_000_000_000_000_000 + i * 500_000_000, &f)
            .unwrap();
    }
    w.flush().unwrap();
    drop(w);
    let src = format!(
        "{DEFAULT_SCENARIO}\n[[traffic]]\nname = \"replayed syns\"\nkind = \"replay\"\nfrom = \"internet\"\npcap = \"in.pcap\"\nat = \"7.5s\"\n"
    );
    let file = dir.join("s.toml");
    std::fs::write(&file, &src).unwrap();
    let sc = Scenario::load(Some(&file)).unwrap();
    let r = vpcsim::timeline::run(&sc, Some(&file)).unwrap().timeline;
    let counts = r
        .lanes
        .iter()
        .find(|l| l.name == "replayed syns")
        .unwrap()
        .replay
        .clone()
        .unwrap();
    // 7.5 s: delivered; 8.0 s and 8.5 s: after the unbind, dropped.
    assert_eq!(counts.frames, 3);
    assert_eq!(counts.delivered, 1);
    assert_eq!(counts.dropped, vec![("eip_unbound".to_string(), 2)]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_check_at_a_time_runs_on_the_configuration_in_force_then() {
    let sc = with(
        r#"
[[checks]]
name = "between unbind and bind i-web leaves by SNAT"
at = "8.5s"
from = "i-web"
to = "203.0.113.80:443"
expect = "internet"
expect_source = "47.96.100.1"
"#,
    )
    .unwrap();
    let (_, c) = sc.checks.last().unwrap();
    let unbind = sc
        .steps
        .iter()
        .position(|s| s.id.as_deref() == Some("unbind-eip"))
        .unwrap()
        + 1;
    assert_eq!(c.after_step, Some(vpcsim::check::StepRef::Index(unbind)));
    let r = vpcsim::scenario::run_scenario(&sc);
    let rep = r
        .checks
        .iter()
        .find(|c| c.name.starts_with("between"))
        .unwrap();
    assert!(rep.pass, "{}", rep.observed);
    let e = with("[[checks]]\nname = \"x\"\nat = \"1s\"\nafter_step = 2\nresource = \"i-web\"\nfield = \"status\"\nequals = \"Running\"\n")
        .unwrap_err();
    assert!(e.contains("not both"), "{e}");
}

#[test]
fn capture_writes_every_packet_of_the_timeline_hop_by_hop() {
    let dir = std::env::temp_dir().join(format!("vpcsim-tl-cap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cap = dir.join("t.pcapng");
    let o = vpcsim(&["timeline", "--capture", cap.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let n = vpcsim::pcapio::CaptureReader::open(&cap)
        .unwrap()
        .filter(|r| r.is_ok())
        .count();
    // Three lanes for 14 s: hundreds of packets, each seen where it entered and left.
    assert!(n > 200, "{n} records");
    let _ = std::fs::remove_dir_all(&dir);
}
