//! A graph as Graphviz DOT: one cluster per Map or Parallel state (its
//! header node stands for the state) and one per branch, the rows as
//! `rank=same` groups, back edges without layout weight. Graphviz lays it
//! out itself; node ids are the graph's node ids.

use crate::escape::dot;
use crate::model::{EdgeKind, Graph, Node, NodeKind};
use crate::scopes::Scopes;
use expressway_engine::asl::StateType;
use std::fmt::Write;

pub fn render(g: &Graph) -> String {
    let mut out = String::from(
        "digraph machine {\n  graph [rankdir=TB, fontname=\"monospace\", fontsize=10];\n  \
         node [shape=box, style=\"rounded,filled\", fontname=\"monospace\", fontsize=11, fillcolor=\"#dbeafe\"];\n  \
         edge [fontname=\"monospace\", fontsize=9];\n",
    );
    let scopes = Scopes::of(g);
    scope(&mut out, &scopes, "", 1);
    for e in &g.edges {
        let mut attrs = Vec::new();
        if !e.label.is_empty() {
            attrs.push(format!("label=\"{}\"", dot(&e.label)));
        }
        match e.kind {
            EdgeKind::Catch => attrs.push("style=dashed, color=\"#b91c1c\", fontcolor=\"#b91c1c\"".into()),
            EdgeKind::Retry => attrs.push("style=dotted, color=\"#7c3aed\"".into()),
            _ => {}
        }
        if e.back {
            attrs.push("constraint=false".into());
        }
        let _ = write!(out, "  \"{}\" -> \"{}\"", dot(&e.from), dot(&e.to));
        if !attrs.is_empty() {
            let _ = write!(out, " [{}]", attrs.join(", "));
        }
        out.push_str(";\n");
    }
    out.push_str("}\n");
    out
}

/// The nodes of one scope, its rows, and the clusters of its Map and
/// Parallel states; `depth` (bounded by the layout's nesting) indents.
fn scope(out: &mut String, scopes: &Scopes, id: &str, depth: usize) {
    let pad = "  ".repeat(depth);
    let nodes = scopes.nodes(id);
    for n in nodes {
        match n.kind {
            NodeKind::State(t @ (StateType::Map | StateType::Parallel)) => {
                let _ = writeln!(out, "{pad}subgraph \"cluster_{}\" {{", dot(&n.id));
                let _ = writeln!(out, "{pad}  label=\"\"; style=\"rounded\"; color=\"#5f6b7a\";");
                node(out, n, t, &format!("{pad}  "));
                for f in scopes.frames(&n.id) {
                    let _ = writeln!(out, "{pad}  subgraph \"cluster_{}\" {{", dot(&f.id));
                    let _ = writeln!(
                        out,
                        "{pad}    label=\"{}\"; style=\"dashed,rounded\"; color=\"#94a3b8\";",
                        dot(&f.label)
                    );
                    scope(out, scopes, &f.id, depth + 2);
                    let _ = writeln!(out, "{pad}  }}");
                }
                let _ = writeln!(out, "{pad}}}");
            }
            NodeKind::State(t) => node(out, n, t, &pad),
            NodeKind::Start => {
                let _ = writeln!(
                    out,
                    "{pad}\"{}\" [shape=circle, label=\"\", width=0.18, style=filled, fillcolor=\"#1e293b\"];",
                    dot(&n.id)
                );
            }
            NodeKind::End => {
                let _ = writeln!(
                    out,
                    "{pad}\"{}\" [shape=doublecircle, label=\"\", width=0.14, style=filled, fillcolor=\"#1e293b\"];",
                    dot(&n.id)
                );
            }
        }
    }
    // Rows with more than one node, as rank=same groups.
    let mut i = 0;
    while i < nodes.len() {
        let row = nodes[i].row;
        let j = i + nodes[i..].iter().take_while(|n| n.row == row).count();
        if j - i > 1 {
            let ids: Vec<String> = nodes[i..j].iter().map(|n| format!("\"{}\"", dot(&n.id))).collect();
            let _ = writeln!(out, "{pad}{{ rank=same; {}; }}", ids.join("; "));
        }
        i = j;
    }
}

fn node(out: &mut String, n: &Node, t: StateType, pad: &str) {
    let (shape, fill) = match t {
        StateType::Task => ("box", "#dbeafe"),
        StateType::Pass => ("box", "#f1f5f9"),
        StateType::Choice => ("diamond", "#fef3c7"),
        StateType::Wait => ("box", "#ede9fe"),
        StateType::Succeed => ("box", "#dcfce7"),
        StateType::Fail => ("box", "#fee2e2"),
        StateType::Map | StateType::Parallel => ("box", "#f8fafc"),
    };
    let _ = writeln!(
        out,
        "{pad}\"{}\" [label=\"{}\\n{t}\", shape={shape}, fillcolor=\"{fill}\"];",
        dot(&n.id),
        dot(&n.label)
    );
}
