//! The one line printed for an outcome, and the exit status that goes with it.
//! Everything here is a plain function of its inputs, except `finish`.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use crate::cli::{self, UsageError};
use crate::config::{Check, Config, FileCheck, Method, Plan, Verbosity};
use crate::file::Stale;
use crate::json::{self, Mismatch};
use crate::probe::{Exchange, Failure, Framing, Outcome, Phase, Probed};
use crate::run::{Checked, Tried};
use crate::scheme;
use crate::target::Endpoint;

/// Docker keeps this text in `docker inspect`: short, one line, no raw bytes.
pub const MAX_LINE: usize = 512;
/// How much of a body a failure line shows.
const EXCERPT: usize = 200;

/// What the process prints and the status it exits with: 0 or 1, never 2
/// (Docker reserves it) and never a panic's 101.
#[derive(Debug, PartialEq, Eq)]
pub struct Verdict {
    pub stdout: Option<String>,
    pub stderr: Option<String>,
    pub healthy: bool,
}

pub fn help() -> Verdict {
    Verdict { stdout: Some(cli::help()), stderr: None, healthy: true }
}

pub fn version() -> Verdict {
    let features = if cfg!(feature = "tls") { "http+tls" } else { "http" };
    let text = format!("healthprobe {} ({}, {features})\n", env!("CARGO_PKG_VERSION"), env!("HEALTHPROBE_TARGET"));
    Verdict { stdout: Some(text), stderr: None, healthy: true }
}

pub fn usage(error: &UsageError) -> Verdict {
    let line = finish_line(format!("healthprobe: {error} (see --help)"));
    Verdict { stdout: None, stderr: Some(line), healthy: false }
}

/// The verdict on a probe.
pub fn verdict(config: &Config, probed: &Probed) -> Verdict {
    let healthy = probed.outcome.is_healthy();
    let line = match (healthy, config.verbosity) {
        (_, Verbosity::Quiet) | (true, Verbosity::Normal) => None,
        _ => Some(finish_line(describe(config, probed))),
    };
    Verdict { stdout: None, stderr: line, healthy }
}

/// `healthprobe: GET URL: …why…` — what was probed and what happened.
pub fn describe(config: &Config, probed: &Probed) -> String {
    let mut line = String::from("healthprobe: ");
    push_subject(&mut line, config);
    line.push_str(": ");
    push_waited(&mut line, probed.waited, probed.attempts, probed.outcome.is_healthy());
    match &probed.outcome {
        Outcome::Healthy(ex) => line.push_str(&status_text(ex.status)),
        Outcome::UnexpectedStatus(ex) => line.push_str(&unexpected_status(config, ex)),
        Outcome::BodyMismatch(ex) => {
            let needle = config.expect_body.as_deref().unwrap_or_default();
            let _ = write!(line, "{} but the body does not contain '{}'", status_text(ex.status), needle);
            let read = if ex.body_truncated { "first " } else { "" };
            let _ = write!(line, " ({read}{} bytes read)", ex.body.len());
            push_excerpt(&mut line, ex);
        }
        Outcome::JsonMismatch(ex, mismatch) => {
            let _ = write!(line, "{} but {}", status_text(ex.status), json_mismatch(mismatch));
        }
        Outcome::Failed(failure) => {
            push_failure(&mut line, failure);
            // Python's ssl module (Gunicorn --certfile) and OpenSSL's server
            // drop a plain request without a word.
            if !config.target.is_https()
                && matches!(failure, Failure::Reset { phase: Phase::Response } | Failure::Closed)
            {
                line.push_str(" (");
                line.push_str(scheme::maybe_tls());
                line.push(')');
            }
        }
    }
    line
}

/// The verdict on the whole call: healthy when every target is. A line for
/// each target that is not (each naming its target), or for every target
/// with `-v`, in the order the targets were given.
pub fn plan_verdict(plan: &Plan, found: &[Checked]) -> Verdict {
    let healthy = found.iter().all(Checked::is_healthy);
    let mut lines = String::new();
    for checked in found {
        let show = match plan.verbosity {
            Verbosity::Quiet => false,
            Verbosity::Normal => !checked.is_healthy(),
            Verbosity::Verbose => true,
        };
        if !show {
            continue;
        }
        let line = match checked {
            Checked::Http(config, probed) => describe(config, probed),
            Checked::Tcp(endpoint, tried) => describe_tcp(endpoint, tried),
            Checked::File(f, tried) => describe_file(f, tried),
        };
        lines.push_str(&finish_line(line));
    }
    Verdict { stdout: None, stderr: (!lines.is_empty()).then_some(lines), healthy }
}

