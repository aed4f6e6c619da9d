//! Intrinsic function calls (`States.Format(...)` and the rest) parsed and
//! evaluated against a fixed input. Invariant: evaluation is deterministic
//! for a fixed seed.
#![no_main]

use expressway_engine::intrinsics::{self, Call};
use expressway_fuzz::{FixedEnv, MAX_SOURCE_LEN, document};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() > MAX_SOURCE_LEN {
        return;
    }
    let Ok(source) = std::str::from_utf8(data) else { return };
    let Ok(call) = Call::parse(source) else { return };
    let _ = call.paths();
    let first = intrinsics::eval(&call, &mut FixedEnv { input: document(), state: 7 });
    let second = intrinsics::eval(&call, &mut FixedEnv { input: document(), state: 7 });
    assert_eq!(first, second, "the same call with the same seed gives another result");
});
