//! The nesting of a laid-out graph, for renderers that write it as nested
//! blocks (DOT clusters, Mermaid subgraphs).

use crate::model::{Frame, Graph, Node};
use std::collections::HashMap;

/// Nodes by the scope they sit in, and frames by the state they belong
/// to, each in graph order.
pub struct Scopes<'g> {
    nodes: HashMap<&'g str, Vec<&'g Node>>,
    frames: HashMap<&'g str, Vec<&'g Frame>>,
}

impl<'g> Scopes<'g> {
    pub fn of(g: &'g Graph) -> Scopes<'g> {
        let mut nodes: HashMap<&str, Vec<&Node>> = HashMap::new();
        for n in &g.nodes {
            nodes.entry(n.scope.as_str()).or_default().push(n);
        }
        let mut frames: HashMap<&str, Vec<&Frame>> = HashMap::new();
        for f in &g.frames {
            frames.entry(f.state.as_str()).or_default().push(f);
        }
        Scopes { nodes, frames }
    }

    /// The nodes of a scope ("" for the top machine).
    pub fn nodes(&self, scope: &str) -> &[&'g Node] {
        self.nodes.get(scope).map_or(&[], Vec::as_slice)
    }

    /// The frames of a Map or Parallel state.
    pub fn frames(&self, state: &str) -> &[&'g Frame] {
        self.frames.get(state).map_or(&[], Vec::as_slice)
    }
}
