//! The payload parser (`engine/src/value/parse.rs`) on arbitrary bytes.
//! Invariants: it accepts exactly what simd-json (its predecessor) accepts
//! and builds the same value and bound; it accepts what serde_json accepts
//! and builds the same value (differential); and what it writes reads back
//! to the same value.
#![no_main]

use expressway_engine::value;
use libfuzzer_sys::fuzz_target;

#[path = "../../tests/support/simd_oracle.rs"]
mod simd_oracle;

/// Equal but for zero's sign and a float's last bits: `-0` is the integer
/// 0 to the reader (as to Jackson, which AWS uses) and -0.0 to serde_json,
/// and serde_json without its `float_roundtrip` feature may be an ULP or
/// two off where simd-json rounds correctly (`1e-39`, `-9472233720.18547758`).
fn same(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value as J;
    match (a, b) {
        (J::Number(x), J::Number(y)) => match (x.as_f64(), y.as_f64()) {
            _ if x == y => true,
            (Some(x), Some(y)) => x == y || (x - y).abs() <= 4.0 * f64::EPSILON * x.abs().max(y.abs()),
            _ => false,
        },
        (J::Array(x), J::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y)),
        (J::Object(x), J::Object(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|((kx, x), (ky, y))| kx == ky && same(x, y))
        }
        _ => a == b,
    }
}

fuzz_target!(|data: &[u8]| {
    let bounded = value::from_slice_bounded(data);
    match (&bounded, simd_oracle::oracle(data)) {
        (Ok((v, m)), Ok((w, n))) => {
            assert_eq!(v.to_json(), w.to_json(), "the parser and simd-json build different values");
            assert_eq!((m.bytes, m.depth), (n.bytes, n.depth), "the parser and simd-json bound it differently");
        }
        (Err(_), Err(_)) => {}
        (ours, theirs) => panic!("the parser says {ours:?}, simd-json {theirs:?}"),
    }
    let ours = value::from_slice(data);
    let reference = serde_json::from_slice::<serde_json::Value>(data);
    match (&ours, &reference) {
        (Ok(v), Ok(r)) => {
            let ours = serde_json::Value::from(v);
            assert!(same(&ours, r), "reader and serde_json disagree: {ours} / {r}");
        }
        // Nesting past serde_json's 128 levels: depth limits on values are
        // their own piece of work, not this target's to report.
        (Ok(_), Err(e)) if e.to_string().contains("recursion limit") => {}
        (Ok(_), Err(e)) => panic!("the reader accepts what serde_json rejects ({e})"),
        // The parser (as simd-json before it) rejects some inputs serde_json
        // accepts (integers past 64 bits, its depth limit, lone `\u`
        // surrogates): a difference of strictness, not a crash.
        (Err(_), _) => {}
    }
    if let Ok(v) = ours {
        let text = v.to_json();
        let again = value::from_str(&text).expect("what the writer writes reads back");
        assert_eq!(again, v, "write → read changes the value");
        assert_eq!(again.to_json(), text, "write is not stable");
    }
});
