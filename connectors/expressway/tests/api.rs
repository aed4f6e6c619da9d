//! The Step Functions API as clients see it: the Rust `aws-sdk-sfn` client,
//! the AWS CLI and boto3 (`api_clients.py`, run with the pinned clients of
//! `deploy/dev/services.sh install`), raw HTTP for what no SDK sends
//! (malformed bodies, unknown targets, oversized requests, slow and idle
//! connections), restarts with a `state_dir`, and signed requests.

mod support;

use aws_sdk_sfn::Client;
use aws_sdk_sfn::config::interceptors::BeforeTransmitInterceptorContextMut;
use aws_sdk_sfn::config::{BehaviorVersion, ConfigBag, Credentials, Intercept, Region, RuntimeComponents};
use aws_sdk_sfn::types::{ExecutionStatus, RoutingConfigurationListItem, StateMachineType, SyncExecutionStatus};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use support::{Server, free_port, tcp_open, work_dir};

const ROLE: &str = "arn:aws:iam::123456789012:role/expressway-test";

fn machine_arn(name: &str) -> String {
    format!("arn:aws:states:us-east-1:123456789012:stateMachine:{name}")
}

/// `expressway serve` with `extra` lines in its `api:` section.
fn serve(dir: &Path, extra: &str) -> Server {
    let port = free_port();
    let config = dir.join(format!("api-{port}.yaml"));
    std::fs::write(
        &config,
        format!(
            "api:\n  address: 127.0.0.1:{port}\n  state_dir: {}\n{extra}metrics: {{ address: \"127.0.0.1:{}\" }}\n",
            dir.join("state").display(),
            free_port()
        ),
    )
    .expect("config");
    let mut command = Command::new(env!("CARGO_BIN_EXE_expressway"));
    command.args(["serve", "--config", config.to_str().expect("utf-8 path")]);
    Server::start("expressway serve", port, command, dir.join(format!("serve-{port}.log")), tcp_open)
}

/// The SDKs send StartSyncExecution to `sync-<host>` (the API's modeled
/// host prefix), which does not resolve for `127.0.0.1`; the Rust SDK has no
/// switch to turn that off (boto3 and the CLI read
/// `AWS_DISABLE_HOST_PREFIX_INJECTION`), so this interceptor removes it
/// before the request is signed, as a Rust user of a local endpoint would.
#[derive(Debug)]
struct NoHostPrefix;

impl Intercept for NoHostPrefix {
    fn name(&self) -> &'static str {
        "NoHostPrefix"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), aws_sdk_sfn::error::BoxError> {
        let uri = context.request().uri().replace("://sync-", "://");
        context.request_mut().set_uri(uri.as_str())?;
        Ok(())
    }
}

fn client(port: u16) -> Client {
    let config = aws_sdk_sfn::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(format!("http://127.0.0.1:{port}"))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .interceptor(NoHostPrefix)
        .build();
    Client::from_conf(config)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

const GREETER: &str = r#"{"StartAt": "Greet", "States": {"Greet": {"Type": "Pass",
    "Parameters": {"greeting.$": "States.Format('hello {}', $.who)", "machine.$": "$$.StateMachine.Name"}, "End": true}}}"#;

const FAILS: &str =
    r#"{"StartAt": "No", "States": {"No": {"Type": "Fail", "Error": "Order.Rejected", "Cause": "out of stock"}}}"#;

const WAITS: &str = r#"{"StartAt": "Nap", "States": {"Nap": {"Type": "Wait", "Seconds": 600, "End": true}}}"#;

