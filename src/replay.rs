//! Replaying a capture through a topology: every frame of a pcap/pcapng is injected at
//! one endpoint, in capture order, with the virtual clock following the capture's
//! timestamps; what leaves the simulated network (delivered to an ENI, sent to the
//! Internet, and the ICMP errors the network generates) is written to an output capture.
//!
//! Captures without an Ethernet header (Linux cooked `tcpdump -i any`, raw IP) get the
//! one the injection endpoint would have written ([`ethernet_for`]), so they replay
//! exactly like their Ethernet twin.
//!
//! No printing here: the CLI (`vpcsim replay`) renders the [`ReplaySummary`].

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::Ipv4Addr;
use std::path::Path;

use serde::Serialize;

use crate::capture::Capture;
use crate::compile::{EniIdx, Tables};
use crate::pcapio::{self, Payload, PcapError, PcapWriter, PcapngWriter, Record, RecordIssue};
use crate::pipeline::{drop, guest, Dataplane, Disposition, Ingress, INTERNET_MAC, VROUTER_MAC};
use crate::time::SimTime;
use crate::wire::{self, L4};

/// Drop reason counted for a record that carries no bytes.
pub const ZERO_LENGTH: &str = "capture_zero_length";
/// Drop reason counted for a record cut short by the capture's snap length.
pub const SNAP_CUT: &str = "capture_snap_cut";

/// Every drop-reason name a replay counts besides the data plane's: the capture issues
/// (a record that never reached the data plane).
pub const CAPTURE_REASONS: [&str; 5] = [
    ZERO_LENGTH,
    SNAP_CUT,
    pcapio::LinkIssue::NAMES[0],
    pcapio::LinkIssue::NAMES[1],
    pcapio::LinkIssue::NAMES[2],
];

/// How many located capture issues a summary lists (all are counted).
const MAX_EXAMPLES: usize = 20;

/// The MACs a frame sent by `at` carries (source, destination), as probes build them:
/// an instance's guest sends from the device its routing picks for the packet's
/// addresses (eth0 when they cannot be read), an ENI from its own MAC, the Internet
/// edge from its MAC; every frame goes to the VSwitch gateway `ee:ff:ff:ff:ff:ff`.
pub fn macs_for(t: &Tables, at: Ingress, ethertype: u16, packet: &[u8]) -> ([u8; 6], [u8; 6]) {
    let src = match at {
        Ingress::Internet => INTERNET_MAC,
        Ingress::Eni(e) => t.eni(e).mac,
        Ingress::Guest(i) => {
            let addrs = (ethertype == wire::frame::ETHERTYPE_IPV4)
                .then(|| Some((ipv4_at(packet, 12)?, ipv4_at(packet, 16)?)))
                .flatten();
            t.instances
                .get(usize::from(i))
                .map_or(INTERNET_MAC, |inst| {
                    addrs
                        .and_then(|(s, d)| guest::route(t, inst, s, d))
                        .map(|r| r.eni)
                        .or_else(|| inst.devices.first().copied())
                        .map_or(INTERNET_MAC, |e| t.eni(e).mac)
                })
        }
    };
    (src, VROUTER_MAC)
}

fn ipv4_at(b: &[u8], at: usize) -> Option<Ipv4Addr> {
    let o: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
    Some(Ipv4Addr::from(o))
}

/// The Ethernet frame a record stands for when injected at `at`: the record itself on
/// an Ethernet link, else its packet behind the header `at` would have written.
pub fn ethernet_for(t: &Tables, at: Ingress, payload: Payload<'_>) -> Vec<u8> {
    match payload {
        Payload::Ethernet(f) => f.to_vec(),
        Payload::Network { ethertype, packet } => {
            let (src, dst) = macs_for(t, at, ethertype, packet);
            payload.to_ethernet(src, dst)
        }
    }
}

