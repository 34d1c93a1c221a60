//! SEMANTICS.md §5 "Changes while traffic flows": one test per kind of change. Each
//! establishes TCP connections through one long-lived data plane, applies the change
//! (new tables, same flow table), sends the next packet of each connection and asserts
//! which ones survive (delivered with their old translation) and which end, with the
//! exact drop reason.

use std::net::Ipv4Addr;

use vpcsim::compile::Tables;
use vpcsim::model::{Cloud, Operation};
use vpcsim::pipeline::{
    Dataplane, DataplaneConfig, Disposition, DropReason, EndCause, Ingress, OnChange, Trace,
    INTERNET_MAC, VROUTER_MAC,
};
use vpcsim::scenario::Scenario;
use vpcsim::time::SimTime;
use vpcsim::wire::{self, ProbeL4, TcpFlags};

mod support;
use support::{ip, CLIENT, SERVER};

const TOPOLOGY: &str = concat!(
    support::scenario!("live-changes"),
    support::vpc_1!(),
    r#"[[security_groups]]
id = "sg-web"
vpc = "vpc-1"
rules = [ { direction = "ingress", protocol = "tcp", ports = "22/22", cidr = "0.0.0.0/0" } ]

[[security_groups]]
id = "sg-extra"
vpc = "vpc-1"
rules = [ { direction = "ingress", protocol = "tcp", ports = "22/22", cidr = "198.51.100.0/24" } ]

[[instances]]
id = "i-web"
vswitch = "vsw-a"
instance_type = "ecs.g6.xlarge"
private_ip = "10.0.1.10"
security_groups = ["sg-web"]
guest = { policy_routes = true }

[[instances]]
id = "i-app"
vswitch = "vsw-a"
private_ip = "10.0.1.20"
security_groups = ["sg-web"]

[[instances]]
id = "i-db"
vswitch = "vsw-a"
private_ip = "10.0.1.30"
security_groups = ["sg-web"]

[[enis]]
id = "eni-2"
vswitch = "vsw-a"
primary_ip = "10.0.1.100"
security_groups = ["sg-web"]
instance = "i-web"

[[nat_gateways]]
id = "ngw-1"
vpc = "vpc-1"
vswitch = "vsw-a"
snat = [ { id = "snat-vpc", source_cidr = "10.0.0.0/16", snat_ips = ["47.1.2.1"] } ]
dnat = [ { id = "dnat-ssh", external_ip = "47.1.2.2", external_port = "2222", internal_ip = "10.0.1.30", internal_port = "22", protocol = "TCP" } ]

"#,
    support::eip!("eip-ngw1", "47.1.2.1", "Nat", "ngw-1"),
    support::eip!("eip-ngw2", "47.1.2.2", "Nat", "ngw-1"),
    r#"[[eips]]
id = "eip-web"
address = "47.1.1.10"
bind = { type = "EcsInstance", id = "i-web" }

[[eips]]
id = "eip-2"
address = "47.1.1.100"
bind = { type = "NetworkInterface", id = "eni-2", mode = "NAT" }

[[eips]]
id = "eip-spare"
address = "47.1.1.200"
"#,
);

const OTHER_CLIENT: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 9);

struct Live {
    cloud: Cloud,
    dp: Dataplane,
    now: SimTime,
}

/// One direction of a connection: where its packets enter and with which tuple.
#[derive(Clone, Copy)]
struct Side {
    at: Ingress,
    mac: [u8; 6],
    src: Ipv4Addr,
    sport: u16,
    dst: Ipv4Addr,
    dport: u16,
}

/// A connection as both ends see it.
#[derive(Clone, Copy)]
struct Conn {
    client: Side,
    server: Side,
}

fn frame(s: &Side, flags: TcpFlags) -> Vec<u8> {
    let l4 = ProbeL4::Tcp {
        sport: s.sport,
        dport: s.dport,
        flags,
        seq: 1,
        ack: 1,
    };
    support::frame(s.src, s.dst, l4)
        .macs(s.mac, VROUTER_MAC)
        .ident(1)
        .payload(*b"data")
        .build()
}

