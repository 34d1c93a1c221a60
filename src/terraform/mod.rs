//! Terraform in: check a `terraform plan` before `terraform apply`.
//!
//! `terraform show -json plan.tfplan` (the documented JSON plan representation,
//! `plan_json.rs`) → the prior state becomes a scenario topology (`state.rs`, loaded by
//! the scenario builder) → each resource change becomes the OpenAPI calls the alicloud
//! provider makes (`changes.rs`), in the order `terraform apply` would make them
//! (`order.rs`) → applied to the `Cloud` one by one, with the egress of every instance
//! before and after (`check.rs`).
//!
//! An edge like `import`: it may use model, scenario and probe; nothing below uses it.
//! Values unknown until apply get placeholders from documented ranges (`Unknowns`) and
//! every answer that shows one marks it.

mod changes;
mod check;
mod order;
pub mod plan_json;
mod state;

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;
use std::path::Path;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::model::Cloud;
use crate::scenario::{Scenario, ScenarioError};
use plan_json::{ConfigRefs, PlanJson, ResourceChange, StateJson};

pub use check::{
    check_plan, check_plan_with, EgressChange, InvariantReport, OpReport, OpStatus, PlanReport,
};

/// The resource types vpcsim turns into calls (and reads from the prior state).
pub const SUPPORTED: &[&str] = &[
    "alicloud_vpc",
    "alicloud_vswitch",
    "alicloud_instance",
    "alicloud_security_group",
    "alicloud_security_group_rule",
    "alicloud_ecs_network_interface",
    "alicloud_network_interface",
    "alicloud_ecs_network_interface_attachment",
    "alicloud_network_interface_attachment",
    "alicloud_eip_address",
    "alicloud_eip",
    "alicloud_eip_association",
    "alicloud_nat_gateway",
    "alicloud_snat_entry",
    "alicloud_forward_entry",
    "alicloud_route_table",
    "alicloud_route_table_attachment",
    "alicloud_route_entry",
];

/// Real ids → the ids the scenario uses for the same thing.
pub type IdMap = BTreeMap<String, String>;

/// [decision] Public addresses unknown until apply (a new EIP's `ip_address`, a new
/// static public IP) are taken from 198.18.0.0/15, the benchmarking range of RFC 2544,
/// which is never routed on the Internet, in order from 198.18.0.1.
pub const UNKNOWN_PUBLIC_RANGE: &str = "198.18.0.0/15";
/// The marker every rendering puts after a placeholder.
pub const UNKNOWN_MARK: &str = "(unknown until apply)";

/// A value the plan leaves unknown, and the placeholder vpcsim used for it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Unknown {
    pub value: String,
    pub resource: String,
    pub attribute: String,
    /// How the placeholder was chosen.
    pub placeholder: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Unknowns(pub Vec<Unknown>);

impl Unknowns {
    pub fn contains(&self, value: &str) -> bool {
        self.0.iter().any(|u| u.value == value)
    }

    /// `text` with every placeholder followed by the marker.
    pub fn mark(&self, text: &str) -> String {
        let mut out = text.to_string();
        for u in &self.0 {
            out = mark_one(&out, &u.value);
        }
        out
    }
}

/// `text` with `value` (a placeholder) followed by the marker wherever it shows.
pub fn mark_placeholder(text: &str, value: &str) -> String {
    mark_one(text, value)
}

pub(crate) fn mark_one(text: &str, value: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find(value) {
        let before = if i > 0 {
            rest[..i].chars().last()
        } else {
            out.chars().last()
        };
        let after = rest[i + value.len()..].chars().next();
        let bounded = !before.is_some_and(|c| c.is_ascii_digit() || c == '.')
            && !after.is_some_and(|c| c.is_ascii_digit())
            && !rest[i + value.len()..].starts_with(&format!(" {UNKNOWN_MARK}"));
        out.push_str(&rest[..i + value.len()]);
        if bounded {
            out.push(' ');
            out.push_str(UNKNOWN_MARK);
        }
        rest = &rest[i + value.len()..];
    }
    out.push_str(rest);
    out
}

