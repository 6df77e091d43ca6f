//! archsmoke: smoke-test a container image on every CPU architecture it claims to support.
//!
//! Data flows one way (ARCHITECTURE.md has the whole map):
//!
//! ```text
//! cli ─▶ pipeline::Config (spec + flags) ─▶ pipeline::open (engine ∥ image index)
//!     ─▶ profile (how the engine runs each platform) ─▶ plan ─▶ run ══ events ══▶ report
//!                                                                │
//!                      checks, audit, cross-platform compare ─▶ outcome (RunReport) ─▶ report
//! ```
//!
//! [`pipeline`] drives a run and hands the CLI a finished [`outcome::RunReport`]; the CLI only
//! parses, picks reporters and writes. The contract between running and reporting is plain data:
//! [`outcome`], [`event`] and [`mode`], which depend on [`platform`] (and [`range`]) alone.
//! Only [`engine`] talks to Docker (through bollard) and only [`image::registry`] talks to
//! registries (through oci-client); checks ([`check`]) are pure functions; reporters
//! ([`report`]) read the contract and nothing else (`tests/layering.rs` holds the code to these
//! rules).

pub mod arch;
pub mod attest;
pub mod audit;
pub mod backend;
pub mod check;
pub mod cli;
pub mod cst;
pub mod diagnostic;
pub mod digest;
pub mod emulation;
pub mod engine;
pub mod event;
pub mod exit;
pub mod goss;
pub mod image;
pub mod limits;
pub mod mode;
pub mod outcome;
pub mod owner;
pub mod pipeline;
pub mod pkgdb;
pub mod plan;
pub mod platform;
pub mod probe;
pub mod profile;
pub mod range;
pub mod re2;
pub mod redact;
pub mod report;
pub mod route;
pub mod run;
pub mod service;
pub mod slots;
pub mod spec;
pub mod userfile;
pub mod verify;
pub mod yaml;
