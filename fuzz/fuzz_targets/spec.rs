//! The spec loader must turn any text into a `Spec` or a positioned `SpecError`, never a panic,
//! and its error message must render (the position arithmetic runs on hostile offsets). A spec
//! that loads must hold what validation promises: no control characters in test names, no NUL
//! in arguments or environment, environment names that the engine can pass, container limits in
//! range, and host or container network namespaces only behind `--allow-privileged`.
#![no_main]

use archsmoke::limits::{MAX_PIDS, MIN_MEMORY};
use libfuzzer_sys::fuzz_target;

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
    let network = spec.settings.network.as_str();
    if network == "host" || network.starts_with("container:") {
        assert!(spec.check_privileged(false).is_err(), "{network} passed the gate");
    }
    for limits in std::iter::once(spec.settings.limits).chain(spec.tests.iter().map(|t| t.limits)) {
        assert!((1..=MAX_PIDS).contains(&limits.pids), "{limits:?}");
        assert!(limits.memory >= MIN_MEMORY, "{limits:?}");
    }
    for t in &spec.tests {
        assert!(!t.name.chars().any(char::is_control), "{:?}", t.name);
        for arg in t.command.iter().chain(t.entrypoint.iter()).flatten() {
            assert!(!arg.contains('\0'), "{arg:?}");
        }
        for (name, value) in t.env.iter().chain(&t.secret_env) {
            assert!(!name.is_empty() && !name.contains('=') && !name.contains('\0'));
            assert!(!value.contains('\0'));
        }
    }
});
