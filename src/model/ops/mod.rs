//! Control-plane operations, named and parameterised as the Alibaba Cloud OpenAPI names
//! them (ECS 2014-05-26, VPC 2016-04-28), each enforcing the rules of SEMANTICS.md §2.
//!
//! vpcsim extensions: every create operation takes an optional id (`NetworkInterfaceId`,
//! `AllocationId`, ...) so scenario steps can refer to what they create, and
//! `SetGuestPolicyRoutes` stands for running multi-nic-util inside the guest.
//!
//! This file holds the calls (`Operation`), the dispatch (`Cloud::apply`) and the lookups
//! every operation shares; each operation lives with the resource it changes: `eni.rs`,
//! `eip.rs`, `nat_gateway.rs`, `security_group.rs`, `route.rs`, `instance.rs`, `vpc.rs`.

mod eip;
mod eni;
mod instance;
mod nat_gateway;
mod route;
mod security_group;
mod vpc;

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::Deserialize;

use super::*;

/// One control-plane call. In a scenario file: `op = "AttachNetworkInterface"` plus the
/// call's parameters under their OpenAPI names.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "op", deny_unknown_fields, rename_all_fields = "PascalCase")]
pub enum Operation {
    CreateVpc {
        cidr_block: Ipv4Net,
        vpc_id: Option<String>,
    },
    CreateVSwitch {
        vpc_id: String,
        zone_id: String,
        cidr_block: Ipv4Net,
        #[serde(rename = "VSwitchId")]
        vswitch_id: Option<String>,
    },
    CreateRouteTable {
        vpc_id: String,
        route_table_id: Option<String>,
    },
    AssociateRouteTable {
        route_table_id: String,
        #[serde(rename = "VSwitchId")]
        vswitch_id: String,
    },
    UnassociateRouteTable {
        route_table_id: String,
        #[serde(rename = "VSwitchId")]
        vswitch_id: String,
    },
    /// One instance with its primary ENI. vpcsim extensions: `InstanceId`,
    /// `PublicIpAddress` (the static public IP when `InternetMaxBandwidthOut` > 0) and
    /// `GuestPolicyRoutes` (what the image's multi-nic-util does).
    RunInstances {
        #[serde(rename = "VSwitchId")]
        vswitch_id: String,
        security_group_id: String,
        instance_type: String,
        private_ip_address: Option<Ipv4Addr>,
        #[serde(default)]
        internet_max_bandwidth_out: u32,
        instance_charge_type: Option<ChargeType>,
        instance_id: Option<String>,
        public_ip_address: Option<Ipv4Addr>,
        #[serde(default)]
        guest_policy_routes: bool,
    },
    CreateNetworkInterface {
        #[serde(rename = "VSwitchId")]
        vswitch_id: String,
        security_group_id: String,
        primary_ip_address: Option<Ipv4Addr>,
        network_interface_name: Option<String>,
        description: Option<String>,
        network_interface_id: Option<String>,
    },
    AttachNetworkInterface {
        network_interface_id: String,
        instance_id: String,
    },
    DetachNetworkInterface {
        network_interface_id: String,
        instance_id: String,
    },
    DeleteNetworkInterface {
        network_interface_id: String,
    },
    AssignPrivateIpAddresses {
        network_interface_id: String,
        #[serde(default)]
        private_ip_address: Vec<Ipv4Addr>,
        secondary_private_ip_address_count: Option<u32>,
    },
    ConvertNatPublicIpToEip {
        instance_id: String,
        allocation_id: Option<String>,
    },
    ModifyInstanceChargeType {
        instance_id: String,
        instance_charge_type: ChargeType,
    },
    /// Only the public bandwidth: 0 releases a VPC instance's static public IP.
    ModifyInstanceNetworkSpec {
        instance_id: String,
        internet_max_bandwidth_out: Option<u32>,
    },
    /// Assigns a static public IP to an instance (after ModifyInstanceNetworkSpec raised
    /// its bandwidth above 0). `IpAddress` is a vpcsim extension: the address to assign.
    AllocatePublicIpAddress {
        instance_id: String,
        ip_address: Option<Ipv4Addr>,
    },
    AllocateEipAddress {
        internet_charge_type: Option<EipCharge>,
        resource_group_id: Option<String>,
        ip_address: Option<Ipv4Addr>,
        allocation_id: Option<String>,
    },
    AssociateEipAddress {
        allocation_id: String,
        instance_id: String,
        instance_type: Option<EipTarget>,
        mode: Option<EniMode>,
        private_ip_address: Option<Ipv4Addr>,
    },
    UnassociateEipAddress {
        allocation_id: String,
        instance_id: String,
        instance_type: Option<EipTarget>,
    },
    ReleaseEipAddress {
        allocation_id: String,
    },
    CreateNatGateway {
        vpc_id: String,
        #[serde(rename = "VSwitchId")]
        vswitch_id: String,
        nat_gateway_id: Option<String>,
        #[serde(default)]
        legacy_bandwidth_plan: bool,
    },
    CreateSnatEntry {
        snat_table_id: String,
        #[serde(rename = "SourceVSwitchId")]
        source_vswitch_id: Option<String>,
        #[serde(rename = "SourceCIDR")]
        source_cidr: Option<Ipv4Net>,
        network_interface_id: Option<String>,
        /// Comma-separated EIP addresses, as the API takes them.
        snat_ip: String,
        #[serde(default)]
        eip_affinity: bool,
        snat_entry_id: Option<String>,
    },
    DeleteSnatEntry {
        snat_table_id: String,
        snat_entry_id: String,
    },
    CreateForwardEntry {
        forward_table_id: String,
        external_ip: Ipv4Addr,
        external_port: String,
        internal_ip: Ipv4Addr,
        internal_port: String,
        ip_protocol: ForwardProtocol,
        forward_entry_id: Option<String>,
    },
    DeleteForwardEntry {
        forward_table_id: String,
        forward_entry_id: String,
    },
    CreateRouteEntry {
        route_table_id: String,
        destination_cidr_block: Ipv4Net,
        next_hop_type: String,
        next_hop_id: String,
        route_entry_id: Option<String>,
    },
    DeleteRouteEntry {
        route_table_id: String,
        destination_cidr_block: Ipv4Net,
    },
    CreateSecurityGroup {
        vpc_id: String,
        security_group_type: Option<SecurityGroupType>,
        security_group_name: Option<String>,
        security_group_id: Option<String>,
    },
    AuthorizeSecurityGroup(RulePermission),
    AuthorizeSecurityGroupEgress(RulePermission),
    RevokeSecurityGroup(RulePermission),
    RevokeSecurityGroupEgress(RulePermission),
    JoinSecurityGroup {
        security_group_id: String,
        instance_id: Option<String>,
        network_interface_id: Option<String>,
    },
    LeaveSecurityGroup {
        security_group_id: String,
        instance_id: Option<String>,
        network_interface_id: Option<String>,
    },
    StartInstance {
        instance_id: String,
    },
    StopInstance {
        instance_id: String,
    },
    /// vpcsim extension: what multi-nic-util does in the guest (policy routes per
    /// secondary ENI), or their removal.
    SetGuestPolicyRoutes {
        instance_id: String,
        enabled: bool,
    },
}

