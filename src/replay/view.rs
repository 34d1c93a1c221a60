//! Frames as fields, for naming the first difference between two captures.

use std::net::Ipv4Addr;
use std::path::Path;

use serde::Serialize;

use crate::pcapio::PcapError;
use crate::pipeline::drop;
use crate::wire::{self, L4};

fn mac(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The fields of a frame, in the order a reader looks at them, for naming the first
/// difference between two packets.
pub fn fields(frame: &[u8]) -> Vec<(&'static str, String)> {
    let mut v = vec![("frame.len", frame.len().to_string())];
    if frame.len() >= 12 {
        v.push(("eth.dst", mac(&frame[0..6])));
        v.push(("eth.src", mac(&frame[6..12])));
    }
    let u16_at = |o: usize| {
        frame
            .get(o..o + 2)
            .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]))
    };
    // The IPv4 header straight from the bytes, so a frame the parser refuses (a bad
    // checksum, say) still names its fields.
    if u16_at(12) != 0x0800 || frame.len() < 34 {
        return v;
    }
    let addr = |o: usize| Ipv4Addr::new(frame[o], frame[o + 1], frame[o + 2], frame[o + 3]);
    v.push(("ip.src", addr(26).to_string()));
    v.push(("ip.dst", addr(30).to_string()));
    v.push(("ip.proto", frame[23].to_string()));
    v.push(("ip.ttl", frame[22].to_string()));
    v.push(("ip.id", format!("{:#06x}", u16_at(18))));
    v.push(("ip.len", u16_at(16).to_string()));
    v.push(("ip.checksum", format!("{:#06x}", u16_at(24))));
    let Ok(i) = wire::parse(frame) else {
        return v;
    };
    let l4 = i.l4_offset;
    match i.l4 {
        L4::Tcp {
            sport,
            dport,
            flags,
            seq,
            ack,
        } => {
            v.push(("tcp.srcport", sport.to_string()));
            v.push(("tcp.dstport", dport.to_string()));
            v.push(("tcp.flags", format!("{:#04x}", flags.0)));
            v.push(("tcp.seq", seq.to_string()));
            v.push(("tcp.ack", ack.to_string()));
            v.push(("tcp.checksum", format!("{:#06x}", u16_at(l4 + 16))));
        }
        L4::Udp { sport, dport } => {
            v.push(("udp.srcport", sport.to_string()));
            v.push(("udp.dstport", dport.to_string()));
            v.push(("udp.checksum", format!("{:#06x}", u16_at(l4 + 6))));
        }
        L4::IcmpEcho {
            request,
            ident,
            seq,
        } => {
            v.push(("icmp.type", if request { "8" } else { "0" }.to_string()));
            v.push(("icmp.ident", ident.to_string()));
            v.push(("icmp.seq", seq.to_string()));
            v.push(("icmp.checksum", format!("{:#06x}", u16_at(l4 + 2))));
        }
        L4::IcmpError {
            icmp_type, code, ..
        }
        | L4::IcmpOther { icmp_type, code } => {
            v.push(("icmp.type", icmp_type.to_string()));
            v.push(("icmp.code", code.to_string()));
            v.push(("icmp.checksum", format!("{:#06x}", u16_at(l4 + 2))));
        }
        L4::Fragment | L4::Other => {}
    }
    v
}

/// A packet as JSON shows it: its fields as values, and the one-line display beside.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PacketView {
    pub len: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub src: Option<Ipv4Addr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dst: Option<Ipv4Addr>,
    /// `tcp`, `udp`, `icmp`, or the IP protocol number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sport: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dport: Option<u16>,
    /// TCP flags as tcpdump letters (`SA`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flags: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icmp_type: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icmp_code: Option<u8>,
    /// Why the frame does not parse (`malformed_frame.ipv4_bad_checksum`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub malformed: Option<String>,
    pub display: String,
}

