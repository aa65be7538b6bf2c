#![no_main]
//! See checks.rs: `failure_line`.

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::failure_line(data));
