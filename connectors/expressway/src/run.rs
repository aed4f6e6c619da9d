//! `expressway run` and `expressway validate --config`: the composition root
//! for pipelines — config in, sources, sinks and dedup stores built, the
//! engine's executor started for each pipeline.

use expressway_api::console::{Console, WatchedPipeline};
use expressway_config::pipeline::{DedupConfig, Ordering, SinkConfig, SourceConfig};
use expressway_config::{Config, ConfigProblem};
use expressway_connectors::aws::Aws;
use expressway_connectors::aws::dynamodb::DynamoDedup;
use expressway_connectors::aws::http_invoke::HttpInvoker;
use expressway_connectors::aws::sqs::{SqsSink, SqsSource, SqsSourceConfig};
use expressway_connectors::aws::tasks::{AwsTasks, Integration};
use expressway_connectors::dedup::MemoryDedup;
use expressway_connectors::file::{FileSink, FileSource};
use expressway_connectors::redis_dedup::RedisDedup;
use expressway_connectors::stdio::{NullSink, StdinSource, StdoutSink};
use expressway_engine::jsonpath::JsonPath;
use expressway_engine::{Program, WorkflowType};
use expressway_runtime::tasks::{NoTaskService, TaskService, check_resources};
use expressway_runtime::watch::PipelineWatch;
use expressway_runtime::{
    DedupStore, KeySpec, PipelineSpec, RecordOrdering, Sink, SinkWriter, Source, Stats, SystemClock,
};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

/// A pipeline whose state machine compiled, with paths resolved.
struct Prepared {
    definition: String,
    name: String,
    program: Arc<Program>,
    machine_name: String,
    express: bool,
    key: KeySpec,
    config: expressway_config::pipeline::Pipeline,
}

fn resolve(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() { p.to_path_buf() } else { base.join(p) }
}

/// Load, check and compile everything; every problem at once.
fn prepare(path: &Path) -> Result<(Config, Vec<Prepared>), Vec<ConfigProblem>> {
    prepare_with(path, false)
}

