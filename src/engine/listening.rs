//! The TCP ports a container listens on, read from its network namespace through the kernel's
//! `/proc/PID/net/tcp{,6}` of its first process. Only for an engine on this machine: a remote
//! engine's process ids mean nothing here, so the caller gets `None` rather than a guess.
//! Readiness names these ports when it gives up (a service listening on 8081 while the spec
//! waits for 8080 says so at once), and a `socket` probe checks the table itself, as goss's
//! `port` does (its netstat reads the same four tables from inside the container).

use std::collections::BTreeSet;
use std::path::Path;

use crate::check::service::Socket;
use crate::spec::SocketTable;

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

/// The sockets of one table's text, as goss's netstat (GOnetstat) lists them: a TCP socket in
/// LISTEN state, or any UDP socket (UDP has no listening state).
pub fn sockets(table: SocketTable, text: &str) -> Vec<Socket> {
    const LISTEN: &str = "0A";
    let tcp = table.is_tcp();
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let local = fields.nth(1)?;
            let state = fields.nth(1)?;
            if tcp && state != LISTEN {
                return None;
            }
            let (ip, port) = local.split_once(':')?;
            Some(Socket {
                table,
                ip: kernel_ip(ip)?.to_string(),
                port: u16::from_str_radix(port, 16).ok()?,
            })
        })
        .collect()
}

/// An address as the kernel's tables write it: the bytes of each 32-bit word in host order
/// (little-endian on every architecture archsmoke runs on), 8 hex digits for IPv4, 32 for IPv6.
fn kernel_ip(hex: &str) -> Option<std::net::IpAddr> {
    let words: Vec<u32> = (0..hex.len() / 8)
        .map(|i| u32::from_str_radix(hex.get(i * 8..i * 8 + 8)?, 16).ok())
        .collect::<Option<_>>()?;
    let bytes: Vec<u8> = words
        .iter()
        .flat_map(|w| w.swap_bytes().to_be_bytes())
        .collect();
    match (hex.len(), bytes.len()) {
        (8, 4) => Some(std::net::IpAddr::from(<[u8; 4]>::try_from(bytes).ok()?)),
        (32, 16) => Some(std::net::IpAddr::from(<[u8; 16]>::try_from(bytes).ok()?)),
        _ => None,
    }
}

/// The sockets of the container whose first process is `pid` on this machine (see
/// [`of_process`] for when that is known); `None` when it cannot be read from here.
pub fn sockets_of_process(proc_root: &Path, pid: i64, id: &str) -> Option<Vec<Socket>> {
    let dir = container_process(proc_root, pid, id)?;
    let mut out = Vec::new();
    let mut read_any = false;
    for table in SocketTable::ALL {
        if let Ok(text) = std::fs::read_to_string(dir.join("net").join(table.name())) {
            read_any = true;
            out.extend(sockets(table, &text));
        }
    }
    read_any.then_some(out)
}

/// `/proc/PID` when that process belongs to the container `id`.
fn container_process(proc_root: &Path, pid: i64, id: &str) -> Option<std::path::PathBuf> {
    if pid <= 0 || id.is_empty() {
        return None;
    }
    let dir = proc_root.join(pid.to_string());
    let cgroup = std::fs::read_to_string(dir.join("cgroup")).ok()?;
    cgroup.contains(id).then_some(dir)
}

/// The listening ports of the container whose first process is `pid` on this machine, when that
/// process belongs to the container `id` (its cgroup names the id, as Docker's and podman's
/// do); `None` when it does not or cannot be read (another machine's engine, another pid
/// namespace).
pub fn of_process(proc_root: &Path, pid: i64, id: &str) -> Option<BTreeSet<u16>> {
    let dir = container_process(proc_root, pid, id)?;
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
    fn sockets_as_gosss_netstat_lists_them() {
        let tcp = sockets(SocketTable::Tcp, TCP);
        assert_eq!(
            tcp.iter()
                .map(|s| (s.ip.to_string(), s.port))
                .collect::<Vec<_>>(),
            [("0.0.0.0".to_owned(), 8081), ("127.0.0.1".to_owned(), 53)]
        );
        let tcp6 =
            "  sl  local_address                         remote_address                        st
   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 0
   1: 0000000000000000FFFF00000100007F:1F91 00000000000000000000000000000000:0000 0A 0
   2: 00000000000000000000000001000000:0050 00000000000000000000000000000000:0000 0A 0
";
        let six = sockets(SocketTable::Tcp6, tcp6);
        assert_eq!(six[0].ip.to_string(), "::");
        assert_eq!(six[0].port, 8080);
        assert_eq!(six[1].ip.to_string(), "::ffff:127.0.0.1");
        assert_eq!(six[2].ip.to_string(), "::1");
        // UDP has no listening state: every socket counts (st 07, unconnected).
        let udp = "  sl  local_address rem_address   st\n  5: 00000000:0035 00000000:0000 07 0\n";
        assert_eq!(sockets(SocketTable::Udp, udp)[0].port, 53);
        assert!(sockets(SocketTable::Tcp, "h\n 0: zz:1 00000000:0000 0A\n").is_empty());
    }

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
