//! Issue: importing the fixture dump and asking `egress` gives the expected table.

use std::path::Path;

use vpcsim::probe::egress_table;

#[test]
fn imported_fixture_egress_table() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/import/hangzhou");
    let (sc, _warnings) = vpcsim::import::load_scenario_from_dir(&dir).unwrap();
    let rows = egress_table(&sc.initial, 22);
    let got: Vec<(String, Option<String>, &str)> = rows
        .iter()
        .map(|r| {
            (
                r.private_ip.map(|i| i.to_string()).unwrap_or_default(),
                r.egress_ip.map(|i| i.to_string()),
                r.via,
            )
        })
        .collect();
    let want = |ip: &str, eg: Option<&str>, via: &'static str| {
        (ip.to_string(), eg.map(str::to_string), via)
    };
    // web-1: static public IP; app-1 eth0: SNAT; app-1 eth1: NAT-mode EIP on the secondary
    // ENI; db-1 is Stopped, so it sends nothing.
    for w in [
        want("192.168.1.10", Some("47.96.10.20"), "static_public_ip"),
        want("192.168.1.20", Some("47.96.100.1"), "snat"),
        want("192.168.1.100", Some("47.96.100.10"), "eip"),
        want("192.168.2.30", None, "none"),
    ] {
        assert!(got.contains(&w), "missing {w:?} in {got:?}");
    }
    let eth1 = rows
        .iter()
        .find(|r| r.private_ip.map(|i| i.to_string()).as_deref() == Some("192.168.1.100"))
        .unwrap();
    assert_eq!(eth1.ingress, vec!["47.96.100.10 tcp/22".to_string()]);
}
