//! One platform's filesystem as a container would see it: its layers stacked bottom to top with
//! whiteouts and opaque directories applied (the OCI image-layer rules), and paths resolved
//! through symlinks without ever leaving the image's root. The entry types live here, with the
//! view the checks read; `audit` fills them from the layers' archives.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::arch::Endian;

/// What a layer entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Directory,
    Symlink(String),
    /// A hard link to another path of the image (absolute, normalized).
    Hardlink(String),
    /// Devices, fifos and the like.
    Other,
    /// `.wh.<name>`: the path is removed from the layers below.
    Whiteout,
    /// `.wh..wh..opq` in a directory: its content in the layers below is hidden.
    Opaque,
}

/// Identity of an ELF file: what the audit compares with the platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElfIdent {
    pub class: u8,
    pub endian: Endian,
    pub e_machine: u16,
    /// `e_type`: 1 relocatable, 2 executable, 3 shared object (or PIE), 4 core.
    pub e_type: u16,
    /// `e_entry`: 0 when the file has no entry point (most shared libraries).
    pub entry: u64,
    /// PT_INTERP, when the file is dynamically linked.
    pub interpreter: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Entry {
    /// Absolute and normalized; for whiteouts the path they remove.
    pub path: String,
    pub kind: EntryKind,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub size: u64,
    pub elf: Option<ElfIdent>,
    /// Kept only for paths a content check names, and only up to the limit.
    pub content: Option<Vec<u8>>,
}

impl Entry {
    /// A root-owned entry with mode 0755 and nothing read: what a directory no header names
    /// stands for.
    pub fn new(path: &str, kind: EntryKind) -> Entry {
        Entry {
            path: path.into(),
            kind,
            mode: 0o755,
            uid: 0,
            gid: 0,
            size: 0,
            elf: None,
            content: None,
        }
    }
}

/// One layer, as far as the checks need it, in archive order.
#[derive(Debug, Clone, Default)]
pub struct Layer {
    pub entries: Vec<Entry>,
}

/// Symlink hops before a path is declared a loop (Linux's own limit).
const MAX_SYMLINK_HOPS: usize = 40;

/// The merged view: every path that exists, with the entry (and the layer index) that made it.
#[derive(Debug)]
pub struct MergedFs {
    nodes: BTreeMap<String, (usize, Arc<Entry>)>,
    /// A hard link's path → where its bytes are stored in the layers (the path and the layer of
    /// the file it names): a content check that did not keep those bytes on the first pass
    /// re-reads them there, since the archive holds no bytes under the link's own name.
    stored_at: BTreeMap<String, (String, usize)>,
    /// Stands for directories that only exist as the parent of other entries: tar writers may
    /// omit their headers.
    implicit_dir: Entry,
}

/// Where a path led.
#[derive(Debug)]
pub enum Lookup<'a> {
    Found {
        path: String,
        layer: usize,
        entry: &'a Entry,
    },
    Missing {
        path: String,
    },
    Loop,
}

impl MergedFs {
    /// Stack `layers`, bottom first.
    pub fn new(layers: &[Arc<Layer>]) -> MergedFs {
        let mut fs = MergedFs {
            nodes: BTreeMap::new(),
            stored_at: BTreeMap::new(),
            implicit_dir: Entry::new("", EntryKind::Directory),
        };
        for (index, layer) in layers.iter().enumerate() {
            // Whiteouts and opaque markers hide what the layers below hold, never what this
            // layer itself adds, whatever their order inside the archive.
            for e in &layer.entries {
                match e.kind {
                    EntryKind::Whiteout => fs.remove_tree(&e.path, true),
                    EntryKind::Opaque => fs.remove_tree(&e.path, false),
                    _ => {}
                }
            }
            for e in &layer.entries {
                match &e.kind {
                    EntryKind::Whiteout | EntryKind::Opaque => {}
                    EntryKind::Hardlink(target) => {
                        // A hard link is the same inode: it has its target's bytes and identity.
                        let linked = fs.nodes.get(target).map(|(layer, t)| {
                            let mut copy = (**t).clone();
                            copy.path.clone_from(&e.path);
                            (copy, *layer)
                        });
                        if let Some((copy, layer)) = linked {
                            // A link to a link stores its bytes where the first one does.
                            let stored = fs
                                .stored_at
                                .get(target)
                                .cloned()
                                .unwrap_or_else(|| (target.clone(), layer));
                            fs.insert(index, copy);
                            fs.stored_at.insert(e.path.clone(), stored);
                        }
                    }
                    _ => fs.insert(index, e.clone()),
                }
            }
        }
        fs
    }

