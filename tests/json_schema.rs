//! Every command's `--json` output validates against its schema in `docs/schema/`.
//!
//! The checker is a small structural validator for the part of JSON Schema 2020-12 the
//! schemas use (type, properties, required, additionalProperties, items, enum, const,
//! minimum, anyOf/oneOf/allOf, local `$ref`): the `jsonschema` crate pulls an HTTP
//! client and a regex engine into the dev build for the same answer. A keyword it does
//! not know fails the test, so a schema cannot quietly use one it skips.

use std::process::Command;

use serde_json::Value;

fn vpcsim(args: &[&str]) -> (i32, Value) {
    let o = Command::new(env!("CARGO_BIN_EXE_vpcsim"))
        .args(args)
        .output()
        .expect("run vpcsim");
    let text = String::from_utf8_lossy(&o.stdout);
    let v = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "vpcsim {args:?}: stdout is not one JSON document ({e}):\n{text}\nstderr: {}",
            String::from_utf8_lossy(&o.stderr)
        )
    });
    (o.status.code().unwrap_or(-1), v)
}

/// `vpcsim serve` with `input` on its standard input: one JSON document per answer line.
fn serve(input: &[u8]) -> Vec<Value> {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_vpcsim"))
        .arg("serve")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn schema(name: &str) -> Value {
    let path = format!(
        "{}/docs/schema/{name}.schema.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

const KNOWN: &[&str] = &[
    "$schema",
    "$id",
    "$defs",
    "$ref",
    "title",
    "description",
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "enum",
    "const",
    "minimum",
    "anyOf",
    "oneOf",
    "allOf",
];

fn type_ok(t: &str, v: &Value) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        "number" => v.is_number(),
        "integer" => v.is_u64() || v.is_i64(),
        other => panic!("unknown type `{other}` in a schema"),
    }
}

/// Errors of `v` against `s` (empty = valid), each with its JSON pointer.
fn check(root: &Value, s: &Value, v: &Value, at: &str, errs: &mut Vec<String>) {
    let Some(obj) = s.as_object() else {
        if s == &Value::Bool(false) {
            errs.push(format!("{at}: not allowed"));
        }
        return;
    };
    for k in obj.keys() {
        assert!(
            KNOWN.contains(&k.as_str()),
            "schema keyword `{k}` is not checked"
        );
    }
    if let Some(r) = obj.get("$ref").and_then(Value::as_str) {
        let name = r.strip_prefix("#/$defs/").expect("local $ref");
        check(root, &root["$defs"][name], v, at, errs);
    }
    if let Some(t) = obj.get("type") {
        let ok = match t {
            Value::String(t) => type_ok(t, v),
            Value::Array(ts) => ts.iter().any(|t| type_ok(t.as_str().unwrap_or(""), v)),
            _ => false,
        };
        if !ok {
            errs.push(format!("{at}: {v} is not of type {t}"));
            return;
        }
    }
    if let Some(c) = obj.get("const") {
        if c != v {
            errs.push(format!("{at}: {v} is not {c}"));
        }
    }
    if let Some(Value::Array(e)) = obj.get("enum") {
        if !e.contains(v) {
            errs.push(format!("{at}: {v} is not one of {e:?}"));
        }
    }
    if let (Some(m), Some(n)) = (obj.get("minimum").and_then(Value::as_f64), v.as_f64()) {
        if n < m {
            errs.push(format!("{at}: {n} < {m}"));
        }
    }
    if let Some(Value::Array(all)) = obj.get("allOf") {
        for sub in all {
            check(root, sub, v, at, errs);
        }
    }
    for (key, want) in [("anyOf", None), ("oneOf", Some(1))] {
        if let Some(Value::Array(alts)) = obj.get(key) {
            let mut sub_errs = vec![];
            let passing = alts
                .iter()
                .filter(|alt| {
                    let mut e = vec![];
                    check(root, alt, v, at, &mut e);
                    sub_errs.extend(e.iter().cloned());
                    e.is_empty()
                })
                .count();
            if passing == 0 || want.is_some_and(|w| passing != w) {
                errs.push(format!(
                    "{at}: {passing} of the {key} alternatives match: {sub_errs:?}"
                ));
            }
        }
    }
    if let Value::Object(m) = v {
        let props = obj.get("properties").and_then(Value::as_object);
        if let Some(Value::Array(req)) = obj.get("required") {
            for r in req {
                let r = r.as_str().unwrap_or_default();
                if !m.contains_key(r) {
                    errs.push(format!("{at}: lacks `{r}`"));
                }
            }
        }
        for (k, val) in m {
            let path = format!("{at}/{k}");
            match props.and_then(|p| p.get(k)) {
                Some(sub) => check(root, sub, val, &path, errs),
                None => match obj.get("additionalProperties") {
                    Some(Value::Bool(false)) => errs.push(format!("{path}: not in the schema")),
                    Some(sub @ Value::Object(_)) => check(root, sub, val, &path, errs),
                    _ => {}
                },
            }
        }
    }
    if let (Value::Array(items), Some(sub)) = (v, obj.get("items")) {
        for (i, item) in items.iter().enumerate() {
            check(root, sub, item, &format!("{at}/{i}"), errs);
        }
    }
}

fn assert_valid(name: &str, doc: &Value) {
    let s = schema(name);
    assert_eq!(
        s["$schema"], "https://json-schema.org/draft/2020-12/schema",
        "{name}: draft 2020-12"
    );
    let mut errs = vec![];
    check(&s, &s, doc, "", &mut errs);
    assert!(
        errs.is_empty(),
        "{name}: the output does not match docs/schema/{name}.schema.json:\n{}\n{doc:#}",
        errs.join("\n")
    );
}

#[test]
fn the_checker_refuses_what_a_schema_forbids() {
    let s = schema("trace");
    let mut errs = vec![];
    check(
        &s,
        &s,
        &serde_json::json!({"vpcsim": 1, "command": "trace", "scenario": null, "after": null}),
        "",
        &mut errs,
    );
    assert!(
        !errs.is_empty(),
        "a trace without a probe must not validate"
    );
}

#[test]
fn run_json_matches_its_schema() {
    let (code, doc) = vpcsim(&["run", "--json"]);
    assert_eq!(code, 0);
    assert_valid("run", &doc);
}

#[test]
fn plan_json_matches_its_schema() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/terraform");
    for (f, want) in [
        ("procedure.plan.json", 0),
        ("refused-halfway.plan.json", 1),
        ("unknowns.plan.json", 0),
        ("unsupported.plan.json", 0),
    ] {
        let path = format!("{dir}/{f}");
        let (code, doc) = vpcsim(&["plan", &path, "--json"]);
        assert_eq!(code, want, "{f}");
        assert_valid("plan", &doc);
    }
    let inv = format!("{dir}/procedure.invariants.toml");
    let (code, doc) = vpcsim(&[
        "plan",
        &format!("{dir}/procedure.plan.json"),
        "--invariants",
        &inv,
        "--json",
    ]);
    assert_eq!(code, 1);
    assert_valid("plan", &doc);
    let (code, doc) = vpcsim(&["plan", "/nonexistent/plan.json", "--json"]);
    assert_eq!(code, 2);
    assert_valid("plan", &doc);
}

