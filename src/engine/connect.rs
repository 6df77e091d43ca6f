//! Reaching an engine: connecting (the transport for each kind of endpoint, the API version
//! negotiated, the crypto provider installed once), the hint a failed connection gets, and the
//! engine's description of itself (`info`).

// One `Engine`, split by job: each part shares the module's imports and helpers.
use super::*;

/// bollard's per-request timeout (response headers only; runs have their own deadlines).
pub(super) const REQUEST_TIMEOUT_SECS: u64 = 120;

pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

pub(super) enum Opened {
    Config(String, String),
    Bollard(BollardError),
}

/// A bollard client for `endpoint` (nothing is dialled yet), and for ssh the slot where the
/// ssh client's stderr lands.
pub(super) fn open(endpoint: &Endpoint) -> Result<(Docker, Option<ssh::SshStderr>), Opened> {
    let version = bollard::API_DEFAULT_VERSION;
    let host = endpoint.host.as_str();
    if host.starts_with("ssh://") {
        let target = endpoint::SshTarget::parse(host)
            .map_err(|e| Opened::Config(e, "write ssh://[user@]host[:port]".into()))?;
        let (docker, stderr) =
            ssh::connect(target, REQUEST_TIMEOUT_SECS, version).map_err(Opened::Bollard)?;
        return Ok((docker, Some(stderr)));
    }
    // Dialled by archsmoke, so that every reply is bounded ([`transport`]).
    let dialer = if let Some(path) = host.strip_prefix("unix://") {
        transport::unix(path)
    } else if host.starts_with("tcp://")
        || host.starts_with("http://")
        || host.starts_with("https://")
    {
        let address = tcp_address(host, endpoint.tls.is_some());
        match &endpoint.tls {
            Some(tls) => {
                for file in [&tls.ca, &tls.cert, &tls.key] {
                    if !file.is_file() {
                        return Err(Opened::Config(
                            format!("TLS file {} does not exist", file.display()),
                            "give ca.pem, cert.pem and key.pem (DOCKER_CERT_PATH, the context's \
                             TLS files, or ca/cert/key in the [[engine]] table)"
                                .into(),
                        ));
                    }
                }
                transport::tls(&address, tls).map_err(|detail| {
                    Opened::Config(
                        format!("cannot use the TLS files: {detail}"),
                        "give the PEM files Docker uses (ca.pem, cert.pem, key.pem)".into(),
                    )
                })?
            }
            None if host.starts_with("https://") => {
                return Err(Opened::Config(
                    format!("{host} needs TLS files"),
                    "set DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH, or give ca/cert/key".into(),
                ));
            }
            None => transport::tcp(&address),
        }
    } else {
        return Err(Opened::Config(
            format!("unsupported engine URL {host}"),
            "use unix:///path, tcp://host:port (with TLS files) or ssh://[user@]host[:port]".into(),
        ));
    };
    let docker = transport::client(dialer, REQUEST_TIMEOUT_SECS, version);
    docker.map(|d| (d, None)).map_err(Opened::Bollard)
}

/// `host:port` of a `tcp://`, `http://` or `https://` engine URL; without a port, Docker's
/// (2376 with TLS, 2375 without).
pub(super) fn tcp_address(url: &str, tls: bool) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or(rest);
    let has_port = match authority.rfind(']') {
        Some(end) => authority[end..].contains(':'),
        None => authority.contains(':'),
    };
    if has_port {
        authority.to_owned()
    } else {
        format!("{authority}:{}", if tls { 2376 } else { 2375 })
    }
}

/// What to do about an engine that did not answer, from what went wrong.
pub(super) fn connect_hint(endpoint: &Endpoint, detail: &str) -> String {
    let d = detail.to_ascii_lowercase();
    if d.contains("host key verification failed") || d.contains("host key") {
        let port = endpoint::SshTarget::parse(&endpoint.host)
            .ok()
            .and_then(|t| t.port.map(|p| format!("-p {p} ")))
            .unwrap_or_default();
        let host = endpoint::SshTarget::parse(&endpoint.host)
            .map(|t| t.host)
            .unwrap_or_default();
        return format!(
            "ssh does not know this host's key: check it, then add it to known_hosts \
             (`ssh-keyscan {port}{host} >> ~/.ssh/known_hosts`, or `ssh {port}{host}` once and \
             accept it)"
        );
    }
    // The engine runs but this user may not open its socket: the most common first error of
    // all, and starting the engine would not fix it.
    if d.contains("permission denied") && !endpoint.is_ssh() {
        let socket = endpoint
            .host
            .strip_prefix("unix://")
            .unwrap_or(&endpoint.host);
        return format!(
            "the engine is running, but this user may not use its socket {socket}: run as root, \
             or join the group that owns it (usually `docker`: `usermod -aG docker $USER`, then \
             log in again)"
        );
    }
    if d.contains("permission denied") {
        return "ssh refused the login: add your public key to the remote user's \
                authorized_keys, or load it in ssh-agent"
            .into();
    }
    if d.contains("certificate") || d.contains("tls") || d.contains("handshake") {
        return format!(
            "the TLS handshake with {} failed: give the CA that signed the engine's certificate \
             and a client certificate the engine trusts (ca.pem, cert.pem, key.pem{})",
            endpoint.host,
            endpoint
                .tls
                .as_ref()
                .map(|t| format!("; used {}", t.ca.display()))
                .unwrap_or_default()
        );
    }
    if endpoint.is_ssh() {
        return "check that `ssh HOST docker version` works from here (the remote side needs the \
                docker CLI, whose `docker system dial-stdio` archsmoke speaks through)"
            .into();
    }
    format!(
        "start the engine (`systemctl start docker`, or `dockerd &` as root), or point {} at \
         one that runs",
        match endpoint.origin.as_str() {
            "--host" => "--host",
            "DOCKER_HOST" => "DOCKER_HOST",
            o if o.starts_with("context") => "the context",
            endpoint::DEFAULT_ORIGIN => "DOCKER_HOST",
            _ => "the engine's URL",
        }
    ) + if endpoint.origin == endpoint::DEFAULT_ORIGIN {
        "; on a laptop, start Docker Desktop, colima, OrbStack or Rancher Desktop (each makes \
         its context current), or point DOCKER_HOST at a rootless engine, e.g. \
         unix://$XDG_RUNTIME_DIR/podman/podman.sock after `systemctl --user start \
         podman.socket`; `archsmoke doctor` lists the engine sockets it finds"
    } else {
        ""
    }
}

