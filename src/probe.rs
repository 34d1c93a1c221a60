//! Connectivity probes (filled in by the data-plane layer).
use crate::model::Cloud;
use crate::scenario::format::CheckSpec;
use crate::scenario::CheckReport;

pub fn connectivity_check(_cloud: &Cloud, c: &CheckSpec) -> CheckReport {
    CheckReport {
        name: c.name.clone(),
        after_step: 0,
        pass: false,
        expected: String::new(),
        observed: "not built".into(),
        trace: vec![],
        line: 0,
    }
}
