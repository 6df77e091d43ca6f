//! The ELF audit on hand-built filesystems: what counts as a program, the compatibility
//! architectures, triplet directories, ranking, grouping by package and the cap.

use std::sync::Arc;

use super::*;
use crate::check::fs::Layer;
use crate::spec::ElfLevel;

const X86_64: Machine = (64, Endian::Little, EM_X86_64);
const I386: Machine = (32, Endian::Little, EM_386);
const X32: Machine = (32, Endian::Little, EM_X86_64);
const ARM64: Machine = (64, Endian::Little, EM_AARCH64);
const ARMHF: Machine = (32, Endian::Little, EM_ARM);
const PPC: Machine = (32, Endian::Big, 20);

fn file(path: &str, mode: u32, content: Option<&str>) -> Entry {
    Entry {
        path: path.into(),
        kind: EntryKind::File,
        mode,
        uid: 0,
        gid: 0,
        size: 1,
        elf: None,
        content: content.map(|c| c.as_bytes().to_vec()),
    }
}

fn link(path: &str, target: &str) -> Entry {
    Entry {
        kind: EntryKind::Symlink(target.into()),
        ..file(path, 0o777, None)
    }
}

/// An ELF file: `e_type` 2 (executable) with an entry point unless said otherwise.
fn elf_file(path: &str, mode: u32, m: Machine, e_type: u16, interp: Option<&str>) -> Entry {
    Entry {
        elf: Some(ElfIdent {
            class: m.0,
            endian: m.1,
            e_machine: m.2,
            e_type,
            entry: if e_type == ET_EXEC { 0x401000 } else { 0 },
            interpreter: interp.map(str::to_owned),
        }),
        ..file(path, mode, None)
    }
}

fn merged(entries: Vec<Entry>) -> MergedFs {
    // A merged /usr: /lib and /bin are symlinks, as on Debian bookworm.
    let mut all = vec![link("/lib", "usr/lib"), link("/bin", "usr/bin")];
    all.extend(entries);
    MergedFs::new(&[Arc::new(Layer { entries: all })])
}

fn platform(arch: &str) -> Platform {
    Platform::new("linux", arch, None)
}

fn error_level() -> AuditSettings {
    AuditSettings::new(ElfLevel::Error, Vec::new()).expect("no globs")
}

fn checks(found: &[Mismatch]) -> Vec<&str> {
    found.iter().map(|m| m.check.as_str()).collect()
}

/// What an amd64 Debian image with libc6-i386, libc6-x32, libc6-arm64-cross, valgrind, Go's
/// source and QEMU's firmware holds that is not amd64, and nothing else.
fn legitimate_amd64_content() -> Vec<Entry> {
    vec![
        elf_file("/usr/lib32/libc.so.6", 0o644, I386, ET_DYN, None),
        elf_file("/usr/lib/ld-linux.so.2", 0o755, I386, ET_DYN, None),
        elf_file("/usr/libx32/libc.so.6", 0o644, X32, ET_DYN, None),
        elf_file(
            "/usr/libexec/valgrind/memcheck-x86-linux",
            0o755,
            I386,
            ET_EXEC,
            None,
        ),
        elf_file(
            "/usr/aarch64-linux-gnu/lib/libc.so.6",
            0o644,
            ARM64,
            ET_DYN,
            None,
        ),
        elf_file(
            "/usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1",
            0o755,
            ARM64,
            ET_DYN,
            None,
        ),
        // A cross toolchain's own programs run on the host: amd64 under an arm64 triplet.
        elf_file(
            "/usr/aarch64-linux-gnu/bin/as",
            0o755,
            X86_64,
            ET_EXEC,
            None,
        ),
        // Relocatable objects, firmware and test data.
        elf_file(
            "/usr/lib/go-1.19/src/runtime/race/race_linux_arm64.syso",
            0o644,
            ARM64,
            1,
            None,
        ),
        elf_file(
            "/usr/share/qemu/openbios-ppc",
            0o644,
            PPC,
            ET_EXEC,
            Some("/usr/lib/ld.so.1"),
        ),
        elf_file(
            "/usr/share/go-1.19/src/debug/elf/testdata/gcc-386-freebsd-exec",
            0o755,
            I386,
            ET_EXEC,
            Some("/usr/libexec/ld-elf.so.1"),
        ),
        // Without an execute bit a non-library ELF file is not a program.
        elf_file("/opt/firmware/blob", 0o644, PPC, ET_EXEC, None),
        elf_file(
            "/usr/lib/x86_64-linux-gnu/libc.so.6",
            0o644,
            X86_64,
            ET_DYN,
            None,
        ),
        elf_file(
            "/usr/lib64/ld-linux-x86-64.so.2",
            0o755,
            X86_64,
            ET_DYN,
            None,
        ),
    ]
}

