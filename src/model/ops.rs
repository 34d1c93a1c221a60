//! Control-plane operations, named and parameterised as the Alibaba Cloud OpenAPI names
//! them (ECS 2014-05-26, VPC 2016-04-28), each enforcing the rules of SEMANTICS.md §2.
//!
//! vpcsim extensions: every create operation takes an optional id (`NetworkInterfaceId`,
//! `AllocationId`, ...) so scenario steps can refer to what they create, and
//! `SetGuestPolicyRoutes` stands for running multi-nic-util inside the guest.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::Deserialize;

use super::*;

/// One control-plane call. In a scenario file: `op = "AttachNetworkInterface"` plus the
/// call's parameters under their OpenAPI names.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "op", deny_unknown_fields, rename_all_fields = "PascalCase")]
pub enum Operation {
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
            Operation::CreateNetworkInterface { .. } => "CreateNetworkInterface",
            Operation::AttachNetworkInterface { .. } => "AttachNetworkInterface",
            Operation::DetachNetworkInterface { .. } => "DetachNetworkInterface",
            Operation::DeleteNetworkInterface { .. } => "DeleteNetworkInterface",
            Operation::AssignPrivateIpAddresses { .. } => "AssignPrivateIpAddresses",
            Operation::ConvertNatPublicIpToEip { .. } => "ConvertNatPublicIpToEip",
            Operation::ModifyInstanceChargeType { .. } => "ModifyInstanceChargeType",
            Operation::AllocateEipAddress { .. } => "AllocateEipAddress",
            Operation::AssociateEipAddress { .. } => "AssociateEipAddress",
            Operation::UnassociateEipAddress { .. } => "UnassociateEipAddress",
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

fn err<T>(code: &str, msg: impl Into<String>) -> ApiResult<T> {
    Err(ApiError::new(code, msg))
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
            } => {
                let i = self.instance_mut(instance_id)?;
                let old = i.charge_type;
                i.charge_type = *instance_charge_type;
                Ok(vec![format!(
                    "{instance_id}: InstanceChargeType {old:?} → {instance_charge_type:?}"
                )])
            }
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
                let source = match (source_vswitch_id, source_cidr, network_interface_id) {
                    (Some(v), None, None) => SnatSource::VSwitch(v.clone()),
                    (None, Some(c), None) => SnatSource::Cidr(*c),
                    (None, None, Some(e)) => SnatSource::NetworkInterface(e.clone()),
                    (None, None, None) => {
                        return err(
                            "MissingParameter",
                            "CreateSnatEntry needs one source: SourceVSwitchId, SourceCIDR or NetworkInterfaceId",
                        )
                    }
                    _ => {
                        return err(
                            "InvalidParameter",
                            "SourceVSwitchId, SourceCIDR and NetworkInterfaceId are mutually exclusive; give exactly one",
                        )
                    }
                };
                let ips = parse_ip_list(snat_ip)?;
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
            } => {
                let g = self.nat_by_table_mut(snat_table_id, true)?;
                let before = g.snat_entries.len();
                g.snat_entries.retain(|e| &e.id != snat_entry_id);
                if g.snat_entries.len() == before {
                    return Err(ApiError::not_found(
                        "InvalidSnatEntryId.NotFound",
                        "SNAT entry",
                        snat_entry_id,
                    ));
                }
                Ok(vec![format!(
                    "{snat_table_id}: SNAT entry {snat_entry_id} deleted"
                )])
            }
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
            } => {
                let g = self.nat_by_table_mut(forward_table_id, false)?;
                let before = g.forward_entries.len();
                g.forward_entries.retain(|e| &e.id != forward_entry_id);
                if g.forward_entries.len() == before {
                    return Err(ApiError::not_found(
                        "InvalidForwardEntryId.NotFound",
                        "DNAT entry",
                        forward_entry_id,
                    ));
                }
                Ok(vec![format!(
                    "{forward_table_id}: DNAT entry {forward_entry_id} deleted"
                )])
            }
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
            } => {
                let t = self.route_tables.get_mut(route_table_id).ok_or_else(|| {
                    ApiError::not_found(
                        "InvalidRouteTableId.NotFound",
                        "route table",
                        route_table_id,
                    )
                })?;
                let Some(pos) = t
                    .entries
                    .iter()
                    .position(|e| e.destination == *destination_cidr_block)
                else {
                    return err(
                        "InvalidRouteEntry.NotFound",
                        format!("route table {route_table_id} has no entry for {destination_cidr_block}; give the DestinationCidrBlock of an existing custom route"),
                    );
                };
                if t.entries[pos].system && t.entries[pos].next_hop == NextHop::Local {
                    return err(
                        "OperationDenied.SystemRoute",
                        format!("{destination_cidr_block} is a VSwitch's system route and cannot be deleted; delete the VSwitch instead"),
                    );
                }
                t.entries.remove(pos);
                Ok(vec![format!(
                    "{route_table_id}: route {destination_cidr_block} deleted"
                )])
            }
            O::CreateSecurityGroup {
                vpc_id,
                security_group_type,
                security_group_name,
                security_group_id,
            } => {
                if !self.vpcs.contains_key(vpc_id) {
                    return Err(ApiError::not_found("InvalidVpcId.NotFound", "VPC", vpc_id));
                }
                let id = self.new_id(security_group_id.as_deref(), "sg")?;
                let kind = security_group_type.unwrap_or(SecurityGroupType::Basic);
                self.security_groups.insert(
                    id.clone(),
                    SecurityGroup {
                        id: id.clone(),
                        name: security_group_name.clone().unwrap_or_else(|| id.clone()),
                        vpc: vpc_id.clone(),
                        kind,
                        inner_access_accept: kind == SecurityGroupType::Basic,
                        rules: Vec::new(),
                    },
                );
                Ok(vec![format!(
                    "{id}: created ({kind:?} security group in {vpc_id})"
                )])
            }
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
            O::StartInstance { instance_id } => {
                let i = self.instance_mut(instance_id)?;
                if i.status != InstanceStatus::Stopped {
                    return err(
                        "IncorrectInstanceStatus",
                        format!(
                            "StartInstance needs a Stopped instance; {instance_id} is {:?}",
                            i.status
                        ),
                    );
                }
                i.status = InstanceStatus::Running;
                Ok(vec![format!("{instance_id}: status Stopped → Running")])
            }
            O::StopInstance { instance_id } => {
                let i = self.instance_mut(instance_id)?;
                if i.status != InstanceStatus::Running {
                    return err(
                        "IncorrectInstanceStatus",
                        format!(
                            "StopInstance needs a Running instance; {instance_id} is {:?}",
                            i.status
                        ),
                    );
                }
                i.status = InstanceStatus::Stopped;
                Ok(vec![format!("{instance_id}: status Running → Stopped")])
            }
            O::SetGuestPolicyRoutes {
                instance_id,
                enabled,
            } => {
                let i = self.instance_mut(instance_id)?;
                i.guest.policy_routes = *enabled;
                Ok(vec![format!(
                    "{instance_id}: guest policy routes per secondary ENI {}",
                    if *enabled { "installed" } else { "removed" }
                )])
            }
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
            Some(id) if self.id_in_use(id) => err(
                "InvalidParameter.IdInUse",
                format!("id `{id}` is already used by another resource; choose another"),
            ),
            Some(id) => Ok(id.to_string()),
            None => Ok(self.fresh_id(prefix)),
        }
    }

    // ----- ENI -----

    fn create_network_interface(
        &mut self,
        vswitch_id: &str,
        sg: &str,
        ip: Option<Ipv4Addr>,
        name: Option<&str>,
        description: Option<&str>,
        wanted_id: Option<&str>,
    ) -> ApiResult<Changes> {
        let vsw = self
            .vswitches
            .get(vswitch_id)
            .ok_or_else(|| ApiError::not_found("InvalidVSwitchId.NotFound", "VSwitch", vswitch_id))?
            .clone();
        let group = self.security_groups.get(sg).ok_or_else(|| {
            ApiError::not_found("InvalidSecurityGroupId.NotFound", "security group", sg)
        })?;
        if group.vpc != vsw.vpc {
            return err(
                "InvalidSecurityGroupId.VpcMismatch",
                format!("security group {sg} is in {} but VSwitch {vswitch_id} is in {}; pick a group of the ENI's VPC", group.vpc, vsw.vpc),
            );
        }
        let ip = match ip {
            Some(ip) => {
                if !vsw.cidr.contains(&ip) {
                    return err(
                        "InvalidPrimaryIpAddress.Malformed",
                        format!("primary private IP {ip} is outside VSwitch {vswitch_id} ({}); choose an address inside it", vsw.cidr),
                    );
                }
                if self.private_ip_in_use(ip) {
                    return err(
                        "InvalidPrivateIpAddress.Duplicated",
                        format!("private IP {ip} is already in use; choose an idle address or omit PrimaryIpAddress to get one"),
                    );
                }
                ip
            }
            None => self.free_private_ip(vsw.cidr).ok_or_else(|| {
                ApiError::new(
                    "InvalidVSwitchId.IpNotEnough",
                    format!(
                        "VSwitch {vswitch_id} ({}) has no idle private IP left; use another VSwitch of the zone or free an address",
                        vsw.cidr
                    ),
                )
            })?,
        };
        let id = self.new_id(wanted_id, "eni")?;
        let mac = self.fresh_mac();
        self.enis.insert(
            id.clone(),
            Eni {
                id: id.clone(),
                name: name.unwrap_or(&id).to_string(),
                kind: EniType::Secondary,
                status: EniStatus::Available,
                vpc: vsw.vpc.clone(),
                vswitch: vswitch_id.to_string(),
                zone: vsw.zone.clone(),
                mac,
                primary_ip: ip,
                secondary_ips: vec![],
                security_groups: vec![sg.to_string()],
                instance: None,
                description: description.unwrap_or_default().to_string(),
            },
        );
        Ok(vec![format!(
            "{id}: created (Secondary, Available) in {vswitch_id}/{} with primary private IP {ip}, security group {sg}",
            vsw.zone
        )])
    }

    fn attach_network_interface(&mut self, eni_id: &str, inst_id: &str) -> ApiResult<Changes> {
        let eni = self.eni(eni_id)?.clone();
        let inst = self.instance(inst_id)?.clone();
        if eni.kind == EniType::Primary {
            return err(
                "InvalidOperation.InvalidEniType",
                format!("{eni_id} is a primary ENI; only secondary ENIs can be attached"),
            );
        }
        if eni.status != EniStatus::Available {
            let holder = eni.instance.as_deref().unwrap_or("another instance");
            return err(
                "InvalidOperation.InvalidEniState",
                format!("{eni_id} is {:?} (attached to {holder}); an ENI is on one instance at a time and must be Available to attach: detach it first", eni.status),
            );
        }
        if !matches!(
            inst.status,
            InstanceStatus::Running | InstanceStatus::Stopped
        ) {
            return err(
                "InvalidOperation.InvalidEcsState",
                format!(
                    "{inst_id} is {:?}; attach needs a Running or Stopped instance",
                    inst.status
                ),
            );
        }
        let Some(vpc) = &inst.vpc else {
            return err(
                "InvalidOperation.VpcMismatch",
                format!("{inst_id} is a classic-network instance; ENIs attach only to VPC-connected instances"),
            );
        };
        if *vpc != eni.vpc {
            return err(
                "InvalidOperation.VpcMismatch",
                format!("{eni_id} is in {} but {inst_id} is in {vpc}; instance and ENI must be in the same VPC", eni.vpc),
            );
        }
        if inst.zone != eni.zone {
            return err(
                "InvalidOperation.AvailabilityZoneMismatch",
                format!("{eni_id} is in zone {} (VSwitch {}) but {inst_id} is in zone {}; VSwitches may differ but must be in the same zone: create the ENI in a VSwitch of {}", eni.zone, eni.vswitch, inst.zone, inst.zone),
            );
        }
        if !inst.io_optimized {
            return err(
                "InvalidOperation.InstanceNotIoOptimized",
                format!(
                    "{inst_id} is not I/O optimized; ENIs attach only to I/O optimized instances"
                ),
            );
        }
        let max = self
            .instance_type(&inst.instance_type)
            .map(|t| t.max_enis)
            .unwrap_or(1);
        if inst.enis.len() as u32 >= max {
            return err(
                "EniPerInstanceLimitExceeded",
                format!("{inst_id} ({}) already has {} ENIs, the type's maximum including the primary is {max}; detach one or choose a larger instance type", inst.instance_type, inst.enis.len()),
            );
        }
        if let Some(eip) = self.eips_of_eni(eni_id).find(|e| {
            e.binding
                .as_ref()
                .is_some_and(|b| b.mode == EniMode::CutThrough)
        }) {
            // Allowed: cut-through EIPs are bound while detached, then the ENI is attached.
            let _ = eip;
        }
        let dev = inst.enis.len();
        self.enis.get_mut(eni_id).expect("checked").status = EniStatus::InUse;
        self.enis.get_mut(eni_id).expect("checked").instance = Some(inst_id.to_string());
        self.instances
            .get_mut(inst_id)
            .expect("checked")
            .enis
            .push(eni_id.to_string());
        Ok(vec![format!(
            "{eni_id}: status Available → InUse; attached to {inst_id} as eth{dev}"
        )])
    }

    fn detach_network_interface(&mut self, eni_id: &str, inst_id: &str) -> ApiResult<Changes> {
        let eni = self.eni(eni_id)?.clone();
        self.instance(inst_id)?;
        if eni.kind == EniType::Primary {
            return err(
                "InvalidOperation.DetachPrimaryEniNotAllowed",
                format!("{eni_id} is the primary ENI of {inst_id} and cannot be detached"),
            );
        }
        if eni.instance.as_deref() != Some(inst_id) {
            return err(
                "InvalidOperation.InvalidEniState",
                format!("{eni_id} is not attached to {inst_id}; detach it from the instance it is attached to (see its `instance` in the state)"),
            );
        }
        let e = self.enis.get_mut(eni_id).expect("checked");
        e.status = EniStatus::Available;
        e.instance = None;
        self.instances
            .get_mut(inst_id)
            .expect("checked")
            .enis
            .retain(|x| x != eni_id);
        Ok(vec![format!(
            "{eni_id}: status InUse → Available; detached from {inst_id}"
        )])
    }

    fn delete_network_interface(&mut self, eni_id: &str) -> ApiResult<Changes> {
        let eni = self.eni(eni_id)?;
        if eni.status != EniStatus::Available {
            return err(
                "InvalidOperation.InvalidEniState",
                format!(
                    "{eni_id} is {:?}; only an Available (detached) ENI can be deleted",
                    eni.status
                ),
            );
        }
        if let Some(e) = self.eips_of_eni(eni_id).next() {
            return err(
                "InvalidOperation.EipBound",
                format!(
                    "{eni_id} still has EIP {} bound; unassociate it first",
                    e.id
                ),
            );
        }
        self.enis.remove(eni_id);
        Ok(vec![format!("{eni_id}: deleted")])
    }

    fn assign_private_ips(
        &mut self,
        eni_id: &str,
        ips: &[Ipv4Addr],
        count: Option<u32>,
    ) -> ApiResult<Changes> {
        let eni = self.eni(eni_id)?.clone();
        let vsw = self
            .vswitches
            .get(&eni.vswitch)
            .expect("ENI VSwitch exists")
            .clone();
        let limit = eni
            .instance
            .as_ref()
            .and_then(|i| self.instances.get(i))
            .and_then(|i| self.instance_type(&i.instance_type))
            .map(|t| t.max_private_ips_per_eni)
            .unwrap_or(u32::MAX);
        let wanted = if ips.is_empty() {
            count.unwrap_or(1) as usize
        } else {
            ips.len()
        };
        let have = 1 + eni.secondary_ips.len();
        if (have + wanted) as u32 > limit {
            return err(
                "InvalidOperation.Ipv4CountExceeded",
                format!(
                    "{eni_id} would have {} private IPs; its instance type allows {limit} per ENI",
                    have + wanted
                ),
            );
        }
        let mut added = vec![];
        for ip in ips {
            if !vsw.cidr.contains(ip) {
                return err(
                    "InvalidPrivateIpAddress.Malformed",
                    format!("{ip} is outside VSwitch {} ({})", vsw.id, vsw.cidr),
                );
            }
            if self.private_ip_in_use(*ip) {
                return err(
                    "InvalidPrivateIpAddress.Duplicated",
                    format!("{ip} is already in use; choose an idle address or give SecondaryPrivateIpAddressCount instead"),
                );
            }
            self.enis
                .get_mut(eni_id)
                .expect("checked")
                .secondary_ips
                .push(*ip);
            added.push(*ip);
        }
        if ips.is_empty() {
            for _ in 0..wanted {
                let ip = self.free_private_ip(vsw.cidr).ok_or_else(|| {
                    ApiError::new(
                        "InvalidVSwitchId.IpNotEnough",
                        format!(
                            "VSwitch {} has no idle private IP left; assign fewer addresses",
                            vsw.id
                        ),
                    )
                })?;
                self.enis
                    .get_mut(eni_id)
                    .expect("checked")
                    .secondary_ips
                    .push(ip);
                added.push(ip);
            }
        }
        let list: Vec<String> = added.iter().map(|i| i.to_string()).collect();
        Ok(vec![format!(
            "{eni_id}: secondary private IPs added: {}",
            list.join(", ")
        )])
    }

    // ----- EIP -----

    fn convert_nat_public_ip_to_eip(
        &mut self,
        inst_id: &str,
        wanted: Option<&str>,
    ) -> ApiResult<Changes> {
        let inst = self.instance(inst_id)?.clone();
        if !matches!(
            inst.status,
            InstanceStatus::Running | InstanceStatus::Stopped
        ) {
            return err(
                "IncorrectInstanceStatus",
                format!("{inst_id} is {:?}; converting its public IP needs a Running or Stopped instance", inst.status),
            );
        }
        if let Some(e) = self.eip_of_instance(inst_id) {
            return err(
                "IncorrectInstanceStatus",
                format!(
                    "{inst_id} already has EIP {} ({}); there is no static public IP to convert",
                    e.id, e.address
                ),
            );
        }
        let Some(addr) = inst.public_ip else {
            return err(
                "InvalidInstance.NoPublicIp",
                format!("{inst_id} has no static public IP to convert"),
            );
        };
        if inst.charge_type == ChargeType::PrePaid {
            // [decision] code: the seed says only that subscription instances cannot convert.
            return err(
                "InvalidInstanceChargeType.NotSupported",
                format!("{inst_id} is a subscription (PrePaid) instance; its public IP cannot be converted directly: first run ModifyInstanceChargeType to PostPaid (pay-as-you-go)"),
            );
        }
        let id = self.new_id(wanted, "eip")?;
        self.instances.get_mut(inst_id).expect("checked").public_ip = None;
        self.eips.insert(
            id.clone(),
            Eip {
                id: id.clone(),
                address: addr,
                region: self.region.clone(),
                status: EipStatus::InUse,
                // [decision] the converted EIP keeps pay-by-traffic billing.
                charge: EipCharge::PayByTraffic,
                resource_group: "default".into(),
                binding: Some(EipBinding {
                    target: EipTarget::EcsInstance,
                    resource: inst_id.to_string(),
                    mode: EniMode::Nat,
                    private_ip: Some(self.primary_private_ip(inst_id)?),
                }),
            },
        );
        Ok(vec![format!(
            "{inst_id}: static public IP {addr} converted to EIP {id} (InUse, bound to {inst_id})"
        )])
    }

    fn primary_private_ip(&self, inst_id: &str) -> ApiResult<Ipv4Addr> {
        let inst = self.instance(inst_id)?;
        let eni = inst
            .primary_eni()
            .and_then(|e| self.enis.get(e))
            .ok_or_else(|| {
                ApiError::new(
                    "InvalidEcsId.NoPrimaryEni",
                    format!("{inst_id} has no primary ENI"),
                )
            })?;
        Ok(eni.primary_ip)
    }

    fn allocate_eip(
        &mut self,
        charge: EipCharge,
        rg: Option<&str>,
        ip: Option<Ipv4Addr>,
        wanted: Option<&str>,
    ) -> ApiResult<Changes> {
        let address = match ip {
            Some(ip) if self.public_ip_in_use(ip) => {
                return err(
                    "InvalidIpAddress.AlreadyAllocated",
                    format!("public address {ip} is already allocated in this scenario"),
                )
            }
            Some(ip) => ip,
            None => {
                // [decision] generated EIPs come from 47.98.0.0/16, in order.
                let mut n = 1u32;
                loop {
                    let ip = Ipv4Addr::from(u32::from(Ipv4Addr::new(47, 98, 0, 0)) + n);
                    if !self.public_ip_in_use(ip) {
                        break ip;
                    }
                    n += 1;
                }
            }
        };
        let id = self.new_id(wanted, "eip")?;
        self.eips.insert(
            id.clone(),
            Eip {
                id: id.clone(),
                address,
                region: self.region.clone(),
                status: EipStatus::Available,
                charge,
                resource_group: rg.unwrap_or("default").to_string(),
                binding: None,
            },
        );
        Ok(vec![format!(
            "{id}: allocated {address} ({charge:?}, Available)"
        )])
    }

    fn associate_eip(
        &mut self,
        eip_id: &str,
        target_id: &str,
        target: EipTarget,
        mode: Option<EniMode>,
        private_ip: Option<Ipv4Addr>,
    ) -> ApiResult<Changes> {
        let eip = self.eip(eip_id)?.clone();
        if let Some(b) = &eip.binding {
            return err(
                "InvalidAssociation.Duplicated",
                format!("EIP {eip_id} ({}) is already bound to {}; an EIP is bound to one resource at a time: unassociate it first", eip.address, b.resource),
            );
        }
        if eip.status != EipStatus::Available {
            return err(
                "IncorrectEipStatus",
                format!("EIP {eip_id} is {:?}; it must be Available", eip.status),
            );
        }
        let mut binding = EipBinding {
            target,
            resource: target_id.to_string(),
            mode: EniMode::Nat,
            private_ip: None,
        };
        let what: String;
        match target {
            EipTarget::EcsInstance => {
                let inst = self.instance(target_id)?.clone();
                if inst.vpc.is_none() {
                    return err(
                        "InvalidParameter.Mismatch",
                        format!("{target_id} is a classic-network instance; EIPs bind only to instances in a VPC"),
                    );
                }
                self.same_region(&eip, target_id)?;
                if !matches!(
                    inst.status,
                    InstanceStatus::Running | InstanceStatus::Stopped
                ) {
                    return err(
                        "IncorrectInstanceStatus",
                        format!("{target_id} is {:?}; an EIP binds only to a Running or Stopped instance", inst.status),
                    );
                }
                if let Some(p) = inst.public_ip {
                    return err(
                        "IncorrectInstanceStatus",
                        format!("{target_id} has a static public IP {p}; an instance with a public IP cannot take an EIP: convert it with ConvertNatPublicIpToEip instead"),
                    );
                }
                if let Some(e) = self.eip_of_instance(target_id) {
                    return err(
                        "IncorrectInstanceStatus",
                        format!(
                            "{target_id} already has EIP {} ({}); unassociate it first",
                            e.id, e.address
                        ),
                    );
                }
                let ip = self.primary_private_ip(target_id)?;
                if let Some((g, f)) = self.forward_entry_for_ip(ip) {
                    return err(
                        "BIND_INSTANCE_HAVE_PORTMAP_OR_BIND_EIP",
                        format!("{target_id} ({ip}) has DNAT entry {f} on NAT gateway {g}; an instance with DNAT entries cannot take an EIP: delete the DNAT entries first"),
                    );
                }
                binding.private_ip = Some(ip);
                what = format!("ECS instance {target_id} ({ip})");
            }
            EipTarget::NetworkInterface => {
                let eni = self.eni(target_id)?.clone();
                self.same_region(&eip, target_id)?;
                if eni.kind == EniType::Primary {
                    return err(
                        "InvalidOperation.InvalidEniType",
                        format!("{target_id} is a primary ENI; bind the EIP to its instance (InstanceType EcsInstance) or to a secondary ENI"),
                    );
                }
                let mode = mode.unwrap_or(EniMode::Nat);
                binding.mode = mode;
                let bound_here: Vec<Eip> = self.eips_of_eni(target_id).cloned().collect();
                match mode {
                    EniMode::Nat => {
                        if bound_here
                            .iter()
                            .any(|e| e.binding.as_ref().is_some_and(|b| b.mode != EniMode::Nat))
                        {
                            return err("InvalidParameter.Mode", format!("{target_id} already has EIPs in another mode; one ENI uses one mode"));
                        }
                        let ip = private_ip.unwrap_or(eni.primary_ip);
                        if !eni.private_ips().any(|p| p == ip) {
                            return err(
                                "InvalidPrivateIpAddress.NotFound",
                                format!("{ip} is not a private IP of {target_id}; PrivateIpAddress must be its primary or a secondary private IP"),
                            );
                        }
                        if let Some(e) = bound_here
                            .iter()
                            .find(|e| e.binding.as_ref().and_then(|b| b.private_ip) == Some(ip))
                        {
                            return err(
                                "InvalidAssociation.Duplicated",
                                format!("private IP {ip} of {target_id} already maps to EIP {} ({}); in NAT mode each private IP takes one EIP: pick another PrivateIpAddress", e.id, e.address),
                            );
                        }
                        binding.private_ip = Some(ip);
                        what = format!("secondary ENI {target_id} private IP {ip} (NAT mode)");
                    }
                    EniMode::CutThrough => {
                        if eni.status != EniStatus::Available {
                            return err(
                                "Eni.Attached",
                                format!("{target_id} is attached to {}; cut-through (BINDED) mode needs a detached ENI: detach it, associate, then attach again", eni.instance.as_deref().unwrap_or("an instance")),
                            );
                        }
                        if let Some(e) = bound_here.first() {
                            return err(
                                "InvalidAssociation.Duplicated",
                                format!("{target_id} already has EIP {}; cut-through mode takes one EIP per ENI", e.id),
                            );
                        }
                        what = format!("secondary ENI {target_id} (cut-through: the EIP replaces its private IP)");
                    }
                    EniMode::MultiEip => {
                        if bound_here.iter().any(|e| {
                            e.binding
                                .as_ref()
                                .is_some_and(|b| b.mode != EniMode::MultiEip)
                        }) {
                            return err("InvalidParameter.Mode", format!("{target_id} already has EIPs in another mode; one ENI uses one mode"));
                        }
                        binding.private_ip = Some(private_ip.unwrap_or(eni.primary_ip));
                        what = format!(
                            "secondary ENI {target_id} (multi-EIP-to-ENI: visible in the guest)"
                        );
                    }
                }
            }
            EipTarget::Nat => {
                let g = self
                    .nat_gateways
                    .get(target_id)
                    .ok_or_else(|| {
                        ApiError::not_found(
                            "InvalidNatGatewayId.NotFound",
                            "NAT gateway",
                            target_id,
                        )
                    })?
                    .clone();
                self.same_region(&eip, target_id)?;
                if g.legacy_bandwidth_plan {
                    return err(
                        "OperationDenied.NatBandwidthPlan",
                        format!("NAT gateway {target_id} was bought with a NAT bandwidth plan before 2018-01-26 and cannot take EIPs; upgrade it first"),
                    );
                }
                if g.eips.len() >= self.quotas.eips_per_nat_gateway {
                    return err(
                        "QuotaExceeded.EipsPerNatGateway",
                        format!("NAT gateway {target_id} already has {} EIPs, the maximum is {}; unassociate one first", g.eips.len(), self.quotas.eips_per_nat_gateway),
                    );
                }
                if eip.charge == EipCharge::PayByTraffic {
                    let traffic = g
                        .eips
                        .iter()
                        .filter(|e| {
                            self.eips
                                .get(*e)
                                .is_some_and(|x| x.charge == EipCharge::PayByTraffic)
                        })
                        .count();
                    if traffic >= self.quotas.pay_by_traffic_eips_per_nat_gateway {
                        return err(
                            "QuotaExceeded.PayByTrafficEips",
                            format!("NAT gateway {target_id} already has {traffic} pay-by-traffic EIPs, the maximum is {}; use a PayByBandwidth EIP", self.quotas.pay_by_traffic_eips_per_nat_gateway),
                        );
                    }
                }
                self.nat_gateways
                    .get_mut(target_id)
                    .expect("checked")
                    .eips
                    .push(eip_id.to_string());
                what = format!("NAT gateway {target_id}");
            }
            EipTarget::HaVip => {
                let h = self.havips.get(target_id).ok_or_else(|| {
                    ApiError::not_found("InvalidHaVipId.NotFound", "HAVIP", target_id)
                })?;
                self.same_region(&eip, target_id)?;
                if let Some(e) = &h.eip {
                    return err(
                        "InvalidAssociation.Duplicated",
                        format!("HAVIP {target_id} already has EIP {e}; a HAVIP takes one EIP"),
                    );
                }
                self.havips.get_mut(target_id).expect("checked").eip = Some(eip_id.to_string());
                what = format!("HAVIP {target_id}");
            }
            EipTarget::SlbInstance => {
                let s = self.slbs.get(target_id).ok_or_else(|| {
                    ApiError::not_found("InvalidLoadBalancerId.NotFound", "SLB instance", target_id)
                })?;
                self.same_region(&eip, target_id)?;
                if s.address_type == SlbAddressType::Internet {
                    return err(
                        "InvalidParameter.SlbAddressType",
                        format!("SLB {target_id} is Internet-facing; EIPs bind only to internal (intranet) SLB instances"),
                    );
                }
                if s.resource_group != eip.resource_group {
                    return err(
                        "InvalidParameter.ResourceGroupMismatch",
                        format!("SLB {target_id} is in resource group {} and EIP {eip_id} in {}; the console does not offer an SLB of another resource group", s.resource_group, eip.resource_group),
                    );
                }
                if let Some(e) = &s.eip {
                    return err(
                        "InvalidAssociation.Duplicated",
                        format!(
                            "SLB {target_id} already has EIP {e}; an internal SLB takes one EIP"
                        ),
                    );
                }
                self.slbs.get_mut(target_id).expect("checked").eip = Some(eip_id.to_string());
                what = format!("internal SLB {target_id}");
            }
        }
        let e = self.eips.get_mut(eip_id).expect("checked");
        e.status = EipStatus::InUse;
        e.binding = Some(binding);
        Ok(vec![format!(
            "{eip_id} ({}): status Available → InUse; bound to {what}",
            eip.address
        )])
    }

    /// Every target lives in the scenario's region; an EIP may have been allocated in
    /// another (a scenario says so with `region` on the EIP). Zones do not matter.
    fn same_region(&self, eip: &Eip, target: &str) -> ApiResult<()> {
        if eip.region != self.region {
            return err(
                "InvalidParameter.Mismatch",
                format!("EIP {} is in region {} but {target} is in {}; an EIP binds only to resources of its own region: allocate one in {}", eip.id, eip.region, self.region, self.region),
            );
        }
        Ok(())
    }

    fn forward_entry_for_ip(&self, ip: Ipv4Addr) -> Option<(String, String)> {
        self.nat_gateways.values().find_map(|g| {
            g.forward_entries
                .iter()
                .find(|f| f.internal_ip == ip)
                .map(|f| (g.id.clone(), f.id.clone()))
        })
    }

    fn unassociate_eip(
        &mut self,
        eip_id: &str,
        target_id: &str,
        target: Option<EipTarget>,
    ) -> ApiResult<Changes> {
        let eip = self.eip(eip_id)?.clone();
        let Some(b) = &eip.binding else {
            return err(
                "IncorrectEipStatus",
                format!("EIP {eip_id} is not bound to anything; there is nothing to unassociate"),
            );
        };
        if b.resource != target_id || target.is_some_and(|t| t != b.target) {
            return err(
                "InvalidAssociation.NotFound",
                format!(
                    "EIP {eip_id} is bound to {:?} {}, not to {target_id}",
                    b.target, b.resource
                ),
            );
        }
        match b.target {
            EipTarget::Nat => {
                let g = self.nat_gateways.get(target_id).expect("binding valid");
                if let Some(s) = g
                    .snat_entries
                    .iter()
                    .find(|s| s.snat_ips.contains(&eip.address))
                {
                    return err(
                        "DependencyViolation.SnatEntry",
                        format!(
                            "EIP {} is used by SNAT entry {}; delete the entry first",
                            eip.address, s.id
                        ),
                    );
                }
                if let Some(f) = g
                    .forward_entries
                    .iter()
                    .find(|f| f.external_ip == eip.address)
                {
                    return err(
                        "DependencyViolation.ForwardEntry",
                        format!(
                            "EIP {} is used by DNAT entry {}; delete the entry first",
                            eip.address, f.id
                        ),
                    );
                }
                self.nat_gateways
                    .get_mut(target_id)
                    .expect("checked")
                    .eips
                    .retain(|e| e != eip_id);
            }
            EipTarget::HaVip => self.havips.get_mut(target_id).expect("binding valid").eip = None,
            EipTarget::SlbInstance => {
                self.slbs.get_mut(target_id).expect("binding valid").eip = None
            }
            EipTarget::NetworkInterface if b.mode == EniMode::CutThrough => {
                let eni = self.enis.get(target_id).expect("binding valid");
                if eni.status != EniStatus::Available {
                    return err(
                        "Eni.Attached",
                        format!("{target_id} is attached; a cut-through EIP is unbound from a detached ENI: detach it first"),
                    );
                }
            }
            _ => {}
        }
        let e = self.eips.get_mut(eip_id).expect("checked");
        e.status = EipStatus::Available;
        e.binding = None;
        Ok(vec![format!(
            "{eip_id} ({}): status InUse → Available; unbound from {target_id}",
            eip.address
        )])
    }

    // ----- NAT gateway -----

    fn create_nat_gateway(
        &mut self,
        vpc: &str,
        vsw: &str,
        wanted: Option<&str>,
        legacy: bool,
    ) -> ApiResult<Changes> {
        let v = self
            .vpcs
            .get(vpc)
            .ok_or_else(|| ApiError::not_found("InvalidVpcId.NotFound", "VPC", vpc))?
            .clone();
        let s = self
            .vswitches
            .get(vsw)
            .ok_or_else(|| ApiError::not_found("InvalidVSwitchId.NotFound", "VSwitch", vsw))?;
        if s.vpc != vpc {
            return err(
                "InvalidVSwitchId.VpcMismatch",
                format!("VSwitch {vsw} is in {}, not {vpc}", s.vpc),
            );
        }
        let id = self.new_id(wanted, "ngw")?;
        let first = !self.nat_gateways.values().any(|g| g.vpc == vpc);
        self.nat_gateways.insert(
            id.clone(),
            NatGateway {
                id: id.clone(),
                vpc: vpc.to_string(),
                vswitch: vsw.to_string(),
                eips: vec![],
                snat_table_id: format!("stb-{id}"),
                forward_table_id: format!("ftb-{id}"),
                snat_entries: vec![],
                forward_entries: vec![],
                legacy_bandwidth_plan: legacy,
            },
        );
        let mut changes = vec![format!("{id}: NAT gateway created in {vpc}/{vsw} (SNAT table stb-{id}, forward table ftb-{id})")];
        // The first Internet NAT gateway of a VPC adds 0.0.0.0/0 → it to the system
        // route table, unless a 0.0.0.0/0 route is already there.
        let rt = v.system_route_table.clone();
        let default: Ipv4Net = "0.0.0.0/0".parse().expect("literal");
        let table = self
            .route_tables
            .get_mut(&rt)
            .expect("VPC route table exists");
        if first && !table.entries.iter().any(|e| e.destination == default) {
            table.entries.push(RouteEntry {
                id: format!("rte-{id}"),
                destination: default,
                next_hop: NextHop::NatGateway(id.clone()),
                system: true,
            });
            changes.push(format!("{rt}: route 0.0.0.0/0 → NatGateway {id} added"));
        }
        Ok(changes)
    }

    fn create_snat_entry(
        &mut self,
        table: &str,
        source: SnatSource,
        ips: Vec<Ipv4Addr>,
        affinity: bool,
        wanted: Option<&str>,
    ) -> ApiResult<Changes> {
        let gid = self.nat_by_table_mut(table, true)?.id.clone();
        let g = self.nat_gateways.get(&gid).expect("found").clone();
        if g.snat_entries.len() >= self.quotas.snat_entries_per_nat_gateway {
            return err(
                "QuotaExceeded.SnatEntry",
                format!(
                    "NAT gateway {gid} already has {} SNAT entries, the maximum is {}",
                    g.snat_entries.len(),
                    self.quotas.snat_entries_per_nat_gateway
                ),
            );
        }
        if ips.is_empty() {
            return err("MissingParameter.SnatIp", "SnatIp names no EIP; give one or more EIP addresses of the gateway, comma-separated");
        }
        if ips.len() > self.quotas.eips_per_snat_entry {
            return err(
                "QuotaExceeded.SnatIp",
                format!(
                    "SnatIp names {} EIPs, the maximum per SNAT entry is {}",
                    ips.len(),
                    self.quotas.eips_per_snat_entry
                ),
            );
        }
        for ip in &ips {
            if !g
                .eips
                .iter()
                .any(|e| self.eips.get(e).is_some_and(|x| x.address == *ip))
            {
                return err(
                    "InvalidIp.NotInNatgw",
                    format!("SnatIp {ip} is not an EIP bound to NAT gateway {gid}; associate it with the gateway first (AssociateEipAddress InstanceType=Nat)"),
                );
            }
        }
        let vpc_cidr = self.vpcs.get(&g.vpc).expect("gateway VPC").cidr;
        match &source {
            SnatSource::VSwitch(v) => {
                let s = self.vswitches.get(v).ok_or_else(|| {
                    ApiError::not_found("InvalidVSwitchId.NotFound", "VSwitch", v)
                })?;
                if s.vpc != g.vpc {
                    return err(
                        "InvalidVSwitchId.VpcMismatch",
                        format!("VSwitch {v} is not in the gateway's VPC {}", g.vpc),
                    );
                }
                if g.snat_entries.iter().any(|e| e.source == source) {
                    return err(
                        "Forbidden.SourceVSwitchAlreadyUsed",
                        format!("VSwitch {v} is already the source of a SNAT entry of {gid}; a VSwitch is in at most one entry"),
                    );
                }
            }
            SnatSource::Cidr(c) => {
                if c.prefix_len() == 32 && g.snat_entries.iter().any(|e| e.source == source) {
                    return err(
                        "Forbidden.SourceIpAlreadyUsed",
                        format!("ECS IP {} is already the source of a SNAT entry of {gid}; an ECS IP is in at most one entry", c.addr()),
                    );
                }
                if g.snat_entries.iter().any(|e| e.source == source) {
                    return err(
                        "InvalidSourceCIDR.Duplicated",
                        format!("a SNAT entry for {c} already exists on {gid}"),
                    );
                }
                let _ = vpc_cidr;
            }
            SnatSource::NetworkInterface(e) => {
                self.eni(e)?;
                if g.snat_entries.iter().any(|x| x.source == source) {
                    return err(
                        "Forbidden.SourceEniAlreadyUsed",
                        format!("ENI {e} is already the source of a SNAT entry of {gid}"),
                    );
                }
            }
        }
        let id = match wanted {
            Some(w) if g.snat_entries.iter().any(|e| e.id == w) => {
                return err(
                    "InvalidParameter.IdInUse",
                    format!("SNAT entry id {w} is already used"),
                )
            }
            Some(w) => w.to_string(),
            None => self.fresh_id("snat"),
        };
        let ip_list: Vec<String> = ips.iter().map(|i| i.to_string()).collect();
        let src = match &source {
            SnatSource::VSwitch(v) => format!("VSwitch {v}"),
            SnatSource::Cidr(c) => format!("CIDR {c}"),
            SnatSource::NetworkInterface(e) => format!("ENI {e}"),
        };
        self.nat_gateways
            .get_mut(&gid)
            .expect("found")
            .snat_entries
            .push(SnatEntry {
                id: id.clone(),
                source,
                snat_ips: ips,
                eip_affinity: affinity,
            });
        Ok(vec![format!(
            "{gid}: SNAT entry {id} created: {src} → {}",
            ip_list.join(",")
        )])
    }

    #[allow(clippy::too_many_arguments)]
    fn create_forward_entry(
        &mut self,
        table: &str,
        ext_ip: Ipv4Addr,
        ext_port: &str,
        int_ip: Ipv4Addr,
        int_port: &str,
        proto: ForwardProtocol,
        wanted: Option<&str>,
    ) -> ApiResult<Changes> {
        let gid = self.nat_by_table_mut(table, false)?.id.clone();
        let g = self.nat_gateways.get(&gid).expect("found").clone();
        let ep = PortSpec::parse(ext_port)
            .map_err(|m| ApiError::new("InvalidExternalPort.Malformed", m))?;
        let ip_ = PortSpec::parse(int_port)
            .map_err(|m| ApiError::new("InvalidInternalPort.Malformed", m))?;
        if ep.len() != ip_.len() {
            return err(
                "InvalidParameter.PortRangeMismatch",
                format!("ExternalPort {ep} and InternalPort {ip_} must be ranges of equal length"),
            );
        }
        if (ep == PortSpec::Any) != (proto == ForwardProtocol::Any) {
            return err(
                "InvalidParameter.IpMapping",
                "IP mapping is IpProtocol=Any with ExternalPort=Any and InternalPort=Any; port mapping needs TCP or UDP with ports",
            );
        }
        if !g
            .eips
            .iter()
            .any(|e| self.eips.get(e).is_some_and(|x| x.address == ext_ip))
        {
            return err(
                "InvalidIp.NotInNatgw",
                format!("ExternalIp {ext_ip} is not an EIP bound to NAT gateway {gid}; associate it with the gateway first"),
            );
        }
        let vpc_cidr = self.vpcs.get(&g.vpc).expect("gateway VPC").cidr;
        if !vpc_cidr.contains(&int_ip) {
            return err(
                "Forbidden.InternalIpOutOfVpcCIDR",
                format!("InternalIp {int_ip} is outside the VPC CIDR {vpc_cidr}; DNAT forwards only to addresses in the VPC"),
            );
        }
        // The EIP wins over DNAT: an instance with an EIP cannot get DNAT entries.
        if let Some(eni) = self.private_ip_owner(int_ip) {
            if eni.kind == EniType::Primary && eni.primary_ip == int_ip {
                if let Some(inst) = &eni.instance {
                    if let Some(e) = self.eip_of_instance(inst) {
                        return err(
                            "BIND_INSTANCE_HAVE_PORTMAP_OR_BIND_EIP",
                            format!("{inst} ({int_ip}) has EIP {} ({}); an instance with an EIP cannot get DNAT entries: unassociate the EIP first", e.id, e.address),
                        );
                    }
                }
            }
        }
        let same_proto = |a: ForwardProtocol, b: ForwardProtocol| {
            a == b || a == ForwardProtocol::Any || b == ForwardProtocol::Any
        };
        for f in &g.forward_entries {
            if f.external_ip == ext_ip
                && same_proto(f.protocol, proto)
                && f.external_port.overlaps(&ep)
            {
                return err(
                    "Forbidden.ForwardEntryExternalPortUsed",
                    format!("DNAT entry {} already maps {ext_ip} {} {}; (ExternalIp, ExternalPort, IpProtocol) must be unique", f.id, f.external_port, proto_name(f.protocol)),
                );
            }
            if f.internal_ip == int_ip
                && same_proto(f.protocol, proto)
                && f.internal_port.overlaps(&ip_)
            {
                return err(
                    "Forbidden.ForwardEntryInternalPortUsed",
                    format!("DNAT entry {} already targets {int_ip} {} {}; (IpProtocol, InternalIp, InternalPort) must be unique", f.id, f.internal_port, proto_name(f.protocol)),
                );
            }
        }
        let id = match wanted {
            Some(w) if g.forward_entries.iter().any(|e| e.id == w) => {
                return err(
                    "InvalidParameter.IdInUse",
                    format!("DNAT entry id {w} is already used"),
                )
            }
            Some(w) => w.to_string(),
            None => self.fresh_id("fwd"),
        };
        self.nat_gateways
            .get_mut(&gid)
            .expect("found")
            .forward_entries
            .push(ForwardEntry {
                id: id.clone(),
                external_ip: ext_ip,
                external_port: ep,
                internal_ip: int_ip,
                internal_port: ip_,
                protocol: proto,
            });
        Ok(vec![format!(
            "{gid}: DNAT entry {id} created: {ext_ip}:{ep} {} → {int_ip}:{ip_}",
            proto_name(proto)
        )])
    }

    // ----- routes -----

    fn create_route_entry(
        &mut self,
        table: &str,
        dest: Ipv4Net,
        hop_type: &str,
        hop_id: &str,
        wanted: Option<&str>,
    ) -> ApiResult<Changes> {
        let t = self
            .route_tables
            .get(table)
            .ok_or_else(|| {
                ApiError::not_found("InvalidRouteTableId.NotFound", "route table", table)
            })?
            .clone();
        let dest = dest.trunc();
        if t.entries.iter().any(|e| e.destination == dest) {
            return err(
                "InvalidCidrBlock.Duplicate",
                format!("route table {table} already has a route for {dest}; delete it first"),
            );
        }
        let next_hop = match hop_type {
            "Instance" => {
                let i = self.instance(hop_id)?;
                if i.vpc.as_deref() != Some(t.vpc.as_str()) {
                    return err("InvalidNextHop.VpcMismatch", format!("next hop {hop_id} is not in {}", t.vpc));
                }
                NextHop::Instance(hop_id.into())
            }
            "NetworkInterface" => {
                let e = self.eni(hop_id)?;
                if e.vpc != t.vpc {
                    return err("InvalidNextHop.VpcMismatch", format!("next hop {hop_id} is not in {}", t.vpc));
                }
                NextHop::NetworkInterface(hop_id.into())
            }
            "HaVip" => {
                if !self.havips.contains_key(hop_id) {
                    return Err(ApiError::not_found("InvalidHaVipId.NotFound", "HAVIP", hop_id));
                }
                NextHop::HaVip(hop_id.into())
            }
            "NatGateway" => {
                if !self.nat_gateways.contains_key(hop_id) {
                    return Err(ApiError::not_found("InvalidNatGatewayId.NotFound", "NAT gateway", hop_id));
                }
                NextHop::NatGateway(hop_id.into())
            }
            "Ipv4Gateway" | "VpnGateway" | "RouterInterface" | "Attachment" | "IPv6Gateway" | "VpcPeer" | "Ecr" | "GatewayEndpoint" => {
                NextHop::Unmodelled { kind: hop_type.into(), id: hop_id.into() }
            }
            other => {
                return err(
                    "InvalidNextHopType",
                    format!("NextHopType `{other}` is unknown; use Instance, NetworkInterface, HaVip, NatGateway, Ipv4Gateway, VpnGateway, RouterInterface, Attachment, VpcPeer, Ecr or GatewayEndpoint"),
                )
            }
        };
        let id = match wanted {
            Some(w) => w.to_string(),
            None => self.fresh_id("rte"),
        };
        let desc = next_hop.describe();
        self.route_tables
            .get_mut(table)
            .expect("checked")
            .entries
            .push(RouteEntry {
                id,
                destination: dest,
                next_hop,
                system: false,
            });
        Ok(vec![format!("{table}: route {dest} → {desc} added")])
    }

    // ----- security groups -----

    fn rule_from(&self, p: &RulePermission, dir: Direction) -> ApiResult<SgRule> {
        let g = self
            .security_groups
            .get(&p.security_group_id)
            .ok_or_else(|| {
                ApiError::not_found(
                    "InvalidSecurityGroupId.NotFound",
                    "security group",
                    &p.security_group_id,
                )
            })?;
        let (cidr, group, names) = match dir {
            Direction::Ingress => (
                p.source_cidr_ip,
                &p.source_group_id,
                ("SourceCidrIp", "SourceGroupId"),
            ),
            Direction::Egress => (
                p.dest_cidr_ip,
                &p.dest_group_id,
                ("DestCidrIp", "DestGroupId"),
            ),
        };
        // Five-tuple rules: the other side's CIDR (DestCidrIp on ingress, SourceCidrIp on
        // egress) restricts the ENI-side address; a group there is not a thing.
        let (local, wrong_side) = match dir {
            Direction::Ingress => (p.dest_cidr_ip, p.dest_group_id.is_some()),
            Direction::Egress => (p.source_cidr_ip, p.source_group_id.is_some()),
        };
        if wrong_side {
            return err(
                "InvalidParameter",
                format!(
                    "{:?} rules take the peer in {} or {}",
                    dir, names.0, names.1
                ),
            );
        }
        let peer = match (cidr, group) {
            (Some(c), None) => SgPeer::Cidr(c.trunc()),
            (None, Some(gid)) => {
                if g.kind == SecurityGroupType::Enterprise {
                    return err(
                        "InvalidParamter.Conflict",
                        format!("{} is an enterprise security group; enterprise groups cannot reference other groups: use {} instead", g.id, names.0),
                    );
                }
                if !self.security_groups.contains_key(gid) {
                    return Err(ApiError::not_found(
                        "InvalidSecurityGroupId.NotFound",
                        "security group",
                        gid,
                    ));
                }
                SgPeer::Group(gid.clone())
            }
            (None, None) => {
                return err(
                    "MissingParameter",
                    format!("give {} or {}", names.0, names.1),
                )
            }
            (Some(_), Some(_)) => {
                return err(
                    "InvalidParameter",
                    format!("{} and {} are exclusive", names.0, names.1),
                )
            }
        };
        let ports = parse_sg_ports(&p.port_range, p.ip_protocol)?;
        let source_ports = match p.source_port_range.as_deref().map(str::trim) {
            None | Some("") | Some("-1/-1") => None,
            Some(s) => parse_sg_ports(s, p.ip_protocol)?,
        };
        let priority = p.priority.unwrap_or(1);
        if !(1..=100).contains(&priority) {
            return err(
                "InvalidPriority.Malformed",
                format!("priority {priority} is out of range; use 1 (highest) to 100"),
            );
        }
        Ok(SgRule {
            direction: dir,
            protocol: p.ip_protocol,
            ports,
            peer,
            local: local.map(|l| l.trunc()),
            source_ports,
            policy: p.policy.unwrap_or(SgPolicy::Accept),
            priority,
            description: p.description.clone().unwrap_or_default(),
        })
    }

    fn authorize(&mut self, p: &RulePermission, dir: Direction) -> ApiResult<Changes> {
        let rule = self.rule_from(p, dir)?;
        let g = self
            .security_groups
            .get_mut(&p.security_group_id)
            .expect("checked");
        if g.rules.contains(&rule) {
            return Ok(vec![format!(
                "{}: rule already present: {}",
                g.id,
                rule.describe()
            )]);
        }
        let d = rule.describe();
        g.rules.push(rule);
        Ok(vec![format!("{}: {:?} rule added: {d}", g.id, dir)])
    }

    fn revoke(&mut self, p: &RulePermission, dir: Direction) -> ApiResult<Changes> {
        let rule = self.rule_from(p, dir)?;
        let g = self
            .security_groups
            .get_mut(&p.security_group_id)
            .expect("checked");
        let same = |r: &SgRule| {
            r.direction == rule.direction
                && r.protocol == rule.protocol
                && r.ports == rule.ports
                && r.peer == rule.peer
                && r.local == rule.local
                && r.source_ports == rule.source_ports
                && r.policy == rule.policy
                && (p.priority.is_none() || r.priority == rule.priority)
        };
        let before = g.rules.len();
        g.rules.retain(|r| !same(r));
        if g.rules.len() == before {
            return err(
                "InvalidSecurityGroupRule.NotFound",
                format!("{} has no {:?} rule {}; Revoke takes the same protocol, ports, peer and policy the rule was authorized with", g.id, dir, rule.describe()),
            );
        }
        Ok(vec![format!(
            "{}: {:?} rule revoked: {}",
            g.id,
            dir,
            rule.describe()
        )])
    }

    /// JoinSecurityGroup/LeaveSecurityGroup act on an instance (its primary ENI) or an ENI.
    fn sg_member_eni(&self, inst: &Option<String>, eni: &Option<String>) -> ApiResult<String> {
        match (inst, eni) {
            (Some(i), None) => {
                let inst = self.instance(i)?;
                inst.primary_eni().map(str::to_string).ok_or_else(|| {
                    ApiError::new(
                        "InvalidEcsId.NoPrimaryEni",
                        format!("{i} has no primary ENI"),
                    )
                })
            }
            (None, Some(e)) => Ok(self.eni(e)?.id.clone()),
            _ => err(
                "InvalidParameter",
                "give exactly one of InstanceId and NetworkInterfaceId",
            ),
        }
    }

    fn join_security_group(&mut self, eni_id: &str, sg: &str) -> ApiResult<Changes> {
        let eni = self.eni(eni_id)?.clone();
        let g = self.security_groups.get(sg).ok_or_else(|| {
            ApiError::not_found("InvalidSecurityGroupId.NotFound", "security group", sg)
        })?;
        let who = eni
            .instance
            .clone()
            .filter(|_| eni.kind == EniType::Primary)
            .unwrap_or_else(|| eni_id.to_string());
        if g.vpc != eni.vpc {
            return err(
                "InvalidSecurityGroup.NetworkTypeMismatch",
                format!("{sg} is in {} but {who} is in {}; instance and group must be of the same network (VPC)", g.vpc, eni.vpc),
            );
        }
        if eni.security_groups.iter().any(|s| s == sg) {
            return err(
                "InvalidInstanceId.AlreadyExists",
                format!("{who} is already in {sg}; nothing to join"),
            );
        }
        if let Some(other) = eni
            .security_groups
            .iter()
            .filter_map(|s| self.security_groups.get(s))
            .find(|o| o.kind != g.kind)
        {
            return err(
                "InvalidSecurityGroup.TypeMismatch",
                format!("{sg} is a {:?} group but {who} is in {:?} group {}; all groups of one instance must be of the same type", g.kind, other.kind, other.id),
            );
        }
        let quota = self.quotas.security_groups_per_eni;
        if eni.security_groups.len() >= quota {
            return err(
                "InstanceSecurityGroupLimitExceeded",
                format!("{who} is already in {} security groups, the quota is {quota}; leave one first (or raise [quotas] security_groups_per_eni)", eni.security_groups.len()),
            );
        }
        self.enis
            .get_mut(eni_id)
            .expect("checked")
            .security_groups
            .push(sg.to_string());
        Ok(vec![format!("{who}: joined {sg}; its rules apply at once")])
    }

    fn leave_security_group(&mut self, eni_id: &str, sg: &str) -> ApiResult<Changes> {
        let eni = self.eni(eni_id)?.clone();
        let who = eni
            .instance
            .clone()
            .filter(|_| eni.kind == EniType::Primary)
            .unwrap_or_else(|| eni_id.to_string());
        if !eni.security_groups.iter().any(|s| s == sg) {
            return err(
                "InvalidSecurityGroupId.NotFound",
                format!("{who} is not in {sg}; it can only leave groups it belongs to"),
            );
        }
        if eni.security_groups.len() == 1 {
            return err(
                "InvalidOperation.LastSecurityGroup",
                format!("{sg} is the last security group of {who}; an instance belongs to at least one group: join another first"),
            );
        }
        self.enis
            .get_mut(eni_id)
            .expect("checked")
            .security_groups
            .retain(|s| s != sg);
        Ok(vec![format!(
            "{who}: left {sg}; now isolated from that group's members"
        )])
    }
}

