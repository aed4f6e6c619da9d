//! The `redis` dedup store: completed idempotency keys live in Redis (with a
//! TTL), so they survive restarts and are shared by every replica.
//!
//! Claims of executions still running stay in the process: a claim written
//! to Redis would outlive a crash and make the redelivered record look
//! taken — acknowledged without a result, the one thing at-least-once must
//! never do. Across replicas a twin may therefore run twice; only completed
//! keys are authoritative.
//!
//! Completed keys are members of Redis sets, one per time bucket as wide
//! as the TTL and part of the key space (`{prefix}done:{bucket}:{part}`,
//! 16 parts by FNV-1a of the key, so that no set grows to a whole TTL's
//! keys and none takes long to free when it expires); a set expires a TTL
//! after its bucket ends: **a key is remembered for at least the TTL and
//! at most twice it.** The sink writer adds a durable batch's keys with
//! one `SADD` per part (and a `PEXPIRE`, in one `MULTI`), and a shard asks
//! about its whole batch with one `SMISMEMBER` per part and live bucket
//! (the current and the previous), pipelined: one round trip per batch
//! each way. A key of its own per completion (`PSETEX`, as before) cost
//! Redis 3.7 µs of CPU per record, a set member 0.7 µs (see
//! benches/README.md): Redis, one thread for the whole cluster, would cap
//! it long before the shards do. `SMISMEMBER` needs Redis 6.2 or later:
//! [`RedisDedup::connect`] refuses an older server.

use dashmap::DashSet;
use expressway_runtime::{Claim, DedupStore, PendingClaims};
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

/// How long one request to Redis may take to connect, to send and to be
/// answered. A Redis that stops answering (paused, its host gone without a
/// reset) had held the shards' reads for ever, and a SIGTERM's drain with
/// them; past this the claim fails, and fails open: the record runs (a
/// duplicate at worst, never a loss), one batch per time-out.
const REDIS_IO_TIMEOUT: Duration = Duration::from_secs(2);

/// A new connection to `client`, every wait on it bounded.
fn connection(client: &redis::Client) -> redis::RedisResult<redis::Connection> {
    let conn = client.get_connection_with_timeout(REDIS_IO_TIMEOUT)?;
    conn.set_read_timeout(Some(REDIS_IO_TIMEOUT))?;
    conn.set_write_timeout(Some(REDIS_IO_TIMEOUT))?;
    Ok(conn)
}

impl RedisDedup {
    /// Connect (and ping) now, so a wrong URL fails at start, not per record.
    pub fn connect(url: &str, ttl: Duration, prefix: &str) -> Result<RedisDedup, RedisError> {
        let client = redis::Client::open(url).map_err(|e| RedisError(format!("redis url '{url}': {e}")))?;
        let mut conn = connection(&client).map_err(|e| RedisError(format!("connecting to {url}: {e}")))?;
        redis::cmd("PING").query::<String>(&mut conn).map_err(|e| RedisError(format!("pinging {url}: {e}")))?;
        // Without SMISMEMBER every claim would fail, and every record run
        // again however often it was completed: refuse at start instead.
        redis::cmd("SMISMEMBER").arg(format!("{prefix}probe")).arg("k").query::<Vec<bool>>(&mut conn).map_err(|e| {
            RedisError(format!("{url} cannot serve the dedup store (Redis 6.2 or later is needed): {e}"))
        })?;
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
        let mut conn = self.take_conn()?;
        let out = f(&mut conn);
        if out.is_ok() {
            self.give_back(conn);
        }
        out
    }

    /// An idle connection from the pool, or a new one, for one request
    /// (counted).
    fn take_conn(&self) -> redis::RedisResult<redis::Connection> {
        let pooled = self.pool.lock().ok().and_then(|mut p| p.pop());
        let conn = match pooled {
            Some(c) => c,
            None => connection(&self.client)?,
        };
        self.round_trips.fetch_add(1, Ordering::Relaxed);
        Ok(conn)
    }