#[test]
fn the_rust_sdk_creates_runs_and_inspects_state_machines() {
    let dir = work_dir("api-sdk");
    let server = serve(&dir, "");
    let sfn = client(server.port);
    let rt = runtime();
    rt.block_on(async {
        let created = sfn
            .create_state_machine()
            .name("greeter")
            .definition(GREETER)
            .role_arn(ROLE)
            .r#type(StateMachineType::Express)
            .send()
            .await
            .expect("create");
        assert_eq!(created.state_machine_arn(), machine_arn("greeter"));

        let run = sfn
            .start_sync_execution()
            .state_machine_arn(machine_arn("greeter"))
            .input(r#"{"who": "ada"}"#)
            .send()
            .await
            .expect("start sync");
        assert_eq!(run.status(), &SyncExecutionStatus::Succeeded);
        let output: serde_json::Value = serde_json::from_str(run.output().expect("output")).expect("json output");
        assert_eq!(output, serde_json::json!({"greeting": "hello ada", "machine": "greeter"}));
        assert!(run.execution_arn().starts_with("arn:aws:states:us-east-1:123456789012:express:greeter:"));
        assert!(run.stop_date().as_secs_f64() >= run.start_date().as_secs_f64());
        assert_eq!(run.billing_details().map(|b| b.billed_duration_in_milliseconds()), Some(100));

        // A failing machine: the error and cause, as AWS reports them.
        sfn.create_state_machine()
            .name("fails")
            .definition(FAILS)
            .role_arn(ROLE)
            .r#type(StateMachineType::Express)
            .send()
            .await
            .expect("create");
        let failed = sfn.start_sync_execution().state_machine_arn(machine_arn("fails")).send().await.expect("run");
        assert_eq!(failed.status(), &SyncExecutionStatus::Failed);
        assert_eq!((failed.error(), failed.cause()), (Some("Order.Rejected"), Some("out of stock")));

        // Errors are the client's typed exceptions.
        let missing = sfn.describe_state_machine().state_machine_arn(machine_arn("nope")).send().await.unwrap_err();
        assert!(missing.into_service_error().is_state_machine_does_not_exist());
        let invalid = sfn
            .create_state_machine()
            .name("bad")
            .definition(r#"{"StartAt": "X", "States": {}}"#)
            .role_arn(ROLE)
            .send()
            .await
            .unwrap_err()
            .into_service_error();
        assert!(invalid.is_invalid_definition(), "{invalid:?}");
        assert!(invalid.to_string().contains("Invalid State Machine Definition"), "{invalid}");
        let taken =
            sfn.create_state_machine().name("greeter").definition(FAILS).role_arn(ROLE).send().await.unwrap_err();
        assert!(taken.into_service_error().is_state_machine_already_exists());
        let bad_name =
            sfn.create_state_machine().name("a b").definition(GREETER).role_arn(ROLE).send().await.unwrap_err();
        assert!(bad_name.into_service_error().is_invalid_name());
        let bad_input = sfn
            .start_sync_execution()
            .state_machine_arn(machine_arn("greeter"))
            .input("{nope")
            .send()
            .await
            .unwrap_err();
        assert!(bad_input.into_service_error().is_invalid_execution_input());

        // STANDARD: no StartSyncExecution; names unique per machine; StopExecution aborts.
        sfn.create_state_machine()
            .name("napper")
            .definition(WAITS)
            .role_arn(ROLE)
            .send()
            .await
            .expect("create standard");
        let sync_on_standard =
            sfn.start_sync_execution().state_machine_arn(machine_arn("napper")).send().await.unwrap_err();
        assert!(sync_on_standard.into_service_error().is_state_machine_type_not_supported());
        let started = sfn
            .start_execution()
            .state_machine_arn(machine_arn("napper"))
            .name("nap-1")
            .input("{}")
            .send()
            .await
            .expect("start");
        assert_eq!(started.execution_arn(), "arn:aws:states:us-east-1:123456789012:execution:napper:nap-1");
        let again = sfn
            .start_execution()
            .state_machine_arn(machine_arn("napper"))
            .name("nap-1")
            .input("{}")
            .send()
            .await
            .expect("idempotent start");
        assert_eq!(again.execution_arn(), started.execution_arn());
        let clash = sfn
            .start_execution()
            .state_machine_arn(machine_arn("napper"))
            .name("nap-1")
            .input(r#"{"other": 1}"#)
            .send()
            .await
            .unwrap_err();
        assert!(clash.into_service_error().is_execution_already_exists());
        let running = sfn.describe_execution().execution_arn(started.execution_arn()).send().await.expect("describe");
        assert_eq!(running.status(), &ExecutionStatus::Running);
        sfn.stop_execution()
            .execution_arn(started.execution_arn())
            .error("Ops.Cancel")
            .cause("by hand")
            .send()
            .await
            .expect("stop");
        let stopped = sfn.describe_execution().execution_arn(started.execution_arn()).send().await.expect("describe");
        assert_eq!(stopped.status(), &ExecutionStatus::Aborted);
        let history = sfn.get_execution_history().execution_arn(started.execution_arn()).send().await.expect("history");
        let kinds: Vec<String> = history.events().iter().map(|e| e.r#type().as_str().to_string()).collect();
        assert_eq!(kinds, ["ExecutionStarted", "ExecutionAborted"]);
        assert_eq!(history.events()[1].previous_event_id(), 1);
        let listed = sfn
            .list_executions()
            .state_machine_arn(machine_arn("napper"))
            .status_filter(ExecutionStatus::Aborted)
            .send()
            .await
            .expect("list");
        assert_eq!(listed.executions().len(), 1);
        let unknown = sfn
            .describe_execution()
            .execution_arn("arn:aws:states:us-east-1:123456789012:execution:napper:nope")
            .send()
            .await
            .unwrap_err();
        assert!(unknown.into_service_error().is_execution_does_not_exist());

        // Versions and aliases: an alias routes executions to its version.
        let v1 = sfn
            .publish_state_machine_version()
            .state_machine_arn(machine_arn("greeter"))
            .description("first")
            .send()
            .await
            .expect("publish");
        assert_eq!(v1.state_machine_version_arn(), format!("{}:1", machine_arn("greeter")));
        sfn.update_state_machine()
            .state_machine_arn(machine_arn("greeter"))
            .definition(GREETER.replace("hello", "goodbye"))
            .send()
            .await
            .expect("update");
        let route = RoutingConfigurationListItem::builder()
            .state_machine_version_arn(v1.state_machine_version_arn())
            .weight(100)
            .build()
            .expect("route");
        let alias =
            sfn.create_state_machine_alias().name("live").routing_configuration(route).send().await.expect("alias");
        let via_alias = sfn
            .start_sync_execution()
            .state_machine_arn(alias.state_machine_alias_arn())
            .input(r#"{"who": "v1"}"#)
            .send()
            .await
            .expect("run alias");
        assert!(via_alias.output().unwrap_or_default().contains("hello v1"), "{via_alias:?}");
        let latest = sfn
            .start_sync_execution()
            .state_machine_arn(machine_arn("greeter"))
            .input(r#"{"who": "v2"}"#)
            .send()
            .await
            .expect("run latest");
        assert!(latest.output().unwrap_or_default().contains("goodbye v2"), "{latest:?}");
        let version = sfn
            .describe_state_machine()
            .state_machine_arn(v1.state_machine_version_arn())
            .send()
            .await
            .expect("describe version");
        assert!(version.definition().contains("hello"));
        let in_use = sfn
            .delete_state_machine_version()
            .state_machine_version_arn(v1.state_machine_version_arn())
            .send()
            .await
            .unwrap_err();
        assert!(in_use.into_service_error().is_conflict_exception());

        // Validation without creating anything.
        let checked = sfn
            .validate_state_machine_definition()
            .definition(r#"{"StartAt": "X", "States": {"Y": {"Type": "Succeed"}}}"#)
            .send()
            .await
            .expect("validate");
        assert_eq!(checked.result().as_str(), "FAIL");
        assert!(
            checked
                .diagnostics()
                .iter()
                .any(|d| d.code() == "MISSING_TRANSITION_TARGET" && d.location() == Some("/StartAt")),
            "{checked:?}"
        );
        let ok = sfn.validate_state_machine_definition().definition(GREETER).send().await.expect("validate");
        assert_eq!(ok.result().as_str(), "OK");

        // Pagination.
        let page = sfn.list_state_machines().max_results(2).send().await.expect("list");
        assert_eq!(page.state_machines().len(), 2);
        let rest =
            sfn.list_state_machines().next_token(page.next_token().expect("a next page")).send().await.expect("list");
        assert_eq!(rest.state_machines().len(), 1);
    });

    // What the API made survives a restart.
    let mut server = server;
    server.stop();
    server.restart();
    rt.block_on(async {
        let sfn = client(server.port);
        let described =
            sfn.describe_state_machine().state_machine_arn(machine_arn("greeter")).send().await.expect("after restart");
        assert!(described.definition().contains("goodbye"));
        let alias = format!("{}:live", machine_arn("greeter"));
        let run = sfn
            .start_sync_execution()
            .state_machine_arn(alias)
            .input(r#"{"who": "again"}"#)
            .send()
            .await
            .expect("alias after restart");
        assert!(run.output().unwrap_or_default().contains("hello again"));
    });

    // One file per machine: a change writes that machine's, a deletion
    // removes it.
    let saved = dir.join("state").join("state-machines");
    let files = || -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&saved)
            .expect("the machines' files")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        files
    };
    let listed = rt.block_on(async {
        let sfn = client(server.port);
        let before = sfn.list_state_machines().send().await.expect("list").state_machines().len();
        assert_eq!(files().len(), before, "{:?}", files());
        sfn.delete_state_machine().state_machine_arn(machine_arn("fails")).send().await.expect("delete");
        before - 1
    });
    assert_eq!(files().len(), listed, "the deleted machine's file is gone: {:?}", files());

    // A state_dir written as one file for all machines is read back and
    // moved into per-machine files.
    server.stop();
    let all: Vec<serde_json::Value> = files()
        .iter()
        .map(|f| serde_json::from_slice(&std::fs::read(f).expect("read")).expect("a saved machine"))
        .collect();
    std::fs::remove_dir_all(&saved).expect("remove the per-machine files");
    let legacy = dir.join("state").join("state-machines.json");
    std::fs::write(&legacy, serde_json::to_vec(&all).expect("json")).expect("write the one file");
    server.restart();
    rt.block_on(async {
        let sfn = client(server.port);
        let described =
            sfn.describe_state_machine().state_machine_arn(machine_arn("greeter")).send().await.expect("after moving");
        assert!(described.definition().contains("goodbye"));
        assert_eq!(sfn.list_state_machines().send().await.expect("list").state_machines().len(), listed);
    });
    assert!(!legacy.exists(), "the one file was moved into per-machine files");
    assert_eq!(files().len(), listed);
}

/// One raw HTTP/1.1 exchange: the status and the body.
fn exchange(port: u16, request: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
    let _ = s.write_all(request);
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    let status = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, text)
}

fn call(target: &str, body: &str) -> Vec<u8> {
    format!(
        "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Target: AWSStepFunctions.{target}\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[test]
fn hostile_requests_get_aws_errors_and_the_server_keeps_serving() {
    let dir = work_dir("api-hostile");
    let server = serve(&dir, "  idle_timeout: 2s\n  definitions_kept_bytes: 16777216\n");
    let port = server.port;
    let (status, body) = exchange(port, &call("ListStateMachines", "{not json"));
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("SerializationException"), "{body}");
    let (status, body) = exchange(port, &call("CreateNonsense", "{}"));
    assert_eq!(status, 400);
    assert!(body.contains("UnknownOperationException"), "{body}");
    let (_, body) = exchange(port, &call("SendTaskSuccess", "{}"));
    assert!(body.contains("does not implement SendTaskSuccess"), "{body}");
    // A web page's request (DNS rebinding makes a foreign page's requests
    // loopback ones): refused without credentials, nothing created.
    let machine = serde_json::json!({"name": "rebound", "definition": GREETER, "roleArn": ROLE, "type": "EXPRESS"});
    let from_page = String::from_utf8(call("CreateStateMachine", &machine.to_string())).expect("utf-8").replacen(
        "Host: 127.0.0.1\r\n",
        "Host: attacker.example:80\r\nOrigin: http://attacker.example\r\n",
        1,
    );
    let (status, body) = exchange(port, from_page.as_bytes());
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("MissingAuthenticationToken") && body.contains("Origin"), "{body}");
    let (_, listed) = exchange(port, &call("ListStateMachines", "{}"));
    assert!(!listed.contains("rebound"), "{listed}");
    let (status, body) = exchange(port, &call("CreateStateMachine", r#"{"name": "x"}"#));
    assert_eq!(status, 400);
    assert!(body.contains("ValidationException") && body.contains("'definition'"), "{body}");
    // A body over the limit is refused without being read whole.
    let huge = format!("{{\"definition\": \"{}\"}}", "x".repeat(3 << 20));
    let (status, body) = exchange(port, &call("CreateStateMachine", &huge));
    assert_eq!(status, 413, "{}", &body[..body.len().min(300)]);
    // An input over 256 KiB.
    exchange(
        port,
        &call(
            "CreateStateMachine",
            &serde_json::json!({"name": "p", "definition": GREETER, "roleArn": ROLE, "type": "EXPRESS"}).to_string(),
        ),
    );
    let big_input =
        serde_json::json!({"stateMachineArn": machine_arn("p"), "input": format!("\"{}\"", "y".repeat(300_000))})
            .to_string();
    let (_, body) = exchange(port, &call("StartSyncExecution", &big_input));
    assert!(body.contains("ValidationException") && body.contains("262144"), "{}", &body[..body.len().min(300)]);

    // A client that never finishes its request head is cut off at the idle
    // timeout rather than holding its connection for ever.
    let mut slow = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    slow.write_all(b"POST / HTTP/1.1\r\nHost: x\r\n").expect("partial head");
    slow.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
    let began = Instant::now();
    let mut sink = Vec::new();
    let _ = slow.read_to_end(&mut sink);
    assert!(began.elapsed() < Duration::from_secs(15), "a slow client kept its connection");

    // Ten thousand idle connections do not stop a new client being served.
    let mut idle = Vec::new();
    for _ in 0..10_000 {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => idle.push(s),
            Err(e) => panic!("connection {} refused: {e}", idle.len()),
        }
    }
    let (status, body) = exchange(port, &call("ListStateMachines", "{}"));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(&machine_arn("p")), "{body}");
    drop(idle);

    // What the definitions kept take is bounded (16 MiB here): JSONata of
    // ~20,000 nodes weighs ~6 MiB compiled, so the third is refused until
    // one is deleted; one past 100,000 nodes is no valid definition.
    let heavy = |terms: usize, count: usize| {
        let sum = vec!["$states.input.a"; terms].join(" + ");
        let states: serde_json::Map<String, serde_json::Value> = (0..count)
            .map(|i| {
                let last = i + 1 == count;
                let mut s = serde_json::json!({"Type": "Pass", "Output": format!("{{% {sum} %}}")});
                s[if last { "End" } else { "Next" }] =
                    if last { serde_json::json!(true) } else { serde_json::json!(format!("S{}", i + 1)) };
                (format!("S{i}"), s)
            })
            .collect();
        serde_json::json!({"QueryLanguage": "JSONata", "StartAt": "S0", "States": states}).to_string()
    };
    let create = |name: &str, definition: &str| {
        let body = serde_json::json!({"name": name, "definition": definition, "roleArn": ROLE, "type": "EXPRESS"});
        exchange(port, &call("CreateStateMachine", &body.to_string()))
    };
    let definition = heavy(40, 100);
    for name in ["heavy-1", "heavy-2"] {
        let (status, body) = create(name, &definition);
        assert_eq!(status, 200, "{name}: {}", &body[..body.len().min(400)]);
    }
    let (status, body) = create("heavy-3", &definition);
    assert_eq!(status, 400, "{}", &body[..body.len().min(400)]);
    assert!(body.contains("ServiceQuotaExceededException") && body.contains("definitions_kept_bytes"), "{body}");
    let delete = serde_json::json!({"stateMachineArn": machine_arn("heavy-1")}).to_string();
    let (status, body) = exchange(port, &call("DeleteStateMachine", &delete));
    assert_eq!(status, 200, "{body}");
    let (status, body) = create("heavy-3", &definition);
    assert_eq!(status, 200, "{}", &body[..body.len().min(400)]);
    // Full again, a machine's definition may still be replaced by one of
    // its weight: its old one, kept by no version, is let go.
    let update = serde_json::json!({"stateMachineArn": machine_arn("heavy-2"),
        "definition": definition.replace("input.a", "input.b")});
    let (status, body) = exchange(port, &call("UpdateStateMachine", &update.to_string()));
    assert_eq!(status, 200, "{}", &body[..body.len().min(400)]);
    let (status, body) = create("too-heavy", &heavy(150, 200));
    assert_eq!(status, 400, "{}", &body[..body.len().min(400)]);
    assert!(body.contains("InvalidDefinition") && body.contains("100000 nodes"), "{}", &body[..body.len().min(600)]);
    // JSONPath filters weigh what they hold compiled (~440 bytes per `&&`
    // operand), not four times their text: 270 KB of them (~1 MiB by the
    // old estimate) is ~23 MiB, past the 16 MiB budget on its own.
    let chain = vec!["@.b"; 900].join("&&");
    let filters: serde_json::Map<String, serde_json::Value> =
        (0..60).map(|i| (format!("k{i}.$"), format!("$.a[?({chain})]").into())).collect();
    let filtered =
        serde_json::json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "Parameters": filters, "End": true}}});
    let (status, body) = create("filters", &filtered.to_string());
    assert_eq!(status, 400, "{}", &body[..body.len().min(400)]);
    let mib: usize = body
        .split("this one ~")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{body}"));
    assert!(body.contains("ServiceQuotaExceededException") && mib >= 20, "{body}");
}

fn clients_python() -> PathBuf {
    let python = support::repo().join("target/services/clients-venv/bin/python");
    assert!(
        python.exists(),
        "the AWS CLI and boto3 are missing: run ./deploy/dev/services.sh install (it pins them in {})",
        python.display()
    );
    python
}

/// `api_clients.py` against `server`, with no AWS configuration of the
/// machine's own; what it printed, once it passed.
fn run_clients(server: &Server, args: &[&str]) -> String {
    let out = Command::new(clients_python())
        .arg(support::repo().join("connectors/expressway/tests/api_clients.py"))
        .arg(format!("http://127.0.0.1:{}", server.port))
        .args(args)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .output()
        .expect("run the client script");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}\n{}", server.log_tail());
    text
}

