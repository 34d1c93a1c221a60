//! One test per data-plane rule of SEMANTICS.md §3: each sends real frames through the
//! pipeline and asserts the frame that comes out (addresses, ports, valid checksums) or
//! the drop reason.

use std::net::Ipv4Addr;
use std::sync::Arc;

use vpcsim::model::Operation;
use vpcsim::pipeline::{DataplaneConfig, Disposition, DropReason, Ingress, Trace};
use vpcsim::scenario::Scenario;
use vpcsim::time::SimTime;
use vpcsim::wire::{self, ProbeL4, L4};

mod support;
use support::{ip, tcp, udp, Net, ACK, CLIENT, SERVER, SYN, SYNACK};

/// A VPC with: i-eip (EIP on the instance), i-static (static public IP), i-snat (SNAT),
/// i-multi (secondary ENI eni-nat with an EIP on its secondary IP), eni-cut (cut-through
/// ENI on i-cut), a NAT gateway with two EIPs: SNAT for the VPC and a /32 entry for
/// i-snat2, DNAT port and IP mappings.
const TOPOLOGY: &str = concat!(
    support::scenario!("dataplane-rules"),
    support::vpc_1!(),
    support::vsw_b!(),
    r#"[[security_groups]]
id = "sg-open"
vpc = "vpc-1"
rules = [
  { direction = "ingress", protocol = "tcp", ports = "22/22", cidr = "0.0.0.0/0" },
  { direction = "ingress", protocol = "tcp", ports = "80/80", cidr = "0.0.0.0/0" },
  { direction = "ingress", protocol = "icmp", cidr = "0.0.0.0/0" },
  { direction = "ingress", protocol = "udp", ports = "53/53", cidr = "0.0.0.0/0" },
]

[[security_groups]]
id = "sg-closed"
vpc = "vpc-1"

[[security_groups]]
id = "sg-ent"
vpc = "vpc-1"
type = "enterprise"
rules = [ { direction = "egress", protocol = "tcp", ports = "443/443", cidr = "0.0.0.0/0" } ]

"#,
    support::instance!("i-eip", "10.0.1.10"),
    r#"[[instances]]
id = "i-static"
vswitch = "vsw-a"
private_ip = "10.0.1.11"
public_ip = "47.1.1.11"
security_groups = ["sg-open"]

"#,
    support::instance!("i-snat", "10.0.1.12"),
    r#"[[instances]]
id = "i-snat2"
vswitch = "vsw-b"
private_ip = "10.0.2.13"
security_groups = ["sg-open"]

[[instances]]
id = "i-closed"
vswitch = "vsw-a"
private_ip = "10.0.1.14"
security_groups = ["sg-closed"]

[[instances]]
id = "i-ent"
vswitch = "vsw-a"
private_ip = "10.0.1.15"
security_groups = ["sg-ent"]

"#,
    support::multi_eni_instance!("i-multi", "10.0.1.16", policy_routes = true),
    support::multi_eni_instance!("i-cut", "10.0.1.17", policy_routes = true),
    r#"[[instances]]
id = "i-dnat"
vswitch = "vsw-b"
private_ip = "10.0.2.20"
security_groups = ["sg-open"]

[[instances]]
id = "i-dnat2"
vswitch = "vsw-b"
private_ip = "10.0.2.21"
security_groups = ["sg-open"]

[[enis]]
id = "eni-nat"
vswitch = "vsw-a"
primary_ip = "10.0.1.100"
secondary_ips = ["10.0.1.101"]
security_groups = ["sg-open"]
instance = "i-multi"

"#,
    support::eni!("eni-cut", "vsw-a", "10.0.1.110", "i-cut"),
    r#"[[nat_gateways]]
id = "ngw-1"
vpc = "vpc-1"
vswitch = "vsw-a"
snat = [
  { id = "snat-vpc", source_cidr = "10.0.0.0/16", snat_ips = ["47.1.2.1"] },
  { id = "snat-host", source_cidr = "10.0.2.13/32", snat_ips = ["47.1.2.2"] },
]
dnat = [
  { id = "dnat-ssh", external_ip = "47.1.2.1", external_port = "2222", internal_ip = "10.0.2.20", internal_port = "22", protocol = "TCP" },
  { id = "dnat-ip", external_ip = "47.1.2.3", internal_ip = "10.0.2.21" },
]

"#,
    support::eip!("eip-ngw1", "47.1.2.1", "Nat", "ngw-1"),
    support::eip!("eip-ngw2", "47.1.2.2", "Nat", "ngw-1"),
    support::eip!("eip-ngw3", "47.1.2.3", "Nat", "ngw-1"),
    // A SNAT-only EIP: 47.1.2.3 serves IP mapping, which no SNAT entry may share
    // (SEMANTICS.md §4).
    support::eip!("eip-ngw4", "47.1.2.4", "Nat", "ngw-1"),
    support::eip!("eip-inst", "47.1.1.10", "EcsInstance", "i-eip"),
    r#"[[eips]]
id = "eip-sec"
address = "47.1.1.101"
bind = { type = "NetworkInterface", id = "eni-nat", mode = "NAT", private_ip = "10.0.1.101" }

[[eips]]
id = "eip-cut"
address = "47.1.1.110"
bind = { type = "NetworkInterface", id = "eni-cut", mode = "BINDED" }
"#,
);

impl Net {
    fn from(src: &str) -> Net {
        Net::of(&support::cloud(src, "test.toml"))
    }

