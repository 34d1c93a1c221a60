//! ARP (RFC 826) over Ethernet for IPv4, read and written with `pnet_packet`'s views,
//! and the names of EtherTypes the VPC does not carry.

use std::net::Ipv4Addr;

use pnet_base::MacAddr;
use pnet_packet::arp::{
    ArpHardwareTypes, ArpOperation, ArpOperations, ArpPacket, MutableArpPacket,
};
use pnet_packet::ethernet::{EtherType, EtherTypes, EthernetPacket, MutableEthernetPacket};
use pnet_packet::Packet;

use super::frame::ETH_LEN;

/// EtherType of ARP.
pub const ETHERTYPE_ARP: u16 = 0x0806;
/// Length of an ARP packet for IPv4 over Ethernet.
pub const ARP_LEN: usize = 28;

/// The fields of an IPv4-over-Ethernet ARP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arp {
    /// 1 request, 2 reply.
    pub operation: u16,
    pub sender_mac: [u8; 6],
    pub sender_ip: Ipv4Addr,
    pub target_mac: [u8; 6],
    pub target_ip: Ipv4Addr,
}

impl Arp {
    pub fn is_request(&self) -> bool {
        self.operation == ArpOperations::Request.0
    }

    /// A gratuitous ARP (an announcement: sender and target address are the same) or an
    /// ARP probe (RFC 5227: sender address 0.0.0.0, a duplicate-address check).
    pub fn is_announcement_or_probe(&self) -> bool {
        self.sender_ip == self.target_ip || self.sender_ip.is_unspecified()
    }
}

/// Reads the ARP packet of an Ethernet frame with EtherType 0x0806; `None` if it is
/// not IPv4-over-Ethernet ARP or is truncated.
pub fn parse_arp(frame: &[u8]) -> Option<Arp> {
    let eth = EthernetPacket::new(frame)?;
    if eth.get_ethertype() != EtherTypes::Arp {
        return None;
    }
    let arp = ArpPacket::new(eth.payload())?;
    if arp.get_hardware_type() != ArpHardwareTypes::Ethernet
        || arp.get_protocol_type() != EtherTypes::Ipv4
        || arp.get_hw_addr_len() != 6
        || arp.get_proto_addr_len() != 4
    {
        return None;
    }
    Some(Arp {
        operation: arp.get_operation().0,
        sender_mac: arp.get_sender_hw_addr().octets(),
        sender_ip: arp.get_sender_proto_addr(),
        target_mac: arp.get_target_hw_addr().octets(),
        target_ip: arp.get_target_proto_addr(),
    })
}

fn mac(m: [u8; 6]) -> MacAddr {
    MacAddr::new(m[0], m[1], m[2], m[3], m[4], m[5])
}

/// Builds an Ethernet frame carrying `arp`, from `src_mac` to `dst_mac` (42 bytes: the
/// minimum-size padding is left to the link, as captures show it).
pub fn build_arp(src_mac: [u8; 6], dst_mac: [u8; 6], arp: &Arp) -> Vec<u8> {
    let mut out = vec![0u8; ETH_LEN + ARP_LEN];
    if let Some(mut eth) = MutableEthernetPacket::new(&mut out) {
        eth.set_destination(mac(dst_mac));
        eth.set_source(mac(src_mac));
        eth.set_ethertype(EtherTypes::Arp);
    }
    if let Some(mut a) = out.get_mut(ETH_LEN..).and_then(MutableArpPacket::new) {
        a.set_hardware_type(ArpHardwareTypes::Ethernet);
        a.set_protocol_type(EtherTypes::Ipv4);
        a.set_hw_addr_len(6);
        a.set_proto_addr_len(4);
        a.set_operation(ArpOperation(arp.operation));
        a.set_sender_hw_addr(mac(arp.sender_mac));
        a.set_sender_proto_addr(arp.sender_ip);
        a.set_target_hw_addr(mac(arp.target_mac));
        a.set_target_proto_addr(arp.target_ip);
    }
    out
}

