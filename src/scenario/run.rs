//! Running a scenario: apply each step, compare with what the file expects, evaluate
//! the checks at their point in the sequence.

use serde::Serialize;

use super::format::CheckSpec;
use super::Scenario;
use crate::model::Cloud;

#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    /// 1-based.
    pub index: usize,
    pub op: String,
    pub ok: bool,
    pub error_code: Option<String>,
    pub message: String,
    /// The error code the file expects, if any.
    pub expect_error: Option<String>,
    /// The step behaved as the file expects.
    pub as_expected: bool,
    pub changes: Vec<String>,
    pub note: Option<String>,
    pub line: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub name: String,
    /// Steps applied before the check ran.
    pub after_step: usize,
    pub pass: bool,
    pub expected: String,
    pub observed: String,
    /// For connectivity checks: the probe's trace, one line per hop.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub trace: Vec<String>,
    pub line: usize,
    /// The packets the check sent through the data plane, for `--capture`.
    #[serde(skip)]
    pub passes: Vec<crate::capture::Pass>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub scenario: String,
    pub steps: Vec<StepReport>,
    pub checks: Vec<CheckReport>,
    pub pass: bool,
}

impl RunReport {
    /// The first step or check that did not behave as the file expects.
    pub fn first_failure(&self) -> Option<String> {
        if let Some(s) = self.steps.iter().find(|s| !s.as_expected) {
            return Some(format!("step {} ({}, line {})", s.index, s.op, s.line));
        }
        self.checks
            .iter()
            .find(|c| !c.pass)
            .map(|c| format!("check `{}` (line {})", c.name, c.line))
    }
}

pub fn run_scenario(sc: &Scenario) -> RunReport {
    let mut cloud = sc.initial.clone();
    let mut steps = Vec::new();
    let mut checks = Vec::new();
    let n = sc.steps.len();
    let run_checks = |cloud: &Cloud, after: usize, out: &mut Vec<CheckReport>| {
        for (line, c) in &sc.checks {
            if c.after_step.unwrap_or(n) == after {
                out.push(evaluate(cloud, c, after, *line));
            }
        }
        // Conversations after the packet checks of the same point.
        for (line, s) in &sc.sessions {
            if s.after_step.unwrap_or(n) == after {
                out.push(crate::hosts::session::evaluate(cloud, s, after, *line));
            }
        }
    };
    run_checks(&cloud, 0, &mut checks);
    for (i, st) in sc.steps.iter().enumerate() {
        steps.push(step_report(i + 1, st, cloud.apply(&st.op)));
        if i + 1 > 0 {
            run_checks(&cloud, i + 1, &mut checks);
        }
    }
    let pass = steps.iter().all(|s| s.as_expected) && checks.iter().all(|c| c.pass);
    RunReport {
        scenario: sc.name.clone(),
        steps,
        checks,
        pass,
    }
}

/// Applies the steps to a copy of the initial cloud, without sending a packet: what
/// `vpcsim validate` reports (refusals and unexpected successes, as `run` would).
pub fn apply_steps(sc: &Scenario) -> Vec<StepReport> {
    let mut cloud = sc.initial.clone();
    sc.steps
        .iter()
        .enumerate()
        .map(|(i, st)| step_report(i + 1, st, cloud.apply(&st.op)))
        .collect()
}

/// One step's outcome compared with what the file expects.
fn step_report(
    index: usize,
    st: &super::Step,
    r: crate::model::ApiResult<Vec<String>>,
) -> StepReport {
    let (ok, code, message, changes) = match r {
        Ok(ch) => (true, None, "OK".to_string(), ch),
        Err(e) => (false, Some(e.code.clone()), e.message.clone(), vec![]),
    };
    let as_expected = match &st.expect_error {
        None => ok,
        Some(want) => code.as_deref() == Some(want.as_str()),
    };
    StepReport {
        index,
        op: st.op.name().to_string(),
        ok,
        error_code: code,
        message,
        expect_error: st.expect_error.clone(),
        as_expected,
        changes,
        note: st.note.clone(),
        line: st.line,
    }
}

/// Evaluates one check against `cloud`.
pub fn evaluate(cloud: &Cloud, c: &CheckSpec, after: usize, line: usize) -> CheckReport {
    if c.from.is_some() {
        let mut r = crate::probe::connectivity_check(cloud, c);
        r.after_step = after;
        r.line = line;
        return r;
    }
    let resource = c.resource.as_deref().unwrap_or_default();
    let field = c.field.as_deref().unwrap_or_default();
    let expected = c
        .equals
        .as_ref()
        .map(toml_to_json)
        .unwrap_or(serde_json::Value::Null);
    let observed = match describe(cloud, resource) {
        None => Err(format!("no resource `{resource}`")),
        Some(v) => lookup(&v, field).ok_or_else(|| format!("`{resource}` has no field `{field}`")),
    };
    let (pass, observed) = match observed {
        Ok(v) => (v == expected, v.to_string()),
        Err(e) => (false, e),
    };
    CheckReport {
        name: c.name.clone(),
        after_step: after,
        pass,
        expected: expected.to_string(),
        observed,
        trace: vec![],
        line,
        passes: vec![],
    }
}

/// A resource as JSON, found by id in any table.
pub fn describe(cloud: &Cloud, id: &str) -> Option<serde_json::Value> {
    fn j<T: Serialize>(t: &T) -> Option<serde_json::Value> {
        serde_json::to_value(t).ok()
    }
    if let Some(x) = cloud.instances.get(id) {
        let mut v = j(x)?;
        if let Some(e) = cloud.eip_of_instance(id) {
            v["eip"] = serde_json::Value::String(e.address.to_string());
        }
        return Some(v);
    }
    cloud
        .enis
        .get(id)
        .and_then(j)
        .or_else(|| cloud.eips.get(id).and_then(j))
        .or_else(|| cloud.vpcs.get(id).and_then(j))
        .or_else(|| cloud.vswitches.get(id).and_then(j))
        .or_else(|| cloud.route_tables.get(id).and_then(j))
        .or_else(|| cloud.nat_gateways.get(id).and_then(j))
        .or_else(|| cloud.security_groups.get(id).and_then(j))
        .or_else(|| cloud.havips.get(id).and_then(j))
        .or_else(|| cloud.slbs.get(id).and_then(j))
}

fn lookup(v: &serde_json::Value, path: &str) -> Option<serde_json::Value> {
    let mut cur = v;
    for part in path.split('.') {
        cur = match cur {
            serde_json::Value::Array(a) => a.get(part.parse::<usize>().ok()?)?,
            _ => cur.get(part)?,
        };
    }
    Some(cur.clone())
}

fn toml_to_json(v: &toml::Value) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}
