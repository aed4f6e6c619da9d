//! Implementations of the engine's traits: the embedded sources and sinks
//! (`file`, `stdin`, `stdout`, `null`), the `memory` and `redis` dedup stores, and task
//! invokers that answer from recorded mocks (a conformance case's `mocks`,
//! AWS Step Functions Local's `MockConfigFile.json`). Kafka, SQS, Lambda and
//! HTTP connectors arrive in their own modules.
//!
//! The `expressway` binary (`src/main.rs`) is the only place that names
//! both the engine and a connector.

pub mod dedup;
pub mod file;
pub mod http;
pub mod kafka;
pub mod mock;
pub mod redis_dedup;
pub mod stdio;
