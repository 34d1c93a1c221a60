//! Synthetic traffic over a scenario's topology, built before any timing starts.
//!
//! [`Traffic::generate`] finds, in the compiled tables, endpoints for each [`Path`]
//! (checking each candidate with one trial packet through a scratch data plane), then
//! builds `flows` TCP flows spread over the paths by the [`Mix`] weights. Every flow has
//! two pre-built frames in one arena: its first packet (original direction) and the
//! reply, which is derived from what the data plane actually emitted for the first
//! packet (so a SNAT reply carries the port that was allocated). Since SNAT ports depend
//! on the worker count, traffic is generated for one steering (one worker count); the
//! per-worker first-packet order is the one the timed run replays, so allocations agree.
//!
//! Phases: [`Traffic::new_flows`] is every flow's first packet once (slow path and
//! install); [`Traffic::established`] repeats `[original, reply]` over the flows in
//! order until it holds `packets` packets (drop-path flows have no reply and repeat their
//! first packet, which takes the slow path every time, as a denied packet does).
//!
//! All packets are TCP with the ACK flag (mid-stream pickup: the connection is
//! established at once) and `frame_len` bytes long (64 by default, the minimum Ethernet
//! frame without FCS padding accounted for). Guest routing is skipped: ENI-side packets
//! enter at [`Ingress::Eni`].

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::sync::Arc;

use crate::compile::{NextHopT, PublicOwner, Tables};
use crate::pipeline::{
    Dataplane, DataplaneConfig, Disposition, Ingress, INTERNET_MAC, VROUTER_MAC,
};
use crate::time::SimTime;
use crate::wire::{self, ProbeL4, ProbeSpec, TcpFlags};

use super::{worker_config, Steering};

/// A forwarding path a flow takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Path {
    /// A private IP with an EIP (1:1) to the Internet.
    EipEgress,
    /// The Internet to an EIP (1:1) on an ENI.
    EipIngress,
    /// A private IP without EIP through a NAT gateway's SNAT.
    Snat,
    /// The Internet to a NAT gateway's DNAT entry.
    Dnat,
    /// ENI to ENI inside the VPC.
    EastWest,
    /// Packets the data plane drops (security group denial, else unknown address).
    Drop,
}

impl Path {
    pub const ALL: [Path; 6] = [
        Path::EipEgress,
        Path::EipIngress,
        Path::Snat,
        Path::Dnat,
        Path::EastWest,
        Path::Drop,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Path::EipEgress => "eip-egress",
            Path::EipIngress => "eip-ingress",
            Path::Snat => "snat",
            Path::Dnat => "dnat",
            Path::EastWest => "east-west",
            Path::Drop => "drop",
        }
    }

    pub fn parse(s: &str) -> Option<Path> {
        Path::ALL.into_iter().find(|p| p.name() == s)
    }
}

/// Relative weights of the paths, e.g. `snat=4,eip-egress=2,east-west=2,dnat=1,drop=1`.
#[derive(Debug, Clone, PartialEq)]
pub struct Mix(pub Vec<(Path, u32)>);

impl Default for Mix {
    fn default() -> Self {
        Mix(vec![
            (Path::EipEgress, 2),
            (Path::EipIngress, 1),
            (Path::Snat, 3),
            (Path::Dnat, 1),
            (Path::EastWest, 2),
            (Path::Drop, 1),
        ])
    }
}

