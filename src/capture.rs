//! Capturing every hop: one pcapng with one interface per observation point, so a
//! packet can be followed through the simulated network in Wireshark.
//!
//! Observation points (each a pcapng interface, declared on first use):
//! * each ENI as its guest sees it — name = the ENI id, description "eth1 of i-web";
//! * each NAT gateway's outside — name "ngw-prod outside": SNAT'd packets after
//!   translation, DNAT'd packets before translation;
//! * the Internet edge — name "internet": everything else that enters from or leaves to
//!   the Internet (EIP and static-public-IP 1:1 traffic included).
//!
//! What is recorded is honest about what the pipeline exposes: the frame at the
//! pipeline's input (the ingress point) and the frame at its output (the egress point,
//! computed from the [`Outcome`] and the tables — no hook inside the pipeline). So an
//! SNAT'd packet appears twice: on the ENI with its private source and on
//! "ngw-prod outside" with the EIP; an EIP 1:1 packet on the ENI and on "internet". A
//! dropped packet appears once, at its input, with a comment naming the drop reason.
//!
//! Used by `vpcsim run|trace|replay --capture FILE.pcapng`; a session can keep one
//! [`Capture`] open and call [`Capture::record`] after every `Dataplane::process`.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::Arc;

use crate::compile::{PublicOwner, Tables};
use crate::pcapio::{PcapError, PcapngWriter};
use crate::pipeline::{guest, Disposition, Ingress, Outcome};
use crate::wire;

/// A place in the simulated network where packets are observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Point {
    /// The Internet edge.
    Internet,
    /// An ENI, as its guest sees it.
    Eni(u16),
    /// The Internet side of a NAT gateway (index into `Tables::nat_gateways`).
    NatOutside(u16),
}

impl Point {
    /// Interface name and description.
    pub fn label(self, t: &Tables) -> (String, String) {
        match self {
            Point::Internet => ("internet".into(), "Internet edge".into()),
            Point::Eni(e) => {
                let eni = t.eni(e);
                let desc = match eni.instance {
                    Some(i) => format!("{} of {}", eni.device_name(), t.instances[i as usize].id),
                    None => format!("{} (not attached to an instance)", eni.id),
                };
                (eni.id.clone(), desc)
            }
            Point::NatOutside(g) => {
                let id = t
                    .nat_gateways
                    .get(g as usize)
                    .map_or("ngw-?", |g| g.id.as_str());
                (
                    format!("{id} outside"),
                    format!("NAT gateway {id}, Internet side (after SNAT, before DNAT)"),
                )
            }
        }
    }
}

/// The NAT gateway owning a public address, if any.
fn nat_gateway_of(t: &Tables, ip: Ipv4Addr) -> Option<u16> {
    match t.public.get(&u32::from(ip)) {
        Some(PublicOwner::NatGateway { gw }) => Some(*gw),
        _ => None,
    }
}

/// Where a frame entering at `at` is first observed (`None`: the guest had no device).
pub fn ingress_point(t: &Tables, at: Ingress, frame: &[u8]) -> Option<Point> {
    match at {
        Ingress::Eni(e) => Some(Point::Eni(e)),
        Ingress::Internet => {
            let gw = wire::parse(frame)
                .ok()
                .and_then(|i| nat_gateway_of(t, i.dst));
            Some(gw.map_or(Point::Internet, Point::NatOutside))
        }
        Ingress::Guest(i) => {
            let inst = t.instances.get(i as usize)?;
            match wire::parse(frame) {
                Ok(info) => guest::route(t, inst, info.src, info.dst).map(|r| Point::Eni(r.eni)),
                Err(_) => inst.devices.first().map(|e| Point::Eni(*e)),
            }
        }
    }
}

/// Where a frame with this disposition leaves the simulated network (`None`: dropped).
pub fn egress_point(t: &Tables, d: Disposition, frame: &[u8]) -> Option<Point> {
    match d {
        Disposition::Delivered { eni } => Some(Point::Eni(eni)),
        Disposition::Internet => {
            let gw = wire::parse(frame)
                .ok()
                .and_then(|i| nat_gateway_of(t, i.src));
            Some(gw.map_or(Point::Internet, Point::NatOutside))
        }
        Disposition::Dropped(_) | Disposition::Held => None,
    }
}

