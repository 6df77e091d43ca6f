use std::collections::HashMap;

use super::*;

struct FakeEnv {
    vars: HashMap<&'static str, String>,
    home: PathBuf,
}

impl Env for FakeEnv {
    fn var(&self, name: &str) -> Option<String> {
        self.vars.get(name).cloned()
    }
    fn home(&self) -> Option<PathBuf> {
        Some(self.home.clone())
    }
    // No system socket exists in the temp home, so nothing is found there.
    fn root(&self) -> PathBuf {
        self.home.clone()
    }
    fn uid(&self) -> Option<u32> {
        None
    }
}

fn env(home: &Path, vars: &[(&'static str, &str)]) -> FakeEnv {
    FakeEnv {
        vars: vars.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
        home: home.to_owned(),
    }
}

/// Writes a context the way `docker context create` does.
fn write_context(config: &Path, name: &str, host: &str, tls: bool) {
    let id = hex_sha256(name);
    let meta = config.join("contexts/meta").join(&id);
    std::fs::create_dir_all(&meta).expect("valid");
    let json = serde_json::json!({
        "Name": name, "Metadata": {},
        "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": false}}
    });
    std::fs::write(meta.join("meta.json"), json.to_string()).expect("valid");
    if tls {
        let dir = config.join("contexts/tls").join(&id).join("docker");
        std::fs::create_dir_all(&dir).expect("valid");
        for f in ["ca.pem", "cert.pem", "key.pem"] {
            std::fs::write(dir.join(f), "x").expect("valid");
        }
    }
}

#[test]
fn precedence_is_the_docker_clis() {
    let home = tempfile::tempdir().expect("valid");
    let config = home.path().join(".docker");
    write_context(&config, "remote", "tcp://10.0.0.1:2376", true);
    write_context(&config, "other", "ssh://me@box", false);
    std::fs::write(
        config.join("config.json"),
        r#"{"currentContext": "remote"}"#,
    )
    .expect("valid");

    let all = env(
        home.path(),
        &[
            ("DOCKER_HOST", "tcp://1.2.3.4:2375"),
            ("DOCKER_CONTEXT", "other"),
        ],
    );
    let e = default_endpoint(Some("unix:///flag.sock"), &all).expect("valid");
    assert_eq!(
        (e.host.as_str(), e.origin.as_str()),
        ("unix:///flag.sock", "--host")
    );

    let e = default_endpoint(None, &all).expect("valid");
    assert_eq!(
        (e.host.as_str(), e.origin.as_str()),
        ("tcp://1.2.3.4:2375", "DOCKER_HOST")
    );
    assert_eq!(e.tls, None, "no DOCKER_TLS_VERIFY, no TLS");

    let e =
        default_endpoint(None, &env(home.path(), &[("DOCKER_CONTEXT", "other")])).expect("valid");
    assert_eq!(
        (e.host.as_str(), e.origin.as_str()),
        ("ssh://me@box", "context other")
    );
    assert_eq!(e.name, DEFAULT_ENGINE);

    let e = default_endpoint(None, &env(home.path(), &[])).expect("valid");
    assert_eq!(e.host, "tcp://10.0.0.1:2376");
    let tls = e.tls.expect("the context's TLS files");
    assert!(
        tls.ca
            .ends_with(format!("{}/docker/ca.pem", hex_sha256("remote")))
    );

    std::fs::remove_file(config.join("config.json")).expect("valid");
    let e = default_endpoint(None, &env(home.path(), &[])).expect("valid");
    assert_eq!(e.host, DEFAULT_SOCKET);
    // The context named "default" is the default socket.
    let e =
        default_endpoint(None, &env(home.path(), &[("DOCKER_CONTEXT", "default")])).expect("valid");
    assert_eq!(e.host, DEFAULT_SOCKET);
}

#[test]
fn docker_tls_verify_takes_material_from_docker_cert_path() {
    let home = tempfile::tempdir().expect("valid");
    let e = default_endpoint(
        None,
        &env(
            home.path(),
            &[
                ("DOCKER_HOST", "tcp://127.0.0.1:2376"),
                ("DOCKER_TLS_VERIFY", "1"),
                ("DOCKER_CERT_PATH", "/certs"),
            ],
        ),
    )
    .expect("valid");
    assert_eq!(e.tls, Some(TlsFiles::in_dir(Path::new("/certs"))));
    // Without DOCKER_CERT_PATH: the Docker config directory, as the docker CLI does.
    let e = default_endpoint(
        Some("tcp://h:2376"),
        &env(
            home.path(),
            &[("DOCKER_TLS_VERIFY", "1"), ("DOCKER_CONFIG", "/cfg")],
        ),
    )
    .expect("valid");
    assert_eq!(e.tls, Some(TlsFiles::in_dir(Path::new("/cfg"))));
}

