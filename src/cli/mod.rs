//! The command line: flags (clap), then one function per subcommand that hands them to the
//! library (the run [`crate::pipeline`] for `run` and `inspect`) and writes what comes back.
//! The exit-code policy is applied here and nowhere else.

mod attest;
mod audit;
mod binfmt;
mod cst;
mod docs;
mod doctor;
mod gc;
mod init;
mod inspect;
mod merge;
mod outputs;
mod run;
mod signals;
mod verify;
mod verify_attestations;

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

use crate::diagnostic::Diagnostic;
use crate::exit;
use crate::pipeline::new_run_id;
use crate::platform::{MatchMode, Platform};

#[derive(Debug, Parser)]
#[command(
    name = "archsmoke",
    version = env!("ARCHSMOKE_LONG_VERSION"),
    about = "Smoke-test a container image on every CPU architecture it claims to support",
    after_help = "Exit codes: 0 all passed, 1 a test failed, 2 bad usage or spec, \
                  3 infrastructure (engine, registry, emulator) failed."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    global: GlobalArgs,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// More diagnostics on stderr (-v info, -vv debug, -vvv trace); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Show only failures and the verdict.
    #[arg(short, long, global = true)]
    quiet: bool,
    /// When to use colour (NO_COLOR in the environment means never under `auto`).
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,
    /// Docker Engine endpoint (default: DOCKER_HOST, else the Docker context named by
    /// DOCKER_CONTEXT or by currentContext in the Docker config, else
    /// unix:///var/run/docker.sock).
    #[arg(long, global = true, value_name = "URL")]
    host: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a spec's tests on every platform of the image.
    Run(RunArgs),
    /// Show an image's index: every entry, its digest, its config's platform, and how it would
    /// run on this engine.
    Inspect(InspectArgs),
    /// Manage the kernel's binfmt_misc entries for QEMU user emulation.
    Binfmt(binfmt::BinfmtArgs),
    /// Remove containers that killed runs left behind (found by their archsmoke.run label) and
    /// archsmoke's temporary images (archsmoke-probe, archsmoke-load, archsmoke-commit).
    Gc(GcArgs),
    /// Show what this machine and its engine can run: the engine, binfmt_misc entries and their
    /// flags, and per platform native / emulated / unavailable with the command that fixes it.
    Doctor(DoctorArgs),
    /// Audit every platform's executables for the wrong architecture, without running anything.
    Audit(AuditArgs),
    /// Merge the JSON reports of CI shards (one job per architecture) into one matrix, one
    /// JUnit, one JSON report and one exit code.
    Merge(MergeArgs),
    /// Confirm that every child of an assembled list (`docker buildx imagetools create`) is a
    /// digest that passed in a JSON report; exit 1 naming those that did not.
    Verify(VerifyArgs),
    /// Sign an in-toto statement per tested child digest of a JSON report and attach it in the
    /// registry (and/or write it to --attest-dir).
    Attest(attest::AttestArgs),
    /// Print the archsmoke TOML spec equivalent to a container-structure-test config.
    Convert(cst::ConvertArgs),
    /// Check specs and cst configs without an engine or a registry: every problem, with its
    /// file, line and column.
    Validate(cst::ValidateArgs),
    /// Print shell completions (bash, zsh, fish, elvish, powershell) on stdout.
    Completions(docs::CompletionsArgs),
    /// Print the man page (roff) on stdout, or write every page into a directory.
    Man(docs::ManArgs),
    /// Write a commented starter spec for an image: its platforms, a machine check per platform,
    /// its config's metadata, its entrypoint binary and the ELF audit.
    Init(init::InitArgs),
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The assembled list (index) to check, as a registry reference.
    #[arg(value_name = "LIST")]
    list: String,
    /// The JSON report of the run (or of `archsmoke merge`) that tested its children.
    #[arg(
        long,
        value_name = "REPORT.json",
        required_unless_present = "attestations",
        conflicts_with = "attestations"
    )]
    report: Option<PathBuf>,
    /// Passed tests each child needs of its own (in the report, or in its attestation).
    #[arg(long, value_name = "N", default_value_t = 1)]
    min_tests: usize,
    /// Verify the signed attestations attached to each child in the registry, not a report.
    #[arg(long, requires = "key")]
    attestations: bool,
    /// The public key (PEM) whose signatures are trusted, with --attestations.
    #[arg(long, value_name = "PUB.pem")]
    key: Option<PathBuf>,
    /// These platforms (or `all`) must have passed natively, not only under an emulator.
    #[arg(
        long,
        value_name = "PLATFORM,...|all",
        value_delimiter = ',',
        requires = "attestations"
    )]
    require_native: Vec<String>,
    /// Verify only these children, comma-separated or repeated (with --attestations).
    #[arg(
        long = "platform",
        value_name = "OS/ARCH[/VARIANT]",
        value_delimiter = ',',
        requires = "attestations"
    )]
    platforms: Vec<Platform>,
    /// Refuse attestations older than this (`7d`, `12h`), with --attestations.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, requires = "attestations")]
    max_age: Option<std::time::Duration>,
    /// Print the verdicts as JSON, with --attestations.
    #[arg(long, requires = "attestations")]
    json: bool,
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The shards' JSON reports (`archsmoke run --json FILE`).
    #[arg(required = true, value_name = "REPORT.json")]
    reports: Vec<PathBuf>,
    /// Write the merged JUnit XML report here.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Write the merged JSON report here.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Write the merged HTML report here.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// The format of the summary on stdout.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
}