/// [decision] A capture's source MAC against an ENI whose MAC vpcsim generated: the
/// guest OS sends with its ENI's MAC, and a generated MAC says nothing about the real
/// one, so an Ethernet frame injected at an instance or ENI whose (chosen) ENI has a
/// generated MAC is stamped with that MAC instead of dropping as `eni_source_mac`. An
/// ENI whose MAC the scenario set keeps the check. Returns the ENI and the MAC the
/// capture carried when it stamped one.
pub fn stamp_generated_mac(t: &Tables, at: Ingress, frame: &mut [u8]) -> Option<(EniIdx, [u8; 6])> {
    let src: [u8; 6] = frame.get(6..12)?.try_into().ok()?;
    let candidates: Vec<EniIdx> = match at {
        Ingress::Internet => return None,
        Ingress::Eni(e) => vec![e],
        Ingress::Guest(i) => t.instances.get(usize::from(i))?.devices.clone(),
    };
    if candidates
        .iter()
        .any(|&e| t.enis.get(usize::from(e)).is_some_and(|x| x.mac == src))
    {
        return None;
    }
    // The device the guest would send on: its routing's choice for the packet.
    let ethertype = u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]);
    let (want, _) = macs_for(t, at, ethertype, frame.get(14..).unwrap_or_default());
    let e = candidates
        .into_iter()
        .find(|&e| t.enis.get(usize::from(e)).is_some_and(|x| x.mac == want))?;
    if t.eni(e).mac_explicit {
        return None;
    }
    frame[6..12].copy_from_slice(&want);
    Some((e, src))
}

/// Conntrack sweeps happen at most this often (virtual time): a sweep is O(capacity).
const EXPIRE_EVERY: SimTime = SimTime(1_000_000_000);

/// Where replayed frames are injected: an instance id (its guest OS sends the frame and
/// its routing picks the device), an ENI id (sent on that ENI as is), or `internet` /
/// `internet:IP` (the Internet edge; the frame keeps its own source address).
pub fn parse_at(s: &str, t: &Tables) -> Result<Ingress, String> {
    if s == "internet" {
        return Ok(Ingress::Internet);
    }
    match crate::probe::Endpoint::parse(s, t)? {
        crate::probe::Endpoint::Internet(_) => Ok(Ingress::Internet),
        crate::probe::Endpoint::Instance(id) => Ok(Ingress::Guest(t.instance_index[&id])),
        crate::probe::Endpoint::Eni(id) => Ok(Ingress::Eni(t.eni_index[&id])),
    }
}

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

/// Per-record capture problems (each also counted as a dropped packet).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct CaptureIssues {
    pub zero_length: u64,
    pub snap_cut: u64,
    /// Records whose link layer cannot be replayed (another link type, a cut cooked
    /// header, a cooked protocol that is not an EtherType).
    pub link: u64,
    /// The first few, located (records numbered from 1, as Wireshark does):
    /// "record 3 (interface 0): snap length kept 60 of 1514 bytes".
    pub examples: Vec<String>,
}

/// Why a replay stopped early.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ReplayError {
    /// "capture" (the input is bad: exit 2) or "output" (writing failed).
    pub kind: &'static str,
    pub message: String,
}

/// What a replay did.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct ReplaySummary {
    pub packets_read: u64,
    /// Frames handed to the data plane (read minus capture issues).
    pub injected: u64,
    pub delivered: u64,
    pub internet: u64,
    pub dropped: u64,
    /// Non-first IPv4 fragments held until their first fragment; each is counted again
    /// (delivered / internet) when it is released, or in the data plane's `fragment`
    /// drop counter if it never is.
    pub held: u64,
    /// Precise drop reason → count: the data plane's reasons, `malformed_frame` split by
    /// malformation (`malformed_frame.ipv4_bad_checksum`), and the capture issues
    /// (`capture_zero_length`, `capture_snap_cut`, `capture_link_*`).
    pub drop_reasons: BTreeMap<String, u64>,
    /// The same drops by category (the name before the `.`: all malformations under
    /// `malformed_frame`).
    pub drop_categories: BTreeMap<String, u64>,
    /// ICMP errors the network generated (written if they go somewhere).
    pub icmp_generated: u64,
    /// Packets written to the output capture.
    pub written: u64,
    /// Distinct source addresses of the packets that left to the Internet.
    pub egress_sources: BTreeSet<Ipv4Addr>,
    /// Distinct source addresses of the packets delivered to ENIs.
    pub delivered_sources: BTreeSet<Ipv4Addr>,
    pub capture_issues: CaptureIssues,
    /// Frames whose source MAC was replaced by their ENI's generated MAC
    /// ([`stamp_generated_mac`]); one note per ENI says so and how to check instead.
    pub source_mac_rewritten: u64,
    pub source_mac_notes: Vec<String>,
    /// Virtual time from the first to the last packet, in seconds.
    pub duration_secs: f64,
    /// Set when the replay stopped early; everything before it was processed and written.
    pub error: Option<ReplayError>,
}

