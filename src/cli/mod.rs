//! The `vpcsim` command line: thin adapters from arguments to the library, and the
//! human and JSON renderings of its reports.
//!
//! Exit codes (stable, for scripts): 0 = everything behaved as expected; 1 = a step,
//! check, probe or comparison did not (the output names the first); 2 = bad input
//! (arguments, scenario file, capture) — the message says what and where.

pub mod bench;
pub mod json;
mod render;
mod replay;
mod session;
mod timeline;

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
    /// Import warnings are errors (exit 2): for `import`, and for any command given a
    /// folder of `aliyun` JSON as FILE. For CI, where a page or a rule left out must not
    /// go unnoticed.
    #[arg(long, global = true)]
    pub strict: bool,
}

/// `--strict`, read by [`load`] when FILE is a dump folder.
static STRICT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

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
        /// Print only the count of warnings, not each one.
        #[arg(long, short)]
        quiet: bool,
        /// One JSON document: the scenario's name, warnings, source files and TOML.
        #[arg(long)]
        json: bool,
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
        /// Apply the steps up to this one: a number (0 = the initial topology) or a
        /// step id (default: all).
        #[arg(long = "after", visible_alias = "after-step", value_name = "STEP")]
        after_step: Option<String>,
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
    /// sending a probe (egress by the guest OS; ingress counts when the reply gets back
    /// out). Without --after: before and after the steps.
    Egress {
        file: Option<PathBuf>,
        /// A step number (0 = the initial topology) or a step id.
        #[arg(long = "after", visible_alias = "after-step", value_name = "STEP")]
        after_step: Option<String>,
        /// TCP port the ingress probes knock on for EIPs, static public IPs and DNAT IP
        /// mappings (DNAT port entries: their own ports, TCP and UDP).
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
    /// Run the scenario on one virtual clock with its [[traffic]] flowing: steps at
    /// their times on one long-lived data plane; per connection and probe, when it
    /// broke and why; per endpoint, the outage windows; address changes.
    Timeline(timeline::TimelineArgs),
    /// Measure the multi-core engine on synthetic traffic (Mpps, new flows/s, memory per
    /// flow) and check its output against the single-threaded pipeline.
    Bench(bench::BenchArgs),
}

