//! Signed attestations: the verdict travels with the image. For each tested child manifest,
//! an in-toto Statement v1 ([`statement`]) in a DSSE envelope ([`dsse`]) signed with the user's
//! key ([`keys`]), written to files and attached in the registry as an OCI artifact whose
//! `subject` is the child (`image::registry::referrers`); `verify --attestations` reads them
//! back and applies a policy ([`policy`]).

pub mod dsse;
pub mod keys;
pub mod policy;
pub mod statement;

use std::path::{Path, PathBuf};

use crate::image::{ImageError, RegistryImage};
use crate::report::json::wire;

pub use statement::PREDICATE_TYPE;

/// The artifact type of an attestation in the registry (the statement's own media type, as
/// cosign and Docker attach in-toto attestations).
pub const ARTIFACT_TYPE: &str = "application/vnd.in-toto+json";

/// The media type of the layer that holds the envelope.
pub const ENVELOPE_MEDIA_TYPE: &str = "application/vnd.dsse.envelope.v1+json";

/// One signed statement, ready to write or push.
pub struct Signed {
    pub platform: String,
    pub digest: String,
    pub native: bool,
    pub statement: statement::Statement,
    pub envelope: dsse::Envelope,
}

/// A statement for each tested child of `report`, signed with `key`. `repository` names the
/// subjects (`registry/repo`).
pub fn sign(
    report: &wire::Report,
    repository: &str,
    key: &keys::SigningKey,
) -> Result<Vec<Signed>, String> {
    statement::statements(report, repository)
        .into_iter()
        .map(|s| {
            let body = serde_json::to_vec(&s).map_err(|e| e.to_string())?;
            let envelope = dsse::sign(dsse::IN_TOTO_PAYLOAD_TYPE, &body, key)?;
            Ok(Signed {
                platform: s.predicate.platform.clone(),
                digest: s.subject_digest().unwrap_or_default(),
                native: s.predicate.native,
                statement: s,
                envelope,
            })
        })
        .collect()
}

/// Writes, per statement, `<platform>.<hex12>.statement.json` (the statement alone, for
/// `cosign attest --predicate` or GitHub's artifact attestations, which sign it themselves),
/// `.predicate.json` (its predicate) and `.dsse.json` (archsmoke's signed envelope). Returns
/// the envelope files.
pub fn write_files(dir: &Path, signed: &[Signed]) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut out = Vec::new();
    for s in signed {
        let hex: String = s
            .digest
            .trim_start_matches("sha256:")
            .chars()
            .take(12)
            .collect();
        let stem = format!("{}.{hex}", s.platform.replace('/', "-"));
        crate::report::write_atomically(
            &dir.join(format!("{stem}.statement.json")),
            pretty(&s.statement).as_bytes(),
        )?;
        crate::report::write_atomically(
            &dir.join(format!("{stem}.predicate.json")),
            pretty(&s.statement.predicate).as_bytes(),
        )?;
        let envelope = dir.join(format!("{stem}.dsse.json"));
        crate::report::write_atomically(&envelope, pretty(&s.envelope).as_bytes())?;
        out.push(envelope);
    }
    Ok(out)
}

/// Pretty JSON ending in a newline, as the report files are written.
fn pretty<T: serde::Serialize>(value: &T) -> String {
    let mut s = serde_json::to_string_pretty(value).unwrap_or_default();
    s.push('\n');
    s
}

/// Attaches each envelope to its child in `image`'s repository. Returns, per statement, the
/// artifact's digest and how it is listed, or the error.
pub async fn push(
    image: &RegistryImage,
    signed: &[Signed],
) -> Vec<Result<(String, crate::image::registry::referrers::Listing), ImageError>> {
    let mut out = Vec::new();
    for s in signed {
        let layer = serde_json::to_vec(&s.envelope).unwrap_or_default();
        let annotations = serde_json::json!({
            "in-toto.io/predicate-type": PREDICATE_TYPE,
            "dev.archsmoke.platform": s.platform,
            "org.opencontainers.image.created": s.statement.predicate.run.finished_at,
        });
        let artifact = crate::image::registry::referrers::Artifact {
            artifact_type: ARTIFACT_TYPE,
            layer_media_type: ENVELOPE_MEDIA_TYPE,
            layer: &layer,
            annotations,
        };
        out.push(image.attach(&s.digest, &artifact).await);
    }
    out
}

/// The envelopes attached to `digest` in `image`'s repository, each with the artifact's digest.
/// An attachment that is not an envelope is listed with its parse error as the envelope's
/// absence, so the verifier can name it.
pub async fn fetch(
    image: &RegistryImage,
    digest: &str,
) -> Result<Vec<(String, Result<dsse::Envelope, String>)>, ImageError> {
    let found = image
        .attachments(digest, ARTIFACT_TYPE, ENVELOPE_MEDIA_TYPE)
        .await?;
    Ok(found
        .into_iter()
        .map(|(source, bytes)| {
            let envelope = serde_json::from_slice::<dsse::Envelope>(&bytes)
                .map_err(|e| format!("not a DSSE envelope: {e}"));
            (source, envelope)
        })
        .collect())
}
