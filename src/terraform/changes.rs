//! One resource change → the OpenAPI calls the alicloud provider makes for it.
//!
//! Attribute names as the provider documents them (github.com/aliyun/
//! terraform-provider-alicloud, `website/docs/r/<type>.html.markdown`, published at
//! registry.terraform.io/providers/aliyun/alicloud/latest/docs/resources/<type>); the
//! calls as the provider's `resource_alicloud_<type>.go` makes them (Create / Delete /
//! Update functions). A call vpcsim has no operation for is reported as not simulated,
//! never skipped silently.

use std::net::Ipv4Addr;

use serde_json::{Map, Value};

use super::plan_json::{config_address, split_reference, ResourceChange};
use super::{num, placeholder_public, str_list, strv, Plan, Unknown, Unknowns, Warnings};
use crate::model::ops::RulePermission;
use crate::model::{Cloud, Direction, EipTarget, EniMode, Operation};

/// The phase of a resource change a node of the apply graph stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Delete,
    Update,
    Create,
}

/// One call of the provider.
#[derive(Debug, Clone)]
pub enum Planned {
    Call(Operation),
    /// A call vpcsim has no operation for: its effect is not in the answers.
    NotSimulated {
        call: String,
        why: String,
    },
    /// A value the call needs is unknown and cannot be derived.
    Unresolved {
        call: String,
        why: String,
    },
}

pub struct Ctx<'a> {
    pub plan: &'a Plan,
    pub cloud: &'a Cloud,
    pub unknowns: &'a mut Unknowns,
    pub warnings: &'a mut Warnings,
}

static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();

fn obj(v: &Value) -> &Map<String, Value> {
    v.as_object().unwrap_or_else(|| EMPTY.get_or_init(Map::new))
}

fn is_create(rc: &ResourceChange) -> bool {
    rc.change.actions.iter().any(|a| a == "create")
}

