//! What belongs to the dumped VPCs. Several calls are region-wide (DescribeInstances,
//! DescribeNetworkInterfaces, DescribeSecurityGroups, ...), so a dump of one VPC holds
//! resources of others: they are skipped, with one summary line per other VPC, instead of
//! failing on a reference the folder cannot hold.

use std::collections::{BTreeMap, BTreeSet};

use super::load::{at, str_of, strings_at, Dump};
use super::ApiKind::{self, *};
use super::Warnings;

/// The VPC a resource of `kind` belongs to, when the response says.
fn vpc_of(kind: ApiKind, v: &serde_json::Value) -> Option<&str> {
    match kind {
        DescribeInstances => at(v, &["VpcAttributes", "VpcId"])
            .and_then(serde_json::Value::as_str)
            .filter(|s| !s.is_empty()),
        DescribeVSwitches
        | DescribeRouteTableList
        | DescribeSecurityGroups
        | DescribeSecurityGroupAttribute
        | DescribeNetworkInterfaces
        | DescribeNatGateways => str_of(v, "VpcId"),
        _ => None,
    }
}

fn noun(kind: ApiKind) -> &'static str {
    match kind {
        DescribeInstances => "instances",
        DescribeVSwitches => "VSwitches",
        DescribeRouteTableList => "route tables",
        DescribeSecurityGroups | DescribeSecurityGroupAttribute => "security groups",
        DescribeNetworkInterfaces => "ENIs",
        DescribeNatGateways => "NAT gateways",
        DescribeRouteEntryList => "route entries",
        DescribeSnatTableEntries => "SNAT entries",
        DescribeForwardTableEntries => "DNAT entries",
        DescribeEipAddresses => "EIPs",
        _ => "resources",
    }
}

/// Removes the resources of VPCs that are not in DescribeVpcs' output (and what hangs
/// off them: route entries, SNAT/DNAT entries, EIPs bound to them).
pub fn skip_other_vpcs(d: &mut Dump, w: &mut Warnings) {
    let vpcs: BTreeSet<String> = d.items(DescribeVpcs).map(|(id, _)| id.clone()).collect();
    if vpcs.is_empty() {
        return;
    }
    // vpc → kind → ids
    let mut skipped: BTreeMap<String, BTreeMap<&'static str, BTreeSet<String>>> = BTreeMap::new();
    let mut gone: BTreeMap<String, String> = BTreeMap::new(); // id → its VPC
    let kinds = [
        DescribeVSwitches,
        DescribeRouteTableList,
        DescribeSecurityGroups,
        DescribeSecurityGroupAttribute,
        DescribeInstances,
        DescribeNetworkInterfaces,
        DescribeNatGateways,
    ];
    for kind in kinds {
        let Some(m) = d.by_kind.get_mut(&kind) else {
            continue;
        };
        m.retain(|id, it| {
            let Some(vpc) = vpc_of(kind, &it.value).filter(|v| !vpcs.contains(*v)) else {
                return true;
            };
            // Tables, SNAT/DNAT tables reached through the removed resource go too.
            for t in strings_at(&it.value, &["SnatTableIds", "SnatTableId"])
                .into_iter()
                .chain(strings_at(
                    &it.value,
                    &["ForwardTableIds", "ForwardTableId"],
                ))
            {
                gone.insert(t, vpc.to_string());
            }
            if let Some(t) =
                at(&it.value, &["RouteTable", "RouteTableId"]).and_then(serde_json::Value::as_str)
            {
                gone.insert(t.to_string(), vpc.to_string());
            }
            gone.insert(id.clone(), vpc.to_string());
            skipped
                .entry(vpc.to_string())
                .or_default()
                .entry(noun(kind))
                .or_default()
                .insert(id.clone());
            false
        });
    }
    let dependent = [
        (DescribeRouteEntryList, "RouteTableId"),
        (DescribeSnatTableEntries, "SnatTableId"),
        (DescribeForwardTableEntries, "ForwardTableId"),
        (DescribeEipAddresses, "InstanceId"),
    ];
    for (kind, key) in dependent {
        let Some(m) = d.by_kind.get_mut(&kind) else {
            continue;
        };
        m.retain(|id, it| {
            let Some(vpc) = str_of(&it.value, key).and_then(|t| gone.get(t)) else {
                return true;
            };
            skipped
                .entry(vpc.clone())
                .or_default()
                .entry(noun(kind))
                .or_default()
                .insert(id.clone());
            false
        });
    }
    for (vpc, by_kind) in skipped {
        let n: usize = by_kind.values().map(BTreeSet::len).sum();
        let parts: Vec<String> = by_kind
            .iter()
            .map(|(k, ids)| format!("{} {k}", ids.len()))
            .collect();
        w.0.push(super::Warning {
            kind: format!("resources of {vpc}"),
            count: n,
            examples: vec![parts.join(", ")],
            hint: "this VPC is not in DescribeVpcs' output (region-wide calls list every VPC's resources): skipped; add its DescribeVpcs output to import it too".into(),
        });
    }
}
