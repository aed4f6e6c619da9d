//! The evaluable syntax tree, and the pass that builds it from the parser's
//! raw tree (jsonata-js `processAST`): `a.b[c]` becomes a path of steps with
//! stages, `@`/`#`/`%` mark the steps that must carry tuples, lambda bodies
//! get tail calls turned into thunks.

use super::Error;
use super::parser::{Raw, RawKind};
use super::signature::Signature;
use crate::value::Key;
use std::sync::Arc;

#[derive(Debug)]
pub struct Node {
    pub kind: Kind,
    pub pos: usize,
    pub keep_array: bool,
    /// An array constructor at the start or end of a path: not flattened.
    pub cons_array: bool,
    /// This step binds tuples (focus, index or ancestor variables).
    pub tuple: bool,
    pub focus: Option<Key>,
    pub index: Option<Key>,
    /// The `%` slot this step binds its context to.
    pub ancestor: Option<usize>,
    /// Filters on a value that is not a path step.
    pub predicate: Vec<Stage>,
    /// Filters and index bindings on a path step.
    pub stages: Vec<Stage>,
    pub group: Option<Box<Group>>,
    pub keep_singleton_array: bool,
    pub seeking_parent: Vec<usize>,
    /// The tuple name of a `%` slot: read by a parent node, bound by the
    /// step that is its ancestor.
    pub label: Option<Key>,
}

#[derive(Debug)]
pub enum Stage {
    Filter(Node),
    Index(Key),
}

#[derive(Debug)]
pub struct Group {
    pub pairs: Vec<(Node, Node)>,
}

#[derive(Debug)]
pub struct LambdaDef {
    pub params: Vec<Key>,
    pub signature: Option<Signature>,
    pub body: Node,
    /// A tail call wrapped to be trampolined by `apply`.
    pub thunk: bool,
}

#[derive(Debug)]
pub struct TransformDef {
    pub pattern: Node,
    pub update: Node,
    pub delete: Option<Node>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Concat,
    And,
    Or,
    In,
    Range,
}

#[derive(Debug)]
pub enum Kind {
    Path(Vec<Node>),
    Name(Key),
    Str(Arc<str>),
    Num(f64),
    Bool(bool),
    Null,
    Regex(Arc<regex::Regex>),
    Wildcard,
    Descendant,
    Parent(usize),
    Variable(Key),
    Placeholder,
    Neg(Box<Node>),
    Array(Vec<Node>),
    Object(Vec<(Node, Node)>),
    Binary(BinOp, Box<Node>, Box<Node>),
    Condition(Box<Node>, Box<Node>, Option<Box<Node>>),
    Coalesce(Box<Node>, Box<Node>),
    Block(Vec<Node>),
    Bind(Key, Box<Node>),
    Call(Box<Node>, Vec<Node>),
    Partial(Box<Node>, Vec<Node>),
    Lambda(Arc<LambdaDef>),
    Apply(Box<Node>, Box<Node>),
    Transform(Arc<TransformDef>),
    Sort(Vec<(Node, bool)>),
}

impl Node {
    fn new(kind: Kind, pos: usize) -> Node {
        Node {
            kind,
            pos,
            keep_array: false,
            cons_array: false,
            tuple: false,
            focus: None,
            index: None,
            ancestor: None,
            predicate: Vec::new(),
            stages: Vec::new(),
            group: None,
            keep_singleton_array: false,
            seeking_parent: Vec::new(),
            label: None,
        }
    }
    fn path(step: Node) -> Node {
        let pos = step.pos;
        Node::new(Kind::Path(vec![step]), pos)
    }
    fn is_path(&self) -> bool {
        matches!(self.kind, Kind::Path(_))
    }

    /// A path step with nothing attached: no predicate, stage, grouping or binding.
    pub fn is_plain_step(&self) -> bool {
        self.stages.is_empty()
            && self.predicate.is_empty()
            && self.group.is_none()
            && !self.keep_array
            && !self.tuple
            && !self.cons_array
            && self.focus.is_none()
            && self.index.is_none()
    }
}

struct Slot {
    label: String,
    level: i32,
}

/// The most regular expressions one expression may hold (each up to
/// [`REGEX_BYTES`] compiled).
pub const MAX_REGEXES_PER_EXPRESSION: usize = 32;