/// As [`prepare`]; `api_implied` when the command serves the API anyway, so
/// a file without pipelines or `api:` is still a configuration.
fn prepare_with(path: &Path, api_implied: bool) -> Result<(Config, Vec<Prepared>), Vec<ConfigProblem>> {
    let mut config = Config::load(path).map_err(|e| vec![e])?;
    if api_implied && config.api.is_none() {
        config.api = Some(Default::default());
    }
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut problems = config.problems();
    // Like a pipeline's files, the API's MockConfigFile is named relative to
    // the configuration, and checked here rather than when `serve` starts.
    if let Some(file) = config.api.as_mut().and_then(|a| a.mock_config.as_mut()) {
        *file = resolve(&base, file);
        let read = expressway_config::files::read_text_at_most(file, expressway_config::files::MAX_SIDE_FILE_BYTES)
            .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).map_err(|e| format!("not JSON: {e}")));
        if let Err(e) = read {
            problems.push(ConfigProblem { at: "api.mock_config".into(), message: format!("{}: {e}", file.display()) });
        }
    }
    let mut prepared = Vec::new();
    for (i, p) in config.pipelines.iter().enumerate() {
        let at = format!("pipelines[{i}] ({})", p.name.escape_debug());
        let machine_path = resolve(&base, &p.state_machine);
        let workflow = p.workflow_type;
        let mut definition = String::new();
        let program = match expressway_config::files::read_text_at_most(
            &machine_path,
            expressway_config::files::MAX_DEFINITION_FILE_BYTES,
        ) {
            Err(e) => {
                problems.push(ConfigProblem { at: format!("{at}.state_machine"), message: e });
                None
            }
            Ok(text) => match expressway_engine::compile_text(&text, workflow) {
                Ok(program) => {
                    definition = text;
                    Some(program)
                }
                Err(diags) => {
                    for d in diags {
                        problems.push(ConfigProblem {
                            at: format!("{at}.state_machine {}#{}", machine_path.display(), d.pointer),
                            message: format!("{}: {}", d.code.as_str(), d.message),
                        });
                    }
                    None
                }
            },
        };
        if let SourceConfig::File { path: src, checkpoint, .. } = &p.source {
            let src = resolve(&base, src);
            if !src.exists() {
                problems.push(ConfigProblem {
                    at: format!("{at}.source.path"),
                    message: format!("{} does not exist", src.display()),
                });
            }
            let checkpoint = checkpoint.as_ref().map(|c| resolve(&base, c));
            problems.extend(files_shared_with_sinks(&at, &src, checkpoint.as_deref(), p, &base));
        }
        let refused = program.as_ref().map(|p| check_resources(p, |r| Integration::parse(r).map(|_| ())));
        for message in refused.and_then(Result::err).unwrap_or_default() {
            problems.push(ConfigProblem { at: format!("{at}.state_machine {}", machine_path.display()), message });
        }
        let key = match p.idempotency.key.as_deref() {
            // An SQS message's own id (a FIFO queue's deduplication id) is
            // the natural key: a redelivery of a completed message is skipped.
            None if matches!(p.source, SourceConfig::Sqs { .. }) => KeySpec::SourceId,
            None => KeySpec::None,
            Some("source_id") => KeySpec::SourceId,
            Some(k) => match JsonPath::parse(k) {
                Ok(path) if path.is_definite() => KeySpec::Path(path),
                Ok(_) => {
                    problems.push(ConfigProblem {
                        at: format!("{at}.idempotency.key"),
                        message: format!("'{k}' must select one value"),
                    });
                    KeySpec::None
                }
                Err(e) => {
                    problems.push(ConfigProblem { at: format!("{at}.idempotency.key"), message: e.to_string() });
                    KeySpec::None
                }
            },
        };
        if let Some(program) = program {
            let machine_name = machine_path
                .file_name()
                .and_then(|n| n.to_str())
                .map(|n| n.trim_end_matches(".json").trim_end_matches(".asl").to_string())
                .unwrap_or_else(|| p.name.clone());
            let mut config = p.clone();
            config.source = match &p.source {
                SourceConfig::File { path, follow, checkpoint, rotate_wait } => SourceConfig::File {
                    path: resolve(&base, path),
                    follow: *follow,
                    checkpoint: checkpoint.as_ref().map(|c| resolve(&base, c)),
                    rotate_wait: *rotate_wait,
                },
                other => other.clone(),
            };
            for sink in [&mut config.sink, &mut config.dead_letter] {
                if let SinkConfig::File { path } = sink {
                    *path = resolve(&base, path);
                }
            }
            prepared.push(Prepared {
                definition,
                name: p.name.clone(),
                program: Arc::new(program),
                machine_name,
                express: p.workflow_type == WorkflowType::Express,
                key,
                config,
            });
        }
    }
    problems.extend(results_mixed_with_dead_letters(&config.pipelines, &base));
    if problems.is_empty() { Ok((config, prepared)) } else { Err(problems) }
}

/// Results and dead letters must not share a file, in one pipeline or
/// across two: a replay of the dead letters would run results, a consumer of
/// the results would read failures. Compared canonicalised (`./out.jsonl`,
/// `out.jsonl` and a symbolic link are one file). Files shared in one role
/// (two pipelines merging their results) are fine: a file sink writes whole
/// lines only.
fn results_mixed_with_dead_letters(
    pipelines: &[expressway_config::pipeline::Pipeline],
    base: &Path,
) -> Vec<ConfigProblem> {
    let file = |sink: &SinkConfig| match sink {
        SinkConfig::File { path } => Some(canonical(&resolve(base, path))),
        _ => None,
    };
    let results: Vec<(usize, PathBuf)> =
        pipelines.iter().enumerate().filter_map(|(i, p)| Some((i, file(&p.sink)?))).collect();
    let mut problems = Vec::new();
    for (i, p) in pipelines.iter().enumerate() {
        let Some(dead) = file(&p.dead_letter) else { continue };
        for (j, _) in results.iter().filter(|(_, r)| *r == dead) {
            let whose = if *j == i { "this pipeline's".to_string() } else { format!("pipelines[{j}]'s") };
            problems.push(ConfigProblem {
                at: format!("pipelines[{i}] ({}).dead_letter.path", p.name.escape_debug()),
                message: format!(
                    "{} is also {whose} sink: results and dead letters must not go to the same file",
                    dead.display()
                ),
            });
        }
    }
    problems
}

