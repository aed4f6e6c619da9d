//! The JSONata evaluator: a tree walk over [`Node`]s that follows jsonata-js
//! `evaluate` closely — the language is defined by that implementation, and
//! the suite in `../shared/jsonata-suite/` checks its corners.

use super::Error;
use super::ast::{BinOp, Group, Kind, LambdaDef, Node, Stage, TransformDef};
use super::functions::{self, Builtin};
use super::value::{Arr, Obj, V, deep_equal, obj_get, obj_set};
use crate::value::{Key, Value, utf16_order};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

pub enum Func {
    Lambda {
        def: Arc<LambdaDef>,
        env: Rc<Scope>,
        input: V,
    },
    Builtin(&'static Builtin),
    /// A call with `?` placeholders, waiting for the missing arguments.
    /// `nesting`: how many partials and chains it holds, itself included.
    Partial {
        target: V,
        args: Vec<Option<V>>,
        nesting: usize,
    },
    Regex(Arc<regex::Regex>),
    Transform {
        def: Arc<TransformDef>,
        env: Rc<Scope>,
    },
    /// `f ~> g` on two functions: `g(f(x))`.
    Chain {
        first: V,
        then: V,
        nesting: usize,
    },
}

impl Drop for Func {
    /// Dropped without recursing once per nested function: a partial's
    /// arguments, a chain's parts and a lambda's input can each hold another
    /// function (in arrays and objects too, which no depth check of built
    /// values sees through), and a `$reduce` can nest them 100,000 deep —
    /// whose drop, recursive, overflowed the stack and aborted the process.
    /// The parts that may hold functions go to a per-thread list, emptied by
    /// the outermost drop in a loop.
    fn drop(&mut self) {
        // Scalars and engine JSON hold no function: dropped here.
        let may_nest = |p: &V| matches!(p, V::Func(_) | V::Arr(_) | V::Obj(_) | V::Tuple(_));
        let mut parts: Vec<V> = match self {
            Func::Partial { target, args, .. } => std::iter::once(std::mem::take(target))
                .chain(std::mem::take(args).into_iter().flatten())
                .filter(may_nest)
                .collect(),
            Func::Chain { first, then, .. } => {
                [std::mem::take(first), std::mem::take(then)].into_iter().filter(may_nest).collect()
            }
            Func::Lambda { input, .. } if may_nest(input) => vec![std::mem::take(input)],
            Func::Lambda { .. } | Func::Builtin(_) | Func::Regex(_) | Func::Transform { .. } => return,
        };
        if parts.is_empty() {
            return;
        }
        thread_local! {
            static PENDING: RefCell<Option<Vec<V>>> = const { RefCell::new(None) };
        }
        let outermost = PENDING.try_with(|pending| {
            let mut pending = pending.borrow_mut();
            match pending.as_mut() {
                Some(list) => {
                    list.append(&mut parts);
                    false
                }
                None => {
                    *pending = Some(std::mem::take(&mut parts));
                    true
                }
            }
        });
        // Past the thread's teardown the parts drop where they are.
        if outermost != Ok(true) {
            return;
        }
        while let Some(part) = PENDING.with(|pending| pending.borrow_mut().as_mut().and_then(Vec::pop)) {
            drop(part);
        }
        PENDING.with(|pending| *pending.borrow_mut() = None);
    }
}

/// Partials and chains nested in one function at most: calling one, and
/// dropping it, recurse once per level (`$reduce` over 300,000 items can
/// chain a function to itself as often, and had overflowed the stack).
const MAX_FUNCTION_NESTING: usize = 1000;

/// jsonata-js's error for recursion past the depth limit.
fn recursed_too_deep() -> Error {
    Error::eval(
        "U1001",
        "Stack overflow error: Check for non-terminating recursive function. Consider rewriting as tail-recursive.",
    )
}

/// How many partials and chains `v` holds (0 when it is neither).
fn nesting_of(v: &V) -> usize {
    match v {
        V::Func(f) => match &**f {
            Func::Partial { nesting, .. } | Func::Chain { nesting, .. } => *nesting,
            _ => 0,
        },
        _ => 0,
    }
}

/// The nesting of a partial or chain made of `parts`, refused past the bound.
fn nesting_over<'a>(parts: impl IntoIterator<Item = &'a V>) -> Result<usize, Error> {
    let nesting = parts.into_iter().map(nesting_of).max().unwrap_or(0) + 1;
    if nesting > MAX_FUNCTION_NESTING {
        return Err(Error::eval(
            "U1001",
            format!(
                "Stack overflow error: a function is built of more than {MAX_FUNCTION_NESTING} nested partial applications or chains"
            ),
        ));
    }
    Ok(nesting)
}

impl Func {
    /// How many arguments higher-order functions pass to it.
    pub fn arity(&self) -> usize {
        match self {
            Func::Lambda { def, .. } => def.params.len(),
            Func::Builtin(b) => b.arity,
            Func::Partial { args, .. } => args.iter().filter(|a| a.is_none()).count(),
            Func::Regex(_) | Func::Transform { .. } | Func::Chain { .. } => 1,
        }
    }
}

/// A scope of variables (jsonata-js's environment): the names bound in a
/// block, a lambda call or a tuple step, and the scope it sits in.
#[derive(Default)]
pub struct Scope {
    vars: RefCell<Vec<(Key, V)>>,
    parent: Option<Rc<Scope>>,
}

impl Scope {
    pub fn lookup(&self, name: &str) -> Option<V> {
        if let Some((_, v)) = self.vars.borrow().iter().rev().find(|(k, _)| &**k == name) {
            return Some(v.clone());
        }
        self.parent.as_ref().and_then(|p| p.lookup(name))
    }
    pub fn clear(&self) {
        self.vars.borrow_mut().clear();
    }

    pub fn bind(&self, name: Key, value: V) {
        let mut vars = self.vars.borrow_mut();
        match vars.iter_mut().find(|(k, _)| *k == name) {
            Some(slot) => slot.1 = value,
            None => vars.push((name, value)),
        }
    }
}

/// Items copied or compared by a built-in that cost one evaluation step
/// ([`Evaluator::charge`]): a step of the evaluator does about as much work.
pub(super) const ITEMS_PER_STEP: u64 = 8;

/// Stack left below which an evaluation step continues on a new segment of
/// [`STACK_SEGMENT`] bytes: enough for what a step may do without passing
/// through [`Evaluator::evaluate`] again (a built-in walking a value 512
/// levels deep); `$eval` asks for more of its own (its parse).
const STACK_RED_ZONE: usize = 512 * 1024;
pub(super) const STACK_SEGMENT: usize = 2 * 1024 * 1024;
/// Steps a new stack segment costs: mapping it, faulting it in and unmapping
/// it take ~21 µs here, about what 100 evaluation steps take.
const STEPS_PER_STACK_SEGMENT: u64 = 100;

pub struct Limits {
    pub max_depth: usize,
    pub max_steps: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_depth: 10_000, max_steps: 10_000_000 }
    }
}

pub struct Evaluator<'a> {
    depth: usize,
    steps: u64,
    limits: Limits,
    /// Every scope made, so closures that capture their own scope (a cycle
    /// of `Rc`s) can be broken when the evaluation ends.
    scopes: Vec<Rc<Scope>>,
    pub now_millis: i64,
    pub rng: u64,
    /// Variables consulted after the scopes (see [`super::Environment`]).
    pub globals: Option<&'a Value>,
    /// `$states`: input, result, errorOutput, context — borrowed: no
    /// reference counts change per evaluation.
    pub states: Option<[Option<&'a Value>; 4]>,
    /// `$$`: the evaluation's input.
    pub root_input: V,
    /// `$states.context.Map.Item`: index and value.
    pub map_item: Option<(usize, &'a Value)>,
    /// What is known of the depth of the engine values it reads.
    pub json_depth: functions::JsonDepth<'a>,
}

const STATES_FIELDS: [&str; 4] = ["input", "result", "errorOutput", "context"];

impl Drop for Evaluator<'_> {
    fn drop(&mut self) {
        for f in &self.scopes {
            f.vars.borrow_mut().clear();
        }
    }
}

