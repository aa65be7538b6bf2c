//! The connectors: TCP to every address of a name with the most telling
//! failure, a Unix domain socket (Gunicorn `--bind unix:PATH`) and, in the TLS
//! build, rustls over the connection.
//!
//! Both plug into ureq's `unversioned::transport` API, which is outside
//! ureq's semver promise: Cargo.toml pins ureq to one minor version.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use ureq::unversioned::transport::time::Instant;
use ureq::unversioned::transport::{Buffers, ConnectionDetails, Connector, LazyBuffers, NextTimeout, Transport};
use ureq::{Error, Timeout};

#[cfg(feature = "tls")]
pub use tls::TlsConnector;

/// Why no connection was made: what the connectors know, as data, for
/// probe.rs to turn into its `Failure` and report.rs into words.
#[derive(Debug)]
pub enum Unconnected {
    /// The deadline passed while connecting.
    TimedOut,
    /// Every address in the list answered with a refusal (never empty).
    Refused(Vec<SocketAddr>),
    /// No address could even be tried: these were, and the first reason.
    Unreachable {
        addrs: Vec<SocketAddr>,
        error: io::Error,
    },
    /// Any other failure of connect(2).
    Io(io::Error),
    /// The system resolver found no address for `host` (`error` is None) or
    /// failed with `error`.
    Unresolved {
        host: String,
        error: Option<io::Error>,
    },
    /// `--unix-socket`: a socket file that nobody listens on.
    SocketRefused(String),
    NoSuchSocket(String),
    NotASocket(String),
    SocketError {
        path: String,
        error: io::Error,
    },
    /// An http:// URL, and the port answered with a TLS record.
    SpeaksTls,
    /// TCP connected, the TLS handshake did not finish in time.
    #[cfg(feature = "tls")]
    HandshakeTimedOut,
    /// TCP connected, the TLS handshake failed: a sentence naming the host.
    #[cfg(feature = "tls")]
    Handshake(String),
}

// ureq's `Connector` and `Resolver` can only fail with a `ureq::Error`, so an
// `Unconnected` travels as `Error::Other`; `unconnected` below is the one
// place that takes it out again.
impl From<Unconnected> for Error {
    fn from(why: Unconnected) -> Error {
        Error::Other(Box::new(why))
    }
}

/// The `Unconnected` a connector or the resolver put into `error`, or the
/// error itself when it came from ureq (after the connection was made).
pub fn unconnected(error: Error) -> Result<Unconnected, Error> {
    match error {
        Error::Other(boxed) => boxed.downcast::<Unconnected>().map(|why| *why).map_err(Error::Other),
        other => Err(other),
    }
}

// Required of `Error::Other`'s contents; nothing prints it (report.rs words
// the failure), and a derived or formatted one would bring formatting code
// into the binary.
impl fmt::Display for Unconnected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not connected")
    }
}

impl std::error::Error for Unconnected {}

/// TCP to each address of the target in turn, within the one deadline.
/// ureq's TcpConnector does the same but reports the last address's failure:
/// for `localhost` where IPv6 is off (Docker's default network) that is ::1's
/// "address not available", when what matters is that nothing listens on
/// 127.0.0.1. `walk` decides the order and the most telling failure. With
/// `--unix-socket`, the connection made before it passes through.
pub struct EveryAddress;

/// The least time an address is given, as in ureq's own split.
const MIN_PER_ADDRESS: Duration = Duration::from_millis(10);

impl Connector<Connection> for EveryAddress {
    type Out = Connection;

    fn connect(&self, details: &ConnectionDetails, chained: Option<Connection>) -> Result<Option<Connection>, Error> {
        if chained.is_some() {
            return Ok(chained);
        }
        let start = std::time::Instant::now();
        let budget = time_left_since(details);
        let stream =
            walk(&details.addrs, budget, || start.elapsed(), |addr, share| TcpStream::connect_timeout(&addr, share))?;
        // Nagle's algorithm holds a small write back only while an earlier one is
        // unacknowledged. A plain HTTP request leaves in one write with nothing
        // after it; a TLS handshake writes several times, so it sends at once.
        if details.uri.scheme_str() == Some("https") {
            stream.set_nodelay(true).map_err(Unconnected::Io)?;
        }
        Ok(Some(Connection::new(Socket::Tcp(stream), details)))
    }
}

