//! Reading one layer blob as a stream ([`scan`]): what is kept of it is every entry's metadata,
//! the ELF identity and interpreter of executables, and the bytes of only those files a check
//! reads. Nothing is extracted to disk, and memory does not grow with the layer's size.
//!
//! This is the layer reader, and it reads any `Read`: where blobs come from is the audit's
//! business ([`super::source`]), so this module and [`super::fs`] (the merged filesystem) are
//! plain data that the checks in [`crate::check::image`] read without knowing of registries.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read};

use object::elf;
use object::read::elf::{FileHeader, ProgramHeader};

use crate::arch::Endian;
use crate::check::fs::{ElfIdent, Entry, EntryKind, Layer};
use crate::spec::normalize_path;

/// How much of an ELF file is read for its program headers and interpreter path; linkers put
/// both in the first page, so this is generous.
const ELF_PREFIX: usize = 64 << 10;

/// What to keep while scanning.
#[derive(Debug, Clone, Default)]
pub struct ScanOptions {
    /// Paths whose bytes a check reads.
    pub keep_content: HashSet<String>,
    /// Larger files named in `keep_content` are refused rather than held in memory.
    pub max_content: u64,
    pub elf: bool,
    /// Also keep every `/usr/share/doc/<package>/copyright` (Debian licence checks).
    pub keep_debian_copyright: bool,
    /// Also keep the package databases that say which package owns a file (dpkg's
    /// `/var/lib/dpkg/info/*.list`, apk's `/lib/apk/db/installed`): the ELF audit groups by them.
    pub keep_file_owners: bool,
    /// Also keep the package databases `[[package]]` reads ([`crate::pkgdb::LOCATIONS`]), up to
    /// [`crate::pkgdb::MAX_DATABASE`] bytes each; a larger one is left for the check to report.
    pub keep_package_databases: bool,
}

/// Whether `path` is where a package database `[[package]]` reads is stored.
pub fn is_package_database(path: &str) -> bool {
    crate::pkgdb::LOCATIONS.iter().any(|(p, _)| *p == path)
}

/// Whether `path` is part of a package database the ELF audit reads.
pub fn is_file_owner_list(path: &str) -> bool {
    path == "/lib/apk/db/installed"
        || path
            .strip_prefix("/var/lib/dpkg/info/")
            .is_some_and(|n| n.ends_with(".list") && !n.contains('/'))
}

/// Whether `path` is a Debian package's copyright file.
pub fn is_debian_copyright(path: &str) -> bool {
    path.strip_prefix("/usr/share/doc/")
        .and_then(|rest| rest.strip_suffix("/copyright"))
        .is_some_and(|package| !package.is_empty() && !package.contains('/'))
}

