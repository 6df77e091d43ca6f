//! Unit tests for `platform`. Most vectors are ported from containerd/platforms at commit
//! 09756f59cb1d6b3fb368f371043d36e634789537; each group names the upstream file and test.
//! Windows `os(version+features)` vectors are left out: this module does not model OS versions
//! or features (`parse` refuses them, see `os_options_are_refused`).

use super::*;

fn p(s: &str) -> Platform {
    Platform::parse(s).unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
}

fn raw(os: &str, architecture: &str, variant: &str) -> Platform {
    Platform::new(os, architecture, (!variant.is_empty()).then_some(variant))
}

fn strs(platforms: &[Platform]) -> Vec<String> {
    platforms.iter().map(ToString::to_string).collect()
}

// ---- Normalization: containerd `database.go` `normalizeArch`/`normalizeOS` ----------------

#[test]
fn normalize_arch_cases_from_database_go() {
    let cases = [
        // (os, arch, variant) -> normalized
        (("linux", "i386", ""), "linux/386"),
        (("linux", "i386", "v2"), "linux/386"), // i386 drops its variant
        (("linux", "x86_64", ""), "linux/amd64"),
        (("linux", "x86-64", ""), "linux/amd64"),
        (("linux", "amd64", "v1"), "linux/amd64"),
        (("linux", "x86_64", "v1"), "linux/amd64"),
        (("linux", "amd64", "v2"), "linux/amd64/v2"),
        (("linux", "amd64", "v3"), "linux/amd64/v3"),
        (("linux", "aarch64", ""), "linux/arm64"),
        (("linux", "aarch64", "v8"), "linux/arm64"),
        (("linux", "arm64", "8"), "linux/arm64"),
        (("linux", "arm64", "v8"), "linux/arm64"),
        (("linux", "arm64", "v8.0"), "linux/arm64"),
        (("linux", "arm64", "v8.2"), "linux/arm64/v8.2"),
        (("linux", "arm64", "9"), "linux/arm64/v9"),
        (("linux", "arm64", "9.0"), "linux/arm64/v9"),
        (("linux", "arm64", "v9.0"), "linux/arm64/v9"),
        (("linux", "arm64", "v9"), "linux/arm64/v9"),
        (("linux", "armhf", ""), "linux/arm/v7"),
        (("linux", "armhf", "v6"), "linux/arm/v7"), // armhf forces v7
        (("linux", "armel", ""), "linux/arm/v6"),
        (("linux", "arm", ""), "linux/arm/v7"),
        (("linux", "arm", "7"), "linux/arm/v7"),
        (("linux", "arm", "5"), "linux/arm/v5"),
        (("linux", "arm", "6"), "linux/arm/v6"),
        (("linux", "arm", "8"), "linux/arm/v8"),
        (("linux", "arm", "v6"), "linux/arm/v6"),
        (("linux", "s390x", ""), "linux/s390x"),
        (("linux", "ppc64le", ""), "linux/ppc64le"),
        // normalizeOS and the strings.ToLower of both
        (("macOS", "arm64", ""), "darwin/arm64"),
        (("Linux", "X86_64", ""), "linux/amd64"),
        (("linux", "Aarch64", "V8"), "linux/arm64"),
        (("linux", "ARM", "V7"), "linux/arm/v7"),
        // unknown architectures are kept, lowercase
        (("linux", "RISCV32", ""), "linux/riscv32"),
    ];
    for ((os, arch, variant), expected) in cases {
        assert_eq!(
            raw(os, arch, variant).to_string(),
            expected,
            "Platform::new({os:?}, {arch:?}, {variant:?})"
        );
    }
}

#[test]
fn empty_fields_are_unknown_not_host_defaults() {
    let p = raw("", "", "");
    assert_eq!(p.to_string(), "unknown/unknown");
    assert!(p.is_unknown());
    assert_eq!(raw("linux", "amd64", "").variant(), None);
    assert!(raw("linux", "", "").is_unknown());
    assert!(!raw("linux", "amd64", "").is_unknown());
}

