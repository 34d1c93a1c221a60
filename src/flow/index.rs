//! The connection table's index: hash → entry (`conn × 2 + dir`).
//!
//! 64-byte, 64-aligned buckets (one cache line each), sized once for a number of entries
//! at a load factor of at most [`MAX_LOAD`]. A bucket holds [`BUCKET_SLOTS`] = 15 `u32`
//! slots and an overflow count. A slot holds `entry + 1` (0 = empty) in its low bits and
//! a tag from the key's hash in the remaining high bits (the top one always set), so one
//! SSE2 compare per 4 slots finds the candidates and a lookup rarely touches a record
//! whose key does not match. An entry lives in its home bucket or, when that was full at
//! insertion, a later one; the overflow count of every full bucket it passed says so
//! (folly's F14 scheme), so a miss stops at the first bucket with a zero count, and
//! removal takes the counts back: no tombstones, no rehashing, no allocation after
//! construction. The index knows hashes and entries only; whether an entry's key is the
//! one looked for is the table's question ([`Index::find`] asks it).

use super::FlowKey;

/// The index never holds more than this fraction of its slots.
pub const MAX_LOAD: f64 = 0.8;

/// Entry slots per 64-byte index bucket (the 16th word counts overflows).
pub const BUCKET_SLOTS: usize = 15;

/// Set in every tag, so an empty slot (0) never matches one.
const TAG_TOP: u32 = 1 << 31;

/// One cache line of the index: 15 slots of `tag | (entry + 1)` (0 = empty) and the
/// number of entries that were inserted while this bucket was full and so live in a
/// later bucket (a lookup that misses here stops unless it is non-zero). As folly's F14
/// chunks: no tombstones, no backward shifting.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
pub(super) struct Bucket {
    pub(super) slots: [u32; BUCKET_SLOTS],
    pub(super) overflow: u32,
}

const _: () = assert!(std::mem::size_of::<Bucket>() == 64);

impl Bucket {
    const EMPTY: Bucket = Bucket {
        slots: [0; BUCKET_SLOTS],
        overflow: 0,
    };

    /// Bit `i` set when `slots[i] & and == want`: four SSE2 compares on x86_64.
    #[inline(always)]
    pub(super) fn matches(&self, and: u32, want: u32) -> u32 {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: SSE2 is part of the x86_64 baseline; the bucket is 64 bytes,
        // 64-aligned, so the four 16-byte loads are in bounds and aligned.
        unsafe {
            use std::arch::x86_64::*;
            let p = self as *const Bucket as *const __m128i;
            let a = _mm_set1_epi32(and as i32);
            let w = _mm_set1_epi32(want as i32);
            let eq = |q: usize| _mm_cmpeq_epi32(_mm_and_si128(_mm_load_si128(p.add(q)), a), w);
            // Narrow the four 32-bit masks to one byte per slot, in slot order.
            let lo = _mm_packs_epi32(eq(0), eq(1));
            let hi = _mm_packs_epi32(eq(2), eq(3));
            (_mm_movemask_epi8(_mm_packs_epi16(lo, hi)) as u32) & ((1 << BUCKET_SLOTS) - 1)
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let mut m = 0u32;
            for (i, s) in self.slots.iter().enumerate() {
                m |= ((s & and == want) as u32) << i;
            }
            m
        }
    }
}

#[inline]
fn fold(a: u64, b: u64) -> u64 {
    let p = (a as u128).wrapping_mul(b as u128);
    (p as u64) ^ ((p >> 64) as u64)
}

