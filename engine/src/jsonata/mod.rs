//! JSONata, the query language of `"QueryLanguage": "JSONata"` states.
//!
//! An expression is parsed once ([`Expression::parse`], at compile time;
//! `$eval` parses at run time, as the language defines it) into a tree that
//! [`eval::Evaluator`] walks. Evaluation has a depth and a step budget that
//! turn a runaway expression into an error instead of a hung shard; the
//! parser bounds nesting ([`MAX_NESTING`]) so that no pass over a deep
//! expression can overflow the stack.

mod ast;
mod direct;
mod eval;
mod format;
mod functions;
mod lexer;
mod parser;
mod signature;
mod value;

use crate::value::{Key, Value};
use std::fmt;
use std::rc::Rc;
use std::sync::Arc;

pub use direct::{DirectExpr, Found, Reader, read_fields};
pub use eval::Limits;
pub use parser::MAX_NESTING;
use value::{Arr, V};

/// A JSONata error: its code (`T2001`, `D3137`, …) as jsonata-js reports it.
#[derive(Debug, Clone)]
pub struct Error {
    pub code: &'static str,
    pub message: String,
    pub position: Option<usize>,
    pub token: Option<String>,
}

impl Error {
    pub(crate) fn syntax(code: &'static str, pos: usize, message: impl Into<String>) -> Error {
        Error { code, message: message.into(), position: Some(pos), token: None }
    }
    pub(crate) fn eval(code: &'static str, message: impl Into<String>) -> Error {
        Error { code, message: message.into(), position: None, token: None }
    }
    pub(crate) fn signature(code: &'static str, message: impl Into<String>) -> Error {
        Error { code, message: message.into(), position: None, token: None }
    }
    pub(crate) fn at(mut self, pos: usize) -> Error {
        self.position.get_or_insert(pos);
        self
    }
    pub(crate) fn with_token(mut self, token: String) -> Error {
        self.token = Some(token);
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for Error {}

/// Step Functions' `$states`, read field by field: `$states.input.x`
/// never builds the `$states` object.
#[derive(Clone, Copy)]
pub struct States<'a> {
    pub input: &'a Value,
    pub result: Option<&'a Value>,
    pub error_output: Option<&'a Value>,
    pub context: Option<&'a Value>,
    /// A Map iteration's index and item: `$states.context.Map.Item.*`
    /// without building the context object.
    pub map_item: Option<(usize, &'a Value)>,
}

/// What an evaluation may read from the outside world.
pub struct Environment<'a> {
    /// Variables bound before evaluation.
    pub bindings: &'a [(&'a str, &'a Value)],
    pub states: Option<States<'a>>,
    /// An object of further variables, read only when an expression names
    /// one (workflow variables: converting them all up front would cost).
    pub variables: Option<&'a Value>,
    /// "Now" for `$now()` and `$millis()`, fixed for one evaluation.
    pub now_millis: i64,
    /// Seed of `$random()`, `$uuid()` and `$shuffle()`.
    pub seed: u64,
    pub limits: Limits,
    /// An upper bound on the nesting depth of every value the expression
    /// can read but `variables` (its input, `$states`, the Map item), where
    /// the caller knows one: values built of them are then checked against
    /// the depth bound without walking them (`None`: walk them).
    pub value_depth: Option<usize>,
}

impl Default for Environment<'_> {
    fn default() -> Self {
        Environment {
            bindings: &[],
            states: None,
            variables: None,
            now_millis: 0,
            seed: 0x853c_49e6_748f_ea9b,
            limits: Limits::default(),
            value_depth: None,
        }
    }
}

/// A parsed JSONata expression, ready to evaluate any number of times.
pub struct Expression {
    root: ast::Node,
    source: Arc<str>,
    /// What building it took.
    built: ast::Built,
}

impl fmt::Debug for Expression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Expression({:?})", self.source)
    }
}

impl Expression {
    pub fn parse(source: &str) -> Result<Expression, Error> {
        let raw = parser::parse(source)?;
        let (root, built) = ast::build(raw)?;
        Ok(Expression { root, source: Arc::from(source), built })
    }

    /// How many regular expressions it compiled (each up to 1 MiB).
    pub fn regexes(&self) -> usize {
        self.built.regexes
    }

