//! pcapng: section header, interface description, enhanced and simple packet blocks
//! (other block types are framed and skipped). Each interface keeps its own link type,
//! snap length and timestamp resolution.

use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionOption;
use pcap_file::pcapng::{Block, PcapNgParser};

use super::pcap::check_caplen;
use super::{CaptureReader, Endian, PcapError, Record, State, SHB_TYPE};

/// Largest pcapng block accepted (a packet of [`MAX_RECORD_LEN`] plus generous
/// room for options).
const MAX_BLOCK_LEN: u32 = 16 * 1024 * 1024;

const IDB_TYPE: u32 = 0x0000_0001;
const SPB_TYPE: u32 = 0x0000_0003;
const EPB_TYPE: u32 = 0x0000_0006;
const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;

/// One pcapng interface, as declared by its IDB.
#[derive(Debug, Clone)]
pub(super) struct Interface {
    link_type: u32,
    snaplen: u32,
    tsresol: u8,
    tsoffset_secs: i64,
}

impl CaptureReader {
    pub(super) fn open_pcapng(bytes: Vec<u8>) -> Result<Self, PcapError> {
        let (len, endian) = check_block_framing(&bytes, 0, Endian::Big, 1)?;
        let block = &bytes[..len];
        let (_, parser) = PcapNgParser::new(block).map_err(|e| PcapError::Malformed {
            record: 1,
            offset: 0,
            detail: format!("pcapng section header block: {e}"),
        })?;
        Ok(CaptureReader {
            bytes,
            pos: len,
            base: 0,
            src: None,
            path: String::new(),
            next_number: 1,
            done: false,
            snaplen: 0,
            state: State::PcapNg {
                parser: Box::new(parser),
                endian,
                interfaces: Vec::new(),
            },
        })
    }

