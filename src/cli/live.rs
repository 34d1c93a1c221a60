//! `vpcsim live`: real Linux network stacks (one namespace per instance, one for the
//! Internet) around the simulated VPC; commands run in them with `--exec`/`--shell`.

use std::path::PathBuf;
use std::process::{Child, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::live::{self, Live, LiveError, LiveOptions};

/// Set by Ctrl-C, SIGTERM or SIGHUP: stop, remove everything, exit.
static STOP: AtomicBool = AtomicBool::new(false);

#[derive(clap::Args, Debug)]
pub struct LiveArgs {
    /// Scenario file (default: the built-in scenario).
    pub file: Option<PathBuf>,
    /// The step to stop after: a number or a step id (default: all; with --follow: none).
    #[arg(long, alias = "after-step", value_name = "STEP")]
    pub after: Option<String>,
    /// Run `WHO: COMMAND` in a namespace (WHO: an instance id, or `internet`), print its
    /// output and exit code. Repeatable; run in order.
    #[arg(long, value_name = "WHO: COMMAND")]
    pub exec: Vec<String>,
    /// Open an interactive shell in WHO's namespace (after the --exec commands).
    #[arg(long, value_name = "WHO")]
    pub shell: Option<String>,
    /// Write every frame, hop by hop, to this pcapng.
    #[arg(long, value_name = "FILE.pcapng")]
    pub capture: Option<PathBuf>,
    /// Apply the scenario's remaining steps while running: every SECS seconds (default
    /// 1), or `enter` for one step per line read on standard input.
    #[arg(long, value_name = "SECS|enter", num_args = 0..=1, default_missing_value = "1")]
    pub follow: Option<String>,
    /// Seconds each --exec command may run before it is stopped.
    #[arg(long, default_value_t = 30)]
    pub timeout: u64,
    /// One line per frame on stderr: what entered where and what the VPC made of it.
    #[arg(long)]
    pub log: bool,
    /// Remove what runs killed without cleaning up left behind, and exit.
    #[arg(long)]
    pub cleanup: bool,
}

fn fail(e: LiveError) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(2)
}

enum Follow {
    Every(Duration),
    Enter(crossbeam_channel::Receiver<()>),
}

struct Stepper {
    follow: Option<Follow>,
    last: Instant,
}

impl Stepper {
    /// Applies the next step when it is due; prints what it applied.
    fn tick(&mut self, live: &mut Live) -> Result<(), LiveError> {
        let due = match &self.follow {
            None => false,
            Some(Follow::Every(d)) => self.last.elapsed() >= *d,
            Some(Follow::Enter(rx)) => rx.try_recv().is_ok(),
        };
        let total = live_steps(live);
        if !due || live.step() >= total {
            return Ok(());
        }
        self.last = Instant::now();
        let n = live.step() + 1;
        live.apply(n)?;
        eprintln!(
            "live: applied step {n}/{total} (flows flushed: each connection's next packet is judged against the new configuration)"
        );
        Ok(())
    }
}

fn live_steps(live: &Live) -> usize {
    live.scenario().steps.len()
}