/// What building a tree took: the regular expressions it compiled and the
/// nodes it holds (what it weighs in memory).
#[derive(Debug, Clone, Copy, Default)]
pub struct Built {
    pub regexes: usize,
    pub nodes: usize,
}

/// Builds the evaluable tree, and says what it took.
pub fn build(raw: Raw) -> Result<(Node, Built), Error> {
    let mut b = Builder { slots: Vec::new(), regexes: 0, nodes: 0 };
    let mut node = b.process(raw)?;
    if !node.seeking_parent.is_empty() {
        return Err(Error::syntax(
            "S0217",
            node.pos,
            "The object representing the 'parent' cannot be derived from this expression",
        ));
    }
    let labels: Vec<Key> = b.slots.into_iter().map(|s| Key::intern(&s.label)).collect();
    label(&mut node, &labels);
    Ok((node, Built { regexes: b.regexes, nodes: b.nodes }))
}

/// Give parent nodes and their ancestor steps the final names of their slots.
fn label(node: &mut Node, labels: &[Key]) {
    if let Some(slot) = node.ancestor {
        node.label = labels.get(slot).cloned();
    }
    if let Kind::Parent(slot) = node.kind {
        node.label = labels.get(slot).cloned();
    }
    let stages = |stages: &mut Vec<Stage>| {
        for s in stages.iter_mut() {
            if let Stage::Filter(n) = s {
                label(n, labels);
            }
        }
    };
    stages(&mut node.predicate);
    stages(&mut node.stages);
    if let Some(g) = &mut node.group {
        for (k, v) in &mut g.pairs {
            label(k, labels);
            label(v, labels);
        }
    }
    match &mut node.kind {
        Kind::Path(items) | Kind::Array(items) | Kind::Block(items) => items.iter_mut().for_each(|n| label(n, labels)),
        Kind::Object(pairs) => pairs.iter_mut().for_each(|(k, v)| {
            label(k, labels);
            label(v, labels);
        }),
        Kind::Neg(e) | Kind::Bind(_, e) => label(e, labels),
        Kind::Binary(_, l, r) | Kind::Coalesce(l, r) | Kind::Apply(l, r) => {
            label(l, labels);
            label(r, labels);
        }
        Kind::Condition(c, t, e) => {
            label(c, labels);
            label(t, labels);
            if let Some(e) = e {
                label(e, labels);
            }
        }
        Kind::Call(p, args) | Kind::Partial(p, args) => {
            label(p, labels);
            args.iter_mut().for_each(|n| label(n, labels));
        }
        Kind::Lambda(def) => {
            if let Some(def) = Arc::get_mut(def) {
                label(&mut def.body, labels);
            }
        }
        Kind::Transform(def) => {
            if let Some(def) = Arc::get_mut(def) {
                label(&mut def.pattern, labels);
                label(&mut def.update, labels);
                if let Some(d) = &mut def.delete {
                    label(d, labels);
                }
            }
        }
        Kind::Sort(terms) => terms.iter_mut().for_each(|(n, _)| label(n, labels)),
        _ => {}
    }
}

struct Builder {
    slots: Vec<Slot>,
    /// Regular expressions compiled so far.
    regexes: usize,
    /// Nodes built so far.
    nodes: usize,
}

fn push_ancestry(result: &mut Node, value: &Node) {
    result.seeking_parent.extend(value.seeking_parent.iter().copied());
    if let Kind::Parent(slot) = value.kind {
        result.seeking_parent.push(slot);
    }
}

fn last_step(node: &mut Node) -> &mut Node {
    if !matches!(&node.kind, Kind::Path(steps) if !steps.is_empty()) {
        return node;
    }
    match &mut node.kind {
        Kind::Path(steps) => {
            let n = steps.len() - 1;
            &mut steps[n]
        }
        _ => unreachable!("checked above"),
    }
}

