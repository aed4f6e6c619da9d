//! Splits a JSONata expression into tokens (jsonata-js `tokenizer`).

use super::Error;

#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    Op(&'static str),
    Str(String),
    Num(f64),
    Name(String),
    Var(String),
    Bool(bool),
    Null,
    Regex(String, String),
    End,
}

#[derive(Clone, Debug)]
pub struct Token {
    pub tok: Tok,
    pub pos: usize,
}

const DOUBLE: [&str; 9] = ["..", ":=", "!=", ">=", "<=", "**", "~>", "?:", "??"];
const SINGLE: &str = ".[]{}(),@#;:?+-*/%|=<>^&!~";

pub struct Lexer<'a> {
    src: &'a str,
    pos: usize,
}

impl<'a> Lexer<'a> {
    pub fn new(src: &'a str) -> Lexer<'a> {
        Lexer { src, pos: 0 }
    }

    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    /// The next token; `operand` says an operand is expected, where `/`
    /// opens a regular expression rather than dividing.
    pub fn next(&mut self, operand: bool) -> Result<Token, Error> {
        loop {
            while let Some(c) = self.peek() {
                if c.is_whitespace() {
                    self.pos += c.len_utf8();
                } else {
                    break;
                }
            }
            if self.src[self.pos..].starts_with("/*") {
                match self.src[self.pos + 2..].find("*/") {
                    Some(end) => self.pos += end + 4,
                    None => return Err(Error::syntax("S0106", self.pos, "Comment has no closing tag")),
                }
                continue;
            }
            break;
        }
        let start = self.pos;
        let Some(c) = self.peek() else {
            return Ok(Token { tok: Tok::End, pos: start });
        };
        let tok = |tok| Ok(Token { tok, pos: start });
        if operand && c == '/' {
            self.pos += 1;
            return self.regex(start);
        }
        let rest = &self.src[self.pos..];
        for op in DOUBLE {
            if rest.starts_with(op) {
                self.pos += 2;
                return tok(Tok::Op(op));
            }
        }
        if let Some(i) = SINGLE.find(c) {
            self.pos += 1;
            return tok(Tok::Op(&SINGLE[i..i + 1]));
        }
        if c == '"' || c == '\'' {
            self.pos += 1;
            return self.string(c, start).map(|s| Token { tok: Tok::Str(s), pos: start });
        }
        if c.is_ascii_digit() {
            return self.number(start);
        }
        if c == '`' {
            self.pos += 1;
            return match self.src[self.pos..].find('`') {
                Some(end) => {
                    let name = self.src[self.pos..self.pos + end].to_string();
                    self.pos += end + 1;
                    tok(Tok::Name(name))
                }
                None => Err(Error::syntax("S0105", start, "Quoted property name must be terminated with a backquote")),
            };
        }
        let end = self.src[self.pos..]
            .char_indices()
            .find(|&(_, ch)| ch.is_whitespace() || SINGLE.contains(ch))
            .map_or(self.src.len(), |(i, _)| self.pos + i);
        let word = &self.src[self.pos..end];
        self.pos = end;
        if let Some(var) = word.strip_prefix('$') {
            return tok(Tok::Var(var.to_string()));
        }
        match word {
            "and" => tok(Tok::Op("and")),
            "or" => tok(Tok::Op("or")),
            "in" => tok(Tok::Op("in")),
            "true" => tok(Tok::Bool(true)),
            "false" => tok(Tok::Bool(false)),
            "null" => tok(Tok::Null),
            _ => tok(Tok::Name(word.to_string())),
        }
    }

    fn string(&mut self, quote: char, start: usize) -> Result<String, Error> {
        let mut out = String::new();
        let mut chars = self.src[self.pos..].char_indices();
        while let Some((i, c)) = chars.next() {
            if c == quote {
                self.pos += i + 1;
                return Ok(out);
            }
            if c != '\\' {
                out.push(c);
                continue;
            }
            let Some((_, e)) = chars.next() else { break };
            match e {
                '"' | '\\' | '/' | '\'' => out.push(e),
                'b' => out.push('\u{8}'),
                'f' => out.push('\u{c}'),
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                't' => out.push('\t'),
                'u' => {
                    let hex: String = (0..4).filter_map(|_| chars.next().map(|(_, h)| h)).collect();
                    let Ok(code) = u32::from_str_radix(&hex, 16) else {
                        return Err(Error::syntax(
                            "S0104",
                            start,
                            "The escape sequence \\u must be followed by 4 hex digits",
                        ));
                    };
                    if (0xD800..0xDC00).contains(&code) {
                        // A surrogate pair spelt as two escapes.
                        let rest = chars.as_str();
                        if let Some(low) = rest.strip_prefix("\\u").and_then(|r| r.get(..4))
                            && let Ok(low) = u32::from_str_radix(low, 16)
                        {
                            let c = 0x10000 + ((code - 0xD800) << 10) + (low.wrapping_sub(0xDC00) & 0x3ff);
                            out.push(char::from_u32(c).unwrap_or('\u{fffd}'));
                            for _ in 0..6 {
                                chars.next();
                            }
                            continue;
                        }
                    }
                    out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
                }
                _ => return Err(Error::syntax("S0103", start, format!("Unsupported escape sequence: \\{e}"))),
            }
        }
        Err(Error::syntax("S0101", start, "String literal must be terminated by a matching quote"))
    }

    fn number(&mut self, start: usize) -> Result<Token, Error> {
        let bytes = self.src.as_bytes();
        let mut i = self.pos;
        let digits = |i: &mut usize| {
            let s = *i;
            while *i < bytes.len() && bytes[*i].is_ascii_digit() {
                *i += 1;
            }
            *i > s
        };
        if bytes[i] == b'0' {
            i += 1;
        } else {
            digits(&mut i);
        }
        if i + 1 < bytes.len() && bytes[i] == b'.' && bytes[i + 1].is_ascii_digit() {
            i += 1;
            digits(&mut i);
        }
        if i < bytes.len() && (bytes[i] == b'e' || bytes[i] == b'E') {
            let mut j = i + 1;
            if j < bytes.len() && (bytes[j] == b'+' || bytes[j] == b'-') {
                j += 1;
            }
            if digits(&mut j) {
                i = j;
            }
        }
        let text = &self.src[self.pos..i];
        self.pos = i;
        let n: f64 = text.parse().unwrap_or(f64::NAN);
        if !n.is_finite() {
            return Err(Error::syntax("S0102", start, format!("Number out of range: {text}")));
        }
        Ok(Token { tok: Tok::Num(n), pos: start })
    }

    fn regex(&mut self, start: usize) -> Result<Token, Error> {
        let bytes = self.src.as_bytes();
        let body = self.pos;
        let mut depth = 0i32;
        let mut i = self.pos;
        while i < bytes.len() {
            let c = bytes[i];
            let escaped = {
                let mut n = 0;
                while i > n && bytes[i - n - 1] == b'\\' {
                    n += 1;
                }
                n % 2 == 1
            };
            if c == b'/' && depth == 0 && !escaped {
                let pattern = &self.src[body..i];
                if pattern.is_empty() {
                    return Err(Error::syntax("S0301", start, "Empty regular expressions are not allowed"));
                }
                i += 1;
                let flags_start = i;
                while i < bytes.len() && (bytes[i] == b'i' || bytes[i] == b'm') {
                    i += 1;
                }
                let flags = self.src[flags_start..i].to_string();
                self.pos = i;
                return Ok(Token { tok: Tok::Regex(pattern.to_string(), flags), pos: start });
            }
            if matches!(c, b'(' | b'[' | b'{') && !escaped {
                depth += 1;
            }
            if matches!(c, b')' | b']' | b'}') && !escaped {
                depth -= 1;
            }
            i += 1;
        }
        Err(Error::syntax("S0302", start, "No terminating / in regular expression"))
    }
}
