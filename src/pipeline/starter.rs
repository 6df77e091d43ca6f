//! `archsmoke init`: a commented starter spec from an image, read through the same [`open`] as a
//! run (engine ∥ index), then each platform's config.
//!
//! Every expectation written must hold on the image it came from. What can be known without
//! running the image is written from its configs: the platforms, the config's metadata that all
//! platforms share, the entrypoint binary when its path is absolute. What can only be known by
//! running it is tried first, in one trial run of a candidate spec through the ordinary
//! [`pipeline::run`](super::run) (see [`trial`]): the kernel's machine name (needs `uname`), the
//! version flag the program answers (`--version`, `-V`, `-v`, `version`: the first that exits 0
//! and prints something on every platform), a `[service]` with readiness and a probe on the first port the image
//! EXPOSEs, and the ELF audit. A candidate that did not pass on every platform is written
//! commented out, with what happened, so the spec passes on its image.

use std::fmt::Write as _;
use std::path::PathBuf;

use futures_util::future::join_all;

use super::open::{Unresolved, open};
use super::{Canceller, Config, Flags};
use crate::diagnostic::{Diagnostic, printable};
use crate::event::{Event, EventSink};
use crate::image::{IndexEntryKind, SourceSpec};
use crate::outcome::{RunReport, TestStatus};
use crate::platform::Platform;
use crate::spec::quote::basic_string as quote;

/// The arguments a program may answer with its version, in the order tried: GNU's, Python's and
/// OpenSSH's, nginx's (`-v`; its `-V` adds the build flags), Go tools'.
const VERSION_FLAGS: [&str; 4] = ["--version", "-V", "-v", "version"];

/// The trial's names for what it tries; the final spec uses its own.
const MACHINE: &str = "machine";
const READY: &str = "service ready";
const HTTP: &str = "http";
const TCP: &str = "tcp";
const AUDIT: &str = "audit elf";

/// What the image's configs say, before anything runs.
struct Known {
    text: String,
    platforms: Vec<Platform>,
    /// The program the image runs: the entrypoint's first word, else the CMD's.
    program: Option<String>,
    /// The first TCP port every platform's config EXPOSEs.
    port: Option<u16>,
}

/// What the trial run saw: each candidate, kept only when it passed on every platform, else why
/// not.
struct Seen {
    machine: Result<(), String>,
    version: Result<&'static str, String>,
    /// The probe that answered on the exposed port (`HTTP` or `TCP`), when the service came up.
    service: Result<&'static str, String>,
    /// The audit's findings on the platform with the most of them (0: it passed).
    audit_findings: Result<usize, String>,
}

