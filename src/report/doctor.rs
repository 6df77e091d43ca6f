//! `archsmoke doctor`: what this machine and its engine can run, as a table or as JSON. The
//! report's types are plain data in [`crate::outcome::doctor`]; the pipeline gathers them and
//! this module only renders them. It touches neither the engine nor the file system.

use std::io::{self, Write};

use crate::mode::ExecMode;
pub use crate::outcome::doctor::*;

pub fn render_json(report: &DoctorReport) -> String {
    serde_json::to_string_pretty(report).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

pub fn render_table(report: &DoctorReport, w: &mut dyn Write) -> io::Result<()> {
    let e = &report.engine;
    match &e.info {
        Some(i) => writeln!(
            w,
            "engine  Docker {} (API {}) {} at {}, {}, {}",
            i.version,
            i.api_version,
            i.platform,
            i.endpoint,
            if i.local { "local" } else { "remote" },
            if i.rootless { "rootless" } else { "rootful" },
        )?,
        None => {
            // The error names the endpoint already.
            match &e.error {
                Some(err) => writeln!(w, "engine  UNREACHABLE: {err}")?,
                None => writeln!(w, "engine  UNREACHABLE at {}", e.endpoint)?,
            }
            if let Some(h) = &e.hint {
                writeln!(w, "        fix: {h}")?;
            }
        }
    }
    if let Some(origin) = &e.origin {
        match &e.kind {
            // "the default socket" found as "the default socket (rootful Docker)": once.
            Some(kind) if kind.starts_with(origin.as_str()) => {
                writeln!(w, "        chosen: {kind}")?
            }
            Some(kind) if !origin.starts_with(kind.as_str()) => {
                writeln!(w, "        chosen: {origin} ({kind})")?
            }
            _ => writeln!(w, "        chosen: {origin}")?,
        }
    }
    if let Some(locality) = &e.locality {
        match e.operating_system.as_deref().filter(|o| !o.is_empty()) {
            Some(os) => writeln!(w, "        where:  {locality} ({os})")?,
            None => writeln!(w, "        where:  {locality}")?,
        }
    }
    let others: Vec<&SocketReport> = report.sockets.iter().filter(|s| !s.chosen).collect();
    if !others.is_empty() {
        writeln!(
            w,
            "        also found (pick one with DOCKER_HOST or `docker context use`):"
        )?;
        for s in others {
            writeln!(w, "          {}  {}", s.kind, s.host)?;
        }
    }
    let b = &report.binfmt;
    match &b.error {
        Some(err) => writeln!(w, "binfmt  cannot read {}: {err}", b.dir.display())?,
        None => writeln!(
            w,
            "binfmt  {}: {}, {}",
            b.dir.display(),
            if b.mounted { "mounted" } else { "NOT MOUNTED" },
            if b.enabled { "enabled" } else { "DISABLED" },
        )?,
    }
    if let Some(note) = &b.note {
        writeln!(w, "        note: {note}")?;
    }
    if let Some(id) = &report.probe_run_id {
        writeln!(w, "probes  run {id} (fresh, not from the probe cache)")?;
    }
    if let Some(c) = &report.probe_cache {
        if !c.recalled.is_empty() {
            let names: Vec<String> = c.recalled.iter().map(ToString::to_string).collect();
            writeln!(
                w,
                "cache   {} emulated by an earlier probe, from {} (`doctor --probe` probes again)",
                names.join(", "),
                c.path.display()
            )?;
        }
        if c.updated {
            writeln!(w, "cache   probe answers written to {}", c.path.display())?;
        }
    }
    writeln!(w)?;
    if b.entries.is_empty() {
        writeln!(w, "no binfmt_misc entry runs a foreign architecture")?;
    } else {
        let rows: Vec<Vec<String>> = b
            .entries
            .iter()
            .map(|en| {
                vec![
                    en.name.clone(),
                    if en.enabled { "on" } else { "OFF" }.into(),
                    en.flags.clone(),
                    en.kind.to_string(),
                    en.architectures.join(","),
                    en.interpreter.display().to_string(),
                    en.version.clone().unwrap_or_else(|| "-".into()),
                ]
            })
            .collect();
        let header = [
            "ENTRY",
            "STATE",
            "FLAGS",
            "KIND",
            "ARCH",
            "INTERPRETER",
            "VERSION",
        ];
        let widths = widths(&header, &rows);
        writeln!(w, "{}", line(&header, &widths))?;
        for (row, en) in rows.iter().zip(&b.entries) {
            writeln!(w, "{}", line(row, &widths))?;
            for warning in &en.warnings {
                writeln!(w, "  ! {warning}")?;
            }
        }
    }
    writeln!(w)?;
    let probed = report.platforms.iter().any(|p| p.probe.is_some());
    let remote = report.engine.info.as_ref().is_some_and(|i| !i.local);
    let rows: Vec<Vec<String>> = report
        .platforms
        .iter()
        .map(|p| {
            let mode = match &p.decision {
                ExecMode::Unavailable { .. } if remote => {
                    "unknown (not this machine's kernel)".into()
                }
                other => mode_text(other),
            };
            let mut row = vec![p.platform.to_string(), mode];
            if probed {
                row.push(p.probe.as_ref().map_or_else(|| "-".into(), probe_text));
            }
            row
        })
        .collect();
    let mut header = vec!["PLATFORM", "MODE (binfmt_misc)"];
    if probed {
        header.push("PROBE");
    }
    let widths = widths(&header, &rows);
    writeln!(w, "{}", line(&header, &widths))?;
    for (row, p) in rows.iter().zip(&report.platforms) {
        writeln!(w, "{}", line(row, &widths))?;
        let runs = matches!(
            p.probe.as_ref().map(|r| &r.outcome),
            Some(ProbeOutcome::Ok { .. })
        );
        // A platform the probe ran needs no fix, whatever binfmt_misc suggested.
        if let (ExecMode::Unavailable { reason, hint }, false) = (&p.decision, runs) {
            writeln!(w, "  why: {reason}")?;
            writeln!(w, "  fix: {hint}")?;
        }
        if let Some(ProbeOutcome::Failed { message }) = p.probe.as_ref().map(|r| &r.outcome) {
            writeln!(w, "  probe: {message}")?;
        }
    }
    let disagreeing: Vec<String> = report
        .disagreements()
        .map(|p| p.platform.to_string())
        .collect();
    if !disagreeing.is_empty() {
        writeln!(
            w,
            "\nthe probe contradicts binfmt_misc for {}: trust the probe (the engine may run in \
             another kernel or user namespace, or the CPU lacks a 32-bit mode)",
            disagreeing.join(", ")
        )?;
    }
    Ok(())
}

fn mode_text(mode: &ExecMode) -> String {
    match mode {
        ExecMode::Emulated { emulator } => match emulator.version_number() {
            Some(v) => format!("emulated by {} {v}", emulator.entry),
            None => format!("emulated by {}", emulator.entry),
        },
        other => other.to_string(),
    }
}

fn probe_text(r: &ProbeReport) -> String {
    let verdict = match r.agrees {
        Some(true) => " (agrees)",
        Some(false) => " (DISAGREES)",
        None => "",
    };
    match &r.outcome {
        ProbeOutcome::Ok { duration_ms } => match &r.emulator {
            Some(seen) if seen.interpreter.is_empty() => {
                format!("ok {duration_ms}ms{verdict}, emulator not shown")
            }
            Some(seen) => format!(
                "ok {duration_ms}ms{verdict}, {} {}",
                seen.kind, seen.interpreter
            ),
            None => format!("ok {duration_ms}ms{verdict}"),
        },
        ProbeOutcome::Failed { .. } => format!("failed{verdict}"),
        ProbeOutcome::NotProbed { reason } => format!("not probed: {reason}"),
    }
}

fn widths<S: AsRef<str>>(header: &[&str], rows: &[Vec<S>]) -> Vec<usize> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.as_ref().chars().count());
        }
    }
    widths
}

