//! The layout step: a validated machine in, a [`Graph`] with every box,
//! frame and edge placed out. Pure and deterministic: the same machine
//! always gives the same graph, and nothing here depends on hashing order.

use crate::label;
use crate::model::{Anchor, Edge, EdgeKind, Frame, Graph, Node, NodeKind, Point, Rect};
use crate::rank::{Ranking, rank};
use crate::{MAX_LABEL_CHARS, MAX_NAME_CHARS, MAX_NESTING};
use expressway_engine::asl::{State, StateKind, StateMachine, StateType, Transition};
use std::collections::HashMap;

/// Pixel sizes. Text widths are estimated from a monospace font: the SVG
/// renderer draws in one, at these sizes.
pub const NAME_CHAR_W: i64 = 8;
pub const NOTE_CHAR_W: i64 = 6;
const BOX_PAD_X: i64 = 12;
const BOX_MIN_W: i64 = 120;
const BOX_H: i64 = 40;
const NOTE_H: i64 = 13;
const COL_GAP: i64 = 40;
/// The least gap between rows.
const ROW_GAP: i64 = 48;
/// A gap's first label or channel lies this far below the row above; the
/// last channel this far above the row below.
const LABEL_START: i64 = 12;
const LABEL_STEP: i64 = 13;
const LANE_STEP: i64 = 5;
const MARKER: i64 = 16;
const LANE_GAP: i64 = 14;
/// Room left of a scope's content for retry loops.
const MARGIN: i64 = 14;
const FRAME_HEADER_H: i64 = 26;
const FRAME_PAD: i64 = 12;
const BRANCH_LABEL_H: i64 = 18;
const GRAPH_PAD: i64 = 10;

/// Lay out a validated machine.
pub fn layout(machine: &StateMachine) -> Graph {
    let mut b = Builder::default();
    let size = b.scope(machine, "", "", 0);
    let mut g = Graph { nodes: b.nodes, edges: b.edges, frames: b.frames, width: 0, height: 0 };
    let all = (
        Span { nodes: 0, edges: 0, frames: 0 },
        Span { nodes: g.nodes.len(), edges: g.edges.len(), frames: g.frames.len() },
    );
    translate(&mut g.nodes, &mut g.edges, &mut g.frames, all, GRAPH_PAD, GRAPH_PAD);
    g.width = size.0 + 2 * GRAPH_PAD;
    g.height = size.1 + 2 * GRAPH_PAD;
    g
}

/// Boxes side by side, a column gap apart. Coordinates are `i64` and sums
/// saturate: a huge Parallel (its branches side by side) or a machine of
/// millions of states cannot wrap a coordinate around.
fn row_width(widths: impl Iterator<Item = i64>) -> i64 {
    let (sum, count) = widths.fold((0i64, 0i64), |(sum, n), w| (sum.saturating_add(w), n + 1));
    sum.saturating_add(COL_GAP.saturating_mul((count - 1).max(0)))
}

