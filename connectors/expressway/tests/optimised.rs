//! The optimised integrations end to end against ministack (which
//! `deploy/dev/services.sh` starts; `AWS_ENDPOINT_URL` points at it), one
//! state machine, one `exec`: `events:putEvents` delivered through a rule
//! to an SQS queue, a nested `states:startExecution` (and its error name
//! for a missing machine), `ecs:runTask`, `glue:startJobRun`,
//! `athena:startQueryExecution` and `getQueryExecution`, `batch:submitJob` and
//! `bedrock:invokeModel`, each result in its optimised shape.
//! `apigateway:invoke` is checked against a local server instead
//! (`api_gateway_invoke_sends_the_signed_request_aws_describes`): ministack
//! serves API Gateway's control plane, not a deployed stage to call.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::Command;

mod support;
use support::unique;

fn exec(machine: &str, input: &serde_json::Value) -> serde_json::Value {
    support::exec_aws("optimised", machine, input)
}

const MACHINE: &str = r#"{"StartAt": "CreateQueue", "States": {
  "CreateQueue": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:sqs:createQueue",
    "Parameters": {"QueueName.$": "$.name"}, "ResultPath": "$.queue", "Next": "QueueArn"},
  "QueueArn": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:sqs:getQueueAttributes",
    "Parameters": {"QueueUrl.$": "$.queue.QueueUrl", "AttributeNames": ["QueueArn"]}, "ResultPath": "$.queue_attributes", "Next": "PutRule"},
  "PutRule": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:eventbridge:putRule",
    "Parameters": {"Name.$": "$.name", "EventPattern": "{\"source\":[\"expressway.iot\"]}"}, "ResultPath": null, "Next": "PutTargets"},
  "PutTargets": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:eventbridge:putTargets",
    "Parameters": {"Rule.$": "$.name", "Targets": [{"Id": "queue", "Arn.$": "$.queue_attributes.Attributes.QueueArn"}]}, "ResultPath": null, "Next": "PutEvents"},
  "PutEvents": {"Type": "Task", "Resource": "arn:aws:states:::events:putEvents",
    "Parameters": {"Entries": [{"Source": "expressway.iot", "DetailType": "reading", "Detail": {"device": "d1", "celsius": 21.5}}]},
    "ResultPath": "$.put", "Next": "Receive"},
  "Receive": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:sqs:receiveMessage",
    "Parameters": {"QueueUrl.$": "$.queue.QueueUrl", "WaitTimeSeconds": 2}, "ResultPath": "$.received", "Next": "CreateChild"},
  "CreateChild": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:sfn:createStateMachine",
    "Parameters": {"Name.$": "$.name", "RoleArn": "arn:aws:iam::000000000000:role/sfn", "Type": "EXPRESS",
      "Definition": "{\"StartAt\":\"P\",\"States\":{\"P\":{\"Type\":\"Pass\",\"End\":true}}}"}, "ResultPath": "$.child", "Next": "StartChild"},
  "StartChild": {"Type": "Task", "Resource": "arn:aws:states:::states:startExecution",
    "Parameters": {"StateMachineArn.$": "$.child.StateMachineArn", "Name.$": "$.name", "Input": {"hello": "world"}},
    "ResultPath": "$.started", "Next": "DescribeChild"},
  "DescribeChild": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:sfn:describeExecution",
    "Parameters": {"ExecutionArn.$": "$.started.ExecutionArn"}, "ResultPath": "$.described", "Next": "StartMissing"},
  "StartMissing": {"Type": "Task", "Resource": "arn:aws:states:::states:startExecution",
    "Parameters": {"StateMachineArn": "arn:aws:states:us-east-1:000000000000:stateMachine:no-such-machine-here"},
    "Catch": [{"ErrorEquals": ["StepFunctions.StateMachineDoesNotExistException"], "ResultPath": "$.missing_machine", "Next": "Cluster"}],
    "ResultPath": null, "Next": "Cluster"},
  "Cluster": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:ecs:createCluster",
    "Parameters": {"ClusterName.$": "$.name"}, "ResultPath": null, "Next": "TaskDefinition"},
  "TaskDefinition": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:ecs:registerTaskDefinition",
    "Parameters": {"Family.$": "$.name", "ContainerDefinitions": [{"Name": "etl", "Image": "busybox", "Memory": 64}]}, "ResultPath": null, "Next": "RunTask"},
  "RunTask": {"Type": "Task", "Resource": "arn:aws:states:::ecs:runTask",
    "Parameters": {"Cluster.$": "$.name", "TaskDefinition.$": "$.name"}, "ResultPath": "$.ecs", "Next": "GlueJob"},
  "GlueJob": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:glue:createJob",
    "Parameters": {"Name.$": "$.name", "Role": "r", "Command": {"Name": "glueetl", "ScriptLocation": "s3://b/etl.py"}}, "ResultPath": null, "Next": "StartJobRun"},
  "StartJobRun": {"Type": "Task", "Resource": "arn:aws:states:::glue:startJobRun",
    "Parameters": {"JobName.$": "$.name"}, "ResultPath": "$.glue", "Next": "Query"},
  "Query": {"Type": "Task", "Resource": "arn:aws:states:::athena:startQueryExecution",
    "Parameters": {"QueryString": "SELECT 1", "WorkGroup": "primary", "ResultConfiguration": {"OutputLocation": "s3://results/"}},
    "ResultPath": "$.athena", "Next": "GetQuery"},
  "GetQuery": {"Type": "Task", "Resource": "arn:aws:states:::athena:getQueryExecution",
    "Parameters": {"QueryExecutionId.$": "$.athena.QueryExecutionId"}, "ResultPath": "$.athena_query", "Next": "SubmitJob"},
  "SubmitJob": {"Type": "Task", "Resource": "arn:aws:states:::batch:submitJob",
    "Parameters": {"JobName.$": "$.name", "JobQueue": "q", "JobDefinition": "d"}, "ResultPath": "$.batch", "Next": "InvokeModel"},
  "InvokeModel": {"Type": "Task", "Resource": "arn:aws:states:::bedrock:invokeModel",
    "Parameters": {"ModelId": "amazon.titan-text-express-v1", "Body": {"inputText": "summarise the readings"}},
    "ResultPath": "$.bedrock", "End": true}
}}"#;

