//! SQS, Lambda and DynamoDB end to end against ministack, which
//! `deploy/dev/services.sh` installs and starts (CI runs it). Lambda
//! functions run for real: `tests/lambda/bootstrap` behind the Runtime API.

use aws_sdk_dynamodb::types::ScalarAttributeType;
use aws_sdk_dynamodb::types::{AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType};
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{Environment, FunctionCode, Runtime as LambdaRuntime};
use aws_sdk_sqs::types::QueueAttributeName;
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

mod support;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn unique() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{}-{}", std::process::id(), nanos % 1_000_000_000_000)
}

/// Clients for setting up and checking, and where the functions log calls.
struct Aws {
    rt: tokio::runtime::Runtime,
    sqs: aws_sdk_sqs::Client,
    lambda: aws_sdk_lambda::Client,
    dynamodb: aws_sdk_dynamodb::Client,
    call_log: PathBuf,
}

fn aws() -> &'static Aws {
    static AWS: OnceLock<Aws> = OnceLock::new();
    AWS.get_or_init(|| {
        std::env::var("AWS_ENDPOINT_URL")
            .expect("AWS_ENDPOINT_URL is not set: run deploy/dev/test.sh, which starts ministack and sets it");
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        let config = rt.block_on(aws_config::defaults(aws_config::BehaviorVersion::latest()).load());
        let dir = std::env::temp_dir().join(format!("expressway-aws-{}", unique()));
        std::fs::create_dir_all(&dir).expect("log dir");
        let aws = Aws {
            sqs: aws_sdk_sqs::Client::new(&config),
            lambda: aws_sdk_lambda::Client::new(&config),
            dynamodb: aws_sdk_dynamodb::Client::new(&config),
            rt,
            call_log: dir.join("calls.log"),
        };
        aws.deploy_functions();
        aws
    })
}

impl Aws {
    fn queue(&self, name: &str) -> String {
        let fifo = name.ends_with(".fifo");
        let mut create = self.sqs.create_queue().queue_name(name);
        if fifo {
            create = create.attributes(QueueAttributeName::FifoQueue, "true");
        }
        let out = self.rt.block_on(create.send()).expect("CreateQueue");
        out.queue_url().expect("queue url").to_string()
    }

    fn send(&self, url: &str, bodies: &[(String, Option<String>)]) {
        for (i, (body, group)) in bodies.iter().enumerate() {
            let mut send = self.sqs.send_message().queue_url(url).message_body(body);
            if let Some(g) = group {
                send = send.message_group_id(g).message_deduplication_id(format!("{g}-{i}-{}", unique()));
            }
            self.rt.block_on(send.send()).expect("SendMessage");
        }
    }

    /// Receive and delete until `n` messages arrived or `timeout` passed.
    fn drain(&self, url: &str, n: usize, timeout: Duration) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + timeout;
        let mut out = Vec::new();
        while out.len() < n && Instant::now() < deadline {
            let got = self
                .rt
                .block_on(
                    self.sqs.receive_message().queue_url(url).max_number_of_messages(10).wait_time_seconds(1).send(),
                )
                .expect("ReceiveMessage");
            for m in got.messages() {
                let body = m.body().unwrap_or_default();
                out.push(serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}")));
                if let Some(r) = m.receipt_handle() {
                    self.rt
                        .block_on(self.sqs.delete_message().queue_url(url).receipt_handle(r).send())
                        .expect("Delete");
                }
            }
        }
        out
    }

    fn table(&self, name: &str) {
        let create = self
            .dynamodb
            .create_table()
            .table_name(name)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("pk")
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .expect("attribute"),
            )
            .key_schema(KeySchemaElement::builder().attribute_name("pk").key_type(KeyType::Hash).build().expect("key"))
            .billing_mode(BillingMode::PayPerRequest);
        self.rt.block_on(create.send()).expect("CreateTable");
    }

    /// One zip (the bootstrap), one function per behaviour (its Handler).
    fn deploy_functions(&self) {
        let zip = std::env::temp_dir().join(format!("expressway-fn-{}.zip", unique()));
        let bootstrap = repo().join("connectors/expressway/tests/lambda/bootstrap");
        let status = Command::new("python3")
            .args(["-c", "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1], 'w')\ni = zipfile.ZipInfo('bootstrap')\ni.external_attr = 0o755 << 16\nz.writestr(i, open(sys.argv[2], 'rb').read())\nz.close()"])
            .arg(&zip)
            .arg(&bootstrap)
            .status()
            .expect("python3");
        assert!(status.success(), "zipping the bootstrap failed");
        let code = std::fs::read(&zip).expect("zip");
        let functions = [
            ("echo", "echo"),
            ("flaky", "flaky"),
            ("always-fails", "fail"),
            ("slow", "slow"),
            ("reserve-inventory", "reserve"),
            ("charge-payment", "charge"),
            ("create-shipment", "ship"),
            ("refund-payment", "refund"),
            ("release-inventory", "release"),
        ];
        for (name, handler) in functions {
            let _ = self.rt.block_on(self.lambda.delete_function().function_name(name).send());
            let env = Environment::builder().variables("CALL_LOG", self.call_log.to_string_lossy()).build();
            let create = self
                .lambda
                .create_function()
                .function_name(name)
                .runtime(LambdaRuntime::Providedal2023)
                .role("arn:aws:iam::000000000000:role/lambda")
                .handler(handler)
                .timeout(30)
                .environment(env)
                .code(FunctionCode::builder().zip_file(Blob::new(code.clone())).build());
            self.rt.block_on(create.send()).unwrap_or_else(|e| panic!("CreateFunction {name}: {e:?}"));
        }
    }

    /// Calls logged by the functions for events whose id contains `tag`.
    fn calls(&self, tag: &str) -> Vec<String> {
        std::fs::read_to_string(&self.call_log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(tag))
            .map(str::to_string)
            .collect()
    }
}

/// A test's input, output and dead-letter queues.
struct Queues {
    input: String,
    output: String,
    dead: String,
}

fn queues(aws: &Aws, prefix: &str, run: &str, fifo: bool) -> Queues {
    let suffix = if fifo { ".fifo" } else { "" };
    Queues {
        input: aws.queue(&format!("{prefix}-in-{run}{suffix}")),
        output: aws.queue(&format!("{prefix}-out-{run}{suffix}")),
        dead: aws.queue(&format!("{prefix}-dead-{run}")),
    }
}

/// The pipeline's source, sink and dead-letter lines; `source` and `sink`
/// add fields to theirs.
fn sqs_lines(q: &Queues, source: &str, sink: &str) -> String {
    format!(
        "    source: {{ type: sqs, queue_url: \"{}\", wait_time: 1s{source} }}\n    sink: {{ type: sqs, queue_url: \"{}\"{sink} }}\n    dead_letter: {{ type: sqs, queue_url: \"{}\" }}\n",
        q.input, q.output, q.dead
    )
}

