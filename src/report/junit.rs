//! JUnit XML for CI dashboards (Jenkins, GitLab, the common GitHub actions), from a finished
//! [`RunReport`].
//!
//! Layout: one `<testsuite>` per platform, named after it (`linux/arm64`), with `tests`,
//! `failures`, `errors`, `skipped`, `time` (the platform's wall time, pull and image checks
//! included) and `timestamp` (when the run started). Each test is a
//! `<testcase classname="<suite>.<platform>" name="<test>">`, where `<suite>` is the spec's file
//! stem. A failed or timed-out test carries one `<failure>` whose
//! `type` is the first check that failed (`exit code`, `stdout`, `timeout`, ...) and whose body
//! lists expected vs actual for every mismatch; a test the engine could not run carries
//! `<error>`; a test an interrupt kept from running carries `<skipped>`. Captured output goes to
//! `system-out`/`system-err`.
//!
//! A platform that failed as a whole (missing from the index, mislabelled, no emulator, pull
//! failed) gets a test case named `platform` so that dashboards, which only count test cases,
//! show it. Defects of the image (a missing or mislabelled platform) are `<failure>`s and
//! failures around it (registry, engine, emulator, interrupt) are `<error>`s: the same line the
//! exit code draws between 1 and 3. A run that stopped before any platform ran (registry
//! unreachable) becomes one suite named after the spec with one `run` error case.
//!
//! Per-platform facts (index digest, chosen entry and why, execution mode and emulator, pull,
//! slowdown, engine) appear twice: as `<properties>` for tools, and as the suite's `system-out`
//! for people, since neither GitLab nor Jenkins' test pages show suite properties.
//!
//! junit-report 0.9 lacks `<properties>`, the suite `skipped` attribute and the root totals, and
//! sets `timestamp` from the clock. Its output is therefore rewritten once, event by event with
//! quick-xml (its own XML library), to add them: the junit-10.xsd that Jenkins' xUnit plugin
//! validates against allows `properties` anywhere inside `testsuite`, `skipped` on `testsuite`,
//! and `name`/`tests`/`failures`/`errors`/`time` on `testsuites`. The rewrite also indents the
//! document; CDATA content is never touched. Every string is made XML-safe by [`text`] first.

mod text;

use std::io;
use std::path::Path;
use std::time::Duration;

use junit_report::{Report, TestCase, TestCaseBuilder, TestSuite, TestSuiteBuilder};
use quick_xml::events::{BytesEnd, BytesStart, Event};
use quick_xml::{Reader, Writer};

use crate::outcome::{
    EmulationOnly, PlatformReport, Problem, ProblemKind, RunReport, TestReport, TestStatus,
};

/// Longest `message` attribute, in characters: dashboards show it on one line.
const MESSAGE_CHARS: usize = 400;
/// Longest expected or actual value in a failure body, in characters; the full output is in
/// `system-out`/`system-err`.
const VALUE_CHARS: usize = 4000;

/// The report as a JUnit XML document.
///
/// # Panics
///
/// Never for any `RunReport`: it writes into memory and then re-reads its own sanitized output,
/// and the tests feed it the hostile cases (control characters, `]]>`, 2 MiB outputs).
pub fn render(report: &RunReport) -> String {
    let (suites, extras): (Vec<TestSuite>, Vec<SuiteExtras>) = suites(report).into_iter().unzip();
    let mut lib = Report::new();
    lib.add_testsuites(suites);
    let mut raw = Vec::new();
    lib.write_xml(&mut raw)
        .expect("writing XML into a Vec cannot fail: the only errors junit-report has are I/O");
    let root = root_attributes(report, &extras);
    let mut xml = decorate(&raw, &root, &extras, &text::line(&report.started_at))
        .expect("junit-report's output of sanitized strings is well-formed XML");
    xml.push(b'\n');
    String::from_utf8(xml).expect("every string that went in was UTF-8")
}

