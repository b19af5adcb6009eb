#![no_main]
//! libFuzzer entry of `capme_fuzz_targets::compressed` (the body and what it checks are there).
libfuzzer_sys::fuzz_target!(|data: &[u8]| capme_fuzz_targets::compressed(data));
