//! Where the runtime reads time. Shards take a [`Clock`] so tests can move
//! time by hand ([`ManualClock`]) instead of sleeping through a Wait state.
//! The engine itself never reads a clock: the runtime hands it the time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Monotonic time for timers and deadlines, and wall-clock milliseconds for
/// what executions see (`$$.Execution.StartTime`, Wait timestamps).
pub trait Clock: Send + Sync {
    fn now(&self) -> Instant;
    fn wall_ms(&self) -> i64;
}

/// The machine's clocks.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn wall_ms(&self) -> i64 {
        wall_ms()
    }
}

/// Milliseconds since the Unix epoch on the machine's wall clock.
pub fn wall_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// A clock that stands still until [`ManualClock::advance`] moves it; both
/// readings move together.
#[derive(Debug)]
pub struct ManualClock {
    origin: Instant,
    origin_wall_ms: i64,
    elapsed_ms: AtomicU64,
}

impl ManualClock {
    pub fn new(wall_ms: i64) -> ManualClock {
        ManualClock { origin: Instant::now(), origin_wall_ms: wall_ms, elapsed_ms: AtomicU64::new(0) }
    }

    pub fn advance(&self, by: Duration) {
        self.elapsed_ms.fetch_add(by.as_millis() as u64, Ordering::SeqCst);
    }

    fn elapsed(&self) -> u64 {
        self.elapsed_ms.load(Ordering::SeqCst)
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.origin + Duration::from_millis(self.elapsed())
    }

    fn wall_ms(&self) -> i64 {
        self.origin_wall_ms + self.elapsed() as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_advanced() {
        let clock = ManualClock::new(1_000);
        let (t0, w0) = (clock.now(), clock.wall_ms());
        assert_eq!((clock.now(), clock.wall_ms()), (t0, w0));
        clock.advance(Duration::from_millis(1_500));
        assert_eq!(clock.now() - t0, Duration::from_millis(1_500));
        assert_eq!(clock.wall_ms(), 2_500);
    }
}
