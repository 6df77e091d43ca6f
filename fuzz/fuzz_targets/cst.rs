//! container-structure-test configs are often someone else's file: any text must load as a
//! `Spec` or give positioned errors, never a panic. A config the reader accepts must translate
//! into TOML that archsmoke's own loader accepts (an error saying "a bug in archsmoke's cst
//! support" is a finding), every error must render, and the loaded spec must hold what
//! validation promises of any spec. The first byte picks the file name (`.yaml` or `.json`:
//! JSON configs skip unknown keys, as cst's encoding/json does).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

#[path = "spec_invariants.rs"]
mod spec_invariants;

fuzz_target!(|data: &[u8]| {
    let Some((&kind, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let path = Path::new(if kind & 1 == 0 { "fuzz.yaml" } else { "fuzz.json" });
    match archsmoke::cst::load(path, text) {
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
