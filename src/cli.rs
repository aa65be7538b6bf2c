//! Arguments and environment → a validated `Config`.
//!
//! Parsing is a pure function of the argument list and an environment lookup,
//! so unit tests call it directly. It fails closed: a probe definition that
//! could mean something else than it says (a help flag among other arguments,
//! an option given twice, a value that is itself an option, a URL that could
//! not be sent) is a usage error, never a probe that cannot fail. Flags win
//! over environment variables, which win over defaults.
//!
//! pico-args takes the values from the arguments (`take_values`), then the
//! environment and defaults fill the rest (`settle`), then the combination is
//! checked (`validate`).

use std::ffi::OsString;
use std::fmt;
use std::time::Duration;

use crate::config::{
    Config, Header, Method, StatusSet, Tls, Verbosity, DEFAULT_INTERVAL, DEFAULT_TIMEOUT, MAX_BODY, MAX_DURATION,
    MAX_REQUEST_LINE,
};
use crate::target::{self, Target};

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
  -h, --help                print this help (only as the one argument)
  -V, --version             print the version (only as the one argument)

Values are taken as written, in --opt VALUE and --opt=VALUE alike: quotes
are part of the value when no shell removed them. Each option is given at
most once, except -H. Proxy variables (HTTP_PROXY, ...) are ignored on purpose.
";

// Built once and moved once into main: boxing the Config would only add an
// allocation to every probe.
#[allow(clippy::large_enum_variant)]
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
pub fn parse(args: Vec<OsString>, env: impl Fn(&str) -> Option<String>) -> Result<Command, UsageError> {
    if let [only] = args.as_slice() {
        match only.to_str() {
            Some("-h" | "--help") => return Ok(Command::Help),
            Some("-V" | "--version") => return Ok(Command::Version),
            _ => {}
        }
    }
    let given = take_values(args)?;
    let config = settle(&given, &env)?;
    validate(&given, &config)?;
    Ok(Command::Probe(config))
}

// ------------------------------------------------------ 1. take the values

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Opt {
    Timeout,
    Method,
    Header,
    UnixSocket,
    ExpectStatus,
    ExpectBody,
    Wait,
    Interval,
    Cacert,
    Insecure,
    Quiet,
    Verbose,
    Help,
    Version,
}

/// Every option, its short and long name. Flags take no value.
const OPTIONS: &[(Opt, &str, &str)] = &[
    (Opt::Timeout, "-t", "--timeout"),
    (Opt::Method, "-X", "--method"),
    (Opt::Header, "-H", "--header"),
    (Opt::UnixSocket, "", "--unix-socket"),
    (Opt::ExpectStatus, "", "--expect-status"),
    (Opt::ExpectBody, "", "--expect-body"),
    (Opt::Wait, "", "--wait"),
    (Opt::Interval, "", "--interval"),
    (Opt::Cacert, "", "--cacert"),
    (Opt::Insecure, "-k", "--insecure"),
    (Opt::Quiet, "-q", "--quiet"),
    (Opt::Verbose, "-v", "--verbose"),
    (Opt::Help, "-h", "--help"),
    (Opt::Version, "-V", "--version"),
];

fn find(name: &str) -> Option<(Opt, &'static str)> {
    OPTIONS.iter().find(|(_, short, long)| name == *short || name == *long).map(|&(opt, _, long)| (opt, long))
}

impl Opt {
    fn is_flag(self) -> bool {
        matches!(self, Opt::Insecure | Opt::Quiet | Opt::Verbose | Opt::Help | Opt::Version)
    }
}

/// What the command line says, as written.
#[derive(Debug, Default)]
struct Given {
    url: Option<String>,
    timeout: Option<String>,
    method: Option<String>,
    headers: Vec<String>,
    unix_socket: Option<String>,
    expect_status: Option<String>,
    expect_body: Option<String>,
    wait: Option<String>,
    interval: Option<String>,
    cacert: Option<String>,
    insecure: bool,
    quiet: bool,
    verbose: bool,
}

