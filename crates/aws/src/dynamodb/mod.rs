//! [`DynamoJobRepository`]: `tradai_jobs::JobRepository` on a DynamoDB table (the seeds'
//! `tradai-workflow-state-{env}`), for workers on many machines sharing one job state.
//!
//! Every status change is an `UpdateItem` whose condition is the status it was read in, so of
//! two workers claiming or finishing one job exactly one wins (the loser gets
//! `ConditionalCheckFailedException`, here an `IllegalTransition` or the next candidate).
//! Idempotency keys are items of their own (`idempotency#<key>`) written in the same
//! transaction as the job. Everything that lists jobs queries the status index
//! ([`STATUS_INDEX`]) — one query per status — and never scans the table.

mod item;
mod state;
mod table;

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Put, ReturnValue, Select, TransactWriteItem};
use aws_sdk_dynamodb::Client;
use tradai_jobs::{Job, JobError, JobFilter, JobRepository, JobStatus, NewJob, Page, RepoError};

use self::item::{fraction, idempotency_item, key_of, n, new_item, s, Decoder, Item, IDEMPOTENCY_PREFIX, KEY};
pub use self::table::{create_job_table, STATUS_INDEX};
use crate::{AwsError, SyncBridge};

/// Every status, in the order `count_by_status` reports them (as SQLite's `GROUP BY`).
const STATUSES: [JobStatus; 5] = [JobStatus::Cancelled, JobStatus::Completed, JobStatus::Failed, JobStatus::Pending, JobStatus::Running];

/// Key prefix of a job's checkpoint item.
const CHECKPOINT_PREFIX: &str = "checkpoint#";

/// Items per `TransactWriteItems` (DynamoDB's limit).
const TRANSACTION_ITEMS: usize = 100;

/// [`JobRepository`] on a DynamoDB table with the status index. Cheap to share (`Arc`).
pub struct DynamoJobRepository {
    inner: Arc<Inner>,
    bridge: SyncBridge,
}

/// What the async calls need, shared with the futures the bridge runs.
struct Inner {
    client: Client,
    table: String,
}

impl std::fmt::Debug for DynamoJobRepository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamoJobRepository").field("table", &self.inner.table).finish_non_exhaustive()
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn storage(e: AwsError) -> RepoError {
    RepoError::Storage(Box::new(e))
}

impl DynamoJobRepository {
    /// A repository on `table` with an SDK configuration (see [`crate::load_sdk_config`]).
    ///
    /// # Errors
    /// [`AwsError::Runtime`] when the bridge runtime cannot start.
    pub fn new(config: &aws_config::SdkConfig, table: &str) -> Result<Self, AwsError> {
        Ok(Self { inner: Arc::new(Inner { client: Client::new(config), table: table.to_owned() }), bridge: SyncBridge::new()? })
    }

    /// Loads the SDK configuration (standard chain plus `overrides`) and opens `table`,
    /// checking that it exists. With `create`, a missing table is created first.
    ///
    /// # Errors
    /// [`AwsError`] when the table is missing (and not to be created) or AWS cannot be reached.
    pub fn connect(table: &str, overrides: &crate::AwsOverrides, create: bool) -> Result<Self, AwsError> {
        let bridge = SyncBridge::new()?;
        let overrides = overrides.clone();
        let config = bridge.run(async move { crate::load_sdk_config(&overrides).await })?;
        let repo = Self { inner: Arc::new(Inner { client: Client::new(&config), table: table.to_owned() }), bridge };
        let inner = Arc::clone(&repo.inner);
        repo.bridge.run(async move {
            if create {
                create_job_table(&inner.client, &inner.table).await
            } else {
                inner.describe().await
            }
        })??;
        Ok(repo)
    }

    /// The table's name.
    #[must_use]
    pub fn table(&self) -> &str {
        &self.inner.table
    }

    /// Creates the table (see [`create_job_table`]).
    ///
    /// # Errors
    /// As [`create_job_table`].
    pub fn create_table(&self) -> Result<(), AwsError> {
        let inner = Arc::clone(&self.inner);
        self.bridge.run(async move { create_job_table(&inner.client, &inner.table).await })?
    }

