//! `vpcsim import`: a folder of `aliyun` Describe* JSON responses to a scenario.

use std::process::ExitCode;

use super::json;

/// `vpcsim import`: the scenario on stdout or in a file, the warnings on stderr (or in
/// the JSON document), exit 2 on an error — or on any warning with `--strict`.
pub(super) fn run(
    dir: &std::path::Path,
    output: Option<&std::path::Path>,
    strict: bool,
    quiet: bool,
    as_json: bool,
) -> Result<ExitCode, ExitCode> {
    let imp = match crate::import::import_dir(dir) {
        Ok(i) => i,
        Err(e) => {
            if as_json {
                json::print(&json::error(
                    "import",
                    json::ErrorDoc {
                        kind: "import".into(),
                        message: e.to_string(),
                        file: Some(dir.display().to_string()),
                        ..json::ErrorDoc::default()
                    },
                ));
            } else {
                eprintln!("error: {e}");
            }
            return Err(ExitCode::from(2));
        }
    };
    let n: usize = imp.warnings.iter().map(|w| w.count).sum();
    let failed = strict && !imp.warnings.is_empty();
    let label = if strict { "error" } else { "warning" };
    if let Some(path) = output.filter(|_| !failed) {
        std::fs::write(path, &imp.toml).map_err(|e| {
            eprintln!("error: cannot write {}: {e}", path.display());
            ExitCode::from(2)
        })?;
    }
    if as_json {
        let name = crate::scenario::Scenario::parse(&imp.toml, "imported")
            .map(|s| s.name)
            .ok();
        let warnings: Vec<serde_json::Value> = imp
            .warnings
            .iter()
            .map(|w| {
                serde_json::json!({
                    "kind": w.kind, "count": w.count, "examples": w.examples, "hint": w.hint,
                })
            })
            .collect();
        let sources: Vec<serde_json::Value> = imp
            .sources
            .iter()
            .map(|(f, k)| serde_json::json!({"file": f.display().to_string(), "call": k.to_string()}))
            .collect();
        json::print(&json::envelope(
            "import",
            name.as_deref(),
            None,
            serde_json::json!({
                "strict": strict,
                "ok": !failed,
                "warnings": warnings,
                "sources": sources,
                "output": output.map(|p| p.display().to_string()),
                "toml": imp.toml,
            }),
        ));
    } else {
        if !quiet {
            for w in &imp.warnings {
                eprintln!("{label}: {w}");
            }
        }
        match output {
            Some(path) if !failed => eprintln!(
                "wrote {} ({} source files, {n} warnings)",
                path.display(),
                imp.sources.len(),
            ),
            None if !failed => {
                print!("{}", imp.toml);
                if n > 0 {
                    eprintln!("{n} warnings ({} kinds)", imp.warnings.len());
                }
            }
            _ => {}
        }
        if failed {
            eprintln!(
                "error: --strict: {n} warnings ({} kinds); nothing written",
                imp.warnings.len()
            );
        }
    }
    Ok(if failed {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}
