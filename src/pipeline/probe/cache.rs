//! What remote engines emulate, remembered between runs: a probe container per platform costs a
//! remote engine a second or more per run, and an engine's emulators rarely change.
//!
//! One file per engine, `<cache dir>/archsmoke/emulators-<hash of the engine's ID>.json`, holds
//! the platforms a probe container ran on, each with when it did and, where the engine's process
//! list showed it, the emulator, and the engine's [`EngineBoot`] at that time. An answer is reused only while the engine is the same engine in
//! the same daemon start (its ID, kernel, version and default bridge network, which dockerd
//! recreates at every start) and the answer is younger than the lifetime (10 minutes unless
//! `--probe-cache-ttl` says otherwise; `0` turns the cache off). Only positive answers are
//! kept: a platform that did not run is probed again next time, so installing QEMU on the engine
//! takes effect at once. What can still go stale, within the lifetime: QEMU removed from the
//! engine's host while its daemon keeps running; `--reprobe` skips the cache.
//!
//! The directory is `$XDG_CACHE_HOME`, else `~/.cache`. Files are read as bounded regular files
//! ([`crate::userfile`]) and written whole, through a temporary file renamed over the old one,
//! so that two runs at once never see half a file; anything unreadable is ignored (a probe
//! answers instead).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::engine::EngineBoot;
use crate::outcome::doctor::SeenEmulator;
use crate::platform::Platform;

/// How long a probe's answer is reused when nothing says otherwise.
pub const DEFAULT_TTL: Duration = Duration::from_secs(10 * 60);
/// A cache file is a few hundred bytes; anything larger is not one of ours.
const FILE_LIMIT: u64 = 64 << 10;
/// Bumped when the file's meaning changes; other versions are ignored.
const VERSION: u32 = 1;

/// The cache's settings for one run.
#[derive(Debug, Clone)]
pub struct ProbeCache {
    /// `None`: no cache directory is known, or the cache is off.
    dir: Option<PathBuf>,
    ttl: Duration,
    /// `--reprobe`: never read, still written.
    reprobe: bool,
}

#[derive(Debug, Serialize, Deserialize)]
struct File {
    version: u32,
    id: String,
    kernel: String,
    server_version: String,
    daemon_start: String,
    /// Platform → when a probe container of it last ran there (seconds since the epoch).
    emulated: BTreeMap<String, u64>,
    /// Platform → the emulator the engine's process list showed for it then. Absent from files
    /// of earlier versions, which stay valid: their platforms are just not named.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    emulators: BTreeMap<String, SeenEmulator>,
}

impl File {
    fn same_engine(&self, boot: &EngineBoot) -> bool {
        self.version == VERSION
            && self.id == boot.id
            && self.kernel == boot.kernel
            && self.server_version == boot.server_version
            && self.daemon_start == boot.daemon_start
    }
}

/// A platform the cache says an engine emulates, when a probe showed it, and with which emulator
/// when that was seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remembered {
    pub platform: Platform,
    pub probed_at: SystemTime,
    pub emulator: Option<SeenEmulator>,
}

impl ProbeCache {
    /// The user's cache directory, `ttl` (zero: off), and whether to skip reading.
    pub fn new(ttl: Duration, reprobe: bool) -> ProbeCache {
        let dir = (!ttl.is_zero())
            .then(user_cache_dir)
            .flatten()
            .map(|d| d.join("archsmoke"));
        ProbeCache { dir, ttl, reprobe }
    }

    /// A cache in `dir` (tests).
    pub fn in_dir(dir: &Path, ttl: Duration, reprobe: bool) -> ProbeCache {
        ProbeCache {
            dir: Some(dir.to_path_buf()),
            ttl,
            reprobe,
        }
    }

    /// No cache: every answer comes from a probe container.
    pub fn off() -> ProbeCache {
        ProbeCache {
            dir: None,
            ttl: Duration::ZERO,
            reprobe: false,
        }
    }

    /// The file for the engine `boot` describes; `None` when the cache is off or the engine
    /// gives no ID to key it by.
    pub fn path(&self, boot: &EngineBoot) -> Option<PathBuf> {
        let dir = self.dir.as_ref()?;
        if boot.id.is_empty() {
            return None;
        }
        let hash = Sha256::digest(boot.id.as_bytes());
        let hex: String = hash.iter().take(8).map(|b| format!("{b:02x}")).collect();
        Some(dir.join(format!("emulators-{hex}.json")))
    }

