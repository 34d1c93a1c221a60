//! The scenario file format (TOML): the initial topology, then `[[steps]]` (one
//! control-plane call each), then `[[checks]]`. Every table rejects unknown keys.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::model::{
    ChargeType, EipCharge, EipTarget, EniMode, ForwardProtocol, GuestOs, InstanceStatus,
    InstanceTypeLimits, Quotas, SecurityGroupType, SgPolicy, SgProtocol, SlbAddressType,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    pub scenario: Meta,
    #[serde(default)]
    pub quotas: Option<Quotas>,
    #[serde(default)]
    pub instance_types: Vec<Spanned<InstanceTypeLimits>>,
    #[serde(default)]
    pub vpcs: Vec<Spanned<VpcSpec>>,
    #[serde(default)]
    pub vswitches: Vec<Spanned<VSwitchSpec>>,
    #[serde(default)]
    pub route_tables: Vec<Spanned<RouteTableSpec>>,
    #[serde(default)]
    pub security_groups: Vec<Spanned<SecurityGroupSpec>>,
    #[serde(default)]
    pub instances: Vec<Spanned<InstanceSpec>>,
    #[serde(default)]
    pub enis: Vec<Spanned<EniSpec>>,
    #[serde(default)]
    pub havips: Vec<Spanned<HaVipSpec>>,
    #[serde(default)]
    pub slbs: Vec<Spanned<SlbSpec>>,
    #[serde(default)]
    pub nat_gateways: Vec<Spanned<NatGatewaySpec>>,
    #[serde(default)]
    pub eips: Vec<Spanned<EipSpec>>,
    #[serde(default)]
    pub steps: Vec<Spanned<toml::Table>>,
    #[serde(default)]
    pub checks: Vec<Spanned<CheckSpec>>,
    #[serde(default)]
    pub sessions: Vec<Spanned<toml::Table>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Meta {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default = "default_region")]
    pub region: String,
}

