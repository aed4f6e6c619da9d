//! The context object `$$`: the execution's names and times, the state,
//! a callback's task token and a Map iteration's item.

use super::{Resolver, Shared};
use crate::asl::StateType;
use crate::intrinsics;
use crate::jsonpath::{JsonPath, PathMiss};
use crate::program::{Op, Program, StateId};
use crate::value::{Object as Map, Value};
use std::sync::Arc;

/// Names and ARNs an execution runs under, for the context object `$$`.
#[derive(Debug, Clone, Default)]
pub struct ExecutionInfo {
    pub execution_id: String,
    pub execution_name: String,
    /// Shared by every execution of a machine: cloning is a refcount.
    pub state_machine_id: Arc<str>,
    pub state_machine_name: Arc<str>,
    pub role_arn: Arc<str>,
    pub start_time_ms: i64,
    /// Express executions have no redrive, so `$$.Execution.RedriveCount` is absent.
    pub express: bool,
}

impl Resolver<'_> {
    /// Resolve a `$$` path, building only the part of the context object
    /// the path's first field names (the whole object only for `$$`).
    pub(super) fn select_context(&self, path: &JsonPath) -> Result<Value, PathMiss> {
        use crate::jsonpath::{MAP_ITEM_SEGMENTS, MapItem};
        match (self.map_item, path.map_item()) {
            (Some((_, value)), Some(MapItem::Value)) => {
                return path.select_definite_from(value, MAP_ITEM_SEGMENTS).map(std::borrow::Cow::into_owned);
            }
            (Some((index, _)), Some(MapItem::Index)) => return Ok(Value::from(index)),
            _ => {}
        }
        self.select_metered(path, &self.context())
    }

    pub(super) fn context(&self) -> Value {
        if let Some(given) = &self.shared.context {
            return given.clone();
        }
        let info = &self.shared.info;
        let st = &self.program.states[self.frame_state as usize];
        let mut exec = Map::new();
        exec.insert("Id", Value::from(info.execution_id.clone()));
        exec.insert("Input", (*self.shared.execution_input).clone());
        exec.insert("StartTime", Value::from(crate::time::format_millis(info.start_time_ms)));
        exec.insert("Name", Value::from(info.execution_name.clone()));
        exec.insert("RoleArn", Value::String(info.role_arn.clone()));
        if !info.express {
            exec.insert("RedriveCount", Value::from(0));
        }
        let mut sm = Map::new();
        sm.insert("Id", Value::String(info.state_machine_id.clone()));
        sm.insert("Name", Value::String(info.state_machine_name.clone()));
        let mut state = Map::new();
        state.insert("Name", Value::from(st.name.to_string()));
        state.insert("EnteredTime", Value::from(crate::time::format_millis(self.entered_ms)));
        if matches!(st.state_type, StateType::Task | StateType::Map | StateType::Parallel) {
            state.insert("RetryCount", Value::from(self.retry_count));
        }
        let mut ctx = Map::new();
        ctx.insert("Execution", Value::object(exec));
        ctx.insert("StateMachine", Value::object(sm));
        ctx.insert("State", Value::object(state));
        if let Some(token) = self.program.task_token(self.frame_state, self.entered_event, self.shared) {
            let mut task = Map::new();
            task.insert("Token", Value::from(token));
            ctx.insert("Task", Value::object(task));
        }
        if let Some((index, value)) = self.map_item {
            let mut item = Map::new();
            item.insert("Index", Value::from(index));
            item.insert("Value", value.clone());
            let mut m = Map::new();
            m.insert("Item", Value::object(item));
            ctx.insert("Map", Value::object(m));
        }
        Value::object(ctx)
    }
}

impl Program {
    /// Callback tasks get a token derived from the execution and the
    /// state's entry, stable across the state's retries.
    fn task_token(&self, state: StateId, entered_event: u64, shared: &Shared) -> Option<String> {
        let info = &self.states[state as usize];
        if info.state_type != StateType::Task {
            return None;
        }
        let is_callback = self.code[info.entry as usize..]
            .iter()
            .find_map(|op| match op {
                Op::Invoke(t) => Some(self.tasks[*t as usize].resource.ends_with(".waitForTaskToken")),
                _ => None,
            })
            .unwrap_or(false);
        is_callback.then(|| {
            let mut seed = shared.rng ^ entered_event.rotate_left(17);
            let a = intrinsics::splitmix64(&mut seed);
            let b = intrinsics::splitmix64(&mut seed);
            format!("{}:{}", shared.info.execution_name, intrinsics::uuid_v4(a, b))
        })
    }
}
