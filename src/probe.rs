//! One request under the deadline → `Outcome`. The only module that does I/O
//! on the network.

use std::io::{self, Read};
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use ureq::config::Config as AgentConfig;
use ureq::unversioned::resolver::{ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{Connector, NextTimeout};
use ureq::{Agent, Timeout};

use crate::config::{Config, Method, MAX_BODY, MAX_REQUEST_LINE};
use crate::connect::{self, EveryAddress, TlsConnector, Unconnected, UnixConnector};
use crate::json;
use crate::target::{Addresses, Endpoint};

/// Body read for the excerpt in a failure line (the line shows about 200).
const EXCERPT_READ: usize = 512;
/// ureq zero-fills its buffers on every connection: 128 KiB each by default,
/// which was over 90% of a probe's instructions. A health response's header
/// section fits in a few hundred bytes; 8 KiB is nginx's limit for one header
/// line. Header sections past MAX_HEADER fail as too large.
const INPUT_BUFFER: usize = 8 * 1024;
const MAX_HEADER: usize = INPUT_BUFFER - 1;
/// The request is written a whole line at a time; `cli` refuses a line that
/// would not fit.
const OUTPUT_BUFFER: usize = MAX_REQUEST_LINE;

/// What one attempt found.
#[derive(Debug)]
pub enum Outcome {
    Healthy(Exchange),
    UnexpectedStatus(Exchange),
    BodyMismatch(Exchange),
    /// `--expect-json` does not hold: the first expectation that fails.
    JsonMismatch(Exchange, json::Mismatch),
    Failed(Failure),
}

impl Outcome {
    pub fn is_healthy(&self) -> bool {
        matches!(self, Outcome::Healthy(_))
    }
}

/// A response that arrived.
#[derive(Debug, Default)]
pub struct Exchange {
    pub status: u16,
    pub location: Option<String>,
    /// What was read of the body: all of it up to MAX_BODY when checking it,
    /// an excerpt for a failure line, or nothing.
    pub body: Vec<u8>,
    /// The body went on past what was read.
    pub body_truncated: bool,
}

/// The phase an attempt was in when it stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Resolve,
    Connect,
    /// TCP connected, the TLS handshake not finished.
    #[cfg(feature = "tls")]
    Handshake,
    Response,
    Body,
}

/// Why no usable response arrived: what happened, with the data to word it
/// (report.rs writes every sentence).
#[derive(Debug)]
pub enum Failure {
    TimedOut {
        phase: Phase,
        limit: Duration,
    },
    /// The system resolver found no address for `host` (`error` is None), or
    /// failed with `error`.
    Unresolved {
        host: String,
        error: Option<io::Error>,
    },
    /// ureq's resolver step gave no address.
    NoAddress,
    /// Nothing listens on any of these addresses (never empty).
    Refused(Vec<SocketAddr>),
    /// Nothing listens on the `--unix-socket` at this path.
    SocketRefused(String),
    /// None of the addresses could be tried; the first reason.
    Unreachable {
        addrs: Vec<SocketAddr>,
        error: io::Error,
    },
    NoSuchSocket(String),
    NotASocket(String),
    SocketError {
        path: String,
        error: io::Error,
    },
    /// An http:// URL, and the answer was a TLS record.
    SpeaksTls,
    Reset {
        phase: Phase,
    },
    Closed,
    /// The connection ended before the body its framing announced.
    BodyCut,
    /// The response's framing cannot be trusted.
    Framing(Framing),
    /// More response header fields than ureq parses.
    TooManyHeaders(usize),
    Malformed(String),
    HeadersTooLarge(usize),
    Tls(String),
    Io {
        phase: Phase,
        error: io::Error,
    },
    /// Any other error ureq reports.
    Other {
        phase: Phase,
        error: ureq::Error,
    },
}

/// Why a response's framing is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Framing {
    LengthAndChunked,
    ChunkedInHttp10,
    /// The Transfer-Encoding as sent.
    Coding(String),
}

