//! The `redis` dedup store: completed idempotency keys live in Redis (with a
//! TTL), so they survive restarts and are shared by every replica.
//!
//! Claims of executions still running stay in the process: a claim written
//! to Redis would outlive a crash and make the redelivered record look
//! taken — acknowledged without a result, the one thing at-least-once must
//! never do. Across replicas a twin may therefore run twice; only completed
//! keys are authoritative.
//!
//! Completed keys are members of one Redis set per time bucket as wide as
//! the TTL (`{prefix}done:{bucket}`), which expires a TTL after its bucket
//! ends: a key is remembered for at least the TTL and at most twice it.
//! The sink writer adds a durable batch's keys with one `SADD` (and a
//! `PEXPIREAT`), and a shard asks about its whole batch with one
//! `SMISMEMBER` per live bucket (two), pipelined: one round trip per batch
//! each way. A key of its own per completion (`PSETEX`, as before) cost
//! Redis 3.7 µs of CPU per record, a set member 0.7 µs (see
//! benches/README.md): Redis, one thread for the whole cluster, would cap
//! it long before the shards do. `SMISMEMBER` needs Redis 6.2 or later.

use dashmap::DashSet;
use expressway_runtime::DedupStore;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub struct RedisDedup {
    client: redis::Client,
    /// Idle connections; a shard takes one per call and gives it back.
    pool: Mutex<Vec<redis::Connection>>,
    running: DashSet<String>,
    ttl: Duration,
    prefix: String,
    /// Requests sent to Redis (a pipeline is one), for tests and benches.
    round_trips: AtomicU64,
}

#[derive(Debug)]
pub struct RedisError(pub String);

impl std::fmt::Display for RedisError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl RedisDedup {
    /// Connect (and ping) now, so a wrong URL fails at start, not per record.
    pub fn connect(url: &str, ttl: Duration, prefix: &str) -> Result<RedisDedup, RedisError> {
        let client = redis::Client::open(url).map_err(|e| RedisError(format!("redis url '{url}': {e}")))?;
        let mut conn = client.get_connection().map_err(|e| RedisError(format!("connecting to {url}: {e}")))?;
        redis::cmd("PING").query::<String>(&mut conn).map_err(|e| RedisError(format!("pinging {url}: {e}")))?;
        Ok(RedisDedup {
            client,
            pool: Mutex::new(vec![conn]),
            running: DashSet::new(),
            ttl,
            prefix: prefix.to_string(),
            round_trips: AtomicU64::new(0),
        })
    }

    fn with_conn<T>(&self, f: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>) -> redis::RedisResult<T> {
        let pooled = self.pool.lock().ok().and_then(|mut p| p.pop());
        let mut conn = match pooled {
            Some(c) => c,
            None => self.client.get_connection()?,
        };
        self.round_trips.fetch_add(1, Ordering::Relaxed);
        let out = f(&mut conn);
        if out.is_ok()
            && let Ok(mut p) = self.pool.lock()
        {
            p.push(conn);
        }
        out
    }

    /// Requests sent to Redis since it was connected (the connecting ping
    /// aside).
    pub fn round_trips(&self) -> u64 {
        self.round_trips.load(Ordering::Relaxed)
    }

    /// The set of keys completed in `bucket`.
    fn bucket_key(&self, bucket: u64) -> String {
        format!("{}done:{bucket}", self.prefix)
    }

    /// The bucket the wall clock is in, and the bucket width in ms.
    fn bucket_now(&self) -> (u64, u64) {
        let width = (self.ttl.as_millis().min(u64::MAX as u128) as u64).max(1);
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
        ((now.min(u64::MAX as u128) as u64) / width, width)
    }
}

impl DedupStore for RedisDedup {
    fn begin(&self, key: &str) -> bool {
        self.begin_many(&[key]).first().copied().unwrap_or(true)
    }

    /// Claims in the process first (a key running here, earlier in this
    /// batch too, is a twin), then one pipelined round trip for the rest: a
    /// key in the current or the previous bucket's set was completed.
    fn begin_many(&self, keys: &[&str]) -> Vec<bool> {
        let mut claimed: Vec<bool> = keys.iter().map(|k| self.running.insert(k.to_string())).collect();
        let asked: Vec<usize> = (0..keys.len()).filter(|&i| claimed[i]).collect();
        if asked.is_empty() {
            return claimed;
        }
        let (bucket, _) = self.bucket_now();
        let mut pipe = redis::pipe();
        for b in [bucket, bucket.saturating_sub(1)] {
            let cmd = pipe.cmd("SMISMEMBER").arg(self.bucket_key(b));
            for &i in &asked {
                cmd.arg(keys[i]);
            }
        }
        let done: redis::RedisResult<(Vec<bool>, Vec<bool>)> = self.with_conn(|c| pipe.query(c));
        // Unreachable Redis: run them (a duplicate at worst, never a loss).
        if let Ok((current, previous)) = done {
            for ((&i, now), before) in asked.iter().zip(current).zip(previous) {
                if now || before {
                    self.running.remove(keys[i]);
                    claimed[i] = false;
                }
            }
        }
        claimed
    }

