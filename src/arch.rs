//! The table of CPU architectures archsmoke knows: the one source for platforms, emulation, the
//! image audit and the probe.
//!
//! Each architecture has its names (definition name, OCI name, aliases), its ELF identity
//! (class, byte order, `e_machine`), its QEMU names (binary, binfmt_misc entry), the 32-bit
//! compat host that runs it natively, and the magic and mask QEMU registers for it, in the
//! kernel's register format (the codec for that format is here too, since the table is written
//! in it). The table itself is data, `qemu/binfmt.toml`, embedded in the binary and parsed once.
//! This module does no I/O; reading the kernel is `emulation::binfmt`'s job and writing to it
//! `emulation::register`'s.

use std::fmt::Write as _;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

/// The definitions file, compiled into the binary so that `archsmoke binfmt install` works from
/// any directory and cannot drift from the code that reads it.
const DEFINITIONS_TOML: &str = include_str!("../qemu/binfmt.toml");

/// Length of the representative header: `e_ident` (16 bytes), `e_type` (2), `e_machine` (2).
/// QEMU's masks look at nothing past `e_machine`.
pub const ELF_HEADER_PREFIX_LEN: usize = 20;

/// ELF `e_type`s: a fixed-address executable, and a shared object or PIE.
pub const ET_EXEC: u16 = 2;
pub const ET_DYN: u16 = 3;

static DEFINITIONS: LazyLock<Vec<ArchDef>> = LazyLock::new(|| {
    // The file is fixed at build time and `arch::tests::embedded_definitions_parse` parses it, so
    // a failure here is a build defect, not something a user can cause or fix.
    parse_definitions(DEFINITIONS_TOML).expect("qemu/binfmt.toml is checked by the unit tests")
});

/// Byte order of an architecture's executables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Endian {
    Little,
    Big,
}

/// One architecture QEMU can emulate, as defined in `qemu/binfmt.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArchDef {
    /// Definition name, QEMU's target name (`aarch64`).
    pub name: String,
    /// binfmt_misc entry name (`qemu-aarch64`).
    pub entry: String,
    /// OCI / Go architecture (`arm64`).
    pub oci: String,
    /// More accepted spellings (`armhf`, `i686`, ...).
    pub aliases: Vec<String>,
    /// QEMU binary name (`qemu-aarch64`); the static build is `<qemu>-static`.
    pub qemu: String,
    /// ELF class: 32 or 64.
    pub class: u8,
    pub endian: Endian,
    pub e_machine: u16,
    /// Definition name of the host architecture that runs this one natively in 32-bit mode.
    pub compat_host: Option<String>,
    /// Decoded magic bytes (offset 0).
    #[serde(serialize_with = "serialize_hex")]
    pub magic: Vec<u8>,
    /// Decoded mask bytes, as long as `magic`.
    #[serde(serialize_with = "serialize_hex")]
    pub mask: Vec<u8>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    arch: Vec<RawDef>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDef {
    name: String,
    entry: String,
    oci: String,
    aliases: Vec<String>,
    qemu: String,
    class: u8,
    endian: Endian,
    e_machine: u16,
    compat_host: Option<String>,
    magic: String,
    mask: String,
}

impl ArchDef {
    /// Every name this definition answers to: definition name, OCI name, then aliases.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        [self.name.as_str(), self.oci.as_str()]
            .into_iter()
            .chain(self.aliases.iter().map(String::as_str))
    }

    /// The first bytes of an executable of this architecture with the given `e_type`: class,
    /// byte order, version 1, System V OS ABI, ABI version 0, then `e_type` and `e_machine` in
    /// the architecture's byte order. Built from `class`/`endian`/`e_machine`, never from the
    /// magic, so matching a magic against it is a real test.
    pub fn elf_header(&self, e_type: u16) -> [u8; ELF_HEADER_PREFIX_LEN] {
        let mut h = [0u8; ELF_HEADER_PREFIX_LEN];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = if self.class == 64 { 2 } else { 1 };
        h[5] = match self.endian {
            Endian::Little => 1,
            Endian::Big => 2,
        };
        h[6] = 1;
        let (t, m) = match self.endian {
            Endian::Little => (e_type.to_le_bytes(), self.e_machine.to_le_bytes()),
            Endian::Big => (e_type.to_be_bytes(), self.e_machine.to_be_bytes()),
        };
        h[16..18].copy_from_slice(&t);
        h[18..20].copy_from_slice(&m);
        h
    }

    /// Headers of a fixed-address executable (`ET_EXEC`) and of a position-independent one
    /// (`ET_DYN`: PIEs and the dynamic loader); an emulator must accept at least one.
    pub fn representative_headers(&self) -> [[u8; ELF_HEADER_PREFIX_LEN]; 2] {
        [self.elf_header(ET_EXEC), self.elf_header(ET_DYN)]
    }

    /// True when `host` runs this architecture natively in 32-bit mode (i386 on x86_64, arm on
    /// aarch64 CPUs that keep AArch32).
    pub fn is_compat_on(&self, host: &ArchDef) -> bool {
        self.compat_host.as_deref() == Some(host.name.as_str())
    }

    /// `magic` in the kernel's register format, every byte escaped (`\x7f\x45...`), so that no
    /// byte can be mistaken for the `:` delimiter.
    pub fn magic_escaped(&self) -> String {
        encode_escaped(&self.magic)
    }

    /// `mask` in the kernel's register format, every byte escaped.
    pub fn mask_escaped(&self) -> String {
        encode_escaped(&self.mask)
    }
}

