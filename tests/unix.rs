//! `--unix-socket`: the real binary against servers on Unix sockets made
//! here, one behaviour a row, and the paths that are not a listening socket.
//! (The deadline windows over Unix sockets are in tests/deadlines.rs.)

mod common;

use std::os::unix::net::UnixListener;
use std::time::Duration;

use common::*;

type Row = (&'static str, Behaviour, &'static [&'static str], Option<&'static [&'static str]>);

#[test]
fn behaviour_table() {
    let rows: Vec<Row> = vec![
        ("200", answer("200 OK"), &[], None),
        (
            "503 with body excerpt",
            answer_body("503 Service Unavailable", r#"{"status": "error", "checks": {"database": "unavailable"}}"#),
            &[],
            Some(&[r#"503 Service Unavailable: {"status": "error", "checks": {"database": "unavailable"}}"#]),
        ),
        (
            "301 not followed",
            redirect("301 Moved Permanently", "/readyz/"),
            &[],
            Some(&["301 Moved Permanently to /readyz/", "not followed", "APPEND_SLASH"]),
        ),
        ("redirect listed is healthy", redirect("302 Found", "/elsewhere"), &["--expect-status", "302"], None),
        ("body check", answer_body("200 OK", r#"{"status": "ok"}"#), &["--expect-body", r#""ok""#], None),
        (
            "body check fails",
            answer_body("200 OK", r#"{"status": "ok"}"#),
            &["--expect-body", "database"],
            Some(&["does not contain 'database'"]),
        ),
        ("HEAD", answer("200 OK"), &["-X", "HEAD"], None),
    ];
    for (name, behaviour, args, fails) in rows {
        let server = Server::unix(behaviour);
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--unix-socket", server.path(), "http://localhost/readyz"]);
        let r = probe(&all);
        match fails {
            None => assert_healthy(&r, name),
            Some(words) => {
                assert_fails(&r, words, name);
                let subject = format!("GET http://localhost/readyz via unix:{}: ", server.path());
                assert!(r.stderr.contains(&subject), "{name}: {:?} should name the socket", r.stderr);
            }
        }
        assert!(r.elapsed < Duration::from_secs(2) + slack(), "{name}: took {:?}", r.elapsed);
        assert_eq!(server.connections(), 1, "{name}: exactly one connection");
        assert_eq!(server.requests()[0].path, "/readyz", "{name}");
    }
}

#[test]
fn host_header_comes_from_the_url() {
    let server = Server::unix(answer("200 OK"));
    let socket = server.path();
    assert_healthy(&probe(&["--unix-socket", socket, "http://app.example.com/readyz?full=1"]), "name");
    assert_healthy(&probe(&["--unix-socket", socket, "http://localhost:8000/healthz"]), "with port");
    assert_healthy(
        &probe(&["--unix-socket", socket, "-H", "Host: api.internal", "http://localhost/healthz"]),
        "-H Host",
    );
    let requests = server.requests();
    assert_eq!(requests[0].header("host"), ["app.example.com"]);
    assert_eq!(requests[0].path, "/readyz?full=1");
    assert_eq!(requests[1].header("host"), ["localhost:8000"]);
    assert_eq!(requests[2].header("host"), ["api.internal"], "Host replaced, not added");
    assert!(requests[0].header("user-agent")[0].starts_with("healthprobe/"));
}

#[test]
fn a_name_that_does_not_resolve_is_not_looked_up() {
    // With a socket, the host is only the Host header: there may be no DNS.
    let server = Server::unix(answer("200 OK"));
    let r = probe(&["--unix-socket", server.path(), "http://app.invalid/healthz"]);
    assert_healthy(&r, "unresolvable host over a socket");
    assert_eq!(server.requests()[0].header("host"), ["app.invalid"]);
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
        (
            "missing directory",
            "/nonexistent-healthprobe/app.sock",
            "/nonexistent-healthprobe/app.sock does not exist".into(),
        ),
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
