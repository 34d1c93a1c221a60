//! Instances, security groups and rules, ENIs and attachments, EIPs and associations →
//! calls.

use std::net::Ipv4Addr;

use super::super::{num, str_list};
use super::*;
use crate::model::ops::RulePermission;
use crate::model::{Direction, EipTarget, EniMode};

/// A new instance (docs/r/instance): `vswitch_id`, `security_groups`, `instance_type`,
/// `private_ip`, `internet_max_bandwidth_out` (> 0: a static public IP),
/// `instance_charge_type`, `status`.
fn run_instance(cx: &mut Ctx<'_>, rc: &ResourceChange) -> R {
    let c = "RunInstances";
    let e = |x| (c, x);
    let a = obj(&rc.change.after).clone();
    let id = cx.sim_id(rc);
    let sgs = cx.ids(rc, "security_groups").map_err(e)?;
    let Some(first) = sgs.first().cloned() else {
        return Err((c, format!("{} has no `security_groups`", rc.address)));
    };
    let private_ip = if Ctx::unknown(rc, "private_ip") && cx.reference(rc, "private_ip").is_none() {
        None
    } else {
        cx.ip(rc, true, "private_ip").map_err(e)?
    };
    let bw = num(&a, "internet_max_bandwidth_out").unwrap_or(0);
    let public_ip = (bw > 0).then(
        || match strv(&a, "public_ip").and_then(|s| s.parse().ok()) {
            Some(ip) => ip,
            None => cx.public_placeholder(&config_address(&rc.address), "public_ip"),
        },
    );
    let mut out = vec![Planned::Call(Operation::RunInstances {
        vswitch_id: cx.need(rc, true, "vswitch_id").map_err(e)?,
        security_group_id: first,
        instance_type: cx.need(rc, true, "instance_type").map_err(e)?,
        private_ip_address: private_ip,
        internet_max_bandwidth_out: u32::try_from(bw).unwrap_or(0),
        instance_charge_type: strv(&a, "instance_charge_type")
            .and_then(|c| serde_json::from_value(Value::String(c)).ok()),
        instance_id: Some(id.clone()),
        public_ip_address: public_ip,
        // [decision] public images run multi-nic-util, as for instances of the prior state.
        guest_policy_routes: true,
    })];
    for g in sgs.iter().skip(1) {
        out.push(Planned::Call(Operation::JoinSecurityGroup {
            security_group_id: g.clone(),
            instance_id: Some(id.clone()),
            network_interface_id: None,
        }));
    }
    if strv(&a, "status").as_deref() == Some("Stopped") {
        out.push(Planned::Call(Operation::StopInstance { instance_id: id }));
    }
    Ok(out)
}

