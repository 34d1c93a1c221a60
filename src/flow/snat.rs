//! SNAT source-port allocation.
//!
//! A SNAT EIP carries about 55,000 concurrent connections per destination
//! (IP, port, protocol): the translated reply tuple `(dst, dport) → (eip, port)` only has
//! to be unique per destination, so each destination has its own port space.
//!
//! Allocation and release are O(1). Per destination the allocator keeps a count of live
//! connections and a *lap*: the ports handed out since the destination was last idle are
//! the slice indices `start, start + 1, …` (mod the slice), `handed` of them, and those
//! of them given back sit on the destination's free list. A port is picked by
//! 1. popping the free list (a port given back), else
//! 2. the next index of the lap — never handed out since the destination was idle, so
//!    free by construction. The first port of a lap is the one the caller's hash hint
//!    names, so the same source tends to get the same port (stable translations across
//!    retries).
//!
//! Because the count stays below the limit (≤ the slice), one of the two always has a
//! port. When a destination's last connection ends, its state goes: its free list is
//! spliced onto the spare nodes in O(1) (a tail pointer), and its next lap starts again
//! at the hint. Free-list nodes live in one pool per allocator (8 bytes each, reused, no
//! allocation once the pool has grown): at most one per port a destination handed out
//! in its current lap.
//!
//! The caller's `in_use(port)` (its conntrack, asked for the reply key) is asked once
//! per candidate: a port some connection the allocator did not make already holds (a
//! DNAT session from the same remote to the same EIP and port) is skipped and left out
//! of the lap until the destination is idle again, never handed out twice. That is one
//! lookup per allocation; [`MAX_PROBES`] bounds the skips.
//!
//! [`SnatPorts::release_port`] takes back exactly the port a connection held (the
//! pipeline keeps it in `SnatBinding`); it must be called once per allocated port.
//!
//! Worker slicing: a worker only hands out ports `p` with `p % workers == worker`, so
//! return traffic can be steered to the right worker by destination port alone.

use std::ops::RangeInclusive;

use crate::compile::FastMap;

/// Concurrent connections per destination (IP, port, protocol) for one SNAT EIP.
pub const DEFAULT_PER_DESTINATION_LIMIT: u32 = 55_000;

/// The usual SNAT source-port range.
pub const DEFAULT_SNAT_PORT_RANGE: RangeInclusive<u16> = 1024..=65535;

/// Most candidates one [`SnatPorts::allocate`] tries when `in_use` says a candidate is
/// held by a connection the allocator did not make.
pub const MAX_PROBES: u32 = 4096;

/// No node.
const NIL: u32 = u32::MAX;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Dest {
    eip: u32,
    dst: u32,
    dport: u16,
    proto: u8,
}

#[derive(Debug, Clone, Copy)]
struct DestState {
    /// Live connections.
    count: u32,
    /// Slice index of the lap's first port.
    start: u32,
    /// Ports of the lap handed out so far.
    handed: u32,
    /// The free list: first and last node (`NIL` when empty).
    free: u32,
    free_tail: u32,
}

/// A port given back: its slice index and the next node of its list.
#[derive(Debug, Clone, Copy)]
struct Node {
    k: u32,
    next: u32,
}

/// Port allocator for one worker: see the module doc.
#[derive(Debug, Clone)]
pub struct SnatPorts {
    limit: u32,
    /// First port of this worker's slice.
    first: u32,
    /// Distance between consecutive ports of the slice (= workers).
    stride: u32,
    /// Number of ports in the slice.
    n: u32,
    /// Keyed by what the guests send to: the fold hash with per-map secrets (see
    /// `compile::fasthash`); one entry per destination with a live connection, so a
    /// flood of destinations is bounded by the connection table's capacity.
    dests: FastMap<Dest, DestState>,
    nodes: Vec<Node>,
    /// Recycled nodes, linked through `next`.
    spare: u32,
}

