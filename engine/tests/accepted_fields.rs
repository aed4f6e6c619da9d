//! Every field AWS accepts, in each state type and both query languages, is
//! accepted: one JSONPath and one JSONata machine that use them all.

use expressway_engine::WorkflowType;
use expressway_engine::validate::validate;
use serde_json::{Value, json};

fn problems(def: &Value) -> Vec<String> {
    match validate(def, WorkflowType::Express) {
        Ok(_) => vec![],
        Err(d) => d.into_iter().map(|d| format!("{:?} at {}: {}", d.code, d.pointer, d.message)).collect(),
    }
}

#[test]
fn a_jsonpath_machine_using_every_field_is_valid() {
    let def = json!({
        "Comment": "c", "Version": "1.0", "TimeoutSeconds": 300, "QueryLanguage": "JSONPath",
        "StartAt": "P",
        "States": {
            "P": {"Type": "Pass", "Comment": "c", "QueryLanguage": "JSONPath", "InputPath": "$",
                  "Parameters": {"a.$": "$.a"}, "ResultPath": "$.r", "OutputPath": "$", "Assign": {"v": 1}, "Next": "T"},
            "T": {"Type": "Task", "Comment": "c", "Resource": "arn:aws:states:::lambda:invoke",
                  "Parameters": {"FunctionName": "arn:aws:lambda:us-east-1:123456789012:function:f"},
                  "Credentials": {"RoleArn": "arn:aws:iam::123456789012:role/r"},
                  "TimeoutSecondsPath": "$.t", "HeartbeatSecondsPath": "$.h",
                  "ResultSelector": {"p.$": "$.Payload"}, "ResultPath": "$.r",
                  "Retry": [{"Comment": "c", "ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 2,
                             "BackoffRate": 2, "MaxDelaySeconds": 5, "JitterStrategy": "FULL"}],
                  "Catch": [{"Comment": "c", "ErrorEquals": ["States.ALL"], "ResultPath": "$.e", "Next": "F"}],
                  "Next": "T2"},
            "T2": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                   "Parameters": {"FunctionName": "arn:aws:lambda:us-east-1:123456789012:function:f"},
                   "Credentials": {"RoleArn.$": "$.role"}, "TimeoutSeconds": 10, "HeartbeatSeconds": 5, "Next": "C"},
            "C": {"Type": "Choice", "Comment": "c",
                  "Choices": [{"Comment": "c", "Variable": "$.x", "NumericEquals": 1, "Next": "W1"},
                              {"Not": {"Variable": "$.y", "IsPresent": true}, "Next": "W2"}],
                  "Default": "W3"},
            "W1": {"Type": "Wait", "Seconds": 1, "Next": "M"},
            "W2": {"Type": "Wait", "SecondsPath": "$.s", "Next": "M"},
            "W3": {"Type": "Wait", "Timestamp": "2026-01-01T00:00:00Z", "Next": "W4"},
            "W4": {"Type": "Wait", "TimestampPath": "$.ts", "Next": "M"},
            "M": {"Type": "Map", "Comment": "c", "ItemsPath": "$.items",
                  "ItemSelector": {"v.$": "$$.Map.Item.Value"}, "MaxConcurrencyPath": "$.mc",
                  "ToleratedFailurePercentagePath": "$.tp", "ToleratedFailureCountPath": "$.tc", "Label": "lbl",
                  "ItemReader": {"Resource": "arn:aws:states:::s3:getObject",
                                 "ReaderConfig": {"InputType": "JSON", "MaxItems": 10},
                                 "Parameters": {"Bucket": "b", "Key": "k"}},
                  "ItemBatcher": {"MaxItemsPerBatchPath": "$.bi", "MaxInputBytesPerBatch": 1024,
                                  "BatchInput": {"x.$": "$.x"}},
                  "ResultWriter": {"Resource": "arn:aws:states:::s3:putObject",
                                   "Parameters": {"Bucket": "b", "Prefix": "p"},
                                   "WriterConfig": {"OutputType": "JSON", "Transformation": "NONE"}},
                  "ItemProcessor": {"Comment": "c", "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
                                    "StartAt": "I", "States": {"I": {"Type": "Pass", "End": true}}},
                  "Next": "M2"},
            "M2": {"Type": "Map", "MaxConcurrency": 2, "ToleratedFailurePercentage": 10, "ToleratedFailureCount": 1,
                   "Parameters": {"v.$": "$$.Map.Item.Value"},
                   "Iterator": {"StartAt": "I2", "States": {"I2": {"Type": "Pass", "End": true}}}, "Next": "Par"},
            "Par": {"Type": "Parallel", "Comment": "c",
                    "Branches": [{"Comment": "c", "StartAt": "B", "States": {"B": {"Type": "Succeed", "Comment": "c"}}}],
                    "ResultSelector": {"r.$": "$[0]"}, "ResultPath": "$.p", "Next": "S"},
            "S": {"Type": "Succeed", "Comment": "c", "InputPath": "$", "OutputPath": "$"},
            "F": {"Type": "Fail", "Comment": "c", "ErrorPath": "$.e.Error", "CausePath": "$.e.Cause"}
        }
    });
    assert_eq!(problems(&def), Vec::<String>::new());
}