impl Ctx<'_> {
    /// Whether `key` of the planned values is unknown until apply.
    fn unknown(rc: &ResourceChange, key: &str) -> bool {
        rc.change.after_unknown.get(key) == Some(&Value::Bool(true))
    }

    /// The resource (and attribute) the configuration's expression for `key` refers to.
    fn reference(&self, rc: &ResourceChange, key: &str) -> Option<(String, Option<String>)> {
        let refs = self
            .plan
            .refs
            .by_attr
            .get(&config_address(&rc.address))?
            .get(key)?;
        refs.iter()
            .filter_map(|r| split_reference(r))
            .max_by_key(|(_, a)| a.is_some())
    }

    /// The id the simulation uses for a resource: its real id when known, else its
    /// Terraform address (a resource being created has no id before apply).
    fn sim_id(&self, rc: &ResourceChange) -> String {
        if let Some(id) = strv(obj(&rc.change.after), "id") {
            return self.tr(id);
        }
        if !is_create(rc) {
            if let Some(id) = strv(obj(&rc.change.before), "id") {
                return self.tr(id);
            }
        }
        rc.address.clone()
    }

    fn tr(&self, id: String) -> String {
        self.plan.ids.get(&id).cloned().unwrap_or(id)
    }

    /// A string value of the change: `after` (planned) or `before`, resolving unknowns
    /// through the configuration's references.
    pub fn get(
        &mut self,
        rc: &ResourceChange,
        after: bool,
        key: &str,
        depth: u8,
    ) -> Result<Option<String>, String> {
        if !after {
            return Ok(strv(obj(&rc.change.before), key).map(|v| self.tr(v)));
        }
        if !Self::unknown(rc, key) {
            return Ok(strv(obj(&rc.change.after), key).map(|v| self.tr(v)));
        }
        match self.reference(rc, key) {
            Some((addr, attr)) if depth < 6 => {
                self.resolve(&addr, attr.as_deref(), depth + 1).map(Some)
            }
            _ => Err(format!(
                "`{key}` of {} is unknown until apply and refers to no resource of the plan",
                rc.address
            )),
        }
    }

    fn need(&mut self, rc: &ResourceChange, after: bool, key: &str) -> Result<String, String> {
        self.get(rc, after, key, 0)?
            .ok_or_else(|| format!("{} has no `{key}`", rc.address))
    }

    fn ip(
        &mut self,
        rc: &ResourceChange,
        after: bool,
        key: &str,
    ) -> Result<Option<Ipv4Addr>, String> {
        match self.get(rc, after, key, 0)? {
            None => Ok(None),
            Some(s) => s
                .parse()
                .map(Some)
                .map_err(|_| format!("`{key}` of {} is `{s}`, not an IPv4 address", rc.address)),
        }
    }

    /// `attr` of the resource at config address `addr`.
    fn resolve(&mut self, addr: &str, attr: Option<&str>, depth: u8) -> Result<String, String> {
        let kind = addr.split('.').next().unwrap_or_default().to_string();
        let rc = self
            .plan
            .changes
            .iter()
            .find(|r| config_address(&r.address) == addr)
            .cloned();
        let prior = self
            .plan
            .prior
            .iter()
            .find(|(a, _)| config_address(a) == addr)
            .map(|(_, (_, v, _))| v.clone());
        let attr = attr.unwrap_or("id");
        let id = || match (&rc, &prior) {
            (Some(rc), _) => self.sim_id(rc),
            (None, Some(v)) => strv(v, "id")
                .map(|i| self.tr(i))
                .unwrap_or_else(|| addr.to_string()),
            (None, None) => addr.to_string(),
        };
        match (kind.as_str(), attr) {
            ("alicloud_vpc", "route_table_id" | "router_table_id") => {
                return Ok(format!("vtb-{}", id()))
            }
            (_, "id" | "snat_table_ids" | "forward_table_ids") => return Ok(id()),
            ("alicloud_eip_address" | "alicloud_eip", "allocation_id") => return Ok(id()),
            _ => {}
        }
        // A known value of the planned (or prior) resource.
        if let Some(rc) = &rc {
            if !Self::unknown(rc, attr) {
                if let Some(v) = strv(obj(&rc.change.after), attr) {
                    return Ok(self.tr(v));
                }
            }
        } else if let Some(v) = prior.as_ref().and_then(|p| strv(p, attr)) {
            return Ok(self.tr(v));
        }
        match (kind.as_str(), attr) {
            ("alicloud_eip_address" | "alicloud_eip", "ip_address")
            | ("alicloud_instance", "public_ip") => {
                Ok(self.public_placeholder(addr, attr).to_string())
            }
            (
                "alicloud_ecs_network_interface" | "alicloud_network_interface",
                "primary_ip_address" | "private_ip",
            ) => {
                let eni = id();
                self.cloud
                    .enis
                    .get(&eni)
                    .map(|e| e.primary_ip.to_string())
                    .ok_or_else(|| {
                        format!("`{attr}` of {addr} is unknown: the ENI is not created yet")
                    })
            }
            ("alicloud_instance", "private_ip" | "primary_ip_address") => {
                let inst = id();
                self.cloud
                    .instances
                    .get(&inst)
                    .and_then(|i| i.primary_eni())
                    .and_then(|e| self.cloud.enis.get(e))
                    .map(|e| e.primary_ip.to_string())
                    .ok_or_else(|| {
                        format!("`{attr}` of {addr} is unknown: the instance is not simulated")
                    })
            }
            _ => match &rc {
                Some(rc) if Self::unknown(rc, attr) => self
                    .get(rc, true, attr, depth)?
                    .ok_or_else(|| format!("`{attr}` of {addr} is unknown until apply")),
                _ => Err(format!("`{attr}` of {addr} is unknown until apply")),
            },
        }
    }

    /// The placeholder for a public address unknown until apply (one per attribute).
    pub fn public_placeholder(&mut self, addr: &str, attr: &str) -> Ipv4Addr {
        if let Some(u) = self
            .unknowns
            .0
            .iter()
            .find(|u| config_address(&u.resource) == addr && u.attribute == attr)
        {
            if let Ok(ip) = u.value.parse() {
                return ip;
            }
        }
        let n = self
            .unknowns
            .0
            .iter()
            .filter(|u| u.value.starts_with("198.18.") || u.value.starts_with("198.19."))
            .count() as u32;
        let mut ip = placeholder_public(n + 1);
        let mut k = n + 1;
        while self.cloud.public_ip_in_use(ip) {
            k += 1;
            ip = placeholder_public(k);
        }
        self.unknowns.0.push(Unknown {
            value: ip.to_string(),
            resource: addr.to_string(),
            attribute: attr.to_string(),
            placeholder: format!("the next address of {}", super::UNKNOWN_PUBLIC_RANGE),
        });
        ip
    }
}

