//! The merged dump → scenario TOML.
//!
//! Field names and nesting follow the response models of the Alibaba Cloud Go SDK
//! (github.com/aliyun/alibaba-cloud-sdk-go), which mirror the published API reference:
//! - DescribeVpcs: `services/vpc/struct_vpc.go` (VpcId, VpcName, CidrBlock, RegionId,
//!   SecondaryCidrBlocks, Ipv6CidrBlock, Tags).
//! - DescribeVSwitches: `services/vpc/struct_v_switch.go` (VSwitchId, VpcId, ZoneId,
//!   CidrBlock, RouteTable.RouteTableId / RouteTableType, Ipv6CidrBlock).
//! - DescribeRouteTableList: `services/vpc/struct_router_table_list_type.go` (VpcId,
//!   RouteTableId, RouteTableType, VSwitchIds.VSwitchId).
//! - DescribeRouteEntryList: `services/vpc/describe_route_entry_list.go` (response
//!   `RouteEntrys.RouteEntry`) and `services/vpc/struct_route_entry.go` (RouteTableId,
//!   DestinationCidrBlock, Type, NextHopType, InstanceId, NextHops.NextHop).
//! - DescribeInstances: `services/ecs/struct_instance.go` (InstanceId, InstanceName,
//!   InstanceType, ZoneId, Status, InstanceChargeType, IoOptimized, InstanceNetworkType,
//!   VpcAttributes, PublicIpAddress, EipAddress, NetworkInterfaces, SecurityGroupIds).
//! - DescribeNetworkInterfaces: `services/ecs/struct_network_interface_set.go`
//!   (NetworkInterfaceId, Status, Type, VpcId, VSwitchId, ZoneId, PrivateIpAddress,
//!   MacAddress (see `macs`), InstanceId, SecurityGroupIds, PrivateIpSets, Ipv6Sets, Tags).
//! - DescribeEipAddresses: `services/vpc/struct_eip_address.go` (AllocationId,
//!   IpAddress, PrivateIpAddress, InstanceId, InstanceType, Mode, InternetChargeType,
//!   ResourceGroupId, RegionId, Status).
//! - DescribeNatGateways: `services/vpc/struct_nat_gateway.go` (NatGatewayId, VpcId,
//!   SnatTableIds, ForwardTableIds, IpLists; NatGatewayPrivateInfo.VswitchId and
//!   NetworkType in newer API versions).
//! - DescribeSnatTableEntries: `services/vpc/struct_snat_table_entry.go` (SnatTableId,
//!   SnatEntryId, SourceVSwitchId, SourceCIDR, SnatIp; EipAffinity and
//!   NetworkInterfaceId in newer API versions).
//! - DescribeForwardTableEntries: `services/vpc/struct_forward_table_entry.go`
//!   (ForwardTableId, ForwardEntryId, ExternalIp, ExternalPort, IpProtocol, InternalIp,
//!   InternalPort).
//! - DescribeSecurityGroupAttribute: `services/ecs/describe_security_group_attribute.go`
//!   and `services/ecs/struct_permission.go` (SecurityGroupId, VpcId, InnerAccessPolicy,
//!   Permissions.Permission: Direction, IpProtocol, PortRange, SourceCidrIp, DestCidrIp,
//!   SourceGroupId, DestGroupId, Policy, Priority, Description).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use ipnet::Ipv4Net;
use serde_json::Value;

use super::load::{at, flag, list_at, meaningful, str_of, strings_at, Dump, Item};
use super::ApiKind::*;
use super::{ImportError, Warnings};
use crate::model::limits::builtin_instance_types;

