//! healthprobe: parse → probe → report → exit. See docs/architecture.md for the map.

// Rust's own start-up reopens a closed stdin, stdout or stderr on /dev/null
// and aborts (exit 134) when it cannot, as in an empty root. A probe exits 0
// or 1 whatever its descriptors, so it starts at the C entry point below.
#![no_main]

use healthprobe::{cli, config, report, run, watchdog};

use std::ffi::{c_char, c_int, CStr, OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::time::Duration;

/// A bump arena: most of a probe's allocations cost a few instructions (see arena.rs).
#[global_allocator]
static ALLOCATOR: healthprobe::arena::Arena = healthprobe::arena::Arena::new();

/// How far past its deadline the watchdog lets a probe run before ending it.
/// ureq's own deadline normally answers first, with a more precise reason.
const WATCHDOG_MARGIN: Duration = Duration::from_millis(100);

#[no_mangle]
extern "C" fn main(argc: c_int, argv: *const *const c_char) -> c_int {
    open_standard_descriptors();
    watchdog::install();
    // SAFETY: the C runtime passes argc valid, NUL-terminated strings.
    let args: Vec<OsString> = (1..argc.max(1) as usize)
        .map(|i| OsStr::from_bytes(unsafe { CStr::from_ptr(*argv.add(i)) }.to_bytes()).to_os_string())
        .collect();
    // Hidden: lets the integration tests prove that a panic still exits 1.
    if args.len() == 1 && args[0] == "--panic-for-tests" {
        panic!("--panic-for-tests");
    }
    let verdict = match cli::parse(args, |name| std::env::var(name).ok()) {
        Ok(cli::Command::Help) => report::help(),
        Ok(cli::Command::Version) => report::version(),
        Ok(cli::Command::Probe(plan)) => {
            forget_environment();
            watchdog::set_quiet(plan.verbosity == config::Verbosity::Quiet);
            let limit = plan.limit();
            watchdog::arm(limit + WATCHDOG_MARGIN, report::plan_deadline_line(&plan, limit));
            report::plan_verdict(&plan, &run::all(&plan))
        }
        Err(error) => report::usage(&error),
    };
    // Decided: neither the timer nor a signal may add a line or change the status.
    watchdog::disarm();
    report::finish(verdict)
}

/// Makes sure descriptors 0, 1 and 2 are open before any socket is, so that
/// a line for stderr can never go into a connection. A supervisor may start
/// the probe with them closed, and an empty root has no /dev/null. One poll(2)
/// finds the closed ones without touching the file system; each is filled
/// with `/` opened O_PATH, which always exists, needs no permission, and
/// refuses reads and writes. (open(2) returns the lowest free descriptor:
/// the closed one.)
fn open_standard_descriptors() {
    let mut fds = [0, 1, 2].map(|fd| libc::pollfd { fd, events: 0, revents: 0 });
    // SAFETY: poll(2) on three valid entries, without waiting.
    if unsafe { libc::poll(fds.as_mut_ptr(), 3, 0) } <= 0 {
        return;
    }
    for _closed in fds.iter().filter(|p| p.revents & libc::POLLNVAL != 0) {
        // SAFETY: a valid NUL-terminated path; the descriptor is kept open.
        unsafe { libc::open(c"/".as_ptr(), libc::O_PATH) };
    }
}

// The one C declaration of our own: libc 0.2 declares `environ` for glibc
// targets but not for musl, which every release build links.
extern "C" {
    static mut environ: *const *const c_char;
}

/// Empties the process environment once `cli` has read it. ureq's
/// `Config::default()` looks up eight proxy variables on every agent, even
/// though the probe turns proxies off; each lookup scans the whole
/// environment, ~300 instructions a variable, and a Kubernetes pod's service
/// links make that hundreds. The probe starts no other process.
fn forget_environment() {
    static EMPTY: [usize; 1] = [0];
    // SAFETY: no other thread exists yet to read the environment, and the
    // replacement is a valid, NULL-terminated, never-freed list.
    unsafe { environ = EMPTY.as_ptr().cast() };
}
