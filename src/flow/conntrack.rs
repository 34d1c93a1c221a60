//! The connection table: one record per connection, two index entries (one per
//! direction) pointing at it.
//!
//! # Layout and memory
//!
//! * A slab `Vec<Conn<A, M>>` of at most `capacity` records. A record holds both
//!   direction keys (2 × 16 B), both cached actions (2 × `size_of::<A>()`), the
//!   metadata `M`, the last-seen time as a `u32` tick, two `u32` links for the eviction
//!   list, and one byte each of state and flags. Free records are chained through their
//!   `next` link; the slab is never shrunk or grown past `capacity`.
//! * One index (`flow/index.rs`) of 64-byte buckets of 15 tagged slots, sized once for
//!   `2 × capacity` entries at a load factor of at most [`MAX_LOAD`] ([`BUCKET_SLOTS`]
//!   slots a bucket, folly F14's overflow counts instead of tombstones): no rehashing,
//!   no allocation after construction. At load 0.8 a hit reads ≈ 1 bucket
//!   (`index_probe_lengths_stay_short`).
//!
//! With the pipeline's 10-byte action and 14-byte metadata that is 84 B of record plus
//! ≈ 6.7 B of index ≈ 90.7 B per connection (both directions) at any capacity; see
//! [`ConnTable::bytes_per_connection`] and the `memory_per_connection_*` tests.
//!
//! # Batches
//!
//! [`ConnTable::hash`] + [`ConnTable::prefetch`] (+ [`ConnTable::prefetch_record`]) +
//! [`ConnTable::lookup_hashed`] let a batch path hash every packet of a burst, start
//! loading every bucket (then every record), then look up:
//! at 1M connections the index misses of the burst overlap instead of adding up.
//!
//! # Time
//!
//! Last-seen times are kept as `u32` ticks of [`TICK_NANOS`] (2^20 ns ≈ 1.05 ms), so a
//! timeout is honoured to within about a millisecond. Ticks wrap after ≈ 52 simulated
//! days; comparisons use wrapping arithmetic, which stays exact as long as every
//! connection is looked at by [`ConnTable::expire`] (or the incremental
//! [`ConnTable::expire_some`]) at least once in any ≈ 50-day window — the engine calls it
//! every simulated second or so.
//!
//! # Expiry
//!
//! [`ConnTable::lookup`] takes `&self` and treats an entry idle past the timeout of its
//! state as a miss; it cannot remove it. Such a connection is reclaimed (its metadata
//! queued and handed out by the next [`ConnTable::expire`], counted in
//! `stats().expirations`) when one of:
//! * an [`insert`](ConnTable::insert) reuses one of its keys (the slow path re-installs
//!   the flow after the miss),
//! * an insert finds the table full (bounded lazy expiry, below),
//! * [`ConnTable::expire`] sweeps the slab (`O(slab length)`; housekeeping), or
//!   [`ConnTable::expire_some`] advances its clock hand over a bounded number of slots.
//!
//! # Capacity and eviction policy
//!
//! The table never holds more than `capacity` connections. When an insert needs a record
//! and none is free:
//! 1. **Lazy expiry, bounded**: the head of the eviction list and up to
//!    [`CLOCK_BUDGET`] slots under a clock hand are checked; every timed-out connection
//!    found is reclaimed (counted as an expiration).
//! 2. **Eviction**: otherwise the *oldest unprotected* connection is evicted (counted in
//!    `evictions`). Unprotected means not `Established` for TCP (so half-open SYN-flood
//!    entries, and closing/closed ones, go first), and "no reply seen yet" for UDP, ICMP
//!    and other protocols. Unprotected connections sit in one intrusive doubly linked
//!    FIFO in the order they became unprotected, so this is O(1).
//! 3. **Refusal**: if every connection is protected, the insert fails with
//!    [`InsertError::TableFull`] (counted in `refused_full`) rather than break a working
//!    flow.
//!
//! The metadata of evicted connections is queued exactly like that of expired ones, so
//! the pipeline releases their SNAT bindings from the same [`ConnTable::expire`] call.
//!
//! # Hashing
//!
//! Keys come straight from packets, so an attacker chooses them. The index hashes the
//! key's two 64-bit words with one folded 64×64→128-bit multiply (foldhash's short-input
//! construction: `fold(a ^ s0, b ^ s1)`), keyed by two 64-bit secrets drawn per table
//! from the OS-seeded `RandomState`: a handful of instructions, and an attacker who
//! cannot read the secrets cannot precompute a set of colliding tuples. It is not a cryptographic PRF; the residual risk is accepted
//! because the table's size is bounded (a flood degrades probe lengths, never memory),
//! and the simulator is not exposed to hostile traffic anyway. The seed only affects the
//! index layout, never which connections are found, expired or evicted, so runs stay
//! deterministic. [`ConnTable::with_seed`] fixes it for reproducible benchmarks.

