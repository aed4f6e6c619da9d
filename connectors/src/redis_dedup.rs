//! The `redis` dedup store: completed idempotency keys live in Redis (with a
//! TTL), so they survive restarts and are shared by every replica.
//!
//! Claims of executions still running stay in the process: a claim written
//! to Redis would outlive a crash and make the redelivered record look
//! taken — acknowledged without a result, the one thing at-least-once must
//! never do. Across replicas a twin may therefore run twice; only completed
//! keys are authoritative.

use dashmap::DashSet;
use expressway_runtime::DedupStore;
use redis::Commands;
use std::sync::Mutex;
use std::time::Duration;

pub struct RedisDedup {
    client: redis::Client,
    /// Idle connections; a shard takes one per call and gives it back.
    pool: Mutex<Vec<redis::Connection>>,
    running: DashSet<String>,
    ttl: Duration,
    prefix: String,
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
        })
    }

    fn with_conn<T>(&self, f: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>) -> redis::RedisResult<T> {
        let pooled = self.pool.lock().ok().and_then(|mut p| p.pop());
        let mut conn = match pooled {
            Some(c) => c,
            None => self.client.get_connection()?,
        };
        let out = f(&mut conn);
        if out.is_ok()
            && let Ok(mut p) = self.pool.lock()
        {
            p.push(conn);
        }
        out
    }

    fn key(&self, k: &str) -> String {
        format!("{}{k}", self.prefix)
    }
}

impl DedupStore for RedisDedup {
    fn begin(&self, key: &str) -> bool {
        if !self.running.insert(key.to_string()) {
            return false;
        }
        let done: redis::RedisResult<bool> = self.with_conn(|c| c.exists(self.key(key)));
        match done {
            Ok(true) => {
                self.running.remove(key);
                false
            }
            // Unreachable Redis: run it (a duplicate at worst, never a loss).
            Ok(false) | Err(_) => true,
        }
    }

    fn complete(&self, key: &str) {
        self.complete_many(&[key]);
    }

    /// One pipelined round trip for a whole sink batch.
    fn complete_many(&self, keys: &[&str]) {
        let ttl_ms = self.ttl.as_millis().min(u64::MAX as u128) as u64;
        let mut pipe = redis::pipe();
        for k in keys {
            pipe.pset_ex(self.key(k), 1, ttl_ms).ignore();
        }
        // A failed write only means a redelivery may run again.
        let _: redis::RedisResult<()> = self.with_conn(|c| pipe.query(c));
        for k in keys {
            self.running.remove(*k);
        }
    }
}
