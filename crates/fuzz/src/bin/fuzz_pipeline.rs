//! libFuzzer target: see `appmesh2istio_fuzz::check_structured_bytes` for the property (built and run by
//! scripts/fuzz.sh).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(broken) = appmesh2istio_fuzz::check_structured_bytes(data) {
        panic!("{broken}");
    }
});