use std::hash::{BuildHasher, Hasher};

use super::index::{self, Index};
pub use super::index::{BUCKET_SLOTS, MAX_LOAD};
use super::{proto, tcp_flags, ConnId, Dir, FlowKey, Hit, InsertError, TcpState, Timeouts};
use crate::time::SimTime;

/// Granularity of stored timestamps: 2^20 ns ≈ 1.05 ms.
pub const TICK_NANOS: u64 = 1 << TICK_SHIFT;
const TICK_SHIFT: u32 = 20;

/// Slots examined by the clock hand when an insert finds the table full.
pub const CLOCK_BUDGET: usize = 8;

const NIL: u32 = u32::MAX;

// Record states: TCP states 0..=5 (TcpState order), then the non-TCP classes.
const ST_SYN_SENT: u8 = 0;
const ST_SYN_RECEIVED: u8 = 1;
const ST_ESTABLISHED: u8 = 2;
const ST_FIN_WAIT: u8 = 3;
const ST_CLOSING: u8 = 4;
const ST_CLOSED: u8 = 5;
const ST_UDP: u8 = 6;
const ST_ICMP: u8 = 7;
const ST_OTHER: u8 = 8;
const N_STATES: usize = 9;
const ST_FREE: u8 = 0xff;

// Record flags.
const F_FIN_ORIG: u8 = 1;
const F_FIN_REPLY: u8 = 2;
const F_SEEN_REPLY: u8 = 4;
const F_LISTED: u8 = 8;

/// Counters, monotonically increasing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnStats {
    /// Connections inserted.
    pub inserts: u64,
    /// Unprotected connections removed to make room for a new one.
    pub evictions: u64,
    /// Connections removed because they were idle past their timeout.
    pub expirations: u64,
    /// Inserts refused because every connection was protected.
    pub refused_full: u64,
}

#[derive(Clone, Copy)]
struct Conn<A: Copy, M: Copy> {
    keys: [FlowKey; 2],
    actions: [A; 2],
    meta: M,
    last_seen: u32,
    prev: u32,
    next: u32,
    state: u8,
    flags: u8,
}

/// Per-flow state: see the module documentation.
pub struct ConnTable<A: Copy, M: Copy> {
    conns: Vec<Conn<A, M>>,
    index: Index,
    capacity: usize,
    len: usize,
    free_head: u32,
    /// Eviction FIFO of unprotected connections.
    lru_head: u32,
    lru_tail: u32,
    clock: usize,
    timeout_ticks: [u32; N_STATES],
    pending: Vec<M>,
    stats: ConnStats,
}

fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[inline]
fn tick(now: SimTime) -> u32 {
    (now.0 >> TICK_SHIFT) as u32
}

fn ticks_of(d: std::time::Duration) -> u32 {
    let n = d.as_nanos();
    let t = n.div_ceil(TICK_NANOS as u128);
    // Leave room below the wrap horizon.
    t.min((u32::MAX / 2) as u128) as u32
}