    fn run<T: Send + 'static, F>(&self, f: impl FnOnce(Arc<Inner>) -> F) -> Result<T, RepoError>
    where
        F: std::future::Future<Output = Result<T, RepoError>> + Send + 'static,
    {
        self.bridge.run(f(Arc::clone(&self.inner))).map_err(storage)?
    }
}

fn is_conditional_failure<E>(e: &aws_sdk_dynamodb::error::SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    e.as_service_error().and_then(aws_sdk_dynamodb::error::ProvideErrorMetadata::code) == Some("ConditionalCheckFailedException")
}

impl Inner {
    fn decoder(&self) -> Decoder<'_> {
        Decoder { table: &self.table }
    }

    fn err<E, R>(&self, operation: &'static str, e: aws_sdk_dynamodb::error::SdkError<E, R>) -> RepoError
    where
        E: std::error::Error + aws_sdk_dynamodb::error::ProvideErrorMetadata + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        storage(AwsError::sdk("dynamodb", operation, &self.table, e))
    }

    async fn describe(&self) -> Result<(), AwsError> {
        self.client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
            .map_err(|e| AwsError::sdk("dynamodb", "DescribeTable", &self.table, e))?;
        Ok(())
    }

    async fn get_item(&self, key: &str) -> Result<Option<Item>, RepoError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_of(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.err("GetItem", e))?;
        Ok(out.item)
    }

    async fn get(&self, id: &str) -> Result<Job, RepoError> {
        // An idempotency item is not a job, whatever id a caller guesses.
        if id.starts_with(IDEMPOTENCY_PREFIX) || id.starts_with(CHECKPOINT_PREFIX) || id.starts_with(state::STATE_PREFIX) {
            return Err(RepoError::NotFound(id.to_owned()));
        }
        let item = self.get_item(id).await?.ok_or_else(|| RepoError::NotFound(id.to_owned()))?;
        self.decoder().job(&item).map_err(storage)
    }

    /// The job a used idempotency key points at.
    async fn job_of_key(&self, key: &str) -> Result<Option<Job>, RepoError> {
        let Some(item) = self.get_item(&format!("{IDEMPOTENCY_PREFIX}{key}")).await? else { return Ok(None) };
        let target = self.decoder().target(&item).map_err(storage)?;
        self.get(&target).await.map(Some)
    }

    /// Writes new jobs in one transaction per [`TRANSACTION_ITEMS`] items. Keys already used
    /// (or used by a concurrent submission while we wrote) resolve to the existing job.
    async fn create_all(&self, jobs: Vec<NewJob>) -> Result<Vec<(Job, bool)>, RepoError> {
        let mut out: Vec<Option<(Job, bool)>> = vec![None; jobs.len()];
        // A key repeated inside the batch is the first one's job.
        let mut first_of_key: HashMap<String, usize> = HashMap::new();
        let mut repeats = Vec::new();
        let mut todo = Vec::new();
        for (i, job) in jobs.iter().enumerate() {
            match job.idempotency_key.as_ref().map(|k| first_of_key.get(k).copied().ok_or(k)) {
                Some(Ok(first)) => repeats.push((i, first)),
                Some(Err(k)) => {
                    first_of_key.insert(k.clone(), i);
                    todo.push(i);
                }
                None => todo.push(i),
            }
        }
        let mut unresolved_cancels = 0;
        while !todo.is_empty() {
            // One transaction's worth, each job with its idempotency item.
            let mut chunk = Vec::new();
            let mut items = 0;
            while let Some(&i) = todo.first() {
                let need = 1 + usize::from(jobs[i].idempotency_key.is_some());
                if items + need > TRANSACTION_ITEMS {
                    break;
                }
                items += need;
                chunk.push(todo.remove(0));
            }
            let now = now_ms();
            let mut writes = Vec::new();
            let mut new_items = Vec::new();
            for &i in &chunk {
                let id = uuid::Uuid::new_v4().to_string();
                let item = new_item(&id, &jobs[i], now);
                writes.push(self.put_new(item.clone())?);
                if let Some(k) = &jobs[i].idempotency_key {
                    writes.push(self.put_new(idempotency_item(k, &id, now))?);
                }
                new_items.push((i, item));
            }
            match self.client.transact_write_items().set_transact_items(Some(writes)).send().await {
                Ok(_) => {
                    for (i, item) in new_items {
                        out[i] = Some((self.decoder().job(&item).map_err(storage)?, true));
                    }
                }
                Err(e) if e.as_service_error().is_some_and(|s| s.is_transaction_canceled_exception()) => {
                    // Some key was used meanwhile (nothing of this chunk was written): resolve
                    // the used keys to their jobs and write the rest again.
                    let mut resolved = false;
                    let mut again = Vec::new();
                    for i in chunk {
                        match &jobs[i].idempotency_key {
                            Some(k) => match self.job_of_key(k).await? {
                                Some(job) => {
                                    out[i] = Some((job, false));
                                    resolved = true;
                                }
                                None => again.push(i),
                            },
                            None => again.push(i),
                        }
                    }
                    if !resolved {
                        // Cancelled by a concurrent transaction on the same key (whose item
                        // is not written yet): try again shortly, a few times.
                        unresolved_cancels += 1;
                        if unresolved_cancels > 3 {
                            return Err(self.err("TransactWriteItems", e));
                        }
                        tokio::time::sleep(std::time::Duration::from_millis(50 * unresolved_cancels)).await;
                    }
                    again.extend(todo);
                    todo = again;
                }
                Err(e) => return Err(self.err("TransactWriteItems", e)),
            }
        }
        for (i, first) in repeats {
            let (job, _) = out[first].clone().ok_or_else(|| storage(AwsError::Runtime("a batch lost a job".into())))?;
            out[i] = Some((job, false));
        }
        out.into_iter().map(|o| o.ok_or_else(|| storage(AwsError::Runtime("a batch lost a job".into())))).collect()
    }

    fn put_new(&self, item: Item) -> Result<TransactWriteItem, RepoError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#k)")
            .expression_attribute_names("#k", KEY)
            .build()
            .map_err(|e| storage(AwsError::Runtime(format!("building a put: {e}"))))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// An `UpdateItem` of job `id` conditional on its status being `from`, returning the new item.
    fn update_from(&self, id: &str, from: JobStatus) -> UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_of(id)))
            .condition_expression("#status = :from")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":from", s(from.as_str()))
            .return_values(ReturnValue::AllNew)
    }

    /// Sends a conditional update: `Ok(None)` when the condition failed.
    async fn send_update(&self, u: UpdateItemFluentBuilder) -> Result<Option<Job>, RepoError> {
        match u.send().await {
            Ok(out) => {
                let item = out.attributes.ok_or_else(|| storage(AwsError::Runtime("UpdateItem returned no attributes".into())))?;
                Ok(Some(self.decoder().job(&item).map_err(storage)?))
            }
            Err(e) if is_conditional_failure(&e) => Ok(None),
            Err(e) => Err(self.err("UpdateItem", e)),
        }
    }

    /// A query of the status index for the jobs of `status` matching `filter`: the one
    /// builder behind listings, counts, claims and the orphan scan.
    fn status_query(&self, status: JobStatus, filter: &Filters<'_>) -> QueryFluentBuilder {
        filter.apply(
            self.client
                .query()
                .table_name(&self.table)
                .index_name(STATUS_INDEX)
                .key_condition_expression("#status = :status")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":status", s(status.as_str())),
        )
    }

    /// Jobs of one status through the index, oldest first or newest first, with optional
    /// filters, stopping after `max` matches (`None`: all).
    async fn query_status(
        &self,
        status: JobStatus,
        filter: &Filters<'_>,
        newest_first: bool,
        max: Option<usize>,
    ) -> Result<Vec<Job>, RepoError> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let q = self.status_query(status, filter).scan_index_forward(!newest_first).set_exclusive_start_key(start);
            let page = q.send().await.map_err(|e| self.err("Query", e))?;
            for item in page.items() {
                out.push(self.decoder().job(item).map_err(storage)?);
                if max.is_some_and(|m| out.len() >= m) {
                    return Ok(out);
                }
            }
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(out);
            }
        }
    }

    /// How many jobs of one status match the filters (a `COUNT` query: no items travel).
    async fn count_status(&self, status: JobStatus, filter: &Filters<'_>) -> Result<usize, RepoError> {
        let mut total = 0usize;
        let mut start = None;
        loop {
            let q = self.status_query(status, filter).select(Select::Count).set_exclusive_start_key(start);
            let page = q.send().await.map_err(|e| self.err("Query", e))?;
            total += usize::try_from(page.count).unwrap_or(0);
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(total);
            }
        }
    }

    async fn claim_next(&self, job_types: Vec<String>, executor_id: String) -> Result<Option<Job>, RepoError> {
        if job_types.is_empty() {
            return Ok(None);
        }
        let filter = Filters { job_types: &job_types, label: None };
        // Candidates oldest first; a candidate someone else claimed first fails the condition
        // and the next one is tried. Pages of the index are read as they are needed.
        let mut start = None;
        loop {
            let q = self.status_query(JobStatus::Pending, &filter).scan_index_forward(true).limit(25).set_exclusive_start_key(start);
            let page = q.send().await.map_err(|e| self.err("Query", e))?;
            for item in page.items() {
                let candidate = self.decoder().job(item).map_err(storage)?;
                if let Some(job) = self.claim(&candidate.id, &executor_id).await? {
                    return Ok(Some(job));
                }
            }
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(None);
            }
        }
    }

    /// Claims job `id` if it is PENDING and due; `None` when the condition fails (claimed
    /// by someone else, finished, or waiting out a back-off).
    async fn claim(&self, id: &str, executor_id: &str) -> Result<Option<Job>, RepoError> {
        let now = now_ms();
        // A job handed back with a back-off is not due before `not_before`.
        let u = self
            .update_from(id, JobStatus::Pending)
            .condition_expression("#status = :from AND (attribute_not_exists(not_before) OR not_before <= :now)")
            .update_expression(
                "SET #status = :running, executor_id = :executor, started_at = :now, heartbeat_at = :now, \
                 updated_at = :now, progress = :zero ADD attempts :one REMOVE progress_detail, not_before",
            )
            .expression_attribute_values(":running", s(JobStatus::Running.as_str()))
            .expression_attribute_values(":executor", s(executor_id))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1));
        self.send_update(u).await
    }

    async fn heartbeat(&self, id: String, progress: f64, detail: Option<String>) -> Result<(), RepoError> {
        let now = now_ms();
        let mut set = "SET progress = :p, heartbeat_at = :now, updated_at = :now".to_owned();
        let mut u = self
            .update_from(&id, JobStatus::Running)
            .expression_attribute_values(":p", fraction(progress))
            .expression_attribute_values(":now", n(now));
        if let Some(d) = detail {
            set.push_str(", progress_detail = :d");
            u = u.expression_attribute_values(":d", s(d));
        }
        if self.send_update(u.update_expression(set)).await?.is_some() {
            return Ok(());
        }
        let j = self.get(&id).await?;
        Err(RepoError::IllegalTransition { id, from: j.status, to: JobStatus::Running })
    }

    async fn transition(&self, id: String, to: JobStatus, result: Option<String>, error: Option<String>) -> Result<Job, RepoError> {
        let cur = self.get(&id).await?;
        if !cur.status.can_move_to(to) {
            return Err(RepoError::IllegalTransition { id, from: cur.status, to });
        }
        let now = now_ms();
        let mut set = vec!["#status = :to", "updated_at = :now"];
        let mut remove = Vec::new();
        let mut u = self
            .update_from(&id, cur.status)
            .expression_attribute_values(":to", s(to.as_str()))
            .expression_attribute_values(":now", n(now));
        if to.is_terminal() {
            set.push("finished_at = :now");
        } else {
            remove.push("finished_at");
        }
        match result {
            Some(r) => {
                set.push("#result = :result");
                u = u.expression_attribute_names("#result", "result").expression_attribute_values(":result", s(r));
            }
            None => {
                remove.push("#result");
                u = u.expression_attribute_names("#result", "result");
            }
        }
        match error {
            Some(e) => {
                set.push("#error = :error");
                u = u.expression_attribute_names("#error", "error").expression_attribute_values(":error", s(e));
            }
            None => {
                remove.push("#error");
                u = u.expression_attribute_names("#error", "error");
            }
        }
        if to == JobStatus::Completed {
            set.push("progress = :one");
            u = u.expression_attribute_values(":one", n(1));
        }
        if to == JobStatus::Pending {
            // Handed back: no worker owns it until the next claim.
            remove.push("executor_id");
        }
        let mut expr = format!("SET {}", set.join(", "));
        if !remove.is_empty() {
            expr.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        match self.send_update(u.update_expression(expr)).await? {
            Some(job) => {
                if to.is_terminal() {
                    // A finished job resumes nothing.
                    self.delete_checkpoint(&id).await?;
                }
                Ok(job)
            }
            None => {
                // Someone moved it between our read and our write.
                let now = self.get(&id).await?;
                Err(RepoError::IllegalTransition { id, from: now.status, to })
            }
        }
    }

    async fn hand_back(&self, id: String, not_before_ms: Option<i64>, count_attempt: bool) -> Result<Job, RepoError> {
        let mut set = vec!["#status = :pending", "updated_at = :now"];
        let mut remove = vec!["executor_id"];
        let mut u = self
            .update_from(&id, JobStatus::Running)
            .expression_attribute_values(":pending", s(JobStatus::Pending.as_str()))
            .expression_attribute_values(":now", n(now_ms()));
        match not_before_ms {
            Some(t) => {
                set.push("not_before = :nb");
                u = u.expression_attribute_values(":nb", n(t));
            }
            None => remove.push("not_before"),
        }
        let mut expr = format!("SET {} REMOVE {}", set.join(", "), remove.join(", "));
        if !count_attempt {
            // A graceful shutdown gives the attempt back (a claimed job has at least one).
            expr.push_str(" ADD attempts :minus_one");
            u = u.expression_attribute_values(":minus_one", n(-1));
        }
        match self.send_update(u.update_expression(expr)).await? {
            Some(job) => Ok(job),
            None => {
                let now = self.get(&id).await?;
                Err(RepoError::IllegalTransition { id, from: now.status, to: JobStatus::Pending })
            }
        }
    }

    /// The checkpoint of job `id` is an item of its own (`checkpoint#<id>`, no status, so the
    /// status index never sees it).
    fn checkpoint_key(id: &str) -> String {
        format!("{CHECKPOINT_PREFIX}{id}")
    }

    async fn save_checkpoint(&self, id: String, executor_id: String, data: String) -> Result<(), RepoError> {
        // Only the worker that holds the job may write: the condition on the job item and the
        // put of the checkpoint item commit together or not at all.
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(key_of(&id)))
            .condition_expression("#status = :running AND executor_id = :executor")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":running", s(JobStatus::Running.as_str()))
            .expression_attribute_values(":executor", s(&executor_id))
            .build()
            .map_err(|e| storage(AwsError::Runtime(format!("building a condition check: {e}"))))?;
        let mut item = key_of(&Self::checkpoint_key(&id));
        item.insert("data".to_owned(), s(data));
        item.insert("updated_at".to_owned(), n(now_ms()));
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .build()
            .map_err(|e| storage(AwsError::Runtime(format!("building a put: {e}"))))?;
        let sent = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().condition_check(check).build())
            .transact_items(TransactWriteItem::builder().put(put).build())
            .send()
            .await;
        match sent {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error().and_then(aws_sdk_dynamodb::error::ProvideErrorMetadata::code)
                    == Some("TransactionCanceledException") =>
            {
                let now = self.get(&id).await?;
                Err(RepoError::IllegalTransition { id, from: now.status, to: JobStatus::Running })
            }
            Err(e) => Err(self.err("TransactWriteItems", e)),
        }
    }

    async fn load_checkpoint(&self, id: String) -> Result<Option<serde_json::Value>, RepoError> {
        let Some(item) = self.get_item(&Self::checkpoint_key(&id)).await? else { return Ok(None) };
        let text = match item.get("data") {
            Some(AttributeValue::S(t)) => t,
            _ => return Err(storage(AwsError::Runtime(format!("checkpoint of job '{id}' has no data")))),
        };
        serde_json::from_str(text).map(Some).map_err(|e| storage(AwsError::Runtime(format!("checkpoint of job '{id}': {e}"))))
    }

    async fn delete_checkpoint(&self, id: &str) -> Result<(), RepoError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key_of(&Self::checkpoint_key(id))))
            .send()
            .await
            .map_err(|e| self.err("DeleteItem", e))?;
        Ok(())
    }

    async fn request_cancel(&self, id: String) -> Result<Job, RepoError> {
        // Bounded: every retry follows a status change, and statuses only move forward to a
        // terminal one (a hand-back to PENDING is bounded by the attempts limit).
        loop {
            let job = self.get(&id).await?;
            match job.status {
                JobStatus::Pending => match self.transition(id.clone(), JobStatus::Cancelled, None, None).await {
                    // Claimed between the read and the write: flag it for its worker instead.
                    Err(RepoError::IllegalTransition { from: JobStatus::Running, .. }) => continue,
                    other => return other,
                },
                JobStatus::Running => {
                    let u = self
                        .update_from(&id, JobStatus::Running)
                        .update_expression("SET cancel_requested = :t, updated_at = :now")
                        .expression_attribute_values(":t", AttributeValue::Bool(true))
                        .expression_attribute_values(":now", n(now_ms()));
                    if let Some(j) = self.send_update(u).await? {
                        return Ok(j);
                    }
                }
                s => return Err(RepoError::IllegalTransition { id, from: s, to: JobStatus::Cancelled }),
            }
        }
    }

    async fn list(&self, f: JobFilter) -> Result<Page, RepoError> {
        let limit = f.limit.unwrap_or(50).clamp(1, 500);
        let types: Vec<String> = f.job_type.iter().cloned().collect();
        let filter = Filters { job_types: &types, label: f.label.as_deref() };
        let statuses: Vec<JobStatus> = f.status.map_or_else(|| STATUSES.to_vec(), |s| vec![s]);
        let mut total = 0;
        let mut items = Vec::new();
        // Newest first per status, at most offset + limit from each; merged, they hold the page.
        for status in statuses {
            total += self.count_status(status, &filter).await?;
            items.extend(self.query_status(status, &filter, true, Some(f.offset + limit)).await?);
        }
        items.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| a.id.cmp(&b.id)));
        let items = items.into_iter().skip(f.offset).take(limit).collect();
        Ok(Page { items, total, limit, offset: f.offset })
    }
}

