//! What the integration tests share: the pieces of the small VPCs they build, the data
//! plane over one, and the probe frames they send. A test file takes what it needs with
//! `mod support;`; only the setup lives here, every assertion stays in its test.
//!
//! Topology pieces are macros expanding to string literals, so a test's topology stays
//! one `const` built with `concat!` and each test file still shows what differs.
#![allow(dead_code, unused_imports, unused_macros)]

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use vpcsim::compile::Tables;
use vpcsim::model::Cloud;
use vpcsim::pcapio::CaptureReader;
use vpcsim::pipeline::{Dataplane, DataplaneConfig, Disposition, Ingress};
use vpcsim::replay::{self, Merge, Output, ReplaySummary};
use vpcsim::scenario::Scenario;
use vpcsim::wire::{self, ProbeL4, ProbeSpec, TcpFlags};

/// The Internet client most tests connect from.
pub const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);
/// The Internet server most tests connect to.
pub const SERVER: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 80);

pub const SYN: u8 = TcpFlags::SYN.0;
pub const SYNACK: u8 = TcpFlags::SYN.0 | TcpFlags::ACK.0;
pub const ACK: u8 = TcpFlags::ACK.0;

pub fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

/// A scenario's initial cloud; a topology that does not load fails the test with the
/// error.
pub fn cloud(toml: &str, name: &str) -> Cloud {
    Scenario::parse(toml, name)
        .unwrap_or_else(|e| panic!("{e}"))
        .initial
}

/// A data plane over a cloud's tables, and those tables (to name ports by id).
pub struct Net {
    pub dp: Dataplane,
    pub t: Arc<Tables>,
}

impl Net {
    pub fn over(cloud: &Cloud, config: DataplaneConfig) -> Net {
        let t = Tables::compile(cloud, 1);
        Net {
            dp: Dataplane::new(Arc::clone(&t), config),
            t,
        }
    }

    /// Where an instance's guest OS sends from.
    pub fn guest(&self, id: &str) -> Ingress {
        Ingress::Guest(self.t.instance_index[id])
    }

    /// An ENI's port.
    pub fn eni(&self, id: &str) -> Ingress {
        Ingress::Eni(self.t.eni_index[id])
    }

    /// The id of the ENI a frame was delivered to.
    pub fn eni_of(&self, d: Disposition) -> Option<&str> {
        match d {
            Disposition::Delivered { eni } => Some(&self.t.enis[eni as usize].id),
            _ => None,
        }
    }
}

/// A probe frame: [`frame`] gives the defaults most tests use (MACs 02:00:00:00:00:01 →
/// 02:00:00:00:00:02, TTL 64, IP id 7, no payload), the setters change them, `build`
/// writes it.
#[derive(Debug, Clone)]
pub struct Frame(pub ProbeSpec);

pub fn frame(src: Ipv4Addr, dst: Ipv4Addr, l4: ProbeL4) -> Frame {
    Frame(ProbeSpec {
        src_mac: [2, 0, 0, 0, 0, 1],
        dst_mac: [2, 0, 0, 0, 0, 2],
        src,
        dst,
        ttl: 64,
        ident: 7,
        l4,
        payload: Vec::new(),
    })
}

impl Frame {
    pub fn macs(mut self, src: [u8; 6], dst: [u8; 6]) -> Frame {
        self.0.src_mac = src;
        self.0.dst_mac = dst;
        self
    }

    pub fn ttl(mut self, ttl: u8) -> Frame {
        self.0.ttl = ttl;
        self
    }

    pub fn ident(mut self, ident: u16) -> Frame {
        self.0.ident = ident;
        self
    }

    pub fn payload(mut self, payload: impl Into<Vec<u8>>) -> Frame {
        self.0.payload = payload.into();
        self
    }

    pub fn build(&self) -> Vec<u8> {
        wire::build(&self.0)
    }
}

/// A TCP header as most tests send it: sequence number 100, acknowledgment 0.
pub fn tcp_l4(sport: u16, dport: u16, flags: u8) -> ProbeL4 {
    ProbeL4::Tcp {
        sport,
        dport,
        flags: TcpFlags(flags),
        seq: 100,
        ack: 0,
    }
}

/// A TCP segment with the default frame and a `hello` payload.
pub fn tcp(src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16, flags: u8) -> Vec<u8> {
    frame(src, dst, tcp_l4(sport, dport, flags))
        .payload(*b"hello")
        .build()
}

