//! `vpcsim draw`: the VPC as an SVG picture — VSwitches grouped by zone, instances with
//! their ENIs and devices, EIPs and what they are bound to, NAT gateways with their
//! SNAT/DNAT entries, route tables and security groups — and optionally the path of
//! one or more traces, hop by hop, numbered, over it.
//!
//! The layout is a fixed grid (one column per zone, boxes stacked), written by hand:
//! a text-only SVG that any renderer draws without fonts beyond a monospace family.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::model::{Cloud, SnatSource};
use crate::probe::ProbeResult;

#[derive(clap::Args, Debug)]
pub struct DrawArgs {
    /// Scenario file or import folder (default: the built-in scenario).
    pub file: Option<PathBuf>,
    /// Draw the topology after this step: a number (0 = the initial topology) or a step
    /// id (default: all).
    #[arg(long, alias = "after-step", value_name = "STEP")]
    pub after: Option<String>,
    /// Draw a trace's path: the arguments of `vpcsim trace`, quoted, e.g.
    /// `--trace "--from i-web --to 203.0.113.80:443"` (also --proto, --src, --ttl,
    /// --reply). Repeatable.
    #[arg(long, allow_hyphen_values = true, value_name = "TRACE ARGS")]
    pub trace: Vec<String>,
    /// Output SVG file (default: standard output).
    #[arg(short, long, value_name = "OUT.svg")]
    pub output: Option<PathBuf>,
}

