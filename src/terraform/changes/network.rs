//! VPCs, VSwitches, route tables and their entries, NAT gateways with SNAT and DNAT
//! entries → calls.

use super::super::num;
use super::*;

fn not_deleted(what: &str) -> Planned {
    not_sim(
        &format!("Delete{what}"),
        "vpcsim has no operation deleting it; it stays in the answers",
    )
}

/// alicloud_vpc (docs/r/vpc): `cidr_block`.
pub(super) fn vpc(cx: &mut Ctx<'_>, rc: &ResourceChange, phase: Phase) -> R {
    let c = "CreateVpc";
    match phase {
        Phase::Delete => Ok(vec![not_deleted("Vpc")]),
        Phase::Update if changes_any(rc, &["cidr_block"]) => Ok(vec![not_sim(
            "ModifyVpcAttribute",
            "vpcsim has no operation changing a VPC's CIDR block",
        )]),
        Phase::Update => Ok(vec![]),
        Phase::Create => {
            let cidr = cx.need(rc, true, "cidr_block").map_err(|e| (c, e))?;
            Ok(vec![Planned::Call(Operation::CreateVpc {
                cidr_block: cidr
                    .parse()
                    .map_err(|_| (c, format!("`cidr_block` `{cidr}` is not an IPv4 CIDR")))?,
                vpc_id: Some(cx.sim_id(rc)),
            })])
        }
    }
}

/// alicloud_vswitch (docs/r/vswitch): `vpc_id`, `zone_id` (older `availability_zone`),
/// `cidr_block`.
pub(super) fn vswitch(cx: &mut Ctx<'_>, rc: &ResourceChange, phase: Phase) -> R {
    let c = "CreateVSwitch";
    match phase {
        Phase::Delete => Ok(vec![not_deleted("VSwitch")]),
        Phase::Update => Ok(vec![]),
        Phase::Create => {
            let e = |x| (c, x);
            let cidr = cx.need(rc, true, "cidr_block").map_err(e)?;
            let zone = match cx.get(rc, true, "zone_id", 0).map_err(e)? {
                Some(z) => z,
                None => cx.need(rc, true, "availability_zone").map_err(e)?,
            };
            Ok(vec![Planned::Call(Operation::CreateVSwitch {
                vpc_id: cx.need(rc, true, "vpc_id").map_err(e)?,
                zone_id: zone,
                cidr_block: cidr
                    .parse()
                    .map_err(|_| (c, format!("`cidr_block` `{cidr}` is not an IPv4 CIDR")))?,
                vswitch_id: Some(cx.sim_id(rc)),
            })])
        }
    }
}

/// alicloud_route_table (docs/r/route_table): `vpc_id`.
pub(super) fn route_table(cx: &mut Ctx<'_>, rc: &ResourceChange, phase: Phase) -> R {
    let c = "CreateRouteTable";
    match phase {
        Phase::Delete => Ok(vec![not_deleted("RouteTable")]),
        Phase::Update => Ok(vec![]),
        Phase::Create => Ok(vec![Planned::Call(Operation::CreateRouteTable {
            vpc_id: cx.need(rc, true, "vpc_id").map_err(|e| (c, e))?,
            route_table_id: Some(cx.sim_id(rc)),
        })]),
    }
}

/// alicloud_route_table_attachment (docs/r/route_table_attachment): `route_table_id`,
/// `vswitch_id`.
pub(super) fn route_table_attachment(cx: &mut Ctx<'_>, rc: &ResourceChange, phase: Phase) -> R {
    let after = phase != Phase::Delete;
    let c = if after {
        "AssociateRouteTable"
    } else {
        "UnassociateRouteTable"
    };
    if phase == Phase::Update {
        return Ok(vec![]);
    }
    let table = cx.need(rc, after, "route_table_id").map_err(|e| (c, e))?;
    let vsw = cx.need(rc, after, "vswitch_id").map_err(|e| (c, e))?;
    Ok(vec![Planned::Call(if after {
        Operation::AssociateRouteTable {
            route_table_id: table,
            vswitch_id: vsw,
        }
    } else {
        Operation::UnassociateRouteTable {
            route_table_id: table,
            vswitch_id: vsw,
        }
    })])
}

