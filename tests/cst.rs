//! container-structure-test configs, end to end, against the real cst: the differential suite in
//! `tests/fixtures/cst/` runs with cst 1.19.1 (installed by `tests/testbed/up.sh`) and with
//! archsmoke on the same image (the test bed's `:cst` fixture) and platform (linux/amd64, the
//! engine's, and linux/arm64 under QEMU), and every test must get the same verdict from both;
//! then archsmoke runs the same configs on all six platforms. Real public configs (`tests/fixtures/cst/public/`) must validate
//! and convert, and four of them join the differential suite on the `:cst` fixture.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{archsmoke, image, json_report, platform, repo_root};

/// Local name cst runs each platform's image under (cst takes an image name, not a digest).
const LOCAL: &str = "archsmoke-cst-diff";
/// The platforms the differential suite compares on: the engine's own and an emulated one
/// (cst runs one platform per invocation, `--platform`).
const DIFFERENTIAL: [&str; 2] = ["linux/amd64", "linux/arm64"];
const PLATFORMS: [&str; 6] = [
    "linux/amd64",
    "linux/arm64",
    "linux/arm/v7",
    "linux/ppc64le",
    "linux/s390x",
    "linux/386",
];

fn testbed_dir() -> PathBuf {
    PathBuf::from(
        std::env::var("ARCHSMOKE_TESTBED_DIR")
            .unwrap_or_else(|_| "/var/tmp/archsmoke-testbed".into()),
    )
}

fn cst_binary() -> PathBuf {
    let bin = testbed_dir().join("cst-venv/bin/container-structure-test");
    assert!(
        bin.exists(),
        "{} is missing: run `sudo tests/testbed/up.sh`, which installs container-structure-test",
        bin.display()
    );
    bin
}

fn configs() -> Vec<PathBuf> {
    let dir = repo_root().join("tests/fixtures/cst");
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/fixtures/cst")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "json"))
        .collect();
    out.sort();
    out
}

/// Real public configs (`tests/fixtures/cst/public/`, sources in its SOURCES.md) run in the
/// differential suite on the `:cst` fixture standing in for their images: both tools must give
/// each test the same verdict, passing or failing. Only configs that check nothing the engine
/// adds to a container (`/etc/hosts`, ...: a documented difference) are here.
const PUBLIC_IN_DIFFERENTIAL: [&str; 4] = [
    "distroless--base_testdata_base.yaml",
    "distroless--base_testdata_debug.yaml",
    "distroless--static_testdata_debian12.yaml",
    "distroless--nodejs_testdata_check_headers.yaml",
];

/// The suite's own configs, then the public ones above.
fn differential_configs() -> Vec<PathBuf> {
    let public = repo_root().join("tests/fixtures/cst/public");
    let mut out = configs();
    out.extend(PUBLIC_IN_DIFFERENTIAL.iter().map(|name| public.join(name)));
    out
}

/// The local name of `platform`'s image (`linux/arm64` → `archsmoke-cst-diff:arm64`).
fn local_name(platform: &str) -> String {
    format!("{LOCAL}:{}", platform.rsplit('/').next().expect("arch"))
}

/// The `:cst` fixture's images of the differential platforms in the engine under
/// [`local_name`], pulled by their digests.
fn local_images() {
    let fixtures: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(testbed_dir().join("fixtures.json")).expect("fixtures.json"),
    )
    .expect("fixtures.json parses");
    for platform in DIFFERENTIAL {
        let digest = fixtures["tags"]["cst"]["platforms"][platform]
            .as_str()
            .expect("fixtures.json has the cst fixture: run `sudo tests/testbed/up.sh`");
        let by_digest = format!("{}@{digest}", image("cst").rsplit_once(':').expect("tag").0);
        let local = local_name(platform);
        for args in [
            vec!["pull", "-q", "--platform", platform, &by_digest],
            vec!["tag", &by_digest, &local],
        ] {
            let out = Command::new("docker")
                .args(&args)
                .output()
                .expect("docker runs");
            assert!(out.status.success(), "docker {args:?}: {out:?}");
        }
    }
}