const ECHO_MACHINE: &str = r#"{"StartAt": "Call", "States": {"Call": {"Type": "Task",
    "Resource": "arn:aws:lambda:us-east-1:000000000000:function:echo", "ResultPath": "$.echo", "End": true}}}"#;

fn config(dir: &Path, machine: &Path, body: &str) -> PathBuf {
    let cfg = dir.join(format!("pipeline-{}.yaml", unique()));
    let text = format!(
        "pipelines:\n  - name: aws-test\n    state_machine: {}\n{body}runtime: {{ shards: 2, max_in_flight_per_shard: 64, drain_timeout: 20s }}\n",
        machine.display()
    );
    std::fs::write(&cfg, text).expect("config");
    cfg
}

fn start(cfg: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_expressway"))
        .args(["run", "--config", cfg.to_str().expect("utf-8 path")])
        .stderr(Stdio::piped())
        .spawn()
        .expect("start expressway run")
}

/// SIGTERM, wait, and return what it printed on standard error.
fn stop(mut child: Child) -> String {
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let deadline = Instant::now() + Duration::from_secs(40);
    while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    err
}

fn work_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("expressway-aws-test-{}", unique()));
    std::fs::create_dir_all(&d).expect("dir");
    d
}

fn machine(dir: &Path, text: &str) -> PathBuf {
    let p = dir.join("machine.asl.json");
    std::fs::write(&p, text).expect("machine");
    p
}

