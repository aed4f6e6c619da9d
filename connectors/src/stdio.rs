//! `stdin` source, and `stdout` and `null` sinks.

use crate::lines::{Line, read_line};
use crossbeam_channel::{Receiver, TryRecvError, bounded};
use expressway_runtime::{Coordinates, Origin, Place, Polled, Record, RecordId, Sink, Source, SourceError};
use std::io::{BufRead, Write};

/// JSON lines from standard input. A reader thread does the blocking reads,
/// so the runtime can still react to shutdown while input is quiet. Standard
/// input cannot be replayed: what is in flight at a crash is lost. A line
/// longer than the input limit is skipped unread and passed on by its size.
pub struct StdinSource {
    lines: Receiver<StdinLine>,
    line_no: u64,
    origin: Origin,
}

enum StdinLine {
    Whole(Vec<u8>),
    Oversized(u64),
}

impl StdinSource {
    /// Read standard input; lines over `max_record_bytes` are never held whole.
    pub fn spawn(max_record_bytes: usize) -> StdinSource {
        StdinSource::spawn_reading(|| std::io::stdin().lock(), max_record_bytes)
    }

    /// Read what `open` returns on a thread of its own (a lock on standard
    /// input cannot cross threads, so the thread takes it).
    fn spawn_reading<R: BufRead>(open: impl FnOnce() -> R + Send + 'static, max: usize) -> StdinSource {
        let (tx, rx) = bounded(4096);
        std::thread::spawn(move || {
            let mut input = open();
            let mut buf = Vec::new();
            loop {
                let line = match read_line(&mut input, &mut buf, max) {
                    Ok(Line::End) | Err(_) => break,
                    Ok(Line::Whole { .. }) => StdinLine::Whole(buf.clone()),
                    Ok(Line::Oversized { size, .. }) => StdinLine::Oversized(size),
                };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        StdinSource { lines: rx, line_no: 0, origin: Origin::intern("stdin") }
    }
}

impl Source for StdinSource {
    fn poll(&mut self, max: usize) -> Result<Polled, SourceError> {
        let mut records = Vec::new();
        while records.len() < max.min(1024) {
            match self.lines.try_recv() {
                Ok(line) => {
                    self.line_no += 1;
                    let (payload, oversized) = match line {
                        StdinLine::Whole(line) if line.iter().all(u8::is_ascii_whitespace) => continue,
                        StdinLine::Whole(line) => (line, None),
                        StdinLine::Oversized(size) => (Vec::new(), Some(size)),
                    };
                    records.push(Record {
                        id: self.line_no,
                        partition: (self.line_no % 64) as u32,
                        payload,
                        coordinates: Coordinates::new(self.origin, Place::Line(self.line_no)),
                        key: None,
                        oversized,
                    });
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) if records.is_empty() => return Ok(Polled::Finished),
                Err(TryRecvError::Disconnected) => break,
            }
        }
        Ok(if records.is_empty() { Polled::Idle } else { Polled::Records(records) })
    }

    fn complete(&mut self, _id: RecordId) {}

    fn commit(&mut self) -> Result<(), SourceError> {
        Ok(())
    }
}

pub struct StdoutSink;

impl Sink for StdoutSink {
    fn write(&mut self, line: &[u8]) -> std::io::Result<()> {
        let mut out = std::io::stdout().lock();
        out.write_all(line)?;
        out.write_all(b"\n")
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stdout().flush()
    }
}

pub struct NullSink;

impl Sink for NullSink {
    fn write(&mut self, _line: &[u8]) -> std::io::Result<()> {
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_over_the_limit_is_passed_on_by_its_size_and_the_next_lines_go_on() {
        let text = format!("{{\"a\":1}}\n{}\n\n{{\"a\":2}}", "x".repeat(5_000));
        let mut source = StdinSource::spawn_reading(move || std::io::Cursor::new(text.into_bytes()), 100);
        let mut got = Vec::new();
        loop {
            match source.poll(10).expect("stdin") {
                Polled::Records(rs) => got.extend(rs.into_iter().map(|r| (r.id, r.payload, r.oversized))),
                Polled::Idle => std::thread::yield_now(),
                Polled::Finished => break,
            }
        }
        assert_eq!(
            got,
            vec![(1, b"{\"a\":1}".to_vec(), None), (2, vec![], Some(5_000)), (4, b"{\"a\":2}".to_vec(), None)]
        );
    }
}
