//! `docs/OPERATIONS.md` is generated from the `Operation` enum; this test regenerates it
//! and compares (`VPCSIM_BLESS=1 cargo test --test operations_doc` rewrites the file),
//! and keeps the refusal list honest.

use vpcsim::cli::operations::{markdown, operations, params, REFUSALS};

#[test]
fn operations_md_is_in_step_with_the_code() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/OPERATIONS.md");
    let now = markdown();
    if std::env::var("VPCSIM_BLESS").is_ok_and(|v| v == "1") {
        std::fs::write(path, &now).unwrap();
        return;
    }
    let on_disk = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        on_disk == now,
        "docs/OPERATIONS.md is out of date: run `VPCSIM_BLESS=1 cargo test --test operations_doc`"
    );
}

#[test]
fn every_operation_is_documented_with_its_parameters() {
    let ops = operations();
    assert!(ops.len() >= 20, "{ops:?}");
    assert!(ops.iter().any(|o| o == "AttachNetworkInterface"));
    let p = params("AttachNetworkInterface");
    let names: Vec<&str> = p.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["NetworkInterfaceId", "InstanceId"]);
    assert!(p.iter().all(|p| p.required));
    let snat = params("CreateSnatEntry");
    let cidr = snat.iter().find(|p| p.name == "SourceCIDR").unwrap();
    assert!(!cidr.required);
    assert!(snat.iter().find(|p| p.name == "SnatIp").unwrap().required);
    for op in &ops {
        assert!(
            REFUSALS.iter().any(|(o, _)| o == op),
            "{op} has no entry in REFUSALS (src/cli/operations.rs)"
        );
    }
}

#[test]
fn every_listed_refusal_code_occurs_in_the_model() {
    fn walk(dir: &std::path::Path, out: &mut String) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push_str(&std::fs::read_to_string(&p).unwrap());
            }
        }
    }
    let mut src = String::new();
    walk(
        std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src/model")),
        &mut src,
    );
    let ops = operations();
    for (op, codes) in REFUSALS {
        assert!(ops.iter().any(|o| o == op), "{op} is not an operation");
        for c in *codes {
            assert!(
                src.contains(&format!("\"{c}\"")),
                "{op}: code {c} not found in src/model"
            );
        }
    }
}

#[test]
fn the_parameter_samples_are_accepted_so_required_is_read_correctly() {
    // Every operation with all its parameters at their sample values deserializes:
    // otherwise `required` would be read from an unrelated error.
    for op in operations() {
        let ps = params(&op);
        let p = ps.iter().find(|p| p.name == "InstanceId");
        if op == "ModifyInstanceChargeType" || op == "StartInstance" {
            assert!(
                p.is_some_and(|p| p.required),
                "{op}: InstanceId must be required"
            );
        }
    }
}