type R = Result<V, Error>;

fn seq_of(items: Vec<V>, tuple_stream: bool) -> V {
    V::Arr(Rc::new(Arr { items, sequence: true, tuple_stream, ..Arr::default() }))
}

/// jsonata-js `fn.boolean`; `None` for undefined.
pub fn boolean(v: &V) -> Option<bool> {
    Some(match v {
        V::Undef => return None,
        V::Null => false,
        V::Bool(b) => *b,
        V::Num(n) => *n != 0.0,
        V::Str(s) => !s.is_empty(),
        V::Arr(a) => match a.items.len() {
            0 => false,
            1 => boolean(&a.items[0]).unwrap_or(false),
            _ => a.items.iter().any(|i| boolean(i) == Some(true)),
        },
        V::Obj(o) | V::Tuple(o) => !o.is_empty(),
        V::Func(_) => false,
        V::Json(Value::Object(o)) => !o.is_empty(),
        V::Json(_) => return boolean(&v.norm()),
    })
}

fn tuple_at(t: &Obj) -> V {
    obj_get(t, "@").cloned().unwrap_or_default()
}

impl<'a> Evaluator<'a> {
    pub fn new(limits: Limits, now_millis: i64, seed: u64) -> Evaluator<'a> {
        Evaluator {
            depth: 0,
            steps: 0,
            limits,
            scopes: Vec::new(),
            now_millis,
            rng: seed | 1,
            globals: None,
            states: None,
            root_input: V::Undef,
            map_item: None,
            json_depth: functions::JsonDepth::new(None, None),
        }
    }

    pub fn scope(&mut self, parent: Option<Rc<Scope>>) -> Rc<Scope> {
        let f = Rc::new(Scope { vars: RefCell::new(Vec::new()), parent });
        self.scopes.push(f.clone());
        f
    }

    fn scope_from_tuple(&mut self, env: &Rc<Scope>, tuple: &Obj) -> Rc<Scope> {
        let f = self.scope(Some(env.clone()));
        *f.vars.borrow_mut() = tuple.clone();
        f
    }

    /// The steps taken so far, charged work included.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Charge the text a built-in or an operator reads or writes, at the
    /// rate intrinsics are charged (a step per [`crate::vm::BYTES_PER_STEP`]).
    pub(super) fn charge_text(&mut self, bytes: usize) -> Result<(), Error> {
        self.charge((bytes / crate::vm::BYTES_PER_STEP) as u64)
    }

    /// Charge `work` evaluation steps for what a built-in or an operator
    /// does beyond one step (items copied or compared, text written), so
    /// that no evaluation runs or allocates without bound inside a single
    /// step. [`ITEMS_PER_STEP`] items of plain work are one step.
    pub(super) fn charge(&mut self, work: u64) -> Result<(), Error> {
        self.steps = self.steps.saturating_add(work);
        if self.steps > self.limits.max_steps {
            // Refused before it was done: the budget is spent, no more.
            self.steps = self.limits.max_steps + 1;
            return Err(Error::eval("U1001", "Expression evaluation exceeded its step budget"));
        }
        Ok(())
    }

    /// Before `n` tuples of a `@`/`#`/`%` step are built: each holds its
    /// bindings in allocations of its own (~280 bytes; 10 M of them for
    /// `[1..10000000]#$i` took 2.8 GB), so each costs [`STEPS_PER_TUPLE`]
    /// steps and the step budget bounds their memory to a few hundred MB.
    fn charge_tuples(&mut self, n: usize) -> Result<(), Error> {
        self.charge((n as u64).saturating_mul(STEPS_PER_TUPLE))
    }

    pub fn evaluate(&mut self, node: &Node, input: &V, env: &Rc<Scope>) -> R {
        self.depth += 1;
        self.steps += 1;
        if self.depth > self.limits.max_depth {
            self.depth -= 1;
            return Err(recursed_too_deep());
        }
        if self.steps > self.limits.max_steps {
            self.depth -= 1;
            return Err(Error::eval("U1001", "Expression evaluation exceeded its step budget"));
        }
        // Deep recursion (a user function that is not tail-recursive) runs
        // on stack grown on the heap: the depth is `max_depth`, whatever
        // the thread's stack (it had been ~130 calls of such a function).
        let result = self.on_enough_stack(|ev| ev.evaluate_inner(node, input, env));
        self.depth -= 1;
        result.map_err(|e| e.at(node.pos))
    }

    /// `f`, on a new stack segment if this one is near its end (charged).
    fn on_enough_stack(&mut self, f: impl FnOnce(&mut Self) -> R) -> R {
        self.with_stack(STACK_RED_ZONE, f)
    }

    /// `f` with at least `needed` bytes of stack: on a new segment when this
    /// one has less left, each new segment charged.
    pub(super) fn with_stack(&mut self, needed: usize, f: impl FnOnce(&mut Self) -> R) -> R {
        if stacker::remaining_stack().is_some_and(|left| left < needed) {
            self.charge(STEPS_PER_STACK_SEGMENT)?;
        }
        stacker::maybe_grow(needed, STACK_SEGMENT.max(needed.saturating_mul(2)), || f(self))
    }

    /// `f`, a loop over items (a built-in's, a path step's, a filter's), with
    /// twice the red zone: a loop begun near the zone's edge moves to a new
    /// segment once, rather than every item's evaluation mapping one of its
    /// own (stacker keeps no segment for reuse).
    fn looping(&mut self, f: impl FnOnce(&mut Self) -> R) -> R {
        self.with_stack(2 * STACK_RED_ZONE, f)
    }

    /// A call that recurses without evaluating a node (a partial's or a
    /// chain's function): counted against the depth, on enough stack.
    fn nested(&mut self, f: impl FnOnce(&mut Self) -> R) -> R {
        self.depth += 1;
        if self.depth > self.limits.max_depth {
            self.depth -= 1;
            return Err(recursed_too_deep());
        }
        let result = self.on_enough_stack(f);
        self.depth -= 1;
        result
    }

    fn evaluate_inner(&mut self, node: &Node, input: &V, env: &Rc<Scope>) -> R {
        let mut result = match &node.kind {
            Kind::Path(steps) => self.path(node, steps, input, env)?,
            Kind::Binary(op, l, r) => self.binary(*op, l, r, input, env)?,
            Kind::Neg(e) => match self.evaluate(e, input, env)? {
                V::Undef => V::Undef,
                v => match v.num() {
                    Some(n) => V::Num(-n),
                    None => return Err(Error::eval("D1002", "Cannot negate a non-numeric value")),
                },
            },
            Kind::Array(items) => {
                let mut out = Vec::new();
                for item in items {
                    let v = self.evaluate(item, input, env)?;
                    functions::items_fit(out.len() + v.item_count().unwrap_or(1))?;
                    match v {
                        V::Undef => {}
                        V::Arr(a) if !matches!(item.kind, Kind::Array(_)) => out.extend(a.items.iter().cloned()),
                        v @ V::Json(Value::Array(_)) if !matches!(item.kind, Kind::Array(_)) => {
                            out.extend(v.to_items())
                        }
                        v => out.push(v),
                    }
                }
                let arr = Arr::plain(out);
                arr.cons.set(node.cons_array);
                functions::depth_fits(V::Arr(Rc::new(arr)), &mut self.json_depth)?
            }
            Kind::Object(pairs) => self.group(pairs, input, env)?,
            Kind::Name(n) => lookup(input, n),
            Kind::Str(s) => V::Str(s.clone()),
            Kind::Num(n) => V::Num(*n),
            Kind::Bool(b) => V::Bool(*b),
            Kind::Null => V::Null,
            Kind::Wildcard => wildcard(input),
            Kind::Descendant => {
                let mut out = Vec::new();
                if !input.is_undef() {
                    descendants(&input.norm(), &mut out);
                }
                // A step per item, not per eight: each is a node unpacked
                // (an allocation), and `**.a.**` multiplies them.
                self.charge(out.len() as u64)?;
                match out.len() {
                    0 if input.is_undef() => V::Undef,
                    1 => out.pop().unwrap_or_default(),
                    _ => seq_of(out, false),
                }
            }
            Kind::Parent(_) => match &node.label {
                Some(label) => env.lookup(label).unwrap_or_default(),
                None => V::Undef,
            },
            Kind::Condition(c, t, e) => {
                let c = self.evaluate(c, input, env)?;
                if boolean(&c) == Some(true) {
                    self.evaluate(t, input, env)?
                } else if let Some(e) = e {
                    self.evaluate(e, input, env)?
                } else {
                    V::Undef
                }
            }
            Kind::Coalesce(l, r) => match self.evaluate(l, input, env)? {
                V::Undef => self.evaluate(r, input, env)?,
                v => v,
            },
            Kind::Block(items) => {
                let scope = self.scope(Some(env.clone()));
                let mut last = V::Undef;
                for item in items {
                    last = self.evaluate(item, input, &scope)?;
                }
                last
            }
            Kind::Bind(name, value) => {
                let v = self.evaluate(value, input, env)?;
                env.bind(name.clone(), v.clone());
                v
            }
            Kind::Regex(re) => V::Func(Rc::new(Func::Regex(re.clone()))),
            Kind::Variable(name) => {
                if name.is_empty() {
                    match input {
                        V::Arr(a) if a.outer_wrapper => a.items.first().cloned().unwrap_or_default(),
                        v => v.clone(),
                    }
                } else {
                    match env.lookup(name) {
                        Some(v) => v,
                        None if &**name == "$" => self.root_input.clone(),
                        None if &**name == "states" && self.states.is_some() => self.states_object(),
                        None => match self.globals.and_then(|g| g.get(name)) {
                            Some(v) => V::from_json(v),
                            None => {
                                functions::lookup(name).map(|b| V::Func(Rc::new(Func::Builtin(b)))).unwrap_or_default()
                            }
                        },
                    }
                }
            }
            Kind::Lambda(def) => {
                V::Func(Rc::new(Func::Lambda { def: def.clone(), env: env.clone(), input: input.clone() }))
            }
            Kind::Call(proc, args) => self.call(proc, args, input, env, None)?,
            Kind::Partial(proc, args) => self.partial(proc, args, input, env)?,
            Kind::Apply(l, r) => self.apply_operator(l, r, input, env)?,
            Kind::Transform(def) => V::Func(Rc::new(Func::Transform { def: def.clone(), env: env.clone() })),
            Kind::Sort(_) => return Err(Error::eval("S0201", "A sort must follow a path step")),
            Kind::Placeholder => return Err(Error::eval("S0201", "Syntax error: ?")),
        };
        for stage in &node.predicate {
            if let Stage::Filter(p) = stage {
                result = self.filter(p, &result, env)?;
            }
        }
        if !matches!(node.kind, Kind::Path(_))
            && let Some(g) = &node.group
        {
            result = self.group_by(g, &result, env)?;
        }
        if let V::Arr(a) = &result
            && a.sequence
            && !a.tuple_stream
        {
            if node.keep_array {
                a.keep_singleton.set(true);
            }
            if a.items.is_empty() {
                return Ok(V::Undef);
            }
            if a.items.len() == 1 && !a.keep_singleton.get() {
                return Ok(a.items[0].clone());
            }
        }
        Ok(result)
    }

    fn path(&mut self, node: &Node, steps: &[Node], input: &V, env: &Rc<Scope>) -> R {
        if let Some(v) = self.object_walk(node, steps, input, env)? {
            return Ok(v);
        }
        let first_is_var = matches!(steps.first().map(|s| &s.kind), Some(Kind::Variable(_)));
        let mut input_seq = match input {
            V::Arr(_) if !first_is_var => input.clone(),
            V::Json(Value::Array(_)) if !first_is_var => input.norm().into_owned(),
            // `createSequence(undefined)` holds one undefined item.
            v => seq_of(vec![v.clone()], false),
        };
        let mut result = V::Undef;
        let mut tuples: Option<Vec<Rc<Obj>>> = None;
        let mut is_tuple = false;
        let last = steps.len().saturating_sub(1);
        for (i, step) in steps.iter().enumerate() {
            if step.tuple {
                is_tuple = true;
            }
            if i == 0 && step.cons_array {
                result = self.evaluate(step, &input_seq, env)?;
            } else if is_tuple {
                tuples = Some(self.tuple_step(step, &input_seq, tuples.take(), env)?);
            } else {
                result = self.step(step, &input_seq, env, i == last)?;
            }
            if !is_tuple && result.item_count().is_none_or(|n| n == 0) {
                break;
            }
            if step.focus.is_none() {
                input_seq = result.clone();
            }
        }
        let mut stream = None;
        if is_tuple {
            let tuples = tuples.unwrap_or_default();
            let as_stream = seq_of(tuples.iter().cloned().map(V::Tuple).collect(), true);
            if node.tuple {
                result = as_stream.clone();
            } else {
                result = seq_of(tuples.iter().map(|t| tuple_at(t)).collect(), false);
            }
            stream = Some(as_stream);
        }
        if node.keep_singleton_array {
            result = match result {
                V::Arr(a) if a.cons.get() && !a.sequence => seq_of(vec![V::Arr(a)], false),
                V::Arr(a) => V::Arr(a),
                v @ V::Json(Value::Array(_)) => v.into_norm(),
                V::Undef => seq_of(Vec::new(), false),
                v => seq_of(vec![v], false),
            };
            if let V::Arr(a) = &result {
                a.keep_singleton.set(true);
            }
        }
        if let Some(g) = &node.group {
            result = self.group_by(g, stream.as_ref().unwrap_or(&result), env)?;
        }
        Ok(result)
    }

    /// The common `$states.input.a.b`: a variable or name, then field
    /// names, through objects only. Walks them without building the
    /// sequences the general algorithm needs; `None` where it does not apply
    /// (an array on the way, predicates, bindings…).
    fn object_walk(&mut self, node: &Node, steps: &[Node], input: &V, env: &Rc<Scope>) -> Result<Option<V>, Error> {
        if node.keep_singleton_array || node.group.is_some() || node.tuple || !steps.iter().all(Node::is_plain_step) {
            return Ok(None);
        }
        let Some((first, rest)) = steps.split_first() else { return Ok(None) };
        if !rest.iter().all(|s| matches!(s.kind, Kind::Name(_))) {
            return Ok(None);
        }
        let mut rest = rest;
        let mut cur = match &first.kind {
            // `$states.input`: straight from the field, no `$states` object.
            Kind::Variable(v) if &**v == "states" && self.states.is_some() && env.lookup(v).is_none() => match rest {
                [
                    Node { kind: Kind::Name(c), .. },
                    Node { kind: Kind::Name(m), .. },
                    Node { kind: Kind::Name(i), .. },
                    Node { kind: Kind::Name(leaf), .. },
                    more @ ..,
                ] if &**c == "context"
                    && &**m == "Map"
                    && &**i == "Item"
                    && self.map_item.is_some()
                    && matches!(&**leaf, "Index" | "Value") =>
                {
                    rest = more;
                    match (&self.map_item, &**leaf) {
                        (Some((index, _)), "Index") => V::Num(*index as f64),
                        (Some((_, value)), _) => V::from_json(value),
                        _ => V::Undef,
                    }
                }
                [Node { kind: Kind::Name(field), .. }, more @ ..] => {
                    rest = more;
                    self.states_field(field)
                }
                _ => self.states_object(),
            },
            Kind::Variable(_) => self.evaluate(first, input, env)?,
            Kind::Name(n) if !input.is_array_like() => lookup(input, n),
            _ => return Ok(None),
        };
        for step in rest {
            let Kind::Name(name) = &step.kind else { return Ok(None) };
            cur = match &cur {
                V::Obj(o) => obj_get(o, name).cloned().unwrap_or_default(),
                V::Json(Value::Object(o)) => o.get(name).map(V::from_json).unwrap_or_default(),
                V::Arr(_) | V::Json(_) => return Ok(None),
                _ => return Ok(Some(V::Undef)),
            };
        }
        if matches!(cur, V::Arr(_)) {
            return Ok(None);
        }
        Ok(Some(cur))
    }

    fn states_field(&self, field: &str) -> V {
        let i = STATES_FIELDS.iter().position(|f| *f == field);
        match (i, &self.states) {
            (Some(3), Some([.., None])) => self.map_item_context(),
            (Some(i), Some(s)) => s[i].map(V::from_json).unwrap_or_default(),
            _ => V::Undef,
        }
    }

    /// `{"Map": {"Item": {"Index", "Value"}}}` when only the item is known.
    fn map_item_context(&self) -> V {
        let Some((index, value)) = &self.map_item else { return V::Undef };
        let item = V::object(vec![
            (Key::from_static("Index"), V::Num(*index as f64)),
            (Key::from_static("Value"), V::from_json(value)),
        ]);
        V::object(vec![(Key::from_static("Map"), V::object(vec![(Key::from_static("Item"), item)]))])
    }

    fn states_object(&self) -> V {
        let Some(s) = &self.states else { return V::Undef };
        let fields = STATES_FIELDS
            .iter()
            .zip(s.iter())
            .filter_map(|(k, v)| v.map(|v| (Key::from_static(k), V::from_json(v))))
            .collect::<Vec<_>>();
        let mut fields = fields;
        if s[3].is_none() && self.map_item.is_some() {
            fields.push((Key::from_static("context"), self.map_item_context()));
        }
        V::object(fields)
    }

    fn step(&mut self, step: &Node, input: &V, env: &Rc<Scope>, last: bool) -> R {
        self.looping(|ev| ev.step_over_items(step, input, env, last))
    }

    fn step_over_items(&mut self, step: &Node, input: &V, env: &Rc<Scope>, last: bool) -> R {
        if let Kind::Sort(terms) = &step.kind {
            let mut result = self.sort(terms, input, env)?;
            result = self.stages(&step.stages, result, env)?;
            return Ok(result);
        }
        let items = input.to_items();
        let mut results = Vec::with_capacity(items.len());
        for item in &items {
            let mut res = self.evaluate(step, item, env)?;
            for stage in &step.stages {
                if let Stage::Filter(p) = stage {
                    res = self.filter(p, &res, env)?;
                }
            }
            if !res.is_undef() {
                results.push(res);
            }
        }
        if last && results.len() == 1 && results[0].is_array_like() && !results[0].is_sequence() {
            return Ok(results.pop().unwrap_or_default());
        }
        let mut out = Vec::with_capacity(results.len());
        for res in results {
            match res {
                V::Arr(a) if !a.cons.get() => out.extend(a.items.iter().cloned()),
                v @ V::Json(Value::Array(_)) => out.extend(v.to_items()),
                v => out.push(v),
            }
        }
        Ok(seq_of(out, false))
    }

    fn stages(&mut self, stages: &[Stage], mut input: V, env: &Rc<Scope>) -> R {
        for stage in stages {
            match stage {
                Stage::Filter(p) => input = self.filter(p, &input, env)?,
                Stage::Index(name) => {
                    if let V::Arr(a) = &input {
                        let items = a
                            .items
                            .iter()
                            .enumerate()
                            .map(|(i, t)| match t {
                                V::Tuple(o) => {
                                    let mut o = (**o).clone();
                                    obj_set(&mut o, name.clone(), V::Num(i as f64));
                                    V::Tuple(Rc::new(o))
                                }
                                v => v.clone(),
                            })
                            .collect();
                        input = seq_of(items, a.tuple_stream);
                    }
                }
            }
        }
        Ok(input)
    }

    fn tuple_step(
        &mut self,
        step: &Node,
        input: &V,
        tuples: Option<Vec<Rc<Obj>>>,
        env: &Rc<Scope>,
    ) -> Result<Vec<Rc<Obj>>, Error> {
        if let Kind::Sort(terms) = &step.kind {
            let sorted = match tuples {
                Some(t) => self.sort(terms, &seq_of(t.into_iter().map(V::Tuple).collect(), true), env)?,
                None => {
                    let sorted = self.sort(terms, input, env)?;
                    self.charge_tuples(sorted.item_count().unwrap_or(1))?;
                    let items = sorted
                        .to_items()
                        .into_iter()
                        .enumerate()
                        .map(|(i, v)| {
                            let mut t: Obj = vec![(Key::from_static("@"), v)];
                            if let Some(ix) = &step.index {
                                t.push((ix.clone(), V::Num(i as f64)));
                            }
                            V::Tuple(Rc::new(t))
                        })
                        .collect();
                    seq_of(items, true)
                }
            };
            let staged = self.stages(&step.stages, sorted, env)?;
            return Ok(tuple_items(&staged));
        }
        let tuples = match tuples {
            Some(t) => t,
            None => {
                let items = input.to_items();
                self.charge_tuples(items.len())?;
                items.into_iter().map(|v| Rc::new(vec![(Key::from_static("@"), v)])).collect()
            }
        };
        let ancestor = step.ancestor.and(step.label.clone());
        let mut result: Vec<Rc<Obj>> = Vec::new();
        for tuple in &tuples {
            let step_env = self.scope_from_tuple(env, tuple);
            let at = tuple_at(tuple);
            let res = self.evaluate(step, &at, &step_env)?;
            if res.is_undef() {
                continue;
            }
            let (items, is_stream) = match &res {
                V::Arr(a) => (a.items.clone(), a.tuple_stream),
                v @ V::Json(Value::Array(_)) => (v.to_items(), false),
                v => (vec![v.clone()], false),
            };
            self.charge_tuples(items.len())?;
            for (bb, item) in items.into_iter().enumerate() {
                let mut t: Obj = (**tuple).clone();
                if is_stream {
                    if let V::Tuple(o) = &item {
                        for (k, v) in o.iter() {
                            obj_set(&mut t, k.clone(), v.clone());
                        }
                    }
                } else {
                    if let Some(f) = &step.focus {
                        obj_set(&mut t, f.clone(), item);
                        obj_set(&mut t, Key::from_static("@"), at.clone());
                    } else {
                        obj_set(&mut t, Key::from_static("@"), item);
                    }
                    if let Some(ix) = &step.index {
                        obj_set(&mut t, ix.clone(), V::Num(bb as f64));
                    }
                    if let Some(label) = &ancestor {
                        obj_set(&mut t, label.clone(), at.clone());
                    }
                }
                result.push(Rc::new(t));
            }
        }
        let staged = self.stages(&step.stages, seq_of(result.into_iter().map(V::Tuple).collect(), true), env)?;
        Ok(tuple_items(&staged))
    }

    pub fn filter(&mut self, predicate: &Node, input: &V, env: &Rc<Scope>) -> R {
        self.looping(|ev| ev.filter_items(predicate, input, env))
    }

    fn filter_items(&mut self, predicate: &Node, input: &V, env: &Rc<Scope>) -> R {
        let tuple_stream = matches!(input, V::Arr(a) if a.tuple_stream);
        let items = input.to_items();
        let mut results = Vec::new();
        if let Kind::Num(n) = predicate.kind
            && predicate.predicate.is_empty()
            && predicate.stages.is_empty()
        {
            let mut index = n.floor();
            if index < 0.0 {
                index += items.len() as f64;
            }
            if index >= 0.0
                && let Some(item) = items.get(index as usize)
            {
                if item.is_array_like() {
                    return Ok(item.clone());
                }
                results.push(item.clone());
            }
            return Ok(seq_of(results, tuple_stream));
        }
        let len = items.len() as f64;
        for (index, item) in items.iter().enumerate() {
            let res = if tuple_stream {
                let V::Tuple(t) = item else { continue };
                let env2 = self.scope_from_tuple(env, t);
                self.evaluate(predicate, &tuple_at(t), &env2)?
            } else {
                self.evaluate(predicate, item, env)?
            };
            match indexes_named(&res) {
                Some(ns) => {
                    for n in ns {
                        let mut ii = n.floor();
                        if ii < 0.0 {
                            ii += len;
                        }
                        if ii == index as f64 {
                            results.push(item.clone());
                        }
                    }
                }
                None => {
                    if boolean(&res) == Some(true) {
                        results.push(item.clone());
                    }
                }
            }
        }
        Ok(seq_of(results, tuple_stream))
    }

    fn binary(&mut self, op: BinOp, l: &Node, r: &Node, input: &V, env: &Rc<Scope>) -> R {
        if op == BinOp::Concat {
            // `a & b & c` into one buffer, not a string per `&`; the text
            // written is charged.
            let joined = concatenated(|out| {
                self.concat_into(l, input, env, out)?;
                self.concat_into(r, input, env, out)
            })?;
            self.charge_text(joined.len())?;
            return Ok(V::Str(joined));
        }
        let lhs = self.evaluate(l, input, env)?;
        if op == BinOp::And || op == BinOp::Or {
            return logical(op, &lhs, || self.evaluate(r, input, env));
        }
        let rhs = self.evaluate(r, input, env)?;
        match op {
            BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Mod => {
                if matches!(lhs, V::Num(n) if n.is_infinite()) || matches!(rhs, V::Num(n) if n.is_infinite()) {
                    return Err(Error::eval("D1001", "Number out of range"));
                }
                if !lhs.is_undef() && lhs.num().is_none() {
                    return Err(Error::eval(
                        "T2001",
                        format!("The left side of the {} operator must evaluate to a number", op_text(op)),
                    ));
                }
                if !rhs.is_undef() && rhs.num().is_none() {
                    return Err(Error::eval(
                        "T2002",
                        format!("The right side of the {} operator must evaluate to a number", op_text(op)),
                    ));
                }
                let (Some(a), Some(b)) = (lhs.num(), rhs.num()) else { return Ok(V::Undef) };
                let v = match op {
                    BinOp::Add => a + b,
                    BinOp::Sub => a - b,
                    BinOp::Mul => a * b,
                    BinOp::Div => a / b,
                    _ => a % b,
                };
                Ok(V::Num(v))
            }
            BinOp::Eq | BinOp::Ne => Ok(equality(op, &lhs, &rhs)),
            BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => compare(op, &lhs, &rhs),
            BinOp::Range => {
                if !lhs.is_undef() && !lhs.num().is_some_and(|n| n.fract() == 0.0) {
                    return Err(Error::eval(
                        "T2003",
                        "The left side of the range operator (..) must evaluate to an integer",
                    ));
                }
                if !rhs.is_undef() && !rhs.num().is_some_and(|n| n.fract() == 0.0) {
                    return Err(Error::eval(
                        "T2004",
                        "The right side of the range operator (..) must evaluate to an integer",
                    ));
                }
                let (Some(a), Some(b)) = (lhs.num(), rhs.num()) else { return Ok(V::Undef) };
                if a > b {
                    return Ok(V::Undef);
                }
                if b - a + 1.0 > 1e7 {
                    return Err(Error::eval(
                        "D2014",
                        "The size of the sequence allocated by the range operator (..) must not exceed 1e7",
                    ));
                }
                // Charged before it is allocated, as plain work: the
                // largest range (1e7 items) fits even a state's budget.
                self.charge((b - a + 1.0) as u64 / ITEMS_PER_STEP)?;
                Ok(seq_of((a as i64..=b as i64).map(|i| V::Num(i as f64)).collect(), false))
            }
            BinOp::In => {
                if lhs.is_undef() || rhs.is_undef() {
                    return Ok(V::Bool(false));
                }
                let items = rhs.to_items();
                Ok(V::Bool(items.iter().any(|i| strict_equal(i, &lhs))))
            }
            BinOp::And | BinOp::Or | BinOp::Concat => unreachable!("handled above"),
        }
    }

    fn concat_into(&mut self, n: &Node, input: &V, env: &Rc<Scope>, out: &mut String) -> Result<(), Error> {
        if let Kind::Binary(BinOp::Concat, l, r) = &n.kind
            && n.predicate.is_empty()
            && n.group.is_none()
        {
            self.concat_into(l, input, env, out)?;
            return self.concat_into(r, input, env, out);
        }
        let v = self.evaluate(n, input, env)?;
        append_text(&v, out)
    }

    /// Object constructor and group-by: `{key: value}` over each input item.
    fn group(&mut self, pairs: &[(Node, Node)], input: &V, env: &Rc<Scope>) -> R {
        self.group_pairs(pairs, input, env)
    }

    fn group_by(&mut self, g: &Group, input: &V, env: &Rc<Scope>) -> R {
        self.group_pairs(&g.pairs, input, env)
    }

    fn group_pairs(&mut self, pairs: &[(Node, Node)], input: &V, env: &Rc<Scope>) -> R {
        let reduce = matches!(input, V::Arr(a) if a.tuple_stream);
        if !reduce && !input.is_array_like() {
            return self.object_of_one(pairs, input, env);
        }
        let mut items = match input {
            V::Arr(a) => a.items.clone(),
            v @ V::Json(Value::Array(_)) => v.to_items(),
            v => vec![v.clone()],
        };
        if items.is_empty() {
            items.push(V::Undef);
        }
        let mut order: Vec<Arc<str>> = Vec::new();
        let mut groups: HashMap<Arc<str>, (V, usize)> = HashMap::new();
        for item in &items {
            let (ctx, env2) = match (reduce, item) {
                (true, V::Tuple(t)) => (tuple_at(t), self.scope_from_tuple(env, t)),
                _ => (item.clone(), env.clone()),
            };
            for (index, (k, _)) in pairs.iter().enumerate() {
                let key = self.evaluate(k, &ctx, &env2)?;
                let key = match key {
                    V::Undef => continue,
                    V::Str(s) => s,
                    other => return Err(key_not_a_string(&other)),
                };
                match groups.get_mut(&key) {
                    Some(entry) => {
                        if entry.1 != index {
                            return Err(Error::eval(
                                "D1009",
                                format!("Multiple key definitions evaluate to same key: {key}"),
                            ));
                        }
                        entry.0 = functions::append(std::mem::take(&mut entry.0), item.clone())?;
                    }
                    None => {
                        order.push(key.clone());
                        groups.insert(key, (item.clone(), index));
                    }
                }
            }
        }
        let mut result: Obj = Vec::with_capacity(order.len());
        for key in order {
            let Some((data, index)) = groups.remove(&key) else { continue };
            let (ctx, env2) = if reduce {
                let mut t = reduce_tuples(&data);
                let at = obj_get(&t, "@").cloned().unwrap_or_default();
                t.retain(|(k, _)| &**k != "@");
                (at, self.scope_from_tuple(env, &t))
            } else {
                (data, env.clone())
            };
            let value = self.evaluate(&pairs[index].1, &ctx, &env2)?;
            if !value.is_undef() {
                result.push((Key::from(key), value));
            }
        }
        functions::depth_fits(V::object(result), &mut self.json_depth)
    }

    /// An object constructor over one input item (the usual `{…}`): keys and
    /// values in order, without the grouping machinery.
    fn object_of_one(&mut self, pairs: &[(Node, Node)], input: &V, env: &Rc<Scope>) -> R {
        let mut keys: Vec<(Arc<str>, usize)> = Vec::with_capacity(pairs.len());
        for (index, (k, _)) in pairs.iter().enumerate() {
            match self.evaluate(k, input, env)? {
                V::Undef => {}
                V::Str(s) => {
                    if keys.iter().any(|(existing, _)| *existing == s) {
                        return Err(Error::eval(
                            "D1009",
                            format!("Multiple key definitions evaluate to same key: {s}"),
                        ));
                    }
                    keys.push((s, index));
                }
                other => return Err(key_not_a_string(&other)),
            }
        }
        let mut result: Obj = Vec::with_capacity(keys.len());
        for (key, index) in keys {
            let value = self.evaluate(&pairs[index].1, input, env)?;
            if !value.is_undef() {
                result.push((Key::from(key), value));
            }
        }
        functions::depth_fits(V::object(result), &mut self.json_depth)
    }

    pub fn sort(&mut self, terms: &[(Node, bool)], input: &V, env: &Rc<Scope>) -> R {
        let is_tuple = matches!(input, V::Arr(a) if a.tuple_stream);
        let items = input.to_items();
        // Evaluate the keys once per item, then sort stably on them.
        let mut keyed = Vec::with_capacity(items.len());
        for item in items {
            let mut keys = Vec::with_capacity(terms.len());
            for (term, _) in terms {
                let k = match (&item, is_tuple) {
                    (V::Tuple(t), true) => {
                        let env2 = self.scope_from_tuple(env, t);
                        self.evaluate(term, &tuple_at(t), &env2)?
                    }
                    _ => self.evaluate(term, &item, env)?,
                };
                keys.push(k);
            }
            keyed.push((keys, item));
        }
        let mut error = None;
        let cmp = |a: &(Vec<V>, V), b: &(Vec<V>, V)| -> std::cmp::Ordering {
            use std::cmp::Ordering::*;
            for (i, (_, descending)) in terms.iter().enumerate() {
                let (x, y) = (&a.0[i], &b.0[i]);
                let ord = match (x, y) {
                    (V::Undef, V::Undef) => continue,
                    (V::Undef, _) => return Greater,
                    (_, V::Undef) => return Less,
                    (V::Num(p), V::Num(q)) => p.partial_cmp(q).unwrap_or(Equal),
                    (V::Str(p), V::Str(q)) => utf16_order(p, q),
                    (V::Num(_) | V::Str(_), V::Num(_) | V::Str(_)) => {
                        error.get_or_insert(Error::eval(
                            "T2007",
                            "Type mismatch when comparing values in order-by clause",
                        ));
                        Equal
                    }
                    _ => {
                        error.get_or_insert(Error::eval(
                            "T2008",
                            "The expressions within an order-by clause must evaluate to numeric or string values",
                        ));
                        Equal
                    }
                };
                if ord == Equal {
                    continue;
                }
                return if *descending { ord.reverse() } else { ord };
            }
            Equal
        };
        keyed.sort_by(cmp);
        if let Some(e) = error {
            return Err(e);
        }
        Ok(seq_of(keyed.into_iter().map(|(_, v)| v).collect(), is_tuple))
    }

    fn call(&mut self, proc: &Node, args: &[Node], input: &V, env: &Rc<Scope>, context: Option<V>) -> R {
        let f = self.evaluate(proc, input, env)?;
        if f.is_undef()
            && let Kind::Path(steps) = &proc.kind
            && let Some(Kind::Name(n)) = steps.first().map(|s| &s.kind)
            && (env.lookup(n).is_some() || functions::lookup(n).is_some())
        {
            return Err(Error::eval("T1005", format!("Attempted to invoke a non-function. Did you mean ${n}?")));
        }
        let mut values = Vec::with_capacity(args.len() + 1);
        if let Some(c) = context {
            values.push(c);
        }
        for a in args {
            values.push(self.evaluate(a, input, env)?);
        }
        self.apply(&f, values, input, env)
    }

    fn partial(&mut self, proc: &Node, args: &[Node], input: &V, env: &Rc<Scope>) -> R {
        let mut values = Vec::with_capacity(args.len());
        for a in args {
            values.push(if matches!(a.kind, Kind::Placeholder) { None } else { Some(self.evaluate(a, input, env)?) });
        }
        let f = self.evaluate(proc, input, env)?;
        if !f.is_func() {
            if let (V::Undef, Kind::Path(steps)) = (&f, &proc.kind)
                && let Some(Kind::Name(n)) = steps.first().map(|s| &s.kind)
                && (env.lookup(n).is_some() || functions::lookup(n).is_some())
            {
                return Err(Error::eval(
                    "T1007",
                    format!("Attempted to partially apply a non-function. Did you mean ${n}?"),
                ));
            }
            return Err(Error::eval("T1008", "Attempted to partially apply a non-function"));
        }
        let nesting = nesting_over(std::iter::once(&f).chain(values.iter().flatten()))?;
        Ok(V::Func(Rc::new(Func::Partial { target: f, args: values, nesting })))
    }

    fn apply_operator(&mut self, l: &Node, r: &Node, input: &V, env: &Rc<Scope>) -> R {
        let lhs = self.evaluate(l, input, env)?;
        if let Kind::Call(proc, args) = &r.kind {
            let result = self.call(proc, args, input, env, Some(lhs))?;
            if let V::Arr(a) = &result
                && r.keep_array
                && a.sequence
            {
                a.keep_singleton.set(true);
            }
            return Ok(result);
        }
        let f = self.evaluate(r, input, env)?;
        if !f.is_func() {
            return Err(Error::eval(
                "T2006",
                "The right side of the function application operator ~> must be a function",
            ));
        }
        if lhs.is_func() {
            let nesting = nesting_over([&lhs, &f])?;
            return Ok(V::Func(Rc::new(Func::Chain { first: lhs, then: f, nesting })));
        }
        self.apply(&f, vec![lhs], input, env)
    }

    /// Call a function value, trampolining tail calls.
    pub fn apply(&mut self, f: &V, args: Vec<V>, input: &V, env: &Rc<Scope>) -> R {
        let mut result = self.apply_inner(f, args, input, env)?;
        while let V::Func(func) = &result {
            let Func::Lambda { def, env: lenv, input: linput } = &**func else { break };
            if !def.thunk {
                break;
            }
            let Kind::Call(proc, arg_nodes) = &def.body.kind else { break };
            let (lenv, linput) = (lenv.clone(), linput.clone());
            let next = self.evaluate(proc, &linput, &lenv)?;
            let mut values = Vec::with_capacity(arg_nodes.len());
            for a in arg_nodes {
                values.push(self.evaluate(a, &linput, &lenv)?);
            }
            result = self.apply_inner(&next, values, input, env)?;
        }
        Ok(result)
    }

    fn apply_inner(&mut self, f: &V, args: Vec<V>, input: &V, env: &Rc<Scope>) -> R {
        let V::Func(func) = f else {
            return Err(Error::eval("T1006", "Attempted to invoke a non-function"));
        };
        match &**func {
            Func::Lambda { def, env: lenv, input: linput } => {
                let args = match &def.signature {
                    Some(sig) => sig.validate(&args, input)?,
                    None => args,
                };
                let scope = self.scope(Some(lenv.clone()));
                for (i, p) in def.params.iter().enumerate() {
                    scope.bind(p.clone(), args.get(i).cloned().unwrap_or_default());
                }
                self.evaluate(&def.body, linput, &scope)
            }
            Func::Builtin(b) => {
                // Built-in functions look inside their arguments: expand
                // lazily converted ones a level.
                let args: Vec<V> = args.into_iter().map(V::into_norm).collect();
                let args = b.signature.validate(&args, input)?;
                // The text a built-in reads: string functions walk theirs
                // (`$substring` counts characters, `$trim` scans, `$split`
                // cuts); what they build is charged below, the work of
                // building it (sorting, comparing) by the functions.
                let read: usize = args.iter().map(|a| if let V::Str(s) = a { s.len() } else { 0 }).sum();
                self.charge_text(read)?;
                let result = self.looping(|ev| (b.imp)(ev, &args, input, env))?;
                // Whatever a function built: one that grew its result from
                // its inputs ($string, $uppercase, $zip…) is refused here,
                // and the text it wrote is charged (not an argument handed
                // back: `$string` of a string writes nothing).
                match &result {
                    V::Str(s) => {
                        functions::string_fits(s.len())?;
                        let passed_through = args.iter().any(|a| matches!(a, V::Str(x) if Arc::ptr_eq(x, s)));
                        if !passed_through {
                            self.charge_text(s.len())?;
                        }
                    }
                    V::Arr(a) => {
                        functions::items_fit(a.items.len())?;
                        self.charge(a.items.len() as u64 / ITEMS_PER_STEP)?;
                    }
                    _ => {}
                }
                match result {
                    V::Arr(_) | V::Obj(_) => functions::depth_fits(result, &mut self.json_depth),
                    other => Ok(other),
                }
            }
            Func::Partial { target, args: bound, .. } => {
                let mut supplied = args.into_iter();
                let full =
                    bound.iter().map(|a| a.clone().unwrap_or_else(|| supplied.next().unwrap_or_default())).collect();
                self.nested(|ev| ev.apply(target, full, input, env))
            }
            Func::Regex(re) => match args.first() {
                Some(V::Str(s)) => Ok(functions::regex_match(re, s, 0)),
                _ => Ok(V::Undef),
            },
            Func::Transform { def, env: tenv } => {
                let tenv = tenv.clone();
                self.transform(def, args.into_iter().next().unwrap_or_default(), &tenv)
            }
            Func::Chain { first, then, .. } => self.nested(|ev| {
                let mid = ev.apply(first, args, input, env)?;
                ev.apply(then, vec![mid], input, env)
            }),
        }
    }

    /// `| pattern | update, delete |` on a copy of `target`.
    fn transform(&mut self, def: &TransformDef, target: V, env: &Rc<Scope>) -> R {
        if target.is_undef() {
            return Ok(V::Undef);
        }
        let target = target.into_norm();
        if !matches!(target, V::Obj(_) | V::Arr(_)) {
            return Err(Error::eval("T0410", "Argument 1 of function transform does not match function signature"));
        }
        let copy = deep_copy(&target);
        let matches = self.evaluate(&def.pattern, &copy, env)?;
        let mut edits: HashMap<*const Obj, (Vec<Obj>, Vec<Key>)> = HashMap::new();
        for m in matches.to_items() {
            let V::Obj(o) = &m else { continue };
            let update = self.evaluate(&def.update, &m, env)?;
            let entry = edits.entry(Rc::as_ptr(o)).or_default();
            match update {
                V::Undef => {}
                V::Obj(u) => entry.0.push((*u).clone()),
                _ => {
                    return Err(Error::eval(
                        "T2011",
                        "The insert/update clause of the transform expression must evaluate to an object",
                    ));
                }
            }
            if let Some(d) = &def.delete {
                let deletions = self.evaluate(d, &m, env)?;
                if !deletions.is_undef() {
                    let list = deletions.to_items();
                    if !list.iter().all(|v| matches!(v, V::Str(_))) {
                        return Err(Error::eval(
                            "T2012",
                            "The delete clause of the transform expression must evaluate to a string or array of strings",
                        ));
                    }
                    entry.1.extend(
                        list.into_iter().filter_map(|v| if let V::Str(s) = v { Some(Key::from(s)) } else { None }),
                    );
                }
            }
        }
        Ok(rebuild(&copy, &edits))
    }
}

