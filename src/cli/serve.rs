//! `vpcsim serve`: questions as JSON lines on stdin, one JSON line per answer on stdout,
//! against a scenario loaded and compiled once — for scripts that ask thousands of
//! questions (a process per question costs milliseconds; a request here, microseconds).
//!
//! Request: an object with `op` and the op's fields, and optionally `id` (any JSON value,
//! echoed in the answer):
//!
//! * `{"op":"trace","from":"i-web","to":"203.0.113.80:443"}` (+ `proto`, `src`, `ttl`,
//!   `reply`) → the `vpcsim trace --json` document;
//! * `{"op":"session","from":"i-web","to":"203.0.113.80:80","service":"http"}`;
//! * `{"op":"egress"}` (+ `ingress_port`) → the egress rows;
//! * `{"op":"apply","step":{"op":"AttachNetworkInterface", …OpenAPI parameters}}` →
//!   the changes, or the cloud's refusal; later questions see the new state;
//! * `{"op":"reset"}` (back to the loaded state), `{"op":"info"}`.
//!
//! Each answer is the command's envelope plus `id`. A line that is not a valid request
//! gets the error document (`{"vpcsim", "command": "serve", "error": {…}}`) and the
//! server goes on; lines longer than [`MAX_LINE`] are refused without being held.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{json, Value};

use super::json::{self, After, ErrorDoc};
use crate::compile::Tables;
use crate::model::{Cloud, Operation};
use crate::pipeline::{Dataplane, DataplaneConfig};
use crate::probe::{Endpoint, ProbeResult, Proto};
use crate::scenario::Scenario;
use crate::time::SimTime;

/// The longest request line read (bytes); longer lines are answered with an error.
pub const MAX_LINE: usize = 1 << 20;

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Scenario file or import folder (default: the built-in scenario).
    pub file: Option<PathBuf>,
    /// Start from the state after this step: a number (0 = the initial topology) or a
    /// step id (default: all).
    #[arg(long, alias = "after-step", value_name = "STEP")]
    pub after: Option<String>,
}

/// One request, by `op`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    Trace {
        from: String,
        to: String,
        #[serde(default = "tcp")]
        proto: String,
        #[serde(default)]
        src: Option<std::net::Ipv4Addr>,
        #[serde(default = "ttl64")]
        ttl: u8,
        #[serde(default)]
        reply: bool,
    },
    Session {
        from: String,
        to: String,
        service: String,
    },
    Egress {
        #[serde(default = "port22")]
        ingress_port: u16,
    },
    Apply {
        step: Value,
    },
    Reset,
    Info,
}

fn tcp() -> String {
    "tcp".into()
}
fn ttl64() -> u8 {
    64
}
fn port22() -> u16 {
    22
}

/// Parses one request line: `(id, request)`, or `(id, error message)`. Never panics.
pub fn parse_request(line: &[u8]) -> (Value, Result<Request, String>) {
    let text = match std::str::from_utf8(line) {
        Ok(t) => t,
        Err(e) => return (Value::Null, Err(format!("the line is not UTF-8: {e}"))),
    };
    let mut v: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            return (
                Value::Null,
                Err(format!(
                    "not a JSON object ({e}); send one object per line, e.g. {{\"op\":\"trace\",\"from\":\"i-web\",\"to\":\"203.0.113.80:443\"}}"
                )),
            )
        }
    };
    let Some(obj) = v.as_object_mut() else {
        return (
            Value::Null,
            Err("a request is a JSON object with `op`".into()),
        );
    };
    let id = obj.remove("id").unwrap_or(Value::Null);
    let r = Request::deserialize(v)
        .map_err(|e| format!("{e}; ops: trace, session, egress, apply, reset, info"));
    (id, r)
}

/// Senders kept resolved at most; past this the cache starts again (every
/// `internet:IP` is a sender, so a client could otherwise grow it without end).
const SENDERS_KEPT: usize = 4096;

/// The loaded scenario and the current state, compiled.
pub struct Server {
    sc: Scenario,
    start: usize,
    cloud: Cloud,
    tables: Arc<Tables>,
    /// Steps applied: the file's first `start`, then each `apply` that succeeded.
    applied: usize,
    epoch: u64,
    /// The data plane of this state: reset before each trace question, so each
    /// answers as on a new one (`vpcsim trace`) without building one.
    dp: Dataplane,
    /// A request's `from` → the sender it names, in this state.
    senders: HashMap<String, Endpoint>,
}

