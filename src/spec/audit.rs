//! The spec's image checks that need no container: `[[file]]` (read from the layers),
//! `[[package]]` (the package database in the layers), `[metadata]` (the image config) and
//! `[audit]` (the ELF architecture scan), validated here so that the audit itself cannot fail
//! because of what the user wrote.

use std::collections::BTreeMap;

use globset::{Glob, GlobSet, GlobSetBuilder};
use regex::Regex;
use toml::Spanned;

use super::number;
use super::raw::{OneOrMany, RawAudit, RawFile, RawLicense, RawMetadata, RawPackage};
use super::{SpecError, Validator};
use crate::pkgdb::Manager;
use crate::platform::Platform;
use crate::range::IntRange;

/// What a `[[file]]` expects of the entry at `path`.
#[derive(Debug, Clone)]
pub struct FileCheck {
    /// Absolute and normalized (`/bin/busybox`).
    pub path: String,
    pub exists: bool,
    pub kind: Option<FileKind>,
    /// The symlink's target exactly as stored; implies `kind = symlink`.
    pub target: Option<String>,
    /// Permission bits (`0o7777` mask).
    pub mode: Option<u32>,
    pub uid: Option<IntRange>,
    pub gid: Option<IntRange>,
    pub size: Option<IntRange>,
    pub content: Option<String>,
    pub contains: Vec<String>,
    pub matches: Vec<Regex>,
    pub excludes: Vec<String>,
    pub not_matches: Vec<Regex>,
    pub platforms: Option<Vec<Platform>>,
    /// The result's name in reports; `None` gives `file <path>`.
    pub name: Option<String>,
    /// Go's `FileMode.String()` of the entry, e.g. `-rwxr-xr-x`, `Lrwxrwxrwx`, `dgrwxr-xr-x`.
    pub permissions: Option<String>,
    pub executable_by: Option<ExecutableBy>,
    /// Follow a symlink at the last component (stat) or check the link itself (lstat).
    pub follow: bool,
}

/// Whose execute bit `executable_by` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecutableBy {
    /// Any of the three.
    Any,
    Owner,
    Group,
    Other,
}

impl ExecutableBy {
    /// The execute bits, one of which must be set.
    pub fn mask(self) -> u32 {
        match self {
            ExecutableBy::Any => 0o111,
            ExecutableBy::Owner => 0o100,
            ExecutableBy::Group => 0o010,
            ExecutableBy::Other => 0o001,
        }
    }
}

impl FileCheck {
    /// The result's name in reports.
    pub fn report_name(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| format!("file {}", self.path))
    }

    /// Whether the check reads the file's bytes (they are kept only for such files).
    pub fn needs_content(&self) -> bool {
        self.content.is_some()
            || !self.contains.is_empty()
            || !self.matches.is_empty()
            || !self.excludes.is_empty()
            || !self.not_matches.is_empty()
    }

    pub fn applies_to(&self, platform: &Platform) -> bool {
        super::service::applies(&self.platforms, platform)
    }
}

/// A `[[license]]`: Debian copyright files and named files must exist and not mention a
/// licence container-structure-test forbids.
#[derive(Debug, Clone)]
pub struct LicenseCheck {
    /// The result's name in reports (default `license`).
    pub name: String,
    /// Every `/usr/share/doc/<package>/` needs a `copyright` file.
    pub debian: bool,
    /// Absolute paths.
    pub files: Vec<String>,
}

/// A `[[package]]`: what the image's package database must say of one package, read as goss
/// reads it (`installed`, then `versions`).
#[derive(Debug, Clone)]
pub struct PackageCheck {
    /// As the package database names it; dpkg's `name:arch` names one architecture's instance.
    pub name: String,
    pub installed: bool,
    /// Versions that must all be among the installed ones (goss's list matcher, ContainElements:
    /// each expected version matched by an installed instance of its own).
    pub versions: Option<Vec<String>>,
    /// `None`: whichever database the image has (`auto`).
    pub manager: Option<Manager>,
    pub platforms: Option<Vec<Platform>>,
    /// The result's name in reports; `None` gives `package <name>`.
    pub title: Option<String>,
}

