//! The compiled form of a state machine: a flat instruction array, constant
//! pools and tables. Nested machines (Map processors, Parallel branches) live
//! in the same program; every state has a global [`StateId`].
//!
//! The VM keeps one accumulator (`acc`) and the state's raw input; each
//! instruction transforms `acc` — the data-flow of a state is the sequence
//! InputPath → Parameters → (work) → ResultSelector → ResultPath → OutputPath.

use crate::asl::{
    self, Catcher, ChoiceBranch, FailField, MapState, Retrier, Rule, StateKind, StateMachine, StateType, Task,
    Template, Transition, WaitFor,
};
use crate::bounds::Measure;
use crate::fusion::FusedStart;
use crate::jsonpath::{JsonPath, RefStep};
use crate::value::Value;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::ops::Range;

pub type StateId = u32;
pub type MachineId = u16;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Op {
    /// acc = select(path, acc); a miss fails with States.Runtime.
    InputPath(u32),
    /// acc = {}.
    DiscardInput,
    /// acc = eval(template, acc).
    Parameters(u32),
    /// acc = consts[i].
    Const(u32),
    /// Yield a task invocation with acc as its input; acc = the result.
    Invoke(u32),
    /// Yield a timer.
    Wait(u32),
    /// Yield a fork over the Map's items; acc = the iteration results.
    Map(u32),
    /// Yield a fork over the branches; acc = the branch results.
    Parallel(u32),
    /// acc = eval(template, acc) with acc being the task result.
    ResultSelector(u32),
    /// acc = input with acc written at the path.
    ResultPath(u32),
    /// acc = input.
    DiscardResult,
    /// acc = select(path, acc).
    OutputPath(u32),
    /// acc = {} (OutputPath: null).
    DiscardOutput,
    /// Evaluate an `Assign` template against acc; the variables change when
    /// the state is left.
    Assign(u32),
    /// acc = eval(JSONata `Output`) with acc as `$states.result`.
    Output(u32),
    /// Evaluate a Choice table against acc; remember the target.
    Choose(u32),
    /// Transition to the chosen target.
    GotoChosen,
    Goto(StateId),
    /// The (sub-)machine ends with acc as its output.
    End,
    Fail(u32),
}

#[derive(Debug, Clone)]
pub struct StateInfo {
    pub name: Box<str>,
    pub state_type: StateType,
    pub machine: MachineId,
    pub entry: u32,
    pub retry: Range<u32>,
    pub catch: Range<u32>,
    /// The raw input is still needed after entry (ResultPath, Catch, Fail).
    pub keeps_input: bool,
    /// Task, Map and Parallel: JSONata `Assign`/`Output` see `$states.result`.
    pub has_result: bool,
}

/// What a Pass state's `Result` measures.
#[derive(Debug, Clone, Copy)]
pub enum ConstBound {
    Fits(Measure),
    /// Past the payload bounds, and the state's output as it is: the state
    /// fails with States.DataLimitExceeded, as on AWS.
    Fails,
    /// Past the bounds, but dropped (`ResultPath: null`) or written into
    /// the input (`ResultPath` measures what it writes).
    Unknown,
}

#[derive(Debug, Clone)]
pub struct MachineInfo {
    pub start: StateId,
    pub timeout_seconds: Option<u64>,
    /// Only Pass, Choice, Succeed and Fail states, and no cycle: it needs
    /// nothing from outside and ends within a bounded number of steps, so
    /// the VM runs such a Map processor's iterations itself instead of
    /// forking them out to the driver.
    pub runs_inline: bool,
}

#[derive(Debug, Clone)]
pub struct CompiledCatcher {
    pub error_equals: Vec<String>,
    pub next: StateId,
    pub result_path: asl::ResultPath,
    /// Template index of the catcher's `Assign`.
    pub assign: Option<u32>,
    /// Template index of the catcher's JSONata `Output`.
    pub output: Option<u32>,
}