fn key_not_a_string(key: &V) -> Error {
    let shown = functions::string(key).unwrap_or_default();
    Error::eval("T1003", format!("Key in object structure must evaluate to a string; got: {shown}"))
}

/// What building one tuple costs of the step budget ([`Evaluator::charge_tuples`]).
pub const STEPS_PER_TUPLE: u64 = 8;

fn tuple_items(v: &V) -> Vec<Rc<Obj>> {
    v.to_items().into_iter().filter_map(|t| if let V::Tuple(o) = t { Some(o) } else { None }).collect()
}

fn reduce_tuples(data: &V) -> Obj {
    match data {
        V::Tuple(t) => (**t).clone(),
        V::Arr(a) => {
            let mut out: Obj = Vec::new();
            for (i, t) in a.items.iter().enumerate() {
                let V::Tuple(t) = t else { continue };
                if i == 0 {
                    out = (**t).clone();
                    continue;
                }
                for (k, v) in t.iter() {
                    let prev = obj_get(&out, k).cloned().unwrap_or_default();
                    // At most one item per tuple of a bounded stream: within MAX_ITEMS.
                    obj_set(&mut out, k.clone(), functions::append(prev, v.clone()).unwrap_or_default());
                }
            }
            out
        }
        _ => Vec::new(),
    }
}

