//! Routing: which of a run's engines runs each platform.
//!
//! The rules, in order: a platform pinned to an engine (`platforms` in its `[[engine]]` table)
//! goes there, even when that engine could not be reached (the platform then fails with the
//! engine's error, naming it); otherwise the first engine that runs it natively (the default
//! engine first, then the others in the order they were named); otherwise the first engine that
//! can emulate it (its host's binfmt entries, or what a probe learned); otherwise the default
//! engine, whose profile says why nothing runs it and what fixes that. Under the `only`
//! emulation policy emulating engines are preferred to native ones. Pure: every decision comes
//! from the [`EngineProfile`]s, so routing is unit-tested without engines.

use crate::emulation::Policy;
use crate::outcome::Problem;
use crate::platform::Platform;
use crate::profile::EngineProfile;

/// The engines of a run, and the platforms pinned to them.
pub struct Router {
    /// Engines that answered, the default engine first when it did.
    profiles: Vec<EngineProfile>,
    /// `(platform, engine name)`: pins from `[[engine]] platforms`.
    pins: Vec<(Platform, String)>,
    /// Engines that did not answer, with the problem their pinned platforms report.
    failed: Vec<(String, Problem)>,
}

/// Where one platform goes.
pub enum Route<'a> {
    Engine(&'a EngineProfile),
    /// Pinned to an engine that could not be reached.
    Failed {
        engine: &'a str,
        problem: &'a Problem,
    },
}

impl Router {
    /// `profiles` must not be empty: a run without a reachable engine stops before planning.
    pub fn new(
        profiles: Vec<EngineProfile>,
        pins: Vec<(Platform, String)>,
        failed: Vec<(String, Problem)>,
    ) -> Router {
        assert!(!profiles.is_empty(), "a router needs at least one engine");
        Router {
            profiles,
            pins,
            failed,
        }
    }

    /// The one engine of a run that names no others.
    pub fn single(profile: EngineProfile) -> Router {
        Router::new(vec![profile], Vec::new(), Vec::new())
    }

    /// The first engine: the default one when it answered. Its OS decides which of an image's
    /// platforms are "every platform", and it answers for platforms nothing can run.
    pub fn primary(&self) -> &EngineProfile {
        &self.profiles[0]
    }

    pub fn profiles(&self) -> &[EngineProfile] {
        &self.profiles
    }

    pub fn profiles_mut(&mut self) -> &mut [EngineProfile] {
        &mut self.profiles
    }

    /// The engine for `platform` under `policy` (rules in the module documentation).
    pub fn route(&self, platform: &Platform, policy: Policy) -> Route<'_> {
        if let Some((_, name)) = self.pins.iter().find(|(p, _)| p == platform) {
            if let Some(profile) = self.profiles.iter().find(|e| e.name() == name) {
                return Route::Engine(profile);
            }
            if let Some((engine, problem)) = self.failed.iter().find(|(n, _)| n == name) {
                return Route::Failed { engine, problem };
            }
        }
        let native = |e: &&EngineProfile| e.mode(platform).is_native();
        let emulated = |e: &&EngineProfile| e.mode(platform).is_emulated();
        let first = |f: &dyn Fn(&&EngineProfile) -> bool| self.profiles.iter().find(|e| f(e));
        let chosen = if policy == Policy::Only {
            first(&emulated).or_else(|| first(&native))
        } else {
            first(&native).or_else(|| first(&emulated))
        };
        Route::Engine(chosen.unwrap_or(self.primary()))
    }

    /// For `--compare-emulation`: an engine other than `native_engine` that emulates `platform`.
    pub fn emulating(&self, platform: &Platform, native_engine: &str) -> Option<&EngineProfile> {
        self.profiles
            .iter()
            .find(|e| e.name() != native_engine && e.mode(platform).is_emulated())
    }
}

#[cfg(test)]
#[path = "route_tests.rs"]
mod tests;
