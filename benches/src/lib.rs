//! Benchmarks live in `benches/engine.rs`; machines in `machines/`.
