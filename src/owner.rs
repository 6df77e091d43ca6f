//! Who owns a container: the run's host, process and process start, written as labels on every
//! container a run creates, so that `archsmoke gc` can tell a live run from a dead one.
//!
//! A run is live when its labels name this host and boot, and a process with that pid and that
//! start time exists here (the start time tells a reused pid apart). A run on another host (a
//! shared remote engine) cannot be checked from here; `gc` leaves such runs alone until they are
//! older than an age floor.

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

fn hostname() -> Option<String> {
    let h = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    Some(h.trim().to_owned()).filter(|h| !h.is_empty())
}

fn boot_id() -> Option<String> {
    let b = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    Some(b.trim().to_owned()).filter(|b| !b.is_empty())
}

/// Field 22 of `/proc/PID/stat`, the process's start time in clock ticks since boot.
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