/// The calls for one phase of one resource change.
pub fn calls(cx: &mut Ctx<'_>, rc: &ResourceChange, phase: Phase) -> Vec<Planned> {
    let r = match rc.kind.as_str() {
        "alicloud_vpc" => vpc(cx, rc, phase),
        "alicloud_vswitch" => vswitch(cx, rc, phase),
        "alicloud_route_table" => route_table(cx, rc, phase),
        "alicloud_route_table_attachment" => route_table_attachment(cx, rc, phase),
        "alicloud_instance" => instance(cx, rc, phase),
        "alicloud_security_group" => security_group(cx, rc, phase),
        "alicloud_security_group_rule" => security_group_rule(cx, rc, phase),
        "alicloud_ecs_network_interface" | "alicloud_network_interface" => eni(cx, rc, phase),
        "alicloud_ecs_network_interface_attachment" | "alicloud_network_interface_attachment" => {
            eni_attachment(cx, rc, phase)
        }
        "alicloud_eip_address" | "alicloud_eip" => eip_address(cx, rc, phase),
        "alicloud_eip_association" => eip_association(cx, rc, phase),
        "alicloud_nat_gateway" => nat_gateway(cx, rc, phase),
        "alicloud_snat_entry" => snat_entry(cx, rc, phase),
        "alicloud_forward_entry" => forward_entry(cx, rc, phase),
        "alicloud_route_entry" => route_entry(cx, rc, phase),
        _ => Ok(vec![]),
    };
    match r {
        Ok(v) => v,
        Err((call, why)) => vec![Planned::Unresolved {
            call: call.to_string(),
            why,
        }],
    }
}