/// Writes [`render`]'s document to `path`, atomically (see [`super::write_atomically`]).
pub fn write(report: &RunReport, path: &Path) -> io::Result<()> {
    super::write_atomically(path, render(report).as_bytes())
}

/// What junit-report cannot express, added by [`decorate`].
struct SuiteExtras {
    skipped: usize,
    tests: usize,
    failures: usize,
    errors: usize,
    /// The platform's wall time, for its suite's `time`: its test cases overlap (image checks
    /// run beside the containers) and leave out the pull, so their sum says neither.
    time: Option<Duration>,
    /// Name and value, both already sanitized.
    properties: Vec<(String, String)>,
}

fn suites(report: &RunReport) -> Vec<(TestSuite, SuiteExtras)> {
    let mut out: Vec<_> = report
        .platforms
        .iter()
        .map(|p| platform_suite(report, p))
        .collect();
    if let Some(problem) = &report.problem {
        let mut case = problem_case("run", problem);
        case.set_classname(&text::line(&report.suite));
        out.push(suite(&report.suite, report, vec![case], run_facts(report)));
    }
    out
}

fn platform_suite(report: &RunReport, p: &PlatformReport) -> (TestSuite, SuiteExtras) {
    // A platform run twice (natively and emulated, `--compare-emulation`) is told apart by its
    // engine.
    let twice = report
        .platforms
        .iter()
        .filter(|q| q.platform == p.platform)
        .count()
        > 1;
    let name = match (&p.engine, twice) {
        (Some(engine), true) => format!("{}@{engine}", p.platform),
        _ => p.platform.to_string(),
    };
    let classname = text::line(&format!("{}.{name}", report.suite));
    let mut cases = Vec::with_capacity(p.tests.len() + 1);
    if let Some(problem) = &p.problem {
        let mut case = problem_case("platform", problem);
        case.set_classname(&classname);
        cases.push(case);
    } else if p.untested() {
        // A failure, not a skip: an empty suite vanishes from Jenkins' and GitLab's test
        // views, and a skipped case reads as a choice, while the run fails its gate (exit 1)
        // for this platform; the dashboard must show the same red the exit code means.
        let problem = p.untested_problem();
        let mut body = format!("not tested: {}", problem.message);
        if let Some(hint) = &problem.hint {
            body.push_str("\nhint: ");
            body.push_str(hint);
        }
        let mut b = TestCaseBuilder::failure(
            "not tested",
            junit_duration(Duration::ZERO),
            "not_tested",
            &message(&format!("not tested: {}", problem.message)),
        );
        b.set_system_out(&text::block("", 0, &body));
        b.set_classname(&classname);
        cases.push(b.build());
    }
    let only: Vec<EmulationOnly> = report
        .emulation_only()
        .into_iter()
        .filter(|e| e.platform == p.platform)
        .collect();
    cases.extend(p.tests.iter().map(|t| {
        let note = only.iter().find(|e| e.test == t.name);
        test_case(&classname, t, note)
    }));
    let mut out = suite(&name, report, cases, platform_facts(report, p));
    out.1.time = Some(p.duration);
    out
}

fn suite(
    name: &str,
    report: &RunReport,
    cases: Vec<TestCase>,
    facts: Vec<(String, String)>,
) -> (TestSuite, SuiteExtras) {
    let mut suite = TestSuiteBuilder::new(&text::line(name))
        .add_testcases(cases)
        .set_system_out(&text::block("", 0, &facts_text(&facts)))
        .build();
    // junit-report's default, `testsuite/<name>`, means nothing to anyone.
    suite.package = text::line(&report.suite);
    let extras = SuiteExtras {
        skipped: suite.skipped(),
        tests: suite.tests(),
        failures: suite.failures(),
        errors: suite.errors(),
        time: None,
        properties: facts
            .into_iter()
            .map(|(k, v)| (text::line(&format!("archsmoke.{k}")), text::line(&v)))
            .collect(),
    };
    (suite, extras)
}

