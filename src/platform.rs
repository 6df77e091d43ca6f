//! OCI platforms (`os/arch[/variant]`): parsing, containerd-compatible normalization, and
//! choosing an index entry for a requested platform.
//!
//! This module owns the vocabulary every other module uses to name a platform. It is pure: no
//! I/O, no knowledge of engines or registries. Its borders:
//!
//! - [`Platform::new`] normalizes exactly like containerd's `platforms.Normalize`
//!   (`database.go`), so that an index entry, an image config and a user's request compare
//!   equal whenever containerd (and therefore Docker) would consider them the same. The one
//!   difference is representation: a `Platform` always holds the *normalized* form, so
//!   `linux/arm` is `linux/arm/v7` and `linux/arm64/v8` is `linux/arm64`, where containerd's
//!   `Parse` keeps what the user typed and normalizes only when matching.
//! - [`Platform::parse`] reads what users write in specs and on the command line. It is stricter
//!   than containerd's `Parse`: the OS is never filled in from the machine the CLI runs on (the
//!   engine may be remote), wildcards and `os(version+features)` are refused, and names that are
//!   almost certainly mistakes (`linx`, `amd46`, Debian's `ppc64el`, uname's `armv7l`) are
//!   errors with a "did you mean". Unknown but well-formed names are accepted, as containerd
//!   accepts them.
//! - [`from_uname_machine`] translates the engine's `uname -m` answer (Docker's `/info`
//!   `Architecture`) into a `Platform`; uname names never reach `Platform::new` directly.
//! - [`select`] picks an index entry: strictly (only the requested platform) or with
//!   containerd's `platforms.Only` fallback order (`compare.go`), and says why it chose it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[cfg(test)]
mod tests;

/// The form every platform string takes, quoted in error messages.
const EXPECTED_FORM: &str = "os/arch[/variant], e.g. linux/arm64 or linux/arm/v7";

/// The OS and architecture buildx writes on attestation manifests; never runnable.
const UNKNOWN: &str = "unknown";

/// Go's GOOS values (containerd `database.go` `isKnownOS`, plus `wasip1` from Go's syslist).
/// Used only to recognize near misses; other well-formed names are accepted.
const KNOWN_OS: &[&str] = &[
    "aix",
    "android",
    "darwin",
    "dragonfly",
    "freebsd",
    "hurd",
    "illumos",
    "ios",
    "js",
    "linux",
    "nacl",
    "netbsd",
    "openbsd",
    "plan9",
    "solaris",
    "wasip1",
    "windows",
    "zos",
];

/// Go's GOARCH values (containerd `database.go` `isKnownArch`). Used only to recognize near
/// misses; other well-formed names are accepted.
const KNOWN_ARCH: &[&str] = &[
    "386",
    "amd64",
    "amd64p32",
    "arm",
    "armbe",
    "arm64",
    "arm64be",
    "ppc64",
    "ppc64le",
    "loong64",
    "mips",
    "mipsle",
    "mips64",
    "mips64le",
    "mips64p32",
    "mips64p32le",
    "ppc",
    "riscv",
    "riscv64",
    "s390",
    "s390x",
    "sparc",
    "sparc64",
    "wasm",
];

/// A normalized platform: os, architecture and optional variant, in OCI/Go form.
///
/// Always normalized (see [`Platform::new`]), so `==` is containerd's strict match.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Platform {
    os: String,
    architecture: String,
    variant: Option<String>,
}

impl Platform {
    /// Builds a platform from index or config fields, normalizing like containerd's
    /// `platforms.Normalize`: lowercase; `macos` → `darwin`; `x86_64`/`x86-64` → `amd64`;
    /// `amd64/v1` → `amd64`; `aarch64` → `arm64`; `arm64/v8` → `arm64`; `arm64/9` → `arm64/v9`;
    /// `armhf` → `arm/v7`; `armel` → `arm/v6`; `arm` → `arm/v7`; `arm/6` → `arm/v6`;
    /// `i386` → `386`. An empty OS or architecture becomes `unknown` (containerd would fill in
    /// its own host, which says nothing about the image); an empty variant is no variant.
    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> Platform {
        let os = normalize_os(os);
        let (architecture, variant) = normalize_arch(architecture, variant.unwrap_or(""));
        Platform {
            os,
            architecture: if architecture.is_empty() {
                UNKNOWN.to_owned()
            } else {
                architecture
            },
            variant: (!variant.is_empty()).then_some(variant),
        }
    }

