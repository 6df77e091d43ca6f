//! End to end: image sources beyond the registry (`oci-archive:`, `oci-layout:`,
//! `docker-daemon:`) on the real engine and QEMU, registry credentials against the htpasswd
//! registry (127.0.0.1:5001 unless that port was taken), strict platform matching against a
//! layout built here, and the exit codes of broken layouts and references.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Run, archsmoke, labelled_containers, registry, repo_root, run, spec};

const AMD64_CHILD: &str = "sha256:075f4706e5ca71366c8967dc86f4abcf6538c381f357a3a71f513cc93298e0d6";

/// A file of the test bed's OCI fixtures; missing means the test bed is not up.
fn testbed_oci(name: &str) -> PathBuf {
    let path = common::testbed_dir().join("oci").join(name);
    assert!(
        path.exists(),
        "{} is missing: run `sudo tests/testbed/up.sh` first",
        path.display()
    );
    path
}

fn busybox_spec() -> String {
    repo_root()
        .join("smoke-tests/busybox.toml")
        .to_str()
        .expect("utf-8 path")
        .to_owned()
}

/// Images a run loaded and did not remove (`archsmoke-load:<run id>-*`).
fn loaded_images(run_id: &str) -> Vec<String> {
    let out = Command::new("docker")
        .args([
            "images",
            "-q",
            "--filter",
            &format!("reference=archsmoke-load:{run_id}-*"),
        ])
        .output()
        .expect("docker CLI runs");
    assert!(out.status.success(), "docker images failed: {out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

fn assert_clean(r: &Run) {
    let id = r.run_id();
    assert!(
        labelled_containers(Some(&id)).is_empty(),
        "containers left by {id}"
    );
    assert!(loaded_images(&id).is_empty(), "images left by {id}");
}

#[test]
fn an_oci_archive_passes_on_all_six_platforms_without_a_registry() {
    let archive = testbed_oci("multi.tar");
    let source = format!("oci-archive:{}", archive.display());
    // No registry is involved, so no credentials are needed either.
    let r = Run::from(
        archsmoke()
            .args(["run", &busybox_spec(), "--image", &source])
            .env("DOCKER_CONFIG", "/nonexistent")
            .output()
            .expect("archsmoke starts"),
    );
    assert_eq!(r.code, 0, "{}", r.explain());
    for (platform, mode) in [
        ("linux/amd64", "native"),
        ("linux/386", "native"),
        ("linux/arm64", "qemu-aarch64"),
        ("linux/arm/v7", "qemu-arm"),
        ("linux/ppc64le", "qemu-ppc64le"),
        ("linux/s390x", "qemu-s390x"),
    ] {
        let row = r.row(platform);
        assert!(
            row.contains(mode) && row.ends_with("ok"),
            "{row}\n{}",
            r.explain()
        );
    }
    assert!(r.stdout.contains("6/6 platforms passed"), "{}", r.explain());
    assert!(r.stdout.contains(&source), "{}", r.explain());
    assert_clean(&r);
}

#[test]
fn an_oci_layout_directory_runs_and_inspects_in_place() {
    let dir = testbed_oci("multi-layout");
    let source = format!("oci-layout:{}:multi", dir.display());
    let r = run(&[
        "run",
        &busybox_spec(),
        "--image",
        &source,
        "--platform",
        "linux/amd64,linux/arm64",
    ]);
    assert_eq!(r.code, 0, "{}", r.explain());
    assert!(
        r.row("linux/arm64").contains("qemu-aarch64"),
        "{}",
        r.explain()
    );
    assert_clean(&r);

    let i = run(&["inspect", "--json", &source]);
    assert_eq!(i.code, 0, "{}", i.explain());
    let json: serde_json::Value = serde_json::from_str(&i.stdout).expect("inspect JSON");
    let entries = json["entries"].as_array().expect("entries");
    assert_eq!(entries.iter().filter(|e| e["kind"] == "image").count(), 6);
    assert_eq!(
        entries
            .iter()
            .filter(|e| e["kind"] == "attestation")
            .count(),
        2
    );
    let amd64 = entries
        .iter()
        .find(|e| e["platform"] == "linux/amd64")
        .expect("amd64 entry");
    assert_eq!(amd64["digest"], AMD64_CHILD);
}

#[test]
fn a_docker_daemon_image_runs_by_id_on_its_one_platform() {
    let pulled = format!("{}/archsmoke/busybox@{AMD64_CHILD}", registry());
    common::require_testbed();
    let ok = |args: &[&str]| {
        let out = Command::new("docker")
            .args(args)
            .output()
            .expect("docker runs");
        assert!(out.status.success(), "docker {args:?}: {out:?}");
    };
    ok(&["pull", "-q", &pulled]);
    let name = format!("archsmoke-daemon-test:{}", std::process::id());
    ok(&["tag", &pulled, &name]);
    let source = format!("docker-daemon:{name}");
    let s = spec(
        "daemon",
        "[[test]]\nname = \"machine\"\ncommand = [\"uname\", \"-m\"]\nstdout = \"x86_64\\n\"\n",
    );
    let r = run(&["run", s.path(), "--image", &source]);
    let i = run(&["inspect", &source]);
    let missing = run(&[
        "run",
        s.path(),
        "--image",
        &source,
        "--platform",
        "linux/arm64",
    ]);
    // Untag only: the image itself may be another test's.
    ok(&["rmi", &name]);
    assert_eq!(r.code, 0, "{}", r.explain());
    assert!(r.row("linux/amd64").contains("native"), "{}", r.explain());
    assert!(labelled_containers(Some(&r.run_id())).is_empty());
    assert_eq!(i.code, 0, "{}", i.explain());
    assert!(i.stdout.contains("linux/amd64"), "{}", i.explain());
    assert_eq!(missing.code, 1, "{}", missing.explain());
    assert!(
        missing.stdout.contains("has no linux/arm64 entry"),
        "{}",
        missing.explain()
    );
}

/// The multi layout copied to a temp dir, for tests that break or extend it.
fn layout_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", testbed_oci("multi-layout").display()))
        .arg(dir.path())
        .output()
        .expect("cp runs");
    assert!(out.status.success(), "cp failed: {out:?}");
    // The fixture's blobs are read-only; the tests rewrite some.
    let out = Command::new("chmod")
        .args(["-R", "u+w"])
        .arg(dir.path())
        .output()
        .expect("chmod runs");
    assert!(out.status.success(), "chmod failed: {out:?}");
    dir
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    let hash = sha2::Sha256::digest(bytes);
    format!(
        "sha256:{}",
        hash.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

fn blob_path(dir: &Path, digest: &str) -> PathBuf {
    dir.join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"))
}

fn write_blob(dir: &Path, bytes: &[u8]) -> (String, usize) {
    let digest = sha256(bytes);
    std::fs::write(blob_path(dir, &digest), bytes).expect("write blob");
    (digest, bytes.len())
}

fn read_json(dir: &Path, digest: &str) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(blob_path(dir, digest)).expect("blob")).expect("json")
}

const TRUE_SPEC: &str = "[[test]]\nname = \"t\"\ncommand = [\"true\"]\n";

#[test]
fn arm_v7_is_not_silently_served_by_an_arm_v6_entry() {
    let dir = layout_copy();
    let d = dir.path();
    // An index whose only arm entry is arm/v6: the test bed's armhf busybox with its config
    // relabelled v6 (arm/v7 code runs under qemu-arm either way).
    let arm_v7 = "sha256:9d60fb107006badfff859c081630faf7b4fec54b440cef64780dd29df3ed2a18";
    let mut manifest = read_json(d, arm_v7);
    let config_digest = manifest["config"]["digest"]
        .as_str()
        .expect("config")
        .to_owned();
    let mut config = read_json(d, &config_digest);
    config["variant"] = "v6".into();
    let (digest, size) = write_blob(d, &serde_json::to_vec(&config).expect("json"));
    manifest["config"]["digest"] = digest.into();
    manifest["config"]["size"] = size.into();
    let (m_digest, m_size) = write_blob(d, &serde_json::to_vec(&manifest).expect("json"));
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": m_digest, "size": m_size,
            "platform": { "os": "linux", "architecture": "arm", "variant": "v6" },
        }],
    });
    let (i_digest, i_size) = write_blob(d, &serde_json::to_vec(&index).expect("json"));
    let top = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": i_digest, "size": i_size,
            "annotations": { "org.opencontainers.image.ref.name": "armv6" },
        }],
    });
    std::fs::write(
        d.join("index.json"),
        serde_json::to_vec(&top).expect("json"),
    )
    .expect("write");
    let source = format!("oci-layout:{}", d.display());
    let s = spec("armv6", TRUE_SPEC);

    let strict = run(&[
        "run",
        s.path(),
        "--image",
        &source,
        "--platform",
        "linux/arm/v7",
    ]);
    assert_eq!(strict.code, 1, "{}", strict.explain());
    assert!(
        strict
            .stdout
            .contains("has no linux/arm/v7 entry; it offers linux/arm/v6"),
        "{}",
        strict.explain()
    );
    assert!(
        strict
            .stdout
            .contains("under variant_match = \"compatible\" it would take linux/arm/v6"),
        "{}",
        strict.explain()
    );
    assert!(
        loaded_images(&strict.run_id()).is_empty(),
        "nothing was loaded"
    );

    let compatible = run(&[
        "run",
        s.path(),
        "--image",
        &source,
        "--platform",
        "linux/arm/v7",
        "--variant-match",
        "compatible",
        "--json",
        d.join("report.json").to_str().expect("utf-8"),
    ]);
    assert_eq!(compatible.code, 0, "{}", compatible.explain());
    let report = common::json_report(&d.join("report.json"));
    let reason = report["platforms"][0]["entry"]["reason"]
        .as_str()
        .expect("reason");
    assert!(reason.contains("chose linux/arm/v6"), "{reason}");
    assert_clean(&compatible);
}