/// Something of the plan vpcsim does not model, aggregated by kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    pub kind: String,
    pub count: usize,
    /// Up to three examples (resource addresses).
    pub examples: Vec<String>,
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

#[derive(Debug, Clone, Default)]
pub struct Warnings(pub Vec<Warning>);

impl Warnings {
    pub fn add(&mut self, kind: &str, example: &str, hint: &str) {
        if let Some(w) = self.0.iter_mut().find(|w| w.kind == kind) {
            w.count += 1;
            if w.examples.len() < 3 && !w.examples.iter().any(|e| e == example) {
                w.examples.push(example.to_string());
            }
        } else {
            self.0.push(Warning {
                kind: kind.to_string(),
                count: 1,
                examples: vec![example.to_string()],
                hint: hint.to_string(),
            });
        }
    }
}

/// Why a plan could not be read; every message names the file or resource and the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanError {
    Io {
        path: String,
        message: String,
    },
    Json {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    Version {
        file: String,
        version: String,
    },
    NoState {
        file: String,
    },
    /// Valid JSON, but not a plan: a state file, or a change vpcsim cannot read.
    NotAPlan {
        file: String,
        message: String,
    },
    State {
        address: String,
        message: String,
    },
    Scenario(ScenarioError),
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanError::Io { path, message } => write!(f, "{path}: cannot read: {message}"),
            PlanError::Json { file, line, column, message } => write!(
                f,
                "{file}:{line}:{column}: not a Terraform JSON plan ({message}); write it with `terraform show -json plan.tfplan > plan.json`"
            ),
            PlanError::Version { file, version } => write!(
                f,
                "{file}: format_version {version}: vpcsim reads the JSON plan format 1.x; use a Terraform whose `show -json` writes 1.x"
            ),
            PlanError::NoState { file } => write!(
                f,
                "{file}: the plan has no prior_state (nothing deployed yet?); give the current state with --state STATE.json (`terraform show -json > state.json`)"
            ),
            PlanError::NotAPlan { file, message } => write!(f, "{file}: {message}"),
            PlanError::State { address, message } => {
                write!(f, "prior state: {address}: {message}")
            }
            PlanError::Scenario(e) => write!(
                f,
                "the prior state does not make a topology vpcsim accepts: {e}"
            ),
        }
    }
}

impl std::error::Error for PlanError {}

/// A prior-state resource: its type, its values, the `depends_on` the state recorded.
pub type Prior = (String, Map<String, Value>, Vec<String>);

