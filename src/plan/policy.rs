//! Whether a platform the image has may run where it was routed: the emulation policy and
//! `--skip-unavailable`, and an engine that cannot run another operating system's images.

use crate::emulation::Policy;
use crate::mode::ExecMode;
use crate::outcome::{Problem, ProblemKind};
use crate::platform::Platform;
use crate::profile::EngineProfile;

/// Why `engine` cannot run `runs_as` at all, whatever the policy: it is another operating
/// system's image. Said in the plan's own words, before the policy is asked.
pub(super) fn other_os(engine: &EngineProfile, runs_as: &Platform) -> Option<Problem> {
    (!engine.runs_os(runs_as)).then(|| Problem {
        kind: ProblemKind::EmulatorUnavailable,
        message: format!(
            "cannot run {runs_as} on this engine: it runs {} containers, and no emulator runs \
             another operating system's images",
            engine.platform().os()
        ),
        hint: Some(format!(
            "run the {} platforms on an engine of that OS",
            runs_as.os()
        )),
    })
}

/// What the emulation policy (and `--skip-unavailable`) makes of a platform the image has, given
/// how the engine would run it: `None` to run it, or the problem that stops it.
///
/// - `allow`: native or emulated both run; unavailable fails with the fix for the emulator.
/// - `forbid`: native runs (32-bit compat included: no emulator is involved); anything that
///   would need an emulator fails and says how to reach a native engine.
/// - `only`: emulated runs; native is not tested, by policy, and says so; unavailable fails.
///
/// `skip_unavailable` turns a platform that cannot run here (no emulator, or emulation
/// forbidden) into a skipped one that keeps the reason and the fix, so nothing is skipped
/// silently.
pub fn policy_problem(
    policy: Policy,
    skip_unavailable: bool,
    platform: &Platform,
    engine: &Platform,
    exec: &ExecMode,
) -> Option<Problem> {
    let problem = match (exec, policy) {
        (ExecMode::Native { .. }, Policy::Only) => {
            return Some(Problem {
                kind: ProblemKind::NotTested,
                message: format!(
                    "not tested: {platform} runs natively on this {engine} engine and the \
                     emulation policy is `only`"
                ),
                hint: Some(
                    "use --emulation allow (or `emulation = \"allow\"`) to test it natively too"
                        .into(),
                ),
            });
        }
        (ExecMode::Native { .. }, _)
        | (ExecMode::Emulated { .. }, Policy::Allow | Policy::Only) => {
            return None;
        }
        (ExecMode::Emulated { emulator }, Policy::Forbid) => Problem {
            kind: ProblemKind::EmulationForbidden,
            message: format!(
                "{platform} would run emulated by {} on this {engine} engine, and the emulation \
                 policy forbids emulation",
                emulator.entry
            ),
            hint: Some(native_engine_hint(platform)),
        },
        (ExecMode::Unavailable { reason, .. }, Policy::Forbid) => Problem {
            kind: ProblemKind::EmulationForbidden,
            message: format!(
                "{platform} cannot run natively on this {engine} engine ({reason}), and the \
                 emulation policy forbids emulation"
            ),
            hint: Some(native_engine_hint(platform)),
        },
        (ExecMode::Unavailable { reason, hint }, Policy::Allow | Policy::Only) => Problem {
            kind: ProblemKind::EmulatorUnavailable,
            message: format!("cannot run {platform} on this engine: {reason}"),
            hint: Some(hint.clone()),
        },
    };
    Some(if skip_unavailable {
        Problem {
            kind: ProblemKind::NotTested,
            message: format!("skipped (--skip-unavailable): {}", problem.message),
            hint: problem.hint,
        }
    } else {
        problem
    })
}

fn native_engine_hint(platform: &Platform) -> String {
    let arch = platform.architecture();
    format!(
        "test it on the engine of a native {arch} machine (--host tcp://HOST:PORT or \
         unix:///PATH, or DOCKER_HOST); or allow emulation with --emulation allow"
    )
}
