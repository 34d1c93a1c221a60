//! The guest OS's network configuration in a namespace, mirroring `pipeline::guest`:
//! addresses the guest sees on each device, the main table (connected subnets; default via
//! eth0's VSwitch gateway; secondary devices' defaults at a higher metric), and, when the
//! instance has them, multi-nic-util's source policy routes
//! (`ip rule from <ethN address> lookup 1000+N`, table: default via ethN's gateway).

use std::net::Ipv4Addr;

use crate::compile::{EniIdx, InstanceT, Tables};

use super::sys::{self, LiveError};

/// Policy-route tables and rule priorities are 1000 + device index (as `guest.rs` shows).
pub const POLICY_BASE: u32 = 1000;

/// One device of a guest as it should be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub eni: EniIdx,
    pub index: usize,
    pub mac: [u8; 6],
    /// The ENI's MTU from the compiled tables (1500, 8500 for jumbo-frame instance types).
    pub mtu: u16,
    /// (address, prefix length).
    pub addrs: Vec<(Ipv4Addr, u8)>,
    pub gateway: Ipv4Addr,
    /// Addresses on this device's link: the gateway and the VPC's other private
    /// addresses in its subnet. The guest resolves them by ARP, answered by the data
    /// plane's VSwitch; the cross-check asks the kernel's route to each.
    pub neighbours: Vec<Ipv4Addr>,
    /// Sources whose packets policy routes send out of this device.
    pub policy_sources: Vec<Ipv4Addr>,
}

impl Device {
    pub fn name(&self) -> String {
        format!("eth{}", self.index)
    }
}

/// The devices of instance `inst` as its guest sees them, eth0 first.
pub fn devices(t: &Tables, inst: &InstanceT) -> Vec<Device> {
    // The guest's own addresses are local (the kernel answers them on `lo`): never peers.
    let own: Vec<Ipv4Addr> = inst
        .devices
        .iter()
        .flat_map(|&e| t.eni(e).private_ips.iter().copied())
        .collect();
    let mut out = vec![];
    for (n, &e) in inst.devices.iter().enumerate() {
        let eni = t.eni(e);
        let mut addrs = vec![];
        if !eni.cut_through {
            addrs.extend(
                eni.private_ips
                    .iter()
                    .map(|ip| (*ip, eni.subnet.prefix_len())),
            );
        }
        addrs.extend(eni.visible_public.iter().map(|ip| (*ip, 32)));
        let mut neighbours = vec![eni.gateway];
        if !eni.cut_through {
            let mut peers: Vec<Ipv4Addr> = t
                .private
                .keys()
                .filter(|(vpc, _)| *vpc == eni.vpc)
                .map(|(_, ip)| Ipv4Addr::from(*ip))
                .filter(|ip| eni.subnet.contains(ip) && !own.contains(ip))
                .collect();
            peers.sort();
            neighbours.extend(peers);
        }
        let policy_sources = if inst.policy_routes && n > 0 {
            let mut s: Vec<Ipv4Addr> = eni.visible_public.clone();
            if !eni.cut_through {
                s.extend(eni.private_ips.iter().copied());
            }
            s
        } else {
            vec![]
        };
        out.push(Device {
            eni: e,
            index: n,
            mac: eni.mac,
            mtu: eni.mtu,
            addrs,
            gateway: eni.gateway,
            neighbours,
            policy_sources,
        });
    }
    out
}

/// Configures device `d` (already present, named `ethN`) in namespace `ns`: link, addresses,
/// routes and policy rules. No neighbour entries: the guest's kernel resolves its gateway
/// and peers by ARP, which the data plane's VSwitch answers (SEMANTICS.md §5). Idempotent: what an earlier configuration of this
/// device left (addresses, its policy table and rules) is removed first.
pub fn configure(ns: &str, d: &Device) -> Result<(), LiveError> {
    let name = d.name();
    let mac = sys::mac_text(d.mac);
    let mtu = d.mtu.to_string();
    let ns = Some(ns);
    sys::ip(
        ns,
        &["link", "set", &name, "address", &mac, "mtu", &mtu, "up"],
    )?;
    sys::ip(ns, &["addr", "flush", "dev", &name])?;
    // Connected routes: eth0's first; a secondary device's at a higher metric, so on a
    // shared subnet the lowest device wins, as `guest.rs` says.
    let metric = (d.index * 100).to_string();
    for (a, p) in &d.addrs {
        let cidr = format!("{a}/{p}");
        sys::ip(ns, &["addr", "add", &cidr, "dev", &name, "metric", &metric])?;
    }
    let gw = d.gateway.to_string();
    sys::ip(
        ns,
        &[
            "route", "replace", "default", "via", &gw, "dev", &name, "onlink", "metric", &metric,
        ],
    )?;
    let table = (POLICY_BASE + d.index as u32).to_string();
    let _ = sys::ip(ns, &["route", "flush", "table", &table]);
    for _ in 0..64 {
        if sys::ip(ns, &["rule", "del", "pref", &table]).is_err() {
            break;
        }
    }
    if !d.policy_sources.is_empty() {
        sys::ip(
            ns,
            &[
                "route", "replace", "default", "via", &gw, "dev", &name, "onlink", "table", &table,
            ],
        )?;
        for s in &d.policy_sources {
            let from = s.to_string();
            sys::ip(
                ns,
                &[
                    "rule", "add", "from", &from, "lookup", &table, "pref", &table,
                ],
            )?;
        }
    }
    Ok(())
}

/// Prepares a fresh namespace: loopback up, no IPv6 (vpcsim models IPv4 only; IPv6
/// router solicitations would only be dropped), no reverse-path filter (the guest must
/// accept eth1's traffic even when its answer would leave by eth0: that is the FAQ's trap
/// the data plane, not the guest, refuses).
pub fn prepare(ns: &str) -> Result<(), LiveError> {
    sys::ip(Some(ns), &["link", "set", "lo", "up"])?;
    for k in [
        "net.ipv6.conf.all.disable_ipv6",
        "net.ipv6.conf.default.disable_ipv6",
    ] {
        sys::sysctl(ns, k, "1")?;
    }
    for k in [
        "net.ipv4.conf.all.rp_filter",
        "net.ipv4.conf.default.rp_filter",
    ] {
        sys::sysctl(ns, k, "0")?;
    }
    Ok(())
}
