//! The laid-out graph: what every renderer (and later the web console)
//! draws. Pure data, in absolute pixel coordinates, origin top left.

use expressway_engine::asl::StateType;

/// An axis-aligned rectangle in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rect {
    pub x: i64,
    pub y: i64,
    pub w: i64,
    pub h: i64,
}

impl Rect {
    pub fn right(&self) -> i64 {
        self.x + self.w
    }
    pub fn bottom(&self) -> i64 {
        self.y + self.h
    }
    pub fn center_x(&self) -> i64 {
        self.x + self.w / 2
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Point {
    pub x: i64,
    pub y: i64,
}

/// What a node stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    /// A scope's start marker (the top machine's, or a branch's).
    Start,
    /// A scope's end marker.
    End,
    /// A state. Map and Parallel states are frames holding their branches.
    State(StateType),
}

/// A state or a start/end marker.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Unique in the graph; see the crate documentation for the scheme.
    pub id: String,
    /// The state's name as written (empty for markers).
    pub name: String,
    pub kind: NodeKind,
    /// The name as drawn: control characters blanked, clipped to
    /// [`crate::MAX_NAME_CHARS`].
    pub label: String,
    /// The id of the frame the node sits in; empty for the top machine.
    pub scope: String,
    /// Row in its scope: 0 is the start marker, a state of rank `r` sits in
    /// row `r + 1`, the end marker in the last row.
    pub row: usize,
    pub rect: Rect,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdgeKind {
    /// Start marker to the scope's `StartAt` state.
    Start,
    Next,
    /// A Choice rule's `Next`; labelled with the rule.
    Choice,
    /// A Choice state's `Default`.
    Default,
    /// A catcher's `Next`; labelled with its `ErrorEquals`.
    Catch,
    /// A retrier: a loop from a state to itself; labelled "retry E ×N".
    Retry,
    /// `End: true`, Succeed and Fail to the scope's end marker.
    End,
}

impl EdgeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EdgeKind::Start => "start",
            EdgeKind::Next => "next",
            EdgeKind::Choice => "choice",
            EdgeKind::Default => "default",
            EdgeKind::Catch => "catch",
            EdgeKind::Retry => "retry",
            EdgeKind::End => "end",
        }
    }
}

/// How an edge label is anchored at [`Edge::label_at`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    /// The text starts there.
    Start,
    /// The text is centred there.
    Middle,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Edge {
    /// Node ids.
    pub from: String,
    pub to: String,
    pub kind: EdgeKind,
    /// Empty when unlabelled; clipped to [`crate::MAX_LABEL_CHARS`].
    pub label: String,
    /// The target's rank is not below the source's: drawn, but it did not
    /// rank anything.
    pub back: bool,
    /// The polyline, first point on the source, last on the target.
    pub points: Vec<Point>,
    pub label_at: Point,
    pub anchor: Anchor,
}

/// One branch of a Parallel state, or a Map state's item processor,
/// drawn inside its state's box.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// `<state id>/~b<index>`.
    pub id: String,
    /// The id of the Map or Parallel state it belongs to.
    pub state: String,
    pub index: usize,
    pub label: String,
    pub rect: Rect,
}

/// A whole machine, laid out.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Graph {
    /// Pre-order: each scope's start marker, its states by row then
    /// discovery (a Map or Parallel state followed by its frames' nodes),
    /// its end marker.
    pub nodes: Vec<Node>,
    /// Per scope in the order its states are drawn (see the crate
    /// documentation); a frame's edges come before its scope's.
    pub edges: Vec<Edge>,
    /// Outer frames before the frames nested in them.
    pub frames: Vec<Frame>,
    pub width: i64,
    pub height: i64,
}

impl Graph {
    /// The nodes that are states (markers left out).
    pub fn states(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter().filter(|n| matches!(n.kind, NodeKind::State(_)))
    }
}
