//! SNAT source-port allocation.
//!
//! A SNAT EIP carries about 55,000 concurrent connections per destination
//! (IP, port, protocol): the translated reply tuple `(dst, dport) → (eip, port)` only has
//! to be unique per destination, so each destination has its own port space.
//!
//! Per destination the allocator keeps just a counter and a next-fit cursor (no bitmap):
//! whether a particular port is taken is asked of the caller (`in_use`, which checks its
//! conntrack for the reply key), so the two can never disagree. A port is picked by
//! 1. trying the port named by the caller's hash hint (so the same source tends to get
//!    the same port, which keeps translations stable across retries), then
//! 2. scanning forward from the destination's cursor (next-fit: ports handed out long
//!    ago are the likeliest to have been released), at most [`MAX_PROBES`] ports.
//!
//! Worker slicing: a worker only hands out ports `p` with `p % workers == worker`, so
//! return traffic can be steered to the right worker by destination port alone.

use std::collections::HashMap;
use std::ops::RangeInclusive;

/// Concurrent connections per destination (IP, port, protocol) for one SNAT EIP.
pub const DEFAULT_PER_DESTINATION_LIMIT: u32 = 55_000;

/// The usual SNAT source-port range.
pub const DEFAULT_SNAT_PORT_RANGE: RangeInclusive<u16> = 1024..=65535;

/// Most `in_use` calls one [`SnatPorts::allocate`] makes after the hint. The cursor
/// persists, so a later call resumes where this one gave up.
pub const MAX_PROBES: u32 = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Dest {
    eip: u32,
    dst: u32,
    dport: u16,
    proto: u8,
}

#[derive(Debug, Clone, Copy)]
struct DestState {
    count: u32,
    /// Index (into this worker's slice) where the next scan starts.
    cursor: u32,
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
    dests: HashMap<Dest, DestState>,
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
            dests: HashMap::new(),
        }
    }

    /// Ports this worker can hand out per destination.
    pub fn ports_per_destination(&self) -> u32 {
        self.n.min(self.limit)
    }

    #[inline]
    fn port(&self, k: u32) -> u16 {
        (self.first + k * self.stride) as u16
    }

    /// Picks a free port for `(eip, proto, dst, dport)`: the hint's port if free, else
    /// the next free one from the destination's cursor, skipping every port for which
    /// `in_use(port)` is true. `None` when the destination is at its limit or no free
    /// port was found within [`MAX_PROBES`] — the caller drops the new flow with a
    /// counted reason.
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
        let n = self.n;
        let hinted = hint % n;
        let st = self.dests.get(&key).copied().unwrap_or(DestState {
            count: 0,
            cursor: hinted,
        });
        if st.count >= limit {
            return None;
        }
        let found = if !in_use(self.port(hinted)) {
            Some((hinted, st.cursor))
        } else {
            let mut k = st.cursor;
            let mut hit = None;
            for _ in 0..n.min(MAX_PROBES) {
                let here = k;
                k = if k + 1 == n { 0 } else { k + 1 };
                if here != hinted && !in_use(self.port(here)) {
                    hit = Some((here, k));
                    break;
                }
            }
            match hit {
                Some(h) => Some(h),
                None => {
                    if st.count > 0 {
                        self.dests.insert(key, DestState { cursor: k, ..st });
                    }
                    return None;
                }
            }
        };
        let (k, cursor) = found?;
        self.dests.insert(
            key,
            DestState {
                count: st.count + 1,
                cursor,
            },
        );
        Some(self.port(k))
    }

    /// Counts one connection to the destination down (called when the connection's
    /// metadata comes back on expiry). Forgets a destination whose count reaches 0.
    pub fn release(&mut self, eip: u32, proto: u8, dst: u32, dport: u16) {
        let key = Dest {
            eip,
            dst,
            dport,
            proto,
        };
        if let Some(st) = self.dests.get_mut(&key) {
            st.count = st.count.saturating_sub(1);
            if st.count == 0 {
                self.dests.remove(&key);
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
        s.release(EIP, 17, DST, 53);
        assert_eq!(s.in_use_for(EIP, 17, DST, 53), 1);
        let c = s.allocate(EIP, 17, DST, 53, 9, |p| p == b).unwrap();
        assert_ne!(c, b);
        s.release(EIP, 17, DST, 53);
        s.release(EIP, 17, DST, 53);
        s.release(EIP, 17, DST, 53); // extra releases saturate
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
        s.release(EIP, 6, DST, 443);
        let b = s.allocate(EIP, 6, DST, 443, 12345, |_| false).unwrap();
        assert_eq!(a, b);
    }
}