impl PacketView {
    pub fn of(frame: &[u8]) -> PacketView {
        let mut v = PacketView {
            len: frame.len(),
            src: None,
            dst: None,
            protocol: None,
            sport: None,
            dport: None,
            flags: None,
            ttl: None,
            icmp_type: None,
            icmp_code: None,
            malformed: None,
            display: String::new(),
        };
        let i = match wire::parse(frame) {
            Ok(i) => i,
            Err(e) => {
                v.malformed = Some(drop::malformed_name(&e));
                v.display = format!("{} bytes: {e}", frame.len());
                return v;
            }
        };
        v.src = Some(i.src);
        v.dst = Some(i.dst);
        v.ttl = Some(i.ttl);
        v.protocol = Some(match i.proto {
            wire::proto::TCP => "tcp".into(),
            wire::proto::UDP => "udp".into(),
            wire::proto::ICMP => "icmp".into(),
            p => p.to_string(),
        });
        match i.l4 {
            L4::Tcp {
                sport,
                dport,
                flags,
                ..
            } => {
                (v.sport, v.dport) = (Some(sport), Some(dport));
                v.flags = Some(flags.to_string());
            }
            L4::Udp { sport, dport } => (v.sport, v.dport) = (Some(sport), Some(dport)),
            L4::IcmpEcho { request, .. } => {
                v.icmp_type = Some(if request { 8 } else { 0 });
                v.icmp_code = Some(0);
            }
            L4::IcmpError {
                icmp_type, code, ..
            }
            | L4::IcmpOther { icmp_type, code } => {
                (v.icmp_type, v.icmp_code) = (Some(icmp_type), Some(code));
            }
            L4::Fragment | L4::Other => {}
        }
        v.display = crate::pipeline::summary(&i);
        v
    }
}

/// The first difference between an output and its expected capture.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Difference {
    /// The packet, numbered from 1 as Wireshark does.
    pub packet: usize,
    /// "packet 3: ip.src 47.96.100.1 != 47.96.10.20" (left = actual, right = expected).
    pub message: String,
    /// The packets at that place (absent past the end of a list).
    pub actual: Option<PacketView>,
    pub expected: Option<PacketView>,
}

/// Compares two packet lists; `None` when identical, else the first difference's
/// message (see [`difference`]).
pub fn compare(actual: &[Vec<u8>], expected: &[Vec<u8>]) -> Option<String> {
    difference(actual, expected).map(|d| d.message)
}

/// Compares two packet lists; `None` when identical, else the first difference, e.g.
/// "packet 3: ip.src 47.96.100.1 != 47.96.10.20" (packets numbered from 1, as
/// Wireshark does; left = actual, right = expected).
pub fn difference(actual: &[Vec<u8>], expected: &[Vec<u8>]) -> Option<Difference> {
    let at = |n: usize, message: String| Difference {
        packet: n + 1,
        message,
        actual: actual.get(n).map(|f| PacketView::of(f)),
        expected: expected.get(n).map(|f| PacketView::of(f)),
    };
    for (n, (a, e)) in actual.iter().zip(expected).enumerate() {
        if a == e {
            continue;
        }
        let (fa, fe) = (fields(a), fields(e));
        for ((name, va), (name_e, ve)) in fa.iter().zip(&fe) {
            if name != name_e {
                return Some(at(
                    n,
                    format!(
                        "packet {}: {name} != {name_e} (different kinds of packet)",
                        n + 1
                    ),
                ));
            }
            if va != ve {
                return Some(at(n, format!("packet {}: {name} {va} != {ve}", n + 1)));
            }
        }
        let k = a.iter().zip(e).position(|(x, y)| x != y).unwrap_or(0);
        return Some(at(
            n,
            format!(
                "packet {}: byte {k} {:#04x} != {:#04x}",
                n + 1,
                a.get(k).copied().unwrap_or(0),
                e.get(k).copied().unwrap_or(0)
            ),
        ));
    }
    if actual.len() != expected.len() {
        let n = actual.len().min(expected.len());
        return Some(at(
            n,
            format!(
                "{} packets != {} expected (packet {} is the first {})",
                actual.len(),
                expected.len(),
                n + 1,
                if actual.len() > expected.len() {
                    "extra"
                } else {
                    "missing"
                }
            ),
        ));
    }
    None
}

/// Reads every packet of a capture (for comparisons).
pub fn read_packets(path: &Path) -> Result<Vec<Vec<u8>>, PcapError> {
    crate::pcapio::CaptureReader::open(path)?
        .map(|r| r.map(|r| r.data))
        .collect()
}
