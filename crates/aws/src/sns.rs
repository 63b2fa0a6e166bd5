//! [`SnsNotifier`]: the handlers' notifications published to an SNS topic
//! (`SNS_ALERTS_TOPIC_ARN`), behind the same [`tradai_handlers::notify::Notifier`] as the
//! webhook and Slack sinks, so deduplication and the rate limit are the same for all three.

use async_trait::async_trait;
use aws_sdk_sns::types::MessageAttributeValue;
use tokio::sync::OnceCell;
use tradai_handlers::notify::{Notification, NotificationSink, SinkError};

use crate::{AwsError, AwsOverrides};

/// SNS allows subjects of at most 100 characters, without line breaks.
const SUBJECT_MAX: usize = 100;

/// Publishes notifications to one topic: the subject line as the email subject, the
/// notification's JSON (the webhook's body) as the message, and `severity`, `source` and
/// `environment` as message attributes for subscription filter policies.
#[derive(Debug)]
pub struct SnsNotifier {
    topic_arn: String,
    overrides: AwsOverrides,
    client: OnceCell<aws_sdk_sns::Client>,
}

impl SnsNotifier {
    /// A sink for `topic_arn`, connected on first use.
    #[must_use]
    pub fn new(topic_arn: impl Into<String>, overrides: AwsOverrides) -> Self {
        Self { topic_arn: topic_arn.into(), overrides, client: OnceCell::new() }
    }

    /// The subject SNS gets: `[SEVERITY] subject (environment)`, one line, at most 100 chars.
    #[must_use]
    pub fn subject(n: &Notification) -> String {
        let line = format!("[{}] {} ({})", n.severity.as_str(), n.subject, n.environment).replace(['\r', '\n'], " ");
        if line.chars().count() <= SUBJECT_MAX {
            return line;
        }
        let mut cut: String = line.chars().take(SUBJECT_MAX - 1).collect();
        cut.push('…');
        cut
    }

    async fn publish(&self, n: &Notification) -> Result<(), AwsError> {
        let client = self.client.get_or_init(|| async { aws_sdk_sns::Client::new(&crate::load_sdk_config(&self.overrides).await) }).await;
        let attr = |v: &str| MessageAttributeValue::builder().data_type("String").string_value(v).build();
        let message = serde_json::to_string(n).unwrap_or_default();
        let mut req = client.publish().topic_arn(&self.topic_arn).subject(Self::subject(n)).message(message);
        for (name, value) in [("severity", n.severity.as_str()), ("source", n.source.as_str()), ("environment", n.environment.as_str())] {
            let v = attr(value).map_err(|e| AwsError::Runtime(format!("message attribute {name}: {e}")))?;
            req = req.message_attributes(name, v);
        }
        if self.topic_arn.ends_with(".fifo") {
            // A FIFO topic needs a group and a deduplication id: one group per handler, and the
            // notifier's dedup key with the time (the notifier already dropped repeats).
            req = req.message_group_id(&n.source).message_deduplication_id(dedup_id(&n.dedup_key, &n.timestamp));
        }
        req.send().await.map_err(|e| AwsError::sdk("sns", "Publish", &self.topic_arn, e))?;
        Ok(())
    }
}

/// An SNS deduplication id (at most 128 characters of `[A-Za-z0-9_-]` and punctuation): the
/// key and time with anything else replaced.
fn dedup_id(key: &str, timestamp: &str) -> String {
    format!("{key}@{timestamp}").chars().map(|c| if c.is_ascii_alphanumeric() || "-_.:@".contains(c) { c } else { '_' }).take(128).collect()
}

#[async_trait]
impl NotificationSink for SnsNotifier {
    fn describe(&self) -> String {
        format!("sns {}", self.topic_arn)
    }

    async fn send(&self, n: &Notification) -> Result<(), SinkError> {
        self.publish(n).await.map_err(|e| SinkError { sink: self.describe(), source: Box::new(e) })
    }
}

#[cfg(test)]
mod tests {
    use tradai_handlers::notify::{Notification, Severity};

    #[test]
    fn the_subject_is_one_short_line() {
        let n = Notification {
            severity: Severity::Critical,
            source: "health-check".into(),
            subject: format!("Service down: backend-api\n{}", "x".repeat(200)),
            message: String::new(),
            dedup_key: "health-check:backend-api:down".into(),
            environment: "prod".into(),
            timestamp: "2026-01-01T00:00:00+00:00".into(),
            details: serde_json::Map::new(),
        };
        let s = super::SnsNotifier::subject(&n);
        assert!(s.starts_with("[CRITICAL] Service down: backend-api x"), "{s}");
        assert_eq!(s.chars().count(), 100);
        assert!(!s.contains('\n'));
        assert_eq!(super::dedup_id("a b/c", "t+1"), "a_b_c@t_1");
    }
}
