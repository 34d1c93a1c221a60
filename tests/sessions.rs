//! Conversations between smoltcp hosts through the simulated VPC (docs/SESSIONS.md):
//! step 6 of the procedure end to end, and each way the FAQ says it breaks.

use std::net::Ipv4Addr;

use vpcsim::hosts::session::{self, Client, Service, SessionRequest, SessionResult, Verdict};
use vpcsim::scenario::{run_scenario, Scenario, DEFAULT_SCENARIO};

const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);
const EIP: Ipv4Addr = Ipv4Addr::new(47, 96, 10, 20);
const MYIP: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 80);
const SNAT_EIP: Ipv4Addr = Ipv4Addr::new(47, 96, 100, 1);

/// After the procedure's step 5 (the file's step 9).
const AFTER_STEP5: usize = 9;

fn default() -> Scenario {
    Scenario::parse(DEFAULT_SCENARIO, "default").unwrap()
}

fn variant(from: &str, to: &str) -> Scenario {
    assert!(
        DEFAULT_SCENARIO.contains(from),
        "default.toml changed: {from}"
    );
    Scenario::parse(&DEFAULT_SCENARIO.replacen(from, to, 1), "variant").unwrap()
}

fn ssh(sc: &Scenario, after: usize) -> SessionResult {
    session::run(
        &sc.state_after(after),
        &SessionRequest {
            client: Client::Internet(CLIENT),
            server: EIP,
            port: 22,
            service: Service::Ssh,
        },
    )
}

fn curl(sc: &Scenario, after: usize) -> SessionResult {
    session::run(
        &sc.state_after(after),
        &SessionRequest {
            client: Client::Instance("i-web".into()),
            server: MYIP,
            port: 80,
            service: Service::Http,
        },
    )
}

#[test]
fn default_run_passes_with_its_sessions() {
    let sc = default();
    assert_eq!(sc.sessions.len(), 6);
    let r = run_scenario(&sc);
    assert!(r.pass, "{:?}", r.first_failure());
    let json = serde_json::to_string(&r).unwrap();
    assert!(json.contains("Welcome to Alibaba Cloud Elastic Compute Service!"));
    assert!(json.contains("Current IP: 47.96.100.1"));
}

#[test]
fn step6_ssh_to_the_eip_reads_the_banner_via_eth1() {
    let r = ssh(&default(), AFTER_STEP5);
    assert_eq!(r.verdict, Verdict::Banner, "{}", r.lines().join("\n"));
    assert_eq!(r.banner.as_deref(), Some(session::SSH_BANNER));
    assert_eq!(r.server_eni.as_deref(), Some("eni-web1"));
    assert_eq!(r.server_local.as_deref(), Some("192.168.1.100:22"));
    assert_eq!(r.server_saw.as_deref(), Some("198.51.100.7:40001"));
    assert_eq!(r.client_remote.as_deref(), Some("47.96.10.20:22"));
    assert!(r.first_drop.is_none());
}

#[test]
fn step6_curl_shows_the_snat_eip_after_and_the_public_ip_before() {
    let sc = default();
    let before = curl(&sc, 0);
    assert_eq!(
        before.verdict,
        Verdict::Body,
        "{}",
        before.lines().join("\n")
    );
    assert_eq!(before.body_address, Some(EIP));
    let after = curl(&sc, AFTER_STEP5);
    assert_eq!(after.verdict, Verdict::Body, "{}", after.lines().join("\n"));
    assert_eq!(after.body_address, Some(SNAT_EIP));
    assert!(after
        .server_saw
        .as_deref()
        .unwrap()
        .starts_with("47.96.100.1:"));
    assert_eq!(after.client_local.as_deref(), Some("192.168.1.10:40001"));
}

#[test]
fn without_an_sg_rule_for_port_22_ssh_times_out_at_the_security_group() {
    let sc = variant(
        r#"  { direction = "ingress", protocol = "tcp", ports = "22/22", cidr = "0.0.0.0/0", policy = "accept", priority = 1, description = "ssh (step 6 of the procedure needs it)" },"#,
        "",
    );
    let r = ssh(&sc, AFTER_STEP5);
    assert_eq!(r.verdict, Verdict::TimedOut);
    let d = r.first_drop.as_ref().expect("a drop");
    assert_eq!(d.reason, "sg_ingress_denied");
    assert!(!d.trace.is_empty());
}

#[test]
fn without_policy_routes_ssh_times_out_at_anti_spoofing() {
    let r = ssh(&default(), 10);
    assert_eq!(r.verdict, Verdict::TimedOut);
    let d = r.first_drop.as_ref().unwrap();
    assert_eq!(d.reason, "eni_source_check");
    assert_eq!(d.sender, "i-web");
    // And with them back (step 11) it works again.
    assert_eq!(ssh(&default(), 11).verdict, Verdict::Banner);
}