/// `healthprobe: tcp://HOST:PORT: …why…`.
pub fn describe_tcp(endpoint: &Endpoint, tried: &Tried<Result<SocketAddr, Failure>>) -> String {
    let mut line = format!("healthprobe: {}: ", endpoint.url());
    push_waited(&mut line, tried.waited, tried.attempts, tried.found.is_ok());
    match &tried.found {
        Ok(addr) => {
            let _ = write!(line, "connected to {addr}");
        }
        Err(failure) => push_failure(&mut line, failure),
    }
    line
}

/// `healthprobe: file:///PATH: …why…`.
pub fn describe_file(f: &FileCheck, watched: &Tried<Result<Duration, Stale>>) -> String {
    let mut line = format!("healthprobe: file://{}: ", f.path);
    push_waited(&mut line, watched.waited, watched.attempts, watched.found.is_ok());
    match &watched.found {
        Ok(age) => {
            let _ = write!(line, "modified {} ago, within --max-age {}", human_age(*age), human(f.max_age));
        }
        Err(stale) => line.push_str(&stale_file(stale)),
    }
    line
}

/// `healthy after 2.5s (6 attempts): ` with `--wait`.
fn push_waited(line: &mut String, waited: Option<Duration>, attempts: u32, healthy: bool) {
    let Some(waited) = waited else { return };
    let tries = if attempts == 1 { "attempt" } else { "attempts" };
    if healthy {
        let _ = write!(line, "healthy after {} ({attempts} {tries}): ", human(waited));
    } else {
        let _ = write!(line, "still unhealthy after {} ({attempts} {tries}); last: ", human(waited));
    }
}

/// The watchdog's line for the whole call (see `deadline_line`).
pub fn plan_deadline_line(plan: &Plan, limit: Duration) -> String {
    let Some(Check::Http(config)) = plan.checks.first().filter(|_| plan.checks.len() == 1) else {
        let mut line = String::from("healthprobe: ");
        for (i, check) in plan.checks.iter().enumerate() {
            if i > 0 {
                line.push_str(", ");
            }
            match check {
                Check::Http(config) => push_subject(&mut line, config),
                Check::Tcp(endpoint) => line.push_str(endpoint.url()),
                Check::File(f) => {
                    line.push_str("file://");
                    line.push_str(&f.path);
                }
            }
        }
        let during = if plan.wait.is_some() { "still unhealthy after" } else { "no answer from every target within" };
        let _ = write!(line, ": {during} {}", human(limit));
        line.push_str(if plan.wait.is_some() { " (--wait)" } else { " (deadline)" });
        return finish_line(line);
    };
    deadline_line(config, limit)
}

/// The line the watchdog prints if the process is still running past its
/// deadline. Built before the probe starts, so it is kept cheap: the URL is
/// already known to be printable ASCII (`target.rs`), so only a socket path needs escaping.
pub fn deadline_line(config: &Config, limit: Duration) -> String {
    let mut line = String::with_capacity(128);
    line.push_str("healthprobe: ");
    push_subject(&mut line, config);
    line.push_str(if config.wait.is_some() { ": still unhealthy after " } else { ": no answer within " });
    line.push_str(&human(limit));
    line.push_str(if config.wait.is_some() { " (--wait)\n" } else { " (deadline)\n" });
    if line.len() > MAX_LINE || config.unix_socket.is_some() {
        // A long URL, or a socket path (any text but control characters):
        // escaped and cut like every other line.
        line.pop();
        return finish_line(line);
    }
    line
}

/// `METHOD URL`, and the socket with --unix-socket. Pushed piece by piece:
/// the deadline line is built on every probe, and `format!` costs it ~550
/// instructions more.
fn push_subject(line: &mut String, config: &Config) {
    line.push_str(config.method.as_str());
    line.push(' ');
    line.push_str(config.target.url());
    if let Some(path) = &config.unix_socket {
        line.push_str(" via unix:");
        line.push_str(path);
    }
}

fn unexpected_status(config: &Config, ex: &Exchange) -> String {
    let mut text = status_text(ex.status);
    if let Some(location) = &ex.location {
        let _ = write!(text, " to {location}; redirects are not followed");
        text.push_str(redirect_hint(config, location));
        return text;
    }
    if (200..300).contains(&ex.status) || config.method == Method::Head {
        let _ = write!(text, ", expected {}", config.expect_status);
    }
    // A hint follows the cause it names: a 400 from a TLS port or from a
    // server that refused the client certificate is not about ALLOWED_HOSTS.
    if let Some(hint) = cause_of_400(config, ex) {
        text.push_str(" (");
        text.push_str(&hint);
        text.push(')');
    } else if ex.status == 400 && !config.headers.iter().any(|h| h.name.eq_ignore_ascii_case("host")) {
        text.push_str(" (is the Host in Django's ALLOWED_HOSTS? -H 'Host: NAME' sets it)");
    }
    push_excerpt(&mut text, ex);
    text
}

