//! `--unix-socket`: the real binary against servers on Unix sockets made
//! here, one behaviour a row, and the paths that are not a listening socket.

mod common;

use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use common::*;

type Handler = dyn Fn(&mut UnixStream, &Request) + Send + Sync;

struct Server {
    _dir: TempDir,
    path: String,
    requests: Arc<Mutex<Vec<Request>>>,
    connections: Arc<AtomicUsize>,
}

/// Every connection gets its own thread, so a blackhole holds only itself.
fn serve(handler: impl Fn(&mut UnixStream, &Request) + Send + Sync + 'static) -> Server {
    let dir = TempDir::new("unix");
    let path = dir.path("app.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let requests = Arc::new(Mutex::new(Vec::new()));
    let connections = Arc::new(AtomicUsize::new(0));
    let (reqs, conns) = (requests.clone(), connections.clone());
    let handler: Arc<Handler> = Arc::new(handler);
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            conns.fetch_add(1, Ordering::SeqCst);
            let (handler, reqs) = (handler.clone(), reqs.clone());
            thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                let Some(request) = read_request(&stream) else { return };
                reqs.lock().unwrap().push(request.clone());
                handler(&mut stream, &request);
            });
        }
    });
    Server { _dir: dir, path, requests, connections }
}

fn blackhole(s: &mut UnixStream, _: &Request) {
    common::drain(s);
}

