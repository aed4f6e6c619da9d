//! Real-world state machines (`tests/realworld/definitions.jsonl`, and the
//! shared `../shared/realworld/definitions.jsonl` where it exists): AWS
//! deployed every one of them, so the validator must accept each as a
//! STANDARD machine, and as an EXPRESS machine refuse exactly the Task
//! resources Express does not support (`.sync`, `.waitForTaskToken`) and
//! nothing else.

use expressway_engine::WorkflowType;
use expressway_engine::validate::{Code, Diagnostic};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

struct Entry {
    id: String,
    definition: Value,
}

fn load(path: &Path) -> Vec<Entry> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(n, line)| {
            let record: Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{}:{}: {e}", path.display(), n + 1));
            let id = record["id"].as_str().unwrap_or_else(|| panic!("{}:{}: no id", path.display(), n + 1));
            Entry { id: id.to_string(), definition: record["definition"].clone() }
        })
        .collect()
}

/// A Task resource that AWS refuses in an Express machine.
fn express_refuses(resource: &str) -> bool {
    resource.ends_with(".sync") || resource.contains(".sync:") || resource.ends_with(".waitForTaskToken")
}

/// An activity: AWS refuses these in Express machines too, so the validator may.
fn is_activity(resource: &str) -> bool {
    resource.starts_with("arn:aws") && resource.contains(":activity:")
}

/// JSON Pointers of the `Resource` of every Task state, with the resource.
fn task_resources(v: &Value, at: &str, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(o) => {
            if o.get("Type").and_then(Value::as_str) == Some("Task")
                && let Some(Value::String(r)) = o.get("Resource")
            {
                out.push((format!("{at}/Resource"), r.clone()));
            }
            for (k, x) in o {
                task_resources(x, &format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")), out);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                task_resources(x, &format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

fn diagnostics(def: &Value, workflow: WorkflowType) -> Vec<Diagnostic> {
    match expressway_engine::compile(def, workflow) {
        Ok(_) => Vec::new(),
        Err(d) => d,
    }
}

fn show(diags: &[Diagnostic]) -> String {
    diags.iter().map(|d| format!("    {}", d.to_string().replace('\n', " "))).collect::<Vec<_>>().join("\n")
}

/// Every problem with one entry, or none.
fn check(entry: &Entry) -> Vec<String> {
    let mut problems = Vec::new();
    let standard = diagnostics(&entry.definition, WorkflowType::Standard);
    if !standard.is_empty() {
        problems.push(format!("{} (STANDARD) rejected:\n{}", entry.id, show(&standard)));
    }
    let mut resources = Vec::new();
    task_resources(&entry.definition, "", &mut resources);
    let must_refuse: BTreeSet<&str> =
        resources.iter().filter(|(_, r)| express_refuses(r)).map(|(p, _)| p.as_str()).collect();
    let may_refuse: BTreeSet<&str> =
        resources.iter().filter(|(_, r)| is_activity(r)).map(|(p, _)| p.as_str()).collect();
    let express = diagnostics(&entry.definition, WorkflowType::Express);
    let wrong: Vec<Diagnostic> = express
        .iter()
        .filter(|d| {
            !(d.code == Code::Unsupported
                && (must_refuse.contains(d.pointer.as_str()) || may_refuse.contains(d.pointer.as_str())))
        })
        .cloned()
        .collect();
    if !wrong.is_empty() {
        problems.push(format!("{} (EXPRESS) rejected beyond Express's limits:\n{}", entry.id, show(&wrong)));
    }
    let refused: BTreeSet<&str> =
        express.iter().filter(|d| d.code == Code::Unsupported).map(|d| d.pointer.as_str()).collect();
    let missed: Vec<&&str> = must_refuse.iter().filter(|p| !refused.contains(**p)).collect();
    if !missed.is_empty() {
        problems.push(format!("{} (EXPRESS) accepted .sync/.waitForTaskToken resources at {missed:?}", entry.id));
    }
    problems
}

fn check_file(path: &Path) -> (usize, usize) {
    let entries = load(path);
    assert!(!entries.is_empty(), "{} holds no definitions", path.display());
    let ids: BTreeSet<&str> = entries.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids.len(), entries.len(), "{}: ids must be unique", path.display());
    let problems: Vec<String> = entries.iter().flat_map(check).collect();
    assert!(
        problems.is_empty(),
        "{}: {} false rejection(s) of deployed state machines:\n{}",
        path.display(),
        problems.len(),
        problems.join("\n")
    );
    let express_limited = entries
        .iter()
        .filter(|e| {
            let mut r = Vec::new();
            task_resources(&e.definition, "", &mut r);
            r.iter().any(|(_, r)| express_refuses(r))
        })
        .count();
    (entries.len(), express_limited)
}

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Definitions the corpus holds at least; raise it as entries are added.
const FLOOR: usize = 186;

#[test]
fn realworld_corpus_is_accepted() {
    let path = manifest_dir().join("tests/realworld/definitions.jsonl");
    let (n, limited) = check_file(&path);
    assert!(n >= FLOOR, "the corpus should hold at least {FLOOR} definitions, holds {n}");
    println!("realworld: {n} definitions accepted ({limited} refused as EXPRESS for .sync/.waitForTaskToken only)");
}

#[test]
fn shared_realworld_definitions_are_accepted() {
    let path = manifest_dir().join("../../shared/realworld/definitions.jsonl");
    if !path.exists() {
        println!("SKIPPED: {} does not exist; shared real-world definitions not checked", path.display());
        return;
    }
    let (n, limited) = check_file(&path);
    println!(
        "shared realworld: {n} definitions accepted ({limited} refused as EXPRESS for .sync/.waitForTaskToken only)"
    );
}
