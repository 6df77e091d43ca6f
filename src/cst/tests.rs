use std::path::Path;

use super::*;

fn conv(text: &str) -> Result<String, Vec<SpecError>> {
    let path = Path::new("c.yaml");
    let t = translate(path, text)?;
    spec::parse(path, &t.toml).map_err(|e| vec![e])?;
    Ok(t.toml)
}

fn errors(text: &str) -> Vec<String> {
    conv(text)
        .expect_err("invalid")
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn a_command_test_translates_with_cst_semantics() {
    let toml = conv(
        "schemaVersion: 2.0.0\nglobalEnvVars:\n  - key: PATH\n    value: /x:$PATH\n\
         commandTests:\n  - name: echo\n    command: sh\n    args: [-c, 'echo $HOME']\n\
         \x20   expectedOutput: ['hi$']\n    excludedError: [boom]\n",
    )
    .expect("valid");
    for needle in [
        "name = \"Command Test: echo\"",
        "entrypoint = []",
        "command = [\"sh\", \"-c\", \"echo $HOME\"]",
        "expand_command = true",
        "env_expand = { PATH = \"/x:$PATH\" }",
        "exit_code = 0",
        "stdout_matches = [\"(?-m)hi$\"]",
        "stderr_not_matches = [\"(?-m)boom\"]",
    ] {
        assert!(toml.contains(needle), "{needle} in\n{toml}");
    }
}

#[test]
fn unknown_keys_are_positioned_with_a_suggestion() {
    let e = errors(
        "schemaVersion: 2.0.0\ncommandTests:\n  - name: a\n    command: ls\n    exitcode: 1\n",
    );
    assert!(
        e[0].starts_with("c.yaml:5:5: unknown key `exitcode`"),
        "{e:?}"
    );
    assert!(e[0].contains("did you mean `exitCode`?"), "{e:?}");
}

#[test]
fn every_problem_is_reported() {
    let e = errors(
        "schemaVersion: 2.0.0\ncommandTests:\n  - name: a\n    command: ls\n    expectedOutput: ['(']\n\
         fileExistenceTests:\n  - name: f\n    path: bin\n  - name: g\n    path: /x\n    permissions: rwx\n",
    );
    assert_eq!(e.len(), 3, "{e:?}");
    assert!(e[0].contains("c.yaml:5:22: bad regex"), "{e:?}");
    assert!(
        e[1].contains("c.yaml:8:11: `bin` is not an absolute path"),
        "{e:?}"
    );
    assert!(e[2].contains("c.yaml:11:18: bad permissions"), "{e:?}");
}

#[test]
fn schema_versions_and_command_forms() {
    assert!(errors("schemaVersion: 3.0.0\n")[0].contains("unsupported schemaVersion `3.0.0`"));
    let v1 = conv("schemaVersion: 1.0.0\ncommandTests:\n  - name: a\n    command: [echo, hi]\n")
        .expect("v1 argv");
    assert!(v1.contains("command = [\"echo\", \"hi\"]"), "{v1}");
    assert!(
        errors("schemaVersion: 2.0.0\ncommandTests:\n  - name: a\n    command: [echo]\n")[0]
            .contains("is a string")
    );
    assert!(
        errors("schemaVersion: 1.0.0\nmetadataTest:\n  cmd: []\n")[0]
            .contains("not part of schema 1.0.0")
    );
}

#[test]
fn files_and_metadata_translate() {
    let toml = conv(
        "schemaVersion: 2.0.0\nfileExistenceTests:\n  - name: sh\n    path: /bin/sh\n    permissions: Lrwxrwxrwx\n    uid: 0\n    isExecutableBy: any\n\
         \x20 - name: gone\n    path: /nope\n    shouldExist: false\n    permissions: -rw-r--r--\n\
         fileContentTests:\n  - name: passwd\n    path: /etc/passwd\n    expectedContents: ['^root:']\n\
         metadataTest:\n  envVars:\n    - key: PATH\n      value: /bin\n  labels:\n    - key: a\n      value: 'b.*'\n      isRegex: true\n\
         \x20 exposedPorts: [8080]\n  unexposedPorts: ['22']\n  cmd: []\n  workdir: ''\n",
    )
    .expect("valid");
    for needle in [
        "follow = false",
        "permissions = \"Lrwxrwxrwx\"",
        "uid = 0",
        "executable_by = \"any\"",
        "exists = false",
        "ignores them when shouldExist is false",
        "matches = [\"(?-m)^root:\"]",
        "env = { PATH = \"/bin\" }",
        "labels_matches = { a = \"(?-m)b.*\" }",
        "exposed_ports_include = [\"8080\"]",
        "unexposed_ports = [\"22\"]",
        "cmd = []",
    ] {
        assert!(toml.contains(needle), "{needle} in\n{toml}");
    }
    assert!(
        !toml.contains("workdir"),
        "an empty workdir is not checked by cst:\n{toml}"
    );
}

#[test]
fn bind_mounts_and_capabilities_need_the_flag_and_privileged_is_located() {
    let path = Path::new("c.yaml");
    let text = "schemaVersion: 2.0.0\ncontainerRunOptions:\n  bindMounts: [/a:/b]\n  \
                capabilities: [sys_admin]\ncommandTests:\n  - name: a\n    command: ls\n";
    let toml = conv(text).expect("valid");
    assert!(
        toml.contains("mounts = [\"/a:/b\"]\ncap_add = [\"sys_admin\"]"),
        "{toml}"
    );
    let spec = load(path, text).expect("valid");
    assert_eq!(spec.tests[0].host.binds, ["/a:/b"]);
    assert_eq!(spec.tests[0].host.cap_add, ["CAP_SYS_ADMIN"]);
    let refused = spec.check_privileged(false).expect_err("refused");
    assert!(
        refused
            .to_string()
            .starts_with("c.yaml:3:15: the config mounts host paths"),
        "{refused}"
    );
    assert!(spec.check_privileged(true).is_ok());
    let caps_only = "schemaVersion: 2.0.0\ncontainerRunOptions:\n  capabilities: [net_admin]\n\
                     commandTests:\n  - name: a\n    command: ls\n";
    let refused = load(path, caps_only)
        .expect("valid")
        .check_privileged(false);
    assert!(
        refused
            .expect_err("refused")
            .to_string()
            .starts_with("c.yaml:3:17: the config adds capabilities"),
    );
    let e = errors(
        "schemaVersion: 2.0.0\ncontainerRunOptions:\n  bindMounts: [a:/b]\ncommandTests:\n  - name: a\n    command: ls\n",
    );
    assert!(
        e[0].contains("c.yaml:3:15: containerRunOptions.bindMounts: bad mount `a:/b`"),
        "{e:?}"
    );
    let path = Path::new("p.yaml");
    let spec = load(path, "schemaVersion: 2.0.0\ncontainerRunOptions:\n  privileged: true\ncommandTests:\n  - name: a\n    command: ls\n")
        .expect("valid");
    let refused = spec.check_privileged(false).expect_err("refused");
    assert!(refused.to_string().starts_with("p.yaml:3:15:"), "{refused}");
    assert!(spec.check_privileged(true).is_ok());
}

#[test]
fn detection_by_extension_or_schema_version() {
    assert!(is_cst(Path::new("a.yaml"), ""));
    assert!(is_cst(Path::new("a.cfg"), "# x\nschemaVersion: '2.0.0'\n"));
    assert!(!is_cst(Path::new("a.toml"), "image = \"x\"\n"));
}

#[test]
fn hostile_yaml_is_an_error_not_a_panic() {
    for text in [
        "",
        "[1, 2]",
        "a: &x 1\nb: *x\n",
        "schemaVersion: 2.0.0\nschemaVersion: 2.0.0\n",
        "schemaVersion: 2.0.0\ncommandTests: 3\n",
        "\0\0",
        "schemaVersion: [\n",
    ] {
        assert!(conv(text).is_err(), "{text:?}");
    }
}

/// The regex a converted `expectedOutput` pattern compiles to, as archsmoke's spec does.
fn converted_regex(pattern: &str) -> regex::Regex {
    let text = format!(
        "schemaVersion: 2.0.0\ncommandTests:\n  - name: r\n    command: echo\n    expectedOutput: ['{}']\n",
        pattern.replace('\'', "''")
    );
    let toml = conv(&text).expect("valid");
    let line = toml
        .lines()
        .find(|l| l.starts_with("stdout_matches"))
        .expect("stdout_matches");
    let value: toml::Value = toml::from_str(line).expect("toml");
    let rewritten = value["stdout_matches"][0].as_str().expect("pattern");
    regex::Regex::new(rewritten).expect("compiles")
}

#[test]
fn perl_classes_and_word_boundaries_are_ascii_as_in_re2() {
    for (pattern, text, matches) in [
        (r"^\d", "\u{663}", false),
        (r"^\d$", "7", true),
        (r"^\D$", "\u{663}", true),
        (r"\w", "\u{3bb}", false),
        (r"^\W$", "\u{3bb}", true),
        (r"a\sb", "a\u{a0}b", false),
        (r"a\sb", "a\tb", true),
        (r"a\Sb", "a\u{a0}b", true),
        (r"\ba", "\u{e9}a", true),
        (r"\Ba", "\u{e9}a", false),
        (r"^[\d\s]+$", "\u{663}", false),
        (r"^[\d\s]+$", "1 2", true),
        (r"^[^\d]$", "\u{663}", true),
        (r"^[\D]$", "5", false),
        (r"^[a[]$", "[", true),
        (r"^[]a]+$", "]a", true),
        (r"^[[:digit:]x]+$", "1x", true),
        (r"\\d", r"\d", true),
        (r"\p{Greek}", "\u{3bb}", true),
    ] {
        assert_eq!(
            converted_regex(pattern).is_match(text),
            matches,
            "{pattern} on {text:?}"
        );
    }
}

fn toml_of(text: &str) -> String {
    conv(text).expect("valid")
}

#[test]
fn v1_global_variables_reach_only_tests_with_a_setup() {
    let toml = toml_of(
        "schemaVersion: 1.0.0\nglobalEnvVars:\n  - key: G\n    value: g\ncommandTests:\n\
         \x20 - name: plain\n    command: [env]\n\
         \x20 - name: setup\n    setup: [[\"true\"]]\n    command: [env]\n",
    );
    let (plain, setup) = toml
        .split_once("name = \"Command Test: setup\"")
        .expect("two");
    assert!(!plain.contains("G = "), "{toml}");
    assert!(setup.contains("env_expand = { G = \"g\" }"), "{toml}");
    // In schema 2.0.0 every test gets them, and they are in the expansion's scope.
    let toml = toml_of(
        "schemaVersion: 2.0.0\nglobalEnvVars:\n  - key: G\n    value: g\ncommandTests:\n\
         \x20 - name: plain\n    command: env\n",
    );
    assert!(toml.contains("env_expand = { G = \"g\" }"), "{toml}");
}

#[test]
fn a_setup_commits_the_tests_variables_for_expansion() {
    let toml = toml_of(
        "schemaVersion: 2.0.0\ncommandTests:\n\
         \x20 - name: s\n    setup: [[\"true\"]]\n    envVars: [{key: FOO, value: bar}]\n    command: echo\n    args: [$FOO]\n\
         \x20 - name: n\n    envVars: [{key: FOO, value: bar}]\n    command: echo\n    args: [$FOO]\n",
    );
    let (with_setup, without) = toml.split_once("name = \"Command Test: n\"").expect("two");
    assert!(
        with_setup.contains("env_expand = { FOO = \"bar\" }"),
        "{toml}"
    );
    assert!(without.contains("env = { FOO = \"bar\" }"), "{toml}");
    assert!(!without.contains("env_expand"), "{toml}");
}

#[test]
fn a_trailing_slash_follows_the_last_symlink() {
    let toml = toml_of(
        "schemaVersion: 2.0.0\nfileExistenceTests:\n  - name: d\n    path: /srv/dirlink/\n\
         \x20 - name: l\n    path: /srv/dirlink\n",
    );
    let (slash, plain) = toml
        .split_once("name = \"File Existence Test: l\"")
        .expect("two");
    assert!(slash.contains("follow = true"), "{toml}");
    assert!(plain.contains("follow = false"), "{toml}");
}

#[test]
fn yaml_1_1_as_cst_reads_it() {
    let toml = toml_of(
        "schemaVersion: 2.0.0\ncommandTests:\n  - name: a\n    command: printf\n    args: ['%s', ~, '~', null]\n\
         fileExistenceTests:\n  - name: f\n    path: /x\n    shouldExist: no\n",
    );
    assert!(
        toml.contains("command = [\"printf\", \"%s\", \"\", \"~\", \"\"]"),
        "{toml}"
    );
    assert!(toml.contains("exists = false"), "{toml}");
}

#[test]
fn tests_of_the_same_name_all_run() {
    let toml = toml_of(
        "schemaVersion: 2.0.0\ncommandTests:\n  - name: t\n    command: 'true'\n  - name: t\n    command: 'false'\n\
         licenseTests:\n  - files: [/a]\n  - files: [/b]\n",
    );
    for name in [
        "\"Command Test: t\"",
        "\"Command Test: t #2\"",
        "\"License Test\"",
        "\"License Test #2\"",
    ] {
        assert!(
            toml.contains(&format!("name = {name}\n")),
            "{name} in {toml}"
        );
    }
}

#[test]
fn a_control_character_in_a_name_is_positioned() {
    let e = errors("schemaVersion: 2.0.0\ncommandTests:\n  - name: \"a\\nb\"\n    command: ls\n");
    assert!(
        e[0].starts_with(
            "c.yaml:3:11: the test name contains the character '\\n' (a control character)"
        ),
        "{e:?}"
    );
    assert!(!e.iter().any(|e| e.contains("bug")), "{e:?}");
}

#[test]
fn an_empty_key_is_positioned_at_its_colon_and_does_not_hang() {
    // Found by the `cst` fuzz target (fuzz/findings/cst-timeout.yaml): the key finder looked
    // for the empty string forever.
    let text = include_str!("../../fuzz/findings/cst-timeout.yaml")
        .strip_prefix('\0')
        .expect("the fuzz input's first byte picks YAML");
    let e = errors(text);
    assert!(e[0].starts_with("c.yaml:2:1: unknown key ``"), "{e:?}");
}

/// What `load` says of a config (the translation checked as `archsmoke` checks it: a spec
/// loader's refusal is reported as a translation bug).
fn load_errors(text: &str) -> Vec<String> {
    load(Path::new("c.yaml"), text)
        .expect_err("invalid")
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn an_unprintable_character_in_a_path_or_name_is_positioned_not_a_bug() {
    // Found by the `cst` fuzz target (fuzz/findings/cst-path-control-character.yaml): ESC in a
    // file test's path became a [[file]] path the spec refuses, reported as a translation bug.
    let text = include_str!("../../fuzz/findings/cst-path-control-character.yaml")
        .strip_prefix('\0')
        .expect("the fuzz input's first byte picks YAML");
    let e = load_errors(text);
    assert!(
        e[0].starts_with(
            "c.yaml:5:11: the path contains the character '\\u{1b}' (a control character)"
        ),
        "{e:?}"
    );
    assert!(!e.iter().any(|e| e.contains("bug")), "{e:?}");
    // The same for what else the spec refuses in names and paths: a bidirectional override in
    // a name, an invisible character in a file content test's path, a licence file's BEL.
    for (text, expected) in [
        (
            "schemaVersion: 2.0.0\ncommandTests:\n  - name: \"a\\u202Eb\"\n    command: ls\n",
            "c.yaml:3:11: the test name contains the character '\\u{202e}' (a bidirectional override)",
        ),
        (
            "schemaVersion: 2.0.0\nfileContentTests:\n  - name: c\n    path: \"/etc/\\u200Bpasswd\"\n",
            "c.yaml:4:11: the path contains the character '\\u{200b}' (an invisible character)",
        ),
        (
            "schemaVersion: 2.0.0\nlicenseTests:\n  - files: [\"/a\\ab\"]\n",
            "c.yaml:3:10: licence file `/a\\u{7}b` contains the character '\\u{7}' (a control character)",
        ),
    ] {
        let e = load_errors(text);
        assert!(e[0].starts_with(expected), "{text:?}: {e:?}");
        assert!(!e.iter().any(|e| e.contains("bug")), "{e:?}");
    }
}

#[test]
fn a_nul_in_a_process_or_its_environment_is_positioned_not_a_bug() {
    // Found by the `cst` fuzz target (fuzz/findings/cst-nul-in-args.yaml): `"\0"` in `args`
    // became a command element the spec refuses, reported as a translation bug.
    let text = include_str!("../../fuzz/findings/cst-nul-in-args.yaml")
        .strip_prefix('\0')
        .expect("the fuzz input's first byte picks YAML");
    let e = load_errors(text);
    assert!(e[0].contains("`args` contains a NUL byte"), "{e:?}");
    assert!(!e.iter().any(|e| e.contains("bug")), "{e:?}");
    for (text, expected) in [
        (
            "schemaVersion: 2.0.0\ncommandTests:\n  - name: a\n    command: \"e\\0\"\n",
            "c.yaml:4:14: `command` contains a NUL byte",
        ),
        (
            "schemaVersion: 2.0.0\ncommandTests:\n  - name: a\n    command: ls\n    setup: [[\"a\\0\"]]\n",
            "c.yaml:5:12: a `setup` command contains a NUL byte",
        ),
        (
            "schemaVersion: 2.0.0\ncommandTests:\n  - name: a\n    command: ls\n    envVars:\n      - key: A\n        value: \"x\\0\"\n",
            "c.yaml:7:16: `envVars` entry `A`: a value cannot hold NUL",
        ),
        (
            "schemaVersion: 2.0.0\nglobalEnvVars:\n  - key: A=B\n    value: x\ncommandTests:\n  - name: a\n    command: ls\n",
            "c.yaml:3:10: `globalEnvVars` entry `A=B`: a variable name cannot hold `=` or NUL",
        ),
    ] {
        let e = load_errors(text);
        assert!(e[0].starts_with(expected), "{text:?}: {e:?}");
        assert!(!e.iter().any(|e| e.contains("bug")), "{e:?}");
    }
}

#[test]
fn multibyte_permissions_are_an_error_not_a_panic() {
    // Found by the `cst` fuzz target (fuzz/findings/cst-permissions-multibyte.json): the
    // permission check split `permissions` 9 bytes from its end, inside a character.
    let text = include_str!("../../fuzz/findings/cst-permissions-multibyte.json")
        .strip_prefix('\u{1}')
        .expect("the fuzz input's first byte picks JSON");
    let e: Vec<String> = load(Path::new("c.json"), text)
        .expect_err("invalid")
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(e.iter().any(|e| e.contains("bad permissions")), "{e:?}");
}

#[test]
fn run_options_env_vars_are_forwarded_by_name_never_by_value() {
    // A variable every test process has (the crate forbids `unsafe`, so none is set here).
    let name = "PATH";
    let value = std::env::var(name).expect("PATH is set");
    assert!(value.len() >= 4);
    let text = format!(
        "schemaVersion: 2.0.0\ncontainerRunOptions:\n  envVars: [{name}, ARCHSMOKE_CST_UNSET]\n\
         commandTests:\n  - name: e\n    command: env\n"
    );
    let toml = toml_of(&text);
    assert!(!toml.contains(&value), "{toml}");
    assert!(
        toml.contains(&format!(
            "env_from_host = [\"{name}\", \"ARCHSMOKE_CST_UNSET\"]"
        )),
        "{toml}"
    );
    // Loaded, the value is a secret of the spec (masked in reports); the unset one is absent.
    let spec = load(Path::new("c.yaml"), &text).expect("valid");
    assert_eq!(
        spec.tests[0].secret_env.get(name).map(String::as_str),
        Some(value.as_str())
    );
    assert!(spec.secrets().any(|s| s == value));
    assert!(!spec.tests[0].env.contains_key("ARCHSMOKE_CST_UNSET"));
}

#[test]
fn a_config_without_tests_is_a_positioned_error_not_a_bug() {
    for text in [
        "schemaVersion: 2.0.0\n",
        "schemaVersion: 2.0.0\nmetadataTest: {}\ncommandTests: []\n",
    ] {
        let e = errors(text);
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].starts_with("c.yaml:1:16: the config has no tests"),
            "{e:?}"
        );
        assert!(!e[0].contains("bug"), "{e:?}");
    }
}

