//! A graph as a Mermaid flowchart (top to bottom), for Markdown docs:
//! Map and Parallel states are subgraphs holding one subgraph per branch,
//! the other states are shaped and classed by type, catchers and retriers
//! are dotted. Mermaid lays it out itself; nodes are declared in the
//! graph's order so it meets them as the layout ranked them. Node ids are
//! `n<index in Graph::nodes>` (Mermaid ids cannot hold arbitrary names).

use crate::escape::mermaid;
use crate::model::{EdgeKind, Graph, NodeKind};
use crate::scopes::Scopes;
use expressway_engine::asl::StateType;
use std::collections::HashMap;
use std::fmt::Write;

pub fn render(g: &Graph) -> String {
    let index: HashMap<&str, usize> = g.nodes.iter().enumerate().map(|(i, n)| (n.id.as_str(), i)).collect();
    let mut out = String::from("flowchart TD\n");
    let scopes = Scopes::of(g);
    scope(&mut out, &scopes, &index, "", 1);
    for e in &g.edges {
        let (Some(from), Some(to)) = (index.get(e.from.as_str()), index.get(e.to.as_str())) else { continue };
        let arrow = match e.kind {
            EdgeKind::Catch | EdgeKind::Retry => "-.->",
            _ => "-->",
        };
        if e.label.is_empty() {
            let _ = writeln!(out, "  n{from} {arrow} n{to}");
        } else {
            let _ = writeln!(out, "  n{from} {arrow}|\"{}\"| n{to}", mermaid(&e.label));
        }
    }
    let _ = writeln!(
        out,
        "  classDef task fill:#dbeafe,stroke:#5f6b7a\n  classDef pass fill:#f1f5f9,stroke:#5f6b7a\n  \
         classDef choice fill:#fef3c7,stroke:#5f6b7a\n  classDef wait fill:#ede9fe,stroke:#5f6b7a\n  \
         classDef succeed fill:#dcfce7,stroke:#5f6b7a\n  classDef fail fill:#fee2e2,stroke:#5f6b7a\n  \
         classDef marker fill:#1e293b,stroke:#1e293b,color:#fff"
    );
    let mut by_class: Vec<(&str, Vec<String>)> = Vec::new();
    for (i, n) in g.nodes.iter().enumerate() {
        let Some(class) = class_of(n.kind) else { continue };
        match by_class.iter_mut().find(|(c, _)| *c == class) {
            Some((_, ids)) => ids.push(format!("n{i}")),
            None => by_class.push((class, vec![format!("n{i}")])),
        }
    }
    for (class, ids) in by_class {
        let _ = writeln!(out, "  class {} {class}", ids.join(","));
    }
    out
}

fn class_of(kind: NodeKind) -> Option<&'static str> {
    Some(match kind {
        NodeKind::Start | NodeKind::End => "marker",
        NodeKind::State(StateType::Task) => "task",
        NodeKind::State(StateType::Pass) => "pass",
        NodeKind::State(StateType::Choice) => "choice",
        NodeKind::State(StateType::Wait) => "wait",
        NodeKind::State(StateType::Succeed) => "succeed",
        NodeKind::State(StateType::Fail) => "fail",
        NodeKind::State(StateType::Map | StateType::Parallel) => return None,
    })
}

/// One scope's nodes; `depth` (bounded by the layout's nesting) indents.
fn scope(out: &mut String, scopes: &Scopes, index: &HashMap<&str, usize>, id: &str, depth: usize) {
    let pad = "  ".repeat(depth);
    for n in scopes.nodes(id) {
        let i = index.get(n.id.as_str()).copied().unwrap_or(0);
        match n.kind {
            NodeKind::State(t @ (StateType::Map | StateType::Parallel)) => {
                let _ = writeln!(out, "{pad}subgraph n{i} [\"{} · {t}\"]", mermaid(&n.label));
                let _ = writeln!(out, "{pad}  direction TB");
                for f in scopes.frames(&n.id) {
                    let _ = writeln!(out, "{pad}  subgraph n{i}b{} [\"{}\"]", f.index, mermaid(&f.label));
                    let _ = writeln!(out, "{pad}    direction TB");
                    scope(out, scopes, index, &f.id, depth + 2);
                    let _ = writeln!(out, "{pad}  end");
                }
                let _ = writeln!(out, "{pad}end");
            }
            NodeKind::State(t) => {
                let label = mermaid(&n.label);
                let shape = match t {
                    StateType::Choice => format!("{{\"{label}\"}}"),
                    StateType::Pass => format!("(\"{label}\")"),
                    StateType::Wait => format!("{{{{\"{label}\"}}}}"),
                    StateType::Succeed | StateType::Fail => format!("([\"{label}\"])"),
                    _ => format!("[\"{label}\"]"),
                };
                let _ = writeln!(out, "{pad}n{i}{shape}");
            }
            NodeKind::Start => {
                let _ = writeln!(out, "{pad}n{i}((\"start\"))");
            }
            NodeKind::End => {
                let _ = writeln!(out, "{pad}n{i}((\"end\"))");
            }
        }
    }
}
