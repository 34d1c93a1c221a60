//! SEMANTICS.md §5 layer 2: the VSwitch answers ARP for its whole CIDR with
//! `ee:ff:ff:ff:ff:ff` and ignores gratuitous ARP; EtherTypes other than IPv4 and ARP are
//! dropped with a reason that names them; frames whose source MAC is not the ENI's are
//! dropped; ENI MACs come from the scenario. The replay tests run the `vpcsim` binary.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use vpcsim::compile::Tables;
use vpcsim::pcapio::CaptureReader;
use vpcsim::pipeline::{
    Dataplane, DataplaneConfig, Disposition, DropReason, Ingress, Outcome, Trace, VROUTER_MAC,
};
use vpcsim::replay::Output;
use vpcsim::scenario::Scenario;
use vpcsim::time::SimTime;
use vpcsim::wire::{self, Arp, ProbeL4, ProbeSpec, TcpFlags, L4};

mod support;
use support::ip;

const TOPOLOGY: &str = concat!(
    support::scenario!("layer2"),
    support::vpc_1!(),
    r#"[[security_groups]]
id = "sg-open"
vpc = "vpc-1"
rules = [ { direction = "ingress", protocol = "tcp", ports = "1/65535", cidr = "0.0.0.0/0" } ]

[[instances]]
id = "i-a"
vswitch = "vsw-a"
private_ip = "10.0.1.10"
mac = "00:16:3e:0a:00:01"
security_groups = ["sg-open"]

[[instances]]
id = "i-b"
vswitch = "vsw-a"
private_ip = "10.0.1.20"
security_groups = ["sg-open"]

[[enis]]
id = "eni-b1"
vswitch = "vsw-a"
primary_ip = "10.0.1.21"
mac = "00:16:3e:0b:00:02"
security_groups = ["sg-open"]
instance = "i-b"
"#,
);

const A_MAC: [u8; 6] = [0x00, 0x16, 0x3e, 0x0a, 0x00, 0x01];

fn net() -> (Dataplane, Arc<Tables>) {
    let support::Net { dp, t } = support::Net::over(
        &support::cloud(TOPOLOGY, "layer2.toml"),
        DataplaneConfig::default(),
    );
    (dp, t)
}

fn send(dp: &mut Dataplane, at: Ingress, mut f: Vec<u8>) -> (Outcome, Trace) {
    let mut trace = Trace::default();
    let out = dp.process(&mut f, at, SimTime::ZERO, Some(&mut trace));
    (out, trace)
}

fn arp_request(sender_mac: [u8; 6], sender: &str, target: &str) -> Vec<u8> {
    wire::build_arp(
        sender_mac,
        [0xff; 6],
        &Arp {
            operation: 1,
            sender_mac,
            sender_ip: ip(sender),
            target_mac: [0; 6],
            target_ip: ip(target),
        },
    )
}

fn tcp_from_a(dst: &str, flags: u8) -> Vec<u8> {
    let l4 = ProbeL4::Tcp {
        sport: 40000,
        dport: 22,
        flags: TcpFlags(flags),
        seq: 1,
        ack: 0,
    };
    support::frame(ip("10.0.1.10"), ip(dst), l4)
        .macs(A_MAC, VROUTER_MAC)
        .ident(1)
        .build()
}