fn deep_copy(v: &V) -> V {
    match v {
        V::Json(_) => deep_copy(&v.norm()),
        V::Arr(a) => {
            let arr = Arr { items: a.items.iter().map(deep_copy).collect(), sequence: a.sequence, ..Arr::default() };
            V::Arr(Rc::new(arr))
        }
        V::Obj(o) => V::object(o.iter().map(|(k, v)| (k.clone(), deep_copy(v))).collect()),
        v => v.clone(),
    }
}

fn rebuild(v: &V, edits: &HashMap<*const Obj, (Vec<Obj>, Vec<Key>)>) -> V {
    match v {
        V::Arr(a) => {
            let arr = Arr {
                items: a.items.iter().map(|i| rebuild(i, edits)).collect(),
                sequence: a.sequence,
                ..Arr::default()
            };
            V::Arr(Rc::new(arr))
        }
        V::Obj(o) => {
            let mut out: Obj = o.iter().map(|(k, v)| (k.clone(), rebuild(v, edits))).collect();
            if let Some((updates, deletes)) = edits.get(&Rc::as_ptr(o)) {
                // One pass over every update's members (one map of positions).
                crate::value::set_all(&mut out, updates.iter().flatten().map(|(k, v)| (k.clone(), v.clone())));
                if !deletes.is_empty() {
                    let deletes: std::collections::HashSet<&Key> = deletes.iter().collect();
                    out.retain(|(k, _)| !deletes.contains(k));
                }
            }
            V::object(out)
        }
        v => v.clone(),
    }
}