/// A host variable `run-options-env.yaml` forwards into its containers, set for both tools.
const FORWARDED: (&str, &str) = ("CST_FORWARDED", "forwarded-secret-value");

/// Pass (true) or fail per test name.
type Verdicts = BTreeMap<String, bool>;

/// Test names as archsmoke reports them: cst runs tests of the same name, archsmoke numbers the
/// later ones (`twice #2`).
fn archsmoke_name(name: &str, seen: &mut BTreeMap<String, usize>) -> String {
    let count = seen.entry(name.to_owned()).or_insert(0);
    *count += 1;
    if *count == 1 {
        name.to_owned()
    } else {
        format!("{name} #{count}")
    }
}

/// cst's verdict per test name on `platform`.
fn cst_verdicts(config: &Path, platform: &str) -> Verdicts {
    let out = Command::new(cst_binary())
        .env(FORWARDED.0, FORWARDED.1)
        .args([
            "test",
            "--image",
            &local_name(platform),
            "--platform",
            platform,
        ])
        .args(["--output", "json", "--config"])
        .arg(config)
        .output()
        .expect("container-structure-test runs");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "cst's JSON for {} on {platform}: {e}\n{}",
            config.display(),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let mut seen = BTreeMap::new();
    json["Results"]
        .as_array()
        .expect("Results")
        .iter()
        .map(|r| {
            let name = r["Name"].as_str().expect("Name");
            (
                archsmoke_name(name, &mut seen),
                r["Pass"].as_bool().expect("Pass"),
            )
        })
        .collect()
}

/// archsmoke's verdict per platform and test name (the ELF audit left out: cst has none).
fn archsmoke_verdicts(config: &Path, platforms: Option<&str>) -> BTreeMap<String, Verdicts> {
    let dir = tempfile::tempdir().expect("temp dir");
    let json = dir.path().join("report.json");
    let junit = dir.path().join("report.xml");
    let mut cmd = archsmoke();
    cmd.env(FORWARDED.0, FORWARDED.1)
        .arg("run")
        .arg(config)
        .args(["--image", &image("cst"), "--json"])
        .arg(&json)
        .arg("--junit")
        .arg(&junit)
        // `run-options-host.yaml` mounts a host file and adds a capability, as cst's own
        // containeropts test does; the refusal without the flag is tested beside the code.
        .arg("--allow-privileged");
    if let Some(p) = platforms {
        cmd.args(["--platform", p]);
    }
    let out = cmd.output().expect("archsmoke runs");
    let code = out.status.code().unwrap_or(-1);
    assert!(
        code == 0 || code == 1,
        "{}: exit {code}\n{}",
        config.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(junit.exists(), "JUnit report written");
    // A forwarded host variable is masked wherever archsmoke writes (the `env` tests print it).
    for (what, text) in [
        ("JSON", std::fs::read_to_string(&json).expect("JSON report")),
        (
            "JUnit",
            std::fs::read_to_string(&junit).expect("JUnit report"),
        ),
        ("stdout", String::from_utf8_lossy(&out.stdout).into_owned()),
        ("stderr", String::from_utf8_lossy(&out.stderr).into_owned()),
    ] {
        assert!(
            !text.contains(FORWARDED.1),
            "{}: the forwarded value is in archsmoke's {what}",
            config.display()
        );
    }
    let report = json_report(&json);
    let mut out = BTreeMap::new();
    for p in report["platforms"].as_array().expect("platforms") {
        let name = p["platform"].as_str().expect("platform").to_owned();
        let tests = platform(&report, &name)["tests"]
            .as_array()
            .expect("tests")
            .iter()
            .filter(|t| t["name"] != "audit elf")
            .map(|t| {
                (
                    t["name"].as_str().expect("name").to_owned(),
                    t["status"] == "passed",
                )
            })
            .collect();
        out.insert(name, tests);
    }
    out
}

/// One config's verdicts on one platform: cst's, then archsmoke's.
struct Compared {
    config: PathBuf,
    platform: &'static str,
    cst: Verdicts,
    archsmoke: Verdicts,
}

#[test]
fn container_structure_test_and_archsmoke_agree_test_by_test() {
    local_images();
    let configs = differential_configs();
    let jobs: Vec<(&PathBuf, &'static str)> = configs
        .iter()
        .flat_map(|c| DIFFERENTIAL.iter().map(move |p| (c, *p)))
        .collect();
    // cst is slow (a container, often a commit, per test): a few runs side by side, not all
    // of them on a machine of two cores.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<Compared> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some((config, platform)) = jobs.get(i) else {
                            break done;
                        };
                        let cst = cst_verdicts(config, platform);
                        let mut ours = archsmoke_verdicts(config, Some(platform));
                        done.push(Compared {
                            config: (*config).clone(),
                            platform,
                            cst,
                            archsmoke: ours.remove(*platform).expect("the platform ran"),
                        });
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("worker"))
            .collect()
    });
    let mut disagreements = Vec::new();
    let (mut total, mut passed) = (0, 0);
    for r in &results {
        let file = r.config.file_name().expect("name").to_string_lossy();
        let platform = r.platform;
        assert_eq!(
            r.cst.keys().collect::<Vec<_>>(),
            r.archsmoke.keys().collect::<Vec<_>>(),
            "{file} on {platform}: the same tests, by name"
        );
        for (name, verdict) in &r.cst {
            total += 1;
            passed += usize::from(*verdict);
            let ours = r.archsmoke[name];
            if ours != *verdict {
                let word = |v: bool| if v { "passed" } else { "failed" };
                disagreements.push(format!(
                    "{file} on {platform}: `{name}`: cst {}, archsmoke {}",
                    word(*verdict),
                    word(ours)
                ));
            }
        }
    }
    eprintln!(
        "differential suite: {} configs on {} platforms, {total} verdicts ({passed} passed and {} \
         failed under cst), {} disagreements",
        configs.len(),
        DIFFERENTIAL.len(),
        total - passed,
        disagreements.len()
    );
    assert!(
        disagreements.is_empty(),
        "disagreements:\n{}",
        disagreements.join("\n")
    );
    assert!(
        total >= 200 && passed > 40 && total - passed > 40,
        "a suite that tells verdicts apart"
    );
}

