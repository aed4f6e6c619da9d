//! What the API lets run at once: executions started and not yet ended, by
//! count (`api.executions_running`) and by what their inputs take parsed
//! (`api.executions_running_bytes`). Without it one StartExecution of a
//! machine that starts itself twice (`states:startExecution`) grew the
//! process by 500 MB a second, and parked executions of 250 KB inputs held
//! 6 MB each with only their number capped.
//!
//! AWS refuses a start past its quota of open executions with
//! `ExecutionLimitExceeded`; StartSyncExecution has no such error, and is
//! answered `ThrottlingException`, which the SDKs retry with backoff.

use crate::wire::{ApiError, ErrorKind};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A parsed JSON value takes up to ~25 times its text (83,000 `{}` in a
/// 249 KB array held 6.1 MB): an input is weighed at this many times its
/// length …
pub const BYTES_PER_INPUT_BYTE: usize = 32;
/// … plus what every execution takes whatever its input (its record, its
/// frames, a parked future: 101,125 running executions of `{}` held 1.9 GB).
pub const BYTES_PER_EXECUTION: usize = 16 << 10;

/// What an execution of an input of `input_len` bytes is taken to hold.
pub fn weight(input_len: usize) -> usize {
    input_len.saturating_mul(BYTES_PER_INPUT_BYTE).saturating_add(BYTES_PER_EXECUTION)
}

pub struct Running {
    count: AtomicUsize,
    bytes: AtomicUsize,
    max_count: usize,
    max_bytes: usize,
}

/// One admitted execution; dropping it (when the execution has ended, or
/// was never started) gives its room back.
pub struct Admitted {
    running: Arc<Running>,
    weight: usize,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.running.count.fetch_sub(1, Ordering::AcqRel);
        self.running.bytes.fetch_sub(self.weight, Ordering::AcqRel);
    }
}

/// How a refused start is answered.
#[derive(Debug, Clone, Copy)]
pub enum Refusal {
    /// StartExecution (and `states:startExecution` in process).
    ExecutionLimitExceeded,
    /// StartSyncExecution and the console's "try it".
    Throttling,
}

impl Running {
    pub fn new(max_count: usize, max_bytes: usize) -> Arc<Running> {
        Arc::new(Running { count: AtomicUsize::new(0), bytes: AtomicUsize::new(0), max_count, max_bytes })
    }

    /// Room for one more execution of an input of `input_len` bytes, or the
    /// error a caller is answered with.
    pub fn admit(self: &Arc<Self>, input_len: usize, refusal: Refusal) -> Result<Admitted, ApiError> {
        let weight = weight(input_len);
        let count = self.count.fetch_add(1, Ordering::AcqRel) + 1;
        let bytes = self.bytes.fetch_add(weight, Ordering::AcqRel).saturating_add(weight);
        // Taken first and given back when over: two racing starts can both be
        // refused near the bound, never both admitted past it.
        let admitted = Admitted { running: self.clone(), weight };
        if count <= self.max_count && bytes <= self.max_bytes {
            return Ok(admitted);
        }
        drop(admitted);
        let what = if count > self.max_count {
            format!("{} executions are running (api.executions_running)", self.max_count)
        } else {
            format!(
                "the running executions' inputs would take more than {} MiB (api.executions_running_bytes)",
                self.max_bytes >> 20
            )
        };
        Err(match refusal {
            Refusal::ExecutionLimitExceeded => ApiError::new(
                ErrorKind::ExecutionLimitExceeded,
                format!(
                    "The maximum number of running executions has been reached: {what}. Running executions \
                     must end or be stopped before a new execution can be started."
                ),
            ),
            Refusal::Throttling => {
                ApiError::new(ErrorKind::ThrottlingException, format!("Rate exceeded: {what}; retry later"))
            }
        })
    }

    /// Executions running now.
    pub fn count(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_past_the_count_or_the_bytes_are_refused_and_ends_give_room_back() {
        let running = Running::new(2, weight(100) * 2);
        let a = running.admit(100, Refusal::ExecutionLimitExceeded).expect("first");
        let b = running.admit(100, Refusal::ExecutionLimitExceeded).expect("second");
        let refused = running.admit(0, Refusal::ExecutionLimitExceeded).err().expect("past the count");
        assert_eq!(refused.kind, ErrorKind::ExecutionLimitExceeded);
        assert!(refused.message.contains("api.executions_running"), "{}", refused.message);
        assert_eq!(running.count(), 2, "a refused start holds nothing");
        drop(a);
        let big = running.admit(101, Refusal::Throttling).err().expect("past the bytes");
        assert_eq!(big.kind, ErrorKind::ThrottlingException);
        assert!(big.message.contains("api.executions_running_bytes"), "{}", big.message);
        let c = running.admit(100, Refusal::Throttling).expect("room given back");
        drop((b, c));
        assert_eq!((running.count(), running.bytes.load(Ordering::Acquire)), (0, 0));
    }
}