/// What a 400's body says its cause was, when it says: a plain request on a
/// TLS port, or (TLS build) nginx refusing the client certificate.
fn cause_of_400(config: &Config, ex: &Exchange) -> Option<String> {
    if !config.target.is_https() && scheme::is_tls_port_answer(ex.status, &ex.body) {
        return Some(scheme::speaks_tls().to_string());
    }
    #[cfg(feature = "tls")]
    if let Some(refusal) = crate::identity::refusal_in_response(ex.status, &ex.body) {
        return Some(refusal.to_string());
    }
    None
}

/// The usual reasons a Django health endpoint redirects.
fn redirect_hint(config: &Config, location: &str) -> &'static str {
    let url = config.target.url();
    let path = config.target.path();
    let (path_only, query) = path.split_once('?').map_or((path, ""), |(p, q)| (p, q));
    let slashed_path = if query.is_empty() { format!("{path_only}/") } else { format!("{path_only}/?{query}") };
    let slashed_url = format!("{}{}", &url[..url.len() - path.len()], slashed_path);
    if location == slashed_path || location == slashed_url {
        " (Django APPEND_SLASH: probe the path with its trailing slash)"
    } else if location.starts_with("https://") && !config.target.is_https() {
        " (SECURE_SSL_REDIRECT? behind a TLS proxy send -H 'X-Forwarded-Proto: https')"
    } else {
        ""
    }
}

fn push_failure(line: &mut String, failure: &Failure) {
    let within = |line: &mut String, before: &str, limit: &Duration, after: &str| {
        line.push_str(before);
        line.push_str(&human(*limit));
        line.push_str(after);
    };
    match failure {
        Failure::TimedOut { phase: Phase::Resolve, limit } => {
            within(line, "timed out resolving the host name after ", limit, "")
        }
        Failure::TimedOut { phase: Phase::Connect, limit } => {
            within(line, "could not connect within ", limit, " (timeout)")
        }
        #[cfg(feature = "tls")]
        Failure::TimedOut { phase: Phase::Handshake, limit } => {
            within(line, "connected, but the TLS handshake did not finish within ", limit, " (timeout)")
        }
        Failure::TimedOut { phase: Phase::Response, limit } => {
            within(line, "connected, but no complete response headers within ", limit, " (timeout)")
        }
        Failure::TimedOut { phase: Phase::Body, limit } => {
            within(line, "response body not complete within ", limit, " (timeout)")
        }
        Failure::Unresolved { host, error } => {
            line.push_str("cannot resolve ");
            line.push_str(host);
            line.push_str(": ");
            match error {
                Some(e) => line.push_str(&e.to_string()),
                None => line.push_str("no address"),
            }
        }
        Failure::NoAddress => line.push_str("the host has no address"),
        Failure::Refused(on) => {
            line.push_str("connection refused: nothing is listening on ");
            push_addresses(line, on);
        }
        Failure::SocketRefused(path) => {
            line.push_str("connection refused: nothing is listening on ");
            line.push_str(path);
        }
        Failure::Unreachable { addrs, error } => {
            line.push_str("connecting: cannot reach ");
            push_addresses(line, addrs);
            line.push_str(": ");
            match error.kind() {
                std::io::ErrorKind::AddrNotAvailable if addrs.iter().any(SocketAddr::is_ipv6) => {
                    line.push_str("address not available (is IPv6 switched off?)")
                }
                std::io::ErrorKind::AddrNotAvailable => line.push_str("address not available"),
                _ => line.push_str(&error.to_string()),
            }
        }
        Failure::NoSuchSocket(path) => {
            line.push_str("connecting: ");
            line.push_str(path);
            line.push_str(" does not exist");
        }
        Failure::NotASocket(path) => {
            line.push_str("connecting: ");
            line.push_str(path);
            line.push_str(" is not a socket");
        }
        Failure::SocketError { path, error } => {
            line.push_str("connecting: ");
            line.push_str(path);
            line.push_str(": ");
            line.push_str(&error.to_string());
        }
        Failure::SpeaksTls => {
            line.push_str("the answer is a TLS record, not HTTP: ");
            line.push_str(scheme::speaks_tls());
        }
        Failure::Reset { phase: Phase::Body } => line.push_str("connection reset while reading the body"),
        Failure::Reset { .. } => line.push_str("connection reset before a complete response"),
        Failure::Closed => line.push_str("connection closed before a complete response"),
        Failure::Framing(framing) => {
            line.push_str("the response's framing cannot be trusted: ");
            match framing {
                Framing::LengthAndChunked => line.push_str("Transfer-Encoding and Content-Length together"),
                Framing::ChunkedInHttp10 => line.push_str("Transfer-Encoding in an HTTP/1.0 response"),
                Framing::Coding(coding) => {
                    line.push_str("Transfer-Encoding '");
                    line.push_str(coding);
                    line.push_str("', which the probe never offered and does not decode");
                }
            }
        }
        Failure::TooManyHeaders(limit) => {
            line.push_str("more than ");
            line.push_str(&limit.to_string());
            line.push_str(" response header fields, the most the probe reads");
        }
        Failure::BodyCut => line.push_str("connection closed before the whole body arrived (a 200 counts only whole)"),
        Failure::Malformed(why) => {
            line.push_str("not a valid HTTP response: ");
            line.push_str(why);
        }
        Failure::HeadersTooLarge(limit) => {
            line.push_str("response headers larger than ");
            line.push_str(&limit.to_string());
            line.push_str(" bytes");
        }
        Failure::Tls(why) => {
            line.push_str("TLS: ");
            line.push_str(why);
        }
        Failure::Io { phase, error } => {
            line.push_str(in_phase(*phase));
            line.push_str(&error.to_string());
        }
        Failure::Other { phase, error } => {
            line.push_str(in_phase(*phase));
            line.push_str(&error.to_string());
        }
    }
}

