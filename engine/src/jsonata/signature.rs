//! Function signatures (`<s-n?:s>`): parsed once, then each call's arguments
//! are checked against them, arrays wrapped and the context filled in where
//! a parameter says `-` (jsonata-js `signature.js`).

use super::Error;
use super::value::{Arr, V};
use std::rc::Rc;

#[derive(Debug)]
pub struct Signature {
    params: Vec<Param>,
    /// Every parameter takes exactly one argument (no `?`, `+` or `-`):
    /// a call with as many arguments then matches one to one.
    one_each: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Quant {
    One,
    Optional,
    OneOrMore,
}

#[derive(Debug)]
struct Param {
    kind: char,
    /// The argument symbols it accepts (`m`: missing).
    accepts: String,
    quant: Quant,
    /// `-`: a missing argument is taken from the context.
    context: bool,
    subtype: Option<String>,
}

fn symbol(v: &V) -> char {
    match v {
        V::Undef => 'm',
        V::Func(_) => 'f',
        V::Str(_) => 's',
        V::Num(_) => 'n',
        V::Bool(_) => 'b',
        V::Null => 'l',
        V::Arr(_) | V::Json(crate::value::Value::Array(_)) => 'a',
        V::Obj(_) | V::Tuple(_) | V::Json(_) => 'o',
    }
}

/// [`symbol`] of the value an engine value converts to.
fn json_symbol(v: &crate::value::Value) -> char {
    use crate::value::Value;
    match v {
        Value::Null => 'l',
        Value::Bool(_) => 'b',
        Value::Number(_) => 'n',
        Value::String(_) => 's',
        Value::Array(_) => 'a',
        Value::Object(_) => 'o',
    }
}

fn closing(s: &[char], start: usize, open: char, close: char) -> usize {
    let mut depth = 1;
    let mut i = start;
    while i + 1 < s.len() {
        i += 1;
        if s[i] == open {
            depth += 1;
        } else if s[i] == close {
            depth -= 1;
            if depth == 0 {
                return i;
            }
        }
    }
    i
}

/// Match `symbols` against `params` as jsonata-js's signature regex would
/// (greedy, backtracking); `spans[i]` receives what parameter `i` took.
/// `anchored`: the whole input must be consumed. Returns the end reached.
fn match_params(
    params: &[Param],
    symbols: &[char],
    pos: usize,
    spans: &mut [(usize, usize)],
    anchored: bool,
) -> Option<usize> {
    let Some((p, rest)) = params.split_first() else {
        return (!anchored || pos == symbols.len()).then_some(pos);
    };
    let (min, max) = match p.quant {
        Quant::One => (1, 1),
        Quant::Optional => (0, 1),
        Quant::OneOrMore => (1, usize::MAX),
    };
    let mut n = 0;
    while pos + n < symbols.len() && n < max && p.accepts.contains(symbols[pos + n]) {
        n += 1;
    }
    if n < min {
        return None;
    }
    for k in (min..=n).rev() {
        spans[0] = (pos, pos + k);
        if let Some(end) = match_params(rest, symbols, pos + k, &mut spans[1..], anchored) {
            return Some(end);
        }
    }
    None
}

impl Signature {
    pub fn parse(sig: &str) -> Result<Signature, Error> {
        let chars: Vec<char> = sig.chars().collect();
        let mut params: Vec<Param> = Vec::new();
        let mut i = 1;
        while i < chars.len() {
            let c = chars[i];
            if c == ':' {
                break;
            }
            let simple = |accepts: &str| Param {
                kind: c,
                accepts: accepts.into(),
                quant: Quant::One,
                context: false,
                subtype: None,
            };
            match c {
                'b' | 'n' | 's' | 'l' => params.push(simple(&format!("{c}m"))),
                'a' | 'x' => params.push(simple("asnblfom")),
                'o' => params.push(simple("om")),
                'f' => params.push(simple("fm")),
                'j' => params.push(simple("asnblom")),
                '-' | '?' | '+' => {
                    let Some(p) = params.last_mut() else {
                        return Err(Error::signature("S0401", format!("Misplaced '{c}' in signature {sig}")));
                    };
                    match c {
                        '-' => {
                            p.context = true;
                            p.quant = Quant::Optional;
                        }
                        '?' => p.quant = Quant::Optional,
                        _ => p.quant = Quant::OneOrMore,
                    }
                }
                '(' => {
                    let end = closing(&chars, i, '(', ')');
                    let choice: String = chars[i + 1..end].iter().collect();
                    if choice.contains('<') {
                        return Err(Error::signature(
                            "S0402",
                            format!("Choice groups containing parameterized types are not supported: {choice}"),
                        ));
                    }
                    params.push(Param {
                        kind: '(',
                        accepts: format!("{choice}m"),
                        quant: Quant::One,
                        context: false,
                        subtype: None,
                    });
                    i = end;
                }
                '<' => {
                    let end = closing(&chars, i, '<', '>');
                    match params.last_mut() {
                        Some(p) if p.kind == 'a' || p.kind == 'f' => {
                            p.subtype = Some(chars[i + 1..end].iter().collect())
                        }
                        _ => {
                            return Err(Error::signature(
                                "S0401",
                                format!("Type parameters can only be applied to functions and arrays: {sig}"),
                            ));
                        }
                    }
                    i = end;
                }
                '>' => {}
                other => return Err(Error::signature("S0401", format!("Unknown type '{other}' in signature {sig}"))),
            }
            i += 1;
        }
        let one_each = params.iter().all(|p| p.quant == Quant::One && !p.context);
        Ok(Signature { params, one_each })
    }

