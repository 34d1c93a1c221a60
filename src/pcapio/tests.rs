//! Tests for capture reading and writing. All captures are generated in code.

use super::*;
use proptest::prelude::*;

// ---------------------------------------------------------------- helpers

fn eth_frame(seed: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| seed.wrapping_add(i as u8)).collect()
}

/// Classic pcap global header.
fn pcap_header(magic: u32, big_endian: bool, snaplen: u32, link_type: u32) -> Vec<u8> {
    let mut h = Vec::new();
    let put32 = |h: &mut Vec<u8>, v: u32| {
        h.extend_from_slice(&if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        })
    };
    put32(&mut h, magic);
    let v16 = |v: u16| {
        if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    h.extend_from_slice(&v16(2));
    h.extend_from_slice(&v16(4));
    put32(&mut h, 0);
    put32(&mut h, 0);
    put32(&mut h, snaplen);
    put32(&mut h, link_type);
    h
}

fn pcap_record(big_endian: bool, sec: u32, frac: u32, data: &[u8], orig_len: u32) -> Vec<u8> {
    let mut r = Vec::new();
    for v in [sec, frac, data.len() as u32, orig_len] {
        r.extend_from_slice(&if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        });
    }
    r.extend_from_slice(data);
    r
}

/// A little-endian microsecond pcap with `n` full records of 60 bytes.
fn sample_pcap(n: usize) -> Vec<u8> {
    let mut f = pcap_header(0xA1B2_C3D4, false, 65535, 1);
    for i in 0..n {
        f.extend(pcap_record(
            false,
            100 + i as u32,
            5,
            &eth_frame(i as u8, 60),
            60,
        ));
    }
    f
}

fn read_all(bytes: Vec<u8>) -> (Vec<Record>, Option<PcapError>) {
    let reader = CaptureReader::from_bytes(bytes).expect("header should parse");
    let mut recs = Vec::new();
    let mut err = None;
    let mut it = reader;
    for item in it.by_ref() {
        match item {
            Ok(r) => recs.push(r),
            Err(e) => {
                err = Some(e);
                break;
            }
        }
    }
    assert!(
        it.next().is_none(),
        "iterator must end after an error or at end of file"
    );
    (recs, err)
}

/// Raw pcapng block builder (little-endian unless `be`).
fn ng_block(be: bool, block_type: u32, body: &[u8]) -> Vec<u8> {
    let p = |v: u32| if be { v.to_be_bytes() } else { v.to_le_bytes() };
    let mut body = body.to_vec();
    while !body.len().is_multiple_of(4) {
        body.push(0);
    }
    let len = 12 + body.len() as u32;
    let mut b = Vec::new();
    b.extend_from_slice(&p(block_type));
    b.extend_from_slice(&p(len));
    b.extend_from_slice(&body);
    b.extend_from_slice(&p(len));
    b
}

fn ng_shb(be: bool) -> Vec<u8> {
    let mut body = Vec::new();
    if be {
        body.extend_from_slice(&0x1A2B_3C4Du32.to_be_bytes());
        body.extend_from_slice(&1u16.to_be_bytes());
        body.extend_from_slice(&0u16.to_be_bytes());
    } else {
        body.extend_from_slice(&0x1A2B_3C4Du32.to_le_bytes());
        body.extend_from_slice(&1u16.to_le_bytes());
        body.extend_from_slice(&0u16.to_le_bytes());
    }
    body.extend_from_slice(&[0xFF; 8]);
    ng_block(be, 0x0A0D_0D0A, &body)
}

fn ng_idb(be: bool, link_type: u16, snaplen: u32, tsresol: Option<u8>) -> Vec<u8> {
    let mut body = Vec::new();
    let p16 = |v: u16| if be { v.to_be_bytes() } else { v.to_le_bytes() };
    body.extend_from_slice(&p16(link_type));
    body.extend_from_slice(&p16(0));
    body.extend_from_slice(&if be {
        snaplen.to_be_bytes()
    } else {
        snaplen.to_le_bytes()
    });
    if let Some(r) = tsresol {
        body.extend_from_slice(&p16(9));
        body.extend_from_slice(&p16(1));
        body.extend_from_slice(&[r, 0, 0, 0]);
        body.extend_from_slice(&p16(0));
        body.extend_from_slice(&p16(0));
    }
    ng_block(be, 1, &body)
}

