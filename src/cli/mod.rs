//! The `vpcsim` command line: thin adapters from arguments to the library, and the
//! human and JSON renderings of its reports.
//!
//! Exit codes (stable, for scripts): 0 = everything behaved as expected; 1 = a step,
//! check, probe or comparison did not (the output names the first); 2 = bad input
//! (arguments, scenario file, capture) — the message says what and where.

pub mod bench;
pub mod json;
mod live;
mod render;
mod replay;
mod session;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::scenario::{run_scenario, Scenario};

const AFTER_HELP: &str = "\
With no command, `vpcsim` runs the built-in scenario: the procedure of
same-eip-for-egress-procedure.md (convert a static public IP to an EIP, move it to a
secondary ENI, keep egress on the NAT gateway's SNAT EIP), with the refusals met on the
way and the connectivity checks of its step 6.

FILE is a scenario (TOML; `vpcsim example` prints one to start from), or a folder of
`aliyun` Describe* JSON responses (see `vpcsim import`); omitted, the built-in scenario
is used. Every documented cloud rule vpcsim enforces, with its error
code and test, is listed in docs/RULES.md.

Exit status: 0 all as expected, 1 something did not behave as expected, 2 bad input.";

#[derive(Parser, Debug)]
#[command(name = "vpcsim", version, about = "Simulates an Alibaba Cloud VPC data plane packet by packet: ENIs, security groups, route tables, EIP 1:1 NAT, NAT-gateway SNAT/DNAT and the guest's own routing.", after_help = AFTER_HELP)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Apply a scenario's steps in order, show what each changed, and evaluate its checks.
    Run {
        /// Scenario file (default: the built-in scenario).
        file: Option<PathBuf>,
        /// One JSON document instead of text.
        #[arg(long)]
        json: bool,
        /// Show the trace of every connectivity check, not only of failing ones.
        #[arg(long, short)]
        verbose: bool,
        /// Write every packet the checks and sessions sent, hop by hop, to this pcapng
        /// (one interface per ENI, NAT gateway outside and the Internet edge).
        #[arg(long, value_name = "FILE.pcapng")]
        capture: Option<PathBuf>,
    },
    /// Check a scenario file without running it.
    Validate { file: PathBuf },
    /// Print the built-in scenario, to edit: `vpcsim example > my.toml`.
    Example,
    /// Build a scenario from a folder of `aliyun` Describe* JSON responses (one file per
    /// call, any names). What vpcsim does not model is listed as warnings on stderr.
    Import {
        dir: PathBuf,
        /// Write the scenario here instead of standard output.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Send one probe packet and show every decision on its way.
    Trace {
        file: Option<PathBuf>,
        /// Instance id, ENI id, or internet:IP.
        #[arg(long)]
        from: String,
        /// IP or IP:PORT.
        #[arg(long)]
        to: String,
        #[arg(long, default_value = "tcp", value_parser = ["tcp", "udp", "icmp"])]
        proto: String,
        /// Source address (default: the sender's primary address).
        #[arg(long)]
        src: Option<std::net::Ipv4Addr>,
        /// Apply only the first N steps (default: all).
        #[arg(long)]
        after_step: Option<usize>,
        /// Also send the receiver's reply (SYN-ACK, echo reply) and trace it.
        #[arg(long)]
        reply: bool,
        /// Initial TTL of the probe (a low value shows the hops, as traceroute does).
        #[arg(long, default_value_t = 64)]
        ttl: u8,
        #[arg(long)]
        json: bool,
        /// Write the probe (and reply) hop by hop to this pcapng.
        #[arg(long, value_name = "FILE.pcapng")]
        capture: Option<PathBuf>,
    },
    /// For every instance, ENI and private IP: the public address its Internet traffic
    /// leaves with (or why none) and the public addresses that reach it — each found by
    /// sending a probe. Without --after-step: before and after the steps.
    Egress {
        file: Option<PathBuf>,
        #[arg(long)]
        after_step: Option<usize>,
        /// TCP port the ingress probes knock on (DNAT entries: their own ports).
        #[arg(long, default_value_t = 22)]
        ingress_port: u16,
        #[arg(long)]
        json: bool,
    },
    /// Hold one conversation between real TCP stacks (smoltcp) through the simulated
    /// VPC: ssh reads the instance's banner, http asks a "what is my IP" server which
    /// address it sees. Prints the transcript and the addresses each side saw.
    Session(session::SessionArgs),
    /// Replay a pcap/pcapng through the topology and write what leaves it to a capture.
    Replay(replay::ReplayArgs),
    /// Measure the multi-core engine on synthetic traffic (Mpps, new flows/s, memory per
    /// flow) and check its output against the single-threaded pipeline.
    Bench(bench::BenchArgs),
    /// Real Linux guests around the simulated VPC (needs root): one network namespace per
    /// instance (a TAP per ENI: eth0, eth1, … with the guest's addresses and routing) and
    /// one for the Internet; run real ssh, curl or anything in them with --exec/--shell.
    Live(live::LiveArgs),
}

/// Loads a scenario file, a folder of `aliyun` Describe* JSON responses (imported on
/// the fly), or the built-in scenario; prints a located error on failure.
pub fn load(file: Option<&std::path::Path>) -> Result<Scenario, ExitCode> {
    if let Some(dir) = file.filter(|p| p.is_dir()) {
        let (sc, warnings) = crate::import::load_scenario_from_dir(dir).map_err(|e| {
            eprintln!("error: {e}");
            ExitCode::from(2)
        })?;
        for w in &warnings {
            eprintln!("warning: {w}");
        }
        return Ok(sc);
    }
    Scenario::load(file).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(2)
    })
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Run {
        file: None,
        json: false,
        verbose: false,
        capture: None,
    });
    match dispatch(command) {
        Ok(code) => code,
        Err(code) => code,
    }
}

