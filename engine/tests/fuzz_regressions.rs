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

/// Group-by appended each item to its group by copying the group so far:
/// `[0..9999]{'foo': 'bar'}` made 50 M copies and outlasted the fuzzer's
/// time-out (the step budget does not count them). The groups must still
/// hold every item, in order.
#[test]
fn group_by_into_one_key_keeps_every_item_in_order() {
    assert_eq!(jsonata("[0..9999]{'foo': 'bar'}").as_deref(), Some(r#"{"foo":"bar"}"#));
    assert_eq!(jsonata("[1..20000]{'all': $count($)}").as_deref(), Some(r#"{"all":20000}"#));
    assert_eq!(jsonata("[1..20000]{'all': $sum($)}").as_deref(), Some(r#"{"all":200010000}"#));
    assert_eq!(
        jsonata("[1..6]{($ % 2 = 0 ? 'even' : 'odd'): $}").as_deref(),
        Some(r#"{"odd":[1,3,5],"even":[2,4,6]}"#)
    );
    assert_eq!(jsonata("$append([[1, 2]][0], 3)").as_deref(), Some("[1,2,3]"));
}

/// A bracket union read its second name without checking that it starts
/// with a quote: `$['a',é']` took the first byte of `é` for the quote and
/// sliced the source inside the character (a panic). Any byte other than a
/// quote after the comma is a syntax error.
#[test]
fn union_name_after_comma_must_start_with_a_quote() {
    use expressway_engine::jsonpath::JsonPath;
    for source in ["$['a',é']", "$['a',é", "$['a',x']", "$['a', 7]"] {
        assert!(JsonPath::parse(source).is_err(), "{source} parsed");
    }
    let both = JsonPath::parse("$['a','é']").expect("a quoted union parses");
    assert_eq!(both.to_string(), "$['a','é']");
}
