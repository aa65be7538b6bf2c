//! Arguments and environment → a validated `Plan`.
//!
//! Parsing is a pure function of the argument list and an environment lookup,
//! so unit tests call it directly. It fails closed: a probe definition that
//! could mean something else than it says (a help flag among other arguments,
//! an option given twice, a value that is itself an option, an option that
//! means nothing for the targets given, a URL that could not be sent) is a
//! usage error, never a probe that cannot fail. Flags win over environment
//! variables, which win over defaults.
//!
//! Every option is declared once, in `options!` below: its names, what it
//! takes, its environment variable, the targets it applies to, its help line
//! and its text in the README. Parsing, `--help`, the README's option table
//! and the fuzz dictionary all follow from that table (the last two through
//! a test that fails when the files differ from it).
//!
//! Three steps: the arguments are walked in order (`arrange`) and pico-args
//! takes the values (`take_values`); the environment and defaults fill the
//! rest and each value is typed (`settle`); then the combination is checked
//! (`validate`).

use std::ffi::OsString;
use std::fmt;
#[cfg(test)]
use std::fmt::Write as _;
use std::time::Duration;

use crate::config::{
    Check, Config, FileCheck, Header, Method, Plan, StatusSet, Tls, Verbosity, DEFAULT_INTERVAL, DEFAULT_TIMEOUT,
    MAX_BODY, MAX_DURATION, MAX_REQUEST_LINE,
};
use crate::file::DEFAULT_MAX_AGE;
use crate::json;
use crate::target::{self, Target};

// ------------------------------------------------------------ the options

/// The kinds of target an option applies to: a bit each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kinds(u8);

impl Kinds {
    pub const HTTP: Kinds = Kinds(1);
    pub const HTTPS: Kinds = Kinds(2);
    pub const FILE: Kinds = Kinds(4);
    pub const TCP: Kinds = Kinds(8);
    /// `http://` and `https://`.
    pub const WEB: Kinds = Kinds(1 | 2);
    pub const ALL: Kinds = Kinds(1 | 2 | 4 | 8);

    pub fn meets(self, other: Kinds) -> bool {
        self.0 & other.0 != 0
    }

    fn with(self, other: Kinds) -> Kinds {
        Kinds(self.0 | other.0)
    }

    /// "all targets", "http:// and https:// targets", … for the docs.
    pub fn describe(self) -> &'static str {
        match self {
            Kinds::ALL => "all",
            Kinds::WEB => "HTTP(S)",
            Kinds::HTTPS => "https://",
            Kinds::FILE => "file://",
            Kinds::TCP => "tcp://",
            _ => "some",
        }
    }
}

/// What an option takes after its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Takes {
    /// Nothing: a flag, at most once.
    Nothing,
    /// One value, at most once.
    Value,
    /// One value each time; the option repeats, in order.
    Values,
    /// Nothing, and nothing else may be given: -h, -V.
    Alone,
}

/// One option, as declared in `options!`.
#[derive(Debug)]
pub struct Spec {
    pub opt: Opt,
    /// `-t`, or "" when there is no short name.
    pub short: &'static str,
    pub long: &'static str,
    /// What the value is called in the help ("DUR"), "" for flags.
    pub value: &'static str,
    pub takes: Takes,
    /// The environment variable read when the option is not given, or "".
    pub env: &'static str,
    pub applies: Kinds,
    /// The `--help` line, wrapped when printed.
    pub help: &'static str,
}

impl Spec {
    /// `-t, --timeout DUR` or `--wait DUR`.
    pub fn names(&self) -> String {
        let mut text = String::new();
        if !self.short.is_empty() {
            text.push_str(self.short);
            text.push_str(", ");
        }
        text.push_str(self.long);
        if !self.value.is_empty() {
            text.push(' ');
            text.push_str(self.value);
        }
        text
    }

    fn keys(&self) -> pico_args::Keys {
        if self.short.is_empty() {
            self.long.into()
        } else {
            [self.short, self.long].into()
        }
    }

    /// The name every repeat is given to pico-args under, so that one name keeps them in order.
    fn key(&self) -> &'static str {
        if self.short.is_empty() {
            self.long
        } else {
            self.short
        }
    }
}

/// Declares every option once: the `Opt` enum and the `OPTIONS` table, in
/// the same order, so that `OPTIONS[opt as usize]` is the option's row.
macro_rules! options {
    ($($opt:ident: $short:literal $long:literal $value:literal, $takes:ident, env $env:literal, $applies:ident,
        help $help:literal, doc $doc:literal;)*) => {
        /// An option, by what it is; its row in `OPTIONS` says the rest.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Opt { $($opt),* }

        /// Every option, in the order `--help` and the README list them.
        pub const OPTIONS: &[Spec] = &[$(Spec {
            opt: Opt::$opt, short: $short, long: $long, value: $value, takes: Takes::$takes, env: $env,
            applies: Kinds::$applies, help: $help,
        }),*];

        /// Each option's text in the README's table, by `Opt`: kept out of
        /// the executable, which never prints it.
        #[cfg(test)]
        const DOCS: &[&str] = &[$($doc),*];
    };
}

