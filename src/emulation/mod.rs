//! Emulation: how an engine will run a platform, and the binfmt_misc entries that decide it.
//!
//! This module owns the decision [`decide`] (native, native in 32-bit compat mode, emulated by a
//! binfmt_misc entry, or unavailable with the command that fixes it), which is pure: it looks at
//! architecture names and an already-read [`BinfmtState`], never at Docker or the file system.
//! Around it: `binfmt` (reading the kernel's state),
//! `interpreter` (finding and vetting static QEMU binaries) and `register` (`archsmoke binfmt
//! install | remove | list`); the architectures themselves are [`crate::arch`]'s. The engine's
//! architecture, not this machine's, is what counts: for a remote engine the caller passes no
//! binfmt state and runs a probe container instead. The answer's type, [`ExecMode`], is plain
//! data of the reports' contract ([`crate::mode`]); callers ask through
//! [`crate::profile::EngineProfile::mode`], which adds the rules about the engine's operating
//! system.

pub mod binfmt;
pub mod interpreter;
pub mod policy;
pub mod register;

use std::io::Read as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::arch;

pub use crate::arch::ArchDef;
pub use binfmt::{BinfmtState, EmulatorKind, Entry, Flags};
pub use policy::Policy;

pub use crate::mode::{Emulator, ExecMode};

// The contract's types get their emulation-specific constructors here, beside what they need,
// so that `crate::mode` stays plain data.
impl Emulator {
    fn from_entry(e: &Entry) -> Emulator {
        Emulator {
            entry: e.name.clone(),
            interpreter: e.interpreter.clone(),
            flags: e.flags.to_string(),
            kind: e.kind,
            version: None,
        }
    }
}

impl ExecMode {
    /// Fills in the emulator's version by running its interpreter (see [`emulator_version`]).
    pub fn with_emulator_version(mut self) -> ExecMode {
        if let ExecMode::Emulated { emulator } = &mut self {
            emulator.version = emulator_version(&emulator.interpreter);
        }
        self
    }
}

