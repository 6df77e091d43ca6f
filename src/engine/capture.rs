//! Bounded capture of a container's output stream.
//!
//! A test that prints a gigabyte must not cost a gigabyte in its report: each stream keeps at
//! most `limit` bytes for reports, and when it overflows it keeps the *tail*, where the error
//! that ended a program usually is, and counts what it dropped so that reports can say so. The
//! buffer grows to at most twice the limit and is compacted with one `memmove`, so a flood costs
//! memcpy speed, not a per-byte loop.
//!
//! Expectations, though, are matched against the *whole* output, as container-structure-test
//! matches them (`^1\n2\n` holds on `seq 1 200000` although the report keeps only its end). So
//! the stream is also kept whole: in memory up to [`WHOLE_IN_MEMORY`], in an unnamed temporary
//! file beyond, up to the hard bound [`WHOLE_LIMIT`]. A stream longer than that cannot be
//! matched whole, and the test says so instead of matching a part.

use std::io::{Read, Seek, Write};

use serde::Serialize;

/// Output of one stream held in memory for matching; past it the stream spills to a file.
pub const WHOLE_IN_MEMORY: usize = 8 << 20;
/// The most output of one stream expectations are matched against (read back into memory for
/// the match, since regexes search one contiguous text).
pub const WHOLE_LIMIT: u64 = 64 << 20;

pub struct Capture {
    limit: usize,
    buf: Vec<u8>,
    dropped: u64,
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
    /// `bytes` is all of it: nothing was dropped.
    #[default]
    InBytes,
    All(Vec<u8>),
    /// More than [`WHOLE_LIMIT`] bytes.
    TooLarge(u64),
    /// The temporary file failed.
    Lost(String),
}

/// What a stream printed, possibly cut at the front.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Captured {
    #[serde(skip)]
    pub bytes: Vec<u8>,
    /// Bytes dropped from the front because the stream exceeded its limit.
    pub dropped: u64,
    /// The whole stream, when `bytes` is not all of it.
    #[serde(skip)]
    pub whole: Whole,
}

impl Captured {
    /// The output as text (invalid UTF-8 replaced), for reports.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
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
    pub fn new(limit: usize) -> Capture {
        Capture {
            limit,
            buf: Vec::new(),
            dropped: 0,
            total: 0,
            whole: Spill::Memory(Vec::new()),
        }
    }

    pub fn push(&mut self, chunk: &[u8]) {
        self.total += chunk.len() as u64;
        self.keep_whole(chunk);
        if chunk.len() >= self.limit {
            self.dropped += (self.buf.len() + chunk.len() - self.limit) as u64;
            self.buf.clear();
            self.buf
                .extend_from_slice(&chunk[chunk.len() - self.limit..]);
            return;
        }
        if self.buf.len() + chunk.len() > self.limit.saturating_mul(2) {
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

    /// Keep only the last `limit` bytes.
    fn compact(&mut self) {
        let excess = self.buf.len().saturating_sub(self.limit);
        if excess > 0 {
            self.buf.copy_within(excess.., 0);
            self.buf.truncate(self.limit);
            self.dropped += excess as u64;
        }
    }

    pub fn finish(mut self) -> Captured {
        self.compact();
        let whole = if self.dropped == 0 {
            Whole::InBytes
        } else {
            match self.whole {
                Spill::Memory(bytes) => Whole::All(bytes),
                Spill::File(mut file) => {
                    let mut bytes = Vec::with_capacity(self.total as usize);
                    match file.rewind().and_then(|()| file.read_to_end(&mut bytes)) {
                        Ok(_) => Whole::All(bytes),
                        Err(e) => Whole::Lost(format!("temporary file: {e}")),
                    }
                }
                Spill::Gone(why) => why,
            }
        };
        Captured {
            bytes: self.buf,
            dropped: self.dropped,
            whole,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_everything_under_the_limit() {
        let mut c = Capture::new(10);
        c.push(b"hello ");
        c.push(b"you");
        let out = c.finish();
        assert_eq!(out.bytes, b"hello you");
        assert_eq!(out.dropped, 0);
    }

    #[test]
    fn keeps_the_tail_and_counts_what_it_dropped() {
        let mut c = Capture::new(4);
        c.push(b"abc");
        c.push(b"def");
        c.push(b"g");
        let out = c.finish();
        assert_eq!(out.bytes, b"defg");
        assert_eq!(out.dropped, 3);
        let mut c = Capture::new(4);
        c.push(b"ab");
        c.push(b"0123456789");
        let out = c.finish();
        assert_eq!(out.bytes, b"6789");
        assert_eq!(out.dropped, 8);
    }

    #[test]
    fn a_flood_never_holds_more_than_twice_the_limit() {
        let mut c = Capture::new(100);
        let mut total = 0u64;
        for i in 0..10_000u32 {
            let chunk = i.to_string().into_bytes();
            total += chunk.len() as u64;
            c.push(&chunk);
            assert!(c.buf.len() <= 200, "buffer grew to {}", c.buf.len());
        }
        let out = c.finish();
        assert_eq!(out.bytes.len(), 100);
        assert_eq!(out.dropped, total - 100);
        assert!(out.bytes.ends_with(b"9999"));
    }

    #[test]
    fn the_whole_stream_is_kept_for_matching() {
        let mut c = Capture::new(4);
        c.push(b"first ");
        c.push(b"second");
        let out = c.finish();
        assert_eq!(out.bytes, b"cond");
        assert_eq!(out.whole_text().as_deref(), Ok("first second"));
        // Nothing dropped: the report's bytes are the whole stream, held once.
        let mut c = Capture::new(100);
        c.push(b"short");
        let out = c.finish();
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
        assert_eq!(out.bytes.len(), 1024);
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
