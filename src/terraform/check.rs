//! Apply a plan's calls to the prior state's `Cloud`, in apply order, and compare the
//! egress of every instance before and after.
//!
//! When a call is refused, `terraform apply` stops that resource and everything that
//! depends on it but goes on with the rest; so does this, and the "after" answers are
//! those of the state such a half-finished apply leaves.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::changes::{calls, Ctx, Phase, Planned};
use super::order::{dependencies, order};
use super::plan_json::config_address;
use super::{Plan, Unknown, Unknowns, Warning, Warnings};
use crate::model::Operation;
use crate::probe::{egress_table, EgressRow};
use crate::reach::diff::{changes as reach_changes, Cause, Change, Point};
use crate::scenario::evaluate_invariant;
use crate::scenario::format::Invariant;

/// The TCP port the ingress probes of the egress table knock on (as `vpcsim egress`).
const INGRESS_PORT: u16 = 22;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OpStatus {
    /// The cloud accepts the call.
    Ok,
    /// The cloud refuses it: `terraform apply` fails here.
    Refused,
    /// vpcsim has no operation for the call: its effect is missing from the answers.
    NotSimulated,
    /// A value the call needs is unknown and cannot be derived.
    NotChecked,
    /// Not made: something this resource depends on failed or is not simulated.
    NotReached,
    /// The cloud refuses it but the provider ignores the refusal and goes on: the apply
    /// succeeds while the cloud differs from what Terraform records (drift).
    RefusedIgnored,
}

#[derive(Debug, Clone, Serialize)]
pub struct OpReport {
    /// 1-based, in apply order.
    pub index: usize,
    /// The Terraform address of the resource.
    pub resource: String,
    pub action: Phase,
    /// The OpenAPI call.
    pub call: String,
    pub status: OpStatus,
    /// The cloud's error code, for a refusal.
    pub code: Option<String>,
    /// The refusal's rule and fix, or why the call was not simulated or reached.
    pub message: String,
    /// The code is vpcsim's own (the API reference publishes none for the case).
    pub own_code: bool,
    /// What the call changed.
    pub changes: Vec<String>,
}

/// One private address whose egress or ingress differs after the plan.
#[derive(Debug, Clone, Serialize)]
pub struct EgressChange {
    pub instance: Option<String>,
    pub eni: String,
    pub private_ip: Option<String>,
    /// The address an Internet server sees (or `none (reason)`), before and after.
    pub egress_before: String,
    pub egress_after: String,
    /// Public addresses reaching this private IP, before and after.
    pub ingress_before: Vec<String>,
    pub ingress_after: Vec<String>,
}