/// A file source must not read a file its own pipeline writes: its results
/// would become its input, without end. Compared canonicalised, so
/// `./in.jsonl` and `in.jsonl` (or a symbolic link) are the same file.
fn files_shared_with_sinks(
    at: &str,
    source: &Path,
    checkpoint: Option<&Path>,
    p: &expressway_config::pipeline::Pipeline,
    base: &Path,
) -> Vec<ConfigProblem> {
    let sinks = [("sink", &p.sink), ("dead_letter", &p.dead_letter)];
    let mut problems = Vec::new();
    for (field, sink) in sinks {
        let SinkConfig::File { path } = sink else { continue };
        let sink_path = canonical(&resolve(base, path));
        let mut clash = |what: &str, read: &Path| {
            if canonical(read) == sink_path {
                problems.push(ConfigProblem {
                    at: format!("{at}.{field}.path"),
                    message: format!(
                        "{} is also this pipeline's {what}: a pipeline must not write the file it reads",
                        sink_path.display()
                    ),
                });
            }
        };
        clash("source file", source);
        if let Some(c) = checkpoint {
            clash("source checkpoint", c);
        }
    }
    problems
}

/// The path with symbolic links and `.`/`..` resolved, as far as it exists:
/// a sink's file may not exist yet, but its directory usually does.
fn canonical(p: &Path) -> PathBuf {
    if let Ok(c) = p.canonicalize() {
        return c;
    }
    match (p.parent().map(Path::canonicalize), p.file_name()) {
        (Some(Ok(dir)), Some(name)) => dir.join(name),
        _ => p.to_path_buf(),
    }
}

pub fn cmd_validate_config(path: &Path) -> Result<ExitCode, String> {
    match prepare(path) {
        Ok((_, prepared)) => {
            println!("{}: valid ({} pipeline(s))", path.display(), prepared.len());
            Ok(ExitCode::SUCCESS)
        }
        Err(problems) => {
            for p in &problems {
                println!("error: {p}");
            }
            println!("{}: {} problem(s)", path.display(), problems.len());
            Ok(ExitCode::from(2))
        }
    }
}

/// The AWS clients, made the first time a pipeline needs them.
struct AwsOnDemand<'a> {
    config: &'a expressway_config::pipeline::AwsConfig,
    aws: Option<Arc<Aws>>,
    /// Whether `aws` was loaded for HTTP tasks only ([`Aws::for_http_only`]).
    http_only: bool,
}

impl AwsOnDemand<'_> {
    fn get(&mut self) -> Result<Arc<Aws>, String> {
        if let Some(aws) = self.aws.as_ref().filter(|_| !self.http_only) {
            return Ok(aws.clone());
        }
        let aws = Aws::new(self.config)?;
        (self.aws, self.http_only) = (Some(aws.clone()), false);
        Ok(aws)
    }

    /// For a pipeline whose tasks call no AWS service.
    fn get_for_http(&mut self) -> Result<Arc<Aws>, String> {
        if let Some(aws) = &self.aws {
            return Ok(aws.clone());
        }
        let aws = Aws::for_http_only(self.config)?;
        (self.aws, self.http_only) = (Some(aws.clone()), true);
        Ok(aws)
    }
}

