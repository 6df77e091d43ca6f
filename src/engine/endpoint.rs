//! Where an engine is: its URL and TLS material, found the way the docker CLI finds them.
//!
//! The default engine follows the docker CLI's precedence exactly: `--host`, then `DOCKER_HOST`,
//! then the context named by `DOCKER_CONTEXT`, then `currentContext` in the Docker config, then
//! the default socket. A `tcp://` URL uses TLS when `DOCKER_TLS_VERIFY` is set (material from
//! `DOCKER_CERT_PATH`, else the Docker config directory), or when a context or an `[[engine]]`
//! table gives TLS files. Contexts are read from the context store (`contexts/meta/<sha256 of
//! the name>/meta.json`, TLS files under `contexts/tls/<same>/docker/`). Everything here is pure
//! but for reading files, so the precedence is unit-tested with a fake environment.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::outcome::DEFAULT_ENGINE;
pub use crate::userfile::{CONFIG_LIMIT, Env, ProcessEnv, docker_config_dir};

const DEFAULT_SOCKET: &str = "unix:///var/run/docker.sock";

/// TLS material for a `tcp://` engine (Docker's `ca.pem`, `cert.pem`, `key.pem`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TlsFiles {
    /// The three files of a `DOCKER_CERT_PATH`-style directory.
    pub fn in_dir(dir: &Path) -> TlsFiles {
        TlsFiles {
            ca: dir.join("ca.pem"),
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
        }
    }
}

/// One engine to connect to, and where that choice came from (for error messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// "default", or the name an `[[engine]]` table or `--engine` gave it.
    pub name: String,
    /// `unix://`, `tcp://`, `http://`, `https://` or `ssh://`.
    pub host: String,
    pub tls: Option<TlsFiles>,
    /// "--host", "DOCKER_HOST", "context NAME", "the default socket", "--engine", "spec".
    pub origin: String,
}

impl Endpoint {
    /// An engine named by URL (`--engine NAME=URL`, `host = ...` in an `[[engine]]` table):
    /// TLS files when given, else none; `DOCKER_TLS_VERIFY` applies only to the default engine.
    pub fn named(name: &str, host: &str, tls: Option<TlsFiles>, origin: &str) -> Endpoint {
        Endpoint {
            name: name.to_owned(),
            host: host.to_owned(),
            tls,
            origin: origin.to_owned(),
        }
    }

    pub fn is_ssh(&self) -> bool {
        self.host.starts_with("ssh://")
    }

    /// The engine shares this machine's kernel (and so its binfmt entries).
    pub fn is_local(&self) -> bool {
        self.host.starts_with("unix://") || self.host.starts_with("npipe://")
    }
}

/// Why an engine could not even be named: a context that does not exist or cannot be read.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{what}")]
pub struct EndpointError {
    pub what: String,
    pub hint: String,
}

/// The default engine, with the docker CLI's precedence.
pub fn default_endpoint(host_flag: Option<&str>, env: &dyn Env) -> Result<Endpoint, EndpointError> {
    let with_env_tls = |host: &str, origin: &str| {
        let tls =
            (host.starts_with("tcp://") && env.var("DOCKER_TLS_VERIFY").is_some()).then(|| {
                let dir = env
                    .var("DOCKER_CERT_PATH")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| docker_config_dir(env));
                TlsFiles::in_dir(&dir)
            });
        Endpoint::named(DEFAULT_ENGINE, host, tls, origin)
    };
    if let Some(host) = host_flag.filter(|h| !h.is_empty()) {
        return Ok(with_env_tls(host, "--host"));
    }
    if let Some(host) = env.var("DOCKER_HOST") {
        if let Some(context) = env.var("DOCKER_CONTEXT") {
            tracing::warn!(
                "DOCKER_HOST ({host}) overrides DOCKER_CONTEXT ({context}), as with the docker CLI"
            );
        }
        return Ok(with_env_tls(&host, "DOCKER_HOST"));
    }
    let context = match env.var("DOCKER_CONTEXT") {
        Some(name) => Some(name),
        None => current_context(&docker_config_dir(env))?,
    };
    match context {
        Some(name) if name != DEFAULT_ENGINE => {
            let mut endpoint = context_endpoint(&name, env)?;
            endpoint.name = DEFAULT_ENGINE.to_owned();
            Ok(endpoint)
        }
        _ => Ok(found_socket(env).unwrap_or_else(|| {
            Endpoint::named(DEFAULT_ENGINE, DEFAULT_SOCKET, None, DEFAULT_ORIGIN)
        })),
    }
}