/// alicloud_instance (docs/r/instance): `internet_max_bandwidth_out` (0 releases a VPC
/// instance's public IP; raised from 0 the provider calls AllocatePublicIpAddress),
/// `security_groups`, `status`, `instance_charge_type`.
pub(super) fn instance(cx: &mut Ctx<'_>, rc: &ResourceChange, phase: Phase) -> R {
    let id = cx.own_id(rc, phase);
    match phase {
        Phase::Create => return run_instance(cx, rc),
        Phase::Delete => {
            return Ok(vec![not_sim(
                "DeleteInstance",
                "vpcsim has no operation releasing an instance; it stays in the answers",
            )])
        }
        Phase::Update => {}
    }
    let (b, a) = (obj(&rc.change.before), obj(&rc.change.after));
    let mut out = vec![];
    let changed = |k: &str| b.get(k) != a.get(k) || Ctx::unknown(rc, k);
    if changed("instance_charge_type") {
        if let Some(c) = strv(a, "instance_charge_type") {
            let charge = serde_json::from_value(Value::String(c.clone())).map_err(|_| {
                (
                    "ModifyInstanceChargeType",
                    format!(
                        "{}: instance_charge_type `{c}` is not PrePaid or PostPaid",
                        rc.address
                    ),
                )
            })?;
            out.push(Planned::Call(Operation::ModifyInstanceChargeType {
                instance_id: id.clone(),
                instance_charge_type: charge,
            }));
        }
    }
    if changed("internet_max_bandwidth_out") {
        let old = num(b, "internet_max_bandwidth_out").unwrap_or(0);
        let new = num(a, "internet_max_bandwidth_out").unwrap_or(0);
        out.push(Planned::Call(Operation::ModifyInstanceNetworkSpec {
            instance_id: id.clone(),
            internet_max_bandwidth_out: u32::try_from(new).ok(),
        }));
        if old == 0 && new > 0 {
            let ip = match strv(a, "public_ip").and_then(|s| s.parse().ok()) {
                Some(ip) => ip,
                None => cx.public_placeholder(&config_address(&rc.address), "public_ip"),
            };
            out.push(Planned::Call(Operation::AllocatePublicIpAddress {
                instance_id: id.clone(),
                ip_address: Some(ip),
            }));
        }
    }
    if changed("security_groups") {
        let old: Vec<String> = str_list(b, "security_groups")
            .into_iter()
            .map(|g| cx.tr(g))
            .collect();
        let new = cx
            .ids(rc, "security_groups")
            .map_err(|e| ("JoinSecurityGroup", e))?;
        // The provider (resource_alicloud_instance.go, update) leaves the removed groups
        // first, then joins the added ones: swapping an instance's only group is a
        // LeaveSecurityGroup of its last group, which the cloud refuses.
        // Its LeaveSecurityGroups (service_alicloud_ecs.go) returns only a NotFound
        // error and ignores every other refusal.
        for g in old.iter().filter(|g| !new.contains(g)) {
            out.push(Planned::CallIgnoringRefusal(
                Operation::LeaveSecurityGroup {
                    security_group_id: g.clone(),
                    instance_id: Some(id.clone()),
                    network_interface_id: None,
                },
                "the alicloud provider's LeaveSecurityGroups (service_alicloud_ecs.go) ignores every refusal but InvalidSecurityGroupId.NotFound",
            ));
        }
        for g in new.iter().filter(|g| !old.contains(g)) {
            out.push(Planned::Call(Operation::JoinSecurityGroup {
                security_group_id: g.clone(),
                instance_id: Some(id.clone()),
                network_interface_id: None,
            }));
        }
    }
    if changed("status") {
        match strv(a, "status").as_deref() {
            Some("Stopped") => out.push(Planned::Call(Operation::StopInstance {
                instance_id: id.clone(),
            })),
            Some("Running") => out.push(Planned::Call(Operation::StartInstance {
                instance_id: id.clone(),
            })),
            _ => {}
        }
    }
    for k in [
        "vswitch_id",
        "private_ip",
        "secondary_private_ips",
        "secondary_private_ip_address_count",
    ] {
        if b.get(k) != a.get(k) && !(Ctx::unknown(rc, k) && k != "vswitch_id") {
            out.push(not_sim(
                "ModifyInstanceVpcAttribute",
                &format!("`{k}` changes; vpcsim does not simulate moving an instance's private addresses"),
            ));
        }
    }
    Ok(out)
}

/// alicloud_security_group (docs/r/security_group): `vpc_id`, `security_group_type`,
/// `security_group_name` (older `name`), `inner_access_policy`.
pub(super) fn security_group(cx: &mut Ctx<'_>, rc: &ResourceChange, phase: Phase) -> R {
    let c = "CreateSecurityGroup";
    match phase {
        Phase::Create => {
            let a = obj(&rc.change.after);
            let kind = strv(a, "security_group_type")
                .map(|t| {
                    serde_json::from_value(Value::String(t.clone())).map_err(|_| {
                        (
                            c,
                            format!("security_group_type `{t}` is not normal or enterprise"),
                        )
                    })
                })
                .transpose()?;
            let mut out = vec![Planned::Call(Operation::CreateSecurityGroup {
                vpc_id: cx.need(rc, true, "vpc_id").map_err(|e| (c, e))?,
                security_group_type: kind,
                security_group_name: strv(a, "security_group_name").or_else(|| strv(a, "name")),
                security_group_id: Some(cx.sim_id(rc)),
            })];
            if strv(a, "inner_access_policy").as_deref() == Some("Drop") {
                out.push(not_sim("ModifySecurityGroupPolicy", "inner_access_policy = Drop is not applied: the new basic group lets its members reach each other in the answers"));
            }
            Ok(out)
        }
        Phase::Delete => Ok(vec![not_sim(
            "DeleteSecurityGroup",
            "vpcsim has no operation deleting a security group",
        )]),
        Phase::Update => {
            let (b, a) = (obj(&rc.change.before), obj(&rc.change.after));
            if b.get("inner_access_policy") != a.get("inner_access_policy") {
                return Ok(vec![not_sim(
                    "ModifySecurityGroupPolicy",
                    "vpcsim does not simulate changing inner_access_policy",
                )]);
            }
            Ok(vec![])
        }
    }
}

