//! Capture writing: pcapng (one section, many Ethernet interfaces, nanosecond
//! timestamps, optional per-packet comments) and classic nanosecond pcap.
//!
//! Blocks are encoded here (little-endian) rather than through `pcap-file`'s
//! writer: it keeps options simple and lets every block be built in memory and
//! handed to the writer in a single `write_all`, so that whatever has been
//! written so far is always a valid capture. After any write error the writer
//! refuses further writes (a half-written block could not be followed by a
//! valid one).

use std::io::Write;

use super::read::{PcapError, MAX_RECORD_LEN};
use super::LINKTYPE_ETHERNET;

const SHB_TYPE: u32 = 0x0A0D_0D0A;
const IDB_TYPE: u32 = 0x0000_0001;
const EPB_TYPE: u32 = 0x0000_0006;

const OPT_ENDOFOPT: u16 = 0;
const OPT_COMMENT: u16 = 1;
const SHB_USERAPPL: u16 = 4;
const IF_NAME: u16 = 2;
const IF_DESCRIPTION: u16 = 3;
const IF_TSRESOL: u16 = 9;

/// Snap length written into pcapng IDBs; longer packets are cut to it.
const PCAPNG_SNAPLEN: u32 = MAX_RECORD_LEN;
/// Snap length of classic pcap output; longer packets are cut to it.
const PCAP_SNAPLEN: u32 = 65535;

/// Builds one pcapng block: header, body, options, trailer.
struct BlockBuf {
    buf: Vec<u8>,
    has_options: bool,
}

impl BlockBuf {
    fn new(block_type: u32) -> Self {
        let mut buf = Vec::with_capacity(128);
        buf.extend_from_slice(&block_type.to_le_bytes());
        buf.extend_from_slice(&0u32.to_le_bytes()); // length, patched in finish()
        BlockBuf {
            buf,
            has_options: false,
        }
    }

    fn u16(&mut self, v: u16) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }

    fn u32(&mut self, v: u32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }

    fn bytes_padded(&mut self, v: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(v);
        let pad = (4 - v.len() % 4) % 4;
        self.buf.extend_from_slice(&[0u8; 3][..pad]);
        self
    }

    fn option(&mut self, code: u16, value: &[u8]) -> Result<&mut Self, PcapError> {
        let len = u16::try_from(value.len()).map_err(|_| PcapError::InvalidInput {
            detail: format!(
                "option {code} value is {} bytes; pcapng options hold at most 65535",
                value.len()
            ),
        })?;
        self.has_options = true;
        self.u16(code).u16(len).bytes_padded(value);
        Ok(self)
    }

    fn finish(mut self) -> Vec<u8> {
        if self.has_options {
            self.u16(OPT_ENDOFOPT).u16(0);
        }
        let len = (self.buf.len() + 4) as u32;
        self.buf[4..8].copy_from_slice(&len.to_le_bytes());
        self.buf.extend_from_slice(&len.to_le_bytes());
        self.buf
    }
}

/// Writes whole blocks, remembering whether the sink has failed.
struct Sink<W: Write> {
    w: W,
    poisoned: bool,
}

impl<W: Write> Sink<W> {
    fn put(&mut self, what: &str, bytes: &[u8]) -> Result<(), PcapError> {
        if self.poisoned {
            return Err(PcapError::InvalidInput {
                detail: format!(
                    "cannot write {what}: an earlier write failed and may have left a partial block"
                ),
            });
        }
        self.w.write_all(bytes).map_err(|source| {
            self.poisoned = true;
            PcapError::Io {
                context: format!("writing {what}"),
                source,
            }
        })
    }

    fn flush(&mut self) -> Result<(), PcapError> {
        self.w.flush().map_err(|source| PcapError::Io {
            context: "flushing capture".into(),
            source,
        })
    }
}

/// Writes a pcapng capture: one section (`shb_userappl` = "vpcsim"), Ethernet
/// interfaces with nanosecond timestamps, enhanced packet blocks.
pub struct PcapngWriter<W: Write> {
    sink: Sink<W>,
    interfaces: u32,
}

impl<W: Write> PcapngWriter<W> {
    /// Writes the section header block.
    pub fn new(w: W) -> Result<Self, PcapError> {
        let mut b = BlockBuf::new(SHB_TYPE);
        b.u32(0x1A2B_3C4D).u16(1).u16(0);
        b.u32(u32::MAX).u32(u32::MAX); // section length -1: not specified
        b.option(SHB_USERAPPL, b"vpcsim")?;
        let mut sink = Sink { w, poisoned: false };
        sink.put("section header block", &b.finish())?;
        Ok(PcapngWriter {
            sink,
            interfaces: 0,
        })
    }

    /// Declares an Ethernet interface (`if_name`, `if_description`,
    /// `if_tsresol` = 9) and returns its id for [`write_packet`](Self::write_packet).
    pub fn add_interface(&mut self, name: &str, description: &str) -> Result<u32, PcapError> {
        let mut b = BlockBuf::new(IDB_TYPE);
        b.u16(LINKTYPE_ETHERNET as u16).u16(0).u32(PCAPNG_SNAPLEN);
        if !name.is_empty() {
            b.option(IF_NAME, name.as_bytes())?;
        }
        if !description.is_empty() {
            b.option(IF_DESCRIPTION, description.as_bytes())?;
        }
        b.option(IF_TSRESOL, &[9])?;
        self.sink.put("interface description block", &b.finish())?;
        let id = self.interfaces;
        self.interfaces += 1;
        Ok(id)
    }

