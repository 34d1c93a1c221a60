//! `vpcsim session`: one conversation between smoltcp hosts through the simulated VPC.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::hosts::session::{self, Client, Service, SessionRequest, SessionResult, Verdict};

#[derive(clap::Args, Debug)]
pub struct SessionArgs {
    /// Scenario file (default: the built-in scenario).
    pub file: Option<PathBuf>,
    /// The client: an instance id or name, or internet:IP.
    #[arg(long)]
    pub from: String,
    /// The server: ADDR:PORT.
    #[arg(long)]
    pub to: String,
    /// ssh (read the banner) or http (GET /, the body tells the address the server saw).
    #[arg(long, value_parser = ["ssh", "http"])]
    pub service: String,
    /// Apply the steps up to this one: a number (0 = the initial topology) or a step id
    /// (default: all).
    #[arg(long = "after", visible_alias = "after-step", value_name = "STEP")]
    pub after_step: Option<String>,
    #[arg(long)]
    pub json: bool,
    /// Write every packet of the conversation, hop by hop, to this pcapng.
    #[arg(long, value_name = "FILE.pcapng")]
    pub capture: Option<PathBuf>,
}

pub fn run(a: SessionArgs) -> Result<ExitCode, ExitCode> {
    let out = super::Out {
        command: "session",
        json: a.json,
    };
    let sc = out.load(a.file.as_deref())?;
    let n = out.after_step(&sc, a.after_step.as_deref())?;
    let cloud = sc.state_after(n);
    let from = super::ids::endpoint(&cloud, &a.from, super::ids::Accept::Instance)
        .map_err(|e| out.bad(format!("--from: {e}")))?;
    let client = Client::parse(&from).map_err(|e| out.bad(e))?;
    let (server, port) = session::parse_addr_port(&a.to).map_err(|e| out.bad(e))?;
    let req = SessionRequest {
        client,
        server,
        port,
        service: Service::parse(&a.service).map_err(|e| out.bad(e))?,
    };
    let r = session::run(&cloud, &req);
    if let Some(path) = &a.capture {
        super::write_capture(path, r.passes.iter())?;
    }
    if a.json {
        super::json::print(&json(&sc, n, &a.from, &a.to, &r));
    } else {
        render(&r, n);
    }
    Ok(match r.verdict {
        Verdict::Banner | Verdict::Body => ExitCode::SUCCESS,
        _ => ExitCode::from(1),
    })
}

/// `vpcsim session --json` (and a `serve` session answer): the result's fields beside
/// the envelope, the request as given.
pub(crate) fn json(
    sc: &crate::scenario::Scenario,
    n: usize,
    from: &str,
    to: &str,
    r: &SessionResult,
) -> serde_json::Value {
    let mut doc = super::json::envelope("session", Some(&sc.name), Some(super::after(sc, n)), r);
    doc["request"] = serde_json::json!({"from": from, "to": to, "service": r.service});
    // The transcript without its text layout (indentation, alignment).
    doc["transcript"] = r
        .transcript
        .iter()
        .map(|l| super::render::collapse(l))
        .collect();
    doc
}

fn render(r: &SessionResult, after: usize) {
    println!(
        "{} session after {after} steps: {} → {}",
        r.service.name(),
        r.client,
        r.server
    );
    for l in &r.transcript {
        println!("  {l}");
    }
    println!();
    println!("outcome: {}", r.verdict.name());
    if !r.detail.is_empty() {
        println!("  {}", r.detail);
    }
    if let Some(b) = &r.banner {
        println!("  banner: {}", b.trim_end());
    }
    if let Some(b) = &r.body {
        println!("  body:   {}", b.trim_end());
    }
    let or_dash = |s: &Option<String>| s.clone().unwrap_or_else(|| "-".into());
    println!(
        "client {}: its socket {} → {}",
        r.client,
        or_dash(&r.client_local),
        or_dash(&r.client_remote)
    );
    match &r.server_host {
        Some(h) => println!(
            "server {h}: its socket {} saw the peer {}{}",
            or_dash(&r.server_local),
            or_dash(&r.server_saw),
            r.server_eni
                .as_ref()
                .map(|e| format!(" (arrived by {e})"))
                .unwrap_or_default()
        ),
        None => println!("server: no host accepted the connection"),
    }
    println!(
        "bytes: {} to the server, {} to the client; {} packets; {} ms of virtual time",
        r.bytes_to_server, r.bytes_to_client, r.packets, r.duration_ms
    );
    if let Some(d) = &r.first_drop {
        println!(
            "\nfirst packet the VPC dropped ({}), sent by {}: {}",
            d.reason, d.sender, d.packet
        );
        for l in &d.trace {
            println!("  {l}");
        }
    }
}