/// The starter spec for `text`, as TOML with comments.
///
/// `watch` is handed each trial run's [`Canceller`], as [`super::run`] hands it (the command
/// line's signal watcher).
pub async fn starter_spec<W, F>(
    text: &str,
    host: Option<&str>,
    watch: W,
) -> Result<String, Diagnostic>
where
    W: Fn(Canceller) -> F + Copy,
    F: Future<Output = ()> + Send + 'static,
{
    let source = SourceSpec::parse(text)
        .map_err(|e| Diagnostic::usage(e.to_string()).with_hint(e.hint()))?;
    let opened = open(text, &source, host).await;
    let (image, resolved) = opened.image.map_err(Unresolved::into_diagnostic)?;
    let entries: Vec<_> = resolved
        .entries
        .iter()
        .filter(|e| e.kind == IndexEntryKind::Image && e.platform.is_some())
        .collect();
    let configs = join_all(entries.iter().map(|e| image.platform_contents(e))).await;
    let platforms: Vec<Platform> = entries.iter().filter_map(|e| e.platform.clone()).collect();
    let configs: Vec<_> = configs
        .into_iter()
        .filter_map(Result::ok)
        .map(|c| c.config.config().clone().unwrap_or_default())
        .collect();
    // A value goes into [metadata] only when every platform's config agrees on it.
    let shared = |get: &dyn Fn(&oci_spec::image::Config) -> Option<Vec<String>>| {
        let first = configs.first().map(get)?;
        configs
            .iter()
            .all(|c| get(c) == first)
            .then_some(first)
            .flatten()
    };
    let entrypoint = shared(&|c| c.entrypoint().clone());
    let cmd = shared(&|c| c.cmd().clone());
    let workdir = shared(&|c| c.working_dir().clone().map(|w| vec![w]));
    let user = shared(&|c| c.user().clone().map(|u| vec![u]));
    let exposed = shared(&|c| {
        let mut ports = c.exposed_ports().clone()?;
        ports.sort();
        Some(ports)
    });
    let complete = configs.len() == platforms.len();
    let program = entrypoint
        .as_ref()
        .filter(|e| !e.is_empty())
        .or(cmd.as_ref().filter(|c| !c.is_empty()))
        .and_then(|v| v.first().cloned());
    let known = Known {
        text: text.to_owned(),
        platforms: platforms.clone(),
        program: program.clone(),
        port: exposed.as_deref().and_then(first_tcp_port),
    };
    let seen = trial(&known, host, watch).await;

    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Starter spec written by `archsmoke init` from {} ({}).\n\
         # Run it with `archsmoke run FILE`; every key is described in the README (\"The spec\").\n\
         # Each check below held on the image it was written from (init ran it); edit them to\n\
         # say what must stay true.\n",
        printable(&resolved.reference),
        printable(&resolved.digest)
    );
    let _ = writeln!(s, "image = {}", quote(text));
    let list: Vec<String> = platforms.iter().map(|p| quote(&p.to_string())).collect();
    let _ = writeln!(s, "platforms = [{}]\n", list.join(", "));

    let _ = writeln!(
        s,
        "# The kernel's machine name on each platform: proves that every platform's image starts\n\
         # and runs its own architecture (natively or under QEMU)."
    );
    match &seen.machine {
        Ok(()) => s.push_str(&machine_test(&platforms, "")),
        Err(why) => {
            let _ = writeln!(s, "# Not written as a check: {}", printable(why));
            s.push_str(&machine_test(&platforms, "# "));
        }
    }
    let shown = quote(program.as_deref().unwrap_or("PROGRAM"));
    match &seen.version {
        Ok(flag) => {
            let _ = writeln!(
                s,
                "\n# The program answers `{flag}` (exit 0) on every platform; add what its answer \
                 must say\n# (stdout_contains = \"...\"; some programs answer on stderr).\n\
                 [[test]]\nname = \"version\"\ncommand = [{shown}, {}]\n",
                quote(flag)
            );
        }
        Err(why) => {
            let _ = writeln!(
                s,
                "\n# Does the program answer a version flag? {}\n\
                 # [[test]]\n# name = \"version\"\n# command = [{shown}, \"--version\"]\n",
                printable(why)
            );
        }
    }
    if let Some(port) = known.port {
        match &seen.service {
            Ok(probe) => {
                let check = if *probe == HTTP {
                    format!("http = {{ port = {port}, path = \"/\" }}")
                } else {
                    format!("tcp = {port}")
                };
                let _ = writeln!(
                    s,
                    "# The image EXPOSEs {port}: its own entrypoint runs as a service, ready when \
                     the port\n# accepts connections, and the port answers {}.\n\
                     [service]\n[service.ready]\ntcp = {port}\n\n\
                     [[probe]]\nname = \"port {port}\"\n{check}\n",
                    if *probe == HTTP { "HTTP" } else { "TCP" }
                );
            }
            Err(why) => {
                let _ = writeln!(
                    s,
                    "# The image EXPOSEs {port}, but {}\n\
                     # [service]\n# [service.ready]\n# tcp = {port}\n#\n\
                     # [[probe]]\n# name = \"port {port}\"\n# tcp = {port}\n",
                    printable(why)
                );
            }
        }
    }

    if complete && !configs.is_empty() {
        let _ = writeln!(
            s,
            "# The image config, as every platform's config has it today.\n[metadata]"
        );
        if let Some(e) = &entrypoint {
            let _ = writeln!(s, "entrypoint = {}", toml_list(e));
        }
        if let Some(c) = &cmd {
            let _ = writeln!(s, "cmd = {}", toml_list(c));
        }
        if let Some(w) = workdir.as_ref().and_then(|w| w.first()) {
            let _ = writeln!(s, "workdir = {}", quote(w));
        }
        if let Some(u) = user.as_ref().and_then(|u| u.first()) {
            let _ = writeln!(s, "user = {}", quote(u));
        }
        let _ = writeln!(s);
    } else {
        let _ = writeln!(
            s,
            "# [metadata]: the platforms' configs could not all be read here (an engine image has\n\
             # no layers to read), so none is checked.\n"
        );
    }
    match entrypoint.as_ref().and_then(|e| e.first()) {
        Some(path) if path.starts_with('/') => {
            let _ = writeln!(
                s,
                "# The entrypoint's binary exists on every platform.\n[[file]]\npath = {}\n",
                quote(path)
            );
        }
        Some(path) => {
            let _ = writeln!(
                s,
                "# The entrypoint {} is found through PATH; write its absolute path to check it:\n\
                 # [[file]]\n# path = \"/usr/bin/{}\"\n",
                quote(path),
                printable(path)
            );
        }
        None => {
            let _ = writeln!(
                s,
                "# The image has no ENTRYPOINT; check the files it must ship, e.g.:\n\
                 # [[file]]\n# path = \"/bin/sh\"\n"
            );
        }
    }
    match &seen.audit_findings {
        Ok(0) => {
            let _ = writeln!(
                s,
                "# Every program in every layer is built for its platform's architecture.\n\
                 [audit]\nelf = \"error\""
            );
        }
        Ok(n) => {
            let _ = writeln!(
                s,
                "# The ELF audit finds {n} file(s) not built for their platform on the image \
                 today, so it\n# only warns; see `archsmoke audit IMAGE`, fix or explain them, \
                 then make it \"error\".\n[audit]\nelf = \"warn\""
            );
        }
        Err(why) => {
            let _ = writeln!(
                s,
                "# The ELF audit could not be tried ({}), so it only warns.\n[audit]\nelf = \"warn\"",
                printable(why)
            );
        }
    }
    Ok(s)
}

