//! The client's own certificate (`--cert FILE --key FILE`, TLS build): read
//! and checked once, at parse time, so that a wrong file is a usage error and
//! never a probe-time failure that `--wait` retries; presented when the
//! server asks for it; and how a server's refusal of it looks, whichever way
//! the server refuses (a TLS alert, or nginx's completed handshake and 400).

use std::fmt;
use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rustls::client::{ResolvesClientCert, WantsClientCert};
use rustls::crypto::ring;
use rustls::pki_types::pem::{PemObject, SectionKind};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use rustls::{AlertDescription, ClientConfig, ConfigBuilder, InconsistentKeys, SignatureScheme};

/// A certificate chain with its key is a few KiB; a file past this is not one
/// (and `/dev/zero` must not be read for ever).
const MAX_FILE: u64 = 1024 * 1024;

/// The client certificate chain and its private key, read from `--cert` and
/// `--key` and known to belong together.
#[derive(Clone)]
pub struct ClientIdentity {
    pub cert: String,
    pub key: String,
    certified: Arc<CertifiedKey>,
}

// Compared and shown by the files and the chain; the key is never printed.
impl PartialEq for ClientIdentity {
    fn eq(&self, other: &Self) -> bool {
        self.cert == other.cert && self.key == other.key && self.certified.cert == other.certified.cert
    }
}

impl Eq for ClientIdentity {}

impl fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientIdentity").field("cert", &self.cert).field("key", &self.key).finish()
    }
}

/// Why `--cert`/`--key` cannot be used. Each names the option and the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityError {
    CertWithoutKey,
    KeyWithoutCert,
    /// The file cannot be read: missing, not permitted, a directory…
    Unreadable {
        option: &'static str,
        path: String,
        why: String,
    },
    TooLarge {
        option: &'static str,
        path: String,
    },
    /// Not PEM at all, or a PEM section that does not decode.
    NotPem {
        option: &'static str,
        path: String,
        why: String,
    },
    /// `--cert` has no CERTIFICATE section; `found` says what it has instead.
    NoCertificate {
        path: String,
        found: Found,
    },
    /// `--key` has no PRIVATE KEY section; `found` says what it has instead.
    NoKey {
        path: String,
        found: Found,
    },
    /// An encrypted key: a probe cannot ask for a passphrase.
    EncryptedKey {
        path: String,
    },
    /// A key rustls with ring cannot sign with (DSA, a short RSA key, …).
    UnusableKey {
        path: String,
        why: String,
    },
    /// The first certificate cannot be parsed.
    BadCertificate {
        path: String,
        why: String,
    },
    /// The key belongs to a later certificate of the chain, not the first.
    OutOfOrder {
        cert: String,
        key: String,
        position: usize,
    },
    Mismatch {
        cert: String,
        key: String,
    },
}

/// What a file holds instead of the section that was wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    Nothing,
    Certificate,
    PrivateKey,
    /// Binary, starting as DER does (a SEQUENCE).
    Der,
}

impl fmt::Display for IdentityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdentityError::CertWithoutKey => f.write_str("--cert needs --key (the certificate's private key, PEM)"),
            IdentityError::KeyWithoutCert => f.write_str("--key needs --cert (the client certificate chain, PEM)"),
            IdentityError::Unreadable { option, path, why } => write!(f, "{option} {path}: {why}"),
            IdentityError::TooLarge { option, path } => {
                write!(f, "{option} {path}: larger than {} KiB, not a PEM certificate or key", MAX_FILE / 1024)
            }
            IdentityError::NotPem { option, path, why } => write!(f, "{option} {path}: not a valid PEM file ({why})"),
            IdentityError::NoCertificate { path, found } => {
                write!(f, "--cert {path}: no PEM certificate in the file")?;
                match found {
                    Found::PrivateKey => f.write_str(" (it holds a private key: are --cert and --key swapped?)"),
                    Found::Der => f.write_str(" (it looks like DER: openssl x509 -inform der -in FILE -out FILE.pem converts it)"),
                    Found::Nothing | Found::Certificate => Ok(()),
                }
            }
            IdentityError::NoKey { path, found } => {
                write!(f, "--key {path}: no PEM private key in the file")?;
                match found {
                    Found::Certificate => f.write_str(" (it holds a certificate: are --cert and --key swapped?)"),
                    Found::Der => f.write_str(" (it looks like DER: openssl pkey -inform der -in FILE -out FILE.pem converts it)"),
                    Found::Nothing | Found::PrivateKey => Ok(()),
                }
            }
            IdentityError::EncryptedKey { path } => write!(
                f,
                "--key {path}: the key is encrypted and a probe cannot ask for its passphrase (openssl pkey -in FILE -out PLAIN.pem decrypts it)"
            ),
            IdentityError::UnusableKey { path, why } => write!(f, "--key {path}: not a usable private key ({why})"),
            IdentityError::BadCertificate { path, why } => write!(f, "--cert {path}: the first certificate is not valid ({why})"),
            IdentityError::OutOfOrder { cert, key, position } => write!(
                f,
                "--key {key} belongs to certificate {position} of --cert {cert}; the client's own certificate must come first"
            ),
            IdentityError::Mismatch { cert, key } => {
                write!(f, "--key {key} does not match the certificate in --cert {cert}")
            }
        }
    }
}

