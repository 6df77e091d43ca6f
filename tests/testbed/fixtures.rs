//! Builds and pushes the test bed's fixture images (`cargo run --example testbed-fixtures`).
//!
//! This program owns the fixture images every end-to-end test runs against: it turns the
//! `busybox-static` binaries that `tests/testbed/up.sh` extracted from Debian's packages into
//! real OCI and Docker images, pushes them to the test registries under `archsmoke/busybox`,
//! writes the `multi` index as an OCI layout directory and as an OCI archive, and records every
//! digest in `fixtures.json` for the tests to read. It does not start registries or download
//! anything; `up.sh` does that before calling it.
//!
//! `image` builds the bytes (reproducibly: the same busybox packages always give the same
//! digests, which lets `up.sh` skip this program when the registry already holds them),
//! `publish` pushes them and writes the OCI layout; this file picks the fixtures, checks the
//! busybox binaries and writes fixtures.json.

mod cst_image;
mod image;
mod publish;
mod real;
mod service;
mod tarball;

use std::collections::{BTreeMap, HashSet};
use std::error::Error;
use std::fs;
use std::path::{Path, PathBuf};

use clap::Parser;
use oci_client::Client;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use serde::Serialize;

use image::{
    ALL_PLATFORMS, AMD64, APPLETS, ARM64, ARMV7, Child, DOCKER_LIST, Fixture, Flavour, I386, Layer,
    OCI_INDEX, PPC64LE, Platform, REPOSITORY, S390X, attestation, image, index_fixture,
    rootfs_layer,
};
use publish::{Registry, write_atomically, write_oci};

type Result<T, E = Box<dyn Error + Send + Sync>> = std::result::Result<T, E>;

/// Build the fixture images, push them, and write the OCI layout, archive and fixtures.json.
#[derive(Parser, Debug)]
#[command(name = "testbed-fixtures")]
struct Args {
    /// Registry without authentication that receives every fixture (HOST:PORT).
    #[arg(long)]
    registry: String,
    /// Registry with basic auth that receives the `multi` fixture (HOST:PORT).
    #[arg(long, requires_all = ["username", "password"])]
    auth_registry: Option<String>,
    /// User name for --auth-registry.
    #[arg(long)]
    username: Option<String>,
    /// Password for --auth-registry.
    #[arg(long)]
    password: Option<String>,
    /// Directory holding `<debian-arch>/busybox` for amd64 arm64 armhf ppc64el s390x i386.
    #[arg(long, required_unless_present = "real_images")]
    busybox_dir: Option<PathBuf>,
    /// Directory that receives fixtures.json and oci/.
    #[arg(long)]
    out: PathBuf,
    /// Directory holding the `web-tls` fixture's parts: `server.pem`, `server.key` and
    /// `bin/testbed-tls-server-linux-{amd64,arm64}` (up.sh makes them). Without it (the demo
    /// profile) there is no `web-tls` fixture.
    #[arg(long)]
    tls_dir: Option<PathBuf>,
    /// Build only the real images (tests/testbed/real.rs) from the layer tars in this directory
    /// (real-images.sh makes them), push them to --registry and add them to `--out`'s
    /// fixtures.json under `real`.
    #[arg(long, conflicts_with_all = ["busybox_dir", "tls_dir", "auth_registry"])]
    real_images: Option<PathBuf>,
}

