//! Scenario files: load and validate a topology, then apply its steps and checks.
//!
//! Architecture invariant: the topology is built with the same operations a step would
//! use wherever one exists (attachments, EIP bindings, routes, rules, SNAT/DNAT entries),
//! so an initial state can never hold what the cloud would refuse.

pub mod build;
pub mod format;
mod hint;
mod invariant;
pub mod run;

use std::fmt;
use std::path::Path;

use crate::check;
use crate::model::{ApiError, Cloud, Operation};

pub use invariant::evaluate as evaluate_invariant;
pub use run::{run_scenario, CheckReport, RunReport, StepReport};

/// The built-in scenario: the EIP-to-secondary-ENI procedure of the seed documents.
pub const DEFAULT_SCENARIO: &str = include_str!("default.toml");
pub const DEFAULT_NAME: &str = "<built-in default scenario>";

/// A scenario file problem, located at file:line:column, with the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            // Not about a place in the file (e.g. it cannot be read).
            return write!(f, "{}: {}", self.file, self.message);
        }
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

impl std::error::Error for ScenarioError {}

/// Converts byte offsets in the source to 1-based line and column.
pub struct Locator<'a> {
    pub file: &'a str,
    pub src: &'a str,
}

impl Locator<'_> {
    pub fn at(&self, offset: usize, message: impl Into<String>) -> ScenarioError {
        let offset = offset.min(self.src.len());
        let before = &self.src[..offset];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        ScenarioError {
            file: self.file.to_string(),
            line,
            column,
            message: message.into(),
        }
    }
}

/// One `[[steps]]` entry: a control-plane call and, optionally, the error it must fail with.
#[derive(Debug, Clone)]
pub struct Step {
    /// `id = "bind-eip-to-eni"`: a name checks, sessions and `--after` can use instead of
    /// the step's number, so inserting a step does not move them.
    pub id: Option<String>,
    pub op: Operation,
    pub expect_error: Option<String>,
    pub note: Option<String>,
    pub line: usize,
    /// `at = "12.5s"`: when the step happens on the timeline (default: 1 s after the
    /// previous step; see [`Scenario::step_times`]).
    pub at: Option<crate::time::SimTime>,
}

/// A loaded scenario: the initial cloud, the steps and checks, ready to run.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub file: String,
    pub name: String,
    pub description: String,
    pub initial: Cloud,
    pub steps: Vec<Step>,
    pub checks: Vec<(usize, format::CheckSpec)>,
    /// `[[sessions]]` entries: conversations between smoltcp hosts (`crate::hosts`).
    pub sessions: Vec<(usize, crate::hosts::session::SessionSpec)>,
    /// `[[invariants]]`: checks evaluated on the initial topology and after every step.
    pub invariants: Vec<(usize, format::Invariant)>,
    /// `[[expect_change]]` entries (line, entry): the changes `vpcsim diff` accepts.
    pub expect_change: Vec<(usize, format::ExpectChangeSpec)>,
    /// `[[traffic]]`: what runs throughout on `vpcsim timeline` (line, spec).
    pub traffic: Vec<(usize, format::TrafficSpec)>,
    /// `[flow_semantics] on_change`.
    pub on_change: crate::pipeline::OnChange,
}

impl Scenario {
    /// Loads a scenario file, or the built-in one when `path` is None.
    pub fn load(path: Option<&Path>) -> Result<Scenario, ScenarioError> {
        match path {
            None => Scenario::parse(DEFAULT_SCENARIO, DEFAULT_NAME),
            Some(p) => {
                let name = p.display().to_string();
                let src = std::fs::read_to_string(p).map_err(|e| ScenarioError {
                    file: name.clone(),
                    line: 0,
                    column: 0,
                    message: format!("cannot read the scenario file: {e}"),
                })?;
                Scenario::parse(&src, &name)
            }
        }
    }

