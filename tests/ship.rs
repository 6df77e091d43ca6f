//! End to end: archsmoke as shipped. The static release binaries and archsmoke's own image that
//! `scripts/release.sh` builds (run by `tests/testbed/up.sh` into `$ARCHSMOKE_TESTBED_DIR/release`
//! with the dist-test profile): both binaries are static ELF files of their machine, run (arm64
//! under the kernel's QEMU binfmt entry) and name their commit; archsmoke smoke-tests its own
//! image on linux/amd64 and linux/arm64 (the dogfood test); the GitHub Action's install script
//! installs a release from a local directory and refuses a checksum mismatch; completions load
//! into a real bash (and parse in zsh and fish); the man page renders.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use object::read::elf::{Dyn, FileHeader, ProgramHeader};
use object::{Object, elf};
use sha2::{Digest, Sha256};

use common::{Run, archsmoke, json_report, platform, repo_root, run};

/// What `scripts/release.sh` wrote for the test bed.
fn release_dir() -> PathBuf {
    let state = std::env::var("ARCHSMOKE_TESTBED_DIR")
        .unwrap_or_else(|_| "/var/tmp/archsmoke-testbed".to_owned());
    let dir = Path::new(&state).join("release");
    for file in [
        "archsmoke-linux-amd64",
        "archsmoke-linux-arm64",
        "archsmoke-image.tar",
        "SHA256SUMS",
    ] {
        assert!(
            dir.join(file).is_file(),
            "no {} : run `sudo tests/testbed/up.sh` (it runs scripts/release.sh)",
            dir.join(file).display()
        );
    }
    dir
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Fails unless `bytes` is a static ELF executable of `machine`: no PT_INTERP, no DT_NEEDED.
fn assert_static(name: &str, bytes: &[u8], machine: object::Architecture) {
    let file = object::File::parse(bytes).unwrap_or_else(|e| panic!("{name}: not ELF: {e}"));
    assert_eq!(file.architecture(), machine, "{name}: wrong machine");
    let object::File::Elf64(elf) = &file else {
        panic!("{name}: not a 64-bit ELF file");
    };
    let endian = elf.endian();
    let header = elf.elf_header();
    assert!(
        [elf::ET_EXEC, elf::ET_DYN].contains(&header.e_type(endian)),
        "{name}: not an executable"
    );
    for ph in elf.elf_program_headers() {
        assert_ne!(
            ph.p_type(endian),
            elf::PT_INTERP,
            "{name}: has PT_INTERP, so it needs a dynamic loader"
        );
        if let Ok(Some(dynamic)) = ph.dynamic(endian, elf.data()) {
            assert!(
                !dynamic.iter().any(|d| d.d_tag(endian) == elf::DT_NEEDED),
                "{name}: needs shared libraries (DT_NEEDED)"
            );
        }
    }
}

#[test]
fn release_binaries_are_static_of_their_machine_and_match_their_checksums() {
    let dir = release_dir();
    let sums = fs::read_to_string(dir.join("SHA256SUMS")).expect("SHA256SUMS");
    for (file, machine) in [
        ("archsmoke-linux-amd64", object::Architecture::X86_64),
        ("archsmoke-linux-arm64", object::Architecture::Aarch64),
    ] {
        let bytes = fs::read(dir.join(file)).expect("binary");
        assert_static(file, &bytes, machine);
        let line = format!("{}  {file}", sha256_hex(&bytes));
        assert!(
            sums.lines().any(|l| l == line),
            "SHA256SUMS lacks `{line}`:\n{sums}"
        );
    }
    let archive = fs::read(dir.join("archsmoke-image.tar")).expect("archive");
    let line = format!("{}  archsmoke-image.tar", sha256_hex(&archive));
    assert!(sums.lines().any(|l| l == line), "SHA256SUMS lacks `{line}`");
}

#[test]
fn both_binaries_run_here_and_name_their_commit() {
    let dir = release_dir();
    // The arm64 binary runs through the kernel's qemu-aarch64 binfmt entry.
    let re = regex::Regex::new(
        r"^archsmoke \d+\.\d+\.\d+\S* \(commit [0-9a-f]{12} \d{4}-\d{2}-\d{2}\)\n$",
    )
    .expect("regex");
    let mut versions = Vec::new();
    for file in ["archsmoke-linux-amd64", "archsmoke-linux-arm64"] {
        let out = Run::from(
            Command::new(dir.join(file))
                .arg("--version")
                .output()
                .expect("the binary starts"),
        );
        assert_eq!(out.code, 0, "{file}: {}", out.explain());
        assert!(re.is_match(&out.stdout), "{file}: {:?}", out.stdout);
        versions.push(out.stdout);
    }
    assert_eq!(versions[0], versions[1], "both built from one commit");
}

#[test]
fn version_of_the_test_build_names_the_checkout_commit() {
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(repo_root())
        .output()
        .expect("git runs");
    assert!(head.status.success(), "the tests run from a git checkout");
    let head = String::from_utf8_lossy(&head.stdout).trim().to_owned();
    let out = run(&["--version"]);
    assert_eq!(out.code, 0, "{}", out.explain());
    assert!(
        out.stdout.starts_with(&format!(
            "archsmoke {} (commit {head} ",
            env!("CARGO_PKG_VERSION")
        )),
        "{:?} does not name {head}",
        out.stdout
    );
}

/// The dogfood test: archsmoke runs its own spec on its own image, amd64 natively and arm64
/// under QEMU, with the ELF audit at `error` and the metadata checks.
#[test]
fn archsmoke_passes_its_own_smoke_test_on_both_platforms() {
    let dir = release_dir();
    let spec = repo_root().join("smoke-tests/archsmoke-image.toml");
    let reports = tempfile::tempdir().expect("temp dir");
    let json = reports.path().join("report.json");
    let image = format!("oci-archive:{}", dir.join("archsmoke-image.tar").display());
    let out = Run::from(
        archsmoke()
            .args(["run", spec.to_str().expect("utf-8")])
            .args(["--image", &image, "--json"])
            .arg(&json)
            .output()
            .expect("archsmoke starts"),
    );
    assert_eq!(out.code, 0, "{}", out.explain());
    let report = json_report(&json);
    for (name, mode) in [("linux/amd64", "native"), ("linux/arm64", "emulated")] {
        let p = platform(&report, name);
        assert_eq!(p["result"], "passed", "{name}: {p:#}");
        assert_eq!(p["execution"]["mode"], mode, "{name}: {p:#}");
        let tests = p["tests"].as_array().expect("tests");
        for wanted in [
            "version names the release and its commit",
            "a spec that does not exist is a usage error",
            "metadata",
            "audit elf",
            "file /archsmoke",
        ] {
            let t = tests
                .iter()
                .find(|t| t["name"] == wanted)
                .unwrap_or_else(|| panic!("{name}: no test {wanted}: {p:#}"));
            assert_eq!(t["status"], "passed", "{name}: {t:#}");
        }
    }
}

/// The same image read as an OCI layout (what `scripts/release.sh` writes beside the archive)
/// passes the same spec, ELF audit included.
#[test]
fn the_image_layout_passes_the_same_smoke_test() {
    let dir = release_dir();
    let spec = repo_root().join("smoke-tests/archsmoke-image.toml");
    let layout = format!(
        "oci-layout:{}",
        dir.join("archsmoke-image-layout").display()
    );
    let out = run(&["run", spec.to_str().expect("utf-8"), "--image", &layout]);
    assert_eq!(out.code, 0, "{}", out.explain());
    for p in ["linux/amd64", "linux/arm64"] {
        assert!(
            out.row(p).trim_end().ends_with("ok"),
            "{p}: {}",
            out.explain()
        );
    }
}

/// A "release" in a local directory, as the install script downloads it.
struct LocalRelease {
    dir: tempfile::TempDir,
}

impl LocalRelease {
    /// The test bed's binary for this machine and a SHA256SUMS whose entry for it is `sum`
    /// (the right one when `None`).
    fn new(sum: Option<&str>) -> (Self, String) {
        let asset = match std::env::consts::ARCH {
            "x86_64" => "archsmoke-linux-amd64",
            "aarch64" => "archsmoke-linux-arm64",
            other => panic!("no release binary for {other}"),
        };
        let bytes = fs::read(release_dir().join(asset)).expect("binary");
        let dir = tempfile::tempdir().expect("temp dir");
        fs::write(dir.path().join(asset), &bytes).expect("write");
        let sum = sum.map_or_else(|| sha256_hex(&bytes), str::to_owned);
        fs::write(
            dir.path().join("SHA256SUMS"),
            format!("{sum}  {asset}\n{}  archsmoke-image.tar\n", "0".repeat(64)),
        )
        .expect("write");
        (Self { dir }, asset.to_owned())
    }

    /// Run the Action's install script against this release; returns it and the bin dir.
    fn install(&self, mode: &str, version: &str) -> (Run, PathBuf, tempfile::TempDir) {
        let root = tempfile::tempdir().expect("temp dir");
        let bin = root.path().join("bin");
        let outputs = root.path().join("github_output");
        let out = Run::from(
            Command::new(repo_root().join(".github/action/install.sh"))
                .env_clear()
                .env("PATH", std::env::var("PATH").unwrap_or_default())
                .env(
                    "ARCHSMOKE_BASE_URL",
                    format!("file://{}", self.dir.path().display()),
                )
                .env("ARCHSMOKE_INSTALL", mode)
                .env("ARCHSMOKE_VERSION", version)
                .env("ARCHSMOKE_BIN_DIR", &bin)
                .env("GITHUB_OUTPUT", &outputs)
                .env("RUNNER_OS", "Linux")
                .env(
                    "RUNNER_ARCH",
                    if cfg!(target_arch = "x86_64") {
                        "X64"
                    } else {
                        "ARM64"
                    },
                )
                .output()
                .expect("install.sh starts"),
        );
        (out, bin, root)
    }
}

#[test]
fn action_install_script_installs_a_verified_release_for_the_runner() {
    let (release, asset) = LocalRelease::new(None);
    let (out, bin, root) = release.install("release", env!("CARGO_PKG_VERSION"));
    assert_eq!(out.code, 0, "{}", out.explain());
    assert!(
        out.stderr.contains(&format!("installed {asset}")),
        "{}",
        out.explain()
    );
    let installed = bin.join("archsmoke");
    let version = Command::new(&installed)
        .arg("--version")
        .output()
        .expect("installed binary runs");
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("archsmoke "));
    let outputs = fs::read_to_string(root.path().join("github_output")).expect("outputs");
    assert_eq!(outputs, format!("path={}\n", installed.display()));
}

