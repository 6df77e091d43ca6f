//! The JSON report: a documented, versioned wire format for scripts and dashboards, written from
//! a finished [`RunReport`].
//!
//! The format has its own serialization types ([`wire`], read back by `merge` and `verify`), so that refactoring the runner's types
//! never changes it by accident; `report.schema.json` beside this file is its JSON Schema (draft
//! 2020-12), and a test validates rendered reports against it.
//!
//! # Versioning
//!
//! `schema_version` is 1. It goes up when a field is removed, renamed, or changes type or
//! meaning. Fields may be added without a bump (and the schema updated with them): consumers
//! must ignore fields they do not know.
//!
//! # Format (version 1)
//!
//! Durations are seconds as numbers, rounded to milliseconds; digests are `sha256:<hex>`;
//! platforms are `os/arch[/variant]` strings; `null` means "not known" (for example no `pull`
//! for a platform that never got that far).
//!
//! ```text
//! {
//!   "schema_version": 1,
//!   "tool": {"name": "archsmoke", "version": "0.1.0"},
//!   "run_id", "spec", "suite", "started_at" (RFC 3339, UTC), "duration_secs",
//!   "result": "passed" | "failed" | "error",    // the run's verdict ...
//!   "exit_code": 0 | 1 | 3,                      // ... and the exit code it gives
//!   "interrupted": bool,
//!   "problem": null | Problem,                   // what stopped the run before any platform ran
//!   "image": {"reference", "digest", "media_type", "is_index",
//!             "available": [platform], "attestations": count of attestation manifests},
//!   "engine": null | {"endpoint", "local", "version", "api_version", "platform", "rootless"},
//!                                              // the run's first engine (kept for compatibility)
//!   "engines": [{"name", "endpoint", "local", "version", "api_version", "platform",
//!                "rootless"}],                 // every engine the run used; "default" when the
//!                                              // spec names none
//!   "phases": {"engine_secs", "resolve_secs", "run_secs", "audit_secs", "probe_secs",
//!              "probe_platforms"?: {"probed", "cached"}},
//!                                              // wall time per phase, null if never reached;
//!                                              // engine and resolve run side by side; probe:
//!                                              // remote engines' emulators (or the cache)
//!   "spec_lines": {result name: line},        // where the spec declares each test, file
//!                                              // and license check (absent for cst configs)
//!   "meta": {result name: {...}},             // the spec's [meta] (a goss file's `meta`),
//!                                              // as written; absent when none
//!   "emulation_differences": [{"platform", "test", "native_engine", "emulated_engine",
//!       "native", "emulated", "differs": ["outcome" | "exit code" | "stdout" | "stderr"]}],
//!                                              // --compare-emulation: tests whose native and
//!                                              // emulated rows disagree (absent when none)
//!   "failed_only_under_emulation": [{"platform", "test", "status": "failed" | "timed_out",
//!       "passed_natively_on": [platform], "per_platform_expectation": bool}],
//!                                              // passed natively, failed emulated (absent
//!                                              // when none); per_platform_expectation: held to
//!                                              // an override the native output would not meet
//!   "totals": {"platforms": {"total", "passed", "failed", "error", "skipped",
//!                            "not_tested" (only when not zero)},
//!              "tests": Counts},
//!   "platforms": [{
//!     "platform", "engine": null | string,    // the name of the engine that ran it
//!     "result": "passed" | "failed" | "error" | "skipped" | "not_tested",
//!                                              // skipped: not tested on purpose (emulation
//!                                              // policy, --skip-unavailable); problem says why;
//!                                              // not_tested: selected, yet no test or check of
//!                                              // its own ran (fails the run: exit 1)
//!     "entry": null | {"digest", "platform", "reason"},   // the index entry chosen, and why
//!     "mode": null | string,                   // as the terminal shows it: native, qemu-aarch64...
//!     "execution": null | {"mode": "native" | "emulated" | "unavailable", ...},
//!                                              // emulated: "emulator": {entry, interpreter, ...}
//!     "pull": null | {"image_id", "pulled", "duration_secs"},
//!     "problem": null | Problem,
//!     "duration_secs", "slowdown": null | number,   // against the native platform's same tests
//!     "counts": Counts,
//!     "tests": [{
//!       "name", "status": "passed" | "failed" | "timed_out" | "error" | "not_run" | "skipped",
//!       "command": null | [string],            // null: the image's default command
//!       "expected_exit_code",                  // with a range, the smallest code it accepts
//!       "expected_exit_range": null | {"gt" | "ge": integer, "lt" | "le": integer},
//!                                              // null: one code expected (absent in older reports)
//!       "exit_code": null | integer,           // null: killed or never ran
//!       "stdout", "stdout_dropped_bytes", "stdout_head" (only when bytes were omitted),
//!       "stderr", "stderr_dropped_bytes", "stderr_head" (likewise),
//!       "mismatches": [{"check", "expected", "actual", "note" (only when set)}],
//!       "duration_secs", "timeout_secs", "slowdown": null | number,
//!       "error": null | string                 // why the engine could not run it (skipped:
//!                                              // why its platform was not tested)
//!     }]
//!   }]
//! }
//! Problem = {"kind": "missing_platform" | "config_mismatch" | "native_process"
//!                    | "emulator_unavailable"
//!                    | "registry" | "engine" | "interrupted" | "emulation_forbidden"
//!                    | "not_tested",
//!            "defect": bool,                   // true: the image itself is wrong
//!            "message", "hint": null | string}
//! Counts = {"tests", "passed", "failed", "timed_out", "errors", "not_run", "skipped"}
//! ```
//!
//! A platform's `result` is `failed` when the image is proven wrong there (a failed or timed-out
//! test, a missing or mislabelled platform), else `error` when something kept it from being
//! checked (engine, emulator, interrupt), else `passed`; the run's `result` follows its exit
//! code the same way. `stdout`/`stderr` are the captured text, exactly as the program wrote it,
//! colour codes included; invalid UTF-8 was replaced with U+FFFD. Past the capture limit they are
//! the tail, `*_head` the first bytes, and `*_dropped_bytes` counts the bytes omitted between
//! them (a report written before heads were kept has no `*_head`: the bytes were dropped from
//! the front). `execution` is the emulation module's own
//! description of the mode and may gain fields.

pub mod wire;

use std::io;
use std::path::Path;

use crate::outcome::RunReport;

/// The version of the wire format this module writes.
pub const SCHEMA_VERSION: u32 = 1;

/// The JSON Schema (draft 2020-12) of the format, for `archsmoke` to print or ship.
pub const SCHEMA: &str = include_str!("report.schema.json");

/// The report as pretty-printed JSON, ending in a newline.
///
/// # Panics
///
/// Never: every value is a string, number, bool or list, which serde_json always serializes.
pub fn render(report: &RunReport) -> String {
    let mut out = serde_json::to_string_pretty(&wire::Report::from(report))
        .expect("the wire types have only string keys and serializable values");
    out.push('\n');
    out
}

/// Writes [`render`]'s document to `path`, atomically (see [`super::write_atomically`]).
pub fn write(report: &RunReport, path: &Path) -> io::Result<()> {
    super::write_atomically(path, render(report).as_bytes())
}

#[cfg(test)]
mod tests;
