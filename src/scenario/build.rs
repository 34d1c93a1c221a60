//! Topology tables of a scenario file → a `Cloud`, with every reference and CIDR checked.

use std::collections::HashMap;

use super::format::*;
use super::{api_at, Locator, ScenarioError};
use crate::model::*;

pub fn build_topology(f: &ScenarioFile, loc: &Locator<'_>) -> Result<Cloud, ScenarioError> {
    let mut c = Cloud::new(&f.scenario.region);
    if let Some(q) = &f.quotas {
        c.quotas = q.clone();
    }
    for t in &f.instance_types {
        let t = t.get_ref().clone();
        c.instance_types.retain(|x| x.name != t.name);
        c.instance_types.push(t);
    }
    // id → line of the resource that claimed it first.
    let mut ids: HashMap<String, usize> = HashMap::new();
    let mut claim = |id: &str, off: usize| -> Result<(), ScenarioError> {
        if id.is_empty() {
            return Err(loc.at(off, "empty `id`; give every resource a unique id"));
        }
        if let Some(first) = ids.get(id) {
            return Err(loc.at(
                off,
                format!("duplicate id `{id}` (first used on line {first}): ids must be unique across all resources; rename one of them"),
            ));
        }
        ids.insert(id.to_string(), loc.at(off, "").line);
        Ok(())
    };

    for v in &f.vpcs {
        let (o, v) = (v.span().start, v.get_ref());
        claim(&v.id, o)?;
        if v.cidr != v.cidr.trunc() {
            return Err(loc.at(
                o,
                format!(
                    "VPC {} CIDR {} has host bits set; write {}",
                    v.id,
                    v.cidr,
                    v.cidr.trunc()
                ),
            ));
        }
        let rt = format!("vtb-{}", v.id);
        c.vpcs.insert(
            v.id.clone(),
            Vpc {
                id: v.id.clone(),
                cidr: v.cidr,
                system_route_table: rt.clone(),
            },
        );
        c.route_tables.insert(
            rt.clone(),
            RouteTable {
                id: rt,
                vpc: v.id.clone(),
                kind: RouteTableKind::System,
                entries: vec![],
            },
        );
    }
    for t in &f.route_tables {
        let (o, t) = (t.span().start, t.get_ref());
        if let Some(existing) = c.route_tables.get(&t.id) {
            if existing.vpc != t.vpc {
                return Err(loc.at(
                    o,
                    format!(
                        "route table {} is the system table of {}, not {}",
                        t.id, existing.vpc, t.vpc
                    ),
                ));
            }
            continue;
        }
        claim(&t.id, o)?;
        if !c.vpcs.contains_key(&t.vpc) {
            return Err(loc.at(
                o,
                format!(
                    "route table {}: VPC `{}` is not defined in [[vpcs]]; define it there or correct the id",
                    t.id, t.vpc
                ),
            ));
        }
        c.route_tables.insert(
            t.id.clone(),
            RouteTable {
                id: t.id.clone(),
                vpc: t.vpc.clone(),
                kind: RouteTableKind::Custom,
                entries: vec![],
            },
        );
    }
    for s in &f.vswitches {
        let (o, s) = (s.span().start, s.get_ref());
        claim(&s.id, o)?;
        let Some(vpc) = c.vpcs.get(&s.vpc).cloned() else {
            return Err(loc.at(
                o,
                format!(
                    "VSwitch {}: VPC `{}` is not defined in [[vpcs]]; define it there or correct the id",
                    s.id, s.vpc
                ),
            ));
        };
        if s.cidr != s.cidr.trunc() {
            return Err(loc.at(
                o,
                format!(
                    "VSwitch {} CIDR {} has host bits set; write {}",
                    s.id,
                    s.cidr,
                    s.cidr.trunc()
                ),
            ));
        }
        if !vpc.cidr.contains(&s.cidr) {
            return Err(loc.at(
                o,
                format!(
                    "VSwitch {} CIDR {} is outside VPC {} ({}); choose a CIDR inside the VPC",
                    s.id, s.cidr, vpc.id, vpc.cidr
                ),
            ));
        }
        if s.cidr.prefix_len() > 29 {
            return Err(loc.at(
                o,
                format!(
                    "VSwitch {} CIDR {} is smaller than /29, the smallest VSwitch",
                    s.id, s.cidr
                ),
            ));
        }
        if let Some(other) = c
            .vswitches
            .values()
            .find(|o| o.vpc == s.vpc && (o.cidr.contains(&s.cidr) || s.cidr.contains(&o.cidr)))
        {
            return Err(loc.at(o, format!("VSwitch {} CIDR {} overlaps VSwitch {} ({}); VSwitch CIDRs of one VPC must not overlap", s.id, s.cidr, other.id, other.cidr)));
        }
        let rt = match &s.route_table {
            None => vpc.system_route_table.clone(),
            Some(r) => match c.route_tables.get(r) {
                Some(t) if t.vpc == s.vpc => r.clone(),
                Some(t) => {
                    return Err(loc.at(
                        o,
                        format!(
                            "VSwitch {}: route table {r} belongs to {}, not {}",
                            s.id, t.vpc, s.vpc
                        ),
                    ))
                }
                None => {
                    return Err(loc.at(
                        o,
                        format!(
                            "VSwitch {}: route table `{r}` is not defined in [[route_tables]]; define it there or correct the id",
                            s.id
                        ),
                    ))
                }
            },
        };
        c.vswitches.insert(
            s.id.clone(),
            VSwitch {
                id: s.id.clone(),
                vpc: s.vpc.clone(),
                zone: s.zone.clone(),
                cidr: s.cidr,
                route_table: rt,
            },
        );
        // Every route table of the VPC carries each VSwitch CIDR as a system route.
        for t in c.route_tables.values_mut().filter(|t| t.vpc == s.vpc) {
            t.entries.push(RouteEntry {
                id: format!("rte-local-{}", s.id),
                destination: s.cidr,
                next_hop: NextHop::Local,
                system: true,
            });
        }
    }
    for g in &f.security_groups {
        let (o, g) = (g.span().start, g.get_ref());
        claim(&g.id, o)?;
        if !c.vpcs.contains_key(&g.vpc) {
            return Err(loc.at(
                o,
                format!(
                    "security group {}: VPC `{}` is not defined in [[vpcs]]; define it there or correct the id",
                    g.id, g.vpc
                ),
            ));
        }
        if g.kind == SecurityGroupType::Enterprise && !g.inner_access {
            // Enterprise groups isolate members anyway; nothing to store.
        }
        c.security_groups.insert(
            g.id.clone(),
            SecurityGroup {
                id: g.id.clone(),
                name: g.id.clone(),
                vpc: g.vpc.clone(),
                kind: g.kind,
                inner_access_accept: g.kind == SecurityGroupType::Basic && g.inner_access,
                rules: vec![],
            },
        );
    }
    // Rules after all groups exist, so group references resolve; through the API's checks.
    for g in &f.security_groups {
        let (o, g) = (g.span().start, g.get_ref());
        for (i, r) in g.rules.iter().enumerate() {
            let p = ops::RulePermission {
                security_group_id: g.id.clone(),
                ip_protocol: r.protocol,
                port_range: r.ports.clone(),
                source_cidr_ip: if r.direction == Direction::Ingress {
                    r.cidr
                } else {
                    r.local_cidr
                },
                source_group_id: if r.direction == Direction::Ingress {
                    r.group.clone()
                } else {
                    None
                },
                dest_cidr_ip: if r.direction == Direction::Egress {
                    r.cidr
                } else {
                    r.local_cidr
                },
                dest_group_id: if r.direction == Direction::Egress {
                    r.group.clone()
                } else {
                    None
                },
                source_port_range: r.source_ports.clone(),
                policy: Some(r.policy),
                priority: Some(r.priority),
                description: Some(r.description.clone()),
            };
            let op = match r.direction {
                Direction::Ingress => Operation::AuthorizeSecurityGroup(p),
                Direction::Egress => Operation::AuthorizeSecurityGroupEgress(p),
            };
            c.apply(&op).map_err(|e| {
                api_at(
                    loc,
                    o,
                    &format!("security group {} rule {}", g.id, i + 1),
                    e,
                )
            })?;
        }
    }
    for i in &f.instances {
        let (o, i) = (i.span().start, i.get_ref());
        claim(&i.id, o)?;
        if c.instance_type(&i.instance_type).is_none() {
            let known: Vec<&str> = c.instance_types.iter().map(|t| t.name.as_str()).collect();
            return Err(loc.at(o, format!("instance {}: unknown instance type `{}`; known: {} (add others with [[instance_types]])", i.id, i.instance_type, known.join(", "))));
        }
        if let Some(p) = i.public_ip {
            if c.public_ip_in_use(p) {
                return Err(loc.at(
                    o,
                    format!(
                        "instance {}: public IP {p} is already used by another resource",
                        i.id
                    ),
                ));
            }
        }
        let Some(vsw_id) = &i.vswitch else {
            // A classic-network instance: no VPC, no ENI.
            let Some(zone) = &i.zone else {
                return Err(loc.at(
                    o,
                    format!(
                        "instance {}: give `vswitch` (VPC-connected) or `zone` (classic network)",
                        i.id
                    ),
                ));
            };
            c.instances.insert(
                i.id.clone(),
                Instance {
                    id: i.id.clone(),
                    name: i.name.clone().unwrap_or_else(|| i.id.clone()),
                    vpc: None,
                    zone: zone.clone(),
                    status: i.status,
                    instance_type: i.instance_type.clone(),
                    io_optimized: i.io_optimized,
                    charge_type: i.charge_type,
                    public_ip: i.public_ip,
                    enis: vec![],
                    guest: i.guest.clone(),
                },
            );
            continue;
        };
        let Some(vsw) = c.vswitches.get(vsw_id).cloned() else {
            return Err(loc.at(
                o,
                format!(
                    "instance {}: VSwitch `{vsw_id}` is not defined in [[vswitches]]; define it there or correct the id",
                    i.id
                ),
            ));
        };
        if let Some(z) = &i.zone {
            if *z != vsw.zone {
                return Err(loc.at(o, format!("instance {}: zone {z} differs from its VSwitch {}'s zone {}; drop `zone` or fix it", i.id, vsw.id, vsw.zone)));
            }
        }
        let eni_id = i
            .primary_eni
            .clone()
            .unwrap_or_else(|| format!("{}-eth0", i.id));
        claim(&eni_id, o)?;
        let ip = private_ip(
            &c,
            loc,
            o,
            &format!("instance {}", i.id),
            &vsw,
            i.private_ip,
        )?;
        check_groups(
            &c,
            loc,
            o,
            &format!("instance {}", i.id),
            &vsw.vpc,
            &i.security_groups,
        )?;
        let mac = eni_mac(
            &mut c,
            loc,
            o,
            &format!("instance {}", i.id),
            i.mac.as_deref(),
        )?;
        c.enis.insert(
            eni_id.clone(),
            Eni {
                id: eni_id.clone(),
                name: eni_id.clone(),
                kind: EniType::Primary,
                status: EniStatus::InUse,
                vpc: vsw.vpc.clone(),
                vswitch: vsw.id.clone(),
                zone: vsw.zone.clone(),
                mac,
                mac_explicit: i.mac.is_some(),
                primary_ip: ip,
                secondary_ips: vec![],
                security_groups: i.security_groups.clone(),
                instance: Some(i.id.clone()),
                description: format!("primary ENI of {}", i.id),
            },
        );
        c.instances.insert(
            i.id.clone(),
            Instance {
                id: i.id.clone(),
                name: i.name.clone().unwrap_or_else(|| i.id.clone()),
                vpc: Some(vsw.vpc.clone()),
                zone: vsw.zone.clone(),
                status: i.status,
                instance_type: i.instance_type.clone(),
                io_optimized: i.io_optimized,
                charge_type: i.charge_type,
                public_ip: i.public_ip,
                enis: vec![eni_id],
                guest: i.guest.clone(),
            },
        );
    }
    for e in &f.enis {
        let (o, e) = (e.span().start, e.get_ref());
        claim(&e.id, o)?;
        let Some(vsw) = c.vswitches.get(&e.vswitch).cloned() else {
            return Err(loc.at(
                o,
                format!(
                    "ENI {}: VSwitch `{}` is not defined in [[vswitches]]; define it there or correct the id",
                    e.id, e.vswitch
                ),
            ));
        };
        let ip = private_ip(&c, loc, o, &format!("ENI {}", e.id), &vsw, e.primary_ip)?;
        check_groups(
            &c,
            loc,
            o,
            &format!("ENI {}", e.id),
            &vsw.vpc,
            &e.security_groups,
        )?;
        for s in &e.secondary_ips {
            if !vsw.cidr.contains(s) || c.private_ip_in_use(*s) || *s == ip {
                return Err(loc.at(
                    o,
                    format!(
                        "ENI {}: secondary IP {s} must be an idle address inside VSwitch {} ({})",
                        e.id, vsw.id, vsw.cidr
                    ),
                ));
            }
        }
        let mac = eni_mac(&mut c, loc, o, &format!("ENI {}", e.id), e.mac.as_deref())?;
        c.enis.insert(
            e.id.clone(),
            Eni {
                id: e.id.clone(),
                name: e.id.clone(),
                kind: EniType::Secondary,
                status: EniStatus::Available,
                vpc: vsw.vpc.clone(),
                vswitch: vsw.id.clone(),
                zone: vsw.zone.clone(),
                mac,
                mac_explicit: e.mac.is_some(),
                primary_ip: ip,
                secondary_ips: e.secondary_ips.clone(),
                security_groups: e.security_groups.clone(),
                instance: None,
                description: e.description.clone(),
            },
        );
    }
    for h in &f.havips {
        let (o, h) = (h.span().start, h.get_ref());
        claim(&h.id, o)?;
        let Some(vsw) = c.vswitches.get(&h.vswitch).cloned() else {
            return Err(loc.at(
                o,
                format!(
                    "HAVIP {}: VSwitch `{}` is not defined in [[vswitches]]; define it there or correct the id",
                    h.id, h.vswitch
                ),
            ));
        };
        let ip = private_ip(&c, loc, o, &format!("HAVIP {}", h.id), &vsw, Some(h.ip))?;
        c.havips.insert(
            h.id.clone(),
            HaVip {
                id: h.id.clone(),
                vpc: vsw.vpc.clone(),
                vswitch: vsw.id,
                ip,
                eip: None,
            },
        );
    }
    for s in &f.slbs {
        let (o, s) = (s.span().start, s.get_ref());
        claim(&s.id, o)?;
        c.slbs.insert(
            s.id.clone(),
            Slb {
                id: s.id.clone(),
                address_type: s.address_type,
                resource_group: s.resource_group.clone(),
                eip: None,
            },
        );
    }
    for g in &f.nat_gateways {
        let (o, g) = (g.span().start, g.get_ref());
        claim(&g.id, o)?;
        c.apply(&Operation::CreateNatGateway {
            vpc_id: g.vpc.clone(),
            vswitch_id: g.vswitch.clone(),
            nat_gateway_id: Some(g.id.clone()),
            legacy_bandwidth_plan: g.legacy_bandwidth_plan,
        })
        .map_err(|e| api_at(loc, o, &format!("NAT gateway {}", g.id), e))?;
    }
    // Routes after instances, ENIs and gateways exist, through CreateRouteEntry's checks.
    // A user's 0.0.0.0/0 in the system table replaces the one a NAT gateway added.
    for t in &f.route_tables {
        let (o, t) = (t.span().start, t.get_ref());
        for r in &t.routes {
            if let Some(tbl) = c.route_tables.get_mut(&t.id) {
                tbl.entries.retain(|e| {
                    !(e.system && e.next_hop != NextHop::Local && e.destination == r.destination)
                });
            }
            if r.unmodelled {
                keep_unmodelled_route(&mut c, &t.id, r).map_err(|m| loc.at(o, m))?;
                continue;
            }
            c.apply(&Operation::CreateRouteEntry {
                route_table_id: t.id.clone(),
                destination_cidr_block: r.destination,
                next_hop_type: r.next_hop_type.clone(),
                next_hop_id: r.next_hop_id.clone(),
                route_entry_id: r.id.clone(),
            })
            .map_err(|e| {
                api_at(
                    loc,
                    o,
                    &format!("route table {} route {}", t.id, r.destination),
                    e,
                )
            })?;
        }
    }
    for e in &f.eips {
        claim(&e.get_ref().id, e.span().start)?;
    }
    // ENI attachments, in file order (this decides eth1, eth2, ...).
    for e in &f.enis {
        let (o, e) = (e.span().start, e.get_ref());
        if let Some(inst) = &e.instance {
            if !c.instances.contains_key(inst) {
                return Err(loc.at(
                    o,
                    format!(
                        "ENI {}: instance `{inst}` is not defined in [[instances]]; define it there or correct the id",
                        e.id
                    ),
                ));
            }
            // Cut-through EIPs must be bound before attaching; do that first.
            bind_cut_through_eips(&mut c, f, loc, &e.id)?;
            c.apply(&Operation::AttachNetworkInterface {
                network_interface_id: e.id.clone(),
                instance_id: inst.clone(),
            })
            .map_err(|er| api_at(loc, o, &format!("ENI {} attachment to {inst}", e.id), er))?;
        }
    }
    for e in &f.eips {
        let (o, e) = (e.span().start, e.get_ref());
        if c.eips.contains_key(&e.id) {
            continue; // bound above (cut-through)
        }
        insert_eip(&mut c, loc, o, e)?;
        if let Some(b) = &e.bind {
            bind(&mut c, loc, o, e, b)?;
        }
    }
    for g in &f.nat_gateways {
        let (o, g) = (g.span().start, g.get_ref());
        for s in &g.snat {
            c.apply(&Operation::CreateSnatEntry {
                snat_table_id: g.id.clone(),
                source_vswitch_id: s.source_vswitch.clone(),
                source_cidr: s.source_cidr,
                network_interface_id: s.source_eni.clone(),
                snat_ip: s
                    .snat_ips
                    .iter()
                    .map(|i| i.to_string())
                    .collect::<Vec<_>>()
                    .join(","),
                eip_affinity: s.eip_affinity,
                snat_entry_id: s.id.clone(),
            })
            .map_err(|e| api_at(loc, o, &format!("NAT gateway {} SNAT entry", g.id), e))?;
        }
        for d in &g.dnat {
            c.apply(&Operation::CreateForwardEntry {
                forward_table_id: g.id.clone(),
                external_ip: d.external_ip,
                external_port: d.external_port.clone(),
                internal_ip: d.internal_ip,
                internal_port: d.internal_port.clone(),
                ip_protocol: d.protocol,
                forward_entry_id: d.id.clone(),
            })
            .map_err(|e| api_at(loc, o, &format!("NAT gateway {} DNAT entry", g.id), e))?;
        }
    }
    Ok(c)
}