#[test]
fn a_missing_context_names_itself_and_how_to_list_contexts() {
    let home = tempfile::tempdir().expect("valid");
    let err = context_endpoint("nope", &env(home.path(), &[])).expect_err("must fail");
    assert!(
        err.what.contains("Docker context \"nope\" does not exist"),
        "{err}"
    );
    assert!(err.hint.contains("docker context ls"), "{}", err.hint);
}

#[test]
fn skip_tls_verify_contexts_are_refused_with_the_fix() {
    let home = tempfile::tempdir().expect("valid");
    let config = home.path().join(".docker");
    let id = hex_sha256("insecure");
    let meta = config.join("contexts/meta").join(id);
    std::fs::create_dir_all(&meta).expect("valid");
    std::fs::write(
        meta.join("meta.json"),
        r#"{"Name":"insecure","Endpoints":{"docker":{"Host":"tcp://h:2376","SkipTLSVerify":true}}}"#,
    )
    .expect("valid");
    let err = context_endpoint("insecure", &env(home.path(), &[])).expect_err("must fail");
    assert!(err.what.contains("skips TLS verification"), "{err}");
    assert!(
        err.hint.contains("docker context update insecure"),
        "{}",
        err.hint
    );
}

#[test]
fn ssh_urls_split_like_the_docker_clis() {
    let t = SshTarget::parse("ssh://root@127.0.0.1:2222").expect("valid");
    assert_eq!(t.user.as_deref(), Some("root"));
    assert_eq!(t.host, "127.0.0.1");
    assert_eq!(t.port, Some(2222));
    assert_eq!(
        t.ssh_args()[5..],
        ["-l", "root", "-p", "2222", "--", "127.0.0.1"].map(String::from)
    );
    let t = SshTarget::parse("ssh://alias").expect("valid");
    assert_eq!((t.user, t.host.as_str(), t.port), (None, "alias", None));
    let t = SshTarget::parse("ssh://me@[::1]:22").expect("valid");
    assert_eq!((t.host.as_str(), t.port), ("::1", Some(22)));
    assert!(SshTarget::parse("ssh://host:notaport").is_err());
    assert!(SshTarget::parse("ssh://host/path").is_err());
    assert!(SshTarget::parse("ssh://@host").is_err());
    assert!(SshTarget::parse("tcp://host").is_err());
}

#[test]
fn without_the_default_socket_the_first_engine_found_is_taken_and_named() {
    let home = tempfile::tempdir().expect("valid");
    let xdg = home.path().join("xdg");
    std::fs::create_dir_all(xdg.join("podman")).expect("valid");
    let _podman =
        std::os::unix::net::UnixListener::bind(xdg.join("podman/podman.sock")).expect("bind");
    let xdg_text = xdg.display().to_string();
    let e = default_endpoint(None, &env(home.path(), &[("XDG_RUNTIME_DIR", &xdg_text)]))
        .expect("valid");
    assert_eq!(
        e.host,
        format!("unix://{}", xdg.join("podman/podman.sock").display())
    );
    assert!(
        e.origin
            .starts_with("rootless Podman, found because neither DOCKER_HOST"),
        "{}",
        e.origin
    );
    // The docker CLI's own choices still win over anything found.
    let e = default_endpoint(
        None,
        &env(
            home.path(),
            &[
                ("XDG_RUNTIME_DIR", &xdg_text),
                ("DOCKER_HOST", "tcp://1.2.3.4:2375"),
            ],
        ),
    )
    .expect("valid");
    assert_eq!(e.origin, "DOCKER_HOST");
    // And the default socket, when it exists, is the docker CLI's answer: nothing is looked for.
    std::fs::create_dir_all(home.path().join("var/run")).expect("valid");
    let _docker = std::os::unix::net::UnixListener::bind(home.path().join("var/run/docker.sock"))
        .expect("bind");
    let e = default_endpoint(None, &env(home.path(), &[("XDG_RUNTIME_DIR", &xdg_text)]))
        .expect("valid");
    assert_eq!(
        (e.host.as_str(), e.origin.as_str()),
        (DEFAULT_SOCKET, DEFAULT_ORIGIN)
    );
}
