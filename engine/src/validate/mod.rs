//! ASL JSON → typed model, collecting *every* problem as a [`Diagnostic`]
//! with a stable code and the JSON Pointer of the offending field.

use crate::asl::*;
use crate::intrinsics::{self, Call};
use crate::jsonpath::{JsonPath, Root};
use crate::value::{Key, Value as RtValue};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};
use std::fmt;

mod jsonata;

/// Stable diagnostic codes. The string form is part of the CLI's JSON output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Code {
    NotAnObject,
    MissingField,
    UnknownField,
    WrongType,
    BadValue,
    OutOfRange,
    UnknownStateType,
    MissingState,
    UnreachableState,
    EndAndNext,
    NoTransition,
    AllNotLast,
    BadJsonPath,
    BadIntrinsic,
    BadChoiceRule,
    ExclusiveFields,
    DuplicateState,
    NoTerminalState,
    DuplicateKey,
    Unsupported,
    BadJsonata,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::NotAnObject => "NOT_AN_OBJECT",
            Code::MissingField => "MISSING_FIELD",
            Code::UnknownField => "UNKNOWN_FIELD",
            Code::WrongType => "WRONG_TYPE",
            Code::BadValue => "BAD_VALUE",
            Code::OutOfRange => "OUT_OF_RANGE",
            Code::UnknownStateType => "UNKNOWN_STATE_TYPE",
            Code::MissingState => "MISSING_STATE",
            Code::UnreachableState => "UNREACHABLE_STATE",
            Code::EndAndNext => "END_AND_NEXT",
            Code::NoTransition => "NO_TRANSITION",
            Code::AllNotLast => "ALL_NOT_LAST",
            Code::BadJsonPath => "BAD_JSONPATH",
            Code::BadIntrinsic => "BAD_INTRINSIC",
            Code::BadChoiceRule => "BAD_CHOICE_RULE",
            Code::ExclusiveFields => "EXCLUSIVE_FIELDS",
            Code::DuplicateState => "DUPLICATE_STATE",
            Code::NoTerminalState => "NO_TERMINAL_STATE",
            Code::DuplicateKey => "DUPLICATE_KEY",
            Code::Unsupported => "UNSUPPORTED",
            Code::BadJsonata => "BAD_JSONATA",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diagnostic {
    pub code: Code,
    pub pointer: String,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "error[{}]: {}\n  --> {}",
            self.code.as_str(),
            self.message,
            if self.pointer.is_empty() { "/" } else { &self.pointer }
        )
    }
}

/// Which workflow type the definition is created as; Express forbids the
/// `.sync` and `.waitForTaskToken` integration patterns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WorkflowType {
    #[default]
    Express,
    Standard,
}

