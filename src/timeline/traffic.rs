//! The traffic's endpoints on the timeline: the servers (sshd that greets and echoes,
//! the "what is my IP" server), the clients' connections (handshake, keep-alives,
//! breaks, stalls), and the attribution of each pass through the data plane to the
//! connection it belongs to.

use std::net::Ipv4Addr;

use smoltcp::socket::tcp::{self, State};

use super::report::{self, Break};
use super::{f, Sim, LISTENERS, SEC};
use crate::hosts::session::{Service, SSH_BANNER};
use crate::pipeline::{Disposition, EndCause};
use crate::scenario::format::TrafficKind;
use crate::time::SimTime;
use crate::wire;

impl Sim<'_> {
    /// Attributes new passes through the data plane to connections: the translated
    /// address of a client's packet, and the first drop.
    pub(super) fn scan_passes(&mut self) {
        let ended = self.net.dp.take_ended();
        let passes = &self.net.passes[self.seen_passes..];
        self.seen_passes = self.net.passes.len();
        for p in passes {
            let Ok(b) = wire::parse(&p.before) else {
                continue;
            };
            let (sp, dp) = b.ports();
            let (src, dst) = ((b.src, sp), (b.dst, dp));
            let Some(c) = self
                .live
                .iter_mut()
                .find(|c| c.ends.contains(&src) || c.ends.contains(&dst))
            else {
                continue;
            };
            match p.outcome.disposition {
                Disposition::Dropped(r) => {
                    if c.first_drop.is_none() {
                        let step = ended
                            .iter()
                            .find(|e| {
                                let o = &e.original;
                                let (a, b) = (
                                    (Ipv4Addr::from(o.src), o.sport),
                                    (Ipv4Addr::from(o.dst), o.dport),
                                );
                                c.ends.contains(&a) || c.ends.contains(&b)
                            })
                            .map(|e| {
                                let step = self
                                    .epoch_step
                                    .iter()
                                    .find(|(ep, _)| *ep == e.ended_epoch)
                                    .map_or(format!("epoch {}", e.ended_epoch), |(_, s)| s.clone());
                                let why = match &e.cause {
                                    EndCause::Denied { reason } => reason.name().to_string(),
                                    EndCause::Retranslated { now, .. } => {
                                        format!("re-translated to {}", now.0)
                                    }
                                };
                                format!("{step}: {why}")
                            });
                        let name = r.name().to_string();
                        c.first_drop = Some((SimTime(p.ts_nanos), name, step));
                    }
                }
                d => {
                    // A client packet that left: what the server sees, and by which ENI.
                    if c.ends.first() == Some(&src) {
                        let conn = &mut self.lanes[c.lane].connections[c.idx];
                        let in_time = p.ts_nanos < c.deadline.0 || c.established.is_some();
                        if let (Disposition::Delivered { eni }, None, true) =
                            (d, &conn.server_eni, in_time)
                        {
                            conn.server_eni = Some(p.tables.eni(eni).id.clone());
                        }
                        if let Ok(a) = wire::parse(&p.after) {
                            let (asp, _) = a.ports();
                            if !c.ends.contains(&(a.src, asp)) {
                                c.ends.push((a.src, asp));
                                conn.server_saw = Some(format!("{}:{asp}", a.src));
                            }
                        }
                    }
                }
            }
        }
    }

    /// The servers: sshd greets with the banner and echoes keep-alives; the "what is
    /// my IP" server answers each request with the address it saw.
    pub(super) fn serve(&mut self) {
        for s in &mut self.servers {
            if s.done {
                continue;
            }
            let host = &mut self.net.hosts[s.host];
            let sk = host.sockets.get_mut::<tcp::Socket>(s.handle);
            let state = sk.state();
            if state == State::Established && !s.greeted {
                s.greeted = true;
                if s.service == Service::Ssh {
                    let _ = sk.send_slice(SSH_BANNER.as_bytes());
                }
            }
            let mut buf = [0u8; 2048];
            while sk.can_recv() {
                match sk.recv_slice(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if s.service == Service::Ssh {
                            let _ = sk.send_slice(&buf[..n]);
                        } else {
                            s.request.extend_from_slice(&buf[..n]);
                        }
                    }
                }
            }
            if s.service == Service::Http {
                while let Some(end) = s.request.windows(4).position(|w| w == b"\r\n\r\n") {
                    let req: Vec<u8> = s.request.drain(..end + 4).collect();
                    let close = req.windows(17).any(|w| w == b"Connection: close");
                    let peer = sk.remote_endpoint();
                    let body = format!(
                        "Current IP: {}  port: {}\n",
                        peer.map_or(String::new(), |e| e.addr.to_string()),
                        peer.map_or(0, |e| e.port)
                    );
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: {}\r\n\r\n{body}",
                        body.len(),
                        if close { "close" } else { "keep-alive" }
                    );
                    let _ = sk.send_slice(resp.as_bytes());
                    if close {
                        sk.close();
                    }
                }
            }
            if state == State::CloseWait {
                sk.close();
            }
            if matches!(state, State::Closed | State::TimeWait) && s.greeted {
                host.sockets.remove(s.handle);
                s.done = true;
            }
        }
        self.servers.retain(|s| !s.done);
        // Accepted sockets leave the pool: keep it full for the next clients.
        for (h, p, sv) in self.services.clone() {
            let idle = self
                .servers
                .iter()
                .filter(|s| {
                    s.host == h
                        && s.port == p
                        && self.net.hosts[h]
                            .sockets
                            .get::<tcp::Socket>(s.handle)
                            .is_listening()
                })
                .count();
            for _ in idle..LISTENERS {
                self.listen_one(h, p, sv);
            }
        }
    }

    pub(super) fn clients(&mut self) {
        let now = self.net.now;
        let mut gone = vec![];
        for (li, c) in self.live.iter_mut().enumerate() {
            let tr = &mut self.traffic[c.lane];
            let service = tr.service.unwrap_or(Service::Ssh);
            let session = tr.kind == TrafficKind::Session;
            let every = tr.every;
            let conn = &mut self.lanes[c.lane].connections[c.idx];
            let sk = self.net.hosts[c.host]
                .sockets
                .get_mut::<tcp::Socket>(c.handle);
            let state = sk.state();
            // A probe has until its deadline; what happens after does not count.
            let late = !session && !conn.ok && now >= c.deadline;
            if !late && c.established.is_none() && state == State::Established {
                c.established = Some(now);
                conn.established_s = Some(f(now));
                if service == Service::Http {
                    let r = format!(
                        "GET / HTTP/1.1\r\nHost: myip\r\nUser-Agent: curl/8.5.0\r\n{}\r\n",
                        if session { "" } else { "Connection: close\r\n" }
                    );
                    let _ = sk.send_slice(r.as_bytes());
                    c.awaiting_since = Some(now);
                }
            }
            let mut buf = [0u8; 2048];
            while sk.can_recv() {
                match sk.recv_slice(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => c.got.extend_from_slice(&buf[..n]),
                }
            }
            // Progress: the banner, a body, or the keep-alive echo.
            let text = String::from_utf8_lossy(&c.got).to_string();
            let answered = match service {
                Service::Ssh => {
                    text.contains("\r\n") && text.len() >= SSH_BANNER.len() + c.awaiting
                }
                Service::Http => text.contains("Current IP:") && text.ends_with('\n'),
            };
            if answered && !late {
                if c.awaiting_since.is_some() || !conn.ok {
                    c.awaiting_since = None;
                    c.awaiting = 0;
                    if service == Service::Ssh {
                        c.got.clear();
                        c.got.extend_from_slice(SSH_BANNER.as_bytes());
                    }
                }
                if service == Service::Http {
                    if let Some(a) = text
                        .split_whitespace()
                        .find_map(|w| w.parse::<Ipv4Addr>().ok())
                    {
                        conn.address = Some(a.to_string());
                    }
                    c.got.clear();
                }
                conn.ok = true;
                if let (Some((t, reason, _)), true) = (c.first_drop.take(), session) {
                    conn.stalls.push(report::Window {
                        from_s: f(t),
                        to_s: Some(f(now)),
                        reason,
                    });
                }
                if !session && !c.closing {
                    sk.close();
                    c.closing = true;
                }
            }
            // Sessions: a keep-alive every `every` once up.
            if session
                && conn.ok
                && !c.closing
                && c.awaiting_since.is_none()
                && now >= c.next_keepalive
            {
                c.next_keepalive = SimTime(now.0 + every.0);
                c.awaiting_since = Some(now);
                match service {
                    Service::Ssh => {
                        c.awaiting = sk.send_slice(b"keepalive\r\n").unwrap_or(0);
                    }
                    Service::Http => {
                        let _ = sk.send_slice(b"GET / HTTP/1.1\r\nHost: myip\r\n\r\n");
                    }
                }
            }
            // Broken?
            let blackhole_after = SimTime((2 * every.0).max(SEC));
            let broke: Option<(&str, SimTime)> = if !c.closing && state == State::Closed {
                Some((
                    if c.established.is_some() {
                        "reset"
                    } else {
                        "refused"
                    },
                    now,
                ))
            } else if c.established.is_none() && now >= c.deadline {
                Some(("timed_out", c.started))
            } else if let Some(since) = c
                .awaiting_since
                .filter(|s| now.0 >= s.0 + blackhole_after.0)
            {
                Some(("blackholed", since))
            } else if !session && !conn.ok && now >= c.deadline {
                Some(("timed_out", c.started))
            } else {
                None
            };
            let finished = c.closing && matches!(state, State::Closed | State::TimeWait);
            if let Some((how, at)) = broke {
                let (at, reason, step) = match &c.first_drop {
                    Some((t, r, s)) => (*t, Some(r.clone()), s.clone()),
                    None => (at, None, None),
                };
                let how = match (&step, how) {
                    (Some(s), "blackholed") if s.contains("re-translated") => "retranslated",
                    _ => how,
                };
                conn.broke = Some(Break {
                    at_s: f(at),
                    noticed_s: f(now),
                    how: how.to_string(),
                    reason,
                    step: step
                        .as_ref()
                        .map(|s| s.split(": ").next().unwrap_or("").to_string()),
                    detail: step.unwrap_or_default(),
                });
                conn.ended_s = Some(f(now));
                conn.ok = false;
                if state != State::Closed {
                    sk.abort();
                }
                gone.push(li);
                if session {
                    tr.active = false;
                    if tr.reconnect {
                        // Reconnect right away, then every `every`.
                        tr.next = now;
                    } else {
                        tr.next = tr.until;
                    }
                }
            } else if finished || (c.closing && now.0 >= c.started.0 + 4 * every.0) {
                conn.ended_s = Some(f(now));
                gone.push(li);
            }
        }
        for li in gone.into_iter().rev() {
            let c = self.live.remove(li);
            let sk = self.net.hosts[c.host].sockets.get::<tcp::Socket>(c.handle);
            if matches!(sk.state(), State::Closed | State::TimeWait) {
                self.net.hosts[c.host].sockets.remove(c.handle);
            }
        }
    }
}
