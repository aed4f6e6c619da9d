//! `arn:aws:states:::http:invoke` against a real HTTP server: a tiny one on a
//! std `TcpListener` started by each test (one thread per connection, one
//! request per connection), which records every request line it is sent so
//! a test can also check what never reached it.

use expressway_connectors::aws::http_invoke::{HttpInvoker, MAX_RESPONSE_BODY_BYTES};
use expressway_engine::{TaskOutcome, Value};
use serde_json::{Value as Json, json};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the test server answers, by path:
/// `/v1/big` 1.5 MB with a `Content-Length`, `/v1/big-chunked` 1.5 MB
/// chunked (no length declared), `/v1/redirect` a 302 to `/v1/elsewhere`,
/// anything else a small JSON echo of the request.
struct Server {
    base: String,
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let log = log.clone();
                std::thread::spawn(move || answer(stream, &log));
            }
        });
        Server { base: format!("http://127.0.0.1:{port}"), port, requests }
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

fn answer(mut stream: TcpStream, log: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut host = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("host")
        {
            host = value.trim().to_string();
        }
    }
    let request_line = request_line.trim_end().to_string();
    if let Ok(mut l) = log.lock() {
        l.push(request_line.clone());
    }
    let path = request_line.split(' ').nth(1).unwrap_or("/").to_string();
    let big = 1_500_000;
    let _ = match path.as_str() {
        "/v1/big" => {
            let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {big}\r\nConnection: close\r\n\r\n");
            stream.write_all(head.as_bytes()).and_then(|_| stream.write_all(&vec![b'x'; big]))
        }
        "/v1/big-chunked" => {
            let head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
            let chunk = format!("{:x}\r\n{}\r\n", 64 * 1024, "x".repeat(64 * 1024));
            let mut sent = stream.write_all(head.as_bytes());
            for _ in 0..(big / (64 * 1024) + 1) {
                sent = sent.and_then(|_| stream.write_all(chunk.as_bytes()));
            }
            sent.and_then(|_| stream.write_all(b"0\r\n\r\n"))
        }
        "/v1/redirect" => stream.write_all(
            b"HTTP/1.1 302 Found\r\nLocation: /v1/elsewhere\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        ),
        _ => {
            let body = json!({"request": request_line, "host": host}).to_string();
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            stream.write_all(head.as_bytes()).and_then(|_| stream.write_all(body.as_bytes()))
        }
    };
}

fn invoker(allowed: &[String]) -> HttpInvoker {
    HttpInvoker::new(Some(allowed.to_vec()), Duration::from_secs(30)).expect("invoker")
}

fn call(invoker: &HttpInvoker, params: Json) -> TaskOutcome {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(invoker.invoke(&Value::from(params)))
}

fn succeeded(outcome: TaskOutcome) -> Json {
    match outcome {
        TaskOutcome::Succeeded(v) => Json::from(&v),
        other => panic!("expected success, got {other:?}"),
    }
}

