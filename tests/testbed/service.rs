//! The service fixtures: busybox `httpd` serving a small site, as images whose ENTRYPOINT starts
//! the server, on every platform, plus the variants the service tests need (no shell at all,
//! a slow start, a crash on one platform, another port on one platform).
//!
//! Their layers are separate from the `multi` fixtures' (which stay byte-identical): busybox
//! with the applets a web service uses (`httpd`, `wget` for the HEALTHCHECK, `nc`), the site
//! under `/www` (a CGI script that answers slowly, one that prints the machine) and `/bin/start`,
//! the entrypoint script. The configuration (port, delay, crash) is in each image's `Env`, so one
//! layer per architecture serves every variant.
//!
//! `web-tls` (linux/amd64 and linux/arm64) is the HTTPS fixture: nothing but
//! `testbed-tls-server` (tests/testbed/tls_server.rs) with the test bed's server certificate
//! and key, listening on 8443. up.sh generates the certificate (signed by the test bed's own CA,
//! `tls/ca.pem` in the state directory) and builds the server for both architectures.

use serde::Serialize;

use crate::Result;
use crate::image::{
    ALL_PLATFORMS, AMD64, APPLETS, ARM64, Blob, CREATED, Child, EPOCH, Fixture, Flavour, Image,
    Manifest, OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST, PATH_ENV, Platform, RootFs, S390X,
    index_fixture, sha256_digest,
};
use crate::tarball::{Entry, tar_archive};

/// The entrypoint of the `web` images: crash when asked to, wait when asked to, say so, then
/// run httpd as a child so that SIGTERM (which PID 1 ignores without a handler) stops it.
const START: &str = r#"#!/bin/sh
port=${PORT:-8080}
if [ -n "$CRASH" ]; then
  echo "fatal: cannot start on $(uname -m)" >&2
  exit 3
fi
[ -n "$DELAY" ] && sleep "$DELAY"
trap 'kill $pid; wait $pid; exit 0' TERM
httpd -f -v -p "$port" -h /www &
pid=$!
echo "httpd: listening on port $port"
wait $pid
"#;

const INDEX_HTML: &str = "<!doctype html>\n<html><head><title>archsmoke web</title></head>\n\
<body><h1>welcome to archsmoke</h1></body></html>\n";

/// Answers after three seconds: the "slow HTTP" fault.
const SLOW_CGI: &str =
    "#!/bin/sh\nsleep 3\necho 'Content-Type: text/plain'\necho\necho 'slow answer'\n";

/// Answers with the machine the server runs on.
const ARCH_CGI: &str = "#!/bin/sh\necho 'Content-Type: text/plain'\necho\nuname -m\n";

/// Gzipped layer and diff_id.
struct ServiceLayer {
    gzip: Vec<u8>,
    diff_id: String,
}

fn layer(entries: Vec<(String, Entry)>) -> Result<ServiceLayer> {
    use std::io::Write;
    let tar = tar_archive(entries, EPOCH)?;
    let diff_id = sha256_digest(&tar);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar)?;
    Ok(ServiceLayer {
        gzip: gz.finish()?,
        diff_id,
    })
}

fn site() -> Vec<(String, Entry)> {
    vec![
        ("www/".into(), Entry::Dir(0o755)),
        (
            "www/index.html".into(),
            Entry::File(0o644, INDEX_HTML.into()),
        ),
        ("www/cgi-bin/".into(), Entry::Dir(0o755)),
        (
            "www/cgi-bin/slow".into(),
            Entry::File(0o755, SLOW_CGI.into()),
        ),
        (
            "www/cgi-bin/arch".into(),
            Entry::File(0o755, ARCH_CGI.into()),
        ),
        ("etc/".into(), Entry::Dir(0o755)),
        (
            "etc/passwd".into(),
            Entry::File(
                0o644,
                b"root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:www:/www:/bin/false\n".to_vec(),
            ),
        ),
        (
            "etc/group".into(),
            Entry::File(0o644, b"root:x:0:\nwww:x:33:\n".to_vec()),
        ),
        ("tmp/".into(), Entry::Dir(0o1777)),
    ]
}

