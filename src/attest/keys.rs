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
/// flags show in process lists and CI logs). Read by the CLI, not here.
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

/// Why a private key could not be loaded, and what to do about it. `hint` names the file
/// `KEY.pem`; the caller puts the real path in.
#[derive(Debug)]
pub struct KeyError {
    pub what: String,
    pub hint: &'static str,
}

impl KeyError {
    fn new(what: impl Into<String>, hint: &'static str) -> KeyError {
        KeyError {
            what: what.into(),
            hint,
        }
    }

    fn format(what: impl Into<String>) -> KeyError {
        KeyError::new(
            what,
            "give an ECDSA P-256 or Ed25519 private key in PEM (PKCS#8, plain or encrypted)",
        )
    }
}

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.what)
    }
}

/// Most PBKDF2 iterations and scrypt memory spent on a key's password. OpenSSL writes 2048
/// iterations (OpenSSL 3: PBKDF2-HMAC-SHA256) and scrypt's usual N = 2^14..2^20 with r = 8 is
/// 16 MiB..1 GiB; past these a key file would hold the run for minutes or exhaust memory.
const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;
const MAX_SCRYPT_BYTES: u128 = 1 << 30;

/// The PKCS#8 `PrivateKeyInfo` inside an `EncryptedPrivateKeyInfo` (DER), decrypted with
/// `password` (PBES2: PBKDF2 or scrypt, then AES-CBC or AES-GCM, as `openssl genpkey -aes-256-cbc`,
/// `openssl pkcs8 -topk8 -v2 ...` and most tools write).
fn decrypt_pkcs8(der: &[u8], password: Option<&[u8]>) -> Result<Vec<u8>, KeyError> {
    use pkcs8::pkcs5::{EncryptionScheme, pbes2::Kdf};
    const REENCRYPT: &str = "re-encrypt it with PBES2 and AES: openssl pkcs8 -topk8 -v2 \
                             aes-256-cbc -in KEY.pem -out new-key.pem";
    // pkcs5 parses PBES2 and PKCS#5 PBES1; anything else (PKCS#12's PBE-SHA1-3DES, which
    // `openssl pkcs8 -v1` writes) or a damaged block fails here.
    let info = pkcs8::EncryptedPrivateKeyInfoRef::try_from(der).map_err(|e| {
        KeyError::new(
            format!(
                "archsmoke cannot read this ENCRYPTED PRIVATE KEY: it decrypts PBES2 (PBKDF2 or \
                 scrypt with AES), what OpenSSL writes by default, and this key is encrypted \
                 otherwise or damaged ({e})"
            ),
            REENCRYPT,
        )
    })?;
    match &info.encryption_algorithm {
        EncryptionScheme::Pbes2(params) => match &params.kdf {
            Kdf::Pbkdf2(p) if p.iteration_count > MAX_PBKDF2_ITERATIONS => {
                return Err(KeyError::new(
                    format!(
                        "the key asks for {} PBKDF2 iterations, more than archsmoke spends on a \
                         password ({MAX_PBKDF2_ITERATIONS})",
                        p.iteration_count
                    ),
                    REENCRYPT,
                ));
            }
            Kdf::Scrypt(p) => {
                let bytes = 128u128
                    * u128::from(p.block_size)
                    * u128::from(p.cost_parameter)
                    * u128::from(p.parallelization.max(1));
                if bytes > MAX_SCRYPT_BYTES {
                    return Err(KeyError::new(
                        format!(
                            "the key's scrypt parameters (N = {}, r = {}, p = {}) ask for more \
                             than 1 GiB of memory",
                            p.cost_parameter, p.block_size, p.parallelization
                        ),
                        REENCRYPT,
                    ));
                }
            }
            _ => {}
        },
        other => {
            return Err(KeyError::new(
                format!(
                    "the key is encrypted with {} (PKCS#5 v1.5, PBES1), which archsmoke does not \
                     decrypt (it reads PBES2: PBKDF2 or scrypt with AES)",
                    other.oid()
                ),
                REENCRYPT,
            ));
        }
    }
    let password = match password {
        None => {
            return Err(KeyError::new(
                format!(
                    "the key is encrypted (ENCRYPTED PRIVATE KEY) and {PASSWORD_ENV} is not set"
                ),
                "set ARCHSMOKE_KEY_PASSWORD to the key's password in the job's environment (from a \
                 CI secret; never on the command line)",
            ));
        }
        Some([]) => {
            return Err(KeyError::new(
                format!("the key is encrypted and {PASSWORD_ENV} is empty"),
                "a CI secret the job cannot see expands to nothing (pull requests from forks get \
                 no secrets): check where ARCHSMOKE_KEY_PASSWORD comes from",
            ));
        }
        Some(p) => p,
    };
    let decrypt = |password: &[u8]| {
        info.encryption_algorithm
            .decrypt(password, info.encrypted_data.as_bytes())
            .ok()
            // A wrong password can end in valid padding by chance: the plaintext must be DER.
            .filter(|plain| pkcs8::PrivateKeyInfoRef::try_from(plain.as_slice()).is_ok())
    };
    // A secret saved with `echo` ends in a newline that is not part of the password.
    let trimmed = password
        .strip_suffix(b"\n")
        .map(|p| p.strip_suffix(b"\r").unwrap_or(p));
    decrypt(password)
        .or_else(|| trimmed.and_then(decrypt))
        .ok_or_else(|| {
            KeyError::new(
                format!(
                    "{PASSWORD_ENV} does not decrypt the key (a wrong password, or a damaged file)"
                ),
                "check the password: `openssl pkey -in KEY.pem -noout` asks for it and says \
                 whether it is right",
            )
        })
}