#[test]
fn the_cst_suite_runs_on_all_six_platforms() {
    for config in configs() {
        let file = config
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let all = archsmoke_verdicts(&config, None);
        assert_eq!(
            all.keys().map(String::as_str).collect::<Vec<_>>().len(),
            PLATFORMS.len(),
            "{file}: every platform of the image ran"
        );
        let native = &all["linux/amd64"];
        for p in PLATFORMS {
            assert_eq!(
                &all[p], native,
                "{file}: {p} gives the native platform's verdicts"
            );
        }
    }
}

#[test]
fn every_suite_config_validates_and_converts() {
    for config in configs() {
        // `run-options-host.yaml` mounts a host file: valid only with the flag.
        let out = archsmoke()
            .args(["validate", "--allow-privileged"])
            .arg(&config)
            .output()
            .expect("runs");
        assert!(out.status.success(), "{}: {out:?}", config.display());
        let out = archsmoke()
            .arg("convert")
            .arg(&config)
            .output()
            .expect("runs");
        assert!(out.status.success(), "{}: {out:?}", config.display());
        // What convert prints is a spec archsmoke runs as it is.
        let dir = tempfile::tempdir().expect("temp dir");
        let toml = dir.path().join("converted.toml");
        std::fs::write(&toml, &out.stdout).expect("write");
        let out = archsmoke()
            .args(["validate", "--allow-privileged"])
            .arg(&toml)
            .output()
            .expect("runs");
        assert!(out.status.success(), "{}: {out:?}", toml.display());
    }
}

