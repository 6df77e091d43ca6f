//! The image checks on hand-built filesystems and configs: no image, no registry.

use std::sync::Arc;

use super::*;
use crate::check::fs::{Entry, EntryKind, Layer};
use crate::range::IntRange;

fn entry(path: &str, kind: EntryKind) -> Entry {
    Entry::new(path, kind)
}

fn fs(entries: Vec<Entry>) -> MergedFs {
    MergedFs::new(&[Arc::new(Layer { entries })])
}

fn file_check(path: &str) -> FileCheck {
    FileCheck {
        path: path.into(),
        exists: true,
        kind: None,
        target: None,
        mode: None,
        uid: None,
        gid: None,
        size: None,
        content: None,
        contains: Vec::new(),
        matches: Vec::new(),
        excludes: Vec::new(),
        not_matches: Vec::new(),
        platforms: None,
        name: None,
        permissions: None,
        executable_by: None,
        follow: true,
    }
}

fn checks(found: &[Mismatch]) -> Vec<&str> {
    found.iter().map(|m| m.check.as_str()).collect()
}

fn busybox_image() -> MergedFs {
    let mut busybox = entry("/bin/busybox", EntryKind::File);
    busybox.size = 1000;
    busybox.uid = 0;
    fs(vec![
        entry("/bin", EntryKind::Directory),
        busybox,
        entry("/bin/sh", EntryKind::Symlink("busybox".into())),
        entry("/etc", EntryKind::Directory),
    ])
}

#[test]
fn a_file_that_holds_passes_and_one_that_does_not_says_what_differs() {
    let image = busybox_image();
    let mut ok = file_check("/bin/sh");
    ok.mode = Some(0o755);
    ok.kind = Some(FileKind::File);
    assert_eq!(file(&ok, &image, None), []);

    let mut wrong = file_check("/bin/busybox");
    wrong.mode = Some(0o700);
    wrong.size = Some(IntRange::exactly(5));
    wrong.kind = Some(FileKind::Directory);
    let found = file(&wrong, &image, None);
    assert_eq!(checks(&found), ["type", "mode", "size"]);
    assert_eq!(
        (found[1].expected.as_str(), found[1].actual.as_str()),
        ("0700", "0755")
    );
    assert_eq!(found[0].actual, "file");
}

#[test]
fn sizes_and_ids_in_a_range_and_the_mismatch_says_the_range() {
    use crate::range::Bound;
    let image = busybox_image();
    let mut ok = file_check("/bin/busybox");
    ok.size = Some(IntRange {
        lower: Some(Bound::Exclusive(100)),
        upper: None,
    });
    ok.uid = Some(IntRange {
        lower: None,
        upper: Some(Bound::Inclusive(999)),
    });
    assert_eq!(file(&ok, &image, None), []);
    let mut wrong = file_check("/bin/busybox");
    wrong.size = Some(IntRange {
        lower: Some(Bound::Exclusive(1000)),
        upper: None,
    });
    wrong.gid = Some(IntRange {
        lower: Some(Bound::Inclusive(1)),
        upper: Some(Bound::Exclusive(5)),
    });
    let found = file(&wrong, &image, None);
    assert_eq!(checks(&found), ["gid", "size"]);
    assert_eq!(
        (found[0].expected.as_str(), found[0].actual.as_str()),
        (">= 1 and < 5", "0")
    );
    assert_eq!(
        (found[1].expected.as_str(), found[1].actual.as_str()),
        ("> 1000", "1000")
    );
}

#[test]
fn presence_absence_and_symlinks() {
    let image = busybox_image();
    let found = file(&file_check("/bin/bash"), &image, None);
    assert_eq!(
        (found[0].check.as_str(), found[0].actual.as_str()),
        ("exists", "missing")
    );
    // The first missing component is named.
    let found = file(&file_check("/etc/x/y"), &image, None);
    assert_eq!(found[0].actual, "missing (/etc/x does not exist)");

    let mut absent = file_check("/bin/sh");
    absent.exists = false;
    let found = file(&absent, &image, None);
    assert_eq!(found[0].actual, "present: file");
    absent.path = "/bin/bash".into();
    assert_eq!(file(&absent, &image, None), []);

    // `kind = symlink` looks at the link itself, and its target as stored.
    let mut link = file_check("/bin/sh");
    link.kind = Some(FileKind::Symlink);
    link.target = Some("/bin/busybox".into());
    let found = file(&link, &image, None);
    assert_eq!(checks(&found), ["target"]);
    assert_eq!(found[0].actual, "busybox");

    let looped = fs(vec![
        entry("/a", EntryKind::Symlink("b".into())),
        entry("/b", EntryKind::Symlink("a".into())),
    ]);
    assert_eq!(
        file(&file_check("/a"), &looped, None)[0].actual,
        "a symlink loop"
    );
}

#[test]
fn content_is_matched_like_output() {
    let image = busybox_image();
    let mut check = file_check("/etc/os-release");
    check.contains = vec!["ID=debian".into()];
    check.excludes = vec!["alpine".into()];
    let image_with = fs(vec![entry("/etc/os-release", EntryKind::File)]);
    assert_eq!(file(&check, &image_with, Some(b"NAME=x\nID=debian\n")), []);
    let found = file(&check, &image_with, Some(b"ID=alpine\n"));
    assert_eq!(checks(&found), ["content contains", "content excludes"]);
    // A directory has no content to match.
    check.path = "/etc".into();
    let found = file(&check, &image, None);
    assert_eq!(found[0].check, "content");
    assert!(found[0].actual.contains("directory"), "{}", found[0].actual);
}

