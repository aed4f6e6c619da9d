//! SDK errors as Step Functions names them: `Lambda.ResourceNotFoundException`,
//! `DynamoDB.ConditionalCheckFailedException`, … with a cause in AWS's
//! `(Service: …; Status Code: …; Error Code: …)` form; anything that never
//! got a service answer (network, timeout) is `<Service>.SdkClientException`.

use aws_sdk_lambda::config::http::HttpResponse;
use aws_sdk_lambda::error::{ProvideErrorMetadata, SdkError};
use expressway_engine::TaskOutcome;

/// How one service's errors are named.
#[derive(Clone, Copy)]
pub struct ServiceNames {
    /// The ASL error prefix (`Lambda`, `SQS`, `SNS`, `DynamoDB`).
    pub prefix: &'static str,
    /// The name in causes (`AWSLambda`, `AmazonSQS`, `AmazonDynamoDBv2`).
    pub service: &'static str,
    /// The name of a service error the service does not model (the SDK's
    /// base exception), or that carries no code.
    pub unknown: &'static str,
    /// The exceptions a code names. AWS names an optimised integration's
    /// error after the exception the AWS SDK for Java (v1) raises for it:
    /// a modelled error's class (`SQS.QueueDoesNotExistException` for the
    /// code `AWS.SimpleQueueService.NonExistentQueue`, `SNS.NotFoundException`
    /// for `NotFound`), the service's base exception for any other code
    /// (recorded: DynamoDB's `ValidationException` is
    /// `DynamoDB.AmazonDynamoDBException`; an IAM denial of `lambda:invoke`
    /// is `Lambda.AWSLambdaException`). `None`: codes are the names.
    pub exceptions: Option<&'static [(&'static str, &'static str)]>,
    /// The most an answer of the service may hold, read no further.
    pub max_answer_bytes: usize,
}

impl ServiceNames {
    /// The ASL error name of a service error with `code`.
    pub fn error_name(&self, code: Option<&str>) -> String {
        let exception = match (code, self.exceptions) {
            (None, _) => self.unknown,
            (Some(code), None) => code,
            (Some(code), Some(table)) => table.iter().find(|(c, _)| *c == code).map_or(self.unknown, |(_, e)| *e),
        };
        format!("{}.{exception}", self.prefix)
    }
}

/// Lambda's limit on a synchronous answer is 6 MB.
pub const LAMBDA: ServiceNames = ServiceNames {
    prefix: "Lambda",
    service: "AWSLambda",
    unknown: "AWSLambdaException",
    exceptions: Some(LAMBDA_EXCEPTIONS),
    max_answer_bytes: 7 << 20,
};
/// ReceiveMessage answers 10 messages of up to 1 MiB, each escaped in JSON
/// (a quote or a backslash takes two bytes).
pub const SQS: ServiceNames = ServiceNames {
    prefix: "SQS",
    service: "AmazonSQS",
    unknown: "AmazonSQSException",
    exceptions: Some(SQS_EXCEPTIONS),
    max_answer_bytes: 32 << 20,
};
pub const SNS: ServiceNames = ServiceNames {
    prefix: "SNS",
    service: "AmazonSNS",
    unknown: "AmazonSNSException",
    exceptions: Some(SNS_EXCEPTIONS),
    max_answer_bytes: 8 << 20,
};
/// An item is at most 400 KB; the calls made here answer one.
pub const DYNAMODB: ServiceNames = ServiceNames {
    prefix: "DynamoDB",
    service: "AmazonDynamoDBv2",
    unknown: "AmazonDynamoDBException",
    exceptions: Some(DYNAMODB_EXCEPTIONS),
    max_answer_bytes: 8 << 20,
};

