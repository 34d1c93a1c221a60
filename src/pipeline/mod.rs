//! The per-packet pipeline: SEMANTICS.md §3 as named stages, with per-flow state.
//!
//! Outbound (a guest sends): guest routing → ENI (attached, anti-spoofing) → SG egress →
//! EIP / static public IP 1:1 (bypassing the route table) or route table → local
//! delivery, next-hop ENI, or NAT gateway SNAT → Internet (hairpinning back in when the
//! destination is one of the scenario's own public addresses).
//! Inbound (from the Internet): public-address owner → EIP 1:1 to the private IP,
//! cut-through / multi-EIP delivery, NAT gateway (SNAT return via the flow table, DNAT
//! port or IP mapping) → SG ingress → ENI.
//!
//! The first packet of a connection takes this slow path; if it passes, it installs one
//! connection with one cached action per direction (the rewrite with precomputed
//! checksum deltas, the output port, the TTL hops), so every later packet in either
//! direction is one lookup and one in-place rewrite. Replies are pre-authorised: that is
//! what makes security groups stateful.
//!
//! Architecture invariant: this module does no I/O and reads no clock; time is passed in.

pub mod drop;
pub mod revalidate;
pub mod trace;

use std::net::Ipv4Addr;
use std::sync::Arc;

use crate::compile::{EniIdx, Tables, INTERNET_PORT};
use crate::flow::{ConnTable, Dir, FlowKey, SnatPorts, Timeouts};
use crate::model::{ETHERNET_MTU, JUMBO_MTU};
use crate::time::SimTime;
use crate::wire::{self, CompiledRewrite, FrameInfo, RewriteDeltas, L4};
pub use drop::{Counters, DropReason};
use finish::tcp_flags;
pub use frag::{FragLimits, Fragments};
pub use layer2::{sender_mac, stamp_sender_mac};
pub use revalidate::{EndCause, EndedFlow, OnChange};
pub use trace::{summary, Trace};

/// The MAC the VPC's virtual router answers with (as Alibaba Cloud's gateway does).
pub const VROUTER_MAC: [u8; 6] = [0xee, 0xff, 0xff, 0xff, 0xff, 0xff];
/// The MAC of the Internet edge in captures.
pub const INTERNET_MAC: [u8; 6] = [0x02, 0x00, 0x5e, 0x00, 0x00, 0x01];

/// Where a packet enters the simulated network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ingress {
    /// Sent by an instance's guest OS: its routing picks the device.
    Guest(u16),
    /// Sent on this ENI as is (the guest's routing already happened).
    Eni(EniIdx),
    /// From the Internet.
    Internet,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    Delivered {
        eni: EniIdx,
    },
    Internet,
    Dropped(DropReason),
    /// A non-first IPv4 fragment that arrived before its first fragment: held (see
    /// [`frag`]) and released, translated, in [`Outcome::released`] of a later packet,
    /// or dropped (`DropReason::Fragment`) on timeout or when buffers are full.
    Held,
}

/// What became of one packet. The (rewritten) frame itself is the caller's buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub disposition: Disposition,
    /// Packets the network generated in answer (ICMP errors), with where they go.
    pub generated: Vec<(Vec<u8>, Disposition)>,
    /// Frames this packet released: the held non-first fragments of its datagram, when
    /// it is the first fragment, translated like it and sent where it went (never
    /// `Dropped`: released fragments that are dropped are only counted). Empty for
    /// every packet that is not a first fragment.
    pub released: Vec<(Vec<u8>, Disposition)>,
    /// When not empty, the packet was larger than the MTU of a link on its path, without
    /// DF: it left as these fragments (RFC 791), translated, going to `disposition`,
    /// and the (rewritten) frame buffer itself must not be sent. Empty for every packet
    /// that fits.
    pub fragments: Vec<Vec<u8>>,
}