/// A loaded plan: the starting cloud and the changes to check.
#[derive(Debug, Clone)]
pub struct Plan {
    pub file: String,
    pub initial: Cloud,
    /// The topology as scenario TOML (what `initial` was built from).
    pub scenario_toml: String,
    pub changes: Vec<ResourceChange>,
    pub refs: std::sync::Arc<ConfigRefs>,
    pub ids: IdMap,
    /// Prior-state values by address, and the `depends_on` the state records.
    pub prior: BTreeMap<String, Prior>,
    pub warnings: Warnings,
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, PlanError> {
    let name = path.display().to_string();
    let src = std::fs::read_to_string(path).map_err(|e| PlanError::Io {
        path: name.clone(),
        message: e.to_string(),
    })?;
    serde_json::from_str(&src).map_err(|e| PlanError::Json {
        file: name,
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })
}

fn major_ok(v: &str) -> bool {
    v.split('.').next() == Some("1")
}

/// Reads a plan (and optionally the state to start from instead of its prior_state).
pub fn load(plan_path: &Path, state_path: Option<&Path>) -> Result<Plan, PlanError> {
    let file = plan_path.display().to_string();
    let plan: PlanJson = read_json(plan_path)?;
    if !major_ok(&plan.format_version) {
        return Err(PlanError::Version {
            file,
            version: plan.format_version,
        });
    }
    // `terraform show -json` of a state (top-level `values`) is not a plan: read as one
    // it would check no call and say the cloud accepts everything.
    if plan.values.is_some() && plan.prior_state.is_none() && plan.resource_changes.is_empty() {
        return Err(PlanError::NotAPlan {
            file,
            message: "this is a Terraform state (top-level `values`), not a plan; write the plan with `terraform plan -out plan.tfplan && terraform show -json plan.tfplan > plan.json`, and give a state with --state".into(),
        });
    }
    // An action this version does not know would silently drop the change (and turn
    // every call that depends on it into a misattributed refusal).
    if let Some(rc) = plan.resource_changes.iter().find(|rc| {
        !matches!(
            rc.change
                .actions
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .as_slice(),
            ["no-op"]
                | ["read"]
                | ["create"]
                | ["delete"]
                | ["update"]
                | ["delete", "create"]
                | ["create", "delete"]
                | ["forget"]
        )
    }) {
        return Err(PlanError::NotAPlan {
            file,
            message: format!(
                "{}: change actions {:?} are not ones Terraform writes (no-op, read, create, update, delete, a replace, forget); write the plan again with `terraform show -json`",
                rc.address, rc.change.actions
            ),
        });
    }
    let state: Option<StateJson> = match state_path {
        Some(p) => {
            let s: StateJson = read_json(p)?;
            if let Some(v) = s.format_version.as_deref().filter(|v| !major_ok(v)) {
                return Err(PlanError::Version {
                    file: p.display().to_string(),
                    version: v.to_string(),
                });
            }
            Some(s)
        }
        None => plan.prior_state,
    };
    let empty = plan_json::Module::default();
    let root = match &state {
        Some(StateJson {
            values: Some(v), ..
        }) => &v.root_module,
        _ if plan.resource_changes.iter().all(|r| {
            r.change
                .actions
                .iter()
                .all(|a| a == "create" || a == "no-op" || a == "read")
        }) =>
        {
            // Nothing exists yet: an empty account is the true starting point.
            &empty
        }
        _ => return Err(PlanError::NoState { file }),
    };
    let resources = root.all();
    let mut warnings = Warnings::default();
    let ids = state::id_map(&resources);
    let region = region_of(plan.configuration.as_ref());
    // Types of instances the plan launches or resizes need limits in the topology too.
    let planned_types = plan
        .resource_changes
        .iter()
        .filter(|r| r.kind == "alicloud_instance")
        .filter_map(|r| strv(r.change.after.as_object()?, "instance_type"))
        .collect();
    let toml = state::scenario_toml(
        &file,
        &region,
        &resources,
        &ids,
        &planned_types,
        &mut warnings,
    )?;
    let sc =
        Scenario::parse(&toml, &format!("{file} (prior state)")).map_err(PlanError::Scenario)?;
    let refs = ConfigRefs::read(plan.configuration.as_ref());
    if refs.modules_seen {
        warnings.add(
            "child modules",
            "module_calls",
            "references inside child modules are not read: their changes are ordered by address only",
        );
    }
    let prior = resources
        .iter()
        .map(|r| {
            (
                r.address.clone(),
                (r.kind.clone(), r.values.clone(), r.depends_on.clone()),
            )
        })
        .collect();
    Ok(Plan {
        file,
        initial: sc.initial,
        scenario_toml: toml,
        changes: plan.resource_changes,
        refs: std::sync::Arc::new(refs),
        ids,
        prior,
        warnings,
    })
}

/// Reads `[[invariants]]` (the scenario format) from a TOML file; each must name a
/// resource of the prior state or of the plan (by id, or by address for a new one).
pub fn load_invariants(
    path: &Path,
    plan: &Plan,
) -> Result<Vec<(usize, crate::scenario::format::Invariant)>, PlanError> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        #[serde(default)]
        invariants: Vec<toml::Spanned<toml::Table>>,
    }
    let name = path.display().to_string();
    let src = std::fs::read_to_string(path).map_err(|e| PlanError::Io {
        path: name.clone(),
        message: e.to_string(),
    })?;
    let loc = crate::scenario::Locator {
        file: &name,
        src: &src,
    };
    let f: File = toml::from_str(&src).map_err(|e| {
        PlanError::Scenario(loc.at(
            e.span().map_or(0, |s| s.start),
            format!(
                "{} (the file holds [[invariants]] tables, as in a scenario)",
                e.message().trim_end()
            ),
        ))
    })?;
    let mut out = vec![];
    for t in &f.invariants {
        let at = t.span().start;
        let inv = crate::scenario::format::Invariant::from_table(t.get_ref())
            .map_err(|m| PlanError::Scenario(loc.at(at, m)))?;
        if let Some(what) = inv.target() {
            let c = &plan.initial;
            let known = c.vswitches.contains_key(what)
                || c.instances.contains_key(what)
                || c.enis.contains_key(what)
                || plan.changes.iter().any(|r| r.address == what);
            if !known {
                return Err(PlanError::Scenario(loc.at(
                    at,
                    format!(
                        "invariant `{}`: `{what}` is no VSwitch, instance or ENI of the prior state nor a resource address of the plan",
                        inv.name()
                    ),
                )));
            }
        }
        out.push((loc.at(at, "").line, inv));
    }
    Ok(out)
}