/// A test's case; `emulation_only` when it passed natively and failed here under emulation,
/// which its failure message then says first (dashboards show the message, not the trace).
fn test_case(classname: &str, t: &TestReport, emulation_only: Option<&EmulationOnly>) -> TestCase {
    let name = text::line(&t.name);
    let time = junit_duration(t.duration);
    let mut b = match t.status {
        TestStatus::Passed => TestCaseBuilder::success(&name, time),
        TestStatus::Failed | TestStatus::TimedOut => {
            let lead = emulation_only
                .map(|e| format!("{}: ", super::words::emulation_only(e)))
                .unwrap_or_default();
            let mut b = TestCaseBuilder::failure(
                &name,
                time,
                &text::line(failure_type(t)),
                &message(&format!("{lead}{}", failure_message(t))),
            );
            b.set_trace(&text::body(&text::clean(&format!(
                "{lead}{}",
                failure_body(t)
            ))));
            b
        }
        TestStatus::Error => {
            let error = t
                .error
                .as_deref()
                .unwrap_or("the engine could not run the test");
            let mut b = TestCaseBuilder::error(&name, time, "engine", &message(error));
            b.set_trace(&text::body(&text::clean(&format!(
                "{error}\n{}",
                command_line(t)
            ))));
            b
        }
        TestStatus::NotRun => TestCaseBuilder::skipped_with_cause(
            &name,
            "not run",
            "not run: the run was interrupted before this test started",
        ),
        TestStatus::Skipped => TestCaseBuilder::skipped_with_cause(
            &name,
            "not tested",
            &message(t.error.as_deref().unwrap_or("its platform was not tested")),
        ),
    };
    b.set_classname(classname);
    // Image checks at warning level pass with mismatches; JUnit has no warnings, so they go
    // to system-out, where dashboards show them.
    if t.status == TestStatus::Passed && !t.mismatches.is_empty() && t.stdout.is_empty() {
        let warnings: String = t
            .mismatches
            .iter()
            .map(|m| {
                format!(
                    "warning: {}: expected {}, found {}\n",
                    m.check, m.expected, m.actual
                )
            })
            .collect();
        b.set_system_out(&text::block("", 0, &warnings));
    }
    if !t.stdout.is_empty() || t.stdout_omitted > 0 {
        b.set_system_out(&text::block(&t.stdout_head, t.stdout_omitted, &t.stdout));
    }
    if !t.stderr.is_empty() || t.stderr_omitted > 0 {
        b.set_system_err(&text::block(&t.stderr_head, t.stderr_omitted, &t.stderr));
    }
    b.build()
}

/// A failure of a platform or of the whole run, as a test case named `name`.
fn problem_case(name: &str, problem: &Problem) -> TestCase {
    let kind = super::words::problem_kind(problem.kind);
    let mut body = problem.message.clone();
    if let Some(hint) = &problem.hint {
        body.push_str("\nhint: ");
        body.push_str(hint);
    }
    if problem.kind == ProblemKind::NotTested {
        return TestCaseBuilder::skipped_with_cause(name, kind, &message(&body)).build();
    }
    let mut b = if problem.kind.is_defect() {
        TestCaseBuilder::failure(
            name,
            junit_duration(Duration::ZERO),
            kind,
            &message(&problem.message),
        )
    } else {
        TestCaseBuilder::error(
            name,
            junit_duration(Duration::ZERO),
            kind,
            &message(&problem.message),
        )
    };
    b.set_trace(&text::body(&text::clean(&body)));
    b.build()
}

fn failure_type(t: &TestReport) -> &str {
    if t.status == TestStatus::TimedOut {
        return "timeout";
    }
    t.mismatches.first().map_or("failed", |m| m.check.as_str())
}

