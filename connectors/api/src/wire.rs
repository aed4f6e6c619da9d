//! The AWS JSON 1.0 protocol as Step Functions speaks it: `POST /` with
//! `X-Amz-Target: AWSStepFunctions.<Operation>`, a JSON object in and out,
//! and errors as `{"__type": "…#<Name>", "message": …}` with status 400, which
//! every SDK turns into its exception of that name.

use serde_json::{Map, Value, json};

/// Step Functions' error shapes (the `__type` after `#`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    InvalidDefinition,
    InvalidArn,
    InvalidName,
    InvalidExecutionInput,
    InvalidToken,
    InvalidLoggingConfiguration,
    StateMachineDoesNotExist,
    StateMachineAlreadyExists,
    StateMachineTypeNotSupported,
    ExecutionDoesNotExist,
    ExecutionAlreadyExists,
    ExecutionLimitExceeded,
    ThrottlingException,
    ResourceNotFound,
    ConflictException,
    ServiceQuotaExceededException,
    TooManyTags,
    ValidationException,
    UnknownOperationException,
    SerializationException,
    MissingAuthenticationToken,
    UnrecognizedClientException,
    InvalidSignatureException,
    RequestEntityTooLarge,
    InternalFailure,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        use ErrorKind::*;
        match self {
            InvalidDefinition => "InvalidDefinition",
            InvalidArn => "InvalidArn",
            InvalidName => "InvalidName",
            InvalidExecutionInput => "InvalidExecutionInput",
            InvalidToken => "InvalidToken",
            InvalidLoggingConfiguration => "InvalidLoggingConfiguration",
            StateMachineDoesNotExist => "StateMachineDoesNotExist",
            StateMachineAlreadyExists => "StateMachineAlreadyExists",
            StateMachineTypeNotSupported => "StateMachineTypeNotSupported",
            ExecutionDoesNotExist => "ExecutionDoesNotExist",
            ExecutionAlreadyExists => "ExecutionAlreadyExists",
            ExecutionLimitExceeded => "ExecutionLimitExceeded",
            ThrottlingException => "ThrottlingException",
            ResourceNotFound => "ResourceNotFound",
            ConflictException => "ConflictException",
            ServiceQuotaExceededException => "ServiceQuotaExceededException",
            TooManyTags => "TooManyTags",
            ValidationException => "ValidationException",
            UnknownOperationException => "UnknownOperationException",
            SerializationException => "SerializationException",
            MissingAuthenticationToken => "MissingAuthenticationTokenException",
            UnrecognizedClientException => "UnrecognizedClientException",
            InvalidSignatureException => "InvalidSignatureException",
            RequestEntityTooLarge => "RequestEntityTooLargeException",
            InternalFailure => "InternalFailure",
        }
    }

    /// The HTTP status AWS answers the error with.
    pub fn status(self) -> u16 {
        use ErrorKind::*;
        match self {
            MissingAuthenticationToken | UnrecognizedClientException | InvalidSignatureException => 403,
            RequestEntityTooLarge => 413,
            InternalFailure => 500,
            _ => 400,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub kind: ErrorKind,
    pub message: String,
}

impl ApiError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> ApiError {
        ApiError { kind, message: message.into() }
    }

    /// AWS's wording for a request field that breaks its constraint.
    pub fn validation(field: &str, value: &str, constraint: &str) -> ApiError {
        ApiError::new(
            ErrorKind::ValidationException,
            format!(
                "1 validation error detected: Value {value} at '{field}' failed to satisfy constraint: {constraint}"
            ),
        )
    }

    /// An ARN of the wrong kind for the field (an alias where a version is
    /// expected, an execution where a state machine is).
    pub fn invalid_arn(arn: &str) -> ApiError {
        ApiError::new(ErrorKind::InvalidArn, format!("Invalid Arn: 'Resource type not valid in this context: {arn}'"))
    }

    pub fn resource_not_found(arn: &str) -> ApiError {
        ApiError::new(ErrorKind::ResourceNotFound, format!("Resource not found: '{arn}'"))
    }

    /// A text field longer than AWS allows.
    pub fn too_long(field: &str, max: usize) -> ApiError {
        ApiError::validation(field, "'<sensitive>'", &format!("Member must have length less than or equal to {max}"))
    }

    pub fn missing(field: &str) -> ApiError {
        ApiError::validation(field, "null", "Member must not be null")
    }

    pub fn body(&self) -> Value {
        json!({
            "__type": format!("com.amazonaws.swf.service.v2.model#{}", self.kind.as_str()),
            "message": self.message,
        })
    }
}