impl Mix {
    /// Parses `path=weight,...` (a bare path name weighs 1).
    pub fn parse(s: &str) -> Result<Mix, String> {
        let mut v = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, w) = match part.split_once('=') {
                Some((n, w)) => (
                    n,
                    w.parse::<u32>()
                        .map_err(|_| format!("`{part}`: the weight must be a whole number"))?,
                ),
                None => (part, 1),
            };
            let p = Path::parse(name).ok_or_else(|| {
                format!(
                    "unknown path `{name}`: use {}",
                    Path::ALL.map(Path::name).join(", ")
                )
            })?;
            v.push((p, w));
        }
        if v.iter().all(|(_, w)| *w == 0) {
            return Err("the mix has no path with a weight above 0".into());
        }
        Ok(Mix(v))
    }

    /// Only the entries the topology offers.
    fn restrict(&self, available: &HashSet<Path>) -> Vec<(Path, u32)> {
        self.0
            .iter()
            .copied()
            .filter(|(p, w)| *w > 0 && available.contains(p))
            .collect()
    }
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct TrafficSpec {
    pub flows: usize,
    /// Packets in the established phase.
    pub packets: usize,
    pub mix: Mix,
    /// Ethernet frame length in bytes (at least 54: headers without payload).
    pub frame_len: usize,
}

impl Default for TrafficSpec {
    fn default() -> Self {
        TrafficSpec {
            flows: 4096,
            packets: 1 << 20,
            mix: Mix::default(),
            frame_len: 64,
        }
    }
}

/// One packet: where its frame sits in the arena, where it enters, which flow it is.
#[derive(Debug, Clone, Copy)]
pub struct Packet {
    pub off: u32,
    pub len: u16,
    pub flow: u32,
    pub ingress: Ingress,
}

/// One generated flow.
#[derive(Debug, Clone, Copy)]
pub struct FlowInfo {
    pub path: Path,
    /// Packet index of the first packet (original direction).
    pub first: u32,
    /// Packet index of the reply, if the first packet was forwarded.
    pub reply: Option<u32>,
    /// What the first packet became in the generation run.
    pub disposition: Disposition,
}

/// How many flows [`Traffic::generate_with_progress`] makes between two progress calls.
pub const PROGRESS_EVERY: usize = 1024;

/// Pre-built frames and the packet sequences of both phases.
#[derive(Debug, Clone, Default)]
pub struct Traffic {
    pub arena: Vec<u8>,
    pub packets: Vec<Packet>,
    pub flows: Vec<FlowInfo>,
    /// First packet of every flow, in flow order.
    pub new_flows: Vec<u32>,
    /// The established phase.
    pub established: Vec<u32>,
    /// Paths of the mix the topology could not offer (their weight went to the others).
    pub unavailable: Vec<Path>,
    pub frame_len: usize,
}

/// A flow template: sender side and receiver side of one path.
#[derive(Debug, Clone, Copy)]
struct Template {
    path: Path,
    ingress: Ingress,
    src: Ipv4Addr,
    src_mac: [u8; 6],
    dst: Ipv4Addr,
    dport: u16,
    /// Vary the remote (Internet) address: `Some(true)` the source, `Some(false)` the
    /// destination, `None` neither (east-west: the source port varies).
    remote_is_src: Option<bool>,
}

const CANDIDATE_PORTS: [u16; 6] = [443, 80, 22, 8080, 3306, 5000];
/// Remote Internet hosts: 100.64.0.0/10 (senders) and 198.18.0.0/15 (destinations).
const REMOTE_SRC_BASE: u32 = 0x6440_0000;
const REMOTE_DST_BASE: u32 = 0xc612_0000;

fn frame(
    t: &Template,
    src: Ipv4Addr,
    sport: u16,
    dst: Ipv4Addr,
    dport: u16,
    len: usize,
) -> Vec<u8> {
    let payload = vec![0u8; len.saturating_sub(54)];
    wire::build(&ProbeSpec {
        src_mac: t.src_mac,
        dst_mac: VROUTER_MAC,
        src,
        dst,
        ttl: 64,
        ident: 1,
        l4: ProbeL4::Tcp {
            sport,
            dport,
            flags: TcpFlags::ACK,
            seq: 1,
            ack: 1,
        },
        payload,
    })
}

fn expected(path: Path, d: Disposition) -> bool {
    match path {
        Path::EipEgress | Path::Snat => d == Disposition::Internet,
        Path::EipIngress | Path::Dnat | Path::EastWest => {
            matches!(d, Disposition::Delivered { .. })
        }
        Path::Drop => matches!(d, Disposition::Dropped(_)),
    }
}

