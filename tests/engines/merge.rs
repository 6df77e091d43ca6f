//! `archsmoke merge` on the reports of real shards: one run per architecture, as CI jobs on
//! native runners write them.

use super::*;

const SPEC: &str = r#"
[[test]]
name = "machine"
command = ["uname", "-m"]
"#;

/// Runs `spec` for one platform of `tag`; returns the JSON report's path.
fn shard(s: &common::SpecFile, tag: &str, platform_name: &str, out: &str) -> PathBuf {
    let json = s.dir.path().join(out);
    let mut c = clean();
    c.args([
        "run",
        s.path(),
        "--image",
        &image(tag),
        "--platform",
        platform_name,
        "--json",
        json.to_str().expect("utf-8"),
    ]);
    let r = go(c);
    assert_eq!(r.code, 0, "{}", r.explain());
    json
}

fn merge(args: &[&Path], extra: &[&str]) -> Run {
    let mut c = clean();
    c.arg("merge").args(args).args(extra);
    go(c)
}

#[test]
fn shards_merge_into_one_matrix_junit_and_exit_code() {
    let _b = bed();
    let s = spec("merge", SPEC);
    let amd64 = shard(&s, "multi", "linux/amd64", "amd64.json");
    let arm64 = shard(&s, "multi", "linux/arm64", "arm64.json");
    let junit = s.dir.path().join("merged.xml");
    let json = s.dir.path().join("merged.json");
    let r = merge(
        &[&amd64, &arm64],
        &[
            "--junit",
            junit.to_str().expect("utf-8"),
            "--json",
            json.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(r.code, 0, "{}", r.explain());
    assert!(r.row("linux/amd64").contains("ok"), "{}", r.stdout);
    assert!(r.row("linux/arm64").contains("ok"), "{}", r.stdout);
    let report = json_report(&json);
    assert_eq!(report["platforms"].as_array().map(Vec::len), Some(2));
    assert_eq!(report["exit_code"], 0);
    let xml = std::fs::read_to_string(&junit).expect("junit");
    let doc = roxmltree::Document::parse(&xml).expect("JUnit parses");
    let suites: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testsuite"))
        .filter_map(|n| n.attribute("name"))
        .collect();
    assert_eq!(suites, ["linux/amd64", "linux/arm64"]);
}

#[test]
fn shards_of_different_images_specs_or_the_same_platform_are_refused() {
    let _b = bed();
    let s = spec("merge", SPEC);
    let amd64 = shard(&s, "multi", "linux/amd64", "amd64.json");
    // Another index (same platforms but arm64): a different image digest.
    let other = shard(&s, "docker-list", "linux/arm64", "other.json");
    let r = merge(&[&amd64, &other], &[]);
    assert_eq!(r.code, 2, "{}", r.explain());
    assert!(r.stderr.contains("different images"), "{}", r.explain());

    let changed = spec("merge", &format!("{SPEC}\n# another commit's spec\n"));
    let arm64 = shard(&changed, "multi", "linux/arm64", "arm64.json");
    let r = merge(&[&amd64, &arm64], &[]);
    assert_eq!(r.code, 2, "{}", r.explain());
    assert!(r.stderr.contains("different specs"), "{}", r.explain());

    let again = shard(&s, "multi", "linux/amd64", "again.json");
    let r = merge(&[&amd64, &again], &[]);
    assert_eq!(r.code, 2, "{}", r.explain());
    assert!(r.stderr.contains("linux/amd64 is in"), "{}", r.explain());
    assert!(r.stderr.contains("both native"), "{}", r.explain());
}

#[test]
fn verify_confirms_a_list_whose_children_passed_and_names_an_untested_one() {
    let _b = bed();
    let s = spec("verify", SPEC);
    let json = s.dir.path().join("all.json");
    let mut c = clean();
    c.args(["run", s.path(), "--image", &image("multi"), "--json"])
        .arg(&json);
    let r = go(c);
    assert_eq!(r.code, 0, "{}", r.explain());
    let mut c = clean();
    c.args(["verify", &image("multi"), "--report"]).arg(&json);
    let r = go(c);
    assert_eq!(r.code, 0, "{}", r.explain());
    assert!(
        r.stdout.contains("verified: all 6 child manifest(s)"),
        "{}",
        r.explain()
    );

    // A report that tested five of the six children: the sixth is named, exit 1.
    let five = shard_many(
        &s,
        &[
            "linux/amd64",
            "linux/arm64",
            "linux/arm/v7",
            "linux/ppc64le",
            "linux/386",
        ],
    );
    let mut c = clean();
    c.args(["verify", &image("multi"), "--report"]).arg(&five);
    let r = go(c);
    assert_eq!(r.code, 1, "{}", r.explain());
    let s390x = child_ref("multi", "linux/s390x");
    let digest = s390x.rsplit_once('@').expect("digest").1;
    assert!(r.stdout.contains("NOT VERIFIED: 1 of 6"), "{}", r.explain());
    assert!(
        r.stdout.contains(digest) && r.stdout.contains("linux/s390x"),
        "{}",
        r.explain()
    );
}

fn shard_many(s: &common::SpecFile, platforms: &[&str]) -> PathBuf {
    let json = s.dir.path().join("some.json");
    let mut c = clean();
    c.args([
        "run",
        s.path(),
        "--image",
        &image("multi"),
        "--platform",
        &platforms.join(","),
        "--json",
    ])
    .arg(&json);
    let r = go(c);
    assert_eq!(r.code, 0, "{}", r.explain());
    json
}

/// The registry's manifest of `reference` (`repo@digest` or `repo:tag`), raw, with its type.
fn manifest_of(reference: &str) -> (Vec<u8>, String) {
    let (repo, at) = reference
        .rsplit_once('@')
        .or_else(|| reference.rsplit_once(':'))
        .expect("a tag or digest");
    let path = repo.split_once('/').expect("registry/repo").1;
    let url = format!("http://{}/v2/{path}/manifests/{at}", common::registry());
    let out = Command::new("curl")
        .args(["-fsS", "-D", "/dev/stderr", "-H"])
        .arg("Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json")
        .arg(&url)
        .output()
        .expect("curl runs");
    assert!(out.status.success(), "{url}: {out:?}");
    let headers = String::from_utf8_lossy(&out.stderr);
    let kind = headers
        .lines()
        .find_map(|l| {
            l.strip_prefix("Content-Type: ")
                .or_else(|| l.strip_prefix("content-type: "))
        })
        .expect("a content type")
        .trim()
        .to_owned();
    (out.stdout, kind)
}

/// Pushes `body` as the manifest `tag` of the fixtures' repository.
fn put_manifest(tag: &str, body: &[u8], kind: &str) {
    let url = format!(
        "http://{}/v2/{}/manifests/{tag}",
        common::registry(),
        common::REPO
    );
    let out = Command::new("curl")
        .args(["-fsS", "-X", "PUT", "-H"])
        .arg(format!("Content-Type: {kind}"))
        .arg("--data-binary")
        .arg("@-")
        .arg(&url)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().expect("stdin").write_all(body)?;
            child.wait_with_output()
        })
        .expect("curl runs");
    assert!(out.status.success(), "PUT {url}: {out:?}");
}

