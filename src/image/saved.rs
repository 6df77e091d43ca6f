//! An image the engine saved (`docker save`), laid out as an OCI layout, so that the image
//! checks read an engine's image the way they read any other: by its config and its layers.
//!
//! Both formats engines write are read through their `manifest.json` (the legacy one of Docker
//! before 25, `<id>/layer.tar` beside `<hex>.json`, and the OCI layout with `blobs/sha256/...`
//! of newer engines): the config and each layer are moved to `blobs/sha256/<their digest>`, and
//! an OCI manifest and `index.json` naming the config's platform are written beside them.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::ImageError;
use super::layout::member_path;
use super::manifest::{sha256_digest, sha256_text};

/// One image of `manifest.json`.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Saved {
    config: String,
    layers: Vec<String>,
}

/// The platform fields of an image config.
#[derive(Deserialize)]
struct ConfigPlatform {
    architecture: String,
    os: String,
    #[serde(default)]
    variant: Option<String>,
}

/// Unpack the saved image at `archive` into `dir` (which must be empty) as an OCI layout whose
/// index lists one manifest, for the config's platform. `name` is the image as the user named
/// it, for errors.
pub fn to_layout(name: &str, archive: &Path, dir: &Path) -> Result<(), ImageError> {
    let fail = |detail: String| ImageError::Layout {
        what: format!("the engine's image {name}"),
        detail,
    };
    let unpacked = dir.join("saved");
    unpack(archive, &unpacked)
        .map_err(|e| fail(format!("cannot unpack what the engine saved: {e}")))?;
    let manifest = fs::read(unpacked.join("manifest.json")).map_err(|e| {
        fail(format!(
            "the saved image has no readable manifest.json: {e}"
        ))
    })?;
    let saved: Vec<Saved> = serde_json::from_slice(&manifest).map_err(|e| {
        fail(format!(
            "the saved image's manifest.json is not understood: {e}"
        ))
    })?;
    let Some(saved) = saved.into_iter().next() else {
        return Err(fail(
            "the saved image's manifest.json lists no image".into(),
        ));
    };
    let blobs = dir.join("blobs/sha256");
    fs::create_dir_all(&blobs)
        .map_err(|e| fail(format!("cannot write {}: {e}", blobs.display())))?;
    let store = |member: &str| -> Result<(String, u64), ImageError> {
        let from = inside(&unpacked, member).ok_or_else(|| {
            fail(format!(
                "manifest.json names `{member}` outside the archive"
            ))
        })?;
        let (digest, size) = digest_of(&from).map_err(|e| fail(format!("{member}: {e}")))?;
        fs::rename(&from, blobs.join(hex_of(&digest)))
            .map_err(|e| fail(format!("{member}: {e}")))?;
        Ok((digest, size))
    };
    let (config_digest, config_size) = store(&saved.config)?;
    let layers = saved
        .layers
        .iter()
        .map(|l| store(l))
        .collect::<Result<Vec<_>, _>>()?;
    let config_bytes = fs::read(blobs.join(hex_of(&config_digest)))
        .map_err(|e| fail(format!("the config: {e}")))?;
    let platform: ConfigPlatform = serde_json::from_slice(&config_bytes)
        .map_err(|e| fail(format!("the config names no platform: {e}")))?;
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest,
            "size": config_size,
        },
        // Saved layers are plain tar, whatever the registry had.
        "layers": layers.iter().map(|(digest, size)| serde_json::json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": digest,
            "size": size,
        })).collect::<Vec<_>>(),
    });
    let manifest = serde_json::to_vec(&manifest).map_err(|e| fail(e.to_string()))?;
    let manifest_digest = sha256_digest(&manifest);
    let write = |path: PathBuf, bytes: &[u8]| {
        fs::write(&path, bytes).map_err(|e| fail(format!("cannot write {}: {e}", path.display())))
    };
    write(blobs.join(hex_of(&manifest_digest)), &manifest)?;
    let mut described = serde_json::json!({
        "architecture": platform.architecture,
        "os": platform.os,
    });
    if let Some(v) = platform.variant.filter(|v| !v.is_empty()) {
        described["variant"] = v.into();
    }
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest,
            "size": manifest.len(),
            "platform": described,
        }],
    });
    write(
        dir.join("index.json"),
        &serde_json::to_vec(&index).map_err(|e| fail(e.to_string()))?,
    )?;
    write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    // What is left of the unpacked archive is not part of the layout.
    let _ = fs::remove_dir_all(&unpacked);
    Ok(())
}

/// Extract the regular files of the tar at `archive` under `to`, refusing paths that leave it.
fn unpack(archive: &Path, to: &Path) -> io::Result<()> {
    let mut tar = tar::Archive::new(File::open(archive)?);
    for entry in tar.entries()? {
        let mut entry = entry?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry.path()?.into_owned();
        let Some(dest) = inside(to, &path.to_string_lossy()) else {
            return Err(io::Error::other(format!(
                "the archive has a path outside itself: {}",
                path.display()
            )));
        };
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent)?;
        }
        io::copy(&mut entry, &mut File::create(&dest)?)?;
    }
    Ok(())
}

/// `root/member` when `member` is a relative path that stays under `root`.
fn inside(root: &Path, member: &str) -> Option<PathBuf> {
    member_path(Path::new(member)).map(|rel| root.join(rel))
}

/// The hex part of a `sha256:` digest: a blob's file name.
fn hex_of(digest: &str) -> &str {
    digest.trim_start_matches("sha256:")
}

/// The `sha256:` digest and size of a file, read in chunks.
fn digest_of(path: &Path) -> io::Result<(String, u64)> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((sha256_text(&hasher.finalize()), size))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, data) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, path, *data).expect("append");
        }
        b.into_inner().expect("tar")
    }

    #[test]
    fn a_legacy_save_becomes_a_layout_with_the_configs_platform() {
        let layer = tar_of(&[("bin/app", b"\x7fELF")]);
        let config = br#"{"architecture":"arm","os":"linux","variant":"v7","rootfs":{"type":"layers","diff_ids":[]}}"#;
        let saved = tar_of(&[
            (
                "manifest.json",
                br#"[{"Config":"abc.json","RepoTags":["app:1"],"Layers":["l1/layer.tar"]}]"#,
            ),
            ("abc.json", config),
            ("l1/layer.tar", &layer),
        ]);
        let dir = tempfile::tempdir().expect("temp dir");
        let archive = dir.path().join("saved.tar");
        fs::write(&archive, saved).expect("write");
        let out = dir.path().join("layout");
        fs::create_dir(&out).expect("mkdir");
        to_layout("app:1", &archive, &out).expect("converted");
        let index: serde_json::Value =
            serde_json::from_slice(&fs::read(out.join("index.json")).expect("index"))
                .expect("json");
        let entry = &index["manifests"][0];
        assert_eq!(entry["platform"]["architecture"], "arm");
        assert_eq!(entry["platform"]["variant"], "v7");
        let layer_digest = sha256_digest(&layer);
        assert!(
            out.join("blobs/sha256")
                .join(hex_of(&layer_digest))
                .is_file()
        );
        assert!(out.join("oci-layout").is_file());
        assert!(!out.join("saved").exists());
    }

    #[test]
    fn paths_that_leave_the_archive_are_refused() {
        assert!(inside(Path::new("/x"), "../etc/passwd").is_none());
        assert!(inside(Path::new("/x"), "/etc/passwd").is_none());
        assert_eq!(
            inside(Path::new("/x"), "blobs/sha256/ab"),
            Some(PathBuf::from("/x/blobs/sha256/ab"))
        );
    }
}
