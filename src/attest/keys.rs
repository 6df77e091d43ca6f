//! Signing and verification keys from PEM files: ECDSA P-256 (PKCS#8 `PRIVATE KEY` or SEC 1
//! `EC PRIVATE KEY`) and Ed25519 (PKCS#8), public keys as `PUBLIC KEY` (SubjectPublicKeyInfo),
//! which is what `openssl genpkey` / `openssl pkey -pubout` and `cosign generate-key-pair`'s
//! public half write. The cryptography is aws-lc-rs, already built for rustls.
//!
//! A key's id is the SHA-256 of its SubjectPublicKeyInfo DER, in hex: the same key gives the
//! same id wherever it is loaded, so a verifier can say which key signed.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_ASN1_SIGNING, ED25519, EcdsaKeyPair, Ed25519KeyPair,
    KeyPair,
};
use base64::Engine as _;

/// The environment variable that holds an encrypted private key's password (never a flag:
/// flags show in process lists and CI logs).
pub const PASSWORD_ENV: &str = "ARCHSMOKE_KEY_PASSWORD";

/// Which algorithm a key is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    EcdsaP256,
    Ed25519,
}

impl Algorithm {
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::EcdsaP256 => "ecdsa-p256-sha256",
            Algorithm::Ed25519 => "ed25519",
        }
    }
}

/// A private key that signs.
pub enum SigningKey {
    EcdsaP256(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

/// A public key that verifies.
#[derive(Debug, Clone)]
pub struct PublicKey {
    pub algorithm: Algorithm,
    /// SubjectPublicKeyInfo, DER.
    pub spki: Vec<u8>,
}

/// The DER inside the first PEM block labelled `label`, or why there is none.
fn pem_block(text: &str, labels: &[&str]) -> Result<(String, Vec<u8>), String> {
    for label in labels {
        let begin = format!("-----BEGIN {label}-----");
        let end = format!("-----END {label}-----");
        if let Some(start) = text.find(&begin) {
            let body = &text[start + begin.len()..];
            let stop = body
                .find(&end)
                .ok_or_else(|| format!("the PEM block {label} has no END line"))?;
            let b64: String = body[..stop]
                .lines()
                .filter(|l| !l.contains(':'))
                .collect::<String>()
                .split_whitespace()
                .collect();
            let der = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|e| format!("the PEM block {label} is not base64: {e}"))?;
            return Ok(((*label).to_owned(), der));
        }
    }
    Err(format!(
        "no PEM block of {} in it",
        labels
            .iter()
            .map(|l| format!("`{l}`"))
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// OIDs as DER bytes, to tell an SPKI's algorithm without a full ASN.1 parser.
const OID_ED25519: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];
const OID_P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

impl SigningKey {
    /// Parses a PEM private key. An encrypted one (`ENCRYPTED PRIVATE KEY`) is refused with the
    /// command that decrypts it.
    pub fn from_pem(text: &str) -> Result<SigningKey, String> {
        if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
            return Err(format!(
                "the key is encrypted, which this archsmoke cannot read yet (so {PASSWORD_ENV} \
                 is not used): decrypt it into a file only the job can read (`openssl pkey -in \
                 key.pem -out plain.pem`), or store the plain PEM as the CI secret"
            ));
        }
        let (label, der) = pem_block(text, &["PRIVATE KEY", "EC PRIVATE KEY"])?;
        if label == "EC PRIVATE KEY" {
            return EcdsaKeyPair::from_private_key_der(ECDSA_P256_SIGNING_ALG, &der)
                .map(SigningKey::EcdsaP256)
                .map_err(|e| format!("not an ECDSA P-256 key: {e}"));
        }
        if contains(&der, OID_ED25519) {
            Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der)
                .map(SigningKey::Ed25519)
                .map_err(|e| format!("not a usable Ed25519 key: {e}"))
        } else if contains(&der, OID_P256) {
            EcdsaKeyPair::from_pkcs8(ECDSA_P256_SIGNING_ALG, &der)
                .map(SigningKey::EcdsaP256)
                .map_err(|e| format!("not a usable ECDSA P-256 key: {e}"))
        } else {
            Err(
                "neither an ECDSA P-256 nor an Ed25519 key (RSA and other curves are not \
                 supported)"
                    .into(),
            )
        }
    }

    pub fn public(&self) -> PublicKey {
        match self {
            SigningKey::EcdsaP256(k) => PublicKey {
                algorithm: Algorithm::EcdsaP256,
                spki: k
                    .public_key()
                    .as_der()
                    .map(|d| d.as_ref().to_vec())
                    .unwrap_or_default(),
            },
            SigningKey::Ed25519(k) => PublicKey {
                algorithm: Algorithm::Ed25519,
                spki: k
                    .public_key()
                    .as_der()
                    .map(|d| d.as_ref().to_vec())
                    .unwrap_or_default(),
            },
        }
    }

    /// Signs `message`: a DER ECDSA signature (what `openssl dgst -verify` reads), or Ed25519's
    /// 64 bytes.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, String> {
        match self {
            SigningKey::EcdsaP256(k) => k
                .sign(&SystemRandom::new(), message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| "ECDSA signing failed".to_owned()),
            SigningKey::Ed25519(k) => Ok(k.sign(message).as_ref().to_vec()),
        }
    }
}

