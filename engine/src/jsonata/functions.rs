//! The JSONata function library, plus the functions Step Functions adds
//! (`$partition`, `$range`, `$hash`, `$random(seed)`, `$uuid`, `$parse`).
//! Each is registered with its signature; arguments arrive validated.

use super::Error;
use super::eval::{Evaluator, Scope, boolean};
use super::format;
use super::signature::Signature;
use super::value::{Arr, Obj, V, deep_equal, js_number, obj_get, stringify};
use crate::value::{Key, utf16_order};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::{Arc, OnceLock};

type R = Result<V, Error>;
type Imp = for<'e> fn(&mut Evaluator<'e>, &[V], &V, &Rc<Scope>) -> R;

pub struct Builtin {
    pub name: &'static str,
    pub signature: Signature,
    pub arity: usize,
    pub imp: Imp,
}

impl std::fmt::Debug for Builtin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "${}", self.name)
    }
}

const TABLE: &[(&str, &str, Imp)] = &[
    ("sum", "<a<n>:n>", sum),
    ("count", "<a:n>", count),
    ("max", "<a<n>:n>", max),
    ("min", "<a<n>:n>", min),
    ("average", "<a<n>:n>", average),
    ("string", "<x-b?:s>", string_fn),
    ("substring", "<s-nn?:s>", substring),
    ("substringBefore", "<s-s:s>", substring_before),
    ("substringAfter", "<s-s:s>", substring_after),
    ("lowercase", "<s-:s>", lowercase),
    ("uppercase", "<s-:s>", uppercase),
    ("length", "<s-:n>", length),
    ("trim", "<s-:s>", trim),
    ("pad", "<s-ns?:s>", pad),
    ("match", "<s-f<s:o>n?:a<o>>", match_fn),
    ("contains", "<s-(sf):b>", contains),
    ("replace", "<s-(sf)(sf)n?:s>", replace),
    ("split", "<s-(sf)n?:a<s>>", split),
    ("join", "<a<s>s?:s>", join),
    ("formatNumber", "<n-so?:s>", format::format_number),
    ("formatBase", "<n-n?:s>", format_base),
    ("formatInteger", "<n-s:s>", format::format_integer),
    ("parseInteger", "<s-s:n>", format::parse_integer),
    ("number", "<(nsb)-:n>", number),
    ("floor", "<n-:n>", floor),
    ("ceil", "<n-:n>", ceil),
    ("round", "<n-n?:n>", round),
    ("abs", "<n-:n>", abs),
    ("sqrt", "<n-:n>", sqrt),
    ("power", "<n-n:n>", power),
    ("random", "<n?:n>", random),
    ("boolean", "<x-:b>", boolean_fn),
    ("not", "<x-:b>", not),
    ("map", "<af>", map),
    ("zip", "<a+>", zip),
    ("filter", "<af>", filter),
    ("single", "<af?>", single),
    ("reduce", "<afj?:j>", reduce),
    ("sift", "<o-f?:o>", sift),
    ("keys", "<x-:a<s>>", keys),
    ("lookup", "<x-s:x>", lookup_fn),
    ("append", "<xx:a>", append_fn),
    ("exists", "<x:b>", exists),
    ("spread", "<x-:a<o>>", spread),
    ("merge", "<a<o>:o>", merge),
    ("reverse", "<a:a>", reverse),
    ("each", "<o-f:a>", each),
    ("error", "<s?:x>", error),
    ("assert", "<bs?:x>", assert),
    ("type", "<x:s>", type_fn),
    ("sort", "<af?:a>", sort),
    ("shuffle", "<a:a>", shuffle),
    ("distinct", "<x:x>", distinct),
    ("base64encode", "<s-:s>", base64_encode),
    ("base64decode", "<s-:s>", base64_decode),
    ("encodeUrlComponent", "<s-:s>", encode_url_component),
    ("encodeUrl", "<s-:s>", encode_url),
    ("decodeUrlComponent", "<s-:s>", decode_url_component),
    ("decodeUrl", "<s-:s>", decode_url),
    ("eval", "<sx?:x>", eval_fn),
    ("toMillis", "<s-s?:n>", format::to_millis),
    ("fromMillis", "<n-s?s?:s>", format::from_millis),
    ("clone", "<(oa)-:o>", clone),
    ("now", "<s?s?:s>", now),
    ("millis", "<:n>", millis),
    // Added by AWS Step Functions.
    ("partition", "<an:a>", partition),
    ("range", "<nnn?:a>", range),
    ("hash", "<s-s?:s>", hash),
    ("uuid", "<:s>", uuid),
    ("parse", "<s-:x>", parse),
];

fn table() -> &'static HashMap<&'static str, Builtin> {
    static BUILTINS: OnceLock<HashMap<&'static str, Builtin>> = OnceLock::new();
    BUILTINS.get_or_init(|| {
        TABLE
            .iter()
            .filter_map(|&(name, sig, imp)| {
                let signature = Signature::parse(sig).ok()?;
                // As JavaScript's `Function.length`: `$string`'s second
                // parameter has a default, so higher-order functions pass one.
                let arity = if name == "string" { 1 } else { signature.arity() };
                Some((name, Builtin { name, signature, arity, imp }))
            })
            .collect()
    })
}

pub fn lookup(name: &str) -> Option<&'static Builtin> {
    table().get(name)
}

fn arg(args: &[V], i: usize) -> &V {
    match args.get(i) {
        Some(v) => v,
        None => &V::Undef,
    }
}

fn text(s: impl Into<Arc<str>>) -> V {
    V::Str(s.into())
}

fn numbers(v: &V) -> Vec<f64> {
    v.to_items().iter().filter_map(|x| if let V::Num(n) = x { Some(*n) } else { None }).collect()
}

/// `fn.string` for the `&` operator and `$string`.
pub fn string(v: &V) -> Result<String, Error> {
    string_pretty(v, false)
}

fn string_pretty(v: &V, pretty: bool) -> Result<String, Error> {
    if let Some(digits) = whole_number_text(v, &mut itoa::Buffer::new()) {
        return Ok(digits.to_string());
    }
    Ok(match v {
        V::Str(s) => s.to_string(),
        V::Func(_) => String::new(),
        V::Num(n) if !n.is_finite() => {
            return Err(Error::eval("D3001", "Attempting to invoke string function on Infinity or NaN"));
        }
        V::Arr(a) if a.outer_wrapper && !a.items.is_empty() => return string_pretty(&a.items[0], pretty),
        v => {
            if has_infinity(v) {
                return Err(Error::eval("D1001", "Number out of range"));
            }
            stringify(v, if pretty { 2 } else { 0 })
        }
    })
}

/// The text `$string` gives a whole number below 10^15 (see
/// [`super::value::whole_number`]), without `stringify`'s buffers; `None`
/// for any other value.
pub fn whole_number_text<'b>(v: &V, buf: &'b mut itoa::Buffer) -> Option<&'b str> {
    match v {
        V::Num(n) => super::value::whole_number(*n, buf),
        _ => None,
    }
}

fn has_infinity(v: &V) -> bool {
    match v {
        V::Num(n) => !n.is_finite(),
        V::Arr(a) => a.items.iter().any(has_infinity),
        V::Obj(o) => o.iter().any(|(_, v)| has_infinity(v)),
        _ => false,
    }
}

