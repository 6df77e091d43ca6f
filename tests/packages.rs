//! `[[package]]` end to end: the package databases of the test bed's real images read from
//! their layers on amd64 and arm64, without a container: rpm's sqlite database written by
//! Debian's rpm 4.18 (Fedora's layout, `/var/lib/rpm` a symlink) and the same headers in a
//! Berkeley DB hash written by libdb 5.3 (RHEL 7's layout), both made by
//! tests/testbed/rpm-images.sh, and dpkg's status file of the Debian-package images; reports in
//! JSON, JUnit and on the terminal; and a goss file's `package` run on an rpm image with
//! `archsmoke run goss.yaml --image`.

mod common;

use serde_json::Value;

use common::{archsmoke, json_report, platform, real, run, spec, test};

/// A failed check's mismatches as (check, expected, actual).
fn mismatches(test: &Value) -> Vec<(String, String, String)> {
    test["mismatches"]
        .as_array()
        .expect("mismatches")
        .iter()
        .map(|m| {
            let s = |k: &str| m[k].as_str().expect("text").to_owned();
            (s("check"), s("expected"), s("actual"))
        })
        .collect()
}

/// Installed, absent, a version match (with an Epoch, and two instances of one package), a
/// version mismatch, a package only arm64 has, and a database the image does not have, on each
/// rpm database kind and both platforms.
#[test]
fn every_rpm_database_kind_answers_installed_absent_and_versions_per_platform() {
    for (tag, path) in [
        ("rpm-sqlite", "/usr/lib/sysimage/rpm/rpmdb.sqlite"),
        ("rpm-bdb", "/var/lib/rpm/Packages"),
    ] {
        let s = spec(
            tag,
            &format!(
                r#"
image = "{}"

[[package]]
name = "archsmoke-hello"
versions = ["2:1.2.3-4"]

[[package]]
name = "archsmoke-kernel"
versions = ["6.1.0-2", "6.1.0-1"]
manager = "rpm"

[[package]]
name = "telnet"
installed = false

[[package]]
name = "archsmoke-arm64"

[[package]]
name = "archsmoke-hello"
versions = ["1.2.3-4"]
title = "hello without its epoch"

[[package]]
name = "archsmoke-hello"
manager = "dpkg"
title = "hello from dpkg"
"#,
                real(tag)
            ),
        );
        let json = s.dir.path().join("report.json");
        let junit = s.dir.path().join("report.xml");
        let r = run(&[
            "run",
            s.path(),
            "--json",
            json.to_str().expect("path"),
            "--junit",
            junit.to_str().expect("path"),
        ]);
        assert_eq!(r.code, 1, "{tag}: {}", r.explain());
        let report = json_report(&json);
        for p in ["linux/amd64", "linux/arm64"] {
            let pr = platform(&report, p);
            for name in [
                "package archsmoke-hello",
                "package archsmoke-kernel",
                "package telnet",
            ] {
                assert_eq!(
                    test(pr, name)["status"],
                    "passed",
                    "{tag} {p} {name}: {pr:#}"
                );
            }
            let epoch = test(pr, "hello without its epoch");
            assert_eq!(epoch["status"], "failed", "{tag} {p}");
            assert_eq!(
                mismatches(epoch),
                [(
                    "version".to_owned(),
                    "installed versions include 1.2.3-4".to_owned(),
                    "2:1.2.3-4".to_owned()
                )],
                "{tag} {p}"
            );
            let dpkg = test(pr, "hello from dpkg");
            assert_eq!(
                mismatches(dpkg),
                [(
                    "package database".to_owned(),
                    "a readable dpkg database".to_owned(),
                    "no dpkg database: none of /var/lib/dpkg/status exists".to_owned()
                )],
                "{tag} {p}"
            );
        }
        let arm = test(platform(&report, "linux/arm64"), "package archsmoke-arm64");
        assert_eq!(arm["status"], "passed", "{tag}: {arm:#}");
        let amd = test(platform(&report, "linux/amd64"), "package archsmoke-arm64");
        let kind = if tag == "rpm-sqlite" {
            "rpm (sqlite)"
        } else {
            "rpm (Berkeley DB)"
        };
        assert_eq!(
            mismatches(amd),
            [(
                "installed".to_owned(),
                "installed".to_owned(),
                format!("not installed ({kind} database {path} lists 3 packages)")
            )],
            "{tag}"
        );
        // The terminal and JUnit name the failing check on its platform.
        assert!(
            r.stdout.contains("package archsmoke-arm64"),
            "{tag}: {}",
            r.explain()
        );
        let xml = std::fs::read_to_string(&junit).expect("JUnit written");
        let doc = roxmltree::Document::parse(&xml).expect("JUnit parses");
        let failed: Vec<(String, String)> = doc
            .descendants()
            .filter(|n| n.has_tag_name("testcase"))
            .filter(|n| n.children().any(|c| c.has_tag_name("failure")))
            .map(|n| {
                (
                    n.attribute("classname").unwrap_or_default().to_owned(),
                    n.attribute("name").unwrap_or_default().to_owned(),
                )
            })
            .collect();
        assert!(
            failed
                .iter()
                .any(|(c, n)| c.contains("amd64") && n == "package archsmoke-arm64"),
            "{tag}: {failed:?}"
        );
        assert!(
            !failed
                .iter()
                .any(|(c, n)| c.contains("arm64") && n == "package archsmoke-arm64"),
            "{tag}: {failed:?}"
        );
    }
}

