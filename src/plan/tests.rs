//! The plan's unit tests: selection, routing, policy, compare twins, timeouts.

use std::path::Path;

use super::*;
use crate::emulation::Policy;
use crate::emulation::{BinfmtState, decide};
use crate::engine::EngineInfo;
use crate::image::IndexEntryKind;

fn p(s: &str) -> Platform {
    Platform::parse(s).expect("valid platform")
}

fn binfmt(arches: &[&str]) -> BinfmtState {
    crate::emulation::binfmt::qemu_fixture(arches)
}

fn image(platforms: &[&str]) -> ResolvedImage {
    ResolvedImage {
        reference: "127.0.0.1:5000/demo:multi".into(),
        digest: format!("sha256:{}", "0".repeat(64)),
        media_type: "application/vnd.oci.image.index.v1+json".into(),
        is_index: true,
        entries: platforms
            .iter()
            .enumerate()
            .map(|(i, s)| IndexEntry {
                digest: format!("sha256:{i:064}"),
                media_type: "application/vnd.oci.image.manifest.v1+json".into(),
                size: 500,
                platform: Some(p(s)),
                kind: IndexEntryKind::Image,
                nested_in: None,
            })
            .collect(),
    }
}

fn engine(kernel: BinfmtState) -> EngineProfile {
    EngineProfile::new("default", info(), Some(kernel))
}

fn info() -> EngineInfo {
    EngineInfo {
        endpoint: "unix:///var/run/docker.sock".into(),
        local: true,
        local_why: String::new(),
        kernel: String::new(),
        operating_system: String::new(),
        version: "20.10.24".into(),
        api_version: "1.41".into(),
        platform: p("linux/amd64"),
        rootless: false,
    }
}

fn spec(settings: &str) -> Spec {
    let text = format!(
        "[settings]\n{settings}\n\n[[test]]\nname = \"machine\"\ncommand = [\"uname\", \"-m\"]\n"
    );
    crate::spec::parse(Path::new("policy.toml"), &text).expect("valid spec")
}

/// Each platform's problem kind (None: it runs), in the plan's order.
fn outcome(plan: &Plan) -> Vec<(String, Option<ProblemKind>)> {
    plan.platforms
        .iter()
        .map(|pp| (pp.platform.to_string(), pp.problem().map(|x| x.kind)))
        .collect()
}

fn emulated() -> ExecMode {
    decide("amd64", "arm64", None, Some(&binfmt(&["arm64"])))
}

fn unavailable() -> ExecMode {
    decide("amd64", "riscv64", None, Some(&binfmt(&[])))
}

#[test]
fn allow_runs_native_and_emulated_and_fails_without_an_emulator() {
    let (amd, arm, rv) = (p("linux/amd64"), p("linux/arm64"), p("linux/riscv64"));
    let native = ExecMode::Native { compat: false };
    assert!(policy_problem(Policy::Allow, false, &amd, &amd, &native).is_none());
    assert!(policy_problem(Policy::Allow, false, &arm, &amd, &emulated()).is_none());
    let missing = policy_problem(Policy::Allow, false, &rv, &amd, &unavailable())
        .expect("no emulator: a problem");
    assert_eq!(missing.kind, ProblemKind::EmulatorUnavailable);
    let ExecMode::Unavailable { hint, .. } = unavailable() else {
        panic!("riscv64 without an entry must be unavailable");
    };
    assert_eq!(
        missing.hint.as_deref(),
        Some(hint.as_str()),
        "the exact fix"
    );
}

#[test]
fn forbid_fails_what_needs_an_emulator_and_says_how_to_run_it_natively() {
    let (amd, arm, rv) = (p("linux/amd64"), p("linux/arm64"), p("linux/riscv64"));
    for (target, exec) in [(&arm, emulated()), (&rv, unavailable())] {
        let problem = policy_problem(Policy::Forbid, false, target, &amd, &exec)
            .expect("forbidden emulation is a problem");
        assert_eq!(problem.kind, ProblemKind::EmulationForbidden);
        assert!(
            problem.message.contains("forbids emulation"),
            "{}",
            problem.message
        );
        let hint = problem.hint.expect("a hint");
        assert!(
            hint.contains("--host") && hint.contains("DOCKER_HOST"),
            "the hint names a native engine: {hint}"
        );
        assert!(hint.contains(target.architecture()), "{hint}");
    }
    assert!(
        policy_problem(Policy::Forbid, false, &arm, &amd, &emulated())
            .expect("problem")
            .message
            .contains("qemu-aarch64"),
        "names the emulator it would have used"
    );
    // 32-bit compat mode is the CPU's own: no emulator, so not forbidden.
    let compat = ExecMode::Native { compat: true };
    assert!(policy_problem(Policy::Forbid, false, &p("linux/386"), &amd, &compat).is_none());
}

