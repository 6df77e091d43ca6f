//! `$VAR` and `${VAR}` expansion with the rules of Go's `os.Expand`, which
//! container-structure-test applies to commands and environment values: an unknown variable
//! becomes empty, `$` before anything that is not a name is kept, a malformed `${` is dropped,
//! and the shell's special one-character names (`$1`, `$$`, `$*`, ...) are names too (they are
//! never set, so they expand to nothing, the surprise cst users know from awk's `$2`).

use std::collections::BTreeMap;

/// Expand `text` against `env` (the image's environment, `KEY=value` pairs already split).
pub fn expand(text: &str, env: &BTreeMap<String, String>) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    // Start of the text not yet copied.
    let mut copied = 0;
    let mut j = 0;
    while j < bytes.len() {
        if bytes[j] == b'$' && j + 1 < bytes.len() {
            out.push_str(&text[copied..j]);
            let (name, width) = shell_name(&text[j + 1..]);
            match name {
                // Malformed (`${}`, an unclosed `${`): the characters are eaten.
                None if width > 0 => {}
                // A `$` not followed by a name stays.
                None => out.push('$'),
                Some(name) => out.push_str(env.get(name).map_or("", String::as_str)),
            }
            j += width;
            copied = j + 1;
        }
        j += 1;
    }
    out.push_str(&text[copied.min(text.len())..]);
    out
}

fn special(c: u8) -> bool {
    matches!(
        c,
        b'*' | b'#' | b'$' | b'@' | b'!' | b'?' | b'-' | b'0'..=b'9'
    )
}

fn alnum(c: u8) -> bool {
    c == b'_' || c.is_ascii_alphanumeric()
}

/// The name after a `$` and how many bytes it spans (Go's `getShellName`).
fn shell_name(s: &str) -> (Option<&str>, usize) {
    let b = s.as_bytes();
    if b[0] == b'{' {
        if b.len() > 2 && special(b[1]) && b[2] == b'}' {
            return (Some(&s[1..2]), 3);
        }
        return match s[1..].find('}') {
            Some(0) => (None, 2),
            Some(i) => (Some(&s[1..=i]), i + 2),
            None => (None, 1),
        };
    }
    if special(b[0]) {
        return (Some(&s[..1]), 1);
    }
    let n = b.iter().take_while(|c| alnum(**c)).count();
    if n == 0 {
        (None, 0)
    } else {
        (Some(&s[..n]), n)
    }
}

/// `KEY=value` pairs as a map; a later pair wins, as in Docker's merge.
pub fn env_map<'a>(pairs: impl IntoIterator<Item = &'a String>) -> BTreeMap<String, String> {
    pairs
        .into_iter()
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> BTreeMap<String, String> {
        BTreeMap::from([
            ("PATH".to_owned(), "/bin".to_owned()),
            ("A".to_owned(), "x".to_owned()),
        ])
    }

    #[test]
    fn expands_like_go_os_expand() {
        for (input, want) in [
            ("/opt:$PATH", "/opt:/bin"),
            ("${PATH}/sub", "/bin/sub"),
            ("$A$A", "xx"),
            ("$UNSET-", "-"),
            ("awk '{print $2}'", "awk '{print }'"),
            ("cost $", "cost $"),
            ("a $ b", "a $ b"),
            ("${}", ""),
            ("${A", "A"),
            ("$$", ""),
            ("${1}", ""),
            ("${A}B", "xB"),
            ("no dollar", "no dollar"),
            ("é$A€", "éx€"),
            ("$.x", "$.x"),
        ] {
            assert_eq!(expand(input, &env()), want, "{input}");
        }
    }

    #[test]
    fn later_pairs_win() {
        let pairs = ["A=1".to_owned(), "A=2".to_owned(), "B".to_owned()];
        let m = env_map(&pairs);
        assert_eq!(m["A"], "2");
        assert_eq!(m["B"], "");
    }
}
