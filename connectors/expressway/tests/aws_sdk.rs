//! `arn:aws:states:::aws-sdk:*` tasks end to end against ministack (which
//! `deploy/dev/services.sh` starts; `AWS_ENDPOINT_URL` points at it): one
//! state machine calls S3 (rest-xml), DynamoDB (json 1.0), SSM (json 1.1),
//! EventBridge, Kinesis, SQS (json, query-compatible), SNS (query) and EC2
//! (ec2) and catches `S3.NoSuchKeyException`; the results are checked
//! against the shapes AWS documents.

use std::process::Command;

mod support;
use support::unique;

fn exec(machine: &str, input: &serde_json::Value) -> serde_json::Value {
    std::env::var("AWS_ENDPOINT_URL")
        .expect("AWS_ENDPOINT_URL is not set: run deploy/dev/test.sh, which starts ministack and sets it");
    support::exec_aws("aws-sdk", machine, input)
}

const MACHINE: &str = r#"{"StartAt": "CreateBucket", "States": {
  "CreateBucket": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:s3:createBucket",
    "Parameters": {"Bucket.$": "$.bucket"}, "ResultPath": null, "Next": "PutObject"},
  "PutObject": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:s3:putObject",
    "Parameters": {"Bucket.$": "$.bucket", "Key": "in/a.json", "Body": {"Dict": "Value"}}, "ResultPath": "$.put", "Next": "GetObject"},
  "GetObject": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:s3:getObject",
    "Parameters": {"Bucket.$": "$.bucket", "Key": "in/a.json"}, "ResultPath": "$.get", "Next": "List"},
  "List": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:s3:listObjectsV2",
    "Parameters": {"Bucket.$": "$.bucket", "Prefix": "in/"}, "ResultPath": "$.list", "Next": "Missing"},
  "Missing": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:s3:getObject",
    "Parameters": {"Bucket.$": "$.bucket", "Key": "no_such_key.json"}, "ResultPath": "$.get_missing",
    "Catch": [{"ErrorEquals": ["S3.NoSuchKeyException"], "ResultPath": "$.missing", "Next": "CreateTable"}], "Next": "CreateTable"},
  "CreateTable": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:dynamodb:createTable",
    "Parameters": {"TableName.$": "$.table", "BillingMode": "PAY_PER_REQUEST",
      "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
      "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}]}, "ResultPath": null, "Next": "PutItem"},
  "PutItem": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:dynamodb:putItem",
    "Parameters": {"TableName.$": "$.table", "Item": {"id": {"S": "id1"}, "data": {"S": "HelloWorld"}}}, "ResultPath": "$.put_item", "Next": "GetItem"},
  "GetItem": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:dynamodb:getItem",
    "Parameters": {"TableName.$": "$.table", "Key": {"id": {"S": "id1"}}}, "ResultPath": "$.get_item", "Next": "PutParameter"},
  "PutParameter": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:ssm:putParameter",
    "Parameters": {"Name.$": "$.parameter", "Value": "v1", "Type": "String"}, "ResultPath": null, "Next": "GetParameter"},
  "GetParameter": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:ssm:getParameter",
    "Parameters": {"Name.$": "$.parameter"}, "ResultPath": "$.parameter_out", "Next": "PutEvents"},
  "PutEvents": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:eventbridge:putEvents",
    "Parameters": {"Entries": [{"Source": "expressway.test", "DetailType": "t", "Detail": "{\"a\":1}"}]}, "ResultPath": "$.events", "Next": "CreateStream"},
  "CreateStream": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:kinesis:createStream",
    "Parameters": {"StreamName.$": "$.stream", "ShardCount": 1}, "ResultPath": null, "Next": "PutRecord"},
  "PutRecord": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:kinesis:putRecord",
    "Parameters": {"StreamName.$": "$.stream", "Data": "hello", "PartitionKey": "p"}, "ResultPath": "$.record",
    "Retry": [{"ErrorEquals": ["Kinesis.ResourceNotFoundException", "Kinesis.ResourceInUseException"], "IntervalSeconds": 1, "MaxAttempts": 5}], "Next": "CreateTopic"},
  "CreateTopic": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:sns:createTopic",
    "Parameters": {"Name.$": "$.topic", "Attributes": {"DisplayName": "d"}}, "ResultPath": "$.created_topic", "Next": "Publish"},
  "Publish": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:sns:publish",
    "Parameters": {"TopicArn.$": "$.created_topic.TopicArn", "Message": "hi"}, "ResultPath": "$.published", "Next": "CreateQueue"},
  "CreateQueue": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:sqs:createQueue",
    "Parameters": {"QueueName.$": "$.queue"}, "ResultPath": null, "Next": "GetQueueUrl"},
  "GetQueueUrl": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:sqs:getQueueUrl",
    "Parameters": {"QueueName.$": "$.queue"}, "ResultPath": "$.queue_url", "Next": "MissingQueue"},
  "MissingQueue": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:sqs:getQueueUrl",
    "Parameters": {"QueueName": "no-such-queue-here"}, "ResultPath": null,
    "Catch": [{"ErrorEquals": ["Sqs.QueueDoesNotExistException"], "ResultPath": "$.missing_queue", "Next": "DescribeVpcs"}], "Next": "DescribeVpcs"},
  "DescribeVpcs": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:ec2:describeVpcs",
    "Parameters": {"Filters": [{"Name": "is-default", "Values": ["true"]}]}, "ResultPath": "$.vpcs", "End": true}
}}"#;