#[test]
fn legitimate_foreign_content_of_an_amd64_image_is_not_reported() {
    let fs = merged(legitimate_amd64_content());
    assert_eq!(elf(&platform("amd64"), &fs, None, &error_level()), []);
}

#[test]
fn arm64_runs_armhf_multiarch_libraries_and_programs() {
    let fs = merged(vec![
        elf_file(
            "/usr/lib/arm-linux-gnueabihf/libc.so.6",
            0o644,
            ARMHF,
            ET_DYN,
            None,
        ),
        elf_file("/usr/lib/ld-linux-armhf.so.3", 0o755, ARMHF, ET_DYN, None),
        elf_file(
            "/usr/bin/armhf-tool",
            0o755,
            ARMHF,
            ET_EXEC,
            Some("/lib/ld-linux-armhf.so.3"),
        ),
    ]);
    assert_eq!(elf(&platform("arm64"), &fs, None, &error_level()), []);
    // The same files on amd64 are reported: amd64 has no AArch32.
    let found = elf(&platform("amd64"), &fs, None, &error_level());
    assert_eq!(
        checks(&found),
        [
            "elf /usr/bin/armhf-tool",
            "elf /usr/lib/ld-linux-armhf.so.3"
        ]
    );
}

#[test]
fn a_foreign_program_and_a_missing_interpreter_are_reported_with_their_role_and_group() {
    let mut entries = legitimate_amd64_content();
    entries.push(elf_file(
        "/usr/local/bin/busybox",
        0o755,
        X86_64,
        ET_EXEC,
        None,
    ));
    entries.push(elf_file(
        "/usr/local/bin/python3.11",
        0o755,
        X86_64,
        ET_DYN,
        Some("/lib64/ld-linux-x86-64.so.2"),
    ));
    entries.push(elf_file("/usr/bin/fine", 0o755, ARM64, ET_EXEC, None));
    let fs = merged(entries);
    let found = elf(&platform("arm64"), &fs, None, &error_level());
    // The amd64 files of the image are all reported; the PATH programs first.
    assert_eq!(
        &checks(&found)[..2],
        [
            "elf /usr/local/bin/busybox",
            "elf /usr/local/bin/python3.11"
        ]
    );
    assert_eq!(
        found[0].expected,
        "64-bit little-endian arm64 (aarch64, e_machine 183)"
    );
    assert_eq!(
        found[0].actual,
        "64-bit little-endian amd64 (x86_64, e_machine 62) (a program on PATH); directory /usr/local/bin"
    );
    assert!(!checks(&found).contains(&"elf /usr/bin/fine"));

    // On amd64 the python3.11 runs but its loader is missing.
    let fs = merged(vec![elf_file(
        "/usr/local/bin/python3.11",
        0o755,
        X86_64,
        ET_DYN,
        Some("/lib64/ld-linux-x86-64.so.2"),
    )]);
    let found = elf(&platform("amd64"), &fs, None, &error_level());
    assert_eq!(checks(&found), ["interpreter of /usr/local/bin/python3.11"]);
}