/// A UDP datagram with the default frame and a one-byte payload.
pub fn udp(src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16) -> Vec<u8> {
    frame(src, dst, ProbeL4::Udp { sport, dport })
        .payload(*b"q")
        .build()
}

/// A classic pcap (little-endian, microseconds) of `(captured bytes, original length)`
/// records, one a second from 1,700,000,000 s.
pub fn pcap(link_type: u32, records: &[(Vec<u8>, u32)]) -> Vec<u8> {
    let mut b = vec![];
    b.extend_from_slice(&0xA1B2_C3D4u32.to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&4u16.to_le_bytes());
    b.extend_from_slice(&[0; 8]);
    b.extend_from_slice(&65535u32.to_le_bytes());
    b.extend_from_slice(&link_type.to_le_bytes());
    for (k, (data, orig)) in records.iter().enumerate() {
        b.extend_from_slice(&(1_700_000_000u32 + k as u32).to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&(data.len() as u32).to_le_bytes());
        b.extend_from_slice(&orig.to_le_bytes());
        b.extend_from_slice(data);
    }
    b
}

/// A classic Ethernet pcap of whole `frames`.
pub fn ethernet_pcap(frames: &[Vec<u8>]) -> Vec<u8> {
    let records: Vec<(Vec<u8>, u32)> = frames.iter().map(|f| (f.clone(), f.len() as u32)).collect();
    pcap(1, &records)
}

/// Runs the `vpcsim` binary: exit code, standard output, standard error.
pub fn vpcsim(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vpcsim"))
        .args(args)
        .output()
        .expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A scratch copy of a fixture folder, in a fresh `vpcsim-{tag}-{pid}` temporary folder,
/// to break in one way per test.
pub fn fixture_copy(fixture: &Path, tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vpcsim-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for e in std::fs::read_dir(fixture).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, dir.join(p.file_name().unwrap())).unwrap();
    }
    dir
}

/// Replays captures, each entering at its port, through a fresh data plane over `t`: the
/// summary and the output capture's bytes.
pub fn replay_inputs(
    t: &Arc<Tables>,
    inputs: Vec<(Ingress, CaptureReader)>,
) -> (ReplaySummary, Vec<u8>) {
    let mut dp = Dataplane::new(Arc::clone(t), DataplaneConfig::default());
    let mut out = Output::new(Vec::new(), false).unwrap();
    let s = replay::replay(
        &mut dp,
        Merge::new(inputs),
        &mut out,
        None::<&mut vpcsim::capture::Capture<Vec<u8>>>,
        |_| {},
    );
    (s, out.into_inner().unwrap())
}

/// The packets of a capture held in memory.
pub fn packets(bytes: Vec<u8>) -> Vec<Vec<u8>> {
    CaptureReader::from_bytes(bytes)
        .unwrap()
        .map(|r| r.unwrap().data)
        .collect()
}

/// The pcap regression suite, `pcaps/suite.toml`: cases of input captures replayed
/// through a scenario, each with its expected output capture.
#[derive(serde::Deserialize)]
pub struct Suite {
    pub case: Vec<Case>,
}

#[derive(serde::Deserialize)]
pub struct Case {
    pub name: String,
    pub scenario: String,
    pub expected: String,
    #[serde(default)]
    pub after_step: Option<usize>,
    pub input: Vec<Input>,
}

#[derive(serde::Deserialize)]
pub struct Input {
    pub pcap: String,
    pub at: String,
}

/// The suite's folder, `pcaps/`.
pub fn pcaps_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("pcaps")
}

pub fn suite() -> Suite {
    toml::from_str(&std::fs::read_to_string(pcaps_dir().join("suite.toml")).unwrap()).unwrap()
}

// ---- topology pieces (string literals, for `concat!`) ----

/// `[scenario]` with a name.
macro_rules! scenario {
    ($name:literal) => {
        concat!("\n[scenario]\nname = \"", $name, "\"\n\n")
    };
}

/// A secondary ENI with `sg-open` and one private IP, attached to an instance.
macro_rules! eni {
    ($id:literal, $vswitch:literal, $ip:literal, $instance:literal) => {
        concat!(
            "[[enis]]\nid = \"",
            $id,
            "\"\nvswitch = \"",
            $vswitch,
            "\"\nprimary_ip = \"",
            $ip,
            "\"\nsecurity_groups = [\"sg-open\"]\ninstance = \"",
            $instance,
            "\"\n\n"
        )
    };
}

