//! A container-structure-test config exactly as written: serde types mirroring cst's own Go
//! structs (`pkg/types/v2`, `pkg/types/unversioned`), field names as its YAML decoder
//! (gopkg.in/yaml.v2) reads them, unknown keys refused as its strict decoding does, with spans
//! on every value a later check may reject.

use marked_yaml::Spanned;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawConfig {
    pub schema_version: Spanned<String>,
    pub global_env_vars: Option<Vec<RawEnvVar>>,
    pub command_tests: Option<Vec<Spanned<RawCommandTest>>>,
    pub file_existence_tests: Option<Vec<Spanned<RawFileExistence>>>,
    pub file_content_tests: Option<Vec<Spanned<RawFileContent>>>,
    /// Schema 2.0.0 only.
    pub metadata_test: Option<Spanned<RawMetadata>>,
    pub license_tests: Option<Vec<Spanned<RawLicense>>>,
    /// Schema 2.0.0 only.
    pub container_run_options: Option<Spanned<RawRunOptions>>,
}

/// `{key, value, isRegex}`: environment variables and labels (yaml.v2 lowercases untagged Go
/// field names, so `key` and `value`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEnvVar {
    pub key: Option<Spanned<String>>,
    pub value: Option<Spanned<String>>,
    #[serde(rename = "isRegex")]
    pub is_regex: Option<bool>,
}

/// Schema 2.0.0 writes `command` as a string with `args`; 1.0.0 as an argv list.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawCommand {
    Line(String),
    Argv(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawCommandTest {
    pub name: Option<Spanned<String>>,
    pub setup: Option<Spanned<Vec<Vec<String>>>>,
    pub teardown: Option<Spanned<Vec<Vec<String>>>>,
    pub env_vars: Option<Vec<RawEnvVar>>,
    pub exit_code: Option<Spanned<i64>>,
    pub command: Option<Spanned<RawCommand>>,
    pub args: Option<Spanned<Vec<String>>>,
    pub expected_output: Option<Vec<Spanned<String>>>,
    pub excluded_output: Option<Vec<Spanned<String>>>,
    pub expected_error: Option<Vec<Spanned<String>>>,
    pub excluded_error: Option<Vec<Spanned<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawFileExistence {
    pub name: Option<Spanned<String>>,
    pub path: Option<Spanned<String>>,
    pub should_exist: Option<bool>,
    pub permissions: Option<Spanned<String>>,
    /// Schema 2.0.0 only.
    pub uid: Option<Spanned<i64>>,
    /// Schema 2.0.0 only.
    pub gid: Option<Spanned<i64>>,
    /// Schema 2.0.0 only.
    pub is_executable_by: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawFileContent {
    pub name: Option<Spanned<String>>,
    pub path: Option<Spanned<String>>,
    pub expected_contents: Option<Vec<Spanned<String>>>,
    pub excluded_contents: Option<Vec<Spanned<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawMetadata {
    pub env_vars: Option<Vec<RawEnvVar>>,
    /// The name `envVars` had before it was renamed without a schema change.
    pub env: Option<Vec<RawEnvVar>>,
    pub unbound_env_vars: Option<Vec<RawEnvVar>>,
    pub exposed_ports: Option<Vec<Spanned<String>>>,
    pub unexposed_ports: Option<Vec<Spanned<String>>>,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub workdir: Option<String>,
    pub volumes: Option<Vec<String>>,
    pub unmounted_volumes: Option<Vec<String>>,
    pub labels: Option<Vec<RawEnvVar>>,
    pub user: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLicense {
    pub debian: Option<bool>,
    pub files: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawRunOptions {
    pub user: Option<Spanned<String>>,
    pub privileged: Option<Spanned<bool>>,
    pub allocate_tty: Option<Spanned<bool>>,
    pub env_vars: Option<Spanned<Vec<String>>>,
    pub env_file: Option<Spanned<String>>,
    pub capabilities: Option<Spanned<Vec<String>>>,
    pub bind_mounts: Option<Spanned<Vec<String>>>,
}
