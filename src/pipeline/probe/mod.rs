//! What an engine can run, asked of the engine itself: a tiny probe container of the platform
//! ([`crate::probe`] builds its image). This is the one probe runner: `doctor --probe` asks it
//! for every platform of its list, and a run ([`learn_remote`]) for what a remote engine
//! emulates: a local engine's binfmt_misc entries are read instead, a remote engine's kernel is
//! invisible from here.
//!
//! A run probes only platforms that routing would otherwise leave without an engine (nothing
//! runs them natively and no local engine emulates them), plus platforms pinned to a remote
//! engine. What a probe shows is recorded in the engine's profile ([`EngineProfile::learn`]), so
//! routing and the plan see it like any other mode, and what ran is remembered in the
//! [`ProbeCache`] so that the next runs against the same engine skip the containers.
//!
//! Beside each probe, where archsmoke has a relay program of the platform's architecture (amd64,
//! arm64: the laptop's two), a relay container shows in the engine's process list which
//! emulator the engine's kernel put in front of it ([`see_emulator`]): QEMU or Rosetta, named
//! in the mode as a local engine's QEMU entry is. It runs at the same time as the probe, so it
//! costs the probe phase no wall time beyond the slower of the two.

pub mod cache;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use futures_util::StreamExt as _;
use futures_util::future::join_all;

pub use cache::{DEFAULT_TTL, ProbeCache};

use crate::engine::{ContainerRequest, Engine, RUN_LABEL};
use crate::event::Event;
use crate::image::{ImageSource, IndexEntryKind, ResolvedImage};
use crate::mode::{Emulator, EmulatorKind, ExecMode};
use crate::outcome::ProbePhase;
use crate::outcome::doctor::SeenEmulator;
use crate::platform::Platform;
use crate::route::Router;
use crate::run::Backend as _;

/// QEMU starts a static program in well under a second; this bounds a hung emulator or engine.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(30);

/// What one probe container showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probed {
    /// It ran and exited 0: the engine runs the platform.
    Runs { duration: Duration },
    /// It did not run to a clean exit: the engine cannot run the platform (as it is set up).
    Fails { message: String },
    /// No container ran: no probe program for the architecture, or its image could not be made
    /// or loaded.
    NotProbed { reason: String },
}

/// One probe: what it showed, and whether its image was made, loaded and removed cleanly (false
/// means archsmoke or the engine misbehaved, not the platform).
#[derive(Debug, Clone)]
pub struct Probe {
    pub probed: Probed,
    pub clean: bool,
}

/// One probe container of `platform` on `engine`, its image tagged with the run and the
/// engine's name (two names may reach one engine), labelled so that `gc` finds leftovers.
pub async fn probe(engine: &Engine, platform: &Platform, run_id: &str) -> Probe {
    let not_probed = |reason: String, clean: bool| Probe {
        probed: Probed::NotProbed { reason },
        clean,
    };
    let image = match crate::probe::probe_image_owned(
        platform,
        &format!("{run_id}-{}", engine.name()),
        &crate::owner::labels(),
    ) {
        Ok(Some(image)) => image,
        Ok(None) => {
            return not_probed(
                format!(
                    "archsmoke has no probe program for {}",
                    platform.architecture()
                ),
                true,
            );
        }
        Err(e) => return not_probed(format!("the probe image could not be built: {e}"), false),
    };
    if let Err(e) = engine.load_image(image.archive).await {
        return not_probed(format!("the probe image could not be loaded: {e}"), false);
    }
    let request = ContainerRequest {
        image: image.reference.clone(),
        platform: platform.clone(),
        command: None,
        entrypoint: None,
        env: Vec::new(),
        // The owner labels tell `gc` that this run is alive.
        labels: std::iter::once((RUN_LABEL.to_owned(), run_id.to_owned()))
            .chain(crate::owner::labels())
            .collect::<HashMap<_, _>>(),
        network: "none".into(),
        privileged: false,
        host: Default::default(),
        timeout: PROBE_TIMEOUT,
        output_limit: 4096,
        limits: crate::limits::Limits::default(),
        user: None,
    };
    let probed = match engine.run_container(&request).await {
        Ok(r) if r.timed_out => Probed::Fails {
            message: format!("did not exit within {PROBE_TIMEOUT:?}"),
        },
        Ok(r) if r.exit_code == Some(0) => Probed::Runs {
            duration: r.duration,
        },
        Ok(r) => {
            let stderr = r.stderr.text();
            let stderr = stderr.trim();
            Probed::Fails {
                message: format!(
                    "exited with code {}{}",
                    r.exit_code.map_or_else(|| "?".into(), |c| c.to_string()),
                    if stderr.is_empty() {
                        String::new()
                    } else {
                        format!(": {stderr}")
                    }
                ),
            }
        }
        Err(e) => Probed::Fails {
            message: e.to_string(),
        },
    };
    let clean = match engine.remove_image(&image.reference).await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %e, "could not remove probe image {}", image.reference);
            false
        }
    };
    Probe { probed, clean }
}