/// The parameters of Authorize/Revoke SecurityGroup(Egress). Ingress rules use the
/// `Source*` peer fields, egress rules the `Dest*` ones.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct RulePermission {
    pub security_group_id: String,
    pub ip_protocol: SgProtocol,
    #[serde(default = "no_ports")]
    pub port_range: String,
    pub source_cidr_ip: Option<Ipv4Net>,
    pub source_group_id: Option<String>,
    pub dest_cidr_ip: Option<Ipv4Net>,
    pub dest_group_id: Option<String>,
    /// Five-tuple rules: the packet's source port range (`-1/-1` or absent = any).
    #[serde(default)]
    pub source_port_range: Option<String>,
    pub policy: Option<SgPolicy>,
    pub priority: Option<u8>,
    pub description: Option<String>,
}

fn no_ports() -> String {
    "-1/-1".into()
}

impl Operation {
    /// The OpenAPI name of the call.
    pub fn name(&self) -> &'static str {
        match self {
            Operation::CreateVpc { .. } => "CreateVpc",
            Operation::CreateVSwitch { .. } => "CreateVSwitch",
            Operation::CreateRouteTable { .. } => "CreateRouteTable",
            Operation::AssociateRouteTable { .. } => "AssociateRouteTable",
            Operation::UnassociateRouteTable { .. } => "UnassociateRouteTable",
            Operation::RunInstances { .. } => "RunInstances",
            Operation::CreateNetworkInterface { .. } => "CreateNetworkInterface",
            Operation::AttachNetworkInterface { .. } => "AttachNetworkInterface",
            Operation::DetachNetworkInterface { .. } => "DetachNetworkInterface",
            Operation::DeleteNetworkInterface { .. } => "DeleteNetworkInterface",
            Operation::AssignPrivateIpAddresses { .. } => "AssignPrivateIpAddresses",
            Operation::ConvertNatPublicIpToEip { .. } => "ConvertNatPublicIpToEip",
            Operation::ModifyInstanceChargeType { .. } => "ModifyInstanceChargeType",
            Operation::ModifyInstanceNetworkSpec { .. } => "ModifyInstanceNetworkSpec",
            Operation::AllocatePublicIpAddress { .. } => "AllocatePublicIpAddress",
            Operation::AllocateEipAddress { .. } => "AllocateEipAddress",
            Operation::AssociateEipAddress { .. } => "AssociateEipAddress",
            Operation::UnassociateEipAddress { .. } => "UnassociateEipAddress",
            Operation::ReleaseEipAddress { .. } => "ReleaseEipAddress",
            Operation::CreateNatGateway { .. } => "CreateNatGateway",
            Operation::CreateSnatEntry { .. } => "CreateSnatEntry",
            Operation::DeleteSnatEntry { .. } => "DeleteSnatEntry",
            Operation::CreateForwardEntry { .. } => "CreateForwardEntry",
            Operation::DeleteForwardEntry { .. } => "DeleteForwardEntry",
            Operation::CreateRouteEntry { .. } => "CreateRouteEntry",
            Operation::DeleteRouteEntry { .. } => "DeleteRouteEntry",
            Operation::CreateSecurityGroup { .. } => "CreateSecurityGroup",
            Operation::AuthorizeSecurityGroup(_) => "AuthorizeSecurityGroup",
            Operation::AuthorizeSecurityGroupEgress(_) => "AuthorizeSecurityGroupEgress",
            Operation::RevokeSecurityGroup(_) => "RevokeSecurityGroup",
            Operation::RevokeSecurityGroupEgress(_) => "RevokeSecurityGroupEgress",
            Operation::JoinSecurityGroup { .. } => "JoinSecurityGroup",
            Operation::LeaveSecurityGroup { .. } => "LeaveSecurityGroup",
            Operation::StartInstance { .. } => "StartInstance",
            Operation::StopInstance { .. } => "StopInstance",
            Operation::SetGuestPolicyRoutes { .. } => "SetGuestPolicyRoutes",
        }
    }
}

