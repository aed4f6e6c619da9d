//! Lambda Task states, both forms: a function ARN as the Resource (the
//! result is the function's payload) and `arn:aws:states:::lambda:invoke`
//! (the result is AWS's envelope: `ExecutedVersion`, `Payload`,
//! `StatusCode`, `SdkHttpMetadata`, `SdkResponseMetadata`). A function error
//! is raised as its `errorType`, with the error document as the cause.

use super::errors::{LAMBDA, failure};
use aws_sdk_lambda::Client;
use aws_sdk_lambda::operation::RequestId;
use aws_sdk_lambda::operation::invoke::InvokeOutput;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{InvocationType, LogType};
use expressway_engine::{TaskOutcome, Value};
use serde_json::{Value as Json, json};

/// `Resource: arn:aws:lambda:…:function:name[:qualifier]`.
pub async fn invoke_function(client: &Client, arn: &str, input: &Value) -> TaskOutcome {
    let payload = input.to_json().into_bytes();
    let out = match client.invoke().function_name(arn).payload(Blob::new(payload)).send().await {
        Ok(out) => out,
        Err(e) => return failure(LAMBDA, &e),
    };
    if let Some(failed) = function_error(&out) {
        return failed;
    }
    let bytes = out.payload().map(|b| b.as_ref()).unwrap_or_default();
    if bytes.is_empty() {
        return TaskOutcome::Succeeded(Value::Null);
    }
    match expressway_engine::value::from_slice(bytes) {
        Ok(v) => TaskOutcome::Succeeded(v),
        Err(_) => TaskOutcome::Succeeded(Value::from(String::from_utf8_lossy(bytes).into_owned())),
    }
}

/// `Resource: arn:aws:states:::lambda:invoke` with `FunctionName`,
/// `Payload`, `Qualifier`, `InvocationType`, `ClientContext`, `LogType`.
pub async fn invoke(client: &Client, params: &Value) -> TaskOutcome {
    let Some(function) = params.get("FunctionName").and_then(Value::as_str) else {
        return TaskOutcome::Failed {
            error: "States.Runtime".into(),
            cause: Some("The lambda:invoke parameters must contain a string 'FunctionName'".into()),
        };
    };
    let mut call = client.invoke().function_name(function);
    if let Some(payload) = params.get("Payload") {
        call = call.payload(Blob::new(payload.to_json().into_bytes()));
    }
    if let Some(q) = params.get("Qualifier").and_then(Value::as_str) {
        call = call.qualifier(q);
    }
    if let Some(t) = params.get("InvocationType").and_then(Value::as_str) {
        call = call.invocation_type(InvocationType::from(t));
    }
    if let Some(c) = params.get("ClientContext").and_then(Value::as_str) {
        call = call.client_context(c);
    }
    if let Some(l) = params.get("LogType").and_then(Value::as_str) {
        call = call.log_type(LogType::from(l));
    }
    let out = match call.send().await {
        Ok(out) => out,
        Err(e) => return failure(LAMBDA, &e),
    };
    if let Some(failed) = function_error(&out) {
        return failed;
    }
    TaskOutcome::Succeeded(Value::from(envelope(&out)))
}

/// The function's own error: `X-Amz-Function-Error` set, the payload an
/// `{errorType, errorMessage, …}` document.
fn function_error(out: &InvokeOutput) -> Option<TaskOutcome> {
    out.function_error()?;
    let bytes = out.payload().map(|b| b.as_ref()).unwrap_or_default();
    let text = String::from_utf8_lossy(bytes).into_owned();
    let error = serde_json::from_slice::<Json>(bytes)
        .ok()
        .and_then(|d| d.get("errorType").and_then(Json::as_str).map(str::to_string))
        .unwrap_or_else(|| "Lambda.Unknown".into());
    Some(TaskOutcome::Failed { error, cause: Some(text) })
}

fn envelope(out: &InvokeOutput) -> Json {
    let bytes = out.payload().map(|b| b.as_ref()).unwrap_or_default();
    let payload = if bytes.is_empty() {
        Json::String(String::new())
    } else {
        serde_json::from_slice(bytes).unwrap_or_else(|_| Json::String(String::from_utf8_lossy(bytes).into_owned()))
    };
    let request_id = out.request_id().unwrap_or_default();
    let version = out.executed_version().unwrap_or("$LATEST");
    let status = out.status_code();
    // The SDK keeps no raw headers: these are the ones Lambda always sends.
    let headers = json!({
        "Content-Length": bytes.len().to_string(),
        "Content-Type": "application/json",
        "X-Amz-Executed-Version": version,
        "x-amzn-Remapped-Content-Length": "0",
        "x-amzn-RequestId": request_id,
    });
    let all_headers: serde_json::Map<String, Json> =
        headers.as_object().map(|h| h.iter().map(|(k, v)| (k.clone(), json!([v]))).collect()).unwrap_or_default();
    json!({
        "ExecutedVersion": version,
        "Payload": payload,
        "SdkHttpMetadata": {
            "AllHttpHeaders": all_headers,
            "HttpHeaders": headers,
            "HttpStatusCode": status,
        },
        "SdkResponseMetadata": { "RequestId": request_id },
        "StatusCode": status,
    })
}
