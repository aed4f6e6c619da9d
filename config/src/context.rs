//! The execution context a run starts under (account, region, state machine
//! and execution names), as a conformance case's `context` or a user's
//! `--context` file gives them.

use expressway_engine::{ExecutionInfo, WorkflowType};
use serde::Deserialize;

/// The `--context` file. Every field is optional; defaults name a local
/// account so `$$` always has AWS's shape.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ExecutionContext {
    pub account: Option<String>,
    pub region: Option<String>,
    pub state_machine_name: Option<String>,
    pub state_machine_arn: Option<String>,
    /// `STANDARD` or `EXPRESS`.
    pub state_machine_type: Option<String>,
    pub execution_name: Option<String>,
    pub execution_arn: Option<String>,
    pub role_arn: Option<String>,
    /// Milliseconds since the epoch; defaults to the current time.
    pub start_time_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ContextError(pub String);

impl std::fmt::Display for ContextError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl ExecutionContext {
    pub fn from_json(text: &str) -> Result<ExecutionContext, ContextError> {
        serde_json::from_str(text).map_err(|e| ContextError(format!("invalid context file: {e}")))
    }

    pub fn workflow_type(&self) -> Result<Option<WorkflowType>, ContextError> {
        match self.state_machine_type.as_deref() {
            None => Ok(None),
            Some("EXPRESS") => Ok(Some(WorkflowType::Express)),
            Some("STANDARD") => Ok(Some(WorkflowType::Standard)),
            Some(other) => Err(ContextError(format!("state_machine_type must be EXPRESS or STANDARD, not '{other}'"))),
        }
    }

    /// Fill in names and ARNs the way AWS derives them from each other.
    pub fn execution_info(&self, now_ms: i64, execution_name_fallback: &str) -> ExecutionInfo {
        let account = self.account.clone().unwrap_or_else(|| "000000000000".into());
        let region = self.region.clone().unwrap_or_else(|| "us-east-1".into());
        let sm_name = self.state_machine_name.clone().unwrap_or_else(|| "expressway".into());
        let sm_arn = self
            .state_machine_arn
            .clone()
            .unwrap_or_else(|| format!("arn:aws:states:{region}:{account}:stateMachine:{sm_name}"));
        let exec_name = self.execution_name.clone().unwrap_or_else(|| execution_name_fallback.to_string());
        let kind = if self.state_machine_type.as_deref() == Some("STANDARD") { "execution" } else { "express" };
        let mut exec_arn = self
            .execution_arn
            .clone()
            .unwrap_or_else(|| format!("arn:aws:states:{region}:{account}:{kind}:{sm_name}:{exec_name}"));
        // An Express execution's ARN ends in an id after its name, as AWS
        // forms it (`…:express:<machine>:<name>:<id>`); one given without it
        // gets one.
        if kind == "express" && exec_arn.split(':').count() == 8 && exec_arn.split(':').nth(5) == Some("express") {
            let seed =
                exec_name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3));
            exec_arn = format!("{exec_arn}:{}", expressway_engine::intrinsics::uuid_v4(now_ms as u64, seed));
        }
        ExecutionInfo {
            execution_id: exec_arn,
            execution_name: exec_name,
            state_machine_id: sm_arn.into(),
            state_machine_name: sm_name.into(),
            role_arn: self.role_arn.clone().unwrap_or_else(|| format!("arn:aws:iam::{account}:role/expressway")).into(),
            start_time_ms: self.start_time_ms.unwrap_or(now_ms),
            express: self.state_machine_type.as_deref() != Some("STANDARD"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derives_arns_from_names() {
        let c = ExecutionContext::from_json(
            r#"{"account": "1", "region": "eu-west-1", "state_machine_name": "m", "execution_name": "e"}"#,
        )
        .unwrap();
        let info = c.execution_info(5, "x");
        assert_eq!(&*info.state_machine_id, "arn:aws:states:eu-west-1:1:stateMachine:m");
        // Express: `…:express:<machine>:<name>:<id>`, as AWS forms it.
        let (prefix, id) = info.execution_id.rsplit_once(':').unwrap();
        assert_eq!(prefix, "arn:aws:states:eu-west-1:1:express:m:e");
        assert_eq!(id.len(), 36, "{id}");
        assert_eq!(info.start_time_ms, 5);
        let standard = ExecutionContext::from_json(
            r#"{"account": "1", "region": "eu-west-1", "state_machine_name": "m", "execution_name": "e", "state_machine_type": "STANDARD"}"#,
        )
        .unwrap();
        assert_eq!(standard.execution_info(5, "x").execution_id, "arn:aws:states:eu-west-1:1:execution:m:e");
    }

    #[test]
    fn rejects_unknown_fields_and_types() {
        assert!(ExecutionContext::from_json(r#"{"acount": "1"}"#).is_err());
        let c = ExecutionContext::from_json(r#"{"state_machine_type": "FAST"}"#).unwrap();
        assert!(c.workflow_type().is_err());
    }
}
