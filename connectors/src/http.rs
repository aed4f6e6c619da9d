//! The operational endpoints: `/metrics` (Prometheus text, with the
//! standard `process_*` series read from the OS at each scrape), `/healthz`
//! (the process is up) and `/readyz` (every pipeline has its source open and
//! its dedup store reachable, and the process is not draining). `GET` and
//! `HEAD` only; request bodies are never read. Served by
//! [`crate::http_server::serve_bounded`] on a one-thread tokio runtime of its
//! own, so a stuck pipeline or a slow client cannot delay a probe.

use crate::http_server::{Limits, serve_bounded};
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{ALLOW, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use metrics_exporter_prometheus::PrometheusHandle;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Bind now (so a taken port fails at start) and serve on a thread.
pub fn serve(
    address: &str,
    metrics: PrometheusHandle,
    ready: Arc<AtomicBool>,
) -> std::io::Result<std::net::SocketAddr> {
    serve_with_limits(address, Limits::default(), metrics, ready)
}

pub fn serve_with_limits(
    address: &str,
    limits: Limits,
    metrics: PrometheusHandle,
    ready: Arc<AtomicBool>,
) -> std::io::Result<std::net::SocketAddr> {
    let listener = std::net::TcpListener::bind(address)?;
    listener.set_nonblocking(true)?;
    let local = listener.local_addr()?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let process = Arc::new(metrics_process::Collector::default());
    process.describe();
    std::thread::Builder::new().name("http".into()).spawn(move || {
        runtime.block_on(async move {
            let listener = match tokio::net::TcpListener::from_std(listener) {
                Ok(l) => l,
                Err(e) => return tracing::error!(error = %e, "serving the metrics endpoint"),
            };
            let service = hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
                let response = respond(request.method(), request.uri().path(), &metrics, &process, &ready);
                async move { Ok::<_, Infallible>(response) }
            });
            serve_bounded(listener, limits, service).await;
        })
    })?;
    Ok(local)
}

fn respond(
    method: &Method,
    path: &str,
    metrics: &PrometheusHandle,
    process: &metrics_process::Collector,
    ready: &AtomicBool,
) -> Response<Full<Bytes>> {
    let page = match path {
        "/metrics" | "/healthz" | "/readyz" => path,
        _ => return text(StatusCode::NOT_FOUND, "text/plain", "not found\n".into()),
    };
    if method != Method::GET && method != Method::HEAD {
        let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "text/plain", "method not allowed\n".into());
        response.headers_mut().insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    match page {
        "/metrics" => {
            // Read now, so CPU seconds and RSS are as of this scrape.
            process.collect();
            text(StatusCode::OK, "text/plain; version=0.0.4", metrics.render())
        }
        "/readyz" if !ready.load(Ordering::Relaxed) => {
            text(StatusCode::SERVICE_UNAVAILABLE, "text/plain", "not ready\n".into())
        }
        "/readyz" => text(StatusCode::OK, "text/plain", "ready\n".into()),
        _ => text(StatusCode::OK, "text/plain", "ok\n".into()),
    }
}

fn text(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
