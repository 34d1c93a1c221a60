//! Capture reading: classic pcap (both byte orders, micro- and nanosecond
//! magics) and pcapng (SHB, IDB, EPB, SPB; other block types are skipped).
//!
//! A file is streamed: the reader keeps a window of at most [`READ_CHUNK`] plus one
//! record (bounded by [`MAX_BLOCK_LEN`]) in memory, whatever the capture's size, and
//! walks it record by record. Framing (record headers, block lengths, trailers) is
//! validated here before any byte is handed to `pcap-file`, so that truncation is
//! reported as [`PcapError::Truncated`] with the record number (from 1) and byte
//! offset in the file, corruption as [`PcapError::Malformed`], and no input can make a
//! parser panic or allocate more than one bounded record.
//!
//! In a pcapng each interface keeps its own link type (its IDB's), carried by
//! every record read from it; a packet on an interface whose link type cannot be
//! replayed is yielded like any other and [`Record::issue`] names it (interface
//! and record number), so the packets after it are never lost. A classic pcap has
//! one link type for the whole file: an unreadable one is refused at open
//! ([`PcapError::UnsupportedLinkType`]).

use std::io::Read;
use std::path::Path;

use pcap_file::pcap::PcapParser;
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionOption;
use pcap_file::pcapng::{Block, PcapNgParser};

use super::link::{self, LinkIssue, Payload, SUPPORTED_TEXT};
use super::link_type_name;

/// Largest captured length accepted for one record (256 KiB). Anything larger
/// is treated as corruption, so a bad length field can never cause a huge
/// allocation or swallow the rest of the file.
pub const MAX_RECORD_LEN: u32 = 256 * 1024;

/// Largest pcapng block accepted (a packet of [`MAX_RECORD_LEN`] plus generous
/// room for options).
const MAX_BLOCK_LEN: u32 = 16 * 1024 * 1024;

/// Bytes read from a file at a time; the window is compacted once this much has been
/// consumed.
pub const READ_CHUNK: usize = 1 << 20;

const PCAP_GLOBAL_HEADER_LEN: usize = 24;
const PCAP_RECORD_HEADER_LEN: usize = 16;

const SHB_TYPE: u32 = 0x0A0D_0D0A;
const IDB_TYPE: u32 = 0x0000_0001;
const SPB_TYPE: u32 = 0x0000_0003;
const EPB_TYPE: u32 = 0x0000_0006;
const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;

const ACCEPTED_MAGICS: &str =
    "pcap a1b2c3d4/d4c3b2a1 (microsecond), a1b23c4d/4d3cb2a1 (nanosecond), \
     or pcapng 0a0d0d0a (section header block)";

/// One captured packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Position among the packet records of the capture, from 1 (Wireshark's
    /// frame number).
    pub number: u64,
    /// Timestamp in nanoseconds since the Unix epoch.
    pub ts_nanos: u64,
    /// Captured bytes, starting with the link-layer header of `link_type`.
    pub data: Vec<u8>,
    /// Length of the packet on the wire (may exceed `data.len()`).
    pub orig_len: u32,
    /// pcapng interface id; 0 for classic pcap.
    pub interface: u32,
    /// The link type of the record's interface (`LINKTYPE_*`, low 16 bits).
    pub link_type: u32,
}

/// A per-record problem that does not stop reading; callers count these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordIssue {
    /// The record carries no bytes at all.
    ZeroLength,
    /// The record's link layer cannot be replayed (its link type, a cut cooked
    /// header, a cooked protocol that is not an EtherType).
    Link(LinkIssue),
    /// The capture kept only the first `captured` of `original` bytes
    /// (snap length), so upper layers may be incomplete.
    SnapCut { captured: u32, original: u32 },
}

impl RecordIssue {
    /// The drop-reason name a replay counts it under.
    pub fn name(self) -> &'static str {
        match self {
            RecordIssue::ZeroLength => "capture_zero_length",
            RecordIssue::Link(l) => l.name(),
            RecordIssue::SnapCut { .. } => "capture_snap_cut",
        }
    }
}

impl Record {
    /// The record's packet, its link-layer header read.
    pub fn payload(&self) -> Result<Payload<'_>, LinkIssue> {
        link::decode(self.link_type, &self.data)
    }

    /// The problem with this record, if any.
    pub fn issue(&self) -> Option<RecordIssue> {
        let captured = u32::try_from(self.data.len()).unwrap_or(u32::MAX);
        if captured == 0 {
            Some(RecordIssue::ZeroLength)
        } else if let Err(l) = self.payload() {
            Some(RecordIssue::Link(l))
        } else if captured < self.orig_len {
            Some(RecordIssue::SnapCut {
                captured,
                original: self.orig_len,
            })
        } else {
            None
        }
    }
}

