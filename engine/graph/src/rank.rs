//! Which row each state of one machine sits in (see the crate
//! documentation for the rule).

use expressway_engine::asl::{StateKind, StateMachine, Transition};
use std::collections::{HashMap, VecDeque};

/// The states of one machine in drawing order.
pub struct Ranking {
    /// Indices into `machine.states`, by rank, then by discovery.
    pub order: Vec<usize>,
    /// The rank of each state, by index into `machine.states`.
    pub rank: Vec<usize>,
}

/// The targets a state moves on to without an error: `Next`, its Choice
/// rules' `Next` in order, then `Default`.
fn flow_targets<'a>(kind: &'a StateKind, transition: &'a Transition) -> Vec<&'a str> {
    let mut out = Vec::new();
    if let StateKind::Choice { choices, default } = kind {
        out.extend(choices.iter().map(|c| c.next.as_str()));
        out.extend(default.as_deref());
    }
    if let Transition::Next(n) = transition {
        out.push(n.as_str());
    }
    out
}

pub fn rank(m: &StateMachine) -> Ranking {
    let index: HashMap<&str, usize> = m.states.iter().enumerate().map(|(i, s)| (s.name.as_str(), i)).collect();
    let mut rank: Vec<Option<usize>> = vec![None; m.states.len()];
    let mut discovered: Vec<usize> = Vec::with_capacity(m.states.len());
    let mut queue = VecDeque::new();
    if let Some(&start) = index.get(m.start_at.as_str()) {
        rank[start] = Some(0);
        discovered.push(start);
        queue.push_back(start);
    }
    // States whose catchers have seeded the walk already.
    let mut catches_seen = 0;
    loop {
        while let Some(s) = queue.pop_front() {
            let r = rank[s].unwrap_or(0);
            let state = &m.states[s];
            for t in flow_targets(&state.kind, &state.transition) {
                if let Some(&t) = index.get(t)
                    && rank[t].is_none()
                {
                    rank[t] = Some(r + 1);
                    discovered.push(t);
                    queue.push_back(t);
                }
            }
        }
        // The walk ran dry: states only a Catch leads to seed it again,
        // taken from catchers in rank, then discovery order.
        let mut catchers: Vec<usize> = discovered[catches_seen..].to_vec();
        catches_seen = discovered.len();
        catchers.sort_by_key(|&s| rank[s]);
        for s in catchers {
            let r = rank[s].unwrap_or(0);
            for c in &m.states[s].catch {
                if let Some(&t) = index.get(c.next.as_str())
                    && rank[t].is_none()
                {
                    rank[t] = Some(r + 1);
                    discovered.push(t);
                    queue.push_back(t);
                }
            }
        }
        if queue.is_empty() {
            break;
        }
    }
    // Unreachable states (a validated machine has none) go last.
    let last = discovered.iter().filter_map(|&s| rank[s]).max().map_or(0, |r| r + 1);
    for (s, r) in rank.iter_mut().enumerate() {
        if r.is_none() {
            *r = Some(last);
            discovered.push(s);
        }
    }
    let rank: Vec<usize> = rank.into_iter().map(|r| r.unwrap_or(last)).collect();
    // Stable: discovery order within a rank.
    discovered.sort_by_key(|&s| rank[s]);
    Ranking { order: discovered, rank }
}
