//! Full tables and floods: memory stays bounded, every refusal is counted with its
//! reason, and established flows keep working (the eviction policy of
//! `src/flow/conntrack.rs`: half-open and reply-less connections go first, established
//! ones are never evicted, a table full of established flows refuses new ones).

use std::net::Ipv4Addr;

use vpcsim::pipeline::{Dataplane, DataplaneConfig, Disposition, DropReason, Ingress};
use vpcsim::time::SimTime;
use vpcsim::wire::{self, ProbeL4, TcpFlags};

mod support;
use support::{ACK, SYN, SYNACK};

const TOPOLOGY: &str = concat!(
    support::scenario!("pressure"),
    support::vpc_1!(),
    support::sg_open_all!(),
    support::instance!("i-snat", "10.0.1.11"),
    support::instance!("i-dnat", "10.0.1.20"),
    support::ngw_1!("eip-ngw1"),
);

const NGW: Ipv4Addr = Ipv4Addr::new(47, 1, 2, 1);
const DNAT_HOST: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 20);
const SNAT_HOST: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 11);

struct Net {
    dp: Dataplane,
    snat_guest: Ingress,
    dnat_guest: Ingress,
}

fn net(capacity: usize, snat_per_destination: Option<u32>) -> Net {
    let mut cloud = support::cloud(TOPOLOGY, "pressure.toml");
    if let Some(n) = snat_per_destination {
        cloud.quotas.snat_connections_per_destination = n;
    }
    let support::Net { dp, t } = support::Net::over(
        &cloud,
        DataplaneConfig {
            conntrack_capacity: capacity,
            ..Default::default()
        },
    );
    Net {
        snat_guest: Ingress::Guest(t.instance_index["i-snat"]),
        dnat_guest: Ingress::Guest(t.instance_index["i-dnat"]),
        dp,
    }
}

/// The frames of this file: IP id 1, TCP seq 1 ack 1, no payload.
fn tcp(src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16, flags: u8) -> Vec<u8> {
    let l4 = ProbeL4::Tcp {
        sport,
        dport,
        flags: TcpFlags(flags),
        seq: 1,
        ack: 1,
    };
    support::frame(src, dst, l4).ident(1).build()
}

fn udp(src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16) -> Vec<u8> {
    support::frame(src, dst, ProbeL4::Udp { sport, dport })
        .ident(1)
        .build()
}

impl Net {
    fn send(&mut self, at: Ingress, f: Vec<u8>, now: SimTime) -> (Disposition, Vec<u8>) {
        let mut buf = f;
        vpcsim::pipeline::stamp_sender_mac(self.dp.tables(), at, &mut buf);
        let out = self.dp.process(&mut buf, at, now, None);
        (out.disposition, buf)
    }

    /// A full handshake from an Internet client to the DNAT port: SYN in, SYN-ACK out,
    /// ACK in. Returns whether every packet went through.
    fn establish(&mut self, client: Ipv4Addr, cport: u16, now: SimTime) -> bool {
        let a = self.send(Ingress::Internet, tcp(client, cport, NGW, 2222, SYN), now);
        let b = self.send(
            self.dnat_guest,
            tcp(DNAT_HOST, 22, client, cport, SYNACK),
            now,
        );
        let c = self.send(Ingress::Internet, tcp(client, cport, NGW, 2222, ACK), now);
        matches!(a.0, Disposition::Delivered { .. })
            && b.0 == Disposition::Internet
            && matches!(c.0, Disposition::Delivered { .. })
    }
}

/// The n-th of many distinct Internet sources (never 10/8 nor 47/8).
fn source(n: u32) -> Ipv4Addr {
    Ipv4Addr::from(0x6400_0000u32 + n) // 100.0.0.0 upward
}

/// Distinct sources in the SYN flood: a million in release builds, fewer in debug so
/// `cargo test` stays quick; the bound on memory is the same either way.
const FLOOD: u32 = if cfg!(debug_assertions) {
    150_000
} else {
    1_000_000
};

#[test]
fn syn_flood_from_many_sources_keeps_memory_bounded_and_established_flows_alive() {
    const CAP: usize = 10_000;
    let mut n = net(CAP, None);
    let t0 = SimTime::from_secs(1);
    let clients: Vec<Ipv4Addr> = (0..500u32)
        .map(|i| Ipv4Addr::from(0xc633_6400u32 + i))
        .collect();
    for (i, c) in clients.iter().enumerate() {
        assert!(n.establish(*c, 40000 + i as u16, t0), "handshake {i}");
    }
    assert_eq!(n.dp.connections(), clients.len());
    // The flood: one SYN from each of FLOOD distinct sources to the DNAT port, within
    // one simulated second (nothing times out; only eviction can make room).
    let mut delivered = 0u64;
    for i in 0..FLOOD {
        let now = SimTime::from_millis(1_000 + u64::from(i) / (FLOOD as u64 / 1000).max(1));
        let (d, _) = n.send(
            Ingress::Internet,
            tcp(source(i), 1024 + (i % 60000) as u16, NGW, 2222, SYN),
            now,
        );
        match d {
            Disposition::Delivered { .. } => delivered += 1,
            other => panic!("SYN {i}: {other:?}"),
        }
        if i % 4096 == 0 {
            assert!(
                n.dp.connections() <= CAP,
                "{} connections",
                n.dp.connections()
            );
        }
    }
    assert!(n.dp.connections() <= CAP);
    let stats = n.dp.conntrack().stats();
    let expected_evictions = u64::from(FLOOD) - (CAP - clients.len()) as u64;
    assert_eq!(stats.evictions, expected_evictions, "{stats:?}");
    assert_eq!(stats.refused_full, 0);
    assert_eq!(delivered, u64::from(FLOOD));
    // Every established flow still works, both ways, on the fast path.
    let now = SimTime::from_secs(3);
    let fast = n.dp.counters.fast_path;
    for (i, c) in clients.iter().enumerate() {
        let (d, f) = n.send(
            Ingress::Internet,
            tcp(*c, 40000 + i as u16, NGW, 2222, ACK),
            now,
        );
        assert!(matches!(d, Disposition::Delivered { .. }), "{d:?}");
        assert_eq!(wire::parse(&f).unwrap().dst, DNAT_HOST);
        let (d, f) = n.send(
            n.dnat_guest,
            tcp(DNAT_HOST, 22, *c, 40000 + i as u16, ACK),
            now,
        );
        assert_eq!(d, Disposition::Internet);
        assert_eq!(wire::parse(&f).unwrap().src, NGW);
    }
    assert_eq!(n.dp.counters.fast_path - fast, 2 * clients.len() as u64);
    assert_eq!(n.dp.counters.total_dropped(), 0);
}

