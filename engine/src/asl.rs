//! The typed ASL model the validator produces. Everything that is parsed —
//! JSONPath, payload templates, intrinsic calls, Choice rules — is parsed
//! into these types once; the compiler lowers them into a [`crate::program::Program`].

use crate::intrinsics::Call;
use crate::jsonpath::{JsonPath, RefStep};
use crate::value::{Key, Value};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QueryLanguage {
    #[default]
    JsonPath,
    JsonAta,
}

#[derive(Debug, Clone)]
pub struct StateMachine {
    pub start_at: String,
    pub states: Vec<State>,
    pub timeout_seconds: Option<u64>,
    pub query_language: QueryLanguage,
    /// Some path reads the execution's part of `$$` — anything but
    /// `$$.Map.Item…` (set on the top-level machine only).
    pub uses_context: bool,
    /// Nodes of all its JSONata expressions' trees, and the regular
    /// expressions they compiled (top-level machine only).
    pub jsonata_nodes: usize,
    pub jsonata_regexes: usize,
    /// What all its JSONPaths hold compiled (top-level machine only).
    pub jsonpath_bytes: usize,
}

impl StateMachine {
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.states.iter().position(|s| s.name == name)
    }
}

#[derive(Debug, Clone)]
pub struct State {
    pub name: String,
    /// JSON Pointer of the state in the definition, for runtime diagnostics.
    pub pointer: String,
    pub kind: StateKind,
    pub io: DataFlow,
    pub transition: Transition,
    pub retry: Vec<Retrier>,
    pub catch: Vec<Catcher>,
    /// Workflow variables set when the state completes (for a Choice: when
    /// the Default is taken).
    pub assign: Option<Template>,
    /// JSONata `Output`: the state's output, from `$states.input`/`result`.
    pub output: Option<Template>,
}

#[derive(Debug, Clone)]
pub enum Transition {
    Next(String),
    End,
    /// Choice, Succeed and Fail decide for themselves.
    None,
}

/// Input/output processing, in the order AWS applies it.
#[derive(Debug, Clone, Default)]
pub struct DataFlow {
    pub input_path: PathField,
    pub parameters: Option<Template>,
    pub result_selector: Option<Template>,
    pub result_path: ResultPath,
    pub output_path: PathField,
}

/// `InputPath`/`OutputPath`: absent means `$`, `null` means `{}`.
#[derive(Debug, Clone, Default)]
pub enum PathField {
    #[default]
    Identity,
    Discard,
    Path(JsonPath),
}

#[derive(Debug, Clone, Default)]
pub enum ResultPath {
    /// `$` (the default): the result replaces the input.
    #[default]
    Replace,
    /// `null`: the result is discarded, the input passes through.
    Discard,
    /// `$.a.b`: the result is written into the input.
    Into(JsonPath, Vec<RefStep>),
}

/// A payload template (`Parameters`, `ResultSelector`, `ItemSelector`, a Pass
/// `Result` is a constant). Constant subtrees are folded at parse time.
#[derive(Debug, Clone, PartialEq)]
pub enum Template {
    Const(Value),
    Object(Vec<(Key, Template)>),
    Array(Vec<Template>),
    Path(JsonPath),
    Call(Call),
    /// A `"{% … %}"` string in a JSONata state.
    Jsonata(Arc<JsonataField>),
}

impl Template {
    /// Does any part of the template hold a JSONata expression?
    pub fn has_jsonata(&self) -> bool {
        match self {
            Template::Jsonata(_) => true,
            Template::Object(fields) => fields.iter().any(|(_, t)| t.has_jsonata()),
            Template::Array(items) => items.iter().any(Template::has_jsonata),
            _ => false,
        }
    }
}

