//! The only module that speaks the registry protocol (through `oci-client`).
//!
//! It fetches manifests and small blobs by tag or digest, verifies every byte against its digest,
//! and turns the client's errors into [`ImageError`]s that say what to do. Credentials come from
//! the Docker config (`~/.docker/config.json`, including credential helpers) through
//! `docker_credential`; loopback registries are spoken to over plain HTTP, as Docker does.
//!
//! Documents (manifests, indexes, configs) are read through a bounded path of this module's own:
//! oci-client reads a manifest body whole (`Response::bytes`), so a registry sending an endless
//! chunked body or a 200 MB manifest would have it held in memory. oci-client still does the
//! token exchange ([`Client::auth`]); the manifest request itself is made here with the same
//! reqwest, refused when its `Content-Length` is over the bound, and cut off as soon as the
//! streamed body passes it. Configs stream through oci-client's blob stream under the same kind
//! of bound (their declared size, at most 8 MiB).

use std::net::IpAddr;
use std::time::Duration;

use futures_util::StreamExt;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};

use super::ImageError;
use super::manifest::{ACCEPTED, MAX_MANIFEST_BYTES, sha256_digest, verify_digest};
use crate::diagnostic::chain;

pub mod referrers;

/// Image configs are tiny; anything larger is refused before download.
const MAX_CONFIG_BYTES: i64 = 8 << 20;

/// Registry credentials for one registry host, in a form both clients (registry and engine) use.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    // Never print the password, not even in debug logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// Look up credentials for a registry host in the Docker config. Anonymous when none are stored.
pub fn docker_credentials(registry: &str) -> Option<Credentials> {
    // Docker stores Docker Hub under its legacy index URL.
    let key = if registry == "docker.io" || registry == "index.docker.io" {
        "https://index.docker.io/v1/"
    } else {
        registry
    };
    if !config_readable() {
        return None;
    }
    match docker_credential::get_credential(key) {
        Ok(docker_credential::DockerCredential::UsernamePassword(username, password)) => {
            Some(Credentials { username, password })
        }
        Ok(docker_credential::DockerCredential::IdentityToken(_)) => {
            tracing::warn!(
                registry,
                "identity tokens are not supported; pulling anonymously"
            );
            None
        }
        Err(e) => {
            tracing::debug!(registry, error = %e, "no stored credentials");
            None
        }
    }
}

/// Whether the Docker config file may be handed to the credential reader, which reads it whole
/// and blocking: only a regular file of a sane size. Anything else is said once and the pull
/// goes on anonymously, as the docker CLI goes on without an unreadable config.
fn config_readable() -> bool {
    use crate::userfile::{CONFIG_LIMIT, ProcessEnv, docker_config_dir};
    static READABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *READABLE.get_or_init(|| {
        let path = docker_config_dir(&ProcessEnv).join("config.json");
        match crate::userfile::read(&path, CONFIG_LIMIT) {
            Ok(_) => true,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
            Err(e) => {
                tracing::warn!(
                    "cannot read {} ({e}); pulling without stored credentials",
                    path.display()
                );
                false
            }
        }
    })
}

