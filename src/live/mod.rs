//! Live mode: real Linux network stacks around the simulated VPC.
//!
//! One network namespace per instance, holding one TAP device per attached ENI named as
//! the guest sees it (eth0, eth1, …) with the ENI's MAC, the addresses the guest sees and
//! the guest routing the scenario describes ([`guest`]); one namespace for the Internet
//! holding the Internet addresses the scenario uses. A forwarding thread ([`forward`])
//! moves every frame between the TAPs through a `Dataplane`. So `ssh`, `curl` or any
//! program run in a namespace talks through ENIs, security groups, routes, EIP 1:1 NAT and
//! the NAT gateway exactly as vpcsim computes them.
//!
//! An edge: it uses everything below it, nothing uses it. Nothing touches the host's own
//! namespace or routes except the short-lived TAP device before it moves (see [`sys`]).
//!
//! Layer 2 is the data plane's: a guest resolves its gateway and its peers by real ARP,
//! which the VSwitch answers with `ee:ff:ff:ff:ff:ff` (SEMANTICS.md §5; the answer is an
//! `Outcome::generated` frame the forwarder writes back to the TAP the request came
//! from), and each TAP has its ENI's MTU (1500, or 8500 for jumbo-frame instance types).
//!
//! [decision] The Internet namespace keeps one permanent neighbour entry: its next hop
//! (`INTERNET_GATEWAY`) stands for the upstream routers of the Internet, which are not a
//! VSwitch — the data plane ignores ARP from the Internet edge (`arp_ignored`) as the
//! cloud's edge is no layer-2 segment anyone on the Internet shares. Its MTU is the
//! Internet edge's 1500.
//!
//! Changes while it runs ([`Live::apply`]): the new tables (compiled with
//! `Tables::compile_after`, so ENI ports stay stable) replace the old with the data plane's
//! per-change semantics (SEMANTICS.md §5, `pipeline::revalidate`): each established
//! connection is judged again at its next packet and kept or ended.

pub mod forward;
pub mod guest;
pub mod sys;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::Sender;

use crate::compile::Tables;
use crate::model::limits::ETHERNET_MTU;
use crate::pipeline::{self, Dataplane, DataplaneConfig, INTERNET_MAC, VROUTER_MAC};
use crate::scenario::Scenario;

pub use forward::{Port, Stats};
pub use sys::{cleanup_stale, preflight, LiveError};

/// Always present in the Internet namespace: the built-in scenario's "what is my IP"
/// server (standing for myip.ipip.net).
pub const MYIP_SERVER: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 80);
/// The Internet namespace's next hop toward vpcsim's Internet edge (link-local, on link).
pub const INTERNET_GATEWAY: Ipv4Addr = Ipv4Addr::new(169, 254, 0, 1);

static RUNS: AtomicUsize = AtomicUsize::new(0);

#[derive(Debug, Default, Clone)]
pub struct LiveOptions {
    /// Write every hop to this pcapng.
    pub capture: Option<PathBuf>,
    /// One line per frame on stderr.
    pub log: bool,
}

struct GuestNs {
    ns: String,
    devices: Vec<guest::Device>,
}

/// A running live network. Dropping it stops forwarding and removes everything it made.
pub struct Live {
    prefix: String,
    scenario: Scenario,
    step: usize,
    tables: Arc<Tables>,
    guests: BTreeMap<String, GuestNs>,
    internet_ns: String,
    internet_addrs: Vec<Ipv4Addr>,
    namespaces: Vec<String>,
    ctl: Sender<forward::Ctl>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Stats>>,
    taps: usize,
    /// Names a dead run left behind, removed at the start.
    pub stale_removed: Vec<String>,
}

/// One comparison of the kernel's route choice with vpcsim's guest model.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RouteCheck {
    pub instance: String,
    pub src: Option<Ipv4Addr>,
    pub dst: Ipv4Addr,
    pub kernel: String,
    pub vpcsim: String,
    pub why: String,
}

impl RouteCheck {
    pub fn agrees(&self) -> bool {
        self.kernel == self.vpcsim
    }
}

