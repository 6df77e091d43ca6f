//! Secrets never leave the process: this module owns the process-wide list of secret values
//! (`secret_env` values, registry passwords) and replaces them with [`MASK`] in everything
//! archsmoke writes — captured output and mismatch text in reports, progress lines, and tracing.
//!
//! The list is global rather than threaded through every writer because tracing's writer is set
//! up before the spec is read, and a secret missed by one forgotten call site is a leak.

use std::io::{self, Write};
use std::sync::RwLock;

use crate::outcome::{Problem, RunReport};

/// What a secret is replaced with.
pub const MASK: &str = "[REDACTED]";

static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Add secret values; empty ones are ignored. Longest first, so that a secret containing another
/// is masked whole.
pub fn register<'a>(secrets: impl IntoIterator<Item = &'a str>) {
    let mut list = SECRETS.write().unwrap_or_else(|e| e.into_inner());
    for s in secrets {
        if !s.is_empty() && !list.iter().any(|known| known == s) {
            list.push(s.to_owned());
        }
    }
    list.sort_by_key(|s| std::cmp::Reverse(s.len()));
}

/// `text` with every registered secret masked.
pub fn text(text: &str) -> String {
    let list = SECRETS.read().unwrap_or_else(|e| e.into_inner());
    let mut out = text.to_owned();
    for secret in list.iter() {
        if out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), MASK);
        }
    }
    out
}

/// `text` that is the tail of a longer output: besides [`text`]'s masking, a secret's end left
/// at the start by the cut is masked too, so at most its last character can remain.
pub fn tail(text: &str) -> String {
    let cut = longest_affix(|secret| {
        // Proper suffixes of two characters or more, longest first.
        secret
            .char_indices()
            .skip(1)
            .map(|(i, _)| &secret[i..])
            .take_while(|suffix| suffix.chars().nth(1).is_some())
            .find(|suffix| text.starts_with(suffix))
            .map(str::len)
    });
    if cut == 0 {
        return self::text(text);
    }
    format!("{MASK}{}", self::text(&text[cut..]))
}

/// `text` that is the head of a longer output: besides [`text`]'s masking, a secret's start
/// left at the end by the cut is masked too, so at most its first character can remain.
pub fn head(text: &str) -> String {
    let cut = longest_affix(|secret| {
        // Proper prefixes of two characters or more, longest first.
        secret
            .char_indices()
            .skip(2)
            .map(|(i, _)| &secret[..i])
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .find(|prefix| text.ends_with(prefix))
            .map(str::len)
    });
    if cut == 0 {
        return self::text(text);
    }
    format!("{}{MASK}", self::text(&text[..text.len() - cut]))
}

/// The longest piece of a registered secret that `found` finds in a text (0: none).
fn longest_affix(found: impl Fn(&str) -> Option<usize>) -> usize {
    let list = SECRETS.read().unwrap_or_else(|e| e.into_inner());
    list.iter()
        .filter_map(|secret| found(secret))
        .max()
        .unwrap_or(0)
}

/// A stream of a test report: all of it (`omitted` is 0), or the head and tail of a cut one.
fn stream(head_part: &mut String, omitted: u64, tail_part: &mut String) {
    if omitted == 0 {
        in_place(head_part);
        in_place(tail_part);
    } else {
        *head_part = head(head_part);
        *tail_part = tail(tail_part);
    }
}

/// A mismatch's actual value quoting a cut stream (head, the omitted line, tail; see
/// `check::output`): its head and tail masked as the stream's are, and the line between as any
/// text. `None` when `actual` does not quote that stream.
fn quoted_stream(actual: &str, head_part: &str, tail_part: &str) -> Option<String> {
    let between = actual
        .strip_prefix(head_part)?
        .strip_suffix(tail_part)
        .filter(|between| !between.is_empty())?;
    let shown_head = if head_part.is_empty() {
        String::new()
    } else {
        head(head_part)
    };
    Some(format!("{shown_head}{}{}", text(between), tail(tail_part)))
}

fn in_place(s: &mut String) {
    let masked = text(s);
    if masked != *s {
        *s = masked;
    }
}

fn problem(p: &mut Option<Problem>) {
    if let Some(p) = p {
        in_place(&mut p.message);
        if let Some(h) = &mut p.hint {
            in_place(h);
        }
    }
}

/// Mask every string inside a JSON value (a `[meta]` table, written by the spec's author).
fn json_strings(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::String(s) => in_place(s),
        serde_json::Value::Array(items) => items.iter_mut().for_each(json_strings),
        serde_json::Value::Object(map) => map.values_mut().for_each(json_strings),
        _ => {}
    }
}

