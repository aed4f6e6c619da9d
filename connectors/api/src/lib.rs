//! The AWS Step Functions API over Expressway's engine, so `aws
//! stepfunctions`, boto3 and the SDKs drive it: state machines with their
//! versions, aliases and tags ([`machines`], kept in [`registry`]),
//! executions ([`run`], kept in [`executions`]), definition validation
//! ([`validate`]), one state on its own ([`test_state`]), on the AWS JSON 1.0 protocol ([`wire`]) served by
//! [`server`], with SigV4 checked by [`auth`] when credentials are set; and
//! the web [`console`] beside it when configured.
//!
//! Executions that never wait run inline on the request's thread when one
//! of [`Api::allow_inline`]'s slots is free (one HTTP thread always stays
//! free of executions, so List/Describe/Stop answer whatever runs;
//! MockConfigFile test cases and TestState run elsewhere when no slot is); the
//! others, and every StartExecution, run on the runtime's
//! [`expressway_runtime::pool::Pool`]. [`running`] bounds what runs at once.

#![forbid(unsafe_code)]

pub mod arn;
pub mod auth;
pub mod body;
pub mod console;
pub mod executions;
pub mod machines;
pub mod registry;
pub mod run;
pub mod running;
pub mod server;
pub mod test_state;
pub mod validate;
pub mod wire;

use arn::Partition;
use executions::Store;
use expressway_config::api::ApiConfig;
use expressway_runtime::pool::Pool;
use expressway_runtime::{LocalExecutions, TaskService};
use registry::{Machine, Registry, Revision};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard, Weak};
use wire::{ApiError, ErrorKind, Fields, Reply};

/// Makes the task service the first time an execution needs one (the AWS
/// clients are not built for machines that never call a task).
pub type TasksFactory = Box<dyn Fn() -> Result<Arc<dyn TaskService>, String> + Send + Sync>;

pub struct Api {
    pub partition: Partition,
    registry: RwLock<Registry>,
    executions: Mutex<Store>,
    pool: Pool,
    running: Arc<running::Running>,
    /// Request threads that may run an execution inline now.
    inline_slots: std::sync::atomic::AtomicUsize,
    /// Runs handed to Tokio's blocking threads (TestState, MockConfigFile
    /// cases) at once: as many as the pool's threads. Tokio would take 512,
    /// each with an execution's memory (24 TestStates of a 240 MB JSONata
    /// array aborted the server under an 8 GB limit).
    blocking_runs: Arc<tokio::sync::Semaphore>,
    tasks: OnceLock<Result<Arc<dyn TaskService>, String>>,
    make_tasks: TasksFactory,
    mock_config: Option<Value>,
    seq: AtomicU64,
    console: OnceLock<console::Console>,
}

/// A pipeline's machine, shown through the API under the pipeline's name.
pub struct ConfiguredMachine {
    pub name: String,
    pub definition: String,
    pub program: Arc<expressway_engine::Program>,
    pub express: bool,
}

