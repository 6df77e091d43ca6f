//! The ELF audit: which files of a platform's image the platform could not run, judged by what
//! each file is and what its path means, so that legitimate foreign content in ordinary
//! packages is not reported and the defects are.
//!
//! - **Only programs and shared libraries are judged.** A program is an `ET_EXEC` or `ET_DYN`
//!   file with an interpreter or an entry point *and* an execute bit; a shared library is an
//!   `ET_EXEC`/`ET_DYN` file named `*.so` or `*.so.<n>`. Relocatable objects (`ET_REL`: `.o`,
//!   Go's `.syso`), core files, anything under `/usr/share` (firmware, test data) and
//!   non-library files without an execute bit are data.
//! - **A platform also runs its compatibility architectures:** amd64 runs i386 and x32; arm64
//!   runs 32-bit arm (armhf, armel), which assumes a CPU that keeps AArch32 (most server and
//!   desktop cores do; Apple's and some recent Arm cores do not).
//! - **A path that names a GNU triplet says which architecture it is for:** Debian multiarch
//!   (`/usr/lib/<triplet>`, `/lib/<triplet>`) and cross toolchains (`/usr/<triplet>`,
//!   `/usr/lib/gcc-cross/<triplet>`) hold files of that architecture on purpose; a file there
//!   whose architecture is the triplet's is not reported.
//! - A program of a runnable architecture whose interpreter (`PT_INTERP`) the image lacks is
//!   reported: it cannot start.
//!
//! Findings are ranked (the entrypoint and CMD first, then programs on `PATH`, other programs,
//! libraries), grouped by the package that owns them when a dpkg or apk database says so (else
//! by directory), and at most [`PER_GROUP`] files of a group and [`MAX_LISTED`] in all are
//! listed; a last line gives the count of the rest, so the total is always stated.

use std::collections::{BTreeMap, HashMap};

use oci_spec::image::ImageConfiguration;

use super::fs::{ElfIdent, Entry, EntryKind, Lookup, MergedFs};
use super::image::{describe, expected_arch};
use crate::arch::{ArchDef, ET_DYN, ET_EXEC, Endian};
use crate::outcome::Mismatch;
use crate::platform::Platform;
use crate::spec::AuditSettings;

/// The most findings listed one by one; the rest are counted on one last line.
pub const MAX_LISTED: usize = 100;
/// The most files of one package (or directory) listed; the rest of it is one line.
pub const PER_GROUP: usize = 5;

const EM_386: u16 = 3;
const EM_ARM: u16 = 40;
const EM_X86_64: u16 = 62;
const EM_AARCH64: u16 = 183;

/// An ELF identity without its interpreter: class, byte order, machine.
type Machine = (u8, Endian, u16);

fn machine_of(ident: &ElfIdent) -> Machine {
    (ident.class, ident.endian, ident.e_machine)
}

/// The machines a platform of `arch` runs: its own and its compatibility modes.
fn runnable(arch: &ArchDef) -> Vec<Machine> {
    let mut out = vec![(arch.class, arch.endian, arch.e_machine)];
    match (arch.class, arch.e_machine) {
        (64, EM_X86_64) => out.extend([
            (32, Endian::Little, EM_386),
            (32, Endian::Little, EM_X86_64),
        ]),
        // AArch32 at EL0: assumed present (see the module documentation).
        (64, EM_AARCH64) => out.push((32, Endian::Little, EM_ARM)),
        _ => {}
    }
    out
}