/// A list of the given children of the `multi` fixture, pushed as `tag`, as
/// `docker buildx imagetools create` would assemble it.
fn assemble(tag: &str, platforms: &[(&str, &str)]) -> String {
    let manifests: Vec<serde_json::Value> = platforms
        .iter()
        .map(|(platform_name, arch)| {
            let child = child_ref("multi", platform_name);
            let (body, kind) = manifest_of(&child);
            serde_json::json!({
                "mediaType": kind,
                "digest": child.rsplit_once('@').expect("digest").1,
                "size": body.len(),
                "platform": {"os": "linux", "architecture": arch},
            })
        })
        .collect();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": manifests,
    });
    put_manifest(
        tag,
        &serde_json::to_vec(&index).expect("json"),
        "application/vnd.oci.image.index.v1+json",
    );
    image(tag)
}

/// The native-runner pattern: each runner pushed its own single-platform image; they are
/// tested as a set before the list exists (`--image PLATFORM=REF`, and the same in the spec), a
/// mislabelled push is caught, and `verify` confirms the list assembled from them, or names the
/// child nobody tested.
#[test]
fn per_platform_images_are_tested_before_assembly_and_the_list_verified_after() {
    let _b = bed();
    // What two native runners pushed: one manifest each, under its own tag.
    for (tag, platform_name) in [("sha-amd64", "linux/amd64"), ("sha-arm64", "linux/arm64")] {
        let (body, kind) = manifest_of(&child_ref("multi", platform_name));
        put_manifest(tag, &body, &kind);
    }
    let s = spec("set", SPEC);
    let json = s.dir.path().join("set.json");
    let mut c = clean();
    c.args(["run", s.path()])
        .args(["--image", &format!("linux/amd64={}", image("sha-amd64"))])
        .args(["--image", &format!("linux/arm64={}", image("sha-arm64"))])
        .arg("--json")
        .arg(&json);
    let r = go(c);
    assert_eq!(r.code, 0, "{}", r.explain());
    assert!(r.row("linux/amd64").contains("native"), "{}", r.explain());
    assert!(
        r.row("linux/arm64").contains("qemu-aarch64"),
        "{}",
        r.explain()
    );
    assert!(r.stdout.contains("2/2 platforms passed"), "{}", r.explain());

    // The same set written in the spec.
    let in_spec = spec(
        "set-spec",
        &format!(
            "image = {{ \"linux/amd64\" = \"{}\", \"linux/arm64\" = \"{}\" }}\n{SPEC}",
            image("sha-amd64"),
            image("sha-arm64")
        ),
    );
    let mut c = clean();
    c.args(["run", in_spec.path()]);
    let r = go(c);
    assert_eq!(r.code, 0, "{}", r.explain());

    // An amd64 push named as arm64 is caught, not run as arm64.
    let mut c = clean();
    c.args(["run", s.path()])
        .args(["--image", &format!("linux/arm64={}", image("sha-amd64"))]);
    let r = go(c);
    assert_eq!(r.code, 1, "{}", r.explain());
    assert!(r.row("linux/arm64").ends_with("ERROR"), "{}", r.explain());
    assert!(
        r.stdout.contains("config says linux/amd64"),
        "{}",
        r.explain()
    );

    // The list assembled from exactly the tested children verifies; one with an untested
    // s390x child does not, and names it.
    let list = assemble(
        "set-list",
        &[("linux/amd64", "amd64"), ("linux/arm64", "arm64")],
    );
    let mut c = clean();
    c.args(["verify", &list, "--report"]).arg(&json);
    let r = go(c);
    assert_eq!(r.code, 0, "{}", r.explain());
    assert!(
        r.stdout.contains("verified: all 2 child manifest(s)"),
        "{}",
        r.explain()
    );
    let wider = assemble(
        "set-list-s390x",
        &[
            ("linux/amd64", "amd64"),
            ("linux/arm64", "arm64"),
            ("linux/s390x", "s390x"),
        ],
    );
    let mut c = clean();
    c.args(["verify", &wider, "--report"]).arg(&json);
    let r = go(c);
    assert_eq!(r.code, 1, "{}", r.explain());
    assert!(
        r.stdout.contains("NOT VERIFIED: 1 of 3") && r.stdout.contains("linux/s390x"),
        "{}",
        r.explain()
    );
}
