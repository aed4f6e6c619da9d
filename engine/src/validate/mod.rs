//! ASL JSON → typed model, collecting *every* problem as a [`Diagnostic`]
//! with a stable code and the JSON Pointer of the offending field.
//!
//! This module walks machines and states; each submodule checks one part
//! (a state type, Retry/Catch, data flow, the field tables) as methods on
//! the one `Validator`, which collects the diagnostics.

use crate::asl::{DataFlow, QueryLanguage, State, StateKind, StateMachine, Transition};
use crate::value::Value as RtValue;
use fields::allowed_fields;
use serde_json::{Map, Value};
use std::collections::HashSet;

mod assign;
pub(crate) mod choice;
mod dataflow;
mod diagnostic;
mod fail;
mod fields;
mod graph;
mod jsonata_fields;
mod map;
mod retry_catch;
mod task;
mod wait;

pub use choice::op_by_name;
pub use diagnostic::{Code, Diagnostic};

/// A character AWS refuses in a name (state machine, alias, execution, Map
/// `Label`): whitespace, brackets, wildcards, the special characters
/// ``" # % \ ^ | ~ ` $ & , ; : /`` and control characters (U+0000–001F,
/// U+007F–009F).
pub fn refused_in_name(c: char) -> bool {
    c.is_whitespace()
        || c.is_control()
        || matches!(c, '<' | '>' | '{' | '}' | '[' | ']' | '?' | '*')
        || matches!(c, '"' | '#' | '%' | '\\' | '^' | '|' | '~' | '`' | '$' | '&' | ',' | ';' | ':' | '/')
}

/// Which workflow type the definition is created as; Express forbids the
/// `.sync` and `.waitForTaskToken` integration patterns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum WorkflowType {
    #[default]
    Express,
    Standard,
}

/// Validates a definition into the typed model, or returns every problem found.
pub fn validate(definition: &Value, workflow: WorkflowType) -> Result<StateMachine, Vec<Diagnostic>> {
    let mut v = Validator {
        diags: Vec::new(),
        workflow,
        all_names: HashSet::new(),
        uses_context: false,
        regexes: 0,
        jsonata_nodes: 0,
        jsonpath_bytes: 0,
    };
    let mut machine = v.machine(definition, "", QueryLanguage::JsonPath, true);
    if let Some(m) = &mut machine {
        m.uses_context = v.uses_context;
        m.jsonata_nodes = v.jsonata_nodes;
        m.jsonpath_bytes = v.jsonpath_bytes;
        m.jsonata_regexes = v.regexes;
    }
    if v.diags.is_empty()
        && let Some(m) = machine
    {
        return Ok(m);
    }
    if v.diags.is_empty() {
        v.diags.push(Diagnostic {
            code: Code::BadValue,
            pointer: String::new(),
            message: "invalid state machine".into(),
        });
    }
    Err(v.diags)
}

/// JSON Pointer escaping (RFC 6901).
fn ptr(base: &str, key: &str) -> String {
    let mut s = String::with_capacity(base.len() + key.len() + 1);
    s.push_str(base);
    s.push('/');
    for c in key.chars() {
        match c {
            '~' => s.push_str("~0"),
            '/' => s.push_str("~1"),
            c => s.push(c),
        }
    }
    s
}

struct Validator {
    diags: Vec<Diagnostic>,
    workflow: WorkflowType,
    /// State names must be unique across the whole machine, nested ones included.
    all_names: HashSet<String>,
    /// Some path or expression reads the execution's part of `$$` (more than `$$.Map.Item…`).
    uses_context: bool,
    /// Regular expressions the JSONata expressions compiled so far.
    regexes: usize,
    /// Nodes of the JSONata expressions' trees so far.
    jsonata_nodes: usize,
    /// What the JSONPaths (intrinsics' included) parsed so far hold ([`JsonPath::heap_bytes`]).
    jsonpath_bytes: usize,
}

impl Validator {
    fn err(&mut self, code: Code, pointer: impl Into<String>, message: impl Into<String>) {
        self.diags.push(Diagnostic { code, pointer: pointer.into(), message: message.into() });
    }

