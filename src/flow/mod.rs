//! Per-flow state, kept apart from the rules (the split oxide's OPTE uses).
//!
//! The first packet of a connection takes the slow path through every rule. If it is
//! allowed, the pipeline installs ONE connection with TWO direction entries in a
//! [`ConnTable`]: each is keyed by the packet's tuple *as it arrives* at an observation
//! port ([`FlowKey`]) and carries a cached action `A` (an opaque `Copy` value the pipeline
//! defines: rewrite, output port, checksum deltas). Every later packet of either direction
//! is one [`ConnTable::lookup`] plus the cached action, followed by
//! [`ConnTable::observe`] to refresh the connection and drive its TCP state. Stateful
//! security groups fall out of this: the reply direction is installed, and so
//! pre-authorised, when the original direction is allowed.
//!
//! [`SnatPorts`] hands out SNAT source ports per destination; the caller checks its
//! conntrack for collisions and releases the port when the connection's metadata comes
//! back from [`ConnTable::expire`].
//!
//! See [`conntrack`] for timeouts, the TCP state machine, the capacity/eviction policy,
//! memory layout and hashing.

pub mod conntrack;
mod index;
pub mod snat;

use std::time::Duration;

pub use conntrack::{ConnStats, ConnTable, TICK_NANOS};
pub use snat::{SnatPorts, DEFAULT_PER_DESTINATION_LIMIT, DEFAULT_SNAT_PORT_RANGE};

/// TCP flag bits as they appear in the TCP header's flags byte.
pub mod tcp_flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
}

/// IP protocol numbers the table treats specially.
pub mod proto {
    pub const ICMP: u8 = 1;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
}

/// A packet's tuple as it arrives at an observation port. 16 bytes, no heap.
///
/// For ICMP the pipeline chooses what goes in `sport`/`dport` (typically the echo
/// identifier in both, so that [`FlowKey::reversed`] still matches the reply).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(C)]
pub struct FlowKey {
    pub src: u32,
    pub dst: u32,
    pub sport: u16,
    pub dport: u16,
    /// Observation port id, chosen by the pipeline.
    pub port: u16,
    pub proto: u8,
}

const _: () = assert!(std::mem::size_of::<FlowKey>() == 16);

impl FlowKey {
    /// The same tuple seen travelling the other way, observed at `port`.
    #[inline]
    pub fn reversed(&self, port: u16) -> FlowKey {
        FlowKey {
            src: self.dst,
            dst: self.src,
            sport: self.dport,
            dport: self.sport,
            port,
            proto: self.proto,
        }
    }
}

/// Which of a connection's two directions a packet matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dir {
    /// The direction of the packet that created the connection.
    Original,
    /// The other one (pre-authorised by the slow path's decision).
    Reply,
}

/// Handle of a live connection in one [`ConnTable`]. Valid until the connection is
/// removed, expired or evicted; after that the id may be reused for another connection,
/// so do not keep it across calls that may remove connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnId(u32);

impl ConnId {
    /// The slot number (dense, `< capacity`), e.g. to index a side table.
    #[inline]
    pub fn index(self) -> u32 {
        self.0
    }
}

/// Idle timeouts: a connection that has not been observed for longer than the timeout
/// of its current state is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Half-open: `SynSent`, `SynReceived`.
    pub tcp_syn: Duration,
    /// `Established`.
    pub tcp_established: Duration,
    /// `FinWait`: one side has sent FIN.
    pub tcp_closing: Duration,
    /// `Closing` (both FINs seen) and `Closed` (RST seen).
    pub tcp_closed: Duration,
    pub udp: Duration,
    pub icmp: Duration,
    /// Any other IP protocol.
    pub other: Duration,
}

impl Default for Timeouts {
    /// * `tcp_established` 910 s: the documented security-group session lifetime for TCP.
    /// * `tcp_syn` 60 s: a handshake that has not completed within a minute is dead
    ///   (and keeping half-open entries short blunts SYN floods).
    /// * `tcp_closing` 120 s: one side closed (Linux uses 120 s for FIN_WAIT/CLOSE_WAIT).
    /// * `tcp_closed` 10 s: after both FINs or a RST, only stragglers remain (≈ TIME_WAIT
    ///   shortened; Linux uses 10 s for CLOSE).
    /// * `udp` 180 s, `other` 180 s: the session lifetime security groups apply to UDP
    ///   and connection-less protocols.
    /// * `icmp` 30 s: echo request/reply pairs finish within a second; 30 s as in Linux.
    fn default() -> Self {
        Timeouts {
            tcp_syn: Duration::from_secs(60),
            tcp_established: Duration::from_secs(910),
            tcp_closing: Duration::from_secs(120),
            tcp_closed: Duration::from_secs(10),
            udp: Duration::from_secs(180),
            icmp: Duration::from_secs(30),
            other: Duration::from_secs(180),
        }
    }
}

/// A small conntrack-style TCP state machine, driven only by the flags seen in each
/// direction (no sequence-number tracking).
///
/// | from | event | to |
/// | --- | --- | --- |
/// | (new) | SYN without ACK | `SynSent` |
/// | (new) | SYN+ACK | `SynReceived` |
/// | (new) | FIN | `FinWait` |
/// | (new) | RST | `Closed` |
/// | (new) | anything else (mid-stream pickup, as Linux's `tcp_loose`) | `Established` |
/// | `SynSent` | SYN+ACK in `Reply` | `SynReceived` |
/// | `SynReceived` | ACK without SYN in `Original` | `Established` |
/// | any open state | FIN in one direction | `FinWait` |
/// | `FinWait` | FIN in the other direction too | `Closing` |
/// | any | RST in either direction | `Closed` |
/// | `Closing`, `Closed` | SYN without ACK in `Original` (port reuse) | `SynSent` |
///
/// Everything else leaves the state unchanged (but still refreshes the connection).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TcpState {
    SynSent,
    SynReceived,
    Established,
    /// One side closed.
    FinWait,
    /// Both FINs seen.
    Closing,
    /// RST seen.
    Closed,
}

/// A successful lookup: the cached action of the matching direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit<A> {
    pub action: A,
    pub dir: Dir,
    pub conn: ConnId,
    /// The connection's key for the other direction. Reversed, it is the tuple a packet
    /// of this direction leaves with — so an action need not store its target tuple.
    pub other: FlowKey,
}

/// Why [`ConnTable::insert`] refused a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InsertError {
    /// A live connection already owns one of the two keys.
    #[error("a live connection already uses this flow key")]
    KeyExists,
    /// The table is at capacity and every connection is established (protected).
    #[error("connection table full of established connections")]
    TableFull,
}