#[test]
fn validate_reports_every_problem_with_positions_and_exit_2() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "schemaVersion: 2.0.0\ncommandTests:\n  - name: a\n    command: ls\n    exitcode: 1\n",
    )
    .expect("write");
    let worse = dir.path().join("worse.yaml");
    std::fs::write(
        &worse,
        "schemaVersion: 2.0.0\nfileExistenceTests:\n  - name: a\n    path: rel\n    permissions: rwx\n",
    )
    .expect("write");
    let out = archsmoke()
        .arg("validate")
        .args([&bad, &worse])
        .arg(repo_root().join("smoke-tests/busybox.toml"))
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("bad.yaml:5:5: unknown key `exitcode`"),
        "{stderr}"
    );
    assert!(stderr.contains("did you mean `exitCode`?"), "{stderr}");
    assert!(
        stderr.contains("worse.yaml:4:11: `rel` is not an absolute path"),
        "{stderr}"
    );
    assert!(
        stderr.contains("worse.yaml:5:18: bad permissions `rwx`"),
        "{stderr}"
    );
    assert!(stderr.contains("3 problems"), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("busybox.toml: ok"));
}

/// The public configs that archsmoke refuses, with the exact first line of its message: features
/// left out on purpose.
const REFUSED: [(&str, &str); 1] = [(
    "cst--tests_amd64_ubuntu_22_04_containeropts_envfile_test.yaml",
    ":7:12: containerRunOptions.envFile is not supported by archsmoke",
)];

/// The public configs `validate` accepts only with `--allow-privileged` (privileged containers,
/// host mounts, added capabilities), with the first line of the refusal without it.
const NEED_THE_FLAG: [(&str, &str); 1] = [(
    "cst--tests_amd64_ubuntu_22_04_containeropts_test.yaml",
    ":15:15: the config asks for privileged containers",
)];

#[test]
fn public_configs_validate_and_convert() {
    let dir = repo_root().join("tests/fixtures/cst/public");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("public configs")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 40, "the vendored set (see SOURCES.md)");
    let mut accepted = 0;
    for file in &files {
        let name = file
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let validate = archsmoke()
            .arg("validate")
            .arg(file)
            .output()
            .expect("runs");
        let convert = archsmoke().arg("convert").arg(file).output().expect("runs");
        let stderr = String::from_utf8_lossy(&validate.stderr);
        if let Some((_, message)) = NEED_THE_FLAG.iter().find(|(n, _)| *n == name) {
            assert_eq!(validate.status.code(), Some(2), "{name}: {stderr}");
            let first = stderr.lines().next().unwrap_or_default();
            assert!(first.ends_with(message), "{name}: {first}");
            let allowed = archsmoke()
                .args(["validate", "--allow-privileged"])
                .arg(file)
                .output()
                .expect("runs");
            assert!(allowed.status.success(), "{name}: {allowed:?}");
            assert!(convert.status.success(), "{name}: {convert:?}");
            let toml = String::from_utf8_lossy(&convert.stdout);
            for needle in [
                "mounts = [\"/tmp/test:/tmp/test\"]",
                "cap_add = [\"sys_admin\"]",
            ] {
                assert!(toml.contains(needle), "{needle} in {toml}");
            }
            accepted += 1;
            continue;
        }
        match REFUSED.iter().find(|(n, _)| *n == name) {
            Some((_, message)) => {
                assert_eq!(validate.status.code(), Some(2), "{name}: {stderr}");
                let first = stderr.lines().next().unwrap_or_default();
                assert!(first.ends_with(message), "{name}: {first}");
                assert_eq!(convert.status.code(), Some(2), "{name}");
            }
            None => {
                assert!(validate.status.success(), "{name}: {stderr}");
                assert!(convert.status.success(), "{name}: {convert:?}");
                accepted += 1;
            }
        }
    }
    eprintln!(
        "public configs: {} tried, {accepted} accepted, {} refused with the expected message",
        files.len(),
        files.len() - accepted
    );
}

