//! Human-readable renderings for terminals.

use crate::probe::{EgressRow, ProbeResult};
use crate::scenario::{RunReport, Scenario};

pub fn run_report(sc: &Scenario, r: &RunReport, verbose: bool) {
    println!("vpcsim: scenario `{}` ({})", sc.name, sc.file);
    if !sc.description.is_empty() {
        println!("  {}", sc.description);
    }
    let checks_at = |n: usize| {
        for c in r.checks.iter().filter(|c| c.after_step == n) {
            let mark = if c.pass { "✓" } else { "✗" };
            println!("    {mark} check: {}", c.name);
            println!("        observed: {}", c.observed);
            if !c.pass {
                println!("        expected: {}", c.expected);
            }
            if !c.pass || verbose {
                for l in &c.trace {
                    for part in l.lines() {
                        println!("          | {part}");
                    }
                }
            }
        }
    };
    if r.checks.iter().any(|c| c.after_step == 0)
        || r.invariants.iter().any(|i| i.broken_by_step == Some(0))
    {
        println!("\nInitial topology");
        checks_at(0);
        invariants_broken_at(r, 0);
    }
    for s in &r.steps {
        println!();
        let verdict = match (&s.error_code, &s.expect_error, s.as_expected) {
            (None, None, _) => "OK".to_string(),
            (Some(code), Some(_), true) => format!("refused as expected: {code}"),
            (Some(code), None, _) => format!("REFUSED (unexpected): {code}"),
            (None, Some(want), _) => format!("SUCCEEDED, but the file expects {want}"),
            (Some(code), Some(want), false) => {
                format!("refused with {code}, but the file expects {want}")
            }
        };
        let mark = if s.as_expected { " " } else { "✗" };
        println!("{mark} Step {:>2}  {:<32} {verdict}", s.index, s.op);
        if let Some(id) = &s.id {
            println!("          id: {id}");
        }
        if let Some(n) = &s.note {
            println!("          {n}");
        }
        if s.error_code.is_some() {
            println!("          {}", s.message);
        }
        // What changed, as a two-column table: resource | change.
        let rows: Vec<(&str, &str)> = s
            .changes
            .iter()
            .map(|c| c.split_once(": ").unwrap_or(("", c.as_str())))
            .collect();
        let w = rows
            .iter()
            .map(|(r, _)| r.chars().count())
            .max()
            .unwrap_or(0);
        for (resource, change) in rows {
            println!("          │ {resource:<w$} │ {change}");
        }
        checks_at(s.index);
        invariants_broken_at(r, s.index);
    }
    if !r.invariants.is_empty() {
        println!("\nInvariants (on the initial topology and after every step)");
        for i in &r.invariants {
            let mark = if i.pass { "✓" } else { "✗" };
            println!(
                "    {mark} {}: {}",
                i.name,
                crate::scenario::run::broken_by_text(i.broken_by_step, i.broken_by_id.as_deref())
            );
            if !i.pass {
                println!("        expected: {}", i.expected);
                println!("        observed: {}", i.observed);
                if i.failing_after.len() > 1 {
                    let pts: Vec<String> = i.failing_after.iter().map(|p| p.to_string()).collect();
                    println!("        fails after steps: {}", pts.join(", "));
                }
                for l in &i.trace {
                    println!("          | {l}");
                }
            }
        }
    }
    let inv_ok = r.invariants.iter().filter(|i| i.pass).count();
    let inv = if r.invariants.is_empty() {
        String::new()
    } else {
        format!(", {inv_ok}/{} invariants held", r.invariants.len())
    };
    let steps_ok = r.steps.iter().filter(|s| s.as_expected).count();
    let checks_ok = r.checks.iter().filter(|c| c.pass).count();
    println!(
        "\nResult: {steps_ok}/{} steps as expected, {checks_ok}/{} checks passed{inv} — {}",
        r.steps.len(),
        r.checks.len(),
        if r.pass {
            "PASS".to_string()
        } else {
            format!("FAIL (first: {})", r.first_failure().unwrap_or_default())
        }
    );
}

