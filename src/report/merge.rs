//! `archsmoke merge`: one report from the JSON reports of CI shards (one job per architecture,
//! each on its native runner, each `--platform` of its own), so that the whole matrix, one
//! JUnit and one exit code come out of a final job.
//!
//! Shards must have tested the same thing: the same index digest and the same spec (by the
//! spec file's digest). A platform may appear in one shard only, unless the two rows are a
//! native/emulated pair (`--compare-emulation`, or an emulated shard beside a native one).
//! Every shard's engine is called "default" in its own report; when names collide they become
//! `<name>.<architecture>` (then `.2`, `.3`...), and each platform follows its engine. Pure: no
//! I/O, unit-tested here, end to end in `tests/engines.rs`.

use std::time::Duration;

use crate::outcome::{EngineSummary, RunReport};

/// Why shards cannot be merged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct MergeError {
    pub message: String,
    pub hint: String,
}

/// Merges `(file name, report)` shards, in the order given.
pub fn merge(shards: Vec<(String, RunReport)>) -> Result<RunReport, MergeError> {
    let Some((first_name, first)) = shards.first() else {
        return Err(MergeError {
            message: "nothing to merge".into(),
            hint: "name the JSON reports of the shards: archsmoke merge amd64.json arm64.json"
                .into(),
        });
    };
    for (name, r) in &shards[1..] {
        if r.image.digest != first.image.digest {
            return Err(MergeError {
                message: format!(
                    "{name} tested index {} but {first_name} tested {}: these shards tested \
                     different images",
                    r.image
                        .digest
                        .as_deref()
                        .unwrap_or("(none: it never resolved)"),
                    first
                        .image
                        .digest
                        .as_deref()
                        .unwrap_or("(none: it never resolved)"),
                ),
                hint: "test one image by digest in every shard (`--image REPO@sha256:...`)".into(),
            });
        }
        let same_spec = match (&r.spec_digest, &first.spec_digest) {
            (Some(a), Some(b)) => a == b,
            _ => r.suite == first.suite,
        };
        if !same_spec {
            return Err(MergeError {
                message: format!(
                    "{name} ran spec {} ({}) but {first_name} ran {} ({}): these shards ran \
                     different specs",
                    r.spec,
                    r.spec_digest.as_deref().unwrap_or("no digest"),
                    first.spec,
                    first.spec_digest.as_deref().unwrap_or("no digest"),
                ),
                hint: "run every shard from the same commit's spec".into(),
            });
        }
    }

    let mut merged = first.clone();
    merged.platforms.clear();
    merged.engines.clear();
    merged.run_id = shards
        .iter()
        .map(|(_, r)| r.run_id.as_str())
        .collect::<Vec<_>>()
        .join("+");
    merged.duration = Duration::ZERO;
    let mut seen: Vec<(crate::platform::Platform, bool, String)> = Vec::new();
    for (name, shard) in shards {
        merged.started_at = merged.started_at.min(shard.started_at.clone());
        merged.duration = merged.duration.max(shard.duration);
        merged.interrupted |= shard.interrupted;
        if merged.problem.is_none() {
            merged.problem = shard.problem.clone();
        }
        for p in &shard.image.available {
            if !merged.image.available.contains(p) {
                merged.image.available.push(p.clone());
            }
        }
        let renamed: Vec<(String, EngineSummary)> = shard
            .engines
            .iter()
            .map(|e| (e.name.clone(), unique_name(e, &merged.engines)))
            .collect();
        merged
            .engines
            .extend(renamed.iter().map(|(_, e)| e.clone()));
        for mut p in shard.platforms {
            let native = p.mode.as_ref().is_some_and(|m| m.is_native());
            if let Some((_, other_native, other)) = seen.iter().find(|(q, _, _)| *q == p.platform) {
                if *other_native == native {
                    return Err(MergeError {
                        message: format!(
                            "{} is in {other} and in {name}, both {}",
                            p.platform,
                            if native { "native" } else { "emulated" }
                        ),
                        hint: "give each shard its own --platform list; a platform may appear \
                               twice only as a native/emulated pair"
                            .into(),
                    });
                }
            }
            seen.push((p.platform.clone(), native, name.clone()));
            if let Some(old) = &p.engine
                && let Some((_, e)) = renamed.iter().find(|(n, _)| n == old)
            {
                p.engine = Some(e.name.clone());
            }
            merged.platforms.push(p);
        }
    }
    merged.engine = merged.engines.first().cloned();
    Ok(merged)
}

/// `e` under a name no engine in `taken` has.
fn unique_name(e: &EngineSummary, taken: &[EngineSummary]) -> EngineSummary {
    let clash = |n: &str| taken.iter().any(|t| t.name == n);
    let mut out = e.clone();
    if !clash(&out.name) {
        return out;
    }
    let base = format!("{}.{}", e.name, e.platform.architecture());
    out.name = base.clone();
    let mut n = 2;
    while clash(&out.name) {
        out.name = format!("{base}.{n}");
        n += 1;
    }
    out
}

#[cfg(test)]
#[path = "merge_tests.rs"]
mod tests;
