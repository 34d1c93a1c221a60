//! Capture writing: pcapng (one section, many Ethernet interfaces, nanosecond
//! timestamps, optional per-packet comments) and classic nanosecond pcap.
//!
//! Blocks and records are encoded by `pcap-file`'s writers into an in-memory buffer,
//! and each one is handed to the real writer in a single `write_all`, so that
//! whatever has been written so far is always a valid capture. After any write
//! error the writer refuses further writes (a half-written block could not be
//! followed by a valid one).

use std::borrow::Cow;
use std::io::Write;
use std::time::Duration;

use byteorder::LittleEndian;
use pcap_file::pcap::{PcapHeader, PcapPacket};
use pcap_file::pcapng::blocks::enhanced_packet::{EnhancedPacketBlock, EnhancedPacketOption};
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::blocks::section_header::{SectionHeaderBlock, SectionHeaderOption};
use pcap_file::pcapng::PcapNgWriter as PcapNgEncoder;
use pcap_file::{DataLink, Endianness, TsResolution};

use super::read::{PcapError, MAX_RECORD_LEN};

/// Snap length written into pcapng IDBs; longer packets are cut to it.
const PCAPNG_SNAPLEN: u32 = MAX_RECORD_LEN;
/// Snap length of classic pcap output; longer packets are cut to it.
const PCAP_SNAPLEN: u32 = 65535;

/// A pcapng option value must fit its 16-bit length field (`pcap-file` would cut it).
fn option_text<'a>(code: &str, value: &'a str) -> Result<Cow<'a, str>, PcapError> {
    if value.len() > usize::from(u16::MAX) {
        return Err(PcapError::InvalidInput {
            detail: format!(
                "{code} value is {} bytes; pcapng options hold at most 65535",
                value.len()
            ),
        });
    }
    Ok(Cow::Borrowed(value))
}

