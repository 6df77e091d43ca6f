//! The HTML report on the shared fixture reports, read back with a strict XML parser: the page
//! is well-formed, has the sections a reviewer looks for, escapes hostile text and loads nothing.

use std::time::Duration;

use roxmltree::{Document, Node, ParsingOptions};

use super::*;
use crate::outcome::{Mismatch, TestReport, TestStatus};
use crate::report::fixtures::{self, mismatch, passed, platform};

fn html(report: &RunReport) -> String {
    render(report).expect("the template renders")
}

fn parse(text: &str) -> Document<'_> {
    let opts = ParsingOptions {
        allow_dtd: true,
        ..ParsingOptions::default()
    };
    Document::parse_with_options(text, opts)
        .unwrap_or_else(|e| panic!("the page is not well-formed: {e}\n{text}"))
}

fn class_has(n: &Node, class: &str) -> bool {
    n.attribute("class")
        .is_some_and(|c| c.split_whitespace().any(|x| x == class))
}

fn by_class<'a, 'i>(doc: &'a Document<'i>, tag: &str, class: &str) -> Vec<Node<'a, 'i>> {
    doc.descendants()
        .filter(|n| n.has_tag_name(tag) && class_has(n, class))
        .collect()
}

fn by_id<'a, 'i>(doc: &'a Document<'i>, id: &str) -> Node<'a, 'i> {
    doc.descendants()
        .find(|n| n.attribute("id") == Some(id))
        .unwrap_or_else(|| panic!("no element #{id}"))
}

/// All the text under a node, as a browser's `textContent`.
fn text(n: Node) -> String {
    n.descendants()
        .filter(Node::is_text)
        .filter_map(|d| d.text())
        .collect()
}

/// A test that printed `stdout` on one platform and must match the native one's.
fn same_output_report() -> RunReport {
    let mut report = fixtures::all_passing();
    crate::check::across::same_output(&mut report, &["uname".to_owned()], &platform("linux/amd64"));
    report
}

#[test]
fn a_passing_run_has_the_verdict_image_matrix_and_one_bar_per_platform() {
    let report = fixtures::all_passing();
    let page = html(&report);
    assert!(
        page.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"),
        "{page}"
    );
    let doc = parse(&page);

    let verdict = by_id(&doc, "verdict");
    assert!(class_has(&verdict, "passed"), "{}", text(verdict));
    assert!(
        text(verdict).contains("2/2 platforms passed, 4/4 tests passed in 42.5s"),
        "{}",
        text(verdict)
    );
    let image = text(by_id(&doc, "image"));
    for expected in [
        "127.0.0.1:5000/demo/busybox:multi",
        fixtures::INDEX_DIGEST,
        "registry",
        "Docker 20.10.24 (API 1.41), linux/amd64 at unix:///var/run/docker.sock",
    ] {
        assert!(image.contains(expected), "{expected} in {image}");
    }

    let rows: Vec<Node> = by_id(&doc, "matrix")
        .descendants()
        .filter(|n| n.has_tag_name("tr") && n.attribute("data-platform").is_some())
        .collect();
    assert_eq!(rows.len(), 2);
    let cells = |row: &Node| -> Vec<String> {
        row.children()
            .filter(|c| c.has_tag_name("td"))
            .map(|c| text(c).trim().to_owned())
            .collect()
    };
    assert_eq!(
        cells(&rows[0]),
        [
            "linux/amd64",
            "010101010101",
            "Docker 20.10.24",
            "native",
            "-",
            "2",
            "0",
            "1.43s",
            "1.0×",
            "ok"
        ]
    );
    assert_eq!(
        cells(&rows[1]),
        [
            "linux/arm64",
            "020202020202",
            "Docker 20.10.24",
            "emulated",
            "qemu-aarch64 7.2.11",
            "2",
            "0",
            "3.28s",
            "10.2×",
            "ok"
        ]
    );

    let bars = by_class(&doc, "g", "bar");
    assert_eq!(bars.len(), 2, "one bar per platform");
    let modes: Vec<_> = bars.iter().map(|b| b.attribute("data-mode")).collect();
    assert_eq!(modes, [Some("native"), Some("emulated")]);
    let phases = |bar: &Node| -> Vec<String> {
        bar.children()
            .filter_map(|c| c.attribute("data-phase").map(str::to_owned))
            .collect()
    };
    assert_eq!(phases(&bars[0]), ["pull", "containers"]);
    assert_eq!(phases(&bars[1]), ["pull", "containers"]);
    // Emulated bars are hatched as well as coloured, so grayscale print still tells them apart.
    let hatched = |bar: &Node| {
        bar.children()
            .filter(|c| c.attribute("fill") == Some("url(#hatch)"))
            .count()
    };
    assert_eq!(hatched(&bars[0]), 0);
    assert_eq!(hatched(&bars[1]), 2);
    assert!(text(bars[1]).contains("emulated · qemu-aarch64"));
    assert!(text(bars[1]).contains("3.28s (10.2×)"));
    // Bars are drawn to scale: arm64's 3.28 s is longer than amd64's 1.43 s.
    let width = |bar: &Node| -> f64 {
        bar.children()
            .filter_map(|c| c.attribute("data-phase").and(c.attribute("width")))
            .map(|w| w.parse::<f64>().expect("numeric width"))
            .sum()
    };
    let (amd, arm) = (width(&bars[0]), width(&bars[1]));
    assert!((arm / amd - 3.284 / 1.434).abs() < 0.02, "{amd} vs {arm}");
    let legend = text(by_id(&doc, "time"));
    for segment in [
        "pull/load:",
        "containers:",
        "audit:",
        "native (solid)",
        "emulated (hatched)",
    ] {
        assert!(
            legend.contains(segment),
            "{segment} in the legend: {legend}"
        );
    }

    // No failures, nothing skipped: those sections are left out.
    assert!(!page.contains("id=\"failures\"") && !page.contains("id=\"not-tested\""));
}

