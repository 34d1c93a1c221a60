//! Connectivity checks of scenario files, answered by a probe (and its reply).

use std::sync::Arc;

use super::{dataplane, request, send};
use crate::check::{CheckReport, CheckSpec};
use crate::model::Cloud;
use crate::time::SimTime;
use crate::wire;

/// Evaluates a connectivity check of a scenario file.
pub fn connectivity_check(cloud: &Cloud, c: &CheckSpec) -> CheckReport {
    let mut dp = dataplane(cloud);
    let t = Arc::clone(dp.tables());
    let mut report = CheckReport::new(&c.name, 0, 0);
    let want_reply = c.expect_reply || c.expect_reply_reason.is_some();
    let req = request(
        &t,
        c.from.as_deref().unwrap_or_default(),
        c.to.as_deref().unwrap_or_default(),
        c.proto.as_deref().unwrap_or("tcp"),
        c.src,
    );
    let r = match req.and_then(|req| send(&mut dp, &req, want_reply, SimTime::ZERO)) {
        Ok(r) => r,
        Err(e) => {
            report.observed = e;
            return report;
        }
    };
    let mut expected = vec![c.expect.clone().unwrap_or_default()];
    let mut observed = vec![r.disposition.to_string()];
    let mut pass = Some(r.disposition) == c.expect.as_deref();
    if let Some(s) = c.expect_source {
        expected.push(format!("source {s}"));
        observed.push(
            r.source_seen
                .map_or("no source".into(), |x| format!("source {x}")),
        );
        pass &= r.source_seen == Some(s);
    }
    if let Some(e) = &c.expect_eni {
        expected.push(format!("at {e}"));
        observed.push(format!("at {}", r.eni.as_deref().unwrap_or("-")));
        pass &= r.eni.as_deref() == Some(e.as_str());
    }
    if let Some(reason) = &c.expect_reason {
        expected.push(format!("reason {reason}"));
        observed.push(format!("reason {}", r.reason.unwrap_or("-")));
        pass &= r.reason == Some(reason.as_str());
    }
    if let Some(reason) = r.reason {
        if c.expect_reason.is_none() {
            observed.push(format!("reason {reason}"));
        }
    }
    let mut lines = r.trace_lines();
    if want_reply {
        let rep = r.reply.as_deref();
        let rdisp = rep.map_or("not sent", |x| x.disposition);
        if c.expect_reply {
            let back_ok = rep.is_some_and(|x| {
                x.disposition != "dropped"
                    && x.destination_seen == wire::parse(&r.frame_in).ok().map(|i| i.src)
            });
            expected.push("reply returns to the sender".into());
            observed.push(match rep {
                Some(x) if back_ok => format!(
                    "reply returns from {}",
                    x.source_seen.map_or("?".into(), |s| s.to_string())
                ),
                Some(x) => format!(
                    "reply {} ({})",
                    x.disposition,
                    x.reason.unwrap_or("wrong destination")
                ),
                None => "reply not sent".into(),
            });
            pass &= back_ok;
        }
        if let Some(reason) = &c.expect_reply_reason {
            expected.push(format!("reply dropped: {reason}"));
            observed.push(format!(
                "reply {rdisp}{}",
                rep.and_then(|x| x.reason)
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            ));
            pass &= rep.and_then(|x| x.reason) == Some(reason.as_str());
        }
        if let Some(x) = rep {
            lines.push("--- reply ---".into());
            lines.extend(x.trace_lines());
        }
    }
    report.passes = r
        .pass
        .iter()
        .chain(r.reply.iter().filter_map(|x| x.pass.as_ref()))
        .cloned()
        .collect();
    report.pass = pass;
    report.expected = expected.join(", ");
    report.observed = observed.join(", ");
    report.trace = lines;
    report
}