fn ng_epb(be: bool, iface: u32, ts: u64, data: &[u8], orig_len: u32) -> Vec<u8> {
    let p = |v: u32| if be { v.to_be_bytes() } else { v.to_le_bytes() };
    let mut body = Vec::new();
    for v in [
        iface,
        (ts >> 32) as u32,
        ts as u32,
        data.len() as u32,
        orig_len,
    ] {
        body.extend_from_slice(&p(v));
    }
    body.extend_from_slice(data);
    ng_block(be, 6, &body)
}

fn sample_pcapng() -> Vec<u8> {
    let mut w = PcapngWriter::new(Vec::new()).unwrap();
    let a = w.add_interface("eni-a", "ENI a").unwrap();
    let b = w.add_interface("eni-b", "ENI b").unwrap();
    for i in 0..6u64 {
        let iface = if i % 2 == 0 { a } else { b };
        let comment = (i % 3 == 0).then_some("hello");
        w.write_packet(
            iface,
            1_700_000_000_123_456_789 + i,
            &eth_frame(i as u8, 61 + i as usize),
            comment,
        )
        .unwrap();
    }
    w.into_inner().unwrap()
}

// ---------------------------------------------------------------- round trips

#[test]
fn pcap_round_trip_keeps_nanosecond_timestamps_and_bytes() {
    let mut w = PcapWriter::new(Vec::new()).unwrap();
    let pkts: Vec<(u64, Vec<u8>)> = (0..20u64)
        .map(|i| {
            (
                1_700_000_000_000_000_001 + i * 999_999_937,
                eth_frame(i as u8, 14 + i as usize * 7),
            )
        })
        .collect();
    for (ts, d) in &pkts {
        w.write_packet(*ts, d).unwrap();
    }
    let bytes = w.into_inner().unwrap();
    let reader = CaptureReader::from_bytes(bytes).unwrap();
    assert_eq!(reader.format(), Format::Pcap);
    assert_eq!(reader.snaplen(), 65535);
    let recs: Vec<Record> = reader.map(|r| r.unwrap()).collect();
    assert_eq!(recs.len(), pkts.len());
    for (i, (r, (ts, d))) in recs.iter().zip(&pkts).enumerate() {
        assert_eq!(r.number, i as u64 + 1);
        assert_eq!(r.ts_nanos, *ts);
        assert_eq!(&r.data, d);
        assert_eq!(r.orig_len as usize, d.len());
        assert_eq!(r.interface, 0);
        assert_eq!(r.issue(), None);
    }
}

#[test]
fn pcapng_round_trip_many_interfaces_comments_and_nanoseconds() {
    let mut w = PcapngWriter::new(Vec::new()).unwrap();
    let ids: Vec<u32> = (0..8)
        .map(|i| {
            w.add_interface(&format!("eni-{i}"), &format!("ENI number {i}"))
                .unwrap()
        })
        .collect();
    assert_eq!(ids, (0..8).collect::<Vec<_>>());
    let mut expected = Vec::new();
    for i in 0..40u64 {
        let iface = ids[(i * 3 % 8) as usize];
        let ts = 1_700_000_000_000_000_000 + i * 1_000_000_007;
        let data = eth_frame(i as u8, 42 + i as usize);
        let comment = format!("packet {i} ✓");
        w.write_packet(iface, ts, &data, (i % 2 == 0).then_some(comment.as_str()))
            .unwrap();
        expected.push((iface, ts, data));
    }
    let bytes = w.into_inner().unwrap();
    let reader = CaptureReader::from_bytes(bytes).unwrap();
    assert_eq!(reader.format(), Format::PcapNg);
    let recs: Vec<Record> = reader.map(|r| r.unwrap()).collect();
    assert_eq!(recs.len(), expected.len());
    for (i, (r, (iface, ts, data))) in recs.iter().zip(&expected).enumerate() {
        assert_eq!(r.number, i as u64 + 1);
        assert_eq!(r.interface, *iface);
        assert_eq!(r.ts_nanos, *ts);
        assert_eq!(&r.data, data);
        assert_eq!(r.issue(), None);
    }
}

