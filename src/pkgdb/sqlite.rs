//! rpm's `rpmdb.sqlite` (rpm ≥ 4.16): the table `Packages (hnum INTEGER PRIMARY KEY, blob BLOB)`,
//! one header blob per row (go-rpmdb's `pkg/sqlite3` reads `SELECT blob FROM Packages`).
//!
//! The bytes are handed to SQLite in memory (`sqlite3_deserialize`), read only: no file is
//! written. rpm keeps the database in WAL mode, which an in-memory database cannot open, so the
//! copy's header says rollback journal instead (file format bytes 18 and 19, 2 → 1): what is
//! in the file itself is all that is read, as after rpm's last checkpoint. Hostile bytes: SQLite
//! runs in defensive mode, and a query that has not finished after [`MAX_STEPS`] virtual
//! machine steps (a view named `Packages` that recurses, say) is interrupted.

use std::io::Read;

use rusqlite::{Connection, MAIN_DB, OpenFlags};

use super::Blobs;

/// How much work the query may do, in units of 1,000 SQLite VM instructions: far beyond what
/// reading a real database's rows takes (a few instructions per row and page).
const MAX_STEPS: u64 = 1_000_000;

/// Every header blob of an `rpmdb.sqlite`.
pub fn blobs(bytes: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    if !bytes.starts_with(b"SQLite format 3\0") || bytes.len() < 100 {
        return Err("not an SQLite database".into());
    }
    // The bytes go to SQLite's own memory once, the two header bytes changed on the way.
    let journal = [bytes[18], bytes[19]].map(|b| if b == 2 { 1 } else { b });
    let copy = bytes[..18].chain(&journal[..]).chain(&bytes[20..]);
    let e = |e: rusqlite::Error| format!("SQLite: {e}");
    let mut db = Connection::open_with_flags(
        ":memory:",
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(e)?;
    db.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true)
        .map_err(e)?;
    db.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_TRUSTED_SCHEMA,
        false,
    )
    .map_err(e)?;
    db.deserialize_read_exact(MAIN_DB, copy, bytes.len(), true)
        .map_err(e)?;
    let mut steps = 0u64;
    db.progress_handler(
        1000,
        Some(move || {
            steps += 1;
            steps > MAX_STEPS
        }),
    )
    .map_err(e)?;
    let mut query = db.prepare("SELECT blob FROM Packages").map_err(e)?;
    let mut rows = query.query([]).map_err(e)?;
    let mut out = Blobs::of_file(bytes);
    while let Some(row) = rows.next().map_err(e)? {
        // A corrupt b-tree can visit its pages more than once.
        out.push(row.get(0).map_err(e)?, "the b-tree is corrupt")?;
    }
    Ok(out.blobs)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `rpmdb.sqlite` Debian's rpm 4.18 wrote (`rpm --root R --initdb`, then
    /// `rpm -i --justdb` of `archsmoke-hello`), as the test bed's rpm fixture holds it, in WAL
    /// mode as rpm leaves it.
    const REAL: &[u8] = include_bytes!("testdata/rpmdb.sqlite");

    #[test]
    fn rpms_own_database_gives_its_header_back_from_memory() {
        assert_eq!(REAL[18], 2, "rpm writes WAL mode");
        let blobs = blobs(REAL).expect("rpm's own file");
        assert_eq!(
            blobs,
            [include_bytes!("testdata/archsmoke-hello.blob").to_vec()]
        );
    }

    #[test]
    fn a_database_without_rpms_table_or_not_sqlite_at_all_is_an_error() {
        assert!(
            blobs(b"\0\0\0\x10not sqlite")
                .expect_err("an error")
                .contains("not an SQLite")
        );
        let mut cut = REAL[..4096].to_vec();
        cut.resize(8192, 0);
        assert!(blobs(&cut).is_err());
    }

    #[test]
    fn corrupted_pages_are_errors_never_panics() {
        let mut seed = 0x1234_5678u32;
        for _ in 0..300 {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let mut b = REAL.to_vec();
            for k in 0..8 {
                let at = (seed as usize).wrapping_mul(k + 1) % b.len();
                b[at] = (seed >> k) as u8;
            }
            let _ = blobs(&b);
        }
    }
}
