//! The sweep: what a run (or a killed one) left, found by label and removed, containers and
//! the tool's temporary images; and the gate that lets creates and loads still in flight land
//! before it looks.

// One `Engine`, split by job: each part shares the module's imports and helpers.
use super::*;

/// A container carrying [`RUN_LABEL`].
#[derive(Debug, Clone)]
pub struct LabelledContainer {
    pub id: String,
    /// Unix seconds.
    pub created: Option<i64>,
    pub labels: HashMap<String, String>,
}

impl Engine {
    /// Waits for every create and load in flight to land, and refuses new ones: what the run's
    /// sweep lists after this is all the run made.
    pub async fn stop_creating(&self) {
        *self.gate.write().await = true;
    }

    /// Remove every container labelled with `run_id` (or, with `None`, with any run id).
    /// Returns how many were removed.
    pub async fn remove_run(&self, run_id: Option<&str>) -> Result<usize, EngineError> {
        self.remove_containers(run_id, None).await
    }

    /// Remove containers labelled with `run_id` (any run with `None`), only those created before
    /// `created_before` (unix seconds) when given. Returns how many were removed.
    pub async fn remove_containers(
        &self,
        run_id: Option<&str>,
        created_before: Option<i64>,
    ) -> Result<usize, EngineError> {
        let mut removed = 0;
        for c in self.labelled_containers(run_id).await? {
            if created_before.is_some_and(|t| c.created.is_none_or(|created| created >= t)) {
                continue;
            }
            self.remove_container(&c.id).await?;
            removed += 1;
        }
        Ok(removed)
    }

    /// Containers labelled with `run_id` (any run with `None`), with their labels, for `gc` to
    /// decide which belong to runs that are gone.
    pub async fn labelled_containers(
        &self,
        run_id: Option<&str>,
    ) -> Result<Vec<LabelledContainer>, EngineError> {
        let label = match run_id {
            Some(id) => format!("{RUN_LABEL}={id}"),
            None => RUN_LABEL.to_owned(),
        };
        let options = ListContainersOptions {
            all: true,
            filters: Some(HashMap::from([("label".to_owned(), vec![label])])),
            ..Default::default()
        };
        let containers = bounded(
            CALL_TIMEOUT,
            "list containers",
            self.docker.list_containers(Some(options)),
        )
        .await?;
        Ok(containers
            .into_iter()
            .filter_map(|c| {
                Some(LabelledContainer {
                    id: c.id?,
                    created: c.created,
                    labels: c.labels.unwrap_or_default(),
                })
            })
            .collect())
    }

    /// Remove one container (with its anonymous volumes); one already gone is not an error.
    pub async fn remove_container_by_id(&self, id: &str) -> Result<(), EngineError> {
        bounded(CALL_TIMEOUT, "remove a container", self.force_remove(id)).await
    }

    /// Remove every tag of the given repositories (created before `created_before`, unix
    /// seconds, when given) but those `keep` (given the tag and the image's labels) keeps.
    /// Returns how many tags were removed.
    pub async fn remove_images(
        &self,
        repositories: &[&str],
        created_before: Option<i64>,
        keep: impl Fn(&str, &HashMap<String, String>) -> bool,
    ) -> Result<usize, EngineError> {
        let references = repositories.iter().map(|r| format!("{r}:*")).collect();
        let options = ListImagesOptions {
            all: false,
            filters: Some(HashMap::from([("reference".to_owned(), references)])),
            ..Default::default()
        };
        let images = self
            .docker
            .list_images(Some(options))
            .await
            .map_err(op("list images"))?;
        let mut removed = 0;
        for image in images {
            if created_before.is_some_and(|t| image.created >= t) {
                continue;
            }
            for tag in &image.repo_tags {
                let repository = tag.rsplit_once(':').map_or(tag.as_str(), |(r, _)| r);
                if repositories.contains(&repository) && !keep(tag, &image.labels) {
                    self.remove_image(tag).await?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }
}