#[test]
fn sqs_through_lambda_dynamodb_and_sqs_tasks_with_retry_and_catch() {
    let aws = aws();
    let run = unique();
    let q = queues(aws, "tasks", &run, false);
    let audit = aws.queue(&format!("audit-{run}"));
    let table = format!("orders-{run}");
    aws.table(&table);
    let dir = work_dir();
    let definition = r#"{
      "StartAt": "Route",
      "States": {
        "Route": {"Type": "Choice", "Choices": [{"Variable": "$.poison", "IsPresent": true, "Next": "AlwaysFails"}], "Default": "Enrich"},
        "AlwaysFails": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:000000000000:function:always-fails",
          "Catch": [{"ErrorEquals": ["FulfillmentError"], "ResultPath": "$.caught", "Next": "Routed"}], "End": true},
        "Routed": {"Type": "Pass", "End": true},
        "Enrich": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:000000000000:function:echo", "ResultPath": "$.enriched", "Next": "Flaky"},
        "Flaky": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
          "Parameters": {"FunctionName": "flaky", "Payload": {"id.$": "$.id"}},
          "ResultSelector": {"attempts.$": "$.Payload.attempts", "status.$": "$.StatusCode"},
          "ResultPath": "$.flaky",
          "Retry": [{"ErrorEquals": ["FlakyError"], "IntervalSeconds": 1, "MaxAttempts": 3, "BackoffRate": 1}],
          "Next": "Store"},
        "Store": {"Type": "Task", "Resource": "arn:aws:states:::dynamodb:putItem",
          "Parameters": {"TableName": "TABLE", "Item": {"pk": {"S.$": "$.id"}, "attempts": {"N.$": "States.Format('{}', $.flaky.attempts)"}}},
          "ResultPath": null, "Next": "Notify"},
        "Notify": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage",
          "Parameters": {"QueueUrl": "AUDIT", "MessageBody": {"stored.$": "$.id"},
            "MessageAttributes": {"source": {"DataType": "String", "StringValue": "expressway"}}},
          "ResultSelector": {"id.$": "$.MessageId", "attributes.$": "$.MD5OfMessageAttributes"}, "ResultPath": "$.sent", "End": true}
      }
    }"#
    .replace("TABLE", &table)
    .replace("AUDIT", &audit);
    let machine = machine(&dir, &definition);
    let cfg = config(&dir, &machine, &sqs_lines(&q, "", ""));
    let mut messages: Vec<(String, Option<String>)> =
        (0..6).map(|i| (format!(r#"{{"id":"{run}-ok-{i}"}}"#), None)).collect();
    messages.extend((0..2).map(|i| (format!(r#"{{"id":"{run}-poison-{i}","poison":true}}"#), None)));
    messages.push(("not json".to_string(), None));
    aws.send(&q.input, &messages);
    let child = start(&cfg);
    let results = aws.drain(&q.output, 8, Duration::from_secs(90));
    let dead_letters = aws.drain(&q.dead, 1, Duration::from_secs(20));
    let log = stop(child);
    assert_eq!(results.len(), 8, "results: {results:?}\n{log}");
    let mut ok = 0;
    for r in &results {
        let id = r["id"].as_str().unwrap_or_default();
        if id.contains("poison") {
            assert_eq!(r["caught"]["Error"], "FulfillmentError", "{r}");
            let cause: serde_json::Value =
                serde_json::from_str(r["caught"]["Cause"].as_str().unwrap_or("{}")).unwrap_or_default();
            assert_eq!(cause["errorMessage"], "this function always fails", "{r}");
        } else {
            ok += 1;
            assert_eq!(r["enriched"]["echo"]["id"], id, "{r}");
            // Failed twice with FlakyError, retried, succeeded the third time.
            assert_eq!(r["flaky"], serde_json::json!({"attempts": 3, "status": 200}), "{r}");
            assert!(r["sent"]["id"].as_str().is_some_and(|s| !s.is_empty()), "{r}");
            assert_eq!(r["sent"]["attributes"].as_str().map(str::len), Some(32), "an MD5 of the attributes: {r}");
            let item = aws
                .rt
                .block_on(aws.dynamodb.get_item().table_name(&table).key("pk", AttributeValue::S(id.into())).send())
                .expect("GetItem");
            assert_eq!(item.item().and_then(|i| i.get("attempts")), Some(&AttributeValue::N("3".into())), "{id}");
        }
    }
    assert_eq!(ok, 6);
    assert_eq!(aws.calls(&format!("{run}-ok")).iter().filter(|l| l.starts_with("flaky ")).count(), 18);
    let audit_messages = aws.drain(&audit, 6, Duration::from_secs(20));
    assert_eq!(audit_messages.len(), 6, "{audit_messages:?}");
    assert_eq!(dead_letters.len(), 1, "{dead_letters:?}");
    assert_eq!(dead_letters[0]["error"], "Expressway.MalformedRecord");
    assert_eq!(dead_letters[0]["input"], "not json");
    // Everything completed was deleted: nothing comes back.
    assert!(aws.drain(&q.input, 1, Duration::from_secs(2)).is_empty());
}

#[test]
fn the_order_saga_compensates_exactly_the_steps_before_a_failure() {
    let aws = aws();
    let run = unique();
    let q = queues(aws, "orders", &run, false);
    let dir = work_dir();
    let machine = repo().join("config/examples/machines/order-saga.asl.json");
    let cfg = config(&dir, &machine, &sqs_lines(&q, "", ""));
    let orders = [("placed", ""), ("no-stock", "reserve"), ("declined", "charge"), ("no-courier", "ship")];
    let bodies: Vec<(String, Option<String>)> =
        orders.iter().map(|(name, fail)| (format!(r#"{{"id":"{run}-{name}","fail":"{fail}"}}"#), None)).collect();
    aws.send(&q.input, &bodies);
    let child = start(&cfg);
    let placed = aws.drain(&q.output, 1, Duration::from_secs(90));
    let failed = aws.drain(&q.dead, 3, Duration::from_secs(90));
    let log = stop(child);
    assert_eq!(placed.len(), 1, "{placed:?}\n{log}");
    assert_eq!(placed[0]["shipment"]["status"], 200);
    assert_eq!(placed[0]["shipment"]["shipment"]["step"], "ship");
    assert_eq!(failed.len(), 3, "{failed:?}\n{log}");
    for f in &failed {
        assert_eq!(f["error"], "OrderFailed", "{f}");
    }
    let steps = |name: &str| -> Vec<String> {
        aws.calls(&format!("{run}-{name}"))
            .iter()
            .map(|l| l.split(' ').next().unwrap_or_default().to_string())
            .collect()
    };
    assert_eq!(steps("placed"), ["reserve", "charge", "ship"]);
    assert_eq!(steps("no-stock"), ["reserve"]);
    assert_eq!(steps("declined"), ["reserve", "charge", "release"]);
    assert_eq!(steps("no-courier"), ["reserve", "charge", "ship", "refund", "release"]);
}

#[test]
fn a_fifo_queue_keeps_order_within_each_group() {
    let aws = aws();
    let run = unique();
    let q = queues(aws, "fifo", &run, true);
    let dir = work_dir();
    let machine = machine(&dir, ECHO_MACHINE);
    let cfg = config(&dir, &machine, &sqs_lines(&q, "", ", message_group_id: \"$.group\""));
    let mut bodies = Vec::new();
    for seq in 0..6 {
        for group in ["a", "b", "c"] {
            bodies.push((
                format!(r#"{{"id":"{run}-{group}{seq}","group":"{group}","seq":{seq}}}"#),
                Some(group.to_string()),
            ));
        }
    }
    aws.send(&q.input, &bodies);
    let child = start(&cfg);
    let results = aws.drain(&q.output, 18, Duration::from_secs(90));
    let log = stop(child);
    assert_eq!(results.len(), 18, "{results:?}\n{log}");
    let mut by_group: HashMap<String, Vec<i64>> = HashMap::new();
    for r in &results {
        by_group
            .entry(r["group"].as_str().unwrap_or_default().into())
            .or_default()
            .push(r["seq"].as_i64().unwrap_or(-1));
    }
    for group in ["a", "b", "c"] {
        assert_eq!(by_group[group], (0..6).collect::<Vec<_>>(), "group {group}");
    }
    // The functions saw each group's messages in order too.
    for group in ["a", "b", "c"] {
        let seen: Vec<String> = aws.calls(&format!("{run}-{group}")).iter().map(|l| l.to_string()).collect();
        let expected: Vec<String> = (0..6).map(|s| format!("echo {run}-{group}{s}")).collect();
        assert_eq!(seen, expected);
    }
}

#[test]
fn a_message_outliving_its_visibility_timeout_runs_once() {
    let aws = aws();
    let run = unique();
    let q = queues(aws, "slow", &run, false);
    let dir = work_dir();
    let machine = machine(
        &dir,
        r#"{"StartAt": "Slow", "States": {"Slow": {"Type": "Task",
            "Resource": "arn:aws:lambda:us-east-1:000000000000:function:slow", "ResultPath": "$.slow", "End": true}}}"#,
    );
    // Visibility 2 s, executions 5 s: only the extension keeps them hidden.
    let cfg = config(&dir, &machine, &sqs_lines(&q, ", visibility_timeout: 2s", ""));
    let bodies: Vec<(String, Option<String>)> =
        (0..3).map(|i| (format!(r#"{{"id":"{run}-{i}","sleep":5}}"#), None)).collect();
    aws.send(&q.input, &bodies);
    let child = start(&cfg);
    let results = aws.drain(&q.output, 3, Duration::from_secs(60));
    // Give a wrongly re-shown message time to be received and run again.
    std::thread::sleep(Duration::from_secs(3));
    let log = stop(child);
    assert_eq!(results.len(), 3, "{results:?}\n{log}");
    assert_eq!(aws.calls(&run).len(), 3, "each message ran once: {:?}", aws.calls(&run));
    assert!(log.contains("3 executions") && log.contains("0 duplicates skipped"), "{log}");
}

/// A pipeline from `q`'s input queue through the echo Lambda to its output
/// queue, keyed by `$.orderId`, with the DynamoDB dedup store on `table`:
/// its work directory and config file.
fn dynamodb_dedup_config(q: &Queues, table: &str) -> (PathBuf, PathBuf) {
    let dir = work_dir();
    let machine = machine(&dir, ECHO_MACHINE);
    let lines = sqs_lines(q, "", "");
    let dedup = format!(
        "    idempotency: {{ key: $.orderId }}\n    dedup: {{ type: dynamodb, table: \"{table}\", ttl: 1h }}\n"
    );
    let cfg = config(&dir, &machine, &format!("{lines}{dedup}"));
    (dir, cfg)
}

#[test]
fn the_dynamodb_dedup_store_skips_a_redelivered_message_across_restarts() {
    let aws = aws();
    let run = unique();
    let q = queues(aws, "dd", &run, false);
    let table = format!("dedup-{run}");
    aws.table(&table);
    let (dir, cfg) = dynamodb_dedup_config(&q, &table);
    let order = format!(r#"{{"orderId":"{run}-1","id":"{run}-1"}}"#);
    aws.send(&q.input, &[(order.clone(), None)]);
    let first = start(&cfg);
    assert_eq!(aws.drain(&q.output, 1, Duration::from_secs(60)).len(), 1);
    let first_log = stop(first);
    // The producer sends it again (a redelivery); a new process sees it. Its
    // metrics say when the record was judged (the queue's depth can read 0
    // while the message is in the new process's hands).
    aws.send(&q.input, &[(order, None)]);
    let metrics = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port");
    let second_cfg = dir.join("pipeline-second.yaml");
    let text = std::fs::read_to_string(&cfg).expect("config") + &format!("metrics: {{ address: \"{metrics}\" }}\n");
    std::fs::write(&second_cfg, text).expect("config");
    let second = start(&second_cfg);
    let judged = "expressway_dedup_hits_total{pipeline=\"aws-test\"} 1";
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline && !support::scrape(&metrics.to_string()).contains(judged) {
        std::thread::sleep(Duration::from_millis(200));
    }
    let second_log = stop(second);
    assert!(aws.drain(&q.output, 1, Duration::from_secs(3)).is_empty(), "the redelivery ran again\n{second_log}");
    assert!(second_log.contains("1 duplicates skipped"), "{first_log}\n{second_log}");
    assert_eq!(aws.calls(&format!("{run}-1")).len(), 1);
}

/// A key claimed `running` by another replica (which crashed: the claim is
/// never completed) holds its twin here, unacknowledged, until the claim
/// lapses; then the twin runs. Skipping it, as a running twin once was,
/// would lose the message for good.
#[test]
fn a_twin_of_a_claim_running_elsewhere_is_held_until_the_claim_lapses_and_then_runs() {
    let aws = aws();
    let run = unique();
    let q = queues(aws, "dh", &run, false);
    let table = format!("dedup-{run}");
    aws.table(&table);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
    let claim = aws
        .dynamodb
        .put_item()
        .table_name(&table)
        .item("pk", AttributeValue::S(format!("aws-test:\"{run}-1\"")))
        .item("status", AttributeValue::S("running".into()))
        .item("expires_at", AttributeValue::N((now + 3).to_string()));
    aws.rt.block_on(claim.send()).expect("PutItem");
    let (_, cfg) = dynamodb_dedup_config(&q, &table);
    aws.send(&q.input, &[(format!(r#"{{"orderId":"{run}-1","id":"{run}-1"}}"#), None)]);
    let process = start(&cfg);
    let results = aws.drain(&q.output, 1, Duration::from_secs(60));
    let log = stop(process);
    assert_eq!(results.len(), 1, "the twin ran once the claim lapsed\n{log}");
    assert_eq!(aws.calls(&format!("{run}-1")).len(), 1, "{log}");
    assert!(log.contains("0 duplicates skipped"), "{log}");
}

/// The status of `key`'s item in the dedup table (`None`: no item).
fn claim_status(aws: &Aws, table: &str, key: &str) -> Option<String> {
    let get = aws.dynamodb.get_item().table_name(table).key("pk", AttributeValue::S(format!("aws-test:\"{key}\"")));
    let item = aws.rt.block_on(get.consistent_read(true).send()).expect("GetItem");
    item.item().map(|i| i.get("status").and_then(|s| s.as_s().ok()).cloned().unwrap_or_default())
}

/// Wait up to a minute for `key`'s item to have `status`.
fn await_status(aws: &Aws, table: &str, key: &str, status: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while claim_status(aws, table, key).as_deref() != Some(status) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(claim_status(aws, table, key).as_deref(), Some(status), "{key}");
}

/// An execution abandoned at the drain deadline gives its claim back: the
/// message, visible again when the process stops, runs at once in the next
/// process instead of waiting out the claim (six minutes), and a key the
/// first process completed stays completed.
#[test]
fn a_claim_abandoned_at_the_drain_deadline_is_given_back_and_its_message_runs_at_once_after_a_restart() {
    let aws = aws();
    let run = unique();
    let q = queues(aws, "da", &run, false);
    let table = format!("dedup-{run}");
    aws.table(&table);
    // The first process parks the slow order on a four-minute Wait (within
    // an Express execution's five) and gives up on it one second after SIGTERM.
    let dir = work_dir();
    let slow_machine = dir.join("slow.asl.json");
    std::fs::write(
        &slow_machine,
        r#"{"StartAt":"Slow?","States":{
          "Slow?":{"Type":"Choice","Choices":[{"Variable":"$.slow","BooleanEquals":true,"Next":"Hour"}],"Default":"Done"},
          "Hour":{"Type":"Wait","Seconds":240,"Next":"Done"},
          "Done":{"Type":"Pass","End":true}}}"#,
    )
    .expect("machine");
    let first_cfg = dir.join("pipeline-first.yaml");
    let text = format!(
        "pipelines:\n  - name: aws-test\n    state_machine: {}\n{}    idempotency: {{ key: $.orderId }}\n    dedup: {{ type: dynamodb, table: \"{table}\", ttl: 1h }}\nruntime: {{ shards: 2, max_in_flight_per_shard: 64, drain_timeout: 1s }}\n",
        slow_machine.display(),
        // Visible again two seconds after the process is gone.
        sqs_lines(&q, ", visibility_timeout: 2s", "")
    );
    std::fs::write(&first_cfg, text).expect("config");
    let (fast, slow, taken) = (format!("{run}-fast"), format!("{run}-slow"), format!("{run}-taken"));
    aws.send(
        &q.input,
        &[
            (format!(r#"{{"orderId":"{fast}","id":"{fast}","slow":false}}"#), None),
            (format!(r#"{{"orderId":"{slow}","id":"{slow}","slow":true}}"#), None),
            (format!(r#"{{"orderId":"{taken}","id":"{taken}","slow":true}}"#), None),
        ],
    );
    let first = start(&first_cfg);
    assert_eq!(aws.drain(&q.output, 1, Duration::from_secs(60)).len(), 1, "the fast order ran");
    await_status(aws, &table, &fast, "done");
    await_status(aws, &table, &slow, "running");
    await_status(aws, &table, &taken, "running");
    // Another process takes "taken"'s claim over (as after ours lapsed),
    // for five seconds: ours is no longer there to give back.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
    let takeover = aws
        .dynamodb
        .put_item()
        .table_name(&table)
        .item("pk", AttributeValue::S(format!("aws-test:\"{taken}\"")))
        .item("status", AttributeValue::S("running".into()))
        .item("owner", AttributeValue::S("another-process".into()))
        .item("expires_at", AttributeValue::N((now + 5).to_string()));
    aws.rt.block_on(takeover.send()).expect("PutItem");
    let first_log = stop(first);
    assert!(first_log.contains("2 abandoned at the drain deadline"), "{first_log}");
    assert_eq!(claim_status(aws, &table, &slow), None, "the abandoned claim was given back\n{first_log}");
    assert_eq!(claim_status(aws, &table, &fast).as_deref(), Some("done"), "a completed key is never given back");
    assert_eq!(claim_status(aws, &table, &taken).as_deref(), Some("running"), "another process's claim stays");

    // The next process (the echo machine, no Wait) takes the slow order's
    // message as soon as it is visible again and runs it, well within the
    // six minutes a claim left behind would hold it; "taken" runs once the
    // other process's claim lapsed.
    let (_, second_cfg) = dynamodb_dedup_config(&q, &table);
    let second = start(&second_cfg);
    let results = aws.drain(&q.output, 2, Duration::from_secs(30));
    let second_log = stop(second);
    let mut ran: Vec<&str> = results.iter().filter_map(|r| r["id"].as_str()).collect();
    ran.sort_unstable();
    assert_eq!(ran, [slow.as_str(), taken.as_str()], "both ran after the restart\n{first_log}\n{second_log}");
    assert_eq!(aws.calls(&slow).len(), 1, "{second_log}");
    assert_eq!(claim_status(aws, &table, &slow).as_deref(), Some("done"));
}

#[test]
fn sns_publish_reaches_a_subscribed_queue() {
    let aws = aws();
    let run = unique();
    let sns =
        aws_sdk_sns::Client::new(&aws.rt.block_on(aws_config::defaults(aws_config::BehaviorVersion::latest()).load()));
    let topic = aws
        .rt
        .block_on(sns.create_topic().name(format!("alerts-{run}")).send())
        .expect("CreateTopic")
        .topic_arn()
        .unwrap_or_default()
        .to_string();
    let queue = aws.queue(&format!("alerts-{run}"));
    let queue_arn = aws
        .rt
        .block_on(aws.sqs.get_queue_attributes().queue_url(&queue).attribute_names(QueueAttributeName::QueueArn).send())
        .expect("GetQueueAttributes")
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .expect("queue arn");
    aws.rt.block_on(sns.subscribe().topic_arn(&topic).protocol("sqs").endpoint(queue_arn).send()).expect("Subscribe");
    let dir = work_dir();
    let machine = machine(
        &dir,
        &r#"{"StartAt": "Alert", "States": {"Alert": {"Type": "Task", "Resource": "arn:aws:states:::sns:publish",
            "Parameters": {"TopicArn": "TOPIC", "Message": {"device.$": "$.device", "reading.$": "$.reading"}, "Subject": "hot"},
            "ResultSelector": {"messageId.$": "$.MessageId", "requestId.$": "$.SdkResponseMetadata.RequestId"}, "End": true}}}"#
            .replace("TOPIC", &topic),
    );
    let input = dir.join("in.jsonl");
    std::fs::write(
        &input,
        format!("{{\"device\":\"{run}-a\",\"reading\":91}}\n{{\"device\":\"{run}-b\",\"reading\":95}}\n"),
    )
    .expect("input");
    let results = dir.join("results.jsonl");
    let cfg = config(
        &dir,
        &machine,
        &format!(
            "    source: {{ type: file, path: {} }}\n    sink: {{ type: file, path: {} }}\n    dead_letter: {{ type: stdout }}\n",
            input.display(),
            results.display()
        ),
    );
    let out = Command::new(env!("CARGO_BIN_EXE_expressway"))
        .args(["run", "--config", cfg.to_str().expect("utf-8")])
        .output()
        .expect("run");
    let text = std::fs::read_to_string(&results).unwrap_or_default();
    assert_eq!(text.lines().count(), 2, "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    for line in text.lines() {
        let r: serde_json::Value = serde_json::from_str(line).expect("json");
        assert!(r["messageId"].as_str().is_some_and(|s| !s.is_empty()), "{r}");
    }
    let delivered = aws.drain(&queue, 2, Duration::from_secs(20));
    assert_eq!(delivered.len(), 2, "{delivered:?}");
    let mut devices: Vec<String> = delivered
        .iter()
        .map(|envelope| {
            // SNS → SQS wraps the message in its envelope unless raw delivery is on.
            let message =
                envelope.get("Message").and_then(|m| m.as_str()).map(str::to_string).unwrap_or(envelope.to_string());
            let m: serde_json::Value = serde_json::from_str(&message).expect("the published JSON");
            m["device"].as_str().unwrap_or_default().to_string()
        })
        .collect();
    devices.sort();
    assert_eq!(devices, [format!("{run}-a"), format!("{run}-b")]);
}

/// `expressway exec --aws` of the definition file `machine` on the input
/// file `input`, with `env` added to its environment.
fn exec_aws(machine: &Path, input: &Path, env: &[(&str, &str)]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_expressway"))
        .args([
            "exec",
            "--aws",
            "--definition",
            machine.to_str().expect("utf-8"),
            "--input",
            input.to_str().expect("utf-8"),
        ])
        .envs(env.iter().copied())
        .output()
        .expect("exec")
}

#[test]
fn exec_with_aws_calls_real_functions_and_raises_their_errors() {
    let aws = aws();
    let run = unique();
    let dir = work_dir();
    let machine = machine(
        &dir,
        r#"{"StartAt": "Call", "States": {"Call": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": "echo", "Payload.$": "$"}, "OutputPath": "$.Payload.echo", "Next": "Fail"},
            "Fail": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:000000000000:function:always-fails", "End": true}}}"#,
    );
    let input = dir.join("input.json");
    std::fs::write(&input, format!(r#"{{"id":"{run}-exec"}}"#)).expect("input");
    let out = exec_aws(&machine, &input, &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}{}", String::from_utf8_lossy(&out.stderr));
    let result: serde_json::Value = serde_json::from_str(&text).expect("one JSON object");
    assert_eq!(result["status"], "FAILED", "{result}");
    assert_eq!(result["error"], "FulfillmentError", "{result}");
    // Both functions really ran, echo first.
    let calls: Vec<String> = aws.calls(&format!("{run}-exec"));
    assert_eq!(calls, [format!("echo {run}-exec"), format!("fail {run}-exec")]);
}

/// A small HTTP API on a free port: `/missing` answers 404, anything else
/// echoes the request as JSON. Returns the server and its base URL.
fn echo_api() -> (Child, String) {
    let script = r#"
import http.server, json, urllib.parse
class H(http.server.BaseHTTPRequestHandler):
    def handle_any(self):
        u = urllib.parse.urlparse(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        if u.path == "/missing":
            status, out = 404, {"message": "no such thing"}
        else:
            status, out = 200, {"method": self.command, "path": u.path, "query": urllib.parse.parse_qs(u.query),
                                "body": body, "auth": self.headers.get("Authorization"), "type": self.headers.get("Content-Type")}
        data = json.dumps(out).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    do_GET = do_POST = handle_any
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;
    python_server(script, &[])
}

/// A Python HTTP server running `script` with `args`, which prints its port
/// first: the server and its base URL.
fn python_server(script: &str, args: &[&std::ffi::OsStr]) -> (Child, String) {
    let mut child =
        Command::new("python3").args(["-c", script]).args(args).stdout(Stdio::piped()).spawn().expect("python3");
    let mut port = String::new();
    if let Some(out) = child.stdout.as_mut() {
        let mut byte = [0u8; 1];
        while out.read(&mut byte).unwrap_or(0) == 1 && byte[0] != b'\n' {
            port.push(byte[0] as char);
        }
    }
    (child, format!("http://127.0.0.1:{}", port.trim()))
}

#[test]
fn http_tasks_call_allowed_endpoints_with_aws_result_shape_and_errors() {
    let (mut server, base) = echo_api();
    let run = unique();
    let dir = work_dir();
    let machine = machine(
        &dir,
        &r#"{"StartAt": "Post", "States": {
          "Post": {"Type": "Task", "Resource": "arn:aws:states:::http:invoke",
            "Parameters": {"ApiEndpoint": "BASE/orders", "Method": "POST", "Headers": {"Authorization": "Bearer t0k"},
              "QueryParameters": {"dry": "true"}, "RequestBody": {"id.$": "$.id"}},
            "ResultSelector": {"status.$": "$.StatusCode", "text.$": "$.StatusText", "echo.$": "$.ResponseBody"},
            "ResultPath": "$.post", "Next": "Missing"},
          "Missing": {"Type": "Task", "Resource": "arn:aws:states:::http:invoke",
            "Parameters": {"ApiEndpoint": "BASE/missing", "Method": "GET"},
            "Catch": [{"ErrorEquals": ["States.Http.StatusCode.404"], "ResultPath": "$.missing", "Next": "Outside"}], "End": true},
          "Outside": {"Type": "Task", "Resource": "arn:aws:states:::http:invoke",
            "Parameters": {"ApiEndpoint": "http://127.0.0.2:9/x", "Method": "GET"},
            "Catch": [{"ErrorEquals": ["States.Permissions"], "ResultPath": "$.outside", "Next": "Done"}], "End": true},
          "Done": {"Type": "Succeed"}}}"#
            .replace("BASE", &base),
    );
    let input = dir.join("in.jsonl");
    std::fs::write(&input, format!("{{\"id\":\"{run}\"}}\n")).expect("input");
    let results = dir.join("results.jsonl");
    let cfg = dir.join("http.yaml");
    std::fs::write(
        &cfg,
        format!(
            "pipelines:\n  - name: http\n    state_machine: {}\n    source: {{ type: file, path: {} }}\n    sink: {{ type: file, path: {} }}\n    dead_letter: {{ type: stdout }}\nhttp: {{ allowed_endpoints: [\"{base}/\"], timeout: 10s }}\n",
            machine.display(),
            input.display(),
            results.display()
        ),
    )
    .expect("config");
    let out = Command::new(env!("CARGO_BIN_EXE_expressway"))
        .args(["run", "--config", cfg.to_str().expect("utf-8")])
        .output()
        .expect("run");
    let _ = server.kill();
    let text = std::fs::read_to_string(&results).unwrap_or_default();
    let r: serde_json::Value = serde_json::from_str(text.trim()).unwrap_or_else(|e| {
        panic!("{e}: {text}\n{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    });
    assert_eq!(r["post"]["status"], 200, "{r}");
    assert_eq!(r["post"]["text"], "OK", "{r}");
    let echo = &r["post"]["echo"];
    assert_eq!(echo["method"], "POST", "{r}");
    assert_eq!(echo["path"], "/orders", "{r}");
    assert_eq!(echo["query"], serde_json::json!({"dry": ["true"]}), "{r}");
    assert_eq!(echo["body"], format!(r#"{{"id":"{run}"}}"#), "{r}");
    assert_eq!(echo["auth"], "Bearer t0k", "{r}");
    assert_eq!(echo["type"], "application/json", "{r}");
    assert_eq!(r["missing"]["Error"], "States.Http.StatusCode.404", "{r}");
    let cause: serde_json::Value =
        serde_json::from_str(r["missing"]["Cause"].as_str().unwrap_or("{}")).expect("cause is JSON");
    assert_eq!(cause["StatusCode"], 404, "{cause}");
    assert_eq!(cause["ResponseBody"]["message"], "no such thing", "{cause}");
    assert_eq!(r["outside"]["Error"], "States.Permissions", "{r}");
}

#[test]
fn an_unsupported_resource_fails_validation_naming_it() {
    let dir = work_dir();
    let machine = machine(
        &dir,
        r#"{"StartAt": "Publish", "States": {"Publish": {"Type": "Task",
            "Resource": "arn:aws:states:::elasticmapreduce:addStep", "End": true}}}"#,
    );
    let cfg = config(
        &dir,
        &machine,
        "    source: { type: stdin }\n    sink: { type: stdout }\n    dead_letter: { type: stdout }\n",
    );
    let out = Command::new(env!("CARGO_BIN_EXE_expressway"))
        .args(["validate", "--config", cfg.to_str().expect("utf-8")])
        .output()
        .expect("validate");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("arn:aws:states:::elasticmapreduce:addStep") && text.contains("not supported"), "{text}");
}

/// Run `machine` over `bodies` (each with its FIFO group) from fresh queues
/// (`prefix`, FIFO when `fifo`; the results sink with `sink` fields),
/// `prepare`d before the pipeline starts; take `results` results and
/// `dead` dead letters, and what the pipeline logged.
fn through_queues(
    prefix: &str,
    fifo: bool,
    machine_text: &str,
    sink: &str,
    prepare: impl FnOnce(&Aws, &Queues),
    bodies: &[(String, Option<String>)],
    (results, dead): (usize, usize),
) -> (Vec<serde_json::Value>, Vec<serde_json::Value>, String) {
    let aws = aws();
    let q = queues(aws, prefix, &unique(), fifo);
    prepare(aws, &q);
    let dir = work_dir();
    let cfg = config(&dir, &machine(&dir, machine_text), &sqs_lines(&q, "", sink));
    aws.send(&q.input, bodies);
    let child = start(&cfg);
    let results = aws.drain(&q.output, results, Duration::from_secs(60));
    let dead = if dead > 0 { aws.drain(&q.dead, dead, Duration::from_secs(30)) } else { Vec::new() };
    (results, dead, stop(child))
}

const PASS_MACHINE: &str = r#"{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}"#;

/// Distinct records with the same result are distinct messages on a FIFO
/// queue: each message's deduplication id is the sink's own, not the body's
/// hash (SQS kept one of four identical results in a group and dropped the
/// rest, while their source messages were deleted: lost).
#[test]
fn identical_results_on_a_fifo_queue_are_all_kept() {
    let same = r#"{"StartAt":"P","States":{"P":{"Type":"Pass","Result":{"ok":true},"End":true}}}"#;
    let bodies: Vec<_> = (0..4).map(|i| (format!(r#"{{"i":{i}}}"#), Some("g".to_string()))).collect();
    let (results, _, log) = through_queues("same", true, same, "", |_, _| {}, &bodies, (4, 0));
    assert_eq!(results.len(), 4, "{results:?}\n{log}");
    assert!(results.iter().all(|r| r == &serde_json::json!({"ok": true})), "{results:?}");
}

/// A result holding U+FFFF (JSON allows it, SQS does not:
/// `InvalidMessageContents` failed the whole batch and stopped the pipeline
/// on that record at every restart) is sent with the character escaped, which
/// says the same in JSON, and the records around it run.
#[test]
fn a_result_with_characters_sqs_refuses_arrives_escaped() {
    let bodies: Vec<_> = [r#"{"i":0}"#, r#"{"i":1,"name":"bad\uffff\ufffe"}"#, r#"{"i":2}"#]
        .iter()
        .map(|b| (b.to_string(), None))
        .collect();
    let (mut results, _, log) = through_queues("ffff", false, PASS_MACHINE, "", |_, _| {}, &bodies, (3, 0));
    results.sort_by_key(|r| r["i"].as_i64());
    assert_eq!(results.len(), 3, "{results:?}\n{log}");
    assert_eq!(results[1]["name"], "bad\u{ffff}\u{fffe}");
}

/// A result over the results queue's `MaximumMessageSize` (here 1 KiB) is
/// its record's dead letter (`Expressway.SinkRejected`, the result kept),
/// and the records around it run: the batch holding it had failed, and the
/// pipeline with it, at every restart.
#[test]
fn a_result_over_the_queues_message_size_is_dead_lettered() {
    let small = |aws: &Aws, q: &Queues| {
        let set = aws.sqs.set_queue_attributes().queue_url(&q.output);
        aws.rt
            .block_on(set.attributes(QueueAttributeName::MaximumMessageSize, "1024").send())
            .expect("SetQueueAttributes");
    };
    let pad = "x".repeat(2000);
    let bodies: Vec<_> = [r#"{"i":0}"#.to_string(), format!(r#"{{"i":1,"pad":"{pad}"}}"#), r#"{"i":2}"#.to_string()]
        .into_iter()
        .map(|b| (b, None))
        .collect();
    let (mut results, dead, log) = through_queues("small", false, PASS_MACHINE, "", small, &bodies, (2, 1));
    results.sort_by_key(|r| r["i"].as_i64());
    assert_eq!(results, [serde_json::json!({"i": 0}), serde_json::json!({"i": 2})], "{log}");
    assert_eq!(dead.len(), 1, "{log}");
    assert_eq!(dead[0]["error"], "Expressway.SinkRejected");
    let kept: serde_json::Value = serde_json::from_str(dead[0]["output"].as_str().expect("the result")).expect("json");
    assert_eq!(kept["pad"], pad.as_str());
}

/// A result whose `MessageGroupId` (from `message_group_id`) SQS cannot
/// take is its record's dead letter, and the records around it run: the
/// whole batch had failed, and the pipeline with it, at every restart.
#[test]
fn a_result_with_a_group_sqs_refuses_is_dead_lettered() {
    let bodies: Vec<_> = [r#"{"i":0,"group":"a"}"#, r#"{"i":1,"group":"has space"}"#, r#"{"i":2,"group":"a"}"#]
        .iter()
        .map(|b| (b.to_string(), Some("in".to_string())))
        .collect();
    let sink = ", message_group_id: \"$.group\"";
    let (results, dead, log) = through_queues("group", true, PASS_MACHINE, sink, |_, _| {}, &bodies, (2, 1));
    let order: Vec<i64> = results.iter().filter_map(|r| r["i"].as_i64()).collect();
    assert_eq!(order, [0, 2], "{log}");
    assert_eq!(dead.len(), 1, "{log}");
    assert_eq!(dead[0]["error"], "Expressway.SinkRejected");
    assert!(dead[0]["cause"].as_str().unwrap_or_default().contains("MessageGroupId"), "{}", dead[0]);
}

/// A task past its `TimeoutSeconds` stops its call, so the call's
/// concurrency slot is free for the next task at once. A timed-out call had
/// run on until its endpoint answered (for ever, for a hung one), holding
/// its slot: with `max_concurrent_calls: 1` the second record here waited
/// out the first call's 25 s and timed out itself.
#[test]
fn a_timed_out_task_frees_its_call_slot_at_once() {
    let aws = aws();
    let run = unique();
    let q = queues(aws, "abandon", &run, false);
    let dir = work_dir();
    let machine = machine(
        &dir,
        r#"{"StartAt": "Route", "States": {
            "Route": {"Type": "Choice", "Choices": [{"Variable": "$.sleep", "IsPresent": true, "Next": "Slow"}], "Default": "Echo"},
            "Slow": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:000000000000:function:slow", "TimeoutSeconds": 1,
              "Catch": [{"ErrorEquals": ["States.Timeout"], "ResultPath": "$.caught", "Next": "Done"}], "End": true},
            "Echo": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:000000000000:function:echo", "TimeoutSeconds": 10,
              "Catch": [{"ErrorEquals": ["States.Timeout"], "ResultPath": "$.caught", "Next": "Done"}], "ResultPath": "$.echo", "End": true},
            "Done": {"Type": "Pass", "End": true}}}"#,
    );
    let metrics = format!("127.0.0.1:{}", support::free_port());
    let body =
        format!("{}aws: {{ max_concurrent_calls: 1 }}\nmetrics: {{ address: \"{metrics}\" }}\n", sqs_lines(&q, "", ""));
    let cfg = config(&dir, &machine, &body);
    let child = start(&cfg);
    aws.send(&q.input, &[(format!(r#"{{"id":"{run}-slow","sleep":25}}"#), None)]);
    // The slow call holds the one slot before the echo record arrives.
    let began = Instant::now();
    while aws.calls(&format!("{run}-slow")).is_empty() && began.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(100));
    }
    aws.send(&q.input, &[(format!(r#"{{"id":"{run}-echo"}}"#), None)]);
    let results = aws.drain(&q.output, 2, Duration::from_secs(60));
    // The stopped call counts as a failed call of its integration.
    let page = support::scrape(&metrics);
    let log = stop(child);
    let timed_out = r#"expressway_task_calls_failed_total{integration="lambda:function",error="States.Timeout"} 1"#;
    assert!(page.lines().any(|l| l == timed_out), "{page}");
    assert_eq!(results.len(), 2, "{results:?}\n{log}");
    for r in &results {
        if r["id"] == format!("{run}-slow") {
            assert_eq!(r["caught"]["Error"], "States.Timeout", "{r}");
        } else {
            assert_eq!(r["echo"]["echo"]["id"], format!("{run}-echo"), "the echo ran in the freed slot: {r}");
        }
    }
}

/// `exec --aws` ends a task at its `TimeoutSeconds` (`States.Timeout`): it
/// had waited for the call's answer whatever the task's timeout.
#[test]
fn exec_with_aws_times_a_task_out() {
    let run = unique();
    let _ = aws();
    let dir = work_dir();
    let machine = machine(
        &dir,
        r#"{"StartAt": "Slow", "States": {"Slow": {"Type": "Task",
            "Resource": "arn:aws:lambda:us-east-1:000000000000:function:slow", "TimeoutSeconds": 2, "End": true}}}"#,
    );
    let input = dir.join("input.json");
    std::fs::write(&input, format!(r#"{{"id":"{run}-exec","sleep":20}}"#)).expect("input");
    let out = exec_aws(&machine, &input, &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    let result: serde_json::Value = serde_json::from_str(&text).expect("one JSON object");
    assert_eq!(
        (result["status"].as_str(), result["error"].as_str()),
        (Some("FAILED"), Some("States.Timeout")),
        "{result}"
    );
}

/// A Lambda endpoint that answers 200 and then a body without end, 1 MB per
/// 20 ms, and logs each call it takes to the file `calls`. A test double of
/// our own: no real service here can be made to send one.
fn endless_lambda(calls: &Path) -> (Child, String) {
    let script = r#"
import http.server, sys, time
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with open(sys.argv[1], "a") as log:
            log.write("call\n")
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        chunk = b"%x\r\n%s\r\n" % (1 << 20, b" " * (1 << 20))
        try:
            self.wfile.write(b"1\r\n[\r\n")
            while True:
                self.wfile.write(chunk)
                time.sleep(0.02)
        except OSError:
            pass
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;
    python_server(script, &[calls.as_os_str()])
}

/// An answer past the bound on a service's answers fails the task with
/// `States.DataLimitExceeded` once the bound is read, and is not asked
/// again: it had been read on for as long as it came (gigabytes), past the
/// task's own timeout.
#[test]
fn an_endless_lambda_answer_is_cut_at_the_bound() {
    let dir = work_dir();
    let calls = dir.join("calls.log");
    let (mut server, endpoint) = endless_lambda(&calls);
    let machine = machine(
        &dir,
        r#"{"StartAt": "Call", "States": {"Call": {"Type": "Task",
            "Resource": "arn:aws:lambda:us-east-1:000000000000:function:endless", "TimeoutSeconds": 20, "End": true}}}"#,
    );
    let input = dir.join("input.json");
    std::fs::write(&input, "{}").expect("input");
    let out = exec_aws(
        &machine,
        &input,
        &[
            ("AWS_ENDPOINT_URL_LAMBDA", &endpoint),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
        ],
    );
    let _ = server.kill();
    let _ = server.wait();
    let text = String::from_utf8_lossy(&out.stdout);
    let result: serde_json::Value = serde_json::from_str(&text).expect("one JSON object");
    assert_eq!(result["error"], "States.DataLimitExceeded", "{result}");
    assert!(result["cause"].as_str().is_some_and(|c| c.contains("7340032-byte limit")), "{result}");
    // Not retried by the SDK: the function would have run again for it.
    assert_eq!(std::fs::read_to_string(&calls).unwrap_or_default().lines().count(), 1);
}

/// Optimised integrations name a service's error after the exception AWS's
/// own SDK raises for it (recorded on AWS for DynamoDB): a code it models is
/// its exception's name, any other the service's base exception. Ours had
/// been the wire code (`SQS.AWS.SimpleQueueService.NonExistentQueue`,
/// `DynamoDB.ValidationException`), which a Catch written for AWS misses.
#[test]
fn service_errors_are_named_as_aws_names_them() {
    let aws = aws();
    let run = unique();
    let dir = work_dir();
    let missing_queue = aws.queue(&format!("gone-{run}")).replace(&format!("gone-{run}"), &format!("never-{run}"));
    let definition = r#"{"StartAt": "Send", "States": {
        "Send": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage",
          "Parameters": {"QueueUrl": "QUEUE", "MessageBody": "x"},
          "Catch": [{"ErrorEquals": ["SQS.QueueDoesNotExistException"], "ResultPath": "$.sqs", "Next": "Put"}], "Next": "Put"},
        "Put": {"Type": "Task", "Resource": "arn:aws:states:::dynamodb:putItem",
          "Parameters": {"TableName": "/not a table name", "Item": {"pk": {"S": "a"}}},
          "Catch": [{"ErrorEquals": ["DynamoDB.AmazonDynamoDBException"], "ResultPath": "$.dynamodb", "Next": "Done"}], "Next": "Done"},
        "Done": {"Type": "Succeed"}}}"#
        .replace("QUEUE", &missing_queue);
    let machine = machine(&dir, &definition);
    let input = dir.join("input.json");
    std::fs::write(&input, "{}").expect("input");
    let out = exec_aws(&machine, &input, &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    let result: serde_json::Value = serde_json::from_str(&text).expect("one JSON object");
    assert_eq!(result["status"], "SUCCEEDED", "both errors caught by AWS's names: {result}");
    assert_eq!(result["output"]["sqs"]["Error"], "SQS.QueueDoesNotExistException", "{result}");
    assert_eq!(result["output"]["dynamodb"]["Error"], "DynamoDB.AmazonDynamoDBException", "{result}");
    let cause = result["output"]["dynamodb"]["Cause"].as_str().unwrap_or_default();
    assert!(cause.contains("Service: AmazonDynamoDBv2; Status Code: 400; Error Code: ValidationException"), "{cause}");
}

/// `sqs:sendMessage` passes a `BinaryValue` attribute (base64, as in SQS's
/// JSON API) and takes `DelaySeconds` as a number's text: both had been
/// dropped without a word, the attribute arriving with no value.
#[test]
fn sqs_send_message_carries_binary_attributes_and_a_delay_given_as_text() {
    let aws = aws();
    let run = unique();
    let dir = work_dir();
    let queue = aws.queue(&format!("attrs-{run}"));
    let definition =
        r#"{"StartAt": "Send", "States": {"Send": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage",
        "Parameters": {"QueueUrl": "QUEUE", "MessageBody": "attrs", "DelaySeconds.$": "$.delay",
          "MessageAttributes": {"blob": {"DataType": "Binary", "BinaryValue": "aGVsbG8="},
                                "text": {"DataType": "String", "StringValue": "plain"}}}, "End": true}}}"#
            .replace("QUEUE", &queue);
    let machine = machine(&dir, &definition);
    let input = dir.join("input.json");
    std::fs::write(&input, r#"{"delay": "0"}"#).expect("input");
    let out = exec_aws(&machine, &input, &[]);
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(result["status"], "SUCCEEDED", "{result}");
    let got = aws
        .rt
        .block_on(
            aws.sqs.receive_message().queue_url(&queue).message_attribute_names("All").wait_time_seconds(5).send(),
        )
        .expect("ReceiveMessage");
    let message = got.messages().first().expect("the message arrived");
    let attributes = message.message_attributes().expect("attributes");
    assert_eq!(attributes["blob"].binary_value().map(|b| b.as_ref()), Some(&b"hello"[..]));
    assert_eq!(attributes["text"].string_value(), Some("plain"));
    std::fs::write(&input, r#"{"delay": "soon"}"#).expect("input");
    let out = exec_aws(&machine, &input, &[]);
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(
        (result["status"].as_str(), result["error"].as_str()),
        (Some("FAILED"), Some("States.Runtime")),
        "{result}"
    );
}
