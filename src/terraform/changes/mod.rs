//! One resource change → the OpenAPI calls the alicloud provider makes for it.
//!
//! Attribute names as the provider documents them (github.com/aliyun/
//! terraform-provider-alicloud, `website/docs/r/<type>.html.markdown`, published at
//! registry.terraform.io/providers/aliyun/alicloud/latest/docs/resources/<type>); the
//! calls as the provider's `resource_alicloud_<type>.go` makes them (Create / Delete /
//! Update functions). A call vpcsim has no operation for is reported as not simulated,
//! never skipped silently. `network.rs`: VPCs, VSwitches, route tables and entries, NAT
//! gateways and their entries; `compute.rs`: instances, security groups, ENIs, EIPs.

use std::net::Ipv4Addr;

use serde_json::{Map, Value};

mod compute;
mod network;

use super::plan_json::{config_address, split_reference, ResourceChange};
use super::{placeholder_public, strv, Plan, Unknown, Unknowns, Warnings};
use crate::model::{Cloud, Operation};
use compute::*;
use network::*;

pub use compute::rule_spec;

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
    /// A call whose refusal the provider ignores (it goes on as if it succeeded): the
    /// string says where the provider does so.
    CallIgnoringRefusal(Operation, &'static str),
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
        match rc.change.after_unknown.get(key) {
            Some(Value::Bool(b)) => *b,
            // A list whose elements are partly unknown.
            Some(Value::Array(a)) => a.iter().any(|x| x == &Value::Bool(true)),
            _ => false,
        }
    }

    /// A list of ids (security groups): the known elements, plus, when some are unknown,
    /// every resource the configuration's expression for `key` refers to.
    fn ids(&mut self, rc: &ResourceChange, key: &str) -> Result<Vec<String>, String> {
        let mut out: Vec<String> = super::str_list(obj(&rc.change.after), key)
            .into_iter()
            .map(|g| self.tr(g))
            .collect();
        if Self::unknown(rc, key) {
            let refs: Vec<String> = self
                .plan
                .refs
                .by_attr
                .get(&config_address(&rc.address))
                .and_then(|m| m.get(key))
                .into_iter()
                .flatten()
                .filter_map(|r| split_reference(r))
                .map(|(a, _)| a)
                .collect();
            for a in refs {
                let id = self.resolve(&a, None, 1)?;
                if !out.contains(&id) {
                    out.push(id);
                }
            }
        }
        Ok(out)
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

    /// The id a call of this phase acts on: the old object's for a delete (a replaced
    /// resource's new object has no id yet), else [`Ctx::sim_id`].
    fn own_id(&self, rc: &ResourceChange, phase: Phase) -> String {
        if phase == Phase::Delete {
            if let Some(id) = strv(obj(&rc.change.before), "id") {
                return self.tr(id);
            }
        }
        self.sim_id(rc)
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

/// Attributes that change forwarding but that vpcsim does not model, per resource type
/// (names as the provider documents them): (attribute, hint). Set means present and not
/// null, false, 0, "" or an empty list — except where the entry names the value.
const UNMODELLED: &[(&str, &str, &str)] = &[
    ("alicloud_vpc", "enable_ipv6", "IPv6"),
    ("alicloud_vpc", "ipv6_cidr_block", "IPv6"),
    (
        "alicloud_vpc",
        "secondary_cidr_blocks",
        "secondary CIDR blocks",
    ),
    ("alicloud_vpc", "user_cidrs", "user CIDRs"),
    ("alicloud_vswitch", "enable_ipv6", "IPv6"),
    ("alicloud_vswitch", "ipv6_cidr_block_mask", "IPv6"),
    ("alicloud_instance", "ipv6_addresses", "IPv6"),
    ("alicloud_instance", "ipv6_address_count", "IPv6"),
    (
        "alicloud_instance",
        "network_interfaces",
        "ENIs created with the instance",
    ),
    (
        "alicloud_instance",
        "secondary_private_ips",
        "instance secondary private IPs",
    ),
    (
        "alicloud_instance",
        "secondary_private_ip_address_count",
        "instance secondary private IPs",
    ),
    ("alicloud_ecs_network_interface", "ipv6_addresses", "IPv6"),
    (
        "alicloud_ecs_network_interface",
        "ipv6_address_count",
        "IPv6",
    ),
    (
        "alicloud_ecs_network_interface",
        "ipv4_prefixes",
        "IPv4 prefixes on an ENI",
    ),
    (
        "alicloud_ecs_network_interface",
        "ipv4_prefix_count",
        "IPv4 prefixes on an ENI",
    ),
    (
        "alicloud_ecs_network_interface",
        "source_dest_check=false",
        "source/destination check off",
    ),
    (
        "alicloud_ecs_network_interface",
        "instance_type=Trunk",
        "trunk ENIs",
    ),
    (
        "alicloud_security_group_rule",
        "source_group_owner_id",
        "cross-account group rules",
    ),
    (
        "alicloud_nat_gateway",
        "icmp_reply_enabled=false",
        "NAT gateway ICMP reply off",
    ),
    (
        "alicloud_nat_gateway",
        "network_type=intranet",
        "VPC (intranet) NAT gateways",
    ),
    ("alicloud_forward_entry", "port_break", "DNAT port break"),
    (
        "alicloud_eip_association",
        "vpc_id",
        "EIPs bound through an IPv4 gateway",
    ),
    (
        "alicloud_route_table",
        "associate_type=Gateway",
        "gateway route tables",
    ),
];

/// Warns about every attribute of `values` that changes forwarding and is not modelled.
pub fn warn_unmodelled(kind: &str, address: &str, values: &Value, w: &mut Warnings) {
    let Some(m) = values.as_object() else {
        return;
    };
    for (_, attr, what) in UNMODELLED.iter().filter(|(k, _, _)| *k == kind) {
        let (name, want) = match attr.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (*attr, None),
        };
        let set = match (m.get(name), want) {
            (None | Some(Value::Null), _) => false,
            (Some(v), Some(want)) => match v {
                Value::String(s) => s == want,
                Value::Bool(b) => b.to_string() == want,
                _ => false,
            },
            (Some(Value::Bool(b)), None) => *b,
            (Some(Value::String(s)), None) => !s.is_empty(),
            (Some(Value::Number(n)), None) => n.as_f64() != Some(0.0),
            (Some(Value::Array(a)), None) => !a.is_empty(),
            (Some(Value::Object(o)), None) => !o.is_empty(),
        };
        if set {
            w.add(
                &format!("{what} not modelled (`{name}`)"),
                address,
                "the answers leave it out: they may differ from the cloud's where it matters",
            );
        }
    }
}

/// Whether an update changes any of `keys` (or leaves one unknown until apply).
fn changes_any(rc: &ResourceChange, keys: &[&str]) -> bool {
    let (b, a) = (obj(&rc.change.before), obj(&rc.change.after));
    keys.iter()
        .any(|k| b.get(*k) != a.get(*k) || Ctx::unknown(rc, k))
}
