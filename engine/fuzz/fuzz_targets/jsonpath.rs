//! JSONPath parsing and selection on arbitrary path text against a fixed
//! document. Invariants: the parsed path prints as its source (less the
//! spaces around it, which Jayway trims), and that source parses to the
//! same path; a definite path selects what the
//! borrowing form selects.
#![no_main]

use expressway_engine::jsonpath::JsonPath;
use expressway_fuzz::{MAX_SOURCE_LEN, document};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static DOC: LazyLock<expressway_engine::Value> = LazyLock::new(document);

fuzz_target!(|data: &[u8]| {
    if data.len() > MAX_SOURCE_LEN {
        return;
    }
    let Ok(source) = std::str::from_utf8(data) else { return };
    let Ok(path) = JsonPath::parse(source) else { return };
    let printed = path.to_string();
    assert_eq!(printed, source.trim_matches(' '), "a path prints as its source");
    assert_eq!(JsonPath::parse(&printed).ok().as_ref(), Some(&path), "print → parse changes the path");
    let selected = path.select(&DOC);
    if path.is_definite() {
        let borrowed = path.select_definite(&DOC).map(|v| v.into_owned());
        assert_eq!(borrowed, selected, "select and select_definite disagree");
    }
    let _ = path.reference_steps();
});
