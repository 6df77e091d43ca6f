//! Deterministic tar archives: the rootfs layers and the OCI archive are both written here,
//! with entries sorted by name, owned by 0:0 and stamped with one given mtime.

use crate::Result;

/// A tar entry. Paths of directories end in `/`, like Go's archive/tar writes them.
pub enum Entry {
    Dir(u32),
    File(u32, Vec<u8>),
    Symlink(&'static str),
    /// A hard link (tar type `1`) to an earlier entry of the same archive, as `ln a b` in a
    /// Dockerfile's RUN step leaves it.
    Hardlink(&'static str),
    /// Any tar entry kind with its full mode (setuid, setgid, sticky bits included) and owner.
    Owned {
        kind: tar::EntryType,
        mode: u32,
        uid: u64,
        gid: u64,
        data: Vec<u8>,
    },
}

/// A ustar archive of `entries` sorted by path, owned by 0:0, all with mtime `mtime`.
pub fn tar_archive(mut entries: Vec<(String, Entry)>, mtime: u64) -> Result<Vec<u8>> {
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let mut builder = tar::Builder::new(Vec::new());
    for (name, entry) in &entries {
        let mut header = tar::Header::new_ustar();
        // Written by hand because `set_path` drops the trailing `/` of directories.
        let slot = &mut header.as_old_mut().name;
        if name.len() >= slot.len() {
            return Err(format!("tar path {name} is longer than ustar allows").into());
        }
        slot[..name.len()].copy_from_slice(name.as_bytes());
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(mtime);
        if let Entry::Owned { uid, gid, .. } = entry {
            header.set_uid(*uid);
            header.set_gid(*gid);
        }
        let data: &[u8] = match entry {
            Entry::Dir(mode) => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(*mode);
                header.set_size(0);
                &[]
            }
            Entry::File(mode, bytes) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(*mode);
                header.set_size(bytes.len() as u64);
                bytes
            }
            Entry::Symlink(target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_mode(0o777);
                header.set_size(0);
                header.set_link_name(target)?;
                &[]
            }
            Entry::Hardlink(target) => {
                header.set_entry_type(tar::EntryType::Link);
                header.set_mode(0o644);
                header.set_size(0);
                header.set_link_name(target)?;
                &[]
            }
            Entry::Owned {
                kind, mode, data, ..
            } => {
                header.set_entry_type(*kind);
                header.set_mode(*mode);
                header.set_size(data.len() as u64);
                data
            }
        };
        header.set_cksum();
        builder.append(&header, data)?;
    }
    Ok(builder.into_inner()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_sorted_and_directories_keep_their_trailing_slash() {
        let tar = tar_archive(
            vec![
                ("b".into(), Entry::File(0o444, b"x".to_vec())),
                ("a/".into(), Entry::Dir(0o755)),
            ],
            0,
        )
        .expect("tar");
        let mut archive = tar::Archive::new(tar.as_slice());
        let entries: Vec<(Vec<u8>, tar::EntryType, u64)> = archive
            .entries()
            .expect("tar entries")
            .map(|e| {
                let e = e.expect("tar entry");
                let h = e.header();
                (
                    h.path_bytes().into_owned(),
                    h.entry_type(),
                    h.size().expect("size"),
                )
            })
            .collect();
        assert_eq!(
            entries,
            vec![
                (b"a/".to_vec(), tar::EntryType::Directory, 0),
                (b"b".to_vec(), tar::EntryType::Regular, 1),
            ],
            "sorted by name, the directory keeping its `/`"
        );
    }
}
