//! The `vpcsim` binary as a user meets it: the default run, JSON shapes, exit codes,
//! errors that say where and how to fix.

mod support;
use support::vpcsim;

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

#[test]
fn default_run_replays_the_procedure_and_exits_zero() {
    let (code, out, _) = vpcsim(&[]);
    assert_eq!(code, 0, "{out}");
    for needle in [
        "ConvertNatPublicIpToEip",
        "AvailabilityZoneMismatch",
        "IncorrectEipStatus",
        "AssociateEipAddress",
        "PASS",
    ] {
        assert!(out.contains(needle), "missing {needle} in\n{out}");
    }
}

#[test]
fn run_json_has_the_documented_shape() {
    let (code, out, _) = vpcsim(&["run", "--json"]);
    assert_eq!(code, 0);
    let v = json(&out);
    assert_eq!(v["scenario"], "same-eip-for-egress");
    assert_eq!(v["pass"], true);
    let step = &v["steps"][1];
    for k in ["index", "op", "ok", "error_code", "message"] {
        assert!(step.get(k).is_some(), "step lacks {k}: {step}");
    }
    assert_eq!(step["error_code"], "InvalidInstanceChargeType.NotSupported");
    let check = &v["checks"][0];
    for k in ["name", "pass", "expected", "observed"] {
        assert!(check.get(k).is_some(), "check lacks {k}");
    }
}