/// Human-readable lines saying what a successful call changed.
pub type Changes = Vec<String>;

/// A refusal with the cloud's published code for the situation (SEMANTICS.md §4).
fn err<T>(code: &str, msg: impl Into<String>) -> ApiResult<T> {
    Err(ApiError::new(code, msg))
}

/// A refusal whose situation has no published code: the code is vpcsim's own and the
/// message says so.
fn own<T>(code: &str, msg: impl Into<String>) -> ApiResult<T> {
    Err(ApiError::own(code, msg))
}

impl Cloud {
    /// Applies one operation. On refusal nothing changes.
    pub fn apply(&mut self, op: &Operation) -> ApiResult<Changes> {
        // Work on a copy so a refusal half-way never leaves a half-applied change.
        let mut next = self.clone();
        let changes = next.apply_in_place(op)?;
        *self = next;
        Ok(changes)
    }

    fn apply_in_place(&mut self, op: &Operation) -> ApiResult<Changes> {
        use Operation as O;
        match op {
            O::CreateVpc { cidr_block, vpc_id } => self.create_vpc(*cidr_block, vpc_id.as_deref()),
            O::CreateVSwitch {
                vpc_id,
                zone_id,
                cidr_block,
                vswitch_id,
            } => self.create_vswitch(vpc_id, zone_id, *cidr_block, vswitch_id.as_deref()),
            O::CreateRouteTable {
                vpc_id,
                route_table_id,
            } => self.create_route_table(vpc_id, route_table_id.as_deref()),
            O::AssociateRouteTable {
                route_table_id,
                vswitch_id,
            } => self.associate_route_table(route_table_id, vswitch_id),
            O::UnassociateRouteTable {
                route_table_id,
                vswitch_id,
            } => self.unassociate_route_table(route_table_id, vswitch_id),
            O::RunInstances {
                vswitch_id,
                security_group_id,
                instance_type,
                private_ip_address,
                internet_max_bandwidth_out,
                instance_charge_type,
                instance_id,
                public_ip_address,
                guest_policy_routes,
            } => self.run_instances(&instance::RunInstance {
                vswitch_id,
                security_group_id,
                instance_type,
                private_ip: *private_ip_address,
                bandwidth_out: *internet_max_bandwidth_out,
                charge: instance_charge_type.unwrap_or(ChargeType::PostPaid),
                wanted: instance_id.as_deref(),
                public_ip: *public_ip_address,
                policy_routes: *guest_policy_routes,
            }),
            O::CreateNetworkInterface {
                vswitch_id,
                security_group_id,
                primary_ip_address,
                network_interface_name,
                description,
                network_interface_id,
            } => self.create_network_interface(
                vswitch_id,
                security_group_id,
                *primary_ip_address,
                network_interface_name.as_deref(),
                description.as_deref(),
                network_interface_id.as_deref(),
            ),
            O::AttachNetworkInterface {
                network_interface_id,
                instance_id,
            } => self.attach_network_interface(network_interface_id, instance_id),
            O::DetachNetworkInterface {
                network_interface_id,
                instance_id,
            } => self.detach_network_interface(network_interface_id, instance_id),
            O::DeleteNetworkInterface {
                network_interface_id,
            } => self.delete_network_interface(network_interface_id),
            O::AssignPrivateIpAddresses {
                network_interface_id,
                private_ip_address,
                secondary_private_ip_address_count,
            } => self.assign_private_ips(
                network_interface_id,
                private_ip_address,
                *secondary_private_ip_address_count,
            ),
            O::ConvertNatPublicIpToEip {
                instance_id,
                allocation_id,
            } => self.convert_nat_public_ip_to_eip(instance_id, allocation_id.as_deref()),
            O::ModifyInstanceChargeType {
                instance_id,
                instance_charge_type,
            } => self.modify_instance_charge_type(instance_id, *instance_charge_type),
            O::ModifyInstanceNetworkSpec {
                instance_id,
                internet_max_bandwidth_out,
            } => self.modify_instance_network_spec(instance_id, *internet_max_bandwidth_out),
            O::AllocatePublicIpAddress {
                instance_id,
                ip_address,
            } => self.allocate_public_ip(instance_id, *ip_address),
            O::AllocateEipAddress {
                internet_charge_type,
                resource_group_id,
                ip_address,
                allocation_id,
            } => self.allocate_eip(
                internet_charge_type.unwrap_or(EipCharge::PayByTraffic),
                resource_group_id.as_deref(),
                *ip_address,
                allocation_id.as_deref(),
            ),
            O::AssociateEipAddress {
                allocation_id,
                instance_id,
                instance_type,
                mode,
                private_ip_address,
            } => self.associate_eip(
                allocation_id,
                instance_id,
                instance_type.unwrap_or(EipTarget::EcsInstance),
                *mode,
                *private_ip_address,
            ),
            O::UnassociateEipAddress {
                allocation_id,
                instance_id,
                instance_type,
            } => self.unassociate_eip(allocation_id, instance_id, *instance_type),
            O::ReleaseEipAddress { allocation_id } => self.release_eip(allocation_id),
            O::CreateNatGateway {
                vpc_id,
                vswitch_id,
                nat_gateway_id,
                legacy_bandwidth_plan,
            } => self.create_nat_gateway(
                vpc_id,
                vswitch_id,
                nat_gateway_id.as_deref(),
                *legacy_bandwidth_plan,
            ),
            O::CreateSnatEntry {
                snat_table_id,
                source_vswitch_id,
                source_cidr,
                network_interface_id,
                snat_ip,
                eip_affinity,
                snat_entry_id,
            } => {
                let source =
                    Cloud::snat_source(source_vswitch_id, source_cidr, network_interface_id)?;
                let ips = nat_gateway::parse_ip_list(snat_ip)?;
                self.create_snat_entry(
                    snat_table_id,
                    source,
                    ips,
                    *eip_affinity,
                    snat_entry_id.as_deref(),
                )
            }
            O::DeleteSnatEntry {
                snat_table_id,
                snat_entry_id,
            } => self.delete_snat_entry(snat_table_id, snat_entry_id),
            O::CreateForwardEntry {
                forward_table_id,
                external_ip,
                external_port,
                internal_ip,
                internal_port,
                ip_protocol,
                forward_entry_id,
            } => self.create_forward_entry(
                forward_table_id,
                *external_ip,
                external_port,
                *internal_ip,
                internal_port,
                *ip_protocol,
                forward_entry_id.as_deref(),
            ),
            O::DeleteForwardEntry {
                forward_table_id,
                forward_entry_id,
            } => self.delete_forward_entry(forward_table_id, forward_entry_id),
            O::CreateRouteEntry {
                route_table_id,
                destination_cidr_block,
                next_hop_type,
                next_hop_id,
                route_entry_id,
            } => self.create_route_entry(
                route_table_id,
                *destination_cidr_block,
                next_hop_type,
                next_hop_id,
                route_entry_id.as_deref(),
            ),
            O::DeleteRouteEntry {
                route_table_id,
                destination_cidr_block,
            } => self.delete_route_entry(route_table_id, *destination_cidr_block),
            O::CreateSecurityGroup {
                vpc_id,
                security_group_type,
                security_group_name,
                security_group_id,
            } => self.create_security_group(
                vpc_id,
                *security_group_type,
                security_group_name.as_deref(),
                security_group_id.as_deref(),
            ),
            O::AuthorizeSecurityGroup(p) => self.authorize(p, Direction::Ingress),
            O::AuthorizeSecurityGroupEgress(p) => self.authorize(p, Direction::Egress),
            O::RevokeSecurityGroup(p) => self.revoke(p, Direction::Ingress),
            O::RevokeSecurityGroupEgress(p) => self.revoke(p, Direction::Egress),
            O::JoinSecurityGroup {
                security_group_id,
                instance_id,
                network_interface_id,
            } => {
                let eni = self.sg_member_eni(instance_id, network_interface_id)?;
                self.join_security_group(&eni, security_group_id)
            }
            O::LeaveSecurityGroup {
                security_group_id,
                instance_id,
                network_interface_id,
            } => {
                let eni = self.sg_member_eni(instance_id, network_interface_id)?;
                self.leave_security_group(&eni, security_group_id)
            }
            O::StartInstance { instance_id } => self.start_instance(instance_id),
            O::StopInstance { instance_id } => self.stop_instance(instance_id),
            O::SetGuestPolicyRoutes {
                instance_id,
                enabled,
            } => self.set_guest_policy_routes(instance_id, *enabled),
        }
    }

