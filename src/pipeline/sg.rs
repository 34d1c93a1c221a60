//! The security group stage: the sending ENI's egress rules, the receiving ENI's
//! ingress rules (with the rewrite the NAT stages decided: a DNAT'd packet is judged
//! by the address and port it arrives with). Replies never get here: the connection
//! pre-authorises them, which is what makes security groups stateful.

use super::chain::{note, Ctx, Stage, Verdict};
use super::{proto_name, Dataplane, DropReason};
use crate::compile::SgDecision;
use crate::model::Direction;

pub(super) const SG: Stage = Stage {
    egress_name: "sg_egress",
    egress,
    ingress_name: "sg_ingress",
    ingress,
};

fn egress(_: &mut Dataplane, cx: &mut Ctx<'_>) -> Verdict {
    let Some(eni) = cx.sender else {
        return Verdict::Drop(DropReason::EniNotAttached);
    };
    let info = cx.info;
    let (sport, dport) = info.ports();
    let (ok, d) = eni.sg.evaluate_tuple(
        Direction::Egress,
        info.proto,
        u32::from(info.dst),
        Some(u32::from(info.src)),
        Some(sport),
        dport,
    );
    note!(
        cx,
        eni.id.clone(),
        "{}: {}",
        if ok { "allowed" } else { "denied" },
        eni.sg.explain(d, Direction::Egress)
    );
    if ok {
        Verdict::Continue
    } else {
        Verdict::Drop(DropReason::SgEgressDenied)
    }
}

fn ingress(_: &mut Dataplane, cx: &mut Ctx<'_>) -> Verdict {
    let Some(dest) = cx.dest else {
        return Verdict::Drop(DropReason::NoSuchPrivateIp);
    };
    let e = cx.tables.eni(dest);
    let (info, rw) = (cx.info, cx.rw);
    let (sport, dport) = info.ports();
    let dport = rw.dport.unwrap_or(dport);
    let (ok, d) = e.sg.evaluate_tuple(
        Direction::Ingress,
        info.proto,
        u32::from(info.src),
        Some(u32::from(rw.dst.unwrap_or(info.dst))),
        Some(rw.sport.unwrap_or(sport)),
        dport,
    );
    note!(
        cx,
        e.id.clone(),
        "{}: {}",
        if ok { "allowed" } else { "denied" },
        e.sg.explain(d, Direction::Ingress)
    );
    if ok {
        return Verdict::Continue;
    }
    if matches!(d, SgDecision::DefaultDeny) {
        note!(
            cx,
            e.id.clone(),
            "fix: AuthorizeSecurityGroup on {} for {} port {dport} from {}",
            e.sg.groups.join("/"),
            proto_name(info.proto),
            info.src
        );
    }
    Verdict::Drop(DropReason::SgIngressDenied)
}