/// The Internet addresses a scenario uses: the `internet:IP` senders of its checks and
/// sessions first (the Internet namespace's primary address is the first), then the
/// destinations that are not the scenario's own, then [`MYIP_SERVER`].
pub fn internet_addresses(sc: &Scenario, t: &Tables) -> Vec<Ipv4Addr> {
    let mut froms = vec![];
    let mut tos = vec![];
    let parse_to =
        |s: &str| -> Option<Ipv4Addr> { s.split(':').next().and_then(|a| a.parse().ok()) };
    for (_, c) in &sc.checks {
        froms.extend(
            c.from
                .as_deref()
                .and_then(|f| f.strip_prefix("internet:")?.parse::<Ipv4Addr>().ok()),
        );
        tos.extend(c.to.as_deref().and_then(parse_to));
    }
    for (_, s) in &sc.sessions {
        froms.extend(
            s.from
                .strip_prefix("internet:")
                .and_then(|f| f.parse::<Ipv4Addr>().ok()),
        );
        tos.extend(parse_to(&s.to));
    }
    let ours = |ip: &Ipv4Addr| {
        t.public.contains_key(&u32::from(*ip)) || t.vpcs.iter().any(|(_, n)| n.contains(ip))
    };
    let mut out: Vec<Ipv4Addr> = vec![];
    for ip in froms.into_iter().chain(tos).chain([MYIP_SERVER]) {
        if !ours(&ip) && !out.contains(&ip) && !ip.is_loopback() && !ip.is_unspecified() {
            out.push(ip);
        }
    }
    out
}