/// A rule's fields (docs/r/security_group_rule): `security_group_id`, `type`
/// (ingress | egress), `ip_protocol`, `port_range`, `cidr_ip`,
/// `source_security_group_id`, `policy`, `priority`, `description`. None for rules
/// vpcsim does not model (IPv6, prefix lists, icmpv6).
pub struct RuleFields {
    pub sg: String,
    pub direction: Direction,
    pub protocol: String,
    pub ports: String,
    pub cidr: Option<String>,
    pub group: Option<String>,
    pub policy: String,
    pub priority: i64,
    pub description: String,
}

pub fn rule_fields(v: &Map<String, Value>) -> Result<Option<RuleFields>, String> {
    if strv(v, "ipv6_cidr_ip").is_some() || strv(v, "prefix_list_id").is_some() {
        return Ok(None);
    }
    let protocol = strv(v, "ip_protocol").ok_or("has no `ip_protocol`")?;
    if protocol == "icmpv6" {
        return Ok(None);
    }
    let direction = match strv(v, "type").as_deref() {
        Some("ingress") => Direction::Ingress,
        Some("egress") => Direction::Egress,
        other => return Err(format!("`type` is {other:?}, not ingress or egress")),
    };
    Ok(Some(RuleFields {
        sg: strv(v, "security_group_id").ok_or("has no `security_group_id`")?,
        direction,
        protocol,
        ports: strv(v, "port_range").unwrap_or_else(|| "-1/-1".into()),
        cidr: strv(v, "cidr_ip"),
        group: strv(v, "source_security_group_id"),
        policy: strv(v, "policy").unwrap_or_else(|| "accept".into()),
        priority: num(v, "priority").unwrap_or(1),
        description: strv(v, "description").unwrap_or_default(),
    }))
}

/// A rule as a `[[security_groups]] rules` entry: (group, rule).
pub fn rule_spec(v: &Map<String, Value>) -> Result<Option<(String, toml::Value)>, String> {
    let Some(f) = rule_fields(v)? else {
        return Ok(None);
    };
    let mut m = toml::Table::new();
    let dir = if f.direction == Direction::Ingress {
        "ingress"
    } else {
        "egress"
    };
    m.insert("direction".into(), dir.into());
    m.insert("protocol".into(), f.protocol.to_lowercase().into());
    m.insert("ports".into(), f.ports.into());
    if let Some(c) = f.cidr {
        m.insert("cidr".into(), c.into());
    }
    if let Some(g) = f.group {
        m.insert("group".into(), g.into());
    }
    m.insert("policy".into(), f.policy.to_lowercase().into());
    m.insert("priority".into(), f.priority.into());
    m.insert("description".into(), f.description.into());
    Ok(Some((f.sg, toml::Value::Table(m))))
}