type R = Result<Vec<Planned>, (&'static str, String)>;

fn not_sim(call: &str, why: &str) -> Planned {
    Planned::NotSimulated {
        call: call.to_string(),
        why: why.to_string(),
    }
}

fn not_deleted(what: &str) -> Planned {
    not_sim(
        &format!("Delete{what}"),
        "vpcsim has no operation deleting it; it stays in the answers",
    )
}

/// alicloud_vpc (docs/r/vpc): `cidr_block`.
fn vpc(cx: &mut Ctx<'_>, rc: &ResourceChange, phase: Phase) -> R {
    let c = "CreateVpc";
    match phase {
        Phase::Delete => Ok(vec![not_deleted("Vpc")]),
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
fn vswitch(cx: &mut Ctx<'_>, rc: &ResourceChange, phase: Phase) -> R {
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
fn route_table(cx: &mut Ctx<'_>, rc: &ResourceChange, phase: Phase) -> R {
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
fn route_table_attachment(cx: &mut Ctx<'_>, rc: &ResourceChange, phase: Phase) -> R {
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

/// A new instance (docs/r/instance): `vswitch_id`, `security_groups`, `instance_type`,
/// `private_ip`, `internet_max_bandwidth_out` (> 0: a static public IP),
/// `instance_charge_type`, `status`.
fn run_instance(cx: &mut Ctx<'_>, rc: &ResourceChange) -> R {
    let c = "RunInstances";
    let e = |x| (c, x);
    let a = obj(&rc.change.after).clone();
    let id = cx.sim_id(rc);
    let mut sgs: Vec<String> = str_list(&a, "security_groups")
        .into_iter()
        .map(|g| cx.tr(g))
        .collect();
    if sgs.is_empty() && Ctx::unknown(rc, "security_groups") {
        if let Some((addr, _)) = cx.reference(rc, "security_groups") {
            sgs.push(cx.resolve(&addr, None, 1).map_err(e)?);
        }
    }
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
fn instance(cx: &mut Ctx<'_>, rc: &ResourceChange, phase: Phase) -> R {
    let id = cx.sim_id(rc);
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
        let (old, new) = (
            str_list(b, "security_groups"),
            str_list(a, "security_groups"),
        );
        // The provider joins the new groups before leaving the old ones, so the
        // instance never has none.
        for g in new.iter().filter(|g| !old.contains(g)) {
            out.push(Planned::Call(Operation::JoinSecurityGroup {
                security_group_id: cx.tr(g.clone()),
                instance_id: Some(id.clone()),
                network_interface_id: None,
            }));
        }
        for g in old.iter().filter(|g| !new.contains(g)) {
            out.push(Planned::Call(Operation::LeaveSecurityGroup {
                security_group_id: cx.tr(g.clone()),
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
fn security_group(cx: &mut Ctx<'_>, rc: &ResourceChange, phase: Phase) -> R {
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

fn security_group_rule(cx: &mut Ctx<'_>, rc: &ResourceChange, phase: Phase) -> R {
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
fn eni(cx: &mut Ctx<'_>, rc: &ResourceChange, phase: Phase) -> R {
    let id = cx.sim_id(rc);
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
            let mut sgs: Vec<String> = groups(&a).into_iter().map(|g| cx.tr(g)).collect();
            if sgs.is_empty() {
                for k in ["security_group_ids", "security_groups"] {
                    if Ctx::unknown(rc, k) {
                        if let Some((addr, _)) = cx.reference(rc, k) {
                            sgs.push(cx.resolve(&addr, None, 1).map_err(|e| (c, e))?);
                        }
                    }
                }
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
fn eni_attachment(cx: &mut Ctx<'_>, rc: &ResourceChange, phase: Phase) -> R {
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
fn eip_address(cx: &mut Ctx<'_>, rc: &ResourceChange, phase: Phase) -> R {
    let id = cx.sim_id(rc);
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
            super::state::target_type(kind, id).to_string()
        }
    };
    serde_json::from_value(Value::String(ty.clone()))
        .map_err(|_| format!("`instance_type` `{ty}` is not one vpcsim models (EcsInstance, SlbInstance, NetworkInterface, Nat, HaVip)"))
}

/// alicloud_eip_association (docs/r/eip_association): `allocation_id`, `instance_id`,
/// `instance_type`, `mode`, `private_ip_address`.
fn eip_association(cx: &mut Ctx<'_>, rc: &ResourceChange, phase: Phase) -> R {
    let after = phase != Phase::Delete;
    let c = if after {
        "AssociateEipAddress"
    } else {
        "UnassociateEipAddress"
    };
    if phase == Phase::Update {
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

/// alicloud_nat_gateway (docs/r/nat_gateway): `vpc_id`, `vswitch_id`, `network_type`.
fn nat_gateway(cx: &mut Ctx<'_>, rc: &ResourceChange, phase: Phase) -> R {
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
        .unwrap_or_else(|| cx.sim_id(rc))
}

/// alicloud_snat_entry (docs/r/snat_entry): `snat_table_id`, `source_vswitch_id`,
/// `source_cidr`, `snat_ip`, `eip_affinity`.
fn snat_entry(cx: &mut Ctx<'_>, rc: &ResourceChange, phase: Phase) -> R {
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
fn forward_entry(cx: &mut Ctx<'_>, rc: &ResourceChange, phase: Phase) -> R {
    match phase {
        Phase::Delete => {
            let c = "DeleteForwardEntry";
            Ok(vec![Planned::Call(Operation::DeleteForwardEntry {
                forward_table_id: cx.need(rc, false, "forward_table_id").map_err(|e| (c, e))?,
                forward_entry_id: entry_id(cx, rc, "forward_entry_id"),
            })])
        }
        Phase::Update => Ok(vec![not_sim(
            "ModifyForwardEntry",
            "vpcsim has no operation changing a DNAT entry in place",
        )]),
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
fn route_entry(cx: &mut Ctx<'_>, rc: &ResourceChange, phase: Phase) -> R {
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