/// All definitions, in the order of `qemu/binfmt.toml`.
pub fn definitions() -> &'static [ArchDef] {
    &DEFINITIONS
}

/// The definition answering to `name` (definition name, OCI name, alias or entry name),
/// ignoring ASCII case.
pub fn lookup(name: &str) -> Option<&'static ArchDef> {
    let name = name.trim();
    definitions().iter().find(|d| {
        d.names().any(|n| n.eq_ignore_ascii_case(name)) || d.entry.eq_ignore_ascii_case(name)
    })
}

/// Parses and validates a definitions file.
///
/// Rejects what the kernel would reject (bad escapes, mask length differing from the magic) and
/// what would make detection lie: a magic that does not accept its own architecture's header, a
/// name used twice, a `compat_host` that names no definition.
pub fn parse_definitions(text: &str) -> Result<Vec<ArchDef>, String> {
    let raw: RawFile = toml::from_str(text).map_err(|e| e.to_string())?;
    let mut defs = Vec::with_capacity(raw.arch.len());
    for r in raw.arch {
        let magic = decode_escaped(&r.magic).map_err(|e| format!("[{}] magic: {e}", r.name))?;
        let mask = decode_escaped(&r.mask).map_err(|e| format!("[{}] mask: {e}", r.name))?;
        if magic.is_empty() || magic.len() != mask.len() {
            return Err(format!(
                "[{}] magic has {} bytes and mask {}; the kernel needs equal, non-zero lengths",
                r.name,
                magic.len(),
                mask.len()
            ));
        }
        if magic.len() > ELF_HEADER_PREFIX_LEN {
            return Err(format!(
                "[{}] magic is {} bytes; only the first {ELF_HEADER_PREFIX_LEN} (up to e_machine) \
                 can be checked",
                r.name,
                magic.len()
            ));
        }
        if r.class != 32 && r.class != 64 {
            return Err(format!(
                "[{}] class must be 32 or 64, not {}",
                r.name, r.class
            ));
        }
        let def = ArchDef {
            name: r.name,
            entry: r.entry,
            oci: r.oci,
            aliases: r.aliases,
            qemu: r.qemu,
            class: r.class,
            endian: r.endian,
            e_machine: r.e_machine,
            compat_host: r.compat_host,
            magic,
            mask,
        };
        let accepts_own = def
            .representative_headers()
            .iter()
            .all(|h| masked_eq(h, &def.magic, &def.mask));
        if !accepts_own {
            return Err(format!(
                "[{}] magic/mask do not accept a {}-bit {:?}-endian ELF header with e_machine {}",
                def.name, def.class, def.endian, def.e_machine
            ));
        }
        defs.push(def);
    }
    let mut seen: Vec<(String, &str)> = Vec::new();
    for d in &defs {
        let mut own: Vec<String> = d
            .names()
            .chain(std::iter::once(d.entry.as_str()))
            .map(str::to_ascii_lowercase)
            .collect();
        own.sort();
        own.dedup();
        for n in own {
            if let Some((_, other)) = seen.iter().find(|(s, _)| *s == n) {
                return Err(format!(
                    "name `{n}` is used by both [{other}] and [{}]",
                    d.name
                ));
            }
            seen.push((n, &d.name));
        }
    }
    for d in &defs {
        if let Some(host) = &d.compat_host {
            if !defs.iter().any(|o| &o.name == host) {
                return Err(format!(
                    "[{}] compat_host `{host}` is not a definition",
                    d.name
                ));
            }
        }
    }
    Ok(defs)
}

/// `(header[i] ^ magic[i]) & mask[i] == 0` for every byte, as the kernel's `check_file` does.
fn masked_eq(header: &[u8], magic: &[u8], mask: &[u8]) -> bool {
    header.len() >= magic.len()
        && magic
            .iter()
            .zip(mask)
            .zip(header)
            .all(|((m, k), h)| (h ^ m) & k == 0)
}

/// Decodes the kernel's register format: `\xNN` (exactly two hex digits, as the kernel's
/// `scanarg` demands) is one byte, any other character stands for its own bytes.
pub fn decode_escaped(text: &str) -> Result<Vec<u8>, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && bytes.get(i + 1) == Some(&b'x') {
            let hex = bytes
                .get(i + 2..i + 4)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("`\\x` at byte {i} is not followed by two hex digits"))?;
            out.push(hex);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Ok(out)
}

/// Encodes bytes in the kernel's register format, escaping every byte.
pub fn encode_escaped(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 4);
    for b in bytes {
        // Writing to a String cannot fail.
        let _ = write!(s, "\\x{b:02x}");
    }
    s
}