/// Optional filters of an index query, as a DynamoDB filter expression.
struct Filters<'a> {
    job_types: &'a [String],
    label: Option<&'a str>,
}

impl Filters<'_> {
    fn apply(&self, mut q: QueryFluentBuilder) -> QueryFluentBuilder {
        let mut clauses = Vec::new();
        if !self.job_types.is_empty() {
            let marks: Vec<String> = (0..self.job_types.len()).map(|i| format!(":type{i}")).collect();
            for (m, t) in marks.iter().zip(self.job_types) {
                q = q.expression_attribute_values(m, s(t));
            }
            q = q.expression_attribute_names("#job_type", "job_type");
            clauses.push(format!("#job_type IN ({})", marks.join(", ")));
        }
        if let Some(l) = self.label {
            q = q.expression_attribute_names("#label", "label").expression_attribute_values(":label", s(l));
            clauses.push("#label = :label".to_owned());
        }
        if clauses.is_empty() {
            q
        } else {
            q.filter_expression(clauses.join(" AND "))
        }
    }
}

impl JobRepository for DynamoJobRepository {
    fn create(&self, job: NewJob) -> Result<(Job, bool), RepoError> {
        let mut out = self.create_batch(vec![job])?;
        out.pop().ok_or_else(|| storage(AwsError::Runtime("create returned no job".into())))
    }

