//! `docs/OPERATIONS.md`, generated from the `Operation` enum itself: the operations and
//! their parameters (name, type, required or default) are read back through serde — the
//! same deserializer scenario files go through — so the page cannot drift from the code
//! (`tests/operations_doc.rs` regenerates it and compares; `VPCSIM_BLESS=1` rewrites).
//! The refusals each operation can give are a list kept honest by that test: every code
//! must occur in the source, and every operation must have an entry.

use std::fmt::Write as _;

use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::model::Operation;

/// Error codes each operation can refuse with (read from `Cloud::apply`'s code paths).
pub const REFUSALS: &[(&str, &[&str])] = &[
    (
        "CreateNetworkInterface",
        &[
            "InvalidParameter.IdInUse",
            "InvalidPrivateIpAddress.Duplicated",
            "InvalidSecurityGroupId.NotFound",
            "InvalidSecurityGroupId.VpcMismatch",
            "InvalidVSwitchId.IpInvalid",
            "InvalidVSwitchId.IpNotEnough",
            "InvalidVSwitchId.NotFound",
        ],
    ),
    (
        "AttachNetworkInterface",
        &[
            "EniPerInstanceLimitExceeded",
            "InvalidEcsId.NotFound",
            "InvalidEniId.NotFound",
            "InvalidOperation.AvailabilityZoneMismatch",
            "InvalidOperation.InstanceNotIoOptimized",
            "InvalidOperation.InvalidEcsState",
            "InvalidOperation.InvalidEniState",
            "InvalidOperation.InvalidEniType",
            "InvalidOperation.Ipv4CountExceeded",
            "InvalidOperation.VpcMismatch",
        ],
    ),
    (
        "DetachNetworkInterface",
        &[
            "InvalidEcsId.NotFound",
            "InvalidEniId.NotFound",
            "InvalidOperation.DetachPrimaryEniNotAllowed",
            "InvalidOperation.InvalidEniState",
        ],
    ),
    (
        "DeleteNetworkInterface",
        &[
            "InvalidEniId.NotFound",
            "InvalidOperation.EipBound",
            "InvalidOperation.InvalidEniState",
        ],
    ),
    (
        "AssignPrivateIpAddresses",
        &[
            "InvalidEniId.NotFound",
            "InvalidOperation.EniCutThrough",
            "InvalidOperation.Ipv4CountExceeded",
            "InvalidPrivateIpAddress.Duplicated",
            "InvalidVSwitchId.IpInvalid",
            "InvalidVSwitchId.IpNotEnough",
        ],
    ),
    (
        "ConvertNatPublicIpToEip",
        &[
            "IncorrectInstanceStatus",
            "InvalidEcsId.NoPrimaryEni",
            "InvalidEcsId.NotFound",
            "InvalidInstance.NoPublicIp",
            "InvalidInstanceChargeType.NotSupported",
            "InvalidParameter.IdInUse",
        ],
    ),
    ("ModifyInstanceChargeType", &["InvalidEcsId.NotFound"]),
    ("ModifyInstanceNetworkSpec", &["InvalidEcsId.NotFound"]),
    (
        "AllocatePublicIpAddress",
        &[
            "InvalidEcsId.NotFound",
            "InvalidIpAddress.AlreadyAllocated",
            "InvalidOperation.EipBound",
            "InvalidOperation.PublicIpExists",
        ],
    ),
    (
        "ReleaseEipAddress",
        &["IncorrectEipStatus", "InvalidAllocationId.NotFound"],
    ),
    (
        "CreateVpc",
        &["InvalidCidrBlock.Malformed", "InvalidParameter.IdInUse"],
    ),
    (
        "CreateVSwitch",
        &[
            "InvalidCidrBlock.Malformed",
            "InvalidCidrBlock.NotInVpc",
            "InvalidCidrBlock.Overlapped",
            "InvalidParameter.IdInUse",
            "InvalidVpcId.NotFound",
        ],
    ),
    (
        "CreateRouteTable",
        &["InvalidParameter.IdInUse", "InvalidVpcId.NotFound"],
    ),
    (
        "AssociateRouteTable",
        &[
            "InvalidRouteTable.NotCustom",
            "InvalidRouteTableId.NotFound",
            "InvalidStatus.VSwitchBound",
            "InvalidVSwitchId.NotFound",
            "InvalidVSwitchId.VpcMismatch",
        ],
    ),
    (
        "UnassociateRouteTable",
        &[
            "InvalidRouteTable.NotAssociated",
            "InvalidVSwitchId.NotFound",
        ],
    ),
    (
        "RunInstances",
        &[
            "InvalidInstanceType.NotFound",
            "InvalidIpAddress.AlreadyAllocated",
            "InvalidParameter.IdInUse",
            "InvalidPrivateIpAddress.Duplicated",
            "InvalidSecurityGroupId.NotFound",
            "InvalidSecurityGroupId.VpcMismatch",
            "InvalidVSwitchId.IpInvalid",
            "InvalidVSwitchId.IpNotEnough",
            "InvalidVSwitchId.NotFound",
        ],
    ),
    (
        "AllocateEipAddress",
        &[
            "InvalidIpAddress.AlreadyAllocated",
            "InvalidIpAddress.InVpc",
            "InvalidParameter.IdInUse",
        ],
    ),
    (
        "AssociateEipAddress",
        &[
            "BIND_INSTANCE_HAVE_PORTMAP_OR_BIND_EIP",
            "EIP_CAN_NOT_ASSOCIATE_WITH_PUBLIC_IP",
            "Eni.Attached",
            "Eni.HasSubIp",
            "Forbidden.EipCanNotBindGatgw",
            "IncorrectEipStatus",
            "IncorrectInstanceStatus",
            "InvalidAllocationId.NotFound",
            "InvalidAssociation.Duplicated",
            "InvalidEcsId.NoPrimaryEni",
            "InvalidEcsId.NotFound",
            "InvalidEniId.NotFound",
            "InvalidHaVipId.NotFound",
            "InvalidLoadBalancerId.NotFound",
            "InvalidNatGatewayId.NotFound",
            "InvalidOperation.InvalidEniType",
            "InvalidParameter.Mismatch",
            "InvalidParameter.ResourceGroupMismatch",
            "InvalidParameter.SlbAddressType",
            "InvalidPrivateIpAddress.NotFound",
            "Mode.Conflict",
            "OperationDenied",
            "QuotaExceeded.NumberOfEip",
            "QuotaExceeded.NumberOfTrafficEip",
        ],
    ),
    (
        "UnassociateEipAddress",
        &[
            "DependencyViolation.ForwardEntry",
            "DependencyViolation.SnatEntry",
            "Eni.Attached",
            "IncorrectEipStatus",
            "InvalidAllocationId.NotFound",
            "InvalidAssociation.NotFound",
        ],
    ),
    (
        "CreateNatGateway",
        &[
            "InvalidParameter.IdInUse",
            "InvalidVSwitchId.NotFound",
            "InvalidVSwitchId.VpcMismatch",
            "InvalidVpcId.NotFound",
        ],
    ),
    (
        "CreateSnatEntry",
        &[
            "Forbidden.IpUsedInForwardTable",
            "Forbidden.SnatEntryCountLimited",
            "Forbidden.SourceEniAlreadyUsed",
            "Forbidden.SourceVSwitchId.Duplicated",
            "INVALID_PARAMETER",
            "InvalidEniId.NotFound",
            "InvalidIp.NotInNatgw",
            "InvalidParameter",
            "InvalidParameter.IdInUse",
            "InvalidSnatIp.Malformed",
            "InvalidSnatIp.NotFound",
            "InvalidVSwitchId.NotFound",
            "InvalidVSwitchId.VpcMismatch",
            "MissingParameter",
            "MissingParameter.SnatIp",
            "OperationUnsupported.CidrConflict",
            "SNAT_IP_POOL_COUNT_TOO_MANY",
        ],
    ),
    ("DeleteSnatEntry", &["InvalidSnatEntryId.NotFound"]),
    (
        "CreateForwardEntry",
        &[
            "BIND_INSTANCE_HAVE_PORTMAP_OR_BIND_EIP",
            "Forbidden.ExternalIp.UsedInSnatTable",
            "Forbidden.ForwardEntryExternalPortUsed",
            "Forbidden.ForwardEntryInternalPortUsed",
            "Forbidden.InternalIpOutOfVpcCIDR",
            "Forbindden",
            "InvalidExternalPort.Malformed",
            "InvalidInternalPort.Malformed",
            "InvalidIp.NotInNatgw",
            "InvalidParameter.IdInUse",
            "InvalidParameter.IpMapping",
            "InvalidParameter.PortRangeMismatch",
        ],
    ),
    ("DeleteForwardEntry", &["InvalidForwardEntryId.NotFound"]),
    (
        "CreateRouteEntry",
        &[
            "InvalidCidrBlock.Duplicate",
            "InvalidDestinationCidrBlock.InVSwitch",
            "InvalidDestinationCidrBlock.Reserved",
            "InvalidEcsId.NotFound",
            "InvalidEniId.NotFound",
            "InvalidHaVipId.NotFound",
            "InvalidNatGatewayId.NotFound",
            "InvalidNextHop.VpcMismatch",
            "InvalidNextHopType",
            "InvalidRouteTableId.NotFound",
        ],
    ),
    (
        "DeleteRouteEntry",
        &[
            "InvalidRouteEntry.NotFound",
            "InvalidRouteTableId.NotFound",
            "OperationDenied.SystemRoute",
        ],
    ),
    (
        "CreateSecurityGroup",
        &["InvalidParameter.IdInUse", "InvalidVpcId.NotFound"],
    ),
    (
        "AuthorizeSecurityGroup",
        &[
            "InvalidParameter",
            "InvalidParamter.Conflict",
            "InvalidPortRange.Malformed",
            "InvalidPriority.Malformed",
            "InvalidSecurityGroupId.NotFound",
            "InvalidSourceGroupId.Mismatch",
            "InvalidSourceGroupId.NotFound",
            "MissingParameter",
        ],
    ),
    (
        "AuthorizeSecurityGroupEgress",
        &[
            "InvalidParameter",
            "InvalidParamter.Conflict",
            "InvalidPortRange.Malformed",
            "InvalidPriority.Malformed",
            "InvalidSecurityGroupId.NotFound",
            "MissingParameter",
        ],
    ),
    (
        "RevokeSecurityGroup",
        &[
            "InvalidParameter",
            "InvalidParamter.Conflict",
            "InvalidPortRange.Malformed",
            "InvalidPriority.Malformed",
            "InvalidSecurityGroupId.NotFound",
            "InvalidSecurityGroupRule.NotFound",
            "MissingParameter",
        ],
    ),
    (
        "RevokeSecurityGroupEgress",
        &[
            "InvalidParameter",
            "InvalidParamter.Conflict",
            "InvalidPortRange.Malformed",
            "InvalidPriority.Malformed",
            "InvalidSecurityGroupId.NotFound",
            "InvalidSecurityGroupRule.NotFound",
            "MissingParameter",
        ],
    ),
    (
        "JoinSecurityGroup",
        &[
            "IncorrectInstanceStatus",
            "InstanceSecurityGroupLimitExceeded",
            "InvalidEcsId.NoPrimaryEni",
            "InvalidEcsId.NotFound",
            "InvalidEniId.NotFound",
            "InvalidInstanceId.AlreadyExists",
            "InvalidInstanceId.Mismatch",
            "InvalidOperation.MultiGroupType",
            "InvalidParameter",
            "InvalidSecurityGroupId.NotFound",
        ],
    ),
    (
        "LeaveSecurityGroup",
        &[
            "InstanceLastSecurityGroup",
            "InvalidEcsId.NoPrimaryEni",
            "InvalidEcsId.NotFound",
            "InvalidEniId.NotFound",
            "InvalidParameter",
            "InvalidSecurityGroupAssociation.NotFound",
            "InvalidSecurityGroupId.NotFound",
        ],
    ),
    (
        "StartInstance",
        &["IncorrectInstanceStatus", "InvalidEcsId.NotFound"],
    ),
    (
        "StopInstance",
        &["IncorrectInstanceStatus", "InvalidEcsId.NotFound"],
    ),
    ("SetGuestPolicyRoutes", &["InvalidEcsId.NotFound"]),
];

