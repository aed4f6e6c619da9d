//! The web console, on the API's port under `/console/` when
//! `api.console.enabled`: one static page (HTML, JavaScript and CSS
//! embedded in the binary, nothing fetched from elsewhere) and the JSON it
//! polls — the pipelines with their counters, each machine's graph (the
//! `expressway graph` SVG, whose state boxes carry their node ids), the
//! per-state counts, the recent failures with their paths, and "try it"
//! (StartSyncExecution) when `allow_start` is set. Every request passes
//! [`guard`] first.

pub mod guard;
mod query;

use crate::Api;
use bytes::Bytes;
use expressway_engine::program::StateId;
use expressway_engine::vm::{Observer, StateEvent};
use expressway_runtime::watch::{FailedExecution, PipelineWatch};
use expressway_runtime::{Lag, Stats};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const INDEX_HTML: &str = include_str!("page/index.html");
const APP_JS: &str = include_str!("page/app.js");
const APP_CSS: &str = include_str!("page/app.css");

/// A "try it" request: the input editor's text and a machine name.
const MAX_START_BODY_BYTES: usize = 300 * 1024;
const BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// A pipeline as the console shows it.
pub struct WatchedPipeline {
    pub name: String,
    pub stats: Arc<Stats>,
    pub watch: Arc<PipelineWatch>,
    /// Graph node id of each compiled state (by state index).
    state_ids: Vec<String>,
}

impl WatchedPipeline {
    /// `definition` is the pipeline machine's text (registered in the API
    /// under the pipeline's name).
    pub fn new(name: &str, definition: &str, stats: Arc<Stats>, watch: Arc<PipelineWatch>) -> WatchedPipeline {
        let state_ids =
            expressway_graph::parse(definition).map(|m| expressway_graph::state_node_ids(&m)).unwrap_or_default();
        WatchedPipeline { name: name.to_string(), stats, watch, state_ids }
    }
}

pub struct Console {
    pub allow_start: bool,
    /// Host names allowed besides loopback ones, lower case.
    pub hosts: Vec<String>,
    pub pipelines: Vec<WatchedPipeline>,
}

impl Console {
    fn pipeline(&self, name: &str) -> Option<&WatchedPipeline> {
        self.pipelines.iter().find(|p| p.name == name)
    }
}

/// Answer a request under `/console`.
pub async fn handle(api: &Arc<Api>, console: &Console, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let is_start = request.method() == Method::POST;
    if let Err(refused) = guard::check(request.headers(), &console.hosts, is_start) {
        let what = match refused {
            guard::Refused::Host => "this Host is not the console's",
            guard::Refused::Origin => "cross-origin requests are refused",
        };
        return text(StatusCode::FORBIDDEN, "text/plain; charset=utf-8", what.to_string());
    }
    let path = request.uri().path().to_string();
    let params = query::parse(request.uri().query().unwrap_or(""));
    let param = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or("");
    match (request.method().clone(), path.as_str()) {
        (Method::GET, "/console" | "/console/") => text(StatusCode::OK, "text/html; charset=utf-8", INDEX_HTML.into()),
        (Method::GET, "/console/app.js") => text(StatusCode::OK, "text/javascript; charset=utf-8", APP_JS.into()),
        (Method::GET, "/console/app.css") => text(StatusCode::OK, "text/css; charset=utf-8", APP_CSS.into()),
        (Method::GET, "/console/api/overview") => json_ok(overview(api, console)),
        (Method::GET, "/console/api/graph") => match graph(api, console, param("machine")) {
            Some(v) => json_ok(v),
            None => not_found("no such state machine"),
        },
        (Method::GET, "/console/api/counts") => match console.pipeline(param("pipeline")) {
            Some(p) => {
                let edges: Vec<Value> =
                    p.watch.edges().iter().map(|e| json!([e.from, e.to, e.caught, e.count])).collect();
                json_ok(json!({"counts": p.watch.counts(), "edges": edges}))
            }
            None => not_found("no such pipeline"),
        },
        (Method::GET, "/console/api/failures") => match console.pipeline(param("pipeline")) {
            Some(p) => json_ok(json!({"failures": p.watch.failures().iter().map(failure).collect::<Vec<_>>()})),
            None => not_found("no such pipeline"),
        },
        (Method::POST, "/console/api/start") if !console.allow_start => text(
            StatusCode::FORBIDDEN,
            "text/plain; charset=utf-8",
            "starting executions is off (api.console.allow_start)".into(),
        ),
        (Method::POST, "/console/api/start") => start(api, request).await,
        (Method::GET | Method::POST, _) => not_found("no such console page"),
        _ => text(StatusCode::METHOD_NOT_ALLOWED, "text/plain; charset=utf-8", "GET or POST".into()),
    }
}