pub(super) fn q(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

pub(super) fn invalid(file: &Path, message: impl Into<String>) -> ImportError {
    ImportError::Invalid {
        file: file.to_path_buf(),
        message: message.into(),
    }
}

pub(super) fn missing(item: &Item, from: &str, id: &str, fix: String) -> ImportError {
    ImportError::MissingReference {
        file: item.file.clone(),
        from: from.to_string(),
        id: id.to_string(),
        fix,
    }
}

/// `vpc`, which `what` (read from `item`) refers to, must be a VPC of the dump.
fn require_vpc(
    item: &Item,
    what: &str,
    vpc: &str,
    vpcs: &BTreeMap<String, Ipv4Net>,
    cx: &Ctx,
) -> Result<(), ImportError> {
    if vpcs.contains_key(vpc) {
        return Ok(());
    }
    Err(missing(item, what, vpc, cx.fix("DescribeVpcs", "")))
}

pub(super) fn cidr(item: &Item, what: &str, s: &str) -> Result<Ipv4Net, ImportError> {
    s.parse::<Ipv4Net>().map(|n| n.trunc()).map_err(|_| {
        invalid(
            &item.file,
            format!("{what}: `{s}` is not an IPv4 CIDR block"),
        )
    })
}

/// `1.2.3.4` → `1.2.3.4/32` (the API gives single hosts both ways).
pub(super) fn host_cidr(c: &str) -> String {
    if c.contains('/') {
        c.to_string()
    } else {
        format!("{c}/32")
    }
}

pub(super) fn ip(item: &Item, what: &str, s: &str) -> Result<Ipv4Addr, ImportError> {
    s.trim()
        .parse::<Ipv4Addr>()
        .map_err(|_| invalid(&item.file, format!("{what}: `{s}` is not an IPv4 address")))
}

/// Fields of any resource that vpcsim does not model: tags and IPv6.
fn generic(id: &str, v: &Value, w: &mut Warnings) {
    if v.get("Tags").is_some_and(meaningful) {
        w.add("tags", id, "vpcsim does not model tags; they are left out");
    }
    if let Some(o) = v.as_object() {
        for (k, x) in o {
            if k.to_ascii_lowercase().contains("ipv6") && meaningful(x) {
                w.add(
                    "IPv6",
                    format!("{id} ({k})"),
                    "vpcsim simulates IPv4 only; IPv6 CIDRs and addresses are left out",
                );
            }
        }
    }
}

pub(super) struct Ctx {
    pub(super) region: String,
}

impl Ctx {
    pub(super) fn fix(&self, call: &str, arg: &str) -> String {
        let service = if matches!(
            call,
            "DescribeInstances"
                | "DescribeNetworkInterfaces"
                | "DescribeSecurityGroups"
                | "DescribeSecurityGroupAttribute"
                | "DescribePrefixListAttributes"
        ) {
            "ecs"
        } else {
            "vpc"
        };
        format!(
            "aliyun {service} {call} --RegionId {}{}{arg}",
            self.region,
            if arg.is_empty() { "" } else { " " }
        )
    }
}

pub fn convert(d: &Dump, w: &mut Warnings) -> Result<String, ImportError> {
    let first_vpc = d.items(DescribeVpcs).next();
    let Some((_, first_vpc)) = first_vpc else {
        return Err(ImportError::Invalid {
            file: PathBuf::from("."),
            message: "the folder holds no VPC; add the output of `aliyun vpc DescribeVpcs --RegionId <region>`".into(),
        });
    };
    let region = str_of(&first_vpc.value, "RegionId")
        .unwrap_or("cn-hangzhou")
        .to_string();
    let cx = Ctx { region };
    let mut out = String::new();
    let mut body = String::new();

    // ---- VPCs ----
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

    // ---- route tables: the real system table id → vpcsim's `vtb-<vpc id>` ----
    let mut system_of: BTreeMap<String, String> = BTreeMap::new(); // real id → vpc
    let mut custom: BTreeMap<String, String> = BTreeMap::new(); // custom id → vpc
    let mut custom_vsw: BTreeMap<String, String> = BTreeMap::new(); // vsw → custom table
    for (id, it) in d.items(DescribeRouteTableList) {
        let v = &it.value;
        generic(id, v, w);
        let vpc = str_of(v, "VpcId").unwrap_or_default().to_string();
        require_vpc(it, &format!("route table {id}"), &vpc, &vpc_cidrs, &cx)?;
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

    // ---- VSwitches ----
    let mut vswitches: BTreeMap<String, (String, Ipv4Net, String)> = BTreeMap::new();
    for (id, it) in d.items(DescribeVSwitches) {
        let v = &it.value;
        generic(id, v, w);
        let vpc = str_of(v, "VpcId").unwrap_or_default().to_string();
        require_vpc(it, &format!("VSwitch {id}"), &vpc, &vpc_cidrs, &cx)?;
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

    // ---- prefix lists (for security group rules and routes) ----
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

    // ---- security groups ----
    let mut sgs: BTreeMap<String, (String, bool, Option<&Item>)> = BTreeMap::new(); // id → (vpc, enterprise, attribute)
    for (id, it) in d.items(DescribeSecurityGroups) {
        let v = &it.value;
        generic(id, v, w);
        let vpc = str_of(v, "VpcId").unwrap_or_default().to_string();
        require_vpc(it, &format!("security group {id}"), &vpc, &vpc_cidrs, &cx)?;
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
        require_vpc(it, &format!("security group {id}"), &vpc, &vpc_cidrs, &cx)?;
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
        let rules = super::rules::permissions(id, attr, &sgs, &prefix_lists, &cx, w)?;
        if !rules.is_empty() {
            body.push_str("rules = [\n");
            for r in rules {
                writeln!(body, "  {r},").ok();
            }
            body.push_str("]\n");
        }
        body.push('\n');
    }

    // ---- ENIs from DescribeNetworkInterfaces ----
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
    let check_sgs = |it: &Item, what: &str, groups: &[String]| -> Result<(), ImportError> {
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
    };

    let macs = super::macs::eni_macs(d, w);

    // ---- instances ----
    let known_types: BTreeSet<String> = builtin_instance_types()
        .into_iter()
        .map(|t| t.name)
        .collect();
    let mut new_types: BTreeMap<String, u32> = BTreeMap::new(); // type → ENIs seen
    let mut enis_per_instance: BTreeMap<String, u32> = BTreeMap::new();
    for (_, _, inst, _) in &secondary {
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
        check_sgs(it, &what, &groups)?;
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
            require_vpc(it, &what, vpc, &vpc_cidrs, &cx)?;
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

    // ---- secondary ENIs, in attachment (device index) order ----
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
    let order = |s: &(String, &Item, Option<String>, Option<i64>)| -> i64 {
        s.3.or_else(|| list_pos.get(&s.0).copied())
            .unwrap_or(i64::MAX)
    };
    secondary.sort_by(|a, b| (order(a), &a.0).cmp(&(order(b), &b.0)));
    for (id, it, inst, _) in &secondary {
        let v = &it.value;
        let what = format!("ENI {id}");
        let vsw = str_of(v, "VSwitchId").unwrap_or("");
        if !vswitches.contains_key(vsw) {
            return Err(missing(it, &what, vsw, cx.fix("DescribeVSwitches", "")));
        }
        let groups = strings_at(v, &["SecurityGroupIds", "SecurityGroupId"]);
        check_sgs(it, &what, &groups)?;
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

    // ---- NAT gateways, with their SNAT and DNAT entries ----
    let mut stb: BTreeMap<String, String> = BTreeMap::new();
    let mut ftb: BTreeMap<String, String> = BTreeMap::new();
    for (id, it) in d.items(DescribeNatGateways) {
        for t in strings_at(&it.value, &["SnatTableIds", "SnatTableId"]) {
            stb.insert(t, id.clone());
        }
        for t in strings_at(&it.value, &["ForwardTableIds", "ForwardTableId"]) {
            ftb.insert(t, id.clone());
        }
    }
    let eip_addrs: BTreeSet<String> = d
        .items(DescribeEipAddresses)
        .filter_map(|(_, it)| str_of(&it.value, "IpAddress").map(str::to_string))
        .collect();
    let mut snat: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (id, it) in d.items(DescribeSnatTableEntries) {
        let v = &it.value;
        let what = format!("SNAT entry {id}");
        let t = str_of(v, "SnatTableId").unwrap_or("");
        let Some(g) = stb.get(t) else {
            return Err(missing(it, &what, t, cx.fix("DescribeNatGateways", "")));
        };
        let mut e = format!("{{ id = {}", q(id));
        if let Some(s) = str_of(v, "SourceVSwitchId") {
            if !vswitches.contains_key(s) {
                return Err(missing(it, &what, s, cx.fix("DescribeVSwitches", "")));
            }
            write!(e, ", source_vswitch = {}", q(s)).ok();
        } else if let Some(n) = str_of(v, "NetworkInterfaceId") {
            if !secondary_ids.contains(n) {
                return Err(missing(
                    it,
                    &what,
                    n,
                    cx.fix("DescribeNetworkInterfaces", ""),
                ));
            }
            write!(e, ", source_eni = {}", q(n)).ok();
        } else {
            let c = str_of(v, "SourceCIDR").unwrap_or("");
            let c = if c.contains('/') {
                c.to_string()
            } else {
                format!("{c}/32")
            };
            write!(
                e,
                ", source_cidr = {}",
                q(&cidr(it, &what, &c)?.to_string())
            )
            .ok();
        }
        let mut ips = Vec::new();
        for a in str_of(v, "SnatIp")
            .unwrap_or("")
            .split(',')
            .filter(|s| !s.trim().is_empty())
        {
            let a = ip(it, &what, a)?;
            if !eip_addrs.contains(&a.to_string()) {
                return Err(missing(
                    it,
                    &what,
                    &a.to_string(),
                    cx.fix("DescribeEipAddresses", &format!("--EipAddress {a}")),
                ));
            }
            ips.push(q(&a.to_string()));
        }
        write!(e, ", snat_ips = [{}]", ips.join(", ")).ok();
        if flag(v, "EipAffinity") == Some(true) {
            e.push_str(", eip_affinity = true");
        }
        e.push_str(" }");
        snat.entry(g.clone()).or_default().push(e);
    }
    let mut dnat: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (id, it) in d.items(DescribeForwardTableEntries) {
        let v = &it.value;
        let what = format!("DNAT entry {id}");
        let t = str_of(v, "ForwardTableId").unwrap_or("");
        let Some(g) = ftb.get(t) else {
            return Err(missing(it, &what, t, cx.fix("DescribeNatGateways", "")));
        };
        let ext = ip(it, &what, str_of(v, "ExternalIp").unwrap_or(""))?;
        let int = ip(it, &what, str_of(v, "InternalIp").unwrap_or(""))?;
        let proto = match str_of(v, "IpProtocol")
            .unwrap_or("Any")
            .to_ascii_lowercase()
            .as_str()
        {
            "tcp" => "TCP",
            "udp" => "UDP",
            _ => "Any",
        };
        dnat.entry(g.clone()).or_default().push(format!(
            "{{ id = {}, external_ip = {}, external_port = {}, internal_ip = {}, internal_port = {}, protocol = {} }}",
            q(id),
            q(&ext.to_string()),
            q(str_of(v, "ExternalPort").unwrap_or("Any")),
            q(&int.to_string()),
            q(str_of(v, "InternalPort").unwrap_or("Any")),
            q(proto)
        ));
    }
    let mut nat_ids: BTreeSet<String> = BTreeSet::new();
    for (id, it) in d.items(DescribeNatGateways) {
        let v = &it.value;
        generic(id, v, w);
        let what = format!("NAT gateway {id}");
        let vpc = str_of(v, "VpcId").unwrap_or("");
        require_vpc(it, &what, vpc, &vpc_cidrs, &cx)?;
        if str_of(v, "NetworkType") == Some("intranet") {
            w.add(
                "VPC NAT gateways",
                id.as_str(),
                "vpcsim models Internet NAT gateways; this intranet gateway is imported as one",
            );
        }
        let vsw = at(v, &["NatGatewayPrivateInfo", "VswitchId"])
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty());
        let vsw = match vsw {
            Some(s) if vswitches.contains_key(s) => s.to_string(),
            Some(s) => return Err(missing(it, &what, s, cx.fix("DescribeVSwitches", ""))),
            None => {
                let Some((s, _)) = vswitches.iter().find(|(_, x)| x.0 == vpc) else {
                    return Err(invalid(&it.file, format!("{what} has no NatGatewayPrivateInfo.VswitchId and its VPC has no VSwitch")));
                };
                w.add("NAT gateways without a VSwitch", id.as_str(), "an older gateway without NatGatewayPrivateInfo: placed in the VPC's first VSwitch");
                s.clone()
            }
        };
        for e in list_at(v, &["IpLists", "IpList"]) {
            if let Some(a) = str_of(e, "AllocationId") {
                if d.get(DescribeEipAddresses, a).is_none() {
                    return Err(missing(
                        it,
                        &what,
                        a,
                        cx.fix("DescribeEipAddresses", &format!("--AllocationId {a}")),
                    ));
                }
            }
        }
        nat_ids.insert(id.clone());
        write!(
            body,
            "[[nat_gateways]]\nid = {}\nvpc = {}\nvswitch = {}\n",
            q(id),
            q(vpc),
            q(&vsw)
        )
        .ok();
        for (key, list) in [("snat", snat.get(id)), ("dnat", dnat.get(id))] {
            if let Some(l) = list {
                writeln!(body, "{key} = [").ok();
                for e in l {
                    writeln!(body, "  {e},").ok();
                }
                body.push_str("]\n");
            }
        }
        body.push('\n');
    }

    // ---- EIPs ----
    for (id, it) in d.items(DescribeEipAddresses) {
        let v = &it.value;
        generic(id, v, w);
        let what = format!("EIP {id}");
        let addr = ip(it, &what, str_of(v, "IpAddress").unwrap_or(""))?;
        write!(
            body,
            "[[eips]]\nid = {}\naddress = {}\n",
            q(id),
            q(&addr.to_string())
        )
        .ok();
        let charge = match str_of(v, "InternetChargeType") {
            Some("PayByBandwidth") => "PayByBandwidth",
            _ => "PayByTraffic",
        };
        writeln!(body, "charge = {}", q(charge)).ok();
        if let Some(rg) = str_of(v, "ResourceGroupId") {
            writeln!(body, "resource_group = {}", q(rg)).ok();
        }
        if let Some(r) = str_of(v, "RegionId") {
            writeln!(body, "region = {}", q(r)).ok();
        }
        if str_of(v, "BandwidthPackageId").is_some() {
            w.add(
                "EIP bandwidth plans",
                id.as_str(),
                "Internet Shared Bandwidth is not modelled; the EIP is imported on its own",
            );
        }
        let target = str_of(v, "InstanceId");
        let kind = str_of(v, "InstanceType").unwrap_or("");
        if let Some(t) = target {
            let bind = match kind {
                "EcsInstance" => {
                    if !instances.contains(t) {
                        return Err(missing(
                            it,
                            &what,
                            t,
                            cx.fix("DescribeInstances", &format!("--InstanceIds '[\"{t}\"]'")),
                        ));
                    }
                    Some(format!("{{ type = \"EcsInstance\", id = {} }}", q(t)))
                }
                "NetworkInterface" if left_out_enis.contains(t) => {
                    w.add(
                        "EIPs of ENIs left out",
                        format!("{id} → {t}"),
                        "the ENI is not modelled (see above): the EIP is imported unbound, so traffic to it drops instead of reaching the ENI",
                    );
                    None
                }
                "NetworkInterface" => {
                    if !secondary_ids.contains(t) {
                        return Err(missing(
                            it,
                            &what,
                            t,
                            cx.fix(
                                "DescribeNetworkInterfaces",
                                &format!("--NetworkInterfaceId.1 {t}"),
                            ),
                        ));
                    }
                    let mode = match str_of(v, "Mode").unwrap_or("NAT") {
                        m @ ("NAT" | "BINDED" | "MULTI_BINDED") => m,
                        other => return Err(invalid(&it.file, format!("{what}: Mode `{other}` is unknown; expected NAT, BINDED or MULTI_BINDED"))),
                    };
                    let mut b = format!(
                        "{{ type = \"NetworkInterface\", id = {}, mode = {}",
                        q(t),
                        q(mode)
                    );
                    if mode != "BINDED" {
                        if let Some(p) = str_of(v, "PrivateIpAddress") {
                            write!(b, ", private_ip = {}", q(&ip(it, &what, p)?.to_string())).ok();
                        }
                    }
                    b.push_str(" }");
                    Some(b)
                }
                "Nat" => {
                    if !nat_ids.contains(t) {
                        return Err(missing(it, &what, t, cx.fix("DescribeNatGateways", "")));
                    }
                    Some(format!("{{ type = \"Nat\", id = {} }}", q(t)))
                }
                other => {
                    w.add(
                        &format!("EIP bindings to {}", if other.is_empty() { "unknown targets" } else { other }),
                        format!("{id} → {t}"),
                        "the target is not imported (no Describe call for it is read); the EIP is imported unbound",
                    );
                    None
                }
            };
            if let Some(b) = bind {
                writeln!(body, "bind = {b}").ok();
            }
        }
        body.push('\n');
    }

    // ---- routes ----
    body.push_str(&super::routes::route_tables(
        &super::routes::Known {
            vpcs: &vpc_cidrs,
            system_of: &system_of,
            custom: &custom,
            vswitches: &vswitches,
            prefix_lists: &prefix_lists,
            instances: &instances,
            secondary_ids: &secondary_ids,
            primary_of: &primary_of,
            nat_ids: &nat_ids,
            left_out_enis: &left_out_enis,
        },
        d,
        &cx,
        w,
    )?);

    // ---- header ----
    out.push_str("# Imported by vpcsim from the cloud's Describe* responses:\n");
    for (f, k) in &d.sources {
        let name = f.file_name().map_or_else(
            || f.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        writeln!(out, "#   {name} ({k})").ok();
    }
    for (real, vpc) in &system_of {
        writeln!(
            out,
            "# The system route table {real} of {vpc} is `vtb-{vpc}` here."
        )
        .ok();
    }
    out.push_str("# Topology only: add [[steps]] and [[checks]] to use it.\n\n");
    let mut name = vpc_names.join("+");
    if name.is_empty() {
        name = "imported".into();
    }
    writeln!(
        out,
        "[scenario]\nname = {}\ndescription = {}\nregion = {}\n",
        q(&name),
        q("Imported from Describe* API responses"),
        q(&cx.region)
    )
    .ok();
    for (t, enis) in &new_types {
        w.add(
            "instance types unknown to vpcsim",
            t.as_str(),
            "added as [[instance_types]] with a conservative limit (the ENIs seen, at least 2; 6 private IPs per ENI); check the instance type page and correct it",
        );
        writeln!(
            out,
            "[[instance_types]]\nname = {}\nmax_enis = {enis}\nmax_private_ips_per_eni = 6\n",
            q(t)
        )
        .ok();
    }
    out.push_str(&body);
    Ok(out)
}
