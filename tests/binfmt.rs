//! End-to-end tests of binfmt_misc registration on the real kernel. They need root and Debian's
//! qemu-user-static, and they touch only `qemu-loongarch64` (no image in the suite is
//! loongarch64; the aarch64/arm/ppc64le/s390x entries that container tests use are left alone)
//! and scratch entries named `archsmoke-test-*`. A drop guard puts back whatever was there
//! before, whether the test passes or panics.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use archsmoke::arch;
use archsmoke::emulation::binfmt::{BinfmtState, DEFAULT_BINFMT_DIR, Entry};
use archsmoke::emulation::interpreter::{self, DEBIAN_BINFMT_DIR};
use archsmoke::emulation::register::{
    self, InstallOptions, InstallOutcome, RegisterError, RemoveOutcome,
};
use archsmoke::emulation::{ExecMode, decide};
use nix::errno::Errno;

const ARCH: &str = "loongarch64";
const SCRATCH: &str = "archsmoke-test-enoent";

/// Restores the named entries to what they were when the guard was made.
struct Restore {
    dir: PathBuf,
    saved: Vec<(String, Option<Entry>)>,
}

impl Restore {
    fn new(dir: &Path, names: &[&str]) -> Restore {
        let state = BinfmtState::read(dir).expect("binfmt_misc state is readable");
        Restore {
            dir: dir.to_path_buf(),
            saved: names
                .iter()
                .map(|n| (n.to_string(), state.entry(n).cloned()))
                .collect(),
        }
    }
}

impl Drop for Restore {
    fn drop(&mut self) {
        for (name, original) in &self.saved {
            let path = self.dir.join(name);
            if path.exists() {
                if let Err(e) = fs::write(&path, "-1") {
                    eprintln!("restore: cannot remove {}: {e}", path.display());
                }
            }
            if let Some(entry) = original {
                let line = entry.register_line();
                if let Err(e) = fs::write(self.dir.join("register"), &line) {
                    eprintln!("restore: cannot re-register {name} ({line}): {e}");
                } else if !entry.enabled {
                    let _ = fs::write(&path, "0");
                }
            }
        }
    }
}

fn errno_of(result: io::Result<()>) -> Option<Errno> {
    result.err()?.raw_os_error().map(Errno::from_raw)
}

