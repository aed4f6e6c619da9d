//! The state graph of one machine: transition targets exist and every state is reachable.

use super::{Code, Validator, ptr};
use crate::asl::{StateKind, StateMachine, Transition};
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};

impl Validator {
    /// Every transition target exists; every state is reachable from StartAt.
    pub(super) fn check_graph(&mut self, m: &StateMachine, raw: &Map<String, Value>, states_at: &str) {
        let names: HashSet<&str> = raw.keys().map(String::as_str).collect();
        let mut edges: HashMap<&str, Vec<&str>> = HashMap::new();
        for s in &m.states {
            let mut targets: Vec<(&str, String)> = Vec::new();
            if let Transition::Next(n) = &s.transition {
                targets.push((n, ptr(&s.pointer, "Next")));
            }
            for (i, c) in s.catch.iter().enumerate() {
                targets.push((&c.next, format!("{}/Catch/{i}/Next", s.pointer)));
            }
            if let StateKind::Choice { choices, default } = &s.kind {
                for (i, c) in choices.iter().enumerate() {
                    targets.push((&c.next, format!("{}/Choices/{i}/Next", s.pointer)));
                }
                if let Some(d) = default {
                    targets.push((d, ptr(&s.pointer, "Default")));
                }
            }
            for (t, p) in &targets {
                if !names.contains(t) {
                    self.err(Code::MissingState, p.clone(), format!("transition to state '{t}', which does not exist"));
                }
            }
            edges.insert(&s.name, targets.into_iter().map(|(t, _)| t).collect());
        }
        if !names.contains(m.start_at.as_str()) {
            return;
        }
        let mut seen: HashSet<&str> = HashSet::new();
        let mut stack = vec![m.start_at.as_str()];
        while let Some(n) = stack.pop() {
            if seen.insert(n)
                && let Some(ts) = edges.get(n)
            {
                stack.extend(ts.iter().copied());
            }
        }
        for name in raw.keys() {
            if !seen.contains(name.as_str()) && edges.contains_key(name.as_str()) {
                self.err(
                    Code::UnreachableState,
                    ptr(states_at, name),
                    format!("state '{name}' is not reachable from StartAt"),
                );
            }
        }
    }
}