/// The machine a GNU triplet (`x86_64-linux-gnu`, `arm-linux-gnueabihf`) names.
pub fn triplet_machine(name: &str) -> Option<Machine> {
    let (cpu, rest) = name.split_once('-')?;
    if !rest.starts_with("linux-") && !rest.contains("-linux-") {
        return None;
    }
    let le = Endian::Little;
    Some(match cpu {
        "x86_64" if rest.ends_with("gnux32") => (32, le, EM_X86_64),
        "x86_64" => (64, le, EM_X86_64),
        "i386" | "i486" | "i586" | "i686" => (32, le, EM_386),
        "aarch64" => (64, le, EM_AARCH64),
        "aarch64_be" => (64, Endian::Big, EM_AARCH64),
        "arm" | "armv7l" | "armv6l" => (32, le, EM_ARM),
        "powerpc64le" => (64, le, 21),
        "powerpc64" => (64, Endian::Big, 21),
        "powerpc" => (32, Endian::Big, 20),
        "s390x" => (64, Endian::Big, 22),
        "riscv64" => (64, le, 243),
        "mips64el" => (64, le, 8),
        "mipsel" => (32, le, 8),
        "loongarch64" => (64, le, 258),
        _ => return None,
    })
}

/// Whether a path lies in a directory named for the triplet of this very machine.
fn in_own_triplet_dir(path: &str, machine: Machine) -> bool {
    path.split('/')
        .filter_map(triplet_machine)
        .any(|m| m == machine)
}

fn is_library_name(name: &str) -> bool {
    name.ends_with(".so") || name.contains(".so.")
}

/// What a file is to the audit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Role {
    /// What the container runs: the entrypoint, else the CMD.
    Entrypoint,
    /// A program in a directory of `PATH`.
    OnPath,
    Program,
    Library,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Entrypoint => "the entrypoint",
            Role::OnPath => "a program on PATH",
            Role::Program => "a program",
            Role::Library => "a shared library",
        }
    }
}

/// The role of an ELF file, or `None` when it is data the platform never executes.
fn role_of(entry: &Entry, ident: &ElfIdent) -> Option<Role> {
    if entry.path.starts_with("/usr/share/") || !matches!(ident.e_type, ET_EXEC | ET_DYN) {
        return None;
    }
    let name = entry.path.rsplit('/').next().unwrap_or_default();
    if is_library_name(name) {
        return Some(Role::Library);
    }
    let starts = ident.interpreter.is_some() || ident.entry != 0;
    (starts && entry.mode & 0o111 != 0).then_some(Role::Program)
}

struct Finding<'a> {
    role: Role,
    group: String,
    path: &'a str,
    mismatch: Mismatch,
}

/// Every program or library of the merged filesystem the platform cannot run, and every program
/// whose interpreter the image lacks; paths matching `allow` are skipped.
pub fn elf(
    platform: &Platform,
    fs: &MergedFs,
    config: Option<&ImageConfiguration>,
    settings: &AuditSettings,
) -> Vec<Mismatch> {
    let Some(arch) = expected_arch(platform) else {
        return vec![Mismatch {
            check: "architecture".into(),
            expected: format!("an architecture archsmoke knows for {platform}"),
            actual: "unknown: add it to qemu/binfmt.toml to audit its executables".into(),
            note: None,
        }];
    };
    let expected = describe(arch.class, arch.endian, arch.e_machine);
    let runs = runnable(arch);
    let places = Places::new(fs, config);
    let mut owners: Option<Owners> = None;
    let mut findings = Vec::new();
    let elves = fs
        .entries()
        .filter(|(_, e)| matches!(e.kind, EntryKind::File | EntryKind::Hardlink(_)))
        .filter_map(|(_, e)| e.elf.as_ref().map(|i| (e, i)))
        .filter(|(e, _)| !settings.allow_set.is_match(&e.path));
    for (e, ident) in elves {
        let Some(mut role) = role_of(e, ident) else {
            continue;
        };
        if role == Role::Program {
            role = places.role_of_program(&e.path);
        }
        let machine = machine_of(ident);
        let mut found = Vec::new();
        if runs.contains(&machine) {
            if role != Role::Library
                && let Some(interp) = &ident.interpreter
                && !matches!(fs.lookup(interp, true), Lookup::Found { .. })
            {
                found.push(Mismatch {
                    check: format!("interpreter of {}", e.path),
                    expected: format!("{interp} in the image"),
                    actual: format!(
                        "missing: {} that cannot start",
                        role.name().replacen("a ", "", 1)
                    ),
                    note: None,
                });
            }
        } else if !in_own_triplet_dir(&e.path, machine) {
            found.push(Mismatch {
                check: format!("elf {}", e.path),
                expected: expected.clone(),
                actual: format!(
                    "{} ({})",
                    describe(ident.class, ident.endian, ident.e_machine),
                    role.name()
                ),
                note: None,
            });
        }
        if found.is_empty() {
            continue;
        }
        let owners = owners.get_or_insert_with(|| Owners::read(fs));
        let group = owners.group_of(&e.path);
        findings.extend(found.into_iter().map(|mismatch| Finding {
            role,
            group: group.clone(),
            path: &e.path,
            mismatch,
        }));
    }
    listed(findings)
}

