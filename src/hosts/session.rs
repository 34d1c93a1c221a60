//! Conversations: a client on one host talks to a service on another, through the
//! simulated VPC, and the session reports what each side saw.
//!
//! Services (SEMANTICS.md §3, "The connectivity test of the procedure"):
//! - `ssh`: every instance's guest runs an sshd-like listener on the server port that
//!   greets with [`SSH_BANNER`]; the client reads the banner line and closes.
//! - `http`: a "what is my IP" HTTP/1.1 server (standing for myip.ipip.net) on the
//!   Internet host at the server address answers each request with the source address
//!   and port it saw. TLS is not modelled: `curl https://myip.ipip.net` becomes plain
//!   HTTP to the server address; the addresses and ports are what matters.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};
use smoltcp::iface::SocketHandle;
use smoltcp::socket::tcp::{self, State};
use smoltcp::wire::{IpAddress, IpEndpoint};

use super::{DroppedPacket, Network};
use crate::check::{CheckReport, StepRef};
use crate::model::Cloud;
use crate::pipeline::guest;
use crate::time::SimTime;

pub const SSH_BANNER: &str = "Welcome to Alibaba Cloud Elastic Compute Service!\r\n";
/// Where sshd listens: every instance, and every Internet server host.
pub const SSH_PORT: u16 = 22;
/// Where the "what is my IP" server listens on an Internet server host.
pub const HTTP_PORT: u16 = 80;
/// The client's ephemeral port (fixed, for reproducible runs).
pub const CLIENT_PORT: u16 = 40001;
/// How long a client waits for the handshake (virtual time), like a connect timeout.
pub const CONNECT_TIMEOUT_SECS: u64 = 20;
/// How long the whole conversation may take.
pub const SESSION_TIMEOUT_SECS: u64 = 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Service {
    Ssh,
    Http,
}

impl Service {
    pub fn parse(s: &str) -> Result<Service, String> {
        match s {
            "ssh" => Ok(Service::Ssh),
            "http" => Ok(Service::Http),
            o => Err(format!("service `{o}`: use ssh or http")),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Service::Ssh => "ssh",
            Service::Http => "http",
        }
    }
}

/// Who starts the conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Client {
    Instance(String),
    Internet(Ipv4Addr),
}

impl Client {
    /// An instance id or `internet:IP`.
    pub fn parse(s: &str) -> Result<Client, String> {
        if let Some(ip) = s.strip_prefix("internet:") {
            return ip
                .parse()
                .map(Client::Internet)
                .map_err(|_| format!("`{s}`: `internet:` must be followed by an IPv4 address"));
        }
        if s.is_empty() {
            return Err("the client endpoint is empty: give an instance id or internet:IP".into());
        }
        Ok(Client::Instance(s.to_string()))
    }
}

pub fn parse_addr_port(s: &str) -> Result<(Ipv4Addr, u16), String> {
    let (ip, port) = s
        .rsplit_once(':')
        .ok_or_else(|| format!("`{s}`: expected ADDR:PORT, e.g. 47.96.10.20:22"))?;
    let ip = ip
        .parse()
        .map_err(|_| format!("`{s}`: `{ip}` is not an IPv4 address"))?;
    let port = port
        .parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| format!("`{s}`: the port must be 1-65535"))?;
    Ok((ip, port))
}

#[derive(Debug, Clone)]
pub struct SessionRequest {
    pub client: Client,
    pub server: Ipv4Addr,
    pub port: u16,
    pub service: Service,
}

/// What the conversation came to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// ssh: the banner line was read.
    Banner,
    /// http: a response body was read.
    Body,
    /// The server answered the SYN with a reset.
    Refused,
    /// No answer in time (the stage says where it stopped).
    TimedOut,
    /// Reset after the handshake.
    Reset,
    /// The conversation could not be started.
    Error,
}

