//! Implementations of the engine's traits: the embedded sources and sinks
//! (`file`, `stdin`, `stdout`, `null`), Kafka (`kafka`), AWS (`aws`: the SQS
//! source and sink, the Lambda / SQS / DynamoDB task integrations and the
//! DynamoDB dedup store), the `memory` and `redis` dedup stores, and task
//! invokers that answer from recorded mocks (a conformance case's `mocks`,
//! AWS Step Functions Local's `MockConfigFile.json`).
//!
//! The `expressway` binary (`src/main.rs`) is the only place that names
//! both the engine and a connector.

pub mod aws;
pub mod dedup;
pub mod file;
pub mod http;
pub mod kafka;
pub mod mock;
pub mod redis_dedup;
pub mod result_key;
pub mod stdio;
