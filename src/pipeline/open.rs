//! Opening a run's two inputs: the engine (connect, then ask it to describe itself) and the image
//! source (open it, then read its index). `run` and `inspect` share this, so both wait on the
//! engine the same way and say the same things when an input cannot be opened.

use std::time::{Duration, Instant};

use crate::diagnostic::Diagnostic;
use crate::engine::{Engine, EngineError, EngineInfo};
use crate::image::{ImageError, ImageSource, ResolvedImage, SourceSpec};
use crate::outcome::{Problem, ProblemKind};

/// Why an image source could not be resolved.
pub enum Unresolved {
    /// What the user wrote is wrong (an ambiguous layout without `:TAG`): exit 2, no report.
    Usage(Diagnostic),
    /// The source could not be read: reported, exit 3.
    Problem(Problem),
}

impl Unresolved {
    /// As a fatal error, for commands without a report to carry the problem.
    pub fn into_diagnostic(self) -> Diagnostic {
        match self {
            Unresolved::Usage(d) => d,
            Unresolved::Problem(p) => {
                let d = Diagnostic::infrastructure(p.message);
                match p.hint {
                    Some(h) => d.with_hint(h),
                    None => d,
                }
            }
        }
    }
}

/// The engine and the image, each opened or with the reason it could not be.
pub struct Opened {
    pub engine: Result<(Engine, EngineInfo), EngineError>,
    pub engine_time: Duration,
    pub image: Result<(ImageSource, ResolvedImage), Unresolved>,
    /// The index walk alone (for `docker-daemon:`, the engine's answer about the image).
    pub resolve_time: Duration,
}

/// Connect to the engine and resolve the image. A `docker-daemon:` image is described by the
/// engine, so it waits for the handshake; any other source is read while the handshake is in
/// flight, since both are round trips that mostly wait on others.
pub async fn open(text: &str, source: &SourceSpec, host: Option<&str>) -> Opened {
    let ((engine, engine_time), (image, resolve_time)) = if matches!(source, SourceSpec::Daemon(_))
    {
        let connected = timed(connect(host)).await;
        let engine = connected.0.as_ref().ok().map(|(e, _)| e);
        let image = timed(open_and_resolve(text, engine)).await;
        (connected, image)
    } else {
        tokio::join!(timed(connect(host)), timed(open_and_resolve(text, None)))
    };
    Opened {
        engine,
        engine_time,
        image,
        resolve_time,
    }
}

/// The engine and what it says about itself, or why it cannot be used.
pub async fn connect(host: Option<&str>) -> Result<(Engine, EngineInfo), EngineError> {
    let engine = Engine::connect(host).await?;
    let info = engine.info().await?;
    Ok((engine, info))
}

/// `fut`'s output and the wall time it took.
pub async fn timed<T>(fut: impl Future<Output = T>) -> (T, Duration) {
    let started = Instant::now();
    let out = fut.await;
    (out, started.elapsed())
}

/// The most `docker save` may write into `$TMPDIR`: `ARCHSMOKE_SAVE_LIMIT` (a size such as
/// `512MiB`), else [`SAVE_LIMIT`].
fn save_limit() -> u64 {
    std::env::var("ARCHSMOKE_SAVE_LIMIT")
        .ok()
        .and_then(|v| crate::spec::parse_size(&v))
        .unwrap_or(SAVE_LIMIT)
}

/// The default bound on a saved engine image: larger than any image a smoke test runs, small
/// enough that an engine streaming without end stops long before the disk is full.
pub const SAVE_LIMIT: u64 = 32 << 30;