    pub fn parse(src: &str, file: &str) -> Result<Scenario, ScenarioError> {
        let loc = Locator { file, src };
        let parsed: format::ScenarioFile = toml::from_str(src).map_err(|e| {
            let off = e.span().map_or(0, |s| s.start);
            loc.at(off, hint::explain(src, off, e.message().trim_end()))
        })?;
        let initial = build::build_topology(&parsed, &loc)?;
        let mut steps = Vec::new();
        for st in &parsed.steps {
            let span = st.span();
            let mut table = st.get_ref().clone();
            let take_str =
                |t: &mut toml::Table, k: &str| -> Result<Option<String>, ScenarioError> {
                    match t.remove(k) {
                        None => Ok(None),
                        Some(toml::Value::String(s)) => Ok(Some(s)),
                        Some(_) => Err(loc.at(span.start, format!("`{k}` must be a string"))),
                    }
                };
            let id = take_str(&mut table, "id")?;
            if let Some(id) = &id {
                if id.is_empty() || id.parse::<usize>().is_ok() {
                    return Err(loc.at(
                        span.start,
                        format!("step id `{id}`: use a name such as \"bind-eip-to-eni\" (a number would be read as a step number)"),
                    ));
                }
                if steps
                    .iter()
                    .any(|s: &Step| s.id.as_deref() == Some(id.as_str()))
                {
                    return Err(loc.at(
                        span.start,
                        format!("step id `{id}` is used twice; step ids must be unique"),
                    ));
                }
            }
            let expect_error = take_str(&mut table, "expect_error")?;
            let note = take_str(&mut table, "note")?;
            let at = take_str(&mut table, "at")?
                .map(|a| {
                    format::parse_time(&a).map_err(|m| loc.at(span.start, format!("step at = {m}")))
                })
                .transpose()?;
            let opname = table.get("op").and_then(|v| v.as_str()).map(str::to_string);
            let op = Operation::deserialize(toml::Value::Table(table)).map_err(|e| {
                let what = opname.as_deref().unwrap_or("a step without `op`");
                loc.at(
                    span.start,
                    format!(
                        "step {what}: {}; parameters use the OpenAPI names (see `vpcsim example`)",
                        e.message().trim_end()
                    ),
                )
            })?;
            let line = loc.at(span.start, "").line;
            steps.push(Step {
                id,
                op,
                expect_error,
                note,
                line,
                at,
            });
        }
        let ids: Vec<Option<String>> = steps.iter().map(|s| s.id.clone()).collect();
        let mut checks = Vec::new();
        for c in &parsed.checks {
            let spec = c.get_ref().clone();
            let bad = |m: &str| loc.at(c.span().start, format!("check `{}`: {m}", spec.name));
            spec.validate().map_err(|m| bad(&m))?;
            let mut spec = spec.clone();
            if let Some(at) = spec.at.take() {
                if spec.after_step.is_some() {
                    return Err(bad("give `at` (a time) or `after_step`, not both"));
                }
                let t = format::parse_time(&at).map_err(|m| bad(&format!("at = {m}")))?;
                let n = step_times(&steps).iter().filter(|s| **s <= t).count();
                spec.after_step = Some(check::StepRef::Index(n));
            }
            if let Some(at) = &spec.after_step {
                at.resolve(&ids)
                    .map_err(|m| bad(&format!("after_step = {at}: {m}")))?;
            }
            let line = loc.at(c.span().start, "").line;
            checks.push((line, spec));
        }
        let mut sessions = Vec::new();
        for s in &parsed.sessions {
            // `at` is read here, where the steps' times are known; the rest of the entry
            // by the hosts module.
            let mut table = s.get_ref().clone();
            let at = table.remove("at");
            let mut spec =
                crate::hosts::session::SessionSpec::from_table(&table, &initial, steps.len())
                    .map_err(|m| loc.at(s.span().start, m))?;
            if let Some(at) = at {
                let n = session_at(&at, spec.after_step.is_some(), &steps)
                    .map_err(|m| loc.at(s.span().start, format!("session `{}`: {m}", spec.name)))?;
                spec.after_step = Some(check::StepRef::Index(n));
            }
            if let Some(at) = &spec.after_step {
                at.resolve(&ids).map_err(|m| {
                    loc.at(
                        s.span().start,
                        format!("session `{}`: after_step = {at}: {m}", spec.name),
                    )
                })?;
            }
            sessions.push((loc.at(s.span().start, "").line, spec));
        }
        // Ids a step names (e.g. an ENI it creates): an invariant may be about them.
        let step_strings: std::collections::HashSet<&str> = parsed
            .steps
            .iter()
            .flat_map(|st| st.get_ref().values())
            .filter_map(|v| v.as_str())
            .collect();
        let mut invariants = Vec::new();
        for t in &parsed.invariants {
            let inv = format::Invariant::from_table(t.get_ref())
                .map_err(|m| loc.at(t.span().start, m))?;
            if let Some(what) = inv.target() {
                let known = initial.vswitches.contains_key(what)
                    || initial.instances.contains_key(what)
                    || initial.enis.contains_key(what)
                    || step_strings.contains(what);
                if !known {
                    return Err(loc.at(
                        t.span().start,
                        format!(
                            "invariant `{}`: `{what}` is no VSwitch, instance or ENI of the scenario (nor a CIDR, an IP or `*`)",
                            inv.name()
                        ),
                    ));
                }
            }
            invariants.push((loc.at(t.span().start, "").line, inv));
        }
        let mut expect_change = Vec::new();
        for x in &parsed.expect_change {
            if let Some(m) = x.get_ref().problem() {
                return Err(loc.at(x.span().start, format!("expect_change: {m}")));
            }
            expect_change.push((loc.at(x.span().start, "").line, x.get_ref().clone()));
        }
        let mut traffic = Vec::new();
        for t in &parsed.traffic {
            let spec = t.get_ref().clone();
            spec.validate(&initial)
                .map_err(|m| loc.at(t.span().start, format!("traffic `{}`: {m}", spec.name)))?;
            traffic.push((loc.at(t.span().start, "").line, spec));
        }
        let mut last = crate::time::SimTime::ZERO;
        for (i, s) in steps.iter().enumerate() {
            if let Some(at) = s.at {
                if at < last {
                    return Err(loc.at(
                        0,
                        format!("step {} (line {}): at = {:.3}s is before the previous step ({:.3}s); steps happen in file order", i + 1, s.line, at.as_secs_f64(), last.as_secs_f64()),
                    ));
                }
                last = at;
            } else {
                last = crate::time::SimTime(last.0 + 1_000_000_000);
            }
        }
        Ok(Scenario {
            traffic,
            on_change: parsed.flow_semantics.unwrap_or_default().on_change,
            file: file.to_string(),
            expect_change,
            name: parsed.scenario.name.clone(),
            description: parsed.scenario.description.clone(),
            initial,
            steps,
            checks,
            sessions,
            invariants,
        })
    }

