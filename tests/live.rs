//! Live mode, for real (issue 17): real `sshd`, `ssh` and `curl` in network namespaces
//! around the simulated VPC, on the built-in scenario (the same-EIP-for-egress procedure).
//!
//! Needs root, /dev/net/tun, `ip`, `sshd`, `ssh`, `curl`, `ssh-keygen`. With env `CI` set
//! a missing one fails the test, naming it; otherwise the tests skip (printing why).

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use vpcsim::live::{self, Live, LiveOptions};
use vpcsim::scenario::Scenario;

mod support;

const BANNER: &str = "Welcome to Alibaba Cloud Elastic Compute Service!";
const EIP_WEB: &str = "47.96.10.20";
const SNAT_EIP: &str = "47.96.100.1";

/// The tests of this file run one at a time: a run's start removes what dead runs left,
/// which would race with the SIGKILL test's own check, and timings stay predictable.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// Whether the machine can run live mode; in CI a missing piece fails the test.
fn ready() -> bool {
    let mut missing = vec![];
    if let Err(e) = live::preflight() {
        missing.push(e.to_string());
    }
    for tool in ["sshd", "ssh", "curl", "ssh-keygen"] {
        let found = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
            .iter()
            .any(|d| Path::new(d).join(tool).exists());
        if !found {
            missing.push(format!(
                "`{tool}` is not installed (apt-get install openssh-server openssh-client curl)"
            ));
        }
    }
    if missing.is_empty() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("live tests cannot run in CI: {}", missing.join("; "));
    }
    eprintln!("skipping live test: {}", missing.join("; "));
    false
}

