//! The emulation policy a run follows: whether platforms may, must not, or must run under an
//! emulator. This module owns only the names; what a policy does to each platform is decided by
//! [`crate::plan`], next to the execution mode it constrains.

use std::fmt;

use serde::Serialize;

/// `[settings] emulation = "allow" | "forbid" | "only"`, or `--emulation` (which wins).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    /// Native where the engine's CPU runs it, emulated otherwise (the default).
    #[default]
    Allow,
    /// Native only: a platform that needs an emulator fails (a release gate on native runners
    /// that must not trust QEMU's results).
    Forbid,
    /// Emulated only: native platforms are reported as not tested (a job that checks just the
    /// emulated platforms while another job covers the native ones).
    Only,
}

impl Policy {
    pub const NAMES: [&'static str; 3] = ["allow", "forbid", "only"];

    pub fn parse(s: &str) -> Option<Policy> {
        match s {
            "allow" => Some(Policy::Allow),
            "forbid" => Some(Policy::Forbid),
            "only" => Some(Policy::Only),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Policy::Allow => "allow",
            Policy::Forbid => "forbid",
            Policy::Only => "only",
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_rejected() {
        for name in Policy::NAMES {
            let policy = Policy::parse(name).expect("a listed name parses");
            assert_eq!(policy.name(), name);
        }
        assert_eq!(Policy::parse("Allow"), None, "names are lower case");
        assert_eq!(Policy::parse("native"), None);
        assert_eq!(Policy::default(), Policy::Allow);
    }
}
