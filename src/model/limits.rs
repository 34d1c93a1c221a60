//! Instance-type limits and account quotas (SEMANTICS.md §1–2).

use serde::{Deserialize, Serialize};

/// ENIs (including the primary) and private IPs per ENI an instance type allows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceTypeLimits {
    pub name: String,
    pub max_enis: u32,
    pub max_private_ips_per_eni: u32,
    /// The type supports jumbo frames: its ENIs carry an MTU of [`JUMBO_MTU`] instead of
    /// [`ETHERNET_MTU`] (SEMANTICS.md §5). [decision] no built-in type claims it (the
    /// ecs.g6 family does not); a scenario declares it with `jumbo_frames = true` under
    /// `[[instance_types]]`.
    #[serde(default)]
    pub jumbo_frames: bool,
}

/// MTU of an ENI without jumbo frames, of the NAT gateway and of the Internet edge.
pub const ETHERNET_MTU: u16 = 1500;
/// MTU of an ENI of an instance type that supports jumbo frames.
pub const JUMBO_MTU: u16 = 8500;

impl InstanceTypeLimits {
    /// The MTU of this type's ENIs.
    pub fn mtu(&self) -> u16 {
        if self.jumbo_frames {
            JUMBO_MTU
        } else {
            ETHERNET_MTU
        }
    }
}

/// The instance types vpcsim knows out of the box (ecs.g6 family, from the instance
/// type families page); a scenario may add more with `[[instance_types]]`.
pub fn builtin_instance_types() -> Vec<InstanceTypeLimits> {
    [
        ("ecs.g6.large", 2, 6),
        ("ecs.g6.xlarge", 3, 10),
        ("ecs.g6.2xlarge", 4, 10),
        ("ecs.g6.4xlarge", 8, 20),
    ]
    .into_iter()
    .map(|(n, e, ip)| InstanceTypeLimits {
        name: n.to_string(),
        max_enis: e,
        max_private_ips_per_eni: ip,
        jumbo_frames: false,
    })
    .collect()
}

/// Quotas of the account. Each default is the documented value; `[quotas]` in a
/// scenario overrides them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Quotas {
    /// Security groups an instance (its primary ENI) or ENI may belong to.
    /// [decision] 5, the figure of the seed document; newer docs allow 10 per ENI.
    pub security_groups_per_eni: usize,
    /// EIPs on one NAT gateway.
    pub eips_per_nat_gateway: usize,
    /// Of those, pay-by-traffic (pay-by-data-transfer) EIPs.
    pub pay_by_traffic_eips_per_nat_gateway: usize,
    /// SNAT entries per NAT gateway.
    pub snat_entries_per_nat_gateway: usize,
    /// EIPs named in one SNAT entry.
    pub eips_per_snat_entry: usize,
    /// Concurrent SNAT connections per EIP and destination (IP, port, protocol).
    pub snat_connections_per_destination: u32,
}

impl Default for Quotas {
    fn default() -> Self {
        Quotas {
            security_groups_per_eni: 5,
            eips_per_nat_gateway: 20,
            pay_by_traffic_eips_per_nat_gateway: 10,
            snat_entries_per_nat_gateway: 40,
            eips_per_snat_entry: 64,
            snat_connections_per_destination: 55_000,
        }
    }
}