/// The provider's `region` when the configuration gives it as a constant.
fn region_of(config: Option<&Value>) -> String {
    config
        .and_then(|c| c.pointer("/provider_config/alicloud/expressions/region/constant_value"))
        .and_then(Value::as_str)
        .unwrap_or("cn-hangzhou")
        .to_string()
}

// ----- value helpers shared by state.rs and changes.rs -----

/// A string attribute; empty strings and nulls are absent, numbers are written out.
pub(crate) fn strv(m: &Map<String, Value>, key: &str) -> Option<String> {
    match m.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// An integer attribute (numbers, or strings holding one).
pub(crate) fn num(m: &Map<String, Value>, key: &str) -> Option<i64> {
    match m.get(key)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        Value::Bool(b) => Some(i64::from(*b)),
        _ => None,
    }
}

/// A list (or set) of strings; a comma-separated string also works.
pub(crate) fn str_list(m: &Map<String, Value>, key: &str) -> Vec<String> {
    match m.get(key) {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        Some(Value::String(s)) if !s.is_empty() => {
            s.split(',').map(|x| x.trim().to_string()).collect()
        }
        _ => vec![],
    }
}

/// The n-th placeholder public address (1-based) of [`UNKNOWN_PUBLIC_RANGE`].
pub(crate) fn placeholder_public(n: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(198, 18, 0, 0)) + n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_marked_once_and_only_as_whole_addresses() {
        let u = Unknowns(vec![Unknown {
            value: "198.18.0.1".into(),
            resource: "alicloud_eip_address.web".into(),
            attribute: "ip_address".into(),
            placeholder: String::new(),
        }]);
        assert_eq!(
            u.mark("EIP 198.18.0.1 bound; 198.18.0.10 and 1198.18.0.1 not"),
            "EIP 198.18.0.1 (unknown until apply) bound; 198.18.0.10 and 1198.18.0.1 not"
        );
        let once = u.mark("198.18.0.1");
        assert_eq!(u.mark(&once), once);
    }

    #[test]
    fn references_name_managed_resources_only() {
        assert_eq!(
            plan_json::split_reference("alicloud_eip_address.web.ip_address"),
            Some(("alicloud_eip_address.web".into(), Some("ip_address".into())))
        );
        assert_eq!(plan_json::split_reference("var.region"), None);
        assert_eq!(
            plan_json::split_reference("alicloud_vpc.main[0]"),
            Some(("alicloud_vpc.main".into(), None))
        );
    }
}
