//! [`SqsJobQueue`]: job ids on an SQS queue (the seeds' `BACKEND_BACKTEST_QUEUE_URL`), for the
//! backend that sends them and the `tradai worker` processes that long-poll them.
//!
//! A message says only which job to run (`{"job_id", "job_type"}`); the job itself lives in
//! the job repository, whose conditional claim decides who runs it. SQS delivers at least
//! once, so a message may arrive twice or after its job finished: the worker settles it by
//! what the repository says. While a worker holds a message a background task keeps pushing
//! its visibility timeout out, so a long backtest is never delivered to a second worker; if the
//! worker dies the extensions stop and the message comes back after one timeout.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;
use aws_sdk_sqs::Client;
use serde::{Deserialize, Serialize};

use crate::{AwsError, SyncBridge};

/// What a message carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobMessage {
    /// The job to run.
    pub job_id: String,
    /// Its type, so a worker can leave types it does not run without claiming them.
    pub job_type: String,
}

/// A received message: its job and the receipt that settles it.
#[derive(Debug, Clone)]
pub struct Received {
    /// What the message said.
    pub message: JobMessage,
    /// The receipt handle of this delivery (the one `DeleteMessage` needs).
    pub receipt: String,
    /// How many times SQS delivered it (`ApproximateReceiveCount`).
    pub receive_count: u32,
}

/// Timing of a queue's consumers.
#[derive(Debug, Clone, Copy)]
pub struct QueueTiming {
    /// How long a received message stays invisible to others; extended every third of it
    /// while held.
    pub visibility: Duration,
    /// Long-poll wait of one receive (SQS allows at most 20 s).
    pub wait: Duration,
}

impl Default for QueueTiming {
    fn default() -> Self {
        Self { visibility: Duration::from_secs(60), wait: Duration::from_secs(10) }
    }
}

/// A job queue on SQS (standard or FIFO: a URL ending in `.fifo` gets a message group and a
/// deduplication id per job, so a job sent twice within five minutes is queued once).
pub struct SqsJobQueue {
    client: Client,
    url: String,
    timing: QueueTiming,
    /// Receipt → the task extending its visibility.
    held: Arc<Mutex<HashMap<String, tokio::task::AbortHandle>>>,
    bridge: SyncBridge,
}

impl std::fmt::Debug for SqsJobQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqsJobQueue").field("url", &self.url).field("timing", &self.timing).finish_non_exhaustive()
    }
}

fn secs(d: Duration) -> i32 {
    i32::try_from(d.as_secs()).unwrap_or(i32::MAX)
}

impl SqsJobQueue {
    /// Loads the SDK configuration (standard chain plus `overrides`) and checks that the queue
    /// at `url` exists and answers (`GetQueueAttributes`).
    ///
    /// # Errors
    /// [`AwsError`] naming the queue when it is missing or unreachable; [`AwsError::Runtime`]
    /// for a visibility timeout outside SQS's 1 s – 12 h or a wait above 20 s.
    pub fn connect(url: &str, overrides: &crate::AwsOverrides, timing: QueueTiming) -> Result<Self, AwsError> {
        if timing.visibility < Duration::from_secs(1) || timing.visibility > Duration::from_secs(43_200) {
            return Err(AwsError::Runtime(format!("visibility timeout {:?} is outside SQS's 1 s to 12 h", timing.visibility)));
        }
        if timing.wait > Duration::from_secs(20) {
            return Err(AwsError::Runtime(format!("long-poll wait {:?} is above SQS's 20 s", timing.wait)));
        }
        let bridge = SyncBridge::new()?;
        let overrides = overrides.clone();
        let config = bridge.run(async move { crate::load_sdk_config(&overrides).await })?;
        let queue = Self { client: Client::new(&config), url: url.to_owned(), timing, held: Arc::default(), bridge };
        let (client, u) = (queue.client.clone(), queue.url.clone());
        queue.bridge.run(async move {
            client
                .get_queue_attributes()
                .queue_url(&u)
                .attribute_names(QueueAttributeName::QueueArn)
                .send()
                .await
                .map_err(|e| AwsError::sdk("sqs", "GetQueueAttributes", &u, e))
        })??;
        Ok(queue)
    }

