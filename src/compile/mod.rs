//! Compiled forwarding state: a snapshot of the model turned into immutable lookup
//! tables, built once per configuration and shared (behind an `Arc`) by every worker.
//!
//! Architecture invariant: packets never consult `model` directly; every per-packet
//! decision reads these tables. A configuration change compiles a new `Tables` with a
//! new epoch.

pub mod fasthash;
pub mod lpm;
pub mod sg;

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::sync::Arc;

use ipnet::Ipv4Net;

use crate::model::limits::ETHERNET_MTU;
use crate::model::*;
pub use fasthash::{FastMap, FastSet, FoldState};
pub use lpm::Lpm;
pub use sg::{SgDecision, SgSet};

/// Index of an ENI in `Tables::enis`. Observation port of an ENI = index + 1; port 0 is
/// the Internet edge.
pub type EniIdx = u16;
pub const INTERNET_PORT: u16 = 0;

#[derive(Debug, Clone)]
pub struct EniT {
    pub id: String,
    pub instance: Option<u16>,
    /// Device index in the guest: 0 = eth0.
    pub device: usize,
    pub vpc: u16,
    pub vswitch: String,
    pub subnet: Ipv4Net,
    pub gateway: Ipv4Addr,
    pub route_table: u16,
    pub mac: [u8; 6],
    /// The MAC was set in the scenario (`mac = "…"`, or imported), not generated.
    pub mac_explicit: bool,
    pub private_ips: Vec<Ipv4Addr>,
    /// Public addresses the guest sees on this device (cut-through, multi-EIP).
    pub visible_public: Vec<Ipv4Addr>,
    /// Cut-through: the ENI is a pure Internet NIC; its private network is gone.
    pub cut_through: bool,
    /// Attached (InUse) to a Running instance: only then it sends and receives.
    pub live: bool,
    /// Attached (InUse) to an instance at all (`live` also needs the instance Running).
    pub attached: bool,
    /// MTU of the link to the instance: 1500, or 8500 when the instance type supports
    /// jumbo frames (SEMANTICS.md §5).
    pub mtu: u16,
    pub sg: SgSet,
}

impl EniT {
    pub fn port(idx: EniIdx) -> u16 {
        idx + 1
    }

    /// The slot of an ENI deleted on a long-lived data plane (`Tables::compile_after`):
    /// nothing reaches it and it sends nothing.
    fn deleted(id: &str) -> EniT {
        EniT {
            id: id.to_string(),
            instance: None,
            device: 0,
            vpc: 0,
            vswitch: String::new(),
            subnet: Ipv4Net::default(),
            gateway: Ipv4Addr::UNSPECIFIED,
            route_table: 0,
            mac: [0; 6],
            mac_explicit: false,
            private_ips: Vec::new(),
            visible_public: Vec::new(),
            cut_through: false,
            live: false,
            attached: false,
            mtu: crate::model::ETHERNET_MTU,
            sg: SgSet::default(),
        }
    }

    pub fn owns_source(&self, ip: Ipv4Addr) -> bool {
        (!self.cut_through && self.private_ips.contains(&ip)) || self.visible_public.contains(&ip)
    }

    pub fn device_name(&self) -> String {
        format!("eth{}", self.device)
    }
}

#[derive(Debug, Clone)]
pub struct InstanceT {
    pub id: String,
    pub running: bool,
    /// ENIs in device order (eth0 first).
    pub devices: Vec<EniIdx>,
    pub policy_routes: bool,
    /// MTU of every ENI of the instance (from its instance type).
    pub mtu: u16,
}

/// How traffic of one private IP reaches the Internet 1:1, bypassing the route table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    Eip,
    StaticPublicIp,
    Snat,
    CutThrough,
    MultiEip,
}

#[derive(Debug, Clone)]
pub struct OneToOne {
    pub public: Ipv4Addr,
    pub via: Via,
    /// EIP allocation id, or the instance id for a static public IP.
    pub resource: String,
}

/// Who answers for a public address at the Internet edge.
#[derive(Debug, Clone)]
pub enum PublicOwner {
    /// 1:1 NAT to a private IP (EIP on an instance or ENI in NAT mode, static public IP).
    Nat1to1 {
        eni: EniIdx,
        private_ip: Ipv4Addr,
        via: Via,
        resource: String,
    },
    /// Delivered unchanged to the ENI (cut-through or multi-EIP-to-ENI).
    Visible {
        eni: EniIdx,
        via: Via,
        resource: String,
    },
    NatGateway {
        gw: u16,
    },
    /// Bound to something vpcsim does not forward to (SLB, HAVIP).
    Unmodelled {
        what: String,
    },
    /// An EIP bound to nothing.
    Unbound {
        eip: String,
    },
}

