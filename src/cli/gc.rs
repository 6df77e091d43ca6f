//! `archsmoke gc`: remove what killed runs left behind — containers labelled `archsmoke.run` and
//! the tool's temporary images — optionally only what is older than a given age or one run's.

use std::time::{Duration, SystemTime};

use super::{GcArgs, GlobalArgs, engine_error};
use crate::diagnostic::Diagnostic;
use crate::engine::Engine;
use crate::exit;

/// Repositories of the images archsmoke itself creates and removes (probe and load images).
pub const TEMPORARY_REPOSITORIES: &[&str] = &["archsmoke-probe", "archsmoke-load"];

pub async fn gc(args: &GcArgs, global: &GlobalArgs) -> Result<i32, Diagnostic> {
    let before = args.older_than.map(|age| cutoff(SystemTime::now(), age));
    let default = Engine::connect(global.host.as_deref()).await;
    if args.engines.is_empty() {
        let engine = default.map_err(|e| engine_error(&e))?;
        return collect(&engine, args, before, "")
            .await
            .map_err(|e| engine_error(&e))
            .map(|()| exit::SUCCESS);
    }
    // Every engine, even after one failed: what the others hold is still garbage.
    let named = crate::pipeline::engines::connect_named(&args.engines).await;
    let mut first_error = None;
    let all = std::iter::once((crate::outcome::DEFAULT_ENGINE.to_owned(), default)).chain(
        named
            .into_iter()
            .map(|c| (c.name, c.engine.map(|(e, _)| e))),
    );
    for (name, engine) in all {
        let result = match engine {
            Ok(engine) => collect(&engine, args, before, &format!("engine {name}: ")).await,
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
    before: Option<i64>,
    prefix: &str,
) -> Result<(), crate::engine::EngineError> {
    let removed = engine
        .remove_containers(args.run.as_deref(), before)
        .await?;
    println!("{prefix}removed {removed} container(s) left by earlier runs");
    if args.run.is_none() {
        let images = engine.remove_images(TEMPORARY_REPOSITORIES, before).await?;
        println!("{prefix}removed {images} temporary image(s)");
    }
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
