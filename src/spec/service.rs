//! The spec's service tables: `[service]` (start the image as it ships and wait until it is
//! ready), `[[probe]]` (TCP and HTTP from inside the service's network namespace),
//! `[[process]]` (the engine's view of the container's processes) and `[logs]` (the service's
//! output over the whole run). Raw serde types and their validation live together here so that
//! the shared spec files only gain one field each.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use regex::Regex;
use serde::Deserialize;
use toml::Spanned;

use super::number::{self, RawNumber};
use super::raw::OneOrMany;
use super::{SpecError, Validator};
use crate::platform::Platform;
use crate::range::IntRange;

/// Readiness deadline when `[service.ready]` names none (before the emulation factor).
pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a stopped service may take after SIGTERM before it is killed.
pub const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// Per-probe deadline when the probe names none (before the emulation factor).
pub const DEFAULT_PROBE_TIMEOUT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------
// Raw tables, as written.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawService {
    pub command: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    pub user: Option<String>,
    pub stop_timeout: Option<Spanned<String>>,
    pub ready: Option<Spanned<RawReady>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawReady {
    pub log: Option<Spanned<OneOrMany>>,
    pub tcp: Option<Spanned<i64>>,
    pub http: Option<Spanned<RawHttp>>,
    pub healthcheck: Option<bool>,
    pub exec: Option<Spanned<Vec<String>>>,
    pub timeout: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHttp {
    pub port: Spanned<i64>,
    pub path: Option<String>,
    pub method: Option<Spanned<String>>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub body: Option<String>,
    pub status: Option<Spanned<RawNumber>>,
    pub host: Option<String>,
    pub scheme: Option<Spanned<String>>,
    pub ca: Option<Spanned<String>>,
    pub insecure: Option<Spanned<bool>>,
    pub server_name: Option<Spanned<String>>,
    /// Follow redirects to the service itself, as an HTTP client does (goss's default).
    #[serde(default)]
    pub follow_redirects: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProbe {
    pub name: Spanned<String>,
    pub tcp: Option<Spanned<i64>>,
    /// A socket of the service's network namespace, as goss's `port` names it: `tcp:8080`,
    /// `tcp6:8080`, `udp:53`, `udp6:53`.
    pub socket: Option<Spanned<String>>,
    /// Addresses the socket must be bound to (with `socket`).
    pub ips: Option<Spanned<Vec<String>>>,
    pub open: Option<bool>,
    pub http: Option<Spanned<RawHttp>>,
    pub body_contains: Option<OneOrMany>,
    pub body_matches: Option<Spanned<OneOrMany>>,
    pub body_excludes: Option<OneOrMany>,
    /// A pattern per header name, or a list of patterns that must all match.
    pub header_matches: Option<Spanned<BTreeMap<String, OneOrMany>>>,
    pub timeout: Option<Spanned<String>>,
    pub platforms: Option<Vec<Spanned<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProcess {
    pub name: Spanned<String>,
    pub command_matches: Option<Spanned<String>>,
    pub executable: Option<Spanned<String>>,
    pub user: Option<String>,
    pub count: Option<Spanned<RawNumber>>,
    pub platforms: Option<Vec<Spanned<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLogs {
    pub contains: Option<OneOrMany>,
    pub matches: Option<Spanned<OneOrMany>>,
    pub excludes: Option<OneOrMany>,
}

/// Whether a request header can be sent as written: its name an HTTP token (RFC 9110), its
/// value without a line break (which would end it and start a header of the spec's).
pub fn valid_http_header(name: &str, value: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
        && !value.chars().any(|c| c == '\r' || c == '\n')
}

// ---------------------------------------------------------------------------------------
// Validated.

/// Everything service-related in a spec.
#[derive(Debug, Clone)]
pub struct ServiceSpec {
    pub command: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    pub env: BTreeMap<String, String>,
    pub user: Option<String>,
    pub stop_timeout: Duration,
    pub ready: Ready,
    pub probes: Vec<ProbeSpec>,
    pub processes: Vec<ProcessSpec>,
    pub logs: Option<LogsSpec>,
}

/// What "ready" means: every condition given must hold, all within `timeout`.
#[derive(Debug, Clone, Default)]
pub struct Ready {
    pub log: Vec<Regex>,
    pub tcp: Option<u16>,
    pub http: Option<HttpRequest>,
    pub healthcheck: bool,
    pub exec: Option<Vec<String>>,
    pub timeout: Duration,
}

impl Ready {
    /// No condition at all: the service is ready once it has started and still runs.
    pub fn is_empty(&self) -> bool {
        self.log.is_empty()
            && self.tcp.is_none()
            && self.http.is_none()
            && !self.healthcheck
            && self.exec.is_none()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub port: u16,
    pub method: String,
    pub path: String,
    pub host: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    /// The status the answer must have (one, or a range).
    pub status: IntRange,
    /// `scheme = "https"`: TLS over the connection before HTTP.
    pub tls: Option<TlsOptions>,
    /// Follow redirects (to the service itself, at most [`MAX_REDIRECTS`]) and check the last
    /// answer; otherwise the first answer is checked.
    pub follow_redirects: bool,
}

/// A socket table of a network namespace (`/proc/net/tcp`, ...), as goss's `port` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketTable {
    Tcp,
    Tcp6,
    Udp,
    Udp6,
}

impl SocketTable {
    pub const ALL: [SocketTable; 4] = [Self::Tcp, Self::Tcp6, Self::Udp, Self::Udp6];

    /// `tcp`, `tcp6`, `udp`, `udp6`: goss's name and the file's under `/proc/net`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Tcp6 => "tcp6",
            Self::Udp => "udp",
            Self::Udp6 => "udp6",
        }
    }

    pub fn parse(name: &str) -> Option<SocketTable> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }

    /// TCP lists listening sockets; UDP, which has no listening state, every socket.
    pub fn is_tcp(self) -> bool {
        matches!(self, Self::Tcp | Self::Tcp6)
    }
}

/// Redirects a probe follows before it gives up, as Go's HTTP client (goss's) stops after 10.
pub const MAX_REDIRECTS: usize = 10;

/// How an HTTPS request verifies the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsOptions {
    pub verify: TlsVerify,
    /// The name sent as SNI and checked against the certificate (a DNS name or an IP address).
    pub server_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsVerify {
    /// Against the roots of the machine archsmoke runs on.
    System,
    /// Against the CA certificates in this PEM file (relative paths resolved to the spec's).
    Ca(PathBuf),
    /// Not at all (`insecure = true`): for self-signed test services.
    Insecure,
}

#[derive(Debug, Clone)]
pub struct ProbeSpec {
    pub name: String,
    pub kind: ProbeKind,
    pub timeout: Duration,
    pub platforms: Option<Vec<Platform>>,
}

#[derive(Debug, Clone)]
pub enum ProbeKind {
    /// A TCP connection to the port must succeed (`open`) or be refused (`!open`).
    Tcp { port: u16, open: bool },
    /// The namespace's socket table must (`open`) or must not hold the socket, bound to at
    /// least `ips`: goss's `port`, read from `/proc/PID/net/*` of a local engine's container.
    Socket {
        table: SocketTable,
        port: u16,
        open: bool,
        /// Canonical addresses (`::`, not `0::0`): what [`crate::check::service::Socket`] holds.
        ips: Vec<String>,
    },
    Http {
        request: Box<HttpRequest>,
        expect: Box<HttpExpect>,
    },
}

#[derive(Debug, Clone, Default)]
pub struct HttpExpect {
    pub body_contains: Vec<String>,
    pub body_matches: Vec<Regex>,
    pub body_excludes: Vec<String>,
    /// Header name (lowercase) → pattern its value must match.
    pub header_matches: Vec<(String, Regex)>,
}

#[derive(Debug, Clone)]
pub struct ProcessSpec {
    pub name: String,
    /// A regex over the guest's command line (what `ps` shows natively; a program that renames
    /// itself, such as `nginx: master process`, keeps its original line under QEMU).
    pub command_matches: Option<Regex>,
    /// The program's path (or, without a `/`, its file name) as the kernel ran it: the same on
    /// every platform, whatever the process calls itself.
    pub executable: Option<String>,
    /// Only processes of this user count (a filter, so `user` tells a master from its workers).
    pub user: Option<String>,
    /// How many matching processes (exactly, or a range); `None`: at least one.
    pub count: Option<IntRange>,
    pub platforms: Option<Vec<Platform>>,
}

#[derive(Debug, Clone, Default)]
pub struct LogsSpec {
    pub contains: Vec<String>,
    pub matches: Vec<Regex>,
    pub excludes: Vec<String>,
}

/// The name part of a Host header: without its port, and an IPv6 address without brackets.
fn host_name(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

/// Whether a check limited to `platforms` runs on `platform`.
pub fn applies(platforms: &Option<Vec<Platform>>, platform: &Platform) -> bool {
    platforms
        .as_ref()
        .is_none_or(|ps| ps.iter().any(|p| p == platform))
}

/// The raw service tables of a spec, gathered for validation.
pub struct RawServiceTables {
    pub service: Option<Spanned<RawService>>,
    pub probes: Vec<Spanned<RawProbe>>,
    pub processes: Vec<Spanned<RawProcess>>,
    pub logs: Option<Spanned<RawLogs>>,
}

impl Validator<'_> {
    pub(super) fn service(
        &self,
        raw: RawServiceTables,
        spec_platforms: Option<&[Platform]>,
    ) -> Result<Option<ServiceSpec>, SpecError> {
        let Some(service) = raw.service else {
            let stray = raw
                .probes
                .first()
                .map(|p| p.span().start)
                .or_else(|| raw.processes.first().map(|p| p.span().start))
                .or_else(|| raw.logs.as_ref().map(|l| l.span().start));
            if let Some(at) = stray {
                return Err(SpecError::at(
                    self.path,
                    self.text,
                    at,
                    "[[probe]], [[process]] and [logs] check a running service, and the spec \
                     has no [service]",
                )
                .with_hint("add a [service] table (it starts the image with its own entrypoint)"));
            }
            return Ok(None);
        };
        let s = service.get_ref();
        for (what, argv) in [("command", &s.command), ("entrypoint", &s.entrypoint)] {
            if argv.as_ref().is_some_and(Vec::is_empty) {
                return Err(self
                    .err(&service, format!("[service] has an empty `{what}`"))
                    .with_hint(format!("give `{what}` at least one element, or remove it")));
            }
        }
        if s.user.as_ref().is_some_and(|u| u.trim().is_empty()) {
            return Err(self
                .err(&service, "[service] has an empty `user`")
                .with_hint("name a user or uid[:gid], or remove `user`"));
        }
        let stop_timeout = match &s.stop_timeout {
            Some(t) => self.duration(t)?,
            None => DEFAULT_STOP_TIMEOUT,
        };
        let ready = match &s.ready {
            Some(r) => self.ready(r)?,
            None => Ready {
                timeout: DEFAULT_READY_TIMEOUT,
                ..Ready::default()
            },
        };
        let mut names = std::collections::BTreeSet::new();
        let mut probes = Vec::new();
        for p in &raw.probes {
            let probe = self.probe(p.get_ref(), spec_platforms)?;
            if !names.insert(format!("probe {}", probe.name)) {
                return Err(self.err(
                    &p.get_ref().name,
                    format!("duplicate probe name `{}`", probe.name),
                ));
            }
            probes.push(probe);
        }
        let mut processes = Vec::new();
        for p in &raw.processes {
            let process = self.process(p.get_ref())?;
            if !names.insert(format!("process {}", process.name)) {
                return Err(self.err(
                    &p.get_ref().name,
                    format!("duplicate process name `{}`", process.name),
                ));
            }
            processes.push(process);
        }
        let logs = match &raw.logs {
            Some(l) => {
                let l = l.get_ref();
                Some(LogsSpec {
                    contains: l
                        .contains
                        .clone()
                        .map(OneOrMany::into_vec)
                        .unwrap_or_default(),
                    matches: l
                        .matches
                        .as_ref()
                        .map(|m| self.regexes(m))
                        .transpose()?
                        .unwrap_or_default(),
                    excludes: l
                        .excludes
                        .clone()
                        .map(OneOrMany::into_vec)
                        .unwrap_or_default(),
                })
            }
            None => None,
        };
        Ok(Some(ServiceSpec {
            command: s.command.clone(),
            entrypoint: s.entrypoint.clone(),
            env: s.env.clone(),
            user: s.user.clone(),
            stop_timeout,
            ready,
            probes,
            processes,
            logs,
        }))
    }

    fn service_port(&self, raw: &Spanned<i64>) -> Result<u16, SpecError> {
        u16::try_from(*raw.get_ref())
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| {
                self.err(raw, format!("port {} is out of range", raw.get_ref()))
                    .with_hint("ports are 1 to 65535")
            })
    }

    fn ready(&self, raw: &Spanned<RawReady>) -> Result<Ready, SpecError> {
        let r = raw.get_ref();
        if let Some(e) = &r.exec
            && e.get_ref().is_empty()
        {
            return Err(self.err(e, "`exec` is empty").with_hint(
                "name a command that exits 0 once the service is ready, e.g. [\"cat\", \"/run/ready\"]",
            ));
        }
        Ok(Ready {
            log: r
                .log
                .as_ref()
                .map(|l| self.regexes(l))
                .transpose()?
                .unwrap_or_default(),
            tcp: r.tcp.as_ref().map(|p| self.service_port(p)).transpose()?,
            http: r.http.as_ref().map(|h| self.http(h)).transpose()?,
            healthcheck: r.healthcheck.unwrap_or(false),
            exec: r.exec.as_ref().map(|e| e.get_ref().clone()),
            timeout: match &r.timeout {
                Some(t) => self.duration(t)?,
                None => DEFAULT_READY_TIMEOUT,
            },
        })
    }

    fn http(&self, raw: &Spanned<RawHttp>) -> Result<HttpRequest, SpecError> {
        let h = raw.get_ref();
        let port = self.service_port(&h.port)?;
        let method = match &h.method {
            Some(m) => {
                let v = m.get_ref().trim().to_ascii_uppercase();
                if v.is_empty() || !v.bytes().all(|b| b.is_ascii_alphabetic()) {
                    return Err(self
                        .err(m, format!("bad HTTP method `{}`", m.get_ref()))
                        .with_hint("use GET, HEAD, POST, PUT, DELETE, ..."));
                }
                v
            }
            None => "GET".to_owned(),
        };
        let path = h.path.clone().unwrap_or_else(|| "/".to_owned());
        if !path.starts_with('/') || path.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(self
                .err(raw, format!("bad HTTP path `{path}`"))
                .with_hint("paths start with `/` and contain no spaces (percent-encode them)"));
        }
        for (name, value) in &h.headers {
            if !valid_http_header(name, value) {
                return Err(self
                    .err(raw, format!("bad HTTP header `{name}`"))
                    .with_hint("header names are tokens; values hold no line breaks"));
            }
        }
        // The Host header's value: a line break would end it and start a header of the spec's.
        if let Some(host) = &h.host
            && (host.is_empty() || host.chars().any(|c| c.is_whitespace() || c.is_control()))
        {
            return Err(self
                .err(raw, format!("bad HTTP host `{}`", host.escape_debug()))
                .with_hint(
                    "a host name or address with an optional port, e.g. \"web.example:8080\"",
                ));
        }
        let status = match &h.status {
            Some(s) => self.number(s, "status", number::STATUSES)?,
            None => IntRange::exactly(200),
        };
        let tls = self.tls(h)?;
        Ok(HttpRequest {
            port,
            method,
            path,
            tls,
            host: h
                .host
                .clone()
                .unwrap_or_else(|| format!("127.0.0.1:{port}")),
            headers: h
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            body: h.body.clone(),
            status,
            follow_redirects: h.follow_redirects,
        })
    }

    /// `scheme`, and the TLS options that only `scheme = "https"` takes.
    fn tls(&self, h: &RawHttp) -> Result<Option<TlsOptions>, SpecError> {
        let https = match &h.scheme {
            None => false,
            Some(s) => match s.get_ref().to_ascii_lowercase().as_str() {
                "http" => false,
                "https" => true,
                _ => {
                    return Err(self
                        .err(s, format!("unknown scheme `{}`", s.get_ref()))
                        .with_hint("scheme is \"http\" (the default) or \"https\""));
                }
            },
        };
        if !https {
            let stray = [
                h.ca.as_ref().map(|c| ("ca", c.span().start)),
                h.insecure.as_ref().map(|i| ("insecure", i.span().start)),
                h.server_name
                    .as_ref()
                    .map(|n| ("server_name", n.span().start)),
            ];
            if let Some((key, at)) = stray.into_iter().flatten().next() {
                return Err(SpecError::at(
                    self.path,
                    self.text,
                    at,
                    format!("`{key}` is a TLS option, and this request is plain HTTP"),
                )
                .with_hint("add scheme = \"https\" to the same http table, or remove it"));
            }
            return Ok(None);
        }
        let verify = match (&h.ca, &h.insecure) {
            (Some(ca), Some(insecure)) if *insecure.get_ref() => {
                return Err(self
                    .err(ca, "`ca` and `insecure = true` contradict each other")
                    .with_hint(
                        "keep `ca` to verify the service against it, or `insecure = true` to \
                         skip verification",
                    ));
            }
            (Some(ca), _) => {
                if ca.get_ref().trim().is_empty() {
                    return Err(self
                        .err(ca, "`ca` is empty")
                        .with_hint("name a PEM file of CA certificates, relative to the spec"));
                }
                let base = self.path.parent().unwrap_or(Path::new("."));
                TlsVerify::Ca(base.join(ca.get_ref()))
            }
            (None, Some(insecure)) if *insecure.get_ref() => TlsVerify::Insecure,
            _ => TlsVerify::System,
        };
        let server_name = match &h.server_name {
            Some(n) => {
                let name = n.get_ref().trim();
                if rustls::pki_types::ServerName::try_from(name).is_err() {
                    return Err(self
                        .err(n, format!("bad server_name `{}`", n.get_ref()))
                        .with_hint("a DNS name (localhost, web.example) or an IP address"));
                }
                name.to_owned()
            }
            None => h
                .host
                .as_deref()
                .map(host_name)
                .filter(|n| rustls::pki_types::ServerName::try_from(*n).is_ok())
                .unwrap_or("localhost")
                .to_owned(),
        };
        Ok(Some(TlsOptions {
            verify,
            server_name,
        }))
    }

    fn probe(
        &self,
        raw: &RawProbe,
        spec_platforms: Option<&[Platform]>,
    ) -> Result<ProbeSpec, SpecError> {
        let name = raw.name.get_ref().trim();
        if name.is_empty() {
            return Err(self.err(&raw.name, "a probe name is empty"));
        }
        self.check_text("the probe name", name, &raw.name)?;
        let expects_http = raw.body_contains.is_some()
            || raw.body_matches.is_some()
            || raw.body_excludes.is_some()
            || raw.header_matches.is_some();
        if raw.ips.is_some() && raw.socket.is_none() {
            return Err(self
                .err(
                    &raw.name,
                    format!("probe `{name}`: `ips` goes with `socket`"),
                )
                .with_hint("socket = \"tcp:8080\", ips = [\"0.0.0.0\"]"));
        }
        if let Some(socket) = &raw.socket {
            if raw.tcp.is_some() || raw.http.is_some() || expects_http {
                return Err(self
                    .err(socket, format!("probe `{name}`: `socket` goes alone"))
                    .with_hint("one probe reads a socket table, connects over tcp, or asks http"));
            }
            return self.socket_probe(raw, name, socket, spec_platforms);
        }
        let kind = match (&raw.tcp, &raw.http) {
            (Some(port), None) => {
                if expects_http {
                    return Err(self
                        .err(
                            &raw.name,
                            format!("probe `{name}` checks a body or headers over plain TCP"),
                        )
                        .with_hint("use `http = { port = ... }` for body and header checks"));
                }
                ProbeKind::Tcp {
                    port: self.service_port(port)?,
                    open: raw.open.unwrap_or(true),
                }
            }
            (None, Some(http)) => {
                if raw.open.is_some() {
                    return Err(self
                        .err(&raw.name, format!("probe `{name}`: `open` goes with `tcp`"))
                        .with_hint("an HTTP probe expects a `status` inside `http = { ... }`"));
                }
                let mut header_matches = Vec::new();
                if let Some(h) = &raw.header_matches {
                    for (k, patterns) in h.get_ref() {
                        let patterns = Spanned::new(h.span(), patterns.clone());
                        let compiled =
                            self.all_of(&patterns, &format!("probe `{name}`: header `{k}`"))?;
                        let k = k.to_ascii_lowercase();
                        header_matches.extend(compiled.into_iter().map(|re| (k.clone(), re)));
                    }
                }
                ProbeKind::Http {
                    request: Box::new(self.http(http)?),
                    expect: Box::new(HttpExpect {
                        body_contains: raw
                            .body_contains
                            .clone()
                            .map(OneOrMany::into_vec)
                            .unwrap_or_default(),
                        body_matches: raw
                            .body_matches
                            .as_ref()
                            .map(|m| self.regexes(m))
                            .transpose()?
                            .unwrap_or_default(),
                        body_excludes: raw
                            .body_excludes
                            .clone()
                            .map(OneOrMany::into_vec)
                            .unwrap_or_default(),
                        header_matches,
                    }),
                }
            }
            _ => {
                return Err(self
                    .err(
                        &raw.name,
                        format!("probe `{name}` needs exactly one of `tcp`, `http` and `socket`"),
                    )
                    .with_hint("tcp = 8080, or http = { port = 8080, path = \"/\" }"));
            }
        };
        let platforms = self.narrowed_platforms(
            raw.platforms.as_deref(),
            spec_platforms,
            &raw.name,
            &format!("probe `{name}`"),
        )?;
        Ok(ProbeSpec {
            name: name.to_owned(),
            kind,
            timeout: match &raw.timeout {
                Some(t) => self.duration(t)?,
                None => DEFAULT_PROBE_TIMEOUT,
            },
            platforms,
        })
    }

    /// A `socket = "udp:53"` probe.
    fn socket_probe(
        &self,
        raw: &RawProbe,
        name: &str,
        socket: &Spanned<String>,
        spec_platforms: Option<&[Platform]>,
    ) -> Result<ProbeSpec, SpecError> {
        let text = socket.get_ref().trim();
        let bad = || {
            self.err(socket, format!("bad socket `{text}`")).with_hint(
                "write TABLE:PORT, TABLE one of tcp, tcp6, udp, udp6 (goss's port names)",
            )
        };
        let (table, port) = text.split_once(':').ok_or_else(bad)?;
        let table = SocketTable::parse(table).ok_or_else(bad)?;
        let port = port
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(bad)?;
        let ips = match &raw.ips {
            Some(ips) => ips
                .get_ref()
                .iter()
                .map(|ip| {
                    ip.trim()
                        .parse::<std::net::IpAddr>()
                        .map(|ip| ip.to_string())
                        .map_err(|_| {
                            self.err(ips, format!("`{ip}` is not an IP address"))
                                .with_hint(
                                    "write addresses such as \"0.0.0.0\", \"::\" or \"127.0.0.1\"",
                                )
                        })
                })
                .collect::<Result<_, _>>()?,
            None => Vec::new(),
        };
        let platforms = self.narrowed_platforms(
            raw.platforms.as_deref(),
            spec_platforms,
            &raw.name,
            &format!("probe `{name}`"),
        )?;
        Ok(ProbeSpec {
            name: name.to_owned(),
            kind: ProbeKind::Socket {
                table,
                port,
                open: raw.open.unwrap_or(true),
                ips,
            },
            timeout: match &raw.timeout {
                Some(t) => self.duration(t)?,
                None => DEFAULT_PROBE_TIMEOUT,
            },
            platforms,
        })
    }

    fn process(&self, raw: &RawProcess) -> Result<ProcessSpec, SpecError> {
        let name = raw.name.get_ref().trim();
        if name.is_empty() {
            return Err(self.err(&raw.name, "a process check's name is empty"));
        }
        self.check_text("the process check's name", name, &raw.name)?;
        let command_matches = match &raw.command_matches {
            Some(c) => {
                let one = Spanned::new(c.span(), OneOrMany::One(c.get_ref().clone()));
                Some(self.regexes(&one)?.remove(0))
            }
            None => None,
        };
        let executable = match &raw.executable {
            Some(e) => {
                let path = e.get_ref().trim();
                if path.is_empty() || (path.contains('/') && !path.starts_with('/')) {
                    return Err(self
                        .err(
                            e,
                            format!("executable `{path}` is neither a path nor a name"),
                        )
                        .with_hint(
                            "give the program's absolute path (`/usr/sbin/nginx`) or its file \
                             name (`nginx`)",
                        ));
                }
                self.check_text("the process check's executable", path, e)?;
                Some(path.to_owned())
            }
            None => None,
        };
        if command_matches.is_none() && executable.is_none() {
            return Err(self
                .err(
                    &raw.name,
                    format!("process check `{name}` says nothing to match"),
                )
                .with_hint(
                    "add `executable = \"/usr/sbin/nginx\"` (the same on every platform) or \
                     `command_matches = \"REGEX\"` (the command line)",
                ));
        }
        let count = raw
            .count
            .as_ref()
            .map(|c| self.number(c, "count", number::COUNTS))
            .transpose()?;
        Ok(ProcessSpec {
            name: name.to_owned(),
            command_matches,
            executable,
            user: raw.user.clone(),
            count,
            platforms: raw
                .platforms
                .as_deref()
                .map(|ps| self.platform_list(ps, "platforms"))
                .transpose()?,
        })
    }
}

#[cfg(test)]
#[path = "service_tests.rs"]
mod tests;