impl PackageCheck {
    pub fn report_name(&self) -> String {
        self.title
            .clone()
            .unwrap_or_else(|| format!("package {}", self.name))
    }

    pub fn applies_to(&self, platform: &Platform) -> bool {
        super::service::applies(&self.platforms, platform)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    File,
    Directory,
    Symlink,
}

impl std::fmt::Display for FileKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FileKind::File => "file",
            FileKind::Directory => "directory",
            FileKind::Symlink => "symlink",
        })
    }
}

/// Expectations on the image config; `None` leaves a field unchecked.
#[derive(Debug, Clone, Default)]
pub struct MetadataCheck {
    /// The result's name, when not `metadata`.
    pub name: Option<String>,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub env: BTreeMap<String, String>,
    pub env_matches: Vec<(String, Regex)>,
    pub env_unset: Vec<String>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    pub labels: BTreeMap<String, String>,
    /// Labels whose value must match a regex (a version or commit a spec cannot spell out).
    pub labels_matches: Vec<(String, Regex)>,
    /// Normalized as `port/proto` (`8080` is `8080/tcp`); compared as a set.
    pub exposed_ports: Option<Vec<String>>,
    /// Compared as a set.
    pub volumes: Option<Vec<String>>,
    /// Each must be exposed; `8080` (no protocol) matches any protocol.
    pub exposed_ports_include: Vec<String>,
    /// None may be exposed; `8080` (no protocol) matches any protocol.
    pub unexposed_ports: Vec<String>,
    pub volumes_include: Vec<String>,
    pub unmounted_volumes: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElfLevel {
    Off,
    /// Mismatches are shown but do not fail the platform.
    Warn,
    Error,
}

#[derive(Debug, Clone)]
pub struct AuditSettings {
    pub elf: ElfLevel,
    /// Paths exempt from the ELF audit, as written and compiled.
    pub allow: Vec<String>,
    pub allow_set: GlobSet,
}

impl AuditSettings {
    pub fn new(elf: ElfLevel, allow: Vec<String>) -> Result<AuditSettings, globset::Error> {
        let mut builder = GlobSetBuilder::new();
        for a in &allow {
            builder.add(Glob::new(a)?);
        }
        Ok(AuditSettings {
            elf,
            allow,
            allow_set: builder.build()?,
        })
    }
}

impl Default for AuditSettings {
    fn default() -> Self {
        AuditSettings {
            // Findings are programs and libraries the platform cannot run (check::elf), so a
            // finding is a defect: it fails unless the spec says `warn`.
            elf: ElfLevel::Error,
            allow: Vec::new(),
            allow_set: GlobSet::empty(),
        }
    }
}

/// Whether `text` is a string Go's `FileMode.String()` can produce: type letters from
/// `dalTLDpSugct?` in that order (or `-`), then nine `rwx` positions.
pub fn valid_permissions(text: &str) -> bool {
    // The nine positions are ASCII: a split inside a character means they are not there.
    let Some(split) = text
        .len()
        .checked_sub(9)
        .filter(|&i| text.is_char_boundary(i))
    else {
        return false;
    };
    let (kind, perm) = text.split_at(split);
    let perm_ok = perm
        .chars()
        .zip("rwxrwxrwx".chars())
        .all(|(c, want)| c == want || c == '-');
    let mut order = "dalTLDpSugct?".chars();
    let kind_ok = kind == "-" || (!kind.is_empty() && kind.chars().all(|c| order.any(|o| o == c)));
    perm_ok && kind_ok
}

/// Make `path` absolute with no `.`, `..` or repeated slashes; `None` when it is not absolute.
pub fn normalize_path(path: &str) -> Option<String> {
    if !path.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    Some(format!("/{}", parts.join("/")))
}

impl Validator<'_> {
    pub(super) fn file(
        &self,
        raw: &Spanned<RawFile>,
        spec_platforms: Option<&[Platform]>,
    ) -> Result<FileCheck, SpecError> {
        let raw = raw.get_ref();
        self.check_text("the path", raw.path.get_ref(), &raw.path)?;
        let path = normalize_path(raw.path.get_ref().trim()).ok_or_else(|| {
            self.err(
                &raw.path,
                format!("`{}` is not an absolute path", raw.path.get_ref()),
            )
            .with_hint("write paths inside the image from its root, such as \"/bin/sh\"")
        })?;
        let mut kind = match &raw.kind {
            None => None,
            Some(k) => Some(match k.get_ref().as_str() {
                "file" => FileKind::File,
                "directory" | "dir" => FileKind::Directory,
                "symlink" => FileKind::Symlink,
                other => {
                    return Err(self
                        .err(k, format!("unknown file type `{other}`"))
                        .with_hint("use \"file\", \"directory\" or \"symlink\""));
                }
            }),
        };
        if raw.target.is_some() {
            if kind.is_some_and(|k| k != FileKind::Symlink) {
                return Err(self
                    .err(&raw.path, "`target` is only for symlinks")
                    .with_hint("remove `type` or set it to \"symlink\""));
            }
            kind = Some(FileKind::Symlink);
        }
        let mode = raw
            .mode
            .as_ref()
            .map(|m| {
                u32::from_str_radix(m.get_ref().trim_start_matches("0o"), 8)
                    .ok()
                    .filter(|v| *v <= 0o7777)
                    .ok_or_else(|| {
                        self.err(m, format!("bad mode `{}`", m.get_ref()))
                            .with_hint("write modes in octal as a string, such as \"0755\"")
                    })
            })
            .transpose()?;
        let platforms = self.narrowed_platforms(
            raw.platforms.as_deref(),
            spec_platforms,
            &raw.path,
            &format!("file `{}`", raw.path.get_ref()),
        )?;
        let exists = raw.exists.unwrap_or(true);
        let permissions = match &raw.permissions {
            Some(p) if !valid_permissions(p.get_ref()) => {
                return Err(self
                    .err(p, format!("bad permissions `{}`", p.get_ref()))
                    .with_hint(
                        "write them as Go's FileMode.String() does: type letters then rwx, \
                         such as \"-rwxr-xr-x\", \"drwxr-xr-x\" or \"Lrwxrwxrwx\"",
                    ));
            }
            Some(p) => Some(p.get_ref().clone()),
            None => None,
        };
        let executable_by = match &raw.executable_by {
            None => None,
            Some(e) => Some(match e.get_ref().as_str() {
                "any" => ExecutableBy::Any,
                "owner" => ExecutableBy::Owner,
                "group" => ExecutableBy::Group,
                "other" => ExecutableBy::Other,
                other => {
                    return Err(self
                        .err(e, format!("unknown `executable_by` value `{other}`"))
                        .with_hint("use \"any\", \"owner\", \"group\" or \"other\""));
                }
            }),
        };
        if let Some(n) = &raw.name
            && n.get_ref().trim().is_empty()
        {
            return Err(self
                .err(n, "`name` is empty")
                .with_hint("leave it out to name the result `file <path>`"));
        }
        if let Some(n) = &raw.name {
            self.check_text("the [[file]] name", n.get_ref(), n)?;
        }
        let number = |raw: &Option<Spanned<number::RawNumber>>, key, domain| {
            raw.as_ref()
                .map(|n| self.number(n, key, domain))
                .transpose()
        };
        let check = FileCheck {
            path,
            exists,
            kind,
            target: raw.target.clone(),
            mode,
            uid: number(&raw.uid, "uid", number::IDS)?,
            gid: number(&raw.gid, "gid", number::IDS)?,
            size: number(&raw.size, "size", number::SIZES)?,
            content: raw.content.clone(),
            contains: raw
                .contains
                .clone()
                .map_or_else(Vec::new, OneOrMany::into_vec),
            matches: raw
                .matches
                .as_ref()
                .map(|m| self.regexes(m))
                .transpose()?
                .unwrap_or_default(),
            excludes: raw
                .excludes
                .clone()
                .map_or_else(Vec::new, OneOrMany::into_vec),
            not_matches: raw
                .not_matches
                .as_ref()
                .map(|m| self.regexes(m))
                .transpose()?
                .unwrap_or_default(),
            platforms,
            name: raw.name.as_ref().map(|n| n.get_ref().clone()),
            permissions,
            executable_by,
            follow: raw.follow.unwrap_or(true),
        };
        let expects_more = check.kind.is_some()
            || check.mode.is_some()
            || check.uid.is_some()
            || check.gid.is_some()
            || check.size.is_some()
            || check.permissions.is_some()
            || check.executable_by.is_some()
            || check.needs_content();
        if !exists && expects_more {
            return Err(self
                .err(
                    &raw.path,
                    format!("`{}` must be absent, yet has expectations", check.path),
                )
                .with_hint("remove `exists = false` or the other keys"));
        }
        if check.needs_content() && check.kind.is_some_and(|k| k != FileKind::File) {
            return Err(self
                .err(&raw.path, "content checks need `type = \"file\"`")
                .with_hint("content is compared only for regular files"));
        }
        Ok(check)
    }

