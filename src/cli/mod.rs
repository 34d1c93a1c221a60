//! The `vpcsim` command line: thin adapters from arguments to the library, and the
//! human and JSON renderings of its reports.
//!
//! Exit codes (stable, for scripts): 0 = everything behaved as expected; 1 = a step,
//! check, probe or comparison did not (the output names the first); 2 = bad input
//! (arguments, scenario file, capture) — the message says what and where.

pub mod bench;
mod draw;
pub mod ids;
mod import;
pub mod json;
mod live;
pub mod operations;
mod plan;
mod reach;
mod render;
mod replay;
pub mod serve;
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
    /// Check a scenario file: parse it, build its topology, and apply its steps to a copy
    /// (no packets sent). Refusals the file does not expect, and expected refusals that do
    /// not happen, are reported as `run` would (exit 1).
    Validate {
        file: PathBuf,
        #[arg(long)]
        json: bool,
    },
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
        /// Instance id or name, ENI id or name, or internet:IP.
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
    /// Check a Terraform plan before `terraform apply`: the calls it makes, the cloud's
    /// refusals, and every instance's egress before and after (`terraform show -json
    /// plan.tfplan > plan.json`). Exit 1 when the cloud would refuse a call or an
    /// invariant fails.
    Plan(plan::PlanArgs),
    /// What reaches what: every class of traffic between endpoints, one probe each,
    /// merged into rows (source set, destination, protocol, port ranges) → outcome.
    Reach(reach::ReachArgs),
    /// What the Internet reaches: per instance, ENI and private IP, every public address
    /// and port range that gets in, through which EIP or DNAT entry, by which rule.
    Exposure(reach::ExposureArgs),
    /// What a change alters (egress addresses, exposure, reach) between two steps, two
    /// files or a dump and steps, with the step that caused each; exit 1 when a change is
    /// not declared in [[expect_change]].
    Diff(reach::DiffArgs),
    /// Real Linux guests around the simulated VPC (needs root): one network namespace per
    /// instance (a TAP per ENI: eth0, eth1, … with the guest's addresses and routing) and
    /// one for the Internet; run real ssh, curl or anything in them with --exec/--shell.
    Live(live::LiveArgs),
    /// Draw the VPC as an SVG picture (VSwitches by zone, instances with their ENIs,
    /// EIPs and their bindings, NAT gateways with their entries, security groups), with
    /// the path of `--trace` probes hop by hop.
    Draw(draw::DrawArgs),
    /// Answer JSON-lines requests on stdin (trace, session, egress, apply a step, reset,
    /// info), one JSON line each on stdout, against the scenario loaded and compiled once.
    Serve(serve::ServeArgs),
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
    Out {
        command: "",
        json: false,
    }
    .load(file)
}

/// What a dump folder given as FILE says about its import: one line, not the whole list
/// on every command (`vpcsim import DIR` lists them); with `--strict` each warning is an
/// error and the command stops.
fn import_warnings(
    dir: &std::path::Path,
    warnings: &[crate::import::Warning],
) -> Result<(), String> {
    if warnings.is_empty() {
        return Ok(());
    }
    if STRICT.load(std::sync::atomic::Ordering::Relaxed) {
        for w in warnings {
            eprintln!("error: {w}");
        }
        return Err(format!(
            "--strict: {} import warnings for {}",
            warnings.len(),
            dir.display()
        ));
    }
    let n: usize = warnings.iter().map(|w| w.count).sum();
    let kinds: Vec<&str> = warnings.iter().map(|w| w.kind.as_str()).collect();
    eprintln!(
        "warning: {}: {n} import warnings ({}); `vpcsim import {}` lists them",
        dir.display(),
        kinds.join(", "),
        dir.display()
    );
    Ok(())
}

/// Where a command reports a failure that stops it before it answers: `error: …` on
/// stderr, or with `--json` the error document on stdout. Exit code 2 (bad input).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Out<'a> {
    pub command: &'a str,
    pub json: bool,
}

