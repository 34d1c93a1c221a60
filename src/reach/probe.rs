//! One probe per class: the packet, sent through a fresh data plane (with the receiver's
//! reply where the protocol has one), and its answer reduced to what is the same for
//! every packet of the class.

use std::net::Ipv4Addr;
use std::sync::Arc;

use serde::Serialize;

use crate::compile::{EniIdx, Tables};
use crate::pipeline::{Dataplane, DataplaneConfig, Ingress, INTERNET_MAC, VROUTER_MAC};
use crate::probe::{self, Endpoint, ProbeRequest, ProbeResult, Proto};
use crate::time::SimTime;
use crate::wire::{self, ProbeL4, ProbeSpec, TcpFlags};

/// Where a packet is sent from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sender {
    Internet,
    /// The instance's guest sends (its routing picks the device).
    Guest(u16),
    /// Sent on the ENI as is.
    Eni(EniIdx),
}

/// A packet of a class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    pub from: Sender,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    /// IP protocol number.
    pub proto: u8,
    pub sport: u16,
    /// Destination port (ignored for protocols without ports).
    pub dport: u16,
}

/// The source port class probes use (the one `probe::send` uses).
pub const CLASS_SPORT: u16 = 40000;

/// What the reply did.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ReplyAnswer {
    /// `returned` (reached the sender), `delivered`/`internet` elsewhere, or `dropped`.
    pub outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
}

/// The answer of a class: what is the same for every packet in it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Answer {
    /// delivered, internet or dropped.
    pub outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eni: Option<String>,
    /// The source address the receiver sees: `unchanged`, an address, or `A or B` (a
    /// SNAT entry with several EIPs picks one per connection).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_seen: Option<String>,
    /// The destination address the receiver sees (`unchanged` or an address).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_seen: Option<String>,
    /// Port seen − port sent (DNAT port mapping); 0 otherwise.
    pub port_shift: i32,
    /// The translations on the way: `eip eip-web`, `dnat fwd-1`, `snat snat-vpc`.
    pub via: Vec<String>,
    /// The security-group rule (or default) that let the packet in, as the trace names it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply: Option<ReplyAnswer>,
}

fn fresh(t: &Arc<Tables>) -> Dataplane {
    Dataplane::new(
        Arc::clone(t),
        DataplaneConfig {
            conntrack_capacity: 16,
            ..Default::default()
        },
    )
}

/// Sends `p` (and its reply) through a fresh data plane; `probe::send` for the class
/// probes of TCP, UDP and ICMP, a built frame for the others.
pub fn send(t: &Arc<Tables>, p: &Packet) -> Answer {
    let mut dp = fresh(t);
    let proto = match p.proto {
        6 => Some(Proto::Tcp),
        17 => Some(Proto::Udp),
        1 => Some(Proto::Icmp),
        _ => None,
    };
    let from = match p.from {
        Sender::Internet => Some(Endpoint::Internet(p.src)),
        Sender::Guest(i) => t
            .instances
            .get(i as usize)
            .map(|x| Endpoint::Instance(x.id.clone())),
        Sender::Eni(e) => t.enis.get(e as usize).map(|x| Endpoint::Eni(x.id.clone())),
    };
    if let (Some(proto), Some(from), CLASS_SPORT) = (proto, from, p.sport) {
        let req = ProbeRequest {
            from,
            to: p.dst,
            port: p.dport,
            proto,
            src: Some(p.src),
            ttl: 64,
        };
        if let Ok(r) = probe::send(&mut dp, &req, true, SimTime::ZERO) {
            return answer(t, p, &r);
        }
    }
    send_built(t, &mut dp, p)
}

fn mac_of(t: &Tables, from: Sender) -> [u8; 6] {
    match from {
        Sender::Internet => INTERNET_MAC,
        Sender::Guest(i) => t
            .instances
            .get(i as usize)
            .and_then(|x| x.devices.first())
            .map_or(INTERNET_MAC, |e| t.eni(*e).mac),
        Sender::Eni(e) => t.enis.get(e as usize).map_or(INTERNET_MAC, |x| x.mac),
    }
}

fn ingress(from: Sender) -> Ingress {
    match from {
        Sender::Internet => Ingress::Internet,
        Sender::Guest(i) => Ingress::Guest(i),
        Sender::Eni(e) => Ingress::Eni(e),
    }
}

