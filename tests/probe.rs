//! Integration tests: the real binary against servers started here, on
//! loopback, one behaviour a row.
//!
//! `HEALTHPROBE_BIN` names the binary to test (the static release build, or a
//! wrapper that runs a foreign one under qemu); without it, cargo's build.
//! `HEALTHPROBE_TEST_SLACK_MS` widens the upper time bounds for emulation.

mod common;

use std::io::Write;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::{
    assert_between, assert_fails, assert_healthy, bin, ms, probe, probe_env, redirect, reply, run, status,
    status_body, timing, Request,
};

// ---------------------------------------------------------------- servers

type Handler = dyn Fn(&mut TcpStream, &Request) + Send + Sync;

struct Server {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<Request>>>,
    connections: Arc<AtomicUsize>,
    /// Signalled when a connection is accepted.
    accepted: Mutex<mpsc::Receiver<()>>,
}

impl Server {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn port(&self) -> u16 {
        self.addr.port()
    }

    fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    fn wait_for_connection(&self) {
        self.accepted
            .lock()
            .unwrap()
            .recv_timeout(Duration::from_secs(10))
            .expect("the probe never connected");
    }
}

fn serve(handler: impl Fn(&mut TcpStream, &Request) + Send + Sync + 'static) -> Server {
    serve_on(TcpListener::bind("127.0.0.1:0").unwrap(), handler)
}

/// Every connection gets its own thread, so a blackhole holds only itself.
/// The request is read first unless the handler is `raw` (see `serve_raw`).
fn serve_on(
    listener: TcpListener,
    handler: impl Fn(&mut TcpStream, &Request) + Send + Sync + 'static,
) -> Server {
    serve_with(listener, true, Arc::new(handler))
}

/// A server on ::1 only, on a port where 127.0.0.1 refuses: the ports of the
/// two families are separate, and a parallel test may hold the IPv4 twin.
fn serve_v6_only(handler: impl Fn(&mut TcpStream, &Request) + Send + Sync + Clone + 'static) -> Server {
    loop {
        let listener = TcpListener::bind("[::1]:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        if TcpStream::connect(("127.0.0.1", port)).is_err() {
            return serve_on(listener, handler);
        }
    }
}

fn serve_raw(handler: impl Fn(&mut TcpStream, &Request) + Send + Sync + 'static) -> Server {
    serve_with(TcpListener::bind("127.0.0.1:0").unwrap(), false, Arc::new(handler))
}

fn serve_with(listener: TcpListener, read_first: bool, handler: Arc<Handler>) -> Server {
    let addr = listener.local_addr().unwrap();
    let requests = Arc::new(Mutex::new(Vec::new()));
    let connections = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = mpsc::channel();
    let (reqs, conns) = (requests.clone(), connections.clone());
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            conns.fetch_add(1, Ordering::SeqCst);
            let _ = tx.send(());
            let (handler, reqs) = (handler.clone(), reqs.clone());
            thread::spawn(move || {
                let request = if read_first {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                    match common::read_request(&stream) {
                        Some(r) => r,
                        None => return,
                    }
                } else {
                    Request::default()
                };
                reqs.lock().unwrap().push(request.clone());
                handler(&mut stream, &request);
            });
        }
    });
    Server { addr, requests, connections, accepted: Mutex::new(rx) }
}

fn raw(bytes: &'static [u8]) -> impl Fn(&mut TcpStream, &Request) + Send + Sync {
    move |s, _| {
        let _ = s.write_all(bytes);
    }
}

fn blackhole(s: &mut TcpStream, _: &Request) {
    common::drain(s);
}

fn dribble(s: &mut TcpStream, _: &Request) {
    for b in b"HTTP/1.1 200 OK\r\nX-Slow: ".iter().chain(std::iter::repeat(&b'a')) {
        if s.write_all(&[*b]).is_err() {
            return;
        }
        thread::sleep(Duration::from_millis(100));
    }
}

