//! The `file` source and sink: JSON lines, at-least-once across crashes.
//!
//! The source remembers the byte offset of every line in flight; its low
//! watermark is the offset of the first line not yet complete (or the read
//! position when none is in flight). `commit` writes that offset to the
//! checkpoint file (write, fsync, rename), so after a crash — even `kill -9`
//! — a restart re-reads from the first incomplete line: nothing is skipped,
//! and only the in-flight window can run twice.
//!
//! A file is known by its head and inode, not its name: the checkpoint
//! keeps a fingerprint of the file's first bytes (up to [`HEAD_BYTES`],
//! at least as many as the offset passed), its device and inode, and a
//! generation that counts the files read under the name. Why: log rotation
//! puts new records under the same name — `rename` (a new file, its offsets
//! from 0) or `copytruncate` (the same file emptied and written again,
//! possibly past the old position before the next look). With a bare
//! offset, a restart skipped the new file's first bytes and a follow read
//! the renamed file for ever: records lost without a word.
//!
//! Now a restart that finds another head under the name first reads the
//! rest of the checkpoint's file if it is still beside it (found by its
//! inode and head, as `logrotate` leaves it), then the files a follow had
//! seen come after it (their inodes are saved too), then the new file from
//! its start. A follow that sees the name point at another file, or the file
//! shrink or its head change, lets the records in flight complete, then
//! reads the next file from its start (as `tail -F` and log shippers do). A
//! renamed file is read on until it has given no line for `rotate_wait`
//! (default 5 s, the default of Fluentd's `in_tail` wait for the same
//! reason, there counted from the rotation): its writer appends to it until
//! it reopens the name. One record in flight for long (a Wait), or a renamed
//! file that never falls quiet, holds the next file back. Records of each
//! generation have an origin of their own, so a `source_id` idempotency key
//! never takes a new file's line for the old file's line at the same
//! offset. What this does not cover: lines a writer appends to a renamed
//! file after it fell quiet for `rotate_wait` and the follow moved on,
//! `copytruncate`'s own window (between its copy and its truncation), a
//! rotated file compressed or moved away before a restart found it, and a
//! file atomically replaced by a longer copy of itself, which a follow reads
//! again from its start (duplicates, no loss).

use crate::in_flight::InFlight;
use crate::lines::{Line, read_line};
use expressway_runtime::{Coordinates, Lag, Origin, Place, Polled, Record, RecordId, Sink, Source, SourceError};
use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions};
use std::io::{BufReader, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Lines are spread over this many partitions (line number modulo), so a
/// file feeds every shard while each partition keeps its order.
const PARTITIONS: u32 = 64;

/// How many of a file's first bytes identify it.
const HEAD_BYTES: usize = 1024;

/// How often a busy follow looks for a rotation before a poll reads on (it
/// always looks when it reaches the end): a `copytruncate` written past the
/// old position between two looks is read from that position by the polls
/// of this long (a fragment of a line becomes a malformed record), then read
/// again from its start.
const LOOK_EVERY: Duration = Duration::from_millis(10);

/// How long a follow reads a renamed file on after its last line before it
/// moves to the name's new file, by default (`rotate_wait:`). Why: between
/// `logrotate`'s rename and the writer reopening the name (its `postrotate`
/// signal, a timer, the next write), the writer appends to the renamed
/// file; moving on at once lost those lines. Fluentd's `in_tail` waits 5 s
/// (its `rotate_wait`) for the same reason.
pub const DEFAULT_ROTATE_WAIT: Duration = Duration::from_secs(5);

/// A fingerprint of a file's first `len` bytes (at most [`HEAD_BYTES`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Head {
    len: usize,
    digest: [u8; 16],
}

impl Head {
    fn of(bytes: &[u8]) -> Head {
        let mut digest = [0u8; 16];
        digest.copy_from_slice(&Sha256::digest(bytes)[..16]);
        Head { len: bytes.len(), digest }
    }