impl Given {
    fn value(&mut self, opt: Opt) -> &mut Option<String> {
        match opt {
            Opt::Timeout => &mut self.timeout,
            Opt::Method => &mut self.method,
            Opt::UnixSocket => &mut self.unix_socket,
            Opt::ExpectStatus => &mut self.expect_status,
            Opt::ExpectBody => &mut self.expect_body,
            Opt::Wait => &mut self.wait,
            Opt::Interval => &mut self.interval,
            _ => &mut self.cacert,
        }
    }
}

/// pico-args takes the values: the headers in their order, each other option
/// once (asked a second time, it finds a repeat), the flags. It leaves the
/// URL and the `--opt=value` forms, taken here verbatim: `=` splits at the
/// first one, and no quote is removed (`-H=value` is split in `arrange`).
/// pico-args looks for each option anywhere in the list, so `arrange` first
/// walks the list in order and refuses what it would read otherwise than
/// written.
fn take_values(args: Vec<OsString>) -> Result<Given, UsageError> {
    let mut args = pico_args::Arguments::from_vec(arrange(args)?);
    let mut given = Given {
        // First: a header's value may be written like an option (-H=-t).
        headers: args.values_from_fn("-H", verbatim).map_err(pico)?,
        timeout: once(&mut args, ["-t", "--timeout"], "--timeout")?,
        method: once(&mut args, ["-X", "--method"], "--method")?,
        unix_socket: once(&mut args, "--unix-socket", "--unix-socket")?,
        expect_status: once(&mut args, "--expect-status", "--expect-status")?,
        expect_body: once(&mut args, "--expect-body", "--expect-body")?,
        wait: once(&mut args, "--wait", "--wait")?,
        interval: once(&mut args, "--interval", "--interval")?,
        cacert: once(&mut args, "--cacert", "--cacert")?,
        insecure: flag(&mut args, ["-k", "--insecure"], "--insecure")?,
        quiet: flag(&mut args, ["-q", "--quiet"], "--quiet")?,
        verbose: flag(&mut args, ["-v", "--verbose"], "--verbose")?,
        url: None,
    };
    for rest in args.finish() {
        let rest = utf8(rest)?;
        match rest.split_once('=').and_then(|(name, value)| Some((find(name)?, value))) {
            Some(((opt, long), value)) => {
                if given.value(opt).replace(value.to_string()).is_some() {
                    return usage(format!("{long} given twice (only -H repeats)"));
                }
            }
            None => given.url = Some(rest),
        }
    }
    Ok(given)
}

/// One walk over the arguments in order: every argument that starts with
/// `-` is one of our options, in an option's place; a value after its option
/// is not itself an option; `-h` and `-V` are not there; one URL at most.
/// Returns the list for pico-args, with every header as `-H value` (so that
/// one name keeps them in order) and everything else as written: a value
/// that follows its option never equals an option's name, and `--opt=value`
/// never does.
fn arrange(args: Vec<OsString>) -> Result<Vec<OsString>, UsageError> {
    let mut arranged: Vec<OsString> = Vec::with_capacity(args.len());
    let mut url_at: Option<usize> = None;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let arg = utf8(arg)?;
        if !arg.starts_with('-') || arg == "-" {
            if let Some(i) = url_at {
                let first = arranged[i].to_string_lossy();
                return usage(format!("unexpected argument '{arg}': only one URL is probed, and '{first}' is one"));
            }
            url_at = Some(arranged.len());
            arranged.push(arg.into());
            continue;
        }
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (arg.as_str(), None),
        };
        let Some((opt, long)) = find(name) else {
            return usage(unknown_option(name));
        };
        let value = match (opt, inline) {
            (Opt::Help | Opt::Version, _) => return usage(not_alone(name, opt)),
            (_, Some(_)) if opt.is_flag() => return usage(format!("{long} takes no value (got '{arg}')")),
            (Opt::Header, Some(value)) => value.to_string(),
            _ if opt.is_flag() || inline.is_some() => {
                arranged.push(arg.into());
                continue;
            }
            _ => match args.next() {
                None => return usage(format!("{name} needs a value")),
                Some(value) => {
                    let value = utf8(value)?;
                    if value.starts_with('-') && find(value.split_once('=').map_or(&value, |(n, _)| n)).is_some() {
                        return usage(format!(
                            "{name} needs a value, and '{value}' is an option (write {name}={value} if that is the value)"
                        ));
                    }
                    value
                }
            },
        };
        arranged.push(if opt == Opt::Header { "-H".into() } else { arg.into() });
        arranged.push(value.into());
    }
    Ok(arranged)
}

