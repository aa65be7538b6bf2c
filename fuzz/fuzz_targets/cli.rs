#![no_main]
//! See checks.rs: `cli`.

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::cli(data));