impl SigningKey {
    /// Parses a PEM private key: PKCS#8 (`PRIVATE KEY`, or `ENCRYPTED PRIVATE KEY` decrypted with
    /// `password`, which the CLI takes from [`PASSWORD_ENV`]) or SEC 1 (`EC PRIVATE KEY`).
    /// Encrypted formats archsmoke does not read are refused with the command that converts
    /// them.
    pub fn from_pem(text: &str, password: Option<&[u8]>) -> Result<SigningKey, KeyError> {
        if text.contains("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----")
            || text.contains("-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----")
        {
            return Err(KeyError::new(
                "this is cosign's own key format (scrypt and NaCl secretbox), which archsmoke \
                 does not read",
                "give archsmoke a key of its own, made with openssl as encrypted PKCS#8: openssl \
                 genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -aes-256-cbc -out \
                 KEY.pem",
            ));
        }
        if text.contains("Proc-Type: 4,ENCRYPTED") {
            return Err(KeyError::new(
                "the key is encrypted in OpenSSL's legacy PEM format (Proc-Type: 4,ENCRYPTED), \
                 which archsmoke does not read",
                "convert it to encrypted PKCS#8: openssl pkcs8 -topk8 -v2 aes-256-cbc -in KEY.pem \
                 -out new-key.pem",
            ));
        }
        if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
            let (_, der) = pem_block(text, &["ENCRYPTED PRIVATE KEY"]).map_err(KeyError::format)?;
            let plain = decrypt_pkcs8(&der, password)?;
            return Self::from_der(&plain, "PRIVATE KEY");
        }
        let (label, der) =
            pem_block(text, &["PRIVATE KEY", "EC PRIVATE KEY"]).map_err(KeyError::format)?;
        Self::from_der(&der, &label)
    }

    /// A key from its DER: SEC 1 when `label` is `EC PRIVATE KEY`, else PKCS#8.
    fn from_der(der: &[u8], label: &str) -> Result<SigningKey, KeyError> {
        if label == "EC PRIVATE KEY" {
            return EcdsaKeyPair::from_private_key_der(ECDSA_P256_SIGNING_ALG, der)
                .map(SigningKey::EcdsaP256)
                .map_err(|e| KeyError::format(format!("not an ECDSA P-256 key: {e}")));
        }
        if contains(der, OID_ED25519) {
            Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
                .map(SigningKey::Ed25519)
                .map_err(|e| KeyError::format(format!("not a usable Ed25519 key: {e}")))
        } else if contains(der, OID_P256) {
            EcdsaKeyPair::from_pkcs8(ECDSA_P256_SIGNING_ALG, der)
                .map(SigningKey::EcdsaP256)
                .map_err(|e| KeyError::format(format!("not a usable ECDSA P-256 key: {e}")))
        } else {
            Err(KeyError::format(
                "neither an ECDSA P-256 nor an Ed25519 key (RSA and other curves are not \
                 supported)",
            ))
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
        let key = SigningKey::from_pem(&pem, None).expect("parses");
        let public = PublicKey::from_pem(&key.public().to_pem()).expect("public parses");
        assert_eq!(public.algorithm, Algorithm::EcdsaP256);
        let sig = key.sign(b"message").expect("signs");
        assert!(public.verify(b"message", &sig));
        assert!(!public.verify(b"massage", &sig));
        assert_eq!(public.key_id().len(), 64);
    }

    const PASSWORD: &[u8] = b"archsmoke-test";

    fn fixture(name: &str) -> String {
        let path = format!("{}/tests/fixtures/keys/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// Keys that `openssl genpkey -aes-256-cbc` and `openssl pkcs8 -topk8 -scrypt` encrypted:
    /// the password opens them, and the public half openssl wrote verifies their signatures.
    #[test]
    fn openssl_encrypted_pkcs8_keys_open_with_the_password() {
        for (key, public) in [
            ("p256-aes256.pem", "p256-aes256.pub.pem"),
            ("ed25519-aes256.pem", "ed25519-aes256.pub.pem"),
            ("p256-scrypt.pem", "p256-aes256.pub.pem"),
        ] {
            let signing = SigningKey::from_pem(&fixture(key), Some(PASSWORD))
                .unwrap_or_else(|e| panic!("{key}: {e}"));
            let public = PublicKey::from_pem(&fixture(public)).expect(public);
            assert_eq!(signing.public().key_id(), public.key_id(), "{key}");
            let sig = signing.sign(b"message").expect("signs");
            assert!(public.verify(b"message", &sig), "{key}");
        }
    }

    #[test]
    fn a_password_saved_with_a_trailing_newline_still_opens_the_key() {
        SigningKey::from_pem(&fixture("p256-aes256.pem"), Some(b"archsmoke-test\n"))
            .expect("trailing newline");
        SigningKey::from_pem(&fixture("p256-aes256.pem"), Some(b"archsmoke-test\r\n"))
            .expect("trailing CRLF");
    }

    #[test]
    fn an_encrypted_key_without_its_password_says_which_variable_to_set() {
        let e = SigningKey::from_pem(&fixture("p256-aes256.pem"), None)
            .err()
            .expect("refused");
        assert!(e.what.contains("ARCHSMOKE_KEY_PASSWORD is not set"), "{e}");
        assert!(e.hint.contains("never on the command line"), "{}", e.hint);
        let e = SigningKey::from_pem(&fixture("ed25519-aes256.pem"), Some(b""))
            .err()
            .expect("refused");
        assert!(e.what.contains("is empty"), "{e}");
        assert!(e.hint.contains("forks get no secrets"), "{}", e.hint);
    }

    #[test]
    fn a_wrong_password_is_named_as_such() {
        for key in ["p256-aes256.pem", "ed25519-aes256.pem", "p256-scrypt.pem"] {
            let e = SigningKey::from_pem(&fixture(key), Some(b"archsmoke-TEST"))
                .err()
                .expect("refused");
            assert!(e.what.contains("does not decrypt the key"), "{key}: {e}");
            assert!(
                e.hint.contains("openssl pkey -in KEY.pem -noout"),
                "{}",
                e.hint
            );
        }
    }

    #[test]
    fn encryptions_archsmoke_does_not_read_are_refused_with_the_conversion() {
        let e = SigningKey::from_pem(&fixture("p256-pkcs12-pbe.pem"), Some(PASSWORD))
            .err()
            .expect("PKCS#12 PBE refused");
        assert!(e.what.contains("it decrypts PBES2"), "{e}");
        assert!(
            e.hint.contains("openssl pkcs8 -topk8 -v2 aes-256-cbc"),
            "{}",
            e.hint
        );
        let e = SigningKey::from_pem(&fixture("p256-legacy.pem"), Some(PASSWORD))
            .err()
            .expect("legacy PEM refused");
        assert!(e.what.contains("Proc-Type: 4,ENCRYPTED"), "{e}");
        assert!(e.hint.contains("openssl pkcs8 -topk8"), "{}", e.hint);
        let e = SigningKey::from_pem(
            "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED SIGSTORE \
             PRIVATE KEY-----\n",
            Some(PASSWORD),
        )
        .err()
        .expect("cosign's format refused");
        assert!(e.hint.contains("openssl"), "{}", e.hint);
    }

    #[test]
    fn a_broken_encrypted_block_is_a_format_error() {
        let e = SigningKey::from_pem(
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
            Some(PASSWORD),
        )
        .err()
        .expect("refused");
        assert!(
            e.what.contains("cannot read this ENCRYPTED PRIVATE KEY"),
            "{e}"
        );
    }
}
