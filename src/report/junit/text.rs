//! Turning arbitrary text into text that XML 1.0 can carry and a CI dashboard can show.
//!
//! Container output is hostile input: colour codes, cursor movement, NUL bytes, form feeds, and
//! sometimes `]]>`. junit-report 0.9 writes attribute values with only `<>&'"` escaped and CDATA
//! content verbatim (see `reports.rs` in its source), so every string must pass through here
//! before it reaches that crate. Invalid UTF-8 never gets this far: the engine module already
//! replaced it with U+FFFD, which XML accepts.

use std::fmt::Write as _;

/// The most text one `system-out`, `system-err` or failure body carries. Dashboards choke on
/// multi-megabyte reports (Jenkins keeps every byte in memory per build), and the end of an
/// output is where the error usually is, so the tail is kept.
pub const BLOCK_LIMIT: usize = 64 * 1024;

/// Removes ANSI escape sequences (CSI such as colours and cursor movement, OSC such as
/// hyperlinks and titles, DCS) and drops every character XML 1.0 forbids.
///
/// XML 1.0 cannot represent C0 controls other than tab, newline and carriage return at all, not
/// even as character references, and U+FFFE/U+FFFF are excluded too: dropping is the only
/// choice that keeps the document parseable. Where the exact bytes matter (expected vs actual),
/// callers show values through [`quote`], which keeps them visible as escapes instead.
pub fn clean(s: &str) -> String {
    console::strip_ansi_codes(s)
        .chars()
        .filter(|&c| is_xml_char(c))
        .collect()
}

/// [`clean`], on one line: for attribute values, where parsers would turn raw newlines and tabs
/// into spaces anyway (attribute-value normalization); doing it here makes every consumer see
/// the same text.
pub fn line(s: &str) -> String {
    clean(s)
        .chars()
        .map(|c| {
            if matches!(c, '\t' | '\n' | '\r') {
                ' '
            } else {
                c
            }
        })
        .collect()
}

/// A value shown as a Rust string literal (`"a\u{1b}b\n"`), so that control characters and
/// trailing newlines stay visible, shortened to `max_chars` with the original length noted.
pub fn quote(s: &str, max_chars: usize) -> String {
    let escaped = format!("{s:?}");
    if escaped.chars().count() <= max_chars {
        return escaped;
    }
    let head: String = escaped.chars().take(max_chars).collect();
    format!("{head}… ({} bytes in all)", s.len())
}

/// Shortens already clean text to at most `max_chars` characters, marking the cut.
pub fn shorten(s: &str, max_chars: usize) -> String {
    if s.chars().count() <= max_chars {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max_chars).collect();
    let _ = write!(out, "… ({} more bytes)", s.len() - out.len());
    out
}

/// Captured output for a `system-out`/`system-err` element: cleaned, cut to the last
/// [`BLOCK_LIMIT`] bytes, with a first line saying how much is missing, counting what the
/// capture itself dropped (`dropped_before`), and safe inside CDATA.
pub fn block(s: &str, dropped_before: u64) -> String {
    let clean = clean(s);
    let (kept, cut_here) = tail(&clean, BLOCK_LIMIT);
    let cut = dropped_before + cut_here as u64;
    let text = if cut > 0 {
        format!("[archsmoke: the first {cut} bytes of this output are not shown]\n{kept}")
    } else {
        kept.to_owned()
    };
    cdata(&text)
}

/// Text for a CDATA section from already clean text: capped at [`BLOCK_LIMIT`] (keeping the
/// head: failure bodies start with what matters) and with `]]>` made safe.
pub fn body(clean: &str) -> String {
    if clean.len() <= BLOCK_LIMIT {
        return cdata(clean);
    }
    let mut end = BLOCK_LIMIT;
    while !clean.is_char_boundary(end) {
        end -= 1;
    }
    cdata(&format!(
        "{}\n[archsmoke: the last {} bytes are not shown]",
        &clean[..end],
        clean.len() - end
    ))
}

/// CDATA cannot contain `]]>` and has no escapes, so the section is closed after `]]` and a new
/// one opened before `>`: a parser reads back exactly the original text. junit-report wraps
/// whatever it is given in one `<![CDATA[...]]>` and does not do this itself.
pub fn cdata(s: &str) -> String {
    s.replace("]]>", "]]]]><![CDATA[>")
}

