//! End to end: emulation on the real kernel. Removing the arm64 entry makes linux/arm64 fail with
//! the fix; installing it again with `archsmoke binfmt install` makes it pass.
//!
//! The test must not fight other programs over the host's entries (a test bed coming up, another
//! test run on the same machine re-registering qemu-aarch64 in the middle): it runs archsmoke in
//! a user namespace of its own with a private binfmt_misc mount (Linux 6.7+ gives each user
//! namespace its own binfmt_misc), so `binfmt remove` and `binfmt install` change that mount only.
//! archsmoke judges emulation from the binfmt_misc it sees; the containers themselves still run
//! on the engine, through the host's entries, which this test never touches.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use common::{Run, image, spec};

/// The same path names the host's entry outside the namespace and the private one inside.
const ENTRY: &str = "/proc/sys/fs/binfmt_misc/qemu-aarch64";

/// A user and mount namespace (root mapped to root) with a fresh binfmt_misc mounted on the usual
/// path, held open by a sleeping process; commands join it with nsenter. Killed on drop.
struct PrivateBinfmt {
    holder: Child,
}

impl PrivateBinfmt {
    fn new() -> PrivateBinfmt {
        let mut holder = Command::new("unshare")
            .args([
                "--user",
                "--map-root-user",
                "--mount",
                "--propagation",
                "private",
            ])
            .args(["--", "sh", "-c"])
            .arg(format!(
                "mount -t binfmt_misc binfmt_misc {dir} && echo ready && exec sleep 3600",
                dir = "/proc/sys/fs/binfmt_misc"
            ))
            .stdout(Stdio::piped())
            .spawn()
            .expect("unshare (util-linux) starts");
        let mut line = String::new();
        BufReader::new(holder.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read unshare's output");
        assert_eq!(
            line.trim(),
            "ready",
            "cannot mount a private binfmt_misc in a user namespace (needs Linux 6.7+ and \
             unprivileged user namespaces allowed)"
        );
        PrivateBinfmt { holder }
    }

    /// `archsmoke ARGS` inside the namespace.
    fn archsmoke(&self, args: &[&str]) -> Run {
        let out = Command::new("nsenter")
            .arg(format!("--target={}", self.holder.id()))
            .args(["--user", "--mount", "--preserve-credentials", "--"])
            .arg(env!("CARGO_BIN_EXE_archsmoke"))
            .args(args)
            .env("NO_COLOR", "1")
            .env_remove("RUST_LOG")
            .output()
            .expect("nsenter runs");
        Run::from(out)
    }

    /// Whether the namespace's binfmt_misc has the entry, and its text.
    fn entry(&self) -> Option<String> {
        let out = Command::new("nsenter")
            .arg(format!("--target={}", self.holder.id()))
            .args([
                "--user",
                "--mount",
                "--preserve-credentials",
                "--",
                "cat",
                ENTRY,
            ])
            .output()
            .expect("nsenter runs");
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

impl Drop for PrivateBinfmt {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

#[test]
fn removing_the_arm64_emulator_fails_arm64_with_the_fix_and_installing_it_restores_it() {
    let text = format!(
        r#"
image = "{}"
platforms = ["linux/amd64", "linux/arm64"]
[[test]]
name = "machine"
command = ["uname", "-m"]
stdout = "x86_64\n"
[test.per_platform."linux/arm64"]
stdout = "aarch64\n"
"#,
        image("multi")
    );
    let s = spec("emu", &text);
    // The containers run through the host's entry; this test never writes it.
    assert!(
        Path::new(ENTRY).exists(),
        "no host entry {ENTRY}: run `sudo tests/testbed/up.sh`"
    );
    let ns = PrivateBinfmt::new();

    let installed = ns.archsmoke(&["binfmt", "install", "arm64"]);
    assert_eq!(installed.code, 0, "{}", installed.explain());
    assert!(ns.entry().is_some(), "install registered nothing");
    let removed = ns.archsmoke(&["binfmt", "remove", "arm64"]);
    assert_eq!(removed.code, 0, "{}", removed.explain());
    assert!(ns.entry().is_none(), "remove left the entry");
    assert!(
        Path::new(ENTRY).exists(),
        "removing in the private mount removed the host's entry"
    );

    let r = ns.archsmoke(&["run", s.path()]);
    assert_eq!(
        r.code,
        3,
        "a missing emulator is an infrastructure failure: {}",
        r.explain()
    );
    assert!(r.row("linux/arm64").contains("ERROR"), "{}", r.explain());
    assert!(
        r.row("linux/amd64").trim_end().ends_with("ok"),
        "{}",
        r.explain()
    );
    assert!(
        r.stdout.contains("archsmoke binfmt install arm64"),
        "the failure must name the fix: {}",
        r.explain()
    );

    let installed = ns.archsmoke(&["binfmt", "install", "arm64"]);
    assert_eq!(installed.code, 0, "{}", installed.explain());
    let flags = ns.entry().expect("entry registered");
    assert!(
        flags.contains("flags: PF") || flags.contains("flags: FP"),
        "{flags}"
    );

    let r = ns.archsmoke(&["run", s.path()]);
    assert_eq!(r.code, 0, "{}", r.explain());
    assert!(
        r.row("linux/arm64").contains("qemu-aarch64"),
        "{}",
        r.explain()
    );
}
