//! Randomised hostile servers against the real binary: random delays, byte
//! splits, truncations, resets, valid and invalid status lines, huge and
//! endless headers and bodies. Every run must end with exit 0 or 1 (never a
//! signal, never another status), within the deadline plus 150 ms, with the
//! contract's output, and with the expected one of the two wherever the
//! behaviour decides it.
//!
//! Seeded: `HEALTHPROBE_HOSTILE_SEED` replays a run (the seed is printed at
//! the start and in every failure); `HEALTHPROBE_HOSTILE_CASES` sets how many
//! behaviours are played (default 240). See docs/reliability.md.

mod common;

use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::{
    check_contract, finish, finish_traced, ms, probe_command, slack, spawn_traced, Conn, Rng, Server, MARGIN,
    RSS_BUDGET_KIB,
};

/// The probe's deadline in every case: short, so that 240 cases take seconds.
const DEADLINE_MS: u64 = 300;
/// Cases run at once. Three keep two cores busy without starving a probe:
/// the servers mostly sleep or block, and each probe is a few milliseconds
/// of CPU.
const PARALLEL: usize = 3;
/// No behaviour plays longer than this.
const PLAY_LIFETIME: Duration = Duration::from_secs(3);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Healthy,
    Unhealthy,
    /// The behaviour does not decide it (a reset racing a complete answer).
    Either,
}

#[derive(Debug, Clone)]
enum Step {
    Send(Vec<u8>),
    Pause(u64),
    /// `unit` again and again, `pause_ms` apart, until the probe goes.
    Endless {
        unit: Vec<u8>,
        pause_ms: u64,
    },
}

#[derive(Debug, Clone, Copy)]
enum End {
    /// FIN after the last step; the rest of the request is drained.
    Close,
    /// RST (SO_LINGER 0).
    Reset,
    /// Keeps the connection open until the probe closes it.
    Hold,
}

#[derive(Debug, Clone)]
struct Behaviour {
    what: String,
    read_request: bool,
    steps: Vec<Step>,
    end: End,
    args: Vec<String>,
    expect: Expect,
    /// The probe must not give up before its deadline (nothing complete
    /// arrives in time).
    waits_for_deadline: bool,
}

// ------------------------------------------------------------ generation

const HEADERS: &[&str] = &[
    "Content-Type: application/json",
    "Server: gunicorn",
    "X-Frame-Options: DENY",
    "Vary: Cookie",
    "Cache-Control: no-cache, no-store",
    "Set-Cookie: csrftoken=abc; Path=/; SameSite=Lax",
    "X-Empty:",
    "Referrer-Policy:   same-origin   ",
    "Date: Thu, 26 Nov 2026 04:00:00 GMT",
];

const BAD_STATUSES: &[&str] = &[
    "201 Created",
    "204 No Content",
    "400 Bad Request",
    "403 Forbidden",
    "404 Not Found",
    "405 Method Not Allowed",
    "429 Too Many Requests",
    "500 Internal Server Error",
    "502 Bad Gateway",
    "503 Service Unavailable",
    "504 Gateway Timeout",
    "599 Odd",
];

/// Status lines (and header sections) that are not HTTP: each must fail.
const INVALID: &[&[u8]] = &[
    b"HTTP/1.1 2000 OK\r\n\r\n",
    b"HTTP/1.1 099 Odd\r\n\r\n",
    b"HTTP/1.1 20 OK\r\n\r\n",
    b"HTTP/1.1 abc OK\r\n\r\n",
    b"HTTP/1.1 -200 OK\r\n\r\n",
    b"FTP/1.1 200 OK\r\n\r\n",
    b"\x00\x01\x02 garbage garbage\r\n\r\n",
    b"<html><body>200 OK</body></html>\r\n\r\n",
    b"SSH-2.0-OpenSSH_9.6\r\n",
    b"HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nX-Bad\x00Name: 1\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nX Space: 1\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
];

struct Body {
    bytes: Vec<u8>,
    framing: Framing,
}

#[derive(Clone, Copy, PartialEq)]
enum Framing {
    Length,
    Chunked,
    /// HTTP/1.0, ended by the close.
    Close,
}

