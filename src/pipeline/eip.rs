//! The EIP stage: 1:1 NAT between a private IP and its EIP (NAT mode) or static public
//! IP, which bypasses the route table on egress; cut-through and multi-EIP-to-ENI
//! addresses, which the guest holds itself and which cross unchanged; and the public
//! addresses bound to something vpcsim does not forward to, or to nothing.

use super::chain::{Ctx, Stage, Verdict};
use super::{Dataplane, DropReason};
use crate::compile::{PublicOwner, Via, INTERNET_PORT};
use crate::wire::Rewrite;

pub(super) const EIP: Stage = Stage {
    egress_name: "eip",
    egress,
    ingress_name: "eip",
    ingress,
};

fn egress(_: &mut Dataplane, cx: &mut Ctx<'_>) -> Verdict {
    let Some(eni) = cx.sender else {
        return Verdict::Drop(DropReason::EniNotAttached);
    };
    let tables = cx.tables;
    let src = cx.info.src;
    let in_vpc = tables.in_vpc(eni.vpc, cx.info.dst);
    // A public source on this ENI (cut-through or multi-EIP): the guest already uses
    // the EIP, nothing to translate.
    if eni.visible_public.contains(&src) {
        if in_vpc {
            if cx.tracing() {
                cx.hop_as(
                    "eni",
                    eni.id.clone(),
                    format!(
                        "cut-through / multi-EIP source {src} cannot reach the private network"
                    ),
                );
            }
            return Verdict::Drop(DropReason::CutThroughNoPrivateNetwork);
        }
        let via = if eni.cut_through {
            "cut-through"
        } else {
            "multi-EIP-to-ENI"
        };
        let note = cx
            .tracing()
            .then(|| {
                (
                    eni.id.clone(),
                    format!("{via} EIP {src} is the source already: to the Internet unchanged"),
                )
            })
            .map(Box::new);
        return Verdict::Deliver {
            out: INTERNET_PORT,
            note,
        };
    }
    if eni.cut_through {
        return Verdict::Drop(DropReason::CutThroughNoPrivateNetwork);
    }
    // Rule 1: a private IP with an EIP (NAT mode) or a static public IP goes 1:1 to
    // the Internet, without consulting the route table.
    if in_vpc {
        return Verdict::Continue;
    }
    let Some(o) = tables.one_to_one.get(&(eni.vpc, u32::from(src))) else {
        return Verdict::Continue;
    };
    cx.rw = Rewrite {
        src: Some(o.public),
        ..Default::default()
    };
    let note = cx
        .tracing()
        .then(|| {
            let what = match o.via {
                Via::StaticPublicIp => format!("static public IP of {}", o.resource),
                _ => format!("EIP {}", o.resource),
            };
            (
                o.resource.clone(),
                format!(
                    "1:1 NAT to the {what} {}; this path does not follow the route table",
                    o.public
                ),
            )
        })
        .map(Box::new);
    Verdict::Deliver {
        out: INTERNET_PORT,
        note,
    }
}

fn ingress(_: &mut Dataplane, cx: &mut Ctx<'_>) -> Verdict {
    let Some(owner) = cx.owner else {
        // Not from the Internet (east-west), or the NAT gateway stage took it.
        return Verdict::Continue;
    };
    let tables = cx.tables;
    let dst = cx.info.dst;
    match owner {
        PublicOwner::Nat1to1 {
            eni,
            private_ip,
            via,
            resource,
        } => {
            if cx.tracing() {
                let what = if *via == Via::StaticPublicIp {
                    format!("static public IP of {resource}")
                } else {
                    format!("EIP {resource}")
                };
                cx.hop(
                    resource.clone(),
                    format!(
                        "{what}: 1:1 NAT {dst} → {private_ip} ({}); the guest does not see the EIP",
                        tables.eni(*eni).id
                    ),
                );
            }
            cx.rw = Rewrite {
                dst: Some(*private_ip),
                ..Default::default()
            };
            cx.dest = Some(*eni);
            Verdict::Continue
        }
        PublicOwner::Visible { eni, via, resource } => {
            if cx.tracing() {
                let mode = if *via == Via::CutThrough {
                    "cut-through"
                } else {
                    "multi-EIP-to-ENI"
                };
                cx.hop(
                    resource.clone(),
                    format!(
                        "{mode} EIP {dst}: delivered unchanged to {} (the guest holds the address)",
                        tables.eni(*eni).id
                    ),
                );
            }
            cx.dest = Some(*eni);
            Verdict::Continue
        }
        PublicOwner::NatGateway { .. } => Verdict::Continue,
        PublicOwner::Unmodelled { what } => {
            if cx.tracing() {
                cx.hop(
                    what.clone(),
                    format!("{dst} is bound to {what}, which vpcsim does not forward to"),
                );
            }
            Verdict::Drop(DropReason::TargetUnmodelled)
        }
        PublicOwner::Unbound { eip } => {
            if cx.tracing() {
                cx.hop(
                    eip.clone(),
                    format!("EIP {dst} is bound to nothing (AssociateEipAddress it)"),
                );
            }
            Verdict::Drop(DropReason::EipUnbound)
        }
    }
}
