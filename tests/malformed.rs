//! The malformed-input table of docs/MALFORMED.md, frame by frame: each class of bad
//! frame through the whole pipeline, with the exact disposition and drop reason vpcsim
//! gives it, and the counter that records it. (Captures: `src/pcapio/tests.rs`;
//! scenario files: `tests/scenario_errors.rs`; parser details: `src/wire/frame/tests.rs`.)

use std::net::Ipv4Addr;

use vpcsim::fuzzing::fix_checksums;
use vpcsim::pipeline::{Dataplane, DataplaneConfig, Disposition, DropReason, Ingress};
use vpcsim::time::SimTime;
use vpcsim::wire::{self, ProbeL4, TcpFlags, L4};

mod support;
use support::CLIENT;

const TOPOLOGY: &str = concat!(
    support::scenario!("malformed"),
    support::vpc_1!(),
    support::sg_open_all!(),
    support::instance!("i-eip", "10.0.1.10"),
    support::eip!("eip-inst", "47.1.1.10", "EcsInstance", "i-eip"),
);

const EIP: Ipv4Addr = Ipv4Addr::new(47, 1, 1, 10);

fn dp() -> Dataplane {
    let cloud = support::cloud(TOPOLOGY, "malformed.toml");
    let config = DataplaneConfig {
        conntrack_capacity: 1024,
        ..Default::default()
    };
    support::Net::over(&cloud, config).dp
}

/// The TCP header of an SSH connection's first packet.
const SSH_SYN: ProbeL4 = ProbeL4::Tcp {
    sport: 40000,
    dport: 22,
    flags: TcpFlags::SYN,
    seq: 1,
    ack: 0,
};

fn probe(l4: ProbeL4, payload: &[u8], ttl: u8) -> Vec<u8> {
    support::frame(CLIENT, EIP, l4)
        .ttl(ttl)
        .ident(9)
        .payload(payload)
        .build()
}