#[test]
fn the_aws_cli_and_boto3_drive_the_api() {
    let dir = work_dir("api-clients");
    let server = serve(&dir, "");
    let text = run_clients(&server, &[]);
    assert!(text.contains("all client checks passed"), "{text}");
}

#[test]
fn with_credentials_only_correctly_signed_requests_are_answered() {
    let dir = work_dir("api-signed");
    let server = serve(&dir, "  credentials: { access_key_id: AKIDEXPRESSWAY, secret_access_key: s3cret }\n");
    let text = run_clients(&server, &["--signed"]);
    assert!(text.contains("signature checks passed"), "{text}");
    // Unsigned: refused.
    let (status, body) = exchange(server.port, &call("ListStateMachines", "{}"));
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("MissingAuthenticationToken"), "{body}");
}

#[test]
fn a_pipelines_machine_is_served_under_its_pipeline_name_and_read_only() {
    let dir = work_dir("api-pipeline");
    let (port, config) = greeting_pipeline(&dir, ", follow: true", "out.jsonl");
    let mut command = Command::new(env!("CARGO_BIN_EXE_expressway"));
    command.args(["run", "--config", config.to_str().expect("utf-8 path")]);
    let server = Server::start("expressway run", port, command, dir.join("run.log"), tcp_open);
    let rt = runtime();
    rt.block_on(async {
        let sfn = client(server.port);
        let listed = sfn.list_state_machines().send().await.expect("list");
        let names: Vec<&str> = listed.state_machines().iter().map(|m| m.name()).collect();
        assert_eq!(names, ["greetings"]);
        let run = sfn
            .start_sync_execution()
            .state_machine_arn(machine_arn("greetings"))
            .input(r#"{"who": "api"}"#)
            .send()
            .await
            .expect("run");
        let output: serde_json::Value = serde_json::from_str(run.output().expect("output")).expect("json");
        assert_eq!(output, serde_json::json!({"greeting": "hello api", "machine": "greetings"}));
        let refused = sfn.delete_state_machine().state_machine_arn(machine_arn("greetings")).send().await.unwrap_err();
        assert!(refused.into_service_error().to_string().contains("configuration file"));
    });
    // The pipeline ran beside the API.
    assert!(support::wait_for(Duration::from_secs(30), || support::count_lines(&dir.join("out.jsonl")) == 1));
}

/// A configuration in `dir` whose pipeline greets the one record of
/// `in.jsonl` (its source with `source_extra` fields) into the file `sink`,
/// beside the API on a free port.
fn greeting_pipeline(dir: &Path, source_extra: &str, sink: &str) -> (u16, PathBuf) {
    std::fs::write(dir.join("greeter.asl.json"), GREETER).expect("machine");
    std::fs::write(dir.join("in.jsonl"), "{\"who\": \"file\"}\n").expect("input");
    let port = free_port();
    let config = dir.join("pipeline.yaml");
    std::fs::write(
        &config,
        format!(
            "pipelines:\n  - name: greetings\n    state_machine: greeter.asl.json\n    \
             source: {{ type: file, path: in.jsonl{source_extra} }}\n    sink: {{ type: file, path: {sink} }}\n    \
             dead_letter: {{ type: file, path: dead.jsonl }}\napi: {{ address: \"127.0.0.1:{port}\" }}\n"
        ),
    )
    .expect("config");
    (port, config)
}

/// `serve --config` whose pipeline reads a file to its end goes on
/// answering the API: it had exited with the pipeline, taking the API and
/// the console with it.
#[test]
fn serve_answers_after_its_pipelines_end() {
    let dir = work_dir("serve-finite");
    let (port, config) = greeting_pipeline(&dir, "", "out.jsonl");
    let mut command = Command::new(env!("CARGO_BIN_EXE_expressway"));
    command.args(["serve", "--config", config.to_str().expect("utf-8 path")]);
    let server = Server::start("expressway serve", port, command, dir.join("serve.log"), tcp_open);
    assert!(support::wait_for(Duration::from_secs(30), || support::count_lines(&dir.join("out.jsonl")) == 1));
    std::thread::sleep(Duration::from_millis(500));
    runtime().block_on(async {
        let listed = client(server.port).list_state_machines().send().await.expect("the API still answers");
        let names: Vec<&str> = listed.state_machines().iter().map(|m| m.name()).collect();
        assert_eq!(names, ["greetings"]);
    });
}

/// `serve --config` whose pipeline stops on an error (its results sink is
/// /dev/full) exits with 1, as `run` does: it goes on answering only after
/// pipelines that ended well.
#[test]
fn serve_exits_when_a_pipeline_fails() {
    let dir = work_dir("serve-failing");
    let (_, config) = greeting_pipeline(&dir, "", "/dev/full");
    let mut child = Command::new(env!("CARGO_BIN_EXE_expressway"))
        .args(["serve", "--config", config.to_str().expect("utf-8 path")])
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("serve");
    let began = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break Some(status);
        }
        if began.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.and_then(|s| s.code()), Some(1), "serve must exit 1 when its pipeline fails");
}

