//! JSONPath forms as Jayway JsonPath (the engine behind Step Functions' paths)
//! parses and evaluates them: each form from Jayway's README and its
//! PathCompilerTest is either rejected or selects what Jayway selects on
//! [`document`] (definite paths one value, indefinite ones an array).

use expressway_engine::Value;
use expressway_engine::jsonpath::JsonPath;
use serde_json::json;

fn document() -> serde_json::Value {
    json!({
        "a": {"b": "c", "x y": 1, "it's": 2, "back\\slash": 4},
        "arr": [10, 20, 30, 40],
        "items": [
            {"x": 1, "b": "c", "d": "D1"},
            {"x": 2, "b": "z", "d": "D2"},
            {"x": 3, "b": "c", "d": "D3"}
        ],
        "k": {"x": 5}
    })
}

/// Accepted forms and what they select on [`document`].
fn accepted() -> Vec<(&'static str, serde_json::Value)> {
    let items = document()["items"].clone();
    vec![
        ("$", document()),
        ("$.a.b", json!("c")),
        ("$['a']['b']", json!("c")),
        ("$[\"a\"][\"b\"]", json!("c")),
        // A bracket after a single '.' is read as if the '.' were absent.
        ("$.a.['b']", json!("c")),
        ("$.['a'].b", json!("c")),
        ("$.arr.[0]", json!(10)),
        ("$.[*].x", json!([5])),
        ("$.arr[-1]", json!(40)),
        // A name straight after a bracket is a property (Jayway's default token).
        ("$.items[0]x", json!(1)),
        ("$['a']b", json!("c")),
        // Quoted names: spaces, the other quote, escaped quote and backslash.
        ("$.a['x y']", json!(1)),
        ("$.a[\"it's\"]", json!(2)),
        ("$.a['it\\'s']", json!(2)),
        ("$.a['back\\\\slash']", json!(4)),
        // Whitespace inside brackets.
        ("$.a[ 'b' ]", json!("c")),
        ("$.arr[ 1 ]", json!(20)),
        ("$['a' , 'k'].x", json!([5])),
        // A multi-field leaf is merged into one object (absent names left out).
        ("$['k', 'arr', 'nope']", json!({"k": {"x": 5}, "arr": [10, 20, 30, 40]})),
        ("$.items[*]['x','d']", json!([{"x": 1, "d": "D1"}, {"x": 2, "d": "D2"}, {"x": 3, "d": "D3"}])),
        // Unions, slices, wildcards.
        ("$.arr[0,2]", json!([10, 30])),
        ("$.arr[1:3]", json!([20, 30])),
        ("$.arr[-2:]", json!([30, 40])),
        ("$.arr[:2]", json!([10, 20])),
        ("$.arr[*]", json!([10, 20, 30, 40])),
        ("$.k.*", json!([5])),
        ("$.k[*]", json!([5])),
        ("$.items[*].x", json!([1, 2, 3])),
        // Deep scan.
        ("$..x", json!([1, 2, 3, 5])),
        ("$..['x']", json!([1, 2, 3, 5])),
        ("$..[0]", json!([10, items[0]])),
        // Filters.
        ("$.items[?(@.x > 1)].d", json!(["D2", "D3"])),
        ("$.items[?(@.b == 'c')].d", json!(["D1", "D3"])),
        ("$.items[?(@.b == \"c\")].d", json!(["D1", "D3"])),
        ("$.items[?(@.x > 1 && @.b == 'c')].x", json!([3])),
        ("$.items[?(@.x == 1 || @.x == 3)].x", json!([1, 3])),
        ("$.items[?( @.x >= 2 )].x", json!([2, 3])),
        ("$.items[?(@.x != 2)].x", json!([1, 3])),
        ("$.items[?(@.d)].x", json!([1, 2, 3])),
        ("$.items[?(!@.missing)].x", json!([1, 2, 3])),
        ("$.items[?(@.x < $.k.x && @.x <= 1)].x", json!([1])),
        ("$..[?(@.b == 'z')].x", json!([2])),
        ("$.items.length()", json!(3)),
        // Jayway trims the spaces around a path before compiling it.
        ("$.a.b ", json!("c")),
        ("  $.a['x y']  ", json!(1)),
    ]
}

/// Forms Jayway (or Step Functions, for a path without '$') rejects.
const REJECTED: &[&str] = &[
    "$.",
    "$..",
    "$.a.",
    "$.a. ",
    "$.a..",
    "$...a",
    "$[",
    "$.arr[1",
    "$['a",
    "$[\"a']",
    "$['a'",
    "$[a]",
    "$.a b",
    "$.items[?(@.x > 1]",
    "$.items[?(@.x > 1)",
    "a.b",
    "",
];

#[test]
fn accepted_forms_select_what_jayway_selects() {
    let doc = Value::from(&document());
    let mut wrong = Vec::new();
    for (path, want) in accepted() {
        match JsonPath::parse(path) {
            Err(e) => wrong.push(format!("{path}: rejected ({e})")),
            Ok(p) => match p.select(&doc) {
                Err(e) => wrong.push(format!("{path}: miss ({e:?})")),
                Ok(got) => {
                    let got = serde_json::Value::from(got);
                    if got != want {
                        wrong.push(format!("{path}: got {got}, want {want}"));
                    }
                }
            },
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn rejected_forms_are_syntax_errors() {
    let accepted: Vec<&str> = REJECTED.iter().copied().filter(|p| JsonPath::parse(p).is_ok()).collect();
    assert!(accepted.is_empty(), "accepted: {accepted:?}");
}

#[test]
fn definite_misses_are_errors_and_indefinite_misses_empty_arrays() {
    let doc = Value::from(&document());
    let miss = |p: &str| JsonPath::parse(p).map(|p| p.select(&doc).is_err()).unwrap_or(false);
    assert!(miss("$.a.nope"));
    assert!(miss("$.arr[9]"));
    assert!(miss("$.a.['nope']"));
    let empty = |p: &str| {
        JsonPath::parse(p).ok().and_then(|p| p.select(&doc).ok()).map(serde_json::Value::from) == Some(json!([]))
    };
    assert!(empty("$..nope"));
    assert!(empty("$.items[?(@.x > 9)]"));
    assert!(empty("$.arr[7:9]"));
}
