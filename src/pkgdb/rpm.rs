//! rpm header blobs: what every rpm database format stores per installed package.
//!
//! A blob (as `headerExport` writes it, rpm's lib/header.c; go-rpmdb's `pkg/entry.go` reads it
//! the same way) is big-endian: the index length `il` and data length `dl` (4 bytes each), `il`
//! index entries of 16 bytes (tag, type, offset into the data, count), then `dl` bytes of data.
//! Only the tags a package check needs are read: NAME 1000, VERSION 1001, RELEASE 1002, EPOCH
//! 1003, ARCH 1022.

use super::Installed;

const TAG_NAME: u32 = 1000;
const TAG_VERSION: u32 = 1001;
const TAG_RELEASE: u32 = 1002;
const TAG_EPOCH: u32 = 1003;
const TAG_ARCH: u32 = 1022;

const TYPE_INT32: u32 = 4;
const TYPE_STRING: u32 = 6;
const TYPE_STRING_ARRAY: u32 = 8;
const TYPE_I18NSTRING: u32 = 9;

/// rpm's own bounds on a header (`hdrchkTags`, `hdrchkData` in lib/header.c): a blob beyond them
/// is corrupt to rpm too.
const MAX_TAGS: u32 = 0xffff;
const MAX_DATA: u32 = 0x0fff_ffff;
const ENTRY: usize = 16;

/// The fields of one header a package check reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub name: String,
    pub version: String,
    pub release: String,
    pub epoch: Option<u32>,
    pub arch: Option<String>,
}

impl Header {
    /// The version as goss's `rpm -q --qf '%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}\n'`
    /// prints it (goss, system/package_rpm.go, `setup`): `EPOCH:` only when the tag is present.
    pub fn goss_version(&self) -> String {
        match self.epoch {
            Some(e) => format!("{e}:{}-{}", self.version, self.release),
            None => format!("{}-{}", self.version, self.release),
        }
    }
}

fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// One header blob's fields; an error names what is wrong.
pub fn header(blob: &[u8]) -> Result<Header, String> {
    let (il, dl) = match (be32(blob, 0), be32(blob, 4)) {
        (Some(il), Some(dl)) => (il, dl),
        _ => return Err(format!("a header of {} bytes", blob.len())),
    };
    if il == 0 || il > MAX_TAGS || dl > MAX_DATA {
        return Err(format!("a header with {il} tags and {dl} bytes of data"));
    }
    let index_end = 8 + il as usize * ENTRY;
    let data = blob
        .get(index_end..index_end + dl as usize)
        .ok_or_else(|| {
            format!(
                "a header of {} bytes that claims {il} tags and {dl} bytes of data",
                blob.len()
            )
        })?;
    let index = &blob[8..index_end];
    let find = |tag: u32| {
        index
            .chunks_exact(ENTRY)
            .find_map(|e| (be32(e, 0) == Some(tag)).then(|| (be32(e, 4), be32(e, 8), be32(e, 12))))
    };
    let string = |tag: u32| -> Result<Option<String>, String> {
        let Some((Some(ty), Some(offset), Some(count))) = find(tag) else {
            return Ok(None);
        };
        if !matches!(ty, TYPE_STRING | TYPE_STRING_ARRAY | TYPE_I18NSTRING) || count == 0 {
            return Err(format!("tag {tag} has type {ty}, not a string"));
        }
        let rest = data
            .get(offset as usize..)
            .ok_or_else(|| format!("tag {tag} points past the header's data"))?;
        let end = rest
            .iter()
            .position(|&b| b == 0)
            .ok_or_else(|| format!("tag {tag}'s string has no end"))?;
        Ok(Some(String::from_utf8_lossy(&rest[..end]).into_owned()))
    };
    let epoch = match find(TAG_EPOCH) {
        None => None,
        Some((Some(TYPE_INT32), Some(offset), Some(count))) if count > 0 => Some(
            be32(data, offset as usize)
                .ok_or_else(|| "the EPOCH tag points past the header's data".to_owned())?,
        ),
        Some(_) => return Err("the EPOCH tag is not a number".into()),
    };
    let required = |tag: u32, what: &str| {
        string(tag)?.ok_or_else(|| format!("a header without a {what} (tag {tag})"))
    };
    Ok(Header {
        name: required(TAG_NAME, "NAME")?,
        version: required(TAG_VERSION, "VERSION")?,
        release: required(TAG_RELEASE, "RELEASE")?,
        epoch,
        arch: string(TAG_ARCH)?,
    })
}

