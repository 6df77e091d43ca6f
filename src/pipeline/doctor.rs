//! `doctor`'s pipeline: what this machine and its engine can run, and why, gathered into the
//! plain [`DoctorReport`] that [`crate::report::doctor`] renders.
//!
//! It reads the engine's description, this machine's binfmt_misc state, the emulator behind each
//! entry and the engine profile's mode ([`EngineProfile::mode`]) for a fixed list of platforms.
//! For a remote engine the modes include what the probe cache remembers of an earlier run's
//! probes, as a run would use them. With `probe` it also asks the engine itself, through the
//! pipeline's one probe runner ([`super::probe`]), always afresh (never from the cache), and
//! remembers for the runs that follow what a remote engine showed it emulates.

use std::path::Path;
use std::time::SystemTime;

use super::probe::{self, ProbeCache, Probed};
use crate::arch;
use crate::emulation::{BinfmtState, Entry, emulator_version, register};

use crate::engine::{Engine, EngineInfo, discover, endpoint};
use crate::mode::ExecMode;
use crate::outcome::DEFAULT_ENGINE;
use crate::outcome::doctor::{
    BinfmtReport, DOCTOR_SCHEMA_VERSION, DoctorReport, EngineStatus, EntryReport, PlatformReport,
    ProbeCacheReport, ProbeOutcome, ProbeReport, SeenEmulator, SocketReport,
};
use crate::platform::Platform;
use crate::profile::EngineProfile;

/// The platforms every doctor report covers: what multi-arch images commonly ship.
pub const DOCTOR_PLATFORMS: &[&str] = &[
    "linux/amd64",
    "linux/arm64",
    "linux/arm/v7",
    "linux/arm/v6",
    "linux/ppc64le",
    "linux/s390x",
    "linux/386",
    "linux/riscv64",
    "linux/mips64le",
    "linux/loong64",
];

/// A doctor's findings, and whether the engine misbehaved (it did not answer, or a probe image
/// could not be loaded or removed): the exit code's business.
pub struct Doctored {
    pub report: DoctorReport,
    pub infrastructure_failed: bool,
}

