//! Unit tests of binfmt state reading and magic matching, on real entry files copied from this
//! machine's kernel and on the conf lines of Debian and QEMU.

use super::*;
use crate::arch::{definitions, lookup};

/// Rosetta's registration as Apple documents it for Linux VMs (`update-binfmts --install
/// rosetta ... --credentials yes --preserve no --fix-binary yes`), in the form the kernel
/// prints: the x86_64 magic and mask, flags OCF.
const ROSETTA: &str = "enabled\ninterpreter /mnt/lima-rosetta/rosetta\nflags: OCF\noffset 0\n\
    magic 7f454c4602010100000000000000000002003e00\n\
    mask fffffffffffefe00fffffffffffffffffeffffff\n";

/// FEX-Emu's x86_64 registration (FEXInterpreter, flags POCF).
const FEX: &str = "enabled\ninterpreter /usr/bin/FEXInterpreter\nflags: POCF\noffset 0\n\
    magic 7f454c4602010100000000000000000002003e00\n\
    mask fffffffffffefe00fffffffffffffffffeffffff\n";

/// A temp dir holding tests/fixtures/binfmt_misc: real entry files copied from
/// /proc/sys/fs/binfmt_misc on Debian 12 (kernel 6.18) after registering Debian's conf lines for
/// mips64el (OPF) and python3.11 (no mask, no flags), loongarch64 with flags OCF then disabled
/// with `echo 0`, riscv64 the way archsmoke registers it (FP), and an extension (type E) entry;
/// plus `status` and an empty stand-in for the write-only `register`.
fn fixture_dir() -> tempfile::TempDir {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/binfmt_misc");
    let dir = tempfile::tempdir().expect("temp dir");
    for item in std::fs::read_dir(&src).expect("fixture dir exists") {
        let item = item.expect("fixture dir entry");
        std::fs::copy(item.path(), dir.path().join(item.file_name())).expect("copy fixture");
    }
    dir
}

fn arch(name: &str) -> &'static ArchDef {
    lookup(name).expect("known architecture")
}

#[test]
fn reads_a_directory_laid_out_like_the_kernels() {
    let dir = fixture_dir();
    let state = BinfmtState::read(dir.path()).expect("readable");
    assert!(state.mounted);
    assert!(state.enabled);
    let names: Vec<&str> = state.entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "archsmoke-fixture-ext",
            "python3.11",
            "qemu-loongarch64",
            "qemu-mips64el",
            "qemu-riscv64"
        ]
    );

    let mips = state.entry("qemu-mips64el").expect("present");
    assert!(mips.enabled);
    assert_eq!(
        mips.interpreter,
        Path::new("/usr/libexec/qemu-binfmt/mips64el-binfmt-P")
    );
    assert_eq!(mips.flags.to_string(), "POF");
    assert!(mips.flags.preserve_argv0 && mips.flags.open_binary && mips.flags.fix_binary);
    assert!(!mips.flags.credentials);
    assert_eq!(mips.kind, EmulatorKind::Qemu);
    let Rule::Magic {
        offset,
        magic,
        mask,
    } = &mips.rule
    else {
        panic!("mips64el is a magic entry");
    };
    assert_eq!(*offset, 0);
    assert_eq!(to_hex(magic), "7f454c4602010100000000000000000002000800");
    assert_eq!(
        mask.as_deref().map(to_hex).as_deref(),
        Some("ffffffffffffff00fefffffffffffffffeffffff")
    );

    let loong = state.entry("qemu-loongarch64").expect("present");
    assert!(!loong.enabled, "fixture was disabled with `echo 0`");
    assert_eq!(loong.flags.to_string(), "OCF");
    assert!(loong.flags.credentials && loong.flags.open_binary && loong.flags.fix_binary);

    let riscv = state.entry("qemu-riscv64").expect("present");
    assert_eq!(riscv.flags.to_string(), "PF");
    assert!(!riscv.flags.open_binary);

    let python = state.entry("python3.11").expect("present");
    assert_eq!(python.flags, Flags::default());
    assert!(matches!(&python.rule, Rule::Magic { mask: None, .. }));
    assert_eq!(python.kind, EmulatorKind::Other);

    let ext = state.entry("archsmoke-fixture-ext").expect("present");
    assert_eq!(
        ext.rule,
        Rule::Extension {
            extension: "asmk".into()
        }
    );
}

