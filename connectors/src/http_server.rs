//! Serving HTTP/1.1 to clients that may be slow, idle or hostile, with every
//! resource bounded: how many connections at once (more are closed at
//! accept), how large a request head may grow, how long reading it may take
//! and how long a connection may live. Request bodies are the service's to
//! read (or not). Any hyper service can be served this way: the operational
//! endpoints ([`crate::http`]) and, later, an API.

use hyper::body::{Body, Incoming};
use hyper::server::conn::http1;
use hyper::service::Service;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections served at once; one more is closed as soon as accepted.
    pub max_connections: usize,
    /// Bytes a request head (line and headers) may take; larger heads get
    /// `431`/`414` and the connection closes. hyper's minimum is 8192.
    pub max_head_bytes: usize,
    /// Time from the start of a request head (or of an idle keep-alive
    /// wait) until it is complete; then the connection closes.
    pub header_read_timeout: Duration,
    /// Time a connection may live in all, whatever it is doing.
    pub connection_deadline: Duration,
    /// Whether a connection may carry more than one request.
    pub keep_alive: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 64,
            max_head_bytes: 16 * 1024,
            header_read_timeout: Duration::from_secs(5),
            connection_deadline: Duration::from_secs(30),
            keep_alive: false,
        }
    }
}

/// Accept from `listener` forever, serving each connection on its own task
/// within `limits`. Runs on the caller's tokio runtime.
pub async fn serve_bounded<S, B>(listener: TcpListener, limits: Limits, service: S)
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let max_head_bytes = limits.max_head_bytes.max(8192);
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors, most likely: wait rather than spin.
                tracing::warn!(error = %e, "accepting an HTTP connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            drop(stream);
            continue;
        };
        let service = service.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .max_buf_size(max_head_bytes)
                .header_read_timeout(limits.header_read_timeout)
                .keep_alive(limits.keep_alive);
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            // Errors are the client's (bad request, reset, timeout): the
            // connection is gone either way and there is no one to tell.
            let _ = tokio::time::timeout(limits.connection_deadline, connection).await;
        });
    }
}