/// The data plane a trace question runs on: the one `vpcsim trace` builds.
fn probe_dataplane(tables: &Arc<Tables>) -> Dataplane {
    Dataplane::new(
        Arc::clone(tables),
        DataplaneConfig {
            conntrack_capacity: super::PROBE_CONNTRACK_CAPACITY,
            ..Default::default()
        },
    )
}

impl Server {
    pub fn new(sc: Scenario, after: usize) -> Server {
        let cloud = sc.state_after(after);
        let tables = Tables::compile(&cloud, 1);
        Server {
            sc,
            start: after,
            cloud,
            dp: probe_dataplane(&tables),
            tables,
            applied: after,
            epoch: 1,
            senders: HashMap::new(),
        }
    }

    /// The sender `from` names (an id, a name or `internet:IP`), resolved once per state.
    fn sender(&mut self, from: &str) -> Result<Endpoint, String> {
        if let Some(e) = self.senders.get(from) {
            return Ok(e.clone());
        }
        let id = super::ids::endpoint(&self.cloud, from, super::ids::Accept::InstanceOrEni)?;
        let e = Endpoint::parse(&id, &self.tables)?;
        if self.senders.len() >= SENDERS_KEPT {
            self.senders.clear();
        }
        self.senders.insert(from.to_string(), e.clone());
        Ok(e)
    }

    /// A trace question on this state's data plane, reset first: the same answer as
    /// [`super::probe_on`] (a new data plane per question) gives.
    fn probe(&mut self, a: &super::TraceArgs) -> Result<ProbeResult, String> {
        let from = self.sender(&a.from)?;
        let proto = Proto::parse(&a.proto)?;
        let mut req = crate::probe::request_from(from, &a.to, proto, a.src)?;
        req.ttl = a.ttl;
        self.dp.reset();
        crate::probe::send(&mut self.dp, &req, a.reply, SimTime::ZERO)
    }

    fn after(&self) -> After {
        After {
            step: self.applied,
            // Steps of the file have ids; steps applied by requests do not.
            id: (self.applied == self.start)
                .then(|| self.sc.step_id(self.start).map(str::to_string))
                .flatten(),
        }
    }

    /// Applies one step: on success, the new state is compiled and later questions see
    /// it. The answer's body.
    fn apply(&mut self, op: &Operation) -> Value {
        match self.cloud.apply(op) {
            Ok(changes) => {
                self.applied += 1;
                self.epoch += 1;
                self.tables = Tables::compile(&self.cloud, self.epoch);
                self.dp = probe_dataplane(&self.tables);
                // A step can create or rename what a name stands for.
                self.senders.clear();
                json!({"op": op.name(), "ok": true, "error_code": null, "message": "OK", "changes": changes})
            }
            Err(e) => {
                json!({"op": op.name(), "ok": false, "error_code": e.code, "message": e.message, "changes": []})
            }
        }
    }

