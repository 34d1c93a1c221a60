//! `[[sessions]]` take `at` as steps, checks and `[[traffic]]` do: a session runs on the
//! configuration in force at that simulated time (the steps at or before it applied).
//! On the built-in procedure the steps happen at 1 s, 2 s, … 11 s: the EIP is unbound
//! at 8 s (`unbind-eip`), bound to eth1 at 9 s, the policy routes are removed at 10 s
//! and restored at 11 s.

use vpcsim::scenario::run::run_scenario;
use vpcsim::scenario::{Scenario, DEFAULT_SCENARIO};

fn with(extra: &str) -> Result<Scenario, String> {
    Scenario::parse(&format!("{DEFAULT_SCENARIO}\n{extra}"), "t.toml").map_err(|e| e.to_string())
}

fn ssh_session(name: &str, when: &str, expect: &str) -> String {
    format!(
        "[[sessions]]\nname = \"{name}\"\n{when}\nfrom = \"internet:198.51.100.7\"\nto = \"47.96.10.20:22\"\nservice = \"ssh\"\n{expect}\n"
    )
}

/// The report of the session named `name` after a run.
fn report(sc: &Scenario, name: &str) -> vpcsim::scenario::run::CheckReport {
    run_scenario(sc)
        .checks
        .into_iter()
        .find(|c| c.name == name)
        .expect("the session ran")
}

#[test]
fn a_session_at_a_time_runs_on_the_configuration_in_force_then() {
    // Between the unbind (8 s) and the bind to eth1 (9 s) the address is unbound.
    let sc = with(&ssh_session(
        "at 8.5s",
        "at = \"8.5s\"",
        "expect = \"timed_out\"\nexpect_reason = \"eip_unbound\"",
    ))
    .unwrap();
    let r = report(&sc, "at 8.5s");
    assert!(r.pass, "{}", r.observed);
    assert_eq!(r.after_step, 8);
    assert_eq!(r.after_id.as_deref(), Some("unbind-eip"));

    // Half a second later the EIP is on eth1: the banner comes through it.
    let sc = with(&ssh_session(
        "at 9.5s",
        "at = \"9.5s\"",
        "expect = \"banner\"\nexpect_eni = \"eni-web1\"",
    ))
    .unwrap();
    let r = report(&sc, "at 9.5s");
    assert!(r.pass, "{}", r.observed);
    assert_eq!(r.after_step, 9);

    // Without policy routes (10 s to 11 s) the SYN-ACK leaves by eth0 and is dropped.
    let sc = with(&ssh_session(
        "at 10.25s",
        "at = \"10250ms\"",
        "expect = \"timed_out\"\nexpect_reason = \"eni_source_check\"",
    ))
    .unwrap();
    let r = report(&sc, "at 10.25s");
    assert!(r.pass, "{}", r.observed);
    assert_eq!(r.after_step, 10);
}

#[test]
fn a_session_at_a_steps_time_runs_after_that_step_and_at_0s_before_the_first() {
    let sc = with(&format!(
        "{}{}",
        ssh_session("at 8s", "at = \"8s\"", "expect = \"timed_out\""),
        ssh_session(
            "at 0s",
            "at = \"0s\"",
            "expect = \"banner\"\nexpect_eni = \"i-web-eth0\""
        ),
    ))
    .unwrap();
    let run = run_scenario(&sc);
    let at8 = run.checks.iter().find(|c| c.name == "at 8s").unwrap();
    assert_eq!(at8.after_step, 8);
    assert!(at8.pass, "{}", at8.observed);
    let at0 = run.checks.iter().find(|c| c.name == "at 0s").unwrap();
    assert_eq!(at0.after_step, 0);
    assert!(at0.pass, "{}", at0.observed);
}

#[test]
fn a_session_at_the_last_steps_time_is_accepted_and_a_later_one_is_a_located_error() {
    let ok = with(&ssh_session(
        "at 11s",
        "at = \"11s\"",
        "expect = \"banner\"",
    ))
    .unwrap();
    assert_eq!(report(&ok, "at 11s").after_step, 11);

    let e = with(&ssh_session(
        "too late",
        "at = \"110s\"",
        "expect = \"banner\"",
    ))
    .unwrap_err();
    let line = DEFAULT_SCENARIO.lines().count() + 2;
    assert!(e.starts_with(&format!("t.toml:{line}:")), "{e}");
    assert!(e.contains("session `too late`"), "{e}");
    assert!(e.contains("after the last step"), "{e}");
    assert!(
        e.contains("step 11 `restore-policy-routes`) happens at 11.000s"),
        "{e}"
    );
    assert!(e.contains("leave `at` out"), "{e}");
}

#[test]
fn a_malformed_at_is_a_located_error_that_shows_the_form() {
    for (at, want) in [
        ("at = \"soon\"", "write e.g. \"12.5s\" or \"500ms\""),
        ("at = 8", "write a time such as at = \"8.5s\""),
        ("at = \"-1s\"", "between 0 and"),
    ] {
        let e = with(&ssh_session("bad", at, "expect = \"banner\"")).unwrap_err();
        assert!(e.contains("session `bad`"), "{at}: {e}");
        assert!(e.contains(want), "{at}: {e}");
        assert!(e.starts_with("t.toml:"), "{at}: {e}");
    }
}

#[test]
fn at_and_after_step_together_are_refused() {
    let e = with(&ssh_session(
        "both",
        "at = \"8.5s\"\nafter_step = \"unbind-eip\"",
        "expect = \"banner\"",
    ))
    .unwrap_err();
    assert!(e.contains("not both"), "{e}");
}

#[test]
fn a_scenario_without_steps_takes_only_at_0s() {
    let no_steps = DEFAULT_SCENARIO
        .split("\n[[steps]]")
        .next()
        .unwrap()
        .to_string();
    let session = ssh_session("s", "at = \"0s\"", "expect = \"banner\"");
    // The first part of the file holds no check or session naming a step.
    let sc = Scenario::parse(&format!("{no_steps}\n{session}"), "t.toml").unwrap();
    assert_eq!(
        sc.sessions[0].1.after_step.as_ref().unwrap().to_string(),
        "0"
    );
    let late = ssh_session("s", "at = \"1s\"", "expect = \"banner\"");
    let e = Scenario::parse(&format!("{no_steps}\n{late}"), "t.toml")
        .unwrap_err()
        .to_string();
    assert!(e.contains("no steps"), "{e}");
}
