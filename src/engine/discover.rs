//! The engines a laptop has: the unix sockets Docker Desktop, colima, OrbStack, Rancher Desktop,
//! rootless Docker and Podman (rootless and rootful) listen on, found where each tool puts them.
//!
//! The docker CLI's own choice ([`super::endpoint::default_endpoint`]: `--host`, `DOCKER_HOST`,
//! `DOCKER_CONTEXT`, the current context, the default socket) always wins; Docker Desktop,
//! colima, OrbStack and Rancher Desktop each make their context current when they start, so on
//! a Mac that choice is already the running VM's engine. Only when that choice is the default
//! socket and no such socket exists (a Linux laptop with rootless Docker or Podman and neither
//! `DOCKER_HOST` nor a context) does archsmoke take the first socket of [`candidates`] that
//! exists, and says so. `doctor` lists every candidate that exists, so a laptop with several
//! engines shows which one was picked and why.

use std::path::{Path, PathBuf};

use super::endpoint::Env;

/// One place an engine's socket may be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// What usually listens there: "rootless Docker", "Docker Desktop", "colima (default)", ...
    pub kind: String,
    /// `unix://` + the socket's path.
    pub host: String,
    /// The socket's path as checked (under [`Env::root`]).
    pub path: PathBuf,
}

/// Every candidate socket, in the order a fallback prefers them: the system's Docker, then the
/// user's own engines (rootless Docker first: it is the docker CLI's own engine), then the
/// laptop VMs, then Podman. `$XDG_RUNTIME_DIR` defaults to `/run/user/<uid>` as systemd sets it.
pub fn candidates(env: &dyn Env) -> Vec<Candidate> {
    let root = env.root();
    let system = |p: &str| root.join(p.trim_start_matches('/'));
    let mut out = Vec::new();
    let mut push = |kind: &str, path: PathBuf| {
        out.push(Candidate {
            kind: kind.to_owned(),
            host: format!("unix://{}", path.display()),
            path,
        });
    };
    push(
        "the default socket (rootful Docker)",
        system("/var/run/docker.sock"),
    );
    let runtime = env
        .var("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .or_else(|| env.uid().map(|uid| system(&format!("/run/user/{uid}"))));
    if let Some(run) = &runtime {
        push("rootless Docker", run.join("docker.sock"));
    }
    if let Some(home) = env.home() {
        push(
            "Docker Desktop (macOS)",
            home.join(".docker/run/docker.sock"),
        );
        push(
            "Docker Desktop (Linux)",
            home.join(".docker/desktop/docker.sock"),
        );
        push("OrbStack", home.join(".orbstack/run/docker.sock"));
        let colima = env
            .var("COLIMA_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join(".colima"));
        for profile in colima_profiles(&colima) {
            push(
                &format!("colima ({profile})"),
                colima.join(&profile).join("docker.sock"),
            );
        }
        push("Rancher Desktop", home.join(".rd/docker.sock"));
    }
    if let Some(run) = &runtime {
        push("rootless Podman", run.join("podman/podman.sock"));
    }
    push("rootful Podman", system("/run/podman/podman.sock"));
    out
}

/// colima's profiles: `default` first, then the others by name (each a directory of
/// `$COLIMA_HOME`, `~/.colima` by default; `_lima` and `_templates` are colima's own).
fn colima_profiles(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !n.starts_with('_') && !n.starts_with('.'))
        .collect();
    names.sort_by_key(|n| (n != "default", n.clone()));
    if !names.iter().any(|n| n == "default") {
        names.insert(0, "default".into());
    }
    names
}

/// The candidates whose socket exists.
pub fn present(env: &dyn Env) -> Vec<Candidate> {
    candidates(env)
        .into_iter()
        .filter(|c| is_socket(&c.path))
        .collect()
}

/// A socket file (following links: Docker Desktop's `/var/run/docker.sock` is a link to
/// `~/.docker/run/docker.sock`).
pub fn is_socket(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(path).is_ok_and(|m| m.file_type().is_socket())
}

/// A socket this process may connect to (connecting needs write permission on it).
pub fn usable(path: &Path) -> bool {
    use nix::unistd::AccessFlags;
    is_socket(path) && nix::unistd::access(path, AccessFlags::R_OK | AccessFlags::W_OK).is_ok()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::os::unix::net::UnixListener;

    use super::*;

    struct TempEnv {
        vars: HashMap<&'static str, String>,
        root: PathBuf,
        home: PathBuf,
    }

    impl Env for TempEnv {
        fn var(&self, name: &str) -> Option<String> {
            self.vars.get(name).cloned()
        }
        fn home(&self) -> Option<PathBuf> {
            Some(self.home.clone())
        }
        fn root(&self) -> PathBuf {
            self.root.clone()
        }
        fn uid(&self) -> Option<u32> {
            Some(1000)
        }
    }

    /// A machine in a temp dir: `/` is the dir, HOME is `/home/me`.
    fn machine(vars: &[(&'static str, &str)]) -> (tempfile::TempDir, TempEnv) {
        let dir = tempfile::tempdir().expect("temp dir");
        let home = dir.path().join("home/me");
        std::fs::create_dir_all(&home).expect("home");
        let env = TempEnv {
            vars: vars.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
            root: dir.path().to_owned(),
            home,
        };
        (dir, env)
    }

    /// A real listening socket, as the engine's would be.
    fn listen(path: &Path) -> UnixListener {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("dir");
        UnixListener::bind(path).expect("bind")
    }

    fn kinds(found: &[Candidate]) -> Vec<&str> {
        found.iter().map(|c| c.kind.as_str()).collect()
    }

    #[test]
    fn every_laptop_engine_is_found_where_its_tool_puts_its_socket() {
        let (dir, env) = machine(&[]);
        let home = env.home.clone();
        let run = dir.path().join("run/user/1000");
        let _l = [
            listen(&home.join(".docker/run/docker.sock")),
            listen(&home.join(".colima/default/docker.sock")),
            listen(&home.join(".colima/work/docker.sock")),
            listen(&home.join(".orbstack/run/docker.sock")),
            listen(&home.join(".rd/docker.sock")),
            listen(&run.join("docker.sock")),
            listen(&run.join("podman/podman.sock")),
            listen(&dir.path().join("run/podman/podman.sock")),
        ];
        // colima's own directories are not profiles.
        std::fs::create_dir_all(home.join(".colima/_lima")).expect("dir");
        let found = present(&env);
        assert_eq!(
            kinds(&found),
            [
                "rootless Docker",
                "Docker Desktop (macOS)",
                "OrbStack",
                "colima (default)",
                "colima (work)",
                "Rancher Desktop",
                "rootless Podman",
                "rootful Podman",
            ]
        );
        assert_eq!(
            found[0].host,
            format!("unix://{}", run.join("docker.sock").display())
        );
    }

    #[test]
    fn xdg_runtime_dir_is_where_rootless_engines_listen() {
        let (dir, env) = machine(&[]);
        let xdg = dir.path().join("xdg");
        let mut env = env;
        env.vars
            .insert("XDG_RUNTIME_DIR", xdg.display().to_string());
        let _l = listen(&xdg.join("podman/podman.sock"));
        // A socket under the systemd default is not looked at when XDG_RUNTIME_DIR says otherwise.
        let _m = listen(&dir.path().join("run/user/1000/docker.sock"));
        let found = present(&env);
        assert_eq!(kinds(&found), ["rootless Podman"]);
    }

    #[test]
    fn a_file_that_is_not_a_socket_is_no_engine() {
        let (_dir, env) = machine(&[]);
        let path = env.home.join(".rd/docker.sock");
        std::fs::create_dir_all(path.parent().expect("parent")).expect("dir");
        std::fs::write(&path, "").expect("file");
        assert!(present(&env).is_empty());
    }

    #[test]
    fn colima_home_moves_colimas_profiles() {
        let (dir, mut env) = machine(&[]);
        let colima = dir.path().join("elsewhere");
        env.vars.insert("COLIMA_HOME", colima.display().to_string());
        let _l = listen(&colima.join("default/docker.sock"));
        assert_eq!(kinds(&present(&env)), ["colima (default)"]);
    }
}
