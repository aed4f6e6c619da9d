//! The payload parser: JSON bytes straight into a [`Value`], in one pass.
//!
//! Why not simd-json (which parsed payloads until stop 33): records are a few
//! hundred bytes, where its two stages (structural bits, then a tape) and a
//! walk of the tape to build values cost 18,400 instructions for the
//! reference fan-out record (367 bytes), 28% of that machine's execution; one
//! pass that builds each value where it reads it costs 16,800, and spares the
//! runtime a copy of each payload (it parsed in place) — benches/README.md,
//! "One-pass payload parser". Error texts are its own (`expected ',' or ']'
//! after an array element at byte 5`), not simd-json's.
//!
//! It accepts exactly what simd-json accepts and builds the same values and
//! bounds, so the switch changed no output: `engine/tests/payload_parser.rs`
//! compares the two on hand-picked, generated and damaged texts, and the
//! fuzz target `json_reader` on arbitrary bytes. Some choices follow from
//! that:
//! - integers are `u64` / `i64`; one past their range is an error, not a float;
//! - a float's value is the correctly rounded one (`str::parse`); one that
//!   overflows to infinity is an error;
//! - strings are UTF-8 (the whole text is checked first), without raw control
//!   characters, and a `\u` escape of a lone surrogate is an error;
//! - containers nest at most [`MAX_DEPTH`] deep, so the recursion is bounded;
//! - a key given twice keeps its first position and its last value (found
//!   by a scan in small objects, by a map in large ones: linear either way).

use super::{Key, Object, ParseError, Positions, SCAN_MEMBERS_UP_TO, Value, special_bytes};
use crate::bounds::{MAX_DEPTH, MAX_NUMBER_LEN, Measure};
use std::cell::RefCell;

/// Parse `bytes`, with an upper bound on the value's measure found on the
/// way (see [`super::from_slice_bounded`]).
pub(super) fn parse(bytes: &[u8]) -> Result<(Value, Measure), ParseError> {
    let text =
        std::str::from_utf8(bytes).map_err(|e| ParseError(format!("invalid UTF-8 at byte {}", e.valid_up_to())))?;
    parse_text(text)
}

/// [`parse`] of text already known to be UTF-8 (no second check).
pub(super) fn parse_text(text: &str) -> Result<(Value, Measure), ParseError> {
    thread_local! {
        /// Containers' members while they are read (reused: a record's parse
        /// allocates only what its value keeps).
        static STACKS: RefCell<Stacks> = RefCell::new(Stacks::default());
    }
    STACKS.with(|cell| {
        // A nested parse on this thread (none today) would find the stacks
        // taken and use fresh ones rather than fail.
        let mut taken = cell.try_borrow_mut();
        let mut fresh;
        let stacks = match taken.as_deref_mut() {
            Ok(s) => s,
            Err(_) => {
                fresh = Stacks::default();
                &mut fresh
            }
        };
        let mut p =
            Parser { text, bytes: text.as_bytes(), pos: 0, numbers: 0, depth: 0, shared_keys: Vec::new(), stacks };
        let result = p.document();
        let (numbers, depth) = (p.numbers, p.depth);
        p.stacks.trim();
        let value = result?;
        let bytes = text.len().saturating_add(numbers.saturating_mul(MAX_NUMBER_LEN - 1));
        Ok((value, Measure { bytes, depth }))
    })
}

/// What a thread's parses reuse.
struct Stacks {
    members: Vec<(Key, Value)>,
    items: Vec<Value>,
    /// A string with escapes, unescaped.
    text: String,
    recent_keys: RecentKeys,
}

impl Default for Stacks {
    fn default() -> Stacks {
        Stacks { members: Vec::new(), items: Vec::new(), text: String::new(), recent_keys: RecentKeys::new() }
    }
}

/// Interned keys this thread met lately, one per slot of a cheap hash of
/// their text. Payloads repeat a few keys (in every record, in every
/// element of an array of readings): a slot's compare is cheaper than the
/// interner's lookup. Interned keys are never freed, so holding them costs
/// nothing; a key that lands on a taken slot replaces its tenant.
struct RecentKeys {
    slots: Box<[Option<Key>; RecentKeys::SLOTS]>,
}

impl RecentKeys {
    const SLOTS: usize = 256;

    fn new() -> RecentKeys {
        RecentKeys { slots: Box::new([const { None }; RecentKeys::SLOTS]) }
    }

    #[inline]
    fn slot(s: &[u8]) -> usize {
        let mut word = [0u8; 8];
        let n = s.len().min(8);
        word[..n].copy_from_slice(&s[..n]);
        let last = s.last().copied().unwrap_or(0);
        let h = (u64::from_le_bytes(word) ^ (s.len() as u64) << 56 ^ u64::from(last) << 48)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (h >> 56) as usize
    }
}