fn once<K: Into<pico_args::Keys> + Copy>(
    args: &mut pico_args::Arguments,
    keys: K,
    long: &str,
) -> Result<Option<String>, UsageError> {
    let value = args.opt_value_from_fn(keys, verbatim).map_err(pico)?;
    if value.is_some() && args.opt_value_from_fn(keys, verbatim).map_err(pico)?.is_some() {
        return usage(format!("{long} given twice (only -H repeats)"));
    }
    Ok(value)
}

fn flag(args: &mut pico_args::Arguments, keys: [&'static str; 2], long: &str) -> Result<bool, UsageError> {
    let given = args.contains(keys);
    if given && args.contains(keys) {
        return usage(format!("{long} given twice"));
    }
    Ok(given)
}

fn verbatim(value: &str) -> Result<String, std::convert::Infallible> {
    Ok(value.to_string())
}

/// Cannot happen after `arrange` (every option has its value, all UTF-8).
fn pico(e: pico_args::Error) -> UsageError {
    UsageError(e.to_string())
}

fn utf8(arg: OsString) -> Result<String, UsageError> {
    arg.into_string().map_err(|_| UsageError("an argument is not valid UTF-8".into()))
}

/// `-h` and `-V` among other arguments: most often `-h` for `-H`, and a
/// probe definition that prints help would pass without probing.
fn not_alone(name: &str, opt: Opt) -> String {
    match (name, opt) {
        ("-h", _) => "-h is --help, which must be the only argument (a header is -H 'Name: value')".into(),
        (_, Opt::Help) => format!("{name} prints the help and must be the only argument"),
        _ => format!("{name} prints the version and must be the only argument"),
    }
}

/// `unknown option '--timout'; did you mean --timeout?`
fn unknown_option(name: &str) -> String {
    let mut text = format!("unknown option '{name}'");
    // The other case of a short option (-x for -X), or the nearest long name
    // (--timout, --expect_status, -timeout, --time).
    let nearest = OPTIONS
        .iter()
        .flat_map(|(_, short, long)| [*short, *long])
        .filter(|known| known.len() > 2 || !known.is_empty() && known.eq_ignore_ascii_case(name))
        .map(|known| (closeness(name, known), known))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d);
    if let Some((_, known)) = nearest {
        text.push_str(&format!("; did you mean {known}?"));
        return text;
    }
    // A value glued to a short option: -t2s, -XHEAD.
    let glued = name.get(..2).and_then(|head| OPTIONS.iter().find(|(opt, short, _)| *short == head && !opt.is_flag()));
    if let Some((_, short, _)) = glued {
        text.push_str(&format!("; write {short} {}", &name[2..]));
    }
    text
}

/// 0 for a case or abbreviation slip, else the edit distance (large for long inputs).
fn closeness(typed: &str, known: &str) -> usize {
    if typed.len() > 32 {
        return usize::MAX;
    }
    if typed.eq_ignore_ascii_case(known) || typed.len() >= 4 && known.starts_with(typed) {
        return 0;
    }
    let known: Vec<char> = known.chars().collect();
    let mut row: Vec<usize> = (0..=known.len()).collect();
    for (i, a) in typed.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &b) in known.iter().enumerate() {
            let next = (diagonal + usize::from(a != b)).min(row[j] + 1).min(row[j + 1] + 1);
            diagonal = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[known.len()]
}

// ----------------------------------------- 2. environment and defaults