impl std::error::Error for IdentityError {}

/// `--cert` and `--key` as given: both or neither.
pub fn client_identity(cert: Option<&str>, key: Option<&str>) -> Result<Option<ClientIdentity>, IdentityError> {
    match (cert, key) {
        (None, None) => Ok(None),
        (Some(_), None) => Err(IdentityError::CertWithoutKey),
        (None, Some(_)) => Err(IdentityError::KeyWithoutCert),
        (Some(cert), Some(key)) => load_client_identity(cert, key).map(Some),
    }
}

/// Reads a PEM certificate chain (the client's own certificate first) and
/// its private key (PKCS#8, SEC1 or PKCS#1, as rustls reads them), and checks
/// that the key is the certificate's. One file may serve as both.
pub fn load_client_identity(cert_path: &str, key_path: &str) -> Result<ClientIdentity, IdentityError> {
    let chain = read_chain(cert_path)?;
    let key = read_key(key_path)?;
    let provider = ring::default_provider();
    let signer = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| IdentityError::UnusableKey { path: key_path.into(), why: e.to_string() })?;
    let certified = CertifiedKey::new(chain, signer);
    match certified.keys_match() {
        // ring's keys all tell their public key; a key that could not would
        // be left for the server to judge, as rustls itself does.
        Ok(()) | Err(rustls::Error::InconsistentKeys(InconsistentKeys::Unknown)) => {}
        Err(rustls::Error::InconsistentKeys(_)) => {
            let (cert, key) = (cert_path.to_string(), key_path.to_string());
            return Err(match owner_in_chain(&certified) {
                Some(position) => IdentityError::OutOfOrder { cert, key, position },
                None => IdentityError::Mismatch { cert, key },
            });
        }
        Err(e) => {
            // webpki's words for it are `Other(OtherError(UnsupportedCertVersion))`.
            let why = match e.to_string() {
                v1 if v1.contains("UnsupportedCertVersion") => {
                    "a version 1 certificate, which rustls cannot use: issue it with extensions (v3)".into()
                }
                other => other,
            };
            return Err(IdentityError::BadCertificate { path: cert_path.into(), why });
        }
    }
    Ok(ClientIdentity { cert: cert_path.into(), key: key_path.into(), certified: Arc::new(certified) })
}

/// The place (counted from 1) of the certificate in the chain that the key
/// belongs to, when it is not the first.
fn owner_in_chain(certified: &CertifiedKey) -> Option<usize> {
    certified.cert.iter().enumerate().skip(1).find_map(|(i, cert)| {
        let alone = CertifiedKey::new(vec![cert.clone()], certified.key.clone());
        alone.keys_match().is_ok().then_some(i + 1)
    })
}

fn read_chain(path: &str) -> Result<Vec<CertificateDer<'static>>, IdentityError> {
    let bytes = read_file("--cert", path)?;
    let sections = sections("--cert", path, &bytes)?;
    let chain: Vec<CertificateDer<'static>> = sections
        .iter()
        .filter(|(kind, _)| *kind == SectionKind::Certificate)
        .map(|(_, der)| CertificateDer::from(der.clone()))
        .collect();
    if chain.is_empty() {
        let found = found(&bytes, &sections);
        return Err(IdentityError::NoCertificate { path: path.into(), found });
    }
    Ok(chain)
}

fn read_key(path: &str) -> Result<PrivateKeyDer<'static>, IdentityError> {
    let bytes = read_file("--key", path)?;
    // "ENCRYPTED PRIVATE KEY" (PKCS#8) is a section rustls skips, and a
    // legacy "Proc-Type: 4,ENCRYPTED" header breaks the base64: both are
    // named before they turn into "no key" or "not PEM".
    if bytes.windows(9).any(|w| w == b"ENCRYPTED") {
        return Err(IdentityError::EncryptedKey { path: path.into() });
    }
    let sections = sections("--key", path, &bytes)?;
    let key = sections.iter().find_map(|(kind, der)| PrivateKeyDer::from_pem(*kind, der.clone()));
    key.ok_or_else(|| IdentityError::NoKey { path: path.into(), found: found(&bytes, &sections) })
}

