//! `vpcsim plan`: a Terraform JSON plan (tests/fixtures/terraform/, written from the
//! documented JSON output format and the alicloud provider's documented attributes —
//! see the README there) → the provider's calls, the cloud's refusals, egress before and
//! after.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use vpcsim::terraform::{self, OpStatus, PlanReport};

mod support;
use support::vpcsim;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/terraform")
        .join(name)
}

fn check(name: &str) -> PlanReport {
    let plan = terraform::load(&fixture(name), None).unwrap_or_else(|e| panic!("{name}: {e}"));
    terraform::check_plan(&plan)
}

/// Writes a plan document to a temporary file named after the test.
fn temp_plan(test: &str, doc: &Value) -> PathBuf {
    let p = std::env::temp_dir().join(format!("vpcsim-{}-{test}.json", std::process::id()));
    std::fs::write(&p, serde_json::to_string(doc).unwrap()).unwrap();
    p
}

/// Checks a plan document written to a temporary file (removed after).
fn check_doc(test: &str, doc: &Value) -> PlanReport {
    let p = temp_plan(test, doc);
    let r = terraform::check_plan(&terraform::load(&p, None).unwrap());
    let _ = std::fs::remove_file(&p);
    r
}

/// The values of `alicloud_instance.app` before the procedure plan.
fn prior_app() -> Value {
    let base: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("procedure.plan.json")).unwrap())
            .unwrap();
    base["prior_state"]["values"]["root_module"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["address"] == "alicloud_instance.app")
        .unwrap()["values"]
        .clone()
}

/// Each operation's call and status, in order.
fn calls_of(r: &PlanReport) -> Vec<(&str, OpStatus)> {
    r.operations
        .iter()
        .map(|o| (o.call.as_str(), o.status))
        .collect()
}

fn egress_of<'a>(rows: &'a [vpcsim::probe::EgressRow], eni: &str) -> &'a vpcsim::probe::EgressRow {
    rows.iter()
        .find(|r| r.eni == eni)
        .unwrap_or_else(|| panic!("no egress row for {eni}"))
}

// ----- the procedure of the seed documents, as a plan -----

