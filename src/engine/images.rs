//! Images in the engine: pulled by digest (with the run's credentials when the engine may have
//! them), loaded from archives (whole, or streamed with a stall bound), saved, looked up,
//! committed from a setup container, and removed.

// One `Engine`, split by job: each part shares the module's imports and helpers.
use super::*;

/// An image present in the engine, ready to run.
#[derive(Debug, Clone, Serialize)]
pub struct LocalImage {
    pub id: String,
    /// What the engine says the image is: the pulled config's os/architecture/variant.
    pub platform: Platform,
    /// False when the digest was already present and nothing was downloaded.
    pub pulled: bool,
    pub duration: Duration,
    /// The image config's environment (`KEY=value`), for tests that expand `$VAR` from it.
    #[serde(skip)]
    pub env: Vec<String>,
}

/// Repository of the images a run commits from `setup` containers; the tag starts with the run
/// id, and the images carry the run's label, so the end of the run and `gc` find them.
pub const COMMIT_REPOSITORY: &str = "archsmoke-commit";

/// What a load is called in errors.
pub(super) const LOAD: &str = "load an image archive";

pub(super) fn load_options() -> ImportImageOptions {
    ImportImageOptions {
        // The engine's progress lines (one per layer) are how a long load shows it is alive.
        quiet: false,
        ..Default::default()
    }
}

/// When a long engine call last showed progress.
#[derive(Clone)]
pub(super) struct Activity(std::sync::Arc<std::sync::Mutex<std::time::Instant>>);

impl Activity {
    pub(super) fn new() -> Activity {
        Activity(std::sync::Arc::new(std::sync::Mutex::new(
            std::time::Instant::now(),
        )))
    }

    pub(super) fn touch(&self) {
        if let Ok(mut at) = self.0.lock() {
            *at = std::time::Instant::now();
        }
    }

    pub(super) fn idle(&self) -> Duration {
        self.0.lock().map_or(Duration::ZERO, |at| at.elapsed())
    }
}

/// Follows a `docker load` to its end: the references it loaded, or why it failed. Each
/// progress line is activity.
pub(super) async fn loaded_references(
    progress: impl futures_util::Stream<
        Item = Result<bollard::models::BuildInfo, bollard::errors::Error>,
    >,
    activity: &Activity,
) -> Result<Vec<String>, EngineError> {
    let op = |detail: String| EngineError::Operation { op: LOAD, detail };
    let mut progress = std::pin::pin!(progress);
    let mut loaded = Vec::new();
    while let Some(item) = progress.next().await {
        activity.touch();
        let info = item.map_err(|e| op(chain(&e)))?;
        if let Some(detail) = info.error_detail.and_then(|d| d.message) {
            return Err(op(detail));
        }
        // `Loaded image: <ref>` (tagged) or `Loaded image ID: sha256:...` (untagged).
        if let Some(line) = info.stream
            && let Some((_, reference)) = line.trim().split_once(": ")
        {
            loaded.push(reference.to_owned());
        }
    }
    Ok(loaded)
}

