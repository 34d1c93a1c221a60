//! Human-readable renderings for terminals.

use serde_json::{json, Value};

use std::net::Ipv4Addr;

use serde::Serialize;

use super::json::envelope;
use crate::probe::{EgressRow, ProbeResult};
use crate::reach::diff::DiffReport;
use crate::scenario::{CheckReport, RunReport, Scenario, StepReport};

const GREEN: &str = "32";
const RED: &str = "31";

/// Colour on a terminal; none when stdout is piped or `NO_COLOR` is set (no-color.org).
fn colour() -> bool {
    use std::io::IsTerminal;
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| {
        std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal()
    })
}

fn paint(s: &str, code: &str) -> String {
    if colour() {
        format!("\x1b[{code}m{s}\x1b[0m")
    } else {
        s.to_string()
    }
}

/// `resource │ change` rows, wrapped to the terminal's width (none when piped).
fn changes_table(changes: &[String], width: Option<u16>) -> String {
    use comfy_table::{ContentArrangement, ContentLineStyle, Table, TableStyle};
    let mut t = Table::new();
    // `│ resource │ change`: a left rule and a column rule, nothing else.
    t.load_style(TableStyle::new().content_lines(ContentLineStyle::none().left('│').junction('│')));
    if let Some(w) = width {
        t.set_content_arrangement(ContentArrangement::Dynamic);
        t.set_width(w.saturating_sub(10).max(40));
    }
    for c in changes {
        let (resource, change) = c.split_once(": ").unwrap_or(("", c.as_str()));
        t.add_row(vec![resource, change]);
    }
    t.to_string()
}

/// The terminal's width in columns, when stdout is one (else `COLUMNS`, else none).
fn terminal_width() -> Option<u16> {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() {
        return None;
    }
    #[cfg(unix)]
    {
        let mut ws = libc::winsize {
            ws_row: 0,
            ws_col: 0,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCGWINSZ fills the winsize we own; fd 1 is stdout.
        let ok = unsafe { libc::ioctl(1, libc::TIOCGWINSZ, &mut ws) } == 0;
        if ok && ws.ws_col > 0 {
            return Some(ws.ws_col);
        }
    }
    std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok())
}

/// A step's outcome against what the file expects, in words.
pub fn step_verdict(s: &StepReport) -> String {
    match (&s.error_code, &s.expect_error, s.as_expected) {
        (None, None, _) => "OK".to_string(),
        (Some(code), Some(_), true) => format!("refused as expected: {code}"),
        (Some(code), None, _) => format!("REFUSED (unexpected): {code}"),
        (None, Some(want), _) => format!("SUCCEEDED, but the file expects {want}"),
        (Some(code), Some(want), false) => {
            format!("refused with {code}, but the file expects {want}")
        }
    }
}

/// A step for `--json`: its changes as `{resource, change}` objects.
pub fn step_json(s: &StepReport) -> Value {
    let changes: Vec<Value> = s
        .changes
        .iter()
        .map(|c| {
            let (resource, change) = c.split_once(": ").unwrap_or(("", c.as_str()));
            json!({"resource": resource, "change": change})
        })
        .collect();
    json!({
        "index": s.index,
        "id": s.id,
        "op": s.op,
        "line": s.line,
        "ok": s.ok,
        "error_code": s.error_code,
        "message": s.message,
        "expect_error": s.expect_error,
        "as_expected": s.as_expected,
        "changes": changes,
        "note": s.note,
    })
}

/// A check for `--json`: the trace as one string per line, without the text layout.
fn check_json(c: &CheckReport) -> Value {
    let trace: Vec<String> = c
        .trace
        .iter()
        .flat_map(|l| l.lines())
        .map(collapse)
        .filter(|l| !l.is_empty())
        .collect();
    json!({
        "name": c.name,
        "line": c.line,
        "after_step": c.after_step,
        "after_id": c.after_id,
        "pass": c.pass,
        "expected": c.expected,
        "observed": c.observed,
        "trace": trace,
    })
}

