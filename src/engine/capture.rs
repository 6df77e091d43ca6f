//! Bounded capture of a container's output stream.
//!
//! A test that prints a gigabyte must not cost a gigabyte in its report: each stream keeps at
//! most `limit` bytes for reports. When it overflows, it keeps its *head* (the first half of the
//! limit: where a program says what it is, and what an expectation like `^1\n2\n` talks about)
//! and its *tail* (the rest: where the error that ended a program usually is), and counts the
//! bytes omitted between them so that reports can say so. A partial line at either cut is
//! omitted too, when it is short (a quarter of its part at most, and at most [`LINE_SNAP`]), so
//! reports show whole lines; else the cut moves to a character boundary. The tail's buffer grows
//! to at most twice its share and is compacted with one `memmove`, so a flood costs memcpy
//! speed, not a per-byte loop.
//!
//! Expectations, though, are matched against the *whole* output, as container-structure-test
//! matches them (`^1\n2\n` holds on `seq 1 200000` whatever the report keeps). So the stream is
//! also kept whole: in memory up to [`WHOLE_IN_MEMORY`], in an unnamed temporary file beyond,
//! up to the hard bound [`WHOLE_LIMIT`]. A stream longer than that cannot be matched whole, and
//! the test says so instead of matching a part.
//!
//! Secrets are masked later, on the report (`redact`), in the head and the tail alike; what the
//! cut leaves of a secret at the head's end or the tail's start is masked there too.

use std::io::{Read, Seek, Write};

use serde::Serialize;

/// Output of one stream held in memory for matching; past it the stream spills to a file.
pub const WHOLE_IN_MEMORY: usize = 8 << 20;
/// The most output of one stream expectations are matched against (read back into memory for
/// the match, since regexes search one contiguous text).
pub const WHOLE_LIMIT: u64 = 64 << 20;

/// How far back from a cut a line break is looked for (see the module's comment).
pub const LINE_SNAP: usize = 4096;

pub struct Capture {
    /// The most bytes kept at the start of the stream; the rest of the limit is the tail's.
    head_limit: usize,
    tail_limit: usize,
    head: Vec<u8>,
    /// The first byte after the head, once there is one: whether the head ends a line.
    after_head: Option<u8>,
    /// What followed the head: the tail once bytes were dropped from its front.
    buf: Vec<u8>,
    dropped: u64,
    /// The byte just before `buf`'s first, once bytes were dropped: whether the tail starts a
    /// line.
    before_tail: Option<u8>,
    total: u64,
    whole: Spill,
}

/// Where the whole stream is being kept.
enum Spill {
    Memory(Vec<u8>),
    File(std::fs::File),
    /// Not kept: the stream passed [`WHOLE_LIMIT`], or its file could not be written.
    Gone(Whole),
}

/// The whole stream, for matching.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Whole {
    /// `bytes` is all of it: nothing was omitted.
    #[default]
    InBytes,
    All(Vec<u8>),
    /// More than [`WHOLE_LIMIT`] bytes.
    TooLarge(u64),
    /// The temporary file failed.
    Lost(String),
}

/// What a stream printed: all of it in `bytes`, or, past the limit, its `head`, the count of
/// bytes omitted after it, and its tail in `bytes`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Captured {
    /// The first bytes when some were omitted; empty when `bytes` is all of the stream.
    #[serde(skip)]
    pub head: Vec<u8>,
    /// The stream, or its tail when some was omitted.
    #[serde(skip)]
    pub bytes: Vec<u8>,
    /// Bytes omitted between `head` and `bytes` because the stream exceeded its limit.
    pub omitted: u64,
    /// The whole stream, when `bytes` is not all of it.
    #[serde(skip)]
    pub whole: Whole,
}

impl Captured {
    /// The output, or its tail, as text (invalid UTF-8 replaced), for reports.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }

    /// The kept head as text, empty when nothing was omitted.
    pub fn head_text(&self) -> String {
        String::from_utf8_lossy(&self.head).into_owned()
    }

    /// The whole output as text (invalid UTF-8 replaced), for matching; why not, when it was
    /// not kept.
    pub fn whole_text(&self) -> Result<String, String> {
        match &self.whole {
            Whole::InBytes => Ok(self.text()),
            Whole::All(bytes) => Ok(String::from_utf8_lossy(bytes).into_owned()),
            Whole::TooLarge(total) => Err(format!(
                "printed {total} bytes, more than the {} MiB expectations are matched against",
                WHOLE_LIMIT >> 20
            )),
            Whole::Lost(why) => Err(format!("could not be kept whole for matching: {why}")),
        }
    }
}

