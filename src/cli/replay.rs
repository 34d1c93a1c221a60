//! `vpcsim replay`: the CLI adapter of [`crate::replay`].

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::json;
use crate::capture::Capture;
use crate::pcapio::CaptureReader;
use crate::pipeline::{Dataplane, DataplaneConfig};
use crate::replay::{self, Output, ReplaySummary};

#[derive(clap::Args, Debug)]
#[command(after_help = "\
Input: pcap or pcapng with Ethernet, Linux cooked v1/v2 (`tcpdump -i any`) or raw IP
link types; frames without an Ethernet header get the one the --at endpoint would write.
In a pcapng each interface keeps its own link type. A record that cannot be replayed
(another link type, a cut cooked header, a zero-length or snap-length-cut record) is a
counted drop named with its record number (from 1, as Wireshark counts) and interface,
not an error. Drops are named precisely (`malformed_frame.ipv4_bad_checksum`).
Exit status: 0 the replay ran (with --expect: and the output matched), 1 the output
differs from --expect (the first differing packet and field is named), 2 bad input
(scenario, endpoint, unreadable or corrupt capture: the record and byte offset are named;
the output written so far stays a valid capture).")]
pub struct ReplayArgs {
    /// Scenario file (default: the built-in scenario).
    pub file: Option<PathBuf>,
    /// The capture to replay (pcap or pcapng). Repeat `--pcap F --at E` to replay
    /// captures from several vantage points, merged by timestamp.
    #[arg(long, required = true)]
    pub pcap: Vec<PathBuf>,
    /// Where frames enter: instance id (its guest OS sends them), ENI id (sent on that
    /// ENI as is), or internet / internet:IP (the Internet edge). One per --pcap, or one
    /// for all.
    #[arg(long, required = true)]
    pub at: Vec<String>,
    /// Apply the steps up to this one: a number (0 = the initial topology) or a step id
    /// (default: all).
    #[arg(long = "after", visible_alias = "after-step", value_name = "STEP")]
    pub after_step: Option<String>,
    /// Output capture: what leaves the simulated network (pcapng if it ends in .pcapng).
    #[arg(long)]
    pub out: PathBuf,
    /// Also write every hop (one pcapng interface per ENI, NAT gateway outside, Internet).
    #[arg(long)]
    pub capture: Option<PathBuf>,
    /// Compare the output with this capture, packet by packet (exit 1 if it differs).
    #[arg(long)]
    pub expect: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Bad input: exit 2, the error on stderr, or as the JSON error document with --json.
fn bad_input(
    json_out: bool,
    kind: &'static str,
    file: Option<&std::path::Path>,
) -> impl Fn(String) -> ExitCode {
    let file = file.map(|p| p.display().to_string());
    move |msg| {
        if json_out {
            json::print(&json::error(
                "replay",
                json::ErrorDoc {
                    kind: kind.into(),
                    message: msg,
                    file: file.clone(),
                    ..Default::default()
                },
            ));
        } else {
            eprintln!("error: {msg}");
        }
        ExitCode::from(2)
    }
}

pub fn run(a: ReplayArgs) -> Result<ExitCode, ExitCode> {
    let bad = |msg: String| bad_input(a.json, "input", None)(msg);
    let sc = super::load(a.file.as_deref())?;
    let n = super::after_step(&sc, a.after_step.as_deref())?;
    let cloud = sc.state_after(n);
    let tables = crate::compile::Tables::compile(&cloud, 1);
    if a.at.len() != 1 && a.at.len() != a.pcap.len() {
        return Err(bad(format!(
            "{} --pcap but {} --at: give one --at per --pcap, or one for all",
            a.pcap.len(),
            a.at.len()
        )));
    }
    let show = !a.quiet && std::io::stderr().is_terminal();
    let mut inputs = vec![];
    let mut total = 0;
    // Which capture a read error came from: the merged stream does not say.
    let failed = std::rc::Rc::new(std::cell::Cell::new(None::<usize>));
    for (k, p) in a.pcap.iter().enumerate() {
        let at = replay::parse_at(&a.at[k.min(a.at.len() - 1)], &tables).map_err(bad)?;
        let seen = std::rc::Rc::clone(&failed);
        let reader = CaptureReader::open(p)
            .map_err(|e| bad_input(a.json, "capture", Some(p))(format!("{}: {e}", p.display())))?
            .inspect(move |r| {
                if r.is_err() {
                    seen.set(Some(k));
                }
            });
        if show {
            // Counting packets for the ETA is a cheap second pass over the file.
            total += CaptureReader::open(p)
                .map(|r| r.take_while(Result::is_ok).count() as u64)
                .unwrap_or(0);
        }
        inputs.push((at, reader));
    }
    let reader = replay::Merge::new(inputs);
    let io = |p: &std::path::Path| bad_input(a.json, "io", Some(p));
    let mut out = Output::create(&a.out).map_err(|e| io(&a.out)(e.to_string()))?;
    let mut capture = match &a.capture {
        Some(p) => Some(Capture::create(p).map_err(|e| io(p)(e.to_string()))?),
        None => None,
    };
    let mut dp = Dataplane::new(
        Arc::clone(&tables),
        DataplaneConfig {
            conntrack_capacity: 1 << 16,
            ..Default::default()
        },
    );
    let started = Instant::now();
    let bar = indicatif::ProgressBar::hidden();
    let mut shown = false;
    let mut s = replay::replay(&mut dp, reader, &mut out, capture.as_mut(), |k| {
        if !show || k % 256 != 0 {
            return;
        }
        if !shown && started.elapsed() > Duration::from_secs(1) {
            shown = true;
            bar.set_length(total);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:30} {pos}/{len} packets, {per_sec}, ETA {eta}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        }
        bar.set_position(k);
    });
    bar.finish_and_clear();
    let bad_file = failed.get().and_then(|k| a.pcap.get(k));
    if let (Some(e), Some(p)) = (s.error.as_mut(), bad_file) {
        e.message = format!("{}: {}", p.display(), e.message);
    }
    let mut mismatch = None;
    if let (Some(exp), None) = (&a.expect, &s.error) {
        let actual = replay::read_packets(&a.out).map_err(|e| io(&a.out)(e.to_string()))?;
        let expected = replay::read_packets(exp).map_err(|e| {
            bad_input(a.json, "capture", Some(exp))(format!("{}: {e}", exp.display()))
        })?;
        mismatch = replay::difference(&actual, &expected);
    }
    if a.json {
        let error = s.error.as_ref().map(|e| json::ErrorDoc {
            kind: if e.kind == "capture" { "capture" } else { "io" }.into(),
            message: e.message.clone(),
            file: bad_file.map(|p| p.display().to_string()),
            ..Default::default()
        });
        let mut body = serde_json::json!({
            "at": a.at,
            "pcap": a.pcap,
            "out": a.out,
            "summary": s,
            "expect": a.expect.as_ref().map(|_| serde_json::json!({
                "match": mismatch.is_none(),
                "first_difference": mismatch,
            })),
            "error": error,
        });
        if s.error.is_none() {
            if let Some(o) = body.as_object_mut() {
                o.remove("error");
            }
        }
        let after = super::after(&sc, n);
        json::print(&json::envelope("replay", Some(&sc.name), Some(after), body));
    } else {
        render(&a, &s, mismatch.as_ref().map(|d| d.message.as_str()));
    }
    if let Some(e) = &s.error {
        eprintln!(
            "error: {}{}: {} (output so far kept in {})",
            if e.kind == "capture" { "" } else { "writing " },
            if e.kind == "capture" {
                "capture".to_string()
            } else {
                "output".into()
            },
            e.message,
            a.out.display()
        );
        return Ok(ExitCode::from(2));
    }
    Ok(if mismatch.is_some() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn render(a: &ReplayArgs, s: &ReplaySummary, mismatch: Option<&str>) {
    println!(
        "replayed {} at {}: {} packets read over {:.3} s of capture time",
        a.pcap
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(" + "),
        a.at.join(" + "),
        s.packets_read,
        s.duration_secs
    );
    println!(
        "  delivered {}, to the Internet {}, dropped {}, ICMP errors generated {}",
        s.delivered, s.internet, s.dropped, s.icmp_generated
    );
    for (r, k) in &s.drop_reasons {
        println!("  dropped {k:>8}  {r}");
    }
    // A category split into several precise names also shows its total.
    for (c, k) in &s.drop_categories {
        if !s.drop_reasons.contains_key(c) {
            println!("  dropped {k:>8}  {c} (all of the above {c}.*)");
        }
    }
    let list = |v: &std::collections::BTreeSet<std::net::Ipv4Addr>| {
        v.iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !s.egress_sources.is_empty() {
        println!(
            "  source addresses seen by the Internet: {}",
            list(&s.egress_sources)
        );
    }
    if !s.delivered_sources.is_empty() {
        println!(
            "  source addresses seen by the ENIs: {}",
            list(&s.delivered_sources)
        );
    }
    if s.source_mac_rewritten > 0 {
        println!(
            "  source MAC rewritten on {} frames:",
            s.source_mac_rewritten
        );
        for n in &s.source_mac_notes {
            println!("    {n}");
        }
    }
    let ci = &s.capture_issues;
    let issues = ci.zero_length + ci.snap_cut + ci.link;
    if issues > 0 {
        println!(
            "  capture issues: {} zero-length, {} cut by the snap length, {} with a link layer \
             that cannot be replayed (counted as dropped)",
            ci.zero_length, ci.snap_cut, ci.link
        );
        for e in &ci.examples {
            println!("    {e}");
        }
        if issues > ci.examples.len() as u64 {
            println!("    … and {} more", issues - ci.examples.len() as u64);
        }
    }
    println!("  wrote {} packets to {}", s.written, a.out.display());
    if let Some(c) = &a.capture {
        println!("  every hop: {}", c.display());
    }
    if let Some(exp) = &a.expect {
        match mismatch {
            None => println!("  output matches {}", exp.display()),
            Some(m) => println!("  output differs from {}: {m}", exp.display()),
        }
    }
}