impl Builder {
    fn seek_parent(&mut self, node: &mut Node, slot: usize) -> Result<(), Error> {
        match &mut node.kind {
            Kind::Name(_) | Kind::Wildcard => {
                self.slots[slot].level -= 1;
                if self.slots[slot].level == 0 {
                    if let Some(existing) = node.ancestor {
                        self.slots[slot].label = self.slots[existing].label.clone();
                    }
                    node.ancestor = Some(slot);
                    node.tuple = true;
                }
            }
            Kind::Parent(_) => self.slots[slot].level += 1,
            Kind::Block(exprs) => {
                if let Some(last) = exprs.last_mut() {
                    self.seek_parent(last, slot)?;
                    node.tuple = true;
                }
            }
            Kind::Path(steps) => {
                node.tuple = true;
                let mut index = steps.len() as isize - 1;
                if index >= 0 {
                    self.seek_parent(&mut steps[index as usize], slot)?;
                    index -= 1;
                }
                while self.slots[slot].level > 0 && index >= 0 {
                    self.seek_parent(&mut steps[index as usize], slot)?;
                    index -= 1;
                }
            }
            _ => {
                return Err(Error::syntax(
                    "S0217",
                    node.pos,
                    "The object representing the 'parent' cannot be derived from this expression",
                ));
            }
        }
        Ok(())
    }

    fn resolve_ancestry(&mut self, path: &mut Node) -> Result<(), Error> {
        let Kind::Path(steps) = &mut path.kind else { return Ok(()) };
        let Some(last) = steps.last() else { return Ok(()) };
        let mut wanted = last.seeking_parent.clone();
        if let Kind::Parent(slot) = last.kind {
            wanted.push(slot);
        }
        let mut unresolved = Vec::new();
        for slot in wanted {
            let mut index = steps.len() as isize - 2;
            while self.slots[slot].level > 0 {
                if index < 0 {
                    unresolved.push(slot);
                    break;
                }
                let mut at = index as usize;
                index -= 1;
                while index >= 0 && steps[at].focus.is_some() && steps[index as usize].focus.is_some() {
                    at = index as usize;
                    index -= 1;
                }
                self.seek_parent(&mut steps[at], slot)?;
            }
        }
        path.seeking_parent.extend(unresolved);
        Ok(())
    }

