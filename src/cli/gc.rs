//! `archsmoke gc`: remove what killed runs left behind — containers labelled `archsmoke.run` and
//! the tool's temporary images — optionally only what is older than a given age or one run's.
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
pub const TEMPORARY_REPOSITORIES: &[&str] = &["archsmoke-probe", "archsmoke-load"];
/// How old a container of a run that cannot be checked must be before plain `gc` takes it: no
/// smoke-test run lasts a day.
pub const AGE_FLOOR: Duration = Duration::from_secs(24 * 3600);

pub async fn gc(args: &GcArgs, global: &GlobalArgs) -> Result<i32, Diagnostic> {
    let engine = Engine::connect(global.host.as_deref())
        .await
        .map_err(|e| engine_error(&e))?;
    let now = SystemTime::now();
    let before = args.older_than.map(|age| cutoff(now, age));
    // Unverifiable runs: the explicit age, else the floor, unless the user named the run.
    let unknown_before = match (before, &args.run) {
        (Some(t), _) => Some(t),
        (None, Some(_)) => None,
        (None, None) => Some(cutoff(now, AGE_FLOOR)),
    };
    let containers = engine
        .labelled_containers(args.run.as_deref())
        .await
        .map_err(|e| engine_error(&e))?;
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
        engine
            .remove_container_by_id(&c.id)
            .await
            .map_err(|e| engine_error(&e))?;
        removed += 1;
    }
    println!("removed {removed} container(s) left by earlier runs");
    if live > 0 {
        let runs: Vec<&str> = live_runs.iter().map(String::as_str).collect();
        println!(
            "skipped {live} container(s) of live run(s) {} (their process still runs on this host)",
            runs.join(", ")
        );
    }
    if young > 0 {
        println!("skipped {young} container(s) younger than --older-than");
    }
    if unknown > 0 {
        println!(
            "skipped {unknown} container(s) of runs this host cannot check (another host, or no \
             owner labels) younger than {}; `--older-than` or `--run ID` takes them",
            humantime::format_duration(AGE_FLOOR)
        );
    }
    if args.run.is_none() {
        let images = engine
            .remove_images(TEMPORARY_REPOSITORIES, before, |tag| {
                // `archsmoke-load:<run id>-<arch>`: a live run's image stays.
                live_runs
                    .iter()
                    .any(|run| tag.contains(&format!(":{run}-")))
            })
            .await
            .map_err(|e| engine_error(&e))?;
        println!("removed {images} temporary image(s)");
    }
    Ok(exit::SUCCESS)
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
