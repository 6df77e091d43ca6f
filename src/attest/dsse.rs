//! DSSE envelopes (Dead Simple Signing Envelope, v1): the signature covers the
//! pre-authentication encoding `"DSSEv1" SP len(type) SP type SP len(body) SP body`, never the
//! payload alone, so a payload cannot be replayed under another type.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::keys::{PublicKey, SigningKey};

/// The payload type of an in-toto statement.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    /// Base64 (standard alphabet, padded) of the payload bytes.
    pub payload: String,
    pub signatures: Vec<Signature>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    #[serde(default)]
    pub keyid: String,
    /// Base64 of the signature bytes (DER for ECDSA).
    pub sig: String,
}

/// The pre-authentication encoding that is signed.
pub fn pae(payload_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

/// Signs `body` as a `payload_type` envelope with `key`.
pub fn sign(payload_type: &str, body: &[u8], key: &SigningKey) -> Result<Envelope, String> {
    let sig = key.sign(&pae(payload_type, body))?;
    Ok(Envelope {
        payload_type: payload_type.to_owned(),
        payload: b64().encode(body),
        signatures: vec![Signature {
            keyid: key.public().key_id(),
            sig: b64().encode(sig),
        }],
    })
}

impl Envelope {
    /// The payload, when one of the signatures is `key`'s over it; else why not.
    pub fn open(&self, key: &PublicKey) -> Result<Vec<u8>, String> {
        let body = b64()
            .decode(&self.payload)
            .map_err(|e| format!("the envelope's payload is not base64: {e}"))?;
        let message = pae(&self.payload_type, &body);
        let signed = self.signatures.iter().any(|s| {
            b64()
                .decode(&s.sig)
                .is_ok_and(|sig| key.verify(&message, &sig))
        });
        if !signed {
            return Err(format!(
                "signature does not verify with key {} (signed by {}): another key, or the \
                 payload was changed after signing",
                short(&key.key_id()),
                self.signatures
                    .iter()
                    .map(|s| if s.keyid.is_empty() {
                        "an unnamed key".to_owned()
                    } else {
                        short(&s.keyid)
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        Ok(body)
    }
}

/// A key id as people read it: its first 16 hex digits.
pub fn short(key_id: &str) -> String {
    key_id.chars().take(16).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the DSSE specification's protocol document.
    #[test]
    fn pae_matches_the_specification() {
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
    }
}
