//! Security group operations: CreateSecurityGroup, Authorize/Revoke
//! SecurityGroup(Egress), JoinSecurityGroup, LeaveSecurityGroup.

use super::*;

impl Cloud {
    pub(super) fn create_security_group(
        &mut self,
        vpc_id: &str,
        security_group_type: Option<SecurityGroupType>,
        security_group_name: Option<&str>,
        security_group_id: Option<&str>,
    ) -> ApiResult<Changes> {
        if !self.vpcs.contains_key(vpc_id) {
            return Err(ApiError::not_found("InvalidVpcId.NotFound", "VPC", vpc_id));
        }
        let id = self.new_id(security_group_id, "sg")?;
        let kind = security_group_type.unwrap_or(SecurityGroupType::Basic);
        self.security_groups.insert(
            id.clone(),
            SecurityGroup {
                id: id.clone(),
                name: security_group_name
                    .map(str::to_string)
                    .unwrap_or_else(|| id.clone()),
                vpc: vpc_id.to_string(),
                kind,
                inner_access_accept: kind == SecurityGroupType::Basic,
                rules: Vec::new(),
            },
        );
        Ok(vec![format!(
            "{id}: created ({kind:?} security group in {vpc_id})"
        )])
    }

    pub(super) fn rule_from(&self, p: &RulePermission, dir: Direction) -> ApiResult<SgRule> {
        let g = self
            .security_groups
            .get(&p.security_group_id)
            .ok_or_else(|| {
                ApiError::not_found(
                    "InvalidSecurityGroupId.NotFound",
                    "security group",
                    &p.security_group_id,
                )
            })?;
        let (cidr, group, names) = match dir {
            Direction::Ingress => (
                p.source_cidr_ip,
                &p.source_group_id,
                ("SourceCidrIp", "SourceGroupId"),
            ),
            Direction::Egress => (
                p.dest_cidr_ip,
                &p.dest_group_id,
                ("DestCidrIp", "DestGroupId"),
            ),
        };
        // Five-tuple rules: the other side's CIDR (DestCidrIp on ingress, SourceCidrIp on
        // egress) restricts the ENI-side address; a group there is not a thing.
        let (local, wrong_side) = match dir {
            Direction::Ingress => (p.dest_cidr_ip, p.dest_group_id.is_some()),
            Direction::Egress => (p.source_cidr_ip, p.source_group_id.is_some()),
        };
        if wrong_side {
            return own(
                "InvalidParameter",
                format!(
                    "{:?} rules take the peer in {} or {}",
                    dir, names.0, names.1
                ),
            );
        }
        let peer = match (cidr, group) {
            (Some(c), None) => SgPeer::Cidr(c.trunc()),
            (None, Some(gid)) => {
                if g.kind == SecurityGroupType::Enterprise {
                    return own(
                        "InvalidParameter.EnterpriseGroupReference",
                        format!("{} is an enterprise security group; enterprise groups cannot reference other groups: use {} instead", g.id, names.0),
                    );
                }
                if *gid == g.id {
                    return err(
                        "InvalidParamter.Conflict",
                        format!("SecurityGroupId and {} are both {gid}: a rule cannot reference its own group; members of a basic group already reach each other (intra-group policy), otherwise give the members' CIDR in {}", names.1, names.0),
                    );
                }
                // The API reference publishes the SourceGroupId codes; the egress ones
                // (DestGroupId) are vpcsim's own by analogy.
                let (not_found, mismatch) = match dir {
                    Direction::Ingress => (
                        "InvalidSourceGroupId.NotFound",
                        "InvalidSourceGroupId.Mismatch",
                    ),
                    Direction::Egress => {
                        ("InvalidDestGroupId.NotFound", "InvalidDestGroupId.Mismatch")
                    }
                };
                let refusal = |code: &str, msg: String| match dir {
                    Direction::Ingress => ApiError::new(code, msg),
                    Direction::Egress => ApiError::own(code, msg),
                };
                let Some(peer) = self.security_groups.get(gid) else {
                    return Err(refusal(
                        not_found,
                        format!("security group `{gid}` named in {} does not exist in this scenario; check the id (ids are case-sensitive)", names.1),
                    ));
                };
                if peer.vpc != g.vpc {
                    return Err(refusal(
                        mismatch,
                        format!("{} is in {} but {gid} is in {}; a rule references only groups of the same VPC: use {} with the peers' CIDR instead", g.id, g.vpc, peer.vpc, names.0),
                    ));
                }
                SgPeer::Group(gid.clone())
            }
            (None, None) => {
                return err(
                    "MissingParameter",
                    format!("give {} or {}", names.0, names.1),
                )
            }
            (Some(_), Some(_)) => {
                return own(
                    "InvalidParameter",
                    format!("{} and {} are exclusive", names.0, names.1),
                )
            }
        };
        let ports = parse_sg_ports(&p.port_range, p.ip_protocol)?;
        let source_ports = match p.source_port_range.as_deref().map(str::trim) {
            None | Some("") | Some("-1/-1") => None,
            Some(s) => parse_sg_ports(s, p.ip_protocol)?,
        };
        let priority = p.priority.unwrap_or(1);
        if !(1..=100).contains(&priority) {
            return err(
                "InvalidPriority.Malformed",
                format!("priority {priority} is out of range; use 1 (highest) to 100"),
            );
        }
        Ok(SgRule {
            direction: dir,
            protocol: p.ip_protocol,
            ports,
            peer,
            local: local.map(|l| l.trunc()),
            source_ports,
            policy: p.policy.unwrap_or(SgPolicy::Accept),
            priority,
            description: p.description.clone().unwrap_or_default(),
        })
    }

