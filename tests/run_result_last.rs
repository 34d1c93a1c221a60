//! The default run (`vpcsim`, `vpcsim run FILE`) ends with its `Result:` line, after the
//! outage summary of the timeline: a script reading the last line gets the verdict.

use std::process::Command;

use vpcsim::scenario::DEFAULT_SCENARIO;

fn run(args: &[&str]) -> (i32, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_vpcsim"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
    )
}

fn last_line(out: &str) -> &str {
    out.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
}

#[test]
fn the_default_runs_last_line_is_the_result_after_the_outage_summary() {
    let (code, out) = run(&[]);
    assert_eq!(code, 0, "{out}");
    let last = last_line(&out);
    assert!(last.starts_with("Result: "), "last line: {last}");
    assert!(last.ends_with("PASS"), "last line: {last}");
    let summary = out.find("While traffic flows").expect("the outage summary");
    let result = out.rfind("Result: ").unwrap();
    assert!(summary < result, "the summary comes before the result");
    assert_eq!(out.matches("Result: ").count(), 1);
}

#[test]
fn a_failing_runs_last_line_is_the_result_too() {
    // A step expected to fail that succeeds: the run fails (exit 1).
    let src = DEFAULT_SCENARIO.replacen(
        "id = \"unbind-eip\"\n",
        "id = \"unbind-eip\"\nexpect_error = \"InvalidAllocationId.NotFound\"\n",
        1,
    );
    assert_ne!(src, DEFAULT_SCENARIO);
    let dir = std::env::temp_dir().join(format!("vpcsim-result-last-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("s.toml");
    std::fs::write(&file, src).unwrap();
    let (code, out) = run(&["run", file.to_str().unwrap()]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("While traffic flows"), "{out}");
    let last = last_line(&out);
    assert!(last.starts_with("Result: "), "last line: {last}");
    assert!(last.contains("FAIL (first: step 8"), "last line: {last}");
}