fn tcp_initial(flags: u8) -> u8 {
    use tcp_flags::*;
    if flags & RST != 0 {
        ST_CLOSED
    } else if flags & SYN != 0 {
        if flags & ACK != 0 {
            ST_SYN_RECEIVED
        } else {
            ST_SYN_SENT
        }
    } else if flags & FIN != 0 {
        ST_FIN_WAIT
    } else {
        ST_ESTABLISHED
    }
}

/// The transition table documented on [`TcpState`]. `fins` holds `F_FIN_*` bits and is
/// updated.
fn tcp_next(state: u8, dir: Dir, flags: u8, fins: &mut u8) -> u8 {
    use tcp_flags::*;
    if flags & RST != 0 {
        return ST_CLOSED;
    }
    let syn_only = flags & (SYN | ACK) == SYN;
    if matches!(state, ST_CLOSING | ST_CLOSED) {
        if syn_only && dir == Dir::Original {
            *fins = 0;
            return ST_SYN_SENT;
        }
        return state;
    }
    if flags & FIN != 0 {
        *fins |= match dir {
            Dir::Original => F_FIN_ORIG,
            Dir::Reply => F_FIN_REPLY,
        };
        return if *fins == F_FIN_ORIG | F_FIN_REPLY {
            ST_CLOSING
        } else {
            ST_FIN_WAIT
        };
    }
    match state {
        ST_SYN_SENT if dir == Dir::Reply && flags & (SYN | ACK) == SYN | ACK => ST_SYN_RECEIVED,
        ST_SYN_RECEIVED if dir == Dir::Original && flags & (SYN | ACK) == ACK => ST_ESTABLISHED,
        s => s,
    }
}

fn tcp_state(code: u8) -> Option<TcpState> {
    Some(match code {
        ST_SYN_SENT => TcpState::SynSent,
        ST_SYN_RECEIVED => TcpState::SynReceived,
        ST_ESTABLISHED => TcpState::Established,
        ST_FIN_WAIT => TcpState::FinWait,
        ST_CLOSING => TcpState::Closing,
        ST_CLOSED => TcpState::Closed,
        _ => return None,
    })
}

impl<A: Copy, M: Copy> ConnTable<A, M> {
    /// A table for at most `capacity` connections (at least 1, below 2^30), with hash
    /// secrets drawn from the OS.
    pub fn new(capacity: usize, timeouts: Timeouts) -> Self {
        let rs = std::collections::hash_map::RandomState::new();
        let mut seed = [0u64; 3];
        for (i, s) in seed.iter_mut().enumerate() {
            let mut h = rs.build_hasher();
            h.write_usize(i);
            *s = h.finish();
        }
        Self::with_seed(capacity, timeouts, seed)
    }

    /// As [`ConnTable::new`] with fixed hash secrets (reproducible layout for benches).
    pub fn with_seed(capacity: usize, timeouts: Timeouts, seed: [u64; 3]) -> Self {
        let capacity = capacity.max(1);
        assert!(
            capacity < (1 << 30),
            "ConnTable capacity must be below 2^30"
        );
        let t = timeouts;
        let timeout_ticks = [
            ticks_of(t.tcp_syn),
            ticks_of(t.tcp_syn),
            ticks_of(t.tcp_established),
            ticks_of(t.tcp_closing),
            ticks_of(t.tcp_closed),
            ticks_of(t.tcp_closed),
            ticks_of(t.udp),
            ticks_of(t.icmp),
            ticks_of(t.other),
        ];
        ConnTable {
            conns: Vec::with_capacity(capacity),
            // Whatever the caller passes (even 1, 2, 3), the secrets are well mixed.
            index: Index::new(
                2 * capacity as u64,
                [splitmix(seed[0] ^ splitmix(seed[2])), splitmix(seed[1] ^ 1)],
            ),
            capacity,
            len: 0,
            free_head: NIL,
            lru_head: NIL,
            lru_tail: NIL,
            clock: 0,
            timeout_ticks,
            pending: Vec::new(),
            stats: ConnStats::default(),
        }
    }