/// One line: what failed, with short expected/actual values.
fn failure_message(t: &TestReport) -> String {
    if t.status == TestStatus::TimedOut {
        return format!(
            "timed out after {}; the container was killed",
            humantime::format_duration(t.timeout)
        );
    }
    if t.mismatches.is_empty() {
        return "failed".into();
    }
    t.mismatches
        .iter()
        .map(|m| {
            let shown = |v: &str| shown(m, v, 80);
            format!(
                "{}: expected {}, got {}",
                m.check,
                shown(&m.expected),
                shown(&m.actual)
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// One of a mismatch's values, quoted only when it must be ([`super::needs_quotes`]).
fn shown(m: &crate::outcome::Mismatch, value: &str, max_chars: usize) -> String {
    if super::needs_quotes(m) {
        text::quote(value, max_chars)
    } else {
        text::shorten(&text::line(value), max_chars)
    }
}

/// Every mismatch with expected vs actual, then what ran.
fn failure_body(t: &TestReport) -> String {
    let mut out = String::new();
    for m in &t.mismatches {
        out.push_str(&format!(
            "{}\n  expected: {}\n  actual:   {}\n",
            m.check,
            shown(m, &m.expected, VALUE_CHARS),
            shown(m, &m.actual, VALUE_CHARS)
        ));
        if let Some(note) = &m.note {
            out.push_str(&format!("  note: {note}\n"));
        }
    }
    for (stream, head, omitted, tail) in [
        ("stdout", &t.stdout_head, t.stdout_omitted, &t.stdout),
        ("stderr", &t.stderr_head, t.stderr_omitted, &t.stderr),
    ] {
        if omitted > 0 {
            out.push_str(&super::words::cut_note(stream, head, omitted, tail));
            out.push('\n');
        }
    }
    out.push_str(&command_line(t));
    if let Some(code) = t.exit_code {
        out.push_str(&format!(
            "\nexit code: {code} (expected {})",
            t.expected_exit
        ));
    }
    // Image checks (metadata, files, audit) read layers and have no deadline: no time to show.
    if !t.timeout.is_zero() {
        out.push_str(&format!(
            "\nduration: {:.3}s (timeout {})",
            t.duration.as_secs_f64(),
            humantime::format_duration(t.timeout)
        ));
    }
    out
}

fn command_line(t: &TestReport) -> String {
    match &t.command {
        Some(cmd) => format!("command: {cmd:?}"),
        None => "command: the image's default".into(),
    }
}

fn message(s: &str) -> String {
    text::shorten(&text::line(s), MESSAGE_CHARS)
}

/// Milliseconds are what dashboards show; finer digits are noise.
fn junit_duration(d: Duration) -> junit_report::Duration {
    junit_report::Duration::milliseconds(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

use super::words::secs_exact as secs;

/// Facts about one platform's run, as (key, value); keys are stable (they become property names).
fn platform_facts(report: &RunReport, p: &PlatformReport) -> Vec<(String, String)> {
    let mut f = Vec::new();
    let mut push = |k: &str, v: String| f.push((k.to_owned(), v));
    push("platform", p.platform.to_string());
    if let Some(name) = &p.engine {
        push("engine.name", name.clone());
        if let Some(e) = report.engines.iter().find(|e| &e.name == name) {
            push("engine.endpoint", e.endpoint.clone());
            push("engine.platform", e.platform.to_string());
        }
    }
    push("image", report.image.reference.clone());
    if let Some(d) = &report.image.digest {
        push("index_digest", d.clone());
    }
    if let Some(e) = &p.entry {
        push("entry.digest", e.digest.clone());
        push("entry.platform", e.platform.to_string());
        push("entry.reason", e.reason.clone());
    }
    if let Some(mode) = &p.mode {
        push("mode", mode.to_string());
    }
    if let Some(pull) = &p.pull {
        push("pull.image_id", pull.image_id.clone());
        push("pull.pulled", pull.pulled.to_string());
        push("pull.seconds", secs(pull.duration));
    }
    push("duration_seconds", secs(p.duration));
    if let Some(s) = p.slowdown {
        push("slowdown", format!("{s:.2}"));
    }
    if let Some(problem) = &p.problem {
        push(
            "problem.kind",
            super::words::problem_kind(problem.kind).into(),
        );
        push("problem.message", problem.message.clone());
        if let Some(h) = &problem.hint {
            push("problem.hint", h.clone());
        }
    }
    let only: Vec<String> = report
        .emulation_only()
        .into_iter()
        .filter(|e| e.platform == p.platform)
        .map(|e| e.test)
        .collect();
    if !only.is_empty() {
        push("failed_only_under_emulation", only.join(", "));
    }
    f.extend(super::service::facts(p));
    // The mode's own serialization carries the emulator's details (interpreter, flags,
    // version); flattening it keeps them without this module knowing their shape.
    if let Some(mode) = &p.mode
        && let Ok(value) = serde_json::to_value(mode)
    {
        flatten("execution", &value, &mut f);
    }
    f.extend(common_facts(report));
    f
}

fn run_facts(report: &RunReport) -> Vec<(String, String)> {
    let mut f = vec![("image".to_owned(), report.image.reference.clone())];
    if let Some(d) = &report.image.digest {
        f.push(("index_digest".into(), d.clone()));
    }
    if let Some(problem) = &report.problem {
        f.push((
            "problem.kind".into(),
            super::words::problem_kind(problem.kind).into(),
        ));
        f.push(("problem.message".into(), problem.message.clone()));
        if let Some(h) = &problem.hint {
            f.push(("problem.hint".into(), h.clone()));
        }
    }
    f.extend(common_facts(report));
    f
}

fn common_facts(report: &RunReport) -> Vec<(String, String)> {
    let mut f = Vec::new();
    if let Some(e) = &report.engine {
        f.push((
            "engine".to_owned(),
            format!(
                "Docker {} (API {}) {} at {}{}",
                e.version,
                e.api_version,
                e.platform,
                e.endpoint,
                if e.rootless { ", rootless" } else { "" }
            ),
        ));
    }
    f.push(("spec".into(), report.spec.clone()));
    f.push(("run_id".into(), report.run_id.clone()));
    if report.interrupted {
        f.push(("interrupted".into(), "true".into()));
    }
    f
}

/// `{"a": {"b": 1}}` under `p` becomes `p.a.b = 1`; nulls are left out.
fn flatten(prefix: &str, value: &serde_json::Value, out: &mut Vec<(String, String)>) {
    use serde_json::Value;
    match value {
        Value::Null => {}
        Value::Object(map) => {
            for (k, v) in map {
                flatten(&format!("{prefix}.{k}"), v, out);
            }
        }
        Value::String(s) => out.push((prefix.to_owned(), s.clone())),
        other => out.push((prefix.to_owned(), other.to_string())),
    }
}

fn facts_text(facts: &[(String, String)]) -> String {
    let width = facts.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    facts
        .iter()
        .map(|(k, v)| format!("{k:<width$}  {v}\n"))
        .collect()
}

/// The attributes of `<testsuites>`: totals over every suite.
fn root_attributes(report: &RunReport, extras: &[SuiteExtras]) -> Vec<(&'static str, String)> {
    let sum = |f: fn(&SuiteExtras) -> usize| extras.iter().map(f).sum::<usize>().to_string();
    vec![
        ("name", text::line(&report.suite)),
        ("tests", sum(|e| e.tests)),
        ("failures", sum(|e| e.failures)),
        ("errors", sum(|e| e.errors)),
        ("time", secs(report.duration)),
    ]
}

/// Rewrites junit-report's document: root totals, each suite's `skipped` and real `timestamp`,
/// and a `<properties>` block at the top of each suite. Everything else passes through as read.
fn decorate(
    xml: &[u8],
    root: &[(&'static str, String)],
    extras: &[SuiteExtras],
    timestamp: &str,
) -> io::Result<Vec<u8>> {
    let invalid = |e: quick_xml::Error| io::Error::new(io::ErrorKind::InvalidData, e);
    let mut reader = Reader::from_reader(xml);
    let mut writer = Writer::new_with_indent(Vec::with_capacity(xml.len() * 2), b' ', 2);
    let mut suites = extras.iter();
    let mut buf = Vec::new();
    loop {
        let (e, empty) = match reader.read_event_into(&mut buf).map_err(invalid)? {
            Event::Start(e) => (e, false),
            Event::Empty(e) => (e, true),
            Event::Eof => break,
            other => {
                writer.write_event(other)?;
                buf.clear();
                continue;
            }
        };
        match e.name().as_ref() {
            b"testsuites" => {
                let mut start = BytesStart::new("testsuites");
                for (k, v) in root {
                    start.push_attribute((*k, v.as_str()));
                }
                writer.write_event(if empty {
                    Event::Empty(start)
                } else {
                    Event::Start(start)
                })?;
            }
            b"testsuite" => {
                let x = suites.next().ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        "junit-report wrote more test suites than it was given",
                    )
                })?;
                writer.write_event(Event::Start(suite_start(&e, x, timestamp)?))?;
                write_properties(&mut writer, &x.properties)?;
                if empty {
                    writer.write_event(Event::End(BytesEnd::new("testsuite")))?;
                }
            }
            _ => {
                let e = fixed_times(&e)?;
                writer.write_event(if empty {
                    Event::Empty(e)
                } else {
                    Event::Start(e)
                })?
            }
        }
        buf.clear();
    }
    Ok(writer.into_inner())
}

/// The suite's start tag as junit-report wrote it, with `timestamp` replaced and `skipped` added.
fn suite_start(
    e: &BytesStart,
    x: &SuiteExtras,
    timestamp: &str,
) -> io::Result<BytesStart<'static>> {
    let mut start = BytesStart::new("testsuite");
    for attr in e.attributes() {
        let attr = attr.map_err(|err| io::Error::new(io::ErrorKind::InvalidData, err))?;
        match attr.key.as_ref() {
            b"timestamp" => start.push_attribute(("timestamp", timestamp)),
            b"time" => {
                let time = x.time.map_or_else(|| fixed_time(&attr.value), secs);
                start.push_attribute(("time", time.as_str()));
            }
            b"failures" => {
                start.push_attribute(attr);
                start.push_attribute(("skipped", x.skipped.to_string().as_str()));
            }
            _ => start.push_attribute(attr),
        }
    }
    Ok(start)
}

/// junit-report prints `time` as an `f64` sum (`1.3439999999999999`); dashboards and people read
/// milliseconds, so every `time` is rewritten with exactly three decimals.
fn fixed_times(e: &BytesStart) -> io::Result<BytesStart<'static>> {
    let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
    let mut out = BytesStart::new(name);
    for attr in e.attributes() {
        let attr = attr.map_err(|err| io::Error::new(io::ErrorKind::InvalidData, err))?;
        if attr.key.as_ref() == b"time" {
            out.push_attribute(("time", fixed_time(&attr.value).as_str()));
        } else {
            out.push_attribute(attr);
        }
    }
    Ok(out)
}

fn fixed_time(value: &[u8]) -> String {
    let text = String::from_utf8_lossy(value);
    text.parse::<f64>()
        .map_or_else(|_| text.into_owned(), |secs| format!("{secs:.3}"))
}

fn write_properties(
    writer: &mut Writer<Vec<u8>>,
    properties: &[(String, String)],
) -> io::Result<()> {
    if properties.is_empty() {
        return Ok(());
    }
    writer.write_event(Event::Start(BytesStart::new("properties")))?;
    for (name, value) in properties {
        let mut p = BytesStart::new("property");
        p.push_attribute(("name", name.as_str()));
        p.push_attribute(("value", value.as_str()));
        writer.write_event(Event::Empty(p))?;
    }
    writer.write_event(Event::End(BytesEnd::new("properties")))
}

#[cfg(test)]
mod tests;
