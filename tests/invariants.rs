//! Named steps and `[[invariants]]` (issue 14 part 4).

use vpcsim::scenario::{run_scenario, Scenario, DEFAULT_SCENARIO};

/// Inserting a harmless step into the built-in scenario breaks no check: checks name
/// steps by id.
#[test]
fn inserting_a_step_without_renumbering_breaks_no_check() {
    let harmless = "[[steps]]\nid = \"unrelated-eni\"\nnote = \"an unrelated ENI\"\nop = \"CreateNetworkInterface\"\nVSwitchId = \"vsw-i\"\nSecurityGroupId = \"sg-web\"\nNetworkInterfaceId = \"eni-unrelated\"\n\n";
    let at = DEFAULT_SCENARIO.find("[[steps]]").unwrap();
    let text = format!(
        "{}{harmless}{}",
        &DEFAULT_SCENARIO[..at],
        &DEFAULT_SCENARIO[at..]
    );
    let sc = Scenario::parse(&text, "inserted.toml").unwrap();
    let base = Scenario::load(None).unwrap();
    assert_eq!(sc.steps.len(), base.steps.len() + 1);
    let r = run_scenario(&sc);
    let failing: Vec<_> = r
        .checks
        .iter()
        .filter(|c| !c.pass)
        .map(|c| &c.name)
        .collect();
    assert!(
        failing.is_empty(),
        "checks broken by the insertion: {failing:?}"
    );
    assert!(r.pass, "{:?}", r.first_failure());
    // The checks moved with their step: the ones written by id now run one step later.
    let c = r
        .checks
        .iter()
        .find(|c| c.name.starts_with("the EIP sits on the secondary ENI"))
        .unwrap();
    assert_eq!(c.after_step, 10);
    assert_eq!(c.after_id.as_deref(), Some("bind-eip-to-eni"));
}

fn with(extra: &str) -> Scenario {
    Scenario::parse(&format!("{DEFAULT_SCENARIO}\n{extra}"), "inv.toml").unwrap()
}

#[test]
fn egress_ip_invariant_names_the_step_that_broke_it() {
    let sc = with("[[invariants]]\nname = \"i-web keeps its public IP\"\negress_of = \"i-web\"\negress_ip = \"47.96.10.20\"\n");
    let r = run_scenario(&sc);
    let i = r
        .invariants
        .iter()
        .find(|i| i.name == "i-web keeps its public IP")
        .unwrap();
    assert!(!i.pass);
    assert_eq!(i.broken_by_step, Some(8));
    assert_eq!(i.broken_by_id.as_deref(), Some("unbind-eip"));
    assert!(i.observed.contains("47.96.100.1"), "{}", i.observed);
    assert!(!r.pass);
    assert!(r.first_failure().unwrap().contains("unbind-eip"));
}

#[test]
fn unreachable_invariant_catches_a_port_opened_by_a_step() {
    let text = DEFAULT_SCENARIO.replace(
        "# --- checks ---",
        "[[steps]]\nid = \"open-rdp\"\nop = \"AuthorizeSecurityGroup\"\nSecurityGroupId = \"sg-web\"\nIpProtocol = \"tcp\"\nPortRange = \"3380/3390\"\nSourceCidrIp = \"0.0.0.0/0\"\n\n# --- checks ---",
    );
    let sc = Scenario::parse(&text, "rdp.toml").unwrap();
    let r = run_scenario(&sc);
    let i = r
        .invariants
        .iter()
        .find(|i| i.name.starts_with("rdp (tcp 3389)"))
        .unwrap();
    assert_eq!(i.broken_by_id.as_deref(), Some("open-rdp"));
    assert_eq!(i.broken_by_step, Some(12));
    assert!(i.observed.contains("tcp/3389"), "{}", i.observed);
}

/// A rule open to one partner CIDR only still opens the port: the invariant probes from
/// that CIDR too.
#[test]
fn unreachable_invariant_probes_from_the_cidrs_rules_accept() {
    let text = DEFAULT_SCENARIO.replace(
        "# --- checks ---",
        "[[steps]]\nid = \"open-rdp-to-partner\"\nop = \"AuthorizeSecurityGroup\"\nSecurityGroupId = \"sg-web\"\nIpProtocol = \"tcp\"\nPortRange = \"3389/3389\"\nSourceCidrIp = \"8.8.8.0/24\"\n\n# --- checks ---",
    );
    let r = run_scenario(&Scenario::parse(&text, "partner.toml").unwrap());
    let i = r
        .invariants
        .iter()
        .find(|i| i.name.starts_with("rdp (tcp 3389)"))
        .unwrap();
    assert_eq!(i.broken_by_id.as_deref(), Some("open-rdp-to-partner"));
    assert!(i.observed.contains("from 8.8.8.1"), "{}", i.observed);
}