#[test]
fn broken_layouts_exit_3_and_malformed_references_exit_2() {
    let s = spec("broken", TRUE_SPEC);

    let dir = layout_copy();
    let index = dir.path().join("index.json");
    let text = std::fs::read(&index).expect("index.json");
    std::fs::write(&index, &text[..text.len() / 2]).expect("truncate");
    let source = format!("oci-layout:{}", dir.path().display());
    let r = run(&["run", s.path(), "--image", &source]);
    assert_eq!(r.code, 3, "{}", r.explain());
    assert!(
        r.stdout.contains("index.json") && r.stdout.contains("malformed"),
        "{}",
        r.explain()
    );

    let dir = layout_copy();
    let amd64 = blob_path(dir.path(), AMD64_CHILD);
    let mut bytes = std::fs::read(&amd64).expect("blob");
    bytes[20] ^= 1;
    std::fs::write(&amd64, bytes).expect("corrupt");
    let source = format!("oci-layout:{}", dir.path().display());
    let r = run(&[
        "run",
        s.path(),
        "--image",
        &source,
        "--platform",
        "linux/amd64",
    ]);
    assert_eq!(r.code, 3, "{}", r.explain());
    assert!(
        r.stdout.contains("does not match its digest"),
        "{}",
        r.explain()
    );
    assert!(r.stdout.contains(AMD64_CHILD), "{}", r.explain());

    // Two images in one layout and no `:TAG`: which one is meant is the user's to say.
    let dir = layout_copy();
    let index = dir.path().join("index.json");
    let mut top: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&index).expect("index.json")).expect("json");
    let mut second = top["manifests"][0].clone();
    second["annotations"]["org.opencontainers.image.ref.name"] = "other".into();
    top["manifests"]
        .as_array_mut()
        .expect("manifests")
        .push(second);
    std::fs::write(&index, serde_json::to_vec(&top).expect("json")).expect("write");
    let source = format!("oci-layout:{}", dir.path().display());
    let r = run(&["run", s.path(), "--image", &source]);
    assert_eq!(r.code, 2, "{}", r.explain());
    assert!(
        r.stderr
            .contains("holds 2 images (multi, other); add `:TAG`"),
        "{}",
        r.explain()
    );
    let r = run(&[
        "run",
        s.path(),
        "--image",
        &format!("{source}:other"),
        "--platform",
        "linux/amd64",
    ]);
    assert_eq!(r.code, 0, "{}", r.explain());

    for bad in ["oci-layout:", "docker-daemon:", "Bad//Ref::x"] {
        let r = run(&["run", s.path(), "--image", bad]);
        assert_eq!(r.code, 2, "{bad}: {}", r.explain());
        assert!(
            r.stderr.contains("not a valid image reference"),
            "{}",
            r.explain()
        );
        let i = run(&["inspect", bad]);
        assert_eq!(i.code, 2, "{bad}: {}", i.explain());
    }
}

