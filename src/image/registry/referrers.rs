//! Artifacts that refer to a manifest (OCI 1.1 `subject`): pushing one, and reading them back.
//!
//! A registry with the referrers API (`GET /v2/<name>/referrers/<digest>` answers an index)
//! lists an artifact by itself once it is pushed. One without it (Debian's `docker-registry`,
//! distribution 2.8) needs the referrers tag schema of the distribution spec: an image index at
//! tag `sha256-<hex>` of the subject, which the pusher reads, extends and pushes back. The read
//! side is oci-client's `pull_referrers`, which falls back to the same tag.

use oci_client::errors::OciDistributionError;
use oci_client::{Reference, RegistryOperation};
use reqwest::header::HeaderValue;
use serde_json::{Value, json};

use super::{Registry, bounded_body, classify};
use crate::image::ImageError;
use crate::image::manifest::{MAX_MANIFEST_BYTES, sha256_digest};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// The empty config of an artifact (`{}`), as the image spec defines it.
const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
const EMPTY_DIGEST: &str =
    "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

/// Largest attestation layer read back: an envelope of a few hundred tests is kilobytes.
const MAX_LAYER_BYTES: i64 = 4 << 20;

/// An artifact to attach to a subject manifest.
pub struct Artifact<'a> {
    pub artifact_type: &'a str,
    pub layer_media_type: &'a str,
    pub layer: &'a [u8],
    pub annotations: Value,
}

/// How an artifact was listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing {
    /// The registry's referrers API lists it.
    ReferrersApi,
    /// The referrers tag `sha256-<hex>` lists it.
    TagSchema,
}

fn invalid(what: String, detail: impl Into<String>) -> ImageError {
    ImageError::Malformed {
        what,
        detail: detail.into(),
    }
}

