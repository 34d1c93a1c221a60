//! Scenario-file errors: each is located at file:line(:column), says how to fix it, and
//! never panics.

use vpcsim::scenario::{run_scenario, Scenario, ScenarioError};

const HEAD: &str = r#"[scenario]
name = "errors"

[[vpcs]]
id = "vpc-a"
cidr = "192.168.0.0/16"

[[vswitches]]
id = "vsw-a"
vpc = "vpc-a"
zone = "cn-hangzhou-h"
cidr = "192.168.1.0/24"

[[security_groups]]
id = "sg-a"
vpc = "vpc-a"

[[instances]]
id = "i-1"
vswitch = "vsw-a"
security_groups = ["sg-a"]
"#;

/// 1-based line of the first line of `src` containing `needle`.
fn line_of(src: &str, needle: &str) -> usize {
    src.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("`{needle}` not in source"))
        + 1
}

fn parse_err(src: &str) -> ScenarioError {
    let r = std::panic::catch_unwind(|| Scenario::parse(src, "test.toml"));
    match r {
        Err(_) => panic!("Scenario::parse panicked"),
        Ok(Ok(_)) => panic!("the scenario should be refused"),
        Ok(Err(e)) => {
            assert_eq!(e.file, "test.toml");
            e
        }
    }
}

#[track_caller]
fn mentions(e: &ScenarioError, needle: &str) {
    assert!(
        e.message.contains(needle),
        "message `{}` should mention `{needle}`",
        e.message
    );
    let shown = e.to_string();
    assert!(
        shown.starts_with(&format!("test.toml:{}:{}: ", e.line, e.column)),
        "{shown}"
    );
}

#[test]
fn unknown_key_points_at_the_key_and_lists_valid_ones() {
    let src =
        format!("{HEAD}\n[[eips]]\nid = \"eip-1\"\naddress = \"47.96.0.1\"\ncolour = \"red\"\n");
    let e = parse_err(&src);
    assert_eq!(e.line, line_of(&src, "colour"));
    assert_eq!(e.column, 1);
    mentions(&e, "unknown field `colour`");
    mentions(&e, "expected one of `id`, `address`");
}

#[test]
fn unknown_key_in_scenario_table() {
    let src = HEAD.replace(
        "name = \"errors\"",
        "name = \"errors\"\nregoin = \"cn-beijing\"",
    );
    let e = parse_err(&src);
    assert_eq!(e.line, line_of(&src, "regoin"));
    assert_eq!(e.column, 1);
    mentions(&e, "unknown field `regoin`");
    mentions(&e, "`region`");
}

#[test]
fn dangling_vpc_reference_in_vswitch() {
    let src = format!("{HEAD}\n[[vswitches]]\nid = \"vsw-x\"\nvpc = \"vpc-missing\"\nzone = \"z\"\ncidr = \"10.0.0.0/24\"\n");
    let e = parse_err(&src);
    assert_eq!(
        e.line,
        line_of(&src, "id = \"vsw-x\"") - 1,
        "points at the [[vswitches]] table"
    );
    mentions(&e, "VPC `vpc-missing` is not defined in [[vpcs]]");
    mentions(&e, "define it there or correct the id");
}

#[test]
fn dangling_security_group_reference_in_instance() {
    let src = format!("{HEAD}\n[[instances]]\nid = \"i-2\"\nvswitch = \"vsw-a\"\nsecurity_groups = [\"sg-nope\"]\n");
    let e = parse_err(&src);
    assert_eq!(e.line, line_of(&src, "id = \"i-2\"") - 1);
    mentions(
        &e,
        "security group `sg-nope` is not defined in [[security_groups]]",
    );
    mentions(&e, "correct the id");
}

#[test]
fn vswitch_cidr_outside_vpc() {
    let src = format!("{HEAD}\n[[vswitches]]\nid = \"vsw-x\"\nvpc = \"vpc-a\"\nzone = \"z\"\ncidr = \"10.0.0.0/24\"\n");
    let e = parse_err(&src);
    assert_eq!(e.line, line_of(&src, "id = \"vsw-x\"") - 1);
    mentions(&e, "outside VPC vpc-a (192.168.0.0/16)");
    mentions(&e, "choose a CIDR inside the VPC");
}

#[test]
fn overlapping_vswitch_cidrs() {
    let src = format!("{HEAD}\n[[vswitches]]\nid = \"vsw-x\"\nvpc = \"vpc-a\"\nzone = \"z\"\ncidr = \"192.168.1.128/25\"\n");
    let e = parse_err(&src);
    assert_eq!(e.line, line_of(&src, "id = \"vsw-x\"") - 1);
    mentions(&e, "overlaps VSwitch vsw-a (192.168.1.0/24)");
    mentions(&e, "must not overlap");
}

#[test]
fn duplicate_ids_across_resource_kinds() {
    // A security group reusing a VSwitch's id.
    let src = format!("{HEAD}\n[[security_groups]]\nid = \"vsw-a\"\nvpc = \"vpc-a\"\n");
    let e = parse_err(&src);
    let lines: Vec<&str> = src.lines().collect();
    let last_group = lines
        .iter()
        .rposition(|l| *l == "[[security_groups]]")
        .unwrap()
        + 1;
    assert_eq!(e.line, last_group);
    let first = line_of(&src, "id = \"vsw-a\"") - 1;
    mentions(
        &e,
        &format!("duplicate id `vsw-a` (first used on line {first})"),
    );
    mentions(&e, "rename one of them");
}

#[test]
fn bad_value_points_at_its_column() {
    let src = format!("{HEAD}\n[[vpcs]]\nid = \"vpc-b\"\ncidr = \"10.0.0.0/33\"\n");
    let e = parse_err(&src);
    assert_eq!(e.line, line_of(&src, "10.0.0.0/33"));
    assert_eq!(e.column, "cidr = ".len() + 1);
    mentions(&e, "invalid IP address syntax");
}

