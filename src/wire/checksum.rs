//! Internet checksum (RFC 1071) arithmetic and RFC 1624 incremental updates.
//!
//! All functions work on ones' complement 16-bit words in network byte order.
//! The incremental forms let a NAT rewrite a few fields of a packet and fix the
//! checksums without re-reading the payload: [`update16`]/[`update32`] for a
//! single field, and [`Delta`] for a precomputed set of changes that a flow
//! stores once and applies to every packet.

/// Ones' complement partial sum of `data` as big-endian 16-bit words.
///
/// An odd trailing byte is padded with a zero byte on the right (RFC 1071).
/// The result is not folded; combine partial sums with `+` and finish with
/// [`fold`] (or [`checksum`]). Carries beyond 32 bits are folded back in, so any
/// input length is safe.
#[inline]
pub fn sum16(data: &[u8]) -> u32 {
    let mut sum: u64 = 0;
    let mut chunks = data.chunks_exact(2);
    for word in &mut chunks {
        if let [hi, lo] = word {
            sum += u64::from(u16::from_be_bytes([*hi, *lo]));
        }
    }
    if let [last] = chunks.remainder() {
        sum += u64::from(u16::from_be_bytes([*last, 0]));
    }
    // 2^32 ≡ 1 (mod 0xFFFF), so adding the high half to the low half keeps the
    // ones' complement value.
    while sum > u64::from(u32::MAX) {
        sum = (sum & u64::from(u32::MAX)) + (sum >> 32);
    }
    sum as u32
}

/// Folds a 32-bit partial sum into 16 bits by adding the carries back in.
///
/// Two rounds always suffice (the first leaves at most 0x1FFFE, the second at most
/// 0xFFFF), so there is no loop: on the established path this was a data-dependent
/// branch per checksum.
#[inline(always)]
pub fn fold(sum: u32) -> u16 {
    let s = (sum & 0xFFFF) + (sum >> 16);
    ((s & 0xFFFF) + (s >> 16)) as u16
}

/// The Internet checksum of `data`: the ones' complement of its folded sum.
///
/// Computing this over data that already contains a correct checksum field
/// yields 0.
pub fn checksum(data: &[u8]) -> u16 {
    !fold(sum16(data))
}

/// RFC 1624 eqn. 3: the checksum `csum` after one 16-bit field changed from
/// `old` to `new`: `HC' = ~(~HC + ~m + m')`.
pub fn update16(csum: u16, old: u16, new: u16) -> u16 {
    Delta::zero().add16(old, new).apply(csum)
}

/// Like [`update16`] for a 32-bit field (e.g. an IPv4 address), given as its
/// big-endian value (`u32::from(Ipv4Addr)`).
pub fn update32(csum: u16, old: u32, new: u32) -> u16 {
    Delta::zero().add32(old, new).apply(csum)
}

/// A precomputed ones' complement checksum delta: the sum of `~old + new` for
/// every 16-bit word a rewrite changes.
///
/// A flow computes its delta once (from the old and new addresses and ports)
/// and applies it to the checksum of every packet with [`Delta::apply`]. The
/// value is kept folded to 16 bits, with ones' complement "-0" (`0xFFFF`)
/// normalised to `0`, so an empty or no-op delta leaves a checksum unchanged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delta(u32);

impl Delta {
    /// The delta of a rewrite that changes nothing.
    pub const fn zero() -> Self {
        Delta(0)
    }

    /// Rebuilds a delta from the value returned by [`Delta::folded`].
    #[inline]
    pub const fn from_folded(value: u16) -> Self {
        Delta(value as u32)
    }

    /// The delta folded to 16 bits, for compact storage.
    pub const fn folded(self) -> u16 {
        self.0 as u16
    }

    fn normalise(sum: u32) -> Self {
        let f = fold(sum);
        Delta(if f == 0xFFFF { 0 } else { u32::from(f) })
    }

    /// Adds the change of one 16-bit word from `old` to `new`.
    #[must_use]
    pub fn add16(self, old: u16, new: u16) -> Self {
        Self::normalise(self.0 + u32::from(!old) + u32::from(new))
    }

    /// The delta of several 16-bit words changing at once, `(old, new)` each: the same
    /// value as chaining [`Delta::add16`] over them, folded once instead of per word
    /// (ones' complement addition is associative). At most a few thousand words.
    #[inline]
    pub fn of_words<const N: usize>(changes: [(u16, u16); N]) -> Self {
        let mut sum = 0u32;
        for (old, new) in changes {
            sum += u32::from(!old) + u32::from(new);
        }
        Self::normalise(sum)
    }

