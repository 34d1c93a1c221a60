//! A batch at a time (VPP's vectors, DPDK's bulk lookup).
//!
//! A [`Batch`] is the data plane's mbuf ring: one reused buffer holding up to
//! [`BATCH_MAX`] frames back to back, each with where and when it enters, and one
//! disposition per frame when processed. Nothing is allocated per batch once it has
//! grown to its working size.
//!
//! [`Dataplane::process_batch`] runs in three passes over the frames:
//! 1. read every frame's tuple straight from its headers (`wire::fast_tuple`) and hash
//!    it; at large tables, prefetch the flow-table bucket;
//! 2. at large tables, prefetch the connection record the bucket's tag points at (the
//!    bucket is in cache by now), so the key compare of pass 3 does not miss either;
//! 3. in order, the **established lane**: one lookup, the TTL, MTU and revalidation
//!    checks, the refresh, the rewrite with its precomputed checksum deltas, the MACs
//!    and the counters, writing a [`Disposition`] and nothing else. A frame the lane
//!    does not finish (a first packet, ICMP, a fragment, an oversize or hairpinned
//!    packet, a connection to revalidate) goes through [`Dataplane::process`]'s code,
//!    untouched by the lane, and its full [`Outcome`] is kept when it carries frames
//!    of its own (ICMP errors, fragments).
//!
//! The frames are decided one after the other, in order, exactly as `process` decides
//! them (property-tested in `tests/batch.rs`): reading a tuple, hashing and prefetching
//! change no state, and a connection installed by a first packet is seen by the frames
//! after it in the same batch.

use std::borrow::Cow;

use super::fast::FastKey;
use super::{Dataplane, Disposition, Ingress, Outcome};
use crate::time::SimTime;
use crate::wire;

/// Frames a batch holds at most; [`Batch::push`] refuses more.
pub const BATCH_MAX: usize = 256;

/// Below this many connections the flow table stays in the cache and prefetching costs
/// more than it saves (measured with callgrind at 4,096 flows).
const PREFETCH_ABOVE: usize = 1 << 15;

/// Where one frame of a batch lies in its buffer, where it enters and when.
#[derive(Debug, Clone, Copy)]
struct Slot {
    off: u32,
    len: u32,
    at: Ingress,
    now: SimTime,
}

/// What the established lane did with a frame.
enum Lane {
    /// Forwarded: its disposition.
    Done(Disposition),
    /// A connection's packet the lane does not finish (TTL, MTU, hairpin, a change to
    /// revalidate): the general fast path.
    Elsewhere,
    /// No connection has this tuple: the whole pipeline.
    Miss,
}

/// Frames processed together; see the module documentation.
#[derive(Debug, Default)]
pub struct Batch {
    buf: Vec<u8>,
    slots: Vec<Slot>,
    /// Pass 1's result per frame: its established-path key and hash.
    keys: Vec<Option<(FastKey, u64)>>,
    dispositions: Vec<Disposition>,
    /// The outcomes that carry frames of their own, by frame index, in order.
    extras: Vec<(usize, Outcome)>,
}

impl Batch {
    pub fn new() -> Batch {
        Batch {
            buf: Vec::with_capacity(BATCH_MAX * 128),
            slots: Vec::with_capacity(BATCH_MAX),
            keys: Vec::with_capacity(BATCH_MAX),
            dispositions: Vec::with_capacity(BATCH_MAX),
            extras: Vec::new(),
        }
    }

