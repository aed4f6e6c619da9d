//! Object keys: interned (`&'static str`, copied for free) or shared
//! (`Arc<str>`, reference-counted).
//!
//! Why: an execution copies keys all the time — every template field, every
//! ResultPath write, every parsed object of a payload whose elements repeat
//! the same few keys. With `Arc<str>` each copy and each drop is an atomic
//! read-modify-write, and they added up to a tenth of a fan-out machine's
//! time. Keys the program names (template fields, paths) and keys payloads
//! repeat are interned instead: a bounded, process-wide table of leaked
//! strings, so copying one is copying two words and dropping it is nothing.
//!
//! The table only grows, so it is capped ([`MAX_INTERNED`] keys of at most
//! [`MAX_INTERNED_LEN`] bytes, about 2 MiB at worst): once full, new keys are
//! `Arc<str>` as before. Payloads with ever-new keys therefore cost what they
//! always did and never grow memory without bound.
//!
//! A key is two words, as `Arc<str>` is: a pointer and a length whose top
//! three bits are tags — shared, interned, and plain (an interned key JSON
//! writes without escaping). No allocation comes near 2^61 bytes on a 64-bit
//! target (address spaces are at most 57 bits), so a length never reaches them.
//! The table holds one copy per text, so two interned keys are equal exactly
//! when their pointers are: comparing keys of parsed objects and templates
//! (the common case) reads no bytes.

use foldhash::fast::FixedState;
use std::borrow::Borrow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// How many distinct keys the process-wide table holds at most.
pub const MAX_INTERNED: usize = 16 * 1024;
/// Longer keys are never interned (they are rarely repeated field names).
pub const MAX_INTERNED_LEN: usize = 128;

const SHARED: usize = 1 << (usize::BITS - 1);
const INTERNED: usize = 1 << (usize::BITS - 2);
/// An interned key that JSON writes without escaping (checked once, when
/// interned); its text sits inside a `"key":` copy, which the writer emits whole.
const PLAIN: usize = 1 << (usize::BITS - 3);
const TAGS: usize = SHARED | INTERNED | PLAIN;

pub struct Key {
    ptr: NonNull<u8>,
    /// The length in bytes, with [`SHARED`] set when `ptr` came from
    /// `Arc::<str>::into_raw`, [`INTERNED`] when it is the table's copy, and
    /// [`PLAIN`] too when that copy needs no escaping.
    tagged_len: usize,
}

// SAFETY: a key is either a `&'static str` or an `Arc<str>`, both Send and Sync.
unsafe impl Send for Key {}
// SAFETY: as for `Send`: shared access only reads the text or moves an
// `Arc`'s atomic count.
unsafe impl Sync for Key {}

impl Key {
    /// An interned key when the table has (or has room for) `s`, else a
    /// shared one.
    #[inline]
    pub fn intern(s: &str) -> Key {
        match interned(s) {
            Some((fixed, tags)) => {
                let mut key = Key::from_static(fixed);
                key.tagged_len |= tags;
                key
            }
            None => Key::shared(Arc::from(s)),
        }
    }

    pub const fn from_static(s: &'static str) -> Key {
        // SAFETY: a reference is never null.
        let ptr = unsafe { NonNull::new_unchecked(s.as_ptr() as *mut u8) };
        Key { ptr, tagged_len: s.len() }
    }

    fn shared(s: Arc<str>) -> Key {
        let len = s.len();
        let raw = Arc::into_raw(s) as *const u8 as *mut u8;
        // SAFETY: `Arc::into_raw` never returns null.
        let ptr = unsafe { NonNull::new_unchecked(raw) };
        Key { ptr, tagged_len: len | SHARED }
    }

    fn is_shared(&self) -> bool {
        self.tagged_len & SHARED != 0
    }

    /// The table's copy (compares by pointer, copies for free).
    pub fn is_interned(&self) -> bool {
        self.tagged_len & INTERNED != 0
    }

