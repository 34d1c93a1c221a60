//! The output capture of a replay.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use crate::pcapio::{PcapError, PcapWriter, PcapngWriter};

/// The output capture: classic pcap, or pcapng with one interface named "vpcsim-out".
pub enum Output<W: Write> {
    Pcap(PcapWriter<W>),
    PcapNg(PcapngWriter<W>),
}

impl Output<BufWriter<File>> {
    /// Creates `path`: pcapng if it ends in `.pcapng`, else pcap.
    pub fn create(path: &Path) -> Result<Self, PcapError> {
        let f = File::create(path).map_err(|source| PcapError::Io {
            context: format!("creating output {}", path.display()),
            source,
        })?;
        let ng = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("pcapng"));
        Output::new(BufWriter::new(f), ng)
    }
}

impl<W: Write> Output<W> {
    pub fn new(w: W, pcapng: bool) -> Result<Self, PcapError> {
        if pcapng {
            let mut p = PcapngWriter::new(w)?;
            p.add_interface("vpcsim-out", "what left the simulated network")?;
            Ok(Output::PcapNg(p))
        } else {
            Ok(Output::Pcap(PcapWriter::new(w)?))
        }
    }

    pub fn write(&mut self, ts_nanos: u64, frame: &[u8]) -> Result<(), PcapError> {
        match self {
            Output::Pcap(p) => p.write_packet(ts_nanos, frame),
            Output::PcapNg(p) => p.write_packet(0, ts_nanos, frame, None),
        }
    }

    pub fn flush(&mut self) -> Result<(), PcapError> {
        match self {
            Output::Pcap(p) => p.flush(),
            Output::PcapNg(p) => p.flush(),
        }
    }

    pub fn into_inner(self) -> Result<W, PcapError> {
        match self {
            Output::Pcap(p) => p.into_inner(),
            Output::PcapNg(p) => p.into_inner(),
        }
    }
}
