//! Client certificates (`--cert FILE --key FILE`, TLS build) and the
//! wrong-scheme hints, with the real binary against a real nginx on loopback
//! (`ssl_verify_client on`, a client CA made by this test) and against rustls
//! servers that demand a client certificate.
//!
//! nginx refuses a client after a completed handshake, with a 400 whose body
//! says why; rustls (as Go, Envoy, and OpenSSL servers that fail the
//! handshake) refuses with a TLS alert, which under TLS 1.3 arrives on the
//! first read after the handshake. Both must read "client certificate".
//!
//! nginx is needed: `NGINX` names it, else `nginx` on PATH or /usr/sbin/nginx
//! (build/install-deps.sh e2e installs it). Without it the tests fail, saying so.

#![cfg(feature = "tls")]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};

use common::certs::certs;
use common::*;

// ------------------------------------------------------------ certificates

/// The client side's certificates, made for this run by `openssl`: the CA
/// the servers trust for clients (`client-ca`), a client it signed
/// (`client`, PKCS#8 EC key; `client-rsa`, PKCS#1 RSA key), and a client
/// signed by a CA no server trusts (`stranger`). The servers present the
/// shared `good` certificate (tests/common/certs.rs).
fn client_certs() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = common::certs::fresh_dir("mtls-certs");
        let openssl = |args: &[&str]| common::certs::openssl(&dir, args);
        let ec = common::certs::EC_KEY;
        let ca_ext =
            ["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"];
        for ca in ["client-ca", "stranger-ca"] {
            let (key, pem, subject) = (format!("{ca}.key"), format!("{ca}.pem"), format!("/CN=healthprobe {ca}"));
            let args =
                [&["req", "-x509", "-keyout", &key, "-out", &pem, "-days", "2", "-subj", &subject][..], &ec, &ca_ext];
            openssl(&args.concat());
        }
        std::fs::write(
            dir.join("client.ext"),
            "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n",
        )
        .unwrap();
        openssl(&["genrsa", "-traditional", "-out", "client-rsa.key", "2048"]);
        for (leaf, ca) in [("client", "client-ca"), ("client-rsa", "client-ca"), ("stranger", "stranger-ca")] {
            let (key, csr, pem, subject) =
                (format!("{leaf}.key"), format!("{leaf}.csr"), format!("{leaf}.pem"), format!("/CN={leaf}"));
            if leaf == "client-rsa" {
                openssl(&["req", "-new", "-key", &key, "-out", &csr, "-subj", &subject]);
            } else {
                openssl(&[&["req", "-new", "-keyout", &key, "-out", &csr, "-subj", &subject][..], &ec].concat());
            }
            let (ca_pem, ca_key) = (format!("{ca}.pem"), format!("{ca}.key"));
            openssl(&[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                &ca_pem,
                "-CAkey",
                &ca_key,
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                "client.ext",
                "-out",
                &pem,
            ]);
        }
        dir
    })
}

fn client_file(name: &str) -> String {
    client_certs().join(name).to_str().unwrap().to_string()
}

// ------------------------------------------------------------------ nginx

fn nginx_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("NGINX") {
        return PathBuf::from(p);
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .chain([PathBuf::from("/usr/sbin")])
        .map(|d| d.join("nginx"))
        .find(|p| p.is_file());
    on_path.unwrap_or_else(|| {
        panic!("tests/mtls.rs needs nginx: install it (bash build/install-deps.sh e2e) or name it with NGINX=PATH")
    })
}

/// One nginx on loopback, one process (`master_process off`), started by each
/// test that needs it and stopped by its pid when dropped, with three servers for /healthz:
/// - `verify`: TLS, `ssl_verify_client on` against the client CA;
/// - `tls`: TLS without client certificates (an https:// port for http://);
/// - `optional`: TLS, `ssl_verify_client optional`, answering 200 only when
///   a verified certificate came (`$ssl_client_verify`), 403 otherwise.
struct Nginx {
    child: Child,
    verify: u16,
    tls: u16,
    optional: u16,
    dir: TempDir,
}

