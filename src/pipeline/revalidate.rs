//! Connections across configuration changes (SEMANTICS.md §5, "Changes while traffic
//! flows"), after opte's epoch revalidation.
//!
//! A new configuration does not flush the flow table ([`OnChange::Revalidate`], the
//! default). Each connection remembers the epoch of the tables it was installed (or last
//! confirmed) under. The first packet of an older connection — in either direction —
//! re-runs the slow path for the connection's *original* direction against the new
//! tables on a scratch data plane and compares: still allowed, to the same place, with
//! the same translation → the connection is confirmed for this epoch and the packet
//! takes its cached action; otherwise the connection ends there: it is removed (its
//! SNAT port released) and the packet is dropped with `flow_ended_by_change`, the cause
//! (the new drop reason, or the new translation) recorded in the trace and in
//! [`Dataplane::take_ended`]. The next packet of that tuple is a new flow.
//!
//! So adding rules or joining a group never ends a session (the original direction is
//! still allowed); revoking a rule or leaving a group ends it when the original
//! direction is now denied; unbinding an EIP, deleting a SNAT or DNAT entry, detaching an
//! ENI, stopping an instance end the sessions that depended on them (the re-judged
//! packet finds no mapping or is translated differently), and rebinding the EIP does not
//! revive them (they are gone). SNAT source ports are an allocation, not a rule: a SNAT
//! connection is the same if it leaves from the same EIP.
//!
//! Cost: while no connection predates the current tables the established path pays one
//! branch on a flag; after a change, one epoch compare per packet until the table has
//! emptied, and one scratch slow path per connection per change.

use std::net::Ipv4Addr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{Dataplane, DataplaneConfig, Disposition, DropReason, Ingress, Outcome, TraceRef};
use super::{INTERNET_MAC, VROUTER_MAC};
use crate::compile::{Tables, INTERNET_PORT};
use crate::flow::{ConnId, Dir, FlowKey, Hit};
use crate::model::SgPolicy;
use crate::time::SimTime;
use crate::wire::{self, ProbeL4, ProbeSpec, TcpFlags};

use super::FlowAction;

/// What a configuration change does to established connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnChange {
    /// [decision] SEMANTICS.md §5: each connection is judged again at its next packet;
    /// the ones the change does not affect keep their state and translation.
    #[default]
    Revalidate,
    /// Every connection is forgotten (as after a conntrack flush): the next packet of
    /// each is a new flow, judged against the new rules as a first packet.
    Flush,
}

impl OnChange {
    pub fn name(self) -> &'static str {
        match self {
            OnChange::Revalidate => "revalidate",
            OnChange::Flush => "flush",
        }
    }
}

/// Per-connection epochs, in a side table indexed by connection slot so the flow table
/// itself carries nothing new.
#[derive(Debug, Default)]
pub(super) struct Epochs {
    /// Some connection may predate the current tables.
    pub(super) stale_possible: bool,
    /// The epoch each connection was last installed or confirmed under.
    of_slot: Vec<u64>,
    /// The epoch each connection was installed under (confirmations leave it): its
    /// security-group drop rules are the ones that may end it.
    born_of_slot: Vec<u64>,
    /// Earlier tables by epoch (the last [`HISTORY_KEPT`]), for the drop rules a
    /// connection was born under.
    history: Vec<Arc<Tables>>,
    /// The current tables without the drop rules born after `.0`, by (born, current).
    known_drops: Option<(u64, u64, Arc<Tables>)>,
}

/// Earlier tables kept for [`Epochs::history`].
const HISTORY_KEPT: usize = 64;

impl Epochs {
    #[inline]
    pub(super) fn installed(&mut self, conn: ConnId, epoch: u64) {
        self.confirmed(conn, epoch);
        let i = conn.index() as usize;
        if i >= self.born_of_slot.len() {
            self.born_of_slot.resize(i + 1, 0);
        }
        self.born_of_slot[i] = epoch;
    }

    fn confirmed(&mut self, conn: ConnId, epoch: u64) {
        let i = conn.index() as usize;
        if i >= self.of_slot.len() {
            self.of_slot.resize(i + 1, 0);
        }
        self.of_slot[i] = epoch;
    }

    /// The tables being replaced by a change.
    pub(super) fn remember(&mut self, old: Arc<Tables>) {
        if self.history.len() >= HISTORY_KEPT {
            self.history.remove(0);
        }
        self.history.push(old);
    }

