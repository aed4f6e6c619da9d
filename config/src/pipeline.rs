//! `expressway run --config pipeline.yaml`: one process, one or more
//! pipelines, each a source, a state machine, a result sink, a dead-letter
//! sink, an idempotency key and a dedup store.
//!
//! One YAML file; unknown fields are errors; closed sets are tagged enums
//! (`type: file`); defaults live in code; durations are human (`"10m"`);
//! `${VAR}` / `${VAR:default}` in string values are replaced from the
//! environment after parsing, so a variable only ever yields that one
//! scalar. [`Config::problems`] reports every problem at once.

use expressway_engine::WorkflowType;
use expressway_runtime::{ExecutionLogLevel, MAX_SOURCE_READERS};
use serde::{Deserialize, Deserializer};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// None is fine when `api` is set (`expressway serve`).
    #[serde(default)]
    pub pipelines: Vec<Pipeline>,
    /// The Step Functions API; off when absent.
    #[serde(default)]
    pub api: Option<crate::api::ApiConfig>,
    #[serde(default)]
    pub runtime: RuntimeConfig,
    /// Prometheus metrics plus `/healthz` and `/readyz`; off when absent.
    #[serde(default)]
    pub metrics: Option<MetricsConfig>,
    /// AWS clients (SQS, Lambda, DynamoDB): what is absent comes from the
    /// SDK's own chain (`AWS_REGION`, `AWS_ENDPOINT_URL[_SQS|_LAMBDA|…]`,
    /// credentials from the environment, profile, web identity or IMDS).
    #[serde(default)]
    pub aws: AwsConfig,
    /// `arn:aws:states:::http:invoke` tasks.
    #[serde(default)]
    pub http: HttpTasksConfig,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HttpTasksConfig {
    /// URLs HTTP tasks may call, each allowing its origin and the paths at
    /// or under its own (see [`crate::endpoint`]); none by default, so a
    /// machine cannot reach an arbitrary host.
    #[serde(default)]
    pub allowed_endpoints: Vec<String>,
    #[serde(default = "default_http_timeout", deserialize_with = "human_duration")]
    pub timeout: Duration,
}

fn default_http_timeout() -> Duration {
    Duration::from_secs(60)
}