#[test]
fn a_json_config_ignores_unknown_keys_as_cst_does() {
    let text = "{\"schemaVersion\": \"2.0.0\", \"extra\": 1,\n \"commandTests\": [{\"name\": \"a\", \"command\": \"ls\", \"foo\": [1]}]}\n";
    let spec = load(Path::new("c.json"), text).expect("loads");
    assert_eq!(spec.tests[0].name, "Command Test: a");
    // YAML stays strict.
    assert!(load(Path::new("c.yaml"), text).is_err());
}

#[test]
fn anchors_aliases_and_merge_keys_load_and_a_billion_laughs_does_not() {
    let toml = conv(
        "schemaVersion: 2.0.0\ncommandTests:\n  - &e\n    name: a\n    command: echo\n    \
         args: [hi]\n  - <<: *e\n    name: b\n",
    )
    .expect("valid");
    assert_eq!(
        toml.matches("command = [\"echo\", \"hi\"]").count(),
        2,
        "{toml}"
    );
    let mut doc = String::from("schemaVersion: 2.0.0\nx0: &x0 [a, a, a, a, a, a, a, a, a, a]\n");
    for i in 1..10 {
        let p = format!("*x{}", i - 1);
        doc.push_str(&format!("x{i}: &x{i} [{}]\n", [p.as_str(); 10].join(", ")));
    }
    let e = errors(&doc);
    assert!(e[0].contains("excessive aliasing"), "{e:?}");
}

