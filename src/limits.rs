//! Resource limits of test containers: how many processes and how much memory a test may use.
//!
//! A test is untrusted code from the image under test; without limits a fork bomb or a leak in
//! it takes the whole host down (`pids.max` is `max` in a container Docker starts by default).
//! The defaults are generous for a smoke test and small for a host:
//!
//! - **1024 processes**: a shell pipeline, a service with worker processes or a test runner
//!   with a few dozen threads stays far below it (threads count as pids); a fork bomb stops at
//!   it in milliseconds, leaving the host's own pid space (32768 by default) alone.
//! - **1 GiB of memory** (swap included, so the limit is real): QEMU user emulation adds its
//!   translation cache (tens of MiB per process) to what the guest program uses; a JVM or .NET
//!   runtime sizes its default heap from this limit (a quarter of it), which still starts them.
//!
//! Both are set per container by the engine (cgroup `pids.max`, `memory.max`), so they hold under
//! emulation too; `[settings]` and each `[[test]]` may raise or lower them.

/// Processes (and threads) a test container may have at once, unless the spec says otherwise.
pub const DEFAULT_PIDS: i64 = 1024;
/// Memory a test container may use, swap included, unless the spec says otherwise.
pub const DEFAULT_MEMORY: u64 = 1 << 30;
/// The engine refuses less than this (Docker's minimum is 6 MB).
pub const MIN_MEMORY: u64 = 6 << 20;
/// The kernel's `pid_max` ceiling on 64-bit machines.
pub const MAX_PIDS: i64 = 4_194_304;

/// What a test container is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub pids: i64,
    /// Bytes of memory, swap included.
    pub memory: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            pids: DEFAULT_PIDS,
            memory: DEFAULT_MEMORY,
        }
    }
}

impl Limits {
    /// The larger of each limit: what one container running several tests needs.
    pub fn max(self, other: Limits) -> Limits {
        Limits {
            pids: self.pids.max(other.pids),
            memory: self.memory.max(other.memory),
        }
    }
}

/// What a test container may take from the host beyond the sandbox: bind mounts of host paths
/// and added capabilities (cst's `containerRunOptions.bindMounts` and `capabilities`). Like
/// `privileged`, a spec gets them only with `--allow-privileged`: a spec is often written by
/// someone other than whoever runs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostAccess {
    /// `HOST:CONTAINER` or `HOST:CONTAINER:ro|rw`, as `docker run -v` takes them.
    pub binds: Vec<String>,
    /// Capabilities added to the default set, as `CAP_SYS_ADMIN`.
    pub cap_add: Vec<String>,
}

impl HostAccess {
    pub fn is_empty(&self) -> bool {
        self.binds.is_empty() && self.cap_add.is_empty()
    }
}

/// A capability as the engine takes it: `sys_admin`, `SYS_ADMIN` and `CAP_SYS_ADMIN` are the
/// same one (Docker normalises them alike); `None` for anything that is not a capability name.
pub fn capability(name: &str) -> Option<String> {
    let upper = name.trim().to_ascii_uppercase();
    let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
    (!bare.is_empty() && bare.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'))
        .then(|| format!("CAP_{bare}"))
}

/// Why `bind` is not `HOST:CONTAINER[:ro|rw]` with absolute paths, if it is not.
pub fn bind_problem(bind: &str) -> Option<&'static str> {
    let parts: Vec<&str> = bind.split(':').collect();
    let (host, container, mode) = match parts.as_slice() {
        [h, c] => (*h, *c, None),
        [h, c, m] => (*h, *c, Some(*m)),
        _ => return Some("a bind mount is HOST:CONTAINER or HOST:CONTAINER:ro"),
    };
    if !host.starts_with('/') || !container.starts_with('/') {
        return Some("both paths of a bind mount are absolute");
    }
    if mode.is_some_and(|m| !matches!(m, "ro" | "rw")) {
        return Some("a bind mount's mode is ro or rw");
    }
    if bind.contains('\0') {
        return Some("a bind mount cannot hold a NUL byte");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_max() {
        let d = Limits::default();
        assert_eq!((d.pids, d.memory), (1024, 1 << 30));
        let big = Limits {
            pids: 4096,
            memory: 1 << 20,
        };
        assert_eq!(
            d.max(big),
            Limits {
                pids: 4096,
                memory: 1 << 30
            }
        );
    }

    #[test]
    fn capabilities_and_binds_are_read_as_docker_reads_them() {
        for name in ["sys_admin", "SYS_ADMIN", "CAP_SYS_ADMIN", " cap_sys_admin "] {
            assert_eq!(capability(name).as_deref(), Some("CAP_SYS_ADMIN"), "{name}");
        }
        assert_eq!(capability("CAP_"), None);
        assert_eq!(capability("net-admin"), None);
        assert_eq!(bind_problem("/tmp/test:/tmp/test"), None);
        assert_eq!(bind_problem("/etc/os-release:/host/os-release:ro"), None);
        assert!(bind_problem("tmp:/tmp").is_some());
        assert!(bind_problem("/a:/b:rx").is_some());
        assert!(bind_problem("/a").is_some());
    }
}