/// A short description of what became of `entered` (the frame as it entered), for
/// packet comments; a drop is named precisely (`malformed_frame.ipv4_bad_checksum`).
pub fn disposition_text(t: &Tables, d: Disposition, entered: &[u8]) -> String {
    match d {
        Disposition::Delivered { eni } => format!("delivered to {}", t.eni(eni).id),
        Disposition::Internet => "to the Internet".into(),
        Disposition::Dropped(r) => format!("dropped: {}", r.precise_name(entered)),
        Disposition::Held => "held: a fragment waiting for its first fragment".into(),
    }
}

/// One pass of a frame through `Dataplane::process`, kept so an edge (probe, session)
/// can write it to a capture afterwards.
#[derive(Debug, Clone)]
pub struct Pass {
    pub tables: Arc<Tables>,
    pub at: Ingress,
    pub before: Vec<u8>,
    pub outcome: Outcome,
    pub after: Vec<u8>,
    pub ts_nanos: u64,
}

/// A multi-interface pcapng of every observation point.
pub struct Capture<W: Write> {
    w: PcapngWriter<W>,
    ifaces: HashMap<String, u32>,
    /// Packet records written.
    pub packets: u64,
}

impl Capture<BufWriter<File>> {
    /// Creates (truncates) `path`.
    pub fn create(path: &Path) -> Result<Self, PcapError> {
        let f = File::create(path).map_err(|source| PcapError::Io {
            context: format!("creating capture {}", path.display()),
            source,
        })?;
        Capture::new(BufWriter::new(f))
    }
}

impl<W: Write> Capture<W> {
    pub fn new(w: W) -> Result<Self, PcapError> {
        Ok(Capture {
            w: PcapngWriter::new(w)?,
            ifaces: HashMap::new(),
            packets: 0,
        })
    }

    /// The interface id of a point, declaring it on first use.
    pub fn interface(&mut self, t: &Tables, p: Point) -> Result<u32, PcapError> {
        let (name, desc) = p.label(t);
        if let Some(&id) = self.ifaces.get(&name) {
            return Ok(id);
        }
        let id = self.w.add_interface(&name, &desc)?;
        self.ifaces.insert(name, id);
        Ok(id)
    }

    /// Writes one frame seen at `p`.
    pub fn write(
        &mut self,
        t: &Tables,
        p: Point,
        ts_nanos: u64,
        frame: &[u8],
        comment: Option<&str>,
    ) -> Result<(), PcapError> {
        let id = self.interface(t, p)?;
        self.w.write_packet(id, ts_nanos, frame, comment)?;
        self.packets += 1;
        Ok(())
    }

    /// Records one pass through `Dataplane::process`: `before` (the frame as injected at
    /// `at`) at its ingress point, `after` (the rewritten frame) at its egress point, and
    /// every generated packet at its own egress point.
    pub fn record(
        &mut self,
        t: &Tables,
        at: Ingress,
        before: &[u8],
        out: &Outcome,
        after: &[u8],
        ts_nanos: u64,
    ) -> Result<(), PcapError> {
        if let Some(p) = ingress_point(t, at, before) {
            let c = format!("in; {}", disposition_text(t, out.disposition, before));
            self.write(t, p, ts_nanos, before, Some(&c))?;
        }
        if let Some(p) = egress_point(t, out.disposition, after) {
            if out.fragments.is_empty() {
                self.write(t, p, ts_nanos, after, Some("out"))?;
            }
            for f in &out.fragments {
                self.write(t, p, ts_nanos, f, Some("out; fragment (exceeded the MTU)"))?;
            }
        }
        for (frame, d) in &out.generated {
            if let Some(p) = egress_point(t, *d, frame) {
                self.write(t, p, ts_nanos, frame, Some("generated by the network"))?;
            }
        }
        Ok(())
    }

    /// Records a kept [`Pass`] (interfaces are named with that pass's own tables).
    pub fn record_pass(&mut self, p: &Pass) -> Result<(), PcapError> {
        self.record(&p.tables, p.at, &p.before, &p.outcome, &p.after, p.ts_nanos)
    }

    pub fn flush(&mut self) -> Result<(), PcapError> {
        self.w.flush()
    }

    pub fn into_inner(self) -> Result<W, PcapError> {
        self.w.into_inner()
    }
}
