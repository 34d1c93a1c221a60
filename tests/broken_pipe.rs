//! No panic on output: every command writing into a closed reader (`vpcsim run -v |
//! head -1`) ends quietly with the conventional status — killed by SIGPIPE, as `cat`
//! would be — instead of panicking in `println!` (exit 101).

#![cfg(unix)]

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};

fn into_closed_reader(args: &[&str]) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vpcsim"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn vpcsim");
    // Close the read end before the command writes anything.
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait for vpcsim");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "vpcsim {args:?} panicked: {err}");
    assert_ne!(out.status.code(), Some(101), "vpcsim {args:?}: {err}");
    // Killed by SIGPIPE at the first write, or (output held in std's buffer until
    // exit, whose flush error std ignores) a normal end.
    assert!(
        out.status.signal() == Some(libc_sigpipe()) || out.status.code() == Some(0),
        "vpcsim {args:?} should end by SIGPIPE, got {:?}: {err}",
        out.status
    );
}

/// SIGPIPE is 13 on every unix vpcsim builds on (Linux, macOS, the BSDs).
fn libc_sigpipe() -> i32 {
    13
}

#[test]
fn every_command_into_a_closed_reader_ends_without_a_panic() {
    let default = concat!(env!("CARGO_MANIFEST_DIR"), "/src/scenario/default.toml");
    let cases: &[&[&str]] = &[
        &[],
        &["run", "-v"],
        &["run", "--json"],
        &["validate", default],
        &["validate", default, "--json"],
        &["example"],
        &["trace", "--from", "i-web", "--to", "203.0.113.80:443"],
        &[
            "trace",
            "--from",
            "i-web",
            "--to",
            "203.0.113.80:443",
            "--json",
        ],
        &["egress"],
        &["egress", "--json"],
        &[
            "session",
            "--from",
            "i-web",
            "--to",
            "203.0.113.80:80",
            "--service",
            "http",
        ],
        &["bench", "--flows", "16", "--packets", "256", "--json"],
        &["draw"],
        &["draw", "--trace", "--from i-web --to 203.0.113.80:443"],
        &["--help"],
    ];
    for args in cases {
        into_closed_reader(args);
    }
}
