//! The prior state (or `--state`) → a scenario TOML topology, loaded by the scenario
//! builder like any scenario file, so the starting point passes the same checks.
//!
//! Attribute names are the alicloud provider's (registry.terraform.io/providers/aliyun/
//! alicloud/latest/docs, the `website/docs/r/<type>.html.markdown` pages of
//! github.com/aliyun/terraform-provider-alicloud); see each resource's comment.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use toml::Table;

use super::plan_json::StateResource;
use super::{num, str_list, strv, IdMap, PlanError, Warnings, SUPPORTED};
use crate::model::limits::builtin_instance_types;

fn t(pairs: Vec<(&str, toml::Value)>) -> toml::Value {
    let mut m = Table::new();
    for (k, v) in pairs {
        m.insert(k.to_string(), v);
    }
    toml::Value::Table(m)
}

fn s(v: &str) -> toml::Value {
    toml::Value::String(v.to_string())
}

fn need(r: &StateResource, key: &str) -> Result<String, PlanError> {
    strv(&r.values, key).ok_or_else(|| PlanError::State {
        address: r.address.clone(),
        message: format!("has no `{key}`; the prior state must come from `terraform show -json` of a refreshed plan"),
    })
}

/// The real ids the plan uses for things the scenario names differently: a VPC's
/// system route table (`route_table_id`, older `router_table_id`) is `vtb-<vpc id>`;
/// a NAT gateway's `snat_table_ids` / `forward_table_ids` are the gateway itself.
pub fn id_map(resources: &[&StateResource]) -> IdMap {
    let mut ids = IdMap::new();
    for r in resources {
        let Some(id) = strv(&r.values, "id") else {
            continue;
        };
        match r.kind.as_str() {
            "alicloud_vpc" => {
                for k in ["route_table_id", "router_table_id"] {
                    if let Some(rt) = strv(&r.values, k) {
                        ids.insert(rt, format!("vtb-{id}"));
                    }
                }
            }
            "alicloud_nat_gateway" => {
                for k in ["snat_table_ids", "forward_table_ids"] {
                    for t in strv(&r.values, k).unwrap_or_default().split(',') {
                        if !t.trim().is_empty() {
                            ids.insert(t.trim().to_string(), id.clone());
                        }
                    }
                }
            }
            _ => {}
        }
    }
    ids
}

fn tr(ids: &IdMap, v: String) -> String {
    ids.get(&v).cloned().unwrap_or(v)
}