#[test]
fn unmounted_and_disabled_states() {
    let empty = tempfile::tempdir().expect("temp dir");
    let state = BinfmtState::read(empty.path()).expect("readable");
    assert!(!state.mounted && !state.enabled && state.entries.is_empty());

    let missing = empty.path().join("nope");
    assert!(!BinfmtState::read(&missing).expect("readable").mounted);

    let dir = fixture_dir();
    std::fs::write(dir.path().join("status"), "disabled\n").expect("write");
    let state = BinfmtState::read(dir.path()).expect("readable");
    assert!(state.mounted && !state.enabled);
    assert!(!state.intercepts(arch("riscv64")));
}

#[test]
fn malformed_files_are_errors_naming_the_file() {
    let dir = fixture_dir();
    std::fs::write(dir.path().join("status"), "maybe\n").expect("write");
    let err = BinfmtState::read(dir.path()).expect_err("bad status");
    assert!(err.to_string().contains("status"), "{err}");

    let dir = fixture_dir();
    std::fs::write(dir.path().join("broken"), "enabled\nflags: F\n").expect("write");
    let err = BinfmtState::read(dir.path()).expect_err("bad entry");
    let msg = err.to_string();
    assert!(
        msg.contains("broken") && msg.contains("interpreter"),
        "{msg}"
    );
}

#[test]
fn entry_parse_rejects_what_the_kernel_never_prints() {
    assert!(Entry::parse("x", "").is_err());
    assert!(Entry::parse("x", "on\ninterpreter /a\nflags: \nextension .x\n").is_err());
    let odd = "enabled\ninterpreter /a\nflags: F\noffset 0\nmagic 7f4\n";
    assert!(Entry::parse("x", odd).is_err());
    let short_mask = "enabled\ninterpreter /a\nflags: F\noffset 0\nmagic 7f45\nmask ff\n";
    assert!(Entry::parse("x", short_mask).is_err());
}

#[test]
fn flags_are_parsed_letter_by_letter() {
    let f = Flags::parse(" POCF");
    assert!(f.preserve_argv0 && f.open_binary && f.credentials && f.fix_binary);
    assert_eq!(f.to_string(), "POCF");
    let f = Flags::parse("FP");
    assert_eq!(f.to_string(), "PF");
    assert!(!f.open_binary && !f.credentials);
    let f = Flags::parse("FX");
    assert_eq!(f.other, "X");
    assert_eq!(f.to_string(), "FX");
    assert_eq!(Flags::parse("").to_string(), "");
}

/// Debian's conf lines, verbatim from qemu-user-static 1:7.2+dfsg-7+deb12u18 (kept here so
/// the test does not depend on the package being installed), and QEMU's
/// scripts/qemu-binfmt-conf.sh for i386/x86_64 and for the older masks of the others.
const DEBIAN_CONF: &[(&str, &str)] = &[
    (
        "aarch64",
        r":qemu-aarch64:M::\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/usr/libexec/qemu-binfmt/aarch64-binfmt-P:OPF",
    ),
    (
        "arm",
        r":qemu-arm:M::\x7f\x45\x4c\x46\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x28\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/usr/libexec/qemu-binfmt/arm-binfmt-P:OPF",
    ),
    (
        "ppc64le",
        r":qemu-ppc64le:M::\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x15\x00:\xff\xff\xff\xff\xff\xff\xff\xfc\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\x00:/usr/libexec/qemu-binfmt/ppc64le-binfmt-P:OPF",
    ),
    (
        "s390x",
        r":qemu-s390x:M::\x7f\x45\x4c\x46\x02\x02\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x16:\xff\xff\xff\xff\xff\xff\xff\xfc\xff\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff:/usr/libexec/qemu-binfmt/s390x-binfmt-P:OPF",
    ),
    (
        "riscv64",
        r":qemu-riscv64:M::\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xf3\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/usr/libexec/qemu-binfmt/riscv64-binfmt-P:OPF",
    ),
    (
        "mips64el",
        r":qemu-mips64el:M::\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x08\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xfe\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/usr/libexec/qemu-binfmt/mips64el-binfmt-P:OPF",
    ),
    (
        "loongarch64",
        r":qemu-loongarch64:M::\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x02\x01:\xff\xff\xff\xff\xff\xff\xff\xfc\x00\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/usr/libexec/qemu-binfmt/loongarch64-binfmt-P:OPF",
    ),
];

