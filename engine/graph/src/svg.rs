//! A graph as one self-contained SVG document: no scripts, no external
//! references, the styles inline. Each state is a `<g>` with
//! `id="xw-s:<node id>"` and `data-state="<name>"`, so a page can find,
//! colour and annotate it; edges carry `data-from`/`data-to` node ids.

use crate::escape::xml;
use crate::model::{Anchor, Edge, EdgeKind, Frame, Graph, Node, NodeKind, Rect};
use expressway_engine::asl::StateType;
use std::fmt::Write;

const STYLE: &str = "\
.xw-box{stroke:#5f6b7a;stroke-width:1.2}\
.xw-task .xw-box{fill:#dbeafe}.xw-pass .xw-box{fill:#f1f5f9}.xw-choice .xw-box{fill:#fef3c7}\
.xw-wait .xw-box{fill:#ede9fe}.xw-succeed .xw-box{fill:#dcfce7}.xw-fail .xw-box{fill:#fee2e2}\
.xw-map>.xw-box,.xw-parallel>.xw-box{fill:#f8fafc}\
.xw-branch rect{fill:none;stroke:#94a3b8;stroke-dasharray:4 3}\
.xw-name{font-size:12px}.xw-type,.xw-note,.xw-branch text{font-size:10px;fill:#475569}\
.xw-edge path{fill:none;stroke:#475569;stroke-width:1.2;marker-end:url(#xw-arrow)}\
.xw-edge text{font-size:10px;fill:#1e293b;stroke:#fff;stroke-width:3px;paint-order:stroke}\
.xw-catch path{stroke:#b91c1c;stroke-dasharray:5 3}.xw-catch text{fill:#b91c1c}\
.xw-retry path{stroke:#7c3aed}.xw-back path{stroke-dasharray:2 2}\
.xw-marker{fill:#1e293b}.xw-end .xw-ring{fill:none;stroke:#1e293b;stroke-width:1.5}";

pub fn render(g: &Graph) -> String {
    let mut out = String::with_capacity(256 + g.nodes.len() * 320 + g.edges.len() * 200);
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"xw-graph\" width=\"{w}\" height=\"{h}\" \
         viewBox=\"0 0 {w} {h}\" font-family=\"monospace\">\n<style>{STYLE}</style>\n\
         <defs><marker id=\"xw-arrow\" viewBox=\"0 0 8 8\" refX=\"8\" refY=\"4\" markerWidth=\"8\" \
         markerHeight=\"8\" orient=\"auto\"><path d=\"M0,0L8,4L0,8z\" fill=\"#475569\"/></marker></defs>\n",
        w = g.width,
        h = g.height
    );
    // Back to front: Map and Parallel boxes, their branch frames, edges,
    // the other states and the markers, then retry loops, whose labels sit
    // inside their boxes.
    let is_frame = |n: &&Node| matches!(n.kind, NodeKind::State(StateType::Map | StateType::Parallel));
    for n in g.nodes.iter().filter(is_frame) {
        state(&mut out, n);
    }
    for f in &g.frames {
        frame(&mut out, f);
    }
    let retry = |e: &&Edge| e.kind == EdgeKind::Retry;
    for e in g.edges.iter().filter(|e| !retry(e)) {
        edge(&mut out, e);
    }
    for n in g.nodes.iter().filter(|n| !is_frame(n)) {
        match n.kind {
            NodeKind::State(_) => state(&mut out, n),
            NodeKind::Start | NodeKind::End => marker(&mut out, n),
        }
    }
    for e in g.edges.iter().filter(retry) {
        edge(&mut out, e);
    }
    out.push_str("</svg>\n");
    out
}

fn class_of(t: StateType) -> &'static str {
    match t {
        StateType::Pass => "xw-pass",
        StateType::Task => "xw-task",
        StateType::Choice => "xw-choice",
        StateType::Wait => "xw-wait",
        StateType::Succeed => "xw-succeed",
        StateType::Fail => "xw-fail",
        StateType::Parallel => "xw-parallel",
        StateType::Map => "xw-map",
    }
}