    /// Parses a user-written platform: `linux/arm64`, `linux/arm/v7`, `linux/amd64/v2`.
    ///
    /// Both the OS and the architecture are required. See the module documentation for what
    /// is refused and why.
    pub fn parse(s: &str) -> Result<Platform, PlatformError> {
        parse(s)
    }

    /// The operating system, e.g. `linux`.
    pub fn os(&self) -> &str {
        &self.os
    }

    /// The architecture in Go form, e.g. `arm64`, `386`.
    pub fn architecture(&self) -> &str {
        &self.architecture
    }

    /// The variant, e.g. `v7` for `linux/arm/v7`; `None` for `linux/arm64`.
    pub fn variant(&self) -> Option<&str> {
        self.variant.as_deref()
    }

    /// True for the `unknown/unknown` placeholder buildx puts on attestation manifests, and
    /// for any entry whose OS or architecture is unknown: nothing can run such an entry.
    pub fn is_unknown(&self) -> bool {
        self.os == UNKNOWN || self.architecture == UNKNOWN
    }

    /// The platforms an engine for `self` accepts, best first: containerd's
    /// `platforms.Only(self)` order (`compare.go` `platformVector`). `self` always comes first.
    ///
    /// - `amd64/vN` → `amd64/vN` … `amd64` (v1), then `386`;
    /// - `arm/vN` → `arm/vN` … `arm/v5`;
    /// - `arm64/v9.x` → `arm64/v9.x` … `arm64/v9`, `arm64/v8.(x+5)` … `arm64`, then `arm/v8` …
    ///   `arm/v5`; `arm64/v8.x` → `arm64/v8.x` … `arm64`, then `arm/v8` … `arm/v5`.
    ///
    /// containerd returns an empty list for an `arm64` variant it has no table entry for (so
    /// `Only(linux/arm64/v10)` matches nothing, not even itself); here such a platform matches
    /// itself only.
    pub fn compatible_platforms(&self) -> Vec<Platform> {
        let mut vector = vec![self.clone()];
        match self.architecture.as_str() {
            "amd64" => {
                if let Some(level) = self.variant_number() {
                    for lower in (1..level).rev() {
                        vector.push(self.with_arch("amd64", Some(&format!("v{lower}"))));
                    }
                }
                vector.push(self.with_arch("386", None));
            }
            "arm" => {
                if let Some(version) = self.variant_number() {
                    for lower in (5..version).rev() {
                        vector.push(self.with_arch("arm", Some(&format!("v{lower}"))));
                    }
                }
            }
            "arm64" => {
                // Go's `arm64` without a variant is v8.0.
                let variant = self.variant().unwrap_or("v8");
                if let Some(ladder) = arm64_ladder(variant) {
                    vector.clear();
                    for (major, top_minor) in ladder {
                        for minor in (0..=top_minor).rev() {
                            let variant = if minor == 0 {
                                format!("v{major}")
                            } else {
                                format!("v{major}.{minor}")
                            };
                            vector.push(self.with_arch("arm64", Some(&variant)));
                        }
                    }
                    // Every arm64 v8.x/v9.x CPU runs 32-bit arm up to v8 (AArch32).
                    vector.extend(self.with_arch("arm", Some("v8")).compatible_platforms());
                }
            }
            _ => {}
        }
        vector
    }

    fn with_arch(&self, architecture: &str, variant: Option<&str>) -> Platform {
        Platform::new(&self.os, architecture, variant)
    }

    /// `N` of a `vN` variant, the way containerd reads it (`strconv.Atoi` after trimming `v`).
    fn variant_number(&self) -> Option<u32> {
        let variant = self.variant()?;
        variant.strip_prefix('v').unwrap_or(variant).parse().ok()
    }
}