#[test]
fn a_jsonata_machine_using_every_field_is_valid() {
    let def = json!({
        "QueryLanguage": "JSONata", "Comment": "c", "StartAt": "P",
        "States": {
            "P": {"Type": "Pass", "Comment": "c", "Output": {"a": "{% $states.input.a %}"}, "Assign": {"v": 1}, "Next": "T"},
            "T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                  "Arguments": {"FunctionName": "arn:aws:lambda:us-east-1:123456789012:function:f",
                                "Payload": "{% $states.input %}"},
                  "Credentials": {"RoleArn": "{% $states.input.role %}"},
                  "TimeoutSeconds": "{% 10 %}", "HeartbeatSeconds": 5, "Output": "{% $states.result.Payload %}",
                  "Retry": [{"Comment": "c", "ErrorEquals": ["States.ALL"]}],
                  "Catch": [{"ErrorEquals": ["States.ALL"], "Output": "{% $states.errorOutput %}",
                             "Assign": {"e": "{% $states.errorOutput %}"}, "Next": "F"}],
                  "Next": "C"},
            "C": {"Type": "Choice", "Output": "{% $states.input %}", "Assign": {"z": 1},
                  "Choices": [{"Comment": "c", "Condition": "{% $v = 1 %}", "Output": {"x": 1}, "Assign": {"w": 2}, "Next": "W"}],
                  "Default": "W2"},
            "W": {"Type": "Wait", "Seconds": "{% 1 %}", "Next": "M"},
            "W2": {"Type": "Wait", "Timestamp": "{% '2026-01-01T00:00:00Z' %}", "Next": "M"},
            "M": {"Type": "Map", "Items": "{% $states.input.items %}",
                  "ItemSelector": {"v": "{% $states.context.Map.Item.Value %}"},
                  "MaxConcurrency": "{% 2 %}", "ToleratedFailurePercentage": "{% 10 %}", "ToleratedFailureCount": 1,
                  "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "I",
                                    "States": {"I": {"Type": "Pass", "End": true}}},
                  "Output": "{% $states.result %}", "Next": "Par"},
            "Par": {"Type": "Parallel", "Arguments": {"a": 1}, "Output": "{% $states.result %}", "Assign": {"q": 1},
                    "Branches": [{"StartAt": "B", "States": {"B": {"Type": "Succeed", "Output": "{% 1 %}"}}}],
                    "Next": "S"},
            "S": {"Type": "Succeed", "Output": {"done": true}},
            "F": {"Type": "Fail", "Error": "{% 'E' %}", "Cause": "{% 'C' %}"}
        }
    });
    assert_eq!(problems(&def), Vec::<String>::new());
}
