//! `--compare-emulation`: a platform that runs natively planned a second time, emulated on
//! another engine, through the same planning of contents and policy as any row.

use crate::emulation::Policy;
use crate::mode::ExecMode;
use crate::outcome::{Problem, ProblemKind};
use crate::platform::Platform;
use crate::route::Router;
use crate::spec::Spec;

use super::{PlannedPlatform, contents, policy_problem};

/// `--compare-emulation`: for each platform of `compare` planned natively, the same platform
/// emulated on another engine (the emulated twin), or a twin that says why none can.
pub(super) fn compare_twins(
    spec: &Spec,
    planned: &[PlannedPlatform],
    router: &Router,
    compare: &[Platform],
    policy: Policy,
    skip_unavailable: bool,
) -> Vec<PlannedPlatform> {
    let mut twins = Vec::new();
    for native in planned.iter().filter(|p| compare.contains(&p.platform)) {
        if !native.mode.is_native() || native.problem().is_some() {
            continue;
        }
        let mut twin = native.clone();
        match router.emulating(&native.platform, &native.engine) {
            Some(engine) => {
                // The twin is planned as any row of that engine: its tests and its service
                // get the emulated timeouts and interpreter, and the policy is asked again.
                twin.engine = engine.name().to_owned();
                twin.mode = engine.mode(&native.platform);
                (twin.tests, twin.service) = contents(spec, &native.platform, &twin.mode);
                if let Some(p) = policy_problem(
                    policy,
                    skip_unavailable,
                    &native.platform,
                    engine.platform(),
                    &twin.mode,
                ) {
                    twin.readiness.block(p);
                }
            }
            None => {
                twin.mode = ExecMode::Unavailable {
                    reason: format!(
                        "no engine of another architecture emulates {}",
                        native.platform
                    ),
                    hint: "add an engine of another architecture with QEMU binfmt entries \
                           (`archsmoke binfmt install`), e.g. --engine amd64=ssh://user@amd64-box"
                        .into(),
                };
                twin.readiness.block(Problem {
                    kind: ProblemKind::EmulatorUnavailable,
                    message: format!(
                        "cannot compare {} natively and emulated: no other engine emulates it",
                        native.platform
                    ),
                    hint: Some(
                        "name an engine of another architecture (--engine NAME=URL) whose host has \
                         QEMU binfmt entries"
                            .into(),
                    ),
                });
            }
        }
        twins.push(twin);
    }
    twins
}