#[test]
fn pcapng_writer_output_parses_with_pcap_file_and_keeps_options() {
    use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketOption;
    use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionOption;
    use pcap_file::pcapng::blocks::section_header::SectionHeaderOption;
    use pcap_file::pcapng::{Block, PcapNgReader};
    let bytes = sample_pcapng();
    let mut r = PcapNgReader::new(&bytes[..]).unwrap();
    assert!(r
        .section()
        .options
        .iter()
        .any(|o| matches!(o, SectionHeaderOption::UserApplication(a) if a == "vpcsim")));
    let mut names = Vec::new();
    let mut comments = 0;
    while let Some(b) = r.next_block() {
        match b.unwrap() {
            Block::InterfaceDescription(idb) => {
                for o in &idb.options {
                    match o {
                        InterfaceDescriptionOption::IfName(n) => names.push(n.to_string()),
                        InterfaceDescriptionOption::IfTsResol(r) => assert_eq!(*r, 9),
                        _ => {}
                    }
                }
            }
            Block::EnhancedPacket(epb) => {
                comments += epb
                    .options
                    .iter()
                    .filter(|o| matches!(o, EnhancedPacketOption::Comment(c) if c == "hello"))
                    .count();
            }
            _ => {}
        }
    }
    assert_eq!(names, ["eni-a", "eni-b"]);
    assert_eq!(comments, 2);
}

#[test]
fn pcapng_writer_refuses_undeclared_interface() {
    let mut w = PcapngWriter::new(Vec::new()).unwrap();
    let err = w.write_packet(0, 0, &[1, 2, 3], None).unwrap_err();
    assert!(matches!(err, PcapError::InvalidInput { .. }), "{err}");
    assert!(err.to_string().contains("add_interface"));
}

#[test]
fn writer_stopped_after_n_packets_leaves_n_valid_packets() {
    let mut w = PcapngWriter::new(Vec::new()).unwrap();
    w.add_interface("eth0", "").unwrap();
    for i in 0..5 {
        w.write_packet(0, i, &eth_frame(1, 64), None).unwrap();
        // Every prefix the writer has produced so far is a complete capture.
        let so_far = w.sink_snapshot();
        let (recs, err) = read_all(so_far);
        assert!(err.is_none());
        assert_eq!(recs.len() as u64, i + 1);
    }
    let mut p = PcapWriter::new(Vec::new()).unwrap();
    for i in 0..5 {
        p.write_packet(i, &eth_frame(2, 64)).unwrap();
        let (recs, err) = read_all(p.sink_snapshot());
        assert!(err.is_none());
        assert_eq!(recs.len() as u64, i + 1);
    }
}

#[test]
fn writer_cuts_oversized_packets_to_snaplen_and_reader_reports_snap_cut() {
    let big = eth_frame(3, 70_000);
    let mut p = PcapWriter::new(Vec::new()).unwrap();
    p.write_packet(1, &big).unwrap();
    let (recs, err) = read_all(p.into_inner().unwrap());
    assert!(err.is_none());
    assert_eq!(recs[0].data.len(), 65535);
    assert_eq!(
        recs[0].issue(),
        Some(RecordIssue::SnapCut {
            captured: 65535,
            original: 70_000
        })
    );
}

#[test]
fn pcap_big_endian_and_microsecond_magics_are_read() {
    for (magic, nanos) in [(0xA1B2_C3D4u32, false), (0xA1B2_3C4D, true)] {
        for be in [false, true] {
            let mut f = pcap_header(magic, be, 65535, 1);
            f.extend(pcap_record(be, 10, 7, &eth_frame(0, 60), 60));
            let (recs, err) = read_all(f);
            assert!(err.is_none(), "{err:?}");
            let want = 10_000_000_000 + if nanos { 7 } else { 7_000 };
            assert_eq!(recs[0].ts_nanos, want, "magic {magic:x} be {be}");
        }
    }
}

#[test]
fn pcapng_big_endian_with_default_microsecond_resolution() {
    let mut f = ng_shb(true);
    f.extend(ng_idb(true, 1, 0, None));
    f.extend(ng_epb(true, 0, 1_500_000, &eth_frame(0, 60), 60));
    let (recs, err) = read_all(f);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(recs[0].ts_nanos, 1_500_000_000);
}

