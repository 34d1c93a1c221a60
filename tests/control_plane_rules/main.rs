//! One test per control-plane rule of SEMANTICS.md §2 and code of §4 (see docs/RULES.md for the map
//! from rule to error code to test). Each test shows the refusal with its exact error
//! code and a positive control: the same call with the violating condition removed
//! succeeds, so deleting the rule from `Cloud::apply` makes the test fail.

use std::net::Ipv4Addr;

use vpcsim::compile::Tables;
use vpcsim::model::*;
use vpcsim::scenario::Scenario;

mod eip;
mod eni;
mod instance;
mod nat_gateway;
mod other_refusals;
mod security_group;
mod vpc;

/// Two VPCs, two zones, basic and enterprise groups, a few instances. Tests append
/// their own tables (`extra`).
const BASE: &str = r#"
[scenario]
name = "rules"
region = "cn-hangzhou"

[[vpcs]]
id = "vpc-a"
cidr = "192.168.0.0/16"

[[vpcs]]
id = "vpc-b"
cidr = "10.0.0.0/16"

[[vswitches]]
id = "vsw-h"
vpc = "vpc-a"
zone = "cn-hangzhou-h"
cidr = "192.168.1.0/24"

[[vswitches]]
id = "vsw-h2"
vpc = "vpc-a"
zone = "cn-hangzhou-h"
cidr = "192.168.3.0/24"

[[vswitches]]
id = "vsw-i"
vpc = "vpc-a"
zone = "cn-hangzhou-i"
cidr = "192.168.2.0/24"

[[vswitches]]
id = "vsw-b"
vpc = "vpc-b"
zone = "cn-hangzhou-h"
cidr = "10.0.1.0/24"

[[security_groups]]
id = "sg-a"
vpc = "vpc-a"

[[security_groups]]
id = "sg-a2"
vpc = "vpc-a"

[[security_groups]]
id = "sg-ent"
vpc = "vpc-a"
type = "enterprise"

[[security_groups]]
id = "sg-b"
vpc = "vpc-b"

[[instances]]
id = "i-1"
vswitch = "vsw-h"
private_ip = "192.168.1.10"
security_groups = ["sg-a"]

[[instances]]
id = "i-2"
vswitch = "vsw-h"
private_ip = "192.168.1.20"
security_groups = ["sg-a"]

[[instances]]
id = "i-b"
vswitch = "vsw-b"
private_ip = "10.0.1.10"
security_groups = ["sg-b"]
"#;

fn scenario(extra: &str) -> Scenario {
    let src = format!("{BASE}\n{extra}");
    match Scenario::parse(&src, "test.toml") {
        Ok(s) => s,
        Err(e) => panic!("test topology does not build: {e}"),
    }
}

fn cloud(extra: &str) -> Cloud {
    scenario(extra).initial
}

/// Applies `op` and requires it to be refused with `code`; returns the message.
#[track_caller]
fn refused(c: &mut Cloud, op: Operation, code: &str) -> String {
    let before = format!("{:?}", serde_json::to_value(&*c).unwrap());
    match c.apply(&op) {
        Ok(ch) => panic!(
            "{} should be refused with {code}, but succeeded: {ch:?}",
            op.name()
        ),
        Err(e) => {
            assert_eq!(e.code, code, "wrong code for {}: {}", op.name(), e.message);
            assert!(!e.message.is_empty());
            let after = format!("{:?}", serde_json::to_value(&*c).unwrap());
            assert_eq!(before, after, "a refused call must change nothing");
            e.message
        }
    }
}

#[track_caller]
fn ok(c: &mut Cloud, op: Operation) -> Vec<String> {
    match c.apply(&op) {
        Ok(ch) => ch,
        Err(e) => panic!("{} should succeed: {e}", op.name()),
    }
}

#[track_caller]
fn mentions(msg: &str, needle: &str) {
    assert!(
        msg.contains(needle),
        "message `{msg}` should mention `{needle}`"
    );
}

// ----- operation builders -----

fn create_eni(id: &str, vsw: &str, sg: &str) -> Operation {
    Operation::CreateNetworkInterface {
        vswitch_id: vsw.into(),
        security_group_id: sg.into(),
        primary_ip_address: None,
        network_interface_name: None,
        description: None,
        network_interface_id: Some(id.into()),
    }
}

fn attach(eni: &str, inst: &str) -> Operation {
    Operation::AttachNetworkInterface {
        network_interface_id: eni.into(),
        instance_id: inst.into(),
    }
}

fn detach(eni: &str, inst: &str) -> Operation {
    Operation::DetachNetworkInterface {
        network_interface_id: eni.into(),
        instance_id: inst.into(),
    }
}

fn delete_eni(eni: &str) -> Operation {
    Operation::DeleteNetworkInterface {
        network_interface_id: eni.into(),
    }
}

fn assign_ips(eni: &str, n: u32) -> Operation {
    Operation::AssignPrivateIpAddresses {
        network_interface_id: eni.into(),
        private_ip_address: vec![],
        secondary_private_ip_address_count: Some(n),
    }
}

fn convert(inst: &str) -> Operation {
    Operation::ConvertNatPublicIpToEip {
        instance_id: inst.into(),
        allocation_id: Some(format!("eip-conv-{inst}")),
    }
}