#[test]
fn action_install_script_refuses_a_checksum_mismatch() {
    let (release, asset) = LocalRelease::new(Some(&"ab".repeat(32)));
    // Not even `auto` may fall back to building: a mismatch is a tampered or broken download.
    for mode in ["release", "auto"] {
        let (out, bin, _root) = release.install(mode, "latest");
        assert_eq!(out.code, 1, "{mode}: {}", out.explain());
        assert!(
            out.stderr
                .contains(&format!("checksum mismatch for {asset}")),
            "{mode}: {}",
            out.explain()
        );
        assert!(!bin.join("archsmoke").exists(), "{mode}: installed anyway");
        assert!(
            !out.stderr.contains("cargo install"),
            "{mode}: {}",
            out.explain()
        );
    }
}

#[test]
fn action_install_script_fails_without_a_release_and_checks_the_version() {
    let (release, asset) = LocalRelease::new(None);
    fs::remove_file(release.dir.path().join(&asset)).expect("remove");
    let (out, _bin, _root) = release.install("release", "latest");
    assert_eq!(out.code, 1, "{}", out.explain());
    assert!(
        out.stderr.contains(&format!("no {asset} at file://")),
        "{}",
        out.explain()
    );
    assert!(
        out.stderr.contains("no release binary"),
        "{}",
        out.explain()
    );

    let (release, _) = LocalRelease::new(None);
    let (out, _bin, _root) = release.install("release", "99.0.0");
    assert_eq!(out.code, 1, "{}", out.explain());
    assert!(out.stderr.contains("asked for 99.0.0"), "{}", out.explain());
}