    /// The head of the file as it is now (as much of [`HEAD_BYTES`] as it has).
    fn read(file: &File) -> std::io::Result<(Head, Vec<u8>)> {
        let mut bytes = vec![0u8; HEAD_BYTES];
        let mut filled = 0;
        while filled < bytes.len() {
            match file.read_at(&mut bytes[filled..], filled as u64) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        bytes.truncate(filled);
        Ok((Head::of(&bytes), bytes))
    }

    /// Whether `file` still starts with the bytes this head was taken from;
    /// if so, the head grows to what the file has now.
    fn still_heads(&mut self, file: &File) -> std::io::Result<bool> {
        let (now, bytes) = Head::read(file)?;
        if bytes.len() < self.len || Head::of(&bytes[..self.len]) != *self {
            return Ok(false);
        }
        *self = now;
        Ok(true)
    }

    fn to_text(self) -> String {
        self.digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// What a checkpoint file says: where to resume, in which file.
#[derive(Debug, PartialEq)]
struct Checkpoint {
    offset: u64,
    /// How many files were read under the name before this one.
    generation: u64,
    /// `None` in a checkpoint written before files had heads (a bare offset).
    head: Option<Head>,
    /// The device and inode of the file the offset is in.
    identity: (u64, u64),
    /// The device and inode of each file the name came to name after it,
    /// oldest first (a follow saw them and had not reached them yet).
    successors: Vec<(u64, u64)>,
}

impl Checkpoint {
    const FORMAT: &str = "'file GENERATION LENGTH DIGEST DEVICE INODE'";

    /// `OFFSET` alone (older versions), or `OFFSET` then a line
    /// `file GENERATION HEAD_LEN HEAD_DIGEST DEVICE INODE`.
    fn parse(text: &str) -> Result<Checkpoint, String> {
        let mut lines = text.lines();
        let offset = lines.next().unwrap_or("").trim().parse::<u64>().map_err(|e| e.to_string())?;
        let Some(line) = lines.next() else {
            return Ok(Checkpoint { offset, generation: 0, head: None, identity: (0, 0), successors: Vec::new() });
        };
        let bad = || format!("expected {}, found '{line}'", Checkpoint::FORMAT);
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        let ["file", generation, len, digest, device, inode] = fields[..] else { return Err(bad()) };
        let number = |s: &str| s.bytes().all(|b| b.is_ascii_digit()).then(|| s.parse::<u64>().ok()).flatten();
        let (Some(generation), Some(len), Some(device), Some(inode)) =
            (number(generation), number(len), number(device), number(inode))
        else {
            return Err(bad());
        };
        let hex = digest.len() == 32 && digest.bytes().all(|b| b.is_ascii_hexdigit());
        if len > HEAD_BYTES as u64 || !hex {
            return Err(bad());
        }
        let mut successors = Vec::new();
        for next in lines.filter(|l| !l.trim().is_empty()) {
            let fields: Vec<&str> = next.split_ascii_whitespace().collect();
            match fields[..] {
                ["next", device, inode] if successors.len() < MAX_SUCCESSORS => match (number(device), number(inode)) {
                    (Some(device), Some(inode)) => successors.push((device, inode)),
                    _ => return Err(format!("expected 'next DEVICE INODE', found '{next}'")),
                },
                _ => return Err(format!("expected 'next DEVICE INODE', found '{next}'")),
            }
        }
        let mut bytes = [0u8; 16];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = u8::from_str_radix(&digest[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
        }
        let head = Head { len: len as usize, digest: bytes };
        Ok(Checkpoint { offset, generation, head: Some(head), identity: (device, inode), successors })
    }

    /// The text `parse` reads; a line `next DEVICE INODE` per successor.
    fn to_text(&self) -> String {
        match self.head {
            Some(head) => {
                let mut text = format!(
                    "{}\nfile {} {} {} {} {}\n",
                    self.offset,
                    self.generation,
                    head.len,
                    head.to_text(),
                    self.identity.0,
                    self.identity.1
                );
                for (device, inode) in &self.successors {
                    text.push_str(&format!("next {device} {inode}\n"));
                }
                text
            }
            None => format!("{}\n", self.offset),
        }
    }
}

/// The file in `path`'s directory that is the file `identity` names and
/// still starts with `head`: where a file rotated while the pipeline was
/// down went (`logrotate` renames it beside the new one).
fn find_rotated(path: &Path, identity: (u64, u64), head: Head) -> Option<File> {
    let file = find_identity(path, identity)?;
    let mut head = head;
    head.still_heads(&file).ok()?.then_some(file)
}

/// The file in `path`'s directory whose device and inode are `identity`.
fn find_identity(path: &Path, identity: (u64, u64)) -> Option<File> {
    /// A directory of many files is not read whole for this.
    const MAX_ENTRIES: usize = 10_000;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::read_dir(dir).ok()?.take(MAX_ENTRIES).filter_map(Result::ok).find_map(|entry| {
        let meta = std::fs::metadata(entry.path()).ok()?;
        (meta.is_file() && file_identity(&meta) == identity).then(|| File::open(entry.path()).ok()).flatten()
    })
}

/// Rotations a follow keeps at most waiting for the file read to complete
/// (each holds its file open).
const MAX_SUCCESSORS: usize = 8;

/// The origin of generation `generation`'s records: the first file under
/// a name keeps the plain `file:<path>` of older versions.
fn origin(path: &Path, generation: u64) -> Origin {
    match generation {
        0 => Origin::intern(&format!("file:{}", path.display())),
        g => Origin::intern(&format!("file:{}#{g}", path.display())),
    }
}

/// The generation after `generation` (a checkpoint may say any number).
fn next_generation(generation: u64, path: &Path) -> Result<u64, SourceError> {
    generation.checked_add(1).ok_or_else(|| err(path, "counting the files read under", "too many rotations"))
}

/// The device and inode a file's metadata names.
fn file_identity(meta: &std::fs::Metadata) -> (u64, u64) {
    (meta.dev(), meta.ino())
}

pub struct FileSource {
    path: PathBuf,
    reader: BufReader<File>,
    follow: bool,
    checkpoint: PathBuf,
    /// Byte offset just after the last complete line read.
    position: u64,
    /// Following: bytes already skipped of an oversized line still being
    /// written at `position` (the reader stands past them). Read again from
    /// its start at every poll, a writer that never ends its line had the
    /// source read it whole ~50 times a second.
    oversized_tail: u64,
    line_no: u64,
    /// The offsets of lines read and not yet complete.
    in_flight: InFlight,
    committed: u64,
    /// `file:<path>` (and `#<generation>` past the first file), shared by
    /// every record's coordinates.
    origin: Origin,
    /// How many files were read under the name before this one.
    generation: u64,
    /// The head of the file read; `None` for a pipe or a device.
    head: Option<Head>,
    /// The file read's device and inode.
    identity: (u64, u64),
    /// The file read shrank or its head changed (a `copytruncate`): it is
    /// read again from its start once its records in flight complete.
    rewritten: bool,
    /// The files the name came to name after the one read, oldest first,
    /// each read from its start once the one before it is done.
    successors: std::collections::VecDeque<(File, (u64, u64))>,
    /// When a follow last looked for a rotation before reading.
    looked: Instant,
    /// How long a renamed file must stay quiet before the follow moves on.
    rotate_wait: Duration,
    /// When the file read last gave a line, or became the file read, or a
    /// successor of it was first seen (whichever came last).
    quiet_since: Instant,
    /// Longer lines are skipped unread and dead-lettered by their size.
    max_record_bytes: usize,
    line: Vec<u8>,
}

fn err(path: &Path, what: &str, e: impl std::fmt::Display) -> SourceError {
    SourceError(format!("{what} {}: {e}", path.display()))
}

impl FileSource {
    /// Open `path` and resume from `checkpoint` (default `<path>.checkpoint`).
    /// A file that does not start as the checkpoint's did is another file,
    /// read from its start. A checkpoint past the end of a file that does
    /// (or of any file, for a checkpoint without a head) is an error:
    /// silently reading nothing would skip its records.
    pub fn open(path: &Path, follow: bool, checkpoint: Option<&Path>) -> Result<FileSource, SourceError> {
        let checkpoint = checkpoint.map(Path::to_path_buf).unwrap_or_else(|| {
            let mut p = path.as_os_str().to_owned();
            p.push(".checkpoint");
            PathBuf::from(p)
        });
        let saved = match std::fs::read_to_string(&checkpoint) {
            Ok(text) => Checkpoint::parse(&text).map_err(|e| err(&checkpoint, "invalid checkpoint in", e))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Checkpoint { offset: 0, generation: 0, head: None, identity: (0, 0), successors: Vec::new() }
            }
            Err(e) => return Err(err(&checkpoint, "reading", e)),
        };
        let named = File::open(path).map_err(|e| err(path, "opening", e))?;
        let meta = named.metadata().map_err(|e| err(path, "reading the length of", e))?;
        let (mut file, mut meta) = (named, meta);
        let (mut start, mut generation) = (saved.offset, saved.generation);
        let mut successors = std::collections::VecDeque::new();
        // A pipe or a device has no head to read (reading it would take its data).
        if let (Some(mut then), true) = (saved.head, meta.is_file())
            && !then.still_heads(&file).map_err(|e| err(path, "reading", e))?
        {
            // Rotated while the pipeline was down: finish the file the
            // checkpoint is in, if it is still beside the name, then read the
            // name's new file from its start.
            match find_rotated(path, saved.identity, then) {
                Some(old) => {
                    // The files a follow had seen come after it, if still
                    // beside the name (renamed in turn), then the name's.
                    let identity = file_identity(&meta);
                    for &next in saved.successors.iter().filter(|&&next| next != identity) {
                        if let Some(found) = find_identity(path, next) {
                            successors.push_back((found, next));
                        }
                    }
                    successors.push_back((std::mem::replace(&mut file, old), identity));
                    meta = file.metadata().map_err(|e| err(path, "reading the length of", e))?;
                    tracing::warn!(file = %path.display(), "rotated since the checkpoint: reading the rest of the rotated file first");
                }
                None => {
                    tracing::warn!(
                        file = %path.display(),
                        checkpoint = %checkpoint.display(),
                        "the file does not start as the one the checkpoint was taken in, which is not beside it any \
                         more (rotated or replaced): reading it from its start"
                    );
                    start = 0;
                    generation = next_generation(saved.generation, path)?;
                }
            }
        }
        let len = meta.len();
        if start > len {
            return Err(SourceError(format!(
                "the checkpoint {} is at byte {start}, past the end of {} ({len} bytes): the file was truncated or \
                 replaced since; remove the checkpoint (or run with --from-start) to read it from its start",
                checkpoint.display(),
                path.display()
            )));
        }
        let head = match meta.is_file() {
            true => Some(Head::read(&file).map_err(|e| err(path, "reading", e))?.0),
            false => None,
        };
        file.seek(SeekFrom::Start(start)).map_err(|e| err(path, "seeking in", e))?;
        let mut source = FileSource {
            path: path.to_path_buf(),
            reader: BufReader::with_capacity(256 * 1024, file),
            follow,
            checkpoint,
            position: start,
            oversized_tail: 0,
            line_no: 0,
            in_flight: InFlight::default(),
            committed: start,
            origin: origin(path, generation),
            generation,
            head,
            identity: file_identity(&meta),
            rewritten: false,
            successors,
            looked: Instant::now(),
            rotate_wait: DEFAULT_ROTATE_WAIT,
            quiet_since: Instant::now(),
            max_record_bytes: expressway_engine::vm::MAX_PAYLOAD_BYTES,
            line: Vec::new(),
        };
        // A new generation is saved at once: a crash before the first commit
        // would otherwise give the next file under the name the same one.
        if generation != saved.generation {
            source.committed = u64::MAX;
            source.commit()?;
        }
        Ok(source)
    }

    /// While following: has the name's file been rotated? The file read
    /// shrank or its head changed (a `copytruncate`), or the name now names
    /// another file than the last one known (a rename and a new file).
    fn look_for_rotation(&mut self) -> Result<(), SourceError> {
        self.looked = Instant::now();
        let Some(head) = &mut self.head else { return Ok(()) };
        if !self.rewritten && self.successors.is_empty() {
            let file = self.reader.get_ref();
            let len = file.metadata().map_err(|e| err(&self.path, "reading the length of", e))?.len();
            self.rewritten =
                len < self.position || !head.still_heads(file).map_err(|e| err(&self.path, "reading", e))?;
        }
        let newest = self.successors.back().map_or(self.identity, |(_, identity)| *identity);
        // The name may be gone for a moment between a rename and the new
        // file, or the new file not yet readable: keep the file read
        // meanwhile and look again.
        let Ok(meta) = std::fs::metadata(&self.path) else { return Ok(()) };
        if meta.is_file() && file_identity(&meta) != newest && self.successors.len() < MAX_SUCCESSORS {
            match File::open(&self.path).and_then(|f| f.metadata().map(|m| (f, m))) {
                Ok((next, m)) if m.is_file() && file_identity(&m) != newest => {
                    if self.successors.is_empty() {
                        self.quiet_since = Instant::now();
                    }
                    self.successors.push_back((next, file_identity(&m)));
                    // Saved with the next commit: a restart finds it even
                    // after it was renamed in turn.
                    self.committed = u64::MAX;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(file = %self.path.display(), error = %e, "opening the rotated name's new file")
                }
            }
        }
        Ok(())
    }

    /// Read the file again from its start (it was rewritten), or the next
    /// file the name came to name: once every record of the one read is
    /// complete (their ids are offsets in it), and said in the checkpoint at
    /// once, so that a crash from here on resumes there.
    fn rotate(&mut self) -> Result<(), SourceError> {
        let how = if std::mem::take(&mut self.rewritten) {
            self.reader.seek(SeekFrom::Start(0)).map_err(|e| err(&self.path, "seeking in", e))?;
            "it was truncated or rewritten"
        } else if let Some((next, identity)) = self.successors.pop_front() {
            let old_len = self.reader.get_ref().metadata().map(|m| m.len()).unwrap_or(self.position);
            if old_len > self.position {
                tracing::warn!(
                    file = %self.path.display(),
                    bytes = old_len - self.position,
                    "the rotated file ends in an unfinished line, left unread"
                );
            }
            self.reader = BufReader::with_capacity(256 * 1024, next);
            self.identity = identity;
            // A next file that was renamed too gets its own wait.
            self.quiet_since = Instant::now();
            "the name names another file"
        } else {
            return Ok(());
        };
        self.head = Some(Head::read(self.reader.get_ref()).map_err(|e| err(&self.path, "reading", e))?.0);
        self.generation = next_generation(self.generation, &self.path)?;
        self.origin = origin(&self.path, self.generation);
        self.position = 0;
        self.oversized_tail = 0;
        self.committed = u64::MAX;
        tracing::warn!(file = %self.path.display(), generation = self.generation, "{how}: reading it from its start");
        self.commit()
    }

    /// Whether a rotation waits, and can be made now: the records in flight
    /// are complete (their ids are offsets in the file read) and, following
    /// a renamed file, it gave no line for [`rotate_wait`](Self::rotate_wait)
    /// (a writer may not have reopened the name yet; after a restart too). A
    /// rewritten file has nobody left writing to its old bytes; a run that
    /// does not follow reads what is there and moves on.
    fn may_rotate(&self) -> bool {
        let renamed_is_quiet =
            !self.successors.is_empty() && (!self.follow || self.quiet_since.elapsed() >= self.rotate_wait);
        (self.rewritten || renamed_is_quiet) && self.in_flight.first().is_none()
    }

    /// Not following, at the end of what it read: a file now shorter than
    /// the position read was truncated under the run, and what is written to
    /// it from now on sits before that position, where no read looks. An
    /// error, not a quiet end: the run had finished normally with its
    /// checkpoint past the end of a 20-byte file.
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

    /// How long a renamed file must give no line before a follow moves to
    /// the name's new file (default [`DEFAULT_ROTATE_WAIT`]).
    pub fn rotate_wait(mut self, wait: Duration) -> FileSource {
        self.rotate_wait = wait;
        self
    }

    /// The offset a restart would resume from.
    pub fn watermark(&self) -> u64 {
        self.in_flight.first().unwrap_or(self.position)
    }
}

impl FileSource {
    /// The next line, or the rest of an oversized one being written (its
    /// size counted from its start).
    fn read_line(&mut self) -> std::io::Result<Line> {
        if self.oversized_tail == 0 {
            return read_line(&mut self.reader, &mut self.line, self.max_record_bytes);
        }
        // Cut back into the skipped part (a torn line repaired, a writer that
        // truncated it): what follows the line's start is read afresh.
        if self.reader.get_ref().metadata()?.len() < self.position + self.oversized_tail {
            self.reader.seek(SeekFrom::Start(self.position))?;
            self.oversized_tail = 0;
            return read_line(&mut self.reader, &mut self.line, self.max_record_bytes);
        }
        // A limit of 0: whatever the rest holds, up to its newline, is skipped.
        let rest = read_line(&mut self.reader, &mut self.line, 0)?;
        self.line.clear();
        let consumed = self.oversized_tail + rest.consumed();
        Ok(match rest {
            Line::End => Line::Oversized { consumed: self.oversized_tail, size: self.oversized_tail, complete: false },
            Line::Whole { complete, .. } | Line::Oversized { complete, .. } => {
                let size = consumed - u64::from(complete);
                Line::Oversized { consumed, size, complete }
            }
        })
    }
}

impl Source for FileSource {
    fn poll(&mut self, max: usize) -> Result<Polled, SourceError> {
        let mut records = Vec::with_capacity(max.min(1024));
        if self.follow && self.looked.elapsed() >= LOOK_EVERY {
            self.look_for_rotation()?;
        }
        // A rewritten file's bytes past the old position are not lines of
        // their own: read nothing more until its records are complete.
        if self.rewritten {
            if self.in_flight.first().is_some() {
                return Ok(Polled::Idle);
            }
            self.rotate()?;
        }
        // One rotation per poll: a name that never settles cannot hold it.
        let mut rotated = false;
        while records.len() < max.min(1024) {
            let line = self.read_line().map_err(|e| err(&self.path, "reading", e))?;
            // Following, a line still being written is read again once it
            // is whole; one already past the limit is skipped on from where
            // the last read stopped.
            let unfinished = line != Line::End && !line.complete() && self.follow;
            if unfinished && let Line::Oversized { consumed, .. } = line {
                self.oversized_tail = consumed;
            } else if unfinished {
                self.reader.seek(SeekFrom::Start(self.position)).map_err(|e| err(&self.path, "seeking in", e))?;
            }
            if line == Line::End || unfinished {
                // Records read before it go out first; the next poll, at
                // the same end, looks for a rotation or a truncation.
                if records.is_empty() {
                    if self.follow {
                        self.look_for_rotation()?;
                    } else if self.successors.is_empty() {
                        self.check_not_truncated()?;
                    }
                    // A renamed file is read on until its records are
                    // complete: a writer may still append to it meanwhile.
                    if !rotated && self.may_rotate() {
                        self.rotate()?;
                        rotated = true;
                        continue;
                    }
                }
                break;
            }
            let start = self.position;
            self.position += line.consumed();
            self.oversized_tail = 0;
            // Only a renamed file's quiet is timed (a clock read per line
            // would cost every record).
            if !self.successors.is_empty() {
                self.quiet_since = Instant::now();
            }
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
        // The head saved covers what the offset passed (up to HEAD_BYTES):
        // a head shorter than that would match another file's.
        if let Some(head) = &mut self.head
            && (head.len as u64) < mark.min(HEAD_BYTES as u64)
        {
            let mut grown = *head;
            if grown.still_heads(self.reader.get_ref()).unwrap_or(false) {
                *head = grown;
            }
        }
        let mut tmp = self.checkpoint.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let write = || -> std::io::Result<()> {
            let mut f = File::create(&tmp)?;
            let saved = Checkpoint {
                offset: mark,
                generation: self.generation,
                head: self.head,
                identity: self.identity,
                successors: self.successors.iter().map(|(_, identity)| *identity).collect(),
            };
            f.write_all(saved.to_text().as_bytes())?;
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
///
/// Every `write(2)` holds whole lines only: the file is opened to append, so
/// each write lands whole at the end, and several writers of one file
/// (pipelines merging their results or their dead letters) never tear each
/// other's lines (short of a full disk, which stops the pipeline). A `BufWriter` wrote a
/// line as long as its buffer on its own and the newline after it, apart:
/// another writer's line landed between the two.
pub struct FileSink {
    file: File,
    /// Whole lines not yet written; written once past [`SINK_BUFFER`] bytes
    /// and at `flush`. A line longer than that is held whole (results are
    /// bounded by the pipeline's size limits).
    pending: Vec<u8>,
    path: PathBuf,
}

/// How many bytes of lines a file sink gathers before it writes them.
const SINK_BUFFER: usize = 256 * 1024;

impl FileSink {
    pub fn open(path: &Path) -> std::io::Result<FileSink> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        repair_torn_tail(path)?;
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(FileSink { file, pending: Vec::with_capacity(SINK_BUFFER), path: path.to_path_buf() })
    }

    /// Write the gathered lines in one `write(2)` where the kernel takes it
    /// whole (a regular file does, short of a full disk).
    fn write_pending(&mut self) -> std::io::Result<()> {
        let written = self.file.write_all(&self.pending);
        self.pending.clear();
        written
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
        self.pending.extend_from_slice(line);
        self.pending.push(b'\n');
        if self.pending.len() >= SINK_BUFFER {
            self.write_pending().map_err(|e| self.named(e))?;
        }
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.write_pending().and_then(|()| self.file.sync_data()).map_err(|e| self.named(e))
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

    #[test]
    fn two_sinks_appending_to_one_file_never_tear_a_line() {
        let d = temp_dir("sink-shared");
        let path = d.join("out.jsonl");
        let (mut a, mut b) = (FileSink::open(&path).unwrap(), FileSink::open(&path).unwrap());
        // A line as long as the buffer is written at once; a BufWriter wrote
        // it without its newline, and the other sink's line landed between.
        let long = format!("\"{}\"", "x".repeat(SINK_BUFFER));
        a.write(long.as_bytes()).unwrap();
        b.write(b"{\"b\":1}").unwrap();
        b.flush().unwrap();
        a.write(b"{\"a\":2}").unwrap();
        a.flush().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "three whole lines");
        for line in lines {
            serde_json::from_str::<serde_json::Value>(line).unwrap_or_else(|e| panic!("a torn line ({e})"));
        }
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

    /// Not following, a file truncated while it is read is an error at the
    /// end of what was read.
    #[test]
    fn a_file_truncated_under_a_reader_that_does_not_follow_is_an_error() {
        let d = temp_dir("truncated");
        let input = d.join("in.jsonl");
        std::fs::write(&input, "{\"a\":1}\n{\"a\":2}\n").unwrap();
        let mut s = FileSource::open(&input, false, None).unwrap();
        assert_eq!(records(s.poll(10).unwrap()).len(), 2);
        std::fs::write(&input, "{}\n").unwrap();
        let e = s.poll(10).err().expect("truncated").to_string();
        assert!(e.contains("shrank to 3 bytes") && e.contains("byte 16"), "{e}");
    }

    fn payloads(rs: &[Record]) -> Vec<String> {
        rs.iter().map(|r| String::from_utf8(r.payload.clone()).unwrap()).collect()
    }

    fn origin_of(r: &Record) -> String {
        let place = r.coordinates.to_string();
        place[..place.rfind(":offset=").unwrap()].to_string()
    }

    fn saved(d: &Path) -> Checkpoint {
        Checkpoint::parse(&std::fs::read_to_string(d.join("in.jsonl.checkpoint")).unwrap()).unwrap()
    }

    /// `logrotate`'s default: the file renamed, a new one under the name.
    /// The renamed file is read on while its records are in flight (a late
    /// line is not lost); then the new file from its start, as the next
    /// generation, whose records' origin differs from the first file's.
    #[test]
    fn a_follow_reads_a_renamed_files_successor_from_its_start() {
        let d = temp_dir("renamed");
        let input = d.join("in.jsonl");
        std::fs::write(&input, "{\"old\":1}\n{\"old\":2}\n").unwrap();
        let mut s = FileSource::open(&input, true, None).unwrap().rotate_wait(Duration::ZERO);
        let first = records(s.poll(10).unwrap());
        assert_eq!(first.len(), 2);
        std::fs::rename(&input, d.join("in.jsonl.1")).unwrap();
        std::fs::write(&input, "{\"new\":1}\n{\"new\":2}\n{\"new\":3}\n").unwrap();
        OpenOptions::new().append(true).open(d.join("in.jsonl.1")).unwrap().write_all(b"{\"old\":3}\n").unwrap();
        let late = records(s.poll(10).unwrap());
        assert_eq!(payloads(&late), ["{\"old\":3}"], "the renamed file is read on while its records are in flight");
        assert!(matches!(s.poll(10).unwrap(), Polled::Idle), "the new file waits for the old one's records");
        first.iter().chain(&late).for_each(|r| s.complete(r.id));
        s.commit().unwrap();
        let next = records(s.poll(10).unwrap());
        assert_eq!(payloads(&next), ["{\"new\":1}", "{\"new\":2}", "{\"new\":3}"]);
        assert_eq!(next[0].id, 0, "offsets in the new file");
        assert_ne!(origin_of(&next[0]), origin_of(&first[0]), "a source_id key never repeats the old file's");
        assert_eq!(saved(&d).generation, 1, "the checkpoint names the new file at once");
        next.iter().for_each(|r| s.complete(r.id));
        s.commit().unwrap();
        // A restart resumes in the new file, past its three lines.
        assert_eq!(saved(&d).offset, std::fs::metadata(&input).unwrap().len());
        let mut again = FileSource::open(&input, true, None).unwrap();
        assert!(matches!(again.poll(10).unwrap(), Polled::Idle));
        OpenOptions::new().append(true).open(&input).unwrap().write_all(b"{\"new\":4}\n").unwrap();
        let more = records(again.poll(10).unwrap());
        assert_eq!(payloads(&more), ["{\"new\":4}"]);
        assert_eq!(origin_of(&more[0]), origin_of(&next[0]), "the same file keeps its origin across a restart");
    }

    /// The writer appends to the renamed file until it reopens the name:
    /// the follow reads those lines, and moves to the new file only once the
    /// renamed one gave no line for `rotate_wait`. (Moving on as soon as the
    /// records in flight were complete lost `{"old":3}`.)
    #[test]
    fn a_follow_reads_a_renamed_file_on_until_it_falls_quiet() {
        let wait = Duration::from_millis(300);
        let d = temp_dir("renamed-quiet");
        let input = d.join("in.jsonl");
        std::fs::write(&input, "{\"old\":1}\n{\"old\":2}\n").unwrap();
        let mut s = FileSource::open(&input, true, None).unwrap().rotate_wait(wait);
        let first = records(s.poll(10).unwrap());
        complete_all(&mut s, &first);
        let renamed = d.join("in.jsonl.1");
        std::fs::rename(&input, &renamed).unwrap();
        std::fs::write(&input, "{\"new\":1}\n").unwrap();
        let seen = Instant::now();
        assert!(
            matches!(s.poll(10).unwrap(), Polled::Idle),
            "nothing in flight, but the renamed file is not quiet yet"
        );
        append(&renamed, "{\"old\":3}\n");
        let late = records(s.poll(10).unwrap());
        assert_eq!(payloads(&late), ["{\"old\":3}"], "a line appended after the rename is read");
        let late_read = Instant::now();
        complete_all(&mut s, &late);
        let mut polls = 0;
        let next = loop {
            match s.poll(10).unwrap() {
                Polled::Records(rs) => break rs,
                _ if polls < 1_000 => std::thread::sleep(Duration::from_millis(10)),
                _ => panic!("still on the renamed file {:?} after the rename", seen.elapsed()),
            }
            polls += 1;
        };
        assert!(late_read.elapsed() >= wait, "moved on {:?} after the last line", late_read.elapsed());
        assert_eq!(payloads(&next), ["{\"new\":1}"]);
        assert_eq!(saved(&d).generation, 1);
        append(&renamed, "{\"old\":4}\n");
        complete_all(&mut s, &next);
        assert!(matches!(s.poll(10).unwrap(), Polled::Idle), "past rotate_wait the renamed file is left");
    }

    /// Two rotations while the follow waits on the first renamed file: the
    /// second renamed file, empty when the follow reaches it, gets its own
    /// `rotate_wait` (it moved on at once, and lost what its writer added).
    #[test]
    fn a_queued_renamed_file_gets_its_own_rotate_wait() {
        let d = temp_dir("queued-quiet");
        let input = d.join("in.jsonl");
        std::fs::write(&input, "{\"f\":\"A\"}\n").unwrap();
        let mut s = FileSource::open(&input, true, None).unwrap().rotate_wait(Duration::from_millis(300));
        let a = records(s.poll(10).unwrap());
        complete_all(&mut s, &a);
        std::fs::rename(&input, d.join("in.jsonl.1")).unwrap();
        std::fs::write(&input, "").unwrap(); // B: reopened, nothing written yet
        assert!(matches!(s.poll(10).unwrap(), Polled::Idle));
        std::fs::rename(d.join("in.jsonl.1"), d.join("in.jsonl.2")).unwrap();
        std::fs::rename(&input, d.join("in.jsonl.1")).unwrap();
        std::fs::write(&input, "{\"f\":\"C\"}\n").unwrap();
        assert!(matches!(s.poll(10).unwrap(), Polled::Idle));
        let t = Instant::now();
        while saved(&d).generation == 0 {
            assert!(records(s.poll(10).unwrap()).is_empty());
            assert!(t.elapsed() < Duration::from_secs(10), "still on A");
            std::thread::sleep(Duration::from_millis(10));
        }
        let next = records(s.poll(10).unwrap());
        assert!(next.is_empty(), "left B at once for C: {:?}", payloads(&next));
        append(&d.join("in.jsonl.1"), "{\"f\":\"B\"}\n");
        assert_eq!(payloads(&records(s.poll(10).unwrap())), ["{\"f\":\"B\"}"]);
    }

    /// A crash while the follow waits on a renamed file, after a second
    /// rotation: the restart reads the file renamed in between too, found by
    /// the identity the checkpoint saved when the follow saw it (before, only
    /// the first file and the one under the name were found).
    #[test]
    fn a_restart_while_waiting_reads_every_file_rotated_meanwhile() {
        for follow in [false, true] {
            let d = temp_dir(&format!("restart-waiting-{follow}"));
            let input = d.join("in.jsonl");
            std::fs::write(&input, "{\"f\":\"A\"}\n").unwrap();
            let mut s = FileSource::open(&input, true, None).unwrap();
            let a = records(s.poll(10).unwrap());
            complete_all(&mut s, &a);
            std::fs::rename(&input, d.join("in.jsonl.1")).unwrap();
            std::fs::write(&input, "{\"f\":\"B\"}\n").unwrap();
            assert!(matches!(s.poll(10).unwrap(), Polled::Idle));
            std::fs::rename(d.join("in.jsonl.1"), d.join("in.jsonl.2")).unwrap();
            std::fs::rename(&input, d.join("in.jsonl.1")).unwrap();
            std::fs::write(&input, "{\"f\":\"C\"}\n").unwrap();
            std::thread::sleep(LOOK_EVERY);
            assert!(matches!(s.poll(10).unwrap(), Polled::Idle));
            s.commit().unwrap();
            assert_eq!(saved(&d).successors.len(), 2, "both successors saved");
            drop(s); // a crash, nothing in flight
            let mut again = FileSource::open(&input, follow, None).unwrap().rotate_wait(Duration::ZERO);
            let mut got = Vec::new();
            for _ in 0..10 {
                match again.poll(10).unwrap() {
                    Polled::Records(rs) => {
                        complete_all(&mut again, &rs);
                        got.extend(payloads(&rs));
                    }
                    Polled::Finished => break,
                    Polled::Idle => {}
                }
            }
            assert_eq!(got, ["{\"f\":\"B\"}", "{\"f\":\"C\"}"], "follow: {follow}");
        }
    }

    /// `copytruncate`: the file emptied and written again, here past the
    /// position read before the follow looks again. Its new lines are read
    /// from its start, none skipped.
    #[test]
    fn a_follow_rereads_a_file_rewritten_past_its_position() {
        let d = temp_dir("rewritten");
        let input = d.join("in.jsonl");
        std::fs::write(&input, "{\"a\":1}\n{\"a\":2}\n").unwrap();
        let mut s = FileSource::open(&input, true, None).unwrap();
        let first = records(s.poll(10).unwrap());
        first.iter().for_each(|r| s.complete(r.id));
        s.commit().unwrap();
        let lines: Vec<String> = (0..5).map(|i| format!("{{\"rewritten\":{i}}}")).collect();
        std::fs::write(&input, lines.iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap();
        std::thread::sleep(LOOK_EVERY);
        let again = records(s.poll(10).unwrap());
        assert_eq!(payloads(&again), lines);
        assert_eq!(saved(&d).generation, 1);
        // Shrunk below the position, and then written again.
        again.iter().for_each(|r| s.complete(r.id));
        std::fs::write(&input, "").unwrap();
        assert!(matches!(s.poll(10).unwrap(), Polled::Idle));
        OpenOptions::new().append(true).open(&input).unwrap().write_all(b"{\"third\":1}\n").unwrap();
        let third = records(s.poll(10).unwrap());
        assert_eq!(payloads(&third), ["{\"third\":1}"]);
        assert_eq!(saved(&d).generation, 2);
    }

    /// A restart that finds another file under the name (rotated while the
    /// pipeline was down) reads it from its start, where a bare offset
    /// skipped its first bytes; a checkpoint of an older version (an offset
    /// alone) still resumes where it says.
    #[test]
    fn a_restart_reads_a_replaced_file_from_its_start() {
        let d = temp_dir("replaced");
        let input = d.join("in.jsonl");
        std::fs::write(&input, "{\"a\":1}\n{\"a\":2}\n").unwrap();
        let mut s = FileSource::open(&input, false, None).unwrap();
        records(s.poll(10).unwrap()).iter().for_each(|r| s.complete(r.id));
        s.commit().unwrap();
        assert_eq!(saved(&d).offset, 16);
        drop(s);
        std::fs::write(&input, "{\"b\":1}\n{\"b\":2}\n{\"b\":3}\n").unwrap();
        let mut after = FileSource::open(&input, false, None).unwrap();
        assert_eq!(payloads(&records(after.poll(10).unwrap())), ["{\"b\":1}", "{\"b\":2}", "{\"b\":3}"]);

        std::fs::write(d.join("in.jsonl.checkpoint"), "8\n").unwrap();
        let mut older = FileSource::open(&input, false, None).unwrap();
        assert_eq!(payloads(&records(older.poll(10).unwrap())), ["{\"b\":2}", "{\"b\":3}"]);
    }

    #[test]
    fn checkpoints_are_read_as_written_and_damaged_ones_are_refused() {
        let head = Some(Head::of(b"{\"a\":1}\n"));
        let c = Checkpoint { offset: 42, generation: 3, head, identity: (2049, 77), successors: Vec::new() };
        assert_eq!(Checkpoint::parse(&c.to_text()), Ok(c));
        let queued =
            Checkpoint { offset: 42, generation: 3, head, identity: (2049, 77), successors: vec![(2049, 78), (1, 2)] };
        assert_eq!(Checkpoint::parse(&queued.to_text()), Ok(queued));
        let bare = Checkpoint { offset: 7, generation: 0, head: None, identity: (0, 0), successors: Vec::new() };
        assert_eq!(Checkpoint::parse("7\n"), Ok(bare));
        let digest = "0".repeat(32);
        let damaged = [
            String::new(),
            "x\n".into(),
            "7\nfile 1 8\n".into(),
            format!("7\nfile 1 2000 {digest} 1 2\n"),
            format!("7\nfile x 8 {digest} 1 2\n"),
            format!("7\ndisk 1 8 {digest} 1 2\n"),
            format!("7\nfile +1 8 {digest} 1 2\n"),
            format!("7\nfile 1 8 {} 1 2\n", "+0".repeat(16)),
            // 32 bytes, not 32 hex digits: refused, not a panic.
            format!("7\nfile 1 8 {}ab 1 2\n", "€".repeat(10)),
            format!("7\nfile 1 8 {digest} 1 2\ntrailing\n"),
            format!("7\nfile 1 8 {digest} 1 2\nnext x 2\n"),
            format!("7\nfile 1 8 {digest} 1 2\nnext 1\n"),
        ];
        for bad in damaged {
            assert!(Checkpoint::parse(&bad).is_err(), "{bad:?}");
        }
    }

    fn append(path: &Path, text: &str) {
        OpenOptions::new().append(true).open(path).unwrap().write_all(text.as_bytes()).unwrap();
    }

    fn complete_all(s: &mut FileSource, rs: &[Record]) {
        rs.iter().for_each(|r| s.complete(r.id));
        s.commit().unwrap();
    }

    /// A file empty when the source opened it: the head saved with the
    /// checkpoint still covers what was read, so a file put in its place
    /// while the pipeline is down is read from its start.
    #[test]
    fn a_checkpoint_knows_a_file_that_was_empty_at_open() {
        let d = temp_dir("was-empty");
        let input = d.join("in.jsonl");
        std::fs::write(&input, "").unwrap();
        let mut s = FileSource::open(&input, true, None).unwrap();
        append(&input, "{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n");
        let rs = records(s.poll(10).unwrap());
        complete_all(&mut s, &rs);
        assert_eq!(saved(&d).head.map(|h| h.len), Some(24));
        drop(s);
        std::fs::remove_file(&input).unwrap();
        std::fs::write(&input, "{\"b\":1}\n{\"b\":2}\n{\"b\":3}\n{\"b\":4}\n").unwrap();
        let mut again = FileSource::open(&input, true, None).unwrap();
        assert_eq!(records(again.poll(10).unwrap()).len(), 4);
        assert_eq!(saved(&d).generation, 1, "a new generation is saved at once");
    }

    /// A record in flight across two rotations (a long Wait): both later
    /// files are read, in order, once it completes.
    #[test]
    fn every_file_rotated_in_while_a_record_is_in_flight_is_read() {
        let d = temp_dir("two-rotations");
        let input = d.join("in.jsonl");
        std::fs::write(&input, "{\"f\":\"A\"}\n").unwrap();
        let mut s = FileSource::open(&input, true, None).unwrap().rotate_wait(Duration::ZERO);
        let a = records(s.poll(10).unwrap());
        for (i, name) in ["B", "C"].iter().enumerate() {
            std::fs::rename(&input, d.join(format!("in.jsonl.{i}"))).unwrap();
            std::fs::write(&input, format!("{{\"f\":\"{name}\"}}\n")).unwrap();
            assert!(matches!(s.poll(10).unwrap(), Polled::Idle), "A is still in flight");
        }
        complete_all(&mut s, &a);
        let b = records(s.poll(10).unwrap());
        assert_eq!(payloads(&b), ["{\"f\":\"B\"}"]);
        complete_all(&mut s, &b);
        assert_eq!(payloads(&records(s.poll(10).unwrap())), ["{\"f\":\"C\"}"]);
    }

    /// A crash while a renamed file's records are in flight: the restart
    /// finds that file beside the name by its inode and reads its rest
    /// before the new file.
    #[test]
    fn a_restart_finishes_the_file_rotated_away_before_the_new_one() {
        let d = temp_dir("finish-rotated");
        let input = d.join("in.jsonl");
        std::fs::write(&input, "{\"old\":1}\n{\"old\":2}\n").unwrap();
        let mut s = FileSource::open(&input, true, None).unwrap();
        let rs = records(s.poll(10).unwrap());
        complete_all(&mut s, &rs[..1]);
        drop(s); // a crash with {"old":2} in flight
        std::fs::rename(&input, d.join("in.jsonl.1")).unwrap();
        append(&d.join("in.jsonl.1"), "{\"old\":3}\n");
        std::fs::write(&input, "{\"new\":1}\n").unwrap();
        for follow in [false, true] {
            let mut again = FileSource::open(&input, follow, None).unwrap().rotate_wait(Duration::ZERO);
            let old = records(again.poll(10).unwrap());
            assert_eq!(payloads(&old), ["{\"old\":2}", "{\"old\":3}"], "follow: {follow}");
            complete_all(&mut again, &old);
            assert_eq!(payloads(&records(again.poll(10).unwrap())), ["{\"new\":1}"], "follow: {follow}");
            if !follow {
                // Run again from the same checkpoint, following.
                let mut cp = saved(&d);
                cp.offset = 10;
                cp.generation = 0;
                cp.identity = file_identity(&std::fs::metadata(d.join("in.jsonl.1")).unwrap());
                cp.head = Some(Head::read(&File::open(d.join("in.jsonl.1")).unwrap()).unwrap().0);
                std::fs::write(d.join("in.jsonl.checkpoint"), cp.to_text()).unwrap();
            }
        }
    }

    #[test]
    fn a_generation_past_the_last_number_is_an_error() {
        let d = temp_dir("generations");
        let input = d.join("in.jsonl");
        std::fs::write(&input, "{\"a\":1}\n").unwrap();
        let cp = Checkpoint {
            offset: 0,
            generation: u64::MAX,
            head: Some(Head::of(b"{\"b\"")),
            identity: (0, 0),
            successors: Vec::new(),
        };
        std::fs::write(d.join("in.jsonl.checkpoint"), cp.to_text()).unwrap();
        let e = FileSource::open(&input, false, None).err().expect("refused").to_string();
        assert!(e.contains("too many rotations"), "{e}");
    }

    /// A follow that reaches an oversized line still being written skips
    /// what it read of it and goes on from there, instead of reading it
    /// again from its start at every poll; the whole line is one oversized
    /// record once its newline comes.
    #[test]
    fn a_follow_skips_an_unfinished_oversized_line_once() {
        let d = temp_dir("follow-oversized");
        let input = d.join("in.jsonl");
        std::fs::write(&input, format!("{{\"a\":1}}\n{}", "x".repeat(5_000))).unwrap();
        let mut s = FileSource::open(&input, true, None).unwrap().max_record_bytes(1_000);
        let first = records(s.poll(10).unwrap());
        assert_eq!(first.len(), 1, "the whole line before it");
        s.complete(first[0].id);
        let end = 8 + 5_000;
        assert_eq!(s.reader.stream_position().unwrap(), end, "the unfinished line's bytes are skipped");
        assert!(matches!(s.poll(10).unwrap(), Polled::Idle));
        assert_eq!(s.reader.stream_position().unwrap(), end, "and not read again");
        append(&input, &"x".repeat(3_000));
        assert!(matches!(s.poll(10).unwrap(), Polled::Idle));
        assert_eq!(s.reader.stream_position().unwrap(), end + 3_000, "only the new bytes are read");
        append(&input, "x\n{\"b\":2}\n");
        let rs = records(s.poll(10).unwrap());
        assert_eq!(rs.len(), 2);
        assert_eq!((rs[0].id, rs[0].oversized), (8, Some(8_001)), "one oversized record, its size from its start");
        assert_eq!(rs[1].payload, b"{\"b\":2}");
        rs.iter().for_each(|r| s.complete(r.id));
        s.commit().unwrap();
        let again = FileSource::open(&input, true, None).unwrap();
        assert_eq!(again.position, end + 3_002 + 8, "the checkpoint is past both");
    }

    /// A file cut back into the oversized line a follow was skipping is read
    /// afresh from the line's start: the lines written after the cut are not
    /// swallowed into the skipped line.
    #[test]
    fn a_follow_reads_lines_written_after_a_cut_into_a_skipped_line() {
        let d = temp_dir("follow-oversized-cut");
        let input = d.join("in.jsonl");
        std::fs::write(&input, format!("{{\"a\":1}}\n{}", "x".repeat(5_000))).unwrap();
        let mut s = FileSource::open(&input, true, None).unwrap().max_record_bytes(1_000);
        assert_eq!(records(s.poll(10).unwrap()).len(), 1);
        assert!(matches!(s.poll(10).unwrap(), Polled::Idle));
        OpenOptions::new().write(true).open(&input).unwrap().set_len(8).unwrap();
        append(&input, "{\"b\":2}\n");
        let rs = records(s.poll(10).unwrap());
        assert_eq!(rs.len(), 1, "the line written after the cut");
        assert_eq!((rs[0].id, rs[0].payload.as_slice(), rs[0].oversized), (8, &b"{\"b\":2}"[..], None));
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
        assert_eq!(saved(&d).offset, lines[0].len() as u64, "the checkpoint stops at the abandoned line");
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