impl Captured {
    /// What expectations are matched against: the whole stream when something is expected of
    /// it (or why it was not kept whole), else the kept part, which nothing reads (a stream
    /// nothing is expected of need not be kept whole, at any size).
    pub fn for_matching(&self, expected: bool) -> Result<String, String> {
        if expected {
            self.whole_text()
        } else {
            Ok(self.text())
        }
    }
}

impl Capture {
    /// A test's stream: half of `limit` for the head, the rest for the tail.
    pub fn new(limit: usize) -> Capture {
        Capture::split(limit / 2, limit - limit / 2)
    }

    /// Only the tail: a service's log, whose end says why it stopped and whose every line
    /// `[logs]` has already seen.
    pub fn tail_only(limit: usize) -> Capture {
        Capture::split(0, limit)
    }

    fn split(head_limit: usize, tail_limit: usize) -> Capture {
        Capture {
            head_limit,
            tail_limit,
            head: Vec::new(),
            after_head: None,
            buf: Vec::new(),
            dropped: 0,
            before_tail: None,
            total: 0,
            whole: Spill::Memory(Vec::new()),
        }
    }

    pub fn push(&mut self, chunk: &[u8]) {
        self.total += chunk.len() as u64;
        self.keep_whole(chunk);
        let room = self.head_limit - self.head.len();
        let (to_head, chunk) = chunk.split_at(room.min(chunk.len()));
        self.head.extend_from_slice(to_head);
        if chunk.is_empty() {
            return;
        }
        if self.after_head.is_none() {
            self.after_head = Some(chunk[0]);
        }
        let limit = self.tail_limit;
        if chunk.len() >= limit {
            let cut = chunk.len() - limit;
            let before = if cut > 0 {
                Some(chunk[cut - 1])
            } else {
                self.buf.last().copied()
            };
            if !self.buf.is_empty() || cut > 0 {
                self.before_tail = before.or(self.before_tail);
            }
            self.dropped += (self.buf.len() + cut) as u64;
            self.buf.clear();
            self.buf.extend_from_slice(&chunk[cut..]);
            return;
        }
        if self.buf.len() + chunk.len() > limit.saturating_mul(2) {
            self.compact();
        }
        self.buf.extend_from_slice(chunk);
    }

    fn keep_whole(&mut self, chunk: &[u8]) {
        if self.total > WHOLE_LIMIT {
            self.whole = Spill::Gone(Whole::TooLarge(self.total));
            return;
        }
        let lost = |e: std::io::Error| Spill::Gone(Whole::Lost(format!("temporary file: {e}")));
        match &mut self.whole {
            Spill::Gone(_) => {}
            Spill::Memory(bytes) if bytes.len() + chunk.len() <= WHOLE_IN_MEMORY => {
                bytes.extend_from_slice(chunk);
            }
            Spill::Memory(bytes) => {
                let spilled = tempfile::tempfile().and_then(|mut file| {
                    file.write_all(bytes)?;
                    file.write_all(chunk)?;
                    Ok(file)
                });
                self.whole = spilled.map_or_else(lost, Spill::File);
            }
            Spill::File(file) => {
                if let Err(e) = file.write_all(chunk) {
                    self.whole = lost(e);
                }
            }
        }
    }

    /// Keep only the tail's share of what followed the head.
    fn compact(&mut self) {
        let excess = self.buf.len().saturating_sub(self.tail_limit);
        if excess > 0 {
            self.before_tail = Some(self.buf[excess - 1]);
            self.buf.copy_within(excess.., 0);
            self.buf.truncate(self.tail_limit);
            self.dropped += excess as u64;
        }
    }

    pub fn finish(mut self) -> Captured {
        self.compact();
        if self.dropped == 0 {
            // Nothing omitted: the head and what followed it are the stream, held once.
            let mut bytes = std::mem::take(&mut self.head);
            bytes.extend_from_slice(&self.buf);
            return Captured {
                head: Vec::new(),
                bytes,
                omitted: 0,
                whole: Whole::InBytes,
            };
        }
        let head_cut = head_partial(&self.head, self.after_head);
        self.head.truncate(self.head.len() - head_cut);
        let tail_cut = tail_partial(&self.buf, self.before_tail);
        self.buf.drain(..tail_cut);
        let whole = match self.whole {
            Spill::Memory(bytes) => Whole::All(bytes),
            Spill::File(mut file) => {
                let mut bytes = Vec::with_capacity(self.total as usize);
                match file.rewind().and_then(|()| file.read_to_end(&mut bytes)) {
                    Ok(_) => Whole::All(bytes),
                    Err(e) => Whole::Lost(format!("temporary file: {e}")),
                }
            }
            Spill::Gone(why) => why,
        };
        Captured {
            head: self.head,
            bytes: self.buf,
            omitted: self.dropped + (head_cut + tail_cut) as u64,
            whole,
        }
    }
}

