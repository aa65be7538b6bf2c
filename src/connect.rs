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

use ureq::unversioned::transport::time::Instant;
use ureq::unversioned::transport::{Buffers, ConnectionDetails, Connector, LazyBuffers, NextTimeout, Transport};
use ureq::{Error, Timeout};

#[cfg(feature = "tls")]
pub use tls::{HandshakeError, TlsConnector};

/// TCP to each address of the target in turn, within the one deadline.
/// ureq's TcpConnector does the same but reports the last address's failure:
/// for `localhost` where IPv6 is off (Docker's default network) that is ::1's
/// "address not available", when what matters is that nothing listens on
/// 127.0.0.1. This reports the most telling failure: a refusal, then a
/// timeout, then the first "unavailable" or "unreachable" with the addresses
/// tried. With `--unix-socket`, the connection made before it passes through.
pub struct EveryAddress;

/// Every address that answered refused; carried through ureq as `Error::Other`.
#[derive(Debug)]
pub struct Refused(pub Vec<SocketAddr>);

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("connection refused")
    }
}

impl std::error::Error for Refused {}

/// The least time an address is given, as in ureq's own split.
const MIN_PER_ADDRESS: std::time::Duration = std::time::Duration::from_millis(10);

impl Connector<Connection> for EveryAddress {
    type Out = Connection;

    fn connect(&self, details: &ConnectionDetails, chained: Option<Connection>) -> Result<Option<Connection>, Error> {
        if chained.is_some() {
            return Ok(chained);
        }
        if let [addr] = details.addrs[..] {
            return match connect_tcp(addr, time_left(details.timeout)?, details) {
                Ok(connected) => Ok(Some(connected)),
                Err(Error::Io(e)) if is_unavailable(&e) => Err(unreachable(&details.addrs, e)),
                Err(e) => Err(e),
            };
        }
        let start = std::time::Instant::now();
        let budget = time_left_since(details);
        let (mut refused, mut timed_out, mut unavailable) = (Vec::new(), false, None);
        let count = details.addrs.len();
        for (i, addr) in details.addrs.iter().enumerate() {
            let left = budget.saturating_sub(start.elapsed());
            if left.is_zero() {
                timed_out = true;
                break;
            }
            // Half of what is left for each address but the last, so that a
            // silent first address leaves time for the others.
            let share = if i + 1 == count { left } else { (left / 2).max(MIN_PER_ADDRESS).min(left) };
            match connect_tcp(*addr, Some(share), details) {
                Ok(connected) => return Ok(Some(connected)),
                Err(Error::Io(e)) if e.kind() == io::ErrorKind::ConnectionRefused => refused.push(*addr),
                Err(Error::Timeout(_)) => timed_out = true,
                Err(Error::Io(e)) if is_unavailable(&e) => {
                    unavailable.get_or_insert(e);
                }
                Err(e) => return Err(e),
            }
        }
        if !refused.is_empty() {
            return Err(Error::Other(Box::new(Refused(refused))));
        }
        match unavailable {
            Some(e) if !timed_out => Err(unreachable(&details.addrs, e)),
            _ => Err(Error::Timeout(details.timeout.reason)),
        }
    }
}

/// One TCP connection to `addr`, given at most `limit`. Our own rather than
/// ureq's TcpConnector, whose transport also sets a write timeout and
/// TCP_NODELAY: two system calls of a probe's 28 that buy nothing here (see
/// `Connection::transmit_output` for the first).
fn connect_tcp(
    addr: SocketAddr,
    limit: Option<std::time::Duration>,
    details: &ConnectionDetails,
) -> Result<Connection, Error> {
    let stream = match limit {
        Some(limit) => TcpStream::connect_timeout(&addr, limit),
        None => TcpStream::connect(addr),
    }
    .map_err(|e| timed_out(e, Timeout::Connect))?;
    // Nagle's algorithm holds a small write back only while an earlier one is
    // unacknowledged. A plain HTTP request leaves in one write with nothing
    // after it; a TLS handshake writes several times, so it sends at once.
    if details.uri.scheme_str() == Some("https") {
        stream.set_nodelay(true)?;
    }
    Ok(Connection::new(Socket::Tcp(stream), details))
}