fn config(json: &str) -> ImageConfiguration {
    serde_json::from_str(json).expect("image config")
}

#[test]
fn metadata_compares_the_config_field_by_field() {
    let c = config(
        r#"{"architecture":"arm64","os":"linux","config":{
            "Entrypoint":["/bin/sh"],"Cmd":["-c","echo"],"User":"1000",
            "Env":["PATH=/bin","MODE=a","MODE=prod"],
            "Labels":{"org.opencontainers.image.version":"1.2"},
            "ExposedPorts":{"8080/tcp":{}}},
            "rootfs":{"type":"layers","diff_ids":[]}}"#,
    );
    let mut want = MetadataCheck {
        entrypoint: Some(vec!["/bin/sh".into()]),
        user: Some("1000".into()),
        exposed_ports: Some(vec!["8080/tcp".into()]),
        ..MetadataCheck::default()
    };
    want.env.insert("MODE".into(), "prod".into());
    want.labels
        .insert("org.opencontainers.image.version".into(), "1.2".into());
    assert_eq!(metadata(&want, &c), []);

    let mut wrong = MetadataCheck {
        cmd: Some(vec![]),
        workdir: Some("/app".into()),
        env_unset: vec!["PATH".into()],
        volumes: Some(vec!["/data".into()]),
        ..MetadataCheck::default()
    };
    wrong.env.insert("HOME".into(), "/root".into());
    wrong
        .env_matches
        .push(("MODE".into(), regex::Regex::new("^dev$").expect("regex")));
    let found = metadata(&wrong, &c);
    assert_eq!(
        checks(&found),
        [
            "cmd",
            "env HOME",
            "env MODE matches",
            "env PATH",
            "workdir",
            "volumes"
        ]
    );
    assert_eq!(found[1].actual, "not set");
    // The last assignment of a variable is the one a container sees.
    assert_eq!(found[2].actual, "\"prod\"");
}

fn platform(arch: &str) -> Platform {
    Platform::new("linux", arch, None)
}

#[test]
fn one_list_gives_names_order_layers_and_levels() {
    let mut only_arm = file_check("/lib/ld-linux-aarch64.so.1");
    only_arm.platforms = Some(vec![platform("arm64")]);
    let files = vec![file_check("/bin/sh"), only_arm];
    let meta = MetadataCheck::default();
    let warn = AuditSettings::new(ElfLevel::Warn, Vec::new()).expect("settings");
    let names = |list: &[ImageCheck<'_>]| list.iter().map(ImageCheck::name).collect::<Vec<_>>();

    let amd = for_platform(&files, &[], Some(&meta), &warn, &platform("amd64"));
    assert_eq!(names(&amd), ["file /bin/sh", "metadata", "audit elf"]);
    let arm = for_platform(&files, &[], Some(&meta), &warn, &platform("arm64"));
    assert_eq!(
        names(&arm),
        [
            "file /bin/sh",
            "file /lib/ld-linux-aarch64.so.1",
            "metadata",
            "audit elf"
        ]
    );
    assert_eq!(
        arm.iter().map(ImageCheck::needs_layers).collect::<Vec<_>>(),
        [true, true, false, true]
    );
    // At `warn` the ELF audit shows its mismatches without failing.
    assert_eq!(
        arm.iter().map(ImageCheck::fails).collect::<Vec<_>>(),
        [true, true, true, false]
    );
    let off = AuditSettings::new(ElfLevel::Off, Vec::new()).expect("settings");
    assert!(for_platform(&[], &[], None, &off, &platform("amd64")).is_empty());
    let error = AuditSettings::new(ElfLevel::Error, Vec::new()).expect("settings");
    assert!(for_platform(&[], &[], None, &error, &platform("amd64"))[0].fails());
}

#[test]
fn a_check_reads_what_its_view_holds() {
    let image = busybox_image();
    let c =
        config(r#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#);
    let amd64 = platform("amd64");
    let view = ImageView {
        platform: &amd64,
        config: &c,
        fs: &image,
        content: None,
        database: None,
    };
    let meta = MetadataCheck {
        user: Some("root".into()),
        ..MetadataCheck::default()
    };
    let found = ImageCheck::Metadata(&meta).check(&view);
    assert_eq!(checks(&found), ["user"]);
    let missing = file_check("/bin/bash");
    assert_eq!(checks(&ImageCheck::File(&missing).check(&view)), ["exists"]);
    assert_eq!(ImageCheck::Elf(&AuditSettings::default()).check(&view), []);
}

#[test]
fn labels_matches_checks_each_label_against_its_regex() {
    let config: ImageConfiguration = serde_json::from_str(
        r#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},
                "config":{"Labels":{"org.opencontainers.image.revision":"0123abcd"}}}"#,
    )
    .expect("config");
    let check = MetadataCheck {
        labels_matches: vec![
            (
                "org.opencontainers.image.revision".into(),
                regex::Regex::new("^[0-9a-f]{8}$").expect("regex"),
            ),
            (
                "org.opencontainers.image.version".into(),
                regex::Regex::new(".").expect("regex"),
            ),
        ],
        ..MetadataCheck::default()
    };
    let found = metadata(&check, &config);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        found[0].check,
        "label org.opencontainers.image.version matches"
    );
    assert_eq!(found[0].actual, "not set");
}