/// Whether a registry host is on this machine: such registries are used over plain HTTP, as
/// Docker allows by default (its insecure-registries list always contains 127.0.0.0/8).
pub fn is_loopback(registry: &str) -> bool {
    let host = registry
        .rsplit_once(':')
        .filter(|(h, port)| !h.is_empty() && port.chars().all(|c| c.is_ascii_digit()))
        .map_or(registry, |(h, _)| h);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

pub struct Registry {
    client: Client,
    auth: RegistryAuth,
    /// The manifest requests of [`Registry::manifest`], made here so that bodies are bounded.
    http: reqwest::Client,
    /// Whether loopback: plain HTTP, as for oci-client.
    plain_http: bool,
    /// The bearer token of the token exchange, once made (`None`: the registry wants none, or
    /// basic auth).
    /// Boxed, like the credentials: the enum of image sources holds a registry inline.
    token: Box<tokio::sync::OnceCell<Option<String>>>,
    credentials: Option<Box<Credentials>>,
}

impl Registry {
    /// A client for the registry of `reference`.
    pub fn new(reference: &Reference, credentials: Option<&Credentials>) -> Registry {
        let host = reference.resolve_registry().to_owned();
        let plain_http = is_loopback(&host);
        let protocol = if plain_http {
            ClientProtocol::HttpsExcept(vec![host])
        } else {
            ClientProtocol::Https
        };
        let config = ClientConfig {
            protocol,
            connect_timeout: Some(Duration::from_secs(10)),
            read_timeout: Some(Duration::from_secs(60)),
            ..ClientConfig::default()
        };
        let auth = credentials.map_or(RegistryAuth::Anonymous, |c| {
            RegistryAuth::Basic(c.username.clone(), c.password.clone())
        });
        // The same timeouts as oci-client's: a registry that stops sending fails the read.
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(60))
            .build()
            .unwrap_or_default();
        Registry {
            client: Client::new(config),
            auth,
            http,
            plain_http,
            token: Box::default(),
            credentials: credentials.cloned().map(Box::new),
        }
    }

    /// The manifest `reference` points at (by tag or digest), with its verified digest. The body
    /// is bounded to 4 MiB while it streams (see the module doc).
    pub async fn manifest(&self, reference: &Reference) -> Result<(Vec<u8>, String), ImageError> {
        let what = format!("manifest of {}", reference.whole());
        let url = self.manifest_url(reference);
        let mut request = self
            .http
            .get(&url)
            .header(reqwest::header::ACCEPT, ACCEPTED.join(", "));
        request = self.authorize(request, reference).await?;
        let response = request
            .send()
            .await
            .map_err(|e| classify(reference, e.into()))?;
        let status = response.status();
        let header_digest = response
            .headers()
            .get("Docker-Content-Digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if !status.is_success() {
            // An error body is only read for its message: a small bound is plenty.
            let body = bounded_body(response, 64 << 10, &what)
                .await
                .unwrap_or_default();
            return Err(classify(reference, status_error(status, &body, &url)));
        }
        let bytes = bounded_body(response, MAX_MANIFEST_BYTES, &what)
            .await
            .map_err(|e| match e {
                BodyError::TooLarge(detail) => ImageError::Malformed {
                    what: what.clone(),
                    detail,
                },
                BodyError::Read(e) => classify(reference, e.into()),
            })?;
        // A pinned digest and the registry's digest header must both match the body; a registry
        // that sends neither is still verified by the caller against the index that named it.
        for expected in reference
            .digest()
            .into_iter()
            .chain(header_digest.as_deref())
        {
            verify_digest(&bytes, expected).map_err(|actual| ImageError::DigestMismatch {
                what: what.clone(),
                expected: expected.to_owned(),
                actual,
            })?;
        }
        let digest = reference
            .digest()
            .map(str::to_owned)
            .unwrap_or_else(|| sha256_digest(&bytes));
        Ok((bytes, digest))
    }

    /// The bearer token for `reference`'s repository, exchanged once (oci-client does the
    /// exchange; `None` when the registry asks for none or for basic auth).
    /// `request` with this registry's credentials: its bearer token when it hands out tokens,
    /// else basic auth with the user's credentials, else nothing.
    async fn authorize(
        &self,
        request: reqwest::RequestBuilder,
        reference: &Reference,
    ) -> Result<reqwest::RequestBuilder, ImageError> {
        Ok(match self.bearer(reference).await? {
            Some(token) => request.bearer_auth(token),
            None => match &self.credentials {
                Some(c) => request.basic_auth(&c.username, Some(&c.password)),
                None => request,
            },
        })
    }

    async fn bearer(&self, reference: &Reference) -> Result<Option<String>, ImageError> {
        self.token
            .get_or_try_init(|| async {
                self.client
                    .auth(reference, &self.auth, RegistryOperation::Pull)
                    .await
                    .map_err(|e| classify(reference, e))
            })
            .await
            .cloned()
    }

    fn manifest_url(&self, reference: &Reference) -> String {
        let registry = reference.resolve_registry();
        let scheme = if self.plain_http { "http" } else { "https" };
        let at = reference
            .digest()
            .or_else(|| reference.tag())
            .unwrap_or("latest");
        let ns = reference
            .namespace()
            .map(|ns| format!("?ns={ns}"))
            .unwrap_or_default();
        format!(
            "{scheme}://{registry}/v2/{}/manifests/{at}{ns}",
            reference.repository()
        )
    }

    /// A small blob (an image config), verified against its digest.
    pub async fn small_blob(
        &self,
        reference: &Reference,
        digest: &str,
        size: i64,
    ) -> Result<Vec<u8>, ImageError> {
        if size > MAX_CONFIG_BYTES {
            return Err(ImageError::Malformed {
                what: format!("blob {digest} of {}", reference.whole()),
                detail: format!("declared size {size} bytes is larger than any image config"),
            });
        }
        let desc = oci_client::manifest::OciDescriptor {
            digest: digest.to_owned(),
            size,
            ..Default::default()
        };
        let what = format!("blob {digest} of {}", reference.whole());
        let sized = self
            .client
            .pull_blob_stream(reference, &desc)
            .await
            .map_err(|e| classify(reference, e))?;
        // The declared size is the bound: a registry sending more is cut off, not buffered.
        let limit = usize::try_from(size.max(0)).unwrap_or(0);
        if sized.content_length.is_some_and(|n| n > limit as u64) {
            return Err(ImageError::Malformed {
                what,
                detail: format!(
                    "the registry announced {} bytes, more than the {size} its descriptor declares",
                    sized.content_length.unwrap_or_default()
                ),
            });
        }
        let mut out = Vec::with_capacity(limit);
        let mut stream = sized.stream;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| ImageError::Registry {
                registry: reference.resolve_registry().to_owned(),
                detail: format!("reading {what}: {e}"),
            })?;
            if out.len() + chunk.len() > limit {
                return Err(ImageError::Malformed {
                    what,
                    detail: format!("the registry sent more than the {size} bytes declared"),
                });
            }
            out.extend_from_slice(&chunk);
        }
        verify_digest(&out, digest).map_err(|actual| ImageError::DigestMismatch {
            what: format!("blob of {}", reference.whole()),
            expected: digest.to_owned(),
            actual,
        })?;
        Ok(out)
    }

    /// A blob (an image layer) as a byte stream, never held whole in memory. oci-client verifies
    /// it against `digest` as it streams: a mismatch is a read error at the end.
    pub async fn blob_stream(
        &self,
        reference: &Reference,
        digest: &str,
        size: i64,
    ) -> Result<std::pin::Pin<Box<dyn tokio::io::AsyncRead + Send>>, ImageError> {
        let desc = oci_client::manifest::OciDescriptor {
            digest: digest.to_owned(),
            size,
            ..Default::default()
        };
        let sized = self
            .client
            .pull_blob_stream(reference, &desc)
            .await
            .map_err(|e| classify(reference, e))?;
        Ok(Box::pin(tokio_util::io::StreamReader::new(sized.stream)))
    }

    /// Make sure later requests carry a token; needed before concurrent fetches so that each one
    /// does not start its own token exchange.
    pub async fn authenticate(&self, reference: &Reference) {
        self.client
            .store_auth_if_needed(reference.resolve_registry(), &self.auth)
            .await;
    }
}

