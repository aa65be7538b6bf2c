#![no_main]
//! See checks.rs: `values`.

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::values(data));
