//! The results bucket: when `TRADAI_RESULTS_BUCKET` (or the seeds' `S3_RESULTS_BUCKET`) is
//! set, every job a `tradai worker` or `tradai strategy-container` finishes has its artifacts
//! (a backtest's export, report and equity plot; a hyperopt run's epochs, best config and heat
//! map) copied to `s3://<bucket>/<prefix>/<job id>/<name>`, so they outlive the machine that
//! ran the job. A bare bucket name means the prefix `results`.

use std::sync::Arc;

use anyhow::Context;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use tradai_executor::results::ResultStore;
use tradai_executor::JobObserver;
use tradai_jobs::Job;

/// Copies finished jobs' artifacts to the results bucket.
pub struct ResultsBucket {
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    location: String,
    rt: tokio::runtime::Runtime,
}

impl std::fmt::Debug for ResultsBucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResultsBucket").field("location", &self.location).finish_non_exhaustive()
    }
}

/// `s3://bucket/prefix` of a setting that may be a bare bucket name.
fn location_of(value: &str) -> String {
    let v = value.trim().trim_end_matches('/');
    if v.contains("://") {
        v.to_owned()
    } else {
        format!("s3://{v}/results")
    }
}

impl ResultsBucket {
    /// The bucket the environment names, if any.
    ///
    /// # Errors
    /// A value that is not a bucket or `s3://` location, or an S3 client that cannot be set up.
    pub fn from_env() -> anyhow::Result<Option<Arc<Self>>> {
        let Some((var, value)) = ["TRADAI_RESULTS_BUCKET", "S3_RESULTS_BUCKET"]
            .into_iter()
            .find_map(|k| std::env::var(k).ok().filter(|v| !v.trim().is_empty()).map(|v| (k, v)))
        else {
            return Ok(None);
        };
        let location = location_of(&value);
        let (store, prefix) = tradai_store::s3_object_store(&location).with_context(|| format!("{var}={value}"))?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("results-bucket")
            .enable_all()
            .build()
            .context("cannot start the results bucket's runtime")?;
        tracing::info!(location = %location, "finished jobs' artifacts go to the results bucket");
        Ok(Some(Arc::new(Self { store, prefix, location, rt })))
    }

    /// Copies every artifact of `job_id`; returns how many.
    ///
    /// # Errors
    /// The first artifact that cannot be read or written, named.
    pub fn upload(&self, job_id: &str, results: &ResultStore) -> anyhow::Result<usize> {
        let names = results.artifact_names(job_id)?;
        for name in &names {
            let bytes = results.read_bytes(job_id, name)?;
            let key = self.prefix.clone().join(job_id).join(name.as_str());
            self.rt
                .block_on(self.store.put(&key, PutPayload::from(bytes)))
                .with_context(|| format!("cannot write {}/{job_id}/{name}", self.location))?;
        }
        Ok(names.len())
    }
}

impl JobObserver for ResultsBucket {
    fn finished(&self, job: &Job, results: &ResultStore) {
        match self.upload(&job.id, results) {
            Ok(n) => tracing::info!(job_id = %job.id, artifacts = n, location = %self.location, "artifacts copied to the results bucket"),
            // The job's outcome stands; its artifacts stay on this machine.
            Err(e) => tracing::warn!(job_id = %job.id, error = format!("{e:#}"), "cannot copy the artifacts to the results bucket"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_bucket_names_get_the_results_prefix() {
        assert_eq!(location_of("tradai-results-dev"), "s3://tradai-results-dev/results");
        assert_eq!(location_of("s3://b/runs/"), "s3://b/runs");
    }
}
