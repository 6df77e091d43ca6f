//! `archsmoke completions SHELL` and `archsmoke man`: shell completions (clap_complete) and
//! man pages (clap_mangen) generated from the clap definitions, so they never drift from the
//! flags the binary accepts.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use clap_complete::Shell;

use crate::diagnostic::Diagnostic;
use crate::exit;

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    shell: Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write archsmoke.1 and one page per subcommand (archsmoke-run.1, ...) into this
    /// directory instead of printing archsmoke.1 on stdout.
    #[arg(long, value_name = "DIR")]
    out_dir: Option<PathBuf>,
}

pub fn completions(args: &CompletionsArgs) -> Result<i32, Diagnostic> {
    let mut command = super::command();
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut command, "archsmoke", &mut out);
    write_stdout(&out)
}

pub fn man(args: &ManArgs) -> Result<i32, Diagnostic> {
    let command = super::command();
    match &args.out_dir {
        None => {
            let mut out = Vec::new();
            clap_mangen::Man::new(command)
                .render(&mut out)
                .map_err(|e| {
                    Diagnostic::infrastructure(format!("cannot render the man page: {e}"))
                })?;
            write_stdout(&out)
        }
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| {
                Diagnostic::infrastructure(format!("cannot create {}: {e}", dir.display()))
            })?;
            clap_mangen::generate_to(command, dir).map_err(|e| {
                Diagnostic::infrastructure(format!(
                    "cannot write the man pages to {}: {e}",
                    dir.display()
                ))
            })?;
            Ok(exit::SUCCESS)
        }
    }
}

/// A closed pipe (`archsmoke man | head`) is not an error worth a message.
fn write_stdout(bytes: &[u8]) -> Result<i32, Diagnostic> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Ok(()) => Ok(exit::SUCCESS),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(exit::SUCCESS),
        Err(e) => Err(Diagnostic::infrastructure(format!(
            "cannot write to stdout: {e}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn completion(shell: Shell) -> String {
        let mut command = super::super::command();
        let mut out = Vec::new();
        clap_complete::generate(shell, &mut command, "archsmoke", &mut out);
        String::from_utf8(out).expect("completions are UTF-8")
    }

    #[test]
    fn completions_name_the_subcommands_and_flags() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let text = completion(shell);
            // fish spells flags `-l junit`, the others `--junit`.
            for word in ["inspect", "doctor", "completions", "junit", "platform"] {
                assert!(text.contains(word), "{shell} completion lacks {word}");
            }
        }
    }

    #[test]
    fn man_page_is_roff_with_every_subcommand() {
        let mut out = Vec::new();
        clap_mangen::Man::new(super::super::command())
            .render(&mut out)
            .expect("render");
        let page = String::from_utf8(out).expect("UTF-8");
        assert!(page.starts_with(".ie \\n(.g .ds Aq"), "{}", &page[..80]);
        assert!(page.contains(".TH archsmoke 1"), "no title header");
        for sub in [
            "run",
            "inspect",
            "binfmt",
            "doctor",
            "audit",
            "completions",
            "man",
        ] {
            assert!(
                page.contains(&format!("archsmoke\\-{sub}")),
                "no {sub} in the page"
            );
        }
    }
}

#[cfg(test)]
mod help_tests {
    /// The long help of `archsmoke <path...>`.
    fn help(path: &[&str]) -> String {
        let mut command = super::super::command();
        // Globals reach the subcommands' help when the command is built, as at parse time.
        command.build();
        let mut sub = &mut command;
        for name in path {
            sub = sub.find_subcommand_mut(name).expect("subcommand");
        }
        sub.render_long_help().to_string()
    }

    /// Issue 28: `--host` and `-q` were offered by commands that never use them.
    #[test]
    fn global_flags_show_only_where_they_mean_something() {
        for name in ["completions", "man", "validate", "convert"] {
            let text = help(&[name]);
            assert!(!text.contains("--host"), "{name}:\n{text}");
            assert!(!text.contains("--quiet"), "{name}:\n{text}");
        }
        let run = help(&["run"]);
        assert!(run.contains("--host") && run.contains("--quiet"), "{run}");
        // Still accepted where hidden: they are global.
        super::super::command()
            .try_get_matches_from([
                "archsmoke",
                "validate",
                "--host",
                "unix:///x",
                "-q",
                "a.toml",
            ])
            .expect("hidden global flags still parse");
    }

    #[test]
    fn host_help_names_the_context_lookup_and_binfmt_remove_says_what_it_takes() {
        let run = help(&["run"]);
        assert!(run.contains("DOCKER_CONTEXT"), "{run}");
        assert!(run.contains("currentContext"), "{run}");
        let remove = help(&["binfmt", "remove"]);
        assert!(
            remove.contains("Architectures whose entries to remove"),
            "{remove}"
        );
    }
}
