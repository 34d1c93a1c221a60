//! The rules of one security group (`DescribeSecurityGroupAttribute`'s `Permissions`) →
//! scenario rules: peers (CIDR, group, prefix list), five-tuple fields (the ENI-side CIDR,
//! `SourcePortRange`), and a warning for every rule or field left out.

use std::collections::BTreeMap;
use std::fmt::Write;

use ipnet::Ipv4Net;
use serde_json::Value;

use super::convert::{cidr, host_cidr, missing, q, Ctx};
use super::load::{list_at, meaningful, str_of, Item};
use super::{ImportError, Warnings};

/// The scenario rules (inline TOML tables) of group `id`, from its attribute response.
pub(super) fn permissions<T>(
    id: &str,
    attr: &Item,
    sgs: &BTreeMap<String, T>,
    prefix_lists: &BTreeMap<String, Vec<Ipv4Net>>,
    cx: &Ctx,
    w: &mut Warnings,
) -> Result<Vec<String>, ImportError> {
    let mut rules = Vec::new();
    let a = &attr.value;
    for (n, p) in list_at(a, &["Permissions", "Permission"])
        .into_iter()
        .enumerate()
    {
        let ex = format!("{id} rule {}", n + 1);
        let dir = str_of(p, "Direction")
            .unwrap_or("ingress")
            .to_ascii_lowercase();
        // The peer side, and the ENI side of five-tuple rules.
        let (cidr_k, group_k, pl_k, local_k) = if dir == "egress" {
            (
                "DestCidrIp",
                "DestGroupId",
                "DestPrefixListId",
                "SourceCidrIp",
            )
        } else {
            (
                "SourceCidrIp",
                "SourceGroupId",
                "SourcePrefixListId",
                "DestCidrIp",
            )
        };
        if p.get("Ipv6SourceCidrIp").is_some_and(meaningful)
            || p.get("Ipv6DestCidrIp").is_some_and(meaningful)
        {
            w.add(
                "IPv6",
                ex,
                "vpcsim simulates IPv4 only; IPv6 CIDRs and addresses are left out",
            );
            continue;
        }
        let proto = str_of(p, "IpProtocol")
            .unwrap_or("ALL")
            .to_ascii_lowercase();
        if !matches!(proto.as_str(), "tcp" | "udp" | "icmp" | "gre" | "all") {
            w.add(
                "security group rule protocols",
                format!("{ex} ({proto})"),
                "only TCP, UDP, ICMP, GRE and ALL are modelled; the rule is left out: answers about that protocol may differ from the cloud",
            );
            continue;
        }
        let has_ports = matches!(proto.as_str(), "tcp" | "udp");
        let mut r = format!("{{ direction = {}, protocol = {}", q(&dir), q(&proto));
        match str_of(p, "PortRange") {
            Some(pr) if has_ports || pr == "-1/-1" => {
                write!(r, ", ports = {}", q(pr)).ok();
            }
            Some(_) => {}
            None if has_ports => {
                let list = str_of(p, "PortRangeListId").unwrap_or("no PortRange");
                w.add(
                    "security group rules with port lists",
                    format!("{ex} ({list})"),
                    "a TCP/UDP rule without a PortRange (a port list) is not modelled and is left out: answers about its ports may differ from the cloud",
                );
                continue;
            }
            None => {}
        }
        if let Some(sp) = str_of(p, "SourcePortRange").filter(|s| *s != "-1/-1") {
            if has_ports {
                write!(r, ", source_ports = {}", q(sp)).ok();
            }
        }
        if let Some(c) = str_of(p, local_k) {
            let c = cidr(attr, &ex, &host_cidr(c))?;
            write!(r, ", local_cidr = {}", q(&c.to_string())).ok();
        }
        let mut peers: Vec<String> = Vec::new();
        if let Some(c) = str_of(p, cidr_k) {
            let c = cidr(attr, &ex, &host_cidr(c))?;
            peers.push(format!(", cidr = {}", q(&c.to_string())));
        } else if let Some(g) = str_of(p, group_k) {
            if !sgs.contains_key(g) {
                return Err(missing(
                    attr,
                    &ex,
                    g,
                    cx.fix(
                        "DescribeSecurityGroupAttribute",
                        &format!("--SecurityGroupId {g}"),
                    ),
                ));
            }
            peers.push(format!(", group = {}", q(g)));
        } else if let Some(pl) = str_of(p, pl_k) {
            match prefix_lists.get(pl) {
                Some(cidrs) => {
                    for c in cidrs {
                        peers.push(format!(", cidr = {}", q(&c.to_string())));
                    }
                    if cidrs.is_empty() {
                        w.add(
                            "security group rules with empty prefix lists",
                            format!("{ex} ({pl})"),
                            "the prefix list has no entries: the rule matches nothing",
                        );
                        continue;
                    }
                }
                None => {
                    w.add(
                        "security group rules with prefix lists",
                        format!("{ex} ({pl})"),
                        &format!("the prefix list's CIDRs are not in the folder, so the rule is left out: answers about those peers may differ from the cloud; add the output of `{}`", cx.fix("DescribePrefixListAttributes", "--PrefixListId <id>")),
                    );
                    continue;
                }
            }
        } else {
            w.add(
                "security group rules without a peer",
                ex,
                "a rule without a CIDR or group peer is left out",
            );
            continue;
        }
        let pol = str_of(p, "Policy").unwrap_or("Accept").to_ascii_lowercase();
        write!(r, ", policy = {}", q(&pol)).ok();
        let prio: u32 = match p.get("Priority") {
            Some(Value::Number(n)) => n.as_u64().unwrap_or(1) as u32,
            Some(Value::String(s)) => s.parse().unwrap_or(1),
            _ => 1,
        };
        let prio = if prio > 100 {
            w.add(
                "security group rule priorities above 100",
                ex,
                "vpcsim takes priorities 1 to 100; 100 is used",
            );
            100
        } else {
            prio.max(1)
        };
        write!(r, ", priority = {prio}").ok();
        if let Some(desc) = str_of(p, "Description") {
            write!(r, ", description = {}", q(desc)).ok();
        }
        r.push_str(" }");
        // A prefix-list rule is one rule per CIDR of the list.
        for peer in &peers {
            rules.push(r.replacen(", policy = ", &format!("{peer}, policy = "), 1));
        }
    }
    Ok(rules)
}