impl Out<'_> {
    pub fn fail(&self, err: json::ErrorDoc) -> ExitCode {
        if self.json {
            json::print(&json::error(self.command, err));
        } else {
            eprintln!("error: {}", err.text());
        }
        ExitCode::from(2)
    }

    /// A bad argument or value.
    pub fn bad(&self, message: impl Into<String>) -> ExitCode {
        self.fail(json::ErrorDoc::input(message))
    }

    /// [`load`], reporting in this command's format.
    pub fn load(&self, file: Option<&std::path::Path>) -> Result<Scenario, ExitCode> {
        if let Some(dir) = file.filter(|p| p.is_dir()) {
            let (sc, warnings) = crate::import::load_scenario_from_dir(dir).map_err(|e| {
                self.fail(json::ErrorDoc {
                    kind: "import".into(),
                    message: e.to_string(),
                    file: Some(dir.display().to_string()),
                    ..json::ErrorDoc::default()
                })
            })?;
            import_warnings(dir, &warnings).map_err(|m| {
                self.fail(json::ErrorDoc {
                    kind: "import".into(),
                    message: m,
                    file: Some(dir.display().to_string()),
                    fix: Some(
                        "run `vpcsim import DIR` to see each warning, or drop --strict".into(),
                    ),
                    ..json::ErrorDoc::default()
                })
            })?;
            return Ok(sc);
        }
        Scenario::load(file).map_err(|e| self.fail(json::ErrorDoc::scenario(&e)))
    }

    /// [`after_step`], reporting in this command's format.
    pub fn after_step(&self, sc: &Scenario, at: Option<&str>) -> Result<usize, ExitCode> {
        match at {
            None => Ok(sc.steps.len()),
            Some(s) => sc
                .resolve(&crate::check::StepRef::parse(s))
                .map_err(|m| self.bad(format!("--after {s}: {m} ({})", sc.file))),
        }
    }
}