/// Invoke's modelled errors (their codes are their exceptions' names).
const LAMBDA_EXCEPTIONS: &[(&str, &str)] = &[
    ("EC2AccessDeniedException", "EC2AccessDeniedException"),
    ("EC2ThrottledException", "EC2ThrottledException"),
    ("EC2UnexpectedException", "EC2UnexpectedException"),
    ("EFSIOException", "EFSIOException"),
    ("EFSMountConnectivityException", "EFSMountConnectivityException"),
    ("EFSMountFailureException", "EFSMountFailureException"),
    ("EFSMountTimeoutException", "EFSMountTimeoutException"),
    ("ENILimitReachedException", "ENILimitReachedException"),
    ("InvalidParameterValueException", "InvalidParameterValueException"),
    ("InvalidRequestContentException", "InvalidRequestContentException"),
    ("InvalidRuntimeException", "InvalidRuntimeException"),
    ("InvalidSecurityGroupIDException", "InvalidSecurityGroupIDException"),
    ("InvalidSubnetIDException", "InvalidSubnetIDException"),
    ("InvalidZipFileException", "InvalidZipFileException"),
    ("KMSAccessDeniedException", "KMSAccessDeniedException"),
    ("KMSDisabledException", "KMSDisabledException"),
    ("KMSInvalidStateException", "KMSInvalidStateException"),
    ("KMSNotFoundException", "KMSNotFoundException"),
    ("RecursiveInvocationException", "RecursiveInvocationException"),
    ("RequestTooLargeException", "RequestTooLargeException"),
    ("ResourceConflictException", "ResourceConflictException"),
    ("ResourceNotFoundException", "ResourceNotFoundException"),
    ("ResourceNotReadyException", "ResourceNotReadyException"),
    ("ServiceException", "ServiceException"),
    ("SnapStartException", "SnapStartException"),
    ("SnapStartNotReadyException", "SnapStartNotReadyException"),
    ("SnapStartTimeoutException", "SnapStartTimeoutException"),
    ("SubnetIPAddressLimitReachedException", "SubnetIPAddressLimitReachedException"),
    ("TooManyRequestsException", "TooManyRequestsException"),
    ("UnsupportedMediaTypeException", "UnsupportedMediaTypeException"),
];

/// SendMessage's modelled errors, by the codes SQS answers (its query
/// protocol's and its JSON protocol's).
const SQS_EXCEPTIONS: &[(&str, &str)] = &[
    ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExistException"),
    ("QueueDoesNotExist", "QueueDoesNotExistException"),
    ("InvalidMessageContents", "InvalidMessageContentsException"),
    ("AWS.SimpleQueueService.UnsupportedOperation", "UnsupportedOperationException"),
    ("UnsupportedOperation", "UnsupportedOperationException"),
    ("RequestThrottled", "RequestThrottledException"),
    ("InvalidAddress", "InvalidAddressException"),
    ("InvalidSecurity", "InvalidSecurityException"),
    // SQS's JSON protocol answers its KMS errors with these codes.
    ("KMS.AccessDeniedException", "KmsAccessDeniedException"),
    ("KMS.DisabledException", "KmsDisabledException"),
    ("KMS.InvalidKeyUsageException", "KmsInvalidKeyUsageException"),
    ("KMS.InvalidStateException", "KmsInvalidStateException"),
    ("KMS.NotFoundException", "KmsNotFoundException"),
    ("KMS.OptInRequired", "KmsOptInRequiredException"),
    ("KMS.ThrottlingException", "KmsThrottledException"),
    ("KmsAccessDenied", "KmsAccessDeniedException"),
    ("KmsDisabled", "KmsDisabledException"),
    ("KmsInvalidKeyUsage", "KmsInvalidKeyUsageException"),
    ("KmsInvalidState", "KmsInvalidStateException"),
    ("KmsNotFound", "KmsNotFoundException"),
    ("KmsOptInRequired", "KmsOptInRequiredException"),
    ("KmsThrottled", "KmsThrottledException"),
];

/// Publish's modelled errors.
const SNS_EXCEPTIONS: &[(&str, &str)] = &[
    ("InvalidParameter", "InvalidParameterException"),
    ("ParameterValueInvalid", "InvalidParameterValueException"),
    ("InternalError", "InternalErrorException"),
    ("NotFound", "NotFoundException"),
    ("EndpointDisabled", "EndpointDisabledException"),
    ("PlatformApplicationDisabled", "PlatformApplicationDisabledException"),
    ("AuthorizationError", "AuthorizationErrorException"),
    ("KMSDisabled", "KMSDisabledException"),
    ("KMSInvalidState", "KMSInvalidStateException"),
    ("KMSNotFound", "KMSNotFoundException"),
    ("KMSOptInRequired", "KMSOptInRequiredException"),
    ("KMSThrottling", "KMSThrottlingException"),
    ("KMSAccessDenied", "KMSAccessDeniedException"),
    ("InvalidSecurity", "InvalidSecurityException"),
    ("ValidationException", "ValidationException"),
    ("Throttled", "ThrottledException"),
];