impl Live {
    fn new(mode: OnChange) -> Live {
        let cloud = Scenario::parse(TOPOLOGY, "live").unwrap().initial;
        let dp = Dataplane::new(
            Tables::compile(&cloud, 1),
            DataplaneConfig {
                conntrack_capacity: 1024,
                on_change: mode,
                ..Default::default()
            },
        );
        Live {
            cloud,
            dp,
            now: SimTime::from_secs(1),
        }
    }

    fn guest(&self, id: &str) -> Ingress {
        let t = self.dp.tables();
        Ingress::Guest(t.instance_index[id])
    }

    fn guest_mac(&self, id: &str) -> [u8; 6] {
        let t = self.dp.tables();
        let i = &t.instances[t.instance_index[id] as usize];
        t.eni(i.devices[0]).mac
    }

    fn send(&mut self, s: &Side, flags: TcpFlags) -> (Disposition, Vec<u8>, Trace) {
        self.now = SimTime(self.now.0 + 10_000_000);
        let mut f = frame(s, flags);
        let mut trace = Trace::default();
        let out = self.dp.process(&mut f, s.at, self.now, Some(&mut trace));
        (out.disposition, f, trace)
    }

    /// An Internet client opens a connection to `to:port`; the server's guest answers
    /// from `server_ip:server_port`. Returns the connection once the handshake passed.
    #[allow(clippy::too_many_arguments)]
    fn inbound(
        &mut self,
        client: Ipv4Addr,
        sport: u16,
        to: &str,
        port: u16,
        server: &str,
        server_ip: &str,
        server_port: u16,
    ) -> Conn {
        let c = Conn {
            client: Side {
                at: Ingress::Internet,
                mac: INTERNET_MAC,
                src: client,
                sport,
                dst: ip(to),
                dport: port,
            },
            server: Side {
                at: self.guest(server),
                mac: self.guest_mac(server),
                src: ip(server_ip),
                sport: server_port,
                dst: client,
                dport: sport,
            },
        };
        let (d, _, _) = self.send(&c.client, TcpFlags::SYN);
        assert!(matches!(d, Disposition::Delivered { .. }), "SYN: {d:?}");
        let (d, f, _) = self.send(&c.server, TcpFlags(0x12));
        assert_eq!(d, Disposition::Internet, "SYN-ACK");
        assert_eq!(wire::parse(&f).unwrap().src, ip(to), "SYN-ACK source");
        let (d, _, _) = self.send(&c.client, TcpFlags::ACK);
        assert!(matches!(d, Disposition::Delivered { .. }), "ACK: {d:?}");
        c
    }

    /// A guest opens a connection to the Internet server; returns it and the source
    /// address the server saw.
    fn outbound(&mut self, from: &str, from_ip: &str, sport: u16) -> (Conn, Ipv4Addr, u16) {
        let client = Side {
            at: self.guest(from),
            mac: self.guest_mac(from),
            src: ip(from_ip),
            sport,
            dst: SERVER,
            dport: 443,
        };
        let (d, f, _) = self.send(&client, TcpFlags::SYN);
        assert_eq!(d, Disposition::Internet, "SYN");
        let seen = wire::parse(&f).unwrap();
        let (seen_port, _) = seen.ports();
        let c = Conn {
            client,
            server: Side {
                at: Ingress::Internet,
                mac: INTERNET_MAC,
                src: SERVER,
                sport: 443,
                dst: seen.src,
                dport: seen_port,
            },
        };
        let (d, _, _) = self.send(&c.server, TcpFlags(0x12));
        assert!(matches!(d, Disposition::Delivered { .. }), "SYN-ACK: {d:?}");
        let (d, _, _) = self.send(&c.client, TcpFlags::ACK);
        assert_eq!(d, Disposition::Internet, "ACK");
        (c, seen.src, seen_port)
    }