    fn of(cloud: &vpcsim::model::Cloud) -> Net {
        Net::over(
            cloud,
            DataplaneConfig {
                conntrack_capacity: 1 << 16,
                ..Default::default()
            },
        )
    }

    fn new() -> Net {
        Net::from(TOPOLOGY)
    }

    fn with_steps(steps: &[Operation]) -> Net {
        let sc = Scenario::parse(TOPOLOGY, "test.toml").unwrap();
        let mut c = sc.initial;
        for s in steps {
            c.apply(s).unwrap_or_else(|e| panic!("{e}"));
        }
        Net::of(&c)
    }

    fn eni_id(&self, d: Disposition) -> Option<&str> {
        self.eni_of(d)
    }

    /// Sends a frame; returns the disposition and the parsed frame that came out.
    fn send(
        &mut self,
        at: Ingress,
        frame: Vec<u8>,
        now: u64,
    ) -> (Disposition, wire::FrameInfo, Vec<u8>) {
        let mut buf = frame;
        // The frame leaves the sender's NIC with the ENI's own MAC.
        vpcsim::pipeline::stamp_sender_mac(&self.t, at, &mut buf);
        let mut trace = Trace::default();
        let out = self
            .dp
            .process(&mut buf, at, SimTime::from_secs(now), Some(&mut trace));
        let info = wire::parse(&buf).expect("output parses");
        if !matches!(out.disposition, Disposition::Dropped(_)) {
            wire::checksums_valid(&buf)
                .unwrap_or_else(|e| panic!("bad checksum after {:?}: {e}", trace.lines()));
        }
        (out.disposition, info, buf)
    }
}

fn echo(src: Ipv4Addr, dst: Ipv4Addr, request: bool, ident: u16, ttl: u8) -> Vec<u8> {
    let l4 = ProbeL4::IcmpEcho {
        request,
        ident,
        seq: 1,
    };
    support::frame(src, dst, l4).ttl(ttl).build()
}

// ---------- Egress: which public address a packet leaves with ----------

#[test]
fn egress_rule1_eip_on_instance_translates_1to1() {
    let mut n = Net::new();
    let (d, o, _) = n.send(
        n.guest("i-eip"),
        tcp(ip("10.0.1.10"), 40000, SERVER, 443, SYN),
        0,
    );
    assert_eq!(d, Disposition::Internet);
    assert_eq!(
        (o.src, o.dst, o.ports()),
        (ip("47.1.1.10"), SERVER, (40000, 443)),
        "1:1 keeps the port"
    );
}

#[test]
fn egress_rule1_static_public_ip_translates_1to1() {
    let mut n = Net::new();
    let (d, o, _) = n.send(
        n.guest("i-static"),
        tcp(ip("10.0.1.11"), 40000, SERVER, 443, SYN),
        0,
    );
    assert_eq!(d, Disposition::Internet);
    assert_eq!(o.src, ip("47.1.1.11"));
}

#[test]
fn egress_rule1_eip_on_eni_secondary_private_ip_in_nat_mode() {
    let mut n = Net::new();
    // The guest has policy routes: a packet from eth1's secondary IP leaves by eth1.
    let (d, o, _) = n.send(
        n.guest("i-multi"),
        tcp(ip("10.0.1.101"), 40000, SERVER, 443, SYN),
        0,
    );
    assert_eq!(d, Disposition::Internet);
    assert_eq!(o.src, ip("47.1.1.101"));
    // Sent on the ENI itself (no guest routing): the same answer.
    let (d, o, _) = n.send(
        n.eni("eni-nat"),
        tcp(ip("10.0.1.101"), 40002, SERVER, 443, SYN),
        0,
    );
    assert_eq!((d, o.src), (Disposition::Internet, ip("47.1.1.101")));
    // eth1's primary IP has no EIP: it goes through SNAT.
    let (d, o, _) = n.send(
        n.guest("i-multi"),
        tcp(ip("10.0.1.100"), 40001, SERVER, 443, SYN),
        0,
    );
    assert_eq!(d, Disposition::Internet);
    assert_eq!(o.src, ip("47.1.2.1"));
}

#[test]
fn egress_rule1_bypasses_the_route_table() {
    // Remove the 0.0.0.0/0 route: the EIP path still works, SNAT no longer does.
    let del = Operation::DeleteRouteEntry {
        route_table_id: "vtb-vpc-1".into(),
        destination_cidr_block: "0.0.0.0/0".parse().unwrap(),
    };
    let mut n = Net::with_steps(&[del]);
    let (d, o, _) = n.send(
        n.guest("i-eip"),
        tcp(ip("10.0.1.10"), 40000, SERVER, 443, SYN),
        0,
    );
    assert_eq!((d, o.src), (Disposition::Internet, ip("47.1.1.10")));
    let (d, _, _) = n.send(
        n.guest("i-snat"),
        tcp(ip("10.0.1.12"), 40000, SERVER, 443, SYN),
        0,
    );
    assert_eq!(
        d,
        Disposition::Dropped(DropReason::NoRoute),
        "rule 4: no route → dropped with that reason"
    );
}

#[test]
fn egress_rule2_cut_through_eni_sends_its_eip_untranslated() {
    let mut n = Net::new();
    let (d, o, _) = n.send(
        n.guest("i-cut"),
        tcp(ip("47.1.1.110"), 40000, SERVER, 443, SYN),
        0,
    );
    assert_eq!(d, Disposition::Internet);
    assert_eq!(o.src, ip("47.1.1.110"));
}

