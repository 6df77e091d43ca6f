//! End to end: `archsmoke run` against the real engine, the local registry and QEMU.

mod common;

use common::{image, labelled_containers, run, spec};

fn six_platform_spec(image_ref: &str, arm64_expect: &str) -> String {
    format!(
        r#"
image = "{image_ref}"
platforms = ["linux/amd64", "linux/arm64", "linux/arm/v7", "linux/ppc64le", "linux/s390x", "linux/386"]

[[test]]
name = "machine"
command = ["uname", "-m"]
stdout = "x86_64\n"
[test.per_platform."linux/arm64"]
stdout = "{arm64_expect}"
[test.per_platform."linux/arm/v7"]
stdout = "armv7l\n"
[test.per_platform."linux/ppc64le"]
stdout = "ppc64le\n"
[test.per_platform."linux/s390x"]
stdout = "s390x\n"

[[test]]
name = "shell"
command = ["sh", "-c", "echo hi; echo oops >&2; exit 4"]
exit_code = 4
stdout = "hi\n"
stderr = "oops\n"
"#
    )
}

#[test]
fn all_six_platforms_pass_natively_and_under_qemu() {
    let s = spec("six", &six_platform_spec(&image("multi"), "aarch64\\n"));
    let json = s.dir.path().join("report.json");
    let r = run(&["run", s.path(), "--json", json.to_str().expect("path")]);
    assert_eq!(r.code, 0, "{}", r.explain());
    // Where the time went: every phase was reached, the index walk is a small part of the run.
    let report = common::json_report(&json);
    let phase = |name: &str| {
        report["phases"][name]
            .as_f64()
            .unwrap_or_else(|| panic!("phases.{name}: {:#}", report["phases"]))
    };
    let total = report["duration_secs"].as_f64().expect("duration");
    assert!(phase("resolve_secs") > 0.0 && phase("engine_secs") > 0.0);
    assert!(phase("audit_secs") > 0.0, "the default ELF audit ran");
    assert!(phase("resolve_secs") < phase("run_secs"));
    assert!(phase("run_secs") <= total, "{:#}", report["phases"]);
    assert!(r.stdout.contains("time: engine "), "{}", r.explain());
    for p in ["linux/amd64", "linux/386"] {
        let row = r.row(p);
        assert!(row.contains("native"), "{p} should run natively: {row}");
        assert!(row.trim_end().ends_with("ok"), "{row}");
    }
    for (p, emulator) in [
        ("linux/arm64", "qemu-aarch64"),
        ("linux/arm/v7", "qemu-arm"),
        ("linux/ppc64le", "qemu-ppc64le"),
        ("linux/s390x", "qemu-s390x"),
    ] {
        let row = r.row(p);
        assert!(
            row.contains(emulator),
            "{p} should run under {emulator}: {row}"
        );
        assert!(row.trim_end().ends_with("ok"), "{row}");
        // Emulated platforms show their slowdown against the native one.
        assert!(row.contains('×'), "no slowdown for {p}: {row}");
    }
    assert!(
        r.stdout.contains("2 attestation manifest(s) skipped"),
        "{}",
        r.explain()
    );
    assert!(labelled_containers(Some(&r.run_id())).is_empty());
}

#[test]
fn a_wrong_expectation_fails_only_that_platform() {
    let s = spec("wrong", &six_platform_spec(&image("multi"), "arm64\\n"));
    let r = run(&["run", s.path()]);
    assert_eq!(r.code, 1, "{}", r.explain());
    assert!(
        r.row("linux/arm64").trim_end().ends_with("FAIL"),
        "{}",
        r.explain()
    );
    for p in [
        "linux/amd64",
        "linux/arm/v7",
        "linux/ppc64le",
        "linux/s390x",
        "linux/386",
    ] {
        assert!(r.row(p).trim_end().ends_with("ok"), "{}", r.explain());
    }
    assert!(
        r.stdout.contains("expected: \"arm64\\n\""),
        "{}",
        r.explain()
    );
    assert!(
        r.stdout.contains("actual:   \"aarch64\\n\""),
        "{}",
        r.explain()
    );
    assert!(labelled_containers(Some(&r.run_id())).is_empty());
}