/// The MAC of a new ENI: the scenario's (valid and not held by another ENI), else a
/// fresh one.
fn eni_mac(
    c: &mut Cloud,
    loc: &Locator<'_>,
    o: usize,
    what: &str,
    mac: Option<&str>,
) -> Result<[u8; 6], ScenarioError> {
    let Some(s) = mac else {
        return Ok(c.fresh_mac());
    };
    let m = crate::model::parse_eni_mac(s).map_err(|e| loc.at(o, format!("{what}: {e}")))?;
    if let Some(other) = c.enis.values().find(|e| e.mac == m) {
        return Err(loc.at(
            o,
            format!(
                "{what}: MAC {s} is already the MAC of ENI {}; every ENI has its own",
                other.id
            ),
        ));
    }
    Ok(m)
}

fn private_ip(
    c: &Cloud,
    loc: &Locator<'_>,
    o: usize,
    what: &str,
    vsw: &VSwitch,
    ip: Option<std::net::Ipv4Addr>,
) -> Result<std::net::Ipv4Addr, ScenarioError> {
    match ip {
        Some(ip) if !vsw.cidr.contains(&ip) => Err(loc.at(o, format!("{what}: private IP {ip} is outside VSwitch {} ({}); choose an address inside it", vsw.id, vsw.cidr))),
        Some(ip) if ip == vsw.cidr.network() || u32::from(ip) > u32::from(vsw.cidr.broadcast()).saturating_sub(3) => {
            Err(loc.at(o, format!("{what}: {ip} is reserved in VSwitch {} (the first and the last three addresses are)", vsw.id)))
        }
        Some(ip) if c.private_ip_in_use(ip) => Err(loc.at(o, format!("{what}: private IP {ip} is already used by another resource"))),
        Some(ip) => Ok(ip),
        None => c.free_private_ip(vsw.cidr).ok_or_else(|| loc.at(o, format!("{what}: VSwitch {} has no idle private IP left", vsw.id))),
    }
}