/// alicloud_nat_gateway (docs/r/nat_gateway): `vpc_id`, `vswitch_id`, `network_type`.
pub(super) fn nat_gateway(cx: &mut Ctx<'_>, rc: &ResourceChange, phase: Phase) -> R {
    let c = "CreateNatGateway";
    match phase {
        Phase::Delete => Ok(vec![not_sim(
            "DeleteNatGateway",
            "vpcsim has no operation deleting a NAT gateway; it stays in the answers",
        )]),
        Phase::Update => Ok(vec![]),
        Phase::Create => {
            if strv(obj(&rc.change.after), "network_type").as_deref() == Some("intranet") {
                return Ok(vec![not_sim(
                    c,
                    "a VPC (intranet) NAT gateway is not modelled",
                )]);
            }
            Ok(vec![Planned::Call(Operation::CreateNatGateway {
                vpc_id: cx.need(rc, true, "vpc_id").map_err(|e| (c, e))?,
                vswitch_id: cx.need(rc, true, "vswitch_id").map_err(|e| (c, e))?,
                nat_gateway_id: Some(cx.sim_id(rc)),
                legacy_bandwidth_plan: false,
            })])
        }
    }
}

/// The entry id of a SNAT/DNAT entry: `snat_entry_id` / `forward_entry_id`, or the
/// second half of the resource id (`<table id>:<entry id>`).
fn entry_id(cx: &Ctx<'_>, rc: &ResourceChange, key: &str) -> String {
    let b = obj(&rc.change.before);
    strv(b, key)
        .or_else(|| strv(b, "id").and_then(|i| i.split(':').nth(1).map(str::to_string)))
        .unwrap_or_else(|| cx.own_id(rc, Phase::Delete))
}

/// alicloud_snat_entry (docs/r/snat_entry): `snat_table_id`, `source_vswitch_id`,
/// `source_cidr`, `snat_ip`, `eip_affinity`.
pub(super) fn snat_entry(cx: &mut Ctx<'_>, rc: &ResourceChange, phase: Phase) -> R {
    match phase {
        Phase::Delete => {
            let c = "DeleteSnatEntry";
            Ok(vec![Planned::Call(Operation::DeleteSnatEntry {
                snat_table_id: cx.need(rc, false, "snat_table_id").map_err(|e| (c, e))?,
                snat_entry_id: entry_id(cx, rc, "snat_entry_id"),
            })])
        }
        Phase::Update => {
            let (b, a) = (obj(&rc.change.before), obj(&rc.change.after));
            if b.get("snat_ip") != a.get("snat_ip")
                || b.get("eip_affinity") != a.get("eip_affinity")
            {
                return Ok(vec![not_sim(
                    "ModifySnatEntry",
                    "vpcsim has no operation changing a SNAT entry's addresses in place",
                )]);
            }
            Ok(vec![])
        }
        Phase::Create => {
            let c = "CreateSnatEntry";
            let e = |x| (c, x);
            let cidr = cx.get(rc, true, "source_cidr", 0).map_err(e)?;
            Ok(vec![Planned::Call(Operation::CreateSnatEntry {
                snat_table_id: cx.need(rc, true, "snat_table_id").map_err(e)?,
                source_vswitch_id: cx.get(rc, true, "source_vswitch_id", 0).map_err(e)?,
                source_cidr: cidr
                    .map(|s| {
                        s.parse()
                            .map_err(|_| (c, format!("`source_cidr` `{s}` is not an IPv4 CIDR")))
                    })
                    .transpose()?,
                network_interface_id: None,
                snat_ip: cx.need(rc, true, "snat_ip").map_err(e)?,
                eip_affinity: num(obj(&rc.change.after), "eip_affinity") == Some(1),
                snat_entry_id: Some(
                    strv(obj(&rc.change.after), "snat_entry_id").unwrap_or_else(|| cx.sim_id(rc)),
                ),
            })])
        }
    }
}

