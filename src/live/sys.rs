//! The Linux side of live mode: network namespaces, TAP devices and the `ip` tool.
//!
//! Everything created carries a per-run prefix `vs<pid>x<n>` (pid of the process, n a
//! per-process counter so two runs in one process differ too): namespaces are
//! `vs<pid>x<n>-<instance>` and `vs<pid>x<n>-internet`, TAP devices are created in the
//! host namespace as `vs<pid>x<n>t<k>` and renamed `eth0`, `eth1`, … once moved into their
//! namespace. A run killed with SIGKILL leaves its namespaces (its TAP devices vanish with
//! their file descriptors); [`cleanup_stale`] removes every name whose pid is dead.

use std::fs::{File, OpenOptions};
use std::net::Ipv4Addr;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::path::Path;
use std::process::{Command, Stdio};

/// What the machine lacks for live mode, or a system call that failed.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error(
        "live mode needs root (it creates network namespaces and TAP devices); run it with sudo"
    )]
    NotRoot,
    #[error("live mode needs /dev/net/tun (the TUN/TAP driver): {0}; load it with `modprobe tun`")]
    NoTun(String),
    #[error(
        "live mode needs the `ip` tool (iproute2): {0}; install it with `apt-get install iproute2`"
    )]
    NoIp(String),
    #[error("`{cmd}` failed: {msg}")]
    Command { cmd: String, msg: String },
    #[error("{0}")]
    Other(String),
}

/// Checks privileges, `/dev/net/tun` and `ip`, naming the first thing missing.
pub fn preflight() -> Result<(), LiveError> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err(LiveError::NotRoot);
    }
    OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/net/tun")
        .map_err(|e| LiveError::NoTun(e.to_string()))?;
    let out = Command::new("ip")
        .arg("-V")
        .output()
        .map_err(|e| LiveError::NoIp(e.to_string()))?;
    if !out.status.success() {
        return Err(LiveError::NoIp(format!(
            "`ip -V` exited with {}",
            out.status
        )));
    }
    Ok(())
}

