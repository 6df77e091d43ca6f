//! Manifests, indexes and configs come from registries, which may be hostile: any bytes must
//! give a parsed document or a `ManifestError`, never a panic.
#![no_main]

use archsmoke::image::manifest::{Manifest, parse_config, parse_manifest, verify_digest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(Manifest::Index { index, .. }) = parse_manifest(data) {
        for entry in index.manifests() {
            // Digests in a hostile index are arbitrary strings.
            let _ = verify_digest(data, entry.digest().as_ref());
        }
    }
    let _ = parse_config(data);
});
