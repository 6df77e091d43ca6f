//! Hints for the type errors newcomers make most: a command written as one string, `env` as a
//! list of `KEY=value`, a timeout as a bare number. serde says what it expected; these say what
//! to write instead, in the user's own words.

/// A hint for serde's "invalid type" message, given the key on the offending line.
pub fn type_hint(key: &str, message: &str) -> Option<String> {
    let found = message.strip_prefix("invalid type: ")?;
    let (found, expected) = found.split_once(", expected ")?;
    if let Some(string) = found.strip_prefix("string \"") {
        let string = string.strip_suffix('"').unwrap_or(string);
        if expected.contains("sequence") {
            let words: Vec<String> = string
                .split_whitespace()
                .map(|w| format!("{w:?}"))
                .collect();
            return Some(format!(
                "write it as a list: {key} = [{}] (each argument its own string; no shell \
                 splits it)",
                words.join(", ")
            ));
        }
    }
    if found == "sequence" && expected.contains("map") {
        return Some(format!(
            "write it as a table: {key} = {{ NAME = \"value\" }}, not a list of \"NAME=value\""
        ));
    }
    if (found.starts_with("integer") || found.starts_with("floating point"))
        && expected.contains("string")
        && key.contains("timeout")
    {
        let n = found
            .split('`')
            .nth(1)
            .unwrap_or("30")
            .trim_end_matches(".0");
        return Some(format!(
            "write durations as a string with a unit: {key} = \"{n}s\""
        ));
    }
    None
}

/// The key an error's line assigns (`command = "uname -m"` → `command`).
pub fn key_of(source_line: &str) -> Option<&str> {
    let (key, _) = source_line.split_once('=')?;
    let key = key.trim().trim_matches('"');
    (!key.is_empty() && !key.contains(['[', ' '])).then_some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_string_becomes_a_list() {
        let h = type_hint(
            "command",
            "invalid type: string \"uname -m\", expected a sequence",
        )
        .expect("a hint");
        assert!(h.contains(r#"command = ["uname", "-m"]"#), "{h}");
    }

    #[test]
    fn env_as_a_list_and_timeout_as_a_number() {
        let h = type_hint("env", "invalid type: sequence, expected a map").expect("a hint");
        assert!(h.contains("env = { NAME = \"value\" }"), "{h}");
        let h =
            type_hint("timeout", "invalid type: integer `5`, expected a string").expect("a hint");
        assert!(h.contains("timeout = \"5s\""), "{h}");
        assert_eq!(key_of("  timeout = 5"), Some("timeout"));
        assert_eq!(key_of("[[test]]"), None);
    }
}
