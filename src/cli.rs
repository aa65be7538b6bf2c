//! Arguments and environment → a validated `Config`.
//!
//! Parsing is a pure function of the argument list and an environment lookup,
//! so unit tests call it directly. Flags win over environment variables, which
//! win over defaults.

use std::ffi::OsString;
use std::fmt;
use std::time::Duration;

use crate::target::{self, Target};

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(500);
/// A longer deadline than a day is a typo, not a health check.
const MAX_DURATION: Duration = Duration::from_secs(24 * 60 * 60);

pub const HELP: &str = "\
healthprobe: one HTTP request to a health endpoint under one hard deadline.
Exit status 0 when the endpoint answers with an expected status, 1 otherwise.

Usage: healthprobe [OPTIONS] [URL]

URL is http://HOST[:PORT]/PATH, or a bare path such as /readyz meaning
http://127.0.0.1:$PORT/readyz. Without URL: $HEALTHPROBE_URL, else
http://127.0.0.1:$PORT/healthz. $PORT defaults to 8000.

Options:
  -t, --timeout DUR         deadline for the whole probe: resolve, connect, send,
                            headers, and the body when checked (default 2s;
                            $HEALTHPROBE_TIMEOUT). DUR: 250ms, 2s, 1.5s, 3
  -X, --method M            GET (default) or HEAD
  -H, --header 'N: V'       extra request header, repeatable; 'Host: name'
                            replaces the Host header (Django ALLOWED_HOSTS)
      --unix-socket PATH    connect to this Unix socket (gunicorn --bind unix:PATH);
                            the URL still gives the path and Host
      --expect-status LIST  healthy statuses: 200, 200,204 or 200-299 (default 200);
                            a redirect is never followed
      --expect-body TEXT    the body must contain TEXT (at most 64 KiB is read)
      --wait DUR            repeat until healthy or DUR has passed (for CI)
      --interval DUR        pause between --wait attempts (default 500ms)
  -k, --insecure            (TLS build) do not verify the server certificate
      --cacert FILE         (TLS build) trust the certificates in this PEM file
  -q, --quiet               print nothing
  -v, --verbose             also print a line on success
  -h, --help                print this help
  -V, --version             print the version

Proxy variables (HTTP_PROXY, ALL_PROXY, ...) are ignored on purpose.
";

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

/// The statuses counted healthy: a list of inclusive ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSet {
    ranges: Vec<(u16, u16)>,
    text: String,
}

impl StatusSet {
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tls {
    /// Verify against the bundled roots, or against `cacert` when given.
    Verify { cacert: Option<String> },
    Insecure,
}

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

#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Probe(Config),
    Help,
    Version,
}

/// A usage error: one sentence naming the problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn usage<T>(message: impl Into<String>) -> Result<T, UsageError> {
    Err(UsageError(message.into()))
}