/// `fn.append`: concatenate, making arrays of single values.
pub fn append(a: V, b: V) -> Result<V, Error> {
    Ok(match (a, b) {
        (V::Undef, b) => b,
        (a, V::Undef) => a,
        (a, b) => {
            let sequence = a.is_sequence();
            let extra = b.item_count().unwrap_or(1);
            // An array no one else holds gives up its items instead of
            // copying them: group-by appends item after item to one group,
            // which copying made quadratic.
            let mut items = match a {
                V::Arr(arr) => Rc::try_unwrap(arr).map_or_else(|shared| shared.items.clone(), |owned| owned.items),
                a => a.to_items(),
            };
            items_fit(items.len() + extra)?;
            items.extend(b.to_items());
            V::Arr(Rc::new(Arr { items, sequence, ..Arr::default() }))
        }
    })
}

fn sum(_: &mut Evaluator<'_>, args: &[V], _: &V, _: &Rc<Scope>) -> R {
    let a = arg(args, 0);
    if a.is_undef() {
        return Ok(V::Undef);
    }
    Ok(V::Num(numbers(a).iter().sum()))
}

fn count(_: &mut Evaluator<'_>, args: &[V], _: &V, _: &Rc<Scope>) -> R {
    Ok(V::Num(arg(args, 0).to_items().len() as f64))
}

fn max(_: &mut Evaluator<'_>, args: &[V], _: &V, _: &Rc<Scope>) -> R {
    let ns = numbers(arg(args, 0));
    Ok(ns.into_iter().reduce(f64::max).map_or(V::Undef, V::Num))
}

fn min(_: &mut Evaluator<'_>, args: &[V], _: &V, _: &Rc<Scope>) -> R {
    let ns = numbers(arg(args, 0));
    Ok(ns.into_iter().reduce(f64::min).map_or(V::Undef, V::Num))
}

fn average(_: &mut Evaluator<'_>, args: &[V], _: &V, _: &Rc<Scope>) -> R {
    let ns = numbers(arg(args, 0));
    if ns.is_empty() {
        return Ok(V::Undef);
    }
    Ok(V::Num(ns.iter().sum::<f64>() / ns.len() as f64))
}

fn string_fn(_: &mut Evaluator<'_>, args: &[V], _: &V, _: &Rc<Scope>) -> R {
    let v = arg(args, 0);
    if v.is_undef() {
        return Ok(V::Undef);
    }
    let pretty = matches!(arg(args, 1), V::Bool(true));
    // The text written is charged by every built-in's call
    // (`Evaluator::apply_inner`), at the rate intrinsics are charged.
    Ok(text(string_pretty(v, pretty)?))
}

fn js_slice(len: usize, start: f64, end: Option<f64>) -> (usize, usize) {
    let len_f = len as f64;
    let norm = |x: f64| {
        let x = x.trunc();
        if x < 0.0 { (len_f + x).max(0.0) } else { x.min(len_f) }
    };
    let s = norm(start);
    let e = end.map_or(len_f, norm);
    (s as usize, (e.max(s)) as usize)
}

fn substring(_: &mut Evaluator<'_>, args: &[V], _: &V, _: &Rc<Scope>) -> R {
    let V::Str(s) = arg(args, 0) else { return Ok(V::Undef) };
    let chars: Vec<char> = s.chars().collect();
    let len = chars.len() as f64;
    let mut start = arg(args, 1).num().unwrap_or(0.0);
    if len + start < 0.0 {
        start = 0.0;
    }
    let (a, b) = match arg(args, 2).num() {
        Some(length) => {
            if length <= 0.0 {
                return Ok(text(""));
            }
            let end = if start >= 0.0 { start + length } else { len + start + length };
            js_slice(chars.len(), start, Some(end))
        }
        None => js_slice(chars.len(), start, None),
    };
    Ok(text(chars[a..b].iter().collect::<String>()))
}

fn substring_before(_: &mut Evaluator<'_>, args: &[V], _: &V, _: &Rc<Scope>) -> R {
    let (V::Str(s), V::Str(c)) = (arg(args, 0), arg(args, 1)) else { return Ok(arg(args, 0).clone()) };
    Ok(match s.find(&**c) {
        Some(i) => text(&s[..i]),
        None => V::Str(s.clone()),
    })
}

fn substring_after(_: &mut Evaluator<'_>, args: &[V], _: &V, _: &Rc<Scope>) -> R {
    let (V::Str(s), V::Str(c)) = (arg(args, 0), arg(args, 1)) else { return Ok(arg(args, 0).clone()) };
    Ok(match s.find(&**c) {
        Some(i) => text(&s[i + c.len()..]),
        None => V::Str(s.clone()),
    })
}

fn lowercase(_: &mut Evaluator<'_>, args: &[V], _: &V, _: &Rc<Scope>) -> R {
    Ok(match arg(args, 0) {
        V::Str(s) => text(s.to_lowercase()),
        _ => V::Undef,
    })
}

fn uppercase(_: &mut Evaluator<'_>, args: &[V], _: &V, _: &Rc<Scope>) -> R {
    Ok(match arg(args, 0) {
        V::Str(s) => text(s.to_uppercase()),
        _ => V::Undef,
    })
}

fn length(_: &mut Evaluator<'_>, args: &[V], _: &V, _: &Rc<Scope>) -> R {
    Ok(match arg(args, 0) {
        V::Str(s) => V::Num(s.chars().count() as f64),
        _ => V::Undef,
    })
}

fn trim(_: &mut Evaluator<'_>, args: &[V], _: &V, _: &Rc<Scope>) -> R {
    let V::Str(s) = arg(args, 0) else { return Ok(V::Undef) };
    let mut out = String::with_capacity(s.len());
    let mut in_space = false;
    for c in s.chars() {
        if matches!(c, ' ' | '\t' | '\n' | '\r') {
            if !in_space {
                out.push(' ');
            }
            in_space = true;
        } else {
            out.push(c);
            in_space = false;
        }
    }
    let out = out.strip_prefix(' ').unwrap_or(&out);
    let out = out.strip_suffix(' ').unwrap_or(out);
    Ok(text(out))
}

/// The longest string JSONata may build: nothing longer can be a payload.
/// jsonata-js has no such bound (JavaScript throws a RangeError near 2^29
/// characters); it keeps one expression from asking for gigabytes.
pub const MAX_STRING_BYTES: usize = crate::bounds::MAX_PAYLOAD_BYTES;

/// The most items a sequence or array may hold: jsonata-js's bound on a
/// range (`D2014`), applied to every array an expression builds.
pub const MAX_ITEMS: usize = 10_000_000;

/// Our code for a value past those bounds (jsonata-js's `U` codes are its
/// own limits, `U1001` the stack).
pub const TOO_LARGE: &str = "U1002";

/// Fail unless a string of `len` bytes may be built.
pub fn string_fits(len: usize) -> Result<(), Error> {
    if len > MAX_STRING_BYTES {
        return Err(Error::eval(
            TOO_LARGE,
            format!("The string would be longer than the payload limit of {MAX_STRING_BYTES} bytes"),
        ));
    }
    Ok(())
}

/// `v`, unless it nests deeper than the engine's bound: checked where
/// objects and arrays are built, so that no value deeper than that exists
/// for a recursive helper (`$string`, `=`, drop) to overflow the stack on.
pub fn depth_fits(v: V, json: &mut JsonDepth<'_>) -> Result<V, Error> {
    if within_depth(&v, crate::bounds::MAX_DEPTH, json) {
        return Ok(v);
    }
    Err(Error::eval(
        TOO_LARGE,
        format!("The value would be nested deeper than the maximum of {} levels", crate::bounds::MAX_DEPTH),
    ))
}

/// What an evaluation knows of the nesting depth of the engine values
/// (`V::Json`) it holds: with an upper bound on all of them, a value built
/// of them is checked without walking them again (and again, as each
/// constructor around them checks its own value).
pub struct JsonDepth<'a> {
    bound: Option<usize>,
    /// Variables, measured only when a bound is first needed.
    unmeasured: Option<&'a crate::value::Value>,
}

