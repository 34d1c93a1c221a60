//! `vpcsim reach` / `vpcsim exposure`: the classes are exact (random packets inside a
//! class get the class's answer), and exposure agrees with one probe per port over all
//! 65,536 TCP and UDP ports.

use std::net::Ipv4Addr;
use std::sync::{Arc, OnceLock};

use proptest::prelude::*;
use vpcsim::compile::Tables;
use vpcsim::pipeline::{
    Dataplane, DataplaneConfig, Disposition, Ingress, INTERNET_MAC, VROUTER_MAC,
};
use vpcsim::reach::classes::{ProtoClass, OTHER_PROTOCOL};
use vpcsim::reach::exposure::exposure;
use vpcsim::reach::probe::{send_built, Packet};
use vpcsim::reach::{survey_all, Cell, Side};
use vpcsim::scenario::Scenario;
use vpcsim::time::SimTime;
use vpcsim::wire::{self, ProbeL4, ProbeSpec, TcpFlags};

mod support;

/// A VPC whose tables draw many boundaries: SG port ranges and peer CIDRs (allow and
/// drop at different priorities), a NAT gateway with DNAT port runs (one shifted), an IP
/// mapping, SNAT with two EIPs, a custom route.
const BOUNDARIES: &str = concat!(
    support::scenario!("boundaries"),
    support::vpc_1!("cn-hangzhou-h"),
    r#"[[security_groups]]
id = "sg-a"
vpc = "vpc-1"
type = "enterprise"
rules = [
  { direction = "ingress", protocol = "tcp", ports = "20/30", cidr = "0.0.0.0/0", policy = "accept", priority = 2 },
  { direction = "ingress", protocol = "tcp", ports = "25/25", cidr = "100.64.0.0/10", policy = "drop", priority = 1 },
  { direction = "ingress", protocol = "tcp", ports = "8000/8100", cidr = "198.51.100.0/24", policy = "accept", priority = 1 },
  { direction = "ingress", protocol = "tcp", ports = "8020/8030", cidr = "0.0.0.0/0", policy = "drop", priority = 1 },
  { direction = "ingress", protocol = "udp", ports = "53/53", cidr = "0.0.0.0/0", policy = "accept", priority = 1 },
  { direction = "ingress", protocol = "all", cidr = "203.0.113.0/25", policy = "accept", priority = 3 },
  { direction = "ingress", protocol = "gre", cidr = "192.0.2.0/24", policy = "accept", priority = 1 },
  { direction = "egress", protocol = "tcp", ports = "1/1024", cidr = "0.0.0.0/0", policy = "accept", priority = 1 },
  { direction = "egress", protocol = "udp", ports = "53/53", cidr = "8.8.8.0/24", policy = "accept", priority = 1 },
  { direction = "egress", protocol = "icmp", cidr = "0.0.0.0/0", policy = "accept", priority = 1 },
]

[[instances]]
id = "i-a"
vswitch = "vsw-a"
private_ip = "10.0.1.10"
public_ip = "47.1.1.10"
security_groups = ["sg-a"]

[[instances]]
id = "i-b"
vswitch = "vsw-a"
private_ip = "10.0.1.20"
security_groups = ["sg-a"]

[[instances]]
id = "i-c"
vswitch = "vsw-a"
private_ip = "10.0.1.30"
security_groups = ["sg-a"]

[[route_tables]]
id = "vtb-vpc-1"
vpc = "vpc-1"
routes = [ { destination = "172.16.0.0/12", next_hop_type = "VpnGateway", next_hop_id = "vpn-1" } ]

[[nat_gateways]]
id = "ngw-1"
vpc = "vpc-1"
vswitch = "vsw-a"
snat = [ { source_cidr = "10.0.0.0/16", snat_ips = ["47.1.2.1", "47.1.2.2"] } ]
dnat = [
  { external_ip = "47.1.2.1", external_port = "2222", internal_ip = "10.0.1.20", internal_port = "22", protocol = "TCP" },
  { external_ip = "47.1.2.1", external_port = "9000/9050", internal_ip = "10.0.1.20", internal_port = "8000/8050", protocol = "TCP" },
  { external_ip = "47.1.2.1", external_port = "5300/5400", internal_ip = "10.0.1.20", internal_port = "5300/5400", protocol = "UDP" },
  { external_ip = "47.1.2.3", internal_ip = "10.0.1.30" },
]

"#,
    support::eip!("eip-1", "47.1.2.1", "Nat", "ngw-1"),
    support::eip!("eip-2", "47.1.2.2", "Nat", "ngw-1"),
    support::eip!("eip-3", "47.1.2.3", "Nat", "ngw-1"),
);

