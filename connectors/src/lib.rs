//! Implementations of the engine's traits. Today: task invokers that answer
//! from recorded mocks — the `mocks` list of a shared conformance case and
//! AWS Step Functions Local's `MockConfigFile.json`. Kafka, SQS, Lambda and
//! HTTP connectors arrive in their own modules.
//!
//! The `expressway` binary (`src/main.rs`) is the only place that names
//! both the engine and a connector.

pub mod mock;