    fn change(&mut self, op: &str) {
        let op: Operation = toml::from_str(op).unwrap();
        self.cloud.apply(&op).unwrap();
        let epoch = self.dp.tables().epoch + 1;
        let t = Tables::compile_after(&self.cloud, epoch, self.dp.tables());
        self.dp.set_tables(t);
    }

    /// The next data packet from each end: both get through.
    fn survives(&mut self, c: &Conn) {
        let (d, _, tr) = self.send(&c.client, TcpFlags(0x18));
        assert_ne!(
            d,
            Disposition::Dropped(DropReason::FlowEndedByChange),
            "client's next packet: {:?}",
            tr.lines()
        );
        assert!(!matches!(d, Disposition::Dropped(_)), "client: {d:?}");
        let (d, f, _) = self.send(&c.server, TcpFlags(0x18));
        assert!(!matches!(d, Disposition::Dropped(_)), "server: {d:?}");
        // The reply still leaves with the address the client talks to.
        assert_eq!(
            wire::parse(&f).unwrap().src,
            c.client.dst,
            "translation kept"
        );
    }

    /// The next packet from `side` ends the connection; returns the recorded cause.
    fn ended_at(&mut self, side: &Side) -> EndCause {
        let (d, _, tr) = self.send(side, TcpFlags(0x18));
        assert_eq!(
            d,
            Disposition::Dropped(DropReason::FlowEndedByChange),
            "{:?}",
            tr.lines()
        );
        assert!(
            tr.lines().iter().any(|l| l.contains("ended by the change")),
            "the trace names the change: {:?}",
            tr.lines()
        );
        let ended = self.dp.take_ended();
        assert_eq!(ended.len(), 1);
        ended[0].cause.clone()
    }
}

/// SSH from `client` to i-web by its EIP.
fn ssh_from(l: &mut Live, client: Ipv4Addr, sport: u16) -> Conn {
    l.inbound(client, sport, "47.1.1.10", 22, "i-web", "10.0.1.10", 22)
}

fn ssh(l: &mut Live) -> Conn {
    ssh_from(l, CLIENT, 40001)
}

/// SSH to i-web's secondary ENI eni-2, by its EIP.
fn ssh_eni2(l: &mut Live) -> Conn {
    l.inbound(CLIENT, 40003, "47.1.1.100", 22, "i-web", "10.0.1.100", 22)
}

/// SSH to i-db through the NAT gateway's DNAT entry.
fn ssh_dnat(l: &mut Live) -> Conn {
    l.inbound(CLIENT, 40004, "47.1.2.2", 2222, "i-db", "10.0.1.30", 22)
}

fn denied(reason: DropReason) -> EndCause {
    EndCause::Denied { reason }
}

const ALLOW_HTTP: &str = r#"
op = "AuthorizeSecurityGroup"
SecurityGroupId = "sg-web"
IpProtocol = "tcp"
PortRange = "80/80"
SourceCidrIp = "0.0.0.0/0"
"#;

const JOIN_EXTRA: &str = r#"
op = "JoinSecurityGroup"
SecurityGroupId = "sg-extra"
InstanceId = "i-web"
"#;

const REVOKE_SSH: &str = r#"
op = "RevokeSecurityGroup"
SecurityGroupId = "sg-web"
IpProtocol = "tcp"
PortRange = "22/22"
SourceCidrIp = "0.0.0.0/0"
"#;

#[test]
fn adding_a_rule_never_ends_a_session() {
    let mut l = Live::new(OnChange::Revalidate);
    let c = ssh(&mut l);
    l.change(ALLOW_HTTP);
    l.survives(&c);
    assert!(l.dp.take_ended().is_empty());
}