    /// The platforms of `wanted` that the cache says this engine emulates, as of `now`.
    pub fn recall(
        &self,
        boot: &EngineBoot,
        wanted: &[Platform],
        now: SystemTime,
    ) -> Vec<Remembered> {
        if self.reprobe {
            return Vec::new();
        }
        let Some(file) = self.path(boot).and_then(|p| read(&p)) else {
            return Vec::new();
        };
        if !file.same_engine(boot) {
            return Vec::new();
        }
        let now_secs = secs(now);
        wanted
            .iter()
            .filter_map(|p| {
                let at = *file.emulated.get(&p.to_string())?;
                // A time ahead of the clock is a clock that moved back: not trusted.
                let age = now_secs.checked_sub(at)?;
                (age < self.ttl.as_secs()).then(|| Remembered {
                    platform: p.clone(),
                    probed_at: UNIX_EPOCH + Duration::from_secs(at),
                    emulator: file.emulators.get(&p.to_string()).cloned(),
                })
            })
            .collect()
    }

    /// Records what probes just showed on the engine `boot` describes: `emulated` ran (with the
    /// emulator seen, if any), `failed` did not (and is forgotten). Answers of other platforms
    /// are kept while still valid.
    pub fn remember(
        &self,
        boot: &EngineBoot,
        emulated: &[(Platform, Option<SeenEmulator>)],
        failed: &[Platform],
        now: SystemTime,
    ) -> std::io::Result<()> {
        let Some(path) = self.path(boot) else {
            return Ok(());
        };
        let now_secs = secs(now);
        let (mut kept, mut emulators) = read(&path)
            .filter(|f| f.same_engine(boot))
            .map(|f| (f.emulated, f.emulators))
            .unwrap_or_default();
        kept.retain(|_, at| {
            now_secs
                .checked_sub(*at)
                .is_some_and(|age| age < self.ttl.as_secs())
        });
        for p in failed {
            kept.remove(&p.to_string());
        }
        for (p, seen) in emulated {
            kept.insert(p.to_string(), now_secs);
            // A probe that did not see the emulator this time says nothing of the old one's
            // presence: the name goes with the answer it came with.
            match seen {
                Some(seen) => emulators.insert(p.to_string(), seen.clone()),
                None => emulators.remove(&p.to_string()),
            };
        }
        emulators.retain(|p, _| kept.contains_key(p));
        let file = File {
            version: VERSION,
            id: boot.id.clone(),
            kernel: boot.kernel.clone(),
            server_version: boot.server_version.clone(),
            daemon_start: boot.daemon_start.clone(),
            emulated: kept,
            emulators,
        };
        write(&path, &file)
    }
}

fn secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// `$XDG_CACHE_HOME` when it is an absolute path (as the XDG spec demands), else `~/.cache`.
fn user_cache_dir() -> Option<PathBuf> {
    let xdg = std::env::var_os("XDG_CACHE_HOME").map(PathBuf::from);
    if let Some(dir) = xdg.filter(|d| d.is_absolute()) {
        return Some(dir);
    }
    let home = std::env::var_os("HOME").map(PathBuf::from)?;
    home.is_absolute().then(|| home.join(".cache"))
}