/// A fresh data plane with a small flow table: one per probe, so no probe sees
/// another's connection.
fn small_dataplane(t: &Arc<Tables>) -> Dataplane {
    Dataplane::new(
        Arc::clone(t),
        DataplaneConfig {
            conntrack_capacity: 16,
            ..Default::default()
        },
    )
}

struct World {
    tables: Arc<Tables>,
    cells: Vec<Cell>,
}

fn world(src: &str, after: Option<usize>) -> World {
    let sc = Scenario::parse(src, "test.toml").expect("scenario parses");
    let n = after.unwrap_or(sc.steps.len());
    let tables = Tables::compile(&sc.state_after(n), 1);
    let sides = Side::all(&tables);
    let cells = survey_all(&tables, &sides, &sides).cells;
    World { tables, cells }
}

fn worlds() -> &'static [World] {
    static W: OnceLock<Vec<World>> = OnceLock::new();
    W.get_or_init(|| {
        vec![
            world(BOUNDARIES, None),
            world(vpcsim::scenario::DEFAULT_SCENARIO, Some(0)),
            world(vpcsim::scenario::DEFAULT_SCENARIO, None),
            world(vpcsim::scenario::DEFAULT_SCENARIO, Some(10)),
        ]
    })
}

/// The `k`-th address (mod size) of a set of ranges.
fn pick(pieces: &[(u64, u64)], k: u64) -> u64 {
    let total: u64 = pieces.iter().map(|(a, b)| b - a + 1).sum();
    let mut k = k % total.max(1);
    for (a, b) in pieces {
        if k <= b - a {
            return a + k;
        }
        k -= b - a + 1;
    }
    pieces.first().map_or(0, |p| p.0)
}

