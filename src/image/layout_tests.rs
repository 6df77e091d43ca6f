//! Index shapes, read from OCI layouts built in temporary directories: nested indexes,
//! attestations, entries without a platform, duplicates, Windows entries, unknown media types,
//! digest mismatches and truncated documents. No registry or engine is involved.

use std::io::Read as _;
use std::path::Path;

use serde_json::{Value, json};

use super::manifest::{OCI_INDEX, OCI_MANIFEST, sha256_digest};
use super::{ImageError, ImageSource, IndexEntryKind, ResolvedImage};
use crate::engine::EngineInfo;
use crate::outcome::ProblemKind;
use crate::plan::{self, Overrides};
use crate::platform::Platform;
use crate::profile::EngineProfile;

/// An OCI layout under construction.
struct Layout {
    dir: tempfile::TempDir,
}

impl Layout {
    fn new() -> Layout {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("blobs/sha256")).expect("blobs dir");
        std::fs::write(
            dir.path().join("oci-layout"),
            br#"{"imageLayoutVersion":"1.0.0"}"#,
        )
        .expect("oci-layout");
        Layout { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn source(&self) -> String {
        format!("oci-layout:{}", self.path().display())
    }

    /// Store `bytes`; returns a descriptor of `media_type` for them.
    fn blob(&self, media_type: &str, bytes: &[u8]) -> Value {
        let digest = sha256_digest(bytes);
        std::fs::write(self.blob_path(&digest), bytes).expect("write blob");
        json!({ "mediaType": media_type, "digest": digest, "size": bytes.len() })
    }

    fn blob_path(&self, digest: &str) -> std::path::PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.path().join("blobs/sha256").join(hex)
    }

