//! `archsmoke binfmt list | install | remove` as library functions: the only code that writes to
//! binfmt_misc.
//!
//! `install` registers `:qemu-<arch>:M::<magic>:<mask>:<interpreter>:FP` for each architecture
//! asked for. Why these flags:
//!
//! - `F` (fix-binary) opens the interpreter once, at registration, in this mount namespace. The
//!   kernel then uses that open file for every exec, including inside containers whose file
//!   system has no QEMU; without it they fail with "no such file or directory". It is why the
//!   interpreter must be static.
//! - `P` (preserve-argv0) passes the program's own argv[0] on to QEMU. Without it a multi-call
//!   binary (busybox, coreutils' single binary) sees its full path instead of the name it was
//!   invoked by, and `sh -> busybox` runs the wrong applet.
//! - Not `C` (credentials, which implies `O`): tonistiigi/binfmt sets it so that setuid binaries
//!   (sudo, ping, su) work under emulation, but then QEMU, a large program that is no security
//!   boundary, runs with the binary's elevated credentials. A smoke test runs its commands as the
//!   image's user and rarely depends on setuid; Debian leaves `C` off too. Consequence: setuid
//!   bits are ignored in emulated containers. Entries registered by others keep their flags;
//!   `list` shows them.
//!
//! The host's own architecture is never registered (the kernel runs it natively, and an entry
//! would route every native program through QEMU); neither is its 32-bit companion (i386 on
//! x86_64, arm on aarch64) when it comes from `all`, because the CPU runs it natively too. Naming
//! the companion explicitly registers it, for CPUs without 32-bit support (many recent arm64
//! cores lack AArch32).

use std::ffi::OsString;
use std::fmt;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use serde::Serialize;

use super::binfmt::{BinfmtError, BinfmtState, DEFAULT_BINFMT_DIR, Entry};
use super::interpreter::{self, DEBIAN_BINFMT_DIR, InterpreterError};
use crate::arch::{self, ArchDef};

/// The flags archsmoke registers with (see the module documentation).
pub const REGISTER_FLAGS: &str = "FP";

/// Options of [`install`].
#[derive(Debug, Clone)]
pub struct InstallOptions {
    /// `--interpreter PATH`: use this file instead of searching (one architecture only).
    pub interpreter: Option<PathBuf>,
    /// `--force`: replace an existing entry of the same name.
    pub force: bool,
    /// binfmt_misc mount point.
    pub binfmt_dir: PathBuf,
    /// Directories searched for `qemu-<arch>-static` (normally `$PATH`).
    pub search_path: Option<OsString>,
    /// Debian's interpreter directory.
    pub debian_dir: PathBuf,
}

impl Default for InstallOptions {
    fn default() -> Self {
        InstallOptions {
            interpreter: None,
            force: false,
            binfmt_dir: PathBuf::from(DEFAULT_BINFMT_DIR),
            search_path: std::env::var_os("PATH"),
            debian_dir: PathBuf::from(DEBIAN_BINFMT_DIR),
        }
    }
}

/// What `install` did for one architecture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum InstallOutcome {
    /// Registered; `interpreter` and `flags` are read back from the kernel.
    Registered {
        arch: String,
        entry: String,
        interpreter: PathBuf,
        flags: String,
        replaced: bool,
    },
    /// The host's own architecture.
    SkippedNative { arch: String },
    /// The host's 32-bit companion, skipped because it came from `all`.
    SkippedCompat { arch: String, host: String },
    /// Already registered and `all` was asked for without `--force`.
    SkippedExisting { arch: String, entry: String },
    /// No interpreter found and `all` was asked for.
    SkippedNoInterpreter { arch: String },
}

/// What `remove` did for one architecture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum RemoveOutcome {
    Removed { arch: String, entry: String },
    NotRegistered { arch: String, entry: String },
}

