//! `archsmoke gc`: remove what killed runs left behind — containers labelled `archsmoke.run` and
//! the tool's temporary images (tagged with their run's id) — optionally only what is older than
//! a given age or one run's.
//!
//! Only what belongs to runs that are gone is taken: every container carries its run's owner
//! labels ([`crate::owner`]), and a run whose process still lives on this host is skipped
//! whatever the options say. A run that cannot be checked from here (another host sharing the
//! engine, or a container from a version without owner labels) is taken only once older than
//! [`AGE_FLOOR`] (or `--older-than`, or when named with `--run`). What was skipped is said.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use super::{GcArgs, GlobalArgs, engine_error};
use crate::diagnostic::Diagnostic;
use crate::engine::{Engine, RUN_LABEL};
use crate::exit;
use crate::owner::{self, Liveness};

/// Repositories of the images archsmoke itself creates and removes (probe and load images).
pub const TEMPORARY_REPOSITORIES: &[&str] = &[
    "archsmoke-probe",
    "archsmoke-load",
    crate::engine::COMMIT_REPOSITORY,
];
/// How old a container of a run that cannot be checked must be before plain `gc` takes it: no
/// smoke-test run lasts a day.
pub const AGE_FLOOR: Duration = Duration::from_secs(24 * 3600);

pub async fn gc(args: &GcArgs, global: &GlobalArgs) -> Result<i32, Diagnostic> {
    let now = SystemTime::now();
    let default = Engine::connect(global.host.as_deref()).await;
    if args.engines.is_empty() {
        let engine = default.map_err(|e| engine_error(&e))?;
        return collect(&engine, args, now, "")
            .await
            .map_err(|e| engine_error(&e))
            .map(|()| exit::SUCCESS);
    }
    // Every engine, even after one failed: what the others hold is still garbage.
    let named = crate::pipeline::engines::connect_named(&args.engines, false).await;
    let mut first_error = None;
    let all = std::iter::once((crate::outcome::DEFAULT_ENGINE.to_owned(), default)).chain(
        named
            .into_iter()
            .map(|c| (c.name, c.engine.map(|(e, _)| e))),
    );
    for (name, engine) in all {
        let result = match engine {
            Ok(engine) => collect(&engine, args, now, &format!("engine {name}: ")).await,
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            eprintln!("error: {e}");
            first_error.get_or_insert(e);
        }
    }
    match first_error {
        Some(e) => Err(engine_error(&e)),
        None => Ok(exit::SUCCESS),
    }
}

/// One engine's sweep; `prefix` names the engine when there are several.
async fn collect(
    engine: &Engine,
    args: &GcArgs,
    now: SystemTime,
    prefix: &str,
) -> Result<(), crate::engine::EngineError> {
    let before = args.older_than.map(|age| cutoff(now, age));
    // Unverifiable runs: the explicit age, else the floor, unless the user named the run.
    let unknown_before = match (before, &args.run) {
        (Some(t), _) => Some(t),
        (None, Some(_)) => None,
        (None, None) => Some(cutoff(now, AGE_FLOOR)),
    };
    let containers = engine.labelled_containers(args.run.as_deref()).await?;
    let mut removed = 0;
    let mut live_runs = BTreeSet::new();
    let (mut live, mut young, mut unknown) = (0, 0, 0);
    for c in containers {
        let run = c.labels.get(RUN_LABEL).cloned().unwrap_or_default();
        let old_enough = |cut: Option<i64>| cut.is_none_or(|t| c.created.is_some_and(|at| at < t));
        match owner::liveness(&c.labels) {
            Liveness::Live => {
                live += 1;
                live_runs.insert(run);
                continue;
            }
            Liveness::Gone if !old_enough(before) => {
                young += 1;
                continue;
            }
            Liveness::Unknown if !old_enough(unknown_before) => {
                unknown += 1;
                continue;
            }
            Liveness::Gone | Liveness::Unknown => {}
        }
        engine.remove_container_by_id(&c.id).await?;
        removed += 1;
    }
    println!("{prefix}removed {removed} container(s) left by earlier runs");
    if live > 0 {
        let runs: Vec<&str> = live_runs.iter().map(String::as_str).collect();
        println!(
            "{prefix}skipped {live} container(s) of live run(s) {} (their process still runs on \
             this host)",
            runs.join(", ")
        );
    }
    if young > 0 {
        println!("{prefix}skipped {young} container(s) younger than --older-than");
    }
    if unknown > 0 {
        println!(
            "{prefix}skipped {unknown} container(s) of runs this host cannot check (another host, \
             or no owner labels) younger than {}; `--older-than` or `--run ID` takes them",
            humantime::format_duration(AGE_FLOOR)
        );
    }
    // A run's temporary images are tagged `<repository>:<run id>-…`. A live run's stay, known
    // from its containers' owner labels or from the image's own (probe and relay images carry
    // them), so a run between containers keeps its relay image too.
    let images = engine
        .remove_images(TEMPORARY_REPOSITORIES, before, |tag, labels| {
            let of_run = |run: &str| tag.contains(&format!(":{run}-"));
            if args.run.as_deref().is_some_and(|run| !of_run(run)) {
                return true;
            }
            owner::liveness(labels) == Liveness::Live || live_runs.iter().any(|r| of_run(r))
        })
        .await?;
    println!("{prefix}removed {images} temporary image(s)");
    Ok(())
}

/// Unix seconds of `now - age`; 0 when the age reaches before the epoch.
fn cutoff(now: SystemTime, age: Duration) -> i64 {
    now.checked_sub(age)
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cutoff_is_now_minus_age_and_saturates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        assert_eq!(cutoff(now, Duration::from_secs(400)), 600);
        assert_eq!(cutoff(now, Duration::from_secs(5_000)), 0);
    }
}
