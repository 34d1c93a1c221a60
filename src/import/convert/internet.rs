//! What faces the Internet: NAT gateways with their SNAT and DNAT entries, and EIPs with
//! their bindings.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use serde_json::Value;

use super::super::load::{at, flag, list_at, str_of, strings_at, Dump};
use super::super::ApiKind::*;
use super::{cidr, generic, invalid, ip, missing, q, require_vpc, write_list, Out, Section, Seen};

/// `[[nat_gateways]]`, each with its `snat` and `dnat` entries.
pub(super) fn nat_gateways(d: &Dump, seen: &mut Seen<'_>, out: &mut Out<'_>) -> Section {
    let Out { cx, w, body } = out;
    let vpc_cidrs = &seen.vpcs;
    let vswitches = &seen.vswitches;
    let secondary_ids = &seen.secondary_ids;
    let mut stb: BTreeMap<String, String> = BTreeMap::new();
    let mut ftb: BTreeMap<String, String> = BTreeMap::new();
    for (id, it) in d.items(DescribeNatGateways) {
        for t in strings_at(&it.value, &["SnatTableIds", "SnatTableId"]) {
            stb.insert(t, id.clone());
        }
        for t in strings_at(&it.value, &["ForwardTableIds", "ForwardTableId"]) {
            ftb.insert(t, id.clone());
        }
    }
    let eip_addrs: BTreeSet<String> = d
        .items(DescribeEipAddresses)
        .filter_map(|(_, it)| str_of(&it.value, "IpAddress").map(str::to_string))
        .collect();
    let mut snat: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (id, it) in d.items(DescribeSnatTableEntries) {
        let v = &it.value;
        let what = format!("SNAT entry {id}");
        let t = str_of(v, "SnatTableId").unwrap_or("");
        let Some(g) = stb.get(t) else {
            return Err(missing(it, &what, t, cx.fix("DescribeNatGateways", "")));
        };
        let mut e = format!("{{ id = {}", q(id));
        if let Some(s) = str_of(v, "SourceVSwitchId") {
            if !vswitches.contains_key(s) {
                return Err(missing(it, &what, s, cx.fix("DescribeVSwitches", "")));
            }
            write!(e, ", source_vswitch = {}", q(s)).ok();
        } else if let Some(n) = str_of(v, "NetworkInterfaceId") {
            if !secondary_ids.contains(n) {
                return Err(missing(
                    it,
                    &what,
                    n,
                    cx.fix("DescribeNetworkInterfaces", ""),
                ));
            }
            write!(e, ", source_eni = {}", q(n)).ok();
        } else {
            let c = str_of(v, "SourceCIDR").unwrap_or("");
            let c = if c.contains('/') {
                c.to_string()
            } else {
                format!("{c}/32")
            };
            write!(
                e,
                ", source_cidr = {}",
                q(&cidr(it, &what, &c)?.to_string())
            )
            .ok();
        }
        let mut ips = Vec::new();
        for a in str_of(v, "SnatIp")
            .unwrap_or("")
            .split(',')
            .filter(|s| !s.trim().is_empty())
        {
            let a = ip(it, &what, a)?;
            if !eip_addrs.contains(&a.to_string()) {
                return Err(missing(
                    it,
                    &what,
                    &a.to_string(),
                    cx.fix("DescribeEipAddresses", &format!("--EipAddress {a}")),
                ));
            }
            ips.push(q(&a.to_string()));
        }
        write!(e, ", snat_ips = [{}]", ips.join(", ")).ok();
        if flag(v, "EipAffinity") == Some(true) {
            e.push_str(", eip_affinity = true");
        }
        e.push_str(" }");
        snat.entry(g.clone()).or_default().push(e);
    }
    let mut dnat: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (id, it) in d.items(DescribeForwardTableEntries) {
        let v = &it.value;
        let what = format!("DNAT entry {id}");
        let t = str_of(v, "ForwardTableId").unwrap_or("");
        let Some(g) = ftb.get(t) else {
            return Err(missing(it, &what, t, cx.fix("DescribeNatGateways", "")));
        };
        let ext = ip(it, &what, str_of(v, "ExternalIp").unwrap_or(""))?;
        let int = ip(it, &what, str_of(v, "InternalIp").unwrap_or(""))?;
        let proto = match str_of(v, "IpProtocol")
            .unwrap_or("Any")
            .to_ascii_lowercase()
            .as_str()
        {
            "tcp" => "TCP",
            "udp" => "UDP",
            _ => "Any",
        };
        dnat.entry(g.clone()).or_default().push(format!(
            "{{ id = {}, external_ip = {}, external_port = {}, internal_ip = {}, internal_port = {}, protocol = {} }}",
            q(id),
            q(&ext.to_string()),
            q(str_of(v, "ExternalPort").unwrap_or("Any")),
            q(&int.to_string()),
            q(str_of(v, "InternalPort").unwrap_or("Any")),
            q(proto)
        ));
    }
    let mut nat_ids: BTreeSet<String> = BTreeSet::new();
    for (id, it) in d.items(DescribeNatGateways) {
        let v = &it.value;
        generic(id, v, w);
        let what = format!("NAT gateway {id}");
        let vpc = str_of(v, "VpcId").unwrap_or("");
        require_vpc(it, &what, vpc, vpc_cidrs, cx)?;
        if str_of(v, "NetworkType") == Some("intranet") {
            w.add(
                "VPC NAT gateways",
                id.as_str(),
                "vpcsim models Internet NAT gateways; this intranet gateway is imported as one",
            );
        }
        let vsw = at(v, &["NatGatewayPrivateInfo", "VswitchId"])
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty());
        let vsw = match vsw {
            Some(s) if vswitches.contains_key(s) => s.to_string(),
            Some(s) => return Err(missing(it, &what, s, cx.fix("DescribeVSwitches", ""))),
            None => {
                let Some((s, _)) = vswitches.iter().find(|(_, x)| x.0 == vpc) else {
                    return Err(invalid(&it.file, format!("{what} has no NatGatewayPrivateInfo.VswitchId and its VPC has no VSwitch")));
                };
                w.add("NAT gateways without a VSwitch", id.as_str(), "an older gateway without NatGatewayPrivateInfo: placed in the VPC's first VSwitch");
                s.clone()
            }
        };
        for e in list_at(v, &["IpLists", "IpList"]) {
            if let Some(a) = str_of(e, "AllocationId") {
                if d.get(DescribeEipAddresses, a).is_none() {
                    return Err(missing(
                        it,
                        &what,
                        a,
                        cx.fix("DescribeEipAddresses", &format!("--AllocationId {a}")),
                    ));
                }
            }
        }
        nat_ids.insert(id.clone());
        write!(
            body,
            "[[nat_gateways]]\nid = {}\nvpc = {}\nvswitch = {}\n",
            q(id),
            q(vpc),
            q(&vsw)
        )
        .ok();
        for (key, list) in [("snat", snat.get(id)), ("dnat", dnat.get(id))] {
            if let Some(l) = list {
                write_list(body, key, l);
            }
        }
        body.push('\n');
    }
    seen.nat_ids = nat_ids;
    Ok(())
}

