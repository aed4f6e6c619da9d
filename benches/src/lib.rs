//! Benchmarks live in `benches/` (`engine.rs`, `runtime.rs`), load examples
//! in `examples/` (Kafka, AWS), reference machines in `machines/`.

#![forbid(unsafe_code)]
