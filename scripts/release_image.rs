//! archsmoke's own multi-architecture image (`cargo run --example release-image`, called by
//! `scripts/release.sh`): one static binary per platform at `/archsmoke`, from scratch, written
//! as an OCI layout directory and an OCI archive, with no buildx and no engine.
//!
//! The image bytes come from the test bed's image builder (`tests/testbed/image.rs`,
//! `tarball.rs`, `publish.rs`): the same reproducible tar, config, manifest and index code that
//! builds the fixtures, so this file only says what goes into the image. The same binaries,
//! version, revision and time always give the same digests.

#[allow(dead_code)]
#[path = "../tests/testbed/image.rs"]
mod image;
#[allow(dead_code)]
#[path = "../tests/testbed/publish.rs"]
mod publish;
#[allow(dead_code)] // the test bed also writes owned entries; the image needs none
#[path = "../tests/testbed/tarball.rs"]
mod tarball;

use std::collections::BTreeMap;
use std::error::Error;
use std::fs;
use std::path::{Path, PathBuf};

use clap::Parser;
use object::Object;
use object::read::elf::ProgramHeader;

use image::{
    AMD64, ARM64, Child, ContainerConfig, Flavour, History, ImageConfig, Platform, RootFs,
    assemble, index_fixture, layer,
};
use publish::{ref_annotations, write_oci_named};
use tarball::Entry;

type Result<T, E = Box<dyn Error + Send + Sync>> = std::result::Result<T, E>;

/// Assemble archsmoke's image for linux/amd64 and linux/arm64 as an OCI layout and archive.
#[derive(Parser, Debug)]
#[command(name = "release-image")]
struct Args {
    /// The static linux/amd64 binary.
    #[arg(long)]
    amd64: PathBuf,
    /// The static linux/arm64 binary.
    #[arg(long)]
    arm64: PathBuf,
    /// org.opencontainers.image.version, and the tag in index.json.
    #[arg(long)]
    version: String,
    /// org.opencontainers.image.revision: the full git commit.
    #[arg(long)]
    revision: String,
    /// org.opencontainers.image.source: where the sources live.
    #[arg(long)]
    source: String,
    /// Build time, RFC 3339 (the commit's time, so a rebuild gives the same digests).
    #[arg(long)]
    created: String,
    /// A CA bundle to ship at /etc/ssl/certs/ca-certificates.crt, so that archsmoke in the
    /// container can verify registries' TLS certificates (it reads the system's roots).
    #[arg(long)]
    ca_bundle: Option<PathBuf>,
    /// Directory receiving `<name>.tar` and `<name>-layout/`.
    #[arg(long)]
    out: PathBuf,
    /// File stem of the archive and layout.
    #[arg(long, default_value = "archsmoke-image")]
    name: String,
    /// The image name recorded in index.json (`io.containerd.image.name`, without the tag).
    #[arg(long, default_value = "ghcr.io/archsmoke/archsmoke")]
    image_name: String,
}

fn main() {
    let args = Args::parse();
    if let Err(e) = build(&args) {
        eprintln!("release-image: {e}");
        std::process::exit(1);
    }
}

