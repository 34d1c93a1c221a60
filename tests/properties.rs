//! Data-plane invariants as properties (proptest):
//!
//! * NAT round trip: a packet translated on the way out (or in) and its reply translated
//!   back restore the original addresses and ports, for EIP 1:1, SNAT and DNAT;
//! * SNAT sessions are unique: no two live sessions share (EIP, port, destination
//!   address, destination port, protocol), so every reply finds its one connection;
//! * every packet the pipeline forwards has the checksums a full recomputation gives
//!   (`wire::checksums_valid`), whatever the path;
//! * security-group evaluation does not depend on the order the groups were joined;
//! * the multi-core engine gives, flow by flow (disposition and output bytes), and in its
//!   merged counters, exactly what the same packets give through the single-threaded
//!   pipelines (`engine::reference`), whatever the worker count, batching, queue depth
//!   and traffic mix.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

use proptest::prelude::*;
use vpcsim::compile::Tables;
use vpcsim::engine::{self, Engine, EngineConfig, Mix, Path, Steering, Traffic, TrafficSpec};
use vpcsim::model::Direction;
use vpcsim::pipeline::{Dataplane, DataplaneConfig, Disposition, Ingress};
use vpcsim::scenario::Scenario;
use vpcsim::time::SimTime;
use vpcsim::wire::{self, ProbeL4, TcpFlags};

mod support;
use support::{SYN, SYNACK};

const TOPOLOGY: &str = concat!(
    support::scenario!("properties"),
    support::vpc_1!(),
    support::sg_open_all!(),
    support::instance!("i-eip", "10.0.1.10"),
    support::instance!("i-snat1", "10.0.1.11"),
    support::instance!("i-snat2", "10.0.1.12"),
    support::instance!("i-snat3", "10.0.1.13"),
    support::instance!("i-dnat", "10.0.1.20"),
    r#"[[nat_gateways]]
id = "ngw-1"
vpc = "vpc-1"
vswitch = "vsw-a"
snat = [ { id = "snat-vpc", source_cidr = "10.0.0.0/16", snat_ips = ["47.1.2.1"] } ]
dnat = [
  { id = "dnat-ssh", external_ip = "47.1.2.1", external_port = "2222", internal_ip = "10.0.1.20", internal_port = "22", protocol = "TCP" },
  { id = "dnat-dns", external_ip = "47.1.2.1", external_port = "5353", internal_ip = "10.0.1.20", internal_port = "53", protocol = "UDP" },
]

[[eips]]
id = "eip-ngw1"
address = "47.1.2.1"
bind = { type = "Nat", id = "ngw-1" }

"#,
    support::eip!("eip-inst", "47.1.1.10", "EcsInstance", "i-eip"),
);

const EIP: Ipv4Addr = Ipv4Addr::new(47, 1, 1, 10);
const NGW: Ipv4Addr = Ipv4Addr::new(47, 1, 2, 1);

fn tables() -> Arc<Tables> {
    Tables::compile(&support::cloud(TOPOLOGY, "properties.toml"), 1)
}