#[test]
fn revoking_the_rule_that_allowed_a_session_ends_it_at_its_next_packet() {
    let mut l = Live::new(OnChange::Revalidate);
    let c = ssh(&mut l);
    l.change(REVOKE_SSH);
    // Even the server's reply (pre-authorised before) is judged again by the original
    // direction, which the remaining rules now deny.
    let cause = l.ended_at(&c.server);
    assert_eq!(cause, denied(DropReason::SgIngressDenied));
    // The client's next packet is a new flow and is denied as one.
    let (d, _, _) = l.send(&c.client, TcpFlags(0x18));
    assert_eq!(d, Disposition::Dropped(DropReason::SgIngressDenied));
}

#[test]
fn revoking_a_rule_keeps_sessions_another_rule_still_allows() {
    let mut l = Live::new(OnChange::Revalidate);
    // Both groups allow the client's /24; only sg-web allows OTHER_CLIENT.
    l.change(JOIN_EXTRA);
    let kept = ssh(&mut l);
    let gone = ssh_from(&mut l, OTHER_CLIENT, 40002);
    l.change(REVOKE_SSH);
    l.survives(&kept);
    assert_eq!(
        l.ended_at(&gone.client),
        denied(DropReason::SgIngressDenied)
    );
}

#[test]
fn joining_a_group_never_ends_a_session() {
    let mut l = Live::new(OnChange::Revalidate);
    let c = ssh(&mut l);
    l.change(JOIN_EXTRA);
    l.survives(&c);
}

#[test]
fn leaving_the_group_that_allowed_a_session_ends_it() {
    let mut l = Live::new(OnChange::Revalidate);
    l.change(JOIN_EXTRA);
    let kept = ssh(&mut l);
    let gone = ssh_from(&mut l, OTHER_CLIENT, 40002);
    // The cloud's advice: join the new group, wait, leave the old one. Leaving re-judges
    // established sessions against the remaining group (sg-extra allows only CLIENT's /24).
    l.change(
        r#"
op = "LeaveSecurityGroup"
SecurityGroupId = "sg-web"
InstanceId = "i-web"
"#,
    );
    l.survives(&kept);
    assert_eq!(
        l.ended_at(&gone.client),
        denied(DropReason::SgIngressDenied)
    );
}

#[test]
fn unbinding_the_eip_ends_its_sessions_and_rebinding_does_not_revive_them() {
    let mut l = Live::new(OnChange::Revalidate);
    let c = ssh(&mut l);
    // A session on another address of the same instance is not affected.
    let other = ssh_eni2(&mut l);
    l.change(
        r#"
op = "UnassociateEipAddress"
AllocationId = "eip-web"
InstanceId = "i-web"
"#,
    );
    l.survives(&other);
    assert_eq!(l.ended_at(&c.server), denied(DropReason::EipUnbound));
    // Bound elsewhere (i-app): the client's next packet of the old connection reaches
    // i-app as a new flow, not i-web: the session is not revived.
    l.change(
        r#"
op = "AssociateEipAddress"
AllocationId = "eip-web"
InstanceId = "i-app"
"#,
    );
    let (d, f, _) = l.send(&c.client, TcpFlags(0x18));
    assert!(matches!(d, Disposition::Delivered { .. }));
    assert_eq!(wire::parse(&f).unwrap().dst, ip("10.0.1.20"));
    assert!(l.dp.take_ended().is_empty());
}

#[test]
fn binding_an_eip_re_translates_snat_sessions_of_that_instance() {
    let mut l = Live::new(OnChange::Revalidate);
    let (c, seen, _) = l.outbound("i-app", "10.0.1.20", 50000);
    assert_eq!(seen, ip("47.1.2.1"), "i-app leaves by SNAT");
    let (other, _, _) = l.outbound("i-db", "10.0.1.30", 50001);
    l.change(
        r#"
op = "AssociateEipAddress"
AllocationId = "eip-spare"
InstanceId = "i-app"
"#,
    );
    // i-db still leaves by SNAT: untouched.
    let (d, f, _) = l.send(&other.client, TcpFlags(0x18));
    assert_eq!(d, Disposition::Internet);
    assert_eq!(wire::parse(&f).unwrap().src, ip("47.1.2.1"));
    // i-app's packets would now leave from the EIP: the SNAT session ends.
    match l.ended_at(&c.client) {
        EndCause::Retranslated { was, now } => {
            assert_eq!(was.0, ip("47.1.2.1"));
            assert_eq!(now.0, ip("47.1.1.200"));
        }
        o => panic!("{o:?}"),
    }
}