#[test]
fn invariant_broken_on_the_initial_topology_says_so() {
    let sc = with("[[invariants]]\nname = \"nothing of vsw-h is reachable\"\nunreachable_from_internet = \"vsw-h\"\n");
    let r = run_scenario(&sc);
    let i = r
        .invariants
        .iter()
        .find(|i| i.name.starts_with("nothing of vsw-h"))
        .unwrap();
    assert_eq!(i.broken_by_step, Some(0));
    assert_eq!(i.failing_after.len(), sc.steps.len() + 1);
}

#[test]
fn a_check_as_invariant_and_bad_invariants_are_refused_with_the_fix() {
    let sc = with("[[invariants]]\nname = \"i-app reaches i-web\"\nfrom = \"i-app\"\nto = \"192.168.1.10:22\"\nexpect = \"delivered\"\n");
    assert!(run_scenario(&sc).pass);
    for (bad, says) in [
        ("[[invariants]]\nname = \"x\"\nfrom = \"i-app\"\nto = \"1.2.3.4:22\"\nexpect = \"internet\"\nafter_step = 3\n", "drop `after_step`"),
        ("[[invariants]]\nname = \"x\"\negress_of = \"i-app\"\n", "egress_ip"),
        ("[[invariants]]\nname = \"x\"\nunreachable_from_internet = \"*\"\nproto = \"sctp\"\n", "tcp, udp or icmp"),
        ("[[invariants]]\nname = \"x\"\nunreachable_from_internet = \"*\"\nports = \"9/1\"\n", "starts after it ends"),
        ("[[invariants]]\nname = \"x\"\n", "an invariant is"),
        ("[[invariants]]\nname = \"x\"\nunreachable_from_internet = \"vsw-typo\"\n", "no VSwitch, instance or ENI"),
    ] {
        let e = Scenario::parse(&format!("{DEFAULT_SCENARIO}\n{bad}"), "bad.toml").unwrap_err();
        assert!(e.message.contains(says), "{bad}: {e}");
        assert!(e.line > 300, "located: {e}");
    }
}

#[test]
fn step_ids_are_checked_where_they_are_written() {
    let dup = DEFAULT_SCENARIO.replacen("id = \"create-eni\"", "id = \"attach-eni\"", 1);
    let e = Scenario::parse(&dup, "dup.toml").unwrap_err();
    assert!(e.message.contains("used twice"), "{e}");
    let num = DEFAULT_SCENARIO.replacen("id = \"create-eni\"", "id = \"5\"", 1);
    let e = Scenario::parse(&num, "num.toml").unwrap_err();
    assert!(e.message.contains("step number"), "{e}");
    let unknown = DEFAULT_SCENARIO.replacen(
        "after_step = \"remove-policy-routes\"",
        "after_step = \"remove-policy-route\"",
        1,
    );
    let e = Scenario::parse(&unknown, "unknown.toml").unwrap_err();
    assert!(
        e.message.contains("no step has id `remove-policy-route`"),
        "{e}"
    );
    assert!(
        e.message.contains("remove-policy-routes"),
        "lists the ids: {e}"
    );
    let neg = DEFAULT_SCENARIO.replacen("after_step = 0", "after_step = -1", 1);
    let e = Scenario::parse(&neg, "neg.toml").unwrap_err();
    assert!(
        e.message.contains("0 (the initial topology) or more"),
        "{e}"
    );
}

/// An invariant about an ENI a step creates holds vacuously before it exists, and is
/// checked from then on.
#[test]
fn invariant_about_a_resource_a_step_creates() {
    let sc = with("[[invariants]]\nname = \"eni-web1 is closed on tcp 3389\"\nunreachable_from_internet = \"eni-web1\"\nproto = \"tcp\"\nports = \"3389\"\n\n[[invariants]]\nname = \"eni-web1 is reachable on ssh\"\nunreachable_from_internet = \"eni-web1\"\nproto = \"tcp\"\nports = \"22\"\n");
    let r = run_scenario(&sc);
    let closed = r
        .invariants
        .iter()
        .find(|i| i.name.contains("3389"))
        .unwrap();
    assert!(closed.pass, "{}", closed.observed);
    // ssh to the EIP reaches eni-web1 once the EIP is bound to it.
    let ssh = r
        .invariants
        .iter()
        .find(|i| i.name.contains("ssh"))
        .unwrap();
    assert_eq!(ssh.broken_by_id.as_deref(), Some("bind-eip-to-eni"));
}
