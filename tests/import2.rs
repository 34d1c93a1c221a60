//! Issue 12: a second, independent dump (tests/fixtures/import2, built from the published
//! response shapes) — nothing silently lost, unmodelled next hops, five-tuple rules,
//! device order, and the real-world files that used to fail or mislead.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use vpcsim::import::{import_dir, load_scenario_from_dir};
use vpcsim::model::Cloud;
use vpcsim::probe::{egress_table, ProbeResult};
use vpcsim::time::SimTime;

mod support;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/import2/shanghai")
}

fn scratch(name: &str) -> PathBuf {
    support::fixture_copy(&fixture(), &format!("import2-{name}"))
}

const WEB1: &str = "i-uf6web1000000000001";
const WEB2: &str = "i-uf6web2000000000002";
const APP1: &str = "i-uf6app1000000000003";

fn cloud() -> Cloud {
    load_scenario_from_dir(&fixture()).unwrap().0.initial
}

fn probe(c: &Cloud, from: &str, to: &str, proto: &str) -> ProbeResult {
    let mut dp = vpcsim::probe::dataplane(c);
    let t = Arc::clone(dp.tables());
    let req = vpcsim::probe::request(&t, from, to, proto, None).unwrap();
    vpcsim::probe::send(&mut dp, &req, false, SimTime::ZERO).unwrap()
}

fn kinds(dir: &Path) -> Vec<String> {
    import_dir(dir)
        .unwrap()
        .warnings
        .iter()
        .map(|w| w.kind.clone())
        .collect()
}

#[test]
fn egress_table_of_the_second_fixture() {
    // The API does not say whether a guest has multi-nic-util's policy routes; an import
    // assumes it has none (see tests/import_egress.rs). Here the guests with secondary
    // ENIs have them, so their secondary addresses are reachable both ways.
    let mut c = cloud();
    for i in [WEB1, APP1] {
        let op: vpcsim::model::Operation = toml::from_str(&format!(
            "op = \"SetGuestPolicyRoutes\"\nInstanceId = \"{i}\"\nEnabled = true"
        ))
        .unwrap();
        c.apply(&op).unwrap();
    }
    let rows = egress_table(&c, 22);
    let got: Vec<(String, String, String, Option<String>, &str)> = rows
        .iter()
        .map(|r| {
            (
                r.instance.clone().unwrap_or_default(),
                r.device.clone().unwrap_or_default(),
                r.private_ip.map(|i| i.to_string()).unwrap_or_default(),
                r.egress_ip.map(|i| i.to_string()),
                r.via,
            )
        })
        .collect();
    let row = |i: &str, d: &str, ip: &str, eg: Option<&str>, via: &'static str| {
        (
            i.to_string(),
            d.to_string(),
            ip.to_string(),
            eg.map(str::to_string),
            via,
        )
    };
    for want in [
        // SNAT by SourceVSwitchId with two SNAT IPs: one of them.
        row(APP1, "eth0", "10.10.3.31", Some("139.224.1.2"), "snat"),
        row(APP1, "eth1", "", Some("139.224.1.6"), "cut_through"),
        row(WEB1, "eth1", "10.10.2.21", Some("139.224.1.5"), "eip"),
        row(WEB1, "eth2", "10.10.2.22", None, "none"),
    ] {
        assert!(got.contains(&want), "missing {want:?} in {got:?}");
    }
    for i in [WEB1, WEB2] {
        let r = got.iter().find(|r| r.0 == i && r.1 == "eth0").unwrap();
        assert_eq!(r.4, "snat", "{r:?}");
        let ip = r.3.as_deref().unwrap();
        assert!(["139.224.1.1", "139.224.1.2"].contains(&ip), "{r:?}");
    }
    // The `Any` DNAT entry reaches app-1; the port-range entry reaches web-2 on its ports.
    let app = rows
        .iter()
        .find(|r| r.private_ip.map(|i| i.to_string()).as_deref() == Some("10.10.3.31"))
        .unwrap();
    assert!(
        app.ingress
            .iter()
            .any(|s| s.label().starts_with("139.224.1.3")),
        "{app:?}"
    );
    let web2 = rows
        .iter()
        .find(|r| r.private_ip.map(|i| i.to_string()).as_deref() == Some("10.10.1.12"))
        .unwrap();
    assert!(
        web2.ingress
            .iter()
            .any(|s| s.label() == "139.224.1.4 tcp/8000-8010"),
        "{web2:?}"
    );
    // The managed ENI (no security group) and the other VPC's instance are not in it.
    assert!(
        !got.iter()
            .any(|r| r.2 == "10.10.2.50" || r.2 == "172.31.0.5"),
        "{got:?}"
    );
}

