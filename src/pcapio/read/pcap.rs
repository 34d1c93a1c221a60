//! Classic pcap: the global header (its link type, snap length and timestamp unit) and
//! one 16-byte header per record.

use pcap_file::pcap::PcapParser;

use super::super::link;
use super::super::link_type_name;
use super::{CaptureReader, Endian, PcapError, Record, State, MAX_RECORD_LEN};

const PCAP_GLOBAL_HEADER_LEN: usize = 24;
const PCAP_RECORD_HEADER_LEN: usize = 16;

impl CaptureReader {
    pub(super) fn open_pcap(
        bytes: Vec<u8>,
        endian: Endian,
        nanos: bool,
    ) -> Result<Self, PcapError> {
        if bytes.len() < PCAP_GLOBAL_HEADER_LEN {
            return Err(PcapError::Truncated {
                record: 1,
                offset: 0,
                detail: format!(
                    "pcap global header needs {PCAP_GLOBAL_HEADER_LEN} bytes, file has {}",
                    bytes.len()
                ),
            });
        }
        let (rem, parser) = PcapParser::new(&bytes).map_err(|e| PcapError::Malformed {
            record: 1,
            offset: 0,
            detail: format!("pcap global header: {e}"),
        })?;
        let consumed = bytes.len() - rem.len();
        let header = parser.header();
        // Upper bits of the link-type field carry FCS information; the link type is the low 16.
        let link_type = u32::from(header.datalink) & 0xFFFF;
        if !link::supported(link_type) {
            return Err(PcapError::UnsupportedLinkType {
                link_type,
                name: link_type_name(link_type).to_string(),
            });
        }
        let snaplen = header.snaplen;
        Ok(CaptureReader {
            bytes,
            pos: consumed,
            base: 0,
            src: None,
            path: String::new(),
            next_number: 1,
            done: false,
            snaplen,
            state: State::Pcap {
                parser,
                endian,
                nanos,
                link_type,
            },
        })
    }

    pub(super) fn next_pcap(&mut self) -> Option<Result<Record, PcapError>> {
        let State::Pcap {
            endian,
            nanos,
            link_type,
            ..
        } = &self.state
        else {
            return None;
        };
        let (endian, nanos, link_type) = (*endian, *nanos, *link_type);
        let record = self.next_number;
        let offset = self.base + self.pos as u64;
        if let Err(e) = self.fill(PCAP_RECORD_HEADER_LEN) {
            return Some(Err(e));
        }
        // Checked by `check_caplen` below before the body is waited for: bounded.
        let caplen = endian
            .u32_at(&self.bytes[self.pos..], 8)
            .filter(|&c| c <= MAX_RECORD_LEN)
            .unwrap_or(0);
        if let Err(e) = self.fill(PCAP_RECORD_HEADER_LEN + caplen as usize) {
            return Some(Err(e));
        }
        let State::Pcap { parser, .. } = &self.state else {
            return None;
        };
        let rest = &self.bytes[self.pos..];
        if rest.is_empty() {
            return None;
        }
        if rest.len() < PCAP_RECORD_HEADER_LEN {
            return Some(Err(PcapError::Truncated {
                record,
                offset,
                detail: format!(
                    "record header needs {PCAP_RECORD_HEADER_LEN} bytes, only {} remain",
                    rest.len()
                ),
            }));
        }
        // Checked above: the header is present.
        let caplen = endian.u32_at(rest, 8).unwrap_or(0);
        if let Err(detail) = check_caplen(caplen, self.snaplen) {
            return Some(Err(PcapError::Malformed {
                record,
                offset,
                detail,
            }));
        }
        let body = rest.len() - PCAP_RECORD_HEADER_LEN;
        if (caplen as usize) > body {
            return Some(Err(PcapError::Truncated {
                record,
                offset,
                detail: format!("record says it holds {caplen} bytes, only {body} remain"),
            }));
        }
        let (rem, raw) = match parser.next_raw_packet(rest) {
            Ok(v) => v,
            Err(e) => {
                return Some(Err(PcapError::Malformed {
                    record,
                    offset,
                    detail: e.to_string(),
                }))
            }
        };
        let consumed = rest.len() - rem.len();
        let frac = u64::from(raw.ts_frac);
        let ts_nanos =
            u64::from(raw.ts_sec) * 1_000_000_000 + if nanos { frac } else { frac * 1000 };
        let out = Record {
            number: record,
            ts_nanos,
            data: raw.data.into_owned(),
            orig_len: raw.orig_len,
            interface: 0,
            link_type,
        };
        self.pos += consumed;
        self.next_number += 1;
        Some(Ok(out))
    }
}

pub(super) fn check_caplen(caplen: u32, snaplen: u32) -> Result<(), String> {
    if caplen > MAX_RECORD_LEN {
        return Err(format!(
            "captured length {caplen} exceeds the {MAX_RECORD_LEN}-byte limit (corrupt length field)"
        ));
    }
    if snaplen != 0 && caplen > snaplen {
        return Err(format!(
            "captured length {caplen} exceeds the snap length {snaplen}"
        ));
    }
    Ok(())
}
