//! Implementations of the runtime's traits: the embedded sources and sinks
//! (`file`, `stdin`, `stdout`, `null`), Kafka (`kafka`), AWS (`aws`: the SQS
//! source and sink, the Lambda / SQS / SNS / DynamoDB / HTTP task
//! integrations and the DynamoDB dedup store), the `memory` and `redis` dedup
//! stores, the metrics server (`http`, on the bounded HTTP/1.1 serving of
//! `http_server`), and the driver's effects that answer
//! from recorded mocks (a conformance case's `mocks`, AWS Step Functions
//! Local's `MockConfigFile.json`).
//!
//! The `expressway` binary (`connectors/expressway/`) is the only place that
//! wires the engine, the runtime and these together.

#![forbid(unsafe_code)]

pub mod aws;
pub mod dedup;
pub mod file;
mod fnv;
pub mod http;
pub mod http_server;
pub mod in_flight;
pub mod kafka;
pub mod lines;
pub mod memory_s3;
pub mod mock;
pub mod redis_dedup;
pub mod result_key;
pub mod stdio;
