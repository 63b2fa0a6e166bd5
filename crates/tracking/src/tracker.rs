//! The `ExperimentTracker` trait: experiments, runs, their params, metrics, tags and artifacts,
//! and search — plus `log_run`, the one idempotent call a backtest job (or an outbox replaying
//! one) needs.

use std::collections::BTreeMap;

use async_trait::async_trait;

use crate::filter::{Filter, OrderBy};
use crate::model::{
    now_ms, Experiment, FileInfo, Metric, NewRun, Params, Run, RunQuery, RunRecord, RunStatus, Tags, TAG_PARENT_RUN_ID, TAG_RECORD_ID,
};
use crate::{Entity, TrackingError};

/// Longest key of a param, metric or tag (MLflow's limit).
pub const MAX_KEY_LEN: usize = 250;
/// Longest param value (MLflow's limit).
pub const MAX_PARAM_VALUE_LEN: usize = 6000;
/// Longest tag value (MLflow's limit).
pub const MAX_TAG_VALUE_LEN: usize = 8000;

/// Experiment tracking: MLflow's tracking API, implemented by the embedded store and by the
/// MLflow REST client. Object safe (`Arc<dyn ExperimentTracker>`); every method is one
/// request (or one transaction) except the provided [`ExperimentTracker::log_run`].
///
/// Times are milliseconds since the Unix epoch. Only active (not deleted) runs are searched.
#[async_trait]
pub trait ExperimentTracker: Send + Sync {
    /// A short description of where runs go (`sqlite:///…`, `http://host:5000`), without
    /// credentials.
    fn uri(&self) -> String;

    /// Creates an experiment and returns its id.
    ///
    /// # Errors
    /// [`TrackingError::AlreadyExists`] when the name is taken.
    async fn create_experiment(&self, name: &str, tags: &Tags) -> Result<String, TrackingError>;

    /// One experiment by id.
    ///
    /// # Errors
    /// [`TrackingError::NotFound`].
    async fn get_experiment(&self, experiment_id: &str) -> Result<Experiment, TrackingError>;

    /// One experiment by name, `None` when there is none.
    ///
    /// # Errors
    /// Transport or storage errors only.
    async fn get_experiment_by_name(&self, name: &str) -> Result<Option<Experiment>, TrackingError>;

    /// Active experiments, by name.
    ///
    /// # Errors
    /// Transport or storage errors.
    async fn list_experiments(&self) -> Result<Vec<Experiment>, TrackingError>;

    /// Starts a RUNNING run.
    ///
    /// # Errors
    /// [`TrackingError::NotFound`] for an unknown experiment; [`TrackingError::Invalid`] for a
    /// bad tag.
    async fn create_run(&self, run: &NewRun) -> Result<Run, TrackingError>;

    /// One run with its params, latest metrics and tags.
    ///
    /// # Errors
    /// [`TrackingError::NotFound`] naming the run.
    async fn get_run(&self, run_id: &str) -> Result<Run, TrackingError>;

    /// Logs params, metrics and tags in one call (the MLflow client splits large batches into
    /// MLflow-sized requests). Logging a param again with the same value is a no-op; with a
    /// different value it is an [`TrackingError::Invalid`] (params are immutable). Logging an
    /// identical metric point again adds nothing.
    ///
    /// # Errors
    /// [`TrackingError::NotFound`], [`TrackingError::Invalid`].
    async fn log_batch(&self, run_id: &str, params: &Params, metrics: &[Metric], tags: &Tags) -> Result<(), TrackingError>;

    /// Every logged value of one metric, by step then timestamp.
    ///
    /// # Errors
    /// [`TrackingError::NotFound`] for an unknown run.
    async fn get_metric_history(&self, run_id: &str, key: &str) -> Result<Vec<Metric>, TrackingError>;

    /// Sets the status (and, for a terminal status, the end time: now when `None`).
    ///
    /// # Errors
    /// [`TrackingError::NotFound`].
    async fn set_terminated(&self, run_id: &str, status: RunStatus, end_time: Option<i64>) -> Result<(), TrackingError>;

    /// Runs of some experiments that match a filter, ordered, at most `max_results`.
    ///
    /// # Errors
    /// [`TrackingError::Invalid`] for a bad filter or ordering (the same message on both back
    /// ends). Unknown experiment ids match no run, as in MLflow.
    async fn search_runs(&self, query: &RunQuery) -> Result<Vec<Run>, TrackingError>;

    /// Stores `content` at `path` (relative, `/`-separated) under the run's artifact root,
    /// replacing a file already there.
    ///
    /// # Errors
    /// [`TrackingError::NotFound`], [`TrackingError::Invalid`] for an absolute path or `..`.
    async fn log_artifact(&self, run_id: &str, path: &str, content: &[u8]) -> Result<(), TrackingError>;

    /// The direct children of `path` (the artifact root when `None`), sorted by path, with
    /// paths relative to the artifact root. A path that does not exist lists as empty.
    ///
    /// # Errors
    /// [`TrackingError::NotFound`] for an unknown run.
    async fn list_artifacts(&self, run_id: &str, path: Option<&str>) -> Result<Vec<FileInfo>, TrackingError>;

