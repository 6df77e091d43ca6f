//! `archsmoke gc`: remove what killed runs left behind — containers labelled `archsmoke.run` and
//! the tool's temporary images — optionally only what is older than a given age or one run's.

use std::time::{Duration, SystemTime};

use super::{GcArgs, GlobalArgs, engine_error};
use crate::diagnostic::Diagnostic;
use crate::engine::Engine;
use crate::exit;

/// Repositories of the images archsmoke itself creates and removes (probe and load images).
pub const TEMPORARY_REPOSITORIES: &[&str] = &[
    "archsmoke-probe",
    "archsmoke-load",
    crate::engine::COMMIT_REPOSITORY,
];

pub async fn gc(args: &GcArgs, global: &GlobalArgs) -> Result<i32, Diagnostic> {
    let engine = Engine::connect(global.host.as_deref())
        .await
        .map_err(|e| engine_error(&e))?;
    let before = args.older_than.map(|age| cutoff(SystemTime::now(), age));
    let removed = engine
        .remove_containers(args.run.as_deref(), before)
        .await
        .map_err(|e| engine_error(&e))?;
    println!("removed {removed} container(s) left by earlier runs");
    if args.run.is_none() {
        let images = engine
            .remove_images(TEMPORARY_REPOSITORIES, before)
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