#[test]
fn the_heat_map_has_a_cell_per_platform_and_test_and_marks_failures() {
    let report = fixtures::mixed();
    let page = html(&report);
    let doc = parse(&page);
    let heat = by_id(&doc, "heatmap");
    let header: Vec<String> = heat
        .descendants()
        .filter(|n| n.has_tag_name("th") && n.attribute("data-mode").is_some())
        .map(|n| text(n))
        .collect();
    assert_eq!(header.len(), report.platforms.len(), "{header:?}");
    let rows: Vec<Node> = heat
        .descendants()
        .filter(|n| n.has_tag_name("tr") && n.children().any(|c| class_has(&c, "test")))
        .collect();
    let names: Vec<String> = rows
        .iter()
        .map(|r| text(r.first_element_child().expect("a header")))
        .collect();
    assert_eq!(names, ["shell runs", "uname", "node starts", "pull tls"]);
    let uname: Vec<Node> = rows[1]
        .children()
        .filter(|c| c.has_tag_name("td"))
        .collect();
    assert_eq!(uname.len(), report.platforms.len());
    assert!(class_has(&uname[0], "passed") && text(uname[0]) == "0.09s");
    assert!(
        class_has(&uname[1], "failed"),
        "{:?}",
        uname[1].attribute("class")
    );
    assert_eq!(text(uname[1]), "0.18s✗");
    assert!(
        uname[1]
            .attribute("title")
            .is_some_and(|t| t == "uname on linux/arm64: failed, 0.18s"),
        "{:?}",
        uname[1].attribute("title")
    );
    assert!(class_has(&uname[2], "absent"), "arm/v7 never ran uname");
    assert!(
        class_has(&uname[4], "notrun"),
        "ppc64le was stopped before it"
    );
    let node: Vec<Node> = rows[2]
        .children()
        .filter(|c| c.has_tag_name("td"))
        .collect();
    assert!(class_has(&node[1], "timedout") && text(node[1]).ends_with('⊘'));
    // The slowest test is the darkest, the quickest the lightest.
    assert!(
        class_has(&node[1], "heat-5"),
        "{:?}",
        node[1].attribute("class")
    );
    let levels: Vec<&str> = heat
        .descendants()
        .filter_map(|n| n.attribute("class"))
        .filter_map(|c| c.split_whitespace().find(|x| x.starts_with("heat-")))
        .collect();
    assert_eq!(
        levels.iter().filter(|l| **l == "heat-5").count(),
        1,
        "{levels:?}"
    );
    assert!(levels.iter().any(|l| *l < "heat-3"), "{levels:?}");
}

