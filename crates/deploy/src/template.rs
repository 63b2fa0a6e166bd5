//! A CloudFormation template as typed Rust: [`Template`] with its parameters, resources and
//! outputs, and the intrinsic functions ([`r#ref`], [`get_att`], [`sub`], [`import`]) as small
//! constructors, so stacks are code that the compiler checks rather than strings.
//!
//! Maps are `BTreeMap`s: a rendered template is byte-for-byte the same on every run, so the
//! deployed copy can be compared with a fresh render (`tradai deploy diff`).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{json, Value};

/// One CloudFormation template.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Template {
    /// Always `2010-09-09`, the only version there is.
    #[serde(rename = "AWSTemplateFormatVersion")]
    pub format_version: &'static str,
    /// What the stack is for.
    pub description: String,
    /// Inputs with defaults (image tags), so an apply needs none.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, Value>,
    /// The resources, by logical id.
    pub resources: BTreeMap<String, Resource>,
    /// The stack's outputs, by logical id.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub outputs: BTreeMap<String, Output>,
}

/// One resource.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Resource {
    /// `AWS::SQS::Queue`, ...
    #[serde(rename = "Type")]
    pub kind: &'static str,
    /// Its properties.
    pub properties: Value,
    /// Logical ids this one must wait for beyond its references.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    /// `Retain` for data that must outlive the stack.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<&'static str>,
    /// Same as the deletion policy (cfn-lint asks for both together).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update_replace_policy: Option<&'static str>,
}

impl Resource {
    /// A resource of `kind` with `properties`.
    #[must_use]
    pub fn new(kind: &'static str, properties: Value) -> Self {
        Self { kind, properties, depends_on: Vec::new(), deletion_policy: None, update_replace_policy: None }
    }

    /// Keeps the resource when the stack is deleted or the resource replaced (`retain`), or
    /// deletes it (`!retain`, the default).
    #[must_use]
    pub fn retained(mut self, retain: bool) -> Self {
        let policy = if retain { "Retain" } else { "Delete" };
        self.deletion_policy = Some(policy);
        self.update_replace_policy = Some(policy);
        self
    }

    /// Waits for `id` too.
    #[must_use]
    pub fn depends_on(mut self, id: &str) -> Self {
        self.depends_on.push(id.to_owned());
        self
    }
}

/// One output.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Output {
    /// What it is.
    pub description: String,
    /// Its value (often an intrinsic function).
    pub value: Value,
    /// The export other stacks import it by.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub export: Option<Value>,
}

impl Template {
    /// An empty template.
    #[must_use]
    pub fn new(description: impl Into<String>) -> Self {
        Self { format_version: "2010-09-09", description: description.into(), ..Self::default() }
    }

    /// Adds a resource.
    ///
    /// # Panics
    /// When `id` is already taken: two resources of one id is a bug in the generator.
    pub fn add(&mut self, id: &str, resource: Resource) {
        let old = self.resources.insert(id.to_owned(), resource);
        assert!(old.is_none(), "resource {id} declared twice");
    }

    /// Adds an output; with `export`, other stacks can import it by that name.
    pub fn output(&mut self, id: &str, description: &str, value: Value, export: Option<String>) {
        let export = export.map(|name| json!({ "Name": name }));
        self.outputs.insert(id.to_owned(), Output { description: description.to_owned(), value, export });
    }

    /// The template as a JSON value.
    ///
    /// # Panics
    /// Never: every field serialises.
    #[must_use]
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).expect("a template always serialises")
    }

    /// The template as the pretty-printed JSON that is written and deployed.
    #[must_use]
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(&self.to_value()).expect("a JSON value always prints");
        s.push('\n');
        s
    }
}

/// `{"Ref": id}`.
#[must_use]
pub fn r#ref(id: &str) -> Value {
    json!({ "Ref": id })
}

/// `{"Fn::GetAtt": [id, attribute]}`.
#[must_use]
pub fn get_att(id: &str, attribute: &str) -> Value {
    json!({ "Fn::GetAtt": [id, attribute] })
}

/// `{"Fn::Sub": text}` (`${AWS::AccountId}`, `${Logical.Attr}` inside `text`).
#[must_use]
pub fn sub(text: &str) -> Value {
    json!({ "Fn::Sub": text })
}

/// `{"Fn::ImportValue": export}`: a value another stack of the same deployment exported.
#[must_use]
pub fn import(export: &str) -> Value {
    json!({ "Fn::ImportValue": export })
}

/// CloudFormation tags (`[{"Key": .., "Value": ..}]`) from pairs.
#[must_use]
pub fn tags(pairs: &[(&str, &str)]) -> Value {
    Value::Array(pairs.iter().map(|(k, v)| json!({ "Key": k, "Value": v })).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_cloudformation_shape() {
        let mut t = Template::new("test");
        t.add("Q", Resource::new("AWS::SQS::Queue", json!({ "QueueName": "q" })).retained(true));
        t.output("QueueUrl", "the queue", r#ref("Q"), Some("x-QueueUrl".into()));
        let v = t.to_value();
        assert_eq!(v["AWSTemplateFormatVersion"], "2010-09-09");
        assert_eq!(v["Resources"]["Q"]["Type"], "AWS::SQS::Queue");
        assert_eq!(v["Resources"]["Q"]["DeletionPolicy"], "Retain");
        assert!(v["Resources"]["Q"].get("DependsOn").is_none());
        assert_eq!(v["Outputs"]["QueueUrl"]["Export"]["Name"], "x-QueueUrl");
        assert!(v.get("Parameters").is_none());
    }

    #[test]
    #[should_panic(expected = "declared twice")]
    fn a_logical_id_is_used_once() {
        let mut t = Template::new("test");
        t.add("Q", Resource::new("AWS::SQS::Queue", json!({})));
        t.add("Q", Resource::new("AWS::SQS::Queue", json!({})));
    }
}