impl Default for HttpTasksConfig {
    fn default() -> Self {
        HttpTasksConfig { allowed_endpoints: Vec::new(), timeout: default_http_timeout() }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AwsConfig {
    #[serde(default)]
    pub region: Option<String>,
    /// One endpoint for every service (an emulator such as ministack).
    #[serde(default)]
    pub endpoint_url: Option<String>,
    /// Per-service endpoints, by SDK service id (`sqs`, `lambda`, `dynamodb`).
    #[serde(default)]
    pub endpoints: std::collections::BTreeMap<String, String>,
    /// Concurrent task calls (Lambda, SQS, DynamoDB) per process.
    #[serde(default = "default_max_concurrent_calls", deserialize_with = "scalar")]
    pub max_concurrent_calls: usize,
}

fn default_max_concurrent_calls() -> usize {
    1024
}

impl Default for AwsConfig {
    fn default() -> Self {
        AwsConfig {
            region: None,
            endpoint_url: None,
            endpoints: Default::default(),
            max_concurrent_calls: default_max_concurrent_calls(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// `host:port` to listen on, e.g. `0.0.0.0:9464`.
    pub address: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pipeline {
    pub name: String,
    /// Path of the ASL definition, relative to the config file.
    pub state_machine: PathBuf,
    #[serde(default)]
    pub workflow_type: WorkflowType,
    pub source: SourceConfig,
    pub sink: SinkConfig,
    /// Where failed, timed-out and malformed records go, with error and cause.
    pub dead_letter: SinkConfig,
    #[serde(default)]
    pub idempotency: IdempotencyConfig,
    #[serde(default)]
    pub dedup: DedupConfig,
    #[serde(default)]
    pub logging: LoggingConfig,
}

/// Execution logging, like an Express workflow's CloudWatch logging.
#[derive(Debug, Clone, Deserialize, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LoggingConfig {
    #[serde(default)]
    pub level: ExecutionLogLevel,
    /// Put execution input, output, error cause in the log lines.
    #[serde(default, deserialize_with = "scalar")]
    pub include_execution_data: bool,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum SourceConfig {
    /// JSON lines from a file; the committed position is kept in `checkpoint`
    /// so a restart resumes after the last record whose result was written.
    File {
        path: PathBuf,
        /// Keep reading as the file grows.
        #[serde(default, deserialize_with = "scalar")]
        follow: bool,
        /// Defaults to `<path>.checkpoint`.
        #[serde(default)]
        checkpoint: Option<PathBuf>,
        /// Following: how long a renamed (rotated) file must give no line
        /// before the follow moves to the name's new file (its writer appends
        /// to it until it reopens the name). At most [`MAX_ROTATE_WAIT`].
        #[serde(default = "default_rotate_wait", deserialize_with = "human_duration")]
        rotate_wait: Duration,
    },
    /// JSON lines from standard input (no replay: a crash loses what was in flight).
    Stdin,
    /// Records of Kafka topics, read as a member of a consumer group
    /// (`cooperative-sticky`); offsets committed from the completed low
    /// watermark of each partition.
    Kafka {
        brokers: String,
        group: String,
        topics: Vec<String>,
        /// Static membership (`group.instance.id`), e.g. a StatefulSet pod
        /// name; consumer `i` > 0 of this process is `{instance_id}-{i}`.
        #[serde(default)]
        instance_id: Option<String>,
        /// Members of the group this process runs (1 to 64), each on a source
        /// reader thread of its own with the partitions the group assigns
        /// it: a process reading many partitions reads them in parallel.
        #[serde(default = "default_consumers", deserialize_with = "scalar")]
        consumers: usize,
        /// Raw librdkafka properties; the keys Expressway owns are refused.
        #[serde(default)]
        properties: std::collections::BTreeMap<String, String>,
    },
    /// Messages of an SQS queue (long polling); a message is deleted only
    /// once its result or dead letter is written. FIFO queues run one
    /// message per `MessageGroupId` at a time, in order.
    Sqs {
        queue_url: String,
        /// Concurrent `ReceiveMessage` long polls.
        #[serde(default = "default_pollers", deserialize_with = "scalar")]
        pollers: usize,
        /// The queue's visibility timeout; messages still running at half of
        /// it have it extended.
        #[serde(default = "default_visibility", deserialize_with = "human_duration")]
        visibility_timeout: Duration,
        #[serde(default = "default_wait_time", deserialize_with = "human_duration")]
        wait_time: Duration,
    },
}

fn default_rotate_wait() -> Duration {
    Duration::from_secs(5)
}

/// A longer wait would hold a rotated name's new records back for longer
/// than anyone means to.
pub const MAX_ROTATE_WAIT: Duration = Duration::from_secs(3600);

fn default_pollers() -> usize {
    4
}

fn default_consumers() -> usize {
    1
}

/// Concurrent long polls an SQS source may run.
pub const MAX_POLLERS: usize = 64;

fn default_visibility() -> Duration {
    Duration::from_secs(30)
}

fn default_wait_time() -> Duration {
    Duration::from_secs(20)
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum SinkConfig {
    /// JSON lines appended to a file and fsynced before records are acknowledged.
    File {
        path: PathBuf,
    },
    Stdout,
    /// Discards everything (benchmarks).
    Null,
    /// A Kafka topic, through an idempotent producer (`acks=all`); a record
    /// counts as written only once the broker confirmed it.
    Kafka {
        brokers: String,
        topic: String,
        #[serde(default = "default_linger", deserialize_with = "human_duration")]
        linger: Duration,
        /// `$.path` into the result for the message key; absent: the input
        /// record's key.
        #[serde(default)]
        key: Option<String>,
        #[serde(default)]
        properties: std::collections::BTreeMap<String, String>,
    },
    /// An SQS queue, through `SendMessageBatch`; a record counts as written
    /// once SQS accepted it.
    Sqs {
        queue_url: String,
        /// FIFO queues: `$.path` into the result for its `MessageGroupId`.
        #[serde(default)]
        message_group_id: Option<String>,
    },
}

fn default_linger() -> Duration {
    Duration::from_millis(5)
}

#[derive(Debug, Clone, Deserialize, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct IdempotencyConfig {
    /// `$.path` into the message, or `source_id` (the source's own record id);
    /// absent: every record runs.
    #[serde(default)]
    pub key: Option<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum DedupConfig {
    Memory {
        #[serde(default = "default_ttl", deserialize_with = "human_duration")]
        ttl: Duration,
        #[serde(default = "default_capacity", deserialize_with = "scalar")]
        capacity: usize,
    },
    /// Completed keys in Redis: shared by replicas, kept across restarts.
    Redis {
        url: String,
        #[serde(default = "default_ttl", deserialize_with = "human_duration")]
        ttl: Duration,
        #[serde(default = "default_prefix")]
        key_prefix: String,
    },
    /// Keys in a DynamoDB table (partition key `pk`, string), written with a
    /// conditional `PutItem` and an expiry attribute for the table's TTL.
    Dynamodb {
        table: String,
        #[serde(default = "default_ttl", deserialize_with = "human_duration")]
        ttl: Duration,
        #[serde(default = "default_ttl_attribute")]
        ttl_attribute: String,
    },
}

fn default_ttl_attribute() -> String {
    "expires_at".into()
}

fn default_prefix() -> String {
    "expressway:dedup:".into()
}

impl Default for DedupConfig {
    fn default() -> Self {
        DedupConfig::Memory { ttl: default_ttl(), capacity: default_capacity() }
    }
}

fn default_ttl() -> Duration {
    Duration::from_secs(600)
}

fn default_capacity() -> usize {
    1_000_000
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RuntimeConfig {
    /// Executor shards; 0 means one per core.
    #[serde(default, deserialize_with = "scalar")]
    pub shards: usize,
    /// Executions admitted but not yet acknowledged, per shard; bounds memory
    /// under a backlog.
    #[serde(default = "default_in_flight", deserialize_with = "scalar")]
    pub max_in_flight_per_shard: usize,
    /// How long SIGTERM/SIGINT waits for in-flight records before exiting.
    /// It bounds the whole drain: executions still running then (a long
    /// Wait, a slow task) are abandoned unacknowledged and run again after a
    /// restart; the sink writer gets two more seconds to make durable what
    /// finished before.
    #[serde(default = "default_drain", deserialize_with = "human_duration")]
    pub drain_timeout: Duration,
    /// Payloads above this size go to the dead-letter sink (AWS: 256 KiB).
    /// File and stdin sources skip longer lines unread (in bounded chunks),
    /// so one huge line costs no more memory than this.
    #[serde(default = "default_max_payload", deserialize_with = "scalar")]
    pub max_payload_bytes: usize,
    /// How often sources persist their progress. What completed since the
    /// last commit runs again after a crash: this bounds the re-run window.
    #[serde(default = "default_commit_interval", deserialize_with = "human_duration")]
    pub commit_interval: Duration,
    /// Which records must start in order, and so share a shard.
    #[serde(default)]
    pub ordering: Ordering,
    /// Threads that write results and dead letters, each with its own sinks
    /// (a Kafka producer each); shard `s` writes through writer `s % n`.
    /// More than one needs sinks each writer can open on its own (Kafka,
    /// SQS, null): a file or standard output has one writer. At most one
    /// per shard runs.
    #[serde(default = "default_sink_writers", deserialize_with = "scalar")]
    pub sink_writers: usize,
    /// The work one execution may do, in steps (JSONata steps; intrinsics
    /// and JSONPath charge theirs in the same unit), past which it ends
    /// `TIMED_OUT` (`States.Timeout`): AWS stops an Express execution at five
    /// minutes of wall clock, this at a bounded amount of CPU. 20 M steps
    /// is a few seconds of one core.
    #[serde(default = "default_max_work", deserialize_with = "scalar")]
    pub max_work_per_execution: u64,
}

/// The most `runtime.max_work_per_execution` may be: ~100× the default,
/// minutes of one core, about what AWS's five minutes allow.
pub const MAX_WORK_PER_EXECUTION: u64 = 2_000_000_000;

fn default_max_work() -> u64 {
    expressway_engine::vm::WORK_PER_EXECUTION
}

/// The ordering contract: which records are started in their source's
/// order. The narrower it is, the more shards one partition can feed.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Ordering {
    /// Records of one partition (a Kafka partition, an SQS message group, a
    /// file's line modulo 64) share a shard and start in order.
    #[default]
    Partition,
    /// Records with the same key (a Kafka message key, an SQS message group)
    /// share a shard and start in order; one hot partition spreads over all
    /// shards. Records without a key keep their partition's order.
    Key,
    /// No order: each poll's records are spread over all shards.
    None,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            shards: 0,
            max_in_flight_per_shard: default_in_flight(),
            drain_timeout: default_drain(),
            max_payload_bytes: default_max_payload(),
            commit_interval: default_commit_interval(),
            ordering: Ordering::Partition,
            sink_writers: default_sink_writers(),
            max_work_per_execution: default_max_work(),
        }
    }
}

fn default_sink_writers() -> usize {
    1
}

/// The most shard threads a pipeline may ask for.
pub const MAX_SHARDS: usize = 1024;
/// The most executions a shard may hold admitted but unacknowledged.
pub const MAX_IN_FLIGHT_PER_SHARD: usize = 1_000_000;
/// The longest record a source may read (`runtime.max_payload_bytes`): 64
/// times AWS's 256 KiB payload, for text with whitespace to spare; the
/// engine still bounds every state's payload at 256 KiB.
pub const MAX_RECORD_BYTES: usize = 16 << 20;
/// The longest pipeline name (AWS's longest state machine name).
pub const MAX_PIPELINE_NAME_CHARS: usize = 80;

/// The most task calls in flight at once (`aws.max_concurrent_calls`).
pub const MAX_CONCURRENT_CALLS: usize = 65_536;
/// SQS refuses a visibility timeout past 12 hours.
pub const MAX_SQS_VISIBILITY: Duration = Duration::from_secs(12 * 3600);
/// The most keys a memory dedup store may remember.
pub const MAX_MEMORY_DEDUP_KEYS: usize = 100_000_000;
/// The most sink writer threads (each with its own sinks).
pub const MAX_SINK_WRITERS: usize = 256;

fn default_in_flight() -> usize {
    1024
}

fn default_drain() -> Duration {
    Duration::from_secs(25)
}

fn default_commit_interval() -> Duration {
    Duration::from_secs(1)
}

fn default_max_payload() -> usize {
    expressway_engine::vm::MAX_PAYLOAD_BYTES
}

pub(crate) fn human_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    humantime::parse_duration(&text).map_err(|e| serde::de::Error::custom(format!("invalid duration '{text}': {e}")))
}

/// A number or a bool, written as one (`shards: 4`) or as the string a
/// `${VAR}` substitution leaves (`shards: ${SHARDS:2}`, `"${SHARDS}"`): a
/// substituted value is always a string scalar, never re-typed by YAML.
pub(crate) fn scalar<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    struct Written<T>(std::marker::PhantomData<T>);
    impl<T: std::str::FromStr> serde::de::Visitor<'_> for Written<T>
    where
        T::Err: std::fmt::Display,
    {
        type Value = T;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "a {} (or a string holding one)", std::any::type_name::<T>())
        }
        fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<T, E> {
            text.parse().map_err(|e| E::custom(format!("'{text}' is not a valid {}: {e}", std::any::type_name::<T>())))
        }
        fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<T, E> {
            self.visit_str(&v.to_string())
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<T, E> {
            self.visit_str(&v.to_string())
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<T, E> {
            self.visit_str(&v.to_string())
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<T, E> {
            self.visit_str(&v.to_string())
        }
    }
    d.deserialize_any(Written(std::marker::PhantomData))
}

/// One thing wrong with a configuration, located by pipeline and field.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigProblem {
    pub at: String,
    pub message: String,
}

impl std::fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.at, self.message)
    }
}