fn dp(t: &Arc<Tables>) -> Dataplane {
    Dataplane::new(
        Arc::clone(t),
        DataplaneConfig {
            conntrack_capacity: 1 << 14,
            ..Default::default()
        },
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Tuple {
    src: Ipv4Addr,
    sport: u16,
    dst: Ipv4Addr,
    dport: u16,
    tcp: bool,
}

impl Tuple {
    fn reversed(self) -> Tuple {
        Tuple {
            src: self.dst,
            sport: self.dport,
            dst: self.src,
            dport: self.sport,
            tcp: self.tcp,
        }
    }

    fn frame(self, flags: u8, payload: &[u8]) -> Vec<u8> {
        let l4 = if self.tcp {
            ProbeL4::Tcp {
                sport: self.sport,
                dport: self.dport,
                flags: TcpFlags(flags),
                seq: 1000,
                ack: 1,
            }
        } else {
            ProbeL4::Udp {
                sport: self.sport,
                dport: self.dport,
            }
        };
        support::frame(self.src, self.dst, l4)
            .ident(1)
            .payload(payload)
            .build()
    }
}

/// Sends a frame; returns where it went and the tuple it left with (checksums verified).
fn send(d: &mut Dataplane, at: Ingress, f: Vec<u8>, now: u64) -> (Disposition, Tuple) {
    let mut buf = f;
    vpcsim::pipeline::stamp_sender_mac(d.tables(), at, &mut buf);
    let out = d.process(&mut buf, at, SimTime::from_secs(now), None);
    let i = wire::parse(&buf).expect("output parses");
    if !matches!(out.disposition, Disposition::Dropped(_)) {
        wire::checksums_valid(&buf).unwrap_or_else(|e| panic!("{e}"));
    }
    let (sport, dport) = i.ports();
    (
        out.disposition,
        Tuple {
            src: i.src,
            sport,
            dst: i.dst,
            dport,
            tcp: i.proto == wire::proto::TCP,
        },
    )
}

fn public() -> impl Strategy<Value = Ipv4Addr> {
    // Outside the VPC and not one of the scenario's public addresses.
    (1u8..=200, any::<u8>(), any::<u8>(), 1u8..=254)
        .prop_filter("not 10/8, not 47/8", |(a, ..)| *a != 10 && *a != 47)
        .prop_map(|(a, b, c, d)| Ipv4Addr::new(a, b, c, d))
}

fn port() -> impl Strategy<Value = u16> {
    1u16..=65535
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Out through the instance's EIP and back: the reply reaches the original socket.
    #[test]
    fn eip_round_trip(server in public(), sport in port(), dport in port(), tcp in any::<bool>(),
                      payload in proptest::collection::vec(any::<u8>(), 0..64)) {
        let t = tables();
        let mut d = dp(&t);
        let orig = Tuple { src: Ipv4Addr::new(10, 0, 1, 10), sport, dst: server, dport, tcp };
        let at = Ingress::Guest(t.instance_index["i-eip"]);
        let (disp, out) = send(&mut d, at, orig.frame(SYN, &payload), 1);
        prop_assert_eq!(disp, Disposition::Internet);
        prop_assert_eq!(out, Tuple { src: EIP, ..orig });
        let (disp, back) = send(&mut d, Ingress::Internet, out.reversed().frame(SYNACK, &payload), 2);
        prop_assert!(matches!(disp, Disposition::Delivered { .. }), "{:?}", disp);
        prop_assert_eq!(back, orig.reversed());
    }

    /// Out through the NAT gateway's SNAT and back.
    #[test]
    fn snat_round_trip(server in public(), host in 1u8..=3, sport in port(), dport in port(),
                       tcp in any::<bool>(), payload in proptest::collection::vec(any::<u8>(), 0..64)) {
        let t = tables();
        let mut d = dp(&t);
        let orig = Tuple { src: Ipv4Addr::new(10, 0, 1, 10 + host), sport, dst: server, dport, tcp };
        let at = Ingress::Guest(t.instance_index[&format!("i-snat{host}")]);
        let (disp, out) = send(&mut d, at, orig.frame(SYN, &payload), 1);
        prop_assert_eq!(disp, Disposition::Internet);
        prop_assert_eq!((out.src, out.dst, out.dport, out.tcp), (NGW, server, dport, tcp));
        let (disp, back) = send(&mut d, Ingress::Internet, out.reversed().frame(SYNACK, &payload), 2);
        prop_assert!(matches!(disp, Disposition::Delivered { .. }), "{:?}", disp);
        prop_assert_eq!(back, orig.reversed());
    }

    /// In through a DNAT port mapping and the server's reply back out.
    #[test]
    fn dnat_round_trip(client in public(), cport in port(), tcp in any::<bool>(),
                       payload in proptest::collection::vec(any::<u8>(), 0..64)) {
        let t = tables();
        let mut d = dp(&t);
        let (ext, int) = if tcp { (2222, 22) } else { (5353, 53) };
        let orig = Tuple { src: client, sport: cport, dst: NGW, dport: ext, tcp };
        let (disp, inn) = send(&mut d, Ingress::Internet, orig.frame(SYN, &payload), 1);
        prop_assert!(matches!(disp, Disposition::Delivered { .. }), "{:?}", disp);
        prop_assert_eq!(inn, Tuple { dst: Ipv4Addr::new(10, 0, 1, 20), dport: int, ..orig });
        let at = Ingress::Guest(t.instance_index["i-dnat"]);
        let (disp, back) = send(&mut d, at, inn.reversed().frame(SYNACK, &payload), 2);
        prop_assert_eq!(disp, Disposition::Internet);
        prop_assert_eq!(back, orig.reversed());
    }

    /// Many concurrent SNAT flows: the translated tuples are all distinct, and each
    /// reply comes back to its own original flow.
    #[test]
    fn snat_sessions_never_share_a_tuple(
        flows in proptest::collection::vec((1u8..=3, 1024u16..1100, 0usize..3, prop::sample::select(vec![80u16, 443]), any::<bool>()), 1..300)
    ) {
        let t = tables();
        let mut d = dp(&t);
        let servers = [Ipv4Addr::new(203, 0, 113, 1), Ipv4Addr::new(203, 0, 113, 2), Ipv4Addr::new(198, 51, 100, 9)];
        let mut seen: HashMap<Tuple, Tuple> = HashMap::new();
        let mut origs = std::collections::HashSet::new();
        for (host, sport, s, dport, tcp) in flows {
            let orig = Tuple { src: Ipv4Addr::new(10, 0, 1, 10 + host), sport, dst: servers[s], dport, tcp };
            if !origs.insert(orig) {
                continue;
            }
            let at = Ingress::Guest(t.instance_index[&format!("i-snat{host}")]);
            let (disp, out) = send(&mut d, at, orig.frame(SYN, b""), 1);
            prop_assert_eq!(disp, Disposition::Internet);
            prop_assert_eq!(out.src, NGW);
            if let Some(other) = seen.insert(out, orig) {
                prop_assert!(false, "{:?} and {:?} share the SNAT tuple {:?}", other, orig, out);
            }
        }
        for (out, orig) in &seen {
            let (disp, back) = send(&mut d, Ingress::Internet, out.reversed().frame(SYNACK, b""), 2);
            prop_assert!(matches!(disp, Disposition::Delivered { .. }), "{:?}", disp);
            prop_assert_eq!(back, orig.reversed());
        }
    }

    /// Any packet of any tuple over the scenario's addresses, from any ingress: if it is
    /// forwarded, its checksums equal a full recomputation (checked in `send`), and a
    /// second copy (fast path) leaves exactly as the first did.
    #[test]
    fn forwarded_packets_have_valid_checksums(
        src in prop::sample::select(vec![[10,0,1,10],[10,0,1,11],[10,0,1,20],[203,0,113,7],[47,1,1,10],[47,1,2,1]]),
        dst in prop::sample::select(vec![[10,0,1,10],[10,0,1,12],[10,0,1,20],[203,0,113,7],[47,1,1,10],[47,1,2,1]]),
        sport in port(), dport in prop::sample::select(vec![22u16, 53, 80, 2222, 5353, 40000]),
        tcp in any::<bool>(), flags in any::<u8>(), ingress in 0usize..12,
        payload in proptest::collection::vec(any::<u8>(), 0..40),
    ) {
        let t = tables();
        let mut d = dp(&t);
        let at = match ingress {
            0 => Ingress::Internet,
            i if i <= t.instances.len() => Ingress::Guest((i - 1) as u16),
            i => Ingress::Eni(((i - 1 - t.instances.len()) % t.enis.len()) as u16),
        };
        let orig = Tuple { src: Ipv4Addr::from(src), sport, dst: Ipv4Addr::from(dst), dport, tcp };
        let first = send(&mut d, at, orig.frame(flags, &payload), 1);
        let again = send(&mut d, at, orig.frame(flags, &payload), 1);
        prop_assert_eq!(first, again);
    }

    /// The same ENI with its groups joined in any order decides every packet alike.
    #[test]
    fn sg_decision_ignores_join_order(
        rules in proptest::collection::vec(
            (0usize..3, any::<bool>(), 0usize..4, 0u16..4, 0usize..3, any::<bool>(), 1u8..4), 0..12),
        order in Just(vec![0usize, 1, 2]).prop_shuffle(),
        packets in proptest::collection::vec((any::<bool>(), 0usize..3, 0usize..3, 0u16..5), 1..40),
    ) {
        let protos = ["tcp", "udp", "icmp", "all"];
        let cidrs = ["0.0.0.0/0", "203.0.113.0/24", "198.51.100.7/32"];
        let build = |order: &[usize]| {
            let mut src = String::from("[scenario]\nname = \"sg\"\n[[vpcs]]\nid = \"vpc-1\"\ncidr = \"10.0.0.0/16\"\n[[vswitches]]\nid = \"vsw-a\"\nvpc = \"vpc-1\"\nzone = \"z-a\"\ncidr = \"10.0.1.0/24\"\n");
            for g in 0..3 {
                src += &format!("[[security_groups]]\nid = \"sg-{g}\"\nvpc = \"vpc-1\"\nrules = [\n");
                for (rg, ingress, p, port, c, accept, prio) in &rules {
                    if *rg != g {
                        continue;
                    }
                    let ports = if *p < 2 { format!("ports = \"{}/{}\", ", 20 + port * 10, 30 + port * 10) } else { String::new() };
                    src += &format!(
                        "  {{ direction = \"{}\", protocol = \"{}\", {ports}cidr = \"{}\", policy = \"{}\", priority = {prio} }},\n",
                        if *ingress { "ingress" } else { "egress" }, protos[*p], cidrs[*c],
                        if *accept { "accept" } else { "drop" });
                }
                src += "]\n";
            }
            let groups: Vec<String> = order.iter().map(|g| format!("\"sg-{g}\"")).collect();
            src += &format!("[[instances]]\nid = \"i-1\"\nvswitch = \"vsw-a\"\nprivate_ip = \"10.0.1.10\"\nsecurity_groups = [{}]\n", groups.join(", "));
            let sc = Scenario::parse(&src, "sg.toml").unwrap_or_else(|e| panic!("{e}\n{src}"));
            Tables::compile(&sc.initial, 1)
        };
        let a = build(&[0, 1, 2]);
        let b = build(&order);
        let peers = [Ipv4Addr::new(203, 0, 113, 5), Ipv4Addr::new(198, 51, 100, 7), Ipv4Addr::new(10, 0, 1, 99)];
        for (ingress, p, peer, port) in packets {
            let dir = if ingress { Direction::Ingress } else { Direction::Egress };
            let proto = [6u8, 17, 1][p];
            let port = 15 + port * 10;
            let x = a.enis[0].sg.evaluate(dir, proto, u32::from(peers[peer]), port).0;
            let y = b.enis[0].sg.evaluate(dir, proto, u32::from(peers[peer]), port).0;
            prop_assert_eq!(x, y, "{:?} proto {} from {} port {}", dir, proto, peers[peer], port);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn engine_equals_single_threaded_pipeline(
        workers in 1u16..=4,
        batch in 1usize..64,
        queue_depth in 1usize..4,
        flows in 20usize..200,
        packets in 0usize..800,
        weights in proptest::collection::vec(0u32..4, 6),
        frame_len in 54usize..300,
        bench in any::<bool>(),
    ) {
        let src = if bench { engine::BENCH_SCENARIO } else { vpcsim::scenario::DEFAULT_SCENARIO };
        let sc = Scenario::parse(src, "engine.toml").unwrap();
        let t = Tables::compile(&sc.state_after(sc.steps.len()), 1);
        let base = DataplaneConfig { conntrack_capacity: 4096, ..Default::default() };
        let mut mix: Vec<(Path, u32)> = Path::ALL.iter().copied().zip(weights).collect();
        if mix.iter().all(|(_, w)| *w == 0) {
            mix[0].1 = 1;
        }
        let st = Steering::new(&t, workers);
        let spec = TrafficSpec { flows, packets, mix: Mix(mix), frame_len };
        let traffic = Arc::new(Traffic::generate(&t, &base, &st, &spec));
        let eng = Engine::new(Arc::clone(&t), EngineConfig { workers, batch, queue_depth, dataplane: base.clone() });
        eng.set_verify(true);
        let a = eng.plan(&traffic, &traffic.new_flows);
        let b = eng.plan(&traffic, &traffic.established);
        eng.run(&traffic, &a, SimTime::ZERO, |_| {});
        let r = eng.run(&traffic, &b, SimTime::from_secs(1), |_| {});
        let got = engine::merge_digests(&r.workers).map_err(TestCaseError::fail)?;
        let (want, counters) = engine::reference(&t, &base, &st, &traffic, &[
            (&traffic.new_flows, SimTime::ZERO),
            (&traffic.established, SimTime::from_secs(1)),
        ]);
        prop_assert_eq!(engine::compare_digests(&got, &want), Vec::<u32>::new());
        prop_assert_eq!(got.len(), want.len());
        prop_assert_eq!(r.counters, counters);
    }
}