    /// Adds the change of a 32-bit field (two 16-bit words).
    #[must_use]
    pub fn add32(self, old: u32, new: u32) -> Self {
        self.add16((old >> 16) as u16, (new >> 16) as u16)
            .add16(old as u16, new as u16)
    }

    /// Combines two deltas (e.g. an address delta and a port delta).
    #[must_use]
    pub fn combine(self, other: Delta) -> Self {
        Self::normalise(self.0 + other.0)
    }

    /// True if applying this delta leaves every checksum unchanged.
    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// Applies the delta to a stored checksum: `~(~HC + delta)` (a zero delta gives
    /// `csum` back unchanged, without a branch).
    #[inline(always)]
    pub fn apply(self, csum: u16) -> u16 {
        !fold(u32::from(!csum) + self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn checksum_of_rfc1071_example_words() {
        // RFC 1071 section 3 example: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(sum16(&data)), 0xddf2);
        assert_eq!(checksum(&data), !0xddf2);
    }

    #[test]
    fn odd_trailing_byte_is_padded_on_the_right() {
        assert_eq!(sum16(&[0x12, 0x34, 0x56]), 0x1234 + 0x5600);
        assert_eq!(sum16(&[]), 0);
    }

    #[test]
    fn data_containing_its_checksum_sums_to_zero() {
        let mut data = vec![0x45, 0x00, 0x00, 0x54, 0xab, 0xcd, 0x40, 0x00, 0x40, 0x01];
        data.extend_from_slice(&[0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
        let c = checksum(&data);
        data[10..12].copy_from_slice(&c.to_be_bytes());
        assert_eq!(checksum(&data), 0);
    }

    #[test]
    fn rfc1624_example_gives_0000_not_ffff() {
        // RFC 1624 section 4: HC = 0xDD2F, m = 0x5555 -> m' = 0x3285, HC' = 0x0000.
        assert_eq!(update16(0xDD2F, 0x5555, 0x3285), 0x0000);
    }

    #[test]
    fn update_with_unchanged_value_is_identity() {
        for c in [0u16, 1, 0x1234, 0xFFFE, 0xFFFF] {
            assert_eq!(update16(c, 0xABCD, 0xABCD), c);
            assert_eq!(update32(c, 0xDEADBEEF, 0xDEADBEEF), c);
        }
    }

    #[test]
    fn very_long_input_does_not_overflow() {
        let data = vec![0xFFu8; 300_000];
        assert_eq!(fold(sum16(&data)), 0xFFFF);
    }

    proptest! {
        #[test]
        fn two_round_fold_equals_folding_until_16_bits(sum in any::<u32>()) {
            let mut want = sum;
            while want > 0xFFFF {
                want = (want & 0xFFFF) + (want >> 16);
            }
            prop_assert_eq!(u32::from(fold(sum)), want);
        }

        #[test]
        fn update16_equals_full_recomputation(
            mut words in proptest::collection::vec(any::<u16>(), 2..40),
            idx in any::<prop::sample::Index>(),
            new in any::<u16>(),
        ) {
            // Word 0 stays non-zero so the sum is never the all-zero edge case
            // (which no real IP/TCP/UDP header can have).
            words[0] |= 0x4000;
            let i = idx.index(words.len() - 1) + 1;
            let bytes = |w: &[u16]| w.iter().flat_map(|x| x.to_be_bytes()).collect::<Vec<u8>>();
            let before = checksum(&bytes(&words));
            let old = words[i];
            words[i] = new;
            let after = checksum(&bytes(&words));
            prop_assert_eq!(update16(before, old, new), after);
        }

        #[test]
        fn delta_of_words_equals_chained_add16(words in proptest::array::uniform6((any::<u16>(), any::<u16>()))) {
            let chained = words.iter().fold(Delta::zero(), |d, (o, n)| d.add16(*o, *n));
            prop_assert_eq!(Delta::of_words(words), chained);
        }

        #[test]
        fn delta_equals_sequence_of_updates(
            pairs in proptest::collection::vec((any::<u32>(), any::<u32>()), 0..6),
            csum in any::<u16>(),
        ) {
            let mut d = Delta::zero();
            let mut c = csum;
            for (o, n) in &pairs {
                d = d.add32(*o, *n);
                c = update32(c, *o, *n);
            }
            // Equal as ones' complement values (0x0000 and 0xFFFF both mean zero).
            prop_assert_eq!(fold(u32::from(d.apply(csum))) % 0xFFFF, fold(u32::from(c)) % 0xFFFF);
            prop_assert_eq!(Delta::from_folded(d.folded()), d);
        }
    }
}