#[test]
fn failures_show_expected_and_actual_and_problems_their_hints() {
    let report = fixtures::mixed();
    let page = html(&report);
    let doc = parse(&page);
    assert!(class_has(&by_id(&doc, "verdict"), "failed"));
    let failures = by_class(&doc, "div", "failure");
    let titles: Vec<String> = failures
        .iter()
        .map(|f| text(f.first_element_child().expect("a heading")))
        .collect();
    assert_eq!(
        titles,
        [
            "linux/arm64 › uname failed (0.18s)",
            "linux/arm64 › node starts timed out (300.0s)",
            "linux/arm64 › pull tls could not run (0.01s)",
            "linux/ppc64le › shell runs not run (0.00s)",
            "linux/ppc64le › uname not run (0.00s)",
        ]
    );
    let uname = failures[0];
    let rows: Vec<Vec<String>> = uname
        .descendants()
        .filter(|n| n.has_tag_name("tr") && n.parent().is_some_and(|p| p.has_tag_name("tbody")))
        .map(|r| {
            r.children()
                .filter(Node::is_element)
                .map(|c| text(c))
                .collect()
        })
        .collect();
    assert_eq!(
        rows,
        [
            ["exit code", "\"0\"", "\"1\""],
            ["stdout", "\"aarch64\\n\"", "\"armv7l\\n\""],
        ]
    );
    assert!(text(failures[1]).contains("timed out after 5m; the container was killed"));
    assert!(text(failures[2]).contains("OCI runtime create failed"));

    let problems: Vec<String> = by_class(&doc, "div", "platform-problem")
        .iter()
        .map(|n| text(*n))
        .collect();
    assert_eq!(problems.len(), 2, "{problems:#?}");
    assert!(problems[0].contains("linux/s390x: missing from the index"));
    assert!(problems[0].contains("build and push linux/s390x"));
    assert!(problems[1].contains("linux/ppc64le: config disagrees with the index"));

    let not_tested = text(by_id(&doc, "not-tested"));
    assert!(
        not_tested.contains("linux/arm/v7: no emulator"),
        "{not_tested}"
    );
    assert!(
        not_tested.contains("sudo archsmoke binfmt install arm"),
        "the fix: {not_tested}"
    );
    // arm/v7 has a row and an empty bar; s390x has a bar too, with nothing in it.
    let bars = by_class(&doc, "g", "bar");
    assert_eq!(bars.len(), report.platforms.len());
    let arm = bars
        .iter()
        .find(|b| b.attribute("data-platform") == Some("linux/arm/v7"))
        .expect("an arm/v7 bar");
    assert!(text(*arm).contains("unavailable"));
}

#[test]
fn a_same_output_failure_shows_the_unified_diff() {
    let doc_text = html(&same_output_report());
    let doc = parse(&doc_text);
    let diff = by_class(&doc, "pre", "diff");
    assert_eq!(diff.len(), 1, "{doc_text}");
    let lines: Vec<(String, String)> = diff[0]
        .children()
        .filter(Node::is_element)
        .map(|l| (l.attribute("class").unwrap_or("").to_owned(), text(l)))
        .collect();
    let expected: Vec<(String, String)> = [
        ("head", "--- linux/amd64"),
        ("head", "+++ linux/arm64"),
        ("hunk", "@@ -1 +1 @@"),
        ("del", "-x86_64"),
        ("add", "+aarch64"),
    ]
    .iter()
    .map(|(c, t)| (c.to_string(), t.to_string()))
    .collect();
    assert_eq!(lines, expected);
    let failure = by_class(&doc, "div", "failure");
    assert!(text(failure[0]).contains("stdout differs from linux/amd64:"));
}

#[test]
fn audit_findings_are_listed_and_kept_out_of_the_heat_map() {
    let mut report = fixtures::all_passing();
    let elf = TestReport {
        command: None,
        timeout: Duration::ZERO,
        mismatches: vec![Mismatch {
            check: "/usr/bin/helper".into(),
            expected: "aarch64 (64-bit LSB)".into(),
            actual: "x86-64 (64-bit LSB)".into(),
            note: None,
        }],
        ..passed("audit elf", "", 800)
    };
    report.platforms[1].tests.push(elf);
    let clean = TestReport {
        command: None,
        timeout: Duration::ZERO,
        ..passed("audit elf", "", 700)
    };
    report.platforms[0].tests.push(clean);
    let page = html(&report);
    let doc = parse(&page);
    let audit = by_id(&doc, "audit");
    let findings = by_class(&doc, "div", "finding");
    assert_eq!(findings.len(), 1);
    assert!(class_has(&findings[0], "warning"), "passed with warnings");
    let t = text(findings[0]);
    assert!(
        t.contains("linux/arm64 › audit elf")
            && t.contains("/usr/bin/helper")
            && t.contains("x86-64 (64-bit LSB)"),
        "{t}"
    );
    assert!(text(audit).contains("1 finding(s) among 2 image check(s) on 2 platform(s)"));
    let heat = text(by_id(&doc, "heatmap"));
    assert!(!heat.contains("audit elf"), "{heat}");
    // The audit is its own segment of the bar.
    let bars = by_class(&doc, "g", "bar");
    let phases: Vec<&str> = bars[1]
        .children()
        .filter_map(|c| c.attribute("data-phase"))
        .collect();
    assert_eq!(phases, ["pull", "containers", "audit"]);
}

