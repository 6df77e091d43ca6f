//! Bytes as lower-case hex, SHA-256 digests in the `sha256:<hex>` form OCI uses, and random
//! tokens: written once here, for every module that names an image, a key, a context or a run.

use std::fmt::Write as _;
use std::io::Read as _;

use sha2::{Digest, Sha256};

/// Lower-case hex of `bytes` (also the form the kernel prints in a binfmt entry's `magic`).
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Lower-case hex of the SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", sha256_hex(bytes))
}

/// `n` random bytes as hex, from the kernel's random source: unguessable, so a run id or a
/// GitHub stop-commands token cannot be predicted by what runs inside the image. Should
/// `/dev/urandom` be unreadable (a broken sandbox), the time and process id stand in, which
/// still tell concurrent runs apart.
pub fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    let read = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if let Err(e) = read {
        tracing::warn!(error = %e, "cannot read /dev/urandom; the token is made from the time");
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let seed = Sha256::digest(format!("archsmoke-{nanos}-{}", std::process::id()));
        bytes = seed.iter().copied().cycle().take(n).collect();
    }
    hex(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_and_digests_read_as_oci_writes_them() {
        assert_eq!(hex(b"\x7fE\xff"), "7f45ff");
        assert_eq!(
            sha256_digest(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn random_tokens_have_their_length_and_differ() {
        let (a, b) = (random_hex(6), random_hex(6));
        assert_eq!(a.len(), 12);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