/// Everything that can go wrong reading or writing a capture.
///
/// In `Truncated` and `Malformed`, `record` is the number (from 1, as Wireshark
/// counts) of the packet record being read (for a bad non-packet pcapng block: the
/// number the next packet would have had) and `offset` is the byte offset of the start of the
/// record or block at fault; all records before it have already been yielded.
#[derive(Debug, thiserror::Error)]
pub enum PcapError {
    /// The file could not be read, or the writer's sink failed.
    #[error("I/O error {context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "capture is empty (0 bytes): expected a pcap or pcapng file; \
         the capture was probably stopped before its header was written — re-capture it"
    )]
    /// The file has no bytes at all.
    Empty,

    #[error(
        "not a capture file: first bytes are {found:02x?}; accepted magics are {ACCEPTED_MAGICS}; \
         if this is another format, convert it with `editcap -F pcapng IN OUT`"
    )]
    /// The first four bytes are not a pcap or pcapng magic.
    BadMagic { found: [u8; 4] },

    #[error(
        "unsupported link type {link_type} ({name}) in the pcap header; accepted: {SUPPORTED_TEXT} — \
         capture on an Ethernet interface or `any`, or rewrite the link layer, \
         e.g. `tcprewrite --dlt=enet --enet-dmac=.. --enet-smac=.. -i IN -o OUT`"
    )]
    /// The pcap header's link type cannot be replayed (pcapng interfaces are
    /// checked per packet, see [`RecordIssue::Link`]).
    UnsupportedLinkType { link_type: u32, name: String },

    #[error(
        "capture truncated at record {record} (byte offset {offset}): {detail}; \
         any records before it were returned — the file was probably cut short by an interrupted capture; \
         drop the partial tail (`editcap IN OUT`) or repair it with `pcapfix`"
    )]
    /// The file ends in the middle of a header, record or block.
    Truncated {
        record: u64,
        offset: u64,
        detail: String,
    },

    #[error(
        "malformed capture at record {record} (byte offset {offset}): {detail}; \
         any records before it were returned — the file is corrupt; inspect it with `tshark -r` \
         or repair it with `pcapfix`"
    )]
    /// A length, magic or field is impossible; reading cannot continue.
    Malformed {
        record: u64,
        offset: u64,
        detail: String,
    },

    /// A writer was called with arguments it cannot encode (not a file problem).
    #[error("invalid input to capture writer: {detail}")]
    InvalidInput { detail: String },
}

/// Capture file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Pcap,
    PcapNg,
}

#[derive(Debug, Clone, Copy)]
enum Endian {
    Little,
    Big,
}

impl Endian {
    fn u32_at(self, bytes: &[u8], at: usize) -> Option<u32> {
        let b: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(match self {
            Endian::Little => u32::from_le_bytes(b),
            Endian::Big => u32::from_be_bytes(b),
        })
    }
}

/// One pcapng interface, as declared by its IDB.
#[derive(Debug, Clone)]
struct Interface {
    link_type: u32,
    snaplen: u32,
    tsresol: u8,
    tsoffset_secs: i64,
}

enum State {
    Pcap {
        parser: PcapParser,
        endian: Endian,
        nanos: bool,
        link_type: u32,
    },
    PcapNg {
        parser: Box<PcapNgParser>,
        endian: Endian,
        interfaces: Vec<Interface>,
    },
}

/// Iterates over the packets of a pcap or pcapng capture.
///
/// Yields `Ok(Record)` for each packet, then at most one `Err`, after which it
/// returns `None`.
pub struct CaptureReader {
    /// The window: file bytes from offset `base` on; `pos` indexes into it.
    bytes: Vec<u8>,
    pos: usize,
    base: u64,
    /// Where more bytes come from (`None`: `bytes` is the whole capture).
    src: Option<Box<dyn Read + Send>>,
    /// The file name, for I/O errors.
    path: String,
    next_number: u64,
    done: bool,
    snaplen: u32,
    state: State,
}

impl std::fmt::Debug for CaptureReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaptureReader")
            .field("format", &self.format())
            .field("len", &self.bytes.len())
            .field("pos", &self.pos)
            .field("next_number", &self.next_number)
            .field("done", &self.done)
            .finish()
    }
}

impl CaptureReader {
    /// Opens a capture file and parses its header; records are read as they are
    /// iterated (memory stays bounded whatever the file's size).
    pub fn open(path: &Path) -> Result<Self, PcapError> {
        let f = std::fs::File::open(path).map_err(|source| PcapError::Io {
            context: format!("reading capture {}", path.display()),
            source,
        })?;
        Self::from_reader(Box::new(f), &path.display().to_string())
    }

    /// As [`CaptureReader::open`] over any byte stream (`name` for error messages).
    pub fn from_reader(mut src: Box<dyn Read + Send>, name: &str) -> Result<Self, PcapError> {
        let io = |source| PcapError::Io {
            context: format!("reading capture {name}"),
            source,
        };
        let mut bytes = Vec::new();
        let mut eof = read_into(&mut *src, &mut bytes, READ_CHUNK).map_err(io)?;
        // A pcapng's section header block must be whole before its header is parsed.
        if Endian::Big.u32_at(&bytes, 0) == Some(SHB_TYPE) {
            if let Some(len) = block_len_hint(&bytes, Endian::Big) {
                if len > bytes.len() && !eof {
                    eof = read_into(&mut *src, &mut bytes, len).map_err(io)?;
                }
            }
        }
        let mut r = Self::from_bytes(bytes)?;
        r.src = (!eof).then_some(src);
        r.path = name.to_string();
        Ok(r)
    }