/// Turns what was given into typed values, filling in the environment and
/// the defaults.
fn settle(given: &Given, env: &impl Fn(&str) -> Option<String>) -> Result<Config, UsageError> {
    let timeout = match &given.timeout {
        Some(t) => duration("--timeout", t)?,
        None => match env("HEALTHPROBE_TIMEOUT") {
            Some(t) if !t.is_empty() => duration("HEALTHPROBE_TIMEOUT=", &t)?,
            _ => DEFAULT_TIMEOUT,
        },
    };
    let method = match given.method.as_deref() {
        None => Method::Get,
        Some(m) if m.eq_ignore_ascii_case("GET") => Method::Get,
        Some(m) if m.eq_ignore_ascii_case("HEAD") => Method::Head,
        Some(m) => return Err(bad("--method", m, "only GET and HEAD are probes")),
    };
    let expect_status = match &given.expect_status {
        Some(s) => parse_status_set(s).map_err(|e| bad("--expect-status", s, e))?,
        None => StatusSet::default(),
    };
    let wait = given.wait.as_deref().map(|w| duration("--wait", w)).transpose()?;
    let interval = given.interval.as_deref().map(|i| duration("--interval", i)).transpose()?;
    let verbosity = match (given.quiet, given.verbose) {
        (true, _) => Verbosity::Quiet,
        (false, true) => Verbosity::Verbose,
        (false, false) => Verbosity::Normal,
    };
    Ok(Config {
        target: target(given.url.as_deref(), env)?,
        timeout,
        method,
        headers: given.headers.iter().map(|h| parse_header(h)).collect::<Result<_, _>>()?,
        unix_socket: given.unix_socket.clone(),
        expect_status,
        expect_body: given.expect_body.clone(),
        wait,
        interval: interval.unwrap_or(DEFAULT_INTERVAL),
        tls: if given.insecure { Tls::Insecure } else { Tls::Verify { cacert: given.cacert.clone() } },
        verbosity,
    })
}

/// The URL argument, else `$HEALTHPROBE_URL`, else `/healthz`; a bare path
/// is on 127.0.0.1 at `$PORT`.
fn target(url: Option<&str>, env: &impl Fn(&str) -> Option<String>) -> Result<Target, UsageError> {
    let from_env = if url.is_none() { env("HEALTHPROBE_URL").filter(|u| !u.is_empty()) } else { None };
    let (url, source) = match (url, &from_env) {
        (Some(u), _) => (u, "URL"),
        (None, Some(u)) => (u.as_str(), "HEALTHPROBE_URL"),
        (None, None) => ("/healthz", "URL"),
    };
    // $PORT matters only for a bare path; a full URL names its own port.
    let port = match url.starts_with('/').then(|| env("PORT")).flatten() {
        Some(p) if !p.is_empty() => match p.parse::<u16>() {
            Ok(n) if n > 0 => n,
            _ => return usage(format!("PORT={p} is not a port number (1-65535)")),
        },
        _ => target::DEFAULT_PORT,
    };
    Target::parse(url, port).map_err(|e| bad(source, url, e))
}

fn duration(what: &str, text: &str) -> Result<Duration, UsageError> {
    parse_duration(text).map_err(|e| bad(what, text, e))
}

/// `--timeout '"2s"': not a duration …`, with a word on quotes that no
/// shell removed (exec form).
fn bad(what: &str, value: &str, why: impl fmt::Display) -> UsageError {
    let sep = if what.ends_with('=') { "" } else { " " };
    let mut text = format!("{what}{sep}'{value}': {why}");
    if value.starts_with(['"', '\'']) || value.ends_with(['"', '\'']) {
        text.push_str(" (the quotes are part of the value: no shell removed them)");
    }
    UsageError(text)
}

// ------------------------------------------------- 3. the combination

