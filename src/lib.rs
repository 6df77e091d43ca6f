//! archsmoke: smoke-test a container image on every CPU architecture it claims to support.
//!
//! Data flows one way, and the module list follows it:
//!
//! ```text
//! cli ─▶ spec ─▶ image (resolve the index) ─▶ plan ─▶ run ══ events ══▶ report
//!                       engine, emulation ─────┘      │
//!                                                     └─▶ outcome (RunReport) ─▶ report
//! ```
//!
//! Only [`engine`] talks to Docker (through bollard) and only [`image::registry`] talks to
//! registries (through oci-client). Reporters read [`event`]s and [`outcome`]s and nothing else.

pub mod audit;
pub mod check;
pub mod cli;
pub mod cst;
pub mod diagnostic;
pub mod emulation;
pub mod engine;
pub mod event;
pub mod exit;
pub mod image;
pub mod outcome;
pub mod plan;
pub mod platform;
pub mod probe;
pub mod redact;
pub mod report;
pub mod run;
pub mod spec;
