//! The spec exactly as written: serde types that mirror the TOML, with spans kept on every value
//! that validation may reject, so that an error can point at its line and column.
//!
//! Nothing here is checked beyond TOML types and unknown keys; `spec::validate` turns these into a
//! [`crate::spec::Spec`].

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::number::RawNumber;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSpec {
    pub image: Option<Spanned<RawImage>>,
    pub platforms: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    pub settings: RawSettings,
    #[serde(default, rename = "test")]
    pub tests: Vec<Spanned<RawTest>>,
    #[serde(default, rename = "file")]
    pub files: Vec<Spanned<RawFile>>,
    pub metadata: Option<RawMetadata>,
    #[serde(default, rename = "license")]
    pub licenses: Vec<Spanned<RawLicense>>,
    #[serde(default, rename = "package")]
    pub packages: Vec<Spanned<RawPackage>>,
    pub audit: Option<Spanned<RawAudit>>,
    pub service: Option<Spanned<super::service::RawService>>,
    #[serde(default, rename = "probe")]
    pub probes: Vec<Spanned<super::service::RawProbe>>,
    #[serde(default, rename = "process")]
    pub processes: Vec<Spanned<super::service::RawProcess>>,
    pub logs: Option<Spanned<super::service::RawLogs>>,
    #[serde(default, rename = "engine")]
    pub engines: Vec<Spanned<super::engines::RawEngine>>,
    /// Data carried into the JSON report with a result, by result name (goss's `meta`).
    #[serde(default)]
    pub meta: BTreeMap<Spanned<String>, toml::Table>,
}

/// A `[[file]]` table: a file checked in the image layers, without a container.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFile {
    pub path: Spanned<String>,
    pub exists: Option<bool>,
    #[serde(rename = "type")]
    pub kind: Option<Spanned<String>>,
    pub target: Option<String>,
    pub mode: Option<Spanned<String>>,
    pub uid: Option<Spanned<RawNumber>>,
    pub gid: Option<Spanned<RawNumber>>,
    pub size: Option<Spanned<RawNumber>>,
    pub content: Option<String>,
    pub contains: Option<OneOrMany>,
    pub matches: Option<Spanned<OneOrMany>>,
    pub excludes: Option<OneOrMany>,
    /// Regexes none of which may match the content.
    pub not_matches: Option<Spanned<OneOrMany>>,
    pub platforms: Option<Vec<Spanned<String>>>,
    /// The result's name in reports (default `file <path>`).
    pub name: Option<Spanned<String>>,
    /// Go's `FileMode.String()` form, as container-structure-test writes it: `-rwxr-xr-x`.
    pub permissions: Option<Spanned<String>>,
    /// `any`, `owner`, `group` or `other`: the matching execute bit must be set.
    pub executable_by: Option<Spanned<String>>,
    /// Whether a symlink at the last component is followed (default true); `false` checks the
    /// link itself, like lstat.
    pub follow: Option<bool>,
}

/// A `[[license]]` table: container-structure-test's licence check.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLicense {
    pub name: Option<Spanned<String>>,
    #[serde(default)]
    pub debian: bool,
    #[serde(default)]
    pub files: Vec<Spanned<String>>,
}

/// A `[[package]]` table: a package the image's package database must (or must not) list.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPackage {
    /// As the package database names it.
    pub name: Spanned<String>,
    pub installed: Option<bool>,
    pub versions: Option<Spanned<Vec<Spanned<String>>>>,
    /// `auto` (default), `dpkg`, `apk` or `rpm`.
    pub manager: Option<Spanned<String>>,
    pub platforms: Option<Vec<Spanned<String>>>,
    /// The result's name in reports (default `package <name>`).
    pub title: Option<Spanned<String>>,
}

/// The `[metadata]` table: expectations on each platform's image config.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMetadata {
    /// The result's name (default `metadata`); cst configs keep cst's `Metadata Test`.
    pub name: Option<Spanned<String>>,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub env: Option<BTreeMap<String, String>>,
    /// A pattern, or a list of patterns that must all match.
    pub env_matches: Option<BTreeMap<String, Spanned<OneOrMany>>>,
    pub env_unset: Option<Vec<String>>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    pub labels: Option<BTreeMap<String, String>>,
    pub labels_matches: Option<BTreeMap<String, Spanned<OneOrMany>>>,
    pub exposed_ports: Option<Vec<Spanned<String>>>,
    pub volumes: Option<Vec<String>>,
    /// Ports that must be among the exposed ones (others may be too).
    pub exposed_ports_include: Option<Vec<Spanned<String>>>,
    /// Ports that must not be exposed.
    pub unexposed_ports: Option<Vec<Spanned<String>>>,
    pub volumes_include: Option<Vec<String>>,
    pub unmounted_volumes: Option<Vec<String>>,
}