fn failed(outcome: TaskOutcome) -> (String, String) {
    match outcome {
        TaskOutcome::Failed { error, cause } => (error, cause.unwrap_or_default()),
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[test]
fn only_endpoints_under_an_allowed_entry_are_called() {
    let server = Server::start();
    let other = Server::start();
    let http = invoker(&[format!("{}/v1", server.base)]);
    let get = |endpoint: String| call(&http, json!({"ApiEndpoint": endpoint, "Method": "GET"}));

    let ok = succeeded(get(format!("{}/v1/orders", server.base)));
    assert_eq!(ok["ResponseBody"]["request"], "GET /v1/orders HTTP/1.1", "{ok}");

    for refused in [
        format!("{}/v10", server.base),
        format!("{}/v1/../admin", server.base),
        format!("{}/v1/%2e%2e/admin", server.base),
        format!("{}/v1/..%2Fadmin", server.base),
        format!("http://127.0.0.1:{}/v1/orders", other.port),
        format!("https://127.0.0.1:{}/v1/orders", server.port),
        format!("http://localhost.:{}/v1/orders", server.port),
    ] {
        let (error, cause) = failed(get(refused.clone()));
        assert_eq!(error, "States.Permissions", "{refused}: {cause}");
        assert!(cause.contains("http.allowed_endpoints"), "{cause}");
    }
    // `allowed-host@other-host` is other-host: refused before any call.
    let trick = format!("http://127.0.0.1:{}@127.0.0.1:{}/v1/orders", server.port, other.port);
    let (error, cause) = failed(get(trick));
    assert_eq!(error, "States.Runtime", "{cause}");
    assert!(cause.contains("user information"), "{cause}");

    assert_eq!(server.requests(), ["GET /v1/orders HTTP/1.1"], "only the allowed call arrived");
    assert!(other.requests().is_empty(), "{:?}", other.requests());
}

#[test]
fn a_host_header_cannot_redirect_the_call_and_refused_headers_fail_the_task() {
    let server = Server::start();
    let http = invoker(&[format!("{}/v1", server.base)]);
    for header in ["Host", "host", "Transfer-Encoding", "X-Forwarded-For", "x-amz-security-token", "Connection"] {
        let outcome = call(
            &http,
            json!({"ApiEndpoint": format!("{}/v1/x", server.base), "Method": "GET", "Headers": {header: "evil.example"}}),
        );
        let (error, cause) = failed(outcome);
        assert_eq!(error, "States.Runtime", "{header}: {cause}");
        assert!(cause.contains(header) && cause.contains("not allowed"), "{cause}");
    }
    assert!(server.requests().is_empty(), "{:?}", server.requests());
    // Allowed headers go through, and Host is the endpoint's own.
    let ok = succeeded(call(
        &http,
        json!({"ApiEndpoint": format!("{}/v1/x", server.base), "Method": "GET", "Headers": {"X-Api-Key": "k"}}),
    ));
    assert_eq!(ok["ResponseBody"]["host"], format!("127.0.0.1:{}", server.port), "{ok}");
}

#[test]
fn methods_aws_does_not_support_fail_the_task() {
    let server = Server::start();
    let http = invoker(&[format!("{}/v1", server.base)]);
    for method in ["TRACE", "CONNECT", "PROPFIND", "G ET"] {
        let (error, cause) =
            failed(call(&http, json!({"ApiEndpoint": format!("{}/v1/x", server.base), "Method": method})));
        assert_eq!(error, "States.Runtime", "{method}: {cause}");
        assert!(cause.contains("not supported"), "{cause}");
    }
    assert!(server.requests().is_empty(), "{:?}", server.requests());
    for method in ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"] {
        let ok = succeeded(call(&http, json!({"ApiEndpoint": format!("{}/v1/x", server.base), "Method": method})));
        assert_eq!(ok["StatusCode"], 200, "{method}: {ok}");
    }
}

#[test]
fn redirects_are_the_result_and_not_followed() {
    let server = Server::start();
    let http = invoker(&[format!("{}/v1", server.base)]);
    let result =
        succeeded(call(&http, json!({"ApiEndpoint": format!("{}/v1/redirect", server.base), "Method": "GET"})));
    assert_eq!(result["StatusCode"], 302, "{result}");
    assert_eq!(result["Headers"]["location"], json!(["/v1/elsewhere"]), "{result}");
    assert_eq!(server.requests(), ["GET /v1/redirect HTTP/1.1"]);
}

#[test]
fn response_bodies_over_the_payload_limit_fail_the_task() {
    let server = Server::start();
    let http = invoker(&[format!("{}/v1", server.base)]);
    for path in ["/v1/big", "/v1/big-chunked"] {
        let (error, cause) =
            failed(call(&http, json!({"ApiEndpoint": format!("{}{path}", server.base), "Method": "GET"})));
        assert_eq!(error, "States.DataLimitExceeded", "{path}: {cause}");
        assert!(cause.contains(&MAX_RESPONSE_BODY_BYTES.to_string()), "{cause}");
    }
    let small = succeeded(call(&http, json!({"ApiEndpoint": format!("{}/v1/small", server.base), "Method": "GET"})));
    assert_eq!(small["ResponseBody"]["request"], "GET /v1/small HTTP/1.1", "{small}");
}

#[test]
fn query_parameters_join_the_endpoints_own_query() {
    let server = Server::start();
    let http = invoker(&[format!("{}/v1", server.base)]);
    let result = succeeded(call(
        &http,
        json!({"ApiEndpoint": format!("{}/v1/q?a=1", server.base), "Method": "GET",
               "QueryParameters": {"b": "x y", "c": ["1", "2"]}}),
    ));
    assert_eq!(result["ResponseBody"]["request"], "GET /v1/q?a=1&b=x%20y&c=1&c=2 HTTP/1.1", "{result}");
}

#[test]
fn a_malformed_allowed_entry_is_refused_when_the_invoker_is_built() {
    let err = HttpInvoker::new(Some(vec!["https://u:p@api.example.com/".into()]), Duration::from_secs(1))
        .err()
        .expect("refused");
    assert!(err.contains("http.allowed_endpoints") && err.contains("user information"), "{err}");
}