/// The item operations' modelled errors.
const DYNAMODB_EXCEPTIONS: &[(&str, &str)] = &[
    ("ConditionalCheckFailedException", "ConditionalCheckFailedException"),
    ("InternalServerError", "InternalServerErrorException"),
    ("InvalidEndpointException", "InvalidEndpointException"),
    ("ItemCollectionSizeLimitExceededException", "ItemCollectionSizeLimitExceededException"),
    ("ProvisionedThroughputExceededException", "ProvisionedThroughputExceededException"),
    ("ReplicatedWriteConflictException", "ReplicatedWriteConflictException"),
    ("RequestLimitExceeded", "RequestLimitExceededException"),
    ("ResourceNotFoundException", "ResourceNotFoundException"),
    ("TransactionConflictException", "TransactionConflictException"),
];

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
                names.error_name(se.err().code()),
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
                names.service, names.max_answer_bytes
            ),
        ),
        other => (format!("{}.SdkClientException", names.prefix), client_cause(other)),
    }
}

/// The cause of a call that got no service answer, worded as AWS's Java SDK
/// words it (`Unable to execute HTTP request: …`), then the error's chain of
/// messages: no Rust debug dump of the error's structure.
fn client_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = String::from("Unable to execute HTTP request");
    let mut last = String::new();
    let mut next = Some(e);
    while let Some(e) = next {
        let message = e.to_string();
        if !message.is_empty() && message != last && !last.contains(&message) {
            out.push_str(": ");
            out.push_str(&message);
        }
        last = message;
        next = e.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_named_after_the_exception_aws_raises_for_their_code() {
        // Recorded on AWS (a DynamoDB table name it refuses).
        assert_eq!(DYNAMODB.error_name(Some("ValidationException")), "DynamoDB.AmazonDynamoDBException");
        assert_eq!(DYNAMODB.error_name(Some("ResourceNotFoundException")), "DynamoDB.ResourceNotFoundException");
        assert_eq!(DYNAMODB.error_name(Some("InternalServerError")), "DynamoDB.InternalServerErrorException");
        assert_eq!(SQS.error_name(Some("AWS.SimpleQueueService.NonExistentQueue")), "SQS.QueueDoesNotExistException");
        assert_eq!(SQS.error_name(Some("QueueDoesNotExist")), "SQS.QueueDoesNotExistException");
        assert_eq!(SQS.error_name(Some("MissingParameter")), "SQS.AmazonSQSException");
        assert_eq!(SNS.error_name(Some("NotFound")), "SNS.NotFoundException");
        assert_eq!(SNS.error_name(Some("InvalidParameter")), "SNS.InvalidParameterException");
        assert_eq!(LAMBDA.error_name(Some("ResourceNotFoundException")), "Lambda.ResourceNotFoundException");
        assert_eq!(LAMBDA.error_name(None), "Lambda.AWSLambdaException");
        assert_eq!(LAMBDA.error_name(Some("AccessDeniedException")), "Lambda.AWSLambdaException");
        assert_eq!(SQS.error_name(Some("KMS.ThrottlingException")), "SQS.KmsThrottledException");
    }

    #[test]
    fn a_call_without_an_answer_says_why_in_words() {
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "Connection refused (os error 111)");
        let e: SdkError<aws_sdk_lambda::operation::invoke::InvokeError, HttpResponse> =
            SdkError::dispatch_failure(aws_sdk_lambda::error::ConnectorError::io(Box::new(refused)));
        let (error, cause) = describe(LAMBDA, &e);
        assert_eq!(error, "Lambda.SdkClientException");
        assert!(cause.starts_with("Unable to execute HTTP request: "), "{cause}");
        assert!(cause.ends_with("Connection refused (os error 111)"), "{cause}");
        assert!(!cause.contains("DispatchFailure") && !cause.contains('{'), "{cause}");
    }
}