/// A JSONata expression and the field it sits in (`Output/result`), which
/// AWS names in the errors it raises.
#[derive(Debug)]
pub struct JsonataField {
    pub expr: crate::jsonata::Expression,
    pub field: String,
    /// How much of `$states.context` the expression reads: it is built
    /// only as far as needed.
    pub context: ContextUse,
    /// `$states.input.a.b` and the like, and expressions of them with
    /// literals, `&`, comparisons, `and`/`or` and `$merge`: evaluated
    /// without the evaluator (`jsonata::direct`).
    pub direct: Option<crate::jsonata::DirectExpr<DirectRead>>,
    /// The expression may draw random numbers (`$random`, `$uuid`, `$shuffle`).
    pub reads_random: bool,
    /// Only `direct` applies: a fused Map's start template ([`crate::fusion`])
    /// reads the Map's input and item, where `expr` would read the selector
    /// object; where the direct form cannot decide, the field fails and the
    /// Map takes the usual way.
    pub direct_only: bool,
}

/// A field path of `$states` that a direct expression reads.
#[derive(Debug, Clone)]
pub struct DirectRead {
    pub root: DirectRoot,
    pub fields: Vec<Key>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirectRoot {
    Input,
    Result,
    ErrorOutput,
    /// `$states.context.Map.Item.Index`
    MapIndex,
    /// `$states.context.Map.Item.Value`
    MapValue,
}

impl DirectRead {
    /// The direct form of `expr`, where it has one.
    pub fn expression(expr: &crate::jsonata::Expression) -> Option<crate::jsonata::DirectExpr<DirectRead>> {
        expr.direct(DirectRead::of_path)
    }

    /// `$states.input.a.b` and the like (`var`, then `names`).
    fn of_path(var: &str, names: &[Key]) -> Option<DirectRead> {
        if var != "states" {
            return None;
        }
        let strs: Vec<&str> = names.iter().map(|n| &**n).collect();
        let (root, skip) = match strs.as_slice() {
            ["input", ..] => (DirectRoot::Input, 1),
            ["result", ..] => (DirectRoot::Result, 1),
            ["errorOutput", ..] => (DirectRoot::ErrorOutput, 1),
            ["context", "Map", "Item", "Index"] => (DirectRoot::MapIndex, 4),
            ["context", "Map", "Item", "Value", ..] => (DirectRoot::MapValue, 4),
            _ => return None,
        };
        Some(DirectRead { root, fields: names[skip..].iter().map(|n| Key::intern(n)).collect() })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContextUse {
    None,
    /// Only `$states.context.Map.Item…` (a Map's ItemSelector).
    MapItem,
    All,
}

impl ContextUse {
    /// Read from the expression's text: every `$states.context` followed
    /// by `.Map.Item` needs only the item; anything else needs it all, and
    /// so does `$states` itself (not one of its members), which holds it.
    pub fn of(source: &str) -> ContextUse {
        for (i, _) in source.match_indices("$states") {
            let rest = &source[i + "$states".len()..];
            let member = [".input", ".result", ".errorOutput", ".context"].iter().any(|m| {
                rest.strip_prefix(m).is_some_and(|after| !after.starts_with(|c: char| c.is_alphanumeric() || c == '_'))
            });
            let other_name = rest.starts_with(|c: char| c.is_alphanumeric() || c == '_');
            if !member && !other_name {
                return ContextUse::All;
            }
        }
        let mut uses = ContextUse::None;
        for (i, _) in source.match_indices("context") {
            if source[i + "context".len()..].starts_with(".Map.Item") && source[..i].ends_with("$states.") {
                if uses == ContextUse::None {
                    uses = ContextUse::MapItem;
                }
            } else {
                return ContextUse::All;
            }
        }
        uses
    }
}

impl PartialEq for JsonataField {
    fn eq(&self, other: &Self) -> bool {
        self.field == other.field && self.expr.source() == other.expr.source()
    }
}

#[derive(Debug, Clone)]
pub enum StateKind {
    Pass { result: Option<Value> },
    Task(Task),
    Choice { choices: Vec<ChoiceBranch>, default: Option<String> },
    Wait(WaitFor),
    Succeed,
    Fail { error: FailField, cause: FailField },
    Parallel { branches: Vec<StateMachine> },
    Map(Box<MapState>),
}

impl StateKind {
    pub fn state_type(&self) -> StateType {
        match self {
            StateKind::Pass { .. } => StateType::Pass,
            StateKind::Task(_) => StateType::Task,
            StateKind::Choice { .. } => StateType::Choice,
            StateKind::Wait(_) => StateType::Wait,
            StateKind::Succeed => StateType::Succeed,
            StateKind::Fail { .. } => StateType::Fail,
            StateKind::Parallel { .. } => StateType::Parallel,
            StateKind::Map(_) => StateType::Map,
        }
    }
}

/// A state's `Type`. The discriminants are fixed: per-type counters are
/// arrays indexed by [`StateType::index`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StateType {
    Pass = 0,
    Task = 1,
    Choice = 2,
    Wait = 3,
    Succeed = 4,
    Fail = 5,
    Parallel = 6,
    Map = 7,
}

impl StateType {
    /// Every state type, in [`StateType::index`] order.
    pub const ALL: [StateType; 8] = [
        StateType::Pass,
        StateType::Task,
        StateType::Choice,
        StateType::Wait,
        StateType::Succeed,
        StateType::Fail,
        StateType::Parallel,
        StateType::Map,
    ];

