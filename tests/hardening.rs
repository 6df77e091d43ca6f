//! End to end: what archsmoke must never harm or accept. Report paths that are not regular files
//! are written through, never replaced; container limits; the isolation gate; spec strings that
//! reach outputs; bad input refused with a position.

mod common;

use std::fs;
use std::io::Read;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::process::Command;

use common::{image, run, spec};

/// A run that passes quickly without a container: one file check on one platform.
fn quick_spec() -> common::SpecFile {
    spec(
        "quick",
        &format!(
            "image = \"{}\"\nplatforms = [\"linux/amd64\"]\n[[file]]\npath = \"/bin/busybox\"\n",
            image("multi")
        ),
    )
}

/// A character device with `/dev/NAME`'s numbers, made in `dir`: the tests never touch the
/// system's own device nodes.
fn device_like(dir: &Path, name: &str) -> std::path::PathBuf {
    use std::os::unix::fs::MetadataExt;
    let real = fs::metadata(format!("/dev/{name}")).expect("stat /dev node");
    let (major, minor) = (libc_major(real.rdev()), libc_minor(real.rdev()));
    let path = dir.join(name);
    let out = Command::new("mknod")
        .arg(&path)
        .args(["c", &major.to_string(), &minor.to_string()])
        .output()
        .expect("mknod runs");
    assert!(out.status.success(), "mknod (needs root): {out:?}");
    path
}

fn libc_major(dev: u64) -> u64 {
    ((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0xfff)
}

fn libc_minor(dev: u64) -> u64 {
    ((dev >> 12) & 0xffff_ff00) | (dev & 0xff)
}

fn is_char_device(path: &Path) -> bool {
    fs::symlink_metadata(path)
        .map(|m| m.file_type().is_char_device())
        .unwrap_or(false)
}

#[test]
fn report_paths_that_are_not_regular_files_are_written_through_not_replaced() {
    let s = quick_spec();
    let dir = tempfile::tempdir().expect("temp dir");
    let null = device_like(dir.path(), "null");
    let full = device_like(dir.path(), "full");
    // A symlink to a report elsewhere: the link stays, its target gets the report.
    fs::create_dir(dir.path().join("reports")).expect("mkdir");
    let real = dir.path().join("reports/real.json");
    fs::write(&real, "old").expect("seed");
    let link = dir.path().join("link.json");
    std::os::unix::fs::symlink(&real, &link).expect("symlink");
    // What `/dev/stdout` is: a link to the process's fd 1.
    let stdout_link = dir.path().join("stdout");
    std::os::unix::fs::symlink("/proc/self/fd/1", &stdout_link).expect("symlink");

    let r = run(&[
        "run",
        s.path(),
        "--junit",
        null.to_str().expect("utf-8"),
        "--json",
        link.to_str().expect("utf-8"),
    ]);
    assert_eq!(r.code, 0, "{}", r.explain());
    assert!(is_char_device(&null), "the device node was replaced");
    assert!(
        fs::symlink_metadata(&link)
            .expect("stat")
            .file_type()
            .is_symlink(),
        "the symlink was replaced"
    );
    let written = fs::read_to_string(&real).expect("read target");
    assert!(written.contains("\"run_id\""), "target kept: {written}");

    // A FIFO: a reader gets the report, and the FIFO stays one.
    let fifo = dir.path().join("fifo");
    let out = Command::new("mkfifo").arg(&fifo).output().expect("mkfifo");
    assert!(out.status.success(), "{out:?}");
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            let mut text = String::new();
            fs::File::open(&fifo)
                .and_then(|mut f| f.read_to_string(&mut text))
                .expect("read the FIFO");
            text
        })
    };
    let r = run(&["run", s.path(), "--json", fifo.to_str().expect("utf-8")]);
    assert_eq!(r.code, 0, "{}", r.explain());
    assert!(
        fs::symlink_metadata(&fifo)
            .expect("stat")
            .file_type()
            .is_fifo(),
        "the FIFO was replaced"
    );
    let text = reader.join().expect("reader");
    assert!(text.contains("\"run_id\""), "FIFO got: {text}");

    // Through the stdout link: the report lands on stdout.
    let r = run(&[
        "run",
        s.path(),
        "--json",
        stdout_link.to_str().expect("utf-8"),
    ]);
    assert_eq!(r.code, 0, "{}", r.explain());
    assert!(r.stdout.contains("\"run_id\""), "{}", r.explain());

    // A write error (`/dev/full`: ENOSPC) is an infrastructure failure, and the node stays.
    let r = run(&["run", s.path(), "--junit", full.to_str().expect("utf-8")]);
    assert_eq!(r.code, 3, "{}", r.explain());
    assert!(r.stderr.contains("No space left"), "{}", r.explain());
    assert!(is_char_device(&full), "the device node was replaced");
}