fn rule_permission(
    cx: &mut Ctx<'_>,
    rc: &ResourceChange,
    after: bool,
) -> Result<Option<(Direction, RulePermission)>, String> {
    let mut v = obj(if after {
        &rc.change.after
    } else {
        &rc.change.before
    })
    .clone();
    // Unknown references (a group created in the same plan) resolve to its sim id.
    for k in ["security_group_id", "source_security_group_id"] {
        if after && Ctx::unknown(rc, k) {
            if let Some(x) = cx.get(rc, true, k, 0)? {
                v.insert(k.into(), Value::String(x));
            }
        }
    }
    let Some(f) = rule_fields(&v)? else {
        return Ok(None);
    };
    let ingress = f.direction == Direction::Ingress;
    let cidr = f
        .cidr
        .map(|c| {
            c.parse()
                .map_err(|_| format!("`cidr_ip` `{c}` is not an IPv4 CIDR"))
        })
        .transpose()?;
    let p = RulePermission {
        security_group_id: cx.tr(f.sg),
        ip_protocol: serde_json::from_value(Value::String(f.protocol.to_lowercase())).map_err(
            |_| {
                format!(
                    "`ip_protocol` `{}` is not tcp, udp, icmp, gre or all",
                    f.protocol
                )
            },
        )?,
        port_range: f.ports,
        source_cidr_ip: if ingress { cidr } else { None },
        source_group_id: if ingress {
            f.group.clone().map(|g| cx.tr(g))
        } else {
            None
        },
        dest_cidr_ip: if ingress { None } else { cidr },
        source_port_range: None,
        dest_group_id: if ingress {
            None
        } else {
            f.group.map(|g| cx.tr(g))
        },
        policy: serde_json::from_value(Value::String(f.policy.to_lowercase())).ok(),
        priority: u8::try_from(f.priority).ok(),
        description: Some(f.description),
    };
    Ok(Some((f.direction, p)))
}

pub(super) fn security_group_rule(cx: &mut Ctx<'_>, rc: &ResourceChange, phase: Phase) -> R {
    let after = phase != Phase::Delete;
    if phase == Phase::Update {
        // Only `description` is updatable (ModifySecurityGroupRule): no forwarding change.
        return Ok(vec![]);
    }
    let call = if after {
        "AuthorizeSecurityGroup"
    } else {
        "RevokeSecurityGroup"
    };
    match rule_permission(cx, rc, after).map_err(|e| (call, format!("{}: {e}", rc.address)))? {
        None => {
            cx.warnings.add("security group rule not modelled", &rc.address, "IPv6 rules, prefix lists and icmpv6 are not modelled; the rule's change is left out");
            Ok(vec![])
        }
        Some((dir, p)) => Ok(vec![Planned::Call(match (after, dir) {
            (true, Direction::Ingress) => Operation::AuthorizeSecurityGroup(p),
            (true, Direction::Egress) => Operation::AuthorizeSecurityGroupEgress(p),
            (false, Direction::Ingress) => Operation::RevokeSecurityGroup(p),
            (false, Direction::Egress) => Operation::RevokeSecurityGroupEgress(p),
        })]),
    }
}

