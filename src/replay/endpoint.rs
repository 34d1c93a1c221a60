//! Where replayed frames enter, and the Ethernet header a capture without one gets.

use std::net::Ipv4Addr;

use crate::compile::{EniIdx, Tables};
use crate::pcapio::Payload;
use crate::pipeline::{guest, Ingress, INTERNET_MAC, VROUTER_MAC};
use crate::wire;

/// The MACs a frame sent by `at` carries (source, destination), as probes build them:
/// an instance's guest sends from the device its routing picks for the packet's
/// addresses (eth0 when they cannot be read), an ENI from its own MAC, the Internet
/// edge from its MAC; every frame goes to the VSwitch gateway `ee:ff:ff:ff:ff:ff`.
pub fn macs_for(t: &Tables, at: Ingress, ethertype: u16, packet: &[u8]) -> ([u8; 6], [u8; 6]) {
    let src = match at {
        Ingress::Internet => INTERNET_MAC,
        Ingress::Eni(e) => t.eni(e).mac,
        Ingress::Guest(i) => {
            let addrs = (ethertype == wire::frame::ETHERTYPE_IPV4)
                .then(|| Some((ipv4_at(packet, 12)?, ipv4_at(packet, 16)?)))
                .flatten();
            t.instances
                .get(usize::from(i))
                .map_or(INTERNET_MAC, |inst| {
                    addrs
                        .and_then(|(s, d)| guest::route(t, inst, s, d))
                        .map(|r| r.eni)
                        .or_else(|| inst.devices.first().copied())
                        .map_or(INTERNET_MAC, |e| t.eni(e).mac)
                })
        }
    };
    (src, VROUTER_MAC)
}

fn ipv4_at(b: &[u8], at: usize) -> Option<Ipv4Addr> {
    let o: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
    Some(Ipv4Addr::from(o))
}

/// The Ethernet frame a record stands for when injected at `at`: the record itself on
/// an Ethernet link, else its packet behind the header `at` would have written.
pub fn ethernet_for(t: &Tables, at: Ingress, payload: Payload<'_>) -> Vec<u8> {
    match payload {
        Payload::Ethernet(f) => f.to_vec(),
        Payload::Network { ethertype, packet } => {
            let (src, dst) = macs_for(t, at, ethertype, packet);
            payload.to_ethernet(src, dst)
        }
    }
}

/// [decision] A capture's source MAC against an ENI whose MAC vpcsim generated: the
/// guest OS sends with its ENI's MAC, and a generated MAC says nothing about the real
/// one, so an Ethernet frame injected at an instance or ENI whose (chosen) ENI has a
/// generated MAC is stamped with that MAC instead of dropping as `eni_source_mac`. An
/// ENI whose MAC the scenario set keeps the check. Returns the ENI and the MAC the
/// capture carried when it stamped one.
pub fn stamp_generated_mac(t: &Tables, at: Ingress, frame: &mut [u8]) -> Option<(EniIdx, [u8; 6])> {
    let src: [u8; 6] = frame.get(6..12)?.try_into().ok()?;
    let candidates: Vec<EniIdx> = match at {
        Ingress::Internet => return None,
        Ingress::Eni(e) => vec![e],
        Ingress::Guest(i) => t.instances.get(usize::from(i))?.devices.clone(),
    };
    if candidates
        .iter()
        .any(|&e| t.enis.get(usize::from(e)).is_some_and(|x| x.mac == src))
    {
        return None;
    }
    // The device the guest would send on: its routing's choice for the packet.
    let ethertype = u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]);
    let (want, _) = macs_for(t, at, ethertype, frame.get(14..).unwrap_or_default());
    let e = candidates
        .into_iter()
        .find(|&e| t.enis.get(usize::from(e)).is_some_and(|x| x.mac == want))?;
    if t.eni(e).mac_explicit {
        return None;
    }
    frame[6..12].copy_from_slice(&want);
    Some((e, src))
}

/// Where replayed frames are injected: an instance id (its guest OS sends the frame and
/// its routing picks the device), an ENI id (sent on that ENI as is), or `internet` /
/// `internet:IP` (the Internet edge; the frame keeps its own source address).
pub fn parse_at(s: &str, t: &Tables) -> Result<Ingress, String> {
    if s == "internet" {
        return Ok(Ingress::Internet);
    }
    match crate::probe::Endpoint::parse(s, t)? {
        crate::probe::Endpoint::Internet(_) => Ok(Ingress::Internet),
        crate::probe::Endpoint::Instance(id) => Ok(Ingress::Guest(t.instance_index[&id])),
        crate::probe::Endpoint::Eni(id) => Ok(Ingress::Eni(t.eni_index[&id])),
    }
}