#[test]
fn added_capabilities_and_mounts_reach_the_container_only_behind_allow_privileged() {
    // cst's `capabilities` become `cap_add`: the engine's default set plus SYS_ADMIN (bit 21),
    // here 00000000a80425fb + 0x200000 on Docker 20.10, native and emulated alike.
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("caps.yaml");
    std::fs::write(
        &config,
        "schemaVersion: 2.0.0\ncontainerRunOptions:\n  capabilities: [sys_admin]\n  \
         bindMounts: [/etc/os-release:/host-os-release:ro]\ncommandTests:\n  - name: caps\n    \
         command: grep\n    args: [CapEff, /proc/self/status]\n    \
         expectedOutput: [\"CapEff:\\\\s+0*a82425fb\"]\n  - name: mount\n    command: cat\n    \
         args: [/host-os-release]\n    expectedOutput: [\"ID=\"]\n",
    )
    .expect("write");
    let refused = archsmoke()
        .arg("run")
        .arg(&config)
        .args(["--image", &image("cst")])
        .output()
        .expect("runs");
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    assert!(
        String::from_utf8_lossy(&refused.stderr)
            .contains("caps.yaml:4:15: the config mounts host paths"),
        "{refused:?}"
    );
    let json = dir.path().join("report.json");
    let out = archsmoke()
        .arg("run")
        .arg(&config)
        .args(["--image", &image("cst"), "--allow-privileged", "--json"])
        .arg(&json)
        .args(["--platform", "linux/amd64,linux/arm64"])
        .output()
        .expect("runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = json_report(&json);
    for p in DIFFERENTIAL {
        for t in platform(&report, p)["tests"].as_array().expect("tests") {
            assert_eq!(t["status"], "passed", "{p}: {t:#}");
        }
    }
}

/// A secret `head_and_tail_config` forwards from the host; 20 characters, cut in the middle by
/// both of the report's cuts.
const CUT_SECRET: (&str, &str) = ("CST_CUT_SECRET", "cutsecret-5d2e8a7b1f");

/// `seq 1 200000` (1,288,895 bytes, over the default 1 MiB output limit) with an expectation on
/// its start that holds and one that fails; and a test printing the forwarded secret whole at
/// the start, then across the head's cut (byte 524,288: half the limit) and across the tail's
/// (524,288 bytes before the end), in lines too long to be snapped to.
fn head_and_tail_config(dir: &Path) -> PathBuf {
    let config = dir.join("long.yaml");
    let secret = "env | sed -n 's/^CST_CUT_SECRET=//p'";
    std::fs::write(
        &config,
        format!(
            r#"schemaVersion: 2.0.0
containerRunOptions:
  envVars: [CST_CUT_SECRET]
commandTests:
  - name: counts
    command: seq
    args: ["1", "200000"]
    expectedOutput: ["^1\n2\n3\n", "\n200001\n"]
  - name: secrets at the cuts
    command: sh
    args:
      - -c
      - |
        {secret}
        head -c 524257 /dev/zero | tr '\0' a
        {secret}
        seq 1 200000
        {secret} | tr -d '\n'
        head -c 524277 /dev/zero | tr '\0' c
        echo
    expectedOutput: ["never printed"]
"#
        ),
    )
    .expect("write");
    config
}

#[test]
fn a_long_output_shows_its_head_and_tail_in_every_report_with_secrets_masked_at_both_cuts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = head_and_tail_config(dir.path());
    let (json, junit, html, summary) = (
        dir.path().join("report.json"),
        dir.path().join("report.xml"),
        dir.path().join("report.html"),
        dir.path().join("summary.md"),
    );
    std::fs::write(&summary, "").expect("summary file");
    let out = archsmoke()
        .env(CUT_SECRET.0, CUT_SECRET.1)
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .arg("run")
        .arg(&config)
        .args([
            "--image",
            &image("cst"),
            "--platform",
            "linux/amd64,linux/arm64",
        ])
        .arg("--json")
        .arg(&json)
        .arg("--junit")
        .arg(&junit)
        .arg("--html")
        .arg(&html)
        .output()
        .expect("archsmoke runs");
    let terminal = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{terminal}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = json_report(&json);
    let read = |p: &Path| std::fs::read_to_string(p).expect("report written");
    let (junit, html, summary) = (read(&junit), read(&html), read(&summary));
    let find = |p: &str, name: &str| -> serde_json::Value {
        platform(&report, p)["tests"]
            .as_array()
            .expect("tests")
            .iter()
            .find(|t| t["name"].as_str().is_some_and(|n| n.contains(name)))
            .unwrap_or_else(|| panic!("{p}: no test {name}"))
            .clone()
    };
    for p in DIFFERENTIAL {
        // The head is the start the expectation talks about, the tail the end, both in whole
        // lines, and the count is exactly the lines between them.
        let t = find(p, "counts");
        assert_eq!(t["status"], "failed", "{p}: {t:#}");
        let head = t["stdout_head"].as_str().expect("a head");
        let tail = t["stdout"].as_str().expect("a tail");
        let omitted = t["stdout_dropped_bytes"].as_u64().expect("a count");
        assert!(head.starts_with("1\n2\n3\n4\n"), "{p}: {}", &head[..40]);
        assert!(tail.ends_with("\n199999\n200000\n"), "{p}");
        let last_in_head: u64 = head.lines().last().expect("a line").parse().expect("n");
        let first_in_tail: u64 = tail.lines().next().expect("a line").parse().expect("n");
        let between: u64 = (last_in_head + 1..first_in_tail)
            .map(|n| n.to_string().len() as u64 + 1)
            .sum();
        assert_eq!(
            omitted, between,
            "{p}: omitted, lines {last_in_head}..{first_in_tail}"
        );
        assert_eq!(head.len() as u64 + omitted + tail.len() as u64, 1_288_895);
        let gap = format!("[… {omitted} bytes omitted …]");
        let actuals: Vec<&str> = t["mismatches"]
            .as_array()
            .expect("mismatches")
            .iter()
            .filter_map(|m| m["actual"].as_str())
            .collect();
        assert_eq!(actuals, [format!("{head}{gap}\n{tail}")], "{p}");
        let note = format!(
            "stdout: {omitted} bytes omitted between its first {} and its last {} bytes \
             (output_limit)",
            head.len(),
            tail.len()
        );
        assert!(
            terminal.contains(&note),
            "{p}: the terminal lacks {note:?}:\n{terminal}"
        );
        assert!(junit.contains(&note), "{p}: JUnit lacks {note:?}");
        assert!(html.contains(&note), "{p}: HTML lacks {note:?}");
        assert!(summary.contains(&note), "{p}: the summary lacks {note:?}");

        let t = find(p, "secrets at the cuts");
        assert_eq!(t["status"], "failed", "{p}: {t:#}");
        let head = t["stdout_head"].as_str().expect("a head");
        let tail = t["stdout"].as_str().expect("a tail");
        assert!(head.starts_with("[REDACTED]\naaa"), "{p}: {}", &head[..40]);
        assert!(
            head.ends_with("aaa[REDACTED]"),
            "{p}: {}",
            &head[head.len() - 40..]
        );
        assert!(tail.starts_with("[REDACTED]ccc"), "{p}: {}", &tail[..40]);
        // 2,337,492 bytes printed; 524,288 - 10 kept of each part around the secret's halves.
        assert_eq!(
            t["stdout_dropped_bytes"].as_u64(),
            Some(2_337_492 - 2 * 524_288),
            "{p}"
        );
    }
    // Both ends in the terminal (a mismatch quotes the start, `ends:` the end), in JUnit's
    // system-out, on the page and in the GitHub summary; one count between them in each.
    for (what, text, start, end) in [
        (
            "terminal",
            &terminal,
            r#"actual:   "1\n2\n3\n4\n"#,
            r#"199999\n200000\n""#,
        ),
        ("JUnit", &junit, "1\n2\n3\n4\n", "199999\n200000\n"),
        ("HTML", &html, "1\n2\n3\n4\n", "199999\n200000\n"),
        (
            "summary",
            &summary,
            r#""1\n2\n3\n4\n"#,
            r#"199999\n200000\n""#,
        ),
    ] {
        assert!(text.contains(start), "{what} lacks the head {start:?}");
        assert!(text.contains(end), "{what} lacks the tail {end:?}");
        assert!(
            text.contains(" bytes omitted …]"),
            "{what} lacks the omitted line"
        );
    }
    assert!(terminal.contains("ends:   …"), "{terminal}");
    let (first, second) = CUT_SECRET.1.split_at(10);
    for (what, text) in [
        ("JSON", read(&json)),
        ("JUnit", junit),
        ("HTML", html),
        ("summary", summary),
        ("stdout", terminal),
        ("stderr", String::from_utf8_lossy(&out.stderr).into_owned()),
    ] {
        for piece in [first, second] {
            assert!(
                !text.contains(piece),
                "{what} shows {piece:?} of the secret"
            );
        }
    }
}

