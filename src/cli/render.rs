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
    if r.checks.iter().any(|c| c.after_step == 0) {
        println!("\nInitial topology");
        checks_at(0);
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
    }
    let steps_ok = r.steps.iter().filter(|s| s.as_expected).count();
    let checks_ok = r.checks.iter().filter(|c| c.pass).count();
    println!(
        "\nResult: {steps_ok}/{} steps as expected, {checks_ok}/{} checks passed — {}",
        r.steps.len(),
        r.checks.len(),
        if r.pass {
            "PASS".to_string()
        } else {
            format!("FAIL (first: {})", r.first_failure().unwrap_or_default())
        }
    );
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

pub fn egress(after: usize, rows: &[EgressRow]) {
    println!("\nEgress and ingress after {after} step(s)");
    let cells: Vec<[String; 7]> = rows
        .iter()
        .map(|r| {
            let mut ingress = r.ingress.join(", ");
            if !r.ingress_blocked.is_empty() {
                if !ingress.is_empty() {
                    ingress.push_str("; ");
                }
                ingress.push_str(&format!("blocked: {}", r.ingress_blocked.join(", ")));
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