/// A failure of `install` or `remove`. Nothing is registered unless every named architecture
/// passed its checks; a kernel error part-way reports what was already done in `done`.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error(
        "unknown architecture `{name}`{}; known: {known}, or `all`",
        suggestion.as_ref().map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default()
    )]
    UnknownArch {
        name: String,
        suggestion: Option<String>,
        known: String,
    },
    #[error("name at least one architecture, or `all`")]
    NoArchitectures,
    #[error("--interpreter names one file, so it applies to one architecture; {count} were named")]
    InterpreterForMany { count: usize },
    #[error("this machine's architecture `{machine}` has no definition in qemu/binfmt.toml")]
    UnknownHost { machine: String },
    #[error("changing binfmt_misc entries needs root; run: {command}")]
    NotRoot { command: String },
    #[error(
        "binfmt_misc is not available: {dir} does not exist (load it with `sudo modprobe \
         binfmt_misc`)"
    )]
    NoBinfmtMisc { dir: PathBuf },
    #[error(
        "binfmt_misc is a Linux kernel feature and this machine runs {os}: the engine runs in a \
         Linux VM, and its emulators are registered inside that VM, not here"
    )]
    NotLinux { os: &'static str },
    #[error("cannot mount binfmt_misc on {dir}: {errno}")]
    Mount { dir: PathBuf, errno: Errno },
    #[error(transparent)]
    Interpreter(#[from] InterpreterError),
    #[error(transparent)]
    State(#[from] BinfmtError),
    #[error(
        "binfmt_misc entry `{entry}` is already registered ({path}); use --force to replace it",
        path = .dir.join(.entry).display()
    )]
    AlreadyRegistered { entry: String, dir: PathBuf },
    #[error("the kernel rejected the registration line as malformed (EINVAL): {line}")]
    Malformed { line: String },
    #[error(
        "the kernel cannot open interpreter {} (ENOENT; with F it opens it at registration)",
        interpreter.display()
    )]
    InterpreterMissing { interpreter: PathBuf },
    #[error(
        "binfmt_misc entry `{entry}` was registered, but the kernel shows flags `{flags}` and \
         interpreter {}",
        interpreter.display()
    )]
    NotAsRegistered {
        entry: String,
        flags: String,
        interpreter: PathBuf,
    },
    #[error("writing {path} failed: {source}")]
    Kernel { path: PathBuf, source: io::Error },
}

/// The architectures named on the command line: definition names, OCI names, aliases or `all`.
/// `bool` is true when the architecture was named, false when it came from `all`.
pub fn resolve_archs<S: AsRef<str>>(
    names: &[S],
) -> Result<Vec<(&'static ArchDef, bool)>, RegisterError> {
    if names.is_empty() {
        return Err(RegisterError::NoArchitectures);
    }
    let mut out: Vec<(&'static ArchDef, bool)> = Vec::new();
    let mut push = |def: &'static ArchDef, explicit: bool| match out
        .iter_mut()
        .find(|(d, _)| d.name == def.name)
    {
        Some(slot) => slot.1 |= explicit,
        None => out.push((def, explicit)),
    };
    for name in names {
        let name = name.as_ref();
        if name.eq_ignore_ascii_case("all") {
            arch::definitions().iter().for_each(|d| push(d, false));
            continue;
        }
        match arch::lookup(name) {
            Some(def) => push(def, true),
            None => return Err(unknown_arch(name)),
        }
    }
    Ok(out)
}

fn unknown_arch(name: &str) -> RegisterError {
    let all = arch::definitions();
    let suggestion = all
        .iter()
        .flat_map(|d| d.names())
        .map(|n| {
            (
                strsim::jaro_winkler(&n.to_ascii_lowercase(), &name.to_ascii_lowercase()),
                n,
            )
        })
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, n)| n.to_string());
    let known = all
        .iter()
        .map(|d| format!("{} ({})", d.name, d.oci))
        .collect::<Vec<_>>()
        .join(", ");
    RegisterError::UnknownArch {
        name: name.to_string(),
        suggestion,
        known,
    }
}

/// This machine's architecture, from `uname -m`.
/// This machine's platform (`linux/<arch>`), for when no engine says what it runs.
pub fn host_platform() -> crate::platform::Platform {
    let arch = match host_arch() {
        Ok(def) => def.oci.clone(),
        Err(_) => std::env::consts::ARCH.to_owned(),
    };
    crate::platform::Platform::new("linux", &arch, None)
}