/// The longest configuration read: far beyond any real one.
pub const MAX_CONFIG_BYTES: usize = 1 << 20;

/// Flow collections (`[..]`, `{..}`) nested deeper than this are refused
/// before the YAML parser sees them: its scanner takes time quadratic in
/// their depth before its own recursion limit answers.
pub const MAX_FLOW_DEPTH: usize = 64;

/// Values (nodes) a configuration may hold once its YAML aliases are
/// expanded, and bytes of scalars: far beyond any real configuration.
pub const MAX_CONFIG_NODES: usize = 200_000;
pub const MAX_CONFIG_SCALAR_BYTES: usize = 16 << 20;

/// Refuse a text whose aliases expand past [`MAX_CONFIG_NODES`] or
/// [`MAX_CONFIG_SCALAR_BYTES`], counting without building: the parser's own
/// limit counts alias jumps, not what each replays, so one anchor of 2,000
/// items named by 2,000 aliases (10 KB) took 1 GB and 20,000 aliases of a
/// 50,000-item anchor aborted the process out of memory.
fn check_expansion(text: &str) -> Result<(), String> {
    use serde::de::DeserializeSeed;
    let counted = Counted { nodes: std::cell::Cell::new(0), bytes: std::cell::Cell::new(0) };
    match (&counted).deserialize(serde_norway::Deserializer::from_str(text)) {
        Ok(()) => Ok(()),
        // Past the bound, or a YAML error the real parse reports in its words.
        Err(e) if counted.over() => Err(e.to_string()),
        Err(_) => Ok(()),
    }
}

/// What a YAML document holds, expanded: counted as it is visited, never built.
struct Counted {
    nodes: std::cell::Cell<usize>,
    bytes: std::cell::Cell<usize>,
}

impl Counted {
    fn over(&self) -> bool {
        self.nodes.get() > MAX_CONFIG_NODES || self.bytes.get() > MAX_CONFIG_SCALAR_BYTES
    }