/// A text line without its layout: trimmed, runs of spaces (column padding) as one.
pub fn collapse(l: &str) -> String {
    l.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `vpcsim run --json`.
/// `diff`: the procedure's diff (`reach::procedure_diff`), when the scenario declares
/// `[[expect_change]]`; a change it does not declare fails the run.
pub fn run_json(sc: &Scenario, r: &RunReport, diff: Option<&DiffReport>) -> Value {
    let mut doc = envelope(
        "run",
        Some(&sc.name),
        Some(super::after(sc, sc.steps.len())),
        json!({
            "file": sc.file,
            "pass": r.pass && diff.is_none_or(|d| d.pass),
            "first_failure": first_failure(r, diff),
            "steps": r.steps.iter().map(step_json).collect::<Vec<_>>(),
            "checks": r.checks.iter().map(check_json).collect::<Vec<_>>(),
            "invariants": r.invariants,
            "outages": r.outages,
            "summary": {
                "steps": r.steps.len(),
                "steps_as_expected": r.steps.iter().filter(|s| s.as_expected).count(),
                "checks": r.checks.len(),
                "checks_passed": r.checks.iter().filter(|c| c.pass).count(),
                "invariants": r.invariants.len(),
                "invariants_held": r.invariants.iter().filter(|i| i.pass).count(),
            },
        }),
    );
    if let (Some(d), Some(o)) = (diff, doc.as_object_mut()) {
        o.insert(
            "diff".into(),
            json!({
                "from": {"file": sc.file, "step": 0},
                "to": {"file": sc.file, "step": sc.steps.len()},
                "report": d,
            }),
        );
    }
    doc
}

/// The run's first failure, the procedure's diff after steps, checks and invariants.
pub fn first_failure(r: &RunReport, diff: Option<&DiffReport>) -> Option<String> {
    r.first_failure().or_else(|| {
        diff.filter(|d| !d.pass).map(|d| {
            format!(
                "the procedure's diff: {} changes not declared in [[expect_change]], {} declared changes that did not happen",
                d.unexpected, d.unmet
            )
        })
    })
}

/// A packet as fields with its display string (the schema's `packet`), borrowed: the
/// typed twin of [`super::json::packet`], serialized without a `Value` in between.
#[derive(Serialize)]
pub struct PacketDoc<'a> {
    display: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    src: Option<Ipv4Addr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dst: Option<Ipv4Addr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ttl: Option<u8>,
    length: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    protocol: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ip_protocol: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sport: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dport: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    flags: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    icmp_type: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    icmp_code: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    icmp_ident: Option<u16>,
}

impl<'a> PacketDoc<'a> {
    /// `frame` is an Ethernet frame; one that does not parse keeps only its display and
    /// length.
    pub fn new(frame: &[u8], display: &'a str) -> PacketDoc<'a> {
        use crate::wire::L4;
        let mut p = PacketDoc {
            display,
            src: None,
            dst: None,
            ttl: None,
            length: frame.len(),
            protocol: None,
            ip_protocol: None,
            sport: None,
            dport: None,
            flags: None,
            icmp_type: None,
            icmp_code: None,
            icmp_ident: None,
        };
        let Ok(i) = crate::wire::parse(frame) else {
            return p;
        };
        p.src = Some(i.src);
        p.dst = Some(i.dst);
        p.ttl = Some(i.ttl);
        p.length = usize::from(i.total_len);
        p.ip_protocol = Some(i.proto);
        p.protocol = Some(match i.l4 {
            L4::Tcp { .. } => "tcp",
            L4::Udp { .. } => "udp",
            L4::IcmpEcho { .. } | L4::IcmpError { .. } | L4::IcmpOther { .. } => "icmp",
            L4::Fragment | L4::Other => "other",
        });
        match i.l4 {
            L4::Tcp {
                sport,
                dport,
                flags,
                ..
            } => {
                p.sport = Some(sport);
                p.dport = Some(dport);
                p.flags = Some(flags.to_string());
            }
            L4::Udp { sport, dport } => {
                p.sport = Some(sport);
                p.dport = Some(dport);
            }
            L4::IcmpEcho { request, ident, .. } => {
                p.icmp_type = Some(if request { 8 } else { 0 });
                p.icmp_ident = Some(ident);
            }
            L4::IcmpError {
                icmp_type, code, ..
            }
            | L4::IcmpOther { icmp_type, code } => {
                p.icmp_type = Some(icmp_type);
                p.icmp_code = Some(code);
            }
            L4::Fragment | L4::Other => {}
        }
        p
    }
}

/// One probe's outcome as fields; packets as objects (the schema's `probe`).
#[derive(Serialize)]
pub struct ProbeDoc<'a> {
    sent: PacketDoc<'a>,
    disposition: &'static str,
    eni: Option<&'a str>,
    instance: Option<&'a str>,
    reason: Option<&'static str>,
    received: Option<PacketDoc<'a>>,
    source_seen: Option<Ipv4Addr>,
    destination_seen: Option<Ipv4Addr>,
    hops: &'a [crate::pipeline::trace::Hop],
    generated: &'a [String],
}

impl<'a> ProbeDoc<'a> {
    pub fn new(r: &'a ProbeResult) -> ProbeDoc<'a> {
        ProbeDoc {
            sent: PacketDoc::new(&r.frame_in, &r.sent),
            disposition: r.disposition,
            eni: r.eni.as_deref(),
            instance: r.instance.as_deref(),
            reason: r.reason,
            received: r
                .received
                .as_deref()
                .map(|d| PacketDoc::new(&r.frame_out, d)),
            source_seen: r.source_seen,
            destination_seen: r.destination_seen,
            hops: &r.hops,
            generated: &r.generated,
        }
    }
}

#[derive(Serialize)]
struct TraceRequestDoc<'a> {
    from: &'a str,
    to: &'a str,
    proto: &'a str,
    src: Option<Ipv4Addr>,
    ttl: u8,
    reply: bool,
}