    /// A one-layer image whose config says `platform`; the descriptor carries `platform` too.
    fn image(&self, platform: &str) -> Value {
        let p = Platform::parse(platform).expect("test platform");
        let layer = self.blob(
            "application/vnd.oci.image.layer.v1.tar",
            format!("layer of {platform}").as_bytes(),
        );
        let mut config = json!({
            "architecture": p.architecture(), "os": p.os(),
            "rootfs": { "type": "layers", "diff_ids": [layer["digest"]] },
        });
        if let Some(v) = p.variant() {
            config["variant"] = json!(v);
        }
        let config = self.blob(
            "application/vnd.oci.image.config.v1+json",
            &serde_json::to_vec(&config).expect("json"),
        );
        let manifest = json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": config, "layers": [layer],
        });
        let mut desc = self.blob(OCI_MANIFEST, &serde_json::to_vec(&manifest).expect("json"));
        desc["platform"] = platform_json(&p);
        desc
    }

    fn index(&self, manifests: Vec<Value>) -> Value {
        let index = json!({ "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests });
        self.blob(OCI_INDEX, &serde_json::to_vec(&index).expect("json"))
    }

    /// `index.json`: each entry named by `org.opencontainers.image.ref.name`, as buildx does.
    fn top(&self, entries: Vec<(&str, Value)>) {
        let manifests: Vec<Value> = entries
            .into_iter()
            .map(|(name, mut d)| {
                d["annotations"] = json!({ "org.opencontainers.image.ref.name": name });
                d
            })
            .collect();
        let index = json!({ "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests });
        std::fs::write(
            self.path().join("index.json"),
            serde_json::to_vec(&index).expect("json"),
        )
        .expect("index.json");
    }
}

fn platform_json(p: &Platform) -> Value {
    let mut v = json!({ "os": p.os(), "architecture": p.architecture() });
    if let Some(variant) = p.variant() {
        v["variant"] = json!(variant);
    }
    v
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn resolve(source: &str) -> Result<ResolvedImage, ImageError> {
    let source = ImageSource::open(source)?;
    runtime().block_on(source.resolve())
}

/// A linux/amd64 engine judged without any binfmt_misc state.
fn linux_amd64_engine() -> EngineProfile {
    EngineProfile::new("default", linux_amd64_info(), None)
}

fn linux_amd64_info() -> EngineInfo {
    EngineInfo {
        endpoint: "unix:///var/run/docker.sock".into(),
        local: true,
        local_why: String::new(),
        kernel: String::new(),
        operating_system: String::new(),
        version: "20.10".into(),
        api_version: "1.41".into(),
        platform: Platform::parse("linux/amd64").expect("platform"),
        rootless: false,
    }
}

/// Every shape at once: a nested index, an attestation, an entry without platform, a child of
/// an unknown media type, a Windows image, and two entries for linux/amd64.
fn every_shape() -> (Layout, Value, Value) {
    let l = Layout::new();
    let amd64 = l.image("linux/amd64");
    let arm64 = l.image("linux/arm64");
    let nested = l.index(vec![amd64.clone(), arm64]);
    let mut attestation = l.image("linux/amd64");
    attestation["platform"] = json!({ "os": "unknown", "architecture": "unknown" });
    attestation["annotations"] = json!({
        "vnd.docker.reference.type": "attestation-manifest",
        "vnd.docker.reference.digest": amd64["digest"],
    });
    let mut no_platform = l.image("linux/s390x");
    no_platform
        .as_object_mut()
        .expect("object")
        .remove("platform");
    let sbom = l.blob("application/vnd.example.sbom+json", b"{}");
    let windows = l.image("windows/amd64");
    let second_amd64 = l.image("linux/amd64/v2");
    let mut duplicate = second_amd64.clone();
    duplicate["platform"] = json!({ "os": "linux", "architecture": "amd64" });
    let top = l.index(vec![
        nested,
        attestation,
        no_platform,
        sbom,
        windows,
        duplicate.clone(),
    ]);
    l.top(vec![("shapes", top)]);
    (l, amd64, duplicate)
}

#[test]
fn every_entry_is_classified_and_nested_indexes_are_followed() {
    let (l, amd64, _) = every_shape();
    let image = resolve(&l.source()).expect("layout resolves");
    assert!(image.is_index);
    let kinds: Vec<(Option<String>, IndexEntryKind)> = image
        .entries
        .iter()
        .map(|e| (e.platform.as_ref().map(ToString::to_string), e.kind))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (Some("linux/amd64".into()), IndexEntryKind::Image),
            (Some("linux/arm64".into()), IndexEntryKind::Image),
            (Some("unknown/unknown".into()), IndexEntryKind::Attestation),
            (None, IndexEntryKind::NoPlatform),
            (None, IndexEntryKind::Ignored),
            (Some("windows/amd64".into()), IndexEntryKind::Image),
            (Some("linux/amd64".into()), IndexEntryKind::Image),
        ]
    );
    assert_eq!(image.attestations(), 1);
    assert_eq!(
        image.entries[0].digest,
        amd64["digest"].as_str().expect("digest")
    );
    assert!(
        image.entries[0].nested_in.is_some(),
        "found inside the nested index"
    );
    assert!(image.entries[5].nested_in.is_none());
}

#[test]
fn plan_takes_the_first_duplicate_and_never_runs_windows_on_linux() {
    let (l, amd64, duplicate) = every_shape();
    let image = resolve(&l.source()).expect("layout resolves");
    let spec = crate::spec::parse(
        Path::new("shapes.toml"),
        "[[test]]\nname = \"t\"\ncommand = [\"true\"]\n",
    )
    .expect("spec");
    let engine = linux_amd64_engine();
    let every = plan::plan(&spec, &image, &engine, &Overrides::default());
    let names: Vec<String> = every
        .platforms
        .iter()
        .map(|p| p.platform.to_string())
        .collect();
    assert!(names.contains(&"linux/amd64".to_owned()), "{names:?}");
    assert!(
        !names.iter().any(|n| n.starts_with("windows")),
        "Windows is not one of every platform a Linux engine runs: {names:?}"
    );
    let amd = every
        .platforms
        .iter()
        .find(|p| p.platform.to_string() == "linux/amd64")
        .expect("amd64 planned");
    let (entry, reason) = amd.entry().expect("amd64 has an entry");
    assert_eq!(entry.digest, amd64["digest"].as_str().expect("digest"));
    assert_ne!(entry.digest, duplicate["digest"].as_str().expect("digest"));
    assert!(
        reason.contains("2 entries for linux/amd64, the first was taken"),
        "{reason}"
    );

    let asked = Overrides {
        platforms: Some(vec![Platform::parse("windows/amd64").expect("platform")]),
        ..Overrides::default()
    };
    let windows = plan::plan(&spec, &image, &engine, &asked);
    let problem = windows.platforms[0].problem().expect("not runnable");
    assert_eq!(problem.kind, ProblemKind::EmulatorUnavailable);
    assert!(
        problem.message.contains("runs linux containers"),
        "{}",
        problem.message
    );
}

/// Everything a streamed docker-load archive sends (or the error chunk that ended it), and what
/// its writer says at the end.
async fn collect(
    archive: impl std::future::Future<Output = Result<crate::image::layout::DockerArchive, ImageError>>,
) -> (Result<Vec<u8>, String>, Result<(), Option<ImageError>>) {
    let mut archive = archive.await.expect("the archive starts");
    let mut bytes = Vec::new();
    let mut sent = Ok(());
    while let Some(chunk) = archive.chunks.recv().await {
        match chunk {
            Ok(c) => bytes.extend_from_slice(&c),
            Err(e) => {
                sent = Err(e.to_string());
                break;
            }
        }
    }
    (sent.map(|()| bytes), archive.writer.finish().await)
}

/// The digest of the first layer of the image manifest at `digest`.
fn first_layer(l: &Layout, digest: &str) -> String {
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(l.blob_path(digest)).expect("manifest"))
            .expect("json");
    manifest["layers"][0]["digest"]
        .as_str()
        .expect("layer")
        .to_owned()
}

fn corrupt(l: &Layout, digest: &str) {
    let path = l.blob_path(digest);
    let mut bytes = std::fs::read(&path).expect("blob");
    bytes[10] ^= 1;
    std::fs::write(&path, bytes).expect("corrupt");
}

#[test]
fn a_blob_that_does_not_match_its_digest_is_refused() {
    // A child manifest: resolving still works, fetching that platform does not.
    let (l, amd64, _) = every_shape();
    let digest = amd64["digest"].as_str().expect("digest");
    corrupt(&l, digest);
    let source = ImageSource::open(&l.source()).expect("opens");
    let rt = runtime();
    let image = rt
        .block_on(source.resolve())
        .expect("the indexes are intact");
    let e = rt
        .block_on(source.platform_image(&image.entries[0]))
        .map(|_| ())
        .expect_err("corrupt manifest");
    assert!(matches!(e, ImageError::DigestMismatch { .. }), "{e}");
    assert!(!e.is_usage());
    assert!(e.to_string().contains(digest), "{e}");

    // The top-level index: nothing resolves.
    let top = image.digest.clone();
    corrupt(&l, &top);
    let e = resolve(&l.source()).map(|_| ()).expect_err("corrupt index");
    assert!(matches!(e, ImageError::DigestMismatch { .. }), "{e}");
    assert!(e.to_string().contains(&top), "{e}");
}

#[test]
fn a_truncated_index_json_is_malformed() {
    let (l, _, _) = every_shape();
    let path = l.path().join("index.json");
    let text = std::fs::read(&path).expect("index.json");
    std::fs::write(&path, &text[..text.len() / 2]).expect("truncate");
    let e = resolve(&l.source()).map(|_| ()).expect_err("truncated");
    assert!(matches!(e, ImageError::Malformed { .. }), "{e}");
    assert!(e.to_string().contains("index.json"), "{e}");
    assert!(!e.is_usage());
}

#[test]
fn tags_choose_among_named_entries() {
    let l = Layout::new();
    let a = l.image("linux/amd64");
    let b = l.image("linux/arm64");
    l.top(vec![("a", a), ("b", b.clone())]);
    let e = resolve(&l.source()).map(|_| ()).expect_err("ambiguous");
    assert!(e.is_usage(), "{e}");
    assert!(e.to_string().contains("a, b"), "{e}");
    let chosen = resolve(&format!("{}:b", l.source())).expect("tag b");
    assert_eq!(chosen.digest, b["digest"].as_str().expect("digest"));
    assert!(!chosen.is_index);
    assert_eq!(chosen.runnable_platforms()[0].to_string(), "linux/arm64");
    let missing = resolve(&format!("{}:c", l.source()))
        .map(|_| ())
        .expect_err("no c");
    assert!(
        missing.to_string().contains("no entry named `c`"),
        "{missing}"
    );
}

#[test]
fn archives_read_like_directories_and_convert_to_docker_load_archives() {
    let (l, amd64, _) = every_shape();
    let tar_path = l.path().with_extension("tar");
    {
        let file = std::fs::File::create(&tar_path).expect("tar file");
        let mut b = tar::Builder::new(file);
        b.append_dir_all(".", l.path()).expect("tar layout");
        b.finish().expect("tar done");
    }
    let source = ImageSource::open(&format!("oci-archive:{}", tar_path.display())).expect("opens");
    let rt = runtime();
    let image = rt.block_on(source.resolve()).expect("archive resolves");
    assert_eq!(image.runnable_platforms().len(), 4);
    let ImageSource::Layout(layout) = &source else {
        panic!("an archive is a layout source");
    };
    let digest = amd64["digest"].as_str().expect("digest");
    let (archive, finished) = rt.block_on(collect(
        layout
            .layout
            .docker_archive(digest, "archsmoke-load:t-amd64"),
    ));
    finished.expect("converts");
    let archive = archive.expect("no error chunk");
    let mut files = std::collections::HashMap::new();
    for entry in tar::Archive::new(archive.as_slice())
        .entries()
        .expect("tar")
    {
        let mut entry = entry.expect("entry");
        let path = entry.path().expect("path").to_string_lossy().into_owned();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).expect("read");
        files.insert(path, data);
    }
    let manifest: Value = serde_json::from_slice(&files["manifest.json"]).expect("manifest.json");
    assert_eq!(manifest[0]["RepoTags"][0], "archsmoke-load:t-amd64");
    let config_name = manifest[0]["Config"].as_str().expect("Config");
    let config = &files[config_name];
    assert_eq!(format!("{}.json", &sha256_digest(config)[7..]), config_name);
    let config: Value = serde_json::from_slice(config).expect("config");
    assert_eq!(config["architecture"], "amd64");
    let layer = manifest[0]["Layers"][0].as_str().expect("layer");
    assert_eq!(files[layer], b"layer of linux/amd64");
    let _ = std::fs::remove_file(&tar_path);
}