fn completion(shell: &str, dir: &Path) -> PathBuf {
    let out = run(&["completions", shell]);
    assert_eq!(out.code, 0, "{}", out.explain());
    let path = dir.join(format!("archsmoke.{shell}"));
    fs::write(&path, out.stdout).expect("write");
    path
}

#[test]
fn completions_load_into_bash_and_parse_in_zsh_and_fish() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bash = completion("bash", dir.path());
    // Load it, check the registration, then ask it to complete `archsmoke ru` and `run --ju`.
    let script = format!(
        "source '{}' && complete -p archsmoke && \
         COMP_WORDS=(archsmoke ru) COMP_CWORD=1 && _archsmoke archsmoke ru archsmoke && \
         echo \"words: ${{COMPREPLY[*]}}\" && \
         COMP_WORDS=(archsmoke run --ju) COMP_CWORD=2 && _archsmoke archsmoke --ju run && \
         echo \"flags: ${{COMPREPLY[*]}}\"",
        bash.display()
    );
    let out = Run::from(
        Command::new("bash")
            .args(["--norc", "--noprofile", "-c", &script])
            .output()
            .expect("bash runs"),
    );
    assert_eq!(out.code, 0, "{}", out.explain());
    assert!(
        out.stdout.contains("-F _archsmoke archsmoke"),
        "{}",
        out.explain()
    );
    assert!(out.stdout.contains("words: run"), "{}", out.explain());
    assert!(out.stdout.contains("flags: --junit"), "{}", out.explain());

    let zsh = completion("zsh", dir.path());
    let out = Command::new("zsh")
        .arg("-n")
        .arg(&zsh)
        .output()
        .expect("zsh is installed (tests/testbed/up.sh installs it)");
    assert!(out.status.success(), "zsh -n: {out:?}");
    let fish = completion("fish", dir.path());
    let out = Command::new("fish")
        .arg("--no-execute")
        .arg(&fish)
        .output()
        .expect("fish is installed (tests/testbed/up.sh installs it)");
    assert!(out.status.success(), "fish --no-execute: {out:?}");
}

