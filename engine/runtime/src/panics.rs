//! Panic isolation for the shards: a panic while one execution runs (in the
//! engine, in a task service's `start`, in rendering its result) ends that
//! execution — dead-lettered as `Expressway.InternalError` — and the shard
//! goes on with the next record.

use std::panic::{AssertUnwindSafe, catch_unwind};

/// The error name of an execution ended by a panic.
pub(crate) const INTERNAL_ERROR: &str = "Expressway.InternalError";

/// A caught panic's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Panicked(pub String);

impl Panicked {
    /// The dead letter's cause.
    pub fn cause(&self) -> String {
        format!("the execution was stopped by an internal error (a panic: {}); this is a bug in Expressway", self.0)
    }
}

/// Run `f`, turning a panic into [`Panicked`]. Unwind safety is asserted:
/// whatever a panic leaves half updated belongs to the one execution it
/// interrupted, which is discarded, never resumed.
pub(crate) fn isolate<R>(f: impl FnOnce() -> R) -> Result<R, Panicked> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".to_string());
        Panicked(message)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_its_message() {
        assert_eq!(isolate(|| 7), Ok(7));
        let literal = isolate(|| panic!("boom"));
        let formatted = isolate(|| panic!("record {}", 42));
        let other = isolate(|| std::panic::panic_any(3_u8));
        assert_eq!(literal, Err(Panicked("boom".into())));
        assert_eq!(formatted, Err(Panicked("record 42".into())));
        assert_eq!(other, Err(Panicked("a panic without a message".into())));
    }
}