    fn process(&mut self, raw: Raw) -> Result<Node, Error> {
        self.nodes += 1;
        let pos = raw.pos;
        let keep_array = raw.keep_array;
        let mut node = match raw.kind {
            RawKind::Binary(".", lhs, rhs) => {
                let lstep = self.process(*lhs)?;
                let lslot = if let Kind::Parent(s) = lstep.kind { Some(s) } else { None };
                let mut result = if lstep.is_path() { lstep } else { Node::path(lstep) };
                if let Some(s) = lslot {
                    result.seeking_parent = vec![s];
                }
                let mut rest = self.process(*rhs)?;
                let Kind::Path(steps) = &mut result.kind else { unreachable!("wrapped above") };
                match rest.kind {
                    Kind::Path(more) => steps.extend(more),
                    _ => {
                        if !rest.predicate.is_empty() {
                            rest.stages = std::mem::take(&mut rest.predicate);
                        }
                        steps.push(rest);
                    }
                }
                for step in steps.iter_mut() {
                    match &step.kind {
                        Kind::Num(_) | Kind::Bool(_) | Kind::Null => {
                            return Err(Error::syntax(
                                "S0213",
                                step.pos,
                                "The literal value cannot be used as a step within a path expression",
                            ));
                        }
                        Kind::Str(s) => step.kind = Kind::Name(Key::intern(s)),
                        _ => {}
                    }
                }
                if steps.iter().any(|s| s.keep_array) {
                    result.keep_singleton_array = true;
                }
                if let Some(first) = steps.first_mut()
                    && matches!(first.kind, Kind::Array(_))
                {
                    first.cons_array = true;
                }
                if let Some(last) = steps.last_mut()
                    && matches!(last.kind, Kind::Array(_))
                {
                    last.cons_array = true;
                }
                self.resolve_ancestry(&mut result)?;
                result
            }
            RawKind::Binary("[", lhs, rhs) => {
                let mut result = self.process(*lhs)?;
                let is_path = result.is_path();
                let predicate = self.process(*rhs)?;
                let step = last_step(&mut result);
                if step.group.is_some() {
                    return Err(Error::syntax(
                        "S0209",
                        pos,
                        "A predicate cannot follow a grouping expression in a step",
                    ));
                }
                if !predicate.seeking_parent.is_empty() {
                    for &slot in &predicate.seeking_parent {
                        if self.slots[slot].level == 1 {
                            self.seek_parent(step, slot)?;
                        } else {
                            self.slots[slot].level -= 1;
                        }
                    }
                    push_ancestry(step, &predicate);
                }
                if is_path {
                    step.stages.push(Stage::Filter(predicate));
                } else {
                    step.predicate.push(Stage::Filter(predicate));
                }
                result
            }
            RawKind::Group(lhs, pairs) => {
                let mut result = self.process(*lhs)?;
                if result.group.is_some() {
                    return Err(Error::syntax("S0210", pos, "Each step can only have one grouping expression"));
                }
                let pairs = self.pairs(pairs, None)?;
                result.group = Some(Box::new(Group { pairs }));
                result
            }
            RawKind::Sort(lhs, terms) => {
                let result = self.process(*lhs)?;
                let mut result = if result.is_path() { result } else { Node::path(result) };
                let mut sort = Node::new(Kind::Null, pos);
                let mut processed = Vec::new();
                for (term, descending) in terms {
                    let t = self.process(term)?;
                    push_ancestry(&mut sort, &t);
                    processed.push((t, descending));
                }
                sort.kind = Kind::Sort(processed);
                if let Kind::Path(steps) = &mut result.kind {
                    steps.push(sort);
                }
                self.resolve_ancestry(&mut result)?;
                result
            }
            RawKind::Focus(lhs, name) => {
                let mut result = self.process(*lhs)?;
                let step = last_step(&mut result);
                if !step.stages.is_empty() || !step.predicate.is_empty() {
                    return Err(Error::syntax(
                        "S0215",
                        pos,
                        "A context variable binding must precede any predicates on a step",
                    ));
                }
                if matches!(step.kind, Kind::Sort(_)) {
                    return Err(Error::syntax(
                        "S0216",
                        pos,
                        "A context variable binding must precede the 'order-by' clause on a step",
                    ));
                }
                if keep_array {
                    step.keep_array = true;
                }
                step.focus = Some(Key::intern(&name));
                step.tuple = true;
                result
            }
            RawKind::Index(lhs, name) => {
                let result = self.process(*lhs)?;
                let mut result = if result.is_path() {
                    result
                } else {
                    let mut step = result;
                    if !step.predicate.is_empty() {
                        step.stages = std::mem::take(&mut step.predicate);
                    }
                    Node::path(step)
                };
                let step = last_step(&mut result);
                if step.stages.is_empty() {
                    step.index = Some(Key::intern(&name));
                } else {
                    step.stages.push(Stage::Index(Key::intern(&name)));
                }
                step.tuple = true;
                result
            }
            RawKind::Binary(op, lhs, rhs) => {
                let op = match op {
                    "+" => BinOp::Add,
                    "-" => BinOp::Sub,
                    "*" => BinOp::Mul,
                    "/" => BinOp::Div,
                    "%" => BinOp::Mod,
                    "=" => BinOp::Eq,
                    "!=" => BinOp::Ne,
                    "<" => BinOp::Lt,
                    "<=" => BinOp::Le,
                    ">" => BinOp::Gt,
                    ">=" => BinOp::Ge,
                    "&" => BinOp::Concat,
                    "and" => BinOp::And,
                    "or" => BinOp::Or,
                    "in" => BinOp::In,
                    _ => BinOp::Range,
                };
                let l = self.process(*lhs)?;
                let r = self.process(*rhs)?;
                let mut n = Node::new(Kind::Null, pos);
                push_ancestry(&mut n, &l);
                push_ancestry(&mut n, &r);
                n.kind = Kind::Binary(op, Box::new(l), Box::new(r));
                n
            }
            RawKind::Apply(lhs, rhs) => {
                let l = self.process(*lhs)?;
                let r = self.process(*rhs)?;
                Node::new(Kind::Apply(Box::new(l), Box::new(r)), pos)
            }
            RawKind::Bind(name, rhs) => {
                let r = self.process(*rhs)?;
                let mut n = Node::new(Kind::Null, pos);
                push_ancestry(&mut n, &r);
                n.kind = Kind::Bind(Key::intern(&name), Box::new(r));
                n
            }
            RawKind::Neg(e) => {
                let e = self.process(*e)?;
                if let Kind::Num(v) = e.kind {
                    Node::new(Kind::Num(-v), pos)
                } else {
                    let mut n = Node::new(Kind::Null, pos);
                    push_ancestry(&mut n, &e);
                    n.kind = Kind::Neg(Box::new(e));
                    n
                }
            }
            RawKind::Array(items) => {
                let mut n = Node::new(Kind::Null, pos);
                let items = self.list(items, &mut n)?;
                n.kind = Kind::Array(items);
                n
            }
            RawKind::Object(pairs) => {
                let mut n = Node::new(Kind::Null, pos);
                let pairs = self.pairs(pairs, Some(&mut n))?;
                n.kind = Kind::Object(pairs);
                n
            }
            RawKind::Block(items) => {
                let mut n = Node::new(Kind::Null, pos);
                let items = self.list(items, &mut n)?;
                n.kind = Kind::Block(items);
                n
            }
            RawKind::Call(proc, args) => {
                let partial = args.iter().any(|a| matches!(a.kind, RawKind::Placeholder));
                let mut n = Node::new(Kind::Null, pos);
                let proc = self.process(*proc)?;
                let args = self.list(args, &mut n)?;
                n.kind = if partial { Kind::Partial(Box::new(proc), args) } else { Kind::Call(Box::new(proc), args) };
                n
            }
            RawKind::Lambda(params, signature, body) => {
                let body = self.process(*body)?;
                let signature = match signature {
                    Some(s) => Some(Signature::parse(&s).map_err(|e| e.at(pos))?),
                    None => None,
                };
                let def = LambdaDef {
                    params: params.iter().map(|p| Key::intern(p)).collect(),
                    signature,
                    body: tail_call_optimize(body),
                    thunk: false,
                };
                Node::new(Kind::Lambda(Arc::new(def)), pos)
            }
            RawKind::Condition(c, t, e) => {
                let mut n = Node::new(Kind::Null, pos);
                let c = self.process(*c)?;
                push_ancestry(&mut n, &c);
                let t = self.process(*t)?;
                push_ancestry(&mut n, &t);
                let e = match e {
                    Some(e) => {
                        let e = self.process(*e)?;
                        push_ancestry(&mut n, &e);
                        Some(Box::new(e))
                    }
                    None => None,
                };
                n.kind = Kind::Condition(Box::new(c), Box::new(t), e);
                n
            }
            RawKind::Coalesce(l, r) => {
                let l = self.process(*l)?;
                let r = self.process(*r)?;
                Node::new(Kind::Coalesce(Box::new(l), Box::new(r)), pos)
            }
            RawKind::Transform(p, u, d) => {
                let pattern = self.process(*p)?;
                let update = self.process(*u)?;
                let delete = match d {
                    Some(d) => Some(self.process(*d)?),
                    None => None,
                };
                Node::new(Kind::Transform(Arc::new(TransformDef { pattern, update, delete })), pos)
            }
            RawKind::Name(n) => {
                let mut result = Node::path(Node::new(Kind::Name(Key::intern(&n)), pos));
                if keep_array {
                    result.keep_singleton_array = true;
                    if let Kind::Path(steps) = &mut result.kind {
                        steps[0].keep_array = true;
                    }
                }
                return Ok(result);
            }
            RawKind::Parent => {
                let slot = self.slots.len();
                self.slots.push(Slot { label: format!("!{slot}"), level: 1 });
                Node::new(Kind::Parent(slot), pos)
            }
            RawKind::Var(v) => Node::new(Kind::Variable(Key::intern(&v)), pos),
            RawKind::Str(s) => Node::new(Kind::Str(Arc::from(s.as_str())), pos),
            RawKind::Num(v) => Node::new(Kind::Num(v), pos),
            RawKind::Bool(b) => Node::new(Kind::Bool(b), pos),
            RawKind::Null => Node::new(Kind::Null, pos),
            RawKind::Wildcard => Node::new(Kind::Wildcard, pos),
            RawKind::Descendant => Node::new(Kind::Descendant, pos),
            RawKind::Placeholder => Node::new(Kind::Placeholder, pos),
            RawKind::Regex(pattern, flags) => {
                self.regexes += 1;
                if self.regexes > MAX_REGEXES_PER_EXPRESSION {
                    return Err(Error::syntax(
                        "S0302",
                        pos,
                        format!("More than {MAX_REGEXES_PER_EXPRESSION} regular expressions in one expression"),
                    ));
                }
                Node::new(Kind::Regex(Arc::new(compile_regex(&pattern, &flags, pos)?)), pos)
            }
        };
        if keep_array {
            node.keep_array = true;
        }
        Ok(node)
    }

