//! Why a packet stopped: one flat enum naming the stage and the cause, counted everywhere.
//!
//! `malformed_frame` is one reason with a precise sub-name per [`WireError`]
//! (`malformed_frame.ipv4_bad_checksum`): the category stays countable as one, and the
//! edges (replay summary, `--json`, capture comments) show the precise name.

use std::borrow::Cow;

use serde::Serialize;

use crate::wire::{self, WireError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DropReason {
    /// The frame failed to parse (`wire::WireError::name` says how).
    MalformedFrame,
    /// IPv4 options: the simulated VPC refuses them.
    Ipv4Options,
    /// A fragment that virtual reassembly could not place (no first fragment seen,
    /// buffer full or timed out).
    Fragment,
    /// TTL ran out at a routed hop; an ICMP time-exceeded went back.
    TtlExceeded,
    /// The sending instance or the receiving ENI's instance is not Running.
    InstanceNotRunning,
    /// The guest OS has no route for the destination.
    GuestNoRoute,
    /// [decision] anti-spoofing: the source address does not belong to the ENI the packet
    /// leaves by.
    EniSourceCheck,
    SgEgressDenied,
    SgIngressDenied,
    /// The VSwitch's route table has no route for the destination.
    NoRoute,
    /// A route's next hop is of a type vpcsim does not forward through.
    NextHopUnmodelled,
    /// Local route, but no ENI holds the destination private IP.
    NoSuchPrivateIp,
    /// The route points at a NAT gateway that has no SNAT entry for the source.
    NoSnatEntry,
    /// Every SNAT port for this EIP and destination is taken (~55,000).
    SnatPortsExhausted,
    /// From the Internet to an address no resource of the scenario holds.
    PublicIpUnknown,
    /// From the Internet to an EIP bound to nothing.
    EipUnbound,
    /// From the Internet to a NAT gateway EIP with neither a SNAT session nor a DNAT entry.
    NatGatewayNoMapping,
    /// An EIP bound to a resource vpcsim does not forward to (SLB, HAVIP).
    TargetUnmodelled,
    /// A cut-through ENI has no private network.
    CutThroughNoPrivateNetwork,
    /// The connection tracker is full of established flows; the new one is refused.
    ConntrackFull,
    /// A hairpin loop deeper than vpcsim follows.
    HairpinLoop,
    /// An ICMP error about a flow vpcsim has no state for.
    IcmpErrorNoFlow,
    /// Larger than the MTU of a link on its path (the ENI's 1500 or 8500, 1500 at the NAT
    /// gateway and the Internet edge) with DF set: an ICMP fragmentation-needed carrying
    /// the next-hop MTU went back (RFC 1191). Also a too-big non-first fragment with DF.
    MtuExceeded,
    /// The ENI the packet leaves or would reach is attached to no instance.
    EniNotAttached,
    /// [decision] the frame's source MAC is not the MAC of the ENI it was sent on (of any
    /// ENI of the sending instance, for frames the guest sends).
    EniSourceMac,
    /// An ARP request the VSwitch answered (the reply, from `ee:ff:ff:ff:ff:ff`, is in the
    /// generated packets); the request itself goes no further.
    ArpAnswered,
    /// ARP the VSwitch does not answer: gratuitous ARP and probes, replies, requests for
    /// addresses outside the VSwitch CIDR, ARP from the Internet edge, ARP that is not
    /// IPv4 over Ethernet.
    ArpIgnored,
    /// An 802.1Q / 802.1ad VLAN-tagged frame (EtherType 0x8100, 0x88a8, 0x9100): the VPC
    /// carries untagged frames only.
    #[serde(rename = "unsupported_ethertype.vlan")]
    UnsupportedEthertypeVlan,
    /// An IPv6 frame (EtherType 0x86dd): vpcsim models IPv4 only.
    #[serde(rename = "unsupported_ethertype.ipv6")]
    UnsupportedEthertypeIpv6,
    /// Any other EtherType that is neither IPv4 nor ARP (the trace names it).
    #[serde(rename = "unsupported_ethertype.other")]
    UnsupportedEthertypeOther,
    /// An established connection that a configuration change ended: its original
    /// direction, judged against the new tables, is now dropped or translated
    /// differently (SEMANTICS.md §5, see `pipeline::revalidate`).
    FlowEndedByChange,
}

impl DropReason {
    pub const ALL: [DropReason; 31] = [
        DropReason::MalformedFrame,
        DropReason::Ipv4Options,
        DropReason::Fragment,
        DropReason::TtlExceeded,
        DropReason::InstanceNotRunning,
        DropReason::GuestNoRoute,
        DropReason::EniSourceCheck,
        DropReason::SgEgressDenied,
        DropReason::SgIngressDenied,
        DropReason::NoRoute,
        DropReason::NextHopUnmodelled,
        DropReason::NoSuchPrivateIp,
        DropReason::NoSnatEntry,
        DropReason::SnatPortsExhausted,
        DropReason::PublicIpUnknown,
        DropReason::EipUnbound,
        DropReason::NatGatewayNoMapping,
        DropReason::TargetUnmodelled,
        DropReason::CutThroughNoPrivateNetwork,
        DropReason::ConntrackFull,
        DropReason::HairpinLoop,
        DropReason::IcmpErrorNoFlow,
        DropReason::MtuExceeded,
        DropReason::EniNotAttached,
        DropReason::EniSourceMac,
        DropReason::ArpAnswered,
        DropReason::ArpIgnored,
        DropReason::UnsupportedEthertypeVlan,
        DropReason::UnsupportedEthertypeIpv6,
        DropReason::UnsupportedEthertypeOther,
        DropReason::FlowEndedByChange,
    ];

    /// Stable snake_case name (JSON, counters, `expect_reason` in scenario checks).
    pub fn name(self) -> &'static str {
        match self {
            DropReason::MalformedFrame => "malformed_frame",
            DropReason::Ipv4Options => "ipv4_options",
            DropReason::Fragment => "fragment",
            DropReason::TtlExceeded => "ttl_exceeded",
            DropReason::InstanceNotRunning => "instance_not_running",
            DropReason::GuestNoRoute => "guest_no_route",
            DropReason::EniSourceCheck => "eni_source_check",
            DropReason::SgEgressDenied => "sg_egress_denied",
            DropReason::SgIngressDenied => "sg_ingress_denied",
            DropReason::NoRoute => "no_route",
            DropReason::NextHopUnmodelled => "next_hop_unmodelled",
            DropReason::NoSuchPrivateIp => "no_such_private_ip",
            DropReason::NoSnatEntry => "no_snat_entry",
            DropReason::SnatPortsExhausted => "snat_ports_exhausted",
            DropReason::PublicIpUnknown => "public_ip_unknown",
            DropReason::EipUnbound => "eip_unbound",
            DropReason::NatGatewayNoMapping => "nat_gateway_no_mapping",
            DropReason::TargetUnmodelled => "target_unmodelled",
            DropReason::CutThroughNoPrivateNetwork => "cut_through_no_private_network",
            DropReason::ConntrackFull => "conntrack_full",
            DropReason::HairpinLoop => "hairpin_loop",
            DropReason::IcmpErrorNoFlow => "icmp_error_no_flow",
            DropReason::MtuExceeded => "mtu_exceeded",
            DropReason::EniNotAttached => "eni_not_attached",
            DropReason::EniSourceMac => "eni_source_mac",
            DropReason::ArpAnswered => "arp_answered",
            DropReason::ArpIgnored => "arp_ignored",
            DropReason::UnsupportedEthertypeVlan => "unsupported_ethertype.vlan",
            DropReason::UnsupportedEthertypeIpv6 => "unsupported_ethertype.ipv6",
            DropReason::UnsupportedEthertypeOther => "unsupported_ethertype.other",
            DropReason::FlowEndedByChange => "flow_ended_by_change",
        }
    }

    pub fn index(self) -> usize {
        DropReason::ALL.iter().position(|r| *r == self).unwrap_or(0)
    }

    /// The precise name of this drop of `entered` (the frame as it entered the data
    /// plane): for `malformed_frame`, `malformed_frame.` + the [`WireError::name`] that
    /// `wire::parse` gives that frame — the very check that dropped it — e.g.
    /// `malformed_frame.ipv4_bad_checksum`; for every other reason, [`DropReason::name`].
    /// A frame that parses (a packet made malformed inside the network) keeps the plain
    /// `malformed_frame`.
    pub fn precise_name(self, entered: &[u8]) -> Cow<'static, str> {
        match (self, wire::parse(entered)) {
            (DropReason::MalformedFrame, Err(e)) => Cow::Owned(malformed_name(&e)),
            _ => Cow::Borrowed(self.name()),
        }
    }
}

