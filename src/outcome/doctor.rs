//! `archsmoke doctor`'s report: the engine, this machine's binfmt_misc, the probe cache, and per
//! platform the decision and what a probe showed. Plain data, like the run report: the pipeline
//! gathers it (`pipeline::doctor`), `report::doctor` renders it. The one judgement made here is
//! whether a probe agrees with the binfmt-based decision.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::EngineSummary;
use crate::mode::{EmulatorKind, ExecMode};
use crate::platform::Platform;

/// Version of the JSON written by `doctor --json`; bumped on any incompatible change.
pub const DOCTOR_SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize)]
pub struct DoctorReport {
    pub schema_version: u32,
    /// With `--probe`: the `archsmoke.run` label value of the probe containers, which is also
    /// in the probe images' tags (`archsmoke-probe:<run id>-...`).
    pub probe_run_id: Option<String>,
    pub engine: EngineStatus,
    /// The engine sockets found on this machine (Docker Desktop, colima, OrbStack, Rancher
    /// Desktop, rootless Docker, Podman), whether or not the chosen engine is one of them.
    pub sockets: Vec<SocketReport>,
    pub binfmt: BinfmtReport,
    /// For a remote engine that gives an ID: the probe cache runs share with doctor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probe_cache: Option<ProbeCacheReport>,
    pub platforms: Vec<PlatformReport>,
}

/// What doctor did with the probe cache: without `--probe` the decisions include what it
/// remembers; with `--probe` nothing is taken from it and the fresh answers are written to it.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeCacheReport {
    pub path: PathBuf,
    /// Platforms whose decision is an earlier probe's answer, taken from the cache.
    pub recalled: Vec<Platform>,
    /// The fresh probes' answers were written to it.
    pub updated: bool,
}

/// One engine socket that exists on this machine.
#[derive(Debug, Clone, Serialize)]
pub struct SocketReport {
    /// What usually listens there: "Docker Desktop (macOS)", "rootless Podman", ...
    pub kind: String,
    pub host: String,
    /// The engine doctor describes (and `run` would use).
    pub chosen: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct EngineStatus {
    pub endpoint: String,
    pub reachable: bool,
    /// Present when the engine answered.
    pub info: Option<EngineSummary>,
    /// Why it did not answer, and what to do.
    pub error: Option<String>,
    pub hint: Option<String>,
    /// Why this engine: "DOCKER_HOST", "context desktop-linux", "the default socket", ...
    pub origin: Option<String>,
    /// What listens there, when its socket is one a known tool makes ("OrbStack").
    pub kind: Option<String>,
    /// The engine's kernel release and operating system, as its `/info` names them.
    pub kernel: Option<String>,
    pub operating_system: Option<String>,
    /// Whether it shares this machine's kernel, and why (a unix socket to a VM does not).
    pub locality: Option<String>,
}

/// This machine's binfmt_misc state and what it means for the engine.
#[derive(Debug, Clone, Serialize)]
pub struct BinfmtReport {
    pub dir: PathBuf,
    pub mounted: bool,
    pub enabled: bool,
    /// Why the state could not be read (then the other fields say nothing).
    pub error: Option<String>,
    /// False when the engine is not on this machine: its kernel's entries are not these, and
    /// the decisions below assume nothing about them.
    pub applies_to_engine: bool,
    /// A caveat about the above (remote or rootless engine).
    pub note: Option<String>,
    /// Entries whose magic accepts the ELF executables of an architecture archsmoke knows.
    pub entries: Vec<EntryReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EntryReport {
    pub name: String,
    pub enabled: bool,
    pub interpreter: PathBuf,
    pub flags: String,
    /// Recognized from the interpreter (qemu, rosetta, fex, other); the architectures come from
    /// the magic.
    pub kind: EmulatorKind,
    /// OCI architectures whose executables this entry takes.
    pub architectures: Vec<String>,
    /// First line of `<interpreter> --version`, when it answers.
    pub version: Option<String>,
    /// What the flags (or their absence) mean for containers.
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlatformReport {
    pub platform: Platform,
    /// How the engine should run it, judged from binfmt_misc.
    pub decision: ExecMode,
    /// With `--probe`: what actually happened.
    pub probe: Option<ProbeReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProbeReport {
    #[serde(flatten)]
    pub outcome: ProbeOutcome,
    /// Whether the outcome is what the decision predicted; `None` when nothing was run.
    pub agrees: Option<bool>,
    /// The emulator the engine ran it with, seen in the engine's process list (for an engine
    /// whose binfmt_misc is not visible from here): "rosetta /run/rosetta/rosetta".
    pub emulator: Option<SeenEmulator>,
}

/// An emulator as a running container's process list shows it: the interpreter the kernel
/// started in front of the program.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeenEmulator {
    pub kind: EmulatorKind,
    /// The interpreter's path as the engine's process list shows it; empty when the list
    /// showed the program itself (the emulator hides, or none runs).
    pub interpreter: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ProbeOutcome {
    /// The probe container ran and exited 0.
    Ok { duration_ms: u64 },
    /// It could not start, exited non-zero or timed out; `message` is the engine's or ours.
    Failed { message: String },
    /// Nothing was run, for `reason`.
    NotProbed { reason: String },
}

impl ProbeReport {
    /// Relates `outcome` to `decision`: native and emulated platforms should run, unavailable
    /// ones should not.
    pub fn new(outcome: ProbeOutcome, decision: &ExecMode) -> ProbeReport {
        let predicted = !matches!(decision, ExecMode::Unavailable { .. });
        let agrees = match &outcome {
            ProbeOutcome::Ok { .. } => Some(predicted),
            ProbeOutcome::Failed { .. } => Some(!predicted),
            ProbeOutcome::NotProbed { .. } => None,
        };
        ProbeReport {
            outcome,
            agrees,
            emulator: None,
        }
    }
}

impl DoctorReport {
    /// Probes whose outcome contradicts the binfmt-based decision.
    pub fn disagreements(&self) -> impl Iterator<Item = &PlatformReport> {
        self.platforms
            .iter()
            .filter(|p| p.probe.as_ref().and_then(|r| r.agrees) == Some(false))
    }
}
