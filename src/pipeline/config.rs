//! One run's settings: the spec and the command line merged once, the way ripgrep turns its
//! low-level arguments into high-level ones.
//!
//! [`Flags`] is what the command line said, with no I/O and no defaults applied; [`Config`] is
//! what the run does, each setting decided here and nowhere else (the command line wins over
//! the spec, the spec over the defaults). The rest of the pipeline reads only the `Config`.

use std::path::PathBuf;

use crate::diagnostic::Diagnostic;
use crate::emulation::Policy;
use crate::image::SourceSpec;
use crate::plan::Overrides;
use crate::platform::{MatchMode, Platform};
use crate::run::{self, DEFAULT_OUTPUT_LIMIT};
use crate::spec::{self, Spec};

/// Containers at once when neither the spec nor the command line says.
pub const DEFAULT_JOBS: usize = 4;

/// What the command line asked of a run, before it meets the spec.
#[derive(Debug, Clone, Default)]
pub struct Flags {
    pub spec: PathBuf,
    /// `--image`: wins over the spec's `image`.
    pub image: Option<String>,
    /// `--host`: the engine's endpoint (else `DOCKER_HOST`, else the default socket).
    pub host: Option<String>,
    /// `--platform`, in the order given; empty: the spec's, else every platform of the image.
    pub platforms: Vec<Platform>,
    pub jobs: Option<usize>,
    pub isolation: Option<spec::Isolation>,
    pub variant_match: Option<MatchMode>,
    pub emulation: Option<Policy>,
    pub output_limit: Option<usize>,
    pub allow_privileged: bool,
    /// `--trust-spec-engines`: registry credentials go to the spec's `[[engine]]`s too.
    pub trust_spec_engines: bool,
    pub skip_unavailable: bool,
    /// `--engine`: engines besides the default one, after the spec's `[[engine]]` tables.
    pub engines: Vec<spec::EngineSpec>,
    /// `--compare-emulation`: wins over `[settings] compare_emulation`.
    pub compare_emulation: Vec<Platform>,
    /// `--service-env`: `NAME=VALUE` or `NAME` (this machine's value), over `[service] env`.
    pub service_env: Vec<String>,
    /// The arguments after `--`: the `[service]`'s command.
    pub service_command: Option<Vec<String>>,
    /// `--reprobe`: probe remote engines' emulators again instead of trusting the cache.
    pub reprobe: bool,
    /// `--probe-cache-ttl`: how long a probe's answer is reused (zero: never); default
    /// [`super::probe::DEFAULT_TTL`].
    pub probe_cache_ttl: Option<std::time::Duration>,
}

/// dgoss's `docker run` arguments (`-e`, a CMD) applied to the spec's service; only a spec with
/// a `[service]` (every goss file has one) takes them. Values taken from this machine's
/// environment are returned, to be masked like `env_from_host`.
pub fn service_args(spec: &mut Spec, flags: &Flags) -> Result<Vec<String>, Diagnostic> {
    if flags.service_env.is_empty() && flags.service_command.is_none() {
        return Ok(Vec::new());
    }
    let Some(service) = spec.service.as_mut() else {
        return Err(Diagnostic::usage(format!(
            "{}: --service-env and a command after `--` need a [service] in the spec",
            flags.spec.display()
        ))
        .with_hint("add a [service] table, or leave the flags out"));
    };
    let mut from_host = Vec::new();
    for entry in &flags.service_env {
        let (name, value) = match entry.split_once('=') {
            Some((n, v)) => (n, Some(v.to_owned())),
            // As `docker run -e NAME`: this machine's value, or nothing when it is unset.
            None => (entry.as_str(), std::env::var(entry).ok()),
        };
        if name.is_empty()
            || name.contains('\0')
            || value.as_deref().is_some_and(|v| v.contains('\0'))
        {
            return Err(Diagnostic::usage(format!(
                "--service-env `{entry}` is not NAME=VALUE or NAME"
            ))
            .with_hint("as docker run -e: NAME=VALUE, or NAME to pass this machine's value"));
        }
        if let Some(value) = value {
            if !entry.contains('=') {
                from_host.push(value.clone());
            }
            service.env.insert(name.to_owned(), value);
        }
    }
    if let Some(command) = &flags.service_command {
        service.command = Some(command.clone());
    }
    Ok(from_host)
}

