//! The malformed-input table of docs/MALFORMED.md, frame by frame: each class of bad
//! frame through the whole pipeline, with the exact disposition and drop reason vpcsim
//! gives it, and the counter that records it. (Captures: `src/pcapio/tests.rs`;
//! scenario files: `tests/scenario_errors.rs`; parser details: `src/wire/frame.rs`.)

use std::net::Ipv4Addr;

use vpcsim::compile::Tables;
use vpcsim::fuzzing::fix_checksums;
use vpcsim::pipeline::{Dataplane, DataplaneConfig, Disposition, DropReason, Ingress};
use vpcsim::scenario::Scenario;
use vpcsim::time::SimTime;
use vpcsim::wire::{self, ProbeL4, ProbeSpec, TcpFlags, L4};

const TOPOLOGY: &str = r#"
[scenario]
name = "malformed"

[[vpcs]]
id = "vpc-1"
cidr = "10.0.0.0/16"

[[vswitches]]
id = "vsw-a"
vpc = "vpc-1"
zone = "z-a"
cidr = "10.0.1.0/24"

[[security_groups]]
id = "sg-open"
vpc = "vpc-1"
rules = [ { direction = "ingress", protocol = "all", cidr = "0.0.0.0/0" } ]

[[instances]]
id = "i-eip"
vswitch = "vsw-a"
private_ip = "10.0.1.10"
security_groups = ["sg-open"]

[[eips]]
id = "eip-inst"
address = "47.1.1.10"
bind = { type = "EcsInstance", id = "i-eip" }
"#;

const EIP: Ipv4Addr = Ipv4Addr::new(47, 1, 1, 10);
const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);

fn dp() -> Dataplane {
    let sc = Scenario::parse(TOPOLOGY, "malformed.toml").unwrap_or_else(|e| panic!("{e}"));
    Dataplane::new(
        Tables::compile(&sc.initial, 1),
        DataplaneConfig {
            conntrack_capacity: 1024,
            ..Default::default()
        },
    )
}

fn probe(l4: ProbeL4, payload: &[u8], ttl: u8) -> Vec<u8> {
    wire::build(&ProbeSpec {
        src_mac: [2, 0, 0, 0, 0, 1],
        dst_mac: [2, 0, 0, 0, 0, 2],
        src: CLIENT,
        dst: EIP,
        ttl,
        ident: 9,
        l4,
        payload: payload.to_vec(),
    })
}

fn tcp() -> Vec<u8> {
    probe(
        ProbeL4::Tcp {
            sport: 40000,
            dport: 22,
            flags: TcpFlags::SYN,
            seq: 1,
            ack: 0,
        },
        b"hello",
        64,
    )
}

fn udp() -> Vec<u8> {
    probe(
        ProbeL4::Udp {
            sport: 5000,
            dport: 53,
        },
        b"q",
        64,
    )
}

/// Sets the IPv4 total length and fixes the header checksum.
fn total_len(mut f: Vec<u8>, n: u16) -> Vec<u8> {
    f[16..18].copy_from_slice(&n.to_be_bytes());
    fix_ip(f)
}

fn fix_ip(mut f: Vec<u8>) -> Vec<u8> {
    let ihl = usize::from(f[14] & 0xf) * 4;
    f[24] = 0;
    f[25] = 0;
    let c = wire::checksum::checksum(&f[14..14 + ihl]);
    f[24..26].copy_from_slice(&c.to_be_bytes());
    f
}

/// Expected disposition: `Ok(true)` forwarded (delivered), `Err(reason)` dropped.
type Want = Result<(), DropReason>;