impl<'a> JsonDepth<'a> {
    /// `bound`: one on every value the evaluation can read but `variables`
    /// (`None`: unknown).
    pub fn new(bound: Option<usize>, variables: Option<&'a crate::value::Value>) -> JsonDepth<'a> {
        JsonDepth { bound, unmeasured: variables }
    }

    /// Take in a value the evaluation can now read (a binding, a parsed one).
    pub fn include(&mut self, v: &crate::value::Value) {
        if let Some(d) = self.bound {
            self.bound = crate::bounds::check(v).ok().map(|m| d.max(m.depth));
        }
    }

    fn get(&mut self) -> Option<usize> {
        if let Some(vars) = self.unmeasured.take() {
            self.include(vars);
        }
        self.bound
    }
}

/// Does `v` nest at most `levels` deep? Recurses at most that far.
fn within_depth(v: &V, levels: usize, json: &mut JsonDepth<'_>) -> bool {
    match v {
        V::Arr(a) => levels > 0 && a.items.iter().all(|x| within_depth(x, levels - 1, json)),
        V::Obj(o) | V::Tuple(o) => levels > 0 && o.iter().all(|(_, x)| within_depth(x, levels - 1, json)),
        V::Json(j) => json.get().is_some_and(|d| d <= levels) || json_within_depth(j, levels),
        _ => true,
    }
}

fn json_within_depth(v: &crate::value::Value, levels: usize) -> bool {
    use crate::value::Value;
    match v {
        Value::Array(a) => levels > 0 && a.iter().all(|x| json_within_depth(x, levels - 1)),
        Value::Object(o) => levels > 0 && o.values().all(|x| json_within_depth(x, levels - 1)),
        _ => true,
    }
}

/// Fail unless an array of `n` items may be built.
pub fn items_fit(n: usize) -> Result<(), Error> {
    if n > MAX_ITEMS {
        return Err(Error::eval(TOO_LARGE, format!("The array would hold more than {MAX_ITEMS} items")));
    }
    Ok(())
}

fn pad(_: &mut Evaluator<'_>, args: &[V], _: &V, _: &Rc<Scope>) -> R {
    let V::Str(s) = arg(args, 0) else { return Ok(V::Undef) };
    let width = arg(args, 1).num().unwrap_or(0.0).trunc();
    let ch = match arg(args, 2) {
        V::Str(c) if !c.is_empty() => c.to_string(),
        _ => " ".to_string(),
    };
    let len = s.chars().count() as f64;
    let pad_len = width.abs() - len;
    if pad_len <= 0.0 {
        return Ok(V::Str(s.clone()));
    }
    // Checked before the padding is made: the width is the caller's.
    string_fits((s.len() as f64 + pad_len * ch.len() as f64).min(usize::MAX as f64) as usize)?;
    let padding: String = ch.chars().cycle().take(pad_len as usize).collect();
    Ok(text(if width > 0.0 { format!("{s}{padding}") } else { format!("{padding}{s}") }))
}

/// A regex called as a function (`/b/('abc')`): its first match as
/// jsonata-js's matcher gives it, `{match, start, end, groups}` (positions
/// in UTF-16 units); `$match` renames `start` to `index`.
pub fn regex_match(re: &regex::Regex, s: &str, from: usize) -> V {
    let Some(caps) = re.captures_at(s, from) else { return V::Undef };
    let Some(m) = caps.get(0) else { return V::Undef };
    matcher_result(&caps, m.as_str(), s[..m.start()].encode_utf16().count())
}

/// jsonata-js's matcher object for a match of `matched` at UTF-16 offset
/// `start`: `{match, start, end, groups}`.
fn matcher_result(caps: &regex::Captures<'_>, matched: &str, start: usize) -> V {
    let end = start + matched.encode_utf16().count();
    V::object(vec![
        (Key::from_static("match"), text(matched)),
        (Key::from_static("start"), V::Num(start as f64)),
        (Key::from_static("end"), V::Num(end as f64)),
        (Key::from_static("groups"), groups_of(caps)),
    ])
}

/// A match's capture groups; one that took no part in the match is
/// JavaScript's `undefined` there, written `null` (it had been `""`).
fn groups_of(caps: &regex::Captures<'_>) -> V {
    V::array((1..caps.len()).map(|i| caps.get(i).map_or(V::Null, |g| text(g.as_str()))).collect())
}

fn regex_of(v: &V) -> Option<Arc<regex::Regex>> {
    match v {
        V::Func(f) => match &**f {
            super::eval::Func::Regex(re) => Some(re.clone()),
            _ => None,
        },
        _ => None,
    }
}

fn limit_of(v: &V) -> Option<usize> {
    v.num().map(|n| n.max(0.0) as usize)
}

fn match_fn(ev: &mut Evaluator<'_>, args: &[V], input: &V, env: &Rc<Scope>) -> R {
    let V::Str(s) = arg(args, 0) else { return Ok(V::Undef) };
    if let Some(n) = arg(args, 2).num()
        && n < 0.0
    {
        return Err(Error::eval("D3040", "Third argument of match function must evaluate to a positive number"));
    }
    let limit = limit_of(arg(args, 2)).unwrap_or(usize::MAX);
    let mut out = Vec::new();
    match regex_of(arg(args, 1)) {
        Some(re) => {
            let mut index = Utf16Index::default();
            let mut matches = JsMatches::new(re, s);
            let mut next = if limit > 0 { matches.next(ev)? } else { None };
            while let Some(caps) = next.take()
                && out.len() < limit
            {
                let Some(m) = caps.get(0) else { break };
                out.push(V::object(vec![
                    (Key::from_static("match"), text(m.as_str())),
                    (Key::from_static("index"), V::Num(index.at(s, m.start()) as f64)),
                    (Key::from_static("groups"), groups_of(&caps)),
                ]));
                // jsonata-js asks for the next match before it counts this one.
                next = matches.next(ev)?;
            }
        }
        None => {
            // A user matcher function: call it repeatedly via `next`.
            let f = arg(args, 1).clone();
            let mut result = ev.apply(&f, vec![V::Str(s.clone())], input, env)?;
            while let V::Obj(o) = &result {
                if out.len() >= limit {
                    break;
                }
                out.push(V::object(vec![
                    (Key::from_static("match"), obj_get(o, "match").cloned().unwrap_or_default()),
                    (Key::from_static("index"), obj_get(o, "start").cloned().unwrap_or_default()),
                    (Key::from_static("groups"), obj_get(o, "groups").cloned().unwrap_or_default()),
                ]));
                let Some(next) = obj_get(o, "next").cloned() else { break };
                result = ev.apply(&next, Vec::new(), input, env)?;
            }
        }
    }
    Ok(V::seq(out))
}

/// UTF-16 offsets (JavaScript's string indexes) of increasing byte offsets
/// into one string, each counted on from the one before: counting each from
/// the start was quadratic (22 s for one string of 260,000 matches).
#[derive(Default)]
struct Utf16Index {
    counted_to: usize,
    units: usize,
}

impl Utf16Index {
    fn at(&mut self, s: &str, byte: usize) -> usize {
        self.units += s[self.counted_to..byte].encode_utf16().count();
        self.counted_to = byte;
        self.units
    }
}

/// Bytes a search for the next regex match is taken to scan per step.
/// Finding the next match may scan to the end of the string (the `regex`
/// crate's iteration is quadratic for patterns like `/a*x|a/`, as a
/// backtracking engine is): each match after the first is charged the rest
/// of the string at 1 KiB a step, so that one evaluation stops within its
/// budget (~2 GB scanned at most, seconds) instead of scanning for minutes,
/// while 20,000 matches in a 100 KB string still fit (100,000 do not). Each
/// match is a step too.
const SCAN_BYTES_PER_STEP: usize = 1024;

/// The matches of a regex in a string as jsonata-js's regex closure gives
/// them: each next search starts where the last match ended (not past an
/// empty one), there is none once that is the end of the string, and an
/// empty match found by a next search is D1004, as it would never progress
/// (`$match('aaa', /x*/)`; the regex crate's own iterator steps past it,
/// and finds an extra empty match at the end of `$match('aa', /a*/)`).
/// Each search is charged the rest of the string.
struct JsMatches<'s> {
    re: Arc<regex::Regex>,
    s: &'s str,
    /// Where the next search starts; `None` when there is none.
    at: Option<usize>,
    first: bool,
}

