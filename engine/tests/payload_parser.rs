//! The payload parser (`engine/src/value/parse.rs`) against simd-json, which
//! parsed payloads before it: the same texts accepted, the same values
//! built (key order included), the same bounds. simd-json is the oracle
//! here because the switch must change no execution's output; where the two
//! would differ from serde_json (integers past 64 bits are errors, `-0` is
//! the integer 0) the parser keeps simd-json's answer.

use expressway_engine::bounds::MAX_DEPTH;
use expressway_engine::value;
use proptest::prelude::*;

#[path = "support/simd_oracle.rs"]
mod simd_oracle;
use simd_oracle::oracle;

/// Both accept or both refuse `text`; accepted, the values (in key order
/// too) and the bounds are the same.
fn agree(text: &[u8]) {
    let ours = value::from_slice_bounded(text).map_err(|e| e.to_string());
    let theirs = oracle(text);
    let shown = String::from_utf8_lossy(text);
    match (&ours, &theirs) {
        (Ok((v, m)), Ok((w, n))) => {
            assert_eq!(v.to_json(), w.to_json(), "{shown:?}");
            assert_eq!(v, w, "{shown:?}");
            assert_eq!(m.bytes, n.bytes, "{shown:?}: bound in bytes");
            assert_eq!(m.depth, n.depth, "{shown:?}: depth");
        }
        (Err(_), Err(_)) => {}
        _ => panic!("{shown:?}: the parser says {ours:?}, simd-json {theirs:?}"),
    }
}

