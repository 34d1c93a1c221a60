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

mod endpoint;
mod output;
mod view;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::net::Ipv4Addr;

use serde::Serialize;

use crate::capture::Capture;
use crate::compile::{EniIdx, Tables};
use crate::pcapio::{self, PcapError, Record, RecordIssue};
use crate::pipeline::{drop, Batch, Dataplane, Disposition, Ingress, Outcome, BATCH_MAX};
use crate::time::SimTime;
use crate::wire;

pub use endpoint::{ethernet_for, macs_for, parse_at, stamp_generated_mac};
pub use output::Output;
pub use view::{compare, difference, fields, read_packets, Difference, PacketView};

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

/// Conntrack sweeps happen at most this often (virtual time): a sweep is O(capacity).
const EXPIRE_EVERY: SimTime = SimTime(1_000_000_000);

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
        // Once per ENI (without formatting anything for the frames after the first).
        let noted = |n: &String| {
            n.strip_prefix(eni.id.as_str())
                .is_some_and(|rest| rest.starts_with(' '))
        };
        if self.source_mac_notes.iter().any(noted) {
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

/// A frame in the batch: what the summary and the outputs need once it is processed.
struct Waiting {
    at: Ingress,
    ts_nanos: u64,
    now: SimTime,
    /// The frame as it entered (the batch rewrites its copy in place): for the capture
    /// and for naming a malformation.
    entered: Vec<u8>,
    /// Its ENI's generated MAC replaced the capture's source MAC (the ENI, the old MAC).
    stamped: Option<(EniIdx, [u8; 6])>,
    /// `packets_read` and `injected` once this frame was read: where the summary stands
    /// if the replay stops at it.
    read: u64,
    injected: u64,
}

/// Replays `records` (each with its injection point) into `dp`, writing what leaves to `out`
/// and (optionally) every hop to `capture`. `progress` is called with the number of
/// records read so far, after every batch. Errors (bad capture, failed write) end the
/// replay and are reported in [`ReplaySummary::error`]; outputs are flushed either way.
///
/// Frames go through [`Dataplane::process_batch`] up to [`BATCH_MAX`] at a time, each
/// with its own capture time; a batch is processed before any conntrack sweep and before
/// any record that never reaches the data plane is counted, so the summary, the output
/// and the capture are exactly those of one frame at a time (`tests/replay_batch.rs`).
pub fn replay<I, W, C>(
    dp: &mut Dataplane,
    records: I,
    out: &mut Output<W>,
    capture: Option<&mut Capture<C>>,
    progress: impl FnMut(u64),
) -> ReplaySummary
where
    I: IntoIterator<Item = Result<(Ingress, Record), PcapError>>,
    W: Write,
    C: Write,
{
    replay_batched(dp, records, out, capture, progress, BATCH_MAX)
}

/// [`replay`] with batches of at most `batch_max` frames (1 to [`BATCH_MAX`]; 1 is one
/// frame at a time). Every size gives the same summary, output and capture.
pub fn replay_batched<I, W, C>(
    dp: &mut Dataplane,
    records: I,
    out: &mut Output<W>,
    mut capture: Option<&mut Capture<C>>,
    mut progress: impl FnMut(u64),
    batch_max: usize,
) -> ReplaySummary
where
    I: IntoIterator<Item = Result<(Ingress, Record), PcapError>>,
    W: Write,
    C: Write,
{
    let batch_max = batch_max.clamp(1, BATCH_MAX);
    let mut s = ReplaySummary::default();
    let mut first_ts: Option<u64> = None;
    let mut now = SimTime::ZERO;
    let mut last_expire = SimTime::ZERO;
    let mut batch = Batch::new();
    let mut waiting: Vec<Waiting> = Vec::with_capacity(BATCH_MAX);
    let t = std::sync::Arc::clone(dp.tables());
    // Processes the batch; on a failed write, stops the replay where that frame was.
    macro_rules! settle {
        () => {
            if let Err(at) = settle_batch(
                dp,
                &mut batch,
                &mut waiting,
                &mut s,
                out,
                capture.as_deref_mut(),
            ) {
                now = at;
                break;
            }
        };
    }
    for rec in records {
        let (at, rec) = match rec {
            Ok(r) => r,
            Err(e) => {
                settle!();
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
            settle!();
            dp.expire(now);
            last_expire = now;
        }
        let mut entered = match (rec.issue(), rec.payload()) {
            (None, Ok(p)) => ethernet_for(&t, at, p),
            (issue, _) => {
                settle!();
                // `issue()` names every record `payload()` refuses.
                s.issue(&rec, issue.unwrap_or(RecordIssue::ZeroLength));
                continue;
            }
        };
        let stamped = stamp_generated_mac(&t, at, &mut entered);
        s.injected += 1;
        batch.push(&entered, at, now);
        waiting.push(Waiting {
            at,
            ts_nanos: rec.ts_nanos,
            now,
            entered,
            stamped,
            read: s.packets_read,
            injected: s.injected,
        });
        if batch.len() >= batch_max {
            settle!();
            progress(s.packets_read);
        }
    }
    if s.error.is_none() {
        if let Err(at) = settle_batch(
            dp,
            &mut batch,
            &mut waiting,
            &mut s,
            out,
            capture.as_deref_mut(),
        ) {
            now = at;
        }
    }
    progress(s.packets_read);
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

/// Processes the waiting frames as one batch and accounts for each in order: summary,
/// capture, output. A failed write stops there: the summary is put back to where it
/// stood when that frame was read, and its time is returned.
fn settle_batch<W: Write, C: Write>(
    dp: &mut Dataplane,
    batch: &mut Batch,
    waiting: &mut Vec<Waiting>,
    s: &mut ReplaySummary,
    out: &mut Output<W>,
    mut capture: Option<&mut Capture<C>>,
) -> Result<(), SimTime> {
    if batch.is_empty() {
        return Ok(());
    }
    dp.process_batch(batch);
    let t = std::sync::Arc::clone(dp.tables());
    let mut failed = None;
    for (i, w) in waiting.iter().enumerate() {
        if let Some((e, was)) = w.stamped {
            s.source_mac_stamped(&t, e, was);
        }
        let o = batch.outcome(i);
        let buf = batch.frame(i);
        if let Some(c) = capture.as_deref_mut() {
            if let Err(e) = c.record(&t, w.at, &w.entered, &o, buf, w.ts_nanos) {
                s.error = Some(ReplayError {
                    kind: "output",
                    message: format!("capture: {e}"),
                });
                failed = Some(w);
                break;
            }
        }
        if let Err(e) = emit(s, out, w, &o, buf) {
            s.error = Some(ReplayError {
                kind: "output",
                message: e.to_string(),
            });
            failed = Some(w);
            break;
        }
    }
    let result = match failed {
        Some(w) => {
            s.packets_read = w.read;
            s.injected = w.injected;
            Err(w.now)
        }
        None => Ok(()),
    };
    waiting.clear();
    batch.clear();
    result
}

/// Counts one processed frame and writes what left: the frame itself (or the fragments
/// it left as when it exceeded an MTU), the ICMP errors it caused, the fragments it
/// released.
fn emit<W: Write>(
    s: &mut ReplaySummary,
    out: &mut Output<W>,
    w: &Waiting,
    o: &Outcome,
    buf: &[u8],
) -> Result<(), PcapError> {
    let mut emit: Vec<(Disposition, &[u8])> = if o.fragments.is_empty() {
        vec![(o.disposition, buf)]
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
                    s.drop(&r.precise_name(&w.entered));
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
        out.write(w.ts_nanos, frame)?;
        s.written += 1;
    }
    Ok(())
}
