//! Which engines may receive the user's registry credentials. A pull hands them to the engine
//! in the `X-Registry-Auth` header, so they go only where nobody else can read them (a unix
//! socket, ssh, TCP with verified TLS, or TCP that never leaves this machine), and only to
//! engines the user named: one a spec's `[[engine]]` table names gets none unless
//! `--trust-spec-engines` (a spec is often untrusted input, such as a pull request). A pull
//! without them that fails says why they were withheld.

use super::Endpoint;

/// Why registry credentials must not be sent over how `endpoint` is reached: they travel in
/// the `X-Registry-Auth` header of a pull, so only a channel nobody else reads may carry them
/// (a unix socket, ssh, TCP with verified TLS, or TCP that never leaves this machine).
pub fn untrusted_transport(endpoint: &Endpoint) -> Option<String> {
    let host = endpoint.host.as_str();
    let authority = host
        .split_once("://")
        .map_or(host, |(_, rest)| rest.split('/').next().unwrap_or(rest));
    let hostname = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(v6),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    let loopback = hostname == "localhost"
        || hostname
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    let private = endpoint.is_local() || endpoint.is_ssh() || loopback;
    let verified_tls =
        endpoint.tls.is_some() && (host.starts_with("tcp://") || host.starts_with("https://"));
    (!private && !verified_tls).then(|| {
        format!(
            "engine \"{}\" is reached at {host} without verified TLS, so anyone on the way \
             could read them; reach it over a unix socket, ssh or TLS (ca, cert, key)",
            endpoint.name
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(host: &str, tls: bool) -> Option<String> {
        let tls = tls.then(|| super::super::TlsFiles::in_dir(std::path::Path::new("/certs")));
        untrusted_transport(&Endpoint::named("e", host, tls, "test"))
    }

    #[test]
    fn credentials_go_only_over_private_or_verified_channels() {
        for private in [
            "unix:///var/run/docker.sock",
            "ssh://me@build-host",
            "tcp://127.0.0.1:2375",
            "tcp://localhost:2375",
            "tcp://[::1]:2375",
            "http://127.0.0.2:80",
        ] {
            assert_eq!(at(private, false), None, "{private}");
        }
        assert_eq!(at("tcp://build-host:2376", true), None);
        for open in [
            "tcp://build-host:2375",
            "tcp://10.0.0.7:2375",
            "http://example.com",
            "https://example.com",
            "tcp://127.0.0.1.evil.example:2375",
        ] {
            let why = at(open, false).unwrap_or_else(|| panic!("{open} must withhold"));
            assert!(why.contains("without verified TLS"), "{why}");
        }
    }
}
