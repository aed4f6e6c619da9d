//! Intrinsic functions (`States.Format(...)` and friends): parsed once at
//! compile time into a call tree, evaluated with AWS's quirks (Java-style
//! rounding in `MathAdd`, empty strings dropped by `StringSplit`, Java
//! `Map.toString` rendering of objects in `Format`).

use crate::bounds::Measure;
use crate::jsonpath::{JsonPath, PathSyntaxError};
use crate::value::{Object, Value};
use base64::Engine as _;
use std::fmt::Write as _;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    Format,
    StringToJson,
    JsonToString,
    Array,
    ArrayPartition,
    ArrayContains,
    ArrayRange,
    ArrayGetItem,
    ArrayLength,
    ArrayUnique,
    Base64Encode,
    Base64Decode,
    Hash,
    JsonMerge,
    MathRandom,
    MathAdd,
    StringSplit,
    Uuid,
}

impl Func {
    pub const ALL: [Func; 18] = [
        Func::Format,
        Func::StringToJson,
        Func::JsonToString,
        Func::Array,
        Func::ArrayPartition,
        Func::ArrayContains,
        Func::ArrayRange,
        Func::ArrayGetItem,
        Func::ArrayLength,
        Func::ArrayUnique,
        Func::Base64Encode,
        Func::Base64Decode,
        Func::Hash,
        Func::JsonMerge,
        Func::MathRandom,
        Func::MathAdd,
        Func::StringSplit,
        Func::Uuid,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Func::Format => "States.Format",
            Func::StringToJson => "States.StringToJson",
            Func::JsonToString => "States.JsonToString",
            Func::Array => "States.Array",
            Func::ArrayPartition => "States.ArrayPartition",
            Func::ArrayContains => "States.ArrayContains",
            Func::ArrayRange => "States.ArrayRange",
            Func::ArrayGetItem => "States.ArrayGetItem",
            Func::ArrayLength => "States.ArrayLength",
            Func::ArrayUnique => "States.ArrayUnique",
            Func::Base64Encode => "States.Base64Encode",
            Func::Base64Decode => "States.Base64Decode",
            Func::Hash => "States.Hash",
            Func::JsonMerge => "States.JsonMerge",
            Func::MathRandom => "States.MathRandom",
            Func::MathAdd => "States.MathAdd",
            Func::StringSplit => "States.StringSplit",
            Func::Uuid => "States.UUID",
        }
    }

    /// What a literal argument at `index` must be, where the type is fixed.
    fn literal_kind(self, index: usize) -> Option<LiteralKind> {
        use LiteralKind::*;
        match (self, index) {
            (Func::MathAdd, 0 | 1) | (Func::MathRandom, _) | (Func::ArrayRange, _) => Some(Number),
            (Func::ArrayPartition | Func::ArrayGetItem, 1) => Some(Number),
            (Func::Format, 0) | (Func::StringToJson | Func::Base64Encode | Func::Base64Decode, 0) => Some(String),
            (Func::StringSplit, _) | (Func::Hash, 1) => Some(String),
            _ => None,
        }
    }

    /// (min, max) argument counts; `None` max means variadic.
    fn arity(self) -> (usize, Option<usize>) {
        match self {
            Func::Format => (1, None),
            Func::Array => (0, None),
            Func::StringToJson
            | Func::JsonToString
            | Func::ArrayLength
            | Func::ArrayUnique
            | Func::Base64Encode
            | Func::Base64Decode => (1, Some(1)),
            Func::ArrayPartition
            | Func::ArrayContains
            | Func::ArrayGetItem
            | Func::Hash
            | Func::MathAdd
            | Func::StringSplit => (2, Some(2)),
            Func::ArrayRange | Func::JsonMerge => (3, Some(3)),
            Func::MathRandom => (2, Some(3)),
            Func::Uuid => (0, Some(0)),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum LiteralKind {
    Number,
    String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    Literal(Value),
    Path(JsonPath),
    Call(Box<Call>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub func: Func,
    pub args: Vec<Arg>,
    /// `States.Format` with a literal template, split at compile time.
    format: Option<Vec<FormatPart>>,
}

/// A piece of a `States.Format` template.
#[derive(Debug, Clone, PartialEq)]
enum FormatPart {
    Text(String),
    Placeholder,
}

/// Split a template at its `{}` placeholders, unescaping `\{` and `\}`.
fn split_format(template: &str) -> Vec<FormatPart> {
    let mut parts = Vec::new();
    let mut text = String::new();
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if matches!(chars.peek(), Some('{' | '}')) => {
                if let Some(e) = chars.next() {
                    text.push(e);
                }
            }
            '{' if chars.peek() == Some(&'}') => {
                chars.next();
                if !text.is_empty() {
                    parts.push(FormatPart::Text(std::mem::take(&mut text)));
                }
                parts.push(FormatPart::Placeholder);
            }
            c => text.push(c),
        }
    }
    if !text.is_empty() {
        parts.push(FormatPart::Text(text));
    }
    parts
}

/// Does this string look like an intrinsic call (as opposed to a path)?
pub fn looks_like_call(s: &str) -> bool {
    s.starts_with("States.")
}

impl Call {
    pub fn parse(src: &str) -> Result<Call, PathSyntaxError> {
        let mut p = CallParser { s: src, i: 0, depth: 0 };
        let call = p.call()?;
        p.ws();
        if p.i != src.len() {
            return Err(p.err("unexpected characters after the call"));
        }
        Ok(call)
    }

    /// Every path the call reads, for validation of roots.
    pub fn paths(&self) -> Vec<&JsonPath> {
        let mut out = Vec::new();
        for a in &self.args {
            match a {
                Arg::Path(p) => out.push(p),
                Arg::Call(c) => out.extend(c.paths()),
                Arg::Literal(_) => {}
            }
        }
        out
    }

    /// What it holds on the heap: its arguments (a path inline in its
    /// argument, a nested call boxed) and their paths' parts
    /// ([`JsonPath::heap_bytes`]).
    pub fn heap_bytes(&self) -> usize {
        self.args.len() * size_of::<Arg>()
            + self
                .args
                .iter()
                .map(|a| match a {
                    Arg::Literal(_) => 0,
                    Arg::Path(p) => p.heap_bytes(),
                    Arg::Call(c) => size_of::<Call>() + c.heap_bytes(),
                })
                .sum::<usize>()
    }

    /// The call with each path replaced by what `rewrite` makes of it;
    /// `None` if `rewrite` refuses one.
    pub fn with_paths(&self, rewrite: &mut dyn FnMut(&JsonPath) -> Option<JsonPath>) -> Option<Call> {
        let mut args = Vec::with_capacity(self.args.len());
        for a in &self.args {
            args.push(match a {
                Arg::Literal(v) => Arg::Literal(v.clone()),
                Arg::Path(p) => Arg::Path(rewrite(p)?),
                Arg::Call(c) => Arg::Call(Box::new(c.with_paths(rewrite)?)),
            });
        }
        Some(Call { func: self.func, args, format: self.format.clone() })
    }

    /// Whether the call, or one within it, draws on the execution's random
    /// source (`States.MathRandom` even with a seed).
    pub fn draws_random(&self) -> bool {
        matches!(self.func, Func::MathRandom | Func::Uuid)
            || self.args.iter().any(|a| matches!(a, Arg::Call(c) if c.draws_random()))
    }
}

/// The deepest nesting of calls in calls the parser accepts: parsing,
/// evaluating and dropping a call all recurse, and a stack overflow cannot
/// be caught. Real definitions nest a handful deep.
pub const MAX_NESTING: usize = 100;

struct CallParser<'a> {
    s: &'a str,
    i: usize,
    /// Calls being parsed, the one at hand included.
    depth: usize,
}