impl ReplaySummary {
    fn drop(&mut self, reason: &str) {
        self.dropped += 1;
        *self.drop_reasons.entry(reason.to_string()).or_default() += 1;
        *self
            .drop_categories
            .entry(drop::category(reason).to_string())
            .or_default() += 1;
    }

    fn source_mac_stamped(&mut self, t: &Tables, e: EniIdx, was: [u8; 6]) {
        self.source_mac_rewritten += 1;
        let eni = t.eni(e);
        if self
            .source_mac_notes
            .iter()
            .any(|n| n.starts_with(&format!("{} ", eni.id)))
        {
            return;
        }
        self.source_mac_notes.push(format!(
            "{} has no MAC in the scenario: the capture's source MAC {} was replaced by its generated {} [decision]; set mac = \"{}\" on the ENI (or its instance) to check source MACs",
            eni.id,
            crate::model::mac_string(was),
            crate::model::mac_string(eni.mac),
            crate::model::mac_string(was),
        ));
    }

    fn issue(&mut self, rec: &Record, issue: RecordIssue) {
        let what = match issue {
            RecordIssue::ZeroLength => {
                self.capture_issues.zero_length += 1;
                "zero-length record".to_string()
            }
            RecordIssue::Link(l) => {
                self.capture_issues.link += 1;
                l.to_string()
            }
            RecordIssue::SnapCut { captured, original } => {
                self.capture_issues.snap_cut += 1;
                format!("snap length kept {captured} of {original} bytes")
            }
        };
        if self.capture_issues.examples.len() < MAX_EXAMPLES {
            self.capture_issues.examples.push(format!(
                "record {} (interface {}): {what}",
                rec.number, rec.interface
            ));
        }
        self.drop(issue.name());
    }
}

/// Several captures, each injected at its own endpoint, merged into one stream by
/// timestamp (ties: the earlier input first), as if captured at several vantage points
/// at once. The first capture error ends the stream.
pub struct Merge<I: Iterator<Item = Result<Record, PcapError>>> {
    inputs: Vec<(Ingress, std::iter::Peekable<I>)>,
}

impl<I: Iterator<Item = Result<Record, PcapError>>> Merge<I> {
    pub fn new(inputs: Vec<(Ingress, I)>) -> Self {
        Merge {
            inputs: inputs.into_iter().map(|(a, i)| (a, i.peekable())).collect(),
        }
    }
}

impl<I: Iterator<Item = Result<Record, PcapError>>> Iterator for Merge<I> {
    type Item = Result<(Ingress, Record), PcapError>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut best: Option<(usize, u64)> = None;
        for (k, (_, it)) in self.inputs.iter_mut().enumerate() {
            match it.peek() {
                None => {}
                Some(Err(_)) => {
                    best = Some((k, 0));
                    break;
                }
                Some(Ok(r)) if best.is_none_or(|(_, ts)| r.ts_nanos < ts) => {
                    best = Some((k, r.ts_nanos));
                }
                Some(Ok(_)) => {}
            }
        }
        let (k, _) = best?;
        let (at, it) = &mut self.inputs[k];
        let at = *at;
        let item = it.next()?;
        if item.is_err() {
            self.inputs.clear();
        }
        Some(item.map(|r| (at, r)))
    }
}

