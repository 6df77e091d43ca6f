//! Image sources: where the image under test comes from, chosen by the prefix of what the user
//! wrote.
//!
//! | text | source |
//! |---|---|
//! | `registry:5000/repo:tag`, `name@sha256:…` | a registry (the default) |
//! | `oci-layout:DIR[:TAG]` | an OCI layout directory, read in place |
//! | `oci-archive:FILE[:TAG]` | a tar of an OCI layout, read in place by member offsets |
//! | `docker-daemon:NAME` | an image already in the engine (one platform, run by its ID) |
//! | `linux/amd64=REF,linux/arm64=REF` | per-platform registry images not yet assembled into a list |
//!
//! This module owns parsing that text and the [`ImageSource`] that resolve, inspect and the
//! runner's per-platform fetch all use. Layouts are turned into `docker load` archives by
//! [`super::layout`]; loading them and asking the engine about a daemon image belong to
//! [`crate::engine`].

use std::path::PathBuf;
use std::sync::Mutex;

use super::layout::Layout;
use super::registry::Credentials;
use super::{
    Docs, ImageError, IndexEntry, IndexEntryKind, PlatformImage, RegistryImage, ResolvedImage,
    parse_reference,
};
use crate::platform::Platform;

pub const OCI_LAYOUT: &str = "oci-layout:";
pub const OCI_ARCHIVE: &str = "oci-archive:";
pub const DOCKER_DAEMON: &str = "docker-daemon:";

/// What the user asked for, parsed but not opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    Registry(String),
    Layout {
        dir: PathBuf,
        tag: Option<String>,
    },
    Archive {
        file: PathBuf,
        tag: Option<String>,
    },
    Daemon(String),
    /// One registry image per platform (`--image linux/arm64=REF`, repeated): what each native
    /// CI runner pushed, tested before `docker buildx imagetools create` assembles the list.
    Set(Vec<(Platform, String)>),
}

impl SourceSpec {
    /// Parse `text`; a malformed reference is a usage error (exit 2).
    pub fn parse(text: &str) -> Result<SourceSpec, ImageError> {
        let text = text.trim();
        let bad = |detail: &str| ImageError::BadReference {
            reference: text.to_owned(),
            detail: detail.to_owned(),
        };
        // No reference has `=` (tags and digests cannot), so one marks per-platform images.
        if text.contains('=') {
            let mut members: Vec<(Platform, String)> = Vec::new();
            for item in text.split(',') {
                let (platform, reference) = item.split_once('=').ok_or_else(|| {
                    bad("write each per-platform image as PLATFORM=REF, e.g. linux/arm64=app:sha-arm64")
                })?;
                let platform = Platform::parse(platform.trim()).map_err(|e| {
                    bad(&format!(
                        "`{}` before `=` is not a platform: {e}",
                        platform.trim()
                    ))
                })?;
                let reference = reference.trim();
                if reference.contains(':')
                    && [OCI_LAYOUT, OCI_ARCHIVE, DOCKER_DAEMON]
                        .iter()
                        .any(|p| reference.starts_with(p))
                {
                    return Err(bad(
                        "per-platform images are registry references: push each platform's \
                         image (as native CI runners do) and name it here",
                    ));
                }
                parse_reference(reference)?;
                if members.iter().any(|(p, _)| *p == platform) {
                    return Err(bad(&format!("{platform} is given twice")));
                }
                members.push((platform, reference.to_owned()));
            }
            return Ok(SourceSpec::Set(members));
        }
        if let Some(rest) = text.strip_prefix(OCI_LAYOUT) {
            let (dir, tag) =
                split_tag(rest).ok_or_else(|| bad("no directory after `oci-layout:`"))?;
            Ok(SourceSpec::Layout { dir, tag })
        } else if let Some(rest) = text.strip_prefix(OCI_ARCHIVE) {
            let (file, tag) = split_tag(rest).ok_or_else(|| bad("no file after `oci-archive:`"))?;
            Ok(SourceSpec::Archive { file, tag })
        } else if let Some(name) = text.strip_prefix(DOCKER_DAEMON) {
            if name.is_empty() || name.chars().any(char::is_whitespace) {
                return Err(bad("`docker-daemon:` needs an image name or ID"));
            }
            // The name goes into the engine API's path: only Docker's reference grammar (which
            // also covers IDs, `sha256:HEX` and hex prefixes) may, never `..`, `?` or `%`.
            if parse_reference(name).is_err() {
                return Err(bad(
                    "`docker-daemon:` needs an image name (such as busybox:latest) or an image ID",
                ));
            }
            Ok(SourceSpec::Daemon(name.to_owned()))
        } else {
            parse_reference(text)?;
            Ok(SourceSpec::Registry(text.to_owned()))
        }
    }
}

