//! `archsmoke doctor [--probe]`: what this machine and its engine can run, and why.
//!
//! Gathers the engine's description, this machine's binfmt_misc state, the emulator behind each
//! entry and the engine profile's mode ([`EngineProfile::mode`]) for a fixed list of platforms; with `--probe` it also asks the
//! engine itself by running a tiny self-built container of each platform ([`crate::probe`]),
//! which is the only truth for a remote or rootless engine. Rendering is
//! [`crate::report::doctor`]'s. Exit 0 when the engine answered (whatever it can run), 3 when it
//! did not or a probe image could not be loaded or removed.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use futures_util::future::join_all;

use super::{DoctorArgs, GlobalArgs};
use crate::arch;
use crate::diagnostic::Diagnostic;
use crate::emulation::{BinfmtState, Entry, emulator_version, register};
use crate::engine::{ContainerRequest, Engine, EngineInfo, RUN_LABEL};
use crate::exit;
use crate::mode::ExecMode;
use crate::outcome::DEFAULT_ENGINE;
use crate::platform::Platform;
use crate::probe;
use crate::profile::EngineProfile;
use crate::report::doctor::{
    BinfmtReport, DOCTOR_SCHEMA_VERSION, DoctorReport, EngineStatus, EntryReport, PlatformReport,
    ProbeOutcome, ProbeReport, render_json, render_table,
};
use crate::run::Backend as _;

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

/// How long one probe container may take; QEMU starts in well under a second, so this only
/// bounds a hung engine.
const PROBE_TIMEOUT: Duration = Duration::from_secs(60);

