//! The spec exactly as written: serde types that mirror the TOML, with spans kept on every value
//! that validation may reject, so that an error can point at its line and column.
//!
//! Nothing here is checked beyond TOML types and unknown keys; `spec::validate` turns these into a
//! [`crate::spec::Spec`].

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSpec {
    pub image: Option<Spanned<String>>,
    pub platforms: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    pub settings: RawSettings,
    #[serde(default, rename = "test")]
    pub tests: Vec<Spanned<RawTest>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSettings {
    pub timeout: Option<Spanned<String>>,
    pub emulated_timeout_factor: Option<Spanned<f64>>,
    pub jobs: Option<Spanned<i64>>,
    pub network: Option<Spanned<String>>,
    pub variant_match: Option<Spanned<String>>,
    pub output_limit: Option<Spanned<String>>,
    pub privileged: Option<Spanned<bool>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTest {
    pub name: Spanned<String>,
    pub command: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Like `env`, but the values never appear in output, reports or logs.
    pub secret_env: Option<Spanned<BTreeMap<String, String>>>,
    pub privileged: Option<Spanned<bool>>,
    pub timeout: Option<Spanned<String>>,
    pub platforms: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    pub same_output: bool,
    // The expectation keys are repeated here rather than flattened from `RawExpect`: serde's
    // `flatten` buffers values, which loses both the spans and `deny_unknown_fields`.
    pub exit_code: Option<Spanned<i64>>,
    pub stdout: Option<String>,
    pub stdout_contains: Option<OneOrMany>,
    pub stdout_matches: Option<Spanned<OneOrMany>>,
    pub stdout_excludes: Option<OneOrMany>,
    pub stderr: Option<String>,
    pub stderr_contains: Option<OneOrMany>,
    pub stderr_matches: Option<Spanned<OneOrMany>>,
    pub stderr_excludes: Option<OneOrMany>,
    #[serde(default)]
    pub per_platform: BTreeMap<Spanned<String>, RawExpect>,
}

impl RawTest {
    /// The test's own expectations, in the shape a per-platform table also has.
    pub fn expect(&self) -> RawExpect {
        RawExpect {
            exit_code: self.exit_code.clone(),
            stdout: self.stdout.clone(),
            stdout_contains: self.stdout_contains.clone(),
            stdout_matches: self.stdout_matches.clone(),
            stdout_excludes: self.stdout_excludes.clone(),
            stderr: self.stderr.clone(),
            stderr_contains: self.stderr_contains.clone(),
            stderr_matches: self.stderr_matches.clone(),
            stderr_excludes: self.stderr_excludes.clone(),
        }
    }
}

/// Expectations on a test's result; every field is optional so that a per-platform table can
/// override some of them and inherit the rest.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExpect {
    pub exit_code: Option<Spanned<i64>>,
    pub stdout: Option<String>,
    pub stdout_contains: Option<OneOrMany>,
    pub stdout_matches: Option<Spanned<OneOrMany>>,
    pub stdout_excludes: Option<OneOrMany>,
    pub stderr: Option<String>,
    pub stderr_contains: Option<OneOrMany>,
    pub stderr_matches: Option<Spanned<OneOrMany>>,
    pub stderr_excludes: Option<OneOrMany>,
}

/// `"text"` or `["a", "b"]`: a single pattern is the common case and should not need brackets.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}