/// How many platforms are probed on one engine at once: no more than it has CPUs (its boot's
/// `cpus`), nor than `jobs`. A container costs an engine in a VM under full system emulation
/// ~10 s of its two CPUs; ten probes and their image loads at once there took past every bound
/// (a minute per load) and left a backlog that slowed the run's own tests after them.
pub fn width(cpus: Option<usize>, jobs: usize) -> usize {
    let jobs = jobs.max(1);
    cpus.map_or(jobs, |cpus| cpus.clamp(1, jobs))
}

/// [`probe`] of every platform, `width` at a time (see [`width`]), then a sweep of the run's
/// containers and probe images on `engine` (each is removed by itself; this catches what an
/// error or a load that landed after its deadline left). The flag is false when any probe was
/// not clean or the sweep failed.
pub async fn probe_all(
    engine: &Engine,
    platforms: &[Platform],
    run_id: &str,
    width: usize,
) -> (Vec<Probe>, bool) {
    let probes: Vec<Probe> = futures_util::stream::iter(platforms)
        .map(|p| probe(engine, p, run_id))
        .buffered(width.max(1))
        .collect()
        .await;
    let mut clean = probes.iter().all(|p| p.clean);
    if let Err(e) = engine.remove_run(Some(run_id)).await {
        tracing::warn!(error = %e, "could not sweep the probe containers of run {run_id}");
        clean = false;
    }
    if let Err(e) = sweep_images(engine, run_id).await {
        tracing::warn!(error = %e, "could not sweep the probe images of run {run_id}");
        clean = false;
    }
    (probes, clean)
}

/// Removes the probe and relay images tagged with `run_id` from `engine`: a load that timed out
/// here may still land there, known to no one else.
pub async fn sweep_images(engine: &Engine, run_id: &str) -> Result<(), crate::engine::EngineError> {
    let own = format!("{}:{run_id}-", crate::probe::PROBE_REPOSITORY);
    engine
        .remove_images(&[crate::probe::PROBE_REPOSITORY], None, |tag, _| {
            !tag.starts_with(&own)
        })
        .await
        .map(|_| ())
}

/// The emulated mode a probe (or the cache's memory of one) shows: `qemu-x86_64 (probed)`,
/// `rosetta (probed ..., cached)` when the engine's process list showed the emulator, else
/// `emulated (probed)`. `how` is what goes in the parentheses.
pub fn probed_mode(platform: &Platform, seen: Option<&SeenEmulator>, how: &str) -> ExecMode {
    let seen = seen.filter(|s| !s.interpreter.is_empty());
    let name = seen.map_or_else(
        || "emulated".to_owned(),
        |s| match s.kind {
            // The entry QEMU's own binfmt configuration gives the architecture, as a local
            // engine's mode names it; the interpreter's file name varies by distribution
            // (Debian: x86_64-binfmt-P).
            EmulatorKind::Qemu => crate::arch::lookup(platform.architecture())
                .map_or_else(|| "qemu".to_owned(), |d| d.entry.clone()),
            EmulatorKind::Rosetta => "rosetta".to_owned(),
            EmulatorKind::Fex => "fex".to_owned(),
            EmulatorKind::Other => Path::new(&s.interpreter).file_name().map_or_else(
                || s.interpreter.clone(),
                |f| f.to_string_lossy().into_owned(),
            ),
        },
    );
    ExecMode::Emulated {
        emulator: Emulator {
            entry: format!("{name} ({how})"),
            // Empty, never the path the engine's process list showed: that names a file on the
            // engine's host, and an interpreter here is run to ask its version (a remote
            // engine could name any program of this machine). `doctor --probe` shows the path.
            interpreter: PathBuf::new(),
            flags: String::new(),
            kind: seen.map_or(EmulatorKind::Other, |s| s.kind),
            version: None,
        },
    }
}

/// How long the engine's process list may take to show an emulated relay.
const SEE_TIMEOUT: Duration = Duration::from_secs(20);

