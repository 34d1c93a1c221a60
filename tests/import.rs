//! `vpcsim::import`: a realistic dump of Describe* responses becomes a scenario that loads.

use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use vpcsim::import::{import_dir, load_scenario_from_dir, ApiKind, ImportError};
use vpcsim::model::{EipTarget, EniMode, EniStatus, SnatSource};

mod support;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/import/hangzhou")
}

/// A scratch copy of the fixture folder, to break in one way per test.
fn scratch(name: &str) -> PathBuf {
    support::fixture_copy(&fixture(), &format!("import-{name}"))
}

const WEB: &str = "i-bp1a5ij0ktfw6xakbzhb";
const APP: &str = "i-bp1b2zc3bhj5kmjo7xcd";
const DB: &str = "i-bp1c7r0jhzkxn2xzbf1e";
const NGW: &str = "ngw-bp1uewa15k4iy5770tk9d";
const ENI_NAT: &str = "eni-bp1gx0spoc5wl0jcqabs";
const ENI_CUT: &str = "eni-bp17pdijfczax1huji8c";

#[test]
fn fixture_imports_and_loads() {
    let imp = import_dir(&fixture()).unwrap();
    assert_eq!(imp.sources.len(), 14, "{:?}", imp.sources);
    assert_eq!(
        imp.sources
            .iter()
            .filter(|(_, k)| *k == ApiKind::DescribeInstances)
            .count(),
        2
    );
    for (f, _) in &imp.sources {
        let name = f.file_name().unwrap().to_str().unwrap();
        assert!(imp.toml.contains(name), "header names {name}");
    }
    assert!(imp.toml.contains("name = \"prod-hz\""), "{}", imp.toml);
    let (sc, _) = load_scenario_from_dir(&fixture()).unwrap();
    assert_eq!(sc.name, "prod-hz");
    assert_eq!(sc.initial.region, "cn-hangzhou");
}

#[test]
fn topology_instances_and_enis() {
    let (sc, _) = load_scenario_from_dir(&fixture()).unwrap();
    let c = &sc.initial;
    assert_eq!(
        c.instances.len(),
        3,
        "both pages of DescribeInstances merged"
    );
    let web = &c.instances[WEB];
    assert_eq!(web.public_ip, Some(Ipv4Addr::new(47, 96, 10, 20)));
    assert_eq!(web.primary_eni(), Some("eni-bp1a5ij0ktfw6xakbzhe"));
    assert_eq!(web.zone, "cn-hangzhou-h");
    let app = &c.instances[APP];
    assert_eq!(app.public_ip, None);
    assert_eq!(app.instance_type, "ecs.g7.large");
    assert_eq!(app.enis, vec!["eni-bp1b2zc3bhj5kmjo7xcg", ENI_NAT]);
    let db = &c.instances[DB];
    assert_eq!(db.zone, "cn-hangzhou-i");
    assert_eq!(format!("{:?}", db.status), "Stopped");
    assert_eq!(format!("{:?}", db.charge_type), "PrePaid");
    assert_eq!(
        c.enis[&db.enis[0]].primary_ip,
        Ipv4Addr::new(192, 168, 2, 30)
    );
    assert!(c.instance_types.iter().any(|t| t.name == "ecs.g7.large"));
    let cut = &c.enis[ENI_CUT];
    assert_eq!(cut.status, EniStatus::Available);
    assert_eq!(cut.instance, None);
    assert_eq!(c.enis[ENI_NAT].instance.as_deref(), Some(APP));
    // Security groups and their rules.
    let web_sg = &c.security_groups["sg-bp1fg655nh68xyz9i3a4"];
    assert_eq!(web_sg.rules.len(), 5);
    let db_sg = &c.security_groups["sg-bp1cx7v9bqzq1b3ktk0m"];
    assert_eq!(format!("{:?}", db_sg.kind), "Enterprise");
    assert_eq!(db_sg.rules.len(), 3, "the prefix-list rule is left out");
}