/// The result of the whole probe: the last attempt's outcome and, with
/// `--wait`, how long was waited over how many attempts.
#[derive(Debug)]
pub struct Probed {
    pub outcome: Outcome,
    pub attempts: u32,
    pub waited: Option<Duration>,
}

/// Runs the probe: one attempt, or with `--wait` attempts until healthy or
/// the wait is over. Each attempt is bounded by `--timeout` and by what is
/// left of the wait.
pub fn run(config: &Config) -> Probed {
    #[cfg(feature = "tls")]
    let identity = config.client_identity.as_ref();
    #[cfg(not(feature = "tls"))]
    let identity = None;
    let tls = match TlsConnector::new(&config.tls, identity, config.target.is_https()) {
        Ok(tls) => tls,
        Err(why) => return Probed { outcome: Outcome::Failed(Failure::Tls(why)), attempts: 1, waited: None },
    };
    let Some(wait) = config.wait else {
        return Probed { outcome: attempt(config, config.timeout, &tls), attempts: 1, waited: None };
    };
    let start = Instant::now();
    let mut attempts = 0;
    let left = || wait.saturating_sub(start.elapsed());
    loop {
        attempts += 1;
        let outcome = attempt(config, config.timeout.min(left()), &tls);
        if outcome.is_healthy() {
            return Probed { outcome, attempts, waited: Some(start.elapsed()) };
        }
        thread::sleep(config.interval.min(left()));
        // Less than a millisecond left cannot hold another attempt.
        if left() < Duration::from_millis(1) {
            return Probed { outcome, attempts, waited: Some(start.elapsed()) };
        }
    }
}

fn attempt(config: &Config, limit: Duration, tls: &TlsConnector) -> Outcome {
    // With a Unix socket, EveryAddress passes its connection on, and the
    // URL's host is only the Host header: nothing to look up.
    let addresses = match config.unix_socket {
        Some(_) => Addresses::Known(vec![(std::net::Ipv4Addr::UNSPECIFIED, 0).into()]),
        None => config.target.addresses(),
    };
    let agent = Agent::with_parts(
        agent_config(limit),
        UnixConnector(config.unix_socket.clone()).chain(EveryAddress).chain(tls.clone()),
        FixedResolver(addresses),
    );
    let url = config.target.url();
    let result = match config.method {
        Method::Get => with_headers(agent.get(url), config).call(),
        Method::Head => with_headers(agent.head(url), config).call(),
    };
    let mut response = match result {
        Ok(r) => r,
        // What the connectors report is typed (`Unconnected`); any other
        // error came once the connection was made.
        Err(e) => return Outcome::Failed(failure(e, Phase::Response, limit)),
    };

    let mut exchange = Exchange {
        status: response.status().as_u16(),
        location: response.headers().get("location").map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
        ..Exchange::default()
    };
    let status_ok = config.expect_status.contains(exchange.status);
    let has_body = config.method != Method::Head;
    if let Some(why) = untrusted_framing(&response) {
        return Outcome::Failed(Failure::Framing(why));
    }

    if !status_ok {
        if has_body && exchange.location.is_none() {
            // The excerpt is a courtesy: a read that fails keeps what it got.
            let _ = read_body(response.body_mut().as_reader(), &mut exchange, EXCERPT_READ, None);
        }
        return Outcome::UnexpectedStatus(exchange);
    }
    let needle = config.expect_body.as_deref().map(str::as_bytes);
    if needle.is_none() && config.expect_json.is_empty() {
        // A 200 counts only when its whole body arrived as framed: cut short,
        // reset or stalled, it fails. Past MAX_BODY the rest is not read.
        if has_body {
            if let Err(e) = drain(response.body_mut().as_reader(), 0) {
                return Outcome::Failed(failure(ureq::Error::from(e), Phase::Body, limit));
            }
        }
        return Outcome::Healthy(exchange);
    }
    if !has_body {
        return Outcome::BodyMismatch(exchange);
    }
    // --expect-body alone stops reading at its text; --expect-json reads the whole body.
    let stop_at = if config.expect_json.is_empty() { needle } else { None };
    let found = match read_body(response.body_mut().as_reader(), &mut exchange, MAX_BODY, stop_at) {
        Ok(found) => found,
        Err(e) => return Outcome::Failed(failure(ureq::Error::from(e), Phase::Body, limit)),
    };
    if let Some(needle) = needle {
        if !(found || exchange.body.windows(needle.len()).any(|w| w == needle)) {
            return Outcome::BodyMismatch(exchange);
        }
    }
    if found {
        // The text was seen; the rest of the body must still arrive whole.
        if let Err(e) = drain(response.body_mut().as_reader(), exchange.body.len()) {
            return Outcome::Failed(failure(ureq::Error::from(e), Phase::Body, limit));
        }
    }
    if !config.expect_json.is_empty() {
        let truncated_at = exchange.body_truncated.then_some(MAX_BODY);
        if let Err(mismatch) = json::check(&exchange.body, truncated_at, &config.expect_json) {
            return Outcome::JsonMismatch(exchange, mismatch);
        }
    }
    Outcome::Healthy(exchange)
}