/// The origin of the docker CLI's last resort, `/var/run/docker.sock`.
pub const DEFAULT_ORIGIN: &str = "the default socket";

/// Where the docker CLI would fail for want of a `/var/run/docker.sock` this user may use (none
/// exists, or it is root's and the user is not in its group), the first engine socket of
/// [`super::discover::candidates`] this user may use (its rootless Docker or Podman, a laptop
/// VM's engine), named with what it is and why it was taken.
fn found_socket(env: &dyn Env) -> Option<Endpoint> {
    let default = env
        .root()
        .join(DEFAULT_SOCKET.trim_start_matches("unix:///"));
    let why = if !super::discover::is_socket(&default) {
        "does not exist"
    } else if !super::discover::usable(&default) {
        "is not this user's to use"
    } else {
        return None;
    };
    let found = super::discover::present(env)
        .into_iter()
        .find(|c| super::discover::usable(&c.path))?;
    Some(Endpoint::named(
        DEFAULT_ENGINE,
        &found.host,
        None,
        &format!(
            "{}, found because neither DOCKER_HOST nor a context is set and \
             /var/run/docker.sock {why}",
            found.kind
        ),
    ))
}

/// `currentContext` of `config.json` in the Docker config directory, when set.
fn current_context(config_dir: &Path) -> Result<Option<String>, EndpointError> {
    #[derive(Deserialize)]
    struct Config {
        #[serde(rename = "currentContext", default)]
        current_context: Option<String>,
    }
    let path = config_dir.join("config.json");
    let text = match crate::userfile::read_text(&path, CONFIG_LIMIT) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        // As the docker CLI does: say so, and go on as if there were none. Through tracing,
        // as the other warnings of choosing an engine, so that it is masked like every line.
        Err(e) => {
            tracing::warn!(
                "cannot read {} ({e}); going on without it (fix it, or set DOCKER_CONFIG to \
                 another directory)",
                path.display()
            );
            return Ok(None);
        }
    };
    let config: Config = serde_json::from_str(&text).map_err(|e| EndpointError {
        what: format!("{} is not valid JSON: {e}", path.display()),
        hint: "fix the file, or set DOCKER_HOST to choose the engine".into(),
    })?;
    Ok(config.current_context.filter(|c| !c.is_empty()))
}