// Why 4: secondary ENIs were numbered by id, not by the instance's NetworkInterfaces list.
#[test]
fn device_order_follows_the_instances_network_interfaces_list() {
    let c = cloud();
    let rows = egress_table(&c, 22);
    let dev = |eni: &str| {
        rows.iter()
            .find(|r| r.eni == eni)
            .and_then(|r| r.device.clone())
    };
    // web-1 lists ...1b before ...1a; ids would sort them the other way.
    assert_eq!(dev("eni-uf6web1b0000000012").as_deref(), Some("eth1"));
    assert_eq!(dev("eni-uf6web1a0000000011").as_deref(), Some("eth2"));
}

// Why 3: a five-tuple rule (DestCidrIp = one instance's /32) opened the port on every
// member of the group.
#[test]
fn five_tuple_ingress_rule_opens_the_port_on_its_instance_only() {
    let c = cloud();
    let to_web1 = probe(&c, APP1, "10.10.1.11:22", "tcp");
    assert_eq!(
        to_web1.disposition,
        "delivered",
        "{:?}",
        to_web1.trace_lines()
    );
    let text = to_web1.trace_lines().join("\n");
    assert!(
        text.contains("to 10.10.1.11/32"),
        "the matched rule shows its DestCidrIp: {text}"
    );
    let to_web2 = probe(&c, APP1, "10.10.1.12:22", "tcp");
    assert_eq!(
        to_web2.reason,
        Some("sg_ingress_denied"),
        "{:?}",
        to_web2.trace_lines()
    );
}

#[test]
fn five_tuple_egress_rule_restricts_its_source_only() {
    let c = cloud();
    let web2 = probe(&c, WEB2, "203.0.113.25:25", "tcp");
    assert_eq!(
        web2.reason,
        Some("sg_egress_denied"),
        "{:?}",
        web2.trace_lines()
    );
    assert!(web2.trace_lines().join("\n").contains("from 10.10.1.12/32"));
    let web1 = probe(&c, WEB1, "203.0.113.25:25", "tcp");
    assert_eq!(web1.disposition, "internet", "{:?}", web1.trace_lines());
}

// Why 2: a route to an unmodelled next hop was left out and its traffic took 0.0.0.0/0.
#[test]
fn routes_to_unmodelled_next_hops_drop_naming_route_and_type() {
    let c = cloud();
    for (dst, ty, route) in [
        ("172.16.1.1:443", "Ecr", "rte-uf6ecr1"),
        ("192.168.50.10:443", "HaVip", "rte-uf6havip"),
        ("100.100.0.5:443", "SomeFutureGateway", "rte-uf6newt"),
    ] {
        let r = probe(&c, WEB1, dst, "tcp");
        assert_eq!(
            r.reason,
            Some("next_hop_unmodelled"),
            "{dst}: {:?}",
            r.trace_lines()
        );
        let text = r.trace_lines().join("\n");
        assert!(text.contains(ty) && text.contains(route), "{dst}: {text}");
    }
    // The route of page 2 to an instance is there too.
    let r = probe(&c, WEB1, "10.20.1.1:443", "tcp");
    assert_ne!(r.disposition, "internet", "{:?}", r.trace_lines());
}

// Why 1: a route dump cut at page one lost routes silently.
#[test]
fn route_entries_cut_at_a_next_token_warn_with_the_command() {
    let dir = scratch("cut");
    fs::remove_file(dir.join("routes-page2.json")).unwrap();
    let imp = import_dir(&dir).unwrap();
    let w = imp
        .warnings
        .iter()
        .find(|w| w.kind == "missing pages")
        .expect("warned");
    let ex = &w.examples[0];
    assert!(ex.contains("routes-page1.json"), "{ex}");
    assert!(
        ex.contains("aliyun vpc DescribeRouteEntryList --RegionId cn-shanghai --RouteTableId vtb-uf6g3bs7spowmj3wd7qar")
            && ex.contains("--NextToken caeba0bbb2be03f84eb48b699f0a4883"),
        "{ex}"
    );
    // Both pages: no warning.
    assert!(!kinds(&fixture()).contains(&"missing pages".to_string()));
    // --strict: exit 2, nothing on stdout.
    let out = Command::new(env!("CARGO_BIN_EXE_vpcsim"))
        .args(["import", "--strict"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--NextToken"));
    let _ = fs::remove_dir_all(dir);
}

// Why 5: rules of one group dumped per --Direction failed as "different moments".
#[test]
fn rule_files_of_one_group_merge() {
    let c = cloud();
    let g = &c.security_groups["sg-uf6web0000000000001"];
    assert_eq!(g.rules.len(), 6, "{:?}", g.rules);
}

// Why 5: DescribeInstances is region-wide; another VPC's instance stopped the import.
#[test]
fn other_vpc_resources_are_skipped_with_one_line_per_vpc() {
    let imp = import_dir(&fixture()).unwrap();
    let w: Vec<_> = imp
        .warnings
        .iter()
        .filter(|w| w.kind.starts_with("resources of "))
        .collect();
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].kind.contains("vpc-uf6zzothervpc00000000"));
    assert!(w[0].examples[0].contains("1 instances"), "{w:?}");
}