impl<'s> JsMatches<'s> {
    fn new(re: Arc<regex::Regex>, s: &'s str) -> JsMatches<'s> {
        JsMatches { re, s, at: Some(0), first: true }
    }

    fn next(&mut self, ev: &mut Evaluator<'_>) -> Result<Option<regex::Captures<'s>>, Error> {
        let Some(at) = self.at else { return Ok(None) };
        charge_search(ev, self.s, at)?;
        let Some(caps) = self.re.captures_at(self.s, at) else {
            self.at = None;
            return Ok(None);
        };
        let Some(m) = caps.get(0) else { return Ok(None) };
        if m.is_empty() && !self.first {
            return Err(Error::eval("D1004", "Regular expression matches zero length string"));
        }
        self.first = false;
        self.at = (m.end() < self.s.len()).then_some(m.end());
        Ok(Some(caps))
    }
}

fn charge_search(ev: &mut Evaluator<'_>, s: &str, from: usize) -> Result<(), Error> {
    ev.charge((s.len().saturating_sub(from) / SCAN_BYTES_PER_STEP) as u64 + 1)
}

fn contains(_: &mut Evaluator<'_>, args: &[V], _: &V, _: &Rc<Scope>) -> R {
    let V::Str(s) = arg(args, 0) else { return Ok(V::Undef) };
    Ok(V::Bool(match arg(args, 1) {
        V::Undef => return Ok(V::Undef),
        V::Str(t) => s.contains(&**t),
        other => regex_of(other).is_some_and(|re| re.is_match(s)),
    }))
}

/// Expand `$0`, `$1`… in a regex replacement as jsonata-js does.
fn expand(template: &str, caps: &regex::Captures) -> String {
    let groups = caps.len() - 1;
    let mut out = String::new();
    let bytes = template.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'$' {
            if i + 1 < bytes.len() && bytes[i + 1] == b'$' {
                out.push('$');
                i += 2;
                continue;
            }
            let mut j = i + 1;
            while j < bytes.len() && bytes[j].is_ascii_digit() {
                j += 1;
            }
            if j > i + 1 {
                // Use the longest prefix of the digits that names a group.
                let digits = &template[i + 1..j];
                let mut k = digits.len();
                let mut done = false;
                while k > 0 {
                    let n: usize = digits[..k].parse().unwrap_or(usize::MAX);
                    if n <= groups {
                        out.push_str(caps.get(n).map_or("", |m| m.as_str()));
                        out.push_str(&digits[k..]);
                        done = true;
                        break;
                    }
                    k -= 1;
                }
                if !done {
                    // No such group: `$` plus digits beyond the first vanish.
                    out.push_str(&digits[1..]);
                }
                i = j;
                continue;
            }
        }
        let ch = template[i..].chars().next().unwrap_or(' ');
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

fn replace(ev: &mut Evaluator<'_>, args: &[V], input: &V, env: &Rc<Scope>) -> R {
    let V::Str(s) = arg(args, 0) else { return Ok(V::Undef) };
    if matches!(arg(args, 1), V::Str(p) if p.is_empty()) {
        return Err(Error::eval("D3010", "Second argument of replace function cannot be an empty string"));
    }
    if let Some(n) = arg(args, 3).num()
        && n < 0.0
    {
        return Err(Error::eval("D3011", "Fourth argument of replace function must evaluate to a positive number"));
    }
    let limit = limit_of(arg(args, 3)).unwrap_or(usize::MAX);
    let replacement = arg(args, 2);
    match arg(args, 1) {
        V::Str(pattern) => {
            let V::Str(r) = replacement else {
                return Err(Error::eval("T0410", "Argument 3 of function replace does not match function signature"));
            };
            let mut out = String::new();
            let mut rest: &str = s;
            let mut n = 0;
            while n < limit {
                let Some(i) = rest.find(&**pattern) else { break };
                out.push_str(&rest[..i]);
                string_fits(out.len() + r.len())?;
                out.push_str(r);
                rest = &rest[i + pattern.len()..];
                n += 1;
            }
            out.push_str(rest);
            Ok(text(out))
        }
        pattern => {
            let Some(re) = regex_of(pattern) else { return Ok(V::Undef) };
            let mut out = String::new();
            let mut last = 0;
            let mut index = Utf16Index::default();
            let mut matches = JsMatches::new(re, s);
            let mut next = if limit > 0 { matches.next(ev)? } else { None };
            let mut n = 0;
            while let Some(caps) = next.take()
                && n < limit
            {
                let Some(m) = caps.get(0) else { break };
                out.push_str(&s[last..m.start()]);
                match replacement {
                    V::Str(r) => out.push_str(&expand(r, &caps)),
                    f => {
                        // The matcher's object, as jsonata-js hands it to
                        // the function: `start` and `end`, not `index`.
                        let mobj = matcher_result(&caps, m.as_str(), index.at(s, m.start()));
                        match ev.apply(f, vec![mobj], input, env)? {
                            V::Str(r) => out.push_str(&r),
                            _ => {
                                return Err(Error::eval(
                                    "D3012",
                                    "Attempted to replace a matched string with a non-string value",
                                ));
                            }
                        }
                    }
                }
                string_fits(out.len())?;
                last = m.end();
                n += 1;
                next = matches.next(ev)?;
            }
            out.push_str(&s[last..]);
            Ok(text(out))
        }
    }
}

fn split(ev: &mut Evaluator<'_>, args: &[V], _: &V, _: &Rc<Scope>) -> R {
    let V::Str(s) = arg(args, 0) else { return Ok(V::Undef) };
    if let Some(n) = arg(args, 2).num()
        && n < 0.0
    {
        return Err(Error::eval("D3020", "Third argument of split function must evaluate to a positive number"));
    }
    let limit = limit_of(arg(args, 2)).unwrap_or(usize::MAX);
    let parts: Vec<String> = match arg(args, 1) {
        V::Str(sep) if sep.is_empty() => s.chars().map(String::from).collect(),
        V::Str(sep) => s.split(&**sep).map(String::from).collect(),
        other => match regex_of(other) {
            // `Regex::split`, each search charged.
            Some(re) => {
                let mut parts = Vec::new();
                let mut last = 0;
                let mut matches = JsMatches::new(re, s);
                let mut next = if limit > 0 { matches.next(ev)? } else { None };
                while let Some(caps) = next.take()
                    && parts.len() < limit
                {
                    let Some(m) = caps.get(0) else { break };
                    parts.push(s[last..m.start()].to_string());
                    last = m.end();
                    next = matches.next(ev)?;
                }
                parts.push(s[last..].to_string());
                parts
            }
            None => return Ok(V::Undef),
        },
    };
    Ok(V::array(parts.into_iter().take(limit).map(text).collect()))
}

fn join(ev: &mut Evaluator<'_>, args: &[V], _: &V, _: &Rc<Scope>) -> R {
    let a = arg(args, 0);
    if a.is_undef() {
        return Ok(V::Undef);
    }
    charge_items(ev, a.item_count().unwrap_or(1))?;
    let sep = arg(args, 1).as_str().unwrap_or("").to_string();
    let parts: Vec<String> = a.to_items().iter().map(|v| v.as_str().unwrap_or("").to_string()).collect();
    let seps = sep.len().saturating_mul(parts.len().saturating_sub(1));
    string_fits(parts.iter().map(String::len).sum::<usize>().saturating_add(seps))?;
    Ok(text(parts.join(&sep)))
}

fn format_base(_: &mut Evaluator<'_>, args: &[V], _: &V, _: &Rc<Scope>) -> R {
    let Some(n) = arg(args, 0).num() else { return Ok(V::Undef) };
    let radix = arg(args, 1).num().unwrap_or(10.0);
    if !(2.0..=36.0).contains(&radix) {
        return Err(Error::eval(
            "D3100",
            format!("The radix of the formatBase function must be between 2 and 36. It was given {radix}"),
        ));
    }
    let n = round_half_even(n, 0);
    let radix = radix as u32;
    // JavaScript's `Number.prototype.toString(radix)` (a cast to i64 had
    // printed 1e19 as 9223372036854775807): base 10 as any number prints.
    if radix == 10 {
        return Ok(text(super::value::js_number(n)));
    }
    let mut digits = radix_digits(n.abs(), radix);
    if n < 0.0 {
        digits.push('-');
    }
    Ok(text(digits.iter().rev().collect::<String>()))
}

/// The digits of the whole number `x` (≥ 0, finite) in `radix`, least
/// significant first, as V8's `DoubleToRadixCString` writes them: the
/// digits a double cannot hold (while the rest is at least 2^53) are 0.
fn radix_digits(mut x: f64, radix: u32) -> Vec<char> {
    let r = f64::from(radix);
    let mut digits = Vec::new();
    while x / r >= 9_007_199_254_740_992.0 {
        x /= r;
        digits.push('0');
    }
    loop {
        let rest = x % r;
        digits.push(std::char::from_digit(rest as u32, radix).unwrap_or('0'));
        x = (x - rest) / r;
        if x <= 0.0 {
            return digits;
        }
    }
}

fn number(_: &mut Evaluator<'_>, args: &[V], _: &V, _: &Rc<Scope>) -> R {
    Ok(match arg(args, 0) {
        V::Undef => V::Undef,
        V::Num(n) => V::Num(*n),
        V::Bool(b) => V::Num(if *b { 1.0 } else { 0.0 }),
        V::Str(s) => match parse_number(s) {
            Some(n) => V::Num(n),
            None => return Err(Error::eval("D3030", format!("Unable to cast value to a number: \"{s}\""))),
        },
        _ => return Err(Error::eval("D3030", "Unable to cast value to a number")),
    })
}

fn parse_number(s: &str) -> Option<f64> {
    let radix = |p: &str, r| i64::from_str_radix(p, r).ok().map(|n| n as f64);
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        return radix(h, 16);
    }
    if let Some(o) = s.strip_prefix("0o").or_else(|| s.strip_prefix("0O")) {
        return radix(o, 8);
    }
    if let Some(b) = s.strip_prefix("0b").or_else(|| s.strip_prefix("0B")) {
        return radix(b, 2);
    }
    let body = s.strip_prefix('-').unwrap_or(s);
    let b = body.as_bytes();
    let int_end = b.iter().position(|c| !c.is_ascii_digit()).unwrap_or(b.len());
    if int_end == 0 {
        return None;
    }
    let mut i = int_end;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let frac = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        if frac == 0 {
            return None;
        }
        i += frac;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        let exp = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        if exp == 0 {
            return None;
        }
        i += exp;
    }
    if i != b.len() {
        return None;
    }
    s.parse().ok().filter(|n: &f64| n.is_finite())
}

fn floor(_: &mut Evaluator<'_>, args: &[V], _: &V, _: &Rc<Scope>) -> R {
    Ok(arg(args, 0).num().map_or(V::Undef, |n| V::Num(n.floor())))
}

fn ceil(_: &mut Evaluator<'_>, args: &[V], _: &V, _: &Rc<Scope>) -> R {
    Ok(arg(args, 0).num().map_or(V::Undef, |n| V::Num(n.ceil())))
}

/// Round half to even at `precision` decimal places, as `$round` does.
pub fn round_half_even(n: f64, precision: i32) -> f64 {
    // Shift by the decimal exponent through the string form, as jsonata-js
    // does, so 2.675 at 2 places sees 267.5 and not 267.49999.
    let shift = |x: f64, p: i32| -> f64 {
        let s = js_number(x);
        let (m, e) = match s.split_once('e') {
            Some((m, e)) => (m.to_string(), e.parse::<i32>().unwrap_or(0)),
            None => (s, 0),
        };
        format!("{m}e{}", e + p).parse().unwrap_or(x)
    };
    let value = shift(n, precision);
    if !value.is_finite() {
        // Shifted past the doubles (1e300 at 20 places): so large a number
        // has no fraction to round.
        return n;
    }
    let mut r = value.round();
    if (r - value).abs() == 0.5 && r % 2.0 != 0.0 {
        r -= value.signum();
    }
    let out = shift(r, -precision);
    if out == 0.0 { 0.0 } else { out }
}

fn round(_: &mut Evaluator<'_>, args: &[V], _: &V, _: &Rc<Scope>) -> R {
    let Some(n) = arg(args, 0).num() else { return Ok(V::Undef) };
    let precision = arg(args, 1).num().unwrap_or(0.0) as i32;
    Ok(V::Num(round_half_even(n, precision)))
}

fn abs(_: &mut Evaluator<'_>, args: &[V], _: &V, _: &Rc<Scope>) -> R {
    Ok(arg(args, 0).num().map_or(V::Undef, |n| V::Num(n.abs())))
}

fn sqrt(_: &mut Evaluator<'_>, args: &[V], _: &V, _: &Rc<Scope>) -> R {
    let Some(n) = arg(args, 0).num() else { return Ok(V::Undef) };
    if n < 0.0 {
        return Err(Error::eval(
            "D3060",
            format!("The sqrt function cannot be applied to a negative number: {}", js_number(n)),
        ));
    }
    Ok(V::Num(n.sqrt()))
}

fn power(_: &mut Evaluator<'_>, args: &[V], _: &V, _: &Rc<Scope>) -> R {
    let (Some(b), Some(e)) = (arg(args, 0).num(), arg(args, 1).num()) else { return Ok(V::Undef) };
    let r = b.powf(e);
    if !r.is_finite() {
        return Err(Error::eval(
            "D3061",
            format!(
                "The power function has resulted in a value that cannot be represented as a JSON number: base={}, exponent={}",
                js_number(b),
                js_number(e)
            ),
        ));
    }
    Ok(V::Num(r))
}

/// xorshift64*: `$random()` draws from the evaluation's seed.
pub fn next_random(ev: &mut Evaluator) -> f64 {
    let mut x = ev.rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    ev.rng = x;
    (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
}

fn random(ev: &mut Evaluator<'_>, args: &[V], _: &V, _: &Rc<Scope>) -> R {
    if let Some(seed) = arg(args, 0).num() {
        // Step Functions' `$random(seed)`: the same seed gives the same number.
        let mut scratch = Evaluator::new(Default::default(), 0, (seed.to_bits() ^ 0x9E37_79B9_7F4A_7C15) | 1);
        return Ok(V::Num(next_random(&mut scratch)));
    }
    Ok(V::Num(next_random(ev)))
}

fn boolean_fn(_: &mut Evaluator<'_>, args: &[V], _: &V, _: &Rc<Scope>) -> R {
    Ok(boolean(arg(args, 0)).map_or(V::Undef, V::Bool))
}

fn not(_: &mut Evaluator<'_>, args: &[V], _: &V, _: &Rc<Scope>) -> R {
    Ok(boolean(arg(args, 0)).map_or(V::Undef, |b| V::Bool(!b)))
}

/// The arguments a higher-order function passes: as many as `f` takes.
fn hof_args(f: &V, items: [V; 3]) -> Vec<V> {
    let arity = match f {
        V::Func(func) => func.arity(),
        _ => 1,
    };
    items.into_iter().take(arity.max(1)).collect()
}

fn map(ev: &mut Evaluator<'_>, args: &[V], input: &V, env: &Rc<Scope>) -> R {
    let a = arg(args, 0);
    if a.is_undef() {
        return Ok(V::Undef);
    }
    let f = arg(args, 1);
    let items = a.to_items();
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let r = ev.apply(f, hof_args(f, [item.clone(), V::Num(i as f64), a.clone()]), input, env)?;
        if !r.is_undef() {
            out.push(r);
        }
    }
    Ok(V::seq(out))
}

fn filter(ev: &mut Evaluator<'_>, args: &[V], input: &V, env: &Rc<Scope>) -> R {
    let a = arg(args, 0);
    if a.is_undef() {
        return Ok(V::Undef);
    }
    let f = arg(args, 1);
    let mut out = Vec::new();
    for (i, item) in a.to_items().iter().enumerate() {
        let r = ev.apply(f, hof_args(f, [item.clone(), V::Num(i as f64), a.clone()]), input, env)?;
        if boolean(&r) == Some(true) {
            out.push(item.clone());
        }
    }
    Ok(V::seq(out))
}

fn single(ev: &mut Evaluator<'_>, args: &[V], input: &V, env: &Rc<Scope>) -> R {
    let a = arg(args, 0);
    if a.is_undef() {
        return Ok(V::Undef);
    }
    let f = arg(args, 1);
    let mut found = None;
    for (i, item) in a.to_items().iter().enumerate() {
        let pass = if f.is_undef() {
            true
        } else {
            let r = ev.apply(f, hof_args(f, [item.clone(), V::Num(i as f64), a.clone()]), input, env)?;
            boolean(&r) == Some(true)
        };
        if pass {
            if found.is_some() {
                return Err(Error::eval(
                    "D3138",
                    "The $single() function expected exactly 1 matching result. Instead it matched more.",
                ));
            }
            found = Some(item.clone());
        }
    }
    found.ok_or_else(|| {
        Error::eval("D3139", "The $single() function expected exactly 1 matching result. Instead it matched 0.")
    })
}

fn reduce(ev: &mut Evaluator<'_>, args: &[V], input: &V, env: &Rc<Scope>) -> R {
    let a = arg(args, 0);
    if a.is_undef() {
        return Ok(V::Undef);
    }
    let f = arg(args, 1);
    let arity = match f {
        V::Func(func) => func.arity(),
        _ => 0,
    };
    if arity < 2 {
        return Err(Error::eval(
            "D3050",
            "The second argument of reduce function must be a function with at least two arguments",
        ));
    }
    let items = a.to_items();
    let (mut acc, start) = match arg(args, 2) {
        V::Undef if !items.is_empty() => (items[0].clone(), 1),
        init => (init.clone(), 0),
    };
    for (i, item) in items.iter().enumerate().skip(start) {
        let mut call = vec![acc, item.clone()];
        if arity >= 3 {
            call.push(V::Num(i as f64));
        }
        if arity >= 4 {
            call.push(a.clone());
        }
        acc = ev.apply(f, call, input, env)?;
    }
    Ok(acc)
}

fn sift(ev: &mut Evaluator<'_>, args: &[V], input: &V, env: &Rc<Scope>) -> R {
    let V::Obj(o) = arg(args, 0) else { return Ok(V::Undef) };
    let f = arg(args, 1);
    let mut out: Obj = Vec::new();
    for (k, v) in o.iter() {
        let r = ev.apply(f, hof_args(f, [v.clone(), V::Str(Arc::from(k)), arg(args, 0).clone()]), input, env)?;
        if boolean(&r) == Some(true) {
            out.push((k.clone(), v.clone()));
        }
    }
    Ok(if out.is_empty() { V::Undef } else { V::object(out) })
}

fn keys(ev: &mut Evaluator<'_>, args: &[V], _: &V, _: &Rc<Scope>) -> R {
    let mut out: Vec<Key> = Vec::new();
    let mut seen: std::collections::HashSet<Key> = std::collections::HashSet::new();
    let mut add = |ev: &mut Evaluator<'_>, o: &Obj| -> Result<(), Error> {
        charge_items(ev, o.len())?;
        for (k, _) in o.iter() {
            if seen.insert(k.clone()) {
                out.push(k.clone());
            }
        }
        Ok(())
    };
    // Arrays nested in the array are merged too, as jsonata-js's `keys`
    // recurses (`$keys([{'a':1},[{'b':2}]])` is `["a","b"]`).
    fn visit(
        ev: &mut Evaluator<'_>,
        v: &V,
        add: &mut dyn FnMut(&mut Evaluator<'_>, &Obj) -> Result<(), Error>,
        depth: usize,
    ) -> Result<(), Error> {
        match &*v.norm() {
            V::Obj(o) => add(ev, o),
            V::Arr(a) if depth < crate::bounds::MAX_DEPTH => {
                a.items.iter().try_for_each(|i| visit(ev, i, add, depth + 1))
            }
            _ => Ok(()),
        }
    }
    visit(ev, arg(args, 0), &mut add, 0)?;
    Ok(V::seq(out.into_iter().map(|k| V::Str(Arc::from(&k))).collect()))
}

fn lookup_fn(_: &mut Evaluator<'_>, args: &[V], _: &V, _: &Rc<Scope>) -> R {
    let key = arg(args, 1).as_str().unwrap_or("");
    Ok(super::eval::lookup(arg(args, 0), key))
}

fn append_fn(ev: &mut Evaluator<'_>, args: &[V], _: &V, _: &Rc<Scope>) -> R {
    let (a, b) = (arg(args, 0).clone(), arg(args, 1).clone());
    if a.is_undef() || b.is_undef() {
        return append(a, b);
    }
    items_fit(a.item_count().unwrap_or(1) + b.item_count().unwrap_or(1))?;
    charge_items(ev, a.item_count().unwrap_or(1) + b.item_count().unwrap_or(1))?;
    let mut items = a.to_items();
    items.extend(b.to_items());
    Ok(V::array(items))
}

fn exists(_: &mut Evaluator<'_>, args: &[V], _: &V, _: &Rc<Scope>) -> R {
    Ok(V::Bool(!arg(args, 0).is_undef()))
}

fn spread(_: &mut Evaluator<'_>, args: &[V], _: &V, _: &Rc<Scope>) -> R {
    // jsonata-js appends what each item spreads to: an object's members one
    // by one, a nested array's items, anything else as it is (`$spread([1,
    // {'a':1}])` is `[1, {"a":1}]`; scalars had been dropped).
    fn go(v: &V, out: &mut Vec<V>) -> bool {
        match &*v.norm() {
            V::Arr(a) => {
                for i in &a.items {
                    if !go(i, out) && !i.is_undef() {
                        out.push(i.clone());
                    }
                }
                true
            }
            V::Obj(o) => {
                for (k, v) in o.iter() {
                    out.push(V::object(vec![(k.clone(), v.clone())]));
                }
                true
            }
            _ => false,
        }
    }
    let v = arg(args, 0);
    let mut out = Vec::new();
    if !go(v, &mut out) {
        return Ok(v.clone());
    }
    // An array spreads to an array whatever its length (`$spread([3])` is
    // `[3]`); an object to a sequence, one member being that member alone.
    Ok(if out.is_empty() {
        V::Undef
    } else if v.norm().is_array_like() {
        V::array(out)
    } else {
        V::seq(out)
    })
}

fn merge(_: &mut Evaluator<'_>, args: &[V], _: &V, _: &Rc<Scope>) -> R {
    let a = arg(args, 0);
    if a.is_undef() {
        return Ok(V::Undef);
    }
    let objects: Vec<_> = a
        .to_items()
        .into_iter()
        .filter_map(|item| match item.into_norm() {
            V::Obj(o) => Some(o),
            _ => None,
        })
        .collect();
    // One pass over every member: many small objects merged one call each
    // would build the map of positions again per object.
    let mut out: Obj = Vec::new();
    crate::value::set_all(&mut out, objects.iter().flat_map(|o| o.iter().map(|(k, v)| (k.clone(), v.clone()))));
    Ok(V::object(out))
}

fn reverse(ev: &mut Evaluator<'_>, args: &[V], _: &V, _: &Rc<Scope>) -> R {
    let a = arg(args, 0);
    if a.is_undef() {
        return Ok(V::Undef);
    }
    let mut items = a.to_items();
    charge_items(ev, items.len())?;
    items.reverse();
    Ok(V::array(items))
}

fn each(ev: &mut Evaluator<'_>, args: &[V], input: &V, env: &Rc<Scope>) -> R {
    let V::Obj(o) = arg(args, 0) else { return Ok(V::Undef) };
    let f = arg(args, 1);
    let mut out = Vec::new();
    for (k, v) in o.iter() {
        let r = ev.apply(f, hof_args(f, [v.clone(), V::Str(Arc::from(k)), arg(args, 0).clone()]), input, env)?;
        if !r.is_undef() {
            out.push(r);
        }
    }
    Ok(V::seq(out))
}

fn error(_: &mut Evaluator<'_>, args: &[V], _: &V, _: &Rc<Scope>) -> R {
    let msg = arg(args, 0).as_str().unwrap_or("$error() function evaluated").to_string();
    Err(Error::eval("D3137", msg))
}

fn assert(_: &mut Evaluator<'_>, args: &[V], _: &V, _: &Rc<Scope>) -> R {
    if !matches!(arg(args, 0), V::Bool(true)) {
        let msg = arg(args, 1).as_str().unwrap_or("$assert() statement failed").to_string();
        return Err(Error::eval("D3141", msg));
    }
    Ok(V::Undef)
}

fn type_fn(_: &mut Evaluator<'_>, args: &[V], _: &V, _: &Rc<Scope>) -> R {
    let v = arg(args, 0);
    if v.is_undef() {
        return Ok(V::Undef);
    }
    Ok(text(v.type_name()))
}

/// Stable merge sort with a fallible "should `a` come after `b`" test.
fn merge_sort(items: Vec<V>, after: &mut dyn FnMut(&V, &V) -> Result<bool, Error>) -> Result<Vec<V>, Error> {
    if items.len() <= 1 {
        return Ok(items);
    }
    let mut left = items;
    let right = left.split_off(left.len() / 2);
    let left = merge_sort(left, after)?;
    let right = merge_sort(right, after)?;
    let mut out = Vec::with_capacity(left.len() + right.len());
    let (mut l, mut r) = (left.into_iter().peekable(), right.into_iter().peekable());
    while let (Some(a), Some(b)) = (l.peek(), r.peek()) {
        if after(a, b)? {
            out.extend(r.next());
        } else {
            out.extend(l.next());
        }
    }
    out.extend(l);
    out.extend(r);
    Ok(out)
}

fn sort(ev: &mut Evaluator<'_>, args: &[V], input: &V, env: &Rc<Scope>) -> R {
    let a = arg(args, 0);
    if a.is_undef() {
        return Ok(V::Undef);
    }
    let items = a.to_items();
    if items.len() <= 1 {
        return Ok(V::array(items));
    }
    // A comparison per item per level (a comparator's own steps count too).
    charge_items(ev, items.len().saturating_mul(items.len().ilog2() as usize + 1))?;
    let f = arg(args, 1).clone();
    let sorted = if f.is_undef() {
        let all_num = items.iter().all(|v| matches!(v, V::Num(_)));
        let all_str = items.iter().all(|v| matches!(v, V::Str(_)));
        if !all_num && !all_str {
            return Err(Error::eval(
                "D3070",
                "The single argument form of the sort function can only be applied to an array of strings or an array of numbers. Use the second argument to specify a comparison function",
            ));
        }
        merge_sort(items, &mut |a, b| {
            Ok(match (a, b) {
                (V::Num(x), V::Num(y)) => x > y,
                (V::Str(x), V::Str(y)) => utf16_order(x, y).is_gt(),
                _ => false,
            })
        })?
    } else {
        merge_sort(items, &mut |a, b| {
            let r = ev.apply(&f, vec![a.clone(), b.clone()], input, env)?;
            Ok(boolean(&r) == Some(true))
        })?
    };
    Ok(V::array(sorted))
}

fn shuffle(ev: &mut Evaluator<'_>, args: &[V], _: &V, _: &Rc<Scope>) -> R {
    let a = arg(args, 0);
    if a.is_undef() {
        return Ok(V::Undef);
    }
    let mut items = a.to_items();
    charge_items(ev, items.len())?;
    for i in (1..items.len()).rev() {
        let j = (next_random(ev) * (i + 1) as f64) as usize;
        items.swap(i, j.min(i));
    }
    Ok(V::array(items))
}

fn distinct(ev: &mut Evaluator<'_>, args: &[V], _: &V, _: &Rc<Scope>) -> R {
    let a = arg(args, 0);
    let V::Arr(arr) = a else { return Ok(a.clone()) };
    let mut out: Vec<V> = Vec::new();
    for item in &arr.items {
        // Each item is compared with every distinct one kept so far.
        charge_items(ev, out.len() + 1)?;
        if !out.iter().any(|o| deep_equal(o, item)) {
            out.push(item.clone());
        }
    }
    Ok(V::Arr(Rc::new(Arr { items: out, sequence: arr.sequence, ..Arr::default() })))
}

fn base64_encode(_: &mut Evaluator<'_>, args: &[V], _: &V, _: &Rc<Scope>) -> R {
    use base64::Engine as _;
    let V::Str(s) = arg(args, 0) else { return Ok(V::Undef) };
    Ok(text(base64::engine::general_purpose::STANDARD.encode(s.as_bytes())))
}

fn base64_decode(_: &mut Evaluator<'_>, args: &[V], _: &V, _: &Rc<Scope>) -> R {
    use base64::Engine as _;
    let V::Str(s) = arg(args, 0) else { return Ok(V::Undef) };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s.as_bytes())
        .map_err(|e| Error::eval("D3137", format!("Invalid base64: {e}")))?;
    Ok(text(String::from_utf8_lossy(&bytes).into_owned()))
}

