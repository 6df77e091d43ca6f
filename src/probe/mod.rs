//! Probe images: the smallest image of a platform, built here, so that `archsmoke doctor
//! --probe` can ask the engine itself whether it runs that platform without any registry.
//!
//! This module owns building them: [`elf`] writes a static executable that exits 0, and
//! [`image_archive`] packs it as a one-layer image in the legacy `docker load` format
//! (`manifest.json` + config + layer tar), the only format Docker 20.10 with the classic image
//! store loads. The config carries the platform's os/architecture/variant, since that is what
//! the engine matches `--platform` against. Loading, running and removing belong to
//! [`crate::engine`]; this module does no I/O.

pub mod elf;
pub mod relay;

use crate::digest::sha256_hex;
use serde_json::json;

use crate::platform::Platform;

/// Repository name of every probe image; the tag tells the run and the platform apart.
pub const PROBE_REPOSITORY: &str = "archsmoke-probe";
/// Path of the probe program inside the image.
pub const PROBE_PATH: &str = "/probe";

/// A probe image ready for `docker load`.
#[derive(Debug, Clone)]
pub struct ProbeImage {
    /// `archsmoke-probe:<run id>-<arch>[-<variant>]`, what the container is created from.
    pub reference: String,
    /// The `docker load` archive.
    pub archive: Vec<u8>,
}

/// Builds the probe image for `platform`, or `None` when archsmoke has no probe program for its
/// architecture.
pub fn probe_image(platform: &Platform, run_id: &str) -> std::io::Result<Option<ProbeImage>> {
    probe_image_owned(platform, run_id, &[])
}

/// [`probe_image`] whose config carries `owner` ([`crate::owner::labels`]) as image labels, so
/// that `gc` can tell a live run's image from a dead one's without a container beside it.
pub fn probe_image_owned(
    platform: &Platform,
    run_id: &str,
    owner: &[(String, String)],
) -> std::io::Result<Option<ProbeImage>> {
    let Some(program) = elf::program_for(platform.architecture()) else {
        return Ok(None);
    };
    let mut tag = format!("{run_id}-{}", platform.architecture());
    if let Some(v) = platform.variant() {
        tag.push('-');
        tag.push_str(v);
    }
    let reference = format!("{PROBE_REPOSITORY}:{tag}");
    let archive = image_archive(platform, &program.elf(), &reference, owner)?;
    Ok(Some(ProbeImage { reference, archive }))
}

/// Packs `executable` as `/probe`, the image's entrypoint, into a `docker load` archive whose
/// `manifest.json` tags it `reference`; `labels` join the config's labels.
pub fn image_archive(
    platform: &Platform,
    executable: &[u8],
    reference: &str,
    labels: &[(String, String)],
) -> std::io::Result<Vec<u8>> {
    let layer = {
        let mut b = tar::Builder::new(Vec::new());
        append(
            &mut b,
            PROBE_PATH.trim_start_matches('/'),
            0o755,
            executable,
        )?;
        b.into_inner()?
    };
    let layer_digest = sha256_hex(&layer);
    let mut config = json!({
        "architecture": platform.architecture(),
        "os": platform.os(),
        "config": { "Entrypoint": [PROBE_PATH], "Labels": { "archsmoke.probe": "true" } },
        "rootfs": { "type": "layers", "diff_ids": [format!("sha256:{layer_digest}")] },
        "history": [{ "created_by": "archsmoke doctor --probe" }],
    });
    if let Some(v) = platform.variant() {
        config["variant"] = json!(v);
    }
    for (k, v) in labels {
        config["config"]["Labels"][k] = json!(v);
    }
    let config = serde_json::to_vec(&config)?;
    let config_name = format!("{}.json", sha256_hex(&config));
    let layer_name = format!("{layer_digest}/layer.tar");
    let manifest = serde_json::to_vec(&json!([{
        "Config": config_name,
        "RepoTags": [reference],
        "Layers": [layer_name],
    }]))?;
    let mut b = tar::Builder::new(Vec::new());
    append(&mut b, &config_name, 0o644, &config)?;
    append(&mut b, &layer_name, 0o644, &layer)?;
    append(&mut b, "manifest.json", 0o644, &manifest)?;
    b.into_inner()
}