/// Parses the arguments (without the program name) and the environment.
pub fn parse(
    args: Vec<OsString>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Command, UsageError> {
    let mut args = pico_args::Arguments::from_vec(args);
    // Hidden: lets the integration tests prove that a panic still exits 1.
    if args.contains("--panic-for-tests") {
        panic!("--panic-for-tests");
    }

    // Options that take a value are taken first, so that a value such as
    // `--expect-body -v` is not mistaken for a flag.
    let timeout = opt_value(&mut args, ["-t", "--timeout"])?;
    let method = opt_value(&mut args, ["-X", "--method"])?;
    let headers: Vec<String> = args
        .values_from_fn(["-H", "--header"], |s: &str| Ok::<_, String>(s.to_string()))
        .map_err(arg_error)?;
    let unix_socket = opt_value(&mut args, "--unix-socket")?;
    let expect_status = opt_value(&mut args, "--expect-status")?;
    let expect_body = opt_value(&mut args, "--expect-body")?;
    let wait = opt_value(&mut args, "--wait")?;
    let interval = opt_value(&mut args, "--interval")?;
    let cacert = opt_value(&mut args, "--cacert")?;
    let insecure = args.contains(["-k", "--insecure"]);
    let quiet = args.contains(["-q", "--quiet"]);
    let verbose = args.contains(["-v", "--verbose"]);
    let help = args.contains(["-h", "--help"]);
    let version = args.contains(["-V", "--version"]);

    let mut url = None;
    for rest in args.finish() {
        let Some(rest) = rest.to_str().map(str::to_string) else {
            return usage("an argument is not valid UTF-8");
        };
        if rest.starts_with('-') && rest.len() > 1 {
            return usage(format!("unknown option '{rest}'"));
        }
        if url.is_some() {
            return usage(format!("unexpected argument '{rest}': only one URL is probed"));
        }
        url = Some(rest);
    }

    if help {
        return Ok(Command::Help);
    }
    if version {
        return Ok(Command::Version);
    }

    let verbosity = match (quiet, verbose) {
        (true, true) => return usage("cannot combine --quiet with --verbose"),
        (true, false) => Verbosity::Quiet,
        (false, true) => Verbosity::Verbose,
        (false, false) => Verbosity::Normal,
    };

    let (url, source) = match url {
        Some(u) => (u, "URL"),
        None => match env("HEALTHPROBE_URL") {
            Some(u) if !u.is_empty() => (u, "HEALTHPROBE_URL"),
            _ => ("/healthz".to_string(), "URL"),
        },
    };
    // $PORT matters only for a bare path; a full URL names its own port.
    let port = match url.starts_with('/').then(|| env("PORT")).flatten() {
        Some(p) if !p.is_empty() => match p.parse::<u16>() {
            Ok(n) if n > 0 => n,
            _ => return usage(format!("PORT={p} is not a port number (1-65535)")),
        },
        _ => target::DEFAULT_PORT,
    };
    let target = Target::parse(&url, port)
        .map_err(|e| UsageError(format!("{source} '{url}': {e}")))?;

    let timeout = match timeout {
        Some(t) => parse_duration(&t).map_err(|e| UsageError(format!("--timeout '{t}': {e}")))?,
        None => match env("HEALTHPROBE_TIMEOUT") {
            Some(t) if !t.is_empty() => parse_duration(&t)
                .map_err(|e| UsageError(format!("HEALTHPROBE_TIMEOUT='{t}': {e}")))?,
            _ => DEFAULT_TIMEOUT,
        },
    };

    let method = match method.as_deref() {
        None => Method::Get,
        Some(m) if m.eq_ignore_ascii_case("GET") => Method::Get,
        Some(m) if m.eq_ignore_ascii_case("HEAD") => Method::Head,
        Some(m) => return usage(format!("--method '{m}': only GET and HEAD are probes")),
    };

    let headers = headers.iter().map(|h| parse_header(h)).collect::<Result<Vec<_>, _>>()?;
    if headers.iter().filter(|h| h.name.eq_ignore_ascii_case("host")).count() > 1 {
        return usage("more than one Host header");
    }

    let expect_status = match expect_status {
        Some(s) => parse_status_set(&s)
            .map_err(|e| UsageError(format!("--expect-status '{s}': {e}")))?,
        None => StatusSet::default(),
    };

    if let Some(b) = &expect_body {
        if b.is_empty() {
            return usage("--expect-body needs a non-empty text");
        }
        if b.len() > crate::probe::MAX_BODY {
            return usage("--expect-body is longer than the 64 KiB of body that is read");
        }
    }

    if expect_body.is_some() && method == Method::Head {
        return usage("cannot combine --expect-body with -X HEAD (a HEAD response has no body)");
    }

    let wait = match wait {
        Some(w) => Some(parse_duration(&w).map_err(|e| UsageError(format!("--wait '{w}': {e}")))?),
        None => None,
    };
    let interval = match interval {
        Some(i) if wait.is_none() => {
            return usage(format!("--interval '{i}' needs --wait (without it there is one attempt)"))
        }
        Some(i) => parse_duration(&i).map_err(|e| UsageError(format!("--interval '{i}': {e}")))?,
        None => DEFAULT_INTERVAL,
    };

    if let Some(path) = &unix_socket {
        if path.is_empty() {
            return usage("--unix-socket needs a path");
        }
        if path.chars().any(char::is_control) {
            return usage("--unix-socket path contains a control character");
        }
    }

    let tls = match (insecure, cacert) {
        (true, Some(_)) => {
            return usage("cannot combine --cacert with --insecure (the CA file would not be used)")
        }
        (true, None) => Tls::Insecure,
        (false, cacert) => Tls::Verify { cacert },
    };
    if !cfg!(feature = "tls") {
        if tls == Tls::Insecure {
            return usage("--insecure needs the TLS build (healthprobe-tls); this build speaks plain HTTP only");
        }
        if let Tls::Verify { cacert: Some(_) } = tls {
            return usage("--cacert needs the TLS build (healthprobe-tls); this build speaks plain HTTP only");
        }
    }
    if target.is_https() && !cfg!(feature = "tls") {
        return usage(format!(
            "{url}: this build has no TLS; use the healthprobe-tls build for https:// URLs"
        ));
    }

    Ok(Command::Probe(Config {
        target,
        timeout,
        method,
        headers,
        unix_socket,
        expect_status,
        expect_body,
        wait,
        interval,
        tls,
        verbosity,
    }))
}

fn opt_value(
    args: &mut pico_args::Arguments,
    keys: impl Into<pico_args::Keys>,
) -> Result<Option<String>, UsageError> {
    args.opt_value_from_fn(keys, |s: &str| Ok::<_, String>(s.to_string())).map_err(arg_error)
}

fn arg_error(e: pico_args::Error) -> UsageError {
    match e {
        pico_args::Error::OptionWithoutAValue(key) => UsageError(format!("{key} needs a value")),
        pico_args::Error::NonUtf8Argument => UsageError("an argument is not valid UTF-8".into()),
        other => UsageError(other.to_string()),
    }
}

/// `250ms`, `2s`, `1.5s`, `1m` or a bare number of seconds; positive, at most a day.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let unit_nanos: u128 = match unit {
        "" | "s" => 1_000_000_000,
        "ms" => 1_000_000,
        "m" => 60_000_000_000,
        _ => return Err("not a duration (use 250ms, 2s, 1.5s or 3)".into()),
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return Err("not a duration (use 250ms, 2s, 1.5s or 3)".into());
    }
    // Fixed point with 9 decimals; digits past the ninth cannot matter.
    let whole: u128 = if whole.is_empty() {
        0
    } else if whole.len() > 12 {
        return Err("too long (at most 24h)".into());
    } else {
        whole.parse().map_err(|_| "not a duration".to_string())?
    };
    let mut frac_nanos: u128 = 0;
    for (i, d) in fraction.bytes().take(9).enumerate() {
        frac_nanos += u128::from(d - b'0') * 10u128.pow(8 - i as u32);
    }
    let nanos = (whole * 1_000_000_000 + frac_nanos) * unit_nanos / 1_000_000_000;
    if nanos == 0 {
        return Err("must be greater than zero".into());
    }
    if nanos < 1_000_000 {
        return Err("must be at least 1ms".into());
    }
    if nanos > MAX_DURATION.as_nanos() {
        return Err("too long (at most 24h)".into());
    }
    Ok(Duration::from_nanos(nanos as u64))
}

