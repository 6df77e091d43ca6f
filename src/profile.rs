//! An engine profile: what one engine is (its name in the run, what it said about itself, whether
//! it shares this machine's kernel) and how it runs each platform.
//!
//! [`EngineProfile::mode`] is the one place that answers "how would this engine run that
//! platform?" for `run`'s plan, `inspect` and `doctor`. The rules, in order:
//!
//! 1. What a probe container showed on this engine ([`EngineProfile::learn`]) wins: it is the
//!    engine's own answer, where everything else is a prediction.
//! 2. Another operating system than the engine's is unavailable: no emulator runs another OS's
//!    images (a Windows entry in a Linux engine's index).
//! 3. Otherwise [`crate::emulation::decide`]: native, 32-bit compat, emulated by a binfmt_misc
//!    entry, or unavailable with the fix, judged from this machine's binfmt_misc state, which
//!    describes the engine only when it is local (a remote engine gets no state, so anything
//!    but native and compat is "unknown, probe it").
//!
//! The profile is pure once built: reading `/proc/sys/fs/binfmt_misc` happens in
//! [`EngineProfile::read`], never in `mode`. Reports see an engine only as its
//! [`EngineSummary`] and platforms only as the engine's name, so that a run can route platforms
//! to several engines without the reporters noticing.

use crate::emulation::{BinfmtState, decide};
use crate::engine::EngineInfo;
use crate::mode::ExecMode;
use crate::outcome::{DEFAULT_ENGINE, EngineSummary};
use crate::platform::Platform;

#[derive(Debug, Clone)]
pub struct EngineProfile {
    name: String,
    /// The engine's own platform: what runs natively.
    platform: Platform,
    /// What the engine said about itself; `None` for [`EngineProfile::this_machine`].
    info: Option<EngineInfo>,
    /// The engine host's binfmt_misc state, when it is known (a local engine).
    binfmt: Option<BinfmtState>,
    /// What probe containers showed, platform by platform.
    learned: Vec<(Platform, ExecMode)>,
    /// Each emulator's version, by interpreter, once asked ([`EngineProfile::know_versions`]).
    versions: Vec<(std::path::PathBuf, Option<String>)>,
}

impl EngineProfile {
    /// The profile of an engine that answered, with the binfmt_misc state of its host when that
    /// is known (pass `None` for a remote engine).
    pub fn new(name: &str, info: EngineInfo, binfmt: Option<BinfmtState>) -> EngineProfile {
        EngineProfile {
            name: name.to_owned(),
            platform: info.platform.clone(),
            info: Some(info),
            binfmt,
            learned: Vec::new(),
            versions: Vec::new(),
        }
    }

    /// [`EngineProfile::new`] for the run's one engine, reading this machine's binfmt_misc state
    /// when the engine shares its kernel (an unreadable state counts as unknown).
    pub fn read(info: EngineInfo) -> EngineProfile {
        let binfmt = if info.local {
            BinfmtState::read(&crate::emulation::binfmt::read_dir()).ok()
        } else {
            None
        };
        EngineProfile::new(DEFAULT_ENGINE, info, binfmt)
    }

    /// An engine that did not answer, assumed to run on this machine: `doctor` still says what
    /// such an engine would do with `binfmt`.
    pub fn this_machine(platform: Platform, binfmt: Option<BinfmtState>) -> EngineProfile {
        EngineProfile {
            name: DEFAULT_ENGINE.to_owned(),
            platform,
            info: None,
            binfmt,
            learned: Vec::new(),
            versions: Vec::new(),
        }
    }

    /// The name platforms and reports refer to the engine by.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The engine's own platform.
    pub fn platform(&self) -> &Platform {
        &self.platform
    }

    pub fn info(&self) -> Option<&EngineInfo> {
        self.info.as_ref()
    }

    /// The engine shares this machine's kernel (assumed when it did not answer).
    pub fn local(&self) -> bool {
        self.info.as_ref().is_none_or(|i| i.local)
    }

