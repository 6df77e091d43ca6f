//! What the fixture images are made of: platforms, blobs, manifests, indexes and tar files.
//!
//! Everything here is pure: it turns busybox binaries into bytes and digests and does no I/O.
//! Reproducibility lives here too: layer entries are sorted and carry a fixed mtime, gzip
//! headers carry no timestamp, and JSON is serialized from structs in the field order of the
//! Go types buildkit (OCI) and docker/distribution (schema2) use, so the same busybox packages
//! always give the same digests and the bytes look like what those tools push.

use std::collections::BTreeMap;
use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::Result;
use crate::tarball::{Entry, tar_archive};

/// Repository every fixture is pushed to, on both registries.
pub const REPOSITORY: &str = "archsmoke/busybox";
/// Fixed build time (2024-01-01T00:00:00Z), used for every mtime and `created` field.
pub const EPOCH: u64 = 1_704_067_200;
pub const CREATED: &str = "2024-01-01T00:00:00Z";
pub const PATH_ENV: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Applets linked into `/bin`. Each is checked against the binary's applet table, so a
/// busybox build without one of them fails here instead of in a confusing test.
pub const APPLETS: &str = "\
    [ ash awk base64 basename cat chmod cp cut date dd df dirname du echo env expr false find \
    free grep head hexdump hostname id kill ln ls md5sum mkdir mv nproc od printf ps pwd \
    readlink realpath rm rmdir sed seq sh sha1sum sha256sum sha512sum sleep sort stat tail tee \
    test timeout touch tr true uname uniq uptime wc which whoami xargs yes";

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub const IN_TOTO: &str = "application/vnd.in-toto+json";
pub const SLSA_PROVENANCE_V02: &str = "https://slsa.dev/provenance/v0.2";

/// One platform of the fixtures, and the Debian architecture whose busybox it carries.
#[derive(Clone, Copy)]
pub struct Platform {
    pub architecture: &'static str,
    pub variant: Option<&'static str>,
    pub debian_arch: &'static str,
    /// ELF class (1 = 32-bit, 2 = 64-bit), data encoding (1 = LE, 2 = BE) and e_machine, to
    /// check that each busybox file really is the binary of its architecture.
    pub elf: (u8, u8, u16),
}

impl Platform {
    pub fn name(&self) -> String {
        match self.variant {
            Some(variant) => format!("linux/{}/{variant}", self.architecture),
            None => format!("linux/{}", self.architecture),
        }
    }

    pub fn json(&self) -> PlatformJson {
        PlatformJson {
            architecture: self.architecture.to_owned(),
            os: "linux".to_owned(),
            variant: self.variant.map(str::to_owned),
        }
    }
}

pub const AMD64: Platform = Platform {
    architecture: "amd64",
    variant: None,
    debian_arch: "amd64",
    elf: (2, 1, 62),
};
pub const ARM64: Platform = Platform {
    architecture: "arm64",
    variant: None,
    debian_arch: "arm64",
    elf: (2, 1, 183),
};
pub const ARMV7: Platform = Platform {
    architecture: "arm",
    variant: Some("v7"),
    debian_arch: "armhf",
    elf: (1, 1, 40),
};
pub const PPC64LE: Platform = Platform {
    architecture: "ppc64le",
    variant: None,
    debian_arch: "ppc64el",
    elf: (2, 1, 21),
};
pub const S390X: Platform = Platform {
    architecture: "s390x",
    variant: None,
    debian_arch: "s390x",
    elf: (2, 2, 22),
};
pub const I386: Platform = Platform {
    architecture: "386",
    variant: None,
    debian_arch: "i386",
    elf: (1, 1, 3),
};
pub const ALL_PLATFORMS: [Platform; 6] = [AMD64, ARM64, ARMV7, PPC64LE, S390X, I386];

// ---------------------------------------------------------------------------------------
// Wire types. Field order follows the Go structs that buildkit (OCI) and docker/distribution
// (schema2) serialize, so the bytes look like what those tools push.

