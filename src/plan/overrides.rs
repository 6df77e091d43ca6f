//! What the command line says over the spec: each setting's precedence (the command line over
//! the spec, the spec over the defaults) spelled once.

use crate::emulation::Policy;
use crate::platform::{MatchMode, Platform};
use crate::spec::Spec;

/// Options that come from the command line and override the spec.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub platforms: Option<Vec<Platform>>,
    pub variant_match: Option<MatchMode>,
    /// `--emulation`: wins over `[settings] emulation`.
    pub emulation: Option<Policy>,
    /// `--skip-unavailable`: a platform that cannot run here is reported as not tested instead
    /// of failing the run.
    pub skip_unavailable: bool,
}

impl Overrides {
    /// The command line over the spec, the spec over the defaults: each setting's precedence
    /// is spelled once, in the accessors below. [`crate::pipeline::Config`] holds the merged
    /// values (every `Some`), so the plan's own reading of them changes nothing.
    pub fn over(&self, spec: &Spec) -> Overrides {
        Overrides {
            platforms: self.platforms(spec).map(<[Platform]>::to_vec),
            variant_match: Some(self.variant_match(spec)),
            emulation: Some(self.emulation(spec)),
            skip_unavailable: self.skip_unavailable,
        }
    }

    /// The platforms asked for: `--platform`, else the spec's `platforms`; `None` for every
    /// platform of the image ([`super::platforms_to_run`]).
    pub fn platforms<'a>(&'a self, spec: &'a Spec) -> Option<&'a [Platform]> {
        self.platforms.as_deref().or(spec.platforms.as_deref())
    }

    pub fn variant_match(&self, spec: &Spec) -> MatchMode {
        self.variant_match.unwrap_or(spec.settings.variant_match)
    }

    pub fn emulation(&self, spec: &Spec) -> Policy {
        self.emulation.unwrap_or(spec.settings.emulation)
    }
}