/// The last `limit` bytes of `s` (on a character boundary) and how many bytes were cut.
fn tail(s: &str, limit: usize) -> (&str, usize) {
    if s.len() <= limit {
        return (s, 0);
    }
    let mut start = s.len() - limit;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    (&s[start..], start)
}

/// XML 1.0's `Char` production.
fn is_xml_char(c: char) -> bool {
    matches!(c,
        '\t' | '\n' | '\r'
        | '\u{20}'..='\u{D7FF}'
        | '\u{E000}'..='\u{FFFD}'
        | '\u{10000}'..='\u{10FFFF}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ansi_sequences_go_and_their_text_stays() {
        let s = "\x1b[1;31mred\x1b[0m \x1b]8;;http://example\x07link\x1b]8;;\x07 \x1b]0;title\x1b\\x \
                 \x1b[2K\x1b[1Gprogress";
        assert_eq!(clean(s), "red link x progress");
    }

    #[test]
    fn characters_xml_forbids_are_dropped_and_the_rest_kept() {
        let s = "a\x00b\x01\x08\x0b\x0c\x1b\x7fc\u{FFFE}\u{FFFF}\u{FFFD}\t\n\r\u{D7FF}\u{E000}\u{10FFFF}é";
        // DEL (U+007F) is allowed in XML 1.0; a lone ESC that starts no sequence is not.
        assert_eq!(clean(s), "ab\x7fc\u{FFFD}\t\n\r\u{D7FF}\u{E000}\u{10FFFF}é");
    }

    #[test]
    fn attribute_text_is_one_line() {
        assert_eq!(
            line("two\nlines\tand\r\x1b[31mred\x1b[0m"),
            "two lines and red"
        );
    }

    #[test]
    fn cdata_terminators_are_split_so_a_parser_reads_the_original() {
        let s = "a]]>b]]]]>c]]";
        let xml = format!("<x><![CDATA[{}]]></x>", cdata(s));
        let doc = roxmltree::Document::parse(&xml).expect("split CDATA parses");
        let text: String = doc
            .root_element()
            .children()
            .filter_map(|n| n.text())
            .collect();
        assert_eq!(text, s);
    }

    #[test]
    fn blocks_keep_the_tail_and_say_how_much_is_missing() {
        let s = format!("{}END", "x".repeat(BLOCK_LIMIT * 2));
        let b = block(&s, 1000);
        let cut = s.len() - BLOCK_LIMIT + 1000;
        assert!(
            b.starts_with(&format!(
                "[archsmoke: the first {cut} bytes of this output are not shown]\n"
            )),
            "{}",
            &b[..100]
        );
        assert!(b.ends_with("END"));
        assert!(b.len() < BLOCK_LIMIT + 100);
    }

    #[test]
    fn a_block_the_capture_already_cut_still_says_so() {
        assert_eq!(
            block("tail\n", 42),
            "[archsmoke: the first 42 bytes of this output are not shown]\ntail\n"
        );
        assert_eq!(block("whole\n", 0), "whole\n");
    }

    #[test]
    fn cutting_never_splits_a_character() {
        let s = "é".repeat(BLOCK_LIMIT);
        let b = block(&s, 0);
        assert!(b.ends_with('é'));
        let (kept, cut) = tail(&s, BLOCK_LIMIT - 1);
        assert_eq!(kept.len() + cut, s.len());
        assert!(
            kept.len() < BLOCK_LIMIT,
            "an odd limit cannot split a two-byte character"
        );
        let long = body(&"ü".repeat(BLOCK_LIMIT));
        assert!(
            long.ends_with("bytes are not shown]"),
            "{}",
            &long[long.len() - 80..]
        );
    }

    #[test]
    fn quoted_values_show_control_characters_and_are_shortened() {
        assert_eq!(quote("a\x1b[0m\n", 100), r#""a\u{1b}[0m\n""#);
        let q = quote(&"y".repeat(1000), 10);
        assert_eq!(q, "\"yyyyyyyyy… (1000 bytes in all)");
        assert_eq!(shorten("abcdef", 3), "abc… (3 more bytes)");
        assert_eq!(shorten("abc", 3), "abc");
    }
}
