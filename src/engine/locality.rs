//! Whether an engine shares this machine's kernel, and so its binfmt_misc entries.
//!
//! A unix socket alone does not say so: Docker Desktop, colima, OrbStack, Rancher Desktop and
//! Podman machine all hand this machine a unix socket whose engine runs in a Linux VM, with the
//! VM's kernel and the VM's emulators (Rosetta or QEMU registered there, invisible from here).
//! The rule, in order:
//!
//! 1. Not a unix socket (tcp, ssh): another machine.
//! 2. This machine does not run Linux (macOS, Windows): the engine runs in a VM.
//! 3. The engine names a kernel release other than this machine's: a VM (Docker Desktop for
//!    Linux, lima on Linux) or a socket forwarded from elsewhere.
//! 4. Otherwise the same kernel (an engine that names no kernel is trusted to be local).
//!
//! An engine judged "not local" is treated as remote engines are: its modes come from probe
//! containers, never from this machine's binfmt_misc.

/// How an engine relates to this machine's kernel, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Locality {
    pub shares_kernel: bool,
    /// One clause for `doctor`: "unix socket, same kernel 6.1.0-13-amd64".
    pub why: String,
}

/// This machine's operating system and kernel release, as the rule needs them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThisMachine {
    /// `std::env::consts::OS`: "linux", "macos", ...
    pub os: &'static str,
    /// `uname -r`, when it could be read.
    pub kernel: Option<String>,
}

impl ThisMachine {
    pub fn read() -> ThisMachine {
        ThisMachine {
            os: std::env::consts::OS,
            kernel: nix::sys::utsname::uname()
                .ok()
                .map(|u| u.release().to_string_lossy().into_owned()),
        }
    }
}

/// The rule of the module documentation. `engine_kernel` is `/info`'s `KernelVersion` (empty
/// when the engine did not say).
pub fn judge(unix_socket: bool, this: &ThisMachine, engine_kernel: &str) -> Locality {
    let (shares_kernel, why) = if !unix_socket {
        (false, "not a unix socket: another machine".to_owned())
    } else if this.os != "linux" {
        (
            false,
            format!(
                "this machine runs {}, so the engine runs in a Linux VM (kernel {})",
                pretty_os(this.os),
                if engine_kernel.is_empty() {
                    "unknown"
                } else {
                    engine_kernel
                }
            ),
        )
    } else if engine_kernel.is_empty() {
        (
            true,
            "unix socket; the engine names no kernel, assumed to be this machine's".to_owned(),
        )
    } else {
        match &this.kernel {
            Some(k) if k != engine_kernel => (
                false,
                format!(
                    "unix socket, but the engine's kernel {engine_kernel} is not this machine's \
                     {k}: it runs in a VM"
                ),
            ),
            _ => (true, format!("unix socket, same kernel {engine_kernel}")),
        }
    };
    Locality { shares_kernel, why }
}

/// The `unix://` socket's file belongs to a user other than root (a rootless engine's).
pub fn socket_owner_is_a_user(host: &str) -> bool {
    use std::os::unix::fs::MetadataExt;
    host.strip_prefix("unix://")
        .and_then(|path| std::fs::metadata(path).ok())
        .is_some_and(|m| m.uid() != 0)
}

fn pretty_os(os: &str) -> &str {
    match os {
        "macos" => "macOS",
        "windows" => "Windows",
        "freebsd" => "FreeBSD",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn linux(kernel: &str) -> ThisMachine {
        ThisMachine {
            os: "linux",
            kernel: Some(kernel.into()),
        }
    }

    #[test]
    fn a_unix_socket_on_the_same_linux_kernel_is_local() {
        let l = judge(true, &linux("6.1.0-13-amd64"), "6.1.0-13-amd64");
        assert!(l.shares_kernel, "{l:?}");
        assert_eq!(l.why, "unix socket, same kernel 6.1.0-13-amd64");
    }

    #[test]
    fn docker_desktop_for_linux_has_a_unix_socket_but_a_vm_kernel() {
        // Docker Desktop for Linux: ~/.docker/desktop/docker.sock, LinuxKit kernel in a VM.
        let l = judge(true, &linux("6.1.0-13-amd64"), "6.10.14-linuxkit");
        assert!(!l.shares_kernel);
        assert!(
            l.why.contains("6.10.14-linuxkit") && l.why.contains("VM"),
            "{}",
            l.why
        );
    }

    #[test]
    fn every_engine_of_a_mac_runs_in_a_vm_whatever_its_socket() {
        let mac = ThisMachine {
            os: "macos",
            kernel: Some("24.1.0".into()),
        };
        let l = judge(true, &mac, "6.10.14-linuxkit");
        assert!(!l.shares_kernel);
        assert_eq!(
            l.why,
            "this machine runs macOS, so the engine runs in a Linux VM (kernel 6.10.14-linuxkit)"
        );
    }

    #[test]
    fn tcp_and_ssh_are_other_machines_and_a_silent_engine_on_a_socket_is_trusted() {
        assert!(!judge(false, &linux("6.1.0"), "6.1.0").shares_kernel);
        assert!(judge(true, &linux("6.1.0"), "").shares_kernel);
        let unknown_here = ThisMachine {
            os: "linux",
            kernel: None,
        };
        assert!(judge(true, &unknown_here, "6.1.0").shares_kernel);
    }

    #[test]
    fn a_socket_a_user_owns_is_a_rootless_engines() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("podman.sock");
        let _l = std::os::unix::net::UnixListener::bind(&path).expect("bind");
        let host = format!("unix://{}", path.display());
        let root = nix::unistd::geteuid().is_root();
        assert_eq!(socket_owner_is_a_user(&host), !root);
        std::os::unix::fs::chown(&path, Some(1000), None).ok();
        if root {
            assert!(socket_owner_is_a_user(&host), "owned by uid 1000 now");
        }
        assert!(!socket_owner_is_a_user("tcp://127.0.0.1:2375"));
        assert!(!socket_owner_is_a_user("unix:///no/such.sock"));
    }

    #[test]
    fn this_machine_is_read() {
        let this = ThisMachine::read();
        assert_eq!(this.os, std::env::consts::OS);
        assert!(this.kernel.as_deref().is_some_and(|k| !k.is_empty()));
    }
}