#[test]
fn pcapng_if_tsresol_decimal_and_binary_are_honoured() {
    let mut f = ng_shb(false);
    f.extend(ng_idb(false, 1, 0, Some(3))); // milliseconds
    f.extend(ng_idb(false, 1, 0, Some(0x80 | 10))); // 2^-10 seconds
    f.extend(ng_idb(false, 1, 0, Some(12))); // picoseconds
    f.extend(ng_epb(false, 0, 1234, &eth_frame(0, 60), 60));
    f.extend(ng_epb(false, 1, 2048, &eth_frame(0, 60), 60));
    f.extend(ng_epb(false, 2, 5_000_000, &eth_frame(0, 60), 60));
    let (recs, err) = read_all(f);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(recs[0].ts_nanos, 1_234_000_000);
    assert_eq!(recs[1].ts_nanos, 2_000_000_000);
    assert_eq!(recs[2].ts_nanos, 5_000);
}

#[test]
fn pcapng_simple_packet_and_unknown_blocks() {
    let mut f = ng_shb(false);
    f.extend(ng_idb(false, 1, 100, None));
    f.extend(ng_block(false, 0x0000_0005, &[0u8; 12])); // interface statistics: skipped
    f.extend(ng_block(false, 0x4000_0BAD, &[1, 2, 3])); // custom/unknown: skipped
    let mut spb = 61u32.to_le_bytes().to_vec();
    spb.extend(eth_frame(9, 61));
    f.extend(ng_block(false, 3, &spb));
    let (recs, err) = read_all(f);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].data, eth_frame(9, 61));
    assert_eq!(recs[0].orig_len, 61);
}

// ---------------------------------------------------------------- bad captures

#[test]
fn empty_file_is_reported_as_empty() {
    let err = CaptureReader::from_bytes(Vec::new()).unwrap_err();
    assert!(matches!(err, PcapError::Empty));
    assert!(err.to_string().contains("empty"));
}

#[test]
fn missing_file_is_an_io_error_naming_the_path() {
    let err =
        CaptureReader::open(std::path::Path::new("/nonexistent/vpcsim-test.pcap")).unwrap_err();
    assert!(matches!(err, PcapError::Io { .. }));
    assert!(err.to_string().contains("/nonexistent/vpcsim-test.pcap"));
}

#[test]
fn wrong_magic_is_bad_magic_listing_accepted_magics() {
    let err = CaptureReader::from_bytes(b"GIF89a not a capture".to_vec()).unwrap_err();
    match &err {
        PcapError::BadMagic { found } => assert_eq!(found, b"GIF8"),
        e => panic!("unexpected {e:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("a1b2c3d4") && msg.contains("0a0d0d0a"),
        "{msg}"
    );
    let err = CaptureReader::from_bytes(vec![0x00, 0x01]).unwrap_err();
    assert!(matches!(err, PcapError::BadMagic { .. }));
}

#[test]
fn truncated_global_header_is_truncated_at_offset_zero() {
    let f = sample_pcap(0);
    for cut in [1, 3, 4, 10, 23] {
        let err = CaptureReader::from_bytes(f[..cut].to_vec()).unwrap_err();
        assert!(
            matches!(
                err,
                PcapError::Truncated {
                    record: 1,
                    offset: 0,
                    ..
                }
            ),
            "cut {cut}: {err:?}"
        );
    }
    let ng = ng_shb(false);
    for cut in [2, 8, 11, 20] {
        let err = CaptureReader::from_bytes(ng[..cut].to_vec()).unwrap_err();
        assert!(
            matches!(
                err,
                PcapError::Truncated {
                    record: 1,
                    offset: 0,
                    ..
                }
            ),
            "cut {cut}: {err:?}"
        );
    }
}

#[test]
fn header_only_capture_has_no_records() {
    let (recs, err) = read_all(sample_pcap(0));
    assert!(recs.is_empty() && err.is_none());
    let (recs, err) = read_all(ng_shb(false));
    assert!(recs.is_empty() && err.is_none());
}

#[test]
fn truncated_record_header_returns_earlier_records_then_truncated() {
    let f = sample_pcap(3);
    let cut = 24 + 2 * 76 + 10;
    let (recs, err) = read_all(f[..cut].to_vec());
    assert_eq!(recs.len(), 2);
    match err {
        Some(PcapError::Truncated {
            record: 3,
            offset,
            detail,
        }) => {
            assert_eq!(offset, (24 + 2 * 76) as u64);
            assert!(detail.contains("record header"), "{detail}");
        }
        e => panic!("unexpected {e:?}"),
    }
}

#[test]
fn truncated_record_body_returns_earlier_records_then_truncated() {
    let f = sample_pcap(3);
    let cut = f.len() - 1;
    let (recs, err) = read_all(f[..cut].to_vec());
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[1].number, 2);
    let err = err.unwrap();
    assert!(
        matches!(
            err,
            PcapError::Truncated {
                record: 3,
                offset: 176,
                ..
            }
        ),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("record 3") && msg.contains("offset 176") && msg.contains("pcapfix"),
        "{msg}"
    );
}