impl RunArgs {
    /// The spec or cst config to run.
    fn spec_path(&self) -> &std::path::Path {
        self.cst
            .as_deref()
            .or(self.spec.as_deref())
            .unwrap_or(std::path::Path::new(""))
    }
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// The image (index or single manifest): a registry reference, `oci-archive:FILE[:TAG]`,
    /// `oci-layout:DIR[:TAG]` or `docker-daemon:NAME`.
    image: String,
    /// Print the versioned JSON report instead of the matrix.
    #[arg(long)]
    json: bool,
    /// Also write a self-contained HTML report here.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct GcArgs {
    /// Only what was created longer ago than this ("10m", "2h"); runs in progress are younger.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    older_than: Option<std::time::Duration>,
    /// Only the containers of this run id (images are left alone).
    #[arg(long, value_name = "RUN_ID")]
    run: Option<String>,
    /// Also sweep this engine (NAME=URL or NAME=context:CONTEXT), besides the default one;
    /// repeatable.
    #[arg(long = "engine", value_name = "NAME=URL|NAME=context:CTX", value_parser = parse_engine)]
    engines: Vec<crate::spec::EngineSpec>,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Also run a tiny self-built container of each platform to confirm what the engine runs.
    #[arg(long)]
    probe: bool,
    /// Print JSON (a versioned format) instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The image reference.
    image: String,
    /// Print JSON (a versioned format) instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The test spec (TOML), or a container-structure-test config (YAML with `schemaVersion`).
    #[arg(required_unless_present = "cst")]
    spec: Option<PathBuf>,
    /// A container-structure-test config, read as such whatever its file name.
    #[arg(long, value_name = "FILE", conflicts_with = "spec")]
    cst: Option<PathBuf>,
    /// The image to test (overrides `image` in the spec). Repeat as PLATFORM=REF to test
    /// per-platform images before they are assembled into a list
    /// (`--image linux/amd64=app:sha-amd64 --image linux/arm64=app:sha-arm64`).
    #[arg(long, value_name = "REF|PLATFORM=REF")]
    image: Vec<String>,
    /// Platforms to test, comma-separated or repeated (overrides `platforms` in the spec).
    #[arg(
        long = "platform",
        value_name = "OS/ARCH[/VARIANT]",
        value_delimiter = ','
    )]
    platforms: Vec<Platform>,
    /// Containers at once, over all platforms.
    #[arg(long, short = 'j', value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    jobs: Option<u16>,
    /// A fresh container per test, or one per platform with tests as execs (overrides
    /// `isolation`; `exec` needs `exec_keepalive` in the spec).
    #[arg(long, value_enum, value_name = "MODE")]
    isolation: Option<IsolationArg>,
    /// How an index entry is matched to a platform (overrides `variant_match`).
    #[arg(long, value_enum, value_name = "MODE")]
    variant_match: Option<MatchArg>,
    /// Write a JUnit XML report here (written even when the run fails).
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Write the JSON report here (written even when the run fails).
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// After the run, sign an in-toto statement per tested child digest with --key and attach
    /// it in the registry (see `archsmoke attest`).
    #[arg(long, requires = "key")]
    attest: bool,
    #[command(flatten)]
    signing: attest::Signing,
    /// Write a self-contained HTML report here: matrix, time chart, test heat map, failures
    /// with diffs (written even when the run fails).
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// Output kept per stream and test, the tail (overrides `output_limit`; default 1MiB).
    #[arg(long, value_name = "SIZE", value_parser = parse_output_limit)]
    output_limit: Option<usize>,
    /// Let the spec run privileged containers (`privileged = true`); refused otherwise.
    #[arg(long)]
    allow_privileged: bool,
    /// Send registry credentials to the engines the spec's `[[engine]]` tables name too (by
    /// default only engines named on the command line or by the Docker environment get them).
    #[arg(long)]
    trust_spec_engines: bool,
    /// The format of the final summary on stdout.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// Whether platforms may run under an emulator (overrides `emulation` in the spec).
    #[arg(long, value_enum, value_name = "POLICY")]
    emulation: Option<EmulationArg>,
    /// Report a platform that cannot run here (no emulator, or emulation forbidden) as skipped
    /// instead of failing the run.
    #[arg(long)]
    skip_unavailable: bool,
    /// Another engine platforms may be routed to: NAME=URL (unix://, tcp://, ssh://) or
    /// NAME=context:CONTEXT; repeatable. Pins and TLS files go in `[[engine]]` tables.
    #[arg(long = "engine", value_name = "NAME=URL|NAME=context:CTX", value_parser = parse_engine)]
    engines: Vec<crate::spec::EngineSpec>,
    /// Run these platforms natively and also emulated on an engine of another architecture,
    /// side by side (overrides `compare_emulation`).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]", value_delimiter = ',')]
    compare_emulation: Vec<Platform>,
    /// An environment variable of the spec's `[service]` (a goss file's image), as dgoss's
    /// `docker run -e`: NAME=VALUE, or NAME for this machine's value (masked in reports).
    #[arg(long = "service-env", short = 'e', value_name = "NAME[=VALUE]")]
    service_env: Vec<String>,
    /// After `--`: the `[service]`'s command (the image's CMD replaced), as the arguments after
    /// the image in `dgoss run`.
    #[arg(last = true, value_name = "CMD")]
    service_command: Vec<String>,
}

