//! End to end: `archsmoke inspect` against the local registry, cross-checked with skopeo.

mod common;

use std::process::Command;

use common::{image, run};

#[test]
fn inspect_json_digests_equal_what_skopeo_sees() {
    let reference = image("multi");
    let r = run(&["inspect", "--json", &reference]);
    assert_eq!(r.code, 0, "{}", r.explain());
    let ours: serde_json::Value = serde_json::from_str(&r.stdout).expect("inspect prints JSON");
    // The index walk is timed on its own; against a loopback registry it is a few round trips.
    let walk = ours["resolve_secs"].as_f64().expect("resolve_secs");
    assert!(walk > 0.0 && walk < 5.0, "resolve_secs = {walk}");
    let out = Command::new("skopeo")
        .args([
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{reference}"),
        ])
        .output()
        .expect("skopeo runs (the test bed installs it)");
    assert!(out.status.success(), "skopeo failed: {out:?}");
    let theirs: serde_json::Value = serde_json::from_slice(&out.stdout).expect("raw index");
    let manifests = theirs["manifests"].as_array().expect("an index");
    let entries = ours["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), manifests.len());
    for (mine, raw) in entries.iter().zip(manifests) {
        assert_eq!(mine["digest"], raw["digest"]);
        assert_eq!(mine["size"], raw["size"]);
    }
    let kinds: Vec<&str> = entries.iter().filter_map(|e| e["kind"].as_str()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "attestation").count(), 2);
    assert_eq!(kinds.iter().filter(|k| **k == "image").count(), 6);
    let arm64 = entries
        .iter()
        .find(|e| e["platform"] == "linux/arm64")
        .expect("arm64 entry");
    assert_eq!(arm64["runs_here"]["mode"], "emulated");
    let i386 = entries
        .iter()
        .find(|e| e["platform"] == "linux/386")
        .expect("386 entry");
    assert_eq!(i386["runs_here"]["mode"], "native");
}

#[test]
fn inspect_flags_a_mislabelled_entry() {
    let r = run(&["inspect", &image("mislabelled")]);
    // The PROBLEM is the image's defect: exit 1, not 0.
    assert_eq!(r.code, 1, "{}", r.explain());
    assert!(
        r.stdout.contains(
            "PROBLEM: the index lists this image as linux/arm64, but its config says linux/amd64"
        ),
        "{}",
        r.explain()
    );
}