#[test]
fn truncated_pcapng_block_returns_earlier_records_then_truncated() {
    let f = sample_pcapng();
    let (recs, err) = read_all(f[..f.len() - 5].to_vec());
    assert_eq!(recs.len(), 5);
    assert!(
        matches!(err, Some(PcapError::Truncated { record: 6, .. })),
        "{err:?}"
    );
}

#[test]
fn caplen_above_snaplen_is_malformed() {
    let mut f = pcap_header(0xA1B2_C3D4, false, 64, 1);
    f.extend(pcap_record(false, 1, 0, &eth_frame(0, 60), 60));
    f.extend(pcap_record(false, 1, 0, &eth_frame(0, 100), 100));
    let (recs, err) = read_all(f);
    assert_eq!(recs.len(), 1);
    assert!(
        matches!(
            err,
            Some(PcapError::Malformed {
                record: 2,
                offset: 100,
                ..
            })
        ),
        "{err:?}"
    );
}

#[test]
fn caplen_above_256k_is_malformed_without_huge_allocation() {
    let mut f = pcap_header(0xA1B2_C3D4, false, 0, 1); // snaplen 0: only the hard cap applies
    let mut rec = pcap_record(false, 1, 0, &[], 0);
    rec[8..12].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    f.extend(rec);
    let (recs, err) = read_all(f);
    assert!(recs.is_empty());
    match err {
        Some(PcapError::Malformed {
            record: 1,
            offset: 24,
            detail,
        }) => assert!(detail.contains("262144"), "{detail}"),
        e => panic!("unexpected {e:?}"),
    }
    // pcapng: an EPB claiming more than 256 KiB inside a well-framed block.
    let mut ng = ng_shb(false);
    ng.extend(ng_idb(false, 1, 0, None));
    let mut epb = ng_epb(false, 0, 0, &[], 0);
    epb[20..24].copy_from_slice(&0x0010_0000u32.to_le_bytes());
    ng.extend(epb);
    let (_, err) = read_all(ng);
    assert!(
        matches!(err, Some(PcapError::Malformed { record: 1, .. })),
        "{err:?}"
    );
}

#[test]
fn zero_length_record_is_returned_with_zero_length_issue() {
    let mut f = pcap_header(0xA1B2_C3D4, false, 65535, 1);
    f.extend(pcap_record(false, 1, 0, &[], 0));
    f.extend(pcap_record(false, 2, 0, &eth_frame(0, 60), 60));
    let (recs, err) = read_all(f);
    assert!(err.is_none());
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[0].issue(), Some(RecordIssue::ZeroLength));
    assert_eq!(recs[1].issue(), None);
}

#[test]
fn snap_cut_record_is_returned_with_snap_cut_issue() {
    let mut f = pcap_header(0xA1B2_C3D4, false, 96, 1);
    f.extend(pcap_record(false, 1, 0, &eth_frame(0, 96), 1500));
    let (recs, err) = read_all(f);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(
        recs[0].issue(),
        Some(RecordIssue::SnapCut {
            captured: 96,
            original: 1500
        })
    );
}

#[test]
fn unsupported_link_types_are_named() {
    for (lt, name) in [(105u32, "Wi-Fi"), (0, "loopback")] {
        let f = pcap_header(0xA1B2_C3D4, false, 65535, lt);
        let err = CaptureReader::from_bytes(f).unwrap_err();
        match &err {
            PcapError::UnsupportedLinkType { link_type, name: n } => {
                assert_eq!(*link_type, lt);
                assert!(n.contains(name), "{n}");
            }
            e => panic!("unexpected {e:?}"),
        }
        let msg = err.to_string();
        assert!(
            msg.contains(&lt.to_string()) && msg.contains("Linux cooked v2 (276)"),
            "{msg}"
        );
    }
    // Every link type vpcsim reads opens.
    for lt in [1u32, 101, 113, 228, 229, 276] {
        let f = pcap_header(0xA1B2_C3D4, false, 65535, lt);
        assert!(CaptureReader::from_bytes(f).is_ok(), "link type {lt}");
    }
}