#[test]
fn the_classes_cover_many_boundaries() {
    let w = &worlds()[0];
    assert!(w.cells.len() > 100, "{} classes", w.cells.len());
    // Every outcome the boundaries were drawn for shows up.
    for want in ["delivered", "internet", "dropped"] {
        assert!(
            w.cells.iter().any(|c| c.answer.outcome == want),
            "no {want} class"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]

    /// The invariant of `reach::classes`: a random packet inside a class — any source
    /// and destination address of its sets, any port of its range, any protocol of its
    /// class, any source port — gets the answer the class's one probe got.
    #[test]
    fn random_packets_inside_a_class_get_the_class_answer(
        wi in 0usize..4, ci in any::<u64>(), s in any::<u64>(), d in any::<u64>(),
        port in any::<u16>(), sport in 1024u16.., other in any::<u8>(),
    ) {
        let w = &worlds()[wi];
        let c = &w.cells[(ci % w.cells.len() as u64) as usize];
        let (lo, hi) = c.ports;
        let proto = match c.proto {
            ProtoClass::Other => match other {
                1 | 6 | 17 | 47 => OTHER_PROTOCOL,
                x => x,
            },
            p => p.number(),
        };
        let p = Packet {
            from: c.probe.from,
            src: Ipv4Addr::from(pick(&c.src, s) as u32),
            dst: Ipv4Addr::from(pick(&c.dst, d) as u32),
            proto,
            sport,
            dport: lo + (port % (hi - lo).wrapping_add(1).max(1)),
        };
        let mut dp = Dataplane::new(Arc::clone(&w.tables), DataplaneConfig { conntrack_capacity: 16, ..Default::default() });
        let got = send_built(&w.tables, &mut dp, &p);
        prop_assert_eq!(&got, &c.answer, "packet {:?} in class {:?}", p, c.probe);
    }
}

/// For every class, 24 seeded random packets inside it (addresses, port, source port,
/// protocol of the class): a boundary missed inside a class shows here whatever class it
/// is in.
#[test]
fn random_packets_in_every_class_get_the_class_answer() {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for w in worlds() {
        for c in &w.cells {
            for _ in 0..24 {
                let (lo, hi) = c.ports;
                let proto = match c.proto {
                    ProtoClass::Other => match next() as u8 {
                        1 | 6 | 17 | 47 => OTHER_PROTOCOL,
                        p => p,
                    },
                    p => p.number(),
                };
                let p = Packet {
                    from: c.probe.from,
                    src: Ipv4Addr::from(pick(&c.src, next()) as u32),
                    dst: Ipv4Addr::from(pick(&c.dst, next()) as u32),
                    proto,
                    sport: 1024 + (next() % 64000) as u16,
                    dport: lo + (next() % (u64::from(hi - lo) + 1)) as u16,
                };
                let mut dp = small_dataplane(&w.tables);
                assert_eq!(
                    send_built(&w.tables, &mut dp, &p),
                    c.answer,
                    "{p:?} in class {:?}",
                    c.probe
                );
            }
        }
    }
}

/// Deterministically, for every class: its first and last port, from its first and
/// last source address to its first and last destination address — the edges, where a
/// missed boundary would show.
#[test]
fn the_edges_of_every_class_get_the_class_answer() {
    for w in worlds() {
        for c in &w.cells {
            let first = |v: &[(u64, u64)]| v.first().map_or(0, |x| x.0);
            let last = |v: &[(u64, u64)]| v.last().map_or(0, |x| x.1);
            for (src, dst, port) in [
                (first(&c.src), first(&c.dst), c.ports.0),
                (last(&c.src), last(&c.dst), c.ports.1),
            ] {
                let p = Packet {
                    from: c.probe.from,
                    src: Ipv4Addr::from(src as u32),
                    dst: Ipv4Addr::from(dst as u32),
                    proto: c.probe.proto,
                    sport: 1234,
                    dport: port,
                };
                let mut dp = small_dataplane(&w.tables);
                assert_eq!(
                    send_built(&w.tables, &mut dp, &p),
                    c.answer,
                    "{p:?} in class {:?}",
                    c.probe
                );
            }
        }
    }
}

/// Sends one TCP or UDP packet from the Internet client to `public:port` and, when it
/// is delivered, the guest's reply; true when the packet gets in and the reply gets out
/// back to the client.
fn knock(dp: &mut Dataplane, t: &Tables, public: Ipv4Addr, tcp: bool, port: u16) -> (bool, bool) {
    let client = Ipv4Addr::new(198, 51, 100, 7);
    let l4 = if tcp {
        ProbeL4::Tcp {
            sport: 40000,
            dport: port,
            flags: TcpFlags::SYN,
            seq: 1,
            ack: 0,
        }
    } else {
        ProbeL4::Udp {
            sport: 40000,
            dport: port,
        }
    };
    let mut f = wire::build(&ProbeSpec {
        src_mac: INTERNET_MAC,
        dst_mac: VROUTER_MAC,
        src: client,
        dst: public,
        ttl: 64,
        ident: 1,
        l4,
        payload: vec![],
    });
    let out = dp.process(&mut f, Ingress::Internet, SimTime::ZERO, None);
    let Disposition::Delivered { eni } = out.disposition else {
        return (false, false);
    };
    let got = wire::parse(&f).expect("delivered frame parses");
    let inst = t.eni(eni).instance.expect("delivered to an instance");
    let mut r = wire::build(&ProbeSpec {
        src_mac: t.eni(eni).mac,
        dst_mac: VROUTER_MAC,
        src: got.dst,
        dst: got.src,
        ttl: 64,
        ident: 2,
        l4: vpcsim::probe::reply_l4(&got, 5000).expect("tcp/udp reply"),
        payload: vec![],
    });
    let back = dp.process(&mut r, Ingress::Guest(inst), SimTime::ZERO, None);
    let returned =
        back.disposition == Disposition::Internet && wire::parse(&r).is_ok_and(|i| i.dst == client);
    (true, returned)
}

/// Exposure says which (protocol, port) of `public` the client gets in on; one probe per
/// port over all 65,536 TCP and UDP ports says the same, reply included.
fn exposure_matches_every_port(src: &str, after: Option<usize>, public: Ipv4Addr) -> usize {
    let sc = Scenario::parse(src, "test.toml").expect("scenario parses");
    let t = Tables::compile(&sc.state_after(after.unwrap_or(sc.steps.len())), 1);
    let x = exposure(&t);
    let client = u64::from(u32::from(Ipv4Addr::new(198, 51, 100, 7)));
    let claims = |tcp: bool, port: u16| {
        x.exposed.iter().flat_map(|e| &e.entries).find(|en| {
            en.public == public
                && en.protocol
                    == if tcp {
                        ProtoClass::Tcp
                    } else {
                        ProtoClass::Udp
                    }
                && en
                    .port_ranges
                    .iter()
                    .any(|(a, b)| (*a..=*b).contains(&port))
                && en.src.iter().any(|(a, b)| (*a..=*b).contains(&client))
        })
    };
    // One data plane for all 131,072 probes: every probe has its own destination port,
    // so no two share a connection.
    let mut dp = Dataplane::new(
        Arc::clone(&t),
        DataplaneConfig {
            conntrack_capacity: 1 << 18,
            ..Default::default()
        },
    );
    let mut open = 0;
    for tcp in [true, false] {
        for port in 0..=u16::MAX {
            let (gets_in, returned) = knock(&mut dp, &t, public, tcp, port);
            let claim = claims(tcp, port);
            assert_eq!(
                gets_in,
                claim.is_some(),
                "{public} {} port {port}: probe says {gets_in}, exposure says {claim:?}",
                if tcp { "tcp" } else { "udp" }
            );
            if let Some(c) = claim {
                let said = c.reply.as_ref().is_some_and(|r| r.outcome == "returned");
                assert_eq!(returned, said, "{public} port {port}: reply");
                open += 1;
            }
        }
    }
    open
}

#[test]
fn exposure_of_the_built_in_eip_agrees_with_a_probe_on_every_port() {
    let eip = Ipv4Addr::new(47, 96, 10, 20);
    // After the procedure: only tcp/22 gets in (to eth1); before: the same on eth0.
    assert_eq!(
        exposure_matches_every_port(vpcsim::scenario::DEFAULT_SCENARIO, None, eip),
        1
    );
    assert_eq!(
        exposure_matches_every_port(vpcsim::scenario::DEFAULT_SCENARIO, Some(8), eip),
        0
    );
}

#[test]
fn exposure_of_a_dnat_address_agrees_with_a_probe_on_every_port() {
    // tcp 2222 → 22 (the group allows 20-30 from anywhere) and tcp 9000-9050 → 8000-8050
    // (it allows 8000-8100 from the client's /24, but drops 8020-8030 first: 9020-9030
    // seen from outside) get in; udp 5300-5400 only from 203.0.113.0/25, which does not
    // hold the client.
    let open = exposure_matches_every_port(BOUNDARIES, None, Ipv4Addr::new(47, 1, 2, 1));
    assert_eq!(open, 1 + 51 - 11);
}

#[test]
fn reach_and_exposure_json_list_every_way_in_with_its_path() {
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_vpcsim"))
            .args(args)
            .output()
            .expect("vpcsim runs");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("json")
    };
    let x = run(&["exposure", "--json"]);
    assert_eq!(x["vpcsim"], 1);
    assert_eq!(x["command"], "exposure");
    assert_eq!(x["after"]["step"], 11);
    let web = x["exposed"]
        .as_array()
        .and_then(|a| a.iter().find(|e| e["eni"] == "eni-web1"))
        .expect("eni-web1 is exposed");
    assert_eq!(web["address"], "192.168.1.100");
    let ssh = web["entries"]
        .as_array()
        .and_then(|a| a.iter().find(|e| e["protocol"] == "tcp"))
        .expect("tcp entry");
    assert_eq!(ssh["public"], "47.96.10.20");
    assert_eq!(ssh["ports"], "22");
    assert_eq!(ssh["sources"], "internet");
    assert_eq!(ssh["via"][0], "eip eip-web");
    assert!(
        ssh["rule"].as_str().is_some_and(|r| r.contains("sg-web")),
        "{ssh}"
    );
    assert_eq!(ssh["reply"]["outcome"], "returned");

    let r = run(&["reach", "--from", "internet", "--to", "i-web", "--json"]);
    assert_eq!(r["command"], "reach");
    let rows = r["rows"].as_array().expect("rows");
    let denied = rows
        .iter()
        .find(|x| x["protocol"] == "tcp" && x["outcome"] == "dropped")
        .expect("a denied tcp row");
    assert_eq!(denied["ports"], "0-21,23-65535");
    assert_eq!(denied["reason"], "sg_ingress_denied");
    assert!(rows
        .iter()
        .any(|x| x["protocol"] == "tcp" && x["ports"] == "22" && x["eni"] == "eni-web1"));
}

