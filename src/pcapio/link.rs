//! The link layers a capture can have, and what each record holds once its link-layer
//! header is read: a whole Ethernet frame, or a network-layer packet whose Ethernet
//! header the injector supplies (the replay's endpoint knows the MACs).
//!
//! Formats, from tcpdump.org's link-layer header types
//! (<https://www.tcpdump.org/linktypes.html>):
//! * `LINKTYPE_ETHERNET` (1): an Ethernet II frame.
//! * `LINKTYPE_RAW` (101): an IPv4 or IPv6 packet, told apart by the version nibble.
//! * `LINKTYPE_LINUX_SLL` (113, `tcpdump -i any` before libpcap 1.10), 16 bytes
//!   (<https://www.tcpdump.org/linktypes/LINKTYPE_LINUX_SLL.html>): packet type (2),
//!   ARPHRD_ type (2), link-layer address length (2), link-layer address (8, padded),
//!   protocol type (2, big-endian).
//! * `LINKTYPE_IPV4` (228) / `LINKTYPE_IPV6` (229): a raw IPv4 / IPv6 packet.
//! * `LINKTYPE_LINUX_SLL2` (276, `tcpdump -i any` since libpcap 1.10), 20 bytes
//!   (<https://www.tcpdump.org/linktypes/LINKTYPE_LINUX_SLL2.html>): protocol type (2),
//!   reserved (2), interface index (4), ARPHRD_ type (2), packet type (1), link-layer
//!   address length (1), link-layer address (8, padded).
//!
//! In both cooked formats the protocol type is an EtherType when it is 0x0600 or above;
//! below, it is one of Linux's own frame kinds (802.3 without LLC, 802.2 LLC, CAN, …),
//! and with ARPHRD_NETLINK (824) a netlink family: neither is a packet the VPC carries.
//! The cooked header's own link-layer address is not used: the injection point supplies
//! the MACs, as it would for a raw-IP capture.

use std::fmt;

/// `LINKTYPE_ETHERNET`.
pub const LINKTYPE_ETHERNET: u32 = 1;
/// `LINKTYPE_RAW`: raw IPv4 or IPv6, no link-layer header.
pub const LINKTYPE_RAW: u32 = 101;
/// `LINKTYPE_LINUX_SLL`: Linux cooked capture v1.
pub const LINKTYPE_LINUX_SLL: u32 = 113;
/// `LINKTYPE_IPV4`: raw IPv4.
pub const LINKTYPE_IPV4: u32 = 228;
/// `LINKTYPE_IPV6`: raw IPv6.
pub const LINKTYPE_IPV6: u32 = 229;
/// `LINKTYPE_LINUX_SLL2`: Linux cooked capture v2.
pub const LINKTYPE_LINUX_SLL2: u32 = 276;

/// Every link type a capture may have for its packets to be replayed.
pub const SUPPORTED: [u32; 6] = [
    LINKTYPE_ETHERNET,
    LINKTYPE_RAW,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_IPV4,
    LINKTYPE_IPV6,
    LINKTYPE_LINUX_SLL2,
];

/// The accepted link types, for messages.
pub const SUPPORTED_TEXT: &str = "Ethernet (1), raw IP (101), Linux cooked v1 (113), \
     raw IPv4 (228), raw IPv6 (229), Linux cooked v2 (276)";

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86DD;
const SLL_LEN: usize = 16;
const SLL2_LEN: usize = 20;
const ARPHRD_NETLINK: u16 = 824;

/// Whether packets of this link type can be replayed.
pub fn supported(link_type: u32) -> bool {
    SUPPORTED.contains(&link_type)
}

/// What a record holds, its link-layer header read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload<'a> {
    /// A whole Ethernet frame.
    Ethernet(&'a [u8]),
    /// A network-layer packet and its EtherType; the Ethernet header is to be supplied.
    Network { ethertype: u16, packet: &'a [u8] },
}

impl Payload<'_> {
    /// The Ethernet frame: as captured, or `src`/`dst` + EtherType + the packet.
    pub fn to_ethernet(self, src: [u8; 6], dst: [u8; 6]) -> Vec<u8> {
        match self {
            Payload::Ethernet(f) => f.to_vec(),
            Payload::Network { ethertype, packet } => {
                let mut f = Vec::with_capacity(14 + packet.len());
                f.extend_from_slice(&dst);
                f.extend_from_slice(&src);
                f.extend_from_slice(&ethertype.to_be_bytes());
                f.extend_from_slice(packet);
                f
            }
        }
    }
}

/// Why a record's link layer cannot be replayed (a per-record issue: the rest of the
/// capture goes on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkIssue {
    /// The record's interface has a link type vpcsim does not read.
    UnsupportedLinkType { link_type: u32 },
    /// The record is shorter than its link type's header.
    Truncated {
        link_type: u32,
        len: usize,
        needed: usize,
    },
    /// A cooked record whose protocol is not an EtherType (Linux's 802.2 LLC, CAN,
    /// netlink, …).
    NotEtherType {
        link_type: u32,
        protocol: u16,
        arphrd: u16,
    },
}

impl LinkIssue {
    /// The drop-reason name a replay counts it under.
    pub fn name(self) -> &'static str {
        match self {
            LinkIssue::UnsupportedLinkType { .. } => "capture_link_type_unsupported",
            LinkIssue::Truncated { .. } => "capture_link_header_truncated",
            LinkIssue::NotEtherType { .. } => "capture_link_protocol_unsupported",
        }
    }

    /// Every name [`LinkIssue::name`] gives.
    pub const NAMES: [&'static str; 3] = [
        "capture_link_type_unsupported",
        "capture_link_header_truncated",
        "capture_link_protocol_unsupported",
    ];
}

