//! Parsing manifests, indexes and image configs from raw bytes (no I/O).
//!
//! Docker manifest lists and OCI indexes share one shape, as do Docker schema 2 and OCI image
//! manifests, so both are read with `oci-spec`'s types. The kind of document is decided from its
//! `mediaType` field, or from its shape when the field is absent (it is optional in OCI).

use oci_spec::image::{Descriptor, ImageConfiguration, ImageIndex, ImageManifest};

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// Every manifest media type archsmoke understands, for the registry's `Accept` header.
pub const ACCEPTED: &[&str] = &[OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST];

/// Annotation buildx puts on attestation manifests (moby/buildkit attestation-storage.md).
pub const REFERENCE_TYPE: &str = "vnd.docker.reference.type";
pub const ATTESTATION_MANIFEST: &str = "attestation-manifest";

/// Manifests larger than this are refused before parsing: real indexes are a few KiB, and the
/// registry spec itself suggests 4 MiB as a limit.
pub const MAX_MANIFEST_BYTES: usize = 4 << 20;

#[derive(Debug)]
pub enum Manifest {
    Index {
        media_type: String,
        index: Box<ImageIndex>,
    },
    Image {
        media_type: String,
        manifest: Box<ImageManifest>,
    },
}

impl Manifest {
    pub fn media_type(&self) -> &str {
        match self {
            Manifest::Index { media_type, .. } | Manifest::Image { media_type, .. } => media_type,
        }
    }
}

/// Why a document could not be read as a manifest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error("the document is {0} bytes, more than the 4 MiB a manifest may have")]
    TooLarge(usize),
    #[error("not valid JSON: {0}")]
    Json(String),
    #[error("media type `{0}` is not a manifest or index this tool can read")]
    UnsupportedMediaType(String),
    #[error("malformed {kind}: {detail}")]
    Malformed { kind: &'static str, detail: String },
}

pub fn parse_manifest(bytes: &[u8]) -> Result<Manifest, ManifestError> {
    if bytes.len() > MAX_MANIFEST_BYTES {
        return Err(ManifestError::TooLarge(bytes.len()));
    }
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| ManifestError::Json(e.to_string()))?;
    let declared = value
        .get("mediaType")
        .and_then(|m| m.as_str())
        .map(str::to_owned);
    let is_index = match declared.as_deref() {
        Some(OCI_INDEX | DOCKER_LIST) => true,
        Some(OCI_MANIFEST | DOCKER_MANIFEST) => false,
        Some(other) => return Err(ManifestError::UnsupportedMediaType(other.to_owned())),
        None if value.get("manifests").is_some() => true,
        None if value.get("layers").is_some() => false,
        None => {
            return Err(ManifestError::Malformed {
                kind: "manifest",
                detail:
                    "neither `manifests` (an index) nor `layers` (an image manifest) is present"
                        .to_owned(),
            });
        }
    };
    if is_index {
        let index: ImageIndex =
            serde_json::from_value(value).map_err(|e| ManifestError::Malformed {
                kind: "index",
                detail: e.to_string(),
            })?;
        Ok(Manifest::Index {
            media_type: declared.unwrap_or_else(|| OCI_INDEX.to_owned()),
            index: Box::new(index),
        })
    } else {
        let manifest: ImageManifest =
            serde_json::from_value(value).map_err(|e| ManifestError::Malformed {
                kind: "image manifest",
                detail: e.to_string(),
            })?;
        Ok(Manifest::Image {
            media_type: declared.unwrap_or_else(|| OCI_MANIFEST.to_owned()),
            manifest: Box::new(manifest),
        })
    }
}

pub fn parse_config(bytes: &[u8]) -> Result<ImageConfiguration, ManifestError> {
    serde_json::from_slice(bytes).map_err(|e| ManifestError::Malformed {
        kind: "image config",
        detail: e.to_string(),
    })
}

pub use crate::digest::sha256_digest;

/// `sha256:<hex>` of a finished SHA-256 hash.
pub fn sha256_text(hash: &[u8]) -> String {
    format!("sha256:{}", crate::digest::hex(hash))
}

/// Whether `bytes` hash to `expected`. Digests of other algorithms are not verified (sha512 is
/// allowed by the spec but unused by every known builder); they are reported as unverifiable.
pub fn verify_digest(bytes: &[u8], expected: &str) -> Result<(), String> {
    match expected.split_once(':') {
        Some(("sha256", _)) => {
            let actual = sha256_digest(bytes);
            if actual == expected {
                Ok(())
            } else {
                Err(actual)
            }
        }
        _ => Err(format!("unsupported digest algorithm in `{expected}`")),
    }
}

/// Whether an index entry is a buildx attestation rather than a runnable image.
pub fn is_attestation(desc: &Descriptor) -> bool {
    desc.annotations()
        .as_ref()
        .and_then(|a| a.get(REFERENCE_TYPE))
        .is_some_and(|t| t == ATTESTATION_MANIFEST)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_kinds_by_media_type_and_shape() {
        let index = br#"{"schemaVersion":2,"manifests":[]}"#;
        assert!(matches!(parse_manifest(index), Ok(Manifest::Index { .. })));
        let list = br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[]}"#;
        let m = parse_manifest(list).expect("docker list");
        assert_eq!(m.media_type(), DOCKER_LIST);
        let wrong = br#"{"schemaVersion":2,"mediaType":"text/html","manifests":[]}"#;
        assert!(matches!(
            parse_manifest(wrong),
            Err(ManifestError::UnsupportedMediaType(_))
        ));
        assert!(matches!(parse_manifest(b"{"), Err(ManifestError::Json(_))));
        assert!(matches!(
            parse_manifest(br#"{"schemaVersion":2}"#),
            Err(ManifestError::Malformed { .. })
        ));
        let truncated = br#"{"schemaVersion":2,"manifests":[{"mediaType":"x","digest":"sha256:ab"#;
        assert!(matches!(
            parse_manifest(truncated),
            Err(ManifestError::Json(_))
        ));
    }

    #[test]
    fn digests() {
        assert_eq!(
            sha256_digest(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert!(verify_digest(b"", &sha256_digest(b"")).is_ok());
        assert!(verify_digest(b"x", &sha256_digest(b"")).is_err());
        assert!(verify_digest(b"x", "md5:00").is_err());
    }

    #[test]
    fn refuses_huge_documents() {
        let big = vec![b' '; MAX_MANIFEST_BYTES + 1];
        assert!(matches!(
            parse_manifest(&big),
            Err(ManifestError::TooLarge(_))
        ));
    }
}
