//! Security groups compiled per ENI: the rules of all the ENI's groups merged and ordered
//! by priority (1 first), drop before accept at equal priority; first match decides; with
//! no match, the group type's implicit default (SEMANTICS.md §3, security groups).

use super::FastSet;
use std::sync::Arc;

use crate::model::{Direction, SecurityGroupType, SgPolicy, SgProtocol};

#[derive(Debug, Clone)]
pub enum PeerT {
    /// (network, mask).
    Cidr(u32, u32),
    /// Private IPs of the members of a (basic) group.
    Members(Arc<FastSet<u32>>),
}

impl PeerT {
    #[inline]
    fn matches(&self, ip: u32) -> bool {
        match self {
            PeerT::Cidr(net, m) => ip & m == *net,
            PeerT::Members(s) => s.contains(&ip),
        }
    }
}

#[derive(Debug, Clone)]
pub struct RuleT {
    pub direction: Direction,
    pub protocol: SgProtocol,
    pub ports: Option<(u16, u16)>,
    pub peer: PeerT,
    /// Five-tuple rules: the ENI-side address (network, mask) the rule applies to.
    pub local: Option<(u32, u32)>,
    /// Five-tuple rules: the packet's source port range.
    pub source_ports: Option<(u16, u16)>,
    pub policy: SgPolicy,
    pub priority: u8,
    /// The group the rule belongs to, and its text, for traces.
    pub group: String,
    pub text: String,
}

/// What decided a security-group evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SgDecision {
    /// Index into the ENI's merged rule list.
    Rule(usize),
    /// Basic group default: inbound from a member of one of the ENI's groups.
    IntraGroup,
    /// Basic group default: outbound is allowed.
    BasicEgressDefault,
    /// No rule matched and the default denies.
    DefaultDeny,
}

#[derive(Debug, Clone, Default)]
pub struct SgSet {
    pub kind: Option<SecurityGroupType>,
    pub groups: Vec<String>,
    /// Merged, ordered rules of every group of the ENI.
    pub rules: Vec<RuleT>,
    /// Basic groups: private IPs of members of the ENI's groups whose inner access is Accept.
    pub intra: Arc<FastSet<u32>>,
}

impl RuleT {
    /// A five-tuple rule that matches only some source ports (not all of 1-65535).
    pub fn restricts_source_ports(&self) -> bool {
        matches!(self.source_ports, Some((a, b)) if a > 1 || b < 65535)
    }
}

impl SgSet {
    /// Orders rules as the cloud does: priority ascending, drop before accept.
    pub fn sort(&mut self) {
        self.rules
            .sort_by_key(|r| (r.priority, r.policy == SgPolicy::Accept));
    }

    /// Evaluates a packet as seen from the ENI: `peer` is the remote address (source for
    /// ingress, destination for egress), `port` the destination port (ignored for
    /// protocols without ports). Five-tuple rules (restricted to an ENI-side address or a
    /// source port) do not match here; the pipeline uses [`SgSet::evaluate_tuple`].
    pub fn evaluate(&self, dir: Direction, proto: u8, peer: u32, port: u16) -> (bool, SgDecision) {
        self.evaluate_tuple(dir, proto, peer, None, None, port)
    }

    /// The whole five-tuple: `local` is the ENI-side address (destination for ingress,
    /// source for egress), `sport` the packet's source port. `None` = unknown: a rule
    /// restricted on it does not match.
    pub fn evaluate_tuple(
        &self,
        dir: Direction,
        proto: u8,
        peer: u32,
        local: Option<u32>,
        sport: Option<u16>,
        port: u16,
    ) -> (bool, SgDecision) {
        for (i, r) in self.rules.iter().enumerate() {
            if r.direction != dir || !r.protocol.matches(proto) {
                continue;
            }
            if let Some((a, b)) = r.ports {
                if !(a..=b).contains(&port) {
                    continue;
                }
            }
            if !r.peer.matches(peer) {
                continue;
            }
            if let Some((net, m)) = r.local {
                if local.map(|l| l & m) != Some(net) {
                    continue;
                }
            }
            if let Some((a, b)) = r.source_ports {
                if !matches!(sport, Some(p) if (a..=b).contains(&p)) {
                    continue;
                }
            }
            return (r.policy == SgPolicy::Accept, SgDecision::Rule(i));
        }
        match (self.kind, dir) {
            (Some(SecurityGroupType::Basic), Direction::Egress) => {
                (true, SgDecision::BasicEgressDefault)
            }
            (Some(SecurityGroupType::Basic), Direction::Ingress) if self.intra.contains(&peer) => {
                (true, SgDecision::IntraGroup)
            }
            _ => (false, SgDecision::DefaultDeny),
        }
    }

    /// A sentence for traces.
    pub fn explain(&self, d: SgDecision, dir: Direction) -> String {
        let groups = self.groups.join(", ");
        match d {
            SgDecision::Rule(i) => match self.rules.get(i) {
                Some(r) => format!("rule of {}: {}", r.group, r.text),
                None => "rule".into(),
            },
            SgDecision::IntraGroup => format!("basic group default: the peer is a member of {groups} (intra-group access)"),
            SgDecision::BasicEgressDefault => format!("basic group default of {groups}: outbound is allowed"),
            SgDecision::DefaultDeny => match (self.kind, dir) {
                (Some(SecurityGroupType::Enterprise), Direction::Ingress) => format!("no rule of {groups} matches; enterprise groups deny inbound by default"),
                (Some(SecurityGroupType::Enterprise), Direction::Egress) => format!("no rule of {groups} matches; enterprise groups deny outbound by default"),
                _ => format!("no rule of {groups} matches; basic groups allow inbound only from members of the same group"),
            },
        }
    }
}