    /// One `TransactWriteItems` per 100 items (a job and its idempotency item count two), so
    /// a batch of up to 50 keyed jobs (100 without keys) commits all or nothing; a larger one
    /// commits chunk by chunk.
    fn create_batch(&self, jobs: Vec<NewJob>) -> Result<Vec<(Job, bool)>, RepoError> {
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        self.run(|i| async move { i.create_all(jobs).await })
    }

    fn get(&self, id: &str) -> Result<Job, RepoError> {
        let id = id.to_owned();
        self.run(|i| async move { i.get(&id).await })
    }

    fn list(&self, filter: &JobFilter) -> Result<Page, RepoError> {
        let f = filter.clone();
        self.run(|i| async move { i.list(f).await })
    }

    fn claim_next(&self, job_types: &[&str], executor_id: &str) -> Result<Option<Job>, RepoError> {
        let types: Vec<String> = job_types.iter().map(|t| (*t).to_owned()).collect();
        let executor = executor_id.to_owned();
        self.run(|i| async move { i.claim_next(types, executor).await })
    }

    fn claim(&self, id: &str, executor_id: &str) -> Result<Option<Job>, RepoError> {
        let (id, executor) = (id.to_owned(), executor_id.to_owned());
        self.run(|i| async move {
            // An item that is not a job (idempotency, checkpoint) never has a status to claim.
            if id.starts_with(IDEMPOTENCY_PREFIX) || id.starts_with(CHECKPOINT_PREFIX) {
                return Err(RepoError::NotFound(id));
            }
            match i.claim(&id, &executor).await? {
                Some(j) => Ok(Some(j)),
                // Tells a missing job from one that is not claimable.
                None => i.get(&id).await.map(|_| None),
            }
        })
    }