#[test]
fn validate_json_matches_its_schema() {
    let file = format!("{}/src/scenario/default.toml", env!("CARGO_MANIFEST_DIR"));
    let (code, doc) = vpcsim(&["validate", &file, "--json"]);
    assert_eq!(code, 0);
    assert_valid("validate", &doc);
}

#[test]
fn trace_json_matches_its_schema_with_and_without_reply() {
    for args in [
        &[
            "trace",
            "--from",
            "i-web",
            "--to",
            "203.0.113.80:443",
            "--json",
        ][..],
        &[
            "trace",
            "--from",
            "internet:198.51.100.7",
            "--to",
            "47.96.10.20:22",
            "--after-step",
            "10",
            "--reply",
            "--json",
        ],
        &[
            "trace", "--from", "i-web", "--to", "8.8.8.8", "--proto", "icmp", "--json",
        ],
    ] {
        let (_, doc) = vpcsim(args);
        assert_valid("trace", &doc);
    }
}

#[test]
fn session_json_matches_its_schema() {
    let (code, doc) = vpcsim(&[
        "session",
        "--from",
        "i-web",
        "--to",
        "203.0.113.80:80",
        "--service",
        "http",
        "--json",
    ]);
    assert_eq!(code, 0);
    assert_valid("session", &doc);
}

#[test]
fn bench_json_matches_its_schema_and_counts_are_maps() {
    let (code, doc) = vpcsim(&["bench", "--flows", "64", "--packets", "2k", "--json"]);
    assert_eq!(code, 0);
    assert_valid("bench", &doc);
    assert!(doc["points"][0]["dropped"].is_object());
    assert!(doc["points"][0]["flows_by_path"].is_object());
}

