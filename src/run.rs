//! Every target of a `Plan` → what each one found. One target runs on the
//! calling thread; several run at once, a thread each, so that a target that
//! hangs cannot take time from the others: each has the whole deadline, and
//! the watchdog (`watchdog.rs`) bounds the call as a whole.

use std::net::SocketAddr;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use crate::config::{Check, Config, FileCheck, Plan};
use crate::file::{self, Stale};
use crate::probe::{self, Failure, Probed};
use crate::target::Endpoint;

/// What one target found.
#[derive(Debug)]
pub enum Checked<'a> {
    Http(&'a Config, Probed),
    Tcp(&'a Endpoint, Tried<Result<SocketAddr, Failure>>),
    File(&'a FileCheck, Tried<Result<Duration, Stale>>),
}

impl Checked<'_> {
    pub fn is_healthy(&self) -> bool {
        match self {
            Checked::Http(_, probed) => probed.outcome.is_healthy(),
            Checked::Tcp(_, tried) => tried.found.is_ok(),
            Checked::File(_, tried) => tried.found.is_ok(),
        }
    }
}

/// The last attempt at a target that is not HTTP and, with `--wait`, how
/// long was waited over how many attempts.
#[derive(Debug)]
pub struct Tried<T> {
    pub found: T,
    pub attempts: u32,
    pub waited: Option<Duration>,
}

/// Checks every target; the results in the order of the targets.
pub fn all(plan: &Plan) -> Vec<Checked<'_>> {
    if let [only] = plan.checks.as_slice() {
        return vec![one(plan, only)];
    }
    thread::scope(|scope| {
        let running: Vec<_> = plan.checks.iter().map(|check| scope.spawn(move || one(plan, check))).collect();
        // A check never panics (the panic hook would end the process first).
        running.into_iter().map(|t| t.join().expect("a check's thread")).collect()
    })
}

fn one<'a>(plan: &Plan, check: &'a Check) -> Checked<'a> {
    match check {
        Check::Http(config) => Checked::Http(config, probe::run(config)),
        Check::Tcp(endpoint) => Checked::Tcp(endpoint, repeat(plan, |limit| probe::connect_only(endpoint, limit))),
        Check::File(f) => {
            let path = Path::new(&f.path);
            Checked::File(f, repeat(plan, |_| file::check(path, f.max_age, SystemTime::now())))
        }
    }
}

/// One attempt, or with `--wait` an attempt every `--interval` until one
/// succeeds or the wait is over; each is given `--timeout` or what is left
/// of the wait, whichever is less.
fn repeat<T, E>(plan: &Plan, mut attempt: impl FnMut(Duration) -> Result<T, E>) -> Tried<Result<T, E>> {
    let Some(wait) = plan.wait else {
        return Tried { found: attempt(plan.timeout), attempts: 1, waited: None };
    };
    let start = Instant::now();
    let left = || wait.saturating_sub(start.elapsed());
    let mut attempts = 0;
    loop {
        attempts += 1;
        let found = attempt(plan.timeout.min(left()));
        if found.is_ok() {
            return Tried { found, attempts, waited: Some(start.elapsed()) };
        }
        thread::sleep(plan.interval.min(left()));
        // Less than a millisecond left cannot hold another attempt.
        if left() < Duration::from_millis(1) {
            return Tried { found, attempts, waited: Some(start.elapsed()) };
        }
    }
}