/// The emulator `engine` runs `platform` with, as its process list shows it: a relay of that
/// architecture (the only programs archsmoke has that keep running: [`crate::probe::relay`],
/// amd64 and arm64) retries a refused connection every 50 ms while the engine lists its
/// processes. The kernel starts the binfmt interpreter in front of the program, so the first
/// word of the command is QEMU's or Rosetta's path (`/run/rosetta/rosetta`,
/// `/mnt/lima-rosetta/rosetta`). `None` without a relay for the architecture or when the relay
/// did not run; the flag is whether its container and image were removed.
pub async fn see_emulator(
    engine: &Engine,
    platform: &Platform,
    run_id: &str,
) -> (Option<SeenEmulator>, bool) {
    let image = match crate::probe::relay::relay_image(
        platform,
        &format!("{run_id}-{}-seen", engine.name()),
        &crate::owner::labels(),
    ) {
        Ok(Some(image)) => image,
        _ => return (None, true),
    };
    if let Err(e) = engine.load_image(image.archive).await {
        // The exit code says infrastructure; the reason goes to the log.
        tracing::warn!("cannot load {}: {e}", image.reference);
        return (None, false);
    }
    let request = ContainerRequest {
        privileged: false,
        host: Default::default(),
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
    };
    let seen = async {
        let running = engine
            .start_service(&request, Box::new(|_| {}))
            .await
            .inspect_err(|e| tracing::debug!(error = %e, "the {platform} relay did not start"))
            .ok()?;
        let rows = tokio::time::timeout(SEE_TIMEOUT, engine.top(&running.id)).await;
        let _ = engine.remove_service(&running.id).await;
        let rows = match rows {
            Ok(Ok(rows)) => rows,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "no process list of the {platform} relay");
                return None;
            }
            Err(_) => {
                tracing::debug!("no process list of the {platform} relay within {SEE_TIMEOUT:?}");
                return None;
            }
        };
        tracing::debug!(?rows, "the {platform} relay's processes");
        let command = rows.into_iter().next()?.command;
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
            kind: EmulatorKind::Other,
            interpreter: String::new(),
        };
    }
    SeenEmulator {
        kind: crate::emulation::binfmt::classify_interpreter(Path::new(first)),
        interpreter: first.to_owned(),
    }
}

/// The mode recorded for a probe that did not show the platform running.
fn unavailable(engine: &Engine, platform: &Platform, why: &str) -> ExecMode {
    ExecMode::Unavailable {
        reason: format!(
            "a probe container of {platform} on engine \"{}\" {why}",
            engine.name()
        ),
        hint: format!(
            "register QEMU on that engine's host: `archsmoke binfmt install {}` there, or \
             `docker run --privileged --rm tonistiigi/binfmt --install {}` against it",
            platform.architecture(),
            platform.architecture()
        ),
    }
}

/// Which (engine, platform) pairs a run must learn by probing: see the module documentation.
fn wanted(
    router: &Router,
    platforms: &[Platform],
    pins: &[(Platform, String)],
) -> Vec<(String, Platform)> {
    let mut wanted: Vec<(String, Platform)> = Vec::new();
    let profiles = router.profiles();
    let unknown_on = |e: &crate::profile::EngineProfile, p: &Platform| {
        !e.local() && matches!(e.mode(p), ExecMode::Unavailable { .. })
    };
    for p in platforms {
        let pinned = pins.iter().find(|(q, _)| q == p).map(|(_, n)| n.as_str());
        match pinned {
            Some(name) => {
                if let Some(e) = profiles.iter().find(|e| e.name() == name)
                    && unknown_on(e, p)
                {
                    wanted.push((name.to_owned(), p.clone()));
                }
            }
            None => {
                let served = profiles.iter().any(|e| match e.mode(p) {
                    ExecMode::Native { .. } => true,
                    ExecMode::Emulated { .. } => e.local(),
                    ExecMode::Unavailable { .. } => false,
                });
                if !served {
                    wanted.extend(
                        profiles
                            .iter()
                            .filter(|e| unknown_on(e, p))
                            .map(|e| (e.name().to_owned(), p.clone())),
                    );
                }
            }
        }
    }
    wanted
}

