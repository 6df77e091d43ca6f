//! Validation that keeps a spec from harming the host or the outputs: container limits
//! (`pids_limit`, `memory`), settings that weaken isolation (gated like `privileged`), and
//! strings that would reach the engine or the reports in a form they cannot carry (control
//! characters in names, NUL bytes in arguments, malformed environment names).

use std::collections::BTreeMap;

use toml::Spanned;

use super::raw::{RawSettings, RawTest};
use super::{SpecError, Validator};
use crate::limits::{Limits, MAX_PIDS, MIN_MEMORY};

use crate::diagnostic::{unprintable, unprintable_kind};

/// The largest memory limit accepted; beyond it a typo (`"16TB"`) is more likely than intent.
const MAX_MEMORY: u64 = 1 << 40;

impl Validator<'_> {
    /// The limits of `[settings]`, from the defaults.
    pub(super) fn settings_limits(&self, raw: &RawSettings) -> Result<Limits, SpecError> {
        self.limits(
            Limits::default(),
            raw.pids_limit.as_ref(),
            raw.memory.as_ref(),
        )
    }

    /// A test's limits, from the settings' ones.
    pub(super) fn test_limits(&self, raw: &RawTest, base: Limits) -> Result<Limits, SpecError> {
        self.limits(base, raw.pids_limit.as_ref(), raw.memory.as_ref())
    }

    fn limits(
        &self,
        mut limits: Limits,
        pids: Option<&Spanned<i64>>,
        memory: Option<&Spanned<String>>,
    ) -> Result<Limits, SpecError> {
        if let Some(p) = pids {
            let v = *p.get_ref();
            if !(1..=MAX_PIDS).contains(&v) {
                return Err(self
                    .err(p, format!("pids_limit = {v} is out of range"))
                    .with_hint(format!(
                        "use 1 to {MAX_PIDS} processes (default {})",
                        crate::limits::DEFAULT_PIDS
                    )));
            }
            limits.pids = v;
        }
        if let Some(m) = memory {
            let hint = "write a size such as \"512MiB\" or \"2GiB\" (6MiB to 1TiB; default 1GiB)";
            let bytes = super::parse_size(m.get_ref()).ok_or_else(|| {
                self.err(m, format!("bad size `{}`", m.get_ref()))
                    .with_hint(hint)
            })?;
            if !(MIN_MEMORY..=MAX_MEMORY).contains(&bytes) {
                return Err(self
                    .err(m, format!("memory `{}` is out of range", m.get_ref()))
                    .with_hint(hint));
            }
            limits.memory = bytes;
        }
        Ok(limits)
    }

    /// The error to give unless `--allow-privileged`, when the network shares a namespace with
    /// the host or another container: either lets a test reach what a confined one cannot.
    pub(super) fn network_gate(&self, network: Option<&Spanned<String>>) -> Option<SpecError> {
        let n = network?;
        let v = n.get_ref().trim();
        let why = if v == "host" {
            "network = \"host\" gives tests the host's network namespace"
        } else if v.starts_with("container:") {
            "network = \"container:...\" puts tests in another container's network namespace"
        } else {
            return None;
        };
        Some(self.err(n, why).with_hint(
            "it weakens isolation like privileged = true: pass --allow-privileged if you trust \
             this spec, or use \"none\" (the default) or a network name such as \"bridge\"",
        ))
    }

    /// A test name: see [`Validator::check_text`].
    pub(super) fn check_name(&self, name: &Spanned<String>) -> Result<(), SpecError> {
        self.check_text("the test name", name.get_ref(), name)
    }

    /// A name or path that reports print (`what` says which): no control characters, which
    /// would break report lines, XML and CI annotations (a newline can start a forged workflow
    /// command, ESC and OSC sequences drive the terminal), and no bidirectional overrides or
    /// invisible characters, which make a name read as another. The error points at `at`.
    pub(super) fn check_text<T>(
        &self,
        what: &str,
        text: &str,
        at: &Spanned<T>,
    ) -> Result<(), SpecError> {
        match text.chars().find(|&c| unprintable(c)) {
            Some(c) => Err(self
                .err(
                    at,
                    format!(
                        "{what} contains the character {c:?} ({})",
                        unprintable_kind(c)
                    ),
                )
                .with_hint("names are one line of printable text")),
            None => Ok(()),
        }
    }

    /// Arguments and environment the engine could not pass (a C string ends at NUL; `NAME=value`
    /// splits at the first `=`), refused here rather than by the engine mid-run.
    pub(super) fn check_process(&self, raw: &RawTest) -> Result<(), SpecError> {
        for (what, argv) in [("command", &raw.command), ("entrypoint", &raw.entrypoint)] {
            if let Some(argv) = argv
                && let Some(i) = argv.get_ref().iter().position(|a| a.contains('\0'))
            {
                return Err(self
                    .err(argv, format!("`{what}` element {i} contains a NUL byte"))
                    .with_hint("a process argument cannot hold NUL (\\u0000); remove it"));
            }
        }
        for (what, env) in [
            ("env", raw.env.as_ref()),
            ("secret_env", raw.secret_env.as_ref()),
        ] {
            if let Some(env) = env {
                self.check_env(what, env)?;
            }
        }
        Ok(())
    }

    fn check_env(
        &self,
        what: &str,
        env: &Spanned<BTreeMap<String, String>>,
    ) -> Result<(), SpecError> {
        for (name, value) in env.get_ref() {
            let problem = if name.is_empty() {
                Some("an empty variable name".to_owned())
            } else if name.contains('=') {
                Some(format!("the variable name `{name}` contains `=`"))
            } else if name.contains('\0') || value.contains('\0') {
                Some(format!(
                    "the variable `{}` contains a NUL byte",
                    name.escape_debug()
                ))
            } else {
                None
            };
            if let Some(problem) = problem {
                return Err(self.err(env, format!("`{what}` has {problem}")).with_hint(
                    "variable names are non-empty and hold no `=` (the engine splits NAME=value \
                     at the first `=`); values cannot hold NUL",
                ));
            }
        }
        Ok(())
    }
}
