//! Realistic [`RunReport`]s for the reporters' tests: what the runner produces for passing,
//! failing, timed-out, broken and interrupted runs, and outputs that try to break XML.
//!
//! The [`ExecMode`] values are built here and only here, so that when the emulation module's real
//! type replaces its stand-in, this is the one place to adjust.

use std::path::PathBuf;
use std::time::Duration;

use crate::mode::{Emulator, ExecMode};
use crate::outcome::{
    DEFAULT_ENGINE, EngineSummary, EntryChoice, ImageSummary, Mismatch, Phases, PlatformReport,
    Problem, ProblemKind, PullReport, RunReport, TestReport, TestStatus,
};
use crate::platform::Platform;

pub const INDEX_DIGEST: &str =
    "sha256:5b0fd3b6f3c1a1e0b6c2e8f3a9d4c7b2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6";

pub fn platform(s: &str) -> Platform {
    Platform::parse(s).expect("fixture platforms are valid")
}

fn digest(seed: u8) -> String {
    format!("sha256:{}", format!("{seed:02x}").repeat(32))
}

pub fn native() -> ExecMode {
    ExecMode::Native { compat: false }
}

pub fn emulated(arch: &str) -> ExecMode {
    ExecMode::Emulated {
        emulator: Emulator {
            entry: format!("qemu-{arch}"),
            interpreter: PathBuf::from(format!("/usr/libexec/qemu-binfmt/{arch}-binfmt-P")),
            flags: "POF".into(),
            kind: crate::mode::EmulatorKind::Qemu,
            version: Some("7.2.11".into()),
        },
    }
}

pub fn unavailable(arch: &str) -> ExecMode {
    ExecMode::Unavailable {
        reason: format!("no binfmt entry can run {arch} binaries on this engine"),
        hint: format!("sudo archsmoke binfmt install {arch}"),
    }
}

pub fn engine() -> EngineSummary {
    EngineSummary {
        name: DEFAULT_ENGINE.into(),
        endpoint: "unix:///var/run/docker.sock".into(),
        local: true,
        version: "20.10.24".into(),
        api_version: "1.41".into(),
        platform: platform("linux/amd64"),
        rootless: false,
    }
}

fn image() -> ImageSummary {
    ImageSummary {
        reference: "127.0.0.1:5000/demo/busybox:multi".into(),
        digest: Some(INDEX_DIGEST.into()),
        media_type: Some("application/vnd.oci.image.index.v1+json".into()),
        is_index: true,
        available: [
            "linux/amd64",
            "linux/arm64",
            "linux/arm/v7",
            "linux/ppc64le",
        ]
        .iter()
        .map(|p| platform(p))
        .collect(),
        attestations: 4,
    }
}

/// A test that ran and passed, printing `stdout`.
pub fn passed(name: &str, stdout: &str, millis: u64) -> TestReport {
    TestReport {
        name: name.into(),
        command: Some(vec!["sh".into(), "-c".into(), format!("echo {stdout}")]),
        status: TestStatus::Passed,
        exit_code: Some(0),
        expected_exit: crate::range::IntRange::exactly(0),
        stdout: stdout.into(),
        stderr: String::new(),
        stdout_head: String::new(),
        stderr_head: String::new(),
        stdout_omitted: 0,
        stderr_omitted: 0,
        mismatches: Vec::new(),
        duration: Duration::from_millis(millis),
        timeout: Duration::from_secs(30),
        slowdown: None,
        error: None,
    }
}

pub fn failed(name: &str, exit_code: i64, stdout: &str, mismatches: Vec<Mismatch>) -> TestReport {
    TestReport {
        status: TestStatus::Failed,
        exit_code: Some(exit_code),
        stderr: "uname: warning: something\n".into(),
        mismatches,
        ..passed(name, stdout, 180)
    }
}

pub fn timed_out(name: &str) -> TestReport {
    TestReport {
        status: TestStatus::TimedOut,
        exit_code: None,
        stdout: "starting node...\n".into(),
        duration: Duration::from_secs(300),
        timeout: Duration::from_secs(300),
        mismatches: vec![mismatch(
            "timeout",
            "exit within 5m",
            "still running; killed",
        )],
        ..passed(name, "", 0)
    }
}

