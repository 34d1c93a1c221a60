//! The record of a packet's way through the pipeline: one hop per stage that decided
//! something, naming the resource and showing the header before and after a rewrite.

use serde::Serialize;

use crate::wire::{FrameInfo, L4};

#[derive(Debug, Clone, Default, Serialize)]
pub struct Trace {
    pub hops: Vec<Hop>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Hop {
    /// Pipeline stage: guest_route, eni, sg_egress, route, eip, snat, dnat, sg_ingress, ...
    pub stage: &'static str,
    /// The cloud resource that decided (ENI id, rule, route entry, EIP, SNAT entry, ...).
    pub resource: String,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

impl Trace {
    pub fn push(
        &mut self,
        stage: &'static str,
        resource: impl Into<String>,
        detail: impl Into<String>,
    ) {
        self.hops.push(Hop {
            stage,
            resource: resource.into(),
            detail: detail.into(),
            before: None,
            after: None,
        });
    }

    pub fn rewrite(
        &mut self,
        stage: &'static str,
        resource: impl Into<String>,
        detail: impl Into<String>,
        before: &FrameInfo,
        after: &FrameInfo,
    ) {
        self.hops.push(Hop {
            stage,
            resource: resource.into(),
            detail: detail.into(),
            before: Some(summary(before)),
            after: Some(summary(after)),
        });
    }

    /// One line per hop, for terminals.
    pub fn lines(&self) -> Vec<String> {
        self.hops
            .iter()
            .map(|h| {
                let mut s = format!("{:<11} {:<22} {}", h.stage, h.resource, h.detail);
                if let (Some(b), Some(a)) = (&h.before, &h.after) {
                    s.push_str(&format!("\n{:<35} {b}\n{:<35} → {a}", "", ""));
                }
                s
            })
            .collect()
    }
}

/// `tcp 192.168.1.10:40000 → 203.0.113.80:443 [S] ttl 64`
pub fn summary(i: &FrameInfo) -> String {
    match i.l4 {
        L4::Tcp {
            sport,
            dport,
            flags,
            ..
        } => format!(
            "tcp {}:{sport} → {}:{dport} [{flags}] ttl {}",
            i.src, i.dst, i.ttl
        ),
        L4::Udp { sport, dport } => {
            format!("udp {}:{sport} → {}:{dport} ttl {}", i.src, i.dst, i.ttl)
        }
        L4::IcmpEcho {
            request,
            ident,
            seq,
        } => format!(
            "icmp echo-{} {} → {} id {ident} seq {seq} ttl {}",
            if request { "request" } else { "reply" },
            i.src,
            i.dst,
            i.ttl
        ),
        L4::IcmpError {
            icmp_type,
            code,
            inner,
        } => format!(
            "icmp type {icmp_type} code {code} {} → {} about {} {}:{} → {}:{}",
            i.src,
            i.dst,
            super::proto_name(inner.proto),
            inner.src,
            inner.sport,
            inner.dst,
            inner.dport
        ),
        L4::IcmpOther { icmp_type, code } => {
            format!("icmp type {icmp_type} code {code} {} → {}", i.src, i.dst)
        }
        L4::Fragment => format!(
            "fragment proto {} {} → {} id {} offset {}",
            i.proto, i.src, i.dst, i.ident, i.frag_offset
        ),
        L4::Other => format!("proto {} {} → {}", i.proto, i.src, i.dst),
    }
}