/// Runs `ip ARGS` (in namespace `ns` when given) and returns its standard output.
pub fn ip(ns: Option<&str>, args: &[&str]) -> Result<String, LiveError> {
    let mut c = Command::new("ip");
    if let Some(ns) = ns {
        c.args(["-n", ns]);
    }
    c.args(args).stdin(Stdio::null());
    let out = c.output().map_err(|e| LiveError::NoIp(e.to_string()))?;
    if !out.status.success() {
        let mut cmd = String::from("ip");
        if let Some(ns) = ns {
            cmd.push_str(&format!(" -n {ns}"));
        }
        for a in args {
            cmd.push(' ');
            cmd.push_str(a);
        }
        return Err(LiveError::Command {
            cmd,
            msg: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Writes a sysctl of namespace `ns` (through /proc/sys of a process inside it).
pub fn sysctl(ns: &str, key: &str, value: &str) -> Result<(), LiveError> {
    let path = format!("/proc/sys/{}", key.replace('.', "/"));
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            ns,
            "sh",
            "-c",
            &format!("echo {value} > {path}"),
        ])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| LiveError::NoIp(e.to_string()))?;
    if !out.status.success() {
        return Err(LiveError::Command {
            cmd: format!("ip netns exec {ns}: {key}={value}"),
            msg: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(())
}

pub fn mac_text(m: [u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
const IFF_TAP: libc::c_short = 0x0002;
const IFF_NO_PI: libc::c_short = 0x1000;

#[repr(C)]
struct IfReq {
    name: [u8; 16],
    flags: libc::c_short,
    _pad: [u8; 22],
}

/// Creates TAP device `name` in the host namespace and returns its (non-blocking) fd.
/// The device lives as long as the fd: moving it to another namespace keeps it valid.
pub fn open_tap(name: &str) -> Result<File, LiveError> {
    if name.len() > 15 {
        return Err(LiveError::Other(format!(
            "TAP name {name} is longer than 15 bytes"
        )));
    }
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open("/dev/net/tun")
        .map_err(|e| LiveError::NoTun(e.to_string()))?;
    let mut req = IfReq {
        name: [0; 16],
        flags: IFF_TAP | IFF_NO_PI,
        _pad: [0; 22],
    };
    req.name[..name.len()].copy_from_slice(name.as_bytes());
    // SAFETY: TUNSETIFF reads and writes one `struct ifreq`, which IfReq lays out (40
    // bytes: 16-byte name, flags, padding); the fd is open.
    let r = unsafe { libc::ioctl(f.as_raw_fd(), TUNSETIFF as _, &mut req as *mut IfReq) };
    if r < 0 {
        return Err(LiveError::Command {
            cmd: format!("ioctl(TUNSETIFF, {name})"),
            msg: std::io::Error::last_os_error().to_string(),
        });
    }
    Ok(f)
}

/// Moves the calling thread into network namespace `ns` (for servers run as threads).
pub fn enter_netns(ns: &str) -> Result<(), LiveError> {
    let path = Path::new("/var/run/netns").join(ns);
    let f = File::open(&path)
        .map_err(|e| LiveError::Other(format!("opening {}: {e}", path.display())))?;
    // SAFETY: setns on an open namespace fd; affects only the calling thread.
    if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(LiveError::Command {
            cmd: format!("setns({ns})"),
            msg: std::io::Error::last_os_error().to_string(),
        });
    }
    Ok(())
}

/// The pid a name of ours carries (`vs<pid>x<n>…`), if it is one of ours.
pub fn owner_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix("vs")?;
    let (pid, rest) = rest.split_once('x')?;
    let digits = rest.chars().take_while(char::is_ascii_digit).count();
    let after = &rest[digits..];
    if digits == 0 || !(after.starts_with('-') || after.starts_with('t')) {
        return None;
    }
    pid.parse().ok()
}

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Network namespaces (names) currently present.
pub fn namespaces() -> Vec<String> {
    ip(None, &["netns", "list"])
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

/// Stops the processes left in namespace `ns` (servers a user or test started there),
/// then deletes it.
pub fn delete_namespace(ns: &str) {
    if let Ok(pids) = ip(None, &["netns", "pids", ns]) {
        for p in pids.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
            // SAFETY: kill has no memory-safety preconditions.
            unsafe {
                libc::kill(p, libc::SIGKILL);
            }
        }
    }
    let _ = ip(None, &["netns", "delete", ns]);
}

/// Removes what runs of vpcsim whose process is gone left behind: namespaces and host-side
/// TAP devices named `vs<pid>x…` with a dead pid. Returns the names removed.
pub fn cleanup_stale() -> Vec<String> {
    let mut removed = vec![];
    for ns in namespaces() {
        if owner_pid(&ns).is_some_and(|p| !alive(p)) {
            delete_namespace(&ns);
            removed.push(ns);
        }
    }
    let links = ip(None, &["-o", "link", "show"]).unwrap_or_default();
    for l in links.lines() {
        let Some(name) = l.split(": ").nth(1) else {
            continue;
        };
        let name = name.split('@').next().unwrap_or(name);
        if owner_pid(name).is_some_and(|p| !alive(p)) && ip(None, &["link", "del", name]).is_ok() {
            removed.push(name.to_string());
        }
    }
    removed
}

/// Address the kernel of namespace `ns` routes `dst` by (from `src` when given): the
/// output device, as `ip route get` says.
pub fn route_get(ns: &str, dst: Ipv4Addr, src: Option<Ipv4Addr>) -> Result<String, LiveError> {
    let d = dst.to_string();
    let s = src.map(|s| s.to_string());
    let mut args = vec!["-o", "route", "get", d.as_str()];
    if let Some(s) = &s {
        args.extend(["from", s.as_str()]);
    }
    let out = ip(Some(ns), &args)?;
    let mut words = out.split_whitespace();
    while let Some(w) = words.next() {
        if w == "dev" {
            if let Some(dev) = words.next() {
                return Ok(dev.to_string());
            }
        }
    }
    Err(LiveError::Other(format!(
        "`ip -n {ns} route get {d}` named no device: {out}"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_pid() {
        assert_eq!(owner_pid("vs1234x0-i-web"), Some(1234));
        assert_eq!(owner_pid("vs1234x12t3"), Some(1234));
        assert_eq!(owner_pid("vs1234x-i-web"), None);
        assert_eq!(owner_pid("vsomething"), None);
        assert_eq!(owner_pid("eth0"), None);
    }
}
