//! Finding and vetting the interpreter (the static QEMU binary) an entry is registered with.
//!
//! This module owns the search order (`--interpreter`, `qemu-<arch>-static` on `PATH`, Debian's
//! `/usr/libexec/qemu-binfmt/<arch>-binfmt-P`) and the checks an interpreter must pass before
//! the kernel is asked to pin it with `F`: every container of that architecture will run through
//! it with the container's privileges, so it must be root's, not writable by others, and a static
//! executable of this machine's architecture (a dynamic one would look for its libraries inside
//! each container). ELF is read with the `object` crate.

use std::ffi::OsStr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use object::elf;
use object::read::elf::{FileHeader, ProgramHeader};

use crate::arch::{ArchDef, Endian};

/// Where Debian's qemu-user-static puts the interpreters its binfmt.d files register.
pub const DEBIAN_BINFMT_DIR: &str = "/usr/libexec/qemu-binfmt";

/// Why no interpreter was found or why one was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InterpreterError {
    #[error(
        "no QEMU interpreter for {arch}: looked for {}; install one (sudo apt-get install \
         qemu-user-static) or pass --interpreter PATH",
        searched.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    NotFound {
        arch: String,
        searched: Vec<PathBuf>,
    },
    #[error("interpreter {path} cannot be used: {problem}")]
    Rejected { path: PathBuf, problem: String },
}

/// ELF facts the checks need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ElfFacts {
    pub class: u8,
    pub endian: Endian,
    pub e_machine: u16,
    /// True when a `PT_INTERP` program header names a dynamic loader.
    pub dynamic: bool,
}

/// Reads class, byte order, machine and whether it is dynamically linked.
pub fn elf_facts(data: &[u8]) -> Result<ElfFacts, String> {
    let kind =
        object::FileKind::parse(data).map_err(|e| format!("it is not an ELF executable ({e})"))?;
    match kind {
        object::FileKind::Elf32 => facts_of::<elf::FileHeader32<object::Endianness>>(data, 32),
        object::FileKind::Elf64 => facts_of::<elf::FileHeader64<object::Endianness>>(data, 64),
        other => Err(format!("it is not an ELF executable ({other:?})")),
    }
}

fn facts_of<H: FileHeader<Endian = object::Endianness>>(
    data: &[u8],
    class: u8,
) -> Result<ElfFacts, String> {
    let header = H::parse(data).map_err(|e| format!("bad ELF header: {e}"))?;
    let endian = header.endian().map_err(|e| e.to_string())?;
    let dynamic = header
        .program_headers(endian, data)
        .map_err(|e| format!("bad program headers: {e}"))?
        .iter()
        .any(|p| p.p_type(endian) == elf::PT_INTERP);
    Ok(ElfFacts {
        class,
        endian: if header.is_big_endian() {
            Endian::Big
        } else {
            Endian::Little
        },
        e_machine: header.e_machine(endian).0,
        dynamic,
    })
}

/// Finds the interpreter for `arch`: `explicit` when given, else `<qemu>-static` in the absolute
/// directories of `path_var`, else `<debian_dir>/<name>-binfmt-P`.
///
/// When the `PATH` hit is the very file Debian's `-binfmt-P` link points to, the link is
/// returned: Debian's QEMU also recognizes the P flag by that name, which matters on kernels
/// older than 5.12 (they do not pass `AT_FLAGS_PRESERVE_ARGV0`), and it is what Debian's own
/// entries name.
pub fn find(
    arch: &ArchDef,
    explicit: Option<&Path>,
    path_var: Option<&OsStr>,
    debian_dir: &Path,
) -> Result<PathBuf, InterpreterError> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    let static_name = format!("{}-static", arch.qemu);
    let debian = debian_dir.join(format!("{}-binfmt-P", arch.name));
    let mut searched = Vec::new();
    let on_path = path_var
        .into_iter()
        .flat_map(std::env::split_paths)
        .filter(|d| d.is_absolute())
        .map(|d| d.join(&static_name))
        .find(|c| {
            searched.push(c.clone());
            c.is_file()
        });
    searched.push(debian.clone());
    match on_path {
        Some(found) => {
            let same = match (found.canonicalize(), debian.canonicalize()) {
                (Ok(a), Ok(b)) => a == b,
                _ => false,
            };
            Ok(if same { debian } else { found })
        }
        None if debian.is_file() => Ok(debian),
        None => Err(InterpreterError::NotFound {
            arch: arch.name.clone(),
            searched,
        }),
    }
}

