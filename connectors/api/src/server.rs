//! The API's HTTP server: `POST /` with `X-Amz-Target`, bodies read up to a
//! limit and a deadline, served within the bounds of
//! [`expressway_connectors::http_server`] (connections, head size, idle
//! time) on a tokio runtime of its own. Each request is counted by operation
//! and outcome (`expressway_api_requests_total`) and timed
//! (`expressway_api_request_duration_seconds`).

use crate::body::BodyError;
use crate::wire::{ApiError, ErrorKind};
use crate::{Api, OPERATIONS, auth};
use bytes::Bytes;
use expressway_config::api::ApiConfig;
use expressway_connectors::http_server::{Limits, serve_bounded};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::Value;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A request body may hold a 1 MiB definition, escaped: AWS's own request
/// limit is in this range.
pub const MAX_BODY_BYTES: usize = 2 << 20;
/// Time to receive a request's body once its head arrived.
const BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// A connection's whole life; a StartSyncExecution may take five minutes.
const CONNECTION_DEADLINE: Duration = Duration::from_secs(3600);

pub const REQUESTS: &str = "expressway_api_requests_total";
pub const DURATION: &str = "expressway_api_request_duration_seconds";

pub fn describe_metrics() {
    metrics::describe_counter!(REQUESTS, "Step Functions API requests, by operation and outcome (ok or the error)");
    metrics::describe_histogram!(DURATION, metrics::Unit::Seconds, "Step Functions API request latency, by operation");
}

/// Bind `config.address` now (a taken port fails at start) and serve on
/// `workers` threads (and one kept free of executions) of a runtime of the API's own.
pub fn serve(api: Arc<Api>, config: &ApiConfig, workers: usize) -> std::io::Result<std::net::SocketAddr> {
    let listener = std::net::TcpListener::bind(&config.address)?;
    listener.set_nonblocking(true)?;
    let local = listener.local_addr()?;
    // One thread more than may run executions inline: control-plane calls
    // are answered while every other thread runs one.
    api.allow_inline(workers.max(1));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers.max(1) + 1)
        .thread_name("api-http")
        .enable_all()
        .build()?;
    let limits = Limits {
        max_connections: config.max_connections,
        max_head_bytes: 16 * 1024,
        header_read_timeout: config.idle_timeout,
        connection_deadline: CONNECTION_DEADLINE,
        keep_alive: true,
    };
    let credentials = config.credentials.clone();
    std::thread::Builder::new().name("api".into()).spawn(move || {
        runtime.block_on(async move {
            let listener = match tokio::net::TcpListener::from_std(listener) {
                Ok(l) => l,
                Err(e) => return tracing::error!(error = %e, "serving the Step Functions API"),
            };
            let credentials = Arc::new(credentials);
            let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                let (api, credentials) = (api.clone(), credentials.clone());
                async move { Ok::<_, Infallible>(handle(&api, credentials.as_ref().as_ref(), request).await) }
            });
            serve_bounded(listener, limits, service).await;
        })
    })?;
    Ok(local)
}

async fn handle(
    api: &Arc<Api>,
    credentials: Option<&expressway_config::api::ApiCredentials>,
    request: Request<Incoming>,
) -> Response<Full<Bytes>> {
    if let Some(console) = api.console() {
        let path = request.uri().path();
        if path == "/console" || path.starts_with("/console/") {
            return crate::console::handle(api, console, request).await;
        }
    }
    let began = Instant::now();
    let target = request
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.strip_prefix("AWSStepFunctions."))
        .unwrap_or("")
        .to_string();
    let operation = OPERATIONS.iter().find(|o| **o == target).copied().unwrap_or("unknown");
    let result = answer(api, credentials, request, &target).await;
    let outcome = match &result {
        Ok(_) => "ok",
        Err(e) => e.kind.as_str(),
    };
    metrics::counter!(REQUESTS, "operation" => operation, "outcome" => outcome).increment(1);
    metrics::histogram!(DURATION, "operation" => operation).record(began.elapsed().as_secs_f64());
    match result {
        Ok(body) => json_response(StatusCode::OK, body),
        Err(e) => {
            let status = StatusCode::from_u16(e.kind.status()).unwrap_or(StatusCode::BAD_REQUEST);
            let mut response = json_response(status, e.body().to_string().into_bytes());
            if let Ok(v) = HeaderValue::from_str(e.kind.as_str()) {
                response.headers_mut().insert("x-amzn-errortype", v);
            }
            response
        }
    }
}

async fn answer(
    api: &Arc<Api>,
    credentials: Option<&expressway_config::api::ApiCredentials>,
    request: Request<Incoming>,
    target: &str,
) -> Result<Vec<u8>, ApiError> {
    if request.method() != Method::POST {
        return Err(ApiError::new(
            ErrorKind::UnknownOperationException,
            "The Step Functions API takes POST requests on /",
        ));
    }
    // Without credentials every caller is trusted, which only a loopback
    // address allows; but a page of another site whose name re-resolves to
    // 127.0.0.1 (DNS rebinding) is loopback to the browser running it.
    // Browsers send `Origin` with every POST, SDKs and CLIs never: such a
    // request is refused, unread.
    if credentials.is_none() && request.headers().contains_key("origin") {
        return Err(ApiError::new(
            ErrorKind::MissingAuthenticationToken,
            "A request from a web page (it carries an Origin) is answered only with api.credentials set",
        ));
    }
    let (parts, body) = request.into_parts();
    // A client that cannot sign for the configured key is refused before
    // the server holds any of its body.
    if let Some(c) = credentials {
        auth::check_head(c, &parts.headers)?;
    }
    let body = match crate::body::read(body, MAX_BODY_BYTES, BODY_TIMEOUT).await {
        Ok(body) => body,
        Err(BodyError::Late) => {
            return Err(ApiError::new(ErrorKind::ValidationException, "The request body did not arrive in time"));
        }
        Err(BodyError::TooLarge) => {
            return Err(ApiError::new(
                ErrorKind::RequestEntityTooLarge,
                format!("Request body is larger than {MAX_BODY_BYTES} bytes"),
            ));
        }
        Err(BodyError::Busy) => {
            return Err(ApiError::new(
                ErrorKind::ThrottlingException,
                "Rate exceeded: the request bodies being read hold the server's budget; retry later",
            ));
        }
        Err(BodyError::Broken(e)) => {
            return Err(ApiError::new(ErrorKind::SerializationException, format!("reading the request body: {e}")));
        }
    };
    if let Some(c) = credentials {
        let uri = format!(
            "http://{}{}",
            parts.headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("localhost"),
            parts.uri
        );
        auth::check(c, parts.method.as_str(), &uri, &parts.headers, &body)?;
    }
    if target.is_empty() {
        return Err(ApiError::new(
            ErrorKind::UnknownOperationException,
            "The request names no operation (X-Amz-Target: AWSStepFunctions.<Operation>)",
        ));
    }
    let fields = if body.iter().all(u8::is_ascii_whitespace) {
        serde_json::Map::new()
    } else {
        match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(m)) => m,
            Ok(_) => {
                return Err(ApiError::new(ErrorKind::SerializationException, "The request body must be a JSON object"));
            }
            Err(e) => {
                return Err(ApiError::new(
                    ErrorKind::SerializationException,
                    format!("The request body is not valid JSON: {e}"),
                ));
            }
        }
    };
    // The body's share of the budget is given back before the answer,
    // which a StartSyncExecution may take five minutes to make.
    drop(body);
    api.respond(target, &fields).await
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/x-amz-json-1.0"));
    response
}