// Why 5: a managed service's ENI without a security group, and a port-list rule with an
// empty PortRange, gave a scenario that did not load.
#[test]
fn managed_eni_and_port_list_rule_are_warned_and_the_scenario_loads() {
    let k = kinds(&fixture());
    assert!(
        k.contains(&"ENIs without a security group".to_string()),
        "{k:?}"
    );
    assert!(
        k.contains(&"security group rules with port lists".to_string()),
        "{k:?}"
    );
    load_scenario_from_dir(&fixture()).unwrap();
}

#[test]
fn prefix_list_rules_import_with_their_cidrs_or_warn() {
    let c = cloud();
    let r = probe(&c, WEB1, "10.10.3.31:6379", "tcp");
    assert_eq!(r.disposition, "delivered", "{:?}", r.trace_lines());
    let dir = scratch("nopl");
    fs::remove_file(dir.join("prefix-list.json")).unwrap();
    let w = import_dir(&dir).unwrap().warnings;
    let pl = w
        .iter()
        .find(|w| w.kind == "security group rules with prefix lists")
        .expect("warned");
    assert!(pl.hint.contains("DescribePrefixListAttributes"), "{pl:?}");
    let _ = fs::remove_dir_all(dir);
}

// Why 5: a UTF-8 BOM, and UTF-16 (PowerShell 5.1's `>`).
#[test]
fn bom_and_utf16_files_are_read() {
    let dir = scratch("bom");
    let text = fs::read_to_string(dir.join("vpcs.json")).unwrap();
    let mut bom = vec![0xEF, 0xBB, 0xBF];
    bom.extend_from_slice(text.as_bytes());
    fs::write(dir.join("vpcs.json"), bom).unwrap();
    let sg = fs::read_to_string(dir.join("sg-app.json")).unwrap();
    let mut le = vec![0xFF, 0xFE];
    for u in sg.encode_utf16() {
        le.extend_from_slice(&u.to_le_bytes());
    }
    fs::write(dir.join("sg-app.json"), le).unwrap();
    let sw = fs::read_to_string(dir.join("vswitches.json")).unwrap();
    let mut be = vec![0xFE, 0xFF];
    for u in sw.encode_utf16() {
        be.extend_from_slice(&u.to_be_bytes());
    }
    fs::write(dir.join("vswitches.json"), be).unwrap();
    let (sc, _) = load_scenario_from_dir(&dir).unwrap();
    assert_eq!(sc.name, "sh-prod");
    assert!(!sc.initial.security_groups["sg-uf6app0000000000002"]
        .rules
        .is_empty());
    // UTF-16 without a byte-order mark: a clear error with the fix.
    let mut bare = vec![];
    for u in text.encode_utf16() {
        bare.extend_from_slice(&u.to_le_bytes());
    }
    fs::write(dir.join("vpcs.json"), bare).unwrap();
    let e = import_dir(&dir).unwrap_err().to_string();
    assert!(
        e.contains("UTF-16") && e.contains("Set-Content -Encoding utf8"),
        "{e}"
    );
    let _ = fs::remove_dir_all(dir);
}

// Why 5: warnings repeated in full on every command given the folder.
#[test]
fn a_folder_as_file_prints_one_warning_line_with_the_count() {
    let out = Command::new(env!("CARGO_BIN_EXE_vpcsim"))
        .arg("egress")
        .arg(fixture())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("warning")).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].contains("import warnings") && lines[0].contains("vpcsim import"),
        "{err}"
    );
}

#[test]
fn import_json_uses_the_shared_envelope() {
    let out = Command::new(env!("CARGO_BIN_EXE_vpcsim"))
        .args(["import", "--json"])
        .arg(fixture())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["vpcsim"], 1);
    assert_eq!(v["command"], "import");
    assert_eq!(v["scenario"], "sh-prod");
    assert!(v["warnings"].as_array().unwrap().len() >= 5);
    assert!(v["sources"].as_array().unwrap().len() >= 15);
    assert!(v["toml"].as_str().unwrap().contains("[[vpcs]]"));
    let q = Command::new(env!("CARGO_BIN_EXE_vpcsim"))
        .args(["import", "--quiet"])
        .arg(fixture())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&q.stderr);
    assert!(
        !err.contains("warning:") && err.contains("warnings"),
        "{err}"
    );
}