/// What `--image` says: one reference, or per-platform images (`PLATFORM=REF`, each once),
/// joined into the one text the image source parses; `None` when not given.
pub fn image_arg(values: &[String]) -> Result<Option<String>, Diagnostic> {
    match values {
        [] => Ok(None),
        [one] => Ok(Some(one.clone())),
        many if many.iter().all(|v| v.contains('=')) => Ok(Some(many.join(","))),
        _ => Err(Diagnostic::usage(
            "--image is given more than once, but not each time as PLATFORM=REF",
        )
        .with_hint(
            "name one image (--image REF), or one per platform (--image linux/amd64=REF \
             --image linux/arm64=REF)",
        )),
    }
}

/// Everything a run needs to know before it opens the engine and the image.
#[derive(Debug, Clone)]
pub struct Config {
    pub spec: Spec,
    /// The spec's path as the user gave it (reports show it).
    pub spec_path: PathBuf,
    /// The image as written, and what kind of source it names.
    pub image: String,
    pub source: SourceSpec,
    pub host: Option<String>,
    /// What the plan takes from the command line over the spec, merged with the spec (every
    /// value decided: `platforms` is `None` only when neither names any).
    pub overrides: Overrides,
    pub jobs: usize,
    pub output_limit: usize,
    pub isolation: run::Isolation,
    /// Tests whose output must be the same on every platform (`same_output = true`).
    pub same_output: Vec<String>,
    /// Engines besides the default one: the spec's `[[engine]]` tables, then `--engine`.
    pub engines: Vec<spec::EngineSpec>,
    /// Registry credentials may go to the spec's engines (`--trust-spec-engines`).
    pub trust_spec_engines: bool,
    /// Platforms to run natively and emulated side by side.
    pub compare_emulation: Vec<Platform>,
    /// Where remote engines' probe answers are remembered between runs.
    pub probe_cache: super::probe::ProbeCache,
}

impl Config {
    /// Reads the spec named by `flags` and merges the two. Registers the spec's secrets with the
    /// redactor, so that nothing printed from here on shows them.
    pub fn load(flags: Flags) -> Result<Config, Diagnostic> {
        let mut spec = crate::goss::load_any(&flags.spec, false)
            .map_err(|errors| Diagnostic::usage(crate::spec::error::all(&errors)))?;
        spec.check_privileged(flags.allow_privileged)
            .map_err(|e| Diagnostic::usage(e.to_string()))?;
        let from_host = service_args(&mut spec, &flags)?;
        crate::redact::register(spec.secrets());
        crate::redact::register(from_host.iter().map(String::as_str));
        Config::new(spec, flags)
    }

