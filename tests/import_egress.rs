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
    // ENI, but the dump does not say the guest has policy routes, so the guest sends
    // eth1's traffic by eth0 and the VPC drops it; db-1 is Stopped, so it sends nothing.
    for w in [
        want("192.168.1.10", Some("47.96.10.20"), "static_public_ip"),
        want("192.168.1.20", Some("47.96.100.1"), "snat"),
        want("192.168.1.100", None, "none"),
        want("192.168.2.30", None, "none"),
    ] {
        assert!(got.contains(&w), "missing {w:?} in {got:?}");
    }
    let eth1 = |rows: &[vpcsim::probe::EgressRow]| {
        rows.iter()
            .find(|r| r.private_ip.map(|i| i.to_string()).as_deref() == Some("192.168.1.100"))
            .cloned()
            .unwrap()
    };
    let e = eth1(&rows);
    assert_eq!(e.reason.as_deref(), Some("eni_source_check"));
    let blocked: Vec<String> = e.ingress_blocked.iter().map(|x| x.label()).collect();
    assert_eq!(blocked, ["47.96.100.10 tcp/22"]);
    assert_eq!(e.ingress_blocked[0].dropped, Some("reply"));
    // With multi-nic-util's policy routes in the guest, eth1 works both ways.
    let mut cloud = sc.initial.clone();
    let op: vpcsim::model::Operation = toml::from_str(
        "op = \"SetGuestPolicyRoutes\"\nInstanceId = \"i-bp1b2zc3bhj5kmjo7xcd\"\nEnabled = true",
    )
    .unwrap();
    cloud.apply(&op).unwrap();
    let e = eth1(&egress_table(&cloud, 22));
    assert_eq!(
        e.egress_ip.map(|i| i.to_string()).as_deref(),
        Some("47.96.100.10")
    );
    let ingress: Vec<String> = e.ingress.iter().map(|x| x.label()).collect();
    assert_eq!(ingress, ["47.96.100.10 tcp/22"]);
}
