//! Deadline windows: the real binary against servers that answer too late
//! or never, over TCP, Unix sockets and (with `--features tls`) TLS, and
//! `--wait`'s timing. Each asserts a lower and an upper bound, so each needs
//! a machine that is not saturated: they are `#[ignore]`d in plain `cargo
//! test` and run by `make test-reliability` (and under qemu by `make
//! test-qemu`), one at a time.

mod common;

use std::net::TcpListener;
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::*;

// -------------------------------------------------------------------- TCP

#[test]
#[ignore = "timing window: make test-reliability"]
fn timeout_from_environment_and_flag() {
    let _t = timing();
    let server = Server::tcp(blackhole());
    let url = server.url("/healthz");
    let r = probe_env(&[&url], &[("HEALTHPROBE_TIMEOUT", "300ms")]);
    assert_fails(&r, &["no complete response headers within 300ms"], "HEALTHPROBE_TIMEOUT");
    assert_at_deadline(r.elapsed, ms(300), "HEALTHPROBE_TIMEOUT");
    let r = probe_env(&["-t", "0.4", &url], &[("HEALTHPROBE_TIMEOUT", "9s")]);
    assert_at_deadline(r.elapsed, ms(400), "-t wins over HEALTHPROBE_TIMEOUT");
}

#[test]
#[ignore = "timing window: make test-reliability"]
fn deadline_blackhole() {
    let _t = timing();
    let server = Server::tcp(blackhole());
    let r = probe(&["-t", "500ms", &server.url("/healthz")]);
    assert_fails(&r, &["connected, but no complete response headers within 500ms"], "blackhole");
    assert_at_deadline(r.elapsed, ms(500), "blackhole");
}

#[test]
#[ignore = "timing window: make test-reliability"]
fn deadline_dribble() {
    let _t = timing();
    let server = Server::tcp(dribble(ms(100)));
    let r = probe(&["-t", "700ms", &server.url("/healthz")]);
    assert_fails(&r, &["within 700ms"], "dribble");
    assert_at_deadline(r.elapsed, ms(700), "dribble");
}

#[test]
#[ignore = "timing window: make test-reliability"]
fn deadline_slow_endless_headers() {
    let _t = timing();
    let server = Server::tcp(endless_headers(ms(20)));
    let r = probe(&["-t", "600ms", &server.url("/healthz")]);
    assert_fails(&r, &["within 600ms"], "slow endless headers");
    assert_at_deadline(r.elapsed, ms(600), "slow endless headers");
}

#[test]
#[ignore = "timing window: make test-reliability"]
fn deadline_covers_a_checked_body() {
    let _t = timing();
    let server = Server::tcp(dribbled_body(ms(100)));
    let r = probe(&["-t", "500ms", "--expect-body", "never", &server.url("/healthz")]);
    assert_fails(&r, &["body not complete within 500ms"], "slow body");
    assert_at_deadline(r.elapsed, ms(500), "slow body");
}

#[test]
#[ignore = "timing window: make test-reliability"]
fn wait_until_ready() {
    let _t = timing();
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let server = Server::tcp(Behaviour::new(move |c, _| {
        if seen.fetch_add(1, Ordering::SeqCst) < 3 {
            c.reply("503 Service Unavailable", &[], "starting")
        } else {
            c.reply("200 OK", &[], "ok")
        }
    }));
    let r = probe(&["--wait", "10s", "--interval", "100ms", "-v", &server.url("/readyz")]);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(r.stderr.contains("healthy after") && r.stderr.contains("(4 attempts): 200 OK"), "{r:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    assert_between(r.elapsed, ms(300), ms(1000), "three 100 ms pauses");
}

#[test]
#[ignore = "timing window: make test-reliability"]
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
    let server = Server::on(TcpListener::bind(addr).unwrap(), answer("200 OK"));
    let r = probe_thread.join().unwrap();
    assert_healthy(&r, "late server");
    assert!(start.elapsed() >= ms(600));
    assert_between(r.elapsed, ms(550), ms(1000), "late server");
    assert_eq!(server.connections(), 1);
}

#[test]
#[ignore = "timing window: make test-reliability"]
fn wait_gives_up_at_its_deadline() {
    let _t = timing();
    let port = free_port();
    let r = probe(&["--wait", "1s", "--interval", "300ms", &format!("http://127.0.0.1:{port}/healthz")]);
    assert_fails(&r, &["still unhealthy after 1", "attempts); last: connection refused"], "wait refused");
    assert_at_deadline(r.elapsed, ms(1000), "wait refused");

    // An attempt is cut short by what is left of the wait.
    let server = Server::tcp(blackhole());
    let r = probe(&["--wait", "1200ms", "-t", "5s", &server.url("/healthz")]);
    assert_fails(
        &r,
        &["still unhealthy after 1.2", "(1 attempt); last: connected, but no complete response headers within 1.2s"],
        "wait blackhole",
    );
    assert_at_deadline(r.elapsed, ms(1200), "wait blackhole");

    // Each attempt is bounded by -t.
    let r = probe(&["--wait", "1s", "-t", "300ms", "--interval", "50ms", &server.url("/healthz")]);
    assert_fails(
        &r,
        &["still unhealthy after 1", "last: connected, but no complete response headers within"],
        "wait -t",
    );
    assert_at_deadline(r.elapsed, ms(1000), "wait -t");
    assert!(server.connections() >= 4, "several attempts: {}", server.connections());
}