pub fn engine_error(name: &str) -> TestReport {
    TestReport {
        status: TestStatus::Error,
        exit_code: None,
        stdout: String::new(),
        error: Some(
            "the engine failed to start the container: OCI runtime create failed \
             (check the engine's log (`journalctl -u docker`))"
                .into(),
        ),
        ..passed(name, "", 12)
    }
}

pub fn not_run(name: &str) -> TestReport {
    TestReport {
        status: TestStatus::NotRun,
        exit_code: None,
        stdout: String::new(),
        ..passed(name, "", 0)
    }
}

pub fn mismatch(check: &str, expected: &str, actual: &str) -> Mismatch {
    Mismatch {
        check: check.into(),
        expected: expected.into(),
        actual: actual.into(),
        note: None,
    }
}

fn problem(kind: ProblemKind, message: &str, hint: Option<&str>) -> Problem {
    Problem {
        kind,
        message: message.into(),
        hint: hint.map(str::to_owned),
    }
}

pub fn platform_report(
    name: &str,
    seed: u8,
    mode: Option<ExecMode>,
    tests: Vec<TestReport>,
) -> PlatformReport {
    let total: Duration = tests.iter().map(|t| t.duration).sum();
    PlatformReport {
        platform: platform(name),
        engine: Some(DEFAULT_ENGINE.into()),
        entry: Some(EntryChoice {
            digest: digest(seed),
            platform: platform(name),
            reason: "exact match in the index".into(),
        }),
        mode,
        pull: Some(PullReport {
            image_id: digest(seed.wrapping_add(100)),
            pulled: true,
            duration: Duration::from_millis(1234),
        }),
        problem: None,
        tests,
        duration: total + Duration::from_millis(1234),
        slowdown: None,
        service: None,
        containers_done: None,
    }
}

pub fn run(platforms: Vec<PlatformReport>) -> RunReport {
    let mut report = RunReport {
        run_id: "as-20240501-120000-ab12".into(),
        spec: "smoke-tests/busybox.toml".into(),
        suite: "busybox".into(),
        spec_digest: None,
        image: image(),
        engine: Some(engine()),
        engines: vec![engine()],
        started_at: "2024-05-01T12:00:00Z".into(),
        duration: Duration::from_millis(42_500),
        platforms,
        problem: None,
        interrupted: false,
        phases: Phases {
            engine: Some(Duration::from_millis(14)),
            resolve: Some(Duration::from_millis(9)),
            run: Some(Duration::from_millis(40_100)),
            audit: Some(Duration::from_millis(2_300)),
            probe: None,
        },
        spec_lines: Default::default(),
        meta: Default::default(),
        emulation_differences: Vec::new(),
    };
    report.compute_slowdowns();
    report
}

/// Two platforms, every test passing; arm64 is emulated and slower.
pub fn all_passing() -> RunReport {
    run(vec![
        platform_report(
            "linux/amd64",
            1,
            Some(native()),
            vec![
                passed("shell runs", "hello\n", 110),
                passed("uname", "x86_64\n", 90),
            ],
        ),
        platform_report(
            "linux/arm64",
            2,
            Some(emulated("aarch64")),
            vec![
                passed("shell runs", "hello\n", 1100),
                passed("uname", "aarch64\n", 950),
            ],
        ),
    ])
}

/// Every kind of result at once: failures, a timeout, an engine error, an interrupted test, and
/// platforms that could not run at all.
pub fn mixed() -> RunReport {
    let mut unavailable_arm = platform_report("linux/arm/v7", 3, Some(unavailable("arm")), vec![]);
    unavailable_arm.pull = None;
    unavailable_arm.problem = Some(problem(
        ProblemKind::EmulatorUnavailable,
        "linux/arm/v7 cannot run here: no binfmt entry can run arm binaries on this engine",
        Some("sudo archsmoke binfmt install arm"),
    ));
    let mut missing = platform_report("linux/s390x", 4, None, vec![]);
    missing.entry = None;
    missing.pull = None;
    missing.problem = Some(problem(
        ProblemKind::MissingPlatform,
        "the image has no linux/s390x entry (it offers linux/amd64, linux/arm64, linux/arm/v7, \
         linux/ppc64le)",
        Some("build and push linux/s390x, or drop it from `platforms`"),
    ));
    let mut mislabelled = platform_report(
        "linux/ppc64le",
        5,
        Some(emulated("ppc64le")),
        vec![not_run("shell runs"), not_run("uname")],
    );
    mislabelled.problem = Some(problem(
        ProblemKind::ConfigMismatch,
        "the index says linux/ppc64le but the image config says linux/amd64",
        Some("rebuild the image with the right --platform"),
    ));
    run(vec![
        platform_report(
            "linux/amd64",
            1,
            Some(native()),
            vec![
                passed("shell runs", "hello\n", 110),
                passed("uname", "x86_64\n", 90),
                passed("node starts", "v20.11.0\n", 400),
                passed("pull tls", "", 50),
            ],
        ),
        platform_report(
            "linux/arm64",
            2,
            Some(emulated("aarch64")),
            vec![
                passed("shell runs", "hello\n", 1100),
                failed(
                    "uname",
                    1,
                    "armv7l\n",
                    vec![
                        mismatch("exit code", "0", "1"),
                        mismatch("stdout", "aarch64\n", "armv7l\n"),
                    ],
                ),
                timed_out("node starts"),
                engine_error("pull tls"),
            ],
        ),
        unavailable_arm,
        missing,
        mislabelled,
    ])
}

