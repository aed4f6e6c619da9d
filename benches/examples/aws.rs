//! AWS integrations under load.
//!
//!     cargo run --release -p expressway-benches --example aws -- [N]
//!
//! 1. Lambda-task throughput: N executions of a one-Task machine (a function
//!    ARN, as most machines call Lambda; then the same call as
//!    `aws-sdk:lambda:invoke`) against an in-process server that
//!    speaks Lambda's Invoke API (200 with the request body echoed, as a
//!    function that returns its event). Memory source → runtime → null sink,
//!    at several in-flight caps (`SHARDS` shards, default 2): tasks park, so
//!    one shard keeps many calls open at once.
//! 2. With `AWS_ENDPOINT_URL` set (`deploy/dev/services.sh start`, then
//!    `set -a; . target/services.env; set +a`): SQS → Expressway (pass-chain)
//!    → SQS against ministack, and ministack's own send/receive rate for
//!    comparison — the emulator, not Expressway, is the bound there.

use expressway_connectors::aws::Aws;
use expressway_connectors::aws::sqs::{SqsSink, SqsSource, SqsSourceConfig};
use expressway_connectors::aws::tasks::AwsTasks;
use expressway_connectors::stdio::NullSink;
use expressway_engine::{WorkflowType, compile_text};
use expressway_runtime::testing::Replay;
use expressway_runtime::{NoDedup, PipelineSpec, Stats};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Lambda's Invoke API, just enough: keep-alive HTTP/1.1, the body echoed.
fn serve_invoke() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let _ = connection(stream);
            });
        }
    });
    format!("http://{address}")
}

fn connection(stream: TcpStream) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let mut length = 0usize;
        loop {
            let mut header = String::new();
            reader.read_line(&mut header)?;
            if header == "\r\n" || header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        write!(
            writer,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Amz-Executed-Version: $LATEST\r\n\
             x-amzn-RequestId: 00000000-0000-0000-0000-000000000000\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )?;
        writer.write_all(&body)?;
    }
}

fn spec(
    machine: &str,
    shards: usize,
    in_flight: usize,
    tasks: Arc<dyn expressway_runtime::tasks::TaskService>,
) -> PipelineSpec {
    PipelineSpec {
        shards,
        max_in_flight_per_shard: in_flight,
        drain_timeout: Duration::from_secs(30),
        tasks,
        ..PipelineSpec::new("bench", Arc::new(compile_text(machine, WorkflowType::Express).expect("machine compiles")))
    }
}

fn lambda_tasks(n: usize) {
    let endpoint = serve_invoke();
    let settings = expressway_config::pipeline::AwsConfig {
        region: Some("us-east-1".into()),
        endpoints: [("lambda".to_string(), endpoint)].into_iter().collect(),
        max_concurrent_calls: 4096,
        ..Default::default()
    };
    let aws = Aws::new(&settings).expect("aws");
    // The same call two ways: the optimised Lambda path (the AWS SDK for
    // Rust's client) and the model-driven `aws-sdk:*` path (its own
    // request building, signing and result reading), same server.
    let optimised = r#"{"StartAt":"Call","States":{"Call":{"Type":"Task",
        "Resource":"arn:aws:lambda:us-east-1:000000000000:function:echo","ResultPath":"$.echo","End":true}}}"#;
    let aws_sdk = r#"{"StartAt":"Call","States":{"Call":{"Type":"Task",
        "Resource":"arn:aws:states:::aws-sdk:lambda:invoke","Parameters":{"FunctionName":"echo","Payload.$":"$"},
        "ResultPath":"$.echo","End":true}}}"#;
    let payload = br#"{"deviceId":"sensor-42","reading":21.5}"#.to_vec();
    let shards: usize = std::env::var("SHARDS").ok().and_then(|v| v.parse().ok()).unwrap_or(2);
    for ((path, machine), in_flight) in [("lambda task (function ARN)", optimised), ("aws-sdk:lambda:invoke", aws_sdk)]
        .into_iter()
        .flat_map(|m| [64, 256, 1024].map(|f| (m, f)))
    {
        let stats = Arc::new(Stats::default());
        let http = expressway_connectors::aws::http_invoke::HttpInvoker::new(Some(Vec::new()), Duration::from_secs(60))
            .expect("http");
        let tasks = Arc::new(AwsTasks::new(aws.clone(), http));
        let record = payload.clone();
        let source = Replay::new(n as u64, move |_| record.clone());
        let began = Instant::now();
        expressway_runtime::run(
            spec(machine, shards, in_flight, tasks),
            Box::new(source),
            Box::new(NullSink),
            Box::new(NullSink),
            Arc::new(NoDedup),
            stats.clone(),
            Arc::new(AtomicBool::new(false)),
        )
        .expect("run");
        let secs = began.elapsed().as_secs_f64();
        let ok = stats.succeeded.load(Ordering::Relaxed);
        println!(
            "{path}, {shards} shards, {in_flight} in flight per shard: {ok}/{n} succeeded, {:.0} executions/s",
            ok as f64 / secs
        );
    }
}

