//! The attestation policy on statements signed with real keys: every refusal the issue names.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, Ed25519KeyPair};
use base64::Engine as _;

use super::*;
use crate::attest::dsse;
use crate::attest::keys::SigningKey;
use crate::attest::statement::statements;
use crate::report::fixtures;
use crate::report::json::wire;

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    format!("-----BEGIN {label}-----\n{b64}\n-----END {label}-----\n")
}

fn p256() -> SigningKey {
    let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &SystemRandom::new())
        .expect("generate");
    SigningKey::from_pem(&pem("PRIVATE KEY", doc.as_ref()), None).expect("p256")
}

fn ed25519() -> SigningKey {
    let doc = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).expect("generate");
    SigningKey::from_pem(&pem("PRIVATE KEY", doc.as_ref()), None).expect("ed25519")
}

/// `all_passing()`'s statements (amd64 native, arm64 emulated), signed with `key`.
fn signed(key: &SigningKey) -> Vec<(String, dsse::Envelope)> {
    let mut report = wire::Report::from(&fixtures::all_passing());
    report.started_at = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    statements(&report, "registry.example/app")
        .into_iter()
        .map(|s| {
            let body = serde_json::to_vec(&s).expect("json");
            let e = dsse::sign(dsse::IN_TOTO_PAYLOAD_TYPE, &body, key).expect("sign");
            (s.subject_digest().expect("digest"), e)
        })
        .collect()
}

fn policy() -> Policy {
    Policy {
        min_tests: 1,
        ..Policy::default()
    }
}

fn refusal(r: Result<Accepted, Vec<String>>) -> String {
    r.expect_err("refused").join("; ")
}

#[test]
fn a_signed_passing_statement_vouches_for_its_digest_with_either_key_type() {
    for key in [p256(), ed25519()] {
        let all = signed(&key);
        let (digest, envelope) = &all[0];
        let found = vec![("sha256:art".to_owned(), envelope.clone())];
        let a = judge(digest, &found, &key.public(), &policy(), SystemTime::now()).expect("ok");
        assert!(a.native);
        assert_eq!(a.source, "sha256:art");
        assert_eq!(a.passed, 2);
    }
}

#[test]
fn tampered_wrong_key_other_digest_expired_and_emulated_are_each_refused_with_the_reason() {
    let key = p256();
    let all = signed(&key);
    let (amd, amd_env) = &all[0];
    let (arm, arm_env) = &all[1];
    let now = SystemTime::now();
    let one = |e: &dsse::Envelope| vec![("sha256:art".to_owned(), e.clone())];

    let mut tampered = amd_env.clone();
    let b64 = base64::engine::general_purpose::STANDARD;
    let body = String::from_utf8(b64.decode(&tampered.payload).expect("b64")).expect("utf-8");
    tampered.payload = b64.encode(body.replace("\"passed\"", "\"failed\""));
    let why = refusal(judge(amd, &one(&tampered), &key.public(), &policy(), now));
    assert!(why.contains("signature does not verify"), "{why}");

    let why = refusal(judge(amd, &one(amd_env), &p256().public(), &policy(), now));
    assert!(why.contains("signature does not verify"), "{why}");

    let why = refusal(judge(amd, &one(arm_env), &key.public(), &policy(), now));
    assert!(
        why.contains(&format!("the statement is for {arm}")),
        "{why}"
    );

    let later = now + Duration::from_secs(3 * 86400);
    let aged = Policy {
        max_age: Some(Duration::from_secs(86400)),
        ..policy()
    };
    let why = refusal(judge(amd, &one(amd_env), &key.public(), &aged, later));
    assert!(why.contains("expired"), "{why}");

    let native = Policy {
        require_native: true,
        ..policy()
    };
    let why = refusal(judge(arm, &one(arm_env), &key.public(), &native, now));
    assert!(why.contains("ran emulated (qemu-aarch64)"), "{why}");
    assert!(judge(amd, &one(amd_env), &key.public(), &native, now).is_ok());

    let strict = Policy {
        min_tests: 3,
        ..policy()
    };
    let why = refusal(judge(amd, &one(amd_env), &key.public(), &strict, now));
    assert!(why.contains("2 of 2 test(s) passed"), "{why}");

    let why = refusal(judge(amd, &[], &key.public(), &policy(), now));
    assert!(why.contains("no archsmoke attestation"), "{why}");
}
