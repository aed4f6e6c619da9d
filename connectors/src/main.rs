//! `expressway`: the one binary. It wires the engine to connectors and
//! offers `exec`, `validate`, `bench` and `conformance`.

use clap::{Parser, Subcommand, ValueEnum};
use expressway_config::ExecutionContext;
use expressway_connectors::mock::{MockConfig, RecordedMocks};
use expressway_engine::driver::{NoTasks, RunOptions};
use expressway_engine::{ExecutionInfo, ExecutionResult, Status, TaskInvoker, WorkflowType};
use serde_json::{Map, Value, json};
use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod run;

/// mimalloc (small, per-thread free lists) behind a counter, so `bench` can
/// report allocations per execution. JSON values allocate per node; the
/// system allocator spent a third of an execution in malloc/free.
struct CountingAlloc;

thread_local! {
    /// Allocations made by this thread. Per thread, not one shared atomic:
    /// shards allocate on every core, and a counter they all add to would
    /// bounce its cache line between them on every allocation. (A `const`
    /// `Cell` needs no allocation and no destructor, so the allocator may
    /// touch it.)
    static ALLOCATIONS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

fn count_allocation() {
    // `try_with`: a thread being torn down has no counter left.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

fn allocations_on_this_thread() -> u64 {
    ALLOCATIONS.try_with(std::cell::Cell::get).unwrap_or(0)
}

/// mimalloc's natural alignment: smaller alignments take its fast path
/// (`mi_malloc`) instead of the aligned one the `mimalloc` crate always uses.
const MI_MAX_ALIGN: usize = 16;

unsafe impl std::alloc::GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        count_allocation();
        if layout.align() <= MI_MAX_ALIGN {
            // SAFETY: mi_malloc returns memory aligned to at least 16 bytes.
            unsafe { libmimalloc_sys::mi_malloc(layout.size()).cast() }
        } else {
            // SAFETY: forwarded unchanged to mimalloc.
            unsafe { mimalloc::MiMalloc.alloc(layout) }
        }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: std::alloc::Layout) {
        // SAFETY: every pointer came from mimalloc, which frees any of them.
        unsafe { libmimalloc_sys::mi_free(ptr.cast()) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        count_allocation();
        if layout.align() <= MI_MAX_ALIGN {
            // SAFETY: as in alloc; mi_realloc keeps the natural alignment.
            unsafe { libmimalloc_sys::mi_realloc(ptr.cast(), new_size).cast() }
        } else {
            // SAFETY: forwarded unchanged to mimalloc.
            unsafe { mimalloc::MiMalloc.realloc(ptr, layout, new_size) }
        }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

#[derive(Parser)]
#[command(name = "expressway", version, about = "Run AWS Step Functions state machines (ASL) at stream speed")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum TypeArg {
    #[value(name = "EXPRESS")]
    Express,
    #[value(name = "STANDARD")]
    Standard,
}

#[derive(Subcommand)]
enum Command {
    /// Run one execution and print one JSON object with its result.
    Exec {
        #[arg(long)]
        definition: PathBuf,
        /// Execution input; `-` reads standard input.
        #[arg(long)]
        input: PathBuf,
        /// A case's `mocks` list, or a Step Functions Local MockConfigFile.json (with --test-case).
        #[arg(long)]
        mocks: Option<PathBuf>,
        #[arg(long)]
        test_case: Option<String>,
        /// State machine name inside a MockConfigFile with several.
        #[arg(long)]
        state_machine: Option<String>,
        /// Names and ARNs for `$$` (account, region, state_machine_name, ...).
        #[arg(long)]
        context: Option<PathBuf>,
        /// Sleep for real in Wait states and retry intervals.
        #[arg(long)]
        real_time: bool,
        #[arg(long = "type", value_enum)]
        workflow_type: Option<TypeArg>,
        /// Perform Task states against AWS (Lambda, SQS, SNS, DynamoDB) with the
        /// SDK's default configuration: AWS_REGION, credentials, AWS_ENDPOINT_URL.
        #[arg(long, conflicts_with = "mocks")]
        aws: bool,
    },
    /// Run the pipelines of a configuration until their sources end or
    /// SIGTERM/SIGINT, then print a summary on standard error.
    Run {
        #[arg(long)]
        config: PathBuf,
        /// Ignore saved checkpoints and read every file source from its start.
        #[arg(long)]
        from_start: bool,
    },
    /// Validate a definition (or with --config, a whole configuration) and
    /// print every problem.
    Validate {
        /// The definition to validate (omit with --config).
        definition: Option<PathBuf>,
        /// Validate a pipeline configuration and compile all its machines.
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long)]
        json: bool,
        /// Print the compiled program.
        #[arg(long)]
        disassemble: bool,
        #[arg(long = "type", value_enum)]
        workflow_type: Option<TypeArg>,
    },
    /// Run a machine in a loop on one thread and report executions per second.
    Bench {
        #[arg(long)]
        definition: PathBuf,
        #[arg(long)]
        input: PathBuf,
        #[arg(long)]
        mocks: Option<PathBuf>,
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
    },
    /// Run every case of a conformance file and write one result per line
    /// (batch mode of `../shared/conformance/run.py --judge`).
    Conformance {
        cases: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Exec {
            definition,
            input,
            mocks,
            test_case,
            state_machine,
            context,
            real_time,
            workflow_type,
            aws,
        } => {
            let tasks = if aws { TaskSource::Aws } else { TaskSource::Mocks(mocks.as_deref()) };
            cmd_exec(
                &definition,
                &input,
                tasks,
                test_case.as_deref(),
                state_machine.as_deref(),
                context.as_deref(),
                real_time,
                workflow_type,
            )
        }
        Command::Run { config, from_start } => run::cmd_run(&config, from_start),
        Command::Validate { config: Some(config), .. } => run::cmd_validate_config(&config),
        Command::Validate { definition: Some(definition), config: None, json, disassemble, workflow_type } => {
            cmd_validate(&definition, json, disassemble, workflow_type)
        }
        Command::Validate { definition: None, config: None, .. } => {
            Err("validate needs a definition file or --config FILE".into())
        }
        Command::Bench { definition, input, mocks, seconds } => {
            cmd_bench(&definition, &input, mocks.as_deref(), seconds)
        }
        Command::Conformance { cases, out } => cmd_conformance(&cases, &out),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(3)
        }
    }
}