/// The machine test, each line after `prefix` (`"# "` to write it commented out).
fn machine_test(platforms: &[Platform], prefix: &str) -> String {
    let mut s = format!(
        "{prefix}[[test]]\n{prefix}name = \"{MACHINE}\"\n{prefix}command = [\"uname\", \"-m\"]\n"
    );
    for p in platforms {
        match machine_pattern(p) {
            Some(re) => {
                let _ = writeln!(
                    s,
                    "{prefix}[test.per_platform.{}]\n{prefix}stdout_matches = {}",
                    quote(&p.to_string()),
                    quote(&re)
                );
            }
            None => {
                let _ = writeln!(
                    s,
                    "# {}: architecture not in archsmoke's table; add its expected `uname -m`:\n\
                     # [test.per_platform.{}]\n# stdout_matches = \"^...$\"",
                    printable(&p.to_string()),
                    quote(&p.to_string())
                );
            }
        }
    }
    s
}

/// The first `N/tcp` (or bare `N`) of an image's EXPOSE list.
fn first_tcp_port(ports: &[String]) -> Option<u16> {
    ports.iter().find_map(|p| match p.split_once('/') {
        Some((n, proto)) if proto.eq_ignore_ascii_case("tcp") => n.parse().ok(),
        Some(_) => None,
        None => p.parse().ok(),
    })
}

/// Runs every candidate check on the image, as the spec would: with the service when the image
/// EXPOSEs a port, since the final spec's tests then run inside it; again without it when it did
/// not come up, so that the tests are still judged.
async fn trial<W, F>(known: &Known, host: Option<&str>, watch: W) -> Seen
where
    W: Fn(Canceller) -> F + Copy,
    F: Future<Output = ()> + Send + 'static,
{
    let with_service = known.port.is_some();
    let mut seen = match run_trial(known, host, with_service, watch).await {
        Ok(report) => judge(known, &report, with_service),
        Err(why) => unknown(&why),
    };
    if with_service && seen.service.is_err() {
        let service = seen.service;
        seen = match run_trial(known, host, false, watch).await {
            Ok(report) => judge(known, &report, false),
            Err(why) => unknown(&why),
        };
        seen.service = service;
    }
    seen
}

fn unknown(why: &str) -> Seen {
    let why = format!("init could not run the image to try it: {why}");
    Seen {
        machine: Err(why.clone()),
        version: Err(why.clone()),
        service: Err(why.clone()),
        audit_findings: Err(why),
    }
}

/// The candidate spec: every check init might write, under the trial's names.
fn trial_spec(known: &Known, with_service: bool) -> String {
    let mut s = format!("image = {}\n", quote(&known.text));
    let list: Vec<String> = known
        .platforms
        .iter()
        .map(|p| quote(&p.to_string()))
        .collect();
    let _ = writeln!(s, "platforms = [{}]", list.join(", "));
    s.push_str(&machine_test(&known.platforms, ""));
    if let Some(program) = &known.program {
        for flag in VERSION_FLAGS {
            let _ = writeln!(
                s,
                "[[test]]\nname = {}\ncommand = [{}, {}]",
                quote(&version_name(flag)),
                quote(program),
                quote(flag)
            );
        }
    }
    if let (Some(port), true) = (known.port, with_service) {
        let _ = writeln!(
            s,
            "[service]\n[service.ready]\ntcp = {port}\n\
             [[probe]]\nname = \"{HTTP}\"\nhttp = {{ port = {port}, path = \"/\" }}\n\
             [[probe]]\nname = \"{TCP}\"\ntcp = {port}"
        );
    }
    s.push_str("[audit]\nelf = \"error\"\n");
    s
}

fn version_name(flag: &str) -> String {
    format!("version {flag}")
}

