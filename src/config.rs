//! What a probe is: the validated `Plan` that `cli` builds (one `Check` a
//! target: an HTTP(S) `Config`, a TCP `Endpoint`, a `FileCheck`), which `probe`, `connect`,
//! `file` and `report` read, and the limits they share.

use std::fmt;
use std::time::Duration;

use crate::target::Target;

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(500);
/// A longer deadline than a day is a typo, not a health check.
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 60 * 60);
/// The most body ever read: enough for any health document, and a bound on
/// what a hostile server can make us hold.
pub const MAX_BODY: usize = 64 * 1024;
/// The buffer ureq writes the request into, one whole line at a time: a
/// request line or header line longer than this cannot be sent, so `cli`
/// refuses it up front.
pub const MAX_REQUEST_LINE: usize = 4 * 1024;

/// The whole call: every target, and what they share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub checks: Vec<Check>,
    pub timeout: Duration,
    pub wait: Option<Duration>,
    pub interval: Duration,
    pub verbosity: Verbosity,
}

impl Plan {
    /// How long the whole call may take.
    pub fn limit(&self) -> Duration {
        self.wait.unwrap_or(self.timeout)
    }
}

/// One target and what it must be.
// The HTTP case is the common one and is never copied after parsing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    Http(Config),
    /// `tcp://HOST:PORT`: a connection is made, nothing is sent.
    Tcp(crate::target::Endpoint),
    File(FileCheck),
}

/// `file:///PATH --max-age DUR`: a heartbeat file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileCheck {
    /// The absolute path, as written after `file://`.
    pub path: String,
    pub max_age: Duration,
}

/// One HTTP(S) target with everything its request and verdict need (the
/// shared timing and verbosity of the `Plan` included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub target: Target,
    pub timeout: Duration,
    pub method: Method,
    pub headers: Vec<Header>,
    pub unix_socket: Option<String>,
    pub expect_status: StatusSet,
    pub expect_body: Option<String>,
    pub expect_json: Vec<crate::json::Expectation>,
    pub wait: Option<Duration>,
    pub interval: Duration,
    pub tls: Tls,
    /// `--cert` and `--key`, read and checked at parse time.
    #[cfg(feature = "tls")]
    pub client_identity: Option<crate::identity::ClientIdentity>,
    pub verbosity: Verbosity,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verbosity {
    Quiet,
    Normal,
    Verbose,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tls {
    /// Verify against the bundled roots, or against `cacert` when given.
    Verify {
        cacert: Option<String>,
    },
    Insecure,
}

/// The statuses counted healthy: a list of inclusive ranges, and the text
/// they were written as (for the failure line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSet {
    ranges: Vec<(u16, u16)>,
    text: String,
}

impl StatusSet {
    pub fn new(ranges: Vec<(u16, u16)>, text: String) -> StatusSet {
        StatusSet { ranges, text }
    }

    pub fn contains(&self, status: u16) -> bool {
        self.ranges.iter().any(|&(lo, hi)| lo <= status && status <= hi)
    }
}

impl Default for StatusSet {
    fn default() -> Self {
        StatusSet { ranges: vec![(200, 200)], text: "200".into() }
    }
}

impl fmt::Display for StatusSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}