    /// The probe of a TCP trace request alone, without the answer document: for the
    /// bench that splits a request's cost (`benches/serve.rs`).
    #[doc(hidden)]
    pub fn probe_only(&mut self, from: &str, to: &str) -> Result<&'static str, String> {
        self.probe(&bench_args(from, to)).map(|r| r.disposition)
    }

    /// As [`Server::probe_only`] on a new data plane, endpoints resolved again: what
    /// each question cost before the data plane was reused.
    #[doc(hidden)]
    pub fn probe_only_fresh(&self, from: &str, to: &str) -> Result<&'static str, String> {
        super::probe_on(&self.cloud, &self.tables, &bench_args(from, to)).map(|r| r.disposition)
    }

    /// Answers one line (without its newline) into `out`, as one JSON text without a
    /// newline. A trace request is written straight from borrowed structs (no `Value`:
    /// building one cost three times the probe); the other ops as [`Server::handle_line`].
    pub fn answer_line(&mut self, line: &[u8], out: &mut Vec<u8>) -> serde_json::Result<()> {
        let (id, req) = parse_request(line);
        if let Ok(Request::Trace {
            from,
            to,
            proto,
            src,
            ttl,
            reply,
        }) = &req
        {
            let a = super::TraceArgs {
                from: from.clone(),
                to: to.clone(),
                proto: proto.clone(),
                src: *src,
                after_step: None,
                reply: *reply,
                ttl: *ttl,
            };
            if let Ok(p) = self.probe(&a) {
                let after = self.after();
                let doc =
                    super::render::TraceDoc::new(Some(&self.sc.name), &after, &a, &p, Some(&id));
                return serde_json::to_writer(out, &doc);
            }
        }
        let mut doc = match req {
            Ok(r) => self.handle(&r),
            Err(e) => json::error("serve", ErrorDoc::input(e)),
        };
        if let Some(o) = doc.as_object_mut() {
            o.insert("id".into(), id);
        }
        serde_json::to_writer(out, &doc)
    }

    /// Answers one line (without its newline).
    pub fn handle_line(&mut self, line: &[u8]) -> Value {
        let (id, req) = parse_request(line);
        let mut doc = match req {
            Ok(r) => self.handle(&r),
            Err(e) => json::error("serve", ErrorDoc::input(e)),
        };
        if let Some(o) = doc.as_object_mut() {
            o.insert("id".into(), id);
        }
        doc
    }

    pub fn handle(&mut self, r: &Request) -> Value {
        let name = Some(self.sc.name.as_str());
        match r {
            Request::Trace {
                from,
                to,
                proto,
                src,
                ttl,
                reply,
            } => {
                let a = super::TraceArgs {
                    from: from.clone(),
                    to: to.clone(),
                    proto: proto.clone(),
                    src: *src,
                    after_step: None,
                    reply: *reply,
                    ttl: *ttl,
                };
                match self.probe(&a) {
                    Ok(p) => super::render::trace_doc(Some(&self.sc.name), self.after(), &a, &p),
                    Err(e) => json::error("trace", ErrorDoc::input(e)),
                }
            }
            Request::Session { from, to, service } => {
                let req = super::ids::endpoint(&self.cloud, from, super::ids::Accept::Instance)
                    .and_then(|f| crate::hosts::session::Client::parse(&f))
                    .and_then(|client| {
                        let (server, port) = crate::hosts::session::parse_addr_port(to)?;
                        Ok(crate::hosts::session::SessionRequest {
                            client,
                            server,
                            port,
                            service: crate::hosts::session::Service::parse(service)?,
                        })
                    });
                match req {
                    Ok(req) => {
                        let res = crate::hosts::session::run(&self.cloud, &req);
                        super::session::json(&self.sc, self.applied, from, to, &res)
                    }
                    Err(e) => json::error("session", ErrorDoc::input(e)),
                }
            }
            // The shape of `vpcsim egress --after N --json`: one table, about this point.
            Request::Egress { ingress_port } => json::envelope(
                "egress",
                name,
                Some(self.after()),
                json!({ "tables": [{
                    "after": self.after(),
                    "rows": crate::probe::egress_table_on(&self.cloud, &self.tables, *ingress_port),
                }], "notes": crate::reach::source_port_note(&self.tables)
                    .into_iter()
                    .collect::<Vec<_>>() }),
            ),
            Request::Apply { step } => {
                let op = match Operation::deserialize(step) {
                    Ok(op) => op,
                    Err(e) => {
                        return json::error(
                            "apply",
                            ErrorDoc::input(format!(
                                "step: {e}; a step is {{\"op\": \"CreateSnatEntry\", …}} with the OpenAPI parameter names (docs/OPERATIONS.md)"
                            )),
                        )
                    }
                };
                let body = self.apply(&op);
                json::envelope("apply", Some(&self.sc.name), Some(self.after()), body)
            }
            Request::Reset => {
                *self = Server::new(self.sc.clone(), self.start);
                json::envelope("reset", Some(&self.sc.name), Some(self.after()), json!({}))
            }
            Request::Info => json::envelope(
                "info",
                name,
                Some(self.after()),
                json!({
                    "file": self.sc.file,
                    "steps_in_file": self.sc.steps.len(),
                    "instances": self.cloud.instances.keys().collect::<Vec<_>>(),
                    "enis": self.cloud.enis.keys().collect::<Vec<_>>(),
                    "ops": ["trace", "session", "egress", "apply", "reset", "info"],
                }),
            ),
        }
    }
}

