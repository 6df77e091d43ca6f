//! What a remote engine can emulate, learned the only way it can be: a tiny probe container of
//! the platform ([`crate::probe`]), once per engine and platform per run. A local engine's
//! binfmt_misc entries are read instead; a remote engine's kernel is invisible from here.
//!
//! Only platforms that routing would otherwise leave without an engine are probed (nothing runs
//! them natively and no local engine emulates them), plus platforms pinned to a remote engine;
//! what a probe shows is recorded in the engine's profile ([`EngineProfile::learn`]), so routing
//! and the plan see it like any other mode.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use futures_util::future::join_all;

use crate::engine::{ContainerRequest, Engine, RUN_LABEL};
use crate::mode::{Emulator, EmulatorKind, ExecMode};
use crate::platform::Platform;
use crate::route::Router;
use crate::run::Backend;

/// QEMU starts a static program in well under a second; this bounds a hung emulator.
const PROBE_TIMEOUT: Duration = Duration::from_secs(30);

/// Probes `platforms` on the remote engines that need it and teaches the router the answers.
pub async fn learn_remote(
    router: &mut Router,
    engines: &std::collections::BTreeMap<String, (Engine, Option<usize>)>,
    platforms: &[Platform],
    pins: &[(Platform, String)],
    run_id: &str,
) {
    let mut wanted: Vec<(String, Platform)> = Vec::new();
    for p in platforms {
        let profiles = router.profiles();
        let pinned = pins.iter().find(|(q, _)| q == p).map(|(_, n)| n.as_str());
        let unknown_on = |e: &crate::profile::EngineProfile| {
            !e.local() && matches!(e.mode(p), ExecMode::Unavailable { .. })
        };
        match pinned {
            Some(name) => {
                if let Some(e) = profiles.iter().find(|e| e.name() == name)
                    && unknown_on(e)
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
                            .filter(|e| unknown_on(e))
                            .map(|e| (e.name().to_owned(), p.clone())),
                    );
                }
            }
        }
    }
    if wanted.is_empty() {
        return;
    }
    eprintln!(
        "probing {} platform(s) on remote engines (their binfmt_misc entries are not visible from here)",
        wanted.len()
    );
    let results = join_all(wanted.iter().filter_map(|(name, p)| {
        let (engine, _) = engines.get(name)?;
        Some(async move { (name.clone(), p.clone(), probe(engine, p, run_id).await) })
    }))
    .await;
    let mut by_engine: HashMap<String, Vec<(Platform, ExecMode)>> = HashMap::new();
    for (name, p, mode) in results {
        by_engine.entry(name).or_default().push((p, mode));
    }
    for profile in router.profiles_mut() {
        for (p, mode) in by_engine.remove(profile.name()).unwrap_or_default() {
            profile.learn(p, mode);
        }
    }
}

/// One probe container of `platform` on `engine`: emulated when it exits 0.
async fn probe(engine: &Engine, platform: &Platform, run_id: &str) -> ExecMode {
    let unavailable = |why: String| ExecMode::Unavailable {
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
    };
    let image = match crate::probe::probe_image_owned(
        platform,
        &format!("{run_id}-{}", engine.name()),
        &crate::owner::labels(),
    ) {
        Ok(Some(image)) => image,
        Ok(None) => return unavailable("cannot be built (no probe program for it)".into()),
        Err(e) => return unavailable(format!("cannot be built: {e}")),
    };
    if let Err(e) = engine.load_image(image.archive).await {
        return unavailable(format!("could not be loaded: {e}"));
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
    let mode = match engine.run_container(&request).await {
        Ok(r) if r.exit_code == Some(0) && !r.timed_out => ExecMode::Emulated {
            emulator: Emulator {
                entry: "emulated (probed)".into(),
                // The interpreter is on the engine's host, not here.
                interpreter: PathBuf::new(),
                flags: String::new(),
                kind: EmulatorKind::Other,
                version: None,
            },
        },
        Ok(r) if r.timed_out => unavailable(format!("did not exit within {PROBE_TIMEOUT:?}")),
        Ok(r) => unavailable(format!(
            "exited with code {}: {}",
            r.exit_code.map_or_else(|| "?".into(), |c| c.to_string()),
            r.stderr.text().trim()
        )),
        Err(e) => unavailable(format!("failed: {e}")),
    };
    if let Err(e) = engine.remove_image(&image.reference).await {
        tracing::warn!(error = %e, "could not remove probe image {}", image.reference);
    }
    mode
}