#[test]
fn only_reports_native_platforms_as_not_tested_and_still_fails_a_missing_emulator() {
    let (amd, arm, rv) = (p("linux/amd64"), p("linux/arm64"), p("linux/riscv64"));
    let native = policy_problem(
        Policy::Only,
        false,
        &amd,
        &amd,
        &ExecMode::Native { compat: false },
    )
    .expect("native under `only` is not tested");
    assert_eq!(native.kind, ProblemKind::NotTested);
    assert!(native.message.contains("`only`"), "{}", native.message);
    assert!(policy_problem(Policy::Only, false, &arm, &amd, &emulated()).is_none());
    let missing = policy_problem(Policy::Only, false, &rv, &amd, &unavailable()).expect("problem");
    assert_eq!(missing.kind, ProblemKind::EmulatorUnavailable);
}

#[test]
fn skip_unavailable_skips_visibly_and_only_what_cannot_run() {
    let (amd, arm, rv) = (p("linux/amd64"), p("linux/arm64"), p("linux/riscv64"));
    let skipped = policy_problem(Policy::Allow, true, &rv, &amd, &unavailable()).expect("skipped");
    assert_eq!(skipped.kind, ProblemKind::NotTested);
    assert!(
        skipped
            .message
            .starts_with("skipped (--skip-unavailable): cannot run linux/riscv64"),
        "{}",
        skipped.message
    );
    assert!(
        skipped
            .hint
            .as_deref()
            .is_some_and(|h| h.contains("binfmt install")),
        "the fix is kept: {:?}",
        skipped.hint
    );
    let forbidden = policy_problem(Policy::Forbid, true, &arm, &amd, &emulated()).expect("skipped");
    assert_eq!(forbidden.kind, ProblemKind::NotTested);
    assert!(policy_problem(Policy::Allow, true, &arm, &amd, &emulated()).is_none());
}

#[test]
fn the_command_line_policy_wins_over_the_spec() {
    let img = image(&["linux/amd64", "linux/arm64", "linux/riscv64"]);
    let kernel = binfmt(&["arm64"]);
    let forbid = spec("emulation = \"forbid\"");
    assert_eq!(forbid.settings.emulation, Policy::Forbid);

    let plan_forbid = plan(
        &forbid,
        &img,
        &engine(kernel.clone()),
        &Overrides::default(),
    );
    let kinds = outcome(&plan_forbid);
    assert!(kinds.contains(&("linux/amd64".into(), None)), "{kinds:?}");
    assert!(
        kinds.contains(&("linux/arm64".into(), Some(ProblemKind::EmulationForbidden))),
        "{kinds:?}"
    );

    let only = Overrides {
        emulation: Some(Policy::Only),
        skip_unavailable: true,
        ..Overrides::default()
    };
    let plan_only = plan(&forbid, &img, &engine(kernel), &only);
    assert_eq!(
        outcome(&plan_only),
        vec![
            ("linux/arm64".into(), None),
            ("linux/amd64".into(), Some(ProblemKind::NotTested)),
            ("linux/riscv64".into(), Some(ProblemKind::NotTested)),
        ],
        "what runs comes first; what does not keeps its place in the report order"
    );
    // Skipped platforms keep their tests, so reports can list each one as skipped.
    assert!(plan_only.platforms.iter().all(|pp| pp.tests.len() == 1));
}

#[test]
fn a_platform_the_image_lacks_stays_a_defect_under_any_policy() {
    let img = image(&["linux/amd64"]);
    let overrides = Overrides {
        platforms: Some(vec![p("linux/arm64")]),
        emulation: Some(Policy::Forbid),
        skip_unavailable: true,
        ..Overrides::default()
    };
    let planned = plan(&spec(""), &img, &engine(binfmt(&[])), &overrides);
    assert_eq!(
        outcome(&planned),
        vec![("linux/arm64".into(), Some(ProblemKind::MissingPlatform))]
    );
}

#[test]
fn another_os_is_never_runnable_here_and_every_platform_names_its_engine() {
    let img = image(&["linux/amd64", "windows/amd64"]);
    let every = plan(&spec(""), &img, &engine(binfmt(&[])), &Overrides::default());
    assert_eq!(
        outcome(&every),
        vec![("linux/amd64".into(), None)],
        "another OS's entries are not part of every platform"
    );
    let asked = Overrides {
        platforms: Some(vec![p("windows/amd64")]),
        emulation: Some(Policy::Forbid),
        skip_unavailable: true,
        ..Overrides::default()
    };
    let planned = plan(&spec(""), &img, &engine(binfmt(&[])), &asked);
    let windows = &planned.platforms[0];
    let problem = windows.problem().expect("not runnable");
    assert_eq!(
        problem.kind,
        ProblemKind::EmulatorUnavailable,
        "neither policy nor --skip-unavailable applies"
    );
    assert!(
        problem
            .message
            .contains("no emulator runs another operating system"),
        "{}",
        problem.message
    );
    assert!(matches!(windows.mode, ExecMode::Unavailable { .. }));
    assert!(
        every
            .platforms
            .iter()
            .chain(&planned.platforms)
            .all(|pp| pp.engine == "default")
    );
}

#[test]
fn an_unknown_policy_in_the_spec_is_a_positioned_error_with_the_choices() {
    let err = crate::spec::parse(Path::new("bad.toml"), "[settings]\nemulation = \"never\"\n")
        .expect_err("unknown policy");
    let text = err.to_string();
    assert!(text.contains("unknown emulation policy `never`"), "{text}");
    assert!(text.contains("bad.toml:2:"), "{text}");
    assert!(text.contains("\"forbid\""), "{text}");
}