/// alicloud_ecs_network_interface (docs/r/ecs_network_interface): `vswitch_id`,
/// `security_group_ids` (older `security_groups`), `primary_ip_address` (older
/// `private_ip`), `private_ip_addresses` / `secondary_private_ip_address_count`,
/// `network_interface_name`, `description`.
pub(super) fn eni(cx: &mut Ctx<'_>, rc: &ResourceChange, phase: Phase) -> R {
    let id = cx.own_id(rc, phase);
    let c = "CreateNetworkInterface";
    let groups = |m: &Map<String, Value>| {
        let g = str_list(m, "security_group_ids");
        if g.is_empty() {
            str_list(m, "security_groups")
        } else {
            g
        }
    };
    match phase {
        Phase::Delete => Ok(vec![Planned::Call(Operation::DeleteNetworkInterface {
            network_interface_id: id,
        })]),
        Phase::Create => {
            let a = obj(&rc.change.after).clone();
            let mut sgs = cx.ids(rc, "security_group_ids").map_err(|e| (c, e))?;
            if sgs.is_empty() {
                sgs = cx.ids(rc, "security_groups").map_err(|e| (c, e))?;
            }
            let Some(first) = sgs.first().cloned() else {
                return Err((c, format!("{} has no `security_group_ids`", rc.address)));
            };
            // Unknown and referring to nothing: computed, the cloud assigns a free one.
            let mut ip = None;
            for k in ["primary_ip_address", "private_ip"] {
                if ip.is_none() && !(Ctx::unknown(rc, k) && cx.reference(rc, k).is_none()) {
                    ip = cx.ip(rc, true, k).map_err(|e| (c, e))?;
                }
            }
            let mut out = vec![Planned::Call(Operation::CreateNetworkInterface {
                vswitch_id: cx.need(rc, true, "vswitch_id").map_err(|e| (c, e))?,
                security_group_id: first,
                primary_ip_address: ip,
                network_interface_name: strv(&a, "network_interface_name")
                    .or_else(|| strv(&a, "name")),
                description: strv(&a, "description"),
                network_interface_id: Some(id.clone()),
            })];
            for g in sgs.iter().skip(1) {
                out.push(Planned::Call(Operation::JoinSecurityGroup {
                    security_group_id: g.clone(),
                    instance_id: None,
                    network_interface_id: Some(id.clone()),
                }));
            }
            let mut ips: Vec<Ipv4Addr> = str_list(&a, "private_ip_addresses")
                .iter()
                .chain(str_list(&a, "private_ips").iter())
                .filter_map(|s| s.parse().ok())
                .filter(|x| Some(*x) != ip)
                .collect();
            ips.dedup();
            let count = num(&a, "secondary_private_ip_address_count")
                .or_else(|| num(&a, "private_ips_count"))
                .filter(|n| *n > 0);
            if !ips.is_empty() || count.is_some() {
                out.push(Planned::Call(Operation::AssignPrivateIpAddresses {
                    network_interface_id: id,
                    secondary_private_ip_address_count: if ips.is_empty() {
                        count.and_then(|n| u32::try_from(n).ok())
                    } else {
                        None
                    },
                    private_ip_address: ips,
                }));
            }
            Ok(out)
        }
        Phase::Update => {
            let (b, a) = (
                obj(&rc.change.before).clone(),
                obj(&rc.change.after).clone(),
            );
            let (old, new) = (groups(&b), groups(&a));
            let mut out = vec![];
            // The provider sets the whole list with ModifyNetworkInterfaceAttribute;
            // vpcsim applies it as joins, then leaves (never empty in between).
            for g in new.iter().filter(|g| !old.contains(g)) {
                out.push(Planned::Call(Operation::JoinSecurityGroup {
                    security_group_id: cx.tr(g.clone()),
                    instance_id: None,
                    network_interface_id: Some(id.clone()),
                }));
            }
            for g in old.iter().filter(|g| !new.contains(g)) {
                out.push(Planned::Call(Operation::LeaveSecurityGroup {
                    security_group_id: cx.tr(g.clone()),
                    instance_id: None,
                    network_interface_id: Some(id.clone()),
                }));
            }
            let ips = |m: &Map<String, Value>| {
                let mut v = str_list(m, "private_ip_addresses");
                v.extend(str_list(m, "private_ips"));
                v
            };
            let (oi, ni) = (ips(&b), ips(&a));
            let added: Vec<Ipv4Addr> = ni
                .iter()
                .filter(|x| !oi.contains(x))
                .filter_map(|s| s.parse().ok())
                .collect();
            if !added.is_empty() {
                out.push(Planned::Call(Operation::AssignPrivateIpAddresses {
                    network_interface_id: id.clone(),
                    private_ip_address: added,
                    secondary_private_ip_address_count: None,
                }));
            }
            if oi.iter().any(|x| !ni.contains(x)) {
                out.push(not_sim("UnassignPrivateIpAddresses", "vpcsim has no operation removing a secondary private IP; it stays in the answers"));
            }
            Ok(out)
        }
    }
}

/// alicloud_ecs_network_interface_attachment (docs/r/ecs_network_interface_attachment):
/// `network_interface_id`, `instance_id`.
pub(super) fn eni_attachment(cx: &mut Ctx<'_>, rc: &ResourceChange, phase: Phase) -> R {
    let after = phase != Phase::Delete;
    let c = if after {
        "AttachNetworkInterface"
    } else {
        "DetachNetworkInterface"
    };
    if phase == Phase::Update {
        return Ok(vec![]);
    }
    let eni = cx
        .need(rc, after, "network_interface_id")
        .map_err(|e| (c, e))?;
    let inst = cx.need(rc, after, "instance_id").map_err(|e| (c, e))?;
    Ok(vec![Planned::Call(if after {
        Operation::AttachNetworkInterface {
            network_interface_id: eni,
            instance_id: inst,
        }
    } else {
        Operation::DetachNetworkInterface {
            network_interface_id: eni,
            instance_id: inst,
        }
    })])
}

