#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wasmstream::fuzz::intent_log(data));
