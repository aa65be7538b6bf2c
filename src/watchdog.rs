//! The exits that cannot wait for `report::finish`: a deadline that I/O
//! overran, a termination signal, a panic. Each ends the process with 1.
//!
//! Kubernetes does not kill an exec probe that timed out, so a stuck probe
//! would pile up; a timer signal ends it whatever the I/O is doing. A signal
//! rather than a thread keeps the common probe free of a thread start.

use libc::{_exit, c_int, itimerval, setitimer, signal, timeval, write};
use libc::{ITIMER_REAL, SIGABRT, SIGALRM, SIGFPE, SIGHUP, SIGILL, SIGINT, SIGPIPE, SIGTERM, SIGTRAP, SIG_IGN};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

/// Exit status for every abnormal end: Docker reserves 2, a panic gives 101.
const EXIT_UNHEALTHY: c_int = 1;

static DEADLINE_LINE: OnceLock<String> = OnceLock::new();
static QUIET: AtomicBool = AtomicBool::new(false);
static DECIDED: AtomicBool = AtomicBool::new(false);
const SIGNAL_LINE: &str = "healthprobe: stopped by a signal before an answer\n";
const CRASH_LINE: &str = "healthprobe: internal error (the process crashed)\n";

/// Installs the panic hook and the signal handlers, and ignores SIGPIPE (as
/// Rust's start-up would: main.rs starts without it), so that a closed pipe
/// is an error to handle, not a death by signal.
pub fn install() {
    // SAFETY: setting a disposition has no preconditions.
    unsafe { signal(SIGPIPE, SIG_IGN) };
    std::panic::set_hook(Box::new(|info| {
        if !QUIET.load(Ordering::Relaxed) {
            let line = crate::report::finish_line(format!("healthprobe: internal error: {info}"));
            write_stderr(&line);
        }
        // SAFETY: _exit ends the process at once; nothing is left to unwind.
        unsafe { _exit(EXIT_UNHEALTHY) }
    }));
    for sig in [SIGHUP, SIGINT, SIGTERM] {
        // SAFETY: the handler only calls async-signal-safe write and _exit.
        unsafe { signal(sig, on_signal as extern "C" fn(c_int) as libc::sighandler_t) };
    }
    // The release build panics with an immediate abort (no unwinder, no
    // backtrace printer: half the binary), which raises SIGILL or SIGABRT.
    // They exit 1 too. (A stack overflow would still die of SIGSEGV: that
    // build of std installs no overflow handler, and a handler of ours would
    // need an alternate stack. Nothing here recurses.)
    for sig in [SIGILL, SIGTRAP, SIGABRT, SIGFPE] {
        // SAFETY: as above.
        unsafe { signal(sig, on_crash as extern "C" fn(c_int) as libc::sighandler_t) };
    }
}

/// Silences the lines printed from here (`--quiet`).
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

/// Ends the process with `line` on stderr once `after` has passed. Armed once.
pub fn arm(after: Duration, line: String) {
    if DEADLINE_LINE.set(line).is_err() {
        return;
    }
    let timer = itimerval {
        it_interval: timeval { tv_sec: 0, tv_usec: 0 },
        it_value: timeval { tv_sec: after.as_secs() as _, tv_usec: after.subsec_micros() as _ },
    };
    // SAFETY: plain system calls on values that live across the calls.
    unsafe {
        signal(SIGALRM, on_alarm as extern "C" fn(c_int) as libc::sighandler_t);
        setitimer(ITIMER_REAL, &timer, std::ptr::null_mut());
    }
}

/// Once the verdict is decided, the timer and the termination signals change
/// nothing: their handlers return at once, so that a probe descheduled while
/// it writes its verdict (CPU starvation, a frozen cgroup) or sent SIGTERM at
/// that moment cannot print a second line or turn a decided exit 0 into 1.
/// A flag rather than blocking the signals and stopping the timer: two
/// system calls fewer on every probe (a probe's 30 were 28).
pub fn disarm() {
    DECIDED.store(true, Ordering::SeqCst);
}

fn write_stderr(text: &str) {
    // SAFETY: write(2) on a valid buffer; a failure (closed stderr) is ignored.
    unsafe { write(2, text.as_ptr().cast(), text.len()) };
}

extern "C" fn on_alarm(_: c_int) {
    if DECIDED.load(Ordering::SeqCst) {
        return;
    }
    if !QUIET.load(Ordering::Relaxed) {
        if let Some(line) = DEADLINE_LINE.get() {
            write_stderr(line);
        }
    }
    // SAFETY: async-signal-safe.
    unsafe { _exit(EXIT_UNHEALTHY) }
}

extern "C" fn on_signal(_: c_int) {
    if DECIDED.load(Ordering::SeqCst) {
        return;
    }
    if !QUIET.load(Ordering::Relaxed) {
        write_stderr(SIGNAL_LINE);
    }
    // SAFETY: async-signal-safe.
    unsafe { _exit(EXIT_UNHEALTHY) }
}

extern "C" fn on_crash(_: c_int) {
    if !QUIET.load(Ordering::Relaxed) {
        write_stderr(CRASH_LINE);
    }
    // SAFETY: async-signal-safe.
    unsafe { _exit(EXIT_UNHEALTHY) }
}