impl CallParser<'_> {
    fn err(&self, what: &str) -> PathSyntaxError {
        PathSyntaxError { message: format!("{what} at offset {} in '{}'", self.i, self.s) }
    }

    fn rest(&self) -> &str {
        &self.s[self.i..]
    }

    fn ws(&mut self) {
        while self.rest().starts_with([' ', '\t', '\n']) {
            self.i += 1;
        }
    }

    fn call(&mut self) -> Result<Call, PathSyntaxError> {
        if self.depth >= MAX_NESTING {
            return Err(self.err(&format!("intrinsic functions nested more than {MAX_NESTING} deep")));
        }
        self.depth += 1;
        let call = self.call_inner();
        self.depth -= 1;
        call
    }

    fn call_inner(&mut self) -> Result<Call, PathSyntaxError> {
        self.ws();
        let name_len =
            self.rest().find(|c: char| !(c.is_ascii_alphanumeric() || c == '.')).unwrap_or(self.rest().len());
        let name = &self.rest()[..name_len];
        let func = Func::ALL
            .into_iter()
            .find(|f| f.name() == name)
            .ok_or_else(|| self.err(&format!("unknown intrinsic function '{name}'")))?;
        self.i += name_len;
        self.ws();
        if !self.rest().starts_with('(') {
            return Err(self.err("expected '('"));
        }
        self.i += 1;
        let mut args = Vec::new();
        self.ws();
        if self.rest().starts_with(')') {
            self.i += 1;
        } else {
            loop {
                args.push(self.arg()?);
                self.ws();
                if self.rest().starts_with(',') {
                    self.i += 1;
                } else if self.rest().starts_with(')') {
                    self.i += 1;
                    break;
                } else {
                    return Err(self.err("expected ',' or ')'"));
                }
            }
        }
        for (i, a) in args.iter().enumerate() {
            if let Some(expected) = func.literal_kind(i)
                && let Arg::Literal(v) = a
            {
                let ok = match expected {
                    LiteralKind::Number => v.is_number(),
                    LiteralKind::String => v.is_string(),
                };
                if !ok {
                    return Err(PathSyntaxError {
                        message: format!(
                            "argument {} of {} must be a {expected:?} or a path, got {v}",
                            i + 1,
                            func.name()
                        ),
                    });
                }
            }
        }
        let (min, max) = func.arity();
        if args.len() < min || max.is_some_and(|m| args.len() > m) {
            return Err(PathSyntaxError {
                message: format!(
                    "{} takes {} argument(s), got {}",
                    func.name(),
                    match max {
                        Some(m) if m == min => m.to_string(),
                        Some(m) => format!("{min} to {m}"),
                        None => format!("at least {min}"),
                    },
                    args.len()
                ),
            });
        }
        let format = match (func, args.first()) {
            (Func::Format, Some(Arg::Literal(Value::String(t)))) => {
                let parts = split_format(t);
                let placeholders = parts.iter().filter(|p| **p == FormatPart::Placeholder).count();
                if placeholders != args.len() - 1 {
                    return Err(PathSyntaxError {
                        message: format!(
                            "States.Format has {placeholders} placeholder(s) but {} argument(s) to fill them",
                            args.len() - 1
                        ),
                    });
                }
                Some(parts)
            }
            _ => None,
        };
        Ok(Call { func, args, format })
    }

    fn arg(&mut self) -> Result<Arg, PathSyntaxError> {
        self.ws();
        let rest = self.rest();
        if rest.starts_with('\'') {
            return self.string().map(|s| Arg::Literal(Value::from(s)));
        }
        if rest.starts_with("States.") {
            return Ok(Arg::Call(Box::new(self.call()?)));
        }
        if rest.starts_with('$') {
            // A path runs to the next top-level ',' or ')'; brackets may hold either.
            let mut depth = 0usize;
            let mut quote = None;
            let mut end = rest.len();
            for (k, c) in rest.char_indices() {
                match (quote, c) {
                    (Some(q), c) if c == q => quote = None,
                    (Some(_), _) => {}
                    (None, '\'' | '"') => quote = Some(c),
                    (None, '[' | '(') => depth += 1,
                    (None, ']') => depth = depth.saturating_sub(1),
                    (None, ')') if depth > 0 => depth -= 1,
                    (None, ',' | ')' | ' ') if depth == 0 => {
                        end = k;
                        break;
                    }
                    _ => {}
                }
            }
            let path = JsonPath::parse(&rest[..end])?;
            self.i += end;
            return Ok(Arg::Path(path));
        }
        for (word, v) in [("true", Value::Bool(true)), ("false", Value::Bool(false)), ("null", Value::Null)] {
            if rest.starts_with(word) {
                self.i += word.len();
                return Ok(Arg::Literal(v));
            }
        }
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E')))
            .unwrap_or(rest.len());
        if end > 0 {
            let n = crate::value::from_str(&rest[..end])
                .ok()
                .filter(Value::is_number)
                .ok_or_else(|| self.err("bad number"))?;
            self.i += end;
            return Ok(Arg::Literal(n));
        }
        Err(self.err("expected an argument"))
    }

    fn string(&mut self) -> Result<String, PathSyntaxError> {
        self.i += 1;
        let mut out = String::new();
        let mut chars = self.rest().char_indices();
        while let Some((k, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    // `\{` and `\}` stay escaped so that Format can tell them
                    // from placeholders; everything else loses its backslash.
                    Some((_, e @ ('{' | '}'))) => {
                        out.push('\\');
                        out.push(e);
                    }
                    Some((_, e)) => out.push(e),
                    None => break,
                },
                '\'' => {
                    self.i += k + 1;
                    return Ok(out);
                }
                c => out.push(c),
            }
        }
        Err(self.err("unterminated string literal"))
    }
}

