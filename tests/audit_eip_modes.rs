//! Black-box checks of SEMANTICS.md §2/§3 for EIPs on secondary ENIs: NAT mode (on the
//! primary or a secondary private IP), cut-through (BINDED) and multi-EIP-to-ENI
//! (MULTI_BINDED) — what the guest sees, what leaves, what gets in.

mod audit_support;
use audit_support::*;
use vpcsim::pipeline::Ingress;

const TOPO: &str = r#"
[scenario]
name = "audit-eip-modes"

[[vpcs]]
id = "vpc-1"
cidr = "10.0.0.0/16"

[[vswitches]]
id = "vsw-a"
vpc = "vpc-1"
zone = "z-a"
cidr = "10.0.1.0/24"

[[route_tables]]
id = "vtb-vpc-1"
vpc = "vpc-1"
routes = [ { destination = "172.16.0.0/12", next_hop_type = "VpnGateway", next_hop_id = "vpn-1", unmodelled = true } ]

[[security_groups]]
id = "sg-1"
vpc = "vpc-1"
rules = [
  { direction = "ingress", protocol = "tcp", ports = "1/65535", cidr = "0.0.0.0/0" },
  { direction = "ingress", protocol = "icmp", cidr = "0.0.0.0/0" },
]

[[instances]]
id = "i-cut"
vswitch = "vsw-a"
instance_type = "ecs.g6.xlarge"
private_ip = "10.0.1.10"
security_groups = ["sg-1"]
guest = { policy_routes = true }

[[instances]]
id = "i-multi"
vswitch = "vsw-a"
instance_type = "ecs.g6.xlarge"
private_ip = "10.0.1.20"
security_groups = ["sg-1"]
guest = { policy_routes = true }

[[instances]]
id = "i-nat"
vswitch = "vsw-a"
instance_type = "ecs.g6.xlarge"
private_ip = "10.0.1.30"
security_groups = ["sg-1"]
guest = { policy_routes = true }

[[instances]]
id = "i-peer"
vswitch = "vsw-a"
private_ip = "10.0.1.40"
security_groups = ["sg-1"]

[[enis]]
id = "eni-cut"
vswitch = "vsw-a"
primary_ip = "10.0.1.11"
security_groups = ["sg-1"]
instance = "i-cut"

[[enis]]
id = "eni-multi"
vswitch = "vsw-a"
primary_ip = "10.0.1.21"
security_groups = ["sg-1"]
instance = "i-multi"

[[enis]]
id = "eni-nat"
vswitch = "vsw-a"
primary_ip = "10.0.1.31"
security_groups = ["sg-1"]
instance = "i-nat"

[[nat_gateways]]
id = "ngw-1"
vpc = "vpc-1"
vswitch = "vsw-a"
snat = [ { source_cidr = "10.0.0.0/16", snat_ips = ["47.1.2.1"] } ]

[[eips]]
id = "e-ngw"
address = "47.1.2.1"
bind = { type = "Nat", id = "ngw-1" }

[[eips]]
id = "e-cut"
address = "47.1.1.11"
bind = { type = "NetworkInterface", id = "eni-cut", mode = "BINDED" }

[[eips]]
id = "e-m1"
address = "47.1.1.21"
bind = { type = "NetworkInterface", id = "eni-multi", mode = "MULTI_BINDED" }

[[eips]]
id = "e-m2"
address = "47.1.1.22"
bind = { type = "NetworkInterface", id = "eni-multi", mode = "MULTI_BINDED" }

[[eips]]
id = "e-nat"
address = "47.1.1.31"
bind = { type = "NetworkInterface", id = "eni-nat", mode = "NAT" }
"#;

fn net() -> Net {
    Net::new(TOPO, None)
}

#[test]
fn multi_eip_each_eip_is_visible_in_the_guest_and_leaves_unchanged() {
    // §3: multi-EIP-to-ENI: EIPs are visible in the guest; the guest sends from them.
    let mut n = net();
    for (k, eip) in ["47.1.1.21", "47.1.1.22"].iter().enumerate() {
        let s = n.send(
            n.guest("i-multi"),
            tcp(eip, 40000 + k as u16, SERVER, 443, SYN),
            0,
        );
        assert!(s.is_internet(), "{eip}: {:?}", s.trace);
        assert_eq!((s.src(), s.ports().0), (ip(eip), 40000 + k as u16));
        let s = n.send(Ingress::Internet, tcp(CLIENT, 50000, eip, 22, SYN), 0);
        assert_eq!(
            n.delivered_to(&s).as_deref(),
            Some("eni-multi"),
            "{:?}",
            s.trace
        );
        assert_eq!(s.dst(), ip(eip), "delivered untranslated");
    }
}