/// same-eip-for-egress-procedure.md as Terraform: a new EIP + association to a new
/// secondary ENI (attached to the instance), `internet_max_bandwidth_out = 0` on the
/// instance (the provider documents it as releasing the public IP), a SNAT entry.
#[test]
fn procedure_plan_calls_are_all_ok_and_egress_moves_to_the_snat_eip() {
    let r = check("procedure.plan.json");
    let calls: Vec<(&str, &str)> = r
        .operations
        .iter()
        .map(|o| (o.resource.as_str(), o.call.as_str()))
        .collect();
    assert_eq!(
        calls,
        [
            ("alicloud_instance.web", "ModifyInstanceNetworkSpec"),
            (
                "alicloud_ecs_network_interface.web_public",
                "CreateNetworkInterface"
            ),
            (
                "alicloud_ecs_network_interface_attachment.web_public",
                "AttachNetworkInterface"
            ),
            ("alicloud_eip_address.web", "AllocateEipAddress"),
            ("alicloud_eip_association.web", "AssociateEipAddress"),
            ("alicloud_snat_entry.vsw_h", "CreateSnatEntry"),
        ]
    );
    for o in &r.operations {
        assert_eq!(
            o.status,
            OpStatus::Ok,
            "{} {}: {}",
            o.resource,
            o.call,
            o.message
        );
    }
    assert!(r.pass);
    // SEMANTICS.md §3: a static public IP egresses 1:1; without one, the SNAT entry.
    let before = egress_of(&r.egress_before, "i-web-eth0");
    assert_eq!(before.egress_ip, Some("47.96.10.20".parse().unwrap()));
    let after = egress_of(&r.egress_after, "i-web-eth0");
    assert_eq!(after.egress_ip, Some("47.96.100.1".parse().unwrap()));
    assert_eq!(after.via, "snat");
    // The new EIP reaches the secondary ENI (ssh, step 6 of the procedure).
    let eni = egress_of(&r.egress_after, "alicloud_ecs_network_interface.web_public");
    let ingress: Vec<String> = eni.ingress.iter().map(|i| i.label()).collect();
    assert_eq!(ingress, ["198.18.0.1 tcp/22"]);

    // The whole-VPC diff (as `vpcsim diff`), each change with the calls that made it.
    let change = |kind: &str, what: &str| {
        r.diff
            .iter()
            .find(|c| c.kind == kind && c.what == what)
            .unwrap_or_else(|| panic!("no {kind} change {what}"))
    };
    let calls_of = |c: &vpcsim::reach::diff::Change| -> Vec<String> {
        c.steps.iter().map(|s| s.op.clone()).collect()
    };
    let web = change("egress", "i-web i-web-eth0 192.168.1.10");
    assert_eq!(
        calls_of(web),
        ["ModifyInstanceNetworkSpec", "CreateSnatEntry"]
    );
    let ssh = change("exposure", "47.96.10.20 tcp/22");
    assert_eq!(ssh.change, "closed");
    assert_eq!(calls_of(ssh), ["ModifyInstanceNetworkSpec"]);
    let new_ssh = change(
        "exposure",
        &format!("198.18.0.1 {} tcp/22", terraform::UNKNOWN_MARK),
    );
    assert_eq!(new_ssh.change, "opened");

    let (code, out, _) = vpcsim(&["plan", fixture("procedure.plan.json").to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("by call 1 ModifyInstanceNetworkSpec (alicloud_instance.web)"),
        "{out}"
    );
    assert!(
        out.contains("47.96.10.20 (static_public_ip) → 47.96.100.1 (snat)"),
        "{out}"
    );
    assert!(out.contains("6/6 calls OK, 0 refused"), "{out}");
}

// ----- a plan the cloud refuses halfway -----

/// SEMANTICS.md §4: AssociateEipAddress to an instance with DNAT entries is refused with
/// BIND_INSTANCE_HAVE_PORTMAP_OR_BIND_EIP; apply stops that resource and its
/// dependents, the independent rest goes on.
#[test]
fn refused_plan_names_the_call_and_the_clouds_code_and_exits_1() {
    let r = check("refused-halfway.plan.json");
    let refused: Vec<_> = r
        .operations
        .iter()
        .filter(|o| o.status == OpStatus::Refused)
        .collect();
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].resource, "alicloud_eip_association.db");
    assert_eq!(refused[0].call, "AssociateEipAddress");
    assert_eq!(
        refused[0].code.as_deref(),
        Some("BIND_INSTANCE_HAVE_PORTMAP_OR_BIND_EIP")
    );
    assert!(
        refused[0].message.contains("fwd-db-ssh"),
        "{}",
        refused[0].message
    );
    let status = |addr: &str| {
        r.operations
            .iter()
            .find(|o| o.resource == addr)
            .map(|o| o.status)
    };
    // Before it: done. Depending on it: never made. Independent: done.
    assert_eq!(status("alicloud_eip_address.db"), Some(OpStatus::Ok));
    assert_eq!(
        status("alicloud_security_group_rule.db_public_https"),
        Some(OpStatus::NotReached)
    );
    assert_eq!(
        status("alicloud_security_group_rule.icmp"),
        Some(OpStatus::Ok)
    );
    assert!(!r.pass);

    let path = fixture("refused-halfway.plan.json");
    let (code, out, _) = vpcsim(&["plan", path.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("AssociateEipAddress")
            && out.contains("REFUSED: BIND_INSTANCE_HAVE_PORTMAP_OR_BIND_EIP"),
        "{out}"
    );
    let (code, out, _) = vpcsim(&["plan", path.to_str().unwrap(), "--json"]);
    assert_eq!(code, 1);
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["vpcsim"], 1);
    assert_eq!(doc["command"], "plan");
    assert_eq!(doc["after"], Value::Null);
    assert_eq!(doc["pass"], false);
    assert_eq!(doc["refused"], 1);
    assert_eq!(
        doc["operations"][1]["code"],
        "BIND_INSTANCE_HAVE_PORTMAP_OR_BIND_EIP"
    );
}

// ----- unknown values -----

