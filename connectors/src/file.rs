//! The `file` source and sink: JSON lines, at-least-once across crashes.
//!
//! The source remembers the byte offset of every line in flight; its low
//! watermark is the offset of the first line not yet complete (or the read
//! position when none is in flight). `commit` writes that offset to the
//! checkpoint file (write, fsync, rename), so after a crash — even `kill -9`
//! — a restart re-reads from the first incomplete line: nothing is skipped,
//! and only the in-flight window can run twice.

use crate::in_flight::InFlight;
use crate::lines::{Line, read_line};
use expressway_runtime::{Coordinates, Lag, Origin, Place, Polled, Record, RecordId, Sink, Source, SourceError};
use std::fs::{File, OpenOptions};
use std::io::{BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Lines are spread over this many partitions (line number modulo), so a
/// file feeds every shard while each partition keeps its order.
const PARTITIONS: u32 = 64;

pub struct FileSource {
    path: PathBuf,
    reader: BufReader<File>,
    follow: bool,
    checkpoint: PathBuf,
    /// Byte offset just after the last complete line read.
    position: u64,
    line_no: u64,
    /// The offsets of lines read and not yet complete.
    in_flight: InFlight,
    committed: u64,
    /// `file:<path>`, shared by every record's coordinates.
    origin: Origin,
    /// Longer lines are skipped unread and dead-lettered by their size.
    max_record_bytes: usize,
    line: Vec<u8>,
}

fn err(path: &Path, what: &str, e: impl std::fmt::Display) -> SourceError {
    SourceError(format!("{what} {}: {e}", path.display()))
}

impl FileSource {
    /// Open `path` and resume from `checkpoint` (default `<path>.checkpoint`).
    /// A checkpoint past the end of the file (a file truncated or replaced
    /// since) is an error: silently reading nothing would skip its records.
    pub fn open(path: &Path, follow: bool, checkpoint: Option<&Path>) -> Result<FileSource, SourceError> {
        let checkpoint = checkpoint.map(Path::to_path_buf).unwrap_or_else(|| {
            let mut p = path.as_os_str().to_owned();
            p.push(".checkpoint");
            PathBuf::from(p)
        });
        let start = match std::fs::read_to_string(&checkpoint) {
            Ok(text) => text.trim().parse::<u64>().map_err(|e| err(&checkpoint, "invalid checkpoint in", e))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(err(&checkpoint, "reading", e)),
        };
        let mut file = File::open(path).map_err(|e| err(path, "opening", e))?;
        let len = file.metadata().map_err(|e| err(path, "reading the length of", e))?.len();
        if start > len {
            return Err(SourceError(format!(
                "the checkpoint {} is at byte {start}, past the end of {} ({len} bytes): the file was truncated or \
                 replaced since; remove the checkpoint (or run with --from-start) to read it from its start",
                checkpoint.display(),
                path.display()
            )));
        }
        file.seek(SeekFrom::Start(start)).map_err(|e| err(path, "seeking in", e))?;
        Ok(FileSource {
            path: path.to_path_buf(),
            reader: BufReader::with_capacity(256 * 1024, file),
            follow,
            checkpoint,
            position: start,
            line_no: 0,
            in_flight: InFlight::default(),
            committed: start,
            origin: Origin::intern(&format!("file:{}", path.display())),
            max_record_bytes: expressway_engine::vm::MAX_PAYLOAD_BYTES,
            line: Vec::new(),
        })
    }

    /// At the end of what it read: a file now shorter than the position
    /// read was truncated under the run (a copytruncate rotation), and what
    /// is written to it from now on sits before that position, where no
    /// read looks. An error, not a quiet end: the run had finished normally
    /// with its checkpoint past the end of a 20-byte file.
    fn check_not_truncated(&self) -> Result<(), SourceError> {
        let meta = self.reader.get_ref().metadata().map_err(|e| err(&self.path, "reading the length of", e))?;
        // A pipe or a device has no length to compare.
        let len = meta.len();
        if meta.is_file() && len < self.position {
            return Err(SourceError(format!(
                "{} shrank to {len} bytes while being read (to byte {}): it was truncated under the run; what was \
                 written to it since is not read",
                self.path.display(),
                self.position
            )));
        }
        Ok(())
    }

    /// Lines longer than `max` bytes become `States.DataLimitExceeded` dead
    /// letters without being read into memory (default: AWS's 256 KiB).
    pub fn max_record_bytes(mut self, max: usize) -> FileSource {
        self.max_record_bytes = max;
        self
    }

    /// The offset a restart would resume from.
    pub fn watermark(&self) -> u64 {
        self.in_flight.first().unwrap_or(self.position)
    }
}

impl Source for FileSource {
    fn poll(&mut self, max: usize) -> Result<Polled, SourceError> {
        let mut records = Vec::with_capacity(max.min(1024));
        while records.len() < max.min(1024) {
            let line = read_line(&mut self.reader, &mut self.line, self.max_record_bytes)
                .map_err(|e| err(&self.path, "reading", e))?;
            if line == Line::End {
                // Records read before it go out first; the next poll, at
                // the same end, reports a truncation.
                if records.is_empty() {
                    self.check_not_truncated()?;
                }
                break;
            }
            if !line.complete() && self.follow {
                // A line still being written: read it again once it is whole.
                self.reader.seek(SeekFrom::Start(self.position)).map_err(|e| err(&self.path, "seeking in", e))?;
                break;
            }
            let start = self.position;
            self.position += line.consumed();
            let oversized = match line {
                Line::Oversized { size, .. } => Some(size),
                _ if self.line.iter().all(u8::is_ascii_whitespace) => continue,
                _ => None,
            };
            self.in_flight.insert(start);
            let partition = (self.line_no % PARTITIONS as u64) as u32;
            self.line_no += 1;
            records.push(Record {
                id: start,
                partition,
                payload: self.line.clone(),
                coordinates: Coordinates::new(self.origin, Place::Offset(start)),
                key: None,
                oversized,
            });
        }
        Ok(if !records.is_empty() {
            Polled::Records(records)
        } else if self.follow {
            Polled::Idle
        } else {
            Polled::Finished
        })
    }

    fn complete(&mut self, id: RecordId) {
        self.in_flight.complete(id);
    }

    fn commit(&mut self) -> Result<(), SourceError> {
        let mark = self.watermark();
        if mark == self.committed {
            return Ok(());
        }
        let mut tmp = self.checkpoint.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let write = || -> std::io::Result<()> {
            let mut f = File::create(&tmp)?;
            writeln!(f, "{mark}")?;
            f.sync_all()?;
            std::fs::rename(&tmp, &self.checkpoint)
        };
        write().map_err(|e| err(&self.checkpoint, "writing checkpoint", e))?;
        self.committed = mark;
        Ok(())
    }

    fn lag(&self) -> Option<Lag> {
        let len = self.reader.get_ref().metadata().ok()?.len();
        Some(Lag::Bytes(len.saturating_sub(self.position)))
    }
}

/// Appends JSON lines; `flush` reaches the disk (fsync) before records are
/// acknowledged.
pub struct FileSink {
    out: std::io::BufWriter<File>,
    path: PathBuf,
}

impl FileSink {
    pub fn open(path: &Path) -> std::io::Result<FileSink> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        repair_torn_tail(path)?;
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(FileSink { out: std::io::BufWriter::with_capacity(256 * 1024, file), path: path.to_path_buf() })
    }

    /// An I/O error that says which file it happened to.
    fn named(&self, e: std::io::Error) -> std::io::Error {
        std::io::Error::new(e.kind(), format!("writing {}: {e}", self.path.display()))
    }
}