fn endless_headers(pause: Duration) -> impl Fn(&mut TcpStream, &Request) + Send + Sync {
    move |s, _| {
        if s.write_all(b"HTTP/1.1 200 OK\r\n").is_err() {
            return;
        }
        for i in 0u64.. {
            if s.write_all(format!("X-Filler-{i}: {}\r\n", "a".repeat(100)).as_bytes()).is_err() {
                return;
            }
            if !pause.is_zero() {
                thread::sleep(pause);
            }
        }
    }
}

fn endless_body(s: &mut TcpStream, _: &Request) {
    let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 52428800000\r\n\r\n");
    let chunk = vec![b'x'; 64 * 1024];
    while s.write_all(&chunk).is_ok() {}
}

// ---------------------------------------------------------------- the probe

// ---------------------------------------------------------------- the table

struct Row {
    name: &'static str,
    server: Box<dyn Fn() -> Server>,
    args: &'static [&'static str],
    path: &'static str,
    /// None: healthy. Some(words): exit 1 and a line with these words.
    fails: Option<&'static [&'static str]>,
}

fn row(
    name: &'static str,
    server: impl Fn() -> Server + 'static,
    args: &'static [&'static str],
    fails: Option<&'static [&'static str]>,
) -> Row {
    Row { name, server: Box::new(server), args, path: "/healthz", fails }
}

