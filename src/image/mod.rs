//! Image resolution: from a reference to the index and, per platform, the exact child digest and
//! image config that will run.
//!
//! Resolution walks the manifest list / OCI index (nested indexes included, loops and depth
//! bounded), classifies every entry (runnable image, buildx attestation, no platform, unknown
//! media type), and, for the platforms a run asks for, fetches each child manifest and config
//! concurrently. Every document is verified against its digest, whatever its [`source`]:
//! a registry, an OCI layout or archive, or (described by the engine) an engine image. Nothing
//! here talks to the engine.

pub mod layout;
pub mod manifest;
pub mod reference;
pub mod registry;
pub mod saved;
pub mod source;

#[cfg(test)]
mod layout_tests;

use std::collections::HashSet;

use oci_client::Reference;
use oci_spec::image::{Descriptor, ImageConfiguration};
use serde::Serialize;

pub use crate::outcome::inspect::IndexEntryKind;
use crate::platform::Platform;
use layout::Layout;
use manifest::{Manifest, ManifestError, is_attestation, parse_config, parse_manifest};
use registry::{Credentials, Registry};
pub use source::{ImageSource, SourceSpec};

/// Indexes nested deeper than this are refused (real ones nest at most once).
const MAX_INDEX_DEPTH: usize = 4;
/// An index with more entries than this is refused as hostile.
const MAX_INDEX_ENTRIES: usize = 1024;

/// Why an image could not be resolved. All but [`ImageError::BadReference`] are infrastructure
/// failures (exit 3): the image cannot be read, so nothing about it could be checked.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ImageError {
    #[error("`{reference}` is not a valid image reference: {detail}")]
    BadReference { reference: String, detail: String },
    #[error("cannot reach registry {registry}: {detail}")]
    Unreachable { registry: String, detail: String },
    #[error("registry {registry} refused access to {reference}")]
    Unauthorized { registry: String, reference: String },
    #[error("{reference} was not found in its registry")]
    NotFound { reference: String },
    #[error("{what} does not match its digest: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },
    #[error("{what} is malformed: {detail}")]
    Malformed { what: String, detail: String },
    #[error("registry {registry} failed: {detail}")]
    Registry { registry: String, detail: String },
    /// An OCI layout or archive that is missing or lacks what was asked for.
    #[error("cannot read {what}: {detail}")]
    Layout { what: String, detail: String },
}

impl ImageError {
    /// What the user can do about it.
    pub fn hint(&self) -> String {
        match self {
            ImageError::BadReference { .. } => {
                "write references like `registry:5000/repo/name:tag` or `name@sha256:<digest>`, \
                 or `oci-layout:DIR[:TAG]`, `oci-archive:FILE[:TAG]`, `docker-daemon:NAME`"
                    .into()
            }
            ImageError::Unreachable { registry, .. } => format!(
                "check that the registry {registry} is running and reachable from this machine"
            ),
            ImageError::Unauthorized { registry, .. } => {
                format!("log in first: `docker login {registry}`")
            }
            ImageError::NotFound { .. } => {
                "check the spelling of the repository and tag (`docker buildx imagetools inspect \
                 REF` lists what a registry has); was the image pushed?"
                    .into()
            }
            ImageError::DigestMismatch { .. } => {
                "the registry returned different content than the digest promises; \
                 do not trust this image or registry"
                    .into()
            }
            ImageError::Malformed { .. } => {
                "the image was written by a broken tool; rebuild and push it".into()
            }
            ImageError::Registry { .. } => {
                "retry; if it persists, check the registry's logs".into()
            }
            ImageError::Layout { .. } => {
                "check the path and tag: `docker buildx build --output type=oci,dest=FILE` writes \
                 an archive (`oci-archive:FILE[:TAG]`), `--output type=oci,tar=false,dest=DIR` a \
                 directory (`oci-layout:DIR[:TAG]`)"
                    .into()
            }
        }
    }

    /// The user's error, not the infrastructure's: retrying cannot help. A registry that answers
    /// "unknown repository" or "unknown tag" is working; the reference is wrong (a typo), so CI
    /// must not retry it as an outage.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            ImageError::BadReference { .. } | ImageError::NotFound { .. }
        )
    }
}

