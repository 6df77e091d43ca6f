//! Bounded capture of a container's output stream.
//!
//! A test that prints a gigabyte must not cost a gigabyte: each stream keeps at most `limit`
//! bytes, and when it overflows it keeps the *tail*, where the error that ended a program usually
//! is, and counts what it dropped so that reports can say so.

use std::collections::VecDeque;

use serde::Serialize;

pub struct Capture {
    limit: usize,
    buf: VecDeque<u8>,
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
            buf: VecDeque::new(),
            dropped: 0,
        }
    }

    pub fn push(&mut self, chunk: &[u8]) {
        if chunk.len() >= self.limit {
            self.dropped += (self.buf.len() + chunk.len() - self.limit) as u64;
            self.buf.clear();
            self.buf.extend(&chunk[chunk.len() - self.limit..]);
            return;
        }
        let overflow = (self.buf.len() + chunk.len()).saturating_sub(self.limit);
        self.buf.drain(..overflow);
        self.dropped += overflow as u64;
        self.buf.extend(chunk);
    }

    pub fn finish(self) -> Captured {
        Captured {
            bytes: self.buf.into(),
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
}
