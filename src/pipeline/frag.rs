//! Virtual reassembly of IPv4 fragments: a NAT translates every fragment of a datagram
//! the way it translated the first one, without ever rebuilding the datagram.
//!
//! # Design
//!
//! Fragments are grouped by datagram: (source, destination, protocol, IP id) as on the
//! wire, plus the ingress they entered by (the same id from two ingresses is two
//! datagrams).
//!
//! * The **first fragment** (offset 0) carries the L4 header, so it takes the normal
//!   path (flow table, SGs, NAT, ...) unchanged. Its result is then remembered for the
//!   datagram as a [`Verdict`]: either "forward, with these final addresses, TTL cost,
//!   MACs and disposition" (read off the frame the pipeline produced, so EIP, SNAT, DNAT
//!   and hairpins are all covered by one rule), or "dropped for this reason".
//! * A **non-first fragment** has no ports and cannot be classified on its own. If its
//!   datagram has a verdict it gets the same one: its addresses are rewritten with
//!   [`wire::apply`] and a src/dst-only [`Rewrite`] (only the IPv4 header checksum
//!   changes: the L4 checksum, in the first fragment, already covers the translated
//!   pseudo-header and ports), its TTL pays the same hops, its MACs are the first
//!   fragment's, and it goes to the same place; if the first fragment was dropped it is
//!   dropped with the same reason.
//! * A non-first fragment that arrives **before** its first fragment is held
//!   ([`Disposition::Held`]) in a bounded buffer and released — translated as above —
//!   in [`Outcome::released`] of the packet that brings the first fragment.
//!
//! # Limits
//!
//! Memory is bounded by [`FragLimits`]: at most `max_datagrams` datagrams are tracked
//! (the oldest is forgotten to make room, and its held fragments are dropped), at most
//! `max_datagram_bytes` are held per datagram and `max_held_bytes` in all (a fragment
//! over either limit is dropped). A datagram is forgotten `timeout` (default 30 s of
//! simulated time, like Linux's `ipfrag_time`) after its first fragment of any kind was
//! seen; fragments still held then are dropped. Every dropped fragment is counted as
//! [`DropReason::Fragment`]; later fragments of a forgotten datagram are dropped the same
//! way (as a fragment without a first one).

use std::collections::{HashMap, VecDeque};
use std::net::Ipv4Addr;
use std::time::Duration;

use super::{Disposition, DropReason, Ingress, Outcome};
use crate::time::SimTime;
use crate::wire::{self, FrameInfo, Rewrite};

/// Bounds of the reassembly state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragLimits {
    /// Datagrams tracked at once (with or without a verdict).
    pub max_datagrams: usize,
    /// Frame bytes held for one datagram waiting for its first fragment.
    pub max_datagram_bytes: usize,
    /// Frame bytes held in all.
    pub max_held_bytes: usize,
    /// How long a datagram is remembered after its first fragment (of any kind) arrived.
    pub timeout: Duration,
}

impl Default for FragLimits {
    fn default() -> Self {
        FragLimits {
            max_datagrams: 4096,
            max_datagram_bytes: 96 * 1024,
            max_held_bytes: 4 << 20,
            timeout: Duration::from_secs(30),
        }
    }
}

/// A datagram: addresses, protocol and IP id as on the wire, and its ingress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FragKey {
    pub src: u32,
    pub dst: u32,
    pub ident: u16,
    pub proto: u8,
    pub ingress: u32,
}

impl FragKey {
    pub fn of(info: &FrameInfo, at: Ingress) -> FragKey {
        FragKey {
            src: u32::from(info.src),
            dst: u32::from(info.dst),
            ident: info.ident,
            proto: info.proto,
            ingress: match at {
                Ingress::Internet => 0,
                Ingress::Guest(i) => 0x1_0000 | u32::from(i),
                Ingress::Eni(e) => 0x2_0000 | u32::from(e),
            },
        }
    }
}

/// What the first fragment of a datagram became.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Forward {
        src: Ipv4Addr,
        dst: Ipv4Addr,
        hops: u8,
        macs: [u8; 12],
        disposition: Disposition,
        /// The first fragment's path MTU: a later fragment larger than it is
        /// fragmented again (or dropped with DF).
        mtu: u16,
    },
    Drop(DropReason),
}

#[derive(Debug)]
struct Datagram {
    /// Insertion number, to match the expiry queue.
    seq: u64,
    verdict: Option<Verdict>,
    held: Vec<Vec<u8>>,
    held_bytes: usize,
}

/// A first fragment on its way through the normal path.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PendingFirst {
    pub key: FragKey,
    pub ttl: u8,
    /// The MTU of the path it took (the smallest seen, hairpins included).
    pub mtu: u16,
}

