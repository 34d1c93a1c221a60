//! ECS instance operations: RunInstances (one instance, its primary ENI), StartInstance, StopInstance, ModifyInstanceChargeType,
//! ModifyInstanceNetworkSpec and AllocatePublicIpAddress (the static public IP), and the
//! vpcsim extension SetGuestPolicyRoutes (what multi-nic-util does inside the guest).

use std::net::Ipv4Addr;

use super::*;

/// The parameters of RunInstances vpcsim uses.
pub(super) struct RunInstance<'a> {
    pub vswitch_id: &'a str,
    pub security_group_id: &'a str,
    pub instance_type: &'a str,
    pub private_ip: Option<Ipv4Addr>,
    pub bandwidth_out: u32,
    pub charge: ChargeType,
    pub wanted: Option<&'a str>,
    pub public_ip: Option<Ipv4Addr>,
    pub policy_routes: bool,
}

impl Cloud {
    /// The instance starts Running with its primary ENI (eth0) in the VSwitch, created
    /// with CreateNetworkInterface's checks; bandwidth above 0 gives it a static public IP.
    pub(super) fn run_instances(&mut self, r: &RunInstance<'_>) -> ApiResult<Changes> {
        if self.instance_type(r.instance_type).is_none() {
            return own(
                "InvalidInstanceType.NotFound",
                format!("instance type {} is not known to this scenario; add it with [[instance_types]]", r.instance_type),
            );
        }
        let id = self.new_id(r.wanted, "i")?;
        let eni = format!("{id}-eth0");
        self.create_network_interface(
            r.vswitch_id,
            r.security_group_id,
            r.private_ip,
            None,
            Some(&format!("primary ENI of {id}")),
            Some(&eni),
        )?;
        let e = self.enis.get_mut(&eni).expect("just created");
        e.kind = EniType::Primary;
        e.status = EniStatus::InUse;
        e.instance = Some(id.clone());
        let (vpc, zone, ip) = (e.vpc.clone(), e.zone.clone(), e.primary_ip);
        self.instances.insert(
            id.clone(),
            Instance {
                id: id.clone(),
                name: id.clone(),
                vpc: Some(vpc),
                zone,
                status: InstanceStatus::Running,
                instance_type: r.instance_type.to_string(),
                io_optimized: true,
                charge_type: r.charge,
                public_ip: None,
                enis: vec![eni.clone()],
                guest: GuestOs {
                    policy_routes: r.policy_routes,
                },
            },
        );
        let mut changes = vec![format!(
            "{id}: instance launched (Running) in {} with primary ENI {eni} ({ip})",
            r.vswitch_id
        )];
        if r.bandwidth_out > 0 {
            changes.extend(self.allocate_public_ip(&id, r.public_ip)?);
        }
        Ok(changes)
    }

    pub(super) fn modify_instance_charge_type(
        &mut self,
        instance_id: &str,
        instance_charge_type: ChargeType,
    ) -> ApiResult<Changes> {
        let i = self.instance_mut(instance_id)?;
        let old = i.charge_type;
        i.charge_type = instance_charge_type;
        Ok(vec![format!(
            "{instance_id}: InstanceChargeType {old:?} → {instance_charge_type:?}"
        )])
    }

    pub(super) fn start_instance(&mut self, instance_id: &str) -> ApiResult<Changes> {
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

    pub(super) fn stop_instance(&mut self, instance_id: &str) -> ApiResult<Changes> {
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

    pub(super) fn set_guest_policy_routes(
        &mut self,
        instance_id: &str,
        enabled: bool,
    ) -> ApiResult<Changes> {
        let i = self.instance_mut(instance_id)?;
        i.guest.policy_routes = enabled;
        Ok(vec![format!(
            "{instance_id}: guest policy routes per secondary ENI {}",
            if enabled { "installed" } else { "removed" }
        )])
    }

    /// Public bandwidth 0 releases a VPC instance's static public IP (the alicloud
    /// provider documents it for `internet_max_bandwidth_out = 0`); vpcsim models no
    /// bandwidth, so other values change nothing it simulates.
    pub(super) fn modify_instance_network_spec(
        &mut self,
        instance_id: &str,
        bandwidth_out: Option<u32>,
    ) -> ApiResult<Changes> {
        let i = self.instance_mut(instance_id)?;
        match (bandwidth_out, i.public_ip, i.vpc.is_some()) {
            (Some(0), Some(ip), true) => {
                i.public_ip = None;
                Ok(vec![format!(
                    "{instance_id}: InternetMaxBandwidthOut → 0; static public IP {ip} released"
                )])
            }
            (Some(b), _, _) => Ok(vec![format!(
                "{instance_id}: InternetMaxBandwidthOut → {b} Mbit/s (bandwidth is not simulated)"
            )]),
            (None, _, _) => Ok(vec![]),
        }
    }

    pub(super) fn allocate_public_ip(
        &mut self,
        instance_id: &str,
        wanted: Option<Ipv4Addr>,
    ) -> ApiResult<Changes> {
        let i = self.instance(instance_id)?;
        if let Some(p) = i.public_ip {
            return own(
                "InvalidOperation.PublicIpExists",
                format!("{instance_id} already has the static public IP {p}"),
            );
        }
        if let Some(e) = self.eip_of_instance(instance_id) {
            return own(
                "InvalidOperation.EipBound",
                format!(
                    "{instance_id} has EIP {} ({}); an instance with an EIP gets no static public IP: unassociate the EIP first",
                    e.id, e.address
                ),
            );
        }
        let ip = match wanted {
            Some(ip) if self.public_ip_in_use(ip) => {
                return own(
                    "InvalidIpAddress.AlreadyAllocated",
                    format!("public address {ip} is already allocated in this scenario"),
                )
            }
            Some(ip) => ip,
            None => self.fresh_public_ip(),
        };
        self.instance_mut(instance_id)?.public_ip = Some(ip);
        Ok(vec![format!(
            "{instance_id}: static public IP {ip} assigned"
        )])
    }
}
