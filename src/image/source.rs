//! Image sources: where the image under test comes from, chosen by the prefix of what the user
//! wrote.
//!
//! | text | source |
//! |---|---|
//! | `registry:5000/repo:tag`, `name@sha256:…` | a registry (the default) |
//! | `oci-layout:DIR[:TAG]` | an OCI layout directory, read in place |
//! | `oci-archive:FILE[:TAG]` | a tar of an OCI layout, read in place by member offsets |
//! | `docker-daemon:NAME` | an image already in the engine (one platform, run by its ID) |
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
    Docs, EntryKind, ImageError, IndexEntry, PlatformImage, RegistryImage, ResolvedImage,
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
    Layout { dir: PathBuf, tag: Option<String> },
    Archive { file: PathBuf, tag: Option<String> },
    Daemon(String),
}

impl SourceSpec {
    /// Parse `text`; a malformed reference is a usage error (exit 2).
    pub fn parse(text: &str) -> Result<SourceSpec, ImageError> {
        let text = text.trim();
        let bad = |detail: &str| ImageError::BadReference {
            reference: text.to_owned(),
            detail: detail.to_owned(),
        };
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
        }
    }
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
        }
    }

    /// The source as reports show it.
    pub fn display(&self) -> String {
        match self {
            ImageSource::Registry(r) => r.reference().whole(),
            ImageSource::Layout(l) => l.layout.name().to_owned(),
            ImageSource::Daemon(name) => format!("{DOCKER_DAEMON}{name}"),
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
            _ => None,
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
                kind: EntryKind::Image,
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
        assert_eq!(
            SourceSpec::parse("127.0.0.1:5000/a/b:c").expect("registry"),
            SourceSpec::Registry("127.0.0.1:5000/a/b:c".into())
        );
    }

    #[test]
    fn malformed_references_are_usage_errors() {
        for bad in [
            "oci-layout:",
            "oci-archive:",
            "docker-daemon:",
            "Not A/Reference::",
            "127.0.0.1:5000/UPPER:tag",
        ] {
            let e = SourceSpec::parse(bad).expect_err(bad);
            assert!(e.is_usage(), "{bad}: {e}");
        }
    }
}
