//! A Pratt parser for JSONata (jsonata-js `parser`), producing the raw
//! syntax tree that [`super::ast`] then turns into evaluable paths.

use super::Error;
use super::lexer::{Lexer, Tok, Token};

#[derive(Debug)]
pub struct Raw {
    pub kind: RawKind,
    pub pos: usize,
    /// Set by an empty predicate `[]`: keep a singleton result as an array.
    pub keep_array: bool,
    /// Levels of the tree below and including this node (a leaf is 1).
    pub height: u32,
}

/// The deepest nesting the parser accepts, both as recursion of the parser
/// itself and as height of the tree it builds (`a + b + c …` nests on the
/// left without recursing). Every later pass over the tree recurses (the
/// path pass, labelling, dropping, evaluation), so without a bound a deep
/// expression — a definition's, or one `$eval` reads from a record —
/// would overflow the thread's stack, which Rust cannot catch. The path
/// pass is the greediest: about 4 KiB a level in a release build, so 200
/// levels take under 1 MiB of a shard thread's 2 MiB (`$eval`, which
/// parses from deep in an evaluation, first makes sure of 1.5 MiB). (The
/// evaluator's own budget, [`super::Limits`], counts calls, not nesting.)
pub const MAX_NESTING: u32 = 200;

fn too_deep(pos: usize) -> Error {
    Error::syntax(
        "U1001",
        pos,
        format!("Stack overflow error: the expression is nested more than {MAX_NESTING} levels deep"),
    )
}

impl Raw {
    /// A node over `kind`'s children, refused when the tree grows too high.
    fn new(kind: RawKind, pos: usize) -> Result<Raw, Error> {
        let height = 1 + child_height(&kind);
        if height > MAX_NESTING {
            return Err(too_deep(pos));
        }
        Ok(Raw { kind, pos, keep_array: false, height })
    }
}

/// The height of the highest child.
fn child_height(kind: &RawKind) -> u32 {
    let h = |r: &Raw| r.height;
    let most = |rs: &[Raw]| rs.iter().map(h).max().unwrap_or(0);
    let pairs = |ps: &[(Raw, Raw)]| ps.iter().map(|(k, v)| k.height.max(v.height)).max().unwrap_or(0);
    match kind {
        RawKind::Name(_)
        | RawKind::Var(_)
        | RawKind::Str(_)
        | RawKind::Num(_)
        | RawKind::Bool(_)
        | RawKind::Null
        | RawKind::Regex(..)
        | RawKind::Wildcard
        | RawKind::Descendant
        | RawKind::Parent
        | RawKind::Placeholder => 0,
        RawKind::Neg(e) | RawKind::Focus(e, _) | RawKind::Index(e, _) | RawKind::Bind(_, e) => e.height,
        RawKind::Lambda(_, _, e) => e.height,
        RawKind::Array(items) | RawKind::Block(items) => most(items),
        RawKind::Object(ps) => pairs(ps),
        RawKind::Binary(_, l, r) | RawKind::Apply(l, r) | RawKind::Coalesce(l, r) => l.height.max(r.height),
        RawKind::Group(l, ps) => l.height.max(pairs(ps)),
        RawKind::Sort(l, terms) => l.height.max(terms.iter().map(|(t, _)| t.height).max().unwrap_or(0)),
        RawKind::Condition(c, t, e) => c.height.max(t.height).max(e.as_ref().map_or(0, |e| e.height)),
        RawKind::Call(p, args) => p.height.max(most(args)),
        RawKind::Transform(p, u, d) => p.height.max(u.height).max(d.as_ref().map_or(0, |d| d.height)),
    }
}