fn op_text(op: BinOp) -> &'static str {
    match op {
        BinOp::Add => "+",
        BinOp::Sub => "-",
        BinOp::Mul => "*",
        BinOp::Div => "/",
        BinOp::Mod => "%",
        _ => "?",
    }
}

fn strict_equal(a: &V, b: &V) -> bool {
    match (a, b) {
        (V::Num(x), V::Num(y)) => x == y,
        (V::Str(x), V::Str(y)) => x == y,
        (V::Bool(x), V::Bool(y)) => x == y,
        (V::Null, V::Null) => true,
        (V::Arr(x), V::Arr(y)) => Rc::ptr_eq(x, y),
        (V::Obj(x), V::Obj(y)) => Rc::ptr_eq(x, y),
        // The same array or object of the input, read twice.
        (V::Json(Value::Array(x)), V::Json(Value::Array(y))) => Arc::ptr_eq(x, y),
        (V::Json(Value::Object(x)), V::Json(Value::Object(y))) => Arc::ptr_eq(x, y),
        _ => false,
    }
}

/// The text of a `&` chain, built by `build` in the reused buffer
/// (`value::text_in_scratch`): one allocation, the result's.
pub(super) fn concatenated(build: impl FnOnce(&mut String) -> Result<(), Error>) -> Result<Arc<str>, Error> {
    crate::value::text_in_scratch(build)
}

