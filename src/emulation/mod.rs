//! Emulation: how an engine will run a platform, and the binfmt_misc entries that decide it.
//!
//! This module owns the decision [`decide`] (native, native in 32-bit compat mode, emulated by a
//! binfmt_misc entry, or unavailable with the command that fixes it), which is pure: it looks at
//! architecture names and an already-read [`BinfmtState`], never at Docker or the file system.
//! Around it: `defs` (the embedded `qemu/binfmt.toml`), `binfmt` (reading the kernel's state),
//! `interpreter` (finding and vetting static QEMU binaries) and `register` (`archsmoke binfmt
//! install | remove | list`). The engine's architecture, not this machine's, is what counts: for
//! a remote engine the caller passes no binfmt state and runs a probe container instead.

pub mod binfmt;
pub mod defs;
pub mod interpreter;
pub mod register;

pub use binfmt::{BinfmtState, EmulatorKind, Entry, Flags};
pub use defs::ArchDef;
