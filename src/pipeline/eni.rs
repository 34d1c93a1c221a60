//! The ENI stages: what the sending ENI lets out (attached, Running instance,
//! anti-spoofing) and what the receiving ENI takes in (attached, Running instance),
//! then delivery to it.

use super::chain::{note, Ctx, Stage, Verdict};
use super::{chain::pass, Dataplane, DropReason};

/// The sending ENI on egress; on ingress, the last stage: delivery.
pub(super) const ENI: Stage = Stage {
    egress_name: "eni",
    egress: sender,
    ingress_name: "eni",
    ingress: deliver,
};

/// The receiving ENI's own checks, before its security group judges the packet.
pub(super) const RECEIVER: Stage = Stage {
    egress_name: "eni",
    egress: pass,
    ingress_name: "eni",
    ingress: receiver,
};

fn sender(_: &mut Dataplane, cx: &mut Ctx<'_>) -> Verdict {
    let tables = cx.tables;
    let info = cx.info;
    let Some(eni) = cx.from.and_then(|ei| tables.enis.get(usize::from(ei))) else {
        return Verdict::Drop(DropReason::EniNotAttached);
    };
    if !eni.attached {
        note!(
            cx,
            eni.id.clone(),
            "the ENI is attached to no instance (AttachNetworkInterface it)"
        );
        return Verdict::Drop(DropReason::EniNotAttached);
    }
    if !eni.live {
        note!(cx, eni.id.clone(), "the ENI's instance is not Running");
        return Verdict::Drop(DropReason::InstanceNotRunning);
    }
    if !eni.owns_source(info.src) {
        if cx.tracing() {
            let owner = tables
                .private
                .get(&(eni.vpc, u32::from(info.src)))
                .map(|o| tables.eni(*o))
                .or_else(|| {
                    tables
                        .enis
                        .iter()
                        .find(|e| e.visible_public.contains(&info.src))
                });
            let fix = match owner {
                Some(o) if o.instance == eni.instance && o.instance.is_some() => format!(
                    "{} belongs to {} ({}) of the same instance, but the guest sent the packet by {} ({}): the guest has no source-based policy route for it; install one (multi-nic-util, or `ip rule add from {} lookup {}` with a default route via {} in that table), or `SetGuestPolicyRoutes`",
                    info.src, o.device_name(), o.id, eni.device_name(), eni.id, info.src, 1000 + o.device, o.gateway
                ),
                Some(o) => format!("{} belongs to {}, not to {}", info.src, o.id, eni.id),
                None => format!("{} is not an address of {}", info.src, eni.id),
            };
            note!(
                cx,
                eni.id.clone(),
                "anti-spoofing [decision]: source {} is not an address of this ENI: {fix}",
                info.src
            );
        }
        return Verdict::Drop(DropReason::EniSourceCheck);
    }
    cx.sender = Some(eni);
    Verdict::Continue
}

fn receiver(_: &mut Dataplane, cx: &mut Ctx<'_>) -> Verdict {
    let Some(dest) = cx.dest else {
        return Verdict::Drop(DropReason::NoSuchPrivateIp);
    };
    let e = cx.tables.eni(dest);
    if !e.attached {
        note!(
            cx,
            e.id.clone(),
            "the receiving ENI is attached to no instance (AttachNetworkInterface it)"
        );
        return Verdict::Drop(DropReason::EniNotAttached);
    }
    if !e.live {
        note!(
            cx,
            e.id.clone(),
            "the receiving ENI's instance is not Running"
        );
        return Verdict::Drop(DropReason::InstanceNotRunning);
    }
    Verdict::Continue
}

fn deliver(_: &mut Dataplane, cx: &mut Ctx<'_>) -> Verdict {
    let Some(dest) = cx.dest else {
        return Verdict::Drop(DropReason::NoSuchPrivateIp);
    };
    let tables = cx.tables;
    let note = cx
        .tracing()
        .then(|| {
            let e = tables.eni(dest);
            (
                e.id.clone(),
                format!(
                    "delivered to {} ({} of {})",
                    e.id,
                    e.device_name(),
                    e.instance
                        .map_or("no instance", |i| tables.instances[i as usize].id.as_str())
                ),
            )
        })
        .map(Box::new);
    Verdict::Deliver {
        out: dest + 1,
        note,
    }
}
