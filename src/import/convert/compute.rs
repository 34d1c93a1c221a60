//! Security groups with their rules, ENIs and instances.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use serde_json::Value;

use super::super::load::{at, flag, list_at, str_of, strings_at, Dump, Item};
use super::super::ApiKind::*;
use super::super::{ImportError, Warnings};
use super::{generic, ip, missing, q, require_vpc, write_list, Ctx, Out, Secondary, Section, Seen};
use crate::model::limits::builtin_instance_types;

/// Every group in `groups`, which `what` (read from `it`) uses, must be in the dump.
fn check_sgs(
    it: &Item,
    what: &str,
    groups: &[String],
    sgs: &BTreeMap<String, (String, bool, Option<&Item>)>,
    cx: &Ctx,
) -> Result<(), ImportError> {
    for g in groups {
        if !sgs.contains_key(g) {
            return Err(missing(
                it,
                what,
                g,
                cx.fix(
                    "DescribeSecurityGroupAttribute",
                    &format!("--SecurityGroupId {g}"),
                ),
            ));
        }
    }
    Ok(())
}

/// `[[security_groups]]`, with their rules from DescribeSecurityGroupAttribute.
pub(super) fn security_groups<'d>(d: &'d Dump, seen: &mut Seen<'d>, out: &mut Out<'_>) -> Section {
    let Out { cx, w, body } = out;
    let vpc_cidrs = &seen.vpcs;
    let prefix_lists = &seen.prefix_lists;
    let mut sgs: BTreeMap<String, (String, bool, Option<&Item>)> = BTreeMap::new(); // id → (vpc, enterprise, attribute)
    for (id, it) in d.items(DescribeSecurityGroups) {
        let v = &it.value;
        generic(id, v, w);
        let vpc = str_of(v, "VpcId").unwrap_or_default().to_string();
        require_vpc(it, &format!("security group {id}"), &vpc, vpc_cidrs, cx)?;
        let ent = str_of(v, "SecurityGroupType") == Some("enterprise");
        sgs.insert(
            id.clone(),
            (vpc, ent, d.get(DescribeSecurityGroupAttribute, id)),
        );
    }
    for (id, it) in d.items(DescribeSecurityGroupAttribute) {
        if sgs.contains_key(id) {
            continue;
        }
        let vpc = str_of(&it.value, "VpcId").unwrap_or_default().to_string();
        require_vpc(it, &format!("security group {id}"), &vpc, vpc_cidrs, cx)?;
        w.add(
            "security group type unknown",
            id.as_str(),
            "the group is not in DescribeSecurityGroups, so it is imported as a basic group; add the output of `aliyun ecs DescribeSecurityGroups` to know its type",
        );
        sgs.insert(id.clone(), (vpc, false, Some(it)));
    }
    for (id, (vpc, ent, attr)) in &sgs {
        write!(
            body,
            "[[security_groups]]\nid = {}\nvpc = {}\ntype = {}\n",
            q(id),
            q(vpc),
            q(if *ent { "enterprise" } else { "normal" })
        )
        .ok();
        let Some(attr) = attr else {
            w.add(
                "security group rules not dumped",
                id.as_str(),
                "the group is imported without rules (everything it would allow is dropped); add the output of `aliyun ecs DescribeSecurityGroupAttribute --SecurityGroupId <id>` for each",
            );
            body.push('\n');
            continue;
        };
        let a = &attr.value;
        if !ent && str_of(a, "InnerAccessPolicy").is_some_and(|p| p.eq_ignore_ascii_case("drop")) {
            body.push_str("inner_access = false\n");
        }
        let rules = super::super::rules::permissions(id, attr, &sgs, prefix_lists, cx, w)?;
        if !rules.is_empty() {
            write_list(body, "rules", &rules);
        }
        body.push('\n');
    }
    seen.sgs = sgs;
    Ok(())
}