    fn count<E: serde::de::Error>(&self, bytes: usize) -> Result<(), E> {
        self.nodes.set(self.nodes.get() + 1);
        self.bytes.set(self.bytes.get().saturating_add(bytes));
        if self.over() {
            return Err(E::custom(format!(
                "the configuration holds more than {MAX_CONFIG_NODES} values or {MAX_CONFIG_SCALAR_BYTES} bytes \
                 of text once its YAML aliases are expanded"
            )));
        }
        Ok(())
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for &Counted {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for &Counted {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<(), E> {
        self.count(0)
    }
    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<(), E> {
        self.count(0)
    }
    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<(), E> {
        self.count(0)
    }
    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<(), E> {
        self.count(0)
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<(), E> {
        self.count(v.len())
    }
    fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<(), E> {
        self.count(v.len())
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        self.count(0)
    }
    fn visit_none<E: serde::de::Error>(self) -> Result<(), E> {
        self.count(0)
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        serde::de::DeserializeSeed::deserialize(self, d)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.count(0)?;
        while seq.next_element_seed(self)?.is_some() {}
        Ok(())
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.count(0)?;
        while map.next_key_seed(self)?.is_some() {
            map.next_value_seed(self)?;
        }
        Ok(())
    }
    fn visit_enum<A: serde::de::EnumAccess<'de>>(self, data: A) -> Result<(), A::Error> {
        use serde::de::VariantAccess;
        // A tagged value (`!tag value`): the tag, then its value.
        let ((), value) = data.variant_seed(self)?;
        value.newtype_variant_seed(self)
    }
}

/// Refuse a text too large, or with flow collections nested too deep, for
/// the YAML parser to be given it. Quoted scalars and comments are skipped,
/// so brackets inside them do not count.
fn check_shape(text: &str) -> Result<(), String> {
    if text.len() > MAX_CONFIG_BYTES {
        return Err(format!("the configuration is larger than {MAX_CONFIG_BYTES} bytes"));
    }
    // A quote or a bracket opens something only where a scalar starts
    // (after a line's indentation, `:`, `-`, `?`, `,`, `[` or `{`): inside a
    // plain scalar (`it's`, `use {name}`) it is text.
    let starts_scalar = |last: char| matches!(last, '\n' | ':' | '-' | '?' | ',' | '[' | '{');
    let (mut depth, mut quote, mut comment) = (0usize, None::<char>, false);
    let (mut last, mut prev) = ('\n', '\n');
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if comment {
            comment = c != '\n';
        } else if let Some(q) = quote {
            if q == '"' && c == '\\' {
                chars.next();
            } else if c == q {
                quote = None;
            }
        } else if c == '#' && prev.is_whitespace() {
            comment = true;
        } else if matches!(c, '"' | '\'') && starts_scalar(last) {
            quote = Some(c);
        } else if matches!(c, '[' | '{') && starts_scalar(last) {
            depth += 1;
            if depth > MAX_FLOW_DEPTH {
                return Err(format!("flow collections are nested deeper than {MAX_FLOW_DEPTH} levels"));
            }
        } else if matches!(c, ']' | '}') && depth > 0 {
            depth -= 1;
        }
        if c == '\n' || !c.is_whitespace() {
            last = c;
        }
        prev = c;
    }
    Ok(())
}

impl Config {
    /// Parse, then substitute `${VAR:default}` from `env` in string values.
    pub fn from_yaml(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigProblem> {
        Config::from_yaml_with_overrides(text, env, &[])
    }

    /// As [`Config::from_yaml`], then apply `EXPRESSWAY__SECTION__KEY=value`
    /// overrides (`EXPRESSWAY__RUNTIME__SHARDS=4`,
    /// `EXPRESSWAY__PIPELINES__0__SOURCE__PATH=in.jsonl`); values are YAML
    /// scalars.
    pub fn from_yaml_with_overrides(
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
        overrides: &[(String, String)],
    ) -> Result<Config, ConfigProblem> {
        let problem = |message: String| ConfigProblem { at: "config".into(), message };
        check_shape(text).map_err(problem)?;
        check_expansion(text).map_err(problem)?;
        let mut doc: serde_norway::Value = serde_norway::from_str(text).map_err(|e| problem(e.to_string()))?;
        substitute(&mut doc, "", env)?;
        for (name, value) in overrides {
            let Some(path) = name.strip_prefix(ENV_PREFIX) else { continue };
            apply_override(&mut doc, path, value).map_err(|m| ConfigProblem { at: name.clone(), message: m })?;
        }
        null_type_is_a_name(&mut doc);
        // Through text again so that a type error names its field
        // (`runtime.shards: ...`); strings are quoted, so this adds nothing.
        let text = serde_norway::to_string(&doc).map_err(|e| problem(e.to_string()))?;
        serde_norway::from_str(&text).map_err(|e| problem(e.to_string()))
    }

    pub fn load(path: &Path) -> Result<Config, ConfigProblem> {
        let text = crate::files::read_text_at_most(path, MAX_CONFIG_BYTES)
            .map_err(|message| ConfigProblem { at: path.display().to_string(), message })?;
        let overrides: Vec<(String, String)> = std::env::vars().filter(|(k, _)| k.starts_with(ENV_PREFIX)).collect();
        Config::from_yaml_with_overrides(&text, &|k| std::env::var(k).ok(), &overrides)
    }

    /// Cross-field checks; the caller adds what needs the engine (compiling
    /// each state machine).
    pub fn problems(&self) -> Vec<ConfigProblem> {
        let mut out = Vec::new();
        if self.pipelines.is_empty() && self.api.is_none() {
            out.push(ConfigProblem {
                at: "pipelines".into(),
                message: "at least one pipeline (or an `api:` section) is needed".into(),
            });
        }
        if let Some(api) = &self.api {
            out.extend(api.problems());
        }
        let mut names = std::collections::HashSet::new();
        for (i, p) in self.pipelines.iter().enumerate() {
            let at = format!("pipelines[{i}] ({})", p.name.escape_debug());
            // A consumer is a thread and a connection, a poller a queue's
            // worth of buffered messages: bounded.
            let readers = match p.source {
                SourceConfig::Kafka { consumers, .. } => Some(("consumers", consumers, MAX_SOURCE_READERS)),
                SourceConfig::Sqs { pollers, .. } => Some(("pollers", pollers, MAX_POLLERS)),
                _ => None,
            };
            if let Some((field, n, max)) = readers
                && !(1..=max).contains(&n)
            {
                out.push(ConfigProblem {
                    at: format!("{at}.source.{field}"),
                    message: format!("must be from 1 to {max}"),
                });
            }
            if p.name.is_empty() || !names.insert(p.name.as_str()) {
                out.push(ConfigProblem {
                    at: at.clone(),
                    message: "pipeline names must be non-empty and unique".into(),
                });
            }
            // A name is written raw into log lines and is a state machine's
            // name in the API: a newline in it forged log lines.
            if p.name.chars().count() > MAX_PIPELINE_NAME_CHARS || p.name.chars().any(char::is_control) {
                out.push(ConfigProblem {
                    at: format!("pipelines[{i}].name"),
                    message: format!(
                        "a pipeline name is at most {MAX_PIPELINE_NAME_CHARS} characters, none of them control characters"
                    ),
                });
            }
            if let Some(k) = &p.idempotency.key
                && k != "source_id"
                && !k.starts_with('$')
            {
                out.push(ConfigProblem {
                    at: format!("{at}.idempotency.key"),
                    message: format!("'{k}' is neither a JSONPath ('$.id') nor 'source_id'"),
                });
            }
            if let DedupConfig::Memory { capacity, .. } = p.dedup
                && !(1..=MAX_MEMORY_DEDUP_KEYS).contains(&capacity)
            {
                out.push(ConfigProblem {
                    at: format!("{at}.dedup.capacity"),
                    message: format!("must be from 1 to {MAX_MEMORY_DEDUP_KEYS}"),
                });
            }
            if let SourceConfig::File { rotate_wait, .. } = &p.source
                && *rotate_wait > MAX_ROTATE_WAIT
            {
                out.push(ConfigProblem {
                    at: format!("{at}.source.rotate_wait"),
                    message: "must be at most 1h".into(),
                });
            }
            if let SourceConfig::Sqs { visibility_timeout, .. } = &p.source
                && *visibility_timeout > MAX_SQS_VISIBILITY
            {
                out.push(ConfigProblem {
                    at: format!("{at}.source.visibility_timeout"),
                    message: "must be at most 12h (SQS's limit)".into(),
                });
            }
        }
        // Two file sources keeping their progress in one checkpoint would
        // each commit over the other's: the slower one's records past the
        // faster one's offset were never run after a restart.
        let mut checkpoints: Vec<(usize, PathBuf)> = Vec::new();
        for (i, p) in self.pipelines.iter().enumerate() {
            if let SourceConfig::File { path, checkpoint, .. } = &p.source {
                let at = checkpoint.clone().unwrap_or_else(|| {
                    let mut s = path.as_os_str().to_owned();
                    s.push(".checkpoint");
                    PathBuf::from(s)
                });
                let at = std::path::Path::new(".").join(&at).components().collect::<PathBuf>();
                if let Some((first, _)) = checkpoints.iter().find(|(_, c)| *c == at) {
                    out.push(ConfigProblem {
                        at: format!("pipelines[{i}].source"),
                        message: format!(
                            "keeps its progress in {}, as pipelines[{first}] does: give one of them its own `checkpoint`",
                            at.display()
                        ),
                    });
                } else {
                    checkpoints.push((i, at));
                }
            }
        }
        // Each is a thread (a writer also opens its own sinks): bounded, so no
        // configuration can exhaust the process's threads or connections.
        if self.runtime.shards > MAX_SHARDS {
            out.push(ConfigProblem {
                at: "runtime.shards".into(),
                message: format!("must be at most {MAX_SHARDS} (0: one per core)"),
            });
        }
        if !(1..=MAX_SINK_WRITERS).contains(&self.runtime.sink_writers) {
            out.push(ConfigProblem {
                at: "runtime.sink_writers".into(),
                message: format!("must be from 1 to {MAX_SINK_WRITERS}"),
            });
        }
        // `shards: 0` is one per core: as many writers as asked for may run.
        let writers_run = match self.runtime.shards {
            0 => self.runtime.sink_writers,
            shards => self.runtime.sink_writers.min(shards),
        };
        if writers_run > 1 {
            for (i, p) in self.pipelines.iter().enumerate() {
                for (field, sink) in [("sink", &p.sink), ("dead_letter", &p.dead_letter)] {
                    if matches!(sink, SinkConfig::File { .. } | SinkConfig::Stdout) {
                        out.push(ConfigProblem {
                            at: format!("pipelines[{i}] ({}).{field}", p.name),
                            message: format!(
                                "runtime.sink_writers is {}, but a file or standard output has one writer: \
                                 use sink_writers: 1, or a kafka, sqs or null sink",
                                self.runtime.sink_writers
                            ),
                        });
                    }
                }
            }
        }
        if !(1..=MAX_WORK_PER_EXECUTION).contains(&self.runtime.max_work_per_execution) {
            out.push(ConfigProblem {
                at: "runtime.max_work_per_execution".into(),
                message: format!("must be from 1 to {MAX_WORK_PER_EXECUTION}"),
            });
        }
        // Numbers that size memory, threads or what is sent to a service:
        // a value past what any deployment needs is refused here rather
        // than overflowing (a line window of `usize::MAX + 2`), panicking
        // (a semaphore of more permits than tokio holds) or deadlocking (no
        // permits) where it is used.
        let bounded = [
            ("runtime.max_in_flight_per_shard", self.runtime.max_in_flight_per_shard, MAX_IN_FLIGHT_PER_SHARD),
            ("runtime.max_payload_bytes", self.runtime.max_payload_bytes, MAX_RECORD_BYTES),
            ("aws.max_concurrent_calls", self.aws.max_concurrent_calls, MAX_CONCURRENT_CALLS),
        ];
        for (at, n, max) in bounded {
            if !(1..=max).contains(&n) {
                out.push(ConfigProblem { at: at.into(), message: format!("must be from 1 to {max}") });
            }
        }
        if let Some(m) = &self.metrics
            && m.address.parse::<std::net::SocketAddr>().is_err()
        {
            out.push(ConfigProblem {
                at: "metrics.address".into(),
                message: format!("'{}' is not a host:port socket address", m.address),
            });
        }
        for (i, entry) in self.http.allowed_endpoints.iter().enumerate() {
            if let Err(message) = crate::endpoint::AllowedEndpoint::parse(entry) {
                out.push(ConfigProblem { at: format!("http.allowed_endpoints[{i}]"), message });
            }
        }
        let stdin_sources = self.pipelines.iter().filter(|p| p.source == SourceConfig::Stdin).count();
        if stdin_sources > 1 {
            out.push(ConfigProblem {
                at: "pipelines".into(),
                message: "only one pipeline can read standard input".into(),
            });
        }
        out
    }
}

/// `type: null` (the null sink) reads as YAML's null; it names a variant.
fn null_type_is_a_name(v: &mut serde_norway::Value) {
    use serde_norway::Value as Y;
    match v {
        Y::Mapping(map) => {
            for (k, x) in map.iter_mut() {
                if k.as_str() == Some("type") && x.is_null() {
                    *x = Y::String("null".into());
                } else {
                    null_type_is_a_name(x);
                }
            }
        }
        Y::Sequence(items) => items.iter_mut().for_each(null_type_is_a_name),
        _ => {}
    }
}

/// Environment variables that override configuration fields.
pub const ENV_PREFIX: &str = "EXPRESSWAY__";

/// Set the field at `A__B__0__C` (lower-cased; numbers index sequences).
fn apply_override(doc: &mut serde_norway::Value, path: &str, value: &str) -> Result<(), String> {
    use serde_norway::Value as Y;
    // The value is YAML too: the same bounds as the file's, before it is built.
    check_shape(value)?;
    check_expansion(value)?;
    let parsed: Y = serde_norway::from_str(value).unwrap_or_else(|_| Y::String(value.to_string()));
    let parts: Vec<String> = path.split("__").map(str::to_lowercase).collect();
    let mut cur = doc;
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        if cur.is_null() {
            *cur = Y::Mapping(Default::default());
        }
        cur = match cur {
            Y::Sequence(seq) => {
                let idx: usize = part.parse().map_err(|_| format!("'{part}' must be an index into a list"))?;
                seq.get_mut(idx).ok_or_else(|| format!("there is no item {idx} to override"))?
            }
            Y::Mapping(map) => {
                let key = Y::String(part.clone());
                if !map.contains_key(&key) {
                    map.insert(key.clone(), if last { Y::Null } else { Y::Mapping(Default::default()) });
                }
                map.get_mut(&key).ok_or_else(|| format!("cannot set '{part}'"))?
            }
            _ => return Err(format!("'{part}' is inside a value that is not a map or a list")),
        };
    }
    *cur = parsed;
    Ok(())
}

/// Substitute `${VAR}` / `${VAR:default}` inside the parsed document's
/// string scalars, never in its text: a value can only ever become (part
/// of) the one scalar it is written in, so it cannot add keys, list entries
/// or sections, anchors, aliases or tags, and a `${VAR}` in a comment is
/// never seen. Map keys are not substituted (none of the shipped
/// configurations uses a variable in a key). The result stays a string
/// scalar, never re-typed as YAML would (`"4"`, not `4`; `"[a, b]"`, not a
/// list): number and bool fields take such strings ([`scalar`]).
fn substitute(
    v: &mut serde_norway::Value,
    at: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), ConfigProblem> {
    use serde_norway::Value as Y;
    match v {
        Y::String(s) if s.contains("${") => {
            *s = interpolate(s, at, env)?;
        }
        Y::Mapping(map) => {
            for (k, x) in map.iter_mut() {
                let key = match k {
                    Y::String(k) => k.clone(),
                    other => serde_norway::to_string(other).unwrap_or_default().trim_end().to_string(),
                };
                let child = if at.is_empty() { key } else { format!("{at}.{key}") };
                substitute(x, &child, env)?;
            }
        }
        Y::Sequence(items) => {
            for (i, x) in items.iter_mut().enumerate() {
                substitute(x, &format!("{at}[{i}]"), env)?;
            }
        }
        Y::Tagged(t) => substitute(&mut t.value, at, env)?,
        _ => {}
    }
    Ok(())
}

/// Replace `${VAR}` and `${VAR:default}` in one scalar; an unset variable
/// without a default is an error naming it and the field (`at`).
pub fn interpolate(text: &str, at: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, ConfigProblem> {
    let at = if at.is_empty() { "config" } else { at };
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| ConfigProblem { at: at.into(), message: "unterminated '${' in the value".into() })?;
        let inner = &after[..end];
        let (name, default) = match inner.split_once(':') {
            Some((n, d)) => (n, Some(d)),
            None => (inner, None),
        };
        match env(name).or_else(|| default.map(str::to_string)) {
            Some(v) => out.push_str(&v),
            None => {
                return Err(ConfigProblem {
                    at: at.into(),
                    message: format!("environment variable '{name}' is not set and has no default"),
                });
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
pipelines:
  - name: iot
    state_machine: machines/m.asl.json
    source: { type: file, path: "${DATA:data/in.jsonl}" }
    sink: { type: stdout }
    dead_letter: { type: file, path: dead.jsonl }
    idempotency: { key: "$.id" }
    dedup: { type: memory, ttl: 90s }
runtime: { shards: 2, drain_timeout: 5s }
"#;

    /// One anchor named by many aliases expands past any real
    /// configuration: refused by what it expands to, counted without
    /// building it (a 10 KB text of 2,000 aliases to a 2,000-item anchor
    /// took 1 GB; ten times that aborted the process). A few aliases, as
    /// configurations use them, still load.
    #[test]
    fn aliases_that_expand_past_the_bound_are_refused_before_they_are_built() {
        let items = vec!["a"; 2_000].join(", ");
        let aliases = vec!["*x"; 2_000].join(", ");
        let fan_out = format!(
            "{MINIMAL}extra: &x [{items}]
more: [{aliases}]
"
        );
        assert!(fan_out.len() < 20_000);
        let e = Config::from_yaml(&fan_out, &|_| None).expect_err("refused");
        assert!(e.message.contains("once its YAML aliases are expanded"), "{e}");
        // An override's value is YAML too.
        let bomb = format!("[&x [{items}], {aliases}]");
        let overrides = [("EXPRESSWAY__RUNTIME__NOTE".to_string(), bomb)];
        let e = Config::from_yaml_with_overrides(MINIMAL, &|_| None, &overrides).expect_err("refused");
        assert!(e.message.contains("once its YAML aliases are expanded"), "{e}");

        let reused = "pipelines:\n  - name: a\n    state_machine: m.asl.json\n    source: { type: stdin }\n    \
                      sink: &out { type: stdout }\n    dead_letter: *out\n";
        let c = Config::from_yaml(reused, &|_| None).expect("a few aliases load");
        assert_eq!(c.pipelines.len(), 1);
    }

    /// Flow collections nested past the limit, or a text past the size
    /// limit, are refused before the YAML parser (whose scanner is
    /// quadratic in the nesting) sees them; brackets in quoted scalars and
    /// comments do not count, and what real configurations nest still
    /// parses.
    #[test]
    fn deep_flow_nesting_and_huge_texts_are_refused_unparsed() {
        let deep = format!("a: {}{}", "[".repeat(100_000), "]".repeat(100_000));
        // Our message, not the parser's ("recursion limit exceeded").
        let e = Config::from_yaml(&deep, &|_| None).expect_err("refused");
        assert!(e.message.contains("nested deeper than 64"), "{e}");
        let huge = format!("# {}\n{MINIMAL}", "x".repeat(MAX_CONFIG_BYTES));
        assert!(Config::from_yaml(&huge, &|_| None).expect_err("refused").message.contains("larger than"));
        let quoted =
            format!("{MINIMAL}# {brackets}\nextra: \"{brackets}\"\nmore: '{brackets}'\n", brackets = "[{".repeat(100));
        assert!(check_shape(&quoted).is_ok());
        // Brackets and apostrophes inside plain scalars are text.
        let plain = format!("{MINIMAL}{}", "note: it's a {b [c\n".repeat(100));
        assert!(check_shape(&plain).is_ok());
        assert!(check_shape(&format!("a: {}{}", "[".repeat(64), "]".repeat(64))).is_ok());
    }

    /// Two file sources on one checkpoint are refused, however it is named.
    #[test]
    fn two_file_sources_may_not_share_a_checkpoint() {
        let two = |second: &str| {
            format!(
                "pipelines:\n  - {{ name: a, state_machine: m.json, source: {{ type: file, path: in.jsonl }}, sink: {{ type: null }}, dead_letter: {{ type: null }} }}\n  - {{ name: b, state_machine: m.json, source: {second}, sink: {{ type: null }}, dead_letter: {{ type: null }} }}\n"
            )
        };
        for (second, shared) in [
            ("{ type: file, path: in.jsonl }", true),
            ("{ type: file, path: ./in.jsonl }", true),
            ("{ type: file, path: other.jsonl, checkpoint: in.jsonl.checkpoint }", true),
            ("{ type: file, path: in.jsonl, checkpoint: b.checkpoint }", false),
            ("{ type: stdin }", false),
        ] {
            let problems = Config::from_yaml(&two(second), &|_| None).unwrap().problems();
            let found = problems.iter().any(|p| p.at == "pipelines[1].source" && p.message.contains("checkpoint"));
            assert_eq!(found, shared, "{second}: {problems:?}");
        }
    }

    /// A name is written raw into log lines: a newline in it forged lines.
    #[test]
    fn pipeline_names_are_bounded_and_free_of_control_characters() {
        for (name, ok) in [("iot", true), ("iot readings", true), ("iot\nFORGED", false), ("iot\tx", false)] {
            let yaml = MINIMAL.replace("name: iot", &format!("name: {}", serde_json::to_string(name).unwrap()));
            let problems = Config::from_yaml(&yaml, &|_| None).unwrap().problems();
            assert_eq!(problems.iter().all(|p| p.at != "pipelines[0].name"), ok, "{name:?}: {problems:?}");
        }
        let long = MINIMAL.replace("name: iot", &format!("name: {}", "n".repeat(MAX_PIPELINE_NAME_CHARS + 1)));
        assert!(Config::from_yaml(&long, &|_| None).unwrap().problems().iter().any(|p| p.at == "pipelines[0].name"));
    }

    #[test]
    fn parses_with_defaults_durations_and_interpolation() {
        let c = Config::from_yaml(MINIMAL, &|_| None).unwrap();
        let p = &c.pipelines[0];
        assert_eq!(
            p.source,
            SourceConfig::File {
                path: "data/in.jsonl".into(),
                follow: false,
                checkpoint: None,
                rotate_wait: Duration::from_secs(5)
            }
        );
        assert_eq!(p.dedup, DedupConfig::Memory { ttl: Duration::from_secs(90), capacity: 1_000_000 });
        assert_eq!(c.runtime.drain_timeout, Duration::from_secs(5));
        assert_eq!(c.runtime.max_in_flight_per_shard, 1024);
        assert!(c.problems().is_empty());
        let c = Config::from_yaml(MINIMAL, &|k| (k == "DATA").then(|| "other.jsonl".to_string())).unwrap();
        assert_eq!(
            c.pipelines[0].source,
            SourceConfig::File {
                path: "other.jsonl".into(),
                follow: false,
                checkpoint: None,
                rotate_wait: Duration::from_secs(5)
            }
        );
    }

    #[test]
    fn aws_sources_sinks_and_dedup_parse_with_their_defaults() {
        let text = r#"
pipelines:
  - name: orders
    state_machine: m.asl.json
    source: { type: sqs, queue_url: "${Q:http://127.0.0.1:4566/000000000000/orders}" }
    sink: { type: sqs, queue_url: "http://x/out.fifo", message_group_id: $.deviceId }
    dead_letter: { type: null }
    dedup: { type: dynamodb, table: keys }
"#;
        let c = Config::from_yaml(text, &|_| None).unwrap();
        let p = &c.pipelines[0];
        assert_eq!(
            p.source,
            SourceConfig::Sqs {
                queue_url: "http://127.0.0.1:4566/000000000000/orders".into(),
                pollers: 4,
                visibility_timeout: Duration::from_secs(30),
                wait_time: Duration::from_secs(20),
            }
        );
        assert_eq!(
            p.sink,
            SinkConfig::Sqs { queue_url: "http://x/out.fifo".into(), message_group_id: Some("$.deviceId".into()) }
        );
        assert_eq!(
            p.dedup,
            DedupConfig::Dynamodb {
                table: "keys".into(),
                ttl: Duration::from_secs(600),
                ttl_attribute: "expires_at".into()
            }
        );
        assert_eq!(c.aws.max_concurrent_calls, 1024, "absent aws section: the defaults, not zero");
        let c = Config::from_yaml(
            &format!("{text}aws: {{ region: eu-west-1, endpoints: {{ sqs: http://q }} }}\n"),
            &|_| None,
        )
        .unwrap();
        assert_eq!(c.aws.region.as_deref(), Some("eu-west-1"));
        assert_eq!(c.aws.endpoints.get("sqs").map(String::as_str), Some("http://q"));
        assert_eq!(c.aws.max_concurrent_calls, 1024);
    }

    #[test]
    fn unknown_fields_and_types_are_rejected() {
        assert!(
            Config::from_yaml(
                &MINIMAL.replace("follow", "folow").replace("type: file, path", "type: file, folow: 1, path"),
                &|_| None
            )
            .is_err()
        );
        assert!(Config::from_yaml(&MINIMAL.replace("type: stdout", "type: kafkaa"), &|_| None).is_err());
        assert!(Config::from_yaml(&MINIMAL.replace("90s", "ninety"), &|_| None).is_err());
        assert!(Config::from_yaml("pipelines: []\nbogus: 1", &|_| None).is_err());
    }

    #[test]
    fn problems_are_all_reported() {
        // (Results and dead letters in one file are checked with the files'
        // real paths, by `validate --config`: connectors/expressway/tests/run.rs.)
        let text = MINIMAL.replace("$.id", "id").replace("ttl: 90s }", "ttl: 90s, capacity: 0 }");
        let c = Config::from_yaml(&text, &|_| None).unwrap();
        let problems = c.problems();
        assert_eq!(problems.len(), 2, "{problems:?}");
    }

    #[test]
    fn several_sink_writers_need_sinks_each_can_open() {
        let c = Config::from_yaml(MINIMAL, &|_| None).unwrap();
        assert_eq!(c.runtime.sink_writers, 1, "one by default");
        // stdout and a file: one writer each.
        let text = MINIMAL.replace("drain_timeout: 5s", "drain_timeout: 5s, sink_writers: 2");
        let problems = Config::from_yaml(&text, &|_| None).unwrap().problems();
        let at: Vec<&str> = problems.iter().map(|p| p.at.as_str()).collect();
        assert_eq!(at, ["pipelines[0] (iot).sink", "pipelines[0] (iot).dead_letter"], "{problems:?}");
        assert!(problems[0].message.contains("sink_writers is 2"), "{problems:?}");
        let text = text
            .replace("sink: { type: stdout }", "sink: { type: kafka, brokers: \"b:9092\", topic: out }")
            .replace("{ type: file, path: dead.jsonl }", "{ type: null }");
        let c = Config::from_yaml(&text, &|_| None).unwrap();
        assert_eq!((c.runtime.sink_writers, c.problems().len()), (2, 0), "{:?}", c.problems());
        // With one shard only one writer runs: a file is fine.
        let one_shard =
            MINIMAL.replace("shards: 2, drain_timeout: 5s", "shards: 1, drain_timeout: 5s, sink_writers: 2");
        assert!(Config::from_yaml(&one_shard, &|_| None).unwrap().problems().is_empty());
        for bad in ["sink_writers: 0", "sink_writers: 257", "shards: 1025"] {
            let text = MINIMAL.replace("shards: 2, drain_timeout: 5s", &format!("shards: 2, drain_timeout: 5s, {bad}"));
            let text = if bad.starts_with("shards") { text.replace("shards: 2, ", "") } else { text };
            let problems = Config::from_yaml(&text, &|_| None).unwrap().problems();
            let at = format!("runtime.{}", bad.split(':').next().unwrap_or_default());
            assert!(problems.iter().any(|p| p.at == at), "{bad}: {problems:?}");
        }
    }

    #[test]
    fn the_work_per_execution_is_bounded() {
        let c = Config::from_yaml(MINIMAL, &|_| None).unwrap();
        assert_eq!(c.runtime.max_work_per_execution, expressway_engine::vm::WORK_PER_EXECUTION);
        let with = |value: &str| {
            let text =
                MINIMAL.replace("drain_timeout: 5s", &format!("drain_timeout: 5s, max_work_per_execution: {value}"));
            Config::from_yaml(&text, &|_| None).unwrap()
        };
        let c = with("100000000");
        assert_eq!((c.runtime.max_work_per_execution, c.problems().len()), (100_000_000, 0));
        for bad in ["0", "2000000001"] {
            let problems = with(bad).problems();
            assert!(problems.iter().any(|p| p.at == "runtime.max_work_per_execution"), "{bad}: {problems:?}");
        }
    }

    #[test]
    fn kafka_consumers_and_sqs_pollers_are_bounded() {
        let kafka = |extra: &str| {
            MINIMAL.replace(
                "source: { type: file, path: \"${DATA:data/in.jsonl}\" }",
                &format!("source: {{ type: kafka, brokers: \"b:9092\", group: g, topics: [t]{extra} }}"),
            )
        };
        let c = Config::from_yaml(&kafka(""), &|_| None).unwrap();
        assert!(matches!(c.pipelines[0].source, SourceConfig::Kafka { consumers: 1, .. }), "one by default");
        assert!(c.problems().is_empty(), "{:?}", c.problems());
        // With an idempotency key (MINIMAL has one) too: a twin of a running
        // execution is held until it is done, whichever consumer read it.
        let c = Config::from_yaml(&kafka(", consumers: 2"), &|_| None).unwrap();
        assert!(c.problems().is_empty(), "{:?}", c.problems());
        let kafka = |extra: &str| kafka(extra).replace("    idempotency: { key: \"$.id\" }\n", "");
        let c = Config::from_yaml(&kafka(", consumers: 4"), &|_| None).unwrap();
        assert!(matches!(c.pipelines[0].source, SourceConfig::Kafka { consumers: 4, .. }));
        assert!(c.problems().is_empty(), "{:?}", c.problems());
        for bad in [", consumers: 0", ", consumers: 65"] {
            let problems = Config::from_yaml(&kafka(bad), &|_| None).unwrap().problems();
            assert!(problems.iter().any(|p| p.at == "pipelines[0] (iot).source.consumers"), "{bad}: {problems:?}");
        }
        let sqs = |pollers: &str| {
            MINIMAL.replace(
                "source: { type: file, path: \"${DATA:data/in.jsonl}\" }",
                &format!("source: {{ type: sqs, queue_url: \"http://q/in\", pollers: {pollers} }}"),
            )
        };
        assert!(Config::from_yaml(&sqs("64"), &|_| None).unwrap().problems().is_empty());
        for bad in ["0", "1000000"] {
            let problems = Config::from_yaml(&sqs(bad), &|_| None).unwrap().problems();
            assert!(problems.iter().any(|p| p.at == "pipelines[0] (iot).source.pollers"), "{bad}: {problems:?}");
        }
    }

    /// Every number that sizes memory, threads, permits or a service call
    /// is refused past its bound, naming its field; `u64::MAX` wrapped the
    /// line window (every record "oversized"), panicked tokio's semaphore
    /// or sent SQS a negative visibility timeout.
    #[test]
    fn numbers_past_their_bounds_are_refused_naming_the_field() {
        let huge = u64::MAX.to_string();
        let cases = [
            ("runtime: { shards: 2, drain_timeout: 5s", "max_in_flight_per_shard", "runtime.max_in_flight_per_shard"),
            ("runtime: { shards: 2, drain_timeout: 5s", "max_payload_bytes", "runtime.max_payload_bytes"),
        ];
        for (anchor, field, at) in cases {
            for bad in ["0", huge.as_str()] {
                let text = MINIMAL.replace(anchor, &format!("{anchor}, {field}: {bad}"));
                let problems = Config::from_yaml(&text, &|_| None).unwrap().problems();
                assert!(problems.iter().any(|p| p.at == at), "{field}: {bad}: {problems:?}");
            }
        }
        for bad in ["0", huge.as_str()] {
            let text = format!("{MINIMAL}aws: {{ max_concurrent_calls: {bad} }}\n");
            let problems = Config::from_yaml(&text, &|_| None).unwrap().problems();
            assert!(problems.iter().any(|p| p.at == "aws.max_concurrent_calls"), "{bad}: {problems:?}");
        }
        let text = MINIMAL.replace("ttl: 90s }", &format!("ttl: 90s, capacity: {huge} }}"));
        let problems = Config::from_yaml(&text, &|_| None).unwrap().problems();
        assert!(problems.iter().any(|p| p.at == "pipelines[0] (iot).dedup.capacity"), "{problems:?}");
        let sqs = |visibility: &str| {
            MINIMAL.replace(
                "source: { type: file, path: \"${DATA:data/in.jsonl}\" }",
                &format!("source: {{ type: sqs, queue_url: \"http://q/in\", visibility_timeout: {visibility} }}"),
            )
        };
        assert!(Config::from_yaml(&sqs("12h"), &|_| None).unwrap().problems().is_empty());
        let problems = Config::from_yaml(&sqs("13h"), &|_| None).unwrap().problems();
        assert!(problems.iter().any(|p| p.at == "pipelines[0] (iot).source.visibility_timeout"), "{problems:?}");
        let file = |wait: &str| {
            MINIMAL.replace(
                "source: { type: file, path: \"${DATA:data/in.jsonl}\" }",
                &format!("source: {{ type: file, path: in.jsonl, follow: true, rotate_wait: {wait} }}"),
            )
        };
        let c = Config::from_yaml(&file("250ms"), &|_| None).unwrap();
        assert!(c.problems().is_empty());
        assert!(
            matches!(c.pipelines[0].source, SourceConfig::File { rotate_wait, .. } if rotate_wait.as_millis() == 250)
        );
        let problems = Config::from_yaml(&file("2h"), &|_| None).unwrap().problems();
        assert!(problems.iter().any(|p| p.at == "pipelines[0] (iot).source.rotate_wait"), "{problems:?}");
        assert!(Config::from_yaml(&file("soon"), &|_| None).is_err(), "not a duration");
        // The largest accepted values are accepted.
        let text = MINIMAL.replace(
            "runtime: { shards: 2, drain_timeout: 5s",
            &format!(
                "aws: {{ max_concurrent_calls: {MAX_CONCURRENT_CALLS} }}\nruntime: {{ shards: 2, drain_timeout: 5s, \
                 max_in_flight_per_shard: {MAX_IN_FLIGHT_PER_SHARD}, max_payload_bytes: {MAX_RECORD_BYTES}"
            ),
        );
        let c = Config::from_yaml(&text, &|_| None).unwrap();
        assert!(c.problems().is_empty(), "{:?}", c.problems());
    }

    #[test]
    fn bad_allowed_endpoints_are_problems_naming_the_entry() {
        let text = format!(
            "{MINIMAL}http: {{ allowed_endpoints: [\"https://api.example.com/v1\", \"https://u:p@api.example.com/\", \"https://api.example.com/?k=1\"] }}\n"
        );
        let c = Config::from_yaml(&text, &|_| None).unwrap();
        let problems = c.problems();
        let at: Vec<&str> = problems.iter().map(|p| p.at.as_str()).collect();
        assert_eq!(at, ["http.allowed_endpoints[1]", "http.allowed_endpoints[2]"], "{problems:?}");
        assert!(problems[0].message.contains("user information"), "{problems:?}");
        assert!(problems[1].message.contains("query"), "{problems:?}");
    }

    #[test]
    fn environment_overrides_set_fields() {
        let o = |k: &str, v: &str| (k.to_string(), v.to_string());
        let c = Config::from_yaml_with_overrides(
            MINIMAL,
            &|_| None,
            &[
                o("EXPRESSWAY__RUNTIME__SHARDS", "7"),
                o("EXPRESSWAY__PIPELINES__0__SOURCE__PATH", "x.jsonl"),
                o("OTHER", "1"),
            ],
        )
        .unwrap();
        assert_eq!(c.runtime.shards, 7);
        assert_eq!(
            c.pipelines[0].source,
            SourceConfig::File {
                path: "x.jsonl".into(),
                follow: false,
                checkpoint: None,
                rotate_wait: Duration::from_secs(5)
            }
        );
        let bad = Config::from_yaml_with_overrides(MINIMAL, &|_| None, &[o("EXPRESSWAY__PIPELINES__9__NAME", "x")]);
        assert!(bad.unwrap_err().message.contains("no item 9"));
    }

    #[test]
    fn missing_variable_is_named() {
        let err = interpolate("${NOPE}", "x.y", &|_| None).unwrap_err();
        assert!(err.message.contains("NOPE") && err.at == "x.y", "{err}");
        assert_eq!(interpolate("${A}-${B:x}", "a", &|k| (k == "A").then(|| "1".into())).unwrap(), "1-x");
        let err = Config::from_yaml(&MINIMAL.replace("dead.jsonl", "\"${EXPRESSWAY_TEST_UNSET_DL}\""), &|_| None)
            .unwrap_err();
        assert!(err.message.contains("EXPRESSWAY_TEST_UNSET_DL"), "{err}");
        assert_eq!(err.at, "pipelines[0].dead_letter.path");
    }

    /// An environment of its own for each test: no process-wide `set_var`.
    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: std::collections::HashMap<String, String> =
            vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn values_cannot_inject_structure() {
        let text = "a: ${V}\nb: x-${V}-y\nc: \"${V}\"\nlist: [\"${V}\", z]\nseq:\n  - ${V}\nanchor: &an 1\n";
        for injected in [
            "x\n  extra: 1",
            "x\nextra: 1",
            "[a, b]",
            "{a: 1}",
            "*an",
            "!!int 5",
            "&b 1",
            "- a\n- b",
            "x # c",
            "---\nq: 1",
        ] {
            let e = env(&[("V", injected)]);
            let mut doc: serde_norway::Value = serde_norway::from_str(text).unwrap();
            substitute(&mut doc, "", &e).unwrap();
            let expected: serde_norway::Value = serde_norway::from_str(&format!(
                "a: {0}\nb: {1}\nc: {0}\nlist: [{0}, z]\nseq:\n  - {0}\nanchor: 1\n",
                serde_json::to_string(injected).unwrap(),
                serde_json::to_string(&format!("x-{injected}-y")).unwrap(),
            ))
            .unwrap();
            assert_eq!(doc, expected, "injecting {injected:?}");
        }
    }

    #[test]
    fn injection_into_a_config_fails_on_the_field_not_in_a_new_key() {
        let text = MINIMAL.replace(
            "runtime: { shards: 2, drain_timeout: 5s }",
            "runtime:\n  shards: ${EXPRESSWAY_TEST_SHARDS_INJ}\n",
        );
        for injected in ["4\n  bogus: 1", "4\nbogus: 1", "[4, 5]", "{a: 1}", "!!int 4", "*a"] {
            let err = Config::from_yaml(&text, &env(&[("EXPRESSWAY_TEST_SHARDS_INJ", injected)])).unwrap_err();
            assert!(err.message.contains("runtime.shards"), "{injected:?}: {err}");
            assert!(err.message.contains(&format!("'{injected}' is not a valid usize")), "{injected:?}: {err}");
            assert!(!err.message.contains("unknown field"), "{err}");
        }
        // A path takes the literal text, new lines and all.
        let c = Config::from_yaml(MINIMAL, &env(&[("DATA", "in.jsonl\n    follow: true")])).unwrap();
        assert_eq!(
            c.pipelines[0].source,
            SourceConfig::File {
                path: "in.jsonl\n    follow: true".into(),
                follow: false,
                checkpoint: None,
                rotate_wait: Duration::from_secs(5)
            }
        );
    }

    #[test]
    fn references_in_comments_are_ignored() {
        let text = format!("# set ${{EXPRESSWAY_TEST_IN_COMMENT}} to taste\n{MINIMAL}  # ${{ALSO_UNSET}}\n");
        let c = Config::from_yaml(&text, &|_| None).unwrap();
        assert_eq!(c.runtime.shards, 2);
        let text = MINIMAL.replace(
            "runtime: { shards: 2, drain_timeout: 5s }",
            "runtime:\n  shards: 2 # or ${EXPRESSWAY_TEST_COMMENTED}\n",
        );
        assert_eq!(Config::from_yaml(&text, &|_| None).unwrap().runtime.shards, 2);
    }

    #[test]
    fn numbers_bools_and_defaults_come_through_whole_references() {
        let text = MINIMAL
            .replace("runtime: { shards: 2, drain_timeout: 5s }", "runtime:\n  shards: ${EXPRESSWAY_TEST_SHARDS:2}\n")
            .replacen("type: file, path:", "type: file, follow: \"${EXPRESSWAY_TEST_FOLLOW:false}\", path:", 1)
            .replace("ttl: 90s", "ttl: \"${EXPRESSWAY_TEST_TTL:90s}\", capacity: \"${EXPRESSWAY_TEST_CAP:5}\"");
        let c = Config::from_yaml(&text, &|_| None).unwrap();
        assert_eq!(c.runtime.shards, 2);
        assert_eq!(c.pipelines[0].dedup, DedupConfig::Memory { ttl: Duration::from_secs(90), capacity: 5 });
        let e = env(&[
            ("EXPRESSWAY_TEST_SHARDS", "4"),
            ("EXPRESSWAY_TEST_FOLLOW", "true"),
            ("EXPRESSWAY_TEST_TTL", "2m"),
            ("EXPRESSWAY_TEST_CAP", "7"),
        ]);
        let c = Config::from_yaml(&text, &e).unwrap();
        assert_eq!(c.runtime.shards, 4);
        assert_eq!(c.pipelines[0].dedup, DedupConfig::Memory { ttl: Duration::from_secs(120), capacity: 7 });
        assert!(matches!(c.pipelines[0].source, SourceConfig::File { follow: true, .. }));
        let err = Config::from_yaml(&text, &env(&[("EXPRESSWAY_TEST_SHARDS", "four")])).unwrap_err();
        assert!(err.message.contains("shards"), "{err}");
    }

    #[test]
    fn quoted_and_embedded_references_stay_strings() {
        let text = r#"
a: "${EXPRESSWAY_TEST_N}"
b: '${EXPRESSWAY_TEST_N}'
c: redis://${EXPRESSWAY_TEST_HOST:localhost}:6379/
d: ${EXPRESSWAY_TEST_N}
e: { k: "${EXPRESSWAY_TEST_N}" }
f: ${EXPRESSWAY_TEST_HOST:h}/${EXPRESSWAY_TEST_N}
"#;
        let mut doc: serde_norway::Value = serde_norway::from_str(text).unwrap();
        let e = env(&[("EXPRESSWAY_TEST_N", "65536")]);
        substitute(&mut doc, "", &e).unwrap();
        let expected: serde_norway::Value = serde_norway::from_str(
            "{a: '65536', b: '65536', c: 'redis://localhost:6379/', d: '65536', e: { k: '65536' }, f: h/65536}",
        )
        .unwrap();
        assert_eq!(doc, expected);
    }

    #[test]
    fn every_example_loads() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "yaml") {
                let text = std::fs::read_to_string(&path).unwrap();
                let c = Config::from_yaml(&text, &|_| None).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                assert!(c.problems().is_empty(), "{}: {:?}", path.display(), c.problems());
                n += 1;
            }
        }
        assert!(n >= 4, "found {n} examples");
        // The Kubernetes ConfigMap's pipeline, with the pod's environment.
        let k8s = std::fs::read_to_string(dir.join("../../deploy/k8s/expressway.yaml")).unwrap();
        let map: serde_norway::Value = serde_norway::from_str(k8s.split("\n---\n").next().unwrap()).unwrap();
        let text = map["data"]["pipeline.yaml"].as_str().expect("the ConfigMap holds pipeline.yaml");
        let e = env(&[("KAFKA_BROKERS", "kafka:9092"), ("POD_NAME", "expressway-0"), ("REDIS_URL", "redis://r:6379/")]);
        let c = Config::from_yaml(text, &e).unwrap();
        assert_eq!(c.pipelines.len(), 1);
        assert!(Config::from_yaml(text, &|_| None).unwrap_err().message.contains("KAFKA_BROKERS"));
    }
}
