//! `vpcsim diff`: only what changed, with the step that caused it, and exit 1 until
//! every change is declared in `[[expect_change]]`.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

/// The declarations that make the built-in procedure's diff pass.
const DECLARED: &str = r#"
[[expect_change]]
instance = "i-web"
eni = "i-web-eth0"
egress = "47.96.100.1"

[[expect_change]]
eni = "eni-web1"
egress = "47.96.10.20"

[[expect_change]]
eni = "eni-zone-i"
egress = "none"

[[expect_change]]
exposure = "47.96.10.20"
change = "moved"

[[expect_change]]
reach = "* -> i-web"

[[expect_change]]
reach = "i-web -> *"
"#;

fn scratch(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vpcsim-diff-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write scenario");
    p
}

fn base() -> String {
    // Without its own declarations, if the built-in scenario has them.
    let s = vpcsim::scenario::DEFAULT_SCENARIO;
    match s.find("\n[[expect_change]]") {
        Some(i) => s[..i].to_string(),
        None => s.to_string(),
    }
}

fn diff(args: &[&str]) -> (i32, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_vpcsim"))
        .arg("diff")
        .args(args)
        .arg("--json")
        .output()
        .expect("vpcsim runs");
    let doc = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), doc)
}

fn changes(doc: &Value) -> Vec<Value> {
    doc["report"]["changes"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn find<'a>(cs: &'a [Value], kind: &str, what: &str) -> &'a Value {
    cs.iter()
        .find(|c| c["kind"] == kind && c["what"].as_str().is_some_and(|w| w.starts_with(what)))
        .unwrap_or_else(|| panic!("no {kind} change `{what}` in {cs:#?}"))
}