#[test]
fn optimised_integrations_run_against_the_services_with_their_result_shapes() {
    std::env::var("AWS_ENDPOINT_URL")
        .expect("AWS_ENDPOINT_URL is not set: run deploy/dev/test.sh, which starts ministack and sets it");
    let name = format!("opt-{}", unique());
    let result = exec(MACHINE, &serde_json::json!({"name": name}));
    assert_eq!(result["status"], "SUCCEEDED", "{result:#}");
    let out = &result["output"];
    // events:putEvents: the API's result, no metadata; delivered by the rule.
    assert_eq!(out["put"]["FailedEntryCount"], 0, "{out:#}");
    assert!(out["put"]["Entries"][0]["EventId"].is_string(), "{out:#}");
    assert!(out["put"].get("SdkHttpMetadata").is_none(), "{out:#}");
    let delivered: serde_json::Value =
        serde_json::from_str(out["received"]["Messages"][0]["Body"].as_str().expect("a delivered event"))
            .expect("json");
    assert_eq!(delivered["detail"], serde_json::json!({"device": "d1", "celsius": 21.5}), "{delivered:#}");
    assert_eq!(delivered["source"], "expressway.iot");
    // states:startExecution: JSON input sent as text; epoch-millis date and
    // the SDK's metadata; v1 error names.
    assert!(out["started"]["ExecutionArn"].as_str().is_some_and(|a| a.contains(&name)), "{out:#}");
    assert!(out["started"]["StartDate"].as_i64().is_some_and(|t| t > 1_600_000_000_000), "{out:#}");
    assert_eq!(out["started"]["SdkHttpMetadata"]["HttpStatusCode"], 200, "{out:#}");
    assert!(out["started"]["SdkResponseMetadata"]["RequestId"].is_string(), "{out:#}");
    let child_input: serde_json::Value =
        serde_json::from_str(out["described"]["Input"].as_str().expect("input text")).expect("json");
    assert_eq!(child_input, serde_json::json!({"hello": "world"}));
    assert_eq!(out["missing_machine"]["Error"], "StepFunctions.StateMachineDoesNotExistException", "{out:#}");
    assert!(
        out["missing_machine"]["Cause"]
            .as_str()
            .is_some_and(|c| c.contains("(Service: AWSStepFunctions; Status Code: 400"))
    );
    // ecs:runTask, glue:startJobRun, athena:startQueryExecution,
    // batch:submitJob: the API's output plus the metadata.
    assert!(out["ecs"]["Tasks"][0]["TaskArn"].is_string(), "{out:#}");
    assert!(out["ecs"]["Tasks"][0]["CreatedAt"].is_i64(), "{out:#}");
    assert!(out["glue"]["JobRunId"].is_string() && out["glue"]["SdkHttpMetadata"].is_object(), "{out:#}");
    assert!(out["athena"]["QueryExecutionId"].is_string(), "{out:#}");
    assert_eq!(out["athena_query"]["QueryExecution"]["QueryExecutionId"], out["athena"]["QueryExecutionId"], "{out:#}");
    assert!(out["athena_query"]["SdkHttpMetadata"].is_object(), "{out:#}");
    assert_eq!(out["glue"]["JobName"], name.as_str(), "{out:#}");
    assert_eq!(out["batch"]["JobName"], name.as_str(), "{out:#}");
    assert!(out["batch"]["JobId"].is_string() && out["batch"]["JobArn"].is_string(), "{out:#}");
    // bedrock:invokeModel: the model's JSON answer parsed.
    assert!(out["bedrock"]["Body"]["results"][0]["outputText"].is_string(), "{out:#}");
    assert_eq!(out["bedrock"]["ContentType"], "application/json", "{out:#}");
}

