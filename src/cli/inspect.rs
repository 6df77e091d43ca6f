//! `archsmoke inspect IMAGE`: the index, its entries, and how each would run here.

use futures_util::future::join_all;

use super::run::{Opened, Unresolved, open};
use super::{GlobalArgs, InspectArgs};
use crate::diagnostic::Diagnostic;
use crate::emulation::{BinfmtState, ExecMode, decide};
use crate::exit;
use crate::image::{EntryKind, SourceSpec};
use crate::report::inspect::{
    INSPECT_SCHEMA_VERSION, InspectEntry, InspectReport, render_json, render_table,
};

pub async fn inspect(args: &InspectArgs, global: &GlobalArgs) -> Result<i32, Diagnostic> {
    let source = SourceSpec::parse(&args.image)
        .map_err(|e| Diagnostic::usage(e.to_string()).with_hint(e.hint()))?;
    let Opened {
        engine,
        image,
        resolve_time,
        ..
    } = open(&args.image, &source, global.host.as_deref()).await;
    // The engine only adds the "runs here" column; the index is worth showing without it.
    let engine_info = match engine {
        Ok((_, info)) => Some(info),
        Err(e) => {
            eprintln!("warning: {e}; not saying how entries would run");
            None
        }
    };
    let (image, resolved) = match image {
        Ok(pair) => pair,
        Err(Unresolved::Usage(d)) => return Err(d),
        Err(Unresolved::Problem(p)) => {
            let d = Diagnostic::infrastructure(p.message);
            return Err(match p.hint {
                Some(h) => d.with_hint(h),
                None => d,
            });
        }
    };
    let binfmt = engine_info
        .as_ref()
        .filter(|i| i.local)
        .and_then(|_| BinfmtState::read(&crate::emulation::binfmt::read_dir()).ok());
    let details = join_all(resolved.entries.iter().map(|entry| async {
        if entry.kind != EntryKind::Image {
            return (None, None);
        }
        match image.platform_image(entry).await {
            Ok(pi) => {
                let problem = entry.platform.as_ref().and_then(|p| pi.config_mismatch(p));
                (Some(pi.config_platform), problem)
            }
            Err(e) => (None, Some(e.to_string())),
        }
    }))
    .await;
    let modes = resolved.entries.iter().map(|entry| {
        let mode = match (&engine_info, &entry.platform, &entry.kind) {
            (Some(info), Some(p), EntryKind::Image) if p.os() != info.platform.os() => {
                Some(ExecMode::Unavailable {
                    reason: format!(
                        "a {} image; this engine runs {} containers",
                        p.os(),
                        info.platform.os()
                    ),
                    hint: format!("run it on a {} engine", p.os()),
                })
            }
            (Some(info), Some(p), EntryKind::Image) => Some(decide(
                info.platform.architecture(),
                p.architecture(),
                p.variant(),
                binfmt.as_ref(),
            )),
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
            |((entry, (config_platform, problem)), runs_here)| InspectEntry {
                entry: entry.clone(),
                config_platform,
                runs_here: runs_here.unwrap_or(None),
                problem,
            },
        )
        .collect();
    let report = InspectReport {
        schema_version: INSPECT_SCHEMA_VERSION,
        reference: resolved.reference.clone(),
        digest: resolved.digest.clone(),
        media_type: resolved.media_type.clone(),
        is_index: resolved.is_index,
        resolve_secs: resolve_time,
        engine: engine_info,
        entries,
    };
    if args.json {
        println!("{}", render_json(&report));
    } else {
        render_table(&report, &mut std::io::stdout().lock())
            .map_err(|e| Diagnostic::infrastructure(format!("cannot write: {e}")))?;
    }
    Ok(exit::SUCCESS)
}