    /// `current` with each ENI's security-group drop rules cut to those its ENI had
    /// under the tables of epoch `born` (`None` when those tables are no longer kept).
    fn without_new_drops(&mut self, born: u64, current: &Arc<Tables>) -> Option<Arc<Tables>> {
        if let Some((b, c, t)) = &self.known_drops {
            if (*b, *c) == (born, current.epoch) {
                return Some(Arc::clone(t));
            }
        }
        let old = self.history.iter().rev().find(|t| t.epoch == born)?;
        let mut t = (**current).clone();
        for e in &mut t.enis {
            let was = old.eni_index.get(&e.id).map(|&i| &old.eni(i).sg.rules);
            e.sg.rules.retain(|r| {
                r.policy == SgPolicy::Accept
                    || was.is_some_and(|w| {
                        w.iter().any(|o| {
                            o.policy == SgPolicy::Drop
                                && o.direction == r.direction
                                && o.group == r.group
                                && o.text == r.text
                        })
                    })
            });
        }
        let t = Arc::new(t);
        self.known_drops = Some((born, current.epoch, Arc::clone(&t)));
        Some(t)
    }

    /// Connections are in the table and new tables arrived.
    pub(super) fn changed(&mut self, live: usize) {
        self.stale_possible |= live > 0;
    }

    /// The table emptied: nothing can be stale any more.
    pub(super) fn emptied(&mut self) {
        self.stale_possible = false;
    }

    #[inline]
    fn stale(&self, conn: ConnId, epoch: u64) -> bool {
        self.of_slot
            .get(conn.index() as usize)
            .copied()
            .unwrap_or(0)
            != epoch
    }
}

/// Why a change ended a connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "cause", rename_all = "snake_case")]
pub enum EndCause {
    /// The original direction is now dropped for this reason.
    Denied { reason: DropReason },
    /// The original direction now leaves with other addresses or by another port.
    Retranslated {
        was: (Ipv4Addr, u16, Ipv4Addr, u16),
        now: (Ipv4Addr, u16, Ipv4Addr, u16),
    },
}

impl std::fmt::Display for EndCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EndCause::Denied { reason } => {
                write!(f, "its original direction is now dropped: {reason}")
            }
            EndCause::Retranslated { was, now } => write!(
                f,
                "its original direction is now translated to {}:{} → {}:{} (was {}:{} → {}:{})",
                now.0, now.1, now.2, now.3, was.0, was.1, was.2, was.3
            ),
        }
    }
}

/// A connection a configuration change ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EndedFlow {
    #[serde(skip)]
    pub at: SimTime,
    /// The original direction's tuple as it entered (at its observation port).
    #[serde(skip)]
    pub original: FlowKey,
    /// The epoch it was installed under and the one that ended it.
    pub installed_epoch: u64,
    pub ended_epoch: u64,
    #[serde(flatten)]
    pub cause: EndCause,
}

/// At most this many ended connections wait for [`Dataplane::take_ended`].
const ENDED_KEPT: usize = 4096;

impl Dataplane {
    /// Whether the packet that hit `hit` may use its cached action. `None`: yes (the
    /// connection is current, or was just confirmed); `Some`: the change ended the
    /// connection and this is what became of the packet.
    #[inline]
    pub(super) fn revalidate(
        &mut self,
        hit: &Hit<FlowAction>,
        now: SimTime,
        trace: &mut TraceRef<'_>,
    ) -> Option<Outcome> {
        // The common case (no change since the table last emptied) is one branch on a
        // flag; the tables' epoch is read only after a change.
        if !self.epochs.stale_possible || !self.epochs.stale(hit.conn, self.tables.epoch) {
            return None;
        }
        self.rejudge(hit, now, trace)
    }