/// Tries `addrs` in order within `budget` (`elapsed` tells how much of it is
/// gone), each with `connect`, until one connects; otherwise the most
/// telling failure: every refusal, then a timeout, then the first
/// "unavailable" or "unreachable" with the addresses tried. Each address but
/// the last is given half of what is left, so that a silent first address
/// leaves time for the others. A plain function of what `connect` returns.
///
/// Our own rather than ureq's TcpConnector, whose transport also sets a
/// write timeout and TCP_NODELAY: two system calls of a probe's 28 that buy
/// nothing here (see `Connection::transmit_output` for the first).
pub fn walk<C>(
    addrs: &[SocketAddr],
    budget: Duration,
    elapsed: impl Fn() -> Duration,
    mut connect: impl FnMut(SocketAddr, Duration) -> io::Result<C>,
) -> Result<C, Unconnected> {
    let (mut refused, mut timed_out, mut unavailable) = (Vec::new(), false, None);
    for (i, addr) in addrs.iter().enumerate() {
        let left = budget.saturating_sub(elapsed());
        if left.is_zero() {
            timed_out = true;
            break;
        }
        let share = if i + 1 == addrs.len() { left } else { (left / 2).max(MIN_PER_ADDRESS).min(left) };
        match connect(*addr, share) {
            Ok(connected) => return Ok(connected),
            Err(e) => match e.kind() {
                io::ErrorKind::ConnectionRefused => refused.push(*addr),
                // A socket timeout is WouldBlock on Linux and TimedOut elsewhere.
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => timed_out = true,
                _ if is_unavailable(&e) => {
                    unavailable.get_or_insert(e);
                }
                _ => return Err(Unconnected::Io(e)),
            },
        }
    }
    if !refused.is_empty() {
        return Err(Unconnected::Refused(refused));
    }
    match unavailable {
        Some(error) if !timed_out => Err(Unconnected::Unreachable { addrs: addrs.to_vec(), error }),
        _ => Err(Unconnected::TimedOut),
    }
}

/// The failures that concern one address only: the local stack refused to
/// route there without asking anyone (e.g. ::1 where IPv6 is off).
fn is_unavailable(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::AddrNotAvailable
            | io::ErrorKind::HostUnreachable
            | io::ErrorKind::NetworkUnreachable
            | io::ErrorKind::NetworkDown
    )
}

/// What is left of the connect timeout, which was measured from `details.now`.
fn time_left_since(details: &ConnectionDetails) -> Duration {
    let after = *details.timeout.after;
    match (details.now, (details.current_time)()) {
        (Instant::Exact(start), Instant::Exact(now)) => after.saturating_sub(now.saturating_duration_since(start)),
        _ => after,
    }
}

impl fmt::Debug for EveryAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("tcp")
    }
}

/// With `--unix-socket PATH`, connects to that socket; without, leaves the
/// connection to EveryAddress chained after it. (One connector chain for
/// both keeps one copy of ureq's generic code in the binary.)
pub struct UnixConnector(pub Option<String>);

impl Connector<()> for UnixConnector {
    type Out = Connection;

    fn connect(&self, details: &ConnectionDetails, _: Option<()>) -> Result<Option<Connection>, Error> {
        let Some(path) = &self.0 else { return Ok(None) };
        // connect(2) on a Unix socket does not wait for the server: it either
        // queues on the listen backlog or fails at once. (Only a full backlog
        // blocks it; the watchdog bounds that.)
        let stream = UnixStream::connect(path).map_err(|e| unix_failure(path, e))?;
        Ok(Some(Connection::new(Socket::Unix(stream), details)))
    }
}

/// A refused connection on something that is not a socket means the path is
/// wrong, not that the app is down: which it is.
fn unix_failure(path: &str, error: io::Error) -> Unconnected {
    let path = path.to_string();
    match error.kind() {
        io::ErrorKind::ConnectionRefused => match std::fs::metadata(&path) {
            Ok(m) if !m.file_type().is_socket() => Unconnected::NotASocket(path),
            _ => Unconnected::SocketRefused(path),
        },
        io::ErrorKind::NotFound => Unconnected::NoSuchSocket(path),
        _ => Unconnected::SocketError { path, error },
    }
}

