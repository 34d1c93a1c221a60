//! Hosts on smoltcp: real TCP stacks talking to each other through the simulated VPC.
//!
//! Each host is one smoltcp [`Interface`] (medium IP: no ARP; the 14-byte Ethernet
//! header is added and removed at the device boundary) whose device is a pair of
//! queues into the data plane:
//! - the guest OS of an instance holds every address the guest sees on its devices
//!   (private IPs of eth0, eth1, …; cut-through and multi-EIP addresses, i.e.
//!   `visible_public`; NAT-mode EIPs are invisible), with a default route via eth0's
//!   VSwitch gateway. Its packets enter the data plane as `Ingress::Guest(instance)`,
//!   so the guest's own routing (main table, policy routes) is the pipeline's;
//! - an Internet host has one public address and enters as `Ingress::Internet`.
//!
//! Packets the data plane delivers to an ENI go to its instance's host; packets that
//! leave to the Internet go to the Internet host with the destination address (none:
//! lost, as on a real Internet path to nobody). Everything runs on one virtual clock,
//! advanced in fixed ticks (jumping ahead over idle stretches to the next timer), and
//! every random choice of smoltcp is seeded from the host's name: the same scenario
//! gives the same packets, byte for byte, on every run.

pub mod session;

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::sync::Arc;

use smoltcp::iface::{Config, Interface, SocketSet};
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::time::Instant;
use smoltcp::wire::{HardwareAddress, IpCidr};

use crate::compile::{EniIdx, Tables};
use crate::pipeline::{summary, Dataplane, Disposition, Ingress, Trace, INTERNET_MAC, VROUTER_MAC};
use crate::time::SimTime;
use crate::wire;

/// The virtual clock's fixed step.
pub const TICK_MICROS: u64 = 1_000;
const ETH_HDR: usize = 14;

/// A smoltcp device that is two queues of IP packets: what the host sends, what the
/// network delivered to it.
#[derive(Debug, Default)]
pub struct QueueDevice {
    rx: VecDeque<Vec<u8>>,
    tx: VecDeque<Vec<u8>>,
}

pub struct QRx(Vec<u8>);
pub struct QTx<'a>(&'a mut VecDeque<Vec<u8>>);

impl phy::RxToken for QRx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl phy::TxToken for QTx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut buf = vec![0; len];
        let r = f(&mut buf);
        self.0.push_back(buf);
        r
    }
}

impl Device for QueueDevice {
    type RxToken<'a> = QRx;
    type TxToken<'a> = QTx<'a>;

    fn capabilities(&self) -> DeviceCapabilities {
        let mut c = DeviceCapabilities::default();
        c.medium = Medium::Ip;
        c.max_transmission_unit = 1500;
        c
    }

    fn receive(&mut self, _t: Instant) -> Option<(QRx, QTx<'_>)> {
        let p = self.rx.pop_front()?;
        Some((QRx(p), QTx(&mut self.tx)))
    }

    fn transmit(&mut self, _t: Instant) -> Option<QTx<'_>> {
        Some(QTx(&mut self.tx))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKind {
    /// The guest OS of `Tables::instances[i]`.
    Guest(u16),
    /// A host on the Internet with this address.
    Internet(Ipv4Addr),
}

pub struct Host {
    pub name: String,
    pub kind: HostKind,
    pub iface: Interface,
    pub dev: QueueDevice,
    pub sockets: SocketSet<'static>,
    mac: [u8; 6],
}

/// One packet a host received, with the ENI it came in by (guests).
#[derive(Debug, Clone)]
pub struct Arrival {
    pub host: usize,
    pub eni: Option<EniIdx>,
    pub info: wire::FrameInfo,
}

/// The first packet of a conversation the data plane dropped, with its trace.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DroppedPacket {
    pub reason: &'static str,
    pub sender: String,
    pub packet: String,
    pub trace: Vec<String>,
}