/// What cannot go together, and what this build cannot do.
fn validate(given: &Given, config: &Config) -> Result<(), UsageError> {
    if given.quiet && given.verbose {
        return usage("cannot combine --quiet with --verbose");
    }
    if let Some(i) = &given.interval {
        if given.wait.is_none() {
            return usage(format!("--interval '{i}' needs --wait (without it there is one attempt)"));
        }
    }
    if config.headers.iter().filter(|h| h.name.eq_ignore_ascii_case("host")).count() > 1 {
        return usage("more than one Host header");
    }
    if let Some(body) = &config.expect_body {
        if body.is_empty() {
            return usage("--expect-body needs a non-empty text");
        }
        if body.len() > MAX_BODY {
            return usage("--expect-body is longer than the 64 KiB of body that is read");
        }
        if config.method == Method::Head {
            return usage("cannot combine --expect-body with -X HEAD (a HEAD response has no body)");
        }
    }
    if let Some(path) = &config.unix_socket {
        if path.is_empty() {
            return usage("--unix-socket needs a path");
        }
        if path.chars().any(char::is_control) {
            return usage("--unix-socket path contains a control character");
        }
    }
    // "HEAD PATH HTTP/1.1\r\n" and "Name: value\r\n\r\n" (the last header).
    if config.target.path().len() + 16 > MAX_REQUEST_LINE {
        return usage("the URL's path and query are longer than 4 KiB, which cannot be sent");
    }
    if let Some(h) = config.headers.iter().find(|h| h.name.len() + h.value.len() + 6 > MAX_REQUEST_LINE) {
        return usage(format!("header '{}' is longer than 4 KiB, which cannot be sent", h.name));
    }
    validate_tls(given, config)
}

fn validate_tls(given: &Given, config: &Config) -> Result<(), UsageError> {
    if given.insecure && given.cacert.is_some() {
        return usage("cannot combine --cacert with --insecure (the CA file would not be used)");
    }
    if given.cacert.as_deref() == Some("") {
        return usage("--cacert needs a file");
    }
    if !cfg!(feature = "tls") {
        if given.insecure {
            return usage("--insecure needs the TLS build (healthprobe-tls); this build speaks plain HTTP only");
        }
        if given.cacert.is_some() {
            return usage("--cacert needs the TLS build (healthprobe-tls); this build speaks plain HTTP only");
        }
        if config.target.is_https() {
            return usage(format!(
                "{}: this build has no TLS; use the healthprobe-tls build for https:// URLs",
                config.target
            ));
        }
    }
    Ok(())
}

