//! What the chaos and poison-record tests share: the binary, work
//! directories, JSON-lines files, and servers of their own (Redis, tansu,
//! ministack) on ports of their own, stopped by a guard even on a panic, so
//! the suite's shared services are never touched.

// Each test crate uses its own part of this module.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn expressway() -> Command {
    Command::new(env!("CARGO_BIN_EXE_expressway"))
}

pub fn unique() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{}-{}", std::process::id(), nanos % 1_000_000_000_000)
}

/// `expressway exec --aws` of `machine` on `input`, both written under a
/// fresh directory named for `tag`; the execution's JSON result.
pub fn exec_aws(tag: &str, machine: &str, input: &serde_json::Value) -> serde_json::Value {
    let dir = work_dir(tag);
    let (definition, input_file) = (dir.join("machine.json"), dir.join("input.json"));
    std::fs::write(&definition, machine).expect("definition");
    std::fs::write(&input_file, input.to_string()).expect("input");
    let out = expressway()
        .args(["exec", "--aws", "--definition"])
        .arg(&definition)
        .arg("--input")
        .arg(&input_file)
        .output()
        .expect("exec");
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}{}", String::from_utf8_lossy(&out.stderr)))
}

/// A fresh directory for one test.
pub fn work_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("expressway-{name}-{}", unique()));
    std::fs::create_dir_all(&d).expect("work dir");
    d
}

/// A port free right now (bound, then released for the server to take).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port()
}

/// Every complete line of a JSON-lines file (a crash or a full disk may
/// leave a torn tail, which the sink cuts off when it reopens the file).
pub fn lines(p: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read(p).unwrap_or_default();
    let Some(end) = text.iter().rposition(|b| *b == b'\n') else { return Vec::new() };
    text[..end]
        .split(|b| *b == b'\n')
        .map(|l| serde_json::from_slice(l).unwrap_or_else(|e| panic!("{}: a line is not JSON ({e})", p.display())))
        .collect()
}

/// The number of complete lines of a file, without parsing them.
pub fn count_lines(p: &Path) -> usize {
    std::fs::read(p).map(|t| t.iter().filter(|b| **b == b'\n').count()).unwrap_or(0)
}

/// How many times each `id` occurs among `records`.
pub fn id_counts(records: &[serde_json::Value]) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for r in records {
        *counts.entry(id_of(&r["id"])).or_insert(0) += 1;
    }
    counts
}