#[test]
fn errors_with_json_are_one_document_on_stdout_with_exit_2() {
    let dir = std::env::temp_dir().join(format!("vpcsim-schema-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[scenario]\nname = \"x\"\nbogus = 1\n").unwrap();
    let bad = bad.to_str().unwrap();
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("run", vec!["run", bad, "--json"]),
        ("validate", vec!["validate", bad, "--json"]),
        (
            "trace",
            vec!["trace", "--from", "i-nope", "--to", "1.2.3.4:80", "--json"],
        ),
        (
            "session",
            vec![
                "session",
                "--from",
                "i-nope",
                "--to",
                "1.2.3.4:80",
                "--service",
                "ssh",
                "--json",
            ],
        ),
        ("bench", vec!["bench", "--flows", "x", "--json"]),
    ];
    for (command, args) in cases {
        let (code, doc) = vpcsim(&args);
        assert_eq!(code, 2, "{args:?}");
        assert_valid("error", &doc);
        assert_valid(command, &doc);
        assert_eq!(doc["command"], command);
    }
    // A scenario error keeps its place in the file.
    let (_, doc) = vpcsim(&["run", bad, "--json"]);
    assert_eq!(doc["error"]["kind"], "scenario");
    assert_eq!(doc["error"]["line"], 3);
    assert!(doc["error"]["file"].as_str().unwrap().ends_with("bad.toml"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn serve_answers_match_the_schemas_of_their_commands() {
    let lines = serve(
        b"{\"id\":1,\"op\":\"trace\",\"from\":\"i-web\",\"to\":\"203.0.113.80:443\",\"reply\":true}\n\
          {\"id\":2,\"op\":\"session\",\"from\":\"i-web\",\"to\":\"203.0.113.80:80\",\"service\":\"http\"}\n\
          {\"id\":3,\"op\":\"nope\"}\n",
    );
    assert_eq!(lines.len(), 3);
    assert_valid("trace", &lines[0]);
    assert_valid("session", &lines[1]);
    assert_valid("error", &lines[2]);
}

#[test]
fn an_unknown_endpoint_error_carries_the_suggestion_as_its_fix() {
    let (code, doc) = vpcsim(&["trace", "--from", "i-webb", "--to", "1.2.3.4:80", "--json"]);
    assert_eq!(code, 2);
    assert_valid("error", &doc);
    assert!(
        doc["error"]["fix"]
            .as_str()
            .is_some_and(|f| f.starts_with("did you mean i-web")),
        "{doc}"
    );
}

fn manifest(p: &str) -> String {
    format!("{}/{p}", env!("CARGO_MANIFEST_DIR"))
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("vpcsim-schema-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn run_json_lists_invariants_and_the_procedures_diff() {
    let (code, doc) = vpcsim(&["run", "--json"]);
    assert_eq!(code, 0);
    assert_valid("run", &doc);
    assert!(doc["invariants"].is_array());
    // Issue 14 part 6: the procedure moves i-web's egress to the SNAT EIP and its EIP
    // to eth1 (eni-web1), and the scenario declares both.
    let r = &doc["diff"]["report"];
    assert_eq!(r["pass"], true, "{r:#}");
    let changes = r["changes"].as_array().unwrap();
    assert!(changes.iter().any(|c| c["kind"] == "egress"
        && c["what"].as_str().unwrap().starts_with("i-web i-web-eth0")
        && c["after"]["egress_ip"] == "47.96.100.1"));
    assert!(changes.iter().any(|c| c["kind"] == "exposure"
        && c["what"].as_str().unwrap().starts_with("47.96.10.20")
        && c["change"] == "moved"
        && c["after"]["eni"] == "eni-web1"));
    assert_eq!(doc["diff"]["to"]["step"], doc["after"]["step"]);
}

#[test]
fn egress_json_matches_its_schema_before_and_after_and_at_one_step() {
    let (code, doc) = vpcsim(&["egress", "--json"]);
    assert_eq!(code, 0);
    assert_valid("egress", &doc);
    assert_eq!(doc["tables"].as_array().unwrap().len(), 2);
    assert!(doc["after"].is_null());
    let (_, doc) = vpcsim(&["egress", "--after-step", "3", "--json"]);
    assert_valid("egress", &doc);
    assert_eq!(doc["after"]["step"], 3);
    let (code, doc) = vpcsim(&[
        "egress",
        &manifest("tests/fixtures/import/hangzhou"),
        "--json",
    ]);
    assert_eq!(code, 0, "{doc}");
    assert_valid("egress", &doc);
}

#[test]
fn import_json_matches_its_schema_for_both_fixtures() {
    for dir in [
        "tests/fixtures/import/hangzhou",
        "tests/fixtures/import2/shanghai",
    ] {
        let (code, doc) = vpcsim(&["import", &manifest(dir), "--json"]);
        assert_eq!(code, 0, "{dir}: {doc}");
        assert_valid("import", &doc);
        assert!(
            doc["scenario"].is_string(),
            "{dir}: the imported scenario's name"
        );
        assert!(doc["toml"].as_str().unwrap().contains("[scenario]"));
    }
    let (code, doc) = vpcsim(&["import", "/nonexistent-vpcsim-dump", "--json"]);
    assert_eq!(code, 2);
    assert_valid("import", &doc);
    assert_valid("error", &doc);
}

#[test]
fn replay_json_matches_its_schema_with_and_without_expect() {
    let dir = scratch("replay");
    let out = dir.join("out.pcap");
    let out = out.to_str().unwrap();
    let pcap = manifest("pcaps/eip-egress.in.i-web.pcap");
    let (code, doc) = vpcsim(&[
        "replay", "--pcap", &pcap, "--at", "i-web", "--out", out, "--json",
    ]);
    assert_eq!(code, 0, "{doc}");
    assert_valid("replay", &doc);
    assert!(doc["summary"]["packets_read"].as_u64().unwrap() > 0);
    assert!(doc["after"]["step"].is_u64());
    // Against itself: a match.
    let (code, doc) = vpcsim(&[
        "replay",
        "--pcap",
        &pcap,
        "--at",
        "i-web",
        "--out",
        &format!("{out}.2"),
        "--expect",
        out,
        "--json",
    ]);
    assert_eq!(code, 0, "{doc}");
    assert_valid("replay", &doc);
    assert_eq!(doc["expect"]["match"], true);
    let (code, doc) = vpcsim(&[
        "replay",
        "--pcap",
        "/nonexistent.pcap",
        "--at",
        "i-web",
        "--out",
        out,
        "--json",
    ]);
    assert_eq!(code, 2);
    assert_valid("replay", &doc);
    assert_valid("error", &doc);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn reach_and_exposure_json_match_their_schemas() {
    let (code, doc) = vpcsim(&["reach", "--from", "i-web", "--json"]);
    assert_eq!(code, 0);
    assert_valid("reach", &doc);
    assert!(!doc["rows"].as_array().unwrap().is_empty());
    let (code, doc) = vpcsim(&["reach", "--to", "i-web", "--after", "0", "--json"]);
    assert_eq!(code, 0);
    assert_valid("reach", &doc);
    assert_eq!(doc["after"]["step"], 0);
    let (code, doc) = vpcsim(&["exposure", "--json"]);
    assert_eq!(code, 0);
    assert_valid("exposure", &doc);
    assert!(!doc["exposed"].as_array().unwrap().is_empty());
    let (code, doc) = vpcsim(&[
        "exposure",
        &manifest("tests/fixtures/import/hangzhou"),
        "--json",
    ]);
    assert_eq!(code, 0, "{doc}");
    assert_valid("exposure", &doc);
    for args in [
        &["reach", "--from", "i-nope", "--json"][..],
        &["exposure", "--after", "99", "--json"],
    ] {
        let (code, doc) = vpcsim(args);
        assert_eq!(code, 2, "{args:?}");
        assert_valid(args[0], &doc);
        assert_valid("error", &doc);
    }
}

#[test]
fn diff_json_matches_its_schema_for_steps_and_for_two_dumps() {
    let (code, doc) = vpcsim(&["diff", "--json"]);
    assert_eq!(code, 0, "the built-in scenario declares its changes");
    assert_valid("diff", &doc);
    assert!(!doc["report"]["changes"].as_array().unwrap().is_empty());
    // Part of the procedure: its changes are a subset, still a valid document.
    let (_, doc) = vpcsim(&["diff", "--from", "0", "--to", "4", "--json"]);
    assert_valid("diff", &doc);
    let (_, doc) = vpcsim(&[
        "diff",
        &manifest("tests/fixtures/import/hangzhou"),
        &manifest("tests/fixtures/import2/shanghai"),
        "--json",
    ]);
    assert_valid("diff", &doc);
    let (code, doc) = vpcsim(&["diff", "--from", "5", "--to", "2", "--json"]);
    assert_eq!(code, 2);
    assert_valid("diff", &doc);
    assert_valid("error", &doc);
}

#[test]
fn serve_egress_apply_reset_and_info_answers_match_their_schemas() {
    let lines = serve(
        b"{\"id\":1,\"op\":\"egress\"}\n\
          {\"id\":2,\"op\":\"info\"}\n\
          {\"id\":3,\"op\":\"apply\",\"step\":{\"op\":\"UnassociateEipAddress\",\"AllocationId\":\"eip-web\",\"InstanceId\":\"eni-web1\",\"InstanceType\":\"NetworkInterface\"}}\n\
          {\"id\":4,\"op\":\"apply\",\"step\":{\"op\":\"UnassociateEipAddress\",\"AllocationId\":\"eip-web\",\"InstanceId\":\"eni-web1\",\"InstanceType\":\"NetworkInterface\"}}\n\
          {\"id\":5,\"op\":\"reset\"}\n",
    );
    assert_eq!(lines.len(), 5);
    assert_valid("egress", &lines[0]);
    for l in &lines[1..] {
        assert_valid("serve", l);
    }
    assert_eq!(lines[2]["ok"], true, "{}", lines[2]);
    assert_eq!(lines[3]["ok"], false, "{}", lines[3]);
    assert_eq!(lines[4]["command"], "reset");
}
