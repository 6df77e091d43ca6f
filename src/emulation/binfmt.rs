//! The kernel's binfmt_misc state, read from its directory (`/proc/sys/fs/binfmt_misc` or any
//! directory laid out like it, which is how the unit tests feed it real entry files).
//!
//! This module owns reading and interpreting that state: whether binfmt_misc is mounted and
//! globally enabled, and every entry with its flags, magic and mask. It answers "which entries
//! would the kernel hand an executable of architecture X to" by testing X's representative ELF
//! header against each entry's magic and mask, the way the kernel's `check_file` does, so that
//! Rosetta, FEX or a hand-written entry are recognized whatever they are called. It never writes;
//! registration lives in `register`.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::arch::{ArchDef, serialize_hex, to_hex};

/// Where the kernel's binfmt_misc file system is normally mounted.
pub const DEFAULT_BINFMT_DIR: &str = "/proc/sys/fs/binfmt_misc";

/// Names the directory archsmoke reads binfmt_misc entries from instead of the default: for
/// archsmoke in a container, whose own /proc has no binfmt_misc and where runc refuses bind
/// mounts inside /proc, so the host's is mounted elsewhere (`-v
/// /proc/sys/fs/binfmt_misc:/host/binfmt_misc:ro`). Only read, never written through.
pub const BINFMT_DIR_ENV: &str = "ARCHSMOKE_BINFMT_DIR";

/// The binfmt_misc directory whose entries describe the engine's kernel: `ARCHSMOKE_BINFMT_DIR`
/// when set, else [`DEFAULT_BINFMT_DIR`]. `binfmt install` and `remove` always write the real
/// one.
pub fn read_dir() -> std::path::PathBuf {
    std::env::var_os(BINFMT_DIR_ENV)
        .filter(|d| !d.is_empty())
        .map_or_else(|| DEFAULT_BINFMT_DIR.into(), Into::into)
}

/// A failure to read binfmt_misc state.
#[derive(Debug, thiserror::Error)]
pub enum BinfmtError {
    #[error("cannot list binfmt_misc directory {dir}: {source}")]
    ReadDir { dir: PathBuf, source: io::Error },
    #[error("cannot read binfmt_misc file {path}: {source}")]
    ReadFile { path: PathBuf, source: io::Error },
    #[error(
        "binfmt_misc file {path} is not in the kernel's format ({problem}); \
         check that its directory is a binfmt_misc mount"
    )]
    Malformed { path: PathBuf, problem: String },
}

/// Everything binfmt_misc tells about this kernel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BinfmtState {
    /// The directory read.
    pub dir: PathBuf,
    /// True when the directory holds binfmt_misc's `register` file. An unmounted
    /// `/proc/sys/fs/binfmt_misc` is an empty directory (qemu-binfmt-conf.sh tests the same).
    pub mounted: bool,
    /// The global switch (`status`): when disabled, no entry applies.
    pub enabled: bool,
    /// Every entry, sorted by name. The kernel tries entries newest first, an order the file
    /// system does not show.
    pub entries: Vec<Entry>,
}

/// One registered format (`<dir>/<name>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub name: String,
    /// Per-entry switch (`enabled` / `disabled` on the first line).
    pub enabled: bool,
    pub interpreter: PathBuf,
    pub flags: Flags,
    pub rule: Rule,
    /// Who this interpreter is, judged from its path; for display only.
    pub kind: EmulatorKind,
}

/// How an entry recognizes executables.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Rule {
    /// Type `M`: bytes at `offset` compared under `mask` (all ones when absent).
    Magic {
        offset: usize,
        #[serde(serialize_with = "serialize_hex")]
        magic: Vec<u8>,
        #[serde(serialize_with = "serialize_opt_hex")]
        mask: Option<Vec<u8>>,
    },
    /// Type `E`: file name extension. Never matches an ELF executable by its header.
    Extension { extension: String },
}

/// An entry's flags as the kernel prints them (`flags: POCF`), each one parsed, never assumed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Flags {
    /// `P`: argv[0] is passed on unchanged (multi-call binaries such as busybox need it).
    pub preserve_argv0: bool,
    /// `O`: the kernel opens the binary and passes the descriptor (set by `C` too).
    pub open_binary: bool,
    /// `C`: credentials (setuid) come from the binary, not the interpreter.
    pub credentials: bool,
    /// `F`: the interpreter was opened at registration, so it works inside containers whose
    /// file system lacks it.
    pub fix_binary: bool,
    /// Letters this code does not know, kept so that nothing a newer kernel prints is lost.
    pub other: String,
}

pub use crate::mode::EmulatorKind;

/// Classifies an interpreter by its path: Apple's Rosetta (`/mnt/lima-rosetta/rosetta`,
/// `/run/rosetta/rosetta`), FEX (`/usr/bin/FEXInterpreter`), QEMU (`qemu-*`, Debian's
/// `/usr/libexec/qemu-binfmt/*-binfmt-P`).
pub fn classify_interpreter(path: &Path) -> EmulatorKind {
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let full = path.to_string_lossy().to_ascii_lowercase();
    if file.contains("rosetta") {
        EmulatorKind::Rosetta
    } else if file.starts_with("fex") {
        EmulatorKind::Fex
    } else if full.contains("qemu") {
        EmulatorKind::Qemu
    } else {
        EmulatorKind::Other
    }
}