/// One operand of `&`, appended as its text (`undefined`: nothing).
pub(super) fn append_text(v: &V, out: &mut String) -> Result<(), Error> {
    let mut digits = itoa::Buffer::new();
    let text = match v {
        V::Undef => return Ok(()),
        V::Str(s) => std::borrow::Cow::Borrowed(&**s),
        v => match functions::whole_number_text(v, &mut digits) {
            Some(d) => std::borrow::Cow::Borrowed(d),
            None => std::borrow::Cow::Owned(functions::string(v)?),
        },
    };
    functions::string_fits(out.len() + text.len())?;
    out.push_str(&text);
    Ok(())
}

/// `and` and `or`: the right side is evaluated only where the left does
/// not decide.
pub(super) fn logical<E>(op: BinOp, lhs: &V, rhs: impl FnOnce() -> Result<V, E>) -> Result<V, E> {
    let left = boolean(lhs).unwrap_or(false);
    Ok(V::Bool(match (op, left) {
        (BinOp::And, false) => false,
        (BinOp::Or, true) => true,
        _ => boolean(&rhs()?).unwrap_or(false),
    }))
}

/// `=` and `!=`: `false` where either side is `undefined`.
pub(super) fn equality(op: BinOp, lhs: &V, rhs: &V) -> V {
    if lhs.is_undef() || rhs.is_undef() {
        return V::Bool(false);
    }
    let eq = deep_equal(lhs, rhs);
    V::Bool(if op == BinOp::Eq { eq } else { !eq })
}