impl SourceSpec {
    /// The source as reports show it: a registry reference in canonical form, anything else as
    /// written.
    pub fn display(&self) -> String {
        match self {
            SourceSpec::Registry(text) => {
                parse_reference(text).map_or_else(|_| text.clone(), |r| r.whole())
            }
            SourceSpec::Layout { dir, tag } => with_tag(OCI_LAYOUT, dir, tag.as_deref()),
            SourceSpec::Archive { file, tag } => with_tag(OCI_ARCHIVE, file, tag.as_deref()),
            SourceSpec::Daemon(name) => format!("{DOCKER_DAEMON}{name}"),
            SourceSpec::Set(members) => set_display(members.iter().map(|(p, r)| {
                (
                    p,
                    parse_reference(r).map_or_else(|_| r.clone(), |r| r.whole()),
                )
            })),
        }
    }
}

/// `linux/amd64=REF,linux/arm64=REF`: the form `--image` takes, so a report can be rerun.
fn set_display<'a>(members: impl Iterator<Item = (&'a Platform, String)>) -> String {
    members
        .map(|(p, r)| format!("{p}={r}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn with_tag(prefix: &str, path: &std::path::Path, tag: Option<&str>) -> String {
    match tag {
        Some(t) => format!("{prefix}{}:{t}", path.display()),
        None => format!("{prefix}{}", path.display()),
    }
}

/// `DIR[:TAG]`: the tag is what follows the last `:` when that looks like a tag, so paths with
/// colons still work as long as they are not followed by a tag-shaped suffix.
fn split_tag(rest: &str) -> Option<(PathBuf, Option<String>)> {
    if rest.is_empty() {
        return None;
    }
    if let Some((path, tag)) = rest.rsplit_once(':')
        && !path.is_empty()
        && !tag.is_empty()
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    {
        return Some((PathBuf::from(path), Some(tag.to_owned())));
    }
    Some((PathBuf::from(rest), None))
}

/// An image layout plus the engine tags the run loaded from it, so they can be removed.
pub struct LayoutImage {
    pub layout: Layout,
    loaded: Mutex<Vec<String>>,
}

impl LayoutImage {
    pub fn record_loaded(&self, tag: &str) {
        if let Ok(mut l) = self.loaded.lock() {
            l.push(tag.to_owned());
        }
    }

    /// The tags loaded so far, forgotten here: the caller removes them.
    pub fn take_loaded(&self) -> Vec<String> {
        self.loaded
            .lock()
            .map(|mut l| std::mem::take(&mut *l))
            .unwrap_or_default()
    }
}

/// An opened image source.
pub enum ImageSource {
    Registry(RegistryImage),
    Layout(LayoutImage),
    /// An image in the engine, by name or ID.
    Daemon(String),
    /// One registry image per platform.
    Set(ImageSet),
}

/// Per-platform registry images, read as if they were one list: each member gives the entry of
/// its platform, and every later read (a manifest, a config, a layer) goes to the member that
/// owns the digest.
pub struct ImageSet {
    members: Vec<(Platform, RegistryImage)>,
    /// Which member owns a digest (entries, then the layers their manifests name).
    owners: Mutex<std::collections::HashMap<String, usize>>,
}

impl ImageSet {
    fn owner(&self, digest: &str) -> Result<&RegistryImage, ImageError> {
        let at = self
            .owners
            .lock()
            .ok()
            .and_then(|o| o.get(digest).copied())
            .unwrap_or(0);
        self.members
            .get(at)
            .map(|(_, r)| r)
            .ok_or_else(|| ImageError::Malformed {
                what: digest.to_owned(),
                detail: "no image of the set holds it".into(),
            })
    }

    fn own(&self, digest: &str, member: usize) {
        if let Ok(mut o) = self.owners.lock() {
            o.insert(digest.to_owned(), member);
        }
    }

    /// The entry each member gives its platform. A member that is one manifest is taken for
    /// the platform it was named for, whatever its config says, so that a mislabelled push is
    /// caught by the run like a mislabelled index entry; a member that is a list gives its
    /// entry for the platform, or nothing (the platform is then missing).
    async fn resolve(&self, display: String) -> Result<ResolvedImage, ImageError> {
        let resolved =
            futures_util::future::join_all(self.members.iter().map(|(_, r)| r.resolve())).await;
        let mut entries = Vec::new();
        for (i, ((platform, _), r)) in self.members.iter().zip(resolved).enumerate() {
            let r = r?;
            let images: Vec<&IndexEntry> = r
                .entries
                .iter()
                .filter(|e| e.kind == IndexEntryKind::Image)
                .collect();
            let entry = match images.as_slice() {
                [one] if !r.is_index => Some(IndexEntry {
                    platform: Some(platform.clone()),
                    ..(*one).clone()
                }),
                _ => images
                    .iter()
                    .find(|e| e.platform.as_ref() == Some(platform))
                    .map(|e| (*e).clone()),
            };
            if let Some(e) = entry {
                self.own(&e.digest, i);
                entries.push(e);
            }
        }
        Ok(ResolvedImage {
            reference: display,
            // A set has no list of its own yet, so no digest.
            digest: String::new(),
            media_type: "per-platform images".into(),
            is_index: true,
            entries,
        })
    }
}

impl ImageSource {
    /// Parse and open `text` (an archive's members are indexed here).
    pub fn open(text: &str) -> Result<ImageSource, ImageError> {
        let layout = |layout| {
            Ok(ImageSource::Layout(LayoutImage {
                layout,
                loaded: Mutex::new(Vec::new()),
            }))
        };
        match SourceSpec::parse(text)? {
            SourceSpec::Registry(r) => Ok(ImageSource::Registry(RegistryImage::new(
                parse_reference(&r)?,
            ))),
            SourceSpec::Layout { dir, tag } => layout(Layout::directory(text.trim(), &dir, tag)?),
            SourceSpec::Archive { file, tag } => layout(Layout::archive(text.trim(), &file, tag)?),
            SourceSpec::Daemon(name) => Ok(ImageSource::Daemon(name)),
            SourceSpec::Set(members) => Ok(ImageSource::Set(ImageSet {
                members: members
                    .into_iter()
                    .map(|(p, r)| Ok((p, RegistryImage::new(parse_reference(&r)?))))
                    .collect::<Result<_, ImageError>>()?,
                owners: Mutex::default(),
            })),
        }
    }

    /// The source as reports show it.
    pub fn display(&self) -> String {
        match self {
            ImageSource::Registry(r) => r.reference().whole(),
            ImageSource::Layout(l) => l.layout.name().to_owned(),
            ImageSource::Daemon(name) => format!("{DOCKER_DAEMON}{name}"),
            ImageSource::Set(set) => {
                set_display(set.members.iter().map(|(p, r)| (p, r.reference().whole())))
            }
        }
    }

    /// The name to ask the engine about, for a daemon image.
    pub fn daemon_name(&self) -> Option<&str> {
        match self {
            ImageSource::Daemon(name) => Some(name),
            _ => None,
        }
    }

    pub fn credentials(&self) -> Option<&Credentials> {
        match self {
            ImageSource::Registry(r) => r.credentials(),
            ImageSource::Set(set) => set.members.first().and_then(|(_, r)| r.credentials()),
            _ => None,
        }
    }

    /// Every registry credential the source may use, for the redactor.
    pub fn all_credentials(&self) -> Vec<&Credentials> {
        match self {
            ImageSource::Set(set) => set
                .members
                .iter()
                .filter_map(|(_, r)| r.credentials())
                .collect(),
            other => other.credentials().into_iter().collect(),
        }
    }

    /// The credentials the engine pulls `digest` with: its own registry's.
    pub fn credentials_for(&self, digest: &str) -> Option<&Credentials> {
        match self {
            ImageSource::Set(set) => set.owner(digest).ok().and_then(RegistryImage::credentials),
            other => other.credentials(),
        }
    }

    /// The index (or single manifest) and its entries. A daemon image is resolved from what the
    /// engine says about it ([`ResolvedImage::daemon`]), so here it is an error.
    pub async fn resolve(&self) -> Result<ResolvedImage, ImageError> {
        match self {
            ImageSource::Registry(r) => r.resolve().await,
            ImageSource::Layout(l) => {
                let top = l.layout.top_descriptor()?;
                let digest = top.digest().to_string();
                let bytes = l.layout.document(&top).await?;
                Docs::Layout(&l.layout)
                    .resolve_from(l.layout.name().to_owned(), bytes, digest)
                    .await
            }
            ImageSource::Daemon(name) => Err(ImageError::Malformed {
                what: format!("{DOCKER_DAEMON}{name}"),
                detail: "an engine image is described by the engine, not read as an index".into(),
            }),
            ImageSource::Set(set) => set.resolve(self.display()).await,
        }
    }

    /// The chosen entry's manifest, full config and layer descriptors, for the image checks.
    pub async fn platform_contents(
        &self,
        entry: &IndexEntry,
    ) -> Result<super::PlatformContents, ImageError> {
        match self {
            ImageSource::Registry(r) => r.platform_contents(entry).await,
            ImageSource::Layout(l) => Docs::Layout(&l.layout).platform_contents(entry).await,
            ImageSource::Daemon(name) => Err(ImageError::Layout {
                what: name.clone(),
                detail: "file, metadata and ELF checks read layers from a registry or an OCI \
                         layout; an engine image has neither (use `[audit] elf = \"off\"`)"
                    .into(),
            }),
            ImageSource::Set(set) => {
                let member = set.owner(&entry.digest)?;
                let contents = member.platform_contents(entry).await?;
                let at = set
                    .members
                    .iter()
                    .position(|(_, r)| std::ptr::eq(r, member))
                    .unwrap_or(0);
                for l in &contents.layers {
                    set.own(l.digest().as_ref(), at);
                }
                Ok(contents)
            }
        }
    }

    /// A layer blob as a stream, verified against its digest by the read that reaches its end.
    pub async fn layer(
        &self,
        digest: &str,
        size: i64,
    ) -> Result<Box<dyn std::io::Read + Send>, ImageError> {
        match self {
            ImageSource::Registry(r) => {
                let stream = r.blob_stream(digest, size).await?;
                // The bridge blocks on the runtime; the audit reads it inside `spawn_blocking`.
                Ok(Box::new(tokio_util::io::SyncIoBridge::new(stream)))
            }
            ImageSource::Layout(l) => Ok(Box::new(
                l.layout.blob_reader(digest, u64::try_from(size).ok())?,
            )),
            ImageSource::Daemon(name) => Err(ImageError::Layout {
                what: name.clone(),
                detail: "an engine image's layers cannot be read here".into(),
            }),
            ImageSource::Set(set) => {
                let stream = set.owner(digest)?.blob_stream(digest, size).await?;
                Ok(Box::new(tokio_util::io::SyncIoBridge::new(stream)))
            }
        }
    }

    /// The chosen entry's manifest and config.
    pub async fn platform_image(&self, entry: &IndexEntry) -> Result<PlatformImage, ImageError> {
        match self {
            ImageSource::Registry(r) => r.platform_image(entry).await,
            ImageSource::Layout(l) => Docs::Layout(&l.layout).platform_image(entry).await,
            // The engine's own inspection is the config; the runner checks it again after.
            ImageSource::Daemon(_) => Ok(PlatformImage {
                pull_reference: entry.digest.clone(),
                manifest_digest: entry.digest.clone(),
                config_digest: entry.digest.clone(),
                config_platform: entry
                    .platform
                    .clone()
                    .unwrap_or_else(|| Platform::new("linux", "unknown", None)),
            }),
            ImageSource::Set(set) => set.owner(&entry.digest)?.platform_image(entry).await,
        }
    }
}

impl ResolvedImage {
    /// An image already in the engine: one platform, identified by its image ID.
    pub fn daemon(name: &str, id: &str, platform: Platform) -> ResolvedImage {
        ResolvedImage {
            reference: format!("{DOCKER_DAEMON}{name}"),
            digest: id.to_owned(),
            media_type: "application/vnd.docker.container.image.v1+json".to_owned(),
            is_index: false,
            entries: vec![IndexEntry {
                digest: id.to_owned(),
                media_type: "application/vnd.docker.container.image.v1+json".to_owned(),
                size: 0,
                platform: Some(platform),
                kind: IndexEntryKind::Image,
                nested_in: None,
            }],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_choose_the_source() {
        assert_eq!(
            SourceSpec::parse("oci-layout:/tmp/out").expect("layout"),
            SourceSpec::Layout {
                dir: "/tmp/out".into(),
                tag: None
            }
        );
        assert_eq!(
            SourceSpec::parse("oci-archive:/tmp/a.tar:v1.2").expect("archive"),
            SourceSpec::Archive {
                file: "/tmp/a.tar".into(),
                tag: Some("v1.2".into())
            }
        );
        // A path component after the colon is not a tag.
        assert_eq!(
            SourceSpec::parse("oci-layout:/tmp/a:b/c").expect("layout"),
            SourceSpec::Layout {
                dir: "/tmp/a:b/c".into(),
                tag: None
            }
        );
        assert_eq!(
            SourceSpec::parse("docker-daemon:busybox:latest").expect("daemon"),
            SourceSpec::Daemon("busybox:latest".into())
        );
        let id = format!("sha256:{}", "ab12".repeat(16));
        for name in [id.as_str(), "4a1b2c3d4e5f", "127.0.0.1:5000/a/b@sha256:abc"] {
            let id_spec = SourceSpec::parse(&format!("docker-daemon:{name}"));
            if name.contains('@') {
                // A digest must be whole; a short one is no reference.
                assert!(id_spec.is_err(), "{name}");
            } else {
                assert_eq!(id_spec.expect("an ID"), SourceSpec::Daemon(name.into()));
            }
        }
        assert_eq!(
            SourceSpec::parse("127.0.0.1:5000/a/b:c").expect("registry"),
            SourceSpec::Registry("127.0.0.1:5000/a/b:c".into())
        );
    }

    #[test]
    fn per_platform_images_are_a_set_of_registry_references() {
        let set =
            SourceSpec::parse("linux/amd64=r:5000/a:sha-amd64,linux/arm64=r:5000/a:sha-arm64")
                .expect("a set");
        let SourceSpec::Set(members) = &set else {
            panic!("{set:?}");
        };
        assert_eq!(members.len(), 2);
        assert_eq!(members[1].0.to_string(), "linux/arm64");
        assert_eq!(
            set.display(),
            "linux/amd64=r:5000/a:sha-amd64,linux/arm64=r:5000/a:sha-arm64"
        );
        for bad in [
            "linux/amd64=r/a:1,linux/amd64=r/a:2",
            "nonsense=r/a:1",
            "linux/amd64=oci-archive:/x.tar",
            "linux/amd64=",
        ] {
            let e = SourceSpec::parse(bad).expect_err(bad);
            assert!(e.is_usage(), "{bad}: {e}");
        }
    }

    #[test]
    fn malformed_references_are_usage_errors() {
        for bad in [
            "oci-layout:",
            "oci-archive:",
            "docker-daemon:",
            "docker-daemon:../../containers/json?all",
            "docker-daemon:busybox%2Flatest",
            "Not A/Reference::",
            "127.0.0.1:5000/UPPER:tag",
        ] {
            let e = SourceSpec::parse(bad).expect_err(bad);
            assert!(e.is_usage(), "{bad}: {e}");
        }
    }
}