impl Flags {
    /// Parses the letters after `flags:`.
    pub fn parse(letters: &str) -> Flags {
        let mut f = Flags::default();
        for c in letters.trim().chars() {
            match c {
                'P' => f.preserve_argv0 = true,
                'O' => f.open_binary = true,
                'C' => f.credentials = true,
                'F' => f.fix_binary = true,
                other => f.other.push(other),
            }
        }
        f
    }
}

impl fmt::Display for Flags {
    /// The kernel's order: P, O, C, F.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (set, c) in [
            (self.preserve_argv0, "P"),
            (self.open_binary, "O"),
            (self.credentials, "C"),
            (self.fix_binary, "F"),
        ] {
            if set {
                f.write_str(c)?;
            }
        }
        f.write_str(&self.other)
    }
}

impl Serialize for Flags {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

fn serialize_opt_hex<S: serde::Serializer>(
    bytes: &Option<Vec<u8>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match bytes {
        Some(b) => s.serialize_str(&to_hex(b)),
        None => s.serialize_none(),
    }
}

impl Entry {
    /// Parses an entry file as the kernel's `entry_status` writes it:
    ///
    /// ```text
    /// enabled
    /// interpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P
    /// flags: POF
    /// offset 0
    /// magic 7f454c460201010000000000000000000200b700
    /// mask ffffffffffffff00fffffffffffffffffeffffff
    /// ```
    ///
    /// Type `E` entries have `extension .ext` instead of offset/magic/mask. Lines this code does
    /// not know are ignored so that a newer kernel does not break reading.
    pub fn parse(name: &str, text: &str) -> Result<Entry, String> {
        let mut lines = text.lines();
        let enabled = match lines.next().map(str::trim) {
            Some("enabled") => true,
            Some("disabled") => false,
            other => {
                return Err(format!(
                    "first line is {:?}, expected `enabled` or `disabled`",
                    other.unwrap_or("")
                ));
            }
        };
        let mut interpreter = None;
        let mut flags = None;
        let mut offset = None;
        let mut magic = None;
        let mut mask = None;
        let mut extension = None;
        for line in lines {
            if let Some(v) = line.strip_prefix("interpreter ") {
                interpreter = Some(PathBuf::from(v));
            } else if let Some(v) = line.strip_prefix("flags:") {
                flags = Some(Flags::parse(v));
            } else if let Some(v) = line.strip_prefix("offset ") {
                offset = Some(
                    v.trim()
                        .parse::<usize>()
                        .map_err(|_| format!("offset {v:?} is not a number"))?,
                );
            } else if let Some(v) = line.strip_prefix("magic ") {
                magic = Some(from_hex(v.trim()).map_err(|e| format!("magic: {e}"))?);
            } else if let Some(v) = line.strip_prefix("mask ") {
                mask = Some(from_hex(v.trim()).map_err(|e| format!("mask: {e}"))?);
            } else if let Some(v) = line.strip_prefix("extension ") {
                extension = Some(v.trim().trim_start_matches('.').to_string());
            }
        }
        let interpreter = interpreter.ok_or("no `interpreter` line")?;
        let flags = flags.ok_or("no `flags:` line")?;
        let rule = match (magic, extension) {
            (Some(magic), None) => {
                if let Some(m) = &mask {
                    if m.len() != magic.len() {
                        return Err(format!("mask has {} bytes, magic {}", m.len(), magic.len()));
                    }
                }
                Rule::Magic {
                    offset: offset.ok_or("magic without an `offset` line")?,
                    magic,
                    mask,
                }
            }
            (None, Some(extension)) => Rule::Extension { extension },
            (Some(_), Some(_)) => return Err("both `magic` and `extension` lines".into()),
            (None, None) => return Err("neither a `magic` nor an `extension` line".into()),
        };
        let kind = classify_interpreter(&interpreter);
        Ok(Entry {
            name: name.to_string(),
            enabled,
            interpreter,
            flags,
            rule,
            kind,
        })
    }

    /// Would the kernel pick this entry for a file starting with `header`? Mirrors
    /// `check_file` in fs/binfmt_misc.c, except that bytes past `header` are unknown: an entry
    /// that inspects them (with a non-zero mask) is not counted as a match.
    pub fn matches_header(&self, header: &[u8]) -> bool {
        let Rule::Magic {
            offset,
            magic,
            mask,
        } = &self.rule
        else {
            return false;
        };
        magic.iter().enumerate().all(|(j, m)| {
            let k = mask.as_ref().map_or(0xff, |mask| mask[j]);
            match header.get(offset + j) {
                Some(h) => (h ^ m) & k == 0,
                None => k == 0,
            }
        })
    }

    /// Does this entry claim executables of `arch` (either of its representative headers)?
    /// Says nothing about whether the entry or binfmt_misc is enabled.
    pub fn matches(&self, arch: &ArchDef) -> bool {
        arch.representative_headers()
            .iter()
            .any(|h| self.matches_header(h))
    }

