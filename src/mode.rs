//! How an engine runs a platform, as plain data: native, native in 32-bit compat mode, emulated
//! by a named binfmt_misc entry, or unavailable with the command that fixes it.
//!
//! This is part of the contract between running and reporting: plans, events, run reports and
//! the `inspect` and `doctor` reports carry these values, and reporters render them. Deciding
//! which mode applies is [`crate::emulation::decide`]'s job, asked through
//! [`crate::profile::EngineProfile::mode`]; this module only says what the answers are, so it
//! depends on nothing but serde.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// How a platform's containers will run on an engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum ExecMode {
    /// The engine's CPU runs it; `compat` when in 32-bit mode (386 on amd64, arm on arm64).
    Native { compat: bool },
    /// A binfmt_misc entry hands its executables to an emulator.
    Emulated { emulator: Emulator },
    /// It cannot run; `hint` is the exact command that fixes it.
    Unavailable { reason: String, hint: String },
}

/// The binfmt_misc entry that will run a platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Emulator {
    pub entry: String,
    pub interpreter: PathBuf,
    pub flags: String,
    pub kind: EmulatorKind,
    /// First line of `<interpreter> --version`, when it was asked
    /// ([`ExecMode::with_emulator_version`], which the emulation module implements).
    pub version: Option<String>,
}

/// The emulator behind an entry, judged from its interpreter path (display only: matching is by
/// magic).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EmulatorKind {
    Qemu,
    Rosetta,
    Fex,
    Other,
}

impl fmt::Display for EmulatorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EmulatorKind::Qemu => "qemu",
            EmulatorKind::Rosetta => "rosetta",
            EmulatorKind::Fex => "fex",
            EmulatorKind::Other => "other",
        })
    }
}

impl Emulator {
    /// The version number in `version` (`7.2.22` of `qemu-aarch64 version 7.2.22 (Debian
    /// ...)`): the first word that starts with a digit and contains a dot.
    pub fn version_number(&self) -> Option<&str> {
        self.version
            .as_deref()?
            .split_whitespace()
            .find(|w| w.starts_with(|c: char| c.is_ascii_digit()) && w.contains('.'))
    }
}

impl ExecMode {
    /// The engine's own CPU runs it (32-bit compat included: no emulator is involved).
    pub fn is_native(&self) -> bool {
        matches!(self, ExecMode::Native { .. })
    }

    /// A binfmt_misc entry hands it to an emulator.
    pub fn is_emulated(&self) -> bool {
        matches!(self, ExecMode::Emulated { .. })
    }

    /// What a timeout is multiplied by in this mode: `emulated_factor` under an emulator,
    /// 1 otherwise. The one place that decides it, so that a platform's tests, its service and
    /// a `--compare-emulation` twin cannot disagree.
    pub fn timeout_factor(&self, emulated_factor: f64) -> f64 {
        if self.is_emulated() {
            emulated_factor
        } else {
            1.0
        }
    }
}

impl fmt::Display for ExecMode {
    /// Short form for tables: `native`, `native (32-bit compat)`, `qemu-aarch64 7.2.22`,
    /// `unavailable`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExecMode::Native { compat: false } => f.write_str("native"),
            ExecMode::Native { compat: true } => f.write_str("native (32-bit compat)"),
            ExecMode::Emulated { emulator } => match emulator.version_number() {
                Some(v) => write!(f, "{} {v}", emulator.entry),
                None => f.write_str(&emulator.entry),
            },
            ExecMode::Unavailable { .. } => f.write_str("unavailable"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn qemu(version: Option<&str>) -> ExecMode {
        ExecMode::Emulated {
            emulator: Emulator {
                entry: "qemu-aarch64".into(),
                interpreter: PathBuf::from("/usr/bin/qemu-aarch64-static"),
                flags: "POF".into(),
                kind: EmulatorKind::Qemu,
                version: version.map(str::to_owned),
            },
        }
    }

    #[test]
    fn tables_show_the_short_form() {
        assert_eq!(ExecMode::Native { compat: false }.to_string(), "native");
        assert_eq!(
            ExecMode::Native { compat: true }.to_string(),
            "native (32-bit compat)"
        );
        assert_eq!(qemu(None).to_string(), "qemu-aarch64");
        assert_eq!(
            qemu(Some("qemu-aarch64 version 7.2.22 (Debian 1:7.2+dfsg-7)")).to_string(),
            "qemu-aarch64 7.2.22"
        );
        let gone = ExecMode::Unavailable {
            reason: "r".into(),
            hint: "h".into(),
        };
        assert_eq!(gone.to_string(), "unavailable");
    }

    #[test]
    fn the_wire_shape_is_tagged_by_mode() {
        let json = serde_json::to_value(qemu(None)).expect("serializes");
        assert_eq!(json["mode"], "emulated");
        assert_eq!(json["emulator"]["kind"], "qemu");
        let json = serde_json::to_value(ExecMode::Native { compat: true }).expect("serializes");
        assert_eq!(json, serde_json::json!({"mode": "native", "compat": true}));
    }
}
