//! Reading past the TOML reader's first error: the offending line (or, failing that, its table)
//! is blanked out byte for byte, so every later offset still points at the same place, and the
//! reader is asked again. `parse_all` drives it; this file only cuts text.

/// `text` with the line at `offset` blanked, the line's start and its key, when that line is a
/// whole `key = value` on its own (it reads as TOML alone and is no header), so that blanking it
/// leaves the rest of the table readable; `None` otherwise.
pub(super) fn blank_line(text: &str, offset: usize) -> Option<(String, usize, Option<String>)> {
    let offset = offset.min(text.len());
    let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    let line = &text[start..end];
    let trimmed = line.trim_start();
    if trimmed.is_empty() || trimmed.starts_with('[') || !trimmed.contains('=') {
        return None;
    }
    let alone: toml::Table = toml::from_str(line).ok()?;
    if alone.is_empty() {
        return None;
    }
    let key = (alone.len() == 1)
        .then(|| alone.keys().next().cloned())
        .flatten();
    let blanked = " ".repeat(line.len());
    Some((
        format!("{}{blanked}{}", &text[..start], &text[end..]),
        start,
        key,
    ))
}

/// The byte range of the table around `offset`: from its `[header]` line to the next header
/// that is not one of its own subtables; before the first header, the top-level keys.
pub(super) fn table_range(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let line_start = |at: usize| text[..at].rfind('\n').map_or(0, |i| i + 1);
    let is_header = |start: usize| text[start..].trim_start().starts_with('[');
    let mut start = line_start(offset);
    while start > 0 && !is_header(start) {
        start = line_start(start - 1);
    }
    let next_line = |at: usize| text[at..].find('\n').map_or(text.len(), |i| at + i + 1);
    if !is_header(start) {
        let mut at = 0;
        while at < text.len() && !is_header(at) {
            at = next_line(at);
        }
        return (0, at);
    }
    // Up to the next header that is not one of this table's own subtables (`[test.expect]`
    // under `[[test]]`), which would otherwise attach to the table before it.
    let name = text[start..]
        .trim_start()
        .trim_start_matches('[')
        .split(']')
        .next()
        .unwrap_or("")
        .trim()
        .to_owned();
    let own = |at: usize| {
        let header = text[at..].trim_start().trim_start_matches('[').trim_start();
        header.starts_with(&format!("{name}."))
    };
    let mut at = next_line(start);
    while at < text.len() && (!is_header(at) || own(at)) {
        at = next_line(at);
    }
    (start, at)
}

/// `text` with the table around `offset` (from its `[header]` to the next one) blanked out, or
/// only the line at `offset` when it sits before the first header; `None` when nothing there is
/// left to blank.
pub(super) fn blank_table(text: &str, offset: usize) -> Option<String> {
    let offset = offset.min(text.len());
    let line_start = |at: usize| text[..at].rfind('\n').map_or(0, |i| i + 1);
    let (mut start, mut end) = table_range(text, offset);
    if !text[start..].trim_start().starts_with('[') {
        start = line_start(offset);
        end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    }
    let region = &text[start..end];
    if region.chars().all(char::is_whitespace) {
        return None;
    }
    // Byte for byte, so that every later offset still points at the same place.
    let blanked: String = region
        .bytes()
        .map(|b| if b == b'\n' { '\n' } else { ' ' })
        .collect();
    Some(format!("{}{blanked}{}", &text[..start], &text[end..]))
}