fn cases() -> Vec<(&'static str, Vec<u8>, Want)> {
    use DropReason::*;
    let mut v: Vec<(&'static str, Vec<u8>, Want)> = vec![
        ("empty frame", vec![], Err(MalformedFrame)),
        (
            "truncated Ethernet header (13 bytes)",
            tcp()[..13].to_vec(),
            Err(MalformedFrame),
        ),
        (
            "truncated IPv4 header (10 of 20 bytes)",
            tcp()[..24].to_vec(),
            Err(MalformedFrame),
        ),
        (
            "truncated mid-payload (total length beyond the frame)",
            tcp()[..50].to_vec(),
            Err(MalformedFrame),
        ),
    ];
    let mut f = tcp();
    f[12..14].copy_from_slice(&[0x86, 0xdd]);
    v.push(("IPv6 EtherType", f, Err(UnsupportedEthertypeIpv6)));
    let mut f = tcp();
    f[12..14].copy_from_slice(&[0x08, 0x06]);
    v.push(("ARP EtherType (from the Internet edge)", f, Err(ArpIgnored)));
    let mut f = tcp();
    f.splice(12..12, [0x81, 0x00, 0x00, 0x05]);
    v.push(("802.1Q VLAN tag", f, Err(UnsupportedEthertypeVlan)));
    let mut f = tcp();
    f.splice(12..12, [0x88, 0xa8, 0x00, 0x05, 0x81, 0x00, 0x00, 0x06]);
    v.push(("802.1ad QinQ tags", f, Err(UnsupportedEthertypeVlan)));
    let mut f = tcp();
    f[14] = 0x65;
    v.push((
        "IP version 6 in an IPv4 EtherType",
        fix_ip(f),
        Err(MalformedFrame),
    ));
    let mut f = tcp();
    f[14] = 0x44;
    v.push(("IHL 4 (< 5)", f, Err(MalformedFrame)));
    let mut f = tcp();
    f[14] = 0x46;
    f.splice(34..34, [0x01, 0x01, 0x01, 0x00]); // NOP NOP NOP EOL
    let n = u16::from_be_bytes([f[16], f[17]]) + 4;
    v.push(("IPv4 options (IHL 6)", total_len(f, n), Err(Ipv4Options)));
    v.push((
        "total length 19 (< 20)",
        total_len(tcp(), 19),
        Err(MalformedFrame),
    ));
    let n = (tcp().len() - 14 + 1) as u16;
    v.push((
        "total length one past the frame",
        total_len(tcp(), n),
        Err(MalformedFrame),
    ));
    let mut f = tcp();
    f[24] ^= 0xff;
    v.push(("bad IPv4 header checksum", f, Err(MalformedFrame)));
    let mut f = tcp();
    let n = u16::from_be_bytes([f[16], f[17]]) - 5; // cut the 5-byte payload
    f = total_len(f, n);
    v.push((
        "Ethernet padding after total length (forwarded; padding kept)",
        f,
        Ok(()),
    ));
    v.push((
        "TCP header cut to 12 bytes",
        total_len(tcp(), 32),
        Err(MalformedFrame),
    ));
    let mut f = tcp();
    f[46] = 0x40; // data offset 4
    v.push(("TCP data offset 4 (< 5)", f, Err(MalformedFrame)));
    let mut f = tcp();
    f[46] = 0xf0; // data offset 15 = 60 bytes, beyond the packet
    v.push(("TCP data offset past the packet", f, Err(MalformedFrame)));
    v.push((
        "UDP header cut to 4 bytes",
        total_len(udp(), 24),
        Err(MalformedFrame),
    ));
    let echo = probe(
        ProbeL4::IcmpEcho {
            request: true,
            ident: 3,
            seq: 1,
        },
        b"",
        64,
    );
    v.push((
        "ICMP header cut to 4 bytes",
        total_len(echo, 24),
        Err(MalformedFrame),
    ));
    let mut f = tcp();
    f[50] ^= 0x55; // TCP checksum
    v.push((
        "bad TCP checksum (forwarded: routers do not verify L4)",
        f,
        Ok(()),
    ));
    let mut f = tcp();
    f[23] = 47; // GRE
    v.push((
        "unmodelled protocol (GRE, forwarded by `all` rules)",
        fix_ip(f),
        Ok(()),
    ));
    let f = probe(
        ProbeL4::Tcp {
            sport: 40000,
            dport: 22,
            flags: TcpFlags::SYN,
            seq: 1,
            ack: 0,
        },
        b"",
        1,
    );
    v.push(("TTL 1 (expires at the first hop)", f, Err(TtlExceeded)));
    // An ICMP error about a flow vpcsim never saw.
    let orig = probe(
        ProbeL4::Udp {
            sport: 53,
            dport: 9999,
        },
        b"",
        64,
    );
    let info = wire::parse(&orig).unwrap();
    let err = wire::icmp_error(
        &orig,
        &info,
        wire::IcmpErrorKind::DestUnreachable { code: 3 },
        CLIENT,
        [2, 0, 0, 0, 0, 3],
        [2, 0, 0, 0, 0, 4],
    )
    .unwrap();
    // From the client, about a packet "EIP → client" that was never sent.
    let mut about = err.clone();
    about[26..30].copy_from_slice(&CLIENT.octets());
    about[30..34].copy_from_slice(&EIP.octets());
    let about = fix_ip(about);
    v.push((
        "ICMP error about no known flow",
        about.clone(),
        Err(IcmpErrorNoFlow),
    ));
    // The same error with only 4 bytes of the embedded UDP header: no ports to match,
    // so it is an ordinary (non-error) ICMP message to the EIP's instance.
    let n = u16::from_be_bytes([about[16], about[17]]) - 4;
    let mut short = about[..about.len() - 4].to_vec();
    short = total_len(short, n);
    fix_checksums(&mut short);
    assert!(matches!(
        wire::parse(&short).unwrap().l4,
        L4::IcmpOther { .. }
    ));
    v.push((
        "ICMP error with a short embedded header (treated as other ICMP)",
        short,
        Ok(()),
    ));
    // A non-first fragment with no first fragment: held, then dropped on timeout.
    let mut f = udp();
    f[20..22].copy_from_slice(&[0x00, 0x10]);
    v.push((
        "orphan non-first fragment (held, dropped after 30 s)",
        fix_ip(f),
        Err(Fragment),
    ));
    let mut f = udp();
    f[20..22].copy_from_slice(&[0x20, 0x00]);
    v.push(("first fragment alone (normal path)", fix_ip(f), Ok(())));
    v
}