pub(super) fn compare(op: BinOp, lhs: &V, rhs: &V) -> R {
    let comparable = |v: &V| matches!(v, V::Undef | V::Str(_)) || v.num().is_some();
    if !comparable(lhs) || !comparable(rhs) {
        return Err(Error::eval(
            "T2010",
            "The expressions either side of operator must evaluate to numbers or strings",
        ));
    }
    if lhs.is_undef() || rhs.is_undef() {
        return Ok(V::Undef);
    }
    let ord = match (lhs, rhs) {
        (V::Num(a), V::Num(b)) => a.partial_cmp(b),
        (V::Str(a), V::Str(b)) => Some(utf16_order(a, b)),
        _ => {
            return Err(Error::eval("T2009", "The values either side of the operator must be of the same data type"));
        }
    };
    let Some(ord) = ord else { return Ok(V::Bool(false)) };
    use std::cmp::Ordering::*;
    Ok(V::Bool(match op {
        BinOp::Lt => ord == Less,
        BinOp::Le => ord != Greater,
        BinOp::Gt => ord == Greater,
        _ => ord != Less,
    }))
}

/// Field access over a value or each item of an array (jsonata-js `lookup`).
pub fn lookup(input: &V, key: &str) -> V {
    match input {
        V::Arr(a) => {
            let mut out = Vec::new();
            for item in &a.items {
                match lookup(item, key) {
                    V::Undef => {}
                    V::Arr(r) => out.extend(r.items.iter().cloned()),
                    // An input's array is flattened as a built one is.
                    v @ V::Json(Value::Array(_)) => out.extend(v.to_items()),
                    v => out.push(v),
                }
            }
            seq_of(out, false)
        }
        V::Obj(o) => obj_get(o, key).cloned().unwrap_or_default(),
        V::Json(Value::Object(o)) => o.get(key).map(V::from_json).unwrap_or_default(),
        V::Json(Value::Array(a)) => {
            let mut out = Vec::new();
            for item in a.iter() {
                match lookup(&V::from_json(item), key) {
                    V::Undef => {}
                    V::Arr(r) => out.extend(r.items.iter().cloned()),
                    v @ V::Json(Value::Array(_)) => out.extend(v.to_items()),
                    v => out.push(v),
                }
            }
            seq_of(out, false)
        }
        _ => V::Undef,
    }
}

