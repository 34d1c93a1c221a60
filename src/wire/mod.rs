//! Zero-copy views of Ethernet II + IPv4 frames and in-place rewrites, in the
//! style of smoltcp's `wire` module.
//!
//! The data plane moves frames as plain byte buffers. [`frame::parse`]
//! validates a buffer once and returns a small [`FrameInfo`] (addresses,
//! protocol, ports, offsets); [`rewrite`] changes addresses, ports and TTL in
//! place with RFC 1624 incremental checksum updates ([`checksum`]), including
//! RFC 5508 rewrites of the datagram embedded in ICMP errors, and
//! [`CompiledRewrite`] precomputes a flow's rewrite so each packet costs a few
//! stores. [`mod@build`] makes synthetic frames and ICMP errors, and verifies
//! checksums for tests.
//!
//! # Contract
//!
//! After [`parse`] succeeds on a frame, no accessor or rewrite in this module
//! panics on that frame (given the `FrameInfo` parse returned for it, or one a
//! rewrite returned). More strongly, nothing here panics on any input: all
//! packet-path accesses are bounds-checked, and out-of-range writes are
//! skipped.
//!
//! The simulated VPC refuses IPv4 options and VLAN tags, so the IPv4 header is
//! always at frame offset 14 and the L4 header at offset 34.

pub mod arp;
pub mod build;
pub mod checksum;
pub mod fragment;
pub mod frame;
pub mod rewrite;

pub use arp::{arp_reply, build_arp, ethertype_text, parse_arp, Arp, EtherKind};
pub use build::{build, checksums_valid, icmp_error, IcmpErrorKind, ProbeL4, ProbeSpec};
pub use checksum::Delta;
pub use fragment::{fragment, set_dont_fragment};
pub use frame::{
    dst_mac, fast_tuple, parse, proto, set_macs, src_mac, FastTuple, FrameInfo, Inner, TcpFlags,
    WireError, L4,
};
pub use rewrite::{apply, apply_inner, decrement_ttl, CompiledRewrite, Rewrite, RewriteDeltas};