impl Registry {
    /// Pushes `artifact` as an image manifest whose `subject` is `subject` (a reference by
    /// digest, with its media type and size), and lists it as a referrer. Returns the
    /// artifact manifest's digest and how it is listed.
    pub async fn push_referrer(
        &self,
        subject: &Reference,
        subject_media_type: &str,
        subject_size: i64,
        artifact: &Artifact<'_>,
    ) -> Result<(String, Listing), ImageError> {
        let subject_digest = subject
            .digest()
            .ok_or_else(|| invalid(subject.whole(), "a referrer's subject needs a digest"))?
            .to_owned();
        let repo = Reference::with_tag(
            subject.registry().to_owned(),
            subject.repository().to_owned(),
            "attest".to_owned(),
        );
        let push_token = self
            .client
            .auth(&repo, &self.auth, RegistryOperation::Push)
            .await
            .map_err(|e| classify(&repo, e))?;
        self.push_small_blob(&repo, b"{}".to_vec(), EMPTY_DIGEST)
            .await?;
        let layer_digest = sha256_digest(artifact.layer);
        self.push_small_blob(&repo, artifact.layer.to_vec(), &layer_digest)
            .await?;
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": artifact.artifact_type,
            "config": {"mediaType": EMPTY_MEDIA_TYPE, "digest": EMPTY_DIGEST, "size": 2},
            "layers": [{
                "mediaType": artifact.layer_media_type,
                "digest": layer_digest,
                "size": artifact.layer.len(),
                "annotations": artifact.annotations,
            }],
            "subject": {
                "mediaType": subject_media_type,
                "digest": subject_digest,
                "size": subject_size,
            },
            "annotations": artifact.annotations,
        });
        let body = serde_json::to_vec(&manifest).unwrap_or_default();
        let digest = sha256_digest(&body);
        let by_digest = Reference::with_digest(
            subject.registry().to_owned(),
            subject.repository().to_owned(),
            digest.clone(),
        );
        self.put_manifest(&by_digest, &body, push_token.as_deref())
            .await?;
        if self.has_referrers_api(subject).await? {
            return Ok((digest, Listing::ReferrersApi));
        }
        // The tag schema: read the index (none yet is an empty one), add this artifact once,
        // push it back. Two pushers at once can lose an entry (the schema has no lock): CI
        // attests each child from one job.
        let tag = Reference::with_tag(
            subject.registry().to_owned(),
            subject.repository().to_owned(),
            subject_digest.replace(':', "-"),
        );
        let mut index = match self.manifest(&tag).await {
            Ok((bytes, _)) => serde_json::from_slice::<Value>(&bytes)
                .map_err(|e| invalid(format!("referrers index {}", tag.whole()), e.to_string()))?,
            Err(ImageError::NotFound { .. }) => {
                json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []})
            }
            Err(e) => return Err(e),
        };
        let entries = index["manifests"]
            .as_array_mut()
            .ok_or_else(|| invalid(format!("referrers index {}", tag.whole()), "no manifests"))?;
        if !entries.iter().any(|m| m["digest"] == digest.as_str()) {
            entries.push(json!({
                "mediaType": OCI_MANIFEST,
                "digest": digest,
                "size": body.len(),
                "artifactType": artifact.artifact_type,
                "annotations": artifact.annotations,
            }));
        }
        let index_body = serde_json::to_vec(&index).unwrap_or_default();
        self.client
            .push_manifest_raw(&tag, index_body, HeaderValue::from_static(OCI_INDEX))
            .await
            .map_err(|e| classify(&tag, e))?;
        Ok((digest, Listing::TagSchema))
    }

    /// Pushes a blob of a few bytes (an attestation layer, the empty config). oci-client insists
    /// on the `Location` header the distribution spec puts on a finished upload; some registries
    /// (go-containerregistry's) store the blob and leave the header out. What counts is that the
    /// blob is there, so a missing header is a failure only when it is not.
    async fn push_small_blob(
        &self,
        repo: &Reference,
        bytes: Vec<u8>,
        digest: &str,
    ) -> Result<(), ImageError> {
        match self.client.push_blob(repo, bytes, digest).await {
            Ok(_) => Ok(()),
            Err(OciDistributionError::RegistryNoLocationError)
                if self.has_blob(repo, digest).await =>
            {
                Ok(())
            }
            Err(e) => Err(classify(repo, e)),
        }
    }

    /// PUTs an OCI image manifest at `reference` (by digest) with the push token, if any. Not
    /// through oci-client: its workaround for a registry that leaves out the `Location` header
    /// of a stored manifest (go-containerregistry's, ECR) panics on a reference by digest.
    async fn put_manifest(
        &self,
        reference: &Reference,
        body: &[u8],
        push_token: Option<&str>,
    ) -> Result<(), ImageError> {
        let scheme = if self.plain_http { "http" } else { "https" };
        let url = format!(
            "{scheme}://{}/v2/{}/manifests/{}",
            reference.resolve_registry(),
            reference.repository(),
            reference.digest().unwrap_or_default()
        );
        let mut request = self
            .http
            .put(&url)
            .header(reqwest::header::CONTENT_TYPE, OCI_MANIFEST)
            .body(body.to_vec());
        request = match (push_token, &self.credentials) {
            (Some(token), _) => request.bearer_auth(token),
            (None, Some(c)) => request.basic_auth(&c.username, Some(&c.password)),
            (None, None) => request,
        };
        let response = request
            .send()
            .await
            .map_err(|e| classify(reference, e.into()))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let body = bounded_body(response, MAX_MANIFEST_BYTES, "manifest push reply")
            .await
            .unwrap_or_default();
        Err(classify(
            reference,
            super::status_error(status, &body, &url),
        ))
    }

    /// Whether `repo` holds the blob `digest` (`HEAD /v2/<name>/blobs/<digest>`).
    async fn has_blob(&self, repo: &Reference, digest: &str) -> bool {
        let scheme = if self.plain_http { "http" } else { "https" };
        let url = format!(
            "{scheme}://{}/v2/{}/blobs/{digest}",
            repo.resolve_registry(),
            repo.repository()
        );
        let Ok(request) = self.authorize(self.http.head(&url), repo).await else {
            return false;
        };
        request.send().await.is_ok_and(|r| r.status().is_success())
    }

    /// Whether the registry answers the referrers API for `subject` (by digest).
    async fn has_referrers_api(&self, subject: &Reference) -> Result<bool, ImageError> {
        let scheme = if self.plain_http { "http" } else { "https" };
        let url = format!(
            "{scheme}://{}/v2/{}/referrers/{}",
            subject.resolve_registry(),
            subject.repository(),
            subject.digest().unwrap_or_default()
        );
        let mut request = self.http.get(&url);
        request = self.authorize(request, subject).await?;
        let response = request
            .send()
            .await
            .map_err(|e| classify(subject, e.into()))?;
        if !response.status().is_success() {
            return Ok(false);
        }
        let body = bounded_body(response, MAX_MANIFEST_BYTES, "referrers")
            .await
            .unwrap_or_default();
        Ok(serde_json::from_slice::<Value>(&body)
            .is_ok_and(|v| v["mediaType"] == OCI_INDEX || v["manifests"].is_array()))
    }

    /// Every artifact of `artifact_type` that refers to `subject` (by digest): its manifest's
    /// digest and its first layer of `layer_media_type`, each verified against its digest.
    pub async fn referrers(
        &self,
        subject: &Reference,
        artifact_type: &str,
        layer_media_type: &str,
    ) -> Result<Vec<(String, Vec<u8>)>, ImageError> {
        self.authenticate(subject).await;
        let index = self
            .client
            .pull_referrers(subject, Some(artifact_type))
            .await
            .map_err(|e| classify(subject, e))?;
        let mut out = Vec::new();
        for m in index.manifests {
            let at = Reference::with_digest(
                subject.registry().to_owned(),
                subject.repository().to_owned(),
                m.digest.clone(),
            );
            let (bytes, digest) = self.manifest(&at).await?;
            let manifest: Value = serde_json::from_slice(&bytes)
                .map_err(|e| invalid(format!("referrer {}", at.whole()), e.to_string()))?;
            let Some(layer) = manifest["layers"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|l| l["mediaType"] == layer_media_type)
            else {
                continue;
            };
            let (Some(layer_digest), Some(size)) =
                (layer["digest"].as_str(), layer["size"].as_i64())
            else {
                continue;
            };
            if size > MAX_LAYER_BYTES {
                return Err(invalid(
                    format!("referrer {}", at.whole()),
                    format!("its layer declares {size} bytes, more than an attestation"),
                ));
            }
            let blob = self.small_blob(&at, layer_digest, size).await?;
            out.push((digest, blob));
        }
        Ok(out)
    }
}

impl crate::image::RegistryImage {
    /// Attaches `artifact` to this repository's manifest `child_digest` (see
    /// [`Registry::push_referrer`]).
    pub async fn attach(
        &self,
        child_digest: &str,
        artifact: &Artifact<'_>,
    ) -> Result<(String, Listing), ImageError> {
        let at = self.at_digest(child_digest);
        let (bytes, _) = self.registry.manifest(&at).await?;
        let media_type = serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|v| v["mediaType"].as_str().map(str::to_owned))
            .unwrap_or_else(|| OCI_MANIFEST.to_owned());
        let size = i64::try_from(bytes.len()).unwrap_or(i64::MAX);
        self.registry
            .push_referrer(&at, &media_type, size, artifact)
            .await
    }

    /// The artifacts of `artifact_type` attached to `child_digest` (see [`Registry::referrers`]).
    pub async fn attachments(
        &self,
        child_digest: &str,
        artifact_type: &str,
        layer_media_type: &str,
    ) -> Result<Vec<(String, Vec<u8>)>, ImageError> {
        let at = self.at_digest(child_digest);
        self.registry
            .referrers(&at, artifact_type, layer_media_type)
            .await
    }
}