/// containerd's `arm64variantToVersion` (`compare.go`): for an arm64 variant, the (major,
/// highest minor) pairs it accepts, best first.
fn arm64_ladder(variant: &str) -> Option<Vec<(u32, u32)>> {
    let v8_minor = |minor: u32| Some(vec![(8, minor)]);
    match variant {
        "v8" | "v8.0" => v8_minor(0),
        "v9" | "v9.0" => Some(vec![(9, 0), (8, 5)]),
        _ => {
            let (major, minor) = variant.strip_prefix('v')?.split_once('.')?;
            let minor: u32 = minor.parse().ok()?;
            match (major, minor) {
                ("8", 1..=9) => v8_minor(minor),
                // v9.x implements v8.(x+5), capped at v8.9.
                ("9", 1..=7) => Some(vec![(9, minor), (8, (minor + 5).min(9))]),
                _ => None,
            }
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

impl FromStr for Platform {
    type Err = PlatformError;

    fn from_str(s: &str) -> Result<Platform, PlatformError> {
        parse(s)
    }
}

impl Serialize for Platform {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Platform {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Platform, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Why a platform string was refused. Each message names the input, says what is wrong and
/// shows the expected form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlatformError {
    #[error("the platform is empty; expected {EXPECTED_FORM}")]
    Empty,
    #[error(
        "platform {input:?} names only an architecture; write {suggestion:?} ({EXPECTED_FORM}): \
         the OS is never guessed, because the engine may run elsewhere"
    )]
    MissingOs { input: String, suggestion: String },
    #[error(
        "platform {input:?} names only an OS; add the architecture, e.g. \"{os}/amd64\" \
         ({EXPECTED_FORM})"
    )]
    MissingArchitecture { input: String, os: String },
    #[error("platform {input:?} is neither an OS nor an architecture; expected {EXPECTED_FORM}")]
    Unrecognized { input: String },
    #[error("platform {input:?} has {count} components; expected at most 3: {EXPECTED_FORM}")]
    TooManyComponents { input: String, count: usize },
    #[error("platform {input:?} has an empty {component}; expected {EXPECTED_FORM}")]
    EmptyComponent {
        input: String,
        component: &'static str,
    },
    #[error(
        "platform {input:?}: the {component} {value:?} contains {character:?}; use only \
         letters, digits, '_', '-'{} ({EXPECTED_FORM})",
        if *.component == "OS" { "" } else { " and '.'" }
    )]
    InvalidCharacter {
        input: String,
        component: &'static str,
        value: String,
        character: char,
    },
    #[error(
        "platform {input:?}: wildcards are not supported; list each platform, e.g. linux/arm64"
    )]
    Wildcard { input: String },
    #[error(
        "platform {input:?}: OS versions and features (\"os(version+feature)\") are not \
         supported; write {EXPECTED_FORM}"
    )]
    OsOptions { input: String },
    #[error(
        "platform {input:?} is the placeholder buildx writes on attestation manifests, not a \
         runnable platform; expected {EXPECTED_FORM}"
    )]
    Placeholder { input: String },
    #[error("platform {input:?}: unknown OS {os:?}; did you mean {suggestion:?}?")]
    UnknownOs {
        input: String,
        os: String,
        suggestion: String,
    },
    #[error(
        "platform {input:?}: unknown architecture {architecture:?}; did you mean {suggestion:?}?"
    )]
    UnknownArchitecture {
        input: String,
        architecture: String,
        suggestion: String,
    },
    #[error(
        "platform {input:?}: variant {variant:?} lacks its \"v\"; did you mean {suggestion:?}?"
    )]
    BareVariant {
        input: String,
        variant: String,
        suggestion: String,
    },
}

