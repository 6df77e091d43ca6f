//! The "real" fixture images (issue 24): Debian bookworm root filesystems that
//! `tests/testbed/real-images.sh` unpacked from Debian's packages into one layer tar per part and
//! architecture. This module turns those tars into multi-platform OCI images under
//! `archsmoke/real` and describes them for fixtures.json.
//!
//! | tag               | amd64                          | arm64                                  |
//! |-------------------|--------------------------------|----------------------------------------|
//! | `python`          | python3 + numpy                | python3 + numpy                        |
//! | `nginx`           | nginx, EXPOSE 80               | nginx, EXPOSE 80                       |
//! | `kitchen`         | libc6-i386, -x32, arm64-cross, valgrind x86 helpers, Go testdata, QEMU firmware | multiarch libc6:armhf |
//! | `kitchen-defects` | as `kitchen`                   | `kitchen` + a layer with a static amd64 busybox and the amd64 python3.11 in /usr/local/bin |
//! | `rpm-sqlite`      | busybox, rpm database in `/usr/lib/sysimage/rpm/rpmdb.sqlite` (rpm 4.18), `/var/lib/rpm` a symlink to it | as amd64, plus `archsmoke-arm64` |
//! | `rpm-bdb`         | busybox, the same headers in `/var/lib/rpm/Packages` (Berkeley DB hash, db5.3) | as amd64, plus `archsmoke-arm64` |
//!
//! The rpm images' packages (tests/testbed/rpm-images.sh): `archsmoke-hello` 2:1.2.3-4 noarch,
//! `archsmoke-kernel` 6.1.0-1 and 6.1.0-2 of the platform's architecture; `CMD sleep 3600`, so
//! that a goss file's service stays up.
//!
//! The layers come compressed, with their diff_ids, from the script (gzip is much faster than
//! this program's debug build); the tars and gzip streams are reproducible, so are the digests.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use serde::Serialize;

use crate::Result;
use crate::image::{
    AMD64, ARM64, Blob, CREATED, Child, Fixture, Flavour, Image, Manifest, OCI_CONFIG,
    OCI_LAYER_GZIP, OCI_MANIFEST, PATH_ENV, Platform, index_fixture,
};

/// A layer real-images.sh compressed: the gzip blob and the digest of the tar inside.
struct Layer {
    gzip: Vec<u8>,
    diff_id: String,
}

/// Repository the real images are pushed to.
pub const REAL_REPOSITORY: &str = "archsmoke/real";

/// One real image: its tag, the layer parts stacked for each platform, and its config.
struct RealImage {
    tag: &'static str,
    /// Per platform, the parts (`<part>-<debian arch>.tar`) from the bottom up.
    layers: fn(Platform) -> Vec<&'static str>,
    config: fn() -> serde_json::Value,
}

fn images() -> Vec<RealImage> {
    vec![
        RealImage {
            tag: "python",
            layers: |_| vec!["python"],
            config: || serde_json::json!({ "Env": [PATH_ENV], "Cmd": ["python3"] }),
        },
        RealImage {
            tag: "nginx",
            layers: |_| vec!["nginx"],
            config: || {
                serde_json::json!({
                    "Env": [PATH_ENV],
                    "Cmd": ["nginx", "-g", "daemon off;"],
                    "ExposedPorts": { "80/tcp": {} },
                    "StopSignal": "SIGQUIT",
                })
            },
        },
        RealImage {
            tag: "kitchen",
            layers: |_| vec!["kitchen"],
            config: || serde_json::json!({ "Env": [PATH_ENV], "Cmd": ["sh"] }),
        },
        RealImage {
            tag: "kitchen-defects",
            layers: |p| {
                if p.debian_arch == "arm64" {
                    vec!["kitchen", "defects"]
                } else {
                    vec!["kitchen"]
                }
            },
            config: || serde_json::json!({ "Env": [PATH_ENV], "Cmd": ["sh"] }),
        },
        RealImage {
            tag: "rpm-sqlite",
            layers: |_| vec!["rpm-sqlite"],
            config: || serde_json::json!({ "Env": [PATH_ENV], "Cmd": ["sleep", "3600"] }),
        },
        RealImage {
            tag: "rpm-bdb",
            layers: |_| vec!["rpm-bdb"],
            config: || serde_json::json!({ "Env": [PATH_ENV], "Cmd": ["sleep", "3600"] }),
        },
    ]
}

#[derive(Serialize)]
struct Config {
    created: &'static str,
    architecture: &'static str,
    os: &'static str,
    config: serde_json::Value,
    rootfs: RootFs,
}

#[derive(Serialize)]
struct RootFs {
    #[serde(rename = "type")]
    kind: &'static str,
    diff_ids: Vec<String>,
}

/// An OCI image of several layers.
fn assemble(platform: Platform, config: serde_json::Value, layers: &[&Layer]) -> Result<Image> {
    let blobs: Vec<Blob> = layers
        .iter()
        .map(|l| Blob::new(OCI_LAYER_GZIP, l.gzip.clone()))
        .collect();
    let config = Blob::json(
        OCI_CONFIG,
        &Config {
            created: CREATED,
            architecture: platform.architecture,
            os: "linux",
            config,
            rootfs: RootFs {
                kind: "layers",
                diff_ids: layers.iter().map(|l| l.diff_id.clone()).collect(),
            },
        },
    )?;
    let manifest = Blob::json(
        OCI_MANIFEST,
        &Manifest {
            schema_version: 2,
            media_type: OCI_MANIFEST,
            config: config.oci(),
            layers: blobs.iter().map(Blob::oci).collect(),
        },
    )?;
    let mut all = vec![config];
    all.extend(blobs);
    Ok(Image {
        manifest,
        blobs: all,
    })
}

/// Every real image, from the layer tars in `dir`.
pub fn fixtures(dir: &Path) -> Result<Vec<Fixture>> {
    let mut layers: BTreeMap<String, Layer> = BTreeMap::new();
    let mut layer = |name: String| -> Result<()> {
        if let std::collections::btree_map::Entry::Vacant(slot) = layers.entry(name) {
            let read = |ext: &str| {
                let path = dir.join(format!("{}.{ext}", slot.key()));
                fs::read(&path).map_err(|e| {
                    format!(
                        "cannot read {}: {e}; run tests/testbed/up.sh, which makes it",
                        path.display()
                    )
                })
            };
            let layer = Layer {
                gzip: read("tar.gz")?,
                diff_id: String::from_utf8(read("diff_id")?)?.trim().to_owned(),
            };
            slot.insert(layer);
        }
        Ok(())
    };
    let images = images();
    for image in &images {
        for platform in [AMD64, ARM64] {
            for part in (image.layers)(platform) {
                layer(format!("{part}-{}", platform.debian_arch))?;
            }
        }
    }
    images
        .iter()
        .map(|image| {
            let children = [AMD64, ARM64]
                .into_iter()
                .map(|platform| {
                    let stack: Vec<&Layer> = (image.layers)(platform)
                        .iter()
                        .map(|part| &layers[&format!("{part}-{}", platform.debian_arch)])
                        .collect();
                    Ok(Child::Image {
                        platform,
                        image: assemble(platform, (image.config)(), &stack)?,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            index_fixture(image.tag, Flavour::Oci, children)
        })
        .collect()
}