/// Invariants this step broke (held before it, not after).
fn invariants_broken_at(r: &RunReport, step: usize) {
    for i in r
        .invariants
        .iter()
        .filter(|i| i.broken_by_step == Some(step))
    {
        println!("    ✗ invariant broken here: {}", i.name);
        println!("        observed: {}", i.observed);
    }
}

pub fn probe(r: &ProbeResult, after: usize) {
    println!("probe after {after} steps: {}", r.sent);
    for l in r.trace_lines() {
        println!("  {l}");
    }
    print_result(r);
    for g in &r.generated {
        println!("  generated: {g}");
    }
    if let Some(rep) = &r.reply {
        println!("\nreply: {}", rep.sent);
        for l in rep.trace_lines() {
            println!("  {l}");
        }
        print_result(rep);
    }
}

fn print_result(r: &ProbeResult) {
    match r.disposition {
        "delivered" => println!(
            "=> DELIVERED to {} ({}): {}",
            r.eni.as_deref().unwrap_or("?"),
            r.instance.as_deref().unwrap_or("no instance"),
            r.received.as_deref().unwrap_or("")
        ),
        "internet" => println!(
            "=> TO THE INTERNET: {} (the server sees source {})",
            r.received.as_deref().unwrap_or(""),
            r.source_seen.map(|s| s.to_string()).unwrap_or_default()
        ),
        _ => println!("=> DROPPED: {}", r.reason.unwrap_or("?")),
    }
}

pub fn egress(after: usize, id: Option<&str>, rows: &[EgressRow]) {
    match id {
        Some(id) => println!("\nEgress and ingress after {after} step(s) (`{id}`)"),
        None => println!("\nEgress and ingress after {after} step(s)"),
    }
    let cells: Vec<[String; 7]> = rows
        .iter()
        .map(|r| {
            let mut ingress = r
                .ingress
                .iter()
                .map(|x| x.label())
                .collect::<Vec<_>>()
                .join(", ");
            if !r.ingress_blocked.is_empty() {
                if !ingress.is_empty() {
                    ingress.push_str("; ");
                }
                let blocked: Vec<String> = r
                    .ingress_blocked
                    .iter()
                    .map(|x| {
                        format!(
                            "{} ({} dropped: {})",
                            x.label(),
                            x.dropped.unwrap_or("probe"),
                            x.reason.as_deref().unwrap_or("?")
                        )
                    })
                    .collect();
                ingress.push_str(&format!("blocked: {}", blocked.join(", ")));
            }
            [
                r.instance.clone().unwrap_or_else(|| "-".into()),
                r.eni.clone(),
                r.device.clone().unwrap_or_else(|| "-".into()),
                r.private_ip.map_or_else(|| "-".into(), |i| i.to_string()),
                r.egress_ip.map_or_else(|| "-".into(), |i| i.to_string()),
                match &r.reason {
                    Some(reason) => format!("none ({reason})"),
                    None => r.via.to_string(),
                },
                if ingress.is_empty() {
                    "-".into()
                } else {
                    ingress
                },
            ]
        })
        .collect();
    let header = [
        "instance",
        "eni",
        "dev",
        "private ip",
        "egress ip",
        "via",
        "ingress (reached from the Internet)",
    ];
    let mut width = header.map(str::len);
    for c in &cells {
        for (w, v) in width.iter_mut().zip(c.iter()) {
            *w = (*w).max(v.chars().count());
        }
    }
    let line = |c: &[String]| {
        let mut s = String::new();
        for (i, v) in c.iter().enumerate() {
            if i + 1 == c.len() {
                s.push_str(v);
            } else {
                s.push_str(&format!("{v:<w$}  ", w = width[i]));
            }
        }
        println!("{s}");
    };
    line(&header.map(String::from));
    for c in &cells {
        line(c);
    }
}
