//! Reporters: they read [`crate::event::Event`]s and [`crate::outcome::RunReport`]s and write
//! text; none of them touches the engine or a registry.
//!
//! [`terminal`] writes for people as the run goes; [`junit`], [`json`] and [`html`] render the
//! finished [`crate::outcome::RunReport`] into files for CI. Files are written by [`write_atomically`], so
//! that a dashboard or a script never reads half a report, even when the run is killed while
//! writing it.

pub mod doctor;
pub mod github;
pub mod html;
pub mod inspect;
pub mod json;
pub mod junit;
pub mod live;
pub mod merge;
pub mod read;
pub mod service;
pub mod terminal;
pub mod words;

#[cfg(test)]
pub(crate) mod fixtures;

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::outcome::Mismatch;

/// Whether a mismatch's values are shown quoted, with escapes. Values that read plainly (a
/// version, a path, a list or string as the spec writes them) are shown as they are; when either
/// value is empty, has whitespace at an end or a control character (output's trailing newline),
/// both are quoted, so that the difference the eye cannot see still shows.
pub(crate) fn needs_quotes(m: &Mismatch) -> bool {
    [&m.expected, &m.actual]
        .iter()
        .any(|v| v.is_empty() || v.trim() != v.as_str() || v.chars().any(char::is_control))
}

/// Writes `contents` to `path` as a report: all or nothing where the target is a file, straight
/// through where it is not.
///
/// A regular file (or a path that does not exist yet) is replaced atomically: the bytes go to a
/// temporary file in the same directory (a rename is only atomic within one filesystem), are
/// flushed to disk, and the file is then renamed over it; finally the directory is synced so that
/// the rename itself survives a crash. Readers see the old file or the new one, never a mix. A
/// symlink is followed and its final target is replaced the same way, so the link stays a link.
/// Anything else (a character device such as `/dev/null`, a FIFO, a socket, or a path through
/// `/proc` or `/dev/fd` such as `/dev/stdout`) is opened and written through, never replaced:
/// renaming over `/dev/null` as root would turn the system's null device into a file. Every write
/// error is returned (`/dev/full` included), and the caller reports it as an infrastructure
/// failure.
///
/// A new file gets the usual `0666 & !umask` permissions, like any file a shell redirect would
/// create, so CI artifact uploaders can read it. On failure the temporary file is removed and
/// `path` is left as it was. Errors name the path and the step that failed.
pub fn write_atomically(path: &Path, contents: &[u8]) -> io::Result<()> {
    let context = |step: &str, e: io::Error| {
        io::Error::new(
            e.kind(),
            format!("cannot write {}: {step}: {e}", path.display()),
        )
    };
    match destination(path).map_err(|e| context("cannot follow the path", e))? {
        Destination::Replace(target) => replace(&target, contents, &context),
        Destination::Through(target) => {
            let mut file = fs::OpenOptions::new()
                .write(true)
                .open(&target)
                .map_err(|e| context("cannot open it for writing", e))?;
            file.write_all(contents)
                .and_then(|()| file.flush())
                .map_err(|e| context("writing failed", e))
        }
    }
}

/// Where a report goes.
#[derive(Debug, PartialEq, Eq)]
enum Destination {
    /// A regular file, or a name that does not exist yet: replaced by a rename.
    Replace(PathBuf),
    /// Not a regular file (device, FIFO, socket, `/proc` or `/dev/fd` magic link): written into.
    Through(PathBuf),
}

/// Follows `path`'s symlinks one by one (at most 40, as the kernel does) to what a write would
/// reach, and decides how to write it.
fn destination(path: &Path) -> io::Result<Destination> {
    let mut current = path.to_path_buf();
    for _ in 0..40 {
        // `/dev/stdout` is a link to `/proc/self/fd/1`, itself a magic link to whatever fd 1
        // is: a pipe has no path, and a file's path is not ours to replace behind the shell's
        // back. Anything reached through these is written into.
        if is_magic(&current) {
            return Ok(Destination::Through(current));
        }
        let meta = match fs::symlink_metadata(&current) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Ok(Destination::Replace(current));
            }
            Err(e) => return Err(e),
        };
        let kind = meta.file_type();
        if kind.is_symlink() {
            let target = fs::read_link(&current)?;
            current = match target.is_absolute() {
                true => target,
                false => directory_of(&current).join(target),
            };
            continue;
        }
        if kind.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::IsADirectory,
                format!("{} is a directory", current.display()),
            ));
        }
        return Ok(if kind.is_file() {
            Destination::Replace(current)
        } else {
            Destination::Through(current)
        });
    }
    Err(io::Error::other("too many levels of symbolic links"))
}

/// Paths whose links the kernel resolves itself, to objects that may have no path at all.
fn is_magic(path: &Path) -> bool {
    path.starts_with("/proc") || path.starts_with("/dev/fd")
}

/// Replaces the regular file (or new name) `target` through a synced temporary file and a rename.
fn replace(
    target: &Path,
    contents: &[u8],
    context: &dyn Fn(&str, io::Error) -> io::Error,
) -> io::Result<()> {
    let dir = directory_of(target);
    let mut tmp = tempfile::Builder::new()
        .prefix(".archsmoke-")
        .suffix(".tmp")
        .permissions(default_permissions())
        .tempfile_in(dir)
        .map_err(|e| {
            context(
                &format!("cannot create a temporary file in {}", dir.display()),
                e,
            )
        })?;
    tmp.write_all(contents)
        .map_err(|e| context("writing the temporary file failed", e))?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| context("syncing the temporary file failed", e))?;
    tmp.persist(target)
        .map_err(|e| context("renaming the temporary file into place failed", e.error))?;
    // Without this the rename may be lost on power failure even though the data was synced.
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| context(&format!("syncing directory {} failed", dir.display()), e))
}