    /// The index hash of `key` (see [`Index::hash`]). Pass it to
    /// [`ConnTable::prefetch`] and [`ConnTable::lookup_hashed`] to overlap the index's
    /// cache misses across a batch of packets.
    #[inline(always)]
    pub fn hash(&self, k: &FlowKey) -> u64 {
        self.index.hash(k)
    }

    /// Starts loading the index bucket of hash `h` into the cache (no effect on
    /// targets without a prefetch instruction). Costs nothing if already cached.
    #[inline(always)]
    pub fn prefetch(&self, h: u64) {
        self.index.prefetch(h);
    }

    /// Second prefetch stage of a batch: once the bucket of hash `h` is (being) loaded,
    /// starts loading the record of its first slot whose tag matches, so the key compare
    /// of the lookup does not miss either. A wrong candidate (a tag collision, or a
    /// record replaced since) costs one wasted prefetch, never a wrong answer.
    #[inline(always)]
    pub fn prefetch_record(&self, h: u64) {
        let Some(e) = self.index.first_candidate(h) else {
            return;
        };
        if let Some(c) = self.conns.get((e >> 1) as usize) {
            let p = c as *const Conn<A, M> as *const i8;
            // A record may straddle two cache lines: load both.
            index::prefetch_line(p);
            index::prefetch_line(p.wrapping_add(std::mem::size_of::<Conn<A, M>>() - 1));
        }
    }

    /// The entry (`conn × 2 + dir`) whose key is `key`, live or not.
    #[inline(always)]
    fn find(&self, key: &FlowKey) -> Option<u32> {
        self.find_hashed(key, self.hash(key))
    }

    #[inline(always)]
    fn find_hashed(&self, key: &FlowKey, h: u64) -> Option<u32> {
        let conns = &self.conns;
        self.index.find(h, |e| {
            conns[(e >> 1) as usize].keys[(e & 1) as usize] == *key
        })
    }

    fn index_insert(&mut self, key: &FlowKey, entry: u32) {
        let h = self.hash(key);
        self.index.insert(h, entry);
    }

    /// Removes exactly `entry` (not merely "some entry with this key").
    fn index_remove(&mut self, key: &FlowKey, entry: u32) {
        let h = self.hash(key);
        self.index.remove(h, entry);
    }

    #[inline]
    fn expired_at(&self, c: &Conn<A, M>, t: u32) -> bool {
        t.wrapping_sub(c.last_seen) > self.timeout_ticks[c.state as usize]
    }

    #[inline]
    fn protected(c: &Conn<A, M>) -> bool {
        match c.state {
            ST_ESTABLISHED => true,
            ST_UDP | ST_ICMP | ST_OTHER => c.flags & F_SEEN_REPLY != 0,
            _ => false,
        }
    }

    fn lru_push(&mut self, id: u32) {
        let tail = self.lru_tail;
        {
            let c = &mut self.conns[id as usize];
            c.prev = tail;
            c.next = NIL;
            c.flags |= F_LISTED;
        }
        if tail == NIL {
            self.lru_head = id;
        } else {
            self.conns[tail as usize].next = id;
        }
        self.lru_tail = id;
    }

    fn lru_unlink(&mut self, id: u32) {
        let (prev, next) = {
            let c = &mut self.conns[id as usize];
            c.flags &= !F_LISTED;
            (c.prev, c.next)
        };
        if prev == NIL {
            self.lru_head = next;
        } else {
            self.conns[prev as usize].next = next;
        }
        if next == NIL {
            self.lru_tail = prev;
        } else {
            self.conns[next as usize].prev = prev;
        }
    }

