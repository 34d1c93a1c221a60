//! Checks: what a scenario file expects at a point of its steps, and what was observed.
//!
//! Below the probes and hosts that answer them and above the scenario runner that
//! schedules them, so neither `probe` nor `hosts` needs to know about scenario files.

use std::fmt;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

/// A point in a scenario's steps: a step number (0 = the initial topology) or a step's
/// `id` (`id = "bind-eip-to-eni"` on a `[[steps]]` entry). Checks, sessions and the
/// CLI's `--after` accept both, so inserting a step does not move a check written by id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum StepRef {
    Index(usize),
    Id(String),
}

impl StepRef {
    /// A command-line value: digits are a number, anything else an id.
    pub fn parse(s: &str) -> StepRef {
        match s.parse::<usize>() {
            Ok(n) => StepRef::Index(n),
            Err(_) => StepRef::Id(s.to_string()),
        }
    }

    /// The number of steps applied at this point, given the steps' ids in order.
    pub fn resolve(&self, ids: &[Option<String>]) -> Result<usize, String> {
        match self {
            StepRef::Index(n) if *n <= ids.len() => Ok(*n),
            StepRef::Index(n) => Err(format!(
                "step {n}, but the scenario has {} steps",
                ids.len()
            )),
            StepRef::Id(id) => ids
                .iter()
                .position(|x| x.as_deref() == Some(id.as_str()))
                .map(|i| i + 1)
                .ok_or_else(|| {
                    let known: Vec<&str> = ids.iter().flatten().map(String::as_str).collect();
                    if known.is_empty() {
                        format!("no step has id `{id}` (no step has an id; add `id = \"{id}\"` to a [[steps]] entry, or use a step number)")
                    } else {
                        format!("no step has id `{id}`; step ids: {}", known.join(", "))
                    }
                }),
        }
    }
}

impl fmt::Display for StepRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StepRef::Index(n) => write!(f, "{n}"),
            StepRef::Id(s) => write!(f, "{s}"),
        }
    }
}

