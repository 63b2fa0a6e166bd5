//! Notifications: alerts and notices with a severity, sent to every configured sink (a JSON
//! webhook, a Slack incoming webhook, SNS on AWS). The [`Notifier`] drops a notification whose
//! deduplication key was sent within the window, and holds the total to a rate limit, so a
//! flapping service cannot flood a channel.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// How urgent a notification is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Severity {
    /// For the record (a job finished, a service recovered).
    Info,
    /// Needs a look.
    Warning,
    /// Needs action now.
    Critical,
}

impl Severity {
    /// Upper-case name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "INFO",
            Self::Warning => "WARNING",
            Self::Critical => "CRITICAL",
        }
    }
}

/// One notification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// Severity.
    pub severity: Severity,
    /// The handler that sent it.
    pub source: String,
    /// One line.
    pub subject: String,
    /// Details.
    pub message: String,
    /// Same key within the dedup window: sent once (`health-check:backend-api:down`).
    pub dedup_key: String,
    /// Deployment environment.
    pub environment: String,
    /// When (RFC 3339).
    pub timestamp: String,
    /// Structured facts (service, model, job id).
    pub details: serde_json::Map<String, serde_json::Value>,
}

/// Why a sink could not deliver.
#[derive(Debug, thiserror::Error)]
#[error("notification sink {sink} failed")]
pub struct SinkError {
    /// The sink (`webhook http://...`), without secrets.
    pub sink: String,
    /// The cause.
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

/// Somewhere notifications go.
#[async_trait]
pub trait NotificationSink: Send + Sync {
    /// A name for logs, without secrets (a Slack webhook's path is one).
    fn describe(&self) -> String;
    /// Delivers one notification.
    ///
    /// # Errors
    /// [`SinkError`].
    async fn send(&self, n: &Notification) -> Result<(), SinkError>;
}

/// What [`Notifier::send`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Delivered to this many sinks (some may have failed; see the logs).
    Sent(usize),
    /// The same key went out within the dedup window.
    Deduplicated,
    /// Over the hourly limit.
    RateLimited,
    /// No sink configured.
    NoSink,
}

#[derive(Debug, Default)]
struct Ledger {
    last_by_key: HashMap<String, i64>,
    recent: VecDeque<i64>,
}

/// Deduplicates, rate-limits and fans notifications out to sinks.
pub struct Notifier {
    sinks: Vec<Arc<dyn NotificationSink>>,
    dedup_ms: i64,
    per_hour: usize,
    ledger: Mutex<Ledger>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier").field("sinks", &self.sinks.iter().map(|s| s.describe()).collect::<Vec<_>>()).finish_non_exhaustive()
    }
}

const HOUR_MS: i64 = 3_600_000;

impl Notifier {
    /// A notifier over `sinks` with a dedup window (seconds) and an hourly limit.
    #[must_use]
    pub fn new(sinks: Vec<Arc<dyn NotificationSink>>, dedup_seconds: u64, per_hour: u32) -> Self {
        Self {
            sinks,
            dedup_ms: i64::try_from(dedup_seconds.saturating_mul(1000)).unwrap_or(i64::MAX),
            per_hour: per_hour as usize,
            ledger: Mutex::default(),
        }
    }

    /// Adds a sink.
    pub fn add_sink(&mut self, sink: Arc<dyn NotificationSink>) {
        self.sinks.push(sink);
    }

    /// The sinks' names.
    #[must_use]
    pub fn describe(&self) -> Vec<String> {
        self.sinks.iter().map(|s| s.describe()).collect()
    }

    /// Sends `n` to every sink unless deduplicated or over the limit. A failing sink is
    /// logged, not returned: one broken channel must not fail the handler that alerts.
    pub async fn send(&self, n: &Notification, now_ms: i64) -> Outcome {
        if self.sinks.is_empty() {
            tracing::info!(target: "tradai_handlers::notify", severity = n.severity.as_str(), subject = %n.subject, "notification (no sink configured)");
            return Outcome::NoSink;
        }
        {
            let mut l = self.ledger.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(&at) = l.last_by_key.get(&n.dedup_key) {
                if now_ms - at < self.dedup_ms {
                    return Outcome::Deduplicated;
                }
            }
            while l.recent.front().is_some_and(|&t| now_ms - t >= HOUR_MS) {
                l.recent.pop_front();
            }
            if l.recent.len() >= self.per_hour {
                tracing::warn!(target: "tradai_handlers::notify", subject = %n.subject, "notification dropped: rate limit reached");
                return Outcome::RateLimited;
            }
            l.recent.push_back(now_ms);
            l.last_by_key.insert(n.dedup_key.clone(), now_ms);
        }
        let mut delivered = 0;
        for s in &self.sinks {
            match s.send(n).await {
                Ok(()) => delivered += 1,
                Err(e) => {
                    tracing::warn!(target: "tradai_handlers::notify", sink = %s.describe(), error = %tradai_resilience::error_chain(&e), "notification not delivered")
                }
            }
        }
        Outcome::Sent(delivered)
    }
}

fn http_client() -> reqwest::Client {
    reqwest::Client::builder().timeout(std::time::Duration::from_secs(10)).build().unwrap_or_default()
}