#[test]
fn egress_rule3_snat_translates_source_address_and_port_to_the_entry_eip() {
    let mut n = Net::new();
    let (d, o, _) = n.send(
        n.guest("i-snat"),
        tcp(ip("10.0.1.12"), 40000, SERVER, 443, SYN),
        0,
    );
    assert_eq!(d, Disposition::Internet);
    assert_eq!(o.src, ip("47.1.2.1"));
    assert!(o.ports().0 >= 1024, "SNAT picks a port from its pool");
}

#[test]
fn egress_rule3_snat_longest_prefix_instance_entry_beats_vpc_entry() {
    let mut n = Net::new();
    let (_, o, _) = n.send(
        n.guest("i-snat2"),
        tcp(ip("10.0.2.13"), 40000, SERVER, 443, SYN),
        0,
    );
    assert_eq!(
        o.src,
        ip("47.1.2.2"),
        "the /32 entry wins over the VPC CIDR entry"
    );
    let (_, o, _) = n.send(
        n.guest("i-dnat"),
        tcp(ip("10.0.2.20"), 40000, SERVER, 443, SYN),
        0,
    );
    assert_eq!(o.src, ip("47.1.2.1"));
}

#[test]
fn egress_rule3_snat_vswitch_entry_beats_vpc_entry() {
    let add = Operation::CreateSnatEntry {
        snat_table_id: "ngw-1".into(),
        source_vswitch_id: Some("vsw-b".into()),
        source_cidr: None,
        network_interface_id: None,
        snat_ip: "47.1.2.4".into(),
        eip_affinity: false,
        snat_entry_id: None,
    };
    let mut n = Net::with_steps(&[add]);
    let (_, o, _) = n.send(n.guest("i-dnat"), udp(ip("10.0.2.20"), 5000, SERVER, 53), 0);
    assert_eq!(o.src, ip("47.1.2.4"));
}

#[test]
fn egress_rule3_multi_eip_entry_chooses_by_hash_and_eip_affinity_keeps_one_per_source() {
    let multi = |affinity: bool| Operation::CreateSnatEntry {
        snat_table_id: "ngw-1".into(),
        source_vswitch_id: Some("vsw-b".into()),
        source_cidr: None,
        network_interface_id: None,
        snat_ip: "47.1.2.2,47.1.2.4".into(),
        eip_affinity: affinity,
        snat_entry_id: None,
    };
    for affinity in [false, true] {
        let mut n = Net::with_steps(&[multi(affinity)]);
        let mut seen = std::collections::BTreeSet::new();
        for p in 0..64u16 {
            let (d, o, _) = n.send(
                n.guest("i-dnat"),
                udp(
                    ip("10.0.2.20"),
                    10000 + p,
                    Ipv4Addr::new(203, 0, 113, (p % 50) as u8 + 1),
                    53,
                ),
                0,
            );
            assert_eq!(d, Disposition::Internet);
            seen.insert(o.src);
        }
        if affinity {
            assert_eq!(seen.len(), 1, "EipAffinity: one source keeps one EIP");
        } else {
            assert_eq!(
                seen.len(),
                2,
                "without affinity flows spread over both EIPs: {seen:?}"
            );
        }
    }
}

#[test]
fn egress_rule3_snat_never_applies_to_a_private_ip_with_an_eip() {
    // i-eip is covered by the VPC SNAT entry too, yet leaves with its EIP.
    let mut n = Net::new();
    let (_, o, _) = n.send(n.guest("i-eip"), udp(ip("10.0.1.10"), 5000, SERVER, 53), 0);
    assert_eq!(o.src, ip("47.1.1.10"));
}

#[test]
fn egress_rule4_no_snat_entry_drops_with_that_reason() {
    let del = Operation::DeleteSnatEntry {
        snat_table_id: "ngw-1".into(),
        snat_entry_id: "snat-vpc".into(),
    };
    let mut n = Net::with_steps(&[del]);
    let (d, _, _) = n.send(
        n.guest("i-snat"),
        tcp(ip("10.0.1.12"), 40000, SERVER, 443, SYN),
        0,
    );
    assert_eq!(d, Disposition::Dropped(DropReason::NoSnatEntry));
}

#[test]
fn egress_snat_port_exhaustion_drops_the_new_flow_with_a_counted_reason() {
    let src = TOPOLOGY.replace(
        "[scenario]\nname = \"dataplane-rules\"",
        "[scenario]\nname = \"x\"\n\n[quotas]\nsnat_connections_per_destination = 3",
    );
    let mut n = Net::from(&src);
    for p in 0..3 {
        let (d, _, _) = n.send(
            n.guest("i-snat"),
            tcp(ip("10.0.1.12"), 40000 + p, SERVER, 443, SYN),
            0,
        );
        assert_eq!(d, Disposition::Internet);
    }
    let (d, _, _) = n.send(
        n.guest("i-snat"),
        tcp(ip("10.0.1.12"), 40010, SERVER, 443, SYN),
        0,
    );
    assert_eq!(d, Disposition::Dropped(DropReason::SnatPortsExhausted));
    assert_eq!(n.dp.counters.dropped_by(DropReason::SnatPortsExhausted), 1);
    // Another destination port is another destination: not exhausted.
    let (d, _, _) = n.send(
        n.guest("i-snat"),
        tcp(ip("10.0.1.12"), 40011, SERVER, 80, SYN),
        0,
    );
    assert_eq!(d, Disposition::Internet);
    // Established flows keep working.
    let (d, _, _) = n.send(
        n.guest("i-snat"),
        tcp(ip("10.0.1.12"), 40000, SERVER, 443, ACK),
        1,
    );
    assert_eq!(d, Disposition::Internet);
}