fn flatten_into(v: &V, out: &mut Vec<V>) {
    match v {
        V::Arr(a) => a.items.iter().for_each(|i| flatten_into(i, out)),
        V::Json(Value::Array(_)) => v.to_items().iter().for_each(|i| flatten_into(i, out)),
        v => out.push(v.clone()),
    }
}

fn wildcard(input: &V) -> V {
    let input = match input {
        V::Arr(a) if a.outer_wrapper && !a.items.is_empty() => &a.items[0],
        v => v,
    };
    let input = &*input.norm();
    let mut out = Vec::new();
    // An array is an object to JavaScript: its values are its items.
    if let V::Arr(a) = input {
        a.items.iter().for_each(|i| flatten_into(i, &mut out));
    }
    if let V::Obj(o) = input {
        for (_, v) in o.iter() {
            match v {
                V::Arr(_) | V::Json(Value::Array(_)) => flatten_into(v, &mut out),
                v => out.push(v.clone()),
            }
        }
    }
    seq_of(out, false)
}

fn descendants(v: &V, out: &mut Vec<V>) {
    if let V::Json(_) = v {
        return descendants(&v.norm(), out);
    }
    match v {
        V::Arr(a) => a.items.iter().for_each(|i| descendants(i, out)),
        V::Obj(o) => {
            out.push(v.clone());
            o.iter().for_each(|(_, c)| descendants(c, out));
        }
        v => out.push(v.clone()),
    }
}

/// The positions a filter's predicate names, as jsonata-js reads its result:
/// a number, or an array all of numbers — built or read from the input (an
/// input's array of numbers had been taken as a truthy value, keeping every
/// item: `objs[c]` with `c: [1, 2]`).
fn indexes_named(res: &V) -> Option<Vec<f64>> {
    match res {
        V::Num(n) => Some(vec![*n]),
        V::Arr(_) | V::Json(Value::Array(_)) => {
            res.to_items().iter().map(|v| if let V::Num(n) = v { Some(*n) } else { None }).collect()
        }
        _ => None,
    }
}