#[test]
fn unknown_values_get_placeholders_from_the_documented_range_marked_everywhere() {
    let r = check("unknowns.plan.json");
    assert!(r.pass, "{:?}", r.operations);
    let value = |res: &str, attr: &str| {
        r.unknowns
            .iter()
            .find(|u| u.resource == res && u.attribute == attr)
            .map(|u| u.value.clone())
            .unwrap_or_else(|| panic!("{res}.{attr} not listed as unknown: {:?}", r.unknowns))
    };
    let range: ipnet::Ipv4Net = terraform::UNKNOWN_PUBLIC_RANGE.parse().unwrap();
    for eip in ["alicloud_eip_address.app", "alicloud_eip_address.nat2"] {
        let ip: std::net::Ipv4Addr = value(eip, "ip_address").parse().unwrap();
        assert!(range.contains(&ip), "{ip}");
    }
    // An ENI's primary IP the cloud assigns: the first idle address of its VSwitch.
    let eni_ip = value(
        "alicloud_ecs_network_interface.app_public",
        "primary_ip_address",
    );
    assert_eq!(eni_ip, "192.168.1.1");
    // The SNAT entry uses the unknown EIP: egress shows the placeholder, marked.
    let nat2 = value("alicloud_eip_address.nat2", "ip_address");
    let app = r
        .egress_changes
        .iter()
        .find(|c| c.eni == "i-app-eth0")
        .expect("i-app's egress changes");
    assert_eq!(
        app.egress_after,
        format!("{nat2} {} (snat)", terraform::UNKNOWN_MARK)
    );
    // Every rendering that shows a placeholder marks it.
    for o in &r.operations {
        for line in o.changes.iter().chain([&o.message]) {
            for u in &r.unknowns {
                if line.contains(&u.value) {
                    assert!(
                        line.contains(&format!("{} {}", u.value, terraform::UNKNOWN_MARK)),
                        "{line}"
                    );
                }
            }
        }
    }
    let (_, out, _) = vpcsim(&[
        "plan",
        fixture("unknowns.plan.json").to_str().unwrap(),
        "--json",
    ]);
    let doc: Value = serde_json::from_str(&out).unwrap();
    let row = doc["egress_after"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["eni"] == "i-app-eth0")
        .unwrap();
    assert_eq!(row["egress_ip"], nat2.as_str());
    assert_eq!(row["unknown_until_apply"], json!([nat2]));
    assert_eq!(doc["unknowns"].as_array().unwrap().len(), r.unknowns.len());
    let (_, out, _) = vpcsim(&["plan", fixture("unknowns.plan.json").to_str().unwrap()]);
    for u in &r.unknowns {
        for line in out.lines().filter(|l| l.contains(&u.value)) {
            assert!(line.contains(terraform::UNKNOWN_MARK), "unmarked: {line}");
        }
    }
}

// ----- what vpcsim does not model -----

