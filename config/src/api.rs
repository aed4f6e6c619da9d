//! The `api:` section: the Step Functions API server (`expressway serve`,
//! or beside the pipelines of `expressway run`).

use crate::pipeline::{ConfigProblem, human_duration, scalar};
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// `host:port`; loopback unless the operator binds elsewhere.
    #[serde(default = "default_address")]
    pub address: String,
    /// Where state machines created through the API are kept across
    /// restarts; in memory only when absent.
    #[serde(default)]
    pub state_dir: Option<PathBuf>,
    /// The region and account in the ARNs the API hands out.
    #[serde(default = "default_region")]
    pub region: String,
    #[serde(default = "default_account")]
    pub account: String,
    /// When set, every request must be SigV4-signed with this key; when
    /// absent any key is accepted, and only on a loopback address.
    #[serde(default)]
    pub credentials: Option<ApiCredentials>,
    /// A Step Functions Local `MockConfigFile.json`: an execution started on
    /// `stateMachineArn#TestCaseName` answers its tasks from that test case.
    #[serde(default)]
    pub mock_config: Option<PathBuf>,
    /// Finished executions kept for Describe/List/GetExecutionHistory (AWS
    /// keeps none for Express): the most recent ones, at most this many …
    #[serde(default = "default_kept", deserialize_with = "scalar")]
    pub executions_kept: usize,
    /// … and at most this many bytes of their inputs and outputs.
    #[serde(default = "default_kept_bytes", deserialize_with = "scalar")]
    pub executions_kept_bytes: usize,
    /// Executions running at once (started, not ended: inline, queued,
    /// parked on a task or a Wait); a start past it is refused
    /// (`ExecutionLimitExceeded`, `ThrottlingException` for
    /// StartSyncExecution) …
    #[serde(default = "default_running", deserialize_with = "scalar")]
    pub executions_running: usize,
    /// … and what their inputs may take parsed, estimated at 32 bytes per
    /// byte of input plus 16 KiB each.
    #[serde(default = "default_running_bytes", deserialize_with = "scalar")]
    pub executions_running_bytes: usize,
    /// Memory the state machines the API keeps may take (the pipelines'
    /// too), their definitions and compiled programs together (estimated
    /// from their size and their JSONata); a create or update past it is
    /// refused with `ServiceQuotaExceededException`.
    #[serde(default = "default_definitions_bytes", deserialize_with = "scalar")]
    pub definitions_kept_bytes: usize,
    /// Threads running executions that wait (tasks, Wait states, retries).
    #[serde(default = "default_threads", deserialize_with = "scalar")]
    pub threads: usize,
    /// Connections served at once; more are closed when accepted.
    #[serde(default = "default_connections", deserialize_with = "scalar")]
    pub max_connections: usize,
    /// How long a connection may stay idle between requests.
    #[serde(default = "default_idle", deserialize_with = "human_duration")]
    pub idle_timeout: Duration,
    /// The web console, on this same port under `/console/`.
    #[serde(default)]
    pub console: ConsoleConfig,
}

/// `api.console`: a read-only page of the pipelines, their machines' graphs
/// with live per-state counts and their recent failures.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConsoleConfig {
    #[serde(default)]
    pub enabled: bool,
    /// Whether the page may start executions ("try it").
    #[serde(default)]
    pub allow_start: bool,
    /// Host names it is reached by besides loopback ones (an authenticating
    /// proxy's); every request's `Host` must be one of them.
    #[serde(default)]
    pub hosts: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ApiCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
}

fn default_address() -> String {
    "127.0.0.1:8083".into()
}
fn default_region() -> String {
    "us-east-1".into()
}
fn default_account() -> String {
    "123456789012".into()
}
fn default_kept() -> usize {
    10_000
}
fn default_kept_bytes() -> usize {
    64 << 20
}
fn default_running() -> usize {
    10_000
}
/// The most `executions_running` may be.
pub const MAX_EXECUTIONS_RUNNING: usize = 1_000_000;
fn default_running_bytes() -> usize {
    1 << 30
}
/// The most `executions_running_bytes` may be.
pub const MAX_EXECUTIONS_RUNNING_BYTES: usize = 64 << 30;
fn default_definitions_bytes() -> usize {
    1 << 30
}
/// The most `definitions_kept_bytes` may be.
pub const MAX_DEFINITIONS_KEPT_BYTES: usize = 64 << 30;
/// The most threads the API may run executions on.
pub const MAX_THREADS: usize = 1024;
/// The most connections it may serve at once.
pub const MAX_CONNECTIONS: usize = 1_000_000;
fn default_threads() -> usize {
    2
}
fn default_connections() -> usize {
    10_240
}
fn default_idle() -> Duration {
    Duration::from_secs(60)
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            address: default_address(),
            state_dir: None,
            region: default_region(),
            account: default_account(),
            credentials: None,
            mock_config: None,
            executions_kept: default_kept(),
            executions_kept_bytes: default_kept_bytes(),
            definitions_kept_bytes: default_definitions_bytes(),
            executions_running: default_running(),
            executions_running_bytes: default_running_bytes(),
            threads: default_threads(),
            max_connections: default_connections(),
            idle_timeout: default_idle(),
            console: ConsoleConfig::default(),
        }
    }
}