    fn list(&mut self, items: Vec<Raw>, parent: &mut Node) -> Result<Vec<Node>, Error> {
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let n = self.process(item)?;
            push_ancestry(parent, &n);
            out.push(n);
        }
        Ok(out)
    }

    fn pairs(&mut self, pairs: Vec<(Raw, Raw)>, mut parent: Option<&mut Node>) -> Result<Vec<(Node, Node)>, Error> {
        let mut out = Vec::with_capacity(pairs.len());
        for (k, v) in pairs {
            let k = self.process(k)?;
            let v = self.process(v)?;
            if let Some(p) = parent.as_deref_mut() {
                push_ancestry(p, &k);
                push_ancestry(p, &v);
            }
            out.push((k, v));
        }
        Ok(out)
    }
}

/// A call in tail position becomes a thunk, which `apply` runs in a loop
/// instead of recursing: deep tail recursion needs no stack.
fn tail_call_optimize(node: Node) -> Node {
    match node.kind {
        Kind::Call(..) if node.predicate.is_empty() => {
            let pos = node.pos;
            Node::new(
                Kind::Lambda(Arc::new(LambdaDef { params: Vec::new(), signature: None, body: node, thunk: true })),
                pos,
            )
        }
        Kind::Condition(c, t, e) => {
            let mut n = Node { kind: Kind::Null, ..node };
            n.kind = Kind::Condition(c, Box::new(tail_call_optimize(*t)), e.map(|e| Box::new(tail_call_optimize(*e))));
            n
        }
        Kind::Block(mut items) => {
            if let Some(last) = items.pop() {
                items.push(tail_call_optimize(last));
            }
            Node { kind: Kind::Block(items), ..node }
        }
        _ => node,
    }
}

