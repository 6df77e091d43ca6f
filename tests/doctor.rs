//! End-to-end tests of `archsmoke doctor` on the real engine and kernel. The test bed (`sudo
//! tests/testbed/up.sh`) registers QEMU for aarch64, arm, ppc64le and s390x; a missing entry or
//! engine is a failure naming that command, never a skip. Expectations come from the kernel's own
//! files under /proc/sys/fs/binfmt_misc, not from archsmoke's code.

mod common;

use std::path::Path;
use std::process::Command;

use common::run;

const BINFMT: &str = "/proc/sys/fs/binfmt_misc";
const UP: &str = "sudo tests/testbed/up.sh";

/// The fixture platforms and the binfmt_misc entry expected to run each (`None`: native).
const FIXTURES: &[(&str, Option<&str>)] = &[
    ("linux/amd64", None),
    ("linux/386", None),
    ("linux/arm64", Some("qemu-aarch64")),
    ("linux/arm/v7", Some("qemu-arm")),
    ("linux/ppc64le", Some("qemu-ppc64le")),
    ("linux/s390x", Some("qemu-s390x")),
];

/// The `flags:` letters of a registered entry, failing with the fix when it is absent.
fn kernel_flags(entry: &str) -> String {
    let path = Path::new(BINFMT).join(entry);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "binfmt_misc entry {} is missing ({e}): run `{UP}`",
            path.display()
        )
    });
    assert!(
        text.lines().next() == Some("enabled"),
        "{} is disabled: run `{UP}`",
        path.display()
    );
    text.lines()
        .find_map(|l| l.strip_prefix("flags: "))
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// What the table's mode column must say for a fixture platform on this amd64 test bed.
fn expected_mode(platform: &str, entry: Option<&str>) -> String {
    match (platform, entry) {
        // The kernel hands 386 executables to a qemu-i386 entry when one exists (it is tried
        // before the native loader); otherwise the amd64 CPU runs them in compat mode.
        ("linux/386", _) if Path::new(BINFMT).join("qemu-i386").exists() => {
            "emulated by qemu-i386".into()
        }
        ("linux/386", _) => "native (32-bit compat)".into(),
        (_, None) => "native".into(),
        (_, Some(e)) => format!("emulated by {e}"),
    }
}

fn require_engine(r: &common::Run) {
    assert_ne!(
        r.code,
        3,
        "the engine did not answer: run `{UP}`\n{}",
        r.explain()
    );
    assert_eq!(r.code, 0, "{}", r.explain());
}

#[test]
fn doctor_lists_qemu_entries_with_flags_and_the_fixture_platforms_with_modes() {
    assert_eq!(
        std::env::consts::ARCH,
        "x86_64",
        "the test bed is amd64; these expectations are for it"
    );
    let flags: Vec<(&str, String)> = FIXTURES
        .iter()
        .filter_map(|(_, e)| *e)
        .map(|e| (e, kernel_flags(e)))
        .collect();
    let r = run(&["doctor"]);
    require_engine(&r);
    assert!(
        r.stdout
            .contains("binfmt  /proc/sys/fs/binfmt_misc: mounted, enabled"),
        "{}",
        r.explain()
    );
    for (entry, kernel) in &flags {
        let row = r.row(entry);
        let cells: Vec<&str> = row.split_whitespace().collect();
        // ENTRY STATE FLAGS KIND ARCH INTERPRETER VERSION...
        assert_eq!(cells[1], "on", "{row}");
        assert_eq!(
            cells[2], kernel,
            "flags of {entry} as the kernel prints them: {row}"
        );
        assert_eq!(cells[3], "qemu", "{row}");
        assert!(
            row.contains(&format!("{entry} version ")),
            "the emulator's version banner is shown: {row}"
        );
        // Missing flags are explained right under the entry.
        let below: Vec<&str> = r
            .stdout
            .lines()
            .skip_while(|l| *l != row)
            .skip(1)
            .take_while(|l| l.starts_with("  ! "))
            .collect();
        assert_eq!(
            below.iter().any(|l| l.contains("no F flag")),
            !kernel.contains('F'),
            "{row}: {below:?}"
        );
        assert_eq!(
            below.iter().any(|l| l.contains("no P flag")),
            !kernel.contains('P'),
            "{row}: {below:?}"
        );
    }
    for (platform, entry) in FIXTURES {
        let row = r.row(platform);
        let mode = row[platform.len()..].trim();
        let expected = expected_mode(platform, *entry);
        assert!(
            mode.starts_with(&expected),
            "{platform}: expected `{expected}`, got `{mode}`\n{}",
            r.stdout
        );
    }
}