/// The `after` member for the configuration after `n` steps.
pub(crate) fn after(sc: &Scenario, n: usize) -> json::After {
    json::After {
        step: n,
        id: sc.step_id(n).map(str::to_string),
    }
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
        Command::Plan(args) => plan::run(args),
        Command::Reach(a) => reach::reach(a),
        Command::Exposure(a) => reach::exposure_cmd(a),
        Command::Diff(a) => reach::diff_cmd(a),
        Command::Live(args) => live::run(args),
        Command::Draw(args) => draw::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Example => {
            print!("{}", crate::scenario::DEFAULT_SCENARIO);
            Ok(ExitCode::SUCCESS)
        }
        Command::Import {
            dir,
            output,
            quiet,
            json,
        } => import::run(
            &dir,
            output.as_deref(),
            STRICT.load(std::sync::atomic::Ordering::Relaxed),
            quiet,
            json,
        ),
        Command::Validate { file, json } => validate(&file, json),
        Command::Run {
            file,
            json,
            verbose,
            capture,
        } => run(file.as_deref(), json, verbose, capture.as_deref()),
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
        } => trace(
            file.as_deref(),
            &TraceArgs {
                from,
                to,
                proto,
                src,
                after_step: n,
                reply,
                ttl,
            },
            json,
            capture.as_deref(),
        ),
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
            let mut notes: Vec<String> = Vec::new();
            let tables: Vec<(usize, Vec<crate::probe::EgressRow>)> = points
                .iter()
                .map(|&p| {
                    let cloud = sc.state_after(p);
                    let t = crate::compile::Tables::compile(&cloud, 1);
                    notes.extend(crate::reach::source_port_note(&t));
                    (p, crate::probe::egress_table_on(&cloud, &t, ingress_port))
                })
                .collect();
            notes.dedup();
            if json {
                // One point: it is the envelope's `after`; before-and-after: each table's.
                let after = (points.len() == 1).then(|| at(points[0]));
                let body = serde_json::json!({
                    "tables": tables
                        .iter()
                        .map(|(p, rows)| serde_json::json!({"after": at(*p), "rows": rows}))
                        .collect::<Vec<_>>(),
                    "notes": notes,
                });
                json::print(&json::envelope("egress", Some(&sc.name), after, body));
            } else {
                for (p, rows) in &tables {
                    render::egress(*p, sc.step_id(*p), rows);
                }
                for n in &notes {
                    println!("\nnote: {n}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn validate(file: &std::path::Path, json: bool) -> Result<ExitCode, ExitCode> {
    let out = Out {
        command: "validate",
        json,
    };
    let sc = out.load(Some(file))?;
    let steps = crate::scenario::run::apply_steps(&sc);
    let ok = steps.iter().all(|s| s.as_expected);
    if json {
        json::print(&json::envelope(
            "validate",
            Some(&sc.name),
            Some(after(&sc, sc.steps.len())),
            serde_json::json!({
                "file": file.display().to_string(),
                "valid": ok,
                "steps": steps.iter().map(render::step_json).collect::<Vec<_>>(),
                "checks": sc.checks.len(),
                "sessions": sc.sessions.len(),
            }),
        ));
    } else {
        for s in steps.iter().filter(|s| !s.as_expected) {
            eprintln!(
                "{}:{}: step {} ({}): {}",
                file.display(),
                s.line,
                s.index,
                s.op,
                render::step_verdict(s)
            );
            if s.error_code.is_some() {
                eprintln!("  {}", s.message);
            }
        }
        println!(
            "{}: {} scenario `{}`: {} steps ({} as expected), {} checks, {} sessions",
            file.display(),
            if ok { "valid" } else { "INVALID" },
            sc.name,
            sc.steps.len(),
            steps.iter().filter(|s| s.as_expected).count(),
            sc.checks.len(),
            sc.sessions.len()
        );
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn run(
    file: Option<&std::path::Path>,
    json: bool,
    verbose: bool,
    capture: Option<&std::path::Path>,
) -> Result<ExitCode, ExitCode> {
    let out = Out {
        command: "run",
        json,
    };
    let sc = out.load(file)?;
    let mut report = run_scenario(&sc);
    report.outages = timeline::outage_summary(&sc, file);
    if let Some(path) = capture {
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
    let diff = reach::procedure_diff(&sc);
    if json {
        json::print(&render::run_json(&sc, &report, diff.as_ref()));
    } else {
        render::run_report(&sc, &report, diff.as_ref(), verbose);
    }
    Ok(if report.pass && diff.as_ref().is_none_or(|d| d.pass) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `vpcsim trace`'s question (also a `serve` request).
#[derive(Debug, Clone)]
pub(crate) struct TraceArgs {
    pub from: String,
    pub to: String,
    pub proto: String,
    pub src: Option<std::net::Ipv4Addr>,
    pub after_step: Option<String>,
    pub reply: bool,
    pub ttl: u8,
}

fn trace(
    file: Option<&std::path::Path>,
    a: &TraceArgs,
    json: bool,
    capture: Option<&std::path::Path>,
) -> Result<ExitCode, ExitCode> {
    let out = Out {
        command: "trace",
        json,
    };
    let sc = out.load(file)?;
    let n = out.after_step(&sc, a.after_step.as_deref())?;
    let cloud = sc.state_after(n);
    let r = probe(&cloud, a).map_err(|e| out.bad(e))?;
    if let Some(path) = capture {
        write_capture(
            path,
            r.pass
                .iter()
                .chain(r.reply.iter().filter_map(|x| x.pass.as_ref())),
        )?;
    }
    if json {
        json::print(&render::trace_json(&sc, n, a, &r));
    } else {
        render::probe(&r, n);
    }
    let ok =
        r.disposition != "dropped" && r.reply.as_ref().is_none_or(|x| x.disposition != "dropped");
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Sends one probe (and its reply) through a fresh data plane for `cloud`.
pub(crate) fn probe(
    cloud: &crate::model::Cloud,
    a: &TraceArgs,
) -> Result<crate::probe::ProbeResult, String> {
    probe_on(cloud, &crate::compile::Tables::compile(cloud, 1), a)
}

/// Connections a trace question's data plane holds (a probe and its reply need one).
pub(crate) const PROBE_CONNTRACK_CAPACITY: usize = 64;

/// [`probe`] with `cloud` already compiled: a fresh data plane per question, so
/// questions never share flows (`serve` resets one instead: the same answers).
pub(crate) fn probe_on(
    cloud: &crate::model::Cloud,
    tables: &std::sync::Arc<crate::compile::Tables>,
    a: &TraceArgs,
) -> Result<crate::probe::ProbeResult, String> {
    let from = ids::endpoint(cloud, &a.from, ids::Accept::InstanceOrEni)?;
    let mut dp = crate::pipeline::Dataplane::new(
        std::sync::Arc::clone(tables),
        crate::pipeline::DataplaneConfig {
            conntrack_capacity: PROBE_CONNTRACK_CAPACITY,
            ..Default::default()
        },
    );
    let mut req = crate::probe::request(tables, &from, &a.to, &a.proto, a.src)?;
    req.ttl = a.ttl;
    crate::probe::send(&mut dp, &req, a.reply, crate::time::SimTime::ZERO)
}
