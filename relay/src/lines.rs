//! Splits a feed's byte stream into numbered lines, with a hard length limit.
//!
//! `tokio_util`'s `LinesCodec` wants UTF-8 and turns a bad byte into an I/O error that ends the
//! stream; a feed must survive any bytes, so this codec hands out raw lines and leaves judging
//! them to the parser. Memory stays bounded: an oversized line is dropped as it arrives, and it
//! is handed out (refused) the moment it passes the limit, so a sender streaming a huge line hears
//! at once, not when the line finally ends; the rest of it is discarded up to its newline.

use bytes::{Buf, Bytes, BytesMut};
use tokio_util::codec::Decoder;

/// One line of a feed, numbered from 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub number: u64,
    /// The line without `\n` / `\r\n`, or `Err(TooLong)`.
    pub body: Result<Bytes, TooLong>,
}

/// The line exceeded the limit; its bytes were discarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLong;

#[derive(Debug)]
pub struct LineCodec {
    max: usize,
    /// Where to resume searching for `\n` (everything before was searched already).
    searched: usize,
    /// Inside an oversized line: drop bytes until its end.
    discarding: bool,
    number: u64,
}

impl LineCodec {
    pub fn new(max_line_bytes: usize) -> Self {
        LineCodec {
            max: max_line_bytes,
            searched: 0,
            discarding: false,
            number: 0,
        }
    }

    /// Lines handed out so far.
    pub fn lines_seen(&self) -> u64 {
        self.number
    }

    fn line(&mut self, body: Result<Bytes, TooLong>) -> Option<Line> {
        self.number += 1;
        Some(Line {
            number: self.number,
            body,
        })
    }
}

fn strip_cr(mut line: BytesMut) -> Bytes {
    if line.last() == Some(&b'\r') {
        line.truncate(line.len() - 1);
    }
    line.freeze()
}

impl Decoder for LineCodec {
    type Item = Line;
    type Error = std::io::Error;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Line>, Self::Error> {
        let newline = buf[self.searched..]
            .iter()
            .position(|&b| b == b'\n')
            .map(|i| i + self.searched);
        match newline {
            Some(i) if self.discarding => {
                // The end of a line already refused: what follows is the next line.
                buf.advance(i + 1);
                self.searched = 0;
                self.discarding = false;
                self.decode(buf)
            }
            Some(i) => {
                let mut line = buf.split_to(i + 1);
                line.truncate(i);
                self.searched = 0;
                let line = strip_cr(line);
                if line.len() > self.max {
                    return Ok(self.line(Err(TooLong)));
                }
                Ok(self.line(Ok(line)))
            }
            None if self.discarding => {
                buf.clear();
                self.searched = 0;
                Ok(None)
            }
            // `max + 1` leaves room for a `\r` that may still be followed by `\n`.
            None if buf.len() > self.max + 1 => {
                self.discarding = true;
                buf.clear();
                self.searched = 0;
                Ok(self.line(Err(TooLong)))
            }
            None => {
                self.searched = buf.len();
                Ok(None)
            }
        }
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Line>, Self::Error> {
        if let Some(line) = self.decode(buf)? {
            return Ok(Some(line));
        }
        // The feed closed in the middle of a line: it still counts as one (unless it was
        // already refused).
        self.searched = 0;
        if std::mem::take(&mut self.discarding) {
            return Ok(None);
        }
        if buf.is_empty() {
            return Ok(None);
        }
        let line = strip_cr(buf.split());
        if line.len() > self.max {
            return Ok(self.line(Err(TooLong)));
        }
        Ok(self.line(Ok(line)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `chunks` one after the other (as TCP might split them) and lists what comes out.
    fn check(max: usize, chunks: &[&[u8]], expected: &[Result<&str, TooLong>]) {
        let mut codec = LineCodec::new(max);
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for chunk in chunks {
            buf.extend_from_slice(chunk);
            while let Some(line) = codec.decode(&mut buf).unwrap() {
                got.push(line);
            }
            assert!(buf.len() <= max + 2 + chunk.len(), "buffer stays bounded");
        }
        while let Some(line) = codec.decode_eof(&mut buf).unwrap() {
            got.push(line);
        }
        let want: Vec<Line> = expected
            .iter()
            .enumerate()
            .map(|(i, e)| Line {
                number: i as u64 + 1,
                body: e.map(|s| Bytes::copy_from_slice(s.as_bytes())),
            })
            .collect();
        assert_eq!(got, want, "chunks {chunks:?}");
    }

    #[test]
    fn splits_and_limits_lines() {
        check(
            8,
            &[b"a\nbb\r\n\nccc"],
            &[Ok("a"), Ok("bb"), Ok(""), Ok("ccc")],
        );
        check(8, &[b"a", b"b", b"\n", b"c\r", b"\n"], &[Ok("ab"), Ok("c")]);
        check(4, &[b"12345\nok\n"], &[Err(TooLong), Ok("ok")]);
        check(4, &[b"1234\r\n"], &[Ok("1234")]);
        check(4, &[b"1234", b"\r", b"\n"], &[Ok("1234")]);
        check(
            4,
            &[b"123456789", b"abcdefgh", b"ij\nnext\n"],
            &[Err(TooLong), Ok("next")],
        );
        check(4, &[b"123456789"], &[Err(TooLong)]);
    }

    #[test]
    fn a_line_past_the_limit_is_refused_at_once() {
        let mut codec = LineCodec::new(4);
        let mut buf = BytesMut::from(&b"ok\n123456"[..]);
        assert_eq!(
            codec.decode(&mut buf).unwrap().unwrap().body,
            Ok(Bytes::from_static(b"ok"))
        );
        // No newline yet, but past the limit: refused now, as line 2.
        let refused = codec.decode(&mut buf).unwrap().unwrap();
        assert_eq!((refused.number, refused.body), (2, Err(TooLong)));
        // The rest of it, however long, is dropped up to its end; the next line is line 3.
        for _ in 0..100 {
            buf.extend_from_slice(b"xxxxxxxxxx");
            assert_eq!(codec.decode(&mut buf).unwrap(), None);
            assert!(buf.is_empty());
        }
        buf.extend_from_slice(b"yy\nnext\n");
        let next = codec.decode(&mut buf).unwrap().unwrap();
        assert_eq!(
            (next.number, next.body),
            (3, Ok(Bytes::from_static(b"next")))
        );
        assert_eq!(codec.decode_eof(&mut buf).unwrap(), None);
    }

    #[test]
    fn any_bytes_are_a_line() {
        let mut codec = LineCodec::new(8);
        let mut buf = BytesMut::from(&b"\xff\x00\xfe\n"[..]);
        let line = codec.decode(&mut buf).unwrap().unwrap();
        assert_eq!(line.body, Ok(Bytes::from_static(b"\xff\x00\xfe")));
    }
}