fn open_sink(c: &SinkConfig, aws: &mut AwsOnDemand) -> Result<Box<dyn Sink>, String> {
    Ok(match c {
        SinkConfig::Sqs { queue_url, message_group_id } => {
            Box::new(SqsSink::open(aws.get()?, queue_url, message_group_id.as_deref())?)
        }
        SinkConfig::File { path } => {
            Box::new(FileSink::open(path).map_err(|e| format!("opening {}: {e}", path.display()))?)
        }
        SinkConfig::Stdout => Box::new(StdoutSink),
        SinkConfig::Null => Box::new(NullSink),
        SinkConfig::Kafka { brokers, topic, linger, key, properties } => {
            let sink = expressway_connectors::kafka::KafkaSink::open(brokers, topic, *linger, properties)?;
            Box::new(match key {
                Some(path) => sink.with_key_path(path)?,
                None => sink,
            })
        }
    })
}

/// Histogram buckets of every duration metric (executions, task calls, Kafka
/// produces), in seconds: histograms, not summaries, so percentiles can be
/// aggregated over replicas (`histogram_quantile` over `sum by (le)`).
const DURATION_BUCKETS_SECONDS: [f64; 16] =
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

/// `expressway_build_info{version, commit} 1`, for dashboards and rollouts.
const BUILD_INFO: &str = "expressway_build_info";

pub fn cmd_run(path: &Path, from_start: bool) -> Result<ExitCode, String> {
    run_config(prepare(path), from_start, false)
}

/// `expressway serve [--config F]`: the configuration's pipelines (if any)
/// and the Step Functions API, with its defaults when the file has no `api:`.
pub fn cmd_serve(path: Option<&Path>, address: Option<&str>) -> Result<ExitCode, String> {
    let prepared = match path {
        Some(p) => prepare_with(p, true),
        None => Ok((Config::from_yaml("api: {}\n", &|_| None).map_err(|e| e.to_string())?, Vec::new())),
    };
    let prepared = prepared.map(|(mut config, p)| {
        let api = config.api.get_or_insert_with(Default::default);
        if let Some(a) = address {
            api.address = a.to_string();
        }
        (config, p)
    });
    run_config(prepared, false, true)
}