#[test]
fn a_layer_that_does_not_match_its_digest_aborts_the_streamed_archive() {
    let (l, amd64, _) = every_shape();
    let digest = amd64["digest"].as_str().expect("digest");
    let layer = &first_layer(&l, digest);
    corrupt(&l, layer);
    let source = ImageSource::open(&l.source()).expect("opens");
    let ImageSource::Layout(layout) = &source else {
        panic!("a layout source");
    };
    let rt = runtime();
    let (sent, finished) = rt.block_on(collect(
        layout.layout.docker_archive(digest, "archsmoke-load:t-bad"),
    ));
    // The body ends with an error, so the engine cannot load a truncated or altered image...
    let sent = sent.expect_err("an error chunk ends the body");
    assert!(sent.contains(layer), "{sent}");
    // ... and the writer names the layer that is wrong.
    let e = finished.expect_err("fails").expect("the layout's fault");
    assert!(matches!(e, ImageError::DigestMismatch { .. }), "{e}");
    assert!(e.to_string().contains(layer), "{e}");
}

#[test]
fn a_layer_of_another_size_is_refused_before_anything_is_sent() {
    let (l, amd64, _) = every_shape();
    let digest = amd64["digest"].as_str().expect("digest");
    let layer = &first_layer(&l, digest);
    let path = l.blob_path(layer);
    let mut bytes = std::fs::read(&path).expect("layer");
    bytes.push(b'!');
    std::fs::write(&path, bytes).expect("grow");
    let source = ImageSource::open(&l.source()).expect("opens");
    let ImageSource::Layout(layout) = &source else {
        panic!("a layout source");
    };
    let e = runtime()
        .block_on(layout.layout.docker_archive(digest, "archsmoke-load:t-bad"))
        .map(|_| ())
        .expect_err("refused");
    assert!(matches!(e, ImageError::DigestMismatch { .. }), "{e}");
}

