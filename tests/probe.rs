//! Integration tests: the real binary against servers started here, on
//! loopback, one behaviour a row. No test here depends on timing; the
//! deadline windows are in tests/deadlines.rs.
//!
//! `HEALTHPROBE_BIN` names the binary to test (the static release build, or a
//! wrapper that runs a foreign one under qemu); without it, cargo's build.
//! `HEALTHPROBE_TEST_SLACK_MS` widens the upper time bounds for emulation.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

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
        row("200", || Server::tcp(answer("200 OK")), &[], None),
        // A 200 counts only whole, framed as HTTP/1.1 says.
        row(
            "200 with fewer bytes than Content-Length",
            || Server::tcp(raw(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nok")),
            &[],
            Some(&["connection closed before the whole body arrived"]),
        ),
        row(
            "200 chunked without its last chunk",
            || Server::tcp(raw(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n")),
            &["--expect-body", "ok"],
            Some(&["connection closed before the whole body arrived"]),
        ),
        row(
            "200 with a malformed chunk size",
            || Server::tcp(raw(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nok\r\n0\r\n\r\n")),
            &[],
            Some(&["not a valid HTTP response: chunk length"]),
        ),
        row(
            "Transfer-Encoding with Content-Length",
            || {
                Server::tcp(raw(
                    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n2\r\nok\r\n0\r\n\r\n",
                ))
            },
            &[],
            Some(&["framing cannot be trusted: Transfer-Encoding and Content-Length together"]),
        ),
        row(
            "Transfer-Encoding in HTTP/1.0",
            || Server::tcp(raw(b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n")),
            &[],
            Some(&["Transfer-Encoding in an HTTP/1.0 response"]),
        ),
        row(
            "a transfer coding never offered",
            || Server::tcp(raw(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n")),
            &[],
            Some(&["Transfer-Encoding 'gzip, chunked', which the probe never offered"]),
        ),
        row(
            "an unknown transfer coding",
            || Server::tcp(raw(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: foo\r\n\r\nok")),
            &[],
            Some(&["Transfer-Encoding 'foo'"]),
        ),
        row(
            "more than 128 header fields",
            || Server::tcp(raw(many_headers(130))),
            &[],
            Some(&["more than 128 response header fields"]),
        ),
        row("128 header fields", || Server::tcp(raw(many_headers(127))), &[], None),
        row(
            "201",
            || Server::tcp(answer("201 Created")),
            &[],
            Some(&["GET http://127.0.0.1:", "/healthz: 201 Created, expected 200"]),
        ),
        row("204", || Server::tcp(answer("204 No Content")), &[], Some(&["204 No Content, expected 200"])),
        row("204 listed", || Server::tcp(answer("204 No Content")), &["--expect-status", "200,204"], None),
        row("2xx range", || Server::tcp(answer("226 IM Used")), &["--expect-status", "200-299"], None),
        row(
            "301",
            || Server::tcp(redirect("301 Moved Permanently", "/healthz/")),
            &[],
            Some(&["301 Moved Permanently to /healthz/", "not followed", "APPEND_SLASH"]),
        ),
        row(
            "302",
            || Server::tcp(redirect("302 Found", "/accounts/login/?next=/healthz")),
            &[],
            Some(&["302 Found to /accounts/login/?next=/healthz"]),
        ),
        row(
            "307",
            || Server::tcp(redirect("307 Temporary Redirect", "/elsewhere")),
            &[],
            Some(&["307 Temporary Redirect to /elsewhere"]),
        ),
        row(
            "308 to https",
            || Server::tcp(redirect("308 Permanent Redirect", "https://example.com/healthz")),
            &[],
            Some(&["308 Permanent Redirect to https://example.com/healthz", "X-Forwarded-Proto"]),
        ),
        row(
            "301 listed is healthy, not followed",
            || Server::tcp(redirect("301 Moved Permanently", "http://127.0.0.1:1/")),
            &["--expect-status", "301"],
            None,
        ),
        row(
            "2xx range does not take 3xx",
            || Server::tcp(redirect("302 Found", "/x")),
            &["--expect-status", "200-299"],
            Some(&["302 Found to /x"]),
        ),
        row(
            "404",
            || Server::tcp(answer_body("404 Not Found", "<h1>Not Found</h1>\n")),
            &[],
            Some(&["404 Not Found: <h1>Not Found</h1>"]),
        ),
        row("500", || Server::tcp(answer("500 Internal Server Error")), &[], Some(&["500 Internal Server Error"])),
        row(
            "503 with body excerpt",
            || {
                Server::tcp(answer_body(
                    "503 Service Unavailable",
                    r#"{"status": "error", "checks": {"database": "unavailable"}}"#,
                ))
            },
            &[],
            Some(&[r#"503 Service Unavailable: {"status": "error", "checks": {"database": "unavailable"}}"#]),
        ),
        row(
            "503 long body is cut",
            || Server::tcp(answer_body("503 Service Unavailable", LONG_BODY)),
            &[],
            Some(&["503 Service Unavailable: lorem", "…"]),
        ),
        row(
            "400 hints at ALLOWED_HOSTS",
            || Server::tcp(answer_body("400 Bad Request", "<h1>Bad Request (400)</h1>")),
            &[],
            Some(&["400 Bad Request", "ALLOWED_HOSTS"]),
        ),
        row(
            "control characters are escaped",
            || Server::tcp(answer_body("500 Internal Server Error", "bad\x1b[31m\x07\rstuff\x00")),
            &[],
            Some(&[r"bad\u{1b}[31m\u{7} stuff\u{0}"]),
        ),
        row(
            "HEAD",
            || {
                Server::tcp(Behaviour::new(|c, r| {
                    if r.method == "HEAD" {
                        c.send(b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n");
                    } else {
                        c.reply("405 Method Not Allowed", &[], "")
                    }
                }))
            },
            &["-X", "HEAD"],
            None,
        ),
        row(
            "HEAD 503",
            || Server::tcp(raw(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 5000\r\n\r\n")),
            &["-X", "HEAD"],
            Some(&["HEAD http://", "503 Service Unavailable"]),
        ),
        row(
            "HTTP/1.0 close-delimited",
            || Server::tcp(raw(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nall good")),
            &["--expect-body", "good"],
            None,
        ),
        row(
            "HTTP/1.0 503 close-delimited excerpt",
            || Server::tcp(raw(b"HTTP/1.0 503 Service Unavailable\r\n\r\ndb down")),
            &[],
            Some(&["503 Service Unavailable: db down"]),
        ),
        row(
            "chunked body checked",
            || {
                Server::tcp(raw(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"ok\"\r\n3\r\n: 1\r\n1\r\n}\r\n0\r\n\r\n"))
            },
            &["--expect-body", "\"ok\": 1}"],
            None,
        ),
        row(
            "chunked 503 excerpt is decoded",
            || {
                Server::tcp(raw(
                    b"HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n4\r\ndown\r\n0\r\n\r\n",
                ))
            },
            &[],
            Some(&["503 Service Unavailable: down"]),
        ),
        row(
            "100 Continue then 200",
            || Server::tcp(raw(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")),
            &[],
            None,
        ),
        row(
            "body check passes",
            || Server::tcp(answer_body("200 OK", r#"{"status": "ok", "checks": {"database": "ok"}}"#)),
            &["--expect-body", r#""database": "ok""#],
            None,
        ),
        row(
            "body check fails",
            || Server::tcp(answer_body("200 OK", r#"{"status": "ok"}"#)),
            &["--expect-body", "database"],
            Some(&[r#"200 OK but the body does not contain 'database' (16 bytes read): {"status": "ok"}"#]),
        ),
        row(
            "wrong status wins over the body check",
            || Server::tcp(answer_body("503 Service Unavailable", "database")),
            &["--expect-body", "database"],
            Some(&["503 Service Unavailable"]),
        ),
        row("closed without a response", || Server::tcp(close()), &[], Some(&["closed before a complete response"])),
        row("reset", || Server::tcp(reset()), &[], Some(&["reset"])),
        row(
            "garbage",
            || Server::tcp(raw(b"\x00\x01\x02 garbage garbage\r\n\r\n")),
            &[],
            Some(&["not a valid HTTP response"]),
        ),
        row("truncated status line", || Server::tcp(raw(b"HTTP/1.1 20")), &[], Some(&["healthprobe: GET"])),
        row(
            "status 2000",
            || Server::tcp(raw(b"HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n")),
            &[],
            Some(&["not a valid HTTP response"]),
        ),
        row(
            "status 099",
            || Server::tcp(raw(b"HTTP/1.1 099 Odd\r\nContent-Length: 0\r\n\r\n")),
            &[],
            Some(&["not a valid HTTP response"]),
        ),
        row(
            "endless headers",
            || Server::tcp(endless_headers(Duration::ZERO)),
            &["-t", "5s"],
            Some(&["response headers larger than"]),
        ),
        row(
            "one huge header",
            || Server::tcp(raw(format!("HTTP/1.1 200 OK\r\nX-Big: {}\r\n\r\n", "b".repeat(20_000)))),
            &[],
            Some(&["response headers larger than"]),
        ),
        row("endless body is healthy without reading it", || Server::tcp(endless_body()), &[], None),
        row(
            "endless body with a body check reads 64 KiB",
            || Server::tcp(endless_body()),
            &["--expect-body", "needle"],
            Some(&["does not contain 'needle' (first 65536 bytes read): xxxx", "…"]),
        ),
    ]
}

const LONG_BODY: &str = "lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat. Duis aute irure dolor in reprehenderit in voluptate velit esse cillum dolore eu fugiat nulla pariatur.";

/// A 200 with `n` header fields and Content-Length.
fn many_headers(n: usize) -> Vec<u8> {
    let fields: String = (0..n).map(|i| format!("X-Field-{i}: a\r\n")).collect();
    format!("HTTP/1.1 200 OK\r\n{fields}Content-Length: 2\r\n\r\nok").into_bytes()
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
        assert!(r.stderr.len() <= MAX_LINE, "{}: line too long: {}", row.name, r.stderr.len());
    }
}

#[test]
fn request_is_what_was_asked() {
    let server = Server::tcp(answer("200 OK"));
    let url = server.url("/readyz?full=1");
    let r = probe(&["-H", "Host: app.example.com", "-H", "X-Forwarded-Proto: https", &url]);
    assert_healthy(&r, "headers");
    let req = &server.requests()[0];
    assert_eq!((req.method.as_str(), req.path.as_str()), ("GET", "/readyz?full=1"));
    assert_eq!(req.header("host"), ["app.example.com"], "Host replaced, not added");
    assert_eq!(req.header("x-forwarded-proto"), ["https"]);
    assert!(req.header("user-agent")[0].starts_with("healthprobe/"));
    assert!(req.header("accept-encoding").is_empty(), "no compression asked for");

    let server = Server::tcp(answer("200 OK"));
    let url = server.url("/healthz");
    assert_healthy(&probe(&[&url]), "default Host");
    assert_eq!(server.requests()[0].header("host"), [server.addr().to_string().as_str()]);
}

#[test]
fn bad_header_sends_nothing() {
    let server = Server::tcp(answer("200 OK"));
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

#[test]
fn localhost_reaches_v4_only_and_v6_only() {
    let v4 = Server::tcp(answer("200 OK"));
    assert_healthy(&probe(&[&format!("http://localhost:{}/healthz", v4.port())]), "v4-only");
    let v6 = Server::v6_only(answer("200 OK"));
    assert_healthy(&probe(&[&format!("http://localhost:{}/healthz", v6.port())]), "v6-only");
    assert_healthy(&probe(&[&format!("http://app.localhost:{}/healthz", v6.port())]), "*.localhost");
    assert_healthy(&probe(&[&format!("http://[::1]:{}/healthz", v6.port())]), "IPv6 literal");
    assert_eq!(v6.requests()[2].header("host"), [format!("[::1]:{}", v6.port()).as_str()]);
}

#[test]
fn proxy_variables_are_ignored() {
    let trap = Server::tcp(answer("200 OK"));
    let server = Server::tcp(answer("200 OK"));
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
    let server = Server::tcp(answer("200 OK"));
    let port = server.port().to_string();
    assert_healthy(&probe_env(&[], &[("PORT", &port)]), "PORT with the default /healthz");
    assert_healthy(&probe_env(&["/readyz"], &[("PORT", &port)]), "PORT with a bare path");
    assert_healthy(&probe_env(&[], &[("HEALTHPROBE_URL", &server.url("/up"))]), "HEALTHPROBE_URL");
    assert_healthy(&probe_env(&[], &[("HEALTHPROBE_URL", "/live"), ("PORT", &port)]), "HEALTHPROBE_URL bare path");
    let paths: Vec<String> = server.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(paths, ["/healthz", "/readyz", "/up", "/live"]);
    // The flag wins over the variable.
    let elsewhere = format!("http://127.0.0.1:{}/nope", free_port());
    assert_healthy(
        &probe_env(&[&server.url("/flag")], &[("HEALTHPROBE_URL", &elsewhere)]),
        "URL beats HEALTHPROBE_URL",
    );

    let r = probe_env(&[], &[("PORT", "eighty")]);
    assert_fails(&r, &["PORT=eighty is not a port number"], "bad PORT");
    let r = probe_env(&[], &[("HEALTHPROBE_TIMEOUT", "-1")]);
    assert_fails(&r, &["HEALTHPROBE_TIMEOUT='-1'"], "bad HEALTHPROBE_TIMEOUT");
    let r = probe_env(&[], &[("HEALTHPROBE_URL", "gopher://x/")]);
    assert_fails(&r, &["HEALTHPROBE_URL 'gopher://x/'", "scheme"], "bad HEALTHPROBE_URL");
}

#[test]
fn output_modes() {
    let ok = Server::tcp(answer("200 OK"));
    let r = probe(&["-v", &ok.url("/healthz")]);
    assert_eq!(r.code, Some(0));
    assert_eq!(r.stderr, format!("healthprobe: GET {}: 200 OK\n", ok.url("/healthz")));
    assert_eq!(r.stdout, "");
    let bad = Server::tcp(answer("503 Service Unavailable"));
    let r = probe(&["-q", &bad.url("/healthz")]);
    assert_eq!((r.code, r.stdout.as_str(), r.stderr.as_str()), (Some(1), "", ""));

    let r = probe(&["--help"]);
    assert_eq!(r.code, Some(0));
    assert!(r.stdout.starts_with("healthprobe: is this instance healthy?") && r.stdout.contains("--expect-status"));
    let r = probe(&["-V"]);
    assert_eq!(r.code, Some(0));
    assert!(
        r.stdout.starts_with("healthprobe 0.") && r.stdout.contains("-linux-") && r.stdout.contains("http"),
        "{r:?}"
    );
}

#[test]
fn closed_stdout_and_stderr() {
    let bad = Server::tcp(answer("503 Service Unavailable"));
    let ok = Server::tcp(answer("200 OK"));
    let cases: [(&[&str], i32); 4] =
        [(&["--help"], 0), (&["-V"], 0), (&["-v", &ok.url("/")], 0), (&[&bad.url("/")], 1)];
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
        (&["/a", "/a"], "is given twice"),
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

/// Only a static binary runs alone in an empty root.
#[test]
#[ignore = "needs the static build in HEALTHPROBE_BIN: make test-static"]
fn empty_root_resolves_localhost() {
    let bin = static_bin("empty_root_resolves_localhost");
    let root = std::env::temp_dir().join(format!("healthprobe-root-{}", std::process::id()));
    std::fs::create_dir_all(&root).unwrap();
    std::fs::copy(&bin, root.join("healthprobe")).unwrap();
    let v4 = Server::tcp(answer("200 OK"));
    let v6 = Server::v6_only(answer("200 OK"));
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