async fn run_trial<W, F>(
    known: &Known,
    host: Option<&str>,
    with_service: bool,
    watch: W,
) -> Result<RunReport, String>
where
    W: Fn(Canceller) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    let path = PathBuf::from("archsmoke-init-trial.toml");
    let spec = crate::spec::parse(&path, &trial_spec(known, with_service))
        .map_err(|e| format!("its trial spec is invalid: {e}"))?;
    let flags = Flags {
        spec: path,
        host: host.map(str::to_owned),
        ..Flags::default()
    };
    let config = Config::new(spec, flags).map_err(|d| d.to_string())?;
    let report = super::run(&config, Box::new(Silent), watch)
        .await
        .map_err(|d| d.to_string())?;
    match &report.problem {
        Some(problem) if report.platforms.is_empty() => Err(problem.message.clone()),
        _ => Ok(report),
    }
}

/// The trial's progress is not the user's business: init prints only the spec.
struct Silent;

impl EventSink for Silent {
    fn handle(&mut self, _: &Event) {}
}

fn judge(known: &Known, report: &RunReport, with_service: bool) -> Seen {
    let passed = |name: &str| passed_everywhere(known, report, name);
    let version = match &known.program {
        None => Err("the image names no program (no ENTRYPOINT or CMD).".to_owned()),
        Some(_) => VERSION_FLAGS
            .into_iter()
            // A shell reading an empty stdin exits 0 on any flag: an answer must say something.
            .find(|f| passed(&version_name(f)).is_ok() && answered(report, &version_name(f)))
            .ok_or_else(|| {
                format!(
                    "none of {} exited 0 with an answer on every platform.",
                    VERSION_FLAGS.join(", ")
                )
            }),
    };
    let service = if !with_service {
        Err("no service was tried.".to_owned())
    } else {
        match passed(READY) {
            Err(why) => Err(format!("it did not come up: {why}")),
            // The report names a probe `probe NAME` (see `service::checks`).
            Ok(()) => passed(&format!("probe {HTTP}"))
                .map(|()| HTTP)
                .or_else(|_| passed(&format!("probe {TCP}")).map(|()| TCP))
                .map_err(|why| format!("the port did not answer: {why}")),
        }
    };
    let audit_findings = report
        .platforms
        .iter()
        .map(|p| {
            p.tests
                .iter()
                .find(|t| t.name == AUDIT)
                .map(|t| t.mismatches.len())
        })
        .try_fold(0, |most, n| n.map(|n| most.max(n)))
        .ok_or_else(|| "no platform reported the audit".to_owned());
    Seen {
        machine: passed(MACHINE).map_err(|why| format!("`uname -m` failed: {why}")),
        version,
        service,
        audit_findings,
    }
}

/// Whether the test named `name` printed something, on stdout or stderr, on every platform.
fn answered(report: &RunReport, name: &str) -> bool {
    report.platforms.iter().all(|p| {
        p.tests
            .iter()
            .filter(|t| t.name == name)
            .all(|t| !(t.stdout.trim().is_empty() && t.stderr.trim().is_empty()))
    })
}

/// `Ok` when the check named `name` passed on every platform of the image, else what happened
/// on the first platform where it did not.
fn passed_everywhere(known: &Known, report: &RunReport, name: &str) -> Result<(), String> {
    for platform in &known.platforms {
        let Some(p) = report.platforms.iter().find(|p| &p.platform == platform) else {
            return Err(format!("{platform} was not tested"));
        };
        let why = match p.tests.iter().find(|t| t.name == name) {
            None => match &p.problem {
                Some(problem) => problem.message.clone(),
                None => "it did not run".to_owned(),
            },
            Some(t) if t.status == TestStatus::Passed => continue,
            Some(t) => t
                .error
                .clone()
                .or_else(|| {
                    t.mismatches
                        .first()
                        .map(|m| format!("{}: {}", m.check, m.actual))
                })
                .unwrap_or_else(|| format!("{:?}", t.status).to_lowercase()),
        };
        let line = why.lines().next().unwrap_or_default().to_owned();
        return Err(format!("on {platform}, {line}"));
    }
    Ok(())
}

/// `uname -m` on a platform, as a regular expression over the output's line. 32-bit x86 and ARM
/// report their 64-bit host's name when they run natively in compat mode on it.
fn machine_pattern(p: &Platform) -> Option<String> {
    match p.architecture() {
        "386" => Some("^(i[3-6]86|x86_64)$".into()),
        "arm" => Some("^armv[5-8]t?e?j?l$".into()),
        arch => {
            let def = crate::arch::lookup(arch)?;
            Some(format!("^{}$", def.name))
        }
    }
}

fn toml_list(v: &[String]) -> String {
    let items: Vec<String> = v.iter().map(|i| quote(i)).collect();
    format!("[{}]", items.join(", "))
}