/// What an intrinsic needs from the VM besides its arguments.
pub trait IntrinsicEnv {
    fn resolve(&self, path: &JsonPath) -> Result<Value, String>;
    /// [`IntrinsicEnv::resolve`] without copying where the value can be
    /// borrowed (a `States.Format` argument is only read).
    fn resolve_borrowed(&self, path: &JsonPath) -> Result<std::borrow::Cow<'_, Value>, String> {
        self.resolve(path).map(std::borrow::Cow::Owned)
    }
    fn uuid(&mut self) -> String;
    fn random(&mut self) -> u64;
    /// Count `bytes` read or written against the execution's work
    /// ([`crate::vm::WORK_PER_EXECUTION`]); nothing where none is kept.
    fn charge(&mut self, bytes: usize) {
        let _ = bytes;
    }
    /// Whether the execution's work is spent: a function doing more than
    /// linear work stops early, its execution about to be timed out.
    fn out_of_work(&self) -> bool {
        false
    }
}

/// Bytes of work charged per item compared ([`crate::vm::BYTES_PER_STEP`]
/// make a step): eight comparisons a step, as JSONata's built-ins charge.
const BYTES_PER_COMPARISON: usize = 2;

/// `States.IntrinsicFailure` cause text.
pub type Failure = String;

pub fn eval(call: &Call, env: &mut dyn IntrinsicEnv) -> Result<Value, Failure> {
    eval_measured(call, env).map(|(v, _)| v)
}

