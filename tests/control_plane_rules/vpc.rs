//! VPC layout as calls: CreateVpc, CreateVSwitch, CreateRouteTable,
//! Associate/UnassociateRouteTable, RunInstances — the topology checks of the scenario
//! builder, for resources a Terraform plan creates.

use super::*;

fn vsw(vpc: &str, cidr: &str, id: &str) -> Operation {
    Operation::CreateVSwitch {
        vpc_id: vpc.into(),
        zone_id: "cn-hangzhou-h".into(),
        cidr_block: cidr.parse().unwrap(),
        vswitch_id: Some(id.into()),
    }
}

#[test]
fn create_vswitch_inside_its_vpc_without_overlap() {
    let mut c = cloud("");
    refused(
        &mut c,
        vsw("vpc-a", "10.9.0.0/24", "vsw-x"),
        "InvalidCidrBlock.NotInVpc",
    );
    let m = refused(
        &mut c,
        vsw("vpc-a", "192.168.1.0/25", "vsw-x"),
        "InvalidCidrBlock.Overlapped",
    );
    mentions(&m, "vsw-h");
    refused(
        &mut c,
        vsw("vpc-a", "192.168.9.0/30", "vsw-x"),
        "InvalidCidrBlock.Malformed",
    );
    ok(&mut c, vsw("vpc-a", "192.168.9.0/24", "vsw-x"));
    // The new block is a local route of every table of the VPC.
    let sys = &c.route_tables["vtb-vpc-a"];
    assert!(sys
        .entries
        .iter()
        .any(|e| e.destination.to_string() == "192.168.9.0/24"));
}

#[test]
fn create_vpc_refuses_host_bits_and_makes_a_system_route_table() {
    let mut c = cloud("");
    let op = |cidr: &str| Operation::CreateVpc {
        cidr_block: cidr.parse().unwrap(),
        vpc_id: Some("vpc-n".into()),
    };
    refused(&mut c, op("172.16.0.1/12"), "InvalidCidrBlock.Malformed");
    ok(&mut c, op("172.16.0.0/12"));
    assert_eq!(c.vpcs["vpc-n"].system_route_table, "vtb-vpc-n");
    assert!(c.route_tables.contains_key("vtb-vpc-n"));
}

#[test]
fn route_table_association_custom_table_same_vpc_one_at_a_time() {
    let mut c = cloud("");
    let create = |id: &str| Operation::CreateRouteTable {
        vpc_id: "vpc-a".into(),
        route_table_id: Some(id.into()),
    };
    let assoc = |t: &str, s: &str| Operation::AssociateRouteTable {
        route_table_id: t.into(),
        vswitch_id: s.into(),
    };
    ok(&mut c, create("vtb-c1"));
    ok(&mut c, create("vtb-c2"));
    refused(
        &mut c,
        assoc("vtb-vpc-a", "vsw-h"),
        "InvalidRouteTable.NotCustom",
    );
    refused(
        &mut c,
        assoc("vtb-c1", "vsw-b"),
        "InvalidVSwitchId.VpcMismatch",
    );
    ok(&mut c, assoc("vtb-c1", "vsw-h"));
    assert_eq!(c.vswitches["vsw-h"].route_table, "vtb-c1");
    refused(
        &mut c,
        assoc("vtb-c2", "vsw-h"),
        "InvalidStatus.VSwitchBound",
    );
    let unassoc = |t: &str| Operation::UnassociateRouteTable {
        route_table_id: t.into(),
        vswitch_id: "vsw-h".into(),
    };
    refused(&mut c, unassoc("vtb-c2"), "InvalidRouteTable.NotAssociated");
    ok(&mut c, unassoc("vtb-c1"));
    assert_eq!(c.vswitches["vsw-h"].route_table, "vtb-vpc-a");
    ok(&mut c, assoc("vtb-c2", "vsw-h"));
}

#[test]
fn run_instances_primary_eni_checks_and_static_public_ip() {
    let mut c = cloud("");
    let run = |ty: &str, ip: &str, bw: u32| Operation::RunInstances {
        vswitch_id: "vsw-h".into(),
        security_group_id: "sg-a".into(),
        instance_type: ty.into(),
        private_ip_address: Some(ip.parse().unwrap()),
        internet_max_bandwidth_out: bw,
        instance_charge_type: None,
        instance_id: Some("i-new".into()),
        public_ip_address: Some("198.18.0.9".parse().unwrap()),
        guest_policy_routes: false,
    };
    refused(
        &mut c,
        run("ecs.nope", "192.168.1.50", 5),
        "InvalidInstanceType.NotFound",
    );
    // The primary ENI's address must be idle (CreateNetworkInterface's rule).
    refused(
        &mut c,
        run("ecs.g6.large", "192.168.1.10", 5),
        "InvalidPrivateIpAddress.Duplicated",
    );
    ok(&mut c, run("ecs.g6.large", "192.168.1.50", 5));
    let i = &c.instances["i-new"];
    assert_eq!(i.public_ip, Some("198.18.0.9".parse().unwrap()));
    assert_eq!(c.enis["i-new-eth0"].kind, EniType::Primary);
    assert_eq!(c.enis["i-new-eth0"].instance.as_deref(), Some("i-new"));
}