fn state(out: &mut String, n: &Node) {
    let NodeKind::State(t) = n.kind else { return };
    let Rect { x, y, w, h } = n.rect;
    let _ = write!(
        out,
        "<g class=\"xw-state {}\" id=\"xw-s:{}\" data-state=\"{}\"><title>{} ({t})</title>",
        class_of(t),
        xml(&n.id),
        xml(&n.name),
        xml(&n.label)
    );
    match t {
        StateType::Choice => {
            let _ = write!(
                out,
                "<polygon class=\"xw-box\" points=\"{},{y} {},{y} {},{} {},{} {},{} {x},{}\"/>",
                x + 10,
                x + w - 10,
                x + w,
                y + h / 2,
                x + w - 10,
                y + h,
                x + 10,
                y + h,
                y + h / 2
            );
        }
        _ => {
            let rx = match t {
                StateType::Succeed | StateType::Fail => 18,
                StateType::Map | StateType::Parallel => 8,
                _ => 4,
            };
            let _ =
                write!(out, "<rect class=\"xw-box\" x=\"{x}\" y=\"{y}\" width=\"{w}\" height=\"{h}\" rx=\"{rx}\"/>");
        }
    }
    if matches!(t, StateType::Map | StateType::Parallel) {
        let _ = write!(
            out,
            "<text class=\"xw-name\" x=\"{}\" y=\"{}\">{}</text><text class=\"xw-type\" x=\"{}\" y=\"{}\" \
             text-anchor=\"end\">{t}</text>",
            x + 12,
            y + 17,
            xml(&n.label),
            x + w - 12,
            y + 17
        );
    } else {
        let _ = write!(
            out,
            "<text class=\"xw-name\" x=\"{cx}\" y=\"{}\" text-anchor=\"middle\">{}</text><text class=\"xw-type\" \
             x=\"{cx}\" y=\"{}\" text-anchor=\"middle\">{t}</text>",
            y + 17,
            xml(&n.label),
            y + 31,
            cx = n.rect.center_x()
        );
    }
    out.push_str("</g>\n");
}

fn frame(out: &mut String, f: &Frame) {
    let Rect { x, y, w, h } = f.rect;
    let _ = writeln!(
        out,
        "<g class=\"xw-branch\" id=\"xw-b:{}\"><rect x=\"{x}\" y=\"{y}\" width=\"{w}\" height=\"{h}\" rx=\"6\"/>\
         <text x=\"{}\" y=\"{}\">{}</text></g>",
        xml(&f.id),
        x + 6,
        y + 13,
        xml(&f.label)
    );
}

fn edge(out: &mut String, e: &Edge) {
    let back = if e.back { " xw-back" } else { "" };
    let _ = write!(
        out,
        "<g class=\"xw-edge xw-{}{back}\" data-from=\"{}\" data-to=\"{}\"><path d=\"",
        e.kind.as_str(),
        xml(&e.from),
        xml(&e.to)
    );
    for (i, p) in e.points.iter().enumerate() {
        let _ = write!(out, "{}{},{}", if i == 0 { "M" } else { "L" }, p.x, p.y);
    }
    out.push_str("\"/>");
    if !e.label.is_empty() {
        let anchor = match e.anchor {
            Anchor::Start => "start",
            Anchor::Middle => "middle",
        };
        let class = if e.kind == EdgeKind::Retry { " class=\"xw-note\"" } else { "" };
        let _ = write!(
            out,
            "<text{class} x=\"{}\" y=\"{}\" text-anchor=\"{anchor}\">{}</text>",
            e.label_at.x,
            e.label_at.y,
            xml(&e.label)
        );
    }
    out.push_str("</g>\n");
}

fn marker(out: &mut String, n: &Node) {
    let r = n.rect.w / 2;
    let (cx, cy) = (n.rect.x + r, n.rect.y + r);
    let _ = match n.kind {
        NodeKind::Start => writeln!(
            out,
            "<g class=\"xw-start\" id=\"xw-m:{}\"><circle class=\"xw-marker\" cx=\"{cx}\" cy=\"{cy}\" r=\"{}\"/></g>",
            xml(&n.id),
            r - 2
        ),
        _ => writeln!(
            out,
            "<g class=\"xw-end\" id=\"xw-m:{}\"><circle class=\"xw-ring\" cx=\"{cx}\" cy=\"{cy}\" r=\"{r}\"/>\
             <circle class=\"xw-marker\" cx=\"{cx}\" cy=\"{cy}\" r=\"{}\"/></g>",
            xml(&n.id),
            r - 4
        ),
    };
}