/// alicloud_eip_address (docs/r/eip_address): `ip_address` (unknown until apply unless
/// given), `internet_charge_type`, `resource_group_id`.
pub(super) fn eip_address(cx: &mut Ctx<'_>, rc: &ResourceChange, phase: Phase) -> R {
    let id = cx.own_id(rc, phase);
    match phase {
        Phase::Delete => Ok(vec![Planned::Call(Operation::ReleaseEipAddress {
            allocation_id: id,
        })]),
        Phase::Update => Ok(vec![]),
        Phase::Create => {
            let a = obj(&rc.change.after).clone();
            let ip = match strv(&a, "ip_address").and_then(|s| s.parse().ok()) {
                Some(ip) => ip,
                None => cx.public_placeholder(&config_address(&rc.address), "ip_address"),
            };
            Ok(vec![Planned::Call(Operation::AllocateEipAddress {
                internet_charge_type: strv(&a, "internet_charge_type")
                    .and_then(|c| serde_json::from_value(Value::String(c)).ok()),
                resource_group_id: strv(&a, "resource_group_id"),
                ip_address: Some(ip),
                allocation_id: Some(id),
            })])
        }
    }
}

/// The `InstanceType` of an association: given, or from what the target id names.
fn target(cx: &Ctx<'_>, given: Option<String>, id: &str) -> Result<EipTarget, String> {
    let ty = match given {
        Some(t) => t,
        None => {
            let c = cx.cloud;
            let kind = if c.instances.contains_key(id) {
                Some("alicloud_instance")
            } else if c.enis.contains_key(id) {
                Some("alicloud_ecs_network_interface")
            } else if c.nat_gateways.contains_key(id) {
                Some("alicloud_nat_gateway")
            } else if c.havips.contains_key(id) {
                Some("alicloud_havip")
            } else {
                cx.plan
                    .changes
                    .iter()
                    .find(|r| r.address == id)
                    .map(|r| r.kind.as_str())
            };
            crate::terraform::state::target_type(kind, id).to_string()
        }
    };
    serde_json::from_value(Value::String(ty.clone()))
        .map_err(|_| format!("`instance_type` `{ty}` is not one vpcsim models (EcsInstance, SlbInstance, NetworkInterface, Nat, HaVip)"))
}

/// alicloud_eip_association (docs/r/eip_association): `allocation_id`, `instance_id`,
/// `instance_type`, `mode`, `private_ip_address`.
pub(super) fn eip_association(cx: &mut Ctx<'_>, rc: &ResourceChange, phase: Phase) -> R {
    let after = phase != Phase::Delete;
    let c = if after {
        "AssociateEipAddress"
    } else {
        "UnassociateEipAddress"
    };
    if phase == Phase::Update {
        if changes_any(rc, &["mode"]) {
            return Ok(vec![not_sim(
                "ModifyEipForwardMode",
                "vpcsim has no operation changing an association's mode in place",
            )]);
        }
        return Ok(vec![]);
    }
    let eip = cx.need(rc, after, "allocation_id").map_err(|e| (c, e))?;
    let inst = cx.need(rc, after, "instance_id").map_err(|e| (c, e))?;
    let given = cx.get(rc, after, "instance_type", 0).ok().flatten();
    let ty = target(cx, given, &inst).map_err(|e| (c, e))?;
    if !after {
        return Ok(vec![Planned::Call(Operation::UnassociateEipAddress {
            allocation_id: eip,
            instance_id: inst,
            instance_type: Some(ty),
        })]);
    }
    let mode: Option<EniMode> = match cx.get(rc, true, "mode", 0).ok().flatten() {
        Some(m) => Some(
            serde_json::from_value(Value::String(m.clone())).map_err(|_| {
                (
                    c,
                    format!("`mode` `{m}` is not NAT, BINDED or MULTI_BINDED"),
                )
            })?,
        ),
        None => None,
    };
    let ip = cx.ip(rc, true, "private_ip_address").map_err(|e| (c, e))?;
    Ok(vec![Planned::Call(Operation::AssociateEipAddress {
        allocation_id: eip,
        instance_id: inst,
        instance_type: Some(ty),
        mode: if ty == EipTarget::NetworkInterface {
            mode
        } else {
            None
        },
        private_ip_address: ip,
    })])
}
