//! Which node of the graph each compiled state is: the console counts
//! events by the program's state index and draws them on the node ids.

use crate::layout::id_segment;
use expressway_engine::asl::{StateKind, StateMachine};

/// Each state's node id, indexed as [`expressway_engine::program::compile`]
/// numbers states (a machine's own states first, in definition order, then
/// each Map or Parallel state's nested machines, depth first).
pub fn state_node_ids(machine: &StateMachine) -> Vec<String> {
    let mut ids = Vec::new();
    number(machine, "", &mut ids);
    ids
}

/// As the compiler recurses, so its depth is the definition's nesting,
/// which validation bounds.
fn number(m: &StateMachine, prefix: &str, ids: &mut Vec<String>) {
    let base = ids.len();
    ids.extend(m.states.iter().map(|s| format!("{prefix}{}", id_segment(&s.name))));
    for (i, s) in m.states.iter().enumerate() {
        let inner = format!("{}/", ids[base + i]);
        match &s.kind {
            StateKind::Parallel { branches } => branches.iter().for_each(|b| number(b, &inner, ids)),
            StateKind::Map(map) => number(&map.processor, &inner, ids),
            _ => {}
        }
    }
}
