//! The forwarding thread: reads frames from every TAP, moves each through the
//! `Dataplane` (the ENI it came from = `Ingress::Eni`, since the guest's own kernel already
//! chose the device; the Internet TAP = `Ingress::Internet`), and writes what comes out to
//! the TAP of the ENI it is delivered to, or to the Internet TAP. Real time since the start
//! drives the virtual clock.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufWriter, ErrorKind, Read, Write};
use std::os::unix::io::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use crate::capture::Capture;
use crate::compile::{EniIdx, Tables};
use crate::pipeline::{summary, Dataplane, Disposition, Ingress};
use crate::time::SimTime;
use crate::wire;

/// Which side of the simulated network a TAP stands for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Port {
    /// An ENI, by id (indices change when tables are recompiled).
    Eni(String),
    Internet,
}

pub enum Ctl {
    Tables(Arc<Tables>),
    AddTap(Port, File),
    /// Closes the TAP (the device disappears), then acknowledges.
    RemoveTap(Port, Sender<()>),
}

/// What the forwarder did, reported when it stops.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Stats {
    pub frames_in: u64,
    pub frames_out: u64,
    pub delivered: u64,
    pub to_internet: u64,
    pub dropped: BTreeMap<&'static str, u64>,
    /// Frames the data plane let through to a place no TAP stands for (an Internet
    /// address no namespace holds, an ENI of no instance): lost, as on a real path.
    pub lost: u64,
    /// Frames a TAP could not take (its queue full).
    pub tap_full: u64,
}

pub struct Forwarder {
    pub dp: Dataplane,
    pub ctl: Receiver<Ctl>,
    pub stop: Arc<AtomicBool>,
    pub capture: Option<Capture<BufWriter<File>>>,
    /// One line per frame on stderr.
    pub log: bool,
}

struct Tap {
    port: Port,
    file: File,
    ingress: Option<Ingress>,
}

const MAX_FRAME: usize = 65_536;
/// Frames read from one TAP per poll round, so no TAP starves the others.
const BURST: usize = 64;

impl Forwarder {
    pub fn run(mut self) -> Stats {
        let start = Instant::now();
        let mut taps: Vec<Tap> = vec![];
        let mut by_eni: HashMap<EniIdx, usize> = HashMap::new();
        let mut internet: Option<usize> = None;
        let mut stats = Stats::default();
        let mut buf = vec![0u8; MAX_FRAME];
        let mut last_expire = Instant::now();
        while !self.stop.load(Ordering::Relaxed) {
            let mut changed = false;
            while let Ok(c) = self.ctl.try_recv() {
                changed = true;
                match c {
                    Ctl::Tables(t) => self.dp.set_tables(t),
                    Ctl::AddTap(port, file) => taps.push(Tap {
                        port,
                        file,
                        ingress: None,
                    }),
                    Ctl::RemoveTap(port, ack) => {
                        taps.retain(|t| t.port != port);
                        let _ = ack.send(());
                    }
                }
            }
            if changed {
                let t = Arc::clone(self.dp.tables());
                by_eni.clear();
                internet = None;
                for (i, tap) in taps.iter_mut().enumerate() {
                    tap.ingress = match &tap.port {
                        Port::Internet => {
                            internet = Some(i);
                            Some(Ingress::Internet)
                        }
                        Port::Eni(id) => t.eni_index.get(id).map(|&e| {
                            by_eni.insert(e, i);
                            Ingress::Eni(e)
                        }),
                    };
                }
            }
            let mut fds: Vec<libc::pollfd> = taps
                .iter()
                .map(|t| libc::pollfd {
                    fd: t.file.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                })
                .collect();
            // SAFETY: fds is a valid array of pollfd of the given length.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 20) };
            if n > 0 {
                for (i, pfd) in fds.iter().enumerate() {
                    if pfd.revents & libc::POLLIN == 0 {
                        continue;
                    }
                    for _ in 0..BURST {
                        let len = match (&taps[i].file).read(&mut buf) {
                            Ok(0) => break,
                            Ok(len) => len,
                            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                            Err(_) => break,
                        };
                        stats.frames_in += 1;
                        let Some(at) = taps[i].ingress else {
                            continue;
                        };
                        let now = SimTime(start.elapsed().as_nanos() as u64);
                        let frame = &mut buf[..len];
                        let before = (self.capture.is_some() || self.log).then(|| frame.to_vec());
                        let sent = self.log.then(|| describe(frame));
                        let out = self.dp.process(frame, at, now, None);
                        if let (Some(cap), Some(before)) = (self.capture.as_mut(), &before) {
                            let t = Arc::clone(self.dp.tables());
                            let _ = cap.record(&t, at, before, &out, frame, now.as_nanos());
                        }
                        if let Some(s) = sent {
                            eprintln!(
                                "live {:>9.3}s {} {s}: {}",
                                now.as_secs_f64(),
                                port_text(&taps[i].port),
                                crate::capture::disposition_text(
                                    self.dp.tables(),
                                    out.disposition,
                                    before.as_deref().unwrap_or_default()
                                )
                            );
                        }
                        let emit = |f: &[u8], d: Disposition, stats: &mut Stats| {
                            let to = match d {
                                Disposition::Delivered { eni } => {
                                    stats.delivered += 1;
                                    by_eni.get(&eni).copied()
                                }
                                Disposition::Internet => {
                                    stats.to_internet += 1;
                                    internet
                                }
                                Disposition::Dropped(r) => {
                                    *stats.dropped.entry(r.name()).or_default() += 1;
                                    return;
                                }
                                Disposition::Held => return,
                            };
                            let Some(to) = to else {
                                stats.lost += 1;
                                return;
                            };
                            // A TAP takes a frame whole or not at all.
                            match (&taps[to].file).write(f) {
                                Ok(n) if n == f.len() => stats.frames_out += 1,
                                _ => stats.tap_full += 1,
                            }
                        };
                        // Too big without DF for the next link: it leaves as fragments.
                        if out.fragments.is_empty() {
                            emit(frame, out.disposition, &mut stats);
                        } else {
                            for f in &out.fragments {
                                emit(f, out.disposition, &mut stats);
                            }
                        }
                        // ARP answers and ICMP errors go back to the TAP they answer
                        // (`Delivered` to the ENI that sent the request).
                        for (f, d) in out.generated.iter().chain(out.released.iter()) {
                            emit(f, *d, &mut stats);
                        }
                    }
                }
            }
            if last_expire.elapsed() >= Duration::from_secs(1) {
                last_expire = Instant::now();
                self.dp.expire(SimTime(start.elapsed().as_nanos() as u64));
            }
        }
        if let Some(cap) = self.capture.as_mut() {
            let _ = cap.flush();
        }
        stats
    }
}

fn describe(frame: &[u8]) -> String {
    wire::parse(frame)
        .map(|i| summary(&i))
        .unwrap_or_else(|e| format!("non-IPv4 or malformed frame ({e})"))
}

fn port_text(p: &Port) -> String {
    match p {
        Port::Eni(id) => id.clone(),
        Port::Internet => "internet".into(),
    }
}