#[test]
fn unsupported_resources_and_attributes_are_warned_never_dropped_silently() {
    let r = check("unsupported.plan.json");
    let warned = |addr: &str| {
        r.warnings
            .iter()
            .any(|w| w.examples.iter().any(|e| e == addr))
    };
    for addr in [
        "alicloud_oss_bucket.logs",
        "alicloud_slb_load_balancer.web",
        "alicloud_log_project.audit",
        "alicloud_security_group_rule.https_v6",
    ] {
        assert!(warned(addr), "{addr} not warned: {:?}", r.warnings);
    }
    // An attribute that changes forwarding and is not modelled.
    assert!(
        r.warnings
            .iter()
            .any(|w| w.kind.contains("`enable_ipv6`") && w.examples == ["alicloud_vswitch.staging"]),
        "{:?}",
        r.warnings
    );
    // A call vpcsim has no operation for (releasing an instance) is reported.
    let st = |addr: &str| {
        r.operations
            .iter()
            .find(|o| o.resource == addr)
            .map(|o| o.status)
    };
    assert_eq!(st("alicloud_instance.app"), Some(OpStatus::NotSimulated));
    assert_eq!(st("alicloud_vpc.staging"), Some(OpStatus::Ok));
    assert_eq!(st("alicloud_vswitch.staging"), Some(OpStatus::Ok));
    assert_eq!(st("alicloud_security_group_rule.https"), Some(OpStatus::Ok));
    let (code, out, _) = vpcsim(&["plan", fixture("unsupported.plan.json").to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("warning: resource type not modelled"), "{out}");
    assert!(out.contains("NOT SIMULATED"), "{out}");
}

// ----- --invariants -----

/// `[[invariants]]`: one that holds today must hold after every call of the apply; one
/// that does not must hold after it. The procedure as planned cuts i-web's egress
/// between ModifyInstanceNetworkSpec (public IP released) and CreateSnatEntry; with
/// `depends_on` the SNAT entry first, it holds throughout.
#[test]
fn invariants_are_judged_after_every_call_and_gate_the_exit_code() {
    let inv = fixture("procedure.invariants.toml");
    let plan = terraform::load(&fixture("procedure.plan.json"), None).unwrap();
    let invs = terraform::load_invariants(&inv, &plan).unwrap();
    let r = terraform::check_plan_with(&plan, &invs);
    let gets_out = &r.invariants[0];
    assert!(gets_out.held_before && !gets_out.pass && gets_out.holds_after_apply);
    assert_eq!(gets_out.first_broken_after, Some(1));
    assert_eq!(r.operations[0].call, "ModifyInstanceNetworkSpec");
    assert!(
        gets_out.observed.contains("no_snat_entry"),
        "{}",
        gets_out.observed
    );
    // Being established: false today, true after the apply.
    let snat = &r.invariants[1];
    assert!(!snat.held_before && snat.pass, "{snat:?}");
    assert!(r.invariants[2].pass, "{:?}", r.invariants[2]);
    assert!(!r.pass);
    let (code, out, _) = vpcsim(&[
        "plan",
        fixture("procedure.plan.json").to_str().unwrap(),
        "--invariants",
        inv.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("broken after call 1 (alicloud_instance.web ModifyInstanceNetworkSpec)"),
        "{out}"
    );

    // The fix a user makes: the instance change waits for the SNAT entry.
    let mut doc: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("procedure.plan.json")).unwrap())
            .unwrap();
    for c in doc["configuration"]["root_module"]["resources"]
        .as_array_mut()
        .unwrap()
    {
        if c["address"] == "alicloud_instance.web" {
            c["depends_on"] = json!(["alicloud_snat_entry.vsw_h"]);
        }
    }
    let p = temp_plan("invariants-fixed", &doc);
    let (code, out, _) = vpcsim(&[
        "plan",
        p.to_str().unwrap(),
        "--invariants",
        inv.to_str().unwrap(),
    ]);
    let _ = std::fs::remove_file(&p);
    assert_eq!(code, 0, "{out}");

    // A typo in a target is a located error.
    let bad = temp_plan("invariants-bad", &json!(null));
    std::fs::write(
        &bad,
        "[[invariants]]\nname = \"x\"\negress_of = \"i-wbe\"\negress_ip = \"1.2.3.4\"\n",
    )
    .unwrap();
    let (code, _, err) = vpcsim(&[
        "plan",
        fixture("procedure.plan.json").to_str().unwrap(),
        "--invariants",
        bad.to_str().unwrap(),
    ]);
    let _ = std::fs::remove_file(&bad);
    assert_eq!(code, 2);
    assert!(err.contains(":1:") && err.contains("i-wbe"), "{err}");
}

// ----- --state -----

/// `--state` (a `terraform show -json` of the state) stands in for the plan's
/// prior_state: the same answers.
#[test]
fn state_file_gives_the_starting_topology() {
    let mut doc: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("procedure.plan.json")).unwrap())
            .unwrap();
    let state = doc["prior_state"].take();
    doc.as_object_mut().unwrap().remove("prior_state");
    let plan = temp_plan("state-plan", &doc);
    let st = temp_plan("state-state", &state);
    let r = terraform::check_plan(&terraform::load(&plan, Some(&st)).unwrap());
    let (code, _, err) = vpcsim(&["plan", plan.to_str().unwrap()]);
    let _ = (std::fs::remove_file(&plan), std::fs::remove_file(&st));
    assert!(r.pass);
    assert_eq!(r.operations.len(), 6);
    let after = egress_of(&r.egress_after, "i-web-eth0");
    assert_eq!(after.egress_ip, Some("47.96.100.1".parse().unwrap()));
    // Without it, a plan that changes existing resources has no starting point.
    assert_eq!(code, 2);
    assert!(err.contains("--state"), "{err}");
}

