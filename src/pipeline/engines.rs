//! A run's engines: connecting the ones an `[[engine]]` table or `--engine` names, building the
//! [`Router`] from their profiles, and running each engine's share of the plan with its own
//! `jobs` bound (each engine has its own CPUs), side by side.

use std::collections::BTreeMap;

use futures_util::future::join_all;

use crate::emulation::BinfmtState;
use crate::engine::endpoint::{self, Endpoint, ProcessEnv, TlsFiles};
use crate::engine::{Engine, EngineError, EngineInfo};
use crate::outcome::{DEFAULT_ENGINE, PlatformReport, Problem};
use crate::plan::Plan;
use crate::profile::EngineProfile;
use crate::route::Router;
use crate::run::{self, RunContext};
use crate::spec::{EngineSpec, EngineTarget};

/// One engine of the run: its spec (`None` for the default engine) and how connecting went.
pub struct Connected {
    pub name: String,
    pub spec: Option<EngineSpec>,
    pub engine: Result<(Engine, EngineInfo), EngineError>,
}

/// Where a named engine is. Command-line engines by `tcp://` take `DOCKER_TLS_VERIFY` and
/// `DOCKER_CERT_PATH` like the default engine does; a spec's engine only its own TLS files.
pub fn endpoint_of(spec: &EngineSpec) -> Result<Endpoint, EngineError> {
    match &spec.target {
        EngineTarget::Host { url, tls } => {
            let tls = match tls {
                Some([ca, cert, key]) => Some(TlsFiles {
                    ca: ca.clone(),
                    cert: cert.clone(),
                    key: key.clone(),
                }),
                None => endpoint::default_endpoint(Some(url), &ProcessEnv)
                    .ok()
                    .and_then(|e| e.tls),
            };
            Ok(Endpoint::named(
                &spec.name,
                url,
                tls,
                "its [[engine]] table or --engine",
            ))
        }
        EngineTarget::Context(context) => {
            let mut e = endpoint::context_endpoint(context, &ProcessEnv).map_err(|e| {
                EngineError::Config {
                    engine: spec.name.clone(),
                    detail: e.what,
                    hint: e.hint,
                }
            })?;
            e.name = spec.name.clone();
            Ok(e)
        }
    }
}

/// Connects to every named engine at once; the spec's own get no registry credentials unless
/// `trust_spec` (`--trust-spec-engines`).
pub async fn connect_named(specs: &[EngineSpec], trust_spec: bool) -> Vec<Connected> {
    join_all(specs.iter().map(|spec| async move {
        let engine = async {
            let endpoint = endpoint_of(spec)?;
            let mut engine = Engine::connect_to(&endpoint).await?;
            if spec.from_spec && !trust_spec {
                engine.withhold_credentials(format!(
                    "engine \"{}\" is named by the spec's [[engine]] table, and a spec may come \
                     from anyone (a pull request); name it with --engine, or pass \
                     --trust-spec-engines, to let it pull with your credentials",
                    spec.name
                ));
            }
            let info = engine.info().await?;
            Ok((engine, info))
        }
        .await;
        Connected {
            name: spec.name.clone(),
            spec: Some(spec.clone()),
            engine,
        }
    }))
    .await
}

/// The engines that answered, by name, with their `jobs`.
pub struct Engines {
    pub router: Router,
    pub engines: BTreeMap<String, (Engine, Option<usize>)>,
}

/// Profiles and pins from the connected engines. `Err` with the first error when none answered.
/// A named engine that did not answer is a warning on `events`.
pub fn assemble(
    all: Vec<Connected>,
    events: &tokio::sync::mpsc::UnboundedSender<crate::event::Event>,
) -> Result<Engines, EngineError> {
    let mut profiles = Vec::new();
    let mut engines = BTreeMap::new();
    let mut failed = Vec::new();
    let mut pins = Vec::new();
    let mut first_error = None;
    for c in all {
        if let Some(spec) = &c.spec {
            pins.extend(spec.platforms.iter().map(|p| (p.clone(), c.name.clone())));
        }
        match c.engine {
            Ok((engine, info)) => {
                let binfmt = info
                    .local
                    // ARCHSMOKE_BINFMT_DIR when archsmoke itself runs in a container.
                    .then(|| BinfmtState::read(&crate::emulation::binfmt::read_dir()).ok())
                    .flatten();
                profiles.push(EngineProfile::new(&c.name, info, binfmt));
                let jobs = c.spec.as_ref().and_then(|s| s.jobs);
                engines.insert(c.name.clone(), (engine, jobs));
            }
            Err(e) => {
                if c.name != DEFAULT_ENGINE {
                    let _ = events.send(crate::event::Event::Warning {
                        message: e.to_string(),
                    });
                }
                failed.push((c.name.clone(), Problem::engine(&e)));
                first_error.get_or_insert(e);
            }
        }
    }
    if profiles.is_empty() {
        return Err(first_error.expect("at least the default engine was tried"));
    }
    Ok(Engines {
        router: Router::new(profiles, pins, failed),
        engines,
    })
}

/// Runs each engine's platforms on that engine, all engines at once; the reports come back in
/// the plan's order (a compared platform's native row before its emulated twin).
pub async fn execute(
    plan: Plan,
    engines: &BTreeMap<String, (Engine, Option<usize>)>,
    default_jobs: usize,
    make_ctx: impl Fn(Engine, usize) -> RunContext,
) -> Vec<PlatformReport> {
    let network = plan.network.clone();
    let mut shares: BTreeMap<String, Plan> = BTreeMap::new();
    let mut orphans = Vec::new();
    for p in plan.platforms {
        if engines.contains_key(&p.engine) {
            shares
                .entry(p.engine.clone())
                .or_insert_with(|| Plan {
                    platforms: Vec::new(),
                    network: network.clone(),
                })
                .platforms
                .push(p);
        } else {
            // Pinned to an engine that did not answer: planned with its problem, so any
            // engine reports it without running anything.
            orphans.push(p);
        }
    }
    if !orphans.is_empty() {
        let first = engines.keys().next().cloned().unwrap_or_default();
        shares
            .entry(first)
            .or_insert_with(|| Plan {
                platforms: Vec::new(),
                network: network.clone(),
            })
            .platforms
            .extend(orphans);
    }
    let runs = shares.into_iter().filter_map(|(name, share)| {
        let (engine, jobs) = engines.get(&name)?;
        let ctx = make_ctx(engine.clone(), jobs.unwrap_or(default_jobs));
        Some(async move {
            let order: Vec<(usize, crate::platform::Platform)> = share
                .platforms
                .iter()
                .map(|p| (p.order, p.platform.clone()))
                .collect();
            let reports = run::execute(share, ctx).await;
            reports
                .into_iter()
                .map(|r| {
                    let at = order
                        .iter()
                        .find(|(_, p)| *p == r.platform)
                        .map_or(usize::MAX, |(o, _)| *o);
                    (at, r)
                })
                .collect::<Vec<_>>()
        })
    });
    let mut all: Vec<(usize, PlatformReport)> =
        join_all(runs).await.into_iter().flatten().collect();
    // The native row first: a twin runs on another engine than its platform's route.
    all.sort_by(|(a, ra), (b, rb)| a.cmp(b).then(mode_rank(ra).cmp(&mode_rank(rb))));
    all.into_iter().map(|(_, r)| r).collect()
}

fn mode_rank(r: &PlatformReport) -> u8 {
    u8::from(!r.mode.as_ref().is_some_and(|m| m.is_native()))
}