/// `127.0.0.1:80 or [::1]:80`.
fn push_addresses(line: &mut String, addrs: &[SocketAddr]) {
    for (i, addr) in addrs.iter().enumerate() {
        if i > 0 {
            line.push_str(" or ");
        }
        let _ = write!(line, "{addr}");
    }
}

fn in_phase(phase: Phase) -> &'static str {
    match phase {
        Phase::Resolve => "resolving: ",
        Phase::Connect => "connecting: ",
        #[cfg(feature = "tls")]
        Phase::Handshake => "during the TLS handshake: ",
        Phase::Response => "reading the response: ",
        Phase::Body => "reading the body: ",
    }
}

/// `200 OK`, `503 Service Unavailable`, or the bare number when it has no name.
pub fn status_text(status: u16) -> String {
    match ureq::http::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()) {
        Some(reason) => format!("{status} {reason}"),
        None => status.to_string(),
    }
}

fn push_excerpt(line: &mut String, ex: &Exchange) {
    let text = excerpt(&ex.body, ex.body_truncated);
    if !text.is_empty() {
        line.push_str(": ");
        line.push_str(&text);
    }
}

/// At most ~EXCERPT bytes of a body: whitespace runs folded to one space,
/// control characters and invalid UTF-8 escaped, trailing whitespace dropped.
pub fn excerpt(body: &[u8], truncated: bool) -> String {
    let end = body.iter().rposition(|b| !b.is_ascii_whitespace()).map_or(0, |i| i + 1);
    let mut out = String::new();
    let mut cut = truncated && end == body.len();
    for chunk in body[..end].utf8_chunks() {
        for c in chunk.valid().chars() {
            if out.len() >= EXCERPT {
                cut = true;
                break;
            }
            // Runs of whitespace (an HTML page's indentation) become one space,
            // so the excerpt shows words rather than escaped newlines.
            if c.is_ascii_whitespace() {
                if !out.ends_with(' ') {
                    out.push(' ');
                }
                continue;
            }
            escape_char(&mut out, c);
        }
        if out.len() >= EXCERPT {
            cut = true;
            break;
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    if cut {
        out.push('…');
    }
    out
}

fn escape_char(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if must_escape(c) => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
        c => out.push(c),
    }
}

/// Unicode's format characters (Cf, bidi controls among them) and the line
/// and paragraph separators (Zl U+2028, Zp U+2029), as of Unicode 15. They
/// reorder or break a line in `docker inspect`, `kubectl describe` and terminals.
const FORMAT_AND_SEPARATORS: &[(u32, u32)] = &[
    (0xAD, 0xAD),
    (0x600, 0x605),
    (0x61C, 0x61C),
    (0x6DD, 0x6DD),
    (0x70F, 0x70F),
    (0x890, 0x891),
    (0x8E2, 0x8E2),
    (0x180E, 0x180E),
    (0x200B, 0x200F),
    (0x2028, 0x202E),
    (0x2060, 0x2064),
    (0x2066, 0x206F),
    (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB),
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x1343F),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0001, 0xE0001),
    (0xE0020, 0xE007F),
];