    /// Keeps list membership equal to "unprotected".
    fn relist(&mut self, id: u32) {
        let c = &self.conns[id as usize];
        let listed = c.flags & F_LISTED != 0;
        let want = !Self::protected(c);
        if listed && !want {
            self.lru_unlink(id);
        } else if !listed && want {
            self.lru_push(id);
        }
    }

    /// Frees connection `id` and returns its metadata.
    fn reclaim(&mut self, id: u32) -> M {
        let c = self.conns[id as usize];
        debug_assert!(c.state != ST_FREE);
        self.index_remove(&c.keys[0], id * 2);
        self.index_remove(&c.keys[1], id * 2 + 1);
        if c.flags & F_LISTED != 0 {
            self.lru_unlink(id);
        }
        let free_head = self.free_head;
        let r = &mut self.conns[id as usize];
        r.state = ST_FREE;
        r.flags = 0;
        r.next = free_head;
        self.free_head = id;
        self.len -= 1;
        c.meta
    }

    fn reclaim_expired(&mut self, id: u32) {
        let m = self.reclaim(id);
        self.pending.push(m);
        self.stats.expirations += 1;
    }

    /// Bounded lazy expiry, then eviction, as the module doc describes.
    fn make_room(&mut self, t: u32) -> Result<(), InsertError> {
        let mut freed = false;
        let head = self.lru_head;
        if head != NIL && self.expired_at(&self.conns[head as usize], t) {
            self.reclaim_expired(head);
            freed = true;
        }
        let slab = self.conns.len();
        for _ in 0..CLOCK_BUDGET.min(slab) {
            if self.clock >= slab {
                self.clock = 0;
            }
            let id = self.clock;
            self.clock += 1;
            let c = &self.conns[id];
            if c.state != ST_FREE && self.expired_at(c, t) {
                self.reclaim_expired(id as u32);
                freed = true;
            }
        }
        if freed {
            return Ok(());
        }
        let head = self.lru_head;
        if head != NIL {
            let m = self.reclaim(head);
            self.pending.push(m);
            self.stats.evictions += 1;
            return Ok(());
        }
        self.stats.refused_full += 1;
        Err(InsertError::TableFull)
    }

    /// One lookup; an entry past its timeout counts as a miss (it is reclaimed later, see
    /// the module doc). Refreshes nothing.
    #[inline]
    pub fn lookup(&self, key: &FlowKey, now: SimTime) -> Option<Hit<A>> {
        self.lookup_hashed(key, self.hash(key), now)
    }

    /// [`ConnTable::lookup`] with the key's [`ConnTable::hash`] already computed (the
    /// batch path: hash every packet, prefetch every bucket, then look up).
    #[inline(always)]
    pub fn lookup_hashed(&self, key: &FlowKey, h: u64, now: SimTime) -> Option<Hit<A>> {
        debug_assert_eq!(h, self.hash(key));
        let e = self.find_hashed(key, h)?;
        let c = &self.conns[(e >> 1) as usize];
        if self.expired_at(c, tick(now)) {
            return None;
        }
        Some(Hit {
            action: c.actions[(e & 1) as usize],
            dir: if e & 1 == 0 {
                Dir::Original
            } else {
                Dir::Reply
            },
            conn: ConnId(e >> 1),
            other: c.keys[(e & 1 ^ 1) as usize],
        })
    }