/// The reassembly state of one pipeline instance.
#[derive(Debug, Default)]
pub struct Fragments {
    limits: FragLimits,
    map: HashMap<FragKey, Datagram>,
    /// (deadline, seq, key) in arrival order; stale rows (seq mismatch) are skipped.
    queue: VecDeque<(SimTime, u64, FragKey)>,
    seq: u64,
    held_bytes: usize,
    pub(crate) pending: Option<PendingFirst>,
}

/// What to do with a fragment right now.
pub(crate) enum Step {
    /// A first fragment: take the normal path (and call [`Fragments::first_done`]).
    Normal,
    Done(Outcome),
}

impl Fragments {
    pub fn new(limits: FragLimits) -> Fragments {
        Fragments {
            limits,
            ..Default::default()
        }
    }

    /// Datagrams tracked.
    pub fn datagrams(&self) -> usize {
        self.map.len()
    }

    /// Frame bytes held, waiting for first fragments.
    pub fn held_bytes(&self) -> usize {
        self.held_bytes
    }

    /// Forgets datagrams past their timeout; returns the held fragments dropped.
    pub fn expire(&mut self, now: SimTime) -> u64 {
        let mut dropped = 0;
        while let Some(&(deadline, seq, key)) = self.queue.front() {
            if deadline > now {
                break;
            }
            self.queue.pop_front();
            dropped += self.forget(key, seq);
        }
        dropped
    }

    /// Forgets every datagram (a new configuration epoch judges them again); returns
    /// the held fragments dropped.
    pub fn clear(&mut self) -> u64 {
        let lost = self.map.values().map(|d| d.held.len() as u64).sum();
        self.map.clear();
        self.queue.clear();
        self.held_bytes = 0;
        self.pending = None;
        lost
    }

    fn forget(&mut self, key: FragKey, seq: u64) -> u64 {
        if self.map.get(&key).is_some_and(|d| d.seq == seq) {
            if let Some(d) = self.map.remove(&key) {
                self.held_bytes -= d.held_bytes;
                return d.held.len() as u64;
            }
        }
        0
    }

    /// The datagram's entry, created (forgetting the oldest if full) if new. Returns the
    /// held fragments dropped to make room.
    fn entry(&mut self, key: FragKey, now: SimTime) -> (&mut Datagram, u64) {
        let mut dropped = 0;
        if !self.map.contains_key(&key) {
            while self.map.len() >= self.limits.max_datagrams.max(1) {
                let Some((_, seq, old)) = self.queue.pop_front() else {
                    break;
                };
                dropped += self.forget(old, seq);
            }
            self.seq += 1;
            let seq = self.seq;
            self.queue
                .push_back((now.plus(self.limits.timeout), seq, key));
            self.map.insert(
                key,
                Datagram {
                    seq,
                    verdict: None,
                    held: Vec::new(),
                    held_bytes: 0,
                },
            );
        }
        let d = self.map.get_mut(&key).expect("just inserted");
        (d, dropped)
    }

    /// Classifies one fragment. Returns the step and the held fragments dropped by
    /// timeouts or to make room (to count as [`DropReason::Fragment`]).
    pub(crate) fn admit(
        &mut self,
        frame: &mut [u8],
        info: &FrameInfo,
        at: Ingress,
        now: SimTime,
    ) -> (Step, u64) {
        let mut dropped = self.expire(now);
        let key = FragKey::of(info, at);
        if info.frag_offset == 0 {
            self.pending = Some(PendingFirst {
                key,
                ttl: info.ttl,
                mtu: u16::MAX,
            });
            return (Step::Normal, dropped);
        }
        let limits = self.limits;
        let fits_total = self.held_bytes + frame.len() <= limits.max_held_bytes;
        let (d, made_room) = self.entry(key, now);
        dropped += made_room;
        if let Some(v) = d.verdict {
            return (Step::Done(translate(frame, info, v)), dropped);
        }
        if !fits_total || d.held_bytes + frame.len() > limits.max_datagram_bytes {
            return (
                Step::Done(Outcome::of(Disposition::Dropped(DropReason::Fragment))),
                dropped,
            );
        }
        d.held.push(frame.to_vec());
        d.held_bytes += frame.len();
        self.held_bytes += frame.len();
        (Step::Done(Outcome::of(Disposition::Held)), dropped)
    }

