//! End to end: safe container defaults, privileged containers only on request, and secrets that
//! reach the container but no output, report or log.

mod common;

use common::{image, labelled_containers, run, spec};

#[test]
fn test_containers_are_confined_by_default() {
    let s = spec(
        "confined",
        &format!(
            r#"
image = "{}"
platforms = ["linux/amd64"]
[[test]]
name = "confined"
command = ["sh", "-c", "grep NoNewPrivs /proc/self/status; ls /sys/class/net; mount -t tmpfs none /mnt 2>/dev/null && echo MOUNTED; true"]
stdout_matches = ['NoNewPrivs:\s+1', '^lo$']
stdout_excludes = ["MOUNTED", "eth0"]
"#,
            image("multi")
        ),
    );
    let r = run(&["run", s.path()]);
    assert_eq!(r.code, 0, "{}", r.explain());
}

fn privileged_spec() -> common::SpecFile {
    spec(
        "privileged",
        &format!(
            r#"
image = "{}"
platforms = ["linux/amd64"]
[[test]]
name = "mounts"
privileged = true
command = ["sh", "-c", "mount -t tmpfs none /mnt && echo MOUNTED"]
stdout = "MOUNTED\n"
"#,
            image("multi")
        ),
    )
}

#[test]
fn privileged_is_refused_at_load_unless_the_command_line_allows_it() {
    let s = privileged_spec();
    let r = run(&["run", s.path()]);
    assert_eq!(r.code, 2, "{}", r.explain());
    assert!(r.stderr.contains("--allow-privileged"), "{}", r.explain());
    assert!(r.stderr.contains("privileged.toml:6:14"), "{}", r.explain());
    // Allowed, the engine is asked for a privileged container: the mount works (exit 0), or an
    // engine that itself runs confined (as on the sandboxed CI machine) refuses to grant every
    // capability. Unprivileged, the container would start and the mount fail (exit 1).
    let r = run(&["run", s.path(), "--allow-privileged"]);
    let engine_refused = r.code == 3 && r.stdout.contains("unable to apply caps");
    assert!(r.code == 0 || engine_refused, "{}", r.explain());
}

#[test]
fn secrets_and_registry_credentials_appear_in_no_output() {
    const TOKEN: &str = "tok-3f9a1c-planted-secret";
    let fixtures: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(common::testbed_dir().join("fixtures.json"))
            .expect("fixtures.json: run `sudo tests/testbed/up.sh`"),
    )
    .expect("fixtures.json parses");
    let auth = &fixtures["auth_registry"];
    let (host, user, password) = (
        auth["host"].as_str().expect("host"),
        auth["username"].as_str().expect("username"),
        auth["password"].as_str().expect("password"),
    );
    let s = spec(
        "secret",
        &format!(
            r#"
image = "{host}/{}:multi"
platforms = ["linux/amd64"]
[[test]]
name = "echoes"
secret_env = {{ TOKEN = "{TOKEN}" }}
command = ["sh", "-c", "echo token=$TOKEN; echo err=$TOKEN >&2; exit 3"]
stdout = "something else"
stderr_contains = "nothing like it"
"#,
            common::REPO
        ),
    );
    let config = s.dir.path().join("docker");
    std::fs::create_dir(&config).expect("config dir");
    let basic = base64(&format!("{user}:{password}"));
    std::fs::write(
        config.join("config.json"),
        format!(r#"{{"auths":{{"{host}":{{"auth":"{basic}"}}}}}}"#),
    )
    .expect("docker config");
    let json = s.dir.path().join("report.json");
    let junit = s.dir.path().join("junit.xml");
    let out = common::archsmoke()
        .env("DOCKER_CONFIG", &config)
        .args([
            "-vvv",
            "run",
            s.path(),
            "--json",
            json.to_str().expect("utf-8"),
            "--junit",
            junit.to_str().expect("utf-8"),
        ])
        .output()
        .expect("archsmoke runs");
    let r = common::Run::from(out);
    // The test fails on purpose: its mismatch text is where a leak would be.
    assert_eq!(r.code, 1, "{}", r.explain());
    let json = std::fs::read_to_string(&json).expect("json written");
    let junit = std::fs::read_to_string(&junit).expect("junit written");
    // The value reached the container: the output held it, masked.
    assert!(json.contains("token=[REDACTED]"), "{json}");
    assert!(json.contains("err=[REDACTED]"), "{json}");
    for (what, text) in [
        ("stdout", &r.stdout),
        ("stderr (-vvv)", &r.stderr),
        ("JSON", &json),
        ("JUnit", &junit),
    ] {
        for secret in [TOKEN, password, basic.as_str()] {
            assert!(
                !text.contains(secret),
                "{what} contains the secret {secret}"
            );
        }
    }
    assert!(labelled_containers(Some(&r.run_id())).is_empty());
}

#[test]
fn a_secret_cut_by_the_output_limit_leaves_no_readable_part() {
    const TOKEN: &str = "cut-secret-7b1e5a";
    // A 1 KiB limit keeps 512 bytes of head and 512 of tail. 505 + 17 + 600 + 17 + 504 bytes:
    // the head ends 7 bytes into the first secret, the tail starts 9 bytes into the second.
    let s = spec(
        "cut",
        &format!(
            r#"
image = "{}"
platforms = ["linux/amd64"]
[settings]
output_limit = "1KiB"
[[test]]
name = "cut"
secret_env = {{ TOKEN = "{TOKEN}" }}
command = ["sh", "-c", "head -c 505 /dev/zero | tr '\\0' x; printf '%s' \"$TOKEN\"; head -c 600 /dev/zero | tr '\\0' x; printf '%s' \"$TOKEN\"; head -c 504 /dev/zero | tr '\\0' x"]
stdout = "something else"
"#,
            image("multi")
        ),
    );
    let json = s.dir.path().join("report.json");
    let junit = s.dir.path().join("junit.xml");
    let r = run(&[
        "run",
        s.path(),
        "--json",
        json.to_str().expect("utf-8"),
        "--junit",
        junit.to_str().expect("utf-8"),
    ]);
    assert_eq!(r.code, 1, "{}", r.explain());
    let report = common::json_report(&json);
    let t = &report["platforms"][0]["tests"][0];
    assert_eq!(t["stdout_dropped_bytes"], 1643 - 1024, "{t:#}");
    let head = t["stdout_head"].as_str().expect("stdout_head");
    assert!(head.ends_with("xxx[REDACTED]"), "{head}");
    let stdout = t["stdout"].as_str().expect("stdout");
    assert!(stdout.starts_with("[REDACTED]xxx"), "{stdout}");
    let junit = std::fs::read_to_string(&junit).expect("junit");
    for (what, text) in [
        ("stdout", r.stdout.as_str()),
        ("JSON", &report.to_string()),
        ("JUnit", &junit),
    ] {
        for piece in ["cut-sec", "7b1e5a"] {
            assert!(
                !text.contains(piece),
                "{what} shows {piece:?} of the secret"
            );
        }
    }
}

fn base64(text: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in text.as_bytes().chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
