//! The pipeline configuration loader on arbitrary YAML text, with no
//! environment variables and no files read. Invariant: a config that loads
//! passes its cross-field checks without panicking.
#![no_main]

use expressway_config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() > expressway_fuzz::MAX_SOURCE_LEN {
        return;
    }
    let Ok(text) = std::str::from_utf8(data) else { return };
    let no_env = |_: &str| None;
    let overrides = [("EXPRESSWAY__RUNTIME__SHARDS".to_string(), "2".to_string())];
    if let Ok(config) = Config::from_yaml_with_overrides(text, &no_env, &overrides) {
        let _ = config.problems();
    }
    if let Ok(config) = Config::from_yaml(text, &no_env) {
        let _ = config.problems();
    }
});
