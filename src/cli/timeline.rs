//! `vpcsim timeline`: the scenario on one virtual clock with its traffic flowing.

use std::path::PathBuf;
use std::process::ExitCode;

use super::json;

#[derive(clap::Args, Debug)]
pub struct TimelineArgs {
    /// Scenario file (default: the built-in scenario).
    pub file: Option<PathBuf>,
    /// One JSON document (the shared envelope) instead of text.
    #[arg(long)]
    pub json: bool,
    /// Draw the timeline (one lane per traffic entry, steps, outages) to this SVG.
    #[arg(long, value_name = "OUT.svg")]
    pub svg: Option<PathBuf>,
    /// Write every packet, hop by hop, to this pcapng.
    #[arg(long, value_name = "FILE.pcapng")]
    pub capture: Option<PathBuf>,
}

pub fn run(a: TimelineArgs) -> Result<ExitCode, ExitCode> {
    let sc = super::load(a.file.as_deref())?;
    if sc.traffic.is_empty() {
        eprintln!(
            "warning: {} has no [[traffic]]: the timeline shows the steps only (see the built-in scenario's [[traffic]] entries: `vpcsim example`)",
            sc.file
        );
    }
    let r = crate::timeline::run(&sc, a.file.as_deref()).map_err(|e| {
        if a.json {
            json::print(&json::error(
                "timeline",
                json::ErrorDoc {
                    kind: "scenario".into(),
                    message: e.0.clone(),
                    file: Some(sc.file.clone()),
                    ..Default::default()
                },
            ));
        } else {
            eprintln!("error: {}: {e}", sc.file);
        }
        ExitCode::from(2)
    })?;
    if let Some(path) = &a.capture {
        super::write_capture(path, r.passes.iter())?;
    }
    if let Some(path) = &a.svg {
        let title = format!("{} — timeline", sc.name);
        std::fs::write(path, crate::timeline::svg::render(&r.timeline, &title)).map_err(|e| {
            eprintln!("error: writing {}: {e}", path.display());
            ExitCode::from(2)
        })?;
        eprintln!("svg: written to {}", path.display());
    }
    if a.json {
        json::print(&json::envelope(
            "timeline",
            Some(&sc.name),
            None,
            &r.timeline,
        ));
    } else {
        print!("{}", crate::timeline::report::render(&r.timeline, &sc.name));
    }
    Ok(ExitCode::SUCCESS)
}

/// The timeline's outage summary for `vpcsim run` (empty without `[[traffic]]`; a
/// traffic entry that cannot run is a warning there, not a failure of the run).
pub(super) fn outage_summary(
    sc: &crate::scenario::Scenario,
    file: Option<&std::path::Path>,
) -> Vec<String> {
    if sc.traffic.is_empty() {
        return Vec::new();
    }
    match crate::timeline::run(sc, file) {
        Ok(r) => r.timeline.summary,
        Err(e) => {
            eprintln!("warning: {}: the timeline cannot run: {e}", sc.file);
            Vec::new()
        }
    }
}

pub(super) fn print_outages(lines: &[String]) {
    if lines.is_empty() {
        return;
    }
    println!("\nWhile traffic flows through the steps (`vpcsim timeline` for the full report):");
    for l in lines {
        println!("  {l}");
    }
}
