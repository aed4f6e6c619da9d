//! Function signatures (`<s-n?:s>`): parsed once, then each call's arguments
//! are checked against them, arrays wrapped and the context filled in where
//! a parameter says `-` (jsonata-js `signature.js`).

use super::Error;
use super::value::{Arr, V};
use std::rc::Rc;

#[derive(Debug)]
pub struct Signature {
    params: Vec<Param>,
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
        Ok(Signature { params })
    }

    pub fn arity(&self) -> usize {
        self.params.len()
    }

    /// Check `args` and return them as the function receives them.
    pub fn validate(&self, args: &[V], context: &V) -> Result<Vec<V>, Error> {
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
                                let items = arg.to_items();
                                match items.first() {
                                    None => true,
                                    Some(first) => {
                                        let t = symbol(first);
                                        t == sub0 && items.iter().all(|v| symbol(v) == t)
                                    }
                                }
                            };
                            if !ok {
                                return Err(Error::eval(
                                    "T0412",
                                    format!("Argument {} of function must be an array of {}", at + 1, type_word(sub0)),
                                ));
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
