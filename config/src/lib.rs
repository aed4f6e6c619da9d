//! Configuration of Expressway: the pipeline YAML of `expressway run`
//! ([`pipeline`]) and the execution context of `expressway exec`
//! ([`context`]) and the Step Functions API server ([`api`]). Plain data and its validation; nothing here runs.

#![forbid(unsafe_code)]

pub mod api;
pub mod context;
pub mod endpoint;
pub mod files;
pub mod pipeline;

pub use context::{ContextError, ExecutionContext};
pub use endpoint::AllowedEndpoint;
pub use pipeline::{Config, ConfigProblem};
