//! NAT gateway operations: CreateNatGateway, Create/DeleteSnatEntry,
//! Create/DeleteForwardEntry (DNAT).

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::*;

impl Cloud {
    pub(super) fn create_nat_gateway(
        &mut self,
        vpc: &str,
        vsw: &str,
        wanted: Option<&str>,
        legacy: bool,
    ) -> ApiResult<Changes> {
        let v = self
            .vpcs
            .get(vpc)
            .ok_or_else(|| ApiError::not_found("InvalidVpcId.NotFound", "VPC", vpc))?
            .clone();
        let s = self
            .vswitches
            .get(vsw)
            .ok_or_else(|| ApiError::not_found("InvalidVSwitchId.NotFound", "VSwitch", vsw))?;
        if s.vpc != vpc {
            return own(
                "InvalidVSwitchId.VpcMismatch",
                format!(
                    "VSwitch {vsw} is in {}, not {vpc}; give a VSwitch of the gateway's VPC",
                    s.vpc
                ),
            );
        }
        let id = self.new_id(wanted, "ngw")?;
        let first = !self.nat_gateways.values().any(|g| g.vpc == vpc);
        self.nat_gateways.insert(
            id.clone(),
            NatGateway {
                id: id.clone(),
                vpc: vpc.to_string(),
                vswitch: vsw.to_string(),
                eips: vec![],
                snat_table_id: format!("stb-{id}"),
                forward_table_id: format!("ftb-{id}"),
                snat_entries: vec![],
                forward_entries: vec![],
                legacy_bandwidth_plan: legacy,
            },
        );
        let mut changes = vec![format!("{id}: NAT gateway created in {vpc}/{vsw} (SNAT table stb-{id}, forward table ftb-{id})")];
        // The first Internet NAT gateway of a VPC adds 0.0.0.0/0 → it to the system
        // route table, unless a 0.0.0.0/0 route is already there.
        let rt = v.system_route_table.clone();
        let default: Ipv4Net = "0.0.0.0/0".parse().expect("literal");
        let table = self
            .route_tables
            .get_mut(&rt)
            .expect("VPC route table exists");
        if first && !table.entries.iter().any(|e| e.destination == default) {
            table.entries.push(RouteEntry {
                id: format!("rte-{id}"),
                destination: default,
                next_hop: NextHop::NatGateway(id.clone()),
                system: true,
            });
            changes.push(format!("{rt}: route 0.0.0.0/0 → NatGateway {id} added"));
        }
        Ok(changes)
    }