options! {
    Timeout: "-t" "--timeout" "DUR", Value, env "HEALTHPROBE_TIMEOUT", ALL,
        help "deadline for the whole probe: resolve, connect, send, headers, and the body when checked (default 2s; $HEALTHPROBE_TIMEOUT). DUR: 250ms, 2s, 1.5s, 3",
        doc "one deadline for the whole call, every target and step. Default `2s`; `$HEALTHPROBE_TIMEOUT`. `DUR`: `250ms`, `2s`, `1.5s`, `1m`, `3`.";
    Method: "-X" "--method" "M", Value, env "", WEB,
        help "GET (default) or HEAD",
        doc "`GET` (default) or `HEAD`.";
    Header: "-H" "--header" "'N: V'", Values, env "", WEB,
        help "extra request header, repeatable; 'Host: name' replaces the Host header (Django ALLOWED_HOSTS)",
        doc "extra request header, repeatable. `Host: name` replaces the Host header (Django `ALLOWED_HOSTS`).";
    UnixSocket: "" "--unix-socket" "PATH", Value, env "", WEB,
        help "connect to this Unix socket (gunicorn --bind unix:PATH); the URL still gives the path and Host",
        doc "connect to this Unix socket (Gunicorn `--bind unix:PATH`); the URL gives the path and Host. One HTTP target only.";
    ExpectStatus: "" "--expect-status" "LIST", Value, env "", WEB,
        help "healthy statuses: 200, 200,204 or 200-299 (default 200); a redirect is never followed",
        doc "healthy statuses: `200`, `200,204`, `200-299`. Default `200`. A redirect is never followed.";
    ExpectBody: "" "--expect-body" "TEXT", Value, env "", WEB,
        help "the body must contain TEXT (at most 64 KiB is read)",
        doc "the body must contain `TEXT`; at most 64 KiB is read.";
    ExpectJson: "" "--expect-json" "PATH=VALUE", Values, env "", WEB,
        help "the body must be JSON whose value at PATH equals VALUE, repeatable: status=ok, checks.database=ok, items[0].up=true; VALUE is JSON, or a bare word meaning that string",
        doc "the body must be JSON whose value at `PATH` (`status`, `checks.database`, `items[0].up`) equals `VALUE` as JSON (`true`, `1`, `null`; a bare word `ok` is the string). Repeatable.";
    MaxAge: "" "--max-age" "DUR", Value, env "", FILE,
        help "a file:// target is healthy while modified at most DUR ago (default 60s)",
        doc "a `file://` target is healthy while modified at most `DUR` ago. Default `60s`.";
    Wait: "" "--wait" "DUR", Value, env "", ALL,
        help "repeat until healthy or DUR has passed (for CI)",
        doc "for CI: repeat until healthy or `DUR` has passed.";
    Interval: "" "--interval" "DUR", Value, env "", ALL,
        help "pause between --wait attempts (default 500ms)",
        doc "the pause between `--wait` attempts. Default `500ms`.";
    Cacert: "" "--cacert" "FILE", Value, env "", HTTPS,
        help "(TLS build) trust the certificates in this PEM file",
        doc "TLS build: trust this PEM file's CA certificates instead of the built-in roots.";
    Cert: "" "--cert" "FILE", Value, env "", HTTPS,
        help "(TLS build) present this PEM client certificate chain (with --key)",
        doc "TLS build: the PEM client certificate chain to present (mutual TLS), with `--key`.";
    Key: "" "--key" "FILE", Value, env "", HTTPS,
        help "(TLS build) the private key of --cert (PEM: PKCS#8, SEC1 or PKCS#1)",
        doc "TLS build: the PEM private key of `--cert` (PKCS#8, SEC1, PKCS#1).";
    Insecure: "-k" "--insecure" "", Nothing, env "", HTTPS,
        help "(TLS build) do not verify the server certificate",
        doc "TLS build: accept any server certificate.";
    Quiet: "-q" "--quiet" "", Nothing, env "", ALL,
        help "print nothing",
        doc "print nothing.";
    Verbose: "-v" "--verbose" "", Nothing, env "", ALL,
        help "also print a line on success, one per target",
        doc "also print a line on success, one per target.";
    Help: "-h" "--help" "", Alone, env "", ALL,
        help "print this help (only as the one argument)",
        doc "print the help, only as the one argument (`-h 'Host: x'` is a typo of `-H`).";
    Version: "-V" "--version" "", Alone, env "", ALL,
        help "print the version (only as the one argument)",
        doc "print the version, only as the one argument.";
}