    /// The binfmt_misc state the modes are judged from, when it describes the engine.
    pub fn binfmt(&self) -> Option<&BinfmtState> {
        self.binfmt.as_ref()
    }

    /// The engine as reports show it; `None` when it did not answer.
    pub fn summary(&self) -> Option<EngineSummary> {
        self.info.as_ref().map(|i| EngineSummary {
            name: self.name.clone(),
            endpoint: i.endpoint.clone(),
            local: i.local,
            version: i.version.clone(),
            api_version: i.api_version.clone(),
            platform: i.platform.clone(),
            rootless: i.rootless,
        })
    }

    /// Records what a probe container showed about `platform` on this engine; [`Self::mode`]
    /// answers with it from now on.
    pub fn learn(&mut self, platform: Platform, mode: ExecMode) {
        self.learned.retain(|(p, _)| *p != platform);
        self.learned.push((platform, mode));
    }

    /// Whether this engine can run `platform`'s operating system at all: no emulator runs
    /// another OS's images. The one place that says so, for the modes and the plan.
    pub fn runs_os(&self, platform: &Platform) -> bool {
        platform.os() == self.platform.os()
    }

    /// Records each emulator's version (asked of its interpreter by the caller, which may run
    /// processes); [`Self::mode`] names it from now on, so a plan is made with the versions in.
    pub fn know_versions(&mut self, versions: &[(std::path::PathBuf, Option<String>)]) {
        self.versions = versions.to_vec();
    }

    /// How this engine runs `platform` (the rules are in the module documentation), with the
    /// emulator's version when it is known.
    pub fn mode(&self, platform: &Platform) -> ExecMode {
        let mut mode = self.mode_of(platform);
        if let ExecMode::Emulated { emulator } = &mut mode
            && emulator.version.is_none()
            && let Some((_, version)) = self
                .versions
                .iter()
                .find(|(i, _)| *i == emulator.interpreter)
        {
            emulator.version.clone_from(version);
        }
        mode
    }