    /// A state machine: the top-level one (`top`), a Parallel branch or a Map processor.
    fn machine(&mut self, v: &Value, at: &str, inherited: QueryLanguage, top: bool) -> Option<StateMachine> {
        let Some(obj) = v.as_object() else {
            self.err(Code::NotAnObject, at, "a state machine must be a JSON object");
            return None;
        };
        let mut allowed = vec!["StartAt", "States", "Comment", "QueryLanguage"];
        if top {
            allowed.extend(["TimeoutSeconds", "Version"]);
        } else {
            allowed.push("ProcessorConfig");
        }
        for k in obj.keys() {
            if !allowed.contains(&k.as_str()) {
                self.err(Code::UnknownField, ptr(at, k), format!("field '{k}' is not allowed here"));
            }
        }
        let query_language = self.query_language(obj, at, inherited);
        let timeout_seconds = match obj.get("TimeoutSeconds") {
            Some(t) => self.positive_int(t, &ptr(at, "TimeoutSeconds"), "TimeoutSeconds", 0),
            None => None,
        };
        let start_at = self.string_field(obj, at, "StartAt", true);
        let Some(states_v) = obj.get("States") else {
            self.err(Code::MissingField, at, "missing required field 'States'");
            return None;
        };
        let states_at = ptr(at, "States");
        let Some(states_obj) = states_v.as_object() else {
            self.err(Code::WrongType, &states_at, "'States' must be an object");
            return None;
        };
        if states_obj.is_empty() {
            self.err(Code::BadValue, &states_at, "'States' must name at least one state");
        }
        let mut states = Vec::with_capacity(states_obj.len());
        for (name, sv) in states_obj {
            let sp = ptr(&states_at, name);
            if name.is_empty() || name.chars().count() > 80 {
                self.err(Code::BadValue, &sp, "a state name must be 1 to 80 characters long");
            }
            if !self.all_names.insert(name.clone()) {
                self.err(
                    Code::DuplicateState,
                    &sp,
                    format!("state name '{name}' is used more than once in the state machine"),
                );
            }
            if let Some(s) = self.state(name, sv, &sp, query_language) {
                states.push(s);
            }
        }
        let machine = StateMachine {
            start_at: start_at.clone().unwrap_or_default(),
            states,
            timeout_seconds,
            query_language,
            uses_context: false,
            jsonata_nodes: 0,
            jsonpath_bytes: 0,
            jsonata_regexes: 0,
        };
        if let Some(start) = &start_at
            && !states_obj.contains_key(start)
        {
            self.err(
                Code::MissingState,
                ptr(at, "StartAt"),
                format!("StartAt names state '{start}', which does not exist"),
            );
        }
        let terminal = machine.states.iter().any(|s| {
            matches!(s.transition, Transition::End) || matches!(s.kind, StateKind::Succeed | StateKind::Fail { .. })
        });
        if !terminal && !machine.states.is_empty() {
            self.err(
                Code::NoTerminalState,
                &states_at,
                "the state machine has no terminal state (End, Succeed or Fail)",
            );
        }
        self.check_graph(&machine, states_obj, &states_at);
        Some(machine)
    }

    /// The `QueryLanguage` field, or the `inherited` one; JSONPath cannot nest in JSONata.
    fn query_language(&mut self, obj: &Map<String, Value>, at: &str, inherited: QueryLanguage) -> QueryLanguage {
        match obj.get("QueryLanguage") {
            None => inherited,
            Some(Value::String(s)) if s == "JSONPath" => {
                if inherited == QueryLanguage::JsonAta {
                    self.err(
                        Code::BadValue,
                        ptr(at, "QueryLanguage"),
                        "a JSONPath state cannot sit inside a JSONata machine",
                    );
                }
                QueryLanguage::JsonPath
            }
            Some(Value::String(s)) if s == "JSONata" => QueryLanguage::JsonAta,
            Some(other) => {
                self.err(
                    Code::BadValue,
                    ptr(at, "QueryLanguage"),
                    format!("QueryLanguage must be 'JSONPath' or 'JSONata', not {other}"),
                );
                inherited
            }
        }
    }