// ---------- Ingress from the Internet ----------

#[test]
fn ingress_eip_translates_to_the_private_ip_and_is_invisible_to_the_guest() {
    let mut n = Net::new();
    let (d, o, _) = n.send(
        Ingress::Internet,
        tcp(CLIENT, 50000, ip("47.1.1.10"), 22, SYN),
        0,
    );
    assert_eq!(n.eni_id(d), Some("i-eip-eth0"));
    assert_eq!(
        (o.src, o.dst, o.ports()),
        (CLIENT, ip("10.0.1.10"), (50000, 22)),
        "NAT mode: the guest sees its private IP"
    );
    // The reply goes back out from the EIP (stateful 1:1).
    let (d, o, _) = n.send(
        n.guest("i-eip"),
        tcp(ip("10.0.1.10"), 22, CLIENT, 50000, SYNACK),
        0,
    );
    assert_eq!(d, Disposition::Internet);
    assert_eq!((o.src, o.dst), (ip("47.1.1.10"), CLIENT));
}

#[test]
fn ingress_eip_on_eni_secondary_ip_reaches_that_ip() {
    let mut n = Net::new();
    let (d, o, _) = n.send(
        Ingress::Internet,
        tcp(CLIENT, 50000, ip("47.1.1.101"), 22, SYN),
        0,
    );
    assert_eq!(n.eni_id(d), Some("eni-nat"));
    assert_eq!(o.dst, ip("10.0.1.101"));
}

#[test]
fn ingress_cut_through_eip_is_delivered_unchanged_and_visible_to_the_guest() {
    let mut n = Net::new();
    let (d, o, _) = n.send(
        Ingress::Internet,
        tcp(CLIENT, 50000, ip("47.1.1.110"), 22, SYN),
        0,
    );
    assert_eq!(n.eni_id(d), Some("eni-cut"));
    assert_eq!(
        o.dst,
        ip("47.1.1.110"),
        "cut-through: the guest holds the EIP"
    );
    let (d, o, _) = n.send(
        n.guest("i-cut"),
        tcp(ip("47.1.1.110"), 22, CLIENT, 50000, SYNACK),
        0,
    );
    assert_eq!((d, o.src), (Disposition::Internet, ip("47.1.1.110")));
}

#[test]
fn multi_eip_to_eni_mode_makes_eips_visible_and_keeps_the_private_network() {
    let steps = [
        Operation::AllocateEipAddress {
            internet_charge_type: None,
            resource_group_id: None,
            ip_address: Some(ip("47.1.1.120")),
            allocation_id: Some("eip-m1".into()),
        },
        Operation::AllocateEipAddress {
            internet_charge_type: None,
            resource_group_id: None,
            ip_address: Some(ip("47.1.1.121")),
            allocation_id: Some("eip-m2".into()),
        },
        Operation::CreateNetworkInterface {
            vswitch_id: "vsw-a".into(),
            security_group_id: "sg-open".into(),
            primary_ip_address: Some(ip("10.0.1.120")),
            network_interface_name: None,
            description: None,
            network_interface_id: Some("eni-multi".into()),
        },
        Operation::AttachNetworkInterface {
            network_interface_id: "eni-multi".into(),
            instance_id: "i-cut".into(),
        },
        Operation::AssociateEipAddress {
            allocation_id: "eip-m1".into(),
            instance_id: "eni-multi".into(),
            instance_type: Some(vpcsim::model::EipTarget::NetworkInterface),
            mode: Some(vpcsim::model::EniMode::MultiEip),
            private_ip_address: None,
        },
        Operation::AssociateEipAddress {
            allocation_id: "eip-m2".into(),
            instance_id: "eni-multi".into(),
            instance_type: Some(vpcsim::model::EipTarget::NetworkInterface),
            mode: Some(vpcsim::model::EniMode::MultiEip),
            private_ip_address: None,
        },
    ];
    let mut n = Net::with_steps(&steps);
    for eip in ["47.1.1.120", "47.1.1.121"] {
        let (d, o, _) = n.send(Ingress::Internet, tcp(CLIENT, 50000, ip(eip), 22, SYN), 0);
        assert_eq!(n.eni_id(d), Some("eni-multi"));
        assert_eq!(o.dst, ip(eip), "multi-EIP: visible in the guest");
    }
    // The private network of the ENI still works.
    let (d, _, _) = n.send(
        n.guest("i-snat"),
        tcp(ip("10.0.1.12"), 40000, ip("10.0.1.120"), 22, SYN),
        0,
    );
    assert_eq!(n.eni_id(d), Some("eni-multi"));
}

#[test]
fn ingress_nat_gateway_snat_return_traffic_is_translated_back() {
    let mut n = Net::new();
    let (_, o, _) = n.send(n.guest("i-snat"), udp(ip("10.0.1.12"), 5353, SERVER, 53), 0);
    let (eip, port) = (o.src, o.ports().0);
    let (d, back, _) = n.send(Ingress::Internet, udp(SERVER, 53, eip, port), 1);
    assert_eq!(n.eni_id(d), Some("i-snat-eth0"));
    assert_eq!(
        (back.src, back.dst, back.ports()),
        (SERVER, ip("10.0.1.12"), (53, 5353))
    );
}

