//! Instance status: StartInstance, StopInstance.

use super::*;

// =====================================================================================
// Start / Stop
// =====================================================================================

#[test]
fn start_instance_needs_stopped_instance() {
    let mut c = cloud("");
    let m = refused(
        &mut c,
        Operation::StartInstance {
            instance_id: "i-1".into(),
        },
        "IncorrectInstanceStatus",
    );
    mentions(&m, "Stopped");
    ok(
        &mut c,
        Operation::StopInstance {
            instance_id: "i-1".into(),
        },
    );
    ok(
        &mut c,
        Operation::StartInstance {
            instance_id: "i-1".into(),
        },
    );
    assert_eq!(c.instances["i-1"].status, InstanceStatus::Running);
}

#[test]
fn stop_instance_needs_running_instance() {
    let mut c = cloud("");
    ok(
        &mut c,
        Operation::StopInstance {
            instance_id: "i-1".into(),
        },
    );
    let m = refused(
        &mut c,
        Operation::StopInstance {
            instance_id: "i-1".into(),
        },
        "IncorrectInstanceStatus",
    );
    mentions(&m, "Running");
    assert_eq!(c.instances["i-1"].status, InstanceStatus::Stopped);
}

// =====================================================================================
// Static public IP: ModifyInstanceNetworkSpec, AllocatePublicIpAddress
// =====================================================================================

fn bandwidth(inst: &str, mbps: u32) -> Operation {
    Operation::ModifyInstanceNetworkSpec {
        instance_id: inst.into(),
        internet_max_bandwidth_out: Some(mbps),
    }
}

fn allocate_public_ip(inst: &str, ip: &str) -> Operation {
    Operation::AllocatePublicIpAddress {
        instance_id: inst.into(),
        ip_address: Some(ip.parse().unwrap()),
    }
}

/// The alicloud provider documents `internet_max_bandwidth_out = 0` as releasing a VPC
/// instance's public IP; a non-zero bandwidth keeps it.
#[test]
fn bandwidth_zero_releases_the_static_public_ip() {
    let mut c = cloud("");
    ok(&mut c, allocate_public_ip("i-1", "47.96.10.20"));
    ok(&mut c, bandwidth("i-1", 5));
    assert_eq!(
        c.instances["i-1"].public_ip,
        Some("47.96.10.20".parse().unwrap())
    );
    let ch = ok(&mut c, bandwidth("i-1", 0));
    assert!(
        ch.iter().any(|l| l.contains("47.96.10.20 released")),
        "{ch:?}"
    );
    assert_eq!(c.instances["i-1"].public_ip, None);
}

#[test]
fn allocate_public_ip_refused_when_instance_has_one_or_an_eip() {
    let mut c = cloud(EIP_X);
    ok(&mut c, allocate_public_ip("i-1", "47.96.10.20"));
    let m = refused(
        &mut c,
        allocate_public_ip("i-1", "47.96.10.21"),
        "InvalidOperation.PublicIpExists",
    );
    mentions(&m, "47.96.10.20");
    ok(&mut c, associate("eip-x", "i-2", EipTarget::EcsInstance));
    let m = refused(
        &mut c,
        allocate_public_ip("i-2", "47.96.10.22"),
        "InvalidOperation.EipBound",
    );
    mentions(&m, "eip-x");
    // Positive control: an instance with neither gets one.
    ok(
        &mut c,
        Operation::UnassociateEipAddress {
            allocation_id: "eip-x".into(),
            instance_id: "i-2".into(),
            instance_type: None,
        },
    );
    ok(&mut c, allocate_public_ip("i-2", "47.96.10.22"));
}