/// The directory a path's file lives in; `report.xml` (empty parent) lives in `.`.
fn directory_of(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

fn default_permissions() -> fs::Permissions {
    use std::os::unix::fs::PermissionsExt;
    // Like open(2) with O_CREAT: the process umask narrows it.
    fs::Permissions::from_mode(0o666)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temporary_behind() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("report.xml");
        fs::write(&path, b"old contents that are longer than the new ones").expect("seed file");

        write_atomically(&path, b"new").expect("write");

        assert_eq!(fs::read(&path).expect("read back"), b"new");
        let names: Vec<_> = fs::read_dir(dir.path())
            .expect("list dir")
            .map(|e| e.expect("dir entry").file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("report.xml")]);
    }

    #[test]
    fn new_files_are_readable_by_others_like_a_redirect_would_make_them() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("r.json");
        write_atomically(&path, b"{}").expect("write");
        let mode = fs::metadata(&path).expect("stat").permissions().mode();
        // Whatever the umask, the owner can read and write, which tempfile's 0600 default also
        // gives; the group/other bits are what a 0666 request adds under the usual umasks.
        assert_eq!(mode & 0o600, 0o600, "mode {mode:o}");
        let umask = current_umask();
        assert_eq!(
            mode & 0o777,
            0o666 & !umask,
            "mode {mode:o}, umask {umask:o}"
        );
    }

    fn current_umask() -> u32 {
        // Probe by creating a plain file: std uses 0666 for File::create.
        let dir = tempfile::tempdir().expect("temp dir");
        let probe = dir.path().join("probe");
        File::create(&probe).expect("create probe");
        let mode = fs::metadata(&probe)
            .expect("stat probe")
            .permissions()
            .mode();
        (mode & 0o777) ^ 0o666
    }

    #[test]
    fn a_fifo_is_written_through_not_replaced() {
        // `--json /dev/stdout` or `--html /dev/null`: renaming over a device node would replace
        // it (as root, /dev/null became a regular file). A FIFO stands in for the device here.
        use std::os::unix::fs::FileTypeExt;
        let dir = tempfile::tempdir().expect("temp dir");
        let fifo = dir.path().join("pipe");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600))
            .expect("mkfifo");
        let (tx, rx) = std::sync::mpsc::channel();
        {
            let fifo = fifo.clone();
            std::thread::spawn(move || tx.send(fs::read(&fifo).expect("read the FIFO")));
        }
        write_atomically(&fifo, b"through the pipe").expect("write");
        // Bounded: were the FIFO renamed away, its reader would wait for a writer forever.
        let read = rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("the reader got the bytes");
        assert_eq!(read, b"through the pipe");
        let kind = fs::symlink_metadata(&fifo).expect("stat").file_type();
        assert!(kind.is_fifo(), "still a FIFO: {kind:?}");
        let names = fs::read_dir(dir.path()).expect("list dir").count();
        assert_eq!(names, 1, "no temporary file left");
    }

    #[test]
    fn a_bare_file_name_lives_in_the_current_directory() {
        // `--junit report.xml` has an empty parent, which must not become the root or fail.
        assert_eq!(directory_of(Path::new("report.xml")), Path::new("."));
        assert_eq!(directory_of(Path::new("out/report.xml")), Path::new("out"));
        assert_eq!(directory_of(Path::new("/report.xml")), Path::new("/"));
    }

    #[test]
    fn a_missing_directory_is_reported_with_the_path() {
        let target = tempfile::tempdir().expect("temp dir");
        let path = target.path().join("x").join("report.xml");
        let err = write_atomically(&path, b"data").expect_err("missing directory must fail");
        let text = err.to_string();
        assert!(
            text.contains(&path.display().to_string()) && text.contains("temporary file"),
            "{text}"
        );
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn a_directory_in_the_way_is_reported_and_left_alone() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("report.xml");
        fs::create_dir(&path).expect("make a directory where the file should go");
        fs::write(path.join("keep"), b"x").expect("file inside");
        let err = write_atomically(&path, b"data").expect_err("cannot write over a directory");
        assert!(err.to_string().contains("is a directory"), "{err}");
        assert!(path.join("keep").exists());
        let leftovers = fs::read_dir(dir.path()).expect("list dir").count();
        assert_eq!(leftovers, 1, "no temporary file may be left");
    }

    #[test]
    fn symlinks_are_followed_and_kept() {
        let dir = tempfile::tempdir().expect("temp dir");
        let real = dir.path().join("real.xml");
        fs::write(&real, b"old").expect("seed");
        let link = dir.path().join("link.xml");
        std::os::unix::fs::symlink("real.xml", &link).expect("symlink");
        write_atomically(&link, b"new").expect("write");
        assert!(
            fs::symlink_metadata(&link)
                .expect("stat")
                .file_type()
                .is_symlink()
        );
        assert_eq!(fs::read(&real).expect("read"), b"new");
    }

    #[test]
    fn what_is_not_a_regular_file_is_written_through() {
        assert_eq!(
            destination(Path::new("/dev/stdout")).expect("follow"),
            Destination::Through(PathBuf::from("/proc/self/fd/1"))
        );
        assert_eq!(
            destination(Path::new("/dev/null")).expect("follow"),
            Destination::Through(PathBuf::from("/dev/null"))
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let new = dir.path().join("new.json");
        assert_eq!(
            destination(&new).expect("follow"),
            Destination::Replace(new.clone())
        );
    }
}