#[test]
fn ingress_nat_gateway_dnat_port_mapping() {
    let mut n = Net::new();
    let (d, o, _) = n.send(
        Ingress::Internet,
        tcp(CLIENT, 50000, ip("47.1.2.1"), 2222, SYN),
        0,
    );
    assert_eq!(n.eni_id(d), Some("i-dnat-eth0"));
    assert_eq!((o.dst, o.ports().1), (ip("10.0.2.20"), 22));
    let (d, o, _) = n.send(
        n.guest("i-dnat"),
        tcp(ip("10.0.2.20"), 22, CLIENT, 50000, SYNACK),
        0,
    );
    assert_eq!(d, Disposition::Internet);
    assert_eq!(
        (o.src, o.ports().0),
        (ip("47.1.2.1"), 2222),
        "the reply leaves from the DNAT external address and port"
    );
}

#[test]
fn ingress_nat_gateway_dnat_ip_mapping() {
    let mut n = Net::new();
    let (d, o, _) = n.send(Ingress::Internet, udp(CLIENT, 5000, ip("47.1.2.3"), 53), 0);
    assert_eq!(n.eni_id(d), Some("i-dnat2-eth0"));
    assert_eq!((o.dst, o.ports().1), (ip("10.0.2.21"), 53));
}

#[test]
fn ingress_nat_gateway_without_session_or_dnat_is_dropped() {
    let mut n = Net::new();
    let (d, _, _) = n.send(
        Ingress::Internet,
        tcp(CLIENT, 50000, ip("47.1.2.1"), 80, SYN),
        0,
    );
    assert_eq!(d, Disposition::Dropped(DropReason::NatGatewayNoMapping));
    let (d, _, _) = n.send(
        Ingress::Internet,
        tcp(CLIENT, 50000, ip("47.9.9.9"), 80, SYN),
        0,
    );
    assert_eq!(d, Disposition::Dropped(DropReason::PublicIpUnknown));
}

#[test]
fn eip_wins_over_dnat_for_the_instance_internet_traffic() {
    // DNAT and EIP on one instance "through another private IP path": a DNAT entry to a
    // secondary private IP of i-eip, whose primary IP has the EIP.
    let steps = [
        Operation::AssignPrivateIpAddresses {
            network_interface_id: "i-eip-eth0".into(),
            private_ip_address: vec![ip("10.0.1.50")],
            secondary_private_ip_address_count: None,
        },
        Operation::CreateForwardEntry {
            forward_table_id: "ngw-1".into(),
            external_ip: ip("47.1.2.1"),
            external_port: "8080".into(),
            internal_ip: ip("10.0.1.50"),
            internal_port: "80".into(),
            ip_protocol: vpcsim::model::ForwardProtocol::Tcp,
            forward_entry_id: None,
        },
    ];
    let mut n = Net::with_steps(&steps);
    // The DNAT entry works for its own traffic, replies included...
    let (d, o, _) = n.send(
        Ingress::Internet,
        tcp(CLIENT, 50000, ip("47.1.2.1"), 8080, SYN),
        0,
    );
    assert_eq!(n.eni_id(d), Some("i-eip-eth0"));
    assert_eq!(o.dst, ip("10.0.1.50"));
    let (_, r, _) = n.send(
        n.guest("i-eip"),
        tcp(ip("10.0.1.50"), 80, CLIENT, 50000, SYNACK),
        0,
    );
    assert_eq!((r.src, r.ports().0), (ip("47.1.2.1"), 8080));
    // ...but the instance's own Internet traffic leaves with its EIP.
    let (d, o, _) = n.send(
        n.guest("i-eip"),
        tcp(ip("10.0.1.10"), 40000, SERVER, 443, SYN),
        0,
    );
    assert_eq!((d, o.src), (Disposition::Internet, ip("47.1.1.10")));
}

// ---------- Security groups ----------

#[test]
fn sg_is_stateful_reply_allowed_without_a_rule() {
    let mut n = Net::new();
    // i-closed (sg-closed: no rules, basic) sends out: basic egress default allows.
    let (d, o, _) = n.send(
        n.guest("i-closed"),
        udp(ip("10.0.1.14"), 5000, SERVER, 53),
        0,
    );
    assert_eq!(d, Disposition::Internet);
    // The reply comes back in although no ingress rule allows it.
    let (d, _, _) = n.send(Ingress::Internet, udp(SERVER, 53, o.src, o.ports().0), 1);
    assert_eq!(n.eni_id(d), Some("i-closed-eth0"));
    // A new inbound flow is denied.
    let (d, _, _) = n.send(
        n.guest("i-snat"),
        tcp(ip("10.0.1.12"), 40000, ip("10.0.1.14"), 22, SYN),
        0,
    );
    assert_eq!(d, Disposition::Dropped(DropReason::SgIngressDenied));
}

#[test]
fn sg_session_lifetime_is_910_seconds() {
    let mut n = Net::new();
    let (_, o, _) = n.send(
        n.guest("i-closed"),
        tcp(ip("10.0.1.14"), 5000, SERVER, 443, SYN),
        0,
    );
    let (eip, port) = (o.src, o.ports().0);
    let (d, _, _) = n.send(Ingress::Internet, tcp(SERVER, 443, eip, port, SYNACK), 1);
    assert!(matches!(d, Disposition::Delivered { .. }));
    n.send(
        n.guest("i-closed"),
        tcp(ip("10.0.1.14"), 5000, SERVER, 443, ACK),
        1,
    );
    // Idle 909 s: still there.
    let (d, _, _) = n.send(Ingress::Internet, tcp(SERVER, 443, eip, port, ACK), 910);
    assert!(matches!(d, Disposition::Delivered { .. }), "{d:?}");
    // Idle 911 s: the session is gone and the (unsolicited) packet is dropped.
    let (d, _, _) = n.send(
        Ingress::Internet,
        tcp(SERVER, 443, eip, port, ACK),
        910 + 911,
    );
    assert_eq!(d, Disposition::Dropped(DropReason::NatGatewayNoMapping));
}

