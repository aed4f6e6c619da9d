//! A bound on what an AWS service may answer: the SDK clients read a
//! response body whole before they parse it, so an endpoint that sends an
//! endless body (a proxy gone wrong, a hostile endpoint in `aws.endpoints`)
//! grew the process by gigabytes until the task timed out, and on after it.

use aws_sdk_lambda::config::interceptors::BeforeDeserializationInterceptorContextMut;
use aws_sdk_lambda::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_lambda::error::BoxError;
use aws_sdk_lambda::primitives::SdkBody;

/// The most a Lambda answer may hold: Lambda's limit on a synchronous
/// response (6 MB), with room to spare.
pub const MAX_LAMBDA_RESPONSE_BYTES: usize = 7 * 1024 * 1024;
/// The most any other service's answer may hold: DynamoDB's BatchGetItem
/// (the dedup store's) answers up to 16 MB, SQS's ReceiveMessage 10
/// messages of up to 1 MiB.
pub const MAX_RESPONSE_BYTES: usize = 17 * 1024 * 1024;

/// The bound on the answers of the service whose errors are prefixed `prefix`.
pub fn max_response_bytes(prefix: &str) -> usize {
    if prefix == "Lambda" { MAX_LAMBDA_RESPONSE_BYTES } else { MAX_RESPONSE_BYTES }
}

/// Cuts every response body at its bound (bytes): reading past it fails the
/// call ([`is_too_large`]), having held at most that much.
#[derive(Debug)]
pub struct BoundedResponses(pub usize);

impl Intercept for BoundedResponses {
    fn name(&self) -> &'static str {
        "BoundedResponses"
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let body = context.response_mut().body_mut();
        let whole = std::mem::replace(body, SdkBody::taken());
        *body = SdkBody::from_body_1_x(http_body_util::Limited::new(whole, self.0));
        Ok(())
    }
}

/// Whether `e` (or an error it wraps) is a response cut at the bound.
pub fn is_too_large(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(e) = next {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        next = e.source();
    }
    false
}