impl Engine {
    /// Make `reference` (a `repo@sha256:...` of one platform) present, pulling only when needed.
    pub async fn ensure_image(
        &self,
        reference: &str,
        platform: &Platform,
        credentials: Option<&Credentials>,
    ) -> Result<LocalImage, EngineError> {
        let start = Instant::now();
        let inspected = tokio::time::timeout(CALL_TIMEOUT, self.inspect_image(reference))
            .await
            .map_err(|_| unanswered("inspect an image", CALL_TIMEOUT))?;
        if let Ok(image) = inspected {
            return Ok(LocalImage {
                duration: start.elapsed(),
                ..image
            });
        }
        // Credentials withheld: the pull is tried without them, and its failure says why.
        let withheld = self.withheld.as_ref().filter(|_| credentials.is_some());
        let pull_error = |detail: String| EngineError::Pull {
            reference: reference.to_owned(),
            detail: match withheld {
                Some(why) => format!("{detail} (registry credentials were not sent: {why})"),
                None => detail,
            },
        };
        let options = CreateImageOptions {
            from_image: Some(reference.to_owned()),
            platform: platform.to_string(),
            ..Default::default()
        };
        let creds = credentials
            .filter(|_| withheld.is_none())
            .map(|c| DockerCredentials {
                username: Some(c.username.clone()),
                password: Some(c.password.clone()),
                ..Default::default()
            });
        let mut progress = self.docker.create_image(Some(options), None, creds);
        // A pull reports progress many times a second; silence this long is a frozen engine.
        while let Some(item) = tokio::time::timeout(CALL_TIMEOUT, progress.next())
            .await
            .map_err(|_| {
                pull_error(format!(
                    "no progress for {}: the engine is not responding",
                    humantime::format_duration(CALL_TIMEOUT)
                ))
            })?
        {
            let info = item.map_err(|e| pull_error(chain(&e)))?;
            if let Some(detail) = info.error_detail.and_then(|d| d.message) {
                return Err(pull_error(detail));
            }
        }
        let image = tokio::time::timeout(CALL_TIMEOUT, self.inspect_image(reference))
            .await
            .map_err(|_| unanswered("inspect an image", CALL_TIMEOUT))?
            .map_err(|e| pull_error(format!("pulled, but cannot inspect it: {}", chain(&e))))?;
        Ok(LocalImage {
            pulled: true,
            duration: start.elapsed(),
            ..image
        })
    }

    /// Load a `docker load` archive (manifest.json + config + layers, the legacy format every
    /// engine accepts) and return the image references the engine reports as loaded.
    /// The archives loaded this way are archsmoke's own small images (the probe and relay
    /// images), so the whole call is bounded by the default deadline.
    pub async fn load_image(&self, archive: Vec<u8>) -> Result<Vec<String>, EngineError> {
        let docker = self.docker.clone();
        self.landing(LOAD, async move {
            let progress =
                docker.import_image(load_options(), bollard::body_full(archive.into()), None);
            tokio::time::timeout(CALL_TIMEOUT, loaded_references(progress, &Activity::new()))
                .await
                .map_err(|_| unanswered(LOAD, CALL_TIMEOUT))?
        })
        .await
    }

    /// Like [`Engine::load_image`], for an archive that arrives in chunks while it is written:
    /// an `Err` chunk aborts the upload, so the engine never loads a partial archive. An image
    /// may be large, so there is no deadline on the whole load; instead the engine must make
    /// progress (take a chunk, or report a step of the load) at least every `stall`.
    pub async fn load_image_stream(
        &self,
        chunks: tokio::sync::mpsc::Receiver<std::io::Result<bytes::Bytes>>,
        stall: Duration,
    ) -> Result<Vec<String>, EngineError> {
        let activity = Activity::new();
        let seen = activity.clone();
        let body = futures_util::stream::unfold(chunks, move |mut rx| {
            let seen = seen.clone();
            async move {
                let chunk = rx.recv().await;
                seen.touch();
                chunk.map(|chunk| (chunk, rx))
            }
        });
        let progress = self.docker.import_image_stream(load_options(), body, None);
        let load = loaded_references(progress, &activity);
        let mut load = std::pin::pin!(load);
        loop {
            tokio::select! {
                done = &mut load => return done,
                () = tokio::time::sleep(Duration::from_secs(1)) => {
                    if activity.idle() > stall {
                        return Err(unanswered(LOAD, stall));
                    }
                }
            }
        }
    }

    /// Write the image as `docker save` does (a tar of `manifest.json`, the config and the
    /// layers) to `out`; returns the bytes written. Each chunk must come within the call
    /// deadline: a large image may take long, a frozen engine may not.
    /// At most `limit` bytes are written: an engine that sends more fails the save.
    pub async fn save_image(
        &self,
        reference: &str,
        out: &mut tokio::fs::File,
        limit: u64,
    ) -> Result<u64, EngineError> {
        use futures_util::StreamExt;
        use tokio::io::AsyncWriteExt;
        const OP: &str = "save an image";
        let fail = |detail: String| EngineError::Operation {
            op: OP,
            detail: format!("{reference}: {detail}"),
        };
        let mut stream = Box::pin(self.docker.export_image(reference));
        let mut written = 0u64;
        loop {
            let chunk = tokio::time::timeout(CALL_TIMEOUT, stream.next())
                .await
                .map_err(|_| unanswered(OP, CALL_TIMEOUT))?;
            let Some(chunk) = chunk else { break };
            let bytes = chunk.map_err(|e| fail(chain(&e)))?;
            if written + bytes.len() as u64 > limit {
                return Err(fail(format!(
                    "the saved image passed {} MiB, the bound on what `docker save` may write \
                     (set ARCHSMOKE_SAVE_LIMIT to a larger size if the image really is that big)",
                    limit >> 20
                )));
            }
            out.write_all(&bytes)
                .await
                .map_err(|e| fail(format!("cannot write the saved image: {e}")))?;
            written += bytes.len() as u64;
        }
        out.flush()
            .await
            .map_err(|e| fail(format!("cannot write the saved image: {e}")))?;
        Ok(written)
    }

