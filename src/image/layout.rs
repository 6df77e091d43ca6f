//! OCI image layouts on disk: `oci-layout:DIR[:TAG]` and `oci-archive:FILE[:TAG]`, exactly as
//! `docker buildx build --output type=oci[,tar=false]` writes them.
//!
//! This module owns reading a layout: choosing the top-level descriptor from `index.json` (by its
//! `org.opencontainers.image.ref.name`, or the single entry), reading blobs by digest (every one
//! verified against its digest, since nothing else guarantees a directory's integrity), and
//! converting one platform's image into the legacy `docker load` archive (`manifest.json` +
//! config + layers), the only format Docker 20.10's classic image store loads, streamed from the
//! blob files as the engine reads it. Archives are read in place: their members are found by
//! offset, never unpacked.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use oci_spec::image::{Descriptor, ImageIndex};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::ImageError;
use super::manifest::{Manifest, parse_manifest, sha256_digest, sha256_text, verify_digest};

/// The annotation that names an entry of `index.json` (buildx sets it to the tag).
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// Manifests and configs larger than this are refused before reading.
const MAX_DOCUMENT_BYTES: u64 = 8 << 20;

/// An OCI layout opened for reading.
pub struct Layout {
    /// What the user wrote, for messages (`oci-archive:/x.tar:tag`).
    name: String,
    store: Store,
    tag: Option<String>,
}

/// Where a layout's files are: a directory, or the members of an (uncompressed) tar, read in
/// place by offset so that an archive is never copied.
enum Store {
    Dir(PathBuf),
    Tar {
        file: PathBuf,
        /// Member path (`blobs/sha256/<hex>`, `index.json`) -> (data offset, size).
        members: HashMap<String, (u64, u64)>,
    },
}

impl Store {
    /// The file at `rel` (a `/`-separated path inside the layout) and its size.
    fn open(&self, rel: &str) -> std::io::Result<(Box<dyn Read + Send>, u64)> {
        match self {
            Store::Dir(root) => {
                let file = std::fs::File::open(root.join(rel))?;
                let size = file.metadata()?.len();
                Ok((Box::new(file), size))
            }
            Store::Tar { file, members } => {
                let &(offset, size) = members.get(rel).ok_or_else(|| {
                    std::io::Error::new(std::io::ErrorKind::NotFound, "not in the archive")
                })?;
                let mut file = std::fs::File::open(file)?;
                file.seek(SeekFrom::Start(offset))?;
                Ok((Box::new(file.take(size)), size))
            }
        }
    }

    /// A document (`index.json`, a manifest, a config): refused when larger than any document
    /// may be, and read under that bound even if the file grows while it is read.
    fn read(&self, rel: &str) -> std::io::Result<Vec<u8>> {
        let (reader, size) = self.open(rel)?;
        let too_large = || {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "{size} bytes, more than the {} MiB a document may have",
                    MAX_DOCUMENT_BYTES >> 20
                ),
            )
        };
        if size > MAX_DOCUMENT_BYTES {
            return Err(too_large());
        }
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0).min(1 << 20));
        reader
            .take(MAX_DOCUMENT_BYTES + 1)
            .read_to_end(&mut bytes)?;
        if bytes.len() as u64 > MAX_DOCUMENT_BYTES {
            return Err(too_large());
        }
        Ok(bytes)
    }

    fn has(&self, rel: &str) -> bool {
        match self {
            Store::Dir(root) => root.join(rel).is_file(),
            Store::Tar { members, .. } => members.contains_key(rel),
        }
    }
}

impl Layout {
    /// A layout directory read in place.
    pub fn directory(name: &str, dir: &Path, tag: Option<String>) -> Result<Layout, ImageError> {
        let store = Store::Dir(dir.to_owned());
        if !store.has("oci-layout") {
            return Err(not_a_layout(name, dir));
        }
        Ok(Layout {
            name: name.to_owned(),
            store,
            tag,
        })
    }

