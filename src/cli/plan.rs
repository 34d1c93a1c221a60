//! `vpcsim plan PLAN.json`: the calls a Terraform plan makes, whether the cloud accepts
//! each, and the egress of every instance before and after.

use std::path::PathBuf;
use std::process::ExitCode;

use super::json;
use crate::terraform::{self, OpStatus, PlanReport};

#[derive(clap::Args, Debug)]
pub struct PlanArgs {
    /// The plan as JSON: `terraform plan -out plan.tfplan && terraform show -json
    /// plan.tfplan > plan.json`.
    pub plan: PathBuf,
    /// Start from this state (`terraform show -json > state.json`) instead of the
    /// plan's prior_state.
    #[arg(long, value_name = "STATE.json")]
    pub state: Option<PathBuf>,
    /// `[[invariants]]` (the scenario format) that must hold after the apply — and after
    /// every call of it when they hold today; exit 1 when one does not.
    #[arg(long, value_name = "FILE.toml")]
    pub invariants: Option<PathBuf>,
    /// One JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: PlanArgs) -> Result<ExitCode, ExitCode> {
    let loaded = terraform::load(&a.plan, a.state.as_deref()).and_then(|p| {
        let inv = match &a.invariants {
            Some(f) => terraform::load_invariants(f, &p)?,
            None => vec![],
        };
        Ok((p, inv))
    });
    let (plan, invariants) = match loaded {
        Ok(p) => p,
        Err(e) => {
            if a.json {
                json::print(&json::error(
                    "plan",
                    json::ErrorDoc {
                        kind: "input".into(),
                        message: e.to_string(),
                        file: Some(a.plan.display().to_string()),
                        ..Default::default()
                    },
                ));
            } else {
                eprintln!("error: {e}");
            }
            return Err(ExitCode::from(2));
        }
    };
    let r = terraform::check_plan_with(&plan, &invariants);
    if a.json {
        json::print(&json::envelope("plan", Some(&r.plan), None, r.json_body()));
    } else {
        render(&r);
    }
    Ok(if r.pass {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn render(r: &PlanReport) {
    println!("vpcsim plan: {}", r.plan);
    println!(
        "\nCalls, in the order `terraform apply` makes them (independent changes, which Terraform runs in parallel, one at a time: deletes, updates, creates):"
    );
    if r.operations.is_empty() {
        println!("  (no changes vpcsim simulates)");
    }
    for o in &r.operations {
        let verdict = match o.status {
            OpStatus::Ok => "OK".to_string(),
            OpStatus::Refused => format!(
                "REFUSED: {}{}",
                o.code.as_deref().unwrap_or("?"),
                if o.own_code {
                    " (vpcsim's own code)"
                } else {
                    ""
                }
            ),
            OpStatus::RefusedIgnored => format!(
                "REFUSED, IGNORED BY THE PROVIDER: {}",
                o.code.as_deref().unwrap_or("?")
            ),
            OpStatus::NotSimulated => "NOT SIMULATED".into(),
            OpStatus::NotChecked => "NOT CHECKED".into(),
            OpStatus::NotReached => "NOT REACHED".into(),
        };
        let action = serde_json::to_value(o.action)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let mark = if o.status == OpStatus::Refused {
            "✗"
        } else {
            " "
        };
        println!(
            "{mark} {:>2}  {:<52} {:<6}  {:<28} {verdict}",
            o.index, o.resource, action, o.call
        );
        if o.status != OpStatus::Ok {
            println!("          {}", o.message);
        }
        for c in &o.changes {
            println!("          │ {c}");
        }
    }
    if !r.warnings.is_empty() {
        println!("\nNot modelled (the answers leave these out):");
        for w in &r.warnings {
            println!("  warning: {w}");
        }
    }
    if !r.unknowns.is_empty() {
        println!("\nValues unknown until apply, and the placeholders used for them:");
        for u in &r.unknowns {
            println!(
                "  {} = {} {} ({})",
                format_args!("{}.{}", u.resource, u.attribute),
                u.value,
                terraform::UNKNOWN_MARK,
                u.placeholder
            );
        }
    }
    let after = if r.refused > 0 {
        "after the apply stops at the refusal"
    } else {
        "after apply"
    };
    println!("\nEgress and ingress: before → {after}");
    if r.egress_changes.is_empty() {
        println!("  no instance's egress or ingress changes");
    }
    for c in &r.egress_changes {
        println!(
            "  {} {} {}",
            c.instance.as_deref().unwrap_or("-"),
            c.eni,
            c.private_ip.as_deref().unwrap_or("-")
        );
        println!("      egress:  {} → {}", c.egress_before, c.egress_after);
        if c.ingress_before != c.ingress_after {
            let show = |v: &Vec<String>| {
                if v.is_empty() {
                    "none".to_string()
                } else {
                    v.join(", ")
                }
            };
            println!(
                "      ingress: {} → {}",
                show(&c.ingress_before),
                show(&c.ingress_after)
            );
        }
    }
    println!(
        "\nWhat the apply changes (egress, exposure, reach — as `vpcsim diff`), with the calls that change it:"
    );
    if r.diff.is_empty() {
        println!("  nothing");
    }
    let mark = |t: String| {
        r.unknowns
            .iter()
            .fold(t, |t, u| terraform::mark_placeholder(&t, &u.value))
    };
    for c in &r.diff {
        println!(
            "  {} {}: {} → {}{}",
            c.kind,
            c.what,
            mark(super::reach::words(&c.before, c.kind)),
            mark(super::reach::words(&c.after, c.kind)),
            if c.kind == "exposure" {
                format!(" ({})", c.change)
            } else {
                String::new()
            }
        );
        for s in &c.steps {
            println!(
                "      by call {} {} ({})",
                s.step.unwrap_or_default(),
                s.op,
                s.note.as_deref().unwrap_or_default()
            );
        }
    }
    for n in &r.diff_notes {
        println!("  note: {n}");
    }
    if !r.invariants.is_empty() {
        println!("\nInvariants (after the apply; after every call too when they hold today):");
    }
    for i in &r.invariants {
        let mark = if i.pass { "✓" } else { "✗" };
        println!("  {mark} {} — {}", i.name, i.expected);
        match i.first_broken_after {
            Some(n) => {
                let call = r
                    .operations
                    .iter()
                    .find(|o| o.index == n)
                    .map(|o| format!("{} {}", o.resource, o.call))
                    .unwrap_or_default();
                println!(
                    "      broken after call {n} ({call}): {}{}",
                    i.observed,
                    if i.holds_after_apply {
                        "; holds again after the apply"
                    } else {
                        ""
                    }
                );
            }
            None if !i.holds_after_apply => println!("      after the apply: {}", i.observed),
            None => println!("      observed: {}", i.observed),
        }
    }
    let ok = r
        .operations
        .iter()
        .filter(|o| o.status == OpStatus::Ok)
        .count();
    println!(
        "\nResult: {ok}/{} calls OK, {} refused, {} refused but ignored by the provider, {} not simulated, {} not checked — {}",
        r.operations.len(),
        r.refused,
        r.refused_ignored,
        r.not_simulated,
        r.not_checked,
        if r.pass {
            "the cloud accepts every simulated call".to_string()
        } else if r.refused == 0 && r.refused_ignored > 0 {
            "FAIL (the provider ignores a refusal: the cloud will differ from the Terraform state)"
                .to_string()
        } else if r.refused == 0 {
            let first = r
                .invariants
                .iter()
                .find(|i| !i.pass)
                .map(|i| i.name.clone());
            format!("FAIL (invariant `{}`)", first.unwrap_or_default())
        } else {
            let first = r
                .operations
                .iter()
                .find(|o| o.status == OpStatus::Refused)
                .map(|o| {
                    format!(
                        "{} {} refused with {}",
                        o.resource,
                        o.call,
                        o.code.as_deref().unwrap_or("?")
                    )
                })
                .unwrap_or_default();
            format!("FAIL (first: {first})")
        }
    );
}