/// How many bytes at the end of `head` belong to a line (or a character) that the cut broke:
/// the partial last line when it is short (see [`snap_window`]), else an incomplete UTF-8
/// sequence. `next` is the byte that followed the head.
fn head_partial(head: &[u8], next: Option<u8>) -> usize {
    if head.is_empty() || head.ends_with(b"\n") || next == Some(b'\n') {
        return 0;
    }
    let window = snap_window(head.len());
    if let Some(i) = head[head.len() - window..]
        .iter()
        .rposition(|&b| b == b'\n')
    {
        return window - i - 1;
    }
    // A lead byte among the last three whose sequence runs past the end.
    for back in 1..=head.len().min(3) {
        let b = head[head.len() - back];
        if b & 0xC0 != 0x80 {
            let needs = match b {
                0xF0..=0xFF => 4,
                0xE0..=0xEF => 3,
                0xC0..=0xDF => 2,
                _ => 1,
            };
            return if needs > back { back } else { 0 };
        }
    }
    0
}

/// How many bytes at the start of `tail` belong to a line (or a character) that the cut broke;
/// `before` is the byte that preceded the tail.
fn tail_partial(tail: &[u8], before: Option<u8>) -> usize {
    if tail.is_empty() || before == Some(b'\n') {
        return 0;
    }
    let window = snap_window(tail.len());
    if let Some(i) = tail[..window].iter().position(|&b| b == b'\n') {
        return i + 1;
    }
    tail.iter()
        .take(3)
        .take_while(|&&b| b & 0xC0 == 0x80)
        .count()
}

