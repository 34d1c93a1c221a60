//! EIP operations: AllocateEipAddress, AssociateEipAddress (every target and ENI mode),
//! UnassociateEipAddress, ReleaseEipAddress, ConvertNatPublicIpToEip.

use std::net::Ipv4Addr;

use super::*;

impl Cloud {
    pub(super) fn convert_nat_public_ip_to_eip(
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
            return own(
                "InvalidInstance.NoPublicIp",
                format!("{inst_id} has no static public IP to convert"),
            );
        };
        if inst.charge_type == ChargeType::PrePaid {
            // [decision] code: the seed says only that subscription instances cannot convert.
            return own(
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

    pub(super) fn primary_private_ip(&self, inst_id: &str) -> ApiResult<Ipv4Addr> {
        let inst = self.instance(inst_id)?;
        let eni = inst
            .primary_eni()
            .and_then(|e| self.enis.get(e))
            .ok_or_else(|| {
                ApiError::own(
                    "InvalidEcsId.NoPrimaryEni",
                    format!("{inst_id} has no primary ENI"),
                )
            })?;
        Ok(eni.primary_ip)
    }

    pub(super) fn allocate_eip(
        &mut self,
        charge: EipCharge,
        rg: Option<&str>,
        ip: Option<Ipv4Addr>,
        wanted: Option<&str>,
    ) -> ApiResult<Changes> {
        let address = match ip {
            Some(ip) if self.public_ip_in_use(ip) => {
                return own(
                    "InvalidIpAddress.AlreadyAllocated",
                    format!("public address {ip} is already allocated in this scenario"),
                )
            }
            Some(ip) if self.vpcs.values().any(|v| v.cidr.contains(&ip)) => {
                return own(
                    "InvalidIpAddress.InVpc",
                    format!(
                        "{ip} lies inside a VPC CIDR of this scenario; an EIP is a public address"
                    ),
                )
            }
            Some(ip) => ip,
            None => self.fresh_public_ip(),
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

    /// [decision] generated public addresses come from 47.98.0.0/16, in order.
    pub(super) fn fresh_public_ip(&self) -> Ipv4Addr {
        let mut n = 1u32;
        loop {
            let ip = Ipv4Addr::from(u32::from(Ipv4Addr::new(47, 98, 0, 0)) + n);
            if !self.public_ip_in_use(ip) {
                return ip;
            }
            n += 1;
        }
    }

    /// An EIP is released only when it is bound to nothing.
    pub(super) fn release_eip(&mut self, eip_id: &str) -> ApiResult<Changes> {
        let eip = self.eip(eip_id)?;
        if let Some(b) = &eip.binding {
            return err(
                "IncorrectEipStatus",
                format!(
                    "EIP {eip_id} ({}) is bound to {}; an EIP is released only when Available: unassociate it first",
                    eip.address, b.resource
                ),
            );
        }
        let addr = eip.address;
        self.eips.remove(eip_id);
        Ok(vec![format!("{eip_id} ({addr}): released")])
    }

    pub(super) fn associate_eip(
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
                "IncorrectEipStatus",
                format!("EIP {eip_id} ({}) is InUse, bound to {}; an EIP is bound to one resource at a time and must be Available: unassociate it first", eip.address, b.resource),
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
        // Cut-through: the ENI whose private IP the EIP replaces, and that IP.
        let mut replaced: Option<(String, Ipv4Addr)> = None;
        match target {
            EipTarget::EcsInstance => {
                let inst = self.instance(target_id)?.clone();
                if inst.vpc.is_none() {
                    return err(
                        "OperationDenied",
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
                        "EIP_CAN_NOT_ASSOCIATE_WITH_PUBLIC_IP",
                        format!("{target_id} has a static public IP {p}; an instance with a public IP cannot take an EIP: convert it with ConvertNatPublicIpToEip instead"),
                    );
                }
                if let Some(e) = self.eip_of_instance(target_id) {
                    return err(
                        "InvalidAssociation.Duplicated",
                        format!(
                            "{target_id} already has EIP {} ({}); an instance takes one EIP: unassociate it first",
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
                    return own(
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
                            return err("Mode.Conflict", format!("{target_id} already has EIPs in another mode; one ENI uses one mode: unassociate them first or use their mode"));
                        }
                        let ip = private_ip.unwrap_or(eni.primary_ip);
                        if !eni.private_ips().any(|p| p == ip) {
                            return own(
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
                        if !eni.secondary_ips.is_empty() {
                            let list: Vec<String> =
                                eni.secondary_ips.iter().map(|i| i.to_string()).collect();
                            return err(
                                "Eni.HasSubIp",
                                format!("{target_id} has secondary private IPs ({}); cut-through (BINDED) mode replaces the ENI's only private IP: unassign them first, or use NAT or MULTI_BINDED mode", list.join(", ")),
                            );
                        }
                        if let Some(e) = bound_here.iter().find(|e| {
                            e.binding
                                .as_ref()
                                .is_some_and(|b| b.mode != EniMode::CutThrough)
                        }) {
                            return err(
                                "Mode.Conflict",
                                format!("{target_id} already has EIP {} in another mode; one ENI uses one mode: unassociate it first", e.id),
                            );
                        }
                        if let Some(e) = bound_here.first() {
                            return err(
                                "InvalidAssociation.Duplicated",
                                format!("{target_id} already has EIP {}; cut-through mode takes one EIP per ENI", e.id),
                            );
                        }
                        what = format!("secondary ENI {target_id} (cut-through: the EIP replaces its private IP)");
                        replaced = Some((target_id.to_string(), eni.primary_ip));
                    }
                    EniMode::MultiEip => {
                        if bound_here.iter().any(|e| {
                            e.binding
                                .as_ref()
                                .is_some_and(|b| b.mode != EniMode::MultiEip)
                        }) {
                            return err("Mode.Conflict", format!("{target_id} already has EIPs in another mode; one ENI uses one mode: unassociate them first or use their mode"));
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
                        "Forbidden.EipCanNotBindGatgw",
                        format!("NAT gateway {target_id} was bought with a NAT bandwidth plan before 2018-01-26 and cannot take EIPs; upgrade it first"),
                    );
                }
                if g.eips.len() >= self.quotas.eips_per_nat_gateway {
                    return err(
                        "QuotaExceeded.NumberOfEip",
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
                            "QuotaExceeded.NumberOfTrafficEip",
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
                    return own(
                        "InvalidParameter.SlbAddressType",
                        format!("SLB {target_id} is Internet-facing; EIPs bind only to internal (intranet) SLB instances"),
                    );
                }
                if s.resource_group != eip.resource_group {
                    return own(
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
        let mut changes = vec![format!(
            "{eip_id} ({}): status Available → InUse; bound to {what}",
            eip.address
        )];
        if let Some((eni, ip)) = replaced {
            changes.push(format!(
                "{eni}: address {ip} → {} (cut-through: the EIP replaces the private IP; the guest sees {})",
                eip.address, eip.address
            ));
        }
        Ok(changes)
    }

    /// Every target lives in the scenario's region; an EIP may have been allocated in
    /// another (a scenario says so with `region` on the EIP). Zones do not matter.
    pub(super) fn same_region(&self, eip: &Eip, target: &str) -> ApiResult<()> {
        if eip.region != self.region {
            return err(
                "InvalidParameter.Mismatch",
                format!("EIP {} is in region {} but {target} is in {}; an EIP binds only to resources of its own region: allocate one in {}", eip.id, eip.region, self.region, self.region),
            );
        }
        Ok(())
    }

    pub(super) fn forward_entry_for_ip(&self, ip: Ipv4Addr) -> Option<(String, String)> {
        self.nat_gateways.values().find_map(|g| {
            g.forward_entries
                .iter()
                .find(|f| f.internal_ip == ip)
                .map(|f| (g.id.clone(), f.id.clone()))
        })
    }

    pub(super) fn unassociate_eip(
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
            return own(
                "InvalidAssociation.NotFound",
                format!(
                    "EIP {eip_id} is bound to {:?} {}, not to {target_id}",
                    b.target, b.resource
                ),
            );
        }
        // Cut-through: the line saying the ENI has its private IP again.
        let mut restored: Option<String> = None;
        match b.target {
            EipTarget::Nat => {
                let g = self.nat_gateways.get(target_id).expect("binding valid");
                if let Some(s) = g
                    .snat_entries
                    .iter()
                    .find(|s| s.snat_ips.contains(&eip.address))
                {
                    return own(
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
                    return own(
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
                    return own(
                        "Eni.Attached",
                        format!("{target_id} is attached; a cut-through EIP is unbound from a detached ENI: detach it first"),
                    );
                }
                restored = Some(format!(
                    "{target_id}: EIP {} removed from the ENI; its private IP {} is in use again",
                    eip.address, eni.primary_ip
                ));
            }
            _ => {}
        }
        let e = self.eips.get_mut(eip_id).expect("checked");
        e.status = EipStatus::Available;
        e.binding = None;
        let mut changes = vec![format!(
            "{eip_id} ({}): status InUse → Available; unbound from {target_id}",
            eip.address
        )];
        changes.extend(restored);
        Ok(changes)
    }
}