impl Verdict {
    pub fn name(&self) -> &'static str {
        match self {
            Verdict::Banner => "banner",
            Verdict::Body => "body",
            Verdict::Refused => "refused",
            Verdict::TimedOut => "timed_out",
            Verdict::Reset => "reset",
            Verdict::Error => "error",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SessionResult {
    /// Every packet's pass through the data plane, for `--capture`.
    #[serde(skip)]
    pub passes: Vec<crate::capture::Pass>,
    pub client: String,
    pub server: String,
    pub service: Service,
    pub verdict: Verdict,
    /// Free text: the stage a timeout happened in, or the error.
    pub detail: String,
    pub banner: Option<String>,
    pub body: Option<String>,
    /// The address the http body reports (what the server saw).
    pub body_address: Option<Ipv4Addr>,
    /// The client's socket: its own address and the one it talks to.
    pub client_local: Option<String>,
    pub client_remote: Option<String>,
    /// The host that accepted the connection, its address and the peer it saw.
    pub server_host: Option<String>,
    pub server_local: Option<String>,
    pub server_saw: Option<String>,
    /// The ENI the server received the SYN by (guests).
    pub server_eni: Option<String>,
    pub bytes_to_server: usize,
    pub bytes_to_client: usize,
    pub packets: usize,
    pub duration_ms: u64,
    pub transcript: Vec<String>,
    pub first_drop: Option<DroppedPacket>,
}

impl SessionResult {
    fn error(req: &SessionRequest, msg: String) -> SessionResult {
        SessionResult {
            passes: Vec::new(),
            client: client_name(&req.client),
            server: format!("{}:{}", req.server, req.port),
            service: req.service,
            verdict: Verdict::Error,
            detail: msg,
            banner: None,
            body: None,
            body_address: None,
            client_local: None,
            client_remote: None,
            server_host: None,
            server_local: None,
            server_saw: None,
            server_eni: None,
            bytes_to_server: 0,
            bytes_to_client: 0,
            packets: 0,
            duration_ms: 0,
            transcript: vec![],
            first_drop: None,
        }
    }

    /// One line: the outcome and the addresses each side saw.
    pub fn observed(&self) -> String {
        let mut s = match self.verdict {
            Verdict::Banner => format!(
                "banner `{}`",
                self.banner.as_deref().unwrap_or_default().trim_end()
            ),
            Verdict::Body => format!(
                "body `{}`",
                self.body.as_deref().unwrap_or_default().trim_end()
            ),
            _ if self.detail.is_empty() => self.verdict.name().to_string(),
            _ => format!("{} ({})", self.verdict.name(), self.detail),
        };
        if let (Some(l), Some(r)) = (&self.client_local, &self.client_remote) {
            s += &format!("; client {l} → {r}");
        }
        if let (Some(h), Some(l), Some(p)) =
            (&self.server_host, &self.server_local, &self.server_saw)
        {
            s += &format!("; server {h} at {l} saw {p}");
        }
        if let Some(e) = &self.server_eni {
            s += &format!(" via {e}");
        }
        if let Some(d) = &self.first_drop {
            s += &format!("; first drop: {}", d.reason);
        }
        s
    }

    /// The transcript, then the trace of the first dropped packet.
    pub fn lines(&self) -> Vec<String> {
        let mut v = self.transcript.clone();
        if let Some(d) = &self.first_drop {
            v.push(format!(
                "--- first dropped packet ({}), sent by {}: {} ---",
                d.reason, d.sender, d.packet
            ));
            v.extend(d.trace.iter().cloned());
        }
        v
    }
}

fn client_name(c: &Client) -> String {
    match c {
        Client::Instance(i) => i.clone(),
        Client::Internet(a) => format!("internet:{a}"),
    }
}

fn ep(e: Option<IpEndpoint>) -> Option<String> {
    e.map(|e| e.to_string())
}

fn tcp_socket() -> tcp::Socket<'static> {
    let mut s = tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0; 8192]),
        tcp::SocketBuffer::new(vec![0; 8192]),
    );
    s.set_nagle_enabled(false);
    s
}

struct Server {
    host: usize,
    kind: Service,
    handle: SocketHandle,
    request: Vec<u8>,
    answered: bool,
    saw: Option<IpEndpoint>,
    local: Option<IpEndpoint>,
    received: usize,
    sent: usize,
}