impl Api {
    pub fn new(
        config: &ApiConfig,
        configured: Vec<ConfiguredMachine>,
        make_tasks: TasksFactory,
    ) -> Result<Api, String> {
        let partition = Partition { region: config.region.clone(), account: config.account.clone() };
        let mut registry = Registry::new(partition.clone(), config.state_dir.clone(), config.definitions_kept_bytes);
        let loaded = registry.load()?;
        if loaded > 0 {
            tracing::info!(state_machines = loaded, "state machines read back from the API's state_dir");
        }
        let now = expressway_runtime::clock::wall_ms();
        for c in configured {
            let revision = Revision {
                definition: c.definition.into(),
                program: c.program,
                revision_id: registry::revision_id(),
                role_arn: format!("arn:aws:iam::{}:role/expressway", config.account),
            };
            registry.insert(Machine {
                name: c.name,
                express: c.express,
                created_ms: now,
                updated_ms: now,
                latest: revision,
                description: None,
                logging: serde_json::json!({"level": "OFF", "includeExecutionData": false}),
                tracing: serde_json::json!({"enabled": false}),
                tags: BTreeMap::new(),
                versions: BTreeMap::new(),
                next_version: 1,
                aliases: BTreeMap::new(),
                from_config: true,
            });
        }
        let mock_config = match &config.mock_config {
            None => None,
            Some(path) => {
                let text =
                    expressway_config::files::read_text_at_most(path, expressway_config::files::MAX_SIDE_FILE_BYTES)
                        .map_err(|e| format!("reading {}: {e}", path.display()))?;
                Some(serde_json::from_str(&text).map_err(|e| format!("{} is not JSON: {e}", path.display()))?)
            }
        };
        let pool = Pool::start(config.threads, config.executions_running, Arc::new(expressway_runtime::SystemClock))
            .map_err(|e| format!("starting the API's execution threads: {e}"))?;
        Ok(Api {
            partition,
            registry: RwLock::new(registry),
            executions: Mutex::new(Store::new(config.executions_kept, config.executions_kept_bytes)),
            pool,
            running: running::Running::new(config.executions_running, config.executions_running_bytes),
            inline_slots: std::sync::atomic::AtomicUsize::new(0),
            blocking_runs: Arc::new(tokio::sync::Semaphore::new(config.threads.max(1))),
            tasks: OnceLock::new(),
            make_tasks,
            mock_config,
            seq: AtomicU64::new(0),
            console: OnceLock::new(),
        })
    }

    /// Let `n` request threads at a time run an execution that never waits
    /// inline (the server runs one thread more than that).
    pub fn allow_inline(&self, n: usize) {
        self.inline_slots.store(n, Ordering::Release);
    }

    /// Serve the web console beside the API (once; later calls are ignored).
    pub fn open_console(&self, console: console::Console) {
        let _ = self.console.set(console);
    }

    pub fn console(&self) -> Option<&console::Console> {
        self.console.get()
    }

    fn read_registry(&self) -> RwLockReadGuard<'_, Registry> {
        self.registry.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write_registry(&self) -> RwLockWriteGuard<'_, Registry> {
        self.registry.write().unwrap_or_else(|p| p.into_inner())
    }

    fn executions(&self) -> MutexGuard<'_, Store> {
        self.executions.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn tasks(&self) -> Result<Arc<dyn TaskService>, String> {
        self.tasks.get_or_init(|| (self.make_tasks)()).clone()
    }

    /// A fresh UUID (execution names and ids).
    fn uuid(&self) -> String {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        let now = expressway_runtime::clock::wall_ms() as u64;
        expressway_engine::intrinsics::uuid_v4(now.rotate_left(17) ^ n, n.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ now)
    }

    /// A number in 0..100 to route an alias by weight.
    fn pick(&self) -> u32 {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        (n.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 33) as u32 % 100
    }

    /// Answer one operation but StartSyncExecution, whose answer
    /// [`Api::respond`] writes straight to bytes.
    async fn call(self: &Arc<Self>, operation: &str, body: &serde_json::Map<String, Value>) -> Reply {
        let f = Fields(body);
        let api = self.as_ref();
        match operation {
            "CreateStateMachine" => machines::create(api, f),
            "DescribeStateMachine" => machines::describe(api, f),
            "ListStateMachines" => machines::list(api, f),
            "UpdateStateMachine" => machines::update(api, f),
            "DeleteStateMachine" => machines::delete(api, f),
            "DescribeStateMachineForExecution" => machines::describe_for_execution(api, f),
            "PublishStateMachineVersion" => machines::publish_version(api, f),
            "ListStateMachineVersions" => machines::list_versions(api, f),
            "DeleteStateMachineVersion" => machines::delete_version(api, f),
            "CreateStateMachineAlias" => machines::create_alias(api, f),
            "DescribeStateMachineAlias" => machines::describe_alias(api, f),
            "ListStateMachineAliases" => machines::list_aliases(api, f),
            "UpdateStateMachineAlias" => machines::update_alias(api, f),
            "DeleteStateMachineAlias" => machines::delete_alias(api, f),
            "TagResource" => machines::tag(api, f),
            "UntagResource" => machines::untag(api, f),
            "ListTagsForResource" => machines::list_tags(api, f),
            "StartExecution" => run::start(self, f).await,
            "DescribeExecution" => run::describe(api, f),
            "ListExecutions" => run::list(api, f),
            "GetExecutionHistory" => run::history(api, f),
            "StopExecution" => run::stop(api, f),
            "ValidateStateMachineDefinition" => validate::validate_definition(f),
            "TestState" => test_state::test_state(self, f).await,
            known if KNOWN_UNSUPPORTED.contains(&known) => Err(ApiError::new(
                ErrorKind::UnknownOperationException,
                format!(
                    "Expressway does not implement {known} (activities, task tokens, Map runs and redrive are not supported)"
                ),
            )),
            other => Err(ApiError::new(ErrorKind::UnknownOperationException, format!("Unknown operation {other}"))),
        }
    }

    /// Answer one operation as the bytes of its JSON body.
    pub async fn respond(
        self: &Arc<Self>,
        operation: &str,
        body: &serde_json::Map<String, Value>,
    ) -> Result<Vec<u8>, ApiError> {
        match operation {
            "StartSyncExecution" => run::start_sync(self, Fields(body)).await,
            _ => Ok(self.call(operation, body).await?.to_string().into_bytes()),
        }
    }

    /// Stop the execution threads, giving running executions `grace`.
    pub fn shutdown(self, grace: std::time::Duration) {
        self.pool.shutdown(grace);
    }
}

