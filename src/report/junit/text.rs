//! Turning arbitrary text into text that XML 1.0 can carry and a CI dashboard can show.
//!
//! Container output is hostile input: colour codes, cursor movement, NUL bytes, form feeds, and
//! sometimes `]]>`. junit-report 0.9 writes attribute values with only `<>&'"` escaped and CDATA
//! content verbatim (see `reports.rs` in its source), so every string must pass through here
//! before it reaches that crate. Invalid UTF-8 never gets this far: the engine module already
//! replaced it with U+FFFD, which XML accepts.

use std::fmt::Write as _;

use super::super::words;

/// The most text one `system-out`, `system-err` or failure body carries. Dashboards choke on
/// multi-megabyte reports (Jenkins keeps every byte in memory per build). An output's start says
/// what ran and its end is where the error usually is, so a block keeps both.
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

/// Text for a `system-out`/`system-err` element: cleaned, at most [`BLOCK_LIMIT`] bytes of it,
/// and safe inside CDATA. A captured stream comes as its `head`, the bytes the capture
/// `omitted`, and its `tail` (any other text as `tail` alone); what is cut here goes with the
/// omitted bytes, so the block shows both ends and one count of what is not shown between them
/// (the reports' [`omitted`](super::super::words::omitted) line). Without a head (a report
/// written before heads were kept), the tail fills the block.
pub fn block(head: &str, omitted: u64, tail: &str) -> String {
    let (head, tail) = (clean(head), clean(tail));
    let text = if omitted == 0 && head.is_empty() {
        words::both_ends(&tail, BLOCK_LIMIT).into_owned()
    } else {
        let (shown_head, head_cut) = start(&head, BLOCK_LIMIT / 2);
        let (shown_tail, tail_cut) = self::tail(&tail, BLOCK_LIMIT - shown_head.len());
        words::output(
            shown_head,
            omitted + (head_cut + tail_cut) as u64,
            shown_tail,
        )
        .into_owned()
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

/// The first `limit` bytes of `s` (on a character boundary) and how many bytes were cut.
fn start(s: &str, limit: usize) -> (&str, usize) {
    if s.len() <= limit {
        return (s, 0);
    }
    let mut end = limit;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    (&s[..end], s.len() - end)
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
    fn a_long_block_keeps_both_ends_and_says_how_much_is_missing() {
        let s = format!("START{}END", "x".repeat(BLOCK_LIMIT * 2));
        let b = block("", 0, &s);
        let cut = s.len() - BLOCK_LIMIT;
        assert!(b.starts_with("STARTxxx"), "{}", &b[..100]);
        assert!(b.contains(&format!("\n[… {cut} bytes omitted …]\n")));
        assert!(b.ends_with("xxxEND"));
        assert!(b.len() < BLOCK_LIMIT + 100);
    }

    #[test]
    fn a_stream_the_capture_cut_shows_its_head_and_tail_and_one_count() {
        assert_eq!(
            block("1\n2\n", 42, "9\n10\n"),
            "1\n2\n[… 42 bytes omitted …]\n9\n10\n"
        );
        // Heads and tails longer than the block: half of it each, the rest counted.
        let head = format!("FIRST{}", "h".repeat(BLOCK_LIMIT));
        let tail = format!("{}LAST", "t".repeat(BLOCK_LIMIT));
        let b = block(&head, 1000, &tail);
        let cut = 1000 + head.len() + tail.len() - BLOCK_LIMIT;
        assert!(b.starts_with("FIRSThhh"));
        assert!(
            b.contains(&format!("h\n[… {cut} bytes omitted …]\nt")),
            "{cut}"
        );
        assert!(b.ends_with("tttLAST"));
        assert!(b.len() < BLOCK_LIMIT + 100);
        // A report written before heads were kept: the tail alone, after the count.
        assert_eq!(block("", 42, "tail\n"), "[… 42 bytes omitted …]\ntail\n");
        assert_eq!(block("", 0, "whole\n"), "whole\n");
    }

    #[test]
    fn cutting_never_splits_a_character() {
        let s = "é".repeat(BLOCK_LIMIT);
        let b = block("", 0, &s);
        assert!(b.starts_with('é') && b.ends_with('é'));
        let b = block(&s, 1, &s);
        assert!(b.starts_with('é') && b.ends_with('é'));
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