const NESTED: &str = r#"{"StartAt": "Child", "States": {
  "Child": {"Type": "Task", "Resource": "arn:aws:states:::states:startExecution",
    "Parameters": {"StateMachineArn.$": "$.child", "Name": "nested-1",
      "Input": {"who.$": "$.who", "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID.$": "$$.Execution.Id"}},
    "ResultPath": "$.started", "Next": "Missing"},
  "Missing": {"Type": "Task", "Resource": "arn:aws:states:::states:startExecution",
    "Parameters": {"StateMachineArn.$": "$.missing_version"},
    "Catch": [{"ErrorEquals": ["StepFunctions.StateMachineDoesNotExistException"], "ResultPath": "$.missing", "Next": "Remote"}],
    "Next": "Remote"},
  "Remote": {"Type": "Task", "Resource": "arn:aws:states:::states:startExecution",
    "Parameters": {"StateMachineArn": "arn:aws:states:us-east-1:000000000000:stateMachine:elsewhere"},
    "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.remote", "Next": "Done"}], "Next": "Done"},
  "Done": {"Type": "Succeed"}}}"#;

/// `expressway serve` with `extra` lines in its `api:` section and an AWS
/// endpoint where nothing listens: a call over the network fails, so a
/// child execution that starts was started in process.
fn serve_offline(dir: &Path, extra: &str) -> Server {
    let port = free_port();
    let config = dir.join("api.yaml");
    std::fs::write(&config, format!("api:\n  address: 127.0.0.1:{port}\n{extra}")).expect("config");
    let mut command = Command::new(env!("CARGO_BIN_EXE_expressway"));
    command.args(["serve", "--config", config.to_str().expect("utf-8 path")]);
    let closed = free_port();
    command
        .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{closed}"))
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1");
    Server::start("expressway serve", port, command, dir.join("serve.log"), tcp_open)
}