/// Checks that `path` may be pinned as an interpreter on a `host` machine: absolute, existing,
/// a regular executable file owned by root and not world-writable, a static ELF of the host's
/// architecture. Symlinks are followed; the file they end at is checked (it is what `F` opens).
pub fn check(path: &Path, host: &ArchDef) -> Result<(), InterpreterError> {
    let reject = |problem: String| InterpreterError::Rejected {
        path: path.to_path_buf(),
        problem,
    };
    if !path.is_absolute() {
        return Err(reject(
            "the path is relative; the kernel needs an absolute path".into(),
        ));
    }
    if path.to_string_lossy().contains([':', '\n']) {
        return Err(reject(
            "the path contains `:` or a newline, which end fields of a registration line".into(),
        ));
    }
    let meta = std::fs::metadata(path).map_err(|e| reject(format!("it cannot be read ({e})")))?;
    if !meta.is_file() {
        return Err(reject("it is not a regular file".into()));
    }
    if meta.uid() != 0 {
        return Err(reject(format!(
            "it is owned by uid {}, not root; its owner could swap the program every emulated \
             container runs through",
            meta.uid()
        )));
    }
    if meta.mode() & 0o002 != 0 {
        return Err(reject(format!(
            "it is world-writable (mode {:o}); anyone could swap the program every emulated \
             container runs through",
            meta.mode() & 0o7777
        )));
    }
    if meta.mode() & 0o111 == 0 {
        return Err(reject("it is not executable".into()));
    }
    let data = std::fs::read(path).map_err(|e| reject(format!("it cannot be read ({e})")))?;
    let facts = elf_facts(&data).map_err(reject)?;
    if facts.class != host.class || facts.endian != host.endian || facts.e_machine != host.e_machine
    {
        return Err(reject(format!(
            "it is a {}-bit {:?}-endian ELF for e_machine {}, but this machine is {} \
             ({}-bit, e_machine {}); the interpreter runs on the host, so it must be built for it",
            facts.class, facts.endian, facts.e_machine, host.name, host.class, host.e_machine
        )));
    }
    if facts.dynamic {
        return Err(reject(
            "it is dynamically linked (it has a PT_INTERP header); inside a container the kernel \
             would look for its loader and libraries in the container's file system. Use the \
             static build (Debian: qemu-user-static)"
                .into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::lookup;
    use std::os::unix::fs::PermissionsExt;

    fn arch(name: &str) -> &'static ArchDef {
        lookup(name).expect("known architecture")
    }

    /// A minimal ELF64 little-endian header with one program header of type `ptype`.
    fn tiny_elf(e_machine: u16, ptype: u32) -> Vec<u8> {
        let mut d = vec![0u8; 64 + 56];
        d[..4].copy_from_slice(b"\x7fELF");
        d[4] = 2;
        d[5] = 1;
        d[6] = 1;
        d[16..18].copy_from_slice(&3u16.to_le_bytes());
        d[18..20].copy_from_slice(&e_machine.to_le_bytes());
        d[20..24].copy_from_slice(&1u32.to_le_bytes());
        d[32..40].copy_from_slice(&64u64.to_le_bytes()); // e_phoff
        d[52..54].copy_from_slice(&64u16.to_le_bytes()); // e_ehsize
        d[54..56].copy_from_slice(&56u16.to_le_bytes()); // e_phentsize
        d[56..58].copy_from_slice(&1u16.to_le_bytes()); // e_phnum
        d[64..68].copy_from_slice(&ptype.to_le_bytes());
        d
    }

    #[test]
    fn elf_facts_of_synthetic_headers() {
        let f = elf_facts(&tiny_elf(62, 1)).expect("valid");
        assert_eq!(
            f,
            ElfFacts {
                class: 64,
                endian: Endian::Little,
                e_machine: 62,
                dynamic: false
            }
        );
        assert!(elf_facts(&tiny_elf(183, 3)).expect("valid").dynamic);
        assert!(elf_facts(b"#!/bin/sh\n").is_err());
    }

    #[test]
    fn elf_facts_of_real_binaries() {
        // /bin/sh is dynamically linked on every Debian; the static QEMU is not.
        let sh = std::fs::read("/bin/sh").expect("/bin/sh exists");
        assert!(elf_facts(&sh).expect("ELF").dynamic);
        if let Ok(q) = std::fs::read("/usr/bin/qemu-aarch64-static") {
            let f = elf_facts(&q).expect("ELF");
            assert!(!f.dynamic);
            assert_eq!(f.e_machine, host().e_machine);
        }
    }

    fn host() -> &'static ArchDef {
        let machine = nix::sys::utsname::uname().expect("uname");
        lookup(&machine.machine().to_string_lossy()).expect("host architecture is defined")
    }

    fn write_exec(path: &Path, data: &[u8], mode: u32) {
        std::fs::write(path, data).expect("write");
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }

    #[test]
    fn check_rejects_each_unsafe_interpreter() {
        let dir = tempfile::tempdir().expect("temp dir");
        let host = host();
        let good = dir.path().join("good");
        write_exec(&good, &tiny_elf(host.e_machine, 1), 0o755);
        let am_root = nix::unistd::geteuid().is_root();
        let problem = |p: &Path| match check(p, host) {
            Err(InterpreterError::Rejected { problem, .. }) => problem,
            other => panic!("{} should be rejected, got {other:?}", p.display()),
        };
        if am_root {
            check(&good, host).expect("root-owned static host ELF is accepted");
        } else {
            assert!(problem(&good).contains("not root"));
        }
        assert!(problem(Path::new("relative/qemu")).contains("relative"));
        assert!(problem(&dir.path().join("missing")).contains("cannot be read"));
        assert!(problem(dir.path()).contains("regular file"));
        assert!(problem(Path::new("/tmp/a:b")).contains("`:`"));
        if am_root {
            let ww = dir.path().join("world-writable");
            write_exec(&ww, &tiny_elf(host.e_machine, 1), 0o757);
            assert!(problem(&ww).contains("world-writable"));
            let noexec = dir.path().join("noexec");
            write_exec(&noexec, &tiny_elf(host.e_machine, 1), 0o644);
            assert!(problem(&noexec).contains("not executable"));
            let foreign = dir.path().join("foreign");
            let other = if host.e_machine == 183 { 62 } else { 183 };
            write_exec(&foreign, &tiny_elf(other, 1), 0o755);
            assert!(problem(&foreign).contains("must be built for it"));
            let dynamic = dir.path().join("dynamic");
            write_exec(&dynamic, &tiny_elf(host.e_machine, 3), 0o755);
            assert!(problem(&dynamic).contains("dynamically linked"));
            let script = dir.path().join("script");
            write_exec(&script, b"#!/bin/sh\n", 0o755);
            assert!(problem(&script).contains("not an ELF"));
            let owned = dir.path().join("owned");
            write_exec(&owned, &tiny_elf(host.e_machine, 1), 0o755);
            nix::unistd::chown(&owned, Some(nix::unistd::Uid::from_raw(65534)), None)
                .expect("chown");
            assert!(problem(&owned).contains("uid 65534"));
        }
    }

    #[test]
    fn search_order() {
        let root = tempfile::tempdir().expect("temp dir");
        let bin1 = root.path().join("bin1");
        let bin2 = root.path().join("bin2");
        let debian = root.path().join("qemu-binfmt");
        for d in [&bin1, &bin2, &debian] {
            std::fs::create_dir(d).expect("mkdir");
        }
        let riscv = arch("riscv64");
        let path_var = std::env::join_paths([
            "relative",
            bin1.to_str().expect("utf-8"),
            bin2.to_str().expect("utf-8"),
        ])
        .expect("joinable");

        // Nothing anywhere: the error lists every place looked at.
        let err = find(riscv, None, Some(&path_var), &debian).expect_err("nothing to find");
        let msg = err.to_string();
        assert!(msg.contains("bin1/qemu-riscv64-static"), "{msg}");
        assert!(msg.contains("qemu-binfmt/riscv64-binfmt-P"), "{msg}");
        assert!(msg.contains("apt-get install qemu-user-static"), "{msg}");

        // Debian's link alone.
        let static_bin = bin2.join("qemu-riscv64-static");
        std::fs::write(&static_bin, b"x").expect("write");
        let link = debian.join("riscv64-binfmt-P");
        std::os::unix::fs::symlink(&static_bin, &link).expect("symlink");
        let found = find(riscv, None, None, &debian).expect("debian link");
        assert_eq!(found, link);

        // On PATH and the same file as Debian's link: the link's name wins.
        let found = find(riscv, None, Some(&path_var), &debian).expect("found");
        assert_eq!(found, link);

        // A different file earlier on PATH wins over Debian's.
        let first = bin1.join("qemu-riscv64-static");
        std::fs::write(&first, b"y").expect("write");
        assert_eq!(
            find(riscv, None, Some(&path_var), &debian).expect("found"),
            first
        );

        // --interpreter wins over everything.
        let explicit = Path::new("/opt/qemu/bin/qemu-riscv64");
        assert_eq!(
            find(riscv, Some(explicit), Some(&path_var), &debian).expect("explicit"),
            explicit
        );
    }
}