/// Runs one conversation in `cloud`'s current state, on a fresh data plane.
pub fn run(cloud: &Cloud, req: &SessionRequest) -> SessionResult {
    let dp = crate::probe::dataplane(cloud);
    let mut net = Network::new(dp);
    let t = std::sync::Arc::clone(&net.tables);
    // The client.
    let (client, src) = match &req.client {
        Client::Instance(id) => {
            let Some(&i) = t.instance_index.get(id) else {
                return SessionResult::error(req, format!("no instance `{id}`"));
            };
            let Some(src) = guest::default_source(&t, &t.instances[i as usize]) else {
                return SessionResult::error(
                    req,
                    format!("instance {id} has no network interface"),
                );
            };
            (net.add_guest(i), src)
        }
        Client::Internet(a) => (net.add_internet(*a), *a),
    };
    // Every instance's guest is up and runs sshd on port 22; the server address, when
    // nobody in the scenario owns it, is a host on the Internet running sshd on 22 and
    // the "what is my IP" server on 80. Any other port is closed: the stack answers a
    // SYN with a reset.
    let mut servers: Vec<Server> = vec![];
    let owned = t.public.contains_key(&u32::from(req.server))
        || t.vpcs.iter().any(|(_, c)| c.contains(&req.server));
    let mut listeners: Vec<(usize, Service, u16)> = vec![];
    for i in 0..t.instances.len() as u16 {
        listeners.push((net.add_guest(i), Service::Ssh, SSH_PORT));
    }
    if !owned {
        let h = net.add_internet(req.server);
        listeners.push((h, Service::Ssh, SSH_PORT));
        listeners.push((h, Service::Http, HTTP_PORT));
    }
    for (h, kind, port) in listeners {
        if h == client {
            continue;
        }
        let mut s = tcp_socket();
        if s.listen(port).is_err() {
            continue;
        }
        let handle = net.hosts[h].sockets.add(s);
        servers.push(Server {
            host: h,
            kind,
            handle,
            request: vec![],
            answered: false,
            saw: None,
            local: None,
            received: 0,
            sent: 0,
        });
    }
    let mut sock = tcp_socket();
    {
        let h = &mut net.hosts[client];
        let remote = IpEndpoint::new(IpAddress::Ipv4(req.server), req.port);
        let local = IpEndpoint::new(IpAddress::Ipv4(src), CLIENT_PORT);
        if let Err(e) = sock.connect(h.iface.context(), remote, local) {
            return SessionResult::error(req, format!("connect: {e}"));
        }
    }
    let chandle = net.hosts[client].sockets.add(sock);
    let cname = net.hosts[client].name.clone();
    let mut notes: Vec<(usize, String)> = vec![];
    let note = |net: &Network, notes: &mut Vec<(usize, String)>, s: String| {
        notes.push((net.log.len(), format!("{} {s}", net.stamp())));
    };
    note(
        &net,
        &mut notes,
        format!(
            "{cname}: {} connects from {src}:{CLIENT_PORT} to {}:{}",
            match req.service {
                Service::Ssh => "ssh",
                Service::Http => "curl",
            },
            req.server,
            req.port
        ),
    );
    let connect_deadline = SimTime::from_secs(CONNECT_TIMEOUT_SECS);
    let deadline = SimTime::from_secs(SESSION_TIMEOUT_SECS);
    let mut established = false;
    let mut got: Vec<u8> = vec![];
    let mut request_sent = false;
    let mut closing = false;
    let mut verdict: Option<(Verdict, String)> = None;
    // What the client's socket is bound to and aims at (filled again on connect).
    let mut client_local = Some(IpEndpoint::new(IpAddress::Ipv4(src), CLIENT_PORT));
    let mut client_remote = Some(IpEndpoint::new(IpAddress::Ipv4(req.server), req.port));
    let mut to_server = 0usize;
    loop {
        net.settle();
        let mut acted = false;
        // Servers.
        for s in &mut servers {
            let host = &mut net.hosts[s.host];
            let name = host.name.clone();
            let sk = host.sockets.get_mut::<tcp::Socket>(s.handle);
            if s.saw.is_none() && sk.state() == State::Established {
                s.saw = sk.remote_endpoint();
                s.local = sk.local_endpoint();
                let l = format!(
                    "{name}: accepts a connection on {} from {}",
                    ep(s.local).unwrap_or_default(),
                    ep(s.saw).unwrap_or_default()
                );
                notes.push((
                    net.log.len(),
                    format!("{:>9.3}s {l}", net.now.as_secs_f64()),
                ));
                if s.kind == Service::Ssh {
                    let n = sk.send_slice(SSH_BANNER.as_bytes()).unwrap_or(0);
                    s.sent += n;
                    s.answered = true;
                    notes.push((
                        net.log.len(),
                        format!(
                            "{:>9.3}s {name}: sends the banner ({n} bytes)",
                            net.now.as_secs_f64()
                        ),
                    ));
                }
                acted = true;
            }
            let mut buf = [0u8; 2048];
            while sk.can_recv() {
                match sk.recv_slice(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        s.received += n;
                        s.request.extend_from_slice(&buf[..n]);
                    }
                }
            }
            if s.kind == Service::Http
                && !s.answered
                && s.request.windows(4).any(|w| w == b"\r\n\r\n")
            {
                let peer = s.saw.map_or(String::new(), |e| e.addr.to_string());
                let port = s.saw.map_or(0, |e| e.port);
                let body = format!("Current IP: {peer}  port: {port}\n");
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let n = sk.send_slice(resp.as_bytes()).unwrap_or(0);
                s.sent += n;
                s.answered = true;
                sk.close();
                notes.push((
                    net.log.len(),
                    format!(
                        "{:>9.3}s {name}: got a {}-byte request, answers `{}` ({n} bytes) and closes",
                        net.now.as_secs_f64(),
                        s.request.len(),
                        body.trim_end()
                    ),
                ));
                acted = true;
            }
            if sk.state() == State::CloseWait {
                sk.close();
                notes.push((
                    net.log.len(),
                    format!(
                        "{:>9.3}s {name}: the client closed; closes too",
                        net.now.as_secs_f64()
                    ),
                ));
                acted = true;
            }
        }
        // The client.
        {
            let sk = net.hosts[client].sockets.get_mut::<tcp::Socket>(chandle);
            let state = sk.state();
            if !established && state == State::Established {
                established = true;
                client_local = sk.local_endpoint();
                client_remote = sk.remote_endpoint();
                notes.push((
                    net.log.len(),
                    format!(
                        "{:>9.3}s {cname}: connected ({} → {})",
                        net.now.as_secs_f64(),
                        ep(client_local).unwrap_or_default(),
                        ep(client_remote).unwrap_or_default()
                    ),
                ));
                acted = true;
            }
            if established && req.service == Service::Http && !request_sent {
                let r = format!(
                    "GET / HTTP/1.1\r\nHost: {}\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n",
                    req.server
                );
                to_server += sk.send_slice(r.as_bytes()).unwrap_or(0);
                request_sent = true;
                notes.push((
                    net.log.len(),
                    format!(
                        "{:>9.3}s {cname}: sends GET / ({} bytes)",
                        net.now.as_secs_f64(),
                        r.len()
                    ),
                ));
                acted = true;
            }
            let mut buf = [0u8; 2048];
            while sk.can_recv() {
                match sk.recv_slice(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
            if verdict.is_none() && !closing {
                let done = match req.service {
                    Service::Ssh => got.windows(2).any(|w| w == b"\r\n"),
                    Service::Http => established && !sk.may_recv() && !got.is_empty(),
                };
                if done {
                    sk.close();
                    closing = true;
                    notes.push((
                        net.log.len(),
                        format!(
                            "{:>9.3}s {cname}: read {} bytes; closes",
                            net.now.as_secs_f64(),
                            got.len()
                        ),
                    ));
                    acted = true;
                }
            }
            let finished = matches!(state, State::Closed | State::TimeWait);
            if closing && finished {
                verdict = Some((
                    if req.service == Service::Ssh {
                        Verdict::Banner
                    } else {
                        Verdict::Body
                    },
                    String::new(),
                ));
            } else if !closing && state == State::Closed {
                verdict = Some(if established {
                    (Verdict::Reset, "reset after the handshake".into())
                } else {
                    (Verdict::Refused, "the SYN was answered with a reset".into())
                });
            } else if !established && net.now >= connect_deadline {
                // Like a connect timeout: the client gives up silently (no RST).
                verdict = Some((
                    Verdict::TimedOut,
                    format!("no answer to the SYN within {CONNECT_TIMEOUT_SECS} s"),
                ));
            } else if net.now >= deadline {
                verdict = Some((
                    Verdict::TimedOut,
                    format!("connected, but the conversation did not finish within {SESSION_TIMEOUT_SECS} s"),
                ));
            }
        }
        if let Some((v, _)) = &verdict {
            if !matches!(v, Verdict::TimedOut) {
                // Flush the last ACK of the teardown.
                net.settle();
            }
            break;
        }
        if !acted {
            let limit = if established {
                deadline
            } else {
                connect_deadline
            };
            net.advance(limit);
        }
    }
    let (verdict, detail) = verdict.unwrap_or((Verdict::Error, String::new()));
    if matches!(verdict, Verdict::TimedOut | Verdict::Refused) {
        notes.push((
            net.log.len(),
            format!(
                "{:>9.3}s {cname}: gives up: {detail}",
                net.now.as_secs_f64()
            ),
        ));
    }
    // Interleave the application events with the packet log.
    let mut transcript = vec![];
    let mut ni = 0;
    for (i, l) in net.log.iter().enumerate() {
        while ni < notes.len() && notes[ni].0 <= i {
            transcript.push(notes[ni].1.clone());
            ni += 1;
        }
        transcript.push(l.clone());
    }
    transcript.extend(notes[ni..].iter().map(|(_, s)| s.clone()));
    let server = servers.iter().find(|s| s.saw.is_some());
    let server_eni = server.and_then(|s| {
        net.arrivals
            .iter()
            .find(|a| {
                a.host == s.host
                    && matches!(a.info.l4, crate::wire::L4::Tcp { flags, dport, .. }
                        if flags.0 & 0x02 != 0 && dport == req.port)
            })
            .and_then(|a| a.eni)
            .map(|e| t.eni(e).id.clone())
    });
    let text = String::from_utf8_lossy(&got).to_string();
    let (banner, body) = match (req.service, &verdict) {
        (Service::Ssh, _) if !got.is_empty() => (Some(text.clone()), None),
        (Service::Http, _) if !got.is_empty() => (
            None,
            Some(
                text.split_once("\r\n\r\n")
                    .map_or(text.clone(), |(_, b)| b.to_string()),
            ),
        ),
        _ => (None, None),
    };
    let body_address = body.as_deref().and_then(|b| {
        b.split_whitespace()
            .find_map(|w| w.trim_end_matches(',').parse::<Ipv4Addr>().ok())
    });
    SessionResult {
        client: cname,
        server: format!("{}:{}", req.server, req.port),
        service: req.service,
        verdict,
        detail,
        banner,
        body,
        body_address,
        client_local: ep(client_local),
        client_remote: ep(client_remote),
        server_host: server.map(|s| net.hosts[s.host].name.clone()),
        server_local: server.and_then(|s| ep(s.local)),
        server_saw: server.and_then(|s| ep(s.saw)),
        server_eni,
        bytes_to_server: to_server,
        bytes_to_client: server.map_or(0, |s| s.sent),
        packets: net.packets,
        duration_ms: net.now.as_nanos() / 1_000_000,
        transcript,
        first_drop: net.first_drop.clone(),
        passes: std::mem::take(&mut net.passes),
    }
}

/// A `[[sessions]]` entry of a scenario file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionSpec {
    pub name: String,
    /// Instance id or `internet:IP`.
    pub from: String,
    /// ADDR:PORT.
    pub to: String,
    pub service: String,
    /// A step number or a step id (`crate::check::StepRef`); default: after all.
    #[serde(alias = "after")]
    pub after_step: Option<StepRef>,
    /// banner, body, refused or timed_out.
    pub expect: Option<String>,
    /// http: the address the body must report (what the server saw).
    pub body_equals: Option<Ipv4Addr>,
    /// The reason of the first packet the VPC dropped.
    pub expect_reason: Option<String>,
    /// The ENI the server received the connection by.
    pub expect_eni: Option<String>,
}

