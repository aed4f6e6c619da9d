//! The operational endpoints: `/metrics` (Prometheus text), `/healthz`
//! (the process is up) and `/readyz` (every pipeline has its source open and
//! its dedup store reachable, and the process is not draining). A tiny
//! blocking server on its own thread: scrapes are rare and small, so it
//! needs no async runtime.

use metrics_exporter_prometheus::PrometheusHandle;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Bind now (so a taken port fails at start) and serve on a thread.
pub fn serve(
    address: &str,
    metrics: PrometheusHandle,
    ready: Arc<AtomicBool>,
) -> std::io::Result<std::net::SocketAddr> {
    let listener = TcpListener::bind(address)?;
    let local = listener.local_addr()?;
    std::thread::Builder::new().name("http".into()).spawn(move || {
        for stream in listener.incoming().flatten() {
            let _ = respond(stream, &metrics, &ready);
        }
    })?;
    Ok(local)
}

fn respond(mut stream: TcpStream, metrics: &PrometheusHandle, ready: &AtomicBool) -> std::io::Result<()> {
    stream.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
    let mut request_line = String::new();
    BufReader::new(&stream).read_line(&mut request_line)?;
    let path = request_line.split_whitespace().nth(1).unwrap_or("/");
    let (status, content_type, body) = match path {
        "/metrics" => ("200 OK", "text/plain; version=0.0.4", metrics.render()),
        "/healthz" => ("200 OK", "text/plain", "ok\n".to_string()),
        "/readyz" if ready.load(Ordering::Relaxed) => ("200 OK", "text/plain", "ready\n".to_string()),
        "/readyz" => ("503 Service Unavailable", "text/plain", "not ready\n".to_string()),
        _ => ("404 Not Found", "text/plain", "not found\n".to_string()),
    };
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}