/// Decides how an engine of `engine_arch` runs `target_arch` (OCI names; uname spellings and
/// other aliases of `qemu/binfmt.toml` are accepted too). `binfmt` is the engine host's
/// binfmt_misc state, or `None` when the engine is not local.
///
/// The rules, in order:
///
/// 1. Same architecture: native.
/// 2. An enabled entry whose magic accepts the target's ELF header: emulated. This comes before
///    the compat check because the kernel tries binfmt_misc handlers before its native ELF loader
///    (binfmt_misc inserts itself at the head of the format list), so a qemu-i386 entry on an
///    amd64 host does run 386 binaries under QEMU. Such an entry without `F` makes the platform
///    unavailable: the kernel would open the interpreter path inside each container's file
///    system, where it does not exist (`exec ...: no such file or directory`).
/// 3. 32-bit companion of the engine's architecture (386 on amd64, arm on arm64): native in
///    compat mode. Some CPUs lack it (many recent arm64 cores have no AArch32); only a probe
///    container tells, which the caller runs.
/// 4. Otherwise unavailable, with the fix for what is missing: binfmt_misc state unknown
///    (remote engine), not mounted, globally disabled, a matching entry disabled, or no entry.
pub fn decide(
    engine_arch: &str,
    target_arch: &str,
    target_variant: Option<&str>,
    binfmt: Option<&BinfmtState>,
) -> ExecMode {
    let platform = match target_variant {
        Some(v) => format!("linux/{target_arch}/{v}"),
        None => format!("linux/{target_arch}"),
    };
    let engine = arch::lookup(engine_arch);
    let target = arch::lookup(target_arch);
    let same = match (engine, target) {
        (Some(e), Some(t)) => e.name == t.name,
        _ => engine_arch.trim().eq_ignore_ascii_case(target_arch.trim()),
    };
    if same {
        return ExecMode::Native { compat: false };
    }
    let Some(target) = target else {
        return ExecMode::Unavailable {
            reason: format!(
                "archsmoke has no emulator definition for architecture `{target_arch}` \
                 ({platform})"
            ),
            hint: "add a table for it to qemu/binfmt.toml (see qemu/README.md) and rebuild \
                   archsmoke"
                .into(),
        };
    };
    let install = format!("sudo archsmoke binfmt install {}", target.oci);
    let apt_install = format!("sudo apt-get install qemu-user-static && {install}");

    if let Some(state) = binfmt.filter(|s| s.mounted && s.enabled) {
        let active: Vec<&Entry> = state.matching(target).filter(|e| e.enabled).collect();
        if let Some(e) = active.iter().find(|e| e.flags.fix_binary) {
            return ExecMode::Emulated {
                emulator: Emulator::from_entry(e),
            };
        }
        if let Some(e) = active.first() {
            return ExecMode::Unavailable {
                reason: format!(
                    "binfmt_misc entry `{}` hands {platform} executables to {}, but without the F \
                     flag the kernel looks for that file inside each container, where it does \
                     not exist",
                    e.name,
                    e.interpreter.display()
                ),
                hint: format!("sudo archsmoke binfmt install --force {}", target.oci),
            };
        }
    }

    if let Some(engine) = engine {
        if target.is_compat_on(engine) {
            return ExecMode::Native { compat: true };
        }
    }

    let Some(state) = binfmt else {
        return ExecMode::Unavailable {
            reason: format!(
                "the engine is not on this machine, so its binfmt_misc entries cannot be read; \
                 only a probe container shows whether it runs {platform}"
            ),
            hint: format!(
                "docker run --privileged --rm tonistiigi/binfmt --install {} (against that engine)",
                target.oci
            ),
        };
    };
    let dir = state.dir.display();
    if !state.mounted {
        return ExecMode::Unavailable {
            reason: format!(
                "binfmt_misc is not mounted at {dir}, so the kernel cannot hand {platform} \
                 executables to an emulator"
            ),
            // `binfmt install` mounts it first.
            hint: apt_install,
        };
    }
    // What the entries need, whether or not binfmt_misc is globally enabled.
    let matching: Vec<&Entry> = state.matching(target).collect();
    let entry_fix = if matching.iter().any(|e| e.enabled && e.flags.fix_binary) {
        None
    } else if let Some(e) = matching.iter().find(|e| !e.enabled && e.flags.fix_binary) {
        Some((
            format!("binfmt_misc entry `{}` for {platform} is disabled", e.name),
            format!("echo 1 | sudo tee {dir}/{}", e.name),
        ))
    } else if let Some(e) = matching.iter().find(|e| e.enabled) {
        Some((
            format!(
                "binfmt_misc entry `{}` for {platform} lacks the F flag",
                e.name
            ),
            format!("sudo archsmoke binfmt install --force {}", target.oci),
        ))
    } else if let Some(e) = matching.first() {
        Some((
            format!(
                "binfmt_misc entry `{}` for {platform} is disabled and lacks the F flag",
                e.name
            ),
            format!("sudo archsmoke binfmt install --force {}", target.oci),
        ))
    } else {
        Some((
            format!("no binfmt_misc entry on this machine runs {platform} executables"),
            apt_install.clone(),
        ))
    };
    if !state.enabled {
        let enable = format!("echo 1 | sudo tee {dir}/status");
        let (reason, hint) = match entry_fix {
            None => (String::new(), enable),
            Some((r, h)) => (format!("; also, {r}"), format!("{enable} && {h}")),
        };
        return ExecMode::Unavailable {
            reason: format!(
                "binfmt_misc is disabled ({dir}/status), so no emulator runs {platform}{reason}"
            ),
            hint,
        };
    }
    match entry_fix {
        Some((reason, hint)) => ExecMode::Unavailable { reason, hint },
        // Unreachable in practice: an enabled F entry returned Emulated above.
        None => ExecMode::Unavailable {
            reason: format!("no usable binfmt_misc entry runs {platform}"),
            hint: apt_install,
        },
    }
}

/// How long `<interpreter> --version` may take before it is killed.
const VERSION_TIMEOUT: Duration = Duration::from_secs(3);

/// First non-empty line of `<interpreter> --version` (`qemu-aarch64 version 7.2.22 (Debian
/// 1:7.2+dfsg-7+deb12u18+b3)`), or `None` when it cannot be run, fails, prints nothing, or takes
/// longer than a few seconds (then it is killed).
pub fn emulator_version(interpreter: &Path) -> Option<String> {
    // Run the file under its own name: Debian's `<arch>-binfmt-P` links make QEMU refuse to run
    // outside binfmt_misc ("has to be run using kernel binfmt-misc subsystem").
    let program = std::fs::canonicalize(interpreter).unwrap_or_else(|_| interpreter.to_path_buf());
    let mut child = Command::new(program)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let mut stdout = child.stdout.take()?;
    // Read on a thread so that a child that never closes stdout cannot block us past the
    // deadline; at most 64 KiB, a version banner is a few lines.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = (&mut stdout).take(64 * 1024).read_to_end(&mut buf);
        let _ = tx.send(buf);
    });
    let deadline = Instant::now() + VERSION_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    if !status?.success() {
        return None;
    }
    // The child has exited, so its stdout is closed unless it left a process holding it.
    let grace = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(500));
    let out = rx.recv_timeout(grace).ok()?;
    String::from_utf8_lossy(&out)
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_string)
}

#[cfg(test)]
mod tests;