impl SessionSpec {
    /// Reads and validates a `[[sessions]]` table; the error says what to fix.
    pub fn from_table(t: &toml::Table, cloud: &Cloud, steps: usize) -> Result<SessionSpec, String> {
        let name = t
            .get("name")
            .and_then(|v| v.as_str())
            .unwrap_or("(unnamed)")
            .to_string();
        let bad = |m: String| format!("session `{name}`: {m}");
        let s = SessionSpec::deserialize(toml::Value::Table(t.clone()))
            .map_err(|e| bad(e.message().trim_end().to_string()))?;
        let service = Service::parse(&s.service).map_err(bad)?;
        parse_addr_port(&s.to).map_err(bad)?;
        match Client::parse(&s.from).map_err(bad)? {
            Client::Instance(id) if !cloud.instances.contains_key(&id) => {
                return Err(bad(format!(
                    "`from = \"{id}\"`: no such instance; use an instance id or internet:IP"
                )))
            }
            _ => {}
        }
        match (s.expect.as_deref(), s.body_equals, service) {
            (None, None, _) => {
                return Err(bad(
                    "give `expect` (banner, body, refused, timed_out) or `body_equals`".into(),
                ))
            }
            (Some(e), _, _) if !matches!(e, "banner" | "body" | "refused" | "timed_out") => {
                return Err(bad(format!(
                    "`expect = \"{e}\"`: use banner, body, refused or timed_out"
                )))
            }
            (Some("banner"), _, Service::Http) => {
                return Err(bad("`expect = \"banner\"` is for service ssh".into()))
            }
            (Some("body"), _, Service::Ssh) => {
                return Err(bad("`expect = \"body\"` is for service http".into()))
            }
            (_, Some(_), Service::Ssh) => {
                return Err(bad("`body_equals` is for service http".into()))
            }
            (Some(e), Some(_), _) if e != "body" => {
                return Err(bad(format!(
                    "`body_equals` needs a body, but `expect = \"{e}\"`"
                )))
            }
            _ => {}
        }
        if let Some(StepRef::Index(n)) = s.after_step {
            if n > steps {
                return Err(bad(format!(
                    "after_step = {n} but the scenario has {steps} steps"
                )));
            }
        }
        Ok(s)
    }