/// `[[eips]]`, each with its binding if its target is imported.
pub(super) fn eips(d: &Dump, seen: &Seen<'_>, out: &mut Out<'_>) -> Section {
    let Out { cx, w, body } = out;
    let Seen {
        instances,
        left_out_enis,
        secondary_ids,
        nat_ids,
        ..
    } = seen;
    for (id, it) in d.items(DescribeEipAddresses) {
        let v = &it.value;
        generic(id, v, w);
        let what = format!("EIP {id}");
        let addr = ip(it, &what, str_of(v, "IpAddress").unwrap_or(""))?;
        write!(
            body,
            "[[eips]]\nid = {}\naddress = {}\n",
            q(id),
            q(&addr.to_string())
        )
        .ok();
        let charge = match str_of(v, "InternetChargeType") {
            Some("PayByBandwidth") => "PayByBandwidth",
            _ => "PayByTraffic",
        };
        writeln!(body, "charge = {}", q(charge)).ok();
        if let Some(rg) = str_of(v, "ResourceGroupId") {
            writeln!(body, "resource_group = {}", q(rg)).ok();
        }
        if let Some(r) = str_of(v, "RegionId") {
            writeln!(body, "region = {}", q(r)).ok();
        }
        if str_of(v, "BandwidthPackageId").is_some() {
            w.add(
                "EIP bandwidth plans",
                id.as_str(),
                "Internet Shared Bandwidth is not modelled; the EIP is imported on its own",
            );
        }
        let target = str_of(v, "InstanceId");
        let kind = str_of(v, "InstanceType").unwrap_or("");
        if let Some(t) = target {
            let bind = match kind {
                "EcsInstance" => {
                    if !instances.contains(t) {
                        return Err(missing(
                            it,
                            &what,
                            t,
                            cx.fix("DescribeInstances", &format!("--InstanceIds '[\"{t}\"]'")),
                        ));
                    }
                    Some(format!("{{ type = \"EcsInstance\", id = {} }}", q(t)))
                }
                "NetworkInterface" if left_out_enis.contains(t) => {
                    w.add(
                        "EIPs of ENIs left out",
                        format!("{id} → {t}"),
                        "the ENI is not modelled (see above): the EIP is imported unbound, so traffic to it drops instead of reaching the ENI",
                    );
                    None
                }
                "NetworkInterface" => {
                    if !secondary_ids.contains(t) {
                        return Err(missing(
                            it,
                            &what,
                            t,
                            cx.fix(
                                "DescribeNetworkInterfaces",
                                &format!("--NetworkInterfaceId.1 {t}"),
                            ),
                        ));
                    }
                    let mode = match str_of(v, "Mode").unwrap_or("NAT") {
                        m @ ("NAT" | "BINDED" | "MULTI_BINDED") => m,
                        other => return Err(invalid(&it.file, format!("{what}: Mode `{other}` is unknown; expected NAT, BINDED or MULTI_BINDED"))),
                    };
                    let mut b = format!(
                        "{{ type = \"NetworkInterface\", id = {}, mode = {}",
                        q(t),
                        q(mode)
                    );
                    if mode != "BINDED" {
                        if let Some(p) = str_of(v, "PrivateIpAddress") {
                            write!(b, ", private_ip = {}", q(&ip(it, &what, p)?.to_string())).ok();
                        }
                    }
                    b.push_str(" }");
                    Some(b)
                }
                "Nat" => {
                    if !nat_ids.contains(t) {
                        return Err(missing(it, &what, t, cx.fix("DescribeNatGateways", "")));
                    }
                    Some(format!("{{ type = \"Nat\", id = {} }}", q(t)))
                }
                other => {
                    w.add(
                        &format!("EIP bindings to {}", if other.is_empty() { "unknown targets" } else { other }),
                        format!("{id} → {t}"),
                        "the target is not imported (no Describe call for it is read); the EIP is imported unbound",
                    );
                    None
                }
            };
            if let Some(b) = bind {
                writeln!(body, "bind = {b}").ok();
            }
        }
        body.push('\n');
    }
    Ok(())
}