    /// A string field; reports it as missing only when `required`.
    fn string_field(&mut self, obj: &Map<String, Value>, at: &str, key: &str, required: bool) -> Option<String> {
        match obj.get(key) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                self.err(Code::WrongType, ptr(at, key), format!("'{key}' must be a string"));
                None
            }
            None => {
                if required {
                    self.err(Code::MissingField, at, format!("missing required field '{key}'"));
                }
                None
            }
        }
    }

    /// An integer from `min` to 99999999.
    fn positive_int(&mut self, v: &Value, at: &str, name: &str, min: u64) -> Option<u64> {
        self.int_in(v, at, name, min, 99_999_999)
    }

    /// An integer from `min` to `max`.
    fn int_in(&mut self, v: &Value, at: &str, name: &str, min: u64, max: u64) -> Option<u64> {
        match v.as_u64() {
            Some(n) if n >= min && n <= max => Some(n),
            Some(_) => {
                self.err(Code::OutOfRange, at, format!("'{name}' must be an integer from {min} to {max}"));
                None
            }
            None => {
                self.err(Code::WrongType, at, format!("'{name}' must be a non-negative integer"));
                None
            }
        }
    }

    /// One state: its fields, transition, data flow, Retry/Catch and type-specific body.
    fn state(&mut self, name: &str, v: &Value, at: &str, inherited: QueryLanguage) -> Option<State> {
        let Some(obj) = v.as_object() else {
            self.err(Code::NotAnObject, at, "a state must be a JSON object");
            return None;
        };
        let ty = match obj.get("Type") {
            Some(Value::String(t)) => t.as_str(),
            Some(_) => {
                self.err(Code::WrongType, ptr(at, "Type"), "'Type' must be a string");
                return None;
            }
            None => {
                self.err(Code::MissingField, at, "missing required field 'Type'");
                return None;
            }
        };
        let Some(allowed) = allowed_fields(ty) else {
            self.err(Code::UnknownStateType, ptr(at, "Type"), format!("unknown state type '{ty}'"));
            return None;
        };
        let jsonata = self.query_language(obj, at, inherited) == QueryLanguage::JsonAta;
        self.check_state_fields(obj, at, ty, &allowed, jsonata);
        let transition = self.transition(obj, at, ty);

        let io = if jsonata {
            DataFlow {
                parameters: obj.get("Arguments").map(|a| self.jtemplate(a, &ptr(at, "Arguments"), "Arguments")),
                ..DataFlow::default()
            }
        } else {
            self.data_flow(obj, at, ty)
        };
        let retry = match obj.get("Retry") {
            Some(r) => self.retriers(r, &ptr(at, "Retry")),
            None => Vec::new(),
        };
        let catch = match obj.get("Catch") {
            Some(c) => self.catchers(c, &ptr(at, "Catch"), jsonata),
            None => Vec::new(),
        };

        let kind = match ty {
            "Pass" => StateKind::Pass { result: obj.get("Result").filter(|_| !jsonata).map(RtValue::from) },
            "Task" => StateKind::Task(self.task(obj, at, jsonata)),
            "Choice" => self.choice(obj, at, jsonata),
            "Wait" => StateKind::Wait(self.wait(obj, at, jsonata)?),
            "Succeed" => StateKind::Succeed,
            "Fail" => StateKind::Fail {
                error: self.fail_field(obj, at, "Error", "ErrorPath", jsonata),
                cause: self.fail_field(obj, at, "Cause", "CausePath", jsonata),
            },
            "Parallel" => {
                let bp = ptr(at, "Branches");
                let mut branches = Vec::new();
                match obj.get("Branches") {
                    Some(Value::Array(bs)) if !bs.is_empty() => {
                        for (i, b) in bs.iter().enumerate() {
                            if let Some(m) = self.machine(b, &format!("{bp}/{i}"), inherited, false) {
                                branches.push(m);
                            }
                        }
                    }
                    Some(_) => self.err(Code::WrongType, bp, "'Branches' must be a non-empty array of state machines"),
                    None => self.err(Code::MissingField, at, "missing required field 'Branches'"),
                }
                StateKind::Parallel { branches }
            }
            "Map" => StateKind::Map(Box::new(self.map(obj, at, inherited, jsonata)?)),
            _ => return None,
        };
        let assign = obj.get("Assign").and_then(|a| self.assign(a, &ptr(at, "Assign"), jsonata));
        let output = obj.get("Output").filter(|_| jsonata).map(|o| self.jtemplate(o, &ptr(at, "Output"), "Output"));
        Some(State {
            name: name.to_string(),
            pointer: at.to_string(),
            kind,
            io,
            transition,
            retry,
            catch,
            assign,
            output,
        })
    }

    /// Where a state goes next: `Next` or `End`; Choice, Succeed and Fail take neither.
    fn transition(&mut self, obj: &Map<String, Value>, at: &str, ty: &str) -> Transition {
        match ty {
            "Choice" | "Succeed" | "Fail" => Transition::None,
            _ => {
                let next = self.string_field(obj, at, "Next", false);
                let end = match obj.get("End") {
                    None => false,
                    Some(Value::Bool(b)) => *b,
                    Some(_) => {
                        self.err(Code::WrongType, ptr(at, "End"), "'End' must be a boolean");
                        false
                    }
                };
                match (next, end) {
                    (Some(_), true) => {
                        self.err(Code::EndAndNext, at, "a state cannot have both 'Next' and 'End': true");
                        Transition::End
                    }
                    (Some(n), false) => Transition::Next(n),
                    (None, true) => Transition::End,
                    (None, false) => {
                        self.err(Code::NoTransition, at, "a state needs either 'Next' or 'End': true");
                        Transition::End
                    }
                }
            }
        }
    }
}
