//! `arn:aws:states:::http:invoke`: `ApiEndpoint`, `Method`, `Headers`,
//! `QueryParameters`, `RequestBody` (JSON, or form-encoded with
//! `Transform.RequestBodyEncoding: URL_ENCODED`). The result is AWS's
//! `{Headers, ResponseBody, StatusCode, StatusText}`; a status of 400 or
//! more raises `States.Http.StatusCode.<code>` with that result as the cause,
//! a connection failure or timeout `States.Http.Socket`, a response body over
//! 256 KiB `States.DataLimitExceeded` (read no further). Only endpoints an
//! `http.allowed_endpoints` entry allows are called (`States.Permissions`
//! otherwise); methods and headers AWS refuses fail with `States.Runtime`
//! ([`super::http_rules`]). Redirects are answers, never followed.
//! EventBridge connections (`Authentication.ConnectionArn`) do not exist
//! here: credentials go in `Headers`.

use super::http_rules::{METHODS, header_is_refused, parse_endpoint};
use bytes::Bytes;
use expressway_config::AllowedEndpoint;
use expressway_engine::{TaskOutcome, Value};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use serde_json::{Map, Value as Json, json};
use std::time::Duration;

use expressway_aws_sdk::client::Https;

/// The most response body a task reads: AWS's payload limit.
pub const MAX_RESPONSE_BODY_BYTES: usize = 256 * 1024;

pub struct HttpInvoker {
    client: Client<Https, Full<Bytes>>,
    /// Entries an endpoint must match; `None` allows any (`exec --aws`).
    allowed: Option<Vec<AllowedEndpoint>>,
    timeout: Duration,
}

fn fail(error: &str, cause: String) -> TaskOutcome {
    TaskOutcome::Failed { error: error.into(), cause: Some(cause) }
}

