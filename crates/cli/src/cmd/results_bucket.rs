//! The results bucket: when the `results_bucket` setting (`TRADAI_RESULTS_BUCKET`, or the
//! seeds' `S3_RESULTS_BUCKET`) is set, every job a `tradai up` pool, a `tradai worker` or a
//! `tradai strategy-container` finishes has its artifacts (a backtest's export, report and
//! equity plot; a hyperopt run's epochs, best config and heat map) copied to
//! `s3://<bucket>/<prefix>/<job id>/<name>`, so they outlive the machine that ran the job, and
//! backend-api's result routes read them from there when the local state dir has no copy. A
//! bare bucket name means the prefix `results`.

use std::sync::Arc;

use anyhow::Context;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use tradai_executor::results::{ResultError, ResultMirror};
use tradai_executor::{JobObserver, MirrorCopy, ResultStore};
use tradai_settings::Settings;

/// The results bucket, through the store's S3 client (which honours `AWS_ENDPOINT_URL`).
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
    /// The bucket the `results_bucket` setting names, if any.
    ///
    /// # Errors
    /// A value that is not a bucket or `s3://` location, or an S3 client that cannot be set
    /// up; the message names the setting.
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Option<Arc<dyn ResultMirror>>> {
        let value = settings.results_bucket.trim();
        if value.is_empty() {
            return Ok(None);
        }
        let location = location_of(value);
        let (store, prefix) = tradai_store::s3_object_store(&location)
            .with_context(|| format!("results_bucket '{value}' (TRADAI_RESULTS_BUCKET / S3_RESULTS_BUCKET)"))?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("results-bucket")
            .enable_all()
            .build()
            .context("cannot start the results bucket's runtime")?;
        tracing::info!(location = %location, "results bucket");
        Ok(Some(Arc::new(Self { store, prefix, location, rt })))
    }

    fn key(&self, job_id: &str, name: &str) -> Path {
        self.prefix.clone().join(job_id).join(name)
    }

    fn error(&self, job_id: &str, name: &str, e: &object_store::Error) -> ResultError {
        ResultError::Mirror { location: format!("{}/{job_id}/{name}", self.location), reason: e.to_string() }
    }
}

impl ResultMirror for ResultsBucket {
    fn location(&self) -> String {
        self.location.clone()
    }

    fn put(&self, job_id: &str, name: &str, bytes: Vec<u8>) -> Result<(), ResultError> {
        self.rt.block_on(self.store.put(&self.key(job_id, name), PutPayload::from(bytes))).map_err(|e| self.error(job_id, name, &e))?;
        Ok(())
    }

    fn get(&self, job_id: &str, name: &str) -> Result<Option<Vec<u8>>, ResultError> {
        self.rt.block_on(async {
            match self.store.get(&self.key(job_id, name)).await {
                Ok(r) => r.bytes().await.map(|b| Some(b.to_vec())).map_err(|e| self.error(job_id, name, &e)),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(self.error(job_id, name, &e)),
            }
        })
    }

    fn list(&self, job_id: &str) -> Result<Vec<String>, ResultError> {
        let dir = self.prefix.clone().join(job_id);
        let listed = self.rt.block_on(self.store.list_with_delimiter(Some(&dir))).map_err(|e| self.error(job_id, "", &e))?;
        let mut names: Vec<String> = listed.objects.iter().filter_map(|o| o.location.filename().map(str::to_owned)).collect();
        names.sort();
        Ok(names)
    }
}

/// The local result store under `state_dir` with the settings' results bucket as its mirror,
/// and the observers that copy finished jobs there (none without a bucket).
///
/// # Errors
/// As [`ResultsBucket::from_settings`].
pub fn result_store(settings: &Settings, state_dir: &std::path::Path) -> anyhow::Result<(ResultStore, Vec<Arc<dyn JobObserver>>)> {
    let mirror = ResultsBucket::from_settings(settings)?;
    let observers: Vec<Arc<dyn JobObserver>> = if mirror.is_some() { vec![Arc::new(MirrorCopy)] } else { Vec::new() };
    Ok((ResultStore::new(state_dir.join("results")).with_mirror(mirror), observers))
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