#[test]
fn l2_every_arp_request_inside_the_vswitch_cidr_is_answered_with_ee_ff_ff_ff_ff_ff() {
    let (mut dp, t) = net();
    let a = Ingress::Guest(t.instance_index["i-a"]);
    // The gateway, another instance, and an address nobody holds: all answered.
    for target in ["10.0.1.253", "10.0.1.20", "10.0.1.99"] {
        let (out, trace) = send(&mut dp, a, arp_request(A_MAC, "10.0.1.10", target));
        assert_eq!(
            out.disposition,
            Disposition::Dropped(DropReason::ArpAnswered),
            "{target}"
        );
        assert_eq!(out.generated.len(), 1, "{target}");
        let (reply, to) = &out.generated[0];
        assert_eq!(
            *to,
            Disposition::Delivered {
                eni: t.eni_index["i-a-eth0"]
            }
        );
        assert_eq!(&reply[..6], &A_MAC, "to the requester");
        assert_eq!(&reply[6..12], &VROUTER_MAC, "from the gateway MAC");
        let r = wire::parse_arp(reply).unwrap();
        assert_eq!(r.operation, 2);
        assert_eq!((r.sender_mac, r.sender_ip), (VROUTER_MAC, ip(target)));
        assert_eq!((r.target_mac, r.target_ip), (A_MAC, ip("10.0.1.10")));
        assert!(trace.lines().join("\n").contains("is-at ee:ff:ff:ff:ff:ff"));
    }
}

#[test]
fn l2_gratuitous_arp_probes_replies_and_requests_outside_the_cidr_are_ignored() {
    let (mut dp, t) = net();
    let a = Ingress::Guest(t.instance_index["i-a"]);
    let mut cases = vec![
        ("gratuitous", arp_request(A_MAC, "10.0.1.10", "10.0.1.10")),
        (
            "probe (RFC 5227)",
            arp_request(A_MAC, "0.0.0.0", "10.0.1.10"),
        ),
        (
            "outside the CIDR",
            arp_request(A_MAC, "10.0.1.10", "10.0.2.1"),
        ),
    ];
    let mut reply = arp_request(A_MAC, "10.0.1.10", "10.0.1.20");
    reply[21] = 2;
    cases.push(("a reply", reply));
    for (what, f) in cases {
        let (out, _) = send(&mut dp, a, f);
        assert_eq!(
            out.disposition,
            Disposition::Dropped(DropReason::ArpIgnored),
            "{what}"
        );
        assert!(out.generated.is_empty(), "{what}: no answer");
    }
}

#[test]
fn l2_vlan_ipv6_and_other_ethertypes_are_dropped_with_a_reason_naming_them() {
    let (mut dp, t) = net();
    let a = Ingress::Guest(t.instance_index["i-a"]);
    let good = tcp_from_a("10.0.1.20", TcpFlags::SYN.0);
    let mut v6 = good.clone();
    v6[12..14].copy_from_slice(&[0x86, 0xdd]);
    let mut q = good.clone();
    q.splice(12..12, [0x81, 0x00, 0x00, 0x05]);
    let mut ad = good.clone();
    ad.splice(12..12, [0x88, 0xa8, 0x00, 0x05, 0x81, 0x00, 0x00, 0x06]);
    let mut lldp = good.clone();
    lldp[12..14].copy_from_slice(&[0x88, 0xcc]);
    for (f, want, text) in [
        (v6, DropReason::UnsupportedEthertypeIpv6, "0x86dd (IPv6)"),
        (
            q,
            DropReason::UnsupportedEthertypeVlan,
            "0x8100 (802.1Q VLAN tag)",
        ),
        (
            ad,
            DropReason::UnsupportedEthertypeVlan,
            "0x88a8 (802.1ad VLAN tag)",
        ),
        (lldp, DropReason::UnsupportedEthertypeOther, "0x88cc (Lldp)"),
    ] {
        let (out, trace) = send(&mut dp, a, f.clone());
        assert_eq!(out.disposition, Disposition::Dropped(want), "{text}");
        assert_ne!(want, DropReason::MalformedFrame);
        assert!(
            trace.lines().join("\n").contains(text),
            "{text}: {:?}",
            trace.lines()
        );
        // The same from the Internet edge.
        let (out, _) = send(&mut dp, Ingress::Internet, f);
        assert_eq!(out.disposition, Disposition::Dropped(want), "{text}");
    }
    assert!(DropReason::UnsupportedEthertypeIpv6.name().contains("ipv6"));
}