fn tcp() -> Vec<u8> {
    probe(SSH_SYN, b"hello", 64)
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

/// Expected disposition: `Ok(())` forwarded (delivered), `Err(precise reason)` dropped.
type Want = Result<(), &'static str>;

fn reason(name: &str) -> DropReason {
    // `unsupported_ethertype.ipv6` is a reason of its own; `malformed_frame.x` a category.
    let category = name.split('.').next().unwrap_or(name);
    *DropReason::ALL
        .iter()
        .find(|r| r.name() == name)
        .or_else(|| DropReason::ALL.iter().find(|r| r.name() == category))
        .unwrap_or_else(|| panic!("no drop reason {category}"))
}

fn cases() -> Vec<(&'static str, Vec<u8>, Want)> {
    let mut v: Vec<(&'static str, Vec<u8>, Want)> = vec![
        (
            "empty frame",
            vec![],
            Err("malformed_frame.truncated_ethernet"),
        ),
        (
            "truncated Ethernet header (13 bytes)",
            tcp()[..13].to_vec(),
            Err("malformed_frame.truncated_ethernet"),
        ),
        (
            "truncated IPv4 header (10 of 20 bytes)",
            tcp()[..24].to_vec(),
            Err("malformed_frame.truncated_ipv4"),
        ),
        (
            "truncated mid-payload (total length beyond the frame)",
            tcp()[..50].to_vec(),
            Err("malformed_frame.ipv4_bad_total_length"),
        ),
    ];
    let mut f = tcp();
    f[12..14].copy_from_slice(&[0x86, 0xdd]);
    v.push(("IPv6 EtherType", f, Err("unsupported_ethertype.ipv6")));
    let mut f = tcp();
    f[12..14].copy_from_slice(&[0x08, 0x06]);
    v.push((
        "ARP EtherType (from the Internet edge)",
        f,
        Err("arp_ignored"),
    ));
    let mut f = tcp();
    f.splice(12..12, [0x81, 0x00, 0x00, 0x05]);
    v.push(("802.1Q VLAN tag", f, Err("unsupported_ethertype.vlan")));
    let mut f = tcp();
    f.splice(12..12, [0x88, 0xa8, 0x00, 0x05, 0x81, 0x00, 0x00, 0x06]);
    v.push(("802.1ad QinQ tags", f, Err("unsupported_ethertype.vlan")));
    let mut f = tcp();
    f[14] = 0x65;
    v.push((
        "IP version 6 in an IPv4 EtherType",
        fix_ip(f),
        Err("malformed_frame.ipv4_bad_version"),
    ));
    let mut f = tcp();
    f[14] = 0x44;
    v.push(("IHL 4 (< 5)", f, Err("malformed_frame.ipv4_bad_ihl")));
    // IHL 15 (60 bytes) in a 45-byte packet: a header longer than the packet is a bad
    // IHL, not "options".
    let mut f = tcp();
    f[14] = 0x4f;
    v.push((
        "IHL 15, longer than the packet",
        f,
        Err("malformed_frame.ipv4_bad_ihl"),
    ));
    let mut f = tcp();
    f[14] = 0x46;
    f.splice(34..34, [0x01, 0x01, 0x01, 0x00]); // NOP NOP NOP EOL
    let n = u16::from_be_bytes([f[16], f[17]]) + 4;
    v.push(("IPv4 options (IHL 6)", total_len(f, n), Err("ipv4_options")));
    v.push((
        "total length 19 (< 20)",
        total_len(tcp(), 19),
        Err("malformed_frame.ipv4_bad_total_length"),
    ));
    let n = (tcp().len() - 14 + 1) as u16;
    v.push((
        "total length one past the frame",
        total_len(tcp(), n),
        Err("malformed_frame.ipv4_bad_total_length"),
    ));
    let mut f = tcp();
    f[24] ^= 0xff;
    v.push((
        "bad IPv4 header checksum",
        f,
        Err("malformed_frame.ipv4_bad_checksum"),
    ));
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
        Err("malformed_frame.truncated_l4"),
    ));
    let mut f = tcp();
    f[46] = 0x40; // data offset 4
    v.push((
        "TCP data offset 4 (< 5)",
        f,
        Err("malformed_frame.tcp_bad_data_offset"),
    ));
    let mut f = tcp();
    f[46] = 0xf0; // data offset 15 = 60 bytes, beyond the packet
    v.push((
        "TCP data offset past the packet",
        f,
        Err("malformed_frame.truncated_l4"),
    ));
    v.push((
        "UDP header cut to 4 bytes",
        total_len(udp(), 24),
        Err("malformed_frame.truncated_l4"),
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
        Err("malformed_frame.truncated_l4"),
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
    let f = probe(SSH_SYN, b"", 1);
    v.push(("TTL 1 (expires at the first hop)", f, Err("ttl_exceeded")));
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
        Err("icmp_error_no_flow"),
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
        Err("fragment"),
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
                Err(DropReason::Fragment.name().to_string())
            }
            Disposition::Dropped(r) => Err(r.precise_name(&frame).into_owned()),
            Disposition::Delivered { .. } => Ok(()),
            Disposition::Internet => panic!("{what}: to the Internet?"),
        };
        assert_eq!(got, want.map_err(str::to_string), "{what}");
        if let Err(name) = want {
            // The category counts once, and a malformation also under its own name.
            assert_eq!(
                d.counters.dropped_by(reason(name)),
                1,
                "{what}: counted once"
            );
            assert_eq!(d.counters.total_dropped(), 1, "{what}: counted once");
            let precise: Vec<(String, u64)> = if name.starts_with("malformed_frame.") {
                vec![(name.to_string(), 1)]
            } else {
                vec![]
            };
            assert_eq!(d.counters.malformed_drops(), precise, "{what}");
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

#[test]
fn every_malformation_is_named_precisely_in_the_replay_summary_json_and_capture_comments() {
    // Every class of docs/MALFORMED.md that the parser refuses, replayed from the
    // Internet in one capture: each is counted under its precise name, and all of them
    // under the category `malformed_frame`. (The empty frame is left out: in a capture
    // it is a zero-length record, `capture_zero_length`, see tests/replay_errors.rs.)
    let refused: Vec<(&str, Vec<u8>)> = cases()
        .into_iter()
        .filter_map(|(_, f, want)| match want {
            Err(n) if n.starts_with("malformed_frame.") || n == "ipv4_options" => Some((n, f)),
            _ => None,
        })
        .filter(|(_, f)| !f.is_empty())
        .collect();
    let mut want: std::collections::BTreeMap<&str, u64> = Default::default();
    for (n, _) in &refused {
        *want.entry(n).or_default() += 1;
    }
    let malformed: u64 = refused
        .iter()
        .filter(|(n, _)| n.starts_with("malformed_frame."))
        .count() as u64;
    // Every malformation name the parser has is exercised (ipv4_options is its own reason).
    for n in wire::WireError::NAMES {
        // The pipeline answers non-IPv4 EtherTypes before parsing (unsupported_ethertype.*).
        if n == "not_ipv4" {
            continue;
        }
        let full = if n == "ipv4_options" {
            n.to_string()
        } else {
            format!("malformed_frame.{n}")
        };
        assert!(want.contains_key(full.as_str()), "no case for {full}");
    }
    let tmp = std::env::temp_dir().join(format!("vpcsim-malformed-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    std::fs::write(tmp.join("topology.toml"), TOPOLOGY).unwrap();
    let frames: Vec<Vec<u8>> = refused.iter().map(|(_, f)| f.clone()).collect();
    std::fs::write(tmp.join("bad.pcap"), support::ethernet_pcap(&frames)).unwrap();
    let run = |json: bool| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_vpcsim"));
        c.arg("replay")
            .arg(tmp.join("topology.toml"))
            .arg("--pcap")
            .arg(tmp.join("bad.pcap"))
            .args(["--at", "internet", "--quiet", "--out"])
            .arg(tmp.join("out.pcap"))
            .arg("--capture")
            .arg(tmp.join("hops.pcapng"));
        if json {
            c.arg("--json");
        }
        let o = c.output().unwrap();
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    };
    let doc: serde_json::Value = serde_json::from_str(&run(true)).unwrap();
    assert_eq!(doc["command"], "replay");
    let s = &doc["summary"];
    assert_eq!(s["dropped"], refused.len() as u64);
    for (name, n) in &want {
        assert_eq!(s["drop_reasons"][name], *n, "--json drop_reasons.{name}");
    }
    assert_eq!(s["drop_categories"]["malformed_frame"], malformed);
    assert!(s["drop_reasons"].get("malformed_frame").is_none());
    // The capture comments name each drop the same way.
    let hops = std::fs::read(tmp.join("hops.pcapng")).unwrap();
    for name in want.keys() {
        let c = format!("in; dropped: {name}");
        assert!(
            hops.windows(c.len()).any(|w| w == c.as_bytes()),
            "no capture comment `{c}`"
        );
    }
    let text = run(false);
    for (name, n) in &want {
        assert!(
            text.lines()
                .any(|l| l.trim_start() == format!("dropped {n:>8}  {name}").trim_start()),
            "text summary lacks {name}:\n{text}"
        );
    }
    assert!(
        text.contains(&format!(
            "dropped {malformed:>8}  malformed_frame (all of the above"
        )),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn the_readme_lists_every_drop_reason_with_its_meaning() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let start = readme
        .find("### Drop reasons")
        .expect("README section `### Drop reasons`");
    let section = &readme[start..];
    let section = &section[..section[4..].find("\n#").map_or(section.len(), |e| e + 4)];
    let mut names: Vec<String> = DropReason::ALL
        .iter()
        .map(|r| r.name().to_string())
        .collect();
    names.extend(
        wire::WireError::NAMES
            .iter()
            .filter(|n| **n != DropReason::Ipv4Options.name())
            .map(|n| format!("{}.{n}", DropReason::MalformedFrame.name())),
    );
    names.extend(
        vpcsim::replay::CAPTURE_REASONS
            .iter()
            .map(|n| n.to_string()),
    );
    let missing: Vec<&String> = names
        .iter()
        .filter(|n| {
            !section.lines().any(|l| {
                l.strip_prefix(&format!("| `{n}` |"))
                    .is_some_and(|meaning| meaning.trim().trim_end_matches('|').trim().len() > 5)
            })
        })
        .collect();
    assert!(
        missing.is_empty(),
        "README.md `### Drop reasons` has no row `| `name` | meaning |` for {missing:?}"
    );
}
