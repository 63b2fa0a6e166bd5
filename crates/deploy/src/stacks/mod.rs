//! The seeds' four stacks, each a function of the [`Deployment`] it belongs to, and
//! [`render`], which produces all four in deployment order.

pub mod compute;
pub mod edge;
pub mod foundation;
pub mod persistent;

use crate::template::Template;
use crate::{Deployment, Layer};

/// One stack, ready to write or deploy.
#[derive(Debug, Clone)]
pub struct RenderedStack {
    /// Which of the four.
    pub layer: Layer,
    /// Its CloudFormation stack name (`tradai-dev-persistent`).
    pub name: String,
    /// Its template.
    pub template: Template,
}

impl RenderedStack {
    /// The template body as deployed and written (pretty JSON, keys sorted).
    #[must_use]
    pub fn body(&self) -> String {
        self.template.to_json()
    }

    /// The file name it is written to (`tradai-dev-persistent.json`).
    #[must_use]
    pub fn file_name(&self) -> String {
        format!("{}.json", self.name)
    }
}

/// What the stacks take from outside this crate.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// The backtest workflow's state machine definition (Amazon States Language, built with
    /// [`compute::WORKFLOW_REFS`] for its references); the compute stack declares the state
    /// machine only when it is given.
    pub backtest_workflow: Option<serde_json::Value>,
}

/// The template of one layer of `d`.
#[must_use]
pub fn template(d: &Deployment, layer: Layer, inputs: &Inputs) -> Template {
    match layer {
        Layer::Persistent => persistent::template(d),
        Layer::Foundation => foundation::template(d),
        Layer::Compute => compute::template(d, inputs.backtest_workflow.as_ref()),
        Layer::Edge => edge::template(d),
    }
}

/// All four stacks of `d`, in the order they must be deployed.
#[must_use]
pub fn render(d: &Deployment, inputs: &Inputs) -> Vec<RenderedStack> {
    Layer::ALL.into_iter().map(|layer| RenderedStack { layer, name: d.stack_name(layer), template: template(d, layer, inputs) }).collect()
}