fn tool(name: &str) -> String {
    ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.exists())
        .map_or(name.to_string(), |p| p.display().to_string())
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("vpcsim-live-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("temp dir");
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A real sshd in namespace `ns`: its own host key and config, the ECS banner, listening
/// on every address of the guest.
fn start_sshd(ns: &str, dir: &Path) -> Child {
    let key = dir.join("host_key");
    let st = Command::new(tool("ssh-keygen"))
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .expect("ssh-keygen");
    assert!(st.success(), "ssh-keygen failed");
    let banner = dir.join("banner");
    std::fs::write(&banner, format!("{BANNER}\n")).expect("banner");
    let cfg = dir.join("sshd_config");
    std::fs::write(
        &cfg,
        format!(
            "Port 22\nListenAddress 0.0.0.0\nHostKey {}\nBanner {}\nPidFile none\nUsePAM no\nStrictModes no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n",
            key.display(),
            banner.display()
        ),
    )
    .expect("sshd_config");
    // sshd insists on its privilege-separation directory.
    let _ = std::fs::create_dir_all("/run/sshd");
    Command::new("ip")
        .args(["netns", "exec", ns, &tool("sshd"), "-D", "-e", "-f"])
        .arg(&cfg)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sshd")
}

/// A "what is my IP" server at `addr`:80 in namespace `ns`, on a thread moved into it:
/// the body is the client address it saw.
fn start_myip(ns: &str, addr: Ipv4Addr, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    let ns = ns.to_string();
    let (tx, rx) = std::sync::mpsc::channel();
    let h = std::thread::spawn(move || {
        live::sys::enter_netns(&ns).expect("enter the Internet namespace");
        let l = TcpListener::bind((addr, 80)).expect("bind the myip server");
        l.set_nonblocking(true).expect("nonblocking");
        tx.send(()).expect("ready");
        let until = Instant::now() + Duration::from_secs(120);
        while !stop.load(Ordering::Relaxed) && Instant::now() < until {
            match l.accept() {
                Ok((mut s, peer)) => {
                    let _ = s.set_nonblocking(false);
                    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                    let mut req = [0u8; 2048];
                    let _ = s.read(&mut req);
                    let body = peer.ip().to_string();
                    let _ = write!(
                        s,
                        "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                }
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(5))
        .expect("myip server started");
    h
}

fn run_in(live: &Live, who: &str, cmd: &str) -> (i32, String, String) {
    let out = live
        .command(who, cmd)
        .expect("namespace")
        .stdin(Stdio::null())
        .output()
        .expect("run");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn curl_myip(live: &Live) -> String {
    let (code, out, err) = run_in(live, "i-web", "curl -s -m 5 http://203.0.113.80/");
    assert_eq!(code, 0, "curl from i-web failed: {err}");
    out.trim().to_string()
}

/// ssh from the Internet to i-web's public address; returns (stderr, elapsed).
fn ssh_banner(live: &Live) -> (String, Duration) {
    let t = Instant::now();
    let (_, _, err) = run_in(
        live,
        "internet",
        &format!(
            "ssh -o BatchMode=yes -o ConnectTimeout=5 -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null root@{EIP_WEB} true"
        ),
    );
    (err, t.elapsed())
}

fn assert_guest_model_agrees(live: &Live) {
    let checks = live.cross_check().expect("ip route get");
    assert!(!checks.is_empty(), "no route compared");
    let bad: Vec<String> = checks
        .iter()
        .filter(|c| !c.agrees())
        .map(|c| {
            format!(
                "{} to {} from {:?}: kernel {} vpcsim {} ({})",
                c.instance, c.dst, c.src, c.kernel, c.vpcsim, c.why
            )
        })
        .collect();
    assert!(
        bad.is_empty(),
        "after step {}: the kernel and vpcsim's guest model disagree:\n{}",
        live.step(),
        bad.join("\n")
    );
}

fn leftovers(prefix: &str) -> Vec<String> {
    let ns = live::sys::namespaces();
    let links = live::sys::ip(None, &["-o", "link", "show"]).unwrap_or_default();
    ns.into_iter()
        .filter(|n| n.starts_with(prefix))
        .chain(
            links
                .lines()
                .filter(|l| l.contains(prefix))
                .map(str::to_string),
        )
        .collect()
}

/// The procedure's step 6, for real: ssh root@EIP shows the ECS banner through eth1 after
/// the EIP moved to the secondary ENI with policy routes, times out without them (the
/// SYN-ACK leaves by eth0 and the VPC's source check drops it), and curl myip on i-web
/// shows its static public IP before step 1 and the NAT gateway's SNAT EIP after.
#[test]
fn procedure_step_6_with_real_ssh_and_curl() {
    let _serial = serial();
    if !ready() {
        return;
    }
    let sc = Scenario::load(None).expect("built-in scenario");
    let bind_step = 9; // AssociateEipAddress to eni-web1 (NAT mode)
    let no_policy_step = 10; // SetGuestPolicyRoutes false
    assert!(
        sc.steps.len() == 11,
        "the built-in scenario changed: re-read its steps"
    );
    let dir = TempDir::new("procedure");
    let mut live = Live::start(&sc, 0, &LiveOptions::default()).expect("live start");
    let prefix = live.prefix().to_string();
    let stop = Arc::new(AtomicBool::new(false));
    let server = start_myip(
        live.namespace("internet").expect("internet ns"),
        live::MYIP_SERVER,
        Arc::clone(&stop),
    );
    let mut sshd = start_sshd(live.namespace("i-web").expect("i-web ns"), &dir.0);
    std::thread::sleep(Duration::from_millis(300));

    // Before step 1: i-web leaves with its static public IP; ssh reaches eth0.
    assert_guest_model_agrees(&live);
    assert_eq!(curl_myip(&live), EIP_WEB, "before: curl myip on i-web");
    // The gateway was resolved by real ARP, answered by the data plane's VSwitch.
    assert_learnt_by_arp(&live, "i-web", "eth0", "192.168.1.253");
    let (err, _) = ssh_banner(&live);
    assert!(err.contains(BANNER), "before: ssh to {EIP_WEB}: {err}");

    // After the bind step, with policy routes: the banner through eth1.
    live.apply(bind_step).expect("apply");
    assert_guest_model_agrees(&live);
    let (err, _) = ssh_banner(&live);
    assert!(
        err.contains(BANNER),
        "after step {bind_step}: ssh to the EIP: {err}"
    );
    assert_eq!(
        curl_myip(&live),
        SNAT_EIP,
        "after step {bind_step}: curl myip"
    );

    // Without policy routes: the SYN-ACK leaves by eth0 and is dropped; ssh times out.
    live.apply(no_policy_step).expect("apply");
    assert_guest_model_agrees(&live);
    let (err, took) = ssh_banner(&live);
    assert!(
        !err.contains(BANNER) && err.to_lowercase().contains("timed out"),
        "without policy routes ssh must time out, got: {err}"
    );
    assert!(
        took >= Duration::from_secs(4),
        "it timed out, not refused: {took:?}"
    );

    // The last step puts them back.
    live.apply(sc.steps.len()).expect("apply");
    assert_guest_model_agrees(&live);
    let (err, _) = ssh_banner(&live);
    assert!(err.contains(BANNER), "after the last step: {err}");
    assert_eq!(curl_myip(&live), SNAT_EIP, "after the last step: curl myip");

    stop.store(true, Ordering::Relaxed);
    let _ = sshd.kill();
    let _ = sshd.wait();
    let stats = live.stop();
    let _ = server.join();
    assert!(
        stats.dropped.get("eni_source_check").copied().unwrap_or(0) > 0,
        "the timed-out ssh was the source check's drop: {stats:?}"
    );
    assert_eq!(leftovers(&prefix), Vec::<String>::new(), "left behind");
}

/// Guests with devices in two subnets, secondary private IPs, a multi-EIP-style NAT EIP
/// on a secondary IP and a cut-through ENI, with and without policy routes.
const MULTI: &str = concat!(
    support::scenario!("live-guest-routing"),
    support::jumbo_instance_type!("ecs.jumbo.large"),
    support::vpc_1!(),
    support::vsw_b!(),
    r#"[[security_groups]]
id = "sg-open"
vpc = "vpc-1"
rules = [ { direction = "ingress", protocol = "tcp", ports = "22/22", cidr = "0.0.0.0/0" } ]

"#,
    support::multi_eni_instance!("i-multi", "10.0.1.16", policy_routes = true),
    support::multi_eni_instance!("i-plain", "10.0.1.17", policy_routes = false),
    support::multi_eni_instance!("i-cut", "10.0.1.18", policy_routes = true),
    r#"[[instances]]
id = "i-peer"
vswitch = "vsw-b"
instance_type = "ecs.jumbo.large"
private_ip = "10.0.2.20"
security_groups = ["sg-open"]

[[enis]]
id = "eni-multi-b"
vswitch = "vsw-b"
primary_ip = "10.0.2.100"
secondary_ips = ["10.0.2.101"]
security_groups = ["sg-open"]
instance = "i-multi"

"#,
    support::eni!("eni-multi-a", "vsw-a", "10.0.1.100", "i-multi"),
    support::eni!("eni-plain-b", "vsw-b", "10.0.2.110", "i-plain"),
    support::eni!("eni-cut", "vsw-a", "10.0.1.110", "i-cut"),
    r#"[[eips]]
id = "eip-sec"
address = "47.1.1.101"
bind = { type = "NetworkInterface", id = "eni-multi-b", mode = "NAT", private_ip = "10.0.2.101" }

[[eips]]
id = "eip-cut"
address = "47.1.1.110"
bind = { type = "NetworkInterface", id = "eni-cut", mode = "BINDED" }

[[checks]]
name = "an Internet client"
from = "internet:198.51.100.9"
to = "47.1.1.101:22"
expect = "delivered"
"#,
);

/// The kernel's own route choice equals vpcsim's guest model on guests with devices in
/// two subnets (connected routes), a third device on eth0's subnet (lowest device wins),
/// secondary IPs (policy rules per address), a cut-through device (/32, no connected
/// subnet) and a guest without policy routes (everything by the main table).
#[test]
fn kernel_routing_equals_the_guest_model_on_multi_subnet_guests() {
    let _serial = serial();
    if !ready() {
        return;
    }
    let sc = Scenario::parse(MULTI, "live-guest-routing.toml").unwrap_or_else(|e| panic!("{e}"));
    let live = Live::start(&sc, 0, &LiveOptions::default()).expect("live start");
    assert_guest_model_agrees(&live);
    let checks = live.cross_check().expect("cross-check");
    // Every guest was compared, with sources on secondary devices too.
    for who in ["i-multi", "i-plain", "i-cut", "i-peer"] {
        assert!(
            checks.iter().any(|c| c.instance == who),
            "{who} not compared"
        );
    }
    let via = |who: &str, src: Option<&str>, dst: &str| {
        checks
            .iter()
            .find(|c| {
                c.instance == who
                    && c.src.map(|s| s.to_string()).as_deref() == src
                    && c.dst.to_string() == dst
            })
            .map(|c| c.kernel.clone())
    };
    // Policy routes: eth1's secondary IP leaves by eth1 even toward eth0's subnet.
    assert_eq!(
        via("i-multi", Some("10.0.2.101"), "10.0.1.17").as_deref(),
        Some("eth1")
    );
    // Connected: vsw-b's subnet is reached by eth1 without a source.
    assert_eq!(via("i-plain", None, "10.0.2.20").as_deref(), Some("eth1"));
    // No policy routes: eth1's address toward the Internet leaves by eth0 (the FAQ's trap).
    assert_eq!(
        via("i-plain", Some("10.0.2.110"), "203.0.113.80").as_deref(),
        Some("eth0")
    );

    // MTU from the compiled tables: 8500 for the jumbo-frame type, 1500 elsewhere.
    assert_eq!(
        device_mtu(&live, "i-peer", "eth0"),
        8500,
        "jumbo i-peer eth0"
    );
    assert_eq!(device_mtu(&live, "i-multi", "eth1"), 1500, "i-multi eth1");
    // Real ARP: i-peer reaches eth1 of i-multi on their shared VSwitch (no listener: the
    // guest answers RST), resolving it by ARP, which the data plane's VSwitch answers.
    let (code, _, err) = run_in(&live, "i-peer", "curl -s -m 3 http://10.0.2.100:22/");
    assert_ne!(code, 28, "curl from i-peer to 10.0.2.100 timed out: {err}");
    assert_learnt_by_arp(&live, "i-peer", "eth0", "10.0.2.100");
    let prefix = live.prefix().to_string();
    drop(live);
    assert_eq!(leftovers(&prefix), Vec::<String>::new(), "left behind");
}

/// The MTU the kernel gives `dev` in `who`'s namespace.
fn device_mtu(live: &Live, who: &str, dev: &str) -> u32 {
    let (code, out, err) = run_in(live, who, &format!("ip -o link show dev {dev}"));
    assert_eq!(code, 0, "ip link in {who}: {err}");
    out.split_whitespace()
        .skip_while(|w| *w != "mtu")
        .nth(1)
        .and_then(|m| m.parse().ok())
        .unwrap_or_else(|| panic!("no mtu in {out}"))
}

/// `who`'s kernel learnt `addr` on `dev` as the VSwitch's `ee:ff:ff:ff:ff:ff` by ARP: a
/// dynamic entry (REACHABLE, STALE, DELAY or PROBE), not a PERMANENT one vpcsim wrote.
fn assert_learnt_by_arp(live: &Live, who: &str, dev: &str, addr: &str) {
    let (code, out, err) = run_in(live, who, &format!("ip neigh show dev {dev} {addr}"));
    assert_eq!(code, 0, "ip neigh in {who}: {err}");
    let line = out.trim();
    assert!(
        line.contains("lladdr ee:ff:ff:ff:ff:ff"),
        "{who} {dev}: {addr} not resolved to the VSwitch gateway MAC: `{line}`"
    );
    assert!(
        ["REACHABLE", "STALE", "DELAY", "PROBE"]
            .iter()
            .any(|s| line.ends_with(s)),
        "{who} {dev}: {addr} not learnt by ARP: `{line}`"
    );
}

/// `vpcsim live --exec` on the built-in scenario after the last step: real curl prints
/// the SNAT EIP, real ssh shows the banner; a failing command makes the exit code 1.
#[test]
fn cli_exec_shows_snat_eip_and_banner() {
    let _serial = serial();
    if !ready() {
        return;
    }
    let dir = TempDir::new("cli");
    let key = dir.0.join("host_key");
    assert!(Command::new(tool("ssh-keygen"))
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .expect("ssh-keygen")
        .success());
    std::fs::write(dir.0.join("banner"), format!("{BANNER}\n")).expect("banner");
    let cfg = dir.0.join("sshd_config");
    std::fs::write(
        &cfg,
        format!(
            "Port 22\nListenAddress 0.0.0.0\nHostKey {}\nBanner {}\nPidFile none\nUsePAM no\nStrictModes no\n",
            key.display(),
            dir.0.join("banner").display()
        ),
    )
    .expect("cfg");
    let _ = std::fs::create_dir_all("/run/sshd");
    // socketserver, not http.server.HTTPServer: the latter resolves its own name (DNS),
    // which no namespace here can reach.
    let server = "import http.server as h, socketserver as ss\nclass H(h.BaseHTTPRequestHandler):\n def do_GET(s):\n  b=s.client_address[0].encode();s.send_response(200);s.send_header('Content-Length',str(len(b)));s.end_headers();s.wfile.write(b)\nss.TCPServer(('203.0.113.80',80),H).serve_forever()\n";
    std::fs::write(dir.0.join("myip.py"), server).expect("myip.py");
    let pcap = dir.0.join("live.pcapng");
    let out = Command::new(env!("CARGO_BIN_EXE_vpcsim"))
        .args(["live", "--timeout", "20", "--capture"])
        .arg(&pcap)
        .arg("--exec")
        .arg(format!("i-web: {} -f {}", tool("sshd"), cfg.display()))
        .arg("--exec")
        .arg(format!(
            "internet: (python3 {} >/dev/null 2>&1 &) ; sleep 1",
            dir.0.join("myip.py").display()
        ))
        .arg("--exec")
        .arg("i-web: curl -s -m 5 --retry 5 --retry-connrefused --retry-delay 1 http://203.0.113.80/")
        .arg("--exec")
        .arg(format!("internet: ssh -o BatchMode=yes -o ConnectTimeout=5 -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null root@{EIP_WEB} true"))
        .output()
        .expect("vpcsim live");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // ssh without a key fails to log in (exit 255): the run reports it with exit 1.
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    let curl = stdout
        .split("── ")
        .find(|b| b.starts_with("i-web$ curl"))
        .unwrap_or_default();
    assert!(
        curl.contains(&format!("   {SNAT_EIP}")),
        "curl block:\n{curl}\n---\n{stdout}\n{stderr}"
    );
    assert!(curl.contains("exit 0"), "{curl}");
    let ssh = stdout
        .split("── ")
        .find(|b| b.starts_with("internet$ ssh"))
        .unwrap_or_default();
    assert!(ssh.contains(BANNER), "ssh block:\n{ssh}\n---\n{stderr}");
    assert!(stderr.contains("everything removed"), "{stderr}");
    // --capture: every hop, one pcapng interface per observation point (the ENIs as the
    // guests saw them, the NAT gateway's outside, the Internet edge).
    let cap = std::fs::read(&pcap).expect("capture written");
    assert_eq!(
        cap.get(..4),
        Some(&[0x0a, 0x0d, 0x0d, 0x0a][..]),
        "a pcapng"
    );
    let has = |s: &str| cap.windows(s.len()).any(|w| w == s.as_bytes());
    assert!(has("eni-web1") && has("i-web-eth0") && has("ngw-prod outside") && has("internet"));
    let pid_prefix = "vs".to_string();
    let ours: Vec<String> = leftovers(&pid_prefix)
        .into_iter()
        .filter(|n| {
            live::sys::owner_pid(n.split(": ").nth(1).unwrap_or(n)).is_some()
                && !n.contains(&format!("vs{}x", std::process::id()))
        })
        .collect();
    // Other tests of this binary may be running; what a finished child left would show
    // up under a dead pid.
    let dead: Vec<&String> = ours
        .iter()
        .filter(|n| {
            let name = n.split(": ").nth(1).unwrap_or(n);
            live::sys::owner_pid(name).is_some_and(|p| !Path::new(&format!("/proc/{p}")).exists())
        })
        .collect();
    assert!(dead.is_empty(), "left behind: {dead:?}");
}

/// --follow applies the steps while commands run: i-web's eth1 appears once step 6
/// attaches eni-web1, with its policy rule (the guest has policy routes).
#[test]
fn follow_applies_steps_while_running() {
    let _serial = serial();
    if !ready() {
        return;
    }
    let out = Command::new(env!("CARGO_BIN_EXE_vpcsim"))
        .args(["live", "--follow", "0.1", "--exec"])
        .arg("i-web: ip -o link show eth1 || true; for i in $(seq 150); do ip rule | grep -q 'lookup 1001' && break; sleep 0.1; done; ip -o addr show eth1; ip rule")
        .output()
        .expect("vpcsim live");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stderr.contains("applied step 6/11"), "{stderr}");
    assert!(
        stdout.contains("does not exist"),
        "no eth1 before step 6: {stdout}"
    );
    assert!(stdout.contains("inet 192.168.1.100/24"), "{stdout}");
    assert!(
        stdout.contains("from 192.168.1.100 lookup 1001"),
        "{stdout}"
    );
}

/// Without root, live mode refuses with exit 2 and says what is missing (checked by
/// dropping privileges with setpriv; skipped where setpriv or root is not available).
#[test]
fn without_root_it_exits_2_naming_privileges() {
    let _serial = serial();
    if !ready() || !Path::new("/usr/bin/setpriv").exists() {
        return;
    }
    let out = Command::new("/usr/bin/setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_vpcsim"))
        .args(["live", "--exec", "i-web: true"])
        .output()
        .expect("setpriv");
    let err = String::from_utf8_lossy(&out.stderr);
    if err.contains("Permission denied") && out.status.code() != Some(2) {
        eprintln!("skipping: the test binary is not executable by nobody here");
        return;
    }
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("needs root"), "{err}");
}

/// --shell opens a shell in the guest's namespace (here fed from a pipe): it sees eth1
/// with the ENI's address; everything is removed when it exits.
#[test]
fn shell_runs_in_the_guest() {
    let _serial = serial();
    if !ready() {
        return;
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_vpcsim"))
        .args(["live", "--shell", "i-web"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("vpcsim live --shell");
    if let Some(mut i) = child.stdin.take() {
        let _ = i.write_all(b"ip -o -4 addr show eth1\nexit 0\n");
    }
    let out = child.wait_with_output().expect("wait");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(all.contains("inet 192.168.1.100/24"), "{all}");
    assert!(all.contains("everything removed"), "{all}");
}

fn wait_for_namespaces(pid: u32) -> Vec<String> {
    let tag = format!("vs{pid}x");
    let until = Instant::now() + Duration::from_secs(20);
    while Instant::now() < until {
        let ns: Vec<String> = live::sys::namespaces()
            .into_iter()
            .filter(|n| n.starts_with(&tag))
            .collect();
        if ns.iter().any(|n| n.ends_with("-i-web")) && ns.len() >= 4 {
            // Give the run a moment to finish configuring.
            std::thread::sleep(Duration::from_millis(300));
            return ns;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("vpcsim live (pid {pid}) did not create its namespaces");
}

/// SIGTERM removes everything; SIGKILL leaves namespaces that `vpcsim live --cleanup`
/// removes; two runs at once have their own names.
#[test]
fn signals_cleanup_and_parallel_runs() {
    let _serial = serial();
    if !ready() {
        return;
    }
    let bin = env!("CARGO_BIN_EXE_vpcsim");
    let spawn = || {
        Command::new(bin)
            .arg("live")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("vpcsim live")
    };
    let a = spawn();
    let mut b = spawn();
    let na = wait_for_namespaces(a.id());
    let nb = wait_for_namespaces(b.id());
    assert!(na.iter().all(|n| !nb.contains(n)), "two runs share a name");

    // SIGTERM: everything removed, the run says so.
    let tag_a = format!("vs{}x", a.id());
    // SAFETY: kill on a child we started.
    unsafe { libc::kill(a.id() as i32, libc::SIGTERM) };
    let out = a.wait_with_output().expect("wait");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("everything removed"), "{err}");
    assert!(
        leftovers(&tag_a).is_empty(),
        "SIGTERM left {:?}",
        leftovers(&tag_a)
    );

    // SIGKILL: the namespaces stay until --cleanup.
    let pid_b = b.id();
    let _ = b.kill();
    let _ = b.wait();
    let tag_b = format!("vs{pid_b}x");
    assert!(
        !leftovers(&tag_b).is_empty(),
        "a killed run leaves its namespaces"
    );
    let out = Command::new(bin)
        .args(["live", "--cleanup"])
        .output()
        .expect("cleanup");
    assert!(out.status.success());
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains(&tag_b), "{said}");
    assert!(
        leftovers(&tag_b).is_empty(),
        "--cleanup left {:?}",
        leftovers(&tag_b)
    );
}

/// A server at `addr`:`port` in namespace `ns` that sends `bytes` bytes to each client
/// and closes.
fn start_bulk(ns: &str, addr: Ipv4Addr, port: u16, bytes: usize) {
    let ns = ns.to_string();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        live::sys::enter_netns(&ns).expect("enter namespace");
        let l = TcpListener::bind((addr, port)).expect("bind bulk server");
        tx.send(()).expect("ready");
        let chunk = vec![b'x'; 1 << 16];
        for s in l.incoming().take(4) {
            let Ok(mut s) = s else { continue };
            let mut req = [0u8; 2048];
            let _ = s.read(&mut req);
            let _ = write!(s, "HTTP/1.0 200 OK\r\nContent-Length: {bytes}\r\n\r\n");
            let mut left = bytes;
            while left > 0 {
                let n = left.min(chunk.len());
                if s.write_all(&chunk[..n]).is_err() {
                    break;
                }
                left -= n;
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(5))
        .expect("bulk server started");
}

/// Not a test: throughput through the TAPs (BENCHMARKS.md). Run with
/// `cargo test --release --test live -- --ignored --nocapture throughput`.
#[test]
#[ignore]
fn throughput() {
    let _serial = serial();
    if !ready() {
        return;
    }
    let sc = Scenario::load(None).expect("built-in scenario");
    let live = Live::start(&sc, sc.steps.len(), &LiveOptions::default()).expect("live start");
    let bytes = 200 << 20;
    start_bulk(
        live.namespace("i-app").expect("ns"),
        Ipv4Addr::new(192, 168, 1, 20),
        8080,
        bytes,
    );
    start_bulk(
        live.namespace("internet").expect("ns"),
        live::MYIP_SERVER,
        8080,
        bytes,
    );
    for (who, url) in [
        ("i-web", "http://192.168.1.20:8080/body"),
        ("i-web", "http://203.0.113.80:8080/body"),
    ] {
        let (code, out, err) = run_in(
            &live,
            who,
            &format!("curl -s -o /dev/null -m 120 -w '%{{size_download}} %{{time_total}}' {url}"),
        );
        assert_eq!(code, 0, "{err}");
        let mut w = out.split_whitespace();
        let got: f64 = w.next().and_then(|x| x.parse().ok()).unwrap_or(0.0);
        let secs: f64 = w.next().and_then(|x| x.parse().ok()).unwrap_or(1.0);
        println!(
            "{who} <- {url}: {:.0} MB in {secs:.2} s = {:.0} Mbit/s",
            got / 1e6,
            got * 8.0 / secs / 1e6
        );
    }
    let stats = live.stop();
    println!("{stats:?}");
}