    #[cold]
    fn rejudge(
        &mut self,
        hit: &Hit<FlowAction>,
        now: SimTime,
        trace: &mut TraceRef<'_>,
    ) -> Option<Outcome> {
        let epoch = self.tables.epoch;
        let installed = self
            .epochs
            .of_slot
            .get(hit.conn.index() as usize)
            .copied()
            .unwrap_or(0);
        // The original direction: its key, its cached action, and the reply key (whose
        // reverse is the tuple the original direction leaves with).
        let back = self.conns.lookup(&hit.other, now)?;
        let (orig, action, reply) = match hit.dir {
            Dir::Original => (back.other, hit.action, hit.other),
            Dir::Reply => (hit.other, back.action, back.other),
        };
        let was = (
            Ipv4Addr::from(reply.dst),
            reply.dport,
            Ipv4Addr::from(reply.src),
            reply.sport,
        );
        let mut verdict = self.judge(&self.tables, &orig, now);
        let mut spared = false;
        // [decision] SEMANTICS.md §5: adding rules or joining a group never ends a
        // session. A denial by a drop rule the connection was not born under is judged
        // again without the drop rules added since.
        if let Judged::Dropped(DropReason::SgIngressDenied | DropReason::SgEgressDenied) = verdict {
            let born = self
                .epochs
                .born_of_slot
                .get(hit.conn.index() as usize)
                .copied()
                .unwrap_or(0);
            let current = Arc::clone(&self.tables);
            if let Some(t) = self.epochs.without_new_drops(born, &current) {
                verdict = self.judge(&t, &orig, now);
                spared = matches!(verdict, Judged::Left { .. });
            }
        }
        let cause = match verdict {
            Judged::Dropped(reason) => Some(EndCause::Denied { reason }),
            Judged::Left { out, tuple } => {
                // A SNAT source port is an allocation: only its address must match.
                let snat = was.1 != orig.sport;
                let same = out == action.out
                    && tuple.0 == was.0
                    && tuple.2 == was.2
                    && tuple.3 == was.3
                    && (snat || tuple.1 == was.1);
                // A hairpinned packet comes back in; the scratch run follows it to the
                // end, so only "still allowed" is compared for those.
                (!same && !action.hairpin).then_some(EndCause::Retranslated { was, now: tuple })
            }
        };
        let Some(cause) = cause else {
            self.epochs.confirmed(hit.conn, epoch);
            if let Some(t) = trace.as_deref_mut() {
                t.push(
                    "flow_table",
                    self.tables.port_name(orig.port),
                    if spared {
                        format!("connection installed at epoch {installed} confirmed for epoch {epoch}: only security-group drop rules added since it began deny it, and adding rules never ends a session")
                    } else {
                        format!("connection installed at epoch {installed} confirmed for epoch {epoch}: the change leaves it as it was")
                    },
                );
            }
            return None;
        };
        if let Some(t) = trace.as_deref_mut() {
            t.push(
                "flow_table",
                self.tables.port_name(orig.port),
                format!("connection installed at epoch {installed} ended by the change to epoch {epoch}: {cause}"),
            );
        }
        if let Some(b) = self.conns.remove(hit.conn) {
            if b.active {
                self.snat
                    .release_port(b.eip, b.proto, b.dst, b.dport, b.port);
            }
        }
        if self.ended.len() < ENDED_KEPT {
            self.ended.push(EndedFlow {
                at: now,
                original: orig,
                installed_epoch: installed,
                ended_epoch: epoch,
                cause,
            });
        }
        Some(Outcome::of(Disposition::Dropped(
            DropReason::FlowEndedByChange,
        )))
    }

    /// The slow path for a packet of `key` on a scratch data plane with the current
    /// tables: where it leaves and with which tuple.
    fn judge(&self, t: &Arc<Tables>, key: &FlowKey, now: SimTime) -> Judged {
        let (ingress, mac) = if key.port == INTERNET_PORT {
            (Ingress::Internet, INTERNET_MAC)
        } else {
            let e = key.port - 1;
            if (e as usize) >= t.enis.len() {
                return Judged::Dropped(DropReason::InstanceNotRunning);
            }
            (Ingress::Eni(e), t.eni(e).mac)
        };
        let l4 = match key.proto {
            wire::proto::TCP => ProbeL4::Tcp {
                sport: key.sport,
                dport: key.dport,
                flags: TcpFlags::ACK,
                seq: 1,
                ack: 1,
            },
            wire::proto::UDP => ProbeL4::Udp {
                sport: key.sport,
                dport: key.dport,
            },
            _ => ProbeL4::IcmpEcho {
                request: true,
                ident: key.sport,
                seq: 0,
            },
        };
        let mut frame = wire::build(&ProbeSpec {
            src_mac: mac,
            dst_mac: VROUTER_MAC,
            src: Ipv4Addr::from(key.src),
            dst: Ipv4Addr::from(key.dst),
            ttl: 64,
            ident: 0,
            l4,
            payload: Vec::new(),
        });
        let mut scratch = Dataplane::new(
            Arc::clone(t),
            DataplaneConfig {
                conntrack_capacity: 16,
                ..self.config.clone()
            },
        );
        let out = scratch.process(&mut frame, ingress, now, None);
        let port = match out.disposition {
            Disposition::Dropped(r) => return Judged::Dropped(r),
            Disposition::Held => return Judged::Dropped(DropReason::Fragment),
            Disposition::Internet => INTERNET_PORT,
            Disposition::Delivered { eni } => eni + 1,
        };
        match wire::parse(&frame) {
            Ok(i) => {
                let (sp, dp) = i.ports();
                Judged::Left {
                    out: port,
                    tuple: (i.src, sp, i.dst, dp),
                }
            }
            Err(_) => Judged::Dropped(DropReason::MalformedFrame),
        }
    }

    /// The connections configuration changes ended since the last call (at most
    /// 4096 are kept between calls).
    pub fn take_ended(&mut self) -> Vec<EndedFlow> {
        std::mem::take(&mut self.ended)
    }
}

enum Judged {
    Dropped(DropReason),
    Left {
        out: u16,
        tuple: (Ipv4Addr, u16, Ipv4Addr, u16),
    },
}
