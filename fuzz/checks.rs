//! The properties the fuzz targets check, one function a target. Each takes
//! raw bytes and panics when a property fails. Shared by the cargo-fuzz
//! targets (`fuzz/fuzz_targets/*.rs`) and by `tests/fuzz_corpus.rs`, which
//! replays every saved input under plain `cargo test`.
//!
//! Input layouts are plain bytes so that a saved input can be read by eye:
//! fields are separated by NUL.

#![allow(dead_code)]

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::time::Duration;

use healthprobe::cli::{self, Command};
use healthprobe::config::{self, Config, Header, Plan};
use healthprobe::probe::{Exchange, Failure, Outcome, Phase, Probed};
use healthprobe::report;
use healthprobe::target::{Addresses, Target};

/// The promise on every line the program prints on stderr.
pub const MAX_LINE: usize = report::MAX_LINE;
/// The longest a day can be, the bound `parse_duration` promises.
const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// A property check on one input: panics when it fails.
pub type Check = fn(&[u8]);

/// Every check by the name of its fuzz target and corpus folder.
pub const ALL: &[(&str, Check)] = &[
    ("cli", cli),
    ("target", target),
    ("values", values),
    ("header", header),
    ("failure_line", failure_line),
    ("json", json),
];

/// One line: at most MAX_LINE bytes, exactly one '\n' and it is the last
/// byte, no control character anywhere else.
pub fn assert_one_safe_line(line: &str, what: &str) {
    assert!(line.len() <= MAX_LINE, "{what}: {} bytes > {MAX_LINE}: {line:?}", line.len());
    assert!(line.ends_with('\n'), "{what}: no final newline: {line:?}");
    assert_eq!(line.matches('\n').count(), 1, "{what}: more than one line: {line:?}");
    let text = &line[..line.len() - 1];
    assert!(!text.chars().any(report::must_escape), "{what}: raw control, format or separator character: {line:?}");
}