    /// A tar of a layout, read in place: one pass over its headers (seeking past the data)
    /// finds where each member's bytes are.
    pub fn archive(name: &str, file: &Path, tag: Option<String>) -> Result<Layout, ImageError> {
        let unreadable = |detail: String| ImageError::Malformed {
            what: name.to_owned(),
            detail,
        };
        let opened = std::fs::File::open(file).map_err(|e| ImageError::Layout {
            what: name.to_owned(),
            detail: format!("{}: {e}", file.display()),
        })?;
        let mut archive = tar::Archive::new(opened);
        let mut members = HashMap::new();
        let entries = archive
            .entries_with_seek()
            .map_err(|e| unreadable(format!("not a readable tar archive: {e}")))?;
        for entry in entries {
            let entry =
                entry.map_err(|e| unreadable(format!("not a readable tar archive: {e}")))?;
            let path = entry
                .path()
                .map_err(|e| unreadable(format!("a member with an unreadable name: {e}")))?;
            let Some(rel) = member_path(&path) else {
                continue;
            };
            match entry.header().entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    members.insert(rel, (entry.raw_file_position(), entry.size()));
                }
                tar::EntryType::Directory => {}
                other => {
                    return Err(unreadable(format!(
                        "member `{rel}` is a {other:?} entry, which archsmoke does not follow; \
                         unpack the archive and use `oci-layout:DIR`"
                    )));
                }
            }
        }
        let store = Store::Tar {
            file: file.to_owned(),
            members,
        };
        if !store.has("oci-layout") {
            return Err(not_a_layout(name, file));
        }
        Ok(Layout {
            name: name.to_owned(),
            store,
            tag,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The descriptor `index.json` names for this layout's tag (or its single entry).
    pub fn top_descriptor(&self) -> Result<Descriptor, ImageError> {
        let bytes = self
            .store
            .read("index.json")
            .map_err(|e| ImageError::Malformed {
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
        // Manifests and configs: small, and read from a local file.
        let bytes = self
            .store
            .read(&self.blob_path(digest)?)
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

    /// A blob by digest as a reader that hashes what it reads: the read that reaches the end
    /// fails when the bytes do not match the digest. The size is checked on opening.
    pub fn blob_reader(&self, digest: &str, size: Option<u64>) -> Result<BlobReader, ImageError> {
        let (file, actual) =
            self.store
                .open(&self.blob_path(digest)?)
                .map_err(|e| ImageError::Layout {
                    what: self.name.clone(),
                    detail: format!("blob {digest}: {e}"),
                })?;
        if let Some(size) = size
            && actual != size
        {
            return Err(ImageError::DigestMismatch {
                what: format!("blob {digest} of {}", self.name),
                expected: format!("{digest} ({size} bytes)"),
                actual: format!("a file of {actual} bytes"),
            });
        }
        Ok(BlobReader {
            file,
            hasher: Some(Sha256::new()),
            digest: digest.to_owned(),
            what: format!("blob {digest} of {}", self.name),
            actual: None,
        })
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

    fn blob_path(&self, digest: &str) -> Result<String, ImageError> {
        // The digest names a file: only a well-formed one may, so `../` cannot escape the layout.
        match digest.split_once(':') {
            Some(("sha256", hex))
                if hex.len() == 64
                    && hex
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) =>
            {
                Ok(format!("blobs/sha256/{hex}"))
            }
            _ => Err(ImageError::Malformed {
                what: self.name.clone(),
                detail: format!("`{digest}` is not a sha256 digest"),
            }),
        }
    }

    /// The image manifest at `digest` as a `docker load` archive tagged `tag`, produced while
    /// it is read: layers are copied as stored (gzip, zstd or plain tar, which `docker load`
    /// accepts) from their files in 256 KiB chunks, so memory stays flat whatever the image's
    /// size. Manifest, config and layer sizes are checked before the first byte goes out; each
    /// layer's digest is checked as it streams, and a mismatch ends the stream with an error.
    pub async fn docker_archive(
        &self,
        digest: &str,
        tag: &str,
    ) -> Result<DockerArchive, ImageError> {
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
        let mut layers = Vec::new();
        for layer in manifest.layers() {
            let digest = layer.digest().to_string();
            layers.push(ArchiveLayer {
                name: format!("{}/layer.tar", hex_of(&digest)),
                reader: self.blob_reader(&digest, Some(layer.size()))?,
                size: layer.size(),
            });
        }
        let index = serde_json::to_vec(&json!([{
            "Config": config_name,
            "RepoTags": [tag],
            "Layers": layers.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(),
        }]))
        .map_err(|e| ImageError::Malformed {
            what: self.name.clone(),
            detail: e.to_string(),
        })?;
        let (tx, rx) = tokio::sync::mpsc::channel(ARCHIVE_CHUNKS_IN_FLIGHT);
        let writer = tokio::task::spawn_blocking(move || {
            let mut out = tar::Builder::new(ChunkWriter::new(tx));
            let result = write_archive(&mut out, (&config_name, &config), layers, &index);
            let sink = out.into_inner();
            match (result, sink) {
                (Ok(()), Ok(mut sink)) => sink.flush_chunk().map_err(|_| ArchiveError::Closed),
                (Ok(()), Err(_)) => Err(ArchiveError::Closed),
                (Err(e), Ok(mut sink)) => {
                    // The engine must not take a truncated archive for a whole one.
                    sink.fail(&e);
                    Err(e)
                }
                (Err(e), Err(_)) => Err(e),
            }
        });
        Ok(DockerArchive {
            chunks: rx,
            writer: ArchiveWriter(writer),
        })
    }
}

/// How many 256 KiB chunks may wait for the engine: 1 MiB of memory at most.
const ARCHIVE_CHUNKS_IN_FLIGHT: usize = 4;
const ARCHIVE_CHUNK: usize = 256 << 10;

/// A `docker load` archive on its way to the engine: `chunks` is the body, `writer` says
/// whether everything in it was read and verified.
pub struct DockerArchive {
    pub chunks: tokio::sync::mpsc::Receiver<std::io::Result<bytes::Bytes>>,
    pub writer: ArchiveWriter,
}

/// The thread that reads the layout into a [`DockerArchive`]'s chunks.
pub struct ArchiveWriter(tokio::task::JoinHandle<Result<(), ArchiveError>>);

impl ArchiveWriter {
    /// `Ok` when the whole archive was produced; `Err(None)` when the consumer stopped reading
    /// first (its own error says why); `Err(Some(e))` when the layout itself was at fault.
    pub async fn finish(self) -> Result<(), Option<ImageError>> {
        match self.0.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(ArchiveError::Closed)) => Err(None),
            Ok(Err(ArchiveError::Image(e))) => Err(Some(e)),
            Err(e) => Err(Some(ImageError::Malformed {
                what: "the docker-load archive".into(),
                detail: format!("its writer stopped: {e}"),
            })),
        }
    }
}

struct ArchiveLayer {
    name: String,
    reader: BlobReader,
    size: u64,
}

#[derive(Debug)]
enum ArchiveError {
    /// The receiving end went away: the engine stopped reading.
    Closed,
    Image(ImageError),
}

fn write_archive(
    out: &mut tar::Builder<ChunkWriter>,
    config: (&str, &[u8]),
    layers: Vec<ArchiveLayer>,
    index: &[u8],
) -> Result<(), ArchiveError> {
    let header = |size: u64| {
        let mut header = tar::Header::new_gnu();
        header.set_size(size);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mtime(0);
        header
    };
    let closed = |_| ArchiveError::Closed;
    out.append_data(&mut header(config.1.len() as u64), config.0, config.1)
        .map_err(closed)?;
    for mut layer in layers {
        // tar copies to the end of the file, so the digest is checked before the entry ends.
        if let Err(e) = out.append_data(&mut header(layer.size), &layer.name, &mut layer.reader) {
            return Err(match layer.reader.mismatch() {
                Some(mismatch) => ArchiveError::Image(mismatch),
                None if out.get_ref().is_closed() => ArchiveError::Closed,
                None => ArchiveError::Image(ImageError::Layout {
                    what: layer.reader.what.clone(),
                    detail: e.to_string(),
                }),
            });
        }
    }
    out.append_data(&mut header(index.len() as u64), "manifest.json", index)
        .map_err(closed)?;
    out.finish().map_err(closed)
}

/// A layout blob being read: hashed as it goes, compared with its digest at the end.
pub struct BlobReader {
    file: Box<dyn Read + Send>,
    /// Taken when the end is reached.
    hasher: Option<Sha256>,
    digest: String,
    what: String,
    /// The digest the bytes had, when it was not the expected one.
    actual: Option<String>,
}

impl BlobReader {
    /// Why the blob was refused, once its end has been read.
    pub fn mismatch(&self) -> Option<ImageError> {
        self.actual
            .as_ref()
            .map(|actual| ImageError::DigestMismatch {
                what: self.what.clone(),
                expected: self.digest.clone(),
                actual: actual.clone(),
            })
    }
}

impl Read for BlobReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read(buf)?;
        if n > 0 {
            if let Some(hasher) = &mut self.hasher {
                hasher.update(&buf[..n]);
            }
        } else if let Some(hasher) = self.hasher.take() {
            let actual = sha256_text(&hasher.finalize());
            if actual != self.digest {
                self.actual = Some(actual);
            }
        }
        match self.mismatch() {
            Some(e) => Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                e.to_string(),
            )),
            None => Ok(n),
        }
    }
}