/// `malformed_frame.<wire error name>`.
pub fn malformed_name(e: &WireError) -> String {
    format!("{}.{}", DropReason::MalformedFrame.name(), e.name())
}

/// The category of a (precise) drop-reason name: the part before the first `.`
/// (`malformed_frame.ipv4_bad_ihl` → `malformed_frame`).
pub fn category(name: &str) -> &str {
    name.split_once('.').map_or(name, |(c, _)| c)
}

impl std::fmt::Display for DropReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Per-disposition and per-reason packet counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    pub delivered: u64,
    pub to_internet: u64,
    pub dropped: [u64; DropReason::ALL.len()],
    pub fast_path: u64,
    pub slow_path: u64,
    pub icmp_generated: u64,
    pub flows_created: u64,
    /// Non-first fragments held until their first fragment (see `pipeline::frag`).
    pub fragments_held: u64,
    /// `malformed_frame` drops by malformation, indexed by [`WireError::index`] (the
    /// ones counted under another reason, like `ipv4_options`, stay 0).
    pub malformed: [u64; WireError::NAMES.len()],
}

impl Counters {
    pub fn total_dropped(&self) -> u64 {
        self.dropped.iter().sum()
    }

    pub fn dropped_by(&self, r: DropReason) -> u64 {
        self.dropped[r.index()]
    }

