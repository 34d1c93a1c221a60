//! Shared helpers of the `audit_*` black-box tests: a scenario TOML in, real frames
//! through the public `Dataplane`, or the `vpcsim` binary with `--json`.
#![allow(dead_code, unused_imports)]

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use vpcsim::compile::Tables;
use vpcsim::pipeline::{Dataplane, DataplaneConfig, Disposition, Ingress, Outcome, Trace};
use vpcsim::scenario::Scenario;
use vpcsim::time::SimTime;
use vpcsim::wire::{self, ProbeL4};

#[path = "../support/mod.rs"]
mod support;
pub use support::{ip, ACK, SYN, SYNACK};

/// `support::SERVER` and `support::CLIENT` as text, the form the audit's frames take.
pub const SERVER: &str = "203.0.113.80";
pub const CLIENT: &str = "198.51.100.7";

pub struct Net {
    pub dp: Dataplane,
    pub t: Arc<Tables>,
}

/// What one frame became.
pub struct Sent {
    pub out: Outcome,
    pub frame: Vec<u8>,
    pub trace: Vec<String>,
}

impl Sent {
    pub fn reason(&self) -> Option<&'static str> {
        match self.out.disposition {
            Disposition::Dropped(r) => Some(r.name()),
            _ => None,
        }
    }
    pub fn info(&self) -> wire::FrameInfo {
        wire::parse(&self.frame).expect("output parses")
    }
    pub fn src(&self) -> Ipv4Addr {
        self.info().src
    }
    pub fn dst(&self) -> Ipv4Addr {
        self.info().dst
    }
    pub fn ports(&self) -> (u16, u16) {
        self.info().ports()
    }
    pub fn is_internet(&self) -> bool {
        self.out.disposition == Disposition::Internet
    }
}

impl Net {
    /// The scenario's state after `after` steps (`None`: all of them).
    pub fn new(toml: &str, after: Option<usize>) -> Net {
        let sc = Scenario::parse(toml, "audit.toml").unwrap_or_else(|e| panic!("{e}"));
        let n = after.unwrap_or(sc.steps.len());
        let cloud = sc.state_after(n);
        let t = Tables::compile(&cloud, 1);
        Net {
            dp: Dataplane::new(
                Arc::clone(&t),
                DataplaneConfig {
                    conntrack_capacity: 1 << 12,
                    ..Default::default()
                },
            ),
            t,
        }
    }

    pub fn guest(&self, inst: &str) -> Ingress {
        Ingress::Guest(self.t.instance_index[inst])
    }

    pub fn eni(&self, id: &str) -> Ingress {
        Ingress::Eni(self.t.eni_index[id])
    }

    /// The id of the ENI a packet was delivered to.
    pub fn delivered_to(&self, s: &Sent) -> Option<String> {
        match s.out.disposition {
            Disposition::Delivered { eni } => Some(self.t.enis[eni as usize].id.clone()),
            _ => None,
        }
    }

    pub fn send(&mut self, at: Ingress, frame: Vec<u8>, now: u64) -> Sent {
        let mut buf = frame;
        vpcsim::pipeline::stamp_sender_mac(&self.t, at, &mut buf);
        let mut trace = Trace::default();
        let out = self
            .dp
            .process(&mut buf, at, SimTime::from_secs(now), Some(&mut trace));
        if matches!(
            out.disposition,
            Disposition::Delivered { .. } | Disposition::Internet
        ) && out.fragments.is_empty()
        {
            wire::checksums_valid(&buf)
                .unwrap_or_else(|e| panic!("bad checksum after {:?}: {e}", trace.lines()));
        }
        Sent {
            out,
            frame: buf,
            trace: trace.lines(),
        }
    }
}

/// The audit's frames: `tests/support`'s, sent to the VSwitch gateway's MAC, with
/// addresses given as text.
fn frame(src: &str, dst: &str, l4: ProbeL4) -> support::Frame {
    support::frame(ip(src), ip(dst), l4)
        .macs([2, 0, 0, 0, 0, 1], [0xee, 0xff, 0xff, 0xff, 0xff, 0xff])
}

pub fn tcp(src: &str, sport: u16, dst: &str, dport: u16, flags: u8) -> Vec<u8> {
    frame(src, dst, support::tcp_l4(sport, dport, flags))
        .payload(*b"hello")
        .build()
}

pub fn udp(src: &str, sport: u16, dst: &str, dport: u16) -> Vec<u8> {
    frame(src, dst, ProbeL4::Udp { sport, dport })
        .payload(*b"q")
        .build()
}

pub fn echo(src: &str, dst: &str, request: bool, ident: u16) -> Vec<u8> {
    let l4 = ProbeL4::IcmpEcho {
        request,
        ident,
        seq: 1,
    };
    frame(src, dst, l4).build()
}

/// A scratch directory for this test.
pub fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("vpcsim-audit-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): stdout {} stderr {}",
                self.stdout, self.stderr
            )
        })
    }
    /// No panic, whatever the input.
    pub fn no_panic(&self) -> &Run {
        assert!(
            !self.stderr.contains("panicked") && self.code != 101,
            "vpcsim panicked: {}",
            self.stderr
        );
        self
    }
}

pub fn vpcsim(args: &[&str]) -> Run {
    let o = Command::new(env!("CARGO_BIN_EXE_vpcsim"))
        .args(args)
        .output()
        .unwrap();
    Run {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// Writes a scenario file and returns its path.
pub fn scenario_file(dir: &std::path::Path, name: &str, toml: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, toml).unwrap();
    p.to_string_lossy().into_owned()
}

/// A data plane that lives across the steps of one scenario (SEMANTICS.md §5).
pub struct Live {
    pub sc: Scenario,
    pub net: Net,
    pub step: usize,
}

impl Live {
    pub fn new(toml: &str) -> Live {
        let sc = Scenario::parse(toml, "audit.toml").unwrap_or_else(|e| panic!("{e}"));
        let net = Net::new(toml, Some(0));
        Live { sc, net, step: 0 }
    }

    /// Applies the steps up to `n` (as `vpcsim timeline` does): the connections stay.
    pub fn change_to(&mut self, n: usize) {
        let cloud = self.sc.state_after(n);
        let t = Tables::compile_after(&cloud, n as u64 + 1, &self.net.t);
        self.net.dp.set_tables(Arc::clone(&t));
        self.net.t = t;
        self.step = n;
    }
}

impl Net {
    /// The disposition "delivered to this ENI".
    pub fn delivered_to_eni(&self, id: &str) -> Disposition {
        Disposition::Delivered {
            eni: self.t.eni_index[id],
        }
    }
}