    pub fn arity(&self) -> usize {
        self.params.len()
    }

    /// Check `args` and return them as the function receives them.
    pub fn validate(&self, args: &[V], context: &V) -> Result<Vec<V>, Error> {
        match self.validate_one_each(args) {
            Some(checked) => checked,
            None => self.validate_matched(args, context),
        }
    }

    /// [`Signature::validate`] by the general matcher (jsonata-js's regex).
    fn validate_matched(&self, args: &[V], context: &V) -> Result<Vec<V>, Error> {
        let symbols: Vec<char> = args.iter().map(symbol).collect();
        let mut spans = vec![(0, 0); self.params.len()];
        if match_params(&self.params, &symbols, 0, &mut spans, true).is_none() {
            return Err(self.mismatch(&symbols));
        }
        let mut out = Vec::with_capacity(self.params.len());
        let mut at = 0;
        for (param, &(from, to)) in self.params.iter().zip(&spans) {
            if from == to {
                if param.context {
                    if param.accepts.contains(symbol(context)) {
                        out.push(context.clone().into_norm());
                    } else {
                        return Err(Error::eval(
                            "T0411",
                            format!("Context value is not a compatible type with argument {}", at + 1),
                        ));
                    }
                } else {
                    out.push(args.get(at).cloned().unwrap_or_default());
                    at += 1;
                }
                continue;
            }
            let matched: String = symbols[from..to].iter().collect();
            for &single in &symbols[from..to] {
                let arg = args.get(at).cloned().unwrap_or_default();
                if param.kind == 'a' {
                    if single == 'm' {
                        out.push(V::Undef);
                    } else {
                        if let Some(sub) = &param.subtype {
                            let sub0 = sub.chars().next().unwrap_or('x');
                            let ok = if single != 'a' {
                                matched == *sub || single.to_string() == *sub
                            } else {
                                items_all_of(&arg, sub0)
                            };
                            if !ok {
                                return Err(not_an_array_of(at, sub0));
                            }
                        }
                        out.push(if single == 'a' { arg } else { V::Arr(Rc::new(Arr::plain(vec![arg]))) });
                    }
                } else {
                    out.push(arg);
                }
                at += 1;
            }
        }
        Ok(out)
    }

    /// The common call, checked without the general matcher: one argument
    /// per parameter, each of a type it accepts, no value to wrap into an
    /// array. The matcher would pair them one to one and pass them as they
    /// are, after the same check of an array's item type. `None`: not
    /// such a call.
    fn validate_one_each(&self, args: &[V]) -> Option<Result<Vec<V>, Error>> {
        if !self.one_each || args.len() != self.params.len() {
            return None;
        }
        for (param, arg) in self.params.iter().zip(args) {
            let single = symbol(arg);
            if !param.accepts.contains(single) || (param.kind == 'a' && single != 'a') {
                return None;
            }
        }
        for (at, (param, arg)) in self.params.iter().zip(args).enumerate() {
            if param.kind == 'a'
                && let Some(sub) = &param.subtype
            {
                let sub0 = sub.chars().next().unwrap_or('x');
                if !items_all_of(arg, sub0) {
                    return Some(Err(not_an_array_of(at, sub0)));
                }
            }
        }
        Some(Ok(args.to_vec()))
    }

