//! The guest OS's own routing: which device (ENI) a packet the guest sends leaves by.
//!
//! Linux as Alibaba Cloud images configure it (SEMANTICS.md §3, guest OS routing):
//! 1. with policy routes (multi-nic-util), `ip rule from <ethN address> lookup <table N>`
//!    sends a packet whose source belongs to secondary device ethN out of ethN;
//! 2. otherwise the main table: the connected subnet of a device (longest prefix, lowest
//!    device on ties), else the default route via eth0 — secondary devices' default
//!    routes have a higher metric (lower priority) and never win while eth0 is up.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::compile::{EniIdx, InstanceT, Tables};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestRoute {
    pub eni: EniIdx,
    /// The rule or route that chose the device; its text (`Display`) is what
    /// `ip route`/`ip rule` would show. Kept as data: the text is built only for traces.
    pub why: Why,
}

/// Why the guest's routing picked a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// `ip rule from SRC lookup 1000+n`: the source belongs to secondary device eth`n`.
    PolicyRoute {
        src: Ipv4Addr,
        device: usize,
        gateway: Ipv4Addr,
    },
    /// The connected subnet of eth`n`.
    Connected { subnet: Ipv4Net, device: usize },
    /// The default route via eth0; `secondaries_unused` when the instance has other
    /// devices but no policy route for `src`.
    Default {
        gateway: Ipv4Addr,
        src: Ipv4Addr,
        secondaries_unused: bool,
    },
}

impl std::fmt::Display for Why {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Why::PolicyRoute {
                src,
                device,
                gateway,
            } => write!(
                f,
                "policy route: from {src} lookup {} (default via {gateway} dev eth{device})",
                1000 + device
            ),
            Why::Connected { subnet, device } => {
                write!(f, "main table: {subnet} dev eth{device} (connected)")
            }
            Why::Default {
                gateway,
                src,
                secondaries_unused: true,
            } => write!(
                f,
                "main table: default via {gateway} dev eth0 (primary ENI; secondary devices' defaults have a higher metric and there is no policy route for {src})"
            ),
            Why::Default { gateway, .. } => write!(f, "main table: default via {gateway} dev eth0"),
        }
    }
}

pub fn route(t: &Tables, inst: &InstanceT, src: Ipv4Addr, dst: Ipv4Addr) -> Option<GuestRoute> {
    if inst.policy_routes {
        for (n, &e) in inst.devices.iter().enumerate().skip(1) {
            let eni = t.eni(e);
            let owns = eni.visible_public.contains(&src)
                || (!eni.cut_through && eni.private_ips.contains(&src));
            if owns {
                return Some(GuestRoute {
                    eni: e,
                    why: Why::PolicyRoute {
                        src,
                        device: n,
                        gateway: eni.gateway,
                    },
                });
            }
        }
    }
    let connected = inst
        .devices
        .iter()
        .enumerate()
        .filter(|(_, &e)| !t.eni(e).cut_through && t.eni(e).subnet.contains(&dst))
        .max_by_key(|(n, &e)| (t.eni(e).subnet.prefix_len(), std::cmp::Reverse(*n)));
    if let Some((n, &e)) = connected {
        return Some(GuestRoute {
            eni: e,
            why: Why::Connected {
                subnet: t.eni(e).subnet,
                device: n,
            },
        });
    }
    let &e = inst.devices.first()?;
    let why = Why::Default {
        gateway: t.eni(e).gateway,
        src,
        secondaries_unused: inst.devices.len() > 1 && !inst.policy_routes,
    };
    Some(GuestRoute { eni: e, why })
}

/// The source address the guest picks for a new connection: eth0's primary address
/// (or, for a device that only has public addresses, its first public address).
pub fn default_source(t: &Tables, inst: &InstanceT) -> Option<Ipv4Addr> {
    let e = t.eni(*inst.devices.first()?);
    if e.cut_through {
        e.visible_public.first().copied()
    } else {
        e.private_ips.first().copied()
    }
}

use super::{DropReason, TraceRef};
use crate::wire::FrameInfo;

impl super::Dataplane {
    /// The guest OS's routing: the port of the device a packet from `Guest(i)` leaves by.
    pub(super) fn guest_port(
        &self,
        i: u16,
        info: &FrameInfo,
        trace: &mut TraceRef<'_>,
    ) -> Result<u16, DropReason> {
        let tables = &self.tables;
        let inst = tables
            .instances
            .get(i as usize)
            .ok_or(DropReason::InstanceNotRunning)?;
        if !inst.running {
            hop!(
                trace,
                "guest_route",
                inst.id.clone(),
                "instance is not Running"
            );
            return Err(DropReason::InstanceNotRunning);
        }
        let Some(r) = route(tables, inst, info.src, info.dst) else {
            hop!(
                trace,
                "guest_route",
                inst.id.clone(),
                "no device: the instance has no ENI"
            );
            return Err(DropReason::GuestNoRoute);
        };
        let eni = tables.eni(r.eni);
        hop!(
            trace,
            "guest_route",
            inst.id.clone(),
            "{} → {} ({})",
            r.why,
            eni.device_name(),
            eni.id
        );
        Ok(r.eni + 1)
    }
}