/// Mask every text field of a report that a spec, a test or an image can put a secret in:
/// names, paths and references as well as captured output, mismatches, errors and problems.
pub fn report(report: &mut RunReport) {
    problem(&mut report.problem);
    // Keyed by test names, which may hold a secret like any other name.
    report.spec_lines = std::mem::take(&mut report.spec_lines)
        .into_iter()
        .map(|(name, line)| (text(&name), line))
        .collect();
    report.meta = std::mem::take(&mut report.meta)
        .into_iter()
        .map(|(name, mut value)| {
            json_strings(&mut value);
            (text(&name), value)
        })
        .collect();
    for d in &mut report.emulation_differences {
        in_place(&mut d.test);
    }
    in_place(&mut report.spec);
    in_place(&mut report.suite);
    in_place(&mut report.image.reference);
    for platform in &mut report.platforms {
        problem(&mut platform.problem);
        if let Some(entry) = &mut platform.entry {
            in_place(&mut entry.reason);
        }
        for t in &mut platform.tests {
            in_place(&mut t.name);
            // Mismatches first: they are recognised by the streams they quote, unmasked.
            let cut: Vec<(&str, &str)> = [
                (&t.stdout_head, t.stdout_omitted, &t.stdout),
                (&t.stderr_head, t.stderr_omitted, &t.stderr),
            ]
            .into_iter()
            .filter(|(_, omitted, _)| *omitted > 0)
            .map(|(h, _, t)| (h.as_str(), t.as_str()))
            .collect();
            for m in &mut t.mismatches {
                in_place(&mut m.check);
                in_place(&mut m.expected);
                let quoted = cut.iter().find_map(|(h, t)| quoted_stream(&m.actual, h, t));
                match quoted {
                    Some(masked) => m.actual = masked,
                    // A report from before heads were kept quotes the tail alone.
                    None if !cut.is_empty() => m.actual = tail(&m.actual),
                    None => in_place(&mut m.actual),
                }
            }
            stream(&mut t.stdout_head, t.stdout_omitted, &mut t.stdout);
            stream(&mut t.stderr_head, t.stderr_omitted, &mut t.stderr);
            if let Some(e) = &mut t.error {
                in_place(e);
            }
            if let Some(argv) = &mut t.command {
                argv.iter_mut().for_each(in_place);
            }
        }
        if let Some(s) = &mut platform.service {
            if s.logs_dropped > 0 {
                s.logs = tail(&s.logs);
            } else {
                in_place(&mut s.logs);
            }
            if let Some(why) = &mut s.not_ready {
                in_place(why);
            }
        }
    }
}

/// A writer that masks secrets in each write; tracing-subscriber writes one whole event per
/// call, so a secret is never split across writes.
pub struct Writer<W>(pub W);

impl<W: Write> Write for Writer<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let masked = text(&String::from_utf8_lossy(buf));
        self.0.write_all(masked.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_registered_secrets_longest_first_and_leaves_the_rest() {
        register(["s3cr3t-token", "s3cr3t-token-extended"]);
        assert_eq!(
            text("a s3cr3t-token-extended b s3cr3t-token c"),
            "a [REDACTED] b [REDACTED] c"
        );
        assert_eq!(text("nothing here"), "nothing here");
        let mut out = Vec::new();
        Writer(&mut out)
            .write_all(b"header s3cr3t-token trailer\n")
            .expect("write to a Vec");
        assert_eq!(out, b"header [REDACTED] trailer\n");
    }

    #[test]
    fn a_tail_that_starts_inside_a_secret_masks_what_is_left_of_it() {
        register(["tail-secret-9f2c"]);
        assert_eq!(tail("et-9f2c and more"), "[REDACTED] and more");
        assert_eq!(
            tail("2c, then tail-secret-9f2c"),
            "[REDACTED], then [REDACTED]"
        );
        // One character is as likely to be anything else: left alone.
        assert_eq!(tail("c and more"), "c and more");
        assert_eq!(tail("plain"), "plain");
    }

    #[test]
    fn a_head_that_ends_inside_a_secret_masks_what_is_left_of_it() {
        register(["head-secret-4e1d"]);
        assert_eq!(head("first line\nhead-sec"), "first line\n[REDACTED]");
        assert_eq!(
            head("head-secret-4e1d, then he"),
            "[REDACTED], then [REDACTED]"
        );
        assert_eq!(head("and h"), "and h");
        assert_eq!(head("plain"), "plain");
    }

    #[test]
    fn a_secret_split_by_either_cut_of_a_stream_is_masked_in_the_report_and_its_mismatch() {
        use crate::outcome::{Mismatch, TestStatus};
        register(["split-secret-a8c3"]);
        let mut t = crate::outcome::TestReport::new("t".into(), TestStatus::Failed);
        // Cut after `split-se` at the head's end and before `et-a8c3` at the tail's start.
        t.stdout_head = "split-secret-a8c3 at the start\nsplit-se".into();
        t.stdout_omitted = 1000;
        t.stdout = "et-a8c3 at the end".into();
        t.mismatches.push(Mismatch {
            check: "stdout matches".into(),
            expected: "^x".into(),
            actual: format!("{}\n[… 1000 bytes omitted …]\n{}", t.stdout_head, t.stdout),
            note: None,
        });
        let mut r = crate::report::fixtures::all_passing();
        r.platforms[0].tests = vec![t];
        report(&mut r);
        let t = &r.platforms[0].tests[0];
        assert_eq!(t.stdout_head, "[REDACTED] at the start\n[REDACTED]");
        assert_eq!(t.stdout, "[REDACTED] at the end");
        assert_eq!(
            t.mismatches[0].actual,
            "[REDACTED] at the start\n[REDACTED]\n[… 1000 bytes omitted …]\n[REDACTED] at the end"
        );
    }
}