fn steps(c: &Value) -> Vec<u64> {
    c["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["step"].as_u64())
        .collect()
}

#[test]
fn the_procedure_diff_reports_exactly_its_changes_with_their_steps_and_fails_until_declared() {
    let undeclared = scratch("undeclared.toml", &base());
    let f = undeclared.to_str().expect("utf-8 path");
    let (code, doc) = diff(&[f, "--from", "0", "--to", "last"]);
    assert_eq!(code, 1, "undeclared changes fail the diff");
    assert_eq!(doc["command"], "diff");
    assert_eq!(doc["vpcsim"], 1);
    let cs = changes(&doc);
    // i-web's egress moves to the SNAT EIP when the EIP is unbound (step 8).
    let eg = find(&cs, "egress", "i-web i-web-eth0 192.168.1.10");
    assert_eq!(eg["before"]["egress_ip"], "47.96.10.20");
    assert_eq!(eg["after"]["egress_ip"], "47.96.100.1");
    assert_eq!(eg["after"]["via"], "snat");
    assert_eq!(steps(eg).last(), Some(&8));
    assert_eq!(eg["steps"][1]["op"], "UnassociateEipAddress");
    // The EIP's ssh moves from eth0 to eth1; bound to eth1 at step 9.
    let ssh = find(&cs, "exposure", "47.96.10.20 tcp/22");
    assert_eq!(ssh["change"], "moved");
    assert_eq!(ssh["before"]["eni"], "i-web-eth0");
    assert_eq!(ssh["after"]["eni"], "eni-web1");
    assert!(steps(ssh).contains(&9), "{ssh}");
    // Nothing about the other instances' own egress or exposure.
    for c in &cs {
        let w = c["what"].as_str().unwrap_or_default();
        assert!(
            w.contains("i-web") || w.contains("eni-zone-i") || w.starts_with("47.96.10.20"),
            "a change not of the procedure: {c}"
        );
    }
    assert_eq!(doc["report"]["unexpected"].as_u64(), Some(cs.len() as u64));

    let declared = scratch("declared.toml", &format!("{}{DECLARED}", base()));
    let (code, doc) = diff(&[
        declared.to_str().expect("utf-8"),
        "--from",
        "0",
        "--to",
        "last",
    ]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(doc["report"]["unexpected"], 0);
    assert!(changes(&doc).iter().all(|c| c["expected"] == true));
}

#[test]
fn a_declared_change_that_does_not_happen_fails_the_whole_diff() {
    let text = format!(
        "{}{DECLARED}\n[[expect_change]]\ninstance = \"i-app\"\negress = \"47.96.10.99\"\n",
        base()
    );
    let p = scratch("unmet.toml", &text);
    let (code, doc) = diff(&[p.to_str().expect("utf-8")]);
    assert_eq!(code, 1);
    assert_eq!(doc["report"]["unmet"], 1);
    assert_eq!(doc["report"]["unexpected"], 0);
}

#[test]
fn turning_policy_routes_off_breaks_the_replies_of_eth1_and_names_step_10() {
    let p = scratch("policy.toml", &base());
    let (code, doc) = diff(&[p.to_str().expect("utf-8"), "--from", "9", "--to", "10"]);
    assert_eq!(code, 1);
    let cs = changes(&doc);
    let ssh = find(&cs, "exposure", "47.96.10.20 tcp/22");
    assert_eq!(ssh["change"], "changed");
    assert_eq!(ssh["after"]["reply"]["reason"], "eni_source_check");
    assert_eq!(steps(ssh), vec![10]);
    assert_eq!(ssh["steps"][0]["resources"][0], "i-web");
    // Off then on again: nothing changed.
    let (code, doc) = diff(&[p.to_str().expect("utf-8"), "--from", "9", "--to", "11"]);
    assert_eq!((code, changes(&doc).len()), (0, 0), "{doc:#}");
}

const RULE_STEP: &str = r#"
[scenario]
name = "open-http"

[[steps]]
op = "AuthorizeSecurityGroup"
SecurityGroupId = "sg-web"
IpProtocol = "tcp"
PortRange = "80/80"
SourceCidrIp = "0.0.0.0/0"
"#;

#[test]
fn steps_applied_on_top_of_a_file_are_diffed_and_named() {
    let b = scratch("base.toml", &base());
    let s = scratch("open-http.toml", RULE_STEP);
    let (code, doc) = diff(&[
        b.to_str().expect("utf-8"),
        "--steps",
        s.to_str().expect("utf-8"),
    ]);
    assert_eq!(code, 1);
    let cs = changes(&doc);
    let http = find(&cs, "exposure", "47.96.10.20 tcp/80");
    assert_eq!(http["change"], "opened");
    assert_eq!(http["steps"][0]["op"], "AuthorizeSecurityGroup");
    assert_eq!(http["steps"][0]["resources"][0], "sg-web");
    find(&cs, "exposure", "47.96.10.30 tcp/80");
    // Declared in the steps file, the same change passes.
    let s2 = scratch(
        "open-http-declared.toml",
        &format!("{RULE_STEP}\n[[expect_change]]\nexposure = \"47.96.10.20 tcp/80\"\nchange = \"opened\"\n[[expect_change]]\nexposure = \"47.96.10.30 tcp/80\"\n[[expect_change]]\nreach = \"* -> *\"\n"),
    );
    let (code, doc) = diff(&[
        b.to_str().expect("utf-8"),
        "--steps",
        s2.to_str().expect("utf-8"),
    ]);
    assert_eq!(code, 0, "{doc:#}");
}

#[test]
fn two_files_are_compared_after_all_their_steps() {
    let a = scratch("a.toml", &base());
    let (code, doc) = diff(&[a.to_str().expect("utf-8"), a.to_str().expect("utf-8")]);
    assert_eq!((code, changes(&doc).len()), (0, 0));
    let b = scratch(
        "b.toml",
        &base().replace("ports = \"22/22\"", "ports = \"22/23\""),
    );
    let (code, doc) = diff(&[a.to_str().expect("utf-8"), b.to_str().expect("utf-8")]);
    assert_eq!(code, 1);
    let cs = changes(&doc);
    let telnet = find(&cs, "exposure", "47.96.10.20 tcp/23");
    assert_eq!(telnet["change"], "opened");
    assert_eq!(telnet["steps"][0]["op"], "the second file");
}

#[test]
fn a_bad_expect_change_entry_is_located() {
    let p = scratch(
        "bad.toml",
        &format!("{}\n[[expect_change]]\nexposure = \"ssh\"\n", base()),
    );
    let out = Command::new(env!("CARGO_BIN_EXE_vpcsim"))
        .args(["diff", p.to_str().expect("utf-8")])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("expect_change") && err.contains("public address"),
        "{err}"
    );
}

#[test]
fn the_built_in_scenario_declares_its_changes_so_its_diff_passes() {
    let (code, doc) = diff(&["--from", "0", "--to", "last"]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(doc["report"]["unexpected"], 0);
    assert_eq!(doc["report"]["unmet"], 0);
    assert!(!changes(&doc).is_empty());
}
