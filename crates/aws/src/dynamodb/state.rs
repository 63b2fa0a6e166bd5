//! The handlers' state entities (`tradai_jobs::StateRepository`) in the job table itself, as
//! the SQLite back end keeps them beside the jobs: one item per kind and key
//! (`state#<KIND>#<key>`), the document as a JSON string.
//!
//! An item's `status` is `state#<KIND>` and its `created_at` 0, so listing a kind is one query
//! of the status index ([`super::STATUS_INDEX`]) — never a scan — while job listings, which
//! query the job statuses only, never meet a state item.

use aws_sdk_dynamodb::types::AttributeValue;
use tradai_jobs::{RepoError, StateKind, StateRepository};

use super::item::{key_of, n, s};
use super::{now_ms, storage, DynamoJobRepository, Inner, STATUS_INDEX};
use crate::AwsError;

/// Key prefix of a state item (also refused as a job id).
pub(super) const STATE_PREFIX: &str = "state#";

fn item_key(kind: StateKind, key: &str) -> String {
    format!("{STATE_PREFIX}{}#{key}", kind.as_str())
}

fn index_status(kind: StateKind) -> String {
    format!("{STATE_PREFIX}{}", kind.as_str())
}

fn document(kind: StateKind, key: &str, item: &super::Item) -> Result<serde_json::Value, RepoError> {
    let Some(AttributeValue::S(text)) = item.get("doc") else {
        return Err(storage(AwsError::Runtime(format!("{} state '{key}' has no document", kind.as_str()))));
    };
    serde_json::from_str(text).map_err(|e| storage(AwsError::Runtime(format!("{} state '{key}': {e}", kind.as_str()))))
}

impl Inner {
    async fn put_state(&self, kind: StateKind, key: String, doc: String) -> Result<(), RepoError> {
        let mut item = key_of(&item_key(kind, &key));
        item.insert("status".to_owned(), s(index_status(kind)));
        item.insert("created_at".to_owned(), n(0));
        item.insert("state_key".to_owned(), s(key));
        item.insert("doc".to_owned(), s(doc));
        item.insert("updated_at".to_owned(), n(now_ms()));
        self.client.put_item().table_name(&self.table).set_item(Some(item)).send().await.map_err(|e| self.err("PutItem", e))?;
        Ok(())
    }

    async fn list_states(&self, kind: StateKind) -> Result<Vec<serde_json::Value>, RepoError> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(STATUS_INDEX)
                .key_condition_expression("#status = :status")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":status", s(index_status(kind)))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| self.err("Query", e))?;
            for item in page.items() {
                let key = match item.get("state_key") {
                    Some(AttributeValue::S(k)) => k.as_str(),
                    _ => "?",
                };
                out.push(document(kind, key, item)?);
            }
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(out);
            }
        }
    }
}

impl StateRepository for DynamoJobRepository {
    fn get_state(&self, kind: StateKind, key: &str) -> Result<Option<serde_json::Value>, RepoError> {
        let key = key.to_owned();
        self.run(move |i| async move {
            let Some(item) = i.get_item(&item_key(kind, &key)).await? else { return Ok(None) };
            document(kind, &key, &item).map(Some)
        })
    }

    fn put_state(&self, kind: StateKind, key: &str, doc: &serde_json::Value) -> Result<(), RepoError> {
        let (key, doc) = (key.to_owned(), doc.to_string());
        self.run(move |i| async move { i.put_state(kind, key, doc).await })
    }

    fn list_states(&self, kind: StateKind) -> Result<Vec<serde_json::Value>, RepoError> {
        self.run(move |i| async move { i.list_states(kind).await })
    }
}

#[cfg(test)]
mod tests {
    use tradai_jobs::StateKind;

    #[test]
    fn keys_and_index_values_name_the_kind() {
        assert_eq!(super::item_key(StateKind::Health, "backend-api"), "state#HEALTH#backend-api");
        assert_eq!(super::index_status(StateKind::Drift), "state#DRIFT");
    }
}
