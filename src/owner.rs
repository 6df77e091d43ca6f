//! Who owns a container: the run's host, process and process start, written as labels on every
//! container a run creates, so that `archsmoke gc` can tell a live run from a dead one.
//!
//! A run is live when its labels name this host and boot, and a process with that pid and that
//! start time exists here (the start time tells a reused pid apart). A run on another host (a
//! shared remote engine) cannot be checked from here; `gc` leaves such runs alone until they are
//! older than an age floor.
//!
//! On Linux the host, boot and process start come from `/proc`. macOS has no `/proc` (a Mac's
//! engine lives in a VM, but archsmoke and its runs live on macOS): there the host is
//! `uname`'s node name, there is no boot id, and a process's start is its absolute start time as
//! `ps` prints it, which tells a reused pid apart across reboots as well.

use std::path::Path;

/// Label keys, next to [`crate::engine::RUN_LABEL`].
pub const HOST_LABEL: &str = "archsmoke.host";
pub const BOOT_LABEL: &str = "archsmoke.boot";
pub const PID_LABEL: &str = "archsmoke.pid";
pub const PID_START_LABEL: &str = "archsmoke.pid-start";

/// Whether the run that created a container is still running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    /// Its process runs on this host: never collected.
    Live,
    /// Its process is gone (or this host has rebooted since): collected.
    Gone,
    /// Another host's run, or a container without owner labels: collected once old enough.
    Unknown,
}

/// The owner labels of this process.
pub fn labels() -> Vec<(String, String)> {
    let pid = std::process::id();
    let mut out = vec![(PID_LABEL.to_owned(), pid.to_string())];
    if let Some(host) = hostname() {
        out.push((HOST_LABEL.to_owned(), host));
    }
    if let Some(boot) = boot_id() {
        out.push((BOOT_LABEL.to_owned(), boot));
    }
    if let Some(start) = process_start(Path::new("/proc"), pid) {
        out.push((PID_START_LABEL.to_owned(), start));
    }
    out
}

/// Whether the run behind a container with `labels` is live, seen from this host.
pub fn liveness(labels: &std::collections::HashMap<String, String>) -> Liveness {
    check(labels, hostname().as_deref(), boot_id().as_deref(), |pid| {
        process_start(Path::new("/proc"), pid)
    })
}

fn check(
    labels: &std::collections::HashMap<String, String>,
    host: Option<&str>,
    boot: Option<&str>,
    start_of: impl Fn(u32) -> Option<String>,
) -> Liveness {
    let (Some(their_host), Some(pid)) = (
        labels.get(HOST_LABEL),
        labels.get(PID_LABEL).and_then(|p| p.parse::<u32>().ok()),
    ) else {
        return Liveness::Unknown;
    };
    if host != Some(their_host.as_str()) {
        return Liveness::Unknown;
    }
    if let (Some(theirs), Some(ours)) = (labels.get(BOOT_LABEL), boot)
        && theirs != ours
    {
        return Liveness::Gone;
    }
    match (start_of(pid), labels.get(PID_START_LABEL)) {
        (None, _) => Liveness::Gone,
        (Some(now), Some(then)) if &now != then => Liveness::Gone,
        // Without a recorded start time a live pid may be a reused one: keep it, to be safe.
        _ => Liveness::Live,
    }
}

#[cfg(target_os = "linux")]
fn hostname() -> Option<String> {
    let h = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    Some(h.trim().to_owned()).filter(|h| !h.is_empty())
}

#[cfg(not(target_os = "linux"))]
fn hostname() -> Option<String> {
    uname_nodename()
}

#[cfg(target_os = "linux")]
fn boot_id() -> Option<String> {
    let b = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    Some(b.trim().to_owned()).filter(|b| !b.is_empty())
}

/// None without `/proc`: the absolute start times of [`process_start`] need no boot to be told
/// apart.
#[cfg(not(target_os = "linux"))]
fn boot_id() -> Option<String> {
    None
}

#[cfg(not(target_os = "linux"))]
fn process_start(_proc: &Path, pid: u32) -> Option<String> {
    ps_start(pid)
}

/// The host's name from `uname(2)`: the same name `/proc/sys/kernel/hostname` holds on Linux.
#[cfg_attr(target_os = "linux", allow(dead_code))]
fn uname_nodename() -> Option<String> {
    let uts = nix::sys::utsname::uname().ok()?;
    let name = uts.nodename().to_string_lossy().trim().to_owned();
    Some(name).filter(|n| !n.is_empty())
}

/// A process's start time as `ps -o lstart=` prints it (`Sun Dec  6 10:55:37 2026`), in UTC and
/// the C locale so that a run and a later `gc` with another `TZ` or `LANG` agree; `None` when no
/// such process exists (ps exits 1) or ps cannot run. POSIX ps on macOS and procps on Linux
/// both know `lstart`.
#[cfg_attr(target_os = "linux", allow(dead_code))]
fn ps_start(pid: u32) -> Option<String> {
    let out = std::process::Command::new("ps")
        .args(["-o", "lstart=", "-p", &pid.to_string()])
        .env("LC_ALL", "C")
        .env("TZ", "UTC0")
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let start = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (out.status.success() && !start.is_empty()).then_some(start)
}

/// Field 22 of `/proc/PID/stat`, the process's start time in clock ticks since boot.
#[cfg(target_os = "linux")]
fn process_start(proc: &Path, pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(proc.join(pid.to_string()).join("stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count from its last `)`.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn labels_of(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn this_process_is_live_and_its_start_time_is_read() {
        let mine: HashMap<String, String> = labels().into_iter().collect();
        assert!(mine.contains_key(PID_START_LABEL), "{mine:?}");
        assert_eq!(liveness(&mine), Liveness::Live);
    }

    /// What macOS uses instead of `/proc`, run here: the node name is the host name `/proc`
    /// gives, and `ps`'s start time is stable for a live process and absent for a dead one.
    #[test]
    fn the_macos_sources_agree_with_proc_and_tell_a_live_process_from_a_dead_one() {
        let proc_name = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("hostname");
        assert_eq!(uname_nodename().as_deref(), Some(proc_name.trim()));
        let me = std::process::id();
        let start = ps_start(me).expect("ps shows this process");
        assert_eq!(ps_start(me), Some(start.clone()), "stable");
        assert!(start.split_whitespace().count() >= 5, "{start:?}");
        let mut child = std::process::Command::new("true")
            .spawn()
            .expect("true runs");
        let pid = child.id();
        child.wait().expect("true exits");
        assert_eq!(ps_start(pid), None, "a reaped process has no start time");
    }

    #[test]
    fn decisions() {
        let l = labels_of(&[
            (HOST_LABEL, "h"),
            (BOOT_LABEL, "b"),
            (PID_LABEL, "42"),
            (PID_START_LABEL, "100"),
        ]);
        let alive = |_| Some("100".to_owned());
        assert_eq!(check(&l, Some("h"), Some("b"), alive), Liveness::Live);
        assert_eq!(
            check(&l, Some("other"), Some("b"), alive),
            Liveness::Unknown
        );
        assert_eq!(
            check(&l, Some("h"), Some("rebooted"), alive),
            Liveness::Gone
        );
        assert_eq!(check(&l, Some("h"), Some("b"), |_| None), Liveness::Gone);
        let reused = |_| Some("999".to_owned());
        assert_eq!(check(&l, Some("h"), Some("b"), reused), Liveness::Gone);
        assert_eq!(
            check(&HashMap::new(), Some("h"), Some("b"), alive),
            Liveness::Unknown
        );
    }
}