fn check_groups(
    c: &Cloud,
    loc: &Locator<'_>,
    o: usize,
    what: &str,
    vpc: &str,
    groups: &[String],
) -> Result<(), ScenarioError> {
    if groups.is_empty() {
        return Err(loc.at(
            o,
            format!(
                "{what}: `security_groups` is empty; an instance or ENI belongs to 1 to {} groups",
                c.quotas.security_groups_per_eni
            ),
        ));
    }
    if groups.len() > c.quotas.security_groups_per_eni {
        return Err(loc.at(
            o,
            format!(
                "{what}: {} security groups, the quota is {} (InstanceSecurityGroupLimitExceeded)",
                groups.len(),
                c.quotas.security_groups_per_eni
            ),
        ));
    }
    let mut kind = None;
    for g in groups {
        let Some(sg) = c.security_groups.get(g) else {
            return Err(loc.at(
                o,
                format!("{what}: security group `{g}` is not defined in [[security_groups]]; define it there or correct the id"),
            ));
        };
        if sg.vpc != vpc {
            return Err(loc.at(
                o,
                format!("{what}: security group {g} is in {}, not {vpc}", sg.vpc),
            ));
        }
        if kind.is_some_and(|k| k != sg.kind) {
            return Err(loc.at(o, format!("{what}: mixes basic and enterprise security groups; all groups of one instance must be of the same type")));
        }
        kind = Some(sg.kind);
    }
    Ok(())
}