/// Rank and group the findings, then cut the list, counting what is left out.
fn listed(mut findings: Vec<Finding<'_>>) -> Vec<Mismatch> {
    // A group ranks by its most important file.
    let mut group_rank: HashMap<String, Role> = HashMap::new();
    for f in &findings {
        let r = group_rank.entry(f.group.clone()).or_insert(f.role);
        *r = (*r).min(f.role);
    }
    findings.sort_by(|a, b| {
        (group_rank[&a.group], &a.group, a.role, a.path).cmp(&(
            group_rank[&b.group],
            &b.group,
            b.role,
            b.path,
        ))
    });
    let total = findings.len();
    let mut out = Vec::new();
    let mut shown = 0usize;
    let mut i = 0;
    while i < findings.len() {
        let group = findings[i].group.clone();
        let end = findings[i..]
            .iter()
            .position(|f| f.group != group)
            .map_or(findings.len(), |n| i + n);
        let in_group = end - i;
        for f in findings[i..end].iter().take(PER_GROUP) {
            if out.len() >= MAX_LISTED {
                break;
            }
            let mut m = f.mismatch.clone();
            m.actual = format!("{}; {group}", m.actual);
            out.push(m);
            shown += 1;
        }
        let listed_here = in_group.min(PER_GROUP);
        if in_group > listed_here && out.len() < MAX_LISTED {
            out.push(Mismatch {
                check: format!("elf {group}"),
                expected: Mismatch::UNLISTED_IN_GROUP.into(),
                actual: format!(
                    "{} more finding(s) in {group} not listed ({in_group} in all)",
                    in_group - listed_here
                ),
                note: None,
            });
            shown += in_group - listed_here;
        }
        i = end;
    }
    if shown < total {
        out.push(Mismatch {
            check: "more".into(),
            expected: Mismatch::UNLISTED.into(),
            actual: format!(
                "{} more not listed ({total} finding(s) in all)",
                total - shown
            ),
            note: None,
        });
    }
    out
}

/// Where the image's programs matter most: what the container runs and the `PATH` directories,
/// both resolved through the image's symlinks.
struct Places {
    entrypoint: Option<String>,
    path_dirs: Vec<String>,
}

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

impl Places {
    fn new(fs: &MergedFs, config: Option<&ImageConfiguration>) -> Places {
        let c = config.and_then(|c| c.config().clone()).unwrap_or_default();
        let path = c
            .env()
            .clone()
            .unwrap_or_default()
            .iter()
            .rev()
            .find_map(|kv| kv.strip_prefix("PATH=").map(str::to_owned))
            .unwrap_or_else(|| DEFAULT_PATH.to_owned());
        let resolve = |p: &str| match fs.lookup(p, true) {
            Lookup::Found { path, .. } => Some(path),
            _ => None,
        };
        let path_dirs: Vec<String> = path
            .split(':')
            .filter(|d| d.starts_with('/'))
            .filter_map(resolve)
            .collect();
        let first = c
            .entrypoint()
            .clone()
            .filter(|e| !e.is_empty())
            .or_else(|| c.cmd().clone())
            .and_then(|v| v.into_iter().next());
        let entrypoint = first.and_then(|cmd| {
            if cmd.contains('/') {
                resolve(&cmd)
            } else {
                path_dirs
                    .iter()
                    .find_map(|d| resolve(&format!("{d}/{cmd}")))
            }
        });
        Places {
            entrypoint,
            path_dirs,
        }
    }