/// How far from a cut a line break may be and still be snapped to.
fn snap_window(part: usize) -> usize {
    (part / 4).min(LINE_SNAP)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn captured(limit: usize, chunks: &[&[u8]]) -> Captured {
        let mut c = Capture::new(limit);
        for chunk in chunks {
            c.push(chunk);
        }
        c.finish()
    }

    /// Head, omitted and tail add up to the stream, and are its start and its end.
    fn assert_adds_up(out: &Captured, stream: &[u8]) {
        assert_eq!(
            out.head.len() as u64 + out.omitted + out.bytes.len() as u64,
            stream.len() as u64
        );
        assert!(stream.starts_with(&out.head));
        assert!(stream.ends_with(&out.bytes));
    }

    #[test]
    fn keeps_everything_under_the_limit() {
        let out = captured(10, &[b"hello ", b"you"]);
        assert_eq!(out.bytes, b"hello you");
        assert!(out.head.is_empty());
        assert_eq!(out.omitted, 0);
        // Exactly the limit, across the head's share: still all of it, in one piece.
        let out = captured(8, &[b"abc", b"defgh"]);
        assert_eq!((out.bytes.as_slice(), out.omitted), (&b"abcdefgh"[..], 0));
    }

    #[test]
    fn keeps_the_head_and_the_tail_and_counts_what_it_omitted() {
        let out = captured(8, &[b"abc", b"def", b"g", b"hij"]);
        assert_eq!(out.head, b"abcd");
        assert_eq!(out.bytes, b"ghij");
        assert_eq!(out.omitted, 2);
        // One chunk larger than the whole limit.
        let out = captured(8, &[b"ab", b"0123456789"]);
        assert_eq!(out.head, b"ab01");
        assert_eq!(out.bytes, b"6789");
        assert_eq!(out.omitted, 4);
        assert_adds_up(&out, b"ab0123456789");
    }

    #[test]
    fn a_service_log_keeps_only_its_tail() {
        let mut c = Capture::tail_only(4);
        for chunk in [&b"abc"[..], b"def", b"g"] {
            c.push(chunk);
        }
        let out = c.finish();
        assert!(out.head.is_empty());
        assert_eq!(out.bytes, b"defg");
        assert_eq!(out.omitted, 3);
    }

    #[test]
    fn a_flood_never_holds_more_than_the_limit_and_the_tails_share_again() {
        let mut c = Capture::new(200);
        let mut stream = Vec::new();
        for i in 0..10_000u32 {
            let chunk = i.to_string().into_bytes();
            stream.extend_from_slice(&chunk);
            c.push(&chunk);
            assert!(c.head.len() <= 100, "head grew to {}", c.head.len());
            assert!(c.buf.len() <= 200, "buffer grew to {}", c.buf.len());
        }
        let out = c.finish();
        assert_eq!((out.head.len(), out.bytes.len()), (100, 100));
        assert!(out.head.starts_with(b"0123456789101112"));
        assert!(out.bytes.ends_with(b"9999"));
        assert_adds_up(&out, &stream);
    }

    #[test]
    fn the_cuts_fall_between_lines() {
        let stream: Vec<u8> = (1..=1000)
            .flat_map(|i| format!("{i}\n").into_bytes())
            .collect();
        // Chunks that end anywhere, as pipes deliver them.
        let chunks: Vec<&[u8]> = stream.chunks(7).collect();
        let out = captured(64, &chunks);
        assert!(out.head.starts_with(b"1\n2\n3\n"));
        let next = stream[out.head.len()];
        assert!(out.head.ends_with(b"\n") || next == b'\n', "{:?}", out.head);
        assert!(out.bytes.ends_with(b"999\n1000\n"));
        let at = stream.len() - out.bytes.len();
        assert_eq!(stream[at - 1], b'\n', "the tail starts a line");
        assert_adds_up(&out, &stream);
        // The head's share ends inside a short line: the line goes with the omitted bytes.
        let stream = "abcdef\n".repeat(20).into_bytes();
        let out = captured(64, &[&stream]);
        assert_eq!(out.head, "abcdef\n".repeat(4).as_bytes());
        assert_adds_up(&out, &stream);
        // A cut that already falls on a line break loses nothing more.
        let stream = [
            &[b'h'; 19][..],
            b"\n",
            &[b'x'; 30],
            b"\n",
            &[b't'; 19],
            b"\n",
        ]
        .concat();
        let out = captured(40, &[&stream]);
        assert_eq!((out.head.len(), out.omitted, out.bytes.len()), (20, 31, 20));
        let out = captured(40, &stream.chunks(3).collect::<Vec<_>>());
        assert_eq!((out.head.len(), out.omitted, out.bytes.len()), (20, 31, 20));
    }

    #[test]
    fn a_long_line_at_a_cut_is_cut_on_a_character_boundary() {
        // `é` is two bytes and `€` three: the head's share ends inside `é`, the tail's starts
        // inside `€`, and no line break is near either cut.
        let stream = [&b"abc"[..], "é".as_bytes(), &[b'-'; 40], "€xyz".as_bytes()].concat();
        let out = captured(8, &[&stream]);
        assert_eq!(out.head, b"abc");
        assert_eq!(out.bytes, b"xyz");
        assert_adds_up(&out, &stream);
        assert_eq!(out.head_text(), "abc");
        assert_eq!(out.text(), "xyz");
    }

    #[test]
    fn the_whole_stream_is_kept_for_matching() {
        let out = captured(4, &[b"first ", b"second"]);
        assert_eq!(
            (out.head.as_slice(), out.bytes.as_slice()),
            (&b"fi"[..], &b"nd"[..])
        );
        assert_eq!(out.whole_text().as_deref(), Ok("first second"));
        // Nothing omitted: the report's bytes are the whole stream, held once.
        let out = captured(100, &[b"short"]);
        assert_eq!(out.whole, Whole::InBytes);
        assert_eq!(out.whole_text().as_deref(), Ok("short"));
    }

    #[test]
    fn past_the_memory_bound_the_stream_spills_to_a_file_and_comes_back_whole() {
        let mut c = Capture::new(1024);
        let line = [b'x'; 1000];
        let mut pushed = 0;
        c.push(b"HEAD\n");
        while pushed <= WHOLE_IN_MEMORY + 4096 {
            c.push(&line);
            pushed += line.len();
        }
        assert!(matches!(c.whole, Spill::File(_)), "spilled");
        let out = c.finish();
        let text = out.whole_text().expect("whole");
        assert!(text.starts_with("HEAD\n"));
        assert_eq!(text.len(), pushed + 5);
        assert!(out.head.starts_with(b"HEAD\nxxx"));
        assert_eq!((out.head.len(), out.bytes.len()), (512, 512));
    }

    #[test]
    fn past_the_hard_bound_matching_is_refused_not_partial() {
        let mut c = Capture::new(16);
        let chunk = vec![b'y'; 1 << 20];
        for _ in 0..=(WHOLE_LIMIT >> 20) {
            c.push(&chunk);
        }
        let out = c.finish();
        let why = out.whole_text().expect_err("too large");
        assert!(why.contains("more than the 64 MiB"), "{why}");
    }
}