/// Replays `records` (each with its injection point) into `dp`, writing what leaves to `out`
/// and (optionally) every hop to `capture`. `progress` is called after each record with
/// the number read so far. Errors (bad capture, failed write) end the replay and are
/// reported in [`ReplaySummary::error`]; outputs are flushed either way.
pub fn replay<I, W, C>(
    dp: &mut Dataplane,
    records: I,
    out: &mut Output<W>,
    mut capture: Option<&mut Capture<C>>,
    mut progress: impl FnMut(u64),
) -> ReplaySummary
where
    I: IntoIterator<Item = Result<(Ingress, Record), PcapError>>,
    W: Write,
    C: Write,
{
    let mut s = ReplaySummary::default();
    let mut first_ts: Option<u64> = None;
    let mut now = SimTime::ZERO;
    let mut last_expire = SimTime::ZERO;
    for rec in records {
        let (at, rec) = match rec {
            Ok(r) => r,
            Err(e) => {
                s.error = Some(ReplayError {
                    kind: "capture",
                    message: e.to_string(),
                });
                break;
            }
        };
        s.packets_read += 1;
        let first = *first_ts.get_or_insert(rec.ts_nanos);
        // The clock follows the capture and never runs backwards.
        now = now.max(SimTime(rec.ts_nanos.saturating_sub(first)));
        if now.0 >= last_expire.0 + EXPIRE_EVERY.0 {
            dp.expire(now);
            last_expire = now;
        }
        let t = std::sync::Arc::clone(dp.tables());
        let entered = match (rec.issue(), rec.payload()) {
            (None, Ok(p)) => ethernet_for(&t, at, p),
            (issue, _) => {
                // `issue()` names every record `payload()` refuses.
                s.issue(&rec, issue.unwrap_or(RecordIssue::ZeroLength));
                progress(s.packets_read);
                continue;
            }
        };
        let mut entered = entered;
        if let Some((e, was)) = stamp_generated_mac(&t, at, &mut entered) {
            s.source_mac_stamped(&t, e, was);
        }
        s.injected += 1;
        let mut buf = entered.clone();
        let o = dp.process(&mut buf, at, now, None);
        if let Some(c) = capture.as_deref_mut() {
            if let Err(e) = c.record(&t, at, &entered, &o, &buf, rec.ts_nanos) {
                s.error = Some(ReplayError {
                    kind: "output",
                    message: format!("capture: {e}"),
                });
                break;
            }
        }
        // The packet itself, or the fragments it left as when it exceeded an MTU.
        let mut emit: Vec<(Disposition, &[u8])> = if o.fragments.is_empty() {
            vec![(o.disposition, &buf[..])]
        } else {
            o.fragments
                .iter()
                .map(|f| (o.disposition, &f[..]))
                .collect()
        };
        let own = emit.len();
        s.icmp_generated += o.generated.len() as u64;
        emit.extend(o.generated.iter().map(|(f, d)| (*d, &f[..])));
        // Fragments held until this (first) fragment: count and write them now.
        let released = own + o.generated.len();
        emit.extend(o.released.iter().map(|(f, d)| (*d, &f[..])));
        for (i, (d, frame)) in emit.into_iter().enumerate() {
            let src = wire::parse(frame).ok().map(|f| f.src);
            match d {
                Disposition::Dropped(r) => {
                    if i == 0 {
                        s.drop(&r.precise_name(&entered));
                    }
                    continue;
                }
                Disposition::Held => {
                    s.held += 1;
                    continue;
                }
                Disposition::Delivered { .. } => {
                    if i == 0 || i >= released {
                        s.delivered += 1;
                    }
                    s.delivered_sources.extend(src);
                }
                Disposition::Internet => {
                    if i == 0 || i >= released {
                        s.internet += 1;
                    }
                    s.egress_sources.extend(src);
                }
            }
            if let Err(e) = out.write(rec.ts_nanos, frame) {
                s.error = Some(ReplayError {
                    kind: "output",
                    message: e.to_string(),
                });
                break;
            }
            s.written += 1;
        }
        if s.error.is_some() {
            break;
        }
        progress(s.packets_read);
    }
    s.duration_secs = now.as_secs_f64();
    if let Err(e) = out.flush() {
        s.error.get_or_insert(ReplayError {
            kind: "output",
            message: e.to_string(),
        });
    }
    if let Some(c) = capture {
        if let Err(e) = c.flush() {
            s.error.get_or_insert(ReplayError {
                kind: "output",
                message: format!("capture: {e}"),
            });
        }
    }
    s
}

