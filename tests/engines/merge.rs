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
