//! `archsmoke convert` and `archsmoke validate`: container-structure-test configs, goss files
//! and specs, read without an engine or a registry.

use std::path::PathBuf;

use clap::Args;

use crate::diagnostic::Diagnostic;
use crate::exit;

#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// The container-structure-test config or goss file (YAML), or a directory holding goss.yaml.
    config: PathBuf,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Specs (TOML), container-structure-test configs and goss files (YAML).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Accept what `run --allow-privileged` would (privileged containers, host namespaces);
    /// without it, `validate` refuses them as `run` would.
    #[arg(long)]
    allow_privileged: bool,
}

/// Print the TOML equivalent of a cst config on stdout; every problem on stderr (exit 2).
pub fn convert(args: &ConvertArgs) -> Result<i32, Diagnostic> {
    match crate::goss::convert(&args.config) {
        Ok(toml) => {
            print!("{toml}");
            Ok(exit::SUCCESS)
        }
        Err(errors) => Err(all(&errors)),
    }
}

/// Report every problem of every file; exit 0 when all are valid, 2 otherwise.
pub fn validate(args: &ValidateArgs) -> Result<i32, Diagnostic> {
    let mut errors = Vec::new();
    for file in &args.files {
        // Loaded once: loading warns (a .json cst config's ignored keys), and twice would say
        // each warning twice.
        let found = match crate::goss::load_any(file, false) {
            Err(problems) => problems,
            // What `run` refuses after loading (privileged containers, the host's namespaces)
            // without its flag is a problem here too: a valid spec is one `run` accepts.
            Ok(spec) => spec
                .check_privileged(args.allow_privileged)
                .err()
                .into_iter()
                .collect(),
        };
        if found.is_empty() {
            println!("{}: ok", file.display());
        }
        errors.extend(found);
    }
    if errors.is_empty() {
        Ok(exit::SUCCESS)
    } else {
        Err(all(&errors))
    }
}

fn all(errors: &[crate::spec::SpecError]) -> Diagnostic {
    Diagnostic::usage(crate::spec::error::all(errors))
}
