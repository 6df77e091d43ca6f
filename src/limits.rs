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
}