    /// Merges an already-read spec with the command line. Fails, as bad usage, when no image is
    /// named, the image reference is malformed, or exec isolation lacks its keepalive command.
    pub fn new(spec: Spec, flags: Flags) -> Result<Config, Diagnostic> {
        let image = flags
            .image
            .clone()
            .or_else(|| spec.image.clone())
            .ok_or_else(|| {
                Diagnostic::usage(format!("{}: no image to test", flags.spec.display()))
                    .with_hint("set `image = \"...\"` in the spec or pass --image REF")
            })?;
        let isolation = isolation(&spec, flags.isolation)?;
        // Only a malformed reference is a usage error; an unreadable source is reported later.
        let source = SourceSpec::parse(&image)
            .map_err(|e| Diagnostic::usage(e.to_string()).with_hint(e.hint()))?;
        let same_output = spec
            .tests
            .iter()
            .filter(|t| t.same_output)
            .map(|t| t.name.clone())
            .collect();
        let mut engines = spec.engines.clone();
        for flag in &flags.engines {
            if flag.name == crate::outcome::DEFAULT_ENGINE
                || engines.iter().any(|e| e.name == flag.name)
            {
                return Err(Diagnostic::usage(format!(
                    "--engine {}: the engine name is taken",
                    flag.name
                ))
                .with_hint("give each engine its own name (\"default\" is the default engine)"));
            }
            engines.push(flag.clone());
        }
        let compare_emulation = if flags.compare_emulation.is_empty() {
            spec.compare_emulation.clone()
        } else {
            flags.compare_emulation.clone()
        };
        Ok(Config {
            engines,
            trust_spec_engines: flags.trust_spec_engines,
            compare_emulation,
            jobs: flags.jobs.or(spec.settings.jobs).unwrap_or(DEFAULT_JOBS),
            output_limit: flags
                .output_limit
                .or(spec.settings.output_limit)
                .unwrap_or(DEFAULT_OUTPUT_LIMIT),
            overrides: Overrides {
                platforms: (!flags.platforms.is_empty()).then_some(flags.platforms),
                variant_match: flags.variant_match,
                emulation: flags.emulation,
                skip_unavailable: flags.skip_unavailable,
            }
            .over(&spec),
            probe_cache: super::probe::ProbeCache::new(
                flags.probe_cache_ttl.unwrap_or(super::probe::DEFAULT_TTL),
                flags.reprobe,
            ),
            spec_path: flags.spec,
            host: flags.host,
            image,
            source,
            isolation,
            same_output,
            spec,
        })
    }
}