impl Outcome {
    fn of(disposition: Disposition) -> Outcome {
        Outcome {
            disposition,
            generated: Vec::new(),
            released: Vec::new(),
            fragments: Vec::new(),
        }
    }

    /// Every frame that leaves, given the (rewritten) frame buffer: the frame itself (or
    /// its fragments) unless dropped or held, then the generated packets, then the
    /// released fragments, each with where it goes.
    pub fn leaving<'a>(&'a self, frame: &'a [u8]) -> Vec<(Disposition, &'a [u8])> {
        let mut v = Vec::new();
        if matches!(
            self.disposition,
            Disposition::Delivered { .. } | Disposition::Internet
        ) {
            if self.fragments.is_empty() {
                v.push((self.disposition, frame));
            } else {
                v.extend(self.fragments.iter().map(|f| (self.disposition, &f[..])));
            }
        }
        v.extend(self.generated.iter().map(|(f, d)| (*d, &f[..])));
        v.extend(self.released.iter().map(|(f, d)| (*d, &f[..])));
        v
    }
}

/// The cached result of the slow path for one direction of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
///
/// It holds no addresses: the tuple a packet of this direction leaves with is the other
/// direction's key reversed (`Hit::other`), which the connection stores anyway. That keeps
/// a connection within the engine's memory budget.
pub struct FlowAction {
    /// Checksum deltas (TTL decrement included) and which fields to write.
    pub deltas: RewriteDeltas,
    pub out: u16,
    /// The output is the Internet edge and the destination is one of the scenario's own
    /// public addresses: the packet comes back in.
    pub hairpin: bool,
    /// Every link of the path carries jumbo frames (both ends are ENIs of jumbo-frame
    /// instance types): the path MTU is 8500, else 1500.
    pub jumbo: bool,
}

impl FlowAction {
    /// Routed hops that decrement the TTL on this path.
    #[inline]
    pub fn hops(&self) -> u8 {
        self.deltas.ttl_decrement()
    }

    /// The MTU of the path: the smallest of its links'.
    #[inline]
    pub fn mtu(&self) -> u16 {
        if self.jumbo {
            JUMBO_MTU
        } else {
            ETHERNET_MTU
        }
    }

    /// The full rewrite, given the connection's other-direction key.
    #[inline]
    pub fn rewrite(&self, other: &FlowKey) -> CompiledRewrite {
        CompiledRewrite::with_target(
            self.deltas,
            Ipv4Addr::from(other.dst),
            Ipv4Addr::from(other.src),
            other.dport,
            other.sport,
        )
    }
}

/// Per-connection state handed back on expiry: the SNAT port to release (the
/// destination and the very port, so `SnatPorts::release_port` frees exactly it).
/// Packed to 14 bytes: with the port it would pad to 16 and make every connection of
/// the flow table 4 bytes bigger (fields are read by value, never borrowed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(C, packed(2))]
pub struct SnatBinding {
    pub eip: u32,
    pub dst: u32,
    pub dport: u16,
    /// The translated source port the connection holds.
    pub port: u16,
    pub proto: u8,
    pub active: bool,
}

#[derive(Debug, Clone)]
pub struct DataplaneConfig {
    pub conntrack_capacity: usize,
    pub timeouts: Timeouts,
    /// This worker's share of SNAT ports (`port % workers == worker`).
    pub worker: u16,
    pub workers: u16,
    /// Bounds of IPv4 fragment virtual reassembly.
    pub fragments: FragLimits,
    /// What a new configuration does to established connections (`revalidate`).
    pub on_change: OnChange,
    /// The flow table's hash secrets: `None` draws them from the OS (as a table facing
    /// traffic should, against collision floods); `Some` makes a run reproducible
    /// (benches).
    pub hash_seed: Option<[u64; 3]>,
}

impl Default for DataplaneConfig {
    fn default() -> Self {
        DataplaneConfig {
            conntrack_capacity: 1 << 20,
            timeouts: Timeouts::default(),
            worker: 0,
            workers: 1,
            fragments: FragLimits::default(),
            on_change: OnChange::default(),
            hash_seed: None,
        }
    }
}

