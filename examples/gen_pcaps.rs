//! Generates the input captures of the pcap regression suite (`pcaps/`) and its
//! manifest `pcaps/suite.toml`, one case per data-plane path of SEMANTICS.md §3.
//!
//!     cargo run --example gen_pcaps            # rewrites pcaps/*.in.*.pcap + suite.toml
//!     VPCSIM_BLESS=1 cargo test --test pcap_regression   # then the expected outputs
//!
//! Frames are built with vpcsim's own `wire::build`. A flow's return (a reply to a SNAT'd
//! packet, whose port the NAT gateway picks) is built from what the simulator emitted
//! for the outbound packet, so the generator runs the topology alongside.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use vpcsim::compile::Tables;
use vpcsim::pcapio::PcapWriter;
use vpcsim::pipeline::{Dataplane, DataplaneConfig, Disposition, INTERNET_MAC, VROUTER_MAC};
use vpcsim::replay::parse_at;
use vpcsim::time::SimTime;
use vpcsim::wire::{self, IcmpErrorKind, ProbeL4, ProbeSpec, TcpFlags};

const BASE_TS: u64 = 1_700_000_000 * 1_000_000_000;
const CLIENT: &str = "198.51.100.7";
const SERVER: &str = "203.0.113.80";

struct Case {
    name: &'static str,
    what: &'static str,
    dp: Dataplane,
    t: Arc<Tables>,
    ts: u64,
    /// endpoint → (ts, frame), in order.
    inputs: BTreeMap<String, Vec<(u64, Vec<u8>)>>,
    order: Vec<String>,
}

impl Case {
    fn new(name: &'static str, what: &'static str, t: &Arc<Tables>) -> Case {
        Case {
            name,
            what,
            dp: Dataplane::new(Arc::clone(t), DataplaneConfig::default()),
            t: Arc::clone(t),
            ts: BASE_TS,
            inputs: BTreeMap::new(),
            order: vec![],
        }
    }

    fn mac_of(&self, at: &str) -> [u8; 6] {
        if at.starts_with("internet") {
            return INTERNET_MAC;
        }
        if let Some(e) = self.t.eni_index.get(at) {
            return self.t.eni(*e).mac;
        }
        let i = self.t.instance_index[at];
        self.t.eni(self.t.instances[i as usize].devices[0]).mac
    }

    /// Records `frame` as sent at `at` 10 ms after the previous one, runs it, and
    /// returns the frame as it came out (or None if dropped).
    fn send(&mut self, at: &str, frame: Vec<u8>) -> Option<Vec<u8>> {
        self.ts += 10_000_000;
        let ing = parse_at(at, &self.t).expect("endpoint");
        if !self.inputs.contains_key(at) {
            self.order.push(at.to_string());
        }
        self.inputs
            .entry(at.to_string())
            .or_default()
            .push((self.ts, frame.clone()));
        let mut buf = frame;
        let o = self
            .dp
            .process(&mut buf, ing, SimTime(self.ts - BASE_TS), None);
        (!matches!(o.disposition, Disposition::Dropped(_))).then_some(buf)
    }

    fn build(
        &self,
        at: &str,
        src: &str,
        dst: &str,
        ttl: u8,
        l4: ProbeL4,
        payload: &[u8],
    ) -> Vec<u8> {
        wire::build(&ProbeSpec {
            src_mac: self.mac_of(at),
            dst_mac: VROUTER_MAC,
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            ttl,
            ident: 0x1000 + self.ts as u16 % 0x1000,
            l4,
            payload: payload.to_vec(),
        })
    }

    /// The receiver's answer to `got` (as delivered / as seen on the Internet), sent at `at`.
    fn answer(&mut self, at: &str, got: &[u8], payload: &[u8]) -> Option<Vec<u8>> {
        let i = wire::parse(got).ok()?;
        let l4 = vpcsim::probe::reply_l4(&i, 7000)?;
        let f = self.build(at, &i.dst.to_string(), &i.src.to_string(), 64, l4, payload);
        self.send(at, f)
    }
}