/// `--compare-emulation`: the emulated twin is planned like any emulated row (its tests',
/// its readiness' and its probes' timeouts multiplied, the emulator's interpreter known to
/// the process check, the policy asked), not a copy of the native row with only the tests'
/// timeouts changed.
#[test]
fn a_compare_twin_gets_the_emulated_service_timeouts_and_the_policy() {
    let text = "[settings]\nemulated_timeout_factor = 10\n{POLICY}\n\n\
                [service]\nready = { tcp = 8080, timeout = \"3s\" }\n\n\
                [[probe]]\nname = \"port\"\ntcp = 8080\ntimeout = \"2s\"\n\n\
                [[test]]\nname = \"machine\"\ncommand = [\"uname\", \"-m\"]\n\
                timeout = \"5s\"\n";
    let default = engine(binfmt(&["aarch64"]));
    let mut arm = EngineProfile::new(
        "arm",
        EngineInfo {
            endpoint: "tcp://arm:2376".into(),
            local: false,
            local_why: String::new(),
            kernel: String::new(),
            operating_system: String::new(),
            platform: p("linux/arm64"),
            ..info()
        },
        None,
    );
    arm.learn(p("linux/arm64"), ExecMode::Native { compat: false });
    let router = Router::new(vec![default, arm], Vec::new(), Vec::new());
    let img = image(&["linux/arm64"]);

    let spec = crate::spec::parse(Path::new("twin.toml"), &text.replace("{POLICY}", ""))
        .expect("valid spec");
    let plan = plan_routed(
        &spec,
        &img,
        &router,
        &Overrides::default(),
        &[p("linux/arm64")],
    );
    let native = plan
        .platforms
        .iter()
        .find(|r| r.engine == "arm")
        .expect("native row");
    let twin = plan
        .platforms
        .iter()
        .find(|r| r.engine == "default")
        .expect("twin");
    assert!(native.mode.is_native() && twin.mode.is_emulated());
    assert!(twin.problem().is_none(), "{:?}", twin.problem());
    assert_eq!(native.tests[0].timeout, Duration::from_secs(5));
    assert_eq!(twin.tests[0].timeout, Duration::from_secs(50));
    let (ns, ts) = (
        native.service.as_ref().expect("service"),
        twin.service.as_ref().expect("service"),
    );
    assert_eq!(ns.ready.timeout, Duration::from_secs(3));
    assert_eq!(
        ts.ready.timeout,
        Duration::from_secs(3).mul_f64(spec.settings.ready_factor())
    );
    assert_eq!(ts.probes[0].timeout, Duration::from_secs(20));
    assert!(ns.interpreter.is_none());
    assert!(
        ts.interpreter.is_some(),
        "the twin's process check must strip QEMU"
    );

    // A policy that forbids emulation forbids the twin too, and says so.
    let forbid = crate::spec::parse(
        Path::new("twin.toml"),
        &text.replace("{POLICY}", "emulation = \"forbid\""),
    )
    .expect("valid spec");
    let plan = plan_routed(
        &forbid,
        &img,
        &router,
        &Overrides::default(),
        &[p("linux/arm64")],
    );
    let twin = plan
        .platforms
        .iter()
        .find(|r| r.engine == "default")
        .expect("twin");
    assert!(
        twin.problem().is_some(),
        "forbid must stop the emulated twin"
    );
}

/// Issue 28: a readiness deadline under emulation took the tests' factor (10×), so a service
/// on the wrong port made a 30 s readiness wait five minutes.
#[test]
fn readiness_under_emulation_takes_its_own_smaller_factor() {
    let img = image(&["linux/amd64", "linux/arm64"]);
    let ready = |settings: &str| {
        let text = format!(
            "[settings]\n{settings}\n[service]\n[service.ready]\ntcp = 8080\ntimeout = \"30s\"\n\
             [[test]]\nname = \"t\"\ncommand = [\"true\"]\n"
        );
        let spec = crate::spec::parse(Path::new("web.toml"), &text).expect("valid spec");
        let planned = plan(
            &spec,
            &img,
            &engine(binfmt(&["arm64"])),
            &Overrides::default(),
        );
        let of = |name: &str| {
            let pp = planned
                .platforms
                .iter()
                .find(|pp| pp.platform.to_string() == name)
                .expect("planned");
            let service = pp.service.as_ref().expect("a service");
            (
                service.ready.timeout.as_secs(),
                pp.tests[0].timeout.as_secs(),
            )
        };
        (of("linux/amd64"), of("linux/arm64"))
    };
    // Native: as written. Emulated: readiness 3x, the tests still 10x.
    assert_eq!(ready(""), ((30, 30), (90, 300)));
    assert_eq!(ready("emulated_ready_factor = 5"), ((30, 30), (150, 300)));
    // A spec that lowered the tests' factor below 3 gets no longer readiness wait.
    assert_eq!(ready("emulated_timeout_factor = 2"), ((30, 30), (60, 60)));
}