    /// `"key":` as a JSON object member starts, for interned keys that need
    /// no escaping (`None` means "write it the long way").
    pub fn json_member(&self) -> Option<&'static [u8]> {
        if self.tagged_len & PLAIN == 0 {
            return None;
        }
        // SAFETY: a plain interned key's text was leaked inside a `"key":`
        // copy (see `interned`): one byte before it, two after it, forever.
        Some(unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().sub(1), self.len() + 3) })
    }

    fn len(&self) -> usize {
        self.tagged_len & !TAGS
    }

    /// The `*const str` that `Arc::into_raw` gave (only meaningful when shared).
    fn raw(&self) -> *const str {
        std::ptr::slice_from_raw_parts(self.ptr.as_ptr() as *const u8, self.len()) as *const str
    }

    pub fn as_str(&self) -> &str {
        // SAFETY: `ptr`/`len` describe a live `str` — a static one, or the
        // contents of an `Arc<str>` this key holds a count of.
        unsafe { std::str::from_utf8_unchecked(std::slice::from_raw_parts(self.ptr.as_ptr(), self.len())) }
    }
}

impl Clone for Key {
    fn clone(&self) -> Key {
        if self.is_shared() {
            // SAFETY: `raw()` is the pointer `Arc::into_raw` returned, and this
            // key holds one count, so the allocation is alive.
            unsafe { Arc::increment_strong_count(self.raw()) };
        }
        Key { ptr: self.ptr, tagged_len: self.tagged_len }
    }
}

impl Drop for Key {
    fn drop(&mut self) {
        if self.is_shared() {
            // SAFETY: gives back the one count this key holds.
            unsafe { Arc::decrement_strong_count(self.raw()) };
        }
    }
}

