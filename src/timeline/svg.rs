//! The timeline as a picture: one lane per traffic entry, steps as vertical lines,
//! outages red, connections as bars, address changes labelled. Hand-written SVG.

use std::fmt::Write;

use super::report::Timeline;

const LEFT: f64 = 330.0;
const WIDTH: f64 = 1180.0;
const LANE_H: f64 = 46.0;
const TOP: f64 = 70.0;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Renders `t` (deterministic: the same timeline gives the same bytes).
pub fn render(t: &Timeline, title: &str) -> String {
    let plot = WIDTH - LEFT - 30.0;
    let x = |s: f64| LEFT + plot * (s / t.end_s.max(0.001));
    let lanes = t.lanes.len() as f64;
    let height = TOP + LANE_H * lanes + 150.0;
    let mut o = String::new();
    let _ = writeln!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="DejaVu Sans, sans-serif" font-size="12">"#
    );
    let _ = writeln!(o, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        o,
        r#"<text x="10" y="22" font-size="15" font-weight="bold">{}</text>"#,
        esc(title)
    );
    let _ = writeln!(
        o,
        r##"<text class="legend" x="10" y="42" fill="#444" font-size="11">green: working · red: out (the drop reason of the first lost packet) · ✕: a connection broke · dashed: steps (grey: refused)</text>"##
    );
    let axis_y = TOP + LANE_H * lanes + 10.0;
    // Time axis.
    let _ = writeln!(
        o,
        r##"<line x1="{:.1}" y1="{axis_y:.1}" x2="{:.1}" y2="{axis_y:.1}" stroke="#444"/>"##,
        x(0.0),
        x(t.end_s)
    );
    let mut s = 0.0;
    while s <= t.end_s + 1e-9 {
        let _ = writeln!(
            o,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#444">{s:.0} s</text>"##,
            x(s),
            axis_y + 16.0
        );
        s += 1.0;
    }
    // Steps: vertical lines, labelled at the bottom (applied) or faint (refused).
    for (i, st) in t.steps.iter().enumerate() {
        let applied = st.outcome == "applied";
        let colour = if applied { "#3060c0" } else { "#bbbbbb" };
        let _ = writeln!(
            o,
            r#"<line class="step" x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{axis_y:.1}" stroke="{colour}" stroke-dasharray="4 3"/>"#,
            x(st.at_s),
            TOP - 12.0,
            x(st.at_s)
        );
        if applied {
            let ly = axis_y + 34.0 + 13.0 * (i % 6) as f64;
            let _ = writeln!(
                o,
                r#"<text class="step-label" x="{:.1}" y="{ly:.1}" fill="{colour}" font-size="10">{} {}</text>"#,
                x(st.at_s) + 2.0,
                st.step,
                esc(st.id.as_deref().unwrap_or(st.op))
            );
        }
    }
    for (li, l) in t.lanes.iter().enumerate() {
        let y = TOP + LANE_H * li as f64;
        let _ = writeln!(
            o,
            r#"<g class="lane" data-name="{}"><text x="10" y="{:.1}" font-weight="bold">{}</text>"#,
            esc(&l.name),
            y + 16.0,
            esc(&l.name)
        );
        let sub = match (&l.to, l.service) {
            (Some(to), Some(sv)) => format!("{} {sv} {} → {to}", l.kind, l.from),
            _ => format!("{} at {}", l.kind, l.from),
        };
        let _ = writeln!(
            o,
            r##"<text x="10" y="{:.1}" fill="#666" font-size="10">{}</text>"##,
            y + 30.0,
            esc(&sub)
        );
        let bar_y = y + 8.0;
        // Background: the lane's span.
        let _ = writeln!(
            o,
            r##"<rect x="{:.1}" y="{bar_y:.1}" width="{:.1}" height="18" fill="#f2f2f2"/>"##,
            x(0.0),
            plot
        );
        // Up: each connection that worked, green from its start (or handshake) to its end.
        for c in &l.connections {
            let from = c.established_s.unwrap_or(c.started_s);
            let to = c
                .broke
                .as_ref()
                .map(|b| b.at_s)
                .or(c.ended_s)
                .unwrap_or(t.end_s);
            if c.ok || c.broke.as_ref().is_some_and(|_| c.established_s.is_some()) {
                let w = if l.kind == "probe" {
                    (x(c.started_s + 0.9) - x(c.started_s)).max(2.0)
                } else {
                    (x(to) - x(from)).max(2.0)
                };
                let _ = writeln!(
                    o,
                    r##"<rect class="up" x="{:.1}" y="{bar_y:.1}" width="{w:.1}" height="18" fill="#5cb85c"/>"##,
                    x(if l.kind == "probe" { c.started_s } else { from })
                );
            }
        }
        // Out: red windows with their reason.
        for w in &l.outages {
            let to = w.to_s.unwrap_or(t.end_s);
            let _ = writeln!(
                o,
                r##"<rect class="outage" x="{:.1}" y="{bar_y:.1}" width="{:.1}" height="18" fill="#d9534f"><title>{}</title></rect>"##,
                x(w.from_s),
                (x(to) - x(w.from_s)).max(2.0),
                esc(&w.reason)
            );
            let _ = writeln!(
                o,
                r#"<text class="outage-label" x="{:.1}" y="{:.1}" fill="white" font-size="9">{}</text>"#,
                x(w.from_s) + 2.0,
                bar_y + 13.0,
                esc(&w.reason)
            );
        }
        // Breaks: a black mark.
        for c in &l.connections {
            if let (Some(b), Some(_)) = (&c.broke, c.established_s) {
                let _ = writeln!(
                    o,
                    r#"<text class="break" x="{:.1}" y="{:.1}" font-size="14" font-weight="bold">✕<title>{}</title></text>"#,
                    x(b.at_s) - 5.0,
                    bar_y + 14.0,
                    esc(&format!(
                        "#{} {} {}",
                        c.n,
                        b.how,
                        b.reason.as_deref().unwrap_or("")
                    ))
                );
            }
        }
        let _ = writeln!(o, "</g>");
    }
    // Address changes: a label above the lane at the change.
    for a in &t.address_changes {
        let Some(li) = t.lanes.iter().position(|l| l.name == a.lane) else {
            continue;
        };
        let y = TOP + LANE_H * li as f64;
        let _ = writeln!(
            o,
            r#"<text class="address-change" x="{:.1}" y="{:.1}" font-size="10" font-weight="bold">{} → {}</text>"#,
            x(a.at_s) + 3.0,
            y + 4.0,
            esc(&a.from),
            esc(&a.to)
        );
    }
    let _ = writeln!(o, "</svg>");
    o
}