impl Nginx {
    fn start() -> Nginx {
        let dir = TempDir::new("mtls-nginx");
        let (verify, tls, optional) = (free_port(), free_port(), free_port());
        let shared = certs();
        let (cert, key) = (shared.file("good.pem"), shared.file("good.key"));
        let client_ca = client_file("client-ca.pem");
        let healthz = r#"location = /healthz { default_type application/json; return 200 '{"status": "ok"}'; }"#;
        let server = |port: u16, extra: &str, location: &str| {
            format!(
                "server {{ listen 127.0.0.1:{port} ssl; ssl_certificate {cert}; ssl_certificate_key {key}; {extra} {location} }}\n"
            )
        };
        let conf = format!(
            "worker_processes 1;\nmaster_process off;\ndaemon off;\npid {d}/nginx.pid;\nerror_log {d}/error.log info;\n\
             events {{ worker_connections 64; }}\nhttp {{\naccess_log off;\nclient_body_temp_path {d}/tmp;\n\
             proxy_temp_path {d}/tmp;\nfastcgi_temp_path {d}/tmp;\nuwsgi_temp_path {d}/tmp;\nscgi_temp_path {d}/tmp;\n{}{}{}}}\n",
            server(verify, &format!("ssl_client_certificate {client_ca}; ssl_verify_client on;"), healthz),
            server(tls, "", healthz),
            server(
                optional,
                &format!("ssl_client_certificate {client_ca}; ssl_verify_client optional;"),
                r#"location = /healthz { if ($ssl_client_verify != SUCCESS) { return 403 "client: $ssl_client_verify\n"; } return 200 '{"status": "ok"}'; }"#,
            ),
            d = dir.0.display(),
        );
        std::fs::create_dir_all(dir.0.join("tmp")).unwrap();
        let conf_path = dir.path("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let child = Command::new(nginx_binary())
            .args(["-p", &dir.path(""), "-c", &conf_path, "-e", &dir.path("error.log")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("nginx starts");
        let mut nginx = Nginx { child, verify, tls, optional, dir };
        nginx.wait_listening();
        nginx
    }

    /// Until every port accepts; nginx binds them all before it serves.
    fn wait_listening(&mut self) {
        let start = Instant::now();
        for port in [self.verify, self.tls, self.optional] {
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                if let Ok(Some(status)) = self.child.try_wait() {
                    let log = std::fs::read_to_string(self.dir.path("error.log")).unwrap_or_default();
                    panic!("nginx exited ({status}) before listening:\n{log}");
                }
                assert!(start.elapsed() < Duration::from_secs(10), "nginx not listening on {port} after 10s");
                std::thread::sleep(ms(10));
            }
        }
    }

    fn https(&self, port: u16) -> String {
        format!("https://localhost:{port}/healthz")
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------- rustls client auth

/// A rustls server presenting `good` that demands a client certificate from
/// the client CA, limited to `versions`; it refuses by alert.
fn rustls_verifying(versions: &[&'static rustls::SupportedProtocolVersion]) -> Server {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(client_file("client-ca.pem")).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone()).build().unwrap();
    let shared = certs();
    let chain = CertificateDer::pem_file_iter(shared.file("good.pem")).unwrap().map(Result::unwrap).collect();
    let key = PrivateKeyDer::from_pem_file(shared.file("good.key")).unwrap();
    let config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .unwrap();
    Server::tls(Arc::new(config), answer("200 OK"))
}

// -------------------------------------------------------------- the table

#[derive(Clone, Copy)]
enum Target {
    NginxVerify,
    NginxOptional,
    Rustls13,
    Rustls12,
}

struct Row {
    name: &'static str,
    target: Target,
    /// `@NAME` stands for the client file NAME; `CA` for the servers' CA.
    args: &'static [&'static str],
    /// None: healthy. Some(words): exit 1 and a line with these words.
    fails: Option<&'static [&'static str]>,
}

const CLIENT: &[&str] = &["--cert", "@client.pem", "--key", "@client.key"];

const ROWS: &[Row] = &[
    Row { name: "nginx: a client certificate from its CA", target: Target::NginxVerify, args: CLIENT, fails: None },
    Row {
        name: "nginx: an RSA client certificate with a PKCS#1 key",
        target: Target::NginxVerify,
        args: &["--cert", "@client-rsa.pem", "--key", "@client-rsa.key"],
        fails: None,
    },
    Row {
        name: "nginx: no client certificate",
        target: Target::NginxVerify,
        args: &[],
        fails: Some(&["400 Bad Request", "client certificate"]),
    },
    Row {
        name: "nginx: a client certificate from another CA",
        target: Target::NginxVerify,
        args: &["--cert", "@stranger.pem", "--key", "@stranger.key"],
        fails: Some(&["400 Bad Request", "the server refused the client certificate"]),
    },
    Row { name: "nginx optional: a client certificate", target: Target::NginxOptional, args: CLIENT, fails: None },
    Row {
        name: "rustls TLS 1.3: a client certificate from its CA",
        target: Target::Rustls13,
        args: CLIENT,
        fails: None,
    },
    Row {
        name: "rustls TLS 1.3: no client certificate (alert after the handshake)",
        target: Target::Rustls13,
        args: &[],
        fails: Some(&["client certificate"]),
    },
    Row {
        name: "rustls TLS 1.3: a client certificate from another CA",
        target: Target::Rustls13,
        args: &["--cert", "@stranger.pem", "--key", "@stranger.key"],
        fails: Some(&["the server refused the client certificate", "unknown CA"]),
    },
    Row {
        name: "rustls TLS 1.2: a client certificate from its CA",
        target: Target::Rustls12,
        args: CLIENT,
        fails: None,
    },
    Row {
        name: "rustls TLS 1.2: no client certificate (alert in the handshake)",
        target: Target::Rustls12,
        args: &[],
        fails: Some(&["client certificate"]),
    },
    Row {
        name: "rustls TLS 1.2: a client certificate from another CA",
        target: Target::Rustls12,
        args: &["--cert", "@stranger.pem", "--key", "@stranger.key"],
        fails: Some(&["the server refused the client certificate"]),
    },
];

fn args_of(row: &[&str]) -> Vec<String> {
    let ca = certs().ca();
    row.iter()
        .map(|a| match a.strip_prefix('@') {
            Some(name) => client_file(name),
            None if *a == "CA" => ca.clone(),
            None => a.to_string(),
        })
        .collect()
}

#[test]
fn client_certificates() {
    let nginx = Nginx::start();
    for row in ROWS {
        let rustls = match row.target {
            Target::Rustls13 => Some(rustls_verifying(&[&rustls::version::TLS13])),
            Target::Rustls12 => Some(rustls_verifying(&[&rustls::version::TLS12])),
            _ => None,
        };
        let url = match (row.target, &rustls) {
            (Target::NginxVerify, _) => nginx.https(nginx.verify),
            (Target::NginxOptional, _) => nginx.https(nginx.optional),
            (_, Some(server)) => server.https("localhost", "/healthz"),
            _ => unreachable!(),
        };
        let mut args = args_of(row.args);
        args.extend(["--cacert".into(), certs().ca(), "-t".into(), "5s".into(), url.clone()]);
        let r = probe(&args.iter().map(String::as_str).collect::<Vec<_>>());
        match row.fails {
            None => assert_healthy(&r, row.name),
            Some(words) => {
                assert_fails(&r, words, row.name);
                assert!(r.stderr.starts_with(&format!("healthprobe: GET {url}: ")), "{}: {:?}", row.name, r.stderr);
                // A refused client is not a Django host problem.
                assert!(!r.stderr.contains("ALLOWED_HOSTS"), "{}: {:?}", row.name, r.stderr);
            }
        }
        // Every refusal comes at once: none waits for the deadline.
        assert!(r.elapsed < Duration::from_secs(2) + slack(), "{}: took {:?}", row.name, r.elapsed);
    }
}

/// The fixtures are what the table above says they are, so that its
/// failures are about the probe: each server refuses a client without a
/// certificate, nginx with a 400, rustls before answering anything.
#[test]
fn the_servers_refuse_a_client_without_a_certificate() {
    let nginx = Nginx::start();
    let ca = certs().ca();
    let url = nginx.https(nginx.tls);
    assert_healthy(&probe(&["--cacert", &ca, "-t", "5s", &url]), "nginx without client certificates");
    let url = nginx.https(nginx.verify);
    let r = probe(&["--cacert", &ca, "-t", "5s", &url]);
    assert_fails(&r, &["400 Bad Request"], "nginx ssl_verify_client on");
    let url = nginx.https(nginx.optional);
    let r = probe(&["--cacert", &ca, "-t", "5s", &url]);
    assert_fails(&r, &["403 Forbidden", "client: NONE"], "nginx ssl_verify_client optional");
    for (name, server) in [
        ("rustls TLS 1.3", rustls_verifying(&[&rustls::version::TLS13])),
        ("rustls TLS 1.2", rustls_verifying(&[&rustls::version::TLS12])),
    ] {
        let url = server.https("localhost", "/healthz");
        let r = probe(&["--cacert", &ca, "-t", "5s", &url]);
        // TLS 1.3: "reading the response: received fatal alert: CertificateRequired",
        // after the handshake; TLS 1.2: a broken pipe in the handshake, the alert unread.
        assert_fails(&r, &[], name);
        assert_eq!(server.answered(), 0, "{name}: no request is answered without a certificate");
    }
}

/// Usage errors at parse time: no connection is made, and `--wait` does not
/// retry them.
#[test]
fn wrong_certificate_files_are_usage_errors() {
    let server = rustls_verifying(&[&rustls::version::TLS13]);
    let url = server.https("localhost", "/healthz");
    let (cert, key) = (client_file("client.pem"), client_file("client.key"));
    let stranger_key = client_file("stranger.key");
    let missing = "/nonexistent/client.pem".to_string();
    let cases: &[(&[&str], String)] = &[
        (&["--cert", &cert], "--cert needs --key".into()),
        (&["--key", &key], "--key needs --cert".into()),
        (&["--cert", &missing, "--key", &key], format!("--cert {missing}: no such file")),
        (&["--cert", &cert, "--key", &missing], format!("--key {missing}: no such file")),
        (&["--cert", &key, "--key", &key], "are --cert and --key swapped?".into()),
        (&["--cert", &cert, "--key", &cert], "are --cert and --key swapped?".into()),
        (&["--cert", &cert, "--key", &stranger_key], format!("--key {stranger_key} does not match the certificate")),
    ];
    for (args, words) in cases {
        for wait in [&[][..], &["--wait", "5s"][..]] {
            let mut all: Vec<&str> = args.to_vec();
            all.extend(wait);
            all.push(&url);
            let r = probe(&all);
            assert_fails(&r, &[words, "(see --help)"], &format!("{all:?}"));
            assert!(r.elapsed < ms(500), "{all:?}: {:?}", r.elapsed);
        }
    }
    assert_eq!(server.connections(), 0, "a usage error connects to nothing");
}

/// `http://` to a TLS port, and a URL without its scheme, get the hint that
/// fixes them.
#[test]
fn wrong_scheme_hints() {
    let nginx = Nginx::start();
    // nginx answers a plain request on an ssl port with its own 400.
    let url = format!("http://127.0.0.1:{}/healthz", nginx.tls);
    let r = probe(&["-t", "5s", &url]);
    assert_fails(&r, &["the port speaks TLS: use https://"], "http:// to nginx's TLS port");
    assert!(!r.stderr.contains("ALLOWED_HOSTS"), "{:?}", r.stderr);
    // rustls answers it with an alert record.
    let server = Server::tls(common::certs::server_config("good"), answer("200 OK"));
    let url = format!("http://127.0.0.1:{}/healthz", server.port());
    let r = probe(&["-t", "5s", &url]);
    assert_fails(&r, &["the port speaks TLS: use https://"], "http:// to a rustls port");
    // Without a scheme, the TLS build offers both, https:// first for 8443.
    let r = probe(&["localhost:8443/healthz"]);
    assert_fails(
        &r,
        &["not a URL: write https://localhost:8443/healthz (or http://localhost:8443/healthz)"],
        "no scheme",
    );
    let r = probe(&["localhost:8000/healthz"]);
    assert_fails(
        &r,
        &["not a URL: write http://localhost:8000/healthz (or https://localhost:8000/healthz)"],
        "no scheme",
    );
}

/// The wrong scheme fails whatever the hint: nginx answers 400 (its body says
/// "The plain HTTP request was sent to HTTPS port"), rustls an alert record.
#[test]
fn http_to_a_tls_port_fails() {
    let nginx = Nginx::start();
    let url = format!("http://127.0.0.1:{}/healthz", nginx.tls);
    let r = probe(&["-t", "5s", &url]);
    assert_fails(&r, &["400 Bad Request"], "http:// to nginx's TLS port");
    let server = Server::tls(common::certs::server_config("good"), answer("200 OK"));
    let url = format!("http://127.0.0.1:{}/healthz", server.port());
    let r = probe(&["-t", "5s", &url]);
    assert_fails(&r, &[], "http:// to a rustls port");
    assert_eq!(server.answered(), 0);
}