/// One connection, over TCP or a Unix socket, and ureq's buffers for it.
/// ureq's deadline arrives as the `NextTimeout` of every call.
pub struct Connection {
    socket: Socket,
    buffers: LazyBuffers,
    /// Plain HTTP, and nothing read yet: the first bytes are looked at for
    /// a TLS record (an http:// URL to a port that speaks TLS).
    first_plain_read: bool,
}

enum Socket {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Connection {
    fn new(socket: Socket, details: &ConnectionDetails) -> Connection {
        let config = details.config;
        let buffers = LazyBuffers::new(config.input_buffer_size(), config.output_buffer_size());
        Connection { socket, buffers, first_plain_read: !details.needs_tls() }
    }
}

// ureq wants Debug; a derived one would bring the formatting of paths and
// socket addresses into the binary (2.5 KB) for output nobody reads.
impl fmt::Debug for UnixConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("unix")
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("connection")
    }
}

/// What is left of the deadline, or a timeout error when nothing is.
fn time_left(timeout: NextTimeout) -> Result<Option<std::time::Duration>, Error> {
    if timeout.after.is_zero() {
        return Err(Error::Timeout(timeout.reason));
    }
    Ok(timeout.not_zero().map(|d| *d))
}

fn timed_out(e: io::Error, reason: Timeout) -> Error {
    // A socket timeout is WouldBlock on Linux and TimedOut elsewhere.
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Error::Timeout(reason),
        _ => Error::Io(e),
    }
}

impl Transport for Connection {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), Error> {
        // No write timeout (a system call on every probe): what is written
        // fits the socket's send buffer at once. A request is at most
        // OUTPUT_BUFFER (4 KiB; cli refuses a longer one) and a TLS record of
        // the handshake less, against a send buffer of 16 KiB or more. Only a
        // peer that stops acknowledging could hold a write back, and the
        // watchdog ends that.
        let timeout = timeout.for_write();
        time_left(timeout)?;
        let output = &self.buffers.output()[..amount];
        let written = match &mut self.socket {
            Socket::Tcp(s) => s.write_all(output),
            Socket::Unix(s) => s.write_all(output),
        };
        written.map_err(|e| timed_out(e, timeout.reason))
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, Error> {
        let timeout = timeout.for_read();
        let left = time_left(timeout)?;
        match &self.socket {
            Socket::Tcp(s) => s.set_read_timeout(left)?,
            Socket::Unix(s) => s.set_read_timeout(left)?,
        }
        let input = self.buffers.input_append_buf();
        let amount = loop {
            let read = match &mut self.socket {
                Socket::Tcp(s) => s.read(input),
                Socket::Unix(s) => s.read(input),
            };
            // The only signals whose handlers return come once the verdict is
            // decided (src/watchdog.rs), so a retry cannot outlive the deadline.
            match read {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other.map_err(|e| timed_out(e, timeout.reason))?,
            }
        };
        if self.first_plain_read && amount > 0 {
            self.first_plain_read = false;
            if crate::scheme::is_tls_record(&input[..amount]) {
                return Err(Unconnected::SpeaksTls.into());
            }
        }
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        // A probe makes one request and keeps no connection for another.
        false
    }
}

/// Stands in for the TLS connector in the HTTP-only build, where cli.rs has
/// already refused https:// URLs.
#[cfg(not(feature = "tls"))]
#[derive(Clone)]
pub struct TlsConnector;

#[cfg(not(feature = "tls"))]
impl fmt::Debug for TlsConnector {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        Ok(())
    }
}

#[cfg(not(feature = "tls"))]
impl TlsConnector {
    pub fn new(_: &crate::config::Tls, _: Option<&()>, _https: bool) -> Result<Self, String> {
        Ok(TlsConnector)
    }
}

#[cfg(not(feature = "tls"))]
impl<In: Transport> Connector<In> for TlsConnector {
    type Out = In;