#[test]
fn multi_eip_keeps_the_private_network_and_its_private_ip_egresses_by_the_route_table() {
    // §3: in multi-EIP mode the ENI's private network stays; its private IP has no 1:1
    // mapping, so rule 3 applies to it (the route table and SNAT).
    let mut n = net();
    let s = n.send(
        n.guest("i-peer"),
        tcp("10.0.1.40", 40000, "10.0.1.21", 22, SYN),
        0,
    );
    assert_eq!(
        n.delivered_to(&s).as_deref(),
        Some("eni-multi"),
        "{:?}",
        s.trace
    );
    let s = n.send(
        n.guest("i-multi"),
        tcp("10.0.1.21", 40000, SERVER, 443, SYN),
        0,
    );
    assert!(s.is_internet(), "{:?}", s.trace);
    assert_eq!(s.src(), ip("47.1.2.1"), "{:?}", s.trace);
}

#[test]
fn cut_through_eni_has_no_private_network_either_way() {
    // §2: in cut-through mode the ENI's private network feature is no longer available.
    let mut n = net();
    let s = n.send(
        n.guest("i-cut"),
        tcp("47.1.1.11", 40000, "10.0.1.40", 22, SYN),
        0,
    );
    assert_eq!(
        s.reason(),
        Some("cut_through_no_private_network"),
        "{:?}",
        s.trace
    );
    // Its old private IP is gone: nothing in the VPC reaches it.
    let s = n.send(
        n.guest("i-peer"),
        tcp("10.0.1.40", 40000, "10.0.1.11", 22, SYN),
        0,
    );
    assert!(n.delivered_to(&s).is_none(), "{:?}", s.trace);
    // From the Internet, the EIP arrives unchanged.
    let s = n.send(
        Ingress::Internet,
        tcp(CLIENT, 50000, "47.1.1.11", 22, SYN),
        0,
    );
    assert_eq!(
        n.delivered_to(&s).as_deref(),
        Some("eni-cut"),
        "{:?}",
        s.trace
    );
    assert_eq!(s.dst(), ip("47.1.1.11"));
}

#[test]
fn cut_through_eip_is_reached_from_inside_the_vpc_through_the_internet() {
    // A VPC instance reaching the cut-through EIP goes out by SNAT and back in.
    let mut n = net();
    let s = n.send(
        n.guest("i-peer"),
        tcp("10.0.1.40", 40000, "47.1.1.11", 22, SYN),
        0,
    );
    assert_eq!(
        n.delivered_to(&s).as_deref(),
        Some("eni-cut"),
        "{:?}",
        s.trace
    );
    assert_eq!(
        s.src(),
        ip("47.1.2.1"),
        "the SNAT EIP, seen by the cut-through ENI"
    );
}

#[test]
fn nat_mode_without_private_ip_address_maps_the_enis_primary_private_ip() {
    // §2: NAT mode (default) maps the EIP to a private IP; without PrivateIpAddress,
    // the ENI's primary one. Invisible in the guest: it arrives translated.
    let mut n = net();
    let s = n.send(
        Ingress::Internet,
        tcp(CLIENT, 50000, "47.1.1.31", 22, SYN),
        0,
    );
    assert_eq!(
        n.delivered_to(&s).as_deref(),
        Some("eni-nat"),
        "{:?}",
        s.trace
    );
    assert_eq!(s.dst(), ip("10.0.1.31"));
    let b = n.send(
        n.guest("i-nat"),
        tcp("10.0.1.31", 22, CLIENT, 50000, SYNACK),
        0,
    );
    assert!(b.is_internet(), "{:?}", b.trace);
    assert_eq!(b.src(), ip("47.1.1.31"));
    // eth0 of the same instance still leaves by SNAT.
    let s = n.send(
        n.guest("i-nat"),
        tcp("10.0.1.30", 40000, SERVER, 443, SYN),
        0,
    );
    assert_eq!(s.src(), ip("47.1.2.1"));
}

#[test]
fn nat_mode_eip_on_a_secondary_eni_is_not_the_guests_address() {
    // §3: EIPs are not visible inside the guest in NAT mode: a guest that sends from
    // the EIP itself is spoofing.
    let mut n = net();
    let s = n.send(
        n.guest("i-nat"),
        tcp("47.1.1.31", 40000, SERVER, 443, SYN),
        0,
    );
    assert!(!s.is_internet(), "sent from a NAT-mode EIP: {:?}", s.trace);
}

#[test]
#[ignore = "spec question: SEMANTICS §3 rule 1 says the EIP path ignores the route table; the cloud sends a VPN-routed private destination through the VPN, vpcsim sends it to the Internet from the EIP"]
fn eip_does_not_carry_private_destinations_routed_to_a_vpn_gateway() {
    // The EIP is the instance's Internet address; 172.16.0.0/12 is routed to a VPN
    // gateway. vpcsim answers "to the Internet, source 47.1.1.31" for a private
    // destination the route table sends elsewhere.
    let mut n = net();
    let s = n.send(
        n.guest("i-nat"),
        tcp("10.0.1.31", 40000, "172.16.0.5", 22, SYN),
        0,
    );
    assert_eq!(s.reason(), Some("next_hop_unmodelled"), "{:?}", s.trace);
}