    /// Writes one enhanced packet block. Packets longer than 256 KiB are cut
    /// to that length (the original length is kept, so readers see a snap cut).
    pub fn write_packet(
        &mut self,
        interface: u32,
        ts_nanos: u64,
        data: &[u8],
        comment: Option<&str>,
    ) -> Result<(), PcapError> {
        if interface >= self.interfaces {
            return Err(PcapError::InvalidInput {
                detail: format!(
                    "packet on interface {interface}, but only {} interface(s) were added; call add_interface first",
                    self.interfaces
                ),
            });
        }
        let orig_len = u32::try_from(data.len()).map_err(|_| PcapError::InvalidInput {
            detail: format!(
                "packet of {} bytes is longer than pcapng can describe",
                data.len()
            ),
        })?;
        let captured = &data[..data.len().min(PCAPNG_SNAPLEN as usize)];
        let mut b = BlockBuf::new(EPB_TYPE);
        b.u32(interface)
            .u32((ts_nanos >> 32) as u32)
            .u32(ts_nanos as u32);
        b.u32(captured.len() as u32)
            .u32(orig_len)
            .bytes_padded(captured);
        if let Some(c) = comment {
            b.option(OPT_COMMENT, c.as_bytes())?;
        }
        self.sink.put("enhanced packet block", &b.finish())
    }

    /// Flushes the underlying writer.
    pub fn flush(&mut self) -> Result<(), PcapError> {
        self.sink.flush()
    }

    /// Flushes and returns the underlying writer.
    pub fn into_inner(mut self) -> Result<W, PcapError> {
        self.sink.flush()?;
        Ok(self.sink.w)
    }
}

/// Writes a classic pcap capture: little-endian, nanosecond magic
/// (`a1b23c4d`), Ethernet, snap length 65535.
pub struct PcapWriter<W: Write> {
    sink: Sink<W>,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the 24-byte global header.
    pub fn new(w: W) -> Result<Self, PcapError> {
        let mut h = Vec::with_capacity(24);
        h.extend_from_slice(&0xA1B2_3C4Du32.to_le_bytes());
        h.extend_from_slice(&2u16.to_le_bytes());
        h.extend_from_slice(&4u16.to_le_bytes());
        h.extend_from_slice(&0i32.to_le_bytes()); // thiszone
        h.extend_from_slice(&0u32.to_le_bytes()); // sigfigs
        h.extend_from_slice(&PCAP_SNAPLEN.to_le_bytes());
        h.extend_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
        let mut sink = Sink { w, poisoned: false };
        sink.put("pcap global header", &h)?;
        Ok(PcapWriter { sink })
    }

    /// Writes one record. Packets longer than 65535 bytes are cut to the snap
    /// length (the original length is kept). Timestamps must fit the format
    /// (seconds below 2^32, i.e. before 2106).
    pub fn write_packet(&mut self, ts_nanos: u64, data: &[u8]) -> Result<(), PcapError> {
        let secs =
            u32::try_from(ts_nanos / 1_000_000_000).map_err(|_| PcapError::InvalidInput {
                detail: format!(
                    "timestamp {ts_nanos} ns is beyond what classic pcap can hold (year 2106)"
                ),
            })?;
        let frac = (ts_nanos % 1_000_000_000) as u32;
        let orig_len = u32::try_from(data.len()).map_err(|_| PcapError::InvalidInput {
            detail: format!(
                "packet of {} bytes is longer than pcap can describe",
                data.len()
            ),
        })?;
        let captured = &data[..data.len().min(PCAP_SNAPLEN as usize)];
        let mut r = Vec::with_capacity(16 + captured.len());
        r.extend_from_slice(&secs.to_le_bytes());
        r.extend_from_slice(&frac.to_le_bytes());
        r.extend_from_slice(&(captured.len() as u32).to_le_bytes());
        r.extend_from_slice(&orig_len.to_le_bytes());
        r.extend_from_slice(captured);
        self.sink.put("pcap record", &r)
    }

    /// Flushes the underlying writer.
    pub fn flush(&mut self) -> Result<(), PcapError> {
        self.sink.flush()
    }

    /// Flushes and returns the underlying writer.
    pub fn into_inner(mut self) -> Result<W, PcapError> {
        self.sink.flush()?;
        Ok(self.sink.w)
    }
}

#[cfg(test)]
impl PcapngWriter<Vec<u8>> {
    /// Bytes written so far, as a process killed right now would leave them.
    pub(crate) fn sink_snapshot(&self) -> Vec<u8> {
        self.sink.w.clone()
    }
}

#[cfg(test)]
impl PcapWriter<Vec<u8>> {
    /// Bytes written so far, as a process killed right now would leave them.
    pub(crate) fn sink_snapshot(&self) -> Vec<u8> {
        self.sink.w.clone()
    }
}