fn sanitize(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

impl Live {
    /// Builds the namespaces for the scenario after `after` steps and starts forwarding.
    pub fn start(sc: &Scenario, after: usize, opts: &LiveOptions) -> Result<Live, LiveError> {
        preflight()?;
        let stale_removed = cleanup_stale();
        let run = RUNS.fetch_add(1, Ordering::Relaxed);
        let prefix = format!("vs{}x{run}", std::process::id());
        let cloud = sc.state_after(after);
        let tables = Tables::compile(&cloud, after as u64 + 1);
        let capture = match &opts.capture {
            Some(p) => Some(
                crate::capture::Capture::create(p)
                    .map_err(|e| LiveError::Other(format!("capture {}: {e}", p.display())))?,
            ),
            None => None,
        };
        let (ctl, rx) = crossbeam_channel::unbounded();
        let stop = Arc::new(AtomicBool::new(false));
        let fw = forward::Forwarder {
            dp: Dataplane::new(
                Arc::clone(&tables),
                DataplaneConfig {
                    conntrack_capacity: 1 << 16,
                    ..Default::default()
                },
            ),
            ctl: rx,
            stop: Arc::clone(&stop),
            capture,
            log: opts.log,
        };
        let thread = std::thread::Builder::new()
            .name("vpcsim-live".into())
            .spawn(move || fw.run())
            .map_err(|e| LiveError::Other(format!("starting the forwarding thread: {e}")))?;
        let internet_addrs = internet_addresses(sc, &tables);
        let mut live = Live {
            internet_ns: format!("{prefix}-internet"),
            prefix,
            scenario: sc.clone(),
            step: after,
            tables,
            guests: BTreeMap::new(),
            internet_addrs,
            namespaces: vec![],
            ctl,
            stop,
            thread: Some(thread),
            taps: 0,
            stale_removed,
        };
        live.build_internet()?;
        let t = Arc::clone(&live.tables);
        for inst in &t.instances {
            live.sync_guest(&t, inst)?;
        }
        Ok(live)
    }

    fn add_namespace(&mut self, ns: &str) -> Result<(), LiveError> {
        sys::ip(None, &["netns", "add", ns])?;
        self.namespaces.push(ns.to_string());
        guest::prepare(ns)
    }

    /// Creates a TAP, moves it into `ns` as `name` and hands its fd to the forwarder.
    fn add_tap(&mut self, ns: &str, name: &str, mac: [u8; 6], port: Port) -> Result<(), LiveError> {
        let host_name = format!("{}t{}", self.prefix, self.taps);
        self.taps += 1;
        let file = sys::open_tap(&host_name)?;
        sys::ip(None, &["link", "set", &host_name, "netns", ns])?;
        let mac = sys::mac_text(mac);
        sys::ip(
            Some(ns),
            &["link", "set", &host_name, "name", name, "address", &mac],
        )?;
        self.ctl
            .send(forward::Ctl::AddTap(port, file))
            .map_err(|_| LiveError::Other("the forwarding thread stopped".into()))
    }

    fn build_internet(&mut self) -> Result<(), LiveError> {
        let ns = self.internet_ns.clone();
        self.add_namespace(&ns)?;
        self.add_tap(&ns, "eth0", INTERNET_MAC, Port::Internet)?;
        let n = Some(ns.as_str());
        sys::ip(
            n,
            &[
                "link",
                "set",
                "eth0",
                "mtu",
                &ETHERNET_MTU.to_string(),
                "up",
            ],
        )?;
        for a in self.internet_addrs.clone() {
            sys::ip(n, &["addr", "add", &format!("{a}/32"), "dev", "eth0"])?;
        }
        let gw = INTERNET_GATEWAY.to_string();
        // [decision] (module doc): the Internet edge answers no ARP; one static entry.
        sys::ip(
            n,
            &[
                "neigh",
                "replace",
                &gw,
                "lladdr",
                &sys::mac_text(VROUTER_MAC),
                "dev",
                "eth0",
                "nud",
                "permanent",
            ],
        )?;
        sys::ip(
            n,
            &[
                "route", "replace", "default", "via", &gw, "dev", "eth0", "onlink",
            ],
        )?;
        Ok(())
    }

    /// Brings instance `inst`'s namespace to what the tables say: devices added or
    /// removed, every device (re)configured.
    fn sync_guest(
        &mut self,
        t: &Tables,
        inst: &crate::compile::InstanceT,
    ) -> Result<(), LiveError> {
        let want = guest::devices(t, inst);
        let ns = match self.guests.get(&inst.id) {
            Some(g) => g.ns.clone(),
            None => {
                let ns = format!("{}-{}", self.prefix, sanitize(&inst.id));
                self.add_namespace(&ns)?;
                self.guests.insert(
                    inst.id.clone(),
                    GuestNs {
                        ns: ns.clone(),
                        devices: vec![],
                    },
                );
                ns
            }
        };
        let have = self
            .guests
            .get(&inst.id)
            .map(|g| g.devices.clone())
            .unwrap_or_default();
        // A device whose ENI changed (or that is gone) is removed before the new one
        // takes its name.
        for old in &have {
            let kept = want
                .get(old.index)
                .is_some_and(|d| t.eni(d.eni).id == self.tables.eni(old.eni).id);
            if !kept {
                let (ack, done) = crossbeam_channel::bounded(1);
                let id = self.tables.eni(old.eni).id.clone();
                let _ = self.ctl.send(forward::Ctl::RemoveTap(Port::Eni(id), ack));
                let _ = done.recv_timeout(std::time::Duration::from_secs(2));
            }
        }
        for d in &want {
            let kept = have
                .get(d.index)
                .is_some_and(|o| self.tables.eni(o.eni).id == t.eni(d.eni).id);
            if !kept {
                self.add_tap(&ns, &d.name(), d.mac, Port::Eni(t.eni(d.eni).id.clone()))?;
            } else if have.get(d.index) == Some(d) {
                continue; // unchanged: nothing to redo
            }
            guest::configure(&ns, d)?;
        }
        if let Some(g) = self.guests.get_mut(&inst.id) {
            g.devices = want;
        }
        Ok(())
    }

    /// Moves to the state after `n` steps: new tables (each established connection is
    /// judged again at its next packet, SEMANTICS.md §5), guests updated. The tables keep
    /// every ENI's observation port (`compile_after`), so cached flows stay meaningful.
    pub fn apply(&mut self, n: usize) -> Result<(), LiveError> {
        let n = n.min(self.scenario.steps.len());
        let cloud = self.scenario.state_after(n);
        let t = Tables::compile_after(&cloud, self.tables.epoch + 1, &self.tables);
        self.ctl
            .send(forward::Ctl::Tables(Arc::clone(&t)))
            .map_err(|_| LiveError::Other("the forwarding thread stopped".into()))?;
        for inst in &t.instances {
            self.sync_guest(&t, inst)?;
        }
        self.tables = t;
        self.step = n;
        Ok(())
    }

    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    pub fn step(&self) -> usize {
        self.step
    }

    pub fn tables(&self) -> &Arc<Tables> {
        &self.tables
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn internet_addresses(&self) -> &[Ipv4Addr] {
        &self.internet_addrs
    }

    /// The namespace of `who`: an instance id, or `internet`.
    pub fn namespace(&self, who: &str) -> Option<&str> {
        if who == "internet" {
            return Some(&self.internet_ns);
        }
        self.guests.get(who).map(|g| g.ns.as_str())
    }

    /// Every namespace: (who, name).
    pub fn namespaces(&self) -> Vec<(String, String)> {
        let mut v = vec![("internet".to_string(), self.internet_ns.clone())];
        v.extend(self.guests.iter().map(|(k, g)| (k.clone(), g.ns.clone())));
        v
    }

    /// `sh -c CMD` in `who`'s namespace.
    pub fn command(&self, who: &str, cmd: &str) -> Result<Command, LiveError> {
        let ns = self.namespace(who).ok_or_else(|| {
            LiveError::Other(format!(
                "no namespace `{who}`: use `internet` or one of the instances ({})",
                self.guests.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
        })?;
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns, "sh", "-c", cmd]);
        Ok(c)
    }

    /// The kernel's route choice in every guest namespace against vpcsim's guest model
    /// (`pipeline::guest::route`), for every destination the guest could address (its
    /// gateways, the VPC's private addresses on its links, the Internet addresses) and
    /// every source it owns, and without a source (vpcsim: `guest::default_source`).
    pub fn cross_check(&self) -> Result<Vec<RouteCheck>, LiveError> {
        let t = &self.tables;
        let mut out = vec![];
        for inst in &t.instances {
            let Some(g) = self.guests.get(&inst.id) else {
                continue;
            };
            let mut dsts: Vec<Ipv4Addr> = self.internet_addrs.clone();
            let mut srcs: Vec<Option<Ipv4Addr>> = vec![None];
            for d in &g.devices {
                dsts.extend(d.neighbours.iter().copied());
                srcs.extend(d.addrs.iter().map(|(a, _)| Some(*a)));
            }
            dsts.sort();
            dsts.dedup();
            for &src in &srcs {
                for &dst in &dsts {
                    let s = src.or_else(|| pipeline::guest::default_source(t, inst));
                    let Some(s) = s else { continue };
                    let Some(r) = pipeline::guest::route(t, inst, s, dst) else {
                        continue;
                    };
                    let kernel = sys::route_get(&g.ns, dst, src)?;
                    out.push(RouteCheck {
                        instance: inst.id.clone(),
                        src,
                        dst,
                        kernel,
                        vpcsim: t.eni(r.eni).device_name(),
                        why: r.why.to_string(),
                    });
                }
            }
        }
        Ok(out)
    }

    /// Stops forwarding and removes every namespace; returns what the forwarder did.
    pub fn stop(mut self) -> Stats {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Stats {
        self.stop.store(true, Ordering::Relaxed);
        let stats = self
            .thread
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        for ns in self.namespaces.drain(..) {
            sys::delete_namespace(&ns);
        }
        stats
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        if self.thread.is_some() || !self.namespaces.is_empty() {
            self.shutdown();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builtin() -> Scenario {
        Scenario::load(None).expect("built-in scenario")
    }

    #[test]
    fn internet_namespace_holds_the_scenarios_internet_addresses_client_first() {
        let sc = builtin();
        let t = Tables::compile(&sc.state_after(0), 1);
        assert_eq!(
            internet_addresses(&sc, &t),
            vec![Ipv4Addr::new(198, 51, 100, 7), MYIP_SERVER],
            "the EIPs and private addresses are the scenario's own, never the Internet's"
        );
    }

    /// The guest sees eth1 with the ENI's private IP, NAT-mode EIPs stay invisible, and
    /// policy routes exist for eth1's address only while the guest has them.
    #[test]
    fn guest_devices_mirror_the_guest_model() {
        let sc = builtin();
        let t = Tables::compile(&sc.state_after(sc.steps.len()), 1);
        let i = t.instance_index["i-web"];
        let d = guest::devices(&t, &t.instances[i as usize]);
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].name(), "eth0");
        assert_eq!(d[0].addrs, vec![(Ipv4Addr::new(192, 168, 1, 10), 24)]);
        assert_eq!(d[1].addrs, vec![(Ipv4Addr::new(192, 168, 1, 100), 24)]);
        assert_eq!(d[1].mac, t.eni(t.eni_index["eni-web1"]).mac);
        // The TAP's MTU is the ENI's (the built-in types have no jumbo frames).
        assert!(d.iter().all(|x| x.mtu == 1500));
        assert_eq!(d[0].gateway, Ipv4Addr::new(192, 168, 1, 253));
        assert!(d[0].policy_sources.is_empty());
        assert_eq!(d[1].policy_sources, vec![Ipv4Addr::new(192, 168, 1, 100)]);
        for dev in &d {
            assert!(
                !dev.neighbours.contains(&Ipv4Addr::new(192, 168, 1, 10))
                    && !dev.neighbours.contains(&Ipv4Addr::new(192, 168, 1, 100)),
                "the guest's own addresses are local, not link peers"
            );
            assert!(dev.neighbours.contains(&Ipv4Addr::new(192, 168, 1, 20)));
        }
        let t = Tables::compile(&sc.state_after(10), 2);
        let d = guest::devices(&t, &t.instances[i as usize]);
        assert!(
            d[1].policy_sources.is_empty(),
            "step 10 removes the policy routes"
        );
    }
}