#[test]
fn a_nested_start_execution_of_a_machine_this_process_serves_starts_in_process() {
    let dir = work_dir("api-in-process");
    let server = serve_offline(&dir, "");
    let sfn = client(server.port);
    runtime().block_on(async {
        for (name, definition) in [("child", GREETER), ("parent", NESTED)] {
            sfn.create_state_machine()
                .name(name)
                .definition(definition)
                .role_arn(ROLE)
                .r#type(StateMachineType::Express)
                .publish(true)
                .send()
                .await
                .expect("create");
        }
        let input = serde_json::json!({
            "who": "nested",
            "child": format!("{}:1", machine_arn("child")),
            "missing_version": format!("{}:7", machine_arn("child")),
        });
        let run = sfn
            .start_sync_execution()
            .state_machine_arn(machine_arn("parent"))
            .input(input.to_string())
            .send()
            .await
            .expect("run");
        assert_eq!(run.status(), &SyncExecutionStatus::Succeeded, "{run:?}\n{}", server.log_tail());
        let out: serde_json::Value = serde_json::from_str(run.output().expect("output")).expect("json");
        // The optimised form's result: the execution, its start in epoch
        // milliseconds, the SDK's metadata.
        let started = &out["started"];
        let child_arn = started["ExecutionArn"].as_str().expect("an execution ARN");
        assert!(child_arn.starts_with("arn:aws:states:us-east-1:123456789012:express:child:nested-1:"), "{out:#}");
        assert!(started["StartDate"].as_i64().is_some_and(|t| t > 1_600_000_000_000), "{out:#}");
        assert_eq!(started["SdkHttpMetadata"]["HttpStatusCode"], 200, "{out:#}");
        assert!(started["SdkResponseMetadata"]["RequestId"].as_str().is_some_and(|r| r.len() == 36), "{out:#}");
        // The API's errors named as the optimised integration names AWS's.
        assert_eq!(out["missing"]["Error"], "StepFunctions.StateMachineDoesNotExistException", "{out:#}");
        let cause = out["missing"]["Cause"].as_str().expect("cause");
        assert!(
            cause.contains("(Service: AWSStepFunctions; Status Code: 400; Error Code: StateMachineDoesNotExist;"),
            "{cause}"
        );
        // A machine this process does not serve goes to AWS: here, the
        // closed endpoint.
        assert_eq!(out["remote"]["Error"], "StepFunctions.SdkClientException", "{out:#}");

        // The child is this process's execution, of version 1, with the
        // parent's input.
        let listed = sfn.list_executions().state_machine_arn(machine_arn("child")).send().await.expect("list");
        let arns: Vec<&str> = listed.executions().iter().map(|e| e.execution_arn()).collect();
        assert_eq!(arns, [child_arn]);
        let mut described = sfn.describe_execution().execution_arn(child_arn).send().await.expect("describe");
        for _ in 0..50 {
            if described.status() != &ExecutionStatus::Running {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            described = sfn.describe_execution().execution_arn(child_arn).send().await.expect("describe");
        }
        assert_eq!(described.status(), &ExecutionStatus::Succeeded);
        assert_eq!(described.state_machine_version_arn(), Some(format!("{}:1", machine_arn("child")).as_str()));
        let child_input: serde_json::Value = serde_json::from_str(described.input().expect("input")).expect("json");
        assert_eq!(child_input["who"], "nested");
        assert_eq!(child_input["AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID"], run.execution_arn());
        let output: serde_json::Value = serde_json::from_str(described.output().expect("output")).expect("json");
        assert_eq!(output["greeting"], "hello nested");
    });
}

/// Two children of itself per execution, each then parked on a long Wait;
/// a refused child start is caught, so its parent parks too.
fn self_starting(arn: &str) -> String {
    let branch = |n: u8| {
        format!(
            r#"{{"StartAt": "Start{n}", "States": {{
      "Start{n}": {{"Type": "Task", "Resource": "arn:aws:states:::states:startExecution",
        "Parameters": {{"StateMachineArn": "{arn}", "Input.$": "$"}},
        "Catch": [{{"ErrorEquals": ["States.ALL"], "ResultPath": "$.refused", "Next": "Refused{n}"}}], "End": true}},
      "Refused{n}": {{"Type": "Pass", "End": true}}}}}}"#
        )
    };
    format!(
        r#"{{"StartAt": "Fork", "States": {{
      "Fork": {{"Type": "Parallel", "Branches": [{}, {}], "Next": "Nap"}},
      "Nap": {{"Type": "Wait", "Seconds": 600, "End": true}}}}}}"#,
        branch(1),
        branch(2)
    )
}