/// Entries of one layer held for the audit. Every entry's metadata stays in memory until the
/// layers are merged (about 700 bytes each, measured: 1.5 M entries took 1.1 GB), so a layer of
/// millions of empty files, a few MB compressed, could exhaust the machine. Real layers hold far
/// fewer: a Debian base ~9,000, a large `node_modules` layer ~150,000.
pub const MAX_LAYER_ENTRIES: usize = 500_000;
/// Bytes of entry paths held for one layer; long names make an entry costlier than its count.
pub const MAX_LAYER_PATH_BYTES: usize = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error(
        "the layer holds more than {limit} entries ({what}), more than the audit keeps in memory; \
         set `[audit] elf = \"off\"` and drop `[[file]]` checks to test this image without \
         reading its layers"
    )]
    TooManyEntries { limit: usize, what: &'static str },
    #[error("cannot read the layer: {0}")]
    Io(#[from] std::io::Error),
    #[error("{path} is {size} bytes, more than the {limit} bytes a content check may read")]
    TooLarge { path: String, size: u64, limit: u64 },
}

/// Read a whole layer blob, decompressing gzip or zstd when the stream starts with its magic
/// (concatenated members and frames included, as `pigz` and zstd:chunked write them).
pub fn scan(reader: impl Read, opts: &ScanOptions) -> Result<Layer, ScanError> {
    let mut buffered = BufReader::with_capacity(64 << 10, reader);
    let head = buffered.fill_buf()?;
    if head.starts_with(&[0x1f, 0x8b]) {
        scan_tar(flate2::read::MultiGzDecoder::new(buffered), opts)
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        scan_tar(zstd::stream::read::Decoder::with_buffer(buffered)?, opts)
    } else {
        scan_tar(buffered, opts)
    }
}

fn scan_tar(reader: impl Read, opts: &ScanOptions) -> Result<Layer, ScanError> {
    let mut archive = tar::Archive::new(reader);
    let layer = scan_entries(&mut archive, opts)?;
    // To the end of the blob: its digest is checked by the read that reaches it, and tar stops
    // at the end-of-archive blocks, before the padding.
    std::io::copy(&mut archive.into_inner(), &mut std::io::sink())?;
    Ok(layer)
}

fn scan_entries(
    archive: &mut tar::Archive<impl Read>,
    opts: &ScanOptions,
) -> Result<Layer, ScanError> {
    let mut layer = Layer::default();
    let mut path_bytes = 0usize;
    for entry in archive.entries()? {
        if layer.entries.len() >= MAX_LAYER_ENTRIES {
            return Err(ScanError::TooManyEntries {
                limit: MAX_LAYER_ENTRIES,
                what: "files, directories and links",
            });
        }
        let mut entry = entry?;
        let raw_path = entry.path()?.to_string_lossy().into_owned();
        let Some(path) = normalize_path(&format!("/{raw_path}")) else {
            continue;
        };
        let header = entry.header();
        let (mode, uid, gid, size) = (
            header.mode().unwrap_or(0) & 0o7777,
            header.uid().unwrap_or(0),
            header.gid().unwrap_or(0),
            header.size().unwrap_or(0),
        );
        let (parent, name) = path.rsplit_once('/').unwrap_or(("", &path));
        let parent = if parent.is_empty() { "/" } else { parent };
        let link = || {
            entry
                .link_name()
                .ok()
                .flatten()
                .map(|l| l.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        let kind = if name == ".wh..wh..opq" {
            EntryKind::Opaque
        } else if name.starts_with(".wh.") {
            EntryKind::Whiteout
        } else {
            match header.entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => EntryKind::File,
                tar::EntryType::Directory => EntryKind::Directory,
                tar::EntryType::Symlink => EntryKind::Symlink(link()),
                tar::EntryType::Link => {
                    EntryKind::Hardlink(normalize_path(&format!("/{}", link())).unwrap_or_default())
                }
                _ => EntryKind::Other,
            }
        };
        let path = match kind {
            EntryKind::Opaque => parent.to_owned(),
            EntryKind::Whiteout => {
                let removed = &name[".wh.".len()..];
                normalize_path(&format!("{parent}/{removed}")).unwrap_or_default()
            }
            _ => path,
        };
        let (mut elf, mut content) = (None, None);
        if kind == EntryKind::File {
            let database = opts.keep_package_databases
                && is_package_database(&path)
                && size <= crate::pkgdb::MAX_DATABASE;
            if opts.keep_content.contains(&path)
                || (opts.keep_debian_copyright && is_debian_copyright(&path))
                || (opts.keep_file_owners && is_file_owner_list(&path) && size <= opts.max_content)
                || database
            {
                let limit = if database {
                    crate::pkgdb::MAX_DATABASE.max(opts.max_content)
                } else {
                    opts.max_content
                };
                if size > limit {
                    return Err(ScanError::TooLarge { path, size, limit });
                }
                // The header's size is the layer's word: capacity is capped, the read is bounded.
                let mut bytes = Vec::with_capacity(size.min(opts.max_content) as usize);
                (&mut entry).take(limit).read_to_end(&mut bytes)?;
                if opts.elf {
                    elf = elf_ident(&bytes);
                }
                content = Some(bytes);
            } else if opts.elf && size >= 20 {
                let mut prefix = Vec::with_capacity((size as usize).min(ELF_PREFIX));
                (&mut entry).take(4).read_to_end(&mut prefix)?;
                if prefix == b"\x7fELF" {
                    (&mut entry)
                        .take(ELF_PREFIX as u64 - 4)
                        .read_to_end(&mut prefix)?;
                    elf = elf_ident(&prefix);
                }
            }
        }
        path_bytes += path.len();
        if path_bytes > MAX_LAYER_PATH_BYTES {
            return Err(ScanError::TooManyEntries {
                limit: layer.entries.len(),
                what: "their paths pass 64 MiB",
            });
        }
        layer.entries.push(Entry {
            path,
            kind,
            mode,
            uid,
            gid,
            size,
            elf,
            content,
        });
    }
    Ok(layer)
}

/// The identity of an ELF file from its first bytes; `None` when it is not ELF. The interpreter
/// is read when the program headers lie within `data`.
pub fn elf_ident(data: &[u8]) -> Option<ElfIdent> {
    if data.len() < 20 || !data.starts_with(b"\x7fELF") {
        return None;
    }
    let endian = match data[5] {
        1 => Endian::Little,
        2 => Endian::Big,
        _ => return None,
    };
    let u16_at = |at: usize| {
        let raw = [data[at], data[at + 1]];
        match endian {
            Endian::Little => u16::from_le_bytes(raw),
            Endian::Big => u16::from_be_bytes(raw),
        }
    };
    let (e_type, e_machine) = (u16_at(16), u16_at(18));
    // e_entry follows e_version (offset 24): 4 bytes in ELF32, 8 in ELF64.
    let entry = match (data[4], data.get(24..32)) {
        (1, Some(b)) => {
            let raw = [b[0], b[1], b[2], b[3]];
            u64::from(match endian {
                Endian::Little => u32::from_le_bytes(raw),
                Endian::Big => u32::from_be_bytes(raw),
            })
        }
        (2, Some(b)) => {
            let raw = [b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]];
            match endian {
                Endian::Little => u64::from_le_bytes(raw),
                Endian::Big => u64::from_be_bytes(raw),
            }
        }
        _ => 0,
    };
    let (class, interpreter) = match data[4] {
        1 => (
            32,
            interpreter::<elf::FileHeader32<object::Endianness>>(data),
        ),
        2 => (
            64,
            interpreter::<elf::FileHeader64<object::Endianness>>(data),
        ),
        _ => return None,
    };
    Some(ElfIdent {
        class,
        endian,
        e_machine,
        e_type,
        entry,
        interpreter,
    })
}

fn interpreter<H: FileHeader<Endian = object::Endianness>>(data: &[u8]) -> Option<String> {
    let header = H::parse(data).ok()?;
    let endian = header.endian().ok()?;
    header
        .program_headers(endian, data)
        .ok()?
        .iter()
        .find_map(|p| p.interpreter(endian, data).ok().flatten())
        .map(|bytes| String::from_utf8_lossy(bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A minimal 64-bit little-endian ELF with one PT_INTERP program header.
    pub(crate) fn elf64_with_interp(e_machine: u16, interp: &str) -> Vec<u8> {
        let mut h = vec![0u8; 64 + 56];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = 2;
        h[5] = 1;
        h[6] = 1;
        h[16..18].copy_from_slice(&2u16.to_le_bytes());
        h[18..20].copy_from_slice(&e_machine.to_le_bytes());
        h[20..24].copy_from_slice(&1u32.to_le_bytes());
        h[32..40].copy_from_slice(&64u64.to_le_bytes()); // e_phoff
        h[52..54].copy_from_slice(&64u16.to_le_bytes()); // e_ehsize
        h[54..56].copy_from_slice(&56u16.to_le_bytes()); // e_phentsize
        h[56..58].copy_from_slice(&1u16.to_le_bytes()); // e_phnum
        let off = h.len() as u64;
        let mut name = interp.as_bytes().to_vec();
        name.push(0);
        let ph = &mut h[64..120];
        ph[..4].copy_from_slice(&3u32.to_le_bytes()); // PT_INTERP
        ph[8..16].copy_from_slice(&off.to_le_bytes());
        ph[32..40].copy_from_slice(&(name.len() as u64).to_le_bytes());
        ph[40..48].copy_from_slice(&(name.len() as u64).to_le_bytes());
        h.extend(name);
        h
    }

    fn tar_of(entries: &[(&str, tar::EntryType, &[u8], Option<&str>)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, kind, data, link) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_mode(0o755);
            h.set_size(data.len() as u64);
            if let Some(l) = link {
                h.set_link_name(l).expect("link name");
            }
            b.append_data(&mut h, path, *data).expect("append");
        }
        b.into_inner().expect("tar")
    }

    #[test]
    fn gzip_zstd_and_plain_layers_give_the_same_entries() {
        let elf = elf64_with_interp(183, "/lib/ld-linux-aarch64.so.1");
        let tar = tar_of(&[
            ("bin/", tar::EntryType::Directory, b"", None),
            ("bin/app", tar::EntryType::Regular, &elf, None),
            ("bin/sh", tar::EntryType::Symlink, b"", Some("app")),
            ("etc/.wh.passwd", tar::EntryType::Regular, b"", None),
            ("opt/.wh..wh..opq", tar::EntryType::Regular, b"", None),
            ("etc/motd", tar::EntryType::Regular, b"hello\n", None),
        ]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).expect("gzip");
        let gz = gz.finish().expect("gzip");
        // Two frames, as zstd:chunked writes them: the whole archive must come out.
        let (head, tail) = tar.split_at(tar.len() / 2);
        let mut zst = zstd::encode_all(head, 3).expect("zstd");
        zst.extend(zstd::encode_all(tail, 3).expect("zstd"));
        let opts = ScanOptions {
            keep_content: HashSet::from(["/etc/motd".to_owned()]),
            max_content: 1024,
            elf: true,
            keep_debian_copyright: false,
            keep_file_owners: false,
            keep_package_databases: false,
        };
        for blob in [tar, gz, zst] {
            let layer = scan(blob.as_slice(), &opts).expect("scan");
            let kinds: Vec<(&str, &EntryKind)> = layer
                .entries
                .iter()
                .map(|e| (e.path.as_str(), &e.kind))
                .collect();
            assert_eq!(
                kinds,
                [
                    ("/bin", &EntryKind::Directory),
                    ("/bin/app", &EntryKind::File),
                    ("/bin/sh", &EntryKind::Symlink("app".into())),
                    ("/etc/passwd", &EntryKind::Whiteout),
                    ("/opt", &EntryKind::Opaque),
                    ("/etc/motd", &EntryKind::File),
                ]
            );
            let app = &layer.entries[1];
            let ident = app.elf.as_ref().expect("ELF recognized");
            assert_eq!(
                (ident.class, ident.endian, ident.e_machine),
                (64, Endian::Little, 183)
            );
            assert_eq!(
                ident.interpreter.as_deref(),
                Some("/lib/ld-linux-aarch64.so.1")
            );
            assert!(app.content.is_none(), "bytes kept only for checked files");
            assert_eq!(layer.entries[5].content.as_deref(), Some(&b"hello\n"[..]));
        }
    }

    #[test]
    fn content_over_the_limit_is_refused() {
        let tar = tar_of(&[("big", tar::EntryType::Regular, &[0u8; 2048], None)]);
        let opts = ScanOptions {
            keep_content: HashSet::from(["/big".to_owned()]),
            max_content: 1024,
            elf: false,
            keep_debian_copyright: false,
            keep_file_owners: false,
            keep_package_databases: false,
        };
        assert!(matches!(
            scan(tar.as_slice(), &opts),
            Err(ScanError::TooLarge { .. })
        ));
    }

    #[test]
    fn non_elf_and_truncated_headers_are_not_elf() {
        assert_eq!(elf_ident(b"#!/bin/sh\necho hi\n"), None);
        assert_eq!(elf_ident(b"\x7fELF\x02\x01"), None);
        let mut bad_class = elf64_with_interp(62, "/x");
        bad_class[4] = 9;
        assert_eq!(elf_ident(&bad_class), None);
    }
}
