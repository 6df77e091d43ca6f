//! The JUnit reporter against a strict XML parser (roxmltree) and against the schema Jenkins'
//! xUnit plugin validates with (xmllint, from Debian's libxml2-utils).

use std::path::PathBuf;
use std::process::Command;

use roxmltree::{Document, Node};

use super::render;
use crate::report::fixtures;

fn parse(xml: &str) -> Document<'_> {
    Document::parse(xml).unwrap_or_else(|e| {
        let head: String = xml.chars().take(2000).collect();
        panic!("not well-formed XML: {e}\n{head}")
    })
}

/// Validates `xml` against the vendored `tests/fixtures/junit/junit-10.xsd` with xmllint. A missing xmllint or
/// schema fails the test: a skipped schema check would let an invalid report through CI.
fn assert_schema_valid(xml: &str) {
    let xsd = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/junit/junit-10.xsd");
    assert!(
        xsd.is_file(),
        "the JUnit schema is missing at {}",
        xsd.display()
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("report.xml");
    std::fs::write(&file, xml).expect("write the report for xmllint");
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(&xsd)
        .arg(&file)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run xmllint ({e}): install Debian's libxml2-utils \
                 (`apt-get install libxml2-utils`)"
            )
        });
    assert!(
        out.status.success(),
        "xmllint rejects the report:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn suites<'a, 'i>(doc: &'a Document<'i>) -> Vec<Node<'a, 'i>> {
    doc.root_element()
        .children()
        .filter(|n| n.has_tag_name("testsuite"))
        .collect()
}

fn suite<'a, 'i>(doc: &'a Document<'i>, name: &str) -> Node<'a, 'i> {
    suites(doc)
        .into_iter()
        .find(|s| s.attribute("name") == Some(name))
        .unwrap_or_else(|| panic!("no suite named {name}"))
}

fn case<'a, 'i>(suite: Node<'a, 'i>, name: &str) -> Node<'a, 'i> {
    suite
        .children()
        .find(|n| n.has_tag_name("testcase") && n.attribute("name") == Some(name))
        .unwrap_or_else(|| panic!("no test case named {name:?}"))
}

fn child<'a, 'i>(node: Node<'a, 'i>, tag: &str) -> Option<Node<'a, 'i>> {
    node.children().find(|n| n.has_tag_name(tag))
}

/// All the text of an element, across split CDATA sections.
fn text(node: Node) -> String {
    node.children().filter_map(|n| n.text()).collect()
}

fn attr(node: Node, name: &str) -> String {
    node.attribute(name)
        .unwrap_or_else(|| panic!("<{}> has no {name}", node.tag_name().name()))
        .to_owned()
}

fn property(suite: Node, name: &str) -> Option<String> {
    child(suite, "properties")?
        .children()
        .find(|p| p.attribute("name") == Some(name))
        .map(|p| attr(p, "value"))
}

/// (tests, failures, errors, skipped) as the attributes say, checked against the test cases.
fn counts(suite: Node) -> (usize, usize, usize, usize) {
    let cases: Vec<Node> = suite
        .children()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    let with = |tag: &str| cases.iter().filter(|c| child(**c, tag).is_some()).count();
    let counted = (cases.len(), with("failure"), with("error"), with("skipped"));
    let num = |name: &str| -> usize { attr(suite, name).parse().expect("a count") };
    let declared = (num("tests"), num("failures"), num("errors"), num("skipped"));
    assert_eq!(declared, counted, "suite {:?}", suite.attribute("name"));
    declared
}