    pub(super) fn create_snat_entry(
        &mut self,
        table: &str,
        source: SnatSource,
        ips: Vec<Ipv4Addr>,
        affinity: bool,
        wanted: Option<&str>,
    ) -> ApiResult<Changes> {
        let gid = self.nat_by_table_mut(table, true)?.id.clone();
        let g = self.nat_gateways.get(&gid).expect("found").clone();
        if g.snat_entries.len() >= self.quotas.snat_entries_per_nat_gateway {
            return err(
                "Forbidden.SnatEntryCountLimited",
                format!(
                    "NAT gateway {gid} already has {} SNAT entries, the maximum is {}",
                    g.snat_entries.len(),
                    self.quotas.snat_entries_per_nat_gateway
                ),
            );
        }
        if ips.is_empty() {
            return own("MissingParameter.SnatIp", "SnatIp names no EIP; give one or more EIP addresses of the gateway, comma-separated");
        }
        if ips.len() > self.quotas.eips_per_snat_entry {
            return err(
                "SNAT_IP_POOL_COUNT_TOO_MANY",
                format!(
                    "SnatIp names {} EIPs, the maximum per SNAT entry is {}",
                    ips.len(),
                    self.quotas.eips_per_snat_entry
                ),
            );
        }
        for ip in &ips {
            if !g
                .eips
                .iter()
                .any(|e| self.eips.get(e).is_some_and(|x| x.address == *ip))
            {
                return err(
                    "InvalidSnatIp.NotFound",
                    format!("SnatIp {ip} is not an EIP bound to NAT gateway {gid}; associate it with the gateway first (AssociateEipAddress InstanceType=Nat)"),
                );
            }
        }
        // [decision] (SEMANTICS.md §4): an EIP used by an IP-mapping DNAT entry cannot
        // also be a SNAT IP; port-mapping entries may share it.
        if let Some((ip, f)) = ips.iter().find_map(|ip| {
            g.forward_entries
                .iter()
                .find(|f| f.external_ip == *ip && f.protocol == ForwardProtocol::Any)
                .map(|f| (ip, f))
        }) {
            return err(
                "Forbidden.IpUsedInForwardTable",
                format!("SnatIp {ip} is the ExternalIp of IP-mapping DNAT entry {} (all ports to {}); an EIP used for IP mapping cannot also be a SNAT IP: pick another EIP of the gateway or delete that entry", f.id, f.internal_ip),
            );
        }
        let vpc_cidr = self.vpcs.get(&g.vpc).expect("gateway VPC").cidr;
        match &source {
            SnatSource::VSwitch(v) => {
                let s = self.vswitches.get(v).ok_or_else(|| {
                    ApiError::not_found("InvalidVSwitchId.NotFound", "VSwitch", v)
                })?;
                if s.vpc != g.vpc {
                    return own(
                        "InvalidVSwitchId.VpcMismatch",
                        format!("VSwitch {v} is not in the gateway's VPC {}; a SNAT entry serves only the gateway's VPC", g.vpc),
                    );
                }
                if g.snat_entries.iter().any(|e| e.source == source) {
                    return err(
                        "Forbidden.SourceVSwitchId.Duplicated",
                        format!("VSwitch {v} is already the source of a SNAT entry of {gid}; a VSwitch is in at most one entry"),
                    );
                }
            }
            SnatSource::Cidr(c) => {
                if c.prefix_len() == 32 && g.snat_entries.iter().any(|e| e.source == source) {
                    return err(
                        "OperationUnsupported.CidrConflict",
                        format!("ECS IP {} is already the source of a SNAT entry of {gid}; an ECS IP is in at most one entry", c.addr()),
                    );
                }
                if g.snat_entries.iter().any(|e| e.source == source) {
                    return err(
                        "OperationUnsupported.CidrConflict",
                        format!("a SNAT entry for {c} already exists on {gid}; delete it or give another SourceCIDR"),
                    );
                }
                let _ = vpc_cidr;
            }
            SnatSource::NetworkInterface(e) => {
                self.eni(e)?;
                if g.snat_entries.iter().any(|x| x.source == source) {
                    return own(
                        "Forbidden.SourceEniAlreadyUsed",
                        format!("ENI {e} is already the source of a SNAT entry of {gid}; an ENI is in at most one entry"),
                    );
                }
            }
        }
        // "Each vSwitch or ECS instance can be specified in only one SNAT entry"
        // (CreateSnatEntry): also across granularities — a SourceCIDR equal to a
        // VSwitch entry's CIDR, a /32 of an ENI entry's address. Two entries of one
        // prefix would leave the data plane to pick one silently.
        let prefixes = |s: &SnatSource| -> Vec<ipnet::Ipv4Net> {
            match s {
                SnatSource::Cidr(c) => vec![c.trunc()],
                SnatSource::VSwitch(v) => {
                    self.vswitches.get(v).map(|v| v.cidr).into_iter().collect()
                }
                SnatSource::NetworkInterface(e) => self
                    .enis
                    .get(e)
                    .map(|e| e.private_ips().map(ipnet::Ipv4Net::from).collect())
                    .unwrap_or_default(),
            }
        };
        let mine = prefixes(&source);
        if let Some((e, n)) = g.snat_entries.iter().find_map(|e| {
            prefixes(&e.source)
                .into_iter()
                .find(|n| mine.contains(n))
                .map(|n| (e, n))
        }) {
            return err(
                "OperationUnsupported.CidrConflict",
                format!("SNAT entry {} of {gid} already covers {n} exactly; a VSwitch or an ECS IP is in at most one entry: delete that entry or choose another source", e.id),
            );
        }
        let id = match wanted {
            Some(w) if g.snat_entries.iter().any(|e| e.id == w) => {
                return own(
                    "InvalidParameter.IdInUse",
                    format!("SNAT entry id {w} is already used; choose another"),
                )
            }
            Some(w) => w.to_string(),
            None => self.fresh_id("snat"),
        };
        let ip_list: Vec<String> = ips.iter().map(|i| i.to_string()).collect();
        let src = match &source {
            SnatSource::VSwitch(v) => format!("VSwitch {v}"),
            SnatSource::Cidr(c) => format!("CIDR {c}"),
            SnatSource::NetworkInterface(e) => format!("ENI {e}"),
        };
        self.nat_gateways
            .get_mut(&gid)
            .expect("found")
            .snat_entries
            .push(SnatEntry {
                id: id.clone(),
                source,
                snat_ips: ips,
                eip_affinity: affinity,
            });
        Ok(vec![format!(
            "{gid}: SNAT entry {id} created: {src} → {}",
            ip_list.join(",")
        )])
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn create_forward_entry(
        &mut self,
        table: &str,
        ext_ip: Ipv4Addr,
        ext_port: &str,
        int_ip: Ipv4Addr,
        int_port: &str,
        proto: ForwardProtocol,
        wanted: Option<&str>,
    ) -> ApiResult<Changes> {
        let gid = self.nat_by_table_mut(table, false)?.id.clone();
        let g = self.nat_gateways.get(&gid).expect("found").clone();
        let ep = PortSpec::parse(ext_port)
            .map_err(|m| ApiError::new("InvalidExternalPort.Malformed", m))?;
        let ip_ = PortSpec::parse(int_port)
            .map_err(|m| ApiError::new("InvalidInternalPort.Malformed", m))?;
        if ep.len() != ip_.len() {
            return own(
                "InvalidParameter.PortRangeMismatch",
                format!("ExternalPort {ep} and InternalPort {ip_} must be ranges of equal length"),
            );
        }
        if (ep == PortSpec::Any) != (proto == ForwardProtocol::Any) {
            return own(
                "InvalidParameter.IpMapping",
                "IP mapping is IpProtocol=Any with ExternalPort=Any and InternalPort=Any; port mapping needs TCP or UDP with ports",
            );
        }
        if !g
            .eips
            .iter()
            .any(|e| self.eips.get(e).is_some_and(|x| x.address == ext_ip))
        {
            return err(
                "InvalidIp.NotInNatgw",
                format!("ExternalIp {ext_ip} is not an EIP bound to NAT gateway {gid}; associate it with the gateway first"),
            );
        }
        let vpc_cidr = self.vpcs.get(&g.vpc).expect("gateway VPC").cidr;
        if !vpc_cidr.contains(&int_ip) {
            return err(
                "Forbidden.InternalIpOutOfVpcCIDR",
                format!("InternalIp {int_ip} is outside the VPC CIDR {vpc_cidr}; DNAT forwards only to addresses in the VPC"),
            );
        }
        // The EIP wins over DNAT: an instance with an EIP cannot get DNAT entries.
        if let Some(eni) = self.private_ip_owner(int_ip) {
            if eni.kind == EniType::Primary && eni.primary_ip == int_ip {
                if let Some(inst) = &eni.instance {
                    if let Some(e) = self.eip_of_instance(inst) {
                        return err(
                            "Forbindden",
                            format!("{inst} ({int_ip}) has EIP {} ({}); an instance with an EIP cannot get DNAT entries: unassociate the EIP first", e.id, e.address),
                        );
                    }
                }
            }
        }
        // [decision] (SEMANTICS.md §4): IP mapping takes the whole EIP, so not one that
        // SNAT uses; port mapping may share an EIP with SNAT.
        if proto == ForwardProtocol::Any {
            if let Some(sn) = g.snat_entries.iter().find(|e| e.snat_ips.contains(&ext_ip)) {
                return err(
                    "Forbidden.ExternalIp.UsedInSnatTable",
                    format!("ExternalIp {ext_ip} is a SnatIp of SNAT entry {}; an IP-mapping DNAT entry needs an EIP no SNAT entry uses: pick another EIP of the gateway, or map ports (TCP/UDP) instead", sn.id),
                );
            }
        }
        let same_proto = |a: ForwardProtocol, b: ForwardProtocol| {
            a == b || a == ForwardProtocol::Any || b == ForwardProtocol::Any
        };
        for f in &g.forward_entries {
            if f.external_ip == ext_ip
                && same_proto(f.protocol, proto)
                && f.external_port.overlaps(&ep)
            {
                return own(
                    "Forbidden.ForwardEntryExternalPortUsed",
                    format!("DNAT entry {} already maps {ext_ip} {} {}; (ExternalIp, ExternalPort, IpProtocol) must be unique", f.id, f.external_port, proto_name(f.protocol)),
                );
            }
            if f.internal_ip == int_ip
                && same_proto(f.protocol, proto)
                && f.internal_port.overlaps(&ip_)
            {
                return own(
                    "Forbidden.ForwardEntryInternalPortUsed",
                    format!("DNAT entry {} already targets {int_ip} {} {}; (IpProtocol, InternalIp, InternalPort) must be unique", f.id, f.internal_port, proto_name(f.protocol)),
                );
            }
        }
        let id = match wanted {
            Some(w) if g.forward_entries.iter().any(|e| e.id == w) => {
                return own(
                    "InvalidParameter.IdInUse",
                    format!("DNAT entry id {w} is already used; choose another"),
                )
            }
            Some(w) => w.to_string(),
            None => self.fresh_id("fwd"),
        };
        self.nat_gateways
            .get_mut(&gid)
            .expect("found")
            .forward_entries
            .push(ForwardEntry {
                id: id.clone(),
                external_ip: ext_ip,
                external_port: ep,
                internal_ip: int_ip,
                internal_port: ip_,
                protocol: proto,
            });
        Ok(vec![format!(
            "{gid}: DNAT entry {id} created: {ext_ip}:{ep} {} → {int_ip}:{ip_}",
            proto_name(proto)
        )])
    }

    /// CreateSnatEntry's source: exactly one of SourceVSwitchId, SourceCIDR and
    /// NetworkInterfaceId.
    pub(super) fn snat_source(
        source_vswitch_id: &Option<String>,
        source_cidr: &Option<Ipv4Net>,
        network_interface_id: &Option<String>,
    ) -> ApiResult<SnatSource> {
        match (source_vswitch_id, source_cidr, network_interface_id) {
            (Some(v), None, None) => Ok(SnatSource::VSwitch(v.clone())),
            (None, Some(c), None) => Ok(SnatSource::Cidr(*c)),
            (None, None, Some(e)) => Ok(SnatSource::NetworkInterface(e.clone())),
            (None, None, None) => err(
                "MissingParameter",
                "CreateSnatEntry needs one source: SourceVSwitchId, SourceCIDR or NetworkInterfaceId",
            ),
            _ => err(
                "INVALID_PARAMETER",
                "SourceVSwitchId, SourceCIDR and NetworkInterfaceId are mutually exclusive; give exactly one",
            ),
        }
    }

    pub(super) fn delete_snat_entry(
        &mut self,
        snat_table_id: &str,
        snat_entry_id: &str,
    ) -> ApiResult<Changes> {
        let g = self.nat_by_table_mut(snat_table_id, true)?;
        let before = g.snat_entries.len();
        g.snat_entries.retain(|e| e.id != snat_entry_id);
        if g.snat_entries.len() == before {
            return Err(ApiError::not_found(
                "InvalidSnatEntryId.NotFound",
                "SNAT entry",
                snat_entry_id,
            ));
        }
        Ok(vec![format!(
            "{snat_table_id}: SNAT entry {snat_entry_id} deleted"
        )])
    }

    pub(super) fn delete_forward_entry(
        &mut self,
        forward_table_id: &str,
        forward_entry_id: &str,
    ) -> ApiResult<Changes> {
        let g = self.nat_by_table_mut(forward_table_id, false)?;
        let before = g.forward_entries.len();
        g.forward_entries.retain(|e| e.id != forward_entry_id);
        if g.forward_entries.len() == before {
            return Err(ApiError::not_found(
                "InvalidForwardEntryId.NotFound",
                "DNAT entry",
                forward_entry_id,
            ));
        }
        Ok(vec![format!(
            "{forward_table_id}: DNAT entry {forward_entry_id} deleted"
        )])
    }
}

fn proto_name(p: ForwardProtocol) -> &'static str {
    match p {
        ForwardProtocol::Tcp => "TCP",
        ForwardProtocol::Udp => "UDP",
        ForwardProtocol::Any => "Any",
    }
}

pub(super) fn parse_ip_list(s: &str) -> ApiResult<Vec<Ipv4Addr>> {
    s.split(',')
        .filter(|x| !x.trim().is_empty())
        .map(|x| {
            x.trim().parse().map_err(|_| {
                ApiError::new(
                    "InvalidSnatIp.Malformed",
                    format!("`{}` in SnatIp is not an IPv4 address", x.trim()),
                )
            })
        })
        .collect()
}
