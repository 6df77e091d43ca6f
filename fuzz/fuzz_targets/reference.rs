//! Image references are user input: archsmoke's parser must agree with oci-spec's (the
//! authority on meaning) on every string, apart from the differences the parser documents.
#![no_main]

use archsmoke::image::reference::compare_with_oci_spec;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Err(disagreement) = compare_with_oci_spec(text) {
        panic!("{disagreement}");
    }
});