    fn heartbeat(&self, id: &str, progress: f64, detail: Option<&serde_json::Value>) -> Result<(), RepoError> {
        let (id, detail) = (id.to_owned(), detail.map(ToString::to_string));
        self.run(|i| async move { i.heartbeat(id, progress, detail).await })
    }

    fn transition(&self, id: &str, to: JobStatus, result: Option<serde_json::Value>, error: Option<JobError>) -> Result<Job, RepoError> {
        let id = id.to_owned();
        let result = result.map(|v| v.to_string());
        let error = error.map(|e| serde_json::to_string(&e).unwrap_or_default());
        self.run(|i| async move { i.transition(id, to, result, error).await })
    }

    fn hand_back(&self, id: &str, not_before_ms: Option<i64>, count_attempt: bool) -> Result<Job, RepoError> {
        let id = id.to_owned();
        self.run(move |i| async move { i.hand_back(id, not_before_ms, count_attempt).await })
    }

    fn save_checkpoint(&self, id: &str, executor_id: &str, data: &serde_json::Value) -> Result<(), RepoError> {
        let (id, executor_id, data) = (id.to_owned(), executor_id.to_owned(), data.to_string());
        self.run(move |i| async move { i.save_checkpoint(id, executor_id, data).await })
    }

    fn load_checkpoint(&self, id: &str) -> Result<Option<serde_json::Value>, RepoError> {
        let id = id.to_owned();
        self.run(move |i| async move { i.load_checkpoint(id).await })
    }