/// busybox with its applets, the site, and `/bin/start`.
fn web_layer(busybox: &[u8]) -> Result<ServiceLayer> {
    let mut entries = site();
    entries.push(("bin/".into(), Entry::Dir(0o755)));
    entries.push(("bin/busybox".into(), Entry::File(0o755, busybox.to_vec())));
    entries.push(("bin/start".into(), Entry::File(0o755, START.into())));
    for applet in APPLETS.split_whitespace().chain(["httpd", "wget", "nc"]) {
        entries.push((format!("bin/{applet}"), Entry::Symlink("busybox")));
    }
    layer(entries)
}

/// Nothing but the server: `/bin/httpd` is a copy of busybox (a multi-call binary picks its
/// applet from argv[0]), with no shell and no other applet.
fn noshell_layer(busybox: &[u8]) -> Result<ServiceLayer> {
    let mut entries = site();
    entries.retain(|(p, _)| !p.starts_with("www/cgi-bin"));
    entries.push(("bin/".into(), Entry::Dir(0o755)));
    entries.push(("bin/httpd".into(), Entry::File(0o755, busybox.to_vec())));
    layer(entries)
}

#[derive(Serialize)]
struct Config {
    created: &'static str,
    architecture: &'static str,
    os: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    variant: Option<&'static str>,
    config: RunConfig,
    rootfs: RootFs,
}

#[derive(Serialize)]
struct RunConfig {
    #[serde(rename = "Env")]
    env: Vec<String>,
    #[serde(rename = "Entrypoint")]
    entrypoint: Vec<&'static str>,
    #[serde(rename = "ExposedPorts")]
    exposed_ports: std::collections::BTreeMap<String, serde_json::Value>,
    #[serde(rename = "Healthcheck", skip_serializing_if = "Option::is_none")]
    healthcheck: Option<Healthcheck>,
}

#[derive(Serialize)]
struct Healthcheck {
    #[serde(rename = "Test")]
    test: Vec<&'static str>,
    /// Nanoseconds, as the image config stores durations.
    #[serde(rename = "Interval")]
    interval: u64,
    #[serde(rename = "Timeout")]
    timeout: u64,
    #[serde(rename = "Retries")]
    retries: u32,
}

/// What differs between the service images of one platform.
struct Variant {
    env: Vec<String>,
    entrypoint: Vec<&'static str>,
    port: u16,
    healthcheck: bool,
}

fn web(env: &[&str]) -> Variant {
    let port = env
        .iter()
        .find_map(|e| e.strip_prefix("PORT="))
        .map_or(8080, |p| p.parse().unwrap_or(8080));
    Variant {
        env: std::iter::once(PATH_ENV.to_owned())
            .chain(env.iter().map(|e| (*e).to_owned()))
            .collect(),
        entrypoint: vec!["/bin/start"],
        port,
        healthcheck: true,
    }
}

fn service_image(platform: Platform, layer: &ServiceLayer, v: &Variant) -> Result<Image> {
    const SECOND: u64 = 1_000_000_000;
    let config = Config {
        created: CREATED,
        architecture: platform.architecture,
        os: "linux",
        variant: platform.variant,
        config: RunConfig {
            env: v.env.clone(),
            entrypoint: v.entrypoint.clone(),
            exposed_ports: [(format!("{}/tcp", v.port), serde_json::json!({}))].into(),
            healthcheck: v.healthcheck.then(|| Healthcheck {
                test: vec![
                    "CMD",
                    "wget",
                    "-q",
                    "-O",
                    "/dev/null",
                    "http://127.0.0.1:8080/",
                ],
                interval: SECOND / 2,
                timeout: 10 * SECOND,
                retries: 3,
            }),
        },
        rootfs: RootFs {
            kind: "layers",
            diff_ids: vec![layer.diff_id.clone()],
        },
    };
    let config = Blob::json(OCI_CONFIG, &config)?;
    let layer = Blob::new(OCI_LAYER_GZIP, layer.gzip.clone());
    let manifest = Blob::json(
        OCI_MANIFEST,
        &Manifest {
            schema_version: 2,
            media_type: OCI_MANIFEST,
            config: config.oci(),
            layers: vec![layer.oci()],
        },
    )?;
    Ok(Image {
        manifest,
        blobs: vec![config, layer],
    })
}

