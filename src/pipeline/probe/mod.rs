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

pub mod cache;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use futures_util::future::join_all;

pub use cache::{DEFAULT_TTL, ProbeCache};

use crate::engine::{ContainerRequest, Engine, RUN_LABEL};
use crate::event::Event;
use crate::image::{ImageSource, IndexEntryKind, ResolvedImage};
use crate::mode::{Emulator, EmulatorKind, ExecMode};
use crate::outcome::ProbePhase;
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

/// [`probe`] of every platform at once, then a sweep of the run's containers on `engine`
/// (each is removed by itself; this catches what an error left). The flag is false when any
/// probe was not clean or the sweep failed.
pub async fn probe_all(
    engine: &Engine,
    platforms: &[Platform],
    run_id: &str,
) -> (Vec<Probe>, bool) {
    let probes = join_all(platforms.iter().map(|p| probe(engine, p, run_id))).await;
    let mut clean = probes.iter().all(|p| p.clean);
    if let Err(e) = engine.remove_run(Some(run_id)).await {
        tracing::warn!(error = %e, "could not sweep the probe containers of run {run_id}");
        clean = false;
    }
    (probes, clean)
}

/// The emulated mode a probe (or the cache's memory of one) shows.
pub fn emulated_mode(entry: String) -> ExecMode {
    ExecMode::Emulated {
        emulator: Emulator {
            entry,
            // The interpreter is on the engine's host, not here.
            interpreter: PathBuf::new(),
            flags: String::new(),
            kind: EmulatorKind::Other,
            version: None,
        },
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
        let (engine, _) = engines.get(name)?;
        let pull: Vec<Platform> = platforms.iter().filter(|p| sole(p)).cloned().collect();
        Some(async move {
            let (learned, ()) = tokio::join!(
                learn_engine(engine, platforms, run_id, cache, note),
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
                emulated_mode(format!("emulated (probed {at}, cached)")),
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
    let probes = join_all(rest.iter().map(|p| probe(engine, p, run_id))).await;
    let (mut ran, mut failed) = (Vec::new(), Vec::new());
    for (p, probe) in rest.iter().zip(probes) {
        let mode = match probe.probed {
            Probed::Runs { .. } => {
                ran.push(p.clone());
                emulated_mode("emulated (probed)".into())
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