fn insert_eip(
    c: &mut Cloud,
    loc: &Locator<'_>,
    o: usize,
    e: &EipSpec,
) -> Result<(), ScenarioError> {
    if c.public_ip_in_use(e.address) {
        return Err(loc.at(
            o,
            format!(
                "EIP {}: address {} is already used by another resource",
                e.id, e.address
            ),
        ));
    }
    // A public address inside a VPC would be answered for as both (a typo, mostly).
    if let Some(v) = c.vpcs.values().find(|v| v.cidr.contains(&e.address)) {
        return Err(loc.at(
            o,
            format!(
                "EIP {}: address {} lies inside VPC {} ({}); an EIP is a public address: give one outside the VPC CIDRs",
                e.id, e.address, v.id, v.cidr
            ),
        ));
    }
    c.eips.insert(
        e.id.clone(),
        Eip {
            id: e.id.clone(),
            address: e.address,
            region: e.region.clone().unwrap_or_else(|| c.region.clone()),
            status: EipStatus::Available,
            charge: e.charge,
            resource_group: e.resource_group.clone(),
            binding: None,
        },
    );
    Ok(())
}

fn bind(
    c: &mut Cloud,
    loc: &Locator<'_>,
    o: usize,
    e: &EipSpec,
    b: &BindSpec,
) -> Result<(), ScenarioError> {
    c.apply(&Operation::AssociateEipAddress {
        allocation_id: e.id.clone(),
        instance_id: b.id.clone(),
        instance_type: Some(b.target),
        mode: b.mode,
        private_ip_address: b.private_ip,
    })
    .map(|_| ())
    .map_err(|er| api_at(loc, o, &format!("EIP {} binding to {}", e.id, b.id), er))
}