impl Stacks {
    /// What a huge record grew is not kept for the thread's life.
    fn trim(&mut self) {
        const KEEP: usize = 4096;
        self.members.clear();
        self.items.clear();
        if self.members.capacity() > KEEP {
            self.members = Vec::new();
        }
        if self.items.capacity() > KEEP {
            self.items = Vec::new();
        }
        if self.text.capacity() > KEEP * 16 {
            self.text = String::new();
        }
    }
}

struct Parser<'t, 's> {
    text: &'t str,
    bytes: &'t [u8],
    pos: usize,
    /// Numbers read (each may be written longer than it was read).
    numbers: usize,
    /// The deepest container's level (the root is level 1).
    depth: usize,
    /// Keys the interner would not take (too long, or it is full) met in
    /// this document, so that a repeated one is allocated once.
    shared_keys: Vec<Key>,
    stacks: &'s mut Stacks,
}

/// Shared keys remembered per document at most.
const MAX_SHARED_KEYS: usize = 64;

impl<'t> Parser<'t, '_> {
    fn document(&mut self) -> Result<Value, ParseError> {
        let v = self.value(0)?;
        self.skip_whitespace();
        if self.pos < self.bytes.len() {
            return Err(self.error("trailing characters after the value"));
        }
        Ok(v)
    }

    /// The value at the cursor; `level` containers enclose it.
    fn value(&mut self, level: usize) -> Result<Value, ParseError> {
        self.skip_whitespace();
        match self.bytes.get(self.pos) {
            Some(b'{') => self.object(level + 1),
            Some(b'[') => self.array(level + 1),
            Some(b'"') => {
                let s: std::sync::Arc<str> = match self.string()? {
                    Some(s) => s.into(),
                    None => self.stacks.text.as_str().into(),
                };
                Ok(Value::String(s))
            }
            Some(b't') => self.literal("true", Value::Bool(true)),
            Some(b'f') => self.literal("false", Value::Bool(false)),
            Some(b'n') => self.literal("null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.error("expected a value")),
            None => Err(self.error("unexpected end of input")),
        }
    }

    fn object(&mut self, level: usize) -> Result<Value, ParseError> {
        let start = self.stacks.members.len();
        // A repeated key is found by a scan while the object is small, by
        // a map once it is large: a record of thousands of distinct keys
        // would otherwise cost a scan of all earlier ones per key.
        let mut positions: Option<Positions> = None;
        if !self.open(level, b'}')? {
            loop {
                self.skip_whitespace();
                if self.bytes.get(self.pos) != Some(&b'"') {
                    return Err(self.error("expected an object key"));
                }
                let key = self.key()?;
                self.skip_whitespace();
                if self.bytes.get(self.pos) != Some(&b':') {
                    return Err(self.error("expected ':' after an object key"));
                }
                self.pos += 1;
                let v = self.value(level)?;
                let members = &mut self.stacks.members;
                let count = members.len() - start;
                let found = match &positions {
                    Some(p) => p.get(&key).copied(),
                    None => members[start..].iter().position(|(k, _)| *k == key),
                };
                match found {
                    Some(i) => members[start + i].1 = v,
                    None => {
                        if let Some(p) = &mut positions {
                            p.insert(key.clone(), count);
                        } else if count >= SCAN_MEMBERS_UP_TO {
                            let mut p = Positions::default();
                            p.extend(members[start..].iter().enumerate().map(|(i, (k, _))| (k.clone(), i)));
                            p.insert(key.clone(), count);
                            positions = Some(p);
                        }
                        members.push((key, v));
                    }
                }
                if self.next_member(b'}', "expected ',' or '}' after an object member")? {
                    break;
                }
            }
        }
        let members = &mut self.stacks.members;
        let entries = if level == 1 {
            // The root gets a spare slot: a ResultPath often adds a field to it.
            let mut entries = Vec::with_capacity(members.len() - start + 1);
            entries.extend(members.drain(start..));
            entries
        } else {
            // A fresh vector of exactly the members (a copy, not the stack).
            members.split_off(start)
        };
        Ok(Value::object(Object { entries }))
    }

    fn array(&mut self, level: usize) -> Result<Value, ParseError> {
        let start = self.stacks.items.len();
        if !self.open(level, b']')? {
            loop {
                let v = self.value(level)?;
                self.stacks.items.push(v);
                if self.next_member(b']', "expected ',' or ']' after an array element")? {
                    break;
                }
            }
        }
        Ok(Value::array(self.stacks.items.split_off(start)))
    }

    /// Enter a container at `level`, the cursor on its opening bracket:
    /// `true` if `close` ends it at once.
    #[inline(always)]
    fn open(&mut self, level: usize, close: u8) -> Result<bool, ParseError> {
        if level > MAX_DEPTH {
            return Err(self.error(&format!("nested deeper than {MAX_DEPTH} levels")));
        }
        self.depth = self.depth.max(level);
        self.pos += 1;
        self.skip_whitespace();
        let empty = self.bytes.get(self.pos) == Some(&close);
        self.pos += usize::from(empty);
        Ok(empty)
    }

    /// After a member: `true` past the container's `close`, `false` past a
    /// comma, the error `what` otherwise.
    #[inline(always)]
    fn next_member(&mut self, close: u8, what: &str) -> Result<bool, ParseError> {
        self.skip_whitespace();
        match self.bytes.get(self.pos) {
            Some(b',') => {
                self.pos += 1;
                Ok(false)
            }
            Some(&b) if b == close => {
                self.pos += 1;
                Ok(true)
            }
            _ => Err(self.error(what)),
        }
    }

    fn key(&mut self) -> Result<Key, ParseError> {
        Ok(match self.string()? {
            Some(s) => self.cached_key(s),
            None => {
                let unescaped = std::mem::take(&mut self.stacks.text);
                let k = self.cached_key(&unescaped);
                self.stacks.text = unescaped;
                k
            }
        })
    }

    fn cached_key(&mut self, s: &str) -> Key {
        let slot = RecentKeys::slot(s.as_bytes());
        if let Some(k) = &self.stacks.recent_keys.slots[slot]
            && **k == *s
        {
            return k.clone();
        }
        if let Some(k) = self.shared_keys.iter().find(|k| &***k == s) {
            return k.clone();
        }
        let k = Key::intern(s);
        if k.is_interned() {
            self.stacks.recent_keys.slots[slot] = Some(k.clone());
        } else if self.shared_keys.len() < MAX_SHARED_KEYS {
            self.shared_keys.push(k.clone());
        }
        k
    }

    /// The string at the cursor (on its opening quote): borrowed from the
    /// text, or `None` when it had escapes and is unescaped in
    /// `stacks.text`.
    fn string(&mut self) -> Result<Option<&'t str>, ParseError> {
        self.pos += 1;
        let start = self.pos;
        let end = self.plain_run(start);
        match self.bytes.get(end) {
            Some(b'"') => {
                self.pos = end + 1;
                Ok(Some(&self.text[start..end]))
            }
            Some(b'\\') => self.escaped(start, end).map(|()| None),
            Some(_) => {
                self.pos = end;
                Err(self.error("control character in a string"))
            }
            None => {
                self.pos = end;
                Err(self.error("unterminated string"))
            }
        }
    }

    /// Where the run of bytes from `i` that need no attention ends: at a
    /// quote, a backslash, a control character or the end of the text.
    #[inline]
    fn plain_run(&self, mut i: usize) -> usize {
        while let Some(chunk) = self.bytes.get(i..i + 8) {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            let marks = special_bytes(u64::from_le_bytes(word));
            if marks != 0 {
                return i + (marks.trailing_zeros() / 8) as usize;
            }
            i += 8;
        }
        while let Some(&b) = self.bytes.get(i) {
            if b == b'"' || b == b'\\' || b < 0x20 {
                break;
            }
            i += 1;
        }
        i
    }

    /// The rest of a string that has escapes, unescaped into `stacks.text`:
    /// `start` is its first byte, `at` the first backslash.
    #[cold]
    fn escaped(&mut self, start: usize, mut at: usize) -> Result<(), ParseError> {
        let mut out = std::mem::take(&mut self.stacks.text);
        out.clear();
        out.push_str(&self.text[start..at]);
        let result = loop {
            // `at` is on a backslash here.
            self.pos = at + 1;
            if let Err(e) = self.unescape_one(&mut out) {
                break Err(e);
            }
            let run = self.pos;
            let end = self.plain_run(run);
            out.push_str(&self.text[run..end]);
            match self.bytes.get(end) {
                Some(b'"') => {
                    self.pos = end + 1;
                    break Ok(());
                }
                Some(b'\\') => at = end,
                Some(_) => {
                    self.pos = end;
                    break Err(self.error("control character in a string"));
                }
                None => {
                    self.pos = end;
                    break Err(self.error("unterminated string"));
                }
            }
        };
        self.stacks.text = out;
        result
    }

    /// One escape after its backslash (the cursor is on the letter).
    fn unescape_one(&mut self, out: &mut String) -> Result<(), ParseError> {
        let c = match self.bytes.get(self.pos) {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                let unit = self.hex4(self.pos + 1)?;
                self.pos += 5;
                let c = match unit {
                    0xD800..=0xDBFF => {
                        if self.bytes.get(self.pos..self.pos + 2) != Some(b"\\u") {
                            return Err(self.error("a \\u escape of a lone surrogate"));
                        }
                        let low = self.hex4(self.pos + 2)?;
                        if !(0xDC00..=0xDFFF).contains(&low) {
                            return Err(self.error("a \\u escape of a lone surrogate"));
                        }
                        self.pos += 6;
                        0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                    }
                    0xDC00..=0xDFFF => return Err(self.error("a \\u escape of a lone surrogate")),
                    _ => unit,
                };
                out.push(char::from_u32(c).ok_or_else(|| self.error("invalid \\u escape"))?);
                return Ok(());
            }
            _ => return Err(self.error("invalid escape")),
        };
        out.push(c);
        self.pos += 1;
        Ok(())
    }

    fn hex4(&self, at: usize) -> Result<u32, ParseError> {
        let digits = self.bytes.get(at..at + 4).ok_or_else(|| self.error("invalid \\u escape"))?;
        let mut n = 0;
        for &d in digits {
            let v = (d as char).to_digit(16).ok_or_else(|| self.error("invalid \\u escape"))?;
            n = n * 16 + v;
        }
        Ok(n)
    }

    fn literal(&mut self, word: &str, v: Value) -> Result<Value, ParseError> {
        if self.bytes.get(self.pos..self.pos + word.len()) == Some(word.as_bytes()) {
            self.pos += word.len();
            Ok(v)
        } else {
            Err(self.error(&format!("expected '{word}'")))
        }
    }

    fn number(&mut self) -> Result<Value, ParseError> {
        let start = self.pos;
        let negative = self.bytes[start] == b'-';
        let digits_start = start + usize::from(negative);
        let digits = self.bytes[digits_start..].iter().take_while(|b| b.is_ascii_digit()).count();
        let mut i = digits_start + digits;
        if digits == 0 || (digits > 1 && self.bytes[digits_start] == b'0') {
            self.pos = i;
            return Err(self.error("invalid number"));
        }
        let mut float = false;
        if self.bytes.get(i) == Some(&b'.') {
            i = self.digits_after(i + 1)?;
            float = true;
        }
        if let Some(b'e' | b'E') = self.bytes.get(i) {
            i += 1;
            if let Some(b'+' | b'-') = self.bytes.get(i) {
                i += 1;
            }
            i = self.digits_after(i)?;
            float = true;
        }
        self.numbers += 1;
        let number = if float {
            let f: f64 = self.text[start..i].parse().map_err(|_| self.error("invalid number"))?;
            if !f.is_finite() {
                return Err(self.error("number out of range"));
            }
            Value::from(f)
        } else {
            // Nineteen digits always fit in a u64; more may not.
            let digits = &self.text[digits_start..digits_start + digits];
            let magnitude = if digits.len() <= 19 {
                Some(digits.bytes().fold(0u64, |n, d| n * 10 + u64::from(d - b'0')))
            } else {
                digits.parse::<u64>().ok()
            };
            match magnitude {
                Some(m) if !negative => Value::from(m),
                Some(m) if m <= i64::MIN.unsigned_abs() => Value::from((m as i64).wrapping_neg()),
                _ => return Err(self.error("integer out of range")),
            }
        };
        self.pos = i;
        Ok(number)
    }

    /// The end of the digits from `i` on, of which a fraction or an
    /// exponent must have at least one.
    #[inline(always)]
    fn digits_after(&mut self, i: usize) -> Result<usize, ParseError> {
        let end = i + self.bytes[i.min(self.bytes.len())..].iter().take_while(|b| b.is_ascii_digit()).count();
        if end == i {
            self.pos = i;
            return Err(self.error("invalid number"));
        }
        Ok(end)
    }

    #[inline]
    fn skip_whitespace(&mut self) {
        // Most tokens follow one another directly or after one space.
        match self.bytes.get(self.pos) {
            Some(&b) if b > b' ' => {}
            _ => {
                while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.bytes.get(self.pos) {
                    self.pos += 1;
                }
            }
        }
    }

    #[cold]
    fn error(&self, what: &str) -> ParseError {
        ParseError(format!("{what} at byte {}", self.pos))
    }
}

#[cfg(test)]
mod tests {
    use crate::value::special_bytes;

    #[test]
    fn special_bytes_marks_exactly_quotes_backslashes_and_controls() {
        for b in 0u8..=255 {
            for pos in 0..8 {
                let mut word = [b'a'; 8];
                word[pos] = b;
                let marks = special_bytes(u64::from_le_bytes(word));
                let special = b == b'"' || b == b'\\' || b < 0x20;
                assert_eq!(marks != 0, special, "byte {b:#x} at {pos}");
                if special {
                    assert_eq!(marks.trailing_zeros() / 8, pos as u32, "byte {b:#x} at {pos}");
                }
            }
        }
    }
}