impl fmt::Display for LinkIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            LinkIssue::UnsupportedLinkType { link_type } => write!(
                f,
                "link type {link_type} ({}) is not replayed; accepted: {SUPPORTED_TEXT}",
                super::link_type_name(link_type)
            ),
            LinkIssue::Truncated {
                link_type,
                len,
                needed,
            } => write!(
                f,
                "{len} bytes, shorter than the {needed}-byte {} header",
                super::link_type_name(link_type)
            ),
            LinkIssue::NotEtherType {
                link_type,
                protocol,
                arphrd,
            } => write!(
                f,
                "{} protocol {protocol:#06x} (ARPHRD {arphrd}) is not an EtherType \
                 (Linux's 802.3/802.2 LLC, CAN or netlink frames are not carried by a VPC)",
                super::link_type_name(link_type)
            ),
        }
    }
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// Reads a record's link-layer header.
pub fn decode(link_type: u32, data: &[u8]) -> Result<Payload<'_>, LinkIssue> {
    let network = |ethertype, packet| Ok(Payload::Network { ethertype, packet });
    let cooked = |header: usize, proto_at: usize, arphrd_at: usize| {
        if data.len() < header {
            return Err(LinkIssue::Truncated {
                link_type,
                len: data.len(),
                needed: header,
            });
        }
        let (protocol, arphrd) = (be16(data, proto_at), be16(data, arphrd_at));
        if protocol < 0x0600 || arphrd == ARPHRD_NETLINK {
            return Err(LinkIssue::NotEtherType {
                link_type,
                protocol,
                arphrd,
            });
        }
        network(protocol, &data[header..])
    };
    match link_type {
        LINKTYPE_ETHERNET => Ok(Payload::Ethernet(data)),
        LINKTYPE_LINUX_SLL => cooked(SLL_LEN, 14, 2),
        LINKTYPE_LINUX_SLL2 => cooked(SLL2_LEN, 0, 8),
        LINKTYPE_IPV4 => network(ETHERTYPE_IPV4, data),
        LINKTYPE_IPV6 => network(ETHERTYPE_IPV6, data),
        // The version nibble tells IPv4 from IPv6; anything else goes on as IPv4, so
        // the parser names the bad version (`malformed_frame.ipv4_bad_version`).
        LINKTYPE_RAW => match data.first().map(|b| b >> 4) {
            Some(6) => network(ETHERTYPE_IPV6, data),
            _ => network(ETHERTYPE_IPV4, data),
        },
        _ => Err(LinkIssue::UnsupportedLinkType { link_type }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: [u8; 4] = [0x45, 0, 0, 20];

    #[test]
    fn each_link_type_gives_the_packet_and_its_ethertype() {
        let mut sll = vec![0, 4, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0x08, 0x00];
        sll.extend_from_slice(&IP);
        let mut sll2 = vec![
            0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 4, 6, 1, 2, 3, 4, 5, 6, 0, 0,
        ];
        sll2.extend_from_slice(&IP);
        let want = Payload::Network {
            ethertype: 0x0800,
            packet: &IP,
        };
        assert_eq!(decode(LINKTYPE_LINUX_SLL, &sll), Ok(want));
        assert_eq!(decode(LINKTYPE_LINUX_SLL2, &sll2), Ok(want));
        assert_eq!(decode(LINKTYPE_RAW, &IP), Ok(want));
        assert_eq!(decode(LINKTYPE_IPV4, &IP), Ok(want));
        let v6 = [0x60, 0, 0, 0];
        assert!(matches!(
            decode(LINKTYPE_RAW, &v6),
            Ok(Payload::Network {
                ethertype: 0x86DD,
                ..
            })
        ));
        assert_eq!(decode(1, &IP), Ok(Payload::Ethernet(&IP)));
    }

    #[test]
    fn supplied_ethernet_header_is_dst_src_ethertype() {
        let f = decode(LINKTYPE_IPV4, &IP)
            .unwrap()
            .to_ethernet([1; 6], [2; 6]);
        assert_eq!(&f[..6], &[2; 6]);
        assert_eq!(&f[6..12], &[1; 6]);
        assert_eq!(&f[12..14], &[0x08, 0x00]);
        assert_eq!(&f[14..], &IP);
    }

    #[test]
    fn what_cannot_be_replayed_is_a_named_issue() {
        assert_eq!(
            decode(LINKTYPE_LINUX_SLL2, &[0x08, 0]),
            Err(LinkIssue::Truncated {
                link_type: 276,
                len: 2,
                needed: 20
            })
        );
        // 802.2 LLC (protocol 0x0004) in a cooked v1 header.
        let mut llc = vec![0u8; 16];
        llc[3] = 1;
        llc[15] = 4;
        let e = decode(LINKTYPE_LINUX_SLL, &llc).unwrap_err();
        assert_eq!(e.name(), "capture_link_protocol_unsupported");
        assert!(e.to_string().contains("0x0004"), "{e}");
        let e = decode(105, &IP).unwrap_err();
        assert_eq!(e, LinkIssue::UnsupportedLinkType { link_type: 105 });
        assert!(e.to_string().contains("Wi-Fi"), "{e}");
        for n in LinkIssue::NAMES {
            assert!(n.starts_with("capture_link_"));
        }
    }
}
