//! `stdin` source, and `stdout` and `null` sinks.

use crossbeam_channel::{Receiver, TryRecvError, bounded};
use expressway_runtime::{Polled, Record, RecordId, Sink, Source, SourceError};
use std::io::{BufRead, Write};

/// JSON lines from standard input. A reader thread does the blocking reads,
/// so the runtime can still react to shutdown while input is quiet. Standard
/// input cannot be replayed: what is in flight at a crash is lost.
pub struct StdinSource {
    lines: Receiver<Vec<u8>>,
    line_no: u64,
}

impl StdinSource {
    pub fn spawn() -> StdinSource {
        let (tx, rx) = bounded(4096);
        std::thread::spawn(move || {
            let stdin = std::io::stdin();
            for line in stdin.lock().split(b'\n') {
                let Ok(mut line) = line else { break };
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        StdinSource { lines: rx, line_no: 0 }
    }
}

impl Source for StdinSource {
    fn poll(&mut self, max: usize) -> Result<Polled, SourceError> {
        let mut records = Vec::new();
        while records.len() < max.min(1024) {
            match self.lines.try_recv() {
                Ok(line) => {
                    self.line_no += 1;
                    if line.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    records.push(Record {
                        id: self.line_no,
                        partition: (self.line_no % 64) as u32,
                        payload: line,
                        coordinates: format!("stdin:line={}", self.line_no),
                        key: None,
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
