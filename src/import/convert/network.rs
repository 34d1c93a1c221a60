//! VPCs, route tables (which table is whose), VSwitches and prefix lists: the sections
//! every later one refers to.

use std::collections::BTreeMap;
use std::fmt::Write;

use ipnet::Ipv4Net;
use serde_json::Value;

use super::super::load::{at, list_at, str_of, strings_at, Dump};
use super::super::ApiKind::*;
use super::super::{ImportError, Warnings};
use super::{cidr, generic, host_cidr, q, require_vpc, Out, Section, Seen};

/// `[[vpcs]]`: one CIDR block each.
pub(super) fn vpcs(d: &Dump, seen: &mut Seen<'_>, out: &mut Out<'_>) -> Section {
    let Out { cx, w, body } = out;
    let mut vpc_names = Vec::new();
    let mut vpc_cidrs: BTreeMap<String, Ipv4Net> = BTreeMap::new();
    for (id, it) in d.items(DescribeVpcs) {
        let v = &it.value;
        generic(id, v, w);
        let c = cidr(
            it,
            &format!("VPC {id} CidrBlock"),
            str_of(v, "CidrBlock").unwrap_or(""),
        )?;
        vpc_cidrs.insert(id.clone(), c);
        vpc_names.push(str_of(v, "VpcName").unwrap_or(id).to_string());
        if !strings_at(v, &["SecondaryCidrBlocks", "SecondaryCidrBlock"]).is_empty()
            || !strings_at(v, &["UserCidrs", "UserCidr"]).is_empty()
        {
            w.add(
                "VPC secondary CIDR blocks",
                id.as_str(),
                "vpcsim models one CIDR block per VPC; VSwitches outside it will not load",
            );
        }
        if let Some(r) = str_of(v, "RegionId") {
            if r != cx.region {
                w.add(
                    "other region",
                    format!("{id} ({r})"),
                    "a scenario has one region; the VPC is imported into the first VPC's region",
                );
            }
        }
        writeln!(
            body,
            "[[vpcs]]\nid = {}\ncidr = {}\n",
            q(id),
            q(&c.to_string())
        )
        .ok();
    }
    seen.vpc_names = vpc_names;
    seen.vpcs = vpc_cidrs;
    Ok(())
}

/// Route tables: the real system table id → vpcsim's `vtb-<vpc id>`; custom tables and
/// the VSwitches they are bound to.
pub(super) fn route_table_list(d: &Dump, seen: &mut Seen<'_>, out: &mut Out<'_>) -> Section {
    let Out { cx, w, .. } = out;
    let vpc_cidrs = &seen.vpcs;
    let mut system_of: BTreeMap<String, String> = BTreeMap::new(); // real id → vpc
    let mut custom: BTreeMap<String, String> = BTreeMap::new(); // custom id → vpc
    let mut custom_vsw: BTreeMap<String, String> = BTreeMap::new(); // vsw → custom table
    for (id, it) in d.items(DescribeRouteTableList) {
        let v = &it.value;
        generic(id, v, w);
        let vpc = str_of(v, "VpcId").unwrap_or_default().to_string();
        require_vpc(it, &format!("route table {id}"), &vpc, vpc_cidrs, cx)?;
        match str_of(v, "RouteTableType").unwrap_or("System") {
            "System" => {
                system_of.insert(id.clone(), vpc);
            }
            "Custom" => {
                if str_of(v, "AssociateType").is_some_and(|a| a != "VSwitch") {
                    w.add(
                        "gateway route tables",
                        id.as_str(),
                        "route tables bound to an IPv4 gateway or other gateways are not modelled; left out",
                    );
                    continue;
                }
                custom.insert(id.clone(), vpc);
                for s in strings_at(v, &["VSwitchIds", "VSwitchId"]) {
                    custom_vsw.insert(s, id.clone());
                }
            }
            other => w.add(
                "route table types",
                format!("{id} ({other})"),
                "only System and Custom route tables are modelled; left out",
            ),
        }
    }
    seen.system_of = system_of;
    seen.custom = custom;
    seen.custom_vsw = custom_vsw;
    Ok(())
}

/// `[[vswitches]]`, each with its custom route table if it has one.
pub(super) fn vswitches(d: &Dump, seen: &mut Seen<'_>, out: &mut Out<'_>) -> Section {
    let Out { cx, w, body } = out;
    let vpc_cidrs = &seen.vpcs;
    let custom_vsw = &seen.custom_vsw;
    let custom = &mut seen.custom;
    let system_of = &mut seen.system_of;
    let mut vswitches: BTreeMap<String, (String, Ipv4Net, String)> = BTreeMap::new();
    for (id, it) in d.items(DescribeVSwitches) {
        let v = &it.value;
        generic(id, v, w);
        let vpc = str_of(v, "VpcId").unwrap_or_default().to_string();
        require_vpc(it, &format!("VSwitch {id}"), &vpc, vpc_cidrs, cx)?;
        let c = cidr(
            it,
            &format!("VSwitch {id} CidrBlock"),
            str_of(v, "CidrBlock").unwrap_or(""),
        )?;
        let zone = str_of(v, "ZoneId").unwrap_or_default().to_string();
        let rt_id = at(v, &["RouteTable", "RouteTableId"])
            .and_then(Value::as_str)
            .unwrap_or("");
        let rt_type = at(v, &["RouteTable", "RouteTableType"])
            .and_then(Value::as_str)
            .unwrap_or("");
        let mut table = custom_vsw.get(id).cloned();
        if !rt_id.is_empty() {
            if rt_type == "Custom" {
                custom
                    .entry(rt_id.to_string())
                    .or_insert_with(|| vpc.clone());
                table = Some(rt_id.to_string());
            } else {
                system_of.insert(rt_id.to_string(), vpc.clone());
            }
        }
        write!(
            body,
            "[[vswitches]]\nid = {}\nvpc = {}\nzone = {}\ncidr = {}\n",
            q(id),
            q(&vpc),
            q(&zone),
            q(&c.to_string())
        )
        .ok();
        if let Some(t) = &table {
            writeln!(body, "route_table = {}", q(t)).ok();
        }
        body.push('\n');
        vswitches.insert(id.clone(), (vpc, c, zone));
    }
    seen.vswitches = vswitches;
    Ok(())
}

/// Prefix lists, for security group rules and routes.
pub(super) fn prefix_lists(
    d: &Dump,
    seen: &mut Seen<'_>,
    w: &mut Warnings,
) -> Result<(), ImportError> {
    let mut prefix_lists: BTreeMap<String, Vec<Ipv4Net>> = BTreeMap::new();
    for (id, it) in d.items(DescribePrefixListAttributes) {
        let mut cidrs = Vec::new();
        for e in list_at(&it.value, &["Entries", "Entry"]) {
            let Some(c) = str_of(e, "Cidr") else { continue };
            if c.contains(':') {
                w.add(
                    "IPv6",
                    format!("{id} ({c})"),
                    "vpcsim simulates IPv4 only; IPv6 CIDRs and addresses are left out",
                );
                continue;
            }
            cidrs.push(cidr(it, &format!("prefix list {id} entry"), &host_cidr(c))?);
        }
        prefix_lists.insert(id.clone(), cidrs);
    }
    seen.prefix_lists = prefix_lists;
    Ok(())
}