fn percent_encode(s: &str, keep: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || keep.as_bytes().contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn encode_url_component(_: &mut Evaluator<'_>, args: &[V], _: &V, _: &Rc<Scope>) -> R {
    let V::Str(s) = arg(args, 0) else { return Ok(V::Undef) };
    Ok(text(percent_encode(s, "-_.!~*'()")))
}

fn encode_url(_: &mut Evaluator<'_>, args: &[V], _: &V, _: &Rc<Scope>) -> R {
    let V::Str(s) = arg(args, 0) else { return Ok(V::Undef) };
    Ok(text(percent_encode(s, "-_.!~*'();/?:@&=+$,#")))
}

fn percent_decode(s: &str, keep: &str) -> Result<String, Error> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok());
            let Some(b) = hex else {
                return Err(Error::eval("D3140", format!("Malformed URL passed to decode: {s}")));
            };
            if b < 0x80 && keep.as_bytes().contains(&b) {
                out.extend_from_slice(&bytes[i..i + 3]);
            } else {
                out.push(b);
            }
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| Error::eval("D3140", format!("Malformed URL passed to decode: {s}")))
}

fn decode_url_component(_: &mut Evaluator<'_>, args: &[V], _: &V, _: &Rc<Scope>) -> R {
    let V::Str(s) = arg(args, 0) else { return Ok(V::Undef) };
    Ok(text(percent_decode(s, "")?))
}

