//! Spec errors that point at the exact place in the file, the way a compiler does.
//!
//! Every error carries the file, a 1-based line and column, the offending source line, and a hint
//! that says what to write instead. Positions come from the byte spans that `toml` keeps.

use std::fmt;
use std::path::{Path, PathBuf};

/// Something wrong with a spec file. Always exit code 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    pub path: PathBuf,
    /// 1-based; 0 when the error concerns the file as a whole (unreadable, empty).
    pub line: usize,
    pub column: usize,
    pub message: String,
    pub source_line: Option<String>,
    pub hint: Option<String>,
}

impl SpecError {
    /// An error at a byte offset of `text`.
    pub fn at(path: &Path, text: &str, offset: usize, message: impl Into<String>) -> SpecError {
        let mut offset = offset.min(text.len());
        // A span from a parser should sit on a character boundary; never trust it to.
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = text[line_start..offset].chars().count() + 1;
        SpecError::at_line(path, text, line, column, message)
    }

    /// An error at a 1-based line and column of `text` (as the YAML loaders of cst configs and
    /// goss files give positions).
    pub fn at_line(
        path: &Path,
        text: &str,
        line: usize,
        column: usize,
        message: impl Into<String>,
    ) -> SpecError {
        SpecError {
            path: path.to_owned(),
            line,
            column,
            message: message.into(),
            source_line: text.lines().nth(line.saturating_sub(1)).map(str::to_owned),
            hint: None,
        }
    }

    /// An error about the file as a whole.
    pub fn file(path: &Path, message: impl Into<String>) -> SpecError {
        SpecError {
            path: path.to_owned(),
            line: 0,
            column: 0,
            message: message.into(),
            source_line: None,
            hint: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> SpecError {
        self.hint = Some(hint.into());
        self
    }
}

/// Several problems as one message: each in full, then how many there are.
pub fn all(errors: &[SpecError]) -> String {
    let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
    match errors.len() {
        1 => text.join(""),
        n if n >= super::MAX_ERRORS => format!(
            "{}\n\n{n} problems shown; there may be more once these are fixed",
            text.join("\n\n")
        ),
        n => format!("{}\n\n{n} problems", text.join("\n\n")),
    }
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.path.display(), self.message)?;
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.path.display(),
                self.line,
                self.column,
                self.message
            )?;
        }
        if let Some(src) = &self.source_line {
            let gutter = self.line.to_string().len();
            write!(f, "\n {:gutter$} |\n {} | {}", "", self.line, src)?;
            let pad: String = src
                .chars()
                .take(self.column.saturating_sub(1))
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            write!(f, "\n {:gutter$} | {pad}^", "")?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n  = hint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SpecError {}

/// The closest of `candidates` to `word`, when it is close enough to be a plausible typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_lines_and_columns() {
        let text = "a = 1\nbb = 2\n";
        let e = SpecError::at(Path::new("s.toml"), text, 6 + 3, "boom");
        assert_eq!((e.line, e.column), (2, 4));
        assert_eq!(e.source_line.as_deref(), Some("bb = 2"));
        let shown = e.to_string();
        assert!(shown.starts_with("s.toml:2:4: boom"), "{shown}");
        assert!(shown.contains("2 | bb = 2"), "{shown}");
    }

    #[test]
    fn suggests_near_misses_only() {
        assert_eq!(did_you_mean("timeot", ["timeout", "jobs"]), Some("timeout"));
        assert_eq!(did_you_mean("zzz", ["timeout", "jobs"]), None);
    }
}