/// The service fixtures, from each platform's busybox.
pub fn fixtures(busybox: impl Fn(Platform) -> Result<Vec<u8>>) -> Result<Vec<Fixture>> {
    let mut web_layers = Vec::new();
    let mut noshell_layers = Vec::new();
    for p in ALL_PLATFORMS {
        let bytes = busybox(p)?;
        web_layers.push((p.debian_arch, web_layer(&bytes)?));
        noshell_layers.push((p.debian_arch, noshell_layer(&bytes)?));
    }
    let of = |layers: &[(&str, ServiceLayer)], p: Platform| -> Result<usize> {
        layers
            .iter()
            .position(|(a, _)| *a == p.debian_arch)
            .ok_or_else(|| format!("no service layer for {}", p.debian_arch).into())
    };
    let index = |tag: &'static str,
                 platforms: &[Platform],
                 layers: &[(&str, ServiceLayer)],
                 variant: &dyn Fn(Platform) -> Variant|
     -> Result<Fixture> {
        let children = platforms
            .iter()
            .map(|p| {
                let layer = &layers[of(layers, *p)?].1;
                Ok(Child::Image {
                    platform: *p,
                    image: service_image(*p, layer, &variant(*p))?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        index_fixture(tag, Flavour::Oci, children)
    };
    let noshell = |_: Platform| Variant {
        env: vec![PATH_ENV.to_owned()],
        entrypoint: vec!["/bin/httpd", "-f", "-v", "-p", "8080", "-h", "/www"],
        port: 8080,
        healthcheck: false,
    };
    Ok(vec![
        index("web", &ALL_PLATFORMS, &web_layers, &|_| web(&[]))?,
        index("web-noshell", &ALL_PLATFORMS, &noshell_layers, &noshell)?,
        index("web-slow", &[AMD64, ARM64], &web_layers, &|_| {
            web(&["DELAY=3"])
        })?,
        index("web-crash", &[AMD64, ARM64, S390X], &web_layers, &|p| {
            if p.architecture == "s390x" {
                web(&["CRASH=1"])
            } else {
                web(&[])
            }
        })?,
        index("web-port", &[AMD64, ARM64], &web_layers, &|p| {
            if p.architecture == "arm64" {
                web(&["PORT=8081"])
            } else {
                web(&[])
            }
        })?,
    ])
}

/// Where the TLS server listens in `web-tls`.
const TLS_PORT: u16 = 8443;

/// The `web-tls` fixture from `dir` (`server.pem`, `server.key`, `bin/`).
pub fn web_tls(dir: &std::path::Path) -> Result<Fixture> {
    let read = |name: &str| -> Result<Vec<u8>> {
        let path = dir.join(name);
        std::fs::read(&path).map_err(|e| {
            format!(
                "cannot read {}: {e}; run tests/testbed/up.sh, which makes it",
                path.display()
            )
            .into()
        })
    };
    let cert = read("server.pem")?;
    let key = read("server.key")?;
    let children = [AMD64, ARM64]
        .into_iter()
        .map(|p| {
            let server = read(&format!("bin/testbed-tls-server-linux-{}", p.debian_arch))?;
            let layer = layer(vec![
                ("bin/".into(), Entry::Dir(0o755)),
                ("bin/testbed-tls-server".into(), Entry::File(0o755, server)),
                ("etc/".into(), Entry::Dir(0o755)),
                ("etc/tls/".into(), Entry::Dir(0o755)),
                (
                    "etc/tls/server.pem".into(),
                    Entry::File(0o644, cert.clone()),
                ),
                ("etc/tls/server.key".into(), Entry::File(0o644, key.clone())),
                ("tmp/".into(), Entry::Dir(0o1777)),
            ])?;
            let variant = Variant {
                env: vec![PATH_ENV.to_owned()],
                entrypoint: vec![
                    "/bin/testbed-tls-server",
                    "8443",
                    "/etc/tls/server.pem",
                    "/etc/tls/server.key",
                ],
                port: TLS_PORT,
                healthcheck: false,
            };
            Ok(Child::Image {
                platform: p,
                image: service_image(p, &layer, &variant)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    index_fixture("web-tls", Flavour::Oci, children)
}
