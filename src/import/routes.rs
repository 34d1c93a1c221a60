//! Route entries → the scenario's route tables. Every route is kept: a next hop vpcsim
//! forwards through (Instance, NetworkInterface, NatGateway) as such, any other (Ecr,
//! HaVip, VpnGateway, learned CEN/BGP routes, cloud-service system routes, unknown types)
//! as `unmodelled = true`, so its traffic drops as `next_hop_unmodelled` naming the route
//! and the type instead of taking another route.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use ipnet::Ipv4Net;

use super::convert::{cidr, missing, q, Ctx};
use super::load::{list_at, str_of, Dump};
use super::ApiKind::*;
use super::{ImportError, Warnings};

/// What the rest of the dump defined, for the routes' references.
pub(super) struct Known<'a> {
    pub vpcs: &'a BTreeMap<String, Ipv4Net>,
    /// Real system table id → VPC (vpcsim's `vtb-<vpc>`).
    pub system_of: &'a BTreeMap<String, String>,
    /// Custom table id → VPC.
    pub custom: &'a BTreeMap<String, String>,
    /// VSwitch → (VPC, CIDR, zone).
    pub vswitches: &'a BTreeMap<String, (String, Ipv4Net, String)>,
    pub prefix_lists: &'a BTreeMap<String, Vec<Ipv4Net>>,
    pub instances: &'a BTreeSet<String>,
    pub secondary_ids: &'a BTreeSet<String>,
    /// Instance → primary ENI.
    pub primary_of: &'a BTreeMap<String, String>,
    pub nat_ids: &'a BTreeSet<String>,
    /// ENIs left out (no security group): routes to them are kept as unmodelled.
    pub left_out_enis: &'a BTreeSet<String>,
}

