//! TradAI's infrastructure as code: the seeds' four CloudFormation stacks — persistent,
//! foundation, compute, edge — for one [`Environment`] of one installation ([`Deployment`]),
//! generated from typed Rust ([`template::Template`]) and rendered deterministically, plus the
//! template comparison behind `tradai deploy diff` ([`drift`]).
//!
//! The sizes, rates and names come from the seeds' tables, kept in [`catalog`]. This crate
//! does no I/O and knows no AWS SDK: the CLI writes the files, and tradai-aws's CloudFormation
//! client deploys the bodies and reads them back.

pub mod catalog;
pub mod drift;
mod env;
mod error;
mod naming;
pub mod stacks;
pub mod template;

pub use env::{EnvProfile, Environment};
pub use error::DeployError;
pub use naming::{Deployment, Layer, DEFAULT_PREFIX};
pub use stacks::{render, Inputs, RenderedStack};