fn field(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

// ------------------------------------------------------------------- cli

/// Environment variables the program reads, picked by a field's second byte.
const ENV_NAMES: [&str; 4] = ["HEALTHPROBE_URL", "HEALTHPROBE_TIMEOUT", "PORT", "HTTP_PROXY"];

/// Arguments and environment → `cli::parse`. Fields are separated by NUL;
/// a field starting with 0x01 sets `ENV_NAMES[byte 2 % 4]` to the rest, any
/// other field is an argument (not necessarily UTF-8).
///
/// Properties: no panic; a usage error is one safe line; a `Config` holds
/// only valid values, its URL re-parses to itself, and every line that can be
/// printed for it (a failure, the watchdog's deadline line) is one safe line.
pub fn cli(data: &[u8]) {
    let mut args = Vec::new();
    let mut env: Vec<(&str, String)> = Vec::new();
    for f in data.split(|&b| b == 0) {
        match f {
            [1, which, value @ ..] => env.push((ENV_NAMES[*which as usize % 4], field(value))),
            arg => args.push(OsString::from_vec(arg.to_vec())),
        }
    }
    let lookup = |name: &str| env.iter().rev().find(|(n, _)| *n == name).map(|(_, v)| v.clone());
    match cli::parse(args, lookup) {
        Err(e) => {
            let v = report::usage(&e);
            assert!(!v.healthy && v.stdout.is_none());
            assert_one_safe_line(v.stderr.as_deref().unwrap_or(""), "usage error");
        }
        Ok(Command::Help | Command::Version) => {}
        Ok(Command::Probe(plan)) => check_plan(&plan),
    }
}

fn check_plan(plan: &Plan) {
    assert!(!plan.checks.is_empty(), "a plan without a target");
    for d in [Some(plan.timeout), plan.wait, Some(plan.interval)].into_iter().flatten() {
        assert!(!d.is_zero() && d <= DAY, "duration out of range: {d:?}");
    }
    for check in &plan.checks {
        match check {
            config::Check::Http(c) => check_config(c),
            config::Check::Tcp(endpoint) => {
                let url = endpoint.url();
                assert!(url.starts_with("tcp://") && url.bytes().all(|b| b.is_ascii_graphic()), "{url:?}");
            }
            config::Check::File(f) => {
                assert!(f.path.starts_with('/') && !f.path.chars().any(char::is_control), "{f:?}");
                assert!(!f.max_age.is_zero() && f.max_age <= DAY, "{f:?}");
            }
        }
    }
}

fn check_config(c: &Config) {
    for d in [Some(c.timeout), c.wait, Some(c.interval)].into_iter().flatten() {
        assert!(!d.is_zero() && d <= DAY, "duration out of range: {d:?}");
    }
    for h in &c.headers {
        check_header_value(h, &format!("{}: {}", h.name, h.value));
        // Accepted headers are ones ureq can send.
        assert!(ureq::http::HeaderName::from_bytes(h.name.as_bytes()).is_ok(), "{h:?}");
        assert!(ureq::http::HeaderValue::from_str(&h.value).is_ok(), "{h:?}");
    }
    if let Some(body) = &c.expect_body {
        assert!(!body.is_empty() && body.len() <= healthprobe::config::MAX_BODY);
    }
    check_target(&c.target, c.target.port());
    let outcomes = [
        Outcome::Failed(Failure::Refused(vec!["[::1]:8000".parse().unwrap()])),
        Outcome::Failed(Failure::TimedOut { phase: Phase::Response, limit: c.timeout }),
        Outcome::UnexpectedStatus(Exchange { status: 301, location: Some("/x/".into()), ..Exchange::default() }),
        Outcome::BodyMismatch(Exchange { status: 200, body: b"{}".to_vec(), ..Exchange::default() }),
    ];
    for outcome in outcomes {
        let probed = Probed { outcome, attempts: 2, waited: c.wait };
        assert_one_safe_line(&report::finish_line(report::describe(c, &probed)), "failure line");
    }
    // Printed by the watchdog from a signal handler, as built here.
    let limit = c.wait.unwrap_or(c.timeout);
    assert_one_safe_line(&report::deadline_line(c, limit), "deadline line");
}

// ---------------------------------------------------------------- target

/// `Target::parse`: bytes 0-1 are the default port (big-endian, 1-65535 as
/// `cli::parse` allows), the rest the URL text. Properties: no panic; a parsed target's URL is printable ASCII,
/// re-parses to itself, and names the addresses to try; an error is one safe
/// usage line.
pub fn target(data: &[u8]) {
    let (port, text) = match data {
        [a, b, rest @ ..] => (u16::from_be_bytes([*a, *b]), field(rest)),
        _ => return,
    };
    // The default port comes from $PORT, which `cli::parse` refuses as 0.
    if port == 0 {
        return;
    }
    match Target::parse(&text, port) {
        Ok(t) => {
            check_target(&t, port);
            if text.starts_with('/') {
                assert_eq!(t.port(), port, "a bare path takes the default port");
            }
        }
        Err(e) => check_usage_text(&e),
    }
}

fn check_target(t: &Target, default_port: u16) {
    let url = t.url();
    assert!(url.bytes().all(|b| b > b' ' && b < 0x7f), "URL not printable ASCII: {url:?}");
    assert!(t.path().starts_with('/') && url.ends_with(t.path()), "{url:?} / {:?}", t.path());
    assert_eq!(url.starts_with("https://"), t.is_https(), "{url:?}");
    assert!(url.starts_with("http://") || url.starts_with("https://"), "{url:?}");
    // Fail closed: a URL that is accepted can be sent, as ureq will parse it.
    let uri: ureq::http::Uri = url.parse().unwrap_or_else(|e| panic!("{url:?} is not an http::Uri: {e}"));
    assert_eq!(uri.port_u16().unwrap_or(if t.is_https() { 443 } else { 80 }), t.port(), "{url:?}");
    assert_eq!(uri.path_and_query().map(|p| p.as_str()), Some(t.path()), "{url:?}");
    let again = Target::parse(url, default_port).unwrap_or_else(|e| panic!("{url:?} does not re-parse: {e}"));
    assert_eq!(again.url(), url, "not a fixed point");
    assert_eq!((again.port(), again.path()), (t.port(), t.path()));
    match t.addresses() {
        Addresses::Known(addrs) => {
            assert!(!addrs.is_empty() && addrs.len() <= 2, "{addrs:?}");
            assert!(addrs.iter().all(|a| a.port() == t.port()), "{addrs:?}");
        }
        Addresses::Lookup(host_port) => {
            assert!(host_port.ends_with(&format!(":{}", t.port())), "{host_port}");
        }
    }
}

/// A message that ends up in a usage line.
fn check_usage_text(message: &str) {
    let v = report::usage(&cli::UsageError(message.to_string()));
    assert_one_safe_line(v.stderr.as_deref().unwrap_or(""), "usage error");
}

// ---------------------------------------------------------------- values

/// Durations and status lists: byte 0 picks `parse_duration` (even) or
/// `parse_status_set` (odd) for the rest. Properties: a duration is positive,
/// at most a day, and survives `human` → `parse_duration` within 5 ms; a
/// status set holds only 100-599 and prints without whitespace or control
/// characters; errors are one safe line.
pub fn values(data: &[u8]) {
    let Some((&which, rest)) = data.split_first() else { return };
    let text = field(rest);
    if which % 2 == 0 {
        match cli::parse_duration(&text) {
            Ok(d) => {
                assert!(!d.is_zero() && d <= DAY, "{text:?} → {d:?}");
                if d >= Duration::from_millis(1) {
                    let shown = report::human(d);
                    let back = cli::parse_duration(&shown).unwrap_or_else(|e| panic!("{shown:?}: {e}"));
                    let diff = back.abs_diff(d);
                    assert!(diff <= Duration::from_millis(5), "{text:?} → {d:?} → {shown} → {back:?}");
                }
            }
            Err(e) => check_usage_text(&format!("--timeout '{text}': {e}")),
        }
    } else {
        match cli::parse_status_set(&text) {
            Ok(set) => {
                for s in (0..100).chain(600..1000) {
                    assert!(!set.contains(s), "{text:?} contains {s}");
                }
                let shown = set.to_string();
                assert!(!shown.chars().any(|c| c.is_whitespace() || c.is_control()), "{shown:?}");
                let again = cli::parse_status_set(&shown).unwrap_or_else(|e| panic!("{shown:?}: {e}"));
                for s in 100..600 {
                    assert_eq!(set.contains(s), again.contains(s), "{text:?} vs {shown:?} at {s}");
                }
            }
            Err(e) => check_usage_text(&format!("--expect-status '{text}': {e}")),
        }
    }
}

// ---------------------------------------------------------------- header

/// `cli::parse_header` on the whole input. Properties: an accepted header has
/// a non-empty token name and a trimmed value with no CR, LF, NUL or other
/// control character but tab, and `name: value` parses back to itself; a
/// refused one is one safe usage line.
pub fn header(data: &[u8]) {
    let text = field(data);
    match cli::parse_header(&text) {
        Ok(h) => check_header_value(&h, &text),
        Err(e) => check_usage_text(&e.0),
    }
}

fn check_header_value(h: &Header, text: &str) {
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    assert!(!h.name.is_empty() && h.name.bytes().all(token), "{text:?} → name {:?}", h.name);
    assert!(!h.value.bytes().any(|b| b < 0x20 && b != b'\t' || b == 0x7f), "{text:?} → value {:?}", h.value);
    assert_eq!(h.value, h.value.trim_matches([' ', '\t']), "{text:?}: value not trimmed");
    let again = cli::parse_header(&format!("{}: {}", h.name, h.value)).expect("re-parse");
    assert_eq!(&again, h);
}

// ---------------------------------------------------------- failure_line

/// Argument sets whose lines differ: method, body check, Unix socket, --wait, -v.
const CONFIGS: [&[&str]; 6] = [
    &["/healthz"],
    &["-X", "HEAD", "http://[::1]:8000/readyz?full=1"],
    &["--expect-body", "\"database\": \"ok\"", "http://localhost/readyz"],
    &["--unix-socket", "/run/gunicorn.sock", "http://app.example.com/healthz"],
    &["--wait", "30s", "--interval", "250ms", "/readyz"],
    &["-v", "-H", "Host: app.example.com", "http://127.0.0.1:1/"],
];

/// Any response → the failure line. Byte 0 picks the config and the kind of
/// outcome, bytes 1-2 the status (big-endian), byte 3 flags (bit 0: body
/// truncated, bit 1: a Location header, bit 2: --wait figures); then the
/// Location bytes up to the first NUL, then the body bytes. The Location and
/// the reason texts (a malformed response, an I/O error) are lossy UTF-8 of
/// the same bytes, as the probe makes them.
///
/// Properties: `finish_line(describe(..))` is one safe line of at most 512
/// bytes; the body excerpt has no control character and stays short.
pub fn failure_line(data: &[u8]) {
    let [pick, s0, s1, flags, rest @ ..] = data else { return };
    let args = CONFIGS[*pick as usize % CONFIGS.len()];
    let config = match cli::parse(args.iter().map(OsString::from).collect(), |_| None) {
        Ok(Command::Probe(plan)) => match plan.checks.into_iter().next() {
            Some(config::Check::Http(c)) => c,
            other => panic!("{args:?}: {other:?}"),
        },
        other => panic!("{args:?}: {other:?}"),
    };
    let (location, body) = match rest.iter().position(|&b| b == 0) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    let exchange = Exchange {
        status: u16::from_be_bytes([*s0, *s1]),
        location: (flags & 2 != 0).then(|| field(location)),
        body: body.to_vec(),
        body_truncated: flags & 1 != 0,
    };
    let reason = field(location);
    let outcome = match (*pick as usize / CONFIGS.len()) % 8 {
        0 | 1 => Outcome::UnexpectedStatus(exchange),
        2 => Outcome::BodyMismatch(exchange),
        3 => Outcome::Healthy(exchange),
        4 => Outcome::Failed(Failure::Malformed(reason)),
        5 => Outcome::Failed(Failure::Io { phase: Phase::Response, error: std::io::Error::other(reason) }),
        6 => Outcome::Failed(Failure::Unresolved { host: reason, error: None }),
        _ => Outcome::Failed(Failure::Tls(reason)),
    };
    let waited = (flags & 4 != 0).then(|| Duration::from_millis(u64::from(*s0) * 997 + u64::from(*s1)));
    let probed = Probed { outcome, attempts: u32::from(*flags), waited };
    let line = report::finish_line(report::describe(&config, &probed));
    assert_one_safe_line(&line, "failure line");

    let excerpt = report::excerpt(body, flags & 1 != 0);
    assert!(!excerpt.chars().any(report::must_escape), "excerpt: {excerpt:?}");
    // About 200 bytes: under 200 before its last piece, which is at most 12
    // (three invalid bytes as \xNN each), then the 3-byte ellipsis.
    assert!(excerpt.len() <= 199 + 12 + 3, "excerpt of {} bytes: {excerpt:?}", excerpt.len());
}

// ------------------------------------------------------------------ json

/// `--expect-json`: the first NUL-separated field is the PATH=VALUE
/// argument, the rest is the body.
///
/// Properties: no panic on either; a valid body (trimmed) is found equal
/// to itself wherever it is put, as the element `[0]` of an array and as
/// the value of a key, so validation, lookup and comparison agree (a value
/// with a key twice in one object equals nothing, so it is left out); the same
/// body keeps its verdict with white space around it.
pub fn json(data: &[u8]) {
    use healthprobe::json::{self, Mismatch};
    let (arg, body) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&data[..0], data),
    };
    if let Ok(e) = json::parse_expectation(&field(arg)) {
        // White space around the body changes nothing, except where a syntax
        // error is found (inside a string left open, it is part of the string).
        let judge = |body: &[u8]| match json::check(body, None, std::slice::from_ref(&e)) {
            Err(Mismatch::NotJson { .. }) => Err(Mismatch::NotJson { offset: 0, problem: "" }),
            verdict => verdict,
        };
        let spaced = [b" \n".as_slice(), body, b"\t "].concat();
        assert_eq!(judge(body), judge(&spaced), "white space changed the verdict");
    }
    let probe = json::parse_expectation("a=1").unwrap();
    if matches!(json::check(body, None, std::slice::from_ref(&probe)), Err(Mismatch::NotJson { .. })) {
        return;
    }
    let Ok(text) = std::str::from_utf8(body) else { panic!("a body that is not UTF-8 was judged as JSON") };
    let value = text.trim_matches([' ', '\t', '\n', '\r']);
    if body.iter().filter(|&&b| b == b'[' || b == b'{').count() >= 63 || !json::keys_unique(body) {
        return;
    }
    for (wrapped, arg) in
        [(format!("[{value}]"), format!("[0]={value}")), (format!("{{\"k\":{value}}}"), format!("k={value}"))]
    {
        let e = json::parse_expectation(&arg).unwrap_or_else(|m| panic!("{arg:?}: a valid value refused: {m}"));
        assert_eq!(json::check(wrapped.as_bytes(), None, &[e]), Ok(()), "{wrapped:?} does not hold {arg:?}");
    }
}