#[derive(Serialize, Clone)]
pub struct PlatformJson {
    pub architecture: String,
    pub os: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

#[derive(Serialize, Clone)]
#[serde(rename_all = "camelCase")]
pub struct OciDescriptor {
    pub media_type: String,
    pub digest: String,
    pub size: usize,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<PlatformJson>,
}

#[derive(Serialize, Clone)]
#[serde(rename_all = "camelCase")]
pub struct DockerDescriptor {
    pub media_type: String,
    pub size: usize,
    pub digest: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<PlatformJson>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest<D> {
    pub schema_version: u32,
    pub media_type: &'static str,
    pub config: D,
    pub layers: Vec<D>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Index<D> {
    pub schema_version: u32,
    pub media_type: &'static str,
    pub manifests: Vec<D>,
}

#[derive(Serialize)]
pub struct ImageConfig {
    pub created: String,
    pub architecture: String,
    pub os: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    pub config: ContainerConfig,
    pub rootfs: RootFs,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<History>,
}

#[derive(Serialize, Default)]
pub struct ContainerConfig {
    #[serde(rename = "Env", skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<&'static str>,
    #[serde(rename = "Entrypoint", skip_serializing_if = "Vec::is_empty")]
    pub entrypoint: Vec<&'static str>,
    #[serde(rename = "Cmd", skip_serializing_if = "Vec::is_empty")]
    pub cmd: Vec<&'static str>,
    #[serde(rename = "Labels", skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<&'static str, String>,
}

#[derive(Serialize)]
pub struct RootFs {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub diff_ids: Vec<String>,
}

#[derive(Serialize)]
pub struct History {
    pub created: String,
    pub created_by: &'static str,
    pub comment: &'static str,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub empty_layer: bool,
}

/// A content-addressed blob: manifest, index, config or layer.
#[derive(Clone)]
pub struct Blob {
    pub media_type: &'static str,
    pub bytes: Vec<u8>,
    pub digest: String,
}

impl Blob {
    pub fn new(media_type: &'static str, bytes: Vec<u8>) -> Self {
        let digest = sha256_digest(&bytes);
        Self {
            media_type,
            bytes,
            digest,
        }
    }

    pub fn json(media_type: &'static str, value: &impl Serialize) -> Result<Self> {
        Ok(Self::new(media_type, serde_json::to_vec(value)?))
    }

    pub fn oci(&self) -> OciDescriptor {
        OciDescriptor {
            media_type: self.media_type.to_owned(),
            digest: self.digest.clone(),
            size: self.bytes.len(),
            annotations: BTreeMap::new(),
            platform: None,
        }
    }

    pub fn docker(&self) -> DockerDescriptor {
        DockerDescriptor {
            media_type: self.media_type.to_owned(),
            size: self.bytes.len(),
            digest: self.digest.clone(),
            platform: None,
        }
    }
}

pub fn sha256_digest(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

// ---------------------------------------------------------------------------------------
// Images

/// Which family of media types an image uses.
#[derive(Clone, Copy, PartialEq)]
pub enum Flavour {
    Oci,
    /// OCI with zstd-compressed layers, as `buildx --output compression=zstd` writes them.
    OciZstd,
    Docker,
}

/// A single-platform image: its manifest and every blob the manifest names.
#[derive(Clone)]
pub struct Image {
    pub manifest: Blob,
    pub blobs: Vec<Blob>,
}

/// The compressed layer and its diff_id (digest of the uncompressed tar).
pub struct Layer {
    pub gzip: Vec<u8>,
    pub zstd: Vec<u8>,
    pub diff_id: String,
}

/// The root filesystem: /bin/busybox, applet symlinks, /etc/passwd, /etc/group, /tmp.
pub fn rootfs_layer(busybox: &[u8]) -> Result<Layer> {
    layer(rootfs_entries(busybox), EPOCH)
}

fn rootfs_entries(busybox: &[u8]) -> Vec<(String, Entry)> {
    let mut entries: Vec<(String, Entry)> = vec![
        ("bin/".into(), Entry::Dir(0o755)),
        ("bin/busybox".into(), Entry::File(0o755, busybox.to_vec())),
        ("etc/".into(), Entry::Dir(0o755)),
        (
            "etc/group".into(),
            Entry::File(0o644, b"root:x:0:\nnogroup:x:65534:\n".to_vec()),
        ),
        (
            "etc/passwd".into(),
            Entry::File(
                0o644,
                b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
                    .to_vec(),
            ),
        ),
        ("root/".into(), Entry::Dir(0o700)),
        ("tmp/".into(), Entry::Dir(0o1777)),
    ];
    for applet in APPLETS.split_whitespace() {
        entries.push((format!("bin/{applet}"), Entry::Symlink("busybox")));
    }
    entries
}

/// A layer of `entries` (sorted, owned by 0:0, every mtime `mtime`), compressed both ways.
pub fn layer(entries: Vec<(String, Entry)>, mtime: u64) -> Result<Layer> {
    let tar = tar_archive(entries, mtime)?;
    let diff_id = sha256_digest(&tar);
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(&tar)?;
    Ok(Layer {
        gzip: gz.finish()?,
        zstd: zstd::encode_all(tar.as_slice(), 3)?,
        diff_id,
    })
}

/// Build one image. `label` is what the config claims; `layer` holds the busybox it carries.
pub fn image(flavour: Flavour, label: Platform, layer: &Layer) -> Result<Image> {
    let config = ImageConfig {
        created: CREATED.into(),
        architecture: label.architecture.to_owned(),
        os: "linux",
        variant: label.variant.map(str::to_owned),
        config: ContainerConfig {
            env: vec![PATH_ENV],
            cmd: vec!["sh"],
            ..ContainerConfig::default()
        },
        rootfs: RootFs {
            kind: "layers",
            diff_ids: vec![layer.diff_id.clone()],
        },
        history: vec![
            History {
                created: CREATED.into(),
                created_by: "COPY rootfs/ / # buildkit",
                comment: "buildkit.dockerfile.v0",
                empty_layer: false,
            },
            History {
                created: CREATED.into(),
                created_by: "CMD [\"sh\"]",
                comment: "buildkit.dockerfile.v0",
                empty_layer: true,
            },
        ],
    };
    assemble(flavour, &config, layer)
}

/// The config, layer and manifest blobs of a one-layer image of `flavour`.
pub fn assemble(flavour: Flavour, config: &ImageConfig, layer: &Layer) -> Result<Image> {
    let (config_type, layer) = match flavour {
        Flavour::Oci => (OCI_CONFIG, Blob::new(OCI_LAYER_GZIP, layer.gzip.clone())),
        Flavour::OciZstd => (OCI_CONFIG, Blob::new(OCI_LAYER_ZSTD, layer.zstd.clone())),
        Flavour::Docker => (
            DOCKER_CONFIG,
            Blob::new(DOCKER_LAYER_GZIP, layer.gzip.clone()),
        ),
    };
    let config = Blob::json(config_type, config)?;
    let manifest = match flavour {
        Flavour::Oci | Flavour::OciZstd => Blob::json(
            OCI_MANIFEST,
            &Manifest {
                schema_version: 2,
                media_type: OCI_MANIFEST,
                config: config.oci(),
                layers: vec![layer.oci()],
            },
        )?,
        Flavour::Docker => Blob::json(
            DOCKER_MANIFEST,
            &Manifest {
                schema_version: 2,
                media_type: DOCKER_MANIFEST,
                config: config.docker(),
                layers: vec![layer.docker()],
            },
        )?,
    };
    Ok(Image {
        manifest,
        blobs: vec![config, layer],
    })
}

#[derive(Serialize)]
pub struct InTotoStatement<'a> {
    #[serde(rename = "_type")]
    pub kind: &'static str,
    #[serde(rename = "predicateType")]
    pub predicate_type: &'static str,
    pub subject: Vec<InTotoSubject>,
    pub predicate: &'a serde_json::Value,
}

#[derive(Serialize)]
pub struct InTotoSubject {
    pub name: String,
    pub digest: BTreeMap<&'static str, String>,
}

/// A buildkit attestation manifest (moby/buildkit docs/attestations/attestation-storage.md):
/// an OCI manifest with an `unknown/unknown` config and one in-toto layer carrying a SLSA
/// provenance statement about `subject`.
pub fn attestation(tag: &str, platform: Platform, subject: &Blob) -> Result<Image> {
    let predicate = serde_json::json!({
        "builder": { "id": "" },
        "buildType": "https://mobyproject.org/buildkit@v1",
        "materials": [],
        "invocation": {
            "configSource": {},
            "parameters": { "frontend": "dockerfile.v0" },
            "environment": { "platform": platform.name() },
        },
        "metadata": {
            "buildStartedOn": CREATED,
            "buildFinishedOn": CREATED,
            "completeness": { "parameters": true, "environment": true, "materials": false },
            "reproducible": false,
            "https://mobyproject.org/buildkit@v1#metadata": {},
        },
    });
    let hex = subject.digest.trim_start_matches("sha256:").to_owned();
    let statement = InTotoStatement {
        kind: "https://in-toto.io/Statement/v0.1",
        predicate_type: SLSA_PROVENANCE_V02,
        subject: vec![InTotoSubject {
            name: format!(
                "pkg:docker/{REPOSITORY}@{tag}?platform={}",
                platform.name().replace('/', "%2F")
            ),
            digest: BTreeMap::from([("sha256", hex)]),
        }],
        predicate: &predicate,
    };
    let layer = Blob::json(IN_TOTO, &statement)?;
    let config = Blob::json(
        OCI_CONFIG,
        &serde_json::json!({
            "architecture": "unknown",
            "os": "unknown",
            "config": {},
            "rootfs": { "type": "layers", "diff_ids": [layer.digest] },
        }),
    )?;
    let mut layer_descriptor = layer.oci();
    layer_descriptor.annotations.insert(
        "in-toto.io/predicate-type".into(),
        SLSA_PROVENANCE_V02.into(),
    );
    let manifest = Blob::json(
        OCI_MANIFEST,
        &Manifest {
            schema_version: 2,
            media_type: OCI_MANIFEST,
            config: config.oci(),
            layers: vec![layer_descriptor],
        },
    )?;
    Ok(Image {
        manifest,
        blobs: vec![config, layer],
    })
}

// ---------------------------------------------------------------------------------------
// Fixtures

/// One child of an index: a runnable image under a platform label, or an attestation.
pub enum Child {
    Image { platform: Platform, image: Image },
    Attestation { image: Image, subject: String },
}

impl Child {
    pub fn image(&self) -> &Image {
        match self {
            Child::Image { image, .. } | Child::Attestation { image, .. } => image,
        }
    }
}

/// A tagged fixture: its root (index, list or manifest) and the children the root names.
pub struct Fixture {
    pub tag: &'static str,
    pub root: Blob,
    pub children: Vec<Child>,
}

impl Fixture {
    /// Every blob that must be in the registry before the root is pushed, children first.
    pub fn child_blobs(&self) -> impl Iterator<Item = &Blob> {
        self.children.iter().flat_map(|c| c.image().blobs.iter())
    }
}

pub fn index_fixture(tag: &'static str, flavour: Flavour, children: Vec<Child>) -> Result<Fixture> {
    let root = match flavour {
        Flavour::Oci | Flavour::OciZstd => {
            let manifests = children
                .iter()
                .map(|child| {
                    let mut d = child.image().manifest.oci();
                    match child {
                        Child::Image { platform, .. } => d.platform = Some(platform.json()),
                        Child::Attestation { subject, .. } => {
                            d.annotations
                                .insert("vnd.docker.reference.digest".into(), subject.clone());
                            d.annotations.insert(
                                "vnd.docker.reference.type".into(),
                                "attestation-manifest".into(),
                            );
                            d.platform = Some(PlatformJson {
                                architecture: "unknown".into(),
                                os: "unknown".into(),
                                variant: None,
                            });
                        }
                    }
                    d
                })
                .collect();
            Blob::json(
                OCI_INDEX,
                &Index {
                    schema_version: 2,
                    media_type: OCI_INDEX,
                    manifests,
                },
            )?
        }
        Flavour::Docker => {
            let mut manifests = Vec::new();
            for child in &children {
                let Child::Image { platform, image } = child else {
                    return Err("a Docker manifest list cannot carry attestations".into());
                };
                let mut d = image.manifest.docker();
                d.platform = Some(platform.json());
                manifests.push(d);
            }
            Blob::json(
                DOCKER_LIST,
                &Index {
                    schema_version: 2,
                    media_type: DOCKER_LIST,
                    manifests,
                },
            )?
        }
    };
    Ok(Fixture {
        tag,
        root,
        children,
    })
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use serde_json::Value;

    use super::*;

    /// Not a real busybox: the layer code does not look inside the binary.
    const FAKE_BUSYBOX: &[u8] = b"\x7fELF fake busybox";

    struct TarEntry {
        name: Vec<u8>,
        mode: u32,
        kind: tar::EntryType,
        link: Option<Vec<u8>>,
        mtime: u64,
        owner: (u64, u64),
        data: Vec<u8>,
    }

    fn read_tar(bytes: &[u8]) -> Vec<TarEntry> {
        let mut archive = tar::Archive::new(bytes);
        let entries = archive.entries().expect("tar entries");
        entries
            .map(|entry| {
                let mut entry = entry.expect("tar entry");
                let header = entry.header().clone();
                let mut data = Vec::new();
                entry.read_to_end(&mut data).expect("tar entry data");
                TarEntry {
                    name: header.path_bytes().into_owned(),
                    mode: header.mode().expect("mode"),
                    kind: header.entry_type(),
                    link: header.link_name_bytes().map(|l| l.into_owned()),
                    mtime: header.mtime().expect("mtime"),
                    owner: (header.uid().expect("uid"), header.gid().expect("gid")),
                    data,
                }
            })
            .collect()
    }

    fn gunzip(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut out)
            .expect("gunzip");
        out
    }

    fn json(blob: &Blob) -> Value {
        serde_json::from_slice(&blob.bytes).expect("blob is JSON")
    }

    #[test]
    fn rootfs_layer_is_reproducible_and_holds_the_promised_files() {
        let layer = rootfs_layer(FAKE_BUSYBOX).expect("layer");
        let again = rootfs_layer(FAKE_BUSYBOX).expect("layer");
        assert_eq!(
            layer.gzip, again.gzip,
            "same input must give the same bytes"
        );

        let tar = gunzip(&layer.gzip);
        assert_eq!(sha256_digest(&tar), layer.diff_id);
        let entries = read_tar(&tar);
        let names: Vec<&[u8]> = entries.iter().map(|e| e.name.as_slice()).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted, "entries must be sorted");
        assert!(
            entries
                .iter()
                .all(|e| e.mtime == EPOCH && e.owner == (0, 0))
        );

        let find = |name: &str| {
            entries
                .iter()
                .find(|e| e.name == name.as_bytes())
                .unwrap_or_else(|| panic!("{name} missing"))
        };
        let busybox = find("bin/busybox");
        assert_eq!(
            (busybox.kind, busybox.mode),
            (tar::EntryType::Regular, 0o755)
        );
        assert_eq!(busybox.data, FAKE_BUSYBOX);
        for applet in ["sh", "uname", "sha256sum", "["] {
            let link = find(&format!("bin/{applet}"));
            assert_eq!(link.kind, tar::EntryType::Symlink);
            assert_eq!(link.link.as_deref(), Some(&b"busybox"[..]));
        }
        let tmp = find("tmp/");
        assert_eq!((tmp.kind, tmp.mode), (tar::EntryType::Directory, 0o1777));
        assert!(find("etc/passwd").data.starts_with(b"root:x:0:0:"));
    }