/// Loads a scenario file, a folder of `aliyun` Describe* JSON responses (imported on
/// the fly), or the built-in scenario; prints a located error on failure.
pub fn load(file: Option<&std::path::Path>) -> Result<Scenario, ExitCode> {
    if let Some(dir) = file.filter(|p| p.is_dir()) {
        let (sc, warnings) = crate::import::load_scenario_from_dir(dir).map_err(|e| {
            eprintln!("error: {e}");
            ExitCode::from(2)
        })?;
        // One line, not the whole list on every command: `vpcsim import DIR` lists them.
        if STRICT.load(std::sync::atomic::Ordering::Relaxed) && !warnings.is_empty() {
            for w in &warnings {
                eprintln!("error: {w}");
            }
            eprintln!(
                "error: --strict: {} import warnings for {}",
                warnings.len(),
                dir.display()
            );
            return Err(ExitCode::from(2));
        }
        if !warnings.is_empty() {
            let n: usize = warnings.iter().map(|w| w.count).sum();
            let kinds: Vec<&str> = warnings.iter().map(|w| w.kind.as_str()).collect();
            eprintln!(
                "warning: {}: {n} import warnings ({}); `vpcsim import {}` lists them",
                dir.display(),
                kinds.join(", "),
                dir.display()
            );
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
    STRICT.store(cli.strict, std::sync::atomic::Ordering::Relaxed);
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

/// The number of steps `--after STEP` (a number or a step id) applies; all without it.
pub(crate) fn after_step<S: AsRef<str>>(sc: &Scenario, at: Option<S>) -> Result<usize, ExitCode> {
    match at {
        None => Ok(sc.steps.len()),
        Some(s) => sc
            .resolve(&crate::check::StepRef::parse(s.as_ref()))
            .map_err(|m| {
                eprintln!("error: --after {}: {m} ({})", s.as_ref(), sc.file);
                ExitCode::from(2)
            }),
    }
}

fn dispatch(command: Command) -> Result<ExitCode, ExitCode> {
    match command {
        Command::Replay(a) => replay::run(a),
        Command::Timeline(a) => timeline::run(a),
        Command::Bench(args) => bench::run(args),
        Command::Example => {
            print!("{}", crate::scenario::DEFAULT_SCENARIO);
            Ok(ExitCode::SUCCESS)
        }
        Command::Import {
            dir,
            output,
            quiet,
            json,
        } => import(
            &dir,
            output.as_deref(),
            STRICT.load(std::sync::atomic::Ordering::Relaxed),
            quiet,
            json,
        ),
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
            let mut report = run_scenario(&sc);
            report.outages = timeline::outage_summary(&sc, file.as_deref());
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
                timeline::print_outages(&report.outages);
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
            let at = |p: usize| json::After {
                step: p,
                id: sc.step_id(p).map(str::to_string),
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
                // One point: it is the envelope's `after`; before-and-after: each table's.
                let after = (points.len() == 1).then(|| at(points[0]));
                let body = serde_json::json!({
                    "tables": tables
                        .iter()
                        .map(|(p, rows)| serde_json::json!({"after": at(*p), "rows": rows}))
                        .collect::<Vec<_>>(),
                });
                json::print(&json::envelope("egress", Some(&sc.name), after, body));
            } else {
                for (p, rows) in &tables {
                    render::egress(*p, sc.step_id(*p), rows);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `vpcsim import`: the scenario on stdout or in a file, the warnings on stderr (or in
/// the JSON document), exit 2 on an error — or on any warning with `--strict`.
fn import(
    dir: &std::path::Path,
    output: Option<&std::path::Path>,
    strict: bool,
    quiet: bool,
    as_json: bool,
) -> Result<ExitCode, ExitCode> {
    let imp = match crate::import::import_dir(dir) {
        Ok(i) => i,
        Err(e) => {
            if as_json {
                json::print(&json::error(
                    "import",
                    json::ErrorDoc {
                        kind: "import".into(),
                        message: e.to_string(),
                        file: Some(dir.display().to_string()),
                        ..json::ErrorDoc::default()
                    },
                ));
            } else {
                eprintln!("error: {e}");
            }
            return Err(ExitCode::from(2));
        }
    };
    let n: usize = imp.warnings.iter().map(|w| w.count).sum();
    let failed = strict && !imp.warnings.is_empty();
    let label = if strict { "error" } else { "warning" };
    if let Some(path) = output.filter(|_| !failed) {
        std::fs::write(path, &imp.toml).map_err(|e| {
            eprintln!("error: cannot write {}: {e}", path.display());
            ExitCode::from(2)
        })?;
    }
    if as_json {
        let name = crate::scenario::Scenario::parse(&imp.toml, "imported")
            .map(|s| s.name)
            .ok();
        let warnings: Vec<serde_json::Value> = imp
            .warnings
            .iter()
            .map(|w| {
                serde_json::json!({
                    "kind": w.kind, "count": w.count, "examples": w.examples, "hint": w.hint,
                })
            })
            .collect();
        let sources: Vec<serde_json::Value> = imp
            .sources
            .iter()
            .map(|(f, k)| serde_json::json!({"file": f.display().to_string(), "call": k.to_string()}))
            .collect();
        json::print(&json::envelope(
            "import",
            name.as_deref(),
            None,
            serde_json::json!({
                "strict": strict,
                "ok": !failed,
                "warnings": warnings,
                "sources": sources,
                "output": output.map(|p| p.display().to_string()),
                "toml": imp.toml,
            }),
        ));
    } else {
        if !quiet {
            for w in &imp.warnings {
                eprintln!("{label}: {w}");
            }
        }
        match output {
            Some(path) if !failed => eprintln!(
                "wrote {} ({} source files, {n} warnings)",
                path.display(),
                imp.sources.len(),
            ),
            None if !failed => {
                print!("{}", imp.toml);
                if n > 0 {
                    eprintln!("{n} warnings ({} kinds)", imp.warnings.len());
                }
            }
            _ => {}
        }
        if failed {
            eprintln!(
                "error: --strict: {n} warnings ({} kinds); nothing written",
                imp.warnings.len()
            );
        }
    }
    Ok(if failed {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}
