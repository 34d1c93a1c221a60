//! A sweep's outputs: the CSV table and the SVG plot of Mpps against flows.

use std::fmt::Write as _;

use super::Point;

pub fn to_csv(points: &[Point]) -> String {
    let mut s = String::from("threads,flows,mpps,mpps_min,mpps_max,repeat,mpps_per_thread,ns_per_packet_per_core,floor_ns,new_flows_per_s,bytes_per_connection,verified\n");
    for p in points {
        let _ = writeln!(
            s,
            "{},{},{:.3},{:.3},{:.3},{},{:.3},{:.2},{:.2},{:.0},{:.1},{}",
            p.threads,
            p.flows,
            p.mpps,
            p.mpps_spread.min,
            p.mpps_spread.max,
            p.repeat,
            p.mpps_per_thread,
            p.ns_per_packet_per_core,
            p.floor_ns_per_packet,
            p.new_flows_per_second,
            p.bytes_per_connection,
            p.verified
                .map_or("skipped", |v| if v { "yes" } else { "NO" })
        );
    }
    s
}

/// What a sweep plot is about: its title names scenario, mix, packets and machine.
pub fn plot_title(scenario: &str, mix: &str, packets: usize, frame_len: usize) -> String {
    format!(
        "vpcsim bench: {scenario} · mix {mix} · {} packets of {frame_len} B · {}",
        human(packets),
        machine()
    )
}

/// The CPU model and the number of cores this process may use.
fn machine() -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.split_whitespace().collect::<Vec<_>>().join(" "))
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("{model}, {cores} cores")
}

/// Mpps against concurrent flows (log scale), one line per thread count, drawn with
/// plotters' SVG backend (text as SVG text: no fonts needed to draw it).
pub fn to_svg(points: &[Point], title: &str) -> String {
    let mut out = String::new();
    if let Err(e) = draw_svg(&mut out, points, title) {
        return format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\"><text x=\"10\" y=\"20\">plot failed: {e}</text></svg>\n"
        );
    }
    out
}

fn draw_svg(
    out: &mut String,
    points: &[Point],
    title: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    use plotters::prelude::*;
    let root = SVGBackend::with_string(out, (900, 500)).into_drawing_area();
    root.fill(&WHITE)?;
    let fmin = points.iter().map(|p| p.flows.max(1)).min().unwrap_or(1) as f64;
    let fmax = points.iter().map(|p| p.flows.max(1)).max().unwrap_or(10) as f64;
    // Whole decades on x, a round top on y.
    let x0 = 10f64.powf(fmin.log10().floor());
    let x1 = 10f64.powf(fmax.log10().ceil()).max(x0 * 10.0);
    let top = points
        .iter()
        .map(|p| p.mpps_spread.max.max(p.mpps))
        .fold(0.0f64, f64::max)
        .max(0.1)
        * 1.15;
    let step = 10f64.powf(top.log10().floor());
    let ymax = (top / step).ceil() * step;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 15))
        .margin(14)
        .x_label_area_size(44)
        .y_label_area_size(60)
        .build_cartesian_2d((x0..x1).log_scale(), 0f64..ymax)?;
    chart
        .configure_mesh()
        .x_desc("concurrent flows (log scale)")
        .y_desc("established-flow throughput, Mpps")
        .x_label_formatter(&|v| human(v.round() as usize))
        .y_label_formatter(&|v| format!("{v:.1}"))
        .light_line_style(RGBColor(235, 235, 235))
        .bold_line_style(RGBColor(200, 200, 200))
        .draw()?;
    let colors = [
        RGBColor(31, 119, 180),
        RGBColor(214, 39, 40),
        RGBColor(44, 160, 44),
        RGBColor(148, 103, 189),
    ];
    let mut threads: Vec<u16> = points.iter().map(|p| p.threads).collect();
    threads.sort_unstable();
    threads.dedup();
    for (k, th) in threads.iter().enumerate() {
        let c = colors[k % colors.len()];
        let mut pts: Vec<(f64, f64)> = points
            .iter()
            .filter(|p| p.threads == *th)
            .map(|p| (p.flows.max(1) as f64, p.mpps))
            .collect();
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        chart
            .draw_series(LineSeries::new(pts.clone(), c.stroke_width(2)))?
            .label(format!("{th} thread(s)"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2)));
        chart.draw_series(pts.into_iter().map(|p| Circle::new(p, 3, c.filled())))?;
        // The spread of the repeats: a bar from the slowest to the fastest.
        chart.draw_series(points.iter().filter(|p| p.threads == *th).map(|p| {
            let x = p.flows.max(1) as f64;
            PathElement::new(
                vec![(x, p.mpps_spread.min), (x, p.mpps_spread.max)],
                c.stroke_width(1),
            )
        }))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

fn human(n: usize) -> String {
    if n >= 1_000_000 && n.is_multiple_of(1_000_000) {
        format!("{}M", n / 1_000_000)
    } else if n >= 1000 && n.is_multiple_of(1000) {
        format!("{}k", n / 1000)
    } else {
        n.to_string()
    }
}

#[cfg(test)]
mod plot_tests {
    use std::collections::BTreeMap;

    use super::super::Spread;
    use super::*;

    fn point(threads: u16, flows: usize, mpps: f64) -> Point {
        Point {
            scenario: "s".into(),
            repeat: 1,
            mpps_spread: Spread::of(vec![mpps]),
            new_flows_per_second_spread: Spread::of(vec![1.0]),
            established_over_floor_spread: Spread::of(vec![10.0]),
            new_flows_timed: flows,
            threads,
            flows,
            frame_len: 64,
            flows_by_path: BTreeMap::new(),
            unavailable_paths: vec![],
            new_flows: flows,
            new_flow_seconds: 0.1,
            new_flows_per_second: 1.0,
            new_flows_per_second_per_thread: 1.0,
            packets: 1000,
            established_seconds: 0.1,
            mpps,
            mpps_per_thread: mpps,
            ns_per_packet: 100.0,
            ns_per_packet_per_core: 100.0,
            floor_ns_per_packet: 10.0,
            established_over_floor: 10.0,
            bytes_per_connection: 100.0,
            connections: flows,
            delivered: 0,
            to_internet: 0,
            dropped: BTreeMap::new(),
            fast_path: 0,
            slow_path: 0,
            flows_created: 0,
            verified: Some(true),
            verify_detail: String::new(),
        }
    }

    #[test]
    fn the_sweep_plot_has_a_title_round_ticks_and_one_line_per_thread_count() {
        let pts = [
            point(1, 1000, 3.93),
            point(1, 100_000, 2.71),
            point(2, 1000, 7.1),
            point(2, 100_000, 5.2),
        ];
        let title = plot_title("same-eip-for-egress", "snat=3", 4_000_000, 64);
        assert!(
            title.contains("same-eip-for-egress")
                && title.contains("snat=3")
                && title.contains("4M packets")
        );
        let svg = to_svg(&pts, &title);
        assert!(svg.contains("same-eip-for-egress"), "no title");
        // plotters writes each label on a line of its own.
        let labels: Vec<&str> = svg.lines().map(str::trim).collect();
        assert!(
            labels.contains(&"1k") && labels.contains(&"100k"),
            "x ticks are not round decades"
        );
        assert!(
            labels.contains(&"2.0") && labels.contains(&"4.0"),
            "y ticks are not round"
        );
        assert!(svg.contains("#EBEBEB"), "no gridlines");
        assert!(svg.contains("1 thread(s)") && svg.contains("2 thread(s)"));
        assert!(!svg.contains("3.929"), "unrounded values");
    }
}