    /// When each step happens on the timeline: its `at`, or 1 s after the previous
    /// one (the first at 1 s).
    pub fn step_times(&self) -> Vec<crate::time::SimTime> {
        step_times(&self.steps)
    }

    /// The steps' ids in order (None for a step without one).
    pub fn step_ids(&self) -> Vec<Option<String>> {
        self.steps.iter().map(|s| s.id.clone()).collect()
    }

    /// The number of steps applied at `at` (a step number or id).
    pub fn resolve(&self, at: &check::StepRef) -> Result<usize, String> {
        at.resolve(&self.step_ids())
    }

    /// The id of step `n` (1-based), when it has one.
    pub fn step_id(&self, n: usize) -> Option<&str> {
        n.checked_sub(1)
            .and_then(|i| self.steps.get(i))
            .and_then(|s| s.id.as_deref())
    }

    /// The cloud after the first `n` steps (refused steps change nothing).
    pub fn state_after(&self, n: usize) -> Cloud {
        let mut c = self.initial.clone();
        for s in self.steps.iter().take(n) {
            let _ = c.apply(&s.op);
        }
        c
    }
}

use serde::Deserialize;

/// A session's `at`: the number of steps whose time is at or before it (the session
/// runs on the configuration in force then). Refused: not a time, given with
/// `after_step`, or later than the last step (a time the procedure never reaches with
/// a change — most likely a typo; leave `at` out to run after every step).
fn session_at(at: &toml::Value, with_after_step: bool, steps: &[Step]) -> Result<usize, String> {
    const FORM: &str = "write a time such as at = \"8.5s\" or \"500ms\"";
    let Some(text) = at.as_str() else {
        return Err(format!("`at = {at}`: `at` is a string; {FORM}"));
    };
    if with_after_step {
        return Err("give `at` (a time) or `after_step` (a step), not both".into());
    }
    let t = format::parse_time(text).map_err(|m| format!("at = {m}"))?;
    let times = step_times(steps);
    let last = times.last().copied().unwrap_or(crate::time::SimTime::ZERO);
    if t > last {
        let which = match steps.len() {
            0 => "the scenario has no steps, so `at` can only be \"0s\"".to_string(),
            n => format!(
                "the last step (step {n}{}) happens at {:.3}s",
                steps[n - 1]
                    .id
                    .as_deref()
                    .map_or(String::new(), |id| format!(" `{id}`")),
                last.as_secs_f64()
            ),
        };
        return Err(format!(
            "at = \"{text}\" is after the last step: {which}; give a time up to then (a session runs on the configuration in force at its time), or leave `at` out to run after every step"
        ));
    }
    Ok(times.iter().filter(|s| **s <= t).count())
}

fn step_times(steps: &[Step]) -> Vec<crate::time::SimTime> {
    let mut last = crate::time::SimTime::ZERO;
    steps
        .iter()
        .map(|s| {
            last = s.at.unwrap_or(crate::time::SimTime(last.0 + 1_000_000_000));
            last
        })
        .collect()
}

pub(crate) fn api_at(loc: &Locator<'_>, offset: usize, what: &str, e: ApiError) -> ScenarioError {
    loc.at(offset, format!("{what}: the cloud refuses this: {e}"))
}
