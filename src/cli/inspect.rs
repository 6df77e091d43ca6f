//! `archsmoke inspect IMAGE`: the index, its entries, and how each would run here.

use std::path::Path;

use futures_util::future::join_all;

use super::{GlobalArgs, InspectArgs};
use crate::diagnostic::Diagnostic;
use crate::emulation::{BinfmtState, ExecMode, decide};
use crate::engine::Engine;
use crate::exit;
use crate::image::{EntryKind, ImageSource, ResolvedImage, SourceSpec};
use crate::report::inspect::{
    INSPECT_SCHEMA_VERSION, InspectEntry, InspectReport, render_json, render_table,
};

pub async fn inspect(args: &InspectArgs, global: &GlobalArgs) -> Result<i32, Diagnostic> {
    SourceSpec::parse(&args.image)
        .map_err(|e| Diagnostic::usage(e.to_string()).with_hint(e.hint()))?;
    // The engine only adds the "runs here" column; the index is worth showing without it (except
    // for `docker-daemon:`, whose image only the engine can describe).
    let mut engine = None;
    let engine_info = match Engine::connect(global.host.as_deref()).await {
        Ok(e) => match e.info().await {
            Ok(info) => {
                engine = Some(e);
                Some(info)
            }
            Err(e) => {
                eprintln!("warning: {e}; not saying how entries would run");
                None
            }
        },
        Err(e) => {
            eprintln!("warning: {e}; not saying how entries would run");
            None
        }
    };
    let binfmt = engine_info
        .as_ref()
        .filter(|i| i.local)
        .and_then(|_| BinfmtState::read(Path::new(super::run::BINFMT_ROOT)).ok());
    let infra = |message: String, hint: Option<String>| {
        let d = Diagnostic::infrastructure(message);
        match hint {
            Some(h) => d.with_hint(h),
            None => d,
        }
    };
    let image_error = |e: crate::image::ImageError| {
        if e.is_usage() {
            Diagnostic::usage(e.to_string()).with_hint(e.hint())
        } else {
            infra(e.to_string(), Some(e.hint()))
        }
    };
    let resolved = match &engine {
        Some(engine) => super::run::open_and_resolve(&args.image, engine)
            .await
            .map_err(|u| match u {
                super::run::Unresolved::Usage(d) => d,
                super::run::Unresolved::Problem(p) => infra(p.message, p.hint),
            })?,
        None => {
            let source = ImageSource::open(&args.image).map_err(image_error)?;
            if source.daemon_name().is_some() {
                return Err(Diagnostic::infrastructure(format!(
                    "{}: only the engine can describe its images, and it did not answer",
                    args.image
                )));
            }
            let resolved = source.resolve().await.map_err(image_error)?;
            (source, resolved)
        }
    };
    let (image, resolved): (ImageSource, ResolvedImage) = resolved;
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
    let entries = resolved
        .entries
        .iter()
        .zip(details)
        .map(|(entry, (config_platform, problem))| {
            let runs_here = match (&engine_info, &entry.platform, &entry.kind) {
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
                (Some(info), Some(p), EntryKind::Image) => Some(
                    decide(
                        info.platform.architecture(),
                        p.architecture(),
                        p.variant(),
                        binfmt.as_ref(),
                    )
                    .with_emulator_version(),
                ),
                _ => None,
            };
            InspectEntry {
                entry: entry.clone(),
                config_platform,
                runs_here,
                problem,
            }
        })
        .collect();
    let report = InspectReport {
        schema_version: INSPECT_SCHEMA_VERSION,
        reference: resolved.reference.clone(),
        digest: resolved.digest.clone(),
        media_type: resolved.media_type.clone(),
        is_index: resolved.is_index,
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