#[test]
fn every_class_of_bad_frame_gets_its_documented_answer() {
    for (what, frame, want) in cases() {
        let mut d = dp();
        let mut buf = frame.clone();
        let out = d.process(&mut buf, Ingress::Internet, SimTime::from_secs(1), None);
        let got = match out.disposition {
            Disposition::Held => {
                // Held fragments are counted as dropped when they time out.
                d.expire(SimTime::from_secs(60));
                Err(DropReason::Fragment)
            }
            Disposition::Dropped(r) => Err(r),
            Disposition::Delivered { .. } => Ok(()),
            Disposition::Internet => panic!("{what}: to the Internet?"),
        };
        assert_eq!(got, want, "{what}");
        if let Err(r) = want {
            assert_eq!(d.counters.dropped_by(r), 1, "{what}: counted once");
            assert_eq!(d.counters.total_dropped(), 1, "{what}: counted once");
        } else {
            let after = wire::parse(&buf).expect("forwarded frames parse");
            assert_eq!(after.dst, Ipv4Addr::new(10, 0, 1, 10), "{what}");
            if wire::checksums_valid(&frame).is_ok() {
                wire::checksums_valid(&buf).unwrap_or_else(|e| panic!("{what}: {e}"));
            } else {
                // A wrong L4 checksum stays exactly as wrong (incremental updates).
                assert_eq!(
                    wire::checksums_valid(&frame),
                    wire::checksums_valid(&buf),
                    "{what}"
                );
            }
            assert_eq!(buf.len(), frame.len(), "{what}: padding and length kept");
        }
    }
}
