//! What the integration tests share: running the probe, reading a request,
//! writing a reply, and the assertions.
//!
//! `HEALTHPROBE_BIN` names the binary to test; without it, cargo's build.
//! `HEALTHPROBE_TEST_SLACK_MS` widens the upper time bounds for emulation.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{mpsc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Default)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
}

impl Request {
    pub fn header(&self, name: &str) -> Vec<&str> {
        self.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str()).collect()
    }
}

/// The request line and headers; None if the client went away first.
pub fn read_request(stream: impl Read) -> Option<Request> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            return Some(Request { method, path, headers });
        }
        let (n, v) = h.split_once(':')?;
        headers.push((n.to_string(), v.trim().to_string()));
    }
}

pub fn reply(stream: &mut impl Write, status: &str, headers: &[&str], body: &str) {
    let mut text = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\n", body.len());
    for h in headers {
        text.push_str(h);
        text.push_str("\r\n");
    }
    text.push_str("Connection: close\r\n\r\n");
    text.push_str(body);
    let _ = stream.write_all(text.as_bytes());
    let _ = stream.flush();
}

/// A server's answer: this status, no body. Generic over the stream, so the
/// TCP, Unix-socket and TLS servers of the tests share it.
pub fn status<S: Write>(code: &'static str) -> impl Fn(&mut S, &Request) + Send + Sync + Clone {
    move |s, _| reply(s, code, &[], "")
}

/// This status with a JSON body.
pub fn status_body<S: Write>(code: &'static str, body: &'static str) -> impl Fn(&mut S, &Request) + Send + Sync {
    move |s, _| reply(s, code, &["Content-Type: application/json"], body)
}

/// This redirect status to `to`.
pub fn redirect<S: Write>(code: &'static str, to: &'static str) -> impl Fn(&mut S, &Request) + Send + Sync {
    move |s, _| reply(s, code, &[&format!("Location: {to}")], "")
}

/// Reads and drops whatever arrives until the client goes: a server that
/// holds the connection open and never answers.
pub fn drain(mut stream: impl Read) {
    let mut sink = [0u8; 64];
    while let Ok(n) = stream.read(&mut sink) {
        if n == 0 {
            break;
        }
    }
}

pub fn bin() -> PathBuf {
    match std::env::var_os("HEALTHPROBE_BIN") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_BIN_EXE_healthprobe")),
    }
}

pub fn slack() -> Duration {
    let ms = std::env::var("HEALTHPROBE_TEST_SLACK_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
    Duration::from_millis(ms)
}

#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

/// Variables the probe reads; every run starts without them.
const PROBE_ENV: &[&str] = &[
    "HEALTHPROBE_URL", "HEALTHPROBE_TIMEOUT", "PORT", "ALL_PROXY", "all_proxy", "HTTPS_PROXY",
    "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy",
];

pub fn probe(args: &[&str]) -> Run {
    probe_env(args, &[])
}

/// A probe command without any of the variables the probe reads, its
/// output captured.
pub fn probe_command(args: &[&str]) -> Command {
    let mut cmd = Command::new(bin());
    cmd.args(args);
    for name in PROBE_ENV {
        cmd.env_remove(name);
    }
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd
}

/// The probe with `env` set, and none of the variables it reads otherwise.
pub fn probe_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = probe_command(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    run(cmd)
}

/// Runs a command to its end (at most 30 s), capturing its output.
pub fn run(mut cmd: Command) -> Run {
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let start = Instant::now();
    let child = cmd.spawn().expect("cannot start the probe");
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || tx.send(child.wait_with_output()));
    let out = rx.recv_timeout(Duration::from_secs(30)).expect("the probe hung for 30 s").expect("wait failed");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        elapsed: start.elapsed(),
    }
}

/// Exit 0, nothing printed.
pub fn assert_healthy(r: &Run, what: &str) {
    assert_eq!(r.code, Some(0), "{what}: expected healthy, got {r:?}");
    assert_eq!(r.stderr, "", "{what}: a healthy probe prints nothing");
}

/// Exit 1, exactly one line on stderr containing every word.
pub fn assert_fails(r: &Run, words: &[&str], what: &str) {
    assert_eq!(r.code, Some(1), "{what}: expected exit 1, got {r:?}");
    assert_eq!(r.stderr.matches('\n').count(), 1, "{what}: one line: {:?}", r.stderr);
    assert!(r.stderr.starts_with("healthprobe: "), "{what}: {:?}", r.stderr);
    for w in words {
        assert!(r.stderr.contains(w), "{what}: {:?} should contain {w:?}", r.stderr);
    }
    assert!(
        !r.stderr.trim_end_matches('\n').chars().any(char::is_control),
        "{what}: raw control character in {:?}",
        r.stderr
    );
}

pub fn assert_between(elapsed: Duration, lo: Duration, hi: Duration, what: &str) {
    let hi = hi + slack();
    assert!(elapsed >= lo && elapsed <= hi, "{what}: took {elapsed:?}, expected between {lo:?} and {hi:?}");
}

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Timing rows run one at a time, so that two cores are enough for the bounds.
static TIMING: Mutex<()> = Mutex::new(());

pub fn timing() -> MutexGuard<'static, ()> {
    TIMING.lock().unwrap_or_else(|e| e.into_inner())
}

/// A fresh directory for this test's files, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(what: &str) -> TempDir {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("healthprobe-{what}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self, name: &str) -> String {
        self.0.join(name).to_str().unwrap().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