#[derive(Debug, Clone)]
pub enum NextHopT {
    Local,
    Eni(EniIdx),
    NatGateway(u16),
    Unmodelled(String),
}

#[derive(Debug, Clone)]
pub struct RouteT {
    pub destination: Ipv4Net,
    pub next_hop: NextHopT,
    pub text: String,
}

#[derive(Debug, Clone)]
pub struct RouteTableT {
    pub id: String,
    pub routes: Lpm<RouteT>,
}

#[derive(Debug, Clone)]
pub struct SnatT {
    pub id: String,
    pub source: String,
    pub eips: Vec<Ipv4Addr>,
    pub affinity: bool,
}

#[derive(Debug, Clone)]
pub struct DnatT {
    pub id: String,
    pub internal_ip: Ipv4Addr,
    /// Internal port for this external port; None for IP mapping.
    pub internal_port: Option<u16>,
}

#[derive(Debug, Clone)]
pub struct NatGatewayT {
    pub id: String,
    pub vpc: u16,
    pub eips: Vec<Ipv4Addr>,
    pub snat: Lpm<SnatT>,
    /// (external IP, protocol, external port) → entry.
    pub dnat_ports: FastMap<(u32, u8, u16), DnatT>,
    /// External IP → IP-mapping entry.
    pub dnat_ips: FastMap<u32, DnatT>,
    /// A private address the gateway answers ICMP from (its VSwitch gateway).
    pub inside_ip: Ipv4Addr,
}

#[derive(Debug, Clone)]
pub struct Tables {
    pub epoch: u64,
    pub enis: Vec<EniT>,
    pub eni_index: HashMap<String, EniIdx>,
    pub instances: Vec<InstanceT>,
    pub instance_index: HashMap<String, u16>,
    pub vpcs: Vec<(String, Ipv4Net)>,
    /// (VPC, private IP) → ENI owning it.
    pub private: FastMap<(u16, u32), EniIdx>,
    /// (VPC, private IP) → its 1:1 public address.
    pub one_to_one: FastMap<(u16, u32), OneToOne>,
    pub public: FastMap<u32, PublicOwner>,
    pub route_tables: Vec<RouteTableT>,
    pub nat_gateways: Vec<NatGatewayT>,
    pub snat_connections_per_destination: u32,
}

/// The MTU of an instance's ENIs: its type's (1500 for a type vpcsim does not know).
fn instance_mtu(c: &Cloud, i: &crate::model::Instance) -> u16 {
    c.instance_type(&i.instance_type)
        .map_or(ETHERNET_MTU, |t| t.mtu())
}

impl Tables {
    pub fn compile(c: &Cloud, epoch: u64) -> Arc<Tables> {
        Arc::new(Self::build(c, epoch, None))
    }

    /// Compiles a configuration that follows `prev` on a long-lived data plane: every
    /// ENI keeps its index (its observation port), new ENIs come after, and a deleted
    /// ENI stays as a dead slot (not live, no addresses). Connections installed under
    /// `prev` keep meaning the same ports (see `pipeline::revalidate`).
    pub fn compile_after(c: &Cloud, epoch: u64, prev: &Tables) -> Arc<Tables> {
        let mut order: Vec<String> = prev.enis.iter().map(|e| e.id.clone()).collect();
        let known: HashSet<&str> = order.iter().map(String::as_str).collect();
        let new: Vec<String> = c
            .enis
            .keys()
            .filter(|k| !known.contains(k.as_str()))
            .cloned()
            .collect();
        order.extend(new);
        Arc::new(Self::build(c, epoch, Some(order)))
    }

