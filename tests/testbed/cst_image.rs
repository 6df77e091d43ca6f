//! The `cst` fixture: the six busybox images plus a layer and a config made for the
//! container-structure-test differential suite (`tests/cst.rs`, `tests/fixtures/cst/`):
//! setuid, setgid and sticky modes, files owned by 1000:1000, files with and without a trailing
//! newline, Debian copyright files, an absolute symlink, a symlink to a directory, a hard link,
//! and a config with an entrypoint (cst clears it for command tests), env, labels, exposed
//! ports, volumes and a workdir.

use std::collections::BTreeMap;
use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;
use serde::Serialize;

use crate::Result;
use crate::image::{
    Blob, CREATED, History, Image, Layer, Manifest, OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST,
    PATH_ENV, Platform, RootFs, sha256_digest,
};
use crate::tarball::{Entry, tar_archive};

#[derive(Serialize)]
struct Config {
    created: &'static str,
    architecture: String,
    os: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    variant: Option<String>,
    config: ContainerConfig,
    rootfs: RootFs,
    history: Vec<History>,
}

#[derive(Serialize)]
struct ContainerConfig {
    #[serde(rename = "ExposedPorts")]
    exposed_ports: BTreeMap<&'static str, BTreeMap<(), ()>>,
    #[serde(rename = "Env")]
    env: Vec<&'static str>,
    #[serde(rename = "Entrypoint")]
    entrypoint: Vec<&'static str>,
    #[serde(rename = "Cmd")]
    cmd: Vec<&'static str>,
    #[serde(rename = "Volumes")]
    volumes: BTreeMap<&'static str, BTreeMap<(), ()>>,
    #[serde(rename = "WorkingDir")]
    working_dir: &'static str,
    #[serde(rename = "Labels")]
    labels: BTreeMap<&'static str, &'static str>,
}

fn owned(kind: tar::EntryType, mode: u32, uid: u64, data: &[u8]) -> Entry {
    Entry::Owned {
        kind,
        mode,
        uid,
        gid: uid,
        data: data.to_vec(),
    }
}

/// The second layer, the same on every platform.
pub fn extra_layer() -> Result<Layer> {
    use tar::EntryType::{Directory, Regular};
    let entries: Vec<(String, Entry)> = vec![
        ("data/".into(), Entry::Dir(0o755)),
        (
            "etc/greeting".into(),
            Entry::File(0o644, b"hello\n".to_vec()),
        ),
        (
            "etc/no-newline".into(),
            Entry::File(0o644, b"first\nworld".to_vec()),
        ),
        ("home/".into(), Entry::Dir(0o755)),
        ("home/app/".into(), owned(Directory, 0o750, 1000, b"")),
        (
            "home/app/secret".into(),
            owned(Regular, 0o640, 1000, b"token\n"),
        ),
        ("srv/".into(), Entry::Dir(0o755)),
        ("srv/shared/".into(), Entry::Dir(0o2775)),
        (
            "srv/tool".into(),
            owned(Regular, 0o4755, 0, b"#!/bin/sh\necho tool\n"),
        ),
        ("srv/scratch/".into(), Entry::Dir(0o1777)),
        // A symlink to the setgid directory: `/srv/dirlink/` (trailing slash) is the directory.
        ("srv/dirlink".into(), Entry::Symlink("/srv/shared")),
        // A hard link and its target; entries are sorted, so the target comes first.
        ("srv/files/".into(), Entry::Dir(0o755)),
        (
            "srv/files/original".into(),
            Entry::File(0o644, b"linked bytes\n".to_vec()),
        ),
        (
            "srv/files/same".into(),
            Entry::Hardlink("srv/files/original"),
        ),
        ("usr/".into(), Entry::Dir(0o755)),
        ("usr/bin/".into(), Entry::Dir(0o755)),
        ("usr/bin/bb".into(), Entry::Symlink("/bin/busybox")),
        ("usr/share/".into(), Entry::Dir(0o755)),
        ("usr/share/doc/".into(), Entry::Dir(0o755)),
        ("usr/share/doc/libfree/".into(), Entry::Dir(0o755)),
        (
            "usr/share/doc/libfree/copyright".into(),
            Entry::File(0o644, b"License: MIT\n".to_vec()),
        ),
        ("usr/share/doc/libcopyleft/".into(), Entry::Dir(0o755)),
        (
            "usr/share/doc/libcopyleft/copyright".into(),
            Entry::File(0o644, b"License: AGPL-3\n".to_vec()),
        ),
    ];
    let tar = tar_archive(entries, crate::image::EPOCH)?;
    let diff_id = sha256_digest(&tar);
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(&tar)?;
    Ok(Layer {
        gzip: gz.finish()?,
        zstd: Vec::new(),
        diff_id,
    })
}

/// One platform's image: its busybox layer, then `extra`.
pub fn cst_image(platform: Platform, base: &Layer, extra: &Layer) -> Result<Image> {
    let empty = BTreeMap::new;
    let config = Config {
        created: CREATED,
        architecture: platform.architecture.to_owned(),
        os: "linux",
        variant: platform.variant.map(str::to_owned),
        config: ContainerConfig {
            exposed_ports: BTreeMap::from([("8080/tcp", empty()), ("53/udp", empty())]),
            env: vec![PATH_ENV, "GREETING=hello world", "EMPTY="],
            entrypoint: vec!["/bin/echo", "entrypoint-not-cleared"],
            cmd: vec!["sh"],
            volumes: BTreeMap::from([("/data", empty())]),
            working_dir: "/srv",
            labels: BTreeMap::from([
                ("org.opencontainers.image.version", "1.2.3"),
                ("maintainer", "archsmoke tests"),
            ]),
        },
        rootfs: RootFs {
            kind: "layers",
            diff_ids: vec![base.diff_id.clone(), extra.diff_id.clone()],
        },
        history: vec![
            History {
                created: CREATED.to_string(),
                created_by: "COPY rootfs/ / # buildkit",
                comment: "buildkit.dockerfile.v0",
                empty_layer: false,
            },
            History {
                created: CREATED.to_string(),
                created_by: "COPY cst/ / # buildkit",
                comment: "buildkit.dockerfile.v0",
                empty_layer: false,
            },
        ],
    };
    let config = Blob::json(OCI_CONFIG, &config)?;
    let layers = vec![
        Blob::new(OCI_LAYER_GZIP, base.gzip.clone()),
        Blob::new(OCI_LAYER_GZIP, extra.gzip.clone()),
    ];
    let manifest = Blob::json(
        OCI_MANIFEST,
        &Manifest {
            schema_version: 2,
            media_type: OCI_MANIFEST,
            config: config.oci(),
            layers: layers.iter().map(Blob::oci).collect(),
        },
    )?;
    let mut blobs = vec![config];
    blobs.extend(layers);
    Ok(Image { manifest, blobs })
}
