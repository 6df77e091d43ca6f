//! The command line: flags (clap), then one function per subcommand that hands them to the
//! library (the run [`crate::pipeline`] for `run` and `inspect`) and writes what comes back.
//! The exit-code policy is applied here and nowhere else.

mod audit;
mod binfmt;
mod doctor;
mod gc;
mod init;
mod inspect;
mod run;

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::diagnostic::Diagnostic;
use crate::exit;
use crate::pipeline::new_run_id;
use crate::platform::{MatchMode, Platform};

#[derive(Debug, Parser)]
#[command(
    name = "archsmoke",
    version,
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
    /// Docker Engine endpoint (default: DOCKER_HOST, else unix:///var/run/docker.sock).
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
    /// archsmoke's temporary images (archsmoke-probe, archsmoke-load).
    Gc(GcArgs),
    /// Show what this machine and its engine can run: the engine, binfmt_misc entries and their
    /// flags, and per platform native / emulated / unavailable with the command that fixes it.
    Doctor(DoctorArgs),
    /// Audit every platform's executables for the wrong architecture, without running anything.
    Audit(AuditArgs),
    /// Write a commented starter spec for an image: its platforms, a machine check per platform,
    /// its config's metadata, its entrypoint binary and the ELF audit.
    Init(init::InitArgs),
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// The image (index or single manifest) to read from its registry.
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
    /// The test spec (TOML).
    spec: PathBuf,
    /// The image to test (overrides `image` in the spec).
    #[arg(long, value_name = "REF")]
    image: Option<String>,
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

/// Parse the command line, run, and return the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
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
