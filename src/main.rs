//! healthprobe: parse → probe → report → exit. See README.md for the map.

use healthprobe::{cli, probe, report, watchdog};

use std::time::Duration;

/// A bump arena: most of a probe's allocations cost a few instructions (see arena.rs).
#[global_allocator]
static ALLOCATOR: healthprobe::arena::Arena = healthprobe::arena::Arena::new();

/// How far past its deadline the watchdog lets a probe run before ending it.
/// ureq's own deadline normally answers first, with a more precise reason.
const WATCHDOG_MARGIN: Duration = Duration::from_millis(60);

fn main() {
    watchdog::install();
    let args = std::env::args_os().skip(1).collect();
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
