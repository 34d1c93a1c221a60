//! `Dataplane::reset`: a data plane that carried traffic and was reset answers exactly as
//! a new one with the same tables and configuration — same rewritten frames, outcomes,
//! traces, counters and connections — on the same packets. `vpcsim serve` relies on it
//! to reuse one data plane between questions.

use std::net::Ipv4Addr;
use std::sync::Arc;

use vpcsim::compile::Tables;
use vpcsim::pipeline::{
    Dataplane, DataplaneConfig, Disposition, Ingress, Outcome, Trace, INTERNET_MAC, VROUTER_MAC,
};
use vpcsim::scenario::Scenario;
use vpcsim::time::SimTime;
use vpcsim::wire::{self, ProbeL4, ProbeSpec, TcpFlags};

const SERVER: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 80);
const SNAT_EIP: Ipv4Addr = Ipv4Addr::new(47, 96, 100, 1);

/// The built-in scenario after every step: i-web leaves by the NAT gateway's SNAT EIP.
fn tables() -> Arc<Tables> {
    let sc = Scenario::load(None).unwrap();
    Tables::compile(&sc.state_after(sc.steps.len()), 1)
}

/// A slice of 3 SNAT ports (16384, 32768, 49152): two flows to one destination collide
/// on their hinted port one time in three, so a colliding pair is found in a few tries.
fn config() -> DataplaneConfig {
    DataplaneConfig {
        conntrack_capacity: 64,
        worker: 0,
        workers: 16384,
        ..Default::default()
    }
}

fn i_web(t: &Tables) -> (Ingress, Ipv4Addr, [u8; 6]) {
    let i = t.instance_index["i-web"];
    let at = Ingress::Guest(i);
    let inst = &t.instances[i as usize];
    let eth0 = t.eni(inst.devices[0]);
    (at, eth0.private_ips[0], eth0.mac)
}

fn tcp(
    mac: [u8; 6],
    src: Ipv4Addr,
    sport: u16,
    dst: Ipv4Addr,
    dport: u16,
    flags: TcpFlags,
) -> Vec<u8> {
    wire::build(&ProbeSpec {
        src_mac: mac,
        dst_mac: VROUTER_MAC,
        src,
        dst,
        ttl: 64,
        ident: 7,
        l4: ProbeL4::Tcp {
            sport,
            dport,
            flags,
            seq: 1,
            ack: 1,
        },
        payload: b"hello".to_vec(),
    })
}

/// What one packet became: the frame after the data plane, the outcome and the trace.
type Answer = (Vec<u8>, Outcome, Vec<String>);

fn send(dp: &mut Dataplane, mut frame: Vec<u8>, at: Ingress, traced: bool) -> Answer {
    let mut trace = Trace::default();
    let out = dp.process(
        &mut frame,
        at,
        SimTime::from_secs(1),
        traced.then_some(&mut trace),
    );
    (frame, out, trace.lines())
}

/// The SNAT source port a packet left with.
fn snat_port(a: &Answer) -> u16 {
    assert_eq!(a.1.disposition, Disposition::Internet, "{:?}", a.2);
    let info = wire::parse(&a.0).unwrap();
    assert_eq!(info.src, SNAT_EIP);
    info.ports().0
}

/// The questions asked after the reset: a SNAT connection (SYN out, SYN-ACK back,
/// ACK out on the fast path), a dropped packet, and the first fragment of a datagram
/// whose second fragment the dirty data plane holds.
fn questions(t: &Tables, dp: &mut Dataplane) -> (Vec<Answer>, vpcsim::pipeline::Counters) {
    let (at, src, mac) = i_web(t);
    let mut answers = vec![];
    let syn = send(
        dp,
        tcp(mac, src, 40000, SERVER, 443, TcpFlags::SYN),
        at,
        true,
    );
    let port = snat_port(&syn);
    answers.push(syn);
    let synack = tcp(
        INTERNET_MAC,
        SERVER,
        443,
        SNAT_EIP,
        port,
        TcpFlags::SYN | TcpFlags::ACK,
    );
    answers.push(send(dp, synack, Ingress::Internet, true));
    answers.push(send(
        dp,
        tcp(mac, src, 40000, SERVER, 443, TcpFlags::ACK),
        at,
        false,
    ));
    answers.push(send(
        dp,
        tcp(INTERNET_MAC, SERVER, 5, SNAT_EIP, 9, TcpFlags::SYN),
        Ingress::Internet,
        true,
    ));
    let [first, _] = udp_datagram(mac, src);
    answers.push(send(dp, first, at, false));
    (answers, dp.counters.clone())
}

/// A UDP datagram from i-web in two fragments.
fn udp_datagram(mac: [u8; 6], src: Ipv4Addr) -> [Vec<u8>; 2] {
    let mut d = wire::build(&ProbeSpec {
        src_mac: mac,
        dst_mac: VROUTER_MAC,
        src,
        dst: SERVER,
        ttl: 64,
        ident: 99,
        l4: ProbeL4::Udp {
            sport: 5353,
            dport: 53,
        },
        payload: vec![0x5a; 200],
    });
    wire::set_dont_fragment(&mut d, false);
    let info = wire::parse(&d).unwrap();
    let mut f = wire::fragment(&d, &info, 140).unwrap();
    assert_eq!(f.len(), 2);
    let second = f.pop().unwrap();
    [f.pop().unwrap(), second]
}