/// dpkg's status file of the Debian-package images: the version as dpkg stores it.
#[test]
fn dpkg_status_of_a_debian_image_answers_on_both_platforms() {
    let s = spec(
        "dpkg",
        &format!(
            r#"
image = "{}"

[[package]]
name = "nginx"

[[package]]
name = "libc6"
versions = ["0:not-a-version"]

[[package]]
name = "apache2"
installed = false
"#,
            real("nginx")
        ),
    );
    let json = s.dir.path().join("report.json");
    let r = run(&["run", s.path(), "--json", json.to_str().expect("path")]);
    assert_eq!(r.code, 1, "{}", r.explain());
    let report = json_report(&json);
    for p in ["linux/amd64", "linux/arm64"] {
        let pr = platform(&report, p);
        assert_eq!(test(pr, "package nginx")["status"], "passed", "{p}: {pr:#}");
        assert_eq!(
            test(pr, "package apache2")["status"],
            "passed",
            "{p}: {pr:#}"
        );
        let libc = mismatches(test(pr, "package libc6"));
        assert_eq!(libc[0].0, "version", "{p}");
        assert!(libc[0].2.starts_with("2.36-9"), "{p}: {libc:?}");
    }
}

/// goss's `package` on an rpm image, with no `--package` (goss's own detection, archsmoke's
/// `auto`), through `archsmoke run goss.yaml --image`, and the same verdicts from `convert`.
#[test]
fn a_goss_file_checks_rpm_packages_per_platform() {
    let dir = tempfile::tempdir().expect("tempdir");
    let goss = dir.path().join("goss.yaml");
    std::fs::write(
        &goss,
        "package:\n  archsmoke-hello:\n    installed: true\n    versions: [\"2:1.2.3-4\"]\n  \
         archsmoke-kernel:\n    installed: true\n    versions: [6.1.0-1]\n  \
         archsmoke-arm64:\n    installed: true\n  telnet:\n    installed: false\n",
    )
    .expect("write");
    let image = real("rpm-bdb");
    let json = dir.path().join("report.json");
    let out = archsmoke()
        .arg("run")
        .arg(&goss)
        .args(["--image", &image, "--json"])
        .arg(&json)
        .output()
        .expect("archsmoke starts");
    let r = common::Run::from(out);
    assert_eq!(r.code, 1, "{}", r.explain());
    let report = json_report(&json);
    for p in ["linux/amd64", "linux/arm64"] {
        let pr = platform(&report, p);
        for name in [
            "Package: archsmoke-hello",
            "Package: archsmoke-kernel",
            "Package: telnet",
        ] {
            assert_eq!(test(pr, name)["status"], "passed", "{p} {name}: {pr:#}");
        }
    }
    assert_eq!(
        test(platform(&report, "linux/arm64"), "Package: archsmoke-arm64")["status"],
        "passed"
    );
    assert_eq!(
        test(platform(&report, "linux/amd64"), "Package: archsmoke-arm64")["status"],
        "failed"
    );

    let converted = archsmoke()
        .arg("convert")
        .arg(&goss)
        .output()
        .expect("convert");
    assert!(converted.status.success(), "{converted:?}");
    let toml = String::from_utf8(converted.stdout).expect("utf-8");
    assert!(
        toml.contains("[[package]]\ntitle = \"Package: archsmoke-hello\"\nname = \"archsmoke-hello\"\nversions = [\"2:1.2.3-4\"]\n"),
        "{toml}"
    );
    let s = spec("converted", &toml);
    let json = s.dir.path().join("converted.json");
    let r = run(&[
        "run",
        s.path(),
        "--image",
        &image,
        "--json",
        json.to_str().expect("path"),
    ]);
    assert_eq!(r.code, 1, "{}", r.explain());
    let again = json_report(&json);
    assert_eq!(
        test(platform(&again, "linux/amd64"), "Package: archsmoke-arm64")["status"],
        "failed"
    );
    assert_eq!(
        test(platform(&again, "linux/arm64"), "Package: archsmoke-arm64")["status"],
        "passed"
    );
}
