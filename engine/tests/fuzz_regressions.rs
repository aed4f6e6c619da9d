//! Inputs the fuzz targets (engine/fuzz, `benches/fuzz.sh`) found to crash
//! or hang the engine, kept as ordinary tests so that stable CI runs them.
//! The raw inputs are in engine/fuzz/regressions/<target>/.

use expressway_engine::jsonata::{Environment, Expression};

fn jsonata(expr: &str) -> Option<String> {
    let e = Expression::parse(expr).unwrap_or_else(|e| panic!("{expr}: {e}"));
    e.evaluate(None, Environment::default()).unwrap_or_else(|e| panic!("{expr}: {e}")).map(|v| v.to_json())
}

/// `$parseInteger` with a picture of non-ASCII digits subtracted the
/// family's zero from every character, and one below it (`>`, `$`)
/// overflowed (a panic with overflow checks on). Only the family's digits
/// count; any other character ends the number, an ASCII digit included.
#[test]
fn parse_integer_with_arabic_indic_digits_stops_at_other_characters() {
    assert_eq!(jsonata("$parseInteger('١٢٣>=٠', '###١')").as_deref(), Some("123"));
    assert_eq!(jsonata("$parseInteger('١٢٣٤٠$sum(', '###١')").as_deref(), Some("12340"));
    assert_eq!(jsonata("$parseInteger('١٢5', '##١')").as_deref(), Some("12"));
}