/// The engine of a Docker CLI context, from the context store.
pub fn context_endpoint(name: &str, env: &dyn Env) -> Result<Endpoint, EndpointError> {
    #[derive(Deserialize)]
    struct Meta {
        #[serde(rename = "Endpoints", default)]
        endpoints: std::collections::HashMap<String, DockerEndpoint>,
    }
    #[derive(Deserialize)]
    struct DockerEndpoint {
        #[serde(rename = "Host", default)]
        host: Option<String>,
        #[serde(rename = "SkipTLSVerify", default)]
        skip_tls_verify: bool,
    }
    let config_dir = docker_config_dir(env);
    let id = hex_sha256(name);
    let meta_path = config_dir
        .join("contexts")
        .join("meta")
        .join(&id)
        .join("meta.json");
    let text = crate::userfile::read_text(&meta_path, CONFIG_LIMIT).map_err(|e| EndpointError {
        what: if e.kind() == std::io::ErrorKind::NotFound {
            format!(
                "Docker context \"{name}\" does not exist (no {})",
                meta_path.display()
            )
        } else {
            format!("cannot read {}: {e}", meta_path.display())
        },
        hint: format!(
            "list contexts with `docker context ls` (DOCKER_CONFIG={}); create one with \
             `docker context create {name} --docker host=...`",
            config_dir.display()
        ),
    })?;
    let meta: Meta = serde_json::from_str(&text).map_err(|e| EndpointError {
        what: format!("{} is not valid JSON: {e}", meta_path.display()),
        hint: format!("recreate the context: `docker context rm {name}` and create it again"),
    })?;
    let docker = meta
        .endpoints
        .get("docker")
        .and_then(|d| d.host.clone().map(|h| (h, d.skip_tls_verify)));
    let Some((host, skip_tls_verify)) = docker else {
        return Err(EndpointError {
            what: format!("Docker context \"{name}\" has no docker endpoint"),
            hint: format!("`docker context update {name} --docker host=...`"),
        });
    };
    if skip_tls_verify {
        return Err(EndpointError {
            what: format!(
                "Docker context \"{name}\" skips TLS verification, which archsmoke does not do"
            ),
            hint: format!(
                "give the context the engine's CA: `docker context update {name} --docker \
                 host={host},ca=CA.pem,cert=cert.pem,key=key.pem`"
            ),
        });
    }
    let tls_dir = config_dir
        .join("contexts")
        .join("tls")
        .join(&id)
        .join("docker");
    let tls = tls_dir
        .join("ca.pem")
        .exists()
        .then(|| TlsFiles::in_dir(&tls_dir));
    Ok(Endpoint::named(
        name,
        &host,
        tls,
        &format!("context {name}"),
    ))
}

fn hex_sha256(text: &str) -> String {
    crate::digest::sha256_hex(text.as_bytes())
}

/// `ssh://[user@]host[:port]` split for the system ssh client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshTarget {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

impl SshTarget {
    pub fn parse(url: &str) -> Result<SshTarget, String> {
        let rest = url
            .strip_prefix("ssh://")
            .ok_or_else(|| format!("{url} is not an ssh:// URL"))?;
        if rest.contains('/') && !rest.ends_with('/') {
            return Err(format!(
                "{url}: a path is not supported in an ssh URL (the docker CLI refuses it too)"
            ));
        }
        let rest = rest.trim_end_matches('/');
        let (user, hostport) = match rest.rsplit_once('@') {
            Some((u, h)) => (Some(u.to_owned()), h),
            None => (None, rest),
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') || h.starts_with('[') => {
                let port = p
                    .parse::<u16>()
                    .map_err(|_| format!("{url}: \"{p}\" is not a port number"))?;
                (h.trim_matches(['[', ']']).to_owned(), Some(port))
            }
            _ => (hostport.to_owned(), None),
        };
        if host.is_empty() || user.as_deref() == Some("") {
            return Err(format!("{url}: write ssh://[user@]host[:port]"));
        }
        Ok(SshTarget { user, host, port })
    }

    /// The arguments of `ssh` up to the remote command, like the docker CLI's (`-l`, `-p`,
    /// `-T`), plus BatchMode so that a missing key fails instead of prompting on a terminal.
    pub fn ssh_args(&self) -> Vec<String> {
        let mut args = vec![
            "-T".to_owned(),
            "-o".to_owned(),
            "BatchMode=yes".to_owned(),
            "-o".to_owned(),
            "ConnectTimeout=15".to_owned(),
        ];
        if let Some(user) = &self.user {
            args.extend(["-l".to_owned(), user.clone()]);
        }
        if let Some(port) = self.port {
            args.extend(["-p".to_owned(), port.to_string()]);
        }
        args.extend(["--".to_owned(), self.host.clone()]);
        args
    }
}

#[cfg(test)]
#[path = "endpoint_tests.rs"]
mod tests;