/// The `[[route_tables]]` of the scenario.
pub(super) fn route_tables(
    k: &Known<'_>,
    d: &Dump,
    cx: &Ctx,
    w: &mut Warnings,
) -> Result<String, ImportError> {
    let Known {
        vpcs: vpc_cidrs,
        system_of,
        custom,
        vswitches,
        prefix_lists,
        instances,
        secondary_ids,
        primary_of,
        nat_ids,
        left_out_enis,
    } = *k;
    let table_name = |real: &str| -> Option<(String, String)> {
        if let Some(vpc) = system_of.get(real) {
            return Some((format!("vtb-{vpc}"), vpc.clone()));
        }
        custom.get(real).map(|vpc| (real.to_string(), vpc.clone()))
    };
    let mut body = String::new();
    let mut routes: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
    for (t, vpc) in system_of.values().map(|v| (format!("vtb-{v}"), v.clone())) {
        routes.entry(t).or_insert((vpc, vec![]));
    }
    for (t, vpc) in custom {
        routes.entry(t.clone()).or_insert((vpc.clone(), vec![]));
    }
    let mut has_default: BTreeSet<String> = BTreeSet::new();
    let mut seen_dest: BTreeSet<(String, Ipv4Net)> = BTreeSet::new();
    for (id, it) in d.items(DescribeRouteEntryList) {
        let v = &it.value;
        let what = format!("route entry {id}");
        let real = str_of(v, "RouteTableId").unwrap_or("");
        let Some((table, _vpc)) = table_name(real) else {
            return Err(missing(
                it,
                &what,
                real,
                cx.fix("DescribeRouteTableList", &format!("--RouteTableId {real}")),
            ));
        };
        let dest_s = str_of(v, "DestinationCidrBlock").unwrap_or("");
        if dest_s.contains(':') {
            w.add(
                "IPv6",
                format!("{id} ({dest_s})"),
                "vpcsim simulates IPv4 only; IPv6 CIDRs and addresses are left out",
            );
            continue;
        }
        let dests: Vec<Ipv4Net> = if dest_s.starts_with("pl-") {
            match prefix_lists.get(dest_s) {
                Some(c) => c.clone(),
                None => {
                    w.add(
                        "route entries to prefix lists",
                        format!("{id} ({dest_s})"),
                        &format!("the prefix list's CIDRs are not in the folder, so the route is left out: traffic to them would take another route here; add the output of `{}`", cx.fix("DescribePrefixListAttributes", &format!("--PrefixListId {dest_s}"))),
                    );
                    continue;
                }
            }
        } else {
            vec![cidr(it, &what, dest_s)?]
        };
        let ty = str_of(v, "Type").unwrap_or("Custom");
        let mut hops: Vec<(String, String)> = list_at(v, &["NextHops", "NextHop"])
            .into_iter()
            .map(|h| {
                (
                    str_of(h, "NextHopType").unwrap_or("").to_string(),
                    str_of(h, "NextHopId").unwrap_or("").to_string(),
                )
            })
            .collect();
        if hops.is_empty() {
            hops.push((
                str_of(v, "NextHopType").unwrap_or("").to_string(),
                str_of(v, "InstanceId").unwrap_or("").to_string(),
            ));
        }
        if hops.len() > 1 {
            w.add(
                "ECMP routes",
                id.as_str(),
                "vpcsim routes to one next hop; the first is kept",
            );
        }
        let (ht, hid) = hops.swap_remove(0);
        for dest in dests {
            // Every route is kept; one vpcsim does not forward through is kept as
            // `unmodelled`, so its traffic drops naming it instead of taking another route.
            let unmodelled: Option<(String, &str)> = if ty == "System" {
                let local = vswitches.values().any(|s| s.1 == dest)
                    || ht == "local" && vswitches.values().any(|s| s.1.contains(&dest.addr()));
                if local {
                    continue;
                }
                Some((
                    format!("System {}", if ht.is_empty() { "service" } else { &ht }),
                    "system routes other than the VSwitch CIDRs (e.g. 100.64.0.0/10 to cloud services) are kept, but vpcsim does not forward through them: packets routed there drop as next_hop_unmodelled",
                ))
            } else if ty != "Custom" {
                Some((
                    format!("{ty} {}", if ht.is_empty() { "route" } else { &ht }),
                    "routes learned from CEN, BGP, ECR or other gateways are kept, but vpcsim does not forward through them: packets routed there drop as next_hop_unmodelled",
                ))
            } else {
                match ht.as_str() {
                    "NetworkInterface" if left_out_enis.contains(&hid) => Some((
                        "NetworkInterface (left out)".to_string(),
                        "the ENI is not modelled (no security group): the route is kept, its packets drop as next_hop_unmodelled",
                    )),
                    "Instance" | "NetworkInterface" | "NatGateway" => None,
                    _ => Some((
                        if ht.is_empty() { "unknown".to_string() } else { ht.clone() },
                        "kept in the table, but vpcsim does not forward through it: packets routed there drop as next_hop_unmodelled, naming the route and the type",
                    )),
                }
            };
            if let Some((kind, hint)) = &unmodelled {
                w.add(
                    &format!("route next hop {kind}"),
                    format!("{id} ({dest} → {hid})"),
                    hint,
                );
            } else {
                let ok = match ht.as_str() {
                    "Instance" => instances.contains(&hid),
                    "NetworkInterface" => {
                        secondary_ids.contains(&hid) || primary_of.values().any(|e| *e == hid)
                    }
                    _ => nat_ids.contains(&hid),
                };
                if !ok {
                    let call = match ht.as_str() {
                        "Instance" => "DescribeInstances",
                        "NatGateway" => "DescribeNatGateways",
                        _ => "DescribeNetworkInterfaces",
                    };
                    return Err(missing(it, &what, &hid, cx.fix(call, "")));
                }
            }
            // A prefix-list route becomes one route per CIDR, each with its own id.
            let route_id = if dest_s.starts_with("pl-") {
                format!("{id}-{dest}")
            } else {
                id.clone()
            };
            let entry = routes.get_mut(&table).expect("table known");
            if !seen_dest.insert((table.clone(), dest)) {
                w.add(
                    "duplicate route destinations",
                    format!("{id} ({dest})"),
                    "a table holds one route per destination in vpcsim; the first is kept",
                );
                continue;
            }
            if dest.prefix_len() == 0 {
                has_default.insert(table.clone());
            }
            let mut r = format!(
                "{{ id = {}, destination = {}, next_hop_type = {}, next_hop_id = {}",
                q(&route_id),
                q(&dest.to_string()),
                q(unmodelled.as_ref().map_or(ht.as_str(), |u| u.0.as_str())),
                q(&hid)
            );
            if unmodelled.is_some() {
                r.push_str(", unmodelled = true");
            }
            r.push_str(" }");
            entry.1.push(r);
        }
    }
    if d.has(DescribeRouteEntryList) {
        for vpc in vpc_cidrs.keys() {
            let t = format!("vtb-{vpc}");
            if !has_default.contains(&t)
                && nat_ids.iter().any(|g| {
                    d.get(DescribeNatGateways, g)
                        .and_then(|i| str_of(&i.value, "VpcId"))
                        == Some(vpc)
                })
            {
                w.add("implicit default route", vpc.as_str(), "the dump has no 0.0.0.0/0 route, but vpcsim adds 0.0.0.0/0 → the VPC's first NAT gateway to the system table");
            }
        }
    }
    for (t, (vpc, rs)) in &routes {
        let is_custom = custom.contains_key(t);
        if !is_custom && rs.is_empty() {
            continue;
        }
        write!(body, "[[route_tables]]\nid = {}\nvpc = {}\n", q(t), q(vpc)).ok();
        if !rs.is_empty() {
            body.push_str("routes = [\n");
            for r in rs {
                writeln!(body, "  {r},").ok();
            }
            body.push_str("]\n");
        }
        body.push('\n');
    }

    Ok(body)
}
