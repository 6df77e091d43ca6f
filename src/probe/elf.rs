//! Minimal static ELF executables that do nothing but `exit(0)`, one per architecture.
//!
//! This module owns the machine code and the ELF layout of the probe program: a file header, one
//! `PT_LOAD` program header mapping the whole file read+execute, and a few instructions right
//! after the headers. No sections, no libc, no dynamic loader, so the same bytes run under any
//! kernel or QEMU that accepts the architecture. Whether a container of a platform can start at
//! all is exactly what a probe must show; anything more would test the probe, not the engine.

use crate::arch::{ArchDef, ET_EXEC, Endian};

/// Where the file is mapped. 4 MiB is above every kernel's `mmap_min_addr` and is aligned to the
/// largest page size any of these architectures uses (64 KiB on some arm64 and ppc64le kernels).
const LOAD_ADDRESS: u64 = 0x40_0000;
const PAGE_ALIGN: u64 = 0x1_0000;

const PT_LOAD: u32 = 1;
const PF_X: u32 = 1;
const PF_R: u32 = 4;

/// One architecture's probe program. Its ELF class, byte order and machine are the
/// architecture's, from the one table ([`crate::arch`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeProgram {
    /// The OCI architecture (`amd64`, `arm`, ...) it is for.
    pub oci: &'static str,
    /// ABI flags some loaders check (ARM EABI version, ppc64 ELFv2, RISC-V float ABI).
    pub e_flags: u32,
    /// The instructions, in file byte order.
    pub code: &'static [u8],
}

/// Every architecture archsmoke can probe. Each program is `exit(0)` through the Linux system
/// call of that architecture; the comments give the assembly of each instruction.
pub const PROGRAMS: &[ProbeProgram] = &[
    ProbeProgram {
        oci: "amd64",
        e_flags: 0,
        code: &[
            0x31, 0xff, // xor  edi, edi        ; status = 0
            0xb8, 0x3c, 0x00, 0x00, 0x00, // mov eax, 60 ; __NR_exit
            0x0f, 0x05, // syscall
        ],
    },
    ProbeProgram {
        oci: "386",
        e_flags: 0,
        code: &[
            0x31, 0xdb, // xor  ebx, ebx        ; status = 0
            0xb8, 0x01, 0x00, 0x00, 0x00, // mov eax, 1 ; __NR_exit (i386 table)
            0xcd, 0x80, // int  0x80
        ],
    },
    ProbeProgram {
        oci: "arm64",
        e_flags: 0,
        code: &[
            0x00, 0x00, 0x80, 0xd2, // movz x0, #0       ; status = 0
            0xa8, 0x0b, 0x80, 0xd2, // movz x8, #93      ; __NR_exit (generic table)
            0x01, 0x00, 0x00, 0xd4, // svc  #0
        ],
    },
    ProbeProgram {
        // ARMv4 instructions in ARM state, so the same bytes serve arm/v5, v6 and v7.
        oci: "arm",
        e_flags: 0x0500_0000, // EF_ARM_EABI_VER5: the syscall number is in r7, not in svc's immediate
        code: &[
            0x00, 0x00, 0xa0, 0xe3, // mov r0, #0        ; status = 0
            0x01, 0x70, 0xa0, 0xe3, // mov r7, #1        ; __NR_exit (EABI)
            0x00, 0x00, 0x00, 0xef, // svc #0
        ],
    },
    ProbeProgram {
        oci: "ppc64le",
        e_flags: 2, // ELFv2 ABI: e_entry is the code itself, not a function descriptor
        code: &[
            0x01, 0x00, 0x00, 0x38, // li r0, 1          ; __NR_exit
            0x00, 0x00, 0x60, 0x38, // li r3, 0          ; status = 0
            0x02, 0x00, 0x00, 0x44, // sc
        ],
    },
    ProbeProgram {
        oci: "s390x",
        e_flags: 0,
        code: &[
            0xa7, 0x29, 0x00, 0x00, // lghi %r2, 0       ; status = 0
            0x0a, 0x01, // svc 1                         ; __NR_exit as the immediate
        ],
    },
    ProbeProgram {
        oci: "riscv64",
        e_flags: 0x5, // EF_RISCV_RVC | EF_RISCV_FLOAT_ABI_DOUBLE, what lp64d toolchains write
        code: &[
            0x13, 0x05, 0x00, 0x00, // addi a0, zero, 0  ; status = 0
            0x93, 0x08, 0xd0, 0x05, // addi a7, zero, 93 ; __NR_exit (generic table)
            0x73, 0x00, 0x00, 0x00, // ecall
        ],
    },
    ProbeProgram {
        oci: "mips64le",
        // The table's 64-bit class with EM_MIPS selects the n64 ABI.
        e_flags: 0x8000_0000, // EF_MIPS_ARCH_64R2
        code: &[
            0x00, 0x00, 0x04, 0x24, // addiu $a0, $zero, 0    ; status = 0
            0xc2, 0x13, 0x02, 0x24, // addiu $v0, $zero, 5058 ; __NR_exit (n64 table)
            0x0c, 0x00, 0x00, 0x00, // syscall
        ],
    },
    ProbeProgram {
        oci: "loong64",
        e_flags: 0x43, // EF_LOONGARCH_OBJABI_V1 | EF_LOONGARCH_ABI_DOUBLE_FLOAT
        code: &[
            0x04, 0x00, 0x80, 0x03, // ori $a0, $zero, 0      ; status = 0
            0x0b, 0x74, 0x81, 0x03, // ori $a7, $zero, 93     ; __NR_exit (generic table)
            0x00, 0x00, 0x2b, 0x00, // syscall 0
        ],
    },
];