fn associate(eip: &str, target: &str, ty: EipTarget) -> Operation {
    Operation::AssociateEipAddress {
        allocation_id: eip.into(),
        instance_id: target.into(),
        instance_type: Some(ty),
        mode: None,
        private_ip_address: None,
    }
}

fn associate_eni(eip: &str, eni: &str, mode: EniMode, ip: Option<&str>) -> Operation {
    Operation::AssociateEipAddress {
        allocation_id: eip.into(),
        instance_id: eni.into(),
        instance_type: Some(EipTarget::NetworkInterface),
        mode: Some(mode),
        private_ip_address: ip.map(|i| i.parse().unwrap()),
    }
}

fn unassociate(eip: &str, target: &str) -> Operation {
    Operation::UnassociateEipAddress {
        allocation_id: eip.into(),
        instance_id: target.into(),
        instance_type: None,
    }
}

fn dnat(gw: &str, ext: &str, ext_port: &str, int: &str, int_port: &str) -> Operation {
    Operation::CreateForwardEntry {
        forward_table_id: gw.into(),
        external_ip: ext.parse().unwrap(),
        external_port: ext_port.into(),
        internal_ip: int.parse().unwrap(),
        internal_port: int_port.into(),
        ip_protocol: ForwardProtocol::Tcp,
        forward_entry_id: None,
    }
}

fn snat_cidr(gw: &str, cidr: &str, ips: &str) -> Operation {
    Operation::CreateSnatEntry {
        snat_table_id: gw.into(),
        source_vswitch_id: None,
        source_cidr: Some(cidr.parse().unwrap()),
        network_interface_id: None,
        snat_ip: ips.into(),
        eip_affinity: false,
        snat_entry_id: None,
    }
}

fn snat_vsw(gw: &str, vsw: &str, ips: &str) -> Operation {
    Operation::CreateSnatEntry {
        snat_table_id: gw.into(),
        source_vswitch_id: Some(vsw.into()),
        source_cidr: None,
        network_interface_id: None,
        snat_ip: ips.into(),
        eip_affinity: false,
        snat_entry_id: None,
    }
}

fn join(sg: &str, inst: &str) -> Operation {
    Operation::JoinSecurityGroup {
        security_group_id: sg.into(),
        instance_id: Some(inst.into()),
        network_interface_id: None,
    }
}

fn leave(sg: &str, inst: &str) -> Operation {
    Operation::LeaveSecurityGroup {
        security_group_id: sg.into(),
        instance_id: Some(inst.into()),
        network_interface_id: None,
    }
}

fn create_sg(id: &str, vpc: &str, ty: SecurityGroupType) -> Operation {
    Operation::CreateSecurityGroup {
        vpc_id: vpc.into(),
        security_group_type: Some(ty),
        security_group_name: None,
        security_group_id: Some(id.into()),
    }
}

fn eip_toml(id: &str, addr: &str, charge: &str) -> String {
    format!("[[eips]]\nid = \"{id}\"\naddress = \"{addr}\"\ncharge = \"{charge}\"\n")
}

/// A NAT gateway `ngw` in vpc-a with EIP `eip-ngw` (47.96.100.1) bound.
const NGW: &str = r#"
[[nat_gateways]]
id = "ngw"
vpc = "vpc-a"
vswitch = "vsw-h"

[[eips]]
id = "eip-ngw"
address = "47.96.100.1"
charge = "PayByBandwidth"
bind = { type = "Nat", id = "ngw" }
"#;

const EIP_X: &str = r#"
[[eips]]
id = "eip-x"
address = "47.96.200.1"

[[eips]]
id = "eip-y"
address = "47.96.200.2"
"#;

const TARGETS: &str = r#"
[[havips]]
id = "havip-1"
vswitch = "vsw-h"
ip = "192.168.1.200"

[[slbs]]
id = "slb-in"
address_type = "intranet"

[[slbs]]
id = "slb-pub"
address_type = "internet"

[[enis]]
id = "eni-s"
vswitch = "vsw-h"
primary_ip = "192.168.1.100"
secondary_ips = ["192.168.1.101"]
security_groups = ["sg-a"]
instance = "i-2"
"#;

enum Peer<'a> {
    Cidr(&'a str),
    Group(&'a str),
}

/// AuthorizeSecurityGroup (ingress, TCP, accept) with the given peer, ports and priority,
/// built the way a scenario step is (by its OpenAPI parameter names), so parameters added
/// to the call later need no change here.
fn ingress_rule(sg: &str, peer: Peer, ports: &str, priority: Option<u8>) -> Operation {
    let mut v = serde_json::json!({
        "op": "AuthorizeSecurityGroup",
        "SecurityGroupId": sg,
        "IpProtocol": "tcp",
        "PortRange": ports,
    });
    match peer {
        Peer::Cidr(c) => v["SourceCidrIp"] = c.into(),
        Peer::Group(g) => v["SourceGroupId"] = g.into(),
    }
    if let Some(p) = priority {
        v["Priority"] = p.into();
    }
    serde_json::from_value(v).unwrap_or_else(|e| panic!("test rule does not parse: {e}"))
}