/// A whole response: status line, random headers, framed body.
fn response(rng: &mut Rng, status: &str, extra: &[String], body: &Body, head: bool) -> Vec<u8> {
    let version = if body.framing == Framing::Close { "HTTP/1.0" } else { "HTTP/1.1" };
    let mut out = format!("{version} {status}\r\n").into_bytes();
    for _ in 0..rng.range(0, 4) {
        out.extend_from_slice(rng.pick(HEADERS).as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    for h in extra {
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    match body.framing {
        Framing::Length => out.extend_from_slice(format!("Content-Length: {}\r\n", body.bytes.len()).as_bytes()),
        Framing::Chunked => out.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
        Framing::Close => {}
    }
    if rng.chance(50) {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if head {
        return out;
    }
    match body.framing {
        Framing::Chunked => {
            let mut rest = &body.bytes[..];
            while !rest.is_empty() {
                let n = (rng.range(1, 40) as usize).min(rest.len());
                out.extend_from_slice(format!("{n:x}\r\n").as_bytes());
                out.extend_from_slice(&rest[..n]);
                out.extend_from_slice(b"\r\n");
                rest = &rest[n..];
            }
            out.extend_from_slice(b"0\r\n\r\n");
        }
        _ => out.extend_from_slice(&body.bytes),
    }
    out
}

fn random_body(rng: &mut Rng) -> Body {
    let texts: &[&[u8]] = &[
        b"",
        b"ok",
        br#"{"status": "ok", "checks": {"database": "ok", "cache": "ok"}}"#,
        b"<html>\n  <body>\n    <h1>fine</h1>\n  </body>\n</html>\n",
    ];
    let mut bytes = rng.pick(texts).to_vec();
    if rng.chance(20) {
        let n = rng.range(1, 300) as usize;
        bytes.extend(rng.bytes(n));
    }
    let framing = *rng.pick(&[Framing::Length, Framing::Chunked, Framing::Close]);
    Body { bytes, framing }
}

/// `bytes` cut into random pieces with pauses of at most `max_pause` ms
/// between them (no more than `budget` ms in all).
fn split(rng: &mut Rng, bytes: &[u8], max_pause: u64, budget: u64) -> Vec<Step> {
    let mut cuts: Vec<usize> = (0..rng.range(0, 6)).map(|_| rng.range(0, bytes.len() as u64) as usize).collect();
    cuts.sort_unstable();
    cuts.dedup();
    let mut steps = Vec::new();
    let mut from = 0;
    let mut spent = 0;
    for cut in cuts.into_iter().chain([bytes.len()]) {
        if cut > from {
            steps.push(Step::Send(bytes[from..cut].to_vec()));
            from = cut;
        }
        let pause = rng.range(0, max_pause).min(budget - spent);
        if pause > 0 && from < bytes.len() {
            steps.push(Step::Pause(pause));
            spent += pause;
        }
    }
    steps
}

fn header_end(bytes: &[u8]) -> usize {
    bytes.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4).expect("a whole response")
}

fn behaviour(rng: &mut Rng) -> Behaviour {
    let mut b = Behaviour {
        what: String::new(),
        read_request: true,
        steps: Vec::new(),
        end: *rng.pick(&[End::Close, End::Hold]),
        args: Vec::new(),
        expect: Expect::Unhealthy,
        waits_for_deadline: false,
    };
    match rng.range(0, 13) {
        0 | 1 => {
            // A healthy answer, however it is cut up (a few ms of pauses).
            let body = random_body(rng);
            let (status, list) =
                *rng.pick(&[("200 OK", None), ("204 No Content", Some("200,204")), ("226 IM Used", Some("200-299"))]);
            if let Some(list) = list {
                b.args.extend(["--expect-status".into(), list.into()]);
            }
            // A 204 has no body, whatever is sent after its headers.
            let head = rng.chance(15);
            let mut body = body;
            if status.starts_with("204") {
                body.bytes.clear();
            }
            if head {
                b.args.extend(["-X".into(), "HEAD".into()]);
            } else if body.bytes.len() >= 2 && rng.chance(40) {
                let at = rng.range(0, body.bytes.len() as u64 - 2) as usize;
                let needle = String::from_utf8_lossy(&body.bytes[at..at + 2]).into_owned();
                if !needle.contains(['\u{fffd}', '\0']) && !needle.starts_with('-') {
                    b.args.extend(["--expect-body".into(), needle]);
                }
            }
            // A body framed by the end of the connection ends only when the server closes.
            if body.framing == Framing::Close && !head {
                b.end = End::Close;
            }
            let bytes = response(rng, status, &[], &body, head);
            b.steps = split(rng, &bytes, 8, 40);
            b.expect = Expect::Healthy;
            b.what = format!("{status} in pieces, {} bytes", bytes.len());
        }
        2 => {
            // A healthy answer, then RST: the reset may race the read.
            let body = random_body(rng);
            let bytes = response(rng, "200 OK", &[], &body, false);
            b.steps = split(rng, &bytes, 5, 20);
            b.end = End::Reset;
            b.expect = Expect::Either;
            b.what = "200 then reset".into();
        }
        3 => {
            let status = *rng.pick(BAD_STATUSES);
            let mut extra = Vec::new();
            let mut shown = status.to_string();
            if rng.chance(30) {
                let (st, to) = *rng.pick(&[
                    ("301 Moved Permanently", "/healthz/"),
                    ("302 Found", "/accounts/login/?next=/healthz"),
                    ("308 Permanent Redirect", "https://app.example/healthz"),
                ]);
                shown = st.into();
                extra.push(format!("Location: {to}"));
            }
            let mut bytes = Vec::new();
            if rng.chance(15) {
                bytes.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
            }
            let body = random_body(rng);
            bytes.extend(response(rng, &shown, &extra, &body, false));
            b.steps = split(rng, &bytes, 8, 40);
            b.end = *rng.pick(&[End::Close, End::Hold, End::Reset]);
            b.what = format!("{shown} in pieces");
        }
        4 => {
            let mut bytes = rng.pick(INVALID).to_vec();
            if rng.chance(30) {
                let n = rng.range(1, 64) as usize;
                let mut junk = rng.bytes(n);
                if junk[0] == b'H' {
                    junk[0] = b'X';
                }
                bytes = junk;
            }
            b.what = format!("not HTTP: {:?}", String::from_utf8_lossy(&bytes[..bytes.len().min(24)]));
            b.steps = split(rng, &bytes, 8, 40);
            b.end = *rng.pick(&[End::Close, End::Reset]);
        }
        5 => {
            // Truncated inside the status line or the headers.
            let body = random_body(rng);
            let bytes = response(rng, "200 OK", &[], &body, false);
            let cut = rng.range(0, header_end(&bytes) as u64 - 1) as usize;
            b.steps = split(rng, &bytes[..cut], 8, 40);
            b.end = *rng.pick(&[End::Close, End::Reset]);
            b.what = format!("200 cut at byte {cut}");
        }
        6 => {
            // Truncated inside the body: fewer bytes than Content-Length is
            // a response that did not arrive, with or without a body check.
            let mut body = random_body(rng);
            body.framing = Framing::Length;
            body.bytes = b"{\"status\": \"ok\", \"database\": \"up\"}".to_vec();
            let bytes = response(rng, "200 OK", &[], &body, false);
            let start = header_end(&bytes);
            let cut = rng.range(start as u64, bytes.len() as u64 - 1) as usize;
            let needle = *rng.pick(&["none", "\"status\"", "\"database\": \"up\""]);
            b.expect = Expect::Unhealthy;
            if needle != "none" {
                b.args.extend(["--expect-body".into(), needle.into()]);
            }
            b.steps = split(rng, &bytes[..cut], 5, 30);
            b.end = End::Close;
            b.what = format!("200 body cut at byte {cut} of {}, checking {needle}", bytes.len());
        }
        7 => {
            b.read_request = rng.chance(70);
            let whole = b"HTTP/1.1 200 OK\r\nContent-";
            let prefix = &whole[..rng.range(0, whole.len() as u64) as usize];
            b.steps = split(rng, prefix, 5, 20);
            b.end = End::Reset;
            b.what = format!("reset after {} bytes", prefix.len());
        }
        8 => {
            // Silence, or a start and then silence.
            let body = random_body(rng);
            let bytes = response(rng, "200 OK", &[], &body, false);
            let cut = rng.range(0, header_end(&bytes) as u64 - 1) as usize;
            b.steps = vec![Step::Send(bytes[..cut].to_vec())];
            b.end = End::Hold;
            b.waits_for_deadline = true;
            b.what = format!("{cut} bytes then silence");
        }
        9 => {
            // Too slow: the headers complete well after the deadline.
            let body = random_body(rng);
            let bytes = response(rng, "200 OK", &[], &body, false);
            let cut = rng.range(0, header_end(&bytes) as u64 - 1) as usize;
            let late = rng.range(DEADLINE_MS + 150, DEADLINE_MS + 400);
            b.steps = vec![Step::Send(bytes[..cut].to_vec()), Step::Pause(late), Step::Send(bytes[cut..].to_vec())];
            b.waits_for_deadline = true;
            b.what = format!("headers complete after {late} ms");
        }
        10 => {
            // Dribble: a byte at a time, for ever.
            let pause = rng.range(2, 40);
            b.steps = vec![
                Step::Send(b"HTTP/1.1 200 OK\r\nX-Slow: ".to_vec()),
                Step::Endless { unit: b"a".to_vec(), pause_ms: pause },
            ];
            b.waits_for_deadline = true;
            b.what = format!("dribble a byte every {pause} ms");
        }
        11 => {
            // Huge or endless headers: refused past 8 KiB.
            let mut bytes = b"HTTP/1.1 200 OK\r\n".to_vec();
            if rng.chance(50) {
                let n = rng.range(9_000, 200_000) as usize;
                bytes.extend_from_slice(b"X-Big: ");
                bytes.extend(std::iter::repeat_n(b'b', n));
                bytes.extend_from_slice(b"\r\n\r\n");
                b.steps = split(rng, &bytes, 5, 20);
                b.what = format!("one header of {n} bytes");
            } else {
                let pause = *rng.pick(&[0, 0, 1, 3]);
                b.steps = vec![
                    Step::Send(bytes),
                    Step::Endless {
                        unit: b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n".to_vec(),
                        pause_ms: pause,
                    },
                ];
                // Slow enough filler may not reach 8 KiB before the deadline.
                b.waits_for_deadline = false;
                b.what = format!("endless headers, {pause} ms apart");
            }
            b.end = End::Close;
        }
        _ => {
            // Huge or endless bodies.
            let status = *rng.pick(&["200 OK", "200 OK", "503 Service Unavailable"]);
            let framing = rng.range(0, 2);
            let head = match framing {
                0 => format!("HTTP/1.1 {status}\r\nContent-Length: 52428800000\r\n\r\n"),
                1 => format!("HTTP/1.1 {status}\r\nTransfer-Encoding: chunked\r\n\r\n"),
                _ => format!("HTTP/1.0 {status}\r\n\r\n"),
            };
            let unit: Vec<u8> = if framing == 1 {
                let mut u = b"4000\r\n".to_vec();
                u.extend(std::iter::repeat_n(b'x', 0x4000));
                u.extend_from_slice(b"\r\n");
                u
            } else {
                vec![b'x'; 16 * 1024]
            };
            let check = *rng.pick(&["none", "none", "xxxx", "needle"]);
            b.expect = match (status, check) {
                ("200 OK", "none" | "xxxx") => Expect::Healthy,
                _ => Expect::Unhealthy,
            };
            if check != "none" {
                b.args.extend(["--expect-body".into(), check.into()]);
            }
            b.steps = vec![Step::Send(head.into_bytes()), Step::Endless { unit, pause_ms: 0 }];
            b.end = End::Close;
            b.what = format!("{status} with an endless body (framing {framing}), checking {check}");
        }
    }
    b
}

// --------------------------------------------------------------- serving

/// Plays `b` on every connection to a fresh server (the probe makes one).
fn serve(b: Arc<Behaviour>) -> Server {
    let read_request = b.read_request;
    let behaviour = common::Behaviour::raw(move |c, _| play(c, &b, Instant::now()));
    Server::tcp(behaviour.reading_request(read_request))
}

fn play(s: &mut Conn, b: &Behaviour, start: Instant) {
    s.set_nodelay();
    for step in &b.steps {
        match step {
            Step::Send(bytes) => {
                if s.write_all(bytes).is_err() {
                    return;
                }
            }
            Step::Pause(n) => thread::sleep(ms(*n)),
            Step::Endless { unit, pause_ms } => {
                while start.elapsed() < PLAY_LIFETIME {
                    if s.write_all(unit).is_err() {
                        return;
                    }
                    if *pause_ms > 0 {
                        thread::sleep(ms(*pause_ms));
                    }
                }
                return;
            }
        }
    }
    match b.end {
        End::Reset => s.reset(),
        End::Close | End::Hold => {
            if matches!(b.end, End::Close) {
                s.shutdown_write();
            }
            // Until the probe closes: unread input would turn our close into RST.
            let mut buf = [0u8; 4096];
            while start.elapsed() < PLAY_LIFETIME {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        }
    }
}

// ------------------------------------------------------------------ test

/// Plays one case; returns the probe's peak RSS (KiB, static build only, else -1).
fn play_one(index: usize, b: Behaviour) -> Result<i64, String> {
    let b = Arc::new(b);
    let server = serve(b.clone());
    let url = server.url("/healthz");
    let deadline = format!("{DEADLINE_MS}ms");
    let mut args: Vec<&str> = vec!["-t", &deadline];
    args.extend(b.args.iter().map(String::as_str));
    args.push(&url);
    let ended = if static_build() {
        // Traced, to read its own peak RSS (see common::finish_traced).
        let (child, start) = spawn_traced(&mut probe_command(&args)).map_err(|e| format!("spawn: {e}"))?;
        finish_traced(child, start, Duration::from_secs(20))
    } else {
        let start = Instant::now();
        let child = probe_command(&args).spawn().map_err(|e| format!("spawn: {e}"))?;
        finish(child, start, Duration::from_secs(20))
    };
    let context = || format!("case {index} ({}; args {:?}): {ended:?}", b.what, b.args);
    check_contract(&ended).map_err(|e| format!("{e}; {}", context()))?;
    let limit = ms(DEADLINE_MS) + MARGIN + slack();
    if ended.elapsed > limit {
        return Err(format!("took {:?} > {limit:?}; {}", ended.elapsed, context()));
    }
    if b.waits_for_deadline && ended.elapsed < ms(DEADLINE_MS) {
        return Err(format!("gave up after {:?}, before its deadline; {}", ended.elapsed, context()));
    }
    if static_build() && ended.max_rss_kib > RSS_BUDGET_KIB {
        return Err(format!("peak RSS {} KiB > {RSS_BUDGET_KIB} KiB; {}", ended.max_rss_kib, context()));
    }
    let healthy = ended.code == Some(0);
    match b.expect {
        Expect::Healthy if !healthy => Err(format!("expected healthy; {}", context())),
        Expect::Unhealthy if healthy => Err(format!("expected unhealthy; {}", context())),
        _ => Ok(if static_build() { ended.max_rss_kib } else { -1 }),
    }
}

/// The peak RSS budget is the static build's.
fn static_build() -> bool {
    std::env::var_os("HEALTHPROBE_BIN").is_some()
}

#[test]
#[ignore = "random servers under a deadline window: make test-reliability"]
fn random_hostile_servers() {
    let seed = common::seed("HEALTHPROBE_HOSTILE_SEED");
    let cases: usize = std::env::var("HEALTHPROBE_HOSTILE_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(240);
    let mut rng = Rng::new(seed);
    let behaviours: Vec<Behaviour> = (0..cases).map(|_| behaviour(&mut rng)).collect();
    let queue = Arc::new(Mutex::new(behaviours.into_iter().enumerate().collect::<Vec<_>>()));
    let failures = Arc::new(Mutex::new(Vec::new()));
    let (healthy, slowest, peak) =
        (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let started = Instant::now();
    let workers: Vec<_> = (0..PARALLEL)
        .map(|_| {
            let (queue, failures, healthy, slowest, peak) =
                (queue.clone(), failures.clone(), healthy.clone(), slowest.clone(), peak.clone());
            thread::spawn(move || loop {
                let Some((i, b)) = queue.lock().unwrap().pop() else { return };
                let expect = b.expect;
                let t = Instant::now();
                match play_one(i, b) {
                    Ok(rss) => {
                        peak.fetch_max(rss.max(0) as usize, Ordering::Relaxed);
                        if expect == Expect::Healthy {
                            healthy.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Err(e) => failures.lock().unwrap().push(e),
                }
                slowest.fetch_max(t.elapsed().as_millis() as usize, Ordering::Relaxed);
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let failures = failures.lock().unwrap();
    eprintln!(
        "{cases} hostile behaviours in {:?} ({} expected healthy), slowest case {} ms, peak RSS {}; seed {seed}",
        started.elapsed(),
        healthy.load(Ordering::Relaxed),
        slowest.load(Ordering::Relaxed),
        match peak.load(Ordering::Relaxed) {
            0 => "not measured (static build only)".to_string(),
            kib => format!("{kib} KiB"),
        }
    );
    assert!(
        failures.is_empty(),
        "{} of {cases} cases failed (seed {seed}; replay with HEALTHPROBE_HOSTILE_SEED={seed}):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The generator itself: it never panics (200 seeds), and every kind of
/// behaviour and of expectation occurs in a run of the default size.
#[test]
fn generator_covers_every_kind() {
    for seed in 0..200 {
        let mut rng = Rng::new(seed);
        let _ = (0..240).map(|_| behaviour(&mut rng)).count();
    }
    let mut rng = Rng::new(1);
    let all: Vec<Behaviour> = (0..240).map(|_| behaviour(&mut rng)).collect();
    for words in [
        "in pieces",
        "then reset",
        "not HTTP",
        "cut at byte",
        "body cut",
        "reset after",
        "then silence",
        "complete after",
        "dribble",
        "header",
        "endless body",
    ] {
        assert!(all.iter().any(|b| b.what.contains(words)), "no case {words:?}");
    }
    for e in [Expect::Healthy, Expect::Unhealthy, Expect::Either] {
        assert!(all.iter().any(|b| b.expect == e), "no {e:?} case");
    }
}