/// Every default that matters, set on purpose.
fn agent_config(limit: Duration) -> AgentConfig {
    Agent::config_builder()
        // A probe talks to its own container: never through a proxy, even
        // though ureq reads ALL_PROXY/HTTP_PROXY by default.
        .proxy(None)
        // A redirect is an answer to report (APPEND_SLASH, SECURE_SSL_REDIRECT),
        // not to follow.
        .max_redirects(0)
        .max_redirects_will_error(false)
        .http_status_as_error(false)
        // One deadline for resolve, connect, send, headers and body.
        .timeout_global(Some(limit))
        .input_buffer_size(INPUT_BUFFER)
        .max_response_header_size(MAX_HEADER)
        .output_buffer_size(OUTPUT_BUFFER)
        .max_idle_connections(0)
        .max_idle_connections_per_host(0)
        .user_agent(concat!("healthprobe/", env!("CARGO_PKG_VERSION")))
        .build()
}

fn with_headers<B>(mut request: ureq::RequestBuilder<B>, config: &Config) -> ureq::RequestBuilder<B> {
    for h in &config.headers {
        request = request.header(h.name.as_str(), h.value.as_str());
    }
    request
}

/// Reads at most `max` bytes of body into `exchange.body`. With a needle,
/// stops as soon as it is found and tells whether it was.
/// Framing that cannot be trusted (RFC 9112, 6.1 and 6.3): a response whose
/// body could end at more than one place, or be read otherwise than it was
/// sent. ureq reads these as if they were fine.
fn untrusted_framing(response: &ureq::http::Response<ureq::Body>) -> Option<Framing> {
    let headers = response.headers();
    let coding = headers.get("transfer-encoding")?;
    if headers.contains_key("content-length") {
        return Some(Framing::LengthAndChunked);
    }
    if response.version() == ureq::http::Version::HTTP_10 {
        return Some(Framing::ChunkedInHttp10);
    }
    // The probe offers no transfer coding, so only `chunked` alone can come.
    let codings = String::from_utf8_lossy(coding.as_bytes());
    if headers.get_all("transfer-encoding").iter().count() > 1 || !codings.trim().eq_ignore_ascii_case("chunked") {
        return Some(Framing::Coding(codings.into_owned()));
    }
    None
}

/// Reads the rest of a body, `read` bytes of which were read already, to
/// its end or to MAX_BODY in all, keeping nothing.
fn drain(mut body: impl Read, mut read: usize) -> io::Result<()> {
    let mut chunk = [0u8; 4096];
    while read < MAX_BODY {
        match body.read(&mut chunk[..(MAX_BODY - read).min(4096)])? {
            0 => return Ok(()),
            n => read += n,
        }
    }
    Ok(())
}

