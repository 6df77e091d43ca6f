//! The TCP ports a container listens on, read from its network namespace through the kernel's
//! `/proc/PID/net/tcp{,6}` of its first process. Only for an engine on this machine: a remote
//! engine's process ids mean nothing here, so the caller gets `None` rather than a guess.
//! Readiness names these ports when it gives up (a service listening on 8081 while the spec
//! waits for 8080 says so at once).

use std::collections::BTreeSet;
use std::path::Path;

/// The ports in LISTEN state in `/proc/net/tcp` or `/proc/net/tcp6` text (the kernel's table:
/// a header line, then `sl local_address rem_address st ...`, addresses as hex `IP:PORT`).
pub fn parse(table: &str) -> BTreeSet<u16> {
    const LISTEN: &str = "0A";
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let local = fields.nth(1)?;
            let state = fields.nth(1)?;
            (state == LISTEN).then_some(())?;
            let port = local.rsplit_once(':')?.1;
            u16::from_str_radix(port, 16).ok()
        })
        .collect()
}

/// The listening ports of the container whose first process is `pid` on this machine, when that
/// process belongs to the container `id` (its cgroup names the id, as Docker's and podman's
/// do); `None` when it does not or cannot be read (another machine's engine, another pid
/// namespace).
pub fn of_process(proc_root: &Path, pid: i64, id: &str) -> Option<BTreeSet<u16>> {
    if pid <= 0 || id.is_empty() {
        return None;
    }
    let dir = proc_root.join(pid.to_string());
    let cgroup = std::fs::read_to_string(dir.join("cgroup")).ok()?;
    if !cgroup.contains(id) {
        return None;
    }
    let mut ports = BTreeSet::new();
    let mut read_any = false;
    for table in ["net/tcp", "net/tcp6"] {
        if let Ok(text) = std::fs::read_to_string(dir.join(table)) {
            read_any = true;
            ports.extend(parse(&text));
        }
    }
    read_any.then_some(ports)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0
   1: 0100007F:0035 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1 0 100 0 0 10 0
   2: 0100007F:1F91 0100007F:A2C4 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0 20 4 30 10 -1
";

    #[test]
    fn listening_sockets_only_and_ports_in_hex() {
        assert_eq!(parse(TCP).into_iter().collect::<Vec<_>>(), [53, 8081]);
        assert!(parse("header only\n").is_empty());
        assert!(parse("").is_empty());
    }

    #[test]
    fn a_process_of_another_container_or_machine_gives_nothing() {
        let root = tempfile::tempdir().expect("temp dir");
        let dir = root.path().join("42");
        std::fs::create_dir_all(dir.join("net")).expect("dirs");
        std::fs::write(dir.join("cgroup"), "0::/system.slice/docker-abc123.scope\n")
            .expect("cgroup");
        std::fs::write(dir.join("net/tcp"), TCP).expect("tcp");
        let ports = of_process(root.path(), 42, "abc123").expect("ours");
        assert_eq!(ports.into_iter().collect::<Vec<_>>(), [53, 8081]);
        assert_eq!(of_process(root.path(), 42, "def456"), None);
        assert_eq!(of_process(root.path(), 43, "abc123"), None);
        assert_eq!(of_process(root.path(), 0, "abc123"), None);
    }
}