    /// A connection whose answers were all read, back to the pool.
    fn give_back(&self, conn: redis::Connection) {
        if let Ok(mut p) = self.pool.lock() {
            p.push(conn);
        }
    }

    /// Send a packed request on a connection of the pool without reading
    /// its answer; `None` if Redis cannot be reached.
    fn send(&self, request: &[u8]) -> Option<redis::Connection> {
        let mut conn = self.take_conn().ok()?;
        conn.send_packed_command(request).ok()?;
        Some(conn)
    }

    /// Read the answers of `commands` commands sent on `conn` as sets of
    /// booleans, and give the connection back to the pool; `None` (and the
    /// connection dropped, its state unknown) on any error.
    fn receive(&self, mut conn: redis::Connection, commands: usize) -> Option<Vec<Vec<bool>>> {
        let mut answers = Vec::with_capacity(commands);
        for _ in 0..commands {
            let value = conn.recv_response().ok()?;
            answers.push(redis::from_redis_value::<Vec<bool>>(value).ok()?);
        }
        self.give_back(conn);
        Some(answers)
    }

    /// Requests sent to Redis since it was connected (the connecting ping
    /// aside).
    pub fn round_trips(&self) -> u64 {
        self.round_trips.load(Ordering::Relaxed)
    }

    /// The set of keys of `part` completed in `bucket`.
    fn set_key(&self, bucket: u64, part: u32) -> String {
        format!("{}done:{bucket}:{part}", self.prefix)
    }

    /// The bucket the wall clock is in, the bucket width and the time read
    /// (both in ms, the time since the epoch).
    fn bucket_now(&self) -> (u64, u64, u64) {
        let width = (self.ttl.as_millis().min(u64::MAX as u128) as u64).max(1);
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
        let now = now.min(u64::MAX as u128) as u64;
        (now / width, width, now)
    }
}

/// Sets per bucket: spread by key, so that no one set holds a whole TTL's keys.
const PARTS: u32 = 16;

