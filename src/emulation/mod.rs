//! TEMPORARY stand-in until the binfmt branch lands (replaced on merge).
use std::path::{Path, PathBuf};
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum ExecMode {
    Native { compat: bool },
    Emulated { emulator: Emulator },
    Unavailable { reason: String, hint: String },
}
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Emulator {
    pub entry: String,
    pub interpreter: PathBuf,
    pub flags: String,
    pub version: Option<String>,
}
impl std::fmt::Display for ExecMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExecMode::Native { compat: false } => write!(f, "native"),
            ExecMode::Native { compat: true } => write!(f, "native (32-bit compat)"),
            ExecMode::Emulated { emulator } => write!(f, "{}", emulator.entry),
            ExecMode::Unavailable { .. } => write!(f, "unavailable"),
        }
    }
}
pub struct BinfmtState {
    root: PathBuf,
}
impl BinfmtState {
    pub fn read(root: &Path) -> std::io::Result<BinfmtState> {
        Ok(BinfmtState {
            root: root.to_owned(),
        })
    }
}
pub fn decide(
    engine_arch: &str,
    target_arch: &str,
    _v: Option<&str>,
    binfmt: Option<&BinfmtState>,
) -> ExecMode {
    if engine_arch == target_arch {
        return ExecMode::Native { compat: false };
    }
    let name = match target_arch {
        "arm64" => "aarch64",
        "arm" => "arm",
        "ppc64le" => "ppc64le",
        "s390x" => "s390x",
        "386" => return ExecMode::Native { compat: true },
        a => a,
    };
    if let Some(b) = binfmt {
        let p = b.root.join(format!("qemu-{name}"));
        if p.exists() {
            return ExecMode::Emulated {
                emulator: Emulator {
                    entry: format!("qemu-{name}"),
                    interpreter: PathBuf::new(),
                    flags: String::new(),
                    version: None,
                },
            };
        }
    }
    ExecMode::Unavailable {
        reason: format!("no emulator for {target_arch}"),
        hint: format!("sudo archsmoke binfmt install {target_arch}"),
    }
}
