//! Template drift: what a fresh render declares against the template a stack was last deployed
//! with (`GetTemplate`), resource by resource. This is the half of `tradai deploy diff` that
//! needs no AWS call; the other half (CloudFormation's own resource drift detection) lives with
//! the SDK client in tradai-aws.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::{Map, Value};

use crate::DeployError;

/// How one resource differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum ResourceChange {
    /// Declared now, not deployed.
    Added,
    /// Deployed, no longer declared (the next apply deletes it).
    Removed,
    /// Both, but different: the type or these top-level properties (plus `DependsOn`,
    /// `DeletionPolicy`, ... when those differ).
    Modified {
        /// The differing top-level fields and properties, sorted.
        fields: Vec<String>,
    },
}

/// Everything that differs between a render and a deployed template.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TemplateDiff {
    /// Resources by logical id.
    pub resources: BTreeMap<String, ResourceChange>,
    /// Outputs added, removed or changed.
    pub outputs: Vec<String>,
    /// Parameters added, removed or changed.
    pub parameters: Vec<String>,
    /// The description differs.
    pub description: bool,
}

impl TemplateDiff {
    /// Whether the deployed template is the rendered one.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.resources.is_empty() && self.outputs.is_empty() && self.parameters.is_empty() && !self.description
    }
}

fn section<'a>(v: &'a Value, key: &str) -> Option<&'a Map<String, Value>> {
    v.get(key).and_then(Value::as_object)
}

/// Keys present in only one of the maps or with different values, sorted.
fn differing_keys(a: Option<&Map<String, Value>>, b: Option<&Map<String, Value>>) -> Vec<String> {
    let empty = Map::new();
    let (a, b) = (a.unwrap_or(&empty), b.unwrap_or(&empty));
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter().filter(|k| a.get(*k) != b.get(*k)).cloned().collect()
}

/// Compares the `rendered` template with the `deployed` body of `stack`.
///
/// # Errors
/// [`DeployError::DeployedTemplateNotJson`] when the deployed body is not JSON (these
/// templates are always deployed as JSON; a YAML body was put there by someone else).
pub fn compare(stack: &str, rendered: &Value, deployed: &str) -> Result<TemplateDiff, DeployError> {
    let deployed: Value =
        serde_json::from_str(deployed).map_err(|source| DeployError::DeployedTemplateNotJson { stack: stack.to_owned(), source })?;
    let mut diff = TemplateDiff {
        outputs: differing_keys(section(rendered, "Outputs"), section(&deployed, "Outputs")),
        parameters: differing_keys(section(rendered, "Parameters"), section(&deployed, "Parameters")),
        description: rendered.get("Description") != deployed.get("Description"),
        ..TemplateDiff::default()
    };
    let empty = Map::new();
    let (now, then) = (section(rendered, "Resources").unwrap_or(&empty), section(&deployed, "Resources").unwrap_or(&empty));
    for id in differing_keys(Some(now), Some(then)) {
        let change = match (now.get(&id), then.get(&id)) {
            (Some(_), None) => ResourceChange::Added,
            (None, Some(_)) => ResourceChange::Removed,
            (Some(a), Some(b)) => {
                let mut fields: Vec<String> =
                    differing_keys(a.as_object(), b.as_object()).into_iter().filter(|k| k != "Properties").collect();
                fields.extend(differing_keys(section(a, "Properties"), section(b, "Properties")));
                fields.sort();
                ResourceChange::Modified { fields }
            }
            (None, None) => continue,
        };
        diff.resources.insert(id, change);
    }
    Ok(diff)
}

/// The snake_case name of a stack output (`AlertsTopicArn` → `alerts_topic_arn`), as
/// `tradai deploy apply` prints them.
#[must_use]
pub fn output_key(logical_id: &str) -> String {
    let mut out = String::with_capacity(logical_id.len() + 4);
    for (i, c) in logical_id.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn equal_templates_have_no_diff_whatever_the_key_order() {
        let a = json!({ "Description": "d", "Resources": { "Q": { "Type": "AWS::SQS::Queue", "Properties": { "A": 1, "B": 2 } } } });
        let b = r#"{ "Resources": { "Q": { "Properties": { "B": 2, "A": 1 }, "Type": "AWS::SQS::Queue" } }, "Description": "d" }"#;
        assert!(compare("s", &a, b).unwrap().is_empty());
    }

    #[test]
    fn added_removed_and_modified_resources_are_named() {
        let now = json!({ "Resources": {
            "Q": { "Type": "AWS::SQS::Queue", "Properties": { "VisibilityTimeout": 300, "FifoQueue": true } },
            "T": { "Type": "AWS::SNS::Topic", "Properties": {} } },
            "Outputs": { "QueueUrl": { "Value": 1 } } });
        let then = r#"{ "Resources": {
            "Q": { "Type": "AWS::SQS::Queue", "Properties": { "VisibilityTimeout": 30, "FifoQueue": true }, "DeletionPolicy": "Retain" },
            "B": { "Type": "AWS::S3::Bucket" } } }"#;
        let d = compare("s", &now, then).unwrap();
        assert_eq!(d.resources["T"], ResourceChange::Added);
        assert_eq!(d.resources["B"], ResourceChange::Removed);
        assert_eq!(d.resources["Q"], ResourceChange::Modified { fields: vec!["DeletionPolicy".into(), "VisibilityTimeout".into()] });
        assert_eq!(d.outputs, vec!["QueueUrl".to_owned()]);
        assert!(!d.is_empty());
    }

    #[test]
    fn a_yaml_body_is_an_error_naming_the_stack() {
        let e = compare("tradai-dev-edge", &json!({}), "Resources: {}").unwrap_err().to_string();
        assert!(e.contains("'tradai-dev-edge'"), "{e}");
    }

    #[test]
    fn output_keys_are_snake_case() {
        assert_eq!(output_key("AlertsTopicArn"), "alerts_topic_arn");
        assert_eq!(output_key("QueueUrl"), "queue_url");
        assert_eq!(output_key("TableName"), "table_name");
    }
}
