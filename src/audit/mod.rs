//! The image audit: checks that read the image instead of running it. It owns `[[file]]` checks
//! against each platform's merged layers, `[metadata]` checks against each platform's config, and
//! the ELF audit (executables of another architecture, interpreters the image lacks).
//!
//! Layers are streamed from an [`AuditSource`] (a registry, an OCI layout or archive), each
//! unique layer read once however many platforms share it, on a
//! blocking thread, keeping only metadata, ELF identities and the bytes a content check needs.
//! Results are [`TestReport`]s that join each platform's run results; no container is started.
//! The checks themselves are pure functions in [`crate::check::image`], listed once per
//! platform there; this module reads what they need (the I/O) and turns their mismatches into
//! reports. The layer reader ([`layer`]) stays here, beside the reading: it takes any `Read` and
//! fills the filesystem model the checks own ([`crate::check::fs`]), so `audit` imports `check`
//! and never the other way.

pub mod layer;
mod license;
mod packages;
mod source;

pub use source::{AuditSource, LayerReader, LayerSource};

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};

use crate::check::fs::{EntryKind, Layer, Lookup, MergedFs};
use crate::check::image::{self, ImageCheck, ImageView};
use crate::image::{ImageError, IndexEntry, PlatformContents};
use crate::outcome::{Mismatch, PlatformReport, Problem, TestReport, TestStatus};
use crate::platform::Platform;
use crate::spec::{
    AuditSettings, ElfLevel, FileCheck, LicenseCheck, MetadataCheck, PackageCheck, Spec,
};
use layer::ScanOptions;

/// Layers read at once: each holds a connection and a decompressor busy.
const LAYERS_AT_ONCE: usize = 2;
/// The most bytes of one file a content check holds in memory.
pub const MAX_CONTENT: u64 = 16 << 20;

/// What to check on every platform.
#[derive(Debug, Clone, Default)]
pub struct Checks {
    pub files: Vec<FileCheck>,
    pub packages: Vec<PackageCheck>,
    pub licenses: Vec<LicenseCheck>,
    pub metadata: Option<MetadataCheck>,
    pub audit: AuditSettings,
}

impl Checks {
    pub fn from_spec(spec: &Spec) -> Checks {
        Checks {
            files: spec.files.clone(),
            packages: spec.packages.clone(),
            licenses: spec.licenses.clone(),
            metadata: spec.metadata.clone(),
            audit: spec.audit.clone(),
        }
    }