/// ENIs from DescribeNetworkInterfaces: which is whose primary, which secondary ENIs are
/// imported (written after the instances) and which are left out.
pub(super) fn network_interfaces<'d>(d: &'d Dump, seen: &mut Seen<'d>, w: &mut Warnings) {
    let mut primary_of: BTreeMap<String, String> = BTreeMap::new(); // instance → primary ENI
    let mut left_out_enis: BTreeSet<String> = BTreeSet::new();
    let mut secondary: Vec<(String, &Item, Option<String>, Option<i64>)> = Vec::new();
    for (id, it) in d.items(DescribeNetworkInterfaces) {
        let v = &it.value;
        generic(id, v, w);
        let inst = str_of(v, "InstanceId").map(str::to_string);
        match str_of(v, "Type").unwrap_or("Secondary") {
            "Primary" => {
                if let Some(i) = &inst {
                    primary_of.insert(i.clone(), id.clone());
                }
                let sec = list_at(v, &["PrivateIpSets", "PrivateIpSet"])
                    .iter()
                    .filter(|s| flag(s, "Primary") == Some(false))
                    .count();
                if sec > 0 {
                    w.add(
                        "secondary private IPs of primary ENIs",
                        id.as_str(),
                        "a scenario gives the primary ENI one private IP; the others are left out",
                    );
                }
            }
            "Secondary" => {
                if strings_at(v, &["SecurityGroupIds", "SecurityGroupId"]).is_empty() {
                    left_out_enis.insert(id.clone());
                    // ENIs a cloud service creates in the VPC (RDS, NLB, ...) may have no
                    // security group; vpcsim needs one per ENI.
                    w.add(
                        "ENIs without a security group",
                        format!(
                            "{id}{}",
                            if flag(v, "ServiceManaged") == Some(true) { " (managed by a cloud service)" } else { "" }
                        ),
                        "not modelled (often an ENI of a managed service): left out, so packets to its addresses drop as no_such_private_ip instead of reaching the service",
                    );
                    continue;
                }
                // Device order: `Attachment.DeviceIndex` when the response has it,
                // else the instance's `NetworkInterfaces` list order (below).
                let idx = at(v, &["Attachment", "DeviceIndex"]).and_then(Value::as_i64);
                let inst = inst.filter(|_| str_of(v, "Status") != Some("Available"));
                secondary.push((id.clone(), it, inst, idx));
            }
            other => w.add(
                "ENI types",
                format!("{id} ({other})"),
                "only Primary and Secondary ENIs are modelled (not trunk or member ENIs); left out",
            ),
        }
    }
    let secondary_ids: BTreeSet<String> = secondary.iter().map(|s| s.0.clone()).collect();
    seen.primary_of = primary_of;
    seen.left_out_enis = left_out_enis;
    seen.secondary = secondary;
    seen.secondary_ids = secondary_ids;
}