fn sqs_to_sqs(n: usize) {
    let settings = expressway_config::pipeline::AwsConfig { max_concurrent_calls: 1024, ..Default::default() };
    let aws = Aws::new(&settings).expect("aws (AWS_REGION and credentials from target/services.env)");
    let sqs = aws.sqs();
    let tag = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    let make = |name: String| {
        aws.handle()
            .block_on(sqs.create_queue().queue_name(name).send())
            .expect("CreateQueue")
            .queue_url()
            .unwrap_or_default()
            .to_string()
    };
    let (input, output, dead) =
        (make(format!("bench-in-{tag}")), make(format!("bench-out-{tag}")), make(format!("bench-dead-{tag}")));
    let body = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/machines/pass-chain.input.json"))
        .expect("input")
        .trim()
        .to_string();
    // Fill the input queue with the sink itself: also ministack's send rate.
    let began = Instant::now();
    let mut filler = SqsSink::open(aws.clone(), &input, None).expect("sink");
    for _ in 0..n {
        expressway_runtime::Sink::write(&mut filler, body.as_bytes()).expect("write");
    }
    expressway_runtime::Sink::flush(&mut filler).expect("flush");
    println!("ministack SendMessageBatch: {:.0} messages/s", n as f64 / began.elapsed().as_secs_f64());
    let machine =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/machines/pass-chain.asl.json")).expect("machine");
    let source = SqsSource::open(
        aws.clone(),
        &SqsSourceConfig {
            queue_url: &input,
            pollers: 8,
            visibility_timeout: Duration::from_secs(60),
            wait_time: Duration::from_secs(1),
        },
    )
    .expect("source");
    let sink = SqsSink::open(aws.clone(), &output, None).expect("sink");
    let dead = SqsSink::open(aws.clone(), &dead, None).expect("dead");
    let stats = Arc::new(Stats::default());
    let shutdown = Arc::new(AtomicBool::new(false));
    let (stats2, shutdown2) = (stats.clone(), shutdown.clone());
    let tasks: Arc<dyn expressway_runtime::tasks::TaskService> = Arc::new(expressway_runtime::tasks::NoTaskService);
    let pipeline = spec(&machine, 2, 1024, tasks);
    let runner = std::thread::spawn(move || {
        expressway_runtime::run(
            pipeline,
            Box::new(source),
            Box::new(sink),
            Box::new(dead),
            Arc::new(NoDedup),
            stats2,
            shutdown2,
        )
    });
    let began = Instant::now();
    while (stats.succeeded.load(Ordering::Relaxed) as usize) < n && began.elapsed() < Duration::from_secs(300) {
        std::thread::sleep(Duration::from_millis(5));
    }
    shutdown.store(true, Ordering::Relaxed);
    let _ = runner.join();
    let done = stats.succeeded.load(Ordering::Relaxed);
    println!(
        "SQS -> Expressway (pass-chain, 2 shards, 8 pollers) -> SQS: {done}/{n} in {:.1} s, {:.0} executions/s",
        began.elapsed().as_secs_f64(),
        done as f64 / began.elapsed().as_secs_f64()
    );
}

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(20_000);
    if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
        // The in-process Invoke server checks no signature.
        // SAFETY: single-threaded here, before any client exists.
        unsafe {
            std::env::set_var("AWS_ACCESS_KEY_ID", "bench");
            std::env::set_var("AWS_SECRET_ACCESS_KEY", "bench");
        }
    }
    lambda_tasks(n);
    if std::env::var_os("AWS_ENDPOINT_URL").is_some() {
        sqs_to_sqs(n.min(5_000));
    } else {
        println!(
            "SQS -> SQS skipped: AWS_ENDPOINT_URL is not set (start the dev services and source target/services.env)"
        );
    }
}
