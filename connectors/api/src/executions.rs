//! Executions the API started: running ones until they end, finished ones
//! kept for Describe/List/GetExecutionHistory — the most recent, bounded in
//! number and in bytes (AWS keeps none for Express workflows; this is an
//! extra, documented as such). A STANDARD machine's execution names stay
//! taken while their execution is kept.

use crate::wire::{ApiError, ErrorKind, timestamp};
use expressway_runtime::pool::AbortHandle;
use serde_json::{Map, Value, json};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Running,
    Succeeded,
    Failed,
    TimedOut,
    Aborted,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Running => "RUNNING",
            Status::Succeeded => "SUCCEEDED",
            Status::Failed => "FAILED",
            Status::TimedOut => "TIMED_OUT",
            Status::Aborted => "ABORTED",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Some(match s {
            "RUNNING" => Status::Running,
            "SUCCEEDED" => Status::Succeeded,
            "FAILED" => Status::Failed,
            "TIMED_OUT" => Status::TimedOut,
            "ABORTED" => Status::Aborted,
            _ => return None,
        })
    }
}

/// How an execution ended.
#[derive(Debug, Clone)]
pub struct Ending {
    pub status: Status,
    pub output: Option<String>,
    pub error: Option<String>,
    pub cause: Option<String>,
    pub stop_ms: i64,
}

pub struct Execution {
    pub arn: String,
    pub name: String,
    pub machine_arn: String,
    pub version_arn: Option<String>,
    pub alias_arn: Option<String>,
    pub express: bool,
    pub role_arn: String,
    pub input: String,
    pub start_ms: i64,
    pub trace_header: Option<String>,
    pub ending: Mutex<Option<Ending>>,
    pub abort: Mutex<Option<AbortHandle>>,
}

impl Execution {
    pub fn ending(&self) -> Option<Ending> {
        self.ending.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Record its end unless it already has one (an abort wins over a late result).
    pub fn end(&self, ending: Ending) -> bool {
        let mut slot = self.ending.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_some() {
            return false;
        }
        *slot = Some(ending);
        true
    }

    pub fn is_running(&self) -> bool {
        self.ending.lock().unwrap_or_else(|p| p.into_inner()).is_none()
    }

    /// What keeping it costs, about: its texts.
    fn bytes(&self) -> usize {
        let ending = self.ending.lock().unwrap_or_else(|p| p.into_inner());
        let ended = ending.as_ref().map_or(0, |e| {
            let len = |s: &Option<String>| s.as_ref().map_or(0, String::len);
            len(&e.output) + len(&e.error) + len(&e.cause)
        });
        self.input.len() + self.arn.len() * 2 + ended
    }

    /// DescribeExecution's answer.
    pub fn describe(&self) -> Value {
        let mut m = self.summary();
        m.insert("input".into(), json!(self.input));
        m.insert("inputDetails".into(), json!({"included": true}));
        if let Some(t) = &self.trace_header {
            m.insert("traceHeader".into(), json!(t));
        }
        if let Some(e) = self.ending() {
            if let Some(o) = e.output {
                m.insert("output".into(), json!(o));
                m.insert("outputDetails".into(), json!({"included": true}));
            }
            if let Some(x) = e.error {
                m.insert("error".into(), json!(x));
            }
            if let Some(x) = e.cause {
                m.insert("cause".into(), json!(x));
            }
        }
        Value::Object(m)
    }

    /// ListExecutions' entry.
    pub fn summary(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("executionArn".into(), json!(self.arn));
        m.insert("stateMachineArn".into(), json!(self.machine_arn));
        m.insert("name".into(), json!(self.name));
        let ending = self.ending();
        m.insert("status".into(), json!(ending.as_ref().map_or(Status::Running, |e| e.status).as_str()));
        m.insert("startDate".into(), timestamp(self.start_ms));
        if let Some(e) = &ending {
            m.insert("stopDate".into(), timestamp(e.stop_ms));
        }
        if let Some(v) = &self.version_arn {
            m.insert("stateMachineVersionArn".into(), json!(v));
        }
        if let Some(a) = &self.alias_arn {
            m.insert("stateMachineAliasArn".into(), json!(a));
        }
        m
    }

    /// GetExecutionHistory's events: the execution-level ones AWS emits
    /// (started, and succeeded / failed / timed out / aborted). State-level
    /// events are not recorded yet.
    pub fn history(&self) -> Vec<Value> {
        let mut events = vec![json!({
            "timestamp": timestamp(self.start_ms),
            "type": "ExecutionStarted",
            "id": 1,
            "previousEventId": 0,
            "executionStartedEventDetails": {
                "input": self.input,
                "inputDetails": {"truncated": false},
                "roleArn": self.role_arn,
                "stateMachineArn": self.version_arn.as_deref().unwrap_or(&self.machine_arn),
            },
        })];
        if let Some(e) = self.ending() {
            let (kind, details_name, details) = match e.status {
                Status::Succeeded => (
                    "ExecutionSucceeded",
                    "executionSucceededEventDetails",
                    json!({"output": e.output.unwrap_or_default(), "outputDetails": {"truncated": false}}),
                ),
                Status::Failed => ("ExecutionFailed", "executionFailedEventDetails", error_cause(&e)),
                Status::TimedOut => ("ExecutionTimedOut", "executionTimedOutEventDetails", error_cause(&e)),
                Status::Aborted | Status::Running => {
                    ("ExecutionAborted", "executionAbortedEventDetails", error_cause(&e))
                }
            };
            events.push(json!({
                "timestamp": timestamp(e.stop_ms),
                "type": kind,
                "id": 2,
                "previousEventId": 1,
                details_name: details,
            }));
        }
        events
    }
}

fn error_cause(e: &Ending) -> Value {
    let mut m = Map::new();
    if let Some(x) = &e.error {
        m.insert("error".into(), json!(x));
    }
    if let Some(x) = &e.cause {
        m.insert("cause".into(), json!(x));
    }
    Value::Object(m)
}

/// The executions kept, oldest first.
pub struct Store {
    by_arn: HashMap<String, Arc<Execution>>,
    order: VecDeque<Arc<Execution>>,
    bytes: usize,
    max_count: usize,
    max_bytes: usize,
}

impl Store {
    pub fn new(max_count: usize, max_bytes: usize) -> Store {
        Store { by_arn: HashMap::new(), order: VecDeque::new(), bytes: 0, max_count, max_bytes }
    }