    /// Records what the first fragment became (`frame` is the pipeline's output) and
    /// releases the fragments that waited for it into `out.released`. Returns the
    /// disposition of every fragment this settled (released, dropped with the first
    /// fragment's reason, or lost to make room), for the counters.
    pub(crate) fn first_done(
        &mut self,
        p: PendingFirst,
        frame: &[u8],
        out: &mut Outcome,
        now: SimTime,
    ) -> Vec<Disposition> {
        let verdict = match out.disposition {
            Disposition::Delivered { .. } | Disposition::Internet => match wire::parse(frame) {
                Ok(after) => {
                    let mut macs = [0u8; 12];
                    macs.copy_from_slice(&frame[..12]);
                    Verdict::Forward {
                        src: after.src,
                        dst: after.dst,
                        hops: p.ttl.saturating_sub(after.ttl),
                        macs,
                        disposition: out.disposition,
                        mtu: p.mtu,
                    }
                }
                Err(_) => Verdict::Drop(DropReason::MalformedFrame),
            },
            Disposition::Dropped(r) => Verdict::Drop(r),
            Disposition::Held => Verdict::Drop(DropReason::Fragment),
        };
        let (d, made_room) = self.entry(p.key, now);
        d.verdict = Some(verdict);
        let held = std::mem::take(&mut d.held);
        let bytes = std::mem::take(&mut d.held_bytes);
        self.held_bytes -= bytes;
        // Fragments of the datagram forgotten to make room for this one are lost.
        let mut dispositions = vec![Disposition::Dropped(DropReason::Fragment); made_room as usize];
        for mut f in held {
            let Ok(info) = wire::parse(&f) else {
                dispositions.push(Disposition::Dropped(DropReason::MalformedFrame));
                continue;
            };
            let o = translate(&mut f, &info, verdict);
            dispositions.push(o.disposition);
            if !matches!(o.disposition, Disposition::Dropped(_)) {
                if o.fragments.is_empty() {
                    out.released.push((f, o.disposition));
                } else {
                    let d = o.disposition;
                    out.released.extend(o.fragments.into_iter().map(|g| (g, d)));
                }
            }
        }
        dispositions
    }
}

/// Applies a datagram's verdict to one of its non-first fragments, in place.
fn translate(frame: &mut [u8], info: &FrameInfo, v: Verdict) -> Outcome {
    match v {
        Verdict::Drop(r) => Outcome::of(Disposition::Dropped(r)),
        Verdict::Forward {
            src,
            dst,
            hops,
            macs,
            disposition,
            mtu,
        } => {
            if info.total_len > mtu && info.dont_fragment {
                // RFC 1812 4.3.2.7: no ICMP error about a non-first fragment.
                return Outcome::of(Disposition::Dropped(DropReason::MtuExceeded));
            }
            if info.ttl <= hops {
                return Outcome::of(Disposition::Dropped(DropReason::TtlExceeded));
            }
            let mut i = *info;
            for _ in 0..hops {
                if wire::decrement_ttl(frame, &i).is_none() {
                    return Outcome::of(Disposition::Dropped(DropReason::TtlExceeded));
                }
                i.ttl -= 1;
            }
            let rw = Rewrite {
                src: (src != info.src).then_some(src),
                dst: (dst != info.dst).then_some(dst),
                ..Default::default()
            };
            wire::apply(frame, &i, &rw);
            if let Some(m) = frame.get_mut(..12) {
                m.copy_from_slice(&macs);
            }
            let mut out = Outcome::of(disposition);
            if info.total_len > mtu {
                match wire::fragment(frame, &i, mtu) {
                    Some(f) => out.fragments = f,
                    None => return Outcome::of(Disposition::Dropped(DropReason::MtuExceeded)),
                }
            }
            out
        }
    }
}

use super::TraceRef;

impl super::Dataplane {
    /// A fragment: `None` for a first fragment (the normal path follows), else what
    /// became of this non-first fragment (forwarded as its first was, held, or dropped).
    #[cold]
    pub(super) fn fragment(
        &mut self,
        frame: &mut [u8],
        info: &FrameInfo,
        at: Ingress,
        now: SimTime,
        trace: &mut TraceRef<'_>,
    ) -> Option<Outcome> {
        let (step, lost) = self.frags.admit(frame, info, at, now);
        self.counters.dropped[DropReason::Fragment.index()] += lost;
        let what = match &step {
            Step::Normal => {
                "first fragment: normal path, its result is kept for the datagram".to_string()
            }
            Step::Done(o) => match o.disposition {
                Disposition::Held => "arrived before the first fragment: held".to_string(),
                Disposition::Dropped(DropReason::Fragment) => {
                    "no room to hold it until the first fragment".to_string()
                }
                d => format!("translated as its first fragment was: {d:?}"),
            },
        };
        hop!(
            trace,
            "fragment",
            "reassembly",
            "IPv4 fragment (id {}, offset {}): {what}",
            info.ident,
            u32::from(info.frag_offset) * 8
        );
        match step {
            Step::Normal => None,
            Step::Done(o) => Some(o),
        }
    }
}