// ------------------------------------------------------------ the values

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
    Ok(StatusSet::new(ranges, text.split_whitespace().collect()))
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
    if !value.is_ascii() {
        return usage(format!(
            "header '{name}' has a non-ASCII character in its value, which HTTP does not carry (percent-encode it)"
        ));
    }
    Ok(Header { name: name.to_string(), value: value.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str], env: &[(&str, &str)]) -> Result<Command, UsageError> {
        let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
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
        for bad in [
            "",
            "0",
            "0s",
            "0ms",
            "-1",
            "-1s",
            "1h",
            "abc",
            "1.2.3",
            "s",
            ".",
            "1 s",
            "25h",
            "999999999999999999",
            "0.5ms",
            "0.0001",
        ] {
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
        for bad in
            ["NoColon", ": value", "Bad Name: x", "X-A: b\r\nX-B: c", "X-A: b\n", "X-A: \0", "X\r: y", "X-A: b\x07"]
        {
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
            &[
                "-X",
                "get",
                "-H",
                "Host: app.example",
                "-H",
                "X-Forwarded-Proto: https",
                "--expect-status",
                "200-299",
                "--expect-body",
                "ok",
                "--wait",
                "30s",
                "--interval",
                "1s",
                "-v",
                "/readyz",
            ],
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
        let c = config(&["--timeout=250ms", "-q", "--expect-body=-v"], &[]);
        assert_eq!(c.timeout, Duration::from_millis(250));
        assert_eq!(c.verbosity, Verbosity::Quiet);
        assert_eq!(c.expect_body.as_deref(), Some("-v"));
        // Verbatim in both forms: no quote is removed, `=` splits once.
        assert_eq!(config(&["--expect-body=\"ok\""], &[]).expect_body.as_deref(), Some("\"ok\""));
        assert_eq!(config(&["--expect-body", "\"ok\""], &[]).expect_body.as_deref(), Some("\"ok\""));
        assert_eq!(config(&["--expect-body=a=b"], &[]).expect_body.as_deref(), Some("a=b"));
        assert_eq!(config(&["--expect-body", "-x"], &[]).expect_body.as_deref(), Some("-x"));
        assert_eq!(config(&["-H=X-A: 1", "-H", "X-B: 2"], &[]).headers.len(), 2);
        assert_eq!(config(&["-t=3"], &[]).timeout, Duration::from_secs(3));
        assert_eq!(
            config(&["--unix-socket", "/run/g.sock", "http://localhost/readyz"], &[]).unix_socket.as_deref(),
            Some("/run/g.sock")
        );
    }

    #[test]
    fn help_and_version_only_alone() {
        assert_eq!(run(&["--help"], &[]), Ok(Command::Help));
        assert_eq!(run(&["-h"], &[]), Ok(Command::Help));
        assert_eq!(run(&["-V"], &[]), Ok(Command::Version));
        assert_eq!(run(&["--version"], &[]), Ok(Command::Version));
        assert!(error(&["-h", "-t", "0"], &[]).contains("-h is --help, which must be the only argument"));
        assert!(error(&["-h", "Host: app.example.com"], &[]).contains("-H 'Name: value'"));
        assert!(error(&["-V", "http://127.0.0.1:8000/healthz"], &[]).contains("-V prints the version"));
        assert!(error(&["--help", "/healthz"], &[]).contains("--help prints the help"));
        assert!(error(&["/healthz", "--version"], &[]).contains("--version prints the version"));
        assert!(error(&["--help", "--bogus"], &[]).contains("--help"));
        assert!(error(&["--help="], &[]).contains("--help"));
    }

    #[test]
    fn long_requests_are_sent_a_line_at_a_time() {
        // Many long headers are fine; only one line past the buffer is not.
        let long = format!("X-Long: {}", "a".repeat(4084));
        let many: Vec<String> = (0..60).map(|i| format!("X-Filler-{i}: {}", "v".repeat(1000))).collect();
        let mut args: Vec<&str> = many.iter().flat_map(|h| ["-H", h.as_str()]).collect();
        args.extend(["-H", &long]);
        let path = format!("/{}", "a".repeat(4079));
        args.push(&path);
        assert_eq!(config(&args, &[]).headers.len(), 61);
    }

    #[test]
    fn each_option_once_except_header() {
        assert_eq!(error(&["-t", "1s", "-t", "2s"], &[]), "--timeout given twice (only -H repeats)");
        assert!(error(&["-t", "1s", "--timeout=2s"], &[]).contains("--timeout given twice"));
        assert!(error(&["-v", "--verbose"], &[]).contains("--verbose given twice"));
        assert!(error(&["--wait", "1s", "--wait", "1s"], &[]).contains("--wait given twice"));
        assert!(error(&["-q=yes"], &[]).contains("--quiet takes no value"));
    }

    #[test]
    fn suggestions() {
        let cases = [
            ("--timout", "did you mean --timeout?"),
            ("--expect_status", "did you mean --expect-status?"),
            ("-timeout", "did you mean --timeout?"),
            ("--time", "did you mean --timeout?"),
            ("-x", "did you mean -X?"),
            ("-t2s", "write -t 2s"),
            ("--HEADER", "did you mean --header?"),
        ];
        for (typed, words) in cases {
            let e = error(&[typed, "x"], &[]);
            assert!(e.starts_with(&format!("unknown option '{typed}'")) && e.contains(words), "{typed}: {e}");
        }
        assert_eq!(error(&["--zzzzzzzz"], &[]), "unknown option '--zzzzzzzz'");
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
            (&["--expect-body", "--wait", "5s"], "--expect-body needs a value, and '--wait' is an option"),
            (&["-H", "-v"], "write -H=-v"),
            (&["-t", "--timeout=2s"], "'--timeout=2s' is an option"),
            (&["--timeout="], "--timeout '': not a duration"),
            (&["-t", "\"2s\""], "no shell removed them"),
            (&["--expect-status='200'"], "no shell removed them"),
            (&["-H", "X-Name: caf\u{e9}"], "non-ASCII"),
            (&["http://127.0.0.1:8000/he<llo>"], "'<'"),
            (&["/healthz#top"], "#fragment"),
            (&["-H", &format!("X-Long: {}", "a".repeat(4085))], "header 'X-Long' is longer than 4 KiB"),
            (&[&format!("/{}", "a".repeat(4080))], "path and query are longer than 4 KiB"),
            (&["--cacert="], "--cacert"),
            (&["--"], "unknown option '--'"),
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