/// [`eval`], with the result's measure where it keeps the payload bounds
/// (its caller need not measure it again).
pub fn eval_measured(call: &Call, env: &mut dyn IntrinsicEnv) -> Result<(Value, Option<Measure>), Failure> {
    if let Some(parts) = &call.format {
        // A string at most the payload limit long (see `format_fits`);
        // escaped it may be longer, which its caller refuses.
        let v = format_parts(parts, &call.args[1..], env)?;
        let m = crate::bounds::scalar(&v).filter(|m| m.fits());
        env.charge(v.as_str().map_or(0, str::len));
        return Ok((v, m));
    }
    let mut args = Vec::with_capacity(call.args.len());
    for a in &call.args {
        args.push(match a {
            Arg::Literal(v) => v.clone(),
            Arg::Path(p) => env.resolve(p)?,
            Arg::Call(c) => eval(c, env)?,
        });
    }
    // Strings are read whole (hashed, encoded, split, parsed); the result
    // is written whole.
    let read: usize = args.iter().map(|a| a.as_str().map_or(0, str::len)).sum();
    let v = apply(call.func, args, env)?;
    // Nested calls build on each other's results: each must be a payload
    // in its own right, so none can grow past one.
    let (v, m) = bounded(call.func, v)?;
    env.charge(read + m.bytes);
    Ok((v, Some(m)))
}

/// `v` and its measure, if it keeps the payload bounds ([`crate::bounds`]).
fn bounded(func: Func, v: Value) -> Result<(Value, Measure), Failure> {
    match crate::bounds::check(&v) {
        Ok(m) => Ok((v, m)),
        Err(crate::bounds::Exceeded::Size) => Err(bad(
            func,
            &format!("the result exceeds the maximum payload size of {} bytes", crate::bounds::MAX_PAYLOAD_BYTES),
        )),
        Err(crate::bounds::Exceeded::Depth) => Err(bad(
            func,
            &format!("the result is nested deeper than the maximum of {} levels", crate::bounds::MAX_DEPTH),
        )),
    }
}

/// Fail before a `States.Format` result grows past the payload limit.
fn format_fits(out: &str) -> Result<(), Failure> {
    if out.len() > crate::bounds::MAX_PAYLOAD_BYTES {
        return Err(bad(
            Func::Format,
            &format!("the result exceeds the maximum payload size of {} bytes", crate::bounds::MAX_PAYLOAD_BYTES),
        ));
    }
    Ok(())
}

fn bad(func: Func, what: &str) -> Failure {
    format!("Invalid arguments in {}: {what}", func.name())
}

fn as_str(func: Func, v: &Value) -> Result<String, Failure> {
    match v {
        Value::String(s) => Ok(s.to_string()),
        other => Err(bad(func, &format!("expected a string, got {other}"))),
    }
}