/// The packages of a database's header blobs (already capped by the format's reader). The public keys rpm ≤ 4.x imports into the
/// database (`gpg-pubkey`, no ARCH) are packages to `rpm -q` too, and stay.
pub fn packages(blobs: Vec<Vec<u8>>) -> Result<Vec<Installed>, String> {
    blobs
        .iter()
        .enumerate()
        .map(|(i, blob)| {
            let h = header(blob).map_err(|e| format!("package {}: {e}", i + 1))?;
            Ok(Installed {
                version: h.goss_version(),
                name: h.name,
                arch: h.arch,
            })
        })
        .collect()
}

/// A header blob with the given string and int32 tags (test helper, also for the other
/// formats' tests): the layout `headerExport` writes, without the immutable region.
#[cfg(test)]
pub fn blob(strings: &[(u32, &str)], ints: &[(u32, u32)]) -> Vec<u8> {
    let (mut index, mut data) = (Vec::new(), Vec::new());
    for &(tag, value) in ints {
        for v in [tag, TYPE_INT32, data.len() as u32, 1] {
            index.extend(v.to_be_bytes());
        }
        data.extend(value.to_be_bytes());
    }
    for &(tag, value) in strings {
        for v in [tag, TYPE_STRING, data.len() as u32, 1] {
            index.extend(v.to_be_bytes());
        }
        data.extend(value.as_bytes());
        data.push(0);
    }
    let mut out = Vec::new();
    out.extend(((index.len() / ENTRY) as u32).to_be_bytes());
    out.extend((data.len() as u32).to_be_bytes());
    out.extend(index);
    out.extend(data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The header blob Debian's rpm 4.18 stored in `rpmdb.sqlite` for a package built with
    /// rpmbuild (`archsmoke-hello`, Epoch 2, Version 1.2.3, Release 4, noarch), made as
    /// tests/testbed/rpm-images.sh makes the test bed's packages.
    const REAL: &[u8] = include_bytes!("testdata/archsmoke-hello.blob");

    #[test]
    fn a_header_written_by_rpm_reads_as_rpm_q_prints_it() {
        let h = header(REAL).expect("rpm's own header");
        assert_eq!(h.name, "archsmoke-hello");
        assert_eq!(h.goss_version(), "2:1.2.3-4");
        assert_eq!(h.arch.as_deref(), Some("noarch"));
    }

    #[test]
    fn no_epoch_tag_no_epoch_prefix() {
        let b = blob(
            &[
                (TAG_NAME, "bash"),
                (TAG_VERSION, "5.1.8"),
                (TAG_RELEASE, "9.el9"),
            ],
            &[],
        );
        assert_eq!(header(&b).expect("valid").goss_version(), "5.1.8-9.el9");
        let b = blob(
            &[
                (TAG_NAME, "bash"),
                (TAG_VERSION, "5.1.8"),
                (TAG_RELEASE, "9.el9"),
            ],
            &[(TAG_EPOCH, 0)],
        );
        assert_eq!(header(&b).expect("valid").goss_version(), "0:5.1.8-9.el9");
    }

    #[test]
    fn every_truncation_and_every_corrupted_byte_of_a_real_header_is_handled() {
        for end in 0..REAL.len() {
            let _ = header(&REAL[..end]);
        }
        for at in 0..REAL.len() {
            for value in [0x00, 0x7f, 0xff] {
                let mut b = REAL.to_vec();
                b[at] = value;
                let _ = header(&b);
            }
        }
    }

    #[test]
    fn counts_beyond_rpms_own_bounds_are_refused_before_anything_is_read() {
        let mut b = REAL.to_vec();
        b[..4].copy_from_slice(&0x0001_0000u32.to_be_bytes());
        assert!(header(&b).expect_err("an error").contains("65536 tags"));
        let mut b = REAL.to_vec();
        b[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(header(&b).is_err());
    }

    #[test]
    fn a_header_without_a_name_says_so() {
        let b = blob(&[(TAG_VERSION, "1"), (TAG_RELEASE, "1")], &[]);
        assert!(header(&b).expect_err("an error").contains("NAME"));
    }
}