// Beside the error it describes, so that the reports' contract never imports this module.
impl crate::outcome::Problem {
    /// An image source (registry or layout) could not be read.
    pub fn registry(e: &ImageError) -> crate::outcome::Problem {
        crate::outcome::Problem {
            kind: crate::outcome::ProblemKind::Registry,
            message: e.to_string(),
            hint: Some(e.hint()),
        }
    }
}

/// Parse a user-supplied reference, with Docker Hub defaults (`busybox` is
/// `docker.io/library/busybox:latest`).
pub fn parse_reference(text: &str) -> Result<Reference, ImageError> {
    reference::parse(text.trim()).map_err(|e| ImageError::BadReference {
        reference: text.to_owned(),
        detail: e.to_string(),
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct IndexEntry {
    pub digest: String,
    pub media_type: String,
    pub size: i64,
    pub platform: Option<Platform>,
    pub kind: IndexEntryKind,
    /// The index the entry was found in, when it is not the top-level one.
    pub nested_in: Option<String>,
}

/// The top-level document of an image and all its entries.
#[derive(Debug, Clone, Serialize)]
pub struct ResolvedImage {
    /// The reference as given, in canonical form.
    pub reference: String,
    /// Digest of the top-level document (index, or the manifest for a single-platform image).
    pub digest: String,
    pub media_type: String,
    /// False for a single-platform image, which is treated as an index of one.
    pub is_index: bool,
    pub entries: Vec<IndexEntry>,
}

impl ResolvedImage {
    /// Platforms of the runnable entries, in index order.
    pub fn runnable_platforms(&self) -> Vec<Platform> {
        self.entries
            .iter()
            .filter(|e| e.kind == IndexEntryKind::Image)
            .filter_map(|e| e.platform.clone())
            .collect()
    }

    pub fn attestations(&self) -> usize {
        self.entries
            .iter()
            .filter(|e| e.kind == IndexEntryKind::Attestation)
            .count()
    }
}

/// The child image chosen for one platform: what will be pulled and run.
#[derive(Debug, Clone, Serialize)]
pub struct PlatformImage {
    /// `registry/repository@sha256:<child digest>`: the only safe way to pull one platform.
    pub pull_reference: String,
    pub manifest_digest: String,
    pub config_digest: String,
    /// What the image config itself says, which can differ from the index entry.
    pub config_platform: Platform,
}

impl PlatformImage {
    /// A mismatch between the index entry and the image's own config: a mislabelled platform.
    pub fn config_mismatch(&self, entry: &Platform) -> Option<String> {
        (self.config_platform != *entry).then(|| {
            format!(
                "the index lists this image as {entry}, but its config says {}",
                self.config_platform
            )
        })
    }
}

/// A child image as the audit reads it: its config and its layers.
#[derive(Debug, Clone)]
pub struct PlatformContents {
    pub image: PlatformImage,
    pub config: ImageConfiguration,
    /// The config blob's size, as the manifest's descriptor says.
    pub config_size: u64,
    pub layers: Vec<Descriptor>,
}

impl PlatformContents {
    /// What the image weighs in the registry: its config and every (compressed) layer, which is
    /// what a user means by the image's size, not its manifest's few hundred bytes.
    /// Saturating: the sizes come from the manifest, which may lie.
    pub fn size(&self) -> u64 {
        self.layers
            .iter()
            .fold(self.config_size, |sum, l| sum.saturating_add(l.size()))
    }
}

/// An image in a registry.
pub struct RegistryImage {
    reference: Reference,
    registry: Registry,
    credentials: Option<Credentials>,
}

impl RegistryImage {
    pub fn new(reference: Reference) -> RegistryImage {
        let credentials = registry::docker_credentials(reference.resolve_registry());
        let registry = Registry::new(&reference, credentials.as_ref());
        RegistryImage {
            reference,
            registry,
            credentials,
        }
    }

    pub fn reference(&self) -> &Reference {
        &self.reference
    }

    /// Credentials for the engine's pull, the same the registry client uses.
    pub fn credentials(&self) -> Option<&Credentials> {
        self.credentials.as_ref()
    }

    fn at_digest(&self, digest: &str) -> Reference {
        Reference::with_digest(
            self.reference.registry().to_owned(),
            self.reference.repository().to_owned(),
            digest.to_owned(),
        )
    }

    /// Fetch the top-level document and walk it.
    pub async fn resolve(&self) -> Result<ResolvedImage, ImageError> {
        self.registry.authenticate(&self.reference).await;
        let (bytes, digest) = self.registry.manifest(&self.reference).await?;
        Docs::Registry(self)
            .resolve_from(self.reference.whole(), bytes, digest)
            .await
    }

    /// Fetch a child manifest and its config.
    pub async fn platform_image(&self, entry: &IndexEntry) -> Result<PlatformImage, ImageError> {
        Docs::Registry(self).platform_image(entry).await
    }

    /// A child image with its full config and layer descriptors (bottom layer first).
    pub async fn platform_contents(
        &self,
        entry: &IndexEntry,
    ) -> Result<PlatformContents, ImageError> {
        Docs::Registry(self).platform_contents(entry).await
    }

    /// A layer blob of this repository as a stream, verified against its digest as it is read.
    pub async fn blob_stream(
        &self,
        digest: &str,
        size: i64,
    ) -> Result<std::pin::Pin<Box<dyn tokio::io::AsyncRead + Send>>, ImageError> {
        self.registry
            .blob_stream(&self.reference, digest, size)
            .await
    }
}

/// Where an image's documents come from; resolution and the per-platform fetch are the same
/// walk whatever the source.
#[derive(Clone, Copy)]
enum Docs<'a> {
    Registry(&'a RegistryImage),
    Layout(&'a Layout),
}

impl Docs<'_> {
    fn name(&self) -> String {
        match self {
            Docs::Registry(r) => r.reference.whole(),
            Docs::Layout(l) => l.name().to_owned(),
        }
    }

    /// A manifest or index by digest, verified against it.
    async fn manifest(&self, digest: &str) -> Result<Vec<u8>, ImageError> {
        match self {
            Docs::Registry(r) => Ok(r.registry.manifest(&r.at_digest(digest)).await?.0),
            Docs::Layout(l) => l.blob(digest, None).await,
        }
    }

    async fn config(&self, desc: &Descriptor) -> Result<ImageConfiguration, ImageError> {
        let digest = desc.digest().to_string();
        let bytes = match self {
            Docs::Registry(r) => {
                r.registry
                    .small_blob(&r.reference, &digest, desc.size() as i64)
                    .await?
            }
            Docs::Layout(l) => l.document(desc).await?,
        };
        parse_config(&bytes).map_err(|e| self.malformed(&digest, e))
    }

    fn malformed(&self, digest: &str, e: ManifestError) -> ImageError {
        ImageError::Malformed {
            what: format!("{digest} of {}", self.name()),
            detail: e.to_string(),
        }
    }

    /// Walk the top-level document `bytes` (whose verified digest is `digest`).
    async fn resolve_from(
        &self,
        reference: String,
        bytes: Vec<u8>,
        digest: String,
    ) -> Result<ResolvedImage, ImageError> {
        let top = parse_manifest(&bytes).map_err(|e| self.malformed(&digest, e))?;
        let media_type = top.media_type().to_owned();
        let mut entries = Vec::new();
        let is_index = match top {
            Manifest::Index { index, .. } => {
                let mut seen = HashSet::from([digest.clone()]);
                self.walk(index.manifests(), None, 1, &mut seen, &mut entries)
                    .await?;
                true
            }
            Manifest::Image { manifest, .. } => {
                // A single-platform image is an index of one; its platform is its config's.
                let config = self.config(manifest.config()).await?;
                entries.push(IndexEntry {
                    digest: digest.clone(),
                    media_type: media_type.clone(),
                    size: bytes.len() as i64,
                    platform: Some(config_platform(&config)),
                    kind: IndexEntryKind::Image,
                    nested_in: None,
                });
                false
            }
        };
        Ok(ResolvedImage {
            reference,
            digest,
            media_type,
            is_index,
            entries,
        })
    }

    async fn walk(
        &self,
        manifests: &[Descriptor],
        parent: Option<&str>,
        depth: usize,
        seen: &mut HashSet<String>,
        out: &mut Vec<IndexEntry>,
    ) -> Result<(), ImageError> {
        if manifests.len() > MAX_INDEX_ENTRIES {
            return Err(ImageError::Malformed {
                what: format!("index of {}", self.name()),
                detail: format!("{} entries (at most {MAX_INDEX_ENTRIES})", manifests.len()),
            });
        }
        for desc in manifests {
            let media_type = desc.media_type().to_string();
            let digest = desc.digest().to_string();
            if media_type == manifest::OCI_INDEX || media_type == manifest::DOCKER_LIST {
                if depth >= MAX_INDEX_DEPTH {
                    return Err(ImageError::Malformed {
                        what: format!("index of {}", self.name()),
                        detail: format!("indexes nest deeper than {MAX_INDEX_DEPTH} levels"),
                    });
                }
                if !seen.insert(digest.clone()) {
                    return Err(ImageError::Malformed {
                        what: format!("index of {}", self.name()),
                        detail: format!("index {digest} contains itself"),
                    });
                }
                let bytes = self.manifest(&digest).await?;
                match parse_manifest(&bytes).map_err(|e| self.malformed(&digest, e))? {
                    Manifest::Index { index, .. } => {
                        Box::pin(self.walk(index.manifests(), Some(&digest), depth + 1, seen, out))
                            .await?;
                    }
                    Manifest::Image { .. } => {
                        return Err(ImageError::Malformed {
                            what: format!("entry {digest}"),
                            detail: "declared as an index but is an image manifest".into(),
                        });
                    }
                }
                continue;
            }
            let platform = desc.platform().as_ref().map(|p| {
                Platform::new(
                    &p.os().to_string(),
                    &p.architecture().to_string(),
                    p.variant().as_deref(),
                )
            });
            let kind = if media_type != manifest::OCI_MANIFEST
                && media_type != manifest::DOCKER_MANIFEST
            {
                IndexEntryKind::Ignored
            } else if is_attestation(desc) || platform.as_ref().is_some_and(Platform::is_unknown) {
                IndexEntryKind::Attestation
            } else if platform.is_none() {
                IndexEntryKind::NoPlatform
            } else {
                IndexEntryKind::Image
            };
            out.push(IndexEntry {
                digest,
                media_type,
                size: desc.size() as i64,
                platform,
                kind,
                nested_in: parent.map(str::to_owned),
            });
        }
        Ok(())
    }

    /// Fetch a child manifest and its config.
    async fn platform_image(&self, entry: &IndexEntry) -> Result<PlatformImage, ImageError> {
        Ok(self.platform_contents(entry).await?.image)
    }

    /// A child image with its full config and layer descriptors (bottom layer first).
    async fn platform_contents(&self, entry: &IndexEntry) -> Result<PlatformContents, ImageError> {
        let digest = entry.digest.clone();
        let bytes = self.manifest(&digest).await?;
        let manifest = match parse_manifest(&bytes).map_err(|e| self.malformed(&digest, e))? {
            Manifest::Image { manifest, .. } => manifest,
            Manifest::Index { .. } => {
                return Err(ImageError::Malformed {
                    what: format!("entry {digest}"),
                    detail: "declared as an image manifest but is an index".into(),
                });
            }
        };
        let config = self.config(manifest.config()).await?;
        let pull_reference = match self {
            Docs::Registry(r) => format!(
                "{}/{}@{}",
                r.reference.resolve_registry(),
                r.reference.repository(),
                entry.digest
            ),
            // Nothing to pull: the runner loads the image from the layout.
            Docs::Layout(l) => format!("{}@{}", l.name(), entry.digest),
        };
        let image = PlatformImage {
            pull_reference,
            manifest_digest: entry.digest.clone(),
            config_digest: manifest.config().digest().to_string(),
            config_platform: config_platform(&config),
        };
        Ok(PlatformContents {
            image,
            config,
            config_size: manifest.config().size(),
            layers: manifest.layers().clone(),
        })
    }
}

fn config_platform(config: &ImageConfiguration) -> Platform {
    Platform::new(
        &config.os().to_string(),
        &config.architecture().to_string(),
        config.variant().as_deref(),
    )
}