/// bollard's TLS and oci-client's share rustls; with one crypto provider compiled in rustls
/// picks it itself, and installing it explicitly keeps that true if another crate ever adds a
/// second provider (rustls then panics at the first handshake instead).
pub(super) fn install_crypto_provider() {
    // An error means one is installed already: fine either way.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

impl Engine {
    /// Connect to the default engine: `host` (`--host`), else what the docker CLI would use
    /// (`DOCKER_HOST`, `DOCKER_CONTEXT`, the current context, the default socket), and check
    /// that it answers.
    pub async fn connect(host: Option<&str>) -> Result<Engine, EngineError> {
        let endpoint = endpoint::default_endpoint(host, &endpoint::ProcessEnv).map_err(|e| {
            EngineError::Config {
                engine: crate::outcome::DEFAULT_ENGINE.into(),
                detail: e.what,
                hint: e.hint,
            }
        })?;
        Engine::connect_to(&endpoint).await
    }

    /// Connect to one named engine and check that it answers.
    pub async fn connect_to(endpoint: &Endpoint) -> Result<Engine, EngineError> {
        install_crypto_provider();
        let unreachable = |detail: String| EngineError::Unreachable {
            engine: endpoint.name.clone(),
            endpoint: endpoint.host.clone(),
            origin: endpoint.origin.clone(),
            hint: connect_hint(endpoint, &detail),
            detail,
        };
        let (docker, ssh_stderr) = open(endpoint).map_err(|e| match e {
            Opened::Config(detail, hint) => EngineError::Config {
                engine: endpoint.name.clone(),
                detail,
                hint,
            },
            Opened::Bollard(e) => unreachable(chain(&e)),
        })?;
        // bollard speaks a newer API than old engines accept; agree on one first.
        let negotiated = tokio::time::timeout(CONNECT_TIMEOUT, docker.negotiate_version()).await;
        let failure = match negotiated {
            Ok(Ok(docker)) => {
                return Ok(Engine {
                    docker,
                    endpoint: endpoint.host.clone(),
                    name: endpoint.name.clone(),
                    local: endpoint.is_local(),
                    withheld: trust::untrusted_transport(endpoint),
                    gate: Default::default(),
                });
            }
            Ok(Err(e)) => chain(&e),
            Err(_) => format!("no answer within {CONNECT_TIMEOUT:?}"),
        };
        // ssh's own words ("Host key verification failed.") say more than hyper's.
        if let Some(stderr) = ssh_stderr {
            for _ in 0..20 {
                let text = stderr.text();
                if !text.is_empty() {
                    return Err(unreachable(format!("ssh: {text}")));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Err(unreachable(failure))
    }

    /// The engine's name: "default", or the name an `[[engine]]` table or `--engine` gave it.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Never send this engine registry credentials, for the reason `why` (said when a pull
    /// fails).
    pub fn withhold_credentials(&mut self, why: String) {
        if self.withheld.is_none() {
            self.withheld = Some(why);
        }
    }

    pub async fn info(&self) -> Result<EngineInfo, EngineError> {
        let op = op("describe itself");
        let (info, version) = tokio::time::timeout(CONNECT_TIMEOUT, async {
            tokio::try_join!(self.docker.info(), self.docker.version())
        })
        .await
        .map_err(|_| EngineError::Operation {
            op: "describe itself",
            detail: format!(
                "no answer to /info within {CONNECT_TIMEOUT:?}: the engine is not responding"
            ),
        })?
        .map_err(op)?;
        let os = info.os_type.clone().unwrap_or_else(|| "linux".into());
        let machine = info.architecture.clone().unwrap_or_default();
        let kernel = printable(&info.kernel_version.clone().unwrap_or_default());
        let locality = locality::judge(self.local, &locality::ThisMachine::read(), &kernel);
        // Rootless Docker says so in its security options; Podman's Docker API does not, but
        // an engine on this kernel whose socket a user owns runs as that user.
        let rootless = info
            .security_options
            .iter()
            .flatten()
            .any(|o| o.contains("name=rootless"))
            || (locality.shares_kernel && locality::socket_owner_is_a_user(&self.endpoint));
        Ok(EngineInfo {
            local: locality.shares_kernel,
            local_why: locality.why,
            kernel,
            operating_system: printable(&info.operating_system.clone().unwrap_or_default()),
            endpoint: self.endpoint.clone(),
            version: printable(&version.version.unwrap_or_default()),
            api_version: printable(&version.api_version.unwrap_or_default()),
            platform: platform::from_uname_machine(&printable(&os), &printable(&machine)),
            rootless,
        })
    }
}