fn parse(input: &str) -> Result<Platform, PlatformError> {
    let owned = || input.to_owned();
    if input.is_empty() {
        return Err(PlatformError::Empty);
    }
    if input.contains('*') {
        return Err(PlatformError::Wildcard { input: owned() });
    }
    let parts: Vec<&str> = input.split('/').collect();
    if parts[0].contains('(') {
        return Err(PlatformError::OsOptions { input: owned() });
    }
    if parts.len() > 3 {
        return Err(PlatformError::TooManyComponents {
            input: owned(),
            count: parts.len(),
        });
    }
    for (index, part) in parts.iter().enumerate() {
        let component = ["OS", "architecture", "variant"][index];
        if part.is_empty() {
            return Err(PlatformError::EmptyComponent {
                input: owned(),
                component,
            });
        }
        let allowed =
            |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-' || (index > 0 && c == '.');
        if let Some(character) = part.chars().find(|&c| !allowed(c)) {
            return Err(PlatformError::InvalidCharacter {
                input: owned(),
                component,
                value: (*part).to_owned(),
                character,
            });
        }
    }
    if parts.len() == 1 {
        return Err(single_component_error(input));
    }

    let platform = Platform::new(parts[0], parts[1], parts.get(2).copied());
    if platform.is_unknown() {
        return Err(PlatformError::Placeholder { input: owned() });
    }
    if !KNOWN_OS.contains(&platform.os()) {
        // One edit for short names, so that unrelated short names are not "corrected".
        let reach = if platform.os().len() <= 4 { 1 } else { 2 };
        if let Some(os) = near_miss(platform.os(), KNOWN_OS, reach) {
            let suggestion = Platform::new(os, platform.architecture(), platform.variant());
            return Err(PlatformError::UnknownOs {
                input: owned(),
                os: platform.os,
                suggestion: suggestion.to_string(),
            });
        }
    }
    if !KNOWN_ARCH.contains(&platform.architecture()) {
        // Architectures are short and dense (arm, armbe, arm64): allow a single edit only.
        let guess = architecture_alias(platform.architecture()).or_else(|| {
            near_miss(platform.architecture(), KNOWN_ARCH, 1)
                .map(|arch| Platform::new("linux", arch, platform.variant()))
        });
        if let Some(guess) = guess {
            let suggestion = Platform::new(platform.os(), guess.architecture(), guess.variant());
            return Err(PlatformError::UnknownArchitecture {
                input: owned(),
                architecture: platform.architecture,
                suggestion: suggestion.to_string(),
            });
        }
    }
    let bare_variant = platform
        .variant()
        .filter(|variant| variant.starts_with(|c: char| c.is_ascii_digit()));
    if let Some(variant) = bare_variant {
        // containerd adds the "v" only for arm and arm64; elsewhere "2" would silently never
        // match an index entry's "v2".
        let suggestion = Platform::new(
            platform.os(),
            platform.architecture(),
            Some(&format!("v{variant}")),
        );
        return Err(PlatformError::BareVariant {
            input: owned(),
            variant: variant.to_owned(),
            suggestion: suggestion.to_string(),
        });
    }
    Ok(platform)
}

/// The error for a one-component platform: containerd would fill in the host's OS or
/// architecture, which describes the CLI's machine, not necessarily the engine's.
fn single_component_error(input: &str) -> PlatformError {
    let lower = input.to_lowercase();
    let os = normalize_os(&lower);
    if KNOWN_OS.contains(&os.as_str()) {
        return PlatformError::MissingArchitecture {
            input: input.to_owned(),
            os,
        };
    }
    let from_machine = from_uname_machine("linux", &lower);
    if KNOWN_ARCH.contains(&from_machine.architecture()) {
        return PlatformError::MissingOs {
            input: input.to_owned(),
            suggestion: from_machine.to_string(),
        };
    }
    PlatformError::Unrecognized {
        input: input.to_owned(),
    }
}