/// alicloud_forward_entry (docs/r/forward_entry): `forward_table_id`, `external_ip`,
/// `external_port`, `internal_ip`, `internal_port`, `ip_protocol`.
pub(super) fn forward_entry(cx: &mut Ctx<'_>, rc: &ResourceChange, phase: Phase) -> R {
    match phase {
        Phase::Delete => {
            let c = "DeleteForwardEntry";
            Ok(vec![Planned::Call(Operation::DeleteForwardEntry {
                forward_table_id: cx.need(rc, false, "forward_table_id").map_err(|e| (c, e))?,
                forward_entry_id: entry_id(cx, rc, "forward_entry_id"),
            })])
        }
        Phase::Update
            if changes_any(
                rc,
                &[
                    "external_ip",
                    "external_port",
                    "internal_ip",
                    "internal_port",
                    "ip_protocol",
                ],
            ) =>
        {
            Ok(vec![not_sim(
                "ModifyForwardEntry",
                "vpcsim has no operation changing a DNAT entry in place",
            )])
        }
        Phase::Update => Ok(vec![]),
        Phase::Create => {
            let c = "CreateForwardEntry";
            let e = |x| (c, x);
            let ext = cx
                .ip(rc, true, "external_ip")
                .map_err(e)?
                .ok_or((c, format!("{} has no `external_ip`", rc.address)))?;
            let int = cx
                .ip(rc, true, "internal_ip")
                .map_err(e)?
                .ok_or((c, format!("{} has no `internal_ip`", rc.address)))?;
            let proto = cx.need(rc, true, "ip_protocol").map_err(e)?;
            Ok(vec![Planned::Call(Operation::CreateForwardEntry {
                forward_table_id: cx.need(rc, true, "forward_table_id").map_err(e)?,
                external_ip: ext,
                external_port: cx.need(rc, true, "external_port").map_err(e)?,
                internal_ip: int,
                internal_port: cx.need(rc, true, "internal_port").map_err(e)?,
                ip_protocol: serde_json::from_value(Value::String(proto.clone()))
                    .map_err(|_| (c, format!("`ip_protocol` `{proto}` is not tcp, udp or any")))?,
                forward_entry_id: Some(cx.sim_id(rc)),
            })])
        }
    }
}

/// alicloud_route_entry (docs/r/route_entry): `route_table_id`, `destination_cidrblock`,
/// `nexthop_type`, `nexthop_id`.
pub(super) fn route_entry(cx: &mut Ctx<'_>, rc: &ResourceChange, phase: Phase) -> R {
    let after = phase != Phase::Delete;
    let c = if after {
        "CreateRouteEntry"
    } else {
        "DeleteRouteEntry"
    };
    if phase == Phase::Update {
        return Ok(vec![]);
    }
    let e = |x| (c, x);
    let table = cx.need(rc, after, "route_table_id").map_err(e)?;
    let dest = cx.need(rc, after, "destination_cidrblock").map_err(e)?;
    let dest = dest.parse().map_err(|_| {
        (
            c,
            format!("`destination_cidrblock` `{dest}` is not an IPv4 CIDR"),
        )
    })?;
    if !after {
        return Ok(vec![Planned::Call(Operation::DeleteRouteEntry {
            route_table_id: table,
            destination_cidr_block: dest,
        })]);
    }
    Ok(vec![Planned::Call(Operation::CreateRouteEntry {
        route_table_id: table,
        destination_cidr_block: dest,
        next_hop_type: cx.need(rc, true, "nexthop_type").map_err(e)?,
        next_hop_id: cx.need(rc, true, "nexthop_id").map_err(e)?,
        route_entry_id: None,
    })])
}