const ECDSA_P256_SIGNING_ALG: &aws_lc_rs::signature::EcdsaSigningAlgorithm =
    &ECDSA_P256_SHA256_ASN1_SIGNING;

impl PublicKey {
    /// Parses a PEM public key (`PUBLIC KEY`).
    pub fn from_pem(text: &str) -> Result<PublicKey, String> {
        let (_, spki) = pem_block(text, &["PUBLIC KEY"])?;
        let algorithm = if contains(&spki, OID_ED25519) {
            Algorithm::Ed25519
        } else if contains(&spki, OID_P256) {
            Algorithm::EcdsaP256
        } else {
            return Err("neither an ECDSA P-256 nor an Ed25519 public key".into());
        };
        let key = PublicKey { algorithm, spki };
        // Parse once now, so that a broken key is named here and not as a failed signature.
        key.check(b"", &[])
            .or_else(|e| if e == BAD_SIGNATURE { Ok(()) } else { Err(e) })?;
        Ok(key)
    }

    /// SHA-256 of the SubjectPublicKeyInfo, hex.
    pub fn key_id(&self) -> String {
        crate::digest::sha256_hex(&self.spki)
    }

    /// Whether `signature` is this key's over `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        self.check(message, signature).is_ok()
    }

    fn check(&self, message: &[u8], signature: &[u8]) -> Result<(), String> {
        let alg: &'static dyn aws_lc_rs::signature::VerificationAlgorithm = match self.algorithm {
            Algorithm::EcdsaP256 => &ECDSA_P256_SHA256_ASN1,
            Algorithm::Ed25519 => &ED25519,
        };
        let parsed = aws_lc_rs::signature::ParsedPublicKey::new(alg, &self.spki)
            .map_err(|e| format!("not a usable {} public key: {e}", self.algorithm.name()))?;
        parsed
            .verify_sig(message, signature)
            .map_err(|_| BAD_SIGNATURE.to_owned())
    }

    /// The key as PEM, for files a user hands to another verifier.
    pub fn to_pem(&self) -> String {
        let b64 = base64::engine::general_purpose::STANDARD.encode(&self.spki);
        let mut out = String::from("-----BEGIN PUBLIC KEY-----\n");
        for chunk in b64.as_bytes().chunks(64) {
            out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
            out.push('\n');
        }
        out.push_str("-----END PUBLIC KEY-----\n");
        out
    }
}

const BAD_SIGNATURE: &str = "the signature does not verify";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_p256_key_signs_and_its_public_half_verifies() {
        let rng = SystemRandom::new();
        let doc =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).expect("generate");
        let b64 = base64::engine::general_purpose::STANDARD.encode(doc.as_ref());
        let pem = format!("-----BEGIN PRIVATE KEY-----\n{b64}\n-----END PRIVATE KEY-----\n");
        let key = SigningKey::from_pem(&pem).expect("parses");
        let public = PublicKey::from_pem(&key.public().to_pem()).expect("public parses");
        assert_eq!(public.algorithm, Algorithm::EcdsaP256);
        let sig = key.sign(b"message").expect("signs");
        assert!(public.verify(b"message", &sig));
        assert!(!public.verify(b"massage", &sig));
        assert_eq!(public.key_id().len(), 64);
    }

    #[test]
    fn an_encrypted_key_is_refused_with_the_way_out() {
        let e = SigningKey::from_pem(
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
        )
        .err()
        .expect("refused");
        assert!(e.contains("openssl pkey"), "{e}");
    }
}