#[test]
fn the_segments_split_a_platforms_time_without_exceeding_it() {
    let mut p = fixtures::all_passing().platforms.remove(1);
    p.tests.push(TestReport {
        command: None,
        timeout: Duration::ZERO,
        ..passed("file /bin/sh", "", 500)
    });
    p.duration += Duration::from_millis(500);
    let [(a, pull), (b, containers), (c, audit)] = view_phases(&p);
    assert_eq!((a, b, c), ("pull", "containers", "audit"));
    assert_eq!(pull, Duration::from_millis(1234));
    assert_eq!(audit, Duration::from_millis(500));
    assert_eq!(pull + containers + audit, p.duration);
    // A longer "audit" than the platform's total (a clock oddity) cannot push the sum past it.
    p.tests.last_mut().expect("the file check").duration = Duration::from_secs(60);
    let [(_, pull), (_, containers), (_, audit)] = view_phases(&p);
    assert_eq!(pull + containers + audit, p.duration);
}

fn view_phases(p: &crate::outcome::PlatformReport) -> [(&'static str, Duration); 3] {
    super::view::phases_of(p)
}

#[test]
fn a_run_that_never_started_says_why_and_draws_nothing() {
    let doc_text = html(&fixtures::registry_unreachable());
    let doc = parse(&doc_text);
    let verdict = text(by_id(&doc, "verdict"));
    assert!(verdict.contains("could not be checked"), "{verdict}");
    assert!(verdict.contains("Nothing was tested: cannot reach registry 127.0.0.1:5000"));
    assert!(verdict.contains("start the registry"));
    assert!(by_class(&doc, "g", "bar").is_empty());
    assert!(!doc_text.contains("id=\"matrix\""));
}

#[test]
fn an_interrupted_run_says_so() {
    let page = html(&fixtures::interrupted());
    let doc = parse(&page);
    assert!(text(by_id(&doc, "verdict")).contains("(interrupted)"));
}

/// Elements and attributes the template itself never writes; any of them in a page means text
/// became markup.
fn assert_no_injection(doc: &Document, page: &str) {
    for n in doc.descendants().filter(Node::is_element) {
        let name = n.tag_name().name();
        assert!(
            ![
                "script", "img", "iframe", "object", "embed", "link", "a", "form", "input", "b"
            ]
            .contains(&name),
            "injected <{name}> in:\n{page}"
        );
        for a in n.attributes() {
            assert!(
                !a.name().starts_with("on") && a.name() != "src" && a.name() != "href",
                "injected attribute {}={:?} on <{name}>",
                a.name(),
                a.value()
            );
        }
    }
}

const SCRIPT: &str = "<script>alert(1)</script><img src=x onerror=alert(2)>";

#[test]
fn hostile_names_and_outputs_stay_text() {
    let mut report = fixtures::hostile();
    let attack = format!("{SCRIPT} \"' onmouseover=alert(3) x=\" ]]> \x1b[31mred\x1b[0m");
    let mut t = passed(&format!("<b>name</b> {attack}"), &attack, 40);
    t.status = TestStatus::Failed;
    t.command = Some(vec!["sh".into(), "-c".into(), attack.clone()]);
    t.mismatches = vec![
        mismatch(&attack, &attack, &format!("{attack}\nsecond line")),
        mismatch("same output as linux/amd64", "ok\n", &format!("{attack}\n")),
    ];
    t.stderr = attack.clone();
    report.platforms[1].tests.push(t);
    report.image.reference = format!("127.0.0.1:5000/x:y{SCRIPT}");
    report.spec = SCRIPT.into();
    report.problem = None;
    let page = html(&report);
    let doc = parse(&page);
    assert_no_injection(&doc, &page);

    let all = text(doc.root_element());
    assert!(all.contains(SCRIPT), "the attack is shown as text");
    assert!(all.contains("<b>name</b>"));
    assert!(!page.contains('\u{1b}'), "ANSI escapes are removed");
    assert!(
        !page
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\t')),
        "no control characters reach the page"
    );
    assert!(all.contains("␀"), "a NUL is shown as a control picture");
    // The heat map's title attribute carries the name, quotes included, as one attribute.
    let titled = doc
        .descendants()
        .filter_map(|n| n.attribute("title"))
        .find(|t| t.contains("onmouseover"))
        .expect("the name in a title");
    assert!(titled.starts_with("<b>name</b> <script>"), "{titled}");
    // 2 MiB of output is cut to its ends, with a note.
    assert!(page.len() < 400 * 1024, "{} bytes", page.len());
    assert!(all.contains("LAST LINE"), "the tail is kept");
    assert!(all.contains("bytes omitted …]"), "the cut is said");
}

#[test]
fn the_page_loads_nothing_and_adapts_to_dark_mode_and_print() {
    for report in [
        fixtures::all_passing(),
        fixtures::mixed(),
        fixtures::hostile(),
        same_output_report(),
    ] {
        let page = html(&report);
        let doc = parse(&page);
        assert_no_injection(&doc, &page);
        let style: String = doc
            .descendants()
            .filter(|n| n.has_tag_name("style"))
            .map(text)
            .collect();
        assert!(style.contains("@media (prefers-color-scheme: dark)"));
        assert!(style.contains("@media print"));
        for remote in ["@import", "@font-face", "http:", "https:", "//"] {
            assert!(!style.contains(remote), "{remote} in the style");
        }
        // The only reference the page makes is to its own hatch pattern.
        let urls: Vec<&str> = page
            .match_indices("url(")
            .map(|(i, _)| &page[i..i + 11])
            .collect();
        assert!(urls.iter().all(|u| *u == "url(#hatch)"), "{urls:?}");
    }
}

#[test]
fn write_replaces_the_file_atomically() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("report.html");
    std::fs::write(&path, "old").expect("seed");
    write(&fixtures::mixed(), &path).expect("write");
    let written = std::fs::read_to_string(&path).expect("read back");
    assert!(written.starts_with("<!DOCTYPE html>"));
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .expect("list")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names.len(), 1, "no temporary file left: {names:?}");
    let err = write(&fixtures::mixed(), &dir.path().join("no/such/dir.html"))
        .expect_err("a missing directory fails");
    assert!(err.to_string().contains("no/such/dir.html"), "{err}");
}