/// The `[audit]` table: the ELF architecture scan of every layer.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAudit {
    pub elf: Option<Spanned<String>>,
    pub allow: Option<Vec<Spanned<String>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSettings {
    pub timeout: Option<Spanned<String>>,
    pub emulated_timeout_factor: Option<Spanned<f64>>,
    pub emulated_ready_factor: Option<Spanned<f64>>,
    pub jobs: Option<Spanned<i64>>,
    pub network: Option<Spanned<String>>,
    pub variant_match: Option<Spanned<String>>,
    pub emulation: Option<Spanned<String>>,
    pub isolation: Option<Spanned<String>>,
    pub exec_keepalive: Option<Spanned<Vec<String>>>,
    pub output_limit: Option<Spanned<String>>,
    pub privileged: Option<Spanned<bool>>,
    pub pids_limit: Option<Spanned<i64>>,
    pub memory: Option<Spanned<String>>,
    /// Platforms to run natively and emulated side by side (issue 13).
    pub compare_emulation: Option<Vec<Spanned<String>>>,
}

/// Declares a raw table that takes the expectation keys besides its own fields, and the
/// `From` that copies them out as a [`RawExpect`]. `[[test]]` and its per-platform tables
/// need the same keys at the same level: serde's `flatten` would lose both the spans and
/// `deny_unknown_fields`, so the keys are written into each struct, from this one list.
macro_rules! with_expectations {
    (
        $(#[$attr:meta])*
        pub struct $name:ident {
            $($(#[$field_attr:meta])* pub $field:ident: $ty:ty,)*
        }
    ) => {
        with_expectations! {
            @declare [$(#[$attr])*] $name [$($(#[$field_attr])* pub $field: $ty,)*]
            exit_code: Option<Spanned<RawNumber>>,
            stdout: Option<String>,
            stdout_contains: Option<OneOrMany>,
            stdout_matches: Option<Spanned<OneOrMany>>,
            stdout_excludes: Option<OneOrMany>,
            stdout_not_matches: Option<Spanned<OneOrMany>>,
            stderr: Option<String>,
            stderr_contains: Option<OneOrMany>,
            stderr_matches: Option<Spanned<OneOrMany>>,
            stderr_excludes: Option<OneOrMany>,
            stderr_not_matches: Option<Spanned<OneOrMany>>,
        }
    };
    (
        @declare [$($attr:tt)*] $name:ident [$($own:tt)*]
        $($key:ident: $key_ty:ty,)*
    ) => {
        $($attr)*
        pub struct $name {
            $($own)*
            $(pub $key: $key_ty,)*
        }

        /// The table's expectations, in the shape a per-platform table has.
        impl From<&$name> for RawExpect {
            fn from(table: &$name) -> RawExpect {
                RawExpect {
                    $($key: table.$key.clone(),)*
                }
            }
        }
    };
}

with_expectations! {
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct RawTest {
        pub name: Spanned<String>,
        pub command: Option<Spanned<Vec<String>>>,
        pub entrypoint: Option<Spanned<Vec<String>>>,
        pub env: Option<Spanned<BTreeMap<String, String>>>,
        /// Like `env`, but the values never appear in output, reports or logs.
        pub secret_env: Option<Spanned<BTreeMap<String, String>>>,
        /// Names of variables of archsmoke's own environment passed to the test as they are when
        /// the spec is loaded (unset or empty ones are not passed), masked like `secret_env`.
        pub env_from_host: Option<Spanned<Vec<String>>>,
        pub privileged: Option<Spanned<bool>>,
        /// Host paths bind-mounted into the test's container, `HOST:CONTAINER[:ro|rw]` (only with
        /// `--allow-privileged`).
        pub mounts: Option<Spanned<Vec<String>>>,
        /// Capabilities added to the test's container (only with `--allow-privileged`).
        pub cap_add: Option<Spanned<Vec<String>>>,
        pub timeout: Option<Spanned<String>>,
        pub pids_limit: Option<Spanned<i64>>,
        pub memory: Option<Spanned<String>>,
        pub platforms: Option<Vec<Spanned<String>>>,
        #[serde(default)]
        pub same_output: bool,
        /// Values expanded against the image's environment (`$VAR`, `${VAR}`) before `env` applies.
        #[serde(default)]
        pub env_expand: BTreeMap<String, String>,
        /// `$VAR` and `${VAR}` in `command` and `entrypoint` are replaced from the image's
        /// environment (with `env_expand` applied), as container-structure-test does.
        #[serde(default)]
        pub expand_command: bool,
        /// Commands run one after another, each in a fresh container committed as the image the
        /// next one (and finally the test) runs on; their exit codes are ignored.
        pub setup: Option<Spanned<Vec<Vec<String>>>>,
        /// Replaces the image's USER (`docker run --user`).
        pub user: Option<Spanned<String>>,
        #[serde(default)]
        pub per_platform: BTreeMap<Spanned<String>, RawExpect>,
    }
}

with_expectations! {
    /// Expectations on a test's result; every field is optional so that a per-platform table
    /// can override some of them and inherit the rest.
    #[derive(Debug, Default, Clone, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct RawExpect {}
}

/// `image = "REF"`, or one registry image per platform:
/// `image = { "linux/amd64" = "app:sha-amd64", "linux/arm64" = "app:sha-arm64" }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum RawImage {
    One(String),
    PerPlatform(BTreeMap<String, String>),
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
