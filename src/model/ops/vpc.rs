//! VPC layout operations: CreateVpc, CreateVSwitch, CreateRouteTable,
//! AssociateRouteTable, UnassociateRouteTable — the checks the scenario builder makes
//! on a topology, as calls (used by `vpcsim plan` for resources a plan creates). The
//! API reference publishes no codes for these situations in SEMANTICS.md §4, so the
//! codes are vpcsim's own.

use ipnet::Ipv4Net;

use super::*;

impl Cloud {
    pub(super) fn create_vpc(&mut self, cidr: Ipv4Net, wanted: Option<&str>) -> ApiResult<Changes> {
        if cidr != cidr.trunc() {
            return own(
                "InvalidCidrBlock.Malformed",
                format!("CIDR {cidr} has host bits set; write {}", cidr.trunc()),
            );
        }
        let id = self.new_id(wanted, "vpc")?;
        let rt = format!("vtb-{id}");
        self.vpcs.insert(
            id.clone(),
            Vpc {
                id: id.clone(),
                cidr,
                system_route_table: rt.clone(),
            },
        );
        self.route_tables.insert(
            rt.clone(),
            RouteTable {
                id: rt.clone(),
                vpc: id.clone(),
                kind: RouteTableKind::System,
                entries: vec![],
            },
        );
        Ok(vec![format!(
            "{id}: VPC {cidr} created (system route table {rt})"
        )])
    }

    pub(super) fn create_vswitch(
        &mut self,
        vpc_id: &str,
        zone: &str,
        cidr: Ipv4Net,
        wanted: Option<&str>,
    ) -> ApiResult<Changes> {
        let vpc = self
            .vpcs
            .get(vpc_id)
            .ok_or_else(|| ApiError::not_found("InvalidVpcId.NotFound", "VPC", vpc_id))?
            .clone();
        if cidr != cidr.trunc() {
            return own(
                "InvalidCidrBlock.Malformed",
                format!("CIDR {cidr} has host bits set; write {}", cidr.trunc()),
            );
        }
        if !vpc.cidr.contains(&cidr) {
            return own(
                "InvalidCidrBlock.NotInVpc",
                format!(
                    "CIDR {cidr} is outside VPC {vpc_id} ({}); choose a block inside it",
                    vpc.cidr
                ),
            );
        }
        if !(16..=29).contains(&cidr.prefix_len()) {
            return own(
                "InvalidCidrBlock.Malformed",
                format!("a VSwitch mask is /16 to /29; {cidr} is not"),
            );
        }
        if let Some(o) = self
            .vswitches
            .values()
            .find(|o| o.vpc == vpc_id && (o.cidr.contains(&cidr) || cidr.contains(&o.cidr)))
        {
            return own(
                "InvalidCidrBlock.Overlapped",
                format!("CIDR {cidr} overlaps VSwitch {} ({}); VSwitch blocks of one VPC must not overlap", o.id, o.cidr),
            );
        }
        let id = self.new_id(wanted, "vsw")?;
        self.vswitches.insert(
            id.clone(),
            VSwitch {
                id: id.clone(),
                vpc: vpc_id.to_string(),
                zone: zone.to_string(),
                cidr,
                route_table: vpc.system_route_table.clone(),
            },
        );
        // Every route table of the VPC carries each VSwitch CIDR as a system route.
        for t in self.route_tables.values_mut().filter(|t| t.vpc == vpc_id) {
            t.entries.push(RouteEntry {
                id: format!("rte-local-{id}"),
                destination: cidr,
                next_hop: NextHop::Local,
                system: true,
            });
        }
        Ok(vec![format!(
            "{id}: VSwitch {cidr} created in {vpc_id}/{zone}"
        )])
    }

    pub(super) fn create_route_table(
        &mut self,
        vpc_id: &str,
        wanted: Option<&str>,
    ) -> ApiResult<Changes> {
        if !self.vpcs.contains_key(vpc_id) {
            return Err(ApiError::not_found("InvalidVpcId.NotFound", "VPC", vpc_id));
        }
        let id = self.new_id(wanted, "vtb")?;
        let entries = self
            .vswitches
            .values()
            .filter(|s| s.vpc == vpc_id)
            .map(|s| RouteEntry {
                id: format!("rte-local-{}", s.id),
                destination: s.cidr,
                next_hop: NextHop::Local,
                system: true,
            })
            .collect();
        self.route_tables.insert(
            id.clone(),
            RouteTable {
                id: id.clone(),
                vpc: vpc_id.to_string(),
                kind: RouteTableKind::Custom,
                entries,
            },
        );
        Ok(vec![format!(
            "{id}: custom route table created in {vpc_id}"
        )])
    }

    pub(super) fn associate_route_table(&mut self, table: &str, vsw: &str) -> ApiResult<Changes> {
        let t = self
            .route_tables
            .get(table)
            .ok_or_else(|| {
                ApiError::not_found("InvalidRouteTableId.NotFound", "route table", table)
            })?
            .clone();
        let s = self
            .vswitches
            .get(vsw)
            .ok_or_else(|| ApiError::not_found("InvalidVSwitchId.NotFound", "VSwitch", vsw))?;
        if t.kind != RouteTableKind::Custom {
            return own(
                "InvalidRouteTable.NotCustom",
                format!("{table} is a system route table; only a custom table is associated with a VSwitch"),
            );
        }
        if s.vpc != t.vpc {
            return own(
                "InvalidVSwitchId.VpcMismatch",
                format!(
                    "VSwitch {vsw} is in {}, route table {table} in {}",
                    s.vpc, t.vpc
                ),
            );
        }
        let system = self.vpcs.get(&s.vpc).map(|v| v.system_route_table.clone());
        if Some(&s.route_table) != system.as_ref() {
            return own(
                "InvalidStatus.VSwitchBound",
                format!(
                    "VSwitch {vsw} is already bound to custom table {}; unassociate it first",
                    s.route_table
                ),
            );
        }
        let old = s.route_table.clone();
        self.vswitches.get_mut(vsw).expect("checked").route_table = table.to_string();
        Ok(vec![format!("{vsw}: route table {old} → {table}")])
    }

    pub(super) fn unassociate_route_table(&mut self, table: &str, vsw: &str) -> ApiResult<Changes> {
        let s = self
            .vswitches
            .get(vsw)
            .ok_or_else(|| ApiError::not_found("InvalidVSwitchId.NotFound", "VSwitch", vsw))?;
        if s.route_table != table {
            return own(
                "InvalidRouteTable.NotAssociated",
                format!(
                    "VSwitch {vsw} uses route table {}, not {table}",
                    s.route_table
                ),
            );
        }
        let system = self
            .vpcs
            .get(&s.vpc)
            .map(|v| v.system_route_table.clone())
            .unwrap_or_default();
        self.vswitches.get_mut(vsw).expect("checked").route_table = system.clone();
        Ok(vec![format!(
            "{vsw}: route table {table} → {system} (the VPC's system table)"
        )])
    }
}