    pub(super) fn next_pcapng(&mut self) -> Option<Result<Record, PcapError>> {
        loop {
            let State::PcapNg { endian, .. } = &self.state else {
                return None;
            };
            let record = self.next_number;
            let offset = self.base + self.pos as u64;
            let e0 = *endian;
            if let Err(e) = self.fill(12) {
                return Some(Err(e));
            }
            if let Some(len) = block_len_hint(&self.bytes[self.pos..], e0) {
                if let Err(e) = self.fill(len) {
                    return Some(Err(e));
                }
            }
            let State::PcapNg {
                parser,
                endian,
                interfaces,
            } = &mut self.state
            else {
                return None;
            };
            if self.pos >= self.bytes.len() {
                return None;
            }
            let (len, block_endian) =
                match check_block_framing(&self.bytes[self.pos..], offset, *endian, record) {
                    Ok(v) => v,
                    Err(e) => return Some(Err(e)),
                };
            let block = &self.bytes[self.pos..self.pos + len];
            let block_type = endian.u32_at(block, 0).unwrap_or(0);
            let malformed = |what: &str, e: pcap_file::PcapError| PcapError::Malformed {
                record,
                offset,
                detail: format!("{what}: {e}"),
            };
            match block_type {
                SHB_TYPE | IDB_TYPE | EPB_TYPE | SPB_TYPE => {
                    let parsed = match parser.next_block(block) {
                        Ok((_, b)) => b,
                        Err(e) => return Some(Err(malformed(block_name(block_type), e))),
                    };
                    self.pos += len;
                    match parsed {
                        Block::SectionHeader(_) => {
                            *endian = block_endian;
                            interfaces.clear();
                        }
                        Block::InterfaceDescription(idb) => {
                            let mut iface = Interface {
                                link_type: u32::from(idb.linktype) & 0xFFFF,
                                snaplen: idb.snaplen,
                                tsresol: 6,
                                tsoffset_secs: 0,
                            };
                            for opt in &idb.options {
                                match opt {
                                    InterfaceDescriptionOption::IfTsResol(r) => iface.tsresol = *r,
                                    InterfaceDescriptionOption::IfTsOffset(o) => {
                                        iface.tsoffset_secs = *o as i64
                                    }
                                    _ => {}
                                }
                            }
                            if interfaces.is_empty() && self.snaplen == 0 {
                                self.snaplen = iface.snaplen;
                            }
                            interfaces.push(iface);
                        }
                        Block::EnhancedPacket(epb) => {
                            let Some(iface) = interfaces.get(epb.interface_id as usize) else {
                                return Some(Err(undeclared(
                                    record,
                                    offset,
                                    epb.interface_id,
                                    interfaces.len(),
                                )));
                            };
                            let caplen = u32::try_from(epb.data.len()).unwrap_or(u32::MAX);
                            if let Err(e) = check_iface(iface, caplen, record, offset) {
                                return Some(Err(e));
                            }
                            let data = epb.data.into_owned();
                            // pcap-file stores the raw timestamp units as nanoseconds.
                            let raw_ts = epb.timestamp.as_nanos() as u64;
                            let ts_nanos = match ts_to_nanos(raw_ts, iface) {
                                Some(t) => t,
                                None => {
                                    return Some(Err(PcapError::Malformed {
                                        record,
                                        offset,
                                        detail: format!(
                                            "timestamp {raw_ts} (if_tsresol {:#04x}) overflows 64-bit nanoseconds",
                                            iface.tsresol
                                        ),
                                    }))
                                }
                            };
                            self.next_number += 1;
                            return Some(Ok(Record {
                                number: record,
                                ts_nanos,
                                data,
                                orig_len: epb.original_len,
                                interface: epb.interface_id,
                                link_type: iface.link_type,
                            }));
                        }
                        Block::SimplePacket(spb) => {
                            let Some(iface) = interfaces.first() else {
                                return Some(Err(undeclared(record, offset, 0, 0)));
                            };
                            // The SPB body is padded; the captured length is the
                            // smallest of body, original length and snap length.
                            let mut n = spb.data.len().min(spb.original_len as usize);
                            if iface.snaplen != 0 {
                                n = n.min(iface.snaplen as usize);
                            }
                            if let Err(e) = check_iface(iface, n as u32, record, offset) {
                                return Some(Err(e));
                            }
                            self.next_number += 1;
                            return Some(Ok(Record {
                                number: record,
                                ts_nanos: 0,
                                data: spb.data[..n].to_vec(),
                                orig_len: spb.original_len,
                                interface: 0,
                                link_type: iface.link_type,
                            }));
                        }
                        _ => {}
                    }
                }
                _ => {
                    // Other block types (name resolution, statistics, custom, ...) carry no
                    // packets: framing is validated, the body is skipped unparsed.
                    if let Err(e) = parser.next_raw_block(block) {
                        return Some(Err(malformed(block_name(block_type), e)));
                    }
                    self.pos += len;
                }
            }
        }
    }
}

fn block_name(t: u32) -> &'static str {
    match t {
        SHB_TYPE => "section header block",
        IDB_TYPE => "interface description block",
        EPB_TYPE => "enhanced packet block",
        SPB_TYPE => "simple packet block",
        _ => "block",
    }
}

fn undeclared(record: u64, offset: u64, id: u32, declared: usize) -> PcapError {
    PcapError::Malformed {
        record,
        offset,
        detail: format!(
            "packet is on interface {id}, but only {declared} interface description block(s) precede it in this section"
        ),
    }
}

fn check_iface(iface: &Interface, caplen: u32, record: u64, offset: u64) -> Result<(), PcapError> {
    check_caplen(caplen, iface.snaplen).map_err(|detail| PcapError::Malformed {
        record,
        offset,
        detail,
    })
}

/// Converts raw pcapng timestamp units to nanoseconds, honouring `if_tsresol`
/// (MSB clear: 10^-n s; MSB set: 2^-n s) and `if_tsoffset` (seconds).
fn ts_to_nanos(raw: u64, iface: &Interface) -> Option<u64> {
    let r = iface.tsresol;
    let exp = u32::from(r & 0x7F);
    let nanos: u128 = if r & 0x80 == 0 {
        if exp <= 9 {
            u128::from(raw) * 10u128.pow(9 - exp)
        } else if exp - 9 > 38 {
            0
        } else {
            u128::from(raw) / 10u128.pow(exp - 9)
        }
    } else {
        (u128::from(raw) * 1_000_000_000) >> exp
    };
    let nanos = i128::try_from(nanos).ok()? + i128::from(iface.tsoffset_secs) * 1_000_000_000;
    u64::try_from(nanos).ok()
}