impl ApiConfig {
    pub fn problems(&self) -> Vec<ConfigProblem> {
        let mut out = Vec::new();
        let problem = |at: &str, message: String| ConfigProblem { at: format!("api.{at}"), message };
        match self.address.parse::<std::net::SocketAddr>() {
            Err(_) => out.push(problem("address", format!("'{}' is not a host:port socket address", self.address))),
            Ok(a) if !a.ip().is_loopback() && self.credentials.is_none() => out.push(problem(
                "credentials",
                format!(
                    "the API listens on {a}, beyond loopback: set api.credentials so requests must be signed \
                     with that key"
                ),
            )),
            Ok(_) => {}
        }
        if self.console.enabled
            && let Ok(a) = self.address.parse::<std::net::SocketAddr>()
            && !a.ip().is_loopback()
        {
            out.push(problem(
                "console.enabled",
                format!(
                    "the console has no sign-in of its own and the API listens on {a}: bind api.address to \
                     loopback and reach the console through an SSH tunnel or an authenticating proxy \
                     (listed in api.console.hosts)"
                ),
            ));
        }
        if self.region.is_empty()
            || !self.region.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            out.push(problem("region", format!("'{}' is not a region name", self.region)));
        }
        if self.account.len() != 12 || !self.account.chars().all(|c| c.is_ascii_digit()) {
            out.push(problem("account", format!("'{}' is not a 12-digit account id", self.account)));
        }
        if let Some(c) = &self.credentials
            && (c.access_key_id.is_empty() || c.secret_access_key.is_empty())
        {
            out.push(problem("credentials", "access_key_id and secret_access_key must not be empty".into()));
        }
        if !(1 << 20..=MAX_DEFINITIONS_KEPT_BYTES).contains(&self.definitions_kept_bytes) {
            out.push(problem(
                "definitions_kept_bytes",
                format!("must be from 1 MiB ({}) to 64 GiB ({MAX_DEFINITIONS_KEPT_BYTES})", 1 << 20),
            ));
        }
        // Each thread is spawned at start and each connection is a permit of
        // a semaphore that holds at most 2^61: bounded, so a typo cannot
        // hang the start or panic it.
        if !(1 << 20..=MAX_EXECUTIONS_RUNNING_BYTES).contains(&self.executions_running_bytes) {
            out.push(problem(
                "executions_running_bytes",
                format!("must be from 1 MiB ({}) to 64 GiB ({MAX_EXECUTIONS_RUNNING_BYTES})", 1 << 20),
            ));
        }
        for (at, n, max) in [
            ("threads", self.threads, MAX_THREADS),
            ("max_connections", self.max_connections, MAX_CONNECTIONS),
            ("executions_running", self.executions_running, MAX_EXECUTIONS_RUNNING),
        ] {
            if !(1..=max).contains(&n) {
                out.push(problem(at, format!("must be from 1 to {max}")));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Threads are spawned at start and connections are semaphore permits:
    /// 100,000 threads hung the start and `u64::MAX` connections panicked it.
    #[test]
    fn threads_and_connections_are_bounded() {
        for (field, bad) in [
            ("threads", "0"),
            ("threads", "100000"),
            ("max_connections", "0"),
            ("max_connections", "18446744073709551615"),
            ("executions_running", "0"),
            ("executions_running", "1000001"),
            ("executions_running_bytes", "1000"),
            ("executions_running_bytes", "18446744073709551615"),
        ] {
            let api: ApiConfig = serde_norway::from_str(&format!("{{{field}: {bad}}}")).expect("parses");
            let problems = api.problems();
            assert!(problems.iter().any(|p| p.at == format!("api.{field}")), "{field}: {bad}: {problems:?}");
        }
        let api: ApiConfig =
            serde_norway::from_str(&format!("{{threads: {MAX_THREADS}, max_connections: {MAX_CONNECTIONS}}}"))
                .expect("parses");
        assert!(api.problems().is_empty(), "{:?}", api.problems());
    }

    #[test]
    fn the_console_is_off_by_default_and_refused_beyond_loopback() {
        let api: ApiConfig = serde_norway::from_str("{}").expect("parses");
        assert!(!api.console.enabled && !api.console.allow_start);
        let api: ApiConfig =
            serde_norway::from_str("{console: {enabled: true, allow_start: true, hosts: [console.internal]}}")
                .expect("parses");
        assert!(api.console.enabled && api.console.allow_start && api.problems().is_empty());
        let remote = ApiConfig {
            address: "0.0.0.0:8083".into(),
            credentials: Some(ApiCredentials { access_key_id: "k".into(), secret_access_key: "s".into() }),
            ..api
        };
        let problems = remote.problems();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].at, "api.console.enabled");
    }
}