    fn connect(&self, _: &ConnectionDetails, chained: Option<In>) -> Result<Option<In>, Error> {
        Ok(chained)
    }
}

#[cfg(feature = "tls")]
mod tls {
    use super::*;

    use std::sync::Arc;

    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::crypto::{ring, CryptoProvider, WebPkiSupportedAlgorithms};
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::{CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, StreamOwned};
    use ureq::unversioned::transport::time::{Duration, Instant};
    use ureq::unversioned::transport::TransportAdapter;

    use crate::config::Tls;
    use crate::identity::{self, ClientCertificate, ClientIdentity};

    fn failed(why: String) -> Error {
        Unconnected::Handshake(why).into()
    }

    /// Wraps the connection in TLS for https:// URLs. Our own rather than
    /// ureq's RustlsConnector, whose "no verification" mode also skips the
    /// handshake signatures, and whose errors lose the certificate's story.
    /// The client configuration, built once per probe; None for http:// targets.
    #[derive(Debug, Clone)]
    pub struct TlsConnector(Option<(Arc<ClientConfig>, Arc<ClientCertificate>)>);

    impl TlsConnector {
        /// Reads the --cacert file once, before any connection, and only for
        /// an https:// URL: an unusable bundle fails the probe at once, not
        /// on every attempt of a --wait. `identity` is --cert and --key, read
        /// at parse time.
        pub fn new(tls: &Tls, identity: Option<&ClientIdentity>, https: bool) -> Result<Self, String> {
            if !https {
                return Ok(TlsConnector(None));
            }
            let (config, certificate) = client_config(tls, identity)?;
            Ok(TlsConnector(Some((Arc::new(config), certificate))))
        }
    }

    fn client_config(
        tls: &Tls,
        identity: Option<&ClientIdentity>,
    ) -> Result<(ClientConfig, Arc<ClientCertificate>), String> {
        let provider = Arc::new(ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?;
        let builder = match tls {
            Tls::Insecure => builder.dangerous().with_custom_certificate_verifier(Arc::new(AnyCertificate(provider))),
            Tls::Verify { cacert: None } => {
                builder.with_root_certificates(RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() })
            }
            Tls::Verify { cacert: Some(path) } => builder.with_root_certificates(read_cacert(path)?),
        };
        Ok(identity::with_client_certificate(builder, identity))
    }

    fn read_cacert(path: &str) -> Result<RootCertStore, String> {
        let mut roots = RootCertStore::empty();
        let certs = CertificateDer::pem_file_iter(path).map_err(|e| format!("--cacert {path}: {}", pem_error(e)))?;
        for cert in certs {
            let cert = cert.map_err(|e| format!("--cacert {path}: {}", pem_error(e)))?;
            roots.add(cert).map_err(|e| format!("--cacert {path}: a certificate is not usable: {e}"))?;
        }
        if roots.is_empty() {
            return Err(format!("--cacert {path}: no PEM certificate in the file"));
        }
        Ok(roots)
    }

    fn pem_error(e: rustls::pki_types::pem::Error) -> String {
        match e {
            rustls::pki_types::pem::Error::Io(e) => e.to_string(),
            other => format!("not a valid PEM file ({other:?})"),
        }
    }

    impl<In: Transport> Connector<In> for TlsConnector {
        type Out = ureq::unversioned::transport::Either<In, TlsTransport>;