#[test]
fn a_reset_data_plane_answers_exactly_as_a_new_one_even_where_an_old_snat_port_would_collide() {
    let t = tables();
    let (at, src, mac) = i_web(&t);
    let (fresh, fresh_counters) = questions(&t, &mut Dataplane::new(Arc::clone(&t), config()));
    let port = snat_port(&fresh[0]);

    // Dirty a data plane: a flow from another source port of i-web that took the port
    // the question's flow gets on a new data plane, plus a held fragment.
    let dirty = |dp: &mut Dataplane| -> bool {
        for sport in 41000..41100 {
            let a = send(
                dp,
                tcp(mac, src, sport, SERVER, 443, TcpFlags::SYN),
                at,
                false,
            );
            if snat_port(&a) == port {
                let [_, second] = udp_datagram(mac, src);
                let held = send(dp, second, at, false);
                assert_eq!(held.1.disposition, Disposition::Held);
                return true;
            }
            // Not the port we want: forget it and try the next source port.
            dp.reset();
        }
        false
    };

    // Control: without the reset, the question's flow gets another port, and the
    // answers differ — so the comparison below can fail.
    let mut kept = Dataplane::new(Arc::clone(&t), config());
    assert!(dirty(&mut kept), "no source port collided with {port}");
    let (stale, _) = questions(&t, &mut kept);
    assert_ne!(snat_port(&stale[0]), port, "the collision did not happen");

    let mut dp = Dataplane::new(Arc::clone(&t), config());
    assert!(dirty(&mut dp));
    assert!(dp.connections() > 0 && dp.fragments().datagrams() > 0);
    dp.reset();
    assert_eq!(dp.connections(), 0);
    assert_eq!(dp.fragments().datagrams(), 0);
    assert_eq!(dp.counters, Default::default());
    let (again, again_counters) = questions(&t, &mut dp);
    assert_eq!(snat_port(&again[0]), port);
    assert_eq!(again.len(), fresh.len());
    for (i, (a, f)) in again.iter().zip(&fresh).enumerate() {
        assert_eq!(a.0, f.0, "question {i}: the frame after the data plane");
        assert_eq!(a.1, f.1, "question {i}: the outcome");
        assert_eq!(a.2, f.2, "question {i}: the trace");
    }
    assert_eq!(again_counters, fresh_counters);
    // The held fragment of the dirty run was forgotten, not released by the first one.
    assert!(again[4].1.released.is_empty());
}

#[test]
fn reset_keeps_the_tables_and_a_full_table_accepts_connections_again() {
    let t = tables();
    let (at, src, mac) = i_web(&t);
    let cfg = DataplaneConfig {
        conntrack_capacity: 4,
        ..Default::default()
    };
    let mut dp = Dataplane::new(Arc::clone(&t), cfg);
    for sport in 42000..42016 {
        send(
            &mut dp,
            tcp(mac, src, sport, SERVER, 443, TcpFlags::SYN),
            at,
            false,
        );
    }
    assert_eq!(dp.connections(), 4);
    dp.reset();
    assert!(Arc::ptr_eq(dp.tables(), &t));
    assert_eq!(dp.conntrack().capacity(), 4);
    assert_eq!(dp.conntrack().stats(), Default::default());
    for sport in 43000..43004 {
        let a = send(
            &mut dp,
            tcp(mac, src, sport, SERVER, 443, TcpFlags::SYN),
            at,
            false,
        );
        assert_eq!(a.1.disposition, Disposition::Internet);
    }
    assert_eq!(dp.connections(), 4);
}

#[test]
fn reset_gives_back_the_snat_ports_counted_against_a_destination() {
    let sc = Scenario::load(None).unwrap();
    let mut cloud = sc.state_after(sc.steps.len());
    // One connection per destination: the second flow to the server needs the port
    // count of the first to be forgotten.
    cloud.quotas.snat_connections_per_destination = 1;
    let t = Tables::compile(&cloud, 1);
    let (at, src, mac) = i_web(&t);
    let mut dp = Dataplane::new(Arc::clone(&t), config());
    let syn = |sport| tcp(mac, src, sport, SERVER, 443, TcpFlags::SYN);
    assert_eq!(
        send(&mut dp, syn(44000), at, false).1.disposition,
        Disposition::Internet
    );
    assert_eq!(
        send(&mut dp, syn(44001), at, false).1.disposition,
        Disposition::Dropped(vpcsim::pipeline::DropReason::SnatPortsExhausted)
    );
    dp.reset();
    assert_eq!(
        send(&mut dp, syn(44001), at, false).1.disposition,
        Disposition::Internet
    );
}
