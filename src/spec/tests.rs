use super::*;
use crate::range::IntRange;

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
    assert_eq!(
        failing.expect_for(&p("linux/amd64")).exit_code,
        IntRange::exactly(3)
    );
}

#[test]
fn defaults_apply() {
    let spec = parse_str("[[test]]\nname = \"t\"\n").expect("valid");
    assert_eq!(spec.settings, Settings::default());
    assert!(spec.image.is_none() && spec.platforms.is_none());
    let e = spec.tests[0].expect_for(&p("linux/amd64"));
    assert_eq!(e.exit_code, IntRange::exactly(0));
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

#[test]
fn output_limit_sizes() {
    let spec =
        parse_str("[settings]\noutput_limit = \"64KiB\"\n[[test]]\nname = \"t\"\n").expect("valid");
    assert_eq!(spec.settings.output_limit, Some(64 * 1024));
    assert_eq!(parse_size("1MiB"), Some(1 << 20));
    assert_eq!(parse_size("2 MB"), Some(2_000_000));
    assert_eq!(parse_size("4096"), Some(4096));
    assert_eq!(parse_size("99999999999999999999GiB"), None);
    assert_eq!(parse_size("18446744073709551615GiB"), None);
    assert_eq!(parse_size("1 parsec"), None);
    assert_eq!(parse_size(""), None);
    for bad in ["\"1TiB\"", "\"10\"", "\"lots\"", "\"-1MiB\""] {
        let e = err(&format!(
            "[settings]\noutput_limit = {bad}\n[[test]]\nname = \"t\"\n"
        ));
        assert_eq!(e.line, 2, "{bad}: {e}");
    }
}

#[test]
fn huge_values_are_errors_not_overflows() {
    for text in [
        "[settings]\ntimeout = \"18446744073709551615s\"\n[[test]]\nname = \"t\"\n",
        "[settings]\ntimeout = \"1000000h\"\n[[test]]\nname = \"t\"\n",
        "[settings]\njobs = 9223372036854775807\n[[test]]\nname = \"t\"\n",
        "[settings]\nemulated_timeout_factor = inf\n[[test]]\nname = \"t\"\n",
        "[settings]\nemulated_timeout_factor = nan\n[[test]]\nname = \"t\"\n",
        "[[test]]\nname = \"t\"\nexit_code = -9223372036854775808\n",
    ] {
        let e = err(text);
        assert!((2..=3).contains(&e.line), "{text}: {e}");
    }
    // The longest timeout times the largest factor still fits a Duration.
    let spec = parse_str(
        "[settings]\ntimeout = \"24h\"\nemulated_timeout_factor = 1000\n[[test]]\nname = \"t\"\n",
    )
    .expect("valid");
    let _ = spec
        .settings
        .timeout
        .mul_f64(spec.settings.emulated_timeout_factor);
}

#[test]
fn privileged_is_recorded_and_refused_unless_allowed() {
    let spec = parse_str("[[test]]\nname = \"t\"\n").expect("valid");
    assert!(spec.check_privileged(false).is_ok());
    let spec = parse_str("[[test]]\nname = \"a\"\n[[test]]\nname = \"t\"\nprivileged = true\n")
        .expect("valid");
    assert!(spec.tests[1].privileged && !spec.tests[0].privileged);
    let e = spec.check_privileged(false).expect_err("refused");
    assert_eq!((e.line, e.column), (5, 14), "{e}");
    assert!(spec.check_privileged(true).is_ok());
    let spec = parse_str("[settings]\nprivileged = true\n[[test]]\nname = \"t\"\n").expect("valid");
    assert!(spec.tests[0].privileged);
    assert_eq!(spec.check_privileged(false).expect_err("refused").line, 2);
}

#[test]
fn mounts_and_added_capabilities_are_gated_like_privileged() {
    let spec = parse_str(
        "[[test]]\nname = \"t\"\nmounts = [\"/etc/os-release:/host-os:ro\"]\ncap_add = [\"net_admin\"]\n",
    )
    .expect("valid");
    assert_eq!(spec.tests[0].host.binds, ["/etc/os-release:/host-os:ro"]);
    assert_eq!(spec.tests[0].host.cap_add, ["CAP_NET_ADMIN"]);
    let e = spec.check_privileged(false).expect_err("refused");
    assert_eq!((e.line, e.column), (3, 10), "{e}");
    assert!(e.message.contains("mounts host paths"), "{e}");
    assert!(spec.check_privileged(true).is_ok());
    let caps = parse_str("[[test]]\nname = \"t\"\ncap_add = [\"SYS_ADMIN\"]\n").expect("valid");
    assert!(
        caps.check_privileged(false)
            .expect_err("refused")
            .message
            .contains("adds capabilities")
    );
    let e = err("[[test]]\nname = \"t\"\nmounts = [\"relative:/x\"]\n");
    assert!(e.message.contains("bad mount `relative:/x`"), "{e}");
    let e = err("[[test]]\nname = \"t\"\ncap_add = [\"not a cap\"]\n");
    assert!(e.message.contains("is not a capability"), "{e}");
}

#[test]
fn secret_env_is_kept_apart_and_checked() {
    let spec = parse_str(
        "[[test]]\nname = \"t\"\nenv = { A = \"1\" }\nsecret_env = { TOKEN = \"s3cret-value\" }\n",
    )
    .expect("valid");
    assert_eq!(spec.secrets().collect::<Vec<_>>(), ["s3cret-value"]);
    assert!(!spec.tests[0].env.contains_key("TOKEN"));
    let e = err("[[test]]\nname = \"t\"\nsecret_env = { T = \"abc\" }\n");
    assert!(e.message.contains("shorter"), "{e}");
    let e = err("[[test]]\nname = \"t\"\nenv = { T = \"x\" }\nsecret_env = { T = \"abcdef\" }\n");
    assert!(e.message.contains("both"), "{e}");
}

#[test]
fn hostile_text_never_panics() {
    for text in [
        "",
        "\u{0}",
        "[[test]]\nname = \"\u{1F600}\"\nstdout_matches = \"\u{1F600}(\"\n",
        "[[test]]\nname = \"t\"\nstdout_matches = \"\\\\p{Greek}{1000}{1000}\"\n",
        "a = [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
        "[test]\nname = 1\n",
        "[[test]]\nname = \"t\"\nper_platform = 3\n",
        "[[test]]\nname = \"t\"\nstdout_contains = [1, 2]\n",
        "é = \"\u{301}\"\n",
    ] {
        assert!(parse_str(text).is_err(), "{text:?} should be rejected");
    }
    let nested = format!("x = {}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(parse_str(&nested).is_err());
}

fn all_errors(text: &str) -> Vec<SpecError> {
    super::parse_all(Path::new("smoke.toml"), text).expect_err("invalid spec")
}

#[test]
fn every_problem_is_reported_in_file_order_type_errors_and_validation_alike() {
    let errors = all_errors(
        r#"image = "127.0.0.1:5000/app:1"

[[test]]
name = "one"
command = "uname -m"

[[test]]
name = "two"
command = ["true"]
timeout = "soon"

[[test]]
name = "three"
command = ["true"]
colour = "red"

[[file]]
path = "/bin/sh"
mode = "rwx"
"#,
    );
    let at: Vec<(usize, &str)> = errors
        .iter()
        .map(|e| (e.line, e.message.as_str()))
        .collect();
    assert_eq!(errors.len(), 4, "{at:#?}");
    assert_eq!(errors[0].line, 5, "{at:#?}");
    assert!(
        errors[0]
            .hint
            .as_deref()
            .is_some_and(|h| h.contains("[\"uname\", \"-m\"]")),
        "{:?}",
        errors[0]
    );
    assert_eq!(errors[1].line, 10, "{at:#?}");
    assert_eq!(errors[2].line, 15, "{at:#?}");
    assert!(errors[2].message.contains("colour"), "{at:#?}");
    assert_eq!(errors[3].line, 19, "{at:#?}");
    let shown = super::error::all(&errors);
    assert!(shown.ends_with("4 problems"), "{shown}");
}

#[test]
fn a_blanked_table_takes_its_subtables_and_keeps_every_offset() {
    let text = "[[test]]\nname = \"é\"\n[test.expect]\nexit_code = 1\n[[test]]\nname = \"b\"\n";
    let blanked = super::blank_table(text, 12).expect("something to blank");
    assert_eq!(blanked.len(), text.len());
    assert!(blanked.starts_with("        \n"), "{blanked:?}");
    assert!(blanked.ends_with("[[test]]\nname = \"b\"\n"), "{blanked:?}");
    assert!(!blanked.contains("expect"), "{blanked:?}");
}

#[test]
fn at_most_the_bound_is_reported() {
    let mut text = String::from("image = \"x:1\"\n");
    for i in 0..30 {
        text.push_str(&format!("[[test]]\nname = \"t{i}\"\ncommand = \"true\"\n"));
    }
    let errors = all_errors(&text);
    assert_eq!(errors.len(), super::MAX_ERRORS);
    assert!(super::error::all(&errors).contains("there may be more"));
}

#[test]
fn results_know_the_line_that_declares_them() {
    let spec = parse_str(
        r#"image = "x:1"

[[test]]
name = "version"
command = ["app", "--version"]

[[file]]
path = "/bin/app"
"#,
    )
    .expect("valid");
    assert_eq!(spec.lines.get("version"), Some(&4));
    assert_eq!(spec.lines.get("file /bin/app"), Some(&7));
}

#[test]
fn every_wrong_key_of_one_table_is_reported_not_only_the_first() {
    // Issue 28: `stdot`, `exit_cod` and `timeout = "fast"` in one table gave one problem.
    let errors = all_errors(
        r#"image = "x:1"

[[test]]
name = "one"
command = ["true"]
stdot = "x"
exit_cod = 0
timeout = "fast"
"#,
    );
    let at: Vec<(usize, &str)> = errors
        .iter()
        .map(|e| (e.line, e.message.as_str()))
        .collect();
    assert_eq!(
        at.iter().map(|(l, _)| *l).collect::<Vec<_>>(),
        [6, 7, 8],
        "{at:#?}"
    );
    assert!(errors[0].message.contains("stdot"), "{at:#?}");
    assert_eq!(errors[0].hint.as_deref(), Some("did you mean `stdout`?"));
    assert!(errors[1].message.contains("exit_cod"), "{at:#?}");
}

/// Issue 28: six problems in three tables (`timout`, `exit_code = "0"`, `"linux/arm46"`, ...)
/// came out three per round, one per table.
#[test]
fn seven_problems_in_four_tables_are_seven_problems_in_one_round() {
    let errors = all_errors(
        r#"image = "x:1"
platforms = ["linux/amd64", "linux/arm46"]

[settings]
timout = "20s"
jobs = "many"

[[test]]
name = "one"
command = ["true"]
exit_code = "0"
stdot = "x"

[[test]]
name = "two"
command = ["true"]
timeout = "fast"
exti_code = 1
"#,
    );
    let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
    assert_eq!(
        lines,
        [2, 5, 6, 11, 12, 17, 18],
        "{:#?}",
        errors
            .iter()
            .map(|e| (e.line, &e.message))
            .collect::<Vec<_>>()
    );
}

#[test]
fn a_required_key_blanked_for_its_type_error_is_not_reported_missing() {
    let errors =
        all_errors("image = \"x:1\"\n[[test]]\nname = \"a\"\ncommand = 1\nstdot = \"x\"\n");
    let messages: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
    assert!(
        !messages.iter().any(|m| m.contains("missing field")),
        "{messages:?}"
    );
    assert_eq!(errors.len(), 2, "{messages:?}");
}

#[test]
fn meta_tables_name_results_as_reports_do() {
    let spec = parse_str(
        "[service]\n[[test]]\nname = \"t\"\ncommand = [\"x\"]\n[[probe]]\nname = \"p\"\ntcp = 80\n\
         [meta.t]\nowner = \"web\"\n[meta.\"probe p\"]\nlevel = 2\n",
    )
    .expect("valid");
    assert_eq!(spec.meta["t"], serde_json::json!({"owner": "web"}));
    assert_eq!(spec.meta["probe p"], serde_json::json!({"level": 2}));
    let e = err("[[test]]\nname = \"uname\"\n[meta.unmae]\nx = 1\n");
    assert!(e.message.contains("no result is named `unmae`"), "{e}");
    assert_eq!(e.hint.as_deref(), Some("did you mean `uname`?"));
}

/// Issue 30: every number the spec matches takes an integer or a range, one shape everywhere.
#[test]
fn number_keys_take_an_integer_or_a_range_everywhere() {
    let spec = parse_str(
        r#"
[[test]]
name = "t"
command = ["true"]
exit_code = { lt = 2 }
[test.per_platform."linux/arm64"]
exit_code = { ge = 1, le = 3 }

[[file]]
path = "/bin/busybox"
size = { gt = 100 }
uid = { le = 999 }
gid = 0

[service]
[service.ready]
http = { port = 8080, status = { ge = 200, lt = 400 } }

[[probe]]
name = "page"
http = { port = 8080, status = { lt = 500 } }

[[process]]
name = "workers"
command_matches = "httpd"
count = { ge = 2 }
"#,
    )
    .expect("valid");
    let t = &spec.tests[0];
    assert_eq!(t.expect_for(&p("linux/amd64")).exit_code.to_string(), "< 2");
    assert_eq!(
        t.expect_for(&p("linux/arm64")).exit_code.to_string(),
        ">= 1 and <= 3"
    );
    let f = &spec.files[0];
    assert_eq!(f.size.expect("size").to_string(), "> 100");
    assert_eq!(f.uid.expect("uid").to_string(), "<= 999");
    assert_eq!(f.gid, Some(IntRange::exactly(0)));
    let service = spec.service.as_ref().expect("service");
    let ready = service.ready.http.as_ref().expect("ready http");
    assert!(ready.status.contains(399) && !ready.status.contains(400));
    match &service.probes[0].kind {
        ProbeKind::Http { request, .. } => assert_eq!(request.status.to_string(), "< 500"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        service.processes[0].count.expect("count").to_string(),
        ">= 2"
    );
}

#[test]
fn a_range_that_cannot_match_is_a_positioned_error_that_says_why() {
    let cases: [(&str, &str, (usize, usize)); 9] = [
        (
            "[[test]]\nname = \"t\"\nexit_code = { lt = 1, gt = 5 }\n",
            "`exit_code` can never match: no number is > 5 and < 1",
            (3, 13),
        ),
        (
            "[[test]]\nname = \"t\"\nexit_code = { gt = 255 }\n",
            "`exit_code` > 255 can never happen",
            (3, 13),
        ),
        (
            "[[test]]\nname = \"t\"\nexit_code = { gt = 1, ge = 2 }\n",
            "`exit_code` has two bounds from below",
            (3, 13),
        ),
        (
            "[[test]]\nname = \"t\"\nexit_code = {}\n",
            "`exit_code` is an empty range",
            (3, 13),
        ),
        (
            "[[file]]\npath = \"/x\"\nsize = { lt = 0 }\n",
            "`size` < 0 can never happen",
            (3, 8),
        ),
        (
            "[[file]]\npath = \"/x\"\nuid = -1\n",
            "uid -1 can never happen",
            (3, 7),
        ),
        (
            "[[file]]\npath = \"/x\"\nsize = { gte = 1 }\n",
            "unknown key `gte`",
            (3, 8),
        ),
        (
            "[[file]]\npath = \"/x\"\nsize = 1.5\n",
            "a whole number, or a range",
            (3, 8),
        ),
        (
            "[service]\n[[probe]]\nname = \"p\"\nhttp = { port = 80, status = { ge = 600 } }\n",
            "`status` >= 600 can never happen",
            (4, 30),
        ),
    ];
    for (text, message, at) in cases {
        let e = err(text);
        assert!(e.message.contains(message), "{text}: {e}");
        assert_eq!((e.line, e.column), at, "{text}: {e}");
    }
}