/// Writes kept passes to a hop-by-hop pcapng (`--capture`).
pub(crate) fn write_capture<'a>(
    path: &std::path::Path,
    passes: impl Iterator<Item = &'a crate::capture::Pass>,
) -> Result<(), ExitCode> {
    let fail = |e: crate::pcapio::PcapError| {
        eprintln!("error: writing capture {}: {e}", path.display());
        ExitCode::from(2)
    };
    let mut cap = crate::capture::Capture::create(path).map_err(fail)?;
    for p in passes {
        cap.record_pass(p).map_err(fail)?;
    }
    cap.flush().map_err(fail)?;
    eprintln!(
        "capture: {} packets written to {}",
        cap.packets,
        path.display()
    );
    Ok(())
}

pub(crate) fn after_step(sc: &Scenario, n: Option<usize>) -> Result<usize, ExitCode> {
    match n {
        None => Ok(sc.steps.len()),
        Some(n) if n <= sc.steps.len() => Ok(n),
        Some(n) => {
            eprintln!(
                "error: --after-step {n}, but {} has {} steps",
                sc.file,
                sc.steps.len()
            );
            Err(ExitCode::from(2))
        }
    }
}

fn dispatch(command: Command) -> Result<ExitCode, ExitCode> {
    match command {
        Command::Replay(a) => replay::run(a),
        Command::Bench(args) => bench::run(args),
        Command::Live(args) => live::run(args),
        Command::Example => {
            print!("{}", crate::scenario::DEFAULT_SCENARIO);
            Ok(ExitCode::SUCCESS)
        }
        Command::Import { dir, output } => {
            let imp = crate::import::import_dir(&dir).map_err(|e| {
                eprintln!("error: {e}");
                ExitCode::from(2)
            })?;
            for w in &imp.warnings {
                eprintln!("warning: {w}");
            }
            match output {
                Some(path) => {
                    std::fs::write(&path, &imp.toml).map_err(|e| {
                        eprintln!("error: cannot write {}: {e}", path.display());
                        ExitCode::from(2)
                    })?;
                    eprintln!(
                        "wrote {} ({} source files, {} warnings)",
                        path.display(),
                        imp.sources.len(),
                        imp.warnings.len()
                    );
                }
                None => print!("{}", imp.toml),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Validate { file } => {
            let sc = load(Some(&file))?;
            println!(
                "{}: valid scenario `{}`: {} steps, {} checks",
                file.display(),
                sc.name,
                sc.steps.len(),
                sc.checks.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Run {
            file,
            json,
            verbose,
            capture,
        } => {
            let sc = load(file.as_deref())?;
            let report = run_scenario(&sc);
            if let Some(path) = &capture {
                // Checks each start their clock at 0: lay them end to end, a second apart.
                let mut base = 0;
                let mut passes = vec![];
                for c in &report.checks {
                    let end = c.passes.iter().map(|p| p.ts_nanos).max().unwrap_or(0);
                    passes.extend(c.passes.iter().map(|p| crate::capture::Pass {
                        ts_nanos: base + p.ts_nanos,
                        ..p.clone()
                    }));
                    base += end + 1_000_000_000;
                }
                write_capture(path, passes.iter())?;
            }
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).unwrap_or_default()
                );
            } else {
                render::run_report(&sc, &report, verbose);
            }
            Ok(if report.pass {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Trace {
            file,
            from,
            to,
            proto,
            src,
            after_step: n,
            reply,
            ttl,
            json,
            capture,
        } => {
            let sc = load(file.as_deref())?;
            let n = after_step(&sc, n)?;
            let cloud = sc.state_after(n);
            let mut dp = crate::probe::dataplane(&cloud);
            let t = std::sync::Arc::clone(dp.tables());
            let mut req = crate::probe::request(&t, &from, &to, &proto, src).map_err(|e| {
                eprintln!("error: {e}");
                ExitCode::from(2)
            })?;
            req.ttl = ttl;
            let r = crate::probe::send(&mut dp, &req, reply, crate::time::SimTime::ZERO).map_err(
                |e| {
                    eprintln!("error: {e}");
                    ExitCode::from(2)
                },
            )?;
            if let Some(path) = &capture {
                write_capture(
                    path,
                    r.pass
                        .iter()
                        .chain(r.reply.iter().filter_map(|x| x.pass.as_ref())),
                )?;
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
            } else {
                render::probe(&r, n);
            }
            let ok = r.disposition != "dropped"
                && r.reply.as_ref().is_none_or(|x| x.disposition != "dropped");
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Session(args) => session::run(args),
        Command::Egress {
            file,
            after_step: n,
            ingress_port,
            json,
        } => {
            let sc = load(file.as_deref())?;
            let points: Vec<usize> = match n {
                Some(_) => vec![after_step(&sc, n)?],
                None if sc.steps.is_empty() => vec![0],
                None => vec![0, sc.steps.len()],
            };
            let tables: Vec<(usize, Vec<crate::probe::EgressRow>)> = points
                .iter()
                .map(|&p| {
                    (
                        p,
                        crate::probe::egress_table(&sc.state_after(p), ingress_port),
                    )
                })
                .collect();
            if json {
                let doc = serde_json::json!({
                    "scenario": sc.name,
                    "tables": tables.iter().map(|(p, rows)| serde_json::json!({"after_step": p, "rows": rows})).collect::<Vec<_>>(),
                });
                println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
            } else {
                for (p, rows) in &tables {
                    render::egress(*p, rows);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