/// `200`, `200,204`, `200-299`, or any comma-separated mix; statuses 100-599.
pub fn parse_status_set(text: &str) -> Result<StatusSet, String> {
    let mut ranges = Vec::new();
    for part in text.split(',') {
        let part = part.trim();
        let (lo, hi) = match part.split_once('-') {
            Some((lo, hi)) => (parse_status(lo)?, parse_status(hi)?),
            None => {
                let s = parse_status(part)?;
                (s, s)
            }
        };
        if lo > hi {
            return Err(format!("range {part} runs backwards"));
        }
        ranges.push((lo, hi));
    }
    Ok(StatusSet { ranges, text: text.split_whitespace().collect() })
}

fn parse_status(text: &str) -> Result<u16, String> {
    let text = text.trim();
    match text.parse::<u16>() {
        Ok(s) if (100..=599).contains(&s) && text.len() == 3 => Ok(s),
        _ => Err(format!("'{text}' is not an HTTP status (100-599)")),
    }
}

/// `Name: value`. The name must be an HTTP token; CR, LF and NUL are refused
/// anywhere, since they would let a header smuggle another header or request.
pub fn parse_header(text: &str) -> Result<Header, UsageError> {
    if text.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
        return usage(format!("header {:?} contains CR, LF or NUL", text));
    }
    let Some((name, value)) = text.split_once(':') else {
        return usage(format!("header '{text}' is not of the form 'Name: value'"));
    };
    let is_token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if name.is_empty() || !name.bytes().all(is_token) {
        return usage(format!("header name '{name}' is not a valid HTTP field name"));
    }
    let value = value.trim_matches(|c| c == ' ' || c == '\t');
    if value.bytes().any(|b| b < 0x20 && b != b'\t' || b == 0x7f) {
        return usage(format!("header '{name}' has a control character in its value"));
    }
    Ok(Header { name: name.to_string(), value: value.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str], env: &[(&str, &str)]) -> Result<Command, UsageError> {
        let env: Vec<(String, String)> =
            env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        parse(args.iter().map(OsString::from).collect(), move |k| {
            env.iter().find(|(name, _)| name == k).map(|(_, v)| v.clone())
        })
    }

    fn config(args: &[&str], env: &[(&str, &str)]) -> Config {
        match run(args, env) {
            Ok(Command::Probe(c)) => c,
            other => panic!("expected a probe for {args:?}, got {other:?}"),
        }
    }

    fn error(args: &[&str], env: &[(&str, &str)]) -> String {
        match run(args, env) {
            Err(e) => e.0,
            other => panic!("expected a usage error for {args:?}, got {other:?}"),
        }
    }

    #[test]
    fn durations() {
        let ok = [
            ("250ms", 250),
            ("2s", 2000),
            ("1.5s", 1500),
            ("3", 3000),
            ("0.1", 100),
            (".5s", 500),
            ("1m", 60_000),
            ("1.0005s", 1000),
        ];
        for (text, ms) in ok {
            assert_eq!(parse_duration(text).unwrap().as_millis(), ms, "{text}");
        }
        for bad in ["", "0", "0s", "0ms", "-1", "-1s", "1h", "abc", "1.2.3", "s", ".", "1 s", "25h", "999999999999999999", "0.5ms", "0.0001"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be refused");
        }
        assert_eq!(parse_duration("1.5ms").unwrap(), Duration::from_micros(1500));
    }

    #[test]
    fn status_sets() {
        let set = parse_status_set("200,204").unwrap();
        assert!(set.contains(200) && set.contains(204) && !set.contains(201));
        let set = parse_status_set("200-299").unwrap();
        assert!(set.contains(200) && set.contains(299) && !set.contains(300) && !set.contains(199));
        let set = parse_status_set("200-204, 301").unwrap();
        assert!(set.contains(301) && set.contains(203) && !set.contains(302));
        assert_eq!(set.to_string(), "200-204,301");
        for bad in ["", "abc", "99", "600", "2000", "299-200", "200,", "200-", "-200", "0200"] {
            assert!(parse_status_set(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn headers() {
        assert_eq!(
            parse_header("Host: example.com").unwrap(),
            Header { name: "Host".into(), value: "example.com".into() }
        );
        assert_eq!(parse_header("X-Empty:").unwrap().value, "");
        assert_eq!(parse_header("X-A:  b c  ").unwrap().value, "b c");
        for bad in ["NoColon", ": value", "Bad Name: x", "X-A: b\r\nX-B: c", "X-A: b\n", "X-A: \0", "X\r: y", "X-A: b\x07"] {
            assert!(parse_header(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn defaults() {
        let c = config(&[], &[]);
        assert_eq!(c.target.url(), "http://127.0.0.1:8000/healthz");
        assert_eq!(c.timeout, Duration::from_secs(2));
        assert_eq!(c.method, Method::Get);
        assert!(c.expect_status.contains(200) && !c.expect_status.contains(204));
        assert_eq!(c.wait, None);
        assert_eq!(c.verbosity, Verbosity::Normal);
        assert_eq!(c.tls, Tls::Verify { cacert: None });
    }

    #[test]
    fn environment_and_precedence() {
        assert_eq!(config(&[], &[("PORT", "9000")]).target.url(), "http://127.0.0.1:9000/healthz");
        assert_eq!(config(&["/readyz"], &[("PORT", "9000")]).target.url(), "http://127.0.0.1:9000/readyz");
        let env = [("HEALTHPROBE_URL", "http://10.1.2.3:81/up"), ("HEALTHPROBE_TIMEOUT", "750ms")];
        let c = config(&[], &env);
        assert_eq!(c.target.url(), "http://10.1.2.3:81/up");
        assert_eq!(c.timeout, Duration::from_millis(750));
        let c = config(&["-t", "5", "http://127.0.0.1:1/x"], &env);
        assert_eq!(c.target.url(), "http://127.0.0.1:1/x");
        assert_eq!(c.timeout, Duration::from_secs(5));
        assert_eq!(config(&[], &[("HEALTHPROBE_URL", "/readyz")]).target.url(), "http://127.0.0.1:8000/readyz");
        assert_eq!(config(&[], &[("HEALTHPROBE_URL", ""), ("PORT", "")]).target.url(), "http://127.0.0.1:8000/healthz");
        assert!(error(&[], &[("PORT", "http")]).contains("PORT=http"));
        assert_eq!(config(&["http://127.0.0.1:81/"], &[("PORT", "http")]).target.url(), "http://127.0.0.1:81/");
        assert!(error(&[], &[("PORT", "0")]).contains("not a port"));
        assert!(error(&[], &[("HEALTHPROBE_TIMEOUT", "0")]).contains("HEALTHPROBE_TIMEOUT"));
        assert!(error(&[], &[("HEALTHPROBE_URL", "ftp://x/")]).contains("HEALTHPROBE_URL"));
    }

    #[test]
    fn options() {
        let c = config(
            &["-X", "get", "-H", "Host: app.example", "-H", "X-Forwarded-Proto: https", "--expect-status", "200-299", "--expect-body", "ok", "--wait", "30s", "--interval", "1s", "-v", "/readyz"],
            &[],
        );
        assert_eq!(c.method, Method::Get);
        assert_eq!(config(&["-X", "head"], &[]).method, Method::Head);
        assert_eq!(c.headers.len(), 2);
        assert_eq!(c.headers[1], Header { name: "X-Forwarded-Proto".into(), value: "https".into() });
        assert!(c.expect_status.contains(204));
        assert_eq!(c.expect_body.as_deref(), Some("ok"));
        assert_eq!(c.wait, Some(Duration::from_secs(30)));
        assert_eq!(c.interval, Duration::from_secs(1));
        assert_eq!(c.verbosity, Verbosity::Verbose);
        let c = config(&["--timeout=250ms", "-q", "--expect-body", "-v"], &[]);
        assert_eq!(c.timeout, Duration::from_millis(250));
        assert_eq!(c.verbosity, Verbosity::Quiet);
        assert_eq!(c.expect_body.as_deref(), Some("-v"));
        assert_eq!(config(&["--unix-socket", "/run/g.sock", "http://localhost/readyz"], &[]).unix_socket.as_deref(), Some("/run/g.sock"));
    }

    #[test]
    fn help_and_version_win() {
        assert_eq!(run(&["--help"], &[]), Ok(Command::Help));
        assert_eq!(run(&["-h", "-t", "0"], &[]), Ok(Command::Help));
        assert_eq!(run(&["-V"], &[]), Ok(Command::Version));
        assert!(error(&["--help", "--bogus"], &[]).contains("--bogus"));
    }

    #[test]
    fn usage_errors() {
        let cases: &[(&[&str], &str)] = &[
            (&["--bogus"], "unknown option '--bogus'"),
            (&["-Z"], "unknown option '-Z'"),
            (&["/a", "/b"], "only one URL"),
            (&["-t"], "-t needs a value"),
            (&["-t", "0"], "greater than zero"),
            (&["-t", "-1"], "--timeout '-1'"),
            (&["-t", "soon"], "not a duration"),
            (&["-X", "POST"], "only GET and HEAD"),
            (&["-H", "bad"], "Name: value"),
            (&["-H", "X: a\rb"], "CR, LF or NUL"),
            (&["-H", "Host: a", "-H", "host: b"], "more than one Host"),
            (&["--expect-status", "2000"], "not an HTTP status"),
            (&["--expect-status", "300-200"], "backwards"),
            (&["--expect-body", ""], "non-empty"),
            (&["--wait", "0"], "--wait '0'"),
            (&["--interval", "1s"], "needs --wait"),
            (&["--wait", "5s", "--interval", "x"], "--interval 'x'"),
            (&["-q", "-v"], "--quiet with --verbose"),
            (&["-X", "HEAD", "--expect-body", "ok"], "HEAD response has no body"),
            (&["localhost:8000/healthz"], "http://"),
            (&["http://"], "host"),
            (&["http://127.0.0.1:99999/"], "port"),
            (&["--unix-socket", ""], "needs a path"),
            (&["--unix-socket", "/a\nb"], "control character"),
        ];
        for (args, words) in cases {
            let e = error(args, &[]);
            assert!(e.contains(words), "{args:?}: {e:?} should contain {words:?}");
            assert!(!e.contains('\n'), "{args:?}: one line");
        }
    }

    #[cfg(not(feature = "tls"))]
    #[test]
    fn tls_options_need_the_tls_build() {
        assert!(error(&["https://127.0.0.1/"], &[]).contains("no TLS"));
        assert!(error(&["-k"], &[]).contains("TLS build"));
        assert!(error(&["--cacert", "ca.pem"], &[]).contains("TLS build"));
        assert!(error(&["-k", "--cacert", "ca.pem"], &[]).contains("cannot combine"));
    }
}