#[test]
fn topology_eip_bindings_and_nat() {
    let (sc, _) = load_scenario_from_dir(&fixture()).unwrap();
    let c = &sc.initial;
    let b = |id: &str| c.eips[id].binding.clone();
    let nat = b("eip-bp1k0e5ldl3x8yskmsuhq").unwrap();
    assert_eq!(
        (nat.target, nat.resource.as_str(), nat.mode),
        (EipTarget::NetworkInterface, ENI_NAT, EniMode::Nat)
    );
    assert_eq!(nat.private_ip, Some(Ipv4Addr::new(192, 168, 1, 100)));
    let cut = b("eip-bp1v2ozvobnbhu8gg0ym5").unwrap();
    assert_eq!(
        (cut.target, cut.resource.as_str(), cut.mode),
        (EipTarget::NetworkInterface, ENI_CUT, EniMode::CutThrough)
    );
    for e in ["eip-bp1mq9d0vsn4ogqyg9w1d", "eip-bp13pk0m4lx8s1gbpsnz2"] {
        let x = b(e).unwrap();
        assert_eq!((x.target, x.resource.as_str()), (EipTarget::Nat, NGW));
    }
    assert!(
        b("eip-bp1wd8xoovd6bnv3vh4ix").is_none(),
        "SLB target not imported"
    );
    let g = &c.nat_gateways[NGW];
    assert_eq!(g.eips.len(), 2);
    assert_eq!(g.snat_entries.len(), 2);
    let by_vsw = g
        .snat_entries
        .iter()
        .find(|e| e.id == "snat-bp1ofmsx8zcfvwpaxbzbn")
        .unwrap();
    assert_eq!(
        by_vsw.source,
        SnatSource::VSwitch("vsw-bp1s5fnvk4gn2tws03624".into())
    );
    assert_eq!(by_vsw.snat_ips, vec![Ipv4Addr::new(47, 96, 100, 1)]);
    let by_cidr = g
        .snat_entries
        .iter()
        .find(|e| e.id == "snat-bp1ofp2v3gq8bhrzrlxtk")
        .unwrap();
    assert_eq!(
        by_cidr.source,
        SnatSource::Cidr("192.168.2.0/24".parse().unwrap())
    );
    assert_eq!(by_cidr.snat_ips.len(), 2);
    assert!(by_cidr.eip_affinity);
    assert_eq!(g.forward_entries.len(), 1);
    // Routes: the system table carries the custom 0.0.0.0/0 and the VPN route.
    let rt = &c.route_tables["vtb-vpc-bp1qpo0kug3a20qqe2bpd"];
    let dests: Vec<String> = rt
        .entries
        .iter()
        .filter(|e| !e.system)
        .map(|e| format!("{} {}", e.destination, e.next_hop.describe()))
        .collect();
    assert!(
        dests.contains(&format!("0.0.0.0/0 NatGateway {NGW}")),
        "{dests:?}"
    );
    assert!(
        dests.iter().any(|d| d.starts_with("10.0.0.0/8 VpnGateway")),
        "{dests:?}"
    );
}

#[test]
fn unmodelled_things_are_warned() {
    let imp = import_dir(&fixture()).unwrap();
    let kinds: Vec<&str> = imp.warnings.iter().map(|w| w.kind.as_str()).collect();
    for k in [
        "tags",
        "route next hop VpnGateway",
        "route next hop System service",
        "security group rules with prefix lists",
        "instance types unknown to vpcsim",
        "EIP bindings to SlbInstance",
    ] {
        assert!(kinds.contains(&k), "missing warning {k}: {kinds:?}");
    }
    let tags = imp.warnings.iter().find(|w| w.kind == "tags").unwrap();
    assert_eq!(tags.count, 2, "{tags:?}");
    assert!(tags.examples.len() <= 3);
    assert!(!kinds.contains(&"missing pages"), "{kinds:?}");
}