pub type Reply = Result<Value, ApiError>;

/// A request's fields, read with AWS's errors for missing or mistyped ones.
pub struct Fields<'a>(pub &'a Map<String, Value>);

impl<'a> Fields<'a> {
    pub fn opt_str(&self, name: &str) -> Result<Option<&'a str>, ApiError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            // AWS's model bounds every ARN member (a 100 KB ARN had been
            // looked up and echoed back in StateMachineDoesNotExist).
            Some(Value::String(s)) if s.len() > arn_max(name) && s.chars().count() > arn_max(name) => {
                Err(ApiError::too_long(name, arn_max(name)))
            }
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(ApiError::new(
                ErrorKind::SerializationException,
                format!("Start of structure or map found where not expected ({name} must be a string)"),
            )),
        }
    }

    /// A text field of at most `max` characters, as AWS's model bounds it.
    pub fn opt_str_max(&self, name: &str, max: usize) -> Result<Option<&'a str>, ApiError> {
        let v = self.opt_str(name)?;
        if v.is_some_and(|v| v.chars().count() > max) {
            return Err(ApiError::too_long(name, max));
        }
        Ok(v)
    }

    pub fn str(&self, name: &str) -> Result<&'a str, ApiError> {
        self.opt_str(name)?.ok_or_else(|| ApiError::missing(name))
    }

    pub fn opt_bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(ApiError::new(ErrorKind::SerializationException, format!("{name} must be a boolean"))),
        }
    }

    /// `maxResults`: 0 means the default; AWS allows up to 1000.
    pub fn max_results(&self, default: usize) -> Result<usize, ApiError> {
        match self.0.get("maxResults") {
            None | Some(Value::Null) => Ok(default),
            Some(Value::Number(n)) => match (n.as_u64(), n.as_i64()) {
                (Some(0), _) => Ok(default),
                (Some(n @ 1..=1000), _) => Ok(n as usize),
                (None, Some(_)) => Err(ApiError::validation(
                    "maxResults",
                    &n.to_string(),
                    "Member must have value greater than or equal to 0",
                )),
                (Some(_), _) => Err(ApiError::validation(
                    "maxResults",
                    &n.to_string(),
                    "Member must have value less than or equal to 1000",
                )),
                // A fraction, or past any integer: not the model's type.
                (None, None) => Err(ApiError::new(ErrorKind::SerializationException, "maxResults must be an integer")),
            },
            Some(_) => Err(ApiError::new(ErrorKind::SerializationException, "maxResults must be a number")),
        }
    }

    pub fn get(&self, name: &str) -> Option<&'a Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }
}

/// Epoch seconds with milliseconds, as Step Functions' timestamps.
pub fn timestamp(ms: i64) -> Value {
    json!(ms as f64 / 1000.0)
}

/// The longest an ARN member may be in AWS's model: 2,000 characters for a
/// Map Run's, 256 for every other (`stateMachineArn`, `executionArn`,
/// `roleArn`, ...); no bound for a member that is not an ARN.
fn arn_max(field: &str) -> usize {
    match field {
        "mapRunArn" => 2000,
        f if f.ends_with("Arn") => 256,
        _ => usize::MAX,
    }
}

/// A List operation's answer: `{key: [page], nextToken?}`, the page read
/// from the request's `nextToken` and `maxResults` (default 100).
pub fn paged(key: &str, all: &[Value], f: &Fields) -> Reply {
    let (items, next) = page(all, f.opt_str("nextToken")?, f.max_results(100)?)?;
    let mut out = Map::new();
    out.insert(key.to_string(), Value::Array(items));
    if let Some(t) = next {
        out.insert("nextToken".into(), json!(t));
    }
    Ok(Value::Object(out))
}