    #[test]
    fn config_says_the_label_while_the_layer_carries_the_given_binary() {
        let layer = rootfs_layer(FAKE_BUSYBOX).expect("layer");
        let image = image(Flavour::Oci, ARMV7, &layer).expect("image");
        let manifest = json(&image.manifest);
        assert_eq!(manifest["mediaType"], OCI_MANIFEST);
        assert_eq!(manifest["layers"][0]["mediaType"], OCI_LAYER_GZIP);
        assert_eq!(manifest["layers"][0]["digest"], sha256_digest(&layer.gzip));

        let config = json(&image.blobs[0]);
        assert_eq!(manifest["config"]["digest"], image.blobs[0].digest);
        assert_eq!(config["architecture"], "arm");
        assert_eq!(config["variant"], "v7");
        assert_eq!(config["os"], "linux");
        assert_eq!(config["config"]["Cmd"], serde_json::json!(["sh"]));
        assert_eq!(config["config"]["Env"], serde_json::json!([PATH_ENV]));
        assert_eq!(config["rootfs"]["diff_ids"][0], layer.diff_id);
        assert_eq!(config["history"].as_array().map(Vec::len), Some(2));
    }

    #[test]
    fn docker_flavour_uses_schema2_media_types() {
        let layer = rootfs_layer(FAKE_BUSYBOX).expect("layer");
        let image = image(Flavour::Docker, AMD64, &layer).expect("image");
        let manifest = json(&image.manifest);
        assert_eq!(manifest["mediaType"], DOCKER_MANIFEST);
        assert_eq!(manifest["config"]["mediaType"], DOCKER_CONFIG);
        assert_eq!(manifest["layers"][0]["mediaType"], DOCKER_LAYER_GZIP);
        let fixture = index_fixture(
            "t",
            Flavour::Docker,
            vec![Child::Image {
                platform: AMD64,
                image,
            }],
        )
        .expect("list");
        assert_eq!(json(&fixture.root)["mediaType"], DOCKER_LIST);
    }

