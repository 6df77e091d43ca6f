//! rpm's `Packages` file as rpm ≤ 4.16 writes it: a Berkeley DB hash database (libdb's
//! `dbinc/db_page.h` is the format; go-rpmdb's `pkg/bdb` by knqyf263 is the reader followed
//! here), keyed by header number, each value a header blob.
//!
//! Page 0 is the hash metadata page; every page is `pagesize` bytes. Hash pages (type 13, or 2
//! before libdb 4.6) hold an index of 2-byte item offsets after a 26-byte header, keys and values
//! alternating. A value is either stored on the page (`H_KEYDATA`, type 1, its length up to the
//! previous item) or, when large as a header blob usually is, on a chain of overflow pages
//! (`H_OFFPAGE`, type 3: first page number, total length), each overflow page (type 7) holding
//! `hf_offset` bytes after its header and naming the next. go-rpmdb reads only overflow values;
//! archsmoke also reads on-page ones, which a small header can be, and skips key 0, where rpm
//! keeps its next header number rather than a header.

use super::Blobs;

const MAGIC: u32 = 0x0006_1561;
const PAGE_HEADER: usize = 26;
const META_PAGE: u8 = 8;
const HASH_PAGE: u8 = 13;
const HASH_UNSORTED_PAGE: u8 = 2;
const OVERFLOW_PAGE: u8 = 7;
const H_KEYDATA: u8 = 1;
const H_OFFPAGE: u8 = 3;

struct Db<'a> {
    bytes: &'a [u8],
    page_size: usize,
    big_endian: bool,
}

impl Db<'_> {
    fn u16_at(&self, b: &[u8], at: usize) -> Option<u16> {
        let b = b.get(at..at + 2)?;
        let raw = [b[0], b[1]];
        Some(if self.big_endian {
            u16::from_be_bytes(raw)
        } else {
            u16::from_le_bytes(raw)
        })
    }

    fn u32_at(&self, b: &[u8], at: usize) -> Option<u32> {
        let b = b.get(at..at + 4)?;
        let raw = [b[0], b[1], b[2], b[3]];
        Some(if self.big_endian {
            u32::from_be_bytes(raw)
        } else {
            u32::from_le_bytes(raw)
        })
    }

    fn page(&self, number: u32) -> Result<&[u8], String> {
        let start = number as usize * self.page_size;
        self.bytes
            .get(start..start + self.page_size)
            .ok_or_else(|| format!("page {number} lies past the end of the file"))
    }

    /// An overflow value: the chain from `first`, `total` bytes in all.
    fn overflow(&self, first: u32, total: u32) -> Result<Vec<u8>, String> {
        // A chain cannot hold more than the file does; a longer claim is corrupt.
        if total as usize > self.bytes.len() {
            return Err(format!("a value of {total} bytes in a smaller file"));
        }
        let mut out = Vec::with_capacity(total as usize);
        let (mut number, mut pages) = (first, 0usize);
        while number != 0 && out.len() < total as usize {
            pages += 1;
            if pages > self.bytes.len() / self.page_size {
                return Err("an overflow chain that loops".into());
            }
            let page = self.page(number)?;
            if page[25] != OVERFLOW_PAGE {
                return Err(format!("page {number} is not an overflow page"));
            }
            let used = self.u16_at(page, 22).unwrap_or(0) as usize;
            let data = page
                .get(PAGE_HEADER..PAGE_HEADER + used)
                .ok_or_else(|| format!("overflow page {number} claims {used} bytes"))?;
            out.extend_from_slice(data);
            number = self.u32_at(page, 16).unwrap_or(0);
        }
        if out.len() != total as usize {
            return Err(format!(
                "an overflow value of {} bytes where {total} were announced",
                out.len()
            ));
        }
        Ok(out)
    }
}