    /// Empties the batch, keeping its buffers.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.slots.clear();
        self.keys.clear();
        self.dispositions.clear();
        self.extras.clear();
    }

    /// Copies `frame` in (a NIC's DMA into an mbuf), to enter at `at` at time `now`.
    /// Returns false, copying nothing, when the batch already holds [`BATCH_MAX`] frames
    /// or the buffer would pass 4 GiB.
    #[inline]
    pub fn push(&mut self, frame: &[u8], at: Ingress, now: SimTime) -> bool {
        let off = self.buf.len();
        if self.slots.len() >= BATCH_MAX || off + frame.len() > u32::MAX as usize {
            return false;
        }
        self.buf.extend_from_slice(frame);
        self.slots.push(Slot {
            off: off as u32,
            len: frame.len() as u32,
            at,
            now,
        });
        true
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    pub fn is_full(&self) -> bool {
        self.slots.len() >= BATCH_MAX
    }

    /// Frame `i`: as pushed, or rewritten in place once processed.
    pub fn frame(&self, i: usize) -> &[u8] {
        let s = self.slots[i];
        &self.buf[s.off as usize..(s.off + s.len) as usize]
    }

    pub fn ingress(&self, i: usize) -> Ingress {
        self.slots[i].at
    }

    /// What became of frame `i` (after [`Dataplane::process_batch`]).
    pub fn disposition(&self, i: usize) -> Disposition {
        self.dispositions[i]
    }

    /// The dispositions of the processed frames, in order.
    pub fn dispositions(&self) -> &[Disposition] {
        &self.dispositions
    }

    /// The full outcome of frame `i` when it carries frames of its own (generated ICMP
    /// errors, fragments, released fragments); `None` when its disposition says all.
    pub fn extra(&self, i: usize) -> Option<&Outcome> {
        self.extras
            .binary_search_by_key(&i, |(j, _)| *j)
            .ok()
            .map(|k| &self.extras[k].1)
    }

    /// Frame `i`'s outcome, as [`Dataplane::process`] returns it: borrowed when it
    /// carries frames of its own, else built from the disposition (no allocation).
    pub fn outcome(&self, i: usize) -> Cow<'_, Outcome> {
        match self.extra(i) {
            Some(o) => Cow::Borrowed(o),
            None => Cow::Owned(Outcome::of(self.dispositions[i])),
        }
    }
}

impl Dataplane {
    /// Processes every frame of `batch` in order, each rewritten in place, as
    /// [`Dataplane::process`] would one by one (same outcomes, same counters), without
    /// traces. The results are read back from the batch.
    pub fn process_batch(&mut self, batch: &mut Batch) {
        let Batch {
            buf,
            slots,
            keys,
            dispositions,
            extras,
        } = batch;
        dispositions.clear();
        extras.clear();
        keys.clear();
        let prefetch = self.conns.len() > PREFETCH_ABOVE;
        // 1. Tuples and hashes; the bucket of each.
        for s in slots.iter() {
            let frame = &buf[s.off as usize..(s.off + s.len) as usize];
            let k = self.fast_key(frame, s.at).map(|k| {
                let h = self.conns.hash(&k.key);
                if prefetch {
                    self.conns.prefetch(h);
                }
                (k, h)
            });
            keys.push(k);
        }
        // 2. The record each bucket points at.
        if prefetch {
            for (_, h) in keys.iter().flatten() {
                self.conns.prefetch_record(*h);
            }
        }
        // 3. In order: the established lane, else the whole pipeline.
        for (i, (s, k)) in slots.iter().zip(keys.iter()).enumerate() {
            let frame = &mut buf[s.off as usize..(s.off + s.len) as usize];
            let (mut out, mut miss) = (None, false);
            if let Some((k, h)) = k {
                match self.established(frame, k, *h, s.now) {
                    Lane::Done(d) => {
                        dispositions.push(d);
                        continue;
                    }
                    // A connection the lane leaves to the general fast path.
                    Lane::Elsewhere => out = self.try_fast(frame, k, s.now, &mut None, 0),
                    // No connection: a first packet, for the whole pipeline.
                    Lane::Miss => miss = true,
                }
            }
            let out = match out {
                Some(o) => o,
                None => self.full_path(frame, s.at, s.now, &mut None, 0, miss),
            };
            let out = self.settle(frame, out, s.now);
            dispositions.push(out.disposition);
            if !(out.generated.is_empty() && out.released.is_empty() && out.fragments.is_empty()) {
                extras.push((i, out));
            }
        }
    }

    /// The established lane: the whole of an established packet that fits its path's
    /// MTU, is not hairpinned and needs no revalidation. For anything else it changes
    /// nothing and says where the packet goes instead (the general paths give the same
    /// answer for the packets this lane takes: `tests/batch.rs`).
    #[inline(always)]
    fn established(&mut self, frame: &mut [u8], k: &FastKey, h: u64, now: SimTime) -> Lane {
        let Some(hit) = self.conns.lookup_hashed(&k.key, h, now) else {
            return Lane::Miss;
        };
        let a = hit.action;
        if k.ttl <= a.hops()
            || a.hairpin
            || self.epochs.stale_possible
            || frame.len() > wire::frame::ETH_LEN + usize::from(a.mtu())
        {
            return Lane::Elsewhere;
        }
        self.conns.observe(hit.conn, hit.dir, k.tcp_flags, now);
        // The tuple this direction leaves with is the other direction's key reversed.
        let o = &hit.other;
        a.deltas
            .apply_fast(frame, k.key.proto, (o.dst, o.src, o.dport, o.sport));
        self.counters.fast_path += 1;
        let d = self.leave(frame, a.out);
        self.count(d);
        Lane::Done(d)
    }
}