/// An instance type with jumbo frames (8500-byte MTU), 3 ENIs of 6 private IPs.
macro_rules! jumbo_instance_type {
    ($name:literal) => {
        concat!(
            "[[instance_types]]\nname = \"",
            $name,
            "\"\nmax_enis = 3\nmax_private_ips_per_eni = 6\njumbo_frames = true\n\n"
        )
    };
}

/// VPC `vpc-1` (10.0.0.0/16) and its VSwitch `vsw-a` (10.0.1.0/24, in zone `z-a` or the
/// one given).
macro_rules! vpc_1 {
    () => {
        r#"[[vpcs]]
id = "vpc-1"
cidr = "10.0.0.0/16"

[[vswitches]]
id = "vsw-a"
vpc = "vpc-1"
zone = "z-a"
cidr = "10.0.1.0/24"

"#
    };
    ($zone:literal) => {
        concat!(
            r#"[[vpcs]]
id = "vpc-1"
cidr = "10.0.0.0/16"

[[vswitches]]
id = "vsw-a"
vpc = "vpc-1"
zone = ""#,
            $zone,
            r#""
cidr = "10.0.1.0/24"

"#
        )
    };
}

/// A second VSwitch of `vpc-1`: `vsw-b` (10.0.2.0/24, zone `z-a`).
macro_rules! vsw_b {
    () => {
        r#"[[vswitches]]
id = "vsw-b"
vpc = "vpc-1"
zone = "z-a"
cidr = "10.0.2.0/24"

"#
    };
}

/// Security group `sg-open` of `vpc-1`, allowing everything in.
macro_rules! sg_open_all {
    () => {
        r#"[[security_groups]]
id = "sg-open"
vpc = "vpc-1"
rules = [ { direction = "ingress", protocol = "all", cidr = "0.0.0.0/0" } ]

"#
    };
}

/// An instance in `vsw-a` with `sg-open`.
macro_rules! instance {
    ($id:literal, $ip:literal) => {
        concat!(
            "[[instances]]\nid = \"",
            $id,
            "\"\nvswitch = \"vsw-a\"\nprivate_ip = \"",
            $ip,
            "\"\nsecurity_groups = [\"sg-open\"]\n\n"
        )
    };
}

/// NAT gateway `ngw-1` in `vsw-a` on EIP 47.1.2.1 (id `$eip`): SNAT for all of `vpc-1`
/// (`snat-vpc`), DNAT 47.1.2.1:2222 → 10.0.1.20:22 TCP (`dnat-ssh`).
macro_rules! ngw_1 {
    ($eip:literal) => {
        concat!(
            r#"[[nat_gateways]]
id = "ngw-1"
vpc = "vpc-1"
vswitch = "vsw-a"
snat = [ { id = "snat-vpc", source_cidr = "10.0.0.0/16", snat_ips = ["47.1.2.1"] } ]
dnat = [ { id = "dnat-ssh", external_ip = "47.1.2.1", external_port = "2222", internal_ip = "10.0.1.20", internal_port = "22", protocol = "TCP" } ]

[[eips]]
id = ""#,
            $eip,
            r#""
address = "47.1.2.1"
bind = { type = "Nat", id = "ngw-1" }

"#
        )
    };
}

/// An EIP bound to a target: `eip!("eip-inst", "47.1.1.10", "EcsInstance", "i-eip")`.
macro_rules! eip {
    ($id:literal, $address:literal, $type:literal, $target:literal) => {
        concat!(
            "[[eips]]\nid = \"",
            $id,
            "\"\naddress = \"",
            $address,
            "\"\nbind = { type = \"",
            $type,
            "\", id = \"",
            $target,
            "\" }\n\n"
        )
    };
}

/// Instance `$id` in `vsw-a` with `sg-open`, of a type with room for secondary ENIs
/// (`ecs.g6.xlarge`), its guest routing replies by the ENI they came in on or not.
macro_rules! multi_eni_instance {
    ($id:literal, $ip:literal, policy_routes = $policy_routes:literal) => {
        concat!(
            "[[instances]]\nid = \"",
            $id,
            "\"\nvswitch = \"vsw-a\"\ninstance_type = \"ecs.g6.xlarge\"\nprivate_ip = \"",
            $ip,
            "\"\nsecurity_groups = [\"sg-open\"]\nguest = { policy_routes = ",
            $policy_routes,
            " }\n\n"
        )
    };
}

pub(crate) use {
    eip, eni, instance, jumbo_instance_type, multi_eni_instance, ngw_1, scenario, sg_open_all,
    vpc_1, vsw_b,
};
