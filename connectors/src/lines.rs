//! Reading JSON lines with a bound on memory: a line longer than the input
//! limit is skipped in bounded chunks up to its newline, and only its size
//! is kept, so one huge line can neither exhaust memory nor stop the source.

use std::io::{BufRead, Read};

/// What [`read_line`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// The end of the input: nothing was read.
    End,
    /// A line of at most the limit, now in the buffer without its `\n` or
    /// `\r\n`.
    Whole { consumed: u64, complete: bool },
    /// A line of `size` bytes (without its newline), more than the limit:
    /// read and discarded.
    Oversized { consumed: u64, size: u64, complete: bool },
}

impl Line {
    /// Bytes read from the input, newline included.
    pub fn consumed(&self) -> u64 {
        match self {
            Line::End => 0,
            Line::Whole { consumed, .. } | Line::Oversized { consumed, .. } => *consumed,
        }
    }

    /// Whether the line ended with a newline (rather than the input's end).
    pub fn complete(&self) -> bool {
        match self {
            Line::End => false,
            Line::Whole { complete, .. } | Line::Oversized { complete, .. } => *complete,
        }
    }
}

/// Bytes skipped per read while discarding an oversized line.
const DISCARD_CHUNK: u64 = 64 * 1024;

/// Read one line of at most `max` bytes into `buf` (cleared first); `buf`
/// never holds more than `max + 2` bytes.
pub fn read_line(input: &mut impl BufRead, buf: &mut Vec<u8>, max: usize) -> std::io::Result<Line> {
    buf.clear();
    // The body, and room for its `\r\n`: a longer read without a newline is
    // a line over the limit.
    let window = max as u64 + 2;
    let n = input.by_ref().take(window).read_until(b'\n', buf)? as u64;
    if n == 0 {
        return Ok(Line::End);
    }
    let complete = buf.last() == Some(&b'\n');
    if complete || n < window {
        if complete {
            buf.pop();
        }
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
        if buf.len() > max {
            let size = buf.len() as u64;
            buf.clear();
            return Ok(Line::Oversized { consumed: n, size, complete });
        }
        return Ok(Line::Whole { consumed: n, complete });
    }
    // Over the limit: skip the rest of the line, a chunk at a time.
    let mut consumed = n;
    let mut last = buf.last().copied();
    let complete = loop {
        buf.clear();
        let k = input.by_ref().take(DISCARD_CHUNK).read_until(b'\n', buf)? as u64;
        if k == 0 {
            break false;
        }
        consumed += k;
        if buf.last() == Some(&b'\n') {
            // The byte before the newline, for a `\r\n` ending.
            last = if k >= 2 { buf.get(k as usize - 2).copied() } else { last };
            break true;
        }
        last = buf.last().copied();
    };
    buf.clear();
    let newline = u64::from(complete) + u64::from(complete && last == Some(b'\r'));
    Ok(Line::Oversized { consumed, size: consumed - newline, complete })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(text: &[u8], max: usize) -> Vec<(Line, Vec<u8>)> {
        let mut input = std::io::BufReader::with_capacity(16, text);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        loop {
            let line = read_line(&mut input, &mut buf, max).expect("in memory");
            assert!(buf.capacity() <= (max + 2).max(DISCARD_CHUNK as usize) * 2, "bounded buffer");
            if line == Line::End {
                return out;
            }
            out.push((line, buf.clone()));
        }
    }

    #[test]
    fn lines_within_the_limit_are_read_whole() {
        let got = all(b"12345\r\nab\n\nxyz", 5);
        assert_eq!(
            got,
            vec![
                (Line::Whole { consumed: 7, complete: true }, b"12345".to_vec()),
                (Line::Whole { consumed: 3, complete: true }, b"ab".to_vec()),
                (Line::Whole { consumed: 1, complete: true }, vec![]),
                (Line::Whole { consumed: 3, complete: false }, b"xyz".to_vec()),
            ]
        );
    }

    #[test]
    fn longer_lines_are_skipped_with_their_size_and_the_next_ones_read() {
        let long = vec![b'x'; 200_000];
        let mut text = b"123456\n".to_vec();
        text.extend_from_slice(&long);
        text.extend_from_slice(b"\r\nok\n");
        text.extend_from_slice(&long);
        let got = all(&text, 5);
        assert_eq!(
            got,
            vec![
                (Line::Oversized { consumed: 7, size: 6, complete: true }, vec![]),
                (Line::Oversized { consumed: 200_002, size: 200_000, complete: true }, vec![]),
                (Line::Whole { consumed: 3, complete: true }, b"ok".to_vec()),
                (Line::Oversized { consumed: 200_000, size: 200_000, complete: false }, vec![]),
            ]
        );
    }
}