/// Every Unicode Cc, Cf, Zl and Zp character: never printed raw.
pub fn must_escape(c: char) -> bool {
    c.is_control()
        || (c as u32 >= 0xAD && FORMAT_AND_SEPARATORS.iter().any(|&(lo, hi)| (lo..=hi).contains(&(c as u32))))
}

/// Escapes every control character, bounds the length, ends with a newline.
pub fn finish_line(mut line: String) -> String {
    // The common line, printable ASCII and short, is kept as it is: char by
    // char it cost a failing probe ~45 instructions a byte.
    if line.len() < MAX_LINE && line.bytes().all(|b| (b' '..=b'~').contains(&b)) {
        line.push('\n');
        return line;
    }
    let mut out = String::with_capacity(line.len() + 1);
    // An escape is up to 6 bytes and a char up to 4, so the cut is made at the
    // last whole piece that leaves room for '…' (3 bytes) and the newline.
    let mut fits = 0;
    for c in line.chars() {
        escape_char(&mut out, c);
        if out.len() <= MAX_LINE - 4 {
            fits = out.len();
        }
        if out.len() > MAX_LINE - 1 {
            out.truncate(fits);
            out.push('…');
            break;
        }
    }
    out.push('\n');
    out
}

/// `250ms`, `2s`, `1.5s`: milliseconds below a second, hundredths above.
pub fn human(d: Duration) -> String {
    // `to_string` of an integer skips the formatting machinery: the deadline
    // line of every probe costs ~230 instructions less than with `format!`.
    let ms = d.as_millis();
    if ms < 1000 {
        return ms.to_string() + "ms";
    }
    let cs = (ms + 5) / 10;
    let (secs, frac) = (cs / 100, cs % 100);
    if frac == 0 {
        secs.to_string() + "s"
    } else {
        let frac = format!("{frac:02}");
        format!("{secs}.{}s", frac.trim_end_matches('0'))
    }
}

/// Prints the verdict and ends the process: the only exit of the program.
pub fn finish(verdict: Verdict) -> ! {
    // A closed stdout or stderr must not change the exit status.
    if let Some(text) = &verdict.stdout {
        let _ = std::io::stdout().write_all(text.as_bytes());
        let _ = std::io::stdout().flush();
    }
    if let Some(text) = &verdict.stderr {
        let _ = std::io::stderr().write_all(text.as_bytes());
    }
    std::process::exit(if verdict.healthy { 0 } else { 1 })
}

/// Why an `--expect-json` expectation does not hold.
pub fn json_mismatch(m: &Mismatch) -> String {
    match m {
        Mismatch::NotJson { problem: "the body is empty", .. } => "the body is empty, not JSON".into(),
        Mismatch::NotJson { offset, problem } => format!("the body is not JSON ({problem} at byte {offset})"),
        Mismatch::Truncated { limit } => {
            format!("the body is longer than the {} KiB that is read, so --expect-json cannot judge it", limit / 1024)
        }
        Mismatch::NoKey { path, at, key } => format!("--expect-json {path}: no key \"{key}\" in {}", place(at)),
        Mismatch::DuplicateKey { path, at, key } => {
            format!("--expect-json {path}: the key \"{key}\" is twice in {}, so neither counts", place(at))
        }
        Mismatch::NoIndex { path, at, index, len } => {
            format!("--expect-json {path}: {} has {len} elements, no [{index}]", place(at))
        }
        Mismatch::NotContainer { path, at, kind, wanted } => {
            format!("--expect-json {path}: {} is {}, not {wanted}", place(at), kind.name())
        }
        Mismatch::Differs { path, found, found_kind, wanted } => {
            let mut line = format!("--expect-json {path}: found {found}");
            if json::Kind::of(wanted.as_bytes()) != *found_kind {
                let _ = write!(line, " ({})", found_kind.name());
            }
            let _ = write!(line, ", wanted {wanted}");
            line
        }
    }
}

fn place(at: &str) -> String {
    if at.is_empty() {
        "the body".into()
    } else {
        format!("'{at}'")
    }
}

