//! OCI image layouts on disk: `oci-layout:DIR[:TAG]` and `oci-archive:FILE[:TAG]`, exactly as
//! `docker buildx build --output type=oci[,tar=false]` writes them.
//!
//! This module owns reading a layout: choosing the top-level descriptor from `index.json` (by its
//! `org.opencontainers.image.ref.name`, or the single entry), reading blobs by digest (every one
//! verified against its digest, since nothing else guarantees a directory's integrity), and
//! converting one platform's image into the legacy `docker load` archive (`manifest.json` +
//! config + layers), the only format Docker 20.10's classic image store loads. Archives are
//! unpacked once into a temporary directory that lives as long as the [`Layout`].

use std::path::{Path, PathBuf};

use oci_spec::image::{Descriptor, ImageIndex};
use serde_json::json;

use super::ImageError;
use super::manifest::{Manifest, parse_manifest, sha256_digest, verify_digest};

/// The annotation that names an entry of `index.json` (buildx sets it to the tag).
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// Manifests and configs larger than this are refused before reading.
const MAX_DOCUMENT_BYTES: u64 = 8 << 20;

/// An OCI layout opened for reading.
pub struct Layout {
    /// What the user wrote, for messages (`oci-archive:/x.tar:tag`).
    name: String,
    root: PathBuf,
    tag: Option<String>,
    /// Keeps an unpacked archive alive; removed on drop.
    _unpacked: Option<tempfile::TempDir>,
}

impl Layout {
    /// A layout directory read in place.
    pub fn directory(name: &str, dir: &Path, tag: Option<String>) -> Result<Layout, ImageError> {
        if !dir.join("oci-layout").is_file() {
            return Err(not_a_layout(name, dir));
        }
        Ok(Layout {
            name: name.to_owned(),
            root: dir.to_owned(),
            tag,
            _unpacked: None,
        })
    }

