//! `vpcsim reach`, `vpcsim exposure` and `vpcsim diff`: questions about all traffic,
//! answered with one probe per equivalence class (`crate::reach`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;

use super::json::{self, ErrorDoc};
use super::load;
use crate::compile::Tables;
use crate::reach::classes::internet_holes;
use crate::reach::diff::{diff, Cause, DiffReport, Point};
use crate::reach::exposure::exposure;
use crate::reach::rows::{line, outcome, rows};
use crate::reach::{survey_all, Side};
use crate::scenario::Scenario;

#[derive(Args, Debug)]
pub struct ReachArgs {
    /// Scenario file or folder of `aliyun` JSON (default: the built-in scenario).
    file: Option<PathBuf>,
    /// `internet`, an instance id or an ENI id (default: every one).
    #[arg(long)]
    from: Option<String>,
    /// `internet`, an instance id or an ENI id (default: every one).
    #[arg(long)]
    to: Option<String>,
    /// Apply only the first N steps (default: all).
    #[arg(long, alias = "after-step", value_name = "STEP")]
    after: Option<String>,
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
pub struct ExposureArgs {
    file: Option<PathBuf>,
    /// Apply only the first N steps (default: all).
    #[arg(long, alias = "after-step", value_name = "STEP")]
    after: Option<String>,
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
pub struct DiffArgs {
    /// One scenario (compare two of its steps), or two files or dump folders (compare
    /// them after all their steps). Default: the built-in scenario.
    #[arg(num_args = 0..=2)]
    files: Vec<PathBuf>,
    /// The earlier point: a step number (default 0, or the first file after all steps).
    #[arg(long, value_name = "STEP")]
    from: Option<String>,
    /// The later point: a step number or `last` (default: after all steps).
    #[arg(long, value_name = "STEP")]
    to: Option<String>,
    /// A scenario whose `[[steps]]` (and `[[expect_change]]`) are applied on top of FILE:
    /// compares FILE (a dump, say) before and after them.
    #[arg(long, value_name = "STEPS.toml")]
    steps: Option<PathBuf>,
    #[arg(long)]
    json: bool,
}

/// A point of a scenario: a step number (0 = the initial topology) or `last`. The one
/// place step references are read (step ids can join here).
pub fn step_point(sc: &Scenario, s: &str) -> Result<usize, String> {
    let n = sc.steps.len();
    if s.eq_ignore_ascii_case("last") {
        return Ok(n);
    }
    match s.parse::<usize>() {
        Ok(k) if k <= n => Ok(k),
        Ok(k) => Err(format!("step {k}, but {} has {n} steps", sc.file)),
        // A step id, as `--after` takes everywhere.
        Err(_) => sc
            .resolve(&crate::check::StepRef::parse(s))
            .map_err(|m| {
                format!(
                    "`{s}`: {m}; give a step id, a step number from 0 (the initial topology) to {n}, or `last`"
                )
            }),
    }
}

fn bad(command: &str, json_out: bool, message: String) -> ExitCode {
    if json_out {
        json::print(&json::error(
            command,
            ErrorDoc {
                kind: "input".into(),
                message,
                ..ErrorDoc::default()
            },
        ));
    } else {
        eprintln!("error: {message}");
    }
    ExitCode::from(2)
}

fn point_or_last(
    sc: &Scenario,
    s: Option<&str>,
    command: &str,
    j: bool,
) -> Result<usize, ExitCode> {
    match s {
        None => Ok(sc.steps.len()),
        Some(s) => step_point(sc, s).map_err(|e| bad(command, j, e)),
    }
}

pub fn reach(a: ReachArgs) -> Result<ExitCode, ExitCode> {
    let sc = load(a.file.as_deref())?;
    let n = point_or_last(&sc, a.after.as_deref(), "reach", a.json)?;
    let t = Tables::compile(&sc.state_after(n), 1);
    let side = |s: &Option<String>| -> Result<Vec<Side>, ExitCode> {
        match s {
            None => Ok(Side::all(&t)),
            Some(s) => Side::parse(s, &t)
                .map(|x| vec![x])
                .map_err(|e| bad("reach", a.json, e)),
        }
    };
    let (froms, tos) = (side(&a.from)?, side(&a.to)?);
    let sv = survey_all(&t, &froms, &tos);
    let rs = rows(&sv.cells, &internet_holes(&t));
    let notes: Vec<String> = crate::reach::source_port_note(&t).into_iter().collect();
    if a.json {
        json::print(&json::envelope(
            "reach",
            Some(&sc.name),
            Some(super::after(&sc, n)),
            serde_json::json!({"probes": sv.probes, "rows": rs, "notes": notes}),
        ));
    } else {
        println!(
            "reach after step {n} of {}: {} classes of traffic, one probe each",
            sc.name, sv.probes
        );
        let mut head = (String::new(), String::new());
        let mut sub = (String::new(), String::new());
        for r in &rs {
            if head != (r.from.clone(), r.to.clone()) {
                head = (r.from.clone(), r.to.clone());
                sub = Default::default();
                println!("\n{} → {}", r.from, r.to);
            }
            if sub != (r.source.clone(), r.destination.clone()) {
                sub = (r.source.clone(), r.destination.clone());
                println!("  {} → {}", r.source, r.destination);
            }
            println!("    {}", line(r));
        }
        for n in &notes {
            println!("\nnote: {n}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn exposure_cmd(a: ExposureArgs) -> Result<ExitCode, ExitCode> {
    let sc = load(a.file.as_deref())?;
    let n = point_or_last(&sc, a.after.as_deref(), "exposure", a.json)?;
    let t: Arc<Tables> = Tables::compile(&sc.state_after(n), 1);
    let x = exposure(&t);
    if a.json {
        json::print(&json::envelope(
            "exposure",
            Some(&sc.name),
            Some(super::after(&sc, n)),
            &x,
        ));
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "exposure after step {n} of {}: {} public addresses, {} classes of Internet traffic probed",
        sc.name, x.public_addresses, x.probes
    );
    if x.exposed.is_empty() {
        println!("nothing is reachable from the Internet");
    }
    for e in &x.exposed {
        let who = match (&e.instance, &e.device) {
            (Some(i), Some(d)) => format!("{i} {d} ({})", e.eni),
            _ => e.eni.clone(),
        };
        println!("\n{who} {}", e.address);
        for en in &e.entries {
            let mut s = format!("  {} from {}", en.name(), en.sources);
            if let Some(p) = &en.internal_ports {
                s += &format!(" (arrives on port {p})");
            }
            if !en.via.is_empty() {
                s += &format!(" via {}", en.via.join(", "));
            }
            if let Some(r) = &en.rule {
                s += &format!(" — {r}");
            }
            if let Some(r) = &en.reply {
                s += &format!(
                    "; reply {}{}",
                    r.outcome,
                    r.reason.map(|x| format!(" {x}")).unwrap_or_default()
                );
            }
            println!("{s}");
        }
    }
    if !x.blocked.is_empty() {
        let b: Vec<String> = x.blocked.iter().map(|(k, v)| format!("{k} ×{v}")).collect();
        println!("\nclasses that did not get in: {}", b.join(", "));
    }
    for n in &x.notes {
        println!("\nnote: {n}");
    }
    Ok(ExitCode::SUCCESS)
}

fn load_one(p: &Path) -> Result<Scenario, ExitCode> {
    load(Some(p))
}

/// The points to compare (first and last, with every step in between) and the
/// `[[expect_change]]` entries that apply.
type Plan = (
    Vec<Point>,
    Vec<(usize, crate::scenario::format::ExpectChangeSpec)>,
    String,
    serde_json::Value,
    serde_json::Value,
    bool,
);

fn plan(a: &DiffArgs) -> Result<Plan, ExitCode> {
    let j = a.json;
    if let Some(steps) = &a.steps {
        if a.files.len() > 1 || a.from.is_some() || a.to.is_some() {
            return Err(bad("diff", j, "--steps compares one FILE before and after the steps: give one FILE and no --from/--to".into()));
        }
        let base = load(a.files.first().map(PathBuf::as_path))?;
        let st = load_one(steps)?;
        let mut cloud = base.state_after(base.steps.len());
        let mut points = vec![Point {
            step: Some(0),
            cause: None,
            cloud: cloud.clone(),
        }];
        for (i, s) in st.steps.iter().enumerate() {
            let _ = cloud.apply(&s.op);
            points.push(Point {
                step: Some(i + 1),
                cause: Some(Cause::of_step(i + 1, &s.op, s.line, s.note.clone())),
                cloud: cloud.clone(),
            });
        }
        let mut expect = st.expect_change.clone();
        expect.extend(base.expect_change.iter().cloned());
        let name = format!("{} + steps of {}", base.name, st.file);
        return Ok((
            points,
            expect,
            name,
            serde_json::json!({"file": base.file, "step": 0}),
            serde_json::json!({"file": st.file, "step": st.steps.len()}),
            true,
        ));
    }
    if a.files.len() == 2 {
        let (x, y) = (load_one(&a.files[0])?, load_one(&a.files[1])?);
        let fx = point_or_last(&x, a.from.as_deref(), "diff", j)?;
        let fy = point_or_last(&y, a.to.as_deref(), "diff", j)?;
        let points = vec![
            Point {
                step: None,
                cause: None,
                cloud: x.state_after(fx),
            },
            Point {
                step: None,
                cause: Some(Cause {
                    step: None,
                    op: "the second file".into(),
                    resources: vec![y.file.clone()],
                    line: 0,
                    note: None,
                }),
                cloud: y.state_after(fy),
            },
        ];
        let mut expect = y.expect_change.clone();
        expect.extend(x.expect_change.iter().cloned());
        return Ok((
            points,
            expect,
            format!("{} vs {}", x.name, y.name),
            serde_json::json!({"file": x.file, "step": fx}),
            serde_json::json!({"file": y.file, "step": fy}),
            true,
        ));
    }
    let sc = load(a.files.first().map(PathBuf::as_path))?;
    let from = match a.from.as_deref() {
        None => 0,
        Some(s) => step_point(&sc, s).map_err(|e| bad("diff", j, e))?,
    };
    let to = point_or_last(&sc, a.to.as_deref(), "diff", j)?;
    if from > to {
        return Err(bad(
            "diff",
            j,
            format!("--from {from} comes after --to {to}: give the earlier step first"),
        ));
    }
    let points = points_between(&sc, from, to);
    let whole = from == 0 && to == sc.steps.len();
    Ok((
        points,
        sc.expect_change.clone(),
        sc.name.clone(),
        serde_json::json!({"file": sc.file, "step": from}),
        serde_json::json!({"file": sc.file, "step": to}),
        whole,
    ))
}

/// The configurations of one scenario from step `from` to step `to`, one per step.
fn points_between(sc: &Scenario, from: usize, to: usize) -> Vec<Point> {
    let mut cloud = sc.state_after(from);
    let mut points = vec![Point {
        step: Some(from),
        cause: None,
        cloud: cloud.clone(),
    }];
    for (i, s) in sc.steps.iter().enumerate().take(to).skip(from) {
        let _ = cloud.apply(&s.op);
        points.push(Point {
            step: Some(i + 1),
            cause: Some(Cause::of_step(i + 1, &s.op, s.line, s.note.clone())),
            cloud: cloud.clone(),
        });
    }
    points
}

/// The diff of the whole procedure (before step 1 against after the last step), as
/// `vpcsim diff` computes it, for `vpcsim run` to end with. Only for a scenario that
/// declares `[[expect_change]]`: the entries say the file means its steps as a change
/// to review (**[decision]**), and without them every change would read as undeclared.
pub fn procedure_diff(sc: &Scenario) -> Option<DiffReport> {
    if sc.expect_change.is_empty() || sc.steps.is_empty() {
        return None;
    }
    Some(diff(
        &points_between(sc, 0, sc.steps.len()),
        &sc.expect_change,
        true,
    ))
}

/// `vpcsim run`'s closing section: one line per change, with the steps that caused it.
pub fn render_procedure_diff(sc: &Scenario, r: &DiffReport) {
    println!(
        "\nWhat the procedure changed (step 0 → step {}; `vpcsim diff` for the whole report)",
        sc.steps.len()
    );
    if r.changes.is_empty() {
        println!("    nothing: egress, exposure and reach are as before step 1");
    }
    let by = |steps: &mut Vec<usize>| {
        steps.sort_unstable();
        steps.dedup();
        match steps.as_slice() {
            [] => String::new(),
            [one] => format!(" (by step {one})"),
            more => format!(
                " (by steps {})",
                more.iter()
                    .map(|n| n.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    };
    let mark = |ok: bool| if ok { " " } else { "✗" };
    // Egress and exposure one line each; reach, whose rows are many, one line per pair
    // of sides (`vpcsim diff` lists the rows).
    let mut pairs: Vec<(String, usize, bool, Vec<usize>)> = vec![];
    for c in &r.changes {
        let mut steps: Vec<usize> = c.steps.iter().filter_map(|s| s.step).collect();
        if c.kind == "reach" {
            let mut w = c.what.split_whitespace();
            let from = w.next().unwrap_or("?");
            let to = w.skip_while(|x| *x != "->").nth(1).unwrap_or("?");
            let pair = format!("{from} → {to}");
            match pairs.iter_mut().find(|p| p.0 == pair) {
                Some(p) => {
                    p.1 += 1;
                    p.2 &= c.expected;
                    p.3.extend(steps);
                }
                None => pairs.push((pair, 1, c.expected, steps)),
            }
            continue;
        }
        println!(
            "  {} {} {}: {} → {}{}",
            mark(c.expected),
            c.kind,
            c.what,
            words(&c.before, c.kind),
            words(&c.after, c.kind),
            by(&mut steps)
        );
    }
    for (pair, n, expected, mut steps) in pairs {
        println!(
            "  {} reach {pair}: {n} {} changed{}",
            mark(expected),
            if n == 1 { "row" } else { "rows" },
            by(&mut steps)
        );
    }
    for x in r.expectations.iter().filter(|x| x.matched == 0) {
        println!(
            "  ✗ [[expect_change]] at line {}: no change matches it",
            x.line
        );
    }
    println!(
        "    {}",
        if r.pass {
            "every change is declared in [[expect_change]]".to_string()
        } else {
            format!(
                "{} changes not declared in [[expect_change]], {} declared changes that did not happen",
                r.unexpected, r.unmet
            )
        }
    );
}

pub fn diff_cmd(a: DiffArgs) -> Result<ExitCode, ExitCode> {
    let (points, expect, name, from, to, whole) = plan(&a)?;
    let report = diff(&points, &expect, whole);
    if a.json {
        json::print(&json::envelope(
            "diff",
            Some(&name),
            None,
            serde_json::json!({"from": from, "to": to, "report": &report}),
        ));
    } else {
        render(&name, &from, &to, &report);
    }
    Ok(if report.pass {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

pub(crate) fn words(v: &serde_json::Value, kind: &str) -> String {
    if v.is_null() {
        return "-".into();
    }
    match kind {
        "egress" => match v.get("egress_ip").and_then(|x| x.as_str()) {
            Some(ip) => format!(
                "{ip} ({})",
                v.get("via").and_then(|x| x.as_str()).unwrap_or("")
            ),
            None => format!(
                "none ({})",
                v.get("reason").and_then(|x| x.as_str()).unwrap_or("")
            ),
        },
        "reach" => serde_json::from_value::<serde_json::Value>(v.clone())
            .ok()
            .and_then(|v| {
                let o = v.get("outcome")?.as_str()?.to_string();
                let r = v
                    .get("reason")
                    .and_then(|x| x.as_str())
                    .map(|x| format!(" {x}"))
                    .unwrap_or_default();
                let e = v
                    .get("eni")
                    .and_then(|x| x.as_str())
                    .map(|x| format!(" at {x}"))
                    .unwrap_or_default();
                let s = v
                    .get("source_seen")
                    .and_then(|x| x.as_str())
                    .filter(|x| *x != "unchanged")
                    .map(|x| format!(" from {x}"))
                    .unwrap_or_default();
                let rep = v
                    .get("reply")
                    .and_then(|x| x.get("outcome"))
                    .and_then(|x| x.as_str())
                    .map(|x| format!("; reply {x}"))
                    .unwrap_or_default();
                Some(format!("{o}{r}{e}{s}{rep}"))
            })
            .unwrap_or_else(|| v.to_string()),
        _ => {
            let one = |v: &serde_json::Value| {
                format!(
                    "{} {}{}",
                    v.get("eni").and_then(|x| x.as_str()).unwrap_or("?"),
                    v.get("address").and_then(|x| x.as_str()).unwrap_or("?"),
                    v.get("reply")
                        .and_then(|x| x.get("outcome"))
                        .and_then(|x| x.as_str())
                        .filter(|x| *x != "returned")
                        .map(|x| format!(" (reply {x})"))
                        .unwrap_or_default()
                )
            };
            match v.as_array() {
                Some(a) => a.iter().map(one).collect::<Vec<_>>().join(" + "),
                None => one(v),
            }
        }
    }
}

fn render(name: &str, from: &serde_json::Value, to: &serde_json::Value, r: &DiffReport) {
    let at = |v: &serde_json::Value| {
        format!(
            "step {}",
            v.get("step").map(|x| x.to_string()).unwrap_or_default()
        )
    };
    println!(
        "diff of {name}: {} → {}: {} changes, {} not declared in [[expect_change]]",
        at(from),
        at(to),
        r.changes.len(),
        r.unexpected
    );
    for c in &r.changes {
        println!(
            "\n{} {} {}: {} → {}{}",
            if c.expected {
                "  expected"
            } else {
                "UNEXPECTED"
            },
            c.kind,
            c.what,
            words(&c.before, c.kind),
            words(&c.after, c.kind),
            if c.kind == "exposure" {
                format!(" ({})", c.change)
            } else {
                String::new()
            }
        );
        for s in &c.steps {
            println!(
                "      by {}{} {}{}",
                s.step.map(|n| format!("step {n} ")).unwrap_or_default(),
                s.op,
                s.resources.join(", "),
                if s.line > 0 {
                    format!(" (line {})", s.line)
                } else {
                    String::new()
                }
            );
        }
    }
    for n in &r.notes {
        println!("\nnote: {n}");
    }
    for x in r.expectations.iter().filter(|x| x.matched == 0) {
        println!(
            "\nunmet [[expect_change]] at line {}: no change matches {}",
            x.line,
            serde_json::to_string(&x.entry).unwrap_or_default()
        );
    }
    println!(
        "\n{}",
        if r.pass {
            "PASS: every change is declared in [[expect_change]]".to_string()
        } else {
            format!(
                "FAIL: {} undeclared changes, {} declared changes that did not happen",
                r.unexpected, r.unmet
            )
        }
    );
    let _ = outcome;
}