pub fn validate(definition: &Value, workflow: WorkflowType) -> Result<StateMachine, Vec<Diagnostic>> {
    let mut v = Validator { diags: Vec::new(), workflow, all_names: HashSet::new(), uses_context: false };
    let mut machine = v.machine(definition, "", QueryLanguage::JsonPath, true);
    if let Some(m) = &mut machine {
        m.uses_context = v.uses_context;
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

const COMMON: &[&str] = &["Type", "Comment", "QueryLanguage"];
const IO: &[&str] = &["InputPath", "OutputPath"];
const FLOW: &[&str] = &["Next", "End"];
const RESULT: &[&str] = &["Parameters", "ResultSelector", "ResultPath"];
const ERRORS: &[&str] = &["Retry", "Catch"];
const JSONATA_ONLY: &[&str] = &["Arguments", "Output", "Items", "Condition"];
/// Fields a JSONata state may not use: `Arguments`/`Output` replace them.
const JSONPATH_ONLY: &[&str] = &[
    "InputPath",
    "OutputPath",
    "Parameters",
    "ResultSelector",
    "ResultPath",
    "ItemsPath",
    "Result",
    "SecondsPath",
    "TimestampPath",
    "TimeoutSecondsPath",
    "HeartbeatSecondsPath",
    "MaxConcurrencyPath",
    "ToleratedFailurePercentagePath",
    "ToleratedFailureCountPath",
    "ErrorPath",
    "CausePath",
];

/// May a JSONata state of type `ty` carry the JSONata-only field `k`?
fn jsonata_allows(ty: &str, k: &str) -> bool {
    match k {
        "Arguments" => matches!(ty, "Task" | "Parallel"),
        "Output" => ty != "Fail",
        "Items" => ty == "Map",
        _ => false,
    }
}
/// State types that may carry `Assign`.
const ASSIGN_STATES: &[&str] = &["Pass", "Task", "Choice", "Wait", "Parallel", "Map"];
/// Names a workflow variable may not take.
const RESERVED_VARIABLES: &[&str] = &["states"];

fn allowed_fields(ty: &str) -> Option<Vec<&'static str>> {
    let mut v: Vec<&'static str> = COMMON.to_vec();
    let extra: &[&[&str]] = match ty {
        "Pass" => &[IO, FLOW, &["Parameters", "ResultPath", "Result"]],
        "Task" => &[
            IO,
            FLOW,
            RESULT,
            ERRORS,
            &[
                "Resource",
                "TimeoutSeconds",
                "TimeoutSecondsPath",
                "HeartbeatSeconds",
                "HeartbeatSecondsPath",
                "Credentials",
            ],
        ],
        "Choice" => &[IO, &["Choices", "Default"]],
        "Wait" => &[IO, FLOW, &["Seconds", "SecondsPath", "Timestamp", "TimestampPath"]],
        "Succeed" => &[IO],
        "Fail" => &[&["Error", "ErrorPath", "Cause", "CausePath"]],
        "Parallel" => &[IO, FLOW, RESULT, ERRORS, &["Branches"]],
        "Map" => &[
            IO,
            FLOW,
            RESULT,
            ERRORS,
            &[
                "ItemProcessor",
                "Iterator",
                "ItemsPath",
                "ItemSelector",
                "MaxConcurrency",
                "MaxConcurrencyPath",
                "ToleratedFailurePercentage",
                "ToleratedFailurePercentagePath",
                "ToleratedFailureCount",
                "ToleratedFailureCountPath",
                "ItemReader",
                "ItemBatcher",
                "ResultWriter",
                "Label",
            ],
        ],
        _ => return None,
    };
    for group in extra {
        v.extend_from_slice(group);
    }
    Some(v)
}

struct Validator {
    diags: Vec<Diagnostic>,
    workflow: WorkflowType,
    /// State names must be unique across the whole machine, nested ones included.
    all_names: HashSet<String>,
    /// Some path reads the context object `$$`.
    uses_context: bool,
}

impl Validator {
    fn err(&mut self, code: Code, pointer: impl Into<String>, message: impl Into<String>) {
        self.diags.push(Diagnostic { code, pointer: pointer.into(), message: message.into() });
    }

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

    /// Every transition target exists; every state is reachable from StartAt.
    fn check_graph(&mut self, m: &StateMachine, raw: &Map<String, Value>, states_at: &str) {
        let names: HashSet<&str> = raw.keys().map(String::as_str).collect();
        let mut edges: HashMap<&str, Vec<&str>> = HashMap::new();
        for s in &m.states {
            let mut targets: Vec<(&str, String)> = Vec::new();
            if let Transition::Next(n) = &s.transition {
                targets.push((n, ptr(&s.pointer, "Next")));
            }
            for (i, c) in s.catch.iter().enumerate() {
                targets.push((&c.next, format!("{}/Catch/{i}/Next", s.pointer)));
            }
            if let StateKind::Choice { choices, default } = &s.kind {
                for (i, c) in choices.iter().enumerate() {
                    targets.push((&c.next, format!("{}/Choices/{i}/Next", s.pointer)));
                }
                if let Some(d) = default {
                    targets.push((d, ptr(&s.pointer, "Default")));
                }
            }
            for (t, p) in &targets {
                if !names.contains(t) {
                    self.err(Code::MissingState, p.clone(), format!("transition to state '{t}', which does not exist"));
                }
            }
            edges.insert(&s.name, targets.into_iter().map(|(t, _)| t).collect());
        }
        if !names.contains(m.start_at.as_str()) {
            return;
        }
        let mut seen: HashSet<&str> = HashSet::new();
        let mut stack = vec![m.start_at.as_str()];
        while let Some(n) = stack.pop() {
            if seen.insert(n)
                && let Some(ts) = edges.get(n)
            {
                stack.extend(ts.iter().copied());
            }
        }
        for name in raw.keys() {
            if !seen.contains(name.as_str()) && edges.contains_key(name.as_str()) {
                self.err(
                    Code::UnreachableState,
                    ptr(states_at, name),
                    format!("state '{name}' is not reachable from StartAt"),
                );
            }
        }
    }

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

    fn positive_int(&mut self, v: &Value, at: &str, name: &str, min: u64) -> Option<u64> {
        match v.as_u64() {
            Some(n) if n >= min && n <= 99_999_999 => Some(n),
            Some(_) => {
                self.err(Code::OutOfRange, at, format!("'{name}' must be an integer from {min} to 99999999"));
                None
            }
            None => {
                self.err(Code::WrongType, at, format!("'{name}' must be a non-negative integer"));
                None
            }
        }
    }

    fn path(&mut self, v: &Value, at: &str, name: &str) -> Option<JsonPath> {
        let Some(s) = v.as_str() else {
            self.err(Code::WrongType, at, format!("'{name}' must be a JSONPath string"));
            return None;
        };
        match JsonPath::parse(s) {
            Ok(p) => {
                self.uses_context |= p.reads_execution_context();
                Some(p)
            }
            Err(e) => {
                self.err(Code::BadJsonPath, at, format!("'{name}' is not a valid JSONPath: {e}"));
                None
            }
        }
    }

    fn reference_path(&mut self, v: &Value, at: &str, name: &str) -> Option<JsonPath> {
        let p = self.path(v, at, name)?;
        if !p.is_reference() {
            self.err(
                Code::BadJsonPath,
                at,
                format!("'{name}' must be a reference path (fields and indexes only): '{p}'"),
            );
            return None;
        }
        Some(p)
    }

    fn path_field(&mut self, obj: &Map<String, Value>, at: &str, key: &str) -> PathField {
        match obj.get(key) {
            None => PathField::Identity,
            Some(Value::Null) => PathField::Discard,
            Some(v) => match self.path(v, &ptr(at, key), key) {
                Some(p) if p.is_root() && p.root == Root::Input => PathField::Identity,
                Some(p) => PathField::Path(p),
                None => PathField::Identity,
            },
        }
    }

    fn result_path(&mut self, v: Option<&Value>, at: &str) -> ResultPath {
        match v {
            None => ResultPath::Replace,
            Some(Value::Null) => ResultPath::Discard,
            Some(v) => match self.reference_path(v, at, "ResultPath") {
                Some(p) if p.root != Root::Input => {
                    self.err(Code::BadJsonPath, at, "'ResultPath' must start with '$', not a context path");
                    ResultPath::Replace
                }
                Some(p) if p.is_root() => ResultPath::Replace,
                Some(p) => {
                    let steps = p.reference_steps().unwrap_or_default();
                    ResultPath::Into(p, steps)
                }
                None => ResultPath::Replace,
            },
        }
    }

    /// A payload template: keys ending in `.$` hold paths or intrinsic calls.
    pub fn template(&mut self, v: &Value, at: &str) -> Template {
        match v {
            Value::Object(o) => {
                let mut fields = Vec::with_capacity(o.len());
                let mut all_const = true;
                for k in o.keys() {
                    if let Some(stripped) = k.strip_suffix(".$")
                        && o.contains_key(stripped)
                    {
                        self.err(
                            Code::DuplicateKey,
                            ptr(at, k),
                            format!("'{k}' and '{stripped}' name the same field once '.$' is removed"),
                        );
                    }
                }
                for (k, x) in o {
                    let kp = ptr(at, k);
                    let t = if let Some(stripped) = k.strip_suffix(".$") {
                        let t = self.dynamic(x, &kp, k);
                        fields.push((Key::intern(stripped), t));
                        all_const = false;
                        continue;
                    } else {
                        self.template(x, &kp)
                    };
                    all_const &= matches!(t, Template::Const(_));
                    fields.push((Key::intern(k), t));
                }
                if all_const { Template::Const(RtValue::from(v)) } else { Template::Object(fields) }
            }
            Value::Array(a) => {
                let items: Vec<Template> =
                    a.iter().enumerate().map(|(i, x)| self.template(x, &format!("{at}/{i}"))).collect();
                if items.iter().all(|t| matches!(t, Template::Const(_))) {
                    Template::Const(RtValue::from(v))
                } else {
                    Template::Array(items)
                }
            }
            other => Template::Const(RtValue::from(other)),
        }
    }

    fn dynamic(&mut self, v: &Value, at: &str, key: &str) -> Template {
        let Some(s) = v.as_str() else {
            self.err(
                Code::WrongType,
                at,
                format!("the value of '{key}' must be a JSONPath or an intrinsic function call"),
            );
            return Template::Const(RtValue::Null);
        };
        if intrinsics::looks_like_call(s) {
            match Call::parse(s) {
                Ok(c) => {
                    self.uses_context |= c.paths().iter().any(|p| p.reads_execution_context());
                    Template::Call(c)
                }
                Err(e) => {
                    self.err(Code::BadIntrinsic, at, format!("invalid intrinsic function call in '{key}': {e}"));
                    Template::Const(RtValue::Null)
                }
            }
        } else {
            match self.path(v, at, key) {
                Some(p) => Template::Path(p),
                None => Template::Const(RtValue::Null),
            }
        }
    }

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
        for k in obj.keys() {
            if k == "Assign" {
                if !ASSIGN_STATES.contains(&ty) {
                    self.err(Code::UnknownField, ptr(at, k), format!("field 'Assign' is not allowed in a {ty} state"));
                }
            } else if JSONATA_ONLY.contains(&k.as_str()) {
                if !jsonata {
                    self.err(Code::UnknownField, ptr(at, k), format!("field '{k}' is only allowed in JSONata states"));
                } else if !jsonata_allows(ty, k) {
                    self.err(Code::UnknownField, ptr(at, k), format!("field '{k}' is not allowed in a {ty} state"));
                }
            } else if jsonata && JSONPATH_ONLY.contains(&k.as_str()) {
                self.err(
                    Code::UnknownField,
                    ptr(at, k),
                    format!(
                        "field '{k}' is not allowed in a JSONata state (use Arguments, Output or a JSONata expression)"
                    ),
                );
            } else if !allowed.contains(&k.as_str()) {
                self.err(Code::UnknownField, ptr(at, k), format!("field '{k}' is not allowed in a {ty} state"));
            }
        }

        let transition = match ty {
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
        };

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

    /// The JSONPath data-flow fields of a state.
    fn data_flow(&mut self, obj: &Map<String, Value>, at: &str, ty: &str) -> DataFlow {
        DataFlow {
            input_path: self.path_field(obj, at, "InputPath"),
            // A Map's `Parameters` is the legacy name of its ItemSelector.
            parameters: obj
                .get("Parameters")
                .filter(|_| ty != "Map")
                .map(|p| self.object_template(p, &ptr(at, "Parameters"), "Parameters")),
            result_selector: obj
                .get("ResultSelector")
                .map(|p| self.object_template(p, &ptr(at, "ResultSelector"), "ResultSelector")),
            result_path: self.result_path(obj.get("ResultPath"), &ptr(at, "ResultPath")),
            output_path: self.path_field(obj, at, "OutputPath"),
        }
    }

    /// `Assign`: an object whose keys name variables; values are templates
    /// (`"x.$": "$.path"`) evaluated against the state's result.
    fn assign(&mut self, v: &Value, at: &str, jsonata: bool) -> Option<Template> {
        let Some(o) = v.as_object() else {
            self.err(Code::WrongType, at, "'Assign' must be an object");
            return None;
        };
        for k in o.keys() {
            let name = k.strip_suffix(".$").unwrap_or(k);
            let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                self.err(Code::BadValue, ptr(at, k), format!("'{name}' is not a valid variable name"));
            } else if RESERVED_VARIABLES.contains(&name) {
                self.err(Code::BadValue, ptr(at, k), format!("'{name}' is a reserved name and cannot be assigned"));
            }
        }
        Some(if jsonata { self.jtemplate(v, at, "Assign") } else { self.template(v, at) })
    }

    fn object_template(&mut self, v: &Value, at: &str, name: &str) -> Template {
        if !v.is_object() && name == "ResultSelector" {
            self.err(Code::WrongType, at, format!("'{name}' must be an object"));
        }
        self.template(v, at)
    }

    fn task(&mut self, obj: &Map<String, Value>, at: &str, jsonata: bool) -> Task {
        let resource = self.string_field(obj, at, "Resource", true).unwrap_or_default();
        if !resource.is_empty() && !is_uri_or_substitution(&resource) {
            self.err(
                Code::BadValue,
                ptr(at, "Resource"),
                format!("'Resource' must be a URI (an ARN), not '{resource}'"),
            );
        }
        if let Some(problem) = lambda_arn_problem(&resource) {
            self.err(Code::BadValue, ptr(at, "Resource"), problem);
        }
        match obj.get("Credentials") {
            None => {}
            Some(c @ Value::Object(_)) => {
                self.template(c, &ptr(at, "Credentials"));
            }
            Some(_) => self.err(Code::WrongType, ptr(at, "Credentials"), "'Credentials' must be an object"),
        }
        if self.workflow == WorkflowType::Express
            && (resource.ends_with(".sync") || resource.contains(".sync:") || resource.ends_with(".waitForTaskToken"))
        {
            self.err(
                Code::Unsupported,
                ptr(at, "Resource"),
                format!("Express state machines do not support the .sync or .waitForTaskToken integration pattern: '{resource}'"),
            );
        }
        let (timeout, heartbeat) = if jsonata {
            (self.jseconds(obj, at, "TimeoutSeconds"), self.jseconds(obj, at, "HeartbeatSeconds"))
        } else {
            (
                self.seconds_pair(obj, at, "TimeoutSeconds", "TimeoutSecondsPath"),
                self.seconds_pair(obj, at, "HeartbeatSeconds", "HeartbeatSecondsPath"),
            )
        };
        if let (Some(Seconds::Fixed(t)), Some(Seconds::Fixed(h))) = (&timeout, &heartbeat)
            && h >= t
        {
            self.err(
                Code::OutOfRange,
                ptr(at, "HeartbeatSeconds"),
                "'HeartbeatSeconds' must be smaller than 'TimeoutSeconds'",
            );
        }
        Task { resource, timeout, heartbeat }
    }

    fn seconds_pair(&mut self, obj: &Map<String, Value>, at: &str, fixed: &str, path: &str) -> Option<Seconds> {
        match (obj.get(fixed), obj.get(path)) {
            (Some(_), Some(_)) => {
                self.err(Code::ExclusiveFields, at, format!("only one of '{fixed}' and '{path}' may be given"));
                None
            }
            (Some(v), None) => self.positive_int(v, &ptr(at, fixed), fixed, 1).map(Seconds::Fixed),
            (None, Some(v)) => self.reference_path(v, &ptr(at, path), path).map(Seconds::Path),
            (None, None) => None,
        }
    }

    fn fail_field(&mut self, obj: &Map<String, Value>, at: &str, lit: &str, path: &str, jsonata: bool) -> FailField {
        if jsonata {
            return match obj.get(lit) {
                None => FailField::None,
                Some(Value::String(s)) if !jsonata::is_expression(s) => FailField::Literal(s.clone()),
                Some(v @ Value::String(_)) => FailField::Expr(self.jtemplate(v, &ptr(at, lit), lit)),
                Some(_) => {
                    self.err(Code::WrongType, ptr(at, lit), format!("'{lit}' must be a string"));
                    FailField::None
                }
            };
        }
        match (obj.get(lit), obj.get(path)) {
            (Some(_), Some(_)) => {
                self.err(Code::ExclusiveFields, at, format!("only one of '{lit}' and '{path}' may be given"));
                FailField::None
            }
            (Some(Value::String(s)), None) => FailField::Literal(s.clone()),
            (Some(_), None) => {
                self.err(Code::WrongType, ptr(at, lit), format!("'{lit}' must be a string"));
                FailField::None
            }
            (None, Some(v)) => match v.as_str() {
                Some(s) if intrinsics::looks_like_call(s) => match Call::parse(s) {
                    Ok(c) => {
                        self.uses_context |= c.paths().iter().any(|p| p.reads_execution_context());
                        FailField::Call(c)
                    }
                    Err(e) => {
                        self.err(Code::BadIntrinsic, ptr(at, path), format!("invalid intrinsic function call: {e}"));
                        FailField::None
                    }
                },
                _ => self.path(v, &ptr(at, path), path).map(FailField::Path).unwrap_or(FailField::None),
            },
            (None, None) => FailField::None,
        }
    }

    fn wait(&mut self, obj: &Map<String, Value>, at: &str, jsonata: bool) -> Option<WaitFor> {
        let given: Vec<&str> = ["Seconds", "SecondsPath", "Timestamp", "TimestampPath"]
            .into_iter()
            .filter(|k| obj.contains_key(*k))
            .collect();
        if given.len() != 1 {
            self.err(
                Code::ExclusiveFields,
                at,
                "a Wait state needs exactly one of 'Seconds', 'SecondsPath', 'Timestamp', 'TimestampPath'",
            );
            return None;
        }
        let key = given[0];
        let v = &obj[key];
        let p = ptr(at, key);
        if jsonata {
            return self.jwait(v, &p, key);
        }
        match key {
            "Seconds" => self.positive_int(v, &p, key, 0).map(WaitFor::Seconds),
            "SecondsPath" => self.reference_path(v, &p, key).map(WaitFor::SecondsPath),
            "Timestamp" => match v.as_str().and_then(crate::time::parse_timestamp) {
                Some(t) => Some(WaitFor::Timestamp(t)),
                None => {
                    self.err(Code::BadValue, p, "'Timestamp' must be an ISO-8601 extended offset date-time string");
                    None
                }
            },
            _ => self.reference_path(v, &p, key).map(WaitFor::TimestampPath),
        }
    }

    fn error_equals(&mut self, obj: &Map<String, Value>, at: &str) -> Vec<String> {
        let p = ptr(at, "ErrorEquals");
        let Some(Value::Array(list)) = obj.get("ErrorEquals") else {
            if obj.contains_key("ErrorEquals") {
                self.err(Code::WrongType, p, "'ErrorEquals' must be a non-empty array of strings");
            } else {
                self.err(Code::MissingField, at, "missing required field 'ErrorEquals'");
            }
            return Vec::new();
        };
        if list.is_empty() {
            self.err(Code::BadValue, &p, "'ErrorEquals' must not be empty");
        }
        let mut out = Vec::new();
        for (i, e) in list.iter().enumerate() {
            match e.as_str() {
                Some(s) => out.push(s.to_string()),
                None => self.err(Code::WrongType, format!("{p}/{i}"), "an error name must be a string"),
            }
        }
        if out.iter().any(|e| e == "States.ALL") && out.len() > 1 {
            self.err(Code::AllNotLast, p, "'States.ALL' must appear alone in 'ErrorEquals'");
        }
        out
    }

    fn retriers(&mut self, v: &Value, at: &str) -> Vec<Retrier> {
        let Some(list) = v.as_array() else {
            self.err(Code::WrongType, at, "'Retry' must be an array");
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, r) in list.iter().enumerate() {
            let rp = format!("{at}/{i}");
            let Some(obj) = r.as_object() else {
                self.err(Code::NotAnObject, rp, "a retrier must be an object");
                continue;
            };
            for k in obj.keys() {
                if ![
                    "ErrorEquals",
                    "IntervalSeconds",
                    "MaxAttempts",
                    "BackoffRate",
                    "MaxDelaySeconds",
                    "JitterStrategy",
                    "Comment",
                ]
                .contains(&k.as_str())
                {
                    self.err(Code::UnknownField, ptr(&rp, k), format!("field '{k}' is not allowed in a retrier"));
                }
            }
            let error_equals = self.error_equals(obj, &rp);
            if error_equals.iter().any(|e| e == "States.ALL") && i + 1 != list.len() {
                self.err(Code::AllNotLast, ptr(&rp, "ErrorEquals"), "a retrier with 'States.ALL' must be the last one");
            }
            let interval_seconds = match obj.get("IntervalSeconds") {
                Some(x) => self.positive_int(x, &ptr(&rp, "IntervalSeconds"), "IntervalSeconds", 1).unwrap_or(1),
                None => 1,
            };
            let max_attempts = match obj.get("MaxAttempts") {
                Some(x) => self.positive_int(x, &ptr(&rp, "MaxAttempts"), "MaxAttempts", 0).unwrap_or(3) as u32,
                None => 3,
            };
            let backoff_rate = match obj.get("BackoffRate") {
                Some(x) => match x.as_f64() {
                    Some(b) if b >= 1.0 => b,
                    Some(_) => {
                        self.err(Code::OutOfRange, ptr(&rp, "BackoffRate"), "'BackoffRate' must be at least 1.0");
                        2.0
                    }
                    None => {
                        self.err(Code::WrongType, ptr(&rp, "BackoffRate"), "'BackoffRate' must be a number");
                        2.0
                    }
                },
                None => 2.0,
            };
            let max_delay_seconds = match obj.get("MaxDelaySeconds") {
                Some(x) => self.positive_int(x, &ptr(&rp, "MaxDelaySeconds"), "MaxDelaySeconds", 1),
                None => None,
            };
            let full_jitter = match obj.get("JitterStrategy") {
                None => false,
                Some(Value::String(s)) if s == "FULL" => true,
                Some(Value::String(s)) if s == "NONE" => false,
                Some(_) => {
                    self.err(Code::BadValue, ptr(&rp, "JitterStrategy"), "'JitterStrategy' must be 'FULL' or 'NONE'");
                    false
                }
            };
            out.push(Retrier {
                error_equals,
                interval_seconds,
                max_attempts,
                backoff_rate,
                max_delay_seconds,
                full_jitter,
            });
        }
        out
    }

    fn catchers(&mut self, v: &Value, at: &str, jsonata: bool) -> Vec<Catcher> {
        let Some(list) = v.as_array() else {
            self.err(Code::WrongType, at, "'Catch' must be an array");
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, c) in list.iter().enumerate() {
            let cp = format!("{at}/{i}");
            let Some(obj) = c.as_object() else {
                self.err(Code::NotAnObject, cp, "a catcher must be an object");
                continue;
            };
            for k in obj.keys() {
                let allowed = match k.as_str() {
                    "ErrorEquals" | "Next" | "Comment" | "Assign" => true,
                    "ResultPath" => !jsonata,
                    "Output" => jsonata,
                    _ => false,
                };
                if !allowed {
                    self.err(Code::UnknownField, ptr(&cp, k), format!("field '{k}' is not allowed in a catcher"));
                }
            }
            let error_equals = self.error_equals(obj, &cp);
            if error_equals.iter().any(|e| e == "States.ALL") && i + 1 != list.len() {
                self.err(Code::AllNotLast, ptr(&cp, "ErrorEquals"), "a catcher with 'States.ALL' must be the last one");
            }
            let next = self.string_field(obj, &cp, "Next", true).unwrap_or_default();
            let result_path = self.result_path(obj.get("ResultPath").filter(|_| !jsonata), &ptr(&cp, "ResultPath"));
            let assign = obj.get("Assign").and_then(|a| self.assign(a, &ptr(&cp, "Assign"), jsonata));
            let output =
                obj.get("Output").filter(|_| jsonata).map(|o| self.jtemplate(o, &ptr(&cp, "Output"), "Output"));
            out.push(Catcher { error_equals, next, result_path, assign, output });
        }
        out
    }

    fn choice(&mut self, obj: &Map<String, Value>, at: &str, jsonata: bool) -> StateKind {
        let cp = ptr(at, "Choices");
        let mut choices = Vec::new();
        match obj.get("Choices") {
            Some(Value::Array(list)) if !list.is_empty() => {
                for (i, c) in list.iter().enumerate() {
                    let rp = format!("{cp}/{i}");
                    let Some(robj) = c.as_object() else {
                        self.err(Code::NotAnObject, rp, "a choice rule must be an object");
                        continue;
                    };
                    let next = self.string_field(robj, &rp, "Next", true);
                    let assign = robj.get("Assign").and_then(|a| self.assign(a, &ptr(&rp, "Assign"), jsonata));
                    let rule = if jsonata { self.condition(robj, &rp) } else { self.rule(robj, &rp, true) };
                    if let Some(rule) = rule
                        && let Some(next) = next
                    {
                        let output = robj
                            .get("Output")
                            .filter(|_| jsonata)
                            .map(|o| self.jtemplate(o, &ptr(&rp, "Output"), "Output"));
                        choices.push(ChoiceBranch { rule, next, assign, output });
                    }
                }
            }
            Some(_) => self.err(Code::WrongType, &cp, "'Choices' must be a non-empty array"),
            None => self.err(Code::MissingField, at, "missing required field 'Choices'"),
        }
        let default = self.string_field(obj, at, "Default", false);
        StateKind::Choice { choices, default }
    }

    fn rule(&mut self, obj: &Map<String, Value>, at: &str, top: bool) -> Option<Rule> {
        for k in obj.keys() {
            let ok = matches!(k.as_str(), "Variable" | "And" | "Or" | "Not" | "Comment")
                || (top && (k == "Next" || k == "Assign"))
                || op_by_name(k).is_some();
            if !ok {
                let code = if k == "Condition" { Code::Unsupported } else { Code::BadChoiceRule };
                self.err(code, ptr(at, k), format!("field '{k}' is not allowed in a choice rule"));
            }
        }
        if !top && obj.contains_key("Next") {
            self.err(Code::BadChoiceRule, ptr(at, "Next"), "a nested choice rule cannot have 'Next'");
        }
        let combinators: Vec<&str> = ["And", "Or", "Not"].into_iter().filter(|k| obj.contains_key(*k)).collect();
        let ops: Vec<(&String, ChoiceOp)> = obj.iter().filter_map(|(k, _)| op_by_name(k).map(|o| (k, o))).collect();
        if combinators.len() + ops.len() != 1 {
            self.err(
                Code::BadChoiceRule,
                at,
                "a choice rule needs exactly one comparison operator or one of 'And', 'Or', 'Not'",
            );
            return None;
        }
        if let Some(c) = combinators.first() {
            if obj.contains_key("Variable") {
                self.err(Code::BadChoiceRule, ptr(at, "Variable"), format!("'{c}' rules take no 'Variable'"));
            }
            let p = ptr(at, c);
            return match (*c, &obj[*c]) {
                ("Not", Value::Object(inner)) => self.rule(inner, &p, false).map(|r| Rule::Not(Box::new(r))),
                ("Not", _) => {
                    self.err(Code::BadChoiceRule, p, "'Not' must hold one choice rule object");
                    None
                }
                (_, Value::Array(list)) if !list.is_empty() => {
                    let mut rules = Vec::new();
                    for (i, r) in list.iter().enumerate() {
                        match r.as_object() {
                            Some(o) => rules.extend(self.rule(o, &format!("{p}/{i}"), false)),
                            None => {
                                self.err(Code::BadChoiceRule, format!("{p}/{i}"), "a choice rule must be an object")
                            }
                        }
                    }
                    Some(if *c == "And" { Rule::And(rules) } else { Rule::Or(rules) })
                }
                _ => {
                    self.err(Code::BadChoiceRule, p, format!("'{c}' must be a non-empty array of choice rules"));
                    None
                }
            };
        }
        let (key, op) = ops[0];
        let variable = match obj.get("Variable") {
            Some(v) => self.path(v, &ptr(at, "Variable"), "Variable")?,
            None => {
                self.err(Code::BadChoiceRule, at, "a comparison needs a 'Variable'");
                return None;
            }
        };
        let vp = ptr(at, key);
        let raw = &obj[key.as_str()];
        let operand = if key.ends_with("Path") {
            Operand::Path(self.path(raw, &vp, key)?)
        } else {
            match op {
                ChoiceOp::StringEquals
                | ChoiceOp::StringLessThan
                | ChoiceOp::StringGreaterThan
                | ChoiceOp::StringLessThanEquals
                | ChoiceOp::StringGreaterThanEquals => match raw {
                    Value::String(_) => Operand::Value(RtValue::from(raw)),
                    _ => return self.rule_type(vp, key, "a string"),
                },
                ChoiceOp::StringMatches => match raw.as_str() {
                    Some(s) => Operand::Pattern(glob(s)),
                    None => return self.rule_type(vp, key, "a string"),
                },
                ChoiceOp::NumericEquals
                | ChoiceOp::NumericLessThan
                | ChoiceOp::NumericGreaterThan
                | ChoiceOp::NumericLessThanEquals
                | ChoiceOp::NumericGreaterThanEquals => match raw {
                    Value::Number(_) => Operand::Value(RtValue::from(raw)),
                    _ => return self.rule_type(vp, key, "a number"),
                },
                ChoiceOp::BooleanEquals
                | ChoiceOp::IsNull
                | ChoiceOp::IsPresent
                | ChoiceOp::IsNumeric
                | ChoiceOp::IsString
                | ChoiceOp::IsBoolean
                | ChoiceOp::IsTimestamp => match raw {
                    Value::Bool(_) => Operand::Value(RtValue::from(raw)),
                    _ => return self.rule_type(vp, key, "a boolean"),
                },
                _ => match raw.as_str().and_then(crate::time::parse_timestamp) {
                    Some(t) => Operand::Timestamp(t),
                    None => return self.rule_type(vp, key, "an ISO-8601 timestamp string"),
                },
            }
        };
        Some(Rule::Test { variable, op, operand })
    }

    fn rule_type(&mut self, at: String, key: &str, what: &str) -> Option<Rule> {
        self.err(Code::BadChoiceRule, at, format!("'{key}' must be {what}"));
        None
    }

    fn map(&mut self, obj: &Map<String, Value>, at: &str, inherited: QueryLanguage, jsonata: bool) -> Option<MapState> {
        let (proc_key, proc_v) = match (obj.get("ItemProcessor"), obj.get("Iterator")) {
            (Some(_), Some(_)) => {
                self.err(Code::ExclusiveFields, at, "only one of 'ItemProcessor' and 'Iterator' may be given");
                return None;
            }
            (Some(p), None) => ("ItemProcessor", p),
            (None, Some(i)) => ("Iterator", i),
            (None, None) => {
                self.err(Code::MissingField, at, "missing required field 'ItemProcessor'");
                return None;
            }
        };
        let pp = ptr(at, proc_key);
        let mut mode = MapMode::Inline;
        if let Some(cfg) = proc_v.get("ProcessorConfig") {
            let cp = ptr(&pp, "ProcessorConfig");
            if let Some(cobj) = cfg.as_object() {
                for (k, v) in cobj {
                    match (k.as_str(), v.as_str()) {
                        ("Mode", Some("INLINE")) => mode = MapMode::Inline,
                        ("Mode", Some("DISTRIBUTED")) => mode = MapMode::Distributed,
                        ("ExecutionType", Some("STANDARD" | "EXPRESS")) => {}
                        _ => self.err(Code::BadValue, ptr(&cp, k), format!("invalid ProcessorConfig field '{k}'")),
                    }
                }
            } else {
                self.err(Code::WrongType, cp, "'ProcessorConfig' must be an object");
            }
        }
        let processor = self.machine(proc_v, &pp, inherited, false)?;
        let items_path = obj
            .get("ItemsPath")
            .filter(|_| !jsonata)
            .and_then(|v| self.reference_path(v, &ptr(at, "ItemsPath"), "ItemsPath"));
        let items = obj.get("Items").filter(|_| jsonata).map(|v| self.jtemplate(v, &ptr(at, "Items"), "Items"));
        let item_selector = match (obj.get("ItemSelector"), obj.get("Parameters")) {
            (Some(s), _) if jsonata => Some(self.jtemplate(s, &ptr(at, "ItemSelector"), "ItemSelector")),
            (_, _) if jsonata => None,
            (Some(_), Some(_)) => {
                self.err(Code::ExclusiveFields, at, "only one of 'ItemSelector' and 'Parameters' may be given");
                None
            }
            (Some(s), None) => Some(self.template(s, &ptr(at, "ItemSelector"))),
            (None, Some(p)) => Some(self.template(p, &ptr(at, "Parameters"))),
            (None, None) => None,
        };
        let max_concurrency = match (obj.get("MaxConcurrency"), obj.get("MaxConcurrencyPath")) {
            (Some(v), _) if jsonata => self.jcount(v, &ptr(at, "MaxConcurrency"), "MaxConcurrency"),
            (Some(_), Some(_)) => {
                self.err(
                    Code::ExclusiveFields,
                    at,
                    "only one of 'MaxConcurrency' and 'MaxConcurrencyPath' may be given",
                );
                None
            }
            (Some(v), None) => {
                self.positive_int(v, &ptr(at, "MaxConcurrency"), "MaxConcurrency", 0).map(CountField::Fixed)
            }
            (None, Some(v)) => {
                self.reference_path(v, &ptr(at, "MaxConcurrencyPath"), "MaxConcurrencyPath").map(CountField::Path)
            }
            (None, None) => None,
        };
        let (tolerated_failure_percentage, tolerated_failure_count) = if jsonata {
            (
                self.jtolerance(obj, at, "ToleratedFailurePercentage", Some(100.0)),
                self.jtolerance(obj, at, "ToleratedFailureCount", None),
            )
        } else {
            (
                self.tolerance(obj, at, "ToleratedFailurePercentage", Some(100.0)),
                self.tolerance(obj, at, "ToleratedFailureCount", None),
            )
        };
        let label = match obj.get("Label") {
            None => None,
            Some(Value::String(l)) => {
                let bad_char = l.chars().any(|c| {
                    c.is_whitespace()
                        || c.is_control()
                        || ('\u{7f}'..='\u{9f}').contains(&c)
                        || "<>{}[]:;\\|^~#%&`?*\"".contains(c)
                });
                if l.is_empty() || l.chars().count() > 40 || bad_char {
                    self.err(
                        Code::BadValue,
                        ptr(at, "Label"),
                        "'Label' must be 1 to 40 characters without whitespace, control characters or any of <>{}[]:;\\|^~#%&`?*\"",
                    );
                }
                Some(l.clone())
            }
            Some(_) => {
                self.err(Code::WrongType, ptr(at, "Label"), "'Label' must be a string");
                None
            }
        };
        let batcher = match obj.get("ItemBatcher") {
            None => None,
            Some(Value::Object(b)) => {
                let bp = ptr(at, "ItemBatcher");
                let pair = |v: &mut Self, fixed: &str, path: &str| match (b.get(fixed), b.get(path)) {
                    (Some(x), _) if jsonata => v.jcount(x, &ptr(&bp, fixed), fixed),
                    (Some(x), None) => v.positive_int(x, &ptr(&bp, fixed), fixed, 1).map(CountField::Fixed),
                    (None, Some(x)) => v.reference_path(x, &ptr(&bp, path), path).map(CountField::Path),
                    (Some(_), Some(_)) => {
                        v.err(Code::ExclusiveFields, &bp, format!("only one of '{fixed}' and '{path}' may be given"));
                        None
                    }
                    (None, None) => None,
                };
                let max_items = pair(self, "MaxItemsPerBatch", "MaxItemsPerBatchPath");
                let max_bytes = pair(self, "MaxInputBytesPerBatch", "MaxInputBytesPerBatchPath");
                let batch_input = b.get("BatchInput").map(|t| {
                    if jsonata {
                        self.jtemplate(t, &ptr(&bp, "BatchInput"), "BatchInput")
                    } else {
                        self.template(t, &ptr(&bp, "BatchInput"))
                    }
                });
                Some(ItemBatcher { max_items, max_bytes, batch_input })
            }
            Some(_) => {
                self.err(Code::WrongType, ptr(at, "ItemBatcher"), "'ItemBatcher' must be an object");
                None
            }
        };
        Some(MapState {
            processor,
            mode,
            items_path,
            items,
            jsonata,
            item_selector,
            max_concurrency,
            tolerated_failure_percentage,
            tolerated_failure_count,
            batcher,
            label,
            item_reader: obj.get("ItemReader").map(|r| {
                self.item_reader(r, &ptr(at, "ItemReader"));
                RtValue::from(r)
            }),
        })
    }

    fn item_reader(&mut self, v: &Value, at: &str) {
        let Some(obj) = v.as_object() else {
            self.err(Code::WrongType, at, "'ItemReader' must be an object");
            return;
        };
        if !obj.contains_key("Resource") {
            self.err(Code::MissingField, at, "missing required field 'Resource'");
        }
        if let Some(cfg) = obj.get("ReaderConfig").and_then(Value::as_object)
            && cfg.contains_key("MaxItems")
            && cfg.contains_key("MaxItemsPath")
        {
            self.err(
                Code::ExclusiveFields,
                ptr(at, "ReaderConfig"),
                "only one of 'MaxItems' and 'MaxItemsPath' may be given",
            );
        }
        if let Some(p) = obj.get("Parameters") {
            self.template(p, &ptr(at, "Parameters"));
        }
    }

    fn tolerance(&mut self, obj: &Map<String, Value>, at: &str, key: &str, max: Option<f64>) -> Option<Tolerance> {
        let path_key = format!("{key}Path");
        match (obj.get(key), obj.get(&path_key)) {
            (Some(_), Some(_)) => {
                self.err(Code::ExclusiveFields, at, format!("only one of '{key}' and '{path_key}' may be given"));
                None
            }
            (Some(v), None) => match v.as_f64() {
                Some(f) if f >= 0.0 && max.is_none_or(|m| f <= m) => Some(Tolerance::Fixed(f)),
                _ => {
                    self.err(Code::OutOfRange, ptr(at, key), format!("'{key}' is out of range"));
                    None
                }
            },
            (None, Some(v)) => self.reference_path(v, &ptr(at, &path_key), &path_key).map(Tolerance::Path),
            (None, None) => None,
        }
    }
}

