//! The spec loader must turn any text into a `Spec` or a positioned `SpecError`, never a panic,
//! and its error message must render (the position arithmetic runs on hostile offsets).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        match archsmoke::spec::parse(std::path::Path::new("fuzz.toml"), text) {
            Ok(spec) => assert!(!spec.tests.is_empty(), "a valid spec has tests"),
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }
});
