//! What a probe is: the validated `Config` that `cli` builds and `probe`,
//! `connect` and `report` read, and the limits they share.

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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub target: Target,
    pub timeout: Duration,
    pub method: Method,
    pub headers: Vec<Header>,
    pub unix_socket: Option<String>,
    pub expect_status: StatusSet,
    pub expect_body: Option<String>,
    pub wait: Option<Duration>,
    pub interval: Duration,
    pub tls: Tls,
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
