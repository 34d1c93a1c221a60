//! ENI operations: CreateNetworkInterface, AttachNetworkInterface,
//! DetachNetworkInterface, DeleteNetworkInterface, AssignPrivateIpAddresses.

use std::net::Ipv4Addr;

use super::*;

impl Cloud {
    pub(super) fn create_network_interface(
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
            return own(
                "InvalidSecurityGroupId.VpcMismatch",
                format!("security group {sg} is in {} but VSwitch {vswitch_id} is in {}; pick a group of the ENI's VPC", group.vpc, vsw.vpc),
            );
        }
        let ip = match ip {
            Some(ip) => {
                if !vsw.cidr.contains(&ip) {
                    return err(
                        "InvalidVSwitchId.IpInvalid",
                        format!("primary private IP {ip} is outside VSwitch {vswitch_id} ({}); choose an address inside it", vsw.cidr),
                    );
                }
                if vsw.is_reserved(ip) {
                    return err(
                        "InvalidVSwitchId.IpInvalid",
                        format!("primary private IP {ip} is reserved in VSwitch {vswitch_id} ({}): the first and the last three addresses are; choose another", vsw.cidr),
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
                mac_explicit: false,
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

    pub(super) fn attach_network_interface(
        &mut self,
        eni_id: &str,
        inst_id: &str,
    ) -> ApiResult<Changes> {
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
            return own(
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
        // Private IPs assigned while detached count against the type's per-ENI limit
        // once attached, as AssignPrivateIpAddresses would have.
        let ips = {
            let e = self.eni(eni_id)?;
            1 + e.secondary_ips.len() as u32
        };
        if let Some(limit) = self
            .instance_type(&inst.instance_type)
            .map(|t| t.max_private_ips_per_eni)
            .filter(|l| ips > *l)
        {
            return err(
                "InvalidOperation.Ipv4CountExceeded",
                format!("{eni_id} has {ips} private IPs; {inst_id} ({}) allows {limit} per ENI: unassign some first or choose a larger instance type", inst.instance_type),
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

    pub(super) fn detach_network_interface(
        &mut self,
        eni_id: &str,
        inst_id: &str,
    ) -> ApiResult<Changes> {
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

    pub(super) fn delete_network_interface(&mut self, eni_id: &str) -> ApiResult<Changes> {
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
            return own(
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

    pub(super) fn assign_private_ips(
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
        if let Some(e) = self.eips_of_eni(eni_id).find(|e| {
            e.binding
                .as_ref()
                .is_some_and(|b| b.mode == EniMode::CutThrough)
        }) {
            // The mirror of Eni.HasSubIp: a cut-through ENI has the EIP as its only address.
            return own(
                "InvalidOperation.EniCutThrough",
                format!("{eni_id} carries cut-through EIP {} ({}), which replaces its only private IP; unassociate the EIP first, or use NAT or MULTI_BINDED mode", e.id, e.address),
            );
        }
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
                    "InvalidVSwitchId.IpInvalid",
                    format!(
                        "{ip} is outside VSwitch {} ({}); choose an address inside it",
                        vsw.id, vsw.cidr
                    ),
                );
            }
            if vsw.is_reserved(*ip) {
                return err(
                    "InvalidVSwitchId.IpInvalid",
                    format!(
                        "{ip} is reserved in VSwitch {} ({}): the first and the last three addresses are; choose another",
                        vsw.id, vsw.cidr
                    ),
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
}
