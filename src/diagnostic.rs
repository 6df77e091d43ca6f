//! How errors reach the user: what went wrong, what to do next, and which exit code it means.

use std::fmt;

use crate::exit;

/// A fatal error for the command line: one message, an optional hint, and its exit code.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    pub message: String,
    pub hint: Option<String>,
    pub exit_code: i32,
}

impl Diagnostic {
    pub fn usage(message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            message: message.into(),
            hint: None,
            exit_code: exit::USAGE,
        }
    }

    pub fn infrastructure(message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            message: message.into(),
            hint: None,
            exit_code: exit::INFRASTRUCTURE,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Diagnostic {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error: {}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  = hint: {hint}")?;
        }
        Ok(())
    }
}

/// An error and its sources on one line, without repeating a source that the message already
/// contains, so that root causes such as "Connection refused" show exactly once.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// A character no printed name may hold: a control character (newline, ESC, BEL, the C1 range
/// with its OSC), a bidirectional embedding, override or isolate, or an invisible one
/// (zero-width spaces and joiners, the byte-order mark).
pub fn unprintable(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{2069}'
                | '\u{FEFF}'
        )
}

/// Which kind of [`unprintable`] character `c` is, for an error that names it.
pub fn unprintable_kind(c: char) -> &'static str {
    if c.is_control() {
        "a control character"
    } else if matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}')
    {
        "a bidirectional override"
    } else {
        "an invisible character"
    }
}

/// `text` (from an image, an index or an engine: data, never formatting) safe to print on a
/// terminal, a CI log or in a comment: every [`unprintable`] character written as `\u{…}`, a
/// backslash as itself. One line, and it reads as what it is.
pub fn printable(text: &str) -> String {
    if !text.chars().any(unprintable) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unprintable(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod printable_tests {
    use super::*;

    #[test]
    fn control_bidi_and_invisible_characters_are_escaped() {
        assert_eq!(printable("plain é"), "plain é");
        assert_eq!(printable("zz\n[[engine]]"), "zz\\u{a}[[engine]]");
        assert_eq!(printable("\u{1b}]0;x\u{7}"), "\\u{1b}]0;x\\u{7}");
        assert_eq!(printable("a\u{202e}b\u{200b}"), "a\\u{202e}b\\u{200b}");
        assert_eq!(printable("0\u{7f}"), "0\\u{7f}");
    }
}