    pub fn get(&self, arn: &str) -> Option<Arc<Execution>> {
        self.by_arn.get(arn).cloned()
    }

    pub fn not_found(arn: &str) -> ApiError {
        ApiError::new(ErrorKind::ExecutionDoesNotExist, format!("Execution Does Not Exist: '{arn}'"))
    }

    /// Keep `e`; the oldest finished executions make room.
    pub fn add(&mut self, e: Arc<Execution>) {
        self.bytes += e.bytes();
        self.by_arn.insert(e.arn.clone(), e.clone());
        self.order.push_back(e);
        let mut looked = 0;
        while (self.order.len() > self.max_count || self.bytes > self.max_bytes) && looked < self.order.len() {
            let Some(oldest) = self.order.pop_front() else { break };
            if oldest.is_running() {
                // Running: kept until it ends, whatever the bound.
                self.order.push_back(oldest);
                looked += 1;
                continue;
            }
            self.bytes = self.bytes.saturating_sub(oldest.bytes());
            self.by_arn.remove(&oldest.arn);
        }
    }

    /// Account for an execution's output once it ended.
    pub fn grew(&mut self, by: usize) {
        self.bytes += by;
    }

    /// Kept executions of `machine_arn`, newest first.
    pub fn of_machine(&self, machine_arn: &str) -> Vec<Arc<Execution>> {
        self.order.iter().rev().filter(|e| e.machine_arn == machine_arn).cloned().collect()
    }

    pub fn forget_machine(&mut self, machine_arn: &str) {
        let gone: Vec<Arc<Execution>> =
            self.order.iter().filter(|e| e.machine_arn == machine_arn && !e.is_running()).cloned().collect();
        for e in gone {
            self.bytes = self.bytes.saturating_sub(e.bytes());
            self.by_arn.remove(&e.arn);
        }
        self.order.retain(|e| self.by_arn.contains_key(&e.arn));
    }
}
