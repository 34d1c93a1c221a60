//! Replays every committed fuzz corpus file (`fuzz/corpus/<target>/*`) through its
//! harness in `vpcsim::fuzzing`, so an input that once crashed vpcsim stays fixed and
//! the seeds keep passing on stable Rust, without cargo-fuzz.
//!
//! `cargo test --test fuzz_corpus -- --ignored write_seeds` regenerates the hand-made
//! seeds (see docs/FUZZING.md); minimised fuzzer finds are added next to them.

use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use vpcsim::fuzzing;
use vpcsim::pcapio::{PcapWriter, PcapngWriter};
use vpcsim::wire::{self, ProbeL4, ProbeSpec, TcpFlags};

fn corpus(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target)
}

fn replay(target: &str, harness: fn(&[u8])) {
    let dir = corpus(target);
    let mut n = 0;
    let mut entries: Vec<_> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    entries.sort();
    for p in entries {
        let data = fs::read(&p).unwrap();
        let r = std::panic::catch_unwind(|| harness(&data));
        assert!(r.is_ok(), "{target} harness panics on {}", p.display());
        n += 1;
    }
    assert!(n > 0, "no corpus files in {}", dir.display());
}

#[test]
fn frame_corpus() {
    replay("frame", fuzzing::frame);
}

#[test]
fn pipeline_corpus() {
    replay("pipeline", fuzzing::pipeline);
}

#[test]
fn capture_corpus() {
    replay("capture", fuzzing::capture);
}

#[test]
fn serve_corpus() {
    replay("serve", fuzzing::serve_request);
}

#[test]
fn scenario_corpus() {
    replay("scenario", fuzzing::scenario);
}

// ---------- seeds ----------

fn probe(src: [u8; 4], dst: [u8; 4], l4: ProbeL4, payload: &[u8]) -> Vec<u8> {
    wire::build(&ProbeSpec {
        src_mac: [2, 0, 0, 0, 0, 1],
        dst_mac: [2, 0, 0, 0, 0, 2],
        src: Ipv4Addr::from(src),
        dst: Ipv4Addr::from(dst),
        ttl: 64,
        ident: 0x1234,
        l4,
        payload: payload.to_vec(),
    })
}

fn tcp(sport: u16, dport: u16, flags: u8) -> ProbeL4 {
    ProbeL4::Tcp {
        sport,
        dport,
        flags: TcpFlags(flags),
        seq: 1,
        ack: 0,
    }
}

/// Frames that reach the interesting stages of the built-in scenario (final state).
fn seed_frames() -> Vec<Vec<u8>> {
    let web = [192, 168, 1, 10];
    let web1 = [192, 168, 1, 100];
    let app = [192, 168, 1, 20];
    let eip = [47, 96, 10, 20];
    let ngw = [47, 96, 100, 1];
    let out = [203, 0, 113, 9];
    let mut v = vec![
        probe(app, out, tcp(40000, 443, 2), b"x"),
        probe(web, out, tcp(40001, 80, 2), b""),
        probe(
            web1,
            out,
            ProbeL4::Udp {
                sport: 5353,
                dport: 53,
            },
            b"q",
        ),
        probe(out, eip, tcp(5555, 22, 2), b""),
        probe(out, ngw, tcp(443, 1024, 0x12), b""),
        probe(
            app,
            web,
            ProbeL4::IcmpEcho {
                request: true,
                ident: 9,
                seq: 1,
            },
            b"ping",
        ),
        probe(
            out,
            eip,
            ProbeL4::IcmpEcho {
                request: true,
                ident: 9,
                seq: 1,
            },
            b"",
        ),
    ];
    // An ICMP error about the first frame, a fragment pair, a VLAN tag, IP options.
    let first = v[0].clone();
    let info = wire::parse(&first).unwrap();
    if let Some(e) = wire::icmp_error(
        &first,
        &info,
        wire::IcmpErrorKind::TimeExceeded,
        Ipv4Addr::from(out),
        [2, 0, 0, 0, 0, 3],
        [2, 0, 0, 0, 0, 4],
    ) {
        v.push(e);
    }
    let mut frag = probe(app, out, ProbeL4::Udp { sport: 1, dport: 2 }, &[7; 40]);
    frag[20] |= 0x20; // MF
    v.push(frag.clone());
    frag[20] = 0;
    frag[21] = 3; // offset 24 bytes
    v.push(frag);
    let mut vlan = first.clone();
    vlan.splice(12..12, [0x81, 0x00, 0x00, 0x05]);
    v.push(vlan);
    let mut opts = first.clone();
    opts[14] = 0x46;
    opts.splice(34..34, [1, 1, 1, 0]);
    v.push(opts);
    v
}

