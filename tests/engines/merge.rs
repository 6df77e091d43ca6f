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
