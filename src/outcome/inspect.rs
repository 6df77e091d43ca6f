//! `archsmoke inspect`'s report: an index, every entry as the image module found it and what
//! reading it showed, and how the engine would run each. Plain data, like the run report: the
//! pipeline fills it, `report::inspect` renders it.

use serde::Serialize;

use super::EngineSummary;
use crate::mode::ExecMode;
use crate::platform::Platform;

/// Version of the JSON written by `inspect --json`; bumped on any incompatible change.
pub const INSPECT_SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize)]
pub struct InspectReport {
    pub schema_version: u32,
    pub reference: String,
    pub digest: String,
    pub media_type: String,
    pub is_index: bool,
    /// Wall time of the index walk alone (the engine handshake runs beside it).
    #[serde(serialize_with = "super::secs::serialize")]
    pub resolve_secs: std::time::Duration,
    pub engine: Option<EngineSummary>,
    pub entries: Vec<InspectEntry>,
    /// What the command line should say before the report (not part of the JSON): the engine
    /// that did not answer, so the "runs here" column is empty.
    #[serde(skip)]
    pub warnings: Vec<String>,
}

/// One entry of the index, where it was found, and what reading it showed.
#[derive(Debug, Clone, Serialize)]
pub struct InspectEntry {
    pub digest: String,
    pub media_type: String,
    /// The manifest's size, as the index entry says.
    pub size: i64,
    /// The image's size: config and layers (runnable entries whose manifest could be read).
    pub image_size: Option<u64>,
    pub platform: Option<Platform>,
    pub kind: IndexEntryKind,
    /// The index the entry was found in, when it is not the top-level one.
    pub nested_in: Option<String>,
    /// What the image's own config says (runnable entries only).
    pub config_platform: Option<Platform>,
    /// How the current engine would run it (runnable entries only).
    pub runs_here: Option<ExecMode>,
    /// A problem found while reading the entry (config mismatch, fetch failure).
    pub problem: Option<String>,
}

/// What an index entry is: the image module classifies the entries of an index, the report
/// names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IndexEntryKind {
    /// An image for a platform: a candidate to run.
    Image,
    /// A buildx attestation manifest (`unknown/unknown`): never runnable.
    Attestation,
    /// An image entry without a platform: cannot be matched.
    NoPlatform,
    /// A child of a media type that is neither an image nor an index; ignored as the spec says.
    Ignored,
}