/// A `Write` that hands 256 KiB chunks to an async receiver, waiting while it is full.
struct ChunkWriter {
    tx: tokio::sync::mpsc::Sender<std::io::Result<bytes::Bytes>>,
    chunk: Vec<u8>,
}

impl ChunkWriter {
    fn new(tx: tokio::sync::mpsc::Sender<std::io::Result<bytes::Bytes>>) -> Self {
        Self {
            tx,
            chunk: Vec::with_capacity(ARCHIVE_CHUNK),
        }
    }

    fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    fn flush_chunk(&mut self) -> std::io::Result<()> {
        if self.chunk.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.chunk, Vec::with_capacity(ARCHIVE_CHUNK));
        self.tx
            .blocking_send(Ok(bytes::Bytes::from(chunk)))
            .map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the engine stopped reading")
            })
    }

    /// Ends the body with an error, so the request fails instead of loading a partial archive.
    fn fail(&mut self, e: &ArchiveError) {
        let text = match e {
            ArchiveError::Closed => "the engine stopped reading".to_owned(),
            ArchiveError::Image(e) => e.to_string(),
        };
        let _ = self.tx.blocking_send(Err(std::io::Error::other(text)));
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let room = ARCHIVE_CHUNK - self.chunk.len();
        let n = buf.len().min(room);
        self.chunk.extend_from_slice(&buf[..n]);
        if self.chunk.len() == ARCHIVE_CHUNK {
            self.flush_chunk()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        // Chunks go out when full or at the end: a tar header flush must not send tiny ones.
        Ok(())
    }
}

/// A tar member's path inside the layout (`./blobs/x` -> `blobs/x`); `None` for paths that
/// leave it.
pub(super) fn member_path(path: &Path) -> Option<String> {
    let mut parts = Vec::new();
    for c in path.components() {
        match c {
            std::path::Component::Normal(p) => parts.push(p.to_str()?.to_owned()),
            std::path::Component::CurDir => {}
            _ => return None,
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
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