/// Every PEM section rustls knows, in file order.
fn sections(option: &'static str, path: &str, bytes: &[u8]) -> Result<Vec<(SectionKind, Vec<u8>)>, IdentityError> {
    <(SectionKind, Vec<u8>)>::pem_slice_iter(bytes).collect::<Result<Vec<_>, _>>().map_err(|e| IdentityError::NotPem {
        option,
        path: path.into(),
        why: e.to_string(),
    })
}

fn found(bytes: &[u8], sections: &[(SectionKind, Vec<u8>)]) -> Found {
    let is_key =
        |k: &SectionKind| matches!(k, SectionKind::PrivateKey | SectionKind::RsaPrivateKey | SectionKind::EcPrivateKey);
    if sections.iter().any(|(k, _)| is_key(k)) {
        Found::PrivateKey
    } else if sections.iter().any(|(k, _)| *k == SectionKind::Certificate) {
        Found::Certificate
    } else if bytes.first() == Some(&0x30) {
        Found::Der
    } else {
        Found::Nothing
    }
}

/// The whole file, at most MAX_FILE bytes. Only a regular file is opened: a
/// FIFO would block the open, with no deadline yet to end it.
fn read_file(option: &'static str, path: &str) -> Result<Vec<u8>, IdentityError> {
    let unreadable = |why: String| IdentityError::Unreadable { option, path: path.into(), why };
    let meta = std::fs::metadata(path).map_err(|e| unreadable(io_reason(&e)))?;
    if meta.is_dir() {
        return Err(unreadable("is a directory, not a file".into()));
    }
    if !meta.is_file() {
        return Err(unreadable("not a regular file".into()));
    }
    let mut bytes = Vec::with_capacity(meta.len().min(MAX_FILE) as usize);
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_FILE + 1).read_to_end(&mut bytes))
        .map_err(|e| unreadable(io_reason(&e)))?;
    if bytes.len() as u64 > MAX_FILE {
        return Err(IdentityError::TooLarge { option, path: path.into() });
    }
    Ok(bytes)
}

fn io_reason(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => "no such file".into(),
        io::ErrorKind::PermissionDenied => "permission denied (is it readable by the user the probe runs as?)".into(),
        _ => e.to_string(),
    }
}

// ------------------------------------------------------------- presenting

/// The client certificate as rustls asks for it: presented when the server
/// sends a CertificateRequest, and the request remembered, so that a bare
/// `handshake failure` alert can be told apart (after a request it is about
/// the client's certificate; without one, about ciphers or versions).
#[derive(Debug)]
pub struct ClientCertificate {
    certified: Option<Arc<CertifiedKey>>,
    requested: AtomicBool,
}

impl ClientCertificate {
    /// Whether the server asked for a certificate since the last `forget`.
    pub fn requested(&self) -> bool {
        self.requested.load(Ordering::Relaxed)
    }

    /// Called before each connection: the configuration serves every attempt of a `--wait`.
    pub fn forget(&self) {
        self.requested.store(false, Ordering::Relaxed);
    }

    pub fn presents(&self) -> bool {
        self.certified.is_some()
    }
}

impl ResolvesClientCert for ClientCertificate {
    fn resolve(&self, _: &[&[u8]], _: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        self.requested.store(true, Ordering::Relaxed);
        self.certified.clone()
    }

    fn has_certs(&self) -> bool {
        self.certified.is_some()
    }
}

/// The last step of the client configuration, in place of
/// `with_no_client_auth`: presents `identity` when the server asks (nothing
/// without one, as `with_no_client_auth` would), and returns the handle that
/// tells whether it asked. The key was loaded and checked at parse time, so
/// this cannot fail.
pub fn with_client_certificate(
    builder: ConfigBuilder<ClientConfig, WantsClientCert>,
    identity: Option<&ClientIdentity>,
) -> (ClientConfig, Arc<ClientCertificate>) {
    let certificate = Arc::new(ClientCertificate {
        certified: identity.map(|i| i.certified.clone()),
        requested: AtomicBool::new(false),
    });
    (builder.with_client_cert_resolver(certificate.clone()), certificate)
}

// ------------------------------------------------------------- refusals

/// A server that would not take the client: it wanted a certificate and got
/// none, or it refused the one presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    NoneSent,
    Refused(Why),
}

