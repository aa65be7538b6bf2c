//! healthprobe: parse → probe → report → exit. See README.md for the map.

// Rust's own start-up reopens a closed stdin, stdout or stderr on /dev/null
// and aborts (exit 134) when it cannot, as in an empty root. A probe exits 0
// or 1 whatever its descriptors, so it starts at the C entry point below.
#![no_main]

use healthprobe::{cli, probe, report, watchdog};

use std::ffi::{c_char, c_int, CStr, OsStr};
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
    watchdog::install();
    // SAFETY: the C runtime passes argc valid, NUL-terminated strings.
    let args = (1..argc.max(1) as usize)
        .map(|i| OsStr::from_bytes(unsafe { CStr::from_ptr(*argv.add(i)) }.to_bytes()).to_os_string())
        .collect();
    let verdict = match cli::parse(args, |name| std::env::var(name).ok()) {
        Ok(cli::Command::Help) => report::help(),
        Ok(cli::Command::Version) => report::version(),
        Ok(cli::Command::Probe(config)) => {
            watchdog::set_quiet(config.verbosity == cli::Verbosity::Quiet);
            let limit = config.wait.unwrap_or(config.timeout);
            watchdog::arm(limit + WATCHDOG_MARGIN, report::deadline_line(&config, limit));
            report::verdict(&config, &probe::run(&config))
        }
        Err(error) => report::usage(&error),
    };
    report::finish(verdict)
}