    #[test]
    fn attestations_are_described_like_buildkit_describes_them() {
        let layer = rootfs_layer(FAKE_BUSYBOX).expect("layer");
        let amd64 = image(Flavour::Oci, AMD64, &layer).expect("image");
        let att = attestation("t", AMD64, &amd64.manifest).expect("attestation");
        let subject = amd64.manifest.digest.clone();
        let children = vec![
            Child::Image {
                platform: AMD64,
                image: amd64,
            },
            Child::Attestation {
                image: att.clone(),
                subject: subject.clone(),
            },
        ];
        let fixture = index_fixture("t", Flavour::Oci, children).expect("index");
        let index = json(&fixture.root);
        let entry = &index["manifests"][1];
        assert_eq!(entry["digest"], att.manifest.digest);
        assert_eq!(
            entry["platform"],
            serde_json::json!({"architecture": "unknown", "os": "unknown"})
        );
        assert_eq!(
            entry["annotations"]["vnd.docker.reference.type"],
            "attestation-manifest"
        );
        assert_eq!(entry["annotations"]["vnd.docker.reference.digest"], subject);

        let manifest = json(&att.manifest);
        let in_toto = &manifest["layers"][0];
        assert_eq!(in_toto["mediaType"], IN_TOTO);
        assert_eq!(
            in_toto["annotations"]["in-toto.io/predicate-type"],
            SLSA_PROVENANCE_V02
        );
        let statement = json(&att.blobs[1]);
        assert_eq!(statement["predicateType"], SLSA_PROVENANCE_V02);
        assert_eq!(
            format!(
                "sha256:{}",
                statement["subject"][0]["digest"]["sha256"]
                    .as_str()
                    .unwrap_or("")
            ),
            subject
        );

        let list = index_fixture(
            "t",
            Flavour::Docker,
            vec![Child::Attestation {
                image: att,
                subject,
            }],
        );
        assert!(
            list.is_err(),
            "a Docker manifest list cannot carry attestations"
        );
    }
}
