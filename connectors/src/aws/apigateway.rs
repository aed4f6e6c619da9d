//! `arn:aws:states:::apigateway:invoke`: a call to an API Gateway endpoint
//! as Step Functions makes it (developer guide, "Create API Gateway REST
//! APIs with Step Functions"). It has no `aws-sdk` equivalent: the request
//! goes to `https://<ApiEndpoint>/<Stage>/<Path>` directly.
//! - **Parameters:** `ApiEndpoint` and `Method` (required), `Stage`,
//!   `Path`, `QueryParameters` and `Headers` (each name to a list of
//!   strings), `RequestBody` (a JSON value sent as its text, or a string
//!   sent as is; nulls in it dropped unless `AllowNullValues` is true),
//!   `AuthType`: `NO_AUTH` (the default), or `IAM_ROLE` and
//!   `RESOURCE_POLICY`, both SigV4-signed for `execute-api` in the
//!   endpoint's region.
//! - **Result:** `{Headers, ResponseBody, StatusCode, StatusText}`, the
//!   body parsed when it is JSON; a status of 400 or more fails the task
//!   as `ApiGateway.<status>` with that result as the cause.
//! - Beyond AWS, for emulators and tests: an `ApiEndpoint` with a scheme
//!   (`http://127.0.0.1:9000`) is used as the base URL as written.
//!
//! The transport is the `aws-sdk` client's: its timeout, answer budget and
//! credentials.

use expressway_aws_sdk::AwsSdkClient;
use expressway_aws_sdk::client::{Sent, Signing};
use expressway_aws_sdk::request::WireRequest;
use expressway_aws_sdk::response::WireResponse;
use expressway_engine::{TaskOutcome, Value};
use serde_json::{Map, Value as Json, json};

fn runtime_failure(cause: String) -> TaskOutcome {
    TaskOutcome::Failed { error: "States.Runtime".into(), cause: Some(cause) }
}

/// The request an `apigateway:invoke` task's parameters describe: its URL
/// and whether (and for which region) it is signed.
pub fn request(params: &Json, default_region: &str) -> Result<(String, WireRequest, Option<Signing>), String> {
    let text = |field: &str| params.get(field).and_then(Json::as_str);
    let endpoint = text("ApiEndpoint").ok_or("the parameters must contain a string 'ApiEndpoint'")?;
    let method = text("Method").ok_or("the parameters must contain a string 'Method'")?.to_ascii_uppercase();
    let base = if endpoint.contains("://") {
        endpoint.trim_end_matches('/').to_string()
    } else {
        format!("https://{}", endpoint.trim_end_matches('/'))
    };
    let mut url = url::Url::parse(&base).map_err(|e| format!("ApiEndpoint '{endpoint}' is not a host name: {e}"))?;
    {
        let mut segments = url.path_segments_mut().map_err(|_| format!("ApiEndpoint '{endpoint}' has no path"))?;
        segments.pop_if_empty();
        let path = [text("Stage").unwrap_or_default(), text("Path").unwrap_or_default()];
        segments.extend(path.iter().flat_map(|p| p.split('/')).filter(|s| !s.is_empty()));
    }
    let lists = |field: &str| -> Result<Vec<(String, String)>, String> {
        let Some(v) = params.get(field) else { return Ok(Vec::new()) };
        let Json::Object(entries) = v else { return Err(format!("{field} must be an object of string lists")) };
        let mut out = Vec::new();
        for (name, values) in entries {
            let Json::Array(values) = values else {
                return Err(format!("{field}.{name} must be a list of strings"));
            };
            for v in values {
                out.push((name.clone(), v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())));
            }
        }
        Ok(out)
    };
    let query = lists("QueryParameters")?;
    if !query.is_empty() {
        url.query_pairs_mut().extend_pairs(query);
    }
    let mut wire = WireRequest { method, ..Default::default() };
    for (name, value) in lists("Headers")? {
        wire.headers.push((name.to_ascii_lowercase(), value));
    }
    let allow_nulls = params.get("AllowNullValues").and_then(Json::as_bool).unwrap_or(false);
    match params.get("RequestBody") {
        None | Some(Json::Null) => {}
        Some(Json::String(s)) => wire.body = s.clone().into_bytes(),
        Some(body) => {
            let body = if allow_nulls { body.clone() } else { without_nulls(body, 0) };
            wire.body = body.to_string().into_bytes();
            if !wire.headers.iter().any(|(k, _)| k == "content-type") {
                wire.headers.push(("content-type".into(), "application/json".into()));
            }
        }
    }
    let signing = match text("AuthType").unwrap_or("NO_AUTH") {
        "NO_AUTH" => None,
        "IAM_ROLE" | "RESOURCE_POLICY" => {
            // `<id>.execute-api.<region>.amazonaws.com` names its region.
            let host = url.host_str().unwrap_or_default();
            let region = host.split('.').skip_while(|p| *p != "execute-api").nth(1).unwrap_or(default_region);
            Some(Signing { name: "execute-api".into(), region: region.to_string() })
        }
        other => return Err(format!("AuthType '{other}' is not one of NO_AUTH, IAM_ROLE, RESOURCE_POLICY")),
    };
    Ok((url.to_string(), wire, signing))
}