        fn connect(&self, details: &ConnectionDetails, chained: Option<In>) -> Result<Option<Self::Out>, Error> {
            use ureq::unversioned::transport::Either;
            let Some(transport) = chained else { return Ok(None) };
            if !details.needs_tls() {
                return Ok(Some(Either::A(transport)));
            }
            let host = details.uri.host().unwrap_or_default();
            // An IPv6 literal arrives in brackets, which ServerName does not
            // take. An IP is verified against the certificate's IP SANs.
            let bare = host.trim_start_matches('[').trim_end_matches(']');
            let name = ServerName::try_from(bare)
                .map_err(|_| failed(format!("'{host}' is not a valid TLS server name")))?
                .to_owned();
            let Some((client, certificate)) = &self.0 else {
                return Err(failed("no TLS configuration for an http:// URL".into()));
            };
            certificate.forget();
            let conn = ClientConnection::new(client.clone(), name).map_err(|e| failed(e.to_string()))?;
            let mut stream =
                StreamOwned::new(conn, TransportAdapter::new(transport.boxed(), details.current_time.clone()));
            stream.sock.set_timeout(left_since(details));
            while stream.conn.is_handshaking() {
                if let Err(e) = stream.conn.complete_io(&mut stream.sock) {
                    // A refusal's alert may wait behind a failed write (TLS 1.2).
                    let e = identity::alert_behind(e, &mut stream.conn, &mut stream.sock);
                    return Err(handshake_failure(e, bare, certificate));
                }
            }
            let config = details.config;
            let buffers = LazyBuffers::new(config.input_buffer_size(), config.output_buffer_size());
            Ok(Some(Either::B(TlsTransport { stream, buffers, certificate: certificate.clone() })))
        }
    }

    /// The connect timeout was measured from when connecting began; TCP has
    /// used some of it.
    fn left_since(details: &ConnectionDetails) -> NextTimeout {
        let mut timeout = details.timeout;
        if let (Duration::Exact(after), Instant::Exact(start), Instant::Exact(now)) =
            (timeout.after, details.now, (details.current_time)())
        {
            timeout.after = Duration::Exact(after.saturating_sub(now.saturating_duration_since(start)));
        }
        timeout
    }

