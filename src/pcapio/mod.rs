//! Reading and writing packet captures (pcap and pcapng), for replaying
//! captures through the simulator and recording what it emits.
//!
//! Design rules:
//! * **Never panic** on any input: every length is checked before it is used,
//!   and `pcap-file`'s parsers are only handed slices whose framing we have
//!   already validated.
//! * **Never lose what was read**: the reader yields every good record before
//!   the first problem, then one error naming the record number (from 1, as
//!   Wireshark counts) and byte offset (and how to fix it), then ends. A record
//!   whose link layer cannot be replayed is not an error: it is yielded with its
//!   interface's link type and [`Record::issue`] names the problem.
//! * **Every link type a user has** (`link`): Ethernet, Linux cooked v1/v2, raw
//!   IP; in a pcapng each interface keeps its own.
//! * **Every written block is whole**: each block/record is encoded into a
//!   buffer and handed to the writer in a single `write_all`, so a process that
//!   stops after N packet writes leaves a readable file with N packets.

mod link;
mod read;
mod write;

#[cfg(test)]
mod tests;

pub use link::{
    decode, supported, LinkIssue, Payload, LINKTYPE_ETHERNET, LINKTYPE_IPV4, LINKTYPE_IPV6,
    LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2, LINKTYPE_RAW, SUPPORTED_TEXT,
};
pub use read::{CaptureReader, Format, PcapError, Record, RecordIssue, MAX_RECORD_LEN, READ_CHUNK};
pub use write::{PcapWriter, PcapngWriter};

/// Human-readable name for a pcap/pcapng link type, for error messages.
pub fn link_type_name(link_type: u32) -> &'static str {
    match link_type {
        0 => "NULL (BSD loopback)",
        1 => "ETHERNET",
        9 => "PPP",
        12 => "RAW (raw IP, OpenBSD numbering)",
        101 => "RAW (raw IP, no link-layer header)",
        105 => "IEEE802_11 (Wi-Fi)",
        108 => "LOOP (OpenBSD loopback)",
        113 => "LINUX_SLL (Linux cooked capture v1, e.g. `tcpdump -i any`)",
        127 => "IEEE802_11_RADIOTAP",
        228 => "IPV4 (raw IPv4)",
        229 => "IPV6 (raw IPv6)",
        276 => "LINUX_SLL2 (Linux cooked capture v2, e.g. `tcpdump -i any`)",
        147..=162 => "USER (private link type)",
        _ => "unknown link type",
    }
}
