use super::*;
use crate::report::fixtures;

/// `all_passing` split into one shard per platform, as two CI jobs would write them.
fn shards() -> (RunReport, RunReport) {
    let full = fixtures::all_passing();
    let mut a = full.clone();
    a.platforms
        .retain(|p| p.platform.to_string() == "linux/amd64");
    a.spec_digest = Some("sha256:aa".into());
    let mut b = full;
    b.platforms
        .retain(|p| p.platform.to_string() == "linux/arm64");
    b.spec_digest = Some("sha256:aa".into());
    b.run_id = "other".into();
    (a, b)
}

#[test]
fn shards_become_one_matrix_with_every_engine_named_apart() {
    let (a, b) = shards();
    let merged = merge(vec![("a.json".into(), a.clone()), ("b.json".into(), b)]).expect("merges");
    let platforms: Vec<String> = merged
        .platforms
        .iter()
        .map(|p| p.platform.to_string())
        .collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64"]);
    assert_eq!(merged.engines.len(), 2);
    assert_ne!(merged.engines[0].name, merged.engines[1].name);
    assert_eq!(
        merged.platforms[1].engine.as_deref(),
        Some(merged.engines[1].name.as_str()),
        "the platform follows its renamed engine"
    );
    assert_eq!(merged.run_id, format!("{}+other", a.run_id));
    assert_eq!(merged.exit_code(), 0);
}

#[test]
fn a_failing_shard_fails_the_merge() {
    let (a, mut b) = shards();
    b.platforms[0].tests[0].status = crate::outcome::TestStatus::Failed;
    let merged = merge(vec![("a.json".into(), a), ("b.json".into(), b)]).expect("merges");
    assert_eq!(merged.exit_code(), crate::exit::TEST_FAILED);
}

#[test]
fn different_images_or_specs_are_refused_naming_both_files() {
    let (a, mut b) = shards();
    b.image.digest = Some("sha256:other".into());
    let err = merge(vec![("a.json".into(), a.clone()), ("b.json".into(), b)]).expect_err("digest");
    assert!(
        err.message.contains("b.json tested index sha256:other"),
        "{err}"
    );
    assert!(err.message.contains("different images"), "{err}");

    let (_, mut b) = shards();
    b.spec_digest = Some("sha256:bb".into());
    let err = merge(vec![("a.json".into(), a), ("b.json".into(), b)]).expect_err("spec");
    assert!(err.message.contains("different specs"), "{err}");
}

#[test]
fn a_platform_twice_is_refused_unless_native_and_emulated() {
    let (a, _) = shards();
    let err = merge(vec![
        ("a.json".into(), a.clone()),
        ("c.json".into(), a.clone()),
    ])
    .expect_err("duplicate");
    assert!(
        err.message
            .contains("linux/amd64 is in a.json and in c.json, both native"),
        "{err}"
    );

    let mut emulated = a.clone();
    emulated.platforms[0].mode = fixtures::all_passing().platforms[1].mode.clone();
    let merged = merge(vec![("a.json".into(), a), ("e.json".into(), emulated)]).expect("a pair");
    assert_eq!(merged.platforms.len(), 2);
}

#[test]
fn nothing_to_merge_says_how() {
    let err = merge(Vec::new()).expect_err("empty");
    assert!(err.hint.contains("archsmoke merge"), "{}", err.hint);
}
