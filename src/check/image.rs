//! Image checks: pure comparisons of one platform's image with the spec, a `[[file]]` against
//! the merged filesystem, a `[[package]]` against the package database the audit read
//! ([`super::package`]), `[metadata]` against the image config, and every ELF file against the
//! platform's architecture. They return the expectations that did not hold.
//!
//! [`for_platform`] is the one list of a platform's image checks: the audit takes names, order,
//! what needs layers and what fails from it, and nothing else names a check. Reading the layers
//! and the config (I/O) is `audit`'s; the filesystem model the checks read is plain data of
//! this module's own ([`super::fs`]: [`MergedFs`], [`Entry`]), which knows nothing of where the
//! bytes came from.

use std::collections::BTreeSet;

use oci_spec::image::ImageConfiguration;

use super::fs::{Entry, EntryKind, Lookup, MergedFs};
use super::output;
use crate::arch::{self, ArchDef, Endian};
use crate::outcome::Mismatch;
use crate::platform::Platform;
use crate::spec::{
    AuditSettings, ElfLevel, FileCheck, FileKind, MetadataCheck, PackageCheck, StreamExpect,
};

/// One image check of one platform.
#[derive(Debug, Clone, Copy)]
pub enum ImageCheck<'a> {
    File(&'a FileCheck),
    Package(&'a PackageCheck),
    Metadata(&'a MetadataCheck),
    Elf(&'a AuditSettings),
}

/// What an image check reads: the platform, its config, its merged filesystem (empty for checks
/// that do not need layers when they could not be read), the bytes of the file a content
/// check names, and for a package check the package database the audit read for it.
pub struct ImageView<'a> {
    pub platform: &'a Platform,
    pub config: &'a ImageConfiguration,
    pub fs: &'a MergedFs,
    pub content: Option<&'a [u8]>,
    pub database: Option<&'a Result<super::package::Database, String>>,
}

/// The image checks the spec asks of `platform`, in the order reports show them: its files,
/// its packages, the metadata, the ELF audit.
pub fn for_platform<'a>(
    files: &'a [FileCheck],
    packages: &'a [PackageCheck],
    metadata: Option<&'a MetadataCheck>,
    audit: &'a AuditSettings,
    platform: &Platform,
) -> Vec<ImageCheck<'a>> {
    let mut list: Vec<ImageCheck<'a>> = files
        .iter()
        .filter(|f| f.applies_to(platform))
        .map(ImageCheck::File)
        .collect();
    list.extend(
        packages
            .iter()
            .filter(|p| p.applies_to(platform))
            .map(ImageCheck::Package),
    );
    list.extend(metadata.map(ImageCheck::Metadata));
    if audit.elf != ElfLevel::Off {
        list.push(ImageCheck::Elf(audit));
    }
    list
}

impl ImageCheck<'_> {
    /// The name of its test report.
    pub fn name(&self) -> String {
        match self {
            ImageCheck::File(f) => f.report_name(),
            ImageCheck::Package(p) => p.report_name(),
            ImageCheck::Metadata(m) => m.name.clone().unwrap_or_else(|| "metadata".into()),
            ImageCheck::Elf(_) => "audit elf".into(),
        }
    }

    /// Whether it reads layers; one that does not still answers when they cannot be read.
    pub fn needs_layers(&self) -> bool {
        !matches!(self, ImageCheck::Metadata(_))
    }

    /// Whether a mismatch fails the test; at `elf = "warn"` it is shown on a passed test.
    pub fn fails(&self) -> bool {
        match self {
            ImageCheck::Elf(a) => a.elf == ElfLevel::Error,
            _ => true,
        }
    }

    pub fn check(&self, image: &ImageView<'_>) -> Vec<Mismatch> {
        match self {
            ImageCheck::File(f) => file(f, image.fs, image.content),
            ImageCheck::Package(p) => match image.database {
                Some(db) => super::package::package(p, db),
                None => vec![Mismatch::new(
                    "package database",
                    "a package database",
                    "not read (an archsmoke bug: the audit read none for this check)",
                )],
            },
            ImageCheck::Metadata(m) => metadata(m, image.config),
            ImageCheck::Elf(a) => super::elf::elf(image.platform, image.fs, Some(image.config), a),
        }
    }
}

