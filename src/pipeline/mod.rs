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
pub mod frag;
pub mod guest;
pub mod revalidate;
pub mod trace;

use std::net::Ipv4Addr;
use std::sync::Arc;

use crate::compile::{EniIdx, NextHopT, PublicOwner, SgDecision, Tables, Via, INTERNET_PORT};
use crate::flow::{ConnTable, Dir, FlowKey, Hit, InsertError, SnatPorts, Timeouts};
use crate::model::{Direction, ETHERNET_MTU, JUMBO_MTU};
use crate::time::SimTime;
use crate::wire::{self, CompiledRewrite, FrameInfo, Rewrite, RewriteDeltas, L4};
pub use drop::{Counters, DropReason};
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

/// Per-connection state handed back on expiry: the SNAT port to release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SnatBinding {
    pub eip: u32,
    pub dst: u32,
    pub dport: u16,
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
mod layer2;
mod mtu;

fn tcp_flags(info: &FrameInfo) -> u8 {
    match info.l4 {
        L4::Tcp { flags, .. } => flags.0,
        _ => 0,
    }
}

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

/// A FrameInfo standing for a packet of the given tuple, to precompile a rewrite for a
/// direction no packet has taken yet.
fn synthetic_info(
    proto: u8,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    dport: u16,
    echo_request: bool,
) -> FrameInfo {
    let l4 = match proto {
        wire::proto::TCP => L4::Tcp {
            sport,
            dport,
            flags: wire::TcpFlags(0),
            seq: 0,
            ack: 0,
        },
        wire::proto::UDP => L4::Udp { sport, dport },
        wire::proto::ICMP => L4::IcmpEcho {
            request: echo_request,
            ident: sport,
            seq: 0,
        },
        _ => L4::Other,
    };
    FrameInfo {
        src,
        dst,
        proto,
        ttl: 64,
        ident: 0,
        dont_fragment: false,
        more_fragments: false,
        frag_offset: 0,
        total_len: 0,
        l4_offset: wire::frame::L4_OFFSET,
        l4,
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
            conns: ConnTable::new(config.conntrack_capacity, config.timeouts),
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
            let lost = self.frags.clear();
            self.counters.dropped[DropReason::Fragment.index()] += lost;
        } else if tables.epoch != self.tables.epoch {
            self.conns = ConnTable::new(self.config.conntrack_capacity, self.config.timeouts);
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
                self.snat.release(b.eip, b.proto, b.dst, b.dport);
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

    /// Processes one frame entering at `at`, rewriting it in place.
    pub fn process(
        &mut self,
        frame: &mut [u8],
        at: Ingress,
        now: SimTime,
        mut trace: TraceRef<'_>,
    ) -> Outcome {
        let mut out = self.process_at(frame, at, now, &mut trace, 0);
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

    fn count(&mut self, d: Disposition) {
        match d {
            Disposition::Delivered { .. } => self.counters.delivered += 1,
            Disposition::Internet => self.counters.to_internet += 1,
            Disposition::Dropped(r) => self.counters.dropped[r.index()] += 1,
            Disposition::Held => self.counters.fragments_held += 1,
        }
    }

    /// A fragment: `None` for a first fragment (the normal path follows), else what
    /// became of this non-first fragment (forwarded as its first was, held, or dropped).
    #[cold]
    fn fragment(
        &mut self,
        frame: &mut [u8],
        info: &FrameInfo,
        at: Ingress,
        now: SimTime,
        trace: &mut TraceRef<'_>,
    ) -> Option<Outcome> {
        let (step, lost) = self.frags.admit(frame, info, at, now);
        self.counters.dropped[DropReason::Fragment.index()] += lost;
        let what = match &step {
            frag::Step::Normal => {
                "first fragment: normal path, its result is kept for the datagram".to_string()
            }
            frag::Step::Done(o) => match o.disposition {
                Disposition::Held => "arrived before the first fragment: held".to_string(),
                Disposition::Dropped(DropReason::Fragment) => {
                    "no room to hold it until the first fragment".to_string()
                }
                d => format!("translated as its first fragment was: {d:?}"),
            },
        };
        hop!(
            trace,
            "fragment",
            "reassembly",
            "IPv4 fragment (id {}, offset {}): {what}",
            info.ident,
            u32::from(info.frag_offset) * 8
        );
        match step {
            frag::Step::Normal => None,
            frag::Step::Done(o) => Some(o),
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
            if let (Some(t), Some(port)) = (wire::fast_tuple(frame), self.fast_port(at, frame)) {
                let key = FlowKey {
                    src: t.src,
                    dst: t.dst,
                    sport: t.sport,
                    dport: t.dport,
                    port,
                    proto: t.proto,
                };
                if let Some(hit) = self.conns.lookup(&key, now) {
                    if t.ttl > hit.action.hops() {
                        let l4 = (wire::frame::L4_OFFSET, t.proto);
                        return self.use_hit(frame, l4, hit, port, t.tcp_flags, now, trace, depth);
                    }
                }
            }
        }
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
        if let Some(hit) = self.conns.lookup(&key, now) {
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
        if port == INTERNET_PORT {
            self.inbound(&tables, frame, &info, key, now, trace, depth)
        } else {
            self.outbound(&tables, frame, &info, key, port - 1, now, trace, depth)
        }
    }

    /// A packet of an established connection: refresh it, apply its cached action.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn use_hit(
        &mut self,
        frame: &mut [u8],
        l4: (usize, u8),
        hit: Hit<FlowAction>,
        in_port: u16,
        tcp_flags: u8,
        now: SimTime,
        trace: &mut TraceRef<'_>,
        depth: u8,
    ) -> Outcome {
        if let Some(ended) = self.revalidate(&hit, now, trace) {
            return ended;
        }
        self.counters.fast_path += 1;
        self.conns.observe(hit.conn, hit.dir, tcp_flags, now);
        let rw = hit.action.rewrite(&hit.other);
        self.apply_action(frame, l4, rw, hit.action, in_port, now, trace, depth)
    }

    /// The guest OS's routing: the port of the device a packet from `Guest(i)` leaves by.
    fn guest_port(
        &self,
        i: u16,
        info: &FrameInfo,
        trace: &mut TraceRef<'_>,
    ) -> Result<u16, DropReason> {
        let tables = &self.tables;
        let inst = tables
            .instances
            .get(i as usize)
            .ok_or(DropReason::InstanceNotRunning)?;
        if !inst.running {
            hop!(
                trace,
                "guest_route",
                inst.id.clone(),
                "instance is not Running"
            );
            return Err(DropReason::InstanceNotRunning);
        }
        let Some(r) = guest::route(tables, inst, info.src, info.dst) else {
            hop!(
                trace,
                "guest_route",
                inst.id.clone(),
                "no device: the instance has no ENI"
            );
            return Err(DropReason::GuestNoRoute);
        };
        let eni = tables.eni(r.eni);
        hop!(
            trace,
            "guest_route",
            inst.id.clone(),
            "{} → {} ({})",
            r.why,
            eni.device_name(),
            eni.id
        );
        Ok(r.eni + 1)
    }

    /// The observation port of an ingress that needs no guest routing; for an ENI only
    /// when the frame carries the ENI's source MAC (else the slow path names the drop).
    #[inline]
    fn fast_port(&self, at: Ingress, frame: &[u8]) -> Option<u16> {
        match at {
            Ingress::Internet => Some(INTERNET_PORT),
            Ingress::Eni(e) => {
                let src: [u8; 6] = frame.get(6..12)?.try_into().ok()?;
                (src == self.tables.enis.get(usize::from(e))?.mac).then_some(e + 1)
            }
            Ingress::Guest(_) => None,
        }
    }

    /// Applies a cached (or just installed) action: MTU, TTL, rewrite, MACs, hairpin.
    /// Callers guarantee TTL > hops (else `finish` answers with time-exceeded).
    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn apply_action(
        &mut self,
        frame: &mut [u8],
        l4: (usize, u8),
        rw: CompiledRewrite,
        a: FlowAction,
        in_port: u16,
        now: SimTime,
        trace: &mut TraceRef<'_>,
        depth: u8,
    ) -> Outcome {
        // One compare per packet: only frames longer than the path MTU look closer.
        if frame.len() > wire::frame::ETH_LEN + usize::from(a.mtu()) {
            return self.oversize(frame, l4, rw, a, in_port, now, trace, depth);
        }
        self.forward(frame, l4, rw, a, now, trace, depth)
    }

    /// The rewrite, MACs and output of an action, the MTU already checked.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn forward(
        &mut self,
        frame: &mut [u8],
        l4: (usize, u8),
        rw: CompiledRewrite,
        a: FlowAction,
        now: SimTime,
        trace: &mut TraceRef<'_>,
        depth: u8,
    ) -> Outcome {
        rw.apply(frame, l4.0, l4.1);
        match self.tables.eni_of_port(a.out) {
            Some(e) => {
                wire::set_macs(frame, VROUTER_MAC, self.tables.eni(e).mac);
                Outcome::of(Disposition::Delivered { eni: e })
            }
            None if a.hairpin => {
                if depth >= 2 {
                    return self.drop_with(DropReason::HairpinLoop);
                }
                hop!(trace, "hairpin", "internet edge", "destination {} is a public address of this scenario: back in from the Internet", rw.target().1);
                self.process_at(frame, Ingress::Internet, now, trace, depth + 1)
            }
            None => {
                wire::set_macs(frame, VROUTER_MAC, INTERNET_MAC);
                Outcome::of(Disposition::Internet)
            }
        }
    }

    /// Installs a connection whose original direction rewrites `info` into `to`
    /// (src, dst, sport, dport) and leaves by `out`; the reply direction undoes it and
    /// returns to `in_port`.
    #[allow(clippy::too_many_arguments)]
    fn install(
        &mut self,
        info: &FrameInfo,
        key: FlowKey,
        rw: Rewrite,
        out: u16,
        hops: u8,
        meta: SnatBinding,
        now: SimTime,
    ) -> Result<(CompiledRewrite, FlowAction), DropReason> {
        let fwd = CompiledRewrite::compile(info, &rw).with_ttl_decrement(hops);
        let (nsrc, ndst, nsport, ndport) = fwd.target();
        let (osport, odport) = (key.sport, key.dport);
        let reply_key = FlowKey {
            src: u32::from(ndst),
            dst: u32::from(nsrc),
            sport: ndport,
            dport: nsport,
            port: out,
            proto: info.proto,
        };
        let reply_info = synthetic_info(info.proto, ndst, nsrc, ndport, nsport, false);
        let back = Rewrite {
            src: (ndst != info.dst).then_some(info.dst),
            dst: (nsrc != info.src).then_some(info.src),
            sport: (ndport != odport).then_some(odport),
            dport: (nsport != osport).then_some(osport),
        };
        let rev = CompiledRewrite::compile(&reply_info, &back).with_ttl_decrement(hops);
        let public = |ip: Ipv4Addr| self.tables.public.contains_key(&u32::from(ip));
        let jumbo = self.path_mtu(key.port, out) >= JUMBO_MTU;
        let fwd_action = FlowAction {
            deltas: fwd.deltas(),
            out,
            hairpin: out == INTERNET_PORT && public(ndst),
            jumbo,
        };
        let rev_action = FlowAction {
            deltas: rev.deltas(),
            out: key.port,
            hairpin: key.port == INTERNET_PORT && public(info.src),
            jumbo,
        };
        match self.conns.insert(
            key,
            fwd_action,
            reply_key,
            rev_action,
            meta,
            info.proto,
            tcp_flags(info),
            now,
        ) {
            Ok(conn) => {
                self.epochs.installed(conn, self.tables.epoch);
                self.counters.flows_created += 1;
                Ok((fwd, fwd_action))
            }
            Err(InsertError::TableFull) => Err(DropReason::ConntrackFull),
            // A stale entry of another epoch or a key collision: forward without state.
            Err(InsertError::KeyExists) => Ok((fwd, fwd_action)),
        }
    }

    /// The ENI stages of a packet a guest sent, then where it goes.
    #[allow(clippy::too_many_arguments)]
    fn outbound(
        &mut self,
        tables: &Tables,
        frame: &mut [u8],
        info: &FrameInfo,
        key: FlowKey,
        ei: EniIdx,
        now: SimTime,
        trace: &mut TraceRef<'_>,
        depth: u8,
    ) -> Outcome {
        let Some(eni) = tables.enis.get(ei as usize) else {
            return self.drop_with(DropReason::EniNotAttached);
        };
        if !eni.attached {
            hop!(
                trace,
                "eni",
                eni.id.clone(),
                "the ENI is attached to no instance (AttachNetworkInterface it)"
            );
            return self.drop_with(DropReason::EniNotAttached);
        }
        if !eni.live {
            hop!(
                trace,
                "eni",
                eni.id.clone(),
                "the ENI's instance is not Running"
            );
            return self.drop_with(DropReason::InstanceNotRunning);
        }
        if !eni.owns_source(info.src) {
            let owner = tables
                .private
                .get(&(eni.vpc, u32::from(info.src)))
                .map(|o| tables.eni(*o))
                .or_else(|| {
                    tables
                        .enis
                        .iter()
                        .find(|e| e.visible_public.contains(&info.src))
                });
            let fix = match owner {
                Some(o) if o.instance == eni.instance && o.instance.is_some() => format!(
                    "{} belongs to {} ({}) of the same instance, but the guest sent the packet by {} ({}): the guest has no source-based policy route for it; install one (multi-nic-util, or `ip rule add from {} lookup {}` with a default route via {} in that table), or `SetGuestPolicyRoutes`",
                    info.src, o.device_name(), o.id, eni.device_name(), eni.id, info.src, 1000 + o.device, o.gateway
                ),
                Some(o) => format!("{} belongs to {}, not to {}", info.src, o.id, eni.id),
                None => format!("{} is not an address of {}", info.src, eni.id),
            };
            hop!(
                trace,
                "eni",
                eni.id.clone(),
                "anti-spoofing [decision]: source {} is not an address of this ENI: {fix}",
                info.src
            );
            return self.drop_with(DropReason::EniSourceCheck);
        }
        let (sport, dport) = info.ports();
        let (ok, d) = eni.sg.evaluate_tuple(
            Direction::Egress,
            info.proto,
            u32::from(info.dst),
            Some(u32::from(info.src)),
            Some(sport),
            dport,
        );
        hop!(
            trace,
            "sg_egress",
            eni.id.clone(),
            "{}: {}",
            if ok { "allowed" } else { "denied" },
            eni.sg.explain(d, Direction::Egress)
        );
        if !ok {
            return self.drop_with(DropReason::SgEgressDenied);
        }
        let in_vpc = tables.in_vpc(eni.vpc, info.dst);
        // A public source on this ENI (cut-through or multi-EIP): the guest already uses
        // the EIP, nothing to translate.
        if eni.visible_public.contains(&info.src) {
            if in_vpc {
                hop!(
                    trace,
                    "eni",
                    eni.id.clone(),
                    "cut-through / multi-EIP source {} cannot reach the private network",
                    info.src
                );
                return self.drop_with(DropReason::CutThroughNoPrivateNetwork);
            }
            let via = if eni.cut_through {
                "cut-through"
            } else {
                "multi-EIP-to-ENI"
            };
            hop!(
                trace,
                "eip",
                eni.id.clone(),
                "{via} EIP {} is the source already: to the Internet unchanged",
                info.src
            );
            return self.finish(
                frame,
                info,
                key,
                Rewrite::default(),
                INTERNET_PORT,
                1,
                SnatBinding::default(),
                now,
                trace,
                depth,
            );
        }
        if eni.cut_through {
            return self.drop_with(DropReason::CutThroughNoPrivateNetwork);
        }
        // Rule 1: a private IP with an EIP (NAT mode) or a static public IP goes 1:1 to
        // the Internet, without consulting the route table.
        if !in_vpc {
            if let Some(o) = tables.one_to_one.get(&(eni.vpc, u32::from(info.src))) {
                let rw = Rewrite {
                    src: Some(o.public),
                    ..Default::default()
                };
                return self.finish_logged(
                    frame,
                    info,
                    key,
                    rw,
                    INTERNET_PORT,
                    1,
                    SnatBinding::default(),
                    now,
                    trace,
                    depth,
                    "eip",
                    || {
                        let what = match o.via {
                            Via::StaticPublicIp => format!("static public IP of {}", o.resource),
                            _ => format!("EIP {}", o.resource),
                        };
                        (
                            o.resource.clone(),
                            format!(
                                "1:1 NAT to the {what} {}; this path does not follow the route table",
                                o.public
                            ),
                        )
                    },
                );
            }
        }
        let table = &tables.route_tables[eni.route_table as usize];
        let Some((_, route)) = table.routes.lookup(u32::from(info.dst)) else {
            hop!(
                trace,
                "route",
                table.id.clone(),
                "no route for {} (no 0.0.0.0/0: create a NAT gateway or a route)",
                info.dst
            );
            return self.drop_with(DropReason::NoRoute);
        };
        hop!(trace, "route", table.id.clone(), "{}", route.text);
        match route.next_hop.clone() {
            NextHopT::Local => {
                let Some(&dest) = tables.private.get(&(eni.vpc, u32::from(info.dst))) else {
                    hop!(
                        trace,
                        "route",
                        table.id.clone(),
                        "no ENI holds {}",
                        info.dst
                    );
                    return self.drop_with(DropReason::NoSuchPrivateIp);
                };
                self.deliver(
                    tables,
                    frame,
                    info,
                    key,
                    Rewrite::default(),
                    dest,
                    1,
                    SnatBinding::default(),
                    now,
                    trace,
                    depth,
                )
            }
            NextHopT::Eni(dest) => self.deliver(
                tables,
                frame,
                info,
                key,
                Rewrite::default(),
                dest,
                1,
                SnatBinding::default(),
                now,
                trace,
                depth,
            ),
            NextHopT::Unmodelled(what) => {
                hop!(
                    trace,
                    "route",
                    table.id.clone(),
                    "next hop {what} is not modelled by vpcsim"
                );
                self.drop_with(DropReason::NextHopUnmodelled)
            }
            NextHopT::NatGateway(g) => self.snat(tables, frame, info, key, g, now, trace, depth),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn snat(
        &mut self,
        tables: &Tables,
        frame: &mut [u8],
        info: &FrameInfo,
        key: FlowKey,
        g: u16,
        now: SimTime,
        trace: &mut TraceRef<'_>,
        depth: u8,
    ) -> Outcome {
        let gw = &tables.nat_gateways[g as usize];
        let Some((_, entry)) = gw.snat.lookup(u32::from(info.src)) else {
            hop!(trace, "snat", gw.id.clone(), "no SNAT entry covers source {}; create one (CreateSnatEntry) for its VSwitch, CIDR or ENI", info.src);
            return self.drop_with(DropReason::NoSnatEntry);
        };
        let (sport, dport) = info.ports();
        let h = |x: &[u32]| {
            x.iter().fold(0x9e37_79b9u32, |a, v| {
                (a ^ v).wrapping_mul(0x0100_0193).rotate_left(5)
            })
        };
        let eip = if entry.eips.len() == 1 || entry.affinity {
            entry.eips[(h(&[u32::from(info.src)]) as usize) % entry.eips.len()]
        } else {
            entry.eips[(h(&[
                u32::from(info.src),
                u32::from(sport),
                u32::from(info.dst),
                u32::from(dport),
            ]) as usize)
                % entry.eips.len()]
        };
        let dst_port = if info.proto == wire::proto::ICMP {
            0
        } else {
            dport
        };
        let conns = &self.conns;
        let probe = |p: u16| {
            let reply = FlowKey {
                src: u32::from(info.dst),
                dst: u32::from(eip),
                sport: if info.proto == wire::proto::ICMP {
                    p
                } else {
                    dport
                },
                dport: p,
                port: INTERNET_PORT,
                proto: info.proto,
            };
            conns.contains_key(&reply)
        };
        let Some(p) = self.snat.allocate(
            u32::from(eip),
            info.proto,
            u32::from(info.dst),
            dst_port,
            h(&[u32::from(info.src), u32::from(sport)]),
            probe,
        ) else {
            hop!(trace, "snat", entry.id.clone(), "no free port on {eip} for {}:{dport}: about {} concurrent connections per destination are used", info.dst, tables.snat_connections_per_destination);
            return self.drop_with(DropReason::SnatPortsExhausted);
        };
        let rw = Rewrite {
            src: Some(eip),
            sport: Some(p),
            dport: (info.proto == wire::proto::ICMP).then_some(p),
            ..Default::default()
        };
        let meta = SnatBinding {
            eip: u32::from(eip),
            dst: u32::from(info.dst),
            dport: dst_port,
            proto: info.proto,
            active: true,
        };
        let out = self.finish_logged(
            frame,
            info,
            key,
            rw,
            INTERNET_PORT,
            2,
            meta,
            now,
            trace,
            depth,
            "snat",
            || {
                (
                    entry.id.clone(),
                    format!(
                        "SNAT entry {} ({}) on {}: source → {eip}:{p}",
                        entry.id, entry.source, gw.id
                    ),
                )
            },
        );
        if !matches!(
            out.disposition,
            Disposition::Internet | Disposition::Delivered { .. }
        ) {
            self.snat
                .release(u32::from(eip), info.proto, u32::from(info.dst), dst_port);
        }
        out
    }

    /// From the Internet: who holds the destination address.
    #[allow(clippy::too_many_arguments)]
    fn inbound(
        &mut self,
        tables: &Tables,
        frame: &mut [u8],
        info: &FrameInfo,
        key: FlowKey,
        now: SimTime,
        trace: &mut TraceRef<'_>,
        depth: u8,
    ) -> Outcome {
        let Some(owner) = tables.public.get(&u32::from(info.dst)) else {
            hop!(
                trace,
                "internet",
                "edge",
                "no resource of this scenario holds {}",
                info.dst
            );
            return self.drop_with(DropReason::PublicIpUnknown);
        };
        match owner {
            PublicOwner::Nat1to1 {
                eni,
                private_ip,
                via,
                resource,
            } => {
                let what = if *via == Via::StaticPublicIp {
                    format!("static public IP of {resource}")
                } else {
                    format!("EIP {resource}")
                };
                hop!(
                    trace,
                    "eip",
                    resource.clone(),
                    "{what}: 1:1 NAT {} → {private_ip} ({}); the guest does not see the EIP",
                    info.dst,
                    tables.eni(*eni).id
                );
                let rw = Rewrite {
                    dst: Some(*private_ip),
                    ..Default::default()
                };
                self.deliver(
                    tables,
                    frame,
                    info,
                    key,
                    rw,
                    *eni,
                    1,
                    SnatBinding::default(),
                    now,
                    trace,
                    depth,
                )
            }
            PublicOwner::Visible { eni, via, resource } => {
                let mode = if *via == Via::CutThrough {
                    "cut-through"
                } else {
                    "multi-EIP-to-ENI"
                };
                hop!(
                    trace,
                    "eip",
                    resource.clone(),
                    "{mode} EIP {}: delivered unchanged to {} (the guest holds the address)",
                    info.dst,
                    tables.eni(*eni).id
                );
                self.deliver(
                    tables,
                    frame,
                    info,
                    key,
                    Rewrite::default(),
                    *eni,
                    1,
                    SnatBinding::default(),
                    now,
                    trace,
                    depth,
                )
            }
            PublicOwner::NatGateway { gw } => {
                let g = &tables.nat_gateways[*gw as usize];
                let (_, dport) = info.ports();
                let d = g
                    .dnat_ports
                    .get(&(u32::from(info.dst), info.proto, dport))
                    .or_else(|| g.dnat_ips.get(&u32::from(info.dst)));
                let Some(d) = d else {
                    hop!(trace, "dnat", g.id.clone(), "{} {}:{dport}: no SNAT session and no DNAT entry (add one with CreateForwardEntry)", info.proto, info.dst);
                    return self.drop_with(DropReason::NatGatewayNoMapping);
                };
                let Some(&dest) = tables.private.get(&(g.vpc, u32::from(d.internal_ip))) else {
                    hop!(
                        trace,
                        "dnat",
                        d.id.clone(),
                        "DNAT target {} is held by no ENI",
                        d.internal_ip
                    );
                    return self.drop_with(DropReason::NoSuchPrivateIp);
                };
                let rw = Rewrite {
                    dst: Some(d.internal_ip),
                    dport: d.internal_port,
                    ..Default::default()
                };
                let kind = if d.internal_port.is_some() {
                    "port mapping"
                } else {
                    "IP mapping"
                };
                hop!(
                    trace,
                    "dnat",
                    d.id.clone(),
                    "DNAT entry {} on {} ({kind}): → {}{}",
                    d.id,
                    g.id,
                    d.internal_ip,
                    d.internal_port.map(|p| format!(":{p}")).unwrap_or_default()
                );
                self.deliver(
                    tables,
                    frame,
                    info,
                    key,
                    rw,
                    dest,
                    2,
                    SnatBinding::default(),
                    now,
                    trace,
                    depth,
                )
            }
            PublicOwner::Unmodelled { what } => {
                hop!(
                    trace,
                    "eip",
                    what.clone(),
                    "{} is bound to {what}, which vpcsim does not forward to",
                    info.dst
                );
                self.drop_with(DropReason::TargetUnmodelled)
            }
            PublicOwner::Unbound { eip } => {
                hop!(
                    trace,
                    "eip",
                    eip.clone(),
                    "EIP {} is bound to nothing (AssociateEipAddress it)",
                    info.dst
                );
                self.drop_with(DropReason::EipUnbound)
            }
        }
    }

    /// SG ingress of the receiving ENI, then delivery.
    #[allow(clippy::too_many_arguments)]
    fn deliver(
        &mut self,
        tables: &Tables,
        frame: &mut [u8],
        info: &FrameInfo,
        key: FlowKey,
        rw: Rewrite,
        dest: EniIdx,
        hops: u8,
        meta: SnatBinding,
        now: SimTime,
        trace: &mut TraceRef<'_>,
        depth: u8,
    ) -> Outcome {
        let e = tables.eni(dest);
        if !e.attached {
            hop!(
                trace,
                "eni",
                e.id.clone(),
                "the receiving ENI is attached to no instance (AttachNetworkInterface it)"
            );
            return self.drop_with(DropReason::EniNotAttached);
        }
        if !e.live {
            hop!(
                trace,
                "eni",
                e.id.clone(),
                "the receiving ENI's instance is not Running"
            );
            return self.drop_with(DropReason::InstanceNotRunning);
        }
        let (sport, dport) = info.ports();
        let dport = rw.dport.unwrap_or(dport);
        let (ok, d) = e.sg.evaluate_tuple(
            Direction::Ingress,
            info.proto,
            u32::from(info.src),
            Some(u32::from(rw.dst.unwrap_or(info.dst))),
            Some(rw.sport.unwrap_or(sport)),
            dport,
        );
        hop!(
            trace,
            "sg_ingress",
            e.id.clone(),
            "{}: {}",
            if ok { "allowed" } else { "denied" },
            e.sg.explain(d, Direction::Ingress)
        );
        if !ok {
            if matches!(d, SgDecision::DefaultDeny) {
                hop!(
                    trace,
                    "sg_ingress",
                    e.id.clone(),
                    "fix: AuthorizeSecurityGroup on {} for {} port {dport} from {}",
                    e.sg.groups.join("/"),
                    proto_name(info.proto),
                    info.src
                );
            }
            return self.drop_with(DropReason::SgIngressDenied);
        }
        self.finish_logged(
            frame,
            info,
            key,
            rw,
            dest + 1,
            hops,
            meta,
            now,
            trace,
            depth,
            "eni",
            || {
                (
                    e.id.clone(),
                    format!(
                        "delivered to {} ({} of {})",
                        e.id,
                        e.device_name(),
                        e.instance
                            .map_or("no instance", |i| tables.instances[i as usize].id.as_str())
                    ),
                )
            },
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn finish_logged(
        &mut self,
        frame: &mut [u8],
        info: &FrameInfo,
        key: FlowKey,
        rw: Rewrite,
        out: u16,
        hops: u8,
        meta: SnatBinding,
        now: SimTime,
        trace: &mut TraceRef<'_>,
        depth: u8,
        stage: &'static str,
        describe: impl FnOnce() -> (String, String),
    ) -> Outcome {
        if let Some(t) = trace.as_deref_mut() {
            let (resource, detail) = describe();
            let mut after = *info;
            after.src = rw.src.unwrap_or(info.src);
            after.dst = rw.dst.unwrap_or(info.dst);
            after.l4 = match info.l4 {
                L4::Tcp {
                    sport,
                    dport,
                    flags,
                    seq,
                    ack,
                } => L4::Tcp {
                    sport: rw.sport.unwrap_or(sport),
                    dport: rw.dport.unwrap_or(dport),
                    flags,
                    seq,
                    ack,
                },
                L4::Udp { sport, dport } => L4::Udp {
                    sport: rw.sport.unwrap_or(sport),
                    dport: rw.dport.unwrap_or(dport),
                },
                L4::IcmpEcho {
                    request,
                    ident,
                    seq,
                } => L4::IcmpEcho {
                    request,
                    ident: rw.sport.or(rw.dport).unwrap_or(ident),
                    seq,
                },
                other => other,
            };
            after.ttl = info.ttl.saturating_sub(hops);
            if rw.is_noop() {
                t.push(stage, resource, detail);
            } else {
                t.rewrite(stage, resource, detail, info, &after);
            }
        }
        self.finish(frame, info, key, rw, out, hops, meta, now, trace, depth)
    }

    #[allow(clippy::too_many_arguments)]
    fn finish(
        &mut self,
        frame: &mut [u8],
        info: &FrameInfo,
        key: FlowKey,
        rw: Rewrite,
        out: u16,
        hops: u8,
        meta: SnatBinding,
        now: SimTime,
        trace: &mut TraceRef<'_>,
        depth: u8,
    ) -> Outcome {
        if info.ttl <= hops {
            // Hop 0 is the VPC router (or, from the Internet, the public address's edge);
            // hop 1 of an SNAT path is the NAT gateway, which answers from its EIP.
            let hop = info.ttl.saturating_sub(1);
            return self.ttl_exceeded(frame, info, key.port, hop, rw.src, trace);
        }
        // Too big with DF: refused before any state is created (no connection, no SNAT
        // port), as the router refuses it before forwarding.
        let mtu = self.path_mtu(key.port, out);
        if info.total_len > mtu && info.dont_fragment {
            return self.frag_needed(frame, info, key.port, mtu, trace);
        }
        self.note_fragment_mtu(info, mtu);
        match self.install(info, key, rw, out, hops, meta, now) {
            Ok((rw, a)) => self.apply_action(
                frame,
                (info.l4_offset, info.proto),
                rw,
                a,
                key.port,
                now,
                trace,
                depth,
            ),
            Err(r) => {
                hop!(
                    trace,
                    "flow_table",
                    "conntrack",
                    "the connection table is full of established connections: new flow refused"
                );
                self.drop_with(r)
            }
        }
    }

    /// TTL ran out at a routed hop: drop, and send an ICMP time-exceeded back to the
    /// sender from the hop's address: the VSwitch gateway for the VPC router, the
    /// translated source (the NAT gateway's EIP) for the second hop of an SNAT path, the
    /// public address for packets from the Internet.
    fn ttl_exceeded(
        &mut self,
        frame: &[u8],
        info: &FrameInfo,
        in_port: u16,
        hop: u8,
        translated_src: Option<Ipv4Addr>,
        trace: &mut TraceRef<'_>,
    ) -> Outcome {
        self.network_error(
            frame,
            info,
            in_port,
            hop,
            translated_src,
            wire::IcmpErrorKind::TimeExceeded,
            trace,
        )
    }

    /// Drops a packet for `kind`'s reason and sends the ICMP error back to the sender.
    #[allow(clippy::too_many_arguments)]
    fn network_error(
        &mut self,
        frame: &[u8],
        info: &FrameInfo,
        in_port: u16,
        hop: u8,
        translated_src: Option<Ipv4Addr>,
        kind: wire::IcmpErrorKind,
        trace: &mut TraceRef<'_>,
    ) -> Outcome {
        let tables = Arc::clone(&self.tables);
        let (from, back) = match tables.eni_of_port(in_port) {
            Some(e) => {
                let router = tables.eni(e).gateway;
                let from = if hop == 0 {
                    router
                } else {
                    translated_src.unwrap_or(router)
                };
                (from, Disposition::Delivered { eni: e })
            }
            None if tables.public.contains_key(&u32::from(info.dst)) => {
                (info.dst, Disposition::Internet)
            }
            None => (Ipv4Addr::UNSPECIFIED, Disposition::Internet),
        };
        let reason = match kind {
            wire::IcmpErrorKind::FragmentationNeeded { mtu } => {
                hop!(
                    trace,
                    "mtu",
                    from.to_string(),
                    "dropped, ICMP fragmentation needed (MTU {mtu}) sent from {from}"
                );
                DropReason::MtuExceeded
            }
            _ => {
                hop!(
                    trace,
                    "ttl",
                    from.to_string(),
                    "TTL {} expires at this hop: dropped, ICMP time exceeded sent from {from}",
                    info.ttl
                );
                DropReason::TtlExceeded
            }
        };
        let mut out = self.drop_with(reason);
        if !from.is_unspecified() {
            let mac = match back {
                Disposition::Delivered { eni } => tables.eni(eni).mac,
                _ => INTERNET_MAC,
            };
            if let Some(icmp) = wire::icmp_error(frame, info, kind, from, VROUTER_MAC, mac) {
                out.generated.push((icmp, back));
            }
        }
        out
    }

    /// An ICMP error about a tracked flow (RFC 5508): the embedded header is the packet
    /// the flow sent the other way, so the reverse of its tuple finds the connection; the
    /// outer destination and the embedded source are translated back together.
    fn icmp_error(
        &mut self,
        frame: &mut [u8],
        info: &FrameInfo,
        port: u16,
        now: SimTime,
        trace: &mut TraceRef<'_>,
        depth: u8,
    ) -> Outcome {
        let L4::IcmpError { inner, .. } = info.l4 else {
            return self.drop_with(DropReason::MalformedFrame);
        };
        let (isport, idport) = if inner.proto == wire::proto::ICMP {
            (inner.sport, inner.sport)
        } else {
            (inner.sport, inner.dport)
        };
        let key = FlowKey {
            src: u32::from(inner.dst),
            dst: u32::from(inner.src),
            sport: idport,
            dport: isport,
            port,
            proto: inner.proto,
        };
        let Some(hit) = self.conns.lookup(&key, now) else {
            hop!(
                trace,
                "flow_table",
                self.tables.port_name(port),
                "ICMP error about {} {}:{} → {}:{}: no such connection",
                inner.proto,
                inner.src,
                inner.sport,
                inner.dst,
                inner.dport
            );
            return self.drop_with(DropReason::IcmpErrorNoFlow);
        };
        let (nsrc, ndst, nsport, ndport) = hit.action.rewrite(&hit.other).target();
        // The flow's translation for packets toward the embedded packet's sender maps
        // (inner.dst, inner.src) to (nsrc, ndst): the outer destination and the embedded
        // source become ndst; the embedded ports are the flow's ports reversed.
        let outer = Rewrite {
            dst: (ndst != info.dst).then_some(ndst),
            ..Default::default()
        };
        let inner_rw = Rewrite {
            src: (ndst != inner.src).then_some(ndst),
            dst: (nsrc != inner.dst).then_some(nsrc),
            sport: (ndport != inner.sport && inner.proto != wire::proto::ICMP).then_some(ndport),
            dport: (nsport != inner.dport && inner.proto != wire::proto::ICMP).then_some(nsport),
        };
        let inner_rw = if inner.proto == wire::proto::ICMP {
            Rewrite {
                sport: (ndport != inner.sport).then_some(ndport),
                ..inner_rw
            }
        } else {
            inner_rw
        };
        let before = *info;
        let info2 = wire::apply_inner(frame, info, &inner_rw);
        let info3 = wire::apply(frame, &info2, &outer);
        if let Some(t) = trace.as_deref_mut() {
            t.rewrite(
                "icmp_error",
                self.tables.port_name(port),
                "ICMP error translated with its flow (RFC 5508)",
                &before,
                &info3,
            );
        }
        if wire::decrement_ttl(frame, &info3).is_none() {
            return self.drop_with(DropReason::TtlExceeded);
        }
        match self.tables.eni_of_port(hit.action.out) {
            Some(e) => {
                wire::set_macs(frame, VROUTER_MAC, self.tables.eni(e).mac);
                Outcome::of(Disposition::Delivered { eni: e })
            }
            None if hit.action.hairpin && depth < 2 => {
                self.process_at(frame, Ingress::Internet, now, trace, depth + 1)
            }
            None => {
                wire::set_macs(frame, VROUTER_MAC, INTERNET_MAC);
                Outcome::of(Disposition::Internet)
            }
        }
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