#[test]
fn a_key_holding_a_quote_and_a_backslash_is_written_as_a_key() {
    // Found by the `cst` fuzz target (fuzz/findings/cst-key-backslash-quote.yaml): a metadata
    // variable named `F\'` became a TOML key written as a multi-line literal string (which the
    // `toml` crate writes for text holding both `'` and `\`), which no key may be, reported as
    // a translation bug.
    let text = include_str!("../../fuzz/findings/cst-key-backslash-quote.yaml")
        .strip_prefix('\0')
        .expect("the fuzz input's first byte picks YAML");
    let toml = toml_of(text);
    let doc: toml::Table = toml.parse().expect("the translation is TOML");
    let env = doc["metadata"]["env"].as_table().expect("env");
    assert_eq!(env.keys().collect::<Vec<_>>(), ["F\\'"], "{toml}");
    for name in ["a'b\\c", "'''", "x\"y"] {
        let yaml = format!(
            "schemaVersion: 2.0.0\nmetadataTest:\n  envVars:\n    - key: {}\n      value: v\n",
            serde_json::to_string(name).expect("json")
        );
        let doc: toml::Table = toml_of(&yaml).parse().expect("TOML");
        assert_eq!(
            doc["metadata"]["env"]
                .as_table()
                .expect("env")
                .keys()
                .collect::<Vec<_>>(),
            [name]
        );
    }
}