    pub(super) fn authorize(&mut self, p: &RulePermission, dir: Direction) -> ApiResult<Changes> {
        let rule = self.rule_from(p, dir)?;
        let g = self
            .security_groups
            .get_mut(&p.security_group_id)
            .expect("checked");
        if g.rules.contains(&rule) {
            return Ok(vec![format!(
                "{}: rule already present: {}",
                g.id,
                rule.describe()
            )]);
        }
        let d = rule.describe();
        g.rules.push(rule);
        Ok(vec![format!("{}: {:?} rule added: {d}", g.id, dir)])
    }

    pub(super) fn revoke(&mut self, p: &RulePermission, dir: Direction) -> ApiResult<Changes> {
        let rule = self.rule_from(p, dir)?;
        let g = self
            .security_groups
            .get_mut(&p.security_group_id)
            .expect("checked");
        let same = |r: &SgRule| {
            r.direction == rule.direction
                && r.protocol == rule.protocol
                && r.ports == rule.ports
                && r.peer == rule.peer
                && r.local == rule.local
                && r.source_ports == rule.source_ports
                && r.policy == rule.policy
                && (p.priority.is_none() || r.priority == rule.priority)
        };
        let before = g.rules.len();
        g.rules.retain(|r| !same(r));
        if g.rules.len() == before {
            return own(
                "InvalidSecurityGroupRule.NotFound",
                format!("{} has no {:?} rule {}; Revoke takes the same protocol, ports, peer and policy the rule was authorized with", g.id, dir, rule.describe()),
            );
        }
        Ok(vec![format!(
            "{}: {:?} rule revoked: {}",
            g.id,
            dir,
            rule.describe()
        )])
    }

    /// JoinSecurityGroup/LeaveSecurityGroup act on an instance (its primary ENI) or an ENI.
    pub(super) fn sg_member_eni(
        &self,
        inst: &Option<String>,
        eni: &Option<String>,
    ) -> ApiResult<String> {
        match (inst, eni) {
            (Some(i), None) => {
                let inst = self.instance(i)?;
                inst.primary_eni().map(str::to_string).ok_or_else(|| {
                    ApiError::own(
                        "InvalidEcsId.NoPrimaryEni",
                        format!("{i} has no primary ENI"),
                    )
                })
            }
            (None, Some(e)) => Ok(self.eni(e)?.id.clone()),
            _ => own(
                "InvalidParameter",
                "give exactly one of InstanceId and NetworkInterfaceId",
            ),
        }
    }