    /// Called for each packet that used a hit: refreshes last-seen and advances the TCP
    /// state from the flags (pass 0 for non-TCP). Returns the new state for TCP, `None`
    /// for other protocols or a connection that no longer exists.
    #[inline(always)]
    pub fn observe(
        &mut self,
        conn: ConnId,
        dir: Dir,
        tcp_flags: u8,
        now: SimTime,
    ) -> Option<TcpState> {
        use tcp_flags::{FIN, RST, SYN};
        let c = self.conns.get_mut(conn.0 as usize)?;
        // Nearly every packet changes nothing but the last-seen time: a segment of an
        // established TCP connection without SYN, FIN or RST, or a packet of any other
        // protocol once its reply was seen (or in the original direction). Only
        // last-seen changes then, and protection (the eviction list) cannot.
        let quiet = match c.state {
            ST_ESTABLISHED => tcp_flags & (SYN | FIN | RST) == 0,
            ST_UDP | ST_ICMP | ST_OTHER => dir == Dir::Original || c.flags & F_SEEN_REPLY != 0,
            _ => false,
        };
        if quiet {
            c.last_seen = tick(now);
            return (c.state == ST_ESTABLISHED).then_some(TcpState::Established);
        }
        self.observe_change(conn, dir, tcp_flags, now)
    }

    /// [`ConnTable::observe`] when the packet may change the state or the protection.
    #[inline(never)]
    fn observe_change(
        &mut self,
        conn: ConnId,
        dir: Dir,
        tcp_flags: u8,
        now: SimTime,
    ) -> Option<TcpState> {
        let id = conn.0;
        let c = self.conns.get_mut(id as usize)?;
        if c.state == ST_FREE {
            return None;
        }
        c.last_seen = tick(now);
        let was_protected = Self::protected(c);
        if dir == Dir::Reply {
            c.flags |= F_SEEN_REPLY;
        }
        let st = if c.state <= ST_CLOSED {
            let mut fins = c.flags & (F_FIN_ORIG | F_FIN_REPLY);
            c.state = tcp_next(c.state, dir, tcp_flags, &mut fins);
            c.flags = (c.flags & !(F_FIN_ORIG | F_FIN_REPLY)) | fins;
            tcp_state(c.state)
        } else {
            None
        };
        if was_protected != Self::protected(c) {
            self.relist(id);
        }
        st
    }

    /// Installs a connection: `original` (the packet that took the slow path) and
    /// `reply` (the tuple its replies will arrive with), each with its cached action.
    /// `proto` selects the timeout class; `tcp_flags` the initial TCP state.
    ///
    /// Stale (timed-out) connections owning either key are reclaimed first. When the
    /// table is full the policy in the module doc applies.
    #[allow(clippy::too_many_arguments)]
    pub fn insert(
        &mut self,
        original: FlowKey,
        original_action: A,
        reply: FlowKey,
        reply_action: A,
        meta: M,
        proto: u8,
        tcp_flags: u8,
        now: SimTime,
    ) -> Result<ConnId, InsertError> {
        let t = tick(now);
        for k in [&original, &reply] {
            if let Some(e) = self.find(k) {
                let id = e >> 1;
                if self.expired_at(&self.conns[id as usize], t) {
                    self.reclaim_expired(id);
                } else {
                    return Err(InsertError::KeyExists);
                }
            }
        }
        if self.free_head == NIL && self.conns.len() >= self.capacity {
            self.make_room(t)?;
        }
        let state = match proto {
            proto::TCP => tcp_initial(tcp_flags),
            proto::UDP => ST_UDP,
            proto::ICMP => ST_ICMP,
            _ => ST_OTHER,
        };
        let rec = Conn {
            keys: [original, reply],
            actions: [original_action, reply_action],
            meta,
            last_seen: t,
            prev: NIL,
            next: NIL,
            state,
            flags: 0,
        };
        let id = if self.free_head != NIL {
            let id = self.free_head;
            self.free_head = self.conns[id as usize].next;
            self.conns[id as usize] = rec;
            id
        } else {
            self.conns.push(rec);
            (self.conns.len() - 1) as u32
        };
        self.index_insert(&original, id * 2);
        self.index_insert(&reply, id * 2 + 1);
        self.relist(id);
        self.len += 1;
        self.stats.inserts += 1;
        Ok(ConnId(id))
    }

    /// Removes a live connection now, returning its metadata (not queued for
    /// [`ConnTable::expire`], not counted as an expiration).
    pub fn remove(&mut self, conn: ConnId) -> Option<M> {
        match self.conns.get(conn.0 as usize) {
            Some(c) if c.state != ST_FREE => Some(self.reclaim(conn.0)),
            _ => None,
        }
    }

