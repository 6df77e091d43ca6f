//! Unit tests of registration planning, command lines and errno explanations. Registering on the
//! real kernel is tested in tests/binfmt.rs.

use super::*;
use crate::emulation::binfmt::{EmulatorKind, Flags, Rule};
use std::os::unix::fs::PermissionsExt;

fn def(name: &str) -> &'static ArchDef {
    arch::lookup(name).expect("known architecture")
}

fn names(archs: &[(&'static ArchDef, bool)]) -> Vec<(&'static str, bool)> {
    archs.iter().map(|(d, e)| (d.name.as_str(), *e)).collect()
}

#[test]
fn resolves_names_aliases_and_all() {
    let got = resolve_archs(&["arm64", "armhf", "386", "amd64", "aarch64"]).expect("valid");
    assert_eq!(
        names(&got),
        [
            ("aarch64", true),
            ("arm", true),
            ("i386", true),
            ("x86_64", true)
        ]
    );
    let all = resolve_archs(&["all"]).expect("valid");
    assert_eq!(all.len(), arch::definitions().len());
    assert!(all.iter().all(|(_, explicit)| !explicit));
    let mixed = resolve_archs(&["ALL", "386"]).expect("valid");
    assert_eq!(
        mixed
            .iter()
            .filter(|(_, e)| *e)
            .map(|(d, _)| d.name.as_str())
            .collect::<Vec<_>>(),
        ["i386"]
    );
}

#[test]
fn unknown_names_are_reported_with_a_suggestion() {
    let err = resolve_archs(&["arm46"]).expect_err("unknown");
    let msg = err.to_string();
    assert!(
        msg.contains("`arm46`") && msg.contains("did you mean `arm64`"),
        "{msg}"
    );
    assert!(msg.contains("riscv64 (riscv64)"), "{msg}");
    assert!(matches!(
        resolve_archs::<&str>(&[]),
        Err(RegisterError::NoArchitectures)
    ));
}

#[test]
fn register_line_escapes_every_byte_and_sets_fp() {
    let line = register_line(
        def("aarch64"),
        Path::new("/usr/bin/qemu-aarch64-static"),
        "FP",
    );
    assert_eq!(
        line,
        r":qemu-aarch64:M::\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/usr/bin/qemu-aarch64-static:FP"
    );
}

fn opts(dir: &Path) -> InstallOptions {
    InstallOptions {
        interpreter: None,
        force: false,
        binfmt_dir: dir.join("binfmt_misc"),
        search_path: Some(dir.join("bin").into_os_string()),
        debian_dir: dir.join("qemu-binfmt"),
    }
}

/// A directory with a `bin/` holding fake static host ELFs for every definition, owned by root
/// when the tests run as root (they are what `check` accepts).
fn interpreter_dir(host: &ArchDef) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).expect("mkdir");
    std::fs::create_dir(dir.path().join("qemu-binfmt")).expect("mkdir");
    let mut elf = host.elf_header(2).to_vec();
    elf.resize(64, 0);
    elf[20] = 1; // e_version
    for d in arch::definitions() {
        let p = bin.join(format!("{}-static", d.qemu));
        std::fs::write(&p, &elf).expect("write");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    dir
}

fn entry_named(name: &str) -> Entry {
    Entry {
        name: name.into(),
        enabled: true,
        interpreter: PathBuf::from("/usr/libexec/qemu-binfmt/x-binfmt-P"),
        flags: Flags::parse("POF"),
        rule: Rule::Magic {
            offset: 0,
            magic: vec![0x7f],
            mask: None,
        },
        kind: EmulatorKind::Qemu,
    }
}

fn state_with(dir: &Path, entries: Vec<Entry>) -> BinfmtState {
    BinfmtState {
        dir: dir.to_path_buf(),
        mounted: true,
        enabled: true,
        entries,
    }
}

fn outcome_names(steps: &[Step]) -> Vec<String> {
    steps
        .iter()
        .map(|s| match s {
            Step::Register { def, replace, .. } => {
                format!(
                    "{}:{}",
                    def.name,
                    if *replace { "replace" } else { "register" }
                )
            }
            Step::Skip(o) => format!("{o:?}")
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_string(),
        })
        .collect()
}

fn require_root(test: &str) -> bool {
    // The suite runs as root (`sudo tests/run`); a silent skip would hide a broken test bed.
    assert!(
        nix::unistd::geteuid().is_root(),
        "{test}: the interpreter checks need root-owned files; run the suite with `sudo tests/run`"
    );
    true
}

#[test]
fn plan_for_all_skips_native_compat_existing_and_missing() {
    if !require_root("plan_for_all") {
        return;
    }
    let host = def("x86_64");
    let dir = interpreter_dir(host);
    let o = opts(dir.path());
    std::fs::remove_file(dir.path().join("bin/qemu-loongarch64-static")).expect("rm");
    let state = state_with(&o.binfmt_dir, vec![entry_named("qemu-aarch64")]);
    let archs = resolve_archs(&["all"]).expect("valid");
    let steps = plan(&archs, &o, host, &state).expect("plan");
    assert_eq!(
        outcome_names(&steps),
        [
            "SkippedExisting",
            "arm:register",
            "ppc64le:register",
            "s390x:register",
            "riscv64:register",
            "SkippedCompat",
            "SkippedNative",
            "mips64el:register",
            "SkippedNoInterpreter",
        ]
    );
    // The same on an arm64 host skips aarch64 itself and arm as its companion.
    let host = def("aarch64");
    let dir = interpreter_dir(host);
    let o = opts(dir.path());
    let steps = plan(&archs, &o, host, &state_with(&o.binfmt_dir, vec![])).expect("plan");
    let got = outcome_names(&steps);
    assert_eq!(&got[..2], ["SkippedNative", "SkippedCompat"]);
    assert!(got[2..].iter().all(|s| s.ends_with(":register")), "{got:?}");
}

#[test]
fn plan_for_named_architectures_is_strict() {
    if !require_root("plan_for_named") {
        return;
    }
    let host = def("x86_64");
    let dir = interpreter_dir(host);
    let mut o = opts(dir.path());
    let state = state_with(&o.binfmt_dir, vec![entry_named("qemu-riscv64")]);

    // Named compat architecture: registered (for CPUs without 32-bit mode).
    let steps = plan(&resolve_archs(&["386"]).expect("valid"), &o, host, &state).expect("plan");
    assert_eq!(outcome_names(&steps), ["i386:register"]);
    // Named native architecture: still skipped.
    let steps = plan(&resolve_archs(&["amd64"]).expect("valid"), &o, host, &state).expect("plan");
    assert_eq!(outcome_names(&steps), ["SkippedNative"]);

    // Existing entry: refused without force, replaced with it.
    let riscv = resolve_archs(&["riscv64"]).expect("valid");
    let err = plan(&riscv, &o, host, &state).expect_err("exists");
    let msg = err.to_string();
    assert!(matches!(err, RegisterError::AlreadyRegistered { .. }));
    assert!(
        msg.contains("already registered") && msg.contains("--force"),
        "{msg}"
    );
    o.force = true;
    let steps = plan(&riscv, &o, host, &state).expect("plan");
    assert_eq!(outcome_names(&steps), ["riscv64:replace"]);
    o.force = false;

    // Named but no interpreter anywhere: an error listing where it looked.
    std::fs::remove_file(dir.path().join("bin/qemu-s390x-static")).expect("rm");
    let err =
        plan(&resolve_archs(&["s390x"]).expect("valid"), &o, host, &state).expect_err("missing");
    assert!(err.to_string().contains("qemu-s390x-static"), "{err}");

    // A bad --interpreter is refused before anything is registered.
    o.interpreter = Some(PathBuf::from("/bin/sh"));
    let err =
        plan(&resolve_archs(&["s390x"]).expect("valid"), &o, host, &state).expect_err("dynamic");
    assert!(err.to_string().contains("dynamically linked"), "{err}");
}

#[test]
fn interpreter_option_applies_to_one_architecture() {
    let o = InstallOptions {
        interpreter: Some(PathBuf::from("/opt/qemu-aarch64")),
        ..InstallOptions::default()
    };
    let err = install(&["arm64", "s390x"], &o).expect_err("two archs");
    assert!(matches!(
        err,
        RegisterError::InterpreterForMany { count: 2 }
    ));
    let err = install(&["all"], &o).expect_err("all");
    assert!(matches!(err, RegisterError::InterpreterForMany { .. }));
}

fn os_error(errno: Errno) -> io::Error {
    io::Error::from_raw_os_error(errno as i32)
}

#[test]
fn kernel_errnos_become_plain_words() {
    let o = InstallOptions {
        force: true,
        interpreter: Some(PathBuf::from("/opt/my qemu/qemu-aarch64")),
        ..InstallOptions::default()
    };
    let path = Path::new("/proc/sys/fs/binfmt_misc/register");
    let line = register_line(def("aarch64"), Path::new("/x"), "FP");
    let interp = Path::new("/usr/bin/qemu-aarch64-static");
    let explain = |e| explain_register_error(os_error(e), path, "qemu-aarch64", &line, interp, &o);

    let msg = explain(Errno::EEXIST).to_string();
    assert_eq!(
        msg,
        "binfmt_misc entry `qemu-aarch64` is already registered \
         (/proc/sys/fs/binfmt_misc/qemu-aarch64); use --force to replace it"
    );
    let msg = explain(Errno::EINVAL).to_string();
    assert!(msg.contains("malformed") && msg.contains(&line), "{msg}");
    let msg = explain(Errno::ENOENT).to_string();
    assert!(
        msg.contains("/usr/bin/qemu-aarch64-static") && msg.contains("ENOENT"),
        "{msg}"
    );
    for errno in [Errno::EPERM, Errno::EACCES] {
        let msg = explain(errno).to_string();
        assert_eq!(
            msg,
            "changing binfmt_misc entries needs root; run: sudo archsmoke binfmt install --force \
             --interpreter '/opt/my qemu/qemu-aarch64' aarch64"
        );
    }
    let err = explain(Errno::ENOMEM);
    assert!(matches!(err, RegisterError::Kernel { .. }));
    assert!(err.to_string().contains("register"), "{err}");
}

#[test]
fn install_command_quotes_what_the_shell_would_split() {
    let o = InstallOptions::default();
    assert_eq!(
        install_command(&["arm64", "s390x"], &o),
        "sudo archsmoke binfmt install arm64 s390x"
    );
    let mut s = String::new();
    push_arg(&mut s, "it's");
    assert_eq!(s, r" 'it'\''s'");
}

#[test]
fn writes_to_missing_entries_mean_not_registered() {
    let dir = tempfile::tempdir().expect("temp dir");
    assert!(!remove_entry(dir.path(), "qemu-nothing").expect("no error"));
}

#[test]
fn listing_relates_entries_to_architectures() {
    let mut rosetta = entry_named("rosetta");
    let x86 = def("x86_64");
    rosetta.rule = Rule::Magic {
        offset: 0,
        magic: x86.magic.clone(),
        mask: Some(x86.mask.clone()),
    };
    rosetta.interpreter = PathBuf::from("/mnt/lima-rosetta/rosetta");
    rosetta.kind = EmulatorKind::Rosetta;
    rosetta.flags = Flags::parse("OCF");
    let mut python = entry_named("python3.11");
    python.rule = Rule::Magic {
        offset: 0,
        magic: vec![0xa7, 0x0d, 0x0d, 0x0a],
        mask: None,
    };
    python.interpreter = PathBuf::from("/usr/bin/python3.11");
    python.flags = Flags::default();
    let state = state_with(Path::new("/proc/sys/fs/binfmt_misc"), vec![python, rosetta]);
    let l = listing(state, Some(def("aarch64")));
    let by_arch = |n: &str| l.archs.iter().find(|a| a.arch == n).expect("listed");
    assert_eq!(by_arch("x86_64").entries, ["rosetta"]);
    assert_eq!(by_arch("aarch64").host_relation, "native");
    assert_eq!(by_arch("arm").host_relation, "compat");
    assert_eq!(by_arch("riscv64").host_relation, "foreign");
    let text = l.to_string();
    assert!(text.starts_with("binfmt_misc at /proc/sys/fs/binfmt_misc: mounted, enabled\n"));
    let x86_line = text
        .lines()
        .find(|l| l.starts_with("x86_64"))
        .expect("x86_64 row");
    assert!(
        x86_line.contains("rosetta")
            && x86_line.contains("OCF")
            && x86_line.contains("/mnt/lima-rosetta/rosetta"),
        "{x86_line}"
    );
    assert!(text.contains("python3.11 -> /usr/bin/python3.11"), "{text}");
    let json = serde_json::to_value(&l).expect("serializes");
    assert_eq!(json["host"], "aarch64");
    assert_eq!(json["archs"][6]["entries"][0], "rosetta");
}

#[test]
fn outcomes_read_as_sentences() {
    let o = InstallOutcome::Registered {
        arch: "riscv64".into(),
        entry: "qemu-riscv64".into(),
        interpreter: PathBuf::from("/usr/libexec/qemu-binfmt/riscv64-binfmt-P"),
        flags: "PF".into(),
        replaced: true,
    };
    assert_eq!(
        o.to_string(),
        "riscv64: replaced qemu-riscv64 -> /usr/libexec/qemu-binfmt/riscv64-binfmt-P (flags PF)"
    );
    let json = serde_json::to_value(&o).expect("serializes");
    assert_eq!(json["outcome"], "registered");
    assert!(
        InstallOutcome::SkippedNative {
            arch: "x86_64".into()
        }
        .to_string()
        .contains("own architecture")
    );
}