/// Candidate templates per path, from the tables.
fn candidates(t: &Tables) -> Vec<Template> {
    let mut v = Vec::new();
    let remote_src = Ipv4Addr::from(REMOTE_SRC_BASE + 7);
    let remote_dst = Ipv4Addr::from(REMOTE_DST_BASE + 7);
    let live: Vec<(u16, Ipv4Addr)> = t
        .enis
        .iter()
        .enumerate()
        .filter(|(_, e)| e.live && !e.cut_through)
        .flat_map(|(i, e)| e.private_ips.iter().map(move |ip| (i as u16, *ip)))
        .collect();
    for &(e, ip) in &live {
        let eni = t.eni(e);
        let base = Template {
            path: Path::Snat,
            ingress: Ingress::Eni(e),
            src: ip,
            src_mac: eni.mac,
            dst: remote_dst,
            dport: 443,
            remote_is_src: Some(false),
        };
        if t.one_to_one.contains_key(&(eni.vpc, u32::from(ip))) {
            for p in CANDIDATE_PORTS {
                v.push(Template {
                    path: Path::EipEgress,
                    dport: p,
                    ..base
                });
            }
        } else {
            let via_ngw = t.route_tables[eni.route_table as usize]
                .routes
                .lookup(u32::from(remote_dst))
                .is_some_and(|(_, r)| matches!(r.next_hop, NextHopT::NatGateway(_)));
            if via_ngw {
                for p in CANDIDATE_PORTS {
                    v.push(Template { dport: p, ..base });
                }
            }
        }
        for &(e2, ip2) in &live {
            if e2 != e && t.eni(e2).vpc == eni.vpc {
                for p in CANDIDATE_PORTS {
                    v.push(Template {
                        path: Path::EastWest,
                        dst: ip2,
                        dport: p,
                        remote_is_src: None,
                        ..base
                    });
                }
            }
        }
    }
    let mut publics: Vec<(&u32, &PublicOwner)> = t.public.iter().collect();
    publics.sort_by_key(|(ip, _)| **ip);
    let inet = Template {
        path: Path::EipIngress,
        ingress: Ingress::Internet,
        src: remote_src,
        src_mac: INTERNET_MAC,
        dst: remote_dst,
        dport: 22,
        remote_is_src: Some(true),
    };
    for (ip, owner) in publics {
        if let PublicOwner::Nat1to1 { .. } = owner {
            for p in CANDIDATE_PORTS {
                v.push(Template {
                    dst: Ipv4Addr::from(*ip),
                    dport: p,
                    ..inet
                });
            }
            // The drop path: a port the security group denies, if any.
            for p in [23, 25, 3389, 1] {
                v.push(Template {
                    path: Path::Drop,
                    dst: Ipv4Addr::from(*ip),
                    dport: p,
                    ..inet
                });
            }
        }
    }
    for g in &t.nat_gateways {
        let mut ports: Vec<_> = g.dnat_ports.keys().copied().collect();
        ports.sort_unstable();
        for (ip, proto, port) in ports {
            if proto == wire::proto::TCP {
                v.push(Template {
                    path: Path::Dnat,
                    dst: Ipv4Addr::from(ip),
                    dport: port,
                    ..inet
                });
            }
        }
        let mut ips: Vec<_> = g.dnat_ips.keys().copied().collect();
        ips.sort_unstable();
        for ip in ips {
            for p in CANDIDATE_PORTS {
                v.push(Template {
                    path: Path::Dnat,
                    dst: Ipv4Addr::from(ip),
                    dport: p,
                    ..inet
                });
            }
        }
    }
    // Last resort for the drop path: an address nobody in the scenario holds.
    v.push(Template {
        path: Path::Drop,
        dst: Ipv4Addr::new(192, 0, 2, 1),
        dport: 80,
        ..inet
    });
    v
}

