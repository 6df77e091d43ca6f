//! Bounded capture of a container's output stream.
//!
//! A test that prints a gigabyte must not cost a gigabyte: each stream keeps at most `limit`
//! bytes, and when it overflows it keeps the *tail*, where the error that ended a program usually
//! is, and counts what it dropped so that reports can say so. The buffer grows to at most twice
//! the limit and is compacted with one `memmove`, so a flood costs memcpy speed, not a per-byte
//! loop.

use serde::Serialize;

pub struct Capture {
    limit: usize,
    buf: Vec<u8>,
    dropped: u64,
}

/// What a stream printed, possibly cut at the front.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Captured {
    #[serde(skip)]
    pub bytes: Vec<u8>,
    /// Bytes dropped from the front because the stream exceeded its limit.
    pub dropped: u64,
}

impl Captured {
    /// The output as text (invalid UTF-8 replaced), for matching and reports.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

impl Capture {
    pub fn new(limit: usize) -> Capture {
        Capture {
            limit,
            buf: Vec::new(),
            dropped: 0,
        }
    }

    pub fn push(&mut self, chunk: &[u8]) {
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
        Captured {
            bytes: self.buf,
            dropped: self.dropped,
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
}