fn encoding(what: &str, e: pcap_file::PcapError) -> PcapError {
    PcapError::InvalidInput {
        detail: format!("cannot encode {what}: {e}"),
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

/// Writes a pcapng capture: one little-endian section (`shb_userappl` = "vpcsim"),
/// Ethernet interfaces with nanosecond timestamps, enhanced packet blocks.
pub struct PcapngWriter<W: Write> {
    sink: Sink<W>,
    /// `pcap-file`'s writer over a buffer that holds one block at a time.
    enc: PcapNgEncoder<Vec<u8>>,
    interfaces: u32,
}

impl<W: Write> PcapngWriter<W> {
    /// Writes the section header block.
    pub fn new(w: W) -> Result<Self, PcapError> {
        let shb = SectionHeaderBlock {
            endianness: Endianness::Little,
            major_version: 1,
            minor_version: 0,
            section_length: -1, // not specified
            options: vec![SectionHeaderOption::UserApplication(Cow::Borrowed(
                "vpcsim",
            ))],
        };
        let mut enc = PcapNgEncoder::with_section_header(Vec::new(), shb)
            .map_err(|e| encoding("section header block", e))?;
        let mut sink = Sink { w, poisoned: false };
        sink.put("section header block", &std::mem::take(enc.get_mut()))?;
        Ok(PcapngWriter {
            sink,
            enc,
            interfaces: 0,
        })
    }

    /// Declares an Ethernet interface (`if_name`, `if_description`,
    /// `if_tsresol` = 9) and returns its id for [`write_packet`](Self::write_packet).
    pub fn add_interface(&mut self, name: &str, description: &str) -> Result<u32, PcapError> {
        let mut options = vec![];
        if !name.is_empty() {
            options.push(InterfaceDescriptionOption::IfName(option_text(
                "if_name", name,
            )?));
        }
        if !description.is_empty() {
            options.push(InterfaceDescriptionOption::IfDescription(option_text(
                "if_description",
                description,
            )?));
        }
        options.push(InterfaceDescriptionOption::IfTsResol(9));
        let idb = InterfaceDescriptionBlock {
            linktype: DataLink::ETHERNET,
            snaplen: PCAPNG_SNAPLEN,
            options,
        };
        self.put("interface description block", idb.into_owned_block())?;
        let id = self.interfaces;
        self.interfaces += 1;
        Ok(id)
    }

    fn put(&mut self, what: &str, block: pcap_file::pcapng::Block<'_>) -> Result<(), PcapError> {
        self.enc.get_mut().clear();
        self.enc
            .write_block(&block)
            .map_err(|e| encoding(what, e))?;
        let bytes = std::mem::take(self.enc.get_mut());
        self.sink.put(what, &bytes)
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
        let original_len = u32::try_from(data.len()).map_err(|_| PcapError::InvalidInput {
            detail: format!(
                "packet of {} bytes is longer than pcapng can describe",
                data.len()
            ),
        })?;
        let mut options = vec![];
        if let Some(c) = comment {
            options.push(EnhancedPacketOption::Comment(option_text("comment", c)?));
        }
        let epb = EnhancedPacketBlock {
            interface_id: interface,
            // if_tsresol = 9: the raw timestamp units are nanoseconds.
            timestamp: Duration::from_nanos(ts_nanos),
            original_len,
            data: Cow::Borrowed(&data[..data.len().min(PCAPNG_SNAPLEN as usize)]),
            options,
        };
        self.put(
            "enhanced packet block",
            pcap_file::pcapng::Block::EnhancedPacket(epb),
        )
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

/// Lets an interface block built from borrowed options be handed over as a `Block`.
trait IntoOwnedBlock {
    fn into_owned_block(self) -> pcap_file::pcapng::Block<'static>;
}

impl IntoOwnedBlock for InterfaceDescriptionBlock<'_> {
    fn into_owned_block(self) -> pcap_file::pcapng::Block<'static> {
        pcap_file::pcapng::Block::InterfaceDescription(self.into_owned())
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
        let header = PcapHeader {
            version_major: 2,
            version_minor: 4,
            ts_correction: 0,
            ts_accuracy: 0,
            snaplen: PCAP_SNAPLEN,
            datalink: DataLink::ETHERNET,
            ts_resolution: TsResolution::NanoSecond,
            endianness: Endianness::Little,
        };
        let mut bytes = Vec::with_capacity(24);
        header
            .write_to(&mut bytes)
            .map_err(|e| encoding("pcap global header", e))?;
        let mut sink = Sink { w, poisoned: false };
        sink.put("pcap global header", &bytes)?;
        Ok(PcapWriter { sink })
    }

    /// Writes one record. Packets longer than 65535 bytes are cut to the snap
    /// length (the original length is kept). Timestamps must fit the format
    /// (seconds below 2^32, i.e. before 2106).
    pub fn write_packet(&mut self, ts_nanos: u64, data: &[u8]) -> Result<(), PcapError> {
        if ts_nanos / 1_000_000_000 > u64::from(u32::MAX) {
            return Err(PcapError::InvalidInput {
                detail: format!(
                    "timestamp {ts_nanos} ns is beyond what classic pcap can hold (year 2106)"
                ),
            });
        }
        let orig_len = u32::try_from(data.len()).map_err(|_| PcapError::InvalidInput {
            detail: format!(
                "packet of {} bytes is longer than pcap can describe",
                data.len()
            ),
        })?;
        let captured = &data[..data.len().min(PCAP_SNAPLEN as usize)];
        let packet = PcapPacket::new(Duration::from_nanos(ts_nanos), orig_len, captured);
        let mut bytes = Vec::with_capacity(16 + captured.len());
        packet
            .write_to::<_, LittleEndian>(&mut bytes, TsResolution::NanoSecond, PCAP_SNAPLEN)
            .map_err(|e| encoding("pcap record", e))?;
        self.sink.put("pcap record", &bytes)
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