impl Deref for Key {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Key {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for Key {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        if self.ptr == other.ptr && self.tagged_len == other.tagged_len {
            return true;
        }
        // The table holds one copy per text.
        if self.is_interned() && other.is_interned() {
            return false;
        }
        self.as_str() == other.as_str()
    }
}

impl Eq for Key {}

impl PartialEq<str> for Key {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Key) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Key {
    fn cmp(&self, other: &Key) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&str> for Key {
    fn from(s: &str) -> Key {
        Key::shared(Arc::from(s))
    }
}

impl From<String> for Key {
    fn from(s: String) -> Key {
        Key::shared(Arc::from(s))
    }
}

impl From<Arc<str>> for Key {
    fn from(s: Arc<str>) -> Key {
        Key::shared(s)
    }
}

impl From<&Key> for Arc<str> {
    /// Another count of a shared key; a copy of an interned one.
    fn from(k: &Key) -> Arc<str> {
        if k.is_shared() {
            // SAFETY: `raw()` came from `Arc::into_raw` and this key holds a
            // count; the new count is handed to the returned `Arc`.
            unsafe {
                Arc::increment_strong_count(k.raw());
                Arc::from_raw(k.raw())
            }
        } else {
            Arc::from(k.as_str())
        }
    }
}

/// Interned texts, each with the tag bits its keys carry: [`INTERNED`], and
/// [`PLAIN`] when the text was leaked inside a `"key":` copy — decided once,
/// when the text enters the table.
type Interned = HashMap<&'static str, usize, FixedState>;

const fn no_keys() -> Interned {
    Interned::with_hasher(FixedState::with_seed(0))
}

static TABLE: Mutex<Interned> = Mutex::new(no_keys());
/// Set once the table is full; then each thread's copy is complete and the
/// table need not be asked again.
static FULL: AtomicBool = AtomicBool::new(false);

/// One thread's view of the table, so that interning a known key takes no lock.
struct Seen {
    keys: Interned,
    /// It holds the whole table, which is full: a key not here is not interned.
    complete: bool,
}

thread_local! {
    static SEEN: RefCell<Seen> = const { RefCell::new(Seen { keys: no_keys(), complete: false }) };
}

/// The interned copy of `s` and its tags, interning it if the table has room.
#[inline]
fn interned(s: &str) -> Option<(&'static str, usize)> {
    if s.len() > MAX_INTERNED_LEN {
        return None;
    }
    SEEN.with(|seen| {
        let mut seen = seen.borrow_mut();
        if let Some((fixed, tags)) = seen.keys.get_key_value(s) {
            return Some((*fixed, *tags));
        }
        if seen.complete {
            return None;
        }
        let full = FULL.load(Ordering::Acquire);
        let mut table = TABLE.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if full {
            seen.keys.extend(table.iter().map(|(k, t)| (*k, *t)));
            seen.complete = true;
            return seen.keys.get_key_value(s).map(|(k, t)| (*k, *t));
        }
        let entry = match table.get_key_value(s) {
            Some((fixed, tags)) => (*fixed, *tags),
            None if table.len() < MAX_INTERNED => {
                let entry = leak(s);
                table.insert(entry.0, entry.1);
                entry
            }
            None => {
                FULL.store(true, Ordering::Release);
                return None;
            }
        };
        seen.keys.insert(entry.0, entry.1);
        Some(entry)
    })
}

/// The table's copy of `s` and its tags. Text that JSON writes as it is gets
/// framed as `"key":` for [`Key::json_member`]; the key is the text inside.
fn leak(s: &str) -> (&'static str, usize) {
    if crate::value::is_plain_json(s.as_bytes()) {
        let framed: &'static str = Box::leak(format!("\"{s}\":").into_boxed_str());
        (&framed[1..1 + s.len()], INTERNED | PLAIN)
    } else {
        (Box::leak(Box::from(s)), INTERNED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interned_and_shared_keys_read_compare_and_hash_alike() {
        let a = Key::intern("deviceId");
        let b = Key::from("deviceId");
        assert!(a.is_interned());
        assert!(b.is_shared());
        assert_eq!(Key::from_static("deviceId"), a, "a static key that is not the table's copy");
        assert_ne!(Key::intern("deviceIds"), a);
        assert_eq!(&*a, "deviceId");
        assert_eq!(a, b);
        let hash = |k: &Key| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            k.hash(&mut h);
            h.finish()
        };
        assert_eq!(hash(&a), hash(&b));
        assert_eq!(Key::intern("deviceId").as_ptr(), a.as_ptr(), "one copy per text");
    }

    #[test]
    fn shared_keys_count_their_references() {
        let text: Arc<str> = Arc::from("reading");
        let key = Key::from(text.clone());
        assert_eq!(Arc::strong_count(&text), 2);
        let copies: Vec<Key> = (0..3).map(|_| key.clone()).collect();
        assert_eq!(Arc::strong_count(&text), 5);
        drop(copies);
        drop(key);
        assert_eq!(Arc::strong_count(&text), 1);
        let key = Key::from(text.clone());
        let back: Arc<str> = Arc::from(&key);
        assert!(Arc::ptr_eq(&back, &text), "a shared key converts back without copying");
        assert_eq!(Arc::strong_count(&text), 3);
        drop((key, back));
        assert_eq!(Arc::strong_count(&text), 1);
        assert_eq!(&*Arc::<str>::from(&Key::intern("reading")), "reading");
    }

    #[test]
    fn long_keys_are_never_interned() {
        let long = "k".repeat(MAX_INTERNED_LEN + 1);
        assert!(Key::intern(&long).is_shared());
        assert_eq!(&*Key::intern(&long), long);
        assert!(Key::intern("").is_interned());
        assert_eq!(Key::intern("plain").json_member(), Some(&b"\"plain\":"[..]));
        assert_eq!(Key::intern("").json_member(), Some(&b"\"\":"[..]));
        assert_eq!(Key::intern("quote\"d").json_member(), None);
        assert_eq!(&*Key::intern("quote\"d"), "quote\"d");
        assert_eq!(Key::from("plain").json_member(), None, "unknown for keys not interned");
        assert_eq!(&*Key::intern(""), "");
    }

    #[test]
    fn keys_move_between_threads() {
        let keys = [Key::intern("a"), Key::from("b")];
        let back = std::thread::spawn(move || keys.iter().map(|k| k.to_string()).collect::<Vec<_>>()).join();
        assert_eq!(back.ok(), Some(vec!["a".to_string(), "b".to_string()]));
    }
}