#[test]
fn pcapng_interfaces_keep_their_own_link_types_and_no_packet_is_lost() {
    // Interface 0 Ethernet, 1 Linux cooked v1, 2 Wi-Fi (not replayable): every packet
    // is read, each with its interface's link type; the Wi-Fi one is named by
    // `issue()` with its record number, and the packets after it still come.
    let mut f = ng_shb(false);
    f.extend(ng_idb(false, 1, 0, None));
    f.extend(ng_idb(false, 113, 0, None));
    f.extend(ng_idb(false, 105, 0, None));
    let mut sll = vec![0, 4, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00];
    sll.extend_from_slice(&eth_frame(0, 60)[14..]);
    f.extend(ng_epb(false, 0, 1, &eth_frame(0, 60), 60));
    f.extend(ng_epb(false, 1, 2, &sll, sll.len() as u32));
    f.extend(ng_epb(false, 2, 3, &eth_frame(1, 60), 60));
    f.extend(ng_epb(false, 1, 4, &sll, sll.len() as u32));
    f.extend(ng_epb(false, 0, 5, &eth_frame(2, 60), 60));
    let (recs, err) = read_all(f);
    assert!(err.is_none(), "{err:?}");
    let seen: Vec<(u64, u32, u32)> = recs
        .iter()
        .map(|r| (r.number, r.interface, r.link_type))
        .collect();
    assert_eq!(
        seen,
        [(1, 0, 1), (2, 1, 113), (3, 2, 105), (4, 1, 113), (5, 0, 1)]
    );
    assert_eq!(recs[1].issue(), None);
    assert_eq!(
        recs[2].issue(),
        Some(RecordIssue::Link(
            crate::pcapio::LinkIssue::UnsupportedLinkType { link_type: 105 }
        ))
    );
    // The cooked record's packet is the Ethernet frame's packet.
    assert_eq!(
        recs[1].payload(),
        Ok(crate::pcapio::Payload::Network {
            ethertype: 0x0800,
            packet: &eth_frame(0, 60)[14..]
        })
    );
}

#[test]
fn pcapng_block_with_bad_length_field_is_malformed() {
    let good = sample_pcapng();
    // Find the first EPB: SHB, then two IDBs.
    let shb_len = u32::from_le_bytes(good[4..8].try_into().unwrap()) as usize;
    let idb1 = u32::from_le_bytes(good[shb_len + 4..shb_len + 8].try_into().unwrap()) as usize;
    let idb2_at = shb_len + idb1;
    let idb2 = u32::from_le_bytes(good[idb2_at + 4..idb2_at + 8].try_into().unwrap()) as usize;
    let epb_at = idb2_at + idb2;
    for bad_len in [0u32, 7, 13, 1 << 30] {
        let mut f = good.clone();
        f[epb_at + 4..epb_at + 8].copy_from_slice(&bad_len.to_le_bytes());
        let (recs, err) = read_all(f);
        assert!(recs.is_empty());
        match err {
            Some(PcapError::Malformed {
                record: 1, offset, ..
            }) => assert_eq!(offset, epb_at as u64),
            e => panic!("len {bad_len}: unexpected {e:?}"),
        }
    }
    // Leading and trailing lengths disagree.
    let mut f = good.clone();
    let epb_len = u32::from_le_bytes(f[epb_at + 4..epb_at + 8].try_into().unwrap()) as usize;
    f[epb_at + epb_len - 4..epb_at + epb_len].copy_from_slice(&4u32.to_le_bytes());
    let (_, err) = read_all(f);
    assert!(
        matches!(err, Some(PcapError::Malformed { record: 1, .. })),
        "{err:?}"
    );
}

