//! Package databases come from image layers, which may be hostile: any bytes, read as any of
//! the formats `[[package]]` reads (the first byte picks it), must give packages or an error,
//! never a panic, and never more packages than the bound.
#![no_main]

use archsmoke::pkgdb::{self, Format, MAX_PACKAGES, Manager};
use libfuzzer_sys::fuzz_target;

const FORMATS: [Format; 5] = [
    Format::DpkgStatus,
    Format::ApkInstalled,
    Format::RpmSqlite,
    Format::RpmNdb,
    Format::RpmBerkeleyDb,
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, bytes)) = data.split_first() else {
        return;
    };
    let format = FORMATS[pick as usize % FORMATS.len()];
    if let Ok(packages) = pkgdb::read(format, bytes) {
        assert!(packages.len() <= MAX_PACKAGES);
        if let Some(first) = packages.first() {
            for manager in [Manager::Dpkg, Manager::Apk, Manager::Rpm] {
                let _ = pkgdb::versions(&packages, manager, &first.name);
            }
        }
    }
    let _ = pkgdb::rpm::header(bytes);
});