impl HttpInvoker {
    /// `allowed` holds `http.allowed_endpoints` entries, already checked by
    /// the configuration's problems; one that does not parse is an error.
    pub fn new(allowed: Option<Vec<String>>, timeout: Duration) -> Result<HttpInvoker, String> {
        let allowed = match allowed {
            None => None,
            Some(entries) => Some(
                entries
                    .iter()
                    .map(|e| AllowedEndpoint::parse(e).map_err(|m| format!("http.allowed_endpoints: {m}")))
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        };
        // The client follows no redirects: a 3xx is the task's result.
        let client = expressway_aws_sdk::client::https_client()?;
        Ok(HttpInvoker { client, allowed, timeout })
    }

    pub async fn invoke(&self, params: &Value) -> TaskOutcome {
        let params = Json::from(params);
        let text = |k: &str| params.get(k).and_then(Json::as_str);
        let (Some(endpoint), Some(method)) = (text("ApiEndpoint"), text("Method")) else {
            return fail("States.Runtime", "The http:invoke parameters must contain 'ApiEndpoint' and 'Method'".into());
        };
        let method = method.to_ascii_uppercase();
        if !METHODS.contains(&method.as_str()) {
            return fail(
                "States.Runtime",
                format!("Method '{method}' is not supported by HTTP tasks; use one of {}", METHODS.join(", ")),
            );
        }
        let mut url = match parse_endpoint(endpoint) {
            Ok(url) => url,
            Err(cause) => return fail("States.Runtime", cause),
        };
        if let Some(allowed) = &self.allowed
            && !allowed.iter().any(|entry| entry.allows(&url))
        {
            return fail(
                "States.Permissions",
                format!("ApiEndpoint '{endpoint}' is not allowed by any of the configured http.allowed_endpoints"),
            );
        }
        if let Some(query) = params.get("QueryParameters").and_then(Json::as_object) {
            let encoded = form_encode(query);
            if !encoded.is_empty() {
                let joined = match url.query() {
                    Some(existing) if !existing.is_empty() => format!("{existing}&{encoded}"),
                    _ => encoded,
                };
                url.set_query(Some(&joined));
            }
        }
        let url_encoded =
            params.pointer("/Transform/RequestBodyEncoding").and_then(Json::as_str) == Some("URL_ENCODED");
        let (body, content_type) = match params.get("RequestBody") {
            None => (Vec::new(), None),
            Some(Json::String(s)) => (s.clone().into_bytes(), None),
            Some(Json::Object(o)) if url_encoded => {
                (form_encode(o).into_bytes(), Some("application/x-www-form-urlencoded"))
            }
            Some(other) => (other.to_string().into_bytes(), Some("application/json")),
        };
        let mut request = hyper::Request::builder().method(method.as_str()).uri(url.as_str());
        let mut has_content_type = false;
        if let Some(headers) = params.get("Headers").and_then(Json::as_object) {
            for (name, value) in headers {
                if header_is_refused(name) {
                    return fail("States.Runtime", format!("The header '{name}' is not allowed in an HTTP task"));
                }
                has_content_type |= name.eq_ignore_ascii_case("content-type");
                let value = value.as_str().map(str::to_string).unwrap_or_else(|| value.to_string());
                request = request.header(name.as_str(), value);
            }
        }
        if let (Some(ct), false) = (content_type, has_content_type) {
            request = request.header("content-type", ct);
        }
        let request = match request.body(Full::new(Bytes::from(body))) {
            Ok(r) => r,
            Err(e) => return fail("States.Runtime", format!("invalid HTTP request to '{url}': {e}")),
        };
        match tokio::time::timeout(self.timeout, self.exchange(request, &url)).await {
            Ok(outcome) => outcome,
            Err(_) => fail("States.Http.Socket", format!("calling '{url}': no answer within {:?}", self.timeout)),
        }
    }

    /// Send, then read at most [`MAX_RESPONSE_BODY_BYTES`] of the answer.
    async fn exchange(&self, request: hyper::Request<Full<Bytes>>, url: &url::Url) -> TaskOutcome {
        let response = match self.client.request(request).await {
            Ok(r) => r,
            Err(e) => return fail("States.Http.Socket", format!("calling '{url}': {e}")),
        };
        let status = response.status();
        let mut headers = Map::new();
        for (name, value) in response.headers() {
            let entry = headers.entry(name.as_str().to_string()).or_insert_with(|| json!([]));
            if let Some(list) = entry.as_array_mut() {
                list.push(json!(value.to_str().unwrap_or_default()));
            }
        }
        let too_large = || {
            fail(
                "States.DataLimitExceeded",
                format!("the response body of '{url}' is larger than {MAX_RESPONSE_BODY_BYTES} bytes"),
            )
        };
        let declared = response.headers().get(hyper::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok());
        if declared.and_then(|v| v.parse::<u64>().ok()).is_some_and(|n| n > MAX_RESPONSE_BODY_BYTES as u64) {
            return too_large();
        }
        let bytes = match Limited::new(response.into_body(), MAX_RESPONSE_BODY_BYTES).collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => return too_large(),
            Err(e) => return fail("States.Http.Socket", format!("reading the answer of '{url}': {e}")),
        };
        let body = serde_json::from_slice::<Json>(&bytes)
            .unwrap_or_else(|_| Json::String(String::from_utf8_lossy(&bytes).into_owned()));
        let result = json!({
            "Headers": headers,
            "ResponseBody": body,
            "StatusCode": status.as_u16(),
            "StatusText": status.canonical_reason().unwrap_or(""),
        });
        if status.as_u16() >= 400 {
            return fail(&format!("States.Http.StatusCode.{}", status.as_u16()), result.to_string());
        }
        TaskOutcome::Succeeded(Value::from(result))
    }
}

/// `a=1&b=x%20y`; arrays repeat their key.
fn form_encode(fields: &Map<String, Json>) -> String {
    let mut out = Vec::new();
    for (k, v) in fields {
        let items: Vec<&Json> = match v {
            Json::Array(a) => a.iter().collect(),
            other => vec![other],
        };
        for item in items {
            let text = item.as_str().map(str::to_string).unwrap_or_else(|| item.to_string());
            out.push(format!("{}={}", percent(k), percent(&text)));
        }
    }
    out.join("&")
}

fn percent(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_are_percent_encoded_and_arrays_repeat_their_key() {
        let v = json!({"q": "a b&c", "n": 3, "tag": ["x", "y"]});
        assert_eq!(form_encode(v.as_object().unwrap()), "q=a%20b%26c&n=3&tag=x&tag=y");
    }
}
