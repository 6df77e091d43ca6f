//! TOML text for specs that archsmoke writes (`init`, `convert` of cst and goss files), from
//! strings that come from images, indexes and users' files: whatever they hold, what is written
//! reads back as the same string and cannot end its string, its line or its table.

use std::fmt::Write as _;

/// A TOML basic string of `s`, which is also a quoted key. Every character TOML forbids raw
/// (control characters, DEL) and every one that would not read as itself (bidirectional
/// overrides, invisible characters) is a `\uXXXX` escape.
pub fn basic_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if crate::diagnostic::unprintable(c) => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A TOML key: bare where TOML allows it (`A-Za-z0-9_-`), else a basic string. (A value may be
/// written as a multi-line literal string, as the `toml` crate does for text holding both `'`
/// and `\`; a key may not.)
pub fn key(k: &str) -> String {
    if !k.is_empty()
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        k.to_owned()
    } else {
        basic_string(k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `key = "value"` read back.
    fn read_back(key_text: &str) -> Vec<String> {
        let doc: toml::Table = format!("{key_text} = 1").parse().expect("valid TOML");
        doc.keys().cloned().collect()
    }

    #[test]
    fn every_key_reads_back_as_itself() {
        for k in [
            "plain",
            "with space",
            "a\\'b",
            "FOO\\':BAR=BAZ'",
            "'''",
            "\"\"\"",
            "tab\there",
            "new\nline",
            "del\u{7f}",
            "nul\0",
            "rtl\u{202e}",
            "zero\u{200b}width",
            "ünïcode",
            "",
            "a.b",
        ] {
            let written = key(k);
            assert!(!written.contains('\n'), "{written}");
            assert_eq!(read_back(&written), [k.to_owned()], "{written}");
        }
    }

    #[test]
    fn the_toml_crate_writes_such_a_string_as_a_multiline_literal() {
        // Why `key` does not reuse `toml::Value::String(..).to_string()`: the fuzzer's input.
        let value = toml::Value::String("a\\'b".into()).to_string();
        assert!(value.starts_with("'''"), "{value}");
        assert!(format!("{value} = 1").parse::<toml::Table>().is_err());
    }
}
