//! `expressway exec`: one execution on the in-process driver, its Task
//! states answered by recorded mocks or performed against AWS.

use crate::cli::TypeArg;
use crate::common::{
    invalid_definition_json, read_definition, read_input, read_json, read_text, result_json, workflow_of,
};
use expressway_config::ExecutionContext;
use expressway_connectors::mock::{MockConfig, RecordedMocks};
use expressway_engine::driver::{Offline, RunOptions};
use expressway_engine::{Effects, Status};
use expressway_runtime::clock::wall_ms;
use expressway_runtime::tasks::{Blocking, RealTime, TaskService, check_resources};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

fn load_mocks(
    mocks: Option<&Path>,
    test_case: Option<&str>,
    state_machine: Option<&str>,
) -> Result<Box<dyn Effects>, String> {
    let Some(path) = mocks else {
        return Ok(Box::new(Offline));
    };
    let v = read_json(path)?;
    match (test_case, v.is_array()) {
        (Some(tc), false) => Ok(Box::new(MockConfig::from_json(&v, state_machine, tc).map_err(|e| e.to_string())?)),
        (None, true) => Ok(Box::new(RecordedMocks::from_json(&v).map_err(|e| e.to_string())?)),
        (None, false) => Err("a MockConfigFile needs --test-case NAME".into()),
        (Some(_), true) => Err("--test-case applies to a MockConfigFile, not a mocks list".into()),
    }
}

/// Who answers an `exec`'s Task states.
pub enum TaskSource<'a> {
    /// Recorded answers (or none: every task fails naming its resource).
    Mocks(Option<&'a Path>),
    Aws,
}

#[allow(clippy::too_many_arguments)]
pub fn cmd_exec(
    definition: &Path,
    input: &Path,
    tasks: TaskSource,
    test_case: Option<&str>,
    state_machine: Option<&str>,
    context: Option<&Path>,
    real_time: bool,
    workflow_type: Option<TypeArg>,
) -> Result<ExitCode, String> {
    let ctx = match context {
        Some(p) => ExecutionContext::from_json(&read_text(p)?).map_err(|e| e.to_string())?,
        None => ExecutionContext::default(),
    };
    let workflow = workflow_of(workflow_type, &ctx)?;
    let program = match expressway_engine::compile_text(&read_definition(definition)?, workflow) {
        Ok(p) => p,
        Err(diags) => {
            print_line(&invalid_definition_json(&diags))?;
            return Ok(ExitCode::from(2));
        }
    };
    let input = match read_input(input, expressway_engine::vm::MAX_PAYLOAD_BYTES)? {
        Ok(value) => value,
        // The error and cause `run` gives the same record in its dead letter.
        Err(rejected) => return Err(format!("the input is rejected: {}: {}", rejected.error, rejected.cause)),
    };
    let aws_tasks = match tasks {
        TaskSource::Aws => {
            let aws = expressway_connectors::aws::Aws::new(&expressway_config::pipeline::AwsConfig::default())?;
            // Run by hand against one's own machine: any HTTP endpoint may be called.
            let http =
                expressway_connectors::aws::http_invoke::HttpInvoker::new(None, std::time::Duration::from_secs(60))?;
            let service = expressway_connectors::aws::tasks::AwsTasks::new(aws, http);
            if let Err(problems) = check_resources(&program, |r| TaskService::check(&service, r)) {
                for p in problems {
                    eprintln!("error: {p}");
                }
                return Ok(ExitCode::from(2));
            }
            Some(service)
        }
        TaskSource::Mocks(_) => None,
    };
    let mocks = match tasks {
        TaskSource::Mocks(mocks) => mocks,
        TaskSource::Aws => None,
    };
    let answers: Box<dyn Effects + '_> = match &aws_tasks {
        // An Express execution's tasks end with it (five minutes); a
        // Standard one's as their TimeoutSeconds say.
        Some(service) => Box::new(Blocking::new(service, express_limit(workflow))),
        None => load_mocks(mocks, test_case, state_machine.or(ctx.state_machine_name.as_deref()))?,
    };
    let started = wall_ms();
    let info = Arc::new(
        ctx.execution_info(started, &expressway_engine::intrinsics::uuid_v4(started as u64, std::process::id() as u64)),
    );
    let opts = RunOptions::for_workflow(workflow);
    let mut effects: Box<dyn Effects + '_> = if real_time { Box::new(RealTime(answers)) } else { answers };
    let result = expressway_engine::execute(&program, info, input, effects.as_mut(), &opts);
    print_line(&result_json(&result))?;
    Ok(if result.status == Status::Succeeded { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// The result's line on standard output. A reader that went away
/// (`exec … | head -c 100`) has all it wanted: not an error, and never the
/// panic of `println!`; any other failure to write is one.
fn print_line(text: &impl std::fmt::Display) -> Result<(), String> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(format!("writing the result: {e}")),
        _ => Ok(()),
    }
}

/// How long `exec --aws` waits for a task of a `workflow` execution at most.
fn express_limit(workflow: expressway_engine::WorkflowType) -> Option<std::time::Duration> {
    (workflow == expressway_engine::WorkflowType::Express)
        .then(|| std::time::Duration::from_millis(expressway_engine::driver::EXPRESS_MAX_DURATION_MS as u64))
}
