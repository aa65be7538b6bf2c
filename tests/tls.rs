//! The TLS build: the real binary against rustls servers started here, with
//! a CA and leaf certificates made for this run by the `openssl` command.
//!
//! `cargo test --features tls`; `HEALTHPROBE_BIN=dist/healthprobe-tls-linux-amd64`
//! runs the same rows against the static build.

#![cfg(feature = "tls")]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};

use common::*;

// ---------------------------------------------------------------- certificates

struct Certs {
    dir: PathBuf,
}

impl Certs {
    fn ca(&self) -> String {
        self.file("ca.pem")
    }

    fn file(&self, name: &str) -> String {
        self.dir.join(name).to_str().unwrap().to_string()
    }
}

/// A CA, and leaves signed by it: `good` for localhost and 127.0.0.1,
/// `other` for other.example only, `expired` (good's names, valid in 2020).
fn certs() -> &'static Certs {
    static CERTS: OnceLock<Certs> = OnceLock::new();
    CERTS.get_or_init(|| {
        // Under target/ (cargo clean removes it); per process, for parallel runs.
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("tls-certs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let openssl = |args: &[&str]| {
            let out = Command::new("openssl").args(args).current_dir(&dir).output().expect("the openssl command is needed");
            assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        };
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
        let mut ca = vec!["req", "-x509", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=healthprobe test CA"];
        ca.extend(ec);
        ca.extend(["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
        openssl(&ca);
        let write = |name: &str, text: &str| std::fs::write(dir.join(name), text).unwrap();
        for (leaf, sans) in [("good", "DNS:localhost,IP:127.0.0.1"), ("other", "DNS:other.example")] {
            let mut req = vec!["req", "-new", "-keyout"];
            let (key, csr, ext, pem) = (format!("{leaf}.key"), format!("{leaf}.csr"), format!("{leaf}.ext"), format!("{leaf}.pem"));
            req.extend([key.as_str(), "-out", &csr, "-subj"]);
            let subject = format!("/CN={leaf}");
            req.push(&subject);
            req.extend(ec);
            openssl(&req);
            write(&ext, &format!("subjectAltName={sans}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n"));
            openssl(&["x509", "-req", "-in", &csr, "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2", "-extfile", &ext, "-out", &pem]);
        }
        // `openssl x509` cannot date a certificate in the past; `openssl ca` can.
        write("ca.cnf", "[ca]\ndefault_ca = test\n[test]\ndatabase = index.txt\nnew_certs_dir = .\nserial = serial\ndefault_md = sha256\npolicy = any\n[any]\ncommonName = supplied\n");
        write("index.txt", "");
        write("serial", "01\n");
        openssl(&[
            "ca", "-batch", "-config", "ca.cnf", "-cert", "ca.pem", "-keyfile", "ca.key", "-in", "good.csr", "-out", "expired.pem",
            "-startdate", "20200101000000Z", "-enddate", "20200102000000Z", "-extfile", "good.ext", "-notext",
        ]);
        std::fs::copy(dir.join("good.key"), dir.join("expired.key")).unwrap();
        Certs { dir }
    })
}

// ---------------------------------------------------------------- servers

type Handler = dyn Fn(&mut StreamOwned<ServerConnection, TcpStream>, &Request) + Send + Sync;

struct Server {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<Request>>>,
    connections: Arc<AtomicUsize>,
}

impl Server {
    fn url(&self, host: &str, path: &str) -> String {
        format!("https://{host}:{}{path}", self.addr.port())
    }
}

fn server_config(leaf: &str) -> Arc<ServerConfig> {
    let dir = &certs().dir;
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(dir.join(format!("{leaf}.pem"))).unwrap().map(Result::unwrap).collect();
    let key = PrivateKeyDer::from_pem_file(dir.join(format!("{leaf}.key"))).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    Arc::new(config)
}

/// A TLS server presenting `leaf`; every connection on its own thread.
fn serve_tls(leaf: &str, handler: impl Fn(&mut StreamOwned<ServerConnection, TcpStream>, &Request) + Send + Sync + 'static) -> Server {
    let config = server_config(leaf);
    let handler: Arc<Handler> = Arc::new(handler);
    serve_tcp(move |tcp, reqs| {
        let _ = tcp.set_read_timeout(Some(Duration::from_secs(10)));
        let conn = ServerConnection::new(config.clone()).unwrap();
        let mut tls = StreamOwned::new(conn, tcp.try_clone().unwrap());
        // A client that rejects the certificate ends here, with no request.
        let Some(request) = read_request(&mut tls) else { return };
        reqs.lock().unwrap().push(request.clone());
        handler(&mut tls, &request);
        tls.conn.send_close_notify();
        let _ = tls.flush();
    })
}

fn serve_tcp(on_accept: impl Fn(&mut TcpStream, &Mutex<Vec<Request>>) + Send + Sync + 'static) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let requests = Arc::new(Mutex::new(Vec::new()));
    let connections = Arc::new(AtomicUsize::new(0));
    let (reqs, conns) = (requests.clone(), connections.clone());
    let on_accept = Arc::new(on_accept);
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            conns.fetch_add(1, Ordering::SeqCst);
            let (on_accept, reqs) = (on_accept.clone(), reqs.clone());
            thread::spawn(move || on_accept(&mut stream, &reqs));
        }
    });
    Server { addr, requests, connections }
}