/// The API's machines as the process's [`LocalExecutions`], for the task
/// service's `states:startExecution`. It holds the API weakly: the API
/// holds its task service, which holds this.
#[derive(Default)]
pub struct InProcess(OnceLock<Weak<Api>>);

impl InProcess {
    /// From now on, machines of `api` start in-process (once; later calls
    /// are ignored).
    pub fn attach(&self, api: &Arc<Api>) {
        let _ = self.0.set(Arc::downgrade(api));
    }
}

impl LocalExecutions for InProcess {
    fn start_execution(
        &self,
        request: &expressway_runtime::tasks::StartExecution,
    ) -> Option<Result<expressway_runtime::tasks::StartedExecution, expressway_runtime::tasks::StartRefused>> {
        self.0.get()?.upgrade()?.start_in_process(request)
    }
}

/// Step Functions operations this API does not answer (yet), named so the
/// error says so rather than "unknown".
const KNOWN_UNSUPPORTED: &[&str] = &[
    "CreateActivity",
    "DeleteActivity",
    "DescribeActivity",
    "ListActivities",
    "GetActivityTask",
    "SendTaskSuccess",
    "SendTaskFailure",
    "SendTaskHeartbeat",
    "DescribeMapRun",
    "ListMapRuns",
    "UpdateMapRun",
    "RedriveExecution",
];

/// The operations an API request may name, for bounded metric labels.
pub const OPERATIONS: &[&str] = &[
    "CreateStateMachine",
    "DescribeStateMachine",
    "ListStateMachines",
    "UpdateStateMachine",
    "DeleteStateMachine",
    "DescribeStateMachineForExecution",
    "PublishStateMachineVersion",
    "ListStateMachineVersions",
    "DeleteStateMachineVersion",
    "CreateStateMachineAlias",
    "DescribeStateMachineAlias",
    "ListStateMachineAliases",
    "UpdateStateMachineAlias",
    "DeleteStateMachineAlias",
    "TagResource",
    "UntagResource",
    "ListTagsForResource",
    "StartSyncExecution",
    "StartExecution",
    "DescribeExecution",
    "ListExecutions",
    "GetExecutionHistory",
    "StopExecution",
    "ValidateStateMachineDefinition",
    "TestState",
];