#[test]
fn topology_the_cloud_would_refuse_names_the_api_error() {
    let src = format!(
        "{HEAD}\n[[slbs]]\nid = \"slb-pub\"\naddress_type = \"internet\"\n\n[[eips]]\nid = \"eip-1\"\naddress = \"47.96.0.1\"\nbind = {{ type = \"SlbInstance\", id = \"slb-pub\" }}\n"
    );
    let e = parse_err(&src);
    assert_eq!(e.line, line_of(&src, "id = \"eip-1\"") - 1);
    mentions(
        &e,
        "the cloud refuses this: InvalidParameter.SlbAddressType",
    );
    mentions(&e, "internal (intranet) SLB");
}

#[test]
fn step_with_unknown_parameter() {
    let src = format!("{HEAD}\n[[steps]]\nop = \"StartInstance\"\nInstanceIdd = \"i-1\"\n");
    let e = parse_err(&src);
    assert_eq!(e.line, line_of(&src, "[[steps]]"));
    mentions(&e, "step StartInstance");
    mentions(&e, "unknown field `InstanceIdd`, expected `InstanceId`");
    mentions(&e, "OpenAPI names");
}

#[test]
fn step_with_badly_typed_parameter() {
    let src = format!("{HEAD}\n[[steps]]\nop = \"StartInstance\"\nInstanceId = 5\n");
    let e = parse_err(&src);
    assert_eq!(e.line, line_of(&src, "[[steps]]"));
    mentions(&e, "step StartInstance");
    mentions(&e, "expected a string");
}

#[test]
fn step_missing_a_required_parameter() {
    let src = format!("{HEAD}\n[[steps]]\nop = \"AttachNetworkInterface\"\nInstanceId = \"i-1\"\n");
    let e = parse_err(&src);
    assert_eq!(e.line, line_of(&src, "[[steps]]"));
    mentions(&e, "missing field `NetworkInterfaceId`");
}

#[test]
fn step_with_unknown_op() {
    let src = format!("{HEAD}\n[[steps]]\nop = \"RebootTheCloud\"\nInstanceId = \"i-1\"\n");
    let e = parse_err(&src);
    assert_eq!(e.line, line_of(&src, "[[steps]]"));
    mentions(&e, "unknown variant `RebootTheCloud`");
    mentions(&e, "`StartInstance`");
}

#[test]
fn step_without_op() {
    let src = format!("{HEAD}\n[[steps]]\nInstanceId = \"i-1\"\n");
    let e = parse_err(&src);
    assert_eq!(e.line, line_of(&src, "[[steps]]"));
    mentions(&e, "a step without `op`");
}

#[test]
fn wrong_expect_error_fails_the_run_at_the_step_line() {
    let src = format!(
        "{HEAD}\n[[steps]]\nop = \"StopInstance\"\nInstanceId = \"i-1\"\n\n[[steps]]\nnote = \"really StartInstance of a Stopped instance succeeds\"\nop = \"StartInstance\"\nInstanceId = \"i-1\"\nexpect_error = \"IncorrectInstanceStatus\"\n\n[[steps]]\nop = \"StartInstance\"\nInstanceId = \"i-1\"\nexpect_error = \"InvalidEcsId.NotFound\"\n"
    );
    let sc = Scenario::parse(&src, "test.toml").expect("parses");
    let r = run_scenario(&sc);
    assert!(!r.pass);
    assert!(r.steps[0].as_expected);
    // Step 2 expected an error but succeeded.
    let s2 = &r.steps[1];
    assert!(s2.ok && !s2.as_expected);
    assert_eq!(
        s2.line,
        src.lines()
            .enumerate()
            .filter(|(_, l)| *l == "[[steps]]")
            .nth(1)
            .unwrap()
            .0
            + 1
    );
    // Step 3 failed with another code than expected.
    let s3 = &r.steps[2];
    assert!(!s3.ok && !s3.as_expected);
    assert_eq!(s3.error_code.as_deref(), Some("IncorrectInstanceStatus"));
    assert_eq!(s3.expect_error.as_deref(), Some("InvalidEcsId.NotFound"));
    let first = r.first_failure().expect("a failure");
    assert_eq!(first, format!("step 2 (StartInstance, line {})", s2.line));
}

#[test]
fn right_expect_error_passes_the_run() {
    let src = format!("{HEAD}\n[[steps]]\nop = \"StartInstance\"\nInstanceId = \"i-1\"\nexpect_error = \"IncorrectInstanceStatus\"\n");
    let sc = Scenario::parse(&src, "test.toml").expect("parses");
    let r = run_scenario(&sc);
    assert!(r.pass, "{:?}", r.steps);
}

#[test]
fn malformed_files_are_errors_not_panics() {
    // Garbage, truncated and empty files are errors, never panics.
    for src in [
        "",
        "[scenario",
        "[scenario]\nname = 1\n",
        "[scenario]\nname = \"x\"\n[[steps]]\nop = 3\n",
        "[scenario]\nname = \"x\"\n[[checks]]\nname = \"c\"\n",
        "[scenario]\nname = \"x\"\n[[instances]]\nid = \"i\"\n",
        "\u{feff}[scenario]\nname = \"x\"\n[[vpcs]]\nid = \"v\"\ncidr = \"1.2.3.4/8\"\n",
    ] {
        let r = std::panic::catch_unwind(|| Scenario::parse(src, "test.toml"));
        let r = r.unwrap_or_else(|_| panic!("panicked on {src:?}"));
        if let Err(e) = r {
            assert!(e.line >= 1, "{e}");
        }
    }
}