    fn build(c: &Cloud, epoch: u64, order: Option<Vec<String>>) -> Tables {
        let vpcs: Vec<(String, Ipv4Net)> =
            c.vpcs.values().map(|v| (v.id.clone(), v.cidr)).collect();
        let vpc_idx = |id: &str| vpcs.iter().position(|(v, _)| v == id).unwrap_or(0) as u16;
        let rt_ids: Vec<String> = c.route_tables.keys().cloned().collect();
        let rt_idx = |id: &str| rt_ids.iter().position(|r| r == id).unwrap_or(0) as u16;

        let instance_ids: Vec<String> = c.instances.keys().cloned().collect();
        let instance_index: HashMap<String, u16> = instance_ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.clone(), i as u16))
            .collect();
        let eni_ids: Vec<String> = order.unwrap_or_else(|| c.enis.keys().cloned().collect());
        let eni_index: HashMap<String, EniIdx> = eni_ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.clone(), i as EniIdx))
            .collect();

        // Members of each security group, for group peers and intra-group access.
        let mut members: HashMap<&str, FastSet<u32>> = HashMap::new();
        for e in c.enis.values() {
            for g in &e.security_groups {
                members
                    .entry(g.as_str())
                    .or_default()
                    .extend(e.private_ips().map(u32::from));
            }
        }
        let members: HashMap<&str, Arc<FastSet<u32>>> =
            members.into_iter().map(|(k, v)| (k, Arc::new(v))).collect();
        let empty = Arc::new(FastSet::default());

        let mut enis = Vec::with_capacity(eni_ids.len());
        for id in &eni_ids {
            let Some(e) = c.enis.get(id) else {
                enis.push(EniT::deleted(id));
                continue;
            };
            let vsw = c.vswitches.get(&e.vswitch);
            let attached = e.instance.as_ref().and_then(|i| c.instances.get(i));
            let device = c.eni_device(&e.id).map_or(0, |(_, d)| d);
            let mut sg = SgSet {
                groups: e.security_groups.clone(),
                ..Default::default()
            };
            let mut intra: FastSet<u32> = FastSet::default();
            for gid in &e.security_groups {
                let Some(g) = c.security_groups.get(gid) else {
                    continue;
                };
                sg.kind = Some(g.kind);
                if g.kind == SecurityGroupType::Basic && g.inner_access_accept {
                    intra.extend(
                        members
                            .get(gid.as_str())
                            .map(|m| m.iter().copied())
                            .into_iter()
                            .flatten(),
                    );
                }
                for r in &g.rules {
                    let peer = match &r.peer {
                        SgPeer::Cidr(n) => {
                            sg::PeerT::Cidr(u32::from(n.network()), u32::from(n.netmask()))
                        }
                        SgPeer::Group(x) => sg::PeerT::Members(
                            members
                                .get(x.as_str())
                                .cloned()
                                .unwrap_or_else(|| empty.clone()),
                        ),
                    };
                    sg.rules.push(sg::RuleT {
                        direction: r.direction,
                        protocol: r.protocol,
                        ports: r.ports,
                        peer,
                        local: r
                            .local
                            .map(|n| (u32::from(n.network()), u32::from(n.netmask()))),
                        source_ports: r.source_ports,
                        policy: r.policy,
                        priority: r.priority,
                        group: g.id.clone(),
                        text: r.describe(),
                    });
                }
            }
            sg.intra = Arc::new(intra);
            sg.sort();
            let mut visible_public = vec![];
            let mut cut_through = false;
            for eip in c.eips_of_eni(&e.id) {
                match eip.binding.as_ref().map(|b| b.mode) {
                    Some(EniMode::CutThrough) => {
                        cut_through = true;
                        visible_public.push(eip.address);
                    }
                    Some(EniMode::MultiEip) => visible_public.push(eip.address),
                    _ => {}
                }
            }
            enis.push(EniT {
                id: e.id.clone(),
                instance: e
                    .instance
                    .as_ref()
                    .and_then(|i| instance_index.get(i).copied()),
                device,
                vpc: vpc_idx(&e.vpc),
                vswitch: e.vswitch.clone(),
                subnet: vsw.map_or_else(Ipv4Net::default, |v| v.cidr),
                gateway: vsw.map_or(Ipv4Addr::UNSPECIFIED, |v| v.gateway()),
                route_table: vsw.map_or(0, |v| rt_idx(&v.route_table)),
                mac: e.mac,
                mac_explicit: e.mac_explicit,
                private_ips: e.private_ips().collect(),
                visible_public,
                cut_through,
                live: e.status == EniStatus::InUse
                    && attached.is_some_and(|i| i.status == InstanceStatus::Running),
                attached: e.status == EniStatus::InUse && attached.is_some(),
                mtu: attached.map_or(ETHERNET_MTU, |i| instance_mtu(c, i)),
                sg,
            });
        }

        let instances = c
            .instances
            .values()
            .map(|i| InstanceT {
                id: i.id.clone(),
                running: i.status == InstanceStatus::Running,
                devices: i
                    .enis
                    .iter()
                    .filter_map(|e| eni_index.get(e).copied())
                    .collect(),
                policy_routes: i.guest.policy_routes,
                mtu: instance_mtu(c, i),
            })
            .collect();

        let mut private = FastMap::default();
        for (i, e) in enis.iter().enumerate() {
            if e.cut_through {
                continue; // its private IP is replaced by the EIP
            }
            for ip in &e.private_ips {
                private.insert((e.vpc, u32::from(*ip)), i as EniIdx);
            }
        }

        let mut one_to_one = FastMap::default();
        let mut public = FastMap::default();
        for inst in c.instances.values() {
            let (Some(p), Some(eni)) = (inst.public_ip, inst.primary_eni()) else {
                continue;
            };
            let (Some(&ei), Some(e)) = (eni_index.get(eni), c.enis.get(eni)) else {
                continue;
            };
            one_to_one.insert(
                (vpc_idx(&e.vpc), u32::from(e.primary_ip)),
                OneToOne {
                    public: p,
                    via: Via::StaticPublicIp,
                    resource: inst.id.clone(),
                },
            );
            public.insert(
                u32::from(p),
                PublicOwner::Nat1to1 {
                    eni: ei,
                    private_ip: e.primary_ip,
                    via: Via::StaticPublicIp,
                    resource: inst.id.clone(),
                },
            );
        }
        for eip in c.eips.values() {
            let owner = match &eip.binding {
                None => PublicOwner::Unbound {
                    eip: eip.id.clone(),
                },
                Some(b) => match b.target {
                    EipTarget::EcsInstance | EipTarget::NetworkInterface => {
                        let eni_id = if b.target == EipTarget::EcsInstance {
                            c.instances
                                .get(&b.resource)
                                .and_then(|i| i.primary_eni())
                                .map(str::to_string)
                        } else {
                            Some(b.resource.clone())
                        };
                        let Some(ei) = eni_id.as_ref().and_then(|e| eni_index.get(e)).copied()
                        else {
                            continue;
                        };
                        let vpc = enis[ei as usize].vpc;
                        match (b.mode, b.private_ip) {
                            (EniMode::CutThrough, _) => PublicOwner::Visible {
                                eni: ei,
                                via: Via::CutThrough,
                                resource: eip.id.clone(),
                            },
                            (EniMode::MultiEip, _) => PublicOwner::Visible {
                                eni: ei,
                                via: Via::MultiEip,
                                resource: eip.id.clone(),
                            },
                            (EniMode::Nat, Some(ip)) => {
                                one_to_one.insert(
                                    (vpc, u32::from(ip)),
                                    OneToOne {
                                        public: eip.address,
                                        via: Via::Eip,
                                        resource: eip.id.clone(),
                                    },
                                );
                                PublicOwner::Nat1to1 {
                                    eni: ei,
                                    private_ip: ip,
                                    via: Via::Eip,
                                    resource: eip.id.clone(),
                                }
                            }
                            (EniMode::Nat, None) => continue,
                        }
                    }
                    EipTarget::Nat => match c.nat_gateways.keys().position(|g| *g == b.resource) {
                        Some(gw) => PublicOwner::NatGateway { gw: gw as u16 },
                        None => continue,
                    },
                    EipTarget::SlbInstance => PublicOwner::Unmodelled {
                        what: format!("internal SLB {}", b.resource),
                    },
                    EipTarget::HaVip => PublicOwner::Unmodelled {
                        what: format!("HAVIP {}", b.resource),
                    },
                },
            };
            public.insert(u32::from(eip.address), owner);
        }

        let route_tables = c
            .route_tables
            .values()
            .map(|t| {
                let mut routes = Lpm::new();
                for r in &t.entries {
                    let next_hop = match &r.next_hop {
                        NextHop::Local => NextHopT::Local,
                        NextHop::NetworkInterface(e) => eni_index.get(e).map_or_else(
                            || NextHopT::Unmodelled(format!("missing ENI {e}")),
                            |i| NextHopT::Eni(*i),
                        ),
                        NextHop::Instance(i) => c
                            .instances
                            .get(i)
                            .and_then(|x| x.primary_eni())
                            .and_then(|e| eni_index.get(e))
                            .map_or_else(
                                || NextHopT::Unmodelled(format!("instance {i} without ENI")),
                                |e| NextHopT::Eni(*e),
                            ),
                        NextHop::NatGateway(g) => {
                            c.nat_gateways.keys().position(|x| x == g).map_or_else(
                                || NextHopT::Unmodelled(format!("missing NAT gateway {g}")),
                                |p| NextHopT::NatGateway(p as u16),
                            )
                        }
                        NextHop::HaVip(h) => NextHopT::Unmodelled(format!("HaVip {h}")),
                        NextHop::Unmodelled { kind, id } => NextHopT::Unmodelled(format!(
                            "{kind} {id} (route entry {}, type {kind})",
                            r.id
                        )),
                    };
                    let text = format!("{} {} → {}", t.id, r.destination, r.next_hop.describe());
                    routes.insert(
                        r.destination,
                        RouteT {
                            destination: r.destination,
                            next_hop,
                            text,
                        },
                    );
                }
                RouteTableT {
                    id: t.id.clone(),
                    routes,
                }
            })
            .collect();

        let nat_gateways = c
            .nat_gateways
            .values()
            .map(|g| {
                let mut snat = Lpm::new();
                for s in &g.snat_entries {
                    let t = |source: String| SnatT {
                        id: s.id.clone(),
                        source,
                        eips: s.snat_ips.clone(),
                        affinity: s.eip_affinity,
                    };
                    match &s.source {
                        SnatSource::Cidr(n) => snat.insert(*n, t(format!("CIDR {n}"))),
                        SnatSource::VSwitch(v) => {
                            if let Some(v) = c.vswitches.get(v) {
                                snat.insert(v.cidr, t(format!("VSwitch {} ({})", v.id, v.cidr)));
                            }
                        }
                        SnatSource::NetworkInterface(e) => {
                            if let Some(e) = c.enis.get(e) {
                                for ip in e.private_ips() {
                                    snat.insert(
                                        Ipv4Net::from(ip),
                                        t(format!("ENI {} ({ip})", e.id)),
                                    );
                                }
                            }
                        }
                    }
                }
                let mut dnat_ports = FastMap::default();
                let mut dnat_ips = FastMap::default();
                for f in &g.forward_entries {
                    if f.is_ip_mapping() {
                        dnat_ips.insert(
                            u32::from(f.external_ip),
                            DnatT {
                                id: f.id.clone(),
                                internal_ip: f.internal_ip,
                                internal_port: None,
                            },
                        );
                        continue;
                    }
                    let (PortSpec::Range(ea, eb), PortSpec::Range(ia, _)) =
                        (f.external_port, f.internal_port)
                    else {
                        continue;
                    };
                    let protos: &[u8] = match f.protocol {
                        ForwardProtocol::Tcp => &[6],
                        ForwardProtocol::Udp => &[17],
                        ForwardProtocol::Any => &[6, 17],
                    };
                    for p in protos {
                        for (k, ep) in (ea..=eb).enumerate() {
                            dnat_ports.insert(
                                (u32::from(f.external_ip), *p, ep),
                                DnatT {
                                    id: f.id.clone(),
                                    internal_ip: f.internal_ip,
                                    internal_port: Some(ia + k as u16),
                                },
                            );
                        }
                    }
                }
                NatGatewayT {
                    id: g.id.clone(),
                    vpc: vpc_idx(&g.vpc),
                    eips: g
                        .eips
                        .iter()
                        .filter_map(|e| c.eips.get(e))
                        .map(|e| e.address)
                        .collect(),
                    snat,
                    dnat_ports,
                    dnat_ips,
                    inside_ip: c
                        .vswitches
                        .get(&g.vswitch)
                        .map_or(Ipv4Addr::UNSPECIFIED, |v| v.gateway()),
                }
            })
            .collect();

        Tables {
            epoch,
            enis,
            eni_index,
            instances,
            instance_index,
            vpcs,
            private,
            one_to_one,
            public,
            route_tables,
            nat_gateways,
            snat_connections_per_destination: c.quotas.snat_connections_per_destination,
        }
    }

    pub fn eni(&self, idx: EniIdx) -> &EniT {
        &self.enis[idx as usize]
    }

    /// The ENI behind an observation port (None for the Internet edge).
    pub fn eni_of_port(&self, port: u16) -> Option<EniIdx> {
        port.checked_sub(1)
            .filter(|i| (*i as usize) < self.enis.len())
    }

    /// MTU of the link at an observation port: the ENI's, or 1500 at the Internet edge
    /// (and the NAT gateway, which only faces the Internet).
    #[inline]
    pub fn port_mtu(&self, port: u16) -> u16 {
        match self.eni_of_port(port) {
            Some(e) => self.enis[e as usize].mtu,
            None => ETHERNET_MTU,
        }
    }

    pub fn port_name(&self, port: u16) -> String {
        match self.eni_of_port(port) {
            None => "internet".into(),
            Some(i) => self.enis[i as usize].id.clone(),
        }
    }

    pub fn in_vpc(&self, vpc: u16, ip: Ipv4Addr) -> bool {
        self.vpcs
            .get(vpc as usize)
            .is_some_and(|(_, n)| n.contains(&ip))
    }
}
