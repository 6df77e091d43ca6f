//! `inspect`'s pipeline: open the image and the engine as a run does, read every entry's config,
//! and ask the engine profile how each runnable entry would run. The result is the plain
//! [`InspectReport`] that `report::inspect` renders.

use futures_util::future::join_all;

use super::open::{Opened, open};
use crate::diagnostic::Diagnostic;
use crate::image::{self, IndexEntry, SourceSpec};
use crate::mode::ExecMode;
use crate::outcome::inspect::{INSPECT_SCHEMA_VERSION, InspectEntry, InspectReport};
use crate::profile::EngineProfile;

/// The index of `text` and how the engine at `host` would run each entry. Without an engine the
/// index is still worth showing: the "runs here" column is then left empty, with a warning.
pub async fn inspect(text: &str, host: Option<&str>) -> Result<InspectReport, Diagnostic> {
    let source = SourceSpec::parse(text)
        .map_err(|e| Diagnostic::usage(e.to_string()).with_hint(e.hint()))?;
    let Opened {
        engine,
        image,
        resolve_time,
        ..
    } = open(text, &source, host).await;
    let mut warnings = Vec::new();
    let profile = match engine {
        Ok((_, info)) => Some(EngineProfile::read(info)),
        Err(e) => {
            warnings.push(format!("{e}; not saying how entries would run"));
            None
        }
    };
    let (image, resolved) = image.map_err(super::Unresolved::into_diagnostic)?;
    let details = join_all(resolved.entries.iter().map(|entry| async {
        if entry.kind != image::IndexEntryKind::Image {
            return (None, None, None);
        }
        // The size needs the layer descriptors; an engine's own image has none to give, so
        // its config alone answers and the size stays unknown.
        let (pi, size) = match image.platform_contents(entry).await {
            Ok(contents) => {
                let size = contents.size();
                (Ok(contents.image), Some(size))
            }
            Err(_) if image.daemon_name().is_some() => (image.platform_image(entry).await, None),
            Err(e) => (Err(e), None),
        };
        match pi {
            Ok(pi) => {
                let problem = entry.platform.as_ref().and_then(|p| pi.config_mismatch(p));
                (Some(pi.config_platform), size, problem)
            }
            Err(e) => (None, None, Some(e.to_string())),
        }
    }))
    .await;
    let modes = resolved.entries.iter().map(|entry| {
        let mode = match (&profile, &entry.platform, &entry.kind) {
            (Some(profile), Some(p), image::IndexEntryKind::Image) => Some(profile.mode(p)),
            _ => None,
        };
        // Each version is an emulator process start: side by side, not one after another.
        tokio::task::spawn_blocking(move || mode.map(ExecMode::with_emulator_version))
    });
    let modes = join_all(modes).await;
    let entries = resolved
        .entries
        .iter()
        .zip(details)
        .zip(modes)
        .map(
            |((entry, (config_platform, image_size, problem)), runs_here)| InspectEntry {
                config_platform,
                image_size,
                runs_here: runs_here.unwrap_or(None),
                problem,
                ..entry_of(entry)
            },
        )
        .collect();
    Ok(InspectReport {
        schema_version: INSPECT_SCHEMA_VERSION,
        reference: resolved.reference.clone(),
        digest: resolved.digest.clone(),
        media_type: resolved.media_type.clone(),
        is_index: resolved.is_index,
        resolve_secs: resolve_time,
        engine: profile.and_then(|p| p.summary()),
        entries,
        warnings,
    })
}

/// The report's view of an index entry, before anything was read about it.
fn entry_of(entry: &IndexEntry) -> InspectEntry {
    InspectEntry {
        digest: entry.digest.clone(),
        media_type: entry.media_type.clone(),
        size: entry.size,
        image_size: None,
        platform: entry.platform.clone(),
        kind: entry.kind,
        nested_in: entry.nested_in.clone(),
        config_platform: None,
        runs_here: None,
        problem: None,
    }
}