/// The root filesystem layer of each architecture, built once from its busybox binary, which
/// is checked first to be an ELF file of that architecture.
struct Layers(BTreeMap<&'static str, Layer>);

impl Layers {
    fn load(dir: &Path) -> Result<Self> {
        let mut layers = BTreeMap::new();
        for platform in ALL_PLATFORMS {
            let path = dir.join(platform.debian_arch).join("busybox");
            let bytes = fs::read(&path).map_err(|e| {
                format!(
                    "cannot read {}: {e}; run tests/testbed/up.sh, which extracts it",
                    path.display()
                )
            })?;
            check_elf(&path, &bytes, platform)?;
            check_applets(&path, &bytes)?;
            layers.insert(platform.debian_arch, rootfs_layer(&bytes)?);
        }
        Ok(Self(layers))
    }

    /// The layer carrying the busybox of `platform`'s architecture.
    fn of(&self, platform: Platform) -> Result<&Layer> {
        self.0
            .get(platform.debian_arch)
            .ok_or_else(|| format!("no busybox loaded for {}", platform.debian_arch).into())
    }
}

fn check_elf(path: &Path, bytes: &[u8], platform: Platform) -> Result<()> {
    let (class, data, machine) = platform.elf;
    let found = match bytes {
        [0x7f, b'E', b'L', b'F', c, d, ..] if bytes.len() > 20 => {
            let m = if *d == 2 {
                u16::from_be_bytes([bytes[18], bytes[19]])
            } else {
                u16::from_le_bytes([bytes[18], bytes[19]])
            };
            Some((*c, *d, m))
        }
        _ => None,
    };
    if found != Some((class, data, machine)) {
        return Err(format!(
            "{} is not a busybox for {} (expected ELF class/data/machine {:?}, found {:?}); \
             delete it and re-run tests/testbed/up.sh",
            path.display(),
            platform.debian_arch,
            (class, data, machine),
            found
        )
        .into());
    }
    Ok(())
}

/// Busybox keeps its applet names as one NUL-separated table; look each one up there.
fn check_applets(path: &Path, bytes: &[u8]) -> Result<()> {
    let strings: HashSet<&[u8]> = bytes.split(|b| *b == 0).collect();
    let missing: Vec<&str> = APPLETS
        .split_whitespace()
        .filter(|applet| !strings.contains(applet.as_bytes()))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} lacks the applets {missing:?}; remove them from APPLETS in tests/testbed/fixtures.rs",
            path.display()
        )
        .into())
    }
}

fn runnable(flavour: Flavour, platform: Platform, layers: &Layers) -> Result<Child> {
    Ok(Child::Image {
        platform,
        image: image(flavour, platform, layers.of(platform)?)?,
    })
}

fn build_fixtures(layers: &Layers) -> Result<Vec<Fixture>> {
    use Flavour::{Docker, Oci, OciZstd};
    let oci = |p: Platform| runnable(Oci, p, layers);

    // buildx appends attestations after every image; here one for amd64 and one for arm64.
    let with_attestations = |tag: &'static str, platforms: &[Platform]| -> Result<Fixture> {
        let mut children = platforms
            .iter()
            .map(|p| oci(*p))
            .collect::<Result<Vec<_>>>()?;
        let mut attestations = Vec::new();
        for child in &children {
            let Child::Image { platform, image } = child else {
                continue;
            };
            if platform.architecture == "amd64" || platform.architecture == "arm64" {
                attestations.push(Child::Attestation {
                    image: attestation(tag, *platform, &image.manifest)?,
                    subject: image.manifest.digest.clone(),
                });
            }
        }
        children.extend(attestations);
        index_fixture(tag, Oci, children)
    };

    let amd64 = image(Oci, AMD64, layers.of(AMD64)?)?;
    Ok(vec![
        with_attestations("multi", &ALL_PLATFORMS)?,
        with_attestations("no-arm64", &[AMD64, ARMV7, PPC64LE, S390X, I386])?,
        Fixture {
            tag: "single-amd64",
            root: amd64.manifest.clone(),
            children: Vec::new(),
        },
        // The arm64 entry is the amd64 image itself: its config says amd64.
        index_fixture(
            "mislabelled",
            Oci,
            vec![
                Child::Image {
                    platform: AMD64,
                    image: amd64.clone(),
                },
                Child::Image {
                    platform: ARM64,
                    image: amd64.clone(),
                },
            ],
        )?,
        // Correct arm64 config, amd64 binary inside.
        index_fixture(
            "foreign-binary",
            Oci,
            vec![
                Child::Image {
                    platform: AMD64,
                    image: amd64.clone(),
                },
                Child::Image {
                    platform: ARM64,
                    image: image(Oci, ARM64, layers.of(AMD64)?)?,
                },
            ],
        )?,
        // The audit must read zstd layers (buildx `compression=zstd`, zstd:chunked).
        index_fixture(
            "zstd",
            OciZstd,
            [AMD64, ARM64]
                .iter()
                .map(|p| runnable(OciZstd, *p, layers))
                .collect::<Result<_>>()?,
        )?,
        // The container-structure-test differential suite's image (tests/cst.rs).
        {
            let extra = cst_image::extra_layer()?;
            index_fixture(
                "cst",
                Oci,
                ALL_PLATFORMS
                    .iter()
                    .map(|p| {
                        Ok(Child::Image {
                            platform: *p,
                            image: cst_image::cst_image(*p, layers.of(*p)?, &extra)?,
                        })
                    })
                    .collect::<Result<_>>()?,
            )?
        },
        index_fixture(
            "docker-list",
            Docker,
            ALL_PLATFORMS
                .iter()
                .map(|p| runnable(Docker, *p, layers))
                .collect::<Result<_>>()?,
        )?,
    ])
}

