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

/// A TOML value of `s` (a literal string where that needs no escapes, as the `toml` crate
/// writes it; valid as a value, not always as a key).
pub fn value(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// `{ KEY = "value", ... }` in the order given, the values of a key given more than once as a
/// list (`KEY = ["a", "b"]`), for tables whose list means "all of these".
pub fn grouped_table(pairs: &[(String, String)]) -> String {
    let mut keys: Vec<(&str, Vec<&str>)> = Vec::new();
    let mut index: std::collections::HashMap<&str, usize> = Default::default();
    for (k, v) in pairs {
        match index.get(k.as_str()) {
            Some(&i) => keys[i].1.push(v),
            None => {
                index.insert(k, keys.len());
                keys.push((k, vec![v]));
            }
        }
    }
    let inner: Vec<String> = keys
        .iter()
        .map(|(k, values)| match values.as_slice() {
            [one] => format!("{} = {}", key(k), value(one)),
            many => {
                let items: Vec<String> = many.iter().map(|v| value(v)).collect();
                format!("{} = [{}]", key(k), items.join(", "))
            }
        })
        .collect();
    format!("{{ {} }}", inner.join(", "))
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
    fn a_key_given_twice_is_one_key_with_a_list() {
        let pairs: Vec<(String, String)> = [("b", "1"), ("a\\'", "x"), ("b", "2"), ("c", "3")]
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let table = grouped_table(&pairs);
        let doc: toml::Table = format!("t = {table}").parse().expect("valid TOML");
        let t = doc["t"].as_table().expect("table");
        assert_eq!(t.keys().collect::<Vec<_>>(), ["a\\'", "b", "c"], "{table}");
        assert_eq!(t["b"], toml::Value::Array(vec!["1".into(), "2".into()]));
        assert_eq!(t["c"].as_str(), Some("3"));
        assert!(
            table.starts_with("{ b = "),
            "written in the order given: {table}"
        );
    }

    #[test]
    fn the_toml_crate_writes_such_a_string_as_a_multiline_literal() {
        // Why `key` does not reuse `toml::Value::String(..).to_string()`: the fuzzer's input.
        let value = toml::Value::String("a\\'b".into()).to_string();
        assert!(value.starts_with("'''"), "{value}");
        assert!(format!("{value} = 1").parse::<toml::Table>().is_err());
    }
}