/// A crash can leave half a line at the end of the file. That record was
/// never acknowledged (acks follow the fsync), so it will be produced again:
/// cut the fragment off so the file stays valid JSON lines.
fn repair_torn_tail(path: &Path) -> std::io::Result<()> {
    let mut file = match OpenOptions::new().read(true).write(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let len = file.metadata()?.len();
    let mut end = len;
    let mut buf = vec![0u8; 64 * 1024];
    while end > 0 {
        let start = end.saturating_sub(buf.len() as u64);
        let chunk = &mut buf[..(end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        std::io::Read::read_exact(&mut file, chunk)?;
        if let Some(i) = chunk.iter().rposition(|&b| b == b'\n') {
            end = start + i as u64 + 1;
            break;
        }
        end = start;
    }
    if end != len {
        file.set_len(end)?;
        file.sync_all()?;
    }
    Ok(())
}

impl Sink for FileSink {
    fn write(&mut self, line: &[u8]) -> std::io::Result<()> {
        self.out.write_all(line).and_then(|()| self.out.write_all(b"\n")).map_err(|e| self.named(e))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush().and_then(|()| self.out.get_ref().sync_data()).map_err(|e| self.named(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_is_reported_with_the_sinks_path() {
        // /dev/full accepts the open and fails every write that reaches it.
        let mut sink = FileSink::open(Path::new("/dev/full")).expect("open /dev/full");
        sink.write(b"{}").expect("buffered");
        let e = sink.flush().expect_err("the disk is full");
        assert_eq!(e.raw_os_error(), None, "the error is wrapped with the path");
        assert!(e.to_string().starts_with("writing /dev/full: "), "{e}");
        assert!(e.to_string().contains("No space left on device"), "{e}");
    }

    fn temp_dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("expressway-file-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn records(p: Polled) -> Vec<Record> {
        match p {
            Polled::Records(r) => r,
            _ => vec![],
        }
    }

    #[test]
    fn resumes_from_the_first_incomplete_line() {
        let d = temp_dir("resume");
        let input = d.join("in.jsonl");
        std::fs::write(&input, "{\"a\":1}\n\n{\"a\":2}\n{\"a\":3}\n").unwrap();
        let mut s = FileSource::open(&input, false, None).unwrap();
        let rs = records(s.poll(10).unwrap());
        assert_eq!(rs.len(), 3, "blank lines are skipped");
        s.complete(rs[0].id);
        s.complete(rs[2].id); // out of order: the watermark stays at line 2
        s.commit().unwrap();
        let mut again = FileSource::open(&input, false, None).unwrap();
        let rs2 = records(again.poll(10).unwrap());
        assert_eq!(
            rs2.iter().map(|r| r.payload.clone()).collect::<Vec<_>>(),
            vec![b"{\"a\":2}".to_vec(), b"{\"a\":3}".to_vec()]
        );
        assert!(matches!(again.poll(10).unwrap(), Polled::Finished));
    }

    #[test]
    fn a_line_over_the_limit_is_skipped_unread_and_the_next_lines_go_on() {
        let d = temp_dir("oversized");
        let input = d.join("in.jsonl");
        let long = format!("{{\"blob\": \"{}\"}}", "y".repeat(100_000));
        std::fs::write(&input, format!("{{\"a\":1}}\n{long}\n{{\"a\":2}}\n")).unwrap();
        let mut s = FileSource::open(&input, false, None).unwrap().max_record_bytes(1_000);
        let rs = records(s.poll(10).unwrap());
        let summary: Vec<(u64, usize, Option<u64>)> = rs.iter().map(|r| (r.id, r.payload.len(), r.oversized)).collect();
        assert_eq!(summary, vec![(0, 7, None), (8, 0, Some(long.len() as u64)), (8 + long.len() as u64 + 1, 7, None)]);
        assert!(s.line.capacity() < 64 * 1024 * 2, "the long line was never held whole: {}", s.line.capacity());
        rs.iter().for_each(|r| s.complete(r.id));
        assert_eq!(
            s.watermark(),
            std::fs::metadata(&input).unwrap().len(),
            "the skipped line is passed by the checkpoint"
        );
    }

    #[test]
    fn a_checkpoint_past_the_end_of_its_file_is_an_error_naming_both() {
        let d = temp_dir("past-end");
        let input = d.join("in.jsonl");
        std::fs::write(&input, "{\"a\":1}\n").unwrap();
        std::fs::write(d.join("in.jsonl.checkpoint"), "500\n").unwrap();
        let e = FileSource::open(&input, false, None).err().expect("refused").to_string();
        assert!(e.contains("in.jsonl.checkpoint") && e.contains("byte 500") && e.contains("(8 bytes)"), "{e}");
        std::fs::write(d.join("in.jsonl.checkpoint"), "8\n").unwrap();
        let mut at_end = FileSource::open(&input, false, None).expect("a checkpoint at the end is fine");
        assert!(matches!(at_end.poll(10).unwrap(), Polled::Finished));
    }

    /// A file truncated while it is read is an error at the end of what
    /// was read, in follow mode and not.
    #[test]
    fn a_file_truncated_under_the_reader_is_an_error() {
        let d = temp_dir("truncated");
        let input = d.join("in.jsonl");
        std::fs::write(&input, "{\"a\":1}\n{\"a\":2}\n").unwrap();
        for follow in [false, true] {
            let _ = std::fs::remove_file(d.join("in.jsonl.checkpoint"));
            std::fs::write(&input, "{\"a\":1}\n{\"a\":2}\n").unwrap();
            let mut s = FileSource::open(&input, follow, None).unwrap();
            assert_eq!(records(s.poll(10).unwrap()).len(), 2);
            std::fs::write(&input, "{}\n").unwrap();
            let e = s.poll(10).err().expect("truncated").to_string();
            assert!(e.contains("shrank to 3 bytes") && e.contains("byte 16"), "{e}");
        }
    }

    /// The drain deadline abandons a record parked on a long Wait: the
    /// checkpoint stops at its line, so a restart runs it again, while the
    /// lines before it are committed.
    #[test]
    fn a_record_abandoned_at_the_drain_deadline_is_not_committed() {
        use expressway_runtime::testing::MemorySink;
        use expressway_runtime::{ManualClock, NoDedup, PipelineSpec, Stats};
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};
        let d = temp_dir("drain");
        let input = d.join("in.jsonl");
        let lines = ["{\"slow\":false}\n", "{\"slow\":true}\n", "{\"slow\":false}\n"];
        std::fs::write(&input, lines.concat()).unwrap();
        let machine = r#"{"StartAt":"Slow?","States":{
          "Slow?":{"Type":"Choice","Choices":[{"Variable":"$.slow","BooleanEquals":true,"Next":"Hour"}],"Default":"Done"},
          "Hour":{"Type":"Wait","Seconds":3600,"Next":"Done"},
          "Done":{"Type":"Pass","End":true}}}"#;
        let program = expressway_engine::compile_text(machine, expressway_engine::WorkflowType::Standard).unwrap();
        let spec = PipelineSpec {
            express: false,
            shards: 1,
            drain_timeout: std::time::Duration::from_millis(300),
            clock: Arc::new(ManualClock::new(0)),
            ..PipelineSpec::new("drain", Arc::new(program))
        };
        let source = FileSource::open(&input, true, None).unwrap();
        let (stats, shutdown) = (Arc::new(Stats::default()), Arc::new(AtomicBool::new(false)));
        let (tx, rx) = std::sync::mpsc::channel();
        {
            let (stats, shutdown) = (stats.clone(), shutdown.clone());
            let results = Box::new(MemorySink::default());
            std::thread::spawn(move || {
                let run = expressway_runtime::run(
                    spec,
                    Box::new(source),
                    results,
                    Box::new(MemorySink::default()),
                    Arc::new(NoDedup),
                    stats,
                    shutdown,
                );
                let _ = tx.send(run);
            });
        }
        while Stats::get(&stats.acknowledged) < 2 {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        shutdown.store(true, Ordering::Relaxed);
        // A bound only so that a hang fails instead of waiting out the hour.
        rx.recv_timeout(std::time::Duration::from_secs(120)).expect("the drain ended").expect("a clean stop");
        let checkpoint = std::fs::read_to_string(d.join("in.jsonl.checkpoint")).unwrap();
        assert_eq!(checkpoint.trim(), lines[0].len().to_string(), "the checkpoint stops at the abandoned line");
        assert_eq!(Stats::get(&stats.abandoned), 1);
    }

    #[test]
    fn follow_waits_for_whole_lines() {
        let d = temp_dir("follow");
        let input = d.join("in.jsonl");
        std::fs::write(&input, "{\"a\":1}\n{\"a\":").unwrap();
        let mut s = FileSource::open(&input, true, None).unwrap();
        assert_eq!(records(s.poll(10).unwrap()).len(), 1);
        assert!(matches!(s.poll(10).unwrap(), Polled::Idle));
        OpenOptions::new().append(true).open(&input).unwrap().write_all(b"2}\n").unwrap();
        let rs = records(s.poll(10).unwrap());
        assert_eq!(rs[0].payload, b"{\"a\":2}".to_vec());
    }

    #[test]
    fn sink_cuts_a_torn_last_line() {
        let d = temp_dir("torn");
        let p = d.join("results.jsonl");
        std::fs::write(&p, "{\"a\":1}\n{\"a\":").unwrap();
        let mut s = FileSink::open(&p).unwrap();
        s.write(b"{\"a\":2}").unwrap();
        s.flush().unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "{\"a\":1}\n{\"a\":2}\n");
    }

    #[test]
    fn sink_appends_lines() {
        let d = temp_dir("sink");
        let p = d.join("out/results.jsonl");
        let mut s = FileSink::open(&p).unwrap();
        s.write(b"{}").unwrap();
        s.write(b"[1]").unwrap();
        s.flush().unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "{}\n[1]\n");
    }
}