/// Starts loading the cache line holding `p` (no effect on targets without a prefetch
/// instruction; a prefetch never faults, whatever the address).
#[inline(always)]
pub(super) fn prefetch_line(p: *const i8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: SSE is part of the x86_64 baseline; a prefetch never faults.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// See the module documentation.
pub(super) struct Index {
    pub(super) buckets: Box<[Bucket]>,
    /// Low bits of a slot holding `entry + 1`.
    pub(super) entry_mask: u32,
    seed: [u64; 2],
}

impl Index {
    /// An index for `entries` entries (values `1..=entries` must fit in the low bits of
    /// a slot), hashed with the two secrets `seed`.
    pub(super) fn new(entries: u64, seed: [u64; 2]) -> Index {
        let nslots = ((entries as f64) / MAX_LOAD).ceil() as usize;
        let nbuckets = nslots.div_ceil(BUCKET_SLOTS).max(2);
        let bits = 64 - entries.leading_zeros();
        let entry_mask = if bits >= 32 {
            u32::MAX
        } else {
            (1u32 << bits) - 1
        };
        Index {
            buckets: vec![Bucket::EMPTY; nbuckets].into_boxed_slice(),
            entry_mask,
            seed,
        }
    }

    /// One folded 64×64→128-bit multiply of the key's two words, each XORed with a
    /// per-table secret (foldhash's short-input construction).
    #[inline(always)]
    pub(super) fn hash(&self, k: &FlowKey) -> u64 {
        let a = (k.src as u64) | ((k.dst as u64) << 32);
        let b = (k.sport as u64)
            | ((k.dport as u64) << 16)
            | ((k.port as u64) << 32)
            | ((k.proto as u64) << 48);
        fold(a ^ self.seed[0], b ^ self.seed[1])
    }

    /// The home bucket of hash `h` (multiply-shift range reduction: any bucket count).
    #[inline(always)]
    pub(super) fn home(&self, h: u64) -> usize {
        (((h >> 32) * self.buckets.len() as u64) >> 32) as usize
    }

    /// The tag stored with an entry: the hash's low bits above the entry bits, with the
    /// top bit forced on so that an empty slot (0) never matches.
    #[inline(always)]
    pub(super) fn tag(&self, h: u64) -> u32 {
        ((h as u32) | TAG_TOP) & !self.entry_mask
    }

    #[inline(always)]
    pub(super) fn prefetch(&self, h: u64) {
        prefetch_line(&self.buckets[self.home(h)] as *const Bucket as *const i8);
    }

    /// The entry of the first slot of `h`'s home bucket whose tag matches (a hint).
    #[inline(always)]
    pub(super) fn first_candidate(&self, h: u64) -> Option<u32> {
        let bucket = &self.buckets[self.home(h)];
        let m = bucket.matches(!self.entry_mask, self.tag(h));
        (m != 0).then(|| (bucket.slots[m.trailing_zeros() as usize] & self.entry_mask) - 1)
    }

    /// The first entry of hash `h` for which `is` says yes.
    #[inline(always)]
    pub(super) fn find(&self, h: u64, is: impl Fn(u32) -> bool) -> Option<u32> {
        let tag = self.tag(h);
        let high = !self.entry_mask;
        let n = self.buckets.len();
        let mut b = self.home(h);
        loop {
            let bucket = &self.buckets[b];
            let mut m = bucket.matches(high, tag);
            while m != 0 {
                let i = m.trailing_zeros() as usize;
                m &= m - 1;
                let e = (bucket.slots[i] & self.entry_mask) - 1;
                if is(e) {
                    return Some(e);
                }
            }
            if bucket.overflow == 0 {
                return None;
            }
            b += 1;
            if b == n {
                b = 0;
            }
        }
    }

    pub(super) fn insert(&mut self, h: u64, entry: u32) {
        let v = self.tag(h) | (entry + 1);
        let n = self.buckets.len();
        let mut b = self.home(h);
        loop {
            let bucket = &mut self.buckets[b];
            let free = bucket.matches(u32::MAX, 0);
            if free != 0 {
                bucket.slots[free.trailing_zeros() as usize] = v;
                return;
            }
            // Full: later lookups of keys homed here (or before) must look further.
            bucket.overflow += 1;
            b += 1;
            if b == n {
                b = 0;
            }
        }
    }

    /// Removes exactly `entry` (not merely "some entry with this hash"), and takes back
    /// the overflow marks its insertion left on the full buckets it passed.
    pub(super) fn remove(&mut self, h: u64, entry: u32) {
        let n = self.buckets.len();
        let home = self.home(h);
        let mut b = home;
        loop {
            let m = self.buckets[b].matches(self.entry_mask, entry + 1);
            if m != 0 {
                self.buckets[b].slots[m.trailing_zeros() as usize] = 0;
                break;
            }
            debug_assert!(self.buckets[b].overflow != 0, "index entry missing");
            if self.buckets[b].overflow == 0 {
                return;
            }
            b += 1;
            if b == n {
                b = 0;
            }
        }
        let mut i = home;
        while i != b {
            self.buckets[i].overflow -= 1;
            i += 1;
            if i == n {
                i = 0;
            }
        }
    }

    pub(super) fn clear(&mut self) {
        self.buckets.fill(Bucket::EMPTY);
    }

    /// Memory held, in bytes.
    pub(super) fn bytes(&self) -> usize {
        std::mem::size_of_val(&*self.buckets)
    }
}
