//! The only module that speaks the registry protocol (through `oci-client`).
//!
//! It fetches manifests and small blobs by tag or digest, verifies every byte against its digest,
//! and turns the client's errors into [`ImageError`]s that say what to do. Credentials come from
//! the Docker config (`~/.docker/config.json`, including credential helpers) through
//! `docker_credential`; loopback registries are spoken to over plain HTTP, as Docker does.

use std::net::IpAddr;
use std::time::Duration;

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

use super::ImageError;
use super::manifest::{ACCEPTED, verify_digest};
use crate::diagnostic::chain;

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
}

impl Registry {
    /// A client for the registry of `reference`.
    pub fn new(reference: &Reference, credentials: Option<&Credentials>) -> Registry {
        let host = reference.resolve_registry().to_owned();
        let protocol = if is_loopback(&host) {
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
        Registry {
            client: Client::new(config),
            auth,
        }
    }

    /// The manifest `reference` points at (by tag or digest), with its verified digest.
    pub async fn manifest(&self, reference: &Reference) -> Result<(Vec<u8>, String), ImageError> {
        let (bytes, digest) = self
            .client
            .pull_manifest_raw(reference, &self.auth, ACCEPTED)
            .await
            .map_err(|e| classify(reference, e))?;
        // oci-client checks the digest header and a pinned digest; check the body ourselves too,
        // since a registry that sends no header would otherwise go unverified.
        if let Some(expected) = reference.digest() {
            verify_digest(&bytes, expected).map_err(|actual| ImageError::DigestMismatch {
                what: format!("manifest of {}", reference.whole()),
                expected: expected.to_owned(),
                actual,
            })?;
        }
        Ok((bytes.to_vec(), digest))
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
        let mut out = Vec::with_capacity(size.max(0) as usize);
        self.client
            .pull_blob(reference, &desc, &mut out)
            .await
            .map_err(|e| classify(reference, e))?;
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
