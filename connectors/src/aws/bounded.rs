//! A bound on what an AWS service may answer: the SDK clients read a
//! response body whole before they parse it, so an endpoint that sends an
//! endless body (a proxy gone wrong, a hostile endpoint in `aws.endpoints`)
//! grew the process by gigabytes until the task timed out, and on after it.

use aws_sdk_lambda::config::interceptors::{BeforeDeserializationInterceptorContextMut, InterceptorContext};
use aws_sdk_lambda::config::retry::{ClassifyRetry, RetryAction};
use aws_sdk_lambda::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_lambda::error::BoxError;
use aws_sdk_lambda::primitives::SdkBody;

/// Cuts every response body at its bound (bytes; a service's own in
/// [`super::errors::ServiceNames::max_answer_bytes`]): reading past it fails
/// the call ([`is_too_large`]), having held at most that much.
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

/// Forbids the SDK's retry of an answer cut at the bound: it would come
/// again as large, and a Lambda would run again for it.
#[derive(Debug)]
pub struct NoRetryPastTheBound;

impl ClassifyRetry for NoRetryPastTheBound {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        match ctx.output_or_error() {
            Some(Err(e)) if is_too_large(e) => RetryAction::RetryForbidden,
            _ => RetryAction::NoActionIndicated,
        }
    }

    fn name(&self) -> &'static str {
        "NoRetryPastTheBound"
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