#[test]
fn man_page_renders_with_man_and_groff() {
    let dir = tempfile::tempdir().expect("temp dir");
    let page = dir.path().join("archsmoke.1");
    let out = run(&["man"]);
    assert_eq!(out.code, 0, "{}", out.explain());
    fs::write(&page, &out.stdout).expect("write");
    let rendered = Command::new("man")
        .args(["-P", "cat", "-l"])
        .arg(&page)
        .env("MANWIDTH", "100")
        .output()
        .expect("man is installed (tests/testbed/up.sh installs man-db)");
    let text = String::from_utf8_lossy(&rendered.stdout);
    assert!(rendered.status.success(), "man -l: {rendered:?}");
    for needle in [
        "NAME",
        "SYNOPSIS",
        "SUBCOMMANDS",
        "archsmoke-run(1)",
        "--version",
    ] {
        assert!(text.contains(needle), "no {needle} in:\n{text}");
    }
    // groff's own warnings (-ww) on the roff clap_mangen wrote.
    let checked = Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-z"])
        .arg(&page)
        .output()
        .expect("groff runs");
    assert!(
        checked.status.success() && checked.stderr.is_empty(),
        "groff: {}",
        String::from_utf8_lossy(&checked.stderr)
    );

    // `--out-dir` writes one page per subcommand.
    let pages = dir.path().join("pages");
    let out = run(&["man", "--out-dir", pages.to_str().expect("utf-8")]);
    assert_eq!(out.code, 0, "{}", out.explain());
    for name in ["archsmoke.1", "archsmoke-run.1", "archsmoke-completions.1"] {
        assert!(pages.join(name).is_file(), "no {name}");
    }
}

/// archsmoke's image loaded into the engine (linux/amd64, this machine's), removed on drop.
struct LoadedImage(String);

impl LoadedImage {
    fn load() -> Self {
        let tag = format!("archsmoke-ship-test:{}", std::process::id());
        let archive = release_dir().join("archsmoke-image.tar");
        let out = Command::new("skopeo")
            .args(["copy", "--quiet"])
            .arg(format!("oci-archive:{}", archive.display()))
            .arg(format!("docker-daemon:{tag}"))
            .output()
            .expect("skopeo is installed (tests/testbed/up.sh installs it)");
        assert!(out.status.success(), "skopeo copy: {out:?}");
        Self(tag)
    }
}

impl Drop for LoadedImage {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rmi", &self.0]).output();
    }
}

/// archsmoke in its own container against the host's engine, as the README documents it:
/// the socket mounted, and the host's binfmt_misc entries named by ARCHSMOKE_BINFMT_DIR
/// (without them the emulated platform is unavailable and the run says why).
#[test]
fn the_image_tests_another_image_through_the_hosts_engine() {
    let image = LoadedImage::load();
    let spec = common::spec(
        "machine",
        "[[test]]\nname = \"machine\"\ncommand = [\"uname\", \"-m\"]\nstdout = \"x86_64\\n\"\n\
         [test.per_platform.\"linux/arm64\"]\nstdout = \"aarch64\\n\"\n",
    );
    let work = spec.dir.path().to_str().expect("utf-8").to_owned();
    let docker_run = |binfmt: bool| {
        let mut c = Command::new("docker");
        c.args(["run", "--rm", "--network", "host"])
            .args(["-v", "/var/run/docker.sock:/var/run/docker.sock"])
            .args(["-v", &format!("{work}:/work:ro"), "-e", "NO_COLOR=1"]);
        if binfmt {
            c.args(["-v", "/proc/sys/fs/binfmt_misc:/host/binfmt_misc:ro"])
                .args(["-e", "ARCHSMOKE_BINFMT_DIR=/host/binfmt_misc"]);
        }
        c.args([&image.0, "run", "/work/machine.toml"])
            .args(["--image", &common::image("multi")])
            .args(["--platform", "linux/amd64,linux/arm64"]);
        Run::from(c.output().expect("docker runs"))
    };

    let out = docker_run(true);
    assert_eq!(out.code, 0, "{}", out.explain());
    assert!(
        out.row("linux/amd64").contains("native"),
        "{}",
        out.explain()
    );
    assert!(
        out.row("linux/arm64").contains("qemu-aarch64"),
        "{}",
        out.explain()
    );

    let out = docker_run(false);
    assert_eq!(out.code, 3, "{}", out.explain());
    assert!(out.row("linux/amd64").contains("ok"), "{}", out.explain());
    assert!(
        out.stdout.contains("binfmt_misc is not mounted"),
        "{}",
        out.explain()
    );
}