#[test]
fn every_kind_of_result_is_counted_per_platform() {
    let xml = render(&fixtures::mixed());
    let doc = parse(&xml);
    let names: Vec<String> = suites(&doc).iter().map(|s| attr(*s, "name")).collect();
    assert_eq!(
        names,
        [
            "linux/amd64",
            "linux/arm64",
            "linux/arm/v7",
            "linux/s390x",
            "linux/ppc64le"
        ]
    );
    assert_eq!(counts(suite(&doc, "linux/amd64")), (4, 0, 0, 0));
    // failed + timed out are failures; the engine error is an error.
    assert_eq!(counts(suite(&doc, "linux/arm64")), (4, 2, 1, 0));
    // No emulator: not the image's fault, so an error.
    assert_eq!(counts(suite(&doc, "linux/arm/v7")), (1, 0, 1, 0));
    // Missing from the index: a defect of the image, so a failure.
    assert_eq!(counts(suite(&doc, "linux/s390x")), (1, 1, 0, 0));
    // Mislabelled: a failure, and its tests were not run.
    assert_eq!(counts(suite(&doc, "linux/ppc64le")), (3, 1, 0, 2));
    let root = doc.root_element();
    assert_eq!(
        (
            attr(root, "tests"),
            attr(root, "failures"),
            attr(root, "errors")
        ),
        ("13".into(), "4".into(), "2".into())
    );
    assert_eq!(attr(root, "name"), "busybox");
    assert_eq!(attr(root, "time"), "42.500");
    assert_schema_valid(&xml);
}

#[test]
fn failures_carry_type_message_and_every_expected_vs_actual() {
    let xml = render(&fixtures::mixed());
    let doc = parse(&xml);
    let arm = suite(&doc, "linux/arm64");

    let uname = case(arm, "uname");
    assert_eq!(attr(uname, "classname"), "busybox.linux/arm64");
    assert_eq!(attr(uname, "time"), "0.180");
    let failure = child(uname, "failure").expect("uname failed");
    assert_eq!(attr(failure, "type"), "exit code");
    assert_eq!(
        attr(failure, "message"),
        // Plain values as they are; output quoted, so that its newline shows. It passed on the
        // native amd64 (with its own expectation): the message says that first.
        "failed only under emulation (passed natively on linux/amd64, against its per-platform \
         expectation): exit code: expected 0, got 1; stdout: expected \"aarch64\\n\", got \
         \"armv7l\\n\""
    );
    let body = text(failure);
    assert!(
        body.contains("exit code\n  expected: 0\n  actual:   1\n")
            && body.contains("stdout\n  expected: \"aarch64\\n\"\n  actual:   \"armv7l\\n\"\n")
            && body.contains("command: [\"sh\", \"-c\", \"echo armv7l\\n\"]"),
        "{body}"
    );
    assert_eq!(
        text(child(uname, "system-out").expect("stdout")),
        "armv7l\n"
    );
    assert_eq!(
        text(child(uname, "system-err").expect("stderr")),
        "uname: warning: something\n"
    );

    let node = case(arm, "node starts");
    let failure = child(node, "failure").expect("timed out");
    assert_eq!(attr(failure, "type"), "timeout");
    assert_eq!(
        attr(failure, "message"),
        "timed out only under emulation (passed natively on linux/amd64): timed out after 5m; \
         the container was killed"
    );
    assert_eq!(attr(node, "time"), "300.000");

    let tls = case(arm, "pull tls");
    let error = child(tls, "error").expect("engine error");
    assert_eq!(attr(error, "type"), "engine");
    assert!(attr(error, "message").starts_with("the engine failed to start the container"));
    assert!(child(tls, "failure").is_none());

    let passed = case(suite(&doc, "linux/amd64"), "shell runs");
    assert!(passed.children().all(|n| !n.has_tag_name("failure")
        && !n.has_tag_name("error")
        && !n.has_tag_name("skipped")));
    assert_eq!(
        text(child(passed, "system-out").expect("stdout")),
        "hello\n"
    );
    assert!(
        child(passed, "system-err").is_none(),
        "empty stderr is left out"
    );

    let skipped = child(case(suite(&doc, "linux/ppc64le"), "uname"), "skipped").expect("not run");
    assert_eq!(attr(skipped, "type"), "not run");
}