#[test]
fn doctor_probe_agrees_with_binfmt_and_leaves_nothing_behind() {
    for (_, entry) in FIXTURES {
        if let Some(e) = entry {
            kernel_flags(e);
        }
    }
    let r = run(&["doctor", "--probe", "--json"]);
    require_engine(&r);
    let report: serde_json::Value = serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", r.explain()));
    assert_eq!(report["schema_version"], 1);
    assert_eq!(report["engine"]["reachable"], true);
    let run_id = report["probe_run_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no probe_run_id:\n{}", r.stdout))
        .to_owned();
    let platforms = report["platforms"].as_array().expect("platforms array");
    for (platform, entry) in FIXTURES {
        let p = platforms
            .iter()
            .find(|p| p["platform"] == *platform)
            .unwrap_or_else(|| panic!("{platform} missing:\n{}", r.stdout));
        let mode = p["decision"]["mode"].as_str().expect("mode");
        match entry {
            Some(e) => {
                assert_eq!(mode, "emulated", "{platform}: {p}");
                assert_eq!(p["decision"]["emulator"]["entry"], *e, "{platform}: {p}");
            }
            None => {
                let i386_entry = Path::new(BINFMT).join("qemu-i386").exists();
                let expected = if *platform == "linux/386" && i386_entry {
                    "emulated"
                } else {
                    "native"
                };
                assert_eq!(mode, expected, "{platform}: {p}");
            }
        }
        assert_eq!(p["probe"]["status"], "ok", "{platform}: {p}");
        assert_eq!(p["probe"]["agrees"], true, "{platform}: {p}");
    }
    // Every probe the tool ran, whatever the platform, matches its binfmt-based decision on a
    // local engine: a disagreement would be a bug in `decide` or in a probe program.
    for p in platforms {
        assert_ne!(p["probe"]["agrees"], false, "{p}");
    }
    assert!(
        common::labelled_containers(Some(&run_id)).is_empty(),
        "probe containers of run {run_id} were left behind"
    );
    let images = Command::new("docker")
        .args([
            "images",
            "--format",
            "{{.Repository}}:{{.Tag}}",
            "archsmoke-probe",
        ])
        .output()
        .expect("docker CLI runs");
    assert!(images.status.success(), "docker images failed: {images:?}");
    let prefix = format!("archsmoke-probe:{run_id}-");
    let left: Vec<String> = String::from_utf8_lossy(&images.stdout)
        .lines()
        .filter(|l| l.starts_with(&prefix))
        .map(str::to_owned)
        .collect();
    assert!(left.is_empty(), "probe images left behind: {left:?}");
}

#[test]
fn doctor_without_an_engine_exits_3_and_still_shows_binfmt() {
    let r = run(&[
        "--host",
        "unix:///nonexistent/archsmoke-doctor.sock",
        "doctor",
    ]);
    assert_eq!(r.code, 3, "{}", r.explain());
    assert!(r.stdout.contains("engine  UNREACHABLE"), "{}", r.explain());
    assert!(
        r.stdout.contains("binfmt  /proc/sys/fs/binfmt_misc"),
        "{}",
        r.explain()
    );
    r.row("qemu-arm");
    r.row("linux/arm/v7");
}