/// The probe program for an OCI architecture, if archsmoke has one.
pub fn program_for(oci_arch: &str) -> Option<&'static ProbeProgram> {
    PROGRAMS.iter().find(|p| p.oci == oci_arch)
}

impl ProbeProgram {
    /// The architecture's definition, whose ELF identity the program carries.
    pub fn arch(&self) -> &'static ArchDef {
        crate::arch::lookup(self.oci).expect("every probe program is of a defined architecture")
    }

    /// Where execution starts: right after the headers.
    pub fn entry_point(&self) -> u64 {
        LOAD_ADDRESS + self.headers_len() as u64
    }

    fn headers_len(&self) -> usize {
        match self.arch().class {
            32 => 52 + 32,
            _ => 64 + 56,
        }
    }

    /// The complete executable file.
    pub fn elf(&self) -> Vec<u8> {
        let arch = self.arch();
        let wide = arch.class == 64;
        let mut w = Writer {
            out: Vec::with_capacity(self.headers_len() + self.code.len()),
            big: arch.endian == Endian::Big,
        };
        let file_len = (self.headers_len() + self.code.len()) as u64;
        // e_ident
        w.out.extend_from_slice(b"\x7fELF");
        w.out.push(if wide { 2 } else { 1 }); // EI_CLASS
        w.out.push(if w.big { 2 } else { 1 }); // EI_DATA
        w.out.push(1); // EI_VERSION
        w.out.push(0); // EI_OSABI: System V
        w.out.extend_from_slice(&[0; 8]); // EI_ABIVERSION + padding
        w.u16(ET_EXEC);
        w.u16(arch.e_machine);
        w.u32(1); // e_version
        let (ehsize, phentsize) = if wide { (64, 56) } else { (52, 32) };
        w.addr(wide, self.entry_point());
        w.addr(wide, ehsize); // e_phoff: program header right after the file header
        w.addr(wide, 0); // e_shoff: no sections
        w.u32(self.e_flags);
        w.u16(ehsize as u16);
        w.u16(phentsize as u16);
        w.u16(1); // e_phnum
        w.u16(0); // e_shentsize
        w.u16(0); // e_shnum
        w.u16(0); // e_shstrndx
        // The one program header: map the whole file at LOAD_ADDRESS, read + execute. Its
        // fields are ordered differently in the two classes (p_flags moved up in ELF64).
        w.u32(PT_LOAD);
        if wide {
            w.u32(PF_R | PF_X);
            w.u64(0); // p_offset
            w.u64(LOAD_ADDRESS); // p_vaddr
            w.u64(LOAD_ADDRESS); // p_paddr
            w.u64(file_len); // p_filesz
            w.u64(file_len); // p_memsz
            w.u64(PAGE_ALIGN);
        } else {
            w.u32(0); // p_offset
            w.u32(LOAD_ADDRESS as u32); // p_vaddr
            w.u32(LOAD_ADDRESS as u32); // p_paddr
            w.u32(file_len as u32); // p_filesz
            w.u32(file_len as u32); // p_memsz
            w.u32(PF_R | PF_X);
            w.u32(PAGE_ALIGN as u32);
        }
        debug_assert_eq!(w.out.len(), self.headers_len());
        w.out.extend_from_slice(self.code);
        w.out
    }
}

struct Writer {
    out: Vec<u8>,
    big: bool,
}

impl Writer {
    fn u16(&mut self, v: u16) {
        let b = if self.big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        self.out.extend_from_slice(&b);
    }

    fn u32(&mut self, v: u32) {
        let b = if self.big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        self.out.extend_from_slice(&b);
    }

    fn u64(&mut self, v: u64) {
        let b = if self.big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        self.out.extend_from_slice(&b);
    }

