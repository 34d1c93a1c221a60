//! ENI MAC addresses (issue 12 part 4), so replayed captures taken on the real instances
//! keep their source MACs and the VSwitch's source-MAC check applies to them.
//!
//! Sources, in the Alibaba Cloud Go SDK's response models:
//! - DescribeNetworkInterfaces: `services/ecs/struct_network_interface_set.go`,
//!   `MacAddress string json:"MacAddress"` (one per ENI): authoritative.
//! - DescribeInstances: `services/ecs/struct_network_interface.go` (the instance's
//!   `NetworkInterfaces.NetworkInterface[]`: NetworkInterfaceId, MacAddress,
//!   PrimaryIpAddress): used for ENIs the first does not give a MAC.
//!
//! A MAC that cannot be an ENI's, or that the dump gives to several ENIs, is left out with
//! a warning: the ENI then gets a generated MAC, which replay treats as unknown (it
//! stamps it rather than dropping the capture's frames as `eni_source_mac`).

use std::collections::BTreeMap;

use super::load::{list_at, str_of, Dump};
use super::ApiKind::*;
use super::Warnings;
use crate::model::{mac_string, parse_eni_mac};

/// ENI id → MAC (`aa:bb:cc:dd:ee:ff`) for every ENI of the dump whose MAC is known.
pub(super) fn eni_macs(d: &Dump, w: &mut Warnings) -> BTreeMap<String, String> {
    let mut raw: BTreeMap<String, String> = BTreeMap::new();
    for (id, it) in d.items(DescribeNetworkInterfaces) {
        if let Some(m) = str_of(&it.value, "MacAddress").filter(|m| !m.is_empty()) {
            raw.insert(id.clone(), m.to_string());
        }
    }
    for (_, it) in d.items(DescribeInstances) {
        for e in list_at(&it.value, &["NetworkInterfaces", "NetworkInterface"]) {
            let (Some(id), Some(m)) = (
                str_of(e, "NetworkInterfaceId"),
                str_of(e, "MacAddress").filter(|m| !m.is_empty()),
            ) else {
                continue;
            };
            match raw.get(id) {
                None => {
                    raw.insert(id.to_string(), m.to_string());
                }
                Some(known) if !same_mac(known, m) => w.add(
                    "ENI MACs that disagree",
                    format!("{id} ({known} / {m})"),
                    "DescribeNetworkInterfaces and DescribeInstances give different MACs; the first (DescribeNetworkInterfaces) is used",
                ),
                Some(_) => {}
            }
        }
    }
    let mut parsed: BTreeMap<String, [u8; 6]> = BTreeMap::new();
    for (id, m) in raw {
        match parse_eni_mac(&m) {
            Ok(mac) => {
                parsed.insert(id, mac);
            }
            Err(e) => w.add(
                "ENI MACs left out",
                format!("{id} ({e})"),
                "not a MAC an ENI can have: the ENI gets a generated MAC (replay then does not check source MACs on it)",
            ),
        }
    }
    let mut holders: BTreeMap<[u8; 6], Vec<&String>> = BTreeMap::new();
    for (id, m) in &parsed {
        holders.entry(*m).or_default().push(id);
    }
    let mut out = BTreeMap::new();
    for (id, m) in &parsed {
        let h = &holders[m];
        if h.len() > 1 {
            w.add(
                "ENI MACs left out",
                format!("{id} ({} is also {})", mac_string(*m), h.iter().filter(|x| *x != &id).map(|x| x.as_str()).collect::<Vec<_>>().join(", ")),
                "the dump gives one MAC to several ENIs: every ENI has its own, so these get generated MACs (replay then does not check source MACs on them)",
            );
        } else {
            out.insert(id.clone(), mac_string(*m));
        }
    }
    out
}

/// MACs compared as the API may write them (case, `-` or `:`).
fn same_mac(a: &str, b: &str) -> bool {
    parse_eni_mac(a)
        .ok()
        .is_some_and(|x| parse_eni_mac(b).ok() == Some(x))
        || a.eq_ignore_ascii_case(b)
}