/// One pipeline instance: shared read-only tables plus this worker's own flow state.
pub struct Dataplane {
    tables: Arc<Tables>,
    conns: ConnTable<FlowAction, SnatBinding>,
    snat: SnatPorts,
    pub counters: Counters,
    expired: Vec<SnatBinding>,
    frags: Fragments,
    config: DataplaneConfig,
    epochs: revalidate::Epochs,
    ended: Vec<EndedFlow>,
}

type TraceRef<'a> = Option<&'a mut Trace>;

macro_rules! hop {
    ($t:expr, $stage:expr, $res:expr, $($fmt:tt)*) => {
        if let Some(t) = $t.as_deref_mut() {
            t.push($stage, $res, format!($($fmt)*));
        }
    };
}

// After `hop!`, which they use.
mod batch;
mod chain;
mod eip;
mod eni;
mod fast;
pub use batch::{Batch, BATCH_MAX};
mod finish;
pub mod frag;
pub mod guest;
mod icmp;
mod layer2;
mod mtu;
mod natgw;
mod route;
mod sg;

fn key_of(info: &FrameInfo, port: u16) -> FlowKey {
    let (sport, dport) = info.ports();
    FlowKey {
        src: u32::from(info.src),
        dst: u32::from(info.dst),
        sport,
        dport,
        port,
        proto: info.proto,
    }
}

/// The flow table of a configuration: seeded as it asks.
fn new_conns(config: &DataplaneConfig) -> ConnTable<FlowAction, SnatBinding> {
    match config.hash_seed {
        Some(seed) => ConnTable::with_seed(config.conntrack_capacity, config.timeouts, seed),
        None => ConnTable::new(config.conntrack_capacity, config.timeouts),
    }
}

impl Dataplane {
    pub fn new(tables: Arc<Tables>, config: DataplaneConfig) -> Dataplane {
        let snat = SnatPorts::new(
            tables.snat_connections_per_destination,
            1024..=65535,
            config.worker,
            config.workers,
        );
        Dataplane {
            conns: new_conns(&config),
            tables,
            snat,
            counters: Counters::default(),
            expired: Vec::new(),
            frags: Fragments::new(config.fragments),
            config,
            epochs: Default::default(),
            ended: Vec::new(),
        }
    }

    pub fn tables(&self) -> &Arc<Tables> {
        &self.tables
    }

    /// Installs a new configuration. With `OnChange::Revalidate` (the default) the
    /// connections stay and each is judged again at its next packet (see [`revalidate`];
    /// compile the tables with `Tables::compile_after` so ENI ports keep their meaning);
    /// with `OnChange::Flush` a new epoch forgets every flow.
    pub fn set_tables(&mut self, tables: Arc<Tables>) {
        if tables.epoch != self.tables.epoch && self.config.on_change == OnChange::Revalidate {
            self.epochs.changed(self.conns.len());
            self.epochs.remember(Arc::clone(&self.tables));
            let lost = self.frags.clear();
            self.counters.dropped[DropReason::Fragment.index()] += lost;
        } else if tables.epoch != self.tables.epoch {
            self.conns = new_conns(&self.config);
            self.snat = SnatPorts::new(
                tables.snat_connections_per_destination,
                1024..=65535,
                self.config.worker,
                self.config.workers,
            );
            let lost = self.frags.clear();
            self.counters.dropped[DropReason::Fragment.index()] += lost;
        }
        self.tables = tables;
    }

    pub fn connections(&self) -> usize {
        self.conns.len()
    }

    pub fn conntrack(&self) -> &ConnTable<FlowAction, SnatBinding> {
        &self.conns
    }

