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
    #[serde(default)]
    pub invariants: Vec<Spanned<toml::Table>>,
    /// Changes `vpcsim diff` accepts as intended (see [`ExpectChangeSpec`]).
    #[serde(default)]
    pub expect_change: Vec<Spanned<ExpectChangeSpec>>,
    #[serde(default)]
    pub traffic: Vec<Spanned<TrafficSpec>>,
    #[serde(default)]
    pub flow_semantics: Option<FlowSemantics>,
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
    /// The route entry's id (`RouteEntryId`), for traces; omitted, one is made up.
    #[serde(default)]
    pub id: Option<String>,
    pub destination: Ipv4Net,
    pub next_hop_type: String,
    pub next_hop_id: String,
    /// Keep the route as it is without modelling its next hop (any `next_hop_type`, e.g.
    /// one vpcsim does not know, or a resource the scenario does not hold): packets routed
    /// there drop as `next_hop_unmodelled`, naming the route and the type. `import` sets it.
    #[serde(default)]
    pub unmodelled: bool,
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
    /// Five-tuple rules: the ENI-side CIDR the rule applies to (`DestCidrIp` of an
    /// ingress rule, `SourceCidrIp` of an egress rule); omit for any address of the ENI.
    pub local_cidr: Option<Ipv4Net>,
    /// Five-tuple rules: `SourcePortRange`, the packet's source port (`a/b`); omit for any.
    pub source_ports: Option<String>,
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

pub use crate::check::{CheckSpec, ExpectChangeSpec, StepRef};

/// An `[[invariants]]` entry: a check evaluated on the initial topology and after every
/// step. Three forms, told apart by their keys:
/// - a check (`from` + `to` + `expect`, or `resource` + `field` + `equals`), without
///   `after_step`;
/// - `egress_of` + `egress_ip`: every instance of a VSwitch (or the instance, or the
///   instance of the ENI) leaves for the Internet with this address;
/// - `unreachable_from_internet` (a VSwitch, instance or ENI id, a CIDR, or `*`) with
///   optional `proto` and `ports`: no probe from the Internet is delivered there.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Invariant {
    Check(Box<CheckSpec>),
    EgressIp(EgressIpInvariant),
    Unreachable(UnreachableInvariant),
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EgressIpInvariant {
    pub name: String,
    /// A VSwitch id (its instances: those whose primary ENI is in it), an instance id,
    /// or an ENI id (its instance).
    pub egress_of: String,
    pub egress_ip: Ipv4Addr,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UnreachableInvariant {
    pub name: String,
    /// A VSwitch, instance or ENI id, a CIDR, or `*` (every private address).
    pub unreachable_from_internet: String,
    /// tcp, udp or icmp; default: all three.
    pub proto: Option<String>,
    /// `P` or `A/B` (tcp and udp); default: every port.
    pub ports: Option<String>,
}

impl Invariant {
    pub fn name(&self) -> &str {
        match self {
            Invariant::Check(c) => &c.name,
            Invariant::EgressIp(e) => &e.name,
            Invariant::Unreachable(u) => &u.name,
        }
    }

    /// The resource id an `egress_of` / `unreachable_from_internet` names (None for a
    /// check, `*`, a CIDR or an IP).
    pub fn target(&self) -> Option<&str> {
        let what = match self {
            Invariant::Check(_) => return None,
            Invariant::EgressIp(e) => e.egress_of.as_str(),
            Invariant::Unreachable(u) => u.unreachable_from_internet.as_str(),
        };
        let literal =
            what == "*" || what.parse::<Ipv4Net>().is_ok() || what.parse::<Ipv4Addr>().is_ok();
        (!literal).then_some(what)
    }

    /// Reads one `[[invariants]]` table; the error says what to fix.
    pub fn from_table(t: &toml::Table) -> Result<Invariant, String> {
        let name = t
            .get("name")
            .and_then(|v| v.as_str())
            .unwrap_or("(unnamed)");
        let bad = |m: &str| format!("invariant `{name}`: {m}");
        let de = |e: toml::de::Error| bad(e.message().trim_end());
        let v = toml::Value::Table(t.clone());
        if t.contains_key("egress_of") || t.contains_key("egress_ip") {
            return EgressIpInvariant::deserialize(v)
                .map(Invariant::EgressIp)
                .map_err(de);
        }
        if t.contains_key("unreachable_from_internet") {
            let u = UnreachableInvariant::deserialize(v).map_err(de)?;
            if let Some(p) = &u.proto {
                if !matches!(p.as_str(), "tcp" | "udp" | "icmp") {
                    return Err(bad("`proto` must be tcp, udp or icmp"));
                }
            }
            if let Some(p) = &u.ports {
                crate::model::PortSpec::parse(p).map_err(|m| bad(&format!("`ports`: {m}")))?;
                if u.proto.as_deref() == Some("icmp") {
                    return Err(bad("`ports` is for tcp and udp, not icmp"));
                }
            }
            return Ok(Invariant::Unreachable(u));
        }
        if t.contains_key("after_step") || t.contains_key("after") {
            return Err(bad(
                "an invariant holds after every step: drop `after_step` (or make it a [[checks]] entry)",
            ));
        }
        let c = CheckSpec::deserialize(v).map_err(|e| {
            bad(&format!(
                "{}; an invariant is a check (`from` + `to` + `expect`, or `resource` + `field` + `equals`), `egress_of` + `egress_ip`, or `unreachable_from_internet`",
                e.message().trim_end()
            ))
        })?;
        c.validate().map_err(|m| {
            bad(&format!(
                "{m}; an invariant is a check, `egress_of` + `egress_ip`, or `unreachable_from_internet`"
            ))
        })?;
        Ok(Invariant::Check(Box::new(c)))
    }
}

/// `[flow_semantics]`: what a configuration change does to established connections on
/// a long-lived data plane (`vpcsim timeline`).
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowSemantics {
    /// `revalidate` (default, SEMANTICS.md §5) or `flush`.
    #[serde(default)]
    pub on_change: crate::pipeline::OnChange,
}

/// What a `[[traffic]]` entry runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TrafficKind {
    /// One long-lived connection with a keep-alive every `every`; reconnects (a new
    /// connection) after a break unless `reconnect = false`.
    Session,
    /// A new short connection every `every` (ssh: read the banner; http: ask the "what
    /// is my IP" server which address it sees), each given until the next to succeed.
    Probe,
    /// The frames of a capture, injected at `from` with their timestamps shifted to
    /// start at `at`.
    Replay,
}

