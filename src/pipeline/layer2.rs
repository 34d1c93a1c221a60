//! Layer 2 at the VSwitch (SEMANTICS.md §5): the source MAC of what an instance sends,
//! ARP answered for the whole VSwitch CIDR with the gateway MAC, and EtherTypes the VPC
//! does not carry dropped with a reason that names them.

use crate::compile::EniIdx;
use crate::model::mac_string;
use crate::wire::{self, EtherKind};

use super::{Dataplane, Disposition, DropReason, Ingress, Outcome, TraceRef, VROUTER_MAC};

impl Dataplane {
    /// The layer-2 stage of a frame entering at `at` on the slow path: `None` lets an
    /// IPv4 frame go on to the IPv4 stages; otherwise what became of the frame (a
    /// wrong source MAC, ARP, another EtherType). Frames shorter than an Ethernet header
    /// go on to `parse`, which names them.
    pub(super) fn layer2(
        &mut self,
        frame: &[u8],
        at: Ingress,
        trace: &mut TraceRef<'_>,
    ) -> Option<Outcome> {
        let ethertype = u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]);
        let eni = match at {
            Ingress::Internet => None,
            _ => match self.sending_eni(frame, at, trace) {
                Ok(e) => e,
                Err(r) => return Some(self.drop_with(r)),
            },
        };
        if ethertype == wire::frame::ETHERTYPE_IPV4 {
            return None;
        }
        let what = wire::ethertype_text(ethertype);
        let r = match EtherKind::of(ethertype) {
            EtherKind::Arp => return Some(self.arp(frame, eni, trace)),
            EtherKind::Vlan => DropReason::UnsupportedEthertypeVlan,
            EtherKind::Ipv6 => DropReason::UnsupportedEthertypeIpv6,
            EtherKind::Other => DropReason::UnsupportedEthertypeOther,
        };
        hop!(
            trace,
            "l2",
            "vswitch",
            "EtherType {what}: the VPC carries untagged IPv4 (and ARP) only; dropped"
        );
        Some(self.drop_with(r))
    }

    /// The ENI a frame from an instance was sent on, checked by its source MAC:
    /// `Eni(e)` must carry e's MAC; `Guest(i)` any of the instance's ENIs' MACs (the
    /// guest's routing then picks the device). `Ok(None)`: an instance with no ENI
    /// (later stages say so).
    fn sending_eni(
        &self,
        frame: &[u8],
        at: Ingress,
        trace: &mut TraceRef<'_>,
    ) -> Result<Option<EniIdx>, DropReason> {
        let src: [u8; 6] = wire::src_mac(frame);
        let t = &self.tables;
        // Borrowed, not cloned: this runs for every first packet an instance sends.
        let one: [EniIdx; 1];
        let (candidates, whose): (&[EniIdx], &str) = match at {
            Ingress::Internet => return Ok(None),
            Ingress::Eni(e) => {
                if (e as usize) >= t.enis.len() {
                    return Err(DropReason::EniNotAttached);
                }
                one = [e];
                (&one, &t.eni(e).id)
            }
            Ingress::Guest(i) => match t.instances.get(i as usize) {
                Some(inst) if !inst.devices.is_empty() => (&inst.devices, &inst.id),
                _ => return Ok(None),
            },
        };
        if let Some(&e) = candidates.iter().find(|&&e| t.eni(e).mac == src) {
            return Ok(Some(e));
        }
        let macs: Vec<String> = candidates
            .iter()
            .map(|&e| format!("{} {}", t.eni(e).id, mac_string(t.eni(e).mac)))
            .collect();
        hop!(
            trace,
            "l2",
            whose,
            "[decision] source MAC {} is not the MAC of {whose} ({}): the VSwitch drops it; if the capture is right, set `mac = \"{}\"` on the ENI (or instance) in the scenario",
            mac_string(src),
            macs.join(", "),
            mac_string(src)
        );
        Err(DropReason::EniSourceMac)
    }

    /// ARP from an instance: every request for an address inside the VSwitch CIDR is
    /// answered with the gateway MAC `ee:ff:ff:ff:ff:ff` ([decision], SEMANTICS.md §5);
    /// gratuitous ARP and ARP probes are ignored, as is everything else.
    fn arp(&mut self, frame: &[u8], eni: Option<EniIdx>, trace: &mut TraceRef<'_>) -> Outcome {
        let Some(eni) = eni else {
            hop!(
                trace,
                "arp",
                "edge",
                "ARP that no ENI sent (from the Internet edge, or from an instance without ENIs): ignored"
            );
            return self.drop_with(DropReason::ArpIgnored);
        };
        let e = self.tables.eni(eni);
        let Some(a) = wire::parse_arp(frame) else {
            if frame.len() < wire::frame::ETH_LEN + wire::arp::ARP_LEN {
                hop!(
                    trace,
                    "arp",
                    e.id.clone(),
                    "ARP packet truncated ({} bytes)",
                    frame.len()
                );
                return self.drop_with(DropReason::MalformedFrame);
            }
            hop!(
                trace,
                "arp",
                e.id.clone(),
                "not an IPv4-over-Ethernet ARP packet: ignored"
            );
            return self.drop_with(DropReason::ArpIgnored);
        };
        if !e.attached {
            hop!(
                trace,
                "arp",
                e.id.clone(),
                "the ENI is attached to no instance"
            );
            return self.drop_with(DropReason::EniNotAttached);
        }
        if !e.live {
            hop!(
                trace,
                "arp",
                e.id.clone(),
                "the ENI's instance is not Running"
            );
            return self.drop_with(DropReason::InstanceNotRunning);
        }
        let why_not = if !a.is_request() {
            Some(format!("ARP operation {} (not a request)", a.operation))
        } else if a.is_announcement_or_probe() {
            Some(format!(
                "gratuitous ARP / ARP probe for {} (nothing to answer)",
                a.target_ip
            ))
        } else if !e.subnet.contains(&a.target_ip) {
            Some(format!(
                "{} is outside VSwitch {} ({}): nobody answers",
                a.target_ip, e.vswitch, e.subnet
            ))
        } else {
            None
        };
        if let Some(why) = why_not {
            hop!(trace, "arp", e.vswitch.clone(), "{why}: ignored");
            return self.drop_with(DropReason::ArpIgnored);
        }
        hop!(
            trace,
            "arp",
            e.vswitch.clone(),
            "who-has {} tell {}: the VSwitch answers {} is-at ee:ff:ff:ff:ff:ff [decision]",
            a.target_ip,
            a.sender_ip,
            a.target_ip
        );
        let mut out = self.drop_with(DropReason::ArpAnswered);
        out.generated.push((
            wire::arp_reply(&a, VROUTER_MAC),
            Disposition::Delivered { eni },
        ));
        out
    }
}

/// The source MAC a frame entering at `at` must carry: the ENI's; for a guest, its
/// primary ENI's (any of its ENIs' is accepted); `None` from the Internet or for an
/// instance without ENIs.
pub fn sender_mac(t: &crate::compile::Tables, at: Ingress) -> Option<[u8; 6]> {
    match at {
        Ingress::Internet => None,
        Ingress::Eni(e) => t.enis.get(usize::from(e)).map(|e| e.mac),
        Ingress::Guest(i) => t
            .instances
            .get(usize::from(i))
            .and_then(|inst| inst.devices.first())
            .map(|&e| t.eni(e).mac),
    }
}

/// Writes [`sender_mac`] as the frame's source MAC (for callers that build frames
/// without knowing the ENI's MAC, such as tests).
pub fn stamp_sender_mac(t: &crate::compile::Tables, at: Ingress, frame: &mut [u8]) {
    if let (Some(m), Some(s)) = (sender_mac(t, at), frame.get_mut(6..12)) {
        s.copy_from_slice(&m);
    }
}