    /// The `Type` field's value.
    pub const fn as_str(self) -> &'static str {
        match self {
            StateType::Pass => "Pass",
            StateType::Task => "Task",
            StateType::Choice => "Choice",
            StateType::Wait => "Wait",
            StateType::Succeed => "Succeed",
            StateType::Fail => "Fail",
            StateType::Parallel => "Parallel",
            StateType::Map => "Map",
        }
    }

    /// Position in [`StateType::ALL`], for per-type counters.
    pub const fn index(self) -> usize {
        self as usize
    }
}

// `ALL` lists the types in discriminant order.
const _: () = {
    let mut i = 0;
    while i < StateType::ALL.len() {
        assert!(StateType::ALL[i].index() == i);
        i += 1;
    }
};

impl std::fmt::Display for StateType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone)]
pub struct Task {
    pub resource: String,
    pub timeout: Option<Seconds>,
    pub heartbeat: Option<Seconds>,
}

/// A number of seconds given literally or read from the input.
#[derive(Debug, Clone)]
pub enum Seconds {
    Fixed(u64),
    Path(JsonPath),
    Expr(Template),
}

#[derive(Debug, Clone)]
pub enum WaitFor {
    Seconds(u64),
    SecondsPath(JsonPath),
    Timestamp(chrono::DateTime<chrono::FixedOffset>),
    TimestampPath(JsonPath),
    /// JSONata `Seconds`/`Timestamp`: checked when evaluated.
    SecondsExpr(Template),
    TimestampExpr(Template),
}

#[derive(Debug, Clone)]
pub enum FailField {
    None,
    Literal(String),
    Path(JsonPath),
    Call(Call),
    Expr(Template),
}

#[derive(Debug, Clone)]
pub struct ChoiceBranch {
    pub rule: Rule,
    pub next: String,
    pub assign: Option<Template>,
    /// JSONata `Output` of this rule.
    pub output: Option<Template>,
}

#[derive(Debug, Clone)]
pub enum Rule {
    And(Vec<Rule>),
    Or(Vec<Rule>),
    Not(Box<Rule>),
    Test {
        variable: JsonPath,
        op: ChoiceOp,
        operand: Operand,
    },
    /// JSONata `Condition`: true or false.
    Condition(Template),
}