const SG_ORDER: &str = concat!(
    support::scenario!("sg-order"),
    support::vpc_1!("z"),
    r#"[[security_groups]]
id = "sg-a"
vpc = "vpc-1"
rules = [
  { direction = "ingress", protocol = "tcp", ports = "1/65535", cidr = "0.0.0.0/0", policy = "accept", priority = 5 },
  { direction = "ingress", protocol = "tcp", ports = "22/22", cidr = "10.0.1.0/24", policy = "drop", priority = 1 },
  { direction = "ingress", protocol = "tcp", ports = "80/80", cidr = "0.0.0.0/0", policy = "accept", priority = 3 },
  { direction = "ingress", protocol = "tcp", ports = "80/80", cidr = "0.0.0.0/0", policy = "drop", priority = 3 },
]
[[security_groups]]
id = "sg-b"
vpc = "vpc-1"
rules = [ { direction = "ingress", protocol = "tcp", ports = "443/443", cidr = "0.0.0.0/0", policy = "drop", priority = 2 } ]
[[instances]]
id = "i-dst"
vswitch = "vsw-a"
private_ip = "10.0.1.10"
security_groups = ["sg-a", "sg-b"]
[[instances]]
id = "i-src"
vswitch = "vsw-a"
private_ip = "10.0.1.11"
security_groups = ["sg-a"]
"#,
);

#[test]
fn sg_rules_of_all_groups_merge_by_priority_and_drop_wins_ties() {
    let mut n = Net::from(SG_ORDER);
    let mut try_port = |p: u16| {
        n.send(
            n.guest("i-src"),
            tcp(ip("10.0.1.11"), 40000 + p, ip("10.0.1.10"), p, SYN),
            0,
        )
        .0
    };
    assert_eq!(
        try_port(22),
        Disposition::Dropped(DropReason::SgIngressDenied),
        "priority 1 drop beats priority 5 accept"
    );
    assert_eq!(
        try_port(80),
        Disposition::Dropped(DropReason::SgIngressDenied),
        "equal priority: drop before accept"
    );
    assert_eq!(
        try_port(443),
        Disposition::Dropped(DropReason::SgIngressDenied),
        "sg-b's rule merges into the ENI's list"
    );
    assert!(
        matches!(try_port(8080), Disposition::Delivered { .. }),
        "priority 5 accept"
    );
}

#[test]
fn sg_basic_default_allows_inbound_only_from_members_of_the_same_group() {
    let mut n = Net::new();
    // i-closed and i-snat share no group: denied. Two sg-open members: allowed by intra-group default.
    let (d, _, _) = n.send(
        n.guest("i-closed"),
        tcp(ip("10.0.1.14"), 40000, ip("10.0.1.12"), 9999, SYN),
        0,
    );
    assert_eq!(
        d,
        Disposition::Dropped(DropReason::SgIngressDenied),
        "9999 is not in sg-open's rules and i-closed is no member"
    );
    let (d, _, _) = n.send(
        n.guest("i-eip"),
        tcp(ip("10.0.1.10"), 40000, ip("10.0.1.12"), 9999, SYN),
        0,
    );
    assert!(
        matches!(d, Disposition::Delivered { .. }),
        "members of one basic group reach each other"
    );
}

#[test]
fn sg_enterprise_default_denies_inbound_and_outbound_and_isolates_members() {
    let mut n = Net::new();
    let (d, _, _) = n.send(n.guest("i-ent"), udp(ip("10.0.1.15"), 5000, SERVER, 53), 0);
    assert_eq!(d, Disposition::Dropped(DropReason::SgEgressDenied));
    let (d, _, _) = n.send(
        n.guest("i-ent"),
        tcp(ip("10.0.1.15"), 5000, SERVER, 443, SYN),
        0,
    );
    assert_eq!(d, Disposition::Internet, "its egress rule allows 443");
    let (d, _, _) = n.send(
        n.guest("i-snat"),
        tcp(ip("10.0.1.12"), 40000, ip("10.0.1.15"), 22, SYN),
        0,
    );
    assert_eq!(d, Disposition::Dropped(DropReason::SgIngressDenied));
}

#[test]
fn sg_ingress_denied_names_the_rule_or_default_in_the_trace() {
    let sc = Scenario::parse(TOPOLOGY, "t.toml").unwrap();
    let mut dp = vpcsim::probe::dataplane(&sc.initial);
    let t = Arc::clone(dp.tables());
    let req =
        vpcsim::probe::request(&t, "internet:198.51.100.7", "47.1.1.10:3306", "tcp", None).unwrap();
    let r = vpcsim::probe::send(&mut dp, &req, false, SimTime::ZERO).unwrap();
    assert_eq!(r.reason, Some("sg_ingress_denied"));
    let text = r.trace_lines().join("\n");
    assert!(
        text.contains("sg-open") && text.contains("AuthorizeSecurityGroup"),
        "{text}"
    );
}

// ---------- Guest OS routing ----------

#[test]
fn guest_routing_default_route_is_the_primary_eni() {
    let mut n = Net::new();
    // i-multi's default source is eth0's address; its packet goes out eth0 (SNAT).
    let (d, o, _) = n.send(
        n.guest("i-multi"),
        tcp(ip("10.0.1.16"), 40000, SERVER, 443, SYN),
        0,
    );
    assert_eq!((d, o.src), (Disposition::Internet, ip("47.1.2.1")));
}