/// Run `prepared`'s pipelines; with `until_signal` (`serve`) the API goes on
/// answering after they end, until SIGTERM/SIGINT.
fn run_config(
    prepared: Result<(Config, Vec<Prepared>), Vec<ConfigProblem>>,
    from_start: bool,
    until_signal: bool,
) -> Result<ExitCode, String> {
    let (config, prepared) = match prepared.and_then(|(config, p)| {
        // Checked again: `serve` may have added or changed the API section.
        let problems: Vec<ConfigProblem> = config.api.iter().flat_map(|a| a.problems()).collect();
        if problems.is_empty() { Ok((config, p)) } else { Err(problems) }
    }) {
        Ok(x) => x,
        Err(problems) => {
            for p in &problems {
                eprintln!("error: {p}");
            }
            return Ok(ExitCode::from(2));
        }
    };
    // Structured logs on standard error (standard output may be a sink).
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .try_init();
    quiet_repeated_panics();
    let shutdown = Arc::new(AtomicBool::new(false));
    let ready = Arc::new(AtomicBool::new(false));
    if let Some(m) = &config.metrics {
        let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
            .set_buckets(&DURATION_BUCKETS_SECONDS)
            .and_then(|b| b.install_recorder())
            .map_err(|e| format!("installing the metrics recorder: {e}"))?;
        // Histogram samples wait in the recorder until upkeep folds them in:
        // with no scrape (no Prometheus yet, the Helm chart's default) they
        // had piled up for ever, ~20 bytes per execution.
        let upkeep = handle.clone();
        std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(METRICS_UPKEEP_INTERVAL);
                    upkeep.run_upkeep();
                }
            })
            .map_err(|e| format!("starting the metrics upkeep: {e}"))?;
        expressway_runtime::metrics::metric::describe();
        metrics::describe_gauge!(BUILD_INFO, "Always 1; the version and git commit of this binary are its labels");
        metrics::gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION"), "commit" => env!("EXPRESSWAY_GIT_COMMIT"))
            .set(1.0);
        let bound = expressway_connectors::http::serve(&m.address, handle, ready.clone())
            .map_err(|e| format!("listening on {}: {e}", m.address))?;
        eprintln!("metrics on http://{bound}/metrics");
    }
    let shards = match config.runtime.shards {
        0 => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        n => n,
    };
    // Each pipeline's counters, and its per-state counts when the console
    // shows them.
    let console = config.api.as_ref().map(|a| &a.console).filter(|c| c.enabled);
    let observed: Vec<(Arc<Stats>, Option<Arc<PipelineWatch>>)> = prepared
        .iter()
        .map(|p| {
            let watch = console.map(|_| Arc::new(PipelineWatch::new(p.program.states.len(), shards)));
            (Arc::new(Stats::default()), watch)
        })
        .collect();
    let mut in_process: Option<Arc<dyn expressway_runtime::LocalExecutions>> = None;
    let api = match &config.api {
        Some(api_config) => {
            let (api, bound, local) = start_api(api_config, &config, &prepared)?;
            in_process = Some(local);
            if let Some(c) = console {
                let pipelines = prepared
                    .iter()
                    .zip(&observed)
                    .filter_map(|(p, (stats, watch))| {
                        let watch = watch.clone()?;
                        Some(WatchedPipeline::new(&p.name, &p.definition, stats.clone(), watch))
                    })
                    .collect();
                let hosts = c.hosts.iter().map(|h| h.to_ascii_lowercase()).collect();
                api.open_console(Console { allow_start: c.allow_start, hosts, pipelines });
                eprintln!("console on http://{bound}/console/");
            }
            Some(api)
        }
        None => None,
    };
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, shutdown.clone()).map_err(|e| format!("installing signal handler: {e}"))?;
    }
    let started = Instant::now();
    let mut runs = Vec::new();
    let mut aws = AwsOnDemand { config: &config.aws, aws: None, http_only: false };
    for (p, (stats, watch)) in prepared.into_iter().zip(observed) {
        let sources: Vec<Box<dyn Source>> = match &p.config.source {
            SourceConfig::File { path, follow, checkpoint, rotate_wait } => {
                if from_start {
                    let cp = checkpoint.clone().unwrap_or_else(|| {
                        let mut s = path.as_os_str().to_owned();
                        s.push(".checkpoint");
                        PathBuf::from(s)
                    });
                    let _ = std::fs::remove_file(cp);
                }
                let source = FileSource::open(path, *follow, checkpoint.as_deref()).map_err(|e| e.to_string())?;
                vec![Box::new(source.max_record_bytes(config.runtime.max_payload_bytes).rotate_wait(*rotate_wait))]
            }
            SourceConfig::Stdin => vec![Box::new(StdinSource::spawn(config.runtime.max_payload_bytes))],
            SourceConfig::Sqs { queue_url, pollers, visibility_timeout, wait_time } => vec![Box::new(SqsSource::open(
                aws.get()?,
                &SqsSourceConfig {
                    queue_url,
                    pollers: *pollers,
                    visibility_timeout: *visibility_timeout,
                    wait_time: *wait_time,
                },
            )?)],
            SourceConfig::Kafka { brokers, group, topics, instance_id, consumers, properties } => {
                // Members of one group: the group spreads the partitions
                // over them; each has its own static id, if any.
                (0..*consumers)
                    .map(|i| {
                        let instance_id = instance_id.as_ref().map(|id| match i {
                            0 => id.clone(),
                            i => format!("{id}-{i}"),
                        });
                        let source = expressway_connectors::kafka::KafkaSource::open(
                            &expressway_connectors::kafka::KafkaSourceConfig {
                                brokers,
                                group,
                                topics,
                                instance_id: instance_id.as_deref(),
                                properties,
                                max_record_bytes: config.runtime.max_payload_bytes,
                            },
                        )?;
                        Ok(Box::new(source) as Box<dyn Source>)
                    })
                    .collect::<Result<_, String>>()?
            }
        };
        // Each sink writer opens its own sinks (checked in `problems`: only
        // sinks that can be opened more than once when there are several).
        let writers = (0..config.runtime.sink_writers.min(shards).max(1))
            .map(|_| {
                Ok(SinkWriter {
                    results: open_sink(&p.config.sink, &mut aws)?,
                    dead_letters: open_sink(&p.config.dead_letter, &mut aws)?,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let dedup: Arc<dyn DedupStore> = match p.config.dedup {
            DedupConfig::Memory { ttl, capacity } => Arc::new(MemoryDedup::new(ttl, capacity)),
            DedupConfig::Redis { ref url, ttl, ref key_prefix } => {
                Arc::new(RedisDedup::connect(url, ttl, &format!("{key_prefix}{}:", p.name)).map_err(|e| e.to_string())?)
            }
            DedupConfig::Dynamodb { ref table, ttl, ref ttl_attribute } => {
                Arc::new(DynamoDedup::open(aws.get()?, table, ttl, ttl_attribute, &format!("{}:", p.name))?)
            }
        };
        let tasks: Arc<dyn TaskService> = if p.program.tasks.is_empty() {
            Arc::new(NoTaskService)
        } else {
            let http = HttpInvoker::new(Some(config.http.allowed_endpoints.clone()), config.http.timeout)?;
            let http_only = p.program.tasks.iter().all(|t| t.resource.starts_with("arn:aws:states:::http:invoke"));
            let service = AwsTasks::new(if http_only { aws.get_for_http()? } else { aws.get()? }, http);
            Arc::new(match &in_process {
                Some(local) => service.in_process(local.clone()),
                None => service,
            })
        };
        let spec = PipelineSpec {
            name: p.name.clone(),
            program: p.program,
            state_machine_name: p.machine_name,
            express: p.express,
            key: p.key,
            shards,
            max_in_flight_per_shard: config.runtime.max_in_flight_per_shard,
            max_payload_bytes: config.runtime.max_payload_bytes,
            max_work_per_execution: config.runtime.max_work_per_execution,
            drain_timeout: config.runtime.drain_timeout,
            commit_interval: config.runtime.commit_interval,
            ordering: match config.runtime.ordering {
                Ordering::Partition => RecordOrdering::Partition,
                Ordering::Key => RecordOrdering::Key,
                Ordering::None => RecordOrdering::None,
            },
            log_level: p.config.logging.level,
            log_execution_data: p.config.logging.include_execution_data,
            tasks,
            clock: Arc::new(SystemClock),
            watch,
        };
        let (stats2, shutdown2) = (stats.clone(), shutdown.clone());
        let handle = std::thread::Builder::new()
            .name(format!("pipeline-{}", p.name))
            .spawn(move || expressway_runtime::run_parallel(spec, sources, writers, dedup, stats2, shutdown2))
            .map_err(|e| e.to_string())?;
        runs.push((p.name, stats, handle));
    }
    // Every source is open and every dedup store reached: ready until a
    // shutdown signal starts the drain.
    ready.store(true, std::sync::atomic::Ordering::Relaxed);
    let (watch_ready, watch_shutdown) = (ready.clone(), shutdown.clone());
    std::thread::spawn(move || {
        while !watch_shutdown.load(std::sync::atomic::Ordering::Relaxed) {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        watch_ready.store(false, std::sync::atomic::Ordering::Relaxed);
    });
    tracing::info!(pipelines = runs.len(), shards, "running");
    if runs.is_empty() {
        // Only the API: serve until asked to stop.
        wait_for_signal(&shutdown);
    }
    let mut failed = false;
    for (name, stats, handle) in runs {
        let outcome = handle.join().map_err(|_| format!("pipeline {name} panicked"))?;
        let secs = started.elapsed().as_secs_f64().max(1e-9);
        let g = Stats::get;
        eprintln!(
            "pipeline {name}: {} executions ({} succeeded, {} failed, {} timed out), {} duplicates skipped, \
             {} malformed, {} oversized, {} dead letters ({} results refused by the sink), {} internal errors, \
             {} abandoned at the drain deadline, {:.0} exec/s",
            g(&stats.executions),
            g(&stats.succeeded),
            g(&stats.failed),
            g(&stats.timed_out),
            g(&stats.duplicates),
            g(&stats.malformed),
            g(&stats.oversized),
            g(&stats.dead_letters),
            g(&stats.sink_refusals),
            g(&stats.internal_errors),
            g(&stats.abandoned),
            g(&stats.executions) as f64 / secs
        );
        if let Err(e) = outcome {
            eprintln!("pipeline {name} stopped: {e}");
            failed = true;
        }
    }
    if until_signal && api.is_some() && !failed {
        // `serve`: pipelines that ended (a file read to its end) leave the
        // API answering, as its command promises. One that stopped on an
        // error ends the process instead (exit 1, restarted by its
        // supervisor), not a pod that looks healthy and runs nothing.
        wait_for_signal(&shutdown);
    }
    if let Some(api) = api {
        // Executions the API still runs get what is left of the drain time.
        if let Ok(api) = Arc::try_unwrap(api) {
            api.shutdown(config.runtime.drain_timeout.min(std::time::Duration::from_secs(5)));
        }
    }
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

fn wait_for_signal(shutdown: &AtomicBool) {
    while !shutdown.load(std::sync::atomic::Ordering::Relaxed) {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// How often the metrics recorder folds recorded histogram samples in.
const METRICS_UPKEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// The Step Functions API: the pipelines' machines under their pipeline
/// names, tasks performed by the same AWS clients as the pipelines'.
fn start_api(
    api_config: &expressway_config::api::ApiConfig,
    config: &Config,
    prepared: &[Prepared],
) -> Result<(Arc<expressway_api::Api>, std::net::SocketAddr, Arc<expressway_api::InProcess>), String> {
    let configured = prepared
        .iter()
        .map(|p| expressway_api::ConfiguredMachine {
            name: p.name.clone(),
            definition: p.definition.clone(),
            program: p.program.clone(),
            express: p.express,
        })
        .collect();
    let (aws_config, http_config) = (config.aws.clone(), config.http.clone());
    // The API's machines start in-process from its own executions' and the
    // pipelines' `states:startExecution`.
    let local = Arc::new(expressway_api::InProcess::default());
    let in_process = local.clone();
    let make_tasks: expressway_api::TasksFactory = Box::new(move || {
        // Called on the API's runtime, where the AWS configuration (which
        // blocks on a runtime of its own while it loads) cannot be read. The
        // HTTP invoker first: an `Aws` dropped here, on the API's runtime,
        // would panic dropping its own.
        let http = HttpInvoker::new(Some(http_config.allowed_endpoints.clone()), http_config.timeout)?;
        let aws = std::thread::scope(|s| s.spawn(|| Aws::new(&aws_config)).join())
            .map_err(|_| "reading the AWS configuration panicked".to_string())??;
        Ok(Arc::new(AwsTasks::new(aws, http).in_process(in_process.clone())) as Arc<dyn TaskService>)
    });
    let api = Arc::new(expressway_api::Api::new(api_config, configured, make_tasks)?);
    local.attach(&api);
    expressway_api::server::describe_metrics();
    let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let bound = expressway_api::server::serve(api.clone(), api_config, workers)
        .map_err(|e| format!("listening on {}: {e}", api_config.address))?;
    eprintln!("Step Functions API on http://{bound}");
    Ok((api, bound, local))
}

/// Panics the shards catch are dead-lettered and counted
/// (`expressway_internal_errors_total`); the default hook would still print
/// each one to standard error, so a stream of bad records would flood it.
/// Print the first few in full, then say that the rest are only counted;
/// a panic anywhere else is always printed.
fn quiet_repeated_panics() {
    const PRINTED: u64 = 10;
    static SEEN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !std::thread::current().name().is_some_and(|n| n.starts_with("shard-")) {
            return default(info);
        }
        let n = SEEN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if n < PRINTED {
            default(info);
        } else if n == PRINTED {
            eprintln!(
                "further panics are not printed: their records are dead-lettered as Expressway.InternalError and \
                 counted in expressway_internal_errors_total"
            );
        }
    }));
}