    /// Removes timed-out connections and releases their SNAT ports.
    pub fn expire(&mut self, now: SimTime) -> usize {
        let mut out = std::mem::take(&mut self.expired);
        let n = self.conns.expire(now, &mut out);
        for b in out.drain(..) {
            if b.active {
                self.snat
                    .release_port(b.eip, b.proto, b.dst, b.dport, b.port);
            }
        }
        self.expired = out;
        if self.conns.is_empty() {
            self.epochs.emptied();
        }
        let lost = self.frags.expire(now);
        self.counters.dropped[DropReason::Fragment.index()] += lost;
        n
    }

    /// The fragment reassembly state (datagrams tracked, bytes held).
    pub fn fragments(&self) -> &Fragments {
        &self.frags
    }

    /// Forgets all flow state — connections, SNAT ports, held fragments, ended flows,
    /// counters — and keeps the tables, the configuration and the flow table's memory:
    /// afterwards it answers exactly as `Dataplane::new` with the same tables and
    /// configuration would (`vpcsim serve` resets one data plane per question instead
    /// of building one).
    pub fn reset(&mut self) {
        self.conns.clear();
        // Rebuilt rather than cleared: it holds a small map, and a new one cannot keep
        // state a `clear` forgot.
        self.snat = SnatPorts::new(
            self.tables.snat_connections_per_destination,
            1024..=65535,
            self.config.worker,
            self.config.workers,
        );
        self.counters = Counters::default();
        self.expired.clear();
        self.frags.clear();
        self.epochs.emptied();
        self.ended.clear();
    }

    /// Processes one frame entering at `at`, rewriting it in place.
    pub fn process(
        &mut self,
        frame: &mut [u8],
        at: Ingress,
        now: SimTime,
        mut trace: TraceRef<'_>,
    ) -> Outcome {
        let out = self.process_at(frame, at, now, &mut trace, 0);
        self.settle(frame, out, now)
    }

    /// The counters of a processed frame, and the fragments its datagram released.
    #[inline]
    fn settle(&mut self, frame: &[u8], mut out: Outcome, now: SimTime) -> Outcome {
        self.count(out.disposition);
        if let Some(p) = self.frags.pending.take() {
            // A first fragment went through the normal path: remember its result for
            // the rest of its datagram and release the fragments that waited for it.
            for d in self.frags.first_done(p, frame, &mut out, now) {
                self.count(d);
            }
        }
        self.counters.icmp_generated += out.generated.len() as u64;
        out
    }

    #[inline]
    fn count(&mut self, d: Disposition) {
        match d {
            Disposition::Delivered { .. } => self.counters.delivered += 1,
            Disposition::Internet => self.counters.to_internet += 1,
            Disposition::Dropped(r) => self.counters.dropped[r.index()] += 1,
            Disposition::Held => self.counters.fragments_held += 1,
        }
    }

    fn drop_with(&self, r: DropReason) -> Outcome {
        Outcome::of(Disposition::Dropped(r))
    }

    fn process_at(
        &mut self,
        frame: &mut [u8],
        at: Ingress,
        now: SimTime,
        trace: &mut TraceRef<'_>,
        depth: u8,
    ) -> Outcome {
        // Established TCP/UDP flows entering on an ENI or from the Internet: read the
        // tuple straight from the frame, one lookup, one rewrite. Anything else (and any
        // traced packet) takes the full parse below, which gives the same answer.
        if trace.is_none() {
            if let Some(k) = self.fast_key(frame, at) {
                if let Some(out) = self.try_fast(frame, &k, now, trace, depth) {
                    return out;
                }
            }
        }
        self.full_path(frame, at, now, trace, depth, false)
    }