fn bench_args(from: &str, to: &str) -> super::TraceArgs {
    super::TraceArgs {
        from: from.into(),
        to: to.into(),
        proto: "tcp".into(),
        src: None,
        after_step: None,
        reply: false,
        ttl: 64,
    }
}

pub fn run(a: ServeArgs) -> Result<ExitCode, ExitCode> {
    let out = super::Out {
        command: "serve",
        json: true,
    };
    let sc = out.load(a.file.as_deref())?;
    let n = out.after_step(&sc, a.after.as_deref())?;
    let mut server = Server::new(sc, n);
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let stdout = std::io::stdout();
    let mut w = std::io::BufWriter::new(stdout.lock());
    let mut buf = Vec::new();
    let mut answer = Vec::new();
    loop {
        buf.clear();
        // Read at most MAX_LINE + 1 bytes of the line; the rest of a longer one is
        // skipped, not held.
        let got = std::io::Read::take(&mut input, MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut buf)
            .map_err(|e| {
                out.fail(ErrorDoc {
                    kind: "io".into(),
                    message: format!("reading stdin: {e}"),
                    ..ErrorDoc::default()
                })
            })?;
        if got == 0 {
            break;
        }
        answer.clear();
        let made = if buf.len() > MAX_LINE && buf.last() != Some(&b'\n') {
            skip_rest_of_line(&mut input);
            serde_json::to_writer(
                &mut answer,
                &json::error(
                    "serve",
                    ErrorDoc::input(format!("request line longer than {MAX_LINE} bytes")),
                ),
            )
        } else {
            let line = buf.strip_suffix(b"\n").unwrap_or(&buf);
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            server.answer_line(line, &mut answer)
        };
        let wrote = made
            .map_err(std::io::Error::other)
            .and_then(|_| w.write_all(&answer))
            .and_then(|_| w.write_all(b"\n"))
            .and_then(|_| w.flush());
        if wrote.is_err() {
            // The reader went away: nothing more to answer.
            break;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn skip_rest_of_line(input: &mut impl BufRead) {
    loop {
        let (done, used) = match input.fill_buf() {
            Ok([]) | Err(_) => return,
            Ok(b) => match b.iter().position(|&c| c == b'\n') {
                Some(i) => (true, i + 1),
                None => (false, b.len()),
            },
        };
        input.consume(used);
        if done {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server() -> Server {
        let sc = Scenario::load(None).unwrap();
        let n = sc.steps.len();
        Server::new(sc, n)
    }

    #[test]
    fn a_trace_request_is_answered_with_the_trace_envelope_and_its_id() {
        let mut s = server();
        let a = s.handle_line(br#"{"id":7,"op":"trace","from":"i-web","to":"203.0.113.80:443"}"#);
        assert_eq!(a["id"], 7);
        assert_eq!(a["command"], "trace");
        assert_eq!(a["probe"]["disposition"], "internet");
        assert_eq!(a["probe"]["source_seen"], "47.96.100.1");
    }

    #[test]
    fn the_typed_trace_answer_is_the_handle_line_document() {
        let mut s = server();
        for line in [
            &br#"{"id":7,"op":"trace","from":"i-web","to":"203.0.113.80:443","reply":true}"#[..],
            br#"{"op":"trace","from":"internet:198.51.100.7","to":"47.96.10.20:22","reply":true}"#,
            br#"{"id":"x","op":"trace","from":"i-web","to":"8.8.8.8","proto":"icmp"}"#,
            br#"{"id":1,"op":"trace","from":"i-nope","to":"1.2.3.4:80"}"#,
            br#"{"id":2,"op":"info"}"#,
        ] {
            let mut out = vec![];
            s.answer_line(line, &mut out).unwrap();
            let typed: Value = serde_json::from_slice(&out).unwrap();
            assert_eq!(
                typed,
                s.handle_line(line),
                "{}",
                String::from_utf8_lossy(line)
            );
        }
    }

    /// The reused, reset data plane answers as a new one per question (`vpcsim trace`):
    /// the same questions in a row, with replies, across an apply and a reset.
    #[test]
    fn a_reused_data_plane_answers_as_a_new_one_per_question() {
        let sc = Scenario::load(None).unwrap();
        let mut s = Server::new(sc, 0);
        let questions = [
            ("i-web", "203.0.113.80:443", "tcp", true),
            ("i-web", "203.0.113.80:443", "tcp", true),
            ("internet:198.51.100.7", "47.96.10.20:22", "tcp", true),
            ("i-web", "8.8.8.8", "icmp", true),
            ("i-web", "203.0.113.80:53", "udp", false),
            ("i-web", "203.0.113.80:443", "tcp", false),
        ];
        let ask = |s: &mut Server| {
            for (from, to, proto, reply) in questions {
                let a = crate::cli::TraceArgs {
                    from: from.into(),
                    to: to.into(),
                    proto: proto.into(),
                    src: None,
                    after_step: None,
                    reply,
                    ttl: 64,
                };
                let want = super::super::probe_on(&s.cloud, &s.tables, &a).unwrap();
                let want = super::super::render::trace_doc(None, s.after(), &a, &want);
                let got = s.probe(&a).unwrap();
                let got = super::super::render::trace_doc(None, s.after(), &a, &got);
                assert_eq!(got, want, "{from} → {to} {proto}");
            }
        };
        ask(&mut s);
        for step in s.sc.steps.clone() {
            s.apply(&step.op);
            ask(&mut s);
        }
        s.handle_line(br#"{"op":"reset"}"#);
        ask(&mut s);
    }

    #[test]
    fn names_are_resolved_again_after_an_apply() {
        let mut s = server();
        let a = s.handle_line(br#"{"op":"trace","from":"i-web","to":"203.0.113.80:443"}"#);
        assert_eq!(a["probe"]["disposition"], "internet");
        assert!(s.senders.contains_key("i-web"));
        let a =
            s.handle_line(br#"{"op":"apply","step":{"op":"StopInstance","InstanceId":"i-web"}}"#);
        assert_eq!(a["ok"], true, "{a}");
        assert!(s.senders.is_empty());
        let a = s.handle_line(br#"{"op":"trace","from":"i-web","to":"203.0.113.80:443"}"#);
        assert_eq!(a["probe"]["reason"], "instance_not_running", "{a}");
    }

    #[test]
    fn the_resolved_senders_stay_bounded_however_many_a_client_names() {
        let mut s = server();
        for i in 0..(SENDERS_KEPT as u32 + 100) {
            let from = format!("internet:{}", std::net::Ipv4Addr::from(0xc633_0000 + i));
            s.sender(&from).unwrap();
            assert!(s.senders.len() <= SENDERS_KEPT);
        }
        assert!(s.sender("i-nope").is_err());
        assert!(!s.senders.contains_key("i-nope"));
    }

    #[test]
    fn bad_lines_get_an_error_line_and_the_server_goes_on() {
        let mut s = server();
        for bad in [
            &b"not json"[..],
            b"[1,2]",
            b"{\"op\":\"nope\"}",
            b"{\"op\":\"trace\",\"from\":\"i-web\"}",
            b"{\"op\":\"trace\",\"from\":\"i-nope\",\"to\":\"1.2.3.4:80\"}",
            b"\xff\xfe",
            b"{\"op\":\"apply\",\"step\":{\"op\":\"Bogus\"}}",
        ] {
            let a = s.handle_line(bad);
            assert!(a["error"]["message"].is_string(), "{a}");
        }
        let a = s.handle_line(br#"{"op":"trace","from":"i-web","to":"203.0.113.80:443"}"#);
        assert_eq!(a["probe"]["disposition"], "internet");
    }

    #[test]
    fn apply_changes_what_later_questions_see_and_reset_undoes_it() {
        let sc = Scenario::load(None).unwrap();
        let mut s = Server::new(sc, 0);
        let before = s.handle_line(br#"{"op":"trace","from":"i-web","to":"203.0.113.80:443"}"#);
        assert_eq!(before["probe"]["source_seen"], "47.96.10.20");
        let a = s.handle_line(
            br#"{"op":"apply","step":{"op":"ConvertNatPublicIpToEip","InstanceId":"i-web"}}"#,
        );
        assert_eq!(a["ok"], true, "{a}");
        assert_eq!(a["after"]["step"], 1);
        let r = s.handle_line(br#"{"op":"reset"}"#);
        assert_eq!(r["after"]["step"], 0);
    }
}