impl<'de> Deserialize<'de> for StepRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<StepRef, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = StepRef;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a step number (0 = the initial topology) or a step id")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<StepRef, E> {
                usize::try_from(v)
                    .map(StepRef::Index)
                    .map_err(|_| E::custom("step number too large"))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<StepRef, E> {
                usize::try_from(v).map(StepRef::Index).map_err(|_| {
                    E::custom(format!(
                        "step {v}: a step number is 0 (the initial topology) or more"
                    ))
                })
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<StepRef, E> {
                Ok(StepRef::Id(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub name: String,
    /// Steps applied before the check ran.
    pub after_step: usize,
    /// The id of step `after_step`, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_id: Option<String>,
    pub pass: bool,
    pub expected: String,
    pub observed: String,
    /// For connectivity checks: the probe's trace, one line per hop.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub trace: Vec<String>,
    pub line: usize,
    /// The packets the check sent through the data plane, for `--capture`.
    #[serde(skip)]
    pub passes: Vec<crate::capture::Pass>,
}

impl CheckReport {
    /// A failing report with nothing observed yet, to fill in.
    pub fn new(name: &str, after_step: usize, line: usize) -> CheckReport {
        CheckReport {
            name: name.to_string(),
            after_step,
            after_id: None,
            pass: false,
            expected: String::new(),
            observed: String::new(),
            trace: vec![],
            line,
            passes: vec![],
        }
    }
}

/// A check on the state after the steps (or after step `after_step`): either a state
/// check (`resource` + `field` + `equals`) or a connectivity check (`from` + `to`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CheckSpec {
    pub name: String,
    /// Run after this step: its number (1-based; 0 = on the initial topology) or its
    /// `id`; default: after all.
    #[serde(alias = "after")]
    pub after_step: Option<StepRef>,
    // --- state check ---
    pub resource: Option<String>,
    /// Dotted path into the resource as `vpcsim run --json` shows it, e.g. `status`,
    /// `binding.resource`, `security_groups`.
    pub field: Option<String>,
    pub equals: Option<toml::Value>,
    // --- connectivity check ---
    /// An endpoint: instance id, ENI id, or `internet:IP`.
    pub from: Option<String>,
    /// `IP` or `IP:PORT`.
    pub to: Option<String>,
    /// tcp (default), udp or icmp.
    pub proto: Option<String>,
    /// Source address the guest uses (default: the sending ENI's primary private IP).
    pub src: Option<Ipv4Addr>,
    /// `delivered`, `internet` or `dropped`.
    pub expect: Option<String>,
    /// The source address the receiver sees.
    pub expect_source: Option<Ipv4Addr>,
    /// For `delivered`: the ENI that receives it.
    pub expect_eni: Option<String>,
    /// For `dropped`: the drop reason's name (see `vpcsim trace --json`).
    pub expect_reason: Option<String>,
    /// Also send the reply back (for TCP a SYN-ACK, for ICMP an echo reply) from the
    /// receiving guest and require it to reach the sender.
    #[serde(default)]
    pub expect_reply: bool,
    /// Send the reply and require it to be dropped with this reason.
    pub expect_reply_reason: Option<String>,
    /// `at = "9.5s"`: run on the configuration in force at that time of the timeline
    /// (after the last step at or before it); instead of `after_step`.
    pub at: Option<String>,
}

impl CheckSpec {
    /// A state check or a connectivity check, complete; the error says what to fix.
    pub fn validate(&self) -> Result<(), String> {
        let state = self.resource.is_some() || self.field.is_some() || self.equals.is_some();
        let conn = self.from.is_some() || self.to.is_some();
        if state == conn {
            return Err(String::from("give either `resource` + `field` + `equals` (a state check) or `from` + `to` + `expect` (a connectivity check)"));
        }
        if state && (self.resource.is_none() || self.field.is_none() || self.equals.is_none()) {
            return Err(String::from(
                "a state check needs all of `resource`, `field` and `equals`",
            ));
        }
        if conn {
            if self.from.is_none() || self.to.is_none() || self.expect.is_none() {
                return Err(String::from(
                    "a connectivity check needs `from`, `to` and `expect`",
                ));
            }
            if !matches!(
                self.expect.as_deref(),
                Some("delivered" | "internet" | "dropped")
            ) {
                return Err(String::from(
                    "`expect` must be `delivered`, `internet` or `dropped`",
                ));
            }
            if let Some(p) = &self.proto {
                if !matches!(p.as_str(), "tcp" | "udp" | "icmp") {
                    return Err(String::from("`proto` must be tcp, udp or icmp"));
                }
            }
            // A reason no packet can be dropped with makes a check that never passes.
            for (key, r) in [
                ("expect_reason", &self.expect_reason),
                ("expect_reply_reason", &self.expect_reply_reason),
            ] {
                let Some(r) = r else { continue };
                let names = crate::pipeline::DropReason::ALL.map(|d| d.name());
                if !names.contains(&r.as_str()) && !r.starts_with("malformed_frame.") {
                    let near = names
                        .iter()
                        .max_by(|a, b| {
                            strsim::jaro_winkler(r, a).total_cmp(&strsim::jaro_winkler(r, b))
                        })
                        .copied()
                        .unwrap_or_default();
                    return Err(format!(
                        "`{key}` = `{r}` is not a drop reason (did you mean `{near}`? the list is in the README, \"Drop reasons\")"
                    ));
                }
            }
        }
        Ok(())
    }
}

/// A change `vpcsim diff` is told to expect: it names one egress, exposure or reach
/// change; any other change (or an expected one that does not happen) fails the diff.
///
/// ```toml
/// expect_change = [
///   { instance = "i-web", egress = "47.96.100.1" },          # i-web's egress address becomes this
///   { exposure = "47.96.10.20 tcp/22", change = "moved" },   # ssh to the EIP lands elsewhere
///   { reach = "i-web -> internet" },                          # any change of that reach
/// ]
/// ```
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ExpectChangeSpec {
    /// Narrows an egress (or exposure) change to this instance.
    pub instance: Option<String>,
    /// Narrows an egress (or exposure) change to this ENI.
    pub eni: Option<String>,
    /// The new egress address, `none` (no longer gets out) or `*` (any).
    pub egress: Option<String>,
    /// `ADDRESS`, `ADDRESS PROTO` or `ADDRESS PROTO/PORTS` (`47.96.10.20 tcp/22`).
    pub exposure: Option<String>,
    /// `FROM -> TO`, optionally followed by `PROTO` or `PROTO/PORTS`; `*` matches any side.
    pub reach: Option<String>,
    /// opened, closed, moved or changed (default: any).
    pub change: Option<String>,
    #[serde(default)]
    pub note: String,
}

impl ExpectChangeSpec {
    /// What is wrong with the entry, if anything.
    pub fn problem(&self) -> Option<String> {
        let kinds = [&self.egress, &self.exposure, &self.reach]
            .iter()
            .filter(|x| x.is_some())
            .count();
        if kinds != 1 {
            return Some("give exactly one of `egress`, `exposure` or `reach`, e.g. { instance = \"i-web\", egress = \"47.96.100.1\" } or { exposure = \"47.96.10.20 tcp/22\", change = \"moved\" }".into());
        }
        if let Some(c) = &self.change {
            if !matches!(c.as_str(), "opened" | "closed" | "moved" | "changed") {
                return Some(format!(
                    "change = `{c}`: use opened, closed, moved or changed"
                ));
            }
        }
        if let Some(e) = &self.egress {
            if e != "*" && e != "none" && e.parse::<Ipv4Addr>().is_err() {
                return Some(format!(
                    "egress = `{e}`: give an IPv4 address, `none` or `*`"
                ));
            }
        }
        if let Some(x) = &self.exposure {
            if x.split_whitespace()
                .next()
                .and_then(|a| a.parse::<Ipv4Addr>().ok())
                .is_none()
            {
                return Some(format!(
                    "exposure = `{x}`: start with the public address, e.g. `47.96.10.20 tcp/22`"
                ));
            }
        }
        if let Some(r) = &self.reach {
            if !r.contains("->") {
                return Some(format!(
                    "reach = `{r}`: write `FROM -> TO`, e.g. `i-web -> internet`"
                ));
            }
        }
        None
    }
}