/// The isolation in force: the command line's, else the spec's; exec needs what the spec
/// validator checks when the spec itself asks for it.
fn isolation(spec: &Spec, flag: Option<spec::Isolation>) -> Result<run::Isolation, Diagnostic> {
    if flag.unwrap_or(spec.settings.isolation) != spec::Isolation::Exec {
        return Ok(run::Isolation::Container);
    }
    let keepalive = spec.exec_keepalive().map_err(|message| {
        Diagnostic::usage(format!("{}: {message}", spec.path.display()))
            .with_hint("or run without --isolation exec")
    })?;
    Ok(run::Isolation::Exec { keepalive })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::exit;

    fn spec(text: &str) -> Spec {
        let text =
            format!("{text}\n\n[[test]]\nname = \"machine\"\ncommand = [\"uname\", \"-m\"]\n");
        spec::parse(Path::new("smoke.toml"), &text).expect("valid spec")
    }

    fn flags() -> Flags {
        Flags {
            spec: PathBuf::from("smoke.toml"),
            ..Flags::default()
        }
    }

    #[test]
    fn dgoss_run_arguments_set_the_services_env_and_command() {
        let mut with = spec("image = \"busybox\"\n[service]\nenv = { A = \"spec\", B = \"b\" }\n");
        // PATH is set wherever tests run; the code is `forbid(unsafe)`, so no set_var.
        let path = std::env::var("PATH").expect("PATH");
        let f = Flags {
            service_env: vec![
                "A=flag".into(),
                "PATH".into(),
                "ARCHSMOKE_TEST_UNSET_NAME".into(),
            ],
            service_command: Some(vec!["httpd".into(), "-f".into()]),
            ..flags()
        };
        let host = service_args(&mut with, &f).expect("applies");
        assert_eq!(host, std::slice::from_ref(&path));
        let service = with.service.as_ref().expect("service");
        assert_eq!(service.env["A"], "flag");
        assert_eq!(service.env["B"], "b");
        assert_eq!(service.env["PATH"], path);
        // An unset host variable is left out, as `docker run -e NAME` leaves it out.
        assert!(!service.env.contains_key("ARCHSMOKE_TEST_UNSET_NAME"));
        assert_eq!(
            service.command.as_deref(),
            Some(&["httpd".to_owned(), "-f".to_owned()][..])
        );
        let mut without = spec("image = \"busybox\"");
        let e = service_args(&mut without, &f).expect_err("no service");
        assert!(e.to_string().contains("need a [service]"), "{e}");
        let bad = Flags {
            service_env: vec!["=x".into()],
            ..flags()
        };
        assert!(service_args(&mut with, &bad).is_err());
    }

    #[test]
    fn defaults_apply_when_neither_the_spec_nor_the_command_line_says() {
        let config = Config::new(spec("image = \"busybox\""), flags()).expect("valid");
        assert_eq!(config.image, "busybox");
        assert_eq!(config.jobs, DEFAULT_JOBS);
        assert_eq!(config.output_limit, DEFAULT_OUTPUT_LIMIT);
        assert_eq!(config.isolation, run::Isolation::Container);
        assert!(
            config.overrides.platforms.is_none(),
            "the spec's or the image's"
        );
        assert!(config.same_output.is_empty());
    }

    #[test]
    fn the_spec_wins_over_the_defaults_and_the_command_line_over_the_spec() {
        let text = "image = \"busybox\"\n[settings]\njobs = 2\noutput_limit = \"64KiB\"\n\
                    isolation = \"exec\"\nexec_keepalive = [\"sleep\", \"infinity\"]";
        let from_spec = Config::new(spec(text), flags()).expect("valid");
        assert_eq!((from_spec.jobs, from_spec.output_limit), (2, 64 * 1024));
        assert_eq!(
            from_spec.isolation,
            run::Isolation::Exec {
                keepalive: vec!["sleep".into(), "infinity".into()]
            }
        );
        let over = Flags {
            image: Some("127.0.0.1:5000/demo:multi".into()),
            jobs: Some(7),
            output_limit: Some(4096),
            isolation: Some(spec::Isolation::Container),
            platforms: vec![Platform::parse("linux/arm64").expect("valid")],
            emulation: Some(Policy::Forbid),
            skip_unavailable: true,
            ..flags()
        };
        let config = Config::new(spec(text), over).expect("valid");
        assert_eq!(config.image, "127.0.0.1:5000/demo:multi");
        assert_eq!((config.jobs, config.output_limit), (7, 4096));
        assert_eq!(config.isolation, run::Isolation::Container);
        assert_eq!(config.overrides.emulation, Some(Policy::Forbid));
        assert!(config.overrides.skip_unavailable);
        assert_eq!(config.overrides.platforms.map(|p| p.len()), Some(1));
    }

    #[test]
    fn no_image_is_bad_usage_with_the_fix() {
        let err = Config::new(spec(""), flags()).expect_err("no image");
        assert_eq!(err.exit_code, exit::USAGE);
        let text = err.to_string();
        assert!(text.contains("smoke.toml: no image to test"), "{text}");
        assert!(text.contains("--image REF"), "{text}");
    }

    #[test]
    fn exec_isolation_from_the_command_line_needs_the_keepalive() {
        let asked = Flags {
            isolation: Some(spec::Isolation::Exec),
            ..flags()
        };
        let err = Config::new(spec("image = \"busybox\""), asked).expect_err("no keepalive");
        assert_eq!(err.exit_code, exit::USAGE);
        assert!(err.to_string().contains("exec_keepalive"), "{err}");
    }

    #[test]
    fn a_malformed_reference_is_bad_usage() {
        let err = Config::new(spec("image = \"Busy Box::\""), flags()).expect_err("malformed");
        assert_eq!(err.exit_code, exit::USAGE);
    }

    #[test]
    fn same_output_lists_the_tests_that_ask_for_it() {
        let text = "image = \"busybox\"\n\n[[test]]\nname = \"version\"\ncommand = [\"cat\", \"/etc/os-release\"]\nsame_output = true";
        let config = Config::new(spec(text), flags()).expect("valid");
        assert_eq!(config.same_output, vec!["version".to_owned()]);
    }
}
