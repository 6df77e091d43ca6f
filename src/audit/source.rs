//! Where the audit reads images from: an [`AuditSource`] gives a platform's manifest, config and
//! layer descriptors, and opens layer blobs by digest. Registries and OCI layouts or archives
//! ([`ImageSource`]) are sources; the layer reader itself never learns which.

use std::io::Read;

use futures_util::future::BoxFuture;

use crate::image::{ImageError, ImageSource, IndexEntry, PlatformContents, RegistryImage};

/// A layer blob as stored (gzip- or zstd-compressed, or plain tar), read on a blocking thread.
pub type LayerReader = Box<dyn Read + Send>;

/// Where layer blobs come from. The registry is one source; an OCI layout or archive is another:
/// it only has to open a blob by digest.
pub trait LayerSource: Send + Sync {
    /// Open the blob `digest` of `size` bytes. The reader must verify the digest: a mismatch is
    /// a read error, at the latest at the end of the stream.
    fn open<'a>(
        &'a self,
        digest: &'a str,
        size: i64,
    ) -> BoxFuture<'a, Result<LayerReader, ImageError>>;
}

impl LayerSource for ImageSource {
    fn open<'a>(
        &'a self,
        digest: &'a str,
        size: i64,
    ) -> BoxFuture<'a, Result<LayerReader, ImageError>> {
        Box::pin(self.layer(digest, size))
    }
}

impl LayerSource for RegistryImage {
    fn open<'a>(
        &'a self,
        digest: &'a str,
        size: i64,
    ) -> BoxFuture<'a, Result<LayerReader, ImageError>> {
        Box::pin(async move {
            let stream = self.blob_stream(digest, size).await?;
            // The bridge blocks on the runtime; the caller reads it inside `spawn_blocking`.
            let reader: LayerReader = Box::new(tokio_util::io::SyncIoBridge::new(stream));
            Ok(reader)
        })
    }
}

/// An image the audit can read: its platforms' manifests and configs, and its layer blobs.
pub trait AuditSource: LayerSource {
    fn contents<'a>(
        &'a self,
        entry: &'a IndexEntry,
    ) -> BoxFuture<'a, Result<PlatformContents, ImageError>>;
}

impl AuditSource for RegistryImage {
    fn contents<'a>(
        &'a self,
        entry: &'a IndexEntry,
    ) -> BoxFuture<'a, Result<PlatformContents, ImageError>> {
        Box::pin(self.platform_contents(entry))
    }
}

impl AuditSource for ImageSource {
    fn contents<'a>(
        &'a self,
        entry: &'a IndexEntry,
    ) -> BoxFuture<'a, Result<PlatformContents, ImageError>> {
        Box::pin(self.platform_contents(entry))
    }
}
