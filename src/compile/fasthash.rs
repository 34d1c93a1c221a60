//! A cheap keyed hash for the maps the slow path consults per first packet (public and
//! private address owners, 1:1 mappings, DNAT maps, route-table prefix levels, security
//! group members, SNAT destinations): one folded 64×64→128-bit multiply per word hashed
//! (foldhash's construction), where SipHash costs ~100 instructions per key.
//!
//! Collision floods: the keys come from packets, so each map gets secrets drawn from the
//! OS-seeded `RandomState` when it is built; without them a sender cannot choose keys
//! that collide. The compiled tables are built from the scenario and never grow from
//! packets, so a flood can at worst lengthen lookups in a map of fixed size; the one map
//! that grows from packets (SNAT destinations) holds at most one entry per live
//! connection.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hasher};

/// A `HashMap` with [`FoldState`].
pub type FastMap<K, V> = HashMap<K, V, FoldState>;
/// A `HashSet` with [`FoldState`].
pub type FastSet<K> = HashSet<K, FoldState>;

/// Per-map secrets of [`FoldHasher`], drawn from the OS-seeded `RandomState`.
#[derive(Debug, Clone, Copy)]
pub struct FoldState {
    seed: [u64; 2],
}

impl Default for FoldState {
    fn default() -> Self {
        let rs = RandomState::new();
        FoldState {
            seed: [rs.hash_one(0x243f_6a88_85a3_08d3u64) | 1, rs.hash_one(1u64)],
        }
    }
}

impl FoldState {
    /// Fixed secrets (tests, reproducible runs).
    pub fn with_seed(seed: [u64; 2]) -> Self {
        FoldState {
            seed: [seed[0] | 1, seed[1]],
        }
    }
}

impl BuildHasher for FoldState {
    type Hasher = FoldHasher;
    #[inline]
    fn build_hasher(&self) -> FoldHasher {
        FoldHasher {
            acc: self.seed[1],
            key: self.seed[0],
        }
    }
}

/// Folded multiply: the high and low halves of the 128-bit product, XORed.
#[inline(always)]
fn fold(a: u64, b: u64) -> u64 {
    let p = (a as u128).wrapping_mul(b as u128);
    (p as u64) ^ ((p >> 64) as u64)
}

/// See the module doc.
#[derive(Debug, Clone)]
pub struct FoldHasher {
    acc: u64,
    key: u64,
}

impl Hasher for FoldHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.write_u64(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.write_u64(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 59));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.write_u64(u64::from(i));
    }
    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.write_u64(u64::from(i));
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.write_u64(u64::from(i));
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.acc = fold(self.acc ^ i, self.key);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        // hashbrown takes its 7-bit tag from the top bits and the bucket from the low
        // bits: one more fold mixes every input bit into both.
        fold(self.acc, self.key.rotate_left(32) | 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fold_hash_separates_nearby_keys_and_depends_on_the_secret() {
        let s = FoldState::with_seed([7, 9]);
        let mut seen = HashSet::new();
        for ip in 0..10_000u32 {
            assert!(seen.insert(s.hash_one(0x0a00_0000 + ip)));
        }
        let t = FoldState::with_seed([8, 9]);
        assert_ne!(s.hash_one(42u32), t.hash_one(42u32));
        // Tuples and byte strings hash every part.
        assert_ne!(s.hash_one((1u16, 2u32)), s.hash_one((2u16, 1u32)));
        assert_ne!(s.hash_one("eni-a"), s.hash_one("eni-b"));
        let m: FastMap<u32, u32> = (0..100).map(|i| (i, i * 2)).collect();
        assert_eq!(m.get(&50), Some(&100));
    }
}