/// One rule of a Choice state and where it leads.
#[derive(Debug, Clone)]
pub struct CompiledChoiceBranch {
    pub rule: Rule,
    /// The state the rule's `Next` names.
    pub next: StateId,
    /// Template index of the rule's `Assign`.
    pub assign: Option<u32>,
    /// Template index of the rule's JSONata `Output`.
    pub output: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct ChoiceTable {
    /// The rules, in the order they are tried.
    pub branches: Vec<CompiledChoiceBranch>,
    pub default: Option<StateId>,
    /// The state's own `Assign`, used when the Default is taken.
    pub default_assign: Option<u32>,
    /// The state's JSONata `Output`, for rules without one of their own.
    pub default_output: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct MapSpec {
    pub processor: MachineId,
    pub state: MapState,
    /// Iterations that start without their ItemSelector objects, where the
    /// compiler proved it safe ([`crate::fusion`]).
    pub fused: Option<FusedStart>,
}

#[derive(Debug, Clone)]
pub struct FailSpec {
    pub error: FailField,
    pub cause: FailField,
}

#[derive(Debug, Clone, Default)]
pub struct Program {
    pub code: Vec<Op>,
    pub states: Vec<StateInfo>,
    pub machines: Vec<MachineInfo>,
    pub paths: Vec<JsonPath>,
    pub templates: Vec<Template>,
    pub consts: Vec<Value>,
    /// Each constant's measure, taken once here (a definition may hold a
    /// 1 MB `Result`, past the payload bounds).
    pub const_bounds: Vec<ConstBound>,
    pub result_paths: Vec<(JsonPath, Vec<RefStep>)>,
    pub tasks: Vec<Task>,
    pub waits: Vec<WaitFor>,
    pub choices: Vec<ChoiceTable>,
    pub maps: Vec<MapSpec>,
    pub parallels: Vec<Vec<MachineId>>,
    pub fails: Vec<FailSpec>,
    pub retriers: Vec<Retrier>,
    pub catchers: Vec<CompiledCatcher>,
    /// The execution input must be kept for `$$.Execution.Input`, and
    /// executions named for `$$.Execution.Name` / `Id`.
    pub uses_context: bool,
    /// Nodes of its JSONata expressions' trees and the regular expressions
    /// they compiled: most of what a program weighs in memory beyond its
    /// definition's size.
    pub jsonata_nodes: usize,
    pub jsonata_regexes: usize,
    /// What its JSONPaths hold compiled, estimated (filters weigh most: a
    /// 1 MB definition of `&&` filters held 88 MB).
    pub jsonpath_bytes: usize,
}

/// Lower a validated machine. Cannot fail: the validator has checked every
/// name and field the compiler resolves.
pub fn compile(machine: &StateMachine) -> Program {
    let mut c = Compiler {
        p: Program {
            uses_context: machine.uses_context,
            jsonata_nodes: machine.jsonata_nodes,
            jsonata_regexes: machine.jsonata_regexes,
            jsonpath_bytes: machine.jsonpath_bytes,
            ..Program::default()
        },
    };
    c.machine(machine);
    let mut p = c.p;
    for t in &mut p.templates {
        unfold_past_bounds(t);
    }
    for m in &mut p.maps {
        if let Some(t) = &mut m.state.item_selector {
            unfold_past_bounds(t);
        }
        if let Some(f) = &mut m.fused {
            unfold_past_bounds(&mut f.template);
        }
    }
    p
}

/// A template folded whole into a constant is used as it is, unmeasured; one
/// past the payload bounds (a definition may hold 1 MB) is unfolded a level,
/// so that building it measures it and the state fails with
/// States.DataLimitExceeded, as AWS fails it. A long string stays: its
/// measure is read where it is used.
fn unfold_past_bounds(t: &mut Template) {
    let Template::Const(v) = t else { return };
    if crate::bounds::check(v).is_ok() {
        return;
    }
    match v {
        Value::Object(o) => {
            *t = Template::Object(o.iter().map(|(k, x)| (k.clone(), Template::Const(x.clone()))).collect())
        }
        Value::Array(a) => *t = Template::Array(a.iter().cloned().map(Template::Const).collect()),
        _ => {}
    }
}

struct Compiler {
    p: Program,
}

impl Compiler {
    fn push<T>(pool: &mut Vec<T>, v: T) -> u32 {
        pool.push(v);
        (pool.len() - 1) as u32
    }

    /// Compile a machine and its nested machines; returns its id.
    fn machine(&mut self, m: &StateMachine) -> MachineId {
        let id = self.p.machines.len() as MachineId;
        self.p.machines.push(MachineInfo { start: 0, timeout_seconds: m.timeout_seconds, runs_inline: false });
        // Reserve state ids first so transitions can be resolved in one pass.
        let base = self.p.states.len() as StateId;
        for s in &m.states {
            self.p.states.push(StateInfo {
                name: s.name.as_str().into(),
                state_type: s.kind.state_type(),
                machine: id,
                entry: 0,
                retry: 0..0,
                catch: 0..0,
                keeps_input: false,
                has_result: matches!(s.kind, StateKind::Task(_) | StateKind::Map(_) | StateKind::Parallel { .. }),
            });
        }
        // One map per machine: resolving each transition by a scan of the
        // states would make compiling quadratic in their number.
        let index: HashMap<&str, usize> = m.states.iter().enumerate().map(|(i, s)| (s.name.as_str(), i)).collect();
        let resolve = |name: &str| -> StateId { base + index.get(name).copied().unwrap_or(0) as StateId };
        let start = resolve(&m.start_at);
        self.p.machines[id as usize].start = start;
        for (i, s) in m.states.iter().enumerate() {
            let sid = base + i as StateId;
            self.state(sid, s, &resolve);
        }
        self.p.machines[id as usize].runs_inline = runs_inline(m, &index);
        id
    }

    fn state(&mut self, sid: StateId, s: &asl::State, resolve: &dyn Fn(&str) -> StateId) {
        // Nested machines are compiled before this state's code so its
        // instructions stay contiguous.
        let nested = match &s.kind {
            StateKind::Parallel { branches } => {
                let ids: Vec<MachineId> = branches.iter().map(|b| self.machine(b)).collect();
                Some(Op::Parallel(Self::push(&mut self.p.parallels, ids)))
            }
            StateKind::Map(map) => {
                let processor = self.machine(&map.processor);
                let fused = self.fused_start(map, processor);
                Some(Op::Map(Self::push(&mut self.p.maps, MapSpec { processor, state: (**map).clone(), fused })))
            }
            _ => None,
        };
        let entry = self.p.code.len() as u32;
        let retry_start = self.p.retriers.len() as u32;
        self.p.retriers.extend(s.retry.iter().cloned());
        let retry = retry_start..self.p.retriers.len() as u32;
        let catch_start = self.p.catchers.len() as u32;
        for Catcher { error_equals, next, result_path, assign, output } in &s.catch {
            let assign = assign.as_ref().map(|t| Self::push(&mut self.p.templates, t.clone()));
            let output = output.as_ref().map(|t| Self::push(&mut self.p.templates, t.clone()));
            self.p.catchers.push(CompiledCatcher {
                error_equals: error_equals.clone(),
                next: resolve(next),
                result_path: result_path.clone(),
                assign,
                output,
            });
        }
        let catch = catch_start..self.p.catchers.len() as u32;

        let io = &s.io;
        // JSONata `Assign` and `Output` read `$states.input` after the work.
        let mut keeps_input =
            !s.catch.is_empty() || s.output.is_some() || s.assign.as_ref().is_some_and(asl::Template::has_jsonata);
        if let StateKind::Fail { error, cause } = &s.kind {
            let f = Self::push(&mut self.p.fails, FailSpec { error: error.clone(), cause: cause.clone() });
            self.p.code.push(Op::Fail(f));
            self.finish_state(sid, entry, retry, catch, true);
            return;
        }
        match &io.input_path {
            asl::PathField::Identity => {}
            asl::PathField::Discard => self.p.code.push(Op::DiscardInput),
            asl::PathField::Path(p) => {
                let i = Self::push(&mut self.p.paths, p.clone());
                self.p.code.push(Op::InputPath(i));
            }
        }
        let has_result = !matches!(s.kind, StateKind::Choice { .. } | StateKind::Succeed | StateKind::Wait(_));
        if has_result && let Some(t) = &io.parameters {
            let i = Self::push(&mut self.p.templates, t.clone());
            self.p.code.push(Op::Parameters(i));
        }
        match &s.kind {
            StateKind::Pass { result: Some(r) } => {
                let i = Self::push(&mut self.p.consts, r.clone());
                self.p.const_bounds.push(match crate::bounds::check(r) {
                    Ok(m) => ConstBound::Fits(m),
                    Err(_) if matches!(io.result_path, asl::ResultPath::Replace) => ConstBound::Fails,
                    Err(_) => ConstBound::Unknown,
                });
                self.p.code.push(Op::Const(i));
            }
            StateKind::Pass { result: None } => {}
            StateKind::Task(t) => {
                // Timeout and heartbeat paths read the raw state input.
                keeps_input |= matches!(t.timeout, Some(asl::Seconds::Path(_) | asl::Seconds::Expr(_)))
                    || matches!(t.heartbeat, Some(asl::Seconds::Path(_) | asl::Seconds::Expr(_)));
                let i = Self::push(&mut self.p.tasks, t.clone());
                self.p.code.push(Op::Invoke(i));
            }
            StateKind::Wait(w) => {
                let i = Self::push(&mut self.p.waits, w.clone());
                self.p.code.push(Op::Wait(i));
            }
            StateKind::Choice { choices, default } => {
                let mut branches = Vec::with_capacity(choices.len());
                for ChoiceBranch { rule, next, assign, output } in choices {
                    let assign = assign.as_ref().map(|t| Self::push(&mut self.p.templates, t.clone()));
                    let output = output.as_ref().map(|t| Self::push(&mut self.p.templates, t.clone()));
                    branches.push(CompiledChoiceBranch { rule: rule.clone(), next: resolve(next), assign, output });
                }
                let default_assign = s.assign.as_ref().map(|t| Self::push(&mut self.p.templates, t.clone()));
                let default_output = s.output.as_ref().map(|t| Self::push(&mut self.p.templates, t.clone()));
                let table =
                    ChoiceTable { branches, default: default.as_deref().map(resolve), default_assign, default_output };
                let i = Self::push(&mut self.p.choices, table);
                self.p.code.push(Op::Choose(i));
            }
            StateKind::Parallel { .. } | StateKind::Map(_) => {
                if let Some(op) = nested {
                    self.p.code.push(op);
                }
            }
            StateKind::Succeed | StateKind::Fail { .. } => {}
        }
        // `Assign` sees the state's result (the input for Wait); a Choice
        // assigns through its table.
        let assign_here = |c: &mut Self| {
            if let (Some(t), false) = (&s.assign, matches!(s.kind, StateKind::Choice { .. })) {
                let i = Self::push(&mut c.p.templates, t.clone());
                c.p.code.push(Op::Assign(i));
            }
        };
        if has_result {
            if let Some(t) = &io.result_selector {
                let i = Self::push(&mut self.p.templates, t.clone());
                self.p.code.push(Op::ResultSelector(i));
            }
            assign_here(self);
            match &io.result_path {
                asl::ResultPath::Replace => {}
                asl::ResultPath::Discard => {
                    keeps_input = true;
                    self.p.code.push(Op::DiscardResult);
                }
                asl::ResultPath::Into(p, steps) => {
                    keeps_input = true;
                    let i = Self::push(&mut self.p.result_paths, (p.clone(), steps.clone()));
                    self.p.code.push(Op::ResultPath(i));
                }
            }
        }
        if !has_result {
            assign_here(self);
        }
        match &io.output_path {
            asl::PathField::Identity => {}
            asl::PathField::Discard => self.p.code.push(Op::DiscardOutput),
            asl::PathField::Path(p) => {
                let i = Self::push(&mut self.p.paths, p.clone());
                self.p.code.push(Op::OutputPath(i));
            }
        }
        if let (Some(t), false) = (&s.output, matches!(s.kind, StateKind::Choice { .. })) {
            let i = Self::push(&mut self.p.templates, t.clone());
            self.p.code.push(Op::Output(i));
        }
        match (&s.kind, &s.transition) {
            (StateKind::Choice { .. }, _) => self.p.code.push(Op::GotoChosen),
            (_, Transition::Next(n)) => self.p.code.push(Op::Goto(resolve(n))),
            _ => self.p.code.push(Op::End),
        }
        self.finish_state(sid, entry, retry, catch, keeps_input);
    }

    /// See [`crate::fusion`].
    fn fused_start(&self, map: &MapState, processor: MachineId) -> Option<FusedStart> {
        let start_pc = self.p.fusable_start_pc(processor)?;
        let state = map.processor.states.iter().find(|s| s.name == map.processor.start_at)?;
        let (template, must_find) = crate::fusion::fuse_selector(map, state)?;
        Some(FusedStart { template, start_pc, must_find })
    }

    fn finish_state(&mut self, sid: StateId, entry: u32, retry: Range<u32>, catch: Range<u32>, keeps_input: bool) {
        let info = &mut self.p.states[sid as usize];
        info.entry = entry;
        info.retry = retry;
        info.catch = catch;
        info.keeps_input = keeps_input;
    }
}

/// See [`MachineInfo::runs_inline`].
fn runs_inline(m: &StateMachine, index: &HashMap<&str, usize>) -> bool {
    let simple = m.states.iter().all(|s| {
        matches!(
            s.kind,
            StateKind::Pass { .. } | StateKind::Choice { .. } | StateKind::Succeed | StateKind::Fail { .. }
        )
    });
    if !simple {
        return false;
    }
    // Cycle check over Next and Choice targets (these states have no Catch).
    let targets = |s: &asl::State| -> Vec<usize> {
        let mut t = Vec::new();
        if let Transition::Next(n) = &s.transition {
            t.extend(index.get(n.as_str()).copied());
        }
        if let StateKind::Choice { choices, default } = &s.kind {
            t.extend(choices.iter().filter_map(|c| index.get(c.next.as_str()).copied()));
            t.extend(default.as_deref().and_then(|d| index.get(d).copied()));
        }
        t
    };
    // Depth-first with an explicit stack (a chain of 20,000 Pass states must
    // not recurse 20,000 deep): 0 unvisited, 1 on the path, 2 done.
    let mut marks = vec![0u8; m.states.len()];
    for root in 0..m.states.len() {
        if marks[root] != 0 {
            continue;
        }
        marks[root] = 1;
        let mut path: Vec<(usize, Vec<usize>)> = vec![(root, targets(&m.states[root]))];
        while let Some((node, pending)) = path.last_mut() {
            match pending.pop() {
                Some(next) => match marks[next] {
                    1 => return false,
                    2 => {}
                    _ => {
                        marks[next] = 1;
                        path.push((next, targets(&m.states[next])));
                    }
                },
                None => {
                    marks[*node] = 2;
                    path.pop();
                }
            }
        }
    }
    true
}

impl Program {
    /// Whether an execution can wait on something outside the VM (a task, a
    /// Wait state, a retry's back-off), so a real-time driver must be able to
    /// park it.
    pub fn suspends(&self) -> bool {
        !self.tasks.is_empty() || !self.waits.is_empty() || !self.retriers.is_empty() || !self.s3_resources().is_empty()
    }

    /// The S3 resources Distributed Maps call to read items and write
    /// results: a driver must serve them like Task resources.
    pub fn s3_resources(&self) -> Vec<&str> {
        let mut out = Vec::new();
        for m in &self.maps {
            out.extend(m.state.item_reader.as_ref().map(|r| r.resource.as_str()));
            out.extend(m.state.result_writer.as_ref().and_then(|w| w.resource.as_deref()));
        }
        out
    }

    /// Structural checks that every compiled program must pass: every
    /// operand indexes its pool, every state's code ends in a transition.
    pub fn verify(&self) -> Result<(), String> {
        let n = |pool: usize, i: u32, what: &str| -> Result<(), String> {
            if (i as usize) < pool { Ok(()) } else { Err(format!("{what} index {i} out of range ({pool})")) }
        };
        for (pc, op) in self.code.iter().enumerate() {
            match *op {
                Op::InputPath(i) | Op::OutputPath(i) => n(self.paths.len(), i, "path")?,
                Op::Parameters(i) | Op::ResultSelector(i) | Op::Assign(i) | Op::Output(i) => {
                    n(self.templates.len(), i, "template")?
                }
                Op::Const(i) => n(self.consts.len().min(self.const_bounds.len()), i, "const")?,
                Op::Invoke(i) => n(self.tasks.len(), i, "task")?,
                Op::Wait(i) => n(self.waits.len(), i, "wait")?,
                Op::Map(i) => n(self.maps.len(), i, "map")?,
                Op::Parallel(i) => n(self.parallels.len(), i, "parallel")?,
                Op::ResultPath(i) => n(self.result_paths.len(), i, "result path")?,
                Op::Choose(i) => n(self.choices.len(), i, "choice")?,
                Op::Fail(i) => n(self.fails.len(), i, "fail")?,
                Op::Goto(s) => n(self.states.len(), s, "state")?,
                Op::DiscardInput | Op::DiscardResult | Op::DiscardOutput | Op::GotoChosen | Op::End => {}
            }
            let _ = pc;
        }
        for (sid, s) in self.states.iter().enumerate() {
            let mut pc = s.entry as usize;
            loop {
                match self.code.get(pc) {
                    None => return Err(format!("state {sid} '{}' runs off the end of the code", s.name)),
                    Some(Op::Goto(_) | Op::GotoChosen | Op::End | Op::Fail(_)) => break,
                    Some(_) => pc += 1,
                }
            }
            if s.retry.end as usize > self.retriers.len() || s.catch.end as usize > self.catchers.len() {
                return Err(format!("state {sid} has an out-of-range handler table"));
            }
        }
        for (m, map) in self.maps.iter().enumerate() {
            let Some(fused) = &map.fused else { continue };
            if self.fusable_start_pc(map.processor) != Some(fused.start_pc) {
                return Err(format!(
                    "map {m} starts its fused iterations at {}, not after a fusable start state's first template",
                    fused.start_pc
                ));
            }
        }
        for c in &self.catchers {
            n(self.states.len(), c.next, "catch target")?;
        }
        for t in &self.choices {
            for b in &t.branches {
                n(self.states.len(), b.next, "choice target")?;
                for t in b.assign.iter().chain(&b.output) {
                    n(self.templates.len(), *t, "choice template")?;
                }
            }
        }
        for (i, m) in self.machines.iter().enumerate() {
            n(self.states.len(), m.start, "start state")?;
            if self.states[m.start as usize].machine as usize != i {
                return Err(format!("machine {i} starts in another machine's state"));
            }
        }
        Ok(())
    }

    /// Where the iterations of a fused Map over `processor` start: after
    /// its start state's first instruction, `Parameters` or (JSONata) an
    /// `Output` followed only by the transition, if the processor runs
    /// inline and that state reads nothing but its accumulator from there on
    /// (no raw input kept for later, no Retry), so that it can start with the
    /// accumulator that instruction would make.
    fn fusable_start_pc(&self, processor: MachineId) -> Option<u32> {
        let machine = self.machines.get(processor as usize)?;
        let start = self.states.get(machine.start as usize)?;
        let entry = start.entry as usize;
        let fusable = match self.code.get(entry) {
            Some(Op::Parameters(_)) => !start.keeps_input,
            // JSONata: `Output` reads the raw input, as its fused form does
            // in the Map; nothing after it does.
            Some(Op::Output(_)) => {
                start.catch.is_empty() && matches!(self.code.get(entry + 1), Some(Op::Goto(_) | Op::End))
            }
            _ => false,
        };
        (machine.runs_inline && start.retry.is_empty() && fusable).then_some(start.entry + 1)
    }

    /// Human-readable listing, `expressway validate --disassemble`.
    pub fn disassemble(&self) -> String {
        let mut out = String::new();
        for (m, info) in self.machines.iter().enumerate() {
            let _ = writeln!(out, "machine {m}: start @{} '{}'", info.start, self.states[info.start as usize].name);
        }
        for (sid, s) in self.states.iter().enumerate() {
            let _ = writeln!(
                out,
                "\n@{sid} {} '{}' (machine {}, retry {:?}, catch {:?}{})",
                s.state_type,
                s.name,
                s.machine,
                s.retry,
                s.catch,
                if s.keeps_input { ", keeps input" } else { "" }
            );
            let mut pc = s.entry as usize;
            while let Some(op) = self.code.get(pc) {
                let _ = writeln!(out, "  {pc:04}  {}", self.describe(op));
                if matches!(op, Op::Goto(_) | Op::GotoChosen | Op::End | Op::Fail(_)) {
                    break;
                }
                pc += 1;
            }
        }
        out
    }

    fn describe(&self, op: &Op) -> String {
        match *op {
            Op::InputPath(i) => format!("input_path    {}", self.paths[i as usize]),
            Op::DiscardInput => "discard_input".into(),
            Op::Parameters(i) => format!("parameters    #{i}"),
            Op::Const(i) => format!("const         {}", truncate(&self.consts[i as usize].to_string())),
            Op::Invoke(i) => format!("invoke        {}", self.tasks[i as usize].resource),
            Op::Wait(i) => format!("wait          {:?}", self.waits[i as usize]),
            Op::Map(i) => {
                let map = &self.maps[i as usize];
                match &map.fused {
                    // See crate::fusion: the selector objects are not built.
                    Some(f) => format!(
                        "map           processor=machine {}, item selector fused: iterations start at {:04}",
                        map.processor, f.start_pc
                    ),
                    None => format!("map           processor=machine {}", map.processor),
                }
            }
            Op::Parallel(i) => format!("parallel      branches={:?}", self.parallels[i as usize]),
            Op::ResultSelector(i) => format!("result_select #{i}"),
            Op::Assign(i) => format!("assign        #{i}"),
            Op::Output(i) => format!("output        #{i}"),
            Op::ResultPath(i) => format!("result_path   {}", self.result_paths[i as usize].0),
            Op::DiscardResult => "discard_result".into(),
            Op::OutputPath(i) => format!("output_path   {}", self.paths[i as usize]),
            Op::DiscardOutput => "discard_output".into(),
            Op::Choose(i) => {
                let t = &self.choices[i as usize];
                let targets: Vec<String> = t.branches.iter().map(|b| format!("@{}", b.next)).collect();
                format!("choose        [{}] default={:?}", targets.join(", "), t.default)
            }
            Op::GotoChosen => "goto_chosen".into(),
            Op::Goto(s) => format!("goto          @{s} '{}'", self.states[s as usize].name),
            Op::End => "end".into(),
            Op::Fail(_) => "fail".into(),
        }
    }
}

fn truncate(s: &str) -> String {
    if s.len() > 60 {
        let mut end = 57;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}...", &s[..end])
    } else {
        s.to_string()
    }
}