#[test]
fn pcapng_idb_after_packets_is_accepted() {
    let mut f = ng_shb(false);
    f.extend(ng_idb(false, 1, 0, None));
    f.extend(ng_epb(false, 0, 1, &eth_frame(0, 60), 60));
    f.extend(ng_idb(false, 1, 0, Some(9)));
    f.extend(ng_epb(false, 1, 7, &eth_frame(1, 60), 60));
    f.extend(ng_epb(false, 0, 2, &eth_frame(2, 60), 60));
    let (recs, err) = read_all(f);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(
        recs.iter()
            .map(|r| (r.interface, r.ts_nanos))
            .collect::<Vec<_>>(),
        [(0, 1000), (1, 7), (0, 2000)]
    );
}

#[test]
fn pcapng_packet_on_undeclared_interface_is_malformed() {
    let mut f = ng_shb(false);
    f.extend(ng_epb(false, 0, 1, &eth_frame(0, 60), 60));
    let (_, err) = read_all(f);
    match err {
        Some(PcapError::Malformed {
            record: 1, detail, ..
        }) => assert!(detail.contains("interface 0"), "{detail}"),
        e => panic!("unexpected {e:?}"),
    }
}

#[test]
fn second_pcapng_section_resets_interfaces_and_byte_order() {
    let mut f = ng_shb(false);
    f.extend(ng_idb(false, 1, 0, None));
    f.extend(ng_epb(false, 0, 1, &eth_frame(0, 60), 60));
    f.extend(ng_shb(true));
    f.extend(ng_idb(true, 1, 0, Some(9)));
    f.extend(ng_epb(true, 0, 5, &eth_frame(0, 60), 60));
    let (recs, err) = read_all(f);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(
        recs.iter().map(|r| r.ts_nanos).collect::<Vec<_>>(),
        [1000, 5]
    );
}

// ---------------------------------------------------------------- never panic

fn drain(bytes: Vec<u8>) {
    if let Ok(r) = CaptureReader::from_bytes(bytes) {
        let mut n = 0;
        for item in r {
            n += 1;
            if item.is_err() || n > 10_000 {
                break;
            }
        }
    }
}

proptest! {
    // 256 cases by default; set PROPTEST_CASES for a longer hunt.
    #![proptest_config(ProptestConfig::default())]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        drain(bytes);
    }

    #[test]
    fn arbitrary_bytes_behind_valid_magics_never_panic(
        which in 0usize..3,
        tail in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let mut f = match which {
            0 => sample_pcap(0),
            1 => ng_shb(false),
            _ => ng_shb(true),
        };
        f.extend(tail);
        drain(f);
    }

    #[test]
    fn truncated_or_corrupted_valid_captures_never_panic(
        ng in any::<bool>(),
        cut in any::<proptest::sample::Index>(),
        flips in proptest::collection::vec((any::<proptest::sample::Index>(), any::<u8>()), 0..8),
    ) {
        let mut f = if ng { sample_pcapng() } else { sample_pcap(5) };
        for (at, v) in flips {
            let i = at.index(f.len());
            f[i] = v;
        }
        let keep = cut.index(f.len() + 1);
        f.truncate(keep);
        drain(f);
    }

    #[test]
    fn truncation_never_loses_complete_records(cut in any::<proptest::sample::Index>()) {
        let f = sample_pcap(5);
        let keep = cut.index(f.len() + 1);
        let complete = keep.saturating_sub(24) / 76;
        if keep >= 24 {
            let (recs, err) = read_all(f[..keep].to_vec());
            prop_assert_eq!(recs.len(), complete);
            prop_assert_eq!(err.is_some(), (keep - 24) % 76 != 0);
        }
    }
}

// ---------------------------------------------------------------- external reader