/// 2^63: whole floats below it (and at or above its negation) fit an i64.
const TWO_TO_63: f64 = 9_223_372_036_854_775_808.0;

fn as_int(func: Func, v: &Value) -> Result<i64, Failure> {
    match v {
        Value::Number(n) => n
            .as_i64()
            // Whole and within i64 only: `as` would saturate 1e20 to i64::MAX.
            .or_else(|| {
                n.as_f64().filter(|f| f.fract() == 0.0 && (-TWO_TO_63..TWO_TO_63).contains(f)).map(|f| f as i64)
            })
            .ok_or_else(|| bad(func, &format!("expected an integer, got {n}"))),
        Value::String(s) => s.trim().parse().map_err(|_| bad(func, &format!("expected an integer, got '{s}'"))),
        other => Err(bad(func, &format!("expected an integer, got {other}"))),
    }
}

/// Java's `Math.round`: floor(x + 0.5).
fn java_round(v: &Value, func: Func) -> Result<i64, Failure> {
    match v {
        Value::Number(n) => match n.as_i64() {
            Some(i) => Ok(i),
            None => Ok((n.as_f64().unwrap_or(0.0) + 0.5).floor() as i64),
        },
        other => Err(bad(func, &format!("expected a number, got {other}"))),
    }
}

fn apply(func: Func, args: Vec<Value>, env: &mut dyn IntrinsicEnv) -> Result<Value, Failure> {
    Ok(match func {
        Func::Format => {
            let template = as_str(func, &args[0])?;
            format_template(&template, &args[1..])?
        }
        Func::StringToJson => {
            let s = as_str(func, &args[0])?;
            if s.trim().is_empty() {
                return Ok(Value::Null);
            }
            crate::value::from_str(&s).map_err(|e| bad(func, &format!("invalid JSON: {e}")))?
        }
        Func::JsonToString => Value::from(args[0].to_json()),
        Func::Array => Value::array(args),
        Func::ArrayPartition => {
            let Value::Array(a) = &args[0] else {
                return Err(bad(func, "the first argument must be an array"));
            };
            let size = as_int(func, &args[1])?;
            if size <= 0 {
                return Err(bad(func, "the chunk size must be greater than 0"));
            }
            Value::array(a.chunks(size as usize).map(|c| Value::array(c.to_vec())).collect())
        }
        Func::ArrayContains => {
            let Value::Array(a) = &args[0] else {
                return Err(bad(func, "the first argument must be an array"));
            };
            env.charge(a.len().saturating_mul(BYTES_PER_COMPARISON));
            Value::Bool(a.iter().any(|x| json_eq(x, &args[1])))
        }
        Func::ArrayRange => {
            let (start, end, step) = (as_int(func, &args[0])?, as_int(func, &args[1])?, as_int(func, &args[2])?);
            if step == 0 {
                return Err(bad(func, "the step must not be 0"));
            }
            let mut out = Vec::new();
            let mut i = start;
            while (step > 0 && i <= end) || (step < 0 && i >= end) {
                out.push(Value::from(i));
                if out.len() > 1000 {
                    return Err(bad(func, "the range exceeds 1000 items"));
                }
                match i.checked_add(step) {
                    Some(next) => i = next,
                    None => break,
                }
            }
            Value::array(out)
        }
        Func::ArrayGetItem => {
            let Value::Array(a) = &args[0] else {
                return Err(bad(func, "the first argument must be an array"));
            };
            let idx = as_int(func, &args[1])?;
            usize::try_from(idx)
                .ok()
                .and_then(|i| a.get(i))
                .cloned()
                .ok_or_else(|| bad(func, &format!("index {idx} out of bounds")))?
        }
        Func::ArrayLength => match &args[0] {
            Value::Array(a) => Value::from(a.len()),
            _ => return Err(bad(func, "the argument must be an array")),
        },
        Func::ArrayUnique => match &args[0] {
            Value::Array(a) => Value::array(unique(a, env)),
            _ => return Err(bad(func, "the argument must be an array")),
        },
        Func::Base64Encode => {
            let s = as_str(func, &args[0])?;
            Value::from(base64::engine::general_purpose::STANDARD.encode(s.as_bytes()))
        }
        Func::Base64Decode => {
            let s = as_str(func, &args[0])?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(s.as_bytes())
                .map_err(|e| bad(func, &format!("invalid base64: {e}")))?;
            Value::from(String::from_utf8_lossy(&bytes).into_owned())
        }
        Func::Hash => {
            let data = match &args[0] {
                Value::String(s) => s.to_string(),
                other => {
                    let text = other.to_json();
                    env.charge(text.len());
                    text
                }
            };
            let algo = as_str(func, &args[1])?;
            Value::from(hash(&algo, data.as_bytes()).ok_or_else(|| {
                bad(func, &format!("unsupported hash algorithm '{algo}' (MD5, SHA-1, SHA-256, SHA-384, SHA-512)"))
            })?)
        }
        Func::JsonMerge => {
            let (Value::Object(a), Value::Object(b)) = (&args[0], &args[1]) else {
                return Err(bad(func, "both values to merge must be objects"));
            };
            if args[2] != Value::Bool(false) {
                return Err(bad(func, "deep merge is not supported: the third argument must be false"));
            }
            let mut out: Object = (**a).clone();
            out.extend_replacing(b.iter().map(|(k, v)| (k.clone(), v.clone())));
            Value::object(out)
        }
        Func::MathRandom => {
            let (start, end) = (as_int(func, &args[0])?, as_int(func, &args[1])?);
            if end <= start {
                return Err(bad(func, "the end must be greater than the start"));
            }
            let span = end.checked_sub(start).ok_or_else(|| bad(func, "the range is too large"))? as u64;
            let r = match args.get(2) {
                Some(seed) => {
                    let mut s = as_int(func, seed)? as u64;
                    splitmix64(&mut s)
                }
                None => env.random(),
            };
            Value::from(start + (r % span) as i64)
        }
        Func::MathAdd => Value::from(
            java_round(&args[0], func)?
                .checked_add(java_round(&args[1], func)?)
                .ok_or_else(|| bad(func, "the sum is out of range"))?,
        ),
        Func::StringSplit => {
            let s = as_str(func, &args[0])?;
            let delims = as_str(func, &args[1])?;
            Value::array(s.split(|c| delims.contains(c)).filter(|p| !p.is_empty()).map(Value::from).collect())
        }
        Func::Uuid => Value::from(env.uuid()),
    })
}