fn build(args: &Args) -> Result<()> {
    let created = humantime::parse_rfc3339(&args.created)
        .map_err(|e| format!("--created {:?}: {e}", args.created))?;
    let mtime = created
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| format!("--created before 1970: {e}"))?
        .as_secs();
    let ca_bundle = match &args.ca_bundle {
        Some(path) => Some(read(path)?),
        None => None,
    };
    let labels = BTreeMap::from([
        ("org.opencontainers.image.title", "archsmoke".to_owned()),
        (
            "org.opencontainers.image.description",
            env!("CARGO_PKG_DESCRIPTION").to_owned(),
        ),
        (
            "org.opencontainers.image.licenses",
            env!("CARGO_PKG_LICENSE").to_owned(),
        ),
        ("org.opencontainers.image.source", args.source.clone()),
        ("org.opencontainers.image.version", args.version.clone()),
        ("org.opencontainers.image.revision", args.revision.clone()),
        ("org.opencontainers.image.created", args.created.clone()),
    ]);
    let mut children = Vec::new();
    for (platform, path) in [(AMD64, &args.amd64), (ARM64, &args.arm64)] {
        let binary = read(path)?;
        check_static(path, &binary, platform)?;
        let mut entries = vec![
            ("archsmoke".to_owned(), Entry::File(0o755, binary)),
            ("tmp/".to_owned(), Entry::Dir(0o1777)),
        ];
        if let Some(bundle) = &ca_bundle {
            entries.extend([
                ("etc/".to_owned(), Entry::Dir(0o755)),
                ("etc/ssl/".to_owned(), Entry::Dir(0o755)),
                ("etc/ssl/certs/".to_owned(), Entry::Dir(0o755)),
                (
                    "etc/ssl/certs/ca-certificates.crt".to_owned(),
                    Entry::File(0o644, bundle.clone()),
                ),
            ]);
        }
        let layer = layer(entries, mtime)?;
        let config = ImageConfig {
            created: args.created.clone(),
            architecture: platform.architecture.to_owned(),
            os: "linux",
            variant: None,
            config: ContainerConfig {
                entrypoint: vec!["/archsmoke"],
                cmd: vec!["--help"],
                labels: labels.clone(),
                ..ContainerConfig::default()
            },
            rootfs: RootFs {
                kind: "layers",
                diff_ids: vec![layer.diff_id.clone()],
            },
            history: vec![History {
                created: args.created.clone(),
                created_by: "scripts/release.sh: /archsmoke (static, musl)",
                comment: "archsmoke release-image",
                empty_layer: false,
            }],
        };
        let image = assemble(Flavour::Oci, &config, &layer)?;
        children.push(Child::Image { platform, image });
    }
    // The fixture type wants a 'static tag; this program builds one image and exits.
    let tag: &'static str = Box::leak(args.version.clone().into_boxed_str());
    let fixture = index_fixture(tag, Flavour::Oci, children)?;
    let annotations = ref_annotations(&args.image_name, tag, &args.created);
    let (layout, archive) = write_oci_named(&args.out, &args.name, &fixture, annotations)?;
    println!("{}", fixture.root.digest);
    eprintln!(
        "release-image: {} ({}) and {}",
        archive.display(),
        fixture.root.digest,
        layout.display()
    );
    Ok(())
}

fn read(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()).into())
}

/// Refuse what would make a broken image: a binary of the wrong machine, or one that needs a
/// dynamic loader (PT_INTERP) the scratch image does not have.
fn check_static(path: &Path, bytes: &[u8], platform: Platform) -> Result<()> {
    let file = object::File::parse(bytes)
        .map_err(|e| format!("{} is not an ELF file: {e}", path.display()))?;
    let machine = match file.architecture() {
        object::Architecture::X86_64 => AMD64.architecture,
        object::Architecture::Aarch64 => ARM64.architecture,
        other => return Err(format!("{}: unexpected machine {other:?}", path.display()).into()),
    };
    if machine != platform.architecture {
        return Err(format!(
            "{} is a linux/{machine} binary, given as linux/{}",
            path.display(),
            platform.architecture
        )
        .into());
    }
    let object::File::Elf64(elf) = &file else {
        return Err(format!("{} is not a 64-bit ELF file", path.display()).into());
    };
    let endian = elf.endian();
    let dynamic = elf
        .elf_program_headers()
        .iter()
        .any(|ph| ph.p_type(endian) == object::elf::PT_INTERP);
    if dynamic {
        return Err(format!(
            "{} is dynamically linked (PT_INTERP); build it for a musl target",
            path.display()
        )
        .into());
    }
    Ok(())
}