/// An image source whose layers and configs can be read, with its index: the engine's own
/// images are saved by the engine (as `docker save` does) into `keep`, a temporary directory
/// that must outlive the reading, and read from there; any other source is opened directly.
pub async fn open_readable(
    text: &str,
    host: Option<&str>,
    keep: &tempfile::TempDir,
) -> Result<(ImageSource, ResolvedImage), Unresolved> {
    let spec = SourceSpec::parse(text)
        .map_err(|e| Unresolved::Usage(Diagnostic::usage(e.to_string()).with_hint(e.hint())))?;
    let SourceSpec::Daemon(name) = spec else {
        return open_image(text).await;
    };
    let (engine, _) = connect(host)
        .await
        .map_err(|e| Unresolved::Problem(Problem::engine(&e)))?;
    let engine_problem = |e: EngineError| Unresolved::Problem(Problem::engine(&e));
    // The engine answers "no such image" on the save as a 404; ask first for the clear message.
    open_and_resolve(text, Some(&engine)).await?;
    let archive = keep.path().join("saved.tar");
    let mut file = tokio::fs::File::create(&archive).await.map_err(|e| {
        Unresolved::Problem(Problem {
            kind: ProblemKind::Engine,
            message: format!("cannot write {}: {e}", archive.display()),
            hint: Some("set TMPDIR to a directory with room for the image".into()),
        })
    })?;
    engine
        .save_image(&name, &mut file, save_limit())
        .await
        .map_err(engine_problem)?;
    drop(file);
    let layout = keep.path().join("layout");
    let converted = {
        let (name, archive, layout) = (name.clone(), archive.clone(), layout.clone());
        tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&layout).map_err(|e| ImageError::Layout {
                what: layout.display().to_string(),
                detail: e.to_string(),
            })?;
            crate::image::saved::to_layout(&name, &archive, &layout)
        })
        .await
    };
    let _ = std::fs::remove_file(&archive);
    match converted {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(Unresolved::Problem(Problem::registry(&e))),
        Err(e) => {
            return Err(Unresolved::Problem(Problem {
                kind: ProblemKind::Engine,
                message: format!("reading the saved image stopped: {e}"),
                hint: None,
            }));
        }
    }
    let (source, resolved) = open_image(&format!("oci-layout:{}", layout.display())).await?;
    Ok((source, resolved))
}

/// Open an image source that is not the engine's and read its index, with no engine at all.
pub async fn open_image(text: &str) -> Result<(ImageSource, ResolvedImage), Unresolved> {
    open_and_resolve(text, None).await
}

/// Open the image source and read its index; for `docker-daemon:` the engine describes the
/// image, so without one such a source is an engine problem.
async fn open_and_resolve(
    text: &str,
    engine: Option<&Engine>,
) -> Result<(ImageSource, ResolvedImage), Unresolved> {
    let image_problem = |e: ImageError| {
        if e.is_usage() {
            Unresolved::Usage(Diagnostic::usage(e.to_string()).with_hint(e.hint()))
        } else {
            Unresolved::Problem(Problem::registry(&e))
        }
    };
    let source = ImageSource::open(text).map_err(image_problem)?;
    let resolved = match (source.daemon_name(), engine) {
        (Some(name), Some(engine)) => {
            let image = engine
                .local_image(name)
                .await
                .map_err(|e| Unresolved::Problem(Problem::engine(&e)))?;
            let image = image.ok_or_else(|| {
                Unresolved::Problem(Problem {
                    kind: ProblemKind::Registry,
                    message: format!("the engine has no image `{name}`"),
                    hint: Some(
                        "`docker images` lists what the engine has; build, pull or load it first"
                            .into(),
                    ),
                })
            })?;
            ResolvedImage::daemon(name, &image.id, image.platform)
        }
        (Some(_), None) => {
            return Err(Unresolved::Problem(Problem {
                kind: ProblemKind::Engine,
                message: format!(
                    "{text}: only the engine can describe its images, and it did not answer"
                ),
                hint: Some(
                    "start the engine, or name the image by a registry reference or an OCI layout"
                        .into(),
                ),
            }));
        }
        (None, _) => source.resolve().await.map_err(image_problem)?,
    };
    Ok((source, resolved))
}