/// Gathers the doctor report for the engine at `host`; `run_id` (with `probe`) labels the probe
/// containers and images.
pub async fn doctor(host: Option<&str>, probe: bool, cache: &ProbeCache, run_id: &str) -> Doctored {
    let (engine, info, status) = connect(host).await;
    let sockets: Vec<SocketReport> = discover::present(&endpoint::ProcessEnv)
        .into_iter()
        .map(|c| SocketReport {
            chosen: c.host == status.endpoint,
            kind: c.kind,
            host: c.host,
        })
        .collect();
    let dir = &crate::emulation::binfmt::read_dir();
    let unreadable = |error: String| {
        (
            BinfmtState {
                dir: dir.to_path_buf(),
                mounted: false,
                enabled: false,
                entries: Vec::new(),
            },
            Some(error),
        )
    };
    let (state, read_error) = match register::linux_only() {
        // macOS has no binfmt_misc: the engine's emulators are in its VM.
        Err(e) => unreadable(e.to_string()),
        Ok(()) => match BinfmtState::read(dir) {
            Ok(s) => (s, None),
            // Unreadable counts as not mounted: nothing the kernel would use is known.
            Err(e) => unreadable(e.to_string()),
        },
    };
    // Without an engine, say what an engine on this machine would do.
    let mut profile = match info {
        Some(info) => {
            let binfmt = info.local.then(|| state.clone());
            EngineProfile::new(DEFAULT_ENGINE, info, binfmt)
        }
        None => EngineProfile::this_machine(register::host_platform(), Some(state.clone())),
    };
    let local = profile.local();
    let note = binfmt_note(profile.info(), profile.platform().architecture());
    let platforms: Vec<Platform> = DOCTOR_PLATFORMS
        .iter()
        .filter_map(|p| Platform::parse(p).ok())
        .collect();
    // What a remote engine's binfmt_misc cannot say, an earlier probe may have.
    let boot = match &engine {
        Some(engine) if !local => engine.boot().await.ok(),
        _ => None,
    };
    let unknown: Vec<Platform> = platforms
        .iter()
        .filter(|p| matches!(profile.mode(p), ExecMode::Unavailable { .. }))
        .cloned()
        .collect();
    let mut probe_cache = boot.as_ref().and_then(|b| {
        cache.path(b).map(|path| ProbeCacheReport {
            path,
            recalled: Vec::new(),
            updated: false,
        })
    });
    if let (Some(boot), Some(report), false) = (&boot, &mut probe_cache, probe) {
        for r in cache.recall(boot, &unknown, SystemTime::now()) {
            let at = humantime::format_rfc3339_seconds(r.probed_at);
            profile.learn(
                r.platform.clone(),
                probe::probed_mode(
                    &r.platform,
                    r.emulator.as_ref(),
                    &format!("probed {at}, cached"),
                ),
            );
            report.recalled.push(r.platform);
        }
    }
    let decisions: Vec<ExecMode> = platforms
        .iter()
        .map(|p| profile.mode(p).with_emulator_version())
        .collect();

    let mut infrastructure_failed = engine.is_none();
    let probe_run_id = (probe && engine.is_some()).then(|| run_id.to_owned());
    let probes: Vec<Option<ProbeReport>> = match (&engine, &probe_run_id) {
        (Some(engine), Some(run_id)) => {
            let width = probe::width(
                boot.as_ref().and_then(|b| b.cpus),
                crate::pipeline::DEFAULT_JOBS,
            );
            let (probes, clean) = probe::probe_all(engine, &platforms, run_id, width).await;
            infrastructure_failed |= !clean;
            let ran_or_failed: Vec<Option<bool>> = probes
                .iter()
                .map(|r| match r.probed {
                    Probed::Runs { .. } => Some(true),
                    Probed::Fails { .. } => Some(false),
                    Probed::NotProbed { .. } => None,
                })
                .collect();
            let mut reports: Vec<ProbeReport> = probes
                .into_iter()
                .zip(&decisions)
                .map(|(p, d)| {
                    let mut report = ProbeReport::new(outcome(p.probed), d);
                    // A remote engine's binfmt_misc is unknown, so `unavailable` there is no
                    // prediction to agree or disagree with; the probe is the answer.
                    if !local && matches!(d, ExecMode::Unavailable { .. }) {
                        report.agrees = None;
                    }
                    report
                })
                .collect();
            if !local {
                let (seen, clean) =
                    see_emulators(engine, profile.platform(), &platforms, &reports, run_id).await;
                infrastructure_failed |= !clean;
                for (report, seen) in reports.iter_mut().zip(seen) {
                    report.emulator = seen;
                }
            }
            if let (Some(boot), Some(report)) = (&boot, &mut probe_cache) {
                // Only what the engine's binfmt_misc could not say: its own platform runs
                // natively, and native is not an emulator to remember.
                let (mut ran, mut failed) = (Vec::new(), Vec::new());
                for ((p, r), seen) in platforms.iter().zip(&ran_or_failed).zip(&reports) {
                    match (r, unknown.contains(p)) {
                        (Some(true), true) => ran.push((p.clone(), seen.emulator.clone())),
                        (Some(false), true) => failed.push(p.clone()),
                        _ => {}
                    }
                }
                report.updated = cache
                    .remember(boot, &ran, &failed, SystemTime::now())
                    .is_ok();
            }
            reports.into_iter().map(Some).collect()
        }
        _ => vec![None; platforms.len()],
    };

    let report = DoctorReport {
        schema_version: DOCTOR_SCHEMA_VERSION,
        probe_run_id,
        engine: status,
        sockets,
        binfmt: BinfmtReport {
            dir: state.dir.clone(),
            mounted: state.mounted,
            enabled: state.enabled,
            error: read_error,
            applies_to_engine: local && profile.info().is_some(),
            note,
            entries: entry_reports(&state),
        },
        probe_cache,
        platforms: platforms
            .into_iter()
            .zip(decisions)
            .zip(probes)
            .map(|((platform, decision), probe)| PlatformReport {
                platform,
                decision,
                probe,
            })
            .collect(),
    };
    Doctored {
        report,
        infrastructure_failed,
    }
}

fn outcome(probed: Probed) -> ProbeOutcome {
    match probed {
        Probed::Runs { duration } => ProbeOutcome::Ok {
            duration_ms: u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
        },
        Probed::Fails { message } => ProbeOutcome::Failed { message },
        Probed::NotProbed { reason } => ProbeOutcome::NotProbed { reason },
    }
}

/// The engine, what it said about itself, and its status for the report; the first two are
/// `None` when it did not answer.
async fn connect(host: Option<&str>) -> (Option<Engine>, Option<EngineInfo>, EngineStatus) {
    let chosen = endpoint::default_endpoint(host, &endpoint::ProcessEnv).ok();
    let origin = chosen.as_ref().map(|e| e.origin.clone());
    let kind = chosen.as_ref().and_then(|e| {
        discover::candidates(&endpoint::ProcessEnv)
            .into_iter()
            .find(|c| c.host == e.host)
            .map(|c| c.kind)
    });
    let failed = |endpoint: String, e: crate::engine::EngineError| EngineStatus {
        endpoint,
        reachable: false,
        info: None,
        error: Some(e.to_string()),
        hint: Some(e.hint()),
        origin: origin.clone(),
        kind: kind.clone(),
        kernel: None,
        operating_system: None,
        locality: None,
    };
    let engine = match Engine::connect(host).await {
        Ok(engine) => engine,
        Err(e) => {
            let endpoint = match &e {
                crate::engine::EngineError::Unreachable { endpoint, .. } => endpoint.clone(),
                _ => host.unwrap_or("(default)").to_owned(),
            };
            return (None, None, failed(endpoint, e));
        }
    };
    match engine.info().await {
        Ok(info) => {
            let status = EngineStatus {
                endpoint: engine.endpoint().to_owned(),
                reachable: true,
                info: EngineProfile::new(DEFAULT_ENGINE, info.clone(), None).summary(),
                error: None,
                hint: None,
                origin: origin.clone(),
                kind: kind.clone(),
                kernel: Some(info.kernel.clone()),
                operating_system: Some(info.operating_system.clone()),
                locality: Some(info.local_why.clone()),
            };
            (Some(engine), Some(info), status)
        }
        Err(e) => {
            let status = failed(engine.endpoint().to_owned(), e);
            (None, None, status)
        }
    }
}