    fn insert(&mut self, layer: usize, entry: Entry) {
        // A non-directory replacing a directory replaces its whole tree.
        if entry.kind != EntryKind::Directory {
            self.remove_tree(&entry.path, false);
        }
        self.stored_at.remove(&entry.path);
        self.nodes
            .insert(entry.path.clone(), (layer, Arc::new(entry)));
    }

    fn remove_tree(&mut self, path: &str, including_self: bool) {
        if including_self {
            self.nodes.remove(path);
            self.stored_at.remove(path);
        }
        let prefix = if path == "/" {
            "/".to_owned()
        } else {
            format!("{path}/")
        };
        let doomed: Vec<String> = self
            .nodes
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(k, _)| k.clone())
            .collect();
        for k in doomed {
            self.nodes.remove(&k);
            self.stored_at.remove(&k);
        }
    }

    /// Where the bytes of the file found at `path` (as [`Lookup::Found`] names it) are stored:
    /// the path and layer of a hard link's target, else `path` itself in `layer`.
    pub fn stored_at<'a>(&'a self, path: &'a str, layer: usize) -> (&'a str, usize) {
        match self.stored_at.get(path) {
            Some((target, layer)) => (target, *layer),
            None => (path, layer),
        }
    }

    /// Every entry that exists, in path order.
    pub fn entries(&self) -> impl Iterator<Item = (usize, &Entry)> {
        self.nodes.values().map(|(l, e)| (*l, e.as_ref()))
    }

    /// Resolve `path` inside the image. Intermediate symlinks are always followed; the last
    /// component only when `follow` is set (lstat versus stat).
    pub fn lookup(&self, path: &str, follow: bool) -> Lookup<'_> {
        let mut pending: Vec<String> = components(path).rev().collect();
        let mut current: Vec<String> = Vec::new();
        let mut hops = 0;
        while let Some(part) = pending.pop() {
            if part == ".." {
                current.pop();
                continue;
            }
            current.push(part);
            let here = format!("/{}", current.join("/"));
            let (layer, entry) = match self.nodes.get(&here) {
                Some((layer, entry)) => (*layer, entry.as_ref()),
                None if self.has_children(&here) => (0, &self.implicit_dir),
                None => return Lookup::Missing { path: here },
            };
            let last = pending.is_empty();
            match &entry.kind {
                EntryKind::Symlink(target) if follow || !last => {
                    hops += 1;
                    if hops > MAX_SYMLINK_HOPS {
                        return Lookup::Loop;
                    }
                    current.pop();
                    if target.starts_with('/') {
                        current.clear();
                    }
                    pending.extend(components(target).rev());
                }
                _ if last => {
                    return Lookup::Found {
                        path: here,
                        layer,
                        entry,
                    };
                }
                EntryKind::Directory => {}
                _ => return Lookup::Missing { path: here },
            }
        }
        // The root itself, or a path that resolved to it: it always exists.
        match self.nodes.get("/") {
            Some((layer, entry)) => Lookup::Found {
                path: "/".into(),
                layer: *layer,
                entry,
            },
            None => Lookup::Found {
                path: "/".into(),
                layer: 0,
                entry: &self.implicit_dir,
            },
        }
    }

    fn has_children(&self, dir: &str) -> bool {
        let prefix = format!("{dir}/");
        self.nodes
            .range(prefix.clone()..)
            .next()
            .is_some_and(|(k, _)| k.starts_with(&prefix))
    }
}

