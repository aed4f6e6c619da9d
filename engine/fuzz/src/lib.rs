//! What the fuzz targets share: the fixed documents they evaluate against
//! and the limits they run under.

use expressway_engine::Value;
use expressway_engine::intrinsics::{self, IntrinsicEnv};
use expressway_engine::jsonpath::JsonPath;

/// A nested document with every JSON type, arrays of objects (for filters
/// and wildcards), keys that need quoting, and numbers at the edges.
pub const DOCUMENT: &str = r#"{
  "a": {"b": {"c": [1, 2, 3]}, "s": "text", "n": null, "t": true},
  "items": [
    {"id": 1, "name": "one", "price": 9.5, "tags": ["x", "y"]},
    {"id": 2, "name": "two", "price": 0, "tags": []},
    {"id": 3, "name": "three", "price": -1e3, "nested": {"deep": [[1], [2, [3]]]}}
  ],
  "weird key": {"dot.ted": 1, "quo'te": 2, "": 3},
  "big": 18446744073709551615, "neg": -9223372036854775808, "frac": 0.1,
  "str": "a,b,,c", "uni": "é☃𝄞", "csv": "1,2,3", "b64": "aGVsbG8=",
  "arr": [0, 1.5, "2", null, false, {"k": "v"}]
}"#;

pub fn document() -> Value {
    expressway_engine::value::from_str(DOCUMENT).expect("the fixed document is JSON")
}

/// Inputs larger than this are not tried: the output size caps are the
/// resource-limit work's to add, and a large input only slows the search.
pub const MAX_SOURCE_LEN: usize = 4096;

/// A depth of 400 nested steps, below the VM's 10,000 (engine/src/vm/query.rs
/// `LIMITS`; deeper evaluation runs on heap-grown stack segments, covered by
/// `engine/tests/jsonata_states.rs`), and a tenth of its step budget:
/// spending all 2 M steps takes ~5 s of CPU under
/// AddressSanitizer, so budget-bound inputs (`$inf := function(){$inf()}`)
/// would be reported as time-outs; with this budget a time-out means work
/// the step count does not bound.
pub const JSONATA_LIMITS: expressway_engine::jsonata::Limits =
    expressway_engine::jsonata::Limits { max_depth: 400, max_steps: 200_000 };

/// Intrinsics read paths from a document and draw randomness from a
/// fixed seed, as the VM's own environment does.
pub struct FixedEnv {
    pub input: Value,
    pub state: u64,
}

impl IntrinsicEnv for FixedEnv {
    fn resolve(&self, path: &JsonPath) -> Result<Value, String> {
        path.select(&self.input).map_err(|miss| miss.rendered)
    }
    fn uuid(&mut self) -> String {
        let (hi, lo) = (self.random(), self.random());
        intrinsics::uuid_v4(hi, lo)
    }
    fn random(&mut self) -> u64 {
        intrinsics::splitmix64(&mut self.state)
    }
}