const QEMU_SCRIPT: &[(&str, &str, &str)] = &[
    (
        "i386",
        r"\x7fELF\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x03\x00",
        r"\xff\xff\xff\xff\xff\xfe\xfe\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff",
    ),
    (
        "x86_64",
        r"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x3e\x00",
        r"\xff\xff\xff\xff\xff\xfe\xfe\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff",
    ),
    (
        "aarch64",
        r"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00",
        r"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff",
    ),
    (
        "arm",
        r"\x7fELF\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x28\x00",
        r"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff",
    ),
    (
        "ppc64le",
        r"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x15\x00",
        r"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\x00",
    ),
    (
        "s390x",
        r"\x7fELF\x02\x02\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x16",
        r"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff",
    ),
    (
        "riscv64",
        r"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xf3\x00",
        r"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff",
    ),
    (
        "mips64el",
        r"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x08\x00",
        r"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff",
    ),
    (
        "loongarch64",
        r"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x02\x01",
        r"\xff\xff\xff\xff\xff\xff\xff\xfc\x00\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff",
    ),
];

fn magic_entry(name: &str, magic: &str, mask: &str, flags: &str) -> Entry {
    use crate::arch::decode_escaped;
    Entry {
        name: name.into(),
        enabled: true,
        interpreter: PathBuf::from(format!("/usr/bin/{name}")),
        flags: Flags::parse(flags),
        rule: Rule::Magic {
            offset: 0,
            magic: decode_escaped(magic).expect("valid magic"),
            mask: Some(decode_escaped(mask).expect("valid mask")),
        },
        kind: EmulatorKind::Qemu,
    }
}

/// Each source's entry for architecture A claims A's header and no other definition's.
fn assert_exactly_one(entry: &Entry, own: &str) {
    for def in definitions() {
        assert_eq!(
            entry.matches(def),
            def.name == own,
            "entry for {own} vs header of {}",
            def.name
        );
    }
}

#[test]
fn debian_conf_lines_match_exactly_their_architecture() {
    for (arch_name, line) in DEBIAN_CONF {
        let fields: Vec<&str> = line.split(':').collect();
        let entry = magic_entry(fields[1], fields[4], fields[5], fields[7]);
        assert_exactly_one(&entry, arch_name);
        // The embedded definition carries these same bytes.
        let def = arch(arch_name);
        let Rule::Magic { magic, mask, .. } = &entry.rule else {
            unreachable!()
        };
        assert_eq!(&def.magic, magic, "{arch_name} magic differs from Debian");
        assert_eq!(mask.as_ref(), Some(&def.mask), "{arch_name} mask differs");
    }
}

#[test]
fn qemu_script_lines_match_exactly_their_architecture() {
    for (arch_name, magic, mask) in QEMU_SCRIPT {
        assert_exactly_one(&magic_entry("q", magic, mask, "F"), arch_name);
    }
    // The two not shipped by Debian on amd64 come from the script verbatim.
    for (arch_name, magic, mask) in &QEMU_SCRIPT[..2] {
        let def = arch(arch_name);
        let e = magic_entry("q", magic, mask, "");
        let Rule::Magic { magic, mask, .. } = &e.rule else {
            unreachable!()
        };
        assert_eq!(&def.magic, magic);
        assert_eq!(mask.as_ref(), Some(&def.mask));
    }
}

#[test]
fn installed_debian_conf_files_agree_with_the_definitions() {
    // Cross-check against the package on this machine when it is there; the constant copy
    // above keeps the test meaningful where it is not.
    let dir = Path::new("/usr/lib/binfmt.d");
    let mut checked = 0;
    for def in definitions() {
        let Ok(line) = std::fs::read_to_string(dir.join(format!("{}.conf", def.entry))) else {
            continue;
        };
        let fields: Vec<&str> = line.trim().split(':').collect();
        assert_eq!(fields[1], def.entry);
        assert_eq!(
            crate::arch::decode_escaped(fields[4]).expect("valid"),
            def.magic
        );
        assert_eq!(
            crate::arch::decode_escaped(fields[5]).expect("valid"),
            def.mask
        );
        checked += 1;
    }
    eprintln!("checked {checked} installed conf files");
}

