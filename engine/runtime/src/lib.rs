//! The runtime that drives Expressway's pure engine on threads, in time read
//! from its [`clock::Clock`].
//!
//! - [`api`]: what sources, sinks and dedup stores implement; [`tasks`]: the
//!   door Task states go through ([`tasks::TaskService`]).
//! - [`executor::run_parallel`]: one pipeline — source loops (one per
//!   source reader), shard threads, sink writers ([`source_loop`], [`shard`],
//!   [`sink_loop`]), records admitted in
//!   [`admission`] (through [`input`], which `exec` shares) and finished in
//!   [`outcome`], counted in [`metrics`]; a panic in one execution is caught
//!   (`panics`) and dead-letters that record only.
//! - [`pool`]: executions submitted one at a time (the Step Functions API),
//!   each with its own program, on threads of their own.
//! - [`spec`]: what a pipeline is made of and what it reports.
//! - `live`, `reactor`, `timers`: executions parked on a shard while they
//!   wait for a task or a timer, on the shard's [`clock::Clock`].
//! - [`watch`]: per-state counts and recent failures for the web console.
//! - [`testing`]: a source and a sink in memory for tests and benchmarks.
//!
//! It knows no Kafka, SQS, AWS or HTTP: connectors implement its traits, and
//! the `expressway` binary wires them.

#![forbid(unsafe_code)]

mod admission;
pub mod api;
pub mod clock;
pub mod executor;
pub mod input;
mod live;
pub mod metrics;
mod outcome;
mod panics;
pub mod pool;
mod reactor;
mod shard;
mod sink_loop;
mod source_loop;
pub mod spec;
pub mod tasks;
pub mod testing;
mod timers;
mod twins;
pub mod watch;

pub use api::{
    Claim, CompletionHook, Coordinates, DedupStore, Lag, NoDedup, Origin, PendingClaims, Place, Polled, Record,
    RecordId, Refused, Sink, Source, SourceError,
};
pub use clock::{Clock, ManualClock, SystemClock};
pub use executor::{MAX_SOURCE_READERS, SinkWriter, run, run_parallel};
pub use outcome::MAX_DEAD_LETTER_BYTES;
pub use spec::{ExecutionLogLevel, KeySpec, PipelineSpec, RecordOrdering, RunError, Stats};
pub use tasks::{LocalExecutions, NoTaskService, TaskReply, TaskService};