/// A machine that starts itself twice grew the process by 500 MB a second
/// without bound: now at most `api.executions_running` run, the next start
/// is refused with AWS's `ExecutionLimitExceeded` (a nested start's task
/// fails with `StepFunctions.ExecutionLimitExceededException`), the server
/// keeps answering, and a stopped execution gives its room back.
#[test]
fn running_executions_are_bounded_and_a_self_starting_machine_stops_at_the_bound() {
    let dir = work_dir("api-running-bound");
    let server = serve_offline(&dir, "  executions_running: 40\n");
    let sfn = client(server.port);
    let arn = machine_arn("forks");
    runtime().block_on(async {
        sfn.create_state_machine()
            .name("forks")
            .definition(self_starting(&arn))
            .role_arn(ROLE)
            .send()
            .await
            .expect("create");
        sfn.start_execution().state_machine_arn(&arn).input("{}").send().await.expect("the first start");
        // 1 + 2 + 4 + 8 + 16 = 31 fit; the generation of 32 fills the rest.
        let mut running = 0;
        for _ in 0..100 {
            let listed = sfn
                .list_executions()
                .state_machine_arn(&arn)
                .status_filter(ExecutionStatus::Running)
                .max_results(1000)
                .send()
                .await
                .expect("list");
            running = listed.executions().len();
            assert!(running <= 40, "{running} running past the bound of 40");
            if running == 40 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(running, 40, "{}", server.log_tail());
        // Settled: no more starts are tried, and none gets through.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let all = sfn.list_executions().state_machine_arn(&arn).max_results(1000).send().await.expect("list");
        assert_eq!(all.executions().len(), 40, "refused starts leave no execution behind");
        let refused = sfn.start_execution().state_machine_arn(&arn).input("{}").send().await.unwrap_err();
        let refused = refused.into_service_error();
        assert!(refused.is_execution_limit_exceeded(), "{refused:?}");
        assert!(refused.to_string().contains("api.executions_running"), "{refused}");
        // StartSyncExecution has no such error: it is throttled (the SDK
        // retries, then gives up).
        let starter = format!(
            r#"{{"StartAt": "Start", "States": {{
          "Start": {{"Type": "Task", "Resource": "arn:aws:states:::states:startExecution",
            "Parameters": {{"StateMachineArn": "{arn}", "Input": {{}}}},
            "Catch": [{{"ErrorEquals": ["States.ALL"], "Next": "Refused"}}], "End": true}},
          "Refused": {{"Type": "Pass", "End": true}}}}}}"#
        );
        for (name, definition) in [("starter", starter.as_str()), ("naps", WAITS)] {
            let kind = if name == "starter" { StateMachineType::Express } else { StateMachineType::Standard };
            sfn.create_state_machine()
                .name(name)
                .definition(definition)
                .role_arn(ROLE)
                .r#type(kind)
                .send()
                .await
                .expect("create");
        }
        let throttled = sfn.start_sync_execution().state_machine_arn(machine_arn("starter")).send().await.unwrap_err();
        let throttled = throttled.into_service_error();
        assert_eq!(throttled.meta().code(), Some("ThrottlingException"), "{throttled:?}");
        // A stopped execution gives its room back: the starter runs in it,
        // and its own nested start is refused with AWS's error name.
        let first = all.executions().last().expect("one").execution_arn().to_string();
        sfn.stop_execution().execution_arn(&first).send().await.expect("stop");
        let mut ran = None;
        for _ in 0..50 {
            match sfn.start_sync_execution().state_machine_arn(machine_arn("starter")).send().await {
                Ok(run) => {
                    ran = Some(run);
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        let ran = ran.expect("room after a stop");
        assert_eq!(ran.status(), &SyncExecutionStatus::Succeeded, "{ran:?}");
        let out: serde_json::Value = serde_json::from_str(ran.output().expect("output")).expect("json");
        assert_eq!(out["Error"], "StepFunctions.ExecutionLimitExceededException", "{out:#}");
        assert!(out["Cause"].as_str().is_some_and(|c| c.contains("Error Code: ExecutionLimitExceeded")), "{out:#}");
        // The starter's room came back when it ended.
        sfn.start_execution().state_machine_arn(machine_arn("naps")).send().await.expect("room after the starter");
    });
}