    fn mode_of(&self, platform: &Platform) -> ExecMode {
        if let Some((_, mode)) = self.learned.iter().find(|(p, _)| p == platform) {
            return mode.clone();
        }
        let os = self.platform.os();
        if !self.runs_os(platform) {
            return ExecMode::Unavailable {
                reason: format!(
                    "a {} image; this engine runs {os} containers",
                    platform.os()
                ),
                hint: format!("run it on a {} engine", platform.os()),
            };
        }
        decide(
            self.platform.architecture(),
            platform.architecture(),
            platform.variant(),
            self.binfmt.as_ref(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Platform {
        Platform::parse(s).expect("valid platform")
    }

    fn binfmt(arches: &[&str]) -> BinfmtState {
        crate::emulation::binfmt::qemu_fixture(arches)
    }

    fn info(platform: &str, local: bool) -> EngineInfo {
        EngineInfo {
            endpoint: if local {
                "unix:///var/run/docker.sock".into()
            } else {
                "tcp://arm-box:2376".into()
            },
            local,
            local_why: String::new(),
            kernel: String::new(),
            operating_system: String::new(),
            version: "20.10.24".into(),
            api_version: "1.41".into(),
            platform: p(platform),
            rootless: false,
        }
    }

    fn local_amd64(arches: &[&str]) -> EngineProfile {
        EngineProfile::new(
            DEFAULT_ENGINE,
            info("linux/amd64", true),
            Some(binfmt(arches)),
        )
    }

    #[test]
    fn a_known_emulator_version_is_in_every_mode_that_uses_that_emulator() {
        let mut engine = local_amd64(&["arm64"]);
        let ExecMode::Emulated { emulator } = engine.mode(&p("linux/arm64")) else {
            panic!("arm64 is emulated here");
        };
        assert_eq!(emulator.version, None, "not asked yet");
        engine.know_versions(&[(
            emulator.interpreter.clone(),
            Some("qemu-aarch64 version 7.2.22".into()),
        )]);
        let mode = engine.mode(&p("linux/arm64"));
        assert_eq!(mode.to_string(), "qemu-aarch64 7.2.22");
        // Native platforms and other emulators are untouched.
        assert_eq!(engine.mode(&p("linux/amd64")).to_string(), "native");
    }

    #[test]
    fn the_engines_own_architecture_is_native_and_its_32_bit_companion_compat() {
        let engine = local_amd64(&[]);
        assert_eq!(
            engine.mode(&p("linux/amd64")),
            ExecMode::Native { compat: false }
        );
        assert_eq!(
            engine.mode(&p("linux/386")),
            ExecMode::Native { compat: true }
        );
    }

    #[test]
    fn a_registered_entry_emulates_and_a_missing_one_says_how_to_install_it() {
        let engine = local_amd64(&["arm64"]);
        let ExecMode::Emulated { emulator } = engine.mode(&p("linux/arm64")) else {
            panic!("arm64 has an entry: emulated");
        };
        assert_eq!(emulator.entry, "qemu-aarch64");
        let ExecMode::Unavailable { hint, .. } = engine.mode(&p("linux/riscv64")) else {
            panic!("riscv64 has no entry: unavailable");
        };
        assert!(hint.contains("binfmt install riscv64"), "{hint}");
    }

    #[test]
    fn another_operating_system_is_unavailable_whatever_the_architecture() {
        let engine = local_amd64(&["arm64"]);
        for platform in ["windows/amd64", "windows/arm64"] {
            let ExecMode::Unavailable { reason, hint } = engine.mode(&p(platform)) else {
                panic!("{platform} on a linux engine must be unavailable");
            };
            assert_eq!(reason, "a windows image; this engine runs linux containers");
            assert_eq!(hint, "run it on a windows engine");
        }
    }

    #[test]
    fn a_remote_engine_has_no_binfmt_state_so_only_native_and_compat_are_known() {
        let engine = EngineProfile::read(info("linux/arm64", false));
        assert!(
            engine.binfmt().is_none(),
            "a remote engine's kernel is not ours"
        );
        assert!(!engine.local());
        assert_eq!(
            engine.mode(&p("linux/arm64")),
            ExecMode::Native { compat: false }
        );
        assert_eq!(
            engine.mode(&p("linux/arm/v7")),
            ExecMode::Native { compat: true }
        );
        let ExecMode::Unavailable { reason, .. } = engine.mode(&p("linux/amd64")) else {
            panic!("unknown without a probe");
        };
        assert!(reason.contains("only a probe container shows"), "{reason}");
    }

    #[test]
    fn what_a_probe_learned_wins_over_the_prediction() {
        let mut engine = EngineProfile::read(info("linux/arm64", false));
        let amd64 = p("linux/amd64");
        let shown = ExecMode::Native { compat: false };
        engine.learn(amd64.clone(), shown.clone());
        assert_eq!(engine.mode(&amd64), shown);
        assert!(matches!(
            engine.mode(&p("linux/s390x")),
            ExecMode::Unavailable { .. }
        ));
    }

    #[test]
    fn an_engine_that_did_not_answer_is_judged_as_one_on_this_machine() {
        let engine = EngineProfile::this_machine(p("linux/amd64"), Some(binfmt(&["s390x"])));
        assert!(engine.local() && engine.summary().is_none());
        assert!(matches!(
            engine.mode(&p("linux/s390x")),
            ExecMode::Emulated { .. }
        ));
    }

    #[test]
    fn the_summary_carries_the_name_reports_use() {
        let summary = local_amd64(&[]).summary().expect("the engine answered");
        assert_eq!(summary.name, "default");
        assert_eq!(summary.platform, p("linux/amd64"));
        assert_eq!(summary.version, "20.10.24");
    }
}