fn kind_name(kind: &EntryKind) -> String {
    match kind {
        EntryKind::File | EntryKind::Hardlink(_) => "file".into(),
        EntryKind::Directory => "directory".into(),
        EntryKind::Symlink(t) => format!("symlink to {t}"),
        _ => "special file".into(),
    }
}

/// Check one `[[file]]`. `content` is the file's bytes when the check reads them (the caller
/// fetches them, possibly from the layer a symlink led to).
pub fn file(check: &FileCheck, fs: &MergedFs, content: Option<&[u8]>) -> Vec<Mismatch> {
    let mut out = Vec::new();
    let follow = check.follow && check.kind != Some(FileKind::Symlink);
    let entry = match fs.lookup(&check.path, follow) {
        Lookup::Found { entry, path, .. } => Some((entry, path)),
        Lookup::Missing { path } => {
            if check.exists {
                let why = if path == check.path {
                    "missing".to_owned()
                } else {
                    format!("missing ({path} does not exist)")
                };
                out.push(Mismatch::new("exists", "present", why));
            }
            None
        }
        Lookup::Loop => {
            out.push(Mismatch::new(
                "exists",
                if check.exists { "present" } else { "absent" },
                "a symlink loop",
            ));
            None
        }
    };
    let Some((entry, resolved)) = entry else {
        return out;
    };
    if !check.exists {
        out.push(Mismatch::new(
            "exists",
            "absent",
            format!("present: {}", kind_name(&entry.kind)),
        ));
        return out;
    }
    if let Some(kind) = check.kind {
        let ok = matches!(
            (kind, &entry.kind),
            (FileKind::File, EntryKind::File | EntryKind::Hardlink(_))
                | (FileKind::Directory, EntryKind::Directory)
                | (FileKind::Symlink, EntryKind::Symlink(_))
        );
        if !ok {
            out.push(Mismatch::new(
                "type",
                kind.to_string(),
                kind_name(&entry.kind),
            ));
        }
    }
    if let (Some(target), EntryKind::Symlink(actual)) = (&check.target, &entry.kind)
        && target != actual
    {
        out.push(Mismatch::new("target", target, actual));
    }
    if let Some(mode) = check.mode
        && mode != entry.mode
    {
        out.push(Mismatch::new(
            "mode",
            format!("{mode:04o}"),
            format!("{:04o}", entry.mode),
        ));
    }
    if let Some(want) = &check.permissions {
        let got = go_file_mode(entry);
        if *want != got {
            out.push(Mismatch::new("permissions", want, got));
        }
    }
    if let Some(by) = check.executable_by
        && go_mode_bits(entry) & by.mask() == 0
    {
        out.push(Mismatch::new(
            "executable by",
            format!("{by:?}").to_lowercase(),
            format!("not: {}", go_file_mode(entry)),
        ));
    }
    for (what, want, got) in [
        ("uid", check.uid, entry.uid),
        ("gid", check.gid, entry.gid),
        ("size", check.size, entry.size),
    ] {
        if let Some(want) = want
            && !want.contains_u64(got)
        {
            out.push(Mismatch::new(what, want.to_string(), got.to_string()));
        }
    }
    if check.needs_content() {
        match content {
            Some(bytes) => {
                let expect = StreamExpect {
                    exact: check.content.clone(),
                    contains: check.contains.clone(),
                    matches: check.matches.clone(),
                    excludes: check.excludes.clone(),
                    not_matches: check.not_matches.clone(),
                };
                output::stream(
                    "content",
                    &expect,
                    &String::from_utf8_lossy(bytes),
                    &mut out,
                );
            }
            None => out.push(Mismatch::new(
                "content",
                "a regular file",
                format!("{resolved} is a {}", kind_name(&entry.kind)),
            )),
        }
    }
    out
}

/// The permission bits as the engine shows them: a symlink's own mode is always 0777 on Linux,
/// whatever its tar header says.
fn go_mode_bits(entry: &Entry) -> u32 {
    match entry.kind {
        EntryKind::Symlink(_) => 0o777,
        _ => entry.mode,
    }
}

