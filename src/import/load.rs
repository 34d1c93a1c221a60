//! Reading the folder: recognise each JSON file by its top-level wrapper keys, pull out
//! the resources, and merge pages (the same id twice must have the same content).

use std::collections::{BTreeMap, BTreeSet};
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
    let mut pages: Vec<Page> = Vec::new();
    for f in files {
        let bytes = std::fs::read(&f).map_err(|e| ImportError::Io {
            path: f.clone(),
            message: e.to_string(),
        })?;
        let text = decode(&f, &bytes)?;
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
        let items: Vec<(String, Value)> = if kind == ApiKind::DescribeSecurityGroupAttribute {
            let id = str_of(&v, "SecurityGroupId").unwrap_or_default();
            vec![(id.to_string(), v.clone())]
        } else if kind == ApiKind::DescribePrefixListAttributes {
            let id = str_of(&v, "PrefixListId").unwrap_or_default();
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
        pages.push(Page {
            file: f.clone(),
            kind,
            context: page_context(kind, &v, &items),
            next_token: str_of(&v, "NextToken").map(str::to_string),
            total: v.get("TotalCount").and_then(as_u64),
            number: v.get("PageNumber").and_then(as_u64),
            size: v
                .get("PageSize")
                .or_else(|| v.get("MaxResults"))
                .and_then(as_u64),
            ids: items.iter().map(|(id, _)| id.clone()).collect(),
        });
        let map = dump.by_kind.entry(kind).or_default();
        for (id, value) in items {
            if id.is_empty() {
                return Err(ImportError::Invalid {
                    file: f.clone(),
                    message: "a resource without an id".into(),
                });
            }
            if let Some(prev) = map.get_mut(&id) {
                // Rules of one group over several files (pages, or one file per
                // `--Direction`): the same group, more permissions.
                if kind == ApiKind::DescribeSecurityGroupAttribute {
                    if let Some(merged) = merge_attribute(&prev.value, &value) {
                        prev.value = merged;
                        continue;
                    }
                }
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
    check_pages(&pages, region_of(&dump), warnings);
    Ok(dump)
}

fn recognise(v: &Value) -> Option<ApiKind> {
    let o = v.as_object()?;
    if o.contains_key("Permissions") && o.contains_key("SecurityGroupId") {
        return Some(ApiKind::DescribeSecurityGroupAttribute);
    }
    if o.contains_key("PrefixListId") && o.contains_key("Entries") {
        return Some(ApiKind::DescribePrefixListAttributes);
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

/// The text of a file: UTF-8 (a byte-order mark is skipped), or UTF-16 LE/BE with its
/// byte-order mark — what PowerShell 5.1's `>` writes — decoded. **[decision]** decoded
/// rather than refused: the content is the same JSON.
fn decode(f: &Path, bytes: &[u8]) -> Result<String, ImportError> {
    let utf16 = |b: &[u8], le: bool| -> Result<String, ImportError> {
        let units: Vec<u16> = b
            .chunks(2)
            .map(|c| {
                let pair = [c[0], *c.get(1).unwrap_or(&0)];
                if le {
                    u16::from_le_bytes(pair)
                } else {
                    u16::from_be_bytes(pair)
                }
            })
            .collect();
        String::from_utf16(&units).map_err(|_| ImportError::Invalid {
            file: f.to_path_buf(),
            message: "starts with a UTF-16 byte-order mark but is not valid UTF-16; convert it: `iconv -f UTF-16 -t UTF-8 f > f2` or, in PowerShell, `Get-Content f | Set-Content -Encoding utf8 f2`".into(),
        })
    };
    match bytes {
        [0xEF, 0xBB, 0xBF, rest @ ..] => utf8(f, rest),
        [0xFF, 0xFE, rest @ ..] => utf16(rest, true),
        [0xFE, 0xFF, rest @ ..] => utf16(rest, false),
        // JSON starts with ASCII: a NUL byte among the first two is UTF-16 without a BOM.
        [a, b, ..] if *a == 0 || *b == 0 => Err(ImportError::Invalid {
            file: f.to_path_buf(),
            message: "looks like UTF-16 without a byte-order mark; convert it: `iconv -f UTF-16LE -t UTF-8 f > f2` or, in PowerShell, `Get-Content f | Set-Content -Encoding utf8 f2`".into(),
        }),
        _ => utf8(f, bytes),
    }
}

fn utf8(f: &Path, b: &[u8]) -> Result<String, ImportError> {
    String::from_utf8(b.to_vec()).map_err(|e| {
        let utf16_hint = if b.len() >= 2 && (b[0] == 0 || b[1] == 0) {
            " (it looks like UTF-16 without a byte-order mark)"
        } else {
            ""
        };
        ImportError::Invalid {
            file: f.to_path_buf(),
            message: format!(
                "not UTF-8 at byte {}{utf16_hint}; save the `aliyun` output as UTF-8: `iconv -f UTF-16 -t UTF-8 f > f2`, or in PowerShell `Get-Content f | Set-Content -Encoding utf8 f2`",
                e.utf8_error().valid_up_to()
            ),
        }
    })
}

/// Two responses of DescribeSecurityGroupAttribute for one group (pages, or one per
/// `--Direction`): the same group attributes, the union of the permissions. None if the
/// group attributes differ (two moments).
fn merge_attribute(a: &Value, b: &Value) -> Option<Value> {
    let (Value::Object(x), Value::Object(y)) = (a, b) else {
        return None;
    };
    // Fields that differ between pages of one snapshot.
    let paging = [
        "RequestId",
        "NextToken",
        "Permissions",
        "TotalCount",
        "PageNumber",
        "PageSize",
        "MaxResults",
    ];
    for (k, v) in x {
        if !paging.contains(&k.as_str()) && y.get(k).is_some_and(|o| o != v) {
            return None;
        }
    }
    let mut out = x.clone();
    for (k, v) in y {
        out.entry(k.clone()).or_insert_with(|| v.clone());
    }
    let mut perms: Vec<Value> = list_at(a, &["Permissions", "Permission"])
        .into_iter()
        .cloned()
        .collect();
    for p in list_at(b, &["Permissions", "Permission"]) {
        if !perms.contains(p) {
            perms.push(p.clone());
        }
    }
    out.insert(
        "Permissions".into(),
        serde_json::json!({ "Permission": perms }),
    );
    out.remove("NextToken");
    Some(Value::Object(out))
}

/// One response file, for the completeness check.
struct Page {
    file: PathBuf,
    kind: ApiKind,
    /// The request parameters that select one list (`--RouteTableId vtb-x`), so pages of
    /// different lists are not mixed up.
    context: String,
    next_token: Option<String>,
    total: Option<u64>,
    number: Option<u64>,
    size: Option<u64>,
    ids: Vec<String>,
}

fn page_context(kind: ApiKind, v: &Value, items: &[(String, Value)]) -> String {
    let key = match kind {
        ApiKind::DescribeRouteEntryList => "RouteTableId",
        ApiKind::DescribeSnatTableEntries => "SnatTableId",
        ApiKind::DescribeForwardTableEntries => "ForwardTableId",
        ApiKind::DescribeSecurityGroupAttribute => {
            let id = str_of(v, "SecurityGroupId").unwrap_or_default();
            // Dumped per `--Direction`: each direction pages on its own.
            let dirs: BTreeSet<String> = list_at(v, &["Permissions", "Permission"])
                .into_iter()
                .filter_map(|p| str_of(p, "Direction").map(str::to_ascii_lowercase))
                .collect();
            let dir = if dirs.len() == 1 {
                format!(
                    " --Direction {}",
                    dirs.iter().next().map_or("", |s| s.as_str())
                )
            } else {
                String::new()
            };
            return format!("--SecurityGroupId {id}{dir}");
        }
        _ => return String::new(),
    };
    items
        .iter()
        .find_map(|(_, it)| str_of(it, key))
        .map_or_else(String::new, |id| format!("--{key} {id}"))
}

fn region_of(d: &Dump) -> String {
    d.by_kind
        .values()
        .flat_map(|m| m.values())
        .find_map(|it| str_of(&it.value, "RegionId").map(str::to_string))
        .unwrap_or_else(|| "<region>".into())
}

fn service(kind: ApiKind) -> &'static str {
    match kind {
        ApiKind::DescribeInstances
        | ApiKind::DescribeNetworkInterfaces
        | ApiKind::DescribeSecurityGroups
        | ApiKind::DescribeSecurityGroupAttribute
        | ApiKind::DescribePrefixListAttributes => "ecs",
        _ => "vpc",
    }
}

/// Nothing silently lost: a list whose pages say there is more (a `NextToken`, or a
/// `TotalCount` above what the folder holds) gets a warning with the command that
/// fetches the rest.
fn check_pages(pages: &[Page], region: String, w: &mut Warnings) {
    let mut groups: BTreeMap<(ApiKind, &str), Vec<&Page>> = BTreeMap::new();
    for p in pages {
        groups
            .entry((p.kind, p.context.as_str()))
            .or_default()
            .push(p);
    }
    for ((kind, ctx), ps) in groups {
        let base = format!(
            "aliyun {} {kind} --RegionId {region}{}{ctx}",
            service(kind),
            if ctx.is_empty() { "" } else { " " }
        );
        // A NextToken chain ends with a page without one; none means the last is missing.
        if ps.iter().all(|p| p.next_token.is_some()) {
            let last = ps[ps.len() - 1];
            let size = if kind == ApiKind::DescribeSecurityGroupAttribute {
                " --MaxResults 1000"
            } else if kind == ApiKind::DescribeRouteEntryList {
                " --MaxResult 100"
            } else {
                ""
            };
            w.add(
                "missing pages",
                format!(
                    "{} has a NextToken and no later page is in the folder: add the output of `{base}{size} --NextToken {}` (and of the pages after it)",
                    last.file.display(),
                    last.next_token.as_deref().unwrap_or_default()
                ),
                "the entries of the missing pages are not imported; answers about them would be wrong",
            );
        }
        let Some(total) = ps.iter().filter_map(|p| p.total).max() else {
            continue;
        };
        let seen: BTreeSet<&String> = ps.iter().flat_map(|p| p.ids.iter()).collect();
        if (seen.len() as u64) >= total {
            continue;
        }
        let size = ps.iter().filter_map(|p| p.size).max().unwrap_or(10).max(1);
        let have: BTreeSet<u64> = ps.iter().filter_map(|p| p.number).collect();
        let pages_needed = total.div_ceil(size);
        let first_missing = (1..=pages_needed)
            .find(|n| !have.contains(n))
            .unwrap_or(pages_needed + 1);
        w.add(
            "missing pages",
            format!(
                "{}: TotalCount {total}, {} in the folder: add the output of `{base} --PageSize {size} --PageNumber {first_missing}`{} (or fetch all at once with `--pager`)",
                ps[0].file.display(),
                seen.len(),
                if pages_needed > first_missing { format!(" up to --PageNumber {pages_needed}") } else { String::new() }
            ),
            "the resources of the missing pages are not imported; answers about them would be wrong",
        );
    }
}
