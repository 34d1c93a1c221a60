//! Running a scenario: apply each step, compare with what the file expects, evaluate
//! the checks at their point in the sequence.

use serde::Serialize;

use super::Scenario;
pub use crate::check::CheckReport;
use crate::check::CheckSpec;
use crate::model::Cloud;

#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    /// 1-based.
    pub index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
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
pub struct RunReport {
    pub scenario: String,
    pub steps: Vec<StepReport>,
    pub checks: Vec<CheckReport>,
    /// `[[invariants]]`, each evaluated on the initial topology and after every step.
    pub invariants: Vec<InvariantReport>,
    pub pass: bool,
    /// With `[[traffic]]`: the outage summary of the timeline (`vpcsim timeline`),
    /// filled by the caller (the timeline runs above this module).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub outages: Vec<String>,
}

/// An invariant over the whole run.
#[derive(Debug, Clone, Serialize)]
pub struct InvariantReport {
    pub name: String,
    pub line: usize,
    /// Held on the initial topology and after every step.
    pub pass: bool,
    /// The first point where it did not hold: 0 = already on the initial topology,
    /// N = step N broke it.
    pub broken_by_step: Option<usize>,
    /// The id of that step, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broken_by_id: Option<String>,
    /// Every point where it did not hold.
    pub failing_after: Vec<usize>,
    pub expected: String,
    /// What was observed where it first failed (or after the last step, when it held).
    pub observed: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub trace: Vec<String>,
}

impl RunReport {
    /// The first step, check or invariant that did not behave as the file expects.
    pub fn first_failure(&self) -> Option<String> {
        if let Some(s) = self.steps.iter().find(|s| !s.as_expected) {
            return Some(format!("step {} ({}, line {})", s.index, s.op, s.line));
        }
        if let Some(c) = self.checks.iter().find(|c| !c.pass) {
            return Some(format!("check `{}` (line {})", c.name, c.line));
        }
        self.invariants.iter().find(|i| !i.pass).map(|i| {
            format!(
                "invariant `{}` (line {}), {}",
                i.name,
                i.line,
                broken_by_text(i.broken_by_step, i.broken_by_id.as_deref())
            )
        })
    }
}

/// "broken by step 10 (`remove-policy-routes`)" / "broken on the initial topology".
pub fn broken_by_text(step: Option<usize>, id: Option<&str>) -> String {
    match (step, id) {
        (Some(0), _) => "broken on the initial topology".into(),
        (Some(n), Some(id)) => format!("broken by step {n} (`{id}`)"),
        (Some(n), None) => format!("broken by step {n}"),
        (None, _) => "held after every step".into(),
    }
}

pub fn run_scenario(sc: &Scenario) -> RunReport {
    let mut cloud = sc.initial.clone();
    let mut steps = Vec::new();
    let mut checks = Vec::new();
    let n = sc.steps.len();
    // Where each check and session runs; an unresolvable point fails the check there
    // (parse refuses it, so only hand-built scenarios get here).
    let point = |at: Option<&crate::check::StepRef>| at.map_or(Ok(n), |a| sc.resolve(a));
    for (line, c) in &sc.checks {
        if let Err(e) = point(c.after_step.as_ref()) {
            let mut r = CheckReport::new(&c.name, n, *line);
            r.observed = e;
            checks.push(r);
        }
    }
    let run_checks = |cloud: &Cloud, after: usize, out: &mut Vec<CheckReport>| {
        for (line, c) in &sc.checks {
            if point(c.after_step.as_ref()) == Ok(after) {
                out.push(evaluate(cloud, c, after, *line));
            }
        }
        // Conversations after the packet checks of the same point.
        for (line, s) in &sc.sessions {
            if point(s.after_step.as_ref()) == Ok(after) {
                out.push(crate::hosts::session::evaluate(cloud, s, after, *line));
            }
        }
        for r in out.iter_mut().filter(|r| r.after_step == after) {
            r.after_id = sc.step_id(after).map(str::to_string);
        }
    };
    let mut invariants: Vec<InvariantReport> = sc
        .invariants
        .iter()
        .map(|(line, inv)| InvariantReport {
            name: inv.name().to_string(),
            line: *line,
            pass: true,
            broken_by_step: None,
            broken_by_id: None,
            failing_after: vec![],
            expected: String::new(),
            observed: String::new(),
            trace: vec![],
        })
        .collect();
    let check_invariants = |cloud: &Cloud, after: usize, out: &mut Vec<InvariantReport>| {
        for ((line, inv), rep) in sc.invariants.iter().zip(out.iter_mut()) {
            let r = super::invariant::evaluate(cloud, inv, after, *line);
            let first = rep.pass && !r.pass;
            if !r.pass {
                rep.pass = false;
                rep.failing_after.push(after);
            }
            if first || (rep.pass && after == n) {
                rep.expected = r.expected;
                rep.observed = r.observed;
                rep.trace = r.trace;
            }
            if first {
                rep.broken_by_step = Some(after);
                rep.broken_by_id = sc.step_id(after).map(str::to_string);
            }
        }
    };
    run_checks(&cloud, 0, &mut checks);
    check_invariants(&cloud, 0, &mut invariants);
    for (i, st) in sc.steps.iter().enumerate() {
        steps.push(step_report(i + 1, st, cloud.apply(&st.op)));
        run_checks(&cloud, i + 1, &mut checks);
        check_invariants(&cloud, i + 1, &mut invariants);
    }
    let pass = steps.iter().all(|s| s.as_expected)
        && checks.iter().all(|c| c.pass)
        && invariants.iter().all(|i| i.pass);
    RunReport {
        scenario: sc.name.clone(),
        steps,
        checks,
        invariants,
        pass,
        outages: Vec::new(),
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
        id: st.id.clone(),
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
    let mut r = CheckReport::new(&c.name, after, line);
    r.pass = pass;
    r.expected = expected.to_string();
    r.observed = observed;
    r
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
    if let Some(x) = cloud.enis.get(id) {
        let mut v = j(x)?;
        // Cut-through: the EIP replaces the ENI's private IP, so the state shows the
        // address the ENI really has, and keeps the replaced one beside it.
        if let Some(e) = cloud.eips_of_eni(id).find(|e| {
            e.binding
                .as_ref()
                .is_some_and(|b| b.mode == crate::model::EniMode::CutThrough)
        }) {
            v["primary_ip"] = serde_json::Value::String(e.address.to_string());
            v["cut_through_eip"] = serde_json::Value::String(e.id.clone());
            v["replaced_private_ip"] = serde_json::Value::String(x.primary_ip.to_string());
        }
        return Some(v);
    }
    cloud
        .eips
        .get(id)
        .and_then(j)
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
