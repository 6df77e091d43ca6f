//! `env_from_host`: variables a test takes from archsmoke's own environment (a CI token, say),
//! named in the spec and never written into it. The values are read once, when the spec is
//! loaded, and handled as `secret_env` values: passed to the container and masked in everything
//! archsmoke writes. This is the one place where loading a spec reads the host.

use std::collections::BTreeMap;

use super::raw::RawTest;
use super::{MIN_SECRET_LEN, SpecError, Validator};

/// A test's variables: passed as they are, and masked.
type EnvAndSecrets = (BTreeMap<String, String>, BTreeMap<String, String>);

impl Validator<'_> {
    /// `raw`'s `env` and its secret variables, `env_from_host` included. A value too short to
    /// mask without mangling ordinary output goes to `env` (the names are the spec's, the short
    /// value cannot be a credential worth hiding).
    pub(super) fn env_from_host(
        &self,
        raw: &RawTest,
        mut secret_env: BTreeMap<String, String>,
    ) -> Result<EnvAndSecrets, SpecError> {
        let mut env = raw
            .env
            .as_ref()
            .map(|e| e.get_ref().clone())
            .unwrap_or_default();
        let Some(names) = &raw.env_from_host else {
            return Ok((env, secret_env));
        };
        for name in names.get_ref() {
            let problem = if name.is_empty() || name.contains(['=', '\0']) {
                Some(format!("`{}` is not a variable name", name.escape_debug()))
            } else if env.contains_key(name) || secret_env.contains_key(name) {
                Some(format!(
                    "`{name}` is in `env_from_host` and in `env` or `secret_env`"
                ))
            } else {
                None
            };
            if let Some(problem) = problem {
                return Err(self
                    .err(names, problem)
                    .with_hint("name each variable once, in one of them"));
            }
            // As cst passes its containerRunOptions.envVars: an unset or empty one is left out.
            match std::env::var(name) {
                Ok(value) if value.chars().count() >= MIN_SECRET_LEN => {
                    secret_env.insert(name.clone(), value);
                }
                Ok(value) if !value.is_empty() => {
                    env.insert(name.clone(), value);
                }
                _ => {}
            }
        }
        Ok((env, secret_env))
    }
}