#[test]
fn install_force_and_remove_on_the_real_kernel() {
    // The suite runs as root (`sudo tests/run`); a skip here would hide a broken test bed.
    assert!(
        nix::unistd::geteuid().is_root(),
        "registering binfmt_misc entries needs root: run the suite with `sudo tests/run`"
    );
    let def = arch::lookup(ARCH).expect("loongarch64 is defined");
    let path_var = std::env::var_os("PATH");
    let expected =
        match interpreter::find(def, None, path_var.as_deref(), Path::new(DEBIAN_BINFMT_DIR)) {
            Ok(p) => p,
            Err(e) => {
                panic!("{e}: run `sudo tests/testbed/up.sh`, which installs qemu-user-static")
            }
        };
    let dir = PathBuf::from(DEFAULT_BINFMT_DIR);
    register::ensure_mounted(&dir).expect("binfmt_misc can be mounted");
    let _restore = Restore::new(&dir, &[&def.entry]);
    let opts = InstallOptions::default();

    // Start from no entry, whoever had registered one.
    if dir.join(&def.entry).exists() {
        let removed = register::remove(&[ARCH], &dir).expect("remove existing");
        assert!(matches!(removed[0], RemoveOutcome::Removed { .. }));
    }

    // Install: the kernel shows the entry with flags PF and the interpreter we chose.
    let outcomes = register::install(&[ARCH], &opts).expect("install loongarch64");
    assert_eq!(
        outcomes,
        [InstallOutcome::Registered {
            arch: ARCH.into(),
            entry: def.entry.clone(),
            interpreter: expected.clone(),
            flags: "PF".into(),
            replaced: false,
        }]
    );
    let state = BinfmtState::read(&dir).expect("readable");
    let entry = state.entry(&def.entry).expect("entry registered");
    assert!(entry.enabled);
    assert!(entry.flags.fix_binary && entry.flags.preserve_argv0);
    assert!(!entry.flags.open_binary && !entry.flags.credentials);
    assert_eq!(entry.interpreter, expected);
    for other in arch::definitions() {
        assert_eq!(entry.matches(other), other.name == ARCH, "{}", other.name);
    }

    // The decision sees it, and the emulator's version can be read.
    let host = register::host_arch().expect("host architecture is defined");
    let mode = decide(&host.oci, &def.oci, None, Some(&state)).with_emulator_version();
    let ExecMode::Emulated { emulator } = &mode else {
        panic!("expected emulated, got {mode:?}");
    };
    assert_eq!(emulator.entry, def.entry);
    let version = emulator.version.as_deref().expect("qemu --version answers");
    assert!(
        version.starts_with("qemu-loongarch64 version "),
        "{version}"
    );
    assert!(mode.to_string().starts_with("qemu-loongarch64 "), "{mode}");
    let listing = register::list(&dir).expect("list");
    let row = listing.archs.iter().find(|a| a.arch == ARCH).expect("row");
    assert_eq!(row.entries, std::slice::from_ref(&def.entry));

    // Installing again is refused with the explanation, and the kernel itself says EEXIST.
    let err = register::install(&[ARCH], &opts).expect_err("already registered");
    assert!(matches!(err, RegisterError::AlreadyRegistered { .. }));
    let msg = err.to_string();
    assert!(
        msg.contains("already registered") && msg.contains("--force"),
        "{msg}"
    );
    let line = register::register_line(def, &expected, register::REGISTER_FLAGS);
    assert_eq!(
        errno_of(fs::write(dir.join("register"), &line)),
        Some(Errno::EEXIST)
    );

    // --force replaces it: a different path to the same static QEMU shows the replacement.
    let other_path = PathBuf::from(format!("/usr/bin/{}-static", def.qemu));
    assert_ne!(other_path, expected);
    let forced = InstallOptions {
        force: true,
        interpreter: Some(other_path.clone()),
        ..InstallOptions::default()
    };
    let outcomes = register::install(&[ARCH], &forced).expect("forced install");
    assert!(
        matches!(&outcomes[..], [InstallOutcome::Registered { replaced: true, interpreter, .. }] if *interpreter == other_path),
        "{outcomes:?}"
    );
    let state = BinfmtState::read(&dir).expect("readable");
    assert_eq!(
        state
            .entry(&def.entry)
            .expect("still registered")
            .interpreter,
        other_path
    );

    // Remove, then removing again reports that nothing was there.
    let removed = register::remove(&[ARCH], &dir).expect("remove");
    assert!(matches!(removed[0], RemoveOutcome::Removed { .. }));
    assert!(!dir.join(&def.entry).exists());
    let removed = register::remove(&["loong64"], &dir).expect("remove again");
    assert!(matches!(removed[0], RemoveOutcome::NotRegistered { .. }));

    // The host's own architecture is skipped and nothing is registered for it.
    let host_entry_before = dir.join(&host.entry).exists();
    let outcomes = register::install(&[host.oci.as_str()], &opts).expect("native skip");
    assert!(matches!(
        outcomes[..],
        [InstallOutcome::SkippedNative { .. }]
    ));
    assert_eq!(dir.join(&host.entry).exists(), host_entry_before);
}

#[test]
fn kernel_errnos_behind_the_explanations() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "writing binfmt_misc's register file needs root: run the suite with `sudo tests/run`"
    );
    let dir = PathBuf::from(DEFAULT_BINFMT_DIR);
    register::ensure_mounted(&dir).expect("binfmt_misc can be mounted");
    let _restore = Restore::new(&dir, &[SCRATCH]);
    let register = dir.join("register");
    // A magic no real file starts with, so the entry could do no harm even if it registered.
    let magic = arch::encode_escaped(b"\x7fARCHSMOKE-TEST");
    // Malformed (no type field): EINVAL.
    assert_eq!(
        errno_of(fs::write(&register, format!(":{SCRATCH}::")),),
        Some(Errno::EINVAL)
    );
    // F with an interpreter that does not exist: ENOENT, at registration.
    assert_eq!(
        errno_of(fs::write(
            &register,
            format!(":{SCRATCH}:M::{magic}::/nonexistent/archsmoke-qemu:F"),
        )),
        Some(Errno::ENOENT)
    );
    assert!(!dir.join(SCRATCH).exists());
}
