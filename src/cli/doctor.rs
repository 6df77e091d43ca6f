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
use crate::engine::{ContainerRequest, Engine, EngineInfo, RUN_LABEL, discover, endpoint};
use crate::exit;
use crate::mode::ExecMode;
use crate::outcome::DEFAULT_ENGINE;
use crate::platform::Platform;
use crate::probe;
use crate::profile::EngineProfile;
use crate::report::doctor::{
    BinfmtReport, DOCTOR_SCHEMA_VERSION, DoctorReport, EngineStatus, EntryReport, PlatformReport,
    ProbeOutcome, ProbeReport, SeenEmulator, SocketReport, render_json, render_table,
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
                let (seen, clean) =
                    see_emulators(engine, profile.platform(), &platforms, &probes, run_id).await;
                infrastructure_failed |= !clean;
                for (probe, seen) in probes.iter_mut().zip(seen) {
                    probe.emulator = seen;
                }
            }
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

/// How long the engine's process list may take to show an emulated relay.
const SEE_TIMEOUT: Duration = Duration::from_secs(20);

/// For each probed platform of another architecture than the engine's, the emulator the engine
/// ran it with, as its process list shows: a relay of that architecture (the only programs
/// archsmoke has that keep running: [`crate::probe::relay`], amd64 and arm64) retries a refused
/// connection every 50 ms while the engine lists its processes. The kernel starts the binfmt
/// interpreter in front of the program, so the first word of the command is QEMU's or
/// Rosetta's path (`/run/rosetta/rosetta`, `/mnt/lima-rosetta/rosetta`). Returns whether every
/// container and image was removed.
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
        let (emulator, removed) = see_emulator(engine, platform, run_id).await;
        clean &= removed;
        seen.push(emulator);
    }
    (seen, clean)
}

async fn see_emulator(
    engine: &Engine,
    platform: &Platform,
    run_id: &str,
) -> (Option<SeenEmulator>, bool) {
    let image = match probe::relay::relay_image(
        platform,
        &format!("{run_id}-seen"),
        &crate::owner::labels(),
    ) {
        Ok(Some(image)) => image,
        _ => return (None, true),
    };
    if let Err(e) = engine.load_image(image.archive).await {
        eprintln!("warning: cannot load {}: {e}", image.reference);
        return (None, false);
    }
    let request = ContainerRequest {
        privileged: false,
        // A service has no deadline of its own; [`SEE_TIMEOUT`] bounds the look.
        timeout: SEE_TIMEOUT,
        image: image.reference.clone(),
        platform: platform.clone(),
        // Port 1 on a container without a network: refused, retried every 50 ms until killed.
        command: Some(vec!["1".into(), "wait".into()]),
        entrypoint: None,
        env: Vec::new(),
        user: Some("65534".into()),
        labels: HashMap::from_iter(
            [(RUN_LABEL.to_owned(), run_id.to_owned())]
                .into_iter()
                .chain(crate::owner::labels()),
        ),
        network: "none".into(),
        output_limit: 4096,
        limits: crate::limits::Limits::default(),
        host: Default::default(),
    };
    let seen = async {
        let running = engine
            .start_service(&request, Box::new(|_| {}))
            .await
            .ok()?;
        let rows = tokio::time::timeout(SEE_TIMEOUT, engine.top(&running.id)).await;
        let _ = engine.remove_service(&running.id).await;
        let command = rows.ok()?.ok()?.into_iter().next()?.command;
        Some(seen_in(&command))
    }
    .await;
    let removed = engine.remove_image(&image.reference).await.is_ok();
    (seen, removed)
}

/// The emulator in a process list's command line of the relay (`/probe 1 wait`): the word
/// before the program, if any.
fn seen_in(command: &str) -> SeenEmulator {
    let first = command.split_whitespace().next().unwrap_or_default();
    if first.is_empty() || first == crate::probe::PROBE_PATH {
        return SeenEmulator {
            kind: crate::emulation::EmulatorKind::Other,
            interpreter: String::new(),
        };
    }
    SeenEmulator {
        kind: crate::emulation::binfmt::classify_interpreter(Path::new(first)),
        interpreter: first.to_owned(),
    }
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
    fn the_emulator_is_the_word_before_the_program() {
        let qemu = seen_in("/usr/libexec/qemu-binfmt/x86_64-binfmt-P /probe /probe 1 wait");
        assert_eq!(qemu.kind, crate::emulation::EmulatorKind::Qemu);
        assert_eq!(qemu.interpreter, "/usr/libexec/qemu-binfmt/x86_64-binfmt-P");
        // Docker Desktop, OrbStack (/run/rosetta) and lima/colima (/mnt/lima-rosetta): no P flag.
        for path in ["/run/rosetta/rosetta", "/mnt/lima-rosetta/rosetta"] {
            let r = seen_in(&format!("{path} /probe 1 wait"));
            assert_eq!(r.kind, crate::emulation::EmulatorKind::Rosetta, "{path}");
            assert_eq!(r.interpreter, path);
        }
        let hidden = seen_in("/probe 1 wait");
        assert!(hidden.interpreter.is_empty());
    }

    #[test]
    fn the_platform_list_parses_and_covers_the_required_ones() {
        for p in DOCTOR_PLATFORMS {
            Platform::parse(p).expect("every doctor platform parses");
        }
        assert_eq!(DOCTOR_PLATFORMS.len(), 10);
    }
}