/// `[[instances]]`, and the instance types vpcsim does not know.
pub(super) fn instances(d: &Dump, seen: &mut Seen<'_>, out: &mut Out<'_>) -> Section {
    let Out { cx, w, body } = out;
    let macs = &seen.macs;
    let vpc_cidrs = &seen.vpcs;
    let vswitches = &seen.vswitches;
    let secondary = &seen.secondary;
    let secondary_ids = &seen.secondary_ids;
    let primary_of = &seen.primary_of;
    let sgs = &seen.sgs;
    let known_types: BTreeSet<String> = builtin_instance_types()
        .into_iter()
        .map(|t| t.name)
        .collect();
    let mut new_types: BTreeMap<String, u32> = BTreeMap::new(); // type → ENIs seen
    let mut enis_per_instance: BTreeMap<String, u32> = BTreeMap::new();
    for (_, _, inst, _) in secondary {
        if let Some(i) = inst {
            *enis_per_instance.entry(i.clone()).or_insert(1) += 1;
        }
    }
    let mut instances: BTreeSet<String> = BTreeSet::new();
    for (id, it) in d.items(DescribeInstances) {
        let v = &it.value;
        generic(id, v, w);
        instances.insert(id.clone());
        let what = format!("instance {id}");
        let itype = str_of(v, "InstanceType")
            .unwrap_or("ecs.g6.large")
            .to_string();
        if !known_types.contains(&itype) {
            let e = new_types.entry(itype.clone()).or_insert(2);
            *e = (*e).max(enis_per_instance.get(id).copied().unwrap_or(1));
        }
        let groups = strings_at(v, &["SecurityGroupIds", "SecurityGroupId"]);
        check_sgs(it, &what, &groups, sgs, cx)?;
        write!(body, "[[instances]]\nid = {}\n", q(id)).ok();
        if let Some(n) = str_of(v, "InstanceName") {
            writeln!(body, "name = {}", q(n)).ok();
        }
        let classic = str_of(v, "InstanceNetworkType") == Some("classic");
        if classic {
            let zone = str_of(v, "ZoneId").unwrap_or_default();
            writeln!(body, "zone = {}", q(zone)).ok();
            w.add(
                "classic-network instances",
                id.as_str(),
                "imported without VPC networking",
            );
        } else {
            let vpc = at(v, &["VpcAttributes", "VpcId"])
                .and_then(Value::as_str)
                .unwrap_or("");
            require_vpc(it, &what, vpc, vpc_cidrs, cx)?;
            let vsw = at(v, &["VpcAttributes", "VSwitchId"])
                .and_then(Value::as_str)
                .unwrap_or("");
            if !vswitches.contains_key(vsw) {
                return Err(missing(
                    it,
                    &what,
                    vsw,
                    cx.fix("DescribeVSwitches", &format!("--VpcId {vpc}")),
                ));
            }
            writeln!(body, "vswitch = {}", q(vsw)).ok();
        }
        writeln!(body, "instance_type = {}", q(&itype)).ok();
        let status = match str_of(v, "Status").unwrap_or("Running") {
            s @ ("Pending" | "Starting" | "Running" | "Stopping" | "Stopped") => s,
            other => {
                w.add(
                    "instance states",
                    format!("{id} ({other})"),
                    "imported as Stopped",
                );
                "Stopped"
            }
        };
        writeln!(body, "status = {}", q(status)).ok();
        if let Some(io) = flag(v, "IoOptimized") {
            writeln!(body, "io_optimized = {io}").ok();
        }
        let charge = match str_of(v, "InstanceChargeType") {
            Some("PrePaid") => "PrePaid",
            _ => "PostPaid",
        };
        writeln!(body, "charge_type = {}", q(charge)).ok();
        if !classic {
            let ips = strings_at(v, &["VpcAttributes", "PrivateIpAddress", "IpAddress"]);
            if let Some(p) = ips.first() {
                writeln!(body, "private_ip = {}", q(&ip(it, &what, p)?.to_string())).ok();
            }
        }
        let pubs = strings_at(v, &["PublicIpAddress", "IpAddress"]);
        if let Some(p) = pubs.first() {
            writeln!(body, "public_ip = {}", q(&ip(it, &what, p)?.to_string())).ok();
        }
        if let Some(a) = at(v, &["EipAddress", "AllocationId"])
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        {
            if d.get(DescribeEipAddresses, a).is_none() {
                return Err(missing(
                    it,
                    &what,
                    a,
                    cx.fix("DescribeEipAddresses", &format!("--AllocationId {a}")),
                ));
            }
        }
        let gl: Vec<String> = groups.iter().map(|g| q(g)).collect();
        writeln!(body, "security_groups = [{}]", gl.join(", ")).ok();
        // The instance's own ENI list: the primary, and secondaries that must be dumped.
        let mut primary = primary_of.get(id).cloned();
        for (n, e) in list_at(v, &["NetworkInterfaces", "NetworkInterface"])
            .into_iter()
            .enumerate()
        {
            let Some(eid) = str_of(e, "NetworkInterfaceId") else {
                continue;
            };
            let ty = str_of(e, "Type").unwrap_or(if n == 0 { "Primary" } else { "Secondary" });
            if ty == "Primary" {
                primary.get_or_insert_with(|| eid.to_string());
            } else if !secondary_ids.contains(eid) {
                return Err(missing(
                    it,
                    &what,
                    eid,
                    cx.fix(
                        "DescribeNetworkInterfaces",
                        &format!("--NetworkInterfaceId.1 {eid}"),
                    ),
                ));
            }
        }
        if let Some(p) = primary {
            writeln!(body, "primary_eni = {}", q(&p)).ok();
            if let Some(m) = macs.get(&p) {
                writeln!(body, "mac = {}", q(m)).ok();
            }
        }
        body.push('\n');
    }
    for (eid, inst) in primary_of.iter().map(|(i, e)| (e, i)) {
        if !instances.contains(inst) {
            let it = d.get(DescribeNetworkInterfaces, eid).expect("listed");
            return Err(missing(
                it,
                &format!("primary ENI {eid}"),
                inst,
                cx.fix(
                    "DescribeInstances",
                    &format!("--InstanceIds '[\"{inst}\"]'"),
                ),
            ));
        }
    }
    seen.instances = instances;
    seen.new_types = new_types;
    Ok(())
}

