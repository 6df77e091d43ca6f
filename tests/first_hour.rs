//! End to end: what a new user meets in the first hour (issue 18). Each test pins one rough edge
//! that a newcomer hit, so it cannot come back.

mod common;

use std::process::Command;

use common::*;

/// The most common first error: the engine runs, but the user may not open its socket. The hint
/// must point at the socket's group or root, never at starting an engine that is running.
#[test]
fn permission_denied_on_the_socket_points_at_the_docker_group_not_at_starting_the_engine() {
    let socket = std::path::Path::new("/var/run/docker.sock");
    assert!(socket.exists(), "no engine socket at {}", socket.display());
    // `nobody` is in no group that owns the socket; setpriv is util-linux, on every Debian.
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(env!("CARGO_BIN_EXE_archsmoke"))
        .arg("doctor")
        .env("NO_COLOR", "1")
        .env("HOME", "/tmp")
        .env_remove("DOCKER_HOST")
        .output()
        .expect("setpriv runs");
    let r = Run::from(out);
    assert_eq!(r.code, 3, "{}", r.explain());
    let all = format!("{}{}", r.stdout, r.stderr).to_lowercase();
    assert!(all.contains("permission denied"), "{}", r.explain());
    assert!(all.contains("`docker`"), "{}", r.explain());
    assert!(!all.contains("start the engine"), "{}", r.explain());
}
