//! `arn:aws:states:::sns:publish`: `TopicArn` (or `TargetArn`,
//! `PhoneNumber`), `Message` (JSON is sent as its text), `Subject`,
//! `MessageStructure`, `MessageAttributes`, `MessageGroupId`,
//! `MessageDeduplicationId`; the result is AWS's `{MessageId, …}`.

use super::errors::{SNS, failure};
use super::response::with_metadata;
use aws_sdk_sns::Client;
use aws_sdk_sns::operation::RequestId;
use aws_sdk_sns::types::MessageAttributeValue;
use expressway_engine::{TaskOutcome, Value};
use serde_json::json;

pub async fn publish(client: &Client, params: &Value) -> TaskOutcome {
    let text = |k: &str| params.get(k).and_then(Value::as_str).map(str::to_string);
    let message = match params.get("Message") {
        Some(Value::String(s)) => s.to_string(),
        Some(other) => other.to_json(),
        None => {
            return TaskOutcome::Failed {
                error: "States.Runtime".into(),
                cause: Some("The sns:publish parameters must contain 'Message'".into()),
            };
        }
    };
    let mut call = client
        .publish()
        .message(message)
        .set_topic_arn(text("TopicArn"))
        .set_target_arn(text("TargetArn"))
        .set_phone_number(text("PhoneNumber"))
        .set_subject(text("Subject"))
        .set_message_structure(text("MessageStructure"))
        .set_message_group_id(text("MessageGroupId"))
        .set_message_deduplication_id(text("MessageDeduplicationId"));
    let attributes = match super::message_attributes(params) {
        Ok(a) => a,
        Err(cause) => {
            return TaskOutcome::Failed { error: "SNS.InvalidParameterValueException".into(), cause: Some(cause) };
        }
    };
    for a in attributes {
        let value = MessageAttributeValue::builder()
            .data_type(a.data_type)
            .set_string_value(a.string_value)
            .set_binary_value(a.binary_value.map(aws_sdk_sns::primitives::Blob::new));
        if let Ok(v) = value.build() {
            call = call.message_attributes(a.name, v);
        }
    }
    match call.send().await {
        Ok(out) => {
            let mut result = with_metadata(out.request_id().unwrap_or_default(), "text/xml");
            result.insert("MessageId".into(), json!(out.message_id()));
            if let Some(seq) = out.sequence_number() {
                result.insert("SequenceNumber".into(), json!(seq));
            }
            TaskOutcome::Succeeded(Value::from(serde_json::Value::Object(result)))
        }
        Err(e) => failure(SNS, &e),
    }
}
