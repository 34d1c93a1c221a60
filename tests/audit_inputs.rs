//! Bad input the way a user makes it: a typo'd field, an overlapping CIDR, a capture cut
//! mid-record, a dump with an unknown file, a state given as a plan. vpcsim must answer
//! with a clear error (exit 2, what and where) or a warning — never a panic, never a
//! different answer.

mod audit_support;
use audit_support::*;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

const BASE: &str = r#"
[scenario]
name = "audit-inputs"

[[vpcs]]
id = "vpc-1"
cidr = "10.0.0.0/16"

[[vswitches]]
id = "vsw-a"
vpc = "vpc-1"
zone = "z-a"
cidr = "10.0.1.0/24"

[[security_groups]]
id = "sg-a"
vpc = "vpc-1"
rules = [ { direction = "ingress", protocol = "tcp", ports = "22/22", cidr = "0.0.0.0/0" } ]

[[instances]]
id = "i-a"
vswitch = "vsw-a"
private_ip = "10.0.1.10"
security_groups = ["sg-a"]
"#;

fn validate(name: &str, toml: &str) -> (i32, serde_json::Value) {
    let d = tmp(name);
    let f = scenario_file(&d, "s.toml", toml);
    let r = vpcsim(&["validate", &f, "--json"]);
    r.no_panic();
    (r.code, r.json())
}

#[test]
fn scenario_typos_and_overlaps_are_located_errors() {
    // Unknown keys, overlapping VSwitch CIDRs, an IP outside its VSwitch, a reserved
    // address, a priority out of 1–100: exit 2 with file:line and the reason.
    let cases = [
        ("typo", BASE.replace("private_ip =", "privat_ip ="), "privat_ip"),
        (
            "overlap",
            format!("{BASE}\n[[vswitches]]\nid = \"vsw-b\"\nvpc = \"vpc-1\"\nzone = \"z-a\"\ncidr = \"10.0.1.128/25\"\n"),
            "overlaps",
        ),
        ("outside", BASE.replace("\"10.0.1.10\"", "\"10.0.2.10\""), "outside"),
        ("reserved", BASE.replace("\"10.0.1.10\"", "\"10.0.1.253\""), "reserved"),
        (
            "priority",
            BASE.replace("cidr = \"0.0.0.0/0\" }", "cidr = \"0.0.0.0/0\", priority = 0 }"),
            "InvalidPriority.Malformed",
        ),
    ];
    for (name, toml, needle) in cases {
        let (code, j) = validate(name, &toml);
        assert_eq!(code, 2, "{name}: {j}");
        let e = &j["error"];
        assert!(
            e["message"].as_str().unwrap().contains(needle),
            "{name}: {e}"
        );
        assert!(e["line"].as_u64().is_some(), "{name}: no line in {e}");
    }
}

#[test]
fn a_pcap_cut_mid_record_is_a_capture_error_and_keeps_what_was_replayed() {
    // docs/REPLAY.md: a truncated capture ends the replay with exit 2, the output so far
    // kept.
    let d = tmp("cut");
    let src = std::fs::read(format!("{ROOT}/pcaps/snat.in.i-app.pcap")).unwrap();
    for cut in [10, 30, src.len() - 5] {
        let p = d.join(format!("cut{cut}.pcap"));
        std::fs::write(&p, &src[..cut]).unwrap();
        let out = d.join("o.pcap");
        let r = vpcsim(&[
            "replay",
            &format!("{ROOT}/pcaps/topology.toml"),
            "--pcap",
            p.to_str().unwrap(),
            "--at",
            "i-app",
            "--out",
            out.to_str().unwrap(),
            "--json",
        ]);
        r.no_panic();
        assert_eq!(r.code, 2, "cut at {cut}: {}", r.stdout);
        let j = r.json();
        let m = j["error"]["message"].as_str().unwrap_or_default();
        assert!(m.contains("truncated"), "cut at {cut}: {j}");
    }
}

#[test]
fn an_import_folder_with_an_unknown_resource_file_warns_and_a_cut_json_is_an_error() {
    let d = tmp("import");
    let src = format!("{ROOT}/tests/fixtures/import/hangzhou");
    let dump = d.join("dump");
    std::fs::create_dir_all(&dump).unwrap();
    for f in std::fs::read_dir(&src).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), dump.join(f.file_name())).unwrap();
    }
    std::fs::write(
        dump.join("vpn.json"),
        r#"{"RequestId":"x","VpnGateways":{"VpnGateway":[{"VpnGatewayId":"vpn-1"}]}}"#,
    )
    .unwrap();
    let r = vpcsim(&["import", dump.to_str().unwrap(), "--json"]);
    r.no_panic();
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(r.stdout.contains("vpn.json"), "the skipped file is named");
    let r = vpcsim(&["import", "--strict", dump.to_str().unwrap(), "--json"]);
    assert_eq!(r.code, 2, "--strict: a warning is an error");

    let eips = std::fs::read_to_string(dump.join("eips.json")).unwrap();
    std::fs::write(dump.join("eips.json"), &eips[..eips.len() / 2]).unwrap();
    let r = vpcsim(&["import", dump.to_str().unwrap(), "--json"]);
    r.no_panic();
    assert_eq!(r.code, 2);
    let m = r.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(
        m.contains("eips.json") && m.contains("not valid JSON"),
        "{m}"
    );
}