#[test]
fn platform_problems_are_test_cases_with_the_hint() {
    let xml = render(&fixtures::mixed());
    let doc = parse(&xml);

    let arm = case(suite(&doc, "linux/arm/v7"), "platform");
    assert_eq!(attr(arm, "classname"), "busybox.linux/arm/v7");
    let error = child(arm, "error").expect("emulator missing is an error");
    assert_eq!(attr(error, "type"), "emulator_unavailable");
    assert!(text(error).ends_with("\nhint: sudo archsmoke binfmt install arm"));

    let s390x = case(suite(&doc, "linux/s390x"), "platform");
    let failure = child(s390x, "failure").expect("missing platform is a failure");
    assert_eq!(attr(failure, "type"), "missing_platform");
    assert!(attr(failure, "message").starts_with("the image has no linux/s390x entry"));

    let ppc = suite(&doc, "linux/ppc64le");
    let first = ppc
        .children()
        .find(|n| n.has_tag_name("testcase"))
        .expect("a case");
    assert_eq!(attr(first, "name"), "platform", "the problem comes first");
    assert_eq!(
        attr(child(first, "failure").expect("failure"), "type"),
        "config_mismatch"
    );
}

#[test]
fn platform_facts_are_properties_and_suite_output() {
    let report = fixtures::mixed();
    let xml = render(&report);
    let doc = parse(&xml);
    let arm = suite(&doc, "linux/arm64");

    assert_eq!(attr(arm, "timestamp"), "2024-05-01T12:00:00Z");
    assert_eq!(attr(arm, "package"), "busybox");
    let prop = |name: &str| property(arm, name).unwrap_or_else(|| panic!("no property {name}"));
    assert_eq!(prop("archsmoke.index_digest"), fixtures::INDEX_DIGEST);
    assert_eq!(
        prop("archsmoke.entry.digest"),
        report.platforms[1]
            .entry
            .as_ref()
            .expect("arm64 has an entry")
            .digest
    );
    assert_eq!(prop("archsmoke.entry.reason"), "exact match in the index");
    assert_eq!(prop("archsmoke.mode"), "qemu-aarch64 7.2.11");
    assert_eq!(prop("archsmoke.execution.mode"), "emulated");
    assert_eq!(
        prop("archsmoke.execution.emulator.interpreter"),
        "/usr/libexec/qemu-binfmt/aarch64-binfmt-P"
    );
    assert_eq!(prop("archsmoke.execution.emulator.version"), "7.2.11");
    assert_eq!(prop("archsmoke.pull.seconds"), "1.234");
    assert_eq!(prop("archsmoke.pull.pulled"), "true");
    // Only "shell runs" passed on both: 1100 ms against 110 ms.
    assert_eq!(prop("archsmoke.slowdown"), "10.00");
    assert_eq!(
        prop("archsmoke.engine"),
        "Docker 20.10.24 (API 1.41) linux/amd64 at unix:///var/run/docker.sock"
    );
    assert_eq!(
        child(arm, "properties")
            .expect("properties")
            .prev_sibling_element(),
        None,
        "properties come first in the suite"
    );

    let out = text(child(arm, "system-out").expect("suite output"));
    let line = |key: &str| -> Vec<String> {
        out.lines()
            .find(|l| l.split_whitespace().next() == Some(key))
            .unwrap_or_else(|| panic!("no {key} line in {out}"))
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(
        line("index_digest"),
        ["index_digest", fixtures::INDEX_DIGEST]
    );
    assert_eq!(line("mode"), ["mode", "qemu-aarch64", "7.2.11"]);
    assert_eq!(
        line("entry.reason"),
        ["entry.reason", "exact", "match", "in", "the", "index"]
    );

    let missing = suite(&doc, "linux/s390x");
    assert_eq!(property(missing, "archsmoke.entry.digest"), None);
    assert_eq!(
        property(missing, "archsmoke.problem.kind").as_deref(),
        Some("missing_platform")
    );
}

#[test]
fn a_run_that_never_started_is_one_suite_with_one_error() {
    let xml = render(&fixtures::registry_unreachable());
    let doc = parse(&xml);
    let all = suites(&doc);
    assert_eq!(all.len(), 1);
    let s = all[0];
    assert_eq!(attr(s, "name"), "busybox");
    assert_eq!(counts(s), (1, 0, 1, 0));
    let run = case(s, "run");
    assert_eq!(attr(run, "classname"), "busybox");
    let error = child(run, "error").expect("error");
    assert_eq!(attr(error, "type"), "registry");
    assert_eq!(
        attr(error, "message"),
        "cannot reach registry 127.0.0.1:5000: connection refused"
    );
    assert!(text(error).contains("hint: start the registry"));
    assert_eq!(
        property(s, "archsmoke.image").as_deref(),
        Some("127.0.0.1:5000/demo/busybox:multi")
    );
    assert_schema_valid(&xml);
}

#[test]
fn an_interrupted_run_skips_what_did_not_run() {
    let xml = render(&fixtures::interrupted());
    let doc = parse(&xml);
    let arm = suite(&doc, "linux/arm64");
    assert_eq!(counts(arm), (3, 0, 1, 1));
    assert_eq!(
        attr(
            child(case(arm, "platform"), "error").expect("error"),
            "type"
        ),
        "interrupted"
    );
    assert_eq!(
        property(arm, "archsmoke.interrupted").as_deref(),
        Some("true")
    );
    assert_schema_valid(&xml);
}

#[test]
fn an_empty_run_and_a_passing_run_are_valid() {
    let mut empty = fixtures::all_passing();
    empty.platforms.clear();
    let xml = render(&empty);
    let doc = parse(&xml);
    assert!(suites(&doc).is_empty());
    assert_eq!(attr(doc.root_element(), "tests"), "0");
    assert_schema_valid(&xml);

    let xml = render(&fixtures::all_passing());
    let doc = parse(&xml);
    for s in suites(&doc) {
        let (tests, failures, errors, skipped) = counts(s);
        assert_eq!((tests, failures, errors, skipped), (2, 0, 0, 0));
    }
    // The platform's wall time: its tests' 2.050 s and the 1.234 s pull, not the tests' sum.
    assert_eq!(attr(suite(&doc, "linux/arm64"), "time"), "3.284");
    assert_schema_valid(&xml);
}

#[test]
fn hostile_output_makes_valid_xml_that_reads_back_cleaned() {
    let xml = render(&fixtures::hostile());
    // A strict parser, then the schema: both must accept it.
    let doc = parse(&xml);
    assert_schema_valid(&xml);
    assert!(
        !xml.chars()
            .any(|c| (c < ' ' && !matches!(c, '\t' | '\n' | '\r'))
                || c == '\u{FFFE}'
                || c == '\u{FFFF}'),
        "no character outside XML 1.0 is written"
    );
    assert!(
        !xml.contains("[31m") && !xml.contains("]8;;"),
        "ANSI escapes are stripped"
    );

    let amd = suite(&doc, "linux/amd64");
    assert_eq!(counts(amd), (4, 1, 1, 0));
    let colours = case(amd, "colours <&> \"quoted\" bold");
    // Parsers turn \r\n into \n; everything else is as written, minus what XML cannot carry.
    let expected = "red link nul  vt ff esc end]]>after ]]]]> \u{FFFD}  tab\tcr\n";
    assert_eq!(
        text(child(colours, "system-out").expect("stdout")),
        expected
    );
    assert_eq!(
        text(child(colours, "system-err").expect("stderr")),
        expected
    );

    let huge = text(child(case(amd, "huge output"), "system-out").expect("stdout"));
    let shown = super::text::BLOCK_LIMIT;
    let cut = 3 * 1024 * 1024 + fixtures::big_output().len() - shown;
    assert!(
        huge.starts_with(&format!("[… {cut} bytes omitted …]\n")),
        "{}",
        &huge[..120]
    );
    assert!(huge.ends_with("LAST LINE\n"));
    assert!(huge.len() < shown + 100);
    assert!(
        xml.len() < 512 * 1024,
        "2 MiB outputs are cut: {} bytes",
        xml.len()
    );

    let cdata = case(amd, "cdata ]]> in names");
    let failure = child(cdata, "failure").expect("failed");
    assert_eq!(
        attr(failure, "message"),
        r#"stdout: expected "<![CDATA[x]]>", got "]]>\0\u{1b}[0m"; stderr contains: expected "ok", got "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n0123456789abcd… (2097162 bytes in all)"#
    );
    let body = text(failure);
    assert!(
        body.contains("stdout\n  expected: \"<![CDATA[x]]>\"\n  actual:   \"]]>\\0\\u{1b}[0m\"\n"),
        "control characters in values stay visible as escapes: {}",
        &body[..300.min(body.len())]
    );
    assert!(body.len() <= super::text::BLOCK_LIMIT + 100);
    assert_eq!(text(child(cdata, "system-out").expect("stdout")), "]]>");

    let error = child(case(amd, "engine says ]]>"), "error").expect("error");
    assert_eq!(attr(error, "message"), "start failed: bad ]]> ");

    let broken = case(suite(&doc, "linux/arm64"), "platform");
    let error = child(broken, "error").expect("engine problem");
    assert_eq!(attr(error, "message"), "pull failed: manifest unknown ]]> ");
    assert!(text(error).ends_with("hint: retry  later"));
}

/// Pins what the module works around: junit-report 0.9 alone writes control characters and
/// `]]>` raw. If this starts failing, junit-report changed its escaping and [`super::text`]
/// must not escape a second time (a doubled CDATA split would show up in reports).
#[test]
fn junit_report_alone_writes_invalid_xml() {
    use junit_report::{Duration, Report, TestCaseBuilder, TestSuiteBuilder};
    let render_one = |name: &str, out: &str| {
        let case = TestCaseBuilder::success(name, Duration::ZERO)
            .set_system_out(out)
            .build();
        let suite = TestSuiteBuilder::new("s").add_testcase(case).build();
        let mut report = Report::new();
        report.add_testsuite(suite);
        let mut buf = Vec::new();
        report.write_xml(&mut buf).expect("write to memory");
        String::from_utf8(buf).expect("utf-8")
    };
    let fine = render_one("ok", "plain");
    assert!(
        Document::parse(&fine).is_ok(),
        "the baseline parses: {fine}"
    );
    let control = render_one("ok", "a\x01b");
    assert!(
        Document::parse(&control).is_err(),
        "a raw control character: {control:?}"
    );
    let terminator = render_one("ok", "a]]>b");
    assert!(
        terminator.contains("<![CDATA[a]]>b]]>"),
        "`]]>` is written unsplit: {terminator}"
    );
    assert!(Document::parse(&terminator).is_err());
    let attribute = render_one("bell\x07", "x");
    assert!(Document::parse(&attribute).is_err(), "{attribute:?}");
}

/// A platform that ran nothing is a failed `not tested` case: dashboards show the red that the
/// exit code (1) means, and an empty suite would vanish from Jenkins' and GitLab's views.
#[test]
fn an_untested_platform_is_a_failed_not_tested_case_valid_against_the_schema() {
    let mut report = fixtures::all_passing();
    report.platforms[0].tests.clear();
    let xml = render(&report);
    assert_schema_valid(&xml);
    let doc = parse(&xml);
    let amd = suite(&doc, "linux/amd64");
    let c = case(amd, "not tested");
    let failure = c
        .children()
        .find(|n| n.has_tag_name("failure"))
        .expect("a failure element");
    assert_eq!(failure.attribute("type"), Some("not_tested"));
    assert!(
        failure
            .attribute("message")
            .is_some_and(|m| m.starts_with("not tested: no test or image check ran on linux/amd64")),
        "{xml}"
    );
}