    /// How many nodes its tree holds (a few hundred bytes each).
    pub fn nodes(&self) -> usize {
        self.built.nodes
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    pub(crate) fn root(&self) -> &ast::Node {
        &self.root
    }

    /// The expression in its direct form (see [`direct`]), each variable
    /// path `$name.a.b` made a read by `read`; `None` where it has none.
    pub fn direct<R>(&self, mut read: impl FnMut(&str, &[Key]) -> Option<R>) -> Option<DirectExpr<R>> {
        direct::of(&self.root, &mut read)
    }

    /// Evaluate against `input` (`None` is JavaScript's `undefined`).
    /// `Ok(None)`: the expression produced nothing.
    pub fn evaluate(&self, input: Option<&Value>, env: Environment<'_>) -> Result<Option<Value>, Error> {
        let mut steps = 0;
        self.evaluate_metered(input, env, &mut steps)
    }

    /// [`Expression::evaluate`], adding the evaluation steps it took
    /// (charged work included) to `steps`.
    pub fn evaluate_metered(
        &self,
        input: Option<&Value>,
        env: Environment<'_>,
        steps: &mut u64,
    ) -> Result<Option<Value>, Error> {
        let mut ev = eval::Evaluator::new(env.limits, env.now_millis, env.seed);
        ev.globals = env.variables;
        ev.json_depth = functions::JsonDepth::new(env.value_depth, env.variables);
        if let Some(s) = env.states {
            ev.states = Some([Some(s.input), s.result, s.error_output, s.context]);
            ev.map_item = s.map_item;
        }
        // The root scope is not registered with the evaluator: it is
        // cleared here, which breaks any closure cycle through it.
        let root = Rc::new(eval::Scope::default());
        let input = match input {
            None => V::Undef,
            Some(v @ Value::Array(_)) => {
                // A top-level array is wrapped so that `$[0]` indexes it.
                let arr = Arr { items: vec![V::from_json(v)], sequence: true, outer_wrapper: true, ..Arr::default() };
                V::Arr(Rc::new(arr))
            }
            Some(v) => V::from_json(v),
        };
        ev.root_input = input.clone();
        for (name, value) in env.bindings {
            ev.json_depth.include(value);
            root.bind(Key::intern(name), V::from_json(value));
        }
        let result = ev.evaluate(&self.root, &input, &root);
        *steps = steps.saturating_add(ev.steps());
        root.clear();
        let result = result?;
        let result = match result {
            V::Arr(a) if a.sequence && a.items.len() == 1 && !a.keep_singleton.get() => a.items[0].clone(),
            v => v,
        };
        result.to_json_within(crate::bounds::MAX_DEPTH).map_err(|_| {
            Error::eval(
                functions::TOO_LARGE,
                format!("The result is nested deeper than the maximum of {} levels", crate::bounds::MAX_DEPTH),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(expr: &str, input: &str) -> Option<String> {
        let input = crate::value::from_str(input).ok();
        let e = Expression::parse(expr).unwrap_or_else(|e| panic!("{expr}: {e}"));
        e.evaluate(input.as_ref(), Environment::default())
            .unwrap_or_else(|e| panic!("{expr}: {e}"))
            .map(|v| v.to_json())
    }

    fn err(expr: &str, input: &str) -> &'static str {
        let input = crate::value::from_str(input).ok();
        match Expression::parse(expr) {
            Err(e) => e.code,
            Ok(x) => match x.evaluate(input.as_ref(), Environment::default()) {
                Err(e) => e.code,
                Ok(v) => panic!("{expr} gave {v:?}, not an error"),
            },
        }
    }

    /// Without the `u` flag (JSONata never sets it) JavaScript's `\d`, `\w`
    /// and `\b` are ASCII: `/\w+/` matches the `h` of `héllo`, not all of
    /// it as the `regex` crate's Unicode classes did; in a class `\b` is a
    /// backspace. A pattern compiling past 1 MiB is refused (`S0302`), and
    /// an expression holds at most 32 regular expressions.
    #[test]
    fn regular_expressions_have_javascripts_ascii_classes_and_a_size_bound() {
        assert_eq!(run("$match('héllo wörld', /\\w+/).match", "null").as_deref(), Some(r#"["h","llo","w","rld"]"#));
        assert_eq!(run("$contains('٣', /\\d/)", "null").as_deref(), Some("false"));
        // An empty next match is D1004 as in jsonata-js, so the boundaries are
        // seen through what follows them: é is no word character.
        assert_eq!(run("$match('é a1 b', /\\b./).index", "null").as_deref(), Some("[2,4,5]"));
        assert_eq!(run("$match('a-b_c!é', /[\\w-]+/).match", "null").as_deref(), Some(r#""a-b_c""#));
        assert_eq!(run("$match('x!é', /[x\\W]+/).match", "null").as_deref(), Some(r#""x!é""#));
        assert_eq!(run("$match('`-z', /[\\w-z]+/).match", "null").as_deref(), Some(r#""-z""#));
        assert_eq!(run("$match('a.b-c@d', /[\\w-\\.]+/).match", "null").as_deref(), Some(r#"["a.b-c","d"]"#));
        assert_eq!(run("$split('a9b', /\\D/)", "null").as_deref(), Some(r#"["","9",""]"#));
        assert_eq!(
            run("[$contains('\\b', /[\\b]/), $contains('b', /[\\b]/)]", "null").as_deref(),
            Some("[true,false]")
        );
        // ASCII `\w{100}` is small where the Unicode one took 8 MB.
        assert_eq!(run("$contains($pad('', 100, 'a'), /\\w{100}/)", "null").as_deref(), Some("true"));
        assert_eq!(err("$contains('a', /\\p{L}{2000}/)", "null"), "S0302");
        let many = vec!["/a/"; 33].join(",");
        assert_eq!(err(&format!("[{many}]"), "null"), "S0302");
        assert_eq!(Expression::parse(&format!("[{}]", vec!["/a/"; 32].join(","))).map(|e| e.regexes()).ok(), Some(32));
    }

    /// Rounding a number so large that shifting it by the places asked
    /// overflows a double keeps the number: `$formatNumber(1e300, '0.00…')`
    /// printed `inf.00…`.
    #[test]
    fn rounding_a_huge_number_keeps_it() {
        let twenty = format!("0.{}", "0".repeat(20));
        let out = run(&format!("$formatNumber(1e300, '{twenty}')"), "null").unwrap_or_default();
        assert!(
            out.starts_with("\"1000000000000000052504760")
                && !out.contains("inf")
                && out.ends_with(".00000000000000000000\""),
            "{out}"
        );
        assert_eq!(run("$round(1e300, 20)", "null").as_deref(), Some("1e+300"));
    }

    /// JavaScript orders strings by UTF-16 code units: a character past
    /// U+FFFF (a surrogate pair, 0xD83D 0xDE00 for 😀) comes before one from
    /// U+E000 to U+FFFF, where their UTF-8 bytes (and Rust's order) put it after.
    #[test]
    fn strings_are_ordered_by_utf16_code_units_as_javascript_does() {
        let doc = r#"{"hi": "\uffff", "emoji": "😀", "mid": "\ud7ff", "items": [{"s": "\uffff"}, {"s": "😀"}, {"s": "a"}, {"s": "😀x"}]}"#;
        assert_eq!(run("hi < emoji", doc).as_deref(), Some("false"));
        assert_eq!(run("emoji < hi", doc).as_deref(), Some("true"));
        assert_eq!(run("emoji >= hi", doc).as_deref(), Some("false"));
        // Below the surrogates, code points and code units agree.
        assert_eq!(run("mid < emoji", doc).as_deref(), Some("true"));
        assert_eq!(run("$sort(items.s)", doc).as_deref(), Some("[\"a\",\"😀\",\"😀x\",\"\u{ffff}\"]"));
        assert_eq!(run("items^(s).s", doc).as_deref(), Some("[\"a\",\"😀\",\"😀x\",\"\u{ffff}\"]"));
        assert_eq!(run("items^(>s).s", doc).as_deref(), Some("[\"\u{ffff}\",\"😀x\",\"😀\",\"a\"]"));
        // A prefix first; equal strings equal; plain text as before.
        for (a, b) in [
            ("ab", "abc"),
            ("é", "😀"),
            ("a\u{ff}", "a\u{100}"),
            ("😀", "\u{ffff}"),
            ("", "a"),
            ("x\u{e000}", "x\u{10000}"),
        ] {
            let units = |s: &str| s.encode_utf16().collect::<Vec<_>>();
            assert_eq!(crate::value::utf16_order(a, b), units(a).cmp(&units(b)), "{a:?} {b:?}");
            assert_eq!(crate::value::utf16_order(b, a), units(b).cmp(&units(a)), "{b:?} {a:?}");
            assert!(crate::value::utf16_order(a, a).is_eq());
        }
    }

    /// `=` is JavaScript's deep equality: `1` and `1.0` are one number at
    /// any depth, in the input as in constructed values.
    #[test]
    fn equal_numbers_are_equal_whatever_their_text_at_any_depth() {
        let doc = r#"{"a": {"x": 1, "y": [2, {"z": 3}]}, "b": {"y": [2.0, {"z": 3e0}], "x": 1.0}, "c": {"x": 1.5}}"#;
        gives(
            doc,
            &[
                ("a = b", "true"),
                ("a != b", "false"),
                ("a.x = c.x", "false"),
                ("a = c", "false"),
                (r#"{"x": 1} = {"x": 1.0}"#, "true"),
                (r#"a = {"x": 1.0, "y": [2, {"z": 3.0}]}"#, "true"),
                ("a.y = b.y", "true"),
            ],
        );
    }

    /// Each expression on `doc` gives its JSON text.
    fn gives(doc: &str, cases: &[(&str, &str)]) {
        for (expr, want) in cases {
            assert_eq!(run(expr, doc).as_deref(), Some(*want), "{expr}");
        }
    }

    /// `in` is JavaScript's `===`: an input object is itself, read twice,
    /// and not its equal twin.
    #[test]
    fn in_finds_the_same_input_object_and_not_its_twin() {
        let doc = r#"{"a": {"x": 1}, "b": {"x": 1}, "n": 2, "l": [1, 2]}"#;
        gives(
            doc,
            &[
                ("a in [a, 3]", "true"),
                ("a in [b]", "false"),
                // An array constructor flattens an array into its items: not found.
                ("l in [l]", "false"),
                ("n in l", "true"),
                (r#"{"x": 1} in [a]"#, "false"),
            ],
        );
    }

    #[test]
    fn paths_predicates_and_sequences() {
        let doc = r#"{"a":[{"b":1,"c":"x"},{"b":2,"c":"y"},{"b":3,"c":"x"}]}"#;
        assert_eq!(run("a.b", doc).as_deref(), Some("[1,2,3]"));
        assert_eq!(run("a[c='x'].b", doc).as_deref(), Some("[1,3]"));
        assert_eq!(run("a[1].c", doc).as_deref(), Some("\"y\""));
        assert_eq!(run("a[-1].b", doc).as_deref(), Some("3"));
        assert_eq!(run("a[b>5]", doc), None);
        assert_eq!(run("a[0].b[]", doc).as_deref(), Some("[1]"));
        assert_eq!(run("$sum(a.b)", doc).as_deref(), Some("6"));
        assert_eq!(run("a^(>b).b", doc).as_deref(), Some("[3,2,1]"));
        assert_eq!(run("a{c: $sum(b)}", doc).as_deref(), Some(r#"{"x":4,"y":2}"#));
        assert_eq!(run("**.b", doc).as_deref(), Some("[1,2,3]"));
    }

    #[test]
    fn operators_and_literals() {
        assert_eq!(run("1 + 2 * 3", "null").as_deref(), Some("7"));
        assert_eq!(run("'a' & 1 & true", "null").as_deref(), Some("\"a1true\""));
        assert_eq!(run("[1..4]", "null").as_deref(), Some("[1,2,3,4]"));
        assert_eq!(run("3 in [1,2,3]", "null").as_deref(), Some("true"));
        assert_eq!(run("x ? 'yes' : 'no'", r#"{"x":0}"#).as_deref(), Some("\"no\""));
        assert_eq!(run("x ?? 5", "{}").as_deref(), Some("5"));
        assert_eq!(run("0.1 + 0.2", "null").as_deref(), Some("0.30000000000000004"));
        assert_eq!(run("$string(0.1 + 0.2)", "null").as_deref(), Some("\"0.3\""));
    }

    #[test]
    fn lambdas_closures_and_tail_calls() {
        assert_eq!(run("($f := function($x){$x * 2}; $f(21))", "null").as_deref(), Some("42"));
        assert_eq!(run("$map([1,2,3], function($v, $i){$v + $i})", "null").as_deref(), Some("[1,3,5]"));
        assert_eq!(run("$reduce([1,2,3,4], function($a, $b){$a + $b})", "null").as_deref(), Some("10"));
        let sum_to = "($s := function($n, $acc){ $n = 0 ? $acc : $s($n - 1, $acc + $n) }; $s(10000, 0))";
        assert_eq!(run(sum_to, "null").as_deref(), Some("50005000"));
        assert_eq!(
            run("($add := function($a,$b){$a+$b}; $inc := $add(?, 1); $inc(41))", "null").as_deref(),
            Some("42")
        );
        assert_eq!(run("'abc' ~> $uppercase()", "null").as_deref(), Some("\"ABC\""));
    }

    #[test]
    fn a_concatenation_inside_a_concatenation_builds_its_own_text() {
        // The outer `&` holds the reused buffer while the inner ones run.
        let expr = "'a' & $string('b' & ('c' & 1)) & 'd' & $join(['e' & 'f', 'g'], '-' & '')";
        assert_eq!(run(expr, "{}").as_deref(), Some(r#""abc1def-g""#));
        assert_eq!(run("'x' & 'y'", "{}").as_deref(), Some(r#""xy""#), "the buffer is reused after a nested use");
    }

    #[test]
    fn errors_carry_jsonata_codes() {
        assert_eq!(err("1 + 'a'", "null"), "T2002");
        assert_eq!(err("$sum('a')", "null"), "T0412");
        assert_eq!(err("[1, 2", "null"), "S0203");
        assert_eq!(err("$error('boom')", "null"), "D3137");
        assert_eq!(err("($f := function($n){ 1 + $f($n) }; $f(1))", "null"), "U1001");
    }
}