/// A StartSyncExecution whose client goes away still holds its room until
/// the execution ends: the permit is the execution's, not the request's
/// (dropped with the request, it let disconnecting clients park executions
/// without bound).
#[test]
fn a_sync_execution_holds_its_room_after_its_client_disconnects() {
    let dir = work_dir("api-running-disconnect");
    let server = serve(&dir, "  executions_running: 1\n");
    let port = server.port;
    let naps = r#"{"StartAt": "Nap", "States": {"Nap": {"Type": "Wait", "Seconds": 60, "End": true}}}"#;
    for (name, definition) in [("naps", naps), ("greets", GREETER)] {
        let body = serde_json::json!({"name": name, "definition": definition, "roleArn": ROLE, "type": "EXPRESS"});
        let (status, answer) = exchange(port, &call("CreateStateMachine", &body.to_string()));
        assert_eq!(status, 200, "{answer}");
    }
    let start =
        |name: &str| serde_json::json!({"stateMachineArn": machine_arn(name), "input": "{\"who\": \"x\"}"}).to_string();
    {
        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.write_all(&call("StartSyncExecution", &start("naps"))).expect("send");
        std::thread::sleep(Duration::from_millis(500));
    } // closed: the client is gone, its execution parked on the Wait.
    std::thread::sleep(Duration::from_millis(300));
    let (status, answer) = exchange(port, &call("StartSyncExecution", &start("greets")));
    assert_eq!(status, 400, "{answer}");
    assert!(answer.contains("ThrottlingException") && answer.contains("api.executions_running"), "{answer}");
}