/// The closest name in `known` at most `reach` edits (Damerau-Levenshtein) from `name`. Ties
/// prefer a name of the same length (`s390z` is `s390x` mistyped, not `s390` with an extra key).
fn near_miss(name: &str, known: &[&'static str], reach: usize) -> Option<&'static str> {
    known
        .iter()
        .map(|candidate| {
            let distance = strsim::damerau_levenshtein(name, candidate);
            (distance, name.len().abs_diff(candidate.len()), *candidate)
        })
        .filter(|(distance, _, _)| *distance <= reach)
        .min()
        .map(|(_, _, candidate)| candidate)
}

/// The Go platform meant by a non-Go architecture name (uname's `armv7l` or `i686`, Debian's
/// `ppc64el`, the common `x64`): as a user request such a name is almost certainly a mistake.
fn architecture_alias(architecture: &str) -> Option<Platform> {
    let meant = match architecture {
        "x64" => Platform::new("linux", "amd64", None),
        other => from_uname_machine("linux", other),
    };
    (meant.architecture() != architecture).then_some(meant)
}

/// Normalizes an architecture as the engine reports it (`uname -m`, the form of Docker's
/// `/info` `Architecture`: `x86_64`, `aarch64`, `armv7l`, `ppc64le`, `s390x`, `i686`,
/// `riscv64`, ...) into a platform. `os` is the engine's OS type (`/info` `OSType`).
///
/// `armvN…` gives `arm/vN` the way containerd reads its CPU variant (`cpuinfo_linux.go`
/// `getCPUVariantFromArch`), except that containerd calls `armv9` "unknown" and this keeps
/// `arm/v9`. A name it does not recognize is kept (lowercase) as the architecture, so that it
/// matches nothing rather than something wrong.
pub fn from_uname_machine(os: &str, machine: &str) -> Platform {
    let machine = machine.trim().to_lowercase();
    let (architecture, variant): (&str, Option<String>) = match machine.as_str() {
        "i386" | "i486" | "i586" | "i686" | "x86" => ("386", None),
        "aarch64_be" => ("arm64be", None),
        "loongarch64" => ("loong64", None),
        "ppc64el" | "powerpc64le" => ("ppc64le", None),
        "powerpc64" => ("ppc64", None),
        "powerpc" => ("ppc", None),
        "mipsel" => ("mipsle", None),
        "mips64el" => ("mips64le", None),
        arm if arm.starts_with("armv") => {
            let digits: String = arm[4..].chars().take_while(char::is_ascii_digit).collect();
            match (digits.is_empty(), arm.ends_with('b')) {
                (true, _) => (arm, None),
                // armv7b, armv8b: big-endian userland.
                (false, true) => ("armbe", None),
                (false, false) => ("arm", Some(format!("v{digits}"))),
            }
        }
        other => (other, None),
    };
    Platform::new(os, architecture, variant.as_deref())
}

fn normalize_os(os: &str) -> String {
    match os.to_lowercase().as_str() {
        "" => UNKNOWN.to_owned(),
        "macos" => "darwin".to_owned(),
        other => other.to_owned(),
    }
}

/// containerd's `normalizeArch` (`database.go`), case by case.
fn normalize_arch(architecture: &str, variant: &str) -> (String, String) {
    let architecture = architecture.to_lowercase();
    let variant = variant.to_lowercase();
    let (architecture, variant): (&str, &str) = match architecture.as_str() {
        "i386" => ("386", ""),
        "x86_64" | "x86-64" | "amd64" => ("amd64", if variant == "v1" { "" } else { &variant }),
        "aarch64" | "arm64" => (
            "arm64",
            match variant.as_str() {
                "8" | "v8" | "v8.0" => "",
                "9" | "9.0" | "v9.0" => "v9",
                other => other,
            },
        ),
        "armhf" => ("arm", "v7"),
        "armel" => ("arm", "v6"),
        "arm" => {
            return (
                "arm".to_owned(),
                match variant.as_str() {
                    "" | "7" => "v7".to_owned(),
                    "5" | "6" | "8" => format!("v{variant}"),
                    _ => variant,
                },
            );
        }
        other => (other, &variant),
    };
    (architecture.to_owned(), variant.to_owned())
}

/// How far [`select`] may stray from the requested platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum MatchMode {
    /// Only the requested platform (after normalization): containerd's `OnlyStrict`.
    #[default]
    Strict,
    /// containerd's `Only` fallback order (see [`Platform::compatible_platforms`]).
    Compatible,
}

impl fmt::Display for MatchMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MatchMode::Strict => "strict",
            MatchMode::Compatible => "compatible",
        })
    }
}

/// The candidate [`select`] chose and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Selection {
    /// Position of the chosen entry in the candidate list.
    pub index: usize,
    pub reason: MatchReason,
}

/// Why an entry was chosen; its `Display` is a sentence for reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MatchReason {
    /// The entry is the requested platform.
    Exact,
    /// The index lacks the requested platform; `chosen` is the best entry containerd's
    /// compatibility order accepts instead.
    Fallback {
        requested: Platform,
        chosen: Platform,
    },
}

impl fmt::Display for MatchReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MatchReason::Exact => f.write_str("the index has an entry for exactly this platform"),
            MatchReason::Fallback { requested, chosen } => write!(
                f,
                "the index has no {requested} entry; chose {chosen}, the best entry containerd's \
                 compatibility rules accept for {requested} (variant_match = \"compatible\")"
            ),
        }
    }
}

/// Picks the candidate for `requested`.
///
/// Strict: the requested platform after normalization, nothing else. Compatible: the
/// best-ranked candidate in [`Platform::compatible_platforms`] order. Ties go to the first
/// candidate, as in the index. Unknown candidates (attestation manifests) are never chosen.
pub fn select(requested: &Platform, candidates: &[Platform], mode: MatchMode) -> Option<Selection> {
    let order = match mode {
        MatchMode::Strict => vec![requested.clone()],
        MatchMode::Compatible => requested.compatible_platforms(),
    };
    let (_, index) = candidates
        .iter()
        .enumerate()
        .filter(|(_, candidate)| !candidate.is_unknown())
        .filter_map(|(index, candidate)| {
            let rank = order.iter().position(|accepted| accepted == candidate)?;
            Some((rank, index))
        })
        .min()?;
    let chosen = &candidates[index];
    let reason = if chosen == requested {
        MatchReason::Exact
    } else {
        MatchReason::Fallback {
            requested: requested.clone(),
            chosen: chosen.clone(),
        }
    };
    Some(Selection { index, reason })
}