fn read_body(mut body: impl Read, exchange: &mut Exchange, max: usize, needle: Option<&[u8]>) -> io::Result<bool> {
    let mut chunk = [0u8; 4096];
    loop {
        let room = max - exchange.body.len();
        if room == 0 {
            // Full: one more byte tells whether the body went on.
            exchange.body_truncated = body.read(&mut chunk[..1]).map_or(true, |n| n > 0);
            return Ok(false);
        }
        let want = room.min(chunk.len());
        let n = body.read(&mut chunk[..want])?;
        if n == 0 {
            return Ok(false);
        }
        let searched_up_to = exchange.body.len();
        exchange.body.extend_from_slice(&chunk[..n]);
        if let Some(needle) = needle {
            let from = searched_up_to.saturating_sub(needle.len() - 1);
            if exchange.body[from..].windows(needle.len()).any(|w| w == needle) {
                return Ok(true);
            }
        }
    }
}

/// The failure a ureq error stands for: an `Unconnected` from the
/// connectors or the resolver, or ureq's own error in `phase`.
fn failure(error: ureq::Error, phase: Phase, limit: Duration) -> Failure {
    let error = match connect::unconnected(error) {
        Ok(why) => return unconnected(why, limit),
        Err(error) => error,
    };
    match error {
        ureq::Error::Timeout(Timeout::Resolve) => Failure::TimedOut { phase: Phase::Resolve, limit },
        ureq::Error::Timeout(_) => Failure::TimedOut { phase, limit },
        ureq::Error::Io(e) => io_failure(e, phase, limit),
        ureq::Error::HostNotFound => Failure::NoAddress,
        ureq::Error::LargeResponseHeader(_, limit) => Failure::HeadersTooLarge(limit),
        ureq::Error::Protocol(ureq_proto::Error::HttpParseTooManyHeaders) => {
            Failure::TooManyHeaders(ureq_proto::client::MAX_RESPONSE_HEADERS)
        }
        ureq::Error::Protocol(e) => Failure::Malformed(e.to_string()),
        ureq::Error::Tls(e) => Failure::Tls(e.to_string()),
        error => Failure::Other { phase, error },
    }
}

fn unconnected(why: Unconnected, limit: Duration) -> Failure {
    match why {
        Unconnected::TimedOut => Failure::TimedOut { phase: Phase::Connect, limit },
        Unconnected::Refused(addrs) => Failure::Refused(addrs),
        Unconnected::Unreachable { addrs, error } => Failure::Unreachable { addrs, error },
        Unconnected::Io(e) => io_failure(e, Phase::Connect, limit),
        Unconnected::Unresolved { host, error } => Failure::Unresolved { host, error },
        Unconnected::SocketRefused(path) => Failure::SocketRefused(path),
        Unconnected::NoSuchSocket(path) => Failure::NoSuchSocket(path),
        Unconnected::NotASocket(path) => Failure::NotASocket(path),
        Unconnected::SocketError { path, error } => Failure::SocketError { path, error },
        Unconnected::SpeaksTls => Failure::SpeaksTls,
        #[cfg(feature = "tls")]
        Unconnected::HandshakeTimedOut => Failure::TimedOut { phase: Phase::Handshake, limit },
        #[cfg(feature = "tls")]
        Unconnected::Handshake(why) => Failure::Tls(why),
    }
}

fn io_failure(e: io::Error, phase: Phase, limit: Duration) -> Failure {
    match e.kind() {
        io::ErrorKind::TimedOut => Failure::TimedOut { phase, limit },
        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted | io::ErrorKind::BrokenPipe => {
            Failure::Reset { phase }
        }
        io::ErrorKind::UnexpectedEof if phase == Phase::Body => Failure::BodyCut,
        io::ErrorKind::UnexpectedEof => Failure::Closed,
        _ => Failure::Io { phase, error: e },
    }
}

/// Addresses decided by `target.rs`: a literal or `localhost` needs neither
/// DNS nor a thread; only other names go to the system resolver.
#[derive(Debug)]
struct FixedResolver(Addresses);