fn proto_name(p: ForwardProtocol) -> &'static str {
    match p {
        ForwardProtocol::Tcp => "TCP",
        ForwardProtocol::Udp => "UDP",
        ForwardProtocol::Any => "Any",
    }
}

pub(crate) fn parse_ip_list(s: &str) -> ApiResult<Vec<Ipv4Addr>> {
    s.split(',')
        .filter(|x| !x.trim().is_empty())
        .map(|x| {
            x.trim().parse().map_err(|_| {
                ApiError::new(
                    "InvalidSnatIp.Malformed",
                    format!("`{}` in SnatIp is not an IPv4 address", x.trim()),
                )
            })
        })
        .collect()
}

/// `PortRange` of a rule: `a/b` for TCP/UDP, `-1/-1` for the others.
pub(crate) fn parse_sg_ports(s: &str, proto: SgProtocol) -> ApiResult<Option<(u16, u16)>> {
    let bad = || {
        ApiError::new(
            "InvalidPortRange.Malformed",
            format!("PortRange `{s}` is not valid for {proto:?}: TCP/UDP take `a/b` with 1 ≤ a ≤ b ≤ 65535, other protocols `-1/-1`"),
        )
    };
    let (a, b) = s.split_once('/').ok_or_else(bad)?;
    if !proto.has_ports() {
        return if a.trim() == "-1" && b.trim() == "-1" {
            Ok(None)
        } else {
            Err(bad())
        };
    }
    let a: u16 = a.trim().parse().map_err(|_| bad())?;
    let b: u16 = b.trim().parse().map_err(|_| bad())?;
    if a == 0 || a > b {
        return Err(bad());
    }
    Ok(Some((a, b)))
}