/// Writes a pcapng with real Ethernet/IPv4 frames and, when `tshark` is on
/// PATH, checks that it reads every packet with its interface name.
#[test]
fn tshark_reads_pcapng_with_interface_names_when_installed() {
    fn ipv4_frame(src: [u8; 4]) -> Vec<u8> {
        let mut f = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x08, 0x00];
        let mut ip = vec![0x45, 0, 0, 28, 0, 1, 0, 0, 64, 17, 0, 0];
        ip.extend_from_slice(&src);
        ip.extend_from_slice(&[10, 0, 0, 99]);
        let sum = ip
            .chunks(2)
            .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
            .sum::<u32>();
        let sum = !((sum & 0xFFFF) + (sum >> 16)) as u16;
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
        f.extend(ip);
        f.extend_from_slice(&[0x30, 0x39, 0x00, 0x35, 0, 8, 0, 0]); // UDP 12345 -> 53
        f
    }
    let path = std::env::temp_dir().join(format!("vpcsim-pcapio-{}.pcapng", std::process::id()));
    let file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let mut w = PcapngWriter::new(file).unwrap();
    let a = w.add_interface("eni-web", "web ENI").unwrap();
    let b = w.add_interface("eni-db", "db ENI").unwrap();
    w.write_packet(
        a,
        1_700_000_000_000_000_001,
        &ipv4_frame([10, 0, 0, 1]),
        Some("first"),
    )
    .unwrap();
    w.write_packet(
        b,
        1_700_000_000_000_000_002,
        &ipv4_frame([10, 0, 0, 2]),
        None,
    )
    .unwrap();
    w.into_inner().unwrap();
    let (recs, err) = read_all(std::fs::read(&path).unwrap());
    assert!(err.is_none() && recs.len() == 2);
    let out = std::process::Command::new("tshark")
        .args(["-r"])
        .arg(&path)
        .args([
            "-T",
            "fields",
            "-e",
            "frame.interface_name",
            "-e",
            "ip.src",
            "-e",
            "frame.comment",
            "-e",
            "frame.time_epoch",
        ])
        .output();
    let _ = std::fs::remove_file(&path);
    let Ok(out) = out else {
        eprintln!("tshark not installed; skipping external check");
        return;
    };
    assert!(
        out.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!("tshark output:\n{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].starts_with("eni-web\t10.0.0.1"), "{text}");
    assert!(lines[1].starts_with("eni-db\t10.0.0.2"), "{text}");
    assert!(
        lines[0].contains("first") && lines[0].ends_with("1700000000.000000001"),
        "{text}"
    );

    // Classic nanosecond pcap too.
    let path = std::env::temp_dir().join(format!("vpcsim-pcapio-{}.pcap", std::process::id()));
    let mut p = PcapWriter::new(std::fs::File::create(&path).unwrap()).unwrap();
    p.write_packet(1_700_000_000_000_000_003, &ipv4_frame([10, 0, 0, 3]))
        .unwrap();
    p.into_inner().unwrap();
    let out = std::process::Command::new("tshark")
        .arg("-r")
        .arg(&path)
        .args(["-T", "fields", "-e", "ip.src", "-e", "frame.time_epoch"])
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&path);
    assert!(
        out.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "10.0.0.3\t1700000000.000000003"
    );
}

// ---------------------------------------------------------------- streaming

/// A source that hands out at most 997 bytes per read, so records straddle reads.
struct Trickle(std::io::Cursor<Vec<u8>>);

impl std::io::Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(997);
        self.0.read(&mut buf[..n])
    }
}

fn read_streamed(bytes: Vec<u8>) -> (Vec<Record>, Option<PcapError>) {
    let r = CaptureReader::from_reader(Box::new(Trickle(std::io::Cursor::new(bytes))), "t")
        .expect("header should parse");
    let mut recs = Vec::new();
    for item in r {
        match item {
            Ok(x) => recs.push(x),
            Err(e) => return (recs, Some(e)),
        }
    }
    (recs, None)
}

/// Streaming keeps a bounded window but reads exactly what reading the whole file did:
/// the same records, and for a cut file the same error at the same file offset, beyond
/// several window compactions (captures of ≈ 3 × READ_CHUNK).
#[test]
fn streamed_reading_equals_whole_file_reading_across_window_refills() {
    let n = 3 * READ_CHUNK / 76 + 17;
    let pcap = sample_pcap(n);
    let mut ng = ng_shb(false);
    ng.extend(ng_idb(false, 1, 0, Some(9)));
    for i in 0..n / 2 {
        ng.extend(ng_epb(
            false,
            0,
            i as u64 * 1000,
            &eth_frame(i as u8, 60 + i % 7),
            80,
        ));
    }
    for whole in [pcap, ng] {
        for cut in [0usize, 5, 40] {
            let bytes = whole[..whole.len() - cut].to_vec();
            let (want, want_err) = read_all(bytes.clone());
            let (got, got_err) = read_streamed(bytes);
            assert!(want.len() > 20_000);
            assert_eq!(got, want);
            assert_eq!(
                got_err.map(|e| e.to_string()),
                want_err.map(|e| e.to_string())
            );
        }
    }
}
