//! goss files, as dgoss runs them: any text in `goss.yaml` must load as a `Spec` or give
//! positioned errors, never a panic; what loads must hold what validation promises of any spec,
//! and a file the reader accepts must translate into TOML archsmoke's loader accepts. goss is
//! read from a file (dgoss's layout: `goss_wait.yaml` beside it, vars), so each input is
//! written to a directory of this process's own first.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

#[path = "spec_invariants.rs"]
mod spec_invariants;

fn file() -> &'static PathBuf {
    static FILE: OnceLock<PathBuf> = OnceLock::new();
    FILE.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("archsmoke-fuzz-goss-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a directory for the goss file");
        dir.join("goss.yaml")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = file();
    std::fs::write(path, text).expect("write the goss file");
    match archsmoke::goss::load_any(path, false) {
        Ok(spec) => spec_invariants::check(&spec),
        Err(errors) => {
            assert!(!errors.is_empty(), "an error without a problem");
            for e in errors {
                let message = e.to_string();
                assert!(!message.contains("a bug in archsmoke"), "{message}\n--- input:\n{text}");
            }
        }
    }
});