    /// Everything but an established TCP/UDP packet: layer 2, parse, fragments, guest
    /// routing, ICMP errors, a lookup, and the chain of stages for a first packet.
    /// `known_miss`: the batch's established lane already looked this frame's tuple up
    /// and found no connection (nothing changed since), so the lookup is skipped.
    fn full_path(
        &mut self,
        frame: &mut [u8],
        at: Ingress,
        now: SimTime,
        trace: &mut TraceRef<'_>,
        depth: u8,
        known_miss: bool,
    ) -> Outcome {
        // Layer 2: the sender's MAC, ARP, EtherTypes other than IPv4.
        if let Some(out) = self.layer2(frame, at, trace) {
            return out;
        }
        let info = match wire::parse(frame) {
            Ok(i) => i,
            Err(e) => {
                hop!(trace, "parse", "frame", "{e}");
                let r = if matches!(e, wire::WireError::Ipv4Options { .. }) {
                    DropReason::Ipv4Options
                } else {
                    DropReason::MalformedFrame
                };
                if r == DropReason::MalformedFrame {
                    self.counters.count_malformed(&e);
                }
                return self.drop_with(r);
            }
        };
        // Fragments (see `frag`): the first takes the normal path, the others follow it.
        // A hairpinned first fragment (depth > 0) is the same datagram continuing.
        if info.is_fragment() && depth == 0 {
            if let Some(out) = self.fragment(frame, &info, at, now, trace) {
                return out;
            }
        }
        // The guest's routing happens before the VPC sees the packet.
        let port = match at {
            Ingress::Internet => INTERNET_PORT,
            Ingress::Eni(e) => e + 1,
            Ingress::Guest(i) => match self.guest_port(i, &info, trace) {
                Ok(port) => port,
                Err(r) => return self.drop_with(r),
            },
        };
        if let L4::IcmpError { .. } = info.l4 {
            return self.icmp_error(frame, &info, port, now, trace, depth);
        }
        let key = key_of(&info, port);
        if let Some(hit) = (!known_miss)
            .then(|| self.conns.lookup(&key, now))
            .flatten()
        {
            if info.ttl > hit.action.hops() {
                hop!(
                    trace,
                    "flow_table",
                    self.tables.port_name(port),
                    "{} direction of an existing connection: cached action",
                    if hit.dir == Dir::Original {
                        "original"
                    } else {
                        "reply"
                    }
                );
                let l4 = (info.l4_offset, info.proto);
                self.note_fragment_mtu(&info, hit.action.mtu());
                return self.use_hit(frame, l4, hit, port, tcp_flags(&info), now, trace, depth);
            }
        }
        self.counters.slow_path += 1;
        // One reference-count bump per slow-path packet, shared by every stage below.
        let tables = Arc::clone(&self.tables);
        let from = (port != INTERNET_PORT).then(|| port - 1);
        self.run_chain(&tables, frame, &info, key, from, now, trace, depth)
    }
}

pub fn proto_name(p: u8) -> String {
    match p {
        1 => "icmp".into(),
        6 => "tcp".into(),
        17 => "udp".into(),
        47 => "gre".into(),
        n => format!("proto {n}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_snat_binding_with_its_port_costs_no_more_flow_table_memory() {
        assert_eq!(std::mem::size_of::<SnatBinding>(), 14);
        let t = ConnTable::<FlowAction, SnatBinding>::new(1 << 16, Timeouts::default());
        let u = ConnTable::<FlowAction, [u8; 12]>::new(1 << 16, Timeouts::default());
        assert_eq!(t.bytes_per_connection(), u.bytes_per_connection());
    }

    #[test]
    fn a_tracked_connection_costs_at_most_96_bytes_both_directions() {
        // The engine's memory target: actions carry no addresses (the other direction's
        // key supplies them), so a connection fits the budget.
        assert!(
            std::mem::size_of::<FlowAction>() <= 10,
            "{}",
            std::mem::size_of::<FlowAction>()
        );
        for cap in [4096, 1 << 20] {
            let t = ConnTable::<FlowAction, SnatBinding>::new(cap, Timeouts::default());
            let b = t.bytes_per_connection();
            assert!(b <= 96.0, "{b} bytes per connection at capacity {cap}");
        }
    }
}
