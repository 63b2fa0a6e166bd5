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

/// The template of one layer of `d`.
#[must_use]
pub fn template(d: &Deployment, layer: Layer) -> Template {
    match layer {
        Layer::Persistent => persistent::template(d),
        Layer::Foundation => foundation::template(d),
        Layer::Compute => compute::template(d),
        Layer::Edge => edge::template(d),
    }
}

/// All four stacks of `d`, in the order they must be deployed.
#[must_use]
pub fn render(d: &Deployment) -> Vec<RenderedStack> {
    Layer::ALL.into_iter().map(|layer| RenderedStack { layer, name: d.stack_name(layer), template: template(d, layer) }).collect()
}
