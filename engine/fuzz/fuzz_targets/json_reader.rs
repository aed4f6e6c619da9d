//! The record reader (simd-json tape → `Value`) on arbitrary bytes.
//! Invariants: it accepts what serde_json accepts and builds the same value
//! (differential), and what it writes reads back to the same value.
#![no_main]

use expressway_engine::value;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let ours = value::from_slice(data);
    let reference = serde_json::from_slice::<serde_json::Value>(data);
    match (&ours, &reference) {
        (Ok(v), Ok(r)) => {
            // serde_json without arbitrary_precision rounds big numbers the
            // same way (to f64), so the values compare equal.
            assert_eq!(serde_json::Value::from(v), *r, "reader and serde_json disagree");
        }
        // Nesting past serde_json's 128 levels: depth limits on values are
        // their own piece of work, not this target's to report.
        (Ok(_), Err(e)) if e.to_string().contains("recursion limit") => {}
        (Ok(_), Err(e)) => panic!("the reader accepts what serde_json rejects ({e})"),
        // simd-json rejects some inputs serde_json accepts (its depth
        // limit, `\u` surrogate handling); that is a difference of
        // strictness, not a crash: noted, not asserted.
        (Err(_), _) => {}
    }
    if let Ok(v) = ours {
        let text = v.to_json();
        let again = value::from_str(&text).expect("what the writer writes reads back");
        assert_eq!(again, v, "write → read changes the value");
        assert_eq!(again.to_json(), text, "write is not stable");
    }
});
