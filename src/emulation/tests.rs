//! Unit tests of the ExecMode decision and its presentation.

use std::path::PathBuf;

use super::*;
use crate::emulation::binfmt::Rule;

/// An entry built from a definition's own magic (as QEMU registers it) with the given flags.
fn qemu_entry(arch: &str, flags: &str, enabled: bool) -> Entry {
    let def = arch::lookup(arch).expect("known architecture");
    Entry {
        name: def.entry.clone(),
        enabled,
        interpreter: PathBuf::from(format!("/usr/libexec/qemu-binfmt/{}-binfmt-P", def.name)),
        flags: Flags::parse(flags),
        rule: Rule::Magic {
            offset: 0,
            magic: def.magic.clone(),
            mask: Some(def.mask.clone()),
        },
        kind: EmulatorKind::Qemu,
    }
}

fn state(entries: Vec<Entry>) -> BinfmtState {
    BinfmtState {
        dir: PathBuf::from("/proc/sys/fs/binfmt_misc"),
        mounted: true,
        enabled: true,
        entries,
    }
}

fn unavailable(mode: &ExecMode) -> (&str, &str) {
    match mode {
        ExecMode::Unavailable { reason, hint } => (reason, hint),
        other => panic!("expected unavailable, got {other:?}"),
    }
}

#[test]
fn same_architecture_is_native_whatever_the_spelling() {
    let empty = state(vec![]);
    for (engine, target) in [
        ("amd64", "amd64"),
        ("x86_64", "amd64"),
        ("arm64", "aarch64"),
        ("aarch64", "arm64"),
        ("s390x", "s390x"),
    ] {
        assert_eq!(
            decide(engine, target, None, Some(&empty)),
            ExecMode::Native { compat: false },
            "{engine} running {target}"
        );
    }
    assert_eq!(
        decide("arm64", "arm64", Some("v8"), None),
        ExecMode::Native { compat: false }
    );
}

#[test]
fn matching_entry_with_f_is_emulated() {
    let s = state(vec![
        qemu_entry("aarch64", "POF", true),
        qemu_entry("s390x", "F", true),
    ]);
    let mode = decide("amd64", "arm64", Some("v8"), Some(&s));
    let ExecMode::Emulated { emulator } = &mode else {
        panic!("expected emulated, got {mode:?}");
    };
    assert_eq!(emulator.entry, "qemu-aarch64");
    assert_eq!(emulator.flags, "POF");
    assert_eq!(emulator.kind, EmulatorKind::Qemu);
    assert_eq!(emulator.version, None, "decide runs nothing");
    let ExecMode::Emulated { emulator } = decide("amd64", "s390x", None, Some(&s)) else {
        panic!("s390x should be emulated");
    };
    assert_eq!(emulator.entry, "qemu-s390x");
}

#[test]
fn matching_entry_wins_over_compat_because_binfmt_runs_first() {
    let s = state(vec![qemu_entry("i386", "PF", true)]);
    let ExecMode::Emulated { emulator } = decide("amd64", "386", None, Some(&s)) else {
        panic!("a qemu-i386 entry intercepts 386 binaries on amd64");
    };
    assert_eq!(emulator.entry, "qemu-i386");
}

#[test]
fn compat_pairs_are_native_in_32_bit_mode() {
    let empty = state(vec![]);
    assert_eq!(
        decide("amd64", "386", None, Some(&empty)),
        ExecMode::Native { compat: true }
    );
    assert_eq!(
        decide("arm64", "arm", Some("v7"), Some(&empty)),
        ExecMode::Native { compat: true }
    );
    // Remote engine: the kernel's entries are unknown, compat still holds.
    assert_eq!(
        decide("arm64", "arm", Some("v6"), None),
        ExecMode::Native { compat: true }
    );
    // Not the other way round.
    assert!(matches!(
        decide("386", "amd64", None, Some(&empty)),
        ExecMode::Unavailable { .. }
    ));
    assert!(matches!(
        decide("arm", "arm64", None, Some(&empty)),
        ExecMode::Unavailable { .. }
    ));
}