fn components(path: &str) -> impl DoubleEndedIterator<Item = String> + '_ {
    path.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, kind: EntryKind) -> Entry {
        Entry::new(path, kind)
    }

    fn layer(entries: Vec<Entry>) -> Arc<Layer> {
        Arc::new(Layer { entries })
    }

    fn found(fs: &MergedFs, path: &str, follow: bool) -> Option<String> {
        match fs.lookup(path, follow) {
            Lookup::Found { path, .. } => Some(path),
            _ => None,
        }
    }

    #[test]
    fn whiteouts_and_opaque_directories_hide_lower_layers_only() {
        let lower = layer(vec![
            entry("/etc", EntryKind::Directory),
            entry("/etc/passwd", EntryKind::File),
            entry("/opt", EntryKind::Directory),
            entry("/opt/old", EntryKind::File),
            entry("/var", EntryKind::Directory),
            entry("/var/lib", EntryKind::Directory),
            entry("/var/lib/x", EntryKind::File),
        ]);
        let upper = layer(vec![
            // The new file comes before the marker in the archive; it must survive.
            entry("/opt/new", EntryKind::File),
            entry("/opt", EntryKind::Opaque),
            entry("/etc/passwd", EntryKind::Whiteout),
            entry("/var/lib", EntryKind::Whiteout),
        ]);
        let fs = MergedFs::new(&[lower, upper]);
        assert_eq!(found(&fs, "/etc/passwd", true), None);
        assert_eq!(found(&fs, "/opt/old", true), None);
        assert_eq!(found(&fs, "/opt/new", true).as_deref(), Some("/opt/new"));
        assert_eq!(found(&fs, "/var/lib/x", true), None);
        assert_eq!(found(&fs, "/var", true).as_deref(), Some("/var"));
    }

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let fs = MergedFs::new(&[layer(vec![
            entry("/bin", EntryKind::Directory),
            entry("/bin/busybox", EntryKind::File),
            entry("/bin/sh", EntryKind::Symlink("busybox".into())),
            entry("/usr", EntryKind::Directory),
            // self-contained: image path
            entry("/usr/bin", EntryKind::Symlink("../../../bin".into())),
            entry("/lib", EntryKind::Symlink("/usr/lib".into())),
            entry("/a", EntryKind::Symlink("b".into())),
            entry("/b", EntryKind::Symlink("a".into())),
        ])]);
        assert_eq!(
            found(&fs, "/usr/bin/sh", true).as_deref(),
            Some("/bin/busybox")
        );
        assert_eq!(found(&fs, "/usr/bin/sh", false).as_deref(), Some("/bin/sh"));
        assert_eq!(found(&fs, "/lib/ld.so", true), None);
        assert!(matches!(fs.lookup("/a", true), Lookup::Loop));
    }

    #[test]
    fn hard_links_share_their_target() {
        let mut target = entry("/bin/busybox", EntryKind::File);
        target.size = 42;
        let fs = MergedFs::new(&[layer(vec![
            target,
            entry("/bin/ls", EntryKind::Hardlink("/bin/busybox".into())),
        ])]);
        let Lookup::Found { entry, .. } = fs.lookup("/bin/ls", true) else {
            panic!("hard link missing");
        };
        assert_eq!((entry.size, &entry.kind), (42, &EntryKind::File));
        // Its bytes are stored under the target's name, in the target's layer.
        assert_eq!(fs.stored_at("/bin/ls", 0), ("/bin/busybox", 0));
        assert_eq!(fs.stored_at("/bin/busybox", 0), ("/bin/busybox", 0));
    }

    #[test]
    fn a_hard_link_replaced_by_a_file_stores_its_own_bytes() {
        let lower = layer(vec![
            entry("/a", EntryKind::File),
            entry("/b", EntryKind::Hardlink("/a".into())),
            entry("/c", EntryKind::Hardlink("/b".into())),
        ]);
        let fs = MergedFs::new(std::slice::from_ref(&lower));
        assert_eq!(fs.stored_at("/c", 0), ("/a", 0));
        let fs = MergedFs::new(&[lower, layer(vec![entry("/b", EntryKind::File)])]);
        assert_eq!(fs.stored_at("/b", 1), ("/b", 1));
        assert_eq!(fs.stored_at("/c", 0), ("/a", 0));
    }
}