fn decode_url(_: &mut Evaluator<'_>, args: &[V], _: &V, _: &Rc<Scope>) -> R {
    let V::Str(s) = arg(args, 0) else { return Ok(V::Undef) };
    Ok(text(percent_decode(s, ";/?:@&=+$,#")?))
}

/// Work charged for each regular expression an `$eval`'d text compiles:
/// a hundred at most in one evaluation's budget.
const STEPS_PER_REGEX: u64 = 20_000;

fn eval_fn(ev: &mut Evaluator<'_>, args: &[V], input: &V, env: &Rc<Scope>) -> R {
    // Parsing, walking and dropping the expression recurse per level of its
    // nesting, at most one per byte of its text (~1 MiB at `MAX_NESTING`
    // levels): from deep in a recursion that had overflowed the stack left
    // after the evaluator's red zone. Asked for by the text's length, so a
    // short text (`$eval('1')`) never moves to a new segment.
    let levels = arg(args, 0).as_str().map_or(0, str::len).min(super::parser::MAX_NESTING as usize);
    ev.with_stack(EVAL_STACK_PER_LEVEL * levels + EVAL_STACK_BASE, |ev| eval_text(ev, args, input, env))
}

/// The stack `$eval` needs per level of its expression's nesting (the
/// parser's path pass is the greediest, ~4 KiB a level in an optimised
/// build; a debug build's frames are larger, and its tests run release-like
/// profiles), and beside them.
const EVAL_STACK_PER_LEVEL: usize = 5 * 1024;
const EVAL_STACK_BASE: usize = 128 * 1024;