    /// Remove an image by reference or id; an image that is already gone is not an error.
    pub async fn remove_image(&self, reference: &str) -> Result<(), EngineError> {
        let options = RemoveImageOptions {
            force: true,
            ..Default::default()
        };
        match tokio::time::timeout(
            CALL_TIMEOUT,
            self.docker.remove_image(reference, Some(options), None),
        )
        .await
        .map_err(|_| unanswered("remove an image", CALL_TIMEOUT))?
        {
            Ok(_) => Ok(()),
            Err(BollardError::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(()),
            Err(e) => Err(EngineError::Operation {
                op: "remove an image",
                detail: format!("{reference}: {}", chain(&e)),
            }),
        }
    }

    /// Remove every tag of `repository` (runs tag what they load from OCI layouts there), only
    /// the tags: an image the engine also holds under another name stays. Returns how many.
    pub async fn remove_repository_tags(&self, repository: &str) -> Result<usize, EngineError> {
        let options = bollard::query_parameters::ListImagesOptionsBuilder::new()
            .filters(&HashMap::from([("reference", vec![repository])]))
            .build();
        let images = self
            .docker
            .list_images(Some(options))
            .await
            .map_err(op("list images"))?;
        let prefix = format!("{repository}:");
        let mut removed = 0;
        for tag in images
            .iter()
            .flat_map(|i| i.repo_tags.iter())
            .filter(|t| t.starts_with(&prefix))
        {
            self.remove_image(tag).await?;
            removed += 1;
        }
        Ok(removed)
    }

    /// An image already in the engine (by name or ID), or `None` when the engine lacks it.
    pub async fn local_image(&self, reference: &str) -> Result<Option<LocalImage>, EngineError> {
        match self.inspect_image(reference).await {
            Ok(image) => Ok(Some(image)),
            Err(BollardError::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(e) => Err(EngineError::Operation {
                op: "inspect an image",
                detail: format!("{reference}: {}", chain(&e)),
            }),
        }
    }

    pub(super) async fn inspect_image(&self, reference: &str) -> Result<LocalImage, BollardError> {
        let inspect = self.docker.inspect_image(reference).await?;
        Ok(LocalImage {
            id: inspect.id.unwrap_or_else(|| reference.to_owned()),
            platform: Platform::new(
                inspect.os.as_deref().unwrap_or("linux"),
                inspect.architecture.as_deref().unwrap_or("unknown"),
                inspect.variant.as_deref(),
            ),
            pulled: false,
            duration: Duration::ZERO,
            env: inspect.config.and_then(|c| c.env).unwrap_or_default(),
        })
    }

    /// Commit a stopped container as `archsmoke-commit:<tag>`, labelled with `labels` (the
    /// run's), and return the new image's ID: what a `setup` command leaves behind.
    pub async fn commit_container(
        &self,
        id: &str,
        tag: &str,
        labels: &HashMap<String, String>,
    ) -> Result<String, EngineError> {
        let options = bollard::query_parameters::CommitContainerOptionsBuilder::new()
            .container(id)
            .repo(COMMIT_REPOSITORY)
            .tag(tag)
            .build();
        let config = bollard::models::ContainerConfig {
            labels: Some(labels.clone()),
            ..Default::default()
        };
        Ok(self
            .docker
            .commit_container(options, config)
            .await
            .map_err(op("commit a setup container"))?
            .id)
    }
}
