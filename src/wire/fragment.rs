//! IPv4 fragmentation (RFC 791 §3.2) of a frame that is larger than the next link's MTU.

use super::checksum::checksum;
use super::frame::{FrameInfo, ETH_LEN, IPV4_LEN};

/// Splits a parsed frame (no IP options: the VPC refuses them) into fragments whose IPv4
/// datagrams are at most `mtu` bytes. Each fragment copies the Ethernet and IPv4
/// headers, carries a multiple of 8 payload bytes (except the last), has its offset
/// counted from the original's (a fragment can be fragmented again), MF set on all but
/// the last (which keeps the original's MF), and a recomputed header checksum. The L4
/// checksum, in the first fragment, covers the whole datagram and stays valid.
///
/// `None` when the frame needs no fragmenting or cannot be: DF set, an MTU too small
/// to carry 8 payload bytes, or a frame shorter than its total length says.
pub fn fragment(frame: &[u8], info: &FrameInfo, mtu: u16) -> Option<Vec<Vec<u8>>> {
    let total = usize::from(info.total_len);
    let mtu = usize::from(mtu);
    if info.dont_fragment || total <= mtu || mtu < IPV4_LEN + 8 {
        return None;
    }
    let headers = frame.get(..ETH_LEN + IPV4_LEN)?;
    let payload = frame.get(ETH_LEN + IPV4_LEN..ETH_LEN + total)?;
    let chunk = (mtu - IPV4_LEN) / 8 * 8;
    let base = usize::from(info.frag_offset) * 8;
    let mut out = Vec::with_capacity(payload.len().div_ceil(chunk));
    for (i, part) in payload.chunks(chunk).enumerate() {
        let offset = (base + i * chunk) / 8;
        let last = (i + 1) * chunk >= payload.len();
        let more = !last || info.more_fragments;
        let offset = u16::try_from(offset).ok().filter(|o| *o < 0x2000)?;
        let mut f = Vec::with_capacity(ETH_LEN + IPV4_LEN + part.len());
        f.extend_from_slice(headers);
        f.extend_from_slice(part);
        let ip = &mut f[ETH_LEN..ETH_LEN + IPV4_LEN];
        let len = (IPV4_LEN + part.len()) as u16;
        ip[2..4].copy_from_slice(&len.to_be_bytes());
        let flags = offset | if more { 0x2000 } else { 0 };
        ip[6..8].copy_from_slice(&flags.to_be_bytes());
        ip[10..12].copy_from_slice(&[0, 0]);
        let c = checksum(ip);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        out.push(f);
    }
    Some(out)
}

/// Sets or clears the DF flag of a frame's IPv4 header, fixing the header checksum
/// (for building test traffic: [`super::build`] always sets DF, as probes do).
pub fn set_dont_fragment(frame: &mut [u8], df: bool) {
    let Some(ip) = frame.get_mut(ETH_LEN..ETH_LEN + IPV4_LEN) else {
        return;
    };
    if df {
        ip[6] |= 0x40;
    } else {
        ip[6] &= !0x40;
    }
    ip[10..12].copy_from_slice(&[0, 0]);
    let c = checksum(ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::build::test_support::udp_frame;
    use crate::wire::{checksums_valid, parse};

    #[test]
    fn a_big_datagram_splits_into_valid_fragments_that_cover_it() {
        let mut f = udp_frame(&[7u8; 4000]);
        set_dont_fragment(&mut f, false);
        let info = parse(&f).unwrap();
        let frags = fragment(&f, &info, 1500).unwrap();
        assert_eq!(frags.len(), 3);
        let mut payload = vec![];
        for (i, g) in frags.iter().enumerate() {
            let gi = parse(g).unwrap();
            assert!(usize::from(gi.total_len) <= 1500);
            assert_eq!(gi.ident, info.ident);
            assert_eq!(gi.more_fragments, i + 1 < frags.len());
            assert_eq!(usize::from(gi.frag_offset) * 8, payload.len());
            assert!(checksums_valid(g).is_ok(), "{:?}", checksums_valid(g));
            payload.extend_from_slice(&g[ETH_LEN + IPV4_LEN..]);
        }
        assert_eq!(payload, f[ETH_LEN + IPV4_LEN..]);
    }

    #[test]
    fn df_or_small_datagrams_are_not_fragmented() {
        let f = udp_frame(&[0u8; 100]);
        let info = parse(&f).unwrap();
        assert!(fragment(&f, &info, 1500).is_none());
        let big = udp_frame(&[0u8; 3000]);
        let info = parse(&big).unwrap();
        assert!(info.dont_fragment);
        assert!(fragment(&big, &info, 1500).is_none());
    }
}