#[test]
fn a_layer_read_as_a_stream_is_verified_when_its_end_is_read() {
    use std::io::Read;
    let (l, amd64, _) = every_shape();
    let digest = amd64["digest"].as_str().expect("digest");
    let layer = &first_layer(&l, digest);
    let source = ImageSource::open(&l.source()).expect("opens");
    let rt = runtime();
    let read_all = |source: &ImageSource| {
        let mut reader = rt
            .block_on(source.layer(layer, 20))
            .map_err(|e| e.to_string())?;
        let mut bytes = Vec::new();
        reader
            .read_to_end(&mut bytes)
            .map(|_| bytes)
            .map_err(|e| e.to_string())
    };
    assert_eq!(read_all(&source).expect("intact"), b"layer of linux/amd64");
    corrupt(&l, layer);
    let e = read_all(&source).expect_err("corrupt");
    assert!(e.contains(layer) && e.contains("sha256:"), "{e}");
}

#[test]
fn an_archive_is_read_in_place_and_refuses_links_it_would_have_to_follow() {
    let (l, _, _) = every_shape();
    let tar_path = l.path().with_extension("links.tar");
    {
        let file = std::fs::File::create(&tar_path).expect("tar file");
        let mut b = tar::Builder::new(file);
        b.append_dir_all(".", l.path()).expect("tar layout");
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_size(0);
        b.append_link(&mut header, "blobs/sha256/elsewhere", "/etc/passwd")
            .expect("symlink member");
        b.finish().expect("tar done");
    }
    let e = ImageSource::open(&format!("oci-archive:{}", tar_path.display()))
        .map(|_| ())
        .expect_err("a link member");
    assert!(e.to_string().contains("blobs/sha256/elsewhere"), "{e}");
    assert!(e.to_string().contains("oci-layout:DIR"), "{e}");
    let _ = std::fs::remove_file(&tar_path);
}
