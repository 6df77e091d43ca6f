//! Where the fixtures go: the registries (through oci-client) and the OCI layout directory and
//! archive, written the way `docker buildx build --output type=oci` writes them.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};

use crate::Result;
use crate::image::{Blob, CREATED, Fixture, Index, OCI_INDEX, REPOSITORY};
use crate::tarball::{Entry, tar_archive};

// ---------------------------------------------------------------------------------------
// Registry

/// One registry and the credentials to push to it.
pub struct Registry<'a> {
    pub client: &'a Client,
    pub host: String,
    pub auth: RegistryAuth,
    /// Repository the fixtures go to: [`REPOSITORY`] for the busybox ones.
    pub repository: &'static str,
}

impl Registry<'_> {
    fn reference_tag(&self, tag: &str) -> Reference {
        Reference::with_tag(self.host.clone(), self.repository.into(), tag.into())
    }

    fn reference_digest(&self, digest: &str) -> Reference {
        Reference::with_digest(self.host.clone(), self.repository.into(), digest.into())
    }

    pub async fn push(&self, fixture: &Fixture) -> Result<()> {
        let tagged = self.reference_tag(fixture.tag);
        self.client
            .auth(&tagged, &self.auth, RegistryOperation::Push)
            .await
            .map_err(|e| format!("cannot authenticate to {} for push: {e}", self.host))?;
        let mut pushed = BTreeSet::new();
        for blob in fixture.child_blobs() {
            if !pushed.insert(blob.digest.clone()) {
                continue;
            }
            let exists = self
                .client
                .blob_exists(&tagged, &blob.digest)
                .await
                .map_err(|e| format!("HEAD blob {} on {}: {e}", blob.digest, self.host))?;
            if !exists {
                self.client
                    .push_blob(&tagged, blob.bytes.clone(), &blob.digest)
                    .await
                    .map_err(|e| format!("push blob {} to {}: {e}", blob.digest, self.host))?;
            }
        }
        for child in &fixture.children {
            let manifest = &child.image().manifest;
            if pushed.insert(manifest.digest.clone()) {
                self.push_manifest(&self.reference_digest(&manifest.digest), manifest)
                    .await?;
            }
        }
        self.push_manifest(&tagged, &fixture.root).await?;

        // Read the tag back: the registry must serve exactly the bytes we built.
        let served = self
            .client
            .fetch_manifest_digest(&tagged, &self.auth)
            .await
            .map_err(|e| format!("read back {}:{}: {e}", self.host, fixture.tag))?;
        if served != fixture.root.digest {
            return Err(format!(
                "{}/{}:{} serves {served}, expected {}",
                self.host, self.repository, fixture.tag, fixture.root.digest
            )
            .into());
        }
        Ok(())
    }

    async fn push_manifest(&self, reference: &Reference, manifest: &Blob) -> Result<()> {
        let content_type = manifest
            .media_type
            .parse()
            .map_err(|e| format!("media type {}: {e}", manifest.media_type))?;
        self.client
            .push_manifest_raw(reference, manifest.bytes.clone(), content_type)
            .await
            .map_err(|e| format!("push manifest {reference}: {e}"))?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// OCI layout and archive

/// The annotations of a layout's index.json entry, as buildx writes them: the image's full
/// name, its build time and its tag as `ref.name`.
pub fn ref_annotations(name: &str, tag: &str, created: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("io.containerd.image.name".into(), format!("{name}:{tag}")),
        ("org.opencontainers.image.created".into(), created.into()),
        ("org.opencontainers.image.ref.name".into(), tag.into()),
    ])
}

/// The top-level index.json: one entry for the image index, with `annotations`.
fn layout_index(fixture: &Fixture, annotations: BTreeMap<String, String>) -> Result<Vec<u8>> {
    let mut entry = fixture.root.oci();
    entry.annotations = annotations;
    Ok(serde_json::to_vec(&Index {
        schema_version: 2,
        media_type: OCI_INDEX,
        manifests: vec![entry],
    })?)
}

/// Write `fixture` as `<dir>/<tag>-layout/` and `<dir>/<tag>.tar`, replacing older copies.
pub fn write_oci(dir: &Path, fixture: &Fixture) -> Result<(PathBuf, PathBuf)> {
    let name = format!("docker.io/{REPOSITORY}");
    let annotations = ref_annotations(&name, fixture.tag, CREATED);
    write_oci_named(dir, fixture.tag, fixture, annotations)
}

/// Write `fixture` as `<dir>/<stem>-layout/` and `<dir>/<stem>.tar`, replacing older copies,
/// its index.json entry carrying `annotations`.
pub fn write_oci_named(
    dir: &Path,
    stem: &str,
    fixture: &Fixture,
    annotations: BTreeMap<String, String>,
) -> Result<(PathBuf, PathBuf)> {
    let mut blobs: BTreeMap<String, &Blob> = BTreeMap::new();
    blobs.insert(fixture.root.digest.clone(), &fixture.root);
    for child in &fixture.children {
        blobs.insert(
            child.image().manifest.digest.clone(),
            &child.image().manifest,
        );
    }
    for blob in fixture.child_blobs() {
        blobs.insert(blob.digest.clone(), blob);
    }
    let oci_layout = br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec();
    let index = layout_index(fixture, annotations)?;

    let mut entries = vec![
        ("blobs/".to_owned(), Entry::Dir(0o755)),
        ("blobs/sha256/".to_owned(), Entry::Dir(0o755)),
        ("index.json".to_owned(), Entry::File(0o644, index.clone())),
        (
            "oci-layout".to_owned(),
            Entry::File(0o444, oci_layout.clone()),
        ),
    ];
    for (digest, blob) in &blobs {
        let hex = digest.trim_start_matches("sha256:");
        entries.push((
            format!("blobs/sha256/{hex}"),
            Entry::File(0o444, blob.bytes.clone()),
        ));
    }
    // buildkit's archive exporter leaves mtimes at zero.
    let tar = tar_archive(entries, 0)?;

    fs::create_dir_all(dir)?;
    let tar_path = dir.join(format!("{stem}.tar"));
    write_atomically(&tar_path, &tar)?;

    let layout = dir.join(format!("{stem}-layout"));
    let staging = dir.join(format!(".{stem}-layout.tmp"));
    if staging.exists() {
        fs::remove_dir_all(&staging)?;
    }
    fs::create_dir_all(staging.join("blobs/sha256"))?;
    fs::write(staging.join("oci-layout"), &oci_layout)?;
    fs::write(staging.join("index.json"), &index)?;
    for (digest, blob) in &blobs {
        let hex = digest.trim_start_matches("sha256:");
        fs::write(staging.join("blobs/sha256").join(hex), &blob.bytes)?;
    }
    if layout.exists() {
        fs::remove_dir_all(&layout)?;
    }
    fs::rename(&staging, &layout)?;
    Ok((layout, tar_path))
}

pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, bytes).map_err(|e| format!("write {}: {e}", tmp.display()))?;
    fs::rename(&tmp, path).map_err(|e| format!("rename to {}: {e}", path.display()))?;
    Ok(())
}
