//! Reading the folder: recognise each JSON file by its top-level wrapper keys, pull out
//! the resources, and merge pages (the same id twice must have the same content).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{ApiKind, ImportError, Warnings};

/// One resource as the API returned it, with the file it came from.
#[derive(Debug, Clone)]
pub struct Item {
    pub value: Value,
    pub file: PathBuf,
}

/// All resources of the folder, by kind, then by id (sorted, for a deterministic output).
#[derive(Debug, Default)]
pub struct Dump {
    pub by_kind: BTreeMap<ApiKind, BTreeMap<String, Item>>,
    pub sources: Vec<(PathBuf, ApiKind)>,
    /// Largest `TotalCount` seen per kind (for the missing-page warning).
    pub total_count: BTreeMap<ApiKind, u64>,
}

impl Dump {
    pub fn items(&self, k: ApiKind) -> impl Iterator<Item = (&String, &Item)> {
        self.by_kind.get(&k).into_iter().flat_map(|m| m.iter())
    }

    pub fn get(&self, k: ApiKind, id: &str) -> Option<&Item> {
        self.by_kind.get(&k).and_then(|m| m.get(id))
    }

    pub fn has(&self, k: ApiKind) -> bool {
        self.sources.iter().any(|(_, s)| *s == k)
    }
}

/// `(wrapper key, inner key, id field)` of each list response. The wrapper and item
/// names are those of the response structs of the Alibaba Cloud Go SDK
/// (github.com/aliyun/alibaba-cloud-sdk-go, `services/vpc/describe_*.go` and
/// `services/ecs/describe_*.go`, e.g. `DescribeRouteEntryListResponse.RouteEntrys`).
const LISTS: &[(ApiKind, &str, &str, &str)] = &[
    (ApiKind::DescribeVpcs, "Vpcs", "Vpc", "VpcId"),
    (
        ApiKind::DescribeVSwitches,
        "VSwitches",
        "VSwitch",
        "VSwitchId",
    ),
    (
        ApiKind::DescribeRouteTableList,
        "RouterTableList",
        "RouterTableListType",
        "RouteTableId",
    ),
    (
        ApiKind::DescribeRouteEntryList,
        "RouteEntrys",
        "RouteEntry",
        "RouteEntryId",
    ),
    (
        ApiKind::DescribeInstances,
        "Instances",
        "Instance",
        "InstanceId",
    ),
    (
        ApiKind::DescribeNetworkInterfaces,
        "NetworkInterfaceSets",
        "NetworkInterfaceSet",
        "NetworkInterfaceId",
    ),
    (
        ApiKind::DescribeEipAddresses,
        "EipAddresses",
        "EipAddress",
        "AllocationId",
    ),
    (
        ApiKind::DescribeNatGateways,
        "NatGateways",
        "NatGateway",
        "NatGatewayId",
    ),
    (
        ApiKind::DescribeSnatTableEntries,
        "SnatTableEntries",
        "SnatTableEntry",
        "SnatEntryId",
    ),
    (
        ApiKind::DescribeForwardTableEntries,
        "ForwardTableEntries",
        "ForwardTableEntry",
        "ForwardEntryId",
    ),
    (
        ApiKind::DescribeSecurityGroups,
        "SecurityGroups",
        "SecurityGroup",
        "SecurityGroupId",
    ),
];

