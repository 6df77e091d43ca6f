//! `verify --attestations`: whether a child's signed attestations vouch for it. Pure: the
//! envelopes come in already fetched, the time as a parameter.
//!
//! An attestation vouches for a child when its DSSE signature verifies with the given key, its
//! payload is an in-toto Statement v1 of [`PREDICATE_TYPE`] whose subject is exactly the child's
//! digest, its result is passed with at least `min_tests` passed tests, it is no older than
//! `max_age`, and, when the policy requires the platform natively, it ran natively. One such
//! attestation is enough; when none is, every attestation's reasons are given.

use std::time::{Duration, SystemTime};

use super::dsse::{Envelope, IN_TOTO_PAYLOAD_TYPE, short};
use super::keys::PublicKey;
use super::statement::{PREDICATE_TYPE, STATEMENT_TYPE, Statement};
use crate::outcome::TestStatus;
use crate::report::json::wire::Verdict;

/// What the verifier demands.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    pub min_tests: usize,
    /// The child must have passed natively (`--require-native`).
    pub require_native: bool,
    pub max_age: Option<Duration>,
}

/// An attestation that vouches for a child.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// Where it was found (the referrer manifest's digest, or a file).
    pub source: String,
    pub key_id: String,
    pub native: bool,
    /// The emulator's binfmt entry, when emulated.
    pub emulator: Option<String>,
    pub passed: usize,
    pub finished_at: String,
}

/// Judges `found` (source, envelope) for the child `digest`: the first attestation that vouches,
/// or every refusal, each naming its source.
pub fn judge(
    digest: &str,
    found: &[(String, Envelope)],
    key: &PublicKey,
    policy: &Policy,
    now: SystemTime,
) -> Result<Accepted, Vec<String>> {
    if found.is_empty() {
        return Err(vec![
            "no archsmoke attestation refers to this digest in the registry".into(),
        ]);
    }
    let mut refusals = Vec::new();
    for (source, envelope) in found {
        match one(digest, envelope, key, policy, now) {
            Ok(mut a) => {
                a.source.clone_from(source);
                return Ok(a);
            }
            Err(why) => refusals.push(format!("attestation {source}: {why}")),
        }
    }
    Err(refusals)
}

fn one(
    digest: &str,
    envelope: &Envelope,
    key: &PublicKey,
    policy: &Policy,
    now: SystemTime,
) -> Result<Accepted, String> {
    if envelope.payload_type != IN_TOTO_PAYLOAD_TYPE {
        return Err(format!(
            "payload type {} is not an in-toto statement",
            envelope.payload_type
        ));
    }
    let body = envelope.open(key)?;
    let statement: Statement = serde_json::from_slice(&body)
        .map_err(|e| format!("the signed payload is not an archsmoke statement: {e}"))?;
    if statement.type_ != STATEMENT_TYPE || statement.predicate_type != PREDICATE_TYPE {
        return Err(format!(
            "statement {} of predicate {} (wanted {PREDICATE_TYPE})",
            statement.type_, statement.predicate_type
        ));
    }
    let subject = statement.subject_digest().unwrap_or_default();
    if subject != digest {
        return Err(format!(
            "the statement is for {subject}, not for this digest (an attestation of another \
             image, attached here)"
        ));
    }
    let p = &statement.predicate;
    if p.result != Verdict::Passed {
        return Err(format!("it says {:?} on {}", p.result, p.platform).to_lowercase());
    }
    let passed = p
        .tests
        .iter()
        .filter(|t| t.status == TestStatus::Passed)
        .count();
    let not_passed = p.tests.len() - passed;
    if not_passed > 0 || passed < policy.min_tests {
        return Err(format!(
            "{passed} of {} test(s) passed on {} (at least {} required, none failing)",
            p.tests.len(),
            p.platform,
            policy.min_tests
        ));
    }
    if let Some(max) = policy.max_age {
        let finished = humantime::parse_rfc3339_weak(&p.run.finished_at)
            .map_err(|e| format!("its finish time {} is unreadable: {e}", p.run.finished_at))?;
        let age = now.duration_since(finished).unwrap_or_default();
        if age > max {
            return Err(format!(
                "expired: made {} ago ({}), older than --max-age {}",
                humantime::format_duration(Duration::from_secs(age.as_secs())),
                p.run.finished_at,
                humantime::format_duration(max)
            ));
        }
    }
    let emulator = match &p.execution {
        Some(crate::mode::ExecMode::Emulated { emulator }) => Some(emulator.entry.clone()),
        _ => None,
    };
    if policy.require_native && !p.native {
        return Err(format!(
            "{} ran emulated ({}), and the policy requires it natively (--require-native)",
            p.platform,
            emulator.as_deref().unwrap_or("not native")
        ));
    }
    Ok(Accepted {
        source: String::new(),
        key_id: short(&key.key_id()),
        native: p.native,
        emulator,
        passed,
        finished_at: p.run.finished_at.clone(),
    })
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