impl Opt {
    pub fn spec(self) -> &'static Spec {
        &OPTIONS[self as usize]
    }
}

fn find(name: &str) -> Option<&'static Spec> {
    OPTIONS.iter().find(|s| name == s.long || !s.short.is_empty() && name == s.short)
}

const HELP_HEAD: &str = "\
healthprobe: is this instance healthy? Probes each TARGET under one hard deadline.
Exit status 0 when every target is healthy, 1 otherwise.

Usage: healthprobe [OPTIONS] [TARGET...]

TARGET is http://HOST[:PORT]/PATH, a bare path such as /readyz meaning
http://127.0.0.1:$PORT/readyz, tcp://HOST:PORT (a port that accepts a
connection; nothing is sent), or file:///PATH, a heartbeat file (healthy while
modified within --max-age). Without TARGET: $HEALTHPROBE_URL (one target), else
http://127.0.0.1:$PORT/healthz. $PORT defaults to 8000.

Options (for every kind of target, unless marked [HTTP(S)], [https://] or [file://]):
";

const HELP_TAIL: &str = "
Values are taken as written, in --opt VALUE and --opt=VALUE alike: quotes
are part of the value when no shell removed them. Each option is given at
most once, except -H and --expect-json. An option that means nothing for the
targets given is refused. Proxy variables (HTTP_PROXY, ...) are ignored on purpose.
";

/// The `--help` text, from the table.
pub fn help() -> String {
    const NAMES: usize = 28;
    const WIDTH: usize = 80;
    let mut text = String::from(HELP_HEAD);
    for spec in OPTIONS {
        let names = spec.names();
        let mut line =
            format!("  {:<w$}", if spec.short.is_empty() { format!("    {names}") } else { names }, w = NAMES - 2);
        if line.len() > NAMES {
            line.push('\n');
            text.push_str(&line);
            line = " ".repeat(NAMES);
        }
        let mut words: Vec<String> = spec.help.split(' ').map(str::to_string).collect();
        if spec.applies != Kinds::ALL {
            words.insert(0, format!("[{}]", spec.applies.describe()));
        }
        let mut at_start = true;
        for word in words {
            if !at_start && line.len() + 1 + word.len() > WIDTH {
                text.push_str(&line);
                text.push('\n');
                line = " ".repeat(NAMES);
                at_start = true;
            }
            if !at_start {
                line.push(' ');
            }
            line.push_str(&word);
            at_start = false;
        }
        text.push_str(&line);
        text.push('\n');
    }
    text.push_str(HELP_TAIL);
    text
}

/// The README's option table, from the table.
#[cfg(test)]
fn readme_table() -> String {
    let mut text = String::from("| option | targets | meaning |\n|---|---|---|\n");
    for spec in OPTIONS {
        let _ = writeln!(text, "| `{}` | {} | {} |", spec.names(), spec.applies.describe(), DOCS[spec.opt as usize]);
    }
    text
}

/// The fuzz dictionary for `cli`: every option name, and each `--long=` form.
#[cfg(test)]
fn fuzz_dictionary() -> String {
    let mut text = String::from("# Generated from src/cli.rs (the options! table) by a test; do not edit.\n");
    for spec in OPTIONS {
        for name in [spec.short, spec.long].into_iter().filter(|n| !n.is_empty()) {
            let _ = writeln!(text, "\"{name}\"");
        }
        if spec.takes != Takes::Nothing && spec.takes != Takes::Alone {
            let _ = writeln!(text, "\"{}=\"", spec.long);
        }
    }
    for word in ["http://", "https://", "tcp://", "file://", "/healthz", "127.0.0.1:", "[::1]", "localhost"] {
        let _ = writeln!(text, "\"{word}\"");
    }
    text
}

// Built once and moved once into main: boxing the Plan would only add an
// allocation to every probe.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Probe(Plan),
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
        match only.to_str().and_then(find) {
            Some(Spec { opt: Opt::Help, .. }) => return Ok(Command::Help),
            Some(Spec { opt: Opt::Version, .. }) => return Ok(Command::Version),
            _ => {}
        }
    }
    let given = take_values(args)?;
    let plan = settle(&given, &env)?;
    validate(&given, &plan)?;
    Ok(Command::Probe(plan))
}

// ------------------------------------------------------ 1. take the values

/// What the command line says, as written: each option's values in order,
/// in the row of its `Opt`, and the targets.
#[derive(Debug)]
struct Given {
    values: Vec<Vec<String>>,
    /// A bit for each option given (`arrange`).
    present: u32,
    targets: Vec<String>,
}