    /// Only the ELF audit, at `error` level: `archsmoke audit`.
    pub fn elf_only() -> Checks {
        Checks {
            audit: AuditSettings {
                elf: ElfLevel::Error,
                ..AuditSettings::default()
            },
            ..Checks::default()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
            && self.packages.is_empty()
            && self.licenses.is_empty()
            && self.metadata.is_none()
            && self.audit.elf == ElfLevel::Off
    }

    /// How many results these checks give `platform`: the live view's and the plan's count.
    pub fn count_for(&self, platform: &Platform) -> usize {
        image::for_platform(
            &self.files,
            &self.packages,
            self.metadata.as_ref(),
            &self.audit,
            platform,
        )
        .len()
            + self.licenses.len()
    }

    fn needs_layers(&self) -> bool {
        !self.files.is_empty()
            || !self.packages.is_empty()
            || !self.licenses.is_empty()
            || self.audit.elf != ElfLevel::Off
    }
}

/// One platform to audit: the index entry chosen for it.
#[derive(Debug, Clone)]
pub struct Target {
    pub platform: Platform,
    pub entry: IndexEntry,
}

/// The audit of one platform.
#[derive(Debug, Clone)]
pub struct PlatformAudit {
    pub platform: Platform,
    /// The image config contradicts the index entry (the audit still ran).
    pub problem: Option<Problem>,
    pub tests: Vec<TestReport>,
    /// From the start of the audit until this platform's checks were done.
    pub duration: Duration,
}

/// Add each platform's audit results to its run report (the first row of its platform), after
/// the run's own tests.
pub fn merge_into(reports: &mut [PlatformReport], audits: Vec<PlatformAudit>) {
    for a in audits {
        if let Some(r) = reports.iter_mut().find(|r| r.platform == a.platform) {
            merge_one(r, a);
        }
    }
}

/// Add one platform's audit results to its report. A config that contradicts the index becomes
/// the platform's problem when the run found none. The audit ran beside the containers, both
/// from the start of the run, so the platform took as long as the slower of the two.
pub fn merge_one(report: &mut PlatformReport, audit: PlatformAudit) {
    if report.problem.is_none() {
        report.problem = audit.problem;
    }
    report.tests.extend(audit.tests);
    if report.pull.is_some() {
        report.containers_done = Some(report.duration);
    }
    report.duration = report.duration.max(audit.duration);
}

/// The results the checks would have given each target, none of them run: what an interrupted
/// run reports, so that its counts still include them.
pub fn not_run(targets: &[Target], checks: &Checks) -> Vec<PlatformAudit> {
    targets
        .iter()
        .map(|t| {
            let names = image::for_platform(
                &checks.files,
                &checks.packages,
                checks.metadata.as_ref(),
                &checks.audit,
                &t.platform,
            )
            .iter()
            .map(ImageCheck::name)
            .chain(checks.licenses.iter().map(|l| l.name.clone()))
            .collect::<Vec<_>>();
            PlatformAudit {
                platform: t.platform.clone(),
                problem: None,
                tests: names
                    .into_iter()
                    .map(|n| blank(n, TestStatus::NotRun, Duration::ZERO))
                    .collect(),
                duration: Duration::ZERO,
            }
        })
        .collect()
}

/// Audit every target; results come back in the targets' order.
pub async fn audit(
    source: &dyn AuditSource,
    targets: &[Target],
    checks: &Checks,
) -> Vec<PlatformAudit> {
    let started = Instant::now();
    let contents: Vec<Result<PlatformContents, ImageError>> =
        futures_util::future::join_all(targets.iter().map(|t| source.contents(&t.entry))).await;

    // Each distinct layer once, whatever the number of platforms sharing it.
    let mut unique: Vec<(String, i64)> = Vec::new();
    if checks.needs_layers() {
        let mut seen = HashSet::new();
        for c in contents.iter().flatten() {
            for l in &c.layers {
                if seen.insert(l.digest().to_string()) {
                    unique.push((l.digest().to_string(), l.size() as i64));
                }
            }
        }
    }
    let opts = ScanOptions {
        keep_content: checks
            .files
            .iter()
            .filter(|f| f.needs_content())
            .map(|f| f.path.clone())
            .chain(checks.licenses.iter().flat_map(|l| l.files.iter().cloned()))
            .collect(),
        max_content: MAX_CONTENT,
        elf: checks.audit.elf != ElfLevel::Off,
        keep_debian_copyright: checks.licenses.iter().any(|l| l.debian),
        keep_file_owners: checks.audit.elf != ElfLevel::Off,
        keep_package_databases: !checks.packages.is_empty(),
    };
    let scanned: HashMap<String, Result<Arc<Layer>, String>> = stream::iter(reading_order(unique))
        .map(|(digest, size)| {
            let opts = opts.clone();
            async move {
                let result = read_layer(source, &digest, size, opts).await;
                (digest, result)
            }
        })
        .buffer_unordered(LAYERS_AT_ONCE)
        .collect()
        .await;

    let mut out = Vec::with_capacity(targets.len());
    for (target, contents) in targets.iter().zip(contents) {
        out.push(audit_platform(source, target, contents, &scanned, checks, started).await);
    }
    out
}

/// The largest layers first: with [`LAYERS_AT_ONCE`] readers, a large layer started last would
/// be read alone at the end while the other reader idles.
fn reading_order(mut layers: Vec<(String, i64)>) -> Vec<(String, i64)> {
    // Stable: layers of one size keep the manifests' order.
    layers.sort_by_key(|l| std::cmp::Reverse(l.1));
    layers
}

async fn read_layer(
    source: &dyn AuditSource,
    digest: &str,
    size: i64,
    opts: ScanOptions,
) -> Result<Arc<Layer>, String> {
    let reader = source
        .open(digest, size)
        .await
        .map_err(|e| format!("layer {digest}: {e} ({})", e.hint()))?;
    tokio::task::spawn_blocking(move || layer::scan(reader, &opts))
        .await
        .map_err(|e| format!("layer {digest}: the reader stopped: {e}"))?
        .map(Arc::new)
        .map_err(|e| format!("layer {digest}: {e}"))
}

async fn audit_platform(
    source: &dyn AuditSource,
    target: &Target,
    contents: Result<PlatformContents, ImageError>,
    scanned: &HashMap<String, Result<Arc<Layer>, String>>,
    checks: &Checks,
    started: Instant,
) -> PlatformAudit {
    let list = image::for_platform(
        &checks.files,
        &checks.packages,
        checks.metadata.as_ref(),
        &checks.audit,
        &target.platform,
    );
    let contents = match contents {
        Ok(c) => c,
        Err(e) => {
            let error = format!("{e} ({})", e.hint());
            return PlatformAudit {
                platform: target.platform.clone(),
                problem: None,
                duration: started.elapsed(),
                tests: list
                    .iter()
                    .map(|c| c.name())
                    .chain(checks.licenses.iter().map(|l| l.name.clone()))
                    .map(|name| errored(name, &error, started.elapsed()))
                    .collect(),
            };
        }
    };
    let entry_platform = target
        .entry
        .platform
        .clone()
        .unwrap_or_else(|| target.platform.clone());
    let problem = contents
        .image
        .config_mismatch(&entry_platform)
        .map(Problem::config_mismatch);
    let layers: Result<Vec<Arc<Layer>>, String> = if checks.needs_layers() {
        contents
            .layers
            .iter()
            .map(|l| match scanned.get(&l.digest().to_string()) {
                Some(r) => r.clone(),
                None => Err(format!("layer {} was not read", l.digest())),
            })
            .collect()
    } else {
        Ok(Vec::new())
    };
    // Without its layers the filesystem is empty, and only checks that need none run on it.
    let merged = MergedFs::new(layers.as_deref().unwrap_or_default());
    let mut tests = Vec::with_capacity(list.len());
    // The layers are read once for all checks: that time is charged to the first check only,
    // and each check after it its own, so that the checks' times add up to the audit's and
    // none claims the whole of it.
    let mut since = started;
    // Each package manager's database is found and read once for all of the platform's checks.
    let mut databases = packages::Databases::default();
    for check in &list {
        if check.needs_layers()
            && let Err(e) = &layers
        {
            tests.push(errored(check.name(), e, since.elapsed()));
            since = Instant::now();
            continue;
        }
        let content = match check {
            ImageCheck::File(f) => content_of(source, f, &merged, &contents).await,
            _ => Ok(None),
        };
        let database = match check {
            ImageCheck::Package(p) => Some(
                databases
                    .get(
                        p.manager,
                        |path| {
                            let (merged, contents) = (&merged, &contents);
                            async move {
                                bytes_at(
                                    source,
                                    &path,
                                    merged,
                                    contents,
                                    crate::pkgdb::MAX_DATABASE,
                                )
                                .await
                            }
                        },
                        &merged,
                    )
                    .await,
            ),
            _ => None,
        };
        let (mismatches, error) = match content {
            Ok(bytes) => {
                let view = ImageView {
                    platform: &target.platform,
                    config: &contents.config,
                    fs: &merged,
                    content: bytes.as_deref(),
                    database,
                };
                (check.check(&view), None)
            }
            Err(e) => (Vec::new(), Some(e)),
        };
        tests.push(finished(
            check.name(),
            mismatches,
            error,
            check.fails(),
            since,
        ));
        since = Instant::now();
    }
    for l in &checks.licenses {
        let (mismatches, error) = match &layers {
            Err(e) => (Vec::new(), Some(e.clone())),
            Ok(_) => {
                let read = |path: String| {
                    let (merged, contents) = (&merged, &contents);
                    async move { bytes_at(source, &path, merged, contents, MAX_CONTENT).await }
                };
                match license::check(l, &merged, read).await {
                    Ok(m) => (m, None),
                    Err(e) => (Vec::new(), Some(e)),
                }
            }
        };
        tests.push(finished(l.name.clone(), mismatches, error, true, since));
        since = Instant::now();
    }
    PlatformAudit {
        platform: target.platform.clone(),
        problem,
        tests,
        duration: started.elapsed(),
    }
}

/// The bytes a content check reads. When a symlink led elsewhere, the path kept in the first pass
/// is not the file; its layer is read again, keeping just that file.
async fn content_of(
    source: &dyn AuditSource,
    check: &FileCheck,
    merged: &MergedFs,
    contents: &PlatformContents,
) -> Result<Option<Vec<u8>>, String> {
    if !check.needs_content() || !check.exists {
        return Ok(None);
    }
    bytes_at(source, &check.path, merged, contents, MAX_CONTENT).await
}

/// The bytes of the regular file at `path` (symlinks followed), `None` when there is none; a
/// file larger than `limit` is an error.
async fn bytes_at(
    source: &dyn AuditSource,
    path: &str,
    merged: &MergedFs,
    contents: &PlatformContents,
    limit: u64,
) -> Result<Option<Vec<u8>>, String> {
    let Lookup::Found { path, layer, entry } = merged.lookup(path, true) else {
        return Ok(None);
    };
    if !matches!(entry.kind, EntryKind::File | EntryKind::Hardlink(_)) {
        return Ok(None);
    }
    if let Some(bytes) = &entry.content {
        return Ok(Some(bytes.clone()));
    }
    if entry.size == 0 {
        return Ok(Some(Vec::new()));
    }
    // A hard link has no bytes of its own in the archive: they are read from its target.
    let (path, layer) = merged.stored_at(&path, layer);
    let path = path.to_owned();
    let desc = &contents.layers[layer];
    let opts = ScanOptions {
        keep_content: HashSet::from([path.clone()]),
        max_content: limit,
        elf: false,
        keep_debian_copyright: false,
        keep_file_owners: false,
        keep_package_databases: false,
    };
    let again = read_layer(source, desc.digest().as_ref(), desc.size() as i64, opts).await?;
    Ok(again
        .entries
        .iter()
        .rev()
        .find(|e| e.path == path)
        .and_then(|e| e.content.clone()))
}

fn finished(
    name: String,
    mismatches: Vec<Mismatch>,
    error: Option<String>,
    fails: bool,
    started: Instant,
) -> TestReport {
    let status = if error.is_some() {
        TestStatus::Error
    } else if mismatches.is_empty() || !fails {
        // At `warn`, mismatches are shown on a passed test: visible, but not a failure.
        TestStatus::Passed
    } else {
        TestStatus::Failed
    };
    TestReport {
        error,
        mismatches,
        ..blank(name, status, started.elapsed())
    }
}

fn errored(name: String, error: &str, duration: Duration) -> TestReport {
    TestReport {
        error: Some(error.to_owned()),
        ..blank(name, TestStatus::Error, duration)
    }
}

fn blank(name: String, status: TestStatus, duration: Duration) -> TestReport {
    TestReport {
        duration,
        ..TestReport::new(name, status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_largest_layers_are_read_first() {
        let layers = vec![
            ("sha256:small".to_owned(), 10),
            ("sha256:large".to_owned(), 900),
            ("sha256:first-of-two".to_owned(), 50),
            ("sha256:second-of-two".to_owned(), 50),
        ];
        let order: Vec<String> = reading_order(layers).into_iter().map(|l| l.0).collect();
        assert_eq!(
            order,
            [
                "sha256:large",
                "sha256:first-of-two",
                "sha256:second-of-two",
                "sha256:small"
            ]
        );
    }

    #[test]
    fn an_interrupted_run_lists_the_image_checks_it_did_not_reach() {
        let spec = crate::spec::parse(
            std::path::Path::new("s.toml"),
            "[[file]]\npath = \"/bin/sh\"\n\n[metadata]\nuser = \"0\"\n",
        )
        .expect("valid");
        let platform = Platform::new("linux", "arm64", None);
        let target = Target {
            platform: platform.clone(),
            entry: crate::image::IndexEntry {
                digest: "sha256:00".into(),
                media_type: "application/vnd.oci.image.manifest.v1+json".into(),
                size: 0,
                platform: Some(platform),
                kind: crate::image::IndexEntryKind::Image,
                nested_in: None,
            },
        };
        let unrun = not_run(&[target], &Checks::from_spec(&spec));
        let tests: Vec<(&str, TestStatus)> = unrun[0]
            .tests
            .iter()
            .map(|t| (t.name.as_str(), t.status))
            .collect();
        assert_eq!(
            tests,
            [
                ("file /bin/sh", TestStatus::NotRun),
                ("metadata", TestStatus::NotRun),
                ("audit elf", TestStatus::NotRun)
            ]
        );
    }
}