/// A page of `items` after `token` (an offset we handed out), and the next token.
pub fn page<T: Clone>(items: &[T], token: Option<&str>, max: usize) -> Result<(Vec<T>, Option<String>), ApiError> {
    let start = match token {
        None => 0,
        // Only a token exactly as we write it: `offset:+1` or `offset:01`
        // name an offset too, but no page ever handed them out.
        Some(t) => offset_of(t)
            .filter(|n| *n <= items.len() && token_for(*n) == t)
            .ok_or_else(|| ApiError::new(ErrorKind::InvalidToken, format!("Invalid Token: '{t}'")))?,
    };
    let end = start.saturating_add(max).min(items.len());
    let next = (end < items.len()).then(|| token_for(end));
    Ok((items[start..end].to_vec(), next))
}

fn token_for(offset: usize) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("offset:{offset}"))
}

fn offset_of(token: &str) -> Option<usize> {
    use base64::Engine;
    let text = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(token).ok()?).ok()?;
    text.strip_prefix("offset:")?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A token is one a page handed out: the offsets it names past the list,
    /// and the same offsets written another way, are `InvalidToken`.
    #[test]
    fn only_tokens_a_page_handed_out_are_taken() {
        use base64::Engine;
        let items: Vec<u32> = (0..10).collect();
        let (first, next) = page(&items, None, 4).expect("first page");
        assert_eq!(first, [0, 1, 2, 3]);
        let next = next.expect("a next page");
        let (second, _) = page(&items, Some(&next), 4).expect("the handed-out token");
        assert_eq!(second, [4, 5, 6, 7]);
        let forged = |text: &str| base64::engine::general_purpose::STANDARD.encode(text);
        for bad in [forged("offset:+4"), forged("offset:04"), forged("offset:11"), forged("offset:-1"), "%%%".into()] {
            let refused = page(&items, Some(&bad), 4).expect_err("a forged token");
            assert_eq!(refused.kind.as_str(), "InvalidToken", "{bad}");
        }
        assert_eq!(page(&items, Some(&forged("offset:10")), 4).expect("the end").0, Vec::<u32>::new());
    }

    /// An ARN member past AWS's 256 characters is a ValidationException
    /// naming it, before anything is looked up.
    #[test]
    fn arn_members_keep_the_models_length() {
        let long = format!("arn:aws:states:us-east-1:123456789012:stateMachine:{}", "m".repeat(300));
        let body = json!({ "stateMachineArn": long, "input": "x".repeat(300) });
        let map = body.as_object().expect("an object").clone();
        let refused = Fields(&map).str("stateMachineArn").expect_err("too long");
        assert_eq!(refused.kind.as_str(), "ValidationException");
        assert!(
            refused.message.contains("'stateMachineArn'") && refused.message.contains("256"),
            "{}",
            refused.message
        );
        assert!(Fields(&map).str("input").is_ok(), "not an ARN");
    }

    /// `maxResults` is an integer from 0 to 1000 in AWS's model: each bound
    /// broken is named as AWS names it, a fraction is not the model's type.
    #[test]
    fn max_results_keeps_the_models_bounds() {
        let ask = |v: Value| {
            let body = json!({ "maxResults": v });
            let map = body.as_object().expect("an object").clone();
            Fields(&map).max_results(100)
        };
        assert_eq!(ask(json!(0)).ok(), Some(100), "0 is the default");
        assert_eq!(ask(json!(1000)).ok(), Some(1000));
        let message = |v: Value| ask(v).expect_err("refused").message;
        assert_eq!(
            message(json!(-5)),
            "1 validation error detected: Value -5 at 'maxResults' failed to satisfy constraint: Member must have value greater than or equal to 0"
        );
        assert_eq!(
            message(json!(1001)),
            "1 validation error detected: Value 1001 at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 1000"
        );
        assert_eq!(ask(json!(1.5)).expect_err("refused").kind, ErrorKind::SerializationException);
    }
}
