//! A job as a DynamoDB item and back. Numbers are DynamoDB numbers (so the status index sorts
//! by `created_at`), JSON documents are strings (DynamoDB maps would lose the order and the
//! exact text of numbers), and absent optionals are absent attributes.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use tradai_jobs::{Job, JobError, JobStatus, NewJob};

use crate::AwsError;

/// The table's partition key.
pub const KEY: &str = "job_id";
/// Idempotency items share the table: `idempotency#<key>` → the job's id in [`TARGET`].
pub const IDEMPOTENCY_PREFIX: &str = "idempotency#";
/// The attribute of an idempotency item naming its job.
pub const TARGET: &str = "target_job_id";

pub type Item = HashMap<String, AttributeValue>;

pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub fn n(v: impl std::fmt::Display) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// A number attribute for a fraction: finite, so DynamoDB accepts it.
pub fn fraction(v: f64) -> AttributeValue {
    n(if v.is_finite() { v.clamp(0.0, 1.0) } else { 0.0 })
}

pub fn key_of(id: &str) -> Item {
    HashMap::from([(KEY.to_owned(), s(id))])
}

/// The item of a job just created (PENDING, no attempt yet).
pub fn new_item(id: &str, job: &NewJob, now: i64) -> Item {
    let mut item = HashMap::from([
        (KEY.to_owned(), s(id)),
        ("job_type".to_owned(), s(&job.job_type)),
        ("status".to_owned(), s(JobStatus::Pending.as_str())),
        ("config".to_owned(), s(job.config.to_string())),
        ("created_at".to_owned(), n(now)),
        ("updated_at".to_owned(), n(now)),
        ("attempts".to_owned(), n(0)),
        ("progress".to_owned(), n(0)),
        ("cancel_requested".to_owned(), AttributeValue::Bool(false)),
    ]);
    if let Some(l) = &job.label {
        item.insert("label".into(), s(l));
    }
    if let Some(k) = &job.idempotency_key {
        item.insert("idempotency_key".into(), s(k));
    }
    item
}

/// The idempotency item of `key`, pointing at job `id`.
pub fn idempotency_item(key: &str, id: &str, now: i64) -> Item {
    HashMap::from([
        (KEY.to_owned(), s(format!("{IDEMPOTENCY_PREFIX}{key}"))),
        (TARGET.to_owned(), s(id)),
        ("created_at".to_owned(), n(now)),
    ])
}

/// Reads items of one table, naming the table and item in errors.
pub struct Decoder<'a> {
    pub table: &'a str,
}

impl Decoder<'_> {
    fn bad(&self, item: &Item, reason: impl Into<String>) -> AwsError {
        let key = item.get(KEY).and_then(|v| v.as_s().ok()).cloned().unwrap_or_else(|| "?".into());
        AwsError::Malformed { table: self.table.to_owned(), key, reason: reason.into() }
    }

    fn str_opt(&self, item: &Item, name: &str) -> Result<Option<String>, AwsError> {
        match item.get(name) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(AttributeValue::S(v)) => Ok(Some(v.clone())),
            Some(_) => Err(self.bad(item, format!("'{name}' is not a string"))),
        }
    }

    fn str_req(&self, item: &Item, name: &str) -> Result<String, AwsError> {
        self.str_opt(item, name)?.ok_or_else(|| self.bad(item, format!("'{name}' is missing")))
    }

    fn num_opt<T: std::str::FromStr>(&self, item: &Item, name: &str) -> Result<Option<T>, AwsError> {
        match item.get(name) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(AttributeValue::N(v)) => v.parse().map(Some).map_err(|_| self.bad(item, format!("'{name}' = {v} is out of range"))),
            Some(_) => Err(self.bad(item, format!("'{name}' is not a number"))),
        }
    }

    fn num_req<T: std::str::FromStr>(&self, item: &Item, name: &str) -> Result<T, AwsError> {
        self.num_opt(item, name)?.ok_or_else(|| self.bad(item, format!("'{name}' is missing")))
    }

    fn json_opt<T: serde::de::DeserializeOwned>(&self, item: &Item, name: &str) -> Result<Option<T>, AwsError> {
        self.str_opt(item, name)?
            .map(|t| serde_json::from_str(&t).map_err(|e| self.bad(item, format!("'{name}' is not valid JSON: {e}"))))
            .transpose()
    }

    /// The job an item stores.
    pub fn job(&self, item: &Item) -> Result<Job, AwsError> {
        let status = self.str_req(item, "status")?;
        Ok(Job {
            id: self.str_req(item, KEY)?,
            job_type: self.str_req(item, "job_type")?,
            status: status.parse().map_err(|m: String| self.bad(item, m))?,
            config: self.json_opt(item, "config")?.ok_or_else(|| self.bad(item, "'config' is missing"))?,
            label: self.str_opt(item, "label")?,
            idempotency_key: self.str_opt(item, "idempotency_key")?,
            created_at: self.num_req(item, "created_at")?,
            updated_at: self.num_req(item, "updated_at")?,
            started_at: self.num_opt(item, "started_at")?,
            finished_at: self.num_opt(item, "finished_at")?,
            attempts: self.num_req(item, "attempts")?,
            progress: self.num_req(item, "progress")?,
            progress_detail: self.json_opt(item, "progress_detail")?,
            heartbeat_at: self.num_opt(item, "heartbeat_at")?,
            executor_id: self.str_opt(item, "executor_id")?,
            result: self.json_opt(item, "result")?,
            error: self.json_opt::<JobError>(item, "error")?,
            cancel_requested: matches!(item.get("cancel_requested"), Some(AttributeValue::Bool(true))),
            execution_ref: self.str_opt(item, "execution_ref")?,
        })
    }

    /// The job id an idempotency item points at.
    pub fn target(&self, item: &Item) -> Result<String, AwsError> {
        self.str_req(item, TARGET)
    }
}