#[derive(Debug)]
pub enum RawKind {
    Name(String),
    Var(String),
    Str(String),
    Num(f64),
    Bool(bool),
    Null,
    Regex(String, String),
    Wildcard,
    Descendant,
    Parent,
    Placeholder,
    Neg(Box<Raw>),
    Array(Vec<Raw>),
    Object(Vec<(Raw, Raw)>),
    Binary(&'static str, Box<Raw>, Box<Raw>),
    Group(Box<Raw>, Vec<(Raw, Raw)>),
    Sort(Box<Raw>, Vec<(Raw, bool)>),
    Focus(Box<Raw>, String),
    Index(Box<Raw>, String),
    Bind(String, Box<Raw>),
    Apply(Box<Raw>, Box<Raw>),
    Condition(Box<Raw>, Box<Raw>, Option<Box<Raw>>),
    Coalesce(Box<Raw>, Box<Raw>),
    Block(Vec<Raw>),
    Call(Box<Raw>, Vec<Raw>),
    Lambda(Vec<String>, Option<String>, Box<Raw>),
    Transform(Box<Raw>, Box<Raw>, Option<Box<Raw>>),
}

pub fn parse(src: &str) -> Result<Raw, Error> {
    let mut p = Parser { lexer: Lexer::new(src), tok: Token { tok: Tok::End, pos: 0 }, depth: 0 };
    p.advance(true)?;
    let expr = p.expression(0)?;
    if p.tok.tok != Tok::End {
        return Err(Error::syntax("S0201", p.tok.pos, format!("Syntax error: {}", describe(&p.tok.tok))));
    }
    Ok(expr)
}

struct Parser<'a> {
    lexer: Lexer<'a>,
    tok: Token,
    /// Calls of [`Parser::expression`] in progress.
    depth: u32,
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Op(o) => o.to_string(),
        Tok::Str(s) => format!("\"{s}\""),
        Tok::Num(n) => n.to_string(),
        Tok::Name(n) => n.clone(),
        Tok::Var(v) => format!("${v}"),
        Tok::Bool(b) => b.to_string(),
        Tok::Null => "null".into(),
        Tok::Regex(p, _) => format!("/{p}/"),
        Tok::End => "(end)".into(),
    }
}

/// Left binding power of an infix operator.
fn lbp(t: &Tok) -> u8 {
    match t {
        Tok::Op(op) => match *op {
            "." => 75,
            "[" | "(" | "@" | "#" => 80,
            "{" => 70,
            "?" | "??" | "?:" => 20,
            "+" | "-" | "&" => 50,
            "*" | "/" | "%" => 60,
            "=" | "!=" | "<" | "<=" | ">" | ">=" | "^" | "~>" | "in" => 40,
            ":=" => 10,
            "and" => 30,
            "or" => 25,
            _ => 0,
        },
        _ => 0,
    }
}

