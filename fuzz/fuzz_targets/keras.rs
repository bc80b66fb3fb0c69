#![no_main]
// Arbitrary bytes into one patchlens parser; see src/fuzzing.rs.
libfuzzer_sys::fuzz_target!(|data: &[u8]| patchlens::fuzzing::keras(data));