/// The reason a server gave for refusing the certificate presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    UnknownCa,
    BadCertificate,
    Unsupported,
    Revoked,
    Expired,
    CertificateUnknown,
    AccessDenied,
    /// `handshake failure`, after the server had asked for the certificate.
    HandshakeFailure,
    /// nginx's 400 "The SSL certificate error" (its error log says why).
    NginxCertificateError,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let why = match self {
            Refusal::NoneSent => {
                return f.write_str("the server requires a client certificate and none was sent (--cert FILE --key FILE)")
            }
            Refusal::Refused(why) => match why {
                Why::UnknownCa => "unknown CA: the server does not trust its issuer",
                Why::BadCertificate => "bad certificate",
                Why::Unsupported => "unsupported certificate: a key type or usage it does not take (clientAuth?)",
                Why::Revoked => "revoked",
                Why::Expired => "expired or not yet valid (check the dates and the clocks)",
                Why::CertificateUnknown => "certificate unknown",
                Why::AccessDenied => "access denied: valid, but not allowed here",
                Why::HandshakeFailure => "handshake failure after asking for it",
                Why::NginxCertificateError => {
                    "nginx: The SSL certificate error; its error log says why, often an issuer not in ssl_client_certificate"
                }
            },
        };
        write!(f, "the server refused the client certificate ({why})")
    }
}

/// A TLS alert from the server, read as a refusal of the client when it is
/// one. `presented`: a client certificate was configured; `requested`: the
/// server sent a CertificateRequest (`ClientCertificate::requested`).
///
/// With TLS 1.3 the client's handshake is over before the server has read
/// its certificate, so the alert usually arrives on the first read after the
/// handshake, in place of the response: call this there too.
pub fn refusal_in_alert(error: &rustls::Error, presented: bool, requested: bool) -> Option<Refusal> {
    let rustls::Error::AlertReceived(alert) = error else {
        return None;
    };
    let why = match alert {
        AlertDescription::CertificateRequired => return Some(Refusal::NoneSent),
        AlertDescription::UnknownCA => Why::UnknownCa,
        AlertDescription::BadCertificate => Why::BadCertificate,
        AlertDescription::UnsupportedCertificate => Why::Unsupported,
        AlertDescription::CertificateRevoked => Why::Revoked,
        AlertDescription::CertificateExpired => Why::Expired,
        AlertDescription::CertificateUnknown => Why::CertificateUnknown,
        AlertDescription::AccessDenied => Why::AccessDenied,
        AlertDescription::HandshakeFailure if requested => Why::HandshakeFailure,
        _ => return None,
    };
    // The client verifies the server's certificate itself; a certificate
    // alert from the server can only be about the client's. Without one,
    // it means the server wanted one (a TLS 1.2 server, or Go's, says so
    // with `bad certificate` or `handshake failure`).
    Some(if presented { Refusal::Refused(why) } else { Refusal::NoneSent })
}

/// A write that failed in the handshake (broken pipe, reset) often hides why:
/// a TLS 1.2 server that refuses the client's empty Certificate sends its
/// alert and closes before the client's next flight arrives, and the write
/// of that flight fails first. The alert is still in the socket: this reads
/// once and returns rustls's error for what it held, else the write's error.
pub fn alert_behind(error: io::Error, conn: &mut rustls::ClientConnection, socket: &mut dyn Read) -> io::Error {
    let after_close = matches!(
        error.kind(),
        io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted
    );
    if !after_close || !matches!(conn.read_tls(socket), Ok(n) if n > 0) {
        return error;
    }
    match conn.process_new_packets() {
        Err(tls) => io::Error::new(io::ErrorKind::InvalidData, tls),
        Ok(_) => error,
    }
}

/// nginx with `ssl_verify_client on` completes the handshake and answers 400
/// with one of these bodies (its internal statuses 496 and 495).
const NGINX_NO_CERTIFICATE: &[u8] = b"No required SSL certificate was sent";
const NGINX_CERTIFICATE_ERROR: &[u8] = b"The SSL certificate error";