// ----- a plan with nothing deployed yet -----

/// No prior_state: the account is empty; a VPC, VSwitch, group, rule and an instance
/// with `internet_max_bandwidth_out` > 0 (a static public IP) are launched in reference
/// order, and the new instance egresses with its (unknown) public IP.
#[test]
fn greenfield_plan_launches_in_reference_order_and_egresses_with_the_public_ip() {
    let r = check("new-network.plan.json");
    let calls: Vec<&str> = r.operations.iter().map(|o| o.call.as_str()).collect();
    assert_eq!(
        calls,
        [
            "CreateVpc",
            "CreateSecurityGroup",
            "AuthorizeSecurityGroup",
            "CreateVSwitch",
            "RunInstances"
        ]
    );
    assert!(r.pass);
    let row = egress_of(&r.egress_after, "alicloud_instance.web-eth0");
    assert_eq!(row.via, "static_public_ip");
    let ip = row.egress_ip.unwrap().to_string();
    assert!(r
        .unknowns
        .iter()
        .any(|u| u.value == ip && u.attribute == "public_ip"));
    assert!(r
        .warnings
        .iter()
        .any(|w| w.kind == "instance type limits assumed"));
}

// ----- apply order -----

fn rc(addr: &str, actions: &[&str], after: Value, unknown: Value) -> Value {
    let (t, n) = addr.split_once('.').unwrap();
    json!({"address": addr, "mode": "managed", "type": t, "name": n,
           "change": {"actions": actions, "before": null, "after": after, "after_unknown": unknown}})
}

/// A plan on the procedure's prior state with the given changes and configuration.
fn plan_with(changes: Vec<Value>, config: Vec<Value>) -> Value {
    let base: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("procedure.plan.json")).unwrap())
            .unwrap();
    json!({"format_version": "1.2", "prior_state": base["prior_state"],
           "resource_changes": changes, "configuration": {"root_module": {"resources": config}}})
}

/// Terraform's graph: creates after what they reference, whatever the listing order; a
/// replace deletes first unless create_before_destroy.
#[test]
fn calls_follow_references_and_replace_order() {
    let rule = |name: &str, actions: &[&str], port: &str| {
        let v = json!({"security_group_id": "sg-web", "type": "ingress", "ip_protocol": "tcp",
                       "port_range": port, "cidr_ip": "0.0.0.0/0", "policy": "accept", "priority": 1});
        let mut c = rc(
            &format!("alicloud_security_group_rule.{name}"),
            actions,
            v.clone(),
            json!({}),
        );
        c["change"]["before"] = v;
        c
    };
    // A group created in the plan, and a rule listed before it that references it.
    let mut rule_on_new = rc(
        "alicloud_security_group_rule.a_on_new",
        &["create"],
        json!({"type": "ingress", "ip_protocol": "tcp", "port_range": "80/80", "cidr_ip": "0.0.0.0/0"}),
        json!({"security_group_id": true}),
    );
    rule_on_new["change"]["before"] = Value::Null;
    let sg = rc(
        "alicloud_security_group.z_new",
        &["create"],
        json!({"vpc_id": "vpc-prod", "security_group_type": "normal"}),
        json!({"id": true}),
    );
    let config = vec![json!({"address": "alicloud_security_group_rule.a_on_new",
        "expressions": {"security_group_id": {"references": ["alicloud_security_group.z_new.id", "alicloud_security_group.z_new"]}}})];
    let doc = plan_with(
        vec![
            rule_on_new,
            sg,
            rule("ssh", &["delete", "create"], "22/22"),
            rule("ssh2", &["create", "delete"], "2222/2222"),
        ],
        config,
    );
    let r = check_doc("order", &doc);
    let calls: Vec<String> = r
        .operations
        .iter()
        .map(|o| format!("{} {}", o.resource, o.call))
        .collect();
    let pos = |s: &str| {
        calls
            .iter()
            .position(|c| c == s)
            .unwrap_or_else(|| panic!("{s} not in {calls:?}"))
    };
    assert!(
        pos("alicloud_security_group.z_new CreateSecurityGroup")
            < pos("alicloud_security_group_rule.a_on_new AuthorizeSecurityGroup")
    );
    assert!(
        pos("alicloud_security_group_rule.ssh RevokeSecurityGroup")
            < pos("alicloud_security_group_rule.ssh AuthorizeSecurityGroup")
    );
    // create_before_destroy: the new object first.
    assert!(
        pos("alicloud_security_group_rule.ssh2 AuthorizeSecurityGroup")
            < pos("alicloud_security_group_rule.ssh2 RevokeSecurityGroup")
    );
    let rule = r
        .operations
        .iter()
        .find(|o| o.resource == "alicloud_security_group_rule.a_on_new")
        .unwrap();
    assert_eq!(rule.status, OpStatus::Ok, "{}", rule.message);
}