/// `value` with object members that are null dropped, at any depth.
fn without_nulls(value: &Json, depth: usize) -> Json {
    if depth > expressway_aws_sdk::values::MAX_DEPTH {
        return value.clone();
    }
    match value {
        Json::Object(m) => Json::Object(
            m.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), without_nulls(v, depth + 1))).collect(),
        ),
        Json::Array(items) => Json::Array(items.iter().map(|v| without_nulls(v, depth + 1)).collect()),
        other => other.clone(),
    }
}

/// The task's result (or failure) of the endpoint's answer.
pub fn result(answer: &WireResponse) -> TaskOutcome {
    let mut headers: Map<String, Json> = Map::new();
    for (name, value) in &answer.headers {
        if let Some(list) = headers.entry(name.clone()).or_insert_with(|| json!([])).as_array_mut() {
            list.push(json!(value));
        }
    }
    let text = String::from_utf8_lossy(&answer.body);
    let body = serde_json::from_str::<Json>(&text).unwrap_or_else(|_| Json::String(text.into_owned()));
    let reason = hyper::StatusCode::from_u16(answer.status).ok().and_then(|s| s.canonical_reason()).unwrap_or("");
    let out = json!({
        "Headers": headers,
        "ResponseBody": body,
        "StatusCode": answer.status,
        "StatusText": reason,
    });
    if answer.status >= 400 {
        return TaskOutcome::Failed { error: format!("ApiGateway.{}", answer.status), cause: Some(out.to_string()) };
    }
    TaskOutcome::Succeeded(Value::from(out))
}

pub async fn invoke(client: Option<&AwsSdkClient>, region: &str, params: &Value) -> TaskOutcome {
    let Some(client) = client else {
        return runtime_failure("the AWS SDK client could not be built (see the log)".into());
    };
    let (url, wire, signing) = match request(&Json::from(params), region) {
        Ok(r) => r,
        Err(cause) => return runtime_failure(format!("arn:aws:states:::apigateway:invoke: {cause}")),
    };
    let budget = expressway_aws_sdk::client::MAX_RESPONSE_BYTES;
    match client.send_to(&url, wire, signing, budget).await {
        Ok(answer) => result(&answer),
        Err(Sent::TooLarge(_)) => TaskOutcome::Failed {
            error: "States.DataLimitExceeded".into(),
            cause: Some(format!("The answer of {url} exceeds the {budget}-byte budget for one service answer")),
        },
        Err(Sent::NoAnswer(cause)) => {
            TaskOutcome::Failed { error: "ApiGateway.SdkClientException".into(), cause: Some(cause) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parameters_make_the_url_headers_body_and_signing() {
        let params = json!({
            "ApiEndpoint": "abc123.execute-api.eu-west-1.amazonaws.com", "Method": "post", "Stage": "prod",
            "Path": "/pets/a b", "QueryParameters": {"q": ["1", "2"]}, "Headers": {"X-Trace": ["t"]},
            "RequestBody": {"name": "rex", "age": null}, "AuthType": "IAM_ROLE"
        });
        let (url, wire, signing) = request(&params, "us-east-1").expect("request");
        assert_eq!(url, "https://abc123.execute-api.eu-west-1.amazonaws.com/prod/pets/a%20b?q=1&q=2");
        assert_eq!(wire.method, "POST");
        assert_eq!(wire.body, br#"{"name":"rex"}"#);
        assert!(wire.headers.contains(&("x-trace".into(), "t".into())));
        let signing = signing.expect("signed");
        assert_eq!((signing.name.as_str(), signing.region.as_str()), ("execute-api", "eu-west-1"));
        let (_, wire, signing) = request(
            &json!({"ApiEndpoint": "h", "Method": "GET", "RequestBody": {"a": null}, "AllowNullValues": true}),
            "r",
        )
        .expect("request");
        assert_eq!(wire.body, br#"{"a":null}"#);
        assert!(signing.is_none());
        let e = request(&json!({"ApiEndpoint": "h", "Method": "GET", "AuthType": "COGNITO"}), "r").unwrap_err();
        assert!(e.contains("COGNITO"), "{e}");
    }

    #[test]
    fn errors_are_api_gateway_status_with_the_answer_as_cause() {
        let answer = WireResponse { status: 404, headers: vec![], body: br#"{"message":"nope"}"#.to_vec() };
        let TaskOutcome::Failed { error, cause } = result(&answer) else { panic!("a 404 fails") };
        assert_eq!(error, "ApiGateway.404");
        let cause: Json = serde_json::from_str(&cause.expect("cause")).expect("json");
        assert_eq!(cause["ResponseBody"], json!({"message": "nope"}));
        assert_eq!(cause["StatusText"], json!("Not Found"));
    }
}