/// One request read off a socket: its head (lower-cased header names) and
/// body, after the whole `Content-Length` has arrived.
fn read_request(stream: &mut std::net::TcpStream) -> (String, Vec<u8>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).expect("read");
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap_or(0)))
                .unwrap_or(0);
            if buf.len() >= end + 4 + length || n == 0 {
                return (head, buf[end + 4..].to_vec());
            }
        } else if n == 0 {
            return (String::from_utf8_lossy(&buf).to_ascii_lowercase(), Vec::new());
        }
    }
}

#[test]
fn api_gateway_invoke_sends_the_signed_request_aws_describes() {
    // No real server: ministack has no deployed API Gateway stage to call,
    // so a local one records the request and answers as API Gateway does.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let endpoint = format!("http://{}", listener.local_addr().expect("address"));
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("accept");
        let request = read_request(&mut stream);
        let body = r#"{"id":"p-1"}"#;
        let answer = format!(
            "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(answer.as_bytes()).expect("answer");
        request
    });
    let machine = r#"{"StartAt": "Call", "States": {"Call": {"Type": "Task", "Resource": "arn:aws:states:::apigateway:invoke",
        "Parameters": {"ApiEndpoint.$": "$.endpoint", "Method": "POST", "Stage": "prod", "Path": "readings/d1",
          "QueryParameters": {"unit": ["c"]}, "Headers": {"X-Device": ["d1"]}, "RequestBody": {"celsius": 21.5},
          "AuthType": "IAM_ROLE"}, "End": true}}}"#;
    let result = exec(machine, &serde_json::json!({"endpoint": endpoint}));
    let (head, body) = server.join().expect("server");
    assert!(head.starts_with("post /prod/readings/d1?unit=c http/1.1"), "{head}");
    assert!(head.contains("\r\nx-device: d1"), "{head}");
    assert!(head.contains("\r\nauthorization: aws4-hmac-sha256 credential="), "{head}");
    assert!(head.contains("/execute-api/aws4_request"), "{head}");
    assert!(head.contains("\r\nx-amz-date: "), "{head}");
    assert_eq!(body, br#"{"celsius":21.5}"#);
    assert_eq!(result["status"], "SUCCEEDED", "{result:#}");
    let out = &result["output"];
    assert_eq!(out["StatusCode"], 201, "{out:#}");
    assert_eq!(out["StatusText"], "Created", "{out:#}");
    assert_eq!(out["ResponseBody"], serde_json::json!({"id": "p-1"}), "{out:#}");
    assert_eq!(out["Headers"]["content-type"], serde_json::json!(["application/json"]), "{out:#}");
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `expressway run` of an example with its result files under `dir`; the
/// result lines.
fn run_example(example: &str, dir: &std::path::Path, env: &[(&str, String)]) -> Vec<serde_json::Value> {
    let results = dir.join("results.jsonl");
    let out = Command::new(env!("CARGO_BIN_EXE_expressway"))
        .args(["run", "--config"])
        .arg(repo().join("config/examples").join(example))
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("IOT_RESULTS", &results)
        .env("ETL_RESULTS", &results)
        .env("IOT_DEAD_LETTERS", dir.join("dead.jsonl"))
        .env("ETL_DEAD_LETTERS", dir.join("dead.jsonl"))
        .env("IOT_CHECKPOINT", dir.join("iot.checkpoint"))
        .env("ETL_CHECKPOINT", dir.join("etl.checkpoint"))
        .env("FANOUT_RESULTS", &results)
        .env("FANOUT_DEAD_LETTERS", dir.join("dead.jsonl"))
        .env("FANOUT_CHECKPOINT", dir.join("fanout.checkpoint"))
        .output()
        .expect("run");
    let dead = std::fs::read_to_string(dir.join("dead.jsonl")).unwrap_or_default();
    assert!(out.status.success() && dead.is_empty(), "{}\n{dead}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(&results).expect("results");
    text.lines().map(|l| serde_json::from_str(l).expect("a JSON result")).collect()
}

#[test]
fn the_iot_and_etl_examples_run_against_the_dev_services() {
    std::env::var("AWS_ENDPOINT_URL")
        .expect("AWS_ENDPOINT_URL is not set: run deploy/dev/test.sh, which starts ministack and sets it");
    // What the examples' comments say to create, made by one execution.
    let setup = r#"{"StartAt": "Stream", "States": {
      "Stream": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:kinesis:createStream",
        "Parameters": {"StreamName": "iot-readings", "ShardCount": 1}, "ResultPath": null,
        "Catch": [{"ErrorEquals": ["Kinesis.ResourceInUseException"], "ResultPath": null, "Next": "Bucket"}], "Next": "Bucket"},
      "Bucket": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:s3:createBucket",
        "Parameters": {"Bucket": "expressway-etl"}, "ResultPath": null,
        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": null, "Next": "Manifest1"}], "Next": "Manifest1"},
      "Manifest1": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:s3:putObject",
        "Parameters": {"Bucket": "expressway-etl", "Key": "incoming/2024-05-01/manifest.json", "Body": {"files": ["a.csv"]}}, "ResultPath": null, "Next": "Manifest2"},
      "Manifest2": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:s3:putObject",
        "Parameters": {"Bucket": "expressway-etl", "Key": "incoming/2024-05-02/manifest.json", "Body": {"files": ["b.csv"]}}, "ResultPath": null, "Next": "Job"},
      "Job": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:glue:createJob",
        "Parameters": {"Name": "expressway-etl", "Role": "r", "Command": {"Name": "glueetl", "ScriptLocation": "s3://expressway-etl/etl.py"}}, "ResultPath": null,
        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": null, "Next": "Alert"}], "Next": "Alert"},
      "Alert": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:sfn:createStateMachine",
        "Parameters": {"Name": "iot-alert", "Type": "EXPRESS", "RoleArn": "arn:aws:iam::000000000000:role/sfn", "Definition": "{\"StartAt\":\"P\",\"States\":{\"P\":{\"Type\":\"Pass\",\"End\":true}}}"}, "ResultPath": null,
        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": null, "Next": "Publish"}], "Next": "Publish"},
      "Publish": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:sfn:createStateMachine",
        "Parameters": {"Name": "etl-publish", "Type": "EXPRESS", "RoleArn": "arn:aws:iam::000000000000:role/sfn", "Definition": "{\"StartAt\":\"P\",\"States\":{\"P\":{\"Type\":\"Pass\",\"End\":true}}}"}, "ResultPath": null,
        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": null, "Next": "Done"}], "Next": "Done"},
      "Done": {"Type": "Succeed"}
    }}"#;
    let done = exec(setup, &serde_json::json!({}));
    assert_eq!(done["status"], "SUCCEEDED", "{done:#}");
    let dir = std::env::temp_dir().join(format!("expressway-examples-{}", unique()));
    std::fs::create_dir_all(&dir).expect("work dir");
    let etl = run_example("etl-glue-athena.yaml", &dir, &[]);
    assert_eq!(etl.len(), 2, "{etl:?}");
    for job in &etl {
        assert!(job["glue"]["jobRunId"].is_string() && job["athena"]["queryExecutionId"].is_string(), "{job:#}");
    }
    // Three batches of the IoT data, one of them over 85 (an alert).
    let batches = dir.join("batches.jsonl");
    let hot = r#"{"batchId":"hot","deviceId":"d9","site":"plant-north","reading":{"kind":"temperature","value":91.0},"readings":[]}"#;
    let cool = |i: u32| {
        format!(
            r#"{{"batchId":"c{i}","deviceId":"d{i}","site":"warehouse-7","reading":{{"kind":"temperature","value":50.0}},"readings":[]}}"#
        )
    };
    std::fs::write(&batches, format!("{}\n{}\n{hot}\n", cool(1), cool(2))).expect("batches");
    std::fs::remove_file(dir.join("results.jsonl")).expect("the ETL results");
    let iot = run_example(
        "iot-eventbridge-kinesis.yaml",
        &dir,
        &[("EXPRESSWAY__PIPELINES__0__SOURCE__PATH", batches.display().to_string())],
    );
    assert_eq!(iot.len(), 3, "{iot:?}");
    for batch in &iot {
        assert!(batch["published"]["event"]["eventId"].is_string(), "{batch:#}");
        assert!(batch["published"]["record"]["sequence"].is_string(), "{batch:#}");
    }
}