/// A seed from a name (FNV-1a): fixed ISNs and ports per host, the same on every run.
fn seed(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

pub fn instant(t: SimTime) -> Instant {
    Instant::from_micros((t.as_nanos() / 1_000) as i64)
}

/// The data plane plus the hosts around it, on one virtual clock.
pub struct Network {
    pub dp: Dataplane,
    pub tables: Arc<Tables>,
    pub hosts: Vec<Host>,
    pub now: SimTime,
    /// One line per packet: who sent what, and what the VPC made of it.
    pub log: Vec<String>,
    pub arrivals: Vec<Arrival>,
    pub first_drop: Option<DroppedPacket>,
    pub packets: usize,
    /// Every pass through the data plane, for `--capture`.
    pub passes: Vec<crate::capture::Pass>,
}

impl Network {
    pub fn new(dp: Dataplane) -> Network {
        let tables = Arc::clone(dp.tables());
        Network {
            dp,
            tables,
            hosts: Vec::new(),
            now: SimTime::ZERO,
            log: Vec::new(),
            arrivals: Vec::new(),
            first_drop: None,
            packets: 0,
            passes: Vec::new(),
        }
    }

    fn add(&mut self, name: String, kind: HostKind, cidrs: Vec<IpCidr>, gw: Ipv4Addr) -> usize {
        let mut dev = QueueDevice::default();
        let mut cfg = Config::new(HardwareAddress::Ip);
        cfg.random_seed = seed(&name);
        let mut iface = Interface::new(cfg, &mut dev, instant(self.now));
        iface.update_ip_addrs(|a| {
            for c in cidrs {
                if a.push(c).is_err() {
                    break;
                }
            }
        });
        let _ = iface.routes_mut().add_default_ipv4_route(gw);
        let mac = match kind {
            HostKind::Guest(i) => self.tables.instances[i as usize]
                .devices
                .first()
                .map_or(INTERNET_MAC, |&e| self.tables.eni(e).mac),
            HostKind::Internet(_) => INTERNET_MAC,
        };
        self.hosts.push(Host {
            name,
            kind,
            iface,
            dev,
            sockets: SocketSet::new(Vec::new()),
            mac,
        });
        self.hosts.len() - 1
    }

    /// The guest OS of instance `i`, with the addresses it sees on each device.
    pub fn add_guest(&mut self, i: u16) -> usize {
        if let Some(h) = self.host_of(HostKind::Guest(i)) {
            return h;
        }
        let t = Arc::clone(&self.tables);
        let inst = &t.instances[i as usize];
        let mut cidrs = vec![];
        for &e in &inst.devices {
            let eni = t.eni(e);
            if !eni.cut_through {
                for ip in &eni.private_ips {
                    cidrs.push(IpCidr::new((*ip).into(), eni.subnet.prefix_len()));
                }
            }
            for ip in &eni.visible_public {
                cidrs.push(IpCidr::new((*ip).into(), 32));
            }
        }
        let gw = inst
            .devices
            .first()
            .map_or(Ipv4Addr::UNSPECIFIED, |&e| t.eni(e).gateway);
        self.add(inst.id.clone(), HostKind::Guest(i), cidrs, gw)
    }

    /// A host on the Internet at `addr`.
    pub fn add_internet(&mut self, addr: Ipv4Addr) -> usize {
        if let Some(h) = self.host_of(HostKind::Internet(addr)) {
            return h;
        }
        self.add(
            format!("internet:{addr}"),
            HostKind::Internet(addr),
            vec![IpCidr::new(addr.into(), 32)],
            addr,
        )
    }

    pub fn host_of(&self, kind: HostKind) -> Option<usize> {
        self.hosts.iter().position(|h| h.kind == kind)
    }

    fn stamp(&self) -> String {
        format!("{:>9.3}s", self.now.as_secs_f64())
    }

    /// Polls every host once at the current time and carries what they sent through the
    /// data plane. Returns whether any packet moved.
    pub fn poll(&mut self) -> bool {
        let now = instant(self.now);
        for h in &mut self.hosts {
            h.iface.poll(now, &mut h.dev, &mut h.sockets);
        }
        let mut out = vec![];
        for (i, h) in self.hosts.iter_mut().enumerate() {
            out.extend(h.dev.tx.drain(..).map(|p| (i, p)));
        }
        let moved = !out.is_empty();
        for (i, p) in out {
            self.forward(i, p);
        }
        moved
    }

    fn forward(&mut self, from: usize, packet: Vec<u8>) {
        let mut frame = Vec::with_capacity(ETH_HDR + packet.len());
        frame.extend_from_slice(&VROUTER_MAC);
        frame.extend_from_slice(&self.hosts[from].mac);
        frame.extend_from_slice(&[0x08, 0x00]);
        frame.extend_from_slice(&packet);
        let ingress = match self.hosts[from].kind {
            HostKind::Guest(i) => Ingress::Guest(i),
            HostKind::Internet(_) => Ingress::Internet,
        };
        let sent = wire::parse(&frame)
            .map(|i| summary(&i))
            .unwrap_or_else(|e| format!("malformed: {e}"));
        let mut trace = Trace::default();
        let before = frame.clone();
        let out = self
            .dp
            .process(&mut frame, ingress, self.now, Some(&mut trace));
        self.passes.push(crate::capture::Pass {
            tables: Arc::clone(&self.tables),
            at: ingress,
            before,
            outcome: out.clone(),
            after: frame.clone(),
            ts_nanos: self.now.as_nanos(),
        });
        self.packets += 1;
        let line = format!("{} {} sends {sent}", self.stamp(), self.hosts[from].name);
        self.log.push(line);
        if let Disposition::Dropped(r) = out.disposition {
            self.log
                .push(format!("            ✗ dropped by the VPC: {}", r.name()));
            if self.first_drop.is_none() {
                self.first_drop = Some(DroppedPacket {
                    reason: r.name(),
                    sender: self.hosts[from].name.clone(),
                    packet: sent,
                    trace: trace.lines(),
                });
            }
        } else if out.fragments.is_empty() {
            self.deliver(frame, out.disposition, "");
        } else {
            for f in out.fragments {
                self.deliver(f, out.disposition, "fragment: ");
            }
        }
        for (f, d) in out.generated {
            if let Disposition::Dropped(_) = d {
                continue;
            }
            self.deliver(f, d, "generated by the VPC: ");
        }
        for (f, d) in out.released {
            self.deliver(f, d, "released fragment: ");
        }
    }

    fn deliver(&mut self, frame: Vec<u8>, d: Disposition, what: &str) {
        let Ok(info) = wire::parse(&frame) else {
            return;
        };
        let seen = summary(&info);
        let (host, eni, place) = match d {
            Disposition::Delivered { eni } => {
                let e = self.tables.eni(eni);
                let host = e.instance.and_then(|i| self.host_of(HostKind::Guest(i)));
                let place = match e.instance {
                    Some(i) => format!(
                        "{} {} ({})",
                        self.tables.instances[i as usize].id,
                        e.device_name(),
                        e.id
                    ),
                    None => format!("{} (not attached)", e.id),
                };
                (host, Some(eni), place)
            }
            Disposition::Internet => {
                let host = self.host_of(HostKind::Internet(info.dst));
                let place = if host.is_some() {
                    format!("internet:{}", info.dst)
                } else {
                    format!("the Internet (no host at {}: lost)", info.dst)
                };
                (host, None, place)
            }
            Disposition::Dropped(_) | Disposition::Held => return,
        };
        self.log
            .push(format!("            → {what}{place} receives {seen}"));
        if let Some(h) = host {
            self.arrivals.push(Arrival { host: h, eni, info });
            self.hosts[h].dev.rx.push_back(frame[ETH_HDR..].to_vec());
        }
    }

    /// Polls until no packet moves at the current time (bounded).
    pub fn settle(&mut self) {
        for _ in 0..64 {
            if !self.poll() {
                break;
            }
        }
    }

    /// Advances the clock by one tick, or further to the next timer of any host when
    /// nothing is in flight (never past `limit`).
    pub fn advance(&mut self, limit: SimTime) {
        let tick = SimTime(self.now.0 + TICK_MICROS * 1_000);
        let now = instant(self.now);
        let next = self
            .hosts
            .iter_mut()
            .filter_map(|h| h.iface.poll_at(now, &h.sockets))
            .min()
            .map(|i| SimTime(i.total_micros().max(0) as u64 * 1_000));
        let to = match next {
            Some(n) if n > tick => {
                // Stay on the tick grid.
                let step = TICK_MICROS * 1_000;
                SimTime(n.0.div_ceil(step) * step)
            }
            Some(_) => tick,
            None => limit,
        };
        self.now = to.min(limit).max(tick.min(limit));
    }
}