fn eval_text(ev: &mut Evaluator<'_>, args: &[V], input: &V, env: &Rc<Scope>) -> R {
    let V::Str(src) = arg(args, 0) else { return Ok(V::Undef) };
    let expr = super::Expression::parse(src).map_err(|e| {
        Error::eval("D3120", format!("Syntax error in expression passed to function eval: {}", e.message))
    })?;
    // Compiling a regular expression takes up to milliseconds and a MiB.
    ev.charge((expr.regexes() as u64).saturating_mul(STEPS_PER_REGEX))?;
    let ctx = if arg(args, 1).is_undef() { input.clone() } else { arg(args, 1).clone() };
    ev.evaluate(expr.root(), &ctx, env).map_err(|e| {
        Error::eval("D3121", format!("Dynamic error evaluating the expression passed to function eval: {}", e.message))
    })
}

fn clone(_: &mut Evaluator<'_>, args: &[V], _: &V, _: &Rc<Scope>) -> R {
    Ok(arg(args, 0).clone())
}

fn now(ev: &mut Evaluator<'_>, args: &[V], input: &V, env: &Rc<Scope>) -> R {
    let ms = V::Num(ev.now_millis as f64);
    let mut call = vec![ms];
    call.extend(args.iter().cloned());
    format::from_millis(ev, &call, input, env)
}