impl Parser<'_> {
    /// Move to the next token. After an operand, `/` divides; otherwise it
    /// starts a regex.
    fn advance(&mut self, operand: bool) -> Result<(), Error> {
        self.tok = self.lexer.next(operand)?;
        Ok(())
    }

    fn next(&mut self) -> Result<Token, Error> {
        let t = self.tok.clone();
        let operand = operand_follows(&t.tok);
        self.advance(operand)?;
        Ok(t)
    }

    fn expect(&mut self, op: &'static str) -> Result<(), Error> {
        if self.tok.tok == Tok::Op(op) {
            // After a closing bracket an operand is not expected.
            let operand = !matches!(op, ")" | "]" | "}");
            self.advance(operand)
        } else if self.tok.tok == Tok::End {
            Err(Error::syntax("S0203", self.tok.pos, format!("Expected \"{op}\" before end of expression")))
        } else {
            Err(Error::syntax("S0202", self.tok.pos, format!("Expected \"{op}\", got \"{}\"", describe(&self.tok.tok))))
                .map_err(|e| e.with_token(describe(&self.tok.tok)))
        }
    }

    fn expression(&mut self, rbp: u8) -> Result<Raw, Error> {
        if self.depth >= MAX_NESTING {
            return Err(too_deep(self.tok.pos));
        }
        self.depth += 1;
        let result = self.expression_inner(rbp);
        self.depth -= 1;
        result
    }

    fn expression_inner(&mut self, rbp: u8) -> Result<Raw, Error> {
        let t = self.next()?;
        let mut left = self.nud(t)?;
        while rbp < lbp(&self.tok.tok) {
            let t = self.next()?;
            left = self.led(t, left)?;
        }
        Ok(left)
    }

    fn nud(&mut self, t: Token) -> Result<Raw, Error> {
        let pos = t.pos;
        let raw = |kind| Raw::new(kind, pos);
        match t.tok {
            Tok::Name(n) => raw(RawKind::Name(n)),
            Tok::Var(v) => raw(RawKind::Var(v)),
            Tok::Str(s) => raw(RawKind::Str(s)),
            Tok::Num(n) => raw(RawKind::Num(n)),
            Tok::Bool(b) => raw(RawKind::Bool(b)),
            Tok::Null => raw(RawKind::Null),
            Tok::Regex(p, f) => raw(RawKind::Regex(p, f)),
            Tok::End => Err(Error::syntax("S0207", pos, "Unexpected end of expression")),
            Tok::Op(op) => match op {
                "-" => {
                    let e = self.expression(70)?;
                    raw(RawKind::Neg(Box::new(e)))
                }
                "*" => raw(RawKind::Wildcard),
                "**" => raw(RawKind::Descendant),
                "%" => raw(RawKind::Parent),
                "?" => raw(RawKind::Placeholder),
                "and" | "or" | "in" => raw(RawKind::Name(op.to_string())),
                "(" => {
                    let mut items = Vec::new();
                    while self.tok.tok != Tok::Op(")") {
                        items.push(self.expression(0)?);
                        if self.tok.tok != Tok::Op(";") {
                            break;
                        }
                        self.expect(";")?;
                    }
                    self.expect(")")?;
                    raw(RawKind::Block(items))
                }
                "[" => {
                    let mut items = Vec::new();
                    while self.tok.tok != Tok::Op("]") {
                        let mut item = self.expression(0)?;
                        if self.tok.tok == Tok::Op("..") {
                            let p = self.tok.pos;
                            self.advance(true)?;
                            let rhs = self.expression(0)?;
                            item = Raw::new(RawKind::Binary("..", Box::new(item), Box::new(rhs)), p)?;
                        }
                        items.push(item);
                        if self.tok.tok != Tok::Op(",") {
                            break;
                        }
                        self.expect(",")?;
                    }
                    self.expect("]")?;
                    raw(RawKind::Array(items))
                }
                "{" => {
                    let pairs = self.object_pairs()?;
                    raw(RawKind::Object(pairs))
                }
                "|" => {
                    let pattern = self.expression(0)?;
                    self.expect("|")?;
                    let update = self.expression(0)?;
                    let delete = if self.tok.tok == Tok::Op(",") {
                        self.expect(",")?;
                        Some(Box::new(self.expression(0)?))
                    } else {
                        None
                    };
                    self.expect("|")?;
                    raw(RawKind::Transform(Box::new(pattern), Box::new(update), delete))
                }
                _ => Err(Error::syntax("S0211", pos, format!("The symbol {op} cannot be used as a unary operator"))
                    .with_token(op.to_string())),
            },
        }
    }

    fn object_pairs(&mut self) -> Result<Vec<(Raw, Raw)>, Error> {
        let mut pairs = Vec::new();
        while self.tok.tok != Tok::Op("}") {
            let key = self.expression(0)?;
            self.expect(":")?;
            let value = self.expression(0)?;
            pairs.push((key, value));
            if self.tok.tok != Tok::Op(",") {
                break;
            }
            self.expect(",")?;
        }
        self.expect("}")?;
        Ok(pairs)
    }

    fn led(&mut self, t: Token, left: Raw) -> Result<Raw, Error> {
        let pos = t.pos;
        let Tok::Op(op) = t.tok else {
            return Err(Error::syntax("S0201", pos, "Syntax error"));
        };
        let bx = Box::new;
        let kind = match op {
            "." | "+" | "-" | "*" | "/" | "%" | "=" | "!=" | "<" | "<=" | ">" | ">=" | "&" | "and" | "or" | "in" => {
                let rhs = self.expression(lbp(&Tok::Op(op)))?;
                RawKind::Binary(op, bx(left), bx(rhs))
            }
            "[" => {
                if self.tok.tok == Tok::Op("]") {
                    self.expect("]")?;
                    let mut left = left;
                    mark_keep_array(&mut left);
                    return Ok(left);
                }
                let rhs = self.expression(0)?;
                self.expect("]")?;
                RawKind::Binary("[", bx(left), bx(rhs))
            }
            "{" => RawKind::Group(bx(left), self.object_pairs()?),
            "(" => return self.call(left, pos),
            "^" => {
                self.expect("(")?;
                let mut terms = Vec::new();
                loop {
                    let mut descending = false;
                    if self.tok.tok == Tok::Op("<") {
                        self.advance(true)?;
                    } else if self.tok.tok == Tok::Op(">") {
                        descending = true;
                        self.advance(true)?;
                    }
                    terms.push((self.expression(0)?, descending));
                    if self.tok.tok != Tok::Op(",") {
                        break;
                    }
                    self.expect(",")?;
                }
                self.expect(")")?;
                RawKind::Sort(bx(left), terms)
            }
            "?" => {
                let then = self.expression(0)?;
                let otherwise = if self.tok.tok == Tok::Op(":") {
                    self.expect(":")?;
                    Some(bx(self.expression(0)?))
                } else {
                    None
                };
                RawKind::Condition(bx(left), bx(then), otherwise)
            }
            "?:" => {
                let otherwise = self.expression(0)?;
                // `a ?: b` is `a ? a : b`; the parser shares `a` by evaluating it twice.
                RawKind::Condition(bx(copy(&left)), bx(left), Some(bx(otherwise)))
            }
            "??" => {
                let otherwise = self.expression(0)?;
                RawKind::Coalesce(bx(left), bx(otherwise))
            }
            ":=" => {
                let rhs = self.expression(lbp(&Tok::Op(":=")) - 1)?;
                let RawKind::Var(name) = left.kind else {
                    return Err(Error::syntax(
                        "S0212",
                        pos,
                        "The left side of := must be a variable name (start with $)",
                    ));
                };
                RawKind::Bind(name, bx(rhs))
            }
            "@" | "#" => {
                let rhs = self.expression(80)?;
                let RawKind::Var(name) = rhs.kind else {
                    return Err(Error::syntax(
                        "S0214",
                        pos,
                        format!("The right side of {op} must be a variable name (start with $)"),
                    ));
                };
                if op == "@" { RawKind::Focus(bx(left), name) } else { RawKind::Index(bx(left), name) }
            }
            "~>" => {
                let rhs = self.expression(lbp(&Tok::Op("~>")))?;
                RawKind::Apply(bx(left), bx(rhs))
            }
            _ => return Err(Error::syntax("S0201", pos, format!("Syntax error: {op}")).with_token(op.to_string())),
        };
        Raw::new(kind, pos)
    }

    fn call(&mut self, left: Raw, pos: usize) -> Result<Raw, Error> {
        let mut args = Vec::new();
        while self.tok.tok != Tok::Op(")") {
            args.push(self.expression(0)?);
            if self.tok.tok != Tok::Op(",") {
                break;
            }
            self.expect(",")?;
        }
        self.expect(")")?;
        let is_lambda = matches!(&left.kind, RawKind::Name(n) if n == "function" || n == "λ");
        if !is_lambda {
            return Raw::new(RawKind::Call(Box::new(left), args), pos);
        }
        let mut params = Vec::new();
        for a in args {
            match a.kind {
                RawKind::Var(v) => params.push(v),
                _ => {
                    return Err(Error::syntax(
                        "S0208",
                        a.pos,
                        "Parameter of function definition must be a variable name",
                    ));
                }
            }
        }
        let mut signature = None;
        if self.tok.tok == Tok::Op("<") {
            let mut depth = 1;
            let mut sig = String::from("<");
            self.advance(false)?;
            while depth > 0 {
                match &self.tok.tok {
                    Tok::Op("{") | Tok::End => {
                        return Err(Error::syntax("S0401", self.tok.pos, "Type signature is not terminated"));
                    }
                    Tok::Op(">") => depth -= 1,
                    Tok::Op("<") => depth += 1,
                    _ => {}
                }
                sig.push_str(&match &self.tok.tok {
                    Tok::Op(o) => o.to_string(),
                    Tok::Name(n) => n.clone(),
                    other => describe(other),
                });
                self.advance(false)?;
            }
            signature = Some(sig);
        }
        self.expect("{")?;
        let body = self.expression(0)?;
        self.expect("}")?;
        Raw::new(RawKind::Lambda(params, signature, Box::new(body)), pos)
    }
}