#[test]
fn hand_picked_texts_parse_as_simd_json_parsed_them() {
    let texts: &[&[u8]] = &[
        b"-0",
        b"-0.0",
        b"0.0",
        b"0",
        b"1e400",
        b"-1e400",
        b"1e-400",
        b"18446744073709551615",
        b"18446744073709551616",
        b"-9223372036854775808",
        b"-9223372036854775809",
        b"9223372036854775808",
        b"1.0",
        b"1E2",
        b"1e+2",
        b"1E-2",
        b"0.1e1",
        b"5e-324",
        b"2.5E+3",
        b"1e0000000000000000001",
        b"0.000000000000000000000000000000000000000001",
        b"12345678901234567890",
        b"99999999999999999999",
        b"-9999999999999999999",
        b"123456789012345678901234567890.5",
        b"1.7976931348623157e308",
        b"1.7976931348623157e309",
        b"1.00000000000000011102230246251565404236316680908203125",
        b"01",
        b"-01",
        b"00",
        b"1.",
        b".5",
        b"+1",
        b"-",
        b"1e",
        b"1e+",
        b"1.e5",
        b"-a",
        b"1x",
        b"\"\\ud800\"",
        b"\"\\ud800\\u0041\"",
        b"\"\\udc00\"",
        b"\"\\uD83D\\uDE00\"",
        b"\"\\ud83d\\ude00x\"",
        b"\"\\u0000\"",
        b"\"\\u12\"",
        b"\"\\u12g4\"",
        b"\"\\x\"",
        b"\"a\x01b\"",
        b"\"\x7f\"",
        b"\"\x1f\"",
        b"\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"",
        b"\"caf\xc3\xa9 \xe2\x98\x83\"",
        b"\"\xff\"",
        b"\xff",
        b"\"\xc3\"",
        b"\"unterminated",
        b"\"a\\",
        b"\"a\\u00",
        b"[1,]",
        b"{\"a\":1,}",
        b"[,1]",
        b"{,}",
        b"{\"a\"}",
        b"{\"a\" 1}",
        b"{1:2}",
        b"[1 2]",
        b"NaN",
        b"Infinity",
        b"true",
        b"false",
        b"null",
        b"tru",
        b"nul",
        b"falsey",
        b"  3  ",
        b"\t\r\n[ ]",
        b"\x0c[]",
        b"[] x",
        b"1 2",
        b"",
        b" ",
        b"\xef\xbb\xbf{}",
        b"[",
        b"{",
        b"]",
        b"}",
        b"[[[]]]",
        b"{\"\":1}",
        b"{\"a\":1,\"a\":2,\"b\":3}",
        b"{\"a\":{\"x\":[1]},\"a\":2}",
        b"{\"b\":1,\"a\":[true,null,\"x\",1.5],\"c\":{\"z\":{},\"y\":[]}}",
        b"[{\"k\":1},{\"k\":2},{\"k\":3}]",
        b"{\"k\\u0041\":1,\"kA\":2}",
        b"{\"a\\\"b\":\"c\\\"d\"}",
        b"[1.5,-2.25e-3,3E10,-0,0e0]",
        b"\"0123456789abcdef\\\"0123456789\"",
        b"\"a long string without escapes, longer than eight bytes\"",
    ];
    for t in texts {
        agree(t);
    }
    // Keys that share a slot of the recent-keys table, long keys the
    // interner does not take (more than 64 of them: past the per-document
    // cache), each given twice.
    agree(br#"[{"abcdefghXz":1,"abcdefghYz":2},{"abcdefghYz":3,"abcdefghXz":4}]"#);
    let long: Vec<String> = (0..70).map(|i| format!("{}{i:03}", "k".repeat(200))).collect();
    let members: Vec<String> = long.iter().chain(&long).enumerate().map(|(n, k)| format!("\"{k}\":{n}")).collect();
    agree(format!("{{{}}}", members.join(",")).as_bytes());
    let objects: Vec<String> = long.iter().map(|k| format!("{{\"{k}\":[{{\"{k}\":true}}]}}")).collect();
    agree(format!("[{}]", objects.join(",")).as_bytes());
    // Objects past the members a repeated-key check scans (it keeps a map
    // then): keys repeated early, late and many times, interned and not.
    for n in [31, 32, 33, 100, 3000] {
        let keys: Vec<String> = (0..n).map(|i| format!("m{i}")).collect();
        let mut members: Vec<String> = keys.iter().enumerate().map(|(i, k)| format!("\"{k}\":{i}")).collect();
        members.extend(["\"m0\":\"again\"".to_string(), format!("\"m{}\":null", n - 1), "\"m0\":[0]".to_string()]);
        members.push(format!("\"{}\":1,\"{}\":2", "x".repeat(200), "x".repeat(200)));
        agree(format!("{{{}}}", members.join(",")).as_bytes());
    }
    let fanout = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../benches/machines/iot-fanout.input.json"))
        .expect("the reference record");
    agree(&fanout);
}

#[test]
fn nesting_is_refused_past_the_depth_limit_as_before() {
    for depth in [MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1, MAX_DEPTH * 4] {
        for (open, close) in [("[", "]"), ("{\"a\":", "}")] {
            let text = format!("{}1{}", open.repeat(depth), close.repeat(depth));
            agree(text.as_bytes());
            let accepted = value::from_slice(text.as_bytes()).is_ok();
            assert_eq!(accepted, depth <= MAX_DEPTH, "{depth} levels of {open}");
        }
    }
}

#[test]
fn a_key_met_in_many_documents_is_the_same_interned_key() {
    let a = value::from_str(r#"{"deviceReading":1}"#).unwrap();
    let b = value::from_str(r#"[{"deviceReading":2}]"#).unwrap();
    let ka = a.as_object().unwrap().keys().next().unwrap().clone();
    let kb = b.as_array().unwrap()[0].as_object().unwrap().keys().next().unwrap().clone();
    assert!(ka.is_interned() && kb.is_interned());
    assert_eq!(ka.as_str().as_ptr(), kb.as_str().as_ptr(), "one copy of the text");
}

/// JSON values, written with random whitespace between tokens.
fn json_text() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_string()),
        any::<bool>().prop_map(|b| b.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| format!("{f:e}")),
        // Within what both accept (integers up to 18 digits, exponents up to
        // 99); integers at and past the 64-bit limits are hand-picked above.
        "-?(0|[1-9][0-9]{0,17})(\\.[0-9]{1,20})?([eE][+-]?[0-9]{1,2})?",
        // Plain text, the short escapes, and `\u` escapes of characters
        // (surrogates only in pairs): texts simd-json accepts.
        "\"([a-zA-Z0-9 é☃/]|\\\\[\"\\\\/bfnrt]|\\\\u00[0-9a-fA-F]{2}|\\\\u[1-9a-cA-C][0-9a-fA-F]{3}|\\\\uD83D\\\\uDE00){0,24}\"",
    ];
    leaf.prop_recursive(6, 64, 8, |inner| {
        let ws = "[ \t\r\n]{0,2}";
        prop_oneof![
            (prop::collection::vec((inner.clone(), ws), 0..8), ws).prop_map(|(items, w)| {
                let parts: Vec<String> = items.into_iter().map(|(v, w)| format!("{w}{v}{w}")).collect();
                format!("[{w}{}]", parts.join(","))
            }),
            // Keys: short ones that repeat (duplicates), escaped ones, and
            // long ones that share their first eight bytes (one slot of the
            // parser's recent-keys table).
            (prop::collection::vec(("[a-e]{0,3}|\"|\\\\u0061|readingValue[XY]z|[a-c]{130}", inner, ws), 0..8))
                .prop_map(|members| {
                    let parts: Vec<String> = members
                        .into_iter()
                        .map(|(k, v, w)| {
                            let k = if k == "\"" { "\\\"".to_string() } else { k };
                            format!("{w}\"{k}\"{w}:{w}{v}{w}")
                        })
                        .collect();
                    format!("{{{}}}", parts.join(","))
                }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn generated_texts_parse_as_simd_json_parsed_them(text in json_text()) {
        // Every generated text is JSON simd-json accepts: otherwise this
        // would compare two refusals.
        prop_assert!(oracle(text.as_bytes()).is_ok(), "simd-json refuses {text:?}");
        agree(text.as_bytes());
    }

    /// Near-JSON: a valid text with one byte changed, cut short or doubled.
    #[test]
    fn damaged_texts_are_refused_or_read_as_simd_json_read_them(
        text in json_text(),
        at in any::<prop::sample::Index>(),
        byte in prop_oneof![Just(b'"'), Just(b'\\'), Just(b','), Just(b']'), Just(b'}'), Just(b'-'), Just(b'.'), Just(0x01u8), Just(0xc3u8), any::<u8>()],
        how in 0..3u8,
    ) {
        let mut bytes = text.into_bytes();
        let i = at.index(bytes.len().max(1)).min(bytes.len());
        match how {
            0 if i < bytes.len() => bytes[i] = byte,
            1 => bytes.truncate(i),
            _ => bytes.insert(i, byte),
        }
        agree(&bytes);
    }
}