/// No address could even be tried: say which, and the usual reason.
fn unreachable(addrs: &[SocketAddr], e: io::Error) -> Error {
    let tried: Vec<String> = addrs.iter().map(|a| a.to_string()).collect();
    let why = match e.kind() {
        io::ErrorKind::AddrNotAvailable if addrs.iter().any(SocketAddr::is_ipv6) => {
            "address not available (is IPv6 switched off?)".to_string()
        }
        io::ErrorKind::AddrNotAvailable => "address not available".to_string(),
        _ => e.to_string(),
    };
    Error::Io(io::Error::new(e.kind(), format!("cannot reach {}: {why}", tried.join(" or "))))
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
fn time_left_since(details: &ConnectionDetails) -> std::time::Duration {
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
        let stream = UnixStream::connect(path).map_err(|e| explain(path, e))?;
        Ok(Some(Connection::new(Socket::Unix(stream), details)))
    }
}

/// A refused connection on something that is not a socket means the path is
/// wrong, not that the app is down: say which. Every line names the path.
fn explain(path: &str, e: io::Error) -> Error {
    let why = match e.kind() {
        io::ErrorKind::ConnectionRefused => match std::fs::metadata(path) {
            Ok(m) if !m.file_type().is_socket() => format!("{path} is not a socket"),
            // A socket file nobody listens on: report.rs says so, naming the path.
            _ => return Error::Io(e),
        },
        io::ErrorKind::NotFound => format!("{path} does not exist"),
        _ => format!("{path}: {e}"),
    };
    Error::Io(io::Error::other(why))
}

/// One connection, over TCP or a Unix socket, and ureq's buffers for it.
/// ureq's deadline arrives as the `NextTimeout` of every call.
pub struct Connection {
    socket: Socket,
    buffers: LazyBuffers,
}

enum Socket {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Connection {
    fn new(socket: Socket, details: &ConnectionDetails) -> Connection {
        let config = details.config;
        Connection { socket, buffers: LazyBuffers::new(config.input_buffer_size(), config.output_buffer_size()) }
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
    pub fn new(_: &crate::config::Tls, _https: bool) -> Result<Self, String> {
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

    /// Why a handshake failed, carried through ureq as `Error::Other` so that
    /// probe::failure can tell it from a failure after the handshake.
    #[derive(Debug)]
    pub enum HandshakeError {
        TimedOut,
        /// A sentence that names the host and what was wrong.
        Failed(String),
    }

    impl fmt::Display for HandshakeError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                HandshakeError::TimedOut => f.write_str("TLS handshake timed out"),
                HandshakeError::Failed(why) => f.write_str(why),
            }
        }
    }

    impl std::error::Error for HandshakeError {}

    fn failed(why: String) -> Error {
        Error::Other(Box::new(HandshakeError::Failed(why)))
    }

    /// Wraps the connection in TLS for https:// URLs. Our own rather than
    /// ureq's RustlsConnector, whose "no verification" mode also skips the
    /// handshake signatures, and whose errors lose the certificate's story.
    /// The client configuration, built once per probe; None for http:// targets.
    #[derive(Debug, Clone)]
    pub struct TlsConnector(Option<Arc<ClientConfig>>);

    impl TlsConnector {
        /// Reads the --cacert file once, before any connection, and only for
        /// an https:// URL: an unusable bundle fails the probe at once, not
        /// on every attempt of a --wait.
        pub fn new(tls: &Tls, https: bool) -> Result<Self, String> {
            if !https {
                return Ok(TlsConnector(None));
            }
            client_config(tls).map(|c| TlsConnector(Some(Arc::new(c))))
        }
    }

    fn client_config(tls: &Tls) -> Result<ClientConfig, String> {
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
        Ok(builder.with_no_client_auth())
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
            let Some(client) = &self.0 else {
                return Err(failed("no TLS configuration for an http:// URL".into()));
            };
            let conn = ClientConnection::new(client.clone(), name).map_err(|e| failed(e.to_string()))?;
            let mut stream =
                StreamOwned::new(conn, TransportAdapter::new(transport.boxed(), details.current_time.clone()));
            stream.sock.set_timeout(left_since(details));
            while stream.conn.is_handshaking() {
                if let Err(e) = stream.conn.complete_io(&mut stream.sock) {
                    return Err(handshake_failure(e, bare));
                }
            }
            let config = details.config;
            let buffers = LazyBuffers::new(config.input_buffer_size(), config.output_buffer_size());
            Ok(Some(Either::B(TlsTransport { stream, buffers })))
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

    fn handshake_failure(e: io::Error, host: &str) -> Error {
        let e = match Error::from(e) {
            Error::Timeout(_) => return Error::Other(Box::new(HandshakeError::TimedOut)),
            Error::Io(e) => e,
            other => return failed(format!("handshake with {host} failed: {other}")),
        };
        if let Some(tls) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
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
    }

    impl fmt::Debug for TlsTransport {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("TlsTransport").finish()
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
            let amount = self.stream.read(self.buffers.input_append_buf())?;
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
