//! The operational endpoints over real sockets: routing, methods, and that
//! idle, slow or oversized clients neither stall a probe nor grow memory.

use expressway_connectors::http::serve_with_limits;
use expressway_connectors::http_server::Limits;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

fn start(limits: Limits, ready: bool) -> SocketAddr {
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder().handle();
    serve_with_limits("127.0.0.1:0", limits, metrics, Arc::new(AtomicBool::new(ready))).expect("serve")
}

/// Limits whose timeouts cannot expire during a test, so what a test sees
/// comes from concurrency, not from the server giving up on a client.
fn patient() -> Limits {
    Limits {
        header_read_timeout: Duration::from_secs(300),
        connection_deadline: Duration::from_secs(300),
        ..Limits::default()
    }
}

/// One request; the answer read to the end (the server closes after it).
fn request(addr: SocketAddr, method: &str, path: &str) -> (u16, String) {
    let (answer, read) = exchange(addr, format!("{method} {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
    read.expect("the server closes after answering");
    let status = answer.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, answer)
}

/// Send `bytes` (as far as the server takes them) and read until it closes.
fn exchange(addr: SocketAddr, bytes: &[u8]) -> (String, std::io::Result<usize>) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(60))).expect("timeout");
    let _ = s.write_all(bytes);
    let mut answer = Vec::new();
    let read = s.read_to_end(&mut answer);
    (String::from_utf8_lossy(&answer).into_owned(), read)
}

/// A read that ended because the server closed (cleanly or with a reset),
/// not because the client gave up waiting.
fn closed_by_server(read: &std::io::Result<usize>) -> bool {
    !matches!(read, Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut))
}

/// Whether the server still holds `s` open (nothing to read, no EOF).
fn still_open(s: &TcpStream) -> bool {
    s.set_nonblocking(true).expect("nonblocking");
    let mut byte = [0u8; 1];
    let open = matches!((&*s).read(&mut byte), Err(e) if e.kind() == ErrorKind::WouldBlock);
    s.set_nonblocking(false).expect("blocking");
    open
}

#[test]
fn routes_and_methods() {
    let addr = start(patient(), false);
    let (status, text) = request(addr, "GET", "/healthz");
    assert_eq!(status, 200, "{text}");
    assert!(text.ends_with("ok\n"), "{text}");
    assert_eq!(request(addr, "GET", "/readyz").0, 503);
    let (status, text) = request(addr, "GET", "/metrics");
    assert_eq!(status, 200, "{text}");
    assert!(text.to_ascii_lowercase().contains("content-type: text/plain; version=0.0.4"), "{text}");
    let (status, text) = request(addr, "HEAD", "/healthz");
    assert_eq!(status, 200, "{text}");
    assert!(!text.ends_with("ok\n"), "HEAD has no body: {text}");
    for method in ["POST", "PUT", "DELETE", "OPTIONS"] {
        let (status, text) = request(addr, method, "/healthz");
        assert_eq!(status, 405, "{method}: {text}");
        assert!(text.to_ascii_lowercase().contains("allow: get, head"), "{text}");
    }
    assert_eq!(request(addr, "GET", "/nope").0, 404);
    assert_eq!(request(addr, "GET", "/healthz/").0, 404);
}

#[test]
fn idle_and_endless_header_clients_do_not_stall_a_probe() {
    let addr = start(patient(), true);
    let idle = TcpStream::connect(addr).expect("idle client");
    let mut endless = TcpStream::connect(addr).expect("endless client");
    write!(endless, "GET /healthz HTTP/1.1\r\nX-Endless: {}", "a".repeat(4000)).expect("write");
    // Both are still being waited on when the probe is answered: the
    // server serves connections side by side, not one after the other.
    assert_eq!(request(addr, "GET", "/healthz").0, 200);
    assert_eq!(request(addr, "GET", "/readyz").0, 200);
    assert!(still_open(&idle) && still_open(&endless));
}

#[test]
fn a_request_head_over_the_limit_is_refused_and_the_server_goes_on() {
    let addr = start(patient(), true);
    // A 1 MiB request line: the server reads at most its 16 KiB head
    // buffer, answers 414/431 and closes; the rest is never taken in.
    let line = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(1024 * 1024));
    let (text, read) = exchange(addr, line.as_bytes());
    // Either the 4xx arrived or the reset that closing an unread socket
    // sends overtook it; never a 2xx, and never a hang.
    assert!(closed_by_server(&read), "{read:?}");
    assert!(text.is_empty() || text.starts_with("HTTP/1.1 431") || text.starts_with("HTTP/1.1 414"), "{text}");
    assert_eq!(request(addr, "GET", "/healthz").0, 200);
}

#[test]
fn connections_over_the_cap_are_closed_at_once() {
    let addr = start(Limits { max_connections: 2, ..patient() }, true);
    let first = TcpStream::connect(addr).expect("first");
    let second = TcpStream::connect(addr).expect("second");
    // Accepted in order, so these two hold both places when the third comes.
    let (text, read) = exchange(addr, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(closed_by_server(&read) && text.is_empty(), "the third connection is closed unanswered: {text}");
    assert!(still_open(&first) && still_open(&second));
    drop(first);
    drop(second);
    // The places come back once the server sees the closes.
    let answered = (0..200).any(|_| {
        std::thread::sleep(Duration::from_millis(10));
        exchange(addr, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").0.starts_with("HTTP/1.1 200")
    });
    assert!(answered, "a place was freed");
}

#[test]
fn a_client_that_never_finishes_its_head_is_cut_off() {
    let addr = start(Limits { header_read_timeout: Duration::from_millis(200), ..patient() }, true);
    let (text, read) = exchange(addr, b"GET /healthz HTTP/1.1\r\nX-Slow: ");
    assert!(closed_by_server(&read), "{read:?}");
    assert!(!text.contains(" 200 "), "no answer to an unfinished request: {text}");
}
