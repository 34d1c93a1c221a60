//! `vpcsim serve`: JSON lines in, one JSON line out per request, the server going on
//! after bad lines; the Python example client (stdlib only) runs against it.

use std::io::Write;
use std::process::{Command, Stdio};

fn serve(input: &[u8]) -> Vec<serde_json::Value> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vpcsim"))
        .arg("serve")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not one JSON line ({e}): {l}")))
        .collect()
}

#[test]
fn serve_answers_a_trace_request_and_survives_bad_lines() {
    let mut input = Vec::new();
    input.extend_from_slice(
        b"{\"id\":1,\"op\":\"trace\",\"from\":\"i-web\",\"to\":\"203.0.113.80:443\"}\n",
    );
    input.extend_from_slice(b"this is not json\n");
    input.extend_from_slice(b"\n");
    // A line over the limit is refused without being held.
    input.extend(std::iter::repeat_n(b'x', vpcsim::cli::serve::MAX_LINE + 10));
    input.push(b'\n');
    input.extend_from_slice(
        b"{\"id\":2,\"op\":\"trace\",\"from\":\"web\",\"to\":\"203.0.113.80:443\"}\n",
    );
    input.extend_from_slice(b"{\"id\":3,\"op\":\"session\",\"from\":\"i-web\",\"to\":\"203.0.113.80:80\",\"service\":\"http\"}");
    let answers = serve(&input);
    assert_eq!(answers.len(), 5, "{answers:#?}");
    assert_eq!(answers[0]["id"], 1);
    assert_eq!(answers[0]["command"], "trace");
    assert_eq!(answers[0]["probe"]["source_seen"], "47.96.100.1");
    assert!(answers[1]["error"]["message"].is_string());
    assert!(answers[2]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("longer than"));
    assert!(answers[3]["error"]["fix"]
        .as_str()
        .unwrap()
        .starts_with("did you mean i-web"));
    assert_eq!(answers[4]["command"], "session");
    assert_eq!(answers[4]["verdict"], "body");
}

#[test]
fn the_python_example_client_runs_if_python3_is_present() {
    let Ok(v) = Command::new("python3").arg("--version").output() else {
        eprintln!("skipped: no python3");
        return;
    };
    assert!(v.status.success());
    let o = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/serve_client.py"
        ))
        .args(["--vpcsim", env!("CARGO_BIN_EXE_vpcsim")])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains("i-web: internet"), "{out}");
    assert!(out.contains("bad request:"), "{out}");
}
