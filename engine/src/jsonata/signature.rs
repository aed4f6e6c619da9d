//! Function signatures (`<s-n?:s>`): parsed once, then each call's arguments
//! are checked against them, arrays wrapped and the context filled in where
//! a parameter says `-` (jsonata-js `signature.js`).

use super::Error;
use super::value::{Arr, V};
use std::rc::Rc;

#[derive(Debug)]
pub struct Signature {
    params: Vec<Param>,
    regex: regex::Regex,
}

#[derive(Debug)]
struct Param {
    kind: char,
    regex: String,
    context: Option<regex::Regex>,
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
            let simple = |regex: &str| Param { kind: c, regex: regex.into(), context: None, subtype: None };
            match c {
                'b' | 'n' | 's' | 'l' => params.push(simple(&format!("[{c}m]"))),
                'a' | 'x' => params.push(simple("[asnblfom]")),
                'o' => params.push(simple("[om]")),
                'f' => params.push(simple("[fm]")),
                'j' => params.push(simple("[asnblom]")),
                '-' | '?' | '+' => {
                    let Some(p) = params.last_mut() else {
                        return Err(Error::signature("S0401", format!("Misplaced '{c}' in signature {sig}")));
                    };
                    if c == '-' {
                        p.context = regex::Regex::new(&format!("^{}$", p.regex)).ok();
                        p.regex.push('?');
                    } else {
                        p.regex.push(c);
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
                    params.push(Param { kind: '(', regex: format!("[{choice}m]"), context: None, subtype: None });
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
        let pattern: String = params.iter().map(|p| format!("({})", p.regex)).collect();
        let regex = regex::Regex::new(&format!("^{pattern}$"))
            .map_err(|e| Error::signature("S0401", format!("Bad signature {sig}: {e}")))?;
        Ok(Signature { params, regex })
    }

    pub fn arity(&self) -> usize {
        self.params.len()
    }

    /// Check `args` and return them as the function receives them.
    pub fn validate(&self, args: &[V], context: &V) -> Result<Vec<V>, Error> {
        let supplied: String = args.iter().map(symbol).collect();
        let Some(caps) = self.regex.captures(&supplied) else {
            return Err(self.mismatch(args, &supplied));
        };
        let mut out = Vec::with_capacity(self.params.len());
        let mut at = 0;
        for (index, param) in self.params.iter().enumerate() {
            let matched = caps.get(index + 1).map_or("", |m| m.as_str());
            if matched.is_empty() {
                match &param.context {
                    Some(re) => {
                        if re.is_match(&symbol(context).to_string()) {
                            out.push(context.clone().into_norm());
                        } else {
                            return Err(Error::eval(
                                "T0411",
                                format!("Context value is not a compatible type with argument {}", at + 1),
                            ));
                        }
                    }
                    None => {
                        out.push(args.get(at).cloned().unwrap_or_default());
                        at += 1;
                    }
                }
                continue;
            }
            for single in matched.chars() {
                let arg = args.get(at).cloned().unwrap_or_default();
                if param.kind == 'a' {
                    if single == 'm' {
                        out.push(V::Undef);
                    } else {
                        if let Some(sub) = &param.subtype {
                            let sub0 = sub.chars().next().unwrap_or('x');
                            let ok = if single != 'a' {
                                matched == sub.as_str() || single.to_string() == *sub
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

    fn mismatch(&self, args: &[V], supplied: &str) -> Error {
        let mut pattern = String::from("^");
        let mut good = 0;
        for p in &self.params {
            pattern.push('(');
            pattern.push_str(&p.regex);
            pattern.push(')');
            match regex::Regex::new(&pattern).ok().and_then(|r| r.find(supplied).map(|m| m.end())) {
                Some(end) => good = end,
                None => break,
            }
        }
        let _ = args;
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