#[test]
fn deleting_the_snat_entry_ends_the_sessions_that_used_it() {
    let mut l = Live::new(OnChange::Revalidate);
    let (c, _, _) = l.outbound("i-app", "10.0.1.20", 50000);
    // i-web leaves by its EIP: does not depend on the SNAT entry.
    let (web, seen, _) = l.outbound("i-web", "10.0.1.10", 50002);
    assert_eq!(seen, ip("47.1.1.10"));
    l.change(
        r#"
op = "DeleteSnatEntry"
SnatTableId = "ngw-1"
SnatEntryId = "snat-vpc"
"#,
    );
    l.survives(&web);
    // The server's reply is what finds the mapping gone.
    assert_eq!(l.ended_at(&c.server), denied(DropReason::NoSnatEntry));
}

#[test]
fn deleting_the_dnat_entry_ends_the_sessions_through_it() {
    let mut l = Live::new(OnChange::Revalidate);
    let c = ssh_dnat(&mut l);
    let web = ssh(&mut l);
    l.change(
        r#"
op = "DeleteForwardEntry"
ForwardTableId = "ngw-1"
ForwardEntryId = "dnat-ssh"
"#,
    );
    l.survives(&web);
    assert_eq!(
        l.ended_at(&c.client),
        denied(DropReason::NatGatewayNoMapping)
    );
}

#[test]
fn detaching_an_eni_ends_its_sessions() {
    let mut l = Live::new(OnChange::Revalidate);
    let c = ssh_eni2(&mut l);
    let web = ssh(&mut l);
    // The EIP must go first (an ENI with an EIP cannot be detached).
    l.change(
        r#"
op = "UnassociateEipAddress"
AllocationId = "eip-2"
InstanceId = "eni-2"
InstanceType = "NetworkInterface"
"#,
    );
    assert_eq!(l.ended_at(&c.client), denied(DropReason::EipUnbound));
    // A connection to eni-2's private address from i-app, then the detach.
    let inner = Conn {
        client: Side {
            at: l.guest("i-app"),
            mac: l.guest_mac("i-app"),
            src: ip("10.0.1.20"),
            sport: 40005,
            dst: ip("10.0.1.100"),
            dport: 22,
        },
        server: Side {
            at: l.guest("i-web"),
            mac: l.guest_mac("i-web"),
            src: ip("10.0.1.100"),
            sport: 22,
            dst: ip("10.0.1.20"),
            dport: 40005,
        },
    };
    let (d, _, _) = l.send(&inner.client, TcpFlags::SYN);
    assert!(matches!(d, Disposition::Delivered { .. }), "{d:?}");
    l.change(
        r#"
op = "DetachNetworkInterface"
NetworkInterfaceId = "eni-2"
InstanceId = "i-web"
"#,
    );
    l.survives(&web);
    assert_eq!(
        l.ended_at(&inner.client),
        denied(DropReason::EniNotAttached)
    );
}

#[test]
fn stopping_an_instance_ends_its_sessions_only() {
    let mut l = Live::new(OnChange::Revalidate);
    let c = ssh(&mut l);
    let db = ssh_dnat(&mut l);
    l.change(
        r#"
op = "StopInstance"
InstanceId = "i-web"
"#,
    );
    l.survives(&db);
    let (d, _, _) = l.send(&c.client, TcpFlags(0x18));
    assert_eq!(d, Disposition::Dropped(DropReason::FlowEndedByChange));
    assert_eq!(
        l.dp.take_ended()[0].cause,
        denied(DropReason::InstanceNotRunning)
    );
}