#[test]
fn a_table_full_of_established_flows_refuses_new_ones_and_counts_them() {
    const CAP: usize = 300;
    let mut n = net(CAP, None);
    let t0 = SimTime::from_secs(1);
    for i in 0..CAP as u32 {
        assert!(n.establish(source(i), 50000, t0));
    }
    assert_eq!(n.dp.connections(), CAP);
    for i in 0..1000u32 {
        let (d, _) = n.send(
            Ingress::Internet,
            tcp(source(100_000 + i), 1234, NGW, 2222, SYN),
            t0,
        );
        assert_eq!(d, Disposition::Dropped(DropReason::ConntrackFull));
    }
    assert_eq!(n.dp.counters.dropped_by(DropReason::ConntrackFull), 1000);
    assert_eq!(n.dp.conntrack().stats().refused_full, 1000);
    assert_eq!(n.dp.connections(), CAP);
    // The established flows are untouched.
    let (d, _) = n.send(Ingress::Internet, tcp(source(7), 50000, NGW, 2222, ACK), t0);
    assert!(matches!(d, Disposition::Delivered { .. }));
    // Once they time out (established TCP: hours), new flows get in again.
    let later = SimTime::from_secs(10 * 24 * 3600);
    n.dp.expire(later);
    assert_eq!(n.dp.connections(), 0);
    let (d, _) = n.send(
        Ingress::Internet,
        tcp(source(200_000), 1234, NGW, 2222, SYN),
        later,
    );
    assert!(matches!(d, Disposition::Delivered { .. }));
}

#[test]
fn snat_port_exhaustion_is_counted_and_recovers_after_expiry() {
    const PER_DEST: u32 = 500;
    let mut n = net(10_000, Some(PER_DEST));
    let server = Ipv4Addr::new(203, 0, 113, 53);
    let t0 = SimTime::from_secs(1);
    let mut ports = std::collections::HashSet::new();
    let mut ok = 0;
    for sport in 0..2000u16 {
        let (d, f) = n.send(n.snat_guest, udp(SNAT_HOST, 10_000 + sport, server, 53), t0);
        match d {
            Disposition::Internet => {
                ok += 1;
                let i = wire::parse(&f).unwrap();
                assert_eq!(i.src, NGW);
                assert!(ports.insert(i.ports().0), "SNAT port reused while live");
            }
            Disposition::Dropped(DropReason::SnatPortsExhausted) => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(ok, PER_DEST);
    assert_eq!(
        n.dp.counters.dropped_by(DropReason::SnatPortsExhausted),
        u64::from(2000 - PER_DEST)
    );
    assert!(n.dp.connections() <= PER_DEST as usize);
    // Another destination has its own ports.
    let (d, _) = n.send(
        n.snat_guest,
        udp(SNAT_HOST, 9, Ipv4Addr::new(203, 0, 113, 54), 53),
        t0,
    );
    assert_eq!(d, Disposition::Internet);
    // After the UDP timeout the sessions expire and their ports come back.
    let later = SimTime::from_secs(3600);
    n.dp.expire(later);
    let (d, _) = n.send(n.snat_guest, udp(SNAT_HOST, 30_000, server, 53), later);
    assert_eq!(d, Disposition::Internet);
}

#[test]
fn fragment_flood_keeps_reassembly_memory_bounded() {
    let mut n = net(1000, None);
    let limits = vpcsim::pipeline::FragLimits::default();
    // 50,000 orphan non-first fragments of distinct datagrams, from many sources.
    for i in 0..50_000u32 {
        let mut f = udp(source(i), 1, NGW, 2222);
        f[20] = 0x00;
        f[21] = 0x10; // offset 128 bytes, last fragment
        f[24] = 0;
        f[25] = 0;
        let c = wire::checksum::checksum(&f[14..34]);
        f[24..26].copy_from_slice(&c.to_be_bytes());
        let (d, _) = n.send(Ingress::Internet, f, SimTime::from_millis(u64::from(i)));
        assert!(
            matches!(
                d,
                Disposition::Held | Disposition::Dropped(DropReason::Fragment)
            ),
            "{d:?}"
        );
        assert!(n.dp.fragments().datagrams() <= limits.max_datagrams);
        assert!(n.dp.fragments().held_bytes() <= limits.max_held_bytes);
    }
    let c = &n.dp.counters;
    let held_now = n.dp.fragments().datagrams() as u64;
    assert_eq!(c.fragments_held, 50_000);
    assert_eq!(c.dropped_by(DropReason::Fragment) + held_now, 50_000);
    n.dp.expire(SimTime::from_secs(1000));
    assert_eq!(n.dp.fragments().held_bytes(), 0);
    assert_eq!(n.dp.counters.dropped_by(DropReason::Fragment), 50_000);
}