impl Given {
    fn all(&self, opt: Opt) -> &[String] {
        &self.values[opt as usize]
    }

    fn one(&self, opt: Opt) -> Option<&str> {
        self.all(opt).first().map(String::as_str)
    }

    fn has(&self, opt: Opt) -> bool {
        self.present & 1 << opt as u32 != 0
    }

    /// Adds a value; a second one for an option that does not repeat is a usage error.
    fn add(&mut self, spec: &Spec, value: String) -> Result<(), UsageError> {
        let values = &mut self.values[spec.opt as usize];
        if !values.is_empty() && spec.takes != Takes::Values {
            return usage(match spec.takes {
                Takes::Nothing => format!("{} given twice", spec.long),
                _ => format!("{} given twice (only -H and --expect-json repeat)", spec.long),
            });
        }
        values.push(value);
        Ok(())
    }
}

/// pico-args takes the values, option by option from the table: every value
/// of a repeating option in order, each other option once (asked a second
/// time, it finds a repeat), the flags. It leaves the targets and the
/// `--opt=value` forms, taken here verbatim: `=` splits at the first one, and
/// no quote is removed (repeating options' `=` forms are split in `arrange`).
/// pico-args looks for each option anywhere in the list, so it cannot tell a
/// value from an option's name (`--expect-body --wait 5s`): `arrange` first
/// walks the list in order and refuses what pico-args would read otherwise
/// than written.
fn take_values(args: Vec<OsString>) -> Result<Given, UsageError> {
    let (arranged, present) = arrange(args)?;
    let mut args = pico_args::Arguments::from_vec(arranged);
    let mut given = Given { values: vec![Vec::new(); OPTIONS.len()], present, targets: Vec::new() };
    // Only the options that `arrange` saw: each look is a scan of the list.
    let given_here = || OPTIONS.iter().filter(|s| present & 1 << s.opt as u32 != 0);
    // Repeating options first: their values may be written like an option (-H=-t).
    for spec in given_here().filter(|s| s.takes == Takes::Values) {
        given.values[spec.opt as usize] = args.values_from_fn(spec.key(), verbatim).map_err(pico)?;
    }
    for spec in given_here() {
        match spec.takes {
            Takes::Value => {
                while let Some(value) = args.opt_value_from_fn(spec.keys(), verbatim).map_err(pico)? {
                    given.add(spec, value)?;
                }
            }
            Takes::Nothing => {
                while args.contains(spec.keys()) {
                    given.add(spec, String::new())?;
                }
            }
            Takes::Values | Takes::Alone => {}
        }
    }
    for rest in args.finish() {
        let rest = utf8(rest)?;
        match rest.split_once('=').and_then(|(name, value)| Some((find(name)?, value))) {
            Some((spec, value)) => given.add(spec, value.to_string())?,
            None => given.targets.push(rest),
        }
    }
    Ok(given)
}