pub fn run(a: DrawArgs) -> Result<ExitCode, ExitCode> {
    let out = super::Out {
        command: "draw",
        json: false,
    };
    let sc = out.load(a.file.as_deref())?;
    let n = out.after_step(&sc, a.after.as_deref())?;
    let cloud = sc.state_after(n);
    let mut traces = Vec::new();
    for t in &a.trace {
        let args = parse_trace(t).map_err(|e| out.bad(format!("--trace \"{t}\": {e}")))?;
        let r =
            super::probe(&cloud, &args).map_err(|e| out.bad(format!("--trace \"{t}\": {e}")))?;
        traces.push((args, r));
    }
    let title = format!("{} — after {n} of {} steps", sc.name, sc.steps.len());
    let svg = render(&cloud, &title, &traces);
    match &a.output {
        Some(p) => {
            std::fs::write(p, &svg)
                .map_err(|e| out.bad(format!("cannot write {}: {e}", p.display())))?;
            eprintln!(
                "wrote {} ({} instances, {} ENIs, {} EIPs, {} trace(s))",
                p.display(),
                cloud.instances.len(),
                cloud.enis.len(),
                cloud.eips.len(),
                traces.len()
            );
        }
        None => print!("{svg}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// `--from EP --to IP:PORT [--proto P] [--src IP] [--ttl N] [--reply]`.
pub(crate) fn parse_trace(s: &str) -> Result<super::TraceArgs, String> {
    let mut a = super::TraceArgs {
        from: String::new(),
        to: String::new(),
        proto: "tcp".into(),
        src: None,
        after_step: None,
        reply: false,
        ttl: 64,
    };
    let mut words = s.split_whitespace();
    while let Some(w) = words.next() {
        let mut value = |name: &str| {
            words
                .next()
                .map(str::to_string)
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match w {
            "--from" => a.from = value(w)?,
            "--to" => a.to = value(w)?,
            "--proto" => a.proto = value(w)?,
            "--src" => {
                let v = value(w)?;
                a.src = Some(
                    v.parse()
                        .map_err(|_| format!("--src `{v}` is not an IPv4 address"))?,
                );
            }
            "--ttl" => {
                let v = value(w)?;
                a.ttl = v
                    .parse()
                    .map_err(|_| format!("--ttl `{v}` is not a number 0-255"))?;
            }
            "--reply" => a.reply = true,
            o => {
                return Err(format!(
                    "unknown `{o}`: use --from, --to, --proto, --src, --ttl, --reply"
                ))
            }
        }
    }
    if a.from.is_empty() || a.to.is_empty() {
        return Err("give --from and --to".into());
    }
    Ok(a)
}

const CH: f64 = 6.6; // width of one character at 11px monospace
const LH: f64 = 15.0; // line height
const COL: f64 = 430.0; // zone column width
const GAP: f64 = 24.0;
const PAD: f64 = 8.0;

#[derive(Clone, Copy, Debug)]
struct Rect {
    x: f64,
    y: f64,
    w: f64,
    h: f64,
}

impl Rect {
    fn center(&self) -> (f64, f64) {
        (self.x + self.w / 2.0, self.y + self.h / 2.0)
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Cuts `s` to what fits `width` pixels.
fn fit(s: &str, width: f64) -> String {
    let max = (width / CH).floor().max(4.0) as usize;
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let cut: String = s.chars().take(max - 1).collect();
        format!("{cut}…")
    }
}

struct Svg {
    body: String,
    boxes: HashMap<String, Rect>,
}

impl Svg {
    fn rect(&mut self, r: Rect, fill: &str, stroke: &str, dashed: bool) {
        let _ = writeln!(
            self.body,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" rx=\"5\" fill=\"{fill}\" stroke=\"{stroke}\"{}/>",
            r.x,
            r.y,
            r.w,
            r.h,
            if dashed { " stroke-dasharray=\"5 3\"" } else { "" }
        );
    }

    fn text(&mut self, x: f64, y: f64, s: &str, width: f64, class: &str) {
        let _ = writeln!(
            self.body,
            "<text x=\"{x:.1}\" y=\"{y:.1}\" class=\"{class}\">{}</text>",
            esc(&fit(s, width))
        );
    }

    /// A titled box with lines; registers it under `ids`.
    #[allow(clippy::too_many_arguments)] // a position, a size and the contents
    fn card(
        &mut self,
        x: f64,
        y: f64,
        w: f64,
        title: &str,
        lines: &[String],
        fill: &str,
        ids: &[&str],
    ) -> Rect {
        let h = PAD * 1.5 + LH * (1 + lines.len()) as f64;
        let r = Rect { x, y, w, h };
        self.rect(r, fill, "#555", false);
        self.text(x + PAD, y + PAD + 10.0, title, w - 2.0 * PAD, "b");
        for (i, l) in lines.iter().enumerate() {
            self.text(
                x + PAD,
                y + PAD + 10.0 + LH * (i + 1) as f64,
                l,
                w - 2.0 * PAD,
                "t",
            );
        }
        for id in ids {
            self.boxes.insert((*id).to_string(), r);
        }
        r
    }
}

/// The picture of `cloud`, with `traces` drawn over it.
pub fn render(cloud: &Cloud, title: &str, traces: &[(super::TraceArgs, ProbeResult)]) -> String {
    let mut s = Svg {
        body: String::new(),
        boxes: HashMap::new(),
    };
    let mut y = 44.0;
    // The Internet, with the EIPs along it.
    let eips: Vec<_> = cloud.eips.values().collect();
    let per_row = 5usize;
    let tag_w = 190.0;
    let rows = eips.len().div_ceil(per_row).max(1);
    let width_guess = (per_row as f64 * (tag_w + 10.0) + 2.0 * PAD).max(900.0);
    let inet = Rect {
        x: 20.0,
        y,
        w: width_guess,
        h: 30.0 + rows as f64 * 40.0,
    };
    s.rect(inet, "#eef5ff", "#4a78b5", false);
    s.text(
        inet.x + PAD,
        inet.y + 16.0,
        "Internet — EIPs and public addresses",
        inet.w,
        "b",
    );
    s.boxes.insert("internet".into(), inet);
    let mut eip_tags: Vec<(String, Rect, Option<String>)> = Vec::new();
    for (i, e) in eips.iter().enumerate() {
        let r = Rect {
            x: inet.x + PAD + (i % per_row) as f64 * (tag_w + 10.0),
            y: inet.y + 26.0 + (i / per_row) as f64 * 40.0,
            w: tag_w,
            h: 34.0,
        };
        s.rect(r, "#fff7e0", "#c08a00", false);
        s.text(
            r.x + 6.0,
            r.y + 13.0,
            &format!("{} {}", e.id, e.address),
            tag_w - 12.0,
            "b",
        );
        let bound = e.binding.as_ref().map_or_else(
            || format!("{:?}, unbound", e.status),
            |b| format!("→ {} ({:?})", b.resource, b.mode),
        );
        s.text(r.x + 6.0, r.y + 27.0, &bound, tag_w - 12.0, "t");
        s.boxes.insert(e.id.clone(), r);
        s.boxes.insert(e.address.to_string(), r);
        eip_tags.push((
            e.id.clone(),
            r,
            e.binding.as_ref().map(|b| b.resource.clone()),
        ));
    }
    y = inet.y + inet.h + 40.0;
    let mut max_x = inet.x + inet.w;
    for vpc in cloud.vpcs.values() {
        let top = y;
        let x0 = 20.0;
        s.text(
            x0 + PAD,
            y + 16.0,
            &format!("VPC {} {}", vpc.id, vpc.cidr),
            800.0,
            "h",
        );
        y += 26.0;
        // Route tables across the top.
        let mut rx = x0 + PAD;
        let mut row_h: f64 = 0.0;
        for rt in cloud.route_tables.values().filter(|r| r.vpc == vpc.id) {
            let lines: Vec<String> = rt
                .entries
                .iter()
                .map(|e| format!("{} → {}", e.destination, e.next_hop.describe()))
                .collect();
            let r = s.card(
                rx,
                y,
                COL,
                &format!("route table {} ({:?})", rt.id, rt.kind),
                &lines,
                "#f4f4f4",
                &[rt.id.as_str()],
            );
            rx += COL + GAP;
            row_h = row_h.max(r.h);
        }
        y += row_h + GAP;
        // Zones as columns, VSwitches stacked in them.
        let mut zones: BTreeMap<&str, Vec<&crate::model::VSwitch>> = BTreeMap::new();
        for v in cloud.vswitches.values().filter(|v| v.vpc == vpc.id) {
            zones.entry(v.zone.as_str()).or_default().push(v);
        }
        let mut col_bottom: f64 = y;
        for (zi, (zone, vsws)) in zones.iter().enumerate() {
            let zx = x0 + PAD + zi as f64 * (COL + GAP + 2.0 * PAD);
            let mut zy = y + 22.0;
            for vsw in vsws {
                let vtop = zy;
                zy += 22.0;
                let inner_x = zx + PAD;
                let inner_w = COL - 2.0 * PAD;
                for ngw in cloud.nat_gateways.values().filter(|g| g.vswitch == vsw.id) {
                    let mut lines = vec![format!("EIPs: {}", ngw.eips.join(", "))];
                    for e in &ngw.snat_entries {
                        let src = match &e.source {
                            SnatSource::VSwitch(v) => v.clone(),
                            SnatSource::Cidr(c) => c.to_string(),
                            SnatSource::NetworkInterface(n) => n.clone(),
                        };
                        let ips: Vec<String> = e.snat_ips.iter().map(|i| i.to_string()).collect();
                        lines.push(format!("SNAT {} {src} → {}", e.id, ips.join(",")));
                    }
                    for f in &ngw.forward_entries {
                        lines.push(format!(
                            "DNAT {} {}:{} → {}:{} {:?}",
                            f.id,
                            f.external_ip,
                            f.external_port,
                            f.internal_ip,
                            f.internal_port,
                            f.protocol
                        ));
                    }
                    let mut ids: Vec<&str> = vec![ngw.id.as_str()];
                    ids.extend(ngw.snat_entries.iter().map(|e| e.id.as_str()));
                    ids.extend(ngw.forward_entries.iter().map(|e| e.id.as_str()));
                    let r = s.card(
                        inner_x,
                        zy,
                        inner_w,
                        &format!("NAT gateway {}", ngw.id),
                        &lines,
                        "#e8f7ec",
                        &ids,
                    );
                    zy += r.h + 10.0;
                }
                let mut placed_enis: Vec<&str> = Vec::new();
                for inst in cloud.instances.values().filter(|i| {
                    i.primary_eni()
                        .and_then(|e| cloud.enis.get(e))
                        .is_some_and(|e| e.vswitch == vsw.id)
                }) {
                    let name = if inst.name.is_empty() || inst.name == inst.id {
                        String::new()
                    } else {
                        format!(" \"{}\"", inst.name)
                    };
                    let mut lines = Vec::new();
                    if let Some(p) = inst.public_ip {
                        lines.push(format!("static public IP {p}"));
                    }
                    for (dev, eid) in inst.enis.iter().enumerate() {
                        let Some(e) = cloud.enis.get(eid) else {
                            continue;
                        };
                        let mut ips = vec![e.primary_ip.to_string()];
                        ips.extend(e.secondary_ips.iter().map(|i| i.to_string()));
                        lines.push(format!(
                            "eth{dev} {} {} [{}]{}",
                            e.id,
                            ips.join(","),
                            e.security_groups.join(","),
                            if e.vswitch == vsw.id {
                                String::new()
                            } else {
                                format!(" in {}", e.vswitch)
                            }
                        ));
                        placed_enis.push(eid);
                    }
                    let mut ids: Vec<&str> = vec![inst.id.as_str()];
                    ids.extend(inst.enis.iter().map(String::as_str));
                    let r = s.card(
                        inner_x,
                        zy,
                        inner_w,
                        &format!(
                            "{}{name} · {:?} · {}",
                            inst.id, inst.status, inst.instance_type
                        ),
                        &lines,
                        "#ffffff",
                        &ids,
                    );
                    zy += r.h + 10.0;
                }
                for e in cloud
                    .enis
                    .values()
                    .filter(|e| e.vswitch == vsw.id && e.instance.is_none())
                {
                    let r = s.card(
                        inner_x,
                        zy,
                        inner_w,
                        &format!("ENI {} ({:?})", e.id, e.status),
                        &[format!(
                            "{} [{}]",
                            e.primary_ip,
                            e.security_groups.join(",")
                        )],
                        "#fafafa",
                        &[e.id.as_str()],
                    );
                    zy += r.h + 10.0;
                }
                for h in cloud.havips.values().filter(|h| h.vswitch == vsw.id) {
                    let r = s.card(
                        inner_x,
                        zy,
                        inner_w,
                        &format!("HaVip {} {}", h.id, h.ip),
                        &[],
                        "#fafafa",
                        &[h.id.as_str()],
                    );
                    zy += r.h + 10.0;
                }
                let vr = Rect {
                    x: zx,
                    y: vtop,
                    w: COL,
                    h: zy - vtop,
                };
                s.rect(vr, "none", "#7a7a7a", true);
                s.text(
                    zx + PAD,
                    vtop + 15.0,
                    &format!(
                        "VSwitch {} {} (route table {})",
                        vsw.id, vsw.cidr, vsw.route_table
                    ),
                    COL - 2.0 * PAD,
                    "b",
                );
                s.boxes.entry(vsw.id.clone()).or_insert(vr);
                zy += 14.0;
            }
            let zr = Rect {
                x: zx - 4.0,
                y: y + 2.0,
                w: COL + 8.0,
                h: zy - y,
            };
            s.rect(zr, "none", "#b0b0b0", false);
            s.text(zx, y + 16.0, &format!("zone {zone}"), COL, "h");
            col_bottom = col_bottom.max(zy);
            max_x = max_x.max(zx + COL + PAD);
        }
        // Security groups to the right of the zones.
        let sgx = x0 + PAD + zones.len() as f64 * (COL + GAP + 2.0 * PAD);
        let mut sgy = y;
        for sg in cloud.security_groups.values().filter(|g| g.vpc == vpc.id) {
            let mut lines: Vec<String> = sg.rules.iter().map(|r| r.describe()).collect();
            if lines.is_empty() {
                lines.push("no rules".into());
            }
            let r = s.card(
                sgx,
                sgy,
                COL,
                &format!("security group {} ({:?})", sg.id, sg.kind),
                &lines,
                "#fdf0f0",
                &[sg.id.as_str()],
            );
            sgy += r.h + 10.0;
            max_x = max_x.max(sgx + COL + PAD);
        }
        let bottom = col_bottom.max(sgy) + 10.0;
        let vr = Rect {
            x: x0,
            y: top,
            w: max_x - x0,
            h: bottom - top,
        };
        // Drawn first under everything: prepend.
        s.body.insert_str(
            0,
            &format!(
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" rx=\"8\" fill=\"#fbfbf6\" stroke=\"#333\" stroke-width=\"1.5\"/>\n",
                vr.x, vr.y, vr.w, vr.h
            ),
        );
        s.boxes.entry(vpc.id.clone()).or_insert(vr);
        y = bottom + 30.0;
    }
    // EIP bindings: a line from the tag to what it is bound to.
    for (_, tag, target) in &eip_tags {
        if let Some(r) = target.as_ref().and_then(|t| s.boxes.get(t)).copied() {
            let (tx, ty) = (tag.x + tag.w / 2.0, tag.y + tag.h);
            let _ = writeln!(
                s.body,
                "<line x1=\"{tx:.1}\" y1=\"{ty:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"#c08a00\" stroke-width=\"1.2\" stroke-dasharray=\"4 3\"/>",
                r.x + r.w / 2.0,
                r.y
            );
        }
    }
    // Traces: numbered points through the resources that decided, in order.
    let colors = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd"];
    let mut legend = Vec::new();
    for (k, (args, r)) in traces.iter().enumerate() {
        let c = colors[k % colors.len()];
        legend.push((
            c,
            format!(
                "trace {}: --from {} --to {} → {}",
                k + 1,
                args.from,
                args.to,
                r.disposition
            ),
        ));
        let mut pts: Vec<(f64, f64)> = Vec::new();
        let mut labels: Vec<String> = Vec::new();
        let mut internet_visits = 0.0;
        let mut push = |key: &str, label: String, pts: &mut Vec<(f64, f64)>| {
            let key = if key.starts_with("internet") {
                "internet"
            } else {
                key
            };
            if let Some(b) = s.boxes.get(key) {
                // Points on the right edge of a box, so its text stays readable; each
                // trace a little apart so overlapping paths stay distinct.
                let (_, cy) = b.center();
                let mut x = b.x + b.w - 24.0 - 14.0 * k as f64;
                if key == "internet" {
                    x -= 60.0 * internet_visits;
                    internet_visits += 1.0;
                }
                let p = (x, cy + 6.0 * k as f64);
                if pts.last() != Some(&p) {
                    pts.push(p);
                    labels.push(label);
                }
            }
        };
        for leg in std::iter::once(r).chain(r.reply.as_deref()) {
            let start = if std::ptr::eq(leg, r) {
                args.from.clone()
            } else {
                r.eni
                    .clone()
                    .or_else(|| r.instance.clone())
                    .unwrap_or_else(|| "internet".into())
            };
            let what = if std::ptr::eq(leg, r) {
                "send"
            } else {
                "reply"
            };
            push(&start, format!("{what} {}", leg.sent), &mut pts);
            for h in &leg.hops {
                push(&h.resource, format!("{} {}", h.stage, h.resource), &mut pts);
            }
            let end = match leg.disposition {
                "delivered" => leg.eni.clone().unwrap_or_default(),
                "internet" => "internet".into(),
                _ => String::new(),
            };
            if !end.is_empty() {
                let label = if what == "reply" {
                    format!("reply {} ({})", leg.disposition, leg.sent)
                } else {
                    leg.disposition.to_string()
                };
                push(&end, label, &mut pts);
            }
        }
        if pts.len() >= 2 {
            let path: Vec<String> = pts.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
            let _ = writeln!(
                s.body,
                "<polyline points=\"{}\" fill=\"none\" stroke=\"{c}\" stroke-width=\"2.5\" stroke-opacity=\"0.8\" marker-end=\"url(#arrow{k})\"/>",
                path.join(" ")
            );
        }
        for (i, ((x, y), label)) in pts.iter().zip(&labels).enumerate() {
            let _ = writeln!(
                s.body,
                "<g><title>{}</title><circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"9\" fill=\"{c}\"/><text x=\"{x:.1}\" y=\"{:.1}\" class=\"n\">{}</text></g>",
                esc(label),
                y + 4.0,
                i + 1
            );
        }
        for (i, label) in labels.iter().enumerate() {
            legend.push((c, format!("{:>4}  {label}", i + 1)));
        }
        if let Some(reason) = r.reason {
            legend.push((c, format!("      dropped: {reason}")));
        }
    }
    let mut ly = y;
    for (c, l) in &legend {
        let _ = writeln!(
            s.body,
            "<text x=\"28\" y=\"{ly:.1}\" class=\"t\" fill=\"{c}\" xml:space=\"preserve\">{}</text>",
            esc(&fit(l, max_x - 40.0))
        );
        ly += LH;
    }
    let height = ly + 20.0;
    let width = max_x + 20.0;
    let mut markers = String::new();
    for (k, c) in colors.iter().enumerate() {
        let _ = write!(
            markers,
            "<marker id=\"arrow{k}\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"{c}\"/></marker>"
        );
    }
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" viewBox=\"0 0 {width:.0} {height:.0}\">\n\
<defs>{markers}<style>text{{font-family:'DejaVu Sans Mono',monospace;font-size:11px;fill:#222}} .b{{font-weight:bold}} .h{{font-size:13px;font-weight:bold}} .n{{fill:#fff;font-size:10px;text-anchor:middle;font-weight:bold}}</style></defs>\n\
<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
<text x=\"20\" y=\"26\" class=\"h\">{}</text>\n{}</svg>\n",
        esc(&format!("vpcsim: {title}")),
        s.body
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_arguments_parse_and_refuse_unknown_words() {
        let a = parse_trace("--from i-web --to 1.2.3.4:80 --reply --proto udp").unwrap();
        assert_eq!(
            (a.from.as_str(), a.to.as_str(), a.proto.as_str()),
            ("i-web", "1.2.3.4:80", "udp")
        );
        assert!(a.reply);
        assert!(parse_trace("--from i-web").is_err());
        assert!(parse_trace("--from i-web --to 1.2.3.4:80 --bogus").is_err());
    }

    #[test]
    fn the_picture_names_every_instance_eni_eip_and_nat_entry() {
        let sc = crate::scenario::Scenario::load(None).unwrap();
        let cloud = sc.state_after(sc.steps.len());
        let svg = render(&cloud, "t", &[]);
        for id in cloud
            .instances
            .keys()
            .chain(cloud.enis.keys())
            .chain(cloud.eips.keys())
            .chain(cloud.nat_gateways.keys())
            .chain(cloud.security_groups.keys())
        {
            assert!(svg.contains(id.as_str()), "{id} missing from the picture");
        }
        for g in cloud.nat_gateways.values() {
            for e in &g.snat_entries {
                assert!(svg.contains(&format!("SNAT {}", e.id)));
            }
        }
    }
}
