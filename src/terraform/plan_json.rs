//! The JSON plan representation of `terraform show -json plan.tfplan`, as documented in
//! "JSON Output Format" (https://developer.hashicorp.com/terraform/internals/json-format):
//! `format_version`, `prior_state` (a state representation: `values.root_module` with
//! `resources[]` of `address`, `mode`, `type`, `name`, `values`, `depends_on`, and
//! `child_modules[]`), `resource_changes[]` (`address`, `module_address`, `mode`, `type`,
//! `name`, `change.actions`, `change.before`, `change.after`, `change.after_unknown`) and
//! `configuration.root_module.resources[]` (`address`, `expressions` whose values carry
//! `references`, `depends_on`). Unknown members are ignored, as the document asks of
//! consumers within one major version; another major version is refused.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use serde_json::{Map, Value};

#[derive(Debug, Deserialize)]
pub struct PlanJson {
    pub format_version: String,
    #[serde(default)]
    pub prior_state: Option<StateJson>,
    #[serde(default)]
    pub resource_changes: Vec<ResourceChange>,
    #[serde(default)]
    pub configuration: Option<Value>,
    /// Present only in a state's JSON: a state given where a plan is expected.
    #[serde(default)]
    pub values: Option<Value>,
}

/// `terraform show -json` of a state file, or a plan's `prior_state`.
#[derive(Debug, Deserialize)]
pub struct StateJson {
    #[serde(default)]
    pub format_version: Option<String>,
    #[serde(default)]
    pub values: Option<StateValues>,
}

#[derive(Debug, Deserialize)]
pub struct StateValues {
    pub root_module: Module,
}

#[derive(Debug, Default, Deserialize)]
pub struct Module {
    #[serde(default)]
    pub resources: Vec<StateResource>,
    #[serde(default)]
    pub child_modules: Vec<Module>,
}

impl Module {
    /// Every resource of this module and its children.
    pub fn all(&self) -> Vec<&StateResource> {
        let mut v: Vec<&StateResource> = self.resources.iter().collect();
        for c in &self.child_modules {
            v.extend(c.all());
        }
        v
    }
}

#[derive(Debug, Deserialize)]
pub struct StateResource {
    pub address: String,
    #[serde(default = "managed")]
    pub mode: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub values: Map<String, Value>,
    #[serde(default)]
    pub depends_on: Vec<String>,
}

fn managed() -> String {
    "managed".into()
}

#[derive(Debug, Clone, Deserialize)]
pub struct ResourceChange {
    pub address: String,
    #[serde(default)]
    pub module_address: Option<String>,
    #[serde(default = "managed")]
    pub mode: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub name: String,
    pub change: Change,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Change {
    pub actions: Vec<String>,
    #[serde(default)]
    pub before: Value,
    #[serde(default)]
    pub after: Value,
    #[serde(default)]
    pub after_unknown: Value,
}

/// The address of a resource instance without its index (`a.b[0]` → `a.b`), which is
/// how the configuration and references name it.
pub fn config_address(address: &str) -> String {
    match address.find('[') {
        Some(i) => address[..i].to_string(),
        None => address.to_string(),
    }
}

/// A reference (`alicloud_eip_address.web.ip_address`, `alicloud_vpc.main`) split into
/// the resource it names and the attribute, if any. Variables, locals, data sources and
/// module outputs name no managed resource.
pub fn split_reference(r: &str) -> Option<(String, Option<String>)> {
    let r = r.split('[').next().unwrap_or(r);
    let mut parts = r.split('.');
    let kind = parts.next()?;
    if matches!(
        kind,
        "var" | "local" | "data" | "module" | "each" | "count" | "path" | "self" | "terraform"
    ) {
        return None;
    }
    let name = parts.next()?;
    Some((format!("{kind}.{name}"), parts.next().map(str::to_string)))
}

/// What the configuration says about each resource: the references of each top-level
/// argument, and every resource it depends on (references anywhere plus `depends_on`).
#[derive(Debug, Default)]
pub struct ConfigRefs {
    pub by_attr: BTreeMap<String, BTreeMap<String, Vec<String>>>,
    pub depends: BTreeMap<String, BTreeSet<String>>,
    /// The configuration calls child modules, whose references are not read.
    pub modules_seen: bool,
}

impl ConfigRefs {
    pub fn read(config: Option<&Value>) -> ConfigRefs {
        let mut out = ConfigRefs::default();
        let Some(root) = config.and_then(|c| c.get("root_module")) else {
            return out;
        };
        out.modules_seen = root
            .get("module_calls")
            .and_then(Value::as_object)
            .is_some_and(|m| !m.is_empty());
        for r in root
            .get("resources")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(addr) = r.get("address").and_then(Value::as_str) else {
                continue;
            };
            let mut attrs = BTreeMap::new();
            let mut deps = BTreeSet::new();
            if let Some(ex) = r.get("expressions").and_then(Value::as_object) {
                for (k, v) in ex {
                    let mut refs = vec![];
                    collect_refs(v, &mut refs);
                    deps.extend(refs.iter().filter_map(|x| split_reference(x)).map(|x| x.0));
                    attrs.insert(k.clone(), refs);
                }
            }
            for d in r
                .get("depends_on")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if let Some((a, _)) = split_reference(d) {
                    deps.insert(a);
                }
            }
            deps.remove(addr);
            out.by_attr.insert(addr.to_string(), attrs);
            out.depends.insert(addr.to_string(), deps);
        }
        out
    }
}

/// Every `references` list inside an expression (nested blocks are arrays of objects).
fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::Array(rs)) = m.get("references") {
                out.extend(rs.iter().filter_map(Value::as_str).map(str::to_string));
            }
            for (k, x) in m {
                if k != "references" {
                    collect_refs(x, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_refs(x, out)),
        _ => {}
    }
}