/// The registry could not be reached: nothing ran.
pub fn registry_unreachable() -> RunReport {
    let mut report = run(vec![]);
    report.image = ImageSummary {
        reference: "127.0.0.1:5000/demo/busybox:multi".into(),
        ..ImageSummary::default()
    };
    report.duration = Duration::from_millis(3010);
    report.phases = Phases {
        engine: Some(Duration::from_millis(14)),
        resolve: None,
        run: None,
        audit: None,
        probe: None,
    };
    report.problem = Some(problem(
        ProblemKind::Registry,
        "cannot reach registry 127.0.0.1:5000: connection refused",
        Some("start the registry, or check the image reference"),
    ));
    report
}

/// The user pressed Ctrl-C while arm64 was running.
pub fn interrupted() -> RunReport {
    let mut arm = platform_report(
        "linux/arm64",
        2,
        Some(emulated("aarch64")),
        vec![passed("shell runs", "hello\n", 1100), not_run("uname")],
    );
    arm.problem = Some(problem(
        ProblemKind::Interrupted,
        "interrupted before linux/arm64 finished",
        None,
    ));
    let mut report = run(vec![arm]);
    report.interrupted = true;
    report
}

/// 2 MiB of text, of which the capture kept `kept` bytes at the tail.
pub fn big_output() -> String {
    let line = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n";
    let mut s = line.repeat(2 * 1024 * 1024 / line.len());
    s.push_str("LAST LINE\n");
    s
}

/// Outputs and names that break naive XML writers: ANSI colours, C0 controls, `]]>`, U+FFFD
/// (what invalid UTF-8 became upstream), non-characters, and 2 MiB of stdout.
pub fn hostile() -> RunReport {
    let nasty = "\x1b[31mred\x1b[0m \x1b]8;;http://x\x07link\x1b]8;;\x07 nul\x00 \x01\x02\x03\x04\
                 \x05\x06\x07\x08 vt\x0b ff\x0c esc\x1b end]]>after ]]]]> \u{FFFD} \u{FFFE}\u{FFFF} \
                 tab\tcr\r\n";
    let mut colours = passed("colours <&> \"quoted\" \x1b[1mbold\x1b[0m", nasty, 30);
    colours.stderr = nasty.into();
    let mut huge = passed("huge output", "", 2500);
    huge.stdout = big_output();
    huge.stdout_omitted = 3 * 1024 * 1024;
    let cdata_failure = failed(
        "cdata ]]> in names\x07",
        2,
        "]]>",
        vec![
            mismatch("stdout", "<![CDATA[x]]>", "]]>\x00\x1b[0m"),
            mismatch("stderr contains", "ok", &big_output()),
        ],
    );
    let mut error = engine_error("engine says ]]>");
    error.error = Some("start failed: \x1b[31mbad\x1b[0m ]]> \x00".into());
    let mut broken = platform_report("linux/arm64", 2, Some(emulated("aarch64")), vec![]);
    broken.problem = Some(problem(
        ProblemKind::Engine,
        "pull failed: \x1b[31mmanifest unknown\x1b[0m ]]> \x00",
        Some("retry \x01 later"),
    ));
    run(vec![
        platform_report(
            "linux/amd64",
            1,
            Some(native()),
            vec![colours, huge, cdata_failure, error],
        ),
        broken,
    ])
}