    fn complete(&self, key: &str) {
        self.complete_many(&[key]);
    }

    /// One pipelined round trip for a whole sink batch: its keys join the
    /// current bucket's set, which lives until a TTL after the bucket ends.
    fn complete_many(&self, keys: &[&str]) {
        if !keys.is_empty() {
            let (bucket, width) = self.bucket_now();
            let set = self.bucket_key(bucket);
            let mut pipe = redis::pipe();
            pipe.cmd("SADD").arg(&set).arg(keys).ignore();
            pipe.cmd("PEXPIREAT").arg(&set).arg(bucket.saturating_add(2).saturating_mul(width)).ignore();
            // A failed write only means a redelivery may run again.
            let _: redis::RedisResult<()> = self.with_conn(|c| pipe.query(c));
        }
        for k in keys {
            self.running.remove(*k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redis_url() -> String {
        std::env::var("REDIS_URL")
            .expect("REDIS_URL is not set: run deploy/dev/test.sh, which starts Redis and sets it")
    }

    fn fresh_prefix() -> String {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        format!("expressway-test-{}-{nanos}:", std::process::id())
    }

    #[test]
    fn a_batch_is_claimed_in_one_round_trip_and_completed_in_one() {
        let (url, prefix) = (redis_url(), fresh_prefix());
        let store = RedisDedup::connect(&url, Duration::from_secs(60), &prefix).expect("redis");
        let keys: Vec<String> = (0..500).map(|i| format!("k{i}")).collect();
        let mut batch: Vec<&str> = keys.iter().map(String::as_str).collect();
        batch.push("k7");
        let claimed = store.begin_many(&batch);
        assert_eq!(claimed.iter().filter(|c| **c).count(), 500, "every key once");
        assert_eq!(claimed.last(), Some(&false), "a twin later in the same batch is skipped");
        assert_eq!(store.round_trips(), 1, "one round trip for the batch");
        assert_eq!(store.begin_many(&["k3", "k4"]), [false, false], "running keys are twins without asking Redis");
        assert_eq!(store.round_trips(), 1);

        store.complete_many(&batch[..250]);
        assert_eq!(store.round_trips(), 2, "one pipeline for the completions");

        // Another process (a restart, a replica) sees the completed keys only.
        let other = RedisDedup::connect(&url, Duration::from_secs(60), &prefix).expect("redis");
        let asked = ["k0", "k249", "k250", "k499", "new"];
        assert_eq!(other.begin_many(&asked), [false, false, true, true, true]);
        assert_eq!(other.round_trips(), 1);
        assert!(!other.begin("k1"), "one key alone is answered as in a batch");
    }

    #[test]
    fn a_completed_key_is_remembered_for_its_ttl_and_then_forgotten() {
        let (url, prefix) = (redis_url(), fresh_prefix());
        let ttl = Duration::from_millis(400);
        let store = RedisDedup::connect(&url, ttl, &prefix).expect("redis");
        assert_eq!(store.begin_many(&["a"]), [true]);
        store.complete_many(&["a"]);
        // Whatever bucket the completion fell in, the key is known for a
        // whole TTL after it (here: asked again by a new process, within it)…
        std::thread::sleep(ttl * 9 / 10);
        let later = RedisDedup::connect(&url, ttl, &prefix).expect("redis");
        assert_eq!(later.begin_many(&["a", "b"]), [false, true]);
        // …and gone, with its set, within two TTLs after the bucket ended.
        std::thread::sleep(ttl * 3);
        let much_later = RedisDedup::connect(&url, ttl, &prefix).expect("redis");
        assert_eq!(much_later.begin_many(&["a"]), [true]);
        let mut conn = redis::Client::open(url.as_str()).and_then(|c| c.get_connection()).expect("redis");
        let left: Vec<String> = redis::cmd("KEYS").arg(format!("{prefix}*")).query(&mut conn).expect("KEYS");
        assert!(left.is_empty(), "expired sets are gone: {left:?}");
    }
}