#[test]
fn guest_reply_from_secondary_eni_without_policy_routes_leaves_by_eth0_and_is_dropped() {
    let off = Operation::SetGuestPolicyRoutes {
        instance_id: "i-multi".into(),
        enabled: false,
    };
    let mut n = Net::with_steps(&[off]);
    let (d, o, _) = n.send(
        Ingress::Internet,
        tcp(CLIENT, 50000, ip("47.1.1.101"), 22, SYN),
        0,
    );
    assert_eq!(n.eni_id(d), Some("eni-nat"));
    let (d, _, _) = n.send(n.guest("i-multi"), tcp(o.dst, 22, CLIENT, 50000, SYNACK), 0);
    assert_eq!(d, Disposition::Dropped(DropReason::EniSourceCheck));
    // With policy routes the same reply leaves by eth1 and gets back the EIP.
    let mut n = Net::new();
    n.send(
        Ingress::Internet,
        tcp(CLIENT, 50000, ip("47.1.1.101"), 22, SYN),
        0,
    );
    let (d, o, _) = n.send(
        n.guest("i-multi"),
        tcp(ip("10.0.1.101"), 22, CLIENT, 50000, SYNACK),
        0,
    );
    assert_eq!((d, o.src), (Disposition::Internet, ip("47.1.1.101")));
}

// ---------- Inside the VPC ----------

#[test]
fn east_west_traffic_follows_the_local_route_and_keeps_addresses() {
    let mut n = Net::new();
    let (d, o, _) = n.send(
        n.guest("i-snat"),
        tcp(ip("10.0.1.12"), 40000, ip("10.0.2.20"), 22, SYN),
        0,
    );
    assert_eq!(n.eni_id(d), Some("i-dnat-eth0"));
    assert_eq!((o.src, o.dst), (ip("10.0.1.12"), ip("10.0.2.20")));
    assert_eq!(o.ttl, 63, "one routed hop");
    let (d, _, _) = n.send(
        n.guest("i-snat"),
        tcp(ip("10.0.1.12"), 40000, ip("10.0.1.99"), 22, SYN),
        0,
    );
    assert_eq!(d, Disposition::Dropped(DropReason::NoSuchPrivateIp));
}

#[test]
fn hairpin_an_instance_reaches_another_instance_eip_from_inside_the_vpc() {
    let mut n = Net::new();
    let (d, o, _) = n.send(
        n.guest("i-snat"),
        tcp(ip("10.0.1.12"), 40000, ip("47.1.1.10"), 22, SYN),
        0,
    );
    assert_eq!(n.eni_id(d), Some("i-eip-eth0"));
    assert_eq!(
        (o.src, o.dst),
        (ip("47.1.2.1"), ip("10.0.1.10")),
        "the receiver sees the sender's SNAT EIP"
    );
    let sport = o.ports().0;
    let (d, back, _) = n.send(
        n.guest("i-eip"),
        tcp(ip("10.0.1.10"), 22, ip("47.1.2.1"), sport, SYNACK),
        0,
    );
    assert_eq!(n.eni_id(d), Some("i-snat-eth0"));
    assert_eq!(
        (back.src, back.dst, back.ports()),
        (ip("47.1.1.10"), ip("10.0.1.12"), (22, 40000))
    );
}

// ---------- TTL and ICMP ----------

#[test]
fn ttl_expiring_at_the_vpc_router_generates_icmp_time_exceeded() {
    let mut n = Net::new();
    let mut buf = echo(ip("10.0.1.12"), SERVER, true, 9, 1);
    vpcsim::pipeline::stamp_sender_mac(&n.t, n.guest("i-snat"), &mut buf);
    let out =
        n.dp.process(&mut buf, n.guest("i-snat"), SimTime::ZERO, None);
    assert_eq!(
        out.disposition,
        Disposition::Dropped(DropReason::TtlExceeded)
    );
    let (icmp, to) = &out.generated[0];
    assert_eq!(n.eni_id(*to), Some("i-snat-eth0"));
    let i = wire::parse(icmp).unwrap();
    assert_eq!(
        (i.src, i.dst),
        (ip("10.0.1.253"), ip("10.0.1.12")),
        "from the VSwitch gateway to the sender"
    );
    assert!(matches!(i.l4, L4::IcmpError { icmp_type: 11, .. }));
    wire::checksums_valid(icmp).unwrap();
    // TTL 2 passes the router but expires at the NAT gateway (second hop).
    let mut buf = echo(ip("10.0.1.12"), SERVER, true, 9, 2);
    vpcsim::pipeline::stamp_sender_mac(&n.t, n.guest("i-snat"), &mut buf);
    let out =
        n.dp.process(&mut buf, n.guest("i-snat"), SimTime::ZERO, None);
    assert_eq!(
        out.disposition,
        Disposition::Dropped(DropReason::TtlExceeded)
    );
    let mut buf = echo(ip("10.0.1.12"), SERVER, true, 9, 3);
    vpcsim::pipeline::stamp_sender_mac(&n.t, n.guest("i-snat"), &mut buf);
    let out =
        n.dp.process(&mut buf, n.guest("i-snat"), SimTime::ZERO, None);
    assert_eq!(out.disposition, Disposition::Internet);
    assert_eq!(wire::parse(&buf).unwrap().ttl, 1);
}

