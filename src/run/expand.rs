//! What a test's container gets once the image is known: `env_expand` values and, with
//! `expand_command`, the command's `$VAR`s, expanded against the image config's environment
//! (container-structure-test's `globalEnvVars` and command expansion).

use std::collections::BTreeMap;

use crate::plan::PlannedTest;
use crate::spec::expand::expand;

/// The command, entrypoint and `KEY=value` environment of `test`'s container.
pub fn resolve(
    test: &PlannedTest,
    image_env: &BTreeMap<String, String>,
) -> (Option<Vec<String>>, Option<Vec<String>>, Vec<String>) {
    // Every value is expanded against the image's own environment, not against each other,
    // as cst computes its global variables before committing them.
    let expanded: Vec<(String, String)> = test
        .env_expand
        .iter()
        .map(|(k, v)| (k.clone(), expand(v, image_env)))
        .collect();
    let mut env: Vec<String> = expanded.iter().map(|(k, v)| format!("{k}={v}")).collect();
    env.extend(test.env.iter().chain(&test.secret_env).cloned());
    if !test.expand_command {
        return (test.command.clone(), test.entrypoint.clone(), env);
    }
    let mut scope = image_env.clone();
    scope.extend(expanded);
    let args = |v: &Option<Vec<String>>| {
        v.as_ref()
            .map(|v| v.iter().map(|a| expand(a, &scope)).collect())
    };
    (args(&test.command), args(&test.entrypoint), env)
}

/// A tag component from a test name and a setup step: Docker tags allow `[A-Za-z0-9_.-]`.
pub fn tag_safe(name: &str, step: usize) -> String {
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(60)
        .collect();
    format!("{clean}-{step}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn test(expand_command: bool) -> PlannedTest {
        let spec = crate::spec::parse(
            std::path::Path::new("t.toml"),
            "[[test]]\nname = \"t\"\ncommand = [\"x\"]\n",
        )
        .expect("spec");
        PlannedTest {
            name: "t".into(),
            command: Some(vec!["echo".into(), "$PATH".into(), "${HOME}".into()]),
            entrypoint: Some(Vec::new()),
            env: vec!["HOME=/literal/$PATH".into()],
            secret_env: Vec::new(),
            privileged: false,
            host: Default::default(),
            expect: spec.tests[0]
                .expect_for(&crate::platform::Platform::parse("linux/amd64").expect("p")),
            timeout: Duration::from_secs(1),
            env_expand: vec![("PATH".into(), "/opt:$PATH".into())],
            expand_command,
            setup: Vec::new(),
            user: None,
            limits: crate::limits::Limits::default(),
        }
    }

    #[test]
    fn env_expand_uses_the_image_env_and_env_stays_literal() {
        let image = BTreeMap::from([("PATH".to_owned(), "/bin".to_owned())]);
        let (command, _, env) = resolve(&test(true), &image);
        assert_eq!(env, ["PATH=/opt:/bin", "HOME=/literal/$PATH"]);
        // The command sees the image's environment with env_expand applied; `env` is the
        // container's, which cst does not expand against either.
        assert_eq!(command.expect("command"), ["echo", "/opt:/bin", ""]);
        let (command, _, _) = resolve(&test(false), &image);
        assert_eq!(command.expect("command"), ["echo", "$PATH", "${HOME}"]);
    }

    #[test]
    fn tags_are_docker_safe() {
        assert_eq!(tag_safe("Command Test: a/b", 2), "Command_Test__a_b-2");
    }
}