    // ----- lookups that refuse with the API's NotFound codes -----

    fn instance_mut(&mut self, id: &str) -> ApiResult<&mut Instance> {
        self.instances
            .get_mut(id)
            .ok_or_else(|| ApiError::not_found("InvalidEcsId.NotFound", "ECS instance", id))
    }

    fn instance(&self, id: &str) -> ApiResult<&Instance> {
        self.instances
            .get(id)
            .ok_or_else(|| ApiError::not_found("InvalidEcsId.NotFound", "ECS instance", id))
    }

    fn eni(&self, id: &str) -> ApiResult<&Eni> {
        self.enis
            .get(id)
            .ok_or_else(|| ApiError::not_found("InvalidEniId.NotFound", "ENI", id))
    }

    fn eip(&self, id: &str) -> ApiResult<&Eip> {
        self.eips.get(id).ok_or_else(|| {
            ApiError::not_found("InvalidAllocationId.NotFound", "EIP (AllocationId)", id)
        })
    }

    /// A NAT gateway found by its SNAT (or forward) table id, or by its own id.
    fn nat_by_table_mut(&mut self, table: &str, snat: bool) -> ApiResult<&mut NatGateway> {
        let found = self.nat_gateways.values().find(|g| {
            g.id == table
                || (snat && g.snat_table_id == table)
                || (!snat && g.forward_table_id == table)
        });
        let Some(id) = found.map(|g| g.id.clone()) else {
            let (code, what) = if snat {
                ("InvalidSnatTableId.NotFound", "SNAT table")
            } else {
                ("InvalidForwardTableId.NotFound", "forward (DNAT) table")
            };
            return Err(ApiError::not_found(code, what, table));
        };
        Ok(self.nat_gateways.get_mut(&id).expect("found above"))
    }

    /// The id a create call uses: the caller's (vpcsim extension) if free, else a fresh one.
    fn new_id(&mut self, wanted: Option<&str>, prefix: &str) -> ApiResult<String> {
        match wanted {
            Some(id) if self.id_in_use(id) => own(
                "InvalidParameter.IdInUse",
                format!("id `{id}` is already used by another resource; choose another"),
            ),
            Some(id) => Ok(id.to_string()),
            None => Ok(self.fresh_id(prefix)),
        }
    }
}