/// A 400 whose body is nginx's refusal of the client certificate; the body
/// is the excerpt read for the failure line. Call it before the 400's
/// ALLOWED_HOSTS hint, which it replaces: the hint must follow the cause.
pub fn refusal_in_response(status: u16, body: &[u8]) -> Option<Refusal> {
    if status != 400 {
        return None;
    }
    let has = |text: &[u8]| body.windows(text.len()).any(|w| w == text);
    if has(NGINX_NO_CERTIFICATE) {
        Some(Refusal::NoneSent)
    } else if has(NGINX_CERTIFICATE_ERROR) {
        Some(Refusal::Refused(Why::NginxCertificateError))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};
    use std::process::Command;
    use std::sync::OnceLock;

    /// Certificates made for this run by the `openssl` command: a CA, a
    /// client (EC, PKCS#8 key) signed by it, the same key as SEC1, an RSA
    /// client with a PKCS#1 key, an Ed25519 client, a stray key, encrypted keys.
    fn dir() -> &'static Path {
        static DIR: OnceLock<PathBuf> = OnceLock::new();
        DIR.get_or_init(|| {
            // Beside the test executable, under target/ (cargo clean removes it); per process.
            let exe = std::env::current_exe().unwrap();
            let dir = exe.parent().unwrap().join(format!("identity-certs-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            let openssl = |args: &[&str]| {
                let out = Command::new("openssl")
                    .args(args)
                    .current_dir(&dir)
                    .output()
                    .expect("the openssl command is needed");
                assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
            };
            let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
            let mut ca = vec![
                "req",
                "-x509",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=identity test CA",
            ];
            ca.extend(ec);
            openssl(&ca);
            std::fs::write(
                dir.join("client.ext"),
                "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n",
            )
            .unwrap();
            let sign = |name: &str| {
                let (csr, pem) = (format!("{name}.csr"), format!("{name}.pem"));
                let days = ["-days", "2", "-extfile", "client.ext", "-out", &pem];
                openssl(
                    &[
                        &["x509", "-req", "-in", &csr, "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial"][..],
                        &days,
                    ]
                    .concat(),
                );
            };
            let mut req = vec!["req", "-new", "-keyout", "ec.key", "-out", "ec.csr", "-subj", "/CN=ec"];
            req.extend(ec);
            openssl(&req);
            sign("ec");
            openssl(&["ec", "-in", "ec.key", "-out", "ec-sec1.key"]);
            openssl(&["genrsa", "-traditional", "-out", "rsa.key", "2048"]);
            openssl(&["req", "-new", "-key", "rsa.key", "-out", "rsa.csr", "-subj", "/CN=rsa"]);
            sign("rsa");
            openssl(&["genpkey", "-algorithm", "ed25519", "-out", "ed.key"]);
            openssl(&["req", "-new", "-key", "ed.key", "-out", "ed.csr", "-subj", "/CN=ed"]);
            sign("ed");
            openssl(&["genpkey", "-algorithm", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-out", "stray.key"]);
            std::fs::write(dir.join("server.ext"), "subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n")
                .unwrap();
            let mut req = vec!["req", "-new", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"];
            req.extend(ec);
            openssl(&req);
            let server = ["-CAcreateserial", "-days", "2", "-extfile", "server.ext", "-out", "server.pem"];
            openssl(
                &[&["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key"][..], &server].concat(),
            );
            let mut own =
                vec!["req", "-x509", "-keyout", "self.key", "-out", "self.pem", "-days", "2", "-subj", "/CN=self"];
            own.extend(ec);
            own.extend(["-addext", "extendedKeyUsage=clientAuth"]);
            openssl(&own);
            openssl(&["pkey", "-in", "ec.key", "-aes256", "-passout", "pass:x", "-out", "encrypted.key"]);
            openssl(&["ec", "-in", "ec.key", "-aes256", "-passout", "pass:x", "-out", "encrypted-legacy.key"]);
            openssl(&["x509", "-in", "ec.pem", "-outform", "der", "-out", "ec.der"]);
            // Without extensions, `openssl x509 -req` makes a version 1 certificate.
            openssl(&[
                "x509",
                "-req",
                "-in",
                "ec.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-out",
                "v1.pem",
            ]);
            let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
            std::fs::write(dir.join("chain.pem"), read("ec.pem") + &read("ca.pem")).unwrap();
            std::fs::write(dir.join("reversed.pem"), read("ca.pem") + &read("ec.pem")).unwrap();
            std::fs::write(dir.join("both.pem"), read("ec.pem") + &read("ec.key")).unwrap();
            std::fs::write(dir.join("garbage.pem"), "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n")
                .unwrap();
            std::fs::write(dir.join("empty.pem"), "").unwrap();
            dir
        })
    }

    fn path(name: &str) -> String {
        dir().join(name).to_str().unwrap().to_string()
    }

    fn load(cert: &str, key: &str) -> Result<ClientIdentity, IdentityError> {
        load_client_identity(&path(cert), &path(key))
    }

    #[test]
    fn every_key_format_rustls_reads() {
        for (cert, key) in [
            ("ec.pem", "ec.key"),
            ("ec.pem", "ec-sec1.key"),
            ("rsa.pem", "rsa.key"),
            ("ed.pem", "ed.key"),
            ("chain.pem", "ec.key"),
            ("both.pem", "both.pem"),
        ] {
            let identity = load(cert, key).unwrap_or_else(|e| panic!("{cert} {key}: {e}"));
            assert_eq!((identity.cert.as_str(), identity.key.as_str()), (path(cert).as_str(), path(key).as_str()));
        }
        assert_eq!(load("chain.pem", "ec.key").unwrap().certified.cert.len(), 2);
        assert!(std::fs::read_to_string(path("rsa.key")).unwrap().starts_with("-----BEGIN RSA PRIVATE KEY-----"));
        assert!(std::fs::read_to_string(path("ec-sec1.key")).unwrap().starts_with("-----BEGIN EC PRIVATE KEY-----"));
        assert!(std::fs::read_to_string(path("ec.key")).unwrap().starts_with("-----BEGIN PRIVATE KEY-----"));
    }

    #[test]
    fn each_wrong_file_is_named() {
        let missing = path("missing.pem");
        let cases: &[(&str, &str, &str)] = &[
            ("missing.pem", "ec.key", &format!("--cert {missing}: no such file")),
            ("ec.pem", "missing.pem", &format!("--key {missing}: no such file")),
            (".", "ec.key", "is a directory"),
            ("empty.pem", "ec.key", "no PEM certificate in the file"),
            ("ec.key", "ec.key", "it holds a private key: are --cert and --key swapped?"),
            ("ec.der", "ec.key", "it looks like DER"),
            ("garbage.pem", "ec.key", "not a valid PEM file"),
            ("ec.pem", "ec.pem", "it holds a certificate: are --cert and --key swapped?"),
            ("ec.pem", "empty.pem", "no PEM private key in the file"),
            ("ec.pem", "encrypted.key", "the key is encrypted"),
            ("ec.pem", "encrypted-legacy.key", "the key is encrypted"),
            ("ec.pem", "stray.key", "does not match the certificate in --cert"),
            ("ec.pem", "rsa.key", "does not match the certificate in --cert"),
            ("reversed.pem", "ec.key", "belongs to certificate 2 of --cert"),
            ("v1.pem", "ec.key", "a version 1 certificate"),
        ];
        for (cert, key, words) in cases {
            let e = load(cert, key).map(|_| ()).unwrap_err().to_string();
            assert!(e.contains(words), "{cert} {key}: {e:?} should contain {words:?}");
            let named = if e.starts_with("--key") { key } else { cert };
            assert!(e.contains(&path(named)) || *cert == ".", "{e} names the file");
        }
    }

    #[test]
    fn both_or_neither() {
        assert_eq!(client_identity(None, None), Ok(None));
        assert_eq!(client_identity(Some("c.pem"), None), Err(IdentityError::CertWithoutKey));
        assert_eq!(client_identity(None, Some("k.pem")), Err(IdentityError::KeyWithoutCert));
        assert!(IdentityError::CertWithoutKey.to_string().starts_with("--cert needs --key"));
        assert!(IdentityError::KeyWithoutCert.to_string().starts_with("--key needs --cert"));
        assert!(client_identity(Some(&path("ec.pem")), Some(&path("ec.key"))).unwrap().is_some());
    }

    #[test]
    fn unreadable_and_special_files() {
        let e = load_client_identity("/dev/zero", &path("ec.key")).unwrap_err().to_string();
        assert_eq!(e, "--cert /dev/zero: not a regular file");
        let big = dir().join("big.pem");
        std::fs::write(&big, vec![b'a'; MAX_FILE as usize + 1]).unwrap();
        let e = load_client_identity(big.to_str().unwrap(), &path("ec.key")).unwrap_err().to_string();
        assert!(e.contains("larger than 1024 KiB"), "{e}");
        // Root reads any file: the permission case only means something as another user.
        let secret = dir().join("secret.key");
        std::fs::copy(path("ec.key"), &secret).unwrap();
        std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o000)).unwrap();
        if std::fs::read(&secret).is_err() {
            let e = load_client_identity(&path("ec.pem"), secret.to_str().unwrap()).unwrap_err().to_string();
            assert!(e.contains("permission denied"), "{e}");
        } else {
            eprintln!("unreadable_and_special_files: running as root, the unreadable-file case is only checked by its sentence");
        }
        assert_eq!(
            io_reason(&io::Error::from(io::ErrorKind::PermissionDenied)),
            "permission denied (is it readable by the user the probe runs as?)"
        );
    }

    #[test]
    fn presents_only_what_was_given_and_remembers_the_request() {
        let identity = load("ec.pem", "ec.key").unwrap();
        let builder = || {
            ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(rustls::RootCertStore::empty())
        };
        let (config, certificate) = with_client_certificate(builder(), Some(&identity));
        assert!(config.client_auth_cert_resolver.has_certs() && certificate.presents());
        assert!(!certificate.requested());
        let presented = config.client_auth_cert_resolver.resolve(&[], &[]).unwrap();
        assert_eq!(presented.cert, identity.certified.cert);
        assert!(certificate.requested());
        certificate.forget();
        assert!(!certificate.requested());
        let (config, certificate) = with_client_certificate(builder(), None);
        assert!(!config.client_auth_cert_resolver.has_certs() && !certificate.presents());
        assert!(config.client_auth_cert_resolver.resolve(&[], &[]).is_none());
        assert!(certificate.requested());
        assert!(!format!("{identity:?}").contains("certified"));
    }

    #[test]
    fn alerts_that_refuse_the_client() {
        use AlertDescription as A;
        let alert = |a| rustls::Error::AlertReceived(a);
        let cases = [
            (A::CertificateRequired, false, false, Some(Refusal::NoneSent)),
            (A::CertificateRequired, true, true, Some(Refusal::NoneSent)),
            (A::UnknownCA, true, true, Some(Refusal::Refused(Why::UnknownCa))),
            (A::BadCertificate, true, true, Some(Refusal::Refused(Why::BadCertificate))),
            (A::BadCertificate, false, true, Some(Refusal::NoneSent)),
            (A::CertificateUnknown, true, true, Some(Refusal::Refused(Why::CertificateUnknown))),
            (A::CertificateExpired, true, true, Some(Refusal::Refused(Why::Expired))),
            (A::AccessDenied, true, true, Some(Refusal::Refused(Why::AccessDenied))),
            (A::HandshakeFailure, false, true, Some(Refusal::NoneSent)),
            (A::HandshakeFailure, true, true, Some(Refusal::Refused(Why::HandshakeFailure))),
            // Without a CertificateRequest, a handshake failure is about ciphers or versions.
            (A::HandshakeFailure, true, false, None),
            (A::HandshakeFailure, false, false, None),
            (A::ProtocolVersion, true, true, None),
            (A::InternalError, true, true, None),
        ];
        for (a, presented, requested, want) in cases {
            assert_eq!(
                refusal_in_alert(&alert(a), presented, requested),
                want,
                "{a:?} presented={presented} requested={requested}"
            );
        }
        assert_eq!(refusal_in_alert(&rustls::Error::HandshakeNotComplete, true, true), None);
        let line = Refusal::Refused(Why::UnknownCa).to_string();
        assert_eq!(
            line,
            "the server refused the client certificate (unknown CA: the server does not trust its issuer)"
        );
        assert!(Refusal::NoneSent.to_string().contains("requires a client certificate and none was sent"));
    }

    /// A rustls server on loopback demanding a client certificate from the
    /// test CA, and what a client presenting `identity` reads of its refusal:
    /// through the handshake (with `alert_behind`), then a first read.
    fn refused(
        version: &'static rustls::SupportedProtocolVersion,
        identity: Option<&ClientIdentity>,
    ) -> Option<Refusal> {
        use rustls::pki_types::ServerName;
        use std::io::Write;
        let provider = Arc::new(ring::default_provider());
        let ca = CertificateDer::from_pem_file(path("ca.pem")).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca).unwrap();
        let roots = Arc::new(roots);
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
            .build()
            .unwrap();
        let chain = vec![CertificateDer::from_pem_file(path("server.pem")).unwrap()];
        let key = PrivateKeyDer::from_pem_file(path("server.key")).unwrap();
        let server = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[version])
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)
            .unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let serving = std::thread::spawn(move || {
            let (mut socket, _) = listener.accept().unwrap();
            let mut conn = rustls::ServerConnection::new(Arc::new(server)).unwrap();
            while conn.is_handshaking() {
                if conn.complete_io(&mut socket).is_err() {
                    return;
                }
            }
            let _ = conn.complete_io(&mut socket);
        });
        let builder = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[version])
            .unwrap()
            .with_root_certificates(roots);
        let (config, certificate) = with_client_certificate(builder, identity);
        let name = ServerName::try_from("localhost").unwrap();
        let mut conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
        let mut socket = std::net::TcpStream::connect(addr).unwrap();
        socket.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
        let mut failure = None;
        while conn.is_handshaking() && failure.is_none() {
            failure = conn.complete_io(&mut socket).err().map(|e| alert_behind(e, &mut conn, &mut socket));
        }
        let failure = failure.unwrap_or_else(|| {
            let mut stream = rustls::Stream::new(&mut conn, &mut socket);
            let _ = stream.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
            stream.read(&mut [0u8; 64]).unwrap_err()
        });
        serving.join().unwrap();
        let tls = failure.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>());
        let tls = tls.unwrap_or_else(|| panic!("{version:?}: not a TLS error: {failure}"));
        refusal_in_alert(tls, certificate.presents(), certificate.requested())
    }

    #[test]
    fn a_refusal_is_read_whichever_version_and_moment() {
        let stranger = load("self.pem", "self.key").unwrap();
        for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
            assert_eq!(refused(version, None), Some(Refusal::NoneSent), "{version:?} without a certificate");
            let why = refused(version, Some(&stranger));
            assert!(
                matches!(why, Some(Refusal::Refused(_))),
                "{version:?} with a certificate it does not trust: {why:?}"
            );
            let line = why.unwrap().to_string();
            assert!(line.starts_with("the server refused the client certificate ("), "{line}");
        }
    }

    /// The client's socket as ureq's transport writes it, one TLS record a
    /// write; from the third write on, it first waits until the server has
    /// closed. So a TLS 1.2 client's second flight meets a closed socket, as
    /// it does in the probe.
    struct RecordByRecord {
        socket: std::net::TcpStream,
        closed: std::sync::mpsc::Receiver<()>,
        writes: usize,
    }

    impl Read for RecordByRecord {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.socket.read(buf)
        }
    }

    impl io::Write for RecordByRecord {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.writes += 1;
            if self.writes == 3 {
                let _ = self.closed.recv_timeout(std::time::Duration::from_secs(5));
            }
            let record = buf.get(3..5).map_or(buf.len(), |n| 5 + usize::from(u16::from_be_bytes([n[0], n[1]])));
            self.socket.write(&buf[..record.min(buf.len())])
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_alert_behind_a_broken_pipe() {
        use rustls::pki_types::ServerName;
        let provider = Arc::new(ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from_pem_file(path("ca.pem")).unwrap()).unwrap();
        let roots = Arc::new(roots);
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
            .build()
            .unwrap();
        let chain = vec![CertificateDer::from_pem_file(path("server.pem")).unwrap()];
        let key = PrivateKeyDer::from_pem_file(path("server.key")).unwrap();
        let server = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS12])
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)
            .unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, closed) = std::sync::mpsc::channel();
        let serving = std::thread::spawn(move || {
            let (mut socket, _) = listener.accept().unwrap();
            let mut conn = rustls::ServerConnection::new(Arc::new(server)).unwrap();
            while conn.is_handshaking() && conn.complete_io(&mut socket).is_ok() {}
            // Unread bytes in the socket: closing it sends a reset.
            drop(socket);
            tx.send(()).unwrap();
        });
        let builder = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS12])
            .unwrap()
            .with_root_certificates(roots);
        let (config, certificate) = with_client_certificate(builder, None);
        let mut conn =
            rustls::ClientConnection::new(Arc::new(config), ServerName::try_from("localhost").unwrap()).unwrap();
        let socket = std::net::TcpStream::connect(addr).unwrap();
        socket.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
        let mut socket = RecordByRecord { socket, closed, writes: 0 };
        let error = loop {
            if let Err(e) = conn.complete_io(&mut socket) {
                break e;
            }
        };
        serving.join().unwrap();
        assert!(
            matches!(error.kind(), io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset),
            "the write meets a closed socket: {error}"
        );
        let error = alert_behind(error, &mut conn, &mut socket);
        let tls = error
            .get_ref()
            .and_then(|e| e.downcast_ref::<rustls::Error>())
            .expect("the alert, read after the write failed");
        assert_eq!(refusal_in_alert(tls, certificate.presents(), certificate.requested()), Some(Refusal::NoneSent));
    }

    #[test]
    fn nginx_refusals_in_a_400() {
        let page = |text: &str| {
            format!("<html>\r\n<head><title>400 {text}</title></head>\r\n<body>\r\n<center><h1>400 Bad Request</h1></center>\r\n<center>{text}</center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")
        };
        let none = page("No required SSL certificate was sent");
        let error = page("The SSL certificate error");
        assert_eq!(refusal_in_response(400, none.as_bytes()), Some(Refusal::NoneSent));
        assert_eq!(refusal_in_response(400, error.as_bytes()), Some(Refusal::Refused(Why::NginxCertificateError)));
        assert_eq!(refusal_in_response(403, none.as_bytes()), None);
        assert_eq!(refusal_in_response(400, b"Bad Request (400)"), None);
        assert_eq!(refusal_in_response(400, b""), None);
        assert_eq!(refusal_in_response(400, page("The plain HTTP request was sent to HTTPS port").as_bytes()), None);
        assert!(Refusal::Refused(Why::NginxCertificateError)
            .to_string()
            .starts_with("the server refused the client certificate (nginx: "));
    }
}
