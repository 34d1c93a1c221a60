//! ECS instance operations: StartInstance, StopInstance, ModifyInstanceChargeType, and the
//! vpcsim extension SetGuestPolicyRoutes (what multi-nic-util does inside the guest).

use super::*;

impl Cloud {
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
}