fn syn(sport: u16, dport: u16) -> ProbeL4 {
    ProbeL4::Tcp {
        sport,
        dport,
        flags: TcpFlags::SYN,
        seq: 1000,
        ack: 0,
    }
}

/// A DNS message for example.com A with these flags (0x0100 query, 0x8180 answer).
fn dns(flags: u16) -> Vec<u8> {
    let mut m = vec![0x12, 0x34];
    m.extend_from_slice(&flags.to_be_bytes());
    m.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
    m.extend_from_slice(b"\x07example\x03com\x00\x00\x01\x00\x01");
    m
}

/// Splits a frame's IPv4 payload into fragments of `chunk` bytes (a multiple of 8).
fn fragment(frame: &[u8], chunk: usize) -> Vec<Vec<u8>> {
    let payload = &frame[34..];
    let n = payload.len().div_ceil(chunk);
    (0..n)
        .map(|i| {
            let part = &payload[i * chunk..((i + 1) * chunk).min(payload.len())];
            let mut f = frame[..34].to_vec();
            f.extend_from_slice(part);
            f[16..18].copy_from_slice(&((20 + part.len()) as u16).to_be_bytes());
            let flags = if i + 1 < n { 0x2000 } else { 0 } | (i * chunk / 8) as u16;
            f[20..22].copy_from_slice(&flags.to_be_bytes());
            f[24..26].copy_from_slice(&[0, 0]);
            let c = wire::checksum::checksum(&f[14..34]);
            f[24..26].copy_from_slice(&c.to_be_bytes());
            f
        })
        .collect()
}

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("pcaps");
    let sc = vpcsim::scenario::Scenario::load(Some(&dir.join("topology.toml"))).expect("topology");
    let t = Tables::compile(&sc.state_after(sc.steps.len()), 1);
    let mut cases = vec![];

    let mut c = Case::new(
        "eip-egress",
        "i-web (EIP 47.96.10.20) opens https and sends data: 1:1 source translation",
        &t,
    );
    let f = c.build("i-web", "192.168.1.10", SERVER, 64, syn(40000, 443), b"");
    let out = c.send("i-web", f).unwrap();
    c.answer(&format!("internet:{SERVER}"), &out, b"");
    let f = c.build(
        "i-web",
        "192.168.1.10",
        SERVER,
        64,
        ProbeL4::Tcp {
            sport: 40000,
            dport: 443,
            flags: TcpFlags::ACK | TcpFlags::PSH,
            seq: 1001,
            ack: 7001,
        },
        b"GET / HTTP/1.1\r\n\r\n",
    );
    c.send("i-web", f);
    cases.push(c);

    let mut c = Case::new("eip-ingress", "ssh from the Internet to i-web's EIP: destination translated to 192.168.1.10, SYN-ACK back from the EIP", &t);
    let f = c.build("internet", CLIENT, "47.96.10.20", 64, syn(50000, 22), b"");
    let got = c.send("internet", f).unwrap();
    c.answer("i-web", &got, b"");
    cases.push(c);

    let mut c = Case::new("snat", "i-app (no public IP) opens https: SNAT to 47.96.100.1, and the server's reply is translated back", &t);
    let f = c.build("i-app", "192.168.1.20", SERVER, 64, syn(40001, 443), b"");
    let out = c.send("i-app", f).unwrap();
    c.answer("internet", &out, b"");
    let f = c.build(
        "i-app",
        "192.168.1.20",
        "8.8.8.8",
        64,
        ProbeL4::Udp {
            sport: 53000,
            dport: 53,
        },
        &dns(0x0100),
    );
    let out = c.send("i-app", f).unwrap();
    c.answer("internet", &out, &dns(0x8180));
    cases.push(c);

    let mut c = Case::new("dnat-port", "port mapping 47.96.100.2:8080 -> 192.168.1.20:80, and the reply leaves from 47.96.100.2:8080", &t);
    let f = c.build("internet", CLIENT, "47.96.100.2", 64, syn(50001, 8080), b"");
    let got = c.send("internet", f).unwrap();
    c.answer("i-app", &got, b"");
    let f = c.build("internet", CLIENT, "47.96.100.2", 64, syn(50002, 9090), b"");
    c.send("internet", f);
    cases.push(c);

    let mut c = Case::new(
        "dnat-ip",
        "IP mapping 47.96.100.3 -> 192.168.1.40 (all ports)",
        &t,
    );
    let f = c.build("internet", CLIENT, "47.96.100.3", 64, syn(50003, 22), b"");
    let got = c.send("internet", f).unwrap();
    c.answer("i-api", &got, b"");
    cases.push(c);

    let mut c = Case::new(
        "cut-through",
        "cut-through ENI: 47.96.10.50 is the ENI's own address, no translation either way",
        &t,
    );
    let f = c.build("internet", CLIENT, "47.96.10.50", 64, syn(50004, 22), b"");
    let got = c.send("internet", f).unwrap();
    c.answer("eni-ct", &got, b"");
    cases.push(c);

    let mut c = Case::new(
        "sg-drop",
        "i-db's group has no ingress rule: ssh and ping to its EIP are dropped (empty output)",
        &t,
    );
    let f = c.build("internet", CLIENT, "47.96.10.30", 64, syn(50005, 22), b"");
    c.send("internet", f);
    let f = c.build(
        "internet",
        CLIENT,
        "47.96.10.30",
        64,
        ProbeL4::IcmpEcho {
            request: true,
            ident: 77,
            seq: 1,
        },
        b"ping",
    );
    c.send("internet", f);
    cases.push(c);

    let mut c = Case::new("hairpin", "i-app connects to i-web's EIP: out through SNAT, back in through the EIP; i-web sees 47.96.100.1", &t);
    let f = c.build(
        "i-app",
        "192.168.1.20",
        "47.96.10.20",
        64,
        syn(40002, 22),
        b"",
    );
    let got = c.send("i-app", f).unwrap();
    c.answer("i-web", &got, b"");
    cases.push(c);

    let mut c = Case::new(
        "icmp-echo",
        "ping i-web's EIP from the Internet and the echo reply",
        &t,
    );
    let f = c.build(
        "internet",
        CLIENT,
        "47.96.10.20",
        64,
        ProbeL4::IcmpEcho {
            request: true,
            ident: 4242,
            seq: 1,
        },
        b"abcdefgh",
    );
    let got = c.send("internet", f).unwrap();
    c.answer("i-web", &got, b"abcdefgh");
    cases.push(c);

    let mut c = Case::new("icmp-errors", "TTL 1 from i-web: the VPC answers time-exceeded; port unreachable for a SNAT'd UDP flow is translated back (RFC 5508)", &t);
    let f = c.build(
        "i-web",
        "192.168.1.10",
        SERVER,
        1,
        ProbeL4::Udp {
            sport: 33434,
            dport: 33434,
        },
        b"traceroute",
    );
    c.send("i-web", f);
    let f = c.build(
        "i-app",
        "192.168.1.20",
        SERVER,
        64,
        ProbeL4::Udp {
            sport: 41000,
            dport: 33435,
        },
        b"probe",
    );
    let out = c.send("i-app", f).unwrap();
    let info = wire::parse(&out).unwrap();
    let err = wire::icmp_error(
        &out,
        &info,
        IcmpErrorKind::DestUnreachable { code: 3 },
        SERVER.parse().unwrap(),
        INTERNET_MAC,
        VROUTER_MAC,
    )
    .unwrap();
    c.send("internet", err);
    cases.push(c);

    let mut c = Case::new("asymmetric", "ssh to the EIP of i-multi's eth1 arrives; without policy routes the reply leaves via eth0 and is dropped (source check)", &t);
    let f = c.build("internet", CLIENT, "47.96.10.60", 64, syn(50006, 22), b"");
    let got = c.send("internet", f).unwrap();
    c.answer("i-multi", &got, b"");
    cases.push(c);

    let mut c = Case::new("fragments", "IPv4 fragments: a 600-byte UDP datagram from i-app via SNAT, fragments sent last-first (held, then released translated with the first); a fragmented ping to i-web's EIP in order", &t);
    let f = c.build(
        "i-app",
        "192.168.1.20",
        "8.8.8.8",
        64,
        ProbeL4::Udp {
            sport: 53001,
            dport: 9999,
        },
        &[0x5a; 600],
    );
    for part in fragment(&f, 256).into_iter().rev() {
        c.send("i-app", part);
    }
    let f = c.build(
        "internet",
        CLIENT,
        "47.96.10.20",
        64,
        ProbeL4::IcmpEcho {
            request: true,
            ident: 4343,
            seq: 1,
        },
        &[0xa5; 400],
    );
    for part in fragment(&f, 168) {
        c.send("internet", part);
    }
    cases.push(c);

    let mut c = Case::new("mtu", "SEMANTICS.md §5 MTU: a 9000-byte UDP datagram with DF from i-web (EIP) gets ICMP fragmentation-needed with MTU 1500 and nothing leaves; without DF it leaves as 1500-byte fragments translated to the EIP; a 3000-byte one from i-app leaves fragmented through SNAT", &t);
    let udp = ProbeL4::Udp {
        sport: 53002,
        dport: 9999,
    };
    let f = c.build("i-web", "192.168.1.10", SERVER, 64, udp, &[0x42; 8972]);
    c.send("i-web", f);
    let mut f = c.build("i-web", "192.168.1.10", SERVER, 64, udp, &[0x43; 8972]);
    wire::set_dont_fragment(&mut f, false);
    c.send("i-web", f);
    let mut f = c.build("i-app", "192.168.1.20", SERVER, 64, udp, &[0x44; 2972]);
    wire::set_dont_fragment(&mut f, false);
    c.send("i-app", f);
    cases.push(c);

    let mut c = Case::new("arp", "SEMANTICS.md §5 layer 2: i-web asks ARP for the gateway 192.168.1.253 and for i-app; the VSwitch answers both with ee:ff:ff:ff:ff:ff; its gratuitous ARP gets no answer", &t);
    let mac = c.mac_of("i-web");
    for target in ["192.168.1.253", "192.168.1.20", "192.168.1.10"] {
        let req = wire::Arp {
            operation: 1,
            sender_mac: mac,
            sender_ip: "192.168.1.10".parse().unwrap(),
            target_mac: [0; 6],
            target_ip: target.parse().unwrap(),
        };
        c.send("i-web", wire::build_arp(mac, [0xff; 6], &req));
    }
    cases.push(c);

    let mut m = String::from(
        "# The pcap regression suite: generated by `cargo run --example gen_pcaps`; expected\n\
         # outputs blessed with `VPCSIM_BLESS=1 cargo test --test pcap_regression`.\n\
         # Each case replays its inputs (merged by timestamp) through `scenario` and compares\n\
         # the output with `expected`, byte for byte. Same as:\n\
         #   vpcsim replay pcaps/topology.toml --pcap IN --at AT [--pcap IN2 --at AT2] --out OUT --expect EXPECTED\n",
    );
    for c in &cases {
        let _ = write!(
            m,
            "\n[[case]]\nname = \"{}\"\nwhat = \"{}\"\nscenario = \"topology.toml\"\nexpected = \"{}.expected.pcap\"\n",
            c.name, c.what, c.name
        );
        for at in &c.order {
            let file = format!("{}.in.{}.pcap", c.name, at.replace(':', "_"));
            let mut w = PcapWriter::new(std::fs::File::create(dir.join(&file)).unwrap()).unwrap();
            for (ts, f) in &c.inputs[at] {
                w.write_packet(*ts, f).unwrap();
            }
            w.flush().unwrap();
            let _ = write!(m, "[[case.input]]\npcap = \"{file}\"\nat = \"{at}\"\n");
        }
    }
    std::fs::write(dir.join("suite.toml"), m).unwrap();
    println!("wrote {} cases to {}", cases.len(), dir.display());
}