#[test]
fn l2_a_frame_whose_source_mac_is_not_the_enis_is_dropped_eni_source_mac() {
    let (mut dp, t) = net();
    let eni = Ingress::Eni(t.eni_index["i-a-eth0"]);
    let mut f = tcp_from_a("10.0.1.20", TcpFlags::SYN.0);
    let (out, _) = send(&mut dp, eni, f.clone());
    assert!(matches!(out.disposition, Disposition::Delivered { .. }));
    // The same flow's next packet from another MAC: refused on the fast path too.
    f[6..12].copy_from_slice(&[0x00, 0x16, 0x3e, 0xff, 0xff, 0xff]);
    let mut buf = f.clone();
    let out = dp.process(&mut buf, eni, SimTime::ZERO, None);
    assert_eq!(
        out.disposition,
        Disposition::Dropped(DropReason::EniSourceMac)
    );
    let (out, trace) = send(&mut dp, eni, f.clone());
    assert_eq!(
        out.disposition,
        Disposition::Dropped(DropReason::EniSourceMac)
    );
    assert!(
        trace
            .lines()
            .join("\n")
            .contains("mac = \"00:16:3e:ff:ff:ff\""),
        "{:?}",
        trace.lines()
    );
    // A guest may send with the MAC of any of its ENIs (its routing picks the device).
    let b = Ingress::Guest(t.instance_index["i-b"]);
    let g = wire::build(&ProbeSpec {
        src_mac: [0x00, 0x16, 0x3e, 0x0b, 0x00, 0x02], // eni-b1 (eth1), not eth0
        dst_mac: VROUTER_MAC,
        src: ip("10.0.1.20"),
        dst: ip("10.0.1.10"),
        ttl: 64,
        ident: 1,
        l4: ProbeL4::Tcp {
            sport: 40001,
            dport: 22,
            flags: TcpFlags::SYN,
            seq: 1,
            ack: 0,
        },
        payload: vec![],
    });
    let mut buf = g.clone();
    let out = dp.process(&mut buf, b, SimTime::ZERO, None);
    assert_eq!(
        out.disposition,
        Disposition::Delivered {
            eni: t.eni_index["i-a-eth0"]
        }
    );
    // ARP with a foreign MAC gets no answer.
    let (out, _) = send(
        &mut dp,
        Ingress::Guest(t.instance_index["i-a"]),
        arp_request([0x02, 1, 2, 3, 4, 5], "10.0.1.10", "10.0.1.253"),
    );
    assert_eq!(
        out.disposition,
        Disposition::Dropped(DropReason::EniSourceMac)
    );
    assert!(out.generated.is_empty());
}

#[test]
fn l2_scenario_macs_reach_the_compiled_tables_and_bad_ones_are_refused_with_their_place() {
    let (_, t) = net();
    assert_eq!(t.eni(t.eni_index["i-a-eth0"]).mac, A_MAC);
    assert_eq!(
        t.eni(t.eni_index["eni-b1"]).mac,
        [0x00, 0x16, 0x3e, 0x0b, 0x00, 0x02]
    );
    // Without `mac`, a deterministic locally administered one.
    let m = t.eni(t.eni_index["i-b-eth0"]).mac;
    assert_eq!(m[0], 0x02);
    assert_eq!(net().1.eni(net().1.eni_index["i-b-eth0"]).mac, m);
    for (bad, why) in [
        ("00:16:3e:0a:00", "six hex octets"),
        ("00:16:3e:0a:00:zz", "not hexadecimal"),
        ("01:00:5e:00:00:01", "multicast"),
        ("ee:ff:ff:ff:ff:ff", "VSwitch gateway"),
        ("00:16:3e:0b:00:02", "is already the MAC of ENI"),
    ] {
        let text = TOPOLOGY.replace("mac = \"00:16:3e:0a:00:01\"", &format!("mac = \"{bad}\""));
        let e = Scenario::parse(&text, "layer2.toml")
            .err()
            .unwrap_or_else(|| panic!("{bad} accepted"));
        let msg = e.to_string();
        assert!(msg.contains(why), "{bad}: {msg}");
        assert!(msg.contains("layer2.toml:"), "{bad}: located: {msg}");
    }
}