fn millis(ev: &mut Evaluator<'_>, _: &[V], _: &V, _: &Rc<Scope>) -> R {
    Ok(V::Num(ev.now_millis as f64))
}

fn zip(ev: &mut Evaluator<'_>, args: &[V], _: &V, _: &Rc<Scope>) -> R {
    let lists: Vec<Vec<V>> = args.iter().map(V::to_items).collect();
    let n = lists.iter().map(Vec::len).min().unwrap_or(0);
    // An array allocated per tuple: a step each.
    ev.charge(n as u64)?;
    Ok(V::array((0..n).map(|i| V::array(lists.iter().map(|l| l[i].clone()).collect())).collect()))
}

fn partition(ev: &mut Evaluator<'_>, args: &[V], _: &V, _: &Rc<Scope>) -> R {
    let items = arg(args, 0).to_items();
    charge_items(ev, items.len())?;
    let size = arg(args, 1).num().unwrap_or(0.0);
    if size < 1.0 || size.fract() != 0.0 {
        return Err(Error::eval(
            "States.QueryEvaluationError",
            "The chunk size of $partition must be a positive integer",
        ));
    }
    Ok(V::array(items.chunks(size as usize).map(|c| V::array(c.to_vec())).collect()))
}

fn range(_: &mut Evaluator<'_>, args: &[V], _: &V, _: &Rc<Scope>) -> R {
    let (Some(start), Some(end)) = (arg(args, 0).num(), arg(args, 1).num()) else { return Ok(V::Undef) };
    let step = arg(args, 2).num().unwrap_or(1.0);
    if step == 0.0 {
        return Err(Error::eval("States.QueryEvaluationError", "The step of $range must not be 0"));
    }
    let mut out = Vec::new();
    let mut x = start;
    while (step > 0.0 && x <= end) || (step < 0.0 && x >= end) {
        out.push(V::Num(x));
        x += step;
        if out.len() > 1_000_000 {
            return Err(Error::eval("States.QueryEvaluationError", "$range would produce more than 1,000,000 items"));
        }
    }
    // A sequence, as Step Functions returns it: one item stands alone.
    Ok(V::seq(out))
}

fn hash(_: &mut Evaluator<'_>, args: &[V], _: &V, _: &Rc<Scope>) -> R {
    let V::Str(s) = arg(args, 0) else { return Ok(V::Undef) };
    let algorithm = arg(args, 1).as_str().unwrap_or("SHA-256");
    match crate::intrinsics::hash(algorithm, s.as_bytes()) {
        Some(h) => Ok(text(h)),
        None => Err(Error::eval("States.QueryEvaluationError", format!("Unsupported hash algorithm '{algorithm}'"))),
    }
}

fn uuid(ev: &mut Evaluator<'_>, _: &[V], _: &V, _: &Rc<Scope>) -> R {
    let hi = (next_random(ev) * (1u64 << 53) as f64) as u64;
    let lo = (next_random(ev) * (1u64 << 53) as f64) as u64;
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&hi.to_le_bytes());
    bytes[8..].copy_from_slice(&(lo ^ (hi << 11)).to_le_bytes());
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let h: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(text(format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])))
}

fn parse(ev: &mut Evaluator<'_>, args: &[V], _: &V, _: &Rc<Scope>) -> R {
    let V::Str(s) = arg(args, 0) else { return Ok(V::Undef) };
    let value = crate::value::from_str(s).map_err(|e| {
        Error::eval("States.QueryEvaluationError", format!("$parse: the string is not valid JSON: {e}"))
    })?;
    ev.json_depth.include(&value);
    Ok(V::from_json(&value))
}

/// Charge `items` of plain work (copied or compared) to the evaluation.
fn charge_items(ev: &mut Evaluator<'_>, items: usize) -> Result<(), Error> {
    ev.charge(items as u64 / crate::jsonata::eval::ITEMS_PER_STEP)
}
