//! Reading a small file the user points at (a spec, the Docker config, TLS material): only a
//! regular file, opened without blocking (a FIFO with no writer would hang the run, and its first
//! signal with it) and read up to a bound (`/dev/zero` or a sparse gigabyte would fill memory).
//! Also where the Docker config lives (`docker_config_dir`), which both the engine (contexts) and
//! the registry client (credentials) read.

use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The file's bytes; `InvalidData` when it is not a regular file or is longer than `limit`.
pub fn read(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    let invalid = |m: String| io::Error::new(io::ErrorKind::InvalidData, m);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(invalid("it is not a regular file".into()));
    }
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(invalid(format!("it is larger than {} KiB", limit >> 10)));
    }
    Ok(bytes)
}

/// [`read`] as UTF-8 text.
pub fn read_text(path: &Path, limit: u64) -> io::Result<String> {
    String::from_utf8(read(path, limit)?)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "it is not UTF-8 text"))
}

/// The longest Docker `config.json` read: auths and helpers for hundreds of registries fit.
pub const CONFIG_LIMIT: u64 = 4 << 20;

/// The process environment, as the resolution needs it (a fake in unit tests).
pub trait Env {
    fn var(&self, name: &str) -> Option<String>;
    fn home(&self) -> Option<PathBuf>;
    /// Where system paths such as `/var/run/docker.sock` are looked for: `/`, or a temp dir in
    /// tests.
    fn root(&self) -> PathBuf {
        PathBuf::from("/")
    }
    /// The user's id, for `/run/user/<uid>` when `XDG_RUNTIME_DIR` is unset.
    fn uid(&self) -> Option<u32> {
        Some(nix::unistd::getuid().as_raw())
    }
}

/// The real environment.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
    fn home(&self) -> Option<PathBuf> {
        std::env::var_os("HOME").map(PathBuf::from)
    }
}

/// `$DOCKER_CONFIG`, else `~/.docker`.
pub fn docker_config_dir(env: &dyn Env) -> PathBuf {
    env.var("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| env.home().map(|h| h.join(".docker")))
        .unwrap_or_else(|| PathBuf::from(".docker"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_within_the_bound_are_read() {
        let dir = tempfile::tempdir().expect("temp dir");
        let ok = dir.path().join("ok");
        std::fs::write(&ok, "hello").expect("write");
        assert_eq!(read_text(&ok, 5).expect("fits"), "hello");
        let e = read(&ok, 4).expect_err("too long");
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
        // Returns at once: no writer is waited for.
        let e = read(&fifo, 1 << 20).expect_err("a FIFO");
        assert!(e.to_string().contains("not a regular file"), "{e}");
        let e = read(Path::new("/dev/zero"), 1 << 20).expect_err("a device");
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    }
}