/// `/` and `~` in a name escaped as in a JSON Pointer, so ids built by
/// joining names with `/` stay unique.
pub fn id_segment(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

/// A position in the node, edge and frame lists: the items one scope or
/// one state's branches added lie between two of them.
#[derive(Clone, Copy)]
struct Span {
    nodes: usize,
    edges: usize,
    frames: usize,
}

#[derive(Default)]
struct Builder {
    nodes: Vec<Node>,
    edges: Vec<Edge>,
    frames: Vec<Frame>,
}

/// Move the items in `range` by (dx, dy).
fn translate(nodes: &mut [Node], edges: &mut [Edge], frames: &mut [Frame], range: (Span, Span), dx: i64, dy: i64) {
    let (from, to) = range;
    for n in &mut nodes[from.nodes..to.nodes] {
        n.rect.x += dx;
        n.rect.y += dy;
    }
    for e in &mut edges[from.edges..to.edges] {
        for p in e.points.iter_mut().chain(std::iter::once(&mut e.label_at)) {
            p.x += dx;
            p.y += dy;
        }
    }
    for f in &mut frames[from.frames..to.frames] {
        f.rect.x += dx;
        f.rect.y += dy;
    }
}

/// An edge of one scope before routing: node indices into `Builder::nodes`.
struct Link {
    from: usize,
    to: usize,
    kind: EdgeKind,
    label: String,
}

impl Builder {
    fn span(&self) -> Span {
        Span { nodes: self.nodes.len(), edges: self.edges.len(), frames: self.frames.len() }
    }

    fn translate(&mut self, range: (Span, Span), dx: i64, dy: i64) {
        translate(&mut self.nodes, &mut self.edges, &mut self.frames, range, dx, dy);
    }

    fn push_node(
        &mut self,
        id: String,
        name: &str,
        kind: NodeKind,
        scope: &str,
        row: usize,
        size: (i64, i64),
    ) -> usize {
        self.nodes.push(Node {
            id,
            name: name.to_string(),
            kind,
            label: label::clip(name, MAX_NAME_CHARS),
            scope: scope.to_string(),
            row,
            rect: Rect { x: 0, y: 0, w: size.0, h: size.1 },
        });
        self.nodes.len() - 1
    }

    /// Lay out one machine with its top left at the origin; returns its
    /// size. `scope` is its frame's id ("" for the top machine), `prefix`
    /// what its states' ids start with.
    fn scope(&mut self, m: &StateMachine, scope: &str, prefix: &str, depth: usize) -> (i64, i64) {
        let Ranking { order, rank } = rank(m);
        let marker_id = |what: &str| if scope.is_empty() { what.to_string() } else { format!("{scope}/{what}") };
        let start = self.push_node(marker_id("~start"), "", NodeKind::Start, scope, 0, (MARKER, MARKER));
        // State index → node index, and each state node's subtree.
        let mut node_of: HashMap<&str, usize> = HashMap::with_capacity(m.states.len());
        // State node → the items its branches added.
        let mut subtree: HashMap<usize, (Span, Span)> = HashMap::with_capacity(order.len());
        let mut state_nodes = Vec::with_capacity(order.len());
        for &s in &order {
            let state = &m.states[s];
            let id = format!("{prefix}{}", id_segment(&state.name));
            let kind = NodeKind::State(state.kind.state_type());
            let n = self.push_node(id, &state.name, kind, scope, rank[s] + 1, (0, 0));
            let inner = self.span();
            let (w, h) = self.state_box(state, n, depth);
            self.nodes[n].rect.w = w;
            self.nodes[n].rect.h = h;
            node_of.insert(&state.name, n);
            subtree.insert(n, (inner, self.span()));
            state_nodes.push(n);
        }
        let last_row = order.last().map_or(0, |&s| rank[s] + 1) + 1;
        let end = self.push_node(marker_id("~end"), "", NodeKind::End, scope, last_row, (MARKER, MARKER));

        let links = self.links(m, &order, &node_of, start, end);
        let routes: Vec<Route> = links.iter().map(|l| self.route_kind(l)).collect();
        // What each gap under a row must hold: its states' stacked edge
        // labels, then a channel per lane edge leaving the row, then one per
        // lane edge entering the row below.
        let mut labels = vec![0i64; last_row + 1];
        let mut exits = vec![0i64; last_row + 1];
        let mut entries = vec![0i64; last_row + 1];
        let mut labelled: HashMap<usize, i64> = HashMap::new();
        for (l, route) in links.iter().zip(&routes) {
            let (from, to) = (self.nodes[l.from].row, self.nodes[l.to].row);
            match route {
                Route::Direct if !l.label.is_empty() => {
                    let k = labelled.entry(l.from).or_default();
                    *k += 1;
                    labels[from] = labels[from].max(*k);
                }
                Route::Lane => {
                    exits[from] += 1;
                    entries[to] += 1;
                }
                _ => {}
            }
        }

        // Rows: centred, top-aligned, each gap as tall as it must be.
        let mut rows: Vec<Vec<usize>> = vec![Vec::new(); last_row + 1];
        rows[0].push(start);
        for &n in &state_nodes {
            rows[self.nodes[n].row].push(n);
        }
        rows[last_row].push(end);
        let row_w = |b: &Builder, row: &[usize]| row_width(row.iter().map(|&n| b.nodes[n].rect.w));
        let content_w = rows.iter().map(|r| row_w(self, r)).max().unwrap_or(MARKER);
        let mut tops = Vec::with_capacity(rows.len());
        let mut bottoms = Vec::with_capacity(rows.len());
        let mut y = 0;
        for (r, row) in rows.iter().enumerate() {
            let mut x = MARGIN + (content_w - row_w(self, row)) / 2;
            let mut h = 0;
            for &n in row {
                let rect = self.nodes[n].rect;
                self.nodes[n].rect.x = x;
                self.nodes[n].rect.y = y;
                if let Some(&inner) = subtree.get(&n) {
                    self.translate(inner, x - rect.x, y - rect.y);
                }
                x += rect.w + COL_GAP;
                h = h.max(rect.h);
            }
            tops.push(y);
            bottoms.push(y + h);
            let next_entries = entries.get(r + 1).copied().unwrap_or(0);
            let needed = LABEL_START + LABEL_STEP * labels[r] + LANE_STEP * (exits[r] + next_entries) + LABEL_START;
            y += h + needed.max(ROW_GAP);
        }
        let content_h = bottoms.last().copied().unwrap_or(0);
        let channels = Channels { labels, tops, bottoms };
        let lanes = self.route(&links, &routes, &channels, MARGIN + content_w);
        (MARGIN + content_w + LANE_GAP * (lanes as i64 + 1), content_h)
    }

    /// Size a state's box; a Map or Parallel state lays out its branches
    /// inside it (relative to its own top left) and grows to hold them.
    fn state_box(&mut self, state: &State, node: usize, depth: usize) -> (i64, i64) {
        let notes: Vec<usize> = state.retry.iter().map(|r| label::retry(r, MAX_LABEL_CHARS).chars().count()).collect();
        let name_w = self.nodes[node].label.chars().count() as i64 * NAME_CHAR_W;
        let note_w = notes.iter().max().map_or(0, |&c| c as i64 * NOTE_CHAR_W);
        let text_w = (name_w.max(note_w) + 2 * BOX_PAD_X).max(BOX_MIN_W);
        let branches: Vec<(&StateMachine, String)> = match &state.kind {
            StateKind::Parallel { branches } => {
                branches.iter().enumerate().map(|(i, b)| (b, format!("branch {}", i + 1))).collect()
            }
            StateKind::Map(map) => vec![(&map.processor, "item processor".to_string())],
            _ => return (text_w, BOX_H + NOTE_H * notes.len() as i64),
        };
        let header = FRAME_HEADER_H + NOTE_H * notes.len() as i64;
        // The header line holds the type after the name.
        let text_w = text_w.max(name_w + 2 * BOX_PAD_X + 10 * NOTE_CHAR_W);
        if depth >= MAX_NESTING {
            // Too deep to draw: the frame stays empty.
            return (text_w, header + FRAME_PAD);
        }
        let id = self.nodes[node].id.clone();
        let mut x = FRAME_PAD;
        let mut inner_h = 0;
        for (i, (machine, label)) in branches.into_iter().enumerate() {
            let frame_id = format!("{id}/~b{i}");
            self.frames.push(Frame { id: frame_id.clone(), state: id.clone(), index: i, label, rect: Rect::default() });
            let f = self.frames.len() - 1;
            let inner = self.span();
            let (w, h) = self.scope(machine, &frame_id, &format!("{id}/"), depth + 1);
            self.translate((inner, self.span()), x + FRAME_PAD, header + BRANCH_LABEL_H);
            let rect = Rect { x, y: header, w: w + 2 * FRAME_PAD, h: h + BRANCH_LABEL_H + FRAME_PAD };
            self.frames[f].rect = rect;
            x += rect.w + FRAME_PAD;
            inner_h = inner_h.max(rect.h);
        }
        (text_w.max(x), header + inner_h + FRAME_PAD)
    }

    /// Every edge of one scope, in drawing order: the start edge, then per
    /// state (in row order) its Next, Choice rules, Default, catchers,
    /// retriers and end edge.
    fn links(
        &self,
        m: &StateMachine,
        order: &[usize],
        node_of: &HashMap<&str, usize>,
        start: usize,
        end: usize,
    ) -> Vec<Link> {
        let mut links = Vec::new();
        let mut link = |from: usize, to: Option<&usize>, kind: EdgeKind, label: String| {
            if let Some(&to) = to {
                links.push(Link { from, to, kind, label });
            }
        };
        link(start, node_of.get(m.start_at.as_str()), EdgeKind::Start, String::new());
        for &s in order {
            let state = &m.states[s];
            let Some(&n) = node_of.get(state.name.as_str()) else { continue };
            if let Transition::Next(next) = &state.transition {
                link(n, node_of.get(next.as_str()), EdgeKind::Next, String::new());
            }
            if let StateKind::Choice { choices, default } = &state.kind {
                for c in choices {
                    link(n, node_of.get(c.next.as_str()), EdgeKind::Choice, label::rule(&c.rule, MAX_LABEL_CHARS));
                }
                if let Some(d) = default {
                    link(n, node_of.get(d.as_str()), EdgeKind::Default, "default".into());
                }
            }
            for c in &state.catch {
                link(n, node_of.get(c.next.as_str()), EdgeKind::Catch, label::errors(&c.error_equals, MAX_LABEL_CHARS));
            }
            for r in &state.retry {
                link(n, Some(&n), EdgeKind::Retry, label::retry(r, MAX_LABEL_CHARS));
            }
            let ends = matches!(state.transition, Transition::End)
                || matches!(state.kind.state_type(), StateType::Succeed | StateType::Fail);
            if ends {
                link(n, Some(&end), EdgeKind::End, String::new());
            }
        }
        links
    }

    fn route_kind(&self, l: &Link) -> Route {
        if l.kind == EdgeKind::Retry {
            Route::Loop
        } else if self.nodes[l.to].row == self.nodes[l.from].row + 1 {
            Route::Direct
        } else {
            Route::Lane
        }
    }

    /// Route a scope's edges; returns how many lanes right of `right` it used.
    /// An edge to the next row runs straight from the source's bottom to the
    /// target's top (exits and entries spread along the sides), its label on
    /// it, stacked under the source. A retrier loops on the box's left, its
    /// label inside the box. Every other edge leaves the source's bottom into
    /// a channel of the gap below, runs right to a lane of its own, up or
    /// down it to a channel of the gap above its target and enters the
    /// target's top; its label sits on the first channel.
    fn route(&mut self, links: &[Link], routes: &[Route], ch: &Channels, right: i64) -> usize {
        // Per node: edges leaving its bottom, edges entering its top.
        let mut count: HashMap<usize, [i64; 2]> = HashMap::new();
        for (l, route) in links.iter().zip(routes) {
            if *route != Route::Loop {
                count.entry(l.from).or_default()[0] += 1;
                count.entry(l.to).or_default()[1] += 1;
            }
        }
        let mut seen: HashMap<usize, [i64; 2]> = HashMap::new();
        let mut spread = |side: usize, node: usize| {
            let k = seen.entry(node).or_default();
            k[side] += 1;
            (k[side], count.get(&node).map_or(1, |c| c[side]))
        };
        let mut labelled: HashMap<usize, i64> = HashMap::new();
        let mut retries: HashMap<usize, i64> = HashMap::new();
        let mut exits: HashMap<usize, i64> = HashMap::new();
        let mut entries: HashMap<usize, i64> = HashMap::new();
        let mut lanes = 0;
        for (l, route) in links.iter().zip(routes) {
            let (src, dst) = (self.nodes[l.from].rect, self.nodes[l.to].rect);
            let (from_row, to_row) = (self.nodes[l.from].row, self.nodes[l.to].row);
            let (points, label_at, anchor) = match route {
                Route::Loop => {
                    let k = retries.entry(l.from).or_default();
                    *k += 1;
                    let loop_x = src.x - 8;
                    let points = vec![
                        Point { x: src.x, y: src.y + 10 },
                        Point { x: loop_x, y: src.y + 10 },
                        Point { x: loop_x, y: src.y + 24 },
                        Point { x: src.x, y: src.y + 24 },
                    ];
                    let frame =
                        matches!(self.nodes[l.from].kind, NodeKind::State(StateType::Map | StateType::Parallel));
                    let header = if frame { FRAME_HEADER_H } else { BOX_H };
                    (points, Point { x: src.center_x(), y: src.y + header - 9 + NOTE_H * *k }, Anchor::Middle)
                }
                Route::Direct => {
                    let (i, n) = spread(0, l.from);
                    let (j, m) = spread(1, l.to);
                    let a = Point { x: src.x + src.w * i / (n + 1), y: src.bottom() };
                    let b = Point { x: dst.x + dst.w * j / (m + 1), y: dst.y };
                    let mut at = Point { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 };
                    if !l.label.is_empty() {
                        let k = labelled.entry(l.from).or_default();
                        at.y = ch.bottoms[from_row] + LABEL_START + LABEL_STEP * *k;
                        *k += 1;
                        // On the line where it crosses that height.
                        if b.y > a.y {
                            at.x = a.x + (b.x - a.x) * (at.y - a.y) / (b.y - a.y);
                        }
                    }
                    (vec![a, b], Point { x: at.x, y: at.y + 3 }, Anchor::Middle)
                }
                Route::Lane => {
                    let (i, n) = spread(0, l.from);
                    let (j, m) = spread(1, l.to);
                    lanes += 1;
                    let lane = right + LANE_GAP * lanes as i64;
                    let exit = exits.entry(from_row).or_default();
                    let exit_y =
                        ch.bottoms[from_row] + LABEL_START + LABEL_STEP * ch.labels[from_row] + LANE_STEP * *exit;
                    *exit += 1;
                    let entry = entries.entry(to_row).or_default();
                    let entry_y = ch.tops[to_row] - LABEL_START - LANE_STEP * *entry;
                    *entry += 1;
                    let ax = src.x + src.w * i / (n + 1);
                    let bx = dst.x + dst.w * j / (m + 1);
                    let points = vec![
                        Point { x: ax, y: src.bottom() },
                        Point { x: ax, y: exit_y },
                        Point { x: lane, y: exit_y },
                        Point { x: lane, y: entry_y },
                        Point { x: bx, y: entry_y },
                        Point { x: bx, y: dst.y },
                    ];
                    (points, Point { x: ax + 4, y: exit_y - 3 }, Anchor::Start)
                }
            };
            self.edges.push(Edge {
                from: self.nodes[l.from].id.clone(),
                to: self.nodes[l.to].id.clone(),
                kind: l.kind,
                label: l.label.clone(),
                back: *route != Route::Loop && to_row <= from_row,
                points,
                label_at,
                anchor,
            });
        }
        lanes
    }
}

/// How an edge is drawn (see [`Builder::route`]).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Route {
    Direct,
    Lane,
    Loop,
}

/// Where a scope's rows lie and how many stacked labels each gap holds.
struct Channels {
    labels: Vec<i64>,
    tops: Vec<i64>,
    bottoms: Vec<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_widths_beyond_i32_neither_wrap_nor_overflow() {
        let wide = i32::MAX as i64;
        assert_eq!(row_width([wide, wide, wide].into_iter()), 3 * wide + 2 * COL_GAP);
        assert_eq!(row_width([i64::MAX, i64::MAX].into_iter()), i64::MAX);
        assert_eq!(row_width(std::iter::empty()), 0);
    }
}
