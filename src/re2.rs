//! RE2's meaning of a Go tool's pattern (a cst config's, a goss file's) in Rust's regex syntax.
//! cst and goss are Go: their `\d`, `\w`, `\s` and `\b` are ASCII-only, where Rust's regex
//! (with Unicode on, as archsmoke's own specs use it) gives them their Unicode meaning; and a
//! `[` inside an RE2 class is a literal, where Rust's regex opens a nested class.

use std::fmt::Write as _;

/// RE2's Perl classes and word boundaries, spelled so that Rust's regex gives them RE2's ASCII
/// meaning: `\d` is `[0-9]` (U+0663 ARABIC-INDIC DIGIT THREE is no digit to RE2), `\w` is
/// `[0-9A-Za-z_]`, `\s` is `[\t\n\f\r ]`, `\b` is an ASCII word boundary. Every other
/// character is copied as is.
pub fn ascii_classes(pattern: &str) -> String {
    const DIGIT: &str = "0-9";
    const WORD: &str = "0-9A-Za-z_";
    const SPACE: &str = "\\t\\n\\f\\r ";
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut chars = pattern.chars().peekable();
    // Inside `[...]`: RE2 has no nested classes, only `[:name:]` inside one.
    let mut in_class = false;
    // Right after `[` or `[^`, where `]` is a literal.
    let mut class_start = false;
    while let Some(c) = chars.next() {
        let at_start = std::mem::take(&mut class_start);
        match c {
            '\\' => {
                let Some(next) = chars.next() else {
                    out.push(c);
                    break;
                };
                let set = match next.to_ascii_lowercase() {
                    'd' => Some(DIGIT),
                    'w' => Some(WORD),
                    's' => Some(SPACE),
                    _ => None,
                };
                match (set, next.is_ascii_uppercase(), in_class) {
                    (Some(set), false, true) => out.push_str(set),
                    (Some(set), false, false) => {
                        let _ = write!(out, "[{set}]");
                    }
                    // A negated class, nested inside a class (Rust's regex allows that).
                    (Some(set), true, _) => {
                        let _ = write!(out, "[^{set}]");
                    }
                    (None, _, false) if next == 'b' || next == 'B' => {
                        let _ = write!(out, "(?-u:\\{next})");
                    }
                    (None, _, _) => {
                        out.push(c);
                        out.push(next);
                    }
                }
            }
            '[' if !in_class => {
                out.push(c);
                in_class = true;
                class_start = true;
                if chars.peek() == Some(&'^') {
                    out.push('^');
                    chars.next();
                }
            }
            '[' if chars.peek() == Some(&':') => {
                // `[:alpha:]`: copied whole, it is ASCII in both.
                out.push(c);
                for k in chars.by_ref() {
                    out.push(k);
                    if k == ']' {
                        break;
                    }
                }
            }
            // A literal `[` in an RE2 class would open a nested class in Rust's regex.
            '[' => out.push_str("\\["),
            ']' if in_class && !at_start => {
                out.push(c);
                in_class = false;
            }
            _ => out.push(c),
        }
    }
    out
}
