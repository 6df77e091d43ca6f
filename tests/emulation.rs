//! End to end: emulation on the real kernel. Removing the arm64 entry makes linux/arm64 fail with
//! the fix; installing it again with `archsmoke binfmt install` makes it pass. This binary holds a
//! single test because it changes machine-wide state (cargo runs test binaries one at a time).

mod common;

use std::path::Path;

use common::{image, run, spec};

const ENTRY: &str = "/proc/sys/fs/binfmt_misc/qemu-aarch64";

/// Puts an arm64 entry back whatever happens, so later tests still have QEMU for arm64.
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        if !Path::new(ENTRY).exists() {
            let r = run(&["binfmt", "install", "arm64"]);
            assert_eq!(
                r.code,
                0,
                "could not restore the arm64 entry: {}",
                r.explain()
            );
        }
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
    assert!(
        Path::new(ENTRY).exists(),
        "no qemu-aarch64 entry: run `sudo tests/testbed/up.sh`"
    );
    let _restore = Restore;

    let removed = run(&["binfmt", "remove", "arm64"]);
    assert_eq!(removed.code, 0, "{}", removed.explain());
    assert!(!Path::new(ENTRY).exists());

    let r = run(&["run", s.path()]);
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

    let installed = run(&["binfmt", "install", "arm64"]);
    assert_eq!(installed.code, 0, "{}", installed.explain());
    let flags = std::fs::read_to_string(ENTRY).expect("entry registered");
    assert!(
        flags.contains("flags: PF") || flags.contains("flags: FP"),
        "{flags}"
    );

    let r = run(&["run", s.path()]);
    assert_eq!(r.code, 0, "{}", r.explain());
    assert!(
        r.row("linux/arm64").contains("qemu-aarch64"),
        "{}",
        r.explain()
    );
}