// ---------- Through `vpcsim replay` ----------

fn tmp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("vpcsim-l2-{}-{name}", std::process::id()))
}

fn write_pcap(path: &Path, frames: &[Vec<u8>]) {
    let f = std::fs::File::create(path).unwrap();
    let mut o = Output::new(f, false).unwrap();
    for (k, fr) in frames.iter().enumerate() {
        o.write(1_700_000_000_000_000_000 + k as u64 * 1_000_000, fr)
            .unwrap();
    }
    o.flush().unwrap();
}

/// Replays `frames` at `at` with the `vpcsim` binary through pcaps/topology.toml and
/// returns what it wrote.
fn replay(name: &str, at: &str, frames: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let input = tmp(&format!("{name}.in.pcap"));
    let output = tmp(&format!("{name}.out.pcap"));
    write_pcap(&input, frames);
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("pcaps/topology.toml");
    let st = Command::new(env!("CARGO_BIN_EXE_vpcsim"))
        .arg("replay")
        .arg(&scenario)
        .arg("--pcap")
        .arg(&input)
        .args(["--at", at])
        .arg("--out")
        .arg(&output)
        .output()
        .unwrap();
    assert!(
        st.status.code().is_some_and(|c| c <= 1),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let got = CaptureReader::open(&output)
        .unwrap()
        .map(|r| r.unwrap().data)
        .collect();
    let _ = std::fs::remove_file(&input);
    let _ = std::fs::remove_file(&output);
    got
}

fn web_mac() -> [u8; 6] {
    let sc = Scenario::load(Some(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("pcaps/topology.toml"),
    ))
    .unwrap();
    let t = Tables::compile(&sc.initial, 1);
    t.eni(t.eni_index["i-web-eth0"]).mac
}

#[test]
fn replay_an_arp_request_from_an_instance_writes_the_vswitch_reply() {
    let mac = web_mac();
    let got = replay(
        "arp",
        "i-web",
        &[arp_request(mac, "192.168.1.10", "192.168.1.253")],
    );
    assert_eq!(got.len(), 1, "exactly the ARP reply");
    let r = wire::parse_arp(&got[0]).expect("an ARP packet");
    assert_eq!(&got[0][6..12], &VROUTER_MAC);
    assert_eq!(r.operation, 2);
    assert_eq!(
        (r.sender_mac, r.sender_ip),
        (VROUTER_MAC, ip("192.168.1.253"))
    );
    assert_eq!(r.target_mac, mac);
}

#[test]
fn replay_a_9000_byte_df_frame_yields_frag_needed_1500_and_nothing_forwarded() {
    let mac = web_mac();
    let mut f = wire::build(&ProbeSpec {
        src_mac: mac,
        dst_mac: VROUTER_MAC,
        src: ip("192.168.1.10"),
        dst: ip("203.0.113.80"),
        ttl: 64,
        ident: 9,
        l4: ProbeL4::Udp {
            sport: 5000,
            dport: 9999,
        },
        payload: vec![1; 8972],
    });
    let got = replay("df", "i-web", std::slice::from_ref(&f));
    assert_eq!(got.len(), 1, "only the ICMP error");
    let i = wire::parse(&got[0]).unwrap();
    assert!(matches!(
        i.l4,
        L4::IcmpError {
            icmp_type: 3,
            code: 4,
            ..
        }
    ));
    assert_eq!(u16::from_be_bytes([got[0][40], got[0][41]]), 1500);
    assert_eq!(i.dst, ip("192.168.1.10"));
    // Without DF: fragments, each valid and within 1500.
    wire::set_dont_fragment(&mut f, false);
    let got = replay("nodf", "i-web", &[f]);
    assert_eq!(got.len(), 7);
    for g in &got {
        let i = wire::parse(g).unwrap();
        assert!(i.total_len <= 1500);
        assert_eq!(i.src, ip("47.96.10.20"));
        wire::checksums_valid(g).unwrap();
    }
}
