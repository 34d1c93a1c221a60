//! Capture reading: classic pcap (both byte orders, micro- and nanosecond
//! magics) and pcapng (SHB, IDB, EPB, SPB; other block types are skipped).
//!
//! A file is streamed: the reader keeps a window of at most [`READ_CHUNK`] plus one
//! record (bounded by pcapng's largest block, 16 MiB) in memory, whatever the capture's size, and
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
//!
//! This file holds what both formats share (the records, the errors, the byte window,
//! the magic that picks the format); `pcap.rs` and `pcapng.rs` each open and walk one
//! format.

use std::io::Read;
use std::path::Path;

use pcap_file::pcap::PcapParser;
use pcap_file::pcapng::PcapNgParser;

use super::link::{self, LinkIssue, Payload, SUPPORTED_TEXT};
use pcapng::{block_len_hint, Interface};

mod pcap;
mod pcapng;

/// Largest captured length accepted for one record (256 KiB). Anything larger
/// is treated as corruption, so a bad length field can never cause a huge
/// allocation or swallow the rest of the file.
pub const MAX_RECORD_LEN: u32 = 256 * 1024;

/// Bytes read from a file at a time; the window is compacted once this much has been
/// consumed.
pub const READ_CHUNK: usize = 1 << 20;

/// The pcapng section header block's type, which is also the format's magic.
const SHB_TYPE: u32 = 0x0A0D_0D0A;

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
