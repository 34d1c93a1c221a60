//! The route table stage (egress): the sending ENI's VSwitch route table by longest
//! prefix. A route inside the VPC (the VSwitch's system route, or a custom route to an
//! ENI) turns the packet round into the ingress side of the chain toward that ENI; a
//! route to a NAT gateway goes on to the `natgw` stage.

use super::chain::{note, pass, Ctx, Stage, Verdict};
use super::{Dataplane, DropReason};
use crate::compile::NextHopT;

pub(super) const ROUTE: Stage = Stage {
    egress_name: "route",
    egress: route,
    ingress_name: "route",
    ingress: pass,
};

fn route(_: &mut Dataplane, cx: &mut Ctx<'_>) -> Verdict {
    let Some(eni) = cx.sender else {
        return Verdict::Drop(DropReason::EniNotAttached);
    };
    let tables = cx.tables;
    let dst = cx.info.dst;
    let table = &tables.route_tables[eni.route_table as usize];
    let Some((_, route)) = table.routes.lookup(u32::from(dst)) else {
        // The hint names what is missing: a NAT gateway of the VPC already exists, so
        // the table only lacks the route to it.
        let ngw = tables.nat_gateways.iter().find(|g| g.vpc == eni.vpc);
        match ngw {
            Some(g) => note!(
                cx,
                table.id.clone(),
                "no route for {dst} (no 0.0.0.0/0 in {}: add one to NAT gateway {})",
                table.id,
                g.id
            ),
            None => note!(
                cx,
                table.id.clone(),
                "no route for {dst} (no 0.0.0.0/0: create a NAT gateway or a route)"
            ),
        }
        return Verdict::Drop(DropReason::NoRoute);
    };
    note!(cx, table.id.clone(), "{}", route.text);
    match &route.next_hop {
        NextHopT::Local => {
            let Some(&dest) = tables.private.get(&(eni.vpc, u32::from(dst))) else {
                note!(cx, table.id.clone(), "no ENI holds {dst}");
                return Verdict::Drop(DropReason::NoSuchPrivateIp);
            };
            cx.dest = Some(dest);
            Verdict::Turn
        }
        NextHopT::Eni(dest) => {
            cx.dest = Some(*dest);
            Verdict::Turn
        }
        NextHopT::Unmodelled(what) => {
            note!(
                cx,
                table.id.clone(),
                "next hop {what} is not modelled by vpcsim"
            );
            Verdict::Drop(DropReason::NextHopUnmodelled)
        }
        NextHopT::NatGateway(g) => {
            cx.nat_gateway = Some(*g);
            Verdict::Continue
        }
    }
}