/// Why a heartbeat file is not fresh.
pub fn stale_file(stale: &Stale) -> String {
    match stale {
        Stale::Missing => "no such file (its writer has not started yet, or has stopped)".into(),
        Stale::NotRegular(what) => format!("{what}, not a regular file"),
        Stale::Unreadable(_, Some(errno)) => {
            format!("cannot be looked at: {}", std::io::Error::from_raw_os_error(*errno))
        }
        Stale::Unreadable(kind, None) => format!("cannot be looked at: {kind}"),
        Stale::TooOld { age, max_age } => format!(
            "last modified {} ago, more than --max-age {} (its writer has stopped or is stuck)",
            human_age(*age),
            human(*max_age)
        ),
        Stale::InTheFuture { ahead } => {
            format!("modified {} in the future: the clock of this host or of its writer is wrong", human_age(*ahead))
        }
    }
}

/// An age as a person reads it: `850ms`, `12.5s`, `3m12s`, `2h05m`, `3d4h`.
pub fn human_age(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => human(d),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        3600..86400 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{}h", s / 86400, s % 86400 / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{parse, Command};

    fn config(args: &[&str]) -> Config {
        match parse(args.iter().map(Into::into).collect(), |_| None) {
            Ok(Command::Probe(mut plan)) => match plan.checks.pop() {
                Some(Check::Http(c)) => c,
                other => panic!("{args:?}: not one HTTP target: {other:?}"),
            },
            other => panic!("{other:?}"),
        }
    }

    fn line(args: &[&str], outcome: Outcome) -> String {
        describe(&config(args), &Probed { outcome, attempts: 1, waited: None })
    }

    fn exchange(status: u16, location: Option<&str>, body: &[u8]) -> Exchange {
        Exchange { status, location: location.map(Into::into), body: body.to_vec(), body_truncated: false }
    }

    #[test]
    fn status_with_body_excerpt() {
        let body = br#"{"status": "error", "checks": {"database": "unavailable"}}"#;
        assert_eq!(
            line(&["/readyz"], Outcome::UnexpectedStatus(exchange(503, None, body))),
            r#"healthprobe: GET http://127.0.0.1:8000/readyz: 503 Service Unavailable: {"status": "error", "checks": {"database": "unavailable"}}"#
        );
        assert_eq!(
            line(&[], Outcome::UnexpectedStatus(exchange(204, None, b""))),
            "healthprobe: GET http://127.0.0.1:8000/healthz: 204 No Content, expected 200"
        );
        assert_eq!(
            line(&["--expect-status", "200-204"], Outcome::UnexpectedStatus(exchange(599, None, b""))),
            "healthprobe: GET http://127.0.0.1:8000/healthz: 599"
        );
        assert!(
            line(&[], Outcome::UnexpectedStatus(exchange(400, None, b"Bad Request (400)"))).contains("ALLOWED_HOSTS")
        );
        assert!(
            !line(&["-H", "Host: a"], Outcome::UnexpectedStatus(exchange(400, None, b""))).contains("ALLOWED_HOSTS")
        );
    }

    #[test]
    fn redirects_name_the_location_and_the_likely_cause() {
        let l =
            line(&["http://127.0.0.1:8000/healthz"], Outcome::UnexpectedStatus(exchange(301, Some("/healthz/"), b"")));
        assert_eq!(l, "healthprobe: GET http://127.0.0.1:8000/healthz: 301 Moved Permanently to /healthz/; redirects are not followed (Django APPEND_SLASH: probe the path with its trailing slash)");
        let l = line(&["http://a:81/x?y=1"], Outcome::UnexpectedStatus(exchange(302, Some("http://a:81/x/?y=1"), b"")));
        assert!(l.contains("APPEND_SLASH"), "{l}");
        let l = line(&["http://a/x"], Outcome::UnexpectedStatus(exchange(301, Some("https://a/x"), b"")));
        assert!(l.contains("to https://a/x;") && l.contains("X-Forwarded-Proto"), "{l}");
        let l = line(&["http://a/x"], Outcome::UnexpectedStatus(exchange(307, Some("/login"), b"")));
        assert!(l.ends_with("307 Temporary Redirect to /login; redirects are not followed"), "{l}");
    }

    #[test]
    fn failures_name_the_limit() {
        let cases = [
            (
                Failure::TimedOut { phase: Phase::Response, limit: Duration::from_millis(1500) },
                "no complete response headers within 1.5s",
            ),
            (Failure::TimedOut { phase: Phase::Connect, limit: Duration::from_secs(2) }, "could not connect within 2s"),
            (
                Failure::TimedOut { phase: Phase::Body, limit: Duration::from_millis(250) },
                "body not complete within 250ms",
            ),
            (Failure::Refused(vec!["127.0.0.1:8000".parse().unwrap()]), "nothing is listening on 127.0.0.1:8000"),
            (Failure::Closed, "closed before a complete response"),
            (Failure::HeadersTooLarge(8191), "larger than 8191 bytes"),
        ];
        for (failure, words) in cases {
            let l = line(&[], Outcome::Failed(failure));
            assert!(l.starts_with("healthprobe: GET http://127.0.0.1:8000/healthz: "), "{l}");
            assert!(l.contains(words), "{l} should contain {words}");
        }
        let on = |a: &str| Outcome::Failed(Failure::Refused(vec![a.parse().unwrap()]));
        assert!(line(&["http://[::1]:9/"], on("[::1]:9")).ends_with("on [::1]:9"));
        // The address tried, not the name it was looked up by.
        assert!(
            line(&["http://app.internal:81/"], on("10.0.0.7:81")).ends_with(": nothing is listening on 10.0.0.7:81")
        );
        let v4: SocketAddr = "127.0.0.1:80".parse().unwrap();
        let v6: SocketAddr = "[::1]:80".parse().unwrap();
        assert!(line(&["http://localhost/"], Outcome::Failed(Failure::Refused(vec![v4])))
            .ends_with(": connection refused: nothing is listening on 127.0.0.1:80"));
        assert!(line(&["http://localhost/"], Outcome::Failed(Failure::Refused(vec![v4, v6])))
            .ends_with("on 127.0.0.1:80 or [::1]:80"));
        assert!(line(
            &["--unix-socket", "/run/g.sock", "http://localhost/"],
            Outcome::Failed(Failure::SocketRefused("/run/g.sock".into()))
        )
        .contains(
            "GET http://localhost/ via unix:/run/g.sock: connection refused: nothing is listening on /run/g.sock"
        ));
    }

    #[test]
    fn body_mismatch_and_wait() {
        let c = config(&["--expect-body", "\"database\": \"ok\"", "--wait", "5s"]);
        let probed = Probed {
            outcome: Outcome::BodyMismatch(exchange(200, None, b"{\"database\": \"slow\"}\n")),
            attempts: 3,
            waited: Some(Duration::from_millis(5003)),
        };
        assert_eq!(
            describe(&c, &probed),
            r#"healthprobe: GET http://127.0.0.1:8000/healthz: still unhealthy after 5s (3 attempts); last: 200 OK but the body does not contain '"database": "ok"' (21 bytes read): {"database": "slow"}"#
        );
    }

    #[test]
    fn hostile_bytes_are_escaped_and_bounded() {
        let body: Vec<u8> = b"a\r\nb\x1b[31m\x00\xff\xfe\tz".to_vec();
        assert_eq!(excerpt(&body, false), r"a b\u{1b}[31m\u{0}\xff\xfe z");
        assert_eq!(excerpt(b"<p>\n    <b>x</b>\r\n\r\n", false), "<p> <b>x</b>");
        let long = vec![b'x'; 5000];
        let e = excerpt(&long, true);
        assert!(e.len() <= EXCERPT + 4 && e.ends_with('…'));
        let e = excerpt(&[0u8; 5000], false);
        assert!(e.len() <= EXCERPT + 10 && e.ends_with('…'), "{e}");
        let all: Vec<u8> = (0..=255).cycle().take(10_000).collect();
        let l = finish_line(line(
            &[],
            Outcome::UnexpectedStatus(exchange(500, Some(std::str::from_utf8(&[b'/'; 3000]).unwrap()), &all)),
        ));
        assert!(l.len() <= MAX_LINE && l.ends_with('\n') && l.matches('\n').count() == 1);
        assert!(!l[..l.len() - 1].chars().any(char::is_control));
        assert_eq!(finish_line("a\nb".into()), "a\\nb\n");
        // Line and paragraph separators, bidi controls, zero-width and BOM.
        let tricky = "a\u{2028}b\u{2029}c\u{202e}d\u{2066}e\u{200b}f\u{feff}g\u{ad}h\u{e0041}i\u{85}é€";
        assert_eq!(
            finish_line(tricky.into()),
            "a\\u{2028}b\\u{2029}c\\u{202e}d\\u{2066}e\\u{200b}f\\u{feff}g\\u{ad}h\\u{e0041}i\\u{85}é€\n"
        );
        assert_eq!(excerpt("ok\u{2028}\u{202a}x".as_bytes(), false), "ok\\u{2028}\\u{202a}x");
    }

    #[test]
    fn verdicts() {
        let healthy = Probed { outcome: Outcome::Healthy(exchange(200, None, b"")), attempts: 1, waited: None };
        assert_eq!(verdict(&config(&[]), &healthy), Verdict { stdout: None, stderr: None, healthy: true });
        let v = verdict(&config(&["-v"]), &healthy);
        assert_eq!(v.stderr.as_deref(), Some("healthprobe: GET http://127.0.0.1:8000/healthz: 200 OK\n"));
        let failed = Probed { outcome: Outcome::Failed(Failure::Closed), attempts: 1, waited: None };
        assert_eq!(verdict(&config(&["-q"]), &failed), Verdict { stdout: None, stderr: None, healthy: false });
        assert!(!verdict(&config(&[]), &failed).healthy);
        let u = usage(&UsageError("unknown option '--x'".into()));
        assert_eq!(u.stderr.as_deref(), Some("healthprobe: unknown option '--x' (see --help)\n"));
        assert!(!u.healthy);
        assert!(version().stdout.unwrap().starts_with("healthprobe 0."));
    }

    #[test]
    fn deadline_lines() {
        assert_eq!(
            deadline_line(&config(&["-t", "1.5s", "/readyz"]), Duration::from_millis(1500)),
            "healthprobe: GET http://127.0.0.1:8000/readyz: no answer within 1.5s (deadline)\n"
        );
        assert_eq!(
            deadline_line(&config(&["-X", "HEAD", "--wait", "30s"]), Duration::from_secs(30)),
            "healthprobe: HEAD http://127.0.0.1:8000/healthz: still unhealthy after 30s (--wait)\n"
        );
    }

    #[test]
    fn human_durations() {
        assert_eq!(human(Duration::from_millis(250)), "250ms");
        assert_eq!(human(Duration::from_secs(2)), "2s");
        assert_eq!(human(Duration::from_millis(1500)), "1.5s");
        assert_eq!(human(Duration::from_millis(30_020)), "30.02s");
        assert_eq!(human(Duration::from_millis(1199)), "1.2s");
        assert_eq!(human(Duration::from_millis(1994)), "1.99s");
        assert_eq!(human(Duration::from_millis(1996)), "2s");
        assert_eq!(human(Duration::from_millis(999)), "999ms");
    }

    #[test]
    fn json_mismatch_lines() {
        use crate::json::{Kind, Mismatch};
        let differs = |found: &str, kind, wanted: &str| Mismatch::Differs {
            path: "checks.database".into(),
            found: found.into(),
            found_kind: kind,
            wanted: wanted.into(),
        };
        assert_eq!(
            json_mismatch(&differs("\"down\"", Kind::String, "\"ok\"")),
            "--expect-json checks.database: found \"down\", wanted \"ok\""
        );
        assert_eq!(
            json_mismatch(&differs("2", Kind::Number, "\"2\"")),
            "--expect-json checks.database: found 2 (a number), wanted \"2\""
        );
        let no_key = Mismatch::NoKey { path: "checks.queue".into(), at: "checks".into(), key: "queue".into() };
        assert_eq!(json_mismatch(&no_key), "--expect-json checks.queue: no key \"queue\" in 'checks'");
        let top = Mismatch::NoKey { path: "status".into(), at: "".into(), key: "status".into() };
        assert_eq!(json_mismatch(&top), "--expect-json status: no key \"status\" in the body");
        assert_eq!(
            json_mismatch(&Mismatch::NotJson { offset: 0, problem: "the body is empty" }),
            "the body is empty, not JSON"
        );
        assert!(json_mismatch(&Mismatch::Truncated { limit: 65536 }).contains("64 KiB"));
    }

    #[test]
    fn stale_file_lines() {
        let d = Duration::from_secs;
        assert_eq!(human_age(Duration::from_millis(850)), "850ms");
        assert_eq!(human_age(d(192)), "3m12s");
        assert_eq!(human_age(d(7500)), "2h05m");
        assert_eq!(human_age(d(3 * 86400 + 4 * 3600 + 5)), "3d4h");
        assert_eq!(
            stale_file(&Stale::TooOld { age: d(192), max_age: d(60) }),
            "last modified 3m12s ago, more than --max-age 60s (its writer has stopped or is stuck)"
        );
        assert!(
            stale_file(&Stale::Unreadable(std::io::ErrorKind::PermissionDenied, Some(13))).contains("ermission denied")
        );
        assert!(stale_file(&Stale::InTheFuture { ahead: d(3600) }).contains("1h00m in the future"));
    }
}
