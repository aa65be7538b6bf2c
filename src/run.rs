//! Every target of a `Plan` → what each one found. One target runs on the
//! calling thread; several run at once, a thread each, so that a target that
//! hangs cannot take time from the others: each has the whole deadline, and
//! the watchdog (`watchdog.rs`) bounds the call as a whole.

use std::thread;
use std::time::{Duration, Instant, SystemTime};

use crate::config::{Check, Config, FileCheck, Plan};
use crate::file::{self, Stale};
use crate::probe::{self, Probed};

/// What one target found.
#[derive(Debug)]
pub enum Checked<'a> {
    Http(&'a Config, Probed),
    File(&'a FileCheck, Watched),
}

impl Checked<'_> {
    pub fn is_healthy(&self) -> bool {
        match self {
            Checked::Http(_, probed) => probed.outcome.is_healthy(),
            Checked::File(_, watched) => watched.found.is_ok(),
        }
    }
}

/// A heartbeat file's last look: its age, or why it is not fresh; with
/// `--wait`, how long was waited over how many looks.
#[derive(Debug)]
pub struct Watched {
    pub found: Result<Duration, Stale>,
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
        Check::File(f) => Checked::File(f, watch(plan, f)),
    }
}

/// Looks at the file, and with `--wait` again every `--interval` until it
/// is fresh or the wait is over.
fn watch(plan: &Plan, f: &FileCheck) -> Watched {
    let look = || file::check(std::path::Path::new(&f.path), f.max_age, SystemTime::now());
    let Some(wait) = plan.wait else {
        return Watched { found: look(), attempts: 1, waited: None };
    };
    let start = Instant::now();
    let mut attempts = 0;
    loop {
        attempts += 1;
        let found = look();
        let left = wait.saturating_sub(start.elapsed());
        if found.is_ok() || left < Duration::from_millis(1) {
            return Watched { found, attempts, waited: Some(start.elapsed()) };
        }
        thread::sleep(plan.interval.min(left));
    }
}
