//! The control plane: every resource of SEMANTICS.md §1 and the operations of §2 that
//! change them. The model knows nothing of packets; `compile` turns a snapshot of it into
//! forwarding tables.
//!
//! Architecture invariant: every change to a `Cloud` after it is built goes through
//! [`Cloud::apply`] with an [`ops::Operation`], so every documented refusal is enforced in
//! one place.

pub mod error;
pub mod limits;
pub mod ops;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

pub use error::{ApiError, ApiResult};
pub use limits::{InstanceTypeLimits, Quotas, ETHERNET_MTU, JUMBO_MTU};
pub use ops::Operation;

/// The whole simulated account in one region.
#[derive(Debug, Clone, Serialize)]
pub struct Cloud {
    pub region: String,
    pub quotas: Quotas,
    pub instance_types: Vec<InstanceTypeLimits>,
    pub vpcs: BTreeMap<String, Vpc>,
    pub vswitches: BTreeMap<String, VSwitch>,
    pub route_tables: BTreeMap<String, RouteTable>,
    pub instances: BTreeMap<String, Instance>,
    pub enis: BTreeMap<String, Eni>,
    pub eips: BTreeMap<String, Eip>,
    pub nat_gateways: BTreeMap<String, NatGateway>,
    pub security_groups: BTreeMap<String, SecurityGroup>,
    pub havips: BTreeMap<String, HaVip>,
    pub slbs: BTreeMap<String, Slb>,
    /// Counter behind generated ids and addresses, so runs are deterministic.
    #[serde(skip)]
    pub(crate) serial: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Vpc {
    pub id: String,
    pub cidr: Ipv4Net,
    pub system_route_table: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct VSwitch {
    pub id: String,
    pub vpc: String,
    pub zone: String,
    pub cidr: Ipv4Net,
    pub route_table: String,
}

impl VSwitch {
    /// The VSwitch gateway the guest OS routes through: Alibaba Cloud uses the fourth
    /// address from the top (x.x.x.253 in a /24); the last three are reserved.
    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.cidr.broadcast()).saturating_sub(2))
    }

    /// The first and the last three addresses of the CIDR, which no ENI can hold.
    pub fn is_reserved(&self, ip: Ipv4Addr) -> bool {
        ip == self.cidr.network()
            || u32::from(ip) > u32::from(self.cidr.broadcast()).saturating_sub(3)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RouteTableKind {
    System,
    Custom,
}

#[derive(Debug, Clone, Serialize)]
pub struct RouteTable {
    pub id: String,
    pub vpc: String,
    pub kind: RouteTableKind,
    pub entries: Vec<RouteEntry>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RouteEntry {
    pub id: String,
    pub destination: Ipv4Net,
    pub next_hop: NextHop,
    /// System entries (one per VSwitch CIDR, and the route a NAT gateway adds) versus
    /// entries a user created with `CreateRouteEntry`.
    pub system: bool,
}

/// `NextHopType` + `NextHopId` of a route entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "id")]
pub enum NextHop {
    /// A VSwitch CIDR: delivered inside the VPC.
    Local,
    Instance(String),
    NetworkInterface(String),
    HaVip(String),
    NatGateway(String),
    /// Next hop types vpcsim accepts in the table but does not forward through
    /// (Ipv4Gateway, VpnGateway, RouterInterface, ...): packets routed there are dropped
    /// with a reason naming the type.
    Unmodelled {
        kind: String,
        id: String,
    },
}

impl NextHop {
    pub fn describe(&self) -> String {
        match self {
            NextHop::Local => "local".into(),
            NextHop::Instance(i) => format!("Instance {i}"),
            NextHop::NetworkInterface(i) => format!("NetworkInterface {i}"),
            NextHop::HaVip(i) => format!("HaVip {i}"),
            NextHop::NatGateway(i) => format!("NatGateway {i}"),
            NextHop::Unmodelled { kind, id } => format!("{kind} {id}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum InstanceStatus {
    Pending,
    Starting,
    Running,
    Stopping,
    Stopped,
}

/// `InstanceChargeType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChargeType {
    /// Subscription.
    PrePaid,
    /// Pay-as-you-go.
    PostPaid,
}

#[derive(Debug, Clone, Serialize)]
pub struct Instance {
    pub id: String,
    pub name: String,
    /// None: a classic-network instance (not VPC-connected).
    pub vpc: Option<String>,
    pub zone: String,
    pub status: InstanceStatus,
    pub instance_type: String,
    pub io_optimized: bool,
    pub charge_type: ChargeType,
    /// A static ("NAT") public IP assigned at creation, until converted to an EIP.
    pub public_ip: Option<Ipv4Addr>,
    /// ENIs in device order: `enis[0]` is the primary ENI (eth0), then eth1, ...
    pub enis: Vec<String>,
    pub guest: GuestOs,
}

impl Instance {
    pub fn primary_eni(&self) -> Option<&str> {
        self.enis.first().map(String::as_str)
    }
}

/// What the guest OS does with its interfaces (SEMANTICS.md §3, guest OS routing).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GuestOs {
    /// Source-based policy routes per secondary ENI (`ip rule from <ethN IP> lookup
    /// <table with default via ethN>`), as multi-nic-util installs them.
    pub policy_routes: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EniType {
    Primary,
    Secondary,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EniStatus {
    Available,
    Attaching,
    InUse,
    Detaching,
    Deleting,
}

#[derive(Debug, Clone, Serialize)]
pub struct Eni {
    pub id: String,
    pub name: String,
    pub kind: EniType,
    pub status: EniStatus,
    pub vpc: String,
    pub vswitch: String,
    pub zone: String,
    pub mac: [u8; 6],
    /// The scenario (or an import) gave the MAC; false: vpcsim generated it, so it says
    /// nothing about a real capture's source MACs (replay stamps it, see `replay`).
    #[serde(skip)]
    pub mac_explicit: bool,
    pub primary_ip: Ipv4Addr,
    pub secondary_ips: Vec<Ipv4Addr>,
    pub security_groups: Vec<String>,
    pub instance: Option<String>,
    pub description: String,
}

impl Eni {
    pub fn private_ips(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        std::iter::once(self.primary_ip).chain(self.secondary_ips.iter().copied())
    }

    pub fn mac_string(&self) -> String {
        mac_string(self.mac)
    }
}

/// `aa:bb:cc:dd:ee:ff`, as the cloud's APIs write MAC addresses.
pub fn mac_string(m: [u8; 6]) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

/// Parses a MAC address an ENI can hold: six hex octets separated by `:` (or `-`),
/// unicast, not all zeros, and not the VSwitch gateway's `ee:ff:ff:ff:ff:ff`.
pub fn parse_eni_mac(s: &str) -> Result<[u8; 6], String> {
    let parts: Vec<&str> = s.split([':', '-']).collect();
    let mut m = [0u8; 6];
    if parts.len() != 6 {
        return Err(format!(
            "MAC `{s}` is not six hex octets like 00:16:3e:12:34:56"
        ));
    }
    for (b, p) in m.iter_mut().zip(&parts) {
        if p.len() != 2 {
            return Err(format!(
                "MAC `{s}`: octet `{p}` is not two hex digits (write it like 00:16:3e:12:34:56)"
            ));
        }
        *b = u8::from_str_radix(p, 16).map_err(|_| {
            format!("MAC `{s}`: octet `{p}` is not hexadecimal (write it like 00:16:3e:12:34:56)")
        })?;
    }
    if m[0] & 1 == 1 {
        return Err(format!(
            "MAC `{s}` is a multicast/broadcast address (the low bit of the first octet is set); an ENI has a unicast MAC"
        ));
    }
    if m == [0; 6] {
        return Err(format!("MAC `{s}` is all zeros; give the ENI's real MAC"));
    }
    if m == [0xee, 0xff, 0xff, 0xff, 0xff, 0xff] {
        return Err(format!(
            "MAC `{s}` is the VSwitch gateway's; an ENI cannot hold it"
        ));
    }
    Ok(m)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EipStatus {
    Available,
    Associating,
    InUse,
    Unassociating,
}

/// `InternetChargeType` of an EIP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EipCharge {
    PayByBandwidth,
    /// Pay-by-data-transfer.
    PayByTraffic,
}

/// `InstanceType` of AssociateEipAddress: what an EIP is bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EipTarget {
    EcsInstance,
    SlbInstance,
    NetworkInterface,
    Nat,
    HaVip,
}

/// `Mode` of AssociateEipAddress for a secondary ENI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EniMode {
    /// The EIP maps 1:1 to a private IP and is invisible to the guest (default).
    #[serde(rename = "NAT")]
    Nat,
    /// Cut-through: the EIP replaces the ENI's private IP.
    #[serde(rename = "BINDED")]
    CutThrough,
    /// Multi-EIP-to-ENI: several EIPs visible on the ENI, private network kept.
    #[serde(rename = "MULTI_BINDED")]
    MultiEip,
}

impl EniMode {
    pub fn api_name(self) -> &'static str {
        match self {
            EniMode::Nat => "NAT",
            EniMode::CutThrough => "BINDED",
            EniMode::MultiEip => "MULTI_BINDED",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EipBinding {
    pub target: EipTarget,
    pub resource: String,
    /// For `NetworkInterface` targets; `Nat` for every other target.
    pub mode: EniMode,
    /// The private IP the EIP maps to (ECS: primary IP of the primary ENI; ENI NAT mode:
    /// the chosen private IP). None for NAT gateways, SLB, HAVIP and cut-through.
    pub private_ip: Option<Ipv4Addr>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Eip {
    pub id: String,
    pub address: Ipv4Addr,
    /// The region the EIP was allocated in; association needs the target's region.
    pub region: String,
    pub status: EipStatus,
    pub charge: EipCharge,
    pub resource_group: String,
    pub binding: Option<EipBinding>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SnatSource {
    VSwitch(String),
    Cidr(Ipv4Net),
    NetworkInterface(String),
}

#[derive(Debug, Clone, Serialize)]
pub struct SnatEntry {
    pub id: String,
    pub source: SnatSource,
    pub snat_ips: Vec<Ipv4Addr>,
    /// `EipAffinity`: one source keeps one EIP of a multi-EIP entry.
    pub eip_affinity: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ForwardProtocol {
    #[serde(rename = "TCP", alias = "tcp")]
    Tcp,
    #[serde(rename = "UDP", alias = "udp")]
    Udp,
    #[serde(rename = "Any", alias = "any")]
    Any,
}

/// `ExternalPort` / `InternalPort`: `Any`, one port, or a range `a/b`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PortSpec {
    Any,
    Range(u16, u16),
}

impl PortSpec {
    pub fn parse(s: &str) -> Result<PortSpec, String> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("any") {
            return Ok(PortSpec::Any);
        }
        let (a, b) = match s.split_once('/') {
            Some((a, b)) => (a, b),
            None => (s, s),
        };
        let p = |x: &str| {
            x.trim()
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| format!("`{s}` is not a port (1-65535), a range `a/b` or `Any`"))
        };
        let (a, b) = (p(a)?, p(b)?);
        if a > b {
            return Err(format!(
                "port range `{s}` starts after it ends; write `{b}/{a}`"
            ));
        }
        Ok(PortSpec::Range(a, b))
    }

    pub fn len(&self) -> u32 {
        match self {
            PortSpec::Any => 65536,
            PortSpec::Range(a, b) => u32::from(*b) - u32::from(*a) + 1,
        }
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    pub fn contains(&self, p: u16) -> bool {
        match self {
            PortSpec::Any => true,
            PortSpec::Range(a, b) => (*a..=*b).contains(&p),
        }
    }

    pub fn overlaps(&self, o: &PortSpec) -> bool {
        match (self, o) {
            (PortSpec::Range(a, b), PortSpec::Range(c, d)) => a <= d && c <= b,
            _ => true,
        }
    }
}

impl std::fmt::Display for PortSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PortSpec::Any => write!(f, "Any"),
            PortSpec::Range(a, b) if a == b => write!(f, "{a}"),
            PortSpec::Range(a, b) => write!(f, "{a}/{b}"),
        }
    }
}

/// A DNAT (forward) entry. Protocol `Any` with both ports `Any` is IP mapping.
#[derive(Debug, Clone, Serialize)]
pub struct ForwardEntry {
    pub id: String,
    pub external_ip: Ipv4Addr,
    pub external_port: PortSpec,
    pub internal_ip: Ipv4Addr,
    pub internal_port: PortSpec,
    pub protocol: ForwardProtocol,
}

impl ForwardEntry {
    pub fn is_ip_mapping(&self) -> bool {
        self.protocol == ForwardProtocol::Any
            && self.external_port == PortSpec::Any
            && self.internal_port == PortSpec::Any
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct NatGateway {
    pub id: String,
    pub vpc: String,
    pub vswitch: String,
    /// Allocation ids of the EIPs bound to the gateway.
    pub eips: Vec<String>,
    pub snat_table_id: String,
    pub forward_table_id: String,
    pub snat_entries: Vec<SnatEntry>,
    pub forward_entries: Vec<ForwardEntry>,
    /// Bought with a NAT bandwidth plan before 2018-01-26: cannot take EIPs.
    pub legacy_bandwidth_plan: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SecurityGroupType {
    #[serde(rename = "normal", alias = "basic")]
    Basic,
    #[serde(rename = "enterprise", alias = "advanced")]
    Enterprise,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Direction {
    #[serde(rename = "ingress")]
    Ingress,
    #[serde(rename = "egress")]
    Egress,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SgPolicy {
    #[serde(rename = "accept", alias = "Accept")]
    Accept,
    #[serde(rename = "drop", alias = "Drop")]
    Drop,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SgProtocol {
    #[serde(rename = "tcp", alias = "TCP")]
    Tcp,
    #[serde(rename = "udp", alias = "UDP")]
    Udp,
    #[serde(rename = "icmp", alias = "ICMP")]
    Icmp,
    #[serde(rename = "gre", alias = "GRE")]
    Gre,
    #[serde(rename = "all", alias = "ALL")]
    All,
}

impl SgProtocol {
    pub fn matches(self, ip_proto: u8) -> bool {
        match self {
            SgProtocol::Tcp => ip_proto == 6,
            SgProtocol::Udp => ip_proto == 17,
            SgProtocol::Icmp => ip_proto == 1,
            SgProtocol::Gre => ip_proto == 47,
            SgProtocol::All => true,
        }
    }

    pub fn has_ports(self) -> bool {
        matches!(self, SgProtocol::Tcp | SgProtocol::Udp)
    }
}

/// The other end of a rule: a CIDR, or (basic groups only) the members of a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum SgPeer {
    Cidr(Ipv4Net),
    Group(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SgRule {
    pub direction: Direction,
    pub protocol: SgProtocol,
    /// None for protocols without ports (`-1/-1`).
    pub ports: Option<(u16, u16)>,
    pub peer: SgPeer,
    /// Five-tuple rules: the ENI-side address the rule applies to (`DestCidrIp` of an
    /// ingress rule, `SourceCidrIp` of an egress rule); None = any address of the ENI.
    pub local: Option<Ipv4Net>,
    /// Five-tuple rules: `SourcePortRange`, the packet's source port (the peer's port on
    /// ingress, the ENI's own port on egress); None = any (`-1/-1`).
    pub source_ports: Option<(u16, u16)>,
    pub policy: SgPolicy,
    /// 1..=100, 1 is the highest.
    pub priority: u8,
    pub description: String,
}

impl SgRule {
    pub fn describe(&self) -> String {
        let ports = match self.ports {
            None => "-1/-1".to_string(),
            Some((a, b)) => format!("{a}/{b}"),
        };
        let peer = match &self.peer {
            SgPeer::Cidr(c) => c.to_string(),
            SgPeer::Group(g) => format!("group {g}"),
        };
        let dir = match self.direction {
            Direction::Ingress => "from",
            Direction::Egress => "to",
        };
        let mut five = String::new();
        if let Some((a, b)) = self.source_ports {
            five.push_str(&format!(" source ports {a}/{b}"));
        }
        if let Some(l) = self.local {
            let side = match self.direction {
                Direction::Ingress => "to",
                Direction::Egress => "from",
            };
            five.push_str(&format!(" {side} {l}"));
        }
        format!(
            "{:?} {:?} {ports} {dir} {peer}{five} priority {}",
            self.policy, self.protocol, self.priority
        )
        .to_lowercase()
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SecurityGroup {
    pub id: String,
    pub name: String,
    pub vpc: String,
    pub kind: SecurityGroupType,
    /// `InnerAccessPolicy` of a basic group: members reach each other (Accept) or not.
    pub inner_access_accept: bool,
    pub rules: Vec<SgRule>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HaVip {
    pub id: String,
    pub vpc: String,
    pub vswitch: String,
    pub ip: Ipv4Addr,
    pub eip: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SlbAddressType {
    #[serde(rename = "internet")]
    Internet,
    #[serde(rename = "intranet")]
    Intranet,
}

#[derive(Debug, Clone, Serialize)]
pub struct Slb {
    pub id: String,
    pub address_type: SlbAddressType,
    pub resource_group: String,
    pub eip: Option<String>,
}

impl Cloud {
    pub fn new(region: &str) -> Cloud {
        Cloud {
            region: region.to_string(),
            quotas: Quotas::default(),
            instance_types: limits::builtin_instance_types(),
            vpcs: BTreeMap::new(),
            vswitches: BTreeMap::new(),
            route_tables: BTreeMap::new(),
            instances: BTreeMap::new(),
            enis: BTreeMap::new(),
            eips: BTreeMap::new(),
            nat_gateways: BTreeMap::new(),
            security_groups: BTreeMap::new(),
            havips: BTreeMap::new(),
            slbs: BTreeMap::new(),
            serial: 0,
        }
    }

    pub(crate) fn next_serial(&mut self) -> u64 {
        self.serial += 1;
        self.serial
    }

    /// A generated id that no resource of any kind uses yet.
    pub(crate) fn fresh_id(&mut self, prefix: &str) -> String {
        loop {
            let id = format!("{prefix}-{}", self.next_serial());
            if !self.id_in_use(&id) {
                return id;
            }
        }
    }

    pub fn id_in_use(&self, id: &str) -> bool {
        self.vpcs.contains_key(id)
            || self.vswitches.contains_key(id)
            || self.route_tables.contains_key(id)
            || self.instances.contains_key(id)
            || self.enis.contains_key(id)
            || self.eips.contains_key(id)
            || self.nat_gateways.contains_key(id)
            || self.security_groups.contains_key(id)
            || self.havips.contains_key(id)
            || self.slbs.contains_key(id)
    }

    /// A locally administered MAC derived from a serial, unique per simulation.
    /// Skips MACs a scenario gave explicitly.
    pub(crate) fn fresh_mac(&mut self) -> [u8; 6] {
        loop {
            let s = self.next_serial().to_be_bytes();
            let m = [0x02, 0x16, s[4], s[5], s[6], s[7]];
            if !self.enis.values().any(|e| e.mac == m) {
                return m;
            }
        }
    }

    pub fn instance_type(&self, name: &str) -> Option<&InstanceTypeLimits> {
        self.instance_types.iter().find(|t| t.name == name)
    }

    /// Which resource holds `ip` as a private address (ENI private IPs, HAVIPs,
    /// NAT gateway interface excluded), if any.
    pub fn private_ip_owner(&self, ip: Ipv4Addr) -> Option<&Eni> {
        self.enis
            .values()
            .find(|e| e.private_ips().any(|p| p == ip))
    }

    pub fn private_ip_in_use(&self, ip: Ipv4Addr) -> bool {
        self.private_ip_owner(ip).is_some() || self.havips.values().any(|h| h.ip == ip)
    }

    /// The EIP bound to an ECS instance, if any.
    pub fn eip_of_instance(&self, instance: &str) -> Option<&Eip> {
        self.eips.values().find(|e| {
            e.binding
                .as_ref()
                .is_some_and(|b| b.target == EipTarget::EcsInstance && b.resource == instance)
        })
    }

    pub fn eips_of_eni(&self, eni: &str) -> impl Iterator<Item = &Eip> + '_ {
        let eni = eni.to_string();
        self.eips.values().filter(move |e| {
            e.binding
                .as_ref()
                .is_some_and(|b| b.target == EipTarget::NetworkInterface && b.resource == eni)
        })
    }

    /// The instance an ENI is attached to, with its device index (0 = eth0).
    pub fn eni_device(&self, eni: &str) -> Option<(&Instance, usize)> {
        let e = self.enis.get(eni)?;
        let inst = self.instances.get(e.instance.as_ref()?)?;
        let idx = inst.enis.iter().position(|x| x == eni)?;
        Some((inst, idx))
    }

    /// A free private IP inside `cidr`, skipping the VSwitch's reserved addresses (the
    /// first and the last three).
    pub fn free_private_ip(&self, cidr: Ipv4Net) -> Option<Ipv4Addr> {
        let first = u32::from(cidr.network()).saturating_add(1);
        let last = u32::from(cidr.broadcast()).saturating_sub(3);
        (first..=last)
            .map(Ipv4Addr::from)
            .find(|ip| !self.private_ip_in_use(*ip))
    }

    /// Any resource whose public address is `ip` (EIPs and static public IPs).
    pub fn public_ip_in_use(&self, ip: Ipv4Addr) -> bool {
        self.eips.values().any(|e| e.address == ip)
            || self.instances.values().any(|i| i.public_ip == Some(ip))
    }
}