    /// The content of one artifact.
    ///
    /// # Errors
    /// [`TrackingError::NotFound`] naming the run or the artifact.
    async fn download_artifact(&self, run_id: &str, path: &str) -> Result<Vec<u8>, TrackingError>;

    // --- provided ---------------------------------------------------------------------------

    /// Checks that the back end answers (one cheap request or query).
    ///
    /// # Errors
    /// Transport or storage errors.
    async fn ping(&self) -> Result<(), TrackingError> {
        self.get_experiment_by_name("Default").await.map(|_| ())
    }

    /// Sets one tag.
    ///
    /// # Errors
    /// As [`ExperimentTracker::log_batch`].
    async fn set_tag(&self, run_id: &str, key: &str, value: &str) -> Result<(), TrackingError> {
        let tags = Tags::from([(key.to_owned(), value.to_owned())]);
        self.log_batch(run_id, &BTreeMap::new(), &[], &tags).await
    }

    /// The experiment with this name, created when missing (a concurrent creator wins without
    /// an error).
    ///
    /// # Errors
    /// Transport or storage errors.
    async fn get_or_create_experiment(&self, name: &str) -> Result<Experiment, TrackingError> {
        if let Some(e) = self.get_experiment_by_name(name).await? {
            return Ok(e);
        }
        match self.create_experiment(name, &Tags::new()).await {
            Ok(id) => self.get_experiment(&id).await,
            Err(TrackingError::AlreadyExists { .. }) => {
                self.get_experiment_by_name(name).await?.ok_or_else(|| TrackingError::not_found(Entity::Experiment, format!("'{name}'")))
            }
            Err(e) => Err(e),
        }
    }

    /// Runs of the experiment named `experiment` — of every experiment when `None` — matching
    /// `query`'s filter, order and limit (its `experiment_ids` are replaced). What `tradai runs
    /// list` and `GET /api/v1/runs` search.
    ///
    /// # Errors
    /// [`TrackingError::NotFound`] naming an unknown experiment; a bad filter or order.
    async fn search_runs_by_name(&self, experiment: Option<&str>, mut query: RunQuery) -> Result<Vec<Run>, TrackingError> {
        query.experiment_ids = match experiment {
            Some(name) => vec![
                self.get_experiment_by_name(name)
                    .await?
                    .ok_or_else(|| TrackingError::not_found(Entity::Experiment, format!("'{name}'")))?
                    .experiment_id,
            ],
            None => self.list_experiments().await?.into_iter().map(|e| e.experiment_id).collect(),
        };
        if query.experiment_ids.is_empty() {
            return Ok(Vec::new());
        }
        self.search_runs(&query).await
    }

    /// The run logged for `record_id` in an experiment, if any.
    ///
    /// # Errors
    /// Transport or storage errors.
    async fn find_record(&self, experiment_id: &str, record_id: &str) -> Result<Option<Run>, TrackingError> {
        let query = RunQuery::experiment(experiment_id)
            .filter(format!("tags.`{TAG_RECORD_ID}` = '{}'", quote_free(record_id)?))
            .order_by("attributes.start_time ASC")
            .max_results(1);
        Ok(self.search_runs(&query).await?.into_iter().next())
    }

    /// Logs a whole run: the experiment (created when missing), the run, params, metrics, tags,
    /// artifacts and the final status, and returns the run id.
    ///
    /// Idempotent by `record.record_id`: when a run with that key exists and has ended, its id
    /// is returned and nothing is written; when it exists but is still RUNNING (an earlier
    /// attempt died half way), the record is logged into it again (identical params and
    /// metric points add nothing; artifacts are overwritten) and it is ended. So an outbox may
    /// replay a record any number of times and one run results. Two concurrent calls with the
    /// same key may still make two runs: one sender per outbox.
    ///
    /// # Errors
    /// Anything the calls above return; [`TrackingError::is_retryable`] says whether a replay
    /// can succeed.
    async fn log_run(&self, record: &RunRecord) -> Result<String, TrackingError> {
        self.log_run_in_experiment(record).await.map(|(run_id, _)| run_id)
    }

    /// [`ExperimentTracker::log_run`], also returning the id of the experiment the run went to
    /// (for links to the run), which logging resolves anyway.
    ///
    /// # Errors
    /// As [`ExperimentTracker::log_run`].
    async fn log_run_in_experiment(&self, record: &RunRecord) -> Result<(String, String), TrackingError> {
        validate_record(record)?;
        let experiment = self.get_or_create_experiment(&record.experiment).await?;
        let run_id = match self.find_record(&experiment.experiment_id, &record.record_id).await? {
            Some(run) if run.info.status.is_terminal() => return Ok((run.info.run_id, experiment.experiment_id)),
            Some(run) => run.info.run_id,
            None => {
                let mut tags = Tags::new();
                tags.insert(TAG_RECORD_ID.to_owned(), record.record_id.clone());
                let new = NewRun {
                    experiment_id: experiment.experiment_id.clone(),
                    run_name: record.run_name.clone(),
                    start_time: Some(record.start_time.unwrap_or_else(now_ms)),
                    tags,
                    parent_run_id: record.parent_run_id.clone(),
                };
                self.create_run(&new).await?.info.run_id
            }
        };
        self.log_batch(&run_id, &record.params, &record.metrics, &record.tags).await?;
        for a in &record.artifacts {
            self.log_artifact(&run_id, &a.path, &a.content).await?;
        }
        let status = if record.status.is_terminal() { record.status } else { RunStatus::Finished };
        self.set_terminated(&run_id, status, Some(record.end_time.unwrap_or_else(now_ms))).await?;
        Ok((run_id, experiment.experiment_id))
    }