fn mac(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The fields of a frame, in the order a reader looks at them, for naming the first
/// difference between two packets.
pub fn fields(frame: &[u8]) -> Vec<(&'static str, String)> {
    let mut v = vec![("frame.len", frame.len().to_string())];
    if frame.len() >= 12 {
        v.push(("eth.dst", mac(&frame[0..6])));
        v.push(("eth.src", mac(&frame[6..12])));
    }
    let u16_at = |o: usize| {
        frame
            .get(o..o + 2)
            .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]))
    };
    // The IPv4 header straight from the bytes, so a frame the parser refuses (a bad
    // checksum, say) still names its fields.
    if u16_at(12) != 0x0800 || frame.len() < 34 {
        return v;
    }
    let addr = |o: usize| Ipv4Addr::new(frame[o], frame[o + 1], frame[o + 2], frame[o + 3]);
    v.push(("ip.src", addr(26).to_string()));
    v.push(("ip.dst", addr(30).to_string()));
    v.push(("ip.proto", frame[23].to_string()));
    v.push(("ip.ttl", frame[22].to_string()));
    v.push(("ip.id", format!("{:#06x}", u16_at(18))));
    v.push(("ip.len", u16_at(16).to_string()));
    v.push(("ip.checksum", format!("{:#06x}", u16_at(24))));
    let Ok(i) = wire::parse(frame) else {
        return v;
    };
    let l4 = i.l4_offset;
    match i.l4 {
        L4::Tcp {
            sport,
            dport,
            flags,
            seq,
            ack,
        } => {
            v.push(("tcp.srcport", sport.to_string()));
            v.push(("tcp.dstport", dport.to_string()));
            v.push(("tcp.flags", format!("{:#04x}", flags.0)));
            v.push(("tcp.seq", seq.to_string()));
            v.push(("tcp.ack", ack.to_string()));
            v.push(("tcp.checksum", format!("{:#06x}", u16_at(l4 + 16))));
        }
        L4::Udp { sport, dport } => {
            v.push(("udp.srcport", sport.to_string()));
            v.push(("udp.dstport", dport.to_string()));
            v.push(("udp.checksum", format!("{:#06x}", u16_at(l4 + 6))));
        }
        L4::IcmpEcho {
            request,
            ident,
            seq,
        } => {
            v.push(("icmp.type", if request { "8" } else { "0" }.to_string()));
            v.push(("icmp.ident", ident.to_string()));
            v.push(("icmp.seq", seq.to_string()));
            v.push(("icmp.checksum", format!("{:#06x}", u16_at(l4 + 2))));
        }
        L4::IcmpError {
            icmp_type, code, ..
        }
        | L4::IcmpOther { icmp_type, code } => {
            v.push(("icmp.type", icmp_type.to_string()));
            v.push(("icmp.code", code.to_string()));
            v.push(("icmp.checksum", format!("{:#06x}", u16_at(l4 + 2))));
        }
        L4::Fragment | L4::Other => {}
    }
    v
}

/// A packet as JSON shows it: its fields as values, and the one-line display beside.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PacketView {
    pub len: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub src: Option<Ipv4Addr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dst: Option<Ipv4Addr>,
    /// `tcp`, `udp`, `icmp`, or the IP protocol number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sport: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dport: Option<u16>,
    /// TCP flags as tcpdump letters (`SA`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flags: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icmp_type: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icmp_code: Option<u8>,
    /// Why the frame does not parse (`malformed_frame.ipv4_bad_checksum`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub malformed: Option<String>,
    pub display: String,
}