/// Go's `FileMode.String()` of an entry, as container-structure-test compares it: type letters
/// (`d`, `L`, then `u`/`g`/`t` for setuid, setgid and sticky), or `-`, then `rwxrwxrwx`.
pub fn go_file_mode(entry: &Entry) -> String {
    let mode = go_mode_bits(entry);
    let mut out = String::new();
    match entry.kind {
        EntryKind::Directory => out.push('d'),
        EntryKind::Symlink(_) => out.push('L'),
        // Devices and fifos: archsmoke's layer reader does not tell them apart.
        EntryKind::Other => out.push('?'),
        _ => {}
    }
    for (bit, letter) in [(0o4000, 'u'), (0o2000, 'g'), (0o1000, 't')] {
        if mode & bit != 0 {
            out.push(letter);
        }
    }
    if out.is_empty() {
        out.push('-');
    }
    for (i, c) in "rwxrwxrwx".chars().enumerate() {
        out.push(if mode & (1 << (8 - i)) != 0 { c } else { '-' });
    }
    out
}

/// Whether an image port (`8080/tcp`) is the one asked for: `8080` means any protocol.
fn port_is(image_port: &str, want: &str) -> bool {
    if want.contains('/') {
        image_port == want
    } else {
        image_port.split('/').next() == Some(want)
    }
}

/// Check `[metadata]` against an image config.
pub fn metadata(check: &MetadataCheck, config: &ImageConfiguration) -> Vec<Mismatch> {
    let mut out = Vec::new();
    let c = config.config().clone().unwrap_or_default();
    let list = |v: &Option<Vec<String>>| format!("{:?}", v.clone().unwrap_or_default());
    if let Some(want) = &check.entrypoint
        && *want != c.entrypoint().clone().unwrap_or_default()
    {
        out.push(Mismatch::new(
            "entrypoint",
            format!("{want:?}"),
            list(c.entrypoint()),
        ));
    }
    if let Some(want) = &check.cmd
        && *want != c.cmd().clone().unwrap_or_default()
    {
        out.push(Mismatch::new("cmd", format!("{want:?}"), list(c.cmd())));
    }
    let env: Vec<(String, String)> = c
        .env()
        .clone()
        .unwrap_or_default()
        .iter()
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k.to_owned(), v.to_owned())
        })
        .collect();
    let var = |name: &str| {
        env.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let shown = |v: Option<String>| v.map_or_else(|| "not set".to_owned(), |v| format!("{v:?}"));
    for (name, want) in &check.env {
        let got = var(name);
        if got.as_deref() != Some(want.as_str()) {
            out.push(Mismatch::new(
                format!("env {name}"),
                format!("{want:?}"),
                shown(got),
            ));
        }
    }
    for (name, re) in &check.env_matches {
        let got = var(name);
        if !got.as_deref().is_some_and(|v| re.is_match(v)) {
            out.push(Mismatch::new(
                format!("env {name} matches"),
                re.as_str(),
                shown(got),
            ));
        }
    }
    for name in &check.env_unset {
        if let Some(v) = var(name) {
            out.push(Mismatch::new(
                format!("env {name}"),
                "not set",
                format!("{v:?}"),
            ));
        }
    }
    for (what, want, got) in [
        ("user", &check.user, c.user()),
        ("workdir", &check.workdir, c.working_dir()),
    ] {
        if let Some(want) = want
            && want != got.as_deref().unwrap_or("")
        {
            out.push(Mismatch::new(
                what,
                format!("{want:?}"),
                format!("{:?}", got.clone().unwrap_or_default()),
            ));
        }
    }
    let labels = c.labels().clone().unwrap_or_default();
    for (name, want) in &check.labels {
        let got = labels.get(name);
        if got != Some(want) {
            out.push(Mismatch::new(
                format!("label {name}"),
                format!("{want:?}"),
                got.map_or_else(|| "not set".to_owned(), |v| format!("{v:?}")),
            ));
        }
    }
    for (name, re) in &check.labels_matches {
        let got = labels.get(name);
        if !got.is_some_and(|v| re.is_match(v)) {
            out.push(Mismatch::new(
                format!("label {name} matches"),
                re.as_str(),
                got.map_or_else(|| "not set".to_owned(), |v| format!("{v:?}")),
            ));
        }
    }
    let ports = c.exposed_ports().clone().unwrap_or_default();
    for want in &check.exposed_ports_include {
        if !ports.iter().any(|p| port_is(p, want)) {
            out.push(Mismatch::new("exposed port", want, format!("{ports:?}")));
        }
    }
    for want in &check.unexposed_ports {
        if ports.iter().any(|p| port_is(p, want)) {
            out.push(Mismatch::new("unexposed port", want, format!("{ports:?}")));
        }
    }
    let volumes = c.volumes().clone().unwrap_or_default();
    for want in &check.volumes_include {
        if !volumes.contains(want) {
            out.push(Mismatch::new("volume", want, format!("{volumes:?}")));
        }
    }
    for want in &check.unmounted_volumes {
        if volumes.contains(want) {
            out.push(Mismatch::new(
                "unmounted volume",
                want,
                format!("{volumes:?}"),
            ));
        }
    }
    let set = |v: &[String]| v.iter().cloned().collect::<BTreeSet<String>>();
    if let Some(want) = &check.exposed_ports {
        let got = set(&c.exposed_ports().clone().unwrap_or_default());
        if set(want) != got {
            out.push(Mismatch::new(
                "exposed ports",
                format!("{:?}", set(want)),
                format!("{got:?}"),
            ));
        }
    }
    if let Some(want) = &check.volumes {
        let got = set(&c.volumes().clone().unwrap_or_default());
        if set(want) != got {
            out.push(Mismatch::new(
                "volumes",
                format!("{:?}", set(want)),
                format!("{got:?}"),
            ));
        }
    }
    out
}

