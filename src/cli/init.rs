//! `archsmoke init IMAGE [-o FILE]`: writes a starter spec for an image (see
//! [`crate::pipeline::starter_spec`]).

use std::path::PathBuf;

use clap::Args;

use super::GlobalArgs;
use crate::diagnostic::Diagnostic;
use crate::exit;

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The image: `registry/repo:tag`, `oci-archive:FILE[:TAG]`, `oci-layout:DIR[:TAG]`,
    /// `docker-daemon:NAME`.
    image: String,
    /// Write the spec here instead of stdout; an existing file is not overwritten.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

pub async fn init(args: &InitArgs, global: &GlobalArgs) -> Result<i32, Diagnostic> {
    let text =
        crate::pipeline::starter_spec(&args.image, global.host.as_deref(), super::signals::watch)
            .await?;
    match &args.output {
        None => print!("{text}"),
        Some(path) => {
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
                .map_err(|e| {
                    Diagnostic::usage(format!("cannot create {}: {e}", path.display()))
                        .with_hint("choose a new file name, or remove the old spec first")
                })?;
            std::io::Write::write_all(&mut file, text.as_bytes()).map_err(|e| {
                Diagnostic::infrastructure(format!("cannot write {}: {e}", path.display()))
            })?;
            if !global.quiet {
                eprintln!(
                    "wrote {}; run it with `archsmoke run {}`",
                    path.display(),
                    path.display()
                );
            }
        }
    }
    Ok(exit::SUCCESS)
}