fn binfmt_note(info: Option<&EngineInfo>, engine_arch: &str) -> Option<String> {
    match info {
        None => Some(format!(
            "the engine did not answer; the modes below are for an engine on this machine \
             ({engine_arch})"
        )),
        Some(i) if !i.local => Some(format!(
            "the engine does not share this machine's kernel ({}), so these entries are not \
             its entries; run `archsmoke doctor --probe` to see what it runs and with which \
             emulator",
            i.local_why
        )),
        Some(i) if i.rootless => Some(
            "rootless engine: on kernels 6.7+ its user namespace may mount a private, empty \
             binfmt_misc instead of this one; run `archsmoke doctor --probe` to confirm"
                .into(),
        ),
        Some(_) => None,
    }
}

/// For each probed platform of another architecture than the engine's, the emulator the engine
/// ran it with, as its process list shows ([`probe::see_emulator`]), one platform after the
/// other. Returns whether every container and image was removed.
async fn see_emulators(
    engine: &Engine,
    native: &Platform,
    platforms: &[Platform],
    probes: &[ProbeReport],
    run_id: &str,
) -> (Vec<Option<SeenEmulator>>, bool) {
    let mut seen = Vec::with_capacity(platforms.len());
    let mut clean = true;
    for (platform, probe) in platforms.iter().zip(probes) {
        let ran = matches!(probe.outcome, ProbeOutcome::Ok { .. });
        if !ran || platform.architecture() == native.architecture() {
            seen.push(None);
            continue;
        }
        let (emulator, removed) = probe::see_emulator(engine, platform, run_id).await;
        clean &= removed;
        seen.push(emulator);
    }
    (seen, clean)
}

/// Entries whose magic accepts an architecture archsmoke knows, with what their flags mean.
fn entry_reports(state: &BinfmtState) -> Vec<EntryReport> {
    state
        .entries
        .iter()
        .filter_map(|e| {
            let architectures: Vec<String> = arch::definitions()
                .iter()
                .filter(|d| e.matches(d))
                .map(|d| d.oci.clone())
                .collect();
            let first = arch::definitions().iter().find(|d| e.matches(d))?;
            Some(EntryReport {
                name: e.name.clone(),
                enabled: e.enabled,
                interpreter: e.interpreter.clone(),
                flags: e.flags.to_string(),
                kind: e.kind,
                version: emulator_version(&e.interpreter),
                warnings: flag_warnings(e, &state.dir, &first.oci),
                architectures,
            })
        })
        .collect()
}

/// What an entry's state and flags mean for containers.
fn flag_warnings(e: &Entry, dir: &Path, oci: &str) -> Vec<String> {
    let mut out = Vec::new();
    if !e.enabled {
        out.push(format!(
            "disabled: the kernel ignores it (enable: echo 1 | sudo tee {}/{})",
            dir.display(),
            e.name
        ));
    }
    if !e.flags.fix_binary {
        out.push(format!(
            "no F flag: the kernel opens {} inside each container, where it does not exist, so \
             containers fail with `no such file or directory` (fix: sudo archsmoke binfmt \
             install --force {oci})",
            e.interpreter.display()
        ));
    }
    if !e.flags.preserve_argv0 {
        out.push(
            "no P flag: programs lose their argv[0], so multi-call binaries such as busybox \
             run the wrong applet or none"
                .into(),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulation::Flags;
    use crate::emulation::binfmt::Rule;

    fn entry(flags: &str, enabled: bool) -> Entry {
        Entry {
            name: "qemu-aarch64".into(),
            enabled,
            interpreter: "/usr/bin/qemu-aarch64-static".into(),
            flags: Flags::parse(flags),
            rule: Rule::Extension {
                extension: "x".into(),
            },
            kind: crate::emulation::EmulatorKind::Qemu,
        }
    }

    #[test]
    fn warnings_name_each_missing_flag_and_its_fix() {
        let dir = Path::new("/proc/sys/fs/binfmt_misc");
        assert!(flag_warnings(&entry("POF", true), dir, "arm64").is_empty());
        let w = flag_warnings(&entry("O", false), dir, "arm64");
        assert_eq!(w.len(), 3, "{w:?}");
        assert!(w[0].contains("echo 1 | sudo tee /proc/sys/fs/binfmt_misc/qemu-aarch64"));
        assert!(w[1].contains("no F flag") && w[1].contains("binfmt install --force arm64"));
        assert!(w[2].contains("no P flag") && w[2].contains("busybox"));
    }

    #[test]
    fn the_platform_list_parses_and_covers_the_required_ones() {
        for p in DOCTOR_PLATFORMS {
            Platform::parse(p).expect("every doctor platform parses");
        }
        assert_eq!(DOCTOR_PLATFORMS.len(), 10);
    }
}
