//! `archsmoke binfmt list | install | remove`: manage the kernel's QEMU entries.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::diagnostic::Diagnostic;
use crate::emulation::binfmt::DEFAULT_BINFMT_DIR;
use crate::emulation::register::{self, InstallOptions, RegisterError};
use crate::exit;

#[derive(Debug, Args)]
pub struct BinfmtArgs {
    #[command(subcommand)]
    action: BinfmtAction,
}

#[derive(Debug, Subcommand)]
enum BinfmtAction {
    /// Show binfmt_misc's state and, per architecture, which entries emulate it (no root needed).
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Register QEMU for architectures (aarch64/arm64, arm, ppc64le, s390x, riscv64, i386,
    /// x86_64, mips64el, loongarch64) or `all`, with flags F and P. Needs root.
    Install {
        /// Architectures, or `all`.
        #[arg(value_name = "ARCH", required = true)]
        archs: Vec<String>,
        /// Use this statically linked interpreter (one architecture only).
        #[arg(long, value_name = "PATH")]
        interpreter: Option<PathBuf>,
        /// Replace an existing entry of the same name.
        #[arg(long)]
        force: bool,
    },
    /// Unregister the QEMU entries of architectures (as `install` names them). Needs root.
    Remove {
        /// Architectures whose entries to remove (arm64, ppc64le, ...).
        #[arg(value_name = "ARCH", required = true)]
        archs: Vec<String>,
    },
}

pub fn binfmt(args: &BinfmtArgs) -> Result<i32, Diagnostic> {
    // Before anything reads /proc: on macOS there is none, and the emulators are the VM's.
    register::linux_only().map_err(register_error)?;
    let dir = PathBuf::from(DEFAULT_BINFMT_DIR);
    match &args.action {
        BinfmtAction::List { json } => {
            let listing = register::list(&crate::emulation::binfmt::read_dir())
                .map_err(|e| Diagnostic::infrastructure(e.to_string()))?;
            if *json {
                let text = serde_json::to_string_pretty(&listing)
                    .map_err(|e| Diagnostic::infrastructure(e.to_string()))?;
                println!("{text}");
            } else {
                print!("{listing}");
            }
        }
        BinfmtAction::Install {
            archs,
            interpreter,
            force,
        } => {
            let opts = InstallOptions {
                interpreter: interpreter.clone(),
                force: *force,
                ..InstallOptions::default()
            };
            for outcome in register::install(archs, &opts).map_err(register_error)? {
                println!("{outcome}");
            }
        }
        BinfmtAction::Remove { archs } => {
            for outcome in register::remove(archs, &dir).map_err(register_error)? {
                println!("{outcome}");
            }
        }
    }
    Ok(exit::SUCCESS)
}

fn register_error(e: RegisterError) -> Diagnostic {
    if matches!(e, RegisterError::NotLinux { .. }) {
        return Diagnostic::usage(e.to_string()).with_hint(register::VM_EMULATORS_HINT);
    }
    let usage = matches!(
        e,
        RegisterError::UnknownArch { .. }
            | RegisterError::NoArchitectures
            | RegisterError::InterpreterForMany { .. }
            | RegisterError::NotRoot { .. }
            | RegisterError::AlreadyRegistered { .. }
    );
    if usage {
        Diagnostic::usage(e.to_string())
    } else {
        Diagnostic::infrastructure(e.to_string())
            .with_hint("install QEMU with `sudo apt-get install qemu-user-static`, then retry")
    }
}