fn parse_engine(text: &str) -> Result<crate::spec::EngineSpec, String> {
    crate::spec::EngineSpec::parse_flag(text)
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum EmulationArg {
    /// Native where possible, emulated otherwise.
    Allow,
    /// Native only: a platform that needs an emulator fails.
    Forbid,
    /// Emulated only: native platforms are not tested.
    Only,
}

impl From<EmulationArg> for crate::emulation::Policy {
    fn from(e: EmulationArg) -> crate::emulation::Policy {
        use crate::emulation::Policy;
        match e {
            EmulationArg::Allow => Policy::Allow,
            EmulationArg::Forbid => Policy::Forbid,
            EmulationArg::Only => Policy::Only,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// The platform matrix and failures.
    Human,
    /// The JSON report (the same as --json writes).
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum IsolationArg {
    Container,
    Exec,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum MatchArg {
    Strict,
    Compatible,
}

impl From<MatchArg> for MatchMode {
    fn from(m: MatchArg) -> MatchMode {
        match m {
            MatchArg::Strict => MatchMode::Strict,
            MatchArg::Compatible => MatchMode::Compatible,
        }
    }
}

impl GlobalArgs {
    fn color_for(&self, stream_is_tty: bool) -> bool {
        match self.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                stream_is_tty && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        }
    }

    fn stderr_color(&self) -> bool {
        self.color_for(std::io::stderr().is_terminal())
    }

    fn stdout_color(&self) -> bool {
        self.color_for(std::io::stdout().is_terminal())
    }
}

/// Subcommands that never talk to an engine, and those that print no run: the global `--host`
/// and `-q` are accepted there (they are global) but not offered in their help.
const NO_ENGINE: &[&str] = &[
    "completions",
    "man",
    "validate",
    "convert",
    "merge",
    "binfmt",
];
const NOTHING_TO_QUIET: &[&str] = &["completions", "man", "validate", "convert"];

/// The command line's definition, as parsed and as documented (help, completions, man page).
pub fn command() -> clap::Command {
    let mut command = Cli::command();
    // A subcommand that has an argument of a global's id keeps its own (clap propagates a
    // global only where the id is free), and its value still reaches the global's field: so a
    // hidden twin hides the global there. Mutating the global after `build` would not do:
    // clap's built indices would then point at the wrong arguments.
    let twin = |id: &str| {
        let global = command
            .get_arguments()
            .find(|a| a.get_id() == id)
            .cloned()
            .expect("a global argument of that id");
        global.hide(true)
    };
    let (host, quiet) = (twin("host"), twin("quiet"));
    for name in NO_ENGINE {
        command = command.mut_subcommand(name, |c| c.arg(host.clone()));
    }
    for name in NOTHING_TO_QUIET {
        command = command.mut_subcommand(name, |c| c.arg(quiet.clone()));
    }
    command
}

/// Parse the command line, run, and return the process exit code.
pub fn main() -> i32 {
    let parsed = command()
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::SUCCESS
            };
            // Printing help or the version can only fail on a closed pipe; nothing to add then.
            let _ = e.print();
            return code;
        }
    };
    init_tracing(cli.global.verbose, cli.global.stderr_color());
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return exit::INFRASTRUCTURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Run(args) => run::run(&args, &cli.global).await,
            Command::Inspect(args) => inspect::inspect(&args, &cli.global).await,
            Command::Binfmt(args) => binfmt::binfmt(&args),
            Command::Gc(args) => gc::gc(&args, &cli.global).await,
            Command::Doctor(args) => doctor::doctor(&args, &cli.global).await,
            Command::Audit(args) => audit::audit(&args, &cli.global).await,
            Command::Merge(args) => merge::merge(&args, &cli.global).await,
            Command::Verify(args) => verify::verify(&args, &cli.global).await,
            Command::Attest(args) => attest::attest(&args, &cli.global).await,
            Command::Convert(args) => cst::convert(&args),
            Command::Validate(args) => cst::validate(&args),
            Command::Completions(args) => docs::completions(&args),
            Command::Man(args) => docs::man(&args),
            Command::Init(args) => init::init(&args, &cli.global).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(diagnostic) => {
            eprintln!("{diagnostic}");
            diagnostic.exit_code
        }
    }
}

/// Tracing on stderr; escape codes only where colour is wanted (a terminal, no `NO_COLOR`, or
/// `--color always`): a CI log or a file must get plain text.
fn init_tracing(verbose: u8, ansi: bool) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "warn",
        1 => "archsmoke=info",
        2 => "archsmoke=debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Secrets are registered later, when the spec is read; the writer masks them then.
        .with_writer(|| crate::redact::Writer(std::io::stderr()))
        .with_target(false)
        .with_ansi(ansi)
        .init();
}

fn parse_output_limit(text: &str) -> Result<usize, String> {
    match crate::spec::parse_size(text) {
        Some(n) if (1024..=crate::spec::MAX_OUTPUT_LIMIT as u64).contains(&n) => Ok(n as usize),
        Some(_) => Err("out of range: use 1KiB to 256MiB".into()),
        None => Err("write a size such as 64KiB, 1MiB or 16MiB".into()),
    }
}

fn engine_error(e: &crate::engine::EngineError) -> Diagnostic {
    Diagnostic::infrastructure(e.to_string()).with_hint(e.hint())
}