    pub(super) fn license(&self, raw: &Spanned<RawLicense>) -> Result<LicenseCheck, SpecError> {
        let r = raw.get_ref();
        if let Some(name) = &r.name {
            self.check_text("the [[license]] name", name.get_ref(), name)?;
        }
        let mut files = Vec::new();
        for f in &r.files {
            self.check_text("the path", f.get_ref(), f)?;
            files.push(normalize_path(f.get_ref()).ok_or_else(|| {
                self.err(f, format!("`{}` is not an absolute path", f.get_ref()))
                    .with_hint("write paths inside the image from its root")
            })?);
        }
        if !r.debian && files.is_empty() {
            return Err(self
                .err(raw, "this [[license]] checks nothing")
                .with_hint("set `debian = true` or list `files`"));
        }
        Ok(LicenseCheck {
            name: r
                .name
                .as_ref()
                .map_or_else(|| "license".to_owned(), |n| n.get_ref().clone()),
            debian: r.debian,
            files,
        })
    }

    pub(super) fn package(
        &self,
        raw: &Spanned<RawPackage>,
        spec_platforms: Option<&[Platform]>,
    ) -> Result<PackageCheck, SpecError> {
        let r = raw.get_ref();
        let name = r.name.get_ref();
        self.check_text("the package name", name, &r.name)?;
        if name.trim().is_empty() || name.trim() != name {
            return Err(self
                .err(&r.name, format!("`{name}` is not a package name"))
                .with_hint("write the name as the package database lists it, such as \"bash\""));
        }
        if let Some(t) = &r.title {
            self.check_text("the [[package]] title", t.get_ref(), t)?;
        }
        let manager = match &r.manager {
            None => None,
            Some(m) if m.get_ref() == "auto" => None,
            Some(m) => Some(Manager::from_name(m.get_ref()).ok_or_else(|| {
                self.err(m, format!("unknown package manager `{}`", m.get_ref()))
                    .with_hint("use \"auto\" (the default), \"dpkg\", \"apk\" or \"rpm\"")
            })?),
        };
        let installed = r.installed.unwrap_or(true);
        let versions = match &r.versions {
            None => None,
            Some(v) if v.get_ref().is_empty() => {
                return Err(self
                    .err(
                        v,
                        "`versions` is an empty list, which every package matches",
                    )
                    .with_hint("list the versions that must be installed, or remove `versions`"));
            }
            Some(v) if !installed => {
                return Err(self
                    .err(
                        v,
                        format!("package `{name}` must be absent, yet has versions"),
                    )
                    .with_hint("remove `installed = false` or `versions`"));
            }
            Some(v) => {
                for version in v.get_ref() {
                    self.check_text("a version", version.get_ref(), version)?;
                }
                Some(v.get_ref().iter().map(|v| v.get_ref().clone()).collect())
            }
        };
        let platforms = self.narrowed_platforms(
            r.platforms.as_deref(),
            spec_platforms,
            &r.name,
            &format!("package `{name}`"),
        )?;
        Ok(PackageCheck {
            name: name.clone(),
            installed,
            versions,
            manager,
            platforms,
            title: r.title.as_ref().map(|t| t.get_ref().clone()),
        })
    }