    pub fn merge(&mut self, o: &Counters) {
        self.delivered += o.delivered;
        self.to_internet += o.to_internet;
        for (a, b) in self.dropped.iter_mut().zip(o.dropped.iter()) {
            *a += b;
        }
        self.fast_path += o.fast_path;
        self.slow_path += o.slow_path;
        self.icmp_generated += o.icmp_generated;
        self.flows_created += o.flows_created;
        self.fragments_held += o.fragments_held;
        for (a, b) in self.malformed.iter_mut().zip(o.malformed.iter()) {
            *a += b;
        }
    }

    /// Counts a frame `wire::parse` refused (called where the refusal is known).
    pub fn count_malformed(&mut self, e: &WireError) {
        self.malformed[e.index()] += 1;
    }

    /// Non-zero `malformed_frame` drops by precise name (`malformed_frame.truncated_l4`);
    /// they add up to `dropped_by(MalformedFrame)` except for packets made malformed
    /// inside the network, which have no finer name.
    pub fn malformed_drops(&self) -> Vec<(String, u64)> {
        WireError::NAMES
            .iter()
            .zip(self.malformed)
            .filter(|(_, n)| *n > 0)
            .map(|(name, n)| (format!("{}.{name}", DropReason::MalformedFrame.name()), n))
            .collect()
    }

    /// Non-zero drop counts by name.
    pub fn drops(&self) -> Vec<(&'static str, u64)> {
        DropReason::ALL
            .iter()
            .filter(|r| self.dropped[r.index()] > 0)
            .map(|r| (r.name(), self.dropped[r.index()]))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_and_name_agree_and_names_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for r in DropReason::ALL {
            let json = serde_json::to_string(&r).unwrap();
            assert_eq!(json, format!("\"{}\"", r.name()));
            assert!(seen.insert(r.name()), "{} twice", r.name());
            assert_eq!(DropReason::ALL[r.index()], r);
        }
    }
}