/// Accepts TCP and never answers: the handshake never completes.
fn handshake_blackhole(s: &mut TcpStream, _: &Mutex<Vec<Request>>) {
    let mut sink = [0u8; 512];
    let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
    while let Ok(n) = s.read(&mut sink) {
        if n == 0 {
            break;
        }
    }
}

/// A plain HTTP server, as Gunicorn answers bytes it cannot parse.
fn plain_http(s: &mut TcpStream, _: &Mutex<Vec<Request>>) {
    let mut hello = [0u8; 512];
    let _ = s.read(&mut hello);
    reply(s, "400 Bad Request", &["Content-Type: text/html"], "<h1>Bad Request</h1>");
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
    serve_tls(leaf, status("200 OK"))
}

const ROWS: &[Row] = &[
    row("--cacert", "good", ok, &["--cacert", "CA"], "localhost", None),
    row("bundled roots only: unknown issuer", "good", ok, &[], "localhost", Some(&["TLS: the certificate of localhost is not accepted: unknown issuer", "--cacert"])),
    row("-k", "good", ok, &["-k"], "localhost", None),
    row("--insecure accepts a wrong name", "other", ok, &["--insecure"], "localhost", None),
    row("-k accepts an expired certificate", "expired", ok, &["-k"], "localhost", None),
    row("wrong name", "other", ok, &["--cacert", "CA"], "localhost", Some(&["the certificate of localhost is not accepted: name mismatch"])),
    row("IP literal verifies against the IP SAN", "good", ok, &["--cacert", "CA"], "127.0.0.1", None),
    row("IP literal not in the certificate", "other", ok, &["--cacert", "CA"], "127.0.0.1", Some(&["the certificate of 127.0.0.1 is not accepted: name mismatch"])),
    row("expired", "expired", ok, &["--cacert", "CA"], "localhost", Some(&["the certificate of localhost is not accepted: expired"])),
    row(
        "503 over TLS",
        "good",
        |leaf| serve_tls(leaf, status_body("503 Service Unavailable", r#"{"status": "error", "checks": {"database": "unavailable"}}"#)),
        &["--cacert", "CA"],
        "localhost",
        Some(&[r#"503 Service Unavailable: {"status": "error", "checks": {"database": "unavailable"}}"#]),
    ),
    row(
        "redirect over TLS is not followed",
        "good",
        |leaf| serve_tls(leaf, redirect("301 Moved Permanently", "/healthz/")),
        &["--cacert", "CA"],
        "localhost",
        Some(&["301 Moved Permanently to /healthz/; redirects are not followed", "APPEND_SLASH"]),
    ),
    row("body check over TLS", "good", |leaf| serve_tls(leaf, status_body("200 OK", r#"{"status": "ok"}"#)), &["--cacert", "CA", "--expect-body", "\"ok\""], "localhost", None),
    row("TLS to a plain HTTP port", "good", |_| serve_tcp(plain_http), &["--cacert", "CA"], "localhost", Some(&["TLS: localhost did not answer in TLS (is this a plain http:// port?)"])),
    row(
        "closed during the handshake",
        "good",
        |_| serve_tcp(|s, _| { let _ = s.read(&mut [0u8; 512]); }),
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
        let url = server.url(row.host, "/healthz");
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
        assert_eq!(server.connections.load(Ordering::SeqCst), 1, "{}: exactly one connection", row.name);
    }
}

#[test]
fn request_over_tls_is_what_was_asked() {
    let server = ok("good");
    let ca = certs().ca();
    let url = server.url("localhost", "/readyz?full=1");
    assert_healthy(&probe(&["--cacert", &ca, &url]), "default Host");
    assert_healthy(&probe(&["--cacert", &ca, "-H", "Host: app.example.com", &url]), "-H Host");
    let requests = server.requests.lock().unwrap().clone();
    assert_eq!((requests[0].method.as_str(), requests[0].path.as_str()), ("GET", "/readyz?full=1"));
    assert_eq!(requests[0].header("host"), [format!("localhost:{}", server.addr.port()).as_str()]);
    // The Host header changes; the name verified stays the URL's.
    assert_eq!(requests[1].header("host"), ["app.example.com"]);
}

#[test]
fn handshake_blackhole_fails_at_the_deadline() {
    let _t = timing();
    let server = serve_tcp(handshake_blackhole);
    let url = server.url("localhost", "/healthz");
    let r = probe(&["-t", "500ms", "--cacert", &certs().ca(), &url]);
    assert_fails(&r, &["connected, but the TLS handshake did not finish within 500ms"], "handshake blackhole");
    assert_between(r.elapsed, ms(500), ms(650), "handshake blackhole");
}

#[test]
fn response_blackhole_after_the_handshake_fails_at_the_deadline() {
    let _t = timing();
    let server = serve_tls("good", |s, _| {
        // Holds the session open, answering nothing.
        let _ = s.sock.set_read_timeout(Some(Duration::from_secs(30)));
        let _ = s.read(&mut [0u8; 64]);
    });
    let url = server.url("localhost", "/healthz");
    let r = probe(&["-t", "500ms", "--cacert", &certs().ca(), &url]);
    assert_fails(&r, &["connected, but no complete response headers within 500ms"], "TLS blackhole");
    assert_between(r.elapsed, ms(500), ms(650), "TLS blackhole");
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
    let config = Arc::new(config);
    let server = serve_tcp(move |tcp, _| {
        let conn = ServerConnection::new(config.clone()).unwrap();
        let mut tls = StreamOwned::new(conn, tcp.try_clone().unwrap());
        let _ = read_request(&mut tls);
    });
    let url = server.url("localhost", "/healthz");
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
    let url = server.url("localhost", "/healthz");
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
    assert_eq!(server.connections.load(Ordering::SeqCst), 0);
}

#[test]
fn tls_over_a_unix_socket() {
    let dir = TempDir::new("tls-unix");
    let path = dir.path("tls.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let config = server_config("good");
    let server = thread::spawn(move || {
        let (socket, _) = listener.accept().unwrap();
        let mut tls = StreamOwned::new(ServerConnection::new(config).unwrap(), socket);
        let request = read_request(&mut tls).unwrap();
        reply(&mut tls, "200 OK", &[], "");
        tls.conn.send_close_notify();
        let _ = tls.flush();
        request
    });
    let r = probe(&["--cacert", &certs().ca(), "--unix-socket", &path, "https://localhost/readyz"]);
    assert_healthy(&r, "https over a Unix socket");
    assert_eq!(server.join().unwrap().header("host"), ["localhost"]);
}

#[test]
fn plain_http_urls_still_work_in_the_tls_build() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        read_request(&s).unwrap();
        reply(&mut s, "200 OK", &[], "");
    });
    assert_healthy(&probe(&["--cacert", &certs().ca(), &format!("http://127.0.0.1:{port}/healthz")]), "http:// in the TLS build");
    server.join().unwrap();
}

#[test]
fn version_and_usage_in_the_tls_build() {
    let r = probe(&["-V"]);
    assert_eq!(r.code, Some(0));
    assert!(r.stdout.contains("http+tls"), "{r:?}");
    let r = probe(&["-k", "--cacert", &certs().ca(), "https://localhost/"]);
    assert_fails(&r, &["cannot combine --cacert with --insecure", "(see --help)"], "-k with --cacert");
}