#[test]
fn missing_security_group_is_an_error_naming_file_and_id() {
    let dir = scratch("missing-sg");
    fs::remove_file(dir.join("sg-db.json")).unwrap();
    let text = fs::read_to_string(dir.join("security-groups.json")).unwrap();
    // Drop the enterprise group from DescribeSecurityGroups too.
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["SecurityGroups"]["SecurityGroup"]
        .as_array_mut()
        .unwrap()
        .retain(|g| g["SecurityGroupId"] != "sg-bp1cx7v9bqzq1b3ktk0m");
    fs::write(dir.join("security-groups.json"), v.to_string()).unwrap();
    let e = import_dir(&dir).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, ImportError::MissingReference { .. }), "{msg}");
    assert!(msg.contains("sg-bp1cx7v9bqzq1b3ktk0m"), "{msg}");
    assert!(msg.contains(".json"), "{msg}");
    assert!(
        msg.contains("aliyun ecs DescribeSecurityGroupAttribute"),
        "{msg}"
    );
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn conflicting_duplicate_names_both_files() {
    let dir = scratch("conflict");
    let text = fs::read_to_string(dir.join("instances-page2.json")).unwrap();
    let changed = text.replace("192.168.2.30", "192.168.2.31");
    // The same page saved again later, with a different private IP.
    fs::write(dir.join("instances-page3.json"), changed).unwrap();
    let e = import_dir(&dir).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, ImportError::Conflict { .. }), "{msg}");
    assert!(msg.contains("instances-page2.json"), "{msg}");
    assert!(msg.contains("instances-page3.json"), "{msg}");
    assert!(msg.contains(DB), "{msg}");
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn identical_duplicate_page_is_merged() {
    let dir = scratch("same-page");
    fs::copy(
        dir.join("instances-page2.json"),
        dir.join("instances-page2-again.json"),
    )
    .unwrap();
    let (sc, _) = load_scenario_from_dir(&dir).unwrap();
    assert_eq!(sc.initial.instances.len(), 3);
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn unrecognised_json_is_a_warning_naming_the_file() {
    let dir = scratch("unrecognised");
    fs::write(
        dir.join("vpn-gateways.json"),
        r#"{"RequestId":"x","VpnGateways":{"VpnGateway":[{"VpnGatewayId":"vpn-bp1q8bgx4xnkm2ogj1ag4"}]}}"#,
    )
    .unwrap();
    let imp = import_dir(&dir).unwrap();
    let w = imp
        .warnings
        .iter()
        .find(|w| w.kind == "unrecognised file")
        .expect("warning");
    assert!(w.examples[0].contains("vpn-gateways.json"), "{w:?}");
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn malformed_json_is_an_error_with_file_and_line() {
    let dir = scratch("malformed");
    fs::write(
        dir.join("broken.json"),
        "{\n  \"Vpcs\": {\n    \"Vpc\": [,]\n  }\n}\n",
    )
    .unwrap();
    let e = import_dir(&dir).unwrap_err();
    match &e {
        ImportError::Json { file, line, .. } => {
            assert!(file.ends_with("broken.json"));
            assert_eq!(*line, 3);
        }
        other => panic!("{other}"),
    }
    assert!(e.to_string().contains("broken.json:3:"), "{e}");
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn missing_page_leaves_a_dangling_reference() {
    let dir = scratch("missing-page");
    fs::remove_file(dir.join("instances-page2.json")).unwrap();
    // db-1's ENI and the DNAT target still load; its primary ENI now lacks an instance.
    let e = import_dir(&dir).unwrap_err();
    assert!(e.to_string().contains(DB), "{e}");
    assert!(e.to_string().contains("DescribeInstances"), "{e}");
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn short_paged_response_is_warned() {
    let dir = scratch("short-page");
    let text = fs::read_to_string(dir.join("instances-page2.json")).unwrap();
    fs::write(
        dir.join("instances-page2.json"),
        text.replace("\"TotalCount\": 3", "\"TotalCount\": 4"),
    )
    .unwrap();
    let imp = import_dir(&dir).unwrap();
    let w = imp
        .warnings
        .iter()
        .find(|w| w.kind == "missing pages")
        .expect("warning");
    assert!(w.examples[0].contains("DescribeInstances"), "{w:?}");
    assert!(w.examples[0].contains("--PageNumber 3"), "{w:?}");
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn print_imported_scenario() {
    // `cargo test --test import print -- --nocapture` shows the generated file.
    let imp = import_dir(&fixture()).unwrap();
    println!("{}", imp.toml);
    for w in &imp.warnings {
        println!("warning: {w}");
    }
}
