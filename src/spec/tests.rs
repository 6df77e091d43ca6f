use super::*;

fn parse_str(text: &str) -> Result<Spec, SpecError> {
    parse(Path::new("smoke.toml"), text)
}

fn p(s: &str) -> Platform {
    Platform::parse(s).expect("valid platform")
}

const FULL: &str = r#"
image = "127.0.0.1:5000/archsmoke/busybox:multi"
platforms = ["linux/amd64", "linux/arm64", "linux/arm/v7"]

[settings]
timeout = "5s"
emulated_timeout_factor = 4
jobs = 3
network = "bridge"
variant_match = "compatible"

[[test]]
name = "arch"
command = ["uname", "-m"]
env = { A = "1" }
stdout = "x86_64\n"
stderr_excludes = "warning"
timeout = "750ms"

[test.per_platform."linux/arm64"]
stdout = "aarch64\n"

[test.per_platform."linux/arm/v7"]
stdout = "armv7l\n"
exit_code = 0

[[test]]
name = "fails on purpose"
command = ["sh", "-c", "exit 3"]
exit_code = 3
stdout_matches = ["^$"]
platforms = ["linux/amd64"]
"#;

#[test]
fn a_full_spec_validates() {
    let spec = parse_str(FULL).expect("valid spec");
    assert_eq!(spec.name, "smoke");
    assert_eq!(spec.platforms.as_ref().map(Vec::len), Some(3));
    assert_eq!(spec.settings.timeout, Duration::from_secs(5));
    assert_eq!(spec.settings.emulated_timeout_factor, 4.0);
    assert_eq!(spec.settings.jobs, Some(3));
    assert_eq!(spec.settings.network, "bridge");
    assert_eq!(spec.settings.variant_match, MatchMode::Compatible);
    let arch = &spec.tests[0];
    assert_eq!(arch.timeout, Some(Duration::from_millis(750)));
    assert_eq!(arch.env.get("A").map(String::as_str), Some("1"));
    let amd = arch.expect_for(&p("linux/amd64"));
    assert_eq!(amd.stdout.exact.as_deref(), Some("x86_64\n"));
    let arm = arch.expect_for(&p("linux/arm64"));
    assert_eq!(arm.stdout.exact.as_deref(), Some("aarch64\n"));
    // An override replaces only the keys it names.
    assert_eq!(arm.stderr.excludes, vec!["warning".to_owned()]);
    let failing = &spec.tests[1];
    assert!(failing.runs_on(&p("linux/amd64")));
    assert!(!failing.runs_on(&p("linux/arm64")));
    assert_eq!(failing.expect_for(&p("linux/amd64")).exit_code, 3);
}

#[test]
fn defaults_apply() {
    let spec = parse_str("[[test]]\nname = \"t\"\n").expect("valid");
    assert_eq!(spec.settings, Settings::default());
    assert!(spec.image.is_none() && spec.platforms.is_none());
    let e = spec.tests[0].expect_for(&p("linux/amd64"));
    assert_eq!(e.exit_code, 0);
    assert!(e.stdout.exact.is_none());
}

fn err(text: &str) -> SpecError {
    parse_str(text).expect_err("spec must be rejected")
}

#[test]
fn unknown_key_names_line_column_and_suggestion() {
    let e = err("[settings]\ntimeot = \"5s\"\n\n[[test]]\nname = \"t\"\n");
    assert_eq!((e.line, e.column), (2, 1), "{e}");
    assert!(e.message.contains("unknown key `timeot`"), "{e}");
    assert_eq!(e.hint.as_deref(), Some("did you mean `timeout`?"));
}

#[test]
fn unknown_key_in_a_test_and_in_per_platform() {
    let e = err("[[test]]\nname = \"t\"\nstdot = \"x\"\n");
    assert_eq!(e.line, 3, "{e}");
    assert_eq!(e.hint.as_deref(), Some("did you mean `stdout`?"));
    let e = err("[[test]]\nname = \"t\"\n[test.per_platform.\"linux/arm64\"]\nexit_cod = 1\n");
    assert_eq!(e.line, 4, "{e}");
    assert_eq!(e.hint.as_deref(), Some("did you mean `exit_code`?"));
}