/// Learns what `platforms` need of the remote engines, from the cache where it answers and by
/// probe containers otherwise, and teaches the router the answers. `None` when nothing needed
/// learning.
#[allow(clippy::too_many_arguments)]
pub async fn learn_remote(
    router: &mut Router,
    engines: &BTreeMap<String, (Engine, Option<usize>)>,
    platforms: &[Platform],
    pins: &[(Platform, String)],
    run_id: &str,
    default_jobs: usize,
    cache: &ProbeCache,
    image: Prefetch<'_>,
    note: &(dyn Fn(Event) + Sync),
) -> Option<ProbePhase> {
    let wanted = wanted(router, platforms, pins);
    if wanted.is_empty() {
        return None;
    }
    let started = Instant::now();
    let mut by_engine: BTreeMap<&str, Vec<Platform>> = BTreeMap::new();
    for (name, p) in &wanted {
        by_engine.entry(name.as_str()).or_default().push(p.clone());
    }
    // A platform probed on one engine only runs there if it runs at all: its image can be
    // pulled there while the probe runs.
    let sole = |p: &Platform| wanted.iter().filter(|(_, q)| q == p).count() == 1;
    let learned = join_all(by_engine.into_iter().filter_map(|(name, platforms)| {
        let (engine, jobs) = engines.get(name)?;
        let jobs = jobs.unwrap_or(default_jobs);
        let pull: Vec<Platform> = platforms.iter().filter(|p| sole(p)).cloned().collect();
        Some(async move {
            let (learned, ()) = tokio::join!(
                learn_engine(engine, platforms, run_id, jobs, cache, note),
                image.pull(engine, pull)
            );
            learned
        })
    }))
    .await;
    let mut phase = ProbePhase::default();
    let mut modes: HashMap<String, Vec<(Platform, ExecMode)>> = HashMap::new();
    for (name, answers, probed, cached) in learned {
        phase.probed += probed;
        phase.cached += cached;
        modes.entry(name).or_default().extend(answers);
    }
    for profile in router.profiles_mut() {
        for (p, mode) in modes.remove(profile.name()).unwrap_or_default() {
            profile.learn(p, mode);
        }
    }
    phase.duration = started.elapsed();
    Some(phase)
}

/// The run's image, so that a platform's pull on a remote engine overlaps its probe.
#[derive(Clone, Copy)]
pub struct Prefetch<'a> {
    pub source: &'a ImageSource,
    pub resolved: &'a ResolvedImage,
}

impl Prefetch<'_> {
    /// Pulls `platforms`' images on `engine`, as the run would, so that the run finds them
    /// present. Only registry images (a layout's are loaded per run, an engine's own are
    /// there), and only an index entry of exactly the platform; a failure is left for the run
    /// to meet and report. When the probe then fails, the image stays in the engine's store.
    async fn pull(self, engine: &Engine, platforms: Vec<Platform>) {
        if !matches!(self.source, ImageSource::Registry(_)) {
            return;
        }
        join_all(platforms.iter().map(|p| async move {
            let Some(entry) = self
                .resolved
                .entries
                .iter()
                .find(|e| e.kind == IndexEntryKind::Image && e.platform.as_ref() == Some(p))
            else {
                return;
            };
            let Ok(image) = self.source.platform_image(entry).await else {
                return;
            };
            let credentials = self.source.credentials_for(&image.manifest_digest);
            if let Err(e) = engine
                .ensure_image(&image.pull_reference, p, credentials)
                .await
            {
                tracing::debug!(error = %e, "pull beside the probe of {p}");
            }
        }))
        .await;
    }
}