#[test]
fn a_missing_platform_fails_with_what_the_index_has_while_others_run() {
    let text = format!(
        r#"
image = "{}"
platforms = ["linux/amd64", "linux/arm64", "linux/s390x"]
[[test]]
name = "runs"
command = ["true"]
"#,
        image("no-arm64")
    );
    let s = spec("missing", &text);
    let r = run(&["run", s.path()]);
    assert_eq!(r.code, 1, "{}", r.explain());
    assert!(r.row("linux/arm64").contains("ERROR"), "{}", r.explain());
    assert!(
        r.stdout
            .contains("the image has no linux/arm64 entry; it offers linux/amd64"),
        "{}",
        r.explain()
    );
    assert!(
        r.row("linux/amd64").trim_end().ends_with("ok"),
        "{}",
        r.explain()
    );
    assert!(
        r.row("linux/s390x").trim_end().ends_with("ok"),
        "{}",
        r.explain()
    );
}

#[test]
fn a_mislabelled_index_entry_fails_that_platform() {
    let text = format!(
        r#"
image = "{}"
[[test]]
name = "runs"
command = ["true"]
"#,
        image("mislabelled")
    );
    let s = spec("mislabelled", &text);
    let r = run(&["run", s.path()]);
    assert_eq!(r.code, 1, "{}", r.explain());
    assert!(r.row("linux/arm64").contains("ERROR"), "{}", r.explain());
    assert!(
        r.stdout
            .contains("the index lists this image as linux/arm64, but its config says linux/amd64"),
        "{}",
        r.explain()
    );
    assert!(
        r.row("linux/amd64").trim_end().ends_with("ok"),
        "{}",
        r.explain()
    );
}

#[test]
fn a_single_platform_image_is_an_index_of_one() {
    let text = format!(
        "image = \"{}\"\n[[test]]\nname = \"m\"\ncommand = [\"uname\", \"-m\"]\nstdout = \"x86_64\\n\"\n",
        image("single-amd64")
    );
    let s = spec("single", &text);
    let r = run(&["run", s.path()]);
    assert_eq!(r.code, 0, "{}", r.explain());
    assert!(r.row("linux/amd64").contains("native"), "{}", r.explain());
}

#[test]
fn a_docker_manifest_list_resolves_like_an_oci_index() {
    let text = format!(
        "image = \"{}\"\nplatforms = [\"linux/amd64\", \"linux/arm/v7\"]\n[[test]]\nname = \"m\"\ncommand = [\"true\"]\n",
        image("docker-list")
    );
    let s = spec("list", &text);
    let r = run(&["run", s.path()]);
    assert_eq!(r.code, 0, "{}", r.explain());
    assert!(
        r.row("linux/arm/v7").contains("qemu-arm"),
        "{}",
        r.explain()
    );
}

#[test]
fn a_hanging_test_times_out_and_leaves_no_container() {
    let text = format!(
        r#"
image = "{}"
platforms = ["linux/amd64", "linux/arm64"]
[settings]
emulated_timeout_factor = 2
[[test]]
name = "hangs"
command = ["sleep", "600"]
timeout = "1s"
"#,
        image("multi")
    );
    let s = spec("hang", &text);
    let started = std::time::Instant::now();
    let r = run(&["run", s.path()]);
    assert_eq!(r.code, 1, "{}", r.explain());
    assert!(
        started.elapsed().as_secs() < 60,
        "the timeout did not stop the run"
    );
    assert!(r.stdout.contains("hangs timed out"), "{}", r.explain());
    assert!(r.stdout.contains("exit within 1s"), "{}", r.explain());
    assert!(
        r.stdout.contains("exit within 2s"),
        "emulated timeout factor: {}",
        r.explain()
    );
    assert!(labelled_containers(Some(&r.run_id())).is_empty());
}

#[test]
fn an_unknown_key_exits_2_and_names_line_and_column() {
    let s = spec(
        "typo",
        "image = \"x\"\n\n[settings]\n  timeot = \"1s\"\n[[test]]\nname = \"t\"\n",
    );
    let r = run(&["run", s.path()]);
    assert_eq!(r.code, 2, "{}", r.explain());
    assert!(
        r.stderr.contains("typo.toml:4:3: unknown key `timeot`"),
        "{}",
        r.explain()
    );
    assert!(
        r.stderr.contains("did you mean `timeout`?"),
        "{}",
        r.explain()
    );
}