/// Waits for `child`, applying due steps, until it exits, the deadline passes or (when
/// `stoppable`) a signal asks to stop (then it is killed).
fn wait(
    child: &mut Child,
    live: &mut Live,
    stepper: &mut Stepper,
    deadline: Option<Instant>,
    stoppable: bool,
) -> Result<Option<std::process::ExitStatus>, LiveError> {
    loop {
        if let Ok(Some(s)) = child.try_wait() {
            return Ok(Some(s));
        }
        let stop = stoppable && STOP.load(Ordering::Relaxed);
        if stop || deadline.is_some_and(|d| Instant::now() >= d) {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(None);
        }
        stepper.tick(live)?;
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn run(a: LiveArgs) -> Result<ExitCode, ExitCode> {
    if a.cleanup {
        live::preflight().map_err(fail)?;
        let removed = live::cleanup_stale();
        if removed.is_empty() {
            println!("nothing left behind by earlier runs");
        }
        for r in removed {
            println!("removed {r}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    live::preflight().map_err(fail)?;
    let sc = super::load(a.file.as_deref())?;
    let after = match (a.after, &a.follow) {
        (None, Some(_)) => 0,
        (n, _) => super::after_step(&sc, n)?,
    };
    let follow = match a.follow.as_deref() {
        None => None,
        Some("enter") => {
            let (tx, rx) = crossbeam_channel::unbounded();
            std::thread::spawn(move || {
                let mut line = String::new();
                while std::io::stdin().read_line(&mut line).is_ok_and(|n| n > 0) {
                    line.clear();
                    if tx.send(()).is_err() {
                        break;
                    }
                }
            });
            Some(Follow::Enter(rx))
        }
        Some(s) => match s.parse::<f64>() {
            Ok(x) if x > 0.0 && x < 86_400.0 => Some(Follow::Every(Duration::from_secs_f64(x))),
            _ => {
                eprintln!("error: --follow {s}: give seconds between steps (e.g. 1) or `enter`");
                return Err(ExitCode::from(2));
            }
        },
    };
    let mut execs = vec![];
    for e in &a.exec {
        match e.split_once(':') {
            Some((who, cmd)) if !who.trim().is_empty() && !cmd.trim().is_empty() => {
                execs.push((who.trim().to_string(), cmd.trim().to_string()))
            }
            _ => {
                eprintln!("error: --exec {e:?}: write it as `WHO: COMMAND`, WHO an instance id or `internet`");
                return Err(ExitCode::from(2));
            }
        }
    }
    // Installed once per process; a second install (tests) is harmless.
    let _ = ctrlc::set_handler(|| STOP.store(true, Ordering::Relaxed));
    let opts = LiveOptions {
        capture: a.capture.clone(),
        log: a.log,
    };
    let mut live = Live::start(&sc, after, &opts).map_err(fail)?;
    for r in &live.stale_removed {
        eprintln!("live: removed {r}, left by a run that no longer exists");
    }
    eprintln!(
        "live: `{}` after {after} of {} steps; namespaces:",
        sc.name,
        sc.steps.len()
    );
    for (who, ns) in live.namespaces() {
        eprintln!("  {who:<12} ip netns exec {ns} …");
    }
    eprintln!(
        "  Internet addresses: {}",
        live.internet_addresses()
            .iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut stepper = Stepper {
        follow,
        last: Instant::now(),
    };
    let mut failed = 0;
    let mut result: Result<(), LiveError> = Ok(());
    for (who, cmd) in &execs {
        if STOP.load(Ordering::Relaxed) {
            break;
        }
        let mut c = match live.command(who, cmd) {
            Ok(c) => c,
            Err(e) => {
                result = Err(e);
                break;
            }
        };
        println!("── {who}$ {cmd}");
        let child = c
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        let mut child = match child {
            Ok(ch) => ch,
            Err(e) => {
                result = Err(LiveError::Other(format!("running `{cmd}`: {e}")));
                break;
            }
        };
        // Read the pipes on threads so a chatty command never blocks on a full pipe.
        let out = child.stdout.take().map(reader);
        let err = child.stderr.take().map(reader);
        let deadline = Instant::now() + Duration::from_secs(a.timeout);
        let status = match wait(&mut child, &mut live, &mut stepper, Some(deadline), true) {
            Ok(s) => s,
            Err(e) => {
                result = Err(e);
                break;
            }
        };
        let text = |h: Option<crossbeam_channel::Receiver<Vec<u8>>>| {
            h.and_then(|h| h.recv_timeout(Duration::from_secs(1)).ok())
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default()
        };
        let (o, e) = (text(out), text(err));
        for l in o.lines() {
            println!("   {l}");
        }
        for l in e.lines() {
            println!("   (stderr) {l}");
        }
        match status {
            Some(s) if s.success() => println!("   exit 0"),
            Some(s) => {
                failed += 1;
                println!(
                    "   exit {}",
                    s.code().map_or("by a signal".into(), |c| c.to_string())
                );
            }
            None => {
                failed += 1;
                println!("   stopped after {} s (--timeout)", a.timeout);
            }
        }
    }
    if result.is_ok() && !STOP.load(Ordering::Relaxed) {
        if let Some(who) = &a.shell {
            let sh = if std::path::Path::new("/bin/bash").exists() {
                "/bin/bash"
            } else {
                "/bin/sh"
            };
            match live.command(who, &format!("exec {sh} -i")) {
                Ok(mut c) => {
                    eprintln!("live: shell in {who}; exit it to stop");
                    match c.spawn() {
                        Ok(mut ch) => {
                            // Ctrl-C in the shell is the shell's (the terminal sends
                            // it to us too): the run ends when the shell exits.
                            if let Err(e) = wait(&mut ch, &mut live, &mut stepper, None, false) {
                                result = Err(e);
                            }
                            STOP.store(false, Ordering::Relaxed);
                        }
                        Err(e) => result = Err(LiveError::Other(format!("starting {sh}: {e}"))),
                    }
                }
                Err(e) => result = Err(e),
            }
        } else if execs.is_empty() {
            eprintln!("live: running; Ctrl-C to stop and remove everything");
            while !STOP.load(Ordering::Relaxed) {
                if let Err(e) = stepper.tick(&mut live) {
                    result = Err(e);
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
    let stats = live.stop();
    if let Some(p) = &a.capture {
        eprintln!("capture: written to {}", p.display());
    }
    eprintln!(
        "live: {} frames in, {} out ({} delivered to ENIs, {} to the Internet, {} lost, {} TAP full); dropped by the VPC: {}; everything removed",
        stats.frames_in,
        stats.frames_out,
        stats.delivered,
        stats.to_internet,
        stats.lost,
        stats.tap_full,
        if stats.dropped.is_empty() {
            "none".to_string()
        } else {
            stats
                .dropped
                .iter()
                .map(|(k, v)| format!("{k} ×{v}"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    );
    if let Err(e) = result {
        return Err(fail(e));
    }
    if STOP.load(Ordering::Relaxed) {
        eprintln!("live: stopped by a signal");
        return Ok(ExitCode::from(1));
    }
    Ok(if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Reads a pipe to its end on a thread. A daemon the command started may hold the pipe
/// open: the output is taken as it is a second after the command exited.
fn reader(mut r: impl std::io::Read + Send + 'static) -> crossbeam_channel::Receiver<Vec<u8>> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    std::thread::spawn(move || {
        let mut b = vec![];
        let mut chunk = [0u8; 4096];
        while let Ok(n) = r.read(&mut chunk) {
            if n == 0 {
                break;
            }
            b.extend_from_slice(&chunk[..n]);
        }
        let _ = tx.send(b);
    });
    rx
}
