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