/// Step 4 skipped (the file's step 7 is the refused AssociateEipAddress): the EIP still
/// sits on the instance. ssh to it still gets the banner — but by eth0, not eth1 — and
/// curl still shows the EIP instead of the SNAT EIP: the procedure did not take effect.
#[test]
fn with_the_eip_still_on_the_instance_ssh_lands_on_eth0_and_curl_shows_the_eip() {
    let sc = default();
    let r = ssh(&sc, 7);
    assert_eq!(r.verdict, Verdict::Banner);
    assert_eq!(r.server_eni.as_deref(), Some("i-web-eth0"));
    assert_eq!(r.server_local.as_deref(), Some("192.168.1.10:22"));
    let c = curl(&sc, 7);
    assert_eq!(c.body_address, Some(EIP));
}

#[test]
fn without_the_snat_entry_curl_times_out_with_no_snat_entry() {
    let sc = variant(
        r#"snat = [ { id = "snat-vpc", source_cidr = "192.168.0.0/16", snat_ips = ["47.96.100.1"] } ]"#,
        "",
    );
    let r = curl(&sc, AFTER_STEP5);
    assert_eq!(r.verdict, Verdict::TimedOut, "{}", r.lines().join("\n"));
    assert_eq!(r.first_drop.as_ref().unwrap().reason, "no_snat_entry");
    // Before the procedure the static public IP still gets i-web out.
    assert_eq!(curl(&sc, 0).body_address, Some(EIP));
}

#[test]
fn a_port_nobody_listens_on_is_refused_by_the_guest() {
    // Same basic security group: members reach each other; nothing listens on 2222.
    let r = session::run(
        &default().state_after(AFTER_STEP5),
        &SessionRequest {
            client: Client::Instance("i-app".into()),
            server: Ipv4Addr::new(192, 168, 1, 10),
            port: 2222,
            service: Service::Ssh,
        },
    );
    assert_eq!(r.verdict, Verdict::Refused, "{}", r.lines().join("\n"));
    assert!(r.first_drop.is_none());
}

#[test]
fn the_same_scenario_gives_the_same_transcript_twice() {
    let sc = default();
    for after in [0, AFTER_STEP5, 10] {
        let a = ssh(&sc, after).lines().join("\n");
        let b = ssh(&sc, after).lines().join("\n");
        assert_eq!(a, b);
        let a = curl(&sc, after).lines().join("\n");
        let b = curl(&sc, after).lines().join("\n");
        assert_eq!(a, b);
    }
}

#[test]
fn bad_sessions_are_refused_with_their_line() {
    let add = |extra: &str| Scenario::parse(&format!("{DEFAULT_SCENARIO}\n{extra}"), "f.toml");
    let line = DEFAULT_SCENARIO.lines().count() + 2;
    let e = add("[[sessions]]\nname = \"x\"\nfrom = \"i-web\"\nto = \"1.2.3.4:80\"\nservice = \"telnet\"\nexpect = \"banner\"\n").unwrap_err();
    assert!(e.message.contains("telnet"), "{e}");
    assert_eq!(e.line, line, "{e}");
    let e = add("[[sessions]]\nname = \"x\"\nfrom = \"i-nope\"\nto = \"1.2.3.4:80\"\nservice = \"http\"\nexpect = \"body\"\n").unwrap_err();
    assert!(e.message.contains("i-nope"), "{e}");
    let e = add("[[sessions]]\nname = \"x\"\nfrom = \"i-web\"\nto = \"1.2.3.4\"\nservice = \"http\"\nexpect = \"body\"\n").unwrap_err();
    assert!(e.message.contains("ADDR:PORT"), "{e}");
    let e = add("[[sessions]]\nname = \"x\"\nfrom = \"i-web\"\nto = \"1.2.3.4:22\"\nservice = \"ssh\"\nbody_equals = \"1.2.3.4\"\n").unwrap_err();
    assert!(e.message.contains("body_equals"), "{e}");
    let e = add("[[sessions]]\nname = \"x\"\nfrom = \"i-web\"\nto = \"1.2.3.4:22\"\nservice = \"ssh\"\nexpect = \"banner\"\nafter_step = 99\n").unwrap_err();
    assert!(e.message.contains("after_step"), "{e}");
}

#[test]
fn cli_session_prints_the_transcript_and_json() {
    let run = |extra: &[&str]| {
        let mut args = vec![
            "session",
            "--from",
            "internet:198.51.100.7",
            "--to",
            "47.96.10.20:22",
            "--service",
            "ssh",
        ];
        args.extend_from_slice(extra);
        std::process::Command::new(env!("CARGO_BIN_EXE_vpcsim"))
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["--after-step", "9"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("banner: Welcome to Alibaba Cloud Elastic Compute Service!"),
        "{text}"
    );
    assert!(text.contains("[S]") && text.contains("[FA]"), "{text}");
    let out = run(&["--after-step", "10", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["verdict"], "timed_out");
    assert_eq!(v["first_drop"]["reason"], "eni_source_check");
}