fn read_text(path: &Path) -> Result<String, String> {
    if path.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).map_err(|e| format!("reading standard input: {e}"))?;
        return Ok(s);
    }
    std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))
}

fn read_json(path: &Path) -> Result<Value, String> {
    let text = read_text(path)?;
    serde_json::from_str(&text).map_err(|e| format!("{} is not valid JSON: {e}", path.display()))
}

use expressway_engine::time::now_ms;

fn workflow_of(arg: Option<TypeArg>, ctx: &ExecutionContext) -> Result<WorkflowType, String> {
    Ok(match arg {
        Some(TypeArg::Express) => WorkflowType::Express,
        Some(TypeArg::Standard) => WorkflowType::Standard,
        None => ctx.workflow_type().map_err(|e| e.to_string())?.unwrap_or(WorkflowType::Express),
    })
}

fn invalid_definition_json(diags: &[expressway_engine::Diagnostic]) -> Value {
    let cause = diags
        .iter()
        .map(|d| format!("{} at {}: {}", d.code.as_str(), d.pointer, d.message))
        .collect::<Vec<_>>()
        .join("; ");
    json!({"status": "INVALID_DEFINITION", "error": "States.InvalidDefinition", "cause": cause, "diagnostics": diags})
}

fn result_json(r: &ExecutionResult) -> Value {
    let mut m = Map::new();
    let status = match r.status {
        Status::Succeeded => "SUCCEEDED",
        Status::Failed => "FAILED",
        Status::TimedOut => "TIMED_OUT",
    };
    m.insert("status".into(), json!(status));
    if let Some(o) = &r.output {
        m.insert("output".into(), Value::from(o));
    }
    if let Some(e) = &r.error {
        m.insert("error".into(), json!(e));
    }
    if let Some(c) = &r.cause {
        m.insert("cause".into(), json!(c));
    }
    Value::Object(m)
}

