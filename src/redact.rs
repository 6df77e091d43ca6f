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
    let cut = {
        let list = SECRETS.read().unwrap_or_else(|e| e.into_inner());
        list.iter()
            .filter_map(|secret| {
                // Proper suffixes of two characters or more, longest first.
                secret
                    .char_indices()
                    .skip(1)
                    .map(|(i, _)| &secret[i..])
                    .take_while(|suffix| suffix.chars().nth(1).is_some())
                    .find(|suffix| text.starts_with(suffix))
                    .map(str::len)
            })
            .max()
            .unwrap_or(0)
    };
    if cut == 0 {
        return self::text(text);
    }
    format!("{MASK}{}", self::text(&text[cut..]))
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
            for (output, dropped) in [
                (&mut t.stdout, t.stdout_dropped),
                (&mut t.stderr, t.stderr_dropped),
            ] {
                if dropped > 0 {
                    *output = tail(output);
                } else {
                    in_place(output);
                }
            }
            if let Some(e) = &mut t.error {
                in_place(e);
            }
            let cut = t.stdout_dropped > 0 || t.stderr_dropped > 0;
            for m in &mut t.mismatches {
                in_place(&mut m.check);
                in_place(&mut m.expected);
                // The actual output a mismatch quotes is the kept tail.
                if cut {
                    m.actual = tail(&m.actual);
                } else {
                    in_place(&mut m.actual);
                }
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
}