impl Traffic {
    /// The frame of packet `i`.
    #[inline]
    pub fn frame(&self, i: u32) -> &[u8] {
        let p = &self.packets[i as usize];
        &self.arena[p.off as usize..p.off as usize + p.len as usize]
    }

    fn push_frame(&mut self, f: &[u8], ingress: Ingress, flow: u32) -> u32 {
        let off = self.arena.len() as u32;
        self.arena.extend_from_slice(f);
        self.packets.push(Packet {
            off,
            len: f.len() as u16,
            flow,
            ingress,
        });
        (self.packets.len() - 1) as u32
    }

    /// Generates traffic for `steering` (its worker count decides SNAT ports); see the
    /// module documentation. `base` is the data plane configuration the run will use.
    pub fn generate(
        tables: &Arc<Tables>,
        base: &DataplaneConfig,
        steering: &Steering,
        spec: &TrafficSpec,
    ) -> Traffic {
        Traffic::generate_with_progress(tables, base, steering, spec, &mut |_, _| {})
    }

    /// [`Traffic::generate`], calling `progress(flows made, flows wanted)` every
    /// [`PROGRESS_EVERY`] flows and once at the end (for a progress bar with an ETA).
    pub fn generate_with_progress(
        tables: &Arc<Tables>,
        base: &DataplaneConfig,
        steering: &Steering,
        spec: &TrafficSpec,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Traffic {
        let frame_len = spec.frame_len.clamp(54, 1514);
        // Keep the candidates whose trial packet does what the path promises.
        let mut working: Vec<Vec<Template>> = vec![Vec::new(); Path::ALL.len()];
        for c in candidates(tables) {
            let slot = Path::ALL.iter().position(|p| *p == c.path).unwrap_or(0);
            if c.path == Path::Drop && !working[slot].is_empty() {
                continue;
            }
            let mut dp = Dataplane::new(
                Arc::clone(tables),
                DataplaneConfig {
                    conntrack_capacity: 16,
                    ..base.clone()
                },
            );
            let mut f = frame(&c, c.src, 40000, c.dst, c.dport, frame_len);
            let out = dp.process(&mut f, c.ingress, SimTime::ZERO, None);
            if expected(c.path, out.disposition) {
                working[slot].push(c);
            }
        }
        // One template per (path, sender, receiver): the first working port.
        for w in working.iter_mut() {
            let mut seen = HashSet::new();
            w.retain(|t| seen.insert((t.src, t.dst, format!("{:?}", t.ingress))));
        }
        let available: HashSet<Path> = Path::ALL
            .iter()
            .zip(&working)
            .filter(|(_, w)| !w.is_empty())
            .map(|(p, _)| *p)
            .collect();
        let mut mix = spec.mix.restrict(&available);
        let unavailable: Vec<Path> = spec
            .mix
            .0
            .iter()
            .filter(|(p, w)| *w > 0 && !available.contains(p))
            .map(|(p, _)| *p)
            .collect();
        if mix.is_empty() {
            mix = available.iter().map(|p| (*p, 1)).collect();
            mix.sort();
        }
        // Weighted round robin over the paths: a fixed cycle of slots.
        let cycle: Vec<Path> = mix
            .iter()
            .flat_map(|(p, w)| std::iter::repeat_n(*p, *w as usize))
            .collect();
        let n = steering.workers();
        let mut dps: Vec<Dataplane> = (0..n)
            .map(|w| Dataplane::new(Arc::clone(tables), worker_config(base, w, n)))
            .collect();
        let mut tr = Traffic {
            unavailable,
            frame_len,
            ..Default::default()
        };
        let mut counters = vec![0u32; Path::ALL.len()];
        let mut seen: HashSet<(u32, u16, u32, u16)> = HashSet::new();
        let mut buf = vec![0u8; 2048];
        let mut attempts = 0usize;
        while tr.flows.len() < spec.flows && !cycle.is_empty() && attempts < spec.flows * 4 + 64 {
            attempts += 1;
            let path = cycle[attempts % cycle.len()];
            let slot = Path::ALL.iter().position(|p| *p == path).unwrap_or(0);
            let k = counters[slot];
            counters[slot] += 1;
            let ts = &working[slot];
            let t = ts[k as usize % ts.len()];
            let j = k / ts.len() as u32;
            let sport = 1024 + (j % 64_000) as u16;
            let (src, dst) = match t.remote_is_src {
                Some(true) => (
                    Ipv4Addr::from(REMOTE_SRC_BASE + (j / 64_000) * 7919 % 0x3f_ffff),
                    t.dst,
                ),
                Some(false) => (
                    t.src,
                    Ipv4Addr::from(REMOTE_DST_BASE + (j / 64_000 + j * 13) % 0x1_ffff),
                ),
                None => (t.src, t.dst),
            };
            let dport = t.dport;
            if t.remote_is_src.is_none() && j >= 64_000 {
                // East-west tuples between one pair are exhausted: take another path slot.
                continue;
            }
            if !seen.insert((u32::from(src), sport, u32::from(dst), dport)) {
                continue;
            }
            let flow = tr.flows.len() as u32;
            let f = frame(&t, src, sport, dst, dport, frame_len);
            let first = tr.push_frame(&f, t.ingress, flow);
            let w = steering.steer(&f, t.ingress) as usize;
            let b = &mut buf[..f.len()];
            b.copy_from_slice(&f);
            let out = dps[w].process(b, t.ingress, SimTime::ZERO, None);
            let reply = match out.disposition {
                Disposition::Internet | Disposition::Delivered { .. } => {
                    reply_frame(b).map(|(rf, at)| {
                        let at = match (out.disposition, at) {
                            (Disposition::Delivered { eni }, _) => Ingress::Eni(eni),
                            (_, at) => at,
                        };
                        tr.push_frame(&rf, at, flow)
                    })
                }
                Disposition::Dropped(_) | Disposition::Held => None,
            };
            tr.flows.push(FlowInfo {
                path,
                first,
                reply,
                disposition: out.disposition,
            });
            tr.new_flows.push(first);
            if tr.flows.len().is_multiple_of(PROGRESS_EVERY) {
                progress(tr.flows.len(), spec.flows);
            }
        }
        progress(tr.flows.len(), spec.flows);
        let nf = tr.flows.len();
        if nf > 0 {
            let mut i = 0usize;
            while tr.established.len() < spec.packets {
                let fl = &tr.flows[i % nf];
                tr.established.push(fl.first);
                if tr.established.len() < spec.packets {
                    tr.established.push(fl.reply.unwrap_or(fl.first));
                }
                i += 1;
            }
        }
        tr
    }

    /// Flows per path.
    pub fn flows_by_path(&self) -> Vec<(Path, usize)> {
        Path::ALL
            .iter()
            .map(|p| (*p, self.flows.iter().filter(|f| f.path == *p).count()))
            .filter(|(_, n)| *n > 0)
            .collect()
    }
}

/// The reply to a forwarded frame: addresses, ports and MACs swapped, TTL 64, ACK. The
/// ingress is the Internet; the caller replaces it with the ENI for delivered frames.
fn reply_frame(out: &[u8]) -> Option<(Vec<u8>, Ingress)> {
    let info = wire::parse(out).ok()?;
    let wire::L4::Tcp { sport, dport, .. } = info.l4 else {
        return None;
    };
    let payload_len = out.len().saturating_sub(54);
    let f = wire::build(&ProbeSpec {
        src_mac: wire::dst_mac(out),
        dst_mac: VROUTER_MAC,
        src: info.dst,
        dst: info.src,
        ttl: 64,
        ident: 2,
        l4: ProbeL4::Tcp {
            sport: dport,
            dport: sport,
            flags: TcpFlags::ACK,
            seq: 1,
            ack: 1,
        },
        payload: vec![0u8; payload_len],
    });
    Some((f, Ingress::Internet))
}