/// `States.ArrayUnique`: each item not equal to one before it, in order.
/// Scalars are found in a hash set (a payload of distinct numbers was
/// quadratic); arrays and objects are compared with each one kept, each
/// comparison charged, stopping once the execution's work is spent.
fn unique(items: &[Value], env: &mut dyn IntrinsicEnv) -> Vec<Value> {
    /// A scalar as `json_eq` compares it: numbers by their double.
    #[derive(PartialEq, Eq, Hash)]
    enum Scalar<'a> {
        Null,
        Bool(bool),
        Number(u64),
        String(&'a str),
    }
    fn scalar(v: &Value) -> Option<Scalar<'_>> {
        Some(match v {
            Value::Null => Scalar::Null,
            Value::Bool(b) => Scalar::Bool(*b),
            // 0.0 and -0.0 are equal doubles; JSON has no NaN.
            Value::Number(n) => Scalar::Number(n.as_f64().map_or(0, |f| if f == 0.0 { 0 } else { f.to_bits() })),
            Value::String(s) => Scalar::String(s),
            _ => return None,
        })
    }
    let mut seen = std::collections::HashSet::new();
    let mut containers: Vec<&Value> = Vec::new();
    let mut out = Vec::new();
    env.charge(items.len().saturating_mul(BYTES_PER_COMPARISON));
    for x in items {
        let first = match scalar(x) {
            Some(key) => seen.insert(key),
            None => {
                env.charge(containers.len().saturating_mul(BYTES_PER_COMPARISON));
                if env.out_of_work() {
                    break;
                }
                let first = !containers.iter().any(|y| json_eq(x, y));
                if first {
                    containers.push(x);
                }
                first
            }
        };
        if first {
            out.push(x.clone());
        }
    }
    out
}

fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// `States.Format` with a template split at compile time: arguments are
/// evaluated straight into the output.
fn format_parts(parts: &[FormatPart], args: &[Arg], env: &mut dyn IntrinsicEnv) -> Result<Value, Failure> {
    crate::value::text_in_scratch(|out| format_into(parts, args, env, out)).map(Value::String)
}