/// One engine's answers: the cache's, then probes for the rest (remembered when they ran).
/// Returns the engine's name, the modes, and how many came from probes and from the cache.
async fn learn_engine(
    engine: &Engine,
    platforms: Vec<Platform>,
    run_id: &str,
    jobs: usize,
    cache: &ProbeCache,
    note: &(dyn Fn(Event) + Sync),
) -> (String, Vec<(Platform, ExecMode)>, usize, usize) {
    // Without the engine's boot there is no key, and every answer comes from a probe.
    let boot = engine.boot().await.ok();
    let remembered = boot
        .as_ref()
        .map(|b| cache.recall(b, &platforms, SystemTime::now()))
        .unwrap_or_default();
    let mut answers: Vec<(Platform, ExecMode)> = remembered
        .iter()
        .map(|r| {
            let at = humantime::format_rfc3339_seconds(r.probed_at);
            (
                r.platform.clone(),
                probed_mode(
                    &r.platform,
                    r.emulator.as_ref(),
                    &format!("probed {at}, cached"),
                ),
            )
        })
        .collect();
    let rest: Vec<Platform> = platforms
        .into_iter()
        .filter(|p| !remembered.iter().any(|r| r.platform == *p))
        .collect();
    if !remembered.is_empty() {
        note(Event::Note {
            message: format!(
                "engine \"{}\": {} platform(s) emulated, from the probe cache (`--reprobe` probes again)",
                engine.name(),
                remembered.len()
            ),
        });
    }
    if !rest.is_empty() {
        note(Event::Note {
            message: format!(
                "probing {} platform(s) on remote engines (their binfmt_misc entries are not visible from here)",
                rest.len()
            ),
        });
    }
    // The emulator is looked for beside the probe, not after it: on a slow engine (a VM under
    // full system emulation) a container costs seconds. The pair takes one of `width` turns.
    let width = width(boot.as_ref().and_then(|b| b.cpus), jobs);
    let probes: Vec<(Probe, Option<SeenEmulator>)> = futures_util::stream::iter(&rest)
        .map(|p| async move {
            let (probe, (seen, _)) =
                tokio::join!(probe(engine, p, run_id), see_emulator(engine, p, run_id));
            (probe, seen)
        })
        .buffered(width)
        .collect()
        .await;
    if !rest.is_empty()
        && let Err(e) = sweep_images(engine, run_id).await
    {
        tracing::warn!(error = %e, "could not sweep the probe images of run {run_id}");
    }
    let (mut ran, mut failed) = (Vec::new(), Vec::new());
    for (p, (probe, seen)) in rest.iter().zip(probes) {
        let mode = match probe.probed {
            Probed::Runs { .. } => {
                let mode = probed_mode(p, seen.as_ref(), "probed");
                ran.push((p.clone(), seen));
                mode
            }
            Probed::Fails { message } => {
                failed.push(p.clone());
                unavailable(engine, p, &message)
            }
            Probed::NotProbed { reason } => {
                unavailable(engine, p, &format!("was not run: {reason}"))
            }
        };
        answers.push((p.clone(), mode));
    }
    if let Some(boot) = &boot
        && !rest.is_empty()
        && let Err(e) = cache.remember(boot, &ran, &failed, SystemTime::now())
    {
        tracing::warn!(error = %e, "could not write the probe cache");
    }
    (
        engine.name().to_owned(),
        answers,
        rest.len(),
        remembered.len(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_go_as_wide_as_the_engines_cpus_and_the_jobs_allow() {
        assert_eq!(width(Some(2), 4), 2);
        assert_eq!(width(Some(16), 4), 4);
        assert_eq!(width(None, 4), 4);
        assert_eq!(width(Some(0), 4), 1);
        assert_eq!(width(Some(8), 0), 1);
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
    fn a_probed_mode_names_the_emulator_seen_as_a_local_mode_names_its_entry() {
        let amd64 = Platform::parse("linux/amd64").expect("platform");
        let qemu = seen_in("/usr/libexec/qemu-binfmt/x86_64-binfmt-P /probe /probe 1 wait");
        let mode = probed_mode(&amd64, Some(&qemu), "probed");
        assert_eq!(mode.to_string(), "qemu-x86_64 (probed)");
        let ExecMode::Emulated { emulator } = &mode else {
            panic!("emulated: {mode:?}");
        };
        assert_eq!(emulator.kind, EmulatorKind::Qemu);
        // Not the engine host's path: an interpreter here is run for its version.
        assert_eq!(emulator.interpreter, Path::new(""));
        let i386 = Platform::parse("linux/386").expect("platform");
        assert_eq!(
            probed_mode(
                &i386,
                Some(&seen_in("/usr/bin/qemu-i386-static /probe")),
                "probed"
            )
            .to_string(),
            "qemu-i386 (probed)"
        );
        let rosetta = seen_in("/run/rosetta/rosetta /probe 1 wait");
        assert_eq!(
            probed_mode(
                &amd64,
                Some(&rosetta),
                "probed 2026-12-06T11:00:00Z, cached"
            )
            .to_string(),
            "rosetta (probed 2026-12-06T11:00:00Z, cached)"
        );
        let other = seen_in("/opt/box64/box64 /probe 1 wait");
        assert_eq!(
            probed_mode(&amd64, Some(&other), "probed").to_string(),
            "box64 (probed)"
        );
        // Nothing seen (no relay for the architecture), or the emulator hides: unnamed.
        for seen in [None, Some(&seen_in("/probe 1 wait"))] {
            let mode = probed_mode(&amd64, seen, "probed");
            assert_eq!(mode.to_string(), "emulated (probed)");
            assert!(mode.is_emulated());
        }
    }
}
