//! Fuzzes key and path handling: arbitrary keys through puts, deletes, reads and listings of a
//! versioned bucket, checked against a model. See storage/tests/fuzz_harness.
#![no_main]

#[path = "../../tests/fuzz_harness/mod.rs"]
mod fuzz_harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_harness::run(data));