/// The length field of the pcapng block at the start of `rest`, read as
/// [`check_block_framing`] reads it, when it is within [`MAX_BLOCK_LEN`]: how many
/// bytes to have in the window before validating the block.
pub(super) fn block_len_hint(rest: &[u8], endian: Endian) -> Option<usize> {
    // The section header's type reads the same in both byte orders.
    let endian = if Endian::Big.u32_at(rest, 0) == Some(SHB_TYPE) {
        match Endian::Big.u32_at(rest, 8)? {
            BYTE_ORDER_MAGIC => Endian::Big,
            0x4D3C_2B1A => Endian::Little,
            _ => return None,
        }
    } else {
        endian
    };
    let len = endian.u32_at(rest, 4)?;
    (len <= MAX_BLOCK_LEN).then_some(len as usize)
}

/// Validates the framing of the pcapng block at the start of `rest` (at `offset` in the file): both length fields,
/// alignment, bounds. Returns the block length and the byte order of the
/// section it belongs to (which changes only at a section header block).
fn check_block_framing(
    rest: &[u8],
    offset: u64,
    endian: Endian,
    record: u64,
) -> Result<(usize, Endian), PcapError> {
    let truncated = |detail: String| PcapError::Truncated {
        record,
        offset,
        detail,
    };
    let malformed = |detail: String| PcapError::Malformed {
        record,
        offset,
        detail,
    };
    let block_type = endian.u32_at(rest, 0);
    let (endian, header_len) = if block_type == Some(SHB_TYPE) {
        // The section header's byte-order magic decides the endianness of its length field.
        let Some(bom) = Endian::Big.u32_at(rest, 8) else {
            return Err(truncated(format!(
                "section header block needs at least 12 bytes, only {} remain",
                rest.len()
            )));
        };
        let e = match bom {
            BYTE_ORDER_MAGIC => Endian::Big,
            0x4D3C_2B1A => Endian::Little,
            _ => {
                return Err(malformed(format!(
                    "section header block byte-order magic is {bom:#010x}, expected 0x1a2b3c4d"
                )))
            }
        };
        (e, 12)
    } else {
        (endian, 8)
    };
    if rest.len() < header_len {
        return Err(truncated(format!(
            "block header needs {header_len} bytes, only {} remain",
            rest.len()
        )));
    }
    let block_type = endian.u32_at(rest, 0).unwrap_or(0);
    let len = endian.u32_at(rest, 4).unwrap_or(0);
    let name = block_name(block_type);
    if len < 12 || len % 4 != 0 {
        return Err(malformed(format!(
            "{name} (type {block_type:#x}) has length field {len}; it must be a multiple of 4 and at least 12"
        )));
    }
    if len > MAX_BLOCK_LEN {
        return Err(malformed(format!(
            "{name} (type {block_type:#x}) has length field {len}, above the {MAX_BLOCK_LEN}-byte limit (corrupt length field)"
        )));
    }
    let len = len as usize;
    if rest.len() < len {
        return Err(truncated(format!(
            "{name} (type {block_type:#x}) says it is {len} bytes long, only {} remain",
            rest.len()
        )));
    }
    let trailer = endian.u32_at(rest, len - 4).unwrap_or(0);
    if trailer as usize != len {
        return Err(malformed(format!(
            "{name} (type {block_type:#x}) starts with length {len} but ends with length {trailer}"
        )));
    }
    if block_type == SHB_TYPE && len < 28 {
        return Err(malformed(format!(
            "section header block length {len} is below the minimum of 28"
        )));
    }
    Ok((len, endian))
}
