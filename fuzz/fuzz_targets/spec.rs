//! The spec loader must turn any text into a `Spec` or a positioned `SpecError`, never a panic,
//! and its error message must render (the position arithmetic runs on hostile offsets). A spec
//! that loads must hold what validation promises: no control characters in test names, no NUL
//! in arguments or environment, environment names that the engine can pass, container limits in
//! range, and host or container network namespaces only behind `--allow-privileged`.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "spec_invariants.rs"]
mod spec_invariants;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let spec = match archsmoke::spec::parse(std::path::Path::new("fuzz.toml"), text) {
        Ok(spec) => spec,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    assert!(!spec.tests.is_empty() || !spec.files.is_empty() || spec.metadata.is_some());
    spec_invariants::check(&spec);
});