/// The most a compiled regular expression may take (its NFA; each lazy DFA
/// cache as much): Unicode `\w{100}` took 8 MB, and an expression, a
/// definition or an `$eval`'d record may hold many.
const REGEX_BYTES: usize = 1 << 20;

/// A JavaScript regular expression as the `regex` crate spells it.
pub fn compile_regex(pattern: &str, flags: &str, pos: usize) -> Result<regex::Regex, Error> {
    let mut b = regex::RegexBuilder::new(&javascript_classes(pattern));
    b.case_insensitive(flags.contains('i')).multi_line(flags.contains('m'));
    b.size_limit(REGEX_BYTES).dfa_size_limit(REGEX_BYTES);
    b.build().map_err(|e| Error::syntax("S0302", pos, format!("Invalid regular expression: {e}")))
}

/// `pattern` with JavaScript's ASCII meaning of `\d`, `\w` and `\b`
/// (without the `u` flag, which JSONata's regexes never carry): the
/// `regex` crate's are Unicode, so `/\w+/` matched all of `héllo` where
/// jsonata-js matches `h`, and compiled a hundredfold larger. In a class
/// `\b` is a backspace, and each class nests (`[a\W]`; `[\w-z]` is `\w`,
/// `-` and `z` as in JavaScript, not a range from `_`).
fn javascript_classes(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut chars = pattern.chars();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('d') => out.push_str("[0-9]"),
                Some('D') => out.push_str("[^0-9]"),
                Some('w') => out.push_str("[0-9A-Za-z_]"),
                Some('W') => out.push_str("[^0-9A-Za-z_]"),
                Some('b') if in_class => out.push_str("\\x08"),
                Some('b') => out.push_str("(?-u:\\b)"),
                Some('B') => out.push_str("(?-u:\\B)"),
                Some(e) => {
                    out.push('\\');
                    out.push(e);
                }
                None => out.push('\\'),
            },
            '[' if !in_class => {
                in_class = true;
                out.push(c);
            }
            ']' if in_class => {
                in_class = false;
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}