// Five-tuple rules are also the scenario format's and the API's, not only import's.
#[test]
fn five_tuple_rules_by_hand_and_by_authorize_step() {
    use vpcsim::model::ops::{Operation, RulePermission};
    use vpcsim::model::SgProtocol;
    let imp = import_dir(&fixture()).unwrap();
    // By hand: the imported rule is written with `local_cidr`.
    assert!(
        imp.toml.contains("local_cidr = \"10.10.1.11/32\""),
        "{}",
        imp.toml
    );
    let mut c = cloud();
    // By step: DestCidrIp on AuthorizeSecurityGroup restricts the rule to web-2.
    c.apply(&Operation::AuthorizeSecurityGroup(RulePermission {
        security_group_id: "sg-uf6web0000000000001".into(),
        ip_protocol: SgProtocol::Tcp,
        port_range: "3306/3306".into(),
        source_cidr_ip: Some("10.10.0.0/16".parse().unwrap()),
        source_group_id: None,
        dest_cidr_ip: Some("10.10.1.12/32".parse().unwrap()),
        dest_group_id: None,
        source_port_range: Some("40000/40000".into()),
        policy: None,
        priority: None,
        description: None,
    }))
    .unwrap();
    assert_eq!(
        probe(&c, APP1, "10.10.1.12:3306", "tcp").disposition,
        "delivered"
    );
    assert_eq!(
        probe(&c, APP1, "10.10.1.11:3306", "tcp").reason,
        Some("sg_ingress_denied")
    );
    let text = probe(&c, APP1, "10.10.1.12:3306", "tcp")
        .trace_lines()
        .join("\n");
    assert!(text.contains("source ports 40000/40000"), "{text}");
}

#[test]
fn strict_applies_to_a_folder_given_as_file() {
    let out = Command::new(env!("CARGO_BIN_EXE_vpcsim"))
        .args(["--strict", "egress"])
        .arg(fixture())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
}

#[test]
fn an_eip_of_a_left_out_eni_is_imported_unbound_with_a_warning() {
    let dir = scratch("rds-eip");
    let p = dir.join("eips.json");
    let mut v: serde_json::Value = serde_json::from_str(&fs::read_to_string(&p).unwrap()).unwrap();
    let list = v["EipAddresses"]["EipAddress"].as_array_mut().unwrap();
    let mut e = list[0].clone();
    e["AllocationId"] = "eip-uf6rds".into();
    e["IpAddress"] = "139.224.1.9".into();
    e["InstanceType"] = "NetworkInterface".into();
    e["InstanceId"] = "eni-uf6rdsmanaged00021".into();
    list.push(e);
    v["TotalCount"] = 7.into();
    fs::write(&p, v.to_string()).unwrap();
    let k = kinds(&dir);
    assert!(k.contains(&"EIPs of ENIs left out".to_string()), "{k:?}");
    load_scenario_from_dir(&dir).unwrap();
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn a_route_to_a_prefix_list_is_one_route_per_cidr_of_the_list() {
    let dir = scratch("pl-route");
    fs::write(
        dir.join("pl-route.json"),
        r#"{"RequestId": "x", "PrefixListId": "pl-uf6bench0000000002", "AddressFamily": "IPv4",
           "Entries": {"Entry": [{"Cidr": "198.18.0.0/15"}, {"Cidr": "198.51.100.0/24"}]}}"#,
    )
    .unwrap();
    let p = dir.join("routes-page2.json");
    let mut v: serde_json::Value = serde_json::from_str(&fs::read_to_string(&p).unwrap()).unwrap();
    let list = v["RouteEntrys"]["RouteEntry"].as_array_mut().unwrap();
    let mut e = list[2].clone(); // the Instance route
    e["RouteEntryId"] = "rte-uf6plroute".into();
    e["DestinationCidrBlock"] = "pl-uf6bench0000000002".into();
    list.push(e);
    fs::write(&p, v.to_string()).unwrap();
    let c = load_scenario_from_dir(&dir).unwrap().0.initial;
    for dst in ["198.18.0.1:443", "198.51.100.9:443"] {
        let r = probe(&c, WEB1, dst, "tcp");
        assert_ne!(r.disposition, "internet", "{dst}: {:?}", r.trace_lines());
        assert!(
            r.trace_lines().join("\n").contains(APP1),
            "{dst}: {:?}",
            r.trace_lines()
        );
    }
    let _ = fs::remove_dir_all(dir);
}