#[test]
fn plan_given_a_state_file_says_so_instead_of_accepting_everything() {
    // `terraform show -json` of a state (not a plan) checked no call and answered "the
    // cloud accepts every simulated call", exit 0.
    let d = tmp("state-as-plan");
    let plan: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!(
            "{ROOT}/tests/fixtures/terraform/procedure.plan.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let state = serde_json::json!({
        "format_version": "1.0",
        "terraform_version": "1.5.7",
        "values": plan["prior_state"]["values"],
    });
    let f = d.join("state.json");
    std::fs::write(&f, state.to_string()).unwrap();
    let r = vpcsim(&["plan", f.to_str().unwrap(), "--json"]);
    r.no_panic();
    assert_eq!(r.code, 2, "{}", r.stdout);
    let m = r.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(m.contains("state"), "{m}");
}

#[test]
fn plan_with_an_unknown_change_action_is_refused_not_dropped() {
    // An action vpcsim did not know was dropped: the change vanished from the calls and
    // the calls depending on it were reported refused with InvalidEniId.NotFound.
    let d = tmp("bad-action");
    let mut plan: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!(
            "{ROOT}/tests/fixtures/terraform/procedure.plan.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let rc = plan["resource_changes"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|r| r["change"]["actions"] == serde_json::json!(["create"]))
        .unwrap();
    let address = rc["address"].as_str().unwrap().to_string();
    rc["change"]["actions"] = serde_json::json!(["frobnicate"]);
    let f = d.join("plan.json");
    std::fs::write(&f, plan.to_string()).unwrap();
    let r = vpcsim(&["plan", f.to_str().unwrap(), "--json"]);
    r.no_panic();
    assert_eq!(r.code, 2, "{}", r.stdout);
    let m = r.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(m.contains(&address) && m.contains("frobnicate"), "{m}");
}

#[test]
fn an_unknown_drop_reason_in_a_check_is_bad_input() {
    // A check that names a drop reason that does not exist can never pass: the typo
    // must be reported as such, not as a failed check.
    let toml = format!(
        "{BASE}\n[[checks]]\nname = \"x\"\nfrom = \"i-a\"\nto = \"1.2.3.4:80\"\nexpect = \"dropped\"\nexpect_reason = \"no_snat\"\n"
    );
    let d = tmp("reason");
    let f = scenario_file(&d, "s.toml", &toml);
    let r = vpcsim(&["run", &f, "--json"]);
    r.no_panic();
    assert_eq!(r.code, 2, "{}", r.stdout);
    let m = r.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(m.contains("no_snat"), "{m}");
}

#[test]
fn an_eip_address_inside_a_vpc_cidr_is_refused() {
    // An EIP is a public address; 10.0.1.50 inside the VPC (a typo of 47.…) gave an
    // instance "egress 10.0.1.50 via eip" while packets to it found no ENI.
    let toml = format!(
        "{BASE}\n[[eips]]\nid = \"e\"\naddress = \"10.0.1.50\"\nbind = {{ type = \"EcsInstance\", id = \"i-a\" }}\n"
    );
    let (code, j) = validate("eip-in-vpc", &toml);
    assert_eq!(code, 2, "{j}");
    assert!(
        j["error"]["message"]
            .as_str()
            .unwrap()
            .contains("inside VPC"),
        "{j}"
    );
    let step = format!(
        "{BASE}\n[[steps]]\nop = \"AllocateEipAddress\"\nIpAddress = \"10.0.9.9\"\nexpect_error = \"InvalidIpAddress.InVpc\"\n"
    );
    let (code, j) = validate("eip-step-in-vpc", &step);
    assert_eq!(code, 0, "{j}");
}

#[test]
fn with_two_captures_the_truncated_one_is_named() {
    // "What was wrong, where": with several --pcap, the error says which file is cut.
    let d = tmp("two-pcaps");
    let src = std::fs::read(format!("{ROOT}/pcaps/snat.in.i-app.pcap")).unwrap();
    let cut = d.join("cut-app.pcap");
    std::fs::write(&cut, &src[..src.len() - 5]).unwrap();
    let out = d.join("o.pcap");
    let r = vpcsim(&[
        "replay",
        &format!("{ROOT}/pcaps/topology.toml"),
        "--pcap",
        &format!("{ROOT}/pcaps/snat.in.internet.pcap"),
        "--at",
        "internet",
        "--pcap",
        cut.to_str().unwrap(),
        "--at",
        "i-app",
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    r.no_panic();
    assert_eq!(r.code, 2, "{}", r.stdout);
    let e = &r.json()["error"];
    assert!(
        e["message"].as_str().unwrap().contains("cut-app.pcap"),
        "{e}"
    );
    assert!(e["file"].as_str().unwrap().contains("cut-app.pcap"), "{e}");
}