/// The trace document, typed and borrowed: `serve` writes it straight to its output
/// (no `Value` in between, the cost of a request is mostly its answer); `trace --json`
/// goes through [`trace_doc`], the same struct as a `Value`. Same envelope as
/// [`envelope`].
#[derive(Serialize)]
pub struct TraceDoc<'a> {
    vpcsim: u32,
    command: &'static str,
    scenario: Option<&'a str>,
    after: &'a super::json::After,
    request: TraceRequestDoc<'a>,
    probe: ProbeDoc<'a>,
    reply: Option<ProbeDoc<'a>>,
    /// A `serve` request's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a Value>,
}

impl<'a> TraceDoc<'a> {
    pub fn new(
        scenario: Option<&'a str>,
        after: &'a super::json::After,
        a: &'a super::TraceArgs,
        r: &'a ProbeResult,
        id: Option<&'a Value>,
    ) -> TraceDoc<'a> {
        TraceDoc {
            vpcsim: super::json::SCHEMA_VERSION,
            command: "trace",
            scenario,
            after,
            request: TraceRequestDoc {
                from: &a.from,
                to: &a.to,
                proto: &a.proto,
                src: a.src,
                ttl: a.ttl,
                reply: a.reply,
            },
            probe: ProbeDoc::new(r),
            reply: r.reply.as_deref().map(ProbeDoc::new),
            id,
        }
    }
}

/// `vpcsim trace --json`.
pub fn trace_json(sc: &Scenario, n: usize, a: &super::TraceArgs, r: &ProbeResult) -> Value {
    trace_doc(Some(&sc.name), super::after(sc, n), a, r)
}

/// The trace document as a `Value`.
pub fn trace_doc(
    scenario: Option<&str>,
    after: super::json::After,
    a: &super::TraceArgs,
    r: &ProbeResult,
) -> Value {
    serde_json::to_value(TraceDoc::new(scenario, &after, a, r, None)).unwrap_or(Value::Null)
}

pub fn run_report(sc: &Scenario, r: &RunReport, diff: Option<&DiffReport>, verbose: bool) {
    println!("vpcsim: scenario `{}` ({})", sc.name, sc.file);
    if !sc.description.is_empty() {
        println!("  {}", sc.description);
    }
    let checks_at = |n: usize| {
        for c in r.checks.iter().filter(|c| c.after_step == n) {
            let mark = if c.pass {
                paint("✓", GREEN)
            } else {
                paint("✗", RED)
            };
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
        let verdict = step_verdict(s);
        let mark = if s.as_expected {
            " ".to_string()
        } else {
            paint("✗", RED)
        };
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
        // What changed, as a two-column table (resource | change) that fits the terminal.
        if !s.changes.is_empty() {
            for line in changes_table(&s.changes, terminal_width()).lines() {
                println!("          {}", line.trim_end());
            }
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
    if let Some(d) = diff {
        super::reach::render_procedure_diff(sc, d);
    }
    // The `Result:` line comes last, so a script can read the verdict from the last line.
    super::timeline::print_outages(&r.outages);
    let steps_ok = r.steps.iter().filter(|s| s.as_expected).count();
    let checks_ok = r.checks.iter().filter(|c| c.pass).count();
    let changes = match diff {
        Some(d) => format!(
            ", {}/{} changes declared",
            d.changes.len() - d.unexpected,
            d.changes.len()
        ),
        None => String::new(),
    };
    println!(
        "\nResult: {steps_ok}/{} steps as expected, {checks_ok}/{} checks passed{inv}{changes} — {}",
        r.steps.len(),
        r.checks.len(),
        if r.pass && diff.is_none_or(|d| d.pass) {
            paint("PASS", GREEN)
        } else {
            paint(
                &format!("FAIL (first: {})", first_failure(r, diff).unwrap_or_default()),
                RED,
            )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_change_table_wraps_to_the_terminal_and_stays_whole_when_piped() {
        let changes = vec![
            "eip-web (47.96.10.20): status Available → InUse; bound to secondary ENI eni-web1 private IP 192.168.1.100 (NAT mode)".to_string(),
            "i-web: detached".to_string(),
        ];
        let piped = changes_table(&changes, None);
        assert_eq!(piped.lines().count(), 2, "{piped}");
        assert!(piped
            .lines()
            .next()
            .unwrap()
            .starts_with("│ eip-web (47.96.10.20) │ status"));
        let narrow = changes_table(&changes, Some(70));
        assert!(narrow.lines().count() > 2, "{narrow}");
        for l in narrow.lines() {
            assert!(l.trim_end().chars().count() <= 60, "too wide: {l}");
        }
    }
}