fn behaviours() -> Vec<Row> {
    vec![
        row("200", || serve(status("200 OK")), &[], None),
        row("201", || serve(status("201 Created")), &[], Some(&["GET http://127.0.0.1:", "/healthz: 201 Created, expected 200"])),
        row("204", || serve(status("204 No Content")), &[], Some(&["204 No Content, expected 200"])),
        row("204 listed", || serve(status("204 No Content")), &["--expect-status", "200,204"], None),
        row("2xx range", || serve(status("226 IM Used")), &["--expect-status", "200-299"], None),
        row("301", || serve(redirect("301 Moved Permanently", "/healthz/")), &[], Some(&["301 Moved Permanently to /healthz/", "not followed", "APPEND_SLASH"])),
        row("302", || serve(redirect("302 Found", "/accounts/login/?next=/healthz")), &[], Some(&["302 Found to /accounts/login/?next=/healthz"])),
        row("307", || serve(redirect("307 Temporary Redirect", "/elsewhere")), &[], Some(&["307 Temporary Redirect to /elsewhere"])),
        row("308 to https", || serve(redirect("308 Permanent Redirect", "https://example.com/healthz")), &[], Some(&["308 Permanent Redirect to https://example.com/healthz", "X-Forwarded-Proto"])),
        row("301 listed is healthy, not followed", || serve(redirect("301 Moved Permanently", "http://127.0.0.1:1/")), &["--expect-status", "301"], None),
        row("2xx range does not take 3xx", || serve(redirect("302 Found", "/x")), &["--expect-status", "200-299"], Some(&["302 Found to /x"])),
        row("404", || serve(status_body("404 Not Found", "<h1>Not Found</h1>\n")), &[], Some(&["404 Not Found: <h1>Not Found</h1>"])),
        row("500", || serve(status("500 Internal Server Error")), &[], Some(&["500 Internal Server Error"])),
        row(
            "503 with body excerpt",
            || serve(status_body("503 Service Unavailable", r#"{"status": "error", "checks": {"database": "unavailable"}}"#)),
            &[],
            Some(&[r#"503 Service Unavailable: {"status": "error", "checks": {"database": "unavailable"}}"#]),
        ),
        row("503 long body is cut", || serve(status_body("503 Service Unavailable", LONG_BODY)), &[], Some(&["503 Service Unavailable: lorem", "…"])),
        row("400 hints at ALLOWED_HOSTS", || serve(status_body("400 Bad Request", "<h1>Bad Request (400)</h1>")), &[], Some(&["400 Bad Request", "ALLOWED_HOSTS"])),
        row(
            "control characters are escaped",
            || serve(status_body("500 Internal Server Error", "bad\x1b[31m\x07\rstuff\x00")),
            &[],
            Some(&[r"bad\u{1b}[31m\u{7} stuff\u{0}"]),
        ),
        row(
            "HEAD",
            || serve(|s, r| if r.method == "HEAD" { let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n"); } else { reply(s, "405 Method Not Allowed", &[], "") }),
            &["-X", "HEAD"],
            None,
        ),
        row("HEAD 503", || serve(|s, _| { let _ = s.write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 5000\r\n\r\n"); }), &["-X", "HEAD"], Some(&["HEAD http://", "503 Service Unavailable"])),
        row("HTTP/1.0 close-delimited", || serve(raw(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nall good")), &["--expect-body", "good"], None),
        row("HTTP/1.0 503 close-delimited excerpt", || serve(raw(b"HTTP/1.0 503 Service Unavailable\r\n\r\ndb down")), &[], Some(&["503 Service Unavailable: db down"])),
        row(
            "chunked body checked",
            || serve(raw(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"ok\"\r\n3\r\n: 1\r\n1\r\n}\r\n0\r\n\r\n")),
            &["--expect-body", "\"ok\": 1}"],
            None,
        ),
        row("chunked 503 excerpt is decoded", || serve(raw(b"HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n4\r\ndown\r\n0\r\n\r\n")), &[], Some(&["503 Service Unavailable: down"])),
        row("100 Continue then 200", || serve(raw(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")), &[], None),
        row("body check passes", || serve(status_body("200 OK", r#"{"status": "ok", "checks": {"database": "ok"}}"#)), &["--expect-body", r#""database": "ok""#], None),
        row(
            "body check fails",
            || serve(status_body("200 OK", r#"{"status": "ok"}"#)),
            &["--expect-body", "database"],
            Some(&[r#"200 OK but the body does not contain 'database' (16 bytes read): {"status": "ok"}"#]),
        ),
        row("wrong status wins over the body check", || serve(status_body("503 Service Unavailable", "database")), &["--expect-body", "database"], Some(&["503 Service Unavailable"])),
        row("closed without a response", || serve(|s, _| { let _ = s.shutdown(Shutdown::Both); }), &[], Some(&["closed before a complete response"])),
        row("reset", || serve_raw(reset), &[], Some(&["reset"])),
        row("garbage", || serve(raw(b"\x00\x01\x02 garbage garbage\r\n\r\n")), &[], Some(&["not a valid HTTP response"])),
        row("truncated status line", || serve(raw(b"HTTP/1.1 20")), &[], Some(&["healthprobe: GET"])),
        row("status 2000", || serve(raw(b"HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n")), &[], Some(&["not a valid HTTP response"])),
        row("status 099", || serve(raw(b"HTTP/1.1 099 Odd\r\nContent-Length: 0\r\n\r\n")), &[], Some(&["not a valid HTTP response"])),
        row("endless headers", || serve(endless_headers(Duration::ZERO)), &["-t", "5s"], Some(&["response headers larger than"])),
        row("one huge header", || serve(raw_owned(format!("HTTP/1.1 200 OK\r\nX-Big: {}\r\n\r\n", "b".repeat(20_000)))), &[], Some(&["response headers larger than"])),
        row("endless body is healthy without reading it", || serve(endless_body), &[], None),
        row(
            "endless body with a body check reads 64 KiB",
            || serve(endless_body),
            &["--expect-body", "needle"],
            Some(&["does not contain 'needle' (first 65536 bytes read): xxxx", "…"]),
        ),
    ]
}

const LONG_BODY: &str = "lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat. Duis aute irure dolor in reprehenderit in voluptate velit esse cillum dolore eu fugiat nulla pariatur.";

fn raw_owned(bytes: String) -> impl Fn(&mut TcpStream, &Request) + Send + Sync {
    move |s, _| {
        let _ = s.write_all(bytes.as_bytes());
    }
}

/// Closing a socket with unread input makes the kernel send RST.
fn reset(s: &mut TcpStream, _: &Request) {
    let mut buf = [0u8; 1];
    let _ = s.peek(&mut buf);
}

#[test]
fn behaviour_table() {
    for row in behaviours() {
        let server = (row.server)();
        let url = server.url(row.path);
        let mut args: Vec<&str> = row.args.to_vec();
        args.push(&url);
        let r = probe(&args);
        match row.fails {
            None => assert_healthy(&r, row.name),
            Some(words) => assert_fails(&r, words, row.name),
        }
        assert!(r.elapsed < Duration::from_secs(2), "{}: took {:?}", row.name, r.elapsed);
        assert_eq!(server.connections(), 1, "{}: exactly one connection", row.name);
        assert!(r.stderr.len() <= 512, "{}: line too long: {}", row.name, r.stderr.len());
    }
}

#[test]
fn request_is_what_was_asked() {
    let server = serve(status("200 OK"));
    let url = server.url("/readyz?full=1");
    let r = probe(&["-H", "Host: app.example.com", "-H", "X-Forwarded-Proto: https", &url]);
    assert_healthy(&r, "headers");
    let req = &server.requests()[0];
    assert_eq!((req.method.as_str(), req.path.as_str()), ("GET", "/readyz?full=1"));
    assert_eq!(req.header("host"), ["app.example.com"], "Host replaced, not added");
    assert_eq!(req.header("x-forwarded-proto"), ["https"]);
    assert!(req.header("user-agent")[0].starts_with("healthprobe/"));
    assert!(req.header("accept-encoding").is_empty(), "no compression asked for");

    let server = serve(status("200 OK"));
    let url = server.url("/healthz");
    assert_healthy(&probe(&[&url]), "default Host");
    assert_eq!(server.requests()[0].header("host"), [server.addr.to_string().as_str()]);
}

#[test]
fn bad_header_sends_nothing() {
    let server = serve(status("200 OK"));
    let url = server.url("/healthz");
    // (A NUL cannot pass through exec; the unit tests cover it.)
    for bad in ["X-A: b\r\nX-Evil: 1", "X-A: b\nc", "X-A\r: b"] {
        let r = probe(&["-H", bad, &url]);
        assert_fails(&r, &["CR, LF or NUL", "see --help"], bad);
    }
    assert_eq!(server.connections(), 0, "nothing may be sent");
}

#[test]
fn refused() {
    let port = free_port();
    let r = probe(&[&format!("http://127.0.0.1:{port}/healthz")]);
    assert_fails(&r, &[&format!("connection refused: nothing is listening on 127.0.0.1:{port}")], "refused");
    let r = probe(&[&format!("http://localhost:{port}/healthz")]);
    assert_fails(&r, &["connection refused", &format!("localhost:{port}")], "refused on both loopbacks");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn localhost_reaches_v4_only_and_v6_only() {
    let v4 = serve(status("200 OK"));
    assert_healthy(&probe(&[&format!("http://localhost:{}/healthz", v4.port())]), "v4-only");
    let v6 = serve_v6_only(status("200 OK"));
    assert_healthy(&probe(&[&format!("http://localhost:{}/healthz", v6.port())]), "v6-only");
    assert_healthy(&probe(&[&format!("http://app.localhost:{}/healthz", v6.port())]), "*.localhost");
    assert_healthy(&probe(&[&format!("http://[::1]:{}/healthz", v6.port())]), "IPv6 literal");
    assert_eq!(v6.requests()[2].header("host"), [format!("[::1]:{}", v6.port()).as_str()]);
}

#[test]
fn proxy_variables_are_ignored() {
    let trap = serve(status("200 OK"));
    let server = serve(status("200 OK"));
    let proxy = trap.url("");
    let env: Vec<(&str, &str)> = ["ALL_PROXY", "all_proxy", "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"]
        .iter()
        .map(|k| (*k, proxy.as_str()))
        .collect();
    assert_healthy(&probe_env(&[&server.url("/healthz")], &env), "proxy set");
    assert_eq!(trap.connections(), 0, "the proxy trap was contacted");
    assert_eq!(server.connections(), 1);
}

#[test]
fn environment_variables() {
    let server = serve(status("200 OK"));
    let port = server.port().to_string();
    assert_healthy(&probe_env(&[], &[("PORT", &port)]), "PORT with the default /healthz");
    assert_healthy(&probe_env(&["/readyz"], &[("PORT", &port)]), "PORT with a bare path");
    assert_healthy(&probe_env(&[], &[("HEALTHPROBE_URL", &server.url("/up"))]), "HEALTHPROBE_URL");
    assert_healthy(&probe_env(&[], &[("HEALTHPROBE_URL", "/live"), ("PORT", &port)]), "HEALTHPROBE_URL bare path");
    let paths: Vec<String> = server.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(paths, ["/healthz", "/readyz", "/up", "/live"]);
    // The flag wins over the variable.
    let elsewhere = format!("http://127.0.0.1:{}/nope", free_port());
    assert_healthy(&probe_env(&[&server.url("/flag")], &[("HEALTHPROBE_URL", &elsewhere)]), "URL beats HEALTHPROBE_URL");

    let r = probe_env(&[], &[("PORT", "eighty")]);
    assert_fails(&r, &["PORT=eighty is not a port number"], "bad PORT");
    let r = probe_env(&[], &[("HEALTHPROBE_TIMEOUT", "-1")]);
    assert_fails(&r, &["HEALTHPROBE_TIMEOUT='-1'"], "bad HEALTHPROBE_TIMEOUT");
    let r = probe_env(&[], &[("HEALTHPROBE_URL", "gopher://x/")]);
    assert_fails(&r, &["HEALTHPROBE_URL 'gopher://x/'", "scheme"], "bad HEALTHPROBE_URL");
}

#[test]
fn timeout_from_environment_and_flag() {
    let _t = timing();
    let server = serve(blackhole);
    let url = server.url("/healthz");
    let r = probe_env(&[&url], &[("HEALTHPROBE_TIMEOUT", "300ms")]);
    assert_fails(&r, &["no complete response headers within 300ms"], "HEALTHPROBE_TIMEOUT");
    assert_between(r.elapsed, ms(300), ms(450), "HEALTHPROBE_TIMEOUT");
    let r = probe_env(&["-t", "0.4", &url], &[("HEALTHPROBE_TIMEOUT", "9s")]);
    assert_between(r.elapsed, ms(400), ms(550), "-t wins over HEALTHPROBE_TIMEOUT");
}

#[test]
fn deadline_blackhole() {
    let _t = timing();
    let server = serve(blackhole);
    let r = probe(&["-t", "500ms", &server.url("/healthz")]);
    assert_fails(&r, &["connected, but no complete response headers within 500ms"], "blackhole");
    assert_between(r.elapsed, ms(500), ms(650), "blackhole");
}

#[test]
fn deadline_dribble() {
    let _t = timing();
    let server = serve(dribble);
    let r = probe(&["-t", "700ms", &server.url("/healthz")]);
    assert_fails(&r, &["within 700ms"], "dribble");
    assert_between(r.elapsed, ms(700), ms(850), "dribble");
}

#[test]
fn deadline_slow_endless_headers() {
    let _t = timing();
    let server = serve(endless_headers(ms(20)));
    let r = probe(&["-t", "600ms", &server.url("/healthz")]);
    assert_fails(&r, &["within 600ms"], "slow endless headers");
    assert_between(r.elapsed, ms(600), ms(750), "slow endless headers");
}

#[test]
fn deadline_covers_a_checked_body() {
    let _t = timing();
    let server = serve(|s, _| {
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n");
        dribble(s, &Request::default());
    });
    let r = probe(&["-t", "500ms", "--expect-body", "never", &server.url("/healthz")]);
    assert_fails(&r, &["body not complete within 500ms"], "slow body");
    assert_between(r.elapsed, ms(500), ms(650), "slow body");
}

#[test]
fn wait_until_ready() {
    let _t = timing();
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let server = serve(move |s, _| {
        if seen.fetch_add(1, Ordering::SeqCst) < 3 {
            reply(s, "503 Service Unavailable", &[], "starting")
        } else {
            reply(s, "200 OK", &[], "ok")
        }
    });
    let r = probe(&["--wait", "10s", "--interval", "100ms", "-v", &server.url("/readyz")]);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(r.stderr.contains("healthy after") && r.stderr.contains("(4 attempts): 200 OK"), "{r:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    assert_between(r.elapsed, ms(300), ms(1000), "three 100 ms pauses");
}

#[test]
fn wait_for_a_server_that_starts_late() {
    let _t = timing();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let url = format!("http://{addr}/healthz");
    let start = Instant::now();
    let probe_thread = thread::spawn(move || probe(&["--wait", "10s", "--interval", "50ms", &url]));
    // The delay is the point of this test: the app is not up yet.
    thread::sleep(ms(600));
    let server = serve_on(TcpListener::bind(addr).unwrap(), status("200 OK"));
    let r = probe_thread.join().unwrap();
    assert_healthy(&r, "late server");
    assert!(start.elapsed() >= ms(600));
    assert_between(r.elapsed, ms(550), ms(1000), "late server");
    assert_eq!(server.connections(), 1);
}

#[test]
fn wait_gives_up_at_its_deadline() {
    let _t = timing();
    let port = free_port();
    let r = probe(&["--wait", "1s", "--interval", "300ms", &format!("http://127.0.0.1:{port}/healthz")]);
    assert_fails(&r, &["still unhealthy after 1", "attempts); last: connection refused"], "wait refused");
    assert_between(r.elapsed, ms(1000), ms(1150), "wait refused");

    // An attempt is cut short by what is left of the wait.
    let server = serve(blackhole);
    let r = probe(&["--wait", "1200ms", "-t", "5s", &server.url("/healthz")]);
    assert_fails(&r, &["still unhealthy after 1.2", "(1 attempt); last: connected, but no complete response headers within 1.2s"], "wait blackhole");
    assert_between(r.elapsed, ms(1200), ms(1350), "wait blackhole");

    // Each attempt is bounded by -t.
    let r = probe(&["--wait", "1s", "-t", "300ms", "--interval", "50ms", &server.url("/healthz")]);
    assert_fails(&r, &["still unhealthy after 1", "last: connected, but no complete response headers within"], "wait -t");
    assert_between(r.elapsed, ms(1000), ms(1150), "wait -t");
    assert!(server.connections() >= 4, "several attempts: {}", server.connections());
}

#[test]
fn sigterm_and_sigint_exit_1_promptly() {
    let _t = timing();
    for signal in ["TERM", "INT", "HUP"] {
        let server = serve(blackhole);
        let mut cmd = Command::new(bin());
        cmd.args(["-t", "20s", &server.url("/healthz")]).stdout(Stdio::null()).stderr(Stdio::piped());
        let child = cmd.spawn().unwrap();
        let pid = child.id().to_string();
        server.wait_for_connection();
        let sent = Instant::now();
        let kill = Command::new("kill").args([&format!("-{signal}"), &pid]).status().unwrap();
        assert!(kill.success());
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(1), "SIG{signal}: {out:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("stopped by a signal"));
        assert_between(sent.elapsed(), Duration::ZERO, ms(100), "signal");
    }
}

#[test]
fn output_modes() {
    let ok = serve(status("200 OK"));
    let r = probe(&["-v", &ok.url("/healthz")]);
    assert_eq!(r.code, Some(0));
    assert_eq!(r.stderr, format!("healthprobe: GET {}: 200 OK\n", ok.url("/healthz")));
    assert_eq!(r.stdout, "");
    let bad = serve(status("503 Service Unavailable"));
    let r = probe(&["-q", &bad.url("/healthz")]);
    assert_eq!((r.code, r.stdout.as_str(), r.stderr.as_str()), (Some(1), "", ""));

    let r = probe(&["--help"]);
    assert_eq!(r.code, Some(0));
    assert!(r.stdout.starts_with("healthprobe: one HTTP request") && r.stdout.contains("--expect-status"));
    let r = probe(&["-V"]);
    assert_eq!(r.code, Some(0));
    assert!(r.stdout.starts_with("healthprobe 0.") && r.stdout.contains("-linux-") && r.stdout.contains("http"), "{r:?}");
}

#[test]
fn closed_stdout_and_stderr() {
    let bad = serve(status("503 Service Unavailable"));
    let ok = serve(status("200 OK"));
    let cases: [(&[&str], i32); 4] = [
        (&["--help"], 0),
        (&["-V"], 0),
        (&["-v", &ok.url("/")], 0),
        (&[&bad.url("/")], 1),
    ];
    for (args, code) in cases {
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg("exec \"$0\" \"$@\" >&- 2>&-").arg(bin()).args(args);
        let r = run(cmd);
        assert_eq!(r.code, Some(code), "{args:?} with closed stdout and stderr: {r:?}");
    }
}

#[test]
fn usage_errors_exit_1_with_one_line() {
    let cases: &[(&[&str], &str)] = &[
        (&["--bogus"], "unknown option '--bogus'"),
        (&["-t", "0"], "--timeout '0'"),
        (&["-t", "-2s"], "--timeout '-2s'"),
        (&["-t", "fast"], "not a duration"),
        (&["-t"], "-t needs a value"),
        (&["-X", "POST"], "only GET and HEAD"),
        (&["-H", "no colon"], "Name: value"),
        (&["--expect-status", "2000"], "not an HTTP status"),
        (&["--expect-status", "abc"], "not an HTTP status"),
        (&["--wait", "soon"], "--wait 'soon'"),
        (&["--interval", "1s"], "needs --wait"),
        (&["-q", "-v"], "--quiet with --verbose"),
        (&["https://127.0.0.1/healthz"], "no TLS"),
        (&["-k"], "TLS build"),
        (&["--cacert", "/etc/ssl/ca.pem"], "TLS build"),
        (&["ftp://x/"], "scheme 'ftp'"),
        (&["localhost:8000"], "not a URL"),
        (&["http://[::1/"], "closing ']'"),
        (&["http://h:70000/"], "port '70000'"),
        (&["/a", "/b"], "only one URL"),
        (&["http://user:pw@127.0.0.1/"], "credentials"),
    ];
    for (args, words) in cases {
        let r = probe(args);
        assert_fails(&r, &[words, "(see --help)"], &format!("{args:?}"));
        assert_eq!(r.stdout, "");
    }
}

#[test]
fn a_panic_exits_1() {
    let r = probe(&["--panic-for-tests"]);
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(r.stderr.contains("internal error"), "{r:?}");
}

#[test]
fn empty_root_resolves_localhost() {
    // Only a static binary runs alone in an empty root.
    let Some(bin) = std::env::var_os("HEALTHPROBE_BIN") else {
        eprintln!("empty_root_resolves_localhost: needs HEALTHPROBE_BIN (the static build); skipped");
        return;
    };
    let root = std::env::temp_dir().join(format!("healthprobe-root-{}", std::process::id()));
    std::fs::create_dir_all(&root).unwrap();
    std::fs::copy(&bin, root.join("healthprobe")).unwrap();
    let v4 = serve(status("200 OK"));
    let v6 = serve_v6_only(status("200 OK"));
    for (server, what) in [(&v4, "v4"), (&v6, "v6")] {
        let url = format!("http://localhost:{}/healthz", server.port());
        let mut cmd = Command::new("unshare");
        cmd.args(["-r", "chroot"]).arg(&root).args(["/healthprobe", &url]);
        cmd.env_clear().env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
        let r = run(cmd);
        assert_healthy(&r, &format!("empty root, {what}"));
        assert_eq!(server.connections(), 1, "{what}");
    }
    std::fs::remove_dir_all(&root).unwrap();
}