#[test]
fn removing_policy_routes_breaks_replies_of_the_secondary_eni_packet_by_packet() {
    let mut l = Live::new(OnChange::Revalidate);
    let web = ssh(&mut l);
    let sec = ssh_eni2(&mut l);
    l.change(
        r#"
op = "SetGuestPolicyRoutes"
InstanceId = "i-web"
Enabled = false
"#,
    );
    // The VPC's side of the connection is unchanged (the client's packets still arrive),
    // but the guest now sends eth1's replies by eth0: the source check drops them.
    l.survives(&web);
    let (d, _, _) = l.send(&sec.client, TcpFlags(0x18));
    assert!(matches!(d, Disposition::Delivered { .. }));
    let (d, _, _) = l.send(&sec.server, TcpFlags(0x18));
    assert_eq!(d, Disposition::Dropped(DropReason::EniSourceCheck));
    // Restored: the same connection carries on (nothing ended it in the VPC).
    l.change(
        r#"
op = "SetGuestPolicyRoutes"
InstanceId = "i-web"
Enabled = true
"#,
    );
    l.survives(&sec);
    assert!(l.dp.take_ended().is_empty());
}

#[test]
fn converting_the_static_public_ip_keeps_its_sessions() {
    let cloud_src = TOPOLOGY.replace(
        "private_ip = \"10.0.1.20\"\n",
        "private_ip = \"10.0.1.20\"\npublic_ip = \"47.1.1.20\"\n",
    );
    let mut l = Live::new(OnChange::Revalidate);
    l.cloud = Scenario::parse(&cloud_src, "live").unwrap().initial;
    l.dp = Dataplane::new(Tables::compile(&l.cloud, 1), DataplaneConfig::default());
    let c = l.inbound(CLIENT, 40006, "47.1.1.20", 22, "i-app", "10.0.1.20", 22);
    l.change(
        r#"
op = "ConvertNatPublicIpToEip"
InstanceId = "i-app"
"#,
    );
    l.survives(&c);
}

#[test]
fn creating_an_eni_keeps_every_port_and_session() {
    let mut l = Live::new(OnChange::Revalidate);
    let c = ssh(&mut l);
    // "eni-0…" sorts before every other ENI id: its creation must not shift ports.
    l.change(
        r#"
op = "CreateNetworkInterface"
VSwitchId = "vsw-a"
SecurityGroupId = "sg-web"
NetworkInterfaceId = "eni-0"
"#,
    );
    l.survives(&c);
}

#[test]
fn flush_mode_forgets_every_connection() {
    let mut l = Live::new(OnChange::Flush);
    let c = ssh(&mut l);
    let before = l.dp.connections();
    assert!(before > 0);
    l.change(ALLOW_HTTP);
    assert_eq!(l.dp.connections(), 0);
    // The next packet is a new flow (allowed again as one, since the rule still allows).
    l.survives(&c);
    assert!(l.dp.take_ended().is_empty());
}

#[test]
fn a_connection_is_judged_once_per_change_then_takes_the_cached_action() {
    let mut l = Live::new(OnChange::Revalidate);
    let c = ssh(&mut l);
    l.change(JOIN_EXTRA);
    let confirmed = |t: &Trace| {
        t.lines()
            .iter()
            .any(|l| l.contains("confirmed for epoch 2"))
    };
    let (_, _, first) = l.send(&c.client, TcpFlags(0x18));
    assert!(confirmed(&first), "{:?}", first.lines());
    let (_, _, reply) = l.send(&c.server, TcpFlags(0x18));
    assert!(
        !confirmed(&reply),
        "the reply direction shares the confirmation"
    );
    let (_, _, second) = l.send(&c.client, TcpFlags(0x18));
    assert!(!confirmed(&second));
    assert_eq!(l.dp.connections(), 1);
}
