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

    /// One line per hop, for terminals. The resource column is as wide as the longest
    /// resource id of this trace (at least 22), so long imported ids keep the details
    /// aligned.
    pub fn lines(&self) -> Vec<String> {
        let w = self
            .hops
            .iter()
            .map(|h| h.resource.chars().count())
            .max()
            .unwrap_or(0)
            .max(22);
        // Where the detail column starts, plus one: the rewritten headers sit under it.
        let indent = 11 + 1 + w + 2;
        self.hops
            .iter()
            .map(|h| {
                let mut s = format!("{:<11} {:<w$} {}", h.stage, h.resource, h.detail);
                if let (Some(b), Some(a)) = (&h.before, &h.after) {
                    s.push_str(&format!("\n{:<i$}{b}\n{:<i$}→ {a}", "", "", i = indent));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_columns_widen_to_the_longest_resource_id_of_the_trace() {
        let mut t = Trace::default();
        t.push("eni", "eni-bp1a2b3c4d5e6f7g8h9i0j", "sent from eth0");
        t.push("route", "vtb-short", "0.0.0.0/0 → internet");
        let l = t.lines();
        let col = |s: &str, d: &str| s.find(d).unwrap();
        assert_eq!(col(&l[0], "sent"), col(&l[1], "0.0.0.0/0"), "{l:#?}");
        // Short ids keep the 22-character column of before.
        let mut u = Trace::default();
        u.push("eni", "eni-web", "x");
        assert_eq!(u.lines()[0], format!("{:<11} {:<22} x", "eni", "eni-web"));
    }
}