    /// The queue's URL.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    fn is_fifo(&self) -> bool {
        self.url.ends_with(".fifo")
    }

    /// Sends `message`; returns SQS's message id.
    ///
    /// # Errors
    /// [`AwsError`] naming the queue.
    pub fn send(&self, message: &JobMessage) -> Result<String, AwsError> {
        let body = serde_json::to_string(message).map_err(|e| AwsError::Runtime(format!("encoding a message: {e}")))?;
        let mut req = self.client.send_message().queue_url(&self.url).message_body(body);
        if self.is_fifo() {
            // One group per job: jobs run in parallel, and a re-send of one job is deduplicated.
            req = req.message_group_id(&message.job_id).message_deduplication_id(&message.job_id);
        }
        let url = self.url.clone();
        let out = self.bridge.run(async move { req.send().await.map_err(|e| AwsError::sdk("sqs", "SendMessage", &url, e)) })??;
        Ok(out.message_id.unwrap_or_default())
    }

    /// Long-polls for one message (up to the timing's wait). A message whose body is not a
    /// job message is deleted and logged (it would come back forever otherwise) and `None`
    /// returned. A received message is held: its visibility is extended until it is settled
    /// with [`SqsJobQueue::delete`] or [`SqsJobQueue::release`].
    ///
    /// # Errors
    /// [`AwsError`] naming the queue.
    pub fn receive(&self) -> Result<Option<Received>, AwsError> {
        let req = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(1)
            .wait_time_seconds(secs(self.timing.wait))
            .visibility_timeout(secs(self.timing.visibility))
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount);
        let url = self.url.clone();
        let out = self.bridge.run(async move { req.send().await.map_err(|e| AwsError::sdk("sqs", "ReceiveMessage", &url, e)) })??;
        let Some(m) = out.messages.unwrap_or_default().into_iter().next() else { return Ok(None) };
        let receipt = m.receipt_handle.clone().unwrap_or_default();
        let body = m.body.as_deref().unwrap_or_default();
        let message: JobMessage = match serde_json::from_str(body) {
            Ok(j) => j,
            Err(e) => {
                tracing::warn!(queue = %self.url, message_id = ?m.message_id, error = %e, "deleting a message that is not a job message");
                self.delete_now(&receipt)?;
                return Ok(None);
            }
        };
        let receive_count = m
            .attributes
            .as_ref()
            .and_then(|a| a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount))
            .and_then(|c| c.parse().ok())
            .unwrap_or(1);
        self.hold(&receipt);
        Ok(Some(Received { message, receipt, receive_count }))
    }

    /// Starts extending the visibility of `receipt` every third of the timeout.
    fn hold(&self, receipt: &str) {
        let (client, url, r, visibility) = (self.client.clone(), self.url.clone(), receipt.to_owned(), self.timing.visibility);
        let task = self.bridge.handle().spawn(async move {
            let every = (visibility / 3).max(Duration::from_millis(300));
            loop {
                tokio::time::sleep(every).await;
                let sent = client.change_message_visibility().queue_url(&url).receipt_handle(&r).visibility_timeout(secs(visibility)).send().await;
                if let Err(e) = sent {
                    // The next tick tries again; if they all fail the message is delivered
                    // again and the repository's claim keeps the job from running twice.
                    tracing::warn!(queue = %url, error = %AwsError::sdk("sqs", "ChangeMessageVisibility", &url, e), "cannot extend a message's visibility");
                }
            }
        });
        self.lock_held().insert(receipt.to_owned(), task.abort_handle());
    }

    fn lock_held(&self) -> std::sync::MutexGuard<'_, HashMap<String, tokio::task::AbortHandle>> {
        self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn unhold(&self, receipt: &str) {
        if let Some(task) = self.lock_held().remove(receipt) {
            task.abort();
        }
    }

    /// Messages held now (received, not yet settled).
    #[must_use]
    pub fn held_count(&self) -> usize {
        self.lock_held().len()
    }

    fn delete_now(&self, receipt: &str) -> Result<(), AwsError> {
        let req = self.client.delete_message().queue_url(&self.url).receipt_handle(receipt);
        let url = self.url.clone();
        self.bridge.run(async move { req.send().await.map_err(|e| AwsError::sdk("sqs", "DeleteMessage", &url, e)) })??;
        Ok(())
    }

    /// Settles a message for good: its job finished (here or elsewhere) or does not exist.
    ///
    /// # Errors
    /// [`AwsError`]; the message then comes back after its timeout and is settled again.
    pub fn delete(&self, received: &Received) -> Result<(), AwsError> {
        self.unhold(&received.receipt);
        self.delete_now(&received.receipt)
    }

    /// Stops holding a message and lets it be delivered again after `after` (zero: at once).
    ///
    /// # Errors
    /// [`AwsError`]; the message then comes back after its current timeout.
    pub fn release(&self, received: &Received, after: Duration) -> Result<(), AwsError> {
        self.unhold(&received.receipt);
        let after = after.min(Duration::from_secs(43_200));
        let req =
            self.client.change_message_visibility().queue_url(&self.url).receipt_handle(&received.receipt).visibility_timeout(secs(after));
        let url = self.url.clone();
        self.bridge.run(async move { req.send().await.map_err(|e| AwsError::sdk("sqs", "ChangeMessageVisibility", &url, e)) })??;
        Ok(())
    }

    /// Messages waiting and in flight (`ApproximateNumberOfMessages` and
    /// `...NotVisible`), for status pages and tests.
    ///
    /// # Errors
    /// [`AwsError`] naming the queue.
    pub fn depth(&self) -> Result<(u64, u64), AwsError> {
        let req = self
            .client
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible);
        let url = self.url.clone();
        let out = self.bridge.run(async move { req.send().await.map_err(|e| AwsError::sdk("sqs", "GetQueueAttributes", &url, e)) })??;
        let get = |k: QueueAttributeName| out.attributes().and_then(|a| a.get(&k)).and_then(|v| v.parse().ok()).unwrap_or(0);
        Ok((get(QueueAttributeName::ApproximateNumberOfMessages), get(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)))
    }
}

/// Creates a queue (FIFO when `name` ends in `.fifo`, content-based deduplication off: the
/// sender sets the job id) and returns its URL; an existing queue of that name is reused.
/// For tests and emulators; on AWS the stack creates the queue.
///
/// # Errors
/// [`AwsError`] naming the queue.
pub async fn create_job_queue(config: &aws_config::SdkConfig, name: &str) -> Result<String, AwsError> {
    let client = Client::new(config);
    let mut req = client.create_queue().queue_name(name);
    if name.ends_with(".fifo") {
        req = req.attributes(QueueAttributeName::FifoQueue, "true");
    }
    let out = req.send().await.map_err(|e| AwsError::sdk("sqs", "CreateQueue", name, e))?;
    out.queue_url.ok_or_else(|| AwsError::Runtime(format!("CreateQueue of '{name}' returned no URL")))
}