    pub(super) fn join_security_group(&mut self, eni_id: &str, sg: &str) -> ApiResult<Changes> {
        let eni = self.eni(eni_id)?.clone();
        let g = self.security_groups.get(sg).ok_or_else(|| {
            ApiError::not_found("InvalidSecurityGroupId.NotFound", "security group", sg)
        })?;
        let who = eni
            .instance
            .clone()
            .filter(|_| eni.kind == EniType::Primary)
            .unwrap_or_else(|| eni_id.to_string());
        // Acting on an instance (its primary ENI): the instance must be Running or Stopped.
        if let Some(inst) = eni
            .instance
            .as_deref()
            .filter(|_| eni.kind == EniType::Primary)
            .and_then(|i| self.instances.get(i))
        {
            if !matches!(
                inst.status,
                InstanceStatus::Running | InstanceStatus::Stopped
            ) {
                return err(
                    "IncorrectInstanceStatus",
                    format!("{who} is {:?}; an instance joins a security group only when Running or Stopped: wait for it to finish starting or stopping", inst.status),
                );
            }
        }
        if g.vpc != eni.vpc {
            return err(
                "InvalidInstanceId.Mismatch",
                format!("{sg} is in {} but {who} is in {}; instance and group must be of the same network (VPC)", g.vpc, eni.vpc),
            );
        }
        if eni.security_groups.iter().any(|s| s == sg) {
            return err(
                "InvalidInstanceId.AlreadyExists",
                format!("{who} is already in {sg}; nothing to join"),
            );
        }
        if let Some(other) = eni
            .security_groups
            .iter()
            .filter_map(|s| self.security_groups.get(s))
            .find(|o| o.kind != g.kind)
        {
            return err(
                "InvalidOperation.MultiGroupType",
                format!("{sg} is a {:?} group but {who} is in {:?} group {}; all groups of one instance must be of the same type", g.kind, other.kind, other.id),
            );
        }
        let quota = self.quotas.security_groups_per_eni;
        if eni.security_groups.len() >= quota {
            return err(
                "InstanceSecurityGroupLimitExceeded",
                format!("{who} is already in {} security groups, the quota is {quota}; leave one first (or raise [quotas] security_groups_per_eni)", eni.security_groups.len()),
            );
        }
        self.enis
            .get_mut(eni_id)
            .expect("checked")
            .security_groups
            .push(sg.to_string());
        Ok(vec![format!("{who}: joined {sg}; its rules apply at once")])
    }

    pub(super) fn leave_security_group(&mut self, eni_id: &str, sg: &str) -> ApiResult<Changes> {
        let eni = self.eni(eni_id)?.clone();
        if !self.security_groups.contains_key(sg) {
            return Err(ApiError::not_found(
                "InvalidSecurityGroupId.NotFound",
                "security group",
                sg,
            ));
        }
        let who = eni
            .instance
            .clone()
            .filter(|_| eni.kind == EniType::Primary)
            .unwrap_or_else(|| eni_id.to_string());
        if !eni.security_groups.iter().any(|s| s == sg) {
            return err(
                "InvalidSecurityGroupAssociation.NotFound",
                format!("{who} is not in {sg}; it can only leave groups it belongs to"),
            );
        }
        if eni.security_groups.len() == 1 {
            return err(
                "InstanceLastSecurityGroup",
                format!("{sg} is the last security group of {who}; an instance belongs to at least one group: join another first"),
            );
        }
        self.enis
            .get_mut(eni_id)
            .expect("checked")
            .security_groups
            .retain(|s| s != sg);
        Ok(vec![format!(
            "{who}: left {sg}; now isolated from that group's members"
        )])
    }
}

/// `PortRange` of a rule: `a/b` for TCP/UDP, `-1/-1` for the others.
fn parse_sg_ports(s: &str, proto: SgProtocol) -> ApiResult<Option<(u16, u16)>> {
    let bad = || {
        ApiError::new(
            "InvalidPortRange.Malformed",
            format!("PortRange `{s}` is not valid for {proto:?}: TCP/UDP take `a/b` with 1 ≤ a ≤ b ≤ 65535, other protocols `-1/-1`"),
        )
    };
    let (a, b) = s.split_once('/').ok_or_else(bad)?;
    if !proto.has_ports() {
        return if a.trim() == "-1" && b.trim() == "-1" {
            Ok(None)
        } else {
            Err(bad())
        };
    }
    let a: u16 = a.trim().parse().map_err(|_| bad())?;
    let b: u16 = b.trim().parse().map_err(|_| bad())?;
    if a == 0 || a > b {
        return Err(bad());
    }
    Ok(Some((a, b)))
}
