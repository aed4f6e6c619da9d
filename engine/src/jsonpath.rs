//! JSONPath as Step Functions evaluates it (Jayway semantics): parsed once at
//! compile time, evaluated against the state input, the context object `$$`
//! or (from the JSONata issue on) a workflow variable.
//!
//! A *definite* path (only fields and indexes) selects one value and a miss is
//! an error; an *indefinite* path (wildcard, deep scan, slice, union, filter)
//! always yields an array, empty when nothing matched.

use crate::value::{Key, Value};
use std::fmt;

/// Where a path starts.
#[derive(Debug, Clone, PartialEq)]
pub enum Root {
    /// `$` — the current payload.
    Input,
    /// `$$` — the context object.
    Context,
    /// `$name` — a workflow variable (resolved by the variables issue).
    Variable(Box<str>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Segment {
    /// Interned: most payload keys are too, so matching one compares pointers.
    Field(Key),
    Index(i64),
    Wildcard,
    /// `..name` or `..*`: the following selector applied at every depth.
    Descendant(Box<Segment>),
    Slice(Option<i64>, Option<i64>, Option<i64>),
    Union(Vec<UnionItem>),
    Filter(Box<Filter>),
    /// `.length()`: the length of the array (or object) selected so far.
    Length,
}

/// A field or an index as Jayway renders it (`['a']`, `[0]`); other
/// segments render as nothing.
fn render(seg: &Segment, out: &mut String) {
    match seg {
        Segment::Field(f) => {
            out.push_str("['");
            out.push_str(f);
            out.push_str("']");
        }
        Segment::Index(i) => out.push_str(&format!("[{i}]")),
        _ => {}
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum UnionItem {
    Field(Key),
    Index(i64),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Exists(JsonPath),
    Compare(Operand, CmpOp, Operand),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
}

/// An allocation of `n` bytes as the allocator takes it.
fn allocated(n: usize) -> usize {
    if n == 0 { 0 } else { n.next_multiple_of(16).max(32) }
}

impl Segment {
    /// What it holds on the heap beyond its own slot.
    fn heap_bytes(&self) -> usize {
        match self {
            Segment::Filter(f) => allocated(size_of::<Filter>()) + f.heap_bytes(),
            Segment::Union(items) => allocated(items.len() * size_of::<UnionItem>()),
            Segment::Descendant(s) => allocated(size_of::<Segment>()) + s.heap_bytes(),
            _ => 0,
        }
    }
}

impl Filter {
    // Recursion as deep as the parser's, which bounds nesting and operators
    // (`MAX_FILTER_NESTING`, `MAX_FILTER_OPERATORS`).
    fn heap_bytes(&self) -> usize {
        match self {
            Filter::Exists(p) => p.heap_bytes(),
            Filter::Compare(a, _, b) => a.heap_bytes() + b.heap_bytes(),
            Filter::And(a, b) | Filter::Or(a, b) => {
                2 * allocated(size_of::<Filter>()) + a.heap_bytes() + b.heap_bytes()
            }
            Filter::Not(f) => allocated(size_of::<Filter>()) + f.heap_bytes(),
        }
    }
}

impl Operand {
    fn heap_bytes(&self) -> usize {
        match self {
            Operand::Current(p) | Operand::Absolute(p) => p.heap_bytes(),
            // Filters compare with scalars: a string's text is its only allocation.
            Operand::Literal(Value::String(s)) => allocated(s.len() + 16),
            Operand::Literal(_) => 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// `@...` relative to the element under test.
    Current(JsonPath),
    /// `$...` absolute.
    Absolute(JsonPath),
    Literal(Value),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
pub struct JsonPath {
    source: Box<str>,
    pub root: Root,
    pub segments: Vec<Segment>,
    /// Only fields, indexes and `.length()` (decided once, read on every select).
    definite: bool,
    map_item: Option<MapItem>,
}

/// The segments of `$$.Map.Item.Index` and `$$.Map.Item.Value`.
pub const MAP_ITEM_SEGMENTS: usize = 3;

/// `$$.Map.Item.Index`, and `$$.Map.Item.Value` or a part of it named by
/// fields and indexes, which the VM answers from the running iteration
/// without building the context object.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MapItem {
    Index,
    Value,
}

/// Why a path failed to parse.
#[derive(Debug, Clone, PartialEq)]
pub struct PathSyntaxError {
    pub message: String,
}

impl fmt::Display for PathSyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Why a definite path selected nothing. `rendered` is Jayway's `$['a']['b']`
/// form of the prefix that was missing, which AWS quotes in causes.
#[derive(Debug, Clone, PartialEq)]
pub struct PathMiss {
    pub rendered: String,
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl JsonPath {
    pub fn parse(source: &str) -> Result<JsonPath, PathSyntaxError> {
        // Jayway's `PathCompiler.compile` trims the spaces around a path first
        // (deployed definitions carry such paths, e.g. "$$.Execution.Name ").
        let source = source.trim_matches(' ');
        let mut p =
            Parser { s: source.as_bytes(), i: 0, src: source, filter_depth: 0, nesting: 0, filter_operators: 0 };
        let path = p.path()?;
        if p.i != p.s.len() {
            return Err(p.err("unexpected trailing characters"));
        }
        Ok(path)
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// `$` alone (or `$$` alone).
    pub fn is_root(&self) -> bool {
        self.segments.is_empty()
    }

    fn new(source: &str, root: Root, segments: Vec<Segment>) -> JsonPath {
        // Jayway merges a multi-field leaf (`$.a['b','c']`) into one object,
        // so such a path is definite when the rest of it is.
        let body = match segments.split_last() {
            Some((last, body)) if merge_fields(last).is_some() => body,
            _ => segments.as_slice(),
        };
        let definite = body.iter().all(|s| matches!(s, Segment::Field(_) | Segment::Index(_) | Segment::Length));
        let map_item = match (&root, segments.as_slice()) {
            (Root::Context, [Segment::Field(map), Segment::Field(item), Segment::Field(leaf), rest @ ..])
                if &**map == "Map" && &**item == "Item" =>
            {
                match &**leaf {
                    "Index" if rest.is_empty() => Some(MapItem::Index),
                    // A part of the item, read from it where it lies.
                    "Value" if rest.iter().all(|s| matches!(s, Segment::Field(_) | Segment::Index(_))) => {
                        Some(MapItem::Value)
                    }
                    _ => None,
                }
            }
            _ => None,
        };
        JsonPath { source: source.into(), root, segments, definite, map_item }
    }

    /// Only fields and indexes: selects at most one value.
    pub fn is_definite(&self) -> bool {
        self.definite
    }

    /// Whether this is `$$.Map.Item.Index`, or `$$.Map.Item.Value` or a
    /// part of it named by fields and indexes.
    pub fn map_item(&self) -> Option<MapItem> {
        self.map_item
    }

    /// `$.f.rest` (fields and indexes only) with `$.f` replaced by `onto`
    /// (fields and indexes only): the path that selects from `onto`'s data
    /// what this one selects from an object whose `f` is `onto`'s value.
    /// `None` for any other pair. Its text is the two joined, which only a
    /// miss would quote.
    pub fn graft(&self, onto: &JsonPath) -> Option<JsonPath> {
        self.first_field()?;
        if !self.is_reference() || !onto.is_reference() {
            return None;
        }
        let rest = &self.segments[1..];
        let mut source = onto.source.to_string();
        rest.iter().for_each(|seg| render(seg, &mut source));
        let segments = onto.segments.iter().chain(rest).cloned().collect();
        Some(JsonPath::new(&source, onto.root.clone(), segments))
    }

    /// `$$.Map.Item.Index` or `$$.Map.Item.Value` itself, not a part of it.
    pub fn is_whole_map_item(&self) -> bool {
        self.map_item.is_some() && self.segments.len() == MAP_ITEM_SEGMENTS
    }

    /// The first field a path from `$` names (`f` of `$.f…`).
    pub fn first_field(&self) -> Option<&Key> {
        match (&self.root, self.segments.first()) {
            (Root::Input, Some(Segment::Field(f))) => Some(f),
            _ => None,
        }
    }

    /// Whether this path reads the execution's part of the context object
    /// (its input, name, id, start time…): `$$.Map…` reads only the current
    /// Map item, which needs neither a copy of the input nor a name.
    pub fn reads_execution_context(&self) -> bool {
        self.root == Root::Context && !matches!(self.segments.first(), Some(Segment::Field(f)) if &**f == "Map")
    }

    /// What it takes on the heap compiled, estimated from its parts' sizes
    /// (each allocation counted at least 32 bytes, as the allocator rounds):
    /// a definition's paths can weigh far more than their text (a 1 MB
    /// definition of `&&` filters held 88 MB).
    pub fn heap_bytes(&self) -> usize {
        allocated(self.source.len())
            + allocated(self.segments.len() * size_of::<Segment>())
            + self.segments.iter().map(Segment::heap_bytes).sum::<usize>()
    }

    /// A reference path (ResultPath, Choice `Variable`, …) may only name fields
    /// and indexes.
    pub fn is_reference(&self) -> bool {
        self.segments.iter().all(|s| matches!(s, Segment::Field(_) | Segment::Index(_)))
    }

    /// Select against `root`. Definite paths give the value or a miss;
    /// indefinite paths give an array of every match.
    /// At most [`NODES_PER_SELECT`] nodes are visited: past them it misses.
    pub fn select(&self, root: &Value) -> Result<Value, PathMiss> {
        let mut nodes_left = NODES_PER_SELECT;
        self.select_within(root, &mut nodes_left)
    }

    /// [`JsonPath::select`] visiting at most `*nodes_left` nodes, less what
    /// it visited left there. An indefinite path's work is not bounded by
    /// the data alone: a filter comparing each element with a path over the
    /// whole input is quadratic in it, one nesting such filters cubic. Out
    /// of nodes, the walk stops and misses, with `*nodes_left` at 0.
    pub fn select_within(&self, root: &Value, nodes_left: &mut u64) -> Result<Value, PathMiss> {
        if self.is_definite() {
            return self.select_definite(root).map(|v| v.into_owned());
        }
        let mut walk = Walk { root, nodes_left: *nodes_left, ran_out: false };
        let selected = walk.select(self);
        *nodes_left = walk.nodes_left;
        selected.ok_or_else(|| PathMiss { rendered: self.source.to_string() })
    }

    /// Borrowing form for definite paths.
    pub fn select_definite<'a>(&self, root: &'a Value) -> Result<std::borrow::Cow<'a, Value>, PathMiss> {
        self.select_definite_from(root, 0)
    }

    /// [`JsonPath::select_definite`] of the segments after the first
    /// `skip`, `root` being what those selected; a miss is quoted whole.
    pub fn select_definite_from<'a>(
        &self,
        root: &'a Value,
        skip: usize,
    ) -> Result<std::borrow::Cow<'a, Value>, PathMiss> {
        self.select_definite_scanning(root, skip, &mut 0)
    }

    /// [`JsonPath::select_definite_from`], adding to `*scanned` the members
    /// of every wide object ([`WIDE_OBJECT`]) it looks a field up in: a
    /// lookup reads an object's members one by one, so a loop of states
    /// reading a field of a 20,000-member object does work a transitions
    /// cap alone would let run for minutes.
    #[inline]
    pub fn select_definite_scanning<'a>(
        &self,
        root: &'a Value,
        skip: usize,
        scanned: &mut u64,
    ) -> Result<std::borrow::Cow<'a, Value>, PathMiss> {
        let mut cur = root;
        for (n, seg) in self.segments.iter().enumerate().skip(skip) {
            let next = match seg {
                Segment::Field(name) => cur.as_object().and_then(|o| {
                    *scanned += wide_members(o);
                    o.get_key(name)
                }),
                Segment::Index(i) => cur.as_array().and_then(|a| index(a, *i)),
                Segment::Length => {
                    let len = match cur {
                        Value::Array(a) => a.len(),
                        Value::Object(o) => o.len(),
                        Value::String(s) => s.chars().count(),
                        _ => return Err(self.miss(n)),
                    };
                    return Ok(std::borrow::Cow::Owned(Value::from(len)));
                }
                seg => match merge_fields(seg).and_then(|fields| merged(fields, cur)) {
                    Some(obj) => return Ok(std::borrow::Cow::Owned(obj)),
                    None => None,
                },
            };
            match next {
                Some(v) => cur = v,
                None => return Err(self.miss(n)),
            }
        }
        Ok(std::borrow::Cow::Borrowed(cur))
    }

    /// Jayway renders the path up to and including the failing segment.
    fn miss(&self, upto: usize) -> PathMiss {
        let mut rendered = String::from(match self.root {
            Root::Input => "$",
            Root::Context => "$$",
            Root::Variable(_) => "$",
        });
        for seg in &self.segments[..=upto] {
            render(seg, &mut rendered);
        }
        PathMiss { rendered }
    }

    /// Field/index steps for writing (ResultPath); `None` if not a reference.
    pub fn reference_steps(&self) -> Option<Vec<RefStep>> {
        self.segments
            .iter()
            .map(|s| match s {
                Segment::Field(f) => Some(RefStep::Field(f.clone())),
                Segment::Index(i) => Some(RefStep::Index(*i)),
                _ => None,
            })
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum RefStep {
    Field(crate::value::Key),
    Index(i64),
}

/// The fields of a union of two or more names, which Jayway merges into one
/// object when it ends a path.
fn merge_fields(seg: &Segment) -> Option<&[UnionItem]> {
    match seg {
        Segment::Union(items) if items.len() > 1 && items.iter().all(|i| matches!(i, UnionItem::Field(_))) => {
            Some(items)
        }
        _ => None,
    }
}

/// `v`'s named fields as one object (absent ones left out, as Jayway does);
/// `None` when `v` is not an object.
fn merged(fields: &[UnionItem], v: &Value) -> Option<Value> {
    let obj = v.as_object()?;
    let mut out = crate::value::Object::with_capacity(fields.len());
    for item in fields {
        if let UnionItem::Field(f) = item
            && let Some(x) = obj.get_key(f)
        {
            out.insert(f.clone(), x.clone());
        }
    }
    Some(Value::object(out))
}

fn index(a: &[Value], i: i64) -> Option<&Value> {
    if i < 0 {
        let from_end = i.unsigned_abs() as usize;
        if from_end > a.len() { None } else { a.get(a.len() - from_end) }
    } else {
        a.get(i as usize)
    }
}

/// Objects with more members than this count the members a lookup in
/// them scans ([`JsonPath::select_definite_scanning`]); smaller ones are
/// too cheap to count.
pub const WIDE_OBJECT: usize = 64;

/// Members a lookup scans per node a walk visits: a member is a pointer
/// comparison, a node a push and a match.
const MEMBERS_PER_NODE: u64 = 8;

/// The members of `o` if it is wide, else 0.
#[inline]
pub fn wide_members(o: &crate::value::Object) -> u64 {
    if o.len() > WIDE_OBJECT { o.len() as u64 } else { 0 }
}

/// One indefinite select's walk over `root`, counting the nodes it visits
/// down from `nodes_left`; once it `ran_out`, every step stops short.
struct Walk<'a> {
    root: &'a Value,
    nodes_left: u64,
    ran_out: bool,
}

impl<'a> Walk<'a> {
    /// Spend `n` visits; false (and none left) when fewer than `n` were.
    fn spend(&mut self, n: u64) -> bool {
        match self.nodes_left.checked_sub(n) {
            Some(left) => {
                self.nodes_left = left;
                true
            }
            None => {
                self.nodes_left = 0;
                self.ran_out = true;
                false
            }
        }
    }

    /// `path`'s matches (an array), `.length()` of them or their merged
    /// fields; `None` when the walk ran out of nodes.
    fn select(&mut self, path: &JsonPath) -> Option<Value> {
        let mut current: Vec<&'a Value> = vec![self.root];
        let mut length_of: Option<usize> = None;
        let (segments, merge) = match path.segments.split_last() {
            Some((last, body)) if merge_fields(last).is_some() => (body, merge_fields(last)),
            _ => (path.segments.as_slice(), None),
        };
        for seg in segments {
            if let Segment::Length = seg {
                // `.length()` after an indefinite path measures the match list.
                length_of = Some(current.len());
                continue;
            }
            let mut next = Vec::new();
            for v in current {
                self.apply(seg, v, &mut next);
            }
            if !self.spend(next.len() as u64) || self.ran_out {
                return None;
            }
            current = next;
        }
        if let Some(n) = length_of {
            return Some(Value::from(n));
        }
        if let Some(fields) = merge {
            return Some(Value::array(current.into_iter().filter_map(|v| merged(fields, v)).collect()));
        }
        Some(Value::array(current.into_iter().cloned().collect()))
    }

    /// What `seg` selects from `v`, pushed on `out`; nothing once the walk
    /// is out of nodes (its caller then misses).
    fn apply(&mut self, seg: &Segment, v: &'a Value, out: &mut Vec<&'a Value>) {
        if self.ran_out {
            return;
        }
        match seg {
            Segment::Field(name) => {
                if let Some(o) = v.as_object()
                    && self.spend(wide_members(o) / MEMBERS_PER_NODE)
                    && let Some(x) = o.get_key(name)
                {
                    out.push(x);
                }
            }
            Segment::Index(i) => {
                if let Some(x) = v.as_array().and_then(|a| index(a, *i)) {
                    out.push(x);
                }
            }
            Segment::Wildcard => match v {
                Value::Array(a) => out.extend(a.iter()),
                Value::Object(o) => out.extend(o.values()),
                _ => {}
            },
            Segment::Descendant(inner) => self.descend(inner, v, out),
            Segment::Slice(start, end, step) => {
                if let Value::Array(a) = v {
                    let len = a.len() as i64;
                    let norm = |x: i64| if x < 0 { (len + x).max(0) } else { x.min(len) };
                    let step = step.unwrap_or(1).max(1);
                    let s = start.map(norm).unwrap_or(0);
                    let e = end.map(norm).unwrap_or(len);
                    let mut i = s;
                    while i < e {
                        out.push(&a[i as usize]);
                        i += step;
                    }
                }
            }
            Segment::Union(items) => {
                for item in items {
                    match item {
                        UnionItem::Field(f) => {
                            if let Some(x) = v.as_object().and_then(|o| o.get(f)) {
                                out.push(x);
                            }
                        }
                        UnionItem::Index(i) => {
                            if let Some(x) = v.as_array().and_then(|a| index(a, *i)) {
                                out.push(x);
                            }
                        }
                    }
                }
            }
            Segment::Filter(f) => match v {
                Value::Array(a) => {
                    for x in a.iter() {
                        if self.matches(f, x) {
                            out.push(x);
                        }
                    }
                }
                Value::Object(_) if self.matches(f, v) => out.push(v),
                _ => {}
            },
            Segment::Length => {}
        }
    }

    /// `inner` applied to `v` and everything under it, a visit per node.
    /// Recursion as deep as the value, which parsing bounds.
    fn descend(&mut self, inner: &Segment, v: &'a Value, out: &mut Vec<&'a Value>) {
        if !self.spend(1) {
            return;
        }
        match (inner, v) {
            // Jayway's scan tests a filter on each object it walks, not on an
            // array's elements as well, so a matching element is selected once.
            (Segment::Filter(f), Value::Object(_)) if self.matches(f, v) => out.push(v),
            (Segment::Filter(_), _) => {}
            _ => self.apply(inner, v, out),
        }
        match v {
            Value::Array(a) => a.iter().for_each(|c| self.descend(inner, c, out)),
            Value::Object(o) => o.values().for_each(|c| self.descend(inner, c, out)),
            _ => {}
        }
    }

    /// Whether `current` passes the filter, a visit per test (an absolute
    /// operand's own walk spends from the same count).
    fn matches(&mut self, f: &Filter, current: &Value) -> bool {
        if !self.spend(1) {
            return false;
        }
        match f {
            Filter::Exists(p) => p.select_definite(current).is_ok(),
            Filter::And(a, b) => self.matches(a, current) && self.matches(b, current),
            Filter::Or(a, b) => self.matches(a, current) || self.matches(b, current),
            Filter::Not(a) => !self.matches(a, current),
            Filter::Compare(l, op, r) => {
                let (Some(l), Some(r)) = (self.operand(l, current), self.operand(r, current)) else {
                    return false;
                };
                compare(&l, *op, &r)
            }
        }
    }

    fn operand(&mut self, op: &Operand, current: &Value) -> Option<Value> {
        match op {
            Operand::Literal(v) => Some(v.clone()),
            Operand::Current(p) => p.select_definite(current).ok().map(|c| c.into_owned()),
            Operand::Absolute(p) if p.is_definite() => p.select_definite(self.root).ok().map(|c| c.into_owned()),
            Operand::Absolute(p) => self.select(p),
        }
    }
}

fn compare(l: &Value, op: CmpOp, r: &Value) -> bool {
    use std::cmp::Ordering;
    let ord = match (l, r) {
        (Value::Number(a), Value::Number(b)) => a.as_f64().partial_cmp(&b.as_f64()),
        // Jayway compares with Java's `String.compareTo`: UTF-16 code units.
        (Value::String(a), Value::String(b)) => Some(crate::value::utf16_order(a, b)),
        _ => {
            return match op {
                CmpOp::Eq => l == r,
                CmpOp::Ne => l != r,
                _ => false,
            };
        }
    };
    match (op, ord) {
        (CmpOp::Eq, Some(o)) => o == Ordering::Equal,
        (CmpOp::Ne, Some(o)) => o != Ordering::Equal,
        (CmpOp::Lt, Some(o)) => o == Ordering::Less,
        (CmpOp::Le, Some(o)) => o != Ordering::Greater,
        (CmpOp::Gt, Some(o)) => o == Ordering::Greater,
        (CmpOp::Ge, Some(o)) => o != Ordering::Less,
        (_, None) => false,
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    src: &'a str,
    /// Inside `[?( … )]`: a dotted name also ends at an operator there.
    filter_depth: usize,
    /// Filters, parentheses and `!` open around the parser now: each a
    /// frame of recursion here and when the filter is tested and dropped.
    nesting: usize,
    /// `&&`, `||` and `!` built so far: a chain of `&&`/`||` parses in a
    /// loop but nests one level per operator in the tree evaluation walks.
    filter_operators: usize,
}

/// The most nodes one select may visit or hold: a payload has at most
/// ~130 K values, so only a path multiplying them (`$..a..a..a`) comes
/// near, and its lists of node references stay under ~130 MB where an
/// execution's whole work would let them reach gigabytes.
pub const NODES_PER_SELECT: u64 = 8_000_000;

/// How deep filters, their parentheses and `!` may nest in one path, and
/// how many `&&`, `||` and `!` it may hold: far past any written by hand, well
/// inside a thread's stack (a definition is the user's to write).
pub const MAX_FILTER_NESTING: usize = 100;
pub const MAX_FILTER_OPERATORS: usize = 1_000;

impl Parser<'_> {
    /// A syntax error quoting the path, its first 200 characters at most (a
    /// path is as long as the definition that holds it).
    fn err(&self, what: &str) -> PathSyntaxError {
        let quoted = match self.src.char_indices().nth(200) {
            Some((cut, _)) => format!("{}…", &self.src[..cut]),
            None => self.src.to_string(),
        };
        PathSyntaxError { message: format!("{what} at offset {} in '{quoted}'", self.i) }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }

    fn path(&mut self) -> Result<JsonPath, PathSyntaxError> {
        let start = self.i;
        let root = if self.eat(b'$') {
            if self.eat(b'$') {
                Root::Context
            // A variable's name is a Unicode identifier (its first byte may
            // start a multi-byte character: `$変数`).
            } else if matches!(self.peek(), Some(c) if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80) {
                Root::Variable(self.ident()?.into())
            } else {
                Root::Input
            }
        } else if self.eat(b'@') {
            Root::Input
        } else {
            return Err(self.err("a path must start with '$'"));
        };
        let segments = self.segments()?;
        Ok(JsonPath::new(&self.src[start..self.i], root, segments))
    }

    fn ident(&mut self) -> Result<String, PathSyntaxError> {
        let start = self.i;
        while let Some(c) = self.peek() {
            // Jayway's dotted name runs to the next '.', '[', '(' or space
            // (a space is an error there: names with spaces need brackets),
            // so `$.a=b` names the field "a=b" (a stray ']' stays an error,
            // as the existing tests pin); inside a filter the
            // operators and delimiters end it too.
            let ends = match c {
                b'.' | b'[' | b' ' | b'(' | b']' => true,
                b')' | b'=' | b'<' | b'>' | b'!' | b'&' | b'|' | b',' => self.filter_depth > 0,
                _ => false,
            };
            if ends {
                break;
            }
            self.i += 1;
        }
        if start == self.i {
            return Err(self.err("expected a field name"));
        }
        Ok(self.src[start..self.i].to_string())
    }

    fn segments(&mut self) -> Result<Vec<Segment>, PathSyntaxError> {
        let mut segs = Vec::new();
        loop {
            match self.peek() {
                Some(b'.') => {
                    self.i += 1;
                    if self.eat(b'.') {
                        let inner = if self.eat(b'*') {
                            Segment::Wildcard
                        } else if self.peek() == Some(b'[') {
                            self.bracket()?
                        } else {
                            Segment::Field(Key::intern(&self.ident()?))
                        };
                        segs.push(Segment::Descendant(Box::new(inner)));
                    } else if self.eat(b'*') {
                        segs.push(Segment::Wildcard);
                    } else if self.peek() == Some(b'[') {
                        // Jayway reads the token after a single '.' afresh,
                        // so `$.a.[0]` and `$.['x']` mean `$.a[0]` and `$['x']`.
                        segs.push(self.bracket()?);
                    } else {
                        let name = self.ident()?;
                        if name == "length" && self.s[self.i..].starts_with(b"()") {
                            self.i += 2;
                            segs.push(Segment::Length);
                        } else {
                            segs.push(Segment::Field(Key::intern(&name)));
                        }
                    }
                }
                Some(b'[') => {
                    segs.push(self.bracket()?);
                    // Jayway reads any other token after a bracket as a
                    // property, so `$.a[0]b` means `$.a[0].b` (deployed
                    // definitions rely on it).
                    if self.filter_depth == 0
                        && matches!(self.peek(), Some(c) if !matches!(c, b'.' | b'[' | b']' | b'(' | b')' | b' '))
                    {
                        segs.push(Segment::Field(Key::intern(&self.ident()?)));
                    }
                }
                _ => return Ok(segs),
            }
        }
    }

    fn quoted(&mut self) -> Result<String, PathSyntaxError> {
        // Callers reach here after a ',' too, where any byte may follow:
        // only an ASCII quote keeps the slices below on char boundaries.
        let q = match self.peek() {
            Some(q @ (b'\'' | b'"')) => q,
            _ => return Err(self.err("expected a quote")),
        };
        self.i += 1;
        let mut out = String::new();
        let start = self.i;
        let mut run_start = start;
        while let Some(c) = self.peek() {
            if c == b'\\' {
                out.push_str(&self.src[run_start..self.i]);
                self.i += 1;
                let e = self.peek().ok_or_else(|| self.err("unterminated escape"))?;
                // Jayway unescapes the quote and the backslash itself (so
                // `'a\\'` ends after the pair); any other backslash is part
                // of the field name.
                if e == q || e == b'\\' {
                    out.push(e as char);
                    self.i += 1;
                } else {
                    out.push('\\');
                }
                run_start = self.i;
            } else if c == q {
                out.push_str(&self.src[run_start..self.i]);
                self.i += 1;
                return Ok(out);
            } else {
                self.i += 1;
            }
        }
        Err(self.err("unterminated string"))
    }

    fn int(&mut self) -> Result<i64, PathSyntaxError> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.i += 1;
        }
        self.src[start..self.i].parse().map_err(|_| self.err("expected an integer"))
    }

    fn bracket(&mut self) -> Result<Segment, PathSyntaxError> {
        self.i += 1; // '['
        self.skip_ws();
        let seg = match self.peek() {
            Some(b'*') => {
                self.i += 1;
                Segment::Wildcard
            }
            Some(b'?') => {
                self.i += 1;
                self.skip_ws();
                if !self.eat(b'(') {
                    return Err(self.err("expected '(' after '?'"));
                }
                self.filter_depth += 1;
                let f = self.nested(Self::filter_or);
                self.filter_depth -= 1;
                let f = f?;
                self.skip_ws();
                if !self.eat(b')') {
                    return Err(self.err("expected ')' closing the filter"));
                }
                Segment::Filter(Box::new(f))
            }
            Some(b'\'' | b'"') => {
                let mut items = vec![UnionItem::Field(Key::intern(&self.quoted()?))];
                self.skip_ws();
                while self.eat(b',') {
                    self.skip_ws();
                    items.push(UnionItem::Field(Key::intern(&self.quoted()?)));
                    self.skip_ws();
                }
                if items.len() == 1 {
                    match items.pop() {
                        Some(UnionItem::Field(f)) => Segment::Field(f),
                        _ => return Err(self.err("expected a field")),
                    }
                } else {
                    Segment::Union(items)
                }
            }
            Some(b'-' | b'0'..=b'9' | b':') => {
                let first = if self.peek() == Some(b':') { None } else { Some(self.int()?) };
                self.skip_ws();
                if self.eat(b':') {
                    self.skip_ws();
                    let end = if matches!(self.peek(), Some(b'-' | b'0'..=b'9')) { Some(self.int()?) } else { None };
                    let step = if self.eat(b':') { Some(self.int()?) } else { None };
                    Segment::Slice(first, end, step)
                } else if self.peek() == Some(b',') {
                    let mut items = vec![UnionItem::Index(first.unwrap_or(0))];
                    while self.eat(b',') {
                        self.skip_ws();
                        items.push(UnionItem::Index(self.int()?));
                        self.skip_ws();
                    }
                    Segment::Union(items)
                } else {
                    Segment::Index(first.ok_or_else(|| self.err("expected an index"))?)
                }
            }
            _ => return Err(self.err("unexpected character in brackets")),
        };
        self.skip_ws();
        if !self.eat(b']') {
            return Err(self.err("expected ']'"));
        }
        Ok(seg)
    }

    /// Parse one more level of nesting, refused past [`MAX_FILTER_NESTING`].
    fn nested<T>(&mut self, parse: impl FnOnce(&mut Self) -> Result<T, PathSyntaxError>) -> Result<T, PathSyntaxError> {
        if self.nesting >= MAX_FILTER_NESTING {
            return Err(self.err(&format!("filter nested more than {MAX_FILTER_NESTING} deep")));
        }
        self.nesting += 1;
        let parsed = parse(self);
        self.nesting -= 1;
        parsed
    }

    /// Count a `&&`, `||` or `!`, refused past [`MAX_FILTER_OPERATORS`].
    fn operator(&mut self, filter: Filter) -> Result<Filter, PathSyntaxError> {
        self.filter_operators += 1;
        if self.filter_operators > MAX_FILTER_OPERATORS {
            return Err(self.err(&format!("more than {MAX_FILTER_OPERATORS} filter operators")));
        }
        Ok(filter)
    }

    fn filter_or(&mut self) -> Result<Filter, PathSyntaxError> {
        let mut left = self.filter_and()?;
        loop {
            self.skip_ws();
            if self.s[self.i..].starts_with(b"||") {
                self.i += 2;
                let right = self.filter_and()?;
                left = self.operator(Filter::Or(Box::new(left), Box::new(right)))?;
            } else {
                return Ok(left);
            }
        }
    }

    fn filter_and(&mut self) -> Result<Filter, PathSyntaxError> {
        let mut left = self.filter_atom()?;
        loop {
            self.skip_ws();
            if self.s[self.i..].starts_with(b"&&") {
                self.i += 2;
                let right = self.filter_atom()?;
                left = self.operator(Filter::And(Box::new(left), Box::new(right)))?;
            } else {
                return Ok(left);
            }
        }
    }

    fn filter_atom(&mut self) -> Result<Filter, PathSyntaxError> {
        self.skip_ws();
        if self.eat(b'!') {
            let negated = self.nested(Self::filter_atom)?;
            return self.operator(Filter::Not(Box::new(negated)));
        }
        if self.eat(b'(') {
            let f = self.nested(Self::filter_or)?;
            self.skip_ws();
            if !self.eat(b')') {
                return Err(self.err("expected ')'"));
            }
            return Ok(f);
        }
        let left = self.operand()?;
        self.skip_ws();
        let op = if self.s[self.i..].starts_with(b"==") {
            Some(CmpOp::Eq)
        } else if self.s[self.i..].starts_with(b"!=") {
            Some(CmpOp::Ne)
        } else if self.s[self.i..].starts_with(b"<=") {
            Some(CmpOp::Le)
        } else if self.s[self.i..].starts_with(b">=") {
            Some(CmpOp::Ge)
        } else if self.peek() == Some(b'<') {
            Some(CmpOp::Lt)
        } else if self.peek() == Some(b'>') {
            Some(CmpOp::Gt)
        } else {
            None
        };
        match op {
            None => match left {
                Operand::Current(p) => Ok(Filter::Exists(p)),
                _ => Err(self.err("expected a comparison")),
            },
            Some(op) => {
                self.i += if matches!(op, CmpOp::Lt | CmpOp::Gt) { 1 } else { 2 };
                let right = self.operand()?;
                Ok(Filter::Compare(left, op, right))
            }
        }
    }

    fn operand(&mut self) -> Result<Operand, PathSyntaxError> {
        self.skip_ws();
        match self.peek() {
            Some(b'@') => {
                self.i += 1;
                let start = self.i - 1;
                let segments = self.segments()?;
                Ok(Operand::Current(JsonPath::new(&self.src[start..self.i], Root::Input, segments)))
            }
            Some(b'$') => Ok(Operand::Absolute(self.path()?)),
            Some(b'\'' | b'"') => Ok(Operand::Literal(Value::from(self.quoted()?))),
            Some(b'-' | b'0'..=b'9') => {
                let start = self.i;
                self.i += 1;
                while matches!(self.peek(), Some(b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-')) {
                    self.i += 1;
                }
                crate::value::from_str(&self.src[start..self.i])
                    .ok()
                    .filter(Value::is_number)
                    .map(Operand::Literal)
                    .ok_or_else(|| self.err("bad number"))
            }
            _ => {
                for (word, v) in [("true", Value::Bool(true)), ("false", Value::Bool(false)), ("null", Value::Null)] {
                    if self.s[self.i..].starts_with(word.as_bytes()) {
                        self.i += word.len();
                        return Ok(Operand::Literal(v));
                    }
                }
                Err(self.err("expected an operand"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sel(p: &str, v: &serde_json::Value) -> Result<serde_json::Value, PathMiss> {
        JsonPath::parse(p).map_err(|e| e.message).unwrap().select(&Value::from(v)).map(serde_json::Value::from)
    }

    /// Parentheses, `!`, nested filters and operator chains a definition
    /// could nest past any stack are refused with a syntax error naming the
    /// bound (each overflowed the stack before), while the same shapes
    /// within it parse and select.
    #[test]
    fn filters_nested_past_the_bound_are_refused() {
        let deep = [
            format!("$[?({}@.a{})]", "(".repeat(6000), ")".repeat(6000)),
            format!("$[?({}@.a)]", "!".repeat(100_000)),
            format!("$[?({})]", vec!["@.a"; 50_000].join(" && ")),
            format!("$[?({})]", vec!["@.a"; 50_000].join(" || ")),
            format!("$[?(@.a{}{})]", "[?(@.a".repeat(3000), ")]".repeat(3000)),
        ];
        for path in &deep {
            let error = JsonPath::parse(path).expect_err("refused").message;
            assert!(
                error.contains("nested more than 100") || error.contains("more than 1000 filter operators"),
                "{error}"
            );
        }
        let v = json!([{"a": 1}, {"b": 2}]);
        let within = format!("$[?({}@.a{})]", "(".repeat(90), ")".repeat(90));
        assert_eq!(sel(&within, &v).unwrap(), json!([{"a": 1}]));
        let within = format!("$[?({}@.a)]", "!".repeat(98));
        assert_eq!(sel(&within, &v).unwrap(), json!([{"a": 1}]));
        let within = format!("$[?({})]", vec!["@.a"; 900].join(" && "));
        assert_eq!(sel(&within, &v).unwrap(), json!([{"a": 1}]));
    }

    #[test]
    fn definite_paths_select_one_value() {
        let v = json!({"a": {"b": [10, 20, 30]}, "x-y": 1});
        assert_eq!(sel("$.a.b[1]", &v).unwrap(), json!(20));
        assert_eq!(sel("$.a.b[-1]", &v).unwrap(), json!(30));
        assert_eq!(sel("$['a']['b'][0]", &v).unwrap(), json!(10));
        assert_eq!(sel("$.x-y", &v).unwrap(), json!(1));
        assert_eq!(sel("$", &v).unwrap(), v);
        assert_eq!(sel("$.a.b.length()", &v).unwrap(), json!(3));
    }

    /// Jayway's filters compare strings as Java does: by UTF-16 code units,
    /// so U+FFFF sorts after U+1F600 (a surrogate pair, 0xD83D first).
    #[test]
    fn filters_order_strings_by_utf16_code_units() {
        let v = json!({"items": [{"s": "\u{ffff}"}, {"s": "\u{1f600}"}, {"s": "a"}]});
        assert_eq!(sel("$.items[?(@.s > '\u{e000}')].s", &v).unwrap(), json!(["\u{ffff}"]));
        assert_eq!(sel("$.items[?(@.s < '\u{e000}')].s", &v).unwrap(), json!(["\u{1f600}", "a"]));
    }

    #[test]
    fn a_miss_renders_jayway_prefix() {
        let v = json!({"a": {}});
        let miss = sel("$.a.no.such", &v).unwrap_err();
        assert_eq!(miss.rendered, "$['a']['no']");
    }

    #[test]
    fn indefinite_paths_always_give_arrays() {
        let v = json!({"items": [{"v": 1}, {"v": 2}, {"w": 3}], "o": {"p": 1, "q": 2}});
        assert_eq!(sel("$.items[*].v", &v).unwrap(), json!([1, 2]));
        assert_eq!(sel("$.missing[*]", &v).unwrap(), json!([]));
        assert_eq!(sel("$.items[1:]", &v).unwrap(), json!([{"v": 2}, {"w": 3}]));
        assert_eq!(sel("$.items[:1].v", &v).unwrap(), json!([1]));
        assert_eq!(sel("$..v", &v).unwrap(), json!([1, 2]));
        assert_eq!(sel("$.o.*", &v).unwrap(), json!([1, 2]));
        assert_eq!(sel("$.items[0,2]", &v).unwrap(), json!([{"v": 1}, {"w": 3}]));
        assert_eq!(sel("$.items[?(@.v > 1)]", &v).unwrap(), json!([{"v": 2}]));
        assert_eq!(sel("$.items[?(@.w)]", &v).unwrap(), json!([{"w": 3}]));
        assert_eq!(sel("$.items[?(@.v == 1 || @.w == 3)].v", &v).unwrap(), json!([1]));
    }

    #[test]
    fn syntax_errors_are_reported() {
        for bad in ["a.b", "$.", "$[", "$['a'", "$[?(@.a ==)]", "$.a]"] {
            assert!(JsonPath::parse(bad).is_err(), "{bad} should not parse");
        }
    }

    #[test]
    fn roots_are_distinguished() {
        assert_eq!(JsonPath::parse("$$.Execution.Id").unwrap().root, Root::Context);
        assert_eq!(JsonPath::parse("$var.x").unwrap().root, Root::Variable("var".into()));
        assert_eq!(JsonPath::parse("$.x").unwrap().root, Root::Input);
    }
}