/// Is an operand expected after token `t`? Not after one that ends an
/// operand (a literal, a name, a closing bracket, `*`, `**`, `%`).
fn operand_follows(t: &Tok) -> bool {
    !matches!(
        t,
        Tok::Op(")" | "]" | "}" | "*" | "**" | "%")
            | Tok::Name(_)
            | Tok::Var(_)
            | Tok::Str(_)
            | Tok::Num(_)
            | Tok::Bool(_)
            | Tok::Null
            | Tok::Regex(..)
    )
}

/// `[]` marks the innermost step of a predicate chain.
fn mark_keep_array(raw: &mut Raw) {
    match &mut raw.kind {
        RawKind::Binary("[", lhs, _) => mark_keep_array(lhs),
        _ => raw.keep_array = true,
    }
}

/// A deep copy, for the operand `?:` uses twice.
fn copy(raw: &Raw) -> Raw {
    let b = |r: &Raw| Box::new(copy(r));
    let pairs = |ps: &Vec<(Raw, Raw)>| ps.iter().map(|(k, v)| (copy(k), copy(v))).collect();
    let kind = match &raw.kind {
        RawKind::Name(n) => RawKind::Name(n.clone()),
        RawKind::Var(v) => RawKind::Var(v.clone()),
        RawKind::Str(s) => RawKind::Str(s.clone()),
        RawKind::Num(n) => RawKind::Num(*n),
        RawKind::Bool(x) => RawKind::Bool(*x),
        RawKind::Null => RawKind::Null,
        RawKind::Regex(p, f) => RawKind::Regex(p.clone(), f.clone()),
        RawKind::Wildcard => RawKind::Wildcard,
        RawKind::Descendant => RawKind::Descendant,
        RawKind::Parent => RawKind::Parent,
        RawKind::Placeholder => RawKind::Placeholder,
        RawKind::Neg(e) => RawKind::Neg(b(e)),
        RawKind::Array(items) => RawKind::Array(items.iter().map(copy).collect()),
        RawKind::Object(ps) => RawKind::Object(pairs(ps)),
        RawKind::Binary(op, l, r) => RawKind::Binary(op, b(l), b(r)),
        RawKind::Group(l, ps) => RawKind::Group(b(l), pairs(ps)),
        RawKind::Sort(l, terms) => RawKind::Sort(b(l), terms.iter().map(|(t, d)| (copy(t), *d)).collect()),
        RawKind::Focus(l, v) => RawKind::Focus(b(l), v.clone()),
        RawKind::Index(l, v) => RawKind::Index(b(l), v.clone()),
        RawKind::Bind(v, r) => RawKind::Bind(v.clone(), b(r)),
        RawKind::Apply(l, r) => RawKind::Apply(b(l), b(r)),
        RawKind::Condition(c, t, e) => RawKind::Condition(b(c), b(t), e.as_ref().map(|e| b(e))),
        RawKind::Coalesce(l, r) => RawKind::Coalesce(b(l), b(r)),
        RawKind::Block(items) => RawKind::Block(items.iter().map(copy).collect()),
        RawKind::Call(p, args) => RawKind::Call(b(p), args.iter().map(copy).collect()),
        RawKind::Lambda(ps, s, body) => RawKind::Lambda(ps.clone(), s.clone(), b(body)),
        RawKind::Transform(p, u, d) => RawKind::Transform(b(p), b(u), d.as_ref().map(|d| b(d))),
    };
    Raw { kind, pos: raw.pos, keep_array: raw.keep_array, height: raw.height }
}