/// Builds the scenario TOML of the prior state.
pub fn scenario_toml(
    name: &str,
    region: &str,
    resources: &[&StateResource],
    ids: &IdMap,
    planned_types: &BTreeSet<String>,
    w: &mut Warnings,
) -> Result<String, PlanError> {
    let managed: Vec<&StateResource> = resources
        .iter()
        .copied()
        .filter(|r| r.mode == "managed")
        .collect();
    let of = |k: &'static str| managed.iter().copied().filter(move |r| r.kind == k);
    let mut doc = Table::new();
    doc.insert(
        "scenario".into(),
        t(vec![
            ("name", s(name)),
            (
                "description",
                s("the prior state of a Terraform plan (vpcsim plan)"),
            ),
            ("region", s(region)),
        ]),
    );
    let mut vpcs = vec![];
    let mut vswitches = vec![];
    let mut route_tables: BTreeMap<String, (String, Vec<toml::Value>)> = BTreeMap::new();
    let mut sgs = vec![];
    let mut instances = vec![];
    let mut types = vec![];
    let mut enis = vec![];
    let mut ngws = vec![];
    let mut eips = vec![];

    for r in &managed {
        super::changes::warn_unmodelled(&r.kind, &r.address, &Value::Object(r.values.clone()), w);
        if !SUPPORTED.contains(&r.kind.as_str()) {
            w.add(
                "resource type not modelled (prior state)",
                &r.address,
                "left out of the topology; answers that depend on it may differ from the cloud's",
            );
        }
    }

    // alicloud_vpc: `cidr_block` (docs/r/vpc).
    for r in of("alicloud_vpc") {
        let id = need(r, "id")?;
        vpcs.push(t(vec![
            ("id", s(&id)),
            ("cidr", s(&need(r, "cidr_block")?)),
        ]));
        route_tables.insert(format!("vtb-{id}"), (id, vec![]));
    }
    // alicloud_route_table: `vpc_id` (docs/r/route_table).
    for r in of("alicloud_route_table") {
        route_tables.insert(need(r, "id")?, (need(r, "vpc_id")?, vec![]));
    }
    // alicloud_route_table_attachment: `route_table_id`, `vswitch_id`
    // (docs/r/route_table_attachment).
    let mut vsw_table: BTreeMap<String, String> = BTreeMap::new();
    for r in of("alicloud_route_table_attachment") {
        vsw_table.insert(need(r, "vswitch_id")?, tr(ids, need(r, "route_table_id")?));
    }
    // alicloud_vswitch: `vpc_id`, `cidr_block`, `zone_id` (older `availability_zone`)
    // (docs/r/vswitch).
    for r in of("alicloud_vswitch") {
        let id = need(r, "id")?;
        let zone = strv(&r.values, "zone_id")
            .or_else(|| strv(&r.values, "availability_zone"))
            .ok_or_else(|| PlanError::State {
                address: r.address.clone(),
                message: "has no `zone_id`".into(),
            })?;
        let mut v = vec![
            ("id", s(&id)),
            ("vpc", s(&need(r, "vpc_id")?)),
            ("zone", s(&zone)),
            ("cidr", s(&need(r, "cidr_block")?)),
        ];
        if let Some(rt) = vsw_table.get(&id) {
            v.push(("route_table", s(rt)));
        }
        vswitches.push(t(v));
    }
    // alicloud_route_entry: `route_table_id`, `destination_cidrblock`, `nexthop_type`,
    // `nexthop_id` (docs/r/route_entry).
    for r in of("alicloud_route_entry") {
        let table = tr(ids, need(r, "route_table_id")?);
        let route = t(vec![
            ("destination", s(&need(r, "destination_cidrblock")?)),
            ("next_hop_type", s(&need(r, "nexthop_type")?)),
            ("next_hop_id", s(&need(r, "nexthop_id")?)),
        ]);
        match route_tables.get_mut(&table) {
            Some((_, routes)) => routes.push(route),
            None => {
                return Err(PlanError::State {
                    address: r.address.clone(),
                    message: format!("route table {table} is not in the state (neither an alicloud_route_table nor a VPC's system table)"),
                })
            }
        }
    }
    // alicloud_security_group: `vpc_id`, `security_group_type` (normal | enterprise),
    // `inner_access_policy` (Accept | Drop) (docs/r/security_group).
    // alicloud_security_group_rule: `type`, `ip_protocol`, `port_range`, `cidr_ip`,
    // `source_security_group_id`, `policy`, `priority`, `description`
    // (docs/r/security_group_rule).
    let mut rules: BTreeMap<String, Vec<toml::Value>> = BTreeMap::new();
    for r in of("alicloud_security_group_rule") {
        match super::changes::rule_spec(&r.values) {
            Ok(Some((sg, rule))) => rules.entry(sg).or_default().push(rule),
            Ok(None) => w.add(
                "security group rule not modelled",
                &r.address,
                "IPv6 rules and prefix lists are not modelled; the rule is left out",
            ),
            Err(m) => {
                return Err(PlanError::State {
                    address: r.address.clone(),
                    message: m,
                })
            }
        }
    }
    for r in of("alicloud_security_group") {
        let id = need(r, "id")?;
        let mut v = vec![
            ("id", s(&id)),
            ("vpc", s(&need(r, "vpc_id")?)),
            (
                "type",
                s(&strv(&r.values, "security_group_type").unwrap_or_else(|| "normal".into())),
            ),
        ];
        let drop = strv(&r.values, "inner_access_policy").as_deref() == Some("Drop")
            || r.values.get("inner_access") == Some(&Value::Bool(false));
        v.push(("inner_access", toml::Value::Boolean(!drop)));
        v.push((
            "rules",
            toml::Value::Array(rules.remove(&id).unwrap_or_default()),
        ));
        sgs.push(t(v));
    }
    if let Some((sg, _)) = rules.into_iter().next() {
        return Err(PlanError::State {
            address: format!("alicloud_security_group_rule (group {sg})"),
            message: format!("security group {sg} is not in the state"),
        });
    }
    // alicloud_instance: `vswitch_id`, `instance_type`, `private_ip`, `public_ip`,
    // `internet_max_bandwidth_out` (> 0: a static public IP), `security_groups`,
    // `instance_charge_type`, `status`, `availability_zone` (docs/r/instance).
    let known: BTreeSet<String> = builtin_instance_types()
        .into_iter()
        .map(|t| t.name)
        .collect();
    let mut added_types = BTreeSet::new();
    let mut add_type = |ty: &str, w: &mut Warnings| {
        if !known.contains(ty) && added_types.insert(ty.to_string()) {
            w.add(
                "instance type limits assumed",
                ty,
                "vpcsim does not know this type's ENI and private-IP limits; those of ecs.g6.large (2 ENIs, 6 IPs per ENI) are assumed",
            );
            types.push(t(vec![
                ("name", s(ty)),
                ("max_enis", toml::Value::Integer(2)),
                ("max_private_ips_per_eni", toml::Value::Integer(6)),
            ]));
        }
    };
    for ty in planned_types {
        add_type(ty, w);
    }
    for r in of("alicloud_instance") {
        let id = need(r, "id")?;
        let ty = strv(&r.values, "instance_type").unwrap_or_else(|| "ecs.g6.large".into());
        add_type(&ty, w);
        let mut v = vec![
            ("id", s(&id)),
            ("instance_type", s(&ty)),
            (
                "security_groups",
                toml::Value::Array(
                    str_list(&r.values, "security_groups")
                        .iter()
                        .map(|g| s(g))
                        .collect(),
                ),
            ),
            // [decision] Alibaba Cloud public images run multi-nic-util (policy routes per
            // secondary ENI); a plan does not describe the guest.
            (
                "guest",
                t(vec![("policy_routes", toml::Value::Boolean(true))]),
            ),
        ];
        match strv(&r.values, "vswitch_id") {
            Some(vsw) => v.push(("vswitch", s(&vsw))),
            None => v.push((
                "zone",
                s(&strv(&r.values, "availability_zone").unwrap_or_default()),
            )),
        }
        if let Some(ip) = strv(&r.values, "private_ip") {
            v.push(("private_ip", s(&ip)));
        }
        if num(&r.values, "internet_max_bandwidth_out").unwrap_or(0) > 0 {
            if let Some(ip) = strv(&r.values, "public_ip") {
                v.push(("public_ip", s(&ip)));
            }
        }
        if let Some(c) = strv(&r.values, "instance_charge_type") {
            v.push(("charge_type", s(&c)));
        }
        if let Some(st) = strv(&r.values, "status") {
            v.push(("status", s(&st)));
        }
        instances.push(t(v));
    }
    // alicloud_ecs_network_interface: `vswitch_id`, `primary_ip_address` (older
    // `private_ip`), `private_ip_addresses` (older `private_ips`), `security_group_ids`
    // (older `security_groups`), `description` (docs/r/ecs_network_interface).
    // alicloud_ecs_network_interface_attachment: `network_interface_id`, `instance_id`.
    let mut attached: BTreeMap<String, String> = BTreeMap::new();
    for r in of("alicloud_ecs_network_interface_attachment")
        .chain(of("alicloud_network_interface_attachment"))
    {
        attached.insert(need(r, "network_interface_id")?, need(r, "instance_id")?);
    }
    for r in of("alicloud_ecs_network_interface").chain(of("alicloud_network_interface")) {
        let id = need(r, "id")?;
        let ip = strv(&r.values, "primary_ip_address")
            .or_else(|| strv(&r.values, "private_ip"))
            .ok_or_else(|| PlanError::State {
                address: r.address.clone(),
                message: "has no `primary_ip_address`".into(),
            })?;
        let mut sec = str_list(&r.values, "private_ip_addresses");
        if sec.is_empty() {
            sec = str_list(&r.values, "private_ips");
        }
        sec.retain(|x| *x != ip);
        let mut groups = str_list(&r.values, "security_group_ids");
        if groups.is_empty() {
            groups = str_list(&r.values, "security_groups");
        }
        let mut v = vec![
            ("id", s(&id)),
            ("vswitch", s(&need(r, "vswitch_id")?)),
            ("primary_ip", s(&ip)),
            (
                "secondary_ips",
                toml::Value::Array(sec.iter().map(|x| s(x)).collect()),
            ),
            (
                "security_groups",
                toml::Value::Array(groups.iter().map(|x| s(x)).collect()),
            ),
        ];
        if let Some(i) = attached.remove(&id) {
            v.push(("instance", s(&i)));
        }
        enis.push(t(v));
    }
    if let Some((eni, _)) = attached.into_iter().next() {
        return Err(PlanError::State {
            address: format!("alicloud_ecs_network_interface_attachment ({eni})"),
            message: format!(
                "ENI {eni} is attached but is not an alicloud_ecs_network_interface of the state"
            ),
        });
    }
    // alicloud_nat_gateway: `vpc_id`, `vswitch_id` (docs/r/nat_gateway);
    // alicloud_snat_entry: `snat_table_id`, `source_vswitch_id`, `source_cidr`, `snat_ip`,
    // `snat_entry_id`, `eip_affinity` (docs/r/snat_entry);
    // alicloud_forward_entry: `forward_table_id`, `external_ip`, `external_port`,
    // `internal_ip`, `internal_port`, `ip_protocol`, `forward_entry_id`
    // (docs/r/forward_entry).
    let mut snat: BTreeMap<String, Vec<toml::Value>> = BTreeMap::new();
    for r in of("alicloud_snat_entry") {
        let gw = tr(ids, need(r, "snat_table_id")?);
        let mut v = vec![(
            "snat_ips",
            toml::Value::Array(
                need(r, "snat_ip")?
                    .split(',')
                    .map(|x| s(x.trim()))
                    .collect(),
            ),
        )];
        if let Some(id) = strv(&r.values, "snat_entry_id") {
            v.push(("id", s(&id)));
        }
        if let Some(x) = strv(&r.values, "source_vswitch_id") {
            v.push(("source_vswitch", s(&x)));
        }
        if let Some(x) = strv(&r.values, "source_cidr") {
            v.push(("source_cidr", s(&x)));
        }
        if num(&r.values, "eip_affinity").unwrap_or(0) == 1 {
            v.push(("eip_affinity", toml::Value::Boolean(true)));
        }
        snat.entry(gw).or_default().push(t(v));
    }
    let mut dnat: BTreeMap<String, Vec<toml::Value>> = BTreeMap::new();
    for r in of("alicloud_forward_entry") {
        let gw = tr(ids, need(r, "forward_table_id")?);
        let mut v = vec![
            ("external_ip", s(&need(r, "external_ip")?)),
            ("external_port", s(&need(r, "external_port")?)),
            ("internal_ip", s(&need(r, "internal_ip")?)),
            ("internal_port", s(&need(r, "internal_port")?)),
            ("protocol", s(&need(r, "ip_protocol")?)),
        ];
        if let Some(id) = strv(&r.values, "forward_entry_id") {
            v.push(("id", s(&id)));
        }
        dnat.entry(gw).or_default().push(t(v));
    }
    for r in of("alicloud_nat_gateway") {
        let id = need(r, "id")?;
        let vsw = strv(&r.values, "vswitch_id").ok_or_else(|| PlanError::State {
            address: r.address.clone(),
            message: "has no `vswitch_id`: vpcsim models enhanced NAT gateways, which have one"
                .into(),
        })?;
        ngws.push(t(vec![
            ("id", s(&id)),
            ("vpc", s(&need(r, "vpc_id")?)),
            ("vswitch", s(&vsw)),
            (
                "snat",
                toml::Value::Array(snat.remove(&id).unwrap_or_default()),
            ),
            (
                "dnat",
                toml::Value::Array(dnat.remove(&id).unwrap_or_default()),
            ),
        ]));
    }
    if let Some(gw) = snat.keys().chain(dnat.keys()).next() {
        return Err(PlanError::State {
            address: "alicloud_snat_entry / alicloud_forward_entry".into(),
            message: format!("table {gw} belongs to no alicloud_nat_gateway of the state"),
        });
    }
    // alicloud_eip_address (older alicloud_eip): `ip_address`, `internet_charge_type`,
    // `resource_group_id` (docs/r/eip_address); alicloud_eip_association:
    // `allocation_id`, `instance_id`, `instance_type`, `mode`, `private_ip_address`
    // (docs/r/eip_association).
    let mut binds: BTreeMap<String, toml::Value> = BTreeMap::new();
    for r in of("alicloud_eip_association") {
        let target = need(r, "instance_id")?;
        let ty = strv(&r.values, "instance_type")
            .unwrap_or_else(|| infer_target(&managed, &target).to_string());
        let mut v = vec![("type", s(&ty)), ("id", s(&target))];
        if let Some(m) = strv(&r.values, "mode") {
            v.push(("mode", s(&m)));
        }
        if let Some(ip) = strv(&r.values, "private_ip_address") {
            v.push(("private_ip", s(&ip)));
        }
        binds.insert(need(r, "allocation_id")?, t(v));
    }
    for r in of("alicloud_eip_address").chain(of("alicloud_eip")) {
        let id = need(r, "id")?;
        let mut v = vec![("id", s(&id)), ("address", s(&need(r, "ip_address")?))];
        if let Some(c) = strv(&r.values, "internet_charge_type") {
            v.push(("charge", s(&c)));
        }
        if let Some(b) = binds.remove(&id) {
            v.push(("bind", b));
        }
        eips.push(t(v));
    }
    if let Some(e) = binds.keys().next() {
        return Err(PlanError::State {
            address: "alicloud_eip_association".into(),
            message: format!(
                "EIP {e} is associated but is not an alicloud_eip_address of the state"
            ),
        });
    }

    let arr = |v: Vec<toml::Value>| toml::Value::Array(v);
    doc.insert("instance_types".into(), arr(types));
    doc.insert("vpcs".into(), arr(vpcs));
    doc.insert("vswitches".into(), arr(vswitches));
    doc.insert(
        "route_tables".into(),
        arr(route_tables
            .into_iter()
            .map(|(id, (vpc, routes))| {
                t(vec![
                    ("id", s(&id)),
                    ("vpc", s(&vpc)),
                    ("routes", arr(routes)),
                ])
            })
            .collect()),
    );
    doc.insert("security_groups".into(), arr(sgs));
    doc.insert("instances".into(), arr(instances));
    doc.insert("enis".into(), arr(enis));
    doc.insert("nat_gateways".into(), arr(ngws));
    doc.insert("eips".into(), arr(eips));
    toml::to_string(&doc).map_err(|e| PlanError::State {
        address: "(prior state)".into(),
        message: format!("cannot write the topology: {e}"),
    })
}

/// `instance_type` of an association the state leaves empty: by what the id names.
fn infer_target(resources: &[&StateResource], id: &str) -> &'static str {
    let kind = resources
        .iter()
        .find(|r| r.values.get("id").and_then(Value::as_str) == Some(id))
        .map(|r| r.kind.as_str());
    target_type(kind, id)
}

/// The `InstanceType` of AssociateEipAddress for a target, from its resource type or,
/// failing that, its id prefix.
pub fn target_type(kind: Option<&str>, id: &str) -> &'static str {
    match kind {
        Some("alicloud_nat_gateway") => "Nat",
        Some("alicloud_ecs_network_interface" | "alicloud_network_interface") => "NetworkInterface",
        Some("alicloud_havip") => "HaVip",
        Some("alicloud_slb" | "alicloud_slb_load_balancer") => "SlbInstance",
        Some("alicloud_instance") => "EcsInstance",
        _ if id.starts_with("ngw-") => "Nat",
        _ if id.starts_with("eni-") => "NetworkInterface",
        _ if id.starts_with("havip-") => "HaVip",
        _ if id.starts_with("lb-") => "SlbInstance",
        _ => "EcsInstance",
    }
}