impl SnatPorts {
    /// `per_destination_limit` connections per destination at most (default
    /// [`DEFAULT_PER_DESTINATION_LIMIT`]), ports from `port_range`, of which this worker
    /// only uses those with `port % workers == worker`.
    ///
    /// Panics if `workers == 0` or `worker >= workers`.
    pub fn new(
        per_destination_limit: u32,
        port_range: RangeInclusive<u16>,
        worker: u16,
        workers: u16,
    ) -> Self {
        assert!(
            workers > 0 && worker < workers,
            "worker {worker} of {workers}"
        );
        let (lo, hi) = (*port_range.start() as u32, *port_range.end() as u32);
        let (w, ws) = (worker as u32, workers as u32);
        let first = lo + (w + ws - lo % ws) % ws;
        let n = if lo > hi || first > hi {
            0
        } else {
            (hi - first) / ws + 1
        };
        SnatPorts {
            limit: per_destination_limit,
            first,
            stride: ws,
            n,
            dests: FastMap::default(),
            nodes: Vec::new(),
            spare: NIL,
        }
    }

    /// Ports this worker can hand out per destination.
    pub fn ports_per_destination(&self) -> u32 {
        self.n.min(self.limit)
    }

    /// The slice index of `port`, if it is one of this worker's.
    #[inline]
    fn index(&self, port: u16) -> Option<u32> {
        let p = u32::from(port).checked_sub(self.first)?;
        (p % self.stride == 0 && p / self.stride < self.n).then_some(p / self.stride)
    }

    /// Picks a free port for `(eip, proto, dst, dport)`: a port the destination gave
    /// back, else the next of its lap (the first of a lap is the hint's), skipping any
    /// for which `in_use(port)` is true. `None` when the destination is at its limit or
    /// every candidate within [`MAX_PROBES`] is held — the caller drops the new flow
    /// with a counted reason.
    pub fn allocate(
        &mut self,
        eip: u32,
        proto: u8,
        dst: u32,
        dport: u16,
        hint: u32,
        mut in_use: impl FnMut(u16) -> bool,
    ) -> Option<u16> {
        let limit = self.ports_per_destination();
        if limit == 0 {
            return None;
        }
        let key = Dest {
            eip,
            dst,
            dport,
            proto,
        };
        let (n, first, stride) = (self.n, self.first, self.stride);
        let st = self.dests.entry(key).or_insert(DestState {
            count: 0,
            start: hint % n,
            handed: 0,
            free: NIL,
            free_tail: NIL,
        });
        if st.count >= limit {
            return None;
        }
        let mut found = None;
        for _ in 0..MAX_PROBES {
            let k = if st.free != NIL {
                let node = st.free;
                let Node { k, next } = self.nodes[node as usize];
                st.free = next;
                self.nodes[node as usize].next = self.spare;
                self.spare = node;
                k
            } else if st.handed < n {
                let k = (st.start + st.handed) % n;
                st.handed += 1;
                k
            } else {
                break;
            };
            let p = (first + k * stride) as u16;
            if !in_use(p) {
                found = Some(p);
                break;
            }
        }
        match found {
            Some(p) => {
                st.count += 1;
                Some(p)
            }
            None => {
                if st.count == 0 {
                    self.forget(key);
                }
                None
            }
        }
    }

    /// Takes back `port`, which a connection to `(eip, proto, dst, dport)` held (called
    /// when the connection's metadata comes back on expiry, or when a packet that got
    /// the port did not leave). Forgets a destination whose count reaches 0. A port
    /// that is not this worker's, or a destination with no connection, is ignored.
    pub fn release_port(&mut self, eip: u32, proto: u8, dst: u32, dport: u16, port: u16) {
        let key = Dest {
            eip,
            dst,
            dport,
            proto,
        };
        let Some(k) = self.index(port) else {
            return;
        };
        let Some(st) = self.dests.get_mut(&key) else {
            return;
        };
        if st.count <= 1 {
            self.forget(key);
            return;
        }
        st.count -= 1;
        let node = if self.spare != NIL {
            let s = self.spare;
            self.spare = self.nodes[s as usize].next;
            self.nodes[s as usize] = Node { k, next: st.free };
            s
        } else {
            self.nodes.push(Node { k, next: st.free });
            (self.nodes.len() - 1) as u32
        };
        if st.free == NIL {
            st.free_tail = node;
        }
        st.free = node;
    }

    /// Drops a destination's state, its free list spliced onto the spare nodes.
    fn forget(&mut self, key: Dest) {
        if let Some(st) = self.dests.remove(&key) {
            if st.free != NIL {
                self.nodes[st.free_tail as usize].next = self.spare;
                self.spare = st.free;
            }
        }
    }