#[test]
fn accessors_return_normalized_parts() {
    let arm = p("linux/armhf");
    assert_eq!(
        (arm.os(), arm.architecture(), arm.variant()),
        ("linux", "arm", Some("v7"))
    );
    let arm64 = p("linux/arm64/v8");
    assert_eq!(
        (arm64.os(), arm64.architecture(), arm64.variant()),
        ("linux", "arm64", None)
    );
}

// ---- Parse: containerd `platforms_test.go` `TestParseSelector` ----------------------------

/// A raw (os, architecture, variant) triple as found in an index entry.
type Raw = (&'static str, &'static str, &'static str);

/// (input, our normalized form, platforms containerd's `NewMatcher(Parse(input))` matches).
/// containerd's `Format` keeps `linux/arm` and `linux/arm64/v8` as typed; ours is normalized.
type ParseCase = (&'static str, &'static str, &'static [Raw]);

#[test]
fn parse_selector_vectors() {
    let cases: &[ParseCase] = &[
        (
            "linux/arm64",
            "linux/arm64",
            &[
                ("linux", "aarch64", ""),
                ("linux", "aarch64", "v8"),
                ("linux", "arm64", "v8"),
            ],
        ),
        (
            "linux/arm64/v8",
            "linux/arm64",
            &[
                ("linux", "aarch64", ""),
                ("linux", "aarch64", "v8"),
                ("linux", "arm64", ""),
            ],
        ),
        (
            "linux/arm",
            "linux/arm/v7",
            &[
                ("linux", "arm", "v7"),
                ("linux", "armhf", ""),
                ("linux", "arm", "7"),
            ],
        ),
        ("linux/arm/v6", "linux/arm/v6", &[("linux", "armel", "")]),
        (
            "linux/arm/v7",
            "linux/arm/v7",
            &[("linux", "arm", ""), ("linux", "armhf", "")],
        ),
        ("Linux/x86_64", "linux/amd64", &[]),
        ("linux/s390x", "linux/s390x", &[]),
    ];
    for (input, expected, matches) in cases {
        let parsed = p(input);
        assert_eq!(parsed.to_string(), *expected, "parse({input:?})");
        // Round trip: the formatted form parses back to the same platform.
        assert_eq!(p(expected), parsed, "reparse of {expected:?}");
        for (os, arch, variant) in *matches {
            let candidate = raw(os, arch, variant);
            assert_eq!(
                select(&parsed, &[candidate], MatchMode::Strict).map(|s| s.reason),
                Some(MatchReason::Exact),
                "{input:?} should strictly match {os}/{arch}/{variant}"
            );
        }
    }
}

/// containerd fills in the host for these single-component inputs (`TestParseSelector`); we
/// refuse them and show the two-component form to write.
#[test]
fn single_component_inputs_are_refused_with_the_full_form() {
    let missing_os = [
        ("arm", "linux/arm/v7"),
        ("armel", "linux/arm/v6"),
        ("armhf", "linux/arm/v7"),
        ("Aarch64", "linux/arm64"),
        ("x86_64", "linux/amd64"),
        ("i386", "linux/386"),
        ("s390x", "linux/s390x"),
        ("arm64", "linux/arm64"),
        ("armv7l", "linux/arm/v7"),
    ];
    for (input, suggestion) in missing_os {
        let err = Platform::parse(input).expect_err(input);
        assert_eq!(
            err,
            PlatformError::MissingOs {
                input: input.to_owned(),
                suggestion: suggestion.to_owned()
            }
        );
        let message = err.to_string();
        assert!(
            message.contains(&format!("write \"{suggestion}\"")),
            "{message}"
        );
        assert!(message.contains("os/arch[/variant]"), "{message}");
    }
    for (input, os) in [
        ("linux", "linux"),
        ("macOS", "darwin"),
        ("windows", "windows"),
    ] {
        let err = Platform::parse(input).expect_err(input);
        assert_eq!(
            err,
            PlatformError::MissingArchitecture {
                input: input.to_owned(),
                os: os.to_owned()
            }
        );
        assert!(
            err.to_string().contains(&format!("\"{os}/amd64\"")),
            "{err}"
        );
    }
    assert!(matches!(
        Platform::parse("frobnicator"),
        Err(PlatformError::Unrecognized { .. })
    ));
}

/// containerd `platforms_test.go` `TestParseSelectorInvalid`, plus the skipped wildcard cases
/// of `TestParseSelector`.
#[test]
fn parse_selector_invalid_vectors() {
    assert_eq!(Platform::parse(""), Err(PlatformError::Empty));
    assert!(matches!(
        Platform::parse("/linux/arm"),
        Err(PlatformError::EmptyComponent {
            component: "OS",
            ..
        })
    ));
    assert!(matches!(
        Platform::parse("linux/arm/"),
        Err(PlatformError::EmptyComponent {
            component: "variant",
            ..
        })
    ));
    assert!(matches!(
        Platform::parse("linux /arm"),
        Err(PlatformError::InvalidCharacter { character: ' ', .. })
    ));
    assert!(matches!(
        Platform::parse("linux/&arm"),
        Err(PlatformError::InvalidCharacter { character: '&', .. })
    ));
    assert!(matches!(
        Platform::parse("linux/arm/foo/bar"),
        Err(PlatformError::TooManyComponents { count: 4, .. })
    ));
    for wildcard in ["*", "linux/*", "*/arm64"] {
        assert!(
            matches!(
                Platform::parse(wildcard),
                Err(PlatformError::Wildcard { .. })
            ),
            "{wildcard}"
        );
    }
}

#[test]
fn os_options_are_refused() {
    for input in [
        "windows(10.0.17763)/amd64",
        "linux(+gpu)/amd64",
        "windows()",
    ] {
        assert!(
            matches!(Platform::parse(input), Err(PlatformError::OsOptions { .. })),
            "{input}"
        );
    }
}

#[test]
fn attestation_placeholder_is_not_a_request() {
    let err = Platform::parse("unknown/unknown").expect_err("placeholder");
    assert!(matches!(err, PlatformError::Placeholder { .. }));
    assert!(err.to_string().contains("attestation"), "{err}");
}

#[test]
fn near_misses_get_did_you_mean() {
    let cases = [
        ("linx/amd64", "linux/amd64"),
        ("lniux/arm64", "linux/arm64"),
        ("linux/amd46", "linux/amd64"),
        ("linux/arm46", "linux/arm64"),
        ("linux/s390z", "linux/s390x"),
        ("linux/ppc64el", "linux/ppc64le"),
        ("linux/mips64el", "linux/mips64le"),
        ("linux/armv7", "linux/arm/v7"),
        ("linux/armv7l", "linux/arm/v7"),
        ("linux/armv6l", "linux/arm/v6"),
        ("linux/i686", "linux/386"),
        ("linux/x64", "linux/amd64"),
        ("linux/loongarch64", "linux/loong64"),
    ];
    for (input, suggestion) in cases {
        let err = Platform::parse(input).expect_err(input);
        assert!(
            matches!(
                &err,
                PlatformError::UnknownOs { suggestion: s, .. }
                    | PlatformError::UnknownArchitecture { suggestion: s, .. }
                    if s == suggestion
            ),
            "{input}: {err:?}"
        );
        assert!(
            err.to_string()
                .contains(&format!("did you mean \"{suggestion}\"?")),
            "{err}"
        );
    }
}

#[test]
fn bare_numeric_variants_get_their_v() {
    let err = Platform::parse("linux/amd64/2").expect_err("bare variant");
    assert_eq!(
        err,
        PlatformError::BareVariant {
            input: "linux/amd64/2".to_owned(),
            variant: "2".to_owned(),
            suggestion: "linux/amd64/v2".to_owned(),
        }
    );
    assert!(matches!(
        Platform::parse("linux/arm64/8.2"),
        Err(PlatformError::BareVariant { suggestion, .. }) if suggestion == "linux/arm64/v8.2"
    ));
    // containerd itself adds the "v" for arm and arm64 majors.
    assert_eq!(p("linux/arm/7").to_string(), "linux/arm/v7");
    assert_eq!(p("linux/arm64/9").to_string(), "linux/arm64/v9");
}

#[test]
fn well_formed_unknown_names_are_accepted_lowercase() {
    assert_eq!(p("linux/RISCV32").to_string(), "linux/riscv32");
    assert_eq!(p("plan9/386").to_string(), "plan9/386");
    assert_eq!(p("haiku/amd64").to_string(), "haiku/amd64");
    assert_eq!(p("linux/arm/v4").to_string(), "linux/arm/v4");
    assert_eq!(p("linux/amd64/v1").to_string(), "linux/amd64");
    assert_eq!(p("linux/arm64/v8.10").to_string(), "linux/arm64/v8.10");
}

#[test]
fn display_and_from_str_agree() {
    for s in [
        "linux/arm/v7",
        "linux/arm64",
        "linux/386",
        "linux/amd64/v2",
        "windows/amd64",
    ] {
        let platform: Platform = s.parse().expect("FromStr");
        assert_eq!(platform.to_string(), s);
        assert_eq!(platform, p(s));
    }
}

#[test]
fn serde_uses_the_string_form() {
    let json = serde_json::to_string(&p("linux/arm")).expect("serialize");
    assert_eq!(json, "\"linux/arm/v7\"");
    let back: Platform = serde_json::from_str("\"linux/aarch64\"").expect("deserialize");
    assert_eq!(back, p("linux/arm64"));
    let err = serde_json::from_str::<Platform>("\"arm64\"").expect_err("single component");
    assert!(err.to_string().contains("\"linux/arm64\""), "{err}");
    let mode: MatchMode = serde_json::from_str("\"compatible\"").expect("mode");
    assert_eq!(mode, MatchMode::Compatible);
    assert_eq!(MatchMode::default(), MatchMode::Strict);
}

// ---- uname -m: containerd `cpuinfo_linux_test.go` `TestGetCPUVariantFromArch` -------------

#[test]
fn uname_machine_vectors_from_cpuinfo_linux_test() {
    let cases = [
        ("aarch64", "linux/arm64"), // containerd variant "8", normalized away
        ("Armv8", "linux/arm/v8"),
        ("armv7", "linux/arm/v7"),
        ("armv6", "linux/arm/v6"),
        ("armv5", "linux/arm/v5"),
        ("armv4", "linux/arm/v4"),
        ("armv3", "linux/arm/v3"),
        // containerd: variant "unknown"; we keep the version the name states.
        ("armv9", "linux/arm/v9"),
        // containerd: errInvalidArgument; we keep the name so it matches nothing.
        ("armxxxx", "linux/armxxxx"),
        ("armv", "linux/armv"),
    ];
    for (machine, expected) in cases {
        assert_eq!(
            from_uname_machine("linux", machine).to_string(),
            expected,
            "{machine}"
        );
    }
}

#[test]
fn uname_machine_as_docker_info_reports_it() {
    let cases = [
        ("x86_64", "linux/amd64"),
        ("i686", "linux/386"),
        ("i586", "linux/386"),
        ("i386", "linux/386"),
        ("aarch64", "linux/arm64"),
        ("arm64", "linux/arm64"),
        ("armv8l", "linux/arm/v8"),
        ("armv7l", "linux/arm/v7"),
        ("armv6l", "linux/arm/v6"),
        ("armv5tel", "linux/arm/v5"),
        ("armv7b", "linux/armbe"),
        ("aarch64_be", "linux/arm64be"),
        ("ppc64le", "linux/ppc64le"),
        ("ppc64", "linux/ppc64"),
        ("s390x", "linux/s390x"),
        ("riscv64", "linux/riscv64"),
        ("loongarch64", "linux/loong64"),
        ("mips64", "linux/mips64"),
        (" x86_64\n", "linux/amd64"),
    ];
    for (machine, expected) in cases {
        assert_eq!(
            from_uname_machine("linux", machine).to_string(),
            expected,
            "{machine:?}"
        );
    }
    assert_eq!(from_uname_machine("Linux", "x86_64").os(), "linux");
}

// ---- Matching: containerd `compare_test.go` `TestOnly` and `TestOnlyStrict` ---------------

/// Whether containerd's `Only`/`OnlyStrict(requested).Match(candidate)` holds, asked through
/// `select` with a one-entry index.
fn matches(requested: &str, candidate: &str, mode: MatchMode) -> bool {
    select(&p(requested), &[p(candidate)], mode).is_some()
}

fn check_match_table(mode: MatchMode, table: &[(&str, &[&str], &[&str])]) {
    for (requested, yes, no) in table {
        for candidate in *yes {
            assert!(
                matches(requested, candidate, mode),
                "{mode}: {requested} should match {candidate}"
            );
        }
        for candidate in *no {
            assert!(
                !matches(requested, candidate, mode),
                "{mode}: {requested} should not match {candidate}"
            );
        }
    }
}

/// `TestOnly`, row by row (rows and entries with an OS version left out).
#[rustfmt::skip]
const ONLY: &[(&str, &[&str], &[&str])] = &[
    ("linux/amd64", &["linux/amd64", "linux/386"], &["linux/amd64/v2", "linux/arm/v7", "linux/arm64", "windows/amd64", "windows/arm"]),
    ("linux/amd64/v2", &["linux/amd64", "linux/amd64/v1", "linux/amd64/v2", "linux/386"], &["linux/amd64/v3", "linux/amd64/v4", "linux/arm/v7", "linux/arm64", "windows/amd64", "windows/arm"]),
    ("linux/386", &["linux/386"], &["linux/amd64", "linux/arm/v7", "linux/arm64", "windows/amd64", "windows/arm"]),
    ("windows/amd64", &["windows/amd64"], &["linux/amd64", "linux/arm/v7", "linux/arm64", "windows/arm"]),
    ("linux/arm/v8", &["linux/arm", "linux/arm/v5", "linux/arm/v6", "linux/arm/v7", "linux/arm/v8"], &["linux/amd64", "linux/arm/v4", "linux/arm64", "windows/amd64", "windows/arm"]),
    ("linux/arm/v7", &["linux/arm", "linux/arm/v5", "linux/arm/v6", "linux/arm/v7"], &["linux/amd64", "linux/arm/v4", "linux/arm/v8", "linux/arm64", "windows/amd64", "windows/arm"]),
    ("linux/arm/v6", &["linux/arm/v5", "linux/arm/v6"], &["linux/amd64", "linux/arm", "linux/arm/v4", "linux/arm/v7", "linux/arm/v8", "linux/arm64", "windows/amd64", "windows/arm"]),
    ("linux/arm/v5", &["linux/arm/v5"], &["linux/amd64", "linux/arm", "linux/arm/v4", "linux/arm/v6", "linux/arm/v7", "linux/arm/v8", "linux/arm64", "windows/amd64", "windows/arm"]),
    ("linux/arm/v4", &["linux/arm/v4"], &["linux/amd64", "linux/arm", "linux/arm/v5", "linux/arm/v6", "linux/arm/v7", "linux/arm/v8", "linux/arm64", "windows/amd64", "windows/arm"]),
    ("linux/arm64/v9.6", &["linux/arm", "linux/arm/v5", "linux/arm/v6", "linux/arm/v7", "linux/arm/v8", "linux/arm64", "linux/arm64/v8", "linux/arm64/v8.1", "linux/arm64/v8.2", "linux/arm64/v8.3", "linux/arm64/v8.4", "linux/arm64/v8.5", "linux/arm64/v8.6", "linux/arm64/v8.7", "linux/arm64/v8.8", "linux/arm64/v8.9", "linux/arm64/v9", "linux/arm64/v9.0", "linux/arm64/v9.1", "linux/arm64/v9.2", "linux/arm64/v9.3", "linux/arm64/v9.4", "linux/arm64/v9.5", "linux/arm64/v9.6"], &["linux/amd64", "linux/arm/v4", "windows/amd64", "windows/arm", "linux/arm64/v8.10"]),
    ("linux/arm64/v9", &["linux/arm", "linux/arm/v5", "linux/arm/v6", "linux/arm/v7", "linux/arm/v8", "linux/arm64", "linux/arm64/v8", "linux/arm64/v8.1", "linux/arm64/v8.2", "linux/arm64/v8.3", "linux/arm64/v8.4", "linux/arm64/v8.5", "linux/arm64/v9", "linux/arm64/v9.0"], &["linux/amd64", "linux/arm/v4", "windows/amd64", "windows/arm", "linux/arm64/v8.6"]),
    ("linux/arm64/v8.1", &["linux/arm", "linux/arm/v5", "linux/arm/v6", "linux/arm/v7", "linux/arm/v8", "linux/arm64", "linux/arm64/v8", "linux/arm64/v8.1"], &["linux/amd64", "linux/arm/v4", "linux/arm/v9", "linux/arm64/v9", "windows/amd64", "windows/arm"]),
    ("linux/arm64", &["linux/arm", "linux/arm/v5", "linux/arm/v6", "linux/arm/v7", "linux/arm/v8", "linux/arm64", "linux/arm64/v8"], &["linux/amd64", "linux/arm/v4", "linux/arm/v9", "linux/arm64/v9", "windows/amd64", "windows/arm"]),
];

/// `TestOnlyStrict`, row by row (rows and entries with an OS version left out).
#[rustfmt::skip]
const ONLY_STRICT: &[(&str, &[&str], &[&str])] = &[
    ("linux/amd64", &["linux/amd64"], &["linux/386", "linux/arm/v7", "linux/arm64", "windows/amd64", "windows/arm"]),
    ("linux/386", &["linux/386"], &["linux/amd64", "linux/arm/v7", "linux/arm64", "windows/amd64", "windows/arm"]),
    ("windows/amd64", &["windows/amd64"], &["linux/amd64", "linux/arm/v7", "linux/arm64", "windows/arm"]),
    ("linux/arm/v8", &["linux/arm/v8"], &["linux/arm", "linux/arm/v5", "linux/arm/v6", "linux/arm/v7", "linux/amd64", "linux/arm/v4", "linux/arm64", "windows/amd64", "windows/arm"]),
    ("linux/arm/v7", &["linux/arm", "linux/arm/v7"], &["linux/arm/v5", "linux/arm/v6", "linux/amd64", "linux/arm/v4", "linux/arm/v8", "linux/arm64", "windows/amd64", "windows/arm"]),
    ("linux/arm/v6", &["linux/arm/v6"], &["linux/arm/v5", "linux/amd64", "linux/arm", "linux/arm/v4", "linux/arm/v7", "linux/arm/v8", "linux/arm64", "windows/amd64", "windows/arm"]),
    ("linux/arm/v5", &["linux/arm/v5"], &["linux/amd64", "linux/arm", "linux/arm/v4", "linux/arm/v6", "linux/arm/v7", "linux/arm/v8", "linux/arm64", "windows/amd64", "windows/arm"]),
    ("linux/arm/v4", &["linux/arm/v4"], &["linux/amd64", "linux/arm", "linux/arm/v5", "linux/arm/v6", "linux/arm/v7", "linux/arm/v8", "linux/arm64", "windows/amd64", "windows/arm"]),
    ("linux/arm64/v9.5", &["linux/arm64/v9.5"], &["linux/arm", "linux/arm/v5", "linux/arm/v6", "linux/arm/v7", "linux/arm/v8", "linux/amd64", "linux/arm/v4", "linux/arm64/v8", "linux/arm64/v8.1", "linux/arm64/v9", "linux/arm64/v9.1", "linux/arm64/v9.4", "windows/amd64", "windows/arm"]),
    ("linux/arm64/v9", &["linux/arm64/v9", "linux/arm64/v9.0"], &["linux/arm", "linux/arm/v5", "linux/arm/v6", "linux/arm/v7", "linux/arm/v8", "linux/amd64", "linux/arm/v4", "linux/arm/v9", "linux/arm64/v8", "linux/arm64/v8.1", "windows/amd64", "windows/arm"]),
    ("linux/arm64/v8.1", &["linux/arm64/v8.1"], &["linux/arm", "linux/arm/v5", "linux/arm/v6", "linux/arm/v7", "linux/arm/v8", "linux/amd64", "linux/arm/v4", "linux/arm/v9", "linux/arm64/v8", "linux/arm64/v9", "windows/amd64", "windows/arm"]),
    ("linux/arm64", &["linux/arm64", "linux/arm64/v8"], &["linux/arm", "linux/arm/v5", "linux/arm/v6", "linux/arm/v7", "linux/arm/v8", "linux/amd64", "linux/arm/v4", "linux/arm/v9", "linux/arm64/v9", "windows/amd64", "windows/arm"]),
];

#[test]
fn only_vectors_from_compare_test() {
    check_match_table(MatchMode::Compatible, ONLY);
}

#[test]
fn only_strict_vectors_from_compare_test() {
    check_match_table(MatchMode::Strict, ONLY_STRICT);
}

// ---- Ordering: containerd `compare.go` `platformVector` / `Only` doc, and `Ordered.Less` --

#[test]
fn compatible_platforms_follow_platform_vector_order() {
    let cases: &[(&str, &[&str])] = &[
        ("linux/amd64", &["linux/amd64", "linux/386"]),
        (
            "linux/amd64/v3",
            &[
                "linux/amd64/v3",
                "linux/amd64/v2",
                "linux/amd64",
                "linux/386",
            ],
        ),
        ("linux/386", &["linux/386"]),
        (
            "linux/arm/v7",
            &["linux/arm/v7", "linux/arm/v6", "linux/arm/v5"],
        ),
        ("linux/arm/v5", &["linux/arm/v5"]),
        ("linux/arm/v4", &["linux/arm/v4"]),
        (
            "linux/arm64",
            &[
                "linux/arm64",
                "linux/arm/v8",
                "linux/arm/v7",
                "linux/arm/v6",
                "linux/arm/v5",
            ],
        ),
        (
            "linux/arm64/v8.2",
            &[
                "linux/arm64/v8.2",
                "linux/arm64/v8.1",
                "linux/arm64",
                "linux/arm/v8",
                "linux/arm/v7",
                "linux/arm/v6",
                "linux/arm/v5",
            ],
        ),
        (
            "linux/arm64/v9.2",
            &[
                "linux/arm64/v9.2",
                "linux/arm64/v9.1",
                "linux/arm64/v9",
                "linux/arm64/v8.7",
                "linux/arm64/v8.6",
                "linux/arm64/v8.5",
                "linux/arm64/v8.4",
                "linux/arm64/v8.3",
                "linux/arm64/v8.2",
                "linux/arm64/v8.1",
                "linux/arm64",
                "linux/arm/v8",
                "linux/arm/v7",
                "linux/arm/v6",
                "linux/arm/v5",
            ],
        ),
        ("linux/s390x", &["linux/s390x"]),
        // containerd's vector is empty here (no table entry); we keep the exact match.
        ("linux/arm64/v10", &["linux/arm64/v10"]),
    ];
    for (requested, expected) in cases {
        assert_eq!(
            strs(&p(requested).compatible_platforms()),
            *expected,
            "{requested}"
        );
    }
}

/// Sorting an index with containerd's `Only(requested).Less` puts the best match first;
/// `select` must pick that entry. Vectors follow the `Only` doc comment in `compare.go`.
#[test]
fn select_picks_the_best_ranked_candidate() {
    let cases: &[(&str, &[&str], &str)] = &[
        (
            "linux/arm64",
            &["linux/arm/v5", "linux/arm/v7", "linux/arm/v6"],
            "linux/arm/v7",
        ),
        (
            "linux/arm64",
            &["linux/arm/v7", "linux/arm/v8", "linux/arm64"],
            "linux/arm64",
        ),
        (
            "linux/arm64",
            &["linux/amd64", "linux/arm/v8", "linux/arm/v7"],
            "linux/arm/v8",
        ),
        (
            "linux/amd64/v3",
            &["linux/386", "linux/amd64", "linux/amd64/v2"],
            "linux/amd64/v2",
        ),
        ("linux/amd64", &["linux/386", "linux/amd64/v2"], "linux/386"),
        (
            "linux/arm64/v9",
            &["linux/arm64/v8.6", "linux/arm64/v8.5", "linux/arm64"],
            "linux/arm64/v8.5",
        ),
        (
            "linux/arm/v7",
            &["linux/arm/v5", "linux/arm/v6", "linux/arm/v8"],
            "linux/arm/v6",
        ),
    ];
    for (requested, index, expected) in cases {
        let candidates: Vec<Platform> = index.iter().map(|s| p(s)).collect();
        let chosen = select(&p(requested), &candidates, MatchMode::Compatible)
            .unwrap_or_else(|| panic!("{requested} in {index:?}"));
        assert_eq!(
            candidates[chosen.index].to_string(),
            *expected,
            "{requested} in {index:?}"
        );
    }
}

#[test]
fn ties_go_to_the_first_entry_in_the_index() {
    // "linux/arm" and "linux/arm/v7" are the same platform after normalization.
    let candidates = [p("linux/amd64"), p("linux/arm"), p("linux/arm/v7")];
    for mode in [MatchMode::Strict, MatchMode::Compatible] {
        let chosen = select(&p("linux/arm/v7"), &candidates, mode).expect("match");
        assert_eq!(
            (chosen.index, chosen.reason),
            (1, MatchReason::Exact),
            "{mode}"
        );
    }
    let fallbacks = [p("linux/arm/v6"), p("linux/arm/v6")];
    let chosen = select(&p("linux/arm64"), &fallbacks, MatchMode::Compatible).expect("fallback");
    assert_eq!(chosen.index, 0);
}

#[test]
fn unknown_entries_are_never_chosen() {
    let attestation = raw("unknown", "unknown", "");
    assert!(
        select(
            &attestation,
            std::slice::from_ref(&attestation),
            MatchMode::Strict
        )
        .is_none()
    );
    let index = [attestation, p("linux/amd64")];
    let chosen = select(&p("linux/amd64"), &index, MatchMode::Compatible).expect("amd64");
    assert_eq!(chosen.index, 1);
}

// ---- What archsmoke needs -----------------------------------------------------------------

#[test]
fn strict_refuses_arm_v6_for_arm_v7_and_compatible_takes_it() {
    let index = [p("linux/amd64"), p("linux/arm/v6")];
    assert_eq!(select(&p("linux/arm/v7"), &index, MatchMode::Strict), None);
    let chosen = select(&p("linux/arm/v7"), &index, MatchMode::Compatible).expect("fallback");
    assert_eq!(chosen.index, 1);
    assert_eq!(
        chosen.reason,
        MatchReason::Fallback {
            requested: p("linux/arm/v7"),
            chosen: p("linux/arm/v6"),
        }
    );
}

#[test]
fn arm64_v8_is_arm64() {
    assert_eq!(p("linux/arm64/v8"), p("linux/arm64"));
    assert_eq!(p("linux/arm64/v8").to_string(), "linux/arm64");
    let index = [p("linux/amd64"), raw("linux", "arm64", "v8")];
    let chosen = select(&p("linux/arm64"), &index, MatchMode::Strict).expect("exact");
    assert_eq!((chosen.index, chosen.reason), (1, MatchReason::Exact));
}

#[test]
fn strict_arm64_against_arm_v7_only_index() {
    let index = [
        raw("linux", "amd64", ""),
        raw("linux", "arm", "v7"),
        raw("unknown", "unknown", ""),
    ];
    assert_eq!(select(&p("linux/arm64"), &index, MatchMode::Strict), None);
    // docker-library/official-images#17896: asking for arm64/v8 silently gets arm32.
    for request in ["linux/arm64", "linux/arm64/v8"] {
        let chosen = select(&p(request), &index, MatchMode::Compatible).expect("fallback");
        assert_eq!(chosen.index, 1);
        let reason = chosen.reason.to_string();
        assert_eq!(
            chosen.reason,
            MatchReason::Fallback {
                requested: p("linux/arm64"),
                chosen: p("linux/arm/v7"),
            }
        );
        assert!(reason.contains("no linux/arm64 entry"), "{reason}");
        assert!(reason.contains("chose linux/arm/v7"), "{reason}");
    }
}

#[test]
fn match_reason_serializes_for_reports() {
    let reason = MatchReason::Fallback {
        requested: p("linux/arm64"),
        chosen: p("linux/arm/v7"),
    };
    assert_eq!(
        serde_json::to_value(&reason).expect("serialize"),
        serde_json::json!({"kind": "fallback", "requested": "linux/arm64", "chosen": "linux/arm/v7"})
    );
    assert_eq!(
        serde_json::to_value(MatchReason::Exact).expect("serialize"),
        serde_json::json!({"kind": "exact"})
    );
}