#[derive(Debug, Clone)]
pub enum Operand {
    Value(Value),
    Path(JsonPath),
    Timestamp(chrono::DateTime<chrono::FixedOffset>),
    Pattern(Vec<GlobPart>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum GlobPart {
    Literal(String),
    Star,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChoiceOp {
    StringEquals,
    StringLessThan,
    StringGreaterThan,
    StringLessThanEquals,
    StringGreaterThanEquals,
    StringMatches,
    NumericEquals,
    NumericLessThan,
    NumericGreaterThan,
    NumericLessThanEquals,
    NumericGreaterThanEquals,
    BooleanEquals,
    TimestampEquals,
    TimestampLessThan,
    TimestampGreaterThan,
    TimestampLessThanEquals,
    TimestampGreaterThanEquals,
    IsNull,
    IsPresent,
    IsNumeric,
    IsString,
    IsBoolean,
    IsTimestamp,
}

#[derive(Debug, Clone)]
pub struct Retrier {
    pub error_equals: Vec<String>,
    pub interval_seconds: u64,
    pub max_attempts: u32,
    pub backoff_rate: f64,
    pub max_delay_seconds: Option<u64>,
    pub full_jitter: bool,
}

#[derive(Debug, Clone)]
pub struct Catcher {
    pub error_equals: Vec<String>,
    pub next: String,
    pub result_path: ResultPath,
    pub assign: Option<Template>,
    /// JSONata `Output` (from `$states.errorOutput`).
    pub output: Option<Template>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapMode {
    Inline,
    Distributed,
}

#[derive(Debug, Clone)]
pub struct MapState {
    pub processor: StateMachine,
    pub mode: MapMode,
    pub items_path: Option<JsonPath>,
    /// JSONata `Items` (the state input when absent).
    pub items: Option<Template>,
    pub jsonata: bool,
    pub item_selector: Option<Template>,
    pub max_concurrency: Option<CountField>,
    pub tolerated_failure_percentage: Option<Tolerance>,
    pub tolerated_failure_count: Option<Tolerance>,
    pub batcher: Option<ItemBatcher>,
    pub label: Option<String>,
    /// `ItemReader`: items read from S3 instead of the state input.
    pub item_reader: Option<ItemReader>,
    /// `ResultWriter`: results written to S3 and/or transformed.
    pub result_writer: Option<ResultWriter>,
}

/// A Distributed Map's `ItemReader`: the S3 call that lists or reads the
/// items, and how its answer becomes them (see [`crate::items`]).
#[derive(Debug, Clone)]
pub struct ItemReader {
    /// `arn:aws:states:::s3:getObject` or `arn:aws:states:::s3:listObjectsV2`.
    pub resource: String,
    /// `Parameters` (JSONPath) or `Arguments` (JSONata): the call's input.
    pub arguments: Option<Template>,
    /// `ReaderConfig.InputType`; `None` for `listObjectsV2`.
    pub input_type: Option<InputType>,
    /// `CSVHeaders` when `CSVHeaderLocation` is `GIVEN`; `None`: the first row.
    pub csv_headers: Option<Vec<String>>,
    /// `CSVDelimiter` as the byte it stands for.
    pub csv_delimiter: u8,
    /// `MaxItems` / `MaxItemsPath` (JSONata: an expression); 0 is no limit.
    pub max_items: Option<CountField>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputType {
    Json,
    Jsonl,
    Csv,
    Manifest,
    /// Accepted as AWS accepts it (with an Athena manifest); reading it fails.
    Parquet,
}

/// A Distributed Map's `ResultWriter`.
#[derive(Debug, Clone)]
pub struct ResultWriter {
    /// `arn:aws:states:::s3:putObject`; `None`: only `WriterConfig`.
    pub resource: Option<String>,
    /// `Parameters` / `Arguments`: `Bucket` and `Prefix`.
    pub arguments: Option<Template>,
    /// `WriterConfig` given: the output and files follow it, not the default export.
    pub config: Option<WriterConfig>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriterConfig {
    pub transformation: Transformation,
    /// `OutputType` `JSONL` (else `JSON`): the result files' format.
    pub jsonl: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transformation {
    /// Each child's output with its execution's metadata.
    None,
    /// Each child's output.
    Compact,
    /// Outputs that are arrays are spliced into the results.
    Flatten,
}

#[derive(Debug, Clone)]
pub enum CountField {
    Fixed(u64),
    Path(JsonPath),
    Expr(Template),
}

#[derive(Debug, Clone)]
pub enum Tolerance {
    Fixed(f64),
    Path(JsonPath),
    Expr(Template),
}

#[derive(Debug, Clone)]
pub struct ItemBatcher {
    pub max_items: Option<CountField>,
    pub max_bytes: Option<CountField>,
    pub batch_input: Option<Template>,
}
