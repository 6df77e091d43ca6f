//! Every check archsmoke makes, as pure functions: captured results and image contents in, the
//! expectations that did not hold out. One module each:
//!
//! - [`output`]: a container test's exit code, stdout and stderr against its `[[test]]`;
//! - [`image`]: a platform's files, config and ELF executables against `[[file]]`, `[metadata]`
//!   and `[audit]`, listed once per platform by [`image::for_platform`];
//! - [`elf`]: the ELF audit, which files a platform could not run (called by [`image`]);
//! - [`across`]: one test's results compared over platforms (`same_output`).
//!
//! - [`fs`]: the filesystem model the image checks read (entries, the merged view), filled by
//!   the audit from the layers.
//!
//! Checks never do I/O and know nothing of the engine, the registry or the audit that reads the
//! image: the runner hands them captured output, the audit hands them the image's config and
//! merged filesystem.

pub mod across;
pub mod elf;
pub mod fs;
pub mod image;
pub mod output;
pub mod package;
pub mod service;