// ---------------------------------------------------------------------------------------
// fixtures.json

#[derive(Serialize)]
struct FixturesJson {
    repository: &'static str,
    registry: String,
    auth_registry: Option<AuthRegistryJson>,
    /// Per tag on `registry`.
    tags: BTreeMap<&'static str, TagJson>,
    oci: OciJson,
}

#[derive(Serialize)]
struct AuthRegistryJson {
    host: String,
    username: String,
    password: String,
    tags: Vec<&'static str>,
}

#[derive(Serialize)]
struct TagJson {
    media_type: &'static str,
    /// Digest of the index, manifest list or (for a plain image) the manifest.
    digest: String,
    /// Platform label -> child manifest digest, runnable entries only.
    platforms: BTreeMap<String, String>,
    /// Attestation manifest digest -> digest of the manifest it refers to.
    attestations: BTreeMap<String, String>,
}

#[derive(Serialize)]
struct OciJson {
    layout: PathBuf,
    archive: PathBuf,
    ref_name: &'static str,
    digest: String,
}

fn tag_json(fixture: &Fixture) -> TagJson {
    let mut platforms = BTreeMap::new();
    let mut attestations = BTreeMap::new();
    if fixture.children.is_empty() {
        platforms.insert(AMD64.name(), fixture.root.digest.clone());
    }
    for child in &fixture.children {
        match child {
            Child::Image { platform, image } => {
                platforms.insert(platform.name(), image.manifest.digest.clone());
            }
            Child::Attestation { image, subject } => {
                attestations.insert(image.manifest.digest.clone(), subject.clone());
            }
        }
    }
    TagJson {
        media_type: fixture.root.media_type,
        digest: fixture.root.digest.clone(),
        platforms,
        attestations,
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    if let Err(error) = run(Args::parse()).await {
        eprintln!("testbed-fixtures: {error}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> Result<()> {
    if let Some(dir) = &args.real_images {
        return run_real(&args, dir).await;
    }
    let Some(busybox_dir) = &args.busybox_dir else {
        return Err("--busybox-dir is required (or --real-images)".into());
    };
    let layers = Layers::load(busybox_dir)?;
    let mut fixtures = build_fixtures(&layers)?;
    fixtures.extend(service::fixtures(|p| {
        Ok(fs::read(busybox_dir.join(p.debian_arch).join("busybox"))?)
    })?);
    if let Some(tls_dir) = &args.tls_dir {
        fixtures.push(service::web_tls(tls_dir)?);
    }

    let mut plain_http = vec![args.registry.clone()];
    plain_http.extend(args.auth_registry.clone());
    let client = Client::new(ClientConfig {
        protocol: ClientProtocol::HttpsExcept(plain_http),
        ..ClientConfig::default()
    });

    let registry = Registry {
        client: &client,
        host: args.registry.clone(),
        auth: RegistryAuth::Anonymous,
        repository: REPOSITORY,
    };
    for fixture in &fixtures {
        registry.push(fixture).await?;
    }
    let multi = fixtures
        .iter()
        .find(|f| f.tag == "multi")
        .ok_or("the fixture list has no `multi`")?;

    let auth_registry = match (&args.auth_registry, &args.username, &args.password) {
        (Some(host), Some(username), Some(password)) => {
            let registry = Registry {
                client: &client,
                host: host.clone(),
                auth: RegistryAuth::Basic(username.clone(), password.clone()),
                repository: REPOSITORY,
            };
            registry.push(multi).await?;
            Some(AuthRegistryJson {
                host: host.clone(),
                username: username.clone(),
                password: password.clone(),
                tags: vec![multi.tag],
            })
        }
        _ => None,
    };

    let (layout, archive) = write_oci(&args.out.join("oci"), multi)?;

    let json = FixturesJson {
        repository: REPOSITORY,
        registry: args.registry.clone(),
        auth_registry,
        tags: fixtures.iter().map(|f| (f.tag, tag_json(f))).collect(),
        oci: OciJson {
            layout,
            archive,
            ref_name: multi.tag,
            digest: multi.root.digest.clone(),
        },
    };
    let mut text = serde_json::to_vec_pretty(&json)?;
    text.push(b'\n');
    write_atomically(&args.out.join("fixtures.json"), &text)?;

    println!("{:<15} {:<11} {:<71} platforms", "tag", "kind", "digest");
    for fixture in &fixtures {
        let kind = match fixture.root.media_type {
            OCI_INDEX => "oci-index",
            DOCKER_LIST => "docker-list",
            _ => "manifest",
        };
        let tag = tag_json(fixture);
        println!(
            "{:<15} {:<11} {:<71} {}",
            fixture.tag,
            kind,
            fixture.root.digest,
            tag.platforms.keys().cloned().collect::<Vec<_>>().join(",")
        );
    }
    println!("wrote {}", args.out.join("fixtures.json").display());
    Ok(())
}

/// Build and push the real images, then record them under `real` in fixtures.json, keeping
/// everything else the file holds (the busybox fixtures' run wrote it).
async fn run_real(args: &Args, dir: &Path) -> Result<()> {
    let fixtures = real::fixtures(dir)?;
    let client = Client::new(ClientConfig {
        protocol: ClientProtocol::HttpsExcept(vec![args.registry.clone()]),
        ..ClientConfig::default()
    });
    let registry = Registry {
        client: &client,
        host: args.registry.clone(),
        auth: RegistryAuth::Anonymous,
        repository: real::REAL_REPOSITORY,
    };
    for fixture in &fixtures {
        registry.push(fixture).await?;
    }
    let path = args.out.join("fixtures.json");
    let text = fs::read(&path).map_err(|e| {
        format!(
            "cannot read {}: {e}; the busybox fixtures are built first",
            path.display()
        )
    })?;
    let mut json: serde_json::Value = serde_json::from_slice(&text)?;
    json["real"] = serde_json::json!({
        "repository": real::REAL_REPOSITORY,
        "registry": args.registry,
        "tags": fixtures.iter().map(|f| (f.tag, tag_json(f))).collect::<BTreeMap<_, _>>(),
    });
    let mut text = serde_json::to_vec_pretty(&json)?;
    text.push(b'\n');
    write_atomically(&path, &text)?;
    for fixture in &fixtures {
        println!(
            "{}/{}:{:<16} {}",
            args.registry,
            real::REAL_REPOSITORY,
            fixture.tag,
            fixture.root.digest
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first 20 bytes of an ELF header: class, data encoding and e_machine filled in.
    fn elf_header(class: u8, data: u8, machine: u16) -> Vec<u8> {
        let mut header = vec![0x7f, b'E', b'L', b'F', class, data];
        header.resize(18, 0);
        if data == 2 {
            header.extend(machine.to_be_bytes());
        } else {
            header.extend(machine.to_le_bytes());
        }
        header.extend([0; 4]);
        header
    }

    #[test]
    fn check_elf_accepts_the_right_architecture_and_rejects_others() {
        let path = Path::new("busybox");
        let x86_64 = elf_header(2, 1, 62);
        assert!(check_elf(path, &x86_64, AMD64).is_ok());
        assert!(check_elf(path, &x86_64, ARM64).is_err());
        assert!(check_elf(path, &elf_header(2, 2, 22), S390X).is_ok());
        // s390x's e_machine read little-endian would be 0x1600.
        assert!(check_elf(path, &elf_header(2, 1, 22), S390X).is_err());
        assert!(check_elf(path, &elf_header(1, 1, 40), ARMV7).is_ok());
        assert!(check_elf(path, b"#!/bin/sh\n", AMD64).is_err());
    }

    #[test]
    fn check_applets_names_the_missing_ones() {
        let path = Path::new("busybox");
        let all: Vec<u8> = APPLETS
            .split_whitespace()
            .flat_map(|a| [a.as_bytes(), b"\0"].concat())
            .collect();
        let table = [b"\0".as_slice(), &all].concat();
        assert!(check_applets(path, &table).is_ok());

        let without_sh = [b"\0".as_slice(), &all]
            .concat()
            .split(|b| *b == 0)
            .filter(|name| *name != b"sh")
            .collect::<Vec<_>>()
            .join(&0u8);
        let error = check_applets(path, &without_sh).expect_err("sh is missing");
        assert!(error.to_string().contains("[\"sh\"]"), "{error}");
    }
}