/// `[[enis]]`: the secondary ENIs, in attachment (device index) order.
pub(super) fn secondary_enis(d: &Dump, seen: &mut Seen<'_>, out: &mut Out<'_>) -> Section {
    let Out { cx, w, body } = out;
    let macs = &seen.macs;
    let vswitches = &seen.vswitches;
    let instances = &seen.instances;
    let sgs = &seen.sgs;
    let secondary = &mut seen.secondary;
    // ENIs are attached in file order, which decides eth1, eth2, ...: the device index
    // if the response gives one, else the position in the instance's own
    // `NetworkInterfaces` list (the order the API lists them in, primary first), else last.
    let mut list_pos: BTreeMap<String, i64> = BTreeMap::new();
    for (_, it) in d.items(DescribeInstances) {
        for (n, e) in list_at(&it.value, &["NetworkInterfaces", "NetworkInterface"])
            .into_iter()
            .enumerate()
        {
            if let Some(eid) = str_of(e, "NetworkInterfaceId") {
                list_pos.insert(eid.to_string(), n as i64);
            }
        }
    }
    let order = |s: &Secondary<'_>| -> i64 {
        s.3.or_else(|| list_pos.get(&s.0).copied())
            .unwrap_or(i64::MAX)
    };
    secondary.sort_by(|a, b| (order(a), &a.0).cmp(&(order(b), &b.0)));
    for (id, it, inst, _) in secondary.iter() {
        let v = &it.value;
        let what = format!("ENI {id}");
        let vsw = str_of(v, "VSwitchId").unwrap_or("");
        if !vswitches.contains_key(vsw) {
            return Err(missing(it, &what, vsw, cx.fix("DescribeVSwitches", "")));
        }
        let groups = strings_at(v, &["SecurityGroupIds", "SecurityGroupId"]);
        check_sgs(it, &what, &groups, sgs, cx)?;
        write!(body, "[[enis]]\nid = {}\nvswitch = {}\n", q(id), q(vsw)).ok();
        if let Some(p) = str_of(v, "PrivateIpAddress") {
            writeln!(body, "primary_ip = {}", q(&ip(it, &what, p)?.to_string())).ok();
        }
        let mut sec = Vec::new();
        for s in list_at(v, &["PrivateIpSets", "PrivateIpSet"]) {
            if flag(s, "Primary") == Some(false) {
                if let Some(a) = str_of(s, "PrivateIpAddress") {
                    sec.push(q(&ip(it, &what, a)?.to_string()));
                }
            }
        }
        if !sec.is_empty() {
            writeln!(body, "secondary_ips = [{}]", sec.join(", ")).ok();
        }
        let gl: Vec<String> = groups.iter().map(|g| q(g)).collect();
        writeln!(body, "security_groups = [{}]", gl.join(", ")).ok();
        if let Some(m) = macs.get(id) {
            writeln!(body, "mac = {}", q(m)).ok();
        }
        if let Some(i) = inst {
            if !instances.contains(i) {
                return Err(missing(
                    it,
                    &what,
                    i,
                    cx.fix("DescribeInstances", &format!("--InstanceIds '[\"{i}\"]'")),
                ));
            }
            writeln!(body, "instance = {}", q(i)).ok();
            // The API does not say whether the guest routes a secondary ENI's replies back
            // out of it (multi-nic-util's policy routes): answers for that ENI depend on it.
            w.add(
                "guest policy routes unknown",
                format!("{i} ({id})"),
                "the API does not show the guest OS's routing; vpcsim assumes no source policy routes, so replies to a secondary ENI's addresses leave by eth0 and are dropped (eni_source_check). If the image configures them (multi-nic-util), add `guest = { policy_routes = true }` to the instance",
            );
        }
        let desc = str_of(v, "Description").or(str_of(v, "NetworkInterfaceName"));
        if let Some(desc) = desc {
            writeln!(body, "description = {}", q(desc)).ok();
        }
        body.push('\n');
    }
    Ok(())
}
