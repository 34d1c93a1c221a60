//! Route table operations: CreateRouteEntry, DeleteRouteEntry.

use ipnet::Ipv4Net;

use super::*;

impl Cloud {
    pub(super) fn create_route_entry(
        &mut self,
        table: &str,
        dest: Ipv4Net,
        hop_type: &str,
        hop_id: &str,
        wanted: Option<&str>,
    ) -> ApiResult<Changes> {
        let t = self
            .route_tables
            .get(table)
            .ok_or_else(|| {
                ApiError::not_found("InvalidRouteTableId.NotFound", "route table", table)
            })?
            .clone();
        let dest = dest.trunc();
        if t.entries.iter().any(|e| e.destination == dest) {
            return own(
                "InvalidCidrBlock.Duplicate",
                format!("route table {table} already has a route for {dest}; delete it first"),
            );
        }
        // CreateRouteEntry: "cannot be the same as or be a subset of the CIDR block of a
        // vSwitch in the VPC" (it may contain one), nor 100.64.0.0/10 or a subset.
        if let Some(v) = self
            .vswitches
            .values()
            .find(|v| v.vpc == t.vpc && v.cidr.contains(&dest))
        {
            return own(
                "InvalidDestinationCidrBlock.InVSwitch",
                format!("{dest} lies inside VSwitch {} ({}); a custom route may contain a VSwitch CIDR but not be one or lie inside it", v.id, v.cidr),
            );
        }
        let shared: Ipv4Net = "100.64.0.0/10".parse().expect("literal");
        if shared.contains(&dest) {
            return own(
                "InvalidDestinationCidrBlock.Reserved",
                format!("{dest} lies inside 100.64.0.0/10, which the cloud keeps for its services; choose another destination"),
            );
        }
        let next_hop = match hop_type {
            "Instance" => {
                let i = self.instance(hop_id)?;
                if i.vpc.as_deref() != Some(t.vpc.as_str()) {
                    return own("InvalidNextHop.VpcMismatch", format!("next hop {hop_id} is not in {}", t.vpc));
                }
                NextHop::Instance(hop_id.into())
            }
            "NetworkInterface" => {
                let e = self.eni(hop_id)?;
                if e.vpc != t.vpc {
                    return own("InvalidNextHop.VpcMismatch", format!("next hop {hop_id} is not in {}", t.vpc));
                }
                NextHop::NetworkInterface(hop_id.into())
            }
            "HaVip" => {
                if !self.havips.contains_key(hop_id) {
                    return Err(ApiError::not_found("InvalidHaVipId.NotFound", "HAVIP", hop_id));
                }
                NextHop::HaVip(hop_id.into())
            }
            "NatGateway" => {
                if !self.nat_gateways.contains_key(hop_id) {
                    return Err(ApiError::not_found("InvalidNatGatewayId.NotFound", "NAT gateway", hop_id));
                }
                NextHop::NatGateway(hop_id.into())
            }
            "Ipv4Gateway" | "VpnGateway" | "RouterInterface" | "Attachment" | "IPv6Gateway" | "VpcPeer" | "Ecr" | "GatewayEndpoint" => {
                NextHop::Unmodelled { kind: hop_type.into(), id: hop_id.into() }
            }
            other => {
                return own(
                    "InvalidNextHopType",
                    format!("NextHopType `{other}` is unknown; use Instance, NetworkInterface, HaVip, NatGateway, Ipv4Gateway, VpnGateway, RouterInterface, Attachment, VpcPeer, Ecr or GatewayEndpoint"),
                )
            }
        };
        let id = match wanted {
            Some(w) => w.to_string(),
            None => self.fresh_id("rte"),
        };
        let desc = next_hop.describe();
        self.route_tables
            .get_mut(table)
            .expect("checked")
            .entries
            .push(RouteEntry {
                id,
                destination: dest,
                next_hop,
                system: false,
            });
        Ok(vec![format!("{table}: route {dest} → {desc} added")])
    }

    pub(super) fn delete_route_entry(
        &mut self,
        route_table_id: &str,
        destination_cidr_block: Ipv4Net,
    ) -> ApiResult<Changes> {
        let t = self.route_tables.get_mut(route_table_id).ok_or_else(|| {
            ApiError::not_found(
                "InvalidRouteTableId.NotFound",
                "route table",
                route_table_id,
            )
        })?;
        let Some(pos) = t
            .entries
            .iter()
            .position(|e| e.destination == destination_cidr_block)
        else {
            return own(
                "InvalidRouteEntry.NotFound",
                format!("route table {route_table_id} has no entry for {destination_cidr_block}; give the DestinationCidrBlock of an existing custom route"),
            );
        };
        if t.entries[pos].system && t.entries[pos].next_hop == NextHop::Local {
            return own(
                "OperationDenied.SystemRoute",
                format!("{destination_cidr_block} is a VSwitch's system route and cannot be deleted; delete the VSwitch instead"),
            );
        }
        t.entries.remove(pos);
        Ok(vec![format!(
            "{route_table_id}: route {destination_cidr_block} deleted"
        )])
    }
}
