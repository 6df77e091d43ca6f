//! rpm's `Packages.db` in its "ndb" format (SUSE's default; rpm's lib/backend/ndb/rpmpkg.c is
//! the format, go-rpmdb's `pkg/ndb` by knqyf263 the reader followed here). Little-endian
//! throughout:
//!
//! - a 32-byte header: magic `RpmP`, version 0, generation, the number of slot pages;
//! - slot pages of 4096 bytes (the header takes the first page's first two slots), each slot 16
//!   bytes: magic `Slot`, package index (0: free), block offset, block count;
//! - at `block offset × 16` a blob header: magic `BlbS`, package index, checksum, blob length,
//!   then the blob (an rpm header).

use super::Blobs;

const HEADER_MAGIC: u32 = u32::from_le_bytes(*b"RpmP");
const SLOT_MAGIC: u32 = u32::from_le_bytes(*b"Slot");
const BLOB_MAGIC: u32 = u32::from_le_bytes(*b"BlbS");
const SLOT: usize = 16;
const SLOT_PAGE: usize = 4096;
const BLOCK: usize = 16;
/// go-rpmdb's bound on slot pages (8 MiB of slots, half a million packages).
const MAX_SLOT_PAGES: u32 = 2048;

fn le32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Every header blob of an ndb `Packages.db`.
pub fn blobs(bytes: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let bad = |what: String| format!("not an rpm ndb database: {what}");
    if le32(bytes, 0) != Some(HEADER_MAGIC) || le32(bytes, 4) != Some(0) {
        return Err(bad("no `RpmP` header of version 0".into()));
    }
    let pages = le32(bytes, 12).unwrap_or(0);
    if pages == 0 || pages > MAX_SLOT_PAGES {
        return Err(bad(format!("{pages} slot pages")));
    }
    let slots = bytes
        .get(2 * SLOT..pages as usize * SLOT_PAGE)
        .ok_or_else(|| bad(format!("{pages} slot pages in {} bytes", bytes.len())))?;
    let mut out = Blobs::of_file(bytes);
    for (i, slot) in slots.chunks_exact(SLOT).enumerate() {
        let field = |at: usize| le32(slot, at).unwrap_or(0);
        if field(0) != SLOT_MAGIC {
            return Err(bad(format!("slot {i} has no `Slot` magic")));
        }
        let package = field(4);
        if package == 0 {
            continue;
        }
        let at = field(8) as usize * BLOCK;
        let blob_header = bytes
            .get(at..at + BLOCK)
            .ok_or_else(|| format!("package {package}'s blob lies past the end of the file"))?;
        if le32(blob_header, 0) != Some(BLOB_MAGIC) || le32(blob_header, 4) != Some(package) {
            return Err(format!(
                "package {package}'s blob has no `BlbS` header naming it"
            ));
        }
        let len = le32(blob_header, 12).unwrap_or(0) as usize;
        let blob = bytes
            .get(at + BLOCK..at + BLOCK + len)
            .ok_or_else(|| format!("package {package}'s blob of {len} bytes is cut off"))?;
        out.push(blob.to_vec(), "slots share them")?;
    }
    Ok(out.blobs)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ndb file laid out as rpmpkg.c writes one: one slot page, `blobs` in the slots after
    /// the header's, each blob in blocks after the slot pages. Debian's rpm is built without
    /// ndb, so no ndb file here comes from rpm itself (see the test bed's README).
    fn ndb(blobs: &[&[u8]]) -> Vec<u8> {
        let mut file = vec![0u8; SLOT_PAGE];
        file[..4].copy_from_slice(b"RpmP");
        file[12..16].copy_from_slice(&1u32.to_le_bytes());
        for slot in (2 * SLOT..SLOT_PAGE).step_by(SLOT) {
            file[slot..slot + 4].copy_from_slice(b"Slot");
        }
        for (i, blob) in blobs.iter().enumerate() {
            let (package, block) = (i as u32 + 1, (file.len() / BLOCK) as u32);
            let slot = (2 + i) * SLOT;
            file[slot + 4..slot + 8].copy_from_slice(&package.to_le_bytes());
            file[slot + 8..slot + 12].copy_from_slice(&block.to_le_bytes());
            let blocks = (BLOCK + blob.len() + 16).div_ceil(BLOCK) as u32;
            file[slot + 12..slot + 16].copy_from_slice(&blocks.to_le_bytes());
            file.extend(b"BlbS");
            file.extend(package.to_le_bytes());
            file.extend(0u32.to_le_bytes());
            file.extend((blob.len() as u32).to_le_bytes());
            file.extend(*blob);
            file.resize(file.len().div_ceil(BLOCK) * BLOCK + BLOCK, 0);
        }
        file
    }

    const REAL_BLOB: &[u8] = include_bytes!("testdata/archsmoke-hello.blob");

    #[test]
    fn slots_lead_to_their_blobs() {
        let other = crate::pkgdb::rpm::blob(&[(1000, "x"), (1001, "1"), (1002, "1")], &[]);
        let file = ndb(&[REAL_BLOB, &other]);
        assert_eq!(blobs(&file).expect("valid"), [REAL_BLOB.to_vec(), other]);
    }

    #[test]
    fn corruption_and_truncation_are_errors_never_panics() {
        let file = ndb(&[REAL_BLOB]);
        for end in (0..file.len() - 2 * BLOCK).step_by(61) {
            assert!(blobs(&file[..end]).is_err(), "cut at {end}");
        }
        let mut seed = 0x2545_f491u32;
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let mut b = file.clone();
            let at = seed as usize % b.len();
            b[at] = (seed >> 8) as u8;
            let _ = blobs(&b);
        }
        let mut shared = ndb(&[REAL_BLOB, REAL_BLOB]);
        for slot in (4 * SLOT..SLOT_PAGE).step_by(SLOT) {
            shared.copy_within(2 * SLOT..3 * SLOT, slot);
        }
        assert!(blobs(&shared).expect_err("shared").contains("share"));
        let mut huge = file.clone();
        huge[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(blobs(&huge).expect_err("an error").contains("slot pages"));
    }
}