/// One walk over the arguments in order: every argument that starts with
/// `-` is one of our options, in an option's place; a value after its option
/// is not itself an option; `-h` and `-V` are not there. Returns the list for
/// pico-args, with every repeating option's value as `NAME value` (so that
/// one name keeps them in order) and everything else as written: a value
/// that follows its option never equals an option's name, and `--opt=value`
/// never does. Also returns which options are there, a bit each.
fn arrange(args: Vec<OsString>) -> Result<(Vec<OsString>, u32), UsageError> {
    const _: () = assert!(OPTIONS.len() <= 32, "one bit an option");
    let mut arranged: Vec<OsString> = Vec::with_capacity(args.len());
    let mut present = 0u32;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let arg = utf8(arg)?;
        if !arg.starts_with('-') || arg == "-" {
            arranged.push(arg.into());
            continue;
        }
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (arg.as_str(), None),
        };
        let Some(spec) = find(name) else {
            return usage(unknown_option(name));
        };
        present |= 1 << spec.opt as u32;
        let value = match (spec.takes, inline) {
            (Takes::Alone, _) => return usage(not_alone(name, spec)),
            (Takes::Nothing, Some(_)) => return usage(format!("{} takes no value (got '{arg}')", spec.long)),
            (Takes::Values, Some(value)) => value.to_string(),
            (Takes::Nothing, None) | (Takes::Value, Some(_)) => {
                arranged.push(arg.into());
                continue;
            }
            (Takes::Value | Takes::Values, None) => match args.next() {
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
        arranged.push(if spec.takes == Takes::Values { spec.key().into() } else { arg.into() });
        arranged.push(value.into());
    }
    Ok((arranged, present))
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
fn not_alone(name: &str, spec: &Spec) -> String {
    if name == "-h" {
        "-h is --help, which must be the only argument (a header is -H 'Name: value')".into()
    } else if spec.opt == Opt::Help {
        format!("{name} prints the help and must be the only argument")
    } else {
        format!("{name} prints the version and must be the only argument")
    }
}

/// `unknown option '--timout'; did you mean --timeout?`
fn unknown_option(name: &str) -> String {
    let mut text = format!("unknown option '{name}'");
    // The other case of a short option (-x for -X), or the nearest long name
    // (--timout, --expect_status, -timeout, --time).
    let nearest = OPTIONS
        .iter()
        .flat_map(|s| [s.short, s.long])
        .filter(|known| known.len() > 2 || !known.is_empty() && known.eq_ignore_ascii_case(name))
        .map(|known| (closeness(name, known), known))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d);
    if let Some((_, known)) = nearest {
        text.push_str(&format!("; did you mean {known}?"));
        return text;
    }
    // A value glued to a short option: -t2s, -XHEAD.
    let glued = name
        .get(..2)
        .and_then(|head| OPTIONS.iter().find(|s| s.short == head && matches!(s.takes, Takes::Value | Takes::Values)));
    if let Some(spec) = glued {
        text.push_str(&format!("; write {} {}", spec.short, &name[2..]));
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

/// An option's duration: given, else from its environment variable (when it
/// has one and it is not empty), else none.
fn duration_of(given: &Given, opt: Opt, env: &impl Fn(&str) -> Option<String>) -> Result<Option<Duration>, UsageError> {
    let spec = opt.spec();
    if let Some(text) = given.one(opt) {
        return duration(spec.long, text).map(Some);
    }
    match (!spec.env.is_empty()).then(|| env(spec.env)).flatten() {
        Some(text) if !text.is_empty() => {
            parse_duration(&text).map(Some).map_err(|e| bad(&format!("{}=", spec.env), &text, e))
        }
        _ => Ok(None),
    }
}

/// Turns what was given into typed values, filling in the environment and
/// the defaults.
fn settle(given: &Given, env: &impl Fn(&str) -> Option<String>) -> Result<Plan, UsageError> {
    let timeout = duration_of(given, Opt::Timeout, env)?.unwrap_or(DEFAULT_TIMEOUT);
    let wait = duration_of(given, Opt::Wait, env)?;
    let interval = duration_of(given, Opt::Interval, env)?.unwrap_or(DEFAULT_INTERVAL);
    let max_age = duration_of(given, Opt::MaxAge, env)?.unwrap_or(DEFAULT_MAX_AGE);
    let verbosity = match (given.has(Opt::Quiet), given.has(Opt::Verbose)) {
        (true, _) => Verbosity::Quiet,
        (false, true) => Verbosity::Verbose,
        (false, false) => Verbosity::Normal,
    };
    let from_env;
    let (texts, source): (Vec<&str>, &str) = if given.targets.is_empty() {
        from_env = env("HEALTHPROBE_URL").filter(|u| !u.is_empty());
        match &from_env {
            Some(url) => (vec![url.as_str()], "HEALTHPROBE_URL"),
            None => (vec!["/healthz"], "URL"),
        }
    } else {
        (given.targets.iter().map(String::as_str).collect(), "target")
    };
    let mut checks = Vec::with_capacity(texts.len());
    for text in texts {
        if let Some(rest) = strip_scheme(text, "tcp://") {
            checks.push(Check::Tcp(target::Endpoint::parse(rest).map_err(|e| bad(source, text, e))?));
            continue;
        }
        if let Some(path) = strip_scheme(text, "file://") {
            checks.push(Check::File(FileCheck { path: file_path(path).map_err(|e| bad(source, text, e))?, max_age }));
            continue;
        }
        let target = http_target(text, source, env)?;
        // Every HTTP target shares the options: the first one's, but for the target.
        let first = checks.iter().find_map(|c| match c {
            Check::Http(config) => Some(config),
            Check::Tcp(_) | Check::File(_) => None,
        });
        let config = match first {
            Some(first) => Config { target, ..first.clone() },
            None => http_options(given, target, timeout, wait, interval, verbosity)?,
        };
        checks.push(Check::Http(config));
    }
    Ok(Plan { checks, timeout, wait, interval, verbosity })
}

/// An HTTP(S) target with the options every HTTP(S) target shares.
fn http_options(
    given: &Given,
    target: Target,
    timeout: Duration,
    wait: Option<Duration>,
    interval: Duration,
    verbosity: Verbosity,
) -> Result<Config, UsageError> {
    let method = match given.one(Opt::Method) {
        None => Method::Get,
        Some(m) if m.eq_ignore_ascii_case("GET") => Method::Get,
        Some(m) if m.eq_ignore_ascii_case("HEAD") => Method::Head,
        Some(m) => return Err(bad("--method", m, "only GET and HEAD are probes")),
    };
    let expect_status = match given.one(Opt::ExpectStatus) {
        Some(s) => parse_status_set(s).map_err(|e| bad("--expect-status", s, e))?,
        None => StatusSet::default(),
    };
    let expect_json = given
        .all(Opt::ExpectJson)
        .iter()
        .map(|e| json::parse_expectation(e).map_err(|why| bad("--expect-json", e, why)))
        .collect::<Result<_, _>>()?;
    Ok(Config {
        target,
        timeout,
        method,
        headers: given.all(Opt::Header).iter().map(|h| parse_header(h)).collect::<Result<_, _>>()?,
        unix_socket: given.one(Opt::UnixSocket).map(str::to_string),
        expect_status,
        expect_body: given.one(Opt::ExpectBody).map(str::to_string),
        expect_json,
        wait,
        interval,
        tls: if given.has(Opt::Insecure) {
            Tls::Insecure
        } else {
            Tls::Verify { cacert: given.one(Opt::Cacert).map(str::to_string) }
        },
        #[cfg(feature = "tls")]
        client_identity: crate::identity::client_identity(given.one(Opt::Cert), given.one(Opt::Key))
            .map_err(|e| UsageError(e.to_string()))?,
        verbosity,
    })
}

/// `rest` after a scheme written in any case.
fn strip_scheme<'a>(text: &'a str, scheme: &str) -> Option<&'a str> {
    let head = text.get(..scheme.len())?;
    head.eq_ignore_ascii_case(scheme).then(|| &text[scheme.len()..])
}