impl Resolver for FixedResolver {
    fn resolve(
        &self,
        _uri: &ureq::http::Uri,
        _config: &AgentConfig,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let mut out = self.empty();
        match &self.0 {
            Addresses::Known(addrs) => addrs.iter().for_each(|a| out.push(*a)),
            Addresses::Lookup(host_port) => {
                for a in lookup(host_port, *timeout.after)?.take(16) {
                    out.push(a);
                }
            }
        }
        Ok(out)
    }
}

/// `tcp://HOST:PORT`: one connection within `limit`, through every address
/// in turn as for HTTP (`connect::walk`); nothing is sent, and the
/// connection is closed at once. The address that accepted, or why none did.
pub fn connect_only(endpoint: &Endpoint, limit: Duration) -> Result<SocketAddr, Failure> {
    let start = Instant::now();
    let addrs: Vec<SocketAddr> = match endpoint.addresses() {
        Addresses::Known(addrs) => addrs,
        Addresses::Lookup(host_port) => match lookup(&host_port, limit) {
            Ok(addrs) => addrs.collect(),
            Err(e) => return Err(failure(e, Phase::Resolve, limit)),
        },
    };
    let left = limit.saturating_sub(start.elapsed());
    connect::walk(
        &addrs,
        left,
        || start.elapsed(),
        |addr, share| std::net::TcpStream::connect_timeout(&addr, share).map(|_| addr),
    )
    .map_err(|why| unconnected(why, limit))
}

/// The system resolver cannot be interrupted, so it runs on a thread that is
/// abandoned when the deadline passes.
fn lookup(host_port: &str, limit: Duration) -> Result<std::vec::IntoIter<std::net::SocketAddr>, ureq::Error> {
    let (tx, rx) = mpsc::sync_channel(1);
    let query = host_port.to_string();
    thread::spawn(move || tx.send(query.to_socket_addrs()));
    let host = || host_port.rsplit_once(':').map_or(host_port, |(h, _)| h).to_string();
    match rx.recv_timeout(limit) {
        Ok(Ok(addrs)) if addrs.len() > 0 => Ok(addrs),
        Ok(Ok(_)) => Err(Unconnected::Unresolved { host: host(), error: None }.into()),
        Ok(Err(e)) => Err(Unconnected::Unresolved { host: host(), error: Some(e) }.into()),
        Err(_) => Err(ureq::Error::Timeout(Timeout::Resolve)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(body: &[u8], max: usize, needle: Option<&str>) -> (bool, Exchange) {
        let mut ex = Exchange::default();
        let found = read_body(body, &mut ex, max, needle.map(str::as_bytes)).unwrap();
        (found, ex)
    }

    #[test]
    fn body_reading_is_bounded_and_stops_at_the_needle() {
        let (found, ex) = read(b"{\"status\": \"ok\"}", MAX_BODY, Some("\"ok\""));
        assert!(found && !ex.body_truncated);
        let (found, ex) = read(b"abc", MAX_BODY, Some("zz"));
        assert!(!found && !ex.body_truncated && ex.body == b"abc");
        let big = vec![b'x'; 100_000];
        let (found, ex) = read(&big, MAX_BODY, Some("y"));
        assert!(!found && ex.body_truncated && ex.body.len() == MAX_BODY);
        let (_, ex) = read(&big, EXCERPT_READ, None);
        assert_eq!((ex.body.len(), ex.body_truncated), (EXCERPT_READ, true));
        let exact = vec![b'x'; EXCERPT_READ];
        let (_, ex) = read(&exact, EXCERPT_READ, None);
        assert!(!ex.body_truncated);
    }

    #[test]
    fn needle_across_chunks() {
        let mut body = vec![b'.'; 4094];
        body.extend_from_slice(b"needle");
        let (found, ex) = read(&body, MAX_BODY, Some("needle"));
        assert!(found);
        assert_eq!(ex.body.len(), 4100);
    }
}
