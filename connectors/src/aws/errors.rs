//! SDK errors as Step Functions names them: `Lambda.ResourceNotFoundException`,
//! `DynamoDB.ConditionalCheckFailedException`, … with a cause in AWS's
//! `(Service: …; Status Code: …; Error Code: …)` form; anything that never
//! got a service answer (network, timeout) is `<Service>.SdkClientException`.

use aws_sdk_lambda::config::http::HttpResponse;
use aws_sdk_lambda::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use expressway_engine::TaskOutcome;

/// How one service's errors are named.
#[derive(Clone, Copy)]
pub struct ServiceNames {
    /// The ASL error prefix (`Lambda`, `SQS`, `SNS`, `DynamoDB`).
    pub prefix: &'static str,
    /// The name in causes (`AWSLambda`, `AmazonSQS`, `AmazonDynamoDBv2`).
    pub service: &'static str,
    /// The code of a service error that carries none.
    pub unknown: &'static str,
}

pub const LAMBDA: ServiceNames = ServiceNames { prefix: "Lambda", service: "AWSLambda", unknown: "AWSLambdaException" };
pub const SQS: ServiceNames = ServiceNames { prefix: "SQS", service: "AmazonSQS", unknown: "AmazonSQSException" };
pub const SNS: ServiceNames = ServiceNames { prefix: "SNS", service: "AmazonSNS", unknown: "AmazonSNSException" };
pub const DYNAMODB: ServiceNames =
    ServiceNames { prefix: "DynamoDB", service: "AmazonDynamoDBv2", unknown: "AmazonDynamoDBException" };

pub fn failure<E>(names: ServiceNames, e: &SdkError<E, HttpResponse>) -> TaskOutcome
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let (error, cause) = describe(names, e);
    TaskOutcome::Failed { error, cause: Some(cause) }
}

/// The ASL error name and cause of an SDK error.
pub fn describe<E>(names: ServiceNames, e: &SdkError<E, HttpResponse>) -> (String, String)
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match e {
        SdkError::ServiceError(se) => {
            let code = se.err().code().unwrap_or(names.unknown);
            let message = se.err().message().unwrap_or("");
            let status = se.raw().status().as_u16();
            let request_id = se.raw().headers().get("x-amzn-RequestId").unwrap_or("null");
            (
                format!("{}.{code}", names.prefix),
                format!(
                    "{message} (Service: {}; Status Code: {status}; Error Code: {code}; Request ID: {request_id}; Proxy: null)",
                    names.service
                ),
            )
        }
        other if super::bounded::is_too_large(other) => (
            "States.DataLimitExceeded".to_string(),
            format!(
                "The {} response was larger than the {}-byte limit on its answers",
                names.service,
                super::bounded::max_response_bytes(names.prefix)
            ),
        ),
        other => (format!("{}.SdkClientException", names.prefix), DisplayErrorContext(other).to_string()),
    }
}