/// Keys (with their places in the batch) grouped by the part their set is in.
fn by_part<'k>(keys: impl Iterator<Item = (usize, &'k str)>) -> Vec<(u32, Vec<(usize, &'k str)>)> {
    let mut parts: Vec<(u32, Vec<(usize, &'k str)>)> = Vec::new();
    for (i, key) in keys {
        let part = crate::fnv::fnv1a32(key.as_bytes()) % PARTS;
        match parts.iter_mut().find(|(p, _)| *p == part) {
            Some((_, members)) => members.push((i, key)),
            None => parts.push((part, vec![(i, key)])),
        }
    }
    parts
}

impl DedupStore for RedisDedup {
    fn begin(&self, key: &str) -> Claim {
        self.begin_many(&[key]).first().copied().unwrap_or(Claim::Run)
    }

    fn begin_many(&self, keys: &[&str]) -> Vec<Claim> {
        self.send_claims(keys).answers()
    }

    /// Claims in the process first (a key running here, earlier in this
    /// batch too, is a `Running` twin), then one pipeline for the rest, sent
    /// now and read when the answers are wanted: a key in the current or
    /// the previous bucket's set is `Done`.
    fn send_claims<'s>(&'s self, keys: &[&str]) -> PendingClaims<'s> {
        let mut claimed: Vec<Claim> =
            keys.iter().map(|k| if self.running.insert(k.to_string()) { Claim::Run } else { Claim::Running }).collect();
        let asked: Vec<usize> = (0..keys.len()).filter(|&i| claimed[i] == Claim::Run).collect();
        if asked.is_empty() {
            return PendingClaims::new(move || claimed);
        }
        let (bucket, _, _) = self.bucket_now();
        let parts: Vec<(u32, Vec<(usize, String)>)> = by_part(asked.iter().map(|&i| (i, keys[i])))
            .into_iter()
            .map(|(part, members)| (part, members.into_iter().map(|(i, k)| (i, k.to_string())).collect()))
            .collect();
        let mut pipe = redis::pipe();
        for (part, members) in &parts {
            let asked: Vec<&str> = members.iter().map(|(_, k)| k.as_str()).collect();
            for b in [bucket, bucket.saturating_sub(1)] {
                pipe.cmd("SMISMEMBER").arg(self.set_key(b, *part)).arg(&asked);
            }
        }
        let sent = self.send(&pipe.get_packed_pipeline());
        PendingClaims::new(move || {
            let commands = parts.len() * 2;
            // Unreachable Redis: run them (a duplicate at worst, never a loss).
            let Some(answers) = sent.and_then(|conn| self.receive(conn, commands)) else {
                return claimed;
            };
            for ((_, members), pair) in parts.iter().zip(answers.chunks(2)) {
                let [current, previous] = pair else { continue };
                for ((i, key), (now, before)) in members.iter().zip(current.iter().zip(previous)) {
                    if *now || *before {
                        self.running.remove(key);
                        claimed[*i] = Claim::Done;
                    }
                }
            }
            claimed
        })
    }

    fn complete(&self, key: &str) {
        self.complete_many(&[key]);
    }

    /// One round trip for a whole sink batch: its keys join the current
    /// bucket's sets, which live until a TTL after the bucket ends (set
    /// with each write, in one transaction: no set is left without one).
    fn complete_many(&self, keys: &[&str]) {
        if !keys.is_empty() {
            let (bucket, width, now) = self.bucket_now();
            // Relative to this process's clock, as the bucket is: a clock
            // behind Redis's cannot expire a set on arrival.
            let ttl = bucket.saturating_add(2).saturating_mul(width).saturating_sub(now).max(1);
            let mut pipe = redis::pipe();
            pipe.atomic();
            for (part, members) in by_part(keys.iter().copied().enumerate()) {
                let set = self.set_key(bucket, part);
                pipe.cmd("SADD").arg(&set).arg(members.iter().map(|(_, k)| *k).collect::<Vec<_>>()).ignore();
                pipe.cmd("PEXPIRE").arg(&set).arg(ttl).ignore();
            }
            // A failed write only means a redelivery may run again.
            let _: redis::RedisResult<()> = self.with_conn(|c| pipe.query(c));
        }
        for k in keys {
            self.running.remove(*k);
        }
    }

    /// Claims live in this process only (see the module doc): nothing in
    /// Redis is touched (completed keys stay completed) and no request is
    /// sent. Forgetting them here lets the records, delivered again to a
    /// pipeline on this store, run rather than wait as twins of executions
    /// that were dropped.
    fn release_many(&self, keys: &[&str]) {
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
        assert_eq!(claimed.iter().filter(|c| **c == Claim::Run).count(), 500, "every key once");
        assert_eq!(claimed.last(), Some(&Claim::Running), "a twin later in the same batch is held");
        assert_eq!(store.round_trips(), 1, "one round trip for the batch");
        let running = [Claim::Running, Claim::Running];
        assert_eq!(store.begin_many(&["k3", "k4"]), running, "running keys are twins without asking Redis");
        assert_eq!(store.round_trips(), 1);

        store.complete_many(&batch[..250]);
        assert_eq!(store.round_trips(), 2, "one pipeline for the completions");

        // Another process (a restart, a replica) sees the completed keys only.
        let other = RedisDedup::connect(&url, Duration::from_secs(60), &prefix).expect("redis");
        let asked = ["k0", "k249", "k250", "k499", "new"];
        let (done, run) = (Claim::Done, Claim::Run);
        assert_eq!(other.begin_many(&asked), [done, done, run, run, run]);
        assert_eq!(other.round_trips(), 1);
        assert_eq!(other.begin("k1"), Claim::Done, "one key alone is answered as in a batch");
        // This process's running twin, once completed, is done.
        assert_eq!(store.begin("k300"), Claim::Running);
        store.complete("k300");
        assert_eq!(store.begin("k300"), Claim::Done);
    }

    #[test]
    fn claims_sent_ahead_are_answered_later_and_batches_in_flight_do_not_mix() {
        let (url, prefix) = (redis_url(), fresh_prefix());
        let store = RedisDedup::connect(&url, Duration::from_secs(60), &prefix).expect("redis");
        assert_eq!(store.begin_many(&["done"]), [Claim::Run]);
        store.complete_many(&["done"]);
        // Two batches sent before either is answered (a shard looking ahead
        // while another asks): each gets its own answers, on its own connection.
        let first = store.send_claims(&["a", "done", "b"]);
        let second = store.send_claims(&["c", "a", "done"]);
        // "done" is claimed by the first batch's pending ask: a twin in this
        // process until that answer comes.
        assert_eq!(second.answers(), [Claim::Run, Claim::Running, Claim::Running]);
        assert_eq!(first.answers(), [Claim::Run, Claim::Done, Claim::Run]);
        assert_eq!(store.round_trips(), 4, "one request per batch (and one per claim and completion before)");
        assert_eq!(store.begin("done"), Claim::Done, "asked again, the twin is done");
        // Both connections went back to the pool.
        assert_eq!(store.pool.lock().expect("pool").len(), 2);
    }

    #[test]
    fn released_claims_run_again_and_completed_keys_stay_completed() {
        let (url, prefix) = (redis_url(), fresh_prefix());
        let store = RedisDedup::connect(&url, Duration::from_secs(60), &prefix).expect("redis");
        assert_eq!(store.begin_many(&["abandoned", "done"]), [Claim::Run, Claim::Run]);
        store.complete_many(&["done"]);
        let asked = store.round_trips();
        // The drain gave up on "abandoned"; "done" (and a key never claimed)
        // are asked to be given back too: no request, nothing in Redis changes.
        store.release_many(&["abandoned", "done", "never"]);
        assert_eq!(store.round_trips(), asked, "claims live in the process: no request");
        assert_eq!(store.begin_many(&["abandoned", "done"]), [Claim::Run, Claim::Done], "the claim is free again");
        let other = RedisDedup::connect(&url, Duration::from_secs(60), &prefix).expect("redis");
        assert_eq!(other.begin_many(&["done", "abandoned"]), [Claim::Done, Claim::Run]);
    }

    #[test]
    fn a_completed_key_is_remembered_for_its_ttl_and_then_forgotten() {
        let (url, prefix) = (redis_url(), fresh_prefix());
        let ttl = Duration::from_secs(1);
        let store = RedisDedup::connect(&url, ttl, &prefix).expect("redis");
        assert_eq!(store.begin_many(&["a"]), [Claim::Run]);
        store.complete_many(&["a"]);
        // Whatever bucket the completion fell in, the key is known for a
        // whole TTL after it (here: asked again by a new process, within it)…
        std::thread::sleep(ttl / 2);
        let later = RedisDedup::connect(&url, ttl, &prefix).expect("redis");
        assert_eq!(later.begin_many(&["a", "b"]), [Claim::Done, Claim::Run]);
        // …and gone, with its set, within two TTLs after the bucket ended.
        std::thread::sleep(ttl * 3);
        let much_later = RedisDedup::connect(&url, ttl, &prefix).expect("redis");
        assert_eq!(much_later.begin_many(&["a"]), [Claim::Run]);
        let mut conn = redis::Client::open(url.as_str()).and_then(|c| c.get_connection()).expect("redis");
        let left: Vec<String> = redis::cmd("KEYS").arg(format!("{prefix}*")).query(&mut conn).expect("KEYS");
        assert!(left.is_empty(), "expired sets are gone: {left:?}");
    }
}