/// Every header blob of a Berkeley DB `Packages` file.
pub fn blobs(bytes: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let bad = |what: &str| format!("not a Berkeley DB hash database: {what}");
    let meta = bytes.get(..512).ok_or_else(|| bad("shorter than a page"))?;
    let le = u32::from_le_bytes([meta[12], meta[13], meta[14], meta[15]]);
    let big_endian = match le {
        MAGIC => false,
        _ if le.swap_bytes() == MAGIC => true,
        _ => return Err(bad("no hash magic number")),
    };
    let mut db = Db {
        bytes,
        page_size: 0,
        big_endian,
    };
    let page_size = db.u32_at(meta, 20).unwrap_or(0);
    if !(512..=65536).contains(&page_size) || !page_size.is_power_of_two() {
        return Err(bad(&format!("a page size of {page_size}")));
    }
    db.page_size = page_size as usize;
    if meta[24] != 0 {
        return Err("an encrypted Berkeley DB database".into());
    }
    if meta[25] != META_PAGE {
        return Err(bad("page 0 is not a hash metadata page"));
    }
    let last = db.u32_at(meta, 32).unwrap_or(0);
    let mut out = Blobs::of_file(bytes);
    for number in 1..=last {
        let page = db.page(number)?;
        if page[25] != HASH_PAGE && page[25] != HASH_UNSORTED_PAGE {
            continue;
        }
        let entries = db.u16_at(page, 20).unwrap_or(0) as usize;
        if entries % 2 != 0 {
            return Err(format!("hash page {number} holds an odd number of items"));
        }
        let offset = |i: usize| {
            db.u16_at(page, PAGE_HEADER + 2 * i)
                .map(usize::from)
                .filter(|&o| o >= PAGE_HEADER && o < page.len())
                .ok_or_else(|| format!("hash page {number}: item {i} lies outside the page"))
        };
        for pair in 0..entries / 2 {
            let (k, v) = (2 * pair, 2 * pair + 1);
            let (key_at, value_at) = (offset(k)?, offset(v)?);
            let value = match page[value_at] {
                H_OFFPAGE => {
                    let first = db.u32_at(page, value_at + 4);
                    let length = db.u32_at(page, value_at + 8);
                    let (Some(first), Some(length)) = (first, length) else {
                        return Err(format!("hash page {number}: item {v} is cut off"));
                    };
                    db.overflow(first, length)
                        .map_err(|e| format!("hash page {number}: {e}"))?
                }
                H_KEYDATA => {
                    // An item ends where the one before it (stored above it) begins.
                    let end = if v == 0 { page.len() } else { offset(v - 1)? };
                    let key_end = if k == 0 { page.len() } else { offset(k - 1)? };
                    let key = page.get(key_at + 1..key_end).unwrap_or_default();
                    if key.iter().all(|&b| b == 0) {
                        continue;
                    }
                    page.get(value_at + 1..end)
                        .ok_or_else(|| format!("hash page {number}: item {v} overlaps another"))?
                        .to_vec()
                }
                _ => continue,
            };
            out.push(value, "pages are shared")?;
        }
    }
    Ok(out.blobs)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `Packages` file written by Berkeley DB 5.3's own library (`db5.3_load -t hash`, the
    /// way tests/testbed/rpm-images.sh makes the test bed's fixture): the header blob rpm 4.18
    /// stored for `archsmoke-hello`, keyed by header number 1 as rpm keys it, and rpm's key 0.
    const REAL: &[u8] = include_bytes!("testdata/Packages");

    #[test]
    fn a_file_written_by_berkeley_db_gives_rpms_header_back() {
        let blobs = blobs(REAL).expect("libdb's own file");
        assert_eq!(
            blobs,
            [include_bytes!("testdata/archsmoke-hello.blob").to_vec()]
        );
    }

    #[test]
    fn corruption_and_truncation_are_errors_never_panics() {
        for end in (0..REAL.len()).step_by(97) {
            assert!(blobs(&REAL[..end]).is_err() || end >= REAL.len());
        }
        let mut seed = 0x9e37_79b9u32;
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let mut b = REAL.to_vec();
            let at = seed as usize % b.len();
            b[at] = (seed >> 8) as u8;
            let _ = blobs(&b);
        }
        // Page 2 holds rpm's header 1: a key on the page and its value on overflow page 3. A
        // forged page whose index points at that pair again and again would copy the chain
        // once per pair.
        let mut forged = REAL.to_vec();
        let page = 2 * 4096;
        let (key, value) = (
            [forged[page + 26], forged[page + 27]],
            [forged[page + 28], forged[page + 29]],
        );
        forged[page + 20..page + 22].copy_from_slice(&24u16.to_le_bytes());
        for pair in 1..12 {
            let at = page + 26 + 4 * pair;
            forged[at..at + 2].copy_from_slice(&key);
            forged[at + 2..at + 4].copy_from_slice(&value);
        }
        assert!(
            blobs(&forged)
                .expect_err("shared")
                .contains("pages are shared")
        );
        assert!(
            blobs(b"SQLite format 3\0")
                .expect_err("an error")
                .contains("not a Berkeley DB")
        );
    }
}
