use std::path::PathBuf;

use super::*;
use crate::engine::EngineInfo;
use crate::mode::{Emulator, EmulatorKind, ExecMode};
use crate::outcome::ProblemKind;

fn p(s: &str) -> Platform {
    Platform::parse(s).expect("valid platform")
}

/// An engine of `arch` whose only foreign platform is `emulates` (learned as a probe would).
fn engine(name: &str, arch: &str, emulates: Option<&str>) -> EngineProfile {
    let info = EngineInfo {
        endpoint: format!("tcp://{name}:2376"),
        local: false,
        local_why: String::new(),
        kernel: String::new(),
        operating_system: String::new(),
        version: "20.10.24".into(),
        api_version: "1.41".into(),
        platform: p(arch),
        rootless: false,
    };
    let mut profile = EngineProfile::new(name, info, None);
    if let Some(foreign) = emulates {
        profile.learn(
            p(foreign),
            ExecMode::Emulated {
                emulator: Emulator {
                    entry: "qemu-aarch64".into(),
                    interpreter: PathBuf::from("/usr/bin/qemu-aarch64-static"),
                    flags: "PF".into(),
                    kind: EmulatorKind::Qemu,
                    version: None,
                },
            },
        );
    }
    profile
}

fn name(route: Route<'_>) -> String {
    match route {
        Route::Engine(e) => e.name().to_owned(),
        Route::Failed { engine, .. } => format!("failed:{engine}"),
    }
}

#[test]
fn native_engines_win_then_emulating_ones_then_the_primary() {
    let router = Router::new(
        vec![
            engine("default", "linux/amd64", Some("linux/arm64")),
            engine("arm", "linux/arm64", None),
        ],
        Vec::new(),
        Vec::new(),
    );
    assert_eq!(name(router.route(&p("linux/arm64"), Policy::Allow)), "arm");
    assert_eq!(
        name(router.route(&p("linux/amd64"), Policy::Allow)),
        "default"
    );
    // Nothing runs s390x: the primary engine answers (its profile says why and the fix).
    assert_eq!(
        name(router.route(&p("linux/s390x"), Policy::Allow)),
        "default"
    );
    // `only` prefers the engine that emulates.
    assert_eq!(
        name(router.route(&p("linux/arm64"), Policy::Only)),
        "default"
    );
    assert_eq!(
        router.emulating(&p("linux/arm64"), "arm").map(|e| e.name()),
        Some("default")
    );
    assert!(router.emulating(&p("linux/arm64"), "default").is_none());

    let emulating_only = Router::new(
        vec![engine("default", "linux/amd64", Some("linux/arm64"))],
        Vec::new(),
        Vec::new(),
    );
    assert_eq!(
        name(emulating_only.route(&p("linux/arm64"), Policy::Forbid)),
        "default"
    );
}

#[test]
fn pins_win_even_over_a_native_engine_and_a_lost_pinned_engine_is_named() {
    let problem = Problem {
        kind: ProblemKind::Engine,
        message: "cannot reach the Docker Engine at tcp://gone:2376 (engine \"gone\")".into(),
        hint: None,
    };
    let router = Router::new(
        vec![
            engine("default", "linux/amd64", None),
            engine("second", "linux/amd64", None),
        ],
        vec![
            (p("linux/amd64"), "second".into()),
            (p("linux/386"), "gone".into()),
        ],
        vec![("gone".into(), problem)],
    );
    assert_eq!(
        name(router.route(&p("linux/amd64"), Policy::Allow)),
        "second"
    );
    assert_eq!(
        name(router.route(&p("linux/386"), Policy::Allow)),
        "failed:gone"
    );
}
