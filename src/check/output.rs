//! Exit code and output expectations.

use crate::outcome::{Mismatch, TestReport, TestStatus};
use crate::report::words;
use crate::spec::{Expect, StreamExpect};

/// A finished command's verdict into `report`: its expectations matched on the whole of each
/// stream (`whole`, from the capture: the whole stream, or why it was not kept whole), as cst
/// matches them, while a mismatch shows what the report keeps (the stream, or its head and
/// tail with the count omitted between them).
/// For test containers, exec isolation and a service's exec tests alike.
pub fn judge(
    report: &mut TestReport,
    expect: &Expect,
    code: i64,
    [stdout, stderr]: [Result<String, String>; 2],
) {
    match (
        stdout.map_err(|why| ("stdout", why)),
        stderr.map_err(|why| ("stderr", why)),
    ) {
        (Ok(out), Ok(err)) => {
            // A mismatch quotes a cut stream as every report shows it: head, gap, tail.
            let shown_out =
                words::output(&report.stdout_head, report.stdout_omitted, &report.stdout);
            let shown_err =
                words::output(&report.stderr_head, report.stderr_omitted, &report.stderr);
            report.mismatches = check_whole(
                expect,
                code,
                Stream {
                    whole: &out,
                    shown: &shown_out,
                },
                Stream {
                    whole: &err,
                    shown: &shown_err,
                },
            );
            report.status = if report.mismatches.is_empty() {
                TestStatus::Passed
            } else {
                TestStatus::Failed
            };
        }
        (Err((stream, why)), _) | (_, Err((stream, why))) => {
            report.status = TestStatus::Error;
            report.error = Some(format!(
                "the test's {stream} {why}, so its expectations cannot be checked on the whole \
                 output (make the command print less, or pipe it through `tail` or `grep` \
                 inside the container)"
            ));
        }
    }
}

/// Every expectation of `expect` that the result breaks, in a stable order.
pub fn check(expect: &Expect, exit_code: i64, stdout: &str, stderr: &str) -> Vec<Mismatch> {
    check_whole(
        expect,
        exit_code,
        Stream::same(stdout),
        Stream::same(stderr),
    )
}

/// A stream as matched (all of it) and as a mismatch shows it (what the report keeps).
#[derive(Clone, Copy)]
pub struct Stream<'a> {
    pub whole: &'a str,
    pub shown: &'a str,
}

impl<'a> Stream<'a> {
    pub fn same(text: &'a str) -> Stream<'a> {
        Stream {
            whole: text,
            shown: text,
        }
    }
}

/// [`check`] on streams longer than their reports keep: expectations hold or break on the whole
/// output, and mismatches show the kept part.
pub fn check_whole(
    expect: &Expect,
    exit_code: i64,
    stdout: Stream<'_>,
    stderr: Stream<'_>,
) -> Vec<Mismatch> {
    let mut out = Vec::new();
    if !expect.exit_code.contains(exit_code) {
        out.push(Mismatch {
            check: "exit code".into(),
            expected: expect.exit_code.to_string(),
            actual: exit_code.to_string(),
            note: None,
        });
    }
    stream_whole("stdout", &expect.stdout, stdout, &mut out);
    stream_whole("stderr", &expect.stderr, stderr, &mut out);
    // A check's name is its key with spaces (`stdout contains`: `stdout_contains`).
    if let Some(o) = &expect.overridden {
        for m in &mut out {
            m.note = o.note(&m.check.replace(' ', "_"));
        }
    }
    out
}

pub(crate) fn stream(name: &str, expect: &StreamExpect, actual: &str, out: &mut Vec<Mismatch>) {
    stream_whole(name, expect, Stream::same(actual), out);
}

fn stream_whole(name: &str, expect: &StreamExpect, s: Stream<'_>, out: &mut Vec<Mismatch>) {
    let (actual, shown) = (s.whole, s.shown);
    if let Some(exact) = &expect.exact
        && exact != actual
    {
        out.push(Mismatch {
            check: name.to_owned(),
            expected: exact.clone(),
            actual: shown.to_owned(),
            note: None,
        });
    }
    for needle in &expect.contains {
        if !actual.contains(needle.as_str()) {
            out.push(Mismatch {
                check: format!("{name} contains"),
                expected: needle.clone(),
                actual: shown.to_owned(),
                note: None,
            });
        }
    }
    for re in &expect.matches {
        if !re.is_match(actual) {
            out.push(Mismatch {
                check: format!("{name} matches"),
                expected: re.as_str().to_owned(),
                actual: shown.to_owned(),
                note: None,
            });
        }
    }
    for re in &expect.not_matches {
        if re.is_match(actual) {
            out.push(Mismatch {
                check: format!("{name} not matches"),
                expected: format!("no match of `{}`", re.as_str()),
                actual: shown.to_owned(),
                note: None,
            });
        }
    }
    for needle in &expect.excludes {
        if actual.contains(needle.as_str()) {
            out.push(Mismatch {
                check: format!("{name} excludes"),
                expected: format!("no `{needle}`"),
                actual: shown.to_owned(),
                note: None,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::Platform;
    use std::path::Path;

    fn expect(toml: &str) -> Expect {
        let spec = crate::spec::parse(
            Path::new("t.toml"),
            &format!("[[test]]\nname = \"t\"\n{toml}"),
        )
        .expect("valid spec");
        spec.tests[0].expect_for(&Platform::parse("linux/amd64").expect("platform"))
    }

    #[test]
    fn passing_result_has_no_mismatches() {
        let e = expect(
            "stdout = \"hi\\n\"\nstdout_contains = \"h\"\nstdout_matches = \"^hi$\"\nstderr_excludes = \"err\"",
        );
        assert!(check(&e, 0, "hi\n", "").is_empty());
    }

    #[test]
    fn each_broken_expectation_is_reported() {
        let e = expect(
            "exit_code = 2\nstdout = \"a\"\nstdout_contains = [\"x\", \"a\"]\nstdout_matches = \"^b\"\nstderr_excludes = \"boom\"",
        );
        let m = check(&e, 0, "a", "boom!");
        let checks: Vec<&str> = m.iter().map(|m| m.check.as_str()).collect();
        assert_eq!(
            checks,
            [
                "exit code",
                "stdout contains",
                "stdout matches",
                "stderr excludes"
            ]
        );
        assert_eq!(m[0].expected, "2");
        assert_eq!(m[0].actual, "0");
    }
}