impl PacketView {
    pub fn of(frame: &[u8]) -> PacketView {
        let mut v = PacketView {
            len: frame.len(),
            src: None,
            dst: None,
            protocol: None,
            sport: None,
            dport: None,
            flags: None,
            ttl: None,
            icmp_type: None,
            icmp_code: None,
            malformed: None,
            display: String::new(),
        };
        let i = match wire::parse(frame) {
            Ok(i) => i,
            Err(e) => {
                v.malformed = Some(drop::malformed_name(&e));
                v.display = format!("{} bytes: {e}", frame.len());
                return v;
            }
        };
        v.src = Some(i.src);
        v.dst = Some(i.dst);
        v.ttl = Some(i.ttl);
        v.protocol = Some(match i.proto {
            wire::proto::TCP => "tcp".into(),
            wire::proto::UDP => "udp".into(),
            wire::proto::ICMP => "icmp".into(),
            p => p.to_string(),
        });
        match i.l4 {
            L4::Tcp {
                sport,
                dport,
                flags,
                ..
            } => {
                (v.sport, v.dport) = (Some(sport), Some(dport));
                v.flags = Some(flags.to_string());
            }
            L4::Udp { sport, dport } => (v.sport, v.dport) = (Some(sport), Some(dport)),
            L4::IcmpEcho { request, .. } => {
                v.icmp_type = Some(if request { 8 } else { 0 });
                v.icmp_code = Some(0);
            }
            L4::IcmpError {
                icmp_type, code, ..
            }
            | L4::IcmpOther { icmp_type, code } => {
                (v.icmp_type, v.icmp_code) = (Some(icmp_type), Some(code));
            }
            L4::Fragment | L4::Other => {}
        }
        v.display = crate::pipeline::summary(&i);
        v
    }
}

/// The first difference between an output and its expected capture.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Difference {
    /// The packet, numbered from 1 as Wireshark does.
    pub packet: usize,
    /// "packet 3: ip.src 47.96.100.1 != 47.96.10.20" (left = actual, right = expected).
    pub message: String,
    /// The packets at that place (absent past the end of a list).
    pub actual: Option<PacketView>,
    pub expected: Option<PacketView>,
}

/// Compares two packet lists; `None` when identical, else the first difference's
/// message (see [`difference`]).
pub fn compare(actual: &[Vec<u8>], expected: &[Vec<u8>]) -> Option<String> {
    difference(actual, expected).map(|d| d.message)
}

/// Compares two packet lists; `None` when identical, else the first difference, e.g.
/// "packet 3: ip.src 47.96.100.1 != 47.96.10.20" (packets numbered from 1, as
/// Wireshark does; left = actual, right = expected).
pub fn difference(actual: &[Vec<u8>], expected: &[Vec<u8>]) -> Option<Difference> {
    let at = |n: usize, message: String| Difference {
        packet: n + 1,
        message,
        actual: actual.get(n).map(|f| PacketView::of(f)),
        expected: expected.get(n).map(|f| PacketView::of(f)),
    };
    for (n, (a, e)) in actual.iter().zip(expected).enumerate() {
        if a == e {
            continue;
        }
        let (fa, fe) = (fields(a), fields(e));
        for ((name, va), (name_e, ve)) in fa.iter().zip(&fe) {
            if name != name_e {
                return Some(at(
                    n,
                    format!(
                        "packet {}: {name} != {name_e} (different kinds of packet)",
                        n + 1
                    ),
                ));
            }
            if va != ve {
                return Some(at(n, format!("packet {}: {name} {va} != {ve}", n + 1)));
            }
        }
        let k = a.iter().zip(e).position(|(x, y)| x != y).unwrap_or(0);
        return Some(at(
            n,
            format!(
                "packet {}: byte {k} {:#04x} != {:#04x}",
                n + 1,
                a.get(k).copied().unwrap_or(0),
                e.get(k).copied().unwrap_or(0)
            ),
        ));
    }
    if actual.len() != expected.len() {
        let n = actual.len().min(expected.len());
        return Some(at(
            n,
            format!(
                "{} packets != {} expected (packet {} is the first {})",
                actual.len(),
                expected.len(),
                n + 1,
                if actual.len() > expected.len() {
                    "extra"
                } else {
                    "missing"
                }
            ),
        ));
    }
    None
}

/// Reads every packet of a capture (for comparisons).
pub fn read_packets(path: &Path) -> Result<Vec<Vec<u8>>, PcapError> {
    crate::pcapio::CaptureReader::open(path)?
        .map(|r| r.map(|r| r.data))
        .collect()
}