    /// A tar of a layout, unpacked to a temporary directory (tar's unpacking refuses paths that
    /// would escape it).
    pub fn archive(name: &str, file: &Path, tag: Option<String>) -> Result<Layout, ImageError> {
        let opened = std::fs::File::open(file).map_err(|e| ImageError::Layout {
            what: name.to_owned(),
            detail: format!("{}: {e}", file.display()),
        })?;
        let dir = tempfile::Builder::new()
            .prefix("archsmoke-oci-")
            .tempdir()
            .map_err(|e| ImageError::Malformed {
                what: name.to_owned(),
                detail: format!("cannot create a temporary directory to unpack it: {e}"),
            })?;
        tar::Archive::new(std::io::BufReader::new(opened))
            .unpack(dir.path())
            .map_err(|e| ImageError::Malformed {
                what: name.to_owned(),
                detail: format!("not a readable tar archive: {e}"),
            })?;
        if !dir.path().join("oci-layout").is_file() {
            return Err(not_a_layout(name, file));
        }
        Ok(Layout {
            name: name.to_owned(),
            root: dir.path().to_owned(),
            tag,
            _unpacked: Some(dir),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The descriptor `index.json` names for this layout's tag (or its single entry).
    pub fn top_descriptor(&self) -> Result<Descriptor, ImageError> {
        let path = self.root.join("index.json");
        let bytes = std::fs::read(&path).map_err(|e| ImageError::Malformed {
            what: format!("{} (index.json)", self.name),
            detail: e.to_string(),
        })?;
        let index: ImageIndex =
            serde_json::from_slice(&bytes).map_err(|e| ImageError::Malformed {
                what: format!("{} (index.json)", self.name),
                detail: e.to_string(),
            })?;
        let name_of = |d: &Descriptor| {
            d.annotations()
                .as_ref()
                .and_then(|a| a.get(REF_NAME))
                .cloned()
        };
        let names: Vec<String> = index
            .manifests()
            .iter()
            .map(|d| name_of(d).unwrap_or_else(|| format!("(unnamed {})", d.digest())))
            .collect();
        match &self.tag {
            Some(tag) => index
                .manifests()
                .iter()
                .find(|d| name_of(d).as_deref() == Some(tag))
                .cloned()
                .ok_or_else(|| ImageError::Layout {
                    what: self.name.clone(),
                    detail: format!(
                        "no entry named `{tag}` in index.json (it has: {})",
                        names.join(", ")
                    ),
                }),
            None => match index.manifests().as_slice() {
                [one] => Ok(one.clone()),
                [] => Err(ImageError::Layout {
                    what: self.name.clone(),
                    detail: "index.json has no entries".into(),
                }),
                _ => Err(ImageError::BadReference {
                    reference: self.name.clone(),
                    detail: format!(
                        "the layout holds {} images ({}); add `:TAG` to choose one",
                        names.len(),
                        names.join(", ")
                    ),
                }),
            },
        }
    }

    /// A blob by digest, verified against it (and its size when the descriptor gives one).
    pub async fn blob(&self, digest: &str, size: Option<u64>) -> Result<Vec<u8>, ImageError> {
        let path = self.blob_path(digest)?;
        let bytes = tokio::fs::read(&path)
            .await
            .map_err(|e| ImageError::Layout {
                what: self.name.clone(),
                detail: format!("blob {digest}: {e}"),
            })?;
        if let Some(size) = size
            && bytes.len() as u64 != size
        {
            return Err(ImageError::DigestMismatch {
                what: format!("blob {digest} of {}", self.name),
                expected: format!("{digest} ({size} bytes)"),
                actual: format!("{} ({} bytes)", sha256_digest(&bytes), bytes.len()),
            });
        }
        verify_digest(&bytes, digest).map_err(|actual| ImageError::DigestMismatch {
            what: format!("blob {digest} of {}", self.name),
            expected: digest.to_owned(),
            actual,
        })?;
        Ok(bytes)
    }

    /// A manifest or config blob: bounded in size before it is read.
    pub async fn document(&self, desc: &Descriptor) -> Result<Vec<u8>, ImageError> {
        let digest = desc.digest().to_string();
        if desc.size() > MAX_DOCUMENT_BYTES {
            return Err(ImageError::Malformed {
                what: format!("{digest} of {}", self.name),
                detail: format!(
                    "declared size {} bytes is too large for a document",
                    desc.size()
                ),
            });
        }
        self.blob(&digest, Some(desc.size())).await
    }

    fn blob_path(&self, digest: &str) -> Result<PathBuf, ImageError> {
        // The digest names a file: only a well-formed one may, so `../` cannot escape the layout.
        match digest.split_once(':') {
            Some(("sha256", hex))
                if hex.len() == 64
                    && hex
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) =>
            {
                Ok(self.root.join("blobs").join("sha256").join(hex))
            }
            _ => Err(ImageError::Malformed {
                what: self.name.clone(),
                detail: format!("`{digest}` is not a sha256 digest"),
            }),
        }
    }

    /// The image manifest at `digest` as a `docker load` archive tagged `tag`. Layers are copied
    /// as stored (gzip or plain tar, both of which `docker load` accepts), each verified.
    pub async fn docker_archive(&self, digest: &str, tag: &str) -> Result<Vec<u8>, ImageError> {
        let bytes = self.blob(digest, None).await?;
        let manifest = match parse_manifest(&bytes).map_err(|e| ImageError::Malformed {
            what: format!("{digest} of {}", self.name),
            detail: e.to_string(),
        })? {
            Manifest::Image { manifest, .. } => manifest,
            Manifest::Index { .. } => {
                return Err(ImageError::Malformed {
                    what: format!("entry {digest}"),
                    detail: "declared as an image manifest but is an index".into(),
                });
            }
        };
        let config = self.document(manifest.config()).await?;
        let config_name = format!("{}.json", hex_of(manifest.config().digest().as_ref()));
        let mut files = vec![(config_name.clone(), config)];
        let mut layer_names = Vec::new();
        for layer in manifest.layers() {
            let digest = layer.digest().to_string();
            let data = self.blob(&digest, Some(layer.size())).await?;
            let name = format!("{}/layer.tar", hex_of(&digest));
            layer_names.push(name.clone());
            files.push((name, data));
        }
        let index = serde_json::to_vec(&json!([{
            "Config": config_name,
            "RepoTags": [tag],
            "Layers": layer_names,
        }]))
        .map_err(|e| ImageError::Malformed {
            what: self.name.clone(),
            detail: e.to_string(),
        })?;
        files.push(("manifest.json".into(), index));
        let written = (|| {
            let mut b = tar::Builder::new(Vec::new());
            for (path, data) in &files {
                let mut header = tar::Header::new_gnu();
                header.set_size(data.len() as u64);
                header.set_mode(0o644);
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mtime(0);
                b.append_data(&mut header, path, data.as_slice())?;
            }
            b.into_inner()
        })();
        written.map_err(|e| ImageError::Malformed {
            what: self.name.clone(),
            detail: format!("cannot write the docker-load archive: {e}"),
        })
    }
}

fn hex_of(digest: &str) -> &str {
    digest.split_once(':').map_or(digest, |(_, hex)| hex)
}

fn not_a_layout(name: &str, path: &Path) -> ImageError {
    ImageError::Layout {
        what: name.to_owned(),
        detail: format!(
            "{} is not an OCI layout (no `oci-layout` file)",
            path.display()
        ),
    }
}