fn read(path: &Path) -> Option<File> {
    let bytes = crate::userfile::read(path, FILE_LIMIT).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Writes `file` whole: a temporary file in the same directory (created new, so no link is
/// followed), renamed over `path`.
fn write(path: &Path, file: &File) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::DirBuilderExt;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(&serde_json::to_vec_pretty(file).map_err(std::io::Error::other)?)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boot() -> EngineBoot {
        EngineBoot {
            id: "DZI6:6QGM".into(),
            kernel: "6.18.44".into(),
            server_version: "20.10.24".into(),
            daemon_start: "4d72ffc1@2026-12-06T07:45:38Z".into(),
            cpus: Some(2),
        }
    }

    fn p(s: &str) -> Platform {
        Platform::parse(s).expect("platform")
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_800_000_000 + secs)
    }

    #[test]
    fn an_answer_is_recalled_for_the_same_engine_within_the_lifetime_only() {
        let dir = tempfile::tempdir().expect("temp dir");
        let cache = ProbeCache::in_dir(dir.path(), Duration::from_secs(600), false);
        let wanted = [p("linux/arm64"), p("linux/s390x")];
        cache
            .remember(
                &boot(),
                &[(p("linux/arm64"), None)],
                &[p("linux/s390x")],
                at(0),
            )
            .expect("written");
        let got = cache.recall(&boot(), &wanted, at(599));
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].platform, p("linux/arm64"));
        assert_eq!(got[0].probed_at, at(0));
        assert!(
            cache.recall(&boot(), &wanted, at(600)).is_empty(),
            "expired"
        );
        // A clock that went back does not make an answer younger.
        assert!(
            cache
                .recall(&boot(), &wanted, at(0) - Duration::from_secs(5))
                .is_empty()
        );
    }

    #[test]
    fn another_daemon_start_kernel_version_or_engine_invalidates() {
        let dir = tempfile::tempdir().expect("temp dir");
        let cache = ProbeCache::in_dir(dir.path(), Duration::from_secs(600), false);
        let wanted = [p("linux/arm64")];
        cache
            .remember(&boot(), &[(p("linux/arm64"), None)], &[], at(0))
            .expect("written");
        assert_eq!(cache.recall(&boot(), &wanted, at(1)).len(), 1);
        let changes: [fn(&mut EngineBoot); 3] = [
            |b| b.daemon_start = "5e00@2026-12-06T08:00:00Z".into(),
            |b| b.kernel = "6.18.45".into(),
            |b| b.server_version = "24.0.7".into(),
        ];
        for change in changes {
            let mut other = boot();
            change(&mut other);
            assert!(cache.recall(&other, &wanted, at(1)).is_empty(), "{other:?}");
        }
        // Another engine has a file of its own.
        let mut stranger = boot();
        stranger.id = "OTHER".into();
        assert_ne!(cache.path(&stranger), cache.path(&boot()));
        assert!(cache.recall(&stranger, &wanted, at(1)).is_empty());
    }

    #[test]
    fn reprobe_reads_nothing_but_writes_and_a_failed_probe_forgets() {
        let dir = tempfile::tempdir().expect("temp dir");
        let reprobe = ProbeCache::in_dir(dir.path(), Duration::from_secs(600), true);
        let wanted = [p("linux/arm64")];
        reprobe
            .remember(&boot(), &[(p("linux/arm64"), None)], &[], at(0))
            .expect("written");
        assert!(reprobe.recall(&boot(), &wanted, at(1)).is_empty());
        let cache = ProbeCache::in_dir(dir.path(), Duration::from_secs(600), false);
        assert_eq!(cache.recall(&boot(), &wanted, at(1)).len(), 1);
        cache
            .remember(&boot(), &[], &wanted, at(2))
            .expect("written");
        assert!(cache.recall(&boot(), &wanted, at(3)).is_empty());
    }

    #[test]
    fn the_emulator_seen_is_recalled_with_its_answer_and_an_older_file_still_reads() {
        let dir = tempfile::tempdir().expect("temp dir");
        let cache = ProbeCache::in_dir(dir.path(), Duration::from_secs(600), false);
        let qemu = SeenEmulator {
            kind: crate::mode::EmulatorKind::Qemu,
            interpreter: "/usr/libexec/qemu-binfmt/x86_64-binfmt-P".into(),
        };
        let wanted = [p("linux/amd64"), p("linux/s390x")];
        cache
            .remember(
                &boot(),
                &[
                    (p("linux/amd64"), Some(qemu.clone())),
                    (p("linux/s390x"), None),
                ],
                &[],
                at(0),
            )
            .expect("written");
        let got = cache.recall(&boot(), &wanted, at(1));
        assert_eq!(got[0].emulator, Some(qemu.clone()), "{got:?}");
        assert_eq!(got[1].emulator, None, "{got:?}");
        // A later answer without a name drops the old name; a failure drops both.
        cache
            .remember(&boot(), &[(p("linux/amd64"), None)], &[], at(2))
            .expect("written");
        assert_eq!(cache.recall(&boot(), &wanted, at(3))[0].emulator, None);
        cache
            .remember(&boot(), &[(p("linux/amd64"), Some(qemu))], &[], at(4))
            .expect("written");
        cache
            .remember(&boot(), &[], &[p("linux/amd64")], at(5))
            .expect("written");
        let text = std::fs::read_to_string(cache.path(&boot()).expect("path")).expect("read");
        assert!(!text.contains("x86_64-binfmt-P"), "{text}");

        // A file written before emulators were kept: its answers stand, unnamed.
        let b = boot();
        let old = serde_json::json!({
            "version": VERSION, "id": b.id, "kernel": b.kernel,
            "server_version": b.server_version, "daemon_start": b.daemon_start,
            "emulated": {"linux/arm64": 1_800_000_000u64},
        });
        std::fs::write(cache.path(&b).expect("path"), old.to_string()).expect("write");
        let got = cache.recall(&b, &[p("linux/arm64")], at(1));
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].emulator, None);
    }

    #[test]
    fn no_id_no_directory_or_a_file_that_is_not_ours_caches_nothing() {
        let dir = tempfile::tempdir().expect("temp dir");
        let cache = ProbeCache::in_dir(dir.path(), Duration::from_secs(600), false);
        let mut anonymous = boot();
        anonymous.id.clear();
        assert_eq!(cache.path(&anonymous), None);
        assert_eq!(ProbeCache::off().path(&boot()), None);
        let path = cache.path(&boot()).expect("a path");
        std::fs::write(&path, "not json").expect("write");
        assert!(cache.recall(&boot(), &[p("linux/arm64")], at(1)).is_empty());
        // ... and is replaced by the next answer.
        cache
            .remember(&boot(), &[(p("linux/arm64"), None)], &[], at(1))
            .expect("written");
        assert_eq!(cache.recall(&boot(), &[p("linux/arm64")], at(2)).len(), 1);
    }
}