async fn post(client: &reqwest::Client, url: &str, describe: String, body: &serde_json::Value) -> Result<(), SinkError> {
    let r =
        client.post(url).json(body).send().await.map_err(|e| SinkError { sink: describe.clone(), source: Box::new(e.without_url()) })?;
    if !r.status().is_success() {
        let status = r.status();
        return Err(SinkError { sink: describe, source: format!("answered HTTP {status}").into() });
    }
    Ok(())
}

/// Posts the notification as JSON (the [`Notification`] fields) to a URL.
#[derive(Debug, Clone)]
pub struct WebhookSink {
    url: String,
    client: reqwest::Client,
}

impl WebhookSink {
    /// A sink posting to `url`.
    #[must_use]
    pub fn new(url: impl Into<String>) -> Self {
        Self { url: url.into(), client: http_client() }
    }
}

/// The scheme and host of a URL: what logs may show of a webhook (paths and queries can hold
/// tokens).
fn host_of(url: &str) -> String {
    reqwest::Url::parse(url).map(|u| format!("{}://{}", u.scheme(), u.host_str().unwrap_or("?"))).unwrap_or_else(|_| "invalid url".into())
}

#[async_trait]
impl NotificationSink for WebhookSink {
    fn describe(&self) -> String {
        format!("webhook {}", host_of(&self.url))
    }

    async fn send(&self, n: &Notification) -> Result<(), SinkError> {
        let body = serde_json::to_value(n).map_err(|e| SinkError { sink: self.describe(), source: Box::new(e) })?;
        post(&self.client, &self.url, self.describe(), &body).await
    }
}

/// Posts to a Slack incoming webhook: a `text` fallback and one coloured attachment.
#[derive(Debug, Clone)]
pub struct SlackSink {
    url: String,
    client: reqwest::Client,
}

impl SlackSink {
    /// A sink posting to a Slack incoming-webhook URL.
    #[must_use]
    pub fn new(url: impl Into<String>) -> Self {
        Self { url: url.into(), client: http_client() }
    }

    /// The Slack message of a notification.
    #[must_use]
    pub fn message(n: &Notification) -> serde_json::Value {
        let color = match n.severity {
            Severity::Info => "good",
            Severity::Warning => "warning",
            Severity::Critical => "danger",
        };
        let fields: Vec<_> = n
            .details
            .iter()
            .map(|(k, v)| serde_json::json!({"title": k, "value": v.as_str().map_or_else(|| v.to_string(), str::to_owned), "short": true}))
            .collect();
        serde_json::json!({
            "text": format!("[{}] {} ({})", n.severity.as_str(), n.subject, n.environment),
            "attachments": [{
                "color": color,
                "title": n.subject,
                "text": n.message,
                "fields": fields,
                "footer": format!("tradai {}", n.source),
            }]
        })
    }
}

#[async_trait]
impl NotificationSink for SlackSink {
    fn describe(&self) -> String {
        format!("slack {}", host_of(&self.url))
    }

    async fn send(&self, n: &Notification) -> Result<(), SinkError> {
        post(&self.client, &self.url, self.describe(), &Self::message(n)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Count(Mutex<Vec<String>>);

    #[async_trait]
    impl NotificationSink for Count {
        fn describe(&self) -> String {
            "count".into()
        }
        async fn send(&self, n: &Notification) -> Result<(), SinkError> {
            self.0.lock().unwrap().push(n.dedup_key.clone());
            Ok(())
        }
    }

    fn note(key: &str) -> Notification {
        Notification {
            severity: Severity::Warning,
            source: "health-check".into(),
            subject: "s".into(),
            message: "m".into(),
            dedup_key: key.into(),
            environment: "dev".into(),
            timestamp: String::new(),
            details: serde_json::Map::new(),
        }
    }

    #[tokio::test]
    async fn deduplicates_within_the_window_and_limits_per_hour() {
        let sink = Arc::new(Count(Mutex::default()));
        let n = Notifier::new(vec![sink.clone()], 60, 3);
        assert_eq!(n.send(&note("a"), 0).await, Outcome::Sent(1));
        assert_eq!(n.send(&note("a"), 59_000).await, Outcome::Deduplicated);
        assert_eq!(n.send(&note("a"), 61_000).await, Outcome::Sent(1), "after the window the same key goes out again");
        assert_eq!(n.send(&note("b"), 62_000).await, Outcome::Sent(1));
        assert_eq!(n.send(&note("c"), 63_000).await, Outcome::RateLimited);
        assert_eq!(n.send(&note("c"), HOUR_MS + 1).await, Outcome::Sent(1), "the oldest send left the hour");
        assert_eq!(*sink.0.lock().unwrap(), ["a", "a", "b", "c"]);
    }

    #[test]
    fn slack_message_has_colour_and_fields_and_logs_hide_paths() {
        let mut n = note("k");
        n.severity = Severity::Critical;
        n.details.insert("service".into(), "backend-api".into());
        let m = SlackSink::message(&n);
        assert_eq!(m["attachments"][0]["color"], "danger");
        assert_eq!(m["attachments"][0]["fields"][0]["value"], "backend-api");
        assert_eq!(SlackSink::new("https://hooks.slack.com/services/T0/B0/secret").describe(), "slack https://hooks.slack.com");
    }
}