    /// Connections currently counted against the destination.
    pub fn in_use_for(&self, eip: u32, proto: u8, dst: u32, dport: u16) -> u32 {
        self.dests
            .get(&Dest {
                eip,
                dst,
                dport,
                proto,
            })
            .map_or(0, |s| s.count)
    }

    /// Destinations with at least one connection.
    pub fn destinations(&self) -> usize {
        self.dests.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    const EIP: u32 = 0x2f00_0001;
    const DST: u32 = 0x0808_0808;

    #[test]
    fn snat_55000_per_destination_then_none() {
        let mut s = SnatPorts::new(DEFAULT_PER_DESTINATION_LIMIT, DEFAULT_SNAT_PORT_RANGE, 0, 1);
        let mut used = HashSet::new();
        for i in 0..55_000u32 {
            let p = s
                .allocate(EIP, 6, DST, 443, i.wrapping_mul(2_654_435_761), |p| {
                    used.contains(&p)
                })
                .unwrap_or_else(|| panic!("allocation {i} failed"));
            assert!(p >= 1024);
            assert!(used.insert(p), "port {p} handed out twice");
        }
        assert_eq!(s.in_use_for(EIP, 6, DST, 443), 55_000);
        assert_eq!(s.allocate(EIP, 6, DST, 443, 7, |p| used.contains(&p)), None);
    }

    #[test]
    fn snat_other_destination_port_is_independent() {
        let mut s = SnatPorts::new(100, DEFAULT_SNAT_PORT_RANGE, 0, 1);
        let mut used = HashSet::new();
        for i in 0..100 {
            let p = s
                .allocate(EIP, 6, DST, 443, i, |p| used.contains(&p))
                .unwrap();
            used.insert(p);
        }
        assert_eq!(s.allocate(EIP, 6, DST, 443, 0, |p| used.contains(&p)), None);
        // Another port, protocol, destination or EIP has its own count (and its own
        // reply-key space, so the caller's in_use starts empty).
        assert!(s.allocate(EIP, 6, DST, 80, 0, |_| false).is_some());
        assert!(s.allocate(EIP, 17, DST, 443, 0, |_| false).is_some());
        assert!(s.allocate(EIP, 6, DST + 1, 443, 0, |_| false).is_some());
        assert!(s.allocate(EIP + 1, 6, DST, 443, 0, |_| false).is_some());
        assert_eq!(s.in_use_for(EIP, 6, DST, 80), 1);
    }

    #[test]
    fn snat_release_frees_a_slot() {
        let mut s = SnatPorts::new(2, DEFAULT_SNAT_PORT_RANGE, 0, 1);
        let a = s.allocate(EIP, 17, DST, 53, 1, |_| false).unwrap();
        let b = s.allocate(EIP, 17, DST, 53, 1, |p| p == a).unwrap();
        assert_ne!(a, b);
        assert_eq!(s.allocate(EIP, 17, DST, 53, 9, |p| p == a || p == b), None);
        s.release_port(EIP, 17, DST, 53, a);
        assert_eq!(s.in_use_for(EIP, 17, DST, 53), 1);
        let c = s.allocate(EIP, 17, DST, 53, 9, |p| p == b).unwrap();
        assert_ne!(c, b);
        s.release_port(EIP, 17, DST, 53, c);
        s.release_port(EIP, 17, DST, 53, b);
        s.release_port(EIP, 17, DST, 53, b); // extra releases saturate
        assert_eq!(s.in_use_for(EIP, 17, DST, 53), 0);
        assert_eq!(s.destinations(), 0);
    }

    #[test]
    fn snat_worker_slicing_port_mod_workers_eq_worker() {
        for (worker, workers) in [(0u16, 4u16), (1, 4), (2, 4), (3, 4), (2, 3)] {
            let mut s = SnatPorts::new(u32::MAX, 1024..=65535, worker, workers);
            let mut used = HashSet::new();
            let slice = s.ports_per_destination();
            for i in 0..slice {
                let p = s
                    .allocate(EIP, 6, DST, 443, i.wrapping_mul(40_503), |p| {
                        used.contains(&p)
                    })
                    .unwrap();
                assert_eq!(p % workers, worker);
                assert!(p >= 1024);
                assert!(used.insert(p));
            }
            // The whole slice is taken: nothing left, and no infinite loop.
            assert_eq!(s.allocate(EIP, 6, DST, 443, 5, |p| used.contains(&p)), None);
            assert_eq!(used.len() as u32, slice);
        }
    }

    #[test]
    fn snat_in_use_collisions_are_skipped() {
        let mut s = SnatPorts::new(10, 2000..=2009, 0, 1);
        // The hint names port 2003; 2003..=2007 are taken by someone else.
        let p = s
            .allocate(EIP, 6, DST, 443, 3, |p| (2003..=2007).contains(&p))
            .unwrap();
        assert!(!(2003..=2007).contains(&p));
        // Every port taken: None, bounded.
        let mut calls = 0;
        assert_eq!(
            s.allocate(EIP, 6, DST, 443, 0, |_| {
                calls += 1;
                true
            }),
            None
        );
        assert!(calls <= 11);
        assert_eq!(s.in_use_for(EIP, 6, DST, 443), 1);
    }

    #[test]
    fn snat_same_hint_gets_same_port_when_free() {
        let mut s = SnatPorts::new(100, DEFAULT_SNAT_PORT_RANGE, 0, 1);
        let a = s.allocate(EIP, 6, DST, 443, 12345, |_| false).unwrap();
        s.release_port(EIP, 6, DST, 443, a);
        let b = s.allocate(EIP, 6, DST, 443, 12345, |_| false).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn snat_allocation_is_o1_a_given_back_port_is_reused_with_one_in_use_call() {
        // 55,000 live connections to one destination, then churn: each allocation asks
        // `in_use` once and gets the port just given back (no scan over live ports).
        let mut s = SnatPorts::new(DEFAULT_PER_DESTINATION_LIMIT, DEFAULT_SNAT_PORT_RANGE, 0, 1);
        let mut live = HashSet::new();
        for i in 0..55_000u32 {
            let p = s
                .allocate(EIP, 6, DST, 443, i, |p| live.contains(&p))
                .unwrap();
            assert!(live.insert(p));
        }
        let mut victim = *live.iter().next().unwrap();
        for _ in 0..10_000 {
            assert!(live.remove(&victim));
            s.release_port(EIP, 6, DST, 443, victim);
            let mut calls = 0;
            let p = s
                .allocate(EIP, 6, DST, 443, 0, |p| {
                    calls += 1;
                    live.contains(&p)
                })
                .unwrap();
            assert_eq!((p, calls), (victim, 1));
            assert!(live.insert(p));
            victim = p;
        }
        assert_eq!(s.in_use_for(EIP, 6, DST, 443), 55_000);
        // The node pool holds at most one node per port given back, reused.
        assert!(s.nodes.len() <= 1, "{}", s.nodes.len());
    }

    #[test]
    fn snat_random_churn_never_hands_a_live_port_twice_and_counts_match() {
        // A small model check: random allocations and releases over a few destinations
        // and two workers' slices; no port is live twice per destination, every port is
        // of the worker's slice, counts equal the live sets, and an idle destination is
        // forgotten.
        for (worker, workers) in [(0u16, 1u16), (1, 2)] {
            let mut s = SnatPorts::new(300, 1024..=1600, worker, workers);
            let mut live: Vec<Vec<u16>> = vec![Vec::new(); 3];
            let mut x = 0x2545_f491_4f6c_dd1du64;
            for _ in 0..50_000 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let d = (x % 3) as usize;
                let dst = DST + d as u32;
                if x & 0x30 != 0 {
                    let set = &live[d];
                    match s.allocate(EIP, 6, dst, 443, (x >> 20) as u32, |p| set.contains(&p)) {
                        Some(p) => {
                            assert_eq!(p % workers, worker);
                            assert!(!live[d].contains(&p), "port {p} handed out twice");
                            live[d].push(p);
                        }
                        None => assert_eq!(live[d].len() as u32, s.ports_per_destination()),
                    }
                } else if !live[d].is_empty() {
                    let i = (x >> 32) as usize % live[d].len();
                    let p = live[d].swap_remove(i);
                    s.release_port(EIP, 6, dst, 443, p);
                }
                assert_eq!(s.in_use_for(EIP, 6, dst, 443), live[d].len() as u32);
            }
            let busy = live.iter().filter(|l| !l.is_empty()).count();
            assert_eq!(s.destinations(), busy);
            assert!(s.nodes.len() as u32 <= 3 * s.n);
        }
    }
}