#[test]
fn the_s3_fan_out_example_reads_each_object_and_publishes_every_batch() {
    std::env::var("AWS_ENDPOINT_URL")
        .expect("AWS_ENDPOINT_URL is not set: run deploy/dev/test.sh, which starts ministack and sets it");
    let lines =
        |n: u32| (0..n).map(|i| format!("{{\"deviceId\":\"d{i}\",\"celsius\":{}}}\n", 20 + i % 10)).collect::<String>();
    // What the example's comment says to create, made by one execution.
    let setup = r#"{"StartAt": "Bucket", "States": {
      "Bucket": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:s3:createBucket",
        "Parameters": {"Bucket": "expressway-readings"}, "ResultPath": null,
        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": null, "Next": "Day1"}], "Next": "Day1"},
      "Day1": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:s3:putObject",
        "Parameters": {"Bucket": "expressway-readings", "Key": "readings/2024-05-01.jsonl", "Body.$": "$.day1"}, "ResultPath": null, "Next": "Day2"},
      "Day2": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:s3:putObject",
        "Parameters": {"Bucket": "expressway-readings", "Key": "readings/2024-05-02.jsonl", "Body.$": "$.day2"}, "ResultPath": null, "Next": "Stream"},
      "Stream": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:kinesis:createStream",
        "Parameters": {"StreamName": "iot-readings", "ShardCount": 1}, "ResultPath": null,
        "Catch": [{"ErrorEquals": ["Kinesis.ResourceInUseException"], "ResultPath": null, "Next": "Done"}], "Next": "Done"},
      "Done": {"Type": "Succeed"}
    }}"#;
    let done = exec(setup, &serde_json::json!({"day1": lines(30), "day2": lines(3)}));
    assert_eq!(done["status"], "SUCCEEDED", "{done:#}");
    let dir = std::env::temp_dir().join(format!("expressway-s3-fanout-{}", unique()));
    std::fs::create_dir_all(&dir).expect("work dir");
    let results = run_example("s3-readings-fanout.yaml", &dir, &[]);
    assert_eq!(results.len(), 2, "{results:?}");
    // Batches of 25 in read order: 30 readings are 25 + 5, 3 are one batch;
    // each batch reached EventBridge (no failed entry) and Kinesis.
    let mut keys: Vec<&str> = results.iter().filter_map(|r| r["key"].as_str()).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["readings/2024-05-01.jsonl", "readings/2024-05-02.jsonl"], "{results:?}");
    for result in &results {
        let expected = if result["key"] == "readings/2024-05-01.jsonl" { vec![25, 5] } else { vec![3] };
        let batches = result["published"]["batches"].as_array().cloned().unwrap_or_default();
        let sizes: Vec<u64> = batches.iter().filter_map(|b| b["readings"].as_u64()).collect();
        assert_eq!(sizes, expected, "{result:#}");
        for b in &batches {
            assert_eq!(b["failedEvents"], 0, "{b:#}");
            assert!(b["sequence"].as_str().is_some_and(|s| !s.is_empty()), "{b:#}");
        }
    }
}