// Inlined into `format_parts`: left to itself, LLVM stopped inlining it at
// 06cf70c, and machine (b) ran 1.8% more instructions (`benches/instructions.sh`).
#[inline]
fn format_into(
    parts: &[FormatPart],
    args: &[Arg],
    env: &mut dyn IntrinsicEnv,
    out: &mut String,
) -> Result<(), Failure> {
    let mut next = args.iter();
    for part in parts {
        match part {
            FormatPart::Text(t) => out.push_str(t),
            FormatPart::Placeholder => {
                let arg = next.next().ok_or_else(|| {
                    bad(Func::Format, "the number of arguments does not match the number of placeholders")
                })?;
                let v = match arg {
                    Arg::Literal(v) => std::borrow::Cow::Borrowed(v),
                    Arg::Path(p) => env.resolve_borrowed(p)?,
                    Arg::Call(c) => std::borrow::Cow::Owned(eval(c, env)?),
                };
                match v.as_ref() {
                    Value::String(s) => out.push_str(s),
                    other => java_to_string(other, out),
                }
                // Each argument is a bounded payload: checked once per
                // argument, the text is never more than twice the limit.
                format_fits(out)?;
            }
        }
    }
    Ok(())
}

/// `States.Format` whose template came from a path: split it now.
fn format_template(template: &str, args: &[Value]) -> Result<Value, Failure> {
    let parts = split_format(template);
    if parts.iter().filter(|p| **p == FormatPart::Placeholder).count() != args.len() {
        return Err(bad(Func::Format, "the number of arguments does not match the number of placeholders"));
    }
    let mut out = String::with_capacity(template.len() + 16);
    let mut next = args.iter();
    for part in &parts {
        match part {
            FormatPart::Text(t) => out.push_str(t),
            FormatPart::Placeholder => {
                match next.next() {
                    Some(Value::String(s)) => out.push_str(s),
                    Some(other) => java_to_string(other, &mut out),
                    None => {}
                }
                format_fits(&out)?;
            }
        }
    }
    Ok(Value::from(out))
}