/// `scheme:rest` (an ARN is one), or a whole `${Name}` template placeholder
/// that deployment tools substitute before AWS sees the definition.
fn is_uri_or_substitution(s: &str) -> bool {
    if let Some(inner) = s.strip_prefix("${").and_then(|r| r.strip_suffix('}')) {
        return !inner.is_empty() && !inner.contains(['{', '}']);
    }
    match s.split_once(':') {
        Some((scheme, _)) => {
            let mut chars = scheme.chars();
            chars.next().is_some_and(|c| c.is_ascii_alphabetic())
                && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '.' | '-'))
        }
        None => false,
    }
}

/// A Lambda function ARN's optional qualifier must be a version or alias.
fn lambda_arn_problem(resource: &str) -> Option<String> {
    let rest = resource.strip_prefix("arn:aws:lambda:")?;
    let parts: Vec<&str> = rest.split(':').collect();
    // region, account, "function", name[, qualifier]
    if parts.len() < 4 || parts[2] != "function" {
        return None;
    }
    let valid = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '$'));
    if !valid(parts[3]) || parts.len() > 5 || (parts.len() == 5 && !valid(parts[4])) {
        return Some(format!("'{resource}' is not a valid Lambda function ARN (name and optional version or alias)"));
    }
    None
}

pub fn op_by_name(k: &str) -> Option<ChoiceOp> {
    use ChoiceOp::*;
    let base = k.strip_suffix("Path").unwrap_or(k);
    let op = match base {
        "StringEquals" => StringEquals,
        "StringLessThan" => StringLessThan,
        "StringGreaterThan" => StringGreaterThan,
        "StringLessThanEquals" => StringLessThanEquals,
        "StringGreaterThanEquals" => StringGreaterThanEquals,
        "StringMatches" if k == base => StringMatches,
        "NumericEquals" => NumericEquals,
        "NumericLessThan" => NumericLessThan,
        "NumericGreaterThan" => NumericGreaterThan,
        "NumericLessThanEquals" => NumericLessThanEquals,
        "NumericGreaterThanEquals" => NumericGreaterThanEquals,
        "BooleanEquals" => BooleanEquals,
        "TimestampEquals" => TimestampEquals,
        "TimestampLessThan" => TimestampLessThan,
        "TimestampGreaterThan" => TimestampGreaterThan,
        "TimestampLessThanEquals" => TimestampLessThanEquals,
        "TimestampGreaterThanEquals" => TimestampGreaterThanEquals,
        "IsNull" if k == base => IsNull,
        "IsPresent" if k == base => IsPresent,
        "IsNumeric" if k == base => IsNumeric,
        "IsString" if k == base => IsString,
        "IsBoolean" if k == base => IsBoolean,
        "IsTimestamp" if k == base => IsTimestamp,
        _ => return None,
    };
    Some(op)
}

/// `StringMatches` patterns: `*` matches any run, `\*` and `\\` are literal.
fn glob(s: &str) -> Vec<GlobPart> {
    let mut parts = Vec::new();
    let mut lit = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e) => lit.push(e),
                None => lit.push('\\'),
            },
            '*' => {
                if !lit.is_empty() {
                    parts.push(GlobPart::Literal(std::mem::take(&mut lit)));
                }
                parts.push(GlobPart::Star);
            }
            c => lit.push(c),
        }
    }
    if !lit.is_empty() {
        parts.push(GlobPart::Literal(lit));
    }
    parts
}