#[test]
fn example_round_trips_through_validate() {
    let (_, example, _) = vpcsim(&["example"]);
    let dir = std::env::temp_dir().join(format!("vpcsim-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("example.toml");
    std::fs::write(&f, &example).unwrap();
    let (code, out, err) = vpcsim(&["validate", f.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("11 steps"), "{out}");
    // A failing expectation: exit 1, naming the first failure.
    let broken = example.replace(
        "expect_error = \"InvalidOperation.AvailabilityZoneMismatch\"",
        "expect_error = \"EniPerInstanceLimitExceeded\"",
    );
    std::fs::write(&f, broken).unwrap();
    let (code, out, _) = vpcsim(&["run", f.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(out.contains("FAIL (first: step 4"), "{out}");
    // A broken file: exit 2 with file:line:column.
    std::fs::write(
        &f,
        example.replace("cidr = \"192.168.2.0/24\"", "cidr = \"10.9.0.0/24\""),
    )
    .unwrap();
    let (code, _, err) = vpcsim(&["run", f.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(
        err.contains("example.toml:") && err.contains("outside VPC"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn trace_json_reports_disposition_source_and_hops() {
    let (code, out, _) = vpcsim(&[
        "trace",
        "--from",
        "i-web",
        "--to",
        "203.0.113.80:443",
        "--json",
    ]);
    assert_eq!(code, 0);
    let v = json(&out);
    assert_eq!(v["command"], "trace");
    assert_eq!(v["after"]["step"], 11);
    let p = &v["probe"];
    assert_eq!(p["disposition"], "internet");
    assert_eq!(p["source_seen"], "47.96.100.1");
    assert_eq!(p["sent"]["dport"], 443);
    assert_eq!(p["sent"]["protocol"], "tcp");
    assert_eq!(p["received"]["src"], "47.96.100.1");
    assert!(p["hops"]
        .as_array()
        .unwrap()
        .iter()
        .any(|h| h["stage"] == "snat"));
    // Before the procedure: the static public IP; a dropped reply exits 1.
    let (_, out, _) = vpcsim(&[
        "trace",
        "--from",
        "i-web",
        "--to",
        "203.0.113.80:443",
        "--after-step",
        "0",
        "--json",
    ]);
    assert_eq!(json(&out)["probe"]["source_seen"], "47.96.10.20");
    let (code, out, _) = vpcsim(&[
        "trace",
        "--from",
        "internet:198.51.100.7",
        "--to",
        "47.96.10.20:22",
        "--after-step",
        "10",
        "--reply",
    ]);
    assert_eq!(code, 1);
    assert!(
        out.contains("eni_source_check") && out.contains("ip rule add from 192.168.1.100"),
        "{out}"
    );
}

#[test]
fn trace_with_a_bad_endpoint_is_a_usage_error() {
    let (code, _, err) = vpcsim(&["trace", "--from", "i-nope", "--to", "1.2.3.4:80"]);
    assert_eq!(code, 2);
    assert!(err.contains("i-nope"), "{err}");
}

#[test]
fn egress_prints_the_before_and_after_table_by_probing() {
    let (code, out, _) = vpcsim(&["egress", "--json"]);
    assert_eq!(code, 0);
    let v = json(&out);
    assert_eq!(v["vpcsim"], 1);
    assert_eq!(v["command"], "egress");
    assert_eq!(v["scenario"], "same-eip-for-egress");
    assert!(v["after"].is_null(), "two points: each table has its own");
    let tables = v["tables"].as_array().unwrap();
    assert_eq!(tables.len(), 2);
    assert_eq!(tables[1]["after"]["id"], "restore-policy-routes");
    let row = |t: &serde_json::Value, eni: &str| {
        t["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["eni"] == eni)
            .cloned()
            .unwrap()
    };
    let before = row(&tables[0], "i-web-eth0");
    assert_eq!(
        (before["egress_ip"].as_str(), before["via"].as_str()),
        (Some("47.96.10.20"), Some("static_public_ip"))
    );
    let after = row(&tables[1], "i-web-eth0");
    assert_eq!(
        (after["egress_ip"].as_str(), after["via"].as_str()),
        (Some("47.96.100.1"), Some("snat"))
    );
    let eth1 = row(&tables[1], "eni-web1");
    assert_eq!(eth1["ingress"][0]["public_ip"], "47.96.10.20");
    assert_eq!(eth1["ingress"][0]["ports"], "22");
    assert_eq!(eth1["ingress"][0]["via"], "eip");
    for k in [
        "instance",
        "eni",
        "private_ip",
        "egress_ip",
        "via",
        "reason",
    ] {
        assert!(after.get(k).is_some(), "row lacks {k}");
    }
}

#[test]
fn import_folder_gives_a_scenario_and_warnings() {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/import/hangzhou"
    );
    let (code, out, err) = vpcsim(&["import", dir]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("[[instances]]"));
    assert!(
        err.contains("warning:"),
        "unmodelled things are said: {err}"
    );
    let (code, out, _) = vpcsim(&["egress", dir, "--json"]);
    assert_eq!(code, 0);
    assert!(json(&out)["tables"][0]["rows"].as_array().unwrap().len() >= 4);
}

/// Issue 11 done-when: after the step that removes policy routes, the EIP of the
/// secondary ENI is under `ingress_blocked` with the reply's drop reason.
#[test]
fn egress_after_a_step_id_lists_the_blocked_eip_with_the_reply_reason() {
    let (code, out, err) = vpcsim(&["egress", "--after", "remove-policy-routes", "--json"]);
    assert_eq!(code, 0, "{err}");
    let v = json(&out);
    assert_eq!(v["after"]["step"], 10);
    assert_eq!(v["after"]["id"], "remove-policy-routes");
    let rows = v["tables"][0]["rows"].as_array().unwrap();
    let eth1 = rows.iter().find(|r| r["eni"] == "eni-web1").unwrap();
    assert_eq!(eth1["ingress"].as_array().unwrap().len(), 0);
    let b = &eth1["ingress_blocked"][0];
    assert_eq!(b["public_ip"], "47.96.10.20");
    assert_eq!(b["dropped"], "reply");
    assert_eq!(b["reason"], "eni_source_check");
    // The old spelling and a number still work; an unknown id is bad input.
    let (code, out2, _) = vpcsim(&["egress", "--after-step", "10", "--json"]);
    assert_eq!(code, 0);
    assert_eq!(json(&out2)["tables"], v["tables"]);
    let (code, _, err) = vpcsim(&[
        "trace",
        "--from",
        "i-web",
        "--to",
        "203.0.113.80:443",
        "--after",
        "no-such-step",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("no step has id `no-such-step`"), "{err}");
}

#[test]
fn run_json_names_step_ids_and_the_step_that_broke_an_invariant() {
    let dir = std::env::temp_dir().join(format!("vpcsim-inv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("inv.toml");
    let text = format!(
        "{}\n[[invariants]]\nname = \"i-web keeps its public IP\"\negress_of = \"i-web\"\negress_ip = \"47.96.10.20\"\n",
        vpcsim::scenario::DEFAULT_SCENARIO
    );
    std::fs::write(&f, text).unwrap();
    let (code, out, _) = vpcsim(&["run", f.to_str().unwrap(), "--json"]);
    assert_eq!(code, 1);
    let v = json(&out);
    assert_eq!(v["steps"][8]["id"], "bind-eip-to-eni");
    let inv = v["invariants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "i-web keeps its public IP")
        .unwrap();
    assert_eq!(inv["pass"], false);
    assert_eq!(inv["broken_by_step"], 8);
    assert_eq!(inv["broken_by_id"], "unbind-eip");
    let (_, text, _) = vpcsim(&["run", f.to_str().unwrap()]);
    assert!(text.contains("broken by step 8 (`unbind-eip`)"), "{text}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn capture_writes_one_interface_per_observation_point() {
    let dir = std::env::temp_dir().join(format!("vpcsim-cap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("run.pcapng");
    let (code, _, err) = vpcsim(&["run", "--capture", f.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let records: Vec<_> = vpcsim::pcapio::CaptureReader::open(&f)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(
        records.len() > 50,
        "checks and sessions are captured: {}",
        records.len()
    );
    assert!(
        records.windows(2).all(|w| w[0].ts_nanos <= w[1].ts_nanos),
        "time runs forward"
    );
    let bytes = std::fs::read(&f).unwrap();
    for name in ["i-web-eth0", "eni-web1", "ngw-prod outside", "internet"] {
        assert!(
            bytes.windows(name.len()).any(|w| w == name.as_bytes()),
            "interface {name} missing"
        );
    }
    // The SNAT translation is visible: the same probe on the ENI and on the gateway's outside.
    let f2 = dir.join("trace.pcapng");
    let (code, _, _) = vpcsim(&[
        "trace",
        "--from",
        "i-app",
        "--to",
        "203.0.113.80:443",
        "--capture",
        f2.to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    let recs: Vec<_> = vpcsim::pcapio::CaptureReader::open(&f2)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let srcs: Vec<_> = recs
        .iter()
        .map(|r| vpcsim::wire::parse(&r.data).unwrap().src.to_string())
        .collect();
    assert_eq!(srcs, ["192.168.1.20", "47.96.100.1"]);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn validate_applies_the_steps_and_reports_what_run_would() {
    let (_, example, _) = vpcsim(&["example"]);
    let dir = std::env::temp_dir().join(format!("vpcsim-validate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("s.toml");
    // An expected refusal that does not come (a step that succeeds) is caught without
    // sending a packet: exit 1, the step named with its line.
    let broken = example.replace(
        "expect_error = \"InvalidOperation.AvailabilityZoneMismatch\"",
        "expect_error = \"EniPerInstanceLimitExceeded\"",
    );
    std::fs::write(&f, broken).unwrap();
    let (code, out, err) = vpcsim(&["validate", f.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("INVALID"), "{out}");
    assert!(
        err.contains("step 4") && err.contains("but the file expects EniPerInstanceLimitExceeded"),
        "{err}"
    );
    let (code, out, _) = vpcsim(&["validate", f.to_str().unwrap(), "--json"]);
    assert_eq!(code, 1);
    let v = json(&out);
    assert_eq!(v["valid"], false);
    assert_eq!(v["steps"][3]["as_expected"], false);
    // An unquoted address says how to write it.
    std::fs::write(
        &f,
        example.replacen(
            "private_ip = \"192.168.1.10\"",
            "private_ip = 192.168.1.10",
            1,
        ),
    )
    .unwrap();
    let (code, _, err) = vpcsim(&["validate", f.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(
        err.contains("write IP addresses as quoted strings: private_ip = \"192.168.1.10\""),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn an_unknown_endpoint_suggests_the_closest_ids_and_names_are_accepted() {
    let (code, _, err) = vpcsim(&["trace", "--from", "i-webb", "--to", "1.2.3.4:80"]);
    assert_eq!(code, 2);
    assert!(err.contains("did you mean i-web"), "{err}");
    // An instance's name (imports carry them) works where its id does.
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/import/hangzhou"
    );
    let (code, out, err) = vpcsim(&[
        "trace",
        dir,
        "--from",
        "web-1",
        "--to",
        "203.0.113.80:443",
        "--json",
    ]);
    assert!(code == 0 || code == 1, "{err}");
    let v = json(&out);
    assert_eq!(v["request"]["from"], "web-1");
    let first = &v["probe"]["hops"][0];
    assert!(
        first["resource"]
            .as_str()
            .is_some_and(|r| r.starts_with("i-bp1a5ij0ktfw6xakbzhb")),
        "{first}"
    );
}

#[test]
fn bench_refuses_a_mix_the_topology_cannot_serve_naming_the_paths_it_has() {
    // The built-in scenario has no DNAT entry.
    let (code, _, err) = vpcsim(&[
        "bench",
        "--mix",
        "dnat=1",
        "--flows",
        "16",
        "--packets",
        "64",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("no dnat path") && err.contains("it has: "),
        "{err}"
    );
    assert!(err.contains("snat"), "{err}");
    let (code, out, _) = vpcsim(&[
        "bench",
        "--mix",
        "dnat=1",
        "--flows",
        "16",
        "--packets",
        "64",
        "--json",
    ]);
    assert_eq!(code, 2);
    assert!(json(&out)["error"]["message"]
        .as_str()
        .unwrap()
        .contains("no dnat path"));
}