#[test]
fn bad_values_point_at_the_value() {
    let e = err("[settings]\ntimeout = \"5 parsecs\"\n[[test]]\nname = \"t\"\n");
    assert_eq!((e.line, e.column), (2, 11), "{e}");
    assert!(e.message.contains("bad duration"), "{e}");

    let e = err("platforms = [\"linux/amd64\", \"arm64\"]\n[[test]]\nname = \"t\"\n");
    assert_eq!((e.line, e.column), (1, 29), "{e}");

    let e = err("[[test]]\nname = \"t\"\nstdout_matches = \"(unclosed\"\n");
    assert_eq!((e.line, e.column), (3, 18), "{e}");
    assert!(e.message.contains("bad regex"), "{e}");

    let e = err("[[test]]\nname = \"t\"\nexit_code = 300\n");
    assert_eq!(e.line, 3, "{e}");

    let e = err("[settings]\njobs = 0\n[[test]]\nname = \"t\"\n");
    assert_eq!(e.line, 2, "{e}");

    let e = err("[settings]\nvariant_match = \"loose\"\n[[test]]\nname = \"t\"\n");
    assert!(e.message.contains("loose"), "{e}");
}

#[test]
fn wrong_types_and_broken_toml_are_positioned() {
    let e = err("[settings]\njobs = \"four\"\n[[test]]\nname = \"t\"\n");
    assert_eq!(e.line, 2, "{e}");
    let e = err("[[test]]\nname = \"t\"\ncommand = [\"sh\"\n");
    assert!(e.line >= 3, "{e}");
}

#[test]
fn structural_mistakes() {
    let e = err("image = \"x\"\n");
    assert!(e.message.contains("nothing to check"), "{e}");
    let e = err("[[test]]\nname = \"t\"\n[[test]]\nname = \"t\"\n");
    assert!(e.message.contains("duplicate test name"), "{e}");
    assert_eq!(e.line, 4);
    let e = err(
        "platforms = [\"linux/amd64\"]\n[[test]]\nname = \"t\"\n[test.per_platform.\"linux/s390x\"]\nexit_code = 1\n",
    );
    assert!(e.message.contains("not among"), "{e}");
    let e = err("[[test]]\nname = \"t\"\ncommand = []\n");
    assert!(e.message.contains("empty `command`"), "{e}");
}

#[test]
fn regex_size_is_limited() {
    let e = err("[[test]]\nname = \"t\"\nstdout_matches = \"(a{1000}){1000}\"\n");
    assert!(e.message.contains("bad regex"), "{e}");
}

#[test]
fn exec_isolation_needs_a_keepalive_and_commands() {
    let spec = parse_str(
        "[settings]\nisolation = \"exec\"\nexec_keepalive = [\"sleep\", \"infinity\"]\n\
         [[test]]\nname = \"t\"\ncommand = [\"true\"]\n",
    )
    .expect("valid exec spec");
    assert_eq!(spec.settings.isolation, Isolation::Exec);
    assert_eq!(
        spec.exec_keepalive().expect("keepalive"),
        vec!["sleep".to_owned(), "infinity".to_owned()]
    );

    let e = err("[settings]\nisolation = \"exec\"\n[[test]]\nname = \"t\"\ncommand = [\"true\"]\n");
    assert_eq!((e.line, e.column), (2, 13), "{e}");
    assert!(e.message.contains("exec_keepalive"), "{e}");

    let e = err(
        "[settings]\nisolation = \"exec\"\nexec_keepalive = [\"sleep\", \"1d\"]\n\
         [[test]]\nname = \"default cmd\"\n",
    );
    assert!(e.message.contains("`default cmd` has no `command`"), "{e}");

    let e = err("[settings]\nexec_keepalive = []\n[[test]]\nname = \"t\"\n");
    assert_eq!(e.line, 2, "{e}");
    let e = err("[settings]\nisolation = \"vm\"\n[[test]]\nname = \"t\"\n");
    assert!(e.message.contains("unknown isolation `vm`"), "{e}");
}

#[test]
fn container_isolation_is_the_default_and_ignores_the_keepalive_checks() {
    let spec = parse_str("[[test]]\nname = \"image default\"\n").expect("valid");
    assert_eq!(spec.settings.isolation, Isolation::Container);
    assert!(spec.exec_keepalive().is_err());
}