    pub fn request(&self) -> Result<SessionRequest, String> {
        let (server, port) = parse_addr_port(&self.to)?;
        Ok(SessionRequest {
            client: Client::parse(&self.from)?,
            server,
            port,
            service: Service::parse(&self.service)?,
        })
    }

    /// What the spec expects, as a verdict name.
    pub fn expected_verdict(&self) -> &str {
        self.expect.as_deref().unwrap_or("body")
    }
}

/// Runs a scenario session against `cloud` and reports it like a check.
pub fn evaluate(cloud: &Cloud, s: &SessionSpec, after: usize, line: usize) -> CheckReport {
    let mut report = CheckReport::new(&s.name, after, line);
    let req = match s.request() {
        Ok(r) => r,
        Err(e) => {
            report.observed = e;
            return report;
        }
    };
    let mut r = run(cloud, &req);
    report.passes = std::mem::take(&mut r.passes);
    let want = s.expected_verdict();
    let mut expected = vec![format!(
        "{} {} → {}: {want}",
        req.service.name(),
        r.client,
        r.server
    )];
    let mut pass = r.verdict.name() == want;
    if let Some(a) = s.body_equals {
        expected.push(format!("body shows {a}"));
        pass &= r.body_address == Some(a);
    }
    if let Some(e) = &s.expect_eni {
        expected.push(format!("server receives it via {e}"));
        pass &= r.server_eni.as_deref() == Some(e.as_str());
    }
    if let Some(reason) = &s.expect_reason {
        expected.push(format!("first drop: {reason}"));
        pass &= r.first_drop.as_ref().map(|d| d.reason) == Some(reason.as_str());
    }
    report.pass = pass;
    report.expected = expected.join(", ");
    report.observed = r.observed();
    report.trace = r.lines();
    report
}