#[test]
fn a_drop_rule_inside_a_shifted_dnat_run_is_a_boundary_seen_from_outside() {
    let w = &worlds()[0];
    let at = |port: u16| {
        w.cells
            .iter()
            .find(|c| {
                c.from == "internet"
                    && c.proto == ProtoClass::Tcp
                    && c.dst
                        == [(
                            u64::from(u32::from(Ipv4Addr::new(47, 1, 2, 1))),
                            u64::from(u32::from(Ipv4Addr::new(47, 1, 2, 1))),
                        )]
                    && (c.ports.0..=c.ports.1).contains(&port)
                    && c.src.iter().any(|(a, b)| {
                        (*a..=*b).contains(&u64::from(u32::from(Ipv4Addr::new(198, 51, 100, 7))))
                    })
            })
            .map(|c| (c.ports, c.answer.outcome))
    };
    assert_eq!(at(9019), Some(((9000, 9019), "delivered")));
    assert_eq!(at(9025), Some(((9020, 9030), "dropped")));
    assert_eq!(at(9031), Some(((9031, 9050), "delivered")));
}

#[test]
fn a_generated_vpc_is_valid_and_its_dnat_entries_are_exposed() {
    let src = vpcsim::reach::scale::generated_vpc(100, 4, 20, 10);
    let sc = Scenario::parse(&src, "generated.toml").expect("the generated VPC is valid");
    let t = Tables::compile(&sc.initial, 1);
    let x = exposure(&t);
    let dnat: Vec<_> = x
        .exposed
        .iter()
        .flat_map(|e| &e.entries)
        .filter(|en| en.public == Ipv4Addr::new(47, 100, 0, 2))
        .collect();
    // Ten DNAT entries; those to port 22 are open only from the group's /8 minus its
    // dropped /16, those to 80 from anywhere, the range to 1000-1049 from one /16.
    assert!(dnat.len() >= 10, "{dnat:#?}");
    assert!(dnat
        .iter()
        .any(|e| e.via.iter().any(|v| v.starts_with("dnat"))));
    assert!(x.probes > 100);
}
