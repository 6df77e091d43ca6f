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