/// Two rows of the guide's "differences from cst" table, checked against cst itself: values cst
/// can never match (`-rwsr-xr-x`, `isExecutableBy: everyone`, `exposedPorts: ["8080/tcp"]`)
/// fail only their own test there and are a load error here, and a config with no tests is a
/// FAIL (exit 1) there and a load error (exit 2) here; neither message blames archsmoke.
#[test]
fn the_documented_differences_are_what_cst_does() {
    local_images();
    let dir = tempfile::tempdir().expect("temp dir");
    let never = dir.path().join("never.yaml");
    std::fs::write(
        &never,
        "schemaVersion: 2.0.0\nfileExistenceTests:\n  - name: setuid written ls-style\n    \
         path: /bin/busybox\n    permissions: -rwsr-xr-x\n  - name: executable by everyone\n    \
         path: /bin/busybox\n    isExecutableBy: everyone\n  - name: control\n    \
         path: /bin/busybox\nmetadataTest:\n  exposedPorts: [\"8080/tcp\"]\n",
    )
    .expect("write");
    let empty = dir.path().join("empty.yaml");
    std::fs::write(&empty, "schemaVersion: 2.0.0\n").expect("write");
    for platform in DIFFERENTIAL {
        let cst = cst_verdicts(&never, platform);
        let expected: Verdicts = [
            ("File Existence Test: control", true),
            ("File Existence Test: executable by everyone", false),
            ("File Existence Test: setuid written ls-style", false),
            ("Metadata Test", false),
        ]
        .into_iter()
        .map(|(n, v)| (n.to_owned(), v))
        .collect();
        assert_eq!(cst, expected, "cst on {platform}");
        let out = Command::new(cst_binary())
            .args([
                "test",
                "--image",
                &local_name(platform),
                "--platform",
                platform,
            ])
            .arg("--config")
            .arg(&empty)
            .output()
            .expect("container-structure-test runs");
        assert_eq!(out.status.code(), Some(1), "cst on {platform}: {out:?}");
    }
    for (config, says) in [
        (&never, "never.yaml:5:18: "),
        (&never, "never.yaml:8:21: "),
        (&never, "never.yaml:12:18: "),
        (&empty, "empty.yaml:1:16: the config has no tests"),
    ] {
        let out = archsmoke()
            .args(["run", "--image", &image("cst")])
            .arg(config)
            .output()
            .expect("archsmoke runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(says), "{says:?} in {stderr}");
        assert!(!stderr.contains("bug"), "{stderr}");
    }
}

/// `validate` of a `.json` config warns once per ignored key (it loaded the file twice, and so
/// said every warning twice).
#[test]
fn validate_warns_once_per_ignored_json_key() {
    let file = repo_root().join("tests/fixtures/cst/json-loose.json");
    let out = archsmoke()
        .arg("validate")
        .arg(&file)
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    for key in ["comment", "expectedOuptut", "timeout", "owner"] {
        let said = stderr
            .matches(&format!("unknown key `{key}` ignored"))
            .count();
        assert_eq!(said, 1, "`{key}` warned {said} times:\n{stderr}");
    }
}