/// The answer to an ARP request `req`: `answer_mac` is at the requested address, sent
/// from `answer_mac` to the requester.
pub fn arp_reply(req: &Arp, answer_mac: [u8; 6]) -> Vec<u8> {
    build_arp(
        answer_mac,
        req.sender_mac,
        &Arp {
            operation: ArpOperations::Reply.0,
            sender_mac: answer_mac,
            sender_ip: req.target_ip,
            target_mac: req.sender_mac,
            target_ip: req.sender_ip,
        },
    )
}

/// What kind of non-IPv4 EtherType a frame carries, for the drop reason that names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EtherKind {
    Arp,
    /// An 802.1Q (0x8100), 802.1ad (0x88a8) or legacy QinQ (0x9100) VLAN tag.
    Vlan,
    Ipv6,
    Other,
}

impl EtherKind {
    pub fn of(ethertype: u16) -> EtherKind {
        match ethertype {
            ETHERTYPE_ARP => EtherKind::Arp,
            0x8100 | 0x88a8 | 0x9100 => EtherKind::Vlan,
            0x86dd => EtherKind::Ipv6,
            _ => EtherKind::Other,
        }
    }
}

/// `0x86dd (IPv6)`, `0x8100 (802.1Q VLAN tag)`, ...: the EtherType as a person reads it.
pub fn ethertype_text(ethertype: u16) -> String {
    let name = match ethertype {
        0x8100 => "802.1Q VLAN tag".to_string(),
        0x88a8 => "802.1ad VLAN tag".to_string(),
        0x9100 => "QinQ VLAN tag".to_string(),
        0x86dd => "IPv6".to_string(),
        0x0806 => "ARP".to_string(),
        t if t < 0x0600 => "an IEEE 802.3 length field, not an EtherType".to_string(),
        t => match EtherType(t).to_string().as_str() {
            "unknown" => "unknown".to_string(),
            n => n.to_string(),
        },
    };
    format!("{ethertype:#06x} ({name})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_built_reply_parses_back() {
        let req = Arp {
            operation: 1,
            sender_mac: [0, 0x16, 0x3e, 1, 2, 3],
            sender_ip: Ipv4Addr::new(192, 168, 1, 10),
            target_mac: [0; 6],
            target_ip: Ipv4Addr::new(192, 168, 1, 253),
        };
        let f = build_arp(req.sender_mac, [0xff; 6], &req);
        assert_eq!(parse_arp(&f), Some(req));
        let r = arp_reply(&req, [0xee, 0xff, 0xff, 0xff, 0xff, 0xff]);
        let a = parse_arp(&r).unwrap();
        assert_eq!(a.operation, 2);
        assert_eq!(a.sender_ip, req.target_ip);
        assert_eq!(a.target_mac, req.sender_mac);
        assert_eq!(&r[..6], &req.sender_mac);
        assert_eq!(&r[6..12], &[0xee, 0xff, 0xff, 0xff, 0xff, 0xff]);
    }

    #[test]
    fn truncated_or_foreign_arp_is_refused() {
        let req = Arp {
            operation: 1,
            sender_mac: [2; 6],
            sender_ip: Ipv4Addr::new(10, 0, 0, 1),
            target_mac: [0; 6],
            target_ip: Ipv4Addr::new(10, 0, 0, 2),
        };
        let f = build_arp([2; 6], [0xff; 6], &req);
        for n in 0..f.len() {
            assert_eq!(parse_arp(&f[..n]), None, "{n} bytes");
        }
        let mut g = f.clone();
        g[ETH_LEN] = 1; // hardware type 0x0101
        assert_eq!(parse_arp(&g), None);
    }

    #[test]
    fn ethertypes_are_named() {
        assert_eq!(ethertype_text(0x86dd), "0x86dd (IPv6)");
        assert_eq!(ethertype_text(0x8100), "0x8100 (802.1Q VLAN tag)");
        assert_eq!(ethertype_text(0x88cc), "0x88cc (Lldp)");
        assert_eq!(ethertype_text(0x1234), "0x1234 (unknown)");
    }
}
