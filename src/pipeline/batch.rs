//! A batch at a time (VPP's vectors, DPDK's bulk lookup): read every frame's tuple and
//! hash first and prefetch its flow-table slot, then look up and rewrite each frame in
//! order, so the memory latency of one lookup overlaps with the work on the others.
//!
//! The frames are still decided one after the other, in order, exactly as
//! [`Dataplane::process`] decides them: reading a tuple and hashing it change no state,
//! and the prefetch is only a hint. A first packet that installs a connection is seen by
//! the lookups of the frames after it in the same batch.

use super::fast::FastKey;
use super::{Dataplane, Ingress, Outcome};
use crate::time::SimTime;

/// Frames handled per round of prefetches; longer batches are taken in rounds.
pub const BATCH_MAX: usize = 256;

/// Below this many connections the flow table stays in the cache and a prefetch only
/// costs its hash (computed again by the lookup): measured with callgrind at 4,096 flows.
const PREFETCH_ABOVE: usize = 1 << 15;

impl Dataplane {
    /// Processes `frames` in order, each rewritten in place, as [`Dataplane::process`]
    /// would one by one (same outcomes, same counters), without traces; `outcomes`
    /// receives one outcome per frame, in order.
    pub fn process_batch(
        &mut self,
        frames: &mut [(&mut [u8], Ingress)],
        now: SimTime,
        outcomes: &mut Vec<Outcome>,
    ) {
        outcomes.clear();
        outcomes.reserve(frames.len());
        let mut keys: [Option<FastKey>; BATCH_MAX] = [None; BATCH_MAX];
        let prefetch = self.conns.len() > PREFETCH_ABOVE;
        for round in frames.chunks_mut(BATCH_MAX) {
            // 1. Tuples and hashes; prefetch each home slot.
            for ((frame, at), k) in round.iter().zip(keys.iter_mut()) {
                *k = self.fast_key(frame, *at);
                if let (true, Some(k)) = (prefetch, k) {
                    self.conns.prefetch(self.conns.hash(&k.key));
                }
            }
            // 2. Look up and rewrite, in order.
            for ((frame, at), k) in round.iter_mut().zip(keys.iter()) {
                let fast = match k {
                    Some(k) => self.try_fast(frame, k, now, &mut None, 0),
                    None => None,
                };
                let out = match fast {
                    Some(o) => o,
                    None => self.full_path(frame, *at, now, &mut None, 0),
                };
                let out = self.settle(frame, out, now);
                outcomes.push(out);
            }
        }
    }
}