/// Lower-case hex, the form the kernel prints in an entry's `magic`/`mask` lines.
pub fn to_hex(bytes: &[u8]) -> String {
    crate::digest::hex(bytes)
}

pub(crate) fn serialize_hex<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&to_hex(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_definitions_parse() {
        let defs = parse_definitions(DEFINITIONS_TOML).expect("embedded definitions parse");
        let names: Vec<&str> = defs.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "aarch64",
                "arm",
                "ppc64le",
                "s390x",
                "riscv64",
                "i386",
                "x86_64",
                "mips64el",
                "loongarch64"
            ]
        );
        for d in &defs {
            assert_eq!(d.entry, format!("qemu-{}", d.name));
            assert_eq!(d.qemu, format!("qemu-{}", d.name));
        }
    }

    #[test]
    fn oci_names_and_aliases_resolve() {
        let cases = [
            ("arm64", "aarch64"),
            ("AARCH64", "aarch64"),
            ("armhf", "arm"),
            ("arm", "arm"),
            ("armv7l", "arm"),
            ("386", "i386"),
            ("i686", "i386"),
            ("amd64", "x86_64"),
            ("x86_64", "x86_64"),
            ("x86-64", "x86_64"),
            ("ppc64el", "ppc64le"),
            ("mips64le", "mips64el"),
            ("loong64", "loongarch64"),
            ("qemu-s390x", "s390x"),
            ("riscv64", "riscv64"),
        ];
        for (name, want) in cases {
            assert_eq!(lookup(name).map(|d| d.name.as_str()), Some(want), "{name}");
        }
        assert_eq!(lookup("sparc64"), None);
        assert_eq!(lookup("all"), None);
    }

    #[test]
    fn decode_accepts_escapes_and_plain_characters() {
        assert_eq!(
            decode_escaped(r"\x7fELF\x02").expect("valid"),
            b"\x7fELF\x02".to_vec()
        );
        assert_eq!(
            decode_escaped(r"\x7f\x45\x4c\x46").expect("valid"),
            b"\x7fELF".to_vec()
        );
        assert!(decode_escaped(r"\x7").is_err());
        assert!(decode_escaped(r"\xzz").is_err());
        assert_eq!(encode_escaped(b"\x7fE"), r"\x7f\x45");
        assert_eq!(to_hex(b"\x7fE\xff"), "7f45ff");
    }

    #[test]
    fn compat_pairs() {
        let host = |n| lookup(n).expect("known");
        assert!(host("386").is_compat_on(host("amd64")));
        assert!(host("arm").is_compat_on(host("arm64")));
        assert!(!host("arm64").is_compat_on(host("amd64")));
        assert!(!host("amd64").is_compat_on(host("386")));
    }

    #[test]
    fn representative_header_layout() {
        let s390x = lookup("s390x").expect("known");
        let h = s390x.elf_header(2);
        assert_eq!(&h[..7], b"\x7fELF\x02\x02\x01");
        assert_eq!(&h[16..20], &[0x00, 0x02, 0x00, 0x16]);
        let i386 = lookup("386").expect("known");
        let h = i386.elf_header(3);
        assert_eq!(&h[4..6], &[1, 1]);
        assert_eq!(&h[16..20], &[0x03, 0x00, 0x03, 0x00]);
    }

    #[test]
    fn validation_rejects_inconsistent_definitions() {
        let good = r#"
            [[arch]]
            name = "aarch64"
            entry = "qemu-aarch64"
            oci = "arm64"
            aliases = []
            qemu = "qemu-aarch64"
            class = 64
            endian = "little"
            e_machine = 183
            magic = '\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00'
            mask = '\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff'
        "#;
        assert!(parse_definitions(good).is_ok());
        // e_machine that the magic does not accept
        let wrong_machine = good.replace("e_machine = 183", "e_machine = 62");
        let err = parse_definitions(&wrong_machine).expect_err("mismatch must be caught");
        assert!(err.contains("do not accept"), "{err}");
        // mask shorter than magic
        let short_mask = good.replace(r"\xfe\xff\xff\xff'", r"\xfe\xff\xff'");
        let err = parse_definitions(&short_mask).expect_err("length mismatch must be caught");
        assert!(err.contains("equal"), "{err}");
        // unknown key
        let unknown = good.replace("class = 64", "class = 64\nflags = \"F\"");
        assert!(parse_definitions(&unknown).is_err());
        // duplicate alias across definitions
        let twice = format!(
            "{good}\n{}",
            good.replace("\"aarch64\"", "\"other\"")
                .replace("qemu-aarch64", "qemu-other")
        );
        let err = parse_definitions(&twice).expect_err("duplicate oci name must be caught");
        assert!(err.contains("arm64"), "{err}");
        // compat_host naming nothing
        let compat = good.replace("e_machine = 183", "e_machine = 183\ncompat_host = \"vax\"");
        assert!(parse_definitions(&compat).is_err());
    }
}