pub fn read_dir(dir: &Path, warnings: &mut Warnings) -> Result<Dump, ImportError> {
    let rd = std::fs::read_dir(dir).map_err(|e| ImportError::Io {
        path: dir.to_path_buf(),
        message: e.to_string(),
    })?;
    let mut files: Vec<PathBuf> = Vec::new();
    for ent in rd {
        let ent = ent.map_err(|e| ImportError::Io {
            path: dir.to_path_buf(),
            message: e.to_string(),
        })?;
        let p = ent.path();
        let hidden = p
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if p.is_file() && !hidden {
            files.push(p);
        }
    }
    files.sort();
    let mut dump = Dump::default();
    for f in files {
        let text = std::fs::read_to_string(&f).map_err(|e| ImportError::Io {
            path: f.clone(),
            message: e.to_string(),
        })?;
        let v: Value = serde_json::from_str(&text).map_err(|e| ImportError::Json {
            file: f.clone(),
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })?;
        let Some(kind) = recognise(&v) else {
            let keys: Vec<String> = v
                .as_object()
                .map(|o| o.keys().take(4).cloned().collect())
                .unwrap_or_default();
            warnings.add(
                "unrecognised file",
                format!("{} (top-level keys: {})", f.display(), keys.join(", ")),
                "not the output of a Describe* call vpcsim reads; it was skipped (see `vpcsim::import` for the list of calls)",
            );
            continue;
        };
        dump.sources.push((f.clone(), kind));
        if let Some(n) = v.get("TotalCount").and_then(as_u64) {
            let e = dump.total_count.entry(kind).or_insert(0);
            *e = (*e).max(n);
        }
        let items: Vec<(String, Value)> = if kind == ApiKind::DescribeSecurityGroupAttribute {
            let id = str_of(&v, "SecurityGroupId").unwrap_or_default();
            vec![(id.to_string(), v.clone())]
        } else {
            let (_, outer, inner, idf) = LISTS.iter().find(|l| l.0 == kind).expect("listed");
            let list = v.get(*outer).and_then(|o| o.get(*inner));
            let arr = match list {
                None | Some(Value::Null) => vec![],
                Some(Value::Array(a)) => a.clone(),
                Some(_) => {
                    return Err(ImportError::Invalid {
                        file: f.clone(),
                        message: format!("`{outer}.{inner}` is not a list"),
                    })
                }
            };
            let mut out = Vec::new();
            for it in arr {
                let Some(id) = str_of(&it, idf) else {
                    return Err(ImportError::Invalid {
                        file: f.clone(),
                        message: format!("an entry of `{outer}.{inner}` has no `{idf}`"),
                    });
                };
                out.push((id.to_string(), it));
            }
            out
        };
        let map = dump.by_kind.entry(kind).or_default();
        for (id, value) in items {
            if id.is_empty() {
                return Err(ImportError::Invalid {
                    file: f.clone(),
                    message: "a resource without an id".into(),
                });
            }
            if let Some(prev) = map.get(&id) {
                if prev.value != value {
                    return Err(ImportError::Conflict {
                        id,
                        first: prev.file.clone(),
                        second: f.clone(),
                    });
                }
                continue;
            }
            map.insert(
                id,
                Item {
                    value,
                    file: f.clone(),
                },
            );
        }
    }
    for (k, n) in &dump.total_count {
        let seen = dump.by_kind.get(k).map_or(0, |m| m.len()) as u64;
        if seen < *n {
            warnings.add(
                "missing pages",
                format!("{k:?}: TotalCount {n}, {seen} seen"),
                "add the other pages (`--PageNumber 2 ...` or `--PageSize 100`) to the folder",
            );
        }
    }
    Ok(dump)
}

fn recognise(v: &Value) -> Option<ApiKind> {
    let o = v.as_object()?;
    if o.contains_key("Permissions") && o.contains_key("SecurityGroupId") {
        return Some(ApiKind::DescribeSecurityGroupAttribute);
    }
    LISTS
        .iter()
        .find(|(_, outer, inner, _)| o.get(*outer).is_some_and(|x| x.get(*inner).is_some()))
        .map(|l| l.0)
}

fn as_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// A non-empty string field.
pub fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// Follows a path of object keys.
pub fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.get(*k))
}

/// The list at `path` (the SDK's `{"X":{"Y":[...]}}` wrappers), empty if absent.
pub fn list_at<'a>(v: &'a Value, path: &[&str]) -> Vec<&'a Value> {
    match at(v, path) {
        Some(Value::Array(a)) => a.iter().collect(),
        _ => vec![],
    }
}

/// Strings of the list at `path`.
pub fn strings_at(v: &Value, path: &[&str]) -> Vec<String> {
    list_at(v, path)
        .into_iter()
        .filter_map(|x| x.as_str())
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// A flag the API gives as a bool, a number or a string.
pub fn flag(v: &Value, key: &str) -> Option<bool> {
    match v.get(key)? {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => Some(n.as_i64() != Some(0)),
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "1" | "on" => Some(true),
            "false" | "0" | "off" | "" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// Whether a JSON value carries information (not null, "", false, 0, [] or {} of such).
pub fn meaningful(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => a.iter().any(meaningful),
        Value::Object(o) => o.values().any(meaningful),
    }
}