#[test]
fn aws_sdk_tasks_speak_each_protocol_with_aws_result_shapes_and_error_names() {
    let run = unique();
    let input = serde_json::json!({
        "bucket": format!("sdk-{run}"), "table": format!("sdk-{run}"), "parameter": format!("/sdk/{run}"),
        "stream": format!("sdk-{run}"), "topic": format!("sdk-{run}"), "queue": format!("sdk-{run}"),
    });
    let result = exec(MACHINE, &input);
    assert_eq!(result["status"], "SUCCEEDED", "{result:#}");
    let out = &result["output"];
    // rest-xml: ETag and the object's body as its JSON text.
    assert!(out["put"]["ETag"].as_str().is_some_and(|e| e.contains("49e31cee5aec8faf3345893addb14346")), "{out:#}");
    assert_eq!(out["get"]["Body"], r#"{"Dict":"Value"}"#, "{out:#}");
    assert_eq!(out["get"]["ContentLength"], 16, "{out:#}");
    assert!(out["get"]["Metadata"].is_object(), "{out:#}");
    assert_eq!(out["list"]["KeyCount"], 1, "{out:#}");
    assert_eq!(out["list"]["Contents"][0]["Key"], "in/a.json", "{out:#}");
    assert_eq!(out["list"]["Contents"][0]["Size"], 16, "{out:#}");
    assert_eq!(out["missing"]["Error"], "S3.NoSuchKeyException", "{out:#}");
    assert!(out["missing"]["Cause"].as_str().is_some_and(|c| c.contains("(Service: S3, Status Code: 404")), "{out:#}");
    // json 1.0 and 1.1.
    assert_eq!(out["put_item"], serde_json::json!({}), "{out:#}");
    assert_eq!(out["get_item"]["Item"]["data"], serde_json::json!({"S": "HelloWorld"}), "{out:#}");
    assert_eq!(out["parameter_out"]["Parameter"]["Value"], "v1", "{out:#}");
    assert_eq!(out["events"]["FailedEntryCount"], 0, "{out:#}");
    assert!(out["events"]["Entries"][0]["EventId"].is_string(), "{out:#}");
    assert!(out["record"]["SequenceNumber"].is_string() && out["record"]["ShardId"].is_string(), "{out:#}");
    // query.
    assert!(out["created_topic"]["TopicArn"].as_str().is_some_and(|a| a.ends_with(&format!("sdk-{run}"))), "{out:#}");
    assert!(out["published"]["MessageId"].is_string(), "{out:#}");
    // SQS: json with query-era errors.
    assert!(out["queue_url"]["QueueUrl"].as_str().is_some_and(|u| u.ends_with(&format!("sdk-{run}"))), "{out:#}");
    assert_eq!(out["missing_queue"]["Error"], "Sqs.QueueDoesNotExistException", "{out:#}");
    // ec2.
    assert!(out["vpcs"]["Vpcs"].is_array(), "{out:#}");
}

#[test]
fn unknown_aws_sdk_services_and_actions_fail_validation_naming_each() {
    let machine = r#"{"StartAt": "A", "States": {
        "A": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:s3:getObjekt", "Next": "B"},
        "B": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:nosuchservice:getThing", "Next": "C"},
        "C": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:rekognition:detectLabels", "End": true}}}"#;
    let dir = std::env::temp_dir().join(format!("expressway-aws-sdk-{}", unique()));
    std::fs::create_dir_all(&dir).expect("work dir");
    let definition = dir.join("machine.json");
    std::fs::write(&definition, machine).expect("definition");
    let config = dir.join("pipeline.yaml");
    std::fs::write(
        &config,
        format!(
            "pipelines:\n  - name: sdk\n    state_machine: {}\n    source: {{ type: stdin }}\n    sink: {{ type: stdout }}\n    dead_letter: {{ type: stdout }}\n",
            definition.display()
        ),
    )
    .expect("config");
    let out = Command::new(env!("CARGO_BIN_EXE_expressway"))
        .args(["validate", "--config"])
        .arg(&config)
        .output()
        .expect("validate");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("aws-sdk:s3:getObjekt") && text.contains("no action 'getObjekt'"), "{text}");
    assert!(text.contains("no AWS SDK service is named 'nosuchservice'"), "{text}");
    assert!(!text.contains("rekognition"), "{text}");
}