fn append(
    b: &mut tar::Builder<Vec<u8>>,
    path: &str,
    mode: u32,
    data: &[u8],
) -> std::io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_size(data.len() as u64);
    header.set_mode(mode);
    header.set_entry_type(tar::EntryType::Regular);
    // Fixed metadata, so the same platform always yields the same image id.
    header.set_mtime(0);
    header.set_uid(0);
    header.set_gid(0);
    b.append_data(&mut header, path, data)
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use super::*;

    fn files(archive: &[u8]) -> Vec<(String, u32, Vec<u8>)> {
        let mut a = tar::Archive::new(archive);
        a.entries()
            .expect("archive lists")
            .map(|e| {
                let mut e = e.expect("entry reads");
                let path = e.path().expect("path").to_string_lossy().into_owned();
                let mode = e.header().mode().expect("mode");
                let mut data = Vec::new();
                e.read_to_end(&mut data).expect("data reads");
                (path, mode, data)
            })
            .collect()
    }

    #[test]
    fn archive_is_a_consistent_docker_load_image_of_the_platform() {
        let platform = Platform::parse("linux/arm/v7").expect("valid platform");
        let image = probe_image(&platform, "abc123")
            .expect("archive builds")
            .expect("arm has a probe");
        assert_eq!(image.reference, "archsmoke-probe:abc123-arm-v7");
        let files = files(&image.archive);
        let get = |name: &str| {
            files
                .iter()
                .find(|(p, _, _)| p == name)
                .unwrap_or_else(|| panic!("{name} missing from {files:?}"))
        };
        let manifest: serde_json::Value =
            serde_json::from_slice(&get("manifest.json").2).expect("manifest is JSON");
        assert_eq!(manifest[0]["RepoTags"][0], "archsmoke-probe:abc123-arm-v7");
        let config_name = manifest[0]["Config"].as_str().expect("Config");
        let config_bytes = &get(config_name).2;
        // Docker names the config by its digest and checks the layer against diff_ids.
        assert_eq!(format!("{}.json", sha256_hex(config_bytes)), config_name);
        let config: serde_json::Value = serde_json::from_slice(config_bytes).expect("JSON");
        assert_eq!(config["architecture"], "arm");
        assert_eq!(config["variant"], "v7");
        assert_eq!(config["os"], "linux");
        assert_eq!(config["config"]["Entrypoint"][0], PROBE_PATH);
        let layer_name = manifest[0]["Layers"][0].as_str().expect("Layers");
        let layer = &get(layer_name).2;
        assert_eq!(
            config["rootfs"]["diff_ids"][0],
            format!("sha256:{}", sha256_hex(layer))
        );
        let inner = self::files(layer);
        assert_eq!(inner.len(), 1);
        assert_eq!(inner[0].0, "probe");
        assert_eq!(inner[0].1, 0o755);
        assert_eq!(
            inner[0].2,
            elf::program_for("arm").expect("arm").elf(),
            "the layer holds the arm probe program"
        );
    }

    #[test]
    fn no_variant_means_no_variant_field_and_unknown_arch_has_no_image() {
        let amd64 = Platform::parse("linux/amd64").expect("valid");
        let image = probe_image(&amd64, "r")
            .expect("archive builds")
            .expect("amd64 has a probe");
        let files = files(&image.archive);
        let config = files
            .iter()
            .find(|(p, _, _)| p.ends_with(".json") && p != "manifest.json")
            .expect("config present");
        let config: serde_json::Value = serde_json::from_slice(&config.2).expect("JSON");
        assert!(config.get("variant").is_none());
        let mips = Platform::parse("linux/mips").expect("valid");
        assert!(probe_image(&mips, "r").expect("no I/O").is_none());
    }
}