pub fn host_arch() -> Result<&'static ArchDef, RegisterError> {
    let uts = nix::sys::utsname::uname().map_err(|e| RegisterError::UnknownHost {
        machine: format!("(uname failed: {e})"),
    })?;
    let machine = uts.machine().to_string_lossy().into_owned();
    arch::lookup(&machine).ok_or(RegisterError::UnknownHost { machine })
}

/// One architecture's planned action.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Skip(InstallOutcome),
    Register {
        def: &'static ArchDef,
        interpreter: PathBuf,
        replace: bool,
    },
}

/// Decides what to do for each architecture without changing anything: skips, interpreter
/// search and checks, conflicts with existing entries.
fn plan(
    archs: &[(&'static ArchDef, bool)],
    opts: &InstallOptions,
    host: &ArchDef,
    state: &BinfmtState,
) -> Result<Vec<Step>, RegisterError> {
    let mut steps = Vec::new();
    for &(def, explicit) in archs {
        if def.name == host.name {
            steps.push(Step::Skip(InstallOutcome::SkippedNative {
                arch: def.name.clone(),
            }));
            continue;
        }
        if !explicit && def.is_compat_on(host) {
            steps.push(Step::Skip(InstallOutcome::SkippedCompat {
                arch: def.name.clone(),
                host: host.name.clone(),
            }));
            continue;
        }
        let exists = state.entry(&def.entry).is_some();
        if exists && !opts.force {
            if explicit {
                return Err(RegisterError::AlreadyRegistered {
                    entry: def.entry.clone(),
                    dir: opts.binfmt_dir.clone(),
                });
            }
            steps.push(Step::Skip(InstallOutcome::SkippedExisting {
                arch: def.name.clone(),
                entry: def.entry.clone(),
            }));
            continue;
        }
        let found = interpreter::find(
            def,
            opts.interpreter.as_deref(),
            opts.search_path.as_deref(),
            &opts.debian_dir,
        );
        let interpreter = match found {
            Ok(p) => p,
            Err(InterpreterError::NotFound { .. }) if !explicit => {
                steps.push(Step::Skip(InstallOutcome::SkippedNoInterpreter {
                    arch: def.name.clone(),
                }));
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        interpreter::check(&interpreter, host)?;
        steps.push(Step::Register {
            def,
            interpreter,
            replace: exists,
        });
    }
    Ok(steps)
}

/// The registration line for `def` with `interpreter` and `flags`.
pub fn register_line(def: &ArchDef, interpreter: &Path, flags: &str) -> String {
    format!(
        ":{}:M::{}:{}:{}:{flags}",
        def.entry,
        def.magic_escaped(),
        def.mask_escaped(),
        interpreter.display()
    )
}

/// Registers QEMU for `names` (see the module documentation for flags and skips).
///
/// Needs root. Mounts binfmt_misc when it is not mounted. Checks everything first: nothing is
/// registered unless every named architecture has an acceptable interpreter and no conflicting
/// entry (or `force`).
pub fn install<S: AsRef<str>>(
    names: &[S],
    opts: &InstallOptions,
) -> Result<Vec<InstallOutcome>, RegisterError> {
    let archs = resolve_archs(names)?;
    linux_only()?;
    if opts.interpreter.is_some() && archs.len() > 1 {
        return Err(RegisterError::InterpreterForMany { count: archs.len() });
    }
    require_root(|| install_command(names, opts))?;
    let host = host_arch()?;
    ensure_mounted(&opts.binfmt_dir)?;
    let state = BinfmtState::read(&opts.binfmt_dir)?;
    let steps = plan(&archs, opts, host, &state)?;
    let mut outcomes = Vec::with_capacity(steps.len());
    for step in steps {
        let (def, interpreter, replace) = match step {
            Step::Skip(outcome) => {
                outcomes.push(outcome);
                continue;
            }
            Step::Register {
                def,
                interpreter,
                replace,
            } => (def, interpreter, replace),
        };
        if replace {
            remove_entry(&opts.binfmt_dir, &def.entry)?;
        }
        let line = register_line(def, &interpreter, REGISTER_FLAGS);
        let path = opts.binfmt_dir.join("register");
        if let Err(e) = write_once(&path, line.as_bytes()) {
            // Do not leave the machine with less than it had: put the replaced entry back.
            if let Some(old) = state.entry(&def.entry) {
                let _ = write_once(&path, old.register_line().as_bytes());
            }
            return Err(explain_register_error(
                e,
                &path,
                &def.entry,
                &line,
                &interpreter,
                opts,
            ));
        }
        let shown = read_entry(&opts.binfmt_dir, &def.entry)?;
        if !(shown.flags.fix_binary && shown.flags.preserve_argv0)
            || shown.interpreter != interpreter
        {
            return Err(RegisterError::NotAsRegistered {
                entry: def.entry.clone(),
                flags: shown.flags.to_string(),
                interpreter: shown.interpreter,
            });
        }
        outcomes.push(InstallOutcome::Registered {
            arch: def.name.clone(),
            entry: def.entry.clone(),
            interpreter: shown.interpreter,
            flags: shown.flags.to_string(),
            replaced: replace,
        });
    }
    Ok(outcomes)
}

/// Removes the `qemu-<arch>` entries of `names` (whoever registered them) by writing `-1`.
pub fn remove<S: AsRef<str>>(
    names: &[S],
    binfmt_dir: &Path,
) -> Result<Vec<RemoveOutcome>, RegisterError> {
    let archs = resolve_archs(names)?;
    linux_only()?;
    require_root(|| {
        let mut cmd = String::from("sudo archsmoke binfmt remove");
        names.iter().for_each(|n| push_arg(&mut cmd, n.as_ref()));
        cmd
    })?;
    let mut outcomes = Vec::new();
    for (def, _) in archs {
        let removed = remove_entry(binfmt_dir, &def.entry)?;
        let (arch, entry) = (def.name.clone(), def.entry.clone());
        outcomes.push(if removed {
            RemoveOutcome::Removed { arch, entry }
        } else {
            RemoveOutcome::NotRegistered { arch, entry }
        });
    }
    Ok(outcomes)
}

/// Writes `-1` to `<dir>/<entry>`; false when there was no such entry.
fn remove_entry(dir: &Path, entry: &str) -> Result<bool, RegisterError> {
    let path = dir.join(entry);
    match write_once(&path, b"-1") {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(match Errno::from_raw(e.raw_os_error().unwrap_or(0)) {
            Errno::EPERM | Errno::EACCES => RegisterError::NotRoot {
                command: format!("sudo archsmoke binfmt remove {entry}"),
            },
            _ => RegisterError::Kernel { path, source: e },
        }),
    }
}

/// binfmt_misc parses each write(2) as one complete command, so the bytes go in one call.
fn write_once(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut f = std::fs::OpenOptions::new().write(true).open(path)?;
    let n = f.write(bytes)?;
    if n != bytes.len() {
        return Err(io::Error::new(
            io::ErrorKind::WriteZero,
            format!("short write: {n} of {} bytes", bytes.len()),
        ));
    }
    Ok(())
}

fn read_entry(dir: &Path, entry: &str) -> Result<Entry, RegisterError> {
    let path = dir.join(entry);
    let text = std::fs::read_to_string(&path).map_err(|source| BinfmtError::ReadFile {
        path: path.clone(),
        source,
    })?;
    Entry::parse(entry, &text).map_err(|problem| BinfmtError::Malformed { path, problem }.into())
}

/// Turns the kernel's answer to a registration into words (see fs/binfmt_misc.c:
/// `bm_register_write`, `create_entry`).
fn explain_register_error(
    err: io::Error,
    path: &Path,
    entry: &str,
    line: &str,
    interpreter: &Path,
    opts: &InstallOptions,
) -> RegisterError {
    let errno = err.raw_os_error().map(Errno::from_raw);
    match errno {
        Some(Errno::EEXIST) => RegisterError::AlreadyRegistered {
            entry: entry.to_string(),
            dir: opts.binfmt_dir.clone(),
        },
        Some(Errno::EINVAL) => RegisterError::Malformed {
            line: line.to_string(),
        },
        Some(Errno::ENOENT) => RegisterError::InterpreterMissing {
            interpreter: interpreter.to_path_buf(),
        },
        Some(Errno::EPERM | Errno::EACCES) => RegisterError::NotRoot {
            command: install_command(&[entry.trim_start_matches("qemu-")], opts),
        },
        _ => RegisterError::Kernel {
            path: path.to_path_buf(),
            source: err,
        },
    }
}

fn require_root(command: impl FnOnce() -> String) -> Result<(), RegisterError> {
    if nix::unistd::geteuid().is_root() {
        Ok(())
    } else {
        Err(RegisterError::NotRoot { command: command() })
    }
}

/// The command line that repeats this install as root.
fn install_command<S: AsRef<str>>(names: &[S], opts: &InstallOptions) -> String {
    let mut cmd = String::from("sudo archsmoke binfmt install");
    if opts.force {
        cmd.push_str(" --force");
    }
    if let Some(p) = &opts.interpreter {
        cmd.push_str(" --interpreter");
        push_arg(&mut cmd, &p.to_string_lossy());
    }
    names.iter().for_each(|n| push_arg(&mut cmd, n.as_ref()));
    cmd
}

/// Appends a shell word, single-quoted when it holds anything but plain characters.
fn push_arg(cmd: &mut String, arg: &str) {
    cmd.push(' ');
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=+,".contains(c));
    if plain {
        cmd.push_str(arg);
    } else {
        cmd.push('\'');
        cmd.push_str(&arg.replace('\'', r"'\''"));
        cmd.push('\'');
    }
}

/// binfmt_misc exists only in a Linux kernel: anywhere else (macOS with Docker Desktop, colima,
/// OrbStack or Rancher Desktop) the engine's emulators live in its Linux VM.
pub fn linux_only() -> Result<(), RegisterError> {
    match std::env::consts::OS {
        "linux" => Ok(()),
        "macos" => Err(RegisterError::NotLinux { os: "macOS" }),
        "windows" => Err(RegisterError::NotLinux { os: "Windows" }),
        other => Err(RegisterError::NotLinux { os: other }),
    }
}

/// How the Linux VM of each laptop engine manages its emulators: the hint of
/// [`RegisterError::NotLinux`].
pub const VM_EMULATORS_HINT: &str = "the engine's VM registers them: Docker Desktop (Settings > \
     General > \"Use Rosetta for x86_64/amd64 emulation on Apple Silicon\"; QEMU otherwise), \
     colima (`colima start --vm-type vz --vz-rosetta`; QEMU otherwise), OrbStack (Rosetta by \
     default on Apple Silicon, in its settings), Rancher Desktop (Preferences > Virtual Machine > Emulation: \
     VZ + Rosetta). For other architectures, register QEMU inside the VM with `docker run \
     --privileged --rm tonistiigi/binfmt --install all`. See what the engine runs with \
     `archsmoke doctor --probe`.";

/// Mounts binfmt_misc on `dir` unless its `register` file shows it is mounted already.
/// Returns true when it mounted.
pub fn ensure_mounted(dir: &Path) -> Result<bool, RegisterError> {
    if std::fs::symlink_metadata(dir.join("register")).is_ok() {
        return Ok(false);
    }
    if !dir.is_dir() {
        return Err(RegisterError::NoBinfmtMisc {
            dir: dir.to_path_buf(),
        });
    }
    mount_binfmt_misc(dir)?;
    Ok(true)
}

#[cfg(target_os = "linux")]
fn mount_binfmt_misc(dir: &Path) -> Result<(), RegisterError> {
    nix::mount::mount(
        Some("binfmt_misc"),
        dir,
        Some("binfmt_misc"),
        nix::mount::MsFlags::empty(),
        None::<&str>,
    )
    .map_err(|errno| match errno {
        Errno::EPERM | Errno::EACCES => RegisterError::NotRoot {
            command: format!("sudo mount -t binfmt_misc binfmt_misc {}", dir.display()),
        },
        errno => RegisterError::Mount {
            dir: dir.to_path_buf(),
            errno,
        },
    })
}

#[cfg(not(target_os = "linux"))]
fn mount_binfmt_misc(_dir: &Path) -> Result<(), RegisterError> {
    linux_only()
}

/// What `list` shows: the kernel's state and, per definition, how this machine runs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listing {
    pub state: BinfmtState,
    /// This machine's architecture (definition name), when known.
    pub host: Option<String>,
    pub archs: Vec<ArchListing>,
}

/// One definition in a [`Listing`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArchListing {
    pub arch: String,
    pub oci: String,
    /// `native`, `compat` (32-bit mode of the host CPU) or `foreign`.
    pub host_relation: &'static str,
    /// Entries whose magic claims this architecture, by name.
    pub entries: Vec<String>,
}

/// Reads `binfmt_dir` and relates every entry to the definitions. Needs no root.
pub fn list(binfmt_dir: &Path) -> Result<Listing, BinfmtError> {
    let state = BinfmtState::read(binfmt_dir)?;
    let host = host_arch().ok();
    Ok(listing(state, host))
}

fn listing(state: BinfmtState, host: Option<&ArchDef>) -> Listing {
    let archs = arch::definitions()
        .iter()
        .map(|def| ArchListing {
            arch: def.name.clone(),
            oci: def.oci.clone(),
            host_relation: match host {
                Some(h) if h.name == def.name => "native",
                Some(h) if def.is_compat_on(h) => "compat",
                _ => "foreign",
            },
            entries: state.matching(def).map(|e| e.name.clone()).collect(),
        })
        .collect();
    Listing {
        host: host.map(|h| h.name.clone()),
        state,
        archs,
    }
}

impl fmt::Display for Listing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.state;
        let status = match (s.mounted, s.enabled) {
            (false, _) => "not mounted",
            (true, false) => "mounted, disabled",
            (true, true) => "mounted, enabled",
        };
        writeln!(f, "binfmt_misc at {}: {status}", s.dir.display())?;
        writeln!(
            f,
            "{:<12} {:<9} {:<8} {:<20} {:<6} {:<8} INTERPRETER",
            "ARCH", "OCI", "HOST", "ENTRY", "FLAGS", "KIND"
        )?;
        for a in &self.archs {
            let host = if a.host_relation == "foreign" {
                "-"
            } else {
                a.host_relation
            };
            if a.entries.is_empty() {
                writeln!(f, "{:<12} {:<9} {:<8} -", a.arch, a.oci, host)?;
            }
            for name in &a.entries {
                let Some(e) = s.entry(name) else { continue };
                let entry = if e.enabled {
                    e.name.clone()
                } else {
                    format!("{} (off)", e.name)
                };
                writeln!(
                    f,
                    "{:<12} {:<9} {:<8} {:<20} {:<6} {:<8} {}",
                    a.arch,
                    a.oci,
                    host,
                    entry,
                    e.flags.to_string(),
                    e.kind.to_string(),
                    e.interpreter.display()
                )?;
            }
        }
        let others: Vec<&Entry> = s
            .entries
            .iter()
            .filter(|e| !self.archs.iter().any(|a| a.entries.contains(&e.name)))
            .collect();
        if !others.is_empty() {
            writeln!(f, "other entries (not for a known architecture):")?;
            for e in others {
                writeln!(
                    f,
                    "  {} -> {} [{}]",
                    e.name,
                    e.interpreter.display(),
                    e.flags
                )?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for InstallOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InstallOutcome::Registered {
                arch,
                entry,
                interpreter,
                flags,
                replaced,
            } => write!(
                f,
                "{arch}: {} {entry} -> {} (flags {flags})",
                if *replaced { "replaced" } else { "registered" },
                interpreter.display()
            ),
            InstallOutcome::SkippedNative { arch } => write!(
                f,
                "{arch}: skipped, this machine's own architecture runs without an emulator"
            ),
            InstallOutcome::SkippedCompat { arch, host } => write!(
                f,
                "{arch}: skipped, {host} CPUs run it natively in 32-bit mode (name it explicitly \
                 to register QEMU anyway)"
            ),
            InstallOutcome::SkippedExisting { arch, entry } => {
                write!(
                    f,
                    "{arch}: skipped, {entry} is already registered (--force replaces it)"
                )
            }
            InstallOutcome::SkippedNoInterpreter { arch } => write!(
                f,
                "{arch}: skipped, no qemu-{arch}-static found (apt-get install qemu-user-static)"
            ),
        }
    }
}

impl fmt::Display for RemoveOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RemoveOutcome::Removed { arch, entry } => write!(f, "{arch}: removed {entry}"),
            RemoveOutcome::NotRegistered { arch, entry } => {
                write!(f, "{arch}: {entry} was not registered")
            }
        }
    }
}

#[cfg(test)]
mod tests;