    /// Removes every timed-out connection (a sweep of the slab, `O(capacity)`) and
    /// pushes onto `out` their metadata plus that of connections reclaimed or evicted
    /// since the last call. Returns how many were pushed.
    pub fn expire(&mut self, now: SimTime, out: &mut Vec<M>) -> usize {
        let n = self.conns.len();
        self.expire_range(now, 0, n, out)
    }

    /// Incremental [`ConnTable::expire`]: examines at most `max_slots` slab slots from a
    /// clock hand that persists across calls (so repeated calls cover the whole table),
    /// plus the queued metadata. Returns how many were pushed.
    pub fn expire_some(&mut self, now: SimTime, max_slots: usize, out: &mut Vec<M>) -> usize {
        let n = self.conns.len();
        if self.clock >= n {
            self.clock = 0;
        }
        let start = self.clock;
        let steps = max_slots.min(n);
        let first = (n - start).min(steps);
        let mut pushed = self.expire_range(now, start, start + first, out);
        if steps > first {
            pushed += self.expire_range(now, 0, steps - first, out);
        }
        self.clock = (start + steps) % n.max(1);
        pushed
    }

    fn expire_range(&mut self, now: SimTime, from: usize, to: usize, out: &mut Vec<M>) -> usize {
        let t = tick(now);
        for id in from..to {
            let c = &self.conns[id];
            if c.state != ST_FREE && self.expired_at(c, t) {
                self.reclaim_expired(id as u32);
            }
        }
        let pushed = self.pending.len();
        out.append(&mut self.pending);
        pushed
    }

    /// Whether some connection (live or timed out but not yet reclaimed) owns `key`:
    /// for port-collision checks.
    #[inline]
    pub fn contains_key(&self, key: &FlowKey) -> bool {
        self.find(key).is_some()
    }

    /// Connections held, including timed-out ones not yet reclaimed.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn stats(&self) -> ConnStats {
        self.stats
    }

    pub fn meta(&self, conn: ConnId) -> Option<&M> {
        match self.conns.get(conn.0 as usize) {
            Some(c) if c.state != ST_FREE => Some(&c.meta),
            _ => None,
        }
    }

    /// The TCP state, `None` for other protocols or a free id.
    pub fn state(&self, conn: ConnId) -> Option<TcpState> {
        self.conns
            .get(conn.0 as usize)
            .and_then(|c| tcp_state(c.state))
    }

    /// Memory per connection (both directions) when the table is filled to its
    /// capacity: the slab record plus this table's share of index slots. Fixed
    /// overheads (the struct itself, the metadata queue) are amortised in.
    pub fn bytes_per_connection(&self) -> f64 {
        let record = std::mem::size_of::<Conn<A, M>>() * self.capacity;
        let index = self.index.bytes();
        let fixed =
            std::mem::size_of::<Self>() + self.pending.capacity() * std::mem::size_of::<M>();
        (record + index + fixed) as f64 / self.capacity as f64
    }

    /// Size of one slab record (diagnostics).
    pub fn record_size() -> usize {
        std::mem::size_of::<Conn<A, M>>()
    }

    /// Forgets every connection and the counters, keeping the allocations (slab and
    /// index) and the hash secrets: afterwards the table behaves as a new one of the
    /// same capacity (`Dataplane::reset`, for a server that asks many questions).
    /// Metadata of the forgotten connections is dropped, not handed back.
    pub fn clear(&mut self) {
        self.conns.clear();
        self.index.clear();
        self.len = 0;
        self.free_head = NIL;
        self.lru_head = NIL;
        self.lru_tail = NIL;
        self.clock = 0;
        self.pending.clear();
        self.stats = ConnStats::default();
    }
}

#[cfg(test)]
mod tests;