    fn role_of_program(&self, path: &str) -> Role {
        if self.entrypoint.as_deref() == Some(path) {
            return Role::Entrypoint;
        }
        let dir = path.rsplit_once('/').map_or("/", |(d, _)| d);
        if self.path_dirs.iter().any(|d| d == dir) {
            Role::OnPath
        } else {
            Role::Program
        }
    }
}

/// Which package owns each file, from the image's dpkg (`/var/lib/dpkg/info/*.list`) or apk
/// (`/lib/apk/db/installed`) database. Package lists name the paths the package shipped
/// (`/lib/...` on a merged-`/usr` system), so each is resolved through the image's symlinks.
struct Owners<'a> {
    fs: &'a MergedFs,
    by_path: HashMap<String, String>,
}

impl<'a> Owners<'a> {
    fn read(fs: &'a MergedFs) -> Owners<'a> {
        let mut raw: BTreeMap<String, String> = BTreeMap::new();
        for (_, e) in fs.entries() {
            let Some(bytes) = &e.content else { continue };
            let text = String::from_utf8_lossy(bytes);
            if let Some(name) = e
                .path
                .strip_prefix("/var/lib/dpkg/info/")
                .and_then(|n| n.strip_suffix(".list"))
            {
                let package = name.split(':').next().unwrap_or(name);
                for line in text.lines().filter(|l| l.starts_with('/') && *l != "/.") {
                    raw.insert(line.to_owned(), package.to_owned());
                }
            } else if e.path == "/lib/apk/db/installed" {
                apk_files(&text, &mut raw);
            }
        }
        let mut owners = Owners {
            fs,
            by_path: HashMap::new(),
        };
        let mut dirs: HashMap<String, Option<String>> = HashMap::new();
        for (path, package) in raw {
            let (dir, name) = path.rsplit_once('/').unwrap_or(("", &path));
            let dir = if dir.is_empty() { "/" } else { dir };
            let real = dirs
                .entry(dir.to_owned())
                .or_insert_with(|| match owners.fs.lookup(dir, true) {
                    Lookup::Found { path, .. } => Some(path),
                    _ => None,
                })
                .clone();
            if let Some(real) = real {
                let key = if real == "/" {
                    format!("/{name}")
                } else {
                    format!("{real}/{name}")
                };
                owners.by_path.insert(key, package);
            }
        }
        owners
    }

    /// "package X" when the database names the file's owner, else its directory.
    fn group_of(&self, path: &str) -> String {
        let dir = path.rsplit_once('/').map_or("/", |(d, _)| d);
        let canonical = match self.fs.lookup(dir, true) {
            Lookup::Found { path: real, .. } => {
                let name = path.rsplit('/').next().unwrap_or_default();
                format!("{}/{name}", real.trim_end_matches('/'))
            }
            _ => path.to_owned(),
        };
        match self.by_path.get(&canonical) {
            Some(package) => format!("package {package}"),
            None => format!("directory {}", if dir.is_empty() { "/" } else { dir }),
        }
    }
}

/// The files of apk's installed database: `P:` names a package, `F:` a directory, `R:` a file.
fn apk_files(text: &str, out: &mut BTreeMap<String, String>) {
    let (mut package, mut dir) = (String::new(), String::new());
    for line in text.lines() {
        if let Some(p) = line.strip_prefix("P:") {
            package = p.to_owned();
        } else if let Some(d) = line.strip_prefix("F:") {
            dir = d.to_owned();
        } else if let Some(f) = line.strip_prefix("R:") {
            out.insert(format!("/{dir}/{f}").replace("//", "/"), package.clone());
        }
    }
}

#[cfg(test)]
#[path = "elf_tests.rs"]
mod tests;