    fn handshake_failure(e: io::Error, host: &str, certificate: &ClientCertificate) -> Error {
        let e = match Error::from(e) {
            Error::Timeout(_) => return Unconnected::HandshakeTimedOut.into(),
            Error::Io(e) => e,
            other => return failed(format!("handshake with {host} failed: {other}")),
        };
        if let Some(tls) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
            if let Some(refusal) = identity::refusal_in_alert(tls, certificate.presents(), certificate.requested()) {
                return failed(refusal.to_string());
            }
            return failed(describe(tls, host));
        }
        let why = match e.kind() {
            io::ErrorKind::UnexpectedEof => {
                format!("{host} closed the connection during the handshake (is this port TLS?)")
            }
            io::ErrorKind::ConnectionReset => format!("{host} reset the connection during the handshake"),
            _ => format!("handshake with {host} failed: {e}"),
        };
        failed(why)
    }

    /// What was wrong, in the words a person would look up.
    fn describe(e: &rustls::Error, host: &str) -> String {
        let bad_cert = |why: &str| format!("the certificate of {host} is not accepted: {why}");
        match e {
            rustls::Error::InvalidCertificate(c) => match c {
                CertificateError::UnknownIssuer => {
                    bad_cert("unknown issuer (--cacert FILE trusts a private CA, -k skips the check)")
                }
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                    bad_cert(&format!("name mismatch (it is not valid for {host})"))
                }
                CertificateError::Expired | CertificateError::ExpiredContext { .. } => bad_cert("expired"),
                CertificateError::BadSignature => bad_cert("bad signature (is the key the certificate's?)"),
                CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                    bad_cert("not valid yet (check the clocks)")
                }
                other => bad_cert(&format!("{other:?}")),
            },
            rustls::Error::InvalidMessage(_) => {
                format!("{host} did not answer in TLS (is this a plain http:// port?)")
            }
            rustls::Error::AlertReceived(alert) => format!("{host} refused the handshake ({alert:?})"),
            other => format!("handshake with {host} failed: {other}"),
        }
    }

    /// `-k`: any certificate is accepted, but the server must still prove it
    /// holds the certificate's key, so the session is at least with whoever
    /// owns that certificate.
    #[derive(Debug)]
    struct AnyCertificate(Arc<CryptoProvider>);

    impl AnyCertificate {
        fn algorithms(&self) -> &WebPkiSupportedAlgorithms {
            &self.0.signature_verification_algorithms
        }
    }

    impl ServerCertVerifier for AnyCertificate {
        fn verify_server_cert(
            &self,
            _: &CertificateDer<'_>,
            _: &[CertificateDer<'_>],
            _: &ServerName<'_>,
            _: &[u8],
            _: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(message, cert, dss, self.algorithms())
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(message, cert, dss, self.algorithms())
        }

        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            self.algorithms().supported_schemes()
        }
    }

    /// The connection after the handshake, as ureq's RustlsTransport: rustls
    /// reads and writes through the adapter, which carries each call's timeout.
    pub struct TlsTransport {
        stream: StreamOwned<ClientConnection, TransportAdapter>,
        buffers: LazyBuffers,
        certificate: Arc<ClientCertificate>,
    }

    impl fmt::Debug for TlsTransport {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("TlsTransport").finish()
        }
    }

    impl TlsTransport {
        /// Under TLS 1.3 the client's handshake ends before the server has
        /// read its certificate: a refusal arrives as an alert on the first
        /// read, in place of the response.
        fn refusal_after_handshake(&self, e: io::Error) -> Error {
            let alert = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>());
            let refusal = alert.and_then(|tls| {
                identity::refusal_in_alert(tls, self.certificate.presents(), self.certificate.requested())
            });
            match refusal {
                Some(refusal) => failed(refusal.to_string()),
                None => e.into(),
            }
        }
    }

    impl Transport for TlsTransport {
        fn buffers(&mut self) -> &mut dyn Buffers {
            &mut self.buffers
        }

        fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), Error> {
            self.stream.sock.set_timeout(timeout);
            self.stream.write_all(&self.buffers.output()[..amount])?;
            Ok(())
        }

        fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, Error> {
            self.stream.sock.set_timeout(timeout);
            let amount = match self.stream.read(self.buffers.input_append_buf()) {
                Ok(amount) => amount,
                Err(e) => return Err(self.refusal_after_handshake(e)),
            };
            self.buffers.input_appended(amount);
            Ok(amount > 0)
        }

        fn is_open(&mut self) -> bool {
            false
        }

        fn is_tls(&self) -> bool {
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::{Cell, RefCell};
    use std::io::ErrorKind::{AddrNotAvailable, ConnectionRefused, NetworkUnreachable, PermissionDenied, TimedOut};

    const V4: &str = "127.0.0.1:8000";
    const V6: &str = "[::1]:8000";

    fn addrs(list: &[&str]) -> Vec<SocketAddr> {
        list.iter().map(|a| a.parse().unwrap()).collect()
    }

    /// Walks `list` with a 1 s budget, each address answering as `answers`
    /// says (None: it connects) and using the time given for a timeout.
    /// Returns the addresses tried with the share each was given, and the result.
    fn walked(
        list: &[&str],
        answers: &[Option<io::ErrorKind>],
    ) -> (Vec<(String, u128)>, Result<SocketAddr, Unconnected>) {
        let clock = Cell::new(Duration::ZERO);
        let tried = RefCell::new(Vec::new());
        let result = walk(
            &addrs(list),
            Duration::from_secs(1),
            || clock.get(),
            |addr, share| {
                let i = tried.borrow().len();
                tried.borrow_mut().push((addr.to_string(), share.as_millis()));
                match answers[i] {
                    None => Ok(addr),
                    Some(TimedOut) => {
                        clock.set(clock.get() + share);
                        Err(TimedOut.into())
                    }
                    Some(kind) => Err(kind.into()),
                }
            },
        );
        (tried.into_inner(), result)
    }

    #[test]
    fn the_first_address_that_connects_wins() {
        let (tried, result) = walked(&[V4, V6], &[None]);
        assert_eq!(tried, [(V4.into(), 500)]);
        assert_eq!(result.unwrap().to_string(), V4);
        let (tried, result) = walked(&[V4, V6], &[Some(ConnectionRefused), None]);
        assert_eq!(tried, [(V4.into(), 500), (V6.into(), 1000)]);
        assert_eq!(result.unwrap().to_string(), V6);
    }

    #[test]
    fn ipv6_off_reports_the_refusal_on_ipv4() {
        let (tried, result) = walked(&[V4, V6], &[Some(ConnectionRefused), Some(AddrNotAvailable)]);
        assert_eq!(tried.len(), 2);
        assert!(matches!(result, Err(Unconnected::Refused(on)) if on == addrs(&[V4])));
        // ::1 alone, where IPv6 is off: nothing could be tried.
        let (_, result) = walked(&[V6], &[Some(AddrNotAvailable)]);
        match result {
            Err(Unconnected::Unreachable { addrs: a, error }) => {
                assert_eq!((a, error.kind()), (addrs(&[V6]), AddrNotAvailable))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn one_refused_and_one_timing_out_reports_the_refusal() {
        let (tried, result) = walked(&[V4, V6], &[Some(TimedOut), Some(ConnectionRefused)]);
        // The silent first address had half the budget; the second the rest.
        assert_eq!(tried, [(V4.into(), 500), (V6.into(), 500)]);
        assert!(matches!(result, Err(Unconnected::Refused(on)) if on == addrs(&[V6])));
        let (_, result) = walked(&[V4, V6], &[Some(ConnectionRefused), Some(TimedOut)]);
        assert!(matches!(result, Err(Unconnected::Refused(on)) if on == addrs(&[V4])));
    }

    #[test]
    fn all_refused_names_every_address() {
        let (tried, result) = walked(&[V4, V6, "10.0.0.7:8000"], &[Some(ConnectionRefused); 3]);
        assert_eq!(tried.iter().map(|t| t.0.as_str()).collect::<Vec<_>>(), [V4, V6, "10.0.0.7:8000"]);
        assert!(matches!(result, Err(Unconnected::Refused(on)) if on == addrs(&[V4, V6, "10.0.0.7:8000"])));
    }

    #[test]
    fn a_timeout_outranks_unreachable_and_the_deadline_stops_the_walk() {
        let (_, result) = walked(&[V6, V4], &[Some(NetworkUnreachable), Some(TimedOut)]);
        assert!(matches!(result, Err(Unconnected::TimedOut)));
        // The first address took the whole budget: the second is not tried.
        let clock = Cell::new(Duration::ZERO);
        let mut tried = 0;
        let result: Result<(), _> = walk(
            &addrs(&[V4, V6]),
            Duration::from_millis(15),
            || clock.get(),
            |_, share| {
                tried += 1;
                clock.set(clock.get() + share.max(Duration::from_millis(15)));
                Err(TimedOut.into())
            },
        );
        assert_eq!(tried, 1);
        assert!(matches!(result, Err(Unconnected::TimedOut)));
        // Any other error ends the walk at once.
        let (tried, result) = walked(&[V4, V6], &[Some(PermissionDenied)]);
        assert_eq!(tried.len(), 1);
        assert!(matches!(result, Err(Unconnected::Io(e)) if e.kind() == PermissionDenied));
    }

    #[test]
    fn unconnected_crosses_ureq_and_back() {
        let error: Error = Unconnected::Refused(addrs(&[V4])).into();
        assert!(matches!(unconnected(error), Ok(Unconnected::Refused(on)) if on == addrs(&[V4])));
        assert!(matches!(unconnected(Error::Timeout(Timeout::Global)), Err(Error::Timeout(Timeout::Global))));
        let foreign = Error::Other(Box::new(io::Error::other("not ours")));
        assert!(matches!(unconnected(foreign), Err(Error::Other(e)) if e.to_string() == "not ours"));
    }

    #[test]
    fn unix_socket_failures_say_what_the_path_is() {
        let dir = std::env::temp_dir().join(format!("healthprobe-connect-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("plain");
        std::fs::write(&file, "x").unwrap();
        let file = file.to_str().unwrap();
        assert!(matches!(unix_failure(file, ConnectionRefused.into()), Unconnected::NotASocket(p) if p == file));
        let gone = dir.join("gone");
        let gone = gone.to_str().unwrap();
        assert!(matches!(unix_failure(gone, ConnectionRefused.into()), Unconnected::SocketRefused(p) if p == gone));
        assert!(
            matches!(unix_failure(gone, io::ErrorKind::NotFound.into()), Unconnected::NoSuchSocket(p) if p == gone)
        );
        assert!(
            matches!(unix_failure(gone, PermissionDenied.into()), Unconnected::SocketError { path, .. } if path == gone)
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