/// Builds the frame of any packet (any protocol, any source port) and its reply.
pub fn send_built(t: &Arc<Tables>, dp: &mut Dataplane, p: &Packet) -> Answer {
    let l4 = match p.proto {
        6 => ProbeL4::Tcp {
            sport: p.sport,
            dport: p.dport,
            flags: TcpFlags::SYN,
            seq: 1000,
            ack: 0,
        },
        1 => ProbeL4::IcmpEcho {
            request: true,
            ident: p.sport,
            seq: 1,
        },
        _ => ProbeL4::Udp {
            sport: p.sport,
            dport: p.dport,
        },
    };
    let mut frame = wire::build(&ProbeSpec {
        src_mac: mac_of(t, p.from),
        dst_mac: VROUTER_MAC,
        src: p.src,
        dst: p.dst,
        ttl: 64,
        ident: 1,
        l4,
        payload: Vec::new(),
    });
    if !matches!(p.proto, 1 | 6 | 17) {
        // Another protocol: the eight bytes after the IP header are its payload.
        set_protocol(&mut frame, p.proto);
    }
    let mut r = probe::inject(dp, t, frame, ingress(p.from), SimTime::ZERO);
    if let Some((frame, at)) = reply(t, &r) {
        r.reply = Some(Box::new(probe::inject(dp, t, frame, at, SimTime::ZERO)));
    }
    answer(t, p, &r)
}

const IP: usize = 14;

fn set_protocol(frame: &mut [u8], proto: u8) {
    if frame.len() < IP + 20 {
        return;
    }
    frame[IP + 9] = proto;
    frame[IP + 10] = 0;
    frame[IP + 11] = 0;
    let c = wire::checksum::checksum(&frame[IP..IP + 20]);
    frame[IP + 10..IP + 12].copy_from_slice(&c.to_be_bytes());
}

/// The receiver's answer, as `probe::send` builds it: from the receiving guest (or the
/// Internet host), addresses and ports swapped.
fn reply(t: &Tables, r: &ProbeResult) -> Option<(Vec<u8>, Ingress)> {
    let got = wire::parse(&r.frame_out).ok()?;
    let (at, mac) = match r.disposition {
        "delivered" => {
            let e = *t.eni_index.get(r.eni.as_deref()?)?;
            let at = match &r.instance {
                Some(i) => Ingress::Guest(*t.instance_index.get(i)?),
                None => Ingress::Eni(e),
            };
            (at, t.eni(e).mac)
        }
        "internet" => (Ingress::Internet, INTERNET_MAC),
        _ => return None,
    };
    let l4 = probe::reply_l4(&got, 5000)?;
    let frame = wire::build(&ProbeSpec {
        src_mac: mac,
        dst_mac: VROUTER_MAC,
        src: got.dst,
        dst: got.src,
        ttl: 64,
        ident: 2,
        l4,
        payload: Vec::new(),
    });
    Some((frame, at))
}

fn seen(sent: Ipv4Addr, got: Option<Ipv4Addr>) -> Option<String> {
    got.map(|g| {
        if g == sent {
            "unchanged".to_string()
        } else {
            g.to_string()
        }
    })
}

/// Reduces a probe's result to its class answer.
pub fn answer(t: &Tables, p: &Packet, r: &ProbeResult) -> Answer {
    let mut source_seen = seen(p.src, r.source_seen);
    // A SNAT entry with several EIPs and no affinity picks one per connection (a hash of
    // the tuple): the class's answer is the set.
    if let Some(h) = r.hops.iter().find(|h| h.stage == "snat") {
        for g in &t.nat_gateways {
            if let Some((_, e)) = g.snat.lookup(u32::from(p.src)) {
                if e.id == h.resource && e.eips.len() > 1 && !e.affinity {
                    let mut v: Vec<String> = e.eips.iter().map(|a| a.to_string()).collect();
                    v.sort();
                    source_seen = Some(v.join(" or "));
                }
            }
        }
    }
    let port_shift = match (wire::parse(&r.frame_out), p.proto) {
        (Ok(i), 6 | 17) if r.disposition != "dropped" => {
            i32::from(i.ports().1) - i32::from(p.dport)
        }
        _ => 0,
    };
    let via = r
        .hops
        .iter()
        .filter(|h| matches!(h.stage, "eip" | "snat" | "dnat"))
        .map(|h| match h.stage {
            "eip" if t.instance_index.contains_key(&h.resource) => {
                format!("static_public_ip {}", h.resource)
            }
            s => format!("{s} {}", h.resource),
        })
        .collect();
    let rule = r
        .hops
        .iter()
        .filter(|h| h.stage == "sg_ingress")
        .find_map(|h| h.detail.strip_prefix("allowed: "))
        .map(str::to_string)
        .filter(|_| r.disposition == "delivered");
    let reply = r.reply.as_deref().map(|x| ReplyAnswer {
        outcome: if x.disposition != "dropped" && x.destination_seen == Some(p.src) {
            "returned"
        } else {
            x.disposition
        },
        reason: x.reason,
    });
    Answer {
        outcome: r.disposition,
        reason: r.reason,
        instance: r.instance.clone(),
        eni: r.eni.clone(),
        source_seen,
        destination_seen: seen(p.dst, r.destination_seen),
        port_shift,
        via,
        rule,
        reply,
    }
}