fn write(target: &str, name: &str, data: &[u8]) {
    let dir = corpus(target);
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join(name), data).unwrap();
}

#[test]
#[ignore = "writes the hand-made seed corpus into fuzz/corpus"]
fn write_seeds() {
    let frames = seed_frames();
    for (i, f) in frames.iter().enumerate() {
        write("frame", &format!("seed-{i:02}"), f);
        // Per frame: the Internet (0) and one guest or ENI of the default scenario, and
        // one ingress of the pcap-suite topology (0x20) with checksums fixed (0x80).
        for sel in [0u8, 1 + (i as u8 % 6), 0x80 | 0x20 | (i as u8 % 8)] {
            let mut d = vec![sel];
            d.extend_from_slice(f);
            write("pipeline", &format!("seed-{i:02}-{sel}"), &d);
        }
    }
    let mut w = PcapWriter::new(Vec::new()).unwrap();
    for (i, f) in frames.iter().take(3).enumerate() {
        w.write_packet(i as u64 * 1_000_000, f).unwrap();
    }
    write("capture", "seed-pcap", &w.into_inner().unwrap());
    let mut w = PcapngWriter::new(Vec::new()).unwrap();
    let ifc = w.add_interface("eth0", "seed").unwrap();
    for (i, f) in frames.iter().take(3).enumerate() {
        w.write_packet(ifc, i as u64 * 1_000, f, None).unwrap();
    }
    write("capture", "seed-pcapng", &w.into_inner().unwrap());
    write(
        "scenario",
        "seed-default.toml",
        vpcsim::scenario::DEFAULT_SCENARIO.as_bytes(),
    );
    write(
        "scenario",
        "seed-small.toml",
        br#"[scenario]
name = "small"
[[vpcs]]
id = "vpc-1"
cidr = "10.0.0.0/16"
[[vswitches]]
id = "vsw-a"
vpc = "vpc-1"
zone = "z-a"
cidr = "10.0.1.0/24"
[[security_groups]]
id = "sg-1"
vpc = "vpc-1"
rules = [ { direction = "ingress", protocol = "tcp", ports = "22/22", cidr = "0.0.0.0/0" } ]
[[instances]]
id = "i-1"
vswitch = "vsw-a"
private_ip = "10.0.1.10"
security_groups = ["sg-1"]
[[nat_gateways]]
id = "ngw-1"
vpc = "vpc-1"
vswitch = "vsw-a"
snat = [ { id = "snat-1", source_cidr = "10.0.0.0/16", snat_ips = ["47.1.2.1"] } ]
dnat = [ { id = "dnat-1", external_ip = "47.1.2.1", external_port = "2222", internal_ip = "10.0.1.10", internal_port = "22", protocol = "TCP" } ]
[[eips]]
id = "eip-1"
address = "47.1.2.1"
bind = { type = "Nat", id = "ngw-1" }
[[steps]]
op = "AuthorizeSecurityGroup"
SecurityGroupId = "sg-1"
IpProtocol = "udp"
PortRange = "53/53"
SourceCidrIp = "0.0.0.0/0"
[[checks]]
name = "ssh via dnat"
from = "internet"
to = "47.1.2.1:2222"
expect = "delivered"
"#,
    );
}