fn line<S: AsRef<str>>(cells: &[S], widths: &[usize]) -> String {
    cells
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{:<w$}", c.as_ref(), w = widths[i]))
        .collect::<Vec<_>>()
        .join("  ")
        .trim_end()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mode::{Emulator, EmulatorKind};
    use crate::platform::Platform;

    fn emulated() -> ExecMode {
        ExecMode::Emulated {
            emulator: Emulator {
                entry: "qemu-aarch64".into(),
                interpreter: "/usr/libexec/qemu-binfmt/aarch64-binfmt-P".into(),
                flags: "POF".into(),
                kind: EmulatorKind::Qemu,
                version: Some("qemu-aarch64 version 7.2.22 (Debian)".into()),
            },
        }
    }

    fn unavailable() -> ExecMode {
        ExecMode::Unavailable {
            reason: "no binfmt_misc entry on this machine runs linux/s390x executables".into(),
            hint: "sudo apt-get install qemu-user-static && sudo archsmoke binfmt install s390x"
                .into(),
        }
    }

    #[test]
    fn agreement_follows_the_decision() {
        let ok = || ProbeOutcome::Ok { duration_ms: 5 };
        let failed = || ProbeOutcome::Failed {
            message: "exec format error".into(),
        };
        assert_eq!(ProbeReport::new(ok(), &emulated()).agrees, Some(true));
        assert_eq!(ProbeReport::new(failed(), &emulated()).agrees, Some(false));
        assert_eq!(
            ProbeReport::new(failed(), &unavailable()).agrees,
            Some(true)
        );
        assert_eq!(ProbeReport::new(ok(), &unavailable()).agrees, Some(false));
        let native = ExecMode::Native { compat: true };
        assert_eq!(ProbeReport::new(ok(), &native).agrees, Some(true));
        let skipped = ProbeOutcome::NotProbed {
            reason: "no probe program".into(),
        };
        assert_eq!(ProbeReport::new(skipped, &native).agrees, None);
    }

    fn report() -> DoctorReport {
        let arm64 = Platform::parse("linux/arm64").expect("valid");
        let s390x = Platform::parse("linux/s390x").expect("valid");
        DoctorReport {
            schema_version: DOCTOR_SCHEMA_VERSION,
            probe_run_id: Some("0123abcd".into()),
            engine: EngineStatus {
                endpoint: "unix:///nowhere.sock".into(),
                reachable: false,
                info: None,
                error: Some("cannot reach unix:///nowhere.sock: connection refused".into()),
                hint: Some("start the engine".into()),
                origin: None,
                kind: None,
                kernel: None,
                operating_system: None,
                locality: None,
            },
            sockets: Vec::new(),
            probe_cache: None,
            binfmt: BinfmtReport {
                dir: "/proc/sys/fs/binfmt_misc".into(),
                mounted: true,
                enabled: true,
                error: None,
                applies_to_engine: true,
                note: None,
                entries: vec![EntryReport {
                    name: "qemu-aarch64".into(),
                    enabled: true,
                    interpreter: "/usr/libexec/qemu-binfmt/aarch64-binfmt-P".into(),
                    flags: "OF".into(),
                    kind: EmulatorKind::Qemu,
                    architectures: vec!["arm64".into()],
                    version: Some("qemu-aarch64 version 7.2.22".into()),
                    warnings: vec!["without P, multi-call binaries break".into()],
                }],
            },
            platforms: vec![
                PlatformReport {
                    probe: Some(ProbeReport::new(
                        ProbeOutcome::Ok { duration_ms: 40 },
                        &emulated(),
                    )),
                    platform: arm64,
                    decision: emulated(),
                },
                PlatformReport {
                    probe: Some(ProbeReport::new(
                        ProbeOutcome::Ok { duration_ms: 9 },
                        &unavailable(),
                    )),
                    platform: s390x,
                    decision: unavailable(),
                },
                PlatformReport {
                    probe: Some(ProbeReport::new(
                        ProbeOutcome::Failed {
                            message: "exec /probe: exec format error".into(),
                        },
                        &unavailable(),
                    )),
                    platform: Platform::parse("linux/loong64").expect("valid"),
                    decision: unavailable(),
                },
            ],
        }
    }

    #[test]
    fn table_shows_entries_modes_fixes_and_disagreements() {
        let mut out = Vec::new();
        render_table(&report(), &mut out).expect("renders into a Vec");
        let text = String::from_utf8(out).expect("UTF-8");
        assert!(
            text.contains(
                "engine  UNREACHABLE: cannot reach unix:///nowhere.sock: connection refused"
            ),
            "{text}"
        );
        assert!(
            text.contains("  ! without P, multi-call binaries break"),
            "{text}"
        );
        let arm = text
            .lines()
            .find(|l| l.starts_with("linux/arm64"))
            .expect("arm64 row");
        assert!(
            arm.contains("emulated by qemu-aarch64 7.2.22") && arm.contains("ok 40ms (agrees)"),
            "{arm}"
        );
        // The fix is shown under the platform the probe could not run, not under the one it ran.
        let fix = "  fix: sudo apt-get install qemu-user-static && sudo archsmoke binfmt install";
        let after = |platform: &str| {
            text.lines()
                .skip_while(|l| !l.starts_with(platform))
                .skip(1)
                .take_while(|l| l.starts_with("  "))
                .collect::<Vec<_>>()
        };
        assert!(
            after("linux/loong64").iter().any(|l| l.starts_with(fix)),
            "{text}"
        );
        assert!(
            after("linux/loong64").contains(&"  probe: exec /probe: exec format error"),
            "{text}"
        );
        assert!(
            !after("linux/s390x").iter().any(|l| l.starts_with(fix)),
            "{text}"
        );
        assert!(
            text.contains("(DISAGREES)")
                && text.contains("contradicts binfmt_misc for linux/s390x"),
            "{text}"
        );
    }

    #[test]
    fn json_is_versioned_and_tags_modes_and_probes() {
        let v: serde_json::Value =
            serde_json::from_str(&render_json(&report())).expect("valid JSON");
        assert_eq!(v["schema_version"], DOCTOR_SCHEMA_VERSION);
        assert_eq!(v["probe_run_id"], "0123abcd");
        assert_eq!(v["engine"]["reachable"], false);
        assert_eq!(v["binfmt"]["entries"][0]["flags"], "OF");
        assert_eq!(v["platforms"][0]["platform"], "linux/arm64");
        assert_eq!(v["platforms"][0]["decision"]["mode"], "emulated");
        assert_eq!(v["platforms"][0]["probe"]["status"], "ok");
        assert_eq!(v["platforms"][0]["probe"]["agrees"], true);
        assert_eq!(v["platforms"][1]["probe"]["agrees"], false);
    }
}
