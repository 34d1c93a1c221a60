//! The merged dump → scenario TOML, one section per resource kind, in the order they
//! refer to each other: `network.rs` (VPCs, route tables, VSwitches, prefix lists),
//! `compute.rs` (security groups, ENIs, instances), `internet.rs` (NAT gateways with
//! their SNAT/DNAT entries, EIPs), then the route entries (`../routes.rs`). What a section
//! read is kept in [`Seen`] for the later ones to check references against. This file
//! holds the helpers they share and the header.
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

use super::load::{meaningful, str_of, Dump, Item};
use super::ApiKind::*;
use super::{ImportError, Warnings};

mod compute;
mod internet;
mod network;

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

/// `key = [`, one inline table a line, `]`: how the scenario writes a resource's list.
fn write_list(body: &mut String, key: &str, items: &[String]) {
    writeln!(body, "{key} = [").ok();
    for e in items {
        writeln!(body, "  {e},").ok();
    }
    body.push_str("]\n");
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

/// Where the sections write: the scenario's body, the warnings, and the region the fixes
/// name.
struct Out<'w> {
    cx: Ctx,
    w: &'w mut Warnings,
    body: String,
}

/// What a section gives back: nothing, or the first thing of the dump it could not use.
type Section = Result<(), ImportError>;

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

/// One secondary ENI to import: id, its response, the instance it is attached to, its
/// device index if the response gives one.
type Secondary<'d> = (String, &'d Item, Option<String>, Option<i64>);

/// What the sections have read so far: what later sections check their references
/// against, and what the route tables and the header use.
#[derive(Default)]
struct Seen<'d> {
    vpc_names: Vec<String>,
    /// VPC → CIDR block.
    vpcs: BTreeMap<String, Ipv4Net>,
    /// Real system route table id → VPC.
    system_of: BTreeMap<String, String>,
    /// Custom route table id → VPC.
    custom: BTreeMap<String, String>,
    /// VSwitch → its custom route table (from DescribeRouteTableList).
    custom_vsw: BTreeMap<String, String>,
    /// VSwitch → (VPC, CIDR, zone).
    vswitches: BTreeMap<String, (String, Ipv4Net, String)>,
    prefix_lists: BTreeMap<String, Vec<Ipv4Net>>,
    /// Security group → (VPC, enterprise, its DescribeSecurityGroupAttribute).
    sgs: BTreeMap<String, (String, bool, Option<&'d Item>)>,
    /// Instance → primary ENI.
    primary_of: BTreeMap<String, String>,
    /// ENIs left out (no security group).
    left_out_enis: BTreeSet<String>,
    secondary: Vec<Secondary<'d>>,
    secondary_ids: BTreeSet<String>,
    /// ENI → MAC address.
    macs: BTreeMap<String, String>,
    instances: BTreeSet<String>,
    /// Instance type unknown to vpcsim → the most ENIs an instance of it has.
    new_types: BTreeMap<String, u32>,
    nat_ids: BTreeSet<String>,
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
    let mut seen = Seen::default();
    let mut out = Out {
        cx: Ctx { region },
        w,
        body: String::new(),
    };

    // The sections in the order they refer to each other (and are written).
    network::vpcs(d, &mut seen, &mut out)?;
    network::route_table_list(d, &mut seen, &mut out)?;
    network::vswitches(d, &mut seen, &mut out)?;
    network::prefix_lists(d, &mut seen, out.w)?;
    compute::security_groups(d, &mut seen, &mut out)?;
    compute::network_interfaces(d, &mut seen, out.w);
    seen.macs = super::macs::eni_macs(d, out.w);
    compute::instances(d, &mut seen, &mut out)?;
    compute::secondary_enis(d, &mut seen, &mut out)?;
    internet::nat_gateways(d, &mut seen, &mut out)?;
    internet::eips(d, &seen, &mut out)?;
    let routes = super::routes::route_tables(
        &super::routes::Known {
            vpcs: &seen.vpcs,
            system_of: &seen.system_of,
            custom: &seen.custom,
            vswitches: &seen.vswitches,
            prefix_lists: &seen.prefix_lists,
            instances: &seen.instances,
            secondary_ids: &seen.secondary_ids,
            primary_of: &seen.primary_of,
            nat_ids: &seen.nat_ids,
            left_out_enis: &seen.left_out_enis,
        },
        d,
        &out.cx,
        out.w,
    )?;
    out.body.push_str(&routes);

    let mut text = header(d, &seen, &out.cx, out.w);
    text.push_str(&out.body);
    Ok(text)
}

/// The comment naming the source files and the system route tables, `[scenario]`, and
/// the `[[instance_types]]` vpcsim did not know.
fn header(d: &Dump, seen: &Seen<'_>, cx: &Ctx, w: &mut Warnings) -> String {
    let mut out = String::new();
    out.push_str("# Imported by vpcsim from the cloud's Describe* responses:\n");
    for (f, k) in &d.sources {
        let name = f.file_name().map_or_else(
            || f.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        writeln!(out, "#   {name} ({k})").ok();
    }
    for (real, vpc) in &seen.system_of {
        writeln!(
            out,
            "# The system route table {real} of {vpc} is `vtb-{vpc}` here."
        )
        .ok();
    }
    out.push_str("# Topology only: add [[steps]] and [[checks]] to use it.\n\n");
    let mut name = seen.vpc_names.join("+");
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
    for (t, enis) in &seen.new_types {
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
    out
}