fn load_invoker(
    mocks: Option<&Path>,
    test_case: Option<&str>,
    state_machine: Option<&str>,
) -> Result<Box<dyn TaskInvoker>, String> {
    let Some(path) = mocks else {
        return Ok(Box::new(NoTasks));
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
enum TaskSource<'a> {
    /// Recorded answers (or none: every task fails naming its resource).
    Mocks(Option<&'a Path>),
    Aws,
}

#[allow(clippy::too_many_arguments)]
fn cmd_exec(
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
    let program = match expressway_engine::compile_text(&read_text(definition)?, workflow) {
        Ok(p) => p,
        Err(diags) => {
            println!("{}", invalid_definition_json(&diags));
            return Ok(ExitCode::from(2));
        }
    };
    let input = read_json(input)?;
    let aws_tasks = match tasks {
        TaskSource::Aws => {
            let aws = expressway_connectors::aws::Aws::new(&expressway_config::pipeline::AwsConfig::default())?;
            // Run by hand against one's own machine: any HTTP endpoint may be called.
            let http =
                expressway_connectors::aws::http_invoke::HttpInvoker::new(None, std::time::Duration::from_secs(60))?;
            let service = expressway_connectors::aws::tasks::AwsTasks::new(aws, http);
            if let Err(problems) = expressway_engine::tasks::check_resources(&program, |r| {
                expressway_engine::tasks::TaskService::check(&service, r)
            }) {
                for p in problems {
                    eprintln!("error: {p}");
                }
                return Ok(ExitCode::from(2));
            }
            Some(service)
        }
        TaskSource::Mocks(_) => None,
    };
    let mut invoker: Box<dyn TaskInvoker + '_> = match (&aws_tasks, tasks) {
        (Some(service), _) => Box::new(expressway_engine::tasks::Blocking(service)),
        (None, TaskSource::Mocks(mocks)) => {
            load_invoker(mocks, test_case, state_machine.or(ctx.state_machine_name.as_deref()))?
        }
        (None, TaskSource::Aws) => Box::new(NoTasks),
    };
    let info =
        Arc::new(ctx.execution_info(
            now_ms(),
            &expressway_engine::intrinsics::uuid_v4(now_ms() as u64, std::process::id() as u64),
        ));
    let opts = RunOptions {
        max_duration_ms: (workflow == WorkflowType::Express)
            .then_some(expressway_engine::driver::EXPRESS_MAX_DURATION_MS),
        real_time,
        ..RunOptions::default()
    };
    let result = expressway_engine::execute(&program, info, input.into(), invoker.as_mut(), &opts);
    println!("{}", result_json(&result));
    Ok(if result.status == Status::Succeeded { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn cmd_validate(
    definition: &Path,
    json_out: bool,
    disassemble: bool,
    workflow_type: Option<TypeArg>,
) -> Result<ExitCode, String> {
    let workflow = workflow_of(workflow_type, &ExecutionContext::default())?;
    match expressway_engine::compile_text(&read_text(definition)?, workflow) {
        Ok(program) => {
            if json_out {
                println!("{}", json!({"status": "VALID"}));
            } else {
                println!(
                    "{}: valid ({} states, {} instructions)",
                    definition.display(),
                    program.states.len(),
                    program.code.len()
                );
            }
            if disassemble {
                print!("{}", program.disassemble());
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(diags) => {
            if json_out {
                println!("{}", json!({"status": "INVALID_DEFINITION", "diagnostics": diags}));
            } else {
                for d in &diags {
                    println!("{d}\n");
                }
                println!("{}: {} problem(s)", definition.display(), diags.len());
            }
            Ok(ExitCode::from(2))
        }
    }
}

fn cmd_bench(definition: &Path, input: &Path, mocks: Option<&Path>, seconds: f64) -> Result<ExitCode, String> {
    let def = read_json(definition)?;
    let program = expressway_engine::compile(&def, WorkflowType::Express)
        .map_err(|d| format!("invalid definition: {}", invalid_definition_json(&d)))?;
    let input_bytes = read_text(input)?.into_bytes();
    let mocks = match mocks {
        Some(p) => Some(RecordedMocks::from_json(&read_json(p)?).map_err(|e| e.to_string())?),
        None => None,
    };
    let info = Arc::new(ExecutionContext::default().execution_info(now_ms(), "bench"));
    let opts = RunOptions::default();
    let mut out = Vec::with_capacity(4096);
    let mut scratch = Vec::with_capacity(input_bytes.len());
    let mut run_once = |out: &mut Vec<u8>| -> Result<Status, String> {
        // The runtime owns each record's bytes and parses them in place.
        scratch.clear();
        scratch.extend_from_slice(&input_bytes);
        let input = expressway_engine::value::from_slice_mut(&mut scratch)
            .map_err(|e| format!("input is not valid JSON: {e}"))?;
        let mut invoker: Box<dyn TaskInvoker> = match &mocks {
            Some(m) => Box::new(m.clone()),
            None => Box::new(NoTasks),
        };
        let r = expressway_engine::execute(&program, info.clone(), input, invoker.as_mut(), &opts);
        out.clear();
        match &r.output {
            Some(o) => o.write_json(out),
            None => out.extend_from_slice(b"null"),
        }
        Ok(r.status)
    };
    let first = run_once(&mut out)?;
    eprintln!("status: {first:?}, output bytes: {}", out.len());
    let deadline = Instant::now() + Duration::from_secs_f64(seconds.max(0.1));
    let allocs_before = allocations_on_this_thread();
    let started = Instant::now();
    let mut n: u64 = 0;
    while Instant::now() < deadline {
        for _ in 0..256 {
            run_once(&mut out)?;
        }
        n += 256;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let allocs = allocations_on_this_thread() - allocs_before;
    println!("executions: {n}");
    println!("allocations/execution: {:.1}", allocs as f64 / n as f64);
    println!("executions/s: {:.0}", n as f64 / elapsed);
    Ok(ExitCode::SUCCESS)
}

/// Batch mode for the shared conformance runner: one result line per case.
fn cmd_conformance(cases: &Path, out: &Path) -> Result<ExitCode, String> {
    let file = std::fs::File::open(cases).map_err(|e| format!("opening {}: {e}", cases.display()))?;
    let mut writer =
        std::io::BufWriter::new(std::fs::File::create(out).map_err(|e| format!("creating {}: {e}", out.display()))?);
    let mut n = 0;
    for line in std::io::BufReader::new(file).lines() {
        let line = line.map_err(|e| e.to_string())?;
        if line.trim().is_empty() {
            continue;
        }
        let case: Value = serde_json::from_str(&line).map_err(|e| format!("bad case line: {e}"))?;
        let id = case.get("id").cloned().unwrap_or(Value::Null);
        let mut result = std::panic::catch_unwind(|| run_case(&case)).unwrap_or_else(
            |_| json!({"status": "ERROR", "error": "Panic", "cause": "the engine panicked on this case"}),
        );
        if let Value::Object(m) = &mut result {
            m.insert("id".into(), id);
            m.remove("diagnostics");
        }
        writeln!(writer, "{result}").map_err(|e| e.to_string())?;
        n += 1;
    }
    writer.flush().map_err(|e| e.to_string())?;
    eprintln!("wrote {n} results to {}", out.display());
    Ok(ExitCode::SUCCESS)
}

fn run_case(case: &Value) -> Value {
    let ctx: ExecutionContext = case
        .get("context")
        .filter(|c| c.is_object())
        .and_then(|c| serde_json::from_value::<ExecutionContext>(c.clone()).ok())
        .unwrap_or_default();
    let validation = case.get("kind").and_then(Value::as_str) == Some("validation");
    // Validation cases without a context were judged for any workflow type.
    let default_type = if validation { WorkflowType::Standard } else { WorkflowType::Express };
    let workflow = ctx.workflow_type().ok().flatten().unwrap_or(default_type);
    let def = case.get("definition").cloned().unwrap_or(Value::Null);
    let compiled = match case.get("definition_text").and_then(Value::as_str) {
        Some(text) => expressway_engine::compile_text(text, workflow),
        None => expressway_engine::compile(&def, workflow),
    };
    let program = match compiled {
        Ok(p) => p,
        Err(diags) => return invalid_definition_json(&diags),
    };
    if validation {
        return json!({"status": "VALID"});
    }
    let mut invoker: Box<dyn TaskInvoker> = match case.get("mocks").filter(|m| m.is_array()) {
        Some(m) => match RecordedMocks::from_json(m) {
            Ok(r) => Box::new(r),
            Err(e) => return json!({"status": "ERROR", "error": "BadMocks", "cause": e.to_string()}),
        },
        None => Box::new(NoTasks),
    };
    let info: ExecutionInfo = ctx.execution_info(now_ms(), "conformance");
    let opts = RunOptions {
        max_duration_ms: (workflow == WorkflowType::Express)
            .then_some(expressway_engine::driver::EXPRESS_MAX_DURATION_MS),
        ..RunOptions::default()
    };
    let input = case.get("input").cloned().unwrap_or(Value::Null);
    result_json(&expressway_engine::execute(&program, Arc::new(info), input.into(), invoker.as_mut(), &opts))
}
