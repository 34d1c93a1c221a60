//! Scenario files: load and validate a topology, then apply its steps and checks.
//!
//! Architecture invariant: the topology is built with the same operations a step would
//! use wherever one exists (attachments, EIP bindings, routes, rules, SNAT/DNAT entries),
//! so an initial state can never hold what the cloud would refuse.

pub mod build;
pub mod format;
mod hint;
pub mod run;

use std::fmt;
use std::path::Path;

use crate::model::{ApiError, Cloud, Operation};

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
    pub op: Operation,
    pub expect_error: Option<String>,
    pub note: Option<String>,
    pub line: usize,
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
            let expect_error = take_str(&mut table, "expect_error")?;
            let note = take_str(&mut table, "note")?;
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
                op,
                expect_error,
                note,
                line,
            });
        }
        let mut checks = Vec::new();
        for c in &parsed.checks {
            let spec = c.get_ref().clone();
            let bad = |m: &str| loc.at(c.span().start, format!("check `{}`: {m}", spec.name));
            let state = spec.resource.is_some() || spec.field.is_some() || spec.equals.is_some();
            let conn = spec.from.is_some() || spec.to.is_some();
            if state == conn {
                return Err(bad("give either `resource` + `field` + `equals` (a state check) or `from` + `to` + `expect` (a connectivity check)"));
            }
            if state && (spec.resource.is_none() || spec.field.is_none() || spec.equals.is_none()) {
                return Err(bad(
                    "a state check needs all of `resource`, `field` and `equals`",
                ));
            }
            if conn {
                if spec.from.is_none() || spec.to.is_none() || spec.expect.is_none() {
                    return Err(bad("a connectivity check needs `from`, `to` and `expect`"));
                }
                if !matches!(
                    spec.expect.as_deref(),
                    Some("delivered" | "internet" | "dropped")
                ) {
                    return Err(bad("`expect` must be `delivered`, `internet` or `dropped`"));
                }
                if let Some(p) = &spec.proto {
                    if !matches!(p.as_str(), "tcp" | "udp" | "icmp") {
                        return Err(bad("`proto` must be tcp, udp or icmp"));
                    }
                }
            }
            if let Some(n) = spec.after_step {
                if n > steps.len() {
                    return Err(bad(&format!(
                        "after_step = {n} but the scenario has {} steps",
                        steps.len()
                    )));
                }
            }
            let line = loc.at(c.span().start, "").line;
            checks.push((line, spec));
        }
        let mut sessions = Vec::new();
        for s in &parsed.sessions {
            let spec =
                crate::hosts::session::SessionSpec::from_table(s.get_ref(), &initial, steps.len())
                    .map_err(|m| loc.at(s.span().start, m))?;
            sessions.push((loc.at(s.span().start, "").line, spec));
        }
        Ok(Scenario {
            file: file.to_string(),
            name: parsed.scenario.name.clone(),
            description: parsed.scenario.description.clone(),
            initial,
            steps,
            checks,
            sessions,
        })
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

pub(crate) fn api_at(loc: &Locator<'_>, offset: usize, what: &str, e: ApiError) -> ScenarioError {
    loc.at(offset, format!("{what}: the cloud refuses this: {e}"))
}