#[test]
fn an_unreachable_engine_exits_3_with_a_clear_message() {
    // A real image: a misspelled one is the user's error (exit 2), which comes first.
    let s = spec(
        "t",
        &format!("image = \"{}\"\n[[test]]\nname = \"t\"\n", image("multi")),
    );
    let json = s.dir.path().join("report.json");
    let r = run(&[
        "run",
        "--host",
        "unix:///nonexistent/docker.sock",
        s.path(),
        "--json",
        json.to_str().expect("path"),
    ]);
    assert_eq!(r.code, 3, "{}", r.explain());
    // The report says which phases ran: the engine handshake failed, nothing ran after it.
    let report = common::json_report(&json);
    assert!(report["phases"]["engine_secs"].is_f64(), "{report:#}");
    assert!(report["phases"]["run_secs"].is_null(), "{report:#}");
    assert!(report["phases"]["audit_secs"].is_null(), "{report:#}");
    assert!(
        r.stdout
            .contains("cannot reach the Docker Engine at unix:///nonexistent/docker.sock"),
        "{}",
        r.explain()
    );
    assert!(
        r.stdout.contains("hint: start the engine"),
        "{}",
        r.explain()
    );
}

#[test]
fn an_unreachable_registry_exits_3() {
    let s = spec(
        "t",
        "image = \"127.0.0.1:1/nothing/here:tag\"\n[[test]]\nname = \"t\"\n",
    );
    let r = run(&["run", s.path()]);
    assert_eq!(r.code, 3, "{}", r.explain());
    assert!(
        r.stdout.contains("cannot reach registry 127.0.0.1:1"),
        "{}",
        r.explain()
    );
}

#[test]
fn a_bad_reference_and_bad_flags_exit_2() {
    let s = spec("t", "image = \"UPPER/Case:tag\"\n[[test]]\nname = \"t\"\n");
    let r = run(&["run", s.path()]);
    assert_eq!(r.code, 2, "{}", r.explain());
    let r = run(&["run", "--platform", "arm64", s.path()]);
    assert_eq!(r.code, 2, "{}", r.explain());
    assert!(r.stderr.contains("linux/arm64"), "{}", r.explain());
    let r = run(&["run", "/nonexistent/spec.toml"]);
    assert_eq!(r.code, 2, "{}", r.explain());
}

#[test]
fn same_output_shows_what_qemu_makes_visible_as_a_per_platform_diff() {
    // /proc/cpuinfo describes the host CPU even under QEMU, so its x86 `vendor_id` key appears on
    // every platform; `uname -m` differs, and linux/386 on an amd64 engine says x86_64, not i686.
    let text = format!(
        r#"
image = "{}"
platforms = ["linux/amd64", "linux/386", "linux/arm64"]
[[test]]
name = "cpu"
command = ["sh", "-c", "grep -m1 -o '^vendor_id' /proc/cpuinfo; uname -m"]
same_output = true
"#,
        image("multi")
    );
    let s = spec("same", &text);
    let r = run(&["run", s.path()]);
    assert_eq!(r.code, 1, "{}", r.explain());
    assert!(
        r.row("linux/386").trim_end().ends_with("ok"),
        "386 reports x86_64: {}",
        r.explain()
    );
    assert!(
        r.row("linux/arm64").trim_end().ends_with("FAIL"),
        "{}",
        r.explain()
    );
    assert!(
        r.stdout.contains("stdout differs from linux/amd64"),
        "{}",
        r.explain()
    );
    assert!(r.stdout.contains("+++ linux/arm64"), "{}", r.explain());
    assert!(
        r.stdout.contains("-x86_64\n") && r.stdout.contains("+aarch64\n"),
        "{}",
        r.explain()
    );
    assert!(
        r.stdout.contains(" vendor_id\n"),
        "host CPU visible under QEMU: {}",
        r.explain()
    );
    assert!(
        r.stdout
            .contains("failed only under emulation (passed natively): cpu on linux/arm64"),
        "{}",
        r.explain()
    );
}