    /// Makes at least `need` unread bytes available in the window, or all that remain
    /// in the file. Compacts the window first once a chunk has been consumed.
    fn fill(&mut self, need: usize) -> Result<(), PcapError> {
        if self.bytes.len() - self.pos >= need {
            return Ok(());
        }
        let Some(src) = self.src.as_mut() else {
            return Ok(());
        };
        if self.pos >= READ_CHUNK {
            self.bytes.drain(..self.pos);
            self.base += self.pos as u64;
            self.pos = 0;
        }
        let want = (self.pos + need).max(self.bytes.len() + READ_CHUNK);
        match read_into(&mut **src, &mut self.bytes, want) {
            Ok(eof) => {
                if eof {
                    self.src = None;
                }
                Ok(())
            }
            Err(source) => Err(PcapError::Io {
                context: format!("reading capture {}", self.path),
                source,
            }),
        }
    }

    /// Parses the header of an in-memory capture.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, PcapError> {
        if bytes.is_empty() {
            return Err(PcapError::Empty);
        }
        let mut found = [0u8; 4];
        let n = bytes.len().min(4);
        found[..n].copy_from_slice(&bytes[..n]);
        let be = u32::from_be_bytes(found);
        let pcap_magic = match be {
            0xA1B2_C3D4 => Some((Endian::Big, false)),
            0xA1B2_3C4D => Some((Endian::Big, true)),
            0xD4C3_B2A1 => Some((Endian::Little, false)),
            0x4D3C_B2A1 => Some((Endian::Little, true)),
            _ => None,
        };
        let known: [[u8; 4]; 5] = [
            0xA1B2_C3D4u32.to_be_bytes(),
            0xA1B2_3C4Du32.to_be_bytes(),
            0xD4C3_B2A1u32.to_be_bytes(),
            0x4D3C_B2A1u32.to_be_bytes(),
            SHB_TYPE.to_be_bytes(),
        ];
        if n < 4 {
            // A prefix of a valid magic is a cut-off header; anything else is not a capture.
            if known.iter().any(|m| m[..n] == bytes[..n]) {
                return Err(PcapError::Truncated {
                    record: 1,
                    offset: 0,
                    detail: format!("file header needs at least 24 bytes, file has {n}"),
                });
            }
            return Err(PcapError::BadMagic { found });
        }
        if let Some((endian, nanos)) = pcap_magic {
            Self::open_pcap(bytes, endian, nanos)
        } else if be == SHB_TYPE {
            Self::open_pcapng(bytes)
        } else {
            Err(PcapError::BadMagic { found })
        }
    }

    fn open_pcap(bytes: Vec<u8>, endian: Endian, nanos: bool) -> Result<Self, PcapError> {
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

    fn open_pcapng(bytes: Vec<u8>) -> Result<Self, PcapError> {
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

    /// The capture format.
    pub fn format(&self) -> Format {
        match self.state {
            State::Pcap { .. } => Format::Pcap,
            State::PcapNg { .. } => Format::PcapNg,
        }
    }

    /// The snap length: for pcap, the global header's; for pcapng, that of the
    /// first interface read so far (0 until an IDB has been read, and 0 also
    /// means "no limit" in pcapng).
    pub fn snaplen(&self) -> u32 {
        self.snaplen
    }

    fn next_pcap(&mut self) -> Option<Result<Record, PcapError>> {
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

    fn next_pcapng(&mut self) -> Option<Result<Record, PcapError>> {
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

fn check_caplen(caplen: u32, snaplen: u32) -> Result<(), String> {
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

/// Appends to `buf` until it holds `want` bytes or the source ends (`Ok(true)`).
fn read_into(src: &mut dyn Read, buf: &mut Vec<u8>, want: usize) -> std::io::Result<bool> {
    let old = buf.len();
    if want <= old {
        return Ok(false);
    }
    buf.resize(want, 0);
    let mut got = old;
    let res = loop {
        if got == want {
            break Ok(false);
        }
        match src.read(&mut buf[got..]) {
            Ok(0) => break Ok(true),
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => break Err(e),
        }
    };
    buf.truncate(got);
    res
}

/// The length field of the pcapng block at the start of `rest`, read as
/// [`check_block_framing`] reads it, when it is within [`MAX_BLOCK_LEN`]: how many
/// bytes to have in the window before validating the block.
fn block_len_hint(rest: &[u8], endian: Endian) -> Option<usize> {
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

impl Iterator for CaptureReader {
    type Item = Result<Record, PcapError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = match self.state {
            State::Pcap { .. } => self.next_pcap(),
            State::PcapNg { .. } => self.next_pcapng(),
        };
        if !matches!(item, Some(Ok(_))) {
            self.done = true;
        }
        item
    }
}