#[test]
fn a_quoted_key_before_a_multibyte_character_is_no_panic() {
    // Found by the `cst` fuzz target (fuzz/findings/cst-key-before-multibyte.yaml): the key
    // finder skipped a quoted key's closing quote by one byte, inside the BOM that followed.
    let text = include_str!("../../fuzz/findings/cst-key-before-multibyte.yaml")
        .strip_prefix('\0')
        .expect("the fuzz input's first byte picks YAML");
    let e = load_errors(text);
    assert!(!e.iter().any(|e| e.contains("bug")), "{e:?}");
    assert_eq!(find_key("x: 1\n\"n\u{feff}: 2\n", "n"), None);
    assert_eq!(find_key("\"n\u{feff}\n'n': 2\n", "n"), Some((2, 1)));
    assert_eq!(find_key("- \"name\": a\n", "name"), Some((1, 3)));
    // A quoted key needs its own closing quote.
    assert_eq!(find_key("\"name': a\n", "name"), None);
}

#[test]
fn a_metadata_key_listed_twice_is_one_check_all_patterns_or_a_positioned_error() {
    // Found by the `cst` fuzz target (fuzz/findings/cst-metadata-key-twice.yaml): an envVars key
    // listed twice became a duplicate TOML key, reported as a translation bug. cst checks every
    // entry: the same value twice is one check, two values can never both hold, and two
    // patterns must both match.
    let text = include_str!("../../fuzz/findings/cst-metadata-key-twice.yaml")
        .strip_prefix('\0')
        .expect("the fuzz input's first byte picks YAML");
    let doc: toml::Table = toml_of(text).parse().expect("TOML");
    assert_eq!(
        doc["metadata"]["env"].as_table().expect("env").len(),
        1,
        "{doc:?}"
    );
    let toml = toml_of(
        "schemaVersion: 2.0.0\nmetadataTest:\n  envVars:\n    - key: PATH\n      value: /bin\n      \
         isRegex: true\n    - key: PATH\n      value: /usr/bin\n      isRegex: true\n  \
         labels:\n    - key: a\n      value: x\n      isRegex: true\n    - key: a\n      value: y\n      \
         isRegex: true\n    - key: b\n      value: \"1\"\n    - key: b\n      value: \"1\"\n",
    );
    let doc: toml::Table = toml.parse().expect("TOML");
    assert_eq!(
        doc["metadata"]["env_matches"]["PATH"]
            .as_array()
            .map(Vec::len),
        Some(2),
        "{toml}"
    );
    assert_eq!(
        doc["metadata"]["labels_matches"]["a"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    assert_eq!(doc["metadata"]["labels"]["b"].as_str(), Some("1"));
    let spec = spec::parse(Path::new("c.toml"), &format!("image = \"x\"\n{toml}")).expect("loads");
    let metadata = spec.metadata.expect("metadata");
    assert_eq!(metadata.env_matches.len(), 2);
    assert_eq!(metadata.labels_matches.len(), 2);
    let e = errors(
        "schemaVersion: 2.0.0\nmetadataTest:\n  envVars:\n    - key: A\n      value: x\n    \
         - key: A\n      value: y\n",
    );
    assert!(
        e[0].starts_with(
            "c.yaml:6:12: metadataTest `envVars`: `A` is listed again with another value (`y`, before `x`)"
        ),
        "{e:?}"
    );
    assert!(!e.iter().any(|e| e.contains("bug")), "{e:?}");
}

#[test]
fn names_that_differ_only_in_spaces_or_collide_with_a_number_stay_apart() {
    // Found by the `cst` fuzz target (fuzz/findings/cst-names-equal-once-trimmed.json): a test
    // named "explicit exit code " (a folded line break) and one named "explicit exit code" were
    // apart for the numbering but the same name to the spec loader, which trims names: a
    // duplicate test name, reported as a translation bug.
    let text = include_str!("../../fuzz/findings/cst-names-equal-once-trimmed.json")
        .strip_prefix('\u{1}')
        .expect("the fuzz input's first byte picks JSON");
    let t = translate(Path::new("c.json"), text).expect("translates");
    spec::parse(Path::new("c.json"), &t.toml).expect("the translation loads");
    let names = |toml: &str| -> Vec<String> {
        let doc: toml::Table = toml.parse().expect("TOML");
        doc["test"]
            .as_array()
            .expect("tests")
            .iter()
            .map(|t| t["name"].as_str().expect("name").trim().to_owned())
            .collect()
    };
    assert_eq!(
        names(&t.toml),
        [
            "Command Test: explicit exit code",
            "Command Test: explicit exit code #2"
        ]
    );
    let toml = toml_of(
        "schemaVersion: 2.0.0\ncommandTests:\n  - name: a\n    command: ls\n  - name: a\n    \
         command: ls\n  - name: \"a #2\"\n    command: ls\n",
    );
    assert_eq!(
        names(&toml),
        [
            "Command Test: a",
            "Command Test: a #2",
            "Command Test: a #2 #2"
        ]
    );
}
