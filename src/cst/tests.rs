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
fn bind_mounts_are_refused_and_privileged_is_located() {
    let e = errors(
        "schemaVersion: 2.0.0\ncontainerRunOptions:\n  bindMounts: [/a:/b]\ncommandTests:\n  - name: a\n    command: ls\n",
    );
    assert!(
        e[0].contains("c.yaml:3:15: containerRunOptions.bindMounts"),
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