type Row = (&'static str, Box<dyn Fn() -> Server>, &'static [&'static str], Option<&'static [&'static str]>);

fn row(
    name: &'static str,
    server: impl Fn() -> Server + 'static,
    args: &'static [&'static str],
    fails: Option<&'static [&'static str]>,
) -> Row {
    (name, Box::new(server), args, fails)
}

#[test]
fn behaviour_table() {
    let rows = vec![
        row("200", || serve(status("200 OK")), &[], None),
        row(
            "503 with body excerpt",
            || serve(status_body("503 Service Unavailable", r#"{"status": "error", "checks": {"database": "unavailable"}}"#)),
            &[],
            Some(&[r#"503 Service Unavailable: {"status": "error", "checks": {"database": "unavailable"}}"#]),
        ),
        row("301 not followed", || serve(redirect("301 Moved Permanently", "/readyz/")), &[], Some(&["301 Moved Permanently to /readyz/", "not followed", "APPEND_SLASH"])),
        row("redirect listed is healthy", || serve(redirect("302 Found", "/elsewhere")), &["--expect-status", "302"], None),
        row("body check", || serve(status_body("200 OK", r#"{"status": "ok"}"#)), &["--expect-body", r#""ok""#], None),
        row("body check fails", || serve(status_body("200 OK", r#"{"status": "ok"}"#)), &["--expect-body", "database"], Some(&["does not contain 'database'"])),
        row("HEAD", || serve(status("200 OK")), &["-X", "HEAD"], None),
    ];
    for (name, server, args, fails) in rows {
        let server = server();
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--unix-socket", &server.path, "http://localhost/readyz"]);
        let r = probe(&all);
        match fails {
            None => assert_healthy(&r, name),
            Some(words) => {
                assert_fails(&r, words, name);
                let subject = format!("GET http://localhost/readyz via unix:{}: ", server.path);
                assert!(r.stderr.contains(&subject), "{name}: {:?} should name the socket", r.stderr);
            }
        }
        assert!(r.elapsed < Duration::from_secs(2) + slack(), "{name}: took {:?}", r.elapsed);
        assert_eq!(server.connections.load(Ordering::SeqCst), 1, "{name}: exactly one connection");
        let req = &server.requests.lock().unwrap()[0];
        assert_eq!(req.path, "/readyz", "{name}");
    }
}

#[test]
fn host_header_comes_from_the_url() {
    let server = serve(status("200 OK"));
    let socket = server.path.as_str();
    assert_healthy(&probe(&["--unix-socket", socket, "http://app.example.com/readyz?full=1"]), "name");
    assert_healthy(&probe(&["--unix-socket", socket, "http://localhost:8000/healthz"]), "with port");
    assert_healthy(&probe(&["--unix-socket", socket, "-H", "Host: api.internal", "http://localhost/healthz"]), "-H Host");
    let requests = server.requests.lock().unwrap().clone();
    assert_eq!(requests[0].header("host"), ["app.example.com"]);
    assert_eq!(requests[0].path, "/readyz?full=1");
    assert_eq!(requests[1].header("host"), ["localhost:8000"]);
    assert_eq!(requests[2].header("host"), ["api.internal"], "Host replaced, not added");
    assert!(requests[0].header("user-agent")[0].starts_with("healthprobe/"));
}

#[test]
fn a_name_that_does_not_resolve_is_not_looked_up() {
    // With a socket, the host is only the Host header: there may be no DNS.
    let server = serve(status("200 OK"));
    let r = probe(&["--unix-socket", &server.path, "http://app.invalid/healthz"]);
    assert_healthy(&r, "unresolvable host over a socket");
    assert_eq!(server.requests.lock().unwrap()[0].header("host"), ["app.invalid"]);
}

#[test]
fn deadline_blackhole() {
    let _t = timing();
    let server = serve(blackhole);
    let r = probe(&["-t", "500ms", "--unix-socket", &server.path, "http://localhost/healthz"]);
    assert_fails(&r, &[&format!("via unix:{}", server.path), "connected, but no complete response headers within 500ms"], "blackhole");
    assert_between(r.elapsed, ms(500), ms(650), "blackhole");
}

#[test]
fn a_listener_that_never_accepts_fails_at_the_deadline() {
    let _t = timing();
    let dir = TempDir::new("unix-busy");
    let path = dir.path("busy.sock");
    let _listener = UnixListener::bind(&path).unwrap();
    let url = "http://localhost/healthz";
    // Queued on the backlog, never accepted: connect succeeds, nothing answers.
    let r = probe(&["-t", "500ms", "--unix-socket", &path, url]);
    assert_fails(&r, &["connected, but no complete response headers within 500ms"], "never accepted");
    assert_between(r.elapsed, ms(500), ms(650), "never accepted");

    // A full backlog (an overloaded Gunicorn) makes connect(2) itself block.
    // Fill it from a thread until a connect stops returning.
    let (tx, rx) = std::sync::mpsc::channel();
    let fill_path = path.clone();
    thread::spawn(move || {
        while let Ok(s) = UnixStream::connect(&fill_path) {
            if tx.send(s).is_err() {
                return;
            }
        }
    });
    let mut queued = Vec::new();
    while let Ok(s) = rx.recv_timeout(ms(300)) {
        queued.push(s);
        assert!(queued.len() < 100_000, "the backlog never filled");
    }
    let r = probe(&["-t", "500ms", "--unix-socket", &path, url]);
    assert_fails(&r, &[&format!("via unix:{path}: no answer within 500ms")], "full backlog");
    assert_between(r.elapsed, ms(500), ms(650), "full backlog");
}

#[test]
fn wait_for_a_socket_that_appears() {
    let _t = timing();
    let dir = TempDir::new("unix-late");
    let path = dir.path("late.sock");
    let probe_path = path.clone();
    let probe_thread =
        thread::spawn(move || probe(&["--wait", "10s", "--interval", "50ms", "--unix-socket", &probe_path, "http://localhost/healthz"]));
    // The delay is the point of this test: the app is not up yet.
    thread::sleep(ms(400));
    let listener = UnixListener::bind(&path).unwrap();
    let (mut stream, _) = listener.accept().unwrap();
    read_request(&stream).unwrap();
    reply(&mut stream, "200 OK", &[], "");
    drop(stream);
    let r = probe_thread.join().unwrap();
    assert_healthy(&r, "late socket");
    assert_between(r.elapsed, ms(350), ms(1000), "late socket");
}

#[test]
fn paths_that_are_not_a_listening_socket_fail_at_once() {
    let dir = TempDir::new("unix-bad");
    let missing = dir.path("missing.sock");
    let file = dir.path("file.txt");
    std::fs::write(&file, "not a socket").unwrap();
    let stale = dir.path("stale.sock");
    drop(UnixListener::bind(&stale).unwrap());
    assert!(std::fs::metadata(&stale).is_ok(), "the stale socket file stays behind");
    let directory = dir.path("");
    let directory = directory.trim_end_matches('/');

    let cases: [(&str, &str, String); 5] = [
        ("missing path", &missing, format!("{missing} does not exist")),
        ("missing directory", "/nonexistent-healthprobe/app.sock", "/nonexistent-healthprobe/app.sock does not exist".into()),
        ("regular file", &file, format!("{file} is not a socket")),
        ("directory", directory, format!("{directory} is not a socket")),
        ("stale socket file", &stale, format!("connection refused: nothing is listening on {stale}")),
    ];
    for (what, path, words) in cases {
        let r = probe(&["-t", "5s", "--unix-socket", path, "http://localhost/healthz"]);
        assert_fails(&r, &[&format!("GET http://localhost/healthz via unix:{path}: "), &words], what);
        assert!(r.elapsed < ms(500) + slack(), "{what}: fails at once, took {:?}", r.elapsed);
    }
}