#[test]
fn clean_keeps_text_and_shows_controls() {
    use super::view::{clean, clean_line};
    assert_eq!(clean("a\tb\nc"), "a\tb\nc");
    assert_eq!(clean("\x1b[1mbold\x1b[0m"), "bold");
    assert_eq!(clean("nul\0 bell\x07 cr\r"), "nul␀ bell␇ cr␍");
    assert_eq!(
        clean("del\x7f c1\u{85} nc\u{FFFE}"),
        "del␡ c1\u{FFFD} nc\u{FFFD}"
    );
    assert_eq!(
        clean("<&>\"'"),
        "<&>\"'",
        "markup is the template's to escape"
    );
    assert_eq!(clean_line("a\nb\tc"), "a b c");
}

#[test]
fn a_platform_that_ran_nothing_is_not_tested_in_the_matrix_verdict_and_notes() {
    let mut report = fixtures::all_passing();
    report.platforms[0].tests.clear();
    let page = view::page(&report);
    let row = page
        .rows
        .iter()
        .find(|r| r.platform == "linux/amd64")
        .expect("amd64 row");
    assert_eq!(row.result, "NOT TESTED");
    assert!(
        page.verdict.totals.contains("1 platform(s) NOT TESTED"),
        "{}",
        page.verdict.totals
    );
    assert!(page.not_tested.iter().any(|n| n.platform == "linux/amd64"));
    let text = html(&report);
    assert!(text.contains("NOT TESTED"));
}

/// Issue 24: an audit that listed 100 of 614 findings was "1 finding(s)" on the page: the count
/// of checks with findings. The page counts findings, the unlisted ones included.
#[test]
fn the_audit_counts_every_finding_including_those_not_listed() {
    let mut report = fixtures::all_passing();
    let finding = |path: &str| Mismatch {
        check: format!("elf {path}"),
        expected: "aarch64".into(),
        actual: "x86-64; libc6-i386".into(),
        note: None,
    };
    let elf = TestReport {
        command: None,
        timeout: Duration::ZERO,
        mismatches: vec![
            finding("/usr/bin/a"),
            finding("/usr/bin/b"),
            Mismatch {
                check: "elf libc6-i386".into(),
                expected: Mismatch::UNLISTED_IN_GROUP.into(),
                actual: "270 more finding(s) in libc6-i386 not listed (272 in all)".into(),
                note: None,
            },
            Mismatch {
                check: "more".into(),
                expected: Mismatch::UNLISTED.into(),
                actual: "342 more not listed (614 finding(s) in all)".into(),
                note: None,
            },
        ],
        ..passed("audit elf", "", 800)
    };
    report.platforms[1].tests.push(elf);
    let page = html(&report);
    let doc = parse(&page);
    let audit = text(by_id(&doc, "audit"));
    assert!(
        audit.contains("614 finding(s) among 1 image check(s) on 1 platform(s)"),
        "{audit}"
    );
}