fn default_region() -> String {
    "cn-hangzhou".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VpcSpec {
    pub id: String,
    pub cidr: Ipv4Net,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VSwitchSpec {
    pub id: String,
    pub vpc: String,
    pub zone: String,
    pub cidr: Ipv4Net,
    /// A custom route table bound to this VSwitch; default: the VPC's system table.
    pub route_table: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteTableSpec {
    pub id: String,
    pub vpc: String,
    /// Custom tables list their routes here; routes of the system table go in
    /// `[[route_tables]]` with `id` = the VPC's system table id (`vtb-<vpc id>`).
    #[serde(default)]
    pub routes: Vec<RouteSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSpec {
    pub destination: Ipv4Net,
    pub next_hop_type: String,
    pub next_hop_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityGroupSpec {
    pub id: String,
    pub vpc: String,
    #[serde(rename = "type", default = "basic")]
    pub kind: SecurityGroupType,
    /// Basic groups only: members reach each other (true, the default) or are isolated.
    #[serde(default = "yes")]
    pub inner_access: bool,
    #[serde(default)]
    pub rules: Vec<RuleSpec>,
}

fn basic() -> SecurityGroupType {
    SecurityGroupType::Basic
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    pub direction: crate::model::Direction,
    pub protocol: SgProtocol,
    /// `a/b` for tcp/udp; omit (or `-1/-1`) for the others.
    #[serde(default = "minus_one")]
    pub ports: String,
    /// Peer CIDR (`SourceCidrIp` / `DestCidrIp`).
    pub cidr: Option<Ipv4Net>,
    /// Peer group (`SourceGroupId` / `DestGroupId`), basic groups only.
    pub group: Option<String>,
    #[serde(default = "accept")]
    pub policy: SgPolicy,
    #[serde(default = "one")]
    pub priority: u8,
    #[serde(default)]
    pub description: String,
}

fn minus_one() -> String {
    "-1/-1".into()
}

fn accept() -> SgPolicy {
    SgPolicy::Accept
}

fn one() -> u8 {
    1
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceSpec {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    /// The VSwitch of the primary ENI; omit for a classic-network instance (then give `zone`).
    pub vswitch: Option<String>,
    pub zone: Option<String>,
    #[serde(default = "g6_large")]
    pub instance_type: String,
    #[serde(default = "running")]
    pub status: InstanceStatus,
    #[serde(default = "yes")]
    pub io_optimized: bool,
    #[serde(default = "postpaid")]
    pub charge_type: ChargeType,
    /// Primary private IP of the primary ENI (default: the first idle address).
    pub private_ip: Option<Ipv4Addr>,
    /// A static public IP assigned at creation.
    pub public_ip: Option<Ipv4Addr>,
    #[serde(default)]
    pub security_groups: Vec<String>,
    /// Id of the primary ENI (default `<instance id>-eth0`).
    pub primary_eni: Option<String>,
    /// MAC address of the primary ENI, `"00:16:3e:xx:xx:xx"` as DescribeNetworkInterfaces
    /// gives it (default: a locally administered address derived from a serial).
    pub mac: Option<String>,
    #[serde(default)]
    pub guest: GuestOs,
}

fn g6_large() -> String {
    "ecs.g6.large".into()
}

fn running() -> InstanceStatus {
    InstanceStatus::Running
}

fn postpaid() -> ChargeType {
    ChargeType::PostPaid
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EniSpec {
    pub id: String,
    pub vswitch: String,
    pub primary_ip: Option<Ipv4Addr>,
    #[serde(default)]
    pub secondary_ips: Vec<Ipv4Addr>,
    pub security_groups: Vec<String>,
    /// Attached to this instance at start (as the next ethN).
    pub instance: Option<String>,
    #[serde(default)]
    pub description: String,
    /// MAC address, `"00:16:3e:xx:xx:xx"` (default: derived from a serial, as for
    /// instances). Frames the ENI sends must carry it as their source MAC.
    pub mac: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HaVipSpec {
    pub id: String,
    pub vswitch: String,
    pub ip: Ipv4Addr,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlbSpec {
    pub id: String,
    pub address_type: SlbAddressType,
    #[serde(default = "default_rg")]
    pub resource_group: String,
}

fn default_rg() -> String {
    "default".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatGatewaySpec {
    pub id: String,
    pub vpc: String,
    pub vswitch: String,
    #[serde(default)]
    pub legacy_bandwidth_plan: bool,
    #[serde(default)]
    pub snat: Vec<SnatSpec>,
    #[serde(default)]
    pub dnat: Vec<DnatSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnatSpec {
    pub id: Option<String>,
    pub source_vswitch: Option<String>,
    pub source_cidr: Option<Ipv4Net>,
    pub source_eni: Option<String>,
    pub snat_ips: Vec<Ipv4Addr>,
    #[serde(default)]
    pub eip_affinity: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnatSpec {
    pub id: Option<String>,
    pub external_ip: Ipv4Addr,
    #[serde(default = "any")]
    pub external_port: String,
    pub internal_ip: Ipv4Addr,
    #[serde(default = "any")]
    pub internal_port: String,
    #[serde(default = "any_proto")]
    pub protocol: ForwardProtocol,
}

fn any() -> String {
    "Any".into()
}

fn any_proto() -> ForwardProtocol {
    ForwardProtocol::Any
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EipSpec {
    pub id: String,
    pub address: Ipv4Addr,
    #[serde(default = "traffic")]
    pub charge: EipCharge,
    #[serde(default = "default_rg")]
    pub resource_group: String,
    /// Default: the scenario's region.
    pub region: Option<String>,
    /// Bound at start, as `AssociateEipAddress` would bind it (and with its checks).
    pub bind: Option<BindSpec>,
}

fn traffic() -> EipCharge {
    EipCharge::PayByTraffic
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BindSpec {
    #[serde(rename = "type")]
    pub target: EipTarget,
    pub id: String,
    pub mode: Option<EniMode>,
    pub private_ip: Option<Ipv4Addr>,
}

/// A check on the state after the steps (or after step `after_step`): either a state
/// check (`resource` + `field` + `equals`) or a connectivity check (`from` + `to`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CheckSpec {
    pub name: String,
    /// Run after this step (1-based); 0 = on the initial topology; default: after all.
    pub after_step: Option<usize>,
    // --- state check ---
    pub resource: Option<String>,
    /// Dotted path into the resource as `vpcsim run --json` shows it, e.g. `status`,
    /// `binding.resource`, `security_groups`.
    pub field: Option<String>,
    pub equals: Option<toml::Value>,
    // --- connectivity check ---
    /// An endpoint: instance id, ENI id, or `internet:IP`.
    pub from: Option<String>,
    /// `IP` or `IP:PORT`.
    pub to: Option<String>,
    /// tcp (default), udp or icmp.
    pub proto: Option<String>,
    /// Source address the guest uses (default: the sending ENI's primary private IP).
    pub src: Option<Ipv4Addr>,
    /// `delivered`, `internet` or `dropped`.
    pub expect: Option<String>,
    /// The source address the receiver sees.
    pub expect_source: Option<Ipv4Addr>,
    /// For `delivered`: the ENI that receives it.
    pub expect_eni: Option<String>,
    /// For `dropped`: the drop reason's name (see `vpcsim trace --json`).
    pub expect_reason: Option<String>,
    /// Also send the reply back (for TCP a SYN-ACK, for ICMP an echo reply) from the
    /// receiving guest and require it to reach the sender.
    #[serde(default)]
    pub expect_reply: bool,
    /// Send the reply and require it to be dropped with this reason.
    pub expect_reply_reason: Option<String>,
}