/// Deletes run dependents first: the association (which the state records as
/// depending on the EIP) is removed before the EIP is released, though the EIP is listed
/// first; releasing it while bound would be refused (IncorrectEipStatus).
#[test]
fn deletes_run_in_reverse_dependency_order() {
    let base: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("procedure.plan.json")).unwrap())
            .unwrap();
    let prior = |addr: &str| {
        base["prior_state"]["values"]["root_module"]["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["address"] == addr)
            .unwrap()["values"]
            .clone()
    };
    let del = |addr: &str| {
        let mut c = rc(addr, &["delete"], Value::Null, json!({}));
        c["change"]["before"] = prior(addr);
        c
    };
    let doc = plan_with(
        vec![
            del("alicloud_eip_address.ngw"),
            del("alicloud_eip_association.ngw"),
        ],
        vec![],
    );
    let r = check_doc("deletes", &doc);
    let calls = calls_of(&r);
    assert_eq!(
        calls,
        [
            ("UnassociateEipAddress", OpStatus::Ok),
            ("ReleaseEipAddress", OpStatus::Ok)
        ]
    );
}

/// A replace acts on two objects: the delete on the old one (its id from `before`), the
/// create on the new one.
#[test]
fn replace_deletes_the_old_object_by_its_id() {
    let mut doc = plan_with(vec![], vec![]);
    let spare = json!({"id": "eip-spare", "ip_address": "47.96.200.9", "internet_charge_type": "PayByTraffic"});
    doc["prior_state"]["values"]["root_module"]["resources"]
        .as_array_mut()
        .unwrap()
        .push(
            json!({"address": "alicloud_eip_address.spare", "mode": "managed",
                     "type": "alicloud_eip_address", "name": "spare", "values": spare}),
        );
    let mut c = rc(
        "alicloud_eip_address.spare",
        &["delete", "create"],
        json!({"internet_charge_type": "PayByBandwidth"}),
        json!({"id": true, "ip_address": true}),
    );
    c["change"]["before"] = spare;
    doc["resource_changes"] = json!([c]);
    let r = check_doc("replace", &doc);
    let calls = calls_of(&r);
    assert_eq!(
        calls,
        [
            ("ReleaseEipAddress", OpStatus::Ok),
            ("AllocateEipAddress", OpStatus::Ok)
        ],
        "{:?}",
        r.operations
    );
    assert!(r.operations[0].changes[0].starts_with("eip-spare"));
}