/// `file:///PATH`: the path as written, which must be absolute. Not
/// percent-decoded: what is written is the file's name.
fn file_path(rest: &str) -> Result<String, String> {
    if rest.is_empty() {
        return Err("needs a path: file:///PATH".into());
    }
    if !rest.starts_with('/') {
        return Err(format!("write file:///{rest} (an absolute path after file://, three slashes in all)"));
    }
    if rest.chars().any(char::is_control) {
        return Err("the path contains a control character".into());
    }
    Ok(rest.to_string())
}

/// An HTTP(S) target; a bare path is on 127.0.0.1 at `$PORT`.
fn http_target(url: &str, source: &str, env: &impl Fn(&str) -> Option<String>) -> Result<Target, UsageError> {
    // $PORT matters only for a bare path; a full URL names its own port.
    let port = match url.starts_with('/').then(|| env("PORT")).flatten() {
        Some(p) if !p.is_empty() => match p.parse::<u16>() {
            Ok(n) if n > 0 => n,
            _ => return usage(format!("PORT={p} is not a port number (1-65535)")),
        },
        _ => target::DEFAULT_PORT,
    };
    let source = if source == "target" { "URL" } else { source };
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
fn validate(given: &Given, plan: &Plan) -> Result<(), UsageError> {
    if given.has(Opt::Quiet) && given.has(Opt::Verbose) {
        return usage("cannot combine --quiet with --verbose");
    }
    if let Some(i) = given.one(Opt::Interval) {
        if !given.has(Opt::Wait) {
            return usage(format!("--interval '{i}' needs --wait (without it there is one attempt)"));
        }
    }
    validate_targets(given, plan)?;
    validate_tls(given, plan)?;
    for check in &plan.checks {
        if let Check::Http(config) = check {
            validate_http(config)?;
        }
    }
    Ok(())
}

/// Each target once; each option given means something for a target given.
fn validate_targets(given: &Given, plan: &Plan) -> Result<(), UsageError> {
    let mut kinds = Kinds(0);
    let mut seen: Vec<&str> = Vec::with_capacity(plan.checks.len());
    for check in &plan.checks {
        let (name, kind) = match check {
            Check::Http(c) if c.target.is_https() => (c.target.url(), Kinds::HTTPS),
            Check::Http(c) => (c.target.url(), Kinds::HTTP),
            Check::Tcp(endpoint) => (endpoint.url(), Kinds::TCP),
            Check::File(f) => (f.path.as_str(), Kinds::FILE),
        };
        if seen.contains(&name) {
            return usage(format!("the target '{name}' is given twice"));
        }
        seen.push(name);
        kinds = kinds.with(kind);
    }
    for spec in OPTIONS.iter().filter(|s| given.has(s.opt) && !s.applies.meets(kinds)) {
        // The TLS options in the HTTP-only build say so in validate_tls.
        if spec.applies == Kinds::HTTPS && !cfg!(feature = "tls") {
            continue;
        }
        return usage(format!(
            "{} means nothing for {}; it is for {} targets",
            spec.long,
            kinds_given(kinds),
            spec.applies.describe()
        ));
    }
    let web = plan.checks.iter().filter(|c| matches!(c, Check::Http(_))).count();
    if given.has(Opt::UnixSocket) && web > 1 {
        return usage("--unix-socket with several HTTP targets: give each socket its own call");
    }
    Ok(())
}

/// "a file:// target", "http:// targets", … what the command line probes.
fn kinds_given(kinds: Kinds) -> &'static str {
    match kinds {
        Kinds::FILE => "a file:// target",
        Kinds::TCP => "a tcp:// target",
        Kinds::HTTP => "an http:// target",
        Kinds::HTTPS => "an https:// target",
        _ => "the targets given",
    }
}