    /// The line that registers this entry again, as read (used to restore a replaced entry).
    pub fn register_line(&self) -> String {
        let flags = self.flags.to_string();
        let interp = self.interpreter.display();
        match &self.rule {
            Rule::Magic {
                offset,
                magic,
                mask,
            } => {
                let mask = mask
                    .as_deref()
                    .map(crate::arch::encode_escaped)
                    .unwrap_or_default();
                format!(
                    ":{}:M:{offset}:{}:{mask}:{interp}:{flags}",
                    self.name,
                    crate::arch::encode_escaped(magic)
                )
            }
            Rule::Extension { extension } => {
                format!(":{}:E::{extension}::{interp}:{flags}", self.name)
            }
        }
    }
}

fn from_hex(text: &str) -> Result<Vec<u8>, String> {
    if text.len() % 2 != 0 {
        return Err(format!("{text:?} has an odd number of hex digits"));
    }
    (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("{text:?} is not hex"))
        })
        .collect()
}

impl BinfmtState {
    /// Reads the state from `dir` (normally [`DEFAULT_BINFMT_DIR`]).
    ///
    /// A directory without `register`, or no directory at all, is "not mounted" rather than an
    /// error: that is a state the caller reports, with its fix.
    pub fn read(dir: &Path) -> Result<BinfmtState, BinfmtError> {
        let mut state = BinfmtState {
            dir: dir.to_path_buf(),
            mounted: false,
            enabled: false,
            entries: Vec::new(),
        };
        // `register` is write-only (mode 0200), so test its presence, not its content.
        if std::fs::symlink_metadata(dir.join("register")).is_err() {
            return Ok(state);
        }
        state.mounted = true;
        let status_path = dir.join("status");
        let status = read_file(&status_path)?;
        state.enabled = match status.trim() {
            "enabled" => true,
            "disabled" => false,
            other => {
                return Err(BinfmtError::Malformed {
                    path: status_path,
                    problem: format!("status is {other:?}, expected `enabled` or `disabled`"),
                });
            }
        };
        let listing = std::fs::read_dir(dir).map_err(|source| BinfmtError::ReadDir {
            dir: dir.to_path_buf(),
            source,
        })?;
        for item in listing {
            let item = item.map_err(|source| BinfmtError::ReadDir {
                dir: dir.to_path_buf(),
                source,
            })?;
            let name = item.file_name().to_string_lossy().into_owned();
            if name == "register" || name == "status" {
                continue;
            }
            let path = item.path();
            let text = match std::fs::read_to_string(&path) {
                Ok(t) => t,
                // Removed between listing and reading: it is no longer part of the state.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(source) => return Err(BinfmtError::ReadFile { path, source }),
            };
            let entry = Entry::parse(&name, &text).map_err(|problem| BinfmtError::Malformed {
                path: path.clone(),
                problem,
            })?;
            state.entries.push(entry);
        }
        state.entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(state)
    }

    /// Reads [`DEFAULT_BINFMT_DIR`].
    pub fn read_default() -> Result<BinfmtState, BinfmtError> {
        BinfmtState::read(Path::new(DEFAULT_BINFMT_DIR))
    }

    /// The entry called `name`.
    pub fn entry(&self, name: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.name == name)
    }

    /// Entries whose magic claims executables of `arch`, enabled or not.
    pub fn matching<'a>(&'a self, arch: &'a ArchDef) -> impl Iterator<Item = &'a Entry> + 'a {
        self.entries.iter().filter(move |e| e.matches(arch))
    }

    /// True when the kernel would currently hand `arch` executables to some entry: mounted,
    /// globally enabled, and an enabled entry matches.
    pub fn intercepts(&self, arch: &ArchDef) -> bool {
        self.mounted && self.enabled && self.matching(arch).any(|e| e.enabled)
    }
}

fn read_file(path: &Path) -> Result<String, BinfmtError> {
    std::fs::read_to_string(path).map_err(|source| BinfmtError::ReadFile {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests;

/// A kernel with QEMU registered (flags `PF`, Debian's layout) for `arches` only: the fixture
/// the plan's and the engine profile's unit tests decide modes against.
#[cfg(test)]
pub(crate) fn qemu_fixture(arches: &[&str]) -> BinfmtState {
    let entries = arches
        .iter()
        .map(|arch| {
            let def = crate::arch::lookup(arch).expect("known architecture");
            Entry {
                name: def.entry.clone(),
                enabled: true,
                interpreter: PathBuf::from(format!("/usr/bin/{}-static", def.entry)),
                flags: Flags::parse("PF"),
                rule: Rule::Magic {
                    offset: 0,
                    magic: def.magic.clone(),
                    mask: Some(def.mask.clone()),
                },
                kind: crate::mode::EmulatorKind::Qemu,
            }
        })
        .collect();
    BinfmtState {
        dir: PathBuf::from(DEFAULT_BINFMT_DIR),
        mounted: true,
        enabled: true,
        entries,
    }
}
