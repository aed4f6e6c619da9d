//! JSONata parsing and evaluation on arbitrary expressions against a fixed
//! input, under the VM's depth and step limits. Invariants: an expression
//! that parses, parses again from its source; evaluation with a fixed seed
//! and clock is deterministic.
#![no_main]

use expressway_engine::jsonata::{Environment, Expression, States};
use expressway_fuzz::{JSONATA_LIMITS, MAX_SOURCE_LEN, document};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static DOC: LazyLock<expressway_engine::Value> = LazyLock::new(document);

fn environment(input: &expressway_engine::Value) -> Environment<'_> {
    Environment {
        states: Some(States { input, result: None, error_output: None, context: None, map_item: None }),
        now_millis: 1_700_000_000_000,
        limits: JSONATA_LIMITS,
        ..Environment::default()
    }
}

/// Whether `source` holds a number literal of six digits or more, or
/// with an exponent: `[1..10000000]`, `$pad(s, 1e9)` and the like are the
/// allocation caps' to bound (resource-limit work of their own), and under
/// AddressSanitizer they exceed any useful time-out.
fn has_large_literal(source: &str) -> bool {
    let bytes = source.as_bytes();
    let mut run = 0;
    for (i, b) in bytes.iter().enumerate() {
        if b.is_ascii_digit() {
            run += 1;
            if run >= 6 {
                return true;
            }
        } else {
            let exponent = matches!(b, b'e' | b'E')
                && run > 0
                && bytes.get(i + 1).is_some_and(|n| n.is_ascii_digit() || *n == b'+');
            if exponent {
                return true;
            }
            run = 0;
        }
    }
    false
}

fuzz_target!(|data: &[u8]| {
    if data.len() > MAX_SOURCE_LEN {
        return;
    }
    let Ok(source) = std::str::from_utf8(data) else { return };
    if has_large_literal(source) {
        return;
    }
    let Ok(expr) = Expression::parse(source) else { return };
    assert!(Expression::parse(expr.source()).is_ok(), "an expression's source does not parse again");
    let first = expr.evaluate(Some(&DOC), environment(&DOC));
    let second = expr.evaluate(Some(&DOC), environment(&DOC));
    match (&first, &second) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "evaluation is not deterministic"),
        (Err(a), Err(b)) => assert_eq!(a.code, b.code, "evaluation fails differently"),
        _ => panic!("evaluation succeeded once and failed once: {first:?} / {second:?}"),
    }
});