fn overview(api: &Api, console: &Console) -> Value {
    let g = Stats::get;
    let pipelines: Vec<Value> = console
        .pipelines
        .iter()
        .map(|p| {
            let s = &p.stats;
            let finished = g(&s.succeeded) + g(&s.failed) + g(&s.timed_out) + g(&s.internal_errors);
            json!({
                "name": p.name,
                "started": g(&s.executions),
                "succeeded": g(&s.succeeded),
                "failed": g(&s.failed),
                "timedOut": g(&s.timed_out),
                "deadLetters": g(&s.dead_letters),
                "duplicates": g(&s.duplicates),
                "acknowledged": g(&s.acknowledged),
                "inFlight": g(&s.executions).saturating_sub(finished),
                "lag": match s.lag.get() {
                    Some(Lag::Records(n)) => json!({"records": n}),
                    Some(Lag::Bytes(n)) => json!({"bytes": n}),
                    None => Value::Null,
                },
            })
        })
        .collect();
    let machines: Vec<Value> = api
        .read_registry()
        .machines()
        .map(|m| json!({"name": m.name, "type": if m.express { "EXPRESS" } else { "STANDARD" }, "fromConfig": m.from_config}))
        .collect();
    json!({"allowStart": console.allow_start, "pipelines": pipelines, "machines": machines})
}

/// The machine's SVG and, by compiled state index, its states' node ids.
fn graph(api: &Api, console: &Console, machine: &str) -> Option<Value> {
    let definition = api.read_registry().get(machine)?.latest.definition.clone();
    let parsed = expressway_graph::parse(&definition).ok()?;
    let svg = expressway_graph::render(&expressway_graph::layout(&parsed), expressway_graph::Format::Svg);
    let state_ids = match console.pipeline(machine) {
        Some(p) => p.state_ids.clone(),
        None => expressway_graph::state_node_ids(&parsed),
    };
    Some(json!({"name": machine, "svg": svg, "stateIds": state_ids, "pipeline": console.pipeline(machine).is_some()}))
}

fn failure(f: &FailedExecution) -> Value {
    let path: Vec<Value> = f.path.iter().map(|(s, e)| json!([s, e.as_str()])).collect();
    json!({
        "seq": f.seq,
        "at": f.at_ms,
        "name": f.name,
        "source": f.source,
        "error": f.error,
        "cause": f.cause,
        "input": f.input,
        "inputCut": f.input_cut,
        "path": path,
    })
}

/// "Try it": StartSyncExecution on the named machine, answered as the API
/// answers it.
async fn start(api: &Arc<Api>, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let is_json = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !is_json {
        return text(StatusCode::UNSUPPORTED_MEDIA_TYPE, "text/plain; charset=utf-8", "send application/json".into());
    }
    let body = match crate::body::read(request.into_body(), MAX_START_BODY_BYTES, BODY_TIMEOUT).await {
        Ok(body) => body,
        Err(crate::body::BodyError::Busy) => {
            return text(
                StatusCode::SERVICE_UNAVAILABLE,
                "text/plain; charset=utf-8",
                "the server holds as many request bodies as it may; retry later".into(),
            );
        }
        Err(_) => {
            return text(
                StatusCode::BAD_REQUEST,
                "text/plain; charset=utf-8",
                "the request body is too large or late".into(),
            );
        }
    };
    let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(&body) else {
        return text(
            StatusCode::BAD_REQUEST,
            "text/plain; charset=utf-8",
            "send {\"machine\": …, \"input\": …}".into(),
        );
    };
    drop(body); // its share of the budget, before the run
    let machine = fields.get("machine").and_then(Value::as_str).unwrap_or("");
    let input = fields.get("input").and_then(Value::as_str).unwrap_or("{}");
    let mut call = serde_json::Map::new();
    call.insert("stateMachineArn".into(), Value::from(api.partition.machine(machine)));
    call.insert("input".into(), Value::from(input));
    match crate::run::start_sync_watched(api, crate::wire::Fields(&call), Some(Observer::path_only())).await {
        Ok((answer, path)) => json_bytes(StatusCode::OK, with_path(answer, &path)),
        Err(e) => json_bytes(
            StatusCode::OK,
            json!({"status": "REJECTED", "error": e.kind.as_str(), "cause": e.message}).to_string().into_bytes(),
        ),
    }
}

/// The StartSyncExecution answer with `"path": [[state index, event], …]`
/// added, for the graph to highlight.
fn with_path(mut answer: Vec<u8>, path: &[(StateId, StateEvent)]) -> Vec<u8> {
    if answer.last() != Some(&b'}') {
        return answer;
    }
    answer.pop();
    let events: Vec<Value> = path.iter().map(|(s, e)| json!([s, e.as_str()])).collect();
    answer.extend_from_slice(b",\"path\":");
    answer.extend_from_slice(Value::Array(events).to_string().as_bytes());
    answer.push(b'}');
    answer
}

fn json_ok(v: Value) -> Response<Full<Bytes>> {
    json_bytes(StatusCode::OK, v.to_string().into_bytes())
}

fn not_found(what: &str) -> Response<Full<Bytes>> {
    text(StatusCode::NOT_FOUND, "text/plain; charset=utf-8", what.into())
}

fn json_bytes(status: StatusCode, body: Vec<u8>) -> Response<Full<Bytes>> {
    respond(status, "application/json", Bytes::from(body))
}

fn text(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    respond(status, content_type, Bytes::from(body))
}

/// Every answer: no caching, no sniffing, no framing by other pages, and a
/// policy that lets the page load nothing but itself.
fn respond(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    let h = response.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert("cache-control", HeaderValue::from_static("no-store"));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    // The graph's SVG carries its own <style>: styles inline, scripts not.
    h.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self'; \
             img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
        ),
    );
    response
}