#[test]
fn icmp_echo_through_snat_translates_the_identifier_and_back() {
    let mut n = Net::new();
    let (d, o, _) = n.send(
        n.guest("i-snat"),
        echo(ip("10.0.1.12"), SERVER, true, 777, 64),
        0,
    );
    assert_eq!(d, Disposition::Internet);
    let L4::IcmpEcho { ident, .. } = o.l4 else {
        panic!()
    };
    let (d, back, _) = n.send(Ingress::Internet, echo(SERVER, o.src, false, ident, 64), 0);
    assert_eq!(n.eni_id(d), Some("i-snat-eth0"));
    assert!(matches!(
        back.l4,
        L4::IcmpEcho {
            ident: 777,
            request: false,
            ..
        }
    ));
    assert_eq!(back.dst, ip("10.0.1.12"));
}

#[test]
fn icmp_errors_carry_their_embedded_header_translated_rfc5508() {
    let mut n = Net::new();
    let (_, o, out_frame) = n.send(n.guest("i-snat"), udp(ip("10.0.1.12"), 5353, SERVER, 53), 0);
    // A router on the Internet answers "port unreachable" about the translated packet.
    let oi = wire::parse(&out_frame).unwrap();
    let err = wire::icmp_error(
        &out_frame,
        &oi,
        wire::IcmpErrorKind::DestUnreachable { code: 3 },
        SERVER,
        [2; 6],
        [4; 6],
    )
    .unwrap();
    let (d, e, frame) = n.send(Ingress::Internet, err, 1);
    assert_eq!(n.eni_id(d), Some("i-snat-eth0"));
    assert_eq!(e.dst, ip("10.0.1.12"));
    let L4::IcmpError { inner, .. } = e.l4 else {
        panic!("{e:?}")
    };
    assert_eq!(
        (inner.src, inner.sport, inner.dst, inner.dport),
        (ip("10.0.1.12"), 5353, SERVER, 53),
        "embedded header back to the private side"
    );
    wire::checksums_valid(&frame).unwrap();
    let _ = o;
}

// ---------- Malformed frames ----------

#[test]
fn malformed_frames_are_dropped_with_a_named_reason_never_a_panic() {
    let mut n = Net::new();
    let good = tcp(ip("10.0.1.12"), 40000, SERVER, 443, SYN);
    let mut cases: Vec<(&str, Vec<u8>, DropReason)> = vec![];
    cases.push(("truncated", good[..20].to_vec(), DropReason::MalformedFrame));
    let mut bad_ihl = good.clone();
    bad_ihl[14] = 0x44;
    cases.push(("bad IHL", bad_ihl, DropReason::MalformedFrame));
    let mut bad_len = good.clone();
    bad_len[16] = 0xff;
    cases.push(("bad total length", bad_len, DropReason::MalformedFrame));
    let mut non_ip = good.clone();
    non_ip[12] = 0x86;
    non_ip[13] = 0xdd;
    cases.push(("IPv6", non_ip, DropReason::UnsupportedEthertypeIpv6));
    let mut opts = good.clone();
    opts[14] = 0x46;
    cases.push(("IP options", opts, DropReason::MalformedFrame));
    for (what, mut f, want) in cases {
        vpcsim::pipeline::stamp_sender_mac(&n.t, n.guest("i-snat"), &mut f);
        let out = n.dp.process(&mut f, n.guest("i-snat"), SimTime::ZERO, None);
        assert!(
            matches!(out.disposition, Disposition::Dropped(r) if r == want || r == DropReason::Ipv4Options),
            "{what}: {:?}",
            out.disposition
        );
    }
    assert!(n.dp.counters.total_dropped() >= 5);
}

#[test]
fn fast_path_gives_the_same_answer_as_the_slow_path() {
    // The same flow twice: the second packet takes the cached action; the output bytes
    // must be those the slow path would produce for it.
    let mut n = Net::new();
    let (_, first, _) = n.send(
        n.guest("i-snat"),
        tcp(ip("10.0.1.12"), 40000, SERVER, 443, SYN),
        0,
    );
    let fast_before = n.dp.counters.fast_path;
    let (_, second, _) = n.send(
        n.guest("i-snat"),
        tcp(ip("10.0.1.12"), 40000, SERVER, 443, ACK),
        0,
    );
    assert_eq!(n.dp.counters.fast_path, fast_before + 1);
    assert_eq!((first.src, first.ports()), (second.src, second.ports()));
}

#[test]
fn sg_joining_a_group_applies_its_rules_at_once_and_leaving_isolates_from_its_members() {
    let join = |g: &str| Operation::JoinSecurityGroup {
        security_group_id: g.into(),
        instance_id: Some("i-closed".into()),
        network_interface_id: None,
    };
    let probe = |n: &mut Net| {
        n.send(
            n.guest("i-eip"),
            tcp(ip("10.0.1.10"), 40000, ip("10.0.1.14"), 9999, SYN),
            0,
        )
        .0
    };
    // i-closed is only in sg-closed: i-eip (sg-open) cannot reach port 9999.
    assert_eq!(
        probe(&mut Net::new()),
        Disposition::Dropped(DropReason::SgIngressDenied)
    );
    // Joining sg-open: members of one basic group reach each other at once.
    let mut n = Net::with_steps(&[join("sg-open")]);
    assert!(matches!(probe(&mut n), Disposition::Delivered { .. }));
    // Leaving sg-open again isolates it from sg-open's members.
    let leave = Operation::LeaveSecurityGroup {
        security_group_id: "sg-open".into(),
        instance_id: Some("i-closed".into()),
        network_interface_id: None,
    };
    let mut n = Net::with_steps(&[join("sg-open"), leave]);
    assert_eq!(
        probe(&mut n),
        Disposition::Dropped(DropReason::SgIngressDenied)
    );
}