fn bind_cut_through_eips(
    c: &mut Cloud,
    f: &ScenarioFile,
    loc: &Locator<'_>,
    eni: &str,
) -> Result<(), ScenarioError> {
    for s in &f.eips {
        let (o, e) = (s.span().start, s.get_ref());
        if let Some(b) = &e.bind {
            if b.id == eni && b.mode == Some(EniMode::CutThrough) && !c.eips.contains_key(&e.id) {
                insert_eip(c, loc, o, e)?;
                bind(c, loc, o, e, b)?;
            }
        }
    }
    Ok(())
}

/// A route kept as the cloud has it, its next hop not modelled (`unmodelled = true`):
/// no operation can create it (CreateRouteEntry checks the next hop exists), so it is put
/// in the table directly, after the same destination checks.
fn keep_unmodelled_route(c: &mut Cloud, table: &str, r: &RouteSpec) -> Result<(), String> {
    let Some(t) = c.route_tables.get_mut(table) else {
        return Err(format!(
            "route table `{table}` is not defined; define it in [[route_tables]] with its vpc"
        ));
    };
    let dest = r.destination.trunc();
    if t.entries.iter().any(|e| e.destination == dest) {
        return Err(format!(
            "route table {table} already has a route for {dest}; keep one of them"
        ));
    }
    let id =
        r.id.clone()
            .unwrap_or_else(|| format!("rte-{}-{}", table, t.entries.len()));
    t.entries.push(crate::model::RouteEntry {
        id,
        destination: dest,
        next_hop: NextHop::Unmodelled {
            kind: r.next_hop_type.clone(),
            id: r.next_hop_id.clone(),
        },
        system: false,
    });
    Ok(())
}