/// An id as text: `"r1"` is `r1`, the number `1` is `1`.
pub fn id_of(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Wait until `done` holds, checking every 100 ms; false at the deadline.
pub fn wait_for(deadline: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if done() {
            return true;
        }
        if start.elapsed() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Send a signal to a process (`TERM`, `KILL`, `INT`).
pub fn signal(pid: u32, name: &str) {
    let _ = Command::new("kill").args([&format!("-{name}"), &pid.to_string()]).status();
}

/// `kill -9` a process group (quietly: it may be gone already).
fn kill_group(leader: u32) {
    let _ = Command::new("kill").args(["-KILL", "--", &format!("-{leader}")]).stderr(Stdio::null()).status();
}

/// The binary of a dev server, as `deploy/dev/services.sh path` finds it; a
/// missing one fails the test (CI installs them all).
pub fn server_binary(name: &str) -> PathBuf {
    let out = Command::new(repo().join("deploy/dev/services.sh"))
        .args(["path", name])
        .output()
        .expect("running deploy/dev/services.sh");
    assert!(
        out.status.success(),
        "{name} is needed by this test and is missing: {} (run deploy/dev/services.sh install)",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// A server process of the test's own, in a process group of its own; the
/// guard kills the group when dropped (also when the test panics).
pub struct Server {
    pub name: String,
    pub port: u16,
    command: Command,
    child: Option<Child>,
    pub log: PathBuf,
    ready: fn(u16) -> bool,
}

pub fn tcp_open(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// A `GET` answering 200.
pub fn http_ok(port: u16, path: &str) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    if write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
}

impl Server {
    /// Start `command` and wait (up to a minute) until `ready(port)`.
    pub fn start(name: &str, port: u16, mut command: Command, log: PathBuf, ready: fn(u16) -> bool) -> Server {
        command.stdin(Stdio::null()).process_group(0);
        let mut server = Server { name: name.into(), port, command, child: None, log, ready };
        server.restart();
        server
    }

    /// Start it again (after `kill` or `stop`), on the same port and state.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "{} is already running", self.name);
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).expect("server log");
        let err = log.try_clone().expect("server log");
        self.command.stdout(log).stderr(err);
        let child = self.command.spawn().unwrap_or_else(|e| panic!("starting {}: {e}", self.name));
        self.child = Some(child);
        let ready = self.ready;
        let port = self.port;
        let up = wait_for(Duration::from_secs(60), || ready(port) || self.exited());
        assert!(up && !self.exited(), "{} did not come up on port {port}: {}", self.name, self.log_tail());
    }

    fn exited(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(Some(_))))
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).expect("running")
    }

    /// `kill -9` the whole group: a crash, nothing saved.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill_group(child.id());
            let _ = child.wait();
        }
    }

    /// SIGTERM and wait for it to exit (a graceful stop: ministack saves
    /// its state then); killed if it takes over a minute.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal(child.id(), "TERM");
            let start = Instant::now();
            while !matches!(child.try_wait(), Ok(Some(_))) {
                if start.elapsed() > Duration::from_secs(60) {
                    kill_group(child.id());
                    let _ = child.wait();
                    panic!("{} did not stop within a minute of SIGTERM", self.name);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            // Its workers, if any are left.
            kill_group(child.id());
        }
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let start = text.len().saturating_sub(3000);
        text.get(start..).unwrap_or(&text).to_string()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A Redis of the test's own: no persistence, so a restart forgets every key.
pub fn redis(dir: &Path) -> Server {
    let port = free_port();
    let mut cmd = Command::new(server_binary("redis"));
    cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(dir);
    Server::start("redis", port, cmd, dir.join("redis.log"), tcp_open)
}

/// A ministack of the test's own. With `persist`, SQS and S3 state is kept
/// in `dir` across a graceful stop (`PERSIST_STATE=1`, `S3_PERSIST=1`).
pub fn ministack(dir: &Path, persist: bool) -> Server {
    std::fs::create_dir_all(dir).expect("ministack dir");
    let port = free_port();
    let mut cmd = Command::new(server_binary("ministack"));
    cmd.env("BIND_HOST", "127.0.0.1")
        .env("GATEWAY_PORT", port.to_string())
        .env("TMPDIR", dir)
        .env("STATE_DIR", dir.join("state"))
        .env("S3_DATA_DIR", dir.join("s3"))
        .env("PERSIST_STATE", if persist { "1" } else { "0" })
        .env("S3_PERSIST", if persist { "1" } else { "0" });
    Server::start("ministack", port, cmd, dir.join("ministack.log"), |p| http_ok(p, "/_ministack/health"))
}

/// A tansu broker of the test's own, in memory (nothing survives a restart).
pub fn tansu_in_memory(dir: &Path) -> Server {
    let port = free_port();
    let url = format!("tcp://127.0.0.1:{port}");
    let mut cmd = Command::new(server_binary("tansu"));
    cmd.args([
        "broker",
        "--listener-url",
        &url,
        "--advertised-listener-url",
        &url,
        "--storage-engine",
        "memory://tansu/",
    ]);
    Server::start("tansu", port, cmd, dir.join("tansu.log"), tcp_open)
}

/// A tansu broker of the test's own whose topics, offsets and records live
/// in bucket `bucket` of `s3` (a ministack), so they survive a restart.
pub fn tansu_on_s3(dir: &Path, s3: &Server, bucket: &str) -> Server {
    // S3 CreateBucket: a PUT of the bucket's path (ministack takes it unsigned).
    let mut s = TcpStream::connect(("127.0.0.1", s3.port)).expect("connect to ministack");
    write!(s, "PUT /{bucket} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        .expect("CreateBucket");
    let mut reply = String::new();
    let _ = s.read_to_string(&mut reply);
    assert!(reply.starts_with("HTTP/1.1 200"), "CreateBucket {bucket}: {reply}");

    let port = free_port();
    let url = format!("tcp://127.0.0.1:{port}");
    let mut cmd = Command::new(server_binary("tansu"));
    cmd.args(["broker", "--listener-url", &url, "--advertised-listener-url", &url])
        .args(["--storage-engine", &format!("s3://{bucket}/")])
        // Both names: the object store reads AWS_ENDPOINT_URL too, and the
        // suite's environment points that one at the shared emulator.
        .env("AWS_ENDPOINT", format!("http://127.0.0.1:{}", s3.port))
        .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{}", s3.port))
        .env("AWS_ALLOW_HTTP", "true")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_REGION", "us-east-1");
    Server::start("tansu", port, cmd, dir.join("tansu.log"), tcp_open)
}

/// `expressway run` as a child whose stderr (the log and the summary) goes
/// to a file, killed by the guard if the test panics.
pub struct Run {
    child: Option<Child>,
    pub log: PathBuf,
}

impl Run {
    pub fn start(config: &Path, log: PathBuf) -> Run {
        Run::start_with(config, log, &[])
    }

    pub fn start_with(config: &Path, log: PathBuf, env: &[(&str, String)]) -> Run {
        Run::spawn(expressway(), config, log, env)
    }

    /// Within an address space of `gib` GiB (as in a memory-limited
    /// container), so a runaway allocation fails in the process under test
    /// instead of exhausting the machine that runs the tests.
    pub fn start_limited(config: &Path, log: PathBuf, gib: u64) -> Run {
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(format!("ulimit -v {} && exec \"$0\" \"$@\"", gib * 1024 * 1024));
        cmd.arg(env!("CARGO_BIN_EXE_expressway"));
        Run::spawn(cmd, config, log, &[])
    }

    fn spawn(mut cmd: Command, config: &Path, log: PathBuf, env: &[(&str, String)]) -> Run {
        let err = std::fs::File::create(&log).expect("run log");
        cmd.args(["run", "--config", config.to_str().expect("utf-8 path")]).stdin(Stdio::null()).stderr(err);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("start expressway run");
        Run { child: Some(child), log }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).expect("running")
    }

    /// Still running?
    pub fn running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// SIGTERM (a drain), then wait; the exit status and the log.
    pub fn stop(self) -> (std::process::ExitStatus, String) {
        let pid = self.pid();
        signal(pid, "TERM");
        self.wait()
    }

    /// Wait for it to end by itself (up to five minutes, then killed).
    pub fn wait(self) -> (std::process::ExitStatus, String) {
        self.wait_within(Duration::from_secs(300))
    }

    /// Wait for it to end by itself; killed (and the test failed) after `limit`.
    pub fn wait_within(mut self, limit: Duration) -> (std::process::ExitStatus, String) {
        let mut child = self.child.take().expect("running");
        let start = Instant::now();
        let status = loop {
            if let Ok(Some(status)) = child.try_wait() {
                break status;
            }
            if start.elapsed() > limit {
                let _ = child.kill();
                let _ = child.wait();
                panic!("expressway run did not end within {limit:?}: {}", self.log_text());
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        (status, self.log_text())
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Create a topic, retrying while a just-started broker still refuses admin
/// requests (tansu on `s3://` storage answers "unknown broker error" until
/// its storage is ready). Panics with the last error after a minute.
pub fn create_topic(brokers: &str, topic: &str, partitions: i32) {
    let mut last = String::new();
    let created = wait_for(Duration::from_secs(60), || {
        match expressway_connectors::kafka::ensure_topic(brokers, topic, partitions) {
            Ok(()) => true,
            Err(e) => {
                last = e.to_string();
                std::thread::sleep(Duration::from_millis(400));
                false
            }
        }
    });
    assert!(created, "creating topic {topic} on {brokers}: {last}");
}

/// The metrics page at `addr`, empty while nothing answers there.
pub fn scrape(addr: &str) -> String {
    let Ok(mut s) = std::net::TcpStream::connect(addr) else { return String::new() };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let mut text = String::new();
    if write!(s, "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").is_ok() {
        let _ = s.read_to_string(&mut text);
    }
    text
}