    fn addr(&mut self, wide: bool, v: u64) {
        if wide {
            self.u64(v)
        } else {
            self.u32(v as u32)
        }
    }
}

#[cfg(test)]
mod tests {
    use object::elf;
    use object::read::elf::{FileHeader, ProgramHeader};

    use super::*;
    use crate::arch;

    /// What `object` reads back from a generated file.
    struct Parsed {
        class: u8,
        big: bool,
        machine: u16,
        e_type: u16,
        entry: u64,
        flags: u32,
        /// (type, flags, offset, vaddr, filesz, memsz) of each program header.
        segments: Vec<(u32, u32, u64, u64, u64, u64)>,
    }

    fn parse<H: FileHeader<Endian = object::Endianness>>(data: &[u8], class: u8) -> Parsed {
        let h = H::parse(data).expect("the probe parses as ELF");
        let e = h.endian().expect("the byte order is valid");
        let segments = h
            .program_headers(e, data)
            .expect("program headers parse")
            .iter()
            .map(|p| {
                (
                    p.p_type(e).0,
                    p.p_flags(e).0,
                    p.p_offset(e).into(),
                    p.p_vaddr(e).into(),
                    p.p_filesz(e).into(),
                    p.p_memsz(e).into(),
                )
            })
            .collect();
        Parsed {
            class,
            big: h.is_big_endian(),
            machine: h.e_machine(e).0,
            e_type: h.e_type(e).0,
            entry: h.e_entry(e).into(),
            flags: h.e_flags(e).0,
            segments,
        }
    }

    fn parse_any(data: &[u8]) -> Parsed {
        match object::FileKind::parse(data).expect("object recognizes the file") {
            object::FileKind::Elf32 => parse::<elf::FileHeader32<object::Endianness>>(data, 32),
            object::FileKind::Elf64 => parse::<elf::FileHeader64<object::Endianness>>(data, 64),
            other => panic!("not ELF: {other:?}"),
        }
    }

    #[test]
    fn every_program_is_a_static_executable_of_its_architecture() {
        for p in PROGRAMS {
            let data = p.elf();
            let parsed = parse_any(&data);
            // The definition archsmoke registers binfmt entries from is the independent truth
            // for class, byte order and machine.
            let def = arch::lookup(p.oci).expect("every probe architecture has a definition");
            assert_eq!(parsed.class, def.class, "{}: class", p.oci);
            assert_eq!(
                parsed.big,
                def.endian == Endian::Big,
                "{}: endianness",
                p.oci
            );
            assert_eq!(parsed.machine, def.e_machine, "{}: machine", p.oci);
            assert_eq!(parsed.e_type, elf::ET_EXEC.0, "{}: type", p.oci);
            assert_eq!(parsed.flags, p.e_flags, "{}: flags", p.oci);
            assert_eq!(parsed.segments.len(), 1, "{}: one program header", p.oci);
            let (kind, flags, offset, vaddr, filesz, memsz) = parsed.segments[0];
            assert_eq!(kind, elf::PT_LOAD.0, "{}", p.oci);
            assert_eq!(flags, elf::PF_R.0 | elf::PF_X.0, "{}", p.oci);
            assert_eq!(
                (offset, filesz, memsz),
                (0, data.len() as u64, data.len() as u64)
            );
            // The entry point is inside the loaded segment and points at the code.
            assert!(
                parsed.entry >= vaddr && parsed.entry < vaddr + filesz,
                "{}",
                p.oci
            );
            let code_at = (parsed.entry - vaddr) as usize;
            assert_eq!(&data[code_at..], p.code, "{}: entry is the code", p.oci);
            assert_eq!(vaddr % PAGE_ALIGN, 0, "{}: segment is page aligned", p.oci);
        }
    }

    #[test]
    fn the_kernels_binfmt_magic_for_each_architecture_accepts_its_probe() {
        // A probe the kernel (or QEMU's binfmt entry) would not recognize proves nothing.
        for p in PROGRAMS {
            let def = arch::lookup(p.oci).expect("defined");
            let data = p.elf();
            let matches = def
                .magic
                .iter()
                .zip(&def.mask)
                .zip(&data)
                .all(|((m, k), b)| (b ^ m) & k == 0);
            assert!(matches, "{}: binfmt magic rejects the probe", p.oci);
        }
    }

    #[test]
    fn lookup_knows_every_doctor_architecture() {
        for oci in [
            "amd64", "386", "arm64", "arm", "ppc64le", "s390x", "riscv64", "mips64le", "loong64",
        ] {
            assert!(program_for(oci).is_some(), "{oci}");
        }
        assert!(program_for("mips").is_none());
    }
}