/// Why a bounded body could not be read.
enum BodyError {
    /// Over the bound: what was announced or sent.
    TooLarge(String),
    Read(reqwest::Error),
}

/// A response body, read chunk by chunk and abandoned as soon as it passes `limit` bytes (or
/// when its `Content-Length` announces more): memory stays bounded whatever the server sends.
async fn bounded_body(
    mut response: reqwest::Response,
    limit: usize,
    what: &str,
) -> Result<Vec<u8>, BodyError> {
    let mib = limit >> 20;
    if let Some(announced) = response.content_length()
        && announced > limit as u64
    {
        return Err(BodyError::TooLarge(format!(
            "the registry announced {announced} bytes for the {what}, more than the {mib} MiB \
             a document may have; refused before download"
        )));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Read)? {
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge(format!(
                "the registry sent more than {mib} MiB for the {what}, more than a document may \
                 have; stopped reading"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The error oci-client would have made of a failed manifest request, so [`classify`] applies.
fn status_error(status: reqwest::StatusCode, body: &[u8], url: &str) -> OciDistributionError {
    if status == reqwest::StatusCode::UNAUTHORIZED {
        return OciDistributionError::UnauthorizedError {
            url: url.to_owned(),
        };
    }
    if status.is_client_error()
        && let Ok(envelope) = serde_json::from_slice(body)
    {
        return OciDistributionError::RegistryError {
            envelope,
            url: url.to_owned(),
        };
    }
    OciDistributionError::ServerError {
        code: status.as_u16(),
        url: url.to_owned(),
        message: String::from_utf8_lossy(body).into_owned(),
    }
}

fn classify(reference: &Reference, e: OciDistributionError) -> ImageError {
    let registry = reference.resolve_registry().to_owned();
    let what = reference.whole();
    match e {
        OciDistributionError::RequestError(err) if err.is_connect() || err.is_timeout() => {
            ImageError::Unreachable {
                registry,
                detail: chain(&err),
            }
        }
        OciDistributionError::UnauthorizedError { .. }
        | OciDistributionError::AuthenticationFailure(_) => ImageError::Unauthorized {
            registry,
            reference: what,
        },
        OciDistributionError::RegistryError { envelope, .. } => {
            let codes: Vec<&OciErrorCode> = envelope.errors.iter().map(|e| &e.code).collect();
            if codes
                .iter()
                .any(|c| matches!(c, OciErrorCode::Unauthorized | OciErrorCode::Denied))
            {
                ImageError::Unauthorized {
                    registry,
                    reference: what,
                }
            } else if codes.iter().any(|c| {
                matches!(
                    c,
                    OciErrorCode::ManifestUnknown
                        | OciErrorCode::NameUnknown
                        | OciErrorCode::BlobUnknown
                        | OciErrorCode::NotFound
                )
            }) {
                ImageError::NotFound { reference: what }
            } else {
                ImageError::Registry {
                    registry,
                    detail: envelope.to_string(),
                }
            }
        }
        OciDistributionError::ImageManifestNotFoundError(_) => {
            ImageError::NotFound { reference: what }
        }
        OciDistributionError::ServerError { code: 404, .. } => {
            ImageError::NotFound { reference: what }
        }
        OciDistributionError::ServerError {
            code: 401 | 403, ..
        } => ImageError::Unauthorized {
            registry,
            reference: what,
        },
        OciDistributionError::DigestError(oci_client::errors::DigestError::VerificationError {
            expected,
            actual,
        }) => ImageError::DigestMismatch {
            what: format!("manifest of {what}"),
            expected,
            actual,
        },
        other => ImageError::Registry {
            registry,
            detail: chain(&other),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for h in [
            "127.0.0.1:5000",
            "localhost:5000",
            "localhost",
            "[::1]:5000",
            "127.1.2.3",
        ] {
            assert!(is_loopback(h), "{h}");
        }
        for h in [
            "docker.io",
            "10.0.0.1:5000",
            "registry.example:5000",
            "ghcr.io",
        ] {
            assert!(!is_loopback(h), "{h}");
        }
    }

    #[test]
    fn credentials_never_show_the_password() {
        let c = Credentials {
            username: "u".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