#[test]
fn findings_are_grouped_by_the_dpkg_package_that_owns_them_through_the_usr_merge() {
    let mut entries = vec![file(
        "/var/lib/dpkg/info/libfoo:amd64.list",
        0o644,
        Some(
            "/.\n/lib\n/lib/x86_64-linux-gnu\n/lib/x86_64-linux-gnu/libfoo.so.1\n/lib/x86_64-linux-gnu/libbar.so.1\n",
        ),
    )];
    // amd64 libraries in a generic directory of an arm64 image: loaded by nothing it runs.
    entries.push(elf_file(
        "/usr/lib/x86_64-linux-gnu/libfoo.so.1",
        0o644,
        X86_64,
        ET_DYN,
        None,
    ));
    entries.push(elf_file(
        "/usr/lib/x86_64-linux-gnu/libbar.so.1",
        0o644,
        X86_64,
        ET_DYN,
        None,
    ));
    let fs = merged(entries);
    // Their own triplet directory: multiarch content, not reported.
    assert_eq!(elf(&platform("arm64"), &fs, None, &error_level()), []);

    let mut entries = vec![file(
        "/var/lib/dpkg/info/libfoo.list",
        0o644,
        Some("/.\n/lib/libfoo.so.1\n"),
    )];
    entries.push(elf_file(
        "/usr/lib/libfoo.so.1",
        0o644,
        X86_64,
        ET_DYN,
        None,
    ));
    let found = elf(&platform("arm64"), &merged(entries), None, &error_level());
    assert_eq!(checks(&found), ["elf /usr/lib/libfoo.so.1"]);
    assert!(
        found[0]
            .actual
            .ends_with("(a shared library); package libfoo"),
        "{}",
        found[0].actual
    );
}

#[test]
fn the_entrypoint_ranks_first_and_each_group_lists_a_few_files_then_a_count() {
    let mut entries: Vec<Entry> = (0..8)
        .map(|i| elf_file(&format!("/opt/tools/t{i}"), 0o755, X86_64, ET_EXEC, None))
        .collect();
    entries.push(elf_file("/usr/sbin/server", 0o755, X86_64, ET_EXEC, None));
    let fs = merged(entries);
    let config: ImageConfiguration = serde_json::from_value(serde_json::json!({
        "architecture": "arm64", "os": "linux",
        "config": { "Env": ["PATH=/usr/sbin:/usr/bin"], "Entrypoint": ["server"] },
        "rootfs": { "type": "layers", "diff_ids": [] }
    }))
    .expect("config");
    let found = elf(&platform("arm64"), &fs, Some(&config), &error_level());
    assert_eq!(found[0].check, "elf /usr/sbin/server");
    assert!(
        found[0].actual.contains("(the entrypoint)"),
        "{}",
        found[0].actual
    );
    assert_eq!(found.len(), 1 + PER_GROUP + 1);
    let last = found.last().expect("a count");
    assert_eq!(last.check, "elf directory /opt/tools");
    assert!(
        last.actual.contains("3 more finding(s)") && last.actual.contains("(8 in all)"),
        "{}",
        last.actual
    );
}

#[test]
fn a_long_list_is_cut_and_states_the_total() {
    let entries = (0..(MAX_LISTED * 2))
        .map(|i| elf_file(&format!("/d{i:03}/x"), 0o755, X86_64, ET_EXEC, None))
        .collect();
    let found = elf(&platform("arm64"), &merged(entries), None, &error_level());
    assert_eq!(found.len(), MAX_LISTED + 1);
    let last = found.last().expect("the count");
    assert_eq!(last.check, "more");
    assert_eq!(
        last.actual,
        format!(
            "{MAX_LISTED} more not listed ({} finding(s) in all)",
            MAX_LISTED * 2
        )
    );
}

#[test]
fn allowed_paths_and_unknown_architectures() {
    let fs = merged(vec![elf_file(
        "/opt/x86/helper",
        0o755,
        X86_64,
        ET_EXEC,
        None,
    )]);
    let allow = AuditSettings::new(ElfLevel::Error, vec!["/opt/x86/**".into()]).expect("globs");
    assert_eq!(elf(&platform("arm64"), &fs, None, &allow), []);
    let found = elf(&platform("riscv128"), &fs, None, &allow);
    assert_eq!(checks(&found), ["architecture"]);
}

#[test]
fn triplets_name_their_machines() {
    assert_eq!(triplet_machine("x86_64-linux-gnu"), Some(X86_64));
    assert_eq!(triplet_machine("x86_64-linux-gnux32"), Some(X32));
    assert_eq!(triplet_machine("arm-linux-gnueabihf"), Some(ARMHF));
    assert_eq!(triplet_machine("i686-linux-gnu"), Some(I386));
    assert_eq!(triplet_machine("lib"), None);
    assert_eq!(triplet_machine("gcc-cross"), None);
}
