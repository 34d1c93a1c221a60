//! Import a real VPC: build a scenario's topology from the cloud's own `Describe*` API
//! responses.
//!
//! Put one JSON file per API call in a folder, as the `aliyun` CLI prints them (any file
//! name; each file is recognised by its top-level keys; pages of one call may be split
//! over several files and are merged, as are the rule files of one security group). The
//! README's "Importing a real VPC" has the commands, each fetching every page
//! (`--pager`, `--MaxResult(s)`); a page that says more exist and is not followed in the
//! folder is a warning with the command that fetches it.
//!
//! [`import_dir`] writes an ordinary scenario TOML (topology only) and says what it did
//! not understand: unmodelled resources and fields become [`Warning`]s, references to
//! resources missing from the folder are [`ImportError`]s naming the call to add.

mod convert;
mod load;
mod macs;
mod routes;
mod rules;
mod scope;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::scenario::{Scenario, ScenarioError};

/// The API call a file holds the response of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ApiKind {
    DescribeVpcs,
    DescribeVSwitches,
    DescribeRouteTableList,
    DescribeRouteEntryList,
    DescribeInstances,
    DescribeNetworkInterfaces,
    DescribeEipAddresses,
    DescribeNatGateways,
    DescribeSnatTableEntries,
    DescribeForwardTableEntries,
    DescribeSecurityGroups,
    DescribeSecurityGroupAttribute,
    DescribePrefixListAttributes,
}

impl fmt::Display for ApiKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

/// Something of the dump vpcsim does not model (or could not read), aggregated by kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// What was not modelled, e.g. `IPv6`, `tags`, `route next hop VpnGateway`.
    pub kind: String,
    pub count: usize,
    /// Up to three examples (resource ids, file names).
    pub examples: Vec<String>,
    /// What vpcsim did with it, and what to do.
    pub hint: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}×, e.g. {}): {}",
            self.kind,
            self.count,
            self.examples.join(", "),
            self.hint
        )
    }
}

/// Warnings being collected, by kind in first-seen order.
#[derive(Debug, Default)]
pub(crate) struct Warnings(Vec<Warning>);

impl Warnings {
    pub(crate) fn add(&mut self, kind: &str, example: impl Into<String>, hint: &str) {
        let example = example.into();
        if let Some(w) = self.0.iter_mut().find(|w| w.kind == kind) {
            w.count += 1;
            if w.examples.len() < 3 && !w.examples.contains(&example) {
                w.examples.push(example);
            }
        } else {
            self.0.push(Warning {
                kind: kind.to_string(),
                count: 1,
                examples: vec![example],
                hint: hint.to_string(),
            });
        }
    }
}

/// The result of an import: the scenario text, what was not modelled, and the files read.
#[derive(Debug, Clone)]
pub struct Import {
    pub toml: String,
    pub warnings: Vec<Warning>,
    pub sources: Vec<(PathBuf, ApiKind)>,
}

/// Why a folder could not be imported; every message names the file and the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportError {
    Io {
        path: PathBuf,
        message: String,
    },
    /// Not valid JSON.
    Json {
        file: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// The same resource id with different content in two files.
    Conflict {
        id: String,
        first: PathBuf,
        second: PathBuf,
    },
    /// A resource refers to one the folder does not hold.
    MissingReference {
        file: PathBuf,
        /// The referring resource.
        from: String,
        /// The missing one.
        id: String,
        /// The command whose output to add.
        fix: String,
    },
    /// A value vpcsim cannot take (bad CIDR, unknown enum value, ...).
    Invalid {
        file: PathBuf,
        message: String,
    },
    /// The generated scenario did not load (the dump describes something vpcsim refuses).
    Scenario(ScenarioError),
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImportError::Io { path, message } => {
                write!(f, "{}: cannot read: {message}", path.display())
            }
            ImportError::Json {
                file,
                line,
                column,
                message,
            } => write!(
                f,
                "{}:{line}:{column}: not valid JSON ({message}); save the `aliyun` output unchanged",
                file.display()
            ),
            ImportError::Conflict { id, first, second } => write!(
                f,
                "{id} appears in {} and {} with different content; the files come from different moments: run the calls again and keep one snapshot",
                first.display(),
                second.display()
            ),
            ImportError::MissingReference {
                file,
                from,
                id,
                fix,
            } => write!(
                f,
                "{}: {from} refers to {id}, which is not in the folder; add the output of `{fix}` to the folder",
                file.display()
            ),
            ImportError::Invalid { file, message } => {
                write!(f, "{}: {message}", file.display())
            }
            ImportError::Scenario(e) => write!(
                f,
                "the imported scenario does not load: {e} (write it out with `vpcsim import` and check the line)"
            ),
        }
    }
}

impl std::error::Error for ImportError {}

/// Reads a folder of `Describe*` responses and writes the scenario TOML.
pub fn import_dir(dir: &Path) -> Result<Import, ImportError> {
    let mut warnings = Warnings::default();
    let mut dump = load::read_dir(dir, &mut warnings)?;
    scope::skip_other_vpcs(&mut dump, &mut warnings);
    let toml = convert::convert(&dump, &mut warnings)?;
    // Success means the scenario loads: check it the way `vpcsim validate` would.
    let name = format!("{} (imported)", dir.display());
    Scenario::parse(&toml, &name).map_err(ImportError::Scenario)?;
    Ok(Import {
        toml,
        warnings: warnings.0,
        sources: dump.sources,
    })
}

/// Imports a folder and loads the resulting scenario in one go.
pub fn load_scenario_from_dir(dir: &Path) -> Result<(Scenario, Vec<Warning>), ImportError> {
    let imp = import_dir(dir)?;
    let name = format!("{} (imported)", dir.display());
    let sc = Scenario::parse(&imp.toml, &name).map_err(ImportError::Scenario)?;
    Ok((sc, imp.warnings))
}

/// Counts of warnings by kind, for summaries.
pub fn warning_counts(w: &[Warning]) -> BTreeMap<String, usize> {
    w.iter().map(|w| (w.kind.clone(), w.count)).collect()
}