#[test]
fn rosetta_and_fex_are_recognized_by_magic_not_name() {
    for (name, text, kind) in [
        ("rosetta", ROSETTA, EmulatorKind::Rosetta),
        ("FEX-x86_64", FEX, EmulatorKind::Fex),
    ] {
        let e = Entry::parse(name, text).expect("parses");
        assert_eq!(e.kind, kind);
        assert!(e.flags.fix_binary && e.flags.credentials);
        assert_exactly_one(&e, "x86_64");
    }
}

#[test]
fn real_fixture_entries_match_their_architecture_and_nothing_else() {
    let dir = fixture_dir();
    let state = BinfmtState::read(dir.path()).expect("readable");
    for (entry, own) in [
        ("qemu-mips64el", "mips64el"),
        ("qemu-riscv64", "riscv64"),
        ("qemu-loongarch64", "loongarch64"),
    ] {
        assert_exactly_one(state.entry(entry).expect("present"), own);
    }
    for other in ["python3.11", "archsmoke-fixture-ext"] {
        let e = state.entry(other).expect("present");
        assert!(definitions().iter().all(|d| !e.matches(d)), "{other}");
    }
    assert!(state.intercepts(arch("riscv64")));
    assert!(!state.intercepts(arch("loongarch64")), "entry is disabled");
    assert!(!state.intercepts(arch("arm64")));
}

#[test]
fn offsets_and_bytes_past_the_header() {
    let mut e = magic_entry("x", r"\xb7\x00", r"\xff\xff", "F");
    e.rule = match e.rule {
        Rule::Magic { magic, mask, .. } => Rule::Magic {
            offset: 18,
            magic,
            mask,
        },
        r => r,
    };
    assert!(e.matches(arch("arm64")));
    assert!(!e.matches(arch("amd64")));
    // A magic reaching past e_machine cannot be judged from the header: no match, unless
    // the mask ignores those bytes.
    let long = magic_entry(
        "y",
        r"\x7fELF\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01",
        r"\xff\xff\xff\xff\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff",
        "F",
    );
    assert!(!long.matches(arch("arm64")));
    let long_ignored = magic_entry(
        "z",
        r"\x7fELF\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01",
        r"\xff\xff\xff\xff\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
        "F",
    );
    assert!(long_ignored.matches(arch("arm64")));
}

#[test]
fn register_line_round_trips() {
    let dir = fixture_dir();
    let state = BinfmtState::read(dir.path()).expect("readable");
    let line = state
        .entry("qemu-riscv64")
        .expect("present")
        .register_line();
    assert_eq!(
        line,
        format!(
            ":qemu-riscv64:M:0:{}:{}:/usr/bin/qemu-riscv64-static:PF",
            arch("riscv64").magic_escaped(),
            arch("riscv64").mask_escaped()
        )
    );
    let ext = state.entry("archsmoke-fixture-ext").expect("present");
    assert_eq!(
        ext.register_line(),
        ":archsmoke-fixture-ext:E::asmk::/usr/bin/true:"
    );
    let python = state.entry("python3.11").expect("present");
    assert_eq!(
        python.register_line(),
        r":python3.11:M:0:\xa7\x0d\x0d\x0a::/usr/bin/python3.11:"
    );
}

#[test]
fn interpreter_kinds() {
    for (path, kind) in [
        (
            "/usr/libexec/qemu-binfmt/aarch64-binfmt-P",
            EmulatorKind::Qemu,
        ),
        ("/usr/bin/qemu-aarch64-static", EmulatorKind::Qemu),
        ("/usr/bin/qemu-aarch64", EmulatorKind::Qemu),
        ("/mnt/lima-rosetta/rosetta", EmulatorKind::Rosetta),
        ("/run/rosetta/rosetta", EmulatorKind::Rosetta),
        ("/usr/bin/FEXInterpreter", EmulatorKind::Fex),
        ("/usr/local/bin/box64", EmulatorKind::Other),
        ("/usr/bin/python3.11", EmulatorKind::Other),
    ] {
        assert_eq!(classify_interpreter(Path::new(path)), kind, "{path}");
    }
}

#[test]
fn state_serializes_readably() {
    let dir = fixture_dir();
    let state = BinfmtState::read(dir.path()).expect("readable");
    let json = serde_json::to_value(state.entry("qemu-riscv64")).expect("serializes");
    assert_eq!(json["flags"], "PF");
    assert_eq!(json["kind"], "qemu");
    assert_eq!(json["rule"]["type"], "magic");
    assert_eq!(
        json["rule"]["magic"],
        "7f454c460201010000000000000000000200f300"
    );
}
