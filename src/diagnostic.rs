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