/// The names between backticks in a serde message ("expected one of `A`, `B`").
fn ticked(msg: &str) -> Vec<String> {
    msg.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

fn error_of(v: Value) -> String {
    match Operation::deserialize(v) {
        Ok(_) => String::new(),
        Err(e) => e.to_string(),
    }
}

/// Every operation name, in declaration order.
pub fn operations() -> Vec<String> {
    let msg = error_of(json!({"op": "__no_such_operation__"}));
    ticked(msg.split_once("expected").map_or("", |x| x.1))
}

/// One parameter as serde sees it.
#[derive(Debug, Clone)]
pub struct Param {
    pub name: String,
    /// What serde expects ("a string", "IPv4 address", "one of `A`, `B`").
    pub kind: String,
    pub required: bool,
}

fn base(op: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("op".into(), op.into());
    m
}

/// A value serde accepts for a parameter of this kind.
fn sample(kind: &str) -> Value {
    let k = kind.to_ascii_lowercase();
    if kind.contains('`') {
        ticked(kind)
            .first()
            .map_or(Value::Null, |v| v.as_str().into())
    } else if k.contains("ipv4 address") || k.contains("ip address") {
        "192.0.2.1".into()
    } else if k.contains("network") || k.contains("cidr") {
        "192.0.2.0/24".into()
    } else if k.contains("bool") {
        true.into()
    } else if k.contains("sequence") {
        json!([])
    } else if k.starts_with('u') || k.contains("integer") {
        1.into()
    } else {
        "x".into()
    }
}

/// The parameters of `op` (OpenAPI names), with their kinds and whether required.
pub fn params(op: &str) -> Vec<Param> {
    let mut probe = base(op);
    probe.insert("__no_such_parameter__".into(), 1.into());
    let msg = error_of(Value::Object(probe));
    let names = ticked(msg.split_once("expected").map_or("", |x| x.1));
    let mut out: Vec<Param> = names
        .into_iter()
        .map(|name| {
            let mut m = base(op);
            m.insert(name.clone(), json!({"__": 1}));
            let e = error_of(Value::Object(m));
            let mut kind = e
                .split_once("expected ")
                .map_or("?".to_string(), |x| x.1.to_string());
            // An enum: its variants, from a value that is none of them.
            if kind.contains("map with a single key")
                || kind.starts_with("enum")
                || kind.contains("variant")
            {
                let mut m = base(op);
                m.insert(name.clone(), "__no_such_value__".into());
                let e = error_of(Value::Object(m));
                let vs = ticked(e.split_once("expected").map_or("", |x| x.1));
                kind = format!(
                    "one of {}",
                    vs.iter()
                        .map(|v| format!("`{v}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            // `A` or `B` (two variants) reads as the longer lists do.
            if kind.contains('`') && !kind.starts_with("one of") {
                let vs = ticked(&kind);
                kind = format!(
                    "one of {}",
                    vs.iter()
                        .map(|v| format!("`{v}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            Param {
                name,
                kind,
                required: false,
            }
        })
        .collect();
    let full: Map<String, Value> = out
        .iter()
        .map(|p| (p.name.clone(), sample(&p.kind)))
        .collect();
    for p in &mut out {
        let mut m = base(op);
        m.extend(full.clone());
        m.remove(&p.name);
        p.required = error_of(Value::Object(m)).contains(&format!("missing field `{}`", p.name));
    }
    out
}

fn kind_text(p: &Param) -> String {
    let k = p.kind.trim_end_matches('.');
    match k {
        "a string" => "string".into(),
        "a boolean" => "boolean".into(),
        "a sequence" => "list".into(),
        other => other
            .replace("u32", "integer")
            .replace("u16", "integer")
            .replace("u8", "integer"),
    }
}

fn default_text(p: &Param) -> &'static str {
    match (p.required, p.kind.as_str()) {
        (true, _) => "required",
        (false, "a boolean") => "false",
        (false, "a sequence") => "empty",
        _ => "absent",
    }
}

/// The whole page.
pub fn markdown() -> String {
    let mut s = String::from(
        "# Operations\n\n\
<!-- Generated from the `Operation` enum by `src/cli/operations.rs`; do not edit.\n     \
`VPCSIM_BLESS=1 cargo test --test operations_doc` rewrites it. -->\n\n\
A `[[steps]]` entry (and a `vpcsim serve` `apply` request) is one control-plane call:\n\
`op = \"Name\"` and its parameters under their OpenAPI names. Parameters marked *absent*\n\
are optional with no value (vpcsim generates what the cloud would: ids such as `eni-3`,\n\
`snat-4`, the first free private IP of the VSwitch, an EIP from 47.98.0.0/16). A step\n\
may also carry `expect_error = \"Code\"` (the step must be refused with that code) and\n\
`note = \"…\"`. The refusals are the error codes the operation can answer with; their\n\
rules and tests are in [RULES.md](RULES.md).\n\n",
    );
    let _ = writeln!(s, "| operation | parameters |\n|---|---|");
    let ops = operations();
    for op in &ops {
        let ps = params(op);
        let names: Vec<String> = ps.iter().map(|p| format!("`{}`", p.name)).collect();
        let _ = writeln!(
            s,
            "| [{op}](#{}) | {} |",
            op.to_lowercase(),
            names.join(", ")
        );
    }
    for op in &ops {
        let _ = writeln!(s, "\n## {op}\n");
        let ps = params(op);
        if ps.is_empty() {
            s.push_str("No parameters.\n");
        } else {
            s.push_str("| parameter | type | default |\n|---|---|---|\n");
            for p in &ps {
                let _ = writeln!(
                    s,
                    "| `{}` | {} | {} |",
                    p.name,
                    kind_text(p),
                    default_text(p)
                );
            }
        }
        let codes = REFUSALS
            .iter()
            .find(|(o, _)| o == op)
            .map_or(&[][..], |(_, c)| *c);
        if codes.is_empty() {
            s.push_str("\nRefusals: none listed.\n");
        } else {
            let _ = writeln!(
                s,
                "\nRefusals: {}.",
                codes
                    .iter()
                    .map(|c| format!("`{c}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    s
}