#[test]
fn entry_without_f_is_unavailable_with_force_hint() {
    let s = state(vec![qemu_entry("aarch64", "P", true)]);
    let mode = decide("amd64", "arm64", None, Some(&s));
    let (reason, hint) = unavailable(&mode);
    assert!(
        reason.contains("qemu-aarch64") && reason.contains("F flag"),
        "{reason}"
    );
    assert_eq!(hint, "sudo archsmoke binfmt install --force arm64");
    // Another entry with F for the same architecture is enough.
    let mut rosetta = qemu_entry("x86_64", "OCF", true);
    rosetta.name = "rosetta".into();
    rosetta.kind = EmulatorKind::Rosetta;
    let s = state(vec![qemu_entry("x86_64", "P", true), rosetta]);
    let ExecMode::Emulated { emulator } = decide("arm64", "amd64", None, Some(&s)) else {
        panic!("rosetta has F");
    };
    assert_eq!(emulator.entry, "rosetta");
    assert_eq!(emulator.kind, EmulatorKind::Rosetta);
}

#[test]
fn no_entry_hints_at_installing_qemu() {
    let s = state(vec![qemu_entry("aarch64", "F", true)]);
    let mode = decide("amd64", "riscv64", None, Some(&s));
    let (reason, hint) = unavailable(&mode);
    assert!(reason.contains("linux/riscv64"), "{reason}");
    assert_eq!(
        hint,
        "sudo apt-get install qemu-user-static && sudo archsmoke binfmt install riscv64"
    );
}

#[test]
fn disabled_entry_hints_at_enabling_it() {
    let s = state(vec![qemu_entry("ppc64le", "POF", false)]);
    let mode = decide("amd64", "ppc64le", None, Some(&s));
    let (reason, hint) = unavailable(&mode);
    assert!(reason.contains("disabled"), "{reason}");
    assert_eq!(
        hint,
        "echo 1 | sudo tee /proc/sys/fs/binfmt_misc/qemu-ppc64le"
    );
}

#[test]
fn globally_disabled_binfmt_misc() {
    let mut s = state(vec![qemu_entry("aarch64", "F", true)]);
    s.enabled = false;
    let mode = decide("amd64", "arm64", None, Some(&s));
    let (reason, hint) = unavailable(&mode);
    assert!(reason.contains("disabled"), "{reason}");
    assert_eq!(hint, "echo 1 | sudo tee /proc/sys/fs/binfmt_misc/status");
    // Disabled and no entry: both fixes, in order.
    let mode = decide("amd64", "s390x", None, Some(&s));
    let (_, hint) = unavailable(&mode);
    assert_eq!(
        hint,
        "echo 1 | sudo tee /proc/sys/fs/binfmt_misc/status && sudo apt-get install \
         qemu-user-static && sudo archsmoke binfmt install s390x"
    );
    // Compat still runs natively: binfmt_misc is not involved.
    assert_eq!(
        decide("amd64", "386", None, Some(&s)),
        ExecMode::Native { compat: true }
    );
}

#[test]
fn unmounted_binfmt_misc() {
    let s = BinfmtState {
        dir: PathBuf::from("/proc/sys/fs/binfmt_misc"),
        mounted: false,
        enabled: false,
        entries: vec![],
    };
    let mode = decide("amd64", "arm64", None, Some(&s));
    let (reason, hint) = unavailable(&mode);
    assert!(reason.contains("not mounted"), "{reason}");
    assert!(
        hint.ends_with("sudo archsmoke binfmt install arm64"),
        "{hint}"
    );
}

#[test]
fn remote_engine_needs_a_probe() {
    let mode = decide("amd64", "arm64", None, None);
    let (reason, hint) = unavailable(&mode);
    assert!(reason.contains("probe"), "{reason}");
    assert!(hint.contains("tonistiigi/binfmt --install arm64"), "{hint}");
}