/// A list of ids partly unknown until apply (`security_groups` naming a group the plan
/// creates) resolves through the configuration's references.
#[test]
fn unknown_list_elements_resolve_through_references() {
    let app = prior_app();
    let mut after = app.clone();
    after["security_groups"] = json!(["sg-web", null]);
    let mut upd = rc(
        "alicloud_instance.app",
        &["update"],
        after,
        json!({"security_groups": [false, true]}),
    );
    upd["change"]["before"] = app;
    let sg = rc(
        "alicloud_security_group.extra",
        &["create"],
        json!({"vpc_id": "vpc-prod"}),
        json!({"id": true}),
    );
    let config = vec![json!({"address": "alicloud_instance.app",
        "expressions": {"security_groups": {"references": [
            "alicloud_security_group.web.id", "alicloud_security_group.web",
            "alicloud_security_group.extra.id", "alicloud_security_group.extra"]}}})];
    let r = check_doc("unknown-list", &plan_with(vec![upd, sg], config));
    let calls = calls_of(&r);
    assert_eq!(
        calls,
        [
            ("CreateSecurityGroup", OpStatus::Ok),
            ("JoinSecurityGroup", OpStatus::Ok)
        ],
        "{:?}",
        r.operations
    );
    assert!(r.operations[1]
        .changes
        .iter()
        .any(|c| c.contains("alicloud_security_group.extra")));
}

/// The provider leaves removed groups before joining added ones and ignores the
/// refusal of LeaveSecurityGroup: swapping an instance's only group leaves it in both
/// (InstanceLastSecurityGroup, SEMANTICS.md §4), while Terraform records only the new one.
#[test]
fn a_refusal_the_provider_ignores_is_reported_as_drift() {
    let app = prior_app();
    let mut after = app.clone();
    after["security_groups"] = json!([null]);
    let mut upd = rc(
        "alicloud_instance.app",
        &["update"],
        after,
        json!({"security_groups": true}),
    );
    upd["change"]["before"] = app;
    let sg = rc(
        "alicloud_security_group.app",
        &["create"],
        json!({"vpc_id": "vpc-prod"}),
        json!({"id": true}),
    );
    let config = vec![json!({"address": "alicloud_instance.app",
        "expressions": {"security_groups": {"references": [
            "alicloud_security_group.app.id", "alicloud_security_group.app"]}}})];
    let p = temp_plan("drift", &plan_with(vec![upd, sg], config));
    let plan = terraform::load(&p, None).unwrap();
    let r = terraform::check_plan(&plan);
    let (code, out, _) = vpcsim(&["plan", p.to_str().unwrap()]);
    let _ = std::fs::remove_file(&p);
    let calls = calls_of(&r);
    assert_eq!(
        calls,
        [
            ("CreateSecurityGroup", OpStatus::Ok),
            ("LeaveSecurityGroup", OpStatus::RefusedIgnored),
            ("JoinSecurityGroup", OpStatus::Ok)
        ],
        "{:?}",
        r.operations
    );
    assert_eq!(
        r.operations[1].code.as_deref(),
        Some("InstanceLastSecurityGroup")
    );
    assert!(!r.pass);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("REFUSED, IGNORED BY THE PROVIDER: InstanceLastSecurityGroup"),
        "{out}"
    );
}

// ----- bad input -----

#[test]
fn bad_plans_exit_2_with_where_and_how_to_fix() {
    let p = temp_plan("badjson", &json!("placeholder"));
    std::fs::write(
        &p,
        "{\"format_version\": \"1.2\",\n  \"resource_changes\": [ }",
    )
    .unwrap();
    let (code, _, err) = vpcsim(&["plan", p.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(
        err.contains(":2:") && err.contains("terraform show -json"),
        "{err}"
    );
    let p2 = temp_plan(
        "version",
        &json!({"format_version": "2.0", "resource_changes": []}),
    );
    let (code, out, _) = vpcsim(&["plan", p2.to_str().unwrap(), "--json"]);
    assert_eq!(code, 2);
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert!(doc["error"]["message"]
        .as_str()
        .unwrap()
        .contains("format_version 2.0"));
    let p3 = temp_plan(
        "nostate",
        &json!({"format_version": "1.2", "resource_changes": [rc("alicloud_vpc.x", &["delete"], Value::Null, json!({}))]}),
    );
    let (code, _, err) = vpcsim(&["plan", p3.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("--state"), "{err}");
    for f in [p, p2, p3] {
        let _ = std::fs::remove_file(f);
    }
}
