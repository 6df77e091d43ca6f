//! What validation promises of any spec that loads, whatever it was loaded from (a TOML spec,
//! a cst config, a goss file): shared by the `spec`, `cst` and `goss` targets.

use archsmoke::limits::{MAX_PIDS, MIN_MEMORY};
use archsmoke::spec::Spec;

/// No control characters in test names, no NUL in arguments or environment, environment
/// names that the engine can pass, container limits in range, and host or container network
/// namespaces only behind `--allow-privileged`.
pub fn check(spec: &Spec) {
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
}
