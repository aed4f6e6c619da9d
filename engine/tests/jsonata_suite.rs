//! The official JSONata test suite (`../shared/jsonata-suite/`, jsonata-js
//! commit 6c7e95fd) against the evaluator we ship. It prints the pass rate
//! per group and fails below `FLOOR`, so the rate never drops. Where the
//! shared folder is absent (outside CI), it says so and checks nothing.

use expressway_engine::jsonata::{Environment, Expression, Limits};
use expressway_engine::value::{self, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Cases that must pass (of 1,686); raise it when the evaluator improves.
const FLOOR: usize = 1673;

fn suite_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/jsonata-suite")
}

struct Case {
    group: String,
    name: String,
    spec: serde_json::Value,
}

fn load_cases(dir: &Path) -> Vec<Case> {
    let mut cases = Vec::new();
    let mut groups: Vec<_> = std::fs::read_dir(dir.join("groups")).expect("groups dir").flatten().collect();
    groups.sort_by_key(|e| e.file_name());
    for g in groups {
        let group = g.file_name().to_string_lossy().into_owned();
        let mut files: Vec<_> = std::fs::read_dir(g.path()).expect("group dir").flatten().collect();
        files.sort_by_key(|e| e.file_name());
        for f in files {
            let name = f.file_name().to_string_lossy().into_owned();
            if !name.ends_with(".json") {
                continue;
            }
            let text = std::fs::read_to_string(f.path()).expect("case file");
            // A few cases hold lone UTF-16 surrogates, which Rust strings
            // cannot: they count as failures.
            let spec =
                serde_json::from_str(&text).unwrap_or_else(|e| serde_json::json!({ "unreadable": e.to_string() }));
            match spec {
                serde_json::Value::Array(items) => {
                    for (i, spec) in items.into_iter().enumerate() {
                        cases.push(Case { group: group.clone(), name: format!("{name}[{i}]"), spec });
                    }
                }
                spec => cases.push(Case { group: group.clone(), name, spec }),
            }
        }
    }
    cases
}

fn same(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value as J;
    match (a, b) {
        // serde_json's float reading may be 1 ulp off the recorded text.
        (J::Number(x), J::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap_or(f64::NAN), y.as_f64().unwrap_or(f64::NAN));
            x == y || (x - y).abs() <= 1e-15 * x.abs().max(y.abs())
        }
        (J::Array(x), J::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q)),
        (J::Object(x), J::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

/// `Ok(())` when the case passes, else what went wrong.
fn run_case(dir: &Path, case: &Case, datasets: &mut BTreeMap<String, Option<Value>>) -> Result<(), String> {
    let spec = &case.spec;
    if let Some(why) = spec.get("unreadable") {
        return Err(format!("case file unreadable: {why}"));
    }
    let expr = match (spec.get("expr"), spec.get("expr-file")) {
        (Some(serde_json::Value::String(e)), _) => e.clone(),
        (_, Some(serde_json::Value::String(f))) => {
            std::fs::read_to_string(dir.join("groups").join(&case.group).join(f)).map_err(|e| e.to_string())?
        }
        _ => return Err("case has no expression".into()),
    };
    let input: Option<Value> = match (spec.get("data"), spec.get("dataset")) {
        (Some(d), _) => Some(Value::from(d)),
        (None, Some(serde_json::Value::String(name))) => datasets
            .entry(name.clone())
            .or_insert_with(|| {
                let text = std::fs::read(dir.join("datasets").join(format!("{name}.json"))).ok()?;
                value::from_slice(&text).ok()
            })
            .clone(),
        _ => None,
    };
    let bindings: Vec<(String, Value)> = spec
        .get("bindings")
        .and_then(|b| b.as_object())
        .map(|m| m.iter().map(|(k, v)| (k.clone(), Value::from(v))).collect())
        .unwrap_or_default();
    let binding_refs: Vec<(&str, &Value)> = bindings.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let mut limits = Limits::default();
    if let Some(depth) = spec.get("depth").and_then(|d| d.as_u64()) {
        limits.max_depth = depth as usize;
    }
    let env = Environment { bindings: &binding_refs, now_millis: 1_700_000_000_000, ..Environment::default() };
    let env = Environment { limits, ..env };
    let outcome = Expression::parse(&expr).and_then(|e| e.evaluate(input.as_ref(), env));
    let code = spec.get("code").or_else(|| spec.get("error").and_then(|e| e.get("code")));
    if let Some(code) = code.and_then(|c| c.as_str()) {
        return match outcome {
            Err(e) if e.code == code => Ok(()),
            Err(e) => Err(format!("expected error {code}, got {e}")),
            Ok(v) => Err(format!("expected error {code}, got {:?}", v.map(|v| v.to_json()))),
        };
    }
    let got = outcome.map_err(|e| format!("error {e}"))?;
    if spec.get("undefinedResult").and_then(|u| u.as_bool()) == Some(true) {
        return match got {
            None => Ok(()),
            Some(v) => Err(format!("expected undefined, got {}", v.to_json())),
        };
    }
    let expected = spec.get("result").ok_or("case has no expected result")?;
    match got {
        Some(v) if same(&serde_json::Value::from(&v), expected) => Ok(()),
        Some(v) => Err(format!("expected {expected}, got {}", v.to_json())),
        None => Err(format!("expected {expected}, got undefined")),
    }
}

#[test]
fn jsonata_suite() {
    let dir = suite_dir();
    if !dir.join("groups").is_dir() {
        println!("SKIPPED: {} not found (it is present in CI)", dir.display());
        return;
    }
    // Deeply recursive expressions need a deeper stack than test threads get.
    let handle = std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(move || {
            let cases = load_cases(&dir);
            let mut datasets = BTreeMap::new();
            let mut per_group: BTreeMap<String, (usize, usize)> = BTreeMap::new();
            let mut failures = Vec::new();
            for case in &cases {
                let entry = per_group.entry(case.group.clone()).or_default();
                entry.1 += 1;
                match run_case(&dir, case, &mut datasets) {
                    Ok(()) => entry.0 += 1,
                    Err(why) => failures.push(format!("{}/{}: {why}", case.group, case.name)),
                }
            }
            (cases.len(), per_group, failures)
        })
        .expect("spawn suite thread");
    let (total, per_group, failures) = handle.join().expect("suite thread panicked");
    let passed: usize = per_group.values().map(|p| p.0).sum();
    println!("JSONata suite: {passed}/{total} cases pass ({:.1}%)", 100.0 * passed as f64 / total as f64);
    for (group, (p, n)) in &per_group {
        println!("  {group:<28} {p:>4}/{n:<4}");
    }
    if std::env::var_os("JSONATA_SUITE_FAILURES").is_some() {
        for f in &failures {
            println!("FAIL {f}");
        }
    }
    assert!(passed >= FLOOR, "JSONata suite: {passed} cases pass, below the floor of {FLOOR}");
}
