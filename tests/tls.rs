//! The TLS build: the real binary against rustls servers started here, with
//! a CA and leaf certificates made for this run by the `openssl` command
//! (tests/common/certs.rs). The deadline windows over TLS are in
//! tests/deadlines.rs.
//!
//! `cargo test --features tls`; `HEALTHPROBE_BIN=dist/healthprobe-tls-linux-amd64`
//! runs the same rows against the static build.

#![cfg(feature = "tls")]

mod common;

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;

use common::certs::{certs, server_config};
use common::*;

/// A plain HTTP server, as Gunicorn answers bytes it cannot parse.
fn plain_http() -> Behaviour {
    Behaviour::raw(|c, _| {
        let mut hello = [0u8; 512];
        let _ = c.read(&mut hello);
        c.reply("400 Bad Request", &["Content-Type: text/html"], "<h1>Bad Request</h1>");
    })
}

/// Reads the client's hello and closes: the handshake never completes.
fn close_in_handshake() -> Behaviour {
    Behaviour::raw(|c, _| {
        let _ = c.read(&mut [0u8; 512]);
    })
}

fn tls(leaf: &str, b: Behaviour) -> Server {
    Server::tls(server_config(leaf), b)
}

// ---------------------------------------------------------------- the table

struct Row {
    name: &'static str,
    leaf: &'static str,
    server: fn(&'static str) -> Server,
    /// `CA` stands for the test CA's file.
    args: &'static [&'static str],
    host: &'static str,
    /// None: healthy. Some(words): exit 1 and a line with these words.
    fails: Option<&'static [&'static str]>,
}

const fn row(
    name: &'static str,
    leaf: &'static str,
    server: fn(&'static str) -> Server,
    args: &'static [&'static str],
    host: &'static str,
    fails: Option<&'static [&'static str]>,
) -> Row {
    Row { name, leaf, server, args, host, fails }
}

fn ok(leaf: &'static str) -> Server {
    tls(leaf, answer("200 OK"))
}