/// A `[[traffic]]` entry: traffic that runs through the whole scenario on one clock.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrafficSpec {
    pub name: String,
    pub kind: TrafficKind,
    /// Instance id or `internet:IP` (replay: also an ENI id or `internet`).
    pub from: String,
    /// ADDR:PORT (sessions and probes).
    pub to: Option<String>,
    /// `ssh` or `http` (sessions and probes).
    pub service: Option<String>,
    /// When it starts (default 0 s).
    pub at: Option<String>,
    /// When it stops (default: the end of the timeline).
    pub until: Option<String>,
    /// Probe interval / keep-alive interval (default 1 s).
    pub every: Option<String>,
    /// Sessions: open a new connection after a break (default true).
    pub reconnect: Option<bool>,
    /// Replay: the capture file (relative to the scenario file).
    pub pcap: Option<String>,
}

/// A duration or point in virtual time as scenario files write it: `12.5s`, `500ms`,
/// `2m` (a bare number is seconds).
pub fn parse_time(s: &str) -> Result<crate::time::SimTime, String> {
    let t = s.trim();
    let (num, scale) = if let Some(n) = t.strip_suffix("ms") {
        (n, 1e6)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1e9)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60e9)
    } else {
        (t, 1e9)
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a time: write e.g. \"12.5s\" or \"500ms\""))?;
    if !v.is_finite() || v < 0.0 || v * scale > 1e18 {
        return Err(format!(
            "`{s}`: a time must be between 0 and about 31 years"
        ));
    }
    Ok(crate::time::SimTime((v * scale).round() as u64))
}

impl TrafficSpec {
    /// Checks what can be checked before running: the fields each kind needs, times,
    /// endpoints, and that a named instance exists.
    pub fn validate(&self, cloud: &crate::model::Cloud) -> Result<(), String> {
        use crate::hosts::session::{parse_addr_port, Client, Service};
        for (k, v) in [
            ("at", &self.at),
            ("until", &self.until),
            ("every", &self.every),
        ] {
            if let Some(v) = v {
                parse_time(v).map_err(|m| format!("{k} = {m}"))?;
            }
        }
        if let Some(e) = &self.every {
            if parse_time(e)? < crate::time::SimTime::from_millis(100) {
                return Err(format!("every = \"{e}\": use at least 100ms"));
            }
        }
        match self.kind {
            TrafficKind::Session | TrafficKind::Probe => {
                if self.pcap.is_some() {
                    return Err("`pcap` belongs to kind = \"replay\"".into());
                }
                let to = self
                    .to
                    .as_deref()
                    .ok_or("needs `to = \"ADDR:PORT\"` (e.g. \"47.96.10.20:22\")")?;
                parse_addr_port(to)?;
                Service::parse(
                    self.service
                        .as_deref()
                        .ok_or("needs `service = \"ssh\"` or \"http\"")?,
                )?;
                if let Client::Instance(id) = Client::parse(&self.from)? {
                    if !cloud.instances.contains_key(&id) {
                        return Err(format!(
                            "from = \"{id}\": no such instance; use an instance id or internet:IP"
                        ));
                    }
                }
            }
            TrafficKind::Replay => {
                if self.pcap.is_none() {
                    return Err("kind = \"replay\" needs `pcap = \"FILE\"`".into());
                }
                if self.to.is_some() || self.service.is_some() || self.every.is_some() {
                    return Err(
                        "a replay takes `pcap`, `from` and `at` (not to/service/every)".into(),
                    );
                }
            }
        }
        Ok(())
    }
}