/// One `[[invariants]]` entry judged on the states `terraform apply` passes through
/// (see [`check_plan_with`]).
#[derive(Debug, Clone, Serialize)]
pub struct InvariantReport {
    pub name: String,
    /// Line in the invariants file.
    pub line: usize,
    pub expected: String,
    /// Held in the prior state (then it must hold after every call too).
    pub held_before: bool,
    /// Holds after the apply, and after every call when it held before.
    pub pass: bool,
    /// Holds in the state the apply leaves.
    pub holds_after_apply: bool,
    /// The first call after which it did not hold (index in `operations`).
    pub first_broken_after: Option<usize>,
    /// What was observed where it first failed (or after the apply).
    pub observed: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlanReport {
    pub plan: String,
    pub operations: Vec<OpReport>,
    pub warnings: Vec<Warning>,
    pub unknowns: Vec<Unknown>,
    pub egress_before: Vec<EgressRow>,
    pub egress_after: Vec<EgressRow>,
    pub egress_changes: Vec<EgressChange>,
    /// What the apply changes — egress, exposure, reach (as `vpcsim diff`) — each with
    /// the calls that changed it.
    pub diff: Vec<Change>,
    /// Probes `diff` sent, and what it did not compare.
    pub diff_probes: usize,
    pub diff_notes: Vec<String>,
    pub refused: usize,
    /// Refusals the provider ignores: the apply succeeds, the cloud differs from the
    /// Terraform state.
    pub refused_ignored: usize,
    pub not_simulated: usize,
    pub not_checked: usize,
    /// A dependency cycle was broken (ordered by address).
    pub cycle: bool,
    pub invariants: Vec<InvariantReport>,
    /// No call refused (ignored or not) and every invariant held.
    pub pass: bool,
}

impl PlanReport {
    /// The `--json` body: the report, with every egress row that shows a placeholder
    /// carrying `unknown_until_apply` (the placeholders it shows).
    pub fn json_body(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        for key in ["egress_before", "egress_after", "diff"] {
            let Some(rows) = v.get_mut(key).and_then(|r| r.as_array_mut()) else {
                continue;
            };
            for row in rows {
                let text = row.to_string();
                let shown: Vec<&str> = self
                    .unknowns
                    .iter()
                    .map(|u| u.value.as_str())
                    .filter(|val| super::mark_one(&text, val) != text)
                    .collect();
                if let Some(o) = row.as_object_mut() {
                    o.insert("unknown_until_apply".into(), shown.into());
                }
            }
        }
        v
    }
}

/// Checks every call of the plan against the cloud.
pub fn check_plan(plan: &Plan) -> PlanReport {
    check_plan_with(plan, &[])
}

/// [decision] An invariant must hold after the apply; one that holds before the apply
/// must also hold after every call of it (the states the network passes through on the
/// way: the apply must not break it, even for a while). One that does not hold before
/// is being established: only the end state is judged.
pub fn check_plan_with(plan: &Plan, invariants: &[(usize, Invariant)]) -> PlanReport {
    let mut inv: Vec<InvariantReport> = invariants
        .iter()
        .map(|(line, i)| {
            let before = evaluate_invariant(&plan.initial, i, 0, *line);
            InvariantReport {
                name: i.name().to_string(),
                line: *line,
                expected: String::new(),
                held_before: before.pass,
                pass: true,
                holds_after_apply: true,
                first_broken_after: None,
                observed: String::new(),
            }
        })
        .collect();
    let mut cloud = plan.initial.clone();
    let egress_before = egress_table(&cloud, INGRESS_PORT);
    let mut warnings: Warnings = plan.warnings.clone();
    let mut unknowns = Unknowns::default();
    for rc in &plan.changes {
        if rc.mode == "managed"
            && !super::SUPPORTED.contains(&rc.kind.as_str())
            && rc
                .change
                .actions
                .iter()
                .any(|a| a != "no-op" && a != "read")
        {
            warnings.add(
                "resource type not modelled",
                &rc.address,
                "its change is not simulated; answers that depend on it may differ from the cloud's",
            );
        }
    }
    for rc in &plan.changes {
        if rc
            .change
            .actions
            .iter()
            .any(|a| a == "create" || a == "update")
        {
            super::changes::warn_unmodelled(&rc.kind, &rc.address, &rc.change.after, &mut warnings);
        }
    }
    let prior_depends: BTreeMap<String, Vec<String>> = plan
        .prior
        .iter()
        .map(|(a, (_, _, d))| (a.clone(), d.clone()))
        .collect();
    let deps = dependencies(&plan.changes, &plan.refs, &prior_depends);
    let (nodes, cycle) = order(&plan.changes, &deps);
    if cycle {
        warnings.add(
            "dependency cycle",
            "resource_changes",
            "the references form a cycle; the changes in it are applied in address order",
        );
    }
    let mut ops: Vec<OpReport> = vec![];
    // The configuration after every call, for the diff and the calls that changed it.
    let mut points = vec![Point {
        step: Some(0),
        cause: None,
        cloud: cloud.clone(),
    }];
    // Config address → why its dependents are not reached.
    let mut blocked: BTreeMap<String, String> = BTreeMap::new();
    for node in nodes {
        let rc = &plan.changes[node.rc];
        let ca = config_address(&rc.address);
        let report = |call: &str, status, code, message: String, own, changes| OpReport {
            index: 0,
            resource: rc.address.clone(),
            action: node.phase,
            call: call.to_string(),
            status,
            code,
            message,
            own_code: own,
            changes,
        };
        if let Some((dep, why)) = deps[node.rc]
            .iter()
            .find_map(|d| blocked.get(d).map(|w| (d.clone(), w.clone())))
        {
            ops.push(report(
                "—",
                OpStatus::NotReached,
                None,
                format!("depends on {dep}, which {why}"),
                false,
                vec![],
            ));
            blocked.insert(ca, format!("was not reached ({dep} {why})"));
            continue;
        }
        let planned = {
            let mut cx = Ctx {
                plan,
                cloud: &cloud,
                unknowns: &mut unknowns,
                warnings: &mut warnings,
            };
            calls(&mut cx, rc, node.phase)
        };
        for p in planned {
            let (p, ignored) = match p {
                Planned::CallIgnoringRefusal(op, why) => (Planned::Call(op), Some(why)),
                p => (p, None),
            };
            match p {
                Planned::Call(op) => match cloud.apply(&op) {
                    Ok(changes) => {
                        learn_unknowns(&op, &cloud, &rc.address, &mut unknowns);
                        ops.push(report(
                            op.name(),
                            OpStatus::Ok,
                            None,
                            "OK".into(),
                            false,
                            changes,
                        ));
                        let at = ops.len();
                        points.push(Point {
                            step: Some(at),
                            cause: Some(Cause::of_step(at, &op, 0, Some(rc.address.clone()))),
                            cloud: cloud.clone(),
                        });
                        for ((line, i), r) in invariants.iter().zip(inv.iter_mut()) {
                            if r.held_before && r.first_broken_after.is_none() {
                                let c = evaluate_invariant(&cloud, i, at, *line);
                                if !c.pass {
                                    r.first_broken_after = Some(at);
                                    r.pass = false;
                                    r.observed = c.observed;
                                }
                            }
                        }
                    }
                    Err(e) if ignored.is_some() => {
                        let own = e.is_own();
                        ops.push(report(
                            op.name(),
                            OpStatus::RefusedIgnored,
                            Some(e.code),
                            format!(
                                "{} — {}: terraform apply goes on and records the change, but the cloud did not make it",
                                e.message,
                                ignored.unwrap_or_default()
                            ),
                            own,
                            vec![],
                        ));
                    }
                    Err(e) => {
                        let own = e.is_own();
                        blocked.insert(ca.clone(), format!("the cloud refuses ({})", e.code));
                        ops.push(report(
                            op.name(),
                            OpStatus::Refused,
                            Some(e.code),
                            e.message,
                            own,
                            vec![],
                        ));
                        break;
                    }
                },
                Planned::NotSimulated { call, why } => {
                    if node.phase == Phase::Create {
                        blocked.insert(
                            ca.clone(),
                            format!("vpcsim does not simulate creating ({call})"),
                        );
                    }
                    ops.push(report(
                        &call,
                        OpStatus::NotSimulated,
                        None,
                        why,
                        false,
                        vec![],
                    ));
                }
                Planned::CallIgnoringRefusal(..) => unreachable!("unwrapped above"),
                Planned::Unresolved { call, why } => {
                    blocked.insert(ca.clone(), format!("could not be checked ({call})"));
                    ops.push(report(
                        &call,
                        OpStatus::NotChecked,
                        None,
                        why,
                        false,
                        vec![],
                    ));
                    break;
                }
            }
        }
    }
    for (i, o) in ops.iter_mut().enumerate() {
        o.index = i + 1;
        o.message = unknowns.mark(&o.message);
        o.changes = o.changes.iter().map(|c| unknowns.mark(c)).collect();
    }
    for ((line, i), r) in invariants.iter().zip(inv.iter_mut()) {
        let c = evaluate_invariant(&cloud, i, ops.len(), *line);
        r.expected = unknowns.mark(&c.expected);
        r.holds_after_apply = c.pass;
        r.pass &= c.pass;
        if r.observed.is_empty() || !c.pass && r.first_broken_after.is_none() {
            r.observed = c.observed;
        }
        r.observed = unknowns.mark(&r.observed);
    }
    let (mut diff, diff_probes, diff_notes) = reach_changes(&points);
    for c in &mut diff {
        c.what = unknowns.mark(&c.what);
    }
    let egress_after = egress_table(&cloud, INGRESS_PORT);
    let egress_changes = egress_diff(&egress_before, &egress_after, &unknowns);
    let count = |s: OpStatus| ops.iter().filter(|o| o.status == s).count();
    let refused = count(OpStatus::Refused);
    let refused_ignored = count(OpStatus::RefusedIgnored);
    PlanReport {
        plan: plan.file.clone(),
        refused,
        refused_ignored,
        not_simulated: count(OpStatus::NotSimulated),
        not_checked: count(OpStatus::NotChecked) + count(OpStatus::NotReached),
        operations: ops,
        warnings: warnings.0,
        unknowns: unknowns.0,
        egress_before,
        egress_after,
        egress_changes,
        diff,
        diff_probes,
        diff_notes,
        cycle,
        pass: refused == 0 && refused_ignored == 0 && inv.iter().all(|r| r.pass),
        invariants: inv,
    }
}

/// Addresses the cloud chose during a call for values the plan leaves unknown.
fn learn_unknowns(op: &Operation, cloud: &crate::model::Cloud, address: &str, u: &mut Unknowns) {
    let (eni, attribute) = match op {
        Operation::CreateNetworkInterface {
            primary_ip_address: None,
            network_interface_id: Some(id),
            ..
        } => (id.clone(), "primary_ip_address"),
        Operation::RunInstances {
            private_ip_address: None,
            instance_id: Some(id),
            ..
        } => (format!("{id}-eth0"), "private_ip"),
        _ => return,
    };
    if let Some(e) = cloud.enis.get(&eni) {
        u.0.push(Unknown {
            value: e.primary_ip.to_string(),
            resource: address.to_string(),
            attribute: attribute.into(),
            placeholder: "the first idle address of the VSwitch, as the cloud assigns one".into(),
        });
    }
}

fn egress_cell(r: &EgressRow) -> String {
    match (r.egress_ip, &r.reason) {
        (Some(ip), _) => format!("{ip} ({})", r.via),
        (None, Some(reason)) => format!("none ({reason})"),
        (None, None) => "none".into(),
    }
}

fn egress_diff(before: &[EgressRow], after: &[EgressRow], u: &Unknowns) -> Vec<EgressChange> {
    let key = |r: &EgressRow| (r.eni.clone(), r.private_ip);
    let b: BTreeMap<_, &EgressRow> = before.iter().map(|r| (key(r), r)).collect();
    let a: BTreeMap<_, &EgressRow> = after.iter().map(|r| (key(r), r)).collect();
    let keys: BTreeSet<_> = b.keys().chain(a.keys()).cloned().collect();
    let gone = "— (absent)".to_string();
    let mut out = vec![];
    for k in keys {
        let (rb, ra) = (b.get(&k), a.get(&k));
        let eb = rb.map_or(gone.clone(), |r| egress_cell(r));
        let ea = ra.map_or(gone.clone(), |r| egress_cell(r));
        let labels = |r: &&EgressRow| r.ingress.iter().map(|i| i.label()).collect::<Vec<_>>();
        let ib = rb.map_or(vec![], labels);
        let ia = ra.map_or(vec![], labels);
        if eb == ea && ib == ia {
            continue;
        }
        let any = ra.or(rb).expect("key from one side");
        out.push(EgressChange {
            instance: any.instance.clone(),
            eni: any.eni.clone(),
            private_ip: k.1.map(|ip| u.mark(&ip.to_string())),
            egress_before: u.mark(&eb),
            egress_after: u.mark(&ea),
            ingress_before: ib.iter().map(|x| u.mark(x)).collect(),
            ingress_after: ia.iter().map(|x| u.mark(x)).collect(),
        });
    }
    out
}