/// Standard base64, for a Docker config's `auth` field.
fn base64(input: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn credentials_from_docker_config_reach_the_registry_and_the_engine_pull() {
    assert_eq!(
        base64(b"archsmoke:archsmoke-secret"),
        "YXJjaHNtb2tlOmFyY2hzbW9rZS1zZWNyZXQ="
    );
    common::require_testbed();
    let reference = format!("{}/archsmoke/busybox:multi", common::auth_registry());
    let s = spec("auth", TRUE_SPEC);
    let with_config = |config: &Path| {
        Run::from(
            archsmoke()
                .args([
                    "run",
                    s.path(),
                    "--image",
                    &reference,
                    "--platform",
                    "linux/amd64",
                ])
                .env("DOCKER_CONFIG", config)
                .output()
                .expect("archsmoke starts"),
        )
    };

    let empty = tempfile::tempdir().expect("temp dir");
    let r = with_config(empty.path());
    assert_eq!(r.code, 3, "{}", r.explain());
    assert!(
        r.stdout
            .contains(&format!("docker login {}", common::auth_registry())),
        "{}",
        r.explain()
    );

    let logged_in = tempfile::tempdir().expect("temp dir");
    let config = serde_json::json!({
        "auths": { (common::auth_registry()): { "auth": base64(b"archsmoke:archsmoke-secret") } }
    });
    std::fs::write(
        logged_in.path().join("config.json"),
        serde_json::to_vec(&config).expect("json"),
    )
    .expect("config.json");
    // Make the engine pull from the authenticated registry: only this test creates that
    // reference, and removing it only untags an image other references may share.
    let pinned = format!(
        "{}/archsmoke/busybox@{AMD64_CHILD}",
        common::auth_registry()
    );
    let _ = Command::new("docker").args(["rmi", &pinned]).output();
    let r = with_config(logged_in.path());
    assert_eq!(r.code, 0, "{}", r.explain());
    assert!(r.row("linux/amd64").ends_with("ok"), "{}", r.explain());
    let present = Command::new("docker")
        .args(["image", "inspect", &pinned])
        .output()
        .expect("docker runs");
    assert!(
        present.status.success(),
        "the engine pulled {pinned} with the credentials"
    );
}

#[test]
fn removing_a_repositorys_tags_keeps_the_image_under_its_other_names() {
    // `archsmoke gc` does this for `archsmoke-load`; a repository of this test's own is used
    // here, since gc would also remove other runs' containers on this shared engine.
    let pulled = format!("{}/archsmoke/busybox@{AMD64_CHILD}", registry());
    common::require_testbed();
    let docker = |args: &[&str]| {
        let out = Command::new("docker")
            .args(args)
            .output()
            .expect("docker runs");
        assert!(out.status.success(), "docker {args:?}: {out:?}");
    };
    docker(&["pull", "-q", &pulled]);
    let repository = format!("archsmoke-gc-test-{}", std::process::id());
    for tag in ["a", "b"] {
        docker(&["tag", &pulled, &format!("{repository}:{tag}")]);
    }
    let removed = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(async {
            let engine = archsmoke::engine::Engine::connect(None)
                .await
                .expect("the engine answers");
            engine.remove_repository_tags(&repository).await
        })
        .expect("tags removed");
    assert_eq!(removed, 2);
    let left = Command::new("docker")
        .args(["images", "-q", &repository])
        .output()
        .expect("docker runs");
    assert!(
        String::from_utf8_lossy(&left.stdout).trim().is_empty(),
        "{left:?}"
    );
    docker(&["image", "inspect", &pulled]);
}

/// `Write` that hashes what goes through it, for building a large blob in one pass.
struct Hashing<W> {
    inner: W,
    hasher: sha2::Sha256,
    len: u64,
}

impl<W: std::io::Write> std::io::Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        use sha2::Digest;
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn a_large_layout_image_is_loaded_and_audited_in_flat_memory() {
    use std::io::Write;
    const BIG: u64 = 192 << 20;
    // The amd64 busybox image of the test bed's layout, plus a 192 MiB layer on top.
    let src = testbed_oci("multi-layout").join("blobs/sha256");
    let blob = |digest: &str| {
        std::fs::read(src.join(digest.trim_start_matches("sha256:"))).expect("fixture blob")
    };
    let manifest: serde_json::Value = serde_json::from_slice(&blob(AMD64_CHILD)).expect("manifest");
    let dir = tempfile::tempdir().expect("temp dir");
    let blobs = dir.path().join("blobs/sha256");
    std::fs::create_dir_all(&blobs).expect("blobs dir");
    let put = |bytes: &[u8]| {
        let hex = sha256_hex(bytes);
        std::fs::write(blobs.join(&hex), bytes).expect("write blob");
        format!("sha256:{hex}")
    };
    let small = manifest["layers"][0].clone();
    let small_digest = small["digest"].as_str().expect("layer digest");
    put(&blob(small_digest));

    let part = blobs.join("big.partial");
    let mut out = Hashing {
        inner: std::io::BufWriter::new(std::fs::File::create(&part).expect("big layer")),
        hasher: <sha2::Sha256 as sha2::Digest>::new(),
        len: 0,
    };
    {
        let mut tar = tar::Builder::new(&mut out);
        let mut header = tar::Header::new_gnu();
        header.set_size(BIG);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(
            &mut header,
            "big",
            std::io::Read::take(std::io::repeat(0x5a), BIG),
        )
        .expect("big entry");
        tar.finish().expect("tar end");
    }
    out.flush().expect("flush");
    let big_digest = format!(
        "sha256:{}",
        <sha2::Sha256 as sha2::Digest>::finalize(out.hasher)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let big_size = out.len;
    std::fs::rename(&part, blobs.join(big_digest.trim_start_matches("sha256:")))
        .expect("name the big layer");

    let mut config: serde_json::Value = serde_json::from_slice(&blob(
        manifest["config"]["digest"].as_str().expect("config"),
    ))
    .expect("config");
    config["rootfs"]["diff_ids"]
        .as_array_mut()
        .expect("diff_ids")
        .push(big_digest.clone().into());
    let config = serde_json::to_vec(&config).expect("json");
    let config_digest = put(&config);
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest, "size": config.len()},
        "layers": [small, {"mediaType": "application/vnd.oci.image.layer.v1.tar",
                           "digest": big_digest, "size": big_size}],
    }))
    .expect("json");
    let manifest_digest = put(&manifest);
    std::fs::write(
        dir.path().join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .expect("oci-layout");
    std::fs::write(
        dir.path().join("index.json"),
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "digest": manifest_digest, "size": manifest.len(),
                           "platform": {"os": "linux", "architecture": "amd64"}}],
        }))
        .expect("json"),
    )
    .expect("index.json");

    let s = spec(
        "big",
        &format!(
            "image = \"oci-layout:{}\"\n[[test]]\nname = \"size\"\n\
             command = [\"sh\", \"-c\", \"wc -c < /big\"]\nstdout = \"{BIG}\\n\"\n",
            dir.path().display()
        ),
    );
    let r = run(&["run", s.path()]);
    assert_eq!(r.code, 0, "{}", r.explain());
    assert!(
        r.row("linux/amd64").trim_end().ends_with("ok"),
        "{}",
        r.explain()
    );
    assert_clean(&r);
    // The largest child this test process has waited for: archsmoke here, or a smaller process
    // of a test running beside it. A run that held the layer in memory would be past 192 MiB.
    let peak_kib = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
        .expect("getrusage")
        .max_rss();
    eprintln!("peak RSS of the run: {} MiB", peak_kib / 1024);
    assert!(
        peak_kib < 96 * 1024,
        "peak RSS {} MiB while loading and auditing a 192 MiB layer",
        peak_kib / 1024
    );
}