    /// T0410 naming the first argument that does not fit.
    fn mismatch(&self, symbols: &[char]) -> Error {
        let mut good = 0;
        let mut spans = vec![(0, 0); self.params.len()];
        for k in 1..=self.params.len() {
            match match_params(&self.params[..k], symbols, 0, &mut spans[..k], false) {
                Some(end) => good = end,
                None => break,
            }
        }
        Error::eval("T0410", format!("Argument {} of function does not match function signature", good + 1))
    }
}

/// An array argument's items all of one type, and that type `sub0` (an
/// empty array passes), read without copying the items.
fn items_all_of(array: &V, sub0: char) -> bool {
    fn all(mut types: impl Iterator<Item = char>, sub0: char) -> bool {
        match types.next() {
            None => true,
            Some(first) => first == sub0 && types.all(|t| t == first),
        }
    }
    match array {
        V::Arr(a) => all(a.items.iter().map(symbol), sub0),
        V::Json(crate::value::Value::Array(items)) => all(items.iter().map(json_symbol), sub0),
        other => all(std::iter::once(symbol(other)), sub0),
    }
}

/// T0412 for the argument at index `at`.
fn not_an_array_of(at: usize, sub0: char) -> Error {
    Error::eval("T0412", format!("Argument {} of function must be an array of {}", at + 1, type_word(sub0)))
}

fn type_word(c: char) -> &'static str {
    match c {
        'a' => "arrays",
        'b' => "booleans",
        'f' => "functions",
        'n' => "numbers",
        'o' => "objects",
        's' => "strings",
        _ => "values",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jsonata::value::deep_equal;
    use std::sync::Arc;

    fn json(text: &str) -> V {
        V::from_json(&crate::value::from_str(text).unwrap_or_else(|e| panic!("{text}: {e}")))
    }

    #[test]
    fn a_one_to_one_call_is_checked_as_the_general_matcher_checks_it() {
        let values = || {
            vec![
                V::Undef,
                V::Null,
                V::Bool(true),
                V::Num(1.5),
                V::Str(Arc::from("s")),
                V::array(vec![V::Num(1.0), V::Num(2.0)]),
                V::array(vec![V::Num(1.0), V::Str(Arc::from("x"))]),
                V::array(Vec::new()),
                json(r#"[{"a": 1}, {"b": 2}]"#),
                json(r#"[1, "x"]"#),
                json(r#"{"a": [1]}"#),
            ]
        };
        let mut fast = 0;
        for sig in
            ["<a<o>:o>", "<a<n>:n>", "<x:b>", "<s:s>", "<n:n>", "<o:o>", "<af:a>", "<j:s>", "<(sao):n>", "<an:a>"]
        {
            let sig = Signature::parse(sig).unwrap_or_else(|e| panic!("{sig}: {e}"));
            let arity = sig.arity();
            for first in values() {
                for second in values() {
                    let args: Vec<V> = [first.clone(), second].into_iter().take(arity).collect();
                    let Some(quick) = sig.validate_one_each(&args) else { continue };
                    fast += 1;
                    match (quick, sig.validate_matched(&args, &V::Undef)) {
                        (Ok(a), Ok(b)) => {
                            assert_eq!(a.len(), b.len());
                            assert!(a.iter().zip(&b).all(|(x, y)| deep_equal(x, y) && symbol(x) == symbol(y)));
                        }
                        (Err(a), Err(b)) => assert_eq!((a.code, a.message), (b.code, b.message)),
                        (a, b) => panic!("{sig:?} on {} arguments: {:?} vs {:?}", args.len(), a.is_ok(), b.is_ok()),
                    }
                }
            }
        }
        assert!(fast > 40, "only {fast} calls took the one-to-one check");
    }
}