    /// The child runs of a run (those tagged `mlflow.parentRunId` = `parent_run_id`), oldest
    /// first.
    ///
    /// # Errors
    /// [`TrackingError::NotFound`] for an unknown parent.
    async fn child_runs(&self, parent_run_id: &str) -> Result<Vec<Run>, TrackingError> {
        let parent = self.get_run(parent_run_id).await?;
        let query = RunQuery::experiment(parent.info.experiment_id)
            .filter(format!("tags.`{TAG_PARENT_RUN_ID}` = '{}'", quote_free(parent_run_id)?))
            .order_by("attributes.start_time ASC");
        self.search_runs(&query).await
    }
}

/// Values put into a generated filter cannot contain a quote (the filter language has no
/// escape for it).
fn quote_free(value: &str) -> Result<&str, TrackingError> {
    if value.contains('\'') {
        return Err(TrackingError::invalid("id", format!("'{value}' contains a quote")));
    }
    Ok(value)
}

fn validate_record(r: &RunRecord) -> Result<(), TrackingError> {
    if r.record_id.trim().is_empty() {
        return Err(TrackingError::invalid("record_id", "empty (it is the idempotency key)"));
    }
    quote_free(&r.record_id)?;
    if r.experiment.trim().is_empty() {
        return Err(TrackingError::invalid("experiment name", "empty"));
    }
    validate_batch(&r.params, &r.metrics, &r.tags)?;
    for a in &r.artifacts {
        validate_artifact_path(&a.path)?;
    }
    Ok(())
}

/// Checks keys and values against MLflow's limits, so both back ends refuse the same input.
pub(crate) fn validate_batch(params: &Params, metrics: &[Metric], tags: &Tags) -> Result<(), TrackingError> {
    let key = |kind: &str, k: &str| -> Result<(), TrackingError> {
        if k.is_empty() || k.len() > MAX_KEY_LEN {
            return Err(TrackingError::invalid(format!("{kind} key"), format!("'{k}' must be 1 to {MAX_KEY_LEN} bytes")));
        }
        if !k.chars().all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ' ' | '/' | ':')) {
            return Err(TrackingError::invalid(
                format!("{kind} key"),
                format!("'{k}' may contain only letters, digits, '_', '-', '.', ' ', '/' and ':'"),
            ));
        }
        if k.split('/').any(|seg| seg == ".." || seg == ".") || k.starts_with('/') {
            return Err(TrackingError::invalid(format!("{kind} key"), format!("'{k}' is not a relative name")));
        }
        Ok(())
    };
    for (k, v) in params {
        key("param", k)?;
        if v.len() > MAX_PARAM_VALUE_LEN {
            return Err(TrackingError::invalid("param value", format!("'{k}' is {} bytes, over {MAX_PARAM_VALUE_LEN}", v.len())));
        }
    }
    for m in metrics {
        key("metric", &m.key)?;
    }
    for (k, v) in tags {
        key("tag", k)?;
        if v.len() > MAX_TAG_VALUE_LEN {
            return Err(TrackingError::invalid("tag value", format!("'{k}' is {} bytes, over {MAX_TAG_VALUE_LEN}", v.len())));
        }
    }
    Ok(())
}

/// A relative `/`-separated path without `.`/`..` segments, empty segments or backslashes.
pub(crate) fn validate_artifact_path(path: &str) -> Result<(), TrackingError> {
    let bad = |why: &str| Err(TrackingError::invalid("artifact path", format!("'{path}' {why}")));
    if path.is_empty() {
        return bad("is empty");
    }
    if path.starts_with('/') || path.contains('\\') || path.contains(':') {
        return bad("must be relative and '/'-separated");
    }
    if path.split('/').any(|s| s.is_empty() || s == "." || s == "..") {
        return bad("has an empty, '.' or '..' segment");
    }
    Ok(())
}

/// Parses a query's filter and ordering (both back ends call this first).
pub(crate) fn parse_query(query: &RunQuery) -> Result<(Filter, Vec<OrderBy>), TrackingError> {
    if query.experiment_ids.is_empty() {
        return Err(TrackingError::invalid("search", "no experiment ids"));
    }
    Ok((Filter::parse(&query.filter)?, OrderBy::parse_all(&query.order_by)?))
}