/// The architecture definition a platform's executables must match, when archsmoke knows it.
pub fn expected_arch(platform: &Platform) -> Option<&'static ArchDef> {
    arch::lookup(platform.architecture())
}

/// How an ELF identity reads to a person: `64-bit little-endian amd64 (x86_64, e_machine 62)`.
pub fn describe(class: u8, endian: Endian, e_machine: u16) -> String {
    let order = match endian {
        Endian::Little => "little-endian",
        Endian::Big => "big-endian",
    };
    match arch::definitions()
        .iter()
        .find(|d| d.class == class && d.endian == endian && d.e_machine == e_machine)
    {
        Some(d) => format!(
            "{class}-bit {order} {} ({}, e_machine {e_machine})",
            d.oci, d.name
        ),
        None => format!("{class}-bit {order} e_machine {e_machine}"),
    }
}

#[cfg(test)]
#[path = "image_tests.rs"]
mod tests;

#[cfg(test)]
mod cst_tests {
    use super::*;

    fn entry(kind: EntryKind, mode: u32) -> Entry {
        Entry {
            path: "/x".into(),
            kind,
            mode,
            uid: 0,
            gid: 0,
            size: 0,
            elf: None,
            content: None,
        }
    }

    #[test]
    fn file_modes_read_as_go_prints_them() {
        for (kind, mode, want) in [
            (EntryKind::File, 0o755, "-rwxr-xr-x"),
            (EntryKind::File, 0o4755, "urwxr-xr-x"),
            (EntryKind::Directory, 0o2775, "dgrwxrwxr-x"),
            (EntryKind::Directory, 0o1777, "dtrwxrwxrwx"),
            (EntryKind::Directory, 0o700, "drwx------"),
            // A symlink's own mode is 0777 whatever its tar header says.
            (EntryKind::Symlink("busybox".into()), 0o755, "Lrwxrwxrwx"),
            (EntryKind::File, 0o6000, "ug---------"),
        ] {
            assert_eq!(go_file_mode(&entry(kind, mode)), want);
        }
    }

    #[test]
    fn a_bare_port_number_matches_any_protocol() {
        assert!(port_is("53/udp", "53"));
        assert!(port_is("8080/tcp", "8080"));
        assert!(!port_is("8080/tcp", "80"));
        assert!(port_is("53/udp", "53/udp"));
        assert!(!port_is("53/udp", "53/tcp"));
    }
}