#[test]
fn unknown_target_architecture() {
    let mode = decide("amd64", "sparc64", None, Some(&state(vec![])));
    let (reason, hint) = unavailable(&mode);
    assert!(reason.contains("sparc64"), "{reason}");
    assert!(hint.contains("qemu/binfmt.toml"), "{hint}");
    // An unknown engine architecture still compares names.
    assert_eq!(
        decide("sparc64", "sparc64", None, None),
        ExecMode::Native { compat: false }
    );
}

#[test]
fn display_is_short() {
    assert_eq!(ExecMode::Native { compat: false }.to_string(), "native");
    assert_eq!(
        ExecMode::Native { compat: true }.to_string(),
        "native (32-bit compat)"
    );
    let mut emulator = Emulator::from_entry(&qemu_entry("aarch64", "POF", true));
    assert_eq!(
        ExecMode::Emulated {
            emulator: emulator.clone()
        }
        .to_string(),
        "qemu-aarch64"
    );
    emulator.version = Some("qemu-aarch64 version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)".into());
    assert_eq!(
        ExecMode::Emulated { emulator }.to_string(),
        "qemu-aarch64 7.2.22"
    );
    let mode = ExecMode::Unavailable {
        reason: "r".into(),
        hint: "h".into(),
    };
    assert_eq!(mode.to_string(), "unavailable");
}

#[test]
fn serializes_tagged() {
    let json = serde_json::to_value(ExecMode::Native { compat: true }).expect("serializes");
    assert_eq!(json, serde_json::json!({"mode": "native", "compat": true}));
    let emulated = ExecMode::Emulated {
        emulator: Emulator::from_entry(&qemu_entry("s390x", "PF", true)),
    };
    let json = serde_json::to_value(&emulated).expect("serializes");
    assert_eq!(json["mode"], "emulated");
    assert_eq!(json["emulator"]["entry"], "qemu-s390x");
    assert_eq!(json["emulator"]["flags"], "PF");
    assert_eq!(json["emulator"]["kind"], "qemu");
    assert_eq!(json["emulator"]["version"], serde_json::Value::Null);
    let json = serde_json::to_value(ExecMode::Unavailable {
        reason: "r".into(),
        hint: "h".into(),
    })
    .expect("serializes");
    assert_eq!(
        json,
        serde_json::json!({"mode": "unavailable", "reason": "r", "hint": "h"})
    );
}

#[test]
fn emulator_version_runs_the_interpreter_with_a_timeout() {
    let dir = tempfile::tempdir().expect("temp dir");
    let write_script = |name: &str, body: &str| {
        use std::os::unix::fs::PermissionsExt;
        let p = dir.path().join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).expect("write");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        p
    };
    let ok = write_script("ok", "echo; echo 'fake-emu version 1.2.3'; echo more");
    assert_eq!(
        emulator_version(&ok).as_deref(),
        Some("fake-emu version 1.2.3")
    );
    let fails = write_script("fails", "echo 'usage: ...'; exit 2");
    assert_eq!(emulator_version(&fails), None);
    let hangs = write_script("hangs", "exec sleep 30");
    let started = Instant::now();
    assert_eq!(emulator_version(&hangs), None);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "timed out late"
    );
    assert_eq!(emulator_version(Path::new("/nonexistent/qemu")), None);
}

#[test]
fn emulator_version_follows_debians_binfmt_p_links() {
    // A link named like Debian's makes the real QEMU refuse --version; the target answers.
    let dir = tempfile::tempdir().expect("temp dir");
    let target = dir.path().join("fake-qemu");
    std::fs::write(
        &target,
        "#!/bin/sh\ncase \"$0\" in *-binfmt-P) exit 1;; esac\necho \"fake-qemu version 9.1.0\"\n",
    )
    .expect("write");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let link = dir.path().join("fake-binfmt-P");
    std::os::unix::fs::symlink(&target, &link).expect("symlink");
    assert_eq!(
        emulator_version(&link).as_deref(),
        Some("fake-qemu version 9.1.0")
    );
}