/// How Java's `toString` renders parsed JSON (`{a=1, b=[x, y]}`), which is
/// what AWS's `States.Format` prints for objects and arrays.
fn java_to_string(v: &Value, out: &mut String) {
    match v {
        Value::Object(o) => {
            out.push('{');
            for (n, (k, x)) in o.iter().enumerate() {
                if n > 0 {
                    out.push_str(", ");
                }
                out.push_str(k);
                out.push('=');
                java_to_string(x, out);
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (n, x) in a.iter().enumerate() {
                if n > 0 {
                    out.push_str(", ");
                }
                java_to_string(x, out);
            }
            out.push(']');
        }
        Value::String(s) => out.push_str(s),
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => out.push_str(itoa::Buffer::new().format(u)),
            (None, Some(i)) => out.push_str(itoa::Buffer::new().format(i)),
            _ => {
                let _ = write!(out, "{n}");
            }
        },
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Null => out.push_str("null"),
    }
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

pub(crate) fn hash(algo: &str, data: &[u8]) -> Option<String> {
    use sha2::Digest as _;
    Some(match algo {
        "MD5" => hex(&md5::Md5::digest(data)),
        "SHA-1" => hex(&sha1::Sha1::digest(data)),
        "SHA-256" => hex(&sha2::Sha256::digest(data)),
        "SHA-384" => hex(&sha2::Sha384::digest(data)),
        "SHA-512" => hex(&sha2::Sha512::digest(data)),
        _ => return None,
    })
}

/// SplitMix64: the small, well-distributed generator behind seeded
/// `MathRandom`, UUIDs and retry jitter. Reproducible from its seed.
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A version-4 UUID from 128 random bits.
pub fn uuid_v4(hi: u64, lo: u64) -> String {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&hi.to_be_bytes());
    b[8..].copy_from_slice(&lo.to_be_bytes());
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex(&b);
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct Env(Value, u64);
    type Json = serde_json::Value;
    impl IntrinsicEnv for Env {
        fn resolve(&self, p: &JsonPath) -> Result<Value, String> {
            p.select(&self.0).map_err(|m| m.rendered)
        }
        fn uuid(&mut self) -> String {
            let (a, b) = (self.random(), self.random());
            uuid_v4(a, b)
        }
        fn random(&mut self) -> u64 {
            splitmix64(&mut self.1)
        }
    }

    fn run(src: &str, input: Json) -> Result<Json, Failure> {
        eval(&Call::parse(src).unwrap(), &mut Env(Value::from(input), 7)).map(Json::from)
    }

    #[test]
    fn format_renders_like_java() {
        assert_eq!(
            run("States.Format('a={} b={}', $.a, $.b)", json!({"a": "x", "b": {"k": [1, 2]}})).unwrap(),
            json!("a=x b={k=[1, 2]}")
        );
        assert_eq!(run("States.Format('\\{\\} {}', null)", json!({})).unwrap(), json!("{} null"));
        assert!(Call::parse("States.Format('{} {}', 1)").is_err(), "placeholder count is checked at compile time");
        assert!(run("States.Format($.t, 1)", json!({"t": "{} {}"})).is_err(), "and at run time for a template path");
    }

    #[test]
    fn math_add_rounds_half_up_like_java() {
        assert_eq!(run("States.MathAdd(1.5, 0)", json!({})).unwrap(), json!(2));
        assert_eq!(run("States.MathAdd(-1.5, 0)", json!({})).unwrap(), json!(-1));
        assert_eq!(run("States.MathAdd(-1.51, 0)", json!({})).unwrap(), json!(-2));
        assert_eq!(run("States.MathAdd($.a, -1)", json!({"a": 5})).unwrap(), json!(4));
    }

    #[test]
    fn arrays() {
        assert_eq!(
            run("States.ArrayPartition(States.Array(1,2,3,4,5), 2)", json!({})).unwrap(),
            json!([[1, 2], [3, 4], [5]])
        );
        assert_eq!(run("States.ArrayRange(0, 10, 3)", json!({})).unwrap(), json!([0, 3, 6, 9]));
        assert_eq!(run("States.ArrayRange(5, 1, -2)", json!({})).unwrap(), json!([5, 3, 1]));
        // Past i64 is not an integer here: it saturated to [0, 9223372036854775807].
        for huge in ["States.ArrayRange(0, 1e20, 1e19)", "States.ArrayRange(0, 1e308, 1e307)"] {
            let e = run(huge, json!({})).expect_err(huge);
            assert!(e.to_string().contains("expected an integer"), "{huge}: {e}");
        }
        assert_eq!(run("States.ArrayUnique($)", json!([1, 2, 2, 1.0])).unwrap(), json!([1, 2]));
        assert_eq!(
            run("States.ArrayUnique($)", json!([0, {"a": 1}, "0", -0.0, [1], {"a": 1}, null, false, null, [1], "0"]))
                .unwrap(),
            json!([0, {"a": 1}, "0", [1], null, false])
        );
        assert_eq!(run("States.ArrayContains($, 2)", json!([1, 2])).unwrap(), json!(true));
        assert_eq!(run("States.ArrayGetItem($, 1)", json!([1, 2])).unwrap(), json!(2));
        assert_eq!(run("States.ArrayLength($)", json!([1, 2])).unwrap(), json!(2));
        assert!(run("States.ArrayGetItem($, 5)", json!([1])).is_err());
    }

    #[test]
    fn strings_and_encodings() {
        assert_eq!(run("States.StringSplit(', , ,', ',')", json!({})).unwrap(), json!([" ", " "]));
        assert_eq!(run("States.Base64Encode('Hello World')", json!({})).unwrap(), json!("SGVsbG8gV29ybGQ="));
        assert_eq!(run("States.Base64Decode('SGVsbG8gV29ybGQ=')", json!({})).unwrap(), json!("Hello World"));
        assert_eq!(
            run("States.Hash('input data', 'SHA-1')", json!({})).unwrap(),
            json!("aaff4a450a104cd177d28d18d74485e8cae074b7")
        );
        assert_eq!(run("States.StringToJson('{\"a\": 1}')", json!({})).unwrap(), json!({"a": 1}));
        assert_eq!(run("States.JsonToString($)", json!({"a": [1]})).unwrap(), json!("{\"a\":[1]}"));
        assert_eq!(
            run("States.JsonMerge($.a, $.b, false)", json!({"a": {"x": 1, "y": 1}, "b": {"y": 2}})).unwrap(),
            json!({"x": 1, "y": 2})
        );
    }

    #[test]
    fn random_and_uuid_are_reproducible() {
        let a = run("States.MathRandom(1, 10, 42)", json!({})).unwrap();
        assert_eq!(a, run("States.MathRandom(1, 10, 42)", json!({})).unwrap());
        let n = a.as_i64().unwrap();
        assert!((1..10).contains(&n));
        let u = run("States.UUID()", json!({})).unwrap();
        let u = u.as_str().unwrap();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
    }

    #[test]
    fn parse_errors() {
        for bad in ["States.Nope(1)", "States.Format(", "States.UUID(1)", "States.MathAdd(1)", "States.Array('x)"] {
            assert!(Call::parse(bad).is_err(), "{bad}");
        }
    }
}