const ROWS: &[Row] = &[
    row("--cacert", "good", ok, &["--cacert", "CA"], "localhost", None),
    row(
        "bundled roots only: unknown issuer",
        "good",
        ok,
        &[],
        "localhost",
        Some(&["TLS: the certificate of localhost is not accepted: unknown issuer", "--cacert"]),
    ),
    row("-k", "good", ok, &["-k"], "localhost", None),
    row("--insecure accepts a wrong name", "other", ok, &["--insecure"], "localhost", None),
    row("-k accepts an expired certificate", "expired", ok, &["-k"], "localhost", None),
    row(
        "wrong name",
        "other",
        ok,
        &["--cacert", "CA"],
        "localhost",
        Some(&["the certificate of localhost is not accepted: name mismatch"]),
    ),
    row("IP literal verifies against the IP SAN", "good", ok, &["--cacert", "CA"], "127.0.0.1", None),
    row(
        "IP literal not in the certificate",
        "other",
        ok,
        &["--cacert", "CA"],
        "127.0.0.1",
        Some(&["the certificate of 127.0.0.1 is not accepted: name mismatch"]),
    ),
    row(
        "expired",
        "expired",
        ok,
        &["--cacert", "CA"],
        "localhost",
        Some(&["the certificate of localhost is not accepted: expired"]),
    ),
    row(
        "503 over TLS",
        "good",
        |leaf| {
            tls(
                leaf,
                answer_body("503 Service Unavailable", r#"{"status": "error", "checks": {"database": "unavailable"}}"#),
            )
        },
        &["--cacert", "CA"],
        "localhost",
        Some(&[r#"503 Service Unavailable: {"status": "error", "checks": {"database": "unavailable"}}"#]),
    ),
    row(
        "redirect over TLS is not followed",
        "good",
        |leaf| tls(leaf, redirect("301 Moved Permanently", "/healthz/")),
        &["--cacert", "CA"],
        "localhost",
        Some(&["301 Moved Permanently to /healthz/; redirects are not followed", "APPEND_SLASH"]),
    ),
    row(
        "body check over TLS",
        "good",
        |leaf| tls(leaf, answer_body("200 OK", r#"{"status": "ok"}"#)),
        &["--cacert", "CA", "--expect-body", "\"ok\""],
        "localhost",
        None,
    ),
    row(
        "TLS to a plain HTTP port",
        "good",
        |_| Server::tcp(plain_http()),
        &["--cacert", "CA"],
        "localhost",
        Some(&["TLS: localhost did not answer in TLS (is this a plain http:// port?)"]),
    ),
    row(
        "closed during the handshake",
        "good",
        |_| Server::tcp(close_in_handshake()),
        &["--cacert", "CA"],
        "localhost",
        Some(&["TLS: localhost closed the connection during the handshake"]),
    ),
];

#[test]
fn behaviour_table() {
    let ca = certs().ca();
    for row in ROWS {
        let server = (row.server)(row.leaf);
        let url = server.https(row.host, "/healthz");
        let mut args: Vec<&str> = row.args.iter().map(|a| if *a == "CA" { ca.as_str() } else { a }).collect();
        args.extend(["-t", "5s", &url]);
        let r = probe(&args);
        match row.fails {
            None => assert_healthy(&r, row.name),
            Some(words) => {
                assert_fails(&r, words, row.name);
                assert!(r.stderr.starts_with(&format!("healthprobe: GET {url}: ")), "{}: {:?}", row.name, r.stderr);
            }
        }
        // Every answer, good or bad, comes at once: none waits for the deadline.
        assert!(r.elapsed < Duration::from_secs(2) + slack(), "{}: took {:?}", row.name, r.elapsed);
        assert_eq!(server.connections(), 1, "{}: exactly one connection", row.name);
    }
}

#[test]
fn request_over_tls_is_what_was_asked() {
    let server = ok("good");
    let ca = certs().ca();
    let url = server.https("localhost", "/readyz?full=1");
    assert_healthy(&probe(&["--cacert", &ca, &url]), "default Host");
    assert_healthy(&probe(&["--cacert", &ca, "-H", "Host: app.example.com", &url]), "-H Host");
    let requests = server.requests();
    assert_eq!((requests[0].method.as_str(), requests[0].path.as_str()), ("GET", "/readyz?full=1"));
    assert_eq!(requests[0].header("host"), [format!("localhost:{}", server.port()).as_str()]);
    // The Host header changes; the name verified stays the URL's.
    assert_eq!(requests[1].header("host"), ["app.example.com"]);
}

/// Presents the good certificate but signs with another key, as someone
/// would who copied a certificate without its key.
#[derive(Debug)]
struct StolenCertificate(Arc<rustls::sign::CertifiedKey>);

impl rustls::server::ResolvesServerCert for StolenCertificate {
    fn resolve(&self, _: rustls::server::ClientHello<'_>) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(self.0.clone())
    }
}

#[test]
fn insecure_still_checks_the_handshake_signature() {
    let dir = &certs().dir;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = CertificateDer::pem_file_iter(dir.join("good.pem")).unwrap().map(Result::unwrap).collect();
    let wrong_key = PrivateKeyDer::from_pem_file(dir.join("other.key")).unwrap();
    let signer = provider.key_provider.load_private_key(wrong_key).unwrap();
    let stolen = Arc::new(rustls::sign::CertifiedKey::new(chain, signer));
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(StolenCertificate(stolen)));
    let server = Server::tls(Arc::new(config), answer("200 OK"));
    let url = server.https("localhost", "/healthz");
    for args in [&["-k"][..], &["--cacert", &certs().ca()][..]] {
        let mut args = args.to_vec();
        args.push(&url);
        let r = probe(&args);
        assert_fails(&r, &["TLS: the certificate of localhost is not accepted: bad signature"], &format!("{args:?}"));
    }
}

#[test]
fn bad_cacert_files() {
    let server = ok("good");
    let url = server.https("localhost", "/healthz");
    let dir = TempDir::new("tls-cacert");
    let garbage = dir.path("garbage.pem");
    std::fs::write(&garbage, "this is not PEM\n").unwrap();
    let key_only = certs().file("good.key");
    let missing = "/nonexistent/ca.pem".to_string();
    let cases = [
        (&missing, format!("--cacert {missing}: No such file")),
        (&garbage, format!("--cacert {garbage}: no PEM certificate in the file")),
        (&key_only, format!("--cacert {key_only}: no PEM certificate in the file")),
    ];
    for (path, words) in &cases {
        let r = probe(&["--cacert", path, &url]);
        assert_fails(&r, &[words], path);
        // Read before any connection, and not retried by --wait.
        let r = probe(&["--cacert", path, "--wait", "5s", &url]);
        assert_fails(&r, &[words], path);
        assert!(r.elapsed < ms(500), "{path}: {:?}", r.elapsed);
    }
    assert_eq!(server.connections(), 0);
}

#[test]
fn tls_over_a_unix_socket() {
    let server = Server::tls_unix(server_config("good"), answer("200 OK"));
    let r = probe(&["--cacert", &certs().ca(), "--unix-socket", server.path(), "https://localhost/readyz"]);
    assert_healthy(&r, "https over a Unix socket");
    assert_eq!(server.requests()[0].header("host"), ["localhost"]);
}

#[test]
fn plain_http_urls_still_work_in_the_tls_build() {
    let server = Server::tcp(answer("200 OK"));
    assert_healthy(&probe(&[&server.url("/healthz")]), "http:// in the TLS build");
    assert_eq!(server.connections(), 1);
    // A TLS option with only http:// targets would be silently ignored: refused.
    let r = probe(&["--cacert", &certs().ca(), &server.url("/healthz")]);
    assert_fails(&r, &["--cacert means nothing for an http:// target"], "--cacert with http://");
    assert_eq!(server.connections(), 1, "a usage error connects nowhere");
}

#[test]
fn version_and_usage_in_the_tls_build() {
    let r = probe(&["-V"]);
    assert_eq!(r.code, Some(0));
    assert!(r.stdout.contains("http+tls"), "{r:?}");
    let r = probe(&["-k", "--cacert", &certs().ca(), "https://localhost/"]);
    assert_fails(&r, &["cannot combine --cacert with --insecure", "(see --help)"], "-k with --cacert");
}