pub async fn doctor(args: &DoctorArgs, global: &GlobalArgs) -> Result<i32, Diagnostic> {
    let (engine, info, status) = connect(global.host.as_deref()).await;
    let dir = &crate::emulation::binfmt::read_dir();
    let (state, read_error) = match BinfmtState::read(dir) {
        Ok(s) => (s, None),
        // Unreadable counts as not mounted: nothing the kernel would use is known.
        Err(e) => (
            BinfmtState {
                dir: dir.to_path_buf(),
                mounted: false,
                enabled: false,
                entries: Vec::new(),
            },
            Some(e.to_string()),
        ),
    };
    // Without an engine, say what an engine on this machine would do.
    let profile = match info {
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
        .map(|p| Platform::parse(p).map_err(|e| Diagnostic::usage(e.to_string())))
        .collect::<Result<_, _>>()?;
    let decisions: Vec<ExecMode> = platforms
        .iter()
        .map(|p| profile.mode(p).with_emulator_version())
        .collect();

    let mut infrastructure_failed = engine.is_none();
    let probe_run_id = (args.probe && engine.is_some()).then(super::new_run_id);
    let probes: Vec<Option<ProbeReport>> = match (&engine, &probe_run_id) {
        (Some(engine), Some(run_id)) => {
            let (mut probes, clean) = run_probes(engine, &platforms, &decisions, run_id).await;
            infrastructure_failed |= !clean;
            if !local {
                // A remote engine's binfmt_misc is unknown, so `unavailable` there is no
                // prediction to agree or disagree with; the probe is the answer.
                for (p, d) in probes.iter_mut().zip(&decisions) {
                    if matches!(d, ExecMode::Unavailable { .. }) {
                        p.agrees = None;
                    }
                }
            }
            probes.into_iter().map(Some).collect()
        }
        _ => vec![None; platforms.len()],
    };

    let report = DoctorReport {
        schema_version: DOCTOR_SCHEMA_VERSION,
        probe_run_id,
        engine: status,
        binfmt: BinfmtReport {
            dir: state.dir.clone(),
            mounted: state.mounted,
            enabled: state.enabled,
            error: read_error,
            applies_to_engine: local && profile.info().is_some(),
            note,
            entries: entry_reports(&state),
        },
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
    if args.json {
        println!("{}", render_json(&report));
        if let Some(err) = &report.engine.error {
            eprintln!("error: {err}");
        }
    } else {
        render_table(&report, &mut std::io::stdout().lock())
            .map_err(|e| Diagnostic::infrastructure(format!("cannot write: {e}")))?;
    }
    Ok(if infrastructure_failed {
        exit::INFRASTRUCTURE
    } else {
        exit::SUCCESS
    })
}

/// The engine, what it said about itself, and its status for the report; the first two are
/// `None` when it did not answer.
async fn connect(host: Option<&str>) -> (Option<Engine>, Option<EngineInfo>, EngineStatus) {
    let failed = |endpoint: String, e: crate::engine::EngineError| EngineStatus {
        endpoint,
        reachable: false,
        info: None,
        error: Some(e.to_string()),
        hint: Some(e.hint()),
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
        Some(i) if !i.local => Some(
            "the engine is not on this machine, so these entries are not its entries; run \
             `archsmoke doctor --probe` to see what it runs"
                .into(),
        ),
        Some(i) if i.rootless => Some(
            "rootless engine: on kernels 6.7+ its user namespace may mount a private, empty \
             binfmt_misc instead of this one; run `archsmoke doctor --probe` to confirm"
                .into(),
        ),
        Some(_) => None,
    }
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

/// Runs one probe container per platform. Returns the reports and whether every probe image
/// was loaded and removed (false means the engine misbehaved, not the platform).
async fn run_probes(
    engine: &Engine,
    platforms: &[Platform],
    decisions: &[ExecMode],
    run_id: &str,
) -> (Vec<ProbeReport>, bool) {
    let results = join_all(
        platforms
            .iter()
            .zip(decisions)
            .map(|(p, d)| probe_one(engine, p, d, run_id)),
    )
    .await;
    let mut clean = results.iter().all(|(_, ok)| *ok);
    // Containers are removed one by one; this sweeps anything an error left behind.
    if let Err(e) = engine.remove_run(Some(run_id)).await {
        eprintln!("warning: {e}; remove leftovers with `archsmoke gc`");
        clean = false;
    }
    (results.into_iter().map(|(r, _)| r).collect(), clean)
}

async fn probe_one(
    engine: &Engine,
    platform: &Platform,
    decision: &ExecMode,
    run_id: &str,
) -> (ProbeReport, bool) {
    let image = match probe::probe_image_owned(platform, run_id, &crate::owner::labels()) {
        Ok(Some(image)) => image,
        Ok(None) => {
            let outcome = ProbeOutcome::NotProbed {
                reason: format!(
                    "archsmoke has no probe program for {}",
                    platform.architecture()
                ),
            };
            return (ProbeReport::new(outcome, decision), true);
        }
        Err(e) => {
            let outcome = ProbeOutcome::NotProbed {
                reason: format!("the probe image could not be built: {e}"),
            };
            return (ProbeReport::new(outcome, decision), false);
        }
    };
    if let Err(e) = engine.load_image(image.archive).await {
        let outcome = ProbeOutcome::NotProbed {
            reason: format!("the probe image could not be loaded: {e}"),
        };
        return (ProbeReport::new(outcome, decision), false);
    }
    let request = ContainerRequest {
        user: None,
        image: image.reference.clone(),
        platform: platform.clone(),
        command: None,
        entrypoint: None,
        env: Vec::new(),
        labels: HashMap::from_iter(
            [(RUN_LABEL.to_owned(), run_id.to_owned())]
                .into_iter()
                .chain(crate::owner::labels()),
        ),
        network: "none".into(),
        privileged: false,
        host: Default::default(),
        timeout: PROBE_TIMEOUT,
        output_limit: 4096,
        limits: crate::limits::Limits::default(),
    };
    let outcome = match engine.run_container(&request).await {
        Ok(r) if r.timed_out => ProbeOutcome::Failed {
            message: format!("did not exit within {PROBE_TIMEOUT:?}"),
        },
        Ok(r) if r.exit_code == Some(0) => ProbeOutcome::Ok {
            duration_ms: u64::try_from(r.duration.as_millis()).unwrap_or(u64::MAX),
        },
        Ok(r) => {
            let stderr = r.stderr.text();
            ProbeOutcome::Failed {
                message: format!(
                    "exited with code {}{}",
                    r.exit_code.map_or_else(|| "?".into(), |c| c.to_string()),
                    if stderr.trim().is_empty() {
                        String::new()
                    } else {
                        format!(": {}", stderr.trim())
                    }
                ),
            }
        }
        Err(e) => ProbeOutcome::Failed {
            message: e.to_string(),
        },
    };
    let removed = match engine.remove_image(&image.reference).await {
        Ok(()) => true,
        Err(e) => {
            eprintln!(
                "warning: {e}; remove it with `docker rmi {}`",
                image.reference
            );
            false
        }
    };
    (ProbeReport::new(outcome, decision), removed)
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