fn validate_http(config: &Config) -> Result<(), UsageError> {
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
    }
    if config.method == Method::Head {
        if config.expect_body.is_some() {
            return usage("cannot combine --expect-body with -X HEAD (a HEAD response has no body)");
        }
        if !config.expect_json.is_empty() {
            return usage("cannot combine --expect-json with -X HEAD (a HEAD response has no body)");
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
    Ok(())
}

fn validate_tls(given: &Given, plan: &Plan) -> Result<(), UsageError> {
    if given.has(Opt::Insecure) && given.has(Opt::Cacert) {
        return usage("cannot combine --cacert with --insecure (the CA file would not be used)");
    }
    for opt in [Opt::Cacert, Opt::Cert, Opt::Key] {
        if given.one(opt) == Some("") {
            return usage(format!("{} needs a file", opt.spec().long));
        }
    }
    if !cfg!(feature = "tls") {
        let tls_option = OPTIONS.iter().find(|s| s.applies == Kinds::HTTPS && given.has(s.opt));
        if let Some(spec) = tls_option {
            return usage(format!(
                "{} needs the TLS build (healthprobe-tls); this build speaks plain HTTP only",
                spec.long
            ));
        }
        let https = plan.checks.iter().find_map(|c| match c {
            Check::Http(c) if c.target.is_https() => Some(c.target.url()),
            _ => None,
        });
        if let Some(url) = https {
            return usage(format!("{url}: this build has no TLS; use the healthprobe-tls build for https:// URLs"));
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

    fn plan(args: &[&str], env: &[(&str, &str)]) -> Plan {
        match run(args, env) {
            Ok(Command::Probe(plan)) => plan,
            other => panic!("expected a probe for {args:?}, got {other:?}"),
        }
    }

    /// The one HTTP target's configuration.
    fn config(args: &[&str], env: &[(&str, &str)]) -> Config {
        match plan(args, env).checks.as_slice() {
            [Check::Http(c)] => c.clone(),
            other => panic!("expected one HTTP target for {args:?}, got {other:?}"),
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
        assert_eq!(error(&["-t", "1s", "-t", "2s"], &[]), "--timeout given twice (only -H and --expect-json repeat)");
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
            (&["/a", "/a"], "the target 'http://127.0.0.1:8000/a' is given twice"),
            (&["/a", "tcp-check"], "URL 'tcp-check': not a URL"),
            (&["--max-age", "5s"], "--max-age means nothing for an http:// target"),
            (&["-H", "X: y", "file:///run/beat"], "--header means nothing for a file:// target"),
            (&["--expect-json", "status=ok", "file:///run/beat"], "--expect-json means nothing"),
            (&["--max-age", "0", "file:///run/beat"], "--max-age '0'"),
            (&["file://run/beat"], "write file:///run/beat"),
            (&["file://"], "needs a path"),
            (&["file:///a", "file:///a"], "given twice"),
            (&["tcp://db:5432", "tcp://DB:5432"], "the target 'tcp://db:5432' is given twice"),
            (&["tcp://db"], "write the port"),
            (&["-H", "X: y", "tcp://db:5432"], "--header means nothing for a tcp:// target"),
            (&["--max-age", "5s", "tcp://db:5432"], "--max-age means nothing for a tcp:// target"),
            (&["--unix-socket", "/s", "/a", "/b"], "several HTTP targets"),
            (&["--expect-json", "status"], "--expect-json 'status'"),
            (&["-X", "HEAD", "--expect-json", "a=1"], "HEAD response has no body"),
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

    #[test]
    fn several_targets_of_each_kind() {
        let p = plan(
            &["-t", "3s", "-H", "Host: app", "/healthz", "file:///run/hp/worker.alive", "http://[::1]:81/up"],
            &[],
        );
        assert_eq!(p.timeout, Duration::from_secs(3));
        match p.checks.as_slice() {
            [Check::Http(a), Check::File(f), Check::Http(b)] => {
                assert_eq!(a.target.url(), "http://127.0.0.1:8000/healthz");
                assert_eq!(b.target.url(), "http://[::1]:81/up");
                assert_eq!((a.headers.len(), b.headers.len()), (1, 1));
                assert_eq!((a.timeout, b.timeout), (p.timeout, p.timeout));
                assert_eq!(f, &FileCheck { path: "/run/hp/worker.alive".into(), max_age: DEFAULT_MAX_AGE });
            }
            other => panic!("{other:?}"),
        }
        let p = plan(&["--wait", "5s", "tcp://localhost:5432", "TCP://[::1]:6379"], &[]);
        let urls: Vec<&str> =
            p.checks.iter().filter_map(|c| if let Check::Tcp(e) = c { Some(e.url()) } else { None }).collect();
        assert_eq!(urls, ["tcp://localhost:5432", "tcp://[::1]:6379"]);
        let p = plan(&["--max-age", "10s", "--wait", "30s", "FILE:///tmp/beat"], &[]);
        assert_eq!(p.checks, [Check::File(FileCheck { path: "/tmp/beat".into(), max_age: Duration::from_secs(10) })]);
        assert_eq!(p.limit(), Duration::from_secs(30));
        // $HEALTHPROBE_URL holds one target, of any kind; an argument replaces it.
        let env = [("HEALTHPROBE_URL", "file:///tmp/beat")];
        assert!(matches!(plan(&[], &env).checks.as_slice(), [Check::File(_)]));
        assert!(matches!(plan(&["/x"], &env).checks.as_slice(), [Check::Http(_)]));
        assert!(error(&[], &[("HEALTHPROBE_URL", "/a /b")]).contains("HEALTHPROBE_URL '/a /b'"));
        // Options apply where some target takes them.
        assert_eq!(plan(&["--max-age", "5s", "/healthz", "file:///b"], &[]).checks.len(), 2);
        assert_eq!(plan(&["--expect-json", "a=1", "/healthz", "file:///b"], &[]).checks.len(), 2);
    }

    #[test]
    fn expect_json_repeats_in_order() {
        let c = config(&["--expect-json", "status=ok", "--expect-json=checks.db=true"], &[]);
        let paths: Vec<&str> = c.expect_json.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["status", "checks.db"]);
        assert_eq!(c.expect_json[0].wanted, "\"ok\"");
        assert_eq!(c.expect_json[1].wanted, "true");
    }

    #[test]
    fn every_option_in_its_row_and_in_the_help() {
        let help = help();
        for (i, spec) in OPTIONS.iter().enumerate() {
            assert_eq!(spec.opt as usize, i, "{}", spec.long);
            assert!(spec.long.starts_with("--") && (spec.short.is_empty() || spec.short.len() == 2));
            assert_eq!(spec.value.is_empty(), matches!(spec.takes, Takes::Nothing | Takes::Alone), "{}", spec.long);
            assert!(help.contains(&spec.names()), "--help lacks {}", spec.names());
            assert!(!spec.help.is_empty() && !DOCS[i].is_empty());
            assert!(find(spec.long).is_some_and(|s| s.opt == spec.opt));
        }
        assert!(help.lines().all(|l| l.len() <= 88), "{help}");
    }

    /// The README's option table and the fuzz dictionary are rendered from
    /// the table; `HEALTHPROBE_REGENERATE=1 cargo test --lib follow_the_declaration`
    /// rewrites them.
    #[test]
    fn the_readme_and_the_fuzz_dictionary_follow_the_declaration() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let regenerate = std::env::var_os("HEALTHPROBE_REGENERATE").is_some();
        let readme_path = root.join("README.md");
        let readme = std::fs::read_to_string(&readme_path).unwrap();
        let (begin, end) = ("<!-- options:begin (generated from src/cli.rs) -->\n", "<!-- options:end -->");
        let from = readme.find(begin).expect("README.md has the options:begin marker") + begin.len();
        let to = readme.find(end).expect("README.md has the options:end marker");
        let wanted = readme_table();
        let dict_path = root.join("fuzz/cli.dict");
        let dict = std::fs::read_to_string(&dict_path).unwrap_or_default();
        if regenerate {
            std::fs::write(&readme_path, format!("{}{wanted}{}", &readme[..from], &readme[to..])).unwrap();
            std::fs::write(&dict_path, fuzz_dictionary()).unwrap();
            return;
        }
        let fix = "run HEALTHPROBE_REGENERATE=1 cargo test --lib follow_the_declaration";
        assert!(readme[from..to] == wanted, "README.md's option table differs from src/cli.rs: {fix}");
        assert!(dict == fuzz_dictionary(), "fuzz/cli.dict differs from src/cli.rs: {fix}");
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