#[test]
#[ignore = "signal timing: make test-reliability"]
fn sigterm_and_sigint_exit_1_promptly() {
    let _t = timing();
    for (signal, name) in [(libc::SIGTERM, "TERM"), (libc::SIGINT, "INT"), (libc::SIGHUP, "HUP")] {
        let server = Server::tcp(blackhole());
        let child = probe_command(&["-t", "20s", &server.url("/healthz")]).spawn().unwrap();
        let pid = child.id();
        server.wait_for_connection();
        let sent = Instant::now();
        kill(pid, signal);
        let r = finish(child, sent, HANG);
        assert_eq!(r.code, Some(1), "SIG{name}: {r:?}");
        assert!(r.stderr.contains("stopped by a signal"), "SIG{name}: {r:?}");
        assert_between(r.elapsed, Duration::ZERO, SIGNAL_BOUND, "signal");
    }
}

// ------------------------------------------------------------ Unix sockets

#[test]
#[ignore = "timing window: make test-reliability"]
fn unix_deadline_blackhole() {
    let _t = timing();
    let server = Server::unix(blackhole());
    let r = probe(&["-t", "500ms", "--unix-socket", server.path(), "http://localhost/healthz"]);
    assert_fails(
        &r,
        &[&format!("via unix:{}", server.path()), "connected, but no complete response headers within 500ms"],
        "blackhole",
    );
    assert_at_deadline(r.elapsed, ms(500), "blackhole");
}

#[test]
#[ignore = "timing window: make test-reliability"]
fn unix_listener_that_never_accepts_fails_at_the_deadline() {
    let _t = timing();
    let dir = TempDir::new("unix-busy");
    let path = dir.path("busy.sock");
    let _listener = UnixListener::bind(&path).unwrap();
    let url = "http://localhost/healthz";
    // Queued on the backlog, never accepted: connect succeeds, nothing answers.
    let r = probe(&["-t", "500ms", "--unix-socket", &path, url]);
    assert_fails(&r, &["connected, but no complete response headers within 500ms"], "never accepted");
    assert_at_deadline(r.elapsed, ms(500), "never accepted");

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
    assert_at_deadline(r.elapsed, ms(500), "full backlog");
}

#[test]
#[ignore = "timing window: make test-reliability"]
fn unix_wait_for_a_socket_that_appears() {
    let _t = timing();
    let dir = TempDir::new("unix-late");
    let path = dir.path("late.sock");
    let probe_path = path.clone();
    let probe_thread = thread::spawn(move || {
        probe(&["--wait", "10s", "--interval", "50ms", "--unix-socket", &probe_path, "http://localhost/healthz"])
    });
    // The delay is the point of this test: the app is not up yet.
    thread::sleep(ms(400));
    let server = Server::unix_at(&path, answer("200 OK"));
    let r = probe_thread.join().unwrap();
    assert_healthy(&r, "late socket");
    assert_between(r.elapsed, ms(350), ms(1000), "late socket");
    assert_eq!(server.connections(), 1);
}

// -------------------------------------------------------------------- TLS

#[cfg(feature = "tls")]
mod tls {
    use super::common::certs::{certs, server_config};
    use super::common::*;

    #[test]
    #[ignore = "timing window: make test-reliability"]
    fn handshake_blackhole_fails_at_the_deadline() {
        let _t = timing();
        // Plain TCP that never answers: the handshake never completes.
        let server = Server::tcp(blackhole());
        let url = server.https("localhost", "/healthz");
        let r = probe(&["-t", "500ms", "--cacert", &certs().ca(), &url]);
        assert_fails(&r, &["connected, but the TLS handshake did not finish within 500ms"], "handshake blackhole");
        assert_at_deadline(r.elapsed, ms(500), "handshake blackhole");
    }

    #[test]
    #[ignore = "timing window: make test-reliability"]
    fn response_blackhole_after_the_handshake_fails_at_the_deadline() {
        let _t = timing();
        // Holds the session open, answering nothing.
        let server = Server::tls(server_config("good"), Behaviour::new(|c, _| c.drain()));
        let url = server.https("localhost", "/healthz");
        let r = probe(&["-t", "500ms", "--cacert", &certs().ca(), &url]);
        assert_fails(&r, &["connected, but no complete response headers within 500ms"], "TLS blackhole");
        assert_at_deadline(r.elapsed, ms(500), "TLS blackhole");
    }
}