    fn find_orphans(&self, stale_before_ms: i64, live_executors: &[String]) -> Result<Vec<Job>, RepoError> {
        let live = live_executors.to_vec();
        self.run(|i| async move {
            let running = i.query_status(JobStatus::Running, &Filters { job_types: &[], label: None }, false, None).await?;
            Ok(running
                .into_iter()
                .filter(|j| {
                    let dead_executor = j.executor_id.as_ref().is_none_or(|e| !live.contains(e));
                    let stale = j.heartbeat_at.unwrap_or(0) < stale_before_ms;
                    dead_executor || stale
                })
                .collect())
        })
    }

    fn set_execution_ref(&self, id: &str, reference: &str) -> Result<(), RepoError> {
        let (id, reference) = (id.to_owned(), reference.to_owned());
        self.run(|i| async move {
            if id.starts_with(IDEMPOTENCY_PREFIX) || id.starts_with(CHECKPOINT_PREFIX) {
                return Err(RepoError::NotFound(id));
            }
            let sent = i
                .client
                .update_item()
                .table_name(&i.table)
                .set_key(Some(key_of(&id)))
                .condition_expression("attribute_exists(#k)")
                .expression_attribute_names("#k", KEY)
                .update_expression("SET execution_ref = :r")
                .expression_attribute_values(":r", s(reference))
                .send()
                .await;
            match sent {
                Ok(_) => Ok(()),
                Err(e) if is_conditional_failure(&e) => Err(RepoError::NotFound(id)),
                Err(e) => Err(i.err("UpdateItem", e)),
            }
        })
    }

    fn request_cancel(&self, id: &str) -> Result<Job, RepoError> {
        let id = id.to_owned();
        self.run(|i| async move { i.request_cancel(id).await })
    }

    fn count_by_status(&self) -> Result<Vec<(JobStatus, usize)>, RepoError> {
        self.run(|i| async move {
            let mut out = Vec::new();
            for status in STATUSES {
                let c = i.count_status(status, &Filters { job_types: &[], label: None }).await?;
                if c > 0 {
                    out.push((status, c));
                }
            }
            Ok(out)
        })
    }

    fn ping(&self) -> Result<(), RepoError> {
        self.run(|i| async move { i.describe().await.map_err(storage) })
    }
}