    pub(super) fn metadata(&self, raw: RawMetadata) -> Result<MetadataCheck, SpecError> {
        let env_matches = self.named_regexes(raw.env_matches)?;
        let exposed_ports = raw
            .exposed_ports
            .map(|ports| {
                ports
                    .iter()
                    .map(|p| self.port(p))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        let labels_matches = self.named_regexes(raw.labels_matches)?;
        let port_list = |ports: Option<Vec<Spanned<String>>>| {
            ports
                .unwrap_or_default()
                .iter()
                .map(|p| self.port_or_number(p))
                .collect::<Result<Vec<_>, _>>()
        };
        let exposed_ports_include = port_list(raw.exposed_ports_include)?;
        let unexposed_ports = port_list(raw.unexposed_ports)?;
        if let Some(name) = &raw.name {
            self.check_name(name)?;
            if name.get_ref().trim().is_empty() {
                return Err(self
                    .err(name, "`name` is empty")
                    .with_hint("leave it out to name the result `metadata`"));
            }
        }
        Ok(MetadataCheck {
            name: raw.name.map(|n| n.into_inner()),
            labels_matches,
            exposed_ports_include,
            unexposed_ports,
            volumes_include: raw.volumes_include.unwrap_or_default(),
            unmounted_volumes: raw.unmounted_volumes.unwrap_or_default(),
            entrypoint: raw.entrypoint,
            cmd: raw.cmd,
            env: raw.env.unwrap_or_default(),
            env_matches,
            env_unset: raw.env_unset.unwrap_or_default(),
            user: raw.user,
            workdir: raw.workdir,
            labels: raw.labels.unwrap_or_default(),
            exposed_ports,
            volumes: raw.volumes,
        })
    }

    /// `{ NAME = "regex" }` tables (`env_matches`, `labels_matches`), compiled in name order; a
    /// list of patterns (`{ PATH = ["/bin", "/usr/bin"] }`) must all match, one check each.
    fn named_regexes(
        &self,
        raw: Option<BTreeMap<String, Spanned<OneOrMany>>>,
    ) -> Result<Vec<(String, Regex)>, SpecError> {
        let mut out = Vec::new();
        for (name, patterns) in raw.unwrap_or_default() {
            let compiled = self.all_of(&patterns, &format!("`{name}`"))?;
            out.extend(compiled.into_iter().map(|re| (name.clone(), re)));
        }
        Ok(out)
    }

    fn port(&self, raw: &Spanned<String>) -> Result<String, SpecError> {
        let text = raw.get_ref().trim().to_ascii_lowercase();
        let (port, proto) = text.split_once('/').unwrap_or((&text, "tcp"));
        if port.parse::<u16>().is_err() || !["tcp", "udp", "sctp"].contains(&proto) {
            return Err(self
                .err(raw, format!("bad port `{}`", raw.get_ref()))
                .with_hint("write ports as in a Dockerfile's EXPOSE: \"8080\" or \"53/udp\""));
        }
        Ok(format!("{port}/{proto}"))
    }

    /// A port as written (`8080`, any protocol) or normalized with its protocol (`53/udp`).
    fn port_or_number(&self, raw: &Spanned<String>) -> Result<String, SpecError> {
        let text = raw.get_ref().trim();
        if !text.contains('/') && text.parse::<u16>().is_ok() {
            return Ok(text.to_owned());
        }
        self.port(raw)
    }

    pub(super) fn audit(&self, raw: Option<Spanned<RawAudit>>) -> Result<AuditSettings, SpecError> {
        let Some(raw) = raw else {
            return Ok(AuditSettings::default());
        };
        let raw = raw.into_inner();
        let elf = match &raw.elf {
            None => ElfLevel::Error,
            Some(e) => match e.get_ref().as_str() {
                "off" => ElfLevel::Off,
                "warn" => ElfLevel::Warn,
                "error" => ElfLevel::Error,
                other => {
                    return Err(self
                        .err(e, format!("unknown audit level `{other}`"))
                        .with_hint("use \"off\", \"warn\" or \"error\" (the default)"));
                }
            },
        };
        let allow = raw.allow.unwrap_or_default();
        for a in &allow {
            Glob::new(a.get_ref()).map_err(|e| {
                self.err(a, format!("bad glob `{}`: {}", a.get_ref(), e.kind()))
                    .with_hint("globs look like \"/opt/cross/**\" or \"/usr/lib/*.so\"")
            })?;
        }
        let allow: Vec<String> = allow.into_iter().map(Spanned::into_inner).collect();
        AuditSettings::new(elf, allow).map_err(|e| {
            SpecError::file(self.path, format!("bad `allow` glob: {e}"))
                .with_hint("globs look like \"/opt/cross/**\"")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn parse(text: &str) -> Result<super::super::Spec, SpecError> {
        super::super::parse(Path::new("audit.toml"), text)
    }

    #[test]
    fn paths_are_normalized() {
        assert_eq!(normalize_path("/bin//./sh").as_deref(), Some("/bin/sh"));
        assert_eq!(normalize_path("/a/../../etc").as_deref(), Some("/etc"));
        assert_eq!(normalize_path("bin/sh"), None);
    }

    #[test]
    fn a_spec_of_only_file_and_metadata_checks_is_valid() {
        let spec = parse(
            "image = \"x\"\n[[file]]\npath = \"/bin/busybox\"\nmode = \"0755\"\n\
             [metadata]\ncmd = [\"sh\"]\nexposed_ports = [\"8080\"]\n",
        )
        .expect("valid");
        assert!(spec.tests.is_empty());
        assert_eq!(spec.files[0].mode, Some(0o755));
        let meta = spec.metadata.expect("metadata");
        assert_eq!(meta.exposed_ports, Some(vec!["8080/tcp".to_owned()]));
        assert_eq!(spec.audit.elf, ElfLevel::Error);
    }

    #[test]
    fn nothing_to_check_is_still_an_error() {
        let e = parse("image = \"x\"\n").expect_err("empty spec");
        assert!(e.to_string().contains("nothing to check"), "{e}");
    }

    #[test]
    fn bad_values_point_at_their_line() {
        for (text, needle) in [
            ("[[file]]\npath = \"bin\"\n", "absolute"),
            ("[[file]]\npath = \"/x\"\nmode = \"999\"\n", "bad mode"),
            (
                "[[file]]\npath = \"/x\"\ntype = \"fifo\"\n",
                "unknown file type",
            ),
            (
                "[[file]]\npath = \"/x\"\nexists = false\nsize = 1\n",
                "must be absent",
            ),
            ("[[file]]\npath = \"/x\"\nmatches = \"(\"\n", "bad regex"),
            (
                "[[file]]\npath = \"/x\\n::error::y\"\n",
                "contains the character",
            ),
            (
                "[[file]]\npath = \"/x\"\nname = \"\\u001b[2J\"\n",
                "contains the character",
            ),
            (
                "[[license]]\nname = \"l\\u0007\"\ndebian = true\n",
                "contains the character",
            ),
            (
                "[[license]]\nfiles = [\"/a\\u202e\"]\n",
                "contains the character",
            ),
            ("[audit]\nelf = \"loud\"\n", "unknown audit level"),
            ("[audit]\nallow = [\"a[\"]\n", "bad glob"),
            ("[metadata]\nexposed_ports = [\"http\"]\n", "bad port"),
            ("[metadata]\nenv_matches = { A = \"(\" }\n", "bad regex"),
            ("[metadata]\nlabels_matches = { A = \"(\" }\n", "bad regex"),
            (
                "[metadata]\nenv_matches = { A = [\"a\", \"(\"] }\n",
                "bad regex",
            ),
            (
                "[metadata]\nlabels_matches = { A = [] }\n",
                "`A` has an empty list of patterns",
            ),
        ] {
            let e = parse(text).expect_err(text);
            assert!(e.to_string().contains(needle), "{text}: {e}");
            assert!(e.to_string().contains("audit.toml:"), "{e}");
        }
    }

    #[test]
    fn a_list_of_patterns_is_one_check_per_pattern() {
        let spec = parse(
            "[metadata]\nenv_matches = { PATH = [\"/bin\", \"/usr/bin\"], HOME = \"^/root$\" }\n\
             labels_matches = { a = [\"x\"] }\n",
        )
        .expect("valid");
        let m = spec.metadata.expect("metadata");
        let names: Vec<(&str, &str)> = m
            .env_matches
            .iter()
            .map(|(n, re)| (n.as_str(), re.as_str()))
            .collect();
        assert_eq!(
            names,
            [("HOME", "^/root$"), ("PATH", "/bin"), ("PATH", "/usr/bin")]
        );
        assert_eq!(m.labels_matches.len(), 1);
    }

    #[test]
    fn a_package_check_defaults_to_installed_on_any_database() {
        let spec = parse(
            "platforms = [\"linux/amd64\", \"linux/arm64\"]\n\
             [[package]]\nname = \"bash\"\n\
             [[package]]\nname = \"zsh\"\ninstalled = false\nmanager = \"rpm\"\n\
             platforms = [\"linux/arm64\"]\n\
             [[package]]\nname = \"libc6:arm64\"\nversions = [\"2.36-9\"]\n\
             title = \"libc\"\n",
        )
        .expect("valid");
        let [bash, zsh, libc] = &spec.packages[..] else {
            panic!("three packages")
        };
        assert!(bash.installed && bash.manager.is_none() && bash.versions.is_none());
        assert_eq!(bash.report_name(), "package bash");
        assert_eq!(zsh.manager, Some(crate::pkgdb::Manager::Rpm));
        assert!(!zsh.installed);
        assert!(!zsh.applies_to(&Platform::new("linux", "amd64", None)));
        assert_eq!(libc.versions.as_deref(), Some(&["2.36-9".to_owned()][..]));
        assert_eq!(libc.report_name(), "libc");
        assert_eq!(spec.lines["package zsh"], 4);
    }

    #[test]
    fn a_package_check_that_cannot_hold_says_why_where() {
        for (text, needle) in [
            ("[[package]]\nname = \"\"\n", "not a package name"),
            (
                "[[package]]\nname = \"bash\"\nmanager = \"pacman\"\n",
                "unknown package manager `pacman`",
            ),
            (
                "[[package]]\nname = \"bash\"\nversions = []\n",
                "empty list",
            ),
            (
                "[[package]]\nname = \"bash\"\ninstalled = false\nversions = [\"1\"]\n",
                "must be absent, yet has versions",
            ),
            (
                "platforms = [\"linux/amd64\"]\n[[package]]\nname = \"bash\"\n\
                 platforms = [\"linux/arm64\"]\n",
                "not among the spec's platforms",
            ),
            (
                "[[package]]\nname = \"bash\"\nversion = \"1\"\n",
                "unknown key `version`",
            ),
            (
                "[[package]]\nname = \"a\\u0007\"\n",
                "contains the character",
            ),
        ] {
            let e = parse(text).expect_err(text);
            assert!(e.to_string().contains(needle), "{text}: {e}");
            assert!(e.to_string().contains("audit.toml:"), "{e}");
        }
    }

    #[test]
    fn target_implies_a_symlink() {
        let spec = parse("[[file]]\npath = \"/bin/sh\"\ntarget = \"busybox\"\n").expect("valid");
        assert_eq!(spec.files[0].kind, Some(FileKind::Symlink));
    }
}

#[cfg(test)]
mod cst_keys {
    use super::*;
    use std::path::Path;

    fn parse(text: &str) -> Result<super::super::Spec, SpecError> {
        super::super::parse(Path::new("keys.toml"), text)
    }

    #[test]
    fn permission_strings_follow_go() {
        for ok in [
            "-rwxr-xr-x",
            "Lrwxrwxrwx",
            "dgrwxr-xr-x",
            "dtrwxrwxrwx",
            "urwxr-xr-x",
            "ug---------",
        ] {
            assert!(valid_permissions(ok), "{ok}");
        }
        for bad in [
            "rwxr-xr-x",
            "-rwxr-xr-",
            "xrwxr-xr-x",
            "gdrwxr-xr-x",
            "-rwxrwxrwz",
            "",
            // Multi-byte text where the nine positions would start: refused, not a panic
            // (found by the `cst` fuzz target).
            "\u{4cb}w-r--r--",
            "é-r--r--",
        ] {
            assert!(!valid_permissions(bad), "{bad}");
        }
    }

    #[test]
    fn a_multibyte_permission_string_is_an_error_not_a_panic() {
        // The permission check split the string 9 bytes from its end, inside a character
        // (found by the `cst` fuzz target; `cst::tests` reads its input).
        let e = parse("[[file]]\npath = \"/bin/sh\"\npermissions = \"\\u04cbw-r--r--\"\n")
            .expect_err("invalid");
        assert!(e.to_string().contains("permissions"), "{e}");
    }

    #[test]
    fn added_keys_load_and_bad_values_are_positioned() {
        let spec = parse(
            "[[file]]\nname = \"n\"\npath = \"/bin/sh\"\nfollow = false\npermissions = \"Lrwxrwxrwx\"\n\
             executable_by = \"group\"\nnot_matches = \"x\"\n\
             [metadata]\nlabels_matches = { a = \"^1\" }\nexposed_ports_include = [\"53\", \"80/tcp\"]\n\
             unexposed_ports = [\"22\"]\nvolumes_include = [\"/d\"]\nunmounted_volumes = [\"/v\"]\n\
             [[license]]\ndebian = true\n",
        )
        .expect("valid");
        let f = &spec.files[0];
        assert_eq!(f.report_name(), "n");
        assert!(!f.follow);
        assert_eq!(f.executable_by, Some(ExecutableBy::Group));
        let m = spec.metadata.expect("metadata");
        assert_eq!(m.exposed_ports_include, ["53", "80/tcp"]);
        assert_eq!(spec.licenses[0].name, "license");
        for (text, needle) in [
            (
                "[[file]]\npath = \"/x\"\npermissions = \"755\"\n",
                "keys.toml:3:15: bad permissions",
            ),
            (
                "[[file]]\npath = \"/x\"\nexecutable_by = \"all\"\n",
                "keys.toml:3:17: unknown `executable_by`",
            ),
            (
                "[[file]]\npath = \"/x\"\nexists = false\npermissions = \"-rwxrwxrwx\"\n",
                "must be absent",
            ),
            (
                "[metadata]\nunexposed_ports = [\"ssh\"]\n",
                "keys.toml:2:20: bad port",
            ),
            (
                "[[license]]\nfiles = [\"rel\"]\n",
                "keys.toml:2:10: `rel` is not an absolute path",
            ),
            ("[[license]]\n", "checks nothing"),
            (
                "[[test]]\nname = \"t\"\ncommand = [\"x\"]\nsetup = [[]]\n",
                "keys.toml:4:9: a `setup` command is empty",
            ),
            (
                "[[test]]\nname = \"t\"\ncommand = [\"x\"]\nuser = \"\"\n",
                "`user` is empty",
            ),
            (
                "[[test]]\nname = \"t\"\ncommand = [\"x\"]\nstdout_not_matches = \"(\"\n",
                "bad regex",
            ),
        ] {
            let e = parse(text).expect_err(text).to_string();
            assert!(e.contains(needle), "{text}: {e}");
        }
    }

    #[test]
    fn exec_isolation_refuses_what_needs_a_container_per_test() {
        let e = parse(
            "[settings]\nisolation = \"exec\"\nexec_keepalive = [\"sleep\", \"infinity\"]\n\
             [[test]]\nname = \"t\"\ncommand = [\"x\"]\nsetup = [[\"y\"]]\n",
        )
        .expect_err("refused");
        assert!(
            e.to_string()
                .contains("need a container of its own per test"),
            "{e}"
        );
    }
}
